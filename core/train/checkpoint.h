// Saving and restoring a live model and its optimizer through the checkpoint files of
// spec/checkpoint_file.h: tensors are written straight from the flat parameter buffer and
// copied back into it by name.
#ifndef SIMMIM_CHECKPOINT_H
#define SIMMIM_CHECKPOINT_H

#include <stddef.h>

#include "base/safetensors.h"
#include "model/model.h"
#include "spec/checkpoint_file.h"
#include "train/optim.h"

// Writes the model's weights under the contract's names with metadata, atomically.
int checkpoint_write_weights(const char *path, const Model *m, const CheckpointMeta *meta,
                             char *err, size_t errlen);
// The training state beside them: AdamW's moments and step, the run's step and its ranks.
int checkpoint_write_state(const char *path, const AdamW *opt, long step, int ranks, char *err,
                           size_t errlen);

// Copies tensors from st into m by name. encoder_only: only the encoder's (a fine-tuning
// start: a ViT's patch_embed, cls_token, pos_embed and blocks; a Swin's patch_embed,
// absolute_pos_embed, layers and norm); otherwise every tensor of m must be present. A missing
// name or a shape mismatch is an error naming the tensor.
int checkpoint_load_params(Model *m, const SafeTensors *st, int encoder_only, char *err,
                           size_t errlen);
// Restores AdamW moments and step from a state file; returns the training step it holds, and
// the ranks that wrote it in *ranks.
long checkpoint_read_state(const char *path, const Model *m, AdamW *opt, int *ranks, char *err,
                           size_t errlen);

#endif
