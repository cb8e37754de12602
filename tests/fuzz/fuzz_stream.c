// Streamed decoding (core/data/stream.h, stream_decode) on any bytes, JPEG or PNG told by
// their signature: the evaluation view and training views (a crop of the original image,
// JPEG DCT scaling, rows and columns outside the crop skipped, flips), to 1 and 3 channels
// at two sizes, one scratch reused across them as a decode thread reuses its own. Checks: a
// failure leaves a message; every value written is finite; the evaluation view and a
// training view decoded whole (full_decode) agree on whether the image decodes. Images of
// more than a megapixel that the decoders would accept are skipped (fuzz_image.h).
#include <math.h>

#include "data/stream.h"
#include "fuzz.h"
#include "fuzz_image.h"

enum { MAX_S = 24 };

static int decode(const uint8_t *data, size_t size, StreamScratch *s, int channels, int S,
                  const AugmentConfig *aug, int slot, int full)
{
    static float out[3 * MAX_S * MAX_S];
    static const double mean[3] = {0.5, 0.4, 0.3}, std[3] = {0.25, 0.2, 0.3};
    StreamView view = {.channels = channels, .size = S, .mean = mean, .std = std, .aug = aug,
                       .seed = 7, .step = (long)size, .slot = slot, .full_decode = full};
    StreamDecodeInfo info;
    char err[512] = "";
    if (stream_decode(data, size, "fuzz-sample", &view, s, out, &info, err, sizeof err)) {
        fuzz_note("refused (%d channels, S %d, %s): %s", channels, S, aug ? "training" : "eval",
                  err);
        FUZZ_CHECK(err[0] != 0, "a failed decode left no message");
        return -1;
    }
    size_t n = (size_t)channels * (size_t)S * (size_t)S;
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(isfinite(out[i]), "value %zu is %g", i, out[i]);
    FUZZ_CHECK(info.width >= 1 && info.height >= 1 && info.width <= IMAGE_MAX_SIDE &&
                   info.height <= IMAGE_MAX_SIDE && info.scale_num >= 1 && info.scale_num <= 8 &&
                   info.decoded_width >= 1 && info.decoded_height >= 1,
               "decoded %d×%d at %d/8 (%d×%d)", info.width, info.height, info.scale_num,
               info.decoded_width, info.decoded_height);
    fuzz_note("accepted (%d channels, S %d, %s): %d×%d at %d/8, %d×%d decoded", channels, S,
              aug ? "training" : "eval", info.width, info.height, info.scale_num,
              info.decoded_width, info.decoded_height);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_jpeg_too_slow(data, size) || fuzz_png_too_slow(data, size)) return 0;
    static const AugmentConfig aug = {{0.08, 1.0}, {0.5, 2.0}, 1};
    StreamScratch *s = stream_scratch_new();
    FUZZ_CHECK(s != NULL, "stream_scratch_new");
    for (int channels = 1; channels <= 3; channels += 2) {
        int eval = decode(data, size, s, channels, 8, NULL, 0, 0);
        int whole = decode(data, size, s, channels, MAX_S, &aug, 1, 1);
        FUZZ_CHECK(eval == whole, "the evaluation view %s, a whole training view %s",
                   eval ? "failed" : "decoded", whole ? "failed" : "decoded");
        for (int slot = 0; slot < 3; slot++) decode(data, size, s, channels, 8, &aug, slot, 0);
        decode(data, size, s, channels, MAX_S, &aug, 3, 0);
        if (eval) break; // (the same bytes fail the same way for 3 channels)
    }
    stream_scratch_free(s);
    return 0;
}
