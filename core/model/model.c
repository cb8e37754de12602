// Model construction: the layout of the flat parameter, gradient and activation buffers, the
// parameter table, initialisation, and the forward/backward entry points that tie the
// encoder (vit.c) to the pretraining (simmim.c) or classification (classifier.c) head.
#include "model/model.h"
#include "base/cpu.h"
#include "ops/ops.h"

#include <sys/mman.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Hands out consecutive regions of a buffer; with base NULL it only counts, so one walk
// both sizes and carves a buffer.
typedef struct {
    float *base;
    size_t used;
    double used_estimate; // the same count in floating point, to detect size_t overflow
    size_t align;         // in floats
} Carver;

static float *carve(Carver *c, size_t n)
{
    size_t start = c->align > 1 ? (c->used + c->align - 1) / c->align * c->align : c->used;
    c->used = start + n;
    c->used_estimate += (double)n + (double)c->align;
    return c->base ? c->base + start : NULL;
}

// Adds one parameter tensor to the table (when there is one) and carves its storage.
static float *param(Carver *c, ParamInfo *info, int *count, const char *name, int layer_id,
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

// Walks every parameter tensor in checkpoint order; fills `out` (if not NULL) with pointers
// into c->base and `info` (if not NULL) with the table. Returns the tensor count.
static int layout_params(const ModelConfig *cfg, Carver *c, Params *out, BlockParams *blocks,
                         ParamInfo *info)
{
    int D = cfg->embed_dim, C = cfg->in_chans, p = cfg->patch_size, T = model_num_tokens(cfg);
    int H = model_mlp_hidden(cfg), L = cfg->depth, top = L + 1, n = 0;
    Params P = {0};
    char name[PARAM_NAME_MAX];
    P.patch_w = param(c, info, &n, "patch_embed.proj.weight", 0, 1, 4, D, C, p, p);
    P.patch_b = param(c, info, &n, "patch_embed.proj.bias", 0, 0, 1, D, 0, 0, 0);
    P.cls_token = param(c, info, &n, "cls_token", 0, 0, 3, 1, 1, D, 0);
    P.pos_embed = param(c, info, &n, "pos_embed", 0, 0, 3, 1, T, D, 0);
    if (cfg->num_classes == 0) P.mask_token = param(c, info, &n, "mask_token", 0, 0, 3, 1, 1, D, 0);
    for (int l = 0; l < L; l++) {
        BlockParams b;
#define BLOCK_PARAM(field, suffix, decay, ndim, d0, d1)                                   \
    snprintf(name, sizeof name, "blocks.%d.%s", l, suffix);                               \
    b.field = param(c, info, &n, name, l + 1, decay, ndim, d0, d1, 0, 0)
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
        if (blocks) blocks[l] = b;
    }
    if (cfg->num_classes == 0) {
        P.norm_w = param(c, info, &n, "norm.weight", top, 0, 1, D, 0, 0, 0);
        P.norm_b = param(c, info, &n, "norm.bias", top, 0, 1, D, 0, 0, 0);
        P.decoder_w = param(c, info, &n, "decoder.0.weight", top, 1, 4, p * p * C, D, 1, 1);
        P.decoder_b = param(c, info, &n, "decoder.0.bias", top, 0, 1, p * p * C, 0, 0, 0);
    } else {
        int K = cfg->num_classes;
        P.fc_norm_w = param(c, info, &n, "fc_norm.weight", top, 0, 1, D, 0, 0, 0);
        P.fc_norm_b = param(c, info, &n, "fc_norm.bias", top, 0, 1, D, 0, 0, 0);
        P.head_w = param(c, info, &n, "head.weight", top, 1, 2, K, D, 0, 0);
        P.head_b = param(c, info, &n, "head.bias", top, 0, 1, K, 0, 0, 0);
    }
    if (out) {
        P.blocks = blocks;
        *out = P;
    }
    return n;
}

enum { MATMUL_SHAPES = 7 };

// The (M, K, N) of every matrix product the model computes.
static void matmul_shapes(const ModelConfig *cfg, int B, long shapes[MATMUL_SHAPES][3])
{
    long D = cfg->embed_dim, T = model_num_tokens(cfg), N = model_num_patches(cfg);
    long H = model_mlp_hidden(cfg), BT = B * T, BN = B * N;
    long dec_dim = (long)cfg->in_chans * cfg->patch_size * cfg->patch_size;
    long all[MATMUL_SHAPES][3] = {{BT, D, 3 * D}, {BT, D, D}, {BT, D, H}, {BT, H, D},
                                  {BN, model_patch_dim(cfg), D}, {BN, D, dec_dim}, {B, D, cfg->num_classes}};
    memcpy(shapes, all, sizeof all);
}

// The largest scratch any of the model's matmul_backward calls needs.
static size_t weight_grad_scratch_floats(const ModelConfig *cfg, int B)
{
    long shapes[MATMUL_SHAPES][3];
    matmul_shapes(cfg, B, shapes);
    size_t most = 0;
    for (int i = 0; i < MATMUL_SHAPES; i++) {
        size_t floats = matmul_backward_scratch_floats(shapes[i][0], shapes[i][1], shapes[i][2]);
        most = floats > most ? floats : most;
    }
    return most;
}

// `threads`: how many threads the attention ops may use, each with its own scratch.
static void layout_acts(const ModelConfig *cfg, int B, int threads, Carver *c, Acts *out,
                        BlockActs *blocks)
{
    size_t D = cfg->embed_dim, T = model_num_tokens(cfg), N = model_num_patches(cfg);
    size_t H = model_mlp_hidden(cfg), heads = cfg->num_heads, BT = (size_t)B * T;
    size_t BN = (size_t)B * N, pix = (size_t)B * cfg->in_chans * cfg->img_size * cfg->img_size;
    size_t dec_dim = (size_t)cfg->in_chans * cfg->patch_size * cfg->patch_size;
    size_t K = cfg->num_classes;
    Acts a = {0};
    a.patches = carve(c, BN * model_patch_dim(cfg));
    a.patch_out = carve(c, BN * D);
    a.x0 = carve(c, BT * D);
    a.ln = carve(c, BT * D);
    for (int l = 0; l < cfg->depth; l++) {
        BlockActs b = {
            .ln1_mean = carve(c, BT), .ln1_rstd = carve(c, BT),
            .qkv = carve(c, BT * 3 * D), .att = carve(c, (size_t)B * heads * T * T),
            .atty = carve(c, BT * D), .res1 = carve(c, BT * D),
            .ln2_mean = carve(c, BT), .ln2_rstd = carve(c, BT),
            .fc1 = carve(c, BT * H), .gelu = carve(c, BT * H), .res2 = carve(c, BT * D),
        };
        if (blocks) blocks[l] = b;
    }
    a.drop_scale = carve(c, (size_t)cfg->depth * 2 * B);
    if (K == 0) {
        a.tokens = carve(c, BN * D);
        a.lnf = carve(c, BN * D);
        a.lnf_mean = carve(c, BN);
        a.lnf_rstd = carve(c, BN);
        a.dec = carve(c, BN * dec_dim);
        a.pred = carve(c, pix);
        a.dlnf = carve(c, BN * D);
        a.dtokens = carve(c, BN * D);
        a.dpred = carve(c, pix);
        a.ddec = carve(c, BN * dec_dim);
    } else {
        a.pooled = carve(c, (size_t)B * D);
        a.fcn = carve(c, (size_t)B * D);
        a.fcn_mean = carve(c, B);
        a.fcn_rstd = carve(c, B);
        a.logits = carve(c, (size_t)B * K);
        a.probs = carve(c, (size_t)B * K);
        a.dpooled = carve(c, (size_t)B * D);
        a.dfcn = carve(c, (size_t)B * D);
        a.dlogits = carve(c, (size_t)B * K);
    }
    a.dres = carve(c, BT * D);
    if (cfg->drop_path > 0.0f) a.dbranch = carve(c, BT * D); // only a dropped branch needs its own
    a.dln = carve(c, BT * D);
    a.datty = carve(c, BT * D);
    a.attention_scratch = carve(c, threads * attention_scratch_floats(T, D / heads));
    a.weight_grad_scratch = carve(c, weight_grad_scratch_floats(cfg, B));
    // The MLP's backward is done with dhidden before the attention's begins with dqkv: one buffer.
    a.dhidden = a.dqkv = carve(c, BT * (H > 3 * D ? H : 3 * D));
    a.dpatch_out = carve(c, BN * D);
    if (out) {
        a.blocks = blocks;
        *out = a;
    }
}

enum { ACT_ALIGN = 16, MAX_BATCH = 1 << 20 };

size_t model_memory_bytes(const ModelConfig *cfg, int batch)
{
    Carver params = {0}, acts = {.align = ACT_ALIGN};
    layout_params(cfg, &params, NULL, NULL, NULL);
    layout_acts(cfg, batch, ops_threads(), &acts, NULL, NULL);
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
    m->num_tensors = layout_params(cfg, &count, NULL, NULL, NULL);
    layout_acts(cfg, batch, m->attention_threads, &acts_count, NULL, NULL);
    m->num_params = count.used;
    m->acts_floats = acts_count.used;
    m->info = calloc(m->num_tensors, sizeof *m->info);
    m->params_mem = calloc(m->num_params, sizeof(float));
    m->grads_mem = calloc(m->num_params, sizeof(float));
    m->acts_mem = alloc_huge(m->acts_floats * sizeof(float));
    BlockParams *pb = calloc(cfg->depth, sizeof *pb), *gb = calloc(cfg->depth, sizeof *gb);
    BlockActs *ab = calloc(cfg->depth, sizeof *ab);
    long shapes[MATMUL_SHAPES][3];
    matmul_shapes(cfg, batch, shapes);
    int reserved = 1;
    for (int i = 0; i < MATMUL_SHAPES; i++) reserved &= !matmul_reserve(shapes[i][1], shapes[i][2]);
    if (!m->info || !m->params_mem || !m->grads_mem || !m->acts_mem || !pb || !gb || !ab || !reserved) {
        free(pb), free(gb), free(ab);
        model_free(m);
        snprintf(err, errlen, "train.batch_size: out of memory allocating %.1f GiB", bytes / 0x1p30);
        return -1;
    }
    Carver pc = {.base = m->params_mem}, gc = {.base = m->grads_mem};
    Carver ac = {.base = m->acts_mem, .align = ACT_ALIGN};
    layout_params(cfg, &pc, &m->params, pb, m->info);
    layout_params(cfg, &gc, &m->grads, gb, NULL);
    layout_acts(cfg, batch, m->attention_threads, &ac, &m->acts, ab);
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
    // tokens and pos_embed N(0, 0.02) cut at ±0.02; the two convolutions PyTorch's default
    // uniform(±1/√fan_in) for weight and bias; a classification head N(0, 2e-5).
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *p = &m->info[i];
        float *x = m->params_mem + p->offset;
        const char *name = p->name;
        size_t len = strlen(name);
        int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        if (strncmp(name, "patch_embed.", 12) == 0)
            fill_uniform(x, p->numel, 1.0 / sqrt(model_patch_dim(&m->cfg)), rng);
        else if (strncmp(name, "decoder.", 8) == 0)
            fill_uniform(x, p->numel, 1.0 / sqrt(m->cfg.embed_dim), rng);
        else if (strcmp(name, "cls_token") == 0 || strcmp(name, "pos_embed") == 0 ||
                 strcmp(name, "mask_token") == 0)
            fill_normal(x, p->numel, 0.02, 0.02, rng);
        else if (strstr(name, "norm") && !is_bias)
            fill_value(x, p->numel, 1.0f);
        else if (is_bias)
            fill_value(x, p->numel, 0.0f);
        else if (strcmp(name, "head.weight") == 0)
            fill_normal(x, p->numel, 2e-5, 2.0, rng);
        else
            fill_normal(x, p->numel, 0.02, 2.0, rng);
    }
}

void model_zero_grad(Model *m) { memset(m->grads_mem, 0, m->num_params * sizeof(float)); }

float model_forward(Model *m, const Batch *batch)
{
    m->in = *batch;
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
    vit_backward(m);
}
