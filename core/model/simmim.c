// SimMIM pretraining head: final LayerNorm on the patch tokens (cls dropped), a linear map
// per token D → p·p·C (the 1×1 convolution decoder), pixel shuffle to the image, and the L1
// reconstruction loss on the masked area (or the full image).
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

float simmim_head_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim, dec_dim = model_patch_dim(c);
    patch_tokens_forward(a->tokens, vit_output(m), B, N, D);
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->tokens, p->norm_w, p->norm_b, B * N, D);
    matmul_forward(a->dec, a->lnf, p->decoder_w, p->decoder_b, B * N, D, dec_dim);
    pixel_shuffle_forward(a->pred, a->dec, B, c->in_chans, c->img_size, c->patch_size);
    return l1_loss_forward(a->pred, m->in.images, m->loss_full_image ? NULL : m->in.token_mask, B,
                           c->in_chans, c->img_size, c->patch_size);
}

void simmim_head_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), T = N + 1, D = c->embed_dim;
    int dec_dim = model_patch_dim(c);
    l1_loss_backward(a->dpred, a->pred, m->in.images, m->loss_full_image ? NULL : m->in.token_mask,
                     B, c->in_chans, c->img_size, c->patch_size);
    pixel_shuffle_backward(a->ddec, a->dpred, B, c->in_chans, c->img_size, c->patch_size);
    matmul_backward(a->dlnf, g->decoder_w, g->decoder_b, a->weight_grad_scratch, a->ddec, a->lnf,
                    p->decoder_w, B * N, D, dec_dim);
    // layernorm_backward and patch_tokens_backward accumulate into their input gradients.
    memset(a->dtokens, 0, sizeof(float) * (size_t)B * N * D);
    layernorm_backward(a->dtokens, g->norm_w, g->norm_b, a->dlnf, a->tokens, p->norm_w,
                       a->lnf_mean, a->lnf_rstd, B * N, D);
    memset(a->dres, 0, sizeof(float) * (size_t)B * T * D);
    patch_tokens_backward(a->dres, a->dtokens, B, N, D);
}

