// The PNG and JPEG harnesses' common part: decode a file into 1 channel and, if that worked,
// into 3, check and read the pixels, and fit each to a 16-pixel square.
#ifndef SIMMIM_FUZZ_IMAGE_H
#define SIMMIM_FUZZ_IMAGE_H

#include "data/image.h"
#include "fuzz.h"

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
