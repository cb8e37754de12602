// Reconstruction previews: a PNG grid with one row per image and four columns — original,
// masked input, prediction, prediction pasted into the visible pixels — denormalized and
// upscaled nearest-neighbour to at least 96 pixels per cell.
#ifndef SIMMIM_PREVIEW_H
#define SIMMIM_PREVIEW_H

#include <stddef.h>

// images, pred [B, C, S, S] normalized with mean/std; token_mask [B, (S/p)²] in {0,1}.
// Writes the PNG atomically. -1 with a message on error.
int preview_write_png(const char *path, const float *images, const float *pred,
                      const float *token_mask, int B, int C, int S, int patch,
                      const double *mean, const double *std, char *err, size_t errlen);

// A grid of up to `count` images [count, C, S, S] normalized with mean/std, `cols` per
// row, upscaled to ≥ 96 px per cell (a dataset's sample.png).
int preview_write_samples_png(const char *path, const float *images, int count, int C, int S,
                              int cols, const double *mean, const double *std, char *err,
                              size_t errlen);

#endif
