// The model: a ViT or Swin encoder with either the SimMIM pretraining head (num_classes 0) or
// the classification head. Parameters live in one flat float buffer, gradients in a second of
// identical layout, activations in a third; all three are sized once per (config, batch) and
// nothing is allocated inside a step. The parameter table (names, shapes, layer ids, weight
// decay) drives checkpoints, the optimizer and the golden tests alike.
#ifndef SIMMIM_MODEL_H
#define SIMMIM_MODEL_H

#include <stddef.h>

#include "base/rng.h"
#include "config/config.h"

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    float *rel_table; // swin: the relative position bias table [(2W−1)², heads]
} BlockParams;

// Pointers into a flat buffer; the fields of another kind or decoder type are NULL.
typedef struct {
    float *patch_w, *patch_b, *cls_token, *pos_embed;
    // swin: patch_embed.norm, absolute_pos_embed (ape) and each stage's patch merging
    // (layers.{i}.downsample, stages 1 … S−1); its blocks are `blocks`, stage after stage
    float *patch_norm_w, *patch_norm_b, *abs_pos_embed;
    float *merge_norm_w[MAX_STAGES], *merge_norm_b[MAX_STAGES], *merge_w[MAX_STAGES];
    BlockParams *blocks;
    // pretraining: mask token, final norm, then the decoder. out_w/out_b is its last linear
    // map (linear: decoder.0, mlp: decoder.fc2, transformer: decoder.pred).
    float *mask_token, *norm_w, *norm_b, *out_w, *out_b;
    float *dec_fc1_w, *dec_fc1_b;                                // mlp
    float *dec_embed_w, *dec_embed_b, *dec_pos_embed;            // transformer
    BlockParams *dec_blocks;
    float *dec_norm_w, *dec_norm_b;
    float *palette;                                              // loss palette [K, C], fixed
    float *fc_norm_w, *fc_norm_b, *head_w, *head_b;              // classification (swin: no
                                                                 // fc_norm; head.fc)
} Params;

enum { PARAM_NAME_MAX = 64, PARAM_MAX_DIMS = 4, MODEL_MAX_TARGET_CHANS = 64 };

typedef struct {
    char name[PARAM_NAME_MAX]; // the checkpoint contract's (timm's) name
    int ndim;
    int shape[PARAM_MAX_DIMS];
    size_t offset, numel;      // in floats, within the flat buffer
    int layer_id;              // for layer-wise lr decay: 0 embeddings, i+1 block i (of all
                               // stages), model_total_blocks+1 heads (swin: docs/checkpoints.md)
    int weight_decay;          // 1 if AdamW decays it
} ParamInfo;

// A Swin block's qkv, att and atty are in window order (window_partition's rows).
// A block's LayerNorm outputs are not kept: each goes to the shared acts.ln just before the
// product that reads it, and the backward pass writes it there again from the block's
// LayerNorm input, mean and rstd (layernorm_apply): 2·depth − 1 fewer [B·T, D] for one pass
// as cheap as a residual add.
typedef struct {
    float *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *res1;
    float *ln2_mean, *ln2_rstd, *fc1, *gelu, *res2;
} BlockActs;

// The sizes below are the encoder's (B·T rows of D) or, for the blocks' shared buffers, those
// of the widest of the encoder and a transformer decoder (B·N rows of E).
typedef struct {
    float *patches, *patch_out, *x0;
    BlockActs *blocks;
    float *ln;                                                     // shared: see BlockActs
    float *drop_scale;                                             // [total blocks, 2, B]
    // swin: patch_embed.norm's statistics; stage i's input [B·G_i², C_i] (stage 0's is x0), for
    // i ≥ 1 after patch merging's gather (merged [B·G_i², 4·C_(i−1)]) with its LayerNorm's
    // statistics; the shifted windows' mask of each stage (NULL where there is no shift). The
    // blocks' shared buffers: the windowed rows, the gathered relative bias, the scores'
    // gradient.
    float *pe_mean, *pe_rstd;
    float *stage_x[MAX_STAGES], *merged[MAX_STAGES], *merge_mean[MAX_STAGES];
    float *merge_rstd[MAX_STAGES], *shift_mask[MAX_STAGES];
    float *windows, *rel_bias, *dscores;
    // pretraining: tokens [B·N, D] → lnf → decoder → dec [B·N, out] → pred [B, C', r, r], N and
    // D the encoder output's (model_out_tokens, model_out_dim; swin reads its last stage's
    // output in place of tokens);
    // target [B, C, r, r] is the pooled image (NULL at full resolution: the images),
    // classes [B, G, r, r] the class of each target pixel (bins, palette), loss_mask [B, r, r]
    // the token mask pooled to a target coarser than the patch grid (NULL otherwise: the loss
    // reads the token mask)
    float *tokens, *lnf, *lnf_mean, *lnf_rstd, *dec, *pred, *target, *classes, *loss_mask;
    float *dec_hidden, *dec_gelu, *ddec_hidden;                    // mlp [B·N, Hd]
    float *dec_x0, *dec_normed, *dec_norm_mean, *dec_norm_rstd;    // transformer [B·N, E]
    BlockActs *dec_blocks;
    float *pooled, *fcn, *fcn_mean, *fcn_rstd, *logits, *probs;    // classification (swin:
                                            // lnf, its statistics and dlnf: the final norm)
    // backward scratch, shared by all blocks; dqkv and dhidden are one buffer, dbranch only with
    // drop path
    float *dres, *dbranch, *dln, *datty, *dqkv, *attention_scratch, *weight_grad_scratch, *dhidden;
    float *dpatch_out, *dlnf, *dtokens, *dpred, *ddec, *dpooled, *dfcn, *dlogits;
} Acts;

// One batch of inputs; the fields the model's kind does not use may be NULL.
typedef struct {
    int size;                // B ≤ the model's batch capacity
    const float *images;     // [B, C, S, S], normalized
    const float *token_mask; // [B, N] in {0,1}: pretraining (which patches are masked)
    const int *labels;       // [B]: classification
    const float *drop_keep;  // [total blocks, 2, B] in {0,1}: classification drop path; NULL = none
} Batch;

typedef struct {
    ModelConfig cfg;
    int batch;              // activation capacity
    int attention_threads;  // threads the attention scratch serves (ops_threads() at creation)
    float label_smoothing;  // classification
    // bins and palette targets: pixel = normalized · pixel_std[c] + pixel_mean[c], in [0, 1]
    float pixel_mean[MODEL_MAX_TARGET_CHANS], pixel_std[MODEL_MAX_TARGET_CHANS];
    ParamInfo *info;
    int num_tensors;
    size_t num_params;
    float *params_mem, *grads_mem, *acts_mem;
    size_t acts_floats;
    Params params, grads;
    Acts acts;
    Batch in;               // the batch of the last forward, for backward
    float loss;
} Model;

// Bytes the three buffers need for (cfg, batch) with ops_threads() threads; 0 if the size
// overflows. config.h's model_memory_estimate is the estimate of the same, for the daemon.
size_t model_memory_bytes(const ModelConfig *cfg, int batch);
// Validates cfg and batch, then allocates; -1 with a message naming the field on error.
int model_create(Model *m, const ModelConfig *cfg, int batch, char *err, size_t errlen);
void model_free(Model *m);
// docs/recipes.md's initialisation, drawn from rng.
void model_init_weights(Model *m, Rng *rng);
const ParamInfo *model_find_param(const Model *m, const char *name);
void model_zero_grad(Model *m);
// Forward pass and loss (stored in m->loss and returned).
float model_forward(Model *m, const Batch *batch);
// Backward pass of the last forward; accumulates into m->grads.
void model_backward(Model *m);

// A stack of pre-norm transformer blocks (block.c) over B images of `tokens` rows of `dim`:
// the ViT encoder's (with drop path), a Swin stage's (window attention, drop path) or a
// transformer decoder's.
typedef struct {
    const BlockParams *params, *grads;
    const BlockActs *acts;
    int depth, tokens, dim, heads, hidden;
    int drop_path;   // the encoder's: the batch's drop_keep applies
    int first_block; // the encoder block (of model_total_blocks) that is this stack's first
    float eps;       // its LayerNorms'
    // Swin's window attention when window > 0: the tokens are a grid × grid map, attention
    // runs within window × window windows, the odd blocks' rolled by shift (with shift_mask).
    int grid, window, shift;
    const float *shift_mask;
} BlockStack;
BlockStack vit_block_stack(const Model *m);
// Runs the stack on x [B·tokens, dim]; the output is the last block's res2.
void blocks_forward(Model *m, const BlockStack *s, const float *x);
// acts.dres holds the gradient of the output on entry, that of x on exit.
void blocks_backward(Model *m, const BlockStack *s, const float *x);
// The per-sample drop-path scales (vit.c) of encoder block l's branch j, or NULL (l counts
// the blocks of all stages).
const float *vit_drop_scale(const Model *m, int l, int j);

// Encoder (vit.c): patch embedding through the last block; the output is the last block's res2.
void vit_forward(Model *m);
// Takes the gradient of the last block's output in acts.dres; accumulates parameter grads.
void vit_backward(Model *m);
float *vit_output(const Model *m);
// The drop-path scales of the batch (drop_keep / keep probability), for every encoder block.
void fill_drop_scales(Model *m);

// Swin encoder (swin.c): patch embedding (and its norm), mask token, stages with patch
// merging; the output [B·model_out_tokens, model_out_dim] is the last block's res2, which the
// heads normalize. swin_backward takes its gradient in acts.dres.
void swin_forward(Model *m);
void swin_backward(Model *m);
BlockStack swin_block_stack(const Model *m, int stage);
float *swin_output(const Model *m);
// The shifted windows' masks, constants of the model (model_create calls it).
void swin_fill_masks(Model *m);

// SimMIM head and loss (simmim.c), classification head and loss (classifier.c).
// The masker (masker.c): per image, mask_target_cells cells of the M×M mask grid hidden by
// mask.type — random (a uniformly random permutation, the first cells of it), square (one
// k×k square at a uniformly random position) or block (mask_block_draw) — upsampled to the
// token grid. token_mask [B, N]. Returns the cells masked over the batch (a block mask may
// fall short of its target).
int simmim_mask(float *token_mask, int B, const MaskConfig *mask, const ModelConfig *cfg,
                Rng *rng);
// BEiT's block-wise masking on a side×side grid of 0/1 cells (cleared by the caller):
// rectangles of area uniform in [min_block, what is left of target] and aspect ratio
// log-uniform in [0.3, 1/0.3], each placed strictly inside the grid where it adds at least one
// cell and no more than are left, up to 10 attempts per rectangle, until target cells are
// masked — or a rectangle finds no place in its 10 attempts, and the mask stays short of the
// target (as BEiT's can). Returns the cells masked; rects (NULL: not wanted) receives each
// rectangle placed, *rect_count their number.
typedef struct {
    int top, left, height, width;
    double aspect; // as drawn (height and width are rounded from it)
} MaskRect;
int mask_block_draw(uint8_t *cells, int side, int target, int min_block, Rng *rng,
                    MaskRect *rects, int *rect_count);
float simmim_head_forward(Model *m);
void simmim_head_backward(Model *m);
// The last forward's prediction as an image at the model's image size for display:
// out [B, C, S, S], normalized as the input; bins and palette as the expected colour under
// the predicted distribution; a lower target resolution upsampled (nearest). scratch holds
// simmim_prediction_scratch_floats(cfg, B) floats. Allocates nothing.
size_t simmim_prediction_scratch_floats(const ModelConfig *cfg, int B);
void simmim_prediction_image(const Model *m, float *out, float *scratch);
float classifier_head_forward(Model *m);
void classifier_head_backward(Model *m);

#endif
