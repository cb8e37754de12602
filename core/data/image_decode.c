// PNG (libpng) and JPEG (libjpeg-turbo) decoding into planar 8-bit images, and the channel
// conversion both share; see image.h. Both libraries report errors by longjmp: each decoder
// keeps its state in a struct owned by the caller of the function that calls setjmp, so
// nothing the error path needs is an automatic variable changed after setjmp.
#include "data/image.h"

#include <errno.h>
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
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src + i * (size_t)src_channels;
        if (channels == 1)
            dst[i] = src_channels == 1 ? p[0] : luma601(p);
        else
            for (int c = 0; c < 3; c++) dst[(size_t)c * n + i] = p[src_channels == 1 ? 0 : c];
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

// The decoders' common output: interleaved 8-bit rows of 1 (gray) or 3 (RGB) channels (while
// a PNG is read, 2 or 4 with alpha, until it is composited).
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    FILE *file;
    int width, height, src_channels;
    uint8_t *interleaved;
} Decoded;

static int decoded_alloc(Decoded *d)
{
    d->interleaved = malloc((size_t)d->width * (size_t)d->height * (size_t)d->src_channels);
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
    png_bytep *rows;
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

static int png_read_pixels(PngState *s)
{
    Decoded *d = s->out;
    if (setjmp(png_jmpbuf(s->png))) {
        snprintf(d->err, d->errlen, "%s: invalid PNG: %s", d->path, s->message);
        return -1;
    }
    png_set_read_fn(s->png, d->file, png_read_file);
    png_set_sig_bytes(s->png, 8);
    png_read_info(s->png, s->info);
    png_uint_32 width = png_get_image_width(s->png, s->info);
    png_uint_32 height = png_get_image_height(s->png, s->info);
    if (check_dimensions(d->path, width, height, d->err, d->errlen)) return -1;
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
    s->rows = malloc((size_t)height * sizeof *s->rows);
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
    if (fread(sig, 1, sizeof sig, d->file) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig)) {
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
    free(s.rows);
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

static int jpeg_select_color(JpegState *s)
{
    Decoded *d = s->out;
    switch (s->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        s->cinfo.out_color_space = JCS_GRAYSCALE, d->src_channels = 1;
        return 0;
    case JCS_YCbCr:
    case JCS_RGB:
        s->cinfo.out_color_space = JCS_RGB, d->src_channels = 3;
        return 0;
    case JCS_CMYK:
    case JCS_YCCK:
        snprintf(d->err, d->errlen, "%s: CMYK JPEG is not supported (convert it to RGB)", d->path);
        return -1;
    default:
        snprintf(d->err, d->errlen, "%s: JPEG colour space %d is not supported", d->path,
                 (int)s->cinfo.jpeg_color_space);
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
        jpeg_select_color(s))
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
