// The nearest of K points in C dimensions, shared by the palette's k-means (data/) and the
// palette target's classes (ops/), which must agree on every pixel: squared distance, ties
// to the lower index.
#ifndef SIMMIM_NEAREST_H
#define SIMMIM_NEAREST_H

#include <math.h>

// points [K, C]
static inline int nearest_point(const float *x, const float *points, int K, int C)
{
    int best = 0;
    float best_dist = INFINITY;
    for (int k = 0; k < K; k++) {
        float dist = 0.0f;
        for (int c = 0; c < C; c++) {
            float d = x[c] - points[k * C + c];
            dist += d * d;
        }
        if (dist < best_dist) best_dist = dist, best = k;
    }
    return best;
}

#endif
