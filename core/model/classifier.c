// Classification head for fine-tuning. ViT: the mean of the last block's patch tokens (cls
// excluded, no final norm, as timm's global_pool='avg'), fc_norm LayerNorm, a linear head.
// Swin: the final norm on every output token, their mean, head.fc (timm's forward_features
// then forward_head). Then softmax cross-entropy with label smoothing.
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

float classifier_head_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), D = model_out_dim(c), K = c->num_classes;
    const float *features;
    if (c->arch == ARCH_SWIN) {
        layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, swin_output(m), p->norm_w, p->norm_b,
                          B * N, D, model_norm_eps(c));
        token_mean_forward(a->pooled, a->lnf, B, N, D);
        features = a->pooled;
    } else {
        mean_pool_forward(a->pooled, vit_output(m), B, N, D);
        layernorm_forward(a->fcn, a->fcn_mean, a->fcn_rstd, a->pooled, p->fc_norm_w, p->fc_norm_b,
                          B, D, model_norm_eps(c));
        features = a->fcn;
    }
    matmul_forward(a->logits, features, p->head_w, p->head_b, B, D, K);
    return crossentropy_forward(a->probs, a->logits, m->in.labels, m->label_smoothing, B, K);
}

void classifier_head_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), D = model_out_dim(c), K = c->num_classes;
    float *scratch = a->weight_grad_scratch;
    crossentropy_backward(a->dlogits, a->probs, m->in.labels, m->label_smoothing, B, K);
    if (c->arch == ARCH_SWIN) {
        matmul_backward(a->dpooled, g->head_w, g->head_b, scratch, a->dlogits, a->pooled,
                        p->head_w, B, D, K);
        token_mean_backward(a->dlnf, a->dpooled, B, N, D);
        memset(a->dres, 0, sizeof(float) * (size_t)B * N * D); // layernorm_backward accumulates
        layernorm_backward(a->dres, g->norm_w, g->norm_b, a->dlnf, swin_output(m), p->norm_w,
                           a->lnf_mean, a->lnf_rstd, B * N, D);
        return;
    }
    matmul_backward(a->dfcn, g->head_w, g->head_b, scratch, a->dlogits, a->fcn, p->head_w, B, D, K);
    memset(a->dpooled, 0, sizeof(float) * (size_t)B * D); // layernorm_backward accumulates
    layernorm_backward(a->dpooled, g->fc_norm_w, g->fc_norm_b, a->dfcn, a->pooled, p->fc_norm_w,
                       a->fcn_mean, a->fcn_rstd, B, D);
    mean_pool_backward(a->dres, a->dpooled, B, N, D);
}
