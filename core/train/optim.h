// Optimization: the learning-rate schedule (linear warmup, cosine decay), global-norm
// gradient clipping, and AdamW with decoupled weight decay and layer-wise lr decay, each a
// single pass over the flat parameter and gradient buffers.
#ifndef SIMMIM_OPTIM_H
#define SIMMIM_OPTIM_H

#include "model/model.h"

typedef struct {
    double lr, min_lr;
    long warmup_steps, total_steps;
    double weight_decay, beta1, beta2, eps;
    double clip_grad;   // ≤ 0: no clipping
    double layer_decay; // 1: none (pretraining)
} OptimConfig;

typedef struct {
    OptimConfig cfg;
    float *m, *v;    // first and second moments, the parameter buffer's layout
    size_t n;
    long step;       // updates done so far (bias correction uses step + 1)
} AdamW;

// The learning rate before step t (from 0): warmup from 0, then cosine to min_lr.
double lr_at(const OptimConfig *cfg, long t);
// ‖g‖₂ over the whole gradient buffer.
double grad_global_norm(const float *grads, size_t n);
// g ← g·min(1, clip/(‖g‖ + 1e-6)); returns ‖g‖ before clipping.
double clip_grad_norm(float *grads, size_t n, double clip);

int adamw_create(AdamW *opt, const OptimConfig *cfg, size_t num_params);
void adamw_free(AdamW *opt);
// One update of every parameter at base learning rate lr (each tensor scaled by its layer's
// decay^(depth + 1 − layer_id), weight decay only where the table says so).
void adamw_step(AdamW *opt, Model *m, double lr);

#endif
