// A training run's tar shards (issue 26; data/shards.h, docs/job-spec.md's data section):
// each epoch's sample stream — the training shards in an order shuffled by (seed, epoch),
// read in turn through a shuffle buffer of data.shuffle_buffer samples drawn by the same
// seed — and the test split read in order for evaluation. The loader's prepare callback
// takes each step's samples from the stream, in step order, into the step's slot; its
// workers decode them. A step's samples are a function of (seed, step): the stream of an
// epoch is replayed from its start (read, not decoded) to reach a step, so a resume or a
// jump costs a read of the epoch so far.
#ifndef SIMMIM_SHARDED_H
#define SIMMIM_SHARDED_H

#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "data/shards.h"

enum { SHARDED_NAME_MAX = 1200, SHARDED_MESSAGE_MAX = 512 };

// A sample taken from the stream: its bytes, label and name ("<shard>:<key>").
typedef struct {
    ShardSample sample;
    char name[SHARDED_NAME_MAX];
} ShardedSample;

// Called for each bad sample or corrupt shard met while reading (message names it).
typedef void (*ShardedErrorFn)(void *ctx, const char *message);

typedef struct {
    ShardList train, test;  // test empty: the training shards' held-out 2% stand in for it
    DataRoots roots;
    long train_count, test_count; // good samples of each split (scanned at open)
    int num_classes;
    // The few-labels setting (sharded_limit_per_class): the training samples kept, per
    // training shard its sample indexes (ShardSample.index), ascending:
    // limit_index[limit_start[i] .. limit_start[i + 1]). NULL: every sample.
    long *limit_index;
    long *limit_start;
    int shuffle_buffer;
    uint64_t seed;
    ShardedErrorFn on_error;
    void *error_ctx;
    // the training stream
    long epoch, emitted;    // the epoch being read and the samples it gave so far
    int *shard_order, next_shard;
    ShardReader *reader;
    Rng rng;
    ShardedSample *buffer;  // the shuffle buffer's samples, `filled` of them
    int filled;
    ShardedSample incoming;
    // the evaluation stream
    ShardReader *eval_reader;
    int eval_shard;
    long eval_emitted;
} Sharded;

// Lists the shards (dir/train_glob, and dir/test_glob unless it is ""), counts their samples
// (shards_scan) and prepares the streams. -1 with a message.
int sharded_open(Sharded *sh, const char *dir, const char *train_glob, const char *test_glob,
                 const DataRoots *roots, uint64_t seed, int shuffle_buffer,
                 ShardedErrorFn on_error, void *error_ctx, char *err, size_t errlen);
void sharded_close(Sharded *sh);

// Keeps only the first k samples of each class of the training split, in shard order (as an
// image folder's are, in file order): one pass over the training shards, images unread.
// train_count becomes the number kept; the test split and the normalization stay whole.
// -1 with a message if no sample is labelled or a class has fewer than k.
int sharded_limit_per_class(Sharded *sh, int k, char *err, size_t errlen);

// The sample at `position` of epoch `epoch`'s training stream into *out (its buffer reused):
// read on from the last call, or replayed from the epoch's start when the position is not
// the next one. -1 with a message (a shard that cannot be opened, or an epoch with fewer
// good samples than asked).
int sharded_train_sample(Sharded *sh, long epoch, long position, ShardedSample *out, char *err,
                         size_t errlen);
// The test split's sample `position` (in shard order) into *out, read on or replayed alike.
int sharded_test_sample(Sharded *sh, long position, ShardedSample *out, char *err, size_t errlen);

// Calls visit for the training samples in shard order from the first (the held-out 2% left
// out), until it has counted `count` of them in *taken or returns non-zero; returns what it
// returned last (0 when the samples ran out). Reads on a reader of its own: the training
// stream is left where it was.
typedef int (*ShardedVisit)(void *ctx, const ShardedSample *sample, int *taken);
int sharded_each_first(Sharded *sh, int count, ShardedVisit visit, void *ctx);

// Mean and std per channel of pixel / 255 over the first `count` training samples in shard
// order — every pixel of each whole image, as the cached path counts them — for a set too
// large to go through: a fixed sample, whatever the job's seed. Failed decodes are left out
// (*bad counts them). -1 with a message if none decodes or a channel is constant.
int sharded_stats(Sharded *sh, int channels, int count, double *mean, double *std, int *bad,
                  char *err, size_t errlen);

#endif
