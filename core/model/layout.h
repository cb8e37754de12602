// The layout of the model's flat buffers, shared within core/model by model.c (the ViT, the
// heads, the buffers as a whole) and swin.c (the Swin encoder's part).
#ifndef SIMMIM_MODEL_LAYOUT_H
#define SIMMIM_MODEL_LAYOUT_H

#include <stddef.h>

#include "model/model.h"

// Hands out consecutive regions of a buffer; with base NULL it only counts, so one walk
// both sizes and carves a buffer.
typedef struct {
    float *base;
    size_t used;
    double used_estimate; // the same count in floating point, to detect size_t overflow
    size_t align;         // in floats
} Carver;

float *carve(Carver *c, size_t n);
// Adds one parameter tensor to the table (when there is one) and carves its storage.
float *param(Carver *c, ParamInfo *info, int *count, const char *name, int layer_id,
             int weight_decay, int ndim, int d0, int d1, int d2, int d3);
// One pre-norm block's tensors under `prefix` (timm's names), width D, MLP hidden H.
BlockParams layout_block(Carver *c, ParamInfo *info, int *n, const char *prefix, int layer_id,
                         int D, int H);
// One block's kept activations over `rows` token rows of D (MLP hidden H), with `att` floats
// of attention probabilities.
BlockActs carve_block_acts(Carver *c, size_t rows, size_t D, size_t H, size_t att);

enum { MATMUL_SHAPES_MAX = 64 };

// swin.c: the encoder's tensors in checkpoint order (patch embedding, its norm, the position
// embedding, the mask token when pretraining, then the stages), its activations, the sizes of
// the blocks' shared buffers (the widest stage's rows of D, of the MLP's hidden or 3D, one
// thread's attention scratch, the scores' gradient) and its matrix products' (M, K, N).
void swin_layout_params(const ModelConfig *cfg, Carver *c, Params *P, BlockParams *blocks,
                        ParamInfo *info, int *n);
void swin_layout_acts(const ModelConfig *cfg, size_t B, Carver *c, Acts *a, BlockActs *blocks);
void swin_shared_sizes(const ModelConfig *cfg, size_t B, size_t *rows_wide, size_t *rows_hidden,
                       size_t *attention, size_t *scores);
int swin_matmul_shapes(const ModelConfig *cfg, long B, long shapes[][3]);

#endif
