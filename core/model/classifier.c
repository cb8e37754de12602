// Classification head for fine-tuning: the mean of the last block's patch tokens (cls
// excluded, no final norm, as timm's global_pool='avg'), fc_norm LayerNorm, a linear head,
// and softmax cross-entropy with label smoothing.
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

float classifier_head_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim, K = c->num_classes;
    mean_pool_forward(a->pooled, vit_output(m), B, N, D);
    layernorm_forward(a->fcn, a->fcn_mean, a->fcn_rstd, a->pooled, p->fc_norm_w, p->fc_norm_b, B, D);
    matmul_forward(a->logits, a->fcn, p->head_w, p->head_b, B, D, K);
    return crossentropy_forward(a->probs, a->logits, m->in.labels, m->label_smoothing, B, K);
}

void classifier_head_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim, K = c->num_classes;
    crossentropy_backward(a->dlogits, a->probs, m->in.labels, m->label_smoothing, B, K);
    matmul_backward(a->dfcn, g->head_w, g->head_b, a->weight_grad_scratch, a->dlogits, a->fcn,
                    p->head_w, B, D, K);
    memset(a->dpooled, 0, sizeof(float) * (size_t)B * D); // layernorm_backward accumulates
    layernorm_backward(a->dpooled, g->fc_norm_w, g->fc_norm_b, a->dfcn, a->pooled, p->fc_norm_w,
                       a->fcn_mean, a->fcn_rstd, B, D);
    mean_pool_backward(a->dres, a->dpooled, B, N, D);
}
