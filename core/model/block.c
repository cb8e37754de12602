// Pre-norm transformer blocks (attention and MLP, each a residual branch), for any stack of
// them: the ViT encoder's (with drop path) and a transformer decoder's. The blocks of a stack
// share the model's scratch buffers (acts.ln, the backward gradients), which are sized for
// the widest stack.
#include <stddef.h>

#include "model/model.h"
#include "ops/ops.h"

static const float *stack_drop_scale(const Model *m, const BlockStack *s, int l, int j)
{
    return s->drop_path ? vit_drop_scale(m, l, j) : NULL;
}

static void block_forward(Model *m, const BlockStack *s, int l, const float *x)
{
    const BlockParams *p = &s->params[l];
    const BlockActs *a = &s->acts[l];
    int B = m->in.size, T = s->tokens, D = s->dim, H = s->hidden, BT = B * T;
    float *ln = m->acts.ln;
    layernorm_forward(ln, a->ln1_mean, a->ln1_rstd, x, p->ln1_w, p->ln1_b, BT, D);
    matmul_forward(a->qkv, ln, p->qkv_w, p->qkv_b, BT, D, 3 * D);
    attention_forward(a->atty, a->att, m->acts.attention_scratch, m->attention_threads, a->qkv, B, T,
                      D, s->heads);
    matmul_forward(a->res1, a->atty, p->proj_w, p->proj_b, BT, D, D);
    residual_forward(a->res1, x, a->res1, stack_drop_scale(m, s, l, 0), B, (long)T * D);
    layernorm_forward(ln, a->ln2_mean, a->ln2_rstd, a->res1, p->ln2_w, p->ln2_b, BT, D);
    matmul_forward(a->fc1, ln, p->fc1_w, p->fc1_b, BT, D, H);
    gelu_forward(a->gelu, a->fc1, (long)BT * H);
    matmul_forward(a->res2, a->gelu, p->fc2_w, p->fc2_b, BT, H, D);
    residual_forward(a->res2, a->res1, a->res2, stack_drop_scale(m, s, l, 1), B, (long)T * D);
}

void blocks_forward(Model *m, const BlockStack *s, const float *x)
{
    for (int l = 0; l < s->depth; l++) {
        block_forward(m, s, l, x);
        x = s->acts[l].res2;
    }
}

// The gradient reaching a residual branch: dres itself when nothing is dropped there.
static const float *branch_grad(Model *m, const BlockStack *s, int l, int j)
{
    const float *scale = stack_drop_scale(m, s, l, j);
    if (!scale) return m->acts.dres;
    residual_backward(m->acts.dbranch, m->acts.dres, scale, m->in.size, (long)s->tokens * s->dim);
    return m->acts.dbranch;
}

// On entry acts.dres holds the gradient of block l's output; on exit that of its input.
static void block_backward(Model *m, const BlockStack *s, int l, const float *x)
{
    const BlockParams *p = &s->params[l];
    const BlockParams *g = &s->grads[l];
    const BlockActs *a = &s->acts[l];
    Acts *sh = &m->acts;
    int B = m->in.size, T = s->tokens, D = s->dim, H = s->hidden, BT = B * T;
    float *scratch = sh->weight_grad_scratch;
    matmul_backward(sh->dhidden, g->fc2_w, g->fc2_b, scratch, branch_grad(m, s, l, 1), a->gelu,
                    p->fc2_w, BT, H, D);
    gelu_backward(sh->dhidden, a->fc1, a->gelu, sh->dhidden, (long)BT * H);
    layernorm_apply(sh->ln, a->res1, a->ln2_mean, a->ln2_rstd, p->ln2_w, p->ln2_b, BT, D);
    matmul_backward(sh->dln, g->fc1_w, g->fc1_b, scratch, sh->dhidden, sh->ln, p->fc1_w, BT, D, H);
    layernorm_backward(sh->dres, g->ln2_w, g->ln2_b, sh->dln, a->res1, p->ln2_w, a->ln2_mean,
                       a->ln2_rstd, BT, D);
    matmul_backward(sh->datty, g->proj_w, g->proj_b, scratch, branch_grad(m, s, l, 0), a->atty,
                    p->proj_w, BT, D, D);
    attention_backward(sh->dqkv, sh->attention_scratch, m->attention_threads, sh->datty, a->qkv,
                       a->att, B, T, D, s->heads);
    layernorm_apply(sh->ln, x, a->ln1_mean, a->ln1_rstd, p->ln1_w, p->ln1_b, BT, D);
    matmul_backward(sh->dln, g->qkv_w, g->qkv_b, scratch, sh->dqkv, sh->ln, p->qkv_w, BT, D, 3 * D);
    layernorm_backward(sh->dres, g->ln1_w, g->ln1_b, sh->dln, x, p->ln1_w, a->ln1_mean,
                       a->ln1_rstd, BT, D);
}

void blocks_backward(Model *m, const BlockStack *s, const float *x)
{
    for (int l = s->depth - 1; l >= 0; l--)
        block_backward(m, s, l, l > 0 ? s->acts[l - 1].res2 : x);
}
