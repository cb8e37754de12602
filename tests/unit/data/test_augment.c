// Batch assembly (core/data/augment.h) on small synthetic caches: evaluation is exactly
// pad + normalize; the identity crop reproduces it and a flip mirrors it bit for bit; every
// training crop matches a direct double-precision evaluation of docs/recipes.md's RandomResizedCrop
// formula; batches are reproducible from (seed, step) whatever the thread count; values stay
// in range; the crop distribution has the right moments.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "data/augment.h"
#include "test.h"

enum { NIMG = 6, B = 24 };

// A cache of NIMG random images, channels × stored², padded by `pad` in batches.
static Dataset make_dataset(int channels, int stored, int pad)
{
    Dataset ds = {.format = DATA_FORMAT_IDX, .channels = channels, .stored_size = stored,
                  .pad = pad};
    size_t n = (size_t)NIMG * channels * stored * stored;
    ds.train = (ImageSet){.count = NIMG, .channels = channels, .size = stored,
                          .pixels = malloc(n), .labels = malloc(NIMG * sizeof(int))};
    Rng rng;
    rng_seed(&rng, 42);
    for (size_t i = 0; i < n; i++) ds.train.pixels[i] = (uint8_t)rng_below(&rng, 256);
    ds.train.pixels[0] = 0, ds.train.pixels[1] = 255; // the extremes occur
    for (int i = 0; i < NIMG; i++) ds.train.labels[i] = i % 3;
    for (int c = 0; c < channels; c++) ds.mean[c] = 0.3 + 0.1 * c, ds.std[c] = 0.4 - 0.05 * c;
    return ds;
}

static void free_dataset(Dataset *ds)
{
    free(ds->train.pixels);
    free(ds->train.labels);
}

// The padded image's raw value (0 in the padding).
static int padded(const Dataset *ds, int img, int c, int y, int x)
{
    int st = ds->stored_size;
    y -= ds->pad, x -= ds->pad;
    if (y < 0 || y >= st || x < 0 || x >= st) return 0;
    return ds->train.pixels[(((size_t)img * ds->channels + c) * st + y) * st + x];
}

static float normalized(const Dataset *ds, int c, double v)
{
    return (float)((v / 255.0 - ds->mean[c]) / ds->std[c]);
}

// docs/recipes.md's sampling, literally: u = (j + ½)/S (mirrored: (S − j − ½)/S), source
// (left + u·w)·S − ½ clamped to [0, S − 1], bilinear on the padded image.
static double reference_sample(const Dataset *ds, int img, int c, const AugmentCrop *k, int i,
                               int j)
{
    int S = ds->stored_size + 2 * ds->pad;
    double u = (k->flip ? S - j - 0.5 : j + 0.5) / S, v = (i + 0.5) / S;
    double x = fmin(fmax((k->left + u * k->width) * S - 0.5, 0.0), S - 1.0);
    double y = fmin(fmax((k->top + v * k->height) * S - 0.5, 0.0), S - 1.0);
    int x0 = (int)x, y0 = (int)y, x1 = x0 + 1 < S ? x0 + 1 : x0, y1 = y0 + 1 < S ? y0 + 1 : y0;
    double fx = x - x0, fy = y - y0;
    return (1 - fy) * ((1 - fx) * padded(ds, img, c, y0, x0) + fx * padded(ds, img, c, y0, x1)) +
           fy * ((1 - fx) * padded(ds, img, c, y1, x0) + fx * padded(ds, img, c, y1, x1));
}

static void test_layout(int channels, int stored, int pad)
{
    Dataset ds = make_dataset(channels, stored, pad);
    int S = stored + 2 * pad, idx[B], labels[B];
    size_t per = (size_t)channels * S * S, n = per * B;
    for (int b = 0; b < B; b++) idx[b] = (b * 5 + 1) % NIMG;
    float *eval = malloc(n * sizeof *eval), *out = malloc(n * sizeof *out);
    float *again = malloc(n * sizeof *again);
    char name[64];
    snprintf(name, sizeof name, "C=%d stored %d pad %d", channels, stored, pad);

    augment_batch(&ds, &ds.train, idx, B, NULL, 7, 3, 0, eval, labels);
    int exact = 1, labels_ok = 1;
    for (int b = 0; b < B; b++) {
        labels_ok &= labels[b] == ds.train.labels[idx[b]];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    exact &= eval[b * per + ((size_t)c * S + y) * S + x] ==
                             normalized(&ds, c, padded(&ds, idx[b], c, y, x));
    }
    test_report(exact && labels_ok, "evaluation is (padded pixel/255 − mean)/std exactly", "%s",
                name);

    AugmentConfig identity = {{1.0, 1.0}, {1.0, 1.0}, 0};
    augment_batch(&ds, &ds.train, idx, B, &identity, 7, 3, 0, out, NULL);
    test_report(memcmp(out, eval, n * sizeof *out) == 0,
                "scale [1,1], ratio [1,1], no flip is the identity",
                "%s", name);

    identity.hflip = 1;
    augment_batch(&ds, &ds.train, idx, B, &identity, 7, 3, 0, out, NULL);
    int flipped = 0, kept = 0, consistent = 1;
    for (int b = 0; b < B; b++) {
        int same = memcmp(out + b * per, eval + b * per, per * sizeof *out) == 0, mirror = 1;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    mirror &= out[b * per + ((size_t)c * S + y) * S + x] ==
                              eval[b * per + ((size_t)c * S + y) * S + (S - 1 - x)];
        int flip = augment_crop(&identity, 7, 3, b).flip;
        consistent &= flip ? mirror : same;
        flipped += flip, kept += !flip;
    }
    test_report(consistent && flipped > 0 && kept > 0, "a flip mirrors the image exactly",
                "%s: %d flipped, %d not", name, flipped, kept);

    AugmentConfig aug = {{0.3, 1.0}, {0.75, 4.0 / 3.0}, 1};
    augment_batch(&ds, &ds.train, idx, B, &aug, 7, 3, 0, out, labels);
    double worst = 0.0;
    int in_range = 1;
    for (int b = 0; b < B; b++) {
        AugmentCrop k = augment_crop(&aug, 7, 3, b);
        for (int c = 0; c < channels; c++) {
            float lo = normalized(&ds, c, 0.0), hi = normalized(&ds, c, 255.0);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    float got = out[b * per + ((size_t)c * S + y) * S + x];
                    double want = reference_sample(&ds, idx[b], c, &k, y, x);
                    worst = fmax(worst, fabs(got - normalized(&ds, c, want)));
                    in_range &= got >= lo - 1e-5f && got <= hi + 1e-5f;
                }
        }
    }
    test_report(worst < 1e-4, "training crops follow the RandomResizedCrop formula", "%s: worst %.2g",
                name, worst);
    test_report(in_range, "training crops stay within the normalized value range", "%s", name);

    augment_batch(&ds, &ds.train, idx, B, &aug, 7, 3, 0, again, NULL);
    int same_step = memcmp(out, again, n * sizeof *out) == 0;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    augment_batch(&ds, &ds.train, idx, B, &aug, 7, 3, 0, again, NULL);
    omp_set_num_threads(threads);
    int one_thread = memcmp(out, again, n * sizeof *out) == 0;
    augment_batch(&ds, &ds.train, idx, B, &aug, 7, 4, 0, again, NULL);
    int other_step = memcmp(out, again, n * sizeof *out) != 0;
    augment_batch(&ds, &ds.train, idx, B, &aug, 8, 3, 0, again, NULL);
    int other_seed = memcmp(out, again, n * sizeof *out) != 0;
    test_report(same_step && one_thread && other_step && other_seed,
                "same (seed, step) gives the same batch (any thread count); other step or seed differs",
                "%s: %d %d %d %d", name, same_step, one_thread, other_step, other_seed);
    // Two data-parallel ranks' rows (slots 0 … B/2 − 1 and B/2 …): together the whole batch.
    int half = B / 2;
    augment_batch(&ds, &ds.train, idx, half, &aug, 7, 3, 0, again, NULL);
    augment_batch(&ds, &ds.train, idx + half, B - half, &aug, 7, 3, half, again + half * per, NULL);
    test_report(memcmp(out, again, n * sizeof *out) == 0,
                "a batch built as two ranks' rows (first slot 0 and B/2) is the whole batch", "%s",
                name);
    free(eval);
    free(out);
    free(again);
    free_dataset(&ds);
}

// Moments of the crop draws: area fraction, log aspect ratio, position, flips.
static void test_crop_distribution(void)
{
    enum { N = 40000 };
    // No clamping here (√(0.5·4/3) < 1): the area is exactly a.
    AugmentConfig aug = {{0.2, 0.5}, {0.75, 4.0 / 3.0}, 1};
    double area = 0, log_aspect = 0, centre = 0, flips = 0, lo = 1e9, hi = -1e9;
    int inside = 1;
    for (int i = 0; i < N; i++) {
        AugmentCrop k = augment_crop(&aug, 1, i / B, i % B);
        double log_r = log(k.width / k.height); // w/h = √(a·r)/√(a/r) = r
        area += k.width * k.height;
        log_aspect += log_r;
        lo = fmin(lo, log_r), hi = fmax(hi, log_r);
        centre += k.left + k.width / 2;
        flips += k.flip;
        inside &= k.left >= 0 && k.left + k.width <= 1 + 1e-12 && k.top >= 0 &&
                  k.top + k.height <= 1 + 1e-12;
    }
    area /= N, log_aspect /= N, centre /= N, flips /= N;
    test_report(fabs(area - 0.35) < 0.003, "mean crop area fraction ≈ mean of the scale range",
                "%.4f vs 0.35", area);
    test_report(fabs(log_aspect) < 0.004 && lo >= log(0.75) - 1e-12 && hi <= log(4.0 / 3.0) + 1e-12 &&
                    lo < log(0.75) + 0.01 && hi > log(4.0 / 3.0) - 0.01,
                "log aspect ratio uniform over [log 3/4, log 4/3]", "mean %.4f, range %.4f..%.4f",
                log_aspect, lo, hi);
    test_report(inside && fabs(centre - 0.5) < 0.003 && fabs(flips - 0.5) < 0.01,
                "crops inside the image, centred on average, half flipped", "centre %.4f, flips %.4f",
                centre, flips);

    AugmentConfig clamped = {{0.67, 1.0}, {0.75, 4.0 / 3.0}, 0};
    int capped = 0, no_flip = 1;
    for (int i = 0; i < 2000; i++) {
        AugmentCrop k = augment_crop(&clamped, 2, i, 0);
        capped += k.width == 1.0 || k.height == 1.0;
        no_flip &= !k.flip && k.width <= 1.0 && k.height <= 1.0;
    }
    test_report(capped > 0 && no_flip, "width and height capped at the whole side; hflip 0 never flips",
                "%d of 2000 capped", capped);
}

int main(void)
{
    test_layout(1, 28, 2);
    test_layout(3, 7, 0);
    test_layout(3, 5, 3);
    test_crop_distribution();
    TEST_EXIT();
}
