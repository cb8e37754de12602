// The PNG and JPEG harnesses' common part: decode a file into 1 channel and, if that worked,
// into 3, check and read the pixels, and fit each to a 16-pixel square.
#ifndef SIMMIM_FUZZ_IMAGE_H
#define SIMMIM_FUZZ_IMAGE_H

#include "data/image.h"
#include "fuzz.h"

// Inputs whose header declares more pixels than this, but no more than the decoders accept,
// are not decoded: a few hundred bytes can declare a 37-Mpixel JPEG that takes seconds to
// decode, and a fuzzer stuck on those finds nothing else (the limits' own refusals, larger
// sizes, are still fuzzed).
enum { FUZZ_MAX_DECODE_PIXELS = 1 << 20 };

static inline uint32_t fuzz_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t fuzz_be32(const uint8_t *p) { return fuzz_be16(p) << 16 | fuzz_be16(p + 2); }

// Whether width × height is above FUZZ_MAX_DECODE_PIXELS but within the decoders' limits.
static inline int fuzz_large_but_allowed(uint64_t width, uint64_t height)
{
    return width * height > FUZZ_MAX_DECODE_PIXELS && width <= IMAGE_MAX_SIDE &&
           height <= IMAGE_MAX_SIDE && width * height <= IMAGE_MAX_PIXELS;
}

// A PNG's IHDR is its first chunk.
static inline int fuzz_png_too_slow(const uint8_t *d, size_t n)
{
    return n >= 24 && memcmp(d + 12, "IHDR", 4) == 0 &&
           fuzz_large_but_allowed(fuzz_be32(d + 16), fuzz_be32(d + 20));
}

// A JPEG's size is in its first SOFn segment, before the first scan (bytes between segments
// are skipped, as libjpeg does).
static inline int fuzz_jpeg_too_slow(const uint8_t *d, size_t n)
{
    size_t i = 2;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 0;
    while (i + 4 <= n) {
        unsigned marker = d[i + 1];
        if (d[i] != 0xFF || marker == 0xFF) {
            i++;
            continue;
        }
        if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
            marker != 0xCC)
            return i + 9 <= n && fuzz_large_but_allowed(fuzz_be16(d + i + 7), fuzz_be16(d + i + 5));
        if (marker == 0xDA || marker == 0xD9) return 0;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) i += 2;
        else i += 2 + fuzz_be16(d + i + 2);
    }
    return 0;
}

static inline void fuzz_decode_image(const char *path)
{
    enum { FIT = 16 };
    static uint8_t fitted[3 * FIT * FIT];
    for (int channels = 1; channels <= 3; channels += 2) {
        Image img;
        char err[512] = "";
        if (image_decode_file(path, channels, &img, err, sizeof err)) {
            fuzz_note("refused: %s", err);
            FUZZ_CHECK(err[0] && !img.pixels, "a failed decode left pixels or no message");
            return;
        }
        FUZZ_CHECK(img.width >= 1 && img.height >= 1 && img.width <= IMAGE_MAX_SIDE &&
                       img.height <= IMAGE_MAX_SIDE && img.channels == channels && img.pixels,
                   "decoded %d×%d×%d", img.width, img.height, img.channels);
        fuzz_note("accepted: %d×%d, %d channels", img.width, img.height, channels);
        fuzz_touch_bytes(img.pixels, (size_t)img.width * (size_t)img.height * (size_t)channels);
        // Fitting is the loaders' next step; large images would only measure the resizer.
        if ((size_t)img.width * (size_t)img.height <= 1 << 16)
            FUZZ_CHECK(image_fit(&img, FIT, fitted) == 0, "image_fit failed");
        image_free(&img);
    }
}

#endif
