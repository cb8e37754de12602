// Pieces shared by the dataset loaders behind dataset_load (data.c): the IDX loader (idx.c),
// the image-folder loader (imagefolder.c), the cache allocation with its limits, and exact
// integer pixel statistics. Internal to data/.
#ifndef SIMMIM_DATA_LOAD_H
#define SIMMIM_DATA_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "data/data.h"

// Hostile-input limits: images per split, and bytes of one split's cache.
enum { DATA_MAX_IMAGES = 10000000 };
#define DATA_MAX_CACHE_BYTES ((size_t)16 << 30)

// Per-channel sums of pixel values and their squares (integers, so the result does not
// depend on the order in which threads add images).
typedef struct {
    int channels;
    uint64_t pixels; // per channel
    uint64_t sum[DATA_MAX_CHANS], sumsq[DATA_MAX_CHANS];
} PixelSums;

// Adds `pixels` pixels of each of s->channels planes laid out `plane` bytes apart.
void pixel_sums_add(PixelSums *s, const uint8_t *planar, size_t plane, size_t pixels);
void pixel_sums_merge(PixelSums *into, const PixelSums *from);
// Sets ds->mean and ds->std (of pixel / 255) for ds->channels channels; sums of one channel
// serve every channel (a gray image replicated to RGB has the gray's statistics). -1 with a
// message naming `what` if a channel is constant: it could not be normalized.
int pixel_sums_finish(const PixelSums *s, Dataset *ds, const char *what, char *err,
                      size_t errlen);

// Allocates `count` images of channels × size × size and their labels, within the limits;
// -1 with a message naming `what` otherwise.
int imageset_alloc(ImageSet *set, int count, int channels, int size, const char *what,
                   char *err, size_t errlen);
void imageset_free(ImageSet *set);

// The loaders; on error they may leave partial allocations in *ds for dataset_free.
int idx_load(const char *dir, int img_size, Dataset *ds, char *err, size_t errlen);
int imagefolder_load(const char *path, int img_size, Dataset *ds, char *err, size_t errlen);

#endif
