// The SimMIM head's ops without a backward, and the forward formulas of its losses, against
// values computed by hand: the pooled target (avg_pool), the bin and palette classes of a
// target (clamps, a pixel on a bin edge, ties), the expected value under a softmax (the
// previews of bins and palette, also at logits that would overflow exp), the display
// upsampling, and regression_loss / pixel_crossentropy on a few pixels, masked and full.
// Their gradients are checked by finite differences in tests/unit/model/test_gradcheck.c.
#include <math.h>
#include <stdio.h>

#include "ops/ops.h"
#include "test.h"

// |got[i] − want[i]| ≤ tol·max(1, |want[i]|) for all n; reports the first difference.
static void check_values(const char *what, const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i])))) {
            test_report(0, what, "value %d is %.9g, expected %.9g", i, got[i], want[i]);
            return;
        }
    test_report(1, what, "%d values", n);
}

static void check_value(const char *what, double got, double want)
{
    test_report(fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)), what, "%.9g, expected %.9g",
                got, want);
}

static void test_avg_pool(void)
{
    // Two channels of 4×4: 0..15, and 100 + 2·i.
    float img[32], out[8], whole[2], same[32];
    for (int i = 0; i < 16; i++) img[i] = (float)i, img[16 + i] = 100.0f + 2.0f * i;
    avg_pool_forward(out, img, 1, 2, 4, 2);
    const double want[8] = {2.5, 4.5, 10.5, 12.5, 105, 109, 121, 125};
    check_values("avg_pool by 2: the mean of each 2x2 block, per channel", out, want, 8, 1e-7);
    avg_pool_forward(whole, img, 1, 2, 4, 4);
    const double want_whole[2] = {7.5, 115};
    check_values("avg_pool by 4: the mean of the image", whole, want_whole, 2, 1e-7);
    avg_pool_forward(same, img, 1, 2, 4, 1);
    double identity[32];
    for (int i = 0; i < 32; i++) identity[i] = img[i];
    check_values("avg_pool by 1: the image itself", same, identity, 32, 0.0);
    // Two images: the second's blocks are its own.
    float two[32], two_out[8];
    for (int i = 0; i < 32; i++) two[i] = i < 16 ? 1.0f : (float)(i - 16);
    avg_pool_forward(two_out, two, 2, 1, 4, 2);
    const double want_two[8] = {1, 1, 1, 1, 2.5, 4.5, 10.5, 12.5};
    check_values("avg_pool: each image of the batch", two_out, want_two, 8, 1e-7);
}

// pixel → the normalized value x with pixel = x·std + mean (exact for these values)
static float normalized(double pixel, float mean, float std) { return (float)((pixel - mean) / std); }

static void test_bin_classes(void)
{
    // K = 4, two channels of 2×2 pixels; mean 0.25 / 0.5, std 0.5 / 0.25.
    const float mean[2] = {0.25f, 0.5f}, std[2] = {0.5f, 0.25f};
    // channel 0: below 0 (clamped to 0), exactly 0, inside bin 1, exactly 1 (bin 4 clamped to 3);
    // channel 1: inside bin 1, exactly on the edge 0.5 (bin 2), inside bin 3, above 1.
    const double pixels[8] = {-0.1, 0.0, 0.49, 1.0, 0.26, 0.5, 0.76, 1.3};
    float x[8], classes[8];
    for (int i = 0; i < 8; i++) x[i] = normalized(pixels[i], mean[i / 4], std[i / 4]);
    bin_classes_forward(classes, x, mean, std, 1, 2, 2, 4);
    const double want[8] = {0, 0, 1, 3, 1, 2, 3, 3};
    check_values("bin_classes: floor(pixel K) clamped to [0, K-1], per channel's mean and std",
                 classes, want, 8, 0.0);
    // 256 bins, one channel, mean 0, std 1: pixel k/256 + 1/512 is bin k.
    float fine[256], fine_classes[256];
    double fine_want[256];
    const float zero = 0.0f, one = 1.0f;
    for (int k = 0; k < 256; k++) fine[k] = (float)((k + 0.5) / 256.0), fine_want[k] = k;
    bin_classes_forward(fine_classes, fine, &zero, &one, 1, 1, 16, 256);
    check_values("bin_classes: 256 bins, each pixel at its bin's centre", fine_classes, fine_want,
                 256, 0.0);
}

static void test_palette_classes(void)
{
    // K = 3 colours of 2 channels; mean 0.5 / 0.25, std 2 / 0.5.
    const float palette[6] = {0, 0, 1, 1, 1, 0};
    const float mean[2] = {0.5f, 0.25f}, std[2] = {2.0f, 0.5f};
    // Pixels (r, g) of a 2×2 image: (0.5, 0.5) is 0.5 from all three (tie: 0); (1, 0.5) is
    // 0.25 from colours 1 and 2 (tie: 1); (0.9, 0.1) nearest 2; (0.2, 0.9) nearest 1.
    const double pixels[2][4] = {{0.5, 1.0, 0.9, 0.2}, {0.5, 0.5, 0.1, 0.9}};
    float x[8], classes[4];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 4; i++) x[c * 4 + i] = normalized(pixels[c][i], mean[c], std[c]);
    palette_classes_forward(classes, x, mean, std, palette, 1, 2, 2, 3);
    const double want[4] = {0, 1, 2, 1};
    check_values("palette_classes: the nearest colour, ties to the lower index", classes, want, 4,
                 0.0);
    // Two images, a palette with a colour twice: the first of the two, in either image.
    const float twice[6] = {0.8f, 0.8f, 0.2f, 0.2f, 0.2f, 0.2f};
    const float zero[2] = {0, 0}, one[2] = {1, 1};
    const float y[4] = {0.25f, 0.25f, 0.75f, 0.75f}; // one pixel each: (0.25, 0.25), (0.75, 0.75)
    float two[2];
    palette_classes_forward(two, y, zero, one, twice, 2, 2, 1, 3);
    const double want_two[2] = {1, 0};
    check_values("palette_classes: a repeated colour gives its first index, per image", two,
                 want_two, 2, 0.0);
}

static void test_pixel_expectation(void)
{
    // B = 1, G = 2, K = 2, V = 3, S = 1. Group 0: logits (0, ln 3) → p = (1/4, 3/4); group 1:
    // (ln 4, 0) → (4/5, 1/5). values [K, V] = (1, 2, 3), (5, 6, 7).
    const float logits[4] = {0.0f, logf(3.0f), logf(4.0f), 0.0f};
    const float values[6] = {1, 2, 3, 5, 6, 7};
    float out[6];
    pixel_expectation_forward(out, logits, values, 1, 2, 2, 3, 1);
    const double want[6] = {4, 5, 6, 1.8, 2.8, 3.8};
    check_values("pixel_expectation: sum_k softmax_k values[k], per group (channel g V + v)", out,
                 want, 6, 1e-6);
    // S = 2, one group of K = 2, V = 1: equal logits (the mean), logits that overflow exp in
    // float (1000 vs 0: the first value), and the reverse.
    const float wide[8] = {0.5f, 1000.0f, 0.0f, -3.0f, 0.5f, 0.0f, 1000.0f, -3.0f};
    const float two_values[2] = {10, 20};
    float wide_out[4];
    pixel_expectation_forward(wide_out, wide, two_values, 1, 1, 2, 1, 2);
    const double wide_want[4] = {15, 10, 20, 15};
    check_values("pixel_expectation: each pixel its own softmax, stable at logits of 1000",
                 wide_out, wide_want, 4, 1e-6);
}

static void test_upsample_nearest(void)
{
    const float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}; // two channels of 2×2
    float out[32];
    upsample_nearest_forward(out, in, 1, 2, 2, 2);
    double want[32];
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) want[c * 16 + y * 4 + x] = in[c * 4 + (y / 2) * 2 + x / 2];
    check_values("upsample_nearest by 2: each pixel a 2x2 block, per channel", out, want, 32, 0.0);
}

static void test_regression_loss_values(void)
{
    // B = 1, C = 2, S = 2, one pixel per token (p = 1); d = pred − target per channel:
    // (0.2, −1, 2, 0) and (−0.4, 0.5, 0, 3); token mask (1, 0, 1, 1): 3 pixels count.
    const float target[8] = {0.5f, 0.25f, -1, 2, 1, -0.5f, 0.75f, 0};
    const float d[8] = {0.2f, -1, 2, 0, -0.4f, 0.5f, 0, 3};
    const float mask[4] = {1, 0, 1, 1};
    float pred[8];
    for (int i = 0; i < 8; i++) pred[i] = target[i] + d[i];
    double count = 3 + 1e-5;
    // masked sums: l1 2.2 + 3.4; l2 4.04 + 9.16; smooth_l1 (β 0.5: d² below, |d| − 0.25 above)
    // 0.04 + 1.75 + 0.16 + 2.75.
    check_value("regression_loss l1 masked: sum |d| m / (sum m + 1e-5) / C",
                regression_loss_forward(REGRESSION_L1, 0.0f, pred, target, mask, 1, 2, 2, 1),
                5.6 / count / 2);
    check_value("regression_loss l2 masked",
                regression_loss_forward(REGRESSION_L2, 0.0f, pred, target, mask, 1, 2, 2, 1),
                13.2 / count / 2);
    check_value("regression_loss smooth_l1 (beta 0.5) masked",
                regression_loss_forward(REGRESSION_SMOOTH_L1, 0.5f, pred, target, mask, 1, 2, 2, 1),
                4.7 / count / 2);
    // full image: the mean over the 8 elements.
    check_value("regression_loss l1 full image: the mean",
                regression_loss_forward(REGRESSION_L1, 0.0f, pred, target, NULL, 1, 2, 2, 1),
                7.1 / 8);
    check_value("regression_loss l2 full image",
                regression_loss_forward(REGRESSION_L2, 0.0f, pred, target, NULL, 1, 2, 2, 1),
                (0.04 + 1 + 4 + 0.16 + 0.25 + 9) / 8);
    check_value("regression_loss smooth_l1 (beta 0.5) full image",
                regression_loss_forward(REGRESSION_SMOOTH_L1, 0.5f, pred, target, NULL, 1, 2, 2, 1),
                (0.04 + 0.75 + 1.75 + 0.16 + 0.25 + 2.75) / 8);
    check_value("regression_loss smooth_l1 with beta 0 is l1",
                regression_loss_forward(REGRESSION_SMOOTH_L1, 0.0f, pred, target, NULL, 1, 2, 2, 1),
                7.1 / 8);
    // Tokens of 2×2 pixels (S = 4, p = 2): only the first token's four pixels count.
    float big_pred[16] = {0}, big_target[16];
    const float token_mask[4] = {1, 0, 0, 0};
    for (int i = 0; i < 16; i++) big_target[i] = (float)(i % 5);
    double first = 0 + 1 + 4 + 0; // the targets at (0,0), (0,1), (1,0), (1,1): 0, 1, 4, 0
    check_value("regression_loss l1 masked, 2x2 pixels per token",
                regression_loss_forward(REGRESSION_L1, 0.0f, big_pred, big_target, token_mask, 1,
                                        1, 4, 2),
                first / (4 + 1e-5));
}

static void test_pixel_crossentropy_values(void)
{
    // B = 1, S = 1, K = 2. Group 0: logits (0, ln 3), class 1: −ln 3/4; group 1: (ln 4, 0),
    // class 0: −ln 4/5.
    const float logits[4] = {0.0f, logf(3.0f), logf(4.0f), 0.0f};
    const float classes[2] = {1, 0}, mask[1] = {1};
    double ce0 = -log(0.75), ce1 = -log(0.8);
    check_value("pixel_crossentropy G=1 masked: CE m / (sum m + 1e-5)",
                pixel_crossentropy_forward(logits, classes, mask, 1, 1, 2, 1, 1), ce0 / (1 + 1e-5));
    check_value("pixel_crossentropy G=2 masked: / G",
                pixel_crossentropy_forward(logits, classes, mask, 1, 2, 2, 1, 1),
                (ce0 + ce1) / (1 + 1e-5) / 2);
    check_value("pixel_crossentropy G=2 full image: the mean",
                pixel_crossentropy_forward(logits, classes, NULL, 1, 2, 2, 1, 1), (ce0 + ce1) / 2);
    const float unmasked[1] = {0};
    check_value("pixel_crossentropy: nothing masked is 0",
                pixel_crossentropy_forward(logits, classes, unmasked, 1, 2, 2, 1, 1), 0.0);
    // Logits that overflow exp in float: (1000, 0), class 1 → 1000.
    const float big[2] = {1000.0f, 0.0f}, one[1] = {1};
    check_value("pixel_crossentropy: stable at logits of 1000",
                pixel_crossentropy_forward(big, one, NULL, 1, 1, 2, 1, 1), 1000.0);
}

int main(void)
{
    ops_set_threads(2);
    test_avg_pool();
    test_bin_classes();
    test_palette_classes();
    test_pixel_expectation();
    test_upsample_nearest();
    test_regression_loss_values();
    test_pixel_crossentropy_values();
    TEST_EXIT();
}
