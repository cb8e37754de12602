// AdamW, the lr schedule and gradient clipping; see optim.h. Matches torch.optim.AdamW:
// p ← p·(1 − lr·wd); m, v moments; p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double lr_at(const OptimConfig *cfg, long t)
{
    if (t < cfg->warmup_steps) return cfg->lr * (double)t / (double)cfg->warmup_steps;
    long span = cfg->total_steps - cfg->warmup_steps;
    if (span <= 0) return cfg->min_lr;
    double progress = (double)(t - cfg->warmup_steps) / (double)span;
    if (progress > 1.0) progress = 1.0;
    return cfg->min_lr + (cfg->lr - cfg->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
}

double grad_global_norm(const float *grads, size_t n)
{
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (size_t i = 0; i < n; i++) sum += (double)grads[i] * grads[i];
    return sqrt(sum);
}

double clip_grad_norm(float *grads, size_t n, double clip)
{
    double norm = grad_global_norm(grads, n);
    if (clip <= 0.0) return norm;
    double coef = clip / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) grads[i] *= c;
    }
    return norm;
}

int adamw_create(AdamW *opt, const OptimConfig *cfg, size_t num_params)
{
    memset(opt, 0, sizeof *opt);
    opt->cfg = *cfg;
    opt->n = num_params;
    opt->m = calloc(num_params, sizeof(float));
    opt->v = calloc(num_params, sizeof(float));
    if (!opt->m || !opt->v) {
        adamw_free(opt);
        return -1;
    }
    return 0;
}

void adamw_free(AdamW *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void adamw_step(AdamW *opt, Model *m, double lr)
{
    const OptimConfig *c = &opt->cfg;
    long t = ++opt->step;
    double bias1 = 1.0 - pow(c->beta1, (double)t), bias2_sqrt = sqrt(1.0 - pow(c->beta2, (double)t));
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *info = &m->info[i];
        double tensor_lr =
            lr * pow(c->layer_decay, model_total_blocks(&m->cfg) + 1 - info->layer_id);
        float decay = (float)(1.0 - tensor_lr * (info->weight_decay ? c->weight_decay : 0.0));
        float step_size = (float)(tensor_lr / bias1), inv_bias2_sqrt = (float)(1.0 / bias2_sqrt);
        float *p = m->params_mem + info->offset, *mo = opt->m + info->offset, *v = opt->v + info->offset;
        const float *g = m->grads_mem + info->offset;
#pragma omp parallel for if (info->numel > 16384)
        for (size_t j = 0; j < info->numel; j++) {
            p[j] *= decay;
            mo[j] = b1 * mo[j] + (1.0f - b1) * g[j];
            v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
            p[j] -= step_size * mo[j] / (sqrtf(v[j]) * inv_bias2_sqrt + eps);
        }
    }
}
