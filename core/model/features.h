// The representation probes' features of a pretraining model (features.c).
#ifndef SIMMIM_FEATURES_H
#define SIMMIM_FEATURES_H

#include "model/model.h"

// images [B, C, S, S] (B ≤ the model's batch) → out [B, model_out_dim]: the encoder without a
// mask, the final norm on its output tokens (a ViT's patch tokens, Swin's last stage), their
// mean. Overwrites the activations (no backward may
// follow).
void model_features(Model *m, const float *images, int B, float *out);

#endif
