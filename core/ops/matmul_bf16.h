// The bf16 matrix products (matmul_bf16.c), used by ops.c's matmul_forward and matmul_backward
// when the precision is bf16. Operands are rounded to bf16 (to nearest even) as they are packed
// into reduction pairs; products accumulate in fp32. Two engines compute the same layouts:
// Intel AMX tiles, or AVX512-BF16 dot products (AMD Zen 4, Intel processors with AVX512-BF16
// but no AMX) — base/cpu.h says which this processor has. Shapes are padded with zeros to
// whole blocks of BF16_BLOCK, so any size works.
#ifndef SIMMIM_MATMUL_BF16_H
#define SIMMIM_MATMUL_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "base/cpu.h"

enum {
    BF16_BLOCK = 32,  // rows and columns of output one block product computes; reduction per step
    BF16_CHUNK = 256, // reduction rows a weight gradient packs at a time
};

static inline long bf16_padded(long n) { return (n + BF16_BLOCK - 1) / BF16_BLOCK * BF16_BLOCK; }

// The engine the products run on; ops_set_precision sets this processor's (cpu_bf16_engine),
// tests may choose AVX512-BF16 on an AMX processor. Called outside parallel regions.
void bf16_use_engine(Bf16Engine engine);
Bf16Engine bf16_engine(void);

// Every thread that calls the products below does so between these two (on AMX they load
// and free the tile configuration).
void bf16_thread_begin(void);
void bf16_thread_end(void);

// The reduction-pair layout of the right operand, from a matrix whose reduction runs along
// its rows: src[N, K] (row stride K), reduction over K → dst[Kp/2, Np, 2] with
// Kp = bf16_padded(K), Np = bf16_padded(N). Packs the pairs [j0, j1).
void bf16_pack_pairs_within_rows(uint16_t *dst, const float *src, int N, int K, long j0, long j1);
// The same layout from a matrix whose reduction runs down its columns: src[R, C] (row stride
// ld), reduction over R → dst[bf16_padded(R)/2, bf16_padded(C), 2]. Packs the pairs [j0, j1).
void bf16_pack_pairs_across_rows(uint16_t *dst, const float *src, long ld, int R, int C, long j0,
                                 long j1);

// out[M, N] (row stride ldo) = inp[M, K] (row stride K) · B + bias[N] (bias may be NULL), where
// B is packed by one of the two functions above with reduction K and N columns. a_block holds
// BF16_BLOCK · bf16_padded(K) elements.
void bf16_multiply_rows(float *out, long ldo, const float *inp, int M, int K, const uint16_t *B,
                        int N, const float *bias, uint16_t *a_block);

// sums[N, K] = (accumulate ? sums : 0) + doutᵀ · inp over R rows: dout[R, N], inp[R, K].
// work holds bf16_transposed_work_elems(N, K) elements.
size_t bf16_transposed_work_elems(int N, int K);
void bf16_multiply_transposed(float *sums, const float *dout, const float *inp, long R, int N,
                              int K, int accumulate, uint16_t *work);

#endif
