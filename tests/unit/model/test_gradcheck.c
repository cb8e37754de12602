// Finite-difference gradient checks: every op's _backward in core/ops/ops.h, then the whole model
// (pretraining with a token mask: the default head, the mlp and transformer decoders, a lower
// target resolution, l2 and bins; classification with drop path and label smoothing) against
// model_backward. The ops without a backward (avg_pool, the class and expectation ops, the
// display upsampling) are checked against hand-computed values in tests/unit/ops/.
//
// Method. Each op gets a scalar objective L, computed in double: L = Σ out·R for a fixed
// random R (or the loss itself for the loss ops). The analytic gradient comes from the op's
// _backward with dout = R; the numeric one from central differences (L(x + H) − L(x − H)) / 2H,
// H = 1e-2, on a random sample of the entries of each input (every entry when the input is
// small). A check passes if ‖num − ana‖ ≤ TOL·‖ana‖ over the sample, with ‖ana‖ > 0.
//
// Tolerance. The forward passes run in float32, so L carries a rounding error of about
// ε·|L|·√n (ε ≈ 6e-8, n outputs); divided by 2H = 2e-2 that is ~1e-5 of a typical gradient
// entry. The truncation error of a central difference, H²/6·|L‴|, is ~2e-5 relative for
// these smooth ops (linear ops have none). Observed relative errors are 1e-14…5e-4, so
// TOL = 1e-2 leaves a 20× margin against noise; the one exception is the model with a
// transformer decoder, whose mask_token and first layers see 1e-3…5e-3 — truncation through its
// four blocks, not noise: with H halved they fall fourfold. A real mistake moves the gradient by
// far more: sixteen deliberate mutations of ops.c and vit.c (dweight overwritten instead of
// accumulated, embed without (1 − w), layernorm without its −norm·mean term, softmax
// backward without its dot product, dq without 1/√hd, GELU' without x·pdf, residual or vit
// ignoring the drop-path scale, patch_tokens overwriting, a transposed pixel_shuffle, L1
// ignoring the mask, mean_pool without 1/N, cross-entropy without ε/K or 1/B, ...) each
// fail here with relative errors from 0.05 (the missing ε/K, 0.02 per logit) to over 1; so
// do mutations of the SimMIM head's choices: smooth_l1's slope without 1/β (0.12),
// add_position_backward overwriting dpos (0.14), the mlp decoder without its GELU (0.06),
// bins rounded instead of floored (0.4), the masked loss without its 1/C (0.5).
//
// The L1 loss is not differentiable where x = x̂; its inputs are kept ≥ 0.1 ≫ H apart, and the
// model checks use images far from any prediction the model can make (checked below). Smooth
// L1's second derivative jumps at |x − x̂| = β: its points stay 0.15 away from there, on both
// sides. The classification losses' classes do not move with the parameters; the model check
// draws its pixels well inside their bins, so that the reference's classes (in double) are the
// model's (in float).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/model.h"
#include "ops/ops.h"
#include "test.h"

enum { MAX_SAMPLE = 24, MODEL_SAMPLE = 6, POOL_MAX = 24 };
static const double TOL = 1e-2;
static const double H = 1e-2; // the finite-difference step

static Rng rng;

// ---------------------------------------------------------------------------------------------
// Buffers: every op test allocates from a pool that it frees at the end.

typedef struct {
    void *bufs[POOL_MAX];
    int n;
} Pool;

static void *pool_alloc(Pool *pool, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || pool->n == POOL_MAX) {
        fprintf(stderr, "test_gradcheck: out of memory or pool full\n");
        exit(2);
    }
    return pool->bufs[pool->n++] = p;
}

static float *zeros(Pool *pool, size_t n) { return pool_alloc(pool, n * sizeof(float)); }

// Every gradient buffer starts out holding PREV, as if an earlier backward had left it there:
// a gradient the op should accumulate into is checked as (buffer − PREV), one it should
// overwrite as the buffer itself, so either mistake shows. (Adding onto 0.25 costs an
// absolute rounding error of ~3e-8 per addition, far below the tolerance.)
static const float PREV = 0.25f;

static float *grad_buffer(Pool *pool, size_t n)
{
    float *g = zeros(pool, n);
    for (size_t i = 0; i < n; i++) g[i] = PREV;
    return g;
}

// n values mean + std·N(0, 1).
static float *randn(Pool *pool, size_t n, double mean, double std)
{
    float *x = zeros(pool, n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * rng_normal(&rng));
    return x;
}

static void pool_free(Pool *pool)
{
    for (int i = 0; i < pool->n; i++) free(pool->bufs[i]);
    pool->n = 0;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// ---------------------------------------------------------------------------------------------
// The one gradient-check routine.

// Runs the forward pass at the current inputs and returns the scalar objective.
typedef double (*Objective)(const void *ctx);

// One input of an objective: its values (perturbed in place) and its analytic gradient, which
// the backward either accumulated onto PREV or wrote.
typedef struct {
    const char *name;
    float *x;
    const float *grad;
    size_t n;
    int accumulated;
} Wrt;

// Checks, for each input, the analytic gradient against central differences with step H on
// up to `sample` randomly chosen entries.
static void check_gradients(const char *op, Objective f, const void *ctx, const Wrt *wrt,
                            int count, int sample)
{
    for (int w = 0; w < count; w++) {
        const Wrt *in = &wrt[w];
        int *order = malloc(in->n * sizeof *order);
        if (!order) exit(2);
        rng_permutation(&rng, order, (int)in->n);
        size_t k = in->n < (size_t)sample ? in->n : (size_t)sample;
        double diff2 = 0.0, ana2 = 0.0;
        for (size_t s = 0; s < k; s++) {
            float *x = &in->x[order[s]], saved = *x;
            *x = (float)(saved + H);
            double plus = f(ctx);
            *x = (float)(saved - H);
            double minus = f(ctx);
            *x = saved;
            // The step actually taken, after rounding x ± H to float.
            double step = (double)(float)(saved + H) - (double)(float)(saved - H);
            double num = (plus - minus) / step;
            double ana = (double)in->grad[order[s]] - (in->accumulated ? PREV : 0.0f);
            diff2 += (num - ana) * (num - ana);
            ana2 += ana * ana;
        }
        free(order);
        double diff = sqrt(diff2), norm = sqrt(ana2);
        char what[160];
        snprintf(what, sizeof what, "%s: d/d%s", op, in->name);
        test_report(norm > 0.0 && diff <= TOL * norm, what,
                    "%zu of %zu entries, |num - ana| %.3g, |ana| %.3g (rel %.2g)", k, in->n, diff,
                    norm, diff / (norm + 1e-300));
    }
}

// ---------------------------------------------------------------------------------------------
// One test per op: a context holding the op's buffers, its objective, and the function that
// runs forward and backward and checks every input.

typedef struct {
    float *out, *inp, *weight, *bias, *R;
    int M, K, N;
} MatmulCase;

static double matmul_objective(const void *ctx)
{
    const MatmulCase *c = ctx;
    matmul_forward(c->out, c->inp, c->weight, c->bias, c->M, c->K, c->N);
    return dot(c->out, c->R, (size_t)c->M * c->N);
}

static void test_matmul(void)
{
    Pool pool = {0};
    int M = 7, K = 5, N = 6;
    MatmulCase c = {.out = zeros(&pool, M * N), .inp = randn(&pool, M * K, 0, 1),
                    .weight = randn(&pool, N * K, 0, 1), .bias = randn(&pool, N, 0, 1),
                    .R = randn(&pool, M * N, 0, 1), .M = M, .K = K, .N = N};
    float *dinp = grad_buffer(&pool, M * K), *dweight = grad_buffer(&pool, N * K);
    float *dbias = grad_buffer(&pool, N);
    matmul_objective(&c);
    matmul_backward(dinp, dweight, dbias, NULL, c.R, c.inp, c.weight, M, K, N);
    Wrt wrt[] = {{"inp", c.inp, dinp, M * K, 0}, {"weight", c.weight, dweight, N * K, 1},
                 {"bias", c.bias, dbias, N, 1}};
    check_gradients("matmul", matmul_objective, &c, wrt, 3, MAX_SAMPLE);
    pool_free(&pool);
}

// Over thousands of rows the weight gradient is summed in row parts (some in scratch): it
// must still be doutᵀ·inp added to what dweight held, compared here with a sum in double.
static void test_matmul_weight_grad_parts(int M)
{
    Pool pool = {0};
    int K = 20, N = 13;
    float *dout = randn(&pool, M * N, 0, 1), *inp = randn(&pool, M * K, 0, 1);
    float *dweight = randn(&pool, N * K, 0, 1), *before = zeros(&pool, N * K);
    float *scratch = zeros(&pool, matmul_backward_scratch_floats(M, K, N) + 1);
    memcpy(before, dweight, sizeof(float) * N * K);
    matmul_backward(NULL, dweight, NULL, scratch, dout, inp, NULL, M, K, N);
    double worst = 0.0, scale = 0.0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double sum = before[n * K + k];
            for (int m = 0; m < M; m++) sum += (double)dout[m * N + n] * inp[m * K + k];
            worst = fmax(worst, fabs(dweight[n * K + k] - sum));
            scale = fmax(scale, fabs(sum));
        }
    char name[64];
    snprintf(name, sizeof name, "matmul weight gradient over %d rows", M);
    test_report(worst <= 1e-5 * scale, name, "%zu floats of scratch, max |diff| %.2e vs max |sum| %.3g",
                matmul_backward_scratch_floats(M, K, N), worst, scale);
    pool_free(&pool);
}

typedef struct {
    float *out, *patches, *images, *weight, *bias, *R;
    int B, C, S, p, D;
} PatchEmbedCase;

static double patch_embed_objective(const void *ctx)
{
    const PatchEmbedCase *c = ctx;
    patch_embed_forward(c->out, c->patches, c->images, c->weight, c->bias, c->B, c->C, c->S, c->p,
                        c->D);
    int N = (c->S / c->p) * (c->S / c->p);
    return dot(c->out, c->R, (size_t)c->B * N * c->D);
}

static void test_patch_embed(void)
{
    Pool pool = {0};
    int B = 2, C = 3, S = 8, p = 4, D = 5, N = (S / p) * (S / p), P = C * p * p;
    PatchEmbedCase c = {.out = zeros(&pool, B * N * D), .patches = zeros(&pool, B * N * P),
                        .images = randn(&pool, B * C * S * S, 0, 1),
                        .weight = randn(&pool, D * P, 0, 0.3), .bias = randn(&pool, D, 0, 1),
                        .R = randn(&pool, B * N * D, 0, 1), .B = B, .C = C, .S = S, .p = p, .D = D};
    float *dweight = grad_buffer(&pool, D * P), *dbias = grad_buffer(&pool, D);
    patch_embed_objective(&c);
    patch_embed_backward(dweight, dbias, NULL, c.R, c.patches, B, N, P, D);
    Wrt wrt[] = {{"weight", c.weight, dweight, D * P, 1}, {"bias", c.bias, dbias, D, 1}};
    check_gradients("patch_embed", patch_embed_objective, &c, wrt, 2, MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *x, *patch_out, *cls, *mask_token, *pos, *token_mask, *R;
    int B, N, D;
} EmbedCase;

static double embed_objective(const void *ctx)
{
    const EmbedCase *c = ctx;
    embed_forward(c->x, c->patch_out, c->cls, c->mask_token, c->pos, c->token_mask, c->B, c->N,
                  c->D);
    return dot(c->x, c->R, (size_t)c->B * (c->N + 1) * c->D);
}

// masked: a token mask with both 0 and 1 entries; otherwise no mask (and no mask_token grad).
static void test_embed(int masked)
{
    Pool pool = {0};
    int B = 2, N = 5, D = 4, T = N + 1;
    EmbedCase c = {.x = zeros(&pool, B * T * D), .patch_out = randn(&pool, B * N * D, 0, 1),
                   .cls = randn(&pool, D, 0, 1), .mask_token = randn(&pool, D, 0, 1),
                   .pos = randn(&pool, T * D, 0, 1), .R = randn(&pool, B * T * D, 0, 1),
                   .B = B, .N = N, .D = D};
    if (masked) {
        c.token_mask = zeros(&pool, B * N);
        for (int i = 0; i < B * N; i++) c.token_mask[i] = (float)(i % 3 != 1); // 1 0 1 1 0 1 ...
    }
    float *dpatch = grad_buffer(&pool, B * N * D), *dcls = grad_buffer(&pool, D);
    float *dmask = grad_buffer(&pool, D), *dpos = grad_buffer(&pool, T * D);
    embed_objective(&c);
    embed_backward(dpatch, dcls, masked ? dmask : NULL, dpos, c.R, c.token_mask, B, N, D);
    Wrt wrt[] = {{"patch_out", c.patch_out, dpatch, B * N * D, 0}, {"cls", c.cls, dcls, D, 1},
                 {"pos", c.pos, dpos, T * D, 1}, {"mask_token", c.mask_token, dmask, D, 1}};
    const char *op = masked ? "embed (token mask)" : "embed (no mask)";
    check_gradients(op, embed_objective, &c, wrt, masked ? 4 : 3, MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *mean, *rstd, *inp, *weight, *bias, *R;
    int Rows, D;
} LayernormCase;

static double layernorm_objective(const void *ctx)
{
    const LayernormCase *c = ctx;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->weight, c->bias, c->Rows, c->D, 1e-6f);
    return dot(c->out, c->R, (size_t)c->Rows * c->D);
}

static void test_layernorm(void)
{
    Pool pool = {0};
    int Rows = 5, D = 24;
    LayernormCase c = {.out = zeros(&pool, Rows * D), .mean = zeros(&pool, Rows),
                       .rstd = zeros(&pool, Rows), .inp = randn(&pool, Rows * D, 0.5, 1.5),
                       .weight = randn(&pool, D, 1, 0.3), .bias = randn(&pool, D, 0, 0.3),
                       .R = randn(&pool, Rows * D, 0, 1), .Rows = Rows, .D = D};
    float *dinp = grad_buffer(&pool, Rows * D), *dweight = grad_buffer(&pool, D);
    float *dbias = grad_buffer(&pool, D);
    layernorm_objective(&c);
    layernorm_backward(dinp, dweight, dbias, c.R, c.inp, c.weight, c.mean, c.rstd, Rows, D);
    Wrt wrt[] = {{"inp", c.inp, dinp, Rows * D, 1}, {"weight", c.weight, dweight, D, 1},
                 {"bias", c.bias, dbias, D, 1}};
    check_gradients("layernorm", layernorm_objective, &c, wrt, 3, MAX_SAMPLE);
    pool_free(&pool);
}

// The backward pass writes a LayerNorm's output again rather than keeping it (vit.c): it must
// be the forward's bit for bit, on rows long enough for the vector loops and their remainders.
static void test_layernorm_apply(int Rows, int D)
{
    Pool pool = {0};
    float *inp = randn(&pool, Rows * D, 0.5, 1.5), *weight = randn(&pool, D, 1, 0.3);
    float *bias = randn(&pool, D, 0, 0.3), *mean = zeros(&pool, Rows), *rstd = zeros(&pool, Rows);
    float *out = zeros(&pool, Rows * D), *again = zeros(&pool, Rows * D);
    layernorm_forward(out, mean, rstd, inp, weight, bias, Rows, D, 1e-6f);
    layernorm_apply(again, inp, mean, rstd, weight, bias, Rows, D);
    size_t differ = 0;
    for (size_t i = 0; i < (size_t)Rows * D; i++)
        differ += memcmp(&out[i], &again[i], sizeof(float)) != 0;
    test_report(differ == 0, "layernorm_apply is layernorm_forward's output bit for bit",
                "[%d, %d]: %zu of %d values differ", Rows, D, differ, Rows * D);
    pool_free(&pool);
}

typedef struct {
    float *out, *att, *scratch, *qkv, *R;
    int B, T, D, H;
} AttentionCase;

static double attention_objective(const void *ctx)
{
    const AttentionCase *c = ctx;
    attention_forward(c->out, c->att, c->scratch, ops_threads(), c->qkv, NULL, NULL, 0, c->B, c->T,
                      c->D, c->H);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->D);
}

static void test_attention(void)
{
    Pool pool = {0};
    int B = 2, T = 7, D = 12, H = 3; // T not a power of 2, head dim 4
    AttentionCase c = {.out = zeros(&pool, B * T * D), .att = zeros(&pool, B * H * T * T),
                       .scratch = zeros(&pool, ops_threads() * attention_scratch_floats(T, D / H)),
                       .qkv = randn(&pool, B * T * 3 * D, 0, 1), .R = randn(&pool, B * T * D, 0, 1),
                       .B = B, .T = T, .D = D, .H = H};
    float *dqkv = grad_buffer(&pool, B * T * 3 * D);
    attention_objective(&c);
    attention_backward(dqkv, NULL, c.scratch, ops_threads(), c.R, c.qkv, c.att, B, T, D, H);
    Wrt wrt[] = {{"qkv", c.qkv, dqkv, B * T * 3 * D, 0}};
    // Three times the usual sample: q, k and v columns of every head should be hit.
    check_gradients("attention", attention_objective, &c, wrt, 1, 3 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *inp, *R;
    long n;
} GeluCase;

static double gelu_objective(const void *ctx)
{
    const GeluCase *c = ctx;
    gelu_forward(c->out, c->inp, c->n);
    return dot(c->out, c->R, c->n);
}

static void test_gelu(void)
{
    Pool pool = {0};
    long n = 60;
    GeluCase c = {.out = zeros(&pool, n), .inp = randn(&pool, n, 0, 2), .R = randn(&pool, n, 0, 1),
                  .n = n};
    // dinp aliases dout, as the model calls it.
    float *dinp = zeros(&pool, n);
    memcpy(dinp, c.R, n * sizeof(float));
    gelu_forward(c.out, c.inp, n);
    gelu_backward(dinp, c.inp, c.out, dinp, n);
    Wrt wrt[] = {{"inp", c.inp, dinp, n, 0}};
    check_gradients("gelu", gelu_objective, &c, wrt, 1, MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *x, *branch, *scale, *R;
    int B;
    long n;
} ResidualCase;

static double residual_objective(const void *ctx)
{
    const ResidualCase *c = ctx;
    residual_forward(c->out, c->x, c->branch, c->scale, c->B, c->n);
    return dot(c->out, c->R, (size_t)c->B * c->n);
}

static void test_residual(void)
{
    Pool pool = {0};
    int B = 4;
    long n = 10;
    float keep_prob = 0.8f;
    ResidualCase c = {.out = zeros(&pool, B * n), .x = randn(&pool, B * n, 0, 1),
                      .branch = randn(&pool, B * n, 0, 1), .scale = zeros(&pool, B),
                      .R = randn(&pool, B * n, 0, 1), .B = B, .n = n};
    for (int b = 0; b < B; b++) c.scale[b] = b % 2 ? 1.0f / keep_prob : 0.0f; // 0, 1/kp, 0, 1/kp
    float *dbranch = grad_buffer(&pool, B * n);
    residual_objective(&c);
    residual_backward(dbranch, c.R, c.scale, B, n);
    // The identity path's gradient is dout itself.
    Wrt wrt[] = {{"branch", c.branch, dbranch, B * n, 0}, {"x", c.x, c.R, B * n, 0}};
    check_gradients("residual (drop path)", residual_objective, &c, wrt, 2, 2 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *x, *R;
    int B, N, D;
} TokensCase;

static double patch_tokens_objective(const void *ctx)
{
    const TokensCase *c = ctx;
    patch_tokens_forward(c->out, c->x, c->B, c->N, c->D);
    return dot(c->out, c->R, (size_t)c->B * c->N * c->D);
}

static double mean_pool_objective(const void *ctx)
{
    const TokensCase *c = ctx;
    mean_pool_forward(c->out, c->x, c->B, c->N, c->D);
    return dot(c->out, c->R, (size_t)c->B * c->D);
}

// patch_tokens (pool = 0) or mean_pool (pool = 1): x [B, T, D] → tokens or their mean.
static void test_token_op(int pool_mean)
{
    Pool pool = {0};
    int B = 2, N = 5, D = 3, T = N + 1, outs = pool_mean ? B * D : B * N * D;
    TokensCase c = {.out = zeros(&pool, outs), .x = randn(&pool, B * T * D, 0, 1),
                    .R = randn(&pool, outs, 0, 1), .B = B, .N = N, .D = D};
    float *dx = grad_buffer(&pool, B * T * D);
    if (pool_mean)
        mean_pool_backward(dx, c.R, B, N, D);
    else
        patch_tokens_backward(dx, c.R, B, N, D);
    Wrt wrt[] = {{"x", c.x, dx, B * T * D, !pool_mean}}; // patch_tokens accumulates
    Objective f = pool_mean ? mean_pool_objective : patch_tokens_objective;
    check_gradients(pool_mean ? "mean_pool" : "patch_tokens", f, &c, wrt, 1, B * T * D);
    pool_free(&pool);
}

typedef struct {
    float *img, *dec, *R;
    int B, C, S, p;
} ShuffleCase;

static double pixel_shuffle_objective(const void *ctx)
{
    const ShuffleCase *c = ctx;
    pixel_shuffle_forward(c->img, c->dec, c->B, c->C, c->S, c->p);
    return dot(c->img, c->R, (size_t)c->B * c->C * c->S * c->S);
}

static void test_pixel_shuffle(void)
{
    Pool pool = {0};
    int B = 2, C = 3, S = 8, p = 4, pixels = B * C * S * S;
    ShuffleCase c = {.img = zeros(&pool, pixels), .dec = randn(&pool, pixels, 0, 1),
                     .R = randn(&pool, pixels, 0, 1), .B = B, .C = C, .S = S, .p = p};
    float *ddec = grad_buffer(&pool, pixels);
    pixel_shuffle_backward(ddec, c.R, B, C, S, p);
    Wrt wrt[] = {{"dec", c.dec, ddec, pixels, 0}};
    check_gradients("pixel_shuffle (C=3)", pixel_shuffle_objective, &c, wrt, 1, 2 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    RegressionLoss kind;
    float beta;
    float *pred, *target, *token_mask;
    int B, C, S, p;
} RegressionCase;

static double regression_objective(const void *ctx)
{
    const RegressionCase *c = ctx;
    return regression_loss_forward(c->kind, c->beta, c->pred, c->target, c->token_mask, c->B,
                                   c->C, c->S, c->p);
}

// A random token mask [B, g·g] with both values (the first two tokens 1 and 0).
static float *random_token_mask(Pool *pool, int B, int g)
{
    float *mask = zeros(pool, B * g * g);
    for (int i = 0; i < B * g * g; i++) mask[i] = (float)rng_below(&rng, 2);
    mask[0] = 1.0f, mask[1] = 0.0f;
    return mask;
}

// The loss (l1, l2 or smooth_l1 with β = 0.5) on the masked area of a token mask (masked) or
// over the full image.
static void test_regression_loss(RegressionLoss kind, int masked)
{
    static const char *const names[] = {[REGRESSION_L1] = "l1", [REGRESSION_L2] = "l2",
                                        [REGRESSION_SMOOTH_L1] = "smooth_l1 (beta 0.5)"};
    Pool pool = {0};
    int B = 2, C = 3, S = 8, p = 2, g = S / p, pixels = B * C * S * S;
    RegressionCase c = {.kind = kind, .beta = 0.5f, .pred = zeros(&pool, pixels),
                        .target = randn(&pool, pixels, 0, 1), .B = B, .C = C, .S = S, .p = p};
    // l1: |pred − target| ∈ [0.1, 0.6), away from the kink at 0 by far more than h.
    // l2 and smooth_l1: ∈ [0.05, 0.35) or [0.65, 1.25), half each, so smooth_l1's two
    // branches (β = 0.5) both occur, neither within 0.15 of where they meet.
    int quadratic = 0;
    for (int i = 0; i < pixels; i++) {
        double u = rng_uniform(&rng);
        double gap = kind == REGRESSION_L1 ? 0.1 + 0.5 * u
                     : u < 0.5             ? 0.05 + 0.6 * u
                                           : 0.65 + 1.2 * (u - 0.5);
        quadratic += gap < c.beta;
        c.pred[i] = (float)(c.target[i] + (rng_below(&rng, 2) ? gap : -gap));
    }
    if (masked) c.token_mask = random_token_mask(&pool, B, g);
    float *dpred = grad_buffer(&pool, pixels);
    regression_loss_backward(kind, c.beta, dpred, c.pred, c.target, c.token_mask, B, C, S, p);
    Wrt wrt[] = {{"pred", c.pred, dpred, pixels, 0}};
    char op[96];
    snprintf(op, sizeof op, "regression_loss %s (%s)", names[kind], masked ? "masked" : "full image");
    if (kind == REGRESSION_SMOOTH_L1)
        test_report(quadratic > pixels / 4 && pixels - quadratic > pixels / 4, op,
                    "%d of %d points below beta", quadratic, pixels);
    check_gradients(op, regression_objective, &c, wrt, 1, 2 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *logits, *classes, *token_mask;
    int B, G, K, S, p;
} PixelCrossEntropyCase;

static double pixel_crossentropy_objective(const void *ctx)
{
    const PixelCrossEntropyCase *c = ctx;
    return pixel_crossentropy_forward(c->logits, c->classes, c->token_mask, c->B, c->G, c->K,
                                      c->S, c->p);
}

// G groups of K classes per pixel: G = C for bins, 1 for a palette; masked or full image.
static void test_pixel_crossentropy(int G, int K, int masked)
{
    Pool pool = {0};
    int B = 2, S = 4, p = 2, g = S / p, logits = B * G * K * S * S;
    PixelCrossEntropyCase c = {.logits = randn(&pool, logits, 0, 2),
                               .classes = zeros(&pool, B * G * S * S), .B = B, .G = G, .K = K,
                               .S = S, .p = p};
    for (int i = 0; i < B * G * S * S; i++) c.classes[i] = (float)rng_below(&rng, K);
    if (masked) c.token_mask = random_token_mask(&pool, B, g);
    float *dlogits = grad_buffer(&pool, logits);
    pixel_crossentropy_backward(dlogits, c.logits, c.classes, c.token_mask, B, G, K, S, p);
    Wrt wrt[] = {{"logits", c.logits, dlogits, logits, 0}};
    char op[96];
    snprintf(op, sizeof op, "pixel_crossentropy G=%d K=%d (%s)", G, K,
             masked ? "masked" : "full image");
    check_gradients(op, pixel_crossentropy_objective, &c, wrt, 1, 2 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *x, *pos, *R;
    int B, N, D;
} PositionCase;

static double add_position_objective(const void *ctx)
{
    const PositionCase *c = ctx;
    size_t n = (size_t)c->B * c->N * c->D;
    memcpy(c->out, c->x, n * sizeof(float)); // the op adds in place
    add_position_forward(c->out, c->pos, c->B, c->N, c->D);
    return dot(c->out, c->R, n);
}

static void test_add_position(void)
{
    Pool pool = {0};
    int B = 3, N = 5, D = 4;
    PositionCase c = {.out = zeros(&pool, B * N * D), .x = randn(&pool, B * N * D, 0, 1),
                      .pos = randn(&pool, N * D, 0, 1), .R = randn(&pool, B * N * D, 0, 1),
                      .B = B, .N = N, .D = D};
    float *dpos = grad_buffer(&pool, N * D);
    add_position_backward(dpos, c.R, B, N, D);
    // The gradient of x is dout itself.
    Wrt wrt[] = {{"pos", c.pos, dpos, N * D, 1}, {"x", c.x, c.R, B * N * D, 0}};
    check_gradients("add_position", add_position_objective, &c, wrt, 2, 2 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *probs, *logits;
    int *labels;
    float smoothing;
    int B, K;
} CrossEntropyCase;

static double crossentropy_objective(const void *ctx)
{
    const CrossEntropyCase *c = ctx;
    return crossentropy_forward(c->probs, c->logits, c->labels, c->smoothing, c->B, c->K);
}

static void test_crossentropy(void)
{
    Pool pool = {0};
    int B = 4, K = 5;
    CrossEntropyCase c = {.probs = zeros(&pool, B * K), .logits = randn(&pool, B * K, 0, 2),
                          .labels = pool_alloc(&pool, B * sizeof(int)), .smoothing = 0.1f,
                          .B = B, .K = K};
    for (int b = 0; b < B; b++) c.labels[b] = (int)rng_below(&rng, K);
    float *dlogits = grad_buffer(&pool, B * K);
    crossentropy_objective(&c);
    crossentropy_backward(dlogits, c.probs, c.labels, c.smoothing, B, K);
    Wrt wrt[] = {{"logits", c.logits, dlogits, B * K, 0}};
    check_gradients("crossentropy (smoothing 0.1)", crossentropy_objective, &c, wrt, 1, B * K);
    pool_free(&pool);
}

// ---------------------------------------------------------------------------------------------
// End to end: model_backward against central differences of the model's loss. The objective
// is the loss recomputed in double from the model's output (pred or logits) by docs/job-spec.md's
// formula: model_forward returns it rounded to float, and that rounding (~1e-7 of a loss
// near 2) divided by 2h would be several tenths of a percent of the small gradients that
// reach the first layers. Both values are also compared.

typedef struct {
    Model *m;
    const Batch *batch;
} ModelCase;

// SimMIM's loss of m->acts.pred [B, C', r, r]: the target is the images average-pooled to
// r×r; per target pixel and channel l1, l2 or smooth_l1, or (bins) the cross-entropy of the
// channel's K logits (channel c·K + k) at the bin of pixel = target·std + mean; over the masked
// pixels (those whose every patch is masked: the token mask upsampled by r / grid, or pooled
// where r is below the grid) or all of them, per channel. (The palette loss is checked against
// PyTorch in tests/golden, not here.)
static double reference_simmim_loss(const Model *m, const Batch *batch)
{
    const ModelConfig *cfg = &m->cfg;
    int B = batch->size, C = cfg->in_chans, S = cfg->img_size, g = model_grid(cfg);
    int r = simmim_target_resolution(cfg), f = S / r;
    int P = simmim_pred_channels(cfg), K = cfg->loss.bins, full = cfg->loss.full_image;
    double beta = cfg->loss.beta, sum = 0.0, weight = 0.0;
    if (cfg->loss.type == LOSS_PALETTE) {
        fprintf(stderr, "test_gradcheck: no reference for the palette loss\n");
        exit(2);
    }
    for (int b = 0; b < B; b++)
        for (int y = 0; y < r; y++)
            for (int x = 0; x < r; x++) {
                // the patches under target pixel (y, x): rows and columns [y·g/r, ⌈(y+1)·g/r⌉)
                double w = 1.0;
                for (int py = y * g / r; !full && py < ((y + 1) * g + r - 1) / r; py++)
                    for (int px = x * g / r; px < ((x + 1) * g + r - 1) / r; px++)
                        w = fmin(w, batch->token_mask[((size_t)b * g + py) * g + px]);
                weight += w;
                // channel k of the prediction at this pixel: pred[k·r·r]
                const float *pred = m->acts.pred + (size_t)b * P * r * r + (size_t)y * r + x;
                for (int c = 0; c < C; c++) {
                    double t = 0.0;
                    for (int i = 0; i < f; i++)
                        for (int j = 0; j < f; j++)
                            t += batch->images[(((size_t)b * C + c) * S + y * f + i) * S + x * f + j];
                    t /= f * f;
                    double loss;
                    if (cfg->loss.type == LOSS_BINS) {
                        double pixel = t * m->pixel_std[c] + m->pixel_mean[c];
                        int k = (int)fmin(fmax(floor(pixel * K), 0.0), K - 1.0);
                        double mx = -INFINITY, se = 0.0;
                        for (int j = 0; j < K; j++) mx = fmax(mx, pred[(size_t)(c * K + j) * r * r]);
                        for (int j = 0; j < K; j++) se += exp(pred[(size_t)(c * K + j) * r * r] - mx);
                        loss = mx + log(se) - pred[(size_t)(c * K + k) * r * r];
                    } else {
                        double d = pred[(size_t)c * r * r] - t;
                        loss = cfg->loss.type == LOSS_L2 ? d * d
                               : cfg->loss.type == LOSS_SMOOTH_L1 && fabs(d) < beta
                                   ? 0.5 * d * d / beta
                               : cfg->loss.type == LOSS_SMOOTH_L1 ? fabs(d) - 0.5 * beta
                                                                  : fabs(d);
                    }
                    sum += loss * w;
                }
            }
    return full ? sum / (weight * C) : sum / (weight + 1e-5) / C;
}

// Cross-entropy of m->acts.logits with label smoothing ε: (1−ε)·(−log p_y) + ε·mean_k(−log p_k).
static double reference_crossentropy(const Model *m, const Batch *batch)
{
    int K = m->cfg.num_classes;
    double eps = m->label_smoothing, loss = 0.0;
    for (int b = 0; b < batch->size; b++) {
        const float *z = m->acts.logits + (size_t)b * K;
        double mx = z[0], sum = 0.0, mean = 0.0;
        for (int k = 1; k < K; k++) mx = fmax(mx, z[k]);
        for (int k = 0; k < K; k++) sum += exp(z[k] - mx), mean += z[k] / (double)K;
        double lse = mx + log(sum);
        loss += (1.0 - eps) * (lse - z[batch->labels[b]]) + eps * (lse - mean);
    }
    return loss / batch->size;
}

static double reference_loss(const Model *m, const Batch *batch)
{
    return m->cfg.num_classes ? reference_crossentropy(m, batch) : reference_simmim_loss(m, batch);
}

static double model_objective(const void *ctx)
{
    const ModelCase *c = ctx;
    model_forward(c->m, c->batch);
    return reference_loss(c->m, c->batch);
}

// Initialises the weights, then adds noise to every parameter so that no gradient is
// degenerate (zero biases, LayerNorm at 1/0, a head at 2e-5 would hide mistakes).
static void randomize_params(Model *m, double noise)
{
    model_init_weights(m, &rng);
    for (size_t i = 0; i < m->num_params; i++)
        m->params_mem[i] += (float)(noise * rng_normal(&rng));
}

// Checks the model's loss against the reference and its gradient of each named parameter
// (a NULL-terminated list) against central differences.
static void gradcheck_model(const char *what, Model *m, const Batch *batch,
                            const char *const *names)
{
    ModelCase c = {m, batch};
    char name[160];
    for (size_t i = 0; i < m->num_params; i++) m->grads_mem[i] = PREV; // model_backward accumulates
    float loss = model_forward(m, batch);
    double ref = reference_loss(m, batch);
    snprintf(name, sizeof name, "%s: loss matches docs/job-spec.md's formula", what);
    test_report(fabs(loss - ref) <= 1e-6 * fabs(ref), name, "%.8g vs %.8g", loss, ref);
    model_backward(m);
    // Copy the gradient: the numeric forwards leave m's activations at the perturbed points.
    float *grads = malloc(m->num_params * sizeof(float));
    if (!grads) exit(2);
    memcpy(grads, m->grads_mem, m->num_params * sizeof(float));
    for (; *names; names++) {
        const ParamInfo *p = model_find_param(m, *names);
        if (!p) {
            snprintf(name, sizeof name, "%s: d/d%s", what, *names);
            test_report(0, name, "no such parameter");
            continue;
        }
        Wrt wrt = {p->name, m->params_mem + p->offset, grads + p->offset, p->numel, 1};
        check_gradients(what, model_objective, &c, &wrt, 1, MODEL_SAMPLE);
    }
    free(grads);
}

static ModelConfig tiny_config(int depth, int num_classes, float drop_path)
{
    return (ModelConfig){.img_size = 8, .patch_size = 2, .in_chans = 2, .embed_dim = 8,
                         .depth = depth, .num_heads = 2, .mlp_ratio = 2.0,
                         .num_classes = num_classes, .drop_path = drop_path,
                         .decoder = decoder_config_default(), .loss = loss_config_default()};
}

// The images of a pretraining check, normalized as the model's pixel_mean and pixel_std say:
// l1: of magnitude 2..3, far from any prediction, so the L1 kink is never crossed; bins: each
// pixel a quarter of a bin or more from the edges of its bin, so that no target pixel is near
// a change of class; otherwise N(0, 1).
static void pretrain_images(float *images, const Model *m, int B)
{
    const ModelConfig *cfg = &m->cfg;
    int C = cfg->in_chans, S = cfg->img_size, K = cfg->loss.bins;
    for (int i = 0; i < B * C * S * S; i++) {
        int c = i / (S * S) % C;
        if (cfg->loss.type == LOSS_L1)
            images[i] = (float)((rng_below(&rng, 2) ? 1 : -1) * (2.0 + rng_uniform(&rng)));
        else if (cfg->loss.type == LOSS_BINS)
            images[i] = (float)(((rng_below(&rng, K) + 0.25 + 0.5 * rng_uniform(&rng)) / K -
                                 m->pixel_mean[c]) / m->pixel_std[c]);
        else
            images[i] = (float)rng_normal(&rng);
    }
}

// A pretraining model of cfg against finite differences, for the parameters named.
static void test_model_pretrain_masked(const char *what, ModelConfig cfg, const char *const *names,
                                       MaskConfig mask)
{
    int B = 2, N = model_num_patches(&cfg), pixels = B * cfg.in_chans * cfg.img_size * cfg.img_size;
    char err[256], name[160];
    Model m;
    if (model_create(&m, &cfg, B, err, sizeof err)) {
        snprintf(name, sizeof name, "%s: create", what);
        test_report(0, name, "%s", err);
        return;
    }
    for (int c = 0; c < cfg.in_chans; c++) m.pixel_mean[c] = 0.3f, m.pixel_std[c] = 0.35f - 0.05f * c;
    randomize_params(&m, 0.1);
    float *images = malloc(pixels * sizeof(float)), *token_mask = malloc(N * B * sizeof(float));
    if (!images || !token_mask) exit(2);
    pretrain_images(images, &m, B);
    simmim_mask(token_mask, B, &mask, &cfg, &rng);
    Batch batch = {.size = B, .images = images, .token_mask = token_mask};
    model_forward(&m, &batch);
    if (cfg.loss.type == LOSS_L1) { // at full resolution: the target is the images
        double margin = INFINITY;
        for (int i = 0; i < pixels; i++) margin = fmin(margin, fabs(m.acts.pred[i] - images[i]));
        snprintf(name, sizeof name, "%s: |x - pred| stays away from the L1 kink", what);
        test_report(margin > 0.5, name, "smallest gap %.3g", margin);
    }
    gradcheck_model(what, &m, &batch, names);
    free(images);
    free(token_mask);
    model_free(&m);
}

static void test_model_pretrain(const char *what, ModelConfig cfg, const char *const *names)
{
    test_model_pretrain_masked(what, cfg, names, (MaskConfig){.mask_patch_size = 4, .ratio = 0.5});
}

static void test_model_pretrain_default(void)
{
    const char *names[] = {"patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token",
                           "pos_embed", "mask_token", "blocks.0.norm1.weight",
                           "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias",
                           "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.bias",
                           "blocks.1.norm2.bias",
                           "norm.weight", "norm.bias", "decoder.0.weight", "decoder.0.bias", NULL};
    test_model_pretrain("model (pretrain, token mask)", tiny_config(2, 0, 0.0f), names);
}

// The other heads: an MLP decoder (hidden 12 ≠ D = 8) with l2 at r = T (one target pixel per
// token, the image pooled 2×2); a transformer decoder (E = 12 with 3 heads beside D = 8 with 2)
// with l1 at full resolution; the linear decoder with 4 bins per channel.
static void test_model_heads(void)
{
    ModelConfig mlp = tiny_config(2, 0, 0.0f);
    mlp.decoder.type = DECODER_MLP, mlp.decoder.hidden = 12;
    mlp.loss.type = LOSS_L2, mlp.target_resolution = 4;
    const char *mlp_names[] = {"decoder.fc1.weight", "decoder.fc1.bias", "decoder.fc2.weight",
                               "decoder.fc2.bias", "norm.weight", "blocks.1.mlp.fc2.weight",
                               "mask_token", "patch_embed.proj.weight", NULL};
    test_model_pretrain("model (pretrain, mlp decoder, l2, r = T)", mlp, mlp_names);

    ModelConfig tr = tiny_config(2, 0, 0.0f);
    tr.decoder = (DecoderConfig){.type = DECODER_TRANSFORMER, .depth = 2, .embed_dim = 12,
                                 .num_heads = 3};
    const char *tr_names[] = {"decoder.embed.weight", "decoder.embed.bias", "decoder.pos_embed",
                              "decoder.blocks.0.norm1.weight", "decoder.blocks.0.attn.qkv.weight",
                              "decoder.blocks.0.mlp.fc2.bias", "decoder.blocks.1.attn.proj.bias",
                              "decoder.blocks.1.mlp.fc1.weight", "decoder.blocks.1.norm2.bias",
                              "decoder.norm.weight", "decoder.norm.bias", "decoder.pred.weight",
                              "decoder.pred.bias", "norm.bias", "blocks.1.attn.qkv.weight",
                              "mask_token", "patch_embed.proj.weight", NULL};
    test_model_pretrain("model (pretrain, transformer decoder)", tr, tr_names);

    ModelConfig bins = tiny_config(2, 0, 0.0f);
    bins.loss.type = LOSS_BINS, bins.loss.bins = 4;
    const char *bins_names[] = {"decoder.0.weight", "decoder.0.bias", "norm.weight",
                                "blocks.1.mlp.fc2.weight", "blocks.0.attn.qkv.bias", "mask_token",
                                "patch_embed.proj.weight", NULL};
    test_model_pretrain("model (pretrain, bins 4)", bins, bins_names);
}

// A classifier of cfg (5 classes, drop path) against finite differences, for the parameters
// named; some drop-path decisions drop.
static void test_model_classifier_of(const char *what, ModelConfig cfg, const char *const *names)
{
    int B = 3, pixels = B * cfg.in_chans * cfg.img_size * cfg.img_size;
    int blocks = model_total_blocks(&cfg);
    char err[256], name[160];
    Model m;
    if (model_create(&m, &cfg, B, err, sizeof err)) {
        snprintf(name, sizeof name, "%s: create", what);
        test_report(0, name, "%s", err);
        return;
    }
    m.label_smoothing = 0.1f;
    randomize_params(&m, 0.1);
    float *images = malloc(pixels * sizeof(float));
    float *drop_keep = malloc(blocks * 2 * B * sizeof(float));
    int labels[3] = {4, 0, 2};
    if (!images || !drop_keep) exit(2);
    for (int i = 0; i < pixels; i++) images[i] = (float)rng_normal(&rng);
    for (int i = 0; i < blocks * 2 * B; i++) drop_keep[i] = (float)(i % 4 != 3); // some dropped
    Batch batch = {.size = B, .images = images, .labels = labels, .drop_keep = drop_keep};
    gradcheck_model(what, &m, &batch, names);
    free(images);
    free(drop_keep);
    model_free(&m);
}

static void test_model_classifier(void)
{
    // Block 1 (rate 0.1) and block 2 (rate 0.2) have dropped and kept samples; block 0 rate 0.
    const char *names[] = {"patch_embed.proj.weight", "cls_token", "pos_embed",
                           "blocks.0.attn.qkv.weight", "blocks.1.attn.proj.weight",
                           "blocks.1.mlp.fc2.weight", "blocks.2.attn.qkv.bias",
                           "blocks.2.norm2.weight",
                           "fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias", NULL};
    test_model_classifier_of("model (classifier, drop path, smoothing)", tiny_config(3, 5, 0.2f),
                             names);
}

// ---------------------------------------------------------------------------------------------
// Swin's ops (window.c) and the whole Swin model (issue 28).

typedef struct {
    float *out, *x, *R;
    int B, G, W, shift, D, reverse;
} WindowCase;

static double window_objective(const void *ctx)
{
    const WindowCase *c = ctx;
    if (c->reverse)
        window_reverse_forward(c->out, c->x, c->B, c->G, c->W, c->shift, c->D);
    else
        window_partition_forward(c->out, c->x, c->B, c->G, c->W, c->shift, c->D);
    return dot(c->out, c->R, (size_t)c->B * c->G * c->G * c->D);
}

// The cyclic roll with the window partition, and the inverse, on a 6×6 grid of 3×3 windows:
// shift 0 (the partition alone) and 1 (the roll crosses the grid's edge).
static void test_window_partition(int shift, int reverse)
{
    Pool pool = {0};
    int B = 2, G = 6, W = 3, D = 3, n = B * G * G * D;
    WindowCase c = {.out = zeros(&pool, n), .x = randn(&pool, n, 0, 1), .R = randn(&pool, n, 0, 1),
                    .B = B, .G = G, .W = W, .shift = shift, .D = D, .reverse = reverse};
    float *dx = grad_buffer(&pool, n);
    if (reverse)
        window_reverse_backward(dx, c.R, B, G, W, shift, D);
    else
        window_partition_backward(dx, c.R, B, G, W, shift, D);
    Wrt wrt[] = {{"x", c.x, dx, n, 0}};
    char op[64];
    snprintf(op, sizeof op, "window %s (shift %d)", reverse ? "reverse" : "partition", shift);
    check_gradients(op, window_objective, &c, wrt, 1, 3 * MAX_SAMPLE);
    pool_free(&pool);
}

// The roll is torch.roll's: row n of window w holds grid cell ((wy·W + iy + s) mod G,
// (wx·W + ix + s) mod G); and the reverse undoes the partition.
static void test_window_layout(void)
{
    int B = 1, G = 4, W = 2, shift = 1, D = 1, n = G * G;
    float x[16], win[16], back[16];
    for (int i = 0; i < n; i++) x[i] = (float)i;
    window_partition_forward(win, x, B, G, W, shift, D);
    // window 0 = cells (1,1) (1,2) (2,1) (2,2); window 3 wraps: (3,3) (3,0) (0,3) (0,0)
    static const float expect[16] = {5, 6, 9, 10, 7, 4, 11, 8, 13, 14, 1, 2, 15, 12, 3, 0};
    window_reverse_forward(back, win, B, G, W, shift, D);
    test_report(memcmp(win, expect, sizeof win) == 0 && memcmp(back, x, sizeof x) == 0,
                "window partition with shift 1 is torch.roll(-1) then the windows; reverse undoes "
                "it", "window 3 holds %g %g %g %g", win[12], win[13], win[14], win[15]);
}

// The shifted windows' mask of an 4×4 grid in 2×2 windows shifted by 1: window 0 lies in one
// region (all 0), window 3 holds four regions (−100 off the diagonal).
static void test_shifted_window_mask(void)
{
    float mask[4 * 16];
    shifted_window_mask(mask, 4, 2, 1);
    int zeros0 = 0, zeros3 = 0;
    for (int i = 0; i < 16; i++) zeros0 += mask[i] == 0.0f, zeros3 += mask[48 + i] == 0.0f;
    test_report(zeros0 == 16 && zeros3 == 4 && mask[48 + 1] == -100.0f,
                "shifted window mask: one region in window 0, four in the corner window",
                "zeros %d and %d of 16", zeros0, zeros3);
}

typedef struct {
    float *out, *att, *scratch, *qkv, *table, *bias, *mask, *R;
    int B, W, D, H, masks;
} WindowAttentionCase;

static double window_attention_objective(const void *ctx)
{
    const WindowAttentionCase *c = ctx;
    int T = c->W * c->W;
    relative_bias_forward(c->bias, c->table, c->W, c->H);
    attention_forward(c->out, c->att, c->scratch, ops_threads(), c->qkv, c->bias, c->mask,
                      c->masks, c->B, T, c->D, c->H);
    return dot(c->out, c->R, (size_t)c->B * T * c->D);
}

// Window attention with the relative position bias gathered from its table and the shifted
// mask: d/dqkv, and d/dtable through attention_backward's score gradients scattered by
// relative_bias_backward (3×3 windows, 2 images of a 6×6 grid rolled by 1: 8 sequences).
static void test_window_attention(void)
{
    Pool pool = {0};
    int W = 3, T = W * W, G = 6, masks = (G / W) * (G / W), B = 2 * masks, D = 8, H = 2;
    int table = (2 * W - 1) * (2 * W - 1) * H;
    WindowAttentionCase c = {
        .out = zeros(&pool, B * T * D), .att = zeros(&pool, B * H * T * T),
        .scratch = zeros(&pool, ops_threads() * attention_scratch_floats(T, D / H)),
        .qkv = randn(&pool, B * T * 3 * D, 0, 1), .table = randn(&pool, table, 0, 1),
        .bias = zeros(&pool, H * T * T), .mask = zeros(&pool, masks * T * T),
        .R = randn(&pool, B * T * D, 0, 1), .B = B, .W = W, .D = D, .H = H, .masks = masks};
    shifted_window_mask(c.mask, G, W, 1);
    float *dqkv = grad_buffer(&pool, B * T * 3 * D), *dtable = grad_buffer(&pool, table);
    float *dscores = zeros(&pool, B * H * T * T);
    window_attention_objective(&c);
    attention_backward(dqkv, dscores, c.scratch, ops_threads(), c.R, c.qkv, c.att, B, T, D, H);
    relative_bias_backward(dtable, dscores, B, W, H);
    Wrt wrt[] = {{"qkv", c.qkv, dqkv, B * T * 3 * D, 0},
                 {"relative_position_bias_table", c.table, dtable, table, 1}};
    check_gradients("window attention (relative bias, shifted mask)", window_attention_objective,
                    &c, wrt, 2, 3 * MAX_SAMPLE);
    pool_free(&pool);
}

typedef struct {
    float *out, *x, *R;
    int B, G, D;
} MergeCase;

static double patch_merge_objective(const void *ctx)
{
    const MergeCase *c = ctx;
    patch_merge_forward(c->out, c->x, c->B, c->G, c->D);
    return dot(c->out, c->R, (size_t)c->B * c->G * c->G * c->D);
}

static void test_patch_merge(void)
{
    Pool pool = {0};
    int B = 2, G = 4, D = 3, n = B * G * G * D;
    MergeCase c = {.out = zeros(&pool, n), .x = randn(&pool, n, 0, 1), .R = randn(&pool, n, 0, 1),
                   .B = B, .G = G, .D = D};
    float *dx = grad_buffer(&pool, n);
    patch_merge_backward(dx, c.R, B, G, D);
    Wrt wrt[] = {{"x", c.x, dx, n, 0}};
    check_gradients("patch merge", patch_merge_objective, &c, wrt, 1, 3 * MAX_SAMPLE);
    // timm's order: [x(0,0) | x(1,0) | x(0,1) | x(1,1)] of each 2×2 neighbourhood, (row, column)
    float grid[16], merged[16];
    for (int i = 0; i < 16; i++) grid[i] = (float)i;
    patch_merge_forward(merged, grid, 1, 4, 1);
    static const float expect[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
    test_report(memcmp(merged, expect, sizeof merged) == 0,
                "patch merge concatenates x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]",
                "first row %g %g %g %g", merged[0], merged[1], merged[2], merged[3]);
    pool_free(&pool);
}

// A tiny Swin: img 16, patch 2, 2 channels, embed 8, depths [2, 2], heads [2, 2], window 4:
// stage grids 8 (four windows, block 1 shifted by 2) and 4 (one window); ape and patch_norm.
static ModelConfig tiny_swin_config(int num_classes, float drop_path)
{
    return (ModelConfig){.arch = ARCH_SWIN, .img_size = 16, .patch_size = 2, .in_chans = 2,
                         .embed_dim = 8, .num_stages = 2, .num_stage_heads = 2, .depths = {2, 2},
                         .stage_heads = {2, 2}, .window_size = 4, .ape = 1, .patch_norm = 1,
                         .mlp_ratio = 2.0, .num_classes = num_classes, .drop_path = drop_path,
                         .decoder = decoder_config_default(), .loss = loss_config_default()};
}

static void test_model_swin(void)
{
    const char *pretrain[] = {"patch_embed.proj.weight", "patch_embed.norm.weight",
                              "absolute_pos_embed", "mask_token",
                              "layers.0.blocks.0.attn.relative_position_bias_table",
                              "layers.0.blocks.1.attn.relative_position_bias_table",
                              "layers.0.blocks.1.attn.qkv.weight", "layers.0.blocks.1.norm1.bias",
                              "layers.1.downsample.norm.weight", "layers.1.downsample.norm.bias",
                              "layers.1.downsample.reduction.weight",
                              "layers.1.blocks.0.attn.relative_position_bias_table",
                              "layers.1.blocks.1.mlp.fc2.weight", "norm.weight",
                              "decoder.0.weight", NULL};
    // l2: a Swin's predictions come close enough to the L1 check's images to cross its kink
    ModelConfig cfg = tiny_swin_config(0, 0.0f);
    cfg.loss.type = LOSS_L2;
    test_model_pretrain("model (swin pretrain, token mask, l2)", cfg, pretrain);
    const char *finetune[] = {"patch_embed.proj.bias", "absolute_pos_embed",
                              "layers.0.blocks.1.attn.relative_position_bias_table",
                              "layers.0.blocks.1.mlp.fc1.weight", "layers.1.downsample.reduction.weight",
                              "layers.1.blocks.1.attn.proj.weight", "norm.weight", "norm.bias",
                              "head.fc.weight", "head.fc.bias", NULL};
    test_model_classifier_of("model (swin classifier, drop path, smoothing)",
                             tiny_swin_config(5, 0.2f), finetune);
}

// A Swin's target below its patch grid (the study presets' resolutions from T): r = T = 4 on
// the 8×8 patch grid, each target pixel over 2×2 patches. Masked patch by patch (mask cells of
// one patch, 80% of them), a target pixel's patches differ, and it counts as masked only when
// all four are — a mask the spec refuses with this target (mask_config_validate: it would
// hardly ever cover a target pixel), and the one that tells that rule from another pooling.
static void test_model_swin_coarse_target(void)
{
    ModelConfig cfg = tiny_swin_config(0, 0.0f);
    cfg.loss.type = LOSS_L2, cfg.target_resolution = 4;
    const char *names[] = {"patch_embed.proj.weight", "mask_token", "layers.0.blocks.1.attn.qkv.weight",
                           "layers.1.downsample.reduction.weight", "layers.1.blocks.1.mlp.fc2.weight",
                           "norm.weight", "decoder.0.weight", "decoder.0.bias", NULL};
    test_model_pretrain_masked("model (swin pretrain, r = T = 4 below the 8×8 patch grid, l2)", cfg,
                               names, (MaskConfig){.mask_patch_size = 2, .ratio = 0.8});
}

int main(void)
{
    ops_set_threads(2);
    rng_seed(&rng, 20240611);
    test_matmul();
    test_matmul_weight_grad_parts(3000);
    test_matmul_weight_grad_parts(20000);
    test_patch_embed();
    test_embed(1);
    test_embed(0);
    test_layernorm();
    test_attention();
    test_gelu();
    test_residual();
    test_token_op(0);
    test_token_op(1);
    test_pixel_shuffle();
    test_regression_loss(REGRESSION_L1, 1);
    test_regression_loss(REGRESSION_L1, 0);
    test_crossentropy();
    test_model_pretrain_default();
    test_model_classifier();
    // Every test draws from the one stream, so a new test goes last: the draws before it, and
    // the margins the model checks above were set up with, stay as they were.
    test_layernorm_apply(5, 24);
    test_layernorm_apply(300, 131);
    // The SimMIM head's choices (issue 25).
    test_regression_loss(REGRESSION_L2, 1);
    test_regression_loss(REGRESSION_L2, 0);
    test_regression_loss(REGRESSION_SMOOTH_L1, 1);
    test_regression_loss(REGRESSION_SMOOTH_L1, 0);
    test_pixel_crossentropy(3, 4, 1); // bins: a group per channel
    test_pixel_crossentropy(3, 4, 0);
    test_pixel_crossentropy(1, 6, 1); // palette: one group
    test_pixel_crossentropy(1, 6, 0);
    test_add_position();
    test_model_heads();
    // Swin (issue 28).
    test_window_partition(0, 0);
    test_window_partition(1, 0);
    test_window_partition(1, 1);
    test_window_layout();
    test_shifted_window_mask();
    test_window_attention();
    test_patch_merge();
    test_model_swin();
    test_model_swin_coarse_target();
    TEST_EXIT();
}
