// PNG (libpng) and JPEG (libjpeg-turbo) decoding into planar 8-bit images, from a file or
// from memory (there in part, and for a JPEG at a DCT scale), and the channel conversion both
// share; see image.h. Both libraries report errors by longjmp: each decoder
// keeps its state in a struct owned by the caller of the function that calls setjmp, so
// nothing the error path needs is an automatic variable changed after setjmp.
#include "data/image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h> // before jpeglib.h, which needs FILE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

typedef enum { IMAGE_UNKNOWN, IMAGE_PNG, IMAGE_JPEG } ImageKind;

static ImageKind image_kind(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return IMAGE_UNKNOWN;
    if (strcasecmp(dot, ".png") == 0) return IMAGE_PNG;
    if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return IMAGE_JPEG;
    return IMAGE_UNKNOWN;
}

int image_has_extension(const char *name) { return image_kind(name) != IMAGE_UNKNOWN; }

void image_free(Image *img)
{
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

// ITU-R BT.601 luma in 16-bit fixed point (the weights sum to 65536), rounded.
static uint8_t luma601(const uint8_t *rgb)
{
    return (uint8_t)((19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] + 32768u) >> 16);
}

void image_convert_channels(const uint8_t *src, int src_channels, int width, int height,
                            int channels, uint8_t *dst)
{
    size_t n = (size_t)width * (size_t)height;
    if (src_channels == channels && channels == 1) {
        memcpy(dst, src, n);
    } else if (src_channels == 1) { // gray → RGB
        for (int c = 0; c < 3; c++) memcpy(dst + (size_t)c * n, src, n);
    } else if (channels == 3) { // RGB → planar
        uint8_t *r = dst, *g = dst + n, *b = dst + 2 * n;
        for (size_t i = 0; i < n; i++) r[i] = src[3 * i], g[i] = src[3 * i + 1], b[i] = src[3 * i + 2];
    } else { // RGB → gray
        for (size_t i = 0; i < n; i++) dst[i] = luma601(src + 3 * i);
    }
}

// Refuses sizes whose pixels we would not allocate (checked before any allocation).
static int check_dimensions(const char *path, unsigned long width, unsigned long height,
                            char *err, size_t errlen)
{
    if (width == 0 || height == 0 || width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE ||
        width * height > (unsigned long)IMAGE_MAX_PIXELS) {
        snprintf(err, errlen, "%s: image of %lu×%lu pixels is outside the limits (1 to %d per "
                 "side, at most %d Mpixel)", path, width, height, IMAGE_MAX_SIDE,
                 IMAGE_MAX_PIXELS >> 20);
        return -1;
    }
    return 0;
}

int image_buffer_reserve(ImageBuffer *b, size_t n)
{
    if (n <= b->cap) return 0;
    free(b->data); // (contents are not kept: no copy)
    b->data = malloc(n);
    b->cap = b->data ? n : 0;
    return b->data ? 0 : -1;
}

void image_buffer_free(ImageBuffer *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

// The decoders' common output: interleaved 8-bit rows of 1 (gray) or 3 (RGB) channels (while
// a PNG is read, 2 or 4 with alpha, until it is composited). The source is a stream (file)
// or bytes in memory (mem); the pixels go to a buffer of their own (malloc) or, from memory,
// to the ImageDecoder's.
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    FILE *file;
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    ImageDecoder *dec;          // from memory: its buffers, its decompressor
    ImagePlanFn plan;           // from memory: chooses the part and scale
    void *plan_ctx;
    ImagePlan wanted;
    ImageRegion *region;        // from memory: what was decoded
    int width, height, src_channels;
    uint8_t *interleaved;
} Decoded;

static int decoded_alloc(Decoded *d)
{
    size_t n = (size_t)d->width * (size_t)d->height * (size_t)d->src_channels;
    if (d->dec)
        d->interleaved = image_buffer_reserve(&d->dec->interleaved, n) ? NULL
                                                                      : d->dec->interleaved.data;
    else
        d->interleaved = malloc(n);
    if (!d->interleaved) {
        snprintf(d->err, d->errlen, "%s: out of memory for %d×%d pixels", d->path, d->width,
                 d->height);
        return -1;
    }
    return 0;
}

static uint8_t *decoded_row(const Decoded *d, int y)
{
    return d->interleaved + (size_t)y * (size_t)d->width * (size_t)d->src_channels;
}

// ---- PNG ----

// Interleaved pixels whose last channel is alpha, composited over IMAGE_BACKGROUND in place:
// each colour value c becomes (c·a + background·(255 − a)) / 255, rounded to nearest; the
// alpha channel goes (the pixels close up, so each is written at or before where it was read).
static void composite_over_background(uint8_t *px, size_t pixels, int channels_with_alpha)
{
    int colours = channels_with_alpha - 1;
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *in = px + i * (size_t)channels_with_alpha;
        unsigned a = in[colours];
        for (int c = 0; c < colours; c++)
            px[i * (size_t)colours + (size_t)c] =
                (uint8_t)((in[c] * a + IMAGE_BACKGROUND * (255 - a) + 127) / 255);
    }
}

typedef struct {
    Decoded *out;
    png_structp png;
    png_infop info;
    png_bytep *rows, *own_rows;
    char message[200]; // libpng's text for the error that ended decoding
} PngState;

static void png_error_longjmp(png_structp png, png_const_charp msg)
{
    PngState *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

// libpng warns about harmless things (e.g. unknown sRGB profiles); a daemon stays quiet.
static void png_warning_ignore(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

// libpng's default reader, except that a short read says what it usually means.
static void png_read_file(png_structp png, png_bytep data, size_t length)
{
    if (fread(data, 1, length, png_get_io_ptr(png)) != length)
        png_error(png, "truncated (the file ends early or cannot be read)");
}

static void png_read_memory(png_structp png, png_bytep data, size_t length)
{
    Decoded *d = png_get_io_ptr(png);
    if (length > d->mem_len - d->mem_pos)
        png_error(png, "truncated (the file ends early or cannot be read)");
    memcpy(data, d->mem + d->mem_pos, length);
    d->mem_pos += length;
}

static int png_read_pixels(PngState *s)
{
    Decoded *d = s->out;
    if (setjmp(png_jmpbuf(s->png))) {
        snprintf(d->err, d->errlen, "%s: invalid PNG: %s", d->path, s->message);
        return -1;
    }
    if (d->file)
        png_set_read_fn(s->png, d->file, png_read_file);
    else
        png_set_read_fn(s->png, d, png_read_memory);
    png_set_sig_bytes(s->png, 8);
    png_read_info(s->png, s->info);
    png_uint_32 width = png_get_image_width(s->png, s->info);
    png_uint_32 height = png_get_image_height(s->png, s->info);
    if (check_dimensions(d->path, width, height, d->err, d->errlen)) return -1;
    if (d->plan) d->plan(d->plan_ctx, (int)width, (int)height, &d->wanted); // (decoded whole)
    // Palette → RGB, gray below 8 bits → 8, tRNS → alpha; 16 → 8 bits. Alpha is composited
    // over the background below.
    png_set_expand(s->png);
    png_set_scale_16(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    d->width = (int)width, d->height = (int)height;
    d->src_channels = png_get_channels(s->png, s->info); // 1, 2 (gray, alpha), 3 or 4 (RGBA)
    if (d->src_channels < 1 || d->src_channels > 4) {
        snprintf(d->err, d->errlen, "%s: unsupported PNG pixel layout", d->path);
        return -1;
    }
    // The row buffers below are sized for this; libpng must agree before it writes into them.
    if (png_get_rowbytes(s->png, s->info) != (size_t)width * (size_t)d->src_channels) {
        snprintf(d->err, d->errlen, "%s: unsupported PNG pixel layout", d->path);
        return -1;
    }
    if (d->dec)
        s->rows = image_buffer_reserve(&d->dec->rows, (size_t)height * sizeof *s->rows)
                      ? NULL
                      : (png_bytep *)(void *)d->dec->rows.data;
    else
        s->rows = s->own_rows = malloc((size_t)height * sizeof *s->rows);
    if (!s->rows) {
        snprintf(d->err, d->errlen, "%s: out of memory", d->path);
        return -1;
    }
    if (decoded_alloc(d)) return -1;
    for (int y = 0; y < d->height; y++) s->rows[y] = decoded_row(d, y);
    png_read_image(s->png, s->rows);
    png_read_end(s->png, NULL); // also catches a file cut after the image data
    if (d->src_channels % 2 == 0) { // gray + alpha, RGBA
        composite_over_background(d->interleaved, (size_t)width * height, d->src_channels);
        d->src_channels--;
    }
    return 0;
}

static int png_decode(Decoded *d)
{
    unsigned char sig[8];
    size_t got = d->file ? fread(sig, 1, sizeof sig, d->file)
                         : d->mem_len < sizeof sig ? 0 : (memcpy(sig, d->mem, sizeof sig), 8);
    d->mem_pos = got;
    if (got != sizeof sig || png_sig_cmp(sig, 0, sizeof sig)) {
        snprintf(d->err, d->errlen, "%s: not a PNG file", d->path);
        return -1;
    }
    PngState s = {.out = d};
    s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_error_longjmp,
                                   png_warning_ignore);
    s.info = s.png ? png_create_info_struct(s.png) : NULL;
    int rc = -1;
    // Only IHDR, PLTE, tRNS, IDAT and IEND make the pixels; libpng skips every other chunk
    // unread. It would otherwise allocate what a text or palette chunk's header declares
    // before reading it (2 GB for a 100-byte file's sPLT; its 8 MB chunk limit misses that).
    if (s.png) png_set_keep_unknown_chunks(s.png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    if (!s.info)
        snprintf(d->err, d->errlen, "%s: out of memory", d->path);
    else
        rc = png_read_pixels(&s);
    png_destroy_read_struct(&s.png, &s.info, NULL);
    free(s.own_rows);
    return rc;
}

// ---- JPEG ----

// A progressive JPEG can hold thousands of tiny scans that take minutes to decode; as
// libjpeg-turbo advises for untrusted input, refuse files with more than this many.
enum { JPEG_MAX_SCANS = 500 };

typedef struct {
    struct jpeg_error_mgr mgr; // first member: libjpeg hands us &mgr as cinfo->err
    jmp_buf jump;
    int too_many_scans; // set when we, not libjpeg, stopped decoding
} JpegErrors;

static void jpeg_error_longjmp(j_common_ptr cinfo)
{
    longjmp(((JpegErrors *)cinfo->err)->jump, 1);
}

static void jpeg_limit_scans(j_common_ptr cinfo)
{
    if (((j_decompress_ptr)cinfo)->input_scan_number <= JPEG_MAX_SCANS) return;
    ((JpegErrors *)cinfo->err)->too_many_scans = 1;
    jpeg_error_longjmp(cinfo);
}

// libjpeg decodes a truncated file as grey without complaint (a warning only): treat that
// one warning as the error it is, like PIL; ignore the others (and all trace output).
static void jpeg_message_filter(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_longjmp(cinfo);
}

typedef struct {
    Decoded *out;
    struct jpeg_decompress_struct cinfo;
    JpegErrors errors;
    struct jpeg_progress_mgr progress;
} JpegState;

static int jpeg_select_color(j_decompress_ptr cinfo, Decoded *d)
{
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE, d->src_channels = 1;
        return 0;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB, d->src_channels = 3;
        return 0;
    case JCS_CMYK:
    case JCS_YCCK:
        snprintf(d->err, d->errlen, "%s: CMYK JPEG is not supported (convert it to RGB)", d->path);
        return -1;
    default:
        snprintf(d->err, d->errlen, "%s: JPEG colour space %d is not supported", d->path,
                 (int)cinfo->jpeg_color_space);
        return -1;
    }
}

static int jpeg_read_pixels(JpegState *s)
{
    Decoded *d = s->out;
    if (setjmp(s->errors.jump)) {
        char message[JMSG_LENGTH_MAX];
        s->errors.mgr.format_message((j_common_ptr)&s->cinfo, message);
        if (s->errors.too_many_scans)
            snprintf(d->err, d->errlen, "%s: JPEG with more than %d progressive scans refused",
                     d->path, JPEG_MAX_SCANS);
        else
            snprintf(d->err, d->errlen, "%s: invalid JPEG: %s", d->path, message);
        return -1;
    }
    jpeg_create_decompress(&s->cinfo);
    s->progress.progress_monitor = jpeg_limit_scans; // (creation cleared cinfo.progress)
    s->cinfo.progress = &s->progress;
    jpeg_stdio_src(&s->cinfo, d->file);
    jpeg_read_header(&s->cinfo, TRUE);
    if (check_dimensions(d->path, s->cinfo.image_width, s->cinfo.image_height, d->err,
                         d->errlen) ||
        jpeg_select_color(&s->cinfo, d))
        return -1;
    jpeg_start_decompress(&s->cinfo);
    d->width = (int)s->cinfo.output_width, d->height = (int)s->cinfo.output_height;
    if (decoded_alloc(d)) return -1;
    while (s->cinfo.output_scanline < s->cinfo.output_height) {
        JSAMPROW row = decoded_row(d, (int)s->cinfo.output_scanline);
        jpeg_read_scanlines(&s->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&s->cinfo);
    return 0;
}

static int jpeg_decode(Decoded *d)
{
    JpegState s = {.out = d};
    s.cinfo.err = jpeg_std_error(&s.errors.mgr);
    s.errors.mgr.error_exit = jpeg_error_longjmp;
    s.errors.mgr.emit_message = jpeg_message_filter;
    int rc = jpeg_read_pixels(&s);
    jpeg_destroy_decompress(&s.cinfo); // safe also if creation failed: the struct was zeroed
    return rc;
}

// ---- both ----

int image_decode_file(const char *path, int channels, Image *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (image_kind(path) == IMAGE_UNKNOWN) {
        snprintf(err, errlen, "%s: not a .png, .jpg or .jpeg file", path);
        return -1;
    }
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = image_decode_stream(file, path, channels, img, err, errlen);
    fclose(file);
    return rc;
}

int image_decode_stream(FILE *file, const char *path, int channels, Image *img, char *err,
                        size_t errlen)
{
    memset(img, 0, sizeof *img);
    ImageKind kind = image_kind(path);
    if (kind == IMAGE_UNKNOWN) {
        snprintf(err, errlen, "%s: not a .png, .jpg or .jpeg file", path);
        return -1;
    }
    Decoded d = {.path = path, .err = err, .errlen = errlen, .file = file};
    int rc = kind == IMAGE_PNG ? png_decode(&d) : jpeg_decode(&d);
    if (rc == 0) {
        img->width = d.width, img->height = d.height, img->channels = channels;
        img->pixels = malloc((size_t)d.width * (size_t)d.height * (size_t)channels);
        if (img->pixels)
            image_convert_channels(d.interleaved, d.src_channels, d.width, d.height, channels,
                                   img->pixels);
        else {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
        }
    }
    free(d.interleaved);
    if (rc) image_free(img);
    return rc;
}

// ---- from memory: in part, and a JPEG at a DCT scale ----

// The libjpeg state of a decode from memory, in memory the ImageDecoder keeps. The
// decompressor itself is created and destroyed for each image: one reused across images
// keeps the previous image's quantization and Huffman tables, which a JPEG that lacks its own
// (an abbreviated stream, or a corrupt one) would then decode with — the result would depend
// on what the thread decoded before.
struct ImageJpeg {
    struct jpeg_decompress_struct cinfo;
    JpegErrors errors;
    struct jpeg_progress_mgr progress;
};

static struct ImageJpeg *jpeg_memory_state(ImageDecoder *dec)
{
    if (!dec->jpeg) dec->jpeg = malloc(sizeof *dec->jpeg);
    if (dec->jpeg) memset(dec->jpeg, 0, sizeof *dec->jpeg);
    return dec->jpeg;
}

// ⌊v⌋ (up: ⌈v⌉) clamped to [lo, hi]; a NaN gives lo.
static int clamp_round(double v, int up, int lo, int hi)
{
    if (!(v > lo)) return lo;
    if (!(v < hi)) return hi;
    return (int)(up ? ceil(v) : floor(v));
}

static int jpeg_read_memory(Decoded *d, struct ImageJpeg *j)
{
    j_decompress_ptr cinfo = &j->cinfo;
    if (setjmp(j->errors.jump)) {
        char message[JMSG_LENGTH_MAX];
        j->errors.mgr.format_message((j_common_ptr)cinfo, message);
        if (j->errors.too_many_scans)
            snprintf(d->err, d->errlen, "%s: JPEG with more than %d progressive scans refused",
                     d->path, JPEG_MAX_SCANS);
        else
            snprintf(d->err, d->errlen, "%s: invalid JPEG: %s", d->path, message);
        return -1;
    }
    jpeg_create_decompress(cinfo);
    j->progress.progress_monitor = jpeg_limit_scans; // (creation cleared cinfo.progress)
    cinfo->progress = &j->progress;
    jpeg_mem_src(cinfo, d->mem, (unsigned long)d->mem_len);
    jpeg_read_header(cinfo, TRUE);
    if (check_dimensions(d->path, cinfo->image_width, cinfo->image_height, d->err, d->errlen) ||
        jpeg_select_color(cinfo, d))
        return -1;
    ImageRegion *r = d->region;
    r->width = (int)cinfo->image_width, r->height = (int)cinfo->image_height;
    if (d->plan) d->plan(d->plan_ctx, r->width, r->height, &d->wanted);
    const ImagePlan *p = &d->wanted;
    int m = p->whole ? 8 : p->scale_num < 1 ? 1 : p->scale_num > 8 ? 8 : p->scale_num;
    cinfo->scale_num = (unsigned)m, cinfo->scale_denom = 8;
    jpeg_start_decompress(cinfo);
    int sw = (int)cinfo->output_width, sh = (int)cinfo->output_height;
    int x0 = 0, x1 = sw, y0 = 0, y1 = sh;
    if (!p->whole) {
        double s = m / 8.0;
        x0 = clamp_round(p->box[0] * s, 0, 0, sw - 1);
        x1 = clamp_round(p->box[2] * s, 1, x0 + 1, sw);
        y0 = clamp_round(p->box[1] * s, 0, 0, sh - 1);
        y1 = clamp_round(p->box[3] * s, 1, y0 + 1, sh);
    }
    JDIMENSION xoff = 0, width = (JDIMENSION)sw;
    if (x0 > 0 || x1 < sw) { // widened to whole iMCUs by libjpeg
        xoff = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
        jpeg_crop_scanline(cinfo, &xoff, &width);
    }
    if (y0 > 0) jpeg_skip_scanlines(cinfo, (JDIMENSION)y0);
    d->width = (int)width, d->height = y1 - y0;
    if (decoded_alloc(d)) return -1;
    while ((int)cinfo->output_scanline < y1) {
        JSAMPROW row = decoded_row(d, (int)cinfo->output_scanline - y0);
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    // The whole image is read to its end (a file cut short is an error, as from a file); a
    // part stops after its last row.
    if (p->whole) jpeg_finish_decompress(cinfo);
    r->scale_num = m, r->scaled_width = sw, r->scaled_height = sh;
    r->x = (int)xoff, r->y = y0;
    return 0;
}

void image_decoder_free(ImageDecoder *dec)
{
    image_buffer_free(&dec->interleaved);
    image_buffer_free(&dec->planar);
    image_buffer_free(&dec->rows);
    free(dec->jpeg);
    memset(dec, 0, sizeof *dec);
}

void image_decoder_trim(ImageDecoder *dec, size_t keep)
{
    ImageBuffer *b[] = {&dec->interleaved, &dec->planar, &dec->rows};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (b[i]->cap > keep) image_buffer_free(b[i]);
}

int image_decode_memory(ImageDecoder *dec, const uint8_t *bytes, size_t len, const char *name,
                        int channels, ImagePlanFn plan, void *ctx, ImageRegion *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3) {
        snprintf(err, errlen, "%s: channels must be 1 or 3 (got %d)", name, channels);
        return -1;
    }
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    int png = len >= 8 && memcmp(bytes, png_signature, 8) == 0;
    if (len == 0) {
        snprintf(err, errlen, "%s: empty (0 bytes)", name);
        return -1;
    }
    if (!png && !(len >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8)) {
        snprintf(err, errlen, "%s: neither a PNG nor a JPEG (by its first bytes)", name);
        return -1;
    }
    Decoded d = {.path = name, .err = err, .errlen = errlen, .mem = bytes, .mem_len = len,
                 .dec = dec, .plan = plan, .plan_ctx = ctx, .region = out,
                 .wanted = {.whole = 1}};
    int rc;
    if (png) {
        rc = png_decode(&d);
        out->width = out->scaled_width = d.width, out->height = out->scaled_height = d.height;
        out->scale_num = 8;
    } else {
        struct ImageJpeg *j = jpeg_memory_state(dec);
        if (j) {
            j->cinfo.err = jpeg_std_error(&j->errors.mgr);
            j->errors.mgr.error_exit = jpeg_error_longjmp;
            j->errors.mgr.emit_message = jpeg_message_filter;
            rc = jpeg_read_memory(&d, j);
            jpeg_destroy_decompress(&j->cinfo); // (safe if creation failed: zeroed)
        } else {
            snprintf(err, errlen, "%s: out of memory", name);
            rc = -1;
        }
    }
    if (rc == 0) {
        size_t n = (size_t)d.width * (size_t)d.height * (size_t)channels;
        if (image_buffer_reserve(&dec->planar, n)) {
            snprintf(err, errlen, "%s: out of memory", name);
            rc = -1;
        } else {
            image_convert_channels(d.interleaved, d.src_channels, d.width, d.height, channels,
                                   dec->planar.data);
            out->region = (Image){d.width, d.height, channels, dec->planar.data};
        }
    }
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}
