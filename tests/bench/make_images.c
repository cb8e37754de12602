// Writes a synthetic RGB image folder for the benchmark: DIR/{train,test}/class<k>/NNNN.{png,jpg},
// 256×256, alternating PNG and JPEG, with smooth colour fields and a shape per class, so that
// decoding, resizing and augmentation do real work. Usage: make_images DIR TRAIN TEST CLASSES
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h> // before jpeglib.h, which needs FILE and size_t
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: make_images DIR TRAIN TEST CLASSES\n");
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
