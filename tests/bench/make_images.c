// make_images: the benchmarks' image datasets.
//
//   make_images DIR TRAIN TEST CLASSES
//       bench.sh's RGB folder: DIR/{train,test}/class<k>/NNNN.{png,jpg}, 256×256, alternating
//       PNG and JPEG, smooth colour fields and a shape per class (as it always was).
//
//   make_images jpegs [--out DIR] [--shards DIR] [--per-shard P] [--train N] [--test N]
//                     [--classes K] [--size WxH|mixed] [--quality Q] [--detail F] [--seed S]
//                     [--threads T]
//       Synthetic photographs for the data benchmark (issue 26): JPEGs at ImageNet-like sizes
//       (--size 500x375, the default, or `mixed`: a seeded spread of 4:3, 3:4, 3:2, 16:9 and
//       square sizes with sides of 300–800 pixels, most of them 500×375), quality Q (90),
//       4:2:0 chroma as camera and web JPEGs are. Content that compresses and decodes like
//       a photograph rather than a flat test card: 1/f (fractal) textures, colour gradients,
//       lighting, shapes with textured fills and edges from sharp to out-of-focus, thin
//       curved strokes, lines of text-like glyphs, sensor grain. Each class has its own hues
//       and a favourite shape, so a classifier can learn them. --detail F scales the fine
//       textures and the grain, what a JPEG spends its bytes on: at 500×375 and quality 90,
//       F = 1 (the default) gives about 2.6 bits per pixel (61 KB a file), 0.5 about 1.8 and
//       1.5 about 3.2 — Debian's wallpaper photographs cropped so (make_photos.py) give 1.2,
//       ImageNet's training JPEGs average about 5 (115 KB at about 470×390, their own
//       qualities). --out writes class folders
//       DIR/{train,test}/class<k>/<NNNNNNN>.jpg; --shards writes the same files as WebDataset
//       tar shards DIR/{train,test}-NNNNNN.tar (P samples each, default 1000) of KEY.jpg and
//       KEY.cls (the class index as text), written with libarchive. Either or both.
//       Defaults: 1000 train, 100 test, 10 classes, seed 0. Every image is a function of
//       (seed, split, index) alone: any thread count writes the same bytes.
//
//   make_images export-idx --idx DIR [--out DIR] [--shards DIR] [--per-shard P]
//                          [--train N] [--test N]
//       An IDX dataset (Fashion-MNIST: /usr/share/datasets/fashion-mnist) as 8-bit gray PNGs:
//       --out DIR/{train,test}/<label>/<NNNNN>.png (NNNNN its position in the IDX file, so a
//       class folder lists its images in IDX order and labels are the IDX labels, as
//       simmimd names IDX classes "0".."9"); --shards as above with KEY.png. --train/--test
//       export only the first N of each split (default all).
//
// jpegs and export-idx print one JSON line: what was written, the mean file size and bits
// per pixel.
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h> // before jpeglib.h, which needs FILE and size_t
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <jpeglib.h>

enum { SIDE = 256 };

static void paint(unsigned char *rgb, int index, int cls)
{
    double phase = index * 0.37, radius = 40 + 10 * cls;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            unsigned char *p = rgb + 3 * (y * SIDE + x);
            double dx = x - SIDE / 2.0, dy = y - SIDE / 2.0;
            int inside = sqrt(dx * dx + dy * dy) < radius;
            p[0] = (unsigned char)(127 + 120 * sin(x * 0.03 + phase));
            p[1] = (unsigned char)(127 + 120 * cos(y * 0.02 + phase * cls));
            p[2] = inside ? 230 : (unsigned char)(60 + (x ^ y) % 40);
        }
}

static int write_png_rgb(const char *path, const unsigned char *rgb)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!f || !info || setjmp(png_jmpbuf(png))) {
        if (f) fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, SIDE, SIDE, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < SIDE; y++) png_write_row(png, rgb + 3 * y * SIDE);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

static int write_jpeg_rgb(const char *path, unsigned char *rgb)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = c.image_height = SIDE;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < SIDE) {
        JSAMPROW row = rgb + 3 * c.next_scanline * SIDE;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f);
}

static int write_split(const char *dir, const char *split, int count, int classes, unsigned char *rgb)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, split);
    mkdir(path, 0755);
    for (int i = 0; i < count; i++) {
        int cls = i % classes;
        snprintf(path, sizeof path, "%s/%s/class%d", dir, split, cls);
        if (mkdir(path, 0755) && errno != EEXIST) return -1;
        paint(rgb, i, cls);
        int jpeg = (i / classes) % 2; // every class gets both formats
        snprintf(path, sizeof path, "%s/%s/class%d/%04d.%s", dir, split, cls, i, jpeg ? "jpg" : "png");
        if (jpeg ? write_jpeg_rgb(path, rgb) : write_png_rgb(path, rgb)) return -1;
    }
    return 0;
}

static int bench_set_main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: make_images DIR TRAIN TEST CLASSES\n"
                        "       make_images jpegs [--out DIR] [--shards DIR] [--per-shard P] [--train N]\n"
                        "                         [--test N] [--classes K] [--size WxH|mixed] [--quality Q]\n"
                        "                         [--detail F] [--seed S] [--threads T]\n"
                        "       make_images export-idx --idx DIR [--out DIR] [--shards DIR] [--per-shard P]\n"
                        "                              [--train N] [--test N]\n");
        return 2;
    }
    int train = atoi(argv[2]), test = atoi(argv[3]), classes = atoi(argv[4]);
    unsigned char *rgb = malloc(3 * SIDE * SIDE);
    mkdir(argv[1], 0755);
    int rc = !rgb || train < 1 || test < 1 || classes < 1 ||
             write_split(argv[1], "train", train, classes, rgb) ||
             write_split(argv[1], "test", test, classes, rgb);
    free(rgb);
    if (rc) fprintf(stderr, "make_images: cannot write into %s\n", argv[1]);
    return rc;
}

// ---- the random numbers of one image -----------------------------------------------------

static uint64_t mk_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t mk_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mk_mix(*state);
}

static double mk_unit(uint64_t *state) // [0, 1)
{
    return (mk_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static double mk_range(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * mk_unit(state);
}

static double mk_logrange(uint64_t *state, double lo, double hi)
{
    return lo * exp(log(hi / lo) * mk_unit(state));
}

static int mk_below(uint64_t *state, int n)
{
    return (int)(mk_unit(state) * n);
}

// ---- texture atlas -----------------------------------------------------------------------
// Tileable planes of fractal value noise, zero mean and unit deviation: four of 1/f noise
// (octaves of 4 … 256 cells, amplitude halving with each doubling of frequency: the
// amplitude spectrum of natural images) and two of fine detail (octaves of 32 … 256 cells at
// equal amplitude: foliage, fur, gravel). Built once; every image samples them under its own
// affine maps.

enum { ATLAS = 512, SMOOTH_PLANES = 4, ATLAS_PLANES = 6 };
static float *mk_atlas[ATLAS_PLANES];

static double mk_smooth(double t)
{
    return t * t * (3 - 2 * t);
}

static int atlas_build(void)
{
    double *lattice = malloc(sizeof(double) * 256 * 256);
    if (!lattice) return -1;
    for (int p = 0; p < ATLAS_PLANES; p++) {
        float *plane = mk_atlas[p] = calloc((size_t)ATLAS * ATLAS, sizeof(float));
        if (!plane) return -1;
        uint64_t state = 0x5eed0000ULL + (uint64_t)p;
        int fine = p >= SMOOTH_PLANES;
        for (int cells = fine ? 32 : 4; cells <= 256; cells *= 2) {
            double amplitude = fine ? 1 : 4.0 / cells;
            for (int i = 0; i < cells * cells; i++) lattice[i] = mk_unit(&state) * 2 - 1;
            for (int y = 0; y < ATLAS; y++) {
                double v = (double)y * cells / ATLAS;
                int y0 = (int)v, y1 = (y0 + 1) % cells;
                double fy = mk_smooth(v - y0);
                for (int x = 0; x < ATLAS; x++) {
                    double u = (double)x * cells / ATLAS;
                    int x0 = (int)u, x1 = (x0 + 1) % cells;
                    double fx = mk_smooth(u - x0);
                    double top = lattice[y0 * cells + x0] * (1 - fx) + lattice[y0 * cells + x1] * fx;
                    double bottom = lattice[y1 * cells + x0] * (1 - fx) + lattice[y1 * cells + x1] * fx;
                    plane[y * ATLAS + x] += (float)(amplitude * (top * (1 - fy) + bottom * fy));
                }
            }
        }
        double sum = 0, sq = 0;
        for (int i = 0; i < ATLAS * ATLAS; i++) sum += plane[i], sq += (double)plane[i] * plane[i];
        double mean = sum / (ATLAS * ATLAS), sd = sqrt(sq / (ATLAS * ATLAS) - mean * mean);
        for (int i = 0; i < ATLAS * ATLAS; i++) plane[i] = (float)((plane[i] - mean) / sd);
    }
    free(lattice);
    return 0;
}

// A texture as an image sees it: one atlas plane under an affine map (rotation, scale, offset).
typedef struct {
    const float *plane;
    float a, b, c, d, ox, oy;
} Texture;

static Texture texture_draw(uint64_t *state, int fine, double lo_scale, double hi_scale)
{
    double angle = mk_range(state, 0, 2 * M_PI), scale = mk_logrange(state, lo_scale, hi_scale);
    int plane = fine ? SMOOTH_PLANES + mk_below(state, ATLAS_PLANES - SMOOTH_PLANES) : mk_below(state, SMOOTH_PLANES);
    Texture t = {mk_atlas[plane],
                 (float)(scale * cos(angle)), (float)(-scale * sin(angle)),
                 (float)(scale * sin(angle)), (float)(scale * cos(angle)),
                 (float)mk_range(state, 0, ATLAS), (float)mk_range(state, 0, ATLAS)};
    return t;
}

static float texture_at(const Texture *t, float x, float y)
{
    float u = t->a * x + t->b * y + t->ox, v = t->c * x + t->d * y + t->oy;
    float fu = floorf(u), fv = floorf(v);
    int x0 = (int)fu & (ATLAS - 1), y0 = (int)fv & (ATLAS - 1);
    int x1 = (x0 + 1) & (ATLAS - 1), y1 = (y0 + 1) & (ATLAS - 1);
    float wx = u - fu, wy = v - fv;
    const float *p = t->plane;
    float top = p[y0 * ATLAS + x0] + wx * (p[y0 * ATLAS + x1] - p[y0 * ATLAS + x0]);
    float bottom = p[y1 * ATLAS + x0] + wx * (p[y1 * ATLAS + x1] - p[y1 * ATLAS + x0]);
    return top + wy * (bottom - top);
}

// ---- painting one synthetic photograph ---------------------------------------------------

static void hsv_to_rgb(double h, double s, double v, float rgb[3])
{
    h = (h - floor(h)) * 6;
    int i = (int)h;
    double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r[6] = {v, q, p, p, t, v}, g[6] = {t, v, v, q, p, p}, b[6] = {p, p, t, v, v, q};
    rgb[0] = (float)(255 * r[i % 6]);
    rgb[1] = (float)(255 * g[i % 6]);
    rgb[2] = (float)(255 * b[i % 6]);
}

static void class_colour(uint64_t *state, int cls, float rgb[3])
{
    double hue = cls * 0.61803398875 + mk_range(state, -0.07, 0.07);
    if (mk_unit(state) < 0.25) hue = mk_unit(state); // some colours from anywhere
    hsv_to_rgb(hue, mk_range(state, 0.15, 0.85), mk_range(state, 0.2, 0.95), rgb);
}

static void blend(float *px, const float rgb[3], float alpha)
{
    for (int c = 0; c < 3; c++) px[c] += alpha * (rgb[c] - px[c]);
}

// A line segment of width w from (x0, y0) to (x1, y1), antialiased.
static void draw_segment(float *img, int w, int h, float x0, float y0, float x1, float y1,
                         float width, const float rgb[3], float alpha)
{
    float pad = width / 2 + 1;
    int bx0 = (int)fmaxf(0, floorf(fminf(x0, x1) - pad)), bx1 = (int)fminf(w - 1, ceilf(fmaxf(x0, x1) + pad));
    int by0 = (int)fmaxf(0, floorf(fminf(y0, y1) - pad)), by1 = (int)fminf(h - 1, ceilf(fmaxf(y0, y1) + pad));
    float dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) {
            float px = x + 0.5f - x0, py = y + 0.5f - y0;
            float t = len2 > 0 ? fminf(1, fmaxf(0, (px * dx + py * dy) / len2)) : 0;
            float ex = px - t * dx, ey = py - t * dy;
            float cover = fminf(1, fmaxf(0, width / 2 + 0.5f - sqrtf(ex * ex + ey * ey)));
            if (cover > 0) blend(img + 3 * ((size_t)y * w + x), rgb, alpha * cover);
        }
}

enum { SHAPE_ELLIPSE, SHAPE_RECT, SHAPE_TRIANGLE, SHAPE_RING, SHAPE_KINDS };

// Shapes: textured, shaded fills with edges from sharp (0.5 px) to out of focus (5 px).
static void paint_shape(float *img, int w, int h, uint64_t *state, int cls, float detail)
{
    int kind = mk_unit(state) < 0.5 ? cls % SHAPE_KINDS : mk_below(state, SHAPE_KINDS);
    float side = (float)(w < h ? w : h);
    float r = (float)mk_logrange(state, 0.04, 0.4) * side, aspect = (float)mk_range(state, 0.35, 1);
    float cx = (float)mk_range(state, -0.1, 1.1) * w, cy = (float)mk_range(state, -0.1, 1.1) * h;
    float angle = (float)mk_range(state, 0, M_PI), ca = cosf(angle), sa = sinf(angle);
    float soft = (float)mk_logrange(state, 0.5, 5), alpha = (float)mk_range(state, 0.75, 1);
    float colour[3], texture_amp = detail * (float)mk_range(state, 8, 80), shade = (float)mk_range(state, -40, 40);
    class_colour(state, cls, colour);
    Texture tex = texture_draw(state, mk_unit(state) < 0.3, 0.3, 2);
    float chroma = (float)mk_range(state, 0, 0.4);
    // The triangle's corners, in the shape's own frame.
    float tx[3], ty[3];
    for (int k = 0; k < 3; k++) {
        double a = 2 * M_PI * k / 3 + mk_range(state, -0.5, 0.5);
        tx[k] = (float)(r * cos(a)), ty[k] = (float)(r * aspect * sin(a));
    }
    float reach = r + 3 * soft + 1;
    int x0 = (int)fmaxf(0, cx - reach), x1 = (int)fminf(w - 1, cx + reach);
    int y0 = (int)fmaxf(0, cy - reach), y1 = (int)fminf(h - 1, cy + reach);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            float lx = ca * dx + sa * dy, ly = -sa * dx + ca * dy, sd;
            switch (kind) {
            case SHAPE_ELLIPSE:
                sd = (sqrtf((lx / r) * (lx / r) + (ly / (r * aspect)) * (ly / (r * aspect))) - 1) * r * aspect;
                break;
            case SHAPE_RECT:
                sd = fmaxf(fabsf(lx) - r, fabsf(ly) - r * aspect);
                break;
            case SHAPE_TRIANGLE:
                sd = -1e9f;
                for (int k = 0; k < 3; k++) {
                    int n = (k + 1) % 3;
                    float ex = tx[n] - tx[k], ey = ty[n] - ty[k], len = sqrtf(ex * ex + ey * ey);
                    sd = fmaxf(sd, ((lx - tx[k]) * ey - (ly - ty[k]) * ex) / len);
                }
                break;
            default: { // a ring: the band around an ellipse
                float e = sqrtf((lx / r) * (lx / r) + (ly / (r * aspect)) * (ly / (r * aspect)));
                sd = fabsf(e - 0.8f) * r * aspect - 0.15f * r * aspect;
            }
            }
            float cover = fminf(1, fmaxf(0, 0.5f - sd / soft));
            if (cover <= 0) continue;
            float n = texture_at(&tex, (float)x, (float)y) * texture_amp, s = shade * lx / r;
            float fill[3] = {colour[0] + n + s, colour[1] + n * (1 - chroma) + s, colour[2] + n * (1 + chroma) + s};
            blend(img + 3 * ((size_t)y * w + x), fill, alpha * cover);
        }
}

// Thin curved strokes (stems, wires, hairs): polylines of four bending segments.
static void paint_stroke(float *img, int w, int h, uint64_t *state, int cls)
{
    float colour[3];
    class_colour(state, cls, colour);
    float x = (float)mk_range(state, 0, w), y = (float)mk_range(state, 0, h);
    float heading = (float)mk_range(state, 0, 2 * M_PI), bend = (float)mk_range(state, -0.4, 0.4);
    float step = (float)mk_logrange(state, 8, 60), width = (float)mk_logrange(state, 0.8, 4);
    for (int k = 0; k < 4; k++) {
        float nx = x + step * cosf(heading), ny = y + step * sinf(heading);
        draw_segment(img, w, h, x, y, nx, ny, width, colour, 0.9f);
        x = nx, y = ny, heading += bend;
    }
}

// Lines of text-like glyphs: each glyph one to three strokes of a small alphabet of
// segments in its box (verticals, bars, diagonals, a bowl).
static void paint_text(float *img, int w, int h, uint64_t *state)
{
    static const float segs[][4] = {{0, 0, 0, 1}, {1, 0, 1, 1}, {0, 0, 1, 0}, {0, .5f, 1, .5f},
                                    {0, 1, 1, 1}, {0, 1, 1, 0}, {0, 0, 1, 1}, {.5f, 0, .5f, 1},
                                    {0, 1, .5f, 0}, {.5f, 0, 1, 1}, {0, .5f, .5f, 1}, {.5f, 1, 1, .5f}};
    int nsegs = (int)(sizeof segs / sizeof segs[0]);
    float colour[3];
    float v = mk_unit(state) < 0.6 ? (float)mk_range(state, 0, 40) : (float)mk_range(state, 215, 255);
    colour[0] = colour[1] = colour[2] = v;
    colour[(int)mk_below(state, 3)] += (float)mk_range(state, -20, 20);
    float gh = (float)mk_logrange(state, 7, 22), gw = gh * (float)mk_range(state, 0.45, 0.7);
    float width = fmaxf(0.8f, gh * (float)mk_range(state, 0.08, 0.16));
    float slant = (float)mk_range(state, -0.2, 0.2);
    float x0 = (float)mk_range(state, 0, w * 0.6), y = (float)mk_range(state, 0, h - gh);
    int lines = 1 + mk_below(state, 5);
    for (int line = 0; line < lines; line++, y += gh * 1.6f) {
        float x = x0 + (float)mk_range(state, -gh, gh);
        int words = 1 + mk_below(state, 6);
        for (int word = 0; word < words; word++, x += gw * 0.8f) {
            int glyphs = 2 + mk_below(state, 7);
            for (int g = 0; g < glyphs; g++, x += gw * 1.25f) {
                int strokes = 1 + mk_below(state, 3);
                for (int s = 0; s < strokes; s++) {
                    const float *q = segs[mk_below(state, nsegs)];
                    draw_segment(img, w, h, x + q[0] * gw + slant * (1 - q[1]) * gh, y + q[1] * gh,
                                 x + q[2] * gw + slant * (1 - q[3]) * gh, y + q[3] * gh, width, colour, 1);
                }
            }
        }
    }
}

// The whole picture: a lit, textured, graded background, shapes, strokes, text, grain.
static void paint_photo(float *img, int w, int h, uint64_t *state, int cls, float detail)
{
    float c0[3], c1[3];
    class_colour(state, cls, c0);
    class_colour(state, cls, c1);
    double g = mk_range(state, 0, 2 * M_PI);
    float gx = (float)cos(g), gy = (float)sin(g), diag = sqrtf((float)w * w + (float)h * h);
    Texture lum = texture_draw(state, 0, 0.2, 2), chroma = texture_draw(state, 0, 0.1, 0.8);
    Texture light = texture_draw(state, 0, 0.03, 0.12);
    // Fine detail (foliage, fur, gravel) where a coarse mask says so, smooth elsewhere (sky).
    Texture fine = texture_draw(state, 1, 0.3, 1.5), where = texture_draw(state, 0, 0.05, 0.3);
    float detail_amp = detail * (float)mk_logrange(state, 12, 100), detail_bias = (float)mk_range(state, -1, 1);
    float lum_amp = (float)mk_range(state, 8, 40), chroma_amp = (float)mk_range(state, 2, 14);
    float light_amp = (float)mk_range(state, 0.05, 0.3);
    float cdir[3] = {(float)mk_range(state, -1, 1), (float)mk_range(state, -1, 1), (float)mk_range(state, -1, 1)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float t = ((x - w / 2.0f) * gx + (y - h / 2.0f) * gy) / diag + 0.5f;
            float n = texture_at(&lum, (float)x, (float)y) * lum_amp;
            float m = texture_at(&chroma, (float)x, (float)y) * chroma_amp;
            float k = fminf(1, fmaxf(0, texture_at(&where, (float)x, (float)y) + detail_bias));
            n += k * detail_amp * texture_at(&fine, (float)x, (float)y);
            float *px = img + 3 * ((size_t)y * w + x);
            for (int c = 0; c < 3; c++) px[c] = c0[c] + t * (c1[c] - c0[c]) + n + m * cdir[c];
        }
    int shapes = 3 + mk_below(state, 10), strokes = mk_below(state, 14);
    for (int i = 0; i < shapes; i++) paint_shape(img, w, h, state, cls, detail);
    for (int i = 0; i < strokes; i++) paint_stroke(img, w, h, state, cls);
    if (mk_unit(state) < 0.5) paint_text(img, w, h, state);
    // Lighting over everything, then grain (luma and a little chroma).
    float grain = detail * (float)mk_range(state, 2, 8);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *px = img + 3 * ((size_t)y * w + x);
            float lit = 1 + light_amp * texture_at(&light, (float)x, (float)y);
            float noise = (float)(mk_unit(state) + mk_unit(state) + mk_unit(state) - 1.5) * 2 * grain;
            for (int c = 0; c < 3; c++) {
                float chroma_noise = (float)(mk_unit(state) - 0.5) * grain;
                px[c] = px[c] * lit + noise + chroma_noise;
            }
        }
}

// ---- encoding ----------------------------------------------------------------------------

typedef struct {
    unsigned char *data;
    unsigned long size;
    int cls, width, height;
} Encoded;

static void encode_jpeg_mem(const unsigned char *rgb, int w, int h, int quality, Encoded *out)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    out->data = NULL;
    out->size = 0;
    jpeg_mem_dest(&c, &out->data, &out->size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c); // 4:2:0 chroma, standard Huffman tables
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)rgb + 3 * (size_t)c.next_scanline * w;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

typedef struct {
    unsigned char *data;
    size_t size, cap;
    int failed;
} PngBuffer;

static void png_buffer_write(png_structp png, png_bytep bytes, png_size_t n)
{
    PngBuffer *b = png_get_io_ptr(png);
    if (b->size + n > b->cap) {
        size_t cap = 2 * (b->size + n);
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void png_buffer_flush(png_structp png)
{
    (void)png;
}

static int encode_png_gray(const unsigned char *gray, int w, int h, Encoded *out)
{
    PngBuffer b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        if (png) png_destroy_write_struct(&png, info ? &info : NULL);
        free(b.data);
        return -1;
    }
    png_set_write_fn(png, &b, png_buffer_write, png_buffer_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)gray + (size_t)y * w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (b.failed) {
        free(b.data);
        return -1;
    }
    out->data = b.data;
    out->size = b.size;
    return 0;
}

// ---- writing class folders and shards ----------------------------------------------------

typedef struct {
    const char *out;    // class folders under here, or NULL
    const char *shards; // tar shards here, or NULL
    int per_shard;
    const char *ext;    // "jpg" or "png"
    int class_digits;   // class<k> zero-padded so that names sort as labels (0: bare <k>)
    int key_digits;
} Sink;

typedef struct {
    struct archive *tar;
    int shard;
} ShardState;

static int images_make_dir(const char *path)
{
    if (mkdir(path, 0755) && errno != EEXIST) {
        fprintf(stderr, "make_images: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int tar_shard_close(ShardState *st)
{
    int rc = 0;
    if (st->tar) {
        rc = archive_write_close(st->tar) != ARCHIVE_OK;
        if (rc) fprintf(stderr, "make_images: %s\n", archive_error_string(st->tar));
        archive_write_free(st->tar);
        st->tar = NULL;
    }
    return rc;
}

static int shard_member(struct archive *tar, const char *name, const void *data, size_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 0, 0); // the same bytes on every run
    int rc = archive_write_header(tar, e) != ARCHIVE_OK ||
             archive_write_data(tar, data, size) != (la_ssize_t)size;
    if (rc) fprintf(stderr, "make_images: %s: %s\n", name, archive_error_string(tar));
    archive_entry_free(e);
    return rc;
}

// Sample `index` of `split`: a file in its class folder and a KEY.ext + KEY.cls pair in its shard.
static int sink_put(const Sink *s, ShardState *st, const char *split, int index, const Encoded *e)
{
    char path[4096], key[32];
    snprintf(key, sizeof key, "%0*d", s->key_digits, index);
    if (s->out) {
        if (s->class_digits)
            snprintf(path, sizeof path, "%s/%s/class%0*d", s->out, split, s->class_digits, e->cls);
        else
            snprintf(path, sizeof path, "%s/%s/%d", s->out, split, e->cls);
        if (images_make_dir(path)) return -1;
        size_t len = strlen(path);
        snprintf(path + len, sizeof path - len, "/%s.%s", key, s->ext);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(e->data, 1, e->size, f) != e->size) {
            fprintf(stderr, "make_images: cannot write %s: %s\n", path, strerror(errno));
            if (f) fclose(f);
            return -1;
        }
        if (fclose(f)) return -1;
    }
    if (s->shards) {
        if (index / s->per_shard != st->shard || !st->tar) {
            if (tar_shard_close(st)) return -1;
            st->shard = index / s->per_shard;
            snprintf(path, sizeof path, "%s/%s-%06d.tar", s->shards, split, st->shard);
            st->tar = archive_write_new();
            if (!st->tar || archive_write_set_format_ustar(st->tar) != ARCHIVE_OK ||
                archive_write_open_filename(st->tar, path) != ARCHIVE_OK) {
                fprintf(stderr, "make_images: cannot write %s: %s\n", path,
                        st->tar ? archive_error_string(st->tar) : "out of memory");
                return -1;
            }
        }
        char name[64], cls[16];
        snprintf(name, sizeof name, "%s.%s", key, s->ext);
        int n = snprintf(cls, sizeof cls, "%d", e->cls);
        if (shard_member(st->tar, name, e->data, e->size)) return -1;
        snprintf(name, sizeof name, "%s.cls", key);
        if (shard_member(st->tar, name, cls, (size_t)n)) return -1;
    }
    return 0;
}

// Produces sample `index` of a split into *e (data malloc'ed); 0 or -1.
typedef int (*ProduceFn)(void *ctx, int split, int index, Encoded *e);

typedef struct {
    long long bytes, pixels;
    int count;
} Totals;

// Samples are produced CHUNK at a time on OpenMP's threads and written in order, so the files
// and shards are the same whatever the thread count.
static int sink_split(const Sink *s, const char *split_name, int split, int count, ProduceFn produce,
                      void *ctx, Totals *totals)
{
    enum { CHUNK = 64 };
    char path[4096];
    if (s->out) {
        snprintf(path, sizeof path, "%s/%s", s->out, split_name);
        if (images_make_dir(s->out) || images_make_dir(path)) return -1;
    }
    if (s->shards && images_make_dir(s->shards)) return -1;
    ShardState st = {NULL, -1};
    int rc = 0;
    for (int start = 0; start < count && !rc; start += CHUNK) {
        int n = count - start < CHUNK ? count - start : CHUNK;
        Encoded enc[CHUNK];
        int failed[CHUNK] = {0};
#pragma omp parallel for schedule(dynamic)
        for (int j = 0; j < n; j++) failed[j] = produce(ctx, split, start + j, &enc[j]);
        for (int j = 0; j < n; j++) {
            if (failed[j]) {
                rc = -1;
                continue;
            }
            if (!rc) {
                rc = sink_put(s, &st, split_name, start + j, &enc[j]);
                totals->bytes += (long long)enc[j].size;
                totals->pixels += (long long)enc[j].width * enc[j].height;
                totals->count++;
            }
            free(enc[j].data);
        }
    }
    if (tar_shard_close(&st)) rc = -1;
    return rc;
}

// ---- jpegs -------------------------------------------------------------------------------

// ImageNet-like sizes (ILSVRC photos are mostly 500 pixels on the longer side, 4:3 most of
// all): weights out of their sum.
static const struct {
    int w, h, weight;
} MIXED_SIZES[] = {{500, 375, 34}, {375, 500, 8}, {500, 333, 12}, {333, 500, 5}, {500, 500, 6},
                   {640, 480, 7},  {480, 640, 3}, {800, 600, 3},  {640, 360, 4}, {800, 450, 3},
                   {300, 300, 3},  {400, 300, 4}, {300, 400, 2},  {600, 600, 2}, {720, 540, 2},
                   {450, 800, 1}};

typedef struct {
    uint64_t seed;
    int classes, width, height, quality; // width 0: mixed sizes
    float detail;
} JpegJob;

static int produce_jpeg(void *ctx, int split, int index, Encoded *e)
{
    const JpegJob *job = ctx;
    uint64_t state = mk_mix(mk_mix(job->seed * 2 + (uint64_t)split) + (uint64_t)index);
    int w = job->width, h = job->height;
    if (!w) {
        int total = 0, n = (int)(sizeof MIXED_SIZES / sizeof MIXED_SIZES[0]);
        for (int k = 0; k < n; k++) total += MIXED_SIZES[k].weight;
        int pick = mk_below(&state, total), k = 0;
        while (pick >= MIXED_SIZES[k].weight) pick -= MIXED_SIZES[k++].weight;
        w = MIXED_SIZES[k].w, h = MIXED_SIZES[k].h;
    }
    float *img = malloc(sizeof(float) * 3 * (size_t)w * h);
    unsigned char *rgb = malloc(3 * (size_t)w * h);
    if (!img || !rgb) {
        free(img);
        free(rgb);
        return -1;
    }
    e->cls = index % job->classes;
    e->width = w, e->height = h;
    paint_photo(img, w, h, &state, e->cls, job->detail);
    for (size_t i = 0; i < 3 * (size_t)w * h; i++) {
        float v = img[i] + 0.5f;
        rgb[i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    encode_jpeg_mem(rgb, w, h, job->quality, e);
    free(img);
    free(rgb);
    return e->data ? 0 : -1;
}

// ---- export-idx --------------------------------------------------------------------------

typedef struct {
    unsigned char *pixels[2], *labels[2];
    int count[2], rows, cols;
} IdxSet;

static unsigned char *idx_read(const char *dir, const char *name, int want_dims, int *dims, char *err,
                               size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof path, "%s/%s", dir, name); // gzread reads a raw file as is
        f = gzopen(path, "rb");
    }
    if (!f) {
        snprintf(err, errlen, "%s/%s[.gz]: cannot open", dir, name);
        return NULL;
    }
    unsigned char head[16];
    int head_len = 4 + 4 * want_dims;
    if (gzread(f, head, (unsigned)head_len) != head_len || head[0] || head[1] || head[2] != 8 ||
        head[3] != want_dims) {
        snprintf(err, errlen, "%s: not an IDX file of %d dimensions", path, want_dims);
        gzclose(f);
        return NULL;
    }
    size_t total = 1;
    for (int d = 0; d < want_dims; d++) {
        const unsigned char *p = head + 4 + 4 * d;
        dims[d] = (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (dims[d] <= 0 || dims[d] > 10000000) {
            snprintf(err, errlen, "%s: bad dimension %d", path, dims[d]);
            gzclose(f);
            return NULL;
        }
        total *= (size_t)dims[d];
    }
    unsigned char *data = total < ((size_t)1 << 32) ? malloc(total) : NULL;
    if (!data || gzread(f, data, (unsigned)total) != (int)total) {
        snprintf(err, errlen, "%s: %s", path, data ? "truncated" : "too large");
        free(data);
        data = NULL;
    }
    gzclose(f);
    return data;
}

static int produce_idx_png(void *ctx, int split, int index, Encoded *e)
{
    const IdxSet *set = ctx;
    e->cls = set->labels[split][index];
    e->width = set->cols, e->height = set->rows;
    return encode_png_gray(set->pixels[split] + (size_t)index * set->rows * set->cols, set->cols,
                           set->rows, e);
}

// ---- command line ------------------------------------------------------------------------

typedef struct {
    const char *out, *shards, *idx, *size;
    int per_shard, train, test, classes, quality, threads;
    double detail;
    long long seed;
} Options;

static int parse_options(int argc, char **argv, Options *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "make_images: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--shards")) o->shards = v;
        else if (!strcmp(a, "--idx")) o->idx = v;
        else if (!strcmp(a, "--size")) o->size = v;
        else if (!strcmp(a, "--per-shard")) o->per_shard = atoi(v);
        else if (!strcmp(a, "--train")) o->train = atoi(v);
        else if (!strcmp(a, "--test")) o->test = atoi(v);
        else if (!strcmp(a, "--classes")) o->classes = atoi(v);
        else if (!strcmp(a, "--quality")) o->quality = atoi(v);
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--seed")) o->seed = atoll(v);
        else if (!strcmp(a, "--detail")) o->detail = atof(v);
        else {
            fprintf(stderr, "make_images: unknown option %s\n", a);
            return -1;
        }
    }
    if (!o->out && !o->shards) {
        fprintf(stderr, "make_images: give --out DIR (class folders), --shards DIR, or both\n");
        return -1;
    }
    if (o->per_shard < 1 || o->train < -1 || o->test < -1 || o->classes < 1 || o->classes > 100000 ||
        o->quality < 1 || o->quality > 100 || !(o->detail >= 0 && o->detail <= 10)) {
        fprintf(stderr, "make_images: --per-shard, --classes and --quality (1-100) must be positive, "
                        "--detail within 0-10\n");
        return -1;
    }
    if (o->threads > 0) omp_set_num_threads(o->threads);
    return 0;
}

static void print_totals(const char *mode, const Options *o, const Totals *t, int classes)
{
    printf("{\"tool\": \"make_images\", \"mode\": \"%s\", \"out\": %s%s%s, \"shards\": %s%s%s, "
           "\"images\": %d, \"classes\": %d, \"mean_bytes\": %.0f, \"bits_per_pixel\": %.3f, "
           "\"mean_pixels\": %.0f}\n",
           mode, o->out ? "\"" : "", o->out ? o->out : "null", o->out ? "\"" : "",
           o->shards ? "\"" : "", o->shards ? o->shards : "null", o->shards ? "\"" : "", t->count, classes,
           t->count ? (double)t->bytes / t->count : 0, t->pixels ? 8.0 * t->bytes / t->pixels : 0,
           t->count ? (double)t->pixels / t->count : 0);
}

static int jpegs_main(int argc, char **argv)
{
    Options o = {.per_shard = 1000, .train = 1000, .test = 100, .classes = 10, .quality = 90,
                 .size = "500x375", .detail = 1};
    if (parse_options(argc, argv, &o)) return 2;
    JpegJob job = {(uint64_t)o.seed, o.classes, 0, 0, o.quality, (float)o.detail};
    if (strcmp(o.size, "mixed") &&
        (sscanf(o.size, "%dx%d", &job.width, &job.height) != 2 || job.width < 16 || job.height < 16 ||
         job.width > 8192 || job.height > 8192)) {
        fprintf(stderr, "make_images: --size is WxH (16-8192 each) or mixed, not %s\n", o.size);
        return 2;
    }
    int digits = 1;
    for (int k = o.classes - 1; k >= 10; k /= 10) digits++;
    Sink s = {o.out, o.shards, o.per_shard, "jpg", digits, 7};
    Totals t = {0};
    if (atlas_build() || sink_split(&s, "train", 0, o.train, produce_jpeg, &job, &t) ||
        sink_split(&s, "test", 1, o.test, produce_jpeg, &job, &t))
        return 1;
    print_totals("jpegs", &o, &t, o.classes);
    return 0;
}

static int export_idx_main(int argc, char **argv)
{
    Options o = {.per_shard = 1000, .train = -1, .test = -1, .classes = 1, .quality = 90, .detail = 1};
    if (parse_options(argc, argv, &o)) return 2;
    if (!o.idx) {
        fprintf(stderr, "make_images: export-idx needs --idx DIR\n");
        return 2;
    }
    static const char *files[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                                      {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    IdxSet set = {0};
    char err[4600];
    int limit[2] = {o.train, o.test}, classes = 0;
    for (int split = 0; split < 2; split++) {
        int idims[3], ldims[1];
        set.pixels[split] = idx_read(o.idx, files[split][0], 3, idims, err, sizeof err);
        set.labels[split] = set.pixels[split] ? idx_read(o.idx, files[split][1], 1, ldims, err, sizeof err) : NULL;
        if (!set.labels[split]) {
            fprintf(stderr, "make_images: %s\n", err);
            return 1;
        }
        if (ldims[0] != idims[0] || (split && (idims[1] != set.rows || idims[2] != set.cols))) {
            fprintf(stderr, "make_images: %s: the images and labels do not match\n", o.idx);
            return 1;
        }
        set.rows = idims[1], set.cols = idims[2];
        set.count[split] = limit[split] >= 0 && limit[split] < idims[0] ? limit[split] : idims[0];
        for (int i = 0; i < idims[0]; i++)
            if (set.labels[split][i] + 1 > classes) classes = set.labels[split][i] + 1;
    }
    Sink s = {o.out, o.shards, o.per_shard, "png", 0, 5};
    Totals t = {0};
    int rc = sink_split(&s, "train", 0, set.count[0], produce_idx_png, &set, &t) ||
             sink_split(&s, "test", 1, set.count[1], produce_idx_png, &set, &t);
    if (!rc) print_totals("export-idx", &o, &t, classes);
    for (int split = 0; split < 2; split++) free(set.pixels[split]), free(set.labels[split]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "jpegs")) return jpegs_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "export-idx")) return export_idx_main(argc, argv);
    return bench_set_main(argc, argv);
}
