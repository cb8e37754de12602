// The layer operations of the ViT and its SimMIM and classification heads. Every op has a
// _forward and a _backward; shapes are in the comments, row-major, B = batch, T = tokens
// (1 + N, cls first), N = patches, D = embed dim. Backward functions accumulate (+=) into
// parameter gradients and overwrite activation gradients unless a comment says otherwise.
// Every matrix product but attention's is a cblas_sgemm (fp32) or, with precision bf16, an AMX
// tile product (matmul_amx.c); work is split across OpenMP threads, each calling a
// single-threaded OpenBLAS or its own tiles.
#ifndef SIMMIM_OPS_H
#define SIMMIM_OPS_H

#include <stddef.h>

#include "base/cpu.h"

// Sets the number of threads the ops use (0 = all cores) and makes OpenBLAS single-threaded
// per call, since the ops split work across threads themselves.
void ops_set_threads(int threads);
int ops_threads(void);

// The arithmetic of the matrix products (base/cpu.h). Set before model_create (which sizes
// the bf16 packing buffers). Returns 0, or -1 with err filled if this processor cannot run
// the precision (cpu_precision_available).
int ops_set_precision(Precision precision, char *err, size_t errlen);
Precision ops_precision(void);

// out[M,N] = inp[M,K] · weight[N,K]ᵀ + bias[N] (bias may be NULL)
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int M, int K, int N);
// dinp[M,K] = dout·weight (skipped if dinp is NULL); dweight[N,K] += doutᵀ·inp;
// dbias[N] += column sums of dout (skipped if NULL). scratch holds
// matmul_backward_scratch_floats(M, K, N) floats (partial sums of dweight).
size_t matmul_backward_scratch_floats(long M, long K, long N);
// Makes room for the bf16 packing of products with these K and N, whatever their rows
// (nothing to do in fp32), so that the products themselves never allocate. Returns 0, or -1
// if out of memory.
int matmul_reserve(long K, long N);
void matmul_backward(float *dinp, float *dweight, float *dbias, float *scratch,
                     const float *dout, const float *inp, const float *weight, int M, int K, int N);

// Patch embedding: a p×p stride-p convolution as im2col + GEMM.
// images [B,C,S,S] → patches [B·N, C·p·p] (im2col, kept for backward) → out [B·N, D]
void patch_embed_forward(float *out, float *patches, const float *images, const float *weight,
                         const float *bias, int B, int C, int S, int p, int D);
// dweight [D, C·p·p] += ..., dbias [D] += ... (the images need no gradient); scratch as
// matmul_backward's for (B·N, C·p·p, D)
void patch_embed_backward(float *dweight, float *dbias, float *scratch, const float *dout,
                          const float *patches, int B, int N, int patch_dim, int D);

// Token embedding: x[b,0] = cls + pos[0]; x[b,1+n] = e·(1−w) + mask_token·w + pos[1+n] with
// w = token_mask[b,n] ∈ {0,1} (token_mask NULL: no masking).
// patch_out [B·N, D], cls [D], mask_token [D], pos [T, D] → x [B, T, D]
void embed_forward(float *x, const float *patch_out, const float *cls, const float *mask_token,
                   const float *pos, const float *token_mask, int B, int N, int D);
// dpatch_out [B·N, D] = ...; dcls, dmask_token (if not NULL), dpos += ...
void embed_backward(float *dpatch_out, float *dcls, float *dmask_token, float *dpos,
                    const float *dx, const float *token_mask, int B, int N, int D);

// LayerNorm over the last dim, eps 1e-6. inp, out [R, D]; mean, rstd [R] kept for backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int R, int D);
// out [R, D]: layernorm_forward's output again, bit for bit, from the inp, mean and rstd it
// had, in one pass; so a caller that needs the output twice need not keep it in between.
void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd,
                     const float *weight, const float *bias, int R, int D);
// dinp [R, D] += ...; dweight, dbias [D] += ...
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int R, int D);

// Multi-head softmax attention on a fused qkv (attention.c).
// qkv [B, T, 3D] (columns [q | k | v], head h = columns h·hd..(h+1)·hd of each)
// → att [B, H, T, T] (softmax probabilities, kept), out [B, T, D]
// scratch holds attention_scratch_floats(T, hd) floats for each of scratch_threads threads;
// the ops use no more threads than that.
size_t attention_scratch_floats(int T, int hd);
void attention_forward(float *out, float *att, float *scratch, int scratch_threads,
                       const float *qkv, int B, int T, int D, int H);
// dqkv [B, T, 3D] = ...
void attention_backward(float *dqkv, float *scratch, int scratch_threads, const float *dout,
                        const float *qkv, const float *att, int B, int T, int D, int H);

// Exact GELU, x·Φ(x) with the erf form. inp, out [n]
void gelu_forward(float *out, const float *inp, long n);
// dinp [n] = dout · GELU'(inp), out being gelu_forward's output; dinp may alias dout
void gelu_backward(float *dinp, const float *inp, const float *out, const float *dout, long n);

// Residual with drop path: out[b] = x[b] + scale[b]·branch[b] over n elements per sample;
// scale NULL means 1 (out may alias x or branch).
void residual_forward(float *out, const float *x, const float *branch, const float *scale,
                      int B, long n);
// dbranch[b] = scale[b]·dout[b]; the identity path's gradient is dout itself.
void residual_backward(float *dbranch, const float *dout, const float *scale, int B, long n);

// Drops the cls token: x [B, T, D] → out [B·N, D] (contiguous patch tokens).
void patch_tokens_forward(float *out, const float *x, int B, int N, int D);
// dx [B, T, D] += dout at the patch rows
void patch_tokens_backward(float *dx, const float *dout, int B, int N, int D);

// SimMIM head's pixel shuffle: dec [B·N, C·p·p] (channel k = c·p² + i·p + j of token
// (gy, gx)) → img [B, C, S, S] with pixel (gy·p + i, gx·p + j) of channel c.
void pixel_shuffle_forward(float *img, const float *dec, int B, int C, int S, int p);
void pixel_shuffle_backward(float *ddec, const float *dimg, int B, int C, int S, int p);

// SimMIM reconstruction loss, L1. pred, target [B, C, S, S]; token_mask [B, N] in {0,1} at
// the token grid (p pixels per token). With a mask: Σ|x − x̂|·m / (Σ_{b,h,w} m + 1e-5) / C;
// token_mask NULL: the mean of |x − x̂| over every element.
float l1_loss_forward(const float *pred, const float *target, const float *token_mask,
                      int B, int C, int S, int p);
// dpred [B, C, S, S] = ∂loss/∂pred
void l1_loss_backward(float *dpred, const float *pred, const float *target,
                      const float *token_mask, int B, int C, int S, int p);

// Mean of the patch tokens (cls excluded): x [B, T, D] → out [B, D]
void mean_pool_forward(float *out, const float *x, int B, int N, int D);
// dx [B, T, D] = dout / N at the patch rows, 0 at cls (overwrites)
void mean_pool_backward(float *dx, const float *dout, int B, int N, int D);

// Softmax cross-entropy with label smoothing ε, averaged over the batch:
// (1−ε)·(−log p_y) + ε·mean_k(−log p_k). logits [B, K], labels [B] → probs [B, K] (kept)
float crossentropy_forward(float *probs, const float *logits, const int *labels, float smoothing,
                           int B, int K);
// dlogits [B, K] = (probs − target) / B
void crossentropy_backward(float *dlogits, const float *probs, const int *labels, float smoothing,
                           int B, int K);

#endif
