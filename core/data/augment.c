// Batch assembly from the uint8 cache (see augment.h): per image a crop drawn from an RNG
// seeded by (seed, step, slot), bilinear sampling of the zero-padded image, normalization.
// Evaluation is the identity crop through the same sampler: its taps have weights exactly
// 1 and 0, so it reproduces the padded pixels bit for bit.
#include "data/augment.h"

#include <math.h>

#include "base/rng.h"

static uint64_t image_seed(uint64_t seed, long step, int slot)
{
    return rng_stream_seed(rng_stream_seed(seed, RNG_STREAM_AUGMENT, (uint64_t)step), (uint64_t)slot,
                           0);
}

AugmentCrop augment_crop_wh(const AugmentConfig *aug, int width, int height, uint64_t seed,
                            long step, int slot)
{
    if (!aug) return (AugmentCrop){.left = 0.0, .top = 0.0, .width = 1.0, .height = 1.0};
    Rng rng;
    rng_seed(&rng, image_seed(seed, step, slot));
    // Draw order (fixed, part of reproducibility): area, log aspect, x, y, flip.
    const double *scale = aug->crop_scale, *ratio = aug->crop_ratio;
    double area = scale[0] + (scale[1] - scale[0]) * rng_uniform(&rng);
    double log_lo = log(ratio[0]), log_hi = log(ratio[1]);
    double aspect = exp(log_lo + (log_hi - log_lo) * rng_uniform(&rng));
    // In pixels w = √(a·W·H·r), h = √(a·W·H/r); as fractions of W and H: √(a·r·H/W) and
    // √(a/r·W/H) (H/W = 1 exactly for a square: the same values as augment_crop's).
    double h_over_w = (double)height / width, w_over_h = (double)width / height;
    double w = fmin(1.0, sqrt(area * aspect * h_over_w));
    double h = fmin(1.0, sqrt(area / aspect * w_over_h));
    // A centre uniform where the crop fits is a left edge uniform in [0, 1 − w].
    double left = (1.0 - w) * rng_uniform(&rng), top = (1.0 - h) * rng_uniform(&rng);
    int flip = rng_uniform(&rng) < 0.5 && aug->hflip;
    return (AugmentCrop){.left = left, .top = top, .width = w, .height = h, .flip = flip};
}

AugmentCrop augment_crop(const AugmentConfig *aug, uint64_t seed, long step, int slot)
{
    return augment_crop_wh(aug, 1, 1, seed, step, slot);
}

// Bilinear taps of one output sample along one axis, as indices into the stored (unpadded)
// image; a tap that falls in the zero padding gets weight 0 (and a harmless index).
typedef struct {
    int index[2];
    float weight[2];
} Tap;

// Output sample j of S sits at u = (j + ½)/S (mirrored: (S − j − ½)/S) of the crop
// [start, start + extent); its source coordinate (align_corners=False) is
// (start + u·extent)·S − ½, clamped to [0, S − 1] (border replication).
static void axis_taps(double start, double extent, int flip, int S, int pad, int stored,
                      Tap *taps)
{
    for (int j = 0; j < S; j++) {
        double uS = flip ? S - j - 0.5 : j + 0.5; // u·S: exact, so the identity crop is exact
        double x = start * S + uS * extent - 0.5;
        x = x > 0.0 ? x : 0.0; // (written so that a NaN from a bad config lands on 0)
        x = x < S - 1 ? x : S - 1;
        int i0 = (int)x, i1 = i0 + 1 < S ? i0 + 1 : i0;
        float f = (float)(x - i0);
        int at[2] = {i0 - pad, i1 - pad};
        float w[2] = {1.0f - f, f};
        for (int k = 0; k < 2; k++) {
            int inside = at[k] >= 0 && at[k] < stored;
            taps[j].index[k] = inside ? at[k] : 0;
            taps[j].weight[k] = inside ? w[k] : 0.0f;
        }
    }
}

static void sample_image(const uint8_t *src, int channels, int stored, int pad,
                         const AugmentCrop *crop, const double *mean, const double *std,
                         float *out)
{
    int S = stored + 2 * pad; // at most dataset_load's image size limit: small VLAs
    Tap tx[S], ty[S];
    axis_taps(crop->left, crop->width, crop->flip, S, pad, stored, tx);
    axis_taps(crop->top, crop->height, 0, S, pad, stored, ty);
    for (int c = 0; c < channels; c++) {
        const uint8_t *plane = src + (size_t)c * stored * stored;
        float *dst = out + (size_t)c * S * S;
        for (int i = 0; i < S; i++) {
            const uint8_t *r0 = plane + (size_t)ty[i].index[0] * stored;
            const uint8_t *r1 = plane + (size_t)ty[i].index[1] * stored;
            for (int j = 0; j < S; j++) {
                const Tap *t = &tx[j];
                float top = t->weight[0] * r0[t->index[0]] + t->weight[1] * r0[t->index[1]];
                float bottom = t->weight[0] * r1[t->index[0]] + t->weight[1] * r1[t->index[1]];
                float v = ty[i].weight[0] * top + ty[i].weight[1] * bottom;
                dst[(size_t)i * S + j] = (float)((v / 255.0 - mean[c]) / std[c]);
            }
        }
    }
}

void augment_batch(const Dataset *ds, const ImageSet *set, const int *indices, int B,
                   const AugmentConfig *aug, uint64_t seed, long step, int first, float *images,
                   int *labels)
{
    int C = set->channels, stored = set->size, S = stored + 2 * ds->pad;
    size_t in_image = (size_t)C * stored * stored, out_image = (size_t)C * S * S;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        AugmentCrop crop = augment_crop(aug, seed, step, first + b);
        sample_image(set->pixels + (size_t)indices[b] * in_image, C, stored, ds->pad, &crop,
                     ds->mean, ds->std, images + (size_t)b * out_image);
        if (labels) labels[b] = set->labels[indices[b]];
    }
}
