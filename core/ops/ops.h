// The layer operations of the ViT and its SimMIM and classification heads. Every op has a
// _forward and a _backward; shapes are in the comments, row-major, B = batch, T = tokens
// (1 + N, cls first), N = patches, D = embed dim. Backward functions accumulate (+=) into
// parameter gradients and overwrite activation gradients unless a comment says otherwise.
// Every matrix product but attention's is a cblas_sgemm (fp32) or, with precision bf16, a bf16
// product on AMX tiles or AVX512-BF16 (matmul_bf16.c); work is split across OpenMP threads,
// each calling a single-threaded OpenBLAS or its own bf16 blocks.
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
// What runs the matrix products at that precision: "openblas" (fp32), "amx" or "avx512-bf16".
const char *ops_precision_engine(void);

// out[M,N] = inp[M,K] · weight[N,K]ᵀ + bias[N] (bias may be NULL)
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int M, int K, int N);
// The same product in fp32 whatever ops_set_precision chose: the representation probes'
// similarities and linear classifier (core/train/probe.h), where bf16's 8-bit mantissa would
// decide which neighbours vote. No backward.
void matmul_forward_fp32(float *out, const float *inp, const float *weight, const float *bias,
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
// Swin's: no cls, the position embedding optional. x[b,n] = e·(1−w) + mask_token·w + pos[n]
// (pos NULL: none; token_mask NULL: no masking). patch_out [B·N, D] → x [B·N, D]
void mask_embed_forward(float *x, const float *patch_out, const float *mask_token,
                        const float *pos, const float *token_mask, int B, int N, int D);
// dpatch_out [B·N, D] = ...; dmask_token, dpos (each if not NULL) += ...
void mask_embed_backward(float *dpatch_out, float *dmask_token, float *dpos, const float *dx,
                         const float *token_mask, int B, int N, int D);

// LayerNorm over the last dim (eps: 1e-6 in the ViT, 1e-5 in Swin as timm's).
// inp, out [R, D]; mean, rstd [R] kept for backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int R, int D, float eps);
// out [R, D]: layernorm_forward's output again, bit for bit, from the inp, mean and rstd it
// had, in one pass; so a caller that needs the output twice need not keep it in between.
void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd,
                     const float *weight, const float *bias, int R, int D);
// dinp [R, D] += ...; dweight, dbias [D] += ...
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int R, int D);

// Multi-head softmax attention on a fused qkv (attention.c), over B sequences of T tokens
// (images, or Swin's windows of all images).
// qkv [B, T, 3D] (columns [q | k | v], head h = columns h·hd..(h+1)·hd of each)
// → att [B, H, T, T] (softmax probabilities, kept), out [B, T, D]
// The scores softmax(q·kᵀ/√hd + bias[h] + mask[b % masks]) take Swin's relative position
// bias [H, T, T] and its shifted windows' mask [masks, T, T] (window b % masks of an image);
// either NULL when there is none.
// scratch holds attention_scratch_floats(T, hd) floats for each of scratch_threads threads;
// the ops use no more threads than that.
size_t attention_scratch_floats(int T, int hd);
void attention_forward(float *out, float *att, float *scratch, int scratch_threads,
                       const float *qkv, const float *bias, const float *mask, int masks, int B,
                       int T, int D, int H);
// dqkv [B, T, 3D] = ...; dscores [B, H, T, T] (NULL: not wanted) = the gradient of the scores,
// which is the bias's of each sequence (relative_bias_backward sums them).
void attention_backward(float *dqkv, float *dscores, float *scratch, int scratch_threads,
                        const float *dout, const float *qkv, const float *att, int B, int T,
                        int D, int H);

// --- Swin (window.c). A feature map is [B, G, G, D]: B·G·G token rows, the grid row-major.

// Cyclic shift and window partition: x rolled by −shift on both axes (torch.roll), cut into
// (G/W)² windows of W×W → out [B·(G/W)², W·W, D], windows row-major within each image.
// shift 0: the partition alone.
void window_partition_forward(float *out, const float *x, int B, int G, int W, int shift, int D);
// dx [B·G·G, D] = ... (overwrites; the partition is a permutation of rows)
void window_partition_backward(float *dx, const float *dout, int B, int G, int W, int shift,
                               int D);
// Its inverse: windows [B·(G/W)², W·W, D] back on the grid, rolled by +shift → x [B, G, G, D]
void window_reverse_forward(float *x, const float *windows, int B, int G, int W, int shift, int D);
// dwindows = ... (overwrites)
void window_reverse_backward(float *dwindows, const float *dx, int B, int G, int W, int shift,
                             int D);

// The shifted windows' attention mask [(G/W)², W², W²]: 0 where tokens i and j of a window
// come from the same region of the rolled grid ([0, G−W), [G−W, G−shift), [G−shift, G) on
// each axis), −100 elsewhere (Swin's). A constant: no backward.
void shifted_window_mask(float *mask, int G, int W, int shift);

// Relative position bias: bias [H, W², W²] = table [(2W−1)², H] at the index of tokens
// i = (yi, xi), j = (yj, xj) of a window: (yi − yj + W − 1)·(2W − 1) + xi − xj + W − 1.
void relative_bias_forward(float *bias, const float *table, int W, int H);
// dtable += Σ_b dscores[b] at the same index; dscores [B, H, W², W²] is overwritten (its first
// sequence ends holding the sum, taken in sequence order).
void relative_bias_backward(float *dtable, float *dscores, int B, int W, int H);

// Patch merging's gather: x [B, G, G, D] → out [B, (G/2)², 4D], row (y, x) the concatenation
// [x(2y, 2x) | x(2y+1, 2x) | x(2y, 2x+1) | x(2y+1, 2x+1)] (timm's order).
void patch_merge_forward(float *out, const float *x, int B, int G, int D);
// dx [B, G, G, D] = ... (overwrites)
void patch_merge_backward(float *dx, const float *dout, int B, int G, int D);

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

// A learned position embedding added to the rows of every image (a transformer decoder's):
// x [B, N, D] += pos [N, D]
void add_position_forward(float *x, const float *pos, int B, int N, int D);
// dpos [N, D] += Σ_b dx[b] (the gradient of x is dx itself)
void add_position_backward(float *dpos, const float *dx, int B, int N, int D);

// Nearest-neighbour upsampling by f, for display: in [B, C, R, R] → out [B, C, R·f, R·f]
void upsample_nearest_forward(float *out, const float *in, int B, int C, int R, int f);

// SimMIM's target at a lower resolution: the image average-pooled by f.
// img [B, C, S, S] → out [B, C, S/f, S/f] (the target takes no gradient: no backward)
void avg_pool_forward(float *out, const float *img, int B, int C, int S, int f);
// A mask at a coarser grid: in [B, S, S] → out [B, S/f, S/f], each the least of its f×f
// cells (of a {0,1} token mask: 1 where all of them are masked). No gradient.
void min_pool_forward(float *out, const float *in, int B, int S, int f);

// SimMIM's regression losses on the pixels: l1 |d|, l2 d², smooth_l1 d²/(2β) where |d| < β
// and |d| − β/2 elsewhere (PyTorch's; β = 0 is l1), d = x̂ − x. pred, target [B, C, S, S];
// token_mask [B, N] in {0,1} at the token grid (p pixels per token side). With a mask:
// Σ loss·m / (Σ_{b,h,w} m + 1e-5) / C; token_mask NULL: the mean over every element.
typedef enum { REGRESSION_L1, REGRESSION_L2, REGRESSION_SMOOTH_L1 } RegressionLoss;
float regression_loss_forward(RegressionLoss kind, float beta, const float *pred,
                              const float *target, const float *token_mask, int B, int C, int S,
                              int p);
// dpred [B, C, S, S] = ∂loss/∂pred
void regression_loss_backward(RegressionLoss kind, float beta, float *dpred, const float *pred,
                              const float *target, const float *token_mask, int B, int C, int S,
                              int p);

// SimMIM's classification targets: G groups of K-way softmax cross-entropy per pixel.
// logits [B, G·K, S, S] (channel g·K + k), classes [B, G, S, S] (class indices, as floats),
// token_mask as regression_loss's. With a mask: Σ CE·m / (Σ_{b,h,w} m + 1e-5) / G; NULL: the
// mean over B·G·S·S.
float pixel_crossentropy_forward(const float *logits, const float *classes,
                                 const float *token_mask, int B, int G, int K, int S, int p);
// dlogits [B, G·K, S, S] = ∂loss/∂logits
void pixel_crossentropy_backward(float *dlogits, const float *logits, const float *classes,
                                 const float *token_mask, int B, int G, int K, int S, int p);
// The expected value under each pixel's softmax: out [B, G·V, S, S] (channel g·V + v) =
// Σ_k softmax(logits[b, g·K .. g·K+K, y, x])_k · values[k·V + v]; values [K, V].
void pixel_expectation_forward(float *out, const float *logits, const float *values, int B,
                               int G, int K, int V, int S);

// The classes of the pixel targets, from normalized pixels x [B, C, S, S] and the
// normalization (pixel = x·std[c] + mean[c], in [0, 1]):
// bins: classes [B, C, S, S] = clamp(floor(pixel·K), 0, K − 1);
// palette [K, C]: classes [B, 1, S, S] = the nearest colour (squared distance; ties the lower k).
void bin_classes_forward(float *classes, const float *x, const float *mean, const float *std,
                         int B, int C, int S, int K);
void palette_classes_forward(float *classes, const float *x, const float *mean, const float *std,
                             const float *palette, int B, int C, int S, int K);

// Mean of the patch tokens (cls excluded): x [B, T, D] → out [B, D]
void mean_pool_forward(float *out, const float *x, int B, int N, int D);
// dx [B, T, D] = dout / N at the patch rows, 0 at cls (overwrites)
void mean_pool_backward(float *dx, const float *dout, int B, int N, int D);
// The same without a cls row (Swin's average pool): x [B, N, D] → out [B, D]
void token_mean_forward(float *out, const float *x, int B, int N, int D);
// dx [B, N, D] = dout / N (overwrites)
void token_mean_backward(float *dx, const float *dout, int B, int N, int D);

// Softmax cross-entropy with label smoothing ε, averaged over the batch:
// (1−ε)·(−log p_y) + ε·mean_k(−log p_k). logits [B, K], labels [B] → probs [B, K] (kept)
float crossentropy_forward(float *probs, const float *logits, const int *labels, float smoothing,
                           int B, int K);
// dlogits [B, K] = (probs − target) / B
void crossentropy_backward(float *dlogits, const float *probs, const int *labels, float smoothing,
                           int B, int K);

#endif
