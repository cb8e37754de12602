// Multi-head softmax attention, one (image, head) at a time per thread. Its six matrix
// products are small — 65×65×32 for fmnist-q — and OpenBLAS spent as long per call packing
// the operands as multiplying them, so they run on a register-blocked kernel of our own:
// each block of output rows × vectors is summed in registers over the whole inner
// dimension, the right-hand operand read in place when its rows are whole vectors and
// otherwise (and always for the transposed k and v) from per-thread scratch. Every output
// element is summed in index order by one thread, so results do not depend on the thread
// count.
#include "ops/ops.h"
#include "ops/vecmath.h"

#include <math.h>
#include <omp.h>
#include <string.h>

// GCC's vector extension: 8 floats, one AVX register on this machine; other targets split it.
typedef float vec8 __attribute__((vector_size(32)));
enum { LANES = 8, ROW_ALIGN = 16 };

// Blocks of 6 rows × 2 vectors: 12 accumulators, 2 loads and 6 broadcasts per k, within the 16
// vector registers (4 × 3 blocks measured at half the speed: the compiler then reloads b
// from memory for every product).
enum { BLOCK_ROWS = 6, BLOCK_VECTORS = 2 };

static long round_up(long n, long to) { return (n + to - 1) / to * to; }

static inline vec8 splat(float x) { return (vec8){x, x, x, x, x, x, x, x}; }

static inline vec8 load8(const float *p)
{
    vec8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

// Stores the first n lanes of v (all of them when n ≥ 8).
static inline void store_lanes(float *p, vec8 v, int n)
{
    if (n >= LANES) memcpy(p, &v, sizeof v);
    else memcpy(p, &v, sizeof(float) * (n & (LANES - 1)));
}

// One block of c = alpha · A · B: rows [0, rows) (rows ≤ BLOCK_ROWS; the missing rows of a
// last block repeat its last row and are not stored) and columns [0, cols) (cols ≤ NR·8),
// summed over k < K in registers. A(m, k) = a[m·a_row + k·a_col]; b is row-major with row
// stride ldb and readable for NR whole vectors per row. NR is a constant where this is inlined.
static inline __attribute__((always_inline)) void product_block(
    float *c, long ldc, const float *a, long a_row, long a_col, const float *b, long ldb,
    int rows, int cols, int K, float alpha, const int NR)
{
    const float *arow[BLOCK_ROWS];
    vec8 acc[BLOCK_ROWS][BLOCK_VECTORS];
    for (int i = 0; i < BLOCK_ROWS; i++) {
        arow[i] = a + (i < rows ? i : rows - 1) * a_row;
        for (int j = 0; j < NR; j++) acc[i][j] = splat(0.0f);
    }
    for (int k = 0; k < K; k++) {
        vec8 bk[BLOCK_VECTORS];
        for (int j = 0; j < NR; j++) bk[j] = load8(b + k * ldb + j * LANES);
        for (int i = 0; i < BLOCK_ROWS; i++) {
            vec8 aik = splat(arow[i][k * a_col]);
            for (int j = 0; j < NR; j++) acc[i][j] += aik * bk[j];
        }
    }
    // Loops over constants, so that acc stays in registers.
    for (int i = 0; i < BLOCK_ROWS; i++)
        for (int j = 0; j < NR; j++)
            if (i < rows && j * LANES < cols)
                store_lanes(c + i * ldc + j * LANES, acc[i][j] * alpha, cols - j * LANES);
}

// c[M, N] (row stride ldc) = alpha · A[M, K] · b[K, N], A as in product_block and b padded
// with readable columns up to a whole vector.
static void small_product(float *c, long ldc, const float *a, long a_row, long a_col,
                          const float *b, long ldb, int M, int N, int K, float alpha)
{
    for (int m = 0; m < M; m += BLOCK_ROWS) {
        int rows = M - m < BLOCK_ROWS ? M - m : BLOCK_ROWS;
        const float *am = a + m * a_row;
        float *cm = c + m * ldc;
        for (int n = 0; n < N; n += BLOCK_VECTORS * LANES) {
            int cols = N - n < BLOCK_VECTORS * LANES ? N - n : BLOCK_VECTORS * LANES;
            if (cols > LANES)
                product_block(cm + n, ldc, am, a_row, a_col, b + n, ldb, rows, cols, K, alpha, 2);
            else
                product_block(cm + n, ldc, am, a_row, a_col, b + n, ldb, rows, cols, K, alpha, 1);
        }
    }
}

// The per-thread scratch: one head's operand transposed [hd, Tp], three copies of head
// columns [T, hdp], and a score matrix [T, Tp]. Tp and hdp are T and hd rounded up to 16
// floats, so every row starts on a 64-byte line (loads that straddle lines ran the products
// at two thirds of the speed).
typedef struct {
    float *transposed, *rows[3], *scores;
    long tp, hdp;
} Scratch;

size_t attention_scratch_floats(int T, int hd)
{
    size_t tp = round_up(T, ROW_ALIGN), hdp = round_up(hd, ROW_ALIGN);
    return hd * tp + 3 * T * hdp + T * tp;
}

// The calling thread's scratch, zeroed so the padding columns read as 0.
static Scratch thread_scratch(float *mem, int T, int hd)
{
    size_t floats = attention_scratch_floats(T, hd);
    float *own = mem + omp_get_thread_num() * floats;
    memset(own, 0, sizeof(float) * floats);
    Scratch s = {.tp = round_up(T, ROW_ALIGN), .hdp = round_up(hd, ROW_ALIGN)};
    s.transposed = own;
    for (int i = 0; i < 3; i++) s.rows[i] = own + hd * s.tp + i * T * s.hdp;
    s.scores = own + hd * s.tp + 3 * T * s.hdp;
    return s;
}

// The T × hd block at src (row stride *ld) as a right-hand operand of small_product: itself
// when its rows are whole vectors, else copied into dst [T, hdp] (*ld set to hdp).
static const float *head_operand(float *dst, long hdp, const float *src, long *ld, int T, int hd)
{
    if (hd % LANES == 0) return src;
    for (int t = 0; t < T; t++) memcpy(dst + t * hdp, src + t * *ld, sizeof(float) * hd);
    *ld = hdp;
    return dst;
}

// The 8 × 8 block at src (row stride ld) transposed into dst (row stride ldd): pairs of rows
// interleaved, then pairs of pairs, then the 128-bit halves swapped into place.
static void transpose_8x8(float *dst, long ldd, const float *src, long ld)
{
    vec8 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = load8(src + i * ld);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * j + 1] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int i = 0; i < 4; i++) {
        vec8 low = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        vec8 high = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + i * ldd, &low, sizeof low);
        memcpy(dst + (i + 4) * ldd, &high, sizeof high);
    }
}

// dst[hd, tp] = the transpose of the T × hd block at src (row stride ld), 8 × 8 blocks at a
// time and the edges element by element.
static void copy_transposed(float *dst, long tp, const float *src, long ld, int T, int hd)
{
    int t8 = T / 8 * 8, d8 = hd / 8 * 8;
    for (int t = 0; t < t8; t += 8)
        for (int d = 0; d < d8; d += 8) transpose_8x8(dst + d * tp + t, tp, src + t * ld + d, ld);
    for (int t = 0; t < T; t++)
        for (int d = t < t8 ? d8 : 0; d < hd; d++) dst[d * tp + t] = src[t * ld + d];
}

static int thread_count(int scratch_threads)
{
    int threads = ops_threads();
    return threads < scratch_threads ? threads : scratch_threads;
}

void attention_forward(float *out, float *att, float *scratch, int scratch_threads,
                       const float *qkv, const float *bias, const float *mask, int masks, int B,
                       int T, int D, int H)
{
    int hd = D / H;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel num_threads(thread_count(scratch_threads))
    {
        Scratch s = thread_scratch(scratch, T, hd);
        float *kt = s.transposed;
#pragma omp for schedule(static)
        for (long bh = 0; bh < (long)B * H; bh++) {
            long b = bh / H, h = bh % H;
            const float *q = qkv + b * T * 3 * D + h * hd, *k = q + D, *v = q + 2 * D;
            float *p = att + bh * T * T;
            copy_transposed(kt, s.tp, k, 3 * D, T, hd);
            long ldv = 3 * D;
            const float *v_rows = head_operand(s.rows[0], s.hdp, v, &ldv, T, hd);
            small_product(s.scores, s.tp, q, 3 * D, 1, kt, s.tp, T, T, hd, scale);
            const float *bias_h = bias ? bias + h * T * T : NULL;
            const float *mask_b = mask ? mask + (b % masks) * T * T : NULL;
            for (int i = 0; i < T; i++) {
                float *score = s.scores + i * s.tp;
                if (bias_h)
                    for (int j = 0; j < T; j++) score[j] += bias_h[(long)i * T + j];
                if (mask_b)
                    for (int j = 0; j < T; j++) score[j] += mask_b[(long)i * T + j];
                float *row = p + (long)i * T, mx = score[0], sum = 0.0f;
#pragma omp simd reduction(max : mx)
                for (int j = 1; j < T; j++) mx = score[j] > mx ? score[j] : mx;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < T; j++) {
                    row[j] = vec_expf(score[j] - mx);
                    sum += row[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < T; j++) row[j] *= inv;
            }
            small_product(out + b * T * D + h * hd, D, p, T, 1, v_rows, ldv, T, hd, T, 1.0f);
        }
    }
}

void attention_backward(float *dqkv, float *dscores, float *scratch, int scratch_threads,
                        const float *dout, const float *qkv, const float *att, int B, int T,
                        int D, int H)
{
    int hd = D / H;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel num_threads(thread_count(scratch_threads))
    {
        Scratch s = thread_scratch(scratch, T, hd);
        float *vt = s.transposed, *ds = s.scores;
#pragma omp for schedule(static)
        for (long bh = 0; bh < (long)B * H; bh++) {
            long b = bh / H, h = bh % H;
            const float *q = qkv + b * T * 3 * D + h * hd, *k = q + D, *v = q + 2 * D;
            const float *p = att + bh * T * T, *dy = dout + b * T * D + h * hd;
            float *dq = dqkv + b * T * 3 * D + h * hd, *dk = dq + D, *dv = dq + 2 * D;
            copy_transposed(vt, s.tp, v, 3 * D, T, hd);
            long ld_dy = D, ldk = 3 * D, ldq = 3 * D;
            const float *dy_rows = head_operand(s.rows[0], s.hdp, dy, &ld_dy, T, hd);
            const float *k_rows = head_operand(s.rows[1], s.hdp, k, &ldk, T, hd);
            const float *q_rows = head_operand(s.rows[2], s.hdp, q, &ldq, T, hd);
            small_product(ds, s.tp, dy, D, 1, vt, s.tp, T, T, hd, 1.0f); // dp = dy·vᵀ
            small_product(dv, 3 * D, p, 1, T, dy_rows, ld_dy, T, hd, T, 1.0f); // pᵀ·dy
            // Softmax backward: ds = p·(dp − Σ_j p·dp), in place.
            for (int i = 0; i < T; i++) {
                const float *prow = p + (long)i * T;
                float *row = ds + i * s.tp, dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j < T; j++) dot += prow[j] * row[j];
                for (int j = 0; j < T; j++) row[j] = prow[j] * (row[j] - dot);
                if (dscores) memcpy(dscores + (bh * T + i) * T, row, sizeof(float) * T);
            }
            small_product(dq, 3 * D, ds, s.tp, 1, k_rows, ldk, T, hd, T, scale);
            small_product(dk, 3 * D, ds, 1, s.tp, q_rows, ldq, T, hd, T, scale);
        }
    }
}
