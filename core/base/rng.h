// A seeded random number generator owned by its caller (xoshiro256**, seeded through
// splitmix64), so that every random decision of a run is reproducible bit for bit and its
// state can be saved in a checkpoint.
#ifndef SIMMIM_RNG_H
#define SIMMIM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *rng, uint64_t seed);
// A seed for one independent stream of draws, e.g. (run seed, STREAM_MASK, step): random
// decisions keyed by what they are for, so any step can be replayed without saved state.
uint64_t rng_stream_seed(uint64_t seed, uint64_t stream, uint64_t index);

// Every stream of a run, in one list so that no two purposes share draws.
enum {
    RNG_STREAM_ORDER = 1,     // index: epoch — the data order
    RNG_STREAM_MASK = 2,      // index: step — SimMIM masks
    RNG_STREAM_DROP = 3,      // index: step — drop-path decisions
    RNG_STREAM_EVAL_MASK = 4, // index: evaluation batch — fixed validation masks
    RNG_STREAM_AUGMENT = 5,   // index: step, then the image's slot — crops and flips
    RNG_STREAM_PALETTE = 6,   // index: the palette's size — its k-means sample and start
    RNG_STREAM_SHARDS = 7,    // index: epoch — the shards' order and their shuffle buffer
    RNG_STREAM_KNN_BANK = 8,  // index: 0 — the k-NN probe's bank of training images
};
uint64_t rng_next(Rng *rng);
double rng_uniform(Rng *rng);                   // [0, 1)
double rng_normal(Rng *rng);                    // mean 0, std 1
uint32_t rng_below(Rng *rng, uint32_t bound);   // uniform in [0, bound), bound > 0
void rng_permutation(Rng *rng, int *out, int n); // a uniformly random permutation of 0..n-1

#endif
