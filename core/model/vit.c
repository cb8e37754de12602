// The ViT encoder: patch embedding, mask-token substitution, cls token and position
// embedding, then `depth` pre-norm blocks (attention and MLP, each a residual branch with
// drop path). Forward keeps every activation the backward pass needs in m->acts.
#include <stddef.h>

#include "model/model.h"
#include "ops/ops.h"

// The per-sample drop-path scales of block l's branch j (0 attention, 1 MLP), or NULL when
// nothing is dropped there: keep / (1 − rate), as timm's DropPath.
static const float *drop_scale(const Model *m, int l, int j)
{
    float rate = model_drop_path_rate(&m->cfg, l);
    if (!m->in.drop_keep || rate == 0.0f) return NULL;
    return m->acts.drop_scale + ((size_t)l * 2 + j) * m->in.size;
}

static void fill_drop_scales(Model *m)
{
    if (!m->in.drop_keep) return;
    int B = m->in.size;
    for (int l = 0; l < m->cfg.depth; l++) {
        float keep_prob = 1.0f - model_drop_path_rate(&m->cfg, l);
        for (int i = 0; i < 2 * B; i++) {
            size_t at = (size_t)l * 2 * B + i;
            m->acts.drop_scale[at] = m->in.drop_keep[at] / keep_prob;
        }
    }
}

static void block_forward(Model *m, int l, const float *x)
{
    const BlockParams *p = &m->params.blocks[l];
    const BlockActs *a = &m->acts.blocks[l];
    int B = m->in.size, T = model_num_tokens(&m->cfg), D = m->cfg.embed_dim;
    int H = model_mlp_hidden(&m->cfg), BT = B * T;
    float *ln = m->acts.ln;
    layernorm_forward(ln, a->ln1_mean, a->ln1_rstd, x, p->ln1_w, p->ln1_b, BT, D);
    matmul_forward(a->qkv, ln, p->qkv_w, p->qkv_b, BT, D, 3 * D);
    attention_forward(a->atty, a->att, m->acts.attention_scratch, m->attention_threads, a->qkv, B, T,
                      D, m->cfg.num_heads);
    matmul_forward(a->res1, a->atty, p->proj_w, p->proj_b, BT, D, D);
    residual_forward(a->res1, x, a->res1, drop_scale(m, l, 0), B, (long)T * D);
    layernorm_forward(ln, a->ln2_mean, a->ln2_rstd, a->res1, p->ln2_w, p->ln2_b, BT, D);
    matmul_forward(a->fc1, ln, p->fc1_w, p->fc1_b, BT, D, H);
    gelu_forward(a->gelu, a->fc1, (long)BT * H);
    matmul_forward(a->res2, a->gelu, p->fc2_w, p->fc2_b, BT, H, D);
    residual_forward(a->res2, a->res1, a->res2, drop_scale(m, l, 1), B, (long)T * D);
}

float *vit_output(const Model *m) { return m->acts.blocks[m->cfg.depth - 1].res2; }

void vit_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim;
    patch_embed_forward(a->patch_out, a->patches, m->in.images, p->patch_w, p->patch_b, B,
                        c->in_chans, c->img_size, c->patch_size, D);
    embed_forward(a->x0, a->patch_out, p->cls_token, p->mask_token, p->pos_embed,
                  p->mask_token ? m->in.token_mask : NULL, B, N, D);
    fill_drop_scales(m);
    const float *x = a->x0;
    for (int l = 0; l < c->depth; l++) {
        block_forward(m, l, x);
        x = a->blocks[l].res2;
    }
}

// The gradient reaching a residual branch: dres itself when nothing is dropped there.
static const float *branch_grad(Model *m, int l, int j)
{
    const float *scale = drop_scale(m, l, j);
    if (!scale) return m->acts.dres;
    residual_backward(m->acts.dbranch, m->acts.dres, scale, m->in.size,
                      (long)model_num_tokens(&m->cfg) * m->cfg.embed_dim);
    return m->acts.dbranch;
}

// On entry acts.dres holds the gradient of block l's output; on exit that of its input.
static void block_backward(Model *m, int l, const float *x)
{
    const BlockParams *p = &m->params.blocks[l];
    const BlockParams *g = &m->grads.blocks[l];
    const BlockActs *a = &m->acts.blocks[l];
    Acts *s = &m->acts;
    int B = m->in.size, T = model_num_tokens(&m->cfg), D = m->cfg.embed_dim;
    int H = model_mlp_hidden(&m->cfg), BT = B * T;
    float *scratch = s->weight_grad_scratch;
    matmul_backward(s->dhidden, g->fc2_w, g->fc2_b, scratch, branch_grad(m, l, 1), a->gelu, p->fc2_w,
                    BT, H, D);
    gelu_backward(s->dhidden, a->fc1, a->gelu, s->dhidden, (long)BT * H);
    layernorm_apply(s->ln, a->res1, a->ln2_mean, a->ln2_rstd, p->ln2_w, p->ln2_b, BT, D);
    matmul_backward(s->dln, g->fc1_w, g->fc1_b, scratch, s->dhidden, s->ln, p->fc1_w, BT, D, H);
    layernorm_backward(s->dres, g->ln2_w, g->ln2_b, s->dln, a->res1, p->ln2_w, a->ln2_mean,
                       a->ln2_rstd, BT, D);
    matmul_backward(s->datty, g->proj_w, g->proj_b, scratch, branch_grad(m, l, 0), a->atty,
                    p->proj_w, BT, D, D);
    attention_backward(s->dqkv, s->attention_scratch, m->attention_threads, s->datty, a->qkv, a->att,
                       B, T, D, m->cfg.num_heads);
    layernorm_apply(s->ln, x, a->ln1_mean, a->ln1_rstd, p->ln1_w, p->ln1_b, BT, D);
    matmul_backward(s->dln, g->qkv_w, g->qkv_b, scratch, s->dqkv, s->ln, p->qkv_w, BT, D, 3 * D);
    layernorm_backward(s->dres, g->ln1_w, g->ln1_b, s->dln, x, p->ln1_w, a->ln1_mean, a->ln1_rstd,
                       BT, D);
}

void vit_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim;
    for (int l = c->depth - 1; l >= 0; l--)
        block_backward(m, l, l > 0 ? a->blocks[l - 1].res2 : a->x0);
    embed_backward(a->dpatch_out, m->grads.cls_token, m->grads.mask_token, m->grads.pos_embed,
                   a->dres, m->params.mask_token ? m->in.token_mask : NULL, B, N, D);
    patch_embed_backward(m->grads.patch_w, m->grads.patch_b, a->weight_grad_scratch, a->dpatch_out,
                         a->patches, B, N, model_patch_dim(c), D);
}
