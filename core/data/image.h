// Single images for the dataset loaders: PNG and JPEG decoding into 8-bit planar pixels of a
// requested channel count, and the one routine that brings any image to the cache's square
// size (shorter side resized with an antialiased bilinear filter, centre crop, zero padding).
// Internal to data/ (used by the IDX and image-folder loaders).
#ifndef SIMMIM_IMAGE_H
#define SIMMIM_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Decoders refuse larger images before allocating anything for their pixels.
enum { IMAGE_MAX_SIDE = 16384, IMAGE_MAX_PIXELS = 64 << 20 };

// Transparent pixels are composited over white: in training, previews and dataset samples
// alike, an image looks as it does on a white page.
enum { IMAGE_BACKGROUND = 255 };

typedef struct {
    int width, height, channels;
    uint8_t *pixels; // planar: [channels][height][width]
} Image;

// 1 if the file name ends in .png, .jpg or .jpeg (any case).
int image_has_extension(const char *name);

// Decodes a PNG or JPEG file (chosen by extension) into `channels` (1 or 3) planar channels:
// gray → RGB by replication, RGB → gray by ITU-R 601 luma, alpha composited over
// IMAGE_BACKGROUND, 16-bit scaled to 8.
// -1 with a message naming the file on any problem; *img is then empty.
int image_decode_file(const char *path, int channels, Image *img, char *err, size_t errlen);
// The same from a stream already open (and left open) on the file named path.
int image_decode_stream(FILE *file, const char *path, int channels, Image *img, char *err,
                        size_t errlen);
void image_free(Image *img);

// ---- decoding from memory, in part and scaled (the streamed path) ----

// A growable buffer (zero-initialized: empty).
typedef struct {
    uint8_t *data;
    size_t cap;
} ImageBuffer;
// Makes room for n bytes (contents not kept); -1 if out of memory.
int image_buffer_reserve(ImageBuffer *b, size_t n);
void image_buffer_free(ImageBuffer *b);

// What to decode, chosen once the image's size is known.
typedef struct {
    int whole;      // 1: every pixel at full size (box and scale_num ignored)
    int scale_num;  // JPEG: decode at scale_num/8 (1 to 8); PNG: ignored (always 8/8)
    double box[4];  // the part wanted: x0, y0, x1, y1 in pixels of the image as encoded
} ImagePlan;
typedef void (*ImagePlanFn)(void *ctx, int width, int height, ImagePlan *plan);

// Working memory of image_decode_memory, reused across images by one thread at a time
// (zero-initialized: empty).
typedef struct {
    ImageBuffer interleaved, planar, rows;
    struct ImageJpeg *jpeg; // room for libjpeg's state (each image gets its own decompressor)
} ImageDecoder;
void image_decoder_free(ImageDecoder *dec);
// Frees the buffers that grew beyond keep bytes.
void image_decoder_trim(ImageDecoder *dec, size_t keep);

typedef struct {
    int width, height;                // the image as encoded
    int scale_num;                    // of 8: the scale decoded at
    int scaled_width, scaled_height;  // the image at that scale
    int x, y;                         // the decoded region's origin in the scaled image
    Image region;                     // its planar pixels, in dec's buffers (until dec's next
                                      // decode; not to be freed)
} ImageRegion;

// Decodes the PNG or JPEG (told by its signature) in bytes[0..len) into `channels` planar
// channels as image_decode_file does (the same pixels for the whole image). plan (called once
// the size is known and checked) chooses the part and, for a JPEG, the DCT scale: the region
// decoded covers the box's pixels at that scale — ⌊x0·s⌋ to ⌈x1·s⌉ with s = scale_num/8,
// widened to whole iMCUs left and right — and no row below it is read; a PNG is decoded
// whole. -1 with a message naming `name` on any problem.
int image_decode_memory(ImageDecoder *dec, const uint8_t *bytes, size_t len, const char *name,
                        int channels, ImagePlanFn plan, void *ctx, ImageRegion *out, char *err,
                        size_t errlen);

// Converts interleaved pixels of src_channels (1 or 3) per pixel into planar `channels`
// (1 or 3) — the one channel conversion shared by every decoder.
void image_convert_channels(const uint8_t *src, int src_channels, int width, int height,
                            int channels, uint8_t *dst);

// The filter tables and row buffer of a resize, kept by a caller that resizes many images
// (zero-initialized: empty; grown as needed).
typedef struct {
    int taps, lo, hi;       // weights per output sample; the source samples read: [lo, hi)
    int *first, *count;     // per output sample: first source index and number of taps
    float *weights;         // [size][taps]
    size_t cap_first, cap_count, cap_weights;
} ResizeAxis;
typedef struct {
    ResizeAxis axis[2]; // x, y
    float *row, *tmp, *tmp_t;
    uint8_t *out_t;
    size_t cap_row, cap_tmp, cap_tmp_t, cap_out_t;
} ResizeScratch;
void resize_scratch_free(ResizeScratch *s);

// Writes img as channels × size × size pixels to dst: if the shorter side is longer than
// size, the image is first resized so that it equals size (the longer side scaled by the same
// factor, truncated) with a triangle filter whose support widens by the shrink factor (PIL's
// antialiased BILINEAR); then each axis is centre-cropped or zero-padded to size (offset
// |length − size| / 2, rounded down). An image already at size is copied exactly.
// -1 only if scratch memory cannot be allocated.
int image_fit(const Image *img, int size, uint8_t *dst);
// The same with the caller's scratch (bit for bit the same pixels).
int image_fit_scratch(const Image *img, int size, uint8_t *dst, ResizeScratch *s);

// Resizes the box [box[0], box[2]) × [box[1], box[3]) of img (source pixel coordinates, any
// fractions) to size × size with image_fit's filter, reading only source pixels in
// [limits[0], limits[2]) × [limits[1], limits[3]) (as if the image had been cropped to them
// first); mirrored left-right if flip. -1 only if scratch memory cannot be allocated. The
// same filter as image_fit's, summed in another order: a value may differ by a rounding.
int image_resize_box(const Image *img, const double box[4], const int limits[4], int size,
                     int flip, uint8_t *dst, ResizeScratch *s);

#endif
