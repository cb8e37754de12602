// The bf16 matrix products on Intel AMX tiles (matmul_amx.c), used by ops.c's matmul_forward
// and matmul_backward when the precision is bf16. Operands are rounded to bf16 (to nearest
// even) as they are packed into the layouts the tiles load; products accumulate in fp32.
// Shapes are padded with zeros to whole blocks of AMX_BLOCK, so any size works.
#ifndef SIMMIM_MATMUL_AMX_H
#define SIMMIM_MATMUL_AMX_H

#include <stddef.h>
#include <stdint.h>

enum {
    AMX_BLOCK = 32,  // rows and columns of output one step of 2×2 tiles computes; reduction per tile row
    AMX_CHUNK = 256, // reduction rows a weight gradient packs at a time
};

static inline long amx_padded(long n) { return (n + AMX_BLOCK - 1) / AMX_BLOCK * AMX_BLOCK; }

// Loads the tile configuration on the calling thread; tiles_release frees it. Every thread
// that calls the products below does so between the two.
void amx_tiles_configure(void);
void amx_tiles_release(void);

// The reduction-pair layout the tiles load as their right operand, from a matrix whose
// reduction runs along its rows: src[N, K] (row stride K), reduction over K →
// dst[Kp/2, Np, 2] with Kp = amx_padded(K), Np = amx_padded(N). Packs the pairs [j0, j1).
void amx_pack_pairs_within_rows(uint16_t *dst, const float *src, int N, int K, long j0, long j1);
// The same layout from a matrix whose reduction runs down its columns: src[R, C] (row stride
// ld), reduction over R → dst[amx_padded(R)/2, amx_padded(C), 2]. Packs the pairs [j0, j1).
void amx_pack_pairs_across_rows(uint16_t *dst, const float *src, long ld, int R, int C, long j0,
                                long j1);

// out[M, N] (row stride ldo) = inp[M, K] (row stride K) · B + bias[N] (bias may be NULL), where
// B is packed by one of the two functions above with reduction K and N columns. a_block holds
// AMX_BLOCK · amx_padded(K) elements.
void amx_multiply_rows(float *out, long ldo, const float *inp, int M, int K, const uint16_t *B,
                       int N, const float *bias, uint16_t *a_block);

// sums[N, K] = (accumulate ? sums : 0) + doutᵀ · inp over R rows: dout[R, N], inp[R, K].
// work holds amx_transposed_work_elems(N, K) elements.
size_t amx_transposed_work_elems(int N, int K);
void amx_multiply_transposed(float *sums, const float *dout, const float *inp, long R, int N,
                             int K, int accumulate, uint16_t *work);

#endif
