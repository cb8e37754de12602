// The k-means palette (data/palette.h). Pixels are sampled at the split's stored size, before
// any padding: the colours are those of the images, not of the borders a model adds.
#include "data/palette.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/nearest.h"
#include "base/rng.h"

static void sample_pixels(const ImageSet *split, float *samples, Rng *rng)
{
    int C = split->channels;
    size_t plane = (size_t)split->size * split->size;
    for (int i = 0; i < PALETTE_SAMPLES; i++) {
        size_t image = rng_below(rng, (uint32_t)split->count), at = rng_below(rng, (uint32_t)plane);
        const uint8_t *px = split->pixels + image * C * plane + at;
        for (int c = 0; c < C; c++) samples[i * C + c] = px[c * plane] / 255.0f;
    }
}

int palette_kmeans(const ImageSet *split, int K, uint64_t seed, float *palette)
{
    int C = split->channels;
    float *samples = malloc(sizeof(float) * PALETTE_SAMPLES * C);
    double *sums = malloc(sizeof(double) * K * (C + 1)); // per colour: C sums and a count
    int *order = malloc(sizeof(int) * PALETTE_SAMPLES);
    if (!samples || !sums || !order) {
        free(samples), free(sums), free(order);
        return -1;
    }
    Rng rng;
    rng_seed(&rng, rng_stream_seed(seed, RNG_STREAM_PALETTE, (uint64_t)K));
    sample_pixels(split, samples, &rng);
    rng_permutation(&rng, order, PALETTE_SAMPLES);
    for (int k = 0; k < K; k++)
        memcpy(palette + k * C, samples + (size_t)order[k % PALETTE_SAMPLES] * C, sizeof(float) * C);
    for (int round = 0; round < PALETTE_ITERATIONS; round++) {
        memset(sums, 0, sizeof(double) * K * (C + 1));
        for (int i = 0; i < PALETTE_SAMPLES; i++) {
            double *s = sums + (size_t)nearest_point(samples + i * C, palette, K, C) * (C + 1);
            for (int c = 0; c < C; c++) s[c] += samples[i * C + c];
            s[C] += 1.0;
        }
        for (int k = 0; k < K; k++) {
            const double *s = sums + (size_t)k * (C + 1);
            if (s[C] > 0)
                for (int c = 0; c < C; c++) palette[k * C + c] = (float)(s[c] / s[C]);
        }
    }
    free(samples), free(sums), free(order);
    return 0;
}
