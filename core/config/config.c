// Model and masking configuration: presets and validation. Limits here exist so that a
// hostile or mistyped spec is refused with a message instead of exhausting memory later.
#include "config/config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MAX_IMG = 4096, MAX_DIM = 16384, MAX_DEPTH = 256, MAX_CHANS = 64, MAX_CLASSES = 100000 };

DecoderConfig decoder_config_default(void)
{
    return (DecoderConfig){.type = DECODER_LINEAR, .hidden = 0, .depth = 2, .embed_dim = 0,
                           .num_heads = 0};
}

LossConfig loss_config_default(void)
{
    return (LossConfig){.type = LOSS_L1, .full_image = 0, .beta = 1.0, .bins = 256,
                        .palette = 512};
}

ModelConfig model_config_default(void)
{
    return (ModelConfig){.img_size = 32, .patch_size = 4, .in_chans = 1, .embed_dim = 128,
                         .depth = 4, .num_heads = 4, .mlp_ratio = 4.0, .num_classes = 0,
                         .drop_path = 0.0f, .decoder = decoder_config_default(),
                         .target_resolution = 0, .loss = loss_config_default()};
}

// A Swin preset's sizes (mlp_ratio 4, patch_norm on, no ape: SimMIM's Swin).
static void swin_preset(ModelConfig *c, int img, int patch, int chans, int window, int dim,
                        int stages, const int *depths, const int *heads)
{
    c->arch = ARCH_SWIN, c->img_size = img, c->patch_size = patch, c->in_chans = chans;
    c->window_size = window, c->embed_dim = dim, c->depth = 0, c->num_heads = 0;
    c->num_stages = c->num_stage_heads = stages;
    memcpy(c->depths, depths, sizeof(int) * stages);
    memcpy(c->stage_heads, heads, sizeof(int) * stages);
    c->ape = 0, c->patch_norm = 1;
}

int model_config_preset(const char *name, ModelConfig *cfg)
{
    ModelConfig c = model_config_default();
    if (strcmp(name, "fmnist-q") == 0) {
    } else if (strcmp(name, "fmnist-vit-t") == 0) {
        c.embed_dim = 192, c.depth = 6, c.num_heads = 3;
    } else if (strcmp(name, "vit-t16-224") == 0) {
        c.img_size = 224, c.patch_size = 16, c.in_chans = 3, c.embed_dim = 192, c.depth = 12,
        c.num_heads = 3;
    } else if (strcmp(name, "vit-s16-224") == 0) {
        c.img_size = 224, c.patch_size = 16, c.in_chans = 3, c.embed_dim = 384, c.depth = 12,
        c.num_heads = 6;
    } else if (strcmp(name, "swin-fmnist") == 0) {
        // Fashion-MNIST's 28 pixels padded to 32: 2-pixel patches keep its detail on a 16×16
        // grid, and three stages (16, 8, 4) end at a 4×4 grid that is one window (global
        // attention there), at stride 8 — the mask patch, so one masked cell is one output
        // token, as the reference pairs 32-pixel masks with Swin's stride 32. About fmnist-q's
        // multiply-adds per image (each stage ~14 M).
        swin_preset(&c, 32, 2, 1, 4, 48, 3, (const int[]){2, 2, 2}, (const int[]){3, 6, 12});
    } else if (strcmp(name, "swin-t-192") == 0) {
        swin_preset(&c, 192, 4, 3, 6, 96, 4, (const int[]){2, 2, 6, 2}, (const int[]){3, 6, 12, 24});
    } else if (strcmp(name, "swin-b-192") == 0) {
        swin_preset(&c, 192, 4, 3, 6, 128, 4, (const int[]){2, 2, 18, 2},
                    (const int[]){4, 8, 16, 32});
    } else {
        return -1;
    }
    c.num_classes = cfg->num_classes;
    c.drop_path = cfg->drop_path;
    c.decoder = cfg->decoder; // a preset sizes the encoder; the head is the spec's own
    c.target_resolution = cfg->target_resolution;
    c.loss = cfg->loss;
    *cfg = c;
    return 0;
}

int model_grid(const ModelConfig *cfg) { return cfg->img_size / cfg->patch_size; }
int model_num_patches(const ModelConfig *cfg) { return model_grid(cfg) * model_grid(cfg); }
int model_num_tokens(const ModelConfig *cfg) { return 1 + model_num_patches(cfg); }
int model_mlp_hidden(const ModelConfig *cfg) { return (int)(cfg->embed_dim * cfg->mlp_ratio); }
int model_patch_dim(const ModelConfig *cfg)
{
    return cfg->in_chans * cfg->patch_size * cfg->patch_size;
}

int swin_first_block(const ModelConfig *cfg, int stage)
{
    int n = 0;
    for (int i = 0; i < stage; i++) n += cfg->depths[i];
    return n;
}

int model_total_blocks(const ModelConfig *cfg)
{
    return cfg->arch == ARCH_SWIN ? swin_first_block(cfg, cfg->num_stages) : cfg->depth;
}

float model_drop_path_rate(const ModelConfig *cfg, int block)
{
    int blocks = model_total_blocks(cfg);
    if (blocks < 2) return 0.0f;
    return cfg->drop_path * (float)block / (float)(blocks - 1);
}

int swin_stage_grid(const ModelConfig *cfg, int stage) { return model_grid(cfg) >> stage; }
int swin_stage_dim(const ModelConfig *cfg, int stage) { return cfg->embed_dim << stage; }
int swin_stage_hidden(const ModelConfig *cfg, int stage)
{
    return (int)(swin_stage_dim(cfg, stage) * cfg->mlp_ratio);
}

int swin_stage_window(const ModelConfig *cfg, int stage)
{
    int grid = swin_stage_grid(cfg, stage);
    return grid <= cfg->window_size ? grid : cfg->window_size;
}

int swin_stage_shift(const ModelConfig *cfg, int stage)
{
    return swin_stage_grid(cfg, stage) <= cfg->window_size ? 0 : cfg->window_size / 2;
}

int model_out_grid(const ModelConfig *cfg)
{
    return cfg->arch == ARCH_SWIN ? swin_stage_grid(cfg, cfg->num_stages - 1) : model_grid(cfg);
}

int model_out_tokens(const ModelConfig *cfg) { return model_out_grid(cfg) * model_out_grid(cfg); }

// Also read before validation (the spec's default mask patch): the stage count clamped, the
// product saturated, a nonsensical patch size returned as it is for the validator to name.
int model_stride(const ModelConfig *cfg)
{
    if (cfg->arch != ARCH_SWIN || cfg->patch_size < 1) return cfg->patch_size;
    int stages = cfg->num_stages >= 1 && cfg->num_stages <= MAX_STAGES ? cfg->num_stages : 1;
    long stride = (long)cfg->patch_size << (stages - 1);
    return stride <= INT_MAX ? (int)stride : INT_MAX;
}

int model_out_dim(const ModelConfig *cfg)
{
    return cfg->arch == ARCH_SWIN ? swin_stage_dim(cfg, cfg->num_stages - 1) : cfg->embed_dim;
}

int model_out_heads(const ModelConfig *cfg)
{
    return cfg->arch == ARCH_SWIN ? cfg->stage_heads[cfg->num_stages - 1] : cfg->num_heads;
}

float model_norm_eps(const ModelConfig *cfg) { return cfg->arch == ARCH_SWIN ? 1e-5f : 1e-6f; }

int simmim_target_resolution(const ModelConfig *cfg)
{
    return cfg->target_resolution ? cfg->target_resolution : cfg->img_size;
}

int simmim_target_per_token(const ModelConfig *cfg)
{
    return simmim_target_resolution(cfg) / model_out_grid(cfg);
}

int simmim_loss_grid(const ModelConfig *cfg)
{
    int r = simmim_target_resolution(cfg), grid = model_grid(cfg);
    return r < grid ? r : grid;
}

int simmim_target_per_loss_cell(const ModelConfig *cfg)
{
    return simmim_target_resolution(cfg) / simmim_loss_grid(cfg);
}

int simmim_pred_channels(const ModelConfig *cfg)
{
    switch (cfg->loss.type) {
    case LOSS_BINS: return cfg->in_chans * cfg->loss.bins;
    case LOSS_PALETTE: return cfg->loss.palette;
    default: return cfg->in_chans;
    }
}

int simmim_decoder_out(const ModelConfig *cfg)
{
    int s = simmim_target_per_token(cfg);
    return s * s * simmim_pred_channels(cfg);
}

int decoder_hidden(const ModelConfig *cfg)
{
    return cfg->decoder.hidden ? cfg->decoder.hidden : model_out_dim(cfg);
}

int decoder_embed_dim(const ModelConfig *cfg)
{
    return cfg->decoder.embed_dim ? cfg->decoder.embed_dim : model_out_dim(cfg);
}

int decoder_num_heads(const ModelConfig *cfg)
{
    return cfg->decoder.num_heads ? cfg->decoder.num_heads : model_out_heads(cfg);
}

int decoder_mlp_hidden(const ModelConfig *cfg)
{
    return (int)(decoder_embed_dim(cfg) * cfg->mlp_ratio);
}

static int config_refuse(char *err, size_t errlen, const char *field, const char *what, long a,
                         long b)
{
    snprintf(err, errlen, "%s: %s (got %ld", field, what, a);
    if (b >= 0) snprintf(err + strlen(err), errlen - strlen(err), " and %ld", b);
    snprintf(err + strlen(err), errlen - strlen(err), ")");
    return -1;
}

static int check_range(const char *field, long v, long lo, long hi, char *err, size_t errlen)
{
    if (v >= lo && v <= hi) return 0;
    snprintf(err, errlen, "%s: must be between %ld and %ld (got %ld)", field, lo, hi, v);
    return -1;
}

// The Swin fields: the stage lists, the window, and the sizes each stage derives from them.
static int swin_config_validate(const ModelConfig *cfg, char *err, size_t errlen)
{
    if (cfg->num_stages < 1 || cfg->num_stages > MAX_STAGES) {
        snprintf(err, errlen, "model.depths: must list 1 to %d stages (got %d)", MAX_STAGES,
                 cfg->num_stages);
        return -1;
    }
    if (cfg->num_stage_heads != cfg->num_stages) {
        snprintf(err, errlen, "model.num_heads: must list one entry per stage, as model.depths "
                              "does (got %d entries and %d stages)", cfg->num_stage_heads,
                 cfg->num_stages);
        return -1;
    }
    int S = cfg->num_stages;
    long stride = (long)cfg->patch_size << (S - 1);
    if (cfg->img_size % stride) {
        snprintf(err, errlen, "model.img_size: must be divisible by the encoder's stride, "
                              "model.patch_size · 2^(stages − 1) = %ld (got %d)", stride,
                 cfg->img_size);
        return -1;
    }
    if (check_range("model.embed_dim", (long)cfg->embed_dim << (S - 1), 1, MAX_DIM, err, errlen) ||
        check_range("model.window_size", cfg->window_size, 1, model_grid(cfg), err, errlen) ||
        check_range("model.ape", cfg->ape, 0, 1, err, errlen) ||
        check_range("model.patch_norm", cfg->patch_norm, 0, 1, err, errlen))
        return -1;
    for (int i = 0; i < S; i++) {
        char field[48];
        snprintf(field, sizeof field, "model.depths[%d]", i);
        if (check_range(field, cfg->depths[i], 1, MAX_DEPTH, err, errlen)) return -1;
        snprintf(field, sizeof field, "model.num_heads[%d]", i);
        int dim = swin_stage_dim(cfg, i), heads = cfg->stage_heads[i];
        if (check_range(field, heads, 1, dim, err, errlen)) return -1;
        if (dim % heads) {
            snprintf(err, errlen, "model.num_heads[%d]: must divide stage %d's width embed_dim · "
                                  "2^%d = %d (got %d)", i, i, i, dim, heads);
            return -1;
        }
        int grid = swin_stage_grid(cfg, i);
        if (grid > cfg->window_size && grid % cfg->window_size) {
            snprintf(err, errlen, "model.window_size: must divide stage %d's resolution %d "
                                  "(or be at least it; got %d)", i, grid, cfg->window_size);
            return -1;
        }
    }
    if (model_total_blocks(cfg) > MAX_DEPTH)
        return config_refuse(err, errlen, "model.depths", "must sum to at most 256 blocks",
                             model_total_blocks(cfg), -1);
    return 0;
}

int model_config_validate(const ModelConfig *cfg, char *err, size_t errlen)
{
    int vit = cfg->arch == ARCH_VIT;
    if (cfg->arch != ARCH_VIT && cfg->arch != ARCH_SWIN) {
        snprintf(err, errlen, "model.arch: must be vit or swin");
        return -1;
    }
    if (check_range("model.img_size", cfg->img_size, 1, MAX_IMG, err, errlen) ||
        check_range("model.patch_size", cfg->patch_size, 1, cfg->img_size, err, errlen) ||
        check_range("model.in_chans", cfg->in_chans, 1, MAX_CHANS, err, errlen) ||
        check_range("model.embed_dim", cfg->embed_dim, 1, MAX_DIM, err, errlen) ||
        (vit && check_range("model.depth", cfg->depth, 1, MAX_DEPTH, err, errlen)) ||
        (vit && check_range("model.num_heads", cfg->num_heads, 1, cfg->embed_dim, err, errlen)) ||
        check_range("model.num_classes", cfg->num_classes, 0, MAX_CLASSES, err, errlen))
        return -1;
    if (cfg->img_size % cfg->patch_size)
        return config_refuse(err, errlen, "model.img_size", "must be divisible by model.patch_size",
                             cfg->img_size, cfg->patch_size);
    if (vit && cfg->embed_dim % cfg->num_heads)
        return config_refuse(err, errlen, "model.embed_dim", "must be divisible by model.num_heads",
                             cfg->embed_dim, cfg->num_heads);
    if (!vit && swin_config_validate(cfg, err, errlen)) return -1;
    if (!(cfg->mlp_ratio > 0.0 && cfg->mlp_ratio <= 64.0) || model_mlp_hidden(cfg) < 1) {
        snprintf(err, errlen, "model.mlp_ratio: must be in (0, 64] and give at least one hidden "
                              "unit (got %g)", cfg->mlp_ratio);
        return -1;
    }
    if (!(cfg->drop_path >= 0.0f && cfg->drop_path < 1.0f)) {
        snprintf(err, errlen, "finetune.drop_path: must be in [0, 1)");
        return -1;
    }
    if ((long)model_num_patches(cfg) > 65536)
        return config_refuse(err, errlen, "model.patch_size",
                             "gives more than 65536 patches per image", model_num_patches(cfg), -1);
    return 0;
}

enum { MAX_BINS = 256, MAX_PALETTE = 1024 };

// A size whose 0 means "the encoder's" (or the image's): 0, or in [1, hi], the range a person
// can give, which the message names.
static int check_size_or_default(const char *field, long v, long hi, char *err, size_t errlen)
{
    return v == 0 ? 0 : check_range(field, v, 1, hi, err, errlen);
}

int head_config_validate(const ModelConfig *cfg, char *err, size_t errlen)
{
    const DecoderConfig *d = &cfg->decoder;
    const LossConfig *l = &cfg->loss;
    // a field is checked for the type that uses it: a zeroed head is the default one
    int transformer = d->type == DECODER_TRANSFORMER;
    if ((d->type == DECODER_MLP &&
         check_size_or_default("decoder.hidden", d->hidden, MAX_DIM, err, errlen)) ||
        (transformer && (check_range("decoder.depth", d->depth, 1, MAX_DEPTH, err, errlen) ||
                         check_size_or_default("decoder.embed_dim", d->embed_dim, MAX_DIM, err,
                                               errlen) ||
                         check_size_or_default("decoder.num_heads", d->num_heads,
                                               decoder_embed_dim(cfg), err, errlen))) ||
        check_size_or_default("target.resolution", cfg->target_resolution, cfg->img_size, err,
                              errlen) ||
        (l->type == LOSS_BINS && check_range("loss.bins", l->bins, 2, MAX_BINS, err, errlen)) ||
        (l->type == LOSS_PALETTE &&
         check_range("loss.palette", l->palette, 2, MAX_PALETTE, err, errlen)))
        return -1;
    if (transformer && decoder_embed_dim(cfg) % decoder_num_heads(cfg))
        return config_refuse(err, errlen, "decoder.embed_dim",
                             "must be divisible by decoder.num_heads", decoder_embed_dim(cfg),
                             decoder_num_heads(cfg));
    if (transformer && decoder_mlp_hidden(cfg) < 1)
        return config_refuse(err, errlen, "decoder.embed_dim",
                             "times model.mlp_ratio must give at least one hidden unit",
                             decoder_embed_dim(cfg), -1);
    // Each output token predicts s × s target pixels: r is a multiple of the output grid (a
    // Swin's is the image over its stride, coarser than its patch grid).
    int r = simmim_target_resolution(cfg), grid = model_out_grid(cfg);
    const char *side = cfg->arch == ARCH_SWIN ? "the encoder's stride" : "model.patch_size";
    if (r % grid) {
        snprintf(err, errlen, "target.resolution: must be a multiple of the token grid "
                              "(model.img_size / %s = %d; got %d)", side, grid, r);
        return -1;
    }
    if (cfg->img_size % r) {
        snprintf(err, errlen, "target.resolution: must divide model.img_size (%d; got %d)",
                 cfg->img_size, r);
        return -1;
    }
    if (!(l->beta >= 0.0 && l->beta <= 1e6)) {
        snprintf(err, errlen, "loss.beta: must be in [0, 1e6] (got %g)", l->beta);
        return -1;
    }
    // In double: s²·C·K of a large patch overflows an int (simmim_decoder_out's, valid only
    // once this check has passed).
    double s = simmim_target_per_token(cfg), out = s * s * simmim_pred_channels(cfg);
    if (out > (1 << 24)) {
        snprintf(err, errlen, "loss.type: with target.resolution %d and %s %d each token would "
                              "predict %.0f values, more than %d", r, side, model_stride(cfg), out,
                 1 << 24);
        return -1;
    }
    return 0;
}

int mask_config_validate(const MaskConfig *mask, const ModelConfig *cfg, char *err, size_t errlen)
{
    if (model_config_validate(cfg, err, errlen)) return -1; // its sizes are divisors below
    if (check_range("mask.mask_patch_size", mask->mask_patch_size, 1, cfg->img_size, err, errlen))
        return -1;
    if (cfg->img_size % mask->mask_patch_size)
        return config_refuse(err, errlen, "mask.mask_patch_size", "must divide model.img_size",
                             mask->mask_patch_size, cfg->img_size);
    if (mask->mask_patch_size % cfg->patch_size)
        return config_refuse(err, errlen, "mask.mask_patch_size",
                             "must be a multiple of model.patch_size", mask->mask_patch_size,
                             cfg->patch_size);
    if (!(mask->ratio > 0.0 && mask->ratio < 1.0)) {
        snprintf(err, errlen, "mask.ratio: must be in (0, 1) (got %g)", mask->ratio);
        return -1;
    }
    // A loss over the masked area counts a target pixel when its whole footprint is masked: one
    // coarser than the mask's cells (a Swin's target below its patch grid) would hardly ever be.
    int r = simmim_target_resolution(cfg);
    if (!cfg->loss.full_image && r >= 1 && cfg->img_size % r == 0 &&
        mask->mask_patch_size % (cfg->img_size / r)) {
        snprintf(err, errlen, "target.resolution: a target pixel (model.img_size / "
                              "target.resolution = %d image pixels a side) must lie in one mask "
                              "cell for a loss over the masked area: mask.mask_patch_size must be "
                              "a multiple of it (got %d)", cfg->img_size / r, mask->mask_patch_size);
        return -1;
    }
    int side = mask_grid(mask, cfg);
    if (mask->type == MASK_BLOCK &&
        check_range("mask.min_block", mask->min_block, 1, side * side, err, errlen))
        return -1;
    return 0;
}

int mask_grid(const MaskConfig *mask, const ModelConfig *cfg)
{
    return cfg->img_size / mask->mask_patch_size;
}

int mask_target_cells(const MaskConfig *mask, const ModelConfig *cfg)
{
    int side = mask_grid(mask, cfg);
    if (mask->type != MASK_SQUARE) return (int)ceil(side * side * mask->ratio);
    int k = (int)lround(sqrt(mask->ratio) * side);
    k = k < 1 ? 1 : k;
    return k * k;
}

// --- sizing: the model's flat buffers (model/model.c lays them out; tests/unit/model checks
// that this count is what it allocates) ---

enum { ATTENTION_ROW_ALIGN = 16, WEIGHT_GRAD_PARTS = 8, ACT_ALIGN_FLOATS = 16 };

// One pre-norm transformer block's kept activations over R rows of D: LayerNorm statistics,
// qkv, the attention probabilities (att floats), attention output, two residuals, MLP hidden
// and its GELU.
static double block_act_floats(double R, double D, double H, double att)
{
    return 4 * R + 3 * R * D + att + 3 * R * D + 2 * R * H;
}

static double attention_scratch(double T, double hd)
{
    double a = ATTENTION_ROW_ALIGN;
    return hd * (T + a) + 3 * T * (hd + a) + T * (T + a);
}

static double block_param_floats(double D, double H)
{
    return 2 * D + 3 * D * D + 3 * D + D * D + D + 2 * D + H * D + H + D * H + D;
}

// The encoder's parameters, the mask token included.
static double encoder_param_floats(const ModelConfig *c)
{
    double D = c->embed_dim, C = c->in_chans, p = c->patch_size, n = D * C * p * p + D;
    double mask_token = c->num_classes ? 0 : D;
    if (c->arch == ARCH_VIT)
        return n + D + model_num_tokens(c) * D + mask_token +
               c->depth * block_param_floats(D, model_mlp_hidden(c));
    n += mask_token + (c->patch_norm ? 2 * D : 0) + (c->ape ? model_num_patches(c) * D : 0);
    for (int i = 0; i < c->num_stages; i++) {
        double Di = swin_stage_dim(c, i), W = swin_stage_window(c, i);
        if (i > 0) n += 4 * Di + 2 * Di * Di; // merge: LayerNorm(4·C_(i−1) = 2·C_i), 2·C_i → C_i
        n += c->depths[i] * (block_param_floats(Di, swin_stage_hidden(c, i)) +
                             (2 * W - 1) * (2 * W - 1) * c->stage_heads[i]);
    }
    return n;
}

static double param_floats(const ModelConfig *c)
{
    double D = model_out_dim(c), C = c->in_chans;
    double n = encoder_param_floats(c);
    if (c->num_classes) return n + 2 * D + c->num_classes * (D + 1); // fc_norm or norm, head
    double out = simmim_decoder_out(c), N = model_out_tokens(c);
    n += 2 * D; // final norm
    switch (c->decoder.type) {
    case DECODER_LINEAR: n += out * D + out; break;
    case DECODER_MLP: n += decoder_hidden(c) * (D + 1.0) + out * (decoder_hidden(c) + 1.0); break;
    case DECODER_TRANSFORMER: {
        double E = decoder_embed_dim(c), Hm = decoder_mlp_hidden(c);
        double dblock = 2 * E + 3 * E * E + 3 * E + E * E + E + 2 * E + Hm * E + Hm + E * Hm + E;
        n += E * D + E + N * E + c->decoder.depth * dblock + 2 * E + out * E + out;
        break;
    }
    }
    if (c->loss.type == LOSS_PALETTE) n += (double)c->loss.palette * C;
    return n;
}

// The pretraining head's activations (model.c's layout_head_acts); widens the blocks'
// shared buffers and scratch for a transformer decoder.
static double head_act_floats(const ModelConfig *c, double B, double *rows_wide,
                              double *rows_hidden, double *attention, double *weight_grad)
{
    double D = model_out_dim(c), N = model_out_tokens(c), BN = B * N, C = c->in_chans;
    double out = simmim_decoder_out(c), r = simmim_target_resolution(c);
    // lnf, stats, dec, pred, their gradients, and a ViT's copy of its patch tokens and theirs
    double acts = (c->arch == ARCH_VIT ? 4 : 2) * BN * D + 2 * BN + 4 * BN * out;
    if (r < c->img_size) acts += B * C * r * r;
    if (simmim_loss_grid(c) < model_grid(c)) acts += B * r * r; // the pooled loss mask
    if (c->loss.type == LOSS_BINS) acts += B * C * r * r;
    if (c->loss.type == LOSS_PALETTE) acts += B * r * r;
    *weight_grad = fmax(*weight_grad, out * D);
    if (c->decoder.type == DECODER_MLP) {
        double Hd = decoder_hidden(c);
        acts += 3 * BN * Hd; // fc1, GELU and their gradient
        *weight_grad = fmax(*weight_grad, fmax(Hd * D, out * Hd));
    } else if (c->decoder.type == DECODER_TRANSFORMER) {
        double E = decoder_embed_dim(c), Hm = decoder_mlp_hidden(c), heads = decoder_num_heads(c);
        acts += 2 * BN * E + 2 * BN + c->decoder.depth * block_act_floats(BN, E, Hm, BN * heads * N);
        *rows_wide = fmax(*rows_wide, BN * E);
        *rows_hidden = fmax(*rows_hidden, BN * fmax(Hm, 3 * E));
        *attention = fmax(*attention, attention_scratch(N, E / heads));
        *weight_grad = fmax(*weight_grad, fmax(fmax(E * D, 3 * E * E), fmax(Hm * E, out * E)));
    }
    return acts;
}

// The blocks' shared buffers and scratch an encoder needs (the widest rows of D, of the MLP's
// hidden or 3D, one thread's attention scratch, the largest N·K of a product, a Swin's scores'
// gradient) and its kept activations.
typedef struct {
    double rows_wide, rows_hidden, attention, weight_grad, scores, acts;
} EncoderSizing;

static EncoderSizing vit_sizing(const ModelConfig *c, double B)
{
    double D = c->embed_dim, T = model_num_tokens(c), N = model_num_patches(c);
    double H = model_mlp_hidden(c), P = model_patch_dim(c), heads = c->num_heads;
    double BT = B * T, BN = B * N, L = c->depth;
    return (EncoderSizing){
        .rows_wide = BT * D, .rows_hidden = BT * fmax(H, 3 * D),
        .attention = attention_scratch(T, D / heads),
        .weight_grad = fmax(fmax(3 * D * D, H * D), P * D),
        .acts = BN * P + BN * D + BT * D + L * block_act_floats(BT, D, H, B * heads * T * T)};
}

// swin.c's swin_layout_acts and swin_shared_sizes.
static EncoderSizing swin_sizing(const ModelConfig *c, double B)
{
    double G = model_grid(c), L0 = B * G * G, D0 = c->embed_dim, P = model_patch_dim(c);
    EncoderSizing e = {.weight_grad = P * D0};
    e.acts = L0 * P + 2 * L0 * D0 + (c->patch_norm ? 2 * L0 : 0);
    double rel_bias = 0;
    for (int i = 0; i < c->num_stages; i++) {
        double Gi = swin_stage_grid(c, i), R = B * Gi * Gi, D = swin_stage_dim(c, i);
        double H = swin_stage_hidden(c, i), heads = c->stage_heads[i];
        double W = swin_stage_window(c, i), N = W * W, windows = (Gi / W) * (Gi / W);
        double att = B * windows * heads * N * N;
        if (i > 0) e.acts += R * 2 * D + 2 * R + R * D; // merged rows, their statistics, output
        e.acts += c->depths[i] * block_act_floats(R, D, H, att);
        if (swin_stage_shift(c, i)) e.acts += windows * N * N;
        rel_bias = fmax(rel_bias, heads * N * N);
        e.rows_wide = fmax(e.rows_wide, R * D);
        e.rows_hidden = fmax(e.rows_hidden, R * fmax(H, 3 * D));
        e.attention = fmax(e.attention, attention_scratch(N, D / heads));
        e.weight_grad = fmax(e.weight_grad, fmax(3 * D * D, H * D));
        e.scores = fmax(e.scores, att);
    }
    // the relative bias, and the windowed rows beside the shared buffers
    e.acts += rel_bias + e.rows_wide;
    return e;
}

MemoryEstimate model_memory_estimate(const ModelConfig *c, int batch, int threads)
{
    double B = batch, D = model_out_dim(c), L0 = B * model_num_patches(c), blocks = model_total_blocks(c);
    EncoderSizing e = c->arch == ARCH_SWIN ? swin_sizing(c, B) : vit_sizing(c, B);
    double encoder_rows = e.rows_wide;
    double acts = e.acts + e.scores + blocks * 2 * B; // and the drop-path scales
    if (c->num_classes) {
        double K = c->num_classes, Nt = B * model_out_tokens(c);
        acts += 4 * B * D + 2 * B + 3 * B * K;
        if (c->arch == ARCH_SWIN) acts += 2 * Nt * D + 2 * Nt - 2 * B * D - 2 * B; // norm per token
        e.weight_grad = fmax(e.weight_grad, K * D);
    } else {
        acts += head_act_floats(c, B, &e.rows_wide, &e.rows_hidden, &e.attention, &e.weight_grad);
    }
    // the blocks' shared buffers: ln, dres, dln, datty, dqkv|dhidden, and dbranch; dpatch_out
    acts += 4 * e.rows_wide + e.rows_hidden + (c->drop_path > 0 ? encoder_rows : 0);
    acts += L0 * c->embed_dim;
    acts += threads * e.attention + (WEIGHT_GRAD_PARTS - 1) * e.weight_grad;
    acts += (64.0 + 12 * blocks) * ACT_ALIGN_FLOATS; // each buffer's alignment, bounded
    double params = param_floats(c);
    return (MemoryEstimate){.params = 2 * params * sizeof(float),
                            .optimizer = 2 * params * sizeof(float),
                            .activations = acts * sizeof(float)};
}

double memory_estimate_total(const MemoryEstimate *m)
{
    return m->params + m->optimizer + m->activations;
}

void memory_drivers(const ModelConfig *c, char *out, size_t outlen)
{
    // A classification target multiplies the values per target pixel by K: its resolution
    // drives the size as much as K does (the paper's N/A: 256 bins at full resolution).
    int classes = c->loss.type == LOSS_BINS || c->loss.type == LOSS_PALETTE;
    snprintf(out, outlen, "train.batch_size, model.img_size, model.embed_dim, %s%s%s%s",
             c->arch == ARCH_SWIN ? "model.depths" : "model.depth",
             c->num_classes == 0 && (c->target_resolution != 0 || classes) ? ", target.resolution"
                                                                             : "",
             c->num_classes == 0 && c->loss.type == LOSS_BINS ? ", loss.bins" :
             c->num_classes == 0 && c->loss.type == LOSS_PALETTE ? ", loss.palette" : "",
             c->num_classes == 0 && c->decoder.type != DECODER_LINEAR ? ", decoder" : "");
}
