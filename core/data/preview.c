// Preview PNGs (see preview.h): owns the layout of the reconstruction and sample grids —
// denormalization to 8-bit RGB, the masked-input and pasted composites, nearest-neighbour
// upscaling into a bordered canvas — and the in-memory PNG encoding with libpng, written
// out with file_write_atomic.
//
// Layout: cells of (S·scale)² pixels, scale the smallest integer making a cell ≥ 96 px,
// separated from each other and from the image edge by BORDER pixels of BORDER_GRAY (white);
// masked patches in the masked-input column are MASK_GRAY (mid-gray). Always RGB; a
// one-channel image is replicated into R, G and B.
#include "data/preview.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"

enum {
    MIN_CELL = 96,
    BORDER = 2,
    BORDER_GRAY = 255,
    MASK_GRAY = 128,
    PREVIEW_COLUMNS = 4,
};
static const int64_t MAX_PIXELS = (int64_t)64 << 20;

// An RGB canvas holding rows × cols cells.
typedef struct {
    uint8_t *px;
    size_t w, h;
    int S, scale, cell;
} Canvas;

static int check_image_args(const char *path, const float *images, int C, int S,
                            const double *mean, const double *std, char *err, size_t errlen)
{
    if (!path || !images || !mean || !std) {
        snprintf(err, errlen, "preview: path, images, mean and std are required");
        return -1;
    }
    if (C != 1 && C != 3) {
        snprintf(err, errlen, "%s: preview needs 1 or 3 channels, got %d", path, C);
        return -1;
    }
    if (S < 1) {
        snprintf(err, errlen, "%s: preview needs an image size ≥ 1, got %d", path, S);
        return -1;
    }
    return 0;
}

// Sizes the canvas for rows × cols cells of S² source pixels, checks the pixel budget and
// allocates it filled with the border colour.
static int canvas_init(Canvas *cv, const char *path, int rows, int cols, int S, char *err,
                       size_t errlen)
{
    memset(cv, 0, sizeof *cv);
    cv->S = S;
    cv->scale = S >= MIN_CELL ? 1 : (MIN_CELL + S - 1) / S;
    cv->cell = S * cv->scale;
    int64_t w = (int64_t)cols * ((int64_t)cv->cell + BORDER) + BORDER;
    int64_t h = (int64_t)rows * ((int64_t)cv->cell + BORDER) + BORDER;
    if (w > MAX_PIXELS || h > MAX_PIXELS || w * h > MAX_PIXELS) {
        snprintf(err, errlen, "%s: preview of %lld × %lld pixels exceeds the %lld-pixel limit",
                 path, (long long)w, (long long)h, (long long)MAX_PIXELS);
        return -1;
    }
    cv->w = (size_t)w;
    cv->h = (size_t)h;
    cv->px = malloc(cv->w * cv->h * 3);
    if (!cv->px) {
        snprintf(err, errlen, "%s: out of memory for a %zu × %zu preview", path, cv->w, cv->h);
        return -1;
    }
    memset(cv->px, BORDER_GRAY, cv->w * cv->h * 3);
    return 0;
}

static uint8_t to_byte(double v)
{
    if (!(v > 0.0)) return 0; // also NaN
    if (v >= 255.0) return 255;
    return (uint8_t)(v + 0.5);
}

// img [C, S, S] normalized → rgb [S, S, 3] bytes: (x·std[c] + mean[c])·255, rounded and
// clamped; one channel is replicated.
static void denormalize(uint8_t *rgb, const float *img, int C, int S, const double *mean,
                        const double *std)
{
    size_t n = (size_t)S * S;
    for (int k = 0; k < 3; k++) {
        int c = C == 1 ? 0 : k;
        const float *plane = img + (size_t)c * n;
        for (size_t i = 0; i < n; i++)
            rgb[i * 3 + k] = to_byte(((double)plane[i] * std[c] + mean[c]) * 255.0);
    }
}

// Overwrites the pixels of dst [S, S, 3] whose token is masked (token_mask > 0.5) with the
// same pixels of src, or with MASK_GRAY when src is NULL.
static void paste_masked(uint8_t *dst, const uint8_t *src, const float *token_mask, int S,
                         int patch)
{
    int grid = S / patch;
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            if (!(token_mask[(y / patch) * grid + x / patch] > 0.5f)) continue;
            size_t i = ((size_t)y * S + x) * 3;
            if (src) memcpy(dst + i, src + i, 3);
            else memset(dst + i, MASK_GRAY, 3);
        }
    }
}

// Copies rgb [S, S, 3] into cell (row, col), each pixel repeated scale × scale times.
static void blit_cell(Canvas *cv, int row, int col, const uint8_t *rgb)
{
    size_t x0 = BORDER + (size_t)col * (cv->cell + BORDER);
    size_t y0 = BORDER + (size_t)row * (cv->cell + BORDER);
    for (int y = 0; y < cv->cell; y++) {
        const uint8_t *src = rgb + (size_t)(y / cv->scale) * cv->S * 3;
        uint8_t *dst = cv->px + ((y0 + y) * cv->w + x0) * 3;
        for (int x = 0; x < cv->cell; x++)
            memcpy(dst + (size_t)x * 3, src + (size_t)(x / cv->scale) * 3, 3);
    }
}

// ---- PNG encoding into memory ----

typedef struct {
    uint8_t *data;
    size_t len, cap;
} PngBuf;

typedef struct {
    char *err;
    size_t errlen;
    const char *path;
} PngErr;

static void png_on_error(png_structp png, png_const_charp msg)
{
    PngErr *e = png_get_error_ptr(png);
    snprintf(e->err, e->errlen, "%s: PNG encoding failed: %s", e->path, msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_on_write(png_structp png, png_bytep data, png_size_t len)
{
    PngBuf *b = png_get_io_ptr(png);
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (len > cap - b->len) cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) png_error(png, "out of memory");
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void png_on_flush(png_structp png) { (void)png; }

// Encodes the canvas as an 8-bit RGB PNG into out (which the caller frees, also on error).
// Kept apart so that nothing local to the setjmp frame changes between setjmp and longjmp.
static int encode_png(const Canvas *cv, PngBuf *out, PngErr *e)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_on_error, png_on_warning);
    if (!png) {
        snprintf(e->err, e->errlen, "%s: cannot create a PNG writer", e->path);
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(e->err, e->errlen, "%s: cannot create a PNG writer", e->path);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, out, png_on_write, png_on_flush);
    png_set_IHDR(png, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (size_t y = 0; y < cv->h; y++) png_write_row(png, cv->px + y * cv->w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

// Encodes the canvas, writes it atomically to path and frees the canvas.
static int canvas_write(Canvas *cv, const char *path, char *err, size_t errlen)
{
    PngBuf buf = {0};
    PngErr e = {err, errlen, path};
    int rc = encode_png(cv, &buf, &e);
    free(cv->px);
    cv->px = NULL;
    if (rc == 0) {
        FileChunk chunk = {buf.data, buf.len};
        rc = file_write_atomic(path, &chunk, 1, err, errlen);
    }
    free(buf.data);
    return rc;
}

// ---- entry points ----

int preview_write_png(const char *path, const float *images, const float *pred,
                      const float *token_mask, int B, int C, int S, int patch,
                      const double *mean, const double *std, char *err, size_t errlen)
{
    if (check_image_args(path, images, C, S, mean, std, err, errlen)) return -1;
    if (!pred || !token_mask) {
        snprintf(err, errlen, "%s: preview needs the prediction and the token mask", path);
        return -1;
    }
    if (B < 1) {
        snprintf(err, errlen, "%s: preview needs a batch of ≥ 1 image, got %d", path, B);
        return -1;
    }
    if (patch < 1) {
        snprintf(err, errlen, "%s: preview needs a patch size ≥ 1, got %d", path, patch);
        return -1;
    }
    if (S % patch != 0) {
        snprintf(err, errlen, "%s: preview image size %d is not a multiple of patch %d", path, S,
                 patch);
        return -1;
    }
    Canvas cv;
    if (canvas_init(&cv, path, B, PREVIEW_COLUMNS, S, err, errlen)) return -1;
    size_t n = (size_t)S * S, tokens = (n / patch) / patch;
    uint8_t *orig = malloc(n * 3 * 3);
    if (!orig) {
        free(cv.px);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    uint8_t *recon = orig + n * 3, *work = recon + n * 3;
    for (int b = 0; b < B; b++) {
        const float *mask = token_mask + (size_t)b * tokens;
        denormalize(orig, images + (size_t)b * C * n, C, S, mean, std);
        denormalize(recon, pred + (size_t)b * C * n, C, S, mean, std);
        blit_cell(&cv, b, 0, orig);
        memcpy(work, orig, n * 3);
        paste_masked(work, NULL, mask, S, patch);
        blit_cell(&cv, b, 1, work);
        blit_cell(&cv, b, 2, recon);
        memcpy(work, orig, n * 3);
        paste_masked(work, recon, mask, S, patch);
        blit_cell(&cv, b, 3, work);
    }
    free(orig);
    return canvas_write(&cv, path, err, errlen);
}

int preview_write_samples_png(const char *path, const float *images, int count, int C, int S,
                              int cols, const double *mean, const double *std, char *err,
                              size_t errlen)
{
    if (check_image_args(path, images, C, S, mean, std, err, errlen)) return -1;
    if (count < 1 || cols < 1) {
        snprintf(err, errlen, "%s: sample grid needs count ≥ 1 and cols ≥ 1, got %d and %d",
                 path, count, cols);
        return -1;
    }
    if (cols > count) cols = count;
    int rows = count / cols + (count % cols != 0);
    Canvas cv;
    if (canvas_init(&cv, path, rows, cols, S, err, errlen)) return -1;
    size_t n = (size_t)S * S;
    uint8_t *rgb = malloc(n * 3);
    if (!rgb) {
        free(cv.px);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        denormalize(rgb, images + (size_t)i * C * n, C, S, mean, std);
        blit_cell(&cv, i / cols, i % cols, rgb);
    }
    free(rgb);
    return canvas_write(&cv, path, err, errlen);
}
