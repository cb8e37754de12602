// Model and masking configuration: the sizes that define a ViT + SimMIM model, the named
// presets of docs/job-spec.md, and validation that names the offending field.
#ifndef SIMMIM_CONFIG_H
#define SIMMIM_CONFIG_H

#include <stddef.h>

// The SimMIM head (docs/job-spec.md, decoder): linear (a 1×1 convolution, the reference's),
// a 2-layer MLP, or a small transformer over the token grid (the paper's heavier decoders).
typedef enum { DECODER_LINEAR, DECODER_MLP, DECODER_TRANSFORMER } DecoderType;

typedef struct {
    DecoderType type;
    int hidden;    // mlp: the hidden width; 0 = the encoder's embed_dim
    int depth;     // transformer: blocks
    int embed_dim; // transformer: its width E; 0 = the encoder's
    int num_heads; // transformer: 0 = the encoder's
} DecoderConfig;

// What the head predicts and how it is scored (docs/job-spec.md, loss): a regression of the
// normalized pixels (l1, l2, smooth_l1) or a classification of each pixel — per channel into
// `bins` equal bins of [0, 1], or into one of `palette` colours (k-means at job start).
typedef enum { LOSS_L1, LOSS_L2, LOSS_SMOOTH_L1, LOSS_BINS, LOSS_PALETTE } LossType;

typedef struct {
    LossType type;
    int full_image; // loss.scope: 0 the masked area, 1 the whole image
    double beta;    // smooth_l1: where the quadratic part ends, as PyTorch's
    int bins;       // bins: K
    int palette;    // palette: K
} LossConfig;

// The encoder (docs/job-spec.md, model.arch): a ViT, or a Swin Transformer — stages of
// window-attention blocks, each stage after the first at half the resolution and twice the
// width of the one before (patch merging).
typedef enum { ARCH_VIT, ARCH_SWIN } Arch;

enum { MAX_STAGES = 8 };

typedef struct {
    Arch arch;
    int img_size;
    int patch_size;
    int in_chans;
    int embed_dim;     // swin: stage 0's width; stage i has embed_dim·2^i
    int depth;         // vit: blocks
    int num_heads;     // vit: heads
    // swin: the per-stage lists (both as long as the stages; two counts, so that lists of
    // different lengths can be refused naming the field), the attention window's side, an
    // absolute position embedding (ape) and a LayerNorm after the patch embedding (patch_norm)
    int num_stages, num_stage_heads;
    int depths[MAX_STAGES];
    int stage_heads[MAX_STAGES];
    int window_size;
    int ape;
    int patch_norm;
    double mlp_ratio;
    int num_classes;   // 0: pretraining model (norm, mask token, SimMIM decoder)
    float drop_path;   // the last block's rate; block i of n gets drop_path * i / (n - 1)
    // pretraining only (num_classes 0): the head and its target
    DecoderConfig decoder;
    int target_resolution; // r: the side of the predicted image; 0 = img_size
    LossConfig loss;
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

// The default model (preset fmnist-q), with today's head: linear decoder, full-resolution
// target, l1 on the masked area.
DecoderConfig decoder_config_default(void);
LossConfig loss_config_default(void);
ModelConfig model_config_default(void);
// Fills *cfg with a named preset's sizes; -1 if the name is unknown.
int model_config_preset(const char *name, ModelConfig *cfg);

int model_grid(const ModelConfig *cfg);        // patches per side (swin: of stage 0)
int model_num_patches(const ModelConfig *cfg); // N (where the token mask applies)
int model_num_tokens(const ModelConfig *cfg);  // vit: 1 + N (cls first)
int model_mlp_hidden(const ModelConfig *cfg);  // vit: H = mlp_ratio * D
int model_patch_dim(const ModelConfig *cfg);   // C * p * p
int model_total_blocks(const ModelConfig *cfg); // vit: depth; swin: Σ depths
// Drop path's rate of block `block` of model_total_blocks (counted across the stages).
float model_drop_path_rate(const ModelConfig *cfg, int block);
// The encoder's output, the feature map the heads read: vit its patch tokens (grid × grid of
// embed_dim), swin the last stage's (its grid, its width).
int model_out_grid(const ModelConfig *cfg);
int model_out_tokens(const ModelConfig *cfg);
// The encoder's stride, image pixels per output token side (img_size / model_out_grid): vit
// patch_size, swin patch_size · 2^(stages − 1).
int model_stride(const ModelConfig *cfg);
int model_out_dim(const ModelConfig *cfg);
int model_out_heads(const ModelConfig *cfg); // vit num_heads, swin the last stage's
// LayerNorm's epsilon in the encoder and its final norm: vit 1e-6, swin 1e-5 (timm's).
float model_norm_eps(const ModelConfig *cfg);

// Swin stage i (< num_stages): its grid side (model_grid / 2^i), width, MLP hidden, window
// side (window_size, or the grid where the grid is no larger: then one window, no shift)
// and the shift of its odd blocks (window / 2; 0 when the window is the grid).
int swin_stage_grid(const ModelConfig *cfg, int stage);
int swin_stage_dim(const ModelConfig *cfg, int stage);
int swin_stage_hidden(const ModelConfig *cfg, int stage);
int swin_stage_window(const ModelConfig *cfg, int stage);
int swin_stage_shift(const ModelConfig *cfg, int stage);
int swin_first_block(const ModelConfig *cfg, int stage); // Σ depths[:stage]

// The SimMIM head's sizes, defaults resolved. r = target resolution (a multiple of the output
// grid), s = r / the output grid the target pixels per output token side; a token predicts
// s²·C values (regression), s²·C·K logits (bins) or s²·K logits (palette). The loss's mask is
// the token mask at the patch grid, each cell r / model_grid target pixels a side (s itself
// for a ViT) — or, for a target coarser than the patch grid (a Swin's r below
// img_size / patch_size), that mask pooled to r × r: a target pixel is masked when every patch
// under it is.
int simmim_target_resolution(const ModelConfig *cfg); // r
int simmim_target_per_token(const ModelConfig *cfg);  // s
int simmim_loss_grid(const ModelConfig *cfg);         // the loss mask's side: min(r, model_grid)
int simmim_target_per_loss_cell(const ModelConfig *cfg); // r / simmim_loss_grid
int simmim_pred_channels(const ModelConfig *cfg);     // C, C·K or K: channels of the r×r output
int simmim_decoder_out(const ModelConfig *cfg);       // s²·pred channels, per token
int decoder_hidden(const ModelConfig *cfg);           // mlp H
int decoder_embed_dim(const ModelConfig *cfg);        // transformer E
int decoder_num_heads(const ModelConfig *cfg);        // transformer heads
int decoder_mlp_hidden(const ModelConfig *cfg);       // transformer blocks' MLP: mlp_ratio · E

// 0 if valid; otherwise -1 and a message starting with the field ("model.embed_dim: ...").
int model_config_validate(const ModelConfig *cfg, char *err, size_t errlen);
// The head's fields (decoder, target, loss) of a pretraining cfg; each message starts with its
// field, and a combination that cannot work names both fields.
int head_config_validate(const ModelConfig *cfg, char *err, size_t errlen);
// The mask of a pretraining cfg (the model validated with it): its cells, ratio and blocks, and
// for a loss over the masked area each target pixel inside one cell (mask_patch_size a
// multiple of img_size / r, which only a Swin's target below its patch grid can miss).
int mask_config_validate(const MaskConfig *mask, const ModelConfig *cfg, char *err, size_t errlen);

// The mask grid's side M (img_size / mask_patch_size) and the cells a mask of this config
// covers: random ceil(ratio · M²); square k² with k = max(1, round(√ratio · M)); block the
// same target as random, which a draw may fall short of (model.h's simmim_mask).
int mask_grid(const MaskConfig *mask, const ModelConfig *cfg);
int mask_target_cells(const MaskConfig *mask, const ModelConfig *cfg);

// The memory a training run of cfg at this batch size needs, in bytes: parameters, their
// gradients and AdamW's two moments, and the activations of one step for `threads` threads
// (the model's flat buffers, laid out in model/). The one sizing function: the daemon refuses
// a spec above train.max_memory_mb with it, the trainer too before it allocates, and the
// trainer's start event reports it beside what it allocated. 0 when the size overflows.
typedef struct {
    double params, optimizer, activations; // bytes: parameters + gradients, AdamW, one step
} MemoryEstimate;
MemoryEstimate model_memory_estimate(const ModelConfig *cfg, int batch, int threads);
double memory_estimate_total(const MemoryEstimate *m);
// The fields that drive the activation size of cfg, for a refusal's message
// ("model.img_size, loss.bins and target.resolution").
void memory_drivers(const ModelConfig *cfg, char *out, size_t outlen);

#endif
