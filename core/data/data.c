// Dataset entry points (see data.h): argument checks, the data roots, and dispatch to the IDX
// and image-folder loaders, freeing, the few-labels subset, and the cache and statistics
// helpers the loaders share (data_load.h).
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "data/data_load.h"

enum { MAX_IMG_SIZE = 4096 };

int dataset_pad_for(DataFormat format, int stored_side, int img_size, int *pad, char *err,
                    size_t errlen)
{
    *pad = 0;
    if (format != DATA_FORMAT_IDX || stored_side > img_size) return 0;
    if ((img_size - stored_side) % 2 != 0) {
        snprintf(err, errlen, "%d×%d images cannot be padded evenly to %d×%d", stored_side,
                 stored_side, img_size, img_size);
        return -1;
    }
    *pad = (img_size - stored_side) / 2;
    return 0;
}

void pixel_sums_add(PixelSums *s, const uint8_t *planar, size_t plane, size_t pixels)
{
    for (int c = 0; c < s->channels; c++) {
        const uint8_t *p = planar + (size_t)c * plane;
        uint64_t sum = 0, sumsq = 0;
        for (size_t i = 0; i < pixels; i++) sum += p[i], sumsq += (uint64_t)p[i] * p[i];
        s->sum[c] += sum, s->sumsq[c] += sumsq;
    }
    s->pixels += pixels;
}

void pixel_sums_merge(PixelSums *into, const PixelSums *from)
{
    for (int c = 0; c < into->channels; c++)
        into->sum[c] += from->sum[c], into->sumsq[c] += from->sumsq[c];
    into->pixels += from->pixels;
}

int pixel_sums_finish(const PixelSums *s, Dataset *ds, const char *what, char *err,
                      size_t errlen)
{
    for (int c = 0; c < ds->channels; c++) {
        int k = s->channels == 1 ? 0 : c;
        double n = (double)s->pixels;
        double mean = (double)s->sum[k] / n, var = (double)s->sumsq[k] / n - mean * mean;
        ds->mean[c] = mean / 255.0;
        ds->std[c] = sqrt(var > 0.0 ? var : 0.0) / 255.0;
        if (!(ds->std[c] > 0.0)) {
            snprintf(err, errlen, "%s: channel %d of the training images is constant (std 0), "
                     "so it cannot be normalized", what, c);
            return -1;
        }
    }
    return 0;
}

int imageset_alloc(ImageSet *set, int count, int channels, int size, const char *what,
                   char *err, size_t errlen)
{
    size_t image = (size_t)channels * (size_t)size * (size_t)size;
    if (count < 1 || count > DATA_MAX_IMAGES || image > DATA_MAX_CACHE_BYTES / (size_t)count) {
        snprintf(err, errlen, "%s: %d images of %d×%d×%d pixels are outside the limits (at most "
                 "%d images, %zu GiB)", what, count, channels, size, size, DATA_MAX_IMAGES,
                 DATA_MAX_CACHE_BYTES >> 30);
        return -1;
    }
    *set = (ImageSet){.count = count, .channels = channels, .size = size,
                      .pixels = malloc(image * (size_t)count),
                      .labels = malloc((size_t)count * sizeof *set->labels)};
    if (!set->pixels || !set->labels) {
        snprintf(err, errlen, "%s: out of memory for %d images", what, count);
        return -1;
    }
    return 0;
}

void imageset_free(ImageSet *set)
{
    if (set->mapping) munmap(set->mapping, set->mapping_len);
    else free(set->pixels);
    free(set->labels);
    memset(set, 0, sizeof *set);
}

void dataset_free(Dataset *ds)
{
    imageset_free(&ds->train);
    imageset_free(&ds->test);
    for (int i = 0; ds->class_names && i < ds->num_classes; i++) free(ds->class_names[i]);
    free(ds->class_names);
    memset(ds, 0, sizeof *ds);
}

static int load_confined(DataFormat format, const char *path, int img_size, int map,
                         Dataset *ds, const Confine *c, char *err, size_t errlen)
{
    if (confine_check_folder(c, path, err, errlen)) return -1;
    return format == DATA_FORMAT_IDX ? idx_load(path, img_size, map, ds, c, err, errlen)
                                     : imagefolder_load(path, img_size, ds, c, err, errlen);
}

static int load(DataFormat format, const char *path, int img_size, int channels, int map,
                const DataRoots *roots, Dataset *ds, char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    if (format != DATA_FORMAT_IDX && format != DATA_FORMAT_IMAGEFOLDER) {
        snprintf(err, errlen, "%s: only IDX and image folders are loaded into memory (shards "
                 "are read by data/shards.h)", path);
        return -1;
    }
    if (channels != 1 && channels != 3) {
        snprintf(err, errlen, "%s: channels must be 1 or 3 (got %d)", path, channels);
        return -1;
    }
    if (img_size < 1 || img_size > MAX_IMG_SIZE) {
        snprintf(err, errlen, "%s: image size must be 1 to %d (got %d)", path, MAX_IMG_SIZE,
                 img_size);
        return -1;
    }
    ds->format = format;
    ds->channels = channels;
    Confine c;
    int rc = confine_begin(&c, roots, ds, err, errlen);
    if (rc == 0) rc = load_confined(format, path, img_size, map, ds, &c, err, errlen);
    confine_end(&c);
    if (rc) dataset_free(ds);
    return rc;
}

int dataset_load(DataFormat format, const char *path, int img_size, int channels,
                 const DataRoots *roots, Dataset *ds, char *err, size_t errlen)
{
    return load(format, path, img_size, channels, 0, roots, ds, err, errlen);
}

int dataset_map_idx(const char *dir, int img_size, const DataRoots *roots, Dataset *ds,
                    char *err, size_t errlen)
{
    return load(DATA_FORMAT_IDX, dir, img_size, 1, 1, roots, ds, err, errlen);
}

int labels_keep_per_class(const int *labels, int count, int num_classes,
                          char *const *class_names, int k, uint8_t *keep, char *err,
                          size_t errlen)
{
    if (num_classes < 1) {
        snprintf(err, errlen, "the training split is unlabelled: it has no classes to limit");
        return -1;
    }
    if (k < 1) {
        snprintf(err, errlen, "images per class must be at least 1 (got %d)", k);
        return -1;
    }
    int *counts = calloc((size_t)num_classes, sizeof *counts);
    if (!counts) {
        snprintf(err, errlen, "out of memory counting %d classes", num_classes);
        return -1;
    }
    for (int i = 0; i < count; i++) counts[labels[i]]++;
    int rc = 0;
    for (int c = 0; c < num_classes && rc == 0; c++)
        if (counts[c] < k) {
            char number[12];
            snprintf(number, sizeof number, "%d", c);
            snprintf(err, errlen, "class '%s' has %d training images, fewer than the %d asked for",
                     class_names ? class_names[c] : number, counts[c], k);
            rc = -1;
        }
    memset(counts, 0, sizeof *counts * (size_t)num_classes); // from here: images kept so far
    int kept = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        keep[i] = counts[labels[i]] < k;
        counts[labels[i]] += keep[i];
        kept += keep[i];
    }
    free(counts);
    return rc ? -1 : kept;
}

int dataset_limit_per_class(Dataset *ds, int k, char *err, size_t errlen)
{
    ImageSet *set = &ds->train;
    uint8_t *keep = malloc((size_t)set->count + 1);
    if (!keep) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = labels_keep_per_class(set->labels, set->count, ds->num_classes, ds->class_names, k,
                                   keep, err, errlen);
    // Compact in place: a kept image only ever moves towards the front.
    size_t image = (size_t)set->channels * (size_t)set->size * (size_t)set->size;
    int kept = 0;
    for (int i = 0; rc >= 0 && i < set->count; i++) {
        if (!keep[i]) continue;
        memmove(set->pixels + (size_t)kept * image, set->pixels + (size_t)i * image, image);
        set->labels[kept++] = set->labels[i];
    }
    if (rc >= 0) set->count = kept;
    free(keep);
    return rc < 0 ? -1 : 0;
}
