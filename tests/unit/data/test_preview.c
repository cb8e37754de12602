// Reconstruction and sample previews (core/data/preview.h): writes PNGs into a temporary directory,
// reads them back with libpng and checks the grid size, the denormalized original, the
// masked input (mask gray where masked, original elsewhere), the prediction column, the
// pasted column, the borders, and that bad arguments and unwritable paths fail cleanly.
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/preview.h"
#include "test.h"

// The layout preview.c documents: 2-px white borders, masked patches mid-gray.
enum { BORDER = 2, BORDER_GRAY = 255, MASK_GRAY = 128, MIN_CELL = 96 };

typedef struct {
    uint8_t *px; // RGB
    int w, h;
} Png;

static int read_png(const char *path, Png *out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return -1;
    int rgb8 = (img.format & PNG_FORMAT_FLAG_COLOR) && !(img.format & PNG_FORMAT_FLAG_ALPHA) &&
               !(img.format & PNG_FORMAT_FLAG_LINEAR);
    img.format = PNG_FORMAT_RGB;
    out->w = (int)img.width;
    out->h = (int)img.height;
    out->px = malloc(PNG_IMAGE_SIZE(img));
    if (!out->px || !png_image_finish_read(&img, NULL, out->px, 0, NULL)) {
        png_image_free(&img);
        free(out->px);
        return -1;
    }
    return rgb8 ? 0 : -2;
}

static uint32_t lcg_state = 12345;
static float uniform(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(lcg_state >> 8) / 16777216.0f;
}

// The reference denormalization: (x·std + mean)·255, rounded, clamped.
static uint8_t denorm(float x, double mean, double std)
{
    double v = ((double)x * std + mean) * 255.0;
    return v <= 0.0 ? 0 : v >= 255.0 ? 255 : (uint8_t)(v + 0.5);
}

static int expected_scale(int S) { return (MIN_CELL + S - 1) / S; }

// Channel k of the expected pixel (y, x) of image b of a [., C, S, S] tensor.
static uint8_t expect(const float *t, int b, int C, int S, int y, int x, int k, const double *mean,
                      const double *std)
{
    int c = C == 1 ? 0 : k;
    return denorm(t[(((size_t)b * C + c) * S + y) * S + x], mean[c], std[c]);
}

// Counts the pixels of cell (row, col) (every upscaled copy) differing from want(y, x).
typedef uint8_t (*Want)(const void *ctx, int y, int x, int k);

static int cell_mismatches(const Png *p, int row, int col, int S, Want want, const void *ctx)
{
    int scale = expected_scale(S), cell = S * scale, bad = 0;
    for (int Y = 0; Y < cell; Y++)
        for (int X = 0; X < cell; X++)
            for (int k = 0; k < 3; k++) {
                int py = BORDER + row * (cell + BORDER) + Y, px = BORDER + col * (cell + BORDER) + X;
                bad += p->px[((size_t)py * p->w + px) * 3 + k] != want(ctx, Y / scale, X / scale, k);
            }
    return bad;
}

// Pixels outside every cell that are not the border colour.
static int border_mismatches(const Png *p, int S)
{
    int cell = S * expected_scale(S), bad = 0;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            int in_cell = (y % (cell + BORDER)) >= BORDER && (x % (cell + BORDER)) >= BORDER;
            if (in_cell) continue;
            for (int k = 0; k < 3; k++) bad += p->px[((size_t)y * p->w + x) * 3 + k] != BORDER_GRAY;
        }
    return bad;
}

typedef struct {
    const float *images, *pred, *mask;
    int b, C, S, patch, column;
    const double *mean, *std;
} Case;

static uint8_t want_preview(const void *ctx, int y, int x, int k)
{
    const Case *t = ctx;
    int grid = t->S / t->patch;
    int masked = t->mask[(size_t)t->b * grid * grid + (y / t->patch) * grid + x / t->patch] > 0.5f;
    uint8_t orig = expect(t->images, t->b, t->C, t->S, y, x, k, t->mean, t->std);
    uint8_t pred = expect(t->pred, t->b, t->C, t->S, y, x, k, t->mean, t->std);
    switch (t->column) {
    case 0: return orig;
    case 1: return masked ? MASK_GRAY : orig;
    case 2: return pred;
    default: return masked ? pred : orig;
    }
}

static void check_preview(const char *dir, int C)
{
    enum { B = 3, S = 8, PATCH = 2, GRID = S / PATCH };
    const double mean3[3] = {0.485, 0.456, 0.406}, std3[3] = {0.229, 0.224, 0.225};
    const double mean1[1] = {0.2860}, std1[1] = {0.3530};
    const double *mean = C == 3 ? mean3 : mean1, *std = C == 3 ? std3 : std1;
    float images[B * 3 * S * S], pred[B * 3 * S * S], mask[B * GRID * GRID];
    // Values spanning beyond [0, 1] after denormalization so that clamping is exercised.
    for (int i = 0; i < B * C * S * S; i++) {
        images[i] = 6.0f * uniform() - 3.0f;
        pred[i] = 6.0f * uniform() - 3.0f;
    }
    for (int i = 0; i < B * GRID * GRID; i++) mask[i] = (float)(uniform() < 0.6f);
    for (int b = 0; b < B; b++) { // each image with both masked and visible tokens
        mask[b * GRID * GRID] = 1.0f;
        mask[b * GRID * GRID + 1] = 0.0f;
    }
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/preview_c%d.png", dir, C);
    int rc = preview_write_png(path, images, pred, mask, B, C, S, PATCH, mean, std, err, sizeof err);
    test_report(rc == 0, "preview writes", "C=%d %s", C, rc ? err : path);
    Png p = {0};
    int rd = read_png(path, &p);
    test_report(rd == 0, "preview reads back as 8-bit RGB", "C=%d rc %d", C, rd);
    if (rd == -1) return;
    int cell = S * expected_scale(S);
    int want_w = 4 * cell + 5 * BORDER, want_h = B * cell + (B + 1) * BORDER;
    test_report(p.w == want_w && p.h == want_h && cell >= MIN_CELL && cell - S < MIN_CELL,
                "preview size: 4 cells by B rows with 2-px borders", "C=%d %d×%d, want %d×%d (cell %d)",
                C, p.w, p.h, want_w, want_h, cell);
    if (p.w != want_w || p.h != want_h) {
        free(p.px);
        return;
    }
    static const char *names[4] = {"original = denormalized input",
                                   "masked input: mask gray where masked, original elsewhere",
                                   "prediction = denormalized prediction",
                                   "pasted: original where visible, prediction where masked"};
    for (int col = 0; col < 4; col++) {
        int bad = 0;
        for (int b = 0; b < B; b++) {
            Case t = {images, pred, mask, b, C, S, PATCH, col, mean, std};
            bad += cell_mismatches(&p, b, col, S, want_preview, &t);
        }
        test_report(bad == 0, names[col], "C=%d %d channel values differ", C, bad);
    }
    int bb = border_mismatches(&p, S);
    test_report(bb == 0, "borders are white", "C=%d %d channel values differ", C, bb);
    free(p.px);
}

typedef struct {
    const float *images;
    int i, C, S;
    const double *mean, *std;
} Sample;

static uint8_t want_sample(const void *ctx, int y, int x, int k)
{
    const Sample *s = ctx;
    return expect(s->images, s->i, s->C, s->S, y, x, k, s->mean, s->std);
}

static void check_samples(const char *dir, int S, int count, int cols, int want_cols)
{
    const double mean[3] = {0.5, 0.4, 0.3}, std[3] = {0.25, 0.2, 0.3};
    float *images = malloc(sizeof(float) * (size_t)count * 3 * S * S);
    for (int i = 0; i < count * 3 * S * S; i++) images[i] = 4.0f * uniform() - 2.0f;
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/samples_%d_%d_%d.png", dir, S, count, cols);
    int rc = preview_write_samples_png(path, images, count, 3, S, cols, mean, std, err, sizeof err);
    Png p = {0};
    int rd = rc == 0 ? read_png(path, &p) : -1;
    int rows = (count + want_cols - 1) / want_cols, cell = S * expected_scale(S);
    int want_w = want_cols * cell + (want_cols + 1) * BORDER, want_h = rows * cell + (rows + 1) * BORDER;
    test_report(rc == 0 && rd == 0 && p.w == want_w && p.h == want_h,
                "sample grid size", "S=%d count %d cols %d: %d×%d, want %d×%d (cell %d) %s", S, count,
                cols, p.w, p.h, want_w, want_h, cell, rc ? err : "");
    if (rd == 0 && p.w == want_w && p.h == want_h) {
        int bad = 0;
        for (int i = 0; i < count; i++) {
            Sample s = {images, i, 3, S, mean, std};
            bad += cell_mismatches(&p, i / want_cols, i % want_cols, S, want_sample, &s);
        }
        test_report(bad == 0, "sample grid cells = denormalized images", "S=%d %d values differ", S, bad);
    }
    free(p.px);
    free(images);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void check_bad_arguments(const char *dir)
{
    enum { S = 8 };
    static float img[4 * 3 * S * S], mask[4 * 16];
    const double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/bad.png", dir);
    struct {
        const char *name;
        int B, C, S, patch;
        const double *mean;
    } cases[] = {
        {"B = 0", 0, 3, S, 2, mean},         {"C = 2", 1, 2, S, 2, mean},
        {"S = 0", 1, 3, 0, 2, mean},         {"S % patch != 0", 1, 3, S, 3, mean},
        {"patch = 0", 1, 3, S, 0, mean},     {"NULL mean", 1, 3, S, 2, NULL},
        {"> 64 Mpixel", 1 << 20, 3, S, 2, mean},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        int rc = preview_write_png(path, img, img, mask, cases[i].B, cases[i].C, cases[i].S,
                                   cases[i].patch, cases[i].mean, std, err, sizeof err);
        test_report(rc == -1 && err[0] && !exists(path), "preview rejects bad arguments", "%s: %s",
                    cases[i].name, err);
    }
    struct {
        const char *name;
        int count, C, cols;
    } scases[] = {{"count = 0", 0, 3, 4}, {"cols = 0", 4, 3, 0}, {"C = 4", 4, 4, 2},
                  {"> 64 Mpixel", 1 << 30, 3, 1 << 15}};
    for (size_t i = 0; i < sizeof scases / sizeof scases[0]; i++) {
        err[0] = 0;
        int rc = preview_write_samples_png(path, img, scases[i].count, scases[i].C, S, scases[i].cols,
                                           mean, std, err, sizeof err);
        test_report(rc == -1 && err[0] && !exists(path), "sample grid rejects bad arguments",
                    "%s: %s", scases[i].name, err);
    }
    snprintf(path, sizeof path, "%s/no/such/dir/preview.png", dir);
    err[0] = 0;
    int rc = preview_write_png(path, img, img, mask, 1, 3, S, 2, mean, std, err, sizeof err);
    test_report(rc == -1 && strstr(err, path), "unwritable path gives an error naming it", "%s",
                err);
    rc = preview_write_samples_png(path, img, 2, 3, S, 2, mean, std, err, sizeof err);
    test_report(rc == -1 && strstr(err, path), "unwritable samples path gives an error naming it",
                "%s", err);
}

int main(int argc, char **argv)
{
    // With an argument, the PNGs are kept in that directory to look at.
    char tmpl[] = "/tmp/test_preview.XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
    if (!dir) {
        test_report(0, "mkdtemp", "cannot create a temporary directory");
        TEST_EXIT();
    }
    check_preview(dir, 1);
    check_preview(dir, 3);
    check_samples(dir, 8, 10, 4, 4);   // 3 rows, the last one half empty
    check_samples(dir, 40, 3, 5, 3);   // fewer images than columns: one row of 3; scale 3 → 120 px
    check_samples(dir, 100, 2, 2, 2);  // already ≥ 96 px: no upscaling
    check_bad_arguments(dir);
    if (argc <= 1 && test_remove_tree(dir) != 0)
        test_report(0, "cleanup", "cannot remove %s", dir);
    TEST_EXIT();
}
