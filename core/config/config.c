// Model and masking configuration: presets and validation. Limits here exist so that a
// hostile or mistyped spec is refused with a message instead of exhausting memory later.
#include "config/config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MAX_IMG = 4096, MAX_DIM = 16384, MAX_DEPTH = 256, MAX_CHANS = 64, MAX_CLASSES = 100000 };

ModelConfig model_config_default(void)
{
    return (ModelConfig){.img_size = 32, .patch_size = 4, .in_chans = 1, .embed_dim = 128,
                         .depth = 4, .num_heads = 4, .mlp_ratio = 4.0, .num_classes = 0,
                         .drop_path = 0.0f};
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
    } else {
        return -1;
    }
    c.num_classes = cfg->num_classes;
    c.drop_path = cfg->drop_path;
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

float model_drop_path_rate(const ModelConfig *cfg, int block)
{
    if (cfg->depth < 2) return 0.0f;
    return cfg->drop_path * (float)block / (float)(cfg->depth - 1);
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

int model_config_validate(const ModelConfig *cfg, char *err, size_t errlen)
{
    if (check_range("model.img_size", cfg->img_size, 1, MAX_IMG, err, errlen) ||
        check_range("model.patch_size", cfg->patch_size, 1, cfg->img_size, err, errlen) ||
        check_range("model.in_chans", cfg->in_chans, 1, MAX_CHANS, err, errlen) ||
        check_range("model.embed_dim", cfg->embed_dim, 1, MAX_DIM, err, errlen) ||
        check_range("model.depth", cfg->depth, 1, MAX_DEPTH, err, errlen) ||
        check_range("model.num_heads", cfg->num_heads, 1, cfg->embed_dim, err, errlen) ||
        check_range("model.num_classes", cfg->num_classes, 0, MAX_CLASSES, err, errlen))
        return -1;
    if (cfg->img_size % cfg->patch_size)
        return config_refuse(err, errlen, "model.img_size", "must be divisible by model.patch_size",
                             cfg->img_size, cfg->patch_size);
    if (cfg->embed_dim % cfg->num_heads)
        return config_refuse(err, errlen, "model.embed_dim", "must be divisible by model.num_heads",
                             cfg->embed_dim, cfg->num_heads);
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
