// bf16 matrix products on Intel AMX tiles; see matmul_amx.h. A tile product computes a block
// of AMX_BLOCK × AMX_BLOCK outputs in four 16 × 16 fp32 tiles (0–3) from two left tiles (4, 5:
// 16 rows × 32 bf16 of the reduction) and two right tiles (6, 7: 16 reduction pairs × 16
// columns × 2). Each output element is summed over the reduction in the same order whatever
// rows a thread was given, so results do not depend on the thread count.
//
// The functions carry their instruction sets as target attributes, so the rest of the build
// needs no AMX flags and runs on any x86-64; ops.c calls them only once cpu_has_amx_bf16()
// said so.
#include "ops/matmul_amx.h"

#include <immintrin.h>
#include <string.h>

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

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

AMX_TARGET void amx_tiles_configure(void) { _tile_loadconfig(&TILES); }

AMX_TARGET void amx_tiles_release(void) { _tile_release(); }

static uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40); // NaN stays NaN
    u += 0x7fffu + (u >> 16 & 1);
    return (uint16_t)(u >> 16);
}

// dst[0, Cp) = src[0, C) rounded to bf16, zeros after; Cp a multiple of AMX_BLOCK.
AMX_TARGET static void convert_row(uint16_t *dst, const float *src, int C, int Cp)
{
    for (int c = 0; c < Cp; c += AMX_BLOCK) {
        int left = C - c;
        __mmask16 lo = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        __mmask16 hi = left >= 32 ? 0xffff : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
        __m512 a = _mm512_maskz_loadu_ps(lo, src + c), b = _mm512_maskz_loadu_ps(hi, src + c + 16);
        _mm512_storeu_si512(dst + c, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
}

void amx_pack_pairs_within_rows(uint16_t *dst, const float *src, int N, int K, long j0, long j1)
{
    long Np = amx_padded(N);
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
AMX_TARGET static void interleave_rows(uint16_t *out, const float *row0, const float *row1, int C,
                                       int Cp)
{
    static const uint16_t order[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512i index = _mm512_loadu_si512(order);
    for (int c = 0; c < Cp; c += 16) {
        int left = C - c;
        __mmask16 m = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        __m512 a = _mm512_maskz_loadu_ps(m, row0 + c);
        __m512 b = row1 ? _mm512_maskz_loadu_ps(m, row1 + c) : _mm512_setzero_ps();
        __m512i pairs = _mm512_permutexvar_epi16(index, (__m512i)_mm512_cvtne2ps_pbh(b, a));
        _mm512_storeu_si512(out + 2 * c, pairs);
    }
}

void amx_pack_pairs_across_rows(uint16_t *dst, const float *src, long ld, int R, int C, long j0,
                                long j1)
{
    int Cp = (int)amx_padded(C);
    for (long j = j0; j < j1; j++) {
        uint16_t *out = dst + j * Cp * 2;
        if (2 * j >= R) memset(out, 0, sizeof(uint16_t) * 2 * Cp);
        else interleave_rows(out, src + 2 * j * ld, 2 * j + 1 < R ? src + (2 * j + 1) * ld : NULL, C, Cp);
    }
}

// C[rows, cols] (row stride ldc) = start + A[AMX_BLOCK, kp] · B[kp/2, colsp, 2], where start is
// zero (NULL) or a matrix with row stride start_ld: C itself to accumulate, or a bias row
// with stride 0 (a tile load then repeats it down the rows). Blocks that overhang C's edges go
// through a staging block.
AMX_TARGET static void tile_product(float *C, long ldc, int rows, int cols, const float *start,
                                    long start_ld, const uint16_t *A, int kp, const uint16_t *B,
                                    int colsp)
{
    for (int n = 0; n < cols; n += AMX_BLOCK) {
        float staging[AMX_BLOCK * AMX_BLOCK];
        int full = rows == AMX_BLOCK && n + AMX_BLOCK <= cols;
        float *c = full ? C + n : staging;
        long ld = full ? ldc : AMX_BLOCK;
        const float *s = full ? start + n : staging;
        long sld = full ? start_ld : AMX_BLOCK;
        if (!full)
            for (int r = 0; r < AMX_BLOCK; r++)
                for (int j = 0; j < AMX_BLOCK; j++)
                    staging[r * AMX_BLOCK + j] = start && r < rows && n + j < cols ? start[r * start_ld + n + j] : 0.0f;
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
        for (int k = 0; k < kp; k += AMX_BLOCK) {
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
                for (int j = 0; j < AMX_BLOCK && n + j < cols; j++) C[r * ldc + n + j] = staging[r * AMX_BLOCK + j];
    }
}

void amx_multiply_rows(float *out, long ldo, const float *inp, int M, int K, const uint16_t *B,
                       int N, const float *bias, uint16_t *a_block)
{
    int Kp = (int)amx_padded(K), Np = (int)amx_padded(N);
    for (int r = 0; r < M; r += AMX_BLOCK) {
        int rows = M - r < AMX_BLOCK ? M - r : AMX_BLOCK;
        for (int i = 0; i < AMX_BLOCK; i++) {
            if (i < rows) convert_row(a_block + (long)i * Kp, inp + (long)(r + i) * K, K, Kp);
            else memset(a_block + (long)i * Kp, 0, sizeof(uint16_t) * Kp);
        }
        tile_product(out + r * ldo, ldo, rows, N, bias, 0, a_block, Kp, B, Np);
    }
}

size_t amx_transposed_work_elems(int N, int K)
{
    return (size_t)AMX_CHUNK * (amx_padded(K) + 2 * amx_padded(N));
}

// A 16 × 16 transpose of 32-bit elements in registers: pairs of rows interleaved at 32 bits,
// then 64, then 128-bit lanes twice.
AMX_TARGET static void transpose16(__m512i r[16])
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
AMX_TARGET static void transpose_pairs(uint16_t *at, const uint16_t *pairs, long npairs, long Np)
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

void amx_multiply_transposed(float *sums, const float *dout, const float *inp, long R, int N,
                             int K, int accumulate, uint16_t *work)
{
    long Kp = amx_padded(K), Np = amx_padded(N);
    uint16_t *inp_pairs = work, *dout_pairs = work + AMX_CHUNK * Kp, *doutt = dout_pairs + AMX_CHUNK * Np;
    for (long r = 0; r < R; r += AMX_CHUNK) {
        int rows = R - r < AMX_CHUNK ? (int)(R - r) : AMX_CHUNK;
        long rp = amx_padded(rows);
        amx_pack_pairs_across_rows(inp_pairs, inp + r * K, K, rows, K, 0, rp / 2);
        amx_pack_pairs_across_rows(dout_pairs, dout + r * N, N, rows, N, 0, rp / 2);
        transpose_pairs(doutt, dout_pairs, rp / 2, Np);
        for (int n = 0; n < N; n += AMX_BLOCK)
            tile_product(sums + (long)n * K, K, N - n < AMX_BLOCK ? N - n : AMX_BLOCK, K,
                         accumulate || r > 0 ? sums + (long)n * K : NULL, K, doutt + n * rp, (int)rp,
                         inp_pairs, (int)Kp);
    }
}
