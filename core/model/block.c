// Pre-norm transformer blocks (attention and MLP, each a residual branch), for any stack of
// them: the ViT encoder's (with drop path), a Swin stage's and a transformer decoder's. A Swin
// block's attention runs on its LayerNorm output cut into windows (rolled first in the odd
// blocks), with the relative position bias and, where rolled, the shifted windows' mask, and
// its projection is put back on the grid before the residual; LayerNorms, products and the MLP
// are per token, so the rest is the ViT block's. The blocks of a stack share the model's
// scratch buffers (acts.ln, acts.windows, the backward gradients), which are sized for the
// widest stack.
#include <stddef.h>

#include "model/model.h"
#include "ops/ops.h"

static const float *stack_drop_scale(const Model *m, const BlockStack *s, int l, int j)
{
    return s->drop_path ? vit_drop_scale(m, s->first_block + l, j) : NULL;
}

// Block l's roll: the odd blocks of a windowed stack are shifted.
static int block_shift(const BlockStack *s, int l) { return l % 2 ? s->shift : 0; }

// Attention over the rows of qkv [B·T, 3D] into a->atty: over each image (ViT), or over each
// window of each image with block l's relative position bias and, when shifted, the mask.
static void block_attention_forward(Model *m, const BlockStack *s, int l)
{
    const BlockActs *a = &s->acts[l];
    int B = m->in.size, W = s->window;
    if (!W) {
        attention_forward(a->atty, a->att, m->acts.attention_scratch, m->attention_threads, a->qkv,
                          NULL, NULL, 0, B, s->tokens, s->dim, s->heads);
        return;
    }
    int windows = (s->grid / W) * (s->grid / W);
    relative_bias_forward(m->acts.rel_bias, s->params[l].rel_table, W, s->heads);
    attention_forward(a->atty, a->att, m->acts.attention_scratch, m->attention_threads, a->qkv,
                      m->acts.rel_bias, block_shift(s, l) ? s->shift_mask : NULL, windows,
                      B * windows, W * W, s->dim, s->heads);
}

static void block_forward(Model *m, const BlockStack *s, int l, const float *x)
{
    const BlockParams *p = &s->params[l];
    const BlockActs *a = &s->acts[l];
    int B = m->in.size, T = s->tokens, D = s->dim, H = s->hidden, BT = B * T;
    int G = s->grid, W = s->window, shift = block_shift(s, l);
    float *ln = m->acts.ln, *windows = m->acts.windows;
    layernorm_forward(ln, a->ln1_mean, a->ln1_rstd, x, p->ln1_w, p->ln1_b, BT, D, s->eps);
    if (W) window_partition_forward(windows, ln, B, G, W, shift, D);
    matmul_forward(a->qkv, W ? windows : ln, p->qkv_w, p->qkv_b, BT, D, 3 * D);
    block_attention_forward(m, s, l);
    matmul_forward(W ? windows : a->res1, a->atty, p->proj_w, p->proj_b, BT, D, D);
    if (W) window_reverse_forward(a->res1, windows, B, G, W, shift, D);
    residual_forward(a->res1, x, a->res1, stack_drop_scale(m, s, l, 0), B, (long)T * D);
    layernorm_forward(ln, a->ln2_mean, a->ln2_rstd, a->res1, p->ln2_w, p->ln2_b, BT, D, s->eps);
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
    int G = s->grid, W = s->window, shift = block_shift(s, l);
    float *scratch = sh->weight_grad_scratch;
    matmul_backward(sh->dhidden, g->fc2_w, g->fc2_b, scratch, branch_grad(m, s, l, 1), a->gelu,
                    p->fc2_w, BT, H, D);
    gelu_backward(sh->dhidden, a->fc1, a->gelu, sh->dhidden, (long)BT * H);
    layernorm_apply(sh->ln, a->res1, a->ln2_mean, a->ln2_rstd, p->ln2_w, p->ln2_b, BT, D);
    matmul_backward(sh->dln, g->fc1_w, g->fc1_b, scratch, sh->dhidden, sh->ln, p->fc1_w, BT, D, H);
    layernorm_backward(sh->dres, g->ln2_w, g->ln2_b, sh->dln, a->res1, p->ln2_w, a->ln2_mean,
                       a->ln2_rstd, BT, D);
    const float *dproj = branch_grad(m, s, l, 0);
    if (W) {
        window_reverse_backward(sh->windows, dproj, B, G, W, shift, D);
        dproj = sh->windows;
    }
    matmul_backward(sh->datty, g->proj_w, g->proj_b, scratch, dproj, a->atty, p->proj_w, BT, D, D);
    int sequences = W ? B * (G / W) * (G / W) : B;
    attention_backward(sh->dqkv, W ? sh->dscores : NULL, sh->attention_scratch,
                       m->attention_threads, sh->datty, a->qkv, a->att, sequences, W ? W * W : T,
                       D, s->heads);
    if (W) relative_bias_backward(g->rel_table, sh->dscores, sequences, W, s->heads);
    layernorm_apply(sh->ln, x, a->ln1_mean, a->ln1_rstd, p->ln1_w, p->ln1_b, BT, D);
    if (W) window_partition_forward(sh->windows, sh->ln, B, G, W, shift, D);
    matmul_backward(sh->dln, g->qkv_w, g->qkv_b, scratch, sh->dqkv, W ? sh->windows : sh->ln,
                    p->qkv_w, BT, D, 3 * D);
    const float *dln = sh->dln;
    if (W) { // back to grid order; datty is free once the attention's backward is done
        window_partition_backward(sh->datty, sh->dln, B, G, W, shift, D);
        dln = sh->datty;
    }
    layernorm_backward(sh->dres, g->ln1_w, g->ln1_b, dln, x, p->ln1_w, a->ln1_mean, a->ln1_rstd,
                       BT, D);
}

void blocks_backward(Model *m, const BlockStack *s, const float *x)
{
    for (int l = s->depth - 1; l >= 0; l--)
        block_backward(m, s, l, l > 0 ? s->acts[l - 1].res2 : x);
}
