// Dataset loading (core/data/data.h): Fashion-MNIST as installed (counts, padding, the reference
// mean/std), the few-labels subset, IDX files and PNG/JPEG folders written by this test in a
// temporary directory (every PNG flavour libpng reads, JPEG gray and RGB, odd sizes, resizing,
// padding, statistics, flat-folder splits), hostile input: each bad file must give an
// error that names it, and links that lead outside the data roots: skipped with a warning, or
// an error for what the dataset cannot do without.
#include <math.h>
#include <stdarg.h>
#include <stdio.h> // before jpeglib.h, which needs FILE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>

#include "base/fileio.h"
#include "data/data.h"
#include "test.h"

#ifndef FASHION_DIR
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#endif

static char root[64]; // the test's temporary directory

// ---- files ----

static void test_data_die(const char *what)
{
    fprintf(stderr, "test setup failed: %s\n", what);
    exit(2);
}

// Paths come from test_pathf (test.h), for immediate use only: a path kept across calls is
// copied into the caller's own buffer with keep_path.
typedef struct {
    char s[1024];
} Path;

static Path keep_path(const char *p)
{
    Path k;
    snprintf(k.s, sizeof k.s, "%s", p);
    return k;
}

static void make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void write_file_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) test_data_die(path);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) test_data_die(path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*len);
    if (!data || fread(data, 1, *len, f) != *len) test_data_die(path);
    fclose(f);
    return data;
}

// Copies the first `keep` bytes of src to dst.
static void write_truncated(const char *src, const char *dst, size_t keep)
{
    size_t len;
    unsigned char *data = read_bytes(src, &len);
    write_file_bytes(dst, data, keep < len ? keep : len);
    free(data);
}

// ---- test images: the RGB pixels a decoder must produce, and writers for every format ----

typedef struct {
    int w, h;
    uint8_t *rgb; // interleaved; gray images have r = g = b
} Truth;

static Truth truth_new(int w, int h)
{
    Truth t = {w, h, calloc((size_t)w * h * 3, 1)};
    if (!t.rgb) test_data_die("memory");
    return t;
}

static Truth truth_uniform(int w, int h, int r, int g, int b)
{
    Truth t = truth_new(w, h);
    for (int i = 0; i < w * h; i++) t.rgb[3 * i] = r, t.rgb[3 * i + 1] = g, t.rgb[3 * i + 2] = b;
    return t;
}

// A deterministic pattern; gray (r = g = b) if `gray`.
static Truth truth_pattern(int w, int h, int gray, int seed)
{
    Truth t = truth_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = t.rgb + 3 * (y * w + x);
            p[0] = (uint8_t)(x * 13 + y * 7 + seed);
            p[1] = gray ? p[0] : (uint8_t)(x * 5 + y * 17 + 3 * seed);
            p[2] = gray ? p[0] : (uint8_t)(x * y + seed);
        }
    return t;
}

typedef enum { PNG_GRAY1, PNG_GRAY8, PNG_GRAY16, PNG_GRAY_ALPHA, PNG_RGB8, PNG_RGB16, PNG_RGBA,
               PNG_PALETTE } PngKind;

// The alpha of pixel i in the PNGs with alpha: every level from opaque to clear occurs.
static uint8_t alpha_of(int i) { return (uint8_t)(i * 37); }

// What the decoder must make of truth pixels written with alpha_of: composited over white,
// (c·a + 255·(255 − a)) / 255 rounded.
static void composite_truth_over_white(Truth *t)
{
    for (int i = 0; i < t->w * t->h; i++)
        for (int c = 0; c < 3; c++) {
            unsigned v = t->rgb[3 * i + c], a = alpha_of(i);
            t->rgb[3 * i + c] = (uint8_t)((v * a + 255 * (255 - a) + 127) / 255);
        }
}

// Encodes t in the given PNG flavour (alpha: alpha_of, which the decoder composites over
// white; 16-bit values v·257 so that they scale back to v exactly).
static void write_png(const char *path, const Truth *t, PngKind kind)
{
    static const struct { int color, depth, samples; } k[] = {
        [PNG_GRAY1] = {PNG_COLOR_TYPE_GRAY, 1, 1},
        [PNG_GRAY8] = {PNG_COLOR_TYPE_GRAY, 8, 1},
        [PNG_GRAY16] = {PNG_COLOR_TYPE_GRAY, 16, 1},
        [PNG_GRAY_ALPHA] = {PNG_COLOR_TYPE_GRAY_ALPHA, 8, 2},
        [PNG_RGB8] = {PNG_COLOR_TYPE_RGB, 8, 3},
        [PNG_RGB16] = {PNG_COLOR_TYPE_RGB, 16, 3},
        [PNG_RGBA] = {PNG_COLOR_TYPE_RGB_ALPHA, 8, 4},
        [PNG_PALETTE] = {PNG_COLOR_TYPE_PALETTE, 8, 1}};
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) test_data_die(path);
    png_init_io(png, f);
    png_set_IHDR(png, info, t->w, t->h, k[kind].depth, k[kind].color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[256];
    int colors = 0;
    size_t row_bytes = (size_t)t->w * k[kind].samples * (k[kind].depth == 16 ? 2 : 1);
    uint8_t *data = calloc(row_bytes * t->h, 1);
    for (int i = 0; i < t->w * t->h; i++) {
        const uint8_t *p = t->rgb + 3 * i;
        uint8_t *o = data + (size_t)(i / t->w) * row_bytes;
        int x = i % t->w;
        if (kind == PNG_GRAY1) {
            if (p[0]) o[x / 8] |= (uint8_t)(0x80 >> (x % 8)); // truth must be 0 or 255
        } else if (kind == PNG_PALETTE) {
            int c = 0;
            while (c < colors && (palette[c].red != p[0] || palette[c].green != p[1] ||
                                  palette[c].blue != p[2]))
                c++;
            if (c == colors) palette[colors++] = (png_color){p[0], p[1], p[2]};
            o[x] = (uint8_t)c;
        } else {
            for (int s = 0; s < k[kind].samples; s++) {
                uint8_t v = s < 3 && k[kind].samples >= 3 ? p[s] : s == 0 ? p[0] : alpha_of(i);
                if (k[kind].depth == 16)
                    o[2 * (x * k[kind].samples + s)] = v, o[2 * (x * k[kind].samples + s) + 1] = v;
                else
                    o[x * k[kind].samples + s] = v;
            }
        }
    }
    if (kind == PNG_PALETTE) png_set_PLTE(png, info, palette, colors);
    png_write_info(png, info);
    for (int y = 0; y < t->h; y++) png_write_row(png, data + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(data);
}

// Encodes t as a JPEG: gray (1 component), RGB (3) or, to test refusal, CMYK (4); with a
// progressive scan script if `scans` is given (NULL: baseline).
static void write_jpeg(const char *path, const Truth *t, int components,
                       const jpeg_scan_info *scans, int num_scans)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    if (!f) test_data_die(path);
    jpeg_stdio_dest(&c, f);
    c.image_width = t->w, c.image_height = t->h, c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    c.scan_info = scans, c.num_scans = num_scans;
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)t->w * components);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < t->w; x++)
            for (int s = 0; s < components; s++)
                row[x * components + s] = t->rgb[3 * (c.next_scanline * t->w + x) + (s < 3 ? s : 0)];
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

// A valid gray progressive scan script: DC, then each AC coefficient alone, first at 1/1024
// precision and then refined bit by bit (1 + 63·11 scans).
static int many_scans(jpeg_scan_info *scans)
{
    int n = 0;
    scans[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int k = 1; k < 64; k++) {
        scans[n++] = (jpeg_scan_info){1, {0}, k, k, 0, 10};
        for (int a = 10; a > 0; a--) scans[n++] = (jpeg_scan_info){1, {0}, k, k, a, a - 1};
    }
    return n;
}

// A progressive RGB scan script of a few scans (what cameras and encoders write).
static const jpeg_scan_info progressive_rgb[] = {
    {3, {0, 1, 2}, 0, 0, 0, 1}, {1, {0}, 1, 5, 0, 2}, {1, {2}, 1, 63, 0, 1}, {1, {1}, 1, 63, 0, 1},
    {1, {0}, 6, 63, 0, 2},      {1, {0}, 1, 63, 2, 1}, {3, {0, 1, 2}, 0, 0, 1, 0},
    {1, {2}, 1, 63, 1, 0},      {1, {1}, 1, 63, 1, 0}, {1, {0}, 1, 63, 1, 0}};

// The planar pixel of image i of a split.
static int pixel(const ImageSet *s, int i, int c, int y, int x)
{
    return s->pixels[(((size_t)i * s->channels + c) * s->size + y) * s->size + x];
}

static int image_is_uniform(const ImageSet *s, int i, const int *rgb, int tolerance)
{
    for (int c = 0; c < s->channels; c++)
        for (int y = 0; y < s->size; y++)
            for (int x = 0; x < s->size; x++)
                if (abs(pixel(s, i, c, y, x) - rgb[c]) > tolerance) return 0;
    return 1;
}

// Image i equals t placed with source = destination + (ox, oy), zeros outside t.
static int matches_truth(const ImageSet *s, int i, const Truth *t, int ox, int oy)
{
    for (int c = 0; c < s->channels; c++)
        for (int y = 0; y < s->size; y++)
            for (int x = 0; x < s->size; x++) {
                int sx = x + ox, sy = y + oy;
                int inside = sx >= 0 && sx < t->w && sy >= 0 && sy < t->h;
                if (pixel(s, i, c, y, x) != (inside ? t->rgb[3 * (sy * t->w + sx) + c] : 0)) return 0;
            }
    return 1;
}

// ---- Fashion-MNIST ----

static void test_fashion(void)
{
    Dataset ds;
    char err[512];
    int rc = dataset_load(DATA_FORMAT_IDX, FASHION_DIR, 32, 1, NULL, &ds, err, sizeof err);
    test_report(rc == 0, "fashion-mnist loads", "%s", rc ? err : FASHION_DIR);
    if (rc) return;
    test_report(ds.train.count == 60000 && ds.test.count == 10000, "fashion-mnist counts",
                "%d train, %d test", ds.train.count, ds.test.count);
    test_report(ds.num_classes == 10 && strcmp(ds.class_names[0], "0") == 0 &&
                    strcmp(ds.class_names[9], "9") == 0,
                "fashion-mnist classes", "%d", ds.num_classes);
    test_report(ds.stored_size == 28 && ds.pad == 2 && ds.train.size == 28 && ds.channels == 1,
                "fashion-mnist stored 28, pad 2 for 32", "stored %d pad %d", ds.stored_size, ds.pad);
    test_report(fabs(ds.mean[0] - 0.2860) < 5e-5 && fabs(ds.std[0] - 0.3530) < 5e-5,
                "fashion-mnist mean/std 0.2860/0.3530", "%.6f / %.6f", ds.mean[0], ds.std[0]);
    int labels_ok = ds.train.labels[0] == 9; // the first training image is an ankle boot
    for (int i = 0; i < ds.train.count; i++)
        labels_ok &= ds.train.labels[i] >= 0 && ds.train.labels[i] < 10;
    test_report(labels_ok, "fashion-mnist labels in range, first is 9", "first %d", ds.train.labels[0]);

    // The few-labels subset: the first k of each class, in order.
    enum { K = 10 };
    int *expect = malloc(10 * K * sizeof *expect), taken[10] = {0}, n = 0;
    for (int i = 0; i < ds.train.count && n < 10 * K; i++)
        if (taken[ds.train.labels[i]] < K) taken[ds.train.labels[i]]++, expect[n++] = i;
    uint8_t *pixels = malloc((size_t)n * 784);
    int *labels = malloc((size_t)n * sizeof *labels);
    for (int i = 0; i < n; i++) {
        memcpy(pixels + (size_t)i * 784, ds.train.pixels + (size_t)expect[i] * 784, 784);
        labels[i] = ds.train.labels[expect[i]];
    }
    Dataset copy = ds;
    rc = dataset_limit_per_class(&ds, K, err, sizeof err);
    test_report(rc == 0 && ds.train.count == 10 * K &&
                    memcmp(ds.train.pixels, pixels, (size_t)n * 784) == 0 &&
                    memcmp(ds.train.labels, labels, (size_t)n * sizeof *labels) == 0 &&
                    ds.mean[0] == copy.mean[0],
                "limit_per_class keeps the first k of each class in order", "%d images",
                ds.train.count);
    rc = dataset_limit_per_class(&ds, K + 1, err, sizeof err);
    test_report(rc == -1 && strstr(err, "class '"), "limit_per_class: too few images is an error",
                "%s", err);
    free(expect);
    free(pixels);
    free(labels);
    dataset_free(&ds);
}

// ---- IDX files written here ----

// Writes an IDX pair for split `prefix` ("train" or "t10k") into dir: n images rows×cols with
// image i's pixels i + y·cols + x (mod 256) and label i % classes. `label_n` labels are
// declared; magic as given.
static void write_idx(const char *dir, const char *prefix, int n, int rows, int cols,
                      int classes, uint32_t image_magic, int label_n)
{
    size_t len = 16 + (size_t)n * rows * cols;
    uint8_t *b = malloc(len);
    uint32_t head[4] = {image_magic, (uint32_t)n, (uint32_t)rows, (uint32_t)cols};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(head[i] >> (24 - 8 * k));
    for (size_t i = 16; i < len; i++) {
        size_t j = i - 16, img = j / ((size_t)rows * cols);
        b[i] = (uint8_t)(img * 3 + j % ((size_t)rows * cols));
    }
    write_file_bytes(test_pathf("%s/%s-images-idx3-ubyte", dir, prefix), b, len);
    free(b);
    uint8_t *l = malloc(8 + (size_t)label_n);
    uint32_t lhead[2] = {0x801, (uint32_t)label_n};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) l[4 * i + k] = (uint8_t)(lhead[i] >> (24 - 8 * k));
    for (int i = 0; i < label_n; i++) l[8 + i] = (uint8_t)(i % classes);
    write_file_bytes(test_pathf("%s/%s-labels-idx1-ubyte", dir, prefix), l, 8 + (size_t)label_n);
    free(l);
}

static void write_idx_dataset(const char *dir, int rows, int cols)
{
    make_dirs(dir);
    write_idx(dir, "train", 30, rows, cols, 3, 0x803, 30);
    write_idx(dir, "t10k", 10, rows, cols, 3, 0x803, 10);
}

// Compresses dir/name into dir/name.gz and removes the raw file.
static void gzip_file(const char *dir, const char *name)
{
    size_t len;
    unsigned char *data = read_bytes(test_pathf("%s/%s", dir, name), &len);
    gzFile gz = gzopen(test_pathf("%s/%s.gz", dir, name), "wb");
    if (!gz || gzwrite(gz, data, (unsigned)len) != (int)len || gzclose(gz) != Z_OK)
        test_data_die("gzip");
    unlink(test_pathf("%s/%s", dir, name));
    free(data);
}

static void expect_error(int rc, const char *err, const char *name, const char *needle,
                         const char *what)
{
    test_report(rc == -1 && strstr(err, name) && (!needle || strstr(err, needle)), what, "%s",
                rc == -1 ? err : "loaded without error");
}

// An IDX dataset read in place (dataset_map_idx): the same dataset as dataset_load's, a
// few-labels subset of it included; what cannot be read in place refused with the reason.
static void test_idx_mapped(void)
{
    char err[1024];
    Path dirp = keep_path(test_pathf("%s/idx_mapped", root));
    const char *dir = dirp.s;
    Dataset read, mapped;
    write_idx_dataset(dir, 8, 8);
    IdxShape shape;
    int rc = dataset_idx_shape(dir, NULL, &shape, err, sizeof err);
    test_report(rc == 0 && shape.train_count == 30 && shape.test_count == 10 && shape.rows == 8 &&
                    shape.cols == 8 && !shape.compressed &&
                    dataset_idx_cache_bytes(&shape, 12, 1) == 40 * (64 + sizeof(int)) &&
                    dataset_idx_cache_bytes(&shape, 12, 3) == 40 * (3 * 144 + sizeof(int)),
                "IDX shape from the headers alone, and the bytes its cache would take", "%s",
                rc ? err : "ok");
    rc = dataset_load(DATA_FORMAT_IDX, dir, 12, 1, NULL, &read, err, sizeof err) ||
         dataset_map_idx(dir, 12, NULL, &mapped, err, sizeof err);
    int same = rc == 0 && mapped.train.mapping && mapped.test.mapping &&
               mapped.train.count == read.train.count && mapped.test.count == read.test.count &&
               memcmp(mapped.train.pixels, read.train.pixels, 30 * 64) == 0 &&
               memcmp(mapped.test.pixels, read.test.pixels, 10 * 64) == 0 &&
               memcmp(mapped.train.labels, read.train.labels, 30 * sizeof(int)) == 0 &&
               memcmp(mapped.mean, read.mean, sizeof read.mean) == 0 &&
               memcmp(mapped.std, read.std, sizeof read.std) == 0 && mapped.pad == read.pad &&
               mapped.stored_size == read.stored_size && mapped.num_classes == read.num_classes;
    test_report(same, "IDX read in place: the same images, labels, statistics and padding",
                "%s", rc ? err : "ok");
    if (rc == 0) {
        rc = dataset_limit_per_class(&read, 2, err, sizeof err) ||
             dataset_limit_per_class(&mapped, 2, err, sizeof err);
        same = rc == 0 && mapped.train.count == 6 && read.train.count == 6 &&
               memcmp(mapped.train.pixels, read.train.pixels, 6 * 64) == 0 &&
               memcmp(mapped.train.labels, read.train.labels, 6 * sizeof(int)) == 0;
        test_report(same, "IDX read in place: a few-labels subset compacts it as the cache",
                    "%s", rc ? err : "ok");
        // The mapping is private: what the trainer writes into it (a compaction that moves
        // images) never reaches the file.
        mapped.train.pixels[64] = 99;
        uint8_t first = 0;
        FILE *f = fopen(test_pathf("%s/train-images-idx3-ubyte", dir), "rb");
        int read_back = f && fseek(f, 16 + 64, SEEK_SET) == 0 && fread(&first, 1, 1, f) == 1;
        test_report(read_back && first == 3,
                    "IDX read in place: writing into it leaves the file as it was",
                    "image 1 starts with %u on disk", first);
        if (f) fclose(f);
        dataset_free(&read);
        dataset_free(&mapped);
    }
    rc = dataset_idx_mappable(&shape, 12, 3, err, sizeof err);
    test_report(rc == 0 && strstr(err, "converted"),
                "IDX for a 3-channel model is not read in place", "%s", err);
    rc = dataset_map_idx(dir, 4, NULL, &mapped, err, sizeof err);
    expect_error(rc, err, dir, "cannot be read in place",
                 "IDX larger than the model: dataset_map_idx refuses, naming why");
    gzip_file(dir, "t10k-images-idx3-ubyte");
    rc = dataset_idx_shape(dir, NULL, &shape, err, sizeof err);
    test_report(rc == 0 && shape.compressed &&
                    !dataset_idx_mappable(&shape, 12, 1, err, sizeof err) && strstr(err, "gunzip"),
                "IDX with a compressed file is not read in place (gunzip named)", "%s", err);
    rc = dataset_map_idx(dir, 12, NULL, &mapped, err, sizeof err);
    expect_error(rc, err, "t10k-images-idx3-ubyte", "gzip-compressed",
                 "dataset_map_idx on a compressed file: an error naming it");
}

static void test_idx_written(void)
{
    char err[1024];
    Path dirp = keep_path(test_pathf("%s/idx", root));
    const char *dir = dirp.s;
    Dataset ds;
    write_idx_dataset(dir, 8, 8);
    int rc = dataset_load(DATA_FORMAT_IDX, dir, 12, 1, NULL, &ds, err, sizeof err);
    int ok = rc == 0 && ds.train.count == 30 && ds.test.count == 10 && ds.num_classes == 3 &&
             ds.stored_size == 8 && ds.pad == 2 && ds.train.labels[4] == 1 &&
             pixel(&ds.train, 5, 0, 1, 2) == (uint8_t)(15 + 10);
    // Mean of the stored pixels: image i has values 3i + j, j = 0..63.
    double sum = 0, sq = 0;
    for (int i = 0; i < 30; i++)
        for (int j = 0; j < 64; j++) {
            double v = (uint8_t)(3 * i + j) / 255.0;
            sum += v, sq += v * v;
        }
    double mean = sum / 1920, std = sqrt(sq / 1920 - mean * mean);
    ok = ok && fabs(ds.mean[0] - mean) < 1e-12 && fabs(ds.std[0] - std) < 1e-12;
    test_report(ok, "IDX (raw) loads, pads 8 to 12, mean/std", "%s", rc ? err : "ok");
    dataset_free(&ds);

    gzip_file(dir, "train-images-idx3-ubyte");
    rc = dataset_load(DATA_FORMAT_IDX, dir, 8, 3, NULL, &ds, err, sizeof err);
    ok = rc == 0 && ds.stored_size == 8 && ds.pad == 0 && ds.channels == 3 &&
         ds.train.channels == 3 && pixel(&ds.train, 5, 2, 1, 2) == 25 &&
         pixel(&ds.train, 5, 0, 1, 2) == 25 && ds.mean[2] == ds.mean[0];
    test_report(ok, "IDX (.gz) loads as 3 channels by replication", "%s", rc ? err : "ok");
    dataset_free(&ds);

    rc = dataset_load(DATA_FORMAT_IDX, dir, 4, 1, NULL, &ds, err, sizeof err);
    ok = rc == 0 && ds.stored_size == 4 && ds.pad == 0 && ds.train.size == 4;
    test_report(ok, "IDX larger than the model is resized", "%s", rc ? err : "ok");
    dataset_free(&ds);

    rc = dataset_load(DATA_FORMAT_IDX, dir, 11, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, dir, "evenly", "IDX: uneven padding is an error");

    // Hostile IDX files.
    Path badp = keep_path(test_pathf("%s/idx_bad", root));
    Path imagesp = keep_path(test_pathf("%s/train-images-idx3-ubyte", badp.s));
    Path copyp = keep_path(test_pathf("%s.orig", imagesp.s)), gzp = keep_path(test_pathf("%s.gz", imagesp.s));
    const char *bad = badp.s, *images = imagesp.s, *copy = copyp.s;
    write_idx_dataset(bad, 8, 8);
    rename(images, copy);
    write_truncated(copy, images, 16 + 30 * 64 - 5);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "truncated", "IDX: truncated raw file");

    write_truncated(copy, images, 10);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "truncated", "IDX: truncated header");

    // A .gz cut short in its compressed data.
    write_truncated(copy, images, (size_t)-1);
    gzip_file(bad, "train-images-idx3-ubyte");
    size_t gz_len;
    free(read_bytes(gzp.s, &gz_len));
    write_truncated(gzp.s, gzp.s, gz_len / 2);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte.gz", "truncated", "IDX: truncated .gz");

    write_truncated(copy, images, (size_t)-1);
    gzip_file(bad, "train-images-idx3-ubyte");
    unsigned char *gz = read_bytes(gzp.s, &gz_len);
    for (size_t i = gz_len / 3; i < gz_len / 3 + 8; i++) gz[i] ^= 0x5a;
    write_file_bytes(gzp.s, gz, gz_len);
    free(gz);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte.gz", "corrupt", "IDX: corrupt .gz data");
    unlink(gzp.s);
    rename(copy, images);

    write_idx(bad, "t10k", 10, 8, 8, 3, 0x804, 10);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "t10k-images-idx3-ubyte", "magic", "IDX: bad magic");

    write_idx(bad, "t10k", 10, 8, 8, 3, 0x803, 9);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "t10k-labels-idx1-ubyte", "9 labels for 10",
                 "IDX: label/image count mismatch");

    write_idx(bad, "t10k", 10, 8, 8, 3, 0x803, 10);
    write_idx(bad, "train", 0, 8, 8, 3, 0x803, 0);
    uint8_t huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28};
    write_file_bytes(images, huge, sizeof huge);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "limit", "IDX: 4 billion images declared");

    uint8_t big[16] = {0, 0, 8, 3, 0, 0x98, 0x96, 0x80, 0, 0, 0x10, 0, 0, 0, 0x10, 0}; // 10M × 4096²
    write_file_bytes(images, big, sizeof big);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "limit", "IDX: 160 TB of pixels declared");

    uint8_t wide[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 1, 0, 0}; // 65536 columns
    write_file_bytes(images, wide, sizeof wide);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "4096", "IDX: side over 4096");

    uint8_t many[16] = {0, 0, 8, 3, 0, 0x0f, 0x42, 0x40, 0, 0, 0, 28, 0, 0, 0, 28}; // 1M, no data
    write_file_bytes(images, many, sizeof many);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "truncated",
                 "IDX: 784 MB declared, none present");

    unlink(images);
    rc = dataset_load(DATA_FORMAT_IDX, bad, 32, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "found", "IDX: missing file");

    rc = dataset_load(DATA_FORMAT_IDX, test_pathf("%s/nowhere", root), 32, 1, NULL, &ds, err,
                      sizeof err);
    expect_error(rc, err, "nowhere", NULL, "IDX: missing folder");
}

// ---- image folders written here ----

enum { NTRAIN = 8 };

// train/a: 16-bit gray 20×20, 8-bit gray 37×23 uniform 100, RGB 5×9 uniform (200, 50, 10);
// train/b: RGBA, 1-bit gray, gray+alpha, palette, 16-bit RGB, in bytewise name order; plus
// files that must be skipped. test/: JPEGs (gray, RGB; .jpeg and .JPG) and a PNG.
static void write_folder(const char *dir, Truth *train)
{
    const struct { const char *name; int w, h, gray, uniform[3]; PngKind kind; } spec[NTRAIN] = {
        {"train/a/g16.png", 20, 20, 1, {-1}, PNG_GRAY16},
        {"train/a/g8.png", 37, 23, 1, {100, 100, 100}, PNG_GRAY8},
        {"train/a/rgb_small.png", 5, 9, 0, {200, 50, 10}, PNG_RGB8},
        {"train/b/RGBA.PNG", 30, 40, 0, {-1}, PNG_RGBA},
        {"train/b/g1.png", 17, 16, 1, {-1}, PNG_GRAY1},
        {"train/b/ga.png", 12, 18, 1, {-1}, PNG_GRAY_ALPHA},
        {"train/b/pal.png", 16, 16, 0, {-1}, PNG_PALETTE},
        {"train/b/rgb16.png", 19, 21, 0, {-1}, PNG_RGB16}};
    make_dirs(test_pathf("%s/train/a", dir));
    make_dirs(test_pathf("%s/train/b/nested", dir));
    make_dirs(test_pathf("%s/test/a", dir));
    make_dirs(test_pathf("%s/test/b", dir));
    for (int i = 0; i < NTRAIN; i++) {
        const int *u = spec[i].uniform;
        train[i] = u[0] >= 0 ? truth_uniform(spec[i].w, spec[i].h, u[0], u[1], u[2])
                             : truth_pattern(spec[i].w, spec[i].h, spec[i].gray, i);
        if (spec[i].kind == PNG_GRAY1)
            for (int j = 0; j < 3 * spec[i].w * spec[i].h; j++)
                train[i].rgb[j] = train[i].rgb[j] & 4 ? 255 : 0;
        if (spec[i].kind == PNG_PALETTE) // few colours
            for (int j = 0; j < 3 * spec[i].w * spec[i].h; j++) train[i].rgb[j] &= 0xc0;
        write_png(test_pathf("%s/%s", dir, spec[i].name), &train[i], spec[i].kind);
        if (spec[i].kind == PNG_RGBA || spec[i].kind == PNG_GRAY_ALPHA)
            composite_truth_over_white(&train[i]);
    }
    write_file_bytes(test_pathf("%s/train/b/.hidden.png", dir), "garbage", 7);
    write_file_bytes(test_pathf("%s/train/b/notes.txt", dir), "notes", 5);
    write_png(test_pathf("%s/train/b/nested/skip.png", dir), &train[0], PNG_GRAY8);
    write_file_bytes(test_pathf("%s/train/.DS_Store", dir), "x", 1);

    Truth t;
    t = truth_uniform(24, 24, 180, 180, 180);
    write_jpeg(test_pathf("%s/test/a/j_gray.jpg", dir), &t, 1, NULL, 0);
    free(t.rgb);
    t = truth_pattern(33, 17, 0, 5);
    write_png(test_pathf("%s/test/a/t.png", dir), &t, PNG_RGB8);
    free(t.rgb);
    t = truth_uniform(33, 17, 30, 140, 220);
    write_jpeg(test_pathf("%s/test/b/j_rgb.jpeg", dir), &t, 3, NULL, 0);
    free(t.rgb);
    t = truth_uniform(40, 40, 250, 250, 0);
    write_jpeg(test_pathf("%s/test/b/x.JPG", dir), &t, 3, progressive_rgb,
               (int)(sizeof progressive_rgb / sizeof *progressive_rgb));
    free(t.rgb);
}

static void test_folder(void)
{
    char err[1024];
    Path dirp = keep_path(test_pathf("%s/folder", root));
    const char *dir = dirp.s;
    Truth truth[NTRAIN];
    write_folder(dir, truth);
    Dataset ds;
    int rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir, 16, 3, NULL, &ds, err, sizeof err);
    test_report(rc == 0, "image folder loads (channels 3)", "%s", rc ? err : "ok");
    if (rc) return;
    int labels_ok = ds.train.count == NTRAIN && ds.test.count == 4 && ds.num_classes == 2 &&
                    strcmp(ds.class_names[0], "a") == 0 && strcmp(ds.class_names[1], "b") == 0;
    for (int i = 0; i < NTRAIN; i++) labels_ok &= ds.train.labels[i] == (i >= 3);
    for (int i = 0; i < 4; i++) labels_ok &= ds.test.labels[i] == (i >= 2);
    test_report(labels_ok, "image folder: counts, class names and labels", "%d train, %d test",
                ds.train.count, ds.test.count);
    test_report(ds.stored_size == 16 && ds.pad == 0 && ds.train.size == 16 && ds.train.channels == 3,
                "image folder: cached at 16, no pad", "stored %d pad %d", ds.stored_size, ds.pad);
    // Sizes on disk of the eight training images: each unique, so the smallest is the mode.
    const ImageSizes *z = &ds.sizes;
    test_report(z->min_width == 5 && z->min_height == 9 && z->max_width == 37 &&
                    z->max_height == 40 && z->common_width == 5 && z->common_height == 9,
                "image folder: the training images' sizes on disk (range per side, most common)",
                "%d×%d to %d×%d, mostly %d×%d", z->min_width, z->min_height, z->max_width,
                z->max_height, z->common_width, z->common_height);

    int grey100[3] = {100, 100, 100};
    test_report(image_is_uniform(&ds.train, 1, grey100, 0),
                "uniform 37×23 gray stays 100 after resizing", "pixel %d",
                pixel(&ds.train, 1, 0, 8, 8));
    int centred = 1;
    const int color[3] = {200, 50, 10};
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                int inside = x >= 5 && x < 10 && y >= 3 && y < 12;
                centred &= pixel(&ds.train, 2, c, y, x) == (inside ? color[c] : 0);
            }
    test_report(centred, "5×9 image centred in 16×16 with zero padding", "%d", centred);

    // Images not larger than 16 on their shorter side are copied, centre-cropped and padded
    // exactly: palette 16×16, gray+alpha 12×18 (2 columns of padding left, 1 row cropped
    // at the top), 1-bit gray 17×16 (crop offset 0).
    test_report(matches_truth(&ds.train, 6, &truth[6], 0, 0) &&
                    matches_truth(&ds.train, 5, &truth[5], -2, 1) &&
                    matches_truth(&ds.train, 4, &truth[4], 0, 0),
                "palette, gray+alpha (composited over white) and 1-bit PNGs decode "
                "exactly; mixed crop and pad", "%s",
                "exact");

    int jpeg_gray[3] = {180, 180, 180}, jpeg_rgb[3] = {30, 140, 220}, progressive[3] = {250, 250, 0};
    test_report(image_is_uniform(&ds.test, 0, jpeg_gray, 2) &&
                    image_is_uniform(&ds.test, 2, jpeg_rgb, 3) &&
                    image_is_uniform(&ds.test, 3, progressive, 3),
                "uniform JPEGs (gray, RGB, progressive) keep their colour", "%d %d %d",
                pixel(&ds.test, 2, 0, 5, 5),
                pixel(&ds.test, 2, 1, 5, 5), pixel(&ds.test, 2, 2, 5, 5));

    // Statistics of every decoded training pixel, before resizing.
    double sum[3] = {0}, sq[3] = {0}, n = 0, worst = 0;
    for (int i = 0; i < NTRAIN; i++) {
        for (int p = 0; p < truth[i].w * truth[i].h; p++)
            for (int c = 0; c < 3; c++) {
                double v = truth[i].rgb[3 * p + c] / 255.0;
                sum[c] += v, sq[c] += v * v;
            }
        n += truth[i].w * truth[i].h;
    }
    for (int c = 0; c < 3; c++) {
        double mean = sum[c] / n, std = sqrt(sq[c] / n - mean * mean);
        worst = fmax(worst, fmax(fabs(mean - ds.mean[c]), fabs(std - ds.std[c])));
    }
    test_report(worst < 1e-9, "image folder mean/std of the decoded training pixels",
                "mean %.4f %.4f %.4f, worst error %.2g", ds.mean[0], ds.mean[1], ds.mean[2], worst);
    dataset_free(&ds);

    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir, 16, 1, NULL, &ds, err, sizeof err);
    int luma = (int)lround(0.299 * 200 + 0.587 * 50 + 0.114 * 10);
    int ok = rc == 0 && ds.channels == 1 && ds.train.channels == 1 &&
             image_is_uniform(&ds.train, 1, grey100, 0) && pixel(&ds.train, 2, 0, 7, 7) == luma &&
             pixel(&ds.train, 2, 0, 0, 0) == 0 && image_is_uniform(&ds.test, 0, jpeg_gray, 2);
    test_report(ok, "image folder as 1 channel: gray kept, RGB to ITU-R 601 luma", "%s",
                rc ? err : "ok");
    dataset_free(&ds);
    for (int i = 0; i < NTRAIN; i++) free(truth[i].rgb);
}

// Writes n gray 4×4 PNGs into dir whose first two pixels encode their index.
static void write_flat(const char *dir, int n)
{
    make_dirs(dir);
    for (int i = 0; i < n; i++) {
        Truth t = truth_pattern(4, 4, 1, i);
        t.rgb[0] = t.rgb[1] = t.rgb[2] = (uint8_t)i;
        t.rgb[3] = t.rgb[4] = t.rgb[5] = (uint8_t)(i >> 8);
        write_png(test_pathf("%s/img%04d.png", dir, i), &t, PNG_GRAY8);
        free(t.rgb);
    }
    write_file_bytes(test_pathf("%s/readme.txt", dir), "r", 1);
}

static int flat_index(const ImageSet *s, int i)
{
    return pixel(s, i, 0, 0, 0) | pixel(s, i, 0, 0, 1) << 8;
}

// Each image exactly once across the two splits, each split in folder order.
static int flat_split_ok(const Dataset *ds, int n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = ds->train.count + ds->test.count == n && ds->num_classes == 0 && !ds->class_names;
    const ImageSet *sets[2] = {&ds->train, &ds->test};
    for (int s = 0; s < 2; s++)
        for (int i = 0; ok && i < sets[s]->count; i++) {
            int k = flat_index(sets[s], i);
            ok = k < n && !seen[k] && sets[s]->labels[i] == -1 &&
                 (i == 0 || k > flat_index(sets[s], i - 1));
            seen[k] = 1;
        }
    free(seen);
    return ok;
}

static void test_flat(void)
{
    char err[1024];
    const int sizes[2] = {20, 460}, held[2] = {8, 9};
    for (int k = 0; k < 2; k++) {
        Path dir = keep_path(test_pathf("%s/flat%d", root, sizes[k]));
        write_flat(dir.s, sizes[k]);
        Dataset a, b;
        int rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir.s, 4, 1, NULL, &a, err, sizeof err);
        int rc2 = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir.s, 4, 1, NULL, &b, err, sizeof err);
        int ok = rc == 0 && rc2 == 0 && a.test.count == held[k] && flat_split_ok(&a, sizes[k]) &&
                 b.test.count == a.test.count &&
                 memcmp(a.test.pixels, b.test.pixels, (size_t)a.test.count * 16) == 0;
        test_report(ok, "flat folder: held-out split size, unlabelled, fixed", "%d images: %d + %d",
                    sizes[k], a.train.count, a.test.count);
        if (rc == 0) dataset_free(&a);
        if (rc2 == 0) dataset_free(&b);
    }
    Path few = keep_path(test_pathf("%s/flat8", root));
    write_flat(few.s, 8);
    Dataset ds;
    int rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, few.s, 4, 1, NULL, &ds, err, sizeof err);
    expect_error(rc, err, few.s, "at least 9", "flat folder of 8 images is an error");
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, test_pathf("%s/flat20", root), 4, 1, NULL, &ds, err,
                      sizeof err);
    if (rc == 0) {
        rc = dataset_limit_per_class(&ds, 1, err, sizeof err);
        expect_error(rc, err, "unlabelled", NULL, "limit_per_class on an unlabelled set is an error");
        dataset_free(&ds);
    }
}

// ---- hostile image folders ----

// A labelled folder root/bad/name with one good PNG in train/a and test/a.
static Path make_case(const char *name)
{
    Path dir = keep_path(test_pathf("%s/bad/%s", root, name));
    make_dirs(test_pathf("%s/train/a", dir.s));
    make_dirs(test_pathf("%s/test/a", dir.s));
    Truth t = truth_pattern(8, 8, 1, 1);
    write_png(test_pathf("%s/train/a/ok.png", dir.s), &t, PNG_GRAY8);
    write_png(test_pathf("%s/test/a/ok.png", dir.s), &t, PNG_GRAY8);
    free(t.rgb);
    return dir;
}

static void expect_folder_error(const char *dir, const char *name, const char *needle,
                                const char *what)
{
    char err[1024];
    Dataset ds;
    int rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, dir, 16, 3, NULL, &ds, err, sizeof err);
    expect_error(rc, err, name, needle, what);
    if (rc == 0) dataset_free(&ds);
}

// Appends a PNG chunk (length, type, data, CRC over type and data) at b + *at.
static void put_chunk(uint8_t *b, size_t *at, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t *c = b + *at;
    for (int k = 0; k < 4; k++) c[k] = (uint8_t)(n >> (24 - 8 * k));
    memcpy(c + 4, type, 4);
    if (n) memcpy(c + 8, data, n);
    uint32_t crc = (uint32_t)crc32(0, c + 4, 4 + n);
    for (int k = 0; k < 4; k++) c[8 + n + k] = (uint8_t)(crc >> (24 - 8 * k));
    *at += 12 + n;
}

// A PNG whose IHDR (valid CRC) declares 100000×100000 8-bit gray, then an empty IDAT, IEND.
static void write_huge_png(const char *path)
{
    uint8_t b[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t ihdr[13] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 0, 0, 0, 0};
    size_t at = 8;
    put_chunk(b, &at, "IHDR", ihdr, sizeof ihdr);
    put_chunk(b, &at, "IDAT", NULL, 0);
    put_chunk(b, &at, "IEND", NULL, 0);
    write_file_bytes(path, b, at);
}

static void test_bad_folders(void)
{
    Path dir;
    dir = make_case("garbage_png");
    write_file_bytes(test_pathf("%s/train/a/bad.png", dir.s), "this is not a png at all", 24);
    expect_folder_error(dir.s, "bad.png", "PNG", "garbage .png is an error naming it");

    dir = make_case("two_bad");
    write_file_bytes(test_pathf("%s/train/a/b2.png", dir.s), "garbage", 7);
    write_file_bytes(test_pathf("%s/train/a/b1.png", dir.s), "garbage", 7);
    expect_folder_error(dir.s, "b1.png", NULL, "the first bad file in order is reported");

    Truth t = truth_pattern(64, 64, 0, 3);
    dir = make_case("truncated_png");
    write_png(test_pathf("%s/full.png", root), &t, PNG_RGB8);
    size_t len;
    free(read_bytes(test_pathf("%s/full.png", root), &len));
    write_truncated(test_pathf("%s/full.png", root), test_pathf("%s/test/a/cut.png", dir.s), len / 2);
    expect_folder_error(dir.s, "cut.png", "truncated", "truncated PNG is an error naming it");

    dir = make_case("png_no_iend");
    write_truncated(test_pathf("%s/full.png", root), test_pathf("%s/train/a/cut.png", dir.s), len - 12);
    expect_folder_error(dir.s, "cut.png", "truncated", "PNG cut after its image data is an error");

    dir = make_case("huge_png");
    write_huge_png(test_pathf("%s/train/a/huge.png", dir.s));
    expect_folder_error(dir.s, "huge.png", "100000", "PNG declaring 100000×100000 is refused");

    dir = make_case("garbage_jpeg");
    write_file_bytes(test_pathf("%s/train/a/bad.jpg", dir.s), "\xff\xd8\xff garbage garbage", 19);
    expect_folder_error(dir.s, "bad.jpg", "JPEG", "garbage .jpg is an error naming it");

    dir = make_case("not_jpeg");
    write_file_bytes(test_pathf("%s/train/a/bad.jpeg", dir.s), "GIF89a", 6);
    expect_folder_error(dir.s, "bad.jpeg", "JPEG", "non-JPEG .jpeg is an error naming it");

    dir = make_case("truncated_jpeg");
    write_jpeg(test_pathf("%s/full.jpg", root), &t, 3, NULL, 0);
    free(read_bytes(test_pathf("%s/full.jpg", root), &len));
    write_truncated(test_pathf("%s/full.jpg", root), test_pathf("%s/train/a/cut.jpg", dir.s), len / 2);
    expect_folder_error(dir.s, "cut.jpg", "Premature end", "truncated JPEG is an error naming it");

    dir = make_case("cmyk_jpeg");
    write_jpeg(test_pathf("%s/train/a/cmyk.jpg", dir.s), &t, 4, NULL, 0);
    expect_folder_error(dir.s, "cmyk.jpg", "CMYK", "CMYK JPEG is refused");

    dir = make_case("many_scans");
    jpeg_scan_info scans[1 + 63 * 11];
    write_jpeg(test_pathf("%s/train/a/scans.jpg", dir.s), &t, 1, scans, many_scans(scans));
    expect_folder_error(dir.s, "scans.jpg", "scans", "JPEG with 694 progressive scans is refused");
    free(t.rgb);

    dir = make_case("empty_class");
    make_dirs(test_pathf("%s/train/empty", dir.s));
    expect_folder_error(dir.s, "train/empty", "no images", "empty class folder is an error naming it");

    dir = make_case("unknown_test_class");
    make_dirs(test_pathf("%s/test/zebra", dir.s));
    expect_folder_error(dir.s, "zebra", NULL, "test class missing from train/ is an error");

    dir = make_case("no_test");
    test_remove_tree(test_pathf("%s/test", dir.s));
    expect_folder_error(dir.s, dir.s, "test/", "train/ without test/ is an error");

    dir = keep_path(test_pathf("%s/bad/empty", root));
    make_dirs(dir.s);
    expect_folder_error(dir.s, dir.s, "no images", "empty folder is an error naming it");

    expect_folder_error(test_pathf("%s/bad/missing", root), "missing", NULL,
                        "missing folder is an error naming it");
}

// ---- data roots: links that lead outside ----

typedef struct {
    int count;
    char messages[8][1200];
} Warnings;

static void collect_warning(void *ctx, const char *path, const char *message)
{
    Warnings *w = ctx;
    if (w->count < 8 && strstr(message, path))
        snprintf(w->messages[w->count], sizeof w->messages[0], "%s", message);
    else if (w->count < 8)
        snprintf(w->messages[w->count], sizeof w->messages[0], "(does not name %s) %s", path,
                 message);
    w->count++;
}

// 1 if one of the warnings names `path` and holds `needle`.
static int warned(const Warnings *w, const char *path, const char *needle)
{
    for (int i = 0; i < w->count && i < 8; i++)
        if (strstr(w->messages[i], path) && strstr(w->messages[i], needle))
            return 1;
    return 0;
}

// A gray 8×8 PNG whose top-left pixel is `seed`: which image landed where, after loading.
static void write_marked_png(const char *path, int seed)
{
    Truth t = truth_pattern(8, 8, 1, seed);
    write_png(path, &t, PNG_GRAY8);
    free(t.rgb);
}

static void link_to(const char *target, const char *link)
{
    if (symlink(target, link)) test_data_die(link);
}

// 1 if no image of the split has a top-left pixel of `seed` or more (the outside images').
static int none_from(const ImageSet *s, int seed)
{
    for (int i = 0; i < s->count; i++)
        if (pixel(s, i, 0, 0, 0) >= seed) return 0;
    return 1;
}

static void test_data_roots(void)
{
    enum { OUTSIDE_SEED = 200 };
    char err[1024];
    test_report(file_path_inside("/data/", "/data/x") && file_path_inside("/data", "/data") &&
                    file_path_inside("/data/", "/data") && file_path_inside("/", "/x") &&
                    !file_path_inside("/data", "/database") &&
                    !file_path_inside("/data/", "/database/x") && !file_path_inside("/data", "/"),
                "path containment: trailing slashes, a shared prefix, the root /", "ok");
    Path in = keep_path(test_pathf("%s/roots/in", root)), out = keep_path(test_pathf("%s/roots/out", root));
    Path near = keep_path(test_pathf("%s/roots/inx", root)); // shares the root's prefix, not inside
    Path ds_dir = keep_path(test_pathf("%s/parts", in.s));
    const char *d = ds_dir.s;
    make_dirs(test_pathf("%s/train/a", d)), make_dirs(test_pathf("%s/train/b", d));
    make_dirs(test_pathf("%s/test/a", d)), make_dirs(test_pathf("%s/test/b", d));
    make_dirs(test_pathf("%s/test/cats", d)), make_dirs(test_pathf("%s/shared/c", in.s));
    make_dirs(test_pathf("%s/cats", out.s)), make_dirs(test_pathf("%s/cats-test", out.s)), make_dirs(near.s);
    write_marked_png(test_pathf("%s/train/a/1.png", d), 1);
    write_marked_png(test_pathf("%s/train/a/2.png", d), 2);
    write_marked_png(test_pathf("%s/train/b/1.png", d), 3);
    write_marked_png(test_pathf("%s/test/a/1.png", d), 4);
    write_marked_png(test_pathf("%s/test/b/1.png", d), 5);
    write_marked_png(test_pathf("%s/test/cats/1.png", d), 6);
    write_marked_png(test_pathf("%s/shared/in.png", in.s), 7);
    write_marked_png(test_pathf("%s/shared/c/1.png", in.s), 8);
    write_marked_png(test_pathf("%s/cats/1.png", out.s), OUTSIDE_SEED);
    write_marked_png(test_pathf("%s/cats/2.png", out.s), OUTSIDE_SEED + 1);
    write_marked_png(test_pathf("%s/secret.png", out.s), OUTSIDE_SEED + 2);
    write_marked_png(test_pathf("%s/near.png", near.s), OUTSIDE_SEED + 3);
    link_to(test_pathf("%s/cats", out.s), test_pathf("%s/train/cats", d));            // class folder out
    link_to(test_pathf("%s/secret.png", out.s), test_pathf("%s/train/a/leak.png", d)); // file out
    link_to(test_pathf("%s/near.png", near.s), test_pathf("%s/train/b/near.png", d));  // "/in" vs "/inx"
    link_to("../../../shared/in.png", test_pathf("%s/train/b/inside.png", d));    // stays inside
    link_to(test_pathf("%s/shared/c", in.s), test_pathf("%s/train/c", d));             // stays inside
    link_to(test_pathf("%s/nowhere.png", out.s), test_pathf("%s/train/a/dangling.png", d));

    // Without roots nothing is confined: the links are followed wherever they lead.
    Dataset ds;
    int rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, d, 8, 1, NULL, &ds, err, sizeof err);
    test_report(rc == 0 && ds.num_classes == 4 && ds.train.count == 9 && ds.skipped == 0 &&
                    !none_from(&ds.train, OUTSIDE_SEED),
                "no data roots: links are followed (the trainer run by hand)", "%s",
                rc ? err : test_pathf("%d classes, %d train", ds.num_classes, ds.train.count));
    if (rc == 0) dataset_free(&ds);

    // Confined (the root given with a trailing slash, beside one that does not exist).
    Warnings w = {0};
    const char *roots[] = {test_pathf("%s/roots/missing", root), test_pathf("%s/", in.s)};
    Path missing_root = keep_path(roots[0]), slash_root = keep_path(roots[1]);
    roots[0] = missing_root.s, roots[1] = slash_root.s;
    DataRoots confine = {.roots = roots, .root_count = 2, .warn = collect_warning, .warn_ctx = &w};
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, d, 8, 1, &confine, &ds, err, sizeof err);
    int classes_ok = rc == 0 && ds.num_classes == 3 && strcmp(ds.class_names[0], "a") == 0 &&
                     strcmp(ds.class_names[1], "b") == 0 && strcmp(ds.class_names[2], "c") == 0;
    test_report(classes_ok && ds.train.count == 5 && ds.test.count == 2,
                "data roots: a class folder linked outside is left out, links inside are kept",
                "%s", rc ? err : test_pathf("%d classes, %d train, %d test", ds.num_classes,
                                       ds.train.count, ds.test.count));
    test_report(rc == 0 && none_from(&ds.train, OUTSIDE_SEED) && none_from(&ds.test, OUTSIDE_SEED),
                "data roots: no pixel from outside the roots is loaded", "%s", rc ? err : "ok");
    int inside_kept = 0;
    for (int i = 0; rc == 0 && i < ds.train.count; i++)
        inside_kept += pixel(&ds.train, i, 0, 0, 0) == 7 || pixel(&ds.train, i, 0, 0, 0) == 8;
    test_report(inside_kept == 2, "data roots: a file and a class folder linked inside the root load",
                "%d of 2", inside_kept);
    test_report(rc == 0 && ds.skipped == 4 &&
                    warned(&w, test_pathf("%s/train/cats", d), "class folder skipped") &&
                    warned(&w, test_pathf("%s/train/a/leak.png", d), "outside the data roots") &&
                    warned(&w, test_pathf("%s/train/b/near.png", d), "outside the data roots") &&
                    warned(&w, test_pathf("%s/test/cats", d), "class folder skipped") &&
                    warned(&w, missing_root.s, "does not resolve") && w.count == 5,
                "data roots: each skip is a warning naming the path as found", "%d skipped, %d "
                "warnings: %s | %s | %s | %s | %s", rc ? -1 : ds.skipped, w.count, w.messages[0],
                w.messages[1], w.messages[2], w.messages[3], w.messages[4]);
    if (rc == 0) dataset_free(&ds);

    // Required folders and files that lead outside are errors naming them.
    DataRoots only_in = {.roots = (const char *[]){in.s}, .root_count = 1};
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, test_pathf("%s/cats", out.s), 8, 1, &only_in, &ds, err,
                      sizeof err);
    expect_error(rc, err, test_pathf("%s/cats", out.s), "resolves outside the data roots",
                 "data roots: a dataset folder outside is an error naming it");
    link_to(test_pathf("%s/cats", out.s), test_pathf("%s/escape", in.s));
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, test_pathf("%s/escape", in.s), 8, 1, &only_in, &ds, err,
                      sizeof err);
    expect_error(rc, err, "escape", "resolves outside the data roots",
                 "data roots: a dataset folder linked outside is an error naming it");
    Path linked_train = keep_path(test_pathf("%s/linked-train", in.s));
    make_dirs(test_pathf("%s/test/a", linked_train.s));
    write_marked_png(test_pathf("%s/test/a/1.png", linked_train.s), 9);
    make_dirs(test_pathf("%s/train-out/a", out.s));
    write_marked_png(test_pathf("%s/train-out/a/1.png", out.s), OUTSIDE_SEED);
    link_to(test_pathf("%s/train-out", out.s), test_pathf("%s/train", linked_train.s));
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, linked_train.s, 8, 1, &only_in, &ds, err,
                      sizeof err);
    expect_error(rc, err, test_pathf("%s/train", linked_train.s), "resolves outside the data roots",
                 "data roots: train/ linked outside is an error naming it");

    // A flat folder: an image linked outside is skipped.
    Path flat = keep_path(test_pathf("%s/flat", in.s));
    write_flat(flat.s, 10);
    link_to(test_pathf("%s/secret.png", out.s), test_pathf("%s/img9999.png", flat.s));
    w = (Warnings){0};
    only_in.warn = collect_warning, only_in.warn_ctx = &w;
    rc = dataset_load(DATA_FORMAT_IMAGEFOLDER, flat.s, 4, 1, &only_in, &ds, err, sizeof err);
    test_report(rc == 0 && ds.train.count + ds.test.count == 10 && ds.skipped == 1 &&
                    warned(&w, test_pathf("%s/img9999.png", flat.s), "image skipped"),
                "data roots: a flat folder's image linked outside is skipped with a warning", "%s",
                rc ? err : test_pathf("%d + %d images, %d skipped", ds.train.count, ds.test.count,
                                 ds.skipped));
    if (rc == 0) dataset_free(&ds);

    // IDX: every file is required; one linked outside is an error naming it. Linked inside: fine.
    Path idx = keep_path(test_pathf("%s/idx", in.s)), idx_out = keep_path(test_pathf("%s/idx", out.s));
    write_idx_dataset(idx.s, 8, 8);
    write_idx_dataset(idx_out.s, 8, 8);
    unlink(test_pathf("%s/train-labels-idx1-ubyte", idx.s));
    link_to(test_pathf("%s/train-labels-idx1-ubyte", idx_out.s),
            test_pathf("%s/train-labels-idx1-ubyte", idx.s));
    rc = dataset_load(DATA_FORMAT_IDX, idx.s, 8, 1, &only_in, &ds, err, sizeof err);
    expect_error(rc, err, "train-labels-idx1-ubyte", "resolves outside the data roots",
                 "data roots: an IDX file linked outside is an error naming it");
    rc = dataset_load(DATA_FORMAT_IDX, idx.s, 8, 1, NULL, &ds, err, sizeof err);
    test_report(rc == 0, "no data roots: the same IDX dataset loads", "%s", rc ? err : "ok");
    if (rc == 0) dataset_free(&ds);
    IdxShape shape;
    DataRoots only_out = {.roots = (const char *[]){out.s}, .root_count = 1};
    rc = dataset_idx_shape(idx.s, &only_out, &shape, err, sizeof err);
    expect_error(rc, err, "train-images-idx3-ubyte", "resolves outside the data roots",
                 "data roots: the IDX header read is confined too");
    unlink(test_pathf("%s/train-labels-idx1-ubyte", idx.s));
    rename(test_pathf("%s/train-labels-idx1-ubyte", idx_out.s), test_pathf("%s/labels", in.s));
    link_to("../labels", test_pathf("%s/train-labels-idx1-ubyte", idx.s));
    rc = dataset_load(DATA_FORMAT_IDX, idx.s, 8, 1, &only_in, &ds, err, sizeof err);
    test_report(rc == 0 && ds.train.count == 30, "data roots: an IDX file linked inside loads",
                "%s", rc ? err : "ok");
    if (rc == 0) dataset_free(&ds);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_data_XXXXXX");
    if (!mkdtemp(root)) test_data_die("mkdtemp");
    test_fashion();
    test_idx_written();
    test_idx_mapped();
    test_folder();
    test_flat();
    test_bad_folders();
    test_data_roots();
    test_remove_tree(root);
    TEST_EXIT();
}
