// WebDataset-style tar shards: a directory of tar files (plain, or gzip-compressed), each a
// sequence of samples. A sample is the consecutive regular members sharing a KEY — a
// member's path up to the first dot of its base name, as WebDataset groups them — with
// KEY.jpg, KEY.jpeg or KEY.png (the image bytes, any case of the extension) and an optional
// KEY.cls (the class index as decimal text, surrounding white space allowed). Other members
// (KEY.json, KEY.txt, directories, links, names without a dot or starting with one) are
// skipped. Tar is read with libarchive, never by hand; every shard is hostile input.
//
// What this file gives the rest of the project:
//  - shards_glob_check: the rule for a glob (a file-name pattern inside the dataset's folder);
//  - shards_list: the shards a glob matches in a folder, sorted bytewise, confined to the data
//    roots like every other file of a dataset;
//  - shard_open / shard_next / shard_close: one shard's samples in order, into a buffer the
//    caller owns; problems of one sample are reported and the iteration goes on;
//  - shards_held_out: which training samples form the held-out split when no test glob is
//    given (a fixed 2%, decided by the key alone, so it needs no global index);
//  - shards_scan: the counts of a list of shards without decoding an image (registration).
#ifndef SIMMIM_SHARDS_H
#define SIMMIM_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "data/data.h"

enum {
    SHARDS_GLOB_MAX = 256,                // bytes of a glob, its NUL included
    SHARDS_MAX_FILES = 1000000,           // shards one glob may match (more: an error)
    SHARD_KEY_MAX = 1024,                 // bytes of a key, its NUL included (longer: bad sample)
    SHARD_MAX_IMAGE_BYTES = 64 << 20,     // an image member larger than this: bad sample
    SHARD_MAX_CLS_BYTES = 64,             // a .cls member larger than this: bad sample
    SHARDS_HELD_OUT_MODULUS = 50,         // 1 sample in 50 (2%) is held out, by its key's hash
    SHARDS_PROGRESS_EVERY = 1000,         // shards_scan reports progress every N samples
};

// A glob names shards inside the dataset's folder: 1 to SHARDS_GLOB_MAX − 1 bytes, no '/'
// (so no sub-folder and no ".."), no control characters, and not starting with '.'. It is
// matched by fnmatch(3) against file names (with FNM_PERIOD: a leading dot is never matched by
// a wildcard): "train-*.tar", "shard-0000[0-4].tar", "*.tar.gz". 0, or -1 with a message (no
// field name: the caller knows which field it checks).
int shards_glob_check(const char *glob, char *err, size_t errlen);

// The shards `glob` matches in `dir`: paths "dir/name", sorted bytewise by name. dir must be
// a folder that resolves inside the data roots (roots NULL: nothing is confined); a matching
// name that resolves outside every root is skipped, counted in `skipped` and reported to
// roots->warn as "<path>: shard skipped: it resolves outside the data roots"; names that are
// not regular files (folders, dangling links) are ignored. No match is an error naming the
// glob and the folder. -1 with a message on error (list then empty).
typedef struct {
    char **paths;
    double *bytes;   // each shard's size on disk
    int count;
    int skipped;
} ShardList;

int shards_list(const char *dir, const char *glob, const DataRoots *roots, ShardList *list,
                char *err, size_t errlen);
void shards_list_free(ShardList *list);

// One sample. The caller owns it: zero it before the first shard_next, reuse it across calls
// and shards (image grows as needed, never beyond SHARD_MAX_IMAGE_BYTES), free it with
// shard_sample_free.
typedef struct {
    char key[SHARD_KEY_MAX];
    char ext[8];        // the image member's extension, lower case: "jpg", "jpeg" or "png"
    uint8_t *image;     // the image member's bytes (not read with SHARD_SKIP_IMAGE)
    size_t image_len;   // its size (also with SHARD_SKIP_IMAGE)
    size_t image_cap;
    int label;          // from KEY.cls: 0 to DATA_MAX_CLASSES − 1; -1 without a .cls
    long index;         // the sample's position in its shard, from 0 (bad samples counted)
} ShardSample;

void shard_sample_free(ShardSample *s);

typedef struct ShardReader ShardReader;

// Opens a shard for reading, confined to the roots as the dataset loaders open files (the
// descriptor's own path is checked, so a link swapped in after shards_list is refused), and
// recognizes its format from its first bytes. -1 with a message naming the shard when it
// cannot be opened, lies outside the roots, or is not a tar ("<path>: not a tar archive:
// <libarchive's reason>"): a whole-shard error, like SHARD_ERROR.
int shard_open(const char *path, const DataRoots *roots, ShardReader **reader, char *err,
               size_t errlen);

// What shard_next found.
enum {
    SHARD_ERROR = -1,      // the shard's first header cannot be read (it is not a tar after
                           // all): message names the shard; nothing more comes from it
    SHARD_END = 0,         // no more samples
    SHARD_SAMPLE = 1,      // *s holds a sample
    SHARD_BAD_SAMPLE = 2,  // one sample is bad (no image, two images, a bad or second .cls, a
                           // member over its limit, a key too long): message names the shard
                           // and the key (its first 200 bytes); s->key and s->index say which;
                           // call again for the next
    SHARD_CORRUPT = 3,     // the tar is corrupt or truncated after some samples: message names
                           // the shard and the sample being read (lost); the next call gives
                           // SHARD_END (the rest of the shard cannot be found)
};
enum { SHARD_SKIP_IMAGE = 1 }; // flags: leave the image's bytes unread (image_len still set)

int shard_next(ShardReader *reader, ShardSample *s, unsigned flags, char *err, size_t errlen);
void shard_close(ShardReader *reader);

// 1 if a training sample with this key belongs to the held-out split that stands in for a
// test split when none is given: FNV-1a (64-bit) of the key's bytes, modulo
// SHARDS_HELD_OUT_MODULUS, is 0. About 2% of the samples, always the same ones for the same
// keys, whatever the seed, the shard order or the shards the samples are in.
int shards_held_out(const char *key);

// Counts of a list of shards, read sample by sample without decoding an image.
typedef struct {
    long samples;      // good samples (an image, a valid label or none)
    long held_out;     // of them, those shards_held_out names
    long labelled;     // of them, those with a .cls
    int num_classes;   // the largest label + 1; 0 when no sample is labelled
    long bad_samples;  // SHARD_BAD_SAMPLE results
    int shards;        // shards read so far
    double bytes;      // their size on disk
} ShardCounts;

// Called with the counts so far: every SHARDS_PROGRESS_EVERY samples and after each shard
// (message NULL), and once per bad sample (message: shard_next's).
typedef void (*ShardScanFn)(void *ctx, const ShardCounts *so_far, const char *shard,
                            const char *message);

// Reads every shard of the list in order, adding to *counts (zero it first to start
// afresh). A shard that cannot be read or whose tar is corrupt stops the scan: -1 with the
// message naming it. fn may be NULL.
int shards_scan(const ShardList *list, const DataRoots *roots, ShardCounts *counts,
                ShardScanFn fn, void *ctx, char *err, size_t errlen);

#endif
