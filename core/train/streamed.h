// A training run's streamed data (issue 26; docs/job-spec.md, data): each decode thread's
// scratch and byte buffer, the sample list of a streamed image folder, and the decode of one
// sample with its replacement — a sample that fails is replaced by the next candidate the
// caller names (the next of the epoch's order, the next of the batch), deterministically, so
// a batch stays a function of its step whatever thread decodes it. The loader's workers
// decode training images through it; evaluation decodes on the trainer's threads.
#ifndef SIMMIM_STREAMED_H
#define SIMMIM_STREAMED_H

#include <stddef.h>
#include <stdint.h>

#include "data/stream.h"

enum { STREAMED_MESSAGE_MAX = 512, STREAMED_NAME_MAX = 1200, STREAMED_MAX_REPLACEMENTS = 64 };

// A sample that failed to decode, and the one that took its place.
typedef struct {
    char message[STREAMED_MESSAGE_MAX];  // names the sample and what is wrong
    char failed[STREAMED_NAME_MAX];      // the sample (a path, or <shard>:<key>)
    char replacement[STREAMED_NAME_MAX]; // "" when none decoded
} StreamedError;

typedef struct {
    SampleList list;          // a streamed image folder's (empty for shards)
    int channels, size;
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS];
    int threads;              // scratch slots: the loader's workers, then the trainer's threads
    StreamScratch **scratch;
    SampleBytes *bytes;
} Streamed;

// `threads` scratch slots for images of channels × size²; with a folder path (may be NULL)
// its listing too. -1 with a message.
int streamed_open(Streamed *st, const char *folder, const DataRoots *roots, int channels,
                  int size, int threads, char *err, size_t errlen);
void streamed_close(Streamed *st);

// Candidate k (0: the sample itself) of a sample being decoded: its name, label and encoded
// bytes — in memory, or read into `buffer`. 0, or -1 with a message (the file cannot be read).
typedef int (*StreamedCandidate)(void *ctx, int k, SampleBytes *buffer, const uint8_t **bytes,
                                 size_t *len, const char **name, int *label, char *err,
                                 size_t errlen);

// Decodes candidate 0, or on failure candidates 1, 2 … up to `tries`, into out [C, S, S] in
// `view`'s geometry on scratch slot `thread`, and its label into *label (may be NULL). The
// first failure is described in *error (error->failed "" when none). Returns how many
// candidates failed (0 normally), or -1 if every try failed.
int streamed_decode(Streamed *st, StreamedCandidate candidate, void *ctx, int tries,
                    const StreamView *view, int thread, float *out, int *label,
                    StreamedError *error);

// The candidates of a streamed folder's sample at order[position] of a split (order NULL:
// the identity): the samples that follow it in that order.
typedef struct {
    const Streamed *st;
    const SampleSplit *split;
    const int *order;
    long position;
} FolderCandidates;
int folder_candidate(void *ctx, int k, SampleBytes *buffer, const uint8_t **bytes, size_t *len,
                     const char **name, int *label, char *err, size_t errlen);
// STREAMED_MAX_REPLACEMENTS, or fewer for a split as small
int folder_tries(const SampleSplit *split);

// finetune.labels_per_class on the streamed training split: data.h's labels_keep_per_class,
// the paths left out dropped. -1 with its message.
int streamed_limit_per_class(Streamed *st, int k, char *err, size_t errlen);

// A fixed sample of up to n training images (evenly spaced in dataset order) in the
// evaluation view, as 8-bit pixels: what the palette's k-means samples (data/palette.h).
// The caller frees set->pixels. -1 with a message if none decodes or out of memory.
int streamed_sample_images(Streamed *st, int n, ImageSet *set, char *err, size_t errlen);

// Such a sample from any source (tar shards): open with room for n images, add candidate 0
// of each sample (decoded in the evaluation view on scratch slot 0; one that fails is left
// out), close into the set. open: -1 when out of memory; close: -1 with a message if no
// image decoded.
typedef struct {
    Streamed *st;
    ImageSet set;
    float *image;
} StreamedSampler;
int streamed_sampler_open(StreamedSampler *s, Streamed *st, int n);
void streamed_sampler_add(StreamedSampler *s, StreamedCandidate candidate, void *ctx);
int streamed_sampler_close(StreamedSampler *s, ImageSet *set, char *err, size_t errlen);

#endif
