// The layer operations; see ops.h for shapes. Work splits over OpenMP threads by rows (and
// reductions over rows by output columns, or into a fixed number of row parts added in
// order), so each output element is computed in a fixed order and results do not depend on
// the thread count.
#include "ops/ops.h"
#include "ops/matmul_bf16.h"
#include "ops/vecmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/nearest.h"

void ops_set_threads(int threads)
{
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(1);
}

int ops_threads(void) { return omp_get_max_threads(); }

static Precision precision = PRECISION_FP32;

int ops_set_precision(Precision p, char *err, size_t errlen)
{
    if (cpu_precision_available(p, err, errlen)) return -1;
    if (p == PRECISION_BF16) bf16_use_engine(cpu_bf16_engine());
    precision = p;
    return 0;
}

Precision ops_precision(void) { return precision; }

const char *ops_precision_engine(void)
{
    return precision == PRECISION_BF16 ? cpu_bf16_engine_name(bf16_engine()) : "openblas";
}

// The bf16 products' packed operands: a product's packed weight, shared by the threads, then
// each thread's own packing space. Grown by matmul_reserve (model_create reserves every shape
// the model multiplies), so a training step never allocates.
static uint16_t *bf16_work;
static size_t bf16_work_elems;

static size_t bf16_shared_elems(long K, long N) { return (size_t)bf16_padded(K) * bf16_padded(N); }

static size_t bf16_thread_elems(long K, long N)
{
    size_t rows = (size_t)BF16_BLOCK * (bf16_padded(K) > bf16_padded(N) ? bf16_padded(K) : bf16_padded(N));
    size_t transposed = bf16_transposed_work_elems((int)N, (int)K);
    return rows > transposed ? rows : transposed;
}

int matmul_reserve(long K, long N)
{
    if (precision != PRECISION_BF16) return 0;
    size_t need = bf16_shared_elems(K, N) + (size_t)ops_threads() * bf16_thread_elems(K, N);
    if (need <= bf16_work_elems) return 0;
    uint16_t *grown = aligned_alloc(64, (need * sizeof(uint16_t) + 63) / 64 * 64);
    if (!grown) return -1;
    free(bf16_work);
    bf16_work = grown, bf16_work_elems = need;
    return 0;
}

// The packing space of a product of this shape: reserved already in a model's step.
static uint16_t *bf16_workspace(long K, long N)
{
    if (matmul_reserve(K, N)) {
        fprintf(stderr, "simmim: out of memory for the bf16 packing space\n");
        abort();
    }
    return bf16_work;
}

static uint16_t *bf16_thread_work(long K, long N)
{
    return bf16_work + bf16_shared_elems(K, N) + (size_t)omp_get_thread_num() * bf16_thread_elems(K, N);
}

// The boundary between part t − 1 and part t of n items cut into `parts`: t/parts of the
// way, rounded to the nearest multiple of `align` (0 and n at the ends).
static long share_boundary(long n, long align, int t, int parts)
{
    if (t >= parts) return n;
    long at = (n * t / parts + align / 2) / align * align;
    return at < n ? at : n;
}

// The share [*begin, *end) of n items that the calling thread owns when the first `sharers`
// threads share them (the others get none), its boundaries on multiples of `align`.
static void share_among(long n, long align, int sharers, long *begin, long *end)
{
    int tid = omp_get_thread_num();
    *begin = tid < sharers ? share_boundary(n, align, tid, sharers) : n;
    *end = tid < sharers ? share_boundary(n, align, tid + 1, sharers) : n;
}

static void thread_share(long n, long *begin, long *end)
{
    share_among(n, 1, omp_get_num_threads(), begin, end);
}

// OpenBLAS rounds a row of a product (a column, in its column-major view) differently
// depending on its place in the blocks of 12 it packs (3 × the ZEN kernels' unroll of 4);
// products split between threads at multiples of 12 round every element as one call does.
// And its AVX-512 kernels (SkylakeX, Cooper Lake) multiply small products — M·N·K up to 10⁶ —
// with other kernels that round differently, so a part must not be small where the whole is
// not: a product of `rows` rows of M·N·K = rows · other shares between at most as many
// threads as leave each part above twice that bound (the margin for the parts' rounding to 12).
// So results do not depend on the thread count (tests/unit/model/test_threads.c).
enum { MATMUL_SPLIT_ALIGN = 12 };
#define OPENBLAS_SMALL_PRODUCT 2e6

static void product_share(long rows, double other, long *begin, long *end)
{
    double fit = (double)rows * other / OPENBLAS_SMALL_PRODUCT;
    int threads = omp_get_num_threads(), sharers = fit < 1 ? 1 : fit < threads ? (int)fit : threads;
    share_among(rows, MATMUL_SPLIT_ALIGN, sharers, begin, end);
}

// Parameter gradients are sums over rows. The rows split into a fixed number of parts,
// whatever the thread count (so results do not depend on it), each part summed by one
// thread while its rows are in cache, and the parts added in order at the end.
enum { ROW_PARTS = 8, MIN_PART_ROWS = 1024 };

// How many row parts a weight gradient over M rows sums: fewer for short products, where a
// part would be too small to pay for its packing.
static int weight_grad_parts(long M)
{
    long parts = M / MIN_PART_ROWS;
    return parts < 1 ? 1 : parts > ROW_PARTS ? ROW_PARTS : (int)parts;
}

size_t matmul_backward_scratch_floats(long M, long K, long N)
{
    return (size_t)(weight_grad_parts(M) - 1) * N * K;
}

// sums[c0..c1) += the column sums of x[R, N], in row order. A block of columns is summed in
// registers: accumulating straight into sums (which may alias x, as far as the compiler knows)
// stored and reloaded every element.
static void add_column_sums(float *sums, const float *x, long R, int N, long c0, long c1)
{
    enum { BLOCK = 32 };
    for (long c = c0; c < c1; c += BLOCK) {
        int n = c1 - c < BLOCK ? (int)(c1 - c) : BLOCK;
        float acc[BLOCK] = {0};
        for (long r = 0; r < R; r++) {
            const float *row = x + r * N + c;
            for (int j = 0; j < n; j++) acc[j] += row[j];
        }
        for (int j = 0; j < n; j++) sums[c + j] += acc[j];
    }
}

// The product in bf16 (matmul_bf16.c) or in fp32 with OpenBLAS.
static void matmul_rows(float *out, const float *inp, const float *weight, const float *bias,
                        int M, int K, int N, int bf16)
{
    uint16_t *packed_weight = bf16 ? bf16_workspace(K, N) : NULL;
#pragma omp parallel
    {
        long r0, r1;
        if (bf16) {
            thread_share(bf16_padded(K) / 2, &r0, &r1);
            bf16_pack_pairs_within_rows(packed_weight, weight, N, K, r0, r1);
#pragma omp barrier
        }
        if (bf16) share_among(M, BF16_BLOCK, omp_get_num_threads(), &r0, &r1);
        else product_share(M, (double)K * N, &r0, &r1);
        if (r1 > r0) {
            if (bf16) {
                bf16_thread_begin();
                bf16_multiply_rows(out + r0 * N, N, inp + r0 * K, (int)(r1 - r0), K, packed_weight, N,
                                  bias, bf16_thread_work(K, N));
                bf16_thread_end();
            } else {
                if (bias)
                    for (long r = r0; r < r1; r++) memcpy(out + r * N, bias, sizeof(float) * N);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), N, K, 1.0f,
                            inp + r0 * K, K, weight, K, bias ? 1.0f : 0.0f, out + r0 * N, N);
            }
        }
    }
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int M, int K, int N)
{
    matmul_rows(out, inp, weight, bias, M, K, N, precision == PRECISION_BF16);
}

void matmul_forward_fp32(float *out, const float *inp, const float *weight, const float *bias,
                         int M, int K, int N)
{
    matmul_rows(out, inp, weight, bias, M, K, N, 0);
}

// dweight: part 0 of the rows accumulates straight into it, the other parts into their own
// slices of scratch, then those are added in order. Splitting the rows rather than dweight's
// columns lets each thread pack only its own rows of both operands (5–15% faster measured).
void matmul_backward(float *dinp, float *dweight, float *dbias, float *scratch,
                     const float *dout, const float *inp, const float *weight, int M, int K, int N)
{
    int parts = weight_grad_parts(M), bf16 = precision == PRECISION_BF16;
    long weight_size = (long)N * K;
    uint16_t *packed_weight = bf16 ? bf16_workspace(K, N) : NULL;
#pragma omp parallel
    {
        long r0, r1, c0, c1;
        if (bf16) bf16_thread_begin();
        if (dinp && bf16) {
            thread_share(bf16_padded(N) / 2, &r0, &r1);
            bf16_pack_pairs_across_rows(packed_weight, weight, K, N, K, r0, r1);
#pragma omp barrier
            share_among(M, BF16_BLOCK, omp_get_num_threads(), &r0, &r1);
            if (r1 > r0)
                bf16_multiply_rows(dinp + r0 * K, K, dout + r0 * N, (int)(r1 - r0), N, packed_weight, K, NULL,
                                  bf16_thread_work(K, N));
        } else if (dinp) {
            product_share(M, (double)K * N, &r0, &r1);
            if (r1 > r0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), K, N, 1.0f,
                            dout + r0 * N, N, weight, K, 0.0f, dinp + r0 * K, K);
        }
        if (parts == 1 && !bf16) {
            // One part (a short product: a Swin's last stages, a decoder): its rows of dweight
            // [N, K] split between the threads as a forward's output rows are, so the product
            // is summed as one call would, whatever the thread count.
            product_share(N, (double)K * M, &r0, &r1);
            if (r1 > r0)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(r1 - r0), K, M, 1.0f,
                            dout + r0, N, inp, K, 1.0f, dweight + r0 * K, K);
        } else {
#pragma omp for schedule(static)
            for (int part = 0; part < parts; part++) {
                long m0 = (long)M * part / parts, m1 = (long)M * (part + 1) / parts;
                float *sums = part == 0 ? dweight : scratch + (part - 1) * weight_size;
                if (bf16)
                    bf16_multiply_transposed(sums, dout + m0 * N, inp + m0 * K, m1 - m0, N, K,
                                            part == 0, bf16_thread_work(K, N));
                else
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, (int)(m1 - m0), 1.0f,
                                dout + m0 * N, N, inp + m0 * K, K, part == 0 ? 1.0f : 0.0f, sums, K);
            }
        }
        if (bf16) bf16_thread_end();
        if (parts > 1) {
            thread_share(weight_size, &c0, &c1);
            for (int part = 1; part < parts; part++) {
                const float *sums = scratch + (part - 1) * weight_size;
                for (long i = c0; i < c1; i++) dweight[i] += sums[i];
            }
        }
        if (dbias) {
            thread_share(N, &c0, &c1);
            add_column_sums(dbias, dout, M, N, c0, c1);
        }
    }
}

void patch_embed_forward(float *out, float *patches, const float *images, const float *weight,
                         const float *bias, int B, int C, int S, int p, int D)
{
    int g = S / p, N = g * g, patch_dim = C * p * p;
#pragma omp parallel for
    for (long bn = 0; bn < (long)B * N; bn++) {
        long b = bn / N;
        int gy = (int)(bn % N) / g, gx = (int)(bn % N) % g;
        float *dst = patches + bn * patch_dim;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < p; i++) {
                const float *src = images + ((b * C + c) * S + gy * p + i) * (long)S + gx * p;
                memcpy(dst + (c * p + i) * p, src, sizeof(float) * p);
            }
    }
    matmul_forward(out, patches, weight, bias, B * N, patch_dim, D);
}

void patch_embed_backward(float *dweight, float *dbias, float *scratch, const float *dout,
                          const float *patches, int B, int N, int patch_dim, int D)
{
    matmul_backward(NULL, dweight, dbias, scratch, dout, patches, NULL, B * N, patch_dim, D);
}

// One patch token: e·(1−w) + mask_token·w + pos (pos NULL: none), for embed_forward and
// mask_embed_forward alike.
static inline void masked_token_row(float *dst, const float *e, const float *mask_token,
                                    const float *pos, float w, int D)
{
    if (w == 0.0f && pos)
        for (int d = 0; d < D; d++) dst[d] = e[d] + pos[d];
    else if (w == 0.0f)
        memcpy(dst, e, sizeof(float) * D);
    else if (pos)
        for (int d = 0; d < D; d++) dst[d] = e[d] * (1.0f - w) + mask_token[d] * w + pos[d];
    else
        for (int d = 0; d < D; d++) dst[d] = e[d] * (1.0f - w) + mask_token[d] * w;
}

// dpatch_out [B·N, D] = dx·(1 − w) at the patch rows of dx, which are rows first … first+N−1
// of each image's T.
static void masked_tokens_backward(float *dpatch_out, const float *dx, const float *token_mask,
                                   int B, int N, int D, int T, int first)
{
#pragma omp parallel for
    for (long bn = 0; bn < (long)B * N; bn++) {
        long b = bn / N;
        float w = token_mask ? token_mask[bn] : 0.0f;
        const float *src = dx + (b * T + first + bn % N) * D;
        for (int d = 0; d < D; d++) dpatch_out[bn * D + d] = src[d] * (1.0f - w);
    }
}

void embed_forward(float *x, const float *patch_out, const float *cls, const float *mask_token,
                   const float *pos, const float *token_mask, int B, int N, int D)
{
    int T = N + 1;
#pragma omp parallel for
    for (long bt = 0; bt < (long)B * T; bt++) {
        long b = bt / T;
        int t = (int)(bt % T);
        float *dst = x + bt * D;
        const float *p = pos + (long)t * D;
        if (t == 0) {
            for (int d = 0; d < D; d++) dst[d] = cls[d] + p[d];
            continue;
        }
        float w = token_mask ? token_mask[b * N + t - 1] : 0.0f;
        masked_token_row(dst, patch_out + (b * N + t - 1) * D, mask_token, p, w, D);
    }
}

void mask_embed_forward(float *x, const float *patch_out, const float *mask_token,
                        const float *pos, const float *token_mask, int B, int N, int D)
{
#pragma omp parallel for
    for (long bn = 0; bn < (long)B * N; bn++) {
        float w = token_mask ? token_mask[bn] : 0.0f;
        masked_token_row(x + bn * D, patch_out + bn * D, mask_token,
                         pos ? pos + bn % N * D : NULL, w, D);
    }
}

void mask_embed_backward(float *dpatch_out, float *dmask_token, float *dpos, const float *dx,
                         const float *token_mask, int B, int N, int D)
{
    masked_tokens_backward(dpatch_out, dx, token_mask, B, N, D, N, 0);
    // Parameter gradients sum over the batch, in its order; split over the embedding dim.
#pragma omp parallel
    {
        long d0, d1;
        thread_share(D, &d0, &d1);
        for (long bn = 0; bn < (long)B * N; bn++) {
            const float *src = dx + bn * D;
            float w = token_mask ? token_mask[bn] : 0.0f;
            for (long d = d0; d < d1; d++) {
                if (dpos) dpos[bn % N * D + d] += src[d];
                if (w != 0.0f && dmask_token) dmask_token[d] += src[d] * w;
            }
        }
    }
}

void embed_backward(float *dpatch_out, float *dcls, float *dmask_token, float *dpos,
                    const float *dx, const float *token_mask, int B, int N, int D)
{
    int T = N + 1;
    masked_tokens_backward(dpatch_out, dx, token_mask, B, N, D, T, 1);
    // Parameter gradients sum over the batch; split over the embedding dim.
#pragma omp parallel
    {
        long d0, d1;
        thread_share(D, &d0, &d1);
        for (long b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const float *src = dx + (b * T + t) * D;
                float w = (t > 0 && token_mask) ? token_mask[b * N + t - 1] : 0.0f;
                for (long d = d0; d < d1; d++) {
                    dpos[(long)t * D + d] += src[d];
                    if (t == 0) dcls[d] += src[d];
                    else if (w != 0.0f && dmask_token) dmask_token[d] += src[d] * w;
                }
            }
        }
    }
}

// One row of LayerNorm's output from its mean and rstd: the forward pass and layernorm_apply
// share it, so the output written again is the same bit for bit.
static inline void layernorm_row(float *y, const float *x, float m, float s, const float *weight,
                                 const float *bias, int D)
{
    for (int d = 0; d < D; d++) y[d] = (x[d] - m) * s * weight[d] + bias[d];
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int R, int D, float eps)
{
#pragma omp parallel for
    for (long r = 0; r < R; r++) {
        const float *x = inp + r * D;
        float *y = out + r * D;
        // Vector partial sums: summed one element after another, each add waits for the last.
        float m = 0.0f;
#pragma omp simd reduction(+ : m)
        for (int d = 0; d < D; d++) m += x[d];
        m /= D;
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int d = 0; d < D; d++) v += (x[d] - m) * (x[d] - m);
        v /= D;
        float s = 1.0f / sqrtf(v + eps);
        layernorm_row(y, x, m, s, weight, bias, D);
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd,
                     const float *weight, const float *bias, int R, int D)
{
#pragma omp parallel for
    for (long r = 0; r < R; r++)
        layernorm_row(out + r * D, inp + r * D, mean[r], rstd[r], weight, bias, D);
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int R, int D)
{
    float part_sums[ROW_PARTS][2][D]; // [part][dweight, dbias][D]; D ≤ 16384: at most 1 MiB
#pragma omp parallel for schedule(static)
    for (int part = 0; part < ROW_PARTS; part++) {
        float *dw = part_sums[part][0], *db = part_sums[part][1];
        for (int d = 0; d < D; d++) dw[d] = db[d] = 0.0f;
        long r1 = (long)R * (part + 1) / ROW_PARTS;
        for (long r = (long)R * part / ROW_PARTS; r < r1; r++) {
            const float *x = inp + r * D, *dy = dout + r * D;
            float m = mean[r], s = rstd[r], dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
            for (int d = 0; d < D; d++) {
                float norm = (x[d] - m) * s, dnorm = dy[d] * weight[d];
                dnorm_mean += dnorm;
                dnorm_norm_mean += dnorm * norm;
                dw[d] += dy[d] * norm;
                db[d] += dy[d];
            }
            dnorm_mean /= D;
            dnorm_norm_mean /= D;
            float *dx = dinp + r * D;
            for (int d = 0; d < D; d++) {
                float norm = (x[d] - m) * s;
                dx[d] += s * (dy[d] * weight[d] - dnorm_mean - norm * dnorm_norm_mean);
            }
        }
    }
    for (int part = 0; part < ROW_PARTS; part++)
        for (int d = 0; d < D; d++) {
            dweight[d] += part_sums[part][0][d];
            dbias[d] += part_sums[part][1][d];
        }
}

void gelu_forward(float *out, const float *inp, long n)
{
#pragma omp parallel
    {
        long i0, i1;
        thread_share(n, &i0, &i1);
        for (long i = i0; i < i1; i++) out[i] = inp[i] * vec_normal_cdf(inp[i]);
    }
}

void gelu_backward(float *dinp, const float *inp, const float *out, const float *dout, long n)
{
#pragma omp parallel
    {
        long i0, i1;
        thread_share(n, &i0, &i1);
        for (long i = i0; i < i1; i++) dinp[i] = dout[i] * vec_gelu_derivative(inp[i], out[i]);
    }
}

// out = x + scale[b]·branch over the n elements of each image b (x NULL: out = scale[b]·branch;
// scale NULL: 1). Each thread walks its share a run of one image at a time, so the division
// by n stays out of the per-element loops, which vectorize.
static void add_scaled_per_image(float *out, const float *x, const float *branch,
                                 const float *scale, int B, long n)
{
#pragma omp parallel
    {
        long i0, i1;
        thread_share((long)B * n, &i0, &i1);
        for (long i = i0, run_end; i < i1; i = run_end) {
            long image = i / n;
            float s = scale ? scale[image] : 1.0f;
            run_end = (image + 1) * n < i1 ? (image + 1) * n : i1;
            if (x)
                for (long j = i; j < run_end; j++) out[j] = x[j] + s * branch[j];
            else
                for (long j = i; j < run_end; j++) out[j] = s * branch[j];
        }
    }
}

void residual_forward(float *out, const float *x, const float *branch, const float *scale,
                      int B, long n)
{
    add_scaled_per_image(out, x, branch, scale, B, n);
}

void residual_backward(float *dbranch, const float *dout, const float *scale, int B, long n)
{
    add_scaled_per_image(dbranch, NULL, dout, scale, B, n);
}

void patch_tokens_forward(float *out, const float *x, int B, int N, int D)
{
#pragma omp parallel for
    for (long b = 0; b < B; b++)
        memcpy(out + b * N * D, x + (b * (N + 1) + 1) * D, sizeof(float) * N * D);
}

void patch_tokens_backward(float *dx, const float *dout, int B, int N, int D)
{
#pragma omp parallel for
    for (long b = 0; b < B; b++) {
        float *dst = dx + (b * (N + 1) + 1) * D;
        const float *src = dout + b * N * D;
        for (long i = 0; i < (long)N * D; i++) dst[i] += src[i];
    }
}

// Index of pixel (c, y, x) of image b within the decoder output [B·N, C·p·p].
static long shuffled_index(long b, int c, int y, int x, int C, int S, int p)
{
    int g = S / p;
    long token = b * g * g + (y / p) * g + x / p;
    return token * C * p * p + c * p * p + (y % p) * p + x % p;
}

void pixel_shuffle_forward(float *img, const float *dec, int B, int C, int S, int p)
{
#pragma omp parallel for
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[(bc * S + y) * S + x] = dec[shuffled_index(bc / C, (int)(bc % C), y, x, C, S, p)];
}

void pixel_shuffle_backward(float *ddec, const float *dimg, int B, int C, int S, int p)
{
#pragma omp parallel for
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                ddec[shuffled_index(bc / C, (int)(bc % C), y, x, C, S, p)] = dimg[(bc * S + y) * S + x];
}

// Weight of pixel (y, x) of image b in the loss: its token's mask value, or 1 without a mask.
static float pixel_weight(const float *token_mask, long b, int y, int x, int S, int p)
{
    if (!token_mask) return 1.0f;
    int g = S / p;
    return token_mask[b * g * g + (y / p) * g + x / p];
}

// The divisor that turns a weighted sum of per-element losses over G groups (channels, or
// one palette class) into the loss.
static double masked_loss_denominator(const float *token_mask, int B, int G, int S, int p)
{
    if (!token_mask) return (double)B * G * S * S;
    int g = S / p;
    double masked = 0.0;
    for (long i = 0; i < (long)B * g * g; i++) masked += token_mask[i];
    return (masked * p * p + 1e-5) * G;
}

void add_position_forward(float *x, const float *pos, int B, int N, int D)
{
    long n = (long)N * D;
#pragma omp parallel for
    for (long b = 0; b < B; b++)
        for (long i = 0; i < n; i++) x[b * n + i] += pos[i];
}

void add_position_backward(float *dpos, const float *dx, int B, int N, int D)
{
    long n = (long)N * D;
#pragma omp parallel for
    for (long i = 0; i < n; i++) {
        float sum = 0.0f; // in batch order, so any thread count gives the same bits
        for (long b = 0; b < B; b++) sum += dx[b * n + i];
        dpos[i] += sum;
    }
}

void upsample_nearest_forward(float *out, const float *in, int B, int C, int R, int f)
{
    int S = R * f;
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) out[(bc * S + y) * S + x] = in[(bc * R + y / f) * R + x / f];
}

void avg_pool_forward(float *out, const float *img, int B, int C, int S, int f)
{
    int R = S / f;
#pragma omp parallel for
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < R; y++)
            for (int x = 0; x < R; x++) {
                double sum = 0.0;
                for (int i = 0; i < f; i++)
                    for (int j = 0; j < f; j++) sum += img[(bc * S + y * f + i) * S + x * f + j];
                out[(bc * R + y) * R + x] = (float)(sum / ((double)f * f));
            }
}

void min_pool_forward(float *out, const float *in, int B, int S, int f)
{
    int R = S / f;
#pragma omp parallel for
    for (long b = 0; b < B; b++)
        for (int y = 0; y < R; y++)
            for (int x = 0; x < R; x++) {
                float least = in[(b * S + y * f) * S + x * f];
                for (int i = 0; i < f; i++)
                    for (int j = 0; j < f; j++)
                        least = fminf(least, in[(b * S + y * f + i) * S + x * f + j]);
                out[(b * R + y) * R + x] = least;
            }
}

static float regression_loss_value(RegressionLoss kind, float beta, float d)
{
    float a = fabsf(d);
    switch (kind) {
    case REGRESSION_L2: return d * d;
    case REGRESSION_SMOOTH_L1: return a < beta ? 0.5f * d * d / beta : a - 0.5f * beta;
    default: return a;
    }
}

static float regression_loss_slope(RegressionLoss kind, float beta, float d)
{
    float sign = (float)((d > 0.0f) - (d < 0.0f));
    switch (kind) {
    case REGRESSION_L2: return 2.0f * d;
    case REGRESSION_SMOOTH_L1: return fabsf(d) < beta ? d / beta : sign;
    default: return sign;
    }
}

float regression_loss_forward(RegressionLoss kind, float beta, const float *pred,
                              const float *target, const float *token_mask, int B, int C, int S,
                              int p)
{
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                long i = (bc * S + y) * S + x;
                sum += regression_loss_value(kind, beta, pred[i] - target[i]) *
                       pixel_weight(token_mask, bc / C, y, x, S, p);
            }
    return (float)(sum / masked_loss_denominator(token_mask, B, C, S, p));
}

void regression_loss_backward(RegressionLoss kind, float beta, float *dpred, const float *pred,
                              const float *target, const float *token_mask, int B, int C, int S,
                              int p)
{
    float inv = (float)(1.0 / masked_loss_denominator(token_mask, B, C, S, p));
#pragma omp parallel for
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                long i = (bc * S + y) * S + x;
                dpred[i] = regression_loss_slope(kind, beta, pred[i] - target[i]) *
                           pixel_weight(token_mask, bc / C, y, x, S, p) * inv;
            }
}

// The losses' per-pixel work runs a row of S pixels at a time, k outermost, so the S
// contiguous logits of each class vectorize (one pixel at a time walked K cache lines S²
// floats apart and spent most of a 256-bin step in scalar exp).
// lse[x] = log Σ_k exp z[k·plane + x] for the S pixels of a row (z: the row's first logit).
static void row_log_sum_exp(const float *z, int K, long plane, int S, float *mx, float *lse)
{
    for (int x = 0; x < S; x++) mx[x] = z[x], lse[x] = 0.0f;
    for (int k = 1; k < K; k++)
        for (int x = 0; x < S; x++) mx[x] = z[k * plane + x] > mx[x] ? z[k * plane + x] : mx[x];
    for (int k = 0; k < K; k++)
        for (int x = 0; x < S; x++) lse[x] += vec_expf(z[k * plane + x] - mx[x]);
    for (int x = 0; x < S; x++) lse[x] = logf(lse[x]) + mx[x];
}

// The loss weights of row y of image b; 0 if every one is 0.
static int row_weights(const float *token_mask, long b, int y, int S, int p, float scale, float *w)
{
    int any = 0;
    for (int x = 0; x < S; x++) {
        w[x] = pixel_weight(token_mask, b, y, x, S, p) * scale;
        any |= w[x] != 0.0f;
    }
    return any;
}

float pixel_crossentropy_forward(const float *logits, const float *classes,
                                 const float *token_mask, int B, int G, int K, int S, int p)
{
    long plane = (long)S * S, groups = (long)B * G;
    double partial[groups]; // summed in a fixed order: the same loss on any thread count
#pragma omp parallel for
    for (long bg = 0; bg < groups; bg++) {
        float w[S], mx[S], lse[S];
        double sum = 0.0;
        for (int y = 0; y < S; y++) {
            if (!row_weights(token_mask, bg / G, y, S, p, 1.0f, w)) continue;
            const float *z = logits + bg * K * plane + (long)y * S;
            const float *cls = classes + bg * plane + (long)y * S;
            row_log_sum_exp(z, K, plane, S, mx, lse);
            for (int x = 0; x < S; x++)
                if (w[x] != 0.0f) sum += w[x] * ((double)lse[x] - z[(long)cls[x] * plane + x]);
        }
        partial[bg] = sum;
    }
    double sum = 0.0;
    for (long bg = 0; bg < groups; bg++) sum += partial[bg];
    return (float)(sum / masked_loss_denominator(token_mask, B, G, S, p));
}

void pixel_crossentropy_backward(float *dlogits, const float *logits, const float *classes,
                                 const float *token_mask, int B, int G, int K, int S, int p)
{
    long plane = (long)S * S;
    float inv = (float)(1.0 / masked_loss_denominator(token_mask, B, G, S, p));
#pragma omp parallel for
    for (long bg = 0; bg < (long)B * G; bg++) {
        float w[S], mx[S], lse[S];
        for (int y = 0; y < S; y++) {
            const float *z = logits + bg * K * plane + (long)y * S;
            const float *cls = classes + bg * plane + (long)y * S;
            float *dz = dlogits + bg * K * plane + (long)y * S;
            if (!row_weights(token_mask, bg / G, y, S, p, inv, w)) {
                for (int k = 0; k < K; k++) memset(dz + k * plane, 0, sizeof(float) * (size_t)S);
                continue;
            }
            row_log_sum_exp(z, K, plane, S, mx, lse);
            for (int k = 0; k < K; k++)
                for (int x = 0; x < S; x++)
                    dz[k * plane + x] =
                        w[x] * (vec_expf(z[k * plane + x] - lse[x]) - (float)(cls[x] == k));
        }
    }
}

void pixel_expectation_forward(float *out, const float *logits, const float *values, int B,
                               int G, int K, int V, int S)
{
    long plane = (long)S * S;
#pragma omp parallel for
    for (long bg = 0; bg < (long)B * G; bg++) {
        float mx[S], lse[S], acc[S];
        for (int y = 0; y < S; y++) {
            const float *z = logits + bg * K * plane + (long)y * S;
            row_log_sum_exp(z, K, plane, S, mx, lse);
            for (int v = 0; v < V; v++) {
                for (int x = 0; x < S; x++) acc[x] = 0.0f;
                for (int k = 0; k < K; k++)
                    for (int x = 0; x < S; x++)
                        acc[x] += vec_expf(z[k * plane + x] - lse[x]) * values[k * V + v];
                memcpy(out + (bg * V + v) * plane + (long)y * S, acc, sizeof(float) * (size_t)S);
            }
        }
    }
}

void bin_classes_forward(float *classes, const float *x, const float *mean, const float *std,
                         int B, int C, int S, int K)
{
    long plane = (long)S * S;
    for (long bc = 0; bc < (long)B * C; bc++) {
        int c = (int)(bc % C);
        for (long i = 0; i < plane; i++) {
            float pixel = x[bc * plane + i] * std[c] + mean[c];
            float bin = floorf(pixel * K);
            classes[bc * plane + i] = bin < 0.0f ? 0.0f : bin > K - 1 ? (float)(K - 1) : bin;
        }
    }
}

void palette_classes_forward(float *classes, const float *x, const float *mean, const float *std,
                             const float *palette, int B, int C, int S, int K)
{
    long plane = (long)S * S;
#pragma omp parallel for
    for (long b = 0; b < B; b++)
        for (long i = 0; i < plane; i++) {
            float pixel[C];
            for (int c = 0; c < C; c++) pixel[c] = x[(b * C + c) * plane + i] * std[c] + mean[c];
            classes[b * plane + i] = (float)nearest_point(pixel, palette, K, C);
        }
}

// The mean of rows first … first+N−1 of each image's T rows: x [B, T, D] → out [B, D].
static void mean_of_rows(float *out, const float *x, int B, int T, int first, int N, int D)
{
#pragma omp parallel for
    for (long b = 0; b < B; b++) {
        float *o = out + b * D;
        for (int d = 0; d < D; d++) o[d] = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *row = x + (b * T + first + n) * D;
            for (int d = 0; d < D; d++) o[d] += row[d];
        }
        for (int d = 0; d < D; d++) o[d] /= N;
    }
}

// dx [B, T, D] = dout / N at those rows, 0 at the first ones (overwrites).
static void mean_of_rows_backward(float *dx, const float *dout, int B, int T, int first, int N,
                                  int D)
{
#pragma omp parallel for
    for (long b = 0; b < B; b++) {
        memset(dx + b * T * D, 0, sizeof(float) * first * D);
        for (int n = 0; n < N; n++) {
            float *row = dx + (b * T + first + n) * D;
            for (int d = 0; d < D; d++) row[d] = dout[b * D + d] / N;
        }
    }
}

void mean_pool_forward(float *out, const float *x, int B, int N, int D)
{
    mean_of_rows(out, x, B, N + 1, 1, N, D);
}

void mean_pool_backward(float *dx, const float *dout, int B, int N, int D)
{
    mean_of_rows_backward(dx, dout, B, N + 1, 1, N, D);
}

void token_mean_forward(float *out, const float *x, int B, int N, int D)
{
    mean_of_rows(out, x, B, N, 0, N, D);
}

void token_mean_backward(float *dx, const float *dout, int B, int N, int D)
{
    mean_of_rows_backward(dx, dout, B, N, 0, N, D);
}

float crossentropy_forward(float *probs, const float *logits, const int *labels, float smoothing,
                           int B, int K)
{
    double loss = 0.0;
    for (long b = 0; b < B; b++) {
        const float *z = logits + b * K;
        float *pr = probs + b * K, mx = z[0];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0.0, mean_logit = 0.0;
        for (int k = 0; k < K; k++) {
            sum += exp((double)z[k] - mx);
            mean_logit += z[k];
        }
        mean_logit /= K;
        double log_sum = log(sum) + mx; // log Σ exp z
        for (int k = 0; k < K; k++) pr[k] = (float)exp((double)z[k] - log_sum);
        double nll = log_sum - z[labels[b]], smooth = log_sum - mean_logit;
        loss += (1.0 - smoothing) * nll + smoothing * smooth;
    }
    return (float)(loss / B);
}

void crossentropy_backward(float *dlogits, const float *probs, const int *labels, float smoothing,
                           int B, int K)
{
    for (long b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            float target = smoothing / K + (k == labels[b] ? 1.0f - smoothing : 0.0f);
            dlogits[b * K + k] = (probs[b * K + k] - target) / B;
        }
}
