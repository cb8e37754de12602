// A training run's streamed image folder (issue 26; docs/job-spec.md, data): the sample list,
// each decode thread's scratch and byte buffer, and the replacement of a sample that fails to
// decode by the next of the order it was drawn from — deterministically, so a batch stays a
// function of its step whatever thread decodes it. The run's loader workers decode training
// images through it; evaluation decodes the test split on the trainer's threads.
#ifndef SIMMIM_STREAMED_H
#define SIMMIM_STREAMED_H

#include <stddef.h>
#include <stdint.h>

#include "data/stream.h"

enum { STREAMED_MESSAGE_MAX = 512 };

// A sample that failed to decode, and the one that took its place.
typedef struct {
    char message[STREAMED_MESSAGE_MAX]; // names the file and what is wrong
    int failed, replacement;            // indices in the split (replacement -1: none decoded)
} StreamedError;

typedef struct {
    SampleList list;
    int channels, size;
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS];
    int threads;              // scratch slots: the loader's workers, then the trainer's threads
    StreamScratch **scratch;
    SampleBytes *bytes;
} Streamed;

// Lists the folder and makes `threads` scratch slots. -1 with a message.
int streamed_open(Streamed *st, const char *path, const DataRoots *roots, int channels,
                  int size, int threads, char *err, size_t errlen);
void streamed_close(Streamed *st);

// Decodes the sample at order[position] of `split` (order NULL: the identity) into out
// [C, S, S] in `view`'s geometry on scratch slot `thread`, and its label into *label (may be
// NULL). A sample that fails is replaced by order[position + 1], then + 2 … (wrapping), up to
// STREAMED_MAX_REPLACEMENTS tries; the first failure is described in *error (error->failed
// -1 when none). Returns the number of samples that failed (0 normally); -1 if every try failed.
enum { STREAMED_MAX_REPLACEMENTS = 64 };
int streamed_decode(Streamed *st, const SampleSplit *split, const int *order, long position,
                    const StreamView *view, int thread, float *out, int *label,
                    StreamedError *error);

// finetune.labels_per_class on the streamed training split: data.h's labels_keep_per_class,
// the paths left out dropped. -1 with its message.
int streamed_limit_per_class(Streamed *st, int k, char *err, size_t errlen);

// A fixed sample of up to n training images (evenly spaced in dataset order) in the
// evaluation view, as 8-bit pixels: what the palette's k-means samples (data/palette.h).
// The caller frees set->pixels. -1 with a message if none decodes or out of memory.
int streamed_sample_images(Streamed *st, int n, ImageSet *set, char *err, size_t errlen);

#endif
