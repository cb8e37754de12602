// image_fit: the single routine that brings every cached image to its square size (see
// image.h). Resizing is separable; each axis gets a table of filter taps for the output
// samples that survive the centre crop, so a resize-and-crop never computes pixels it drops
// and a copy or a pad is the same code with one tap of weight 1.
#include "data/image.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int taps;       // weights per output sample (the widest footprint)
    int *first;     // first source index of output sample j
    int *count;     // source samples of output j; 0 where j falls in the zero padding
    float *weights; // [size][taps]
} AxisFilter;

static void axis_filter_free(AxisFilter *f)
{
    free(f->first);
    free(f->count);
    free(f->weights);
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// Taps for `size` output samples along an axis of in_len source samples resized to out_len,
// centre-cropped or zero-padded to size. As PIL's BILINEAR: sample k of the resized axis sits
// at (k + ½)·in/out in source coordinates, and when shrinking the triangle is stretched by
// in/out so that every source pixel contributes (antialiasing).
static int axis_filter_build(AxisFilter *f, int in_len, int out_len, int size)
{
    double scale = (double)in_len / out_len;
    double stretch = scale > 1.0 ? scale : 1.0;
    f->taps = 2 * (int)ceil(stretch) + 1;
    f->first = calloc((size_t)size, sizeof *f->first);
    f->count = calloc((size_t)size, sizeof *f->count);
    f->weights = calloc((size_t)size * (size_t)f->taps, sizeof *f->weights);
    if (!f->first || !f->count || !f->weights) return -1;
    int shift = (out_len - size) / 2; // crop offset if positive, minus the padding if negative
    for (int j = 0; j < size; j++) {
        int k = j + shift;
        if (k < 0 || k >= out_len) continue;
        double center = (k + 0.5) * scale;
        int lo = (int)floor(center - stretch + 0.5), hi = (int)floor(center + stretch + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in_len ? in_len : hi;
        float *w = f->weights + (size_t)j * (size_t)f->taps;
        double total = 0.0;
        for (int i = lo; i < hi; i++) total += triangle((i + 0.5 - center) / stretch);
        for (int i = lo; i < hi; i++)
            w[i - lo] = (float)(triangle((i + 0.5 - center) / stretch) / total);
        f->first[j] = lo;
        f->count[j] = hi - lo;
    }
    return 0;
}

static uint8_t round_to_byte(float v)
{
    return v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

// One channel: for each output row, the vertical taps combine whole source rows into `row`,
// then the horizontal taps read from it.
static void fit_channel(const uint8_t *src, int width, const AxisFilter *fx,
                        const AxisFilter *fy, int size, float *row, uint8_t *dst)
{
    for (int i = 0; i < size; i++) {
        uint8_t *out = dst + (size_t)i * (size_t)size;
        const float *wy = fy->weights + (size_t)i * (size_t)fy->taps;
        for (int x = 0; x < width; x++) row[x] = 0.0f;
        for (int t = 0; t < fy->count[i]; t++) {
            const uint8_t *s = src + (size_t)(fy->first[i] + t) * (size_t)width;
            for (int x = 0; x < width; x++) row[x] += wy[t] * s[x];
        }
        for (int j = 0; j < size; j++) {
            const float *wx = fx->weights + (size_t)j * (size_t)fx->taps;
            float v = 0.0f;
            for (int t = 0; t < fx->count[j]; t++) v += wx[t] * row[fx->first[j] + t];
            out[j] = round_to_byte(v);
        }
    }
}

int image_fit(const Image *img, int size, uint8_t *dst)
{
    int w = img->width, h = img->height, shorter = w < h ? w : h;
    int out_w = w, out_h = h;
    if (shorter > size) { // shorter side to size, the longer by the same factor (truncated)
        out_w = w == shorter ? size : (int)((long long)size * w / shorter);
        out_h = h == shorter ? size : (int)((long long)size * h / shorter);
    }
    AxisFilter fx = {0}, fy = {0};
    float *row = malloc((size_t)w * sizeof *row);
    int rc = -1;
    if (row && axis_filter_build(&fx, w, out_w, size) == 0 &&
        axis_filter_build(&fy, h, out_h, size) == 0) {
        size_t plane = (size_t)w * (size_t)h, out_plane = (size_t)size * (size_t)size;
        for (int c = 0; c < img->channels; c++)
            fit_channel(img->pixels + c * plane, w, &fx, &fy, size, row, dst + c * out_plane);
        rc = 0;
    }
    axis_filter_free(&fx);
    axis_filter_free(&fy);
    free(row);
    return rc;
}
