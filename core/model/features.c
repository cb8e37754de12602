// The representation probes' features (docs/job-spec.md, eval.knn and linprobe): what a
// pretraining model's encoder makes of an image it sees whole.
#include "model/features.h"
#include "ops/ops.h"

// A forward pass without a token mask (embed_forward substitutes no token, and the loss, unused,
// covers the whole image), then the mean of the final norm's output (acts.lnf) over the
// encoder's output tokens (a ViT's patch tokens, Swin's last stage). The decoder runs too and is not read: its cost beside the encoder's is measured in
// docs/job-spec.md (eval).
void model_features(Model *m, const float *images, int B, float *out)
{
    Batch batch = {.size = B, .images = images};
    model_forward(m, &batch);
    token_mean_forward(out, m->acts.lnf, B, model_out_tokens(&m->cfg), model_out_dim(&m->cfg));
}
