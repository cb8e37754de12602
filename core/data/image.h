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

// Converts interleaved pixels of src_channels (1 or 3) per pixel into planar `channels`
// (1 or 3) — the one channel conversion shared by every decoder.
void image_convert_channels(const uint8_t *src, int src_channels, int width, int height,
                            int channels, uint8_t *dst);

// Writes img as channels × size × size pixels to dst: if the shorter side is longer than
// size, the image is first resized so that it equals size (the longer side scaled by the same
// factor, truncated) with a triangle filter whose support widens by the shrink factor (PIL's
// antialiased BILINEAR); then each axis is centre-cropped or zero-padded to size (offset
// |length − size| / 2, rounded down). An image already at size is copied exactly.
// -1 only if scratch memory cannot be allocated.
int image_fit(const Image *img, int size, uint8_t *dst);

#endif
