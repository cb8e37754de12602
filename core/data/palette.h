// A colour palette for SimMIM's palette target (docs/job-spec.md, loss.palette): K colours
// found by k-means on a sample of a split's pixels, in [0, 1] pixel space, as iGPT's colour
// clusters.
#ifndef SIMMIM_PALETTE_H
#define SIMMIM_PALETTE_H

#include <stdint.h>

#include "data/data.h"

enum { PALETTE_SAMPLES = 32768, PALETTE_ITERATIONS = 20 };

// palette [K, channels]: PALETTE_ITERATIONS rounds of Lloyd's k-means on PALETTE_SAMPLES
// pixels drawn uniformly (with replacement) from the split, started from K of them (a seeded
// shuffle); a colour left without pixels keeps its place. A function of (split, K, seed)
// alone. -1 when out of memory.
int palette_kmeans(const ImageSet *split, int K, uint64_t seed, float *palette);

#endif
