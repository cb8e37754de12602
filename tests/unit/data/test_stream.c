// The streamed path's data layer (core/data/stream.h): augment_crop_wh equals augment_crop on
// square sources and keeps the drawn area and aspect on others (clamping what does not fit);
// an image folder's listing equals dataset_load's (files, order, labels, classes, flat split,
// sizes, data roots); the evaluation view is bit for bit the cached path's on PNG and JPEG
// images of every kind; the training view's identity crop and flip are exact and its
// DCT-scaled, cropped JPEG decoding stays close to a full decode while decoding fewer
// pixels; the statistics of a sample equal the cached path's when it covers the set; bad
// bytes give -1 and a message naming the sample; results do not depend on the thread or on
// what the scratch decoded before.
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h> // before jpeglib.h, which needs FILE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "base/rng.h"
#include "data/augment.h"
#include "data/data.h"
#include "data/stream.h"
#include "test.h"

static char root[64]; // the test's temporary directory

static void die(const char *what)
{
    perror(what);
    exit(2);
}


static void make_dir(const char *path)
{
    if (mkdir(path, 0755) && errno != EEXIST) die(path);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) die(path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) die(path);
}

// ---- test images ----

// A photograph-like pattern (smooth gradients, edges, a little texture), interleaved with
// `comps` samples per pixel; the 4th (alpha) goes through every level.
static uint8_t *pattern(int w, int h, int comps, int seed)
{
    uint8_t *p = malloc((size_t)w * h * comps);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double base[3] = {128 + 90 * sin(x / (17.0 + seed) + y / 29.0),
                              128 + 90 * cos(y / (23.0 + seed) - x / 41.0),
                              ((x / 37 + y / 31 + seed) % 2) ? 200 : 60};
            for (int c = 0; c < comps; c++) {
                double v = c < 3 ? base[c] + (double)rng_below(&rng, 16) - 8 : (x * 7 + y * 3) % 256;
                p[((size_t)y * w + x) * comps + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    return p;
}

typedef enum { BASELINE, PROGRESSIVE, FULL_CHROMA } JpegKind;

static void write_jpeg(const char *path, const uint8_t *px, int w, int h, int comps, int quality,
                       JpegKind kind)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    if (!f) die(path);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h, c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (kind == PROGRESSIVE) jpeg_simple_progression(&c);
    if (kind == FULL_CHROMA && comps == 3)
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

// PNG of interleaved px: color PNG_COLOR_TYPE_{GRAY,GRAY_ALPHA,RGB,RGB_ALPHA}, 8 or 16 bits
// (16: v·257), interlaced or not.
static void write_png(const char *path, const uint8_t *px, int w, int h, int color, int depth,
                      int interlace)
{
    int samples = color == PNG_COLOR_TYPE_GRAY ? 1 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                  : color == PNG_COLOR_TYPE_RGB ? 3 : 4;
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) die(path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t row_bytes = (size_t)w * samples * (depth == 16 ? 2 : 1);
    uint8_t *rows = malloc(row_bytes * h);
    for (size_t i = 0; i < (size_t)w * h * samples; i++) {
        if (depth == 16)
            rows[2 * i] = rows[2 * i + 1] = px[i];
        else
            rows[i] = px[i];
    }
    png_bytep *ptrs = malloc(sizeof *ptrs * h);
    for (int y = 0; y < h; y++) ptrs[y] = rows + (size_t)y * row_bytes;
    png_write_image(png, ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows);
    free(ptrs);
}

// An image file of kind k at path, w × h, content by seed.
typedef enum {
    K_JPEG_RGB, K_JPEG_GRAY, K_JPEG_PROGRESSIVE, K_JPEG_444, K_PNG_RGB, K_PNG_GRAY, K_PNG_RGBA,
    K_PNG_GRAY_ALPHA, K_PNG_RGB16, K_PNG_INTERLACED, K_KINDS
} Kind;
static const char *kind_ext(Kind k) { return k <= K_JPEG_444 ? "jpg" : "png"; }

static void write_image(const char *path, Kind k, int w, int h, int seed)
{
    static const int comps[K_KINDS] = {3, 1, 3, 3, 3, 1, 4, 2, 3, 3};
    uint8_t *px = pattern(w, h, comps[k], seed);
    switch (k) {
    case K_JPEG_RGB: write_jpeg(path, px, w, h, 3, 90, BASELINE); break;
    case K_JPEG_GRAY: write_jpeg(path, px, w, h, 1, 90, BASELINE); break;
    case K_JPEG_PROGRESSIVE: write_jpeg(path, px, w, h, 3, 85, PROGRESSIVE); break;
    case K_JPEG_444: write_jpeg(path, px, w, h, 3, 95, FULL_CHROMA); break;
    case K_PNG_RGB: write_png(path, px, w, h, PNG_COLOR_TYPE_RGB, 8, 0); break;
    case K_PNG_GRAY: write_png(path, px, w, h, PNG_COLOR_TYPE_GRAY, 8, 0); break;
    case K_PNG_RGBA: write_png(path, px, w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0); break;
    case K_PNG_GRAY_ALPHA: write_png(path, px, w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0); break;
    case K_PNG_RGB16: write_png(path, px, w, h, PNG_COLOR_TYPE_RGB, 16, 0); break;
    case K_PNG_INTERLACED: write_png(path, px, w, h, PNG_COLOR_TYPE_RGB, 8, 1); break;
    default: break;
    }
    free(px);
}

// ---- the crop ----

static const AugmentConfig AUG_DEFAULT = {{0.67, 1.0}, {0.75, 1.3333}, 1};

static int same_crop(AugmentCrop a, AugmentCrop b)
{
    return a.left == b.left && a.top == b.top && a.width == b.width && a.height == b.height &&
           a.flip == b.flip;
}

static void test_crop_square(void)
{
    const AugmentConfig configs[] = {AUG_DEFAULT,
                                     {{0.6, 1.0}, {0.75, 1.3333}, 0},
                                     {{0.08, 1.0}, {0.75, 1.3333}, 1},
                                     {{0.5, 1.0}, {0.2, 5.0}, 1}}; // (clamps on squares too)
    const int sides[] = {1, 28, 32, 224, 500, 4096};
    long checked = 0, differ = 0;
    for (size_t k = 0; k < sizeof configs / sizeof *configs; k++)
        for (size_t s = 0; s < sizeof sides / sizeof *sides; s++)
            for (long step = 0; step < 200; step++)
                for (int slot = 0; slot < 8; slot++, checked++) {
                    uint64_t seed = 7 + k;
                    AugmentCrop a = augment_crop(&configs[k], seed, step, slot);
                    AugmentCrop b = augment_crop_wh(&configs[k], sides[s], sides[s], seed, step,
                                                    slot);
                    differ += !same_crop(a, b);
                }
    test_report(differ == 0, "augment_crop_wh on a square source is augment_crop, bit for bit",
                "%ld of %ld draws differ (4 configs, sides 1 to 4096)", differ, checked);
    AugmentCrop none = augment_crop_wh(NULL, 500, 375, 1, 2, 3);
    test_report(same_crop(none, (AugmentCrop){0, 0, 1, 1, 0}), "augment_crop_wh without aug",
                "the whole image, not mirrored");
}

// The draws augment_crop makes, replayed: area fraction and aspect.
static void drawn(const AugmentConfig *aug, uint64_t seed, long step, int slot, double *area,
                  double *aspect)
{
    Rng rng;
    rng_seed(&rng, rng_stream_seed(rng_stream_seed(seed, RNG_STREAM_AUGMENT, (uint64_t)step),
                                   (uint64_t)slot, 0));
    *area = aug->crop_scale[0] + (aug->crop_scale[1] - aug->crop_scale[0]) * rng_uniform(&rng);
    double lo = log(aug->crop_ratio[0]), hi = log(aug->crop_ratio[1]);
    *aspect = exp(lo + (hi - lo) * rng_uniform(&rng));
}

static void test_crop_nonsquare(void)
{
    const int sizes[][2] = {{224, 224}, {500, 375}, {375, 500}, {1000, 200}};
    const AugmentConfig aug = AUG_DEFAULT;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int W = sizes[s][0], H = sizes[s][1], n = 20000;
        int fits = 1, exact = 1, clamped_ok = 1, clamped = 0, flips = 0;
        double sum_area = 0.0, sum_log_aspect = 0.0;
        int unclamped = 0;
        for (int i = 0; i < n; i++) {
            AugmentCrop k = augment_crop_wh(&aug, W, H, 11, i / 16, i % 16);
            double a, r;
            drawn(&aug, 11, i / 16, i % 16, &a, &r);
            fits &= k.left >= 0 && k.top >= 0 && k.left + k.width <= 1.0 + 1e-12 &&
                    k.top + k.height <= 1.0 + 1e-12 && k.width > 0 && k.height > 0;
            double area = k.width * k.height, aspect = k.width * W / (k.height * H);
            flips += k.flip;
            if (k.width < 1.0 && k.height < 1.0) { // drawn as is: area and aspect as drawn
                exact &= fabs(area - a) < 1e-9 && fabs(aspect / r - 1.0) < 1e-9;
                sum_area += area, sum_log_aspect += log(aspect), unclamped++;
            } else { // a side clamped: less area, aspect between the drawn and the image's
                clamped++;
                double image = (double)W / H, lo = fmin(r, image), hi = fmax(r, image);
                clamped_ok &= area <= a + 1e-12 && aspect >= lo - 1e-9 && aspect <= hi + 1e-9;
            }
        }
        double mean_area = unclamped ? sum_area / unclamped : 0.0;
        double mean_log = unclamped ? sum_log_aspect / unclamped : 0.0;
        test_report(fits && exact && clamped_ok, "augment_crop_wh on a non-square source",
                    "%d×%d: %d crops fit; %.1f%% clamped (area ≤ drawn, aspect between drawn and "
                    "the image's); the others: area and aspect as drawn (mean area %.3f, mean "
                    "log aspect %+.3f), flipped %.1f%%",
                    W, H, n, 100.0 * clamped / n, mean_area, mean_log, 100.0 * flips / n);
    }
}

// ---- folders: listing, evaluation view, statistics ----

typedef struct {
    const char *rel;
    Kind kind;
    int w, h;
} FileSpec;

// train/a, train/b and test/a, test/b: every kind, sizes above, at and below S = 32 (and odd).
static const FileSpec folder_files[] = {
    {"train/a/01", K_JPEG_RGB, 300, 200},      {"train/a/02", K_JPEG_GRAY, 50, 64},
    {"train/a/03", K_PNG_RGBA, 20, 20},        {"train/a/04", K_PNG_RGB16, 33, 47},
    {"train/a/05", K_JPEG_PROGRESSIVE, 257, 129}, {"train/a/06", K_PNG_INTERLACED, 40, 30},
    {"train/b/01", K_JPEG_444, 64, 96},        {"train/b/02", K_PNG_GRAY_ALPHA, 31, 77},
    {"train/b/03", K_PNG_GRAY, 32, 32},        {"train/b/04", K_PNG_RGB, 500, 375},
    {"train/b/05", K_JPEG_RGB, 17, 401},       {"test/a/01", K_JPEG_RGB, 120, 90},
    {"test/a/02", K_PNG_RGBA, 45, 45},         {"test/b/01", K_JPEG_GRAY, 29, 31},
    {"test/b/02", K_PNG_RGB, 64, 64},
};

static void write_labelled(const char *dir_)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", dir_);
    make_dir(dir);
    make_dir(test_pathf("%s/train", dir)), make_dir(test_pathf("%s/test", dir));
    const char *classes[] = {"train/a", "train/b", "test/a", "test/b"};
    for (int i = 0; i < 4; i++) make_dir(test_pathf("%s/%s", dir, classes[i]));
    for (size_t i = 0; i < sizeof folder_files / sizeof *folder_files; i++) {
        const FileSpec *f = &folder_files[i];
        write_image(test_pathf("%s/%s.%s", dir, f->rel, kind_ext(f->kind)), f->kind, f->w, f->h,
                    (int)i);
    }
    write_file(test_pathf("%s/train/a/.hidden.png", dir), "x", 1);   // skipped: a dotfile
    write_file(test_pathf("%s/train/a/notes.txt", dir), "x", 1);     // skipped: not an image
}

static void write_flat(const char *dir_, int n)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", dir_);
    make_dir(dir);
    for (int i = 0; i < n; i++)
        write_image(test_pathf("%s/img%03d.%s", dir, i, kind_ext((Kind)(i % K_KINDS))),
                    (Kind)(i % K_KINDS), 20 + 7 * i, 60 - i, 100 + i);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (int64_t)st.st_size;
}

// The listing of a split equals the cached loader's split: count, labels, file sizes; and
// each image's evaluation view equals the cached batch bit for bit.
static void check_split(const char *what, const Dataset *ds, const ImageSet *set,
                        const SampleList *list, const SampleSplit *split, int S)
{
    int C = ds->channels, same_labels = split->count == set->count, sizes_ok = 1, diff = 0;
    int failed = 0;
    char err[1024] = "";
    size_t image = (size_t)C * S * S;
    float *cached = malloc(image * sizeof *cached), *streamed = malloc(image * sizeof *streamed);
    StreamScratch *scratch = stream_scratch_new();
    SampleBytes bytes = {0};
    StreamView view = {.channels = C, .size = S, .mean = ds->mean, .std = ds->std};
    for (int i = 0; same_labels && i < split->count; i++) {
        same_labels &= split->labels[i] == set->labels[i];
        sizes_ok &= split->bytes[i] == file_size(split->paths[i]);
        augment_batch(ds, set, &i, 1, NULL, 0, 0, 0, cached, NULL);
        if (samplelist_read(list, split->paths[i], &bytes, err, sizeof err) ||
            stream_decode(bytes.data, bytes.len, split->paths[i], &view, scratch, streamed, NULL,
                          err, sizeof err)) {
            failed++;
            continue;
        }
        diff += memcmp(cached, streamed, image * sizeof *cached) != 0;
    }
    test_report(same_labels && sizes_ok && !failed && !diff, "evaluation view = cached path",
                "%s, %d channel(s), S = %d: %d images, labels %s, sizes %s, %d decode failures "
                "%s, %d differ",
                what, C, S, split->count, same_labels ? "equal" : "DIFFER",
                sizes_ok ? "equal" : "DIFFER", failed, err, diff);
    free(cached);
    free(streamed);
    stream_scratch_free(scratch);
    sample_bytes_free(&bytes);
}

static void check_folder(const char *dir_, const char *what)
{
    char err[1024], dir[512];
    snprintf(dir, sizeof dir, "%s", dir_);
    SampleList list;
    int rc = samplelist_imagefolder(dir, NULL, &list, err, sizeof err);
    test_report(rc == 0, "samplelist_imagefolder", "%s: %s", what, rc ? err : "listed");
    if (rc) return;
    for (int C = 1; C <= 3; C += 2)
        for (int S = 16; S <= 64; S *= 2) {
            Dataset ds;
            if (dataset_load(DATA_FORMAT_IMAGEFOLDER, dir, S, C, NULL, &ds, err, sizeof err)) {
                test_report(0, "dataset_load", "%s: %s", what, err);
                continue;
            }
            int classes = list.num_classes == ds.num_classes;
            for (int k = 0; classes && k < ds.num_classes; k++)
                classes &= strcmp(list.class_names[k], ds.class_names[k]) == 0;
            if (S == 32)
                test_report(classes && list.skipped == ds.skipped,
                            "listing = dataset_load's classes", "%s: %d classes, %d skipped",
                            what, list.num_classes, list.skipped);
            check_split(test_pathf("%s train", what), &ds, &ds.train, &list, &list.train, S);
            check_split(test_pathf("%s test", what), &ds, &ds.test, &list, &list.test, S);
            if (S == 32) {
                StreamStats st;
                rc = samplelist_stats(&list, C, STREAM_STATS_IMAGES, &st, err, sizeof err);
                int same = rc == 0 && st.used == ds.train.count && st.bad == 0 &&
                           memcmp(st.mean, ds.mean, sizeof st.mean) == 0 &&
                           memcmp(st.std, ds.std, sizeof st.std) == 0 &&
                           memcmp(&st.sizes, &ds.sizes, sizeof st.sizes) == 0;
                test_report(same, "statistics of a set within the sample = the cached path's",
                            "%s, %d channel(s): mean %.6f, std %.6f over %d images %s", what, C,
                            st.mean[0], st.std[0], st.used, rc ? err : "");
                // One sample at a time (as for tar members): the same figures.
                StreamPixelSums sums = {.channels = C};
                StreamScratch *sc = stream_scratch_new();
                SampleBytes b = {0};
                int added = 0;
                for (int i = 0; i < list.train.count; i++)
                    added += samplelist_read(&list, list.train.paths[i], &b, err, sizeof err) == 0 &&
                             stream_pixel_sums_add(b.data, b.len, list.train.paths[i], sc, &sums,
                                                   NULL, NULL, err, sizeof err) == 0;
                double mean[3] = {0}, std[3] = {0};
                rc = stream_pixel_sums_finish(&sums, mean, std, err, sizeof err);
                test_report(rc == 0 && added == list.train.count &&
                                memcmp(mean, ds.mean, sizeof(double) * C) == 0 &&
                                memcmp(std, ds.std, sizeof(double) * C) == 0,
                            "stream_pixel_sums, sample by sample = the cached path's statistics",
                            "%s, %d channel(s)", what, C);
                stream_scratch_free(sc);
                sample_bytes_free(&b);
                uint64_t expect = (uint64_t)(ds.train.count + ds.test.count) *
                                  ((uint64_t)C * S * S + sizeof(int));
                test_report(samplelist_cache_bytes(&list, C, S) == expect,
                            "samplelist_cache_bytes", "%s: %llu bytes", what,
                            (unsigned long long)expect);
            }
            dataset_free(&ds);
        }
    int64_t sum = 0;
    for (int i = 0; i < list.train.count; i++) sum += list.train.bytes[i];
    test_report(sum == list.train_bytes, "train_bytes", "%lld", (long long)sum);
    samplelist_free(&list);
}

static void test_folders(void)
{
    write_labelled(test_pathf("%s/labelled", root));
    check_folder(test_pathf("%s/labelled", root), "labelled folder");
    write_flat(test_pathf("%s/flat", root), 30);
    check_folder(test_pathf("%s/flat", root), "flat folder of 30");
    char err[1024];
    SampleList list;
    make_dir(test_pathf("%s/few", root));
    write_flat(test_pathf("%s/few", root), 8);
    int rc = samplelist_imagefolder(test_pathf("%s/few", root), NULL, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "at least 9"), "a flat folder of 8 is refused as by "
                "dataset_load", "%s", err);
    rc = samplelist_imagefolder(test_pathf("%s/missing", root), NULL, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "missing") && list.train.count == 0,
                "a missing folder is refused", "%s", err);
}

// Statistics on a sample: exactly max_images images, the same each time and on any number of
// threads, close to the whole set's.
static void test_stats_sample(void)
{
    char err[1024], dir[512];
    snprintf(dir, sizeof dir, "%s/flat", root);
    SampleList list;
    if (samplelist_imagefolder(dir, NULL, &list, err, sizeof err)) {
        test_report(0, "stats sample", "%s", err);
        return;
    }
    StreamStats a, b, all;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = samplelist_stats(&list, 3, 10, &a, err, sizeof err);
    omp_set_num_threads(4);
    rc |= samplelist_stats(&list, 3, 10, &b, err, sizeof err);
    omp_set_num_threads(threads);
    rc |= samplelist_stats(&list, 3, 1000, &all, err, sizeof err);
    test_report(rc == 0 && a.used == 10 && memcmp(&a, &b, sizeof a) == 0 && all.used == list.train.count,
                "statistics of a fixed sample", "10 of %d images: mean %.4f (all: %.4f), the same "
                "on 1 and 4 threads", list.train.count, a.mean[0], all.mean[0]);
    // A bad image in the sample is left out and counted.
    write_file(list.train.paths[0], "not an image", 12);
    rc = samplelist_stats(&list, 3, 1000, &a, err, sizeof err);
    test_report(rc == 0 && a.bad == 1 && a.used == list.train.count - 1 &&
                    strstr(a.first_bad, list.train.paths[0]),
                "statistics leave a bad image out", "%d used, %d bad: %s", a.used, a.bad,
                a.first_bad);
    samplelist_free(&list);
}

// ---- data roots ----

typedef struct {
    int count;
    char last[1200];
} Warnings;

static void collect_warning(void *ctx, const char *path, const char *message)
{
    (void)path;
    Warnings *w = ctx;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

static void test_roots(void)
{
    char in[512], out[512], dir[512];
    snprintf(in, sizeof in, "%s/roots", root);
    snprintf(out, sizeof out, "%s/outside", root);
    snprintf(dir, sizeof dir, "%s/roots/ds", root);
    make_dir(in), make_dir(out);
    write_flat(dir, 12);
    write_image(test_pathf("%s/secret.png", out), K_PNG_RGB, 10, 10, 1);
    if (symlink(test_pathf("%s/secret.png", out), test_pathf("%s/zz-link.png", dir))) die("symlink");
    const char *roots[] = {in};
    Warnings wl = {0}, wd = {0};
    DataRoots rl = {roots, 1, collect_warning, &wl}, rd = {roots, 1, collect_warning, &wd};
    char err[1024];
    SampleList list;
    Dataset ds;
    int rc = samplelist_imagefolder(dir, &rl, &list, err, sizeof err);
    int rd_rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir, 16, 3, &rd, &ds, err, sizeof err);
    test_report(rc == 0 && rd_rc == 0 && list.skipped == 1 && ds.skipped == 1 &&
                    wl.count == 1 && wd.count == 1 && strcmp(wl.last, wd.last) == 0 &&
                    list.train.count + list.test.count == 12,
                "a link outside the roots is skipped with dataset_load's warning", "%s",
                wl.last);
    if (rd_rc == 0) dataset_free(&ds);
    if (rc) return;
    SampleBytes b = {0};
    rc = samplelist_read(&list, list.train.paths[0], &b, err, sizeof err);
    test_report(rc == 0 && (int64_t)b.len == list.train.bytes[0], "samplelist_read",
                "%zu bytes", b.len);
    // Swapped for a link outside after the listing: refused, naming it and the roots.
    const char *victim = list.train.paths[1];
    if (unlink(victim) || symlink(test_pathf("%s/secret.png", out), victim)) die("swap");
    rc = samplelist_read(&list, victim, &b, err, sizeof err);
    test_report(rc == -1 && b.len == 0 && strstr(err, victim) && strstr(err, "outside the data roots") &&
                    strstr(err, in),
                "a file swapped for a link outside after the listing is refused", "%s", err);
    rc = samplelist_read(&list, test_pathf("%s/secret.png", out), &b, err, sizeof err);
    test_report(rc == -1 && strstr(err, "outside"), "a path outside the roots is refused", "%s",
                err);
    rc = samplelist_read(&list, test_pathf("%s/nothing.png", dir), &b, err, sizeof err);
    test_report(rc == -1 && strstr(err, "nothing.png") && strstr(err, "cannot open"),
                "a missing file", "%s", err);
    rc = samplelist_read(&list, dir, &b, err, sizeof err);
    test_report(rc == -1 && strstr(err, "not a regular file"), "a folder", "%s", err);
    sample_bytes_free(&b);
    samplelist_free(&list);
}

// ---- the training view ----

static double psnr(const float *a, const float *b, size_t n, double std)
{
    double se = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (a[i] - b[i]) * std * 255.0; // back to pixel levels
        se += d * d;
    }
    return se == 0.0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static int decode_view(const uint8_t *bytes, size_t len, const StreamView *v, StreamScratch *s,
                       float *out, StreamDecodeInfo *info)
{
    char err[1024];
    int rc = stream_decode(bytes, len, "test image", v, s, out, info, err, sizeof err);
    if (rc) printf("# decode failed: %s\n", err);
    return rc;
}

static void test_identity_and_flip(void)
{
    enum { S = 48 };
    const char *path = test_pathf("%s/square.png", root);
    write_image(path, K_PNG_RGB, S, S, 5);
    size_t len;
    uint8_t *bytes = read_file(path, &len);
    double mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    AugmentConfig whole = {{1.0, 1.0}, {1.0, 1.0}, 0}, flipped = whole;
    flipped.hflip = 1;
    StreamView eval = {.channels = 3, .size = S, .mean = mean, .std = std};
    StreamView train = eval;
    train.aug = &whole;
    float a[3 * S * S], b[3 * S * S];
    StreamScratch *s = stream_scratch_new();
    int rc = decode_view(bytes, len, &eval, s, a, NULL) | decode_view(bytes, len, &train, s, b, NULL);
    test_report(rc == 0 && memcmp(a, b, sizeof a) == 0, "training view: the identity crop",
                "a %d×%d PNG cropped whole to %d is the image, exactly", S, S, S);
    train.aug = &flipped;
    int mirrored = 0, tried = 0;
    for (int slot = 0; slot < 8 && rc == 0; slot++) {
        train.slot = slot;
        StreamDecodeInfo info;
        rc = decode_view(bytes, len, &train, s, b, &info);
        if (!info.crop.flip) continue;
        tried++;
        int ok = 1;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    ok &= b[(c * S + y) * S + x] == a[(c * S + y) * S + (S - 1 - x)];
        mirrored += ok;
    }
    test_report(rc == 0 && tried > 0 && mirrored == tried, "training view: the flip mirrors",
                "%d of %d flipped crops exactly mirrored", mirrored, tried);
    stream_scratch_free(s);
    free(bytes);
}

// An original no larger than S (Fashion-MNIST's 28 px for a 32-px model) is padded to S
// first and the square cropped, as the cached path crops its padded image: the object keeps
// the scale evaluation sees. Checked against augment_batch on the padded image (the cache's
// bilinear sampler; the stream's antialiased filter equals it when enlarging, up to edge
// handling and rounding to 8 bits).
static void test_small_original(void)
{
    enum { W = 28, S = 32, SLOTS = 16 };
    const char *path = test_pathf("%s/small.png", root);
    write_image(path, K_PNG_GRAY, W, W, 9);
    size_t len;
    uint8_t *bytes = read_file(path, &len);
    double mean[1] = {0}, std[1] = {1};
    StreamView eval = {.channels = 1, .size = S, .mean = mean, .std = std};
    float padded[S * S], streamed[S * S], cached[S * S];
    StreamScratch *s = stream_scratch_new();
    int rc = decode_view(bytes, len, &eval, s, padded, NULL);
    // The cache: the padded square as bytes, sampled by augment_batch.
    uint8_t square[S * S];
    for (int i = 0; i < S * S; i++) square[i] = (uint8_t)lround(padded[i] * 255.0);
    Dataset ds = {.channels = 1, .stored_size = S, .mean = {0}, .std = {1}};
    ImageSet set = {.count = 1, .channels = 1, .size = S, .pixels = square};
    int border = 1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (y < 2 || y >= S - 2 || x < 2 || x >= S - 2) border &= padded[y * S + x] == 0.0f;
    test_report(rc == 0 && border, "training view of a small original: evaluation pads it",
                "a %d×%d PNG at %d: a 2-px zero border", W, W, S);
    AugmentConfig aug = {{0.67, 1.0}, {0.75, 1.3333}, 1};
    StreamView train = eval;
    train.aug = &aug, train.seed = 7, train.step = 3;
    double worst = INFINITY;
    int flips_agree = 1;
    for (int slot = 0; slot < SLOTS && rc == 0; slot++) {
        train.slot = slot;
        StreamDecodeInfo info;
        rc = decode_view(bytes, len, &train, s, streamed, &info);
        AugmentCrop drawn = augment_crop(&aug, train.seed, train.step, slot);
        flips_agree &= info.crop.flip == drawn.flip && info.crop.left == drawn.left &&
                       info.crop.width == drawn.width;
        // augment_batch draws for slot b of its batch: a batch of this image slot + 1 times.
        int indices[SLOTS] = {0};
        float batch[SLOTS * S * S];
        augment_batch(&ds, &set, indices, slot + 1, &aug, train.seed, train.step, 0, batch, NULL);
        memcpy(cached, batch + (size_t)slot * S * S, sizeof cached);
        double q = psnr(streamed, cached, S * S, 1.0);
        if (q < worst) worst = q;
    }
    test_report(rc == 0 && flips_agree && worst >= 35.0,
                "training view of a small original: the padded square is cropped, as cached",
                "%d crops of a %d-px original at %d: the cache's crop draws; worst PSNR against "
                "the cached path %.1f dB (at least 35)", SLOTS, W, S, worst);
    stream_scratch_free(s);
    free(bytes);
}

// DCT scaling and cropping against a full decode of the same crop, on a 500×375 JPEG.
static void test_dct_scaled(void)
{
    const char *path = test_pathf("%s/photo.jpg", root);
    write_image(path, K_JPEG_RGB, 500, 375, 3);
    const char *path444 = test_pathf("%s/photo444.jpg", root);
    write_image(path444, K_JPEG_444, 500, 375, 4);
    const char *pathp = test_pathf("%s/photop.jpg", root);
    write_image(pathp, K_JPEG_PROGRESSIVE, 500, 375, 5);
    const char *paths[] = {path, path444, pathp};
    const char *names[] = {"4:2:0", "4:4:4", "progressive"};
    double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
    const AugmentConfig small = {{0.08, 0.2}, {0.75, 1.3333}, 1};
    const struct { int S; const AugmentConfig *aug; } cases[] = {
        {224, &AUG_DEFAULT}, {112, &AUG_DEFAULT}, {64, &AUG_DEFAULT}, {224, &small}};
    StreamScratch *s = stream_scratch_new(), *t = stream_scratch_new();
    for (size_t p = 0; p < 3; p++) {
        size_t len;
        uint8_t *bytes = read_file(paths[p], &len);
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            int S = cases[k].S, n = 32, rc = 0, scale_ok = 1;
            size_t image = (size_t)3 * S * S;
            float *full = malloc(image * sizeof *full), *fast = malloc(image * sizeof *fast);
            double worst = INFINITY, sum = 0.0;
            long decoded = 0, whole = 0, scale_hist[9] = {0};
            StreamView view = {.channels = 3, .size = S, .mean = mean, .std = std,
                               .aug = cases[k].aug, .seed = 3};
            for (int slot = 0; slot < n && rc == 0; slot++) {
                StreamDecodeInfo fi, si;
                view.slot = slot, view.full_decode = 1;
                rc |= decode_view(bytes, len, &view, t, full, &fi);
                view.full_decode = 0;
                rc |= decode_view(bytes, len, &view, s, fast, &si);
                double q = psnr(full, fast, image, std[0]);
                worst = fmin(worst, q), sum += isinf(q) ? 99 : q;
                decoded += (long)si.decoded_width * si.decoded_height;
                whole += (long)fi.decoded_width * fi.decoded_height;
                scale_hist[si.scale_num]++;
                // The scale: the smallest of 1/8, 1/4, 1/2 at which the crop spans S each
                // way, else 8/8.
                double cw = si.crop.width * 500, ch = si.crop.height * 375;
                int m = si.scale_num;
                scale_ok &= fi.scale_num == 8 && same_crop(fi.crop, si.crop) &&
                            (m == 1 || m == 2 || m == 4 || m == 8) &&
                            ((cw * m / 8 >= S && ch * m / 8 >= S) || m == 8) &&
                            (m == 1 || cw * (m / 2) / 8 < S || ch * (m / 2) / 8 < S);
            }
            char hist[128] = "";
            for (int m = 1; m <= 8; m++)
                if (scale_hist[m])
                    snprintf(hist + strlen(hist), sizeof hist - strlen(hist), " %d/8:%ld", m,
                             scale_hist[m]);
            // Thresholds: a DCT-domain downscale is a different (sharper) low-pass than the
            // triangle filter's, so the two differ by a fraction of a grey level on average.
            double need = cases[k].aug == &small ? 40.0 : 30.0;
            test_report(rc == 0 && scale_ok && worst >= need && decoded < whole,
                        "training view: DCT-scaled, cropped JPEG decoding ≈ full decoding",
                        "%s 500×375 → %d, crop scale [%.2f, %.2f]: PSNR worst %.1f dB, mean %.1f "
                        "(need ≥ %.0f); decoded %.0f%% of the pixels; scales%s",
                        names[p], S, cases[k].aug->crop_scale[0], cases[k].aug->crop_scale[1],
                        worst, sum / n, need, 100.0 * decoded / whole, hist);
            free(full);
            free(fast);
        }
        free(bytes);
    }
    stream_scratch_free(s);
    stream_scratch_free(t);
}

// ---- bad bytes ----

static void expect_bad(const uint8_t *bytes, size_t len, const char *what, const char *needle,
                       int training)
{
    double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
    StreamView view = {.channels = 3, .size = 32, .mean = mean, .std = std,
                       .aug = training ? &AUG_DEFAULT : NULL};
    float out[3 * 32 * 32];
    char err[1024] = "";
    StreamScratch *s = stream_scratch_new();
    int rc = stream_decode(bytes, len, "sample-17.jpg", &view, s, out, NULL, err, sizeof err);
    test_report(rc == -1 && strstr(err, "sample-17.jpg") && strstr(err, needle),
                "bad bytes give -1 and a message naming the sample", "%s (%s view): %s", what,
                training ? "training" : "evaluation", err);
    stream_scratch_free(s);
}

static void test_bad_bytes(void)
{
    size_t len, plen;
    const char *jpg = test_pathf("%s/photo.jpg", root), *png = test_pathf("%s/bad.png", root);
    write_image(png, K_PNG_RGB, 64, 48, 9);
    uint8_t *j = read_file(jpg, &len), *p = read_file(png, &plen);
    for (int training = 0; training <= 1; training++) {
        expect_bad(j, 0, "0 bytes", "empty", training);
        expect_bad((const uint8_t *)"GIF89a....", 10, "a GIF", "neither a PNG nor a JPEG",
                   training);
        expect_bad(j, 2, "a JPEG's first 2 bytes", "invalid JPEG", training);
        expect_bad(j, 600, "a JPEG cut in its headers", "invalid JPEG", training);
        expect_bad(p, 40, "a PNG cut in its header", "invalid PNG", training);
        expect_bad(p, plen / 2, "a PNG cut in half", "invalid PNG", training);
    }
    // A JPEG cut after the header: the evaluation view reads every row, so it fails; the
    // training view fails when its crop reaches the missing rows (a crop at the top of the
    // image may decode: rows below a crop are never read).
    expect_bad(j, len / 3, "a JPEG cut at a third", "invalid JPEG", 0);
    {
        double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
        StreamView view = {.channels = 3, .size = 224, .mean = mean, .std = std,
                           .aug = &AUG_DEFAULT};
        float *out = malloc(sizeof(float) * 3 * 224 * 224);
        StreamScratch *s = stream_scratch_new();
        int failed = 0, named = 1;
        char err[1024];
        for (int slot = 0; slot < 16; slot++) {
            view.slot = slot;
            if (stream_decode(j, len / 3, "cut.jpg", &view, s, out, NULL, err, sizeof err)) {
                failed++;
                named &= strstr(err, "cut.jpg") != NULL;
            }
        }
        test_report(failed == 16 && named, "a JPEG cut at a third: every training crop fails",
                    "(the crops reach below the first third) %s", err);
        free(out);
        stream_scratch_free(s);
    }
    // A flipped byte in the PNG's pixel data: CRC error.
    uint8_t *q = malloc(plen);
    memcpy(q, p, plen);
    q[plen / 2] ^= 0x55;
    expect_bad(q, plen, "a PNG with a corrupt byte", "invalid PNG", 1);
    // Huge dimensions in a valid-looking header.
    uint8_t *h = malloc(len);
    memcpy(h, j, len);
    for (size_t i = 2; i + 9 < len; i++)
        if (h[i] == 0xFF && h[i + 1] == 0xC0) { // SOF0: height, width at +5, +7
            h[i + 5] = 0x4E, h[i + 6] = 0x20, h[i + 7] = 0x4E, h[i + 8] = 0x20;
            break;
        }
    expect_bad(h, len, "a JPEG declaring 20000×20000", "outside the limits", 1);
    memcpy(q, p, plen);
    q[16] = 0x00, q[17] = 0x01, q[18] = 0x86, q[19] = 0xA0; // width 100000, CRC made good
    uint32_t crc = (uint32_t)crc32(0, q + 12, 17);
    q[29] = (uint8_t)(crc >> 24), q[30] = (uint8_t)(crc >> 16), q[31] = (uint8_t)(crc >> 8),
    q[32] = (uint8_t)crc;
    expect_bad(q, plen, "a PNG declaring 100000×48", "outside the limits", 0);
    // Random bytes after a JPEG's SOI, and after a PNG's signature.
    uint8_t junk[4096];
    Rng rng;
    rng_seed(&rng, 99);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rng_below(&rng, 256);
    junk[0] = 0xFF, junk[1] = 0xD8;
    expect_bad(junk, sizeof junk, "random bytes after SOI", "invalid JPEG", 1);
    memcpy(junk, p, 8);
    expect_bad(junk, sizeof junk, "random bytes after a PNG signature", "invalid PNG", 1);
    // CMYK.
    uint8_t *cmyk = pattern(40, 40, 4, 1);
    write_jpeg(test_pathf("%s/cmyk.jpg", root), cmyk, 40, 40, 4, 90, BASELINE);
    free(cmyk);
    size_t clen;
    uint8_t *c = read_file(test_pathf("%s/cmyk.jpg", root), &clen);
    expect_bad(c, clen, "a CMYK JPEG", "CMYK", 1);
    // A JPEG without its quantization tables fails, one without its Huffman tables decodes
    // with the standard ones (libjpeg's Motion-JPEG rule) — the same on a fresh scratch as on
    // one that has just decoded a JPEG with tables of its own: nothing of one image is
    // carried into the next.
    const uint8_t markers[2] = {0xDB, 0xC4};
    const char *what[2] = {"quantization", "Huffman"};
    for (int m = 0; m < 2; m++) {
        uint8_t *cut = malloc(len);
        size_t n = 0, i = 2;
        memcpy(cut, j, 2);
        n = 2;
        while (i + 4 <= len && j[i] == 0xFF && j[i + 1] != 0xDA) { // segments before the scan
            size_t seg = 2 + ((size_t)j[i + 2] << 8 | j[i + 3]);
            if (j[i + 1] != markers[m]) memcpy(cut + n, j + i, seg), n += seg;
            i += seg;
        }
        memcpy(cut + n, j + i, len - i), n += len - i;
        double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
        StreamView view = {.channels = 3, .size = 32, .mean = mean, .std = std};
        float out[3 * 32 * 32], out2[3 * 32 * 32], other[3 * 32 * 32];
        char err1[512] = "", err2[512] = "";
        StreamScratch *sc = stream_scratch_new();
        int fresh = stream_decode(cut, n, "no-tables.jpg", &view, sc, out, NULL, err1, sizeof err1);
        int good = stream_decode(j, len, "good.jpg", &view, sc, other, NULL, err2, sizeof err2);
        int after = stream_decode(cut, n, "no-tables.jpg", &view, sc, out2, NULL, err2, sizeof err2);
        int same = m == 0 ? fresh == -1 && after == -1 && strcmp(err1, err2) == 0
                          : fresh == 0 && after == 0 && memcmp(out, out2, sizeof out) == 0;
        test_report(same && good == 0, "a JPEG without its tables: the same after one with them",
                    "%s tables: %s", what[m], m == 0 ? err1 : "decoded with the standard ones");
        stream_scratch_free(sc);
        free(cut);
    }
    free(c);
    free(h);
    free(q);
    free(j);
    free(p);
}

// ---- threads and scratch history ----

static void test_threads(void)
{
    enum { S = 96, VIEWS = 24 };
    const char *files[] = {test_pathf("%s/photo.jpg", root), test_pathf("%s/photop.jpg", root),
                           test_pathf("%s/square.png", root), test_pathf("%s/labelled/train/b/02.png", root)};
    uint8_t *bytes[4];
    size_t len[4];
    for (int f = 0; f < 4; f++) bytes[f] = read_file(files[f], &len[f]);
    double mean[3] = {0.4, 0.5, 0.6}, std[3] = {0.2, 0.25, 0.3};
    size_t image = (size_t)3 * S * S;
    float *ref = malloc(VIEWS * image * sizeof *ref), *got = malloc(VIEWS * image * sizeof *got);
    // Reference: each view with a fresh scratch.
    for (int v = 0; v < VIEWS; v++) {
        StreamScratch *s = stream_scratch_new();
        StreamView view = {.channels = 3, .size = S, .mean = mean, .std = std,
                           .aug = v % 3 ? &AUG_DEFAULT : NULL, .seed = 5, .step = v, .slot = v % 7};
        decode_view(bytes[v % 4], len[v % 4], &view, s, ref + v * image, NULL);
        stream_scratch_free(s);
    }
    // 4 threads, each its own scratch, each taking the views in its own order.
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        StreamScratch *s = stream_scratch_new();
        int t = omp_get_thread_num();
        float *mine = malloc(image * sizeof *mine);
        for (int i = 0; i < VIEWS; i++) {
            int v = (i * (2 * t + 1) + t) % VIEWS;
            StreamView view = {.channels = 3, .size = S, .mean = mean, .std = std,
                               .aug = v % 3 ? &AUG_DEFAULT : NULL, .seed = 5, .step = v,
                               .slot = v % 7};
            decode_view(bytes[v % 4], len[v % 4], &view, s, mine, NULL);
            bad += memcmp(mine, ref + v * image, image * sizeof *mine) != 0;
        }
        free(mine);
        stream_scratch_free(s);
    }
    test_report(bad == 0, "the same output on any thread, whatever the scratch decoded before",
                "%d views × 4 threads in different orders: %d differ from a fresh decode",
                VIEWS, bad);
    free(ref);
    free(got);
    for (int f = 0; f < 4; f++) free(bytes[f]);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_stream_XXXXXX");
    if (!mkdtemp(root)) die("mkdtemp");
    test_crop_square();
    test_crop_nonsquare();
    test_folders();
    test_stats_sample();
    test_roots();
    test_identity_and_flip();
    test_small_original();
    test_dct_scaled();
    test_bad_bytes();
    test_threads();
    test_remove_tree(root);
    TEST_EXIT();
}
