// Writes the seed corpora of tests/fuzz/corpus/<harness>/ (committed; `make fuzz-seeds`
// rewrites them, byte for byte the same): small valid inputs of every flavour the parsers
// read, made with the project's own writers (spec_to_json, safetensors_write,
// checkpoint_file_write, checkpoint_state_write), libpng, libjpeg, zlib and libarchive's tar
// writer, plus a few near-misses that the parsers refuse at different checks.
//   build/fuzz/make_seeds [DIR]   DIR defaults to tests/fuzz/corpus
#include <stdarg.h>
#include <stdio.h> // before jpeglib.h, which needs FILE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <archive.h>
#include <archive_entry.h>
#include <jpeglib.h>
#include <png.h>

#include "base/safetensors.h"
#include "spec/checkpoint_file.h"
#include "spec/spec.h"

static const char *out_dir = "tests/fuzz/corpus";

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

static const char *seed_path(const char *harness, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *seed_path(const char *harness, const char *fmt, ...)
{
    static char path[1024];
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s", out_dir, harness);
    mkdir(out_dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
    return path;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) die(path);
}

// A growable byte buffer.
typedef struct {
    unsigned char *data;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        if (!b->data) die("out of memory");
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_be32(Buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    buf_add(b, x, 4);
}

// ---- specs -------------------------------------------------------------------------------

// Written with ' for ", as in tests/unit/spec/test_spec.c.
static const char *const SPECS[] = {
    "{}",
    "{'kind': 'finetune'}",
    "{'kind': 'pretrain', 'name': 'fmnist-simmim', 'dataset': 'fashion-mnist', 'priority': 0,"
    " 'model': {'arch': 'vit', 'preset': null, 'img_size': 32, 'patch_size': 4, 'in_chans': 1,"
    " 'embed_dim': 128, 'depth': 4, 'num_heads': 4, 'mlp_ratio': 4},"
    " 'mask': {'type': 'random', 'mask_patch_size': 8, 'ratio': 0.6},"
    " 'loss': {'type': 'l1', 'scope': 'masked'},"
    " 'train': {'epochs': 10, 'batch_size': 256, 'lr': 1e-3, 'min_lr': 1e-5,"
    " 'warmup_epochs': 1, 'weight_decay': 0.05, 'betas': [0.9, 0.999], 'clip_grad': 5.0,"
    " 'seed': 0, 'threads': 0, 'max_steps': 0, 'total_steps': 0, 'precision': 'fp32'},"
    " 'augment': {'crop_scale': [0.67, 1.0], 'crop_ratio': [0.75, 1.3333], 'hflip': true},"
    " 'finetune': {'init_from': null, 'layer_decay': 0.75, 'label_smoothing': 0.1,"
    " 'drop_path': 0.1, 'labels_per_class': 0},"
    " 'schedule': {'progress_every_steps': 10, 'checkpoint_every_steps': 500,"
    " 'preview_every_steps': 200, 'keep_checkpoints': 3}, 'job_id': null}",
    "{'name': '\\u00fcn\\u00efc\\u00f6d\\u00e9 \\\"q\\\" \\\\ /', 'priority': -3, 'job_id': 42}",
    "{'train': {'lr': 0.1, 'min_lr': 0.030000000000000002, 'weight_decay': 0.3333333333333333,"
    " 'betas': [0.123456789012345678, 0.9999999999999999], 'clip_grad': 1e-300,"
    " 'warmup_epochs': 0.1, 'seed': 9007199254740992, 'max_steps': 9223372036854775807}}",
    "{'train': {'total_steps': 30, 'epochs': null, 'warmup_epochs': 50}}",
    "{'train': {'min_lr': -0.0}, 'finetune': {'label_smoothing': -0.0}}",
    "{'augment': {'crop_scale': [1e-9, 0.5], 'crop_ratio': [0.1, 99.99999999999999]}}",
    "{'model': {'preset': 'vit-t16-224'}, 'mask': {'mask_patch_size': 32, 'ratio': 0.75}}",
    "{'model': {'preset': 'fmnist-vit-t'}}",
    "{'model': {'preset': 'vit-s16-224'}, 'mask': {'mask_patch_size': 32},"
    " 'train': {'max_memory_mb': 65536}}", // fits in the limit on any machine
    "{'model': {'preset': null, 'img_size': 64, 'in_chans': 3, 'patch_size': 8}}",
    "{'model': {'embed_dim': 96, 'num_heads': 3, 'mlp_ratio': 2.5}, 'loss': {'scope': 'full'}}",
    "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'depth': 6}}",
    "{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 5}},"
    " 'model': {'preset': 'fmnist-vit-t', 'mlp_ratio': 2}}",
    "{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x/step-9.safetensors'},"
    " 'drop_path': 0.25, 'labels_per_class': 600}, 'dataset': {'format': 'idx', 'path': '/d',"
    " 'name': 'fashion-mnist'}, 'job_id': 17}",
    "{'dataset': {'format': 'imagefolder', 'path': 'relative/dir'}}",
    "{'train': {'precision': 'bf16', 'max_steps': 5}}",
    "{'loss': {'scope': 'full', 'type': 'l1'}, 'mask': {'type': 'random', 'ratio': 0.999}}",
    // The head (issue 25): each decoder, target and loss; memory; continued pretraining.
    "{'decoder': {'type': 'mlp', 'hidden': 64}, 'target': {'resolution': 16},"
    " 'loss': {'type': 'smooth_l1', 'beta': 0.5}}",
    "{'decoder': {'type': 'transformer', 'depth': 2, 'embed_dim': 64, 'num_heads': 2},"
    " 'loss': {'type': 'bins', 'bins': 8, 'scope': 'full'}, 'target': {'resolution': 8}}",
    "{'decoder': null, 'target': null, 'loss': {'type': 'palette', 'palette': 16},"
    " 'train': {'max_memory_mb': 4096}}",
    "{'pretrain': {'init_from': {'checkpoint': 4}}, 'decoder': {'type': 'mlp'},"
    " 'mask': {'mask_patch_size': null}}",
    "{'pretrain': {'init_from': {'path': '/x/step-9.safetensors', 'sha256':"
    " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}},"
    " 'loss': {'type': 'l2'}}",
    // Refused, each at a different check.
    "{'train': {'epocs': 1}}",
    "{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 1, 'step': 2}}}",
    "{'priority': 1001, 'name': 'a\\nb'}",
    "{'model': {'img_size': 30, 'patch_size': 4}}",
    "{'kind': 'pretrain', 'kind': 'finetune'}",
    "{'decoder': {'type': 'mlp', 'depth': 3}}",
    "{'model': {'preset': 'vit-t16-224'}, 'loss': {'type': 'bins'}, 'train': {'batch_size': 128,"
    " 'max_memory_mb': 65536}}",
    "[1, 2]",
    // Data at scale (issue 26): the data section and a shards dataset.
    "{'data': {'workers': 3, 'prefetch': 4, 'cache_mb': 0, 'shuffle_buffer': 77,"
    " 'max_error_fraction': 0.05}}",
    "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'train-*.tar', 'test': 'test-*.tar',"
    " 'name': 'big'}, 'data': {'cache_mb': null}, 'job_id': 3}",
    "{'dataset': {'format': 'shards', 'path': '/d', 'train': '../x*.tar'}}",
    // Swin (issue 28): an arch with integer lists, its presets, a refused window.
    "{'model': {'arch': 'swin', 'patch_size': 4, 'window_size': 4, 'depths': [2, 2],"
    " 'num_heads': [2, 4], 'ape': true, 'patch_norm': false}}",
    "{'kind': 'finetune', 'model': {'preset': 'swin-t-192'}, 'train': {'batch_size': 16}}",
    "{'model': {'arch': 'swin', 'window_size': 3, 'num_heads': [3, 6, 12, 24]}}",
};

// A copy of JSON written with ' for ", with " (malloc'd).
static char *double_quoted(const char *text)
{
    char *doc = strdup(text);
    if (!doc) die("out of memory");
    for (char *p = doc; *p; p++)
        if (*p == '\'') *p = '"';
    return doc;
}

static void write_specs(void)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof *SPECS; i++) {
        char *doc = double_quoted(SPECS[i]);
        write_bytes(seed_path("spec", "spec-%02zu.json", i), doc, strlen(doc));
        // The full form spec_to_json writes, as the daemon hands it to simmim-train.
        JobSpec spec;
        if (spec_parse(doc, strlen(doc), &spec, NULL) == 0) {
            char *full = spec_to_json(&spec);
            if (!full) die("spec_to_json");
            write_bytes(seed_path("spec", "spec-%02zu-full.json", i), full, strlen(full));
            free(full);
        }
        free(doc);
    }
}

// ---- studies ------------------------------------------------------------------------------

// POST /api/v1/studies bodies (docs/http-api.md#studies), ' for " as the specs above.
static const char *const STUDIES[] = {
    "{'name': 'grid', 'pretrain': {'train': {'epochs': 1}}, 'finetune': {'train': {'epochs': 2}},"
    " 'axes': [{'field': 'pretrain.mask.ratio', 'values': [0.3, 0.6]},"
    " {'field': 'finetune.finetune.layer_decay', 'values': [0.75, 1.0]}], 'seeds': [0, 7],"
    " 'baseline': true}",
    "{'preset': 'mask-ratio', 'seeds': [0]}",
    "{'preset': 'mask-patch', 'pretrain': {'model': {'preset': 'swin-fmnist'}}, 'baseline': false}",
    "{'preset': 'resolution', 'pretrain': {'model': {'img_size': 64, 'patch_size': 8}}}",
    "{'name': 'findings', 'pretrain': {'train': {'epochs': 5, 'precision': 'fp32'}},"
    " 'finetune': {'train': {'epochs': 20}, 'finetune': {'labels_per_class': 600}},"
    " 'axes': [{'field': 'pretrain', 'values': [{}, {'mask': {'ratio': 0.1}},"
    " {'loss': {'type': 'bins', 'bins': 8}}, {'decoder': {'type': 'mlp'}},"
    " {'target': {'resolution': 16}}, {'mask': {'type': 'block'}}]}], 'seeds': [0, 1],"
    " 'baseline': true}",
    "{'name': 'p', 'linprobe': {'linprobe': {'max_iterations': 50}}, 'axes':"
    " [{'field': 'pretrain.mask.type', 'values': ['random', 'square', 'block']}], 'seeds': [0, 7]}",
    "{'linprobe': true, 'axes': [{'field': 'finetune.finetune.labels_per_class',"
    " 'values': [10, 100]}], 'seeds': [3]}",
    "{'axes': [{'field': 'pretrain.loss.scope', 'values': ['masked', 'full']},"
    " {'field': 'finetune.train.lr', 'values': [0.001, 0.0005]}]}",
    // Refused, each at a different check.
    "{'axes': [{'field': 'pretrain.mask.ratio', 'values': [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,"
    " 0.8, 0.9, 0.95, 0.15, 0.25, 0.35]}]}",
    "{'axes': [{'field': 'pretrain.mask.ratoi', 'values': [0.1]}]}",
    "{'axes': [{'field': 'pretrain.mask.ratio', 'values': [2]}]}",
    "{'axes': []}",
    "{'axes': [{'field': 'train.epochs', 'values': [1]}]}",
    "{'preset': 'nope'}",
    "{'preset': 'loss', 'axes': [{'field': 'pretrain.loss.type', 'values': ['l1']}]}",
    "{'seeds': [0, 0], 'preset': 'scope'}",
    "{'pretrain': {'kind': 'finetune'}, 'preset': 'decoder'}",
    "{'name': 'a\\nb', 'preset': 'mask-type', 'extra': 1}",
    "[1, 2]",
};

static void write_studies(void)
{
    for (size_t i = 0; i < sizeof STUDIES / sizeof *STUDIES; i++) {
        char *doc = double_quoted(STUDIES[i]);
        write_bytes(seed_path("study", "study-%02zu.json", i), doc, strlen(doc));
        free(doc);
    }
}

// ---- IDX ---------------------------------------------------------------------------------

// gzip-compressed bytes of data, as gzip(1) would write them.
static Buf gzip_bytes(const Buf *data)
{
    z_stream z = {0};
    Buf out = {0};
    unsigned char chunk[4096];
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2");
    z.next_in = data->data, z.avail_in = (uInt)data->len;
    int rc;
    do {
        z.next_out = chunk, z.avail_out = sizeof chunk;
        rc = deflate(&z, Z_FINISH);
        buf_add(&out, chunk, sizeof chunk - z.avail_out);
    } while (rc == Z_OK);
    if (rc != Z_STREAM_END) die("deflate");
    deflateEnd(&z);
    return out;
}

// An IDX images file of count rows × cols images with varied pixels, or its labels file.
static Buf idx_images(int count, int rows, int cols, int seed)
{
    Buf b = {0};
    buf_be32(&b, 0x803), buf_be32(&b, (uint32_t)count), buf_be32(&b, (uint32_t)rows);
    buf_be32(&b, (uint32_t)cols);
    for (int i = 0; i < count * rows * cols; i++) {
        unsigned char px = (unsigned char)((i * 37 + seed * 11) % 251);
        buf_add(&b, &px, 1);
    }
    return b;
}

static Buf idx_labels(int count, int classes)
{
    Buf b = {0};
    buf_be32(&b, 0x801), buf_be32(&b, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        unsigned char label = (unsigned char)(i % classes);
        buf_add(&b, &label, 1);
    }
    return b;
}

// The harness's input (tests/fuzz/fuzz_idx.c): modes, options, three lengths, four files.
// mode 2 files are gzip-compressed here, so the harness writes compressed bytes to NAME.gz.
static void write_idx_seed(const char *name, const int modes[4], int channels, int size_index,
                           Buf files[4])
{
    Buf in = {0};
    unsigned char head[8] = {0};
    for (int i = 0; i < 4; i++) {
        head[0] |= (unsigned char)(modes[i] << (2 * i));
        if (modes[i] == 2) {
            Buf gz = gzip_bytes(&files[i]);
            free(files[i].data);
            files[i] = gz;
        }
    }
    head[1] = (unsigned char)((channels == 3) | size_index << 1);
    for (int i = 0; i < 3; i++) {
        if (files[i].len > 0xFFFF) die("IDX seed file too large");
        head[2 + 2 * i] = (unsigned char)files[i].len;
        head[3 + 2 * i] = (unsigned char)(files[i].len >> 8);
    }
    buf_add(&in, head, sizeof head);
    for (int i = 0; i < 4; i++) {
        buf_add(&in, files[i].data, files[i].len);
        free(files[i].data);
    }
    write_bytes(seed_path("idx", "%s", name), in.data, in.len);
    free(in.data);
}

// IMG_SIZES of fuzz_idx.c: {4, 8, 10, 12, 16, 28, 32, 64}.
enum { SIZE_4, SIZE_8, SIZE_10, SIZE_12, SIZE_16, SIZE_28, SIZE_32, SIZE_64 };

static void idx_seed(const char *name, int m0, int m1, int m2, int m3, int channels,
                     int size_index, int train, int test, int rows, int cols, int classes)
{
    int modes[4] = {m0, m1, m2, m3};
    Buf files[4] = {idx_images(train, rows, cols, 1), idx_labels(train, classes),
                    idx_images(test, rows, cols, 2), idx_labels(test, classes)};
    write_idx_seed(name, modes, channels, size_index, files);
}

static void write_idx(void)
{
    // Stored as they are and padded: 4×4 images for a model of 8.
    idx_seed("raw-4x4-pad.idx", 0, 0, 0, 0, 1, SIZE_8, 6, 3, 4, 4, 3);
    // gzip-compressed by the harness, 3 channels (replicated gray, so resized path).
    idx_seed("gzwrite-rgb.idx", 1, 1, 1, 1, 3, SIZE_8, 6, 3, 4, 4, 3);
    // Compressed bytes written as they are (mutations corrupt the deflate stream).
    idx_seed("gzip-bytes.idx", 2, 2, 2, 2, 1, SIZE_4, 5, 2, 4, 4, 2);
    // Mixed: raw and .gz side by side.
    idx_seed("mixed.idx", 0, 2, 1, 0, 1, SIZE_12, 8, 4, 6, 6, 4);
    // Larger than the model: resized; non-square: resized.
    idx_seed("resize-12-to-8.idx", 0, 0, 0, 0, 1, SIZE_8, 4, 2, 12, 12, 2);
    idx_seed("non-square.idx", 0, 0, 0, 0, 3, SIZE_10, 4, 2, 5, 9, 2);
    // As stored at the model's size.
    idx_seed("as-stored-8.idx", 0, 0, 0, 0, 1, SIZE_8, 4, 4, 8, 8, 4);
    // Refused: odd padding (5 to 8), one file absent, labels that do not match.
    idx_seed("odd-pad.idx", 0, 0, 0, 0, 1, SIZE_8, 4, 2, 5, 5, 2);
    idx_seed("absent.idx", 0, 0, 3, 0, 1, SIZE_8, 4, 2, 4, 4, 2);
    {
        int modes[4] = {0, 0, 0, 0};
        Buf files[4] = {idx_images(4, 4, 4, 1), idx_labels(5, 2), idx_images(2, 4, 4, 2),
                        idx_labels(2, 2)};
        write_idx_seed("label-count.idx", modes, 1, SIZE_8, files);
    }
    {
        int modes[4] = {0, 0, 0, 0};
        Buf files[4] = {idx_images(4, 4, 4, 1), idx_labels(4, 2), idx_images(2, 4, 4, 2),
                        idx_labels(2, 2)};
        files[0].len -= 5; // truncated payload
        write_idx_seed("truncated.idx", modes, 1, SIZE_8, files);
    }
}

// ---- PNG ---------------------------------------------------------------------------------

static void png_write_mem(png_structp png, png_bytep data, size_t len)
{
    buf_add(png_get_io_ptr(png), data, len);
}

static void png_flush_mem(png_structp png) { (void)png; }

// The harness the image seeds go to: NULL, png's or jpeg's; "stream" for write_stream's.
static const char *image_harness;

// A w × h PNG of color_type and bit depth with varied samples; palette images get a
// 4-entry palette (and a tRNS chunk when trns), any image interlaced on request.
static void png_seed(const char *name, int w, int h, int color_type, int depth, int interlace,
                     int trns)
{
    Buf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) die("libpng");
    png_set_write_fn(png, &out, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 200, 0}, {30, 60, 250}};
        png_set_PLTE(png, info, palette, 4);
        png_byte alpha[2] = {0, 128};
        if (trns) png_set_tRNS(png, info, alpha, 2, NULL);
    } else if (trns) {
        png_color_16 key = {0};
        key.gray = 1, key.red = 1, key.green = 2, key.blue = 3;
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep row = malloc(rowbytes);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++)
                row[i] = (png_byte)(color_type == PNG_COLOR_TYPE_PALETTE
                                        ? (depth == 8 ? (i + (size_t)y) % 4 : 0x1B * (i + 1))
                                        : (i * 29 + (size_t)y * 53) % 256);
            png_write_row(png, row);
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    write_bytes(seed_path(image_harness ? image_harness : "png", "%s", name), out.data, out.len);
    free(out.data);
}

static void write_png(void)
{
    png_seed("gray8.png", 5, 4, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    png_seed("gray1.png", 9, 3, PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    png_seed("gray4-trns.png", 3, 3, PNG_COLOR_TYPE_GRAY, 4, 0, 1);
    png_seed("gray16.png", 4, 4, PNG_COLOR_TYPE_GRAY, 16, 0, 0);
    png_seed("gray-alpha.png", 4, 3, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0);
    png_seed("rgb8.png", 6, 5, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    png_seed("rgb16-trns.png", 3, 2, PNG_COLOR_TYPE_RGB, 16, 0, 1);
    png_seed("rgba8.png", 4, 4, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 0);
    png_seed("rgba16.png", 2, 3, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 0);
    png_seed("palette8.png", 5, 5, PNG_COLOR_TYPE_PALETTE, 8, 0, 0);
    png_seed("palette2-trns.png", 7, 2, PNG_COLOR_TYPE_PALETTE, 2, 0, 1);
    png_seed("rgb-interlaced.png", 11, 9, PNG_COLOR_TYPE_RGB, 8, 1, 0);
    png_seed("gray-interlaced.png", 9, 10, PNG_COLOR_TYPE_GRAY, 8, 1, 0);
    png_seed("large-32x24.png", 32, 24, PNG_COLOR_TYPE_RGB, 8, 0, 0);
}

// ---- JPEG --------------------------------------------------------------------------------

typedef struct {
    int components;
    J_COLOR_SPACE space;
    int progressive, arithmetic, restart, subsample, optimize;
} JpegKind;

static void jpeg_seed(const char *name, int w, int h, JpegKind k)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *mem = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &len);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = k.components;
    c.in_color_space = k.space;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    if (k.progressive) jpeg_simple_progression(&c);
    c.arith_code = k.arithmetic ? TRUE : FALSE;
    c.restart_interval = (unsigned)k.restart;
    c.optimize_coding = k.optimize ? TRUE : FALSE;
    if (k.components == 3 && !k.subsample)
        for (int i = 0; i < 3; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)k.components);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * k.components; i++)
            row[i] = (unsigned char)((i * 13 + (int)c.next_scanline * 21) % 256);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    write_bytes(seed_path(image_harness ? image_harness : "jpeg", "%s", name), mem, len);
    free(mem);
}

static void write_jpeg(void)
{
    jpeg_seed("gray.jpg", 8, 8, (JpegKind){1, JCS_GRAYSCALE, 0, 0, 0, 0, 0});
    jpeg_seed("rgb-420.jpg", 16, 16, (JpegKind){3, JCS_RGB, 0, 0, 0, 1, 0});
    jpeg_seed("rgb-444-odd.jpg", 13, 7, (JpegKind){3, JCS_RGB, 0, 0, 0, 0, 0});
    jpeg_seed("rgb-progressive.jpg", 16, 16, (JpegKind){3, JCS_RGB, 1, 0, 0, 1, 0});
    jpeg_seed("gray-progressive.jpg", 9, 17, (JpegKind){1, JCS_GRAYSCALE, 1, 0, 0, 0, 0});
    jpeg_seed("rgb-arithmetic.jpg", 16, 8, (JpegKind){3, JCS_RGB, 0, 1, 0, 1, 0});
    jpeg_seed("rgb-restart.jpg", 24, 16, (JpegKind){3, JCS_RGB, 0, 0, 1, 1, 0});
    jpeg_seed("rgb-optimized.jpg", 16, 16, (JpegKind){3, JCS_RGB, 0, 0, 0, 1, 1});
    jpeg_seed("cmyk.jpg", 8, 8, (JpegKind){4, JCS_CMYK, 0, 0, 0, 0, 0});
}

// The streamed decoder's (fuzz_stream: JPEG or PNG by signature, cropped, DCT-scaled): a few
// of each kind, and JPEGs large enough that its crops decode at 1/8, 1/4 and 1/2 and skip
// rows and columns.
static void write_stream(void)
{
    image_harness = "stream";
    png_seed("gray8.png", 5, 4, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    png_seed("rgba16.png", 2, 3, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 0);
    png_seed("palette2-trns.png", 7, 2, PNG_COLOR_TYPE_PALETTE, 2, 0, 1);
    png_seed("rgb-interlaced.png", 11, 9, PNG_COLOR_TYPE_RGB, 8, 1, 0);
    png_seed("large-40x30.png", 40, 30, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    jpeg_seed("gray-13x7.jpg", 13, 7, (JpegKind){1, JCS_GRAYSCALE, 0, 0, 0, 0, 0});
    jpeg_seed("rgb-420-64x48.jpg", 64, 48, (JpegKind){3, JCS_RGB, 0, 0, 0, 1, 0});
    jpeg_seed("rgb-444-72x40.jpg", 72, 40, (JpegKind){3, JCS_RGB, 0, 0, 0, 0, 0});
    jpeg_seed("rgb-progressive-96x80.jpg", 96, 80, (JpegKind){3, JCS_RGB, 1, 0, 0, 1, 0});
    jpeg_seed("gray-restart-40x96.jpg", 40, 96, (JpegKind){1, JCS_GRAYSCALE, 0, 0, 1, 0, 0});
    jpeg_seed("rgb-arithmetic-48x48.jpg", 48, 48, (JpegKind){3, JCS_RGB, 0, 1, 0, 1, 0});
    jpeg_seed("rgb-420-200x150.jpg", 200, 150, (JpegKind){3, JCS_RGB, 0, 0, 0, 1, 1});
    jpeg_seed("cmyk.jpg", 8, 8, (JpegKind){4, JCS_CMYK, 0, 0, 0, 0, 0});
    image_harness = NULL;
}

// ---- safetensors, checkpoints, training states -------------------------------------------

static float VALUES[64];

static StTensor tensor(const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    StTensor t = {.name = (char *)name, .ndim = ndim, .shape = {d0, d1, d2}, .numel = 1,
                  .data = VALUES};
    for (int i = 0; i < ndim; i++) t.numel *= (size_t)t.shape[i];
    return t;
}

static void write_safetensors(void)
{
    char err[512];
    StTensor two[2] = {tensor("a.weight", 2, 2, 3, 0), tensor("a.bias", 1, 3, 0, 0)};
    StTensor odd[4] = {tensor("scalar", 0, 0, 0, 0), tensor("empty", 2, 0, 5, 0),
                       tensor("cube", 3, 2, 2, 2), tensor("vector", 1, 7, 0, 0)};
    const char *keys[2] = {"format", "note"}, *values[2] = {"pt", "seed \u00e9"};
    if (safetensors_write(seed_path("safetensors", "two.safetensors"), two, 2, keys, values, 2,
                          err, sizeof err) ||
        safetensors_write(seed_path("safetensors", "shapes.safetensors"), odd, 4, NULL, NULL, 0,
                          err, sizeof err) ||
        safetensors_write(seed_path("safetensors", "metadata-only.safetensors"), NULL, 0, keys,
                          values, 1, err, sizeof err))
        die(err);
    // A header the reference writer would not pad, and one with a gap between tensors.
    static const char unpadded[] =
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    static const char gap[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                              "\"y\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
    const char *texts[2] = {unpadded, gap}, *names[2] = {"unpadded.safetensors", "gap.safetensors"};
    for (int i = 0; i < 2; i++) {
        Buf b = {0};
        unsigned char len[8] = {(unsigned char)strlen(texts[i])};
        buf_add(&b, len, 8);
        buf_add(&b, texts[i], strlen(texts[i]));
        buf_add(&b, VALUES, 8);
        write_bytes(seed_path("safetensors", "%s", names[i]), b.data, b.len);
        free(b.data);
    }

    ModelConfig q = model_config_default(), vit = q;
    model_config_preset("vit-t16-224", &vit);
    ModelConfig ft = q;
    ft.num_classes = 10;
    CheckpointMeta pre = {.kind = "pretrain", .step = 500, .seed = 7, .channels = 1,
                          .mean = {0.286}, .std = {0.353}, .pad = 2, .job_id = 3,
                          .dataset = "fashion-mnist",
                          .mask_json = "{\"type\": \"random\", \"mask_patch_size\": 8, \"ratio\": 0.6}",
                          .decoder_json = "{\"type\": \"mlp\", \"hidden\": 64, \"depth\": "
                                          "null, \"embed_dim\": null, \"num_heads\": null}",
                          .target_json = "{\"resolution\": 16}",
                          .loss_json = "{\"type\": \"bins\", \"scope\": \"masked\", \"beta\": "
                                       "null, \"bins\": 8, \"palette\": null}"};
    CheckpointMeta fine = {.kind = "finetune", .step = 2340, .channels = 1, .mean = {0.286},
                           .std = {0.353}, .pad = 0};
    CheckpointMeta rgb = {.kind = "pretrain", .step = 1, .channels = 3,
                          .mean = {0.485, 0.456, 0.406}, .std = {0.229, 0.224, 0.225}};
    StTensor weights[2] = {tensor("cls_token", 3, 1, 1, 4), tensor("head.bias", 1, 10, 0, 0)};
    if (checkpoint_file_write(seed_path("checkpoint", "pretrain.safetensors"), weights, 1, &q,
                              &pre, err, sizeof err) ||
        checkpoint_file_write(seed_path("checkpoint", "finetune.safetensors"), weights, 2, &ft,
                              &fine, err, sizeof err) ||
        checkpoint_file_write(seed_path("checkpoint", "rgb-vit-t.safetensors"), NULL, 0, &vit,
                              &rgb, err, sizeof err))
        die(err);

    float m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = 0.01f * (float)i, v[i] = 0.001f * (float)(i * i);
    if (checkpoint_state_write(seed_path("state", "step-500.state"), m, v, 16, 500, 500, 1, err,
                               sizeof err) ||
        checkpoint_state_write(seed_path("state", "step-0.state"), m, v, 16, 0, 0, 2, err,
                               sizeof err) ||
        checkpoint_state_write(seed_path("state", "eight-params.state"), m, v, 8, 20, 19, 1, err,
                               sizeof err))
        die(err);
    // A weights file is not a state.
    if (checkpoint_file_write(seed_path("state", "weights.state"), weights, 1, &q, &pre, err,
                              sizeof err))
        die(err);
}

// ---- HTTP requests ----------------------------------------------------------------------

// Requests as a client sends them to fuzz_http's server (token "tok", dataset "tiny"): every
// route, query parameters, ranges, bodies, and some that are refused.
static const char *const REQUESTS[] = {
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /api/v1/jobs?state=running&kind=pretrain&limit=5&offset=0 HTTP/1.1\r\nHost: x\r\n"
    "Authorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs?access_token=tok&limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Content-Type: application/json\r\nContent-Length: 95\r\n\r\n"
    "{\"kind\": \"pretrain\", \"dataset\": \"tiny\", \"priority\": 3, \"train\": {\"batch_size\": 8, \"epochs\": 1}}",
    "GET /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs/1/metrics?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs/1/logs?tail=20 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs/1/previews HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs/1/preview.png?step=200 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/jobs/1/checkpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "POST /api/v1/jobs/1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Content-Length: 0\r\n\r\n",
    "POST /api/v1/jobs/1/resume HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "POST /api/v1/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "DELETE /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/checkpoints/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/checkpoints/1/download HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Range: bytes=0-99\r\n\r\n",
    "GET /api/v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/datasets/tiny HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/datasets/tiny/sample.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Range: bytes=10-20\r\n\r\n",
    "GET /api/v1/datasets/tiny/sample.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Range: bytes=-16\r\nIf-Range: \"x\"\r\n\r\n",
    "GET /api/v1/datasets/tiny/sample.png?access_token=tok HTTP/1.1\r\nHost: x\r\n"
    "Range: bytes=100-\r\nIf-None-Match: \"abc\"\r\n\r\n",
    "HEAD /api/v1/datasets/tiny/sample.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Range: bytes=5-1\r\n\r\n",
    "POST /api/v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Content-Length: 45\r\n\r\n{\"name\": \"t2\", \"format\": \"idx\", \"path\": \"..\"}",
    "DELETE /api/v1/datasets/t2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Last-Event-ID: 3\r\n\r\n",
    "GET /api/v1/jobs/1/events?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /app.js HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n",
    "GET /index.html%00.png HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /../state/simmimd.db HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /api/v1/jobs/0x10 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n",
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/jobs?limit=-1 HTTP/1.1\r\n"
    "Host: x\r\nAuthorization: Bearer tok\r\n\r\n",
    "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
    "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
};

static void write_http(void)
{
    for (size_t i = 0; i < sizeof REQUESTS / sizeof *REQUESTS; i++)
        write_bytes(seed_path("http", "request-%02zu.http", i), REQUESTS[i], strlen(REQUESTS[i]));
}

// ---- tar shards --------------------------------------------------------------------------

typedef struct {
    const char *name, *data;
    int type; // 0 regular, 'd' folder, 'l' symlink
} TarMember;

static la_ssize_t tar_write_mem(struct archive *a, void *ctx, const void *data, size_t len)
{
    (void)a;
    buf_add(ctx, data, len);
    return (la_ssize_t)len;
}

// A shard in memory: format 'p' pax (restricted), 'u' ustar, 'g' GNU tar; gzip-compressed or
// not. Times, owners and modes are fixed, so the bytes are the same on every run.
static void tar_build(Buf *out, const TarMember *m, int n, int format, int gzip)
{
    struct archive *a = archive_write_new();
    if (format == 'u') archive_write_set_format_ustar(a);
    else if (format == 'g') archive_write_set_format_gnutar(a);
    else archive_write_set_format_pax_restricted(a);
    // gzip's header would hold the time of writing: left out.
    if (gzip && (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
                 archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK))
        die("gzip filter");
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, out, NULL, tar_write_mem, NULL) != ARCHIVE_OK) die("tar writer");
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_perm(e, m[i].type == 'd' ? 0755 : 0644);
        size_t len = m[i].data ? strlen(m[i].data) : 0;
        if (m[i].type == 'd') {
            archive_entry_set_filetype(e, AE_IFDIR);
        } else if (m[i].type == 'l') {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "000.jpg");
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)len);
        }
        if (archive_write_header(a, e) != ARCHIVE_OK) die("tar header");
        if (len && archive_write_data(a, m[i].data, len) != (la_ssize_t)len) die("tar data");
        archive_entry_free(e);
    }
    if (archive_write_close(a) != ARCHIVE_OK) die("tar close");
    archive_write_free(a);
}

static void tar_seed(const char *name, const TarMember *m, int n, int format, int gzip)
{
    Buf b = {0};
    tar_build(&b, m, n, format, gzip);
    write_bytes(seed_path("tar", "%s", name), b.data, b.len);
    free(b.data);
}

static void write_tar(void)
{
    // Tiny stand-ins for image bytes: the reader never decodes them.
    static const TarMember good[] = {
        {"000.jpg", "\xff\xd8\xff\xe0jpeg", 0}, {"000.cls", "3", 0},
        {"001.png", "\x89PNG\r\n\x1a\n", 0},    {"001.json", "{\"a\": 1}", 0},
        {"dir", NULL, 'd'},                       {"dir/002.jpeg", "j", 0},
        {"dir/002.cls", " 12\n", 0},              {"003.JPG", "J", 0},
    };
    int n = (int)(sizeof good / sizeof *good);
    tar_seed("pax.tar", good, n, 'p', 0);
    tar_seed("ustar.tar", good, n, 'u', 0);
    tar_seed("gnu.tar", good, n, 'g', 0);
    tar_seed("pax.tar.gz", good, n, 'p', 1);
    static const TarMember bad[] = {
        {"004.cls", "1", 0},   {"005.jpg", "a", 0},       {"005.png", "b", 0},
        {"006.jpg", "a", 0},   {"006.cls", "x", 0},       {"007.jpg", "a", 0},
        {"007.cls", "1", 0},   {"007.cls", "2", 0},       {"008.jpg", "", 0},
        {"009.jpg", NULL, 'l'}, {"010.seg.png", "s", 0},  {".hidden.jpg", "h", 0},
        {"noext", "n", 0},     {"011.png", "ok", 0},      {"011.cls", "99999", 0},
    };
    tar_seed("bad-samples.tar", bad, (int)(sizeof bad / sizeof *bad), 'p', 0);
    // A long key (a pax extended header) and a long .cls.
    static char long_name[1200];
    memset(long_name, 'k', sizeof long_name - 5);
    strcpy(long_name + sizeof long_name - 5, ".png");
    static const TarMember longer[] = {{long_name, "p", 0},
                                       {"012.jpg", "j", 0},
                                       {"012.cls", "0000000000000000000000000000000000000000000000"
                                                   "000000000000000000000001", 0}};
    tar_seed("long.tar", longer, 3, 'p', 0);
    // Truncated and damaged copies of the good shard, and a file that is not a tar.
    Buf b = {0};
    tar_build(&b, good, n, 'p', 0);
    write_bytes(seed_path("tar", "truncated.tar"), b.data, 512 + 512 + 100);
    b.data[1024 + 148] ^= 0x55; // the second header's checksum
    write_bytes(seed_path("tar", "bad-checksum.tar"), b.data, b.len);
    free(b.data);
    write_bytes(seed_path("tar", "not-a-tar.tar"), "hello, shards", 13);
}

int main(int argc, char **argv)
{
    if (argc > 1) out_dir = argv[1];
    for (int i = 0; i < 64; i++) VALUES[i] = 0.25f * (float)i - 3.0f;
    write_specs();
    write_studies();
    write_idx();
    write_png();
    write_jpeg();
    write_stream();
    write_safetensors();
    write_http();
    write_tar();
    printf("seeds written under %s\n", out_dir);
    return 0;
}
