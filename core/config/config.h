// Model and masking configuration: the sizes that define a ViT + SimMIM model, the named
// presets of docs/job-spec.md, and validation that names the offending field.
#ifndef SIMMIM_CONFIG_H
#define SIMMIM_CONFIG_H

#include <stddef.h>

typedef struct {
    int img_size;
    int patch_size;
    int in_chans;
    int embed_dim;
    int depth;
    int num_heads;
    double mlp_ratio;
    int num_classes;   // 0: pretraining model (norm, mask token, SimMIM decoder)
    float drop_path;   // the last block's rate; block i gets drop_path * i / (depth - 1)
} ModelConfig;

// How the mask cells of an image are chosen (docs/job-spec.md, mask.type): random cells
// (SimMIM's), one square (the paper's square-mask rows) or BEiT's block-wise rectangles.
typedef enum { MASK_RANDOM, MASK_SQUARE, MASK_BLOCK } MaskType;

typedef struct {
    MaskType type;
    int mask_patch_size;
    double ratio;  // double, so ceil(ratio · cells) matches the reference's numpy arithmetic
    int min_block; // block: the smallest rectangle drawn, in cells (BEiT's min_num_patches)
} MaskConfig;

// The default model (preset fmnist-q).
ModelConfig model_config_default(void);
// Fills *cfg with a named preset's sizes; -1 if the name is unknown.
int model_config_preset(const char *name, ModelConfig *cfg);

int model_grid(const ModelConfig *cfg);        // patches per side
int model_num_patches(const ModelConfig *cfg); // N
int model_num_tokens(const ModelConfig *cfg);  // 1 + N (cls first)
int model_mlp_hidden(const ModelConfig *cfg);  // H = mlp_ratio * D
int model_patch_dim(const ModelConfig *cfg);   // C * p * p
float model_drop_path_rate(const ModelConfig *cfg, int block);

// 0 if valid; otherwise -1 and a message starting with the field ("model.embed_dim: ...").
int model_config_validate(const ModelConfig *cfg, char *err, size_t errlen);
int mask_config_validate(const MaskConfig *mask, const ModelConfig *cfg, char *err, size_t errlen);

// The mask grid's side M (img_size / mask_patch_size) and the cells a mask of this config
// covers: random ceil(ratio · M²); square k² with k = max(1, round(√ratio · M)); block the
// same target as random, which a draw may fall short of (model.h's simmim_mask).
int mask_grid(const MaskConfig *mask, const ModelConfig *cfg);
int mask_target_cells(const MaskConfig *mask, const ModelConfig *cfg);

#endif
