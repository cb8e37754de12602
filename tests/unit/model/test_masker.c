// The SimMIM masker (simmim_mask) and the random number generator under it: exact mask counts
// with the reference's ceil(ratio · cells), whole cells upsampled to the token grid,
// reproducibility bit for bit from a seed, and uniformity (loose statistical bounds, far out
// in the tails, so a correct implementation does not fail by chance; the draws are seeded and
// the test deterministic anyway).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "config/config.h"
#include "model/model.h"
#include "test.h"

typedef struct {
    const char *what;
    int img, patch, mask_patch;
    double ratio;
    int cells_masked; // ceil(ratio · cells), worked out by hand
} MaskCase;

static const MaskCase mask_cases[] = {
    {"fmnist-q (32/4, mask 8, 0.6)", 32, 4, 8, 0.6, 10},     // 16 cells: 9.6 → 10
    {"ratio 0.2 (ceil, not round)", 32, 4, 8, 0.2, 4},        // 3.2 → 4
    {"ratio 0.75 (exact product)", 32, 4, 8, 0.75, 12},       // 12.0 → 12
    {"224/16, mask 32, 0.6", 224, 16, 32, 0.6, 30},           // 49 cells: 29.4 → 30
    {"mask patch = patch (32/8, 0.5)", 32, 8, 8, 0.5, 8},     // 16 cells: 8 → 8
    {"mask patch = image (single cell)", 32, 4, 32, 0.3, 1},  // 1 cell: 0.3 → 1
};

static ModelConfig mask_model(const MaskCase *mc)
{
    ModelConfig cfg = model_config_default();
    cfg.img_size = mc->img;
    cfg.patch_size = mc->patch;
    return cfg;
}

// Number of masked tokens in image b if every mask_patch cell is uniformly 0 or 1 and every
// value is 0 or 1; -1 otherwise.
static int masked_tokens_if_cellwise(const float *tm, int g, int scale)
{
    int count = 0;
    for (int y = 0; y < g; y++)
        for (int x = 0; x < g; x++) {
            float v = tm[y * g + x], cell = tm[(y / scale * scale) * g + x / scale * scale];
            if ((v != 0.0f && v != 1.0f) || v != cell) return -1;
            count += v == 1.0f;
        }
    return count;
}

static void check_mask_counts(const MaskCase *mc)
{
    ModelConfig cfg = mask_model(mc);
    MaskConfig mask = {.mask_patch_size = mc->mask_patch, .ratio = mc->ratio};
    char err[256] = "", what[160];
    snprintf(what, sizeof what, "%s: config is valid", mc->what);
    int valid = model_config_validate(&cfg, err, sizeof err) == 0 &&
                mask_config_validate(&mask, &cfg, err, sizeof err) == 0;
    test_report(valid, what, "%s", err);
    if (!valid) return;
    int B = 64, g = model_grid(&cfg), N = g * g, scale = mc->mask_patch / mc->patch;
    int expect = mc->cells_masked * scale * scale;
    float *tm = malloc((size_t)B * N * sizeof(float));
    Rng rng;
    rng_seed(&rng, 7);
    simmim_mask(tm, B, &mask, &cfg, &rng);
    int wrong = 0, example = expect; // images with another count or a split cell (-1)
    for (int b = 0; b < B; b++) {
        int count = masked_tokens_if_cellwise(tm + (size_t)b * N, g, scale);
        if (count != expect) wrong++, example = count;
    }
    snprintf(what, sizeof what, "%s: every image masks exactly %d whole cells", mc->what,
             mc->cells_masked);
    test_report(wrong == 0, what, "%d of %d tokens expected; %d of %d images differ (e.g. %d)",
                expect, N, wrong, B, example);
    free(tm);
}

// The masks of B images drawn from a generator seeded with `seed`.
static float *draw_masks(uint64_t seed, int B, const MaskConfig *mask, const ModelConfig *cfg)
{
    float *tm = malloc((size_t)B * model_num_patches(cfg) * sizeof(float));
    Rng rng;
    rng_seed(&rng, seed);
    simmim_mask(tm, B, mask, cfg, &rng);
    return tm;
}

static void check_mask_reproducible(void)
{
    ModelConfig cfg = model_config_default();
    MaskConfig mask = {.mask_patch_size = 8, .ratio = 0.6};
    int B = 32;
    size_t bytes = (size_t)B * model_num_patches(&cfg) * sizeof(float);
    float *a = draw_masks(42, B, &mask, &cfg), *b = draw_masks(42, B, &mask, &cfg);
    float *c = draw_masks(43, B, &mask, &cfg);
    test_report(memcmp(a, b, bytes) == 0, "same seed gives identical masks", "%d images", B);
    test_report(memcmp(a, c, bytes) != 0, "a different seed gives different masks", "%d images", B);
    // Images within one batch differ too (each draws its own permutation).
    size_t per_image = bytes / B;
    test_report(memcmp(a, a + per_image / sizeof(float), per_image) != 0,
                "images of one batch get different masks", "");
    free(a);
    free(b);
    free(c);
}

// Each cell is masked in a fraction masked/cells of the images; with n draws the standard
// deviation of that frequency is √(p(1−p)/n) ≈ 0.0077 for n = 4000, and the bound 0.04 is over 5σ.
static void check_mask_frequency(void)
{
    ModelConfig cfg = model_config_default();
    MaskConfig mask = {.mask_patch_size = 8, .ratio = 0.6};
    int B = 4000, g = model_grid(&cfg), N = g * g, side = 4, scale = 2;
    float *tm = draw_masks(5, B, &mask, &cfg);
    double p = 10.0 / 16.0, worst = 0.0;
    for (int cy = 0; cy < side; cy++)
        for (int cx = 0; cx < side; cx++) {
            long hits = 0;
            for (int b = 0; b < B; b++)
                hits += tm[(size_t)b * N + cy * scale * g + cx * scale] == 1.0f;
            worst = fmax(worst, fabs((double)hits / B - p));
        }
    test_report(worst < 0.04, "each cell is masked with frequency ≈ 10/16",
                "largest deviation %.4f over %d images", worst, B);
    free(tm);
}

static void check_rng_below(void)
{
    Rng rng;
    rng_seed(&rng, 1);
    enum { BINS = 10, DRAWS = 100000 };
    long count[BINS] = {0};
    int in_range = 1;
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = rng_below(&rng, BINS);
        if (v >= BINS) in_range = 0;
        else count[v]++;
    }
    double chi2 = 0.0, expect = (double)DRAWS / BINS;
    for (int k = 0; k < BINS; k++) chi2 += (count[k] - expect) * (count[k] - expect) / expect;
    // χ² with 9 degrees of freedom: mean 9; P(χ² > 40) ≈ 1e-5.
    test_report(in_range && chi2 < 40.0, "rng_below(10) is in range and uniform",
                "chi-square %.1f (9 dof)", chi2);

    // A bound of 3·2³⁰, where reducing a 32-bit draw modulo the bound would make the first
    // third twice as likely as each of the others; and the bound 1.
    uint32_t big = 3u << 30;
    long thirds[3] = {0};
    int ones_ok = 1;
    for (int i = 0; i < 30000; i++) {
        uint32_t v = rng_below(&rng, big);
        if (v >= big) in_range = 0;
        else thirds[v / (1u << 30)]++;
        ones_ok &= rng_below(&rng, 1) == 0;
    }
    chi2 = 0.0;
    for (int k = 0; k < 3; k++) chi2 += (thirds[k] - 1e4) * (thirds[k] - 1e4) / 1e4;
    test_report(in_range && chi2 < 25.0, "rng_below(3·2^30) is in range and uniform",
                "thirds %ld %ld %ld, chi-square %.1f (2 dof)", thirds[0], thirds[1], thirds[2],
                chi2);
    test_report(ones_ok, "rng_below(1) is always 0", "");
}

static int is_permutation(const int *p, int n)
{
    char *seen = calloc(n > 0 ? n : 1, 1);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        ok = p[i] >= 0 && p[i] < n && !seen[p[i]];
        if (ok) seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void check_rng_permutation(void)
{
    Rng rng;
    rng_seed(&rng, 2);
    int sizes[] = {0, 1, 2, 16, 49, 1000}, ok = 1;
    int *p = malloc(1000 * sizeof(int));
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int rep = 0; rep < 20; rep++) {
            rng_permutation(&rng, p, sizes[s]);
            ok &= is_permutation(p, sizes[s]);
        }
    test_report(ok, "rng_permutation returns permutations", "n = 0, 1, 2, 16, 49, 1000");
    // All 6 orders of 3 elements equally often: χ² with 5 dof, P(χ² > 30) ≈ 1.5e-5.
    long count[6] = {0};
    enum { DRAWS = 60000 };
    for (int i = 0; i < DRAWS; i++) {
        rng_permutation(&rng, p, 3);
        count[p[0] * 2 + (p[1] > p[2])]++; // the first element and the order of the other two
    }
    double chi2 = 0.0, expect = DRAWS / 6.0;
    for (int k = 0; k < 6; k++) chi2 += (count[k] - expect) * (count[k] - expect) / expect;
    test_report(chi2 < 30.0, "rng_permutation is uniform over the 6 orders of 3",
                "chi-square %.1f (5 dof)", chi2);
    free(p);
}

static void check_rng_seeding(void)
{
    Rng a, b, c;
    rng_seed(&a, 123);
    rng_seed(&b, 123);
    rng_seed(&c, 124);
    int same = 1, differ = 0, unit = 1;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        same &= x == rng_next(&b);
        differ |= x != rng_next(&c);
        double u = rng_uniform(&a);
        rng_uniform(&b);
        unit &= u >= 0.0 && u < 1.0;
    }
    test_report(same && differ, "rng streams are reproducible from the seed", "");
    test_report(unit, "rng_uniform lies in [0, 1)", "");
}

int main(void)
{
    for (size_t i = 0; i < sizeof mask_cases / sizeof *mask_cases; i++)
        check_mask_counts(&mask_cases[i]);
    check_mask_reproducible();
    check_mask_frequency();
    check_rng_below();
    check_rng_permutation();
    check_rng_seeding();
    TEST_EXIT();
}
