// image_fit: the single routine that brings every cached image to its square size (see
// image.h), and image_resize_box, the same filter on a box of the image (the streamed
// training view's crop). Resizing is separable; each axis gets a table of filter taps for the
// output samples that survive the centre crop, so a resize-and-crop never computes pixels it
// drops and a copy or a pad is the same code with one tap of weight 1. The tables and the
// row buffer live in a ResizeScratch, so a caller that keeps one allocates nothing per image.
// image_fit's arithmetic is fixed (the cache's pixels must not change); image_resize_box has
// the same filter in a faster order (both passes vectorized: the horizontal one runs down
// the columns of a transposed intermediate), so it may differ from it by a rounding.
#include "data/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void resize_scratch_free(ResizeScratch *s)
{
    for (int a = 0; a < 2; a++) {
        free(s->axis[a].first);
        free(s->axis[a].count);
        free(s->axis[a].weights);
    }
    free(s->row);
    free(s->tmp);
    free(s->tmp_t);
    free(s->out_t);
    memset(s, 0, sizeof *s);
}

static int grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return -1;
    *p = q, *cap = need;
    return 0;
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// Taps for `size` output samples along an axis whose box [in0, in1) (source coordinates) is
// resized to out_len samples, then centre-cropped or zero-padded to size (mirrored if flip);
// taps read only source samples in [lo_limit, hi_limit). As PIL's BILINEAR: sample k of the
// resized axis sits at in0 + (k + ½)·(in1 − in0)/out_len, and when shrinking the triangle is
// stretched by the shrink factor so that every source pixel contributes (antialiasing).
static int axis_filter_build(ResizeAxis *f, double in0, double in1, int lo_limit, int hi_limit,
                             int out_len, int size, int flip)
{
    double scale = (in1 - in0) / out_len;
    double stretch = scale > 1.0 ? scale : 1.0;
    f->taps = 2 * (int)ceil(stretch) + 1;
    size_t n = (size_t)size, nw = n * (size_t)f->taps;
    if (grow((void **)&f->first, &f->cap_first, n * sizeof *f->first) ||
        grow((void **)&f->count, &f->cap_count, n * sizeof *f->count) ||
        grow((void **)&f->weights, &f->cap_weights, nw * sizeof *f->weights))
        return -1;
    memset(f->first, 0, n * sizeof *f->first);
    memset(f->count, 0, n * sizeof *f->count);
    memset(f->weights, 0, nw * sizeof *f->weights);
    f->lo = hi_limit, f->hi = lo_limit;
    int shift = (out_len - size) / 2; // crop offset if positive, minus the padding if negative
    for (int j = 0; j < size; j++) {
        int k = (flip ? size - 1 - j : j) + shift;
        if (k < 0 || k >= out_len) continue;
        double center = in0 + (k + 0.5) * scale;
        int lo = (int)floor(center - stretch + 0.5), hi = (int)floor(center + stretch + 0.5);
        lo = lo < lo_limit ? lo_limit : lo;
        hi = hi > hi_limit ? hi_limit : hi;
        float *w = f->weights + (size_t)j * (size_t)f->taps;
        double total = 0.0;
        for (int i = lo; i < hi; i++) total += triangle((i + 0.5 - center) / stretch);
        if (!(total > 0.0)) { // (a box at the edge of its limits: the nearest sample)
            lo = (int)floor(center);
            lo = lo < lo_limit ? lo_limit : lo >= hi_limit ? hi_limit - 1 : lo;
            hi = lo + 1;
            w[0] = 1.0f;
        } else {
            for (int i = lo; i < hi; i++)
                w[i - lo] = (float)(triangle((i + 0.5 - center) / stretch) / total);
        }
        f->first[j] = lo;
        f->count[j] = hi - lo;
        if (lo < f->lo) f->lo = lo;
        if (hi > f->hi) f->hi = hi;
    }
    return 0;
}

static uint8_t round_to_byte(float v)
{
    return v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

// One channel: for each output row, the vertical taps combine source rows into `row` (the
// columns some horizontal tap reads), then the horizontal taps read from it.
static void fit_channel(const uint8_t *src, int width, const ResizeAxis *fx,
                        const ResizeAxis *fy, int size, float *row, uint8_t *dst)
{
    int x0 = fx->lo, x1 = fx->hi;
    for (int i = 0; i < size; i++) {
        uint8_t *out = dst + (size_t)i * (size_t)size;
        const float *wy = fy->weights + (size_t)i * (size_t)fy->taps;
        for (int x = x0; x < x1; x++) row[x] = 0.0f;
        for (int t = 0; t < fy->count[i]; t++) {
            const uint8_t *s = src + (size_t)(fy->first[i] + t) * (size_t)width;
            for (int x = x0; x < x1; x++) row[x] += wy[t] * s[x];
        }
        for (int j = 0; j < size; j++) {
            const float *wx = fx->weights + (size_t)j * (size_t)fx->taps;
            float v = 0.0f;
            for (int t = 0; t < fx->count[j]; t++) v += wx[t] * row[fx->first[j] + t];
            out[j] = round_to_byte(v);
        }
    }
}

static int resample(const uint8_t *planar, int channels, int w, int h, int size,
                    ResizeScratch *s, uint8_t *dst)
{
    if (grow((void **)&s->row, &s->cap_row, (size_t)w * sizeof *s->row)) return -1;
    size_t plane = (size_t)w * (size_t)h, out_plane = (size_t)size * (size_t)size;
    for (int c = 0; c < channels; c++)
        fit_channel(planar + c * plane, w, &s->axis[0], &s->axis[1], size, s->row,
                    dst + c * out_plane);
    return 0;
}

int image_fit_scratch(const Image *img, int size, uint8_t *dst, ResizeScratch *s)
{
    int w = img->width, h = img->height, shorter = w < h ? w : h;
    int out_w = w, out_h = h;
    if (shorter > size) { // shorter side to size, the longer by the same factor (truncated)
        out_w = w == shorter ? size : (int)((long long)size * w / shorter);
        out_h = h == shorter ? size : (int)((long long)size * h / shorter);
    }
    if (axis_filter_build(&s->axis[0], 0.0, (double)w, 0, w, out_w, size, 0) ||
        axis_filter_build(&s->axis[1], 0.0, (double)h, 0, h, out_h, size, 0))
        return -1;
    return resample(img->pixels, img->channels, w, h, size, s, dst);
}

int image_fit(const Image *img, int size, uint8_t *dst)
{
    ResizeScratch s = {0};
    int rc = image_fit_scratch(img, size, dst, &s);
    resize_scratch_free(&s);
    return rc;
}

// Blocked transposes (rows × cols → cols × rows): whole 8 × 8 blocks with constant bounds
// (unrolled by the compiler), the ragged edges element by element.
#define TRANSPOSE(name, type)                                                                  \
    static void name(const type *src, int rows, int cols, type *dst)                          \
    {                                                                                          \
        enum { B = 8 };                                                                        \
        int rb = rows / B * B, cb = cols / B * B;                                              \
        for (int r0 = 0; r0 < rb; r0 += B)                                                     \
            for (int c0 = 0; c0 < cb; c0 += B) {                                               \
                const type *s = src + (size_t)r0 * cols + c0;                                  \
                type *d = dst + (size_t)c0 * rows + r0;                                        \
                for (int c = 0; c < B; c++)                                                    \
                    for (int r = 0; r < B; r++) d[(size_t)c * rows + r] = s[(size_t)r * cols + c]; \
            }                                                                                  \
        for (int r = 0; r < rows; r++)                                                         \
            for (int c = r < rb ? cb : 0; c < cols; c++)                                       \
                dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];                         \
    }
TRANSPOSE(transpose_floats, float)
TRANSPOSE(transpose_bytes, uint8_t)

// One channel: the vertical taps make size rows of the columns [fx->lo, fx->hi) (contiguous,
// vectorized); transposed, the horizontal taps combine whole columns the same way; the
// result, transposed back, is rounded to bytes.
static void box_channel(const uint8_t *src, int width, const ResizeAxis *fx,
                        const ResizeAxis *fy, int size, ResizeScratch *s, uint8_t *dst)
{
    int x0 = fx->lo, xw = fx->hi - fx->lo;
    for (int i = 0; i < size; i++) {
        float *row = s->tmp + (size_t)i * (size_t)xw;
        const float *wy = fy->weights + (size_t)i * (size_t)fy->taps;
        for (int x = 0; x < xw; x++) row[x] = 0.0f;
        for (int t = 0; t < fy->count[i]; t++) {
            const uint8_t *r = src + (size_t)(fy->first[i] + t) * (size_t)width + x0;
            float w = wy[t];
            for (int x = 0; x < xw; x++) row[x] += w * r[x];
        }
    }
    transpose_floats(s->tmp, size, xw, s->tmp_t); // [xw][size]
    float *col = s->row;                           // size floats
    for (int j = 0; j < size; j++) {
        const float *wx = fx->weights + (size_t)j * (size_t)fx->taps;
        for (int i = 0; i < size; i++) col[i] = 0.5f; // (+½: rounding to nearest below)
        for (int t = 0; t < fx->count[j]; t++) {
            const float *c = s->tmp_t + (size_t)(fx->first[j] - x0 + t) * (size_t)size;
            float w = wx[t];
            for (int i = 0; i < size; i++) col[i] += w * c[i];
        }
        uint8_t *out = s->out_t + (size_t)j * (size_t)size;
        for (int i = 0; i < size; i++) out[i] = (uint8_t)(col[i] < 255.0f ? col[i] : 255.0f);
    }
    transpose_bytes(s->out_t, size, size, dst);
}

int image_resize_box(const Image *img, const double box[4], const int limits[4], int size,
                     int flip, uint8_t *dst, ResizeScratch *s)
{
    if (axis_filter_build(&s->axis[0], box[0], box[2], limits[0], limits[2], size, size, flip) ||
        axis_filter_build(&s->axis[1], box[1], box[3], limits[1], limits[3], size, size, 0))
        return -1;
    size_t xw = (size_t)(s->axis[0].hi - s->axis[0].lo), n = (size_t)size;
    if (grow((void **)&s->tmp, &s->cap_tmp, n * xw * sizeof *s->tmp) ||
        grow((void **)&s->tmp_t, &s->cap_tmp_t, n * xw * sizeof *s->tmp_t) ||
        grow((void **)&s->row, &s->cap_row, n * sizeof *s->row) ||
        grow((void **)&s->out_t, &s->cap_out_t, n * n))
        return -1;
    size_t plane = (size_t)img->width * (size_t)img->height;
    for (int c = 0; c < img->channels; c++)
        box_channel(img->pixels + c * plane, img->width, &s->axis[0], &s->axis[1], size, s,
                    dst + c * n * n);
    return 0;
}
