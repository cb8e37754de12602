// PNG decoding (core/data/image_decode.c, image_decode_file) on any bytes written to a .png
// file: gray and RGB output; a decoded image's pixels are read through, and fitted to a
// small square (image_resize.c) as the loaders do. Images of more than a megapixel that the
// decoder would accept are skipped (fuzz_image.h).
#include "data/image.h"
#include "fuzz.h"
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_png_too_slow(data, size)) return 0;
    fuzz_decode_image(fuzz_write_file("in.png", data, size));
    return 0;
}
