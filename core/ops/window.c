// Swin Transformer's ops (ops.h): the cyclic shift with the window partition and its inverse,
// the shifted windows' attention mask, the relative position bias, and patch merging's gather.
// Each moves whole token rows: the partition, its inverse and the merge are permutations of
// rows (a backward is the forward of the inverse), so they run one row per iteration split
// over threads, and every output element has one writer. The bias gradient, a sum over all
// windows of all images, is taken in window order whatever the thread count.
#include "ops/ops.h"

#include <string.h>

// The token row (within its image) that row n of window w holds after the grid was rolled by
// −shift: window (wy, wx), position (iy, ix) within it reads grid cell
// ((wy·W + iy + shift) mod G, (wx·W + ix + shift) mod G).
static long window_source_row(int w, int n, int G, int W, int shift)
{
    int per_side = G / W, wy = w / per_side, wx = w % per_side, iy = n / W, ix = n % W;
    int y = (wy * W + iy + shift) % G, x = (wx * W + ix + shift) % G;
    return (long)y * G + x;
}

// Grid [B, G, G, D] to windows [B·(G/W)², W², D] (to_windows), or windows to grid: dst and
// src are the two layouts in that order of the direction.
static void move_window_rows(float *dst, const float *src, int to_windows, int B, int G, int W,
                             int shift, int D)
{
    long per_image = (long)G * G, N = (long)W * W;
#pragma omp parallel for
    for (long r = 0; r < B * per_image; r++) {
        long b = r / per_image;
        long cell = b * per_image + window_source_row((int)(r % per_image / N), (int)(r % N), G, W,
                                                      shift);
        if (to_windows) memcpy(dst + r * D, src + cell * D, sizeof(float) * D);
        else memcpy(dst + cell * D, src + r * D, sizeof(float) * D);
    }
}

void window_partition_forward(float *out, const float *x, int B, int G, int W, int shift, int D)
{
    move_window_rows(out, x, 1, B, G, W, shift, D);
}

void window_partition_backward(float *dx, const float *dout, int B, int G, int W, int shift, int D)
{
    move_window_rows(dx, dout, 0, B, G, W, shift, D);
}

void window_reverse_forward(float *x, const float *windows, int B, int G, int W, int shift, int D)
{
    move_window_rows(x, windows, 0, B, G, W, shift, D);
}

void window_reverse_backward(float *dwindows, const float *dx, int B, int G, int W, int shift,
                             int D)
{
    move_window_rows(dwindows, dx, 1, B, G, W, shift, D);
}

// The region (0, 1 or 2) of a coordinate of the rolled grid on one axis.
static int shift_region(int at, int G, int W, int shift)
{
    return at < G - W ? 0 : at < G - shift ? 1 : 2;
}

void shifted_window_mask(float *mask, int G, int W, int shift)
{
    int per_side = G / W, N = W * W;
    for (int w = 0; w < per_side * per_side; w++) {
        int region[N];
        for (int n = 0; n < N; n++) {
            int y = w / per_side * W + n / W, x = w % per_side * W + n % W;
            region[n] = shift_region(y, G, W, shift) * 3 + shift_region(x, G, W, shift);
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                mask[((long)w * N + i) * N + j] = region[i] == region[j] ? 0.0f : -100.0f;
    }
}

static int relative_index(int i, int j, int W)
{
    return (i / W - j / W + W - 1) * (2 * W - 1) + i % W - j % W + W - 1;
}

void relative_bias_forward(float *bias, const float *table, int W, int H)
{
    int N = W * W;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                bias[((long)h * N + i) * N + j] = table[relative_index(i, j, W) * H + h];
}

void relative_bias_backward(float *dtable, float *dscores, int B, int W, int H)
{
    long N = (long)W * W, per = H * N * N;
    // The sum over sequences, each element in sequence order, split over elements.
#pragma omp parallel for
    for (long e = 0; e < per; e++)
        for (long b = 1; b < B; b++) dscores[e] += dscores[b * per + e];
    for (int h = 0; h < H; h++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                dtable[relative_index(i, j, W) * H + h] += dscores[((long)h * N + i) * N + j];
}

// The grid row that part k (0 … 3) of merged row (y, x) of an image comes from.
static long merge_source_row(long merged, int k, int G)
{
    int half = G / 2, y = (int)(merged / half), x = (int)(merged % half);
    return (long)(2 * y + (k & 1)) * G + 2 * x + (k >> 1);
}

// Grid [B, G, G, D] to merged rows [B, (G/2)², 4D] (to_merged), or back, as move_window_rows.
static void move_merge_rows(float *dst, const float *src, int to_merged, int B, int G, int D)
{
    long per_image = (long)G * G, half = per_image / 4;
#pragma omp parallel for
    for (long r = 0; r < B * half; r++) {
        long b = r / half;
        for (int k = 0; k < 4; k++) {
            long part = r * 4 + k, cell = b * per_image + merge_source_row(r % half, k, G);
            if (to_merged) memcpy(dst + part * D, src + cell * D, sizeof(float) * D);
            else memcpy(dst + cell * D, src + part * D, sizeof(float) * D);
        }
    }
}

void patch_merge_forward(float *out, const float *x, int B, int G, int D)
{
    move_merge_rows(out, x, 1, B, G, D);
}

void patch_merge_backward(float *dx, const float *dout, int B, int G, int D)
{
    move_merge_rows(dx, dout, 0, B, G, D);
}
