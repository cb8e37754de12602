// Pieces shared by the dataset loaders behind dataset_load (data.c): the IDX loader (idx.c),
// the image-folder loader (imagefolder.c), the confinement to the data roots (roots.c), the
// cache allocation with its limits, and exact integer pixel statistics. Internal to data/.
#ifndef SIMMIM_DATA_LOAD_H
#define SIMMIM_DATA_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

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

// The statistics of `count` image sizes packed as width << 16 | height (sorted in place);
// all zero when count is 0.
ImageSizes image_sizes_of(uint32_t *packed, int count);

// A load's confinement: data.h's DataRoots, resolved (see there for the rules).
typedef struct {
    int active;              // 0: nothing is confined
    char **real;             // the realpaths of the roots that resolve
    int count;
    const DataRoots *roots;  // as given, for messages and warn
    Dataset *ds;             // counts the skips
} Confine;

typedef enum { CONFINE_INSIDE, CONFINE_OUTSIDE, CONFINE_MISSING } ConfineWhere;

// Resolves roots (NULL or none: nothing confined) for a load into ds; reports a root that
// does not resolve. -1 with a message if out of memory.
int confine_begin(Confine *c, const DataRoots *roots, Dataset *ds, char *err, size_t errlen);
void confine_end(Confine *c);
// Where path leads: inside a root (always, when nothing is confined), outside every root, or
// nowhere (it does not resolve; errno says why). *mode: the st_mode of what it leads to, 0
// when that cannot be read.
ConfineWhere confine_lookup(const Confine *c, const char *path, mode_t *mode);
// The same with all of stat(2)'s answer for what path leads to (zeroed when it cannot be read).
ConfineWhere confine_stat(const Confine *c, const char *path, struct stat *st);
// 0 if path is a folder inside the roots; -1 with a message otherwise (outside: as
// confine_refuse; missing or not a folder: "cannot open folder").
int confine_check_folder(const Confine *c, const char *path, char *err, size_t errlen);
// Counts path, a `what` ("class folder", "image") skipped because `why`, and reports it.
void confine_skip(const Confine *c, const char *path, const char *what, const char *why);
// The message for a required path that resolves outside the roots; returns -1.
int confine_refuse(const Confine *c, const char *path, char *err, size_t errlen);
// Opens path (flags as open(2)'s; O_CLOEXEC is added) and, when confining, checks that what
// was opened lies inside a root. -1 otherwise, with *outside = 1 if it lay outside (the
// descriptor is then closed) or 0 with errno set.
int confine_open(const Confine *c, const char *path, int flags, int *outside);

// A sample list's data roots (stream.h): a copy of the roots as given (for messages; no
// warning callback) and their resolution, kept from the listing for the reads.
struct SampleRoots {
    DataRoots given;
    Confine confine; // .roots = &given, .ds = NULL
};
void sample_roots_free(struct SampleRoots *r);

// The loaders; on error they may leave partial allocations in *ds for dataset_free.
// map: the images of uncompressed files mapped rather than read (dataset_map_idx).
int idx_load(const char *dir, int img_size, int map, Dataset *ds, const Confine *c, char *err,
             size_t errlen);
int imagefolder_load(const char *path, int img_size, Dataset *ds, const Confine *c, char *err,
                     size_t errlen);

#endif
