// Model construction: the layout of the flat parameter, gradient and activation buffers, the
// parameter table, initialisation, and the forward/backward entry points that tie the
// encoder (vit.c or swin.c) to the pretraining (simmim.c) or classification (classifier.c) head.
#include "model/model.h"
#include "base/cpu.h"
#include "model/layout.h"
#include "ops/ops.h"

#include <sys/mman.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float *carve(Carver *c, size_t n)
{
    size_t start = c->align > 1 ? (c->used + c->align - 1) / c->align * c->align : c->used;
    c->used = start + n;
    c->used_estimate += (double)n + (double)c->align;
    return c->base ? c->base + start : NULL;
}

float *param(Carver *c, ParamInfo *info, int *count, const char *name, int layer_id,
             int weight_decay, int ndim, int d0, int d1, int d2, int d3)
{
    int shape[PARAM_MAX_DIMS] = {d0, d1, d2, d3};
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
    if (info) {
        ParamInfo *p = &info[*count];
        snprintf(p->name, sizeof p->name, "%s", name);
        p->ndim = ndim;
        memcpy(p->shape, shape, sizeof shape);
        p->offset = c->used;
        p->numel = numel;
        p->layer_id = layer_id;
        p->weight_decay = weight_decay;
    }
    (*count)++;
    return carve(c, numel);
}

BlockParams layout_block(Carver *c, ParamInfo *info, int *n, const char *prefix, int layer_id,
                         int D, int H)
{
    BlockParams b = {0};
    char name[2 * PARAM_NAME_MAX]; // room for any prefix; param() keeps PARAM_NAME_MAX of it
#define BLOCK_PARAM(field, suffix, decay, ndim, d0, d1)                                   \
    snprintf(name, sizeof name, "%s%s", prefix, suffix);                                  \
    b.field = param(c, info, n, name, layer_id, decay, ndim, d0, d1, 0, 0)
    BLOCK_PARAM(ln1_w, "norm1.weight", 0, 1, D, 0);
    BLOCK_PARAM(ln1_b, "norm1.bias", 0, 1, D, 0);
    BLOCK_PARAM(qkv_w, "attn.qkv.weight", 1, 2, 3 * D, D);
    BLOCK_PARAM(qkv_b, "attn.qkv.bias", 0, 1, 3 * D, 0);
    BLOCK_PARAM(proj_w, "attn.proj.weight", 1, 2, D, D);
    BLOCK_PARAM(proj_b, "attn.proj.bias", 0, 1, D, 0);
    BLOCK_PARAM(ln2_w, "norm2.weight", 0, 1, D, 0);
    BLOCK_PARAM(ln2_b, "norm2.bias", 0, 1, D, 0);
    BLOCK_PARAM(fc1_w, "mlp.fc1.weight", 1, 2, H, D);
    BLOCK_PARAM(fc1_b, "mlp.fc1.bias", 0, 1, H, 0);
    BLOCK_PARAM(fc2_w, "mlp.fc2.weight", 1, 2, D, H);
    BLOCK_PARAM(fc2_b, "mlp.fc2.bias", 0, 1, D, 0);
#undef BLOCK_PARAM
    return b;
}

// The SimMIM decoder's tensors (docs/checkpoints.md), all in the top layer.
static void layout_decoder(const ModelConfig *cfg, Carver *c, Params *P, BlockParams *dec_blocks,
                           ParamInfo *info, int *n)
{
    int D = model_out_dim(cfg), out = simmim_decoder_out(cfg), top = model_total_blocks(cfg) + 1;
    switch (cfg->decoder.type) {
    case DECODER_LINEAR:
        P->out_w = param(c, info, n, "decoder.0.weight", top, 1, 4, out, D, 1, 1);
        P->out_b = param(c, info, n, "decoder.0.bias", top, 0, 1, out, 0, 0, 0);
        break;
    case DECODER_MLP: {
        int Hd = decoder_hidden(cfg);
        P->dec_fc1_w = param(c, info, n, "decoder.fc1.weight", top, 1, 2, Hd, D, 0, 0);
        P->dec_fc1_b = param(c, info, n, "decoder.fc1.bias", top, 0, 1, Hd, 0, 0, 0);
        P->out_w = param(c, info, n, "decoder.fc2.weight", top, 1, 2, out, Hd, 0, 0);
        P->out_b = param(c, info, n, "decoder.fc2.bias", top, 0, 1, out, 0, 0, 0);
        break;
    }
    case DECODER_TRANSFORMER: {
        int E = decoder_embed_dim(cfg), N = model_out_tokens(cfg);
        char prefix[PARAM_NAME_MAX];
        P->dec_embed_w = param(c, info, n, "decoder.embed.weight", top, 1, 2, E, D, 0, 0);
        P->dec_embed_b = param(c, info, n, "decoder.embed.bias", top, 0, 1, E, 0, 0, 0);
        P->dec_pos_embed = param(c, info, n, "decoder.pos_embed", top, 0, 3, 1, N, E, 0);
        for (int l = 0; l < cfg->decoder.depth; l++) {
            snprintf(prefix, sizeof prefix, "decoder.blocks.%d.", l);
            BlockParams b = layout_block(c, info, n, prefix, top, E, decoder_mlp_hidden(cfg));
            if (dec_blocks) dec_blocks[l] = b;
        }
        P->dec_norm_w = param(c, info, n, "decoder.norm.weight", top, 0, 1, E, 0, 0, 0);
        P->dec_norm_b = param(c, info, n, "decoder.norm.bias", top, 0, 1, E, 0, 0, 0);
        P->out_w = param(c, info, n, "decoder.pred.weight", top, 1, 2, out, E, 0, 0);
        P->out_b = param(c, info, n, "decoder.pred.bias", top, 0, 1, out, 0, 0, 0);
        break;
    }
    }
    // Not trained: the k-means colours the targets are classes of, kept with the weights so a
    // checkpoint's predictions can be read; no weight decay and a zero gradient leave it as set.
    if (cfg->loss.type == LOSS_PALETTE)
        P->palette = param(c, info, n, "decoder.palette", top, 0, 2, cfg->loss.palette,
                           cfg->in_chans, 0, 0);
}

// The ViT encoder's tensors: patch embedding, cls token, position embedding, the mask token
// when pretraining, the blocks.
static void vit_layout_params(const ModelConfig *cfg, Carver *c, Params *P, BlockParams *blocks,
                              ParamInfo *info, int *n)
{
    int D = cfg->embed_dim, C = cfg->in_chans, p = cfg->patch_size, T = model_num_tokens(cfg);
    int H = model_mlp_hidden(cfg);
    char prefix[PARAM_NAME_MAX];
    P->patch_w = param(c, info, n, "patch_embed.proj.weight", 0, 1, 4, D, C, p, p);
    P->patch_b = param(c, info, n, "patch_embed.proj.bias", 0, 0, 1, D, 0, 0, 0);
    P->cls_token = param(c, info, n, "cls_token", 0, 0, 3, 1, 1, D, 0);
    P->pos_embed = param(c, info, n, "pos_embed", 0, 0, 3, 1, T, D, 0);
    if (cfg->num_classes == 0) P->mask_token = param(c, info, n, "mask_token", 0, 0, 3, 1, 1, D, 0);
    for (int l = 0; l < cfg->depth; l++) {
        snprintf(prefix, sizeof prefix, "blocks.%d.", l);
        BlockParams b = layout_block(c, info, n, prefix, l + 1, D, H);
        if (blocks) blocks[l] = b;
    }
}

// Walks every parameter tensor in checkpoint order; fills `out` (if not NULL) with pointers
// into c->base, `blocks` and `dec_blocks` with the blocks' and `info` (if not NULL) with the
// table. Returns the tensor count.
static int layout_params(const ModelConfig *cfg, Carver *c, Params *out, BlockParams *blocks,
                         BlockParams *dec_blocks, ParamInfo *info)
{
    int D = model_out_dim(cfg), top = model_total_blocks(cfg) + 1, n = 0;
    int swin = cfg->arch == ARCH_SWIN;
    Params P = {0};
    if (swin) swin_layout_params(cfg, c, &P, blocks, info, &n);
    else vit_layout_params(cfg, c, &P, blocks, info, &n);
    // Swin's final norm serves both heads (timm's forward_features); the ViT classifier pools
    // before its own fc_norm (timm's global_pool='avg').
    if (cfg->num_classes == 0 || swin) {
        P.norm_w = param(c, info, &n, "norm.weight", top, 0, 1, D, 0, 0, 0);
        P.norm_b = param(c, info, &n, "norm.bias", top, 0, 1, D, 0, 0, 0);
    }
    if (cfg->num_classes == 0) {
        layout_decoder(cfg, c, &P, dec_blocks, info, &n);
    } else {
        int K = cfg->num_classes;
        if (!swin) {
            P.fc_norm_w = param(c, info, &n, "fc_norm.weight", top, 0, 1, D, 0, 0, 0);
            P.fc_norm_b = param(c, info, &n, "fc_norm.bias", top, 0, 1, D, 0, 0, 0);
        }
        P.head_w = param(c, info, &n, swin ? "head.fc.weight" : "head.weight", top, 1, 2, K, D, 0, 0);
        P.head_b = param(c, info, &n, swin ? "head.fc.bias" : "head.bias", top, 0, 1, K, 0, 0, 0);
    }
    if (out) {
        P.blocks = blocks;
        P.dec_blocks = dec_blocks;
        *out = P;
    }
    return n;
}

// The (M, K, N) of every matrix product the model computes; returns their count.
static int matmul_shapes(const ModelConfig *cfg, int B, long shapes[MATMUL_SHAPES_MAX][3])
{
    long D = model_out_dim(cfg), T = model_num_tokens(cfg), N = model_out_tokens(cfg);
    long H = model_mlp_hidden(cfg), BT = B * T, BN = B * N, n = 0;
#define SHAPE(m, k, nn) (shapes[n][0] = (m), shapes[n][1] = (k), shapes[n][2] = (nn), n++)
    if (cfg->arch == ARCH_SWIN) {
        n = swin_matmul_shapes(cfg, B, shapes);
    } else {
        SHAPE(BT, D, 3 * D), SHAPE(BT, D, D), SHAPE(BT, D, H), SHAPE(BT, H, D);
        SHAPE(BN, model_patch_dim(cfg), D);
    }
    if (cfg->num_classes) {
        SHAPE(B, D, cfg->num_classes);
    } else {
        long out = simmim_decoder_out(cfg);
        if (cfg->decoder.type == DECODER_LINEAR) SHAPE(BN, D, out);
        if (cfg->decoder.type == DECODER_MLP) {
            long Hd = decoder_hidden(cfg);
            SHAPE(BN, D, Hd), SHAPE(BN, Hd, out);
        }
        if (cfg->decoder.type == DECODER_TRANSFORMER) {
            long E = decoder_embed_dim(cfg), Hm = decoder_mlp_hidden(cfg);
            SHAPE(BN, D, E), SHAPE(BN, E, 3 * E), SHAPE(BN, E, E), SHAPE(BN, E, Hm);
            SHAPE(BN, Hm, E), SHAPE(BN, E, out);
        }
    }
#undef SHAPE
    return (int)n;
}

// The largest scratch any of the model's matmul_backward calls needs.
static size_t weight_grad_scratch_floats(const ModelConfig *cfg, int B)
{
    long shapes[MATMUL_SHAPES_MAX][3];
    int count = matmul_shapes(cfg, B, shapes);
    size_t most = 0;
    for (int i = 0; i < count; i++) {
        size_t floats = matmul_backward_scratch_floats(shapes[i][0], shapes[i][1], shapes[i][2]);
        most = floats > most ? floats : most;
    }
    return most;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

BlockActs carve_block_acts(Carver *c, size_t rows, size_t D, size_t H, size_t att)
{
    return (BlockActs){
        .ln1_mean = carve(c, rows), .ln1_rstd = carve(c, rows),
        .qkv = carve(c, rows * 3 * D), .att = carve(c, att),
        .atty = carve(c, rows * D), .res1 = carve(c, rows * D),
        .ln2_mean = carve(c, rows), .ln2_rstd = carve(c, rows),
        .fc1 = carve(c, rows * H), .gelu = carve(c, rows * H), .res2 = carve(c, rows * D),
    };
}

// The pretraining head's activations: final norm, decoder, prediction, target.
static void layout_head_acts(const ModelConfig *cfg, size_t B, Carver *c, Acts *a,
                             BlockActs *dec_blocks)
{
    size_t D = model_out_dim(cfg), N = model_out_tokens(cfg), BN = B * N, C = cfg->in_chans;
    size_t out = simmim_decoder_out(cfg), r = simmim_target_resolution(cfg);
    int vit = cfg->arch == ARCH_VIT;
    if (vit) a->tokens = carve(c, BN * D); // swin's output rows are its tokens already
    a->lnf = carve(c, BN * D);
    a->lnf_mean = carve(c, BN);
    a->lnf_rstd = carve(c, BN);
    if (cfg->decoder.type == DECODER_MLP) {
        size_t Hd = decoder_hidden(cfg);
        a->dec_hidden = carve(c, BN * Hd);
        a->dec_gelu = carve(c, BN * Hd);
        a->ddec_hidden = carve(c, BN * Hd);
    } else if (cfg->decoder.type == DECODER_TRANSFORMER) {
        size_t E = decoder_embed_dim(cfg);
        a->dec_x0 = carve(c, BN * E);
        for (int l = 0; l < cfg->decoder.depth; l++) {
            BlockActs b = carve_block_acts(c, BN, E, decoder_mlp_hidden(cfg),
                                           B * decoder_num_heads(cfg) * N * N);
            if (dec_blocks) dec_blocks[l] = b;
        }
        a->dec_normed = carve(c, BN * E);
        a->dec_norm_mean = carve(c, BN);
        a->dec_norm_rstd = carve(c, BN);
    }
    a->dec = carve(c, BN * out);
    a->pred = carve(c, BN * out); // [B, C', r, r]: the same count
    if (r < (size_t)cfg->img_size) a->target = carve(c, B * C * r * r);
    if (simmim_loss_grid(cfg) < model_grid(cfg)) a->loss_mask = carve(c, B * r * r);
    if (cfg->loss.type == LOSS_BINS) a->classes = carve(c, B * C * r * r);
    if (cfg->loss.type == LOSS_PALETTE) a->classes = carve(c, B * r * r);
    a->dlnf = carve(c, BN * D);
    if (vit) a->dtokens = carve(c, BN * D); // swin's go straight to dres
    a->dpred = carve(c, BN * out);
    a->ddec = carve(c, BN * out);
}

// The classification head's activations: pooled features, their norm (ViT: fc_norm after the
// pool; Swin: the final norm on every token before it), logits, probabilities, gradients.
static void layout_classifier_acts(const ModelConfig *cfg, size_t B, Carver *c, Acts *a)
{
    size_t D = model_out_dim(cfg), K = cfg->num_classes, BN = B * model_out_tokens(cfg);
    a->pooled = carve(c, B * D);
    if (cfg->arch == ARCH_SWIN) {
        a->lnf = carve(c, BN * D);
        a->lnf_mean = carve(c, BN);
        a->lnf_rstd = carve(c, BN);
        a->dlnf = carve(c, BN * D);
    } else {
        a->fcn = carve(c, B * D);
        a->fcn_mean = carve(c, B);
        a->fcn_rstd = carve(c, B);
        a->dfcn = carve(c, B * D);
    }
    a->logits = carve(c, B * K);
    a->probs = carve(c, B * K);
    a->dpooled = carve(c, B * D);
    a->dlogits = carve(c, B * K);
}

// `threads`: how many threads the attention ops may use, each with its own scratch.
static void layout_acts(const ModelConfig *cfg, int B, int threads, Carver *c, Acts *out,
                        BlockActs *blocks, BlockActs *dec_blocks)
{
    size_t D = cfg->embed_dim, T = model_num_tokens(cfg), N = model_num_patches(cfg);
    size_t H = model_mlp_hidden(cfg), heads = cfg->num_heads, BT = (size_t)B * T;
    size_t BN = (size_t)B * N, K = cfg->num_classes, No = model_out_tokens(cfg);
    int swin = cfg->arch == ARCH_SWIN;
    // the blocks' shared buffers serve the encoder and a transformer decoder
    size_t rows_wide = BT * D, rows_hidden = BT * (H > 3 * D ? H : 3 * D), scores = 0, attention;
    if (swin)
        swin_shared_sizes(cfg, B, &rows_wide, &rows_hidden, &attention, &scores);
    else
        attention = attention_scratch_floats(T, D / heads);
    size_t encoder_rows = rows_wide;
    if (K == 0 && cfg->decoder.type == DECODER_TRANSFORMER) {
        size_t E = decoder_embed_dim(cfg), Hm = decoder_mlp_hidden(cfg), BNo = B * No;
        rows_wide = max_size(rows_wide, BNo * E);
        rows_hidden = max_size(rows_hidden, BNo * (Hm > 3 * E ? Hm : 3 * E));
        attention = max_size(attention, attention_scratch_floats(No, E / decoder_num_heads(cfg)));
    }
    Acts a = {0};
    if (swin) {
        swin_layout_acts(cfg, B, c, &a, blocks);
    } else {
        a.patches = carve(c, BN * model_patch_dim(cfg));
        a.patch_out = carve(c, BN * D);
        a.x0 = carve(c, BT * D);
        for (int l = 0; l < cfg->depth; l++) {
            BlockActs b = carve_block_acts(c, BT, D, H, (size_t)B * heads * T * T);
            if (blocks) blocks[l] = b;
        }
    }
    a.ln = carve(c, rows_wide);
    a.drop_scale = carve(c, (size_t)model_total_blocks(cfg) * 2 * B);
    if (K == 0)
        layout_head_acts(cfg, B, c, &a, dec_blocks);
    else
        layout_classifier_acts(cfg, B, c, &a);
    a.dres = carve(c, rows_wide);
    // only a dropped branch needs its own
    if (cfg->drop_path > 0.0f) a.dbranch = carve(c, encoder_rows);
    a.dln = carve(c, rows_wide);
    a.datty = carve(c, rows_wide);
    a.attention_scratch = carve(c, threads * attention);
    a.weight_grad_scratch = carve(c, weight_grad_scratch_floats(cfg, B));
    // The MLP's backward is done with dhidden before the attention's begins with dqkv: one buffer.
    a.dhidden = a.dqkv = carve(c, rows_hidden);
    a.dpatch_out = carve(c, BN * D);
    if (swin) {
        a.windows = carve(c, encoder_rows);
        a.dscores = carve(c, scores);
    }
    if (out) {
        a.blocks = blocks;
        a.dec_blocks = dec_blocks;
        *out = a;
    }
}

enum { ACT_ALIGN = 16, MAX_BATCH = 1 << 20 };

size_t model_memory_bytes(const ModelConfig *cfg, int batch)
{
    Carver params = {0}, acts = {.align = ACT_ALIGN};
    layout_params(cfg, &params, NULL, NULL, NULL, NULL);
    layout_acts(cfg, batch, ops_threads(), &acts, NULL, NULL, NULL);
    double floats = 2.0 * params.used_estimate + acts.used_estimate;
    if (floats * sizeof(float) > 0x1p60) return 0;
    return (2 * params.used + acts.used) * sizeof(float);
}

// The activations are hundreds of MB swept several times a step: on 2 MB pages they cost
// far fewer TLB misses (the kernel gives them only on request when THP is in madvise mode).
static void *alloc_huge(size_t bytes)
{
    size_t huge = (size_t)2 << 20, rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); // a hint: without it the memory still works
    return p;
}

int model_create(Model *m, const ModelConfig *cfg, int batch, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (model_config_validate(cfg, err, errlen)) return -1;
    if (cfg->num_classes == 0 && head_config_validate(cfg, err, errlen)) return -1;
    if (batch < 1 || batch > MAX_BATCH) {
        snprintf(err, errlen, "train.batch_size: must be between 1 and %d (got %d)", MAX_BATCH, batch);
        return -1;
    }
    size_t bytes = model_memory_bytes(cfg, batch);
    if (bytes == 0 || (double)bytes > 0.9 * machine_memory_bytes()) {
        snprintf(err, errlen,
                 "train.batch_size: model and batch %d need %.1f GiB, more than this machine's "
                 "%.1f GiB; lower the batch size or the model size", batch,
                 bytes ? bytes / 0x1p30 : INFINITY, machine_memory_bytes() / 0x1p30);
        return -1;
    }
    m->cfg = *cfg;
    m->batch = batch;
    m->attention_threads = ops_threads();
    Carver count = {0}, acts_count = {.align = ACT_ALIGN};
    m->num_tensors = layout_params(cfg, &count, NULL, NULL, NULL, NULL);
    layout_acts(cfg, batch, m->attention_threads, &acts_count, NULL, NULL, NULL);
    m->num_params = count.used;
    m->acts_floats = acts_count.used;
    m->info = calloc(m->num_tensors, sizeof *m->info);
    m->params_mem = calloc(m->num_params, sizeof(float));
    m->grads_mem = calloc(m->num_params, sizeof(float));
    m->acts_mem = alloc_huge(m->acts_floats * sizeof(float));
    // the encoder's blocks, then a transformer decoder's, in one array each
    int dec_depth = cfg->num_classes == 0 && cfg->decoder.type == DECODER_TRANSFORMER
                        ? cfg->decoder.depth : 0;
    int enc_blocks = model_total_blocks(cfg), all_blocks = enc_blocks + dec_depth;
    BlockParams *pb = calloc(all_blocks, sizeof *pb), *gb = calloc(all_blocks, sizeof *gb);
    BlockActs *ab = calloc(all_blocks, sizeof *ab);
    long shapes[MATMUL_SHAPES_MAX][3];
    int shape_count = matmul_shapes(cfg, batch, shapes), reserved = 1;
    for (int i = 0; i < shape_count; i++) reserved &= !matmul_reserve(shapes[i][1], shapes[i][2]);
    if (!m->info || !m->params_mem || !m->grads_mem || !m->acts_mem || !pb || !gb || !ab || !reserved) {
        free(pb), free(gb), free(ab);
        model_free(m);
        snprintf(err, errlen, "train.batch_size: out of memory allocating %.1f GiB", bytes / 0x1p30);
        return -1;
    }
    Carver pc = {.base = m->params_mem}, gc = {.base = m->grads_mem};
    Carver ac = {.base = m->acts_mem, .align = ACT_ALIGN};
    layout_params(cfg, &pc, &m->params, pb, dec_depth ? pb + enc_blocks : NULL, m->info);
    layout_params(cfg, &gc, &m->grads, gb, dec_depth ? gb + enc_blocks : NULL, NULL);
    layout_acts(cfg, batch, m->attention_threads, &ac, &m->acts, ab,
                dec_depth ? ab + enc_blocks : NULL);
    if (cfg->arch == ARCH_SWIN) swin_fill_masks(m);
    for (int c = 0; c < MODEL_MAX_TARGET_CHANS; c++) m->pixel_mean[c] = 0.0f, m->pixel_std[c] = 1.0f;
    m->label_smoothing = 0.0f;
    return 0;
}

void model_free(Model *m)
{
    free(m->info);
    free(m->params_mem);
    free(m->grads_mem);
    free(m->acts_mem);
    free(m->params.blocks);
    free(m->grads.blocks);
    free(m->acts.blocks);
    memset(m, 0, sizeof *m);
}

const ParamInfo *model_find_param(const Model *m, const char *name)
{
    for (int i = 0; i < m->num_tensors; i++)
        if (strcmp(m->info[i].name, name) == 0) return &m->info[i];
    return NULL;
}

static void fill_normal(float *x, size_t n, double std, double cut, Rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        do v = rng_normal(rng) * std;
        while (fabs(v) > cut);
        x[i] = (float)v;
    }
}

static void fill_uniform(float *x, size_t n, double bound, Rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
}

static void fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void model_init_weights(Model *m, Rng *rng)
{
    // docs/recipes.md: Linear weights N(0, 0.02) (cut at ±2, i.e. uncut), biases 0, LayerNorm 1/0;
    // tokens and position embeddings N(0, 0.02) cut at ±0.02; the two convolutions (patch
    // embedding, the linear decoder) PyTorch's default uniform(±1/√fan_in) for weight and bias;
    // a classification head N(0, 2e-5). The mlp and transformer decoders are Linear layers.
    // Swin: its relative position bias tables N(0, 0.02) like a Linear weight (timm's
    // trunc_normal_(std=.02), cut at ±2), its absolute position embedding as pos_embed.
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *p = &m->info[i];
        float *x = m->params_mem + p->offset;
        const char *name = p->name;
        size_t len = strlen(name);
        int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        if (strncmp(name, "patch_embed.proj.", 17) == 0)
            fill_uniform(x, p->numel, 1.0 / sqrt(model_patch_dim(&m->cfg)), rng);
        else if (strncmp(name, "decoder.0.", 10) == 0)
            fill_uniform(x, p->numel, 1.0 / sqrt(model_out_dim(&m->cfg)), rng);
        else if (strcmp(name, "decoder.palette") == 0)
            continue; // the trainer's k-means sets it
        else if (strcmp(name, "cls_token") == 0 || strcmp(name, "pos_embed") == 0 ||
                 strcmp(name, "mask_token") == 0 || strcmp(name, "decoder.pos_embed") == 0 ||
                 strcmp(name, "absolute_pos_embed") == 0)
            fill_normal(x, p->numel, 0.02, 0.02, rng);
        else if (strstr(name, "norm") && !is_bias)
            fill_value(x, p->numel, 1.0f);
        else if (is_bias)
            fill_value(x, p->numel, 0.0f);
        else if (strcmp(name, "head.weight") == 0 || strcmp(name, "head.fc.weight") == 0)
            fill_normal(x, p->numel, 2e-5, 2.0, rng);
        else
            fill_normal(x, p->numel, 0.02, 2.0, rng);
    }
}

void model_zero_grad(Model *m) { memset(m->grads_mem, 0, m->num_params * sizeof(float)); }

float model_forward(Model *m, const Batch *batch)
{
    m->in = *batch;
    if (m->cfg.arch == ARCH_SWIN)
        swin_forward(m);
    else
        vit_forward(m);
    m->loss = m->cfg.num_classes == 0 ? simmim_head_forward(m) : classifier_head_forward(m);
    return m->loss;
}

void model_backward(Model *m)
{
    if (m->cfg.num_classes == 0)
        simmim_head_backward(m);
    else
        classifier_head_backward(m);
    if (m->cfg.arch == ARCH_SWIN)
        swin_backward(m);
    else
        vit_backward(m);
}
