// attention_forward and attention_backward against a direct double-precision evaluation of
// softmax(q·kᵀ/√hd)·v and its gradient, at shapes that exercise every edge of the blocked
// kernel in core/ops/attention.c: token counts that leave partial row blocks, partial vectors and
// partial 8 × 8 transpose tiles, and head widths that are and are not whole vectors.
#include <math.h>
#include <stdlib.h>

#include "base/rng.h"
#include "ops/ops.h"
#include "test.h"

typedef struct {
    int B, T, D, H;
} Shape;

static float *random_floats(Rng *rng, size_t n)
{
    float *x = malloc(sizeof(float) * n);
    if (!x) exit(2);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(rng);
    return x;
}

// Reference for one (image, head): out and dqkv of that head, in double.
static void reference_head(double *out, double *dq, double *dk, double *dv, const float *qkv,
                           const float *dout, int b, int h, const Shape *s)
{
    int T = s->T, D = s->D, hd = D / s->H;
    double scale = 1.0 / sqrt(hd);
    double *p = calloc((size_t)T * T, sizeof *p), *dp = calloc((size_t)T * T, sizeof *dp);
    if (!p || !dp) exit(2);
#define Q(t, d) qkv[((size_t)b * T + (t)) * 3 * D + h * hd + (d)]
#define K(t, d) qkv[((size_t)b * T + (t)) * 3 * D + D + h * hd + (d)]
#define V(t, d) qkv[((size_t)b * T + (t)) * 3 * D + 2 * D + h * hd + (d)]
#define DY(t, d) dout[((size_t)b * T + (t)) * D + h * hd + (d)]
    for (int i = 0; i < T; i++) {
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < T; j++) {
            double z = 0.0;
            for (int d = 0; d < hd; d++) z += (double)Q(i, d) * K(j, d);
            p[i * T + j] = z * scale;
            mx = fmax(mx, z * scale);
        }
        for (int j = 0; j < T; j++) sum += p[i * T + j] = exp(p[i * T + j] - mx);
        for (int j = 0; j < T; j++) p[i * T + j] /= sum;
    }
    for (int i = 0; i < T; i++)
        for (int d = 0; d < hd; d++) {
            double o = 0.0, g = 0.0;
            for (int j = 0; j < T; j++) o += p[i * T + j] * V(j, d), g += p[j * T + i] * DY(j, d);
            out[i * hd + d] = o;
            dv[i * hd + d] = g;
        }
    for (int i = 0; i < T; i++) {
        double dot = 0.0;
        for (int j = 0; j < T; j++) {
            double g = 0.0;
            for (int d = 0; d < hd; d++) g += (double)DY(i, d) * V(j, d);
            dp[i * T + j] = g;
            dot += g * p[i * T + j];
        }
        for (int j = 0; j < T; j++) dp[i * T + j] = p[i * T + j] * (dp[i * T + j] - dot) * scale;
    }
    for (int i = 0; i < T; i++)
        for (int d = 0; d < hd; d++) {
            double gq = 0.0, gk = 0.0;
            for (int j = 0; j < T; j++) gq += dp[i * T + j] * K(j, d), gk += dp[j * T + i] * Q(j, d);
            dq[i * hd + d] = gq;
            dk[i * hd + d] = gk;
        }
#undef Q
#undef K
#undef V
#undef DY
    free(p);
    free(dp);
}

// Largest |ours − reference| over the largest |reference| of one head's block.
typedef struct {
    double err, ref;
} Deviation;

static void compare(Deviation *dev, const float *ours, long ld, const double *ref, int T, int hd)
{
    for (int t = 0; t < T; t++)
        for (int d = 0; d < hd; d++) {
            dev->err = fmax(dev->err, fabs(ours[t * ld + d] - ref[t * hd + d]));
            dev->ref = fmax(dev->ref, fabs(ref[t * hd + d]));
        }
}

static void check_attention_shape(const Shape *s, Rng *rng)
{
    int B = s->B, T = s->T, D = s->D, H = s->H, hd = D / H, threads = ops_threads();
    size_t BT = (size_t)B * T;
    float *qkv = random_floats(rng, BT * 3 * D), *dout = random_floats(rng, BT * D);
    float *out = calloc(BT * D, sizeof(float)), *dqkv = calloc(BT * 3 * D, sizeof(float));
    float *att = calloc((size_t)B * H * T * T, sizeof(float));
    float *scratch = calloc(threads * attention_scratch_floats(T, hd), sizeof(float));
    double *ref = malloc(sizeof(double) * 4 * T * hd);
    if (!out || !dqkv || !att || !scratch || !ref) exit(2);
    attention_forward(out, att, scratch, threads, qkv, NULL, NULL, 0, B, T, D, H);
    attention_backward(dqkv, NULL, scratch, threads, dout, qkv, att, B, T, D, H);
    Deviation fwd = {0}, bwd = {0};
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            double *r_out = ref, *r_dq = ref + T * hd, *r_dk = r_dq + T * hd, *r_dv = r_dk + T * hd;
            reference_head(r_out, r_dq, r_dk, r_dv, qkv, dout, b, h, s);
            const float *g = dqkv + (size_t)b * T * 3 * D + h * hd;
            compare(&fwd, out + (size_t)b * T * D + h * hd, D, r_out, T, hd);
            compare(&bwd, g, 3 * D, r_dq, T, hd);
            compare(&bwd, g + D, 3 * D, r_dk, T, hd);
            compare(&bwd, g + 2 * D, 3 * D, r_dv, T, hd);
        }
    char name[96];
    snprintf(name, sizeof name, "attention B=%d T=%d heads=%d head dim=%d", B, T, H, hd);
    test_report(fwd.err <= 1e-5 * fwd.ref, name, "output: max |diff| %.2e vs max |ref| %.3g",
                fwd.err, fwd.ref);
    test_report(bwd.err <= 1e-5 * bwd.ref, name, "dq, dk, dv: max |diff| %.2e vs max |ref| %.3g",
                bwd.err, bwd.ref);
    free(qkv), free(dout), free(out), free(dqkv), free(att), free(scratch), free(ref);
}

int main(void)
{
    Shape shapes[] = {
        {2, 7, 12, 3},   // fewer tokens than a row block or a transpose tile, head dim 4
        {2, 17, 32, 4},  // the golden tests' shape: head dim 8, two tiles and a spare token
        {3, 65, 128, 4}, // fmnist-q
        {1, 50, 36, 3},  // head dim 12: whole vector plus half of one, copied operands
        {1, 197, 192, 3} // vit-t16-224: head dim 64
    };
    Rng rng;
    rng_seed(&rng, 11);
    ops_set_threads(2);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        check_attention_shape(&shapes[i], &rng);
    TEST_EXIT();
}
