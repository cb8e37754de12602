// bf16 matrix products; see matmul_bf16.h. A block product computes up to BF16_BLOCK ×
// BF16_BLOCK outputs from a left block (BF16_BLOCK rows of the reduction, bf16, pairs adjacent)
// and the right operand in reduction pairs, either engine summing each output element over
// the reduction pairs in order, whatever rows a thread was given, so results do not depend on
// the thread count. On AMX, four 16 × 16 fp32 tiles (0–3) from two left tiles (4, 5: 16 rows ×
// 32 bf16 of the reduction) and two right tiles (6, 7: 16 reduction pairs × 16 columns × 2);
// with AVX512-BF16, eight rows × 32 columns at a time in sixteen registers, each step one
// pair of the left row broadcast against 32 columns' pairs.
//
// The functions carry their instruction sets as target attributes, so the rest of the build
// needs no such flags and runs on any x86-64; ops.c calls them only once cpu_bf16_engine()
// named an engine.
#include "ops/matmul_bf16.h"

#include <immintrin.h>
#include <string.h>

#define AVX512_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

static Bf16Engine engine = BF16_ENGINE_NONE;

void bf16_use_engine(Bf16Engine e) { engine = e; }

Bf16Engine bf16_engine(void) { return engine; }

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} TileConfig;

// All eight tiles 16 rows × 64 bytes. A static object: GCC 12's _tile_loadconfig tells the
// compiler it reads only 8 bytes, so a configuration built on the stack could be half written.
static const TileConfig TILES = {.palette = 1,
                                 .bytes_per_row = {64, 64, 64, 64, 64, 64, 64, 64},
                                 .rows = {16, 16, 16, 16, 16, 16, 16, 16}};

AMX_TARGET static void tiles_configure(void) { _tile_loadconfig(&TILES); }

AMX_TARGET static void tiles_release(void) { _tile_release(); }

void bf16_thread_begin(void)
{
    if (engine == BF16_ENGINE_AMX) tiles_configure();
}

void bf16_thread_end(void)
{
    if (engine == BF16_ENGINE_AMX) tiles_release();
}

// The lanes of a 16-column half from column c on, of a row `cols` wide.
static __mmask16 columns_mask(int cols, int c)
{
    int left = cols - c;
    return left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

static uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40); // NaN stays NaN
    u += 0x7fffu + (u >> 16 & 1);
    return (uint16_t)(u >> 16);
}

// dst[0, Cp) = src[0, C) rounded to bf16, zeros after; Cp a multiple of BF16_BLOCK.
AVX512_BF16_TARGET static void convert_row(uint16_t *dst, const float *src, int C, int Cp)
{
    for (int c = 0; c < Cp; c += BF16_BLOCK) {
        __mmask16 lo = columns_mask(C, c), hi = columns_mask(C, c + 16);
        __m512 a = _mm512_maskz_loadu_ps(lo, src + c), b = _mm512_maskz_loadu_ps(hi, src + c + 16);
        _mm512_storeu_si512(dst + c, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
}

void bf16_pack_pairs_within_rows(uint16_t *dst, const float *src, int N, int K, long j0, long j1)
{
    long Np = bf16_padded(N);
    for (long j = j0; j < j1; j++) {
        uint16_t *out = dst + j * Np * 2;
        for (long n = 0; n < Np; n++) {
            int in = n < N;
            out[2 * n] = in && 2 * j < K ? bf16_round(src[n * K + 2 * j]) : 0;
            out[2 * n + 1] = in && 2 * j + 1 < K ? bf16_round(src[n * K + 2 * j + 1]) : 0;
        }
    }
}

// Interleaves two rows of C elements into pairs: out[2c + e] = row e's element c, rounded to
// bf16; zeros from C to Cp. row1 NULL is a row of zeros (the padding of an odd reduction).
AVX512_BF16_TARGET static void interleave_rows(uint16_t *out, const float *row0,
                                               const float *row1, int C, int Cp)
{
    static const uint16_t order[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512i index = _mm512_loadu_si512(order);
    for (int c = 0; c < Cp; c += 16) {
        __mmask16 m = columns_mask(C, c);
        __m512 a = _mm512_maskz_loadu_ps(m, row0 + c);
        __m512 b = row1 ? _mm512_maskz_loadu_ps(m, row1 + c) : _mm512_setzero_ps();
        __m512i pairs = _mm512_permutexvar_epi16(index, (__m512i)_mm512_cvtne2ps_pbh(b, a));
        _mm512_storeu_si512(out + 2 * c, pairs);
    }
}

void bf16_pack_pairs_across_rows(uint16_t *dst, const float *src, long ld, int R, int C, long j0,
                                 long j1)
{
    int Cp = (int)bf16_padded(C);
    for (long j = j0; j < j1; j++) {
        uint16_t *out = dst + j * Cp * 2;
        if (2 * j >= R) memset(out, 0, sizeof(uint16_t) * 2 * Cp);
        else interleave_rows(out, src + 2 * j * ld, 2 * j + 1 < R ? src + (2 * j + 1) * ld : NULL, C, Cp);
    }
}

// C[rows, cols] (row stride ldc) = start + A[BF16_BLOCK, kp] · B[kp/2, colsp, 2], where start
// is zero (NULL) or a matrix with row stride start_ld: C itself to accumulate, or a bias row
// with stride 0. A's rows past `rows` are zeros, B's columns past cols too.
// On AMX: a tile load repeats a bias row down the rows; blocks that overhang C's edges go
// through a staging block.
AMX_TARGET static void tile_product(float *C, long ldc, int rows, int cols, const float *start,
                                    long start_ld, const uint16_t *A, int kp, const uint16_t *B,
                                    int colsp)
{
    for (int n = 0; n < cols; n += BF16_BLOCK) {
        float staging[BF16_BLOCK * BF16_BLOCK];
        int full = rows == BF16_BLOCK && n + BF16_BLOCK <= cols;
        float *c = full ? C + n : staging;
        long ld = full ? ldc : BF16_BLOCK;
        const float *s = full ? start + n : staging;
        long sld = full ? start_ld : BF16_BLOCK;
        if (!full)
            for (int r = 0; r < BF16_BLOCK; r++)
                for (int j = 0; j < BF16_BLOCK; j++)
                    staging[r * BF16_BLOCK + j] = start && r < rows && n + j < cols ? start[r * start_ld + n + j] : 0.0f;
        if (start || !full) {
            _tile_loadd(0, s, sld * 4);
            _tile_loadd(1, s + 16, sld * 4);
            _tile_loadd(2, s + 16 * sld, sld * 4);
            _tile_loadd(3, s + 16 * sld + 16, sld * 4);
        } else {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
        }
        for (int k = 0; k < kp; k += BF16_BLOCK) {
            const uint16_t *b = B + ((long)k / 2 * colsp + n) * 2;
            _tile_loadd(4, A + k, kp * 2);
            _tile_loadd(5, A + 16L * kp + k, kp * 2);
            _tile_loadd(6, b, colsp * 4);
            _tile_loadd(7, b + 32, colsp * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, c, ld * 4);
        _tile_stored(1, c + 16, ld * 4);
        _tile_stored(2, c + 16 * ld, ld * 4);
        _tile_stored(3, c + 16 * ld + 16, ld * 4);
        if (!full)
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < BF16_BLOCK && n + j < cols; j++) C[r * ldc + n + j] = staging[r * BF16_BLOCK + j];
    }
}

enum { DOT_ROWS = 8 };

// With AVX512-BF16: rows [g, g + DOT_ROWS) of A against 32 columns [n, n + 32) of B.
AVX512_BF16_TARGET static void dot_rows(float *C, long ldc, int rows, int cols, const float *start,
                                        long start_ld, const uint16_t *A, int kp, const uint16_t *B,
                                        int colsp, int n)
{
    __mmask16 lo = columns_mask(cols, n), hi = columns_mask(cols, n + 16);
    __m512 acc[DOT_ROWS][2];
    for (int r = 0; r < DOT_ROWS; r++) {
        const float *s = start && r < rows ? start + r * start_ld + n : NULL;
        acc[r][0] = s ? _mm512_maskz_loadu_ps(lo, s) : _mm512_setzero_ps();
        acc[r][1] = s ? _mm512_maskz_loadu_ps(hi, s + 16) : _mm512_setzero_ps();
    }
    const uint16_t *b = B + (long)n * 2;
    for (int k = 0; k < kp; k += 2, b += (long)colsp * 2) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 32);
        for (int r = 0; r < DOT_ROWS; r++) {
            uint32_t pair;
            memcpy(&pair, A + (long)r * kp + k, sizeof pair);
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
    for (int r = 0; r < rows && r < DOT_ROWS; r++) {
        _mm512_mask_storeu_ps(C + r * ldc + n, lo, acc[r][0]);
        _mm512_mask_storeu_ps(C + r * ldc + n + 16, hi, acc[r][1]);
    }
}

// With AVX512-BF16: a group of rows' A stays in the first-level cache while B's columns
// stream past it.
static void dot_product(float *C, long ldc, int rows, int cols, const float *start, long start_ld,
                        const uint16_t *A, int kp, const uint16_t *B, int colsp)
{
    for (int g = 0; g < rows; g += DOT_ROWS)
        for (int n = 0; n < cols; n += BF16_BLOCK)
            dot_rows(C + g * ldc, ldc, rows - g, cols, start ? start + g * start_ld : NULL, start_ld,
                     A + (long)g * kp, kp, B, colsp, n);
}

static void block_product(float *C, long ldc, int rows, int cols, const float *start, long start_ld,
                          const uint16_t *A, int kp, const uint16_t *B, int colsp)
{
    if (engine == BF16_ENGINE_AMX) tile_product(C, ldc, rows, cols, start, start_ld, A, kp, B, colsp);
    else dot_product(C, ldc, rows, cols, start, start_ld, A, kp, B, colsp);
}

void bf16_multiply_rows(float *out, long ldo, const float *inp, int M, int K, const uint16_t *B,
                        int N, const float *bias, uint16_t *a_block)
{
    int Kp = (int)bf16_padded(K), Np = (int)bf16_padded(N);
    for (int r = 0; r < M; r += BF16_BLOCK) {
        int rows = M - r < BF16_BLOCK ? M - r : BF16_BLOCK;
        for (int i = 0; i < BF16_BLOCK; i++) {
            if (i < rows) convert_row(a_block + (long)i * Kp, inp + (long)(r + i) * K, K, Kp);
            else memset(a_block + (long)i * Kp, 0, sizeof(uint16_t) * Kp);
        }
        block_product(out + r * ldo, ldo, rows, N, bias, 0, a_block, Kp, B, Np);
    }
}

size_t bf16_transposed_work_elems(int N, int K)
{
    return (size_t)BF16_CHUNK * (bf16_padded(K) + 2 * bf16_padded(N));
}

// A 16 × 16 transpose of 32-bit elements in registers: pairs of rows interleaved at 32 bits,
// then 64, then 128-bit lanes twice.
AVX512_BF16_TARGET static void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
    }
}

// The left operand of a weight gradient: doutᵀ, reduction along its rows. Packing dout in
// reduction pairs first makes it a transpose of 32-bit pairs: at[n][j] = pairs[j][n]; npairs
// and Np are multiples of 16.
AVX512_BF16_TARGET static void transpose_pairs(uint16_t *at, const uint16_t *pairs, long npairs, long Np)
{
    uint32_t *to = (uint32_t *)at;
    const uint32_t *from = (const uint32_t *)pairs;
    for (long j = 0; j < npairs; j += 16)
        for (long n = 0; n < Np; n += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(from + (j + i) * Np + n);
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_si512(to + (n + i) * npairs + j, r[i]);
        }
}

void bf16_multiply_transposed(float *sums, const float *dout, const float *inp, long R, int N,
                              int K, int accumulate, uint16_t *work)
{
    long Kp = bf16_padded(K), Np = bf16_padded(N);
    uint16_t *inp_pairs = work, *dout_pairs = work + BF16_CHUNK * Kp, *doutt = dout_pairs + BF16_CHUNK * Np;
    for (long r = 0; r < R; r += BF16_CHUNK) {
        int rows = R - r < BF16_CHUNK ? (int)(R - r) : BF16_CHUNK;
        long rp = bf16_padded(rows);
        bf16_pack_pairs_across_rows(inp_pairs, inp + r * K, K, rows, K, 0, rp / 2);
        bf16_pack_pairs_across_rows(dout_pairs, dout + r * N, N, rows, N, 0, rp / 2);
        transpose_pairs(doutt, dout_pairs, rp / 2, Np);
        for (int n = 0; n < N; n += BF16_BLOCK)
            block_product(sums + (long)n * K, K, N - n < BF16_BLOCK ? N - n : BF16_BLOCK, K,
                         accumulate || r > 0 ? sums + (long)n * K : NULL, K, doutt + n * rp, (int)rp,
                         inp_pairs, (int)Kp);
    }
}
