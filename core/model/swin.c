// The Swin Transformer encoder (docs/checkpoints.md has its tensors, timm's): a p×p stride-p
// patch embedding with its LayerNorm (patch_norm), the mask token in place of masked patches
// (pretraining) and an optional absolute position embedding (ape), then stages of blocks
// (block.c, window attention: the odd blocks of a stage on windows rolled by half a window),
// each stage after the first begun by patch merging — each 2×2 neighbourhood's four rows
// concatenated, a LayerNorm over them and a linear map to twice the width. Its output is the
// last block's rows, [B·G², C] at the last stage's grid G and width C, which the heads
// normalize with the final norm. LayerNorm epsilon 1e-5 (timm's nn.LayerNorm).
#include <stdio.h>
#include <string.h>

#include "model/layout.h"
#include "model/model.h"
#include "ops/ops.h"

void swin_layout_params(const ModelConfig *cfg, Carver *c, Params *P, BlockParams *blocks,
                        ParamInfo *info, int *n)
{
    int C0 = cfg->embed_dim, G = model_grid(cfg), p = cfg->patch_size;
    int top = model_total_blocks(cfg) + 1;
    char name[2 * PARAM_NAME_MAX]; // room for any prefix; param() keeps PARAM_NAME_MAX of it
    P->patch_w = param(c, info, n, "patch_embed.proj.weight", 0, 1, 4, C0, cfg->in_chans, p, p);
    P->patch_b = param(c, info, n, "patch_embed.proj.bias", 0, 0, 1, C0, 0, 0, 0);
    if (cfg->patch_norm) {
        P->patch_norm_w = param(c, info, n, "patch_embed.norm.weight", 0, 0, 1, C0, 0, 0, 0);
        P->patch_norm_b = param(c, info, n, "patch_embed.norm.bias", 0, 0, 1, C0, 0, 0, 0);
    }
    // In the top layer, as the reference's layer ids put every name they do not list.
    if (cfg->ape)
        P->abs_pos_embed = param(c, info, n, "absolute_pos_embed", top, 0, 4, 1, G, G, C0);
    if (cfg->num_classes == 0) P->mask_token = param(c, info, n, "mask_token", 0, 0, 3, 1, 1, C0, 0);
    for (int i = 0; i < cfg->num_stages; i++) {
        int C = swin_stage_dim(cfg, i), W = swin_stage_window(cfg, i);
        int first = swin_first_block(cfg, i);
        if (i > 0) { // timm puts the merge at the start of stage i, in the layer before its blocks
            int in = 4 * swin_stage_dim(cfg, i - 1);
            snprintf(name, sizeof name, "layers.%d.downsample.norm.weight", i);
            P->merge_norm_w[i] = param(c, info, n, name, first, 0, 1, in, 0, 0, 0);
            snprintf(name, sizeof name, "layers.%d.downsample.norm.bias", i);
            P->merge_norm_b[i] = param(c, info, n, name, first, 0, 1, in, 0, 0, 0);
            snprintf(name, sizeof name, "layers.%d.downsample.reduction.weight", i);
            P->merge_w[i] = param(c, info, n, name, first, 1, 2, C, in, 0, 0);
        }
        for (int j = 0; j < cfg->depths[i]; j++) {
            char prefix[PARAM_NAME_MAX];
            snprintf(prefix, sizeof prefix, "layers.%d.blocks.%d.", i, j);
            BlockParams b = layout_block(c, info, n, prefix, first + j + 1, C,
                                         swin_stage_hidden(cfg, i));
            snprintf(name, sizeof name, "%sattn.relative_position_bias_table", prefix);
            b.rel_table = param(c, info, n, name, first + j + 1, 0, 2, (2 * W - 1) * (2 * W - 1),
                                cfg->stage_heads[i], 0, 0);
            if (blocks) blocks[first + j] = b;
        }
    }
}

// Stage i's windows per image and tokens per window.
static size_t stage_windows(const ModelConfig *cfg, int i)
{
    size_t per_side = swin_stage_grid(cfg, i) / swin_stage_window(cfg, i);
    return per_side * per_side;
}

static size_t stage_window_tokens(const ModelConfig *cfg, int i)
{
    size_t W = swin_stage_window(cfg, i);
    return W * W;
}

void swin_layout_acts(const ModelConfig *cfg, size_t B, Carver *c, Acts *a, BlockActs *blocks)
{
    size_t G = model_grid(cfg), L0 = G * G, C0 = cfg->embed_dim, rel_bias = 0;
    a->patches = carve(c, B * L0 * model_patch_dim(cfg));
    a->patch_out = carve(c, B * L0 * C0);
    if (cfg->patch_norm) {
        a->pe_mean = carve(c, B * L0);
        a->pe_rstd = carve(c, B * L0);
    }
    a->x0 = a->stage_x[0] = carve(c, B * L0 * C0);
    for (int i = 0; i < cfg->num_stages; i++) {
        size_t Gi = swin_stage_grid(cfg, i), rows = B * Gi * Gi, C = swin_stage_dim(cfg, i);
        size_t heads = cfg->stage_heads[i], N = stage_window_tokens(cfg, i);
        size_t windows = stage_windows(cfg, i);
        if (i > 0) {
            a->merged[i] = carve(c, rows * 4 * swin_stage_dim(cfg, i - 1));
            a->merge_mean[i] = carve(c, rows);
            a->merge_rstd[i] = carve(c, rows);
            a->stage_x[i] = carve(c, rows * C);
        }
        for (int j = 0; j < cfg->depths[i]; j++) {
            BlockActs b = carve_block_acts(c, rows, C, swin_stage_hidden(cfg, i),
                                           B * windows * heads * N * N);
            if (blocks) blocks[swin_first_block(cfg, i) + j] = b;
        }
        if (swin_stage_shift(cfg, i)) a->shift_mask[i] = carve(c, windows * N * N);
        rel_bias = heads * N * N > rel_bias ? heads * N * N : rel_bias;
    }
    a->rel_bias = carve(c, rel_bias);
}

static size_t max_of(size_t a, size_t b) { return a > b ? a : b; }

void swin_shared_sizes(const ModelConfig *cfg, size_t B, size_t *rows_wide, size_t *rows_hidden,
                       size_t *attention, size_t *scores)
{
    *rows_wide = *rows_hidden = *attention = *scores = 0;
    for (int i = 0; i < cfg->num_stages; i++) {
        size_t Gi = swin_stage_grid(cfg, i), rows = B * Gi * Gi, C = swin_stage_dim(cfg, i);
        size_t H = swin_stage_hidden(cfg, i), heads = cfg->stage_heads[i];
        size_t N = stage_window_tokens(cfg, i);
        // a merge's rows of 4·C_(i−1) are stage i − 1's rows of C_(i−1): within stage i − 1's
        *rows_wide = max_of(*rows_wide, rows * C);
        *rows_hidden = max_of(*rows_hidden, rows * max_of(H, 3 * C));
        *attention = max_of(*attention, attention_scratch_floats((int)N, (int)(C / heads)));
        *scores = max_of(*scores, B * stage_windows(cfg, i) * heads * N * N);
    }
}

int swin_matmul_shapes(const ModelConfig *cfg, long B, long shapes[][3])
{
    long G = model_grid(cfg), n = 0;
#define SHAPE(m, k, nn) (shapes[n][0] = (m), shapes[n][1] = (k), shapes[n][2] = (nn), n++)
    SHAPE(B * G * G, model_patch_dim(cfg), cfg->embed_dim);
    for (int i = 0; i < cfg->num_stages; i++) {
        long Gi = swin_stage_grid(cfg, i), rows = B * Gi * Gi, C = swin_stage_dim(cfg, i);
        long H = swin_stage_hidden(cfg, i);
        SHAPE(rows, C, 3 * C), SHAPE(rows, C, C), SHAPE(rows, C, H), SHAPE(rows, H, C);
        if (i > 0) SHAPE(rows, 2 * C, C); // the merge: 4·C_(i−1) = 2·C_i
    }
#undef SHAPE
    return (int)n;
}

void swin_fill_masks(Model *m)
{
    for (int i = 0; i < m->cfg.num_stages; i++)
        if (m->acts.shift_mask[i])
            shifted_window_mask(m->acts.shift_mask[i], swin_stage_grid(&m->cfg, i),
                                swin_stage_window(&m->cfg, i), swin_stage_shift(&m->cfg, i));
}

BlockStack swin_block_stack(const Model *m, int stage)
{
    const ModelConfig *c = &m->cfg;
    int first = swin_first_block(c, stage), G = swin_stage_grid(c, stage);
    return (BlockStack){.params = m->params.blocks + first, .grads = m->grads.blocks + first,
                        .acts = m->acts.blocks + first, .depth = c->depths[stage],
                        .tokens = G * G, .dim = swin_stage_dim(c, stage),
                        .heads = c->stage_heads[stage], .hidden = swin_stage_hidden(c, stage),
                        .drop_path = 1, .first_block = first, .eps = model_norm_eps(c), .grid = G,
                        .window = swin_stage_window(c, stage), .shift = swin_stage_shift(c, stage),
                        .shift_mask = m->acts.shift_mask[stage]};
}

float *swin_output(const Model *m) { return m->acts.blocks[model_total_blocks(&m->cfg) - 1].res2; }

// Stage i's output rows (its last block's).
static const float *stage_output(const Model *m, int i)
{
    return m->acts.blocks[swin_first_block(&m->cfg, i + 1) - 1].res2;
}

// Patch merging into stage i: stage i − 1's output [B·G², C] → merged [B·(G/2)², 4C] →
// LayerNorm (into the shared ln) → stage_x[i] [B·(G/2)², 2C].
static void merge_forward(Model *m, int i)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, G = swin_stage_grid(c, i - 1), in = 4 * swin_stage_dim(c, i - 1);
    int rows = B * swin_stage_grid(c, i) * swin_stage_grid(c, i);
    patch_merge_forward(a->merged[i], stage_output(m, i - 1), B, G, swin_stage_dim(c, i - 1));
    layernorm_forward(a->ln, a->merge_mean[i], a->merge_rstd[i], a->merged[i], p->merge_norm_w[i],
                      p->merge_norm_b[i], rows, in, model_norm_eps(c));
    matmul_forward(a->stage_x[i], a->ln, p->merge_w[i], NULL, rows, in, swin_stage_dim(c, i));
}

// dres holds the gradient of stage_x[i] on entry, that of stage i − 1's output on exit; dln
// and datty, free between the stages' blocks, hold the LayerNorm's gradients.
static void merge_backward(Model *m, int i)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, G = swin_stage_grid(c, i - 1), in = 4 * swin_stage_dim(c, i - 1);
    int rows = B * swin_stage_grid(c, i) * swin_stage_grid(c, i);
    layernorm_apply(a->ln, a->merged[i], a->merge_mean[i], a->merge_rstd[i], p->merge_norm_w[i],
                    p->merge_norm_b[i], rows, in);
    matmul_backward(a->dln, g->merge_w[i], NULL, a->weight_grad_scratch, a->dres, a->ln,
                    p->merge_w[i], rows, in, swin_stage_dim(c, i));
    memset(a->datty, 0, sizeof(float) * (size_t)rows * in); // layernorm_backward accumulates
    layernorm_backward(a->datty, g->merge_norm_w[i], g->merge_norm_b[i], a->dln, a->merged[i],
                       p->merge_norm_w[i], a->merge_mean[i], a->merge_rstd[i], rows, in);
    patch_merge_backward(a->dres, a->datty, B, G, swin_stage_dim(c, i - 1));
}

void swin_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, L = model_num_patches(c), C = c->embed_dim;
    patch_embed_forward(a->patch_out, a->patches, m->in.images, p->patch_w, p->patch_b, B,
                        c->in_chans, c->img_size, c->patch_size, C);
    const float *embedded = a->patch_out;
    if (c->patch_norm) {
        layernorm_forward(a->ln, a->pe_mean, a->pe_rstd, a->patch_out, p->patch_norm_w,
                          p->patch_norm_b, B * L, C, model_norm_eps(c));
        embedded = a->ln;
    }
    mask_embed_forward(a->x0, embedded, p->mask_token, p->abs_pos_embed,
                       p->mask_token ? m->in.token_mask : NULL, B, L, C);
    fill_drop_scales(m);
    for (int i = 0; i < c->num_stages; i++) {
        if (i > 0) merge_forward(m, i);
        BlockStack stack = swin_block_stack(m, i);
        blocks_forward(m, &stack, a->stage_x[i]);
    }
}

void swin_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, L = model_num_patches(c), C = c->embed_dim;
    for (int i = c->num_stages - 1; i >= 0; i--) {
        BlockStack stack = swin_block_stack(m, i);
        blocks_backward(m, &stack, a->stage_x[i]);
        if (i > 0) merge_backward(m, i);
    }
    float *dembedded = c->patch_norm ? a->dln : a->dpatch_out;
    mask_embed_backward(dembedded, g->mask_token, g->abs_pos_embed, a->dres,
                        p->mask_token ? m->in.token_mask : NULL, B, L, C);
    if (c->patch_norm) {
        memset(a->dpatch_out, 0, sizeof(float) * (size_t)B * L * C);
        layernorm_backward(a->dpatch_out, g->patch_norm_w, g->patch_norm_b, a->dln, a->patch_out,
                           p->patch_norm_w, a->pe_mean, a->pe_rstd, B * L, C);
    }
    patch_embed_backward(g->patch_w, g->patch_b, a->weight_grad_scratch, a->dpatch_out,
                         a->patches, B, L, model_patch_dim(c), C);
}
