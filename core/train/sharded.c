// The shards of a run; see sharded.h.
#include "train/sharded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/stream.h"

// Which samples a read keeps: all, only the held-out ones (the stand-in test split), or all
// but them (the training split when the held-out ones stand in for the test split).
typedef enum { KEEP_ALL, KEEP_HELD_OUT, KEEP_NOT_HELD_OUT } Keep;

static void report(Sharded *sh, const char *message)
{
    if (sh->on_error) sh->on_error(sh->error_ctx, message);
}

static int kept(Keep keep, const char *key)
{
    return keep == KEEP_ALL || (keep == KEEP_HELD_OUT) == (shards_held_out(key) != 0);
}

// Whether sample `index` of training shard `shard` is among those sharded_limit_per_class kept.
static int within_limit(const Sharded *sh, int shard, long index)
{
    long lo = sh->limit_start[shard], hi = sh->limit_start[shard + 1];
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (sh->limit_index[mid] < index) lo = mid + 1;
        else hi = mid;
    }
    return lo < sh->limit_start[shard + 1] && sh->limit_index[lo] == index;
}

// The next kept good sample of `list` (shards in `order`, NULL: as listed) into *into, bad
// samples and unreadable shards reported and passed over; the training split's samples
// limited as sharded_limit_per_class chose. flags: shard_next's. 1, or 0 at the end of the
// list.
static int read_next(Sharded *sh, const ShardList *list, const int *order, int *next_shard,
                     ShardReader **reader, Keep keep, unsigned flags, ShardedSample *into)
{
    int limited = sh->limit_index && list == &sh->train && keep != KEEP_HELD_OUT;
    char err[SHARDED_MESSAGE_MAX];
    for (;;) {
        if (!*reader) {
            if (*next_shard >= list->count) return 0;
            int shard = order ? order[*next_shard] : *next_shard;
            (*next_shard)++;
            if (shard_open(list->paths[shard], &sh->roots, reader, err, sizeof err)) {
                report(sh, err);
                continue;
            }
        }
        int r = shard_next(*reader, &into->sample, flags, err, sizeof err);
        int shard = order ? order[*next_shard - 1] : *next_shard - 1;
        if (r == SHARD_SAMPLE && kept(keep, into->sample.key) &&
            (!limited || within_limit(sh, shard, into->sample.index))) {
            snprintf(into->name, sizeof into->name, "%s:%s", list->paths[shard], into->sample.key);
            return 1;
        }
        if (r == SHARD_BAD_SAMPLE || r == SHARD_CORRUPT || r == SHARD_ERROR) report(sh, err);
        if (r == SHARD_END || r == SHARD_ERROR) {
            shard_close(*reader);
            *reader = NULL;
        }
    }
}

static Keep training_keep(const Sharded *sh) { return sh->test.count ? KEEP_ALL : KEEP_NOT_HELD_OUT; }

static int read_training(Sharded *sh, ShardedSample *into)
{
    return read_next(sh, &sh->train, sh->shard_order, &sh->next_shard, &sh->reader,
                     training_keep(sh), 0, into);
}

static void swap_samples(ShardedSample *a, ShardedSample *b)
{
    ShardedSample t = *a;
    *a = *b;
    *b = t;
}

// The epoch's stream from its start: the shards in an order drawn from (seed, epoch), the
// shuffle buffer filled from them.
static void start_epoch(Sharded *sh, long epoch)
{
    shard_close(sh->reader);
    sh->reader = NULL;
    rng_seed(&sh->rng, rng_stream_seed(sh->seed, RNG_STREAM_SHARDS, (uint64_t)epoch));
    rng_permutation(&sh->rng, sh->shard_order, sh->train.count);
    sh->next_shard = 0;
    sh->filled = 0;
    while (sh->filled < sh->shuffle_buffer && read_training(sh, &sh->buffer[sh->filled]))
        sh->filled++;
    sh->epoch = epoch;
    sh->emitted = 0;
}

// The next sample of the stream: a uniformly drawn one of the buffer, whose place the next
// sample read takes. 0 when the epoch is exhausted.
static int pop_training(Sharded *sh, ShardedSample *out)
{
    if (sh->filled == 0) return 0;
    int j = (int)rng_below(&sh->rng, (uint32_t)sh->filled);
    swap_samples(out, &sh->buffer[j]); // out's old buffers now refill the place
    if (!read_training(sh, &sh->buffer[j])) swap_samples(&sh->buffer[j], &sh->buffer[--sh->filled]);
    sh->emitted++;
    return 1;
}

int sharded_train_sample(Sharded *sh, long epoch, long position, ShardedSample *out, char *err,
                         size_t errlen)
{
    if (epoch != sh->epoch || position < sh->emitted) start_epoch(sh, epoch);
    while (sh->emitted < position)
        if (!pop_training(sh, &sh->incoming)) break;
    if (sh->emitted == position && pop_training(sh, out)) return 0;
    snprintf(err, errlen, "the training shards gave %ld good samples in epoch %ld, fewer than the "
             "%ld the schedule counts on (%ld were counted at the start)", sh->emitted, epoch,
             position + 1, sh->train_count);
    return -1;
}

static Keep test_keep(const Sharded *sh) { return sh->test.count ? KEEP_ALL : KEEP_HELD_OUT; }

static int read_test(Sharded *sh, ShardedSample *into)
{
    const ShardList *list = sh->test.count ? &sh->test : &sh->train;
    if (!read_next(sh, list, NULL, &sh->eval_shard, &sh->eval_reader, test_keep(sh), 0, into))
        return 0;
    sh->eval_emitted++;
    return 1;
}

int sharded_test_sample(Sharded *sh, long position, ShardedSample *out, char *err, size_t errlen)
{
    if (position < sh->eval_emitted) {
        shard_close(sh->eval_reader);
        sh->eval_reader = NULL;
        sh->eval_shard = 0;
        sh->eval_emitted = 0;
    }
    while (sh->eval_emitted < position)
        if (!read_test(sh, &sh->incoming)) break;
    if (sh->eval_emitted == position && read_test(sh, out)) return 0;
    snprintf(err, errlen, "the test shards gave %ld good samples, fewer than the %ld counted at "
             "the start", sh->eval_emitted, sh->test_count);
    return -1;
}

static void sharded_sample_free(ShardedSample *s) { shard_sample_free(&s->sample); }

int sharded_open(Sharded *sh, const char *dir, const char *train_glob, const char *test_glob,
                 const DataRoots *roots, uint64_t seed, int shuffle_buffer,
                 ShardedErrorFn on_error, void *error_ctx, char *err, size_t errlen)
{
    memset(sh, 0, sizeof *sh);
    sh->seed = seed, sh->shuffle_buffer = shuffle_buffer, sh->epoch = -1;
    sh->on_error = on_error, sh->error_ctx = error_ctx;
    if (roots) sh->roots = *roots;
    if (shards_list(dir, train_glob, roots, &sh->train, err, errlen) ||
        (test_glob[0] && shards_list(dir, test_glob, roots, &sh->test, err, errlen)))
        goto fail;
    sh->roots.warn = NULL; // the listings warned already
    ShardCounts train = {0}, test = {0};
    if (shards_scan(&sh->train, &sh->roots, &train, NULL, NULL, err, errlen) ||
        (sh->test.count && shards_scan(&sh->test, &sh->roots, &test, NULL, NULL, err, errlen)))
        goto fail;
    sh->train_count = sh->test.count ? train.samples : train.samples - train.held_out;
    sh->test_count = sh->test.count ? test.samples : train.held_out;
    sh->num_classes = train.num_classes > test.num_classes ? train.num_classes : test.num_classes;
    sh->shard_order = malloc(sizeof(int) * (size_t)sh->train.count);
    sh->buffer = calloc((size_t)shuffle_buffer, sizeof *sh->buffer);
    if (!sh->shard_order || !sh->buffer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return 0;
fail:
    sharded_close(sh);
    return -1;
}

void sharded_close(Sharded *sh)
{
    shard_close(sh->reader);
    shard_close(sh->eval_reader);
    for (int i = 0; sh->buffer && i < sh->shuffle_buffer; i++) sharded_sample_free(&sh->buffer[i]);
    free(sh->buffer);
    sharded_sample_free(&sh->incoming);
    free(sh->shard_order);
    free(sh->limit_index);
    free(sh->limit_start);
    shards_list_free(&sh->train);
    shards_list_free(&sh->test);
    memset(sh, 0, sizeof *sh);
}

// The labelled training samples in shard order: the labels (as labels_keep_per_class takes
// them) and where each sample is.
typedef struct {
    int shard;
    long index; // ShardSample.index within the shard
} SamplePlace;

typedef struct {
    int *labels;
    SamplePlace *places;
    long count, cap;
} LabelledSamples;

static int add_labelled(LabelledSamples *l, int label, SamplePlace place)
{
    if (l->count == l->cap) {
        long cap = l->cap ? 2 * l->cap : 4096;
        int *labels = realloc(l->labels, sizeof *labels * (size_t)cap);
        if (labels) l->labels = labels;
        SamplePlace *places = realloc(l->places, sizeof *places * (size_t)cap);
        if (places) l->places = places;
        if (!labels || !places) return -1;
        l->cap = cap;
    }
    l->labels[l->count] = label;
    l->places[l->count++] = place;
    return 0;
}

// The kept samples' indexes grouped by shard (limit_index, limit_start; see sharded.h).
static int index_kept(Sharded *sh, const LabelledSamples *l, const uint8_t *keep, int kept)
{
    sh->limit_start = calloc((size_t)sh->train.count + 1, sizeof *sh->limit_start);
    sh->limit_index = malloc(sizeof *sh->limit_index * ((size_t)kept + 1));
    if (!sh->limit_start || !sh->limit_index) return -1;
    long at = 0;
    for (long i = 0; i < l->count; i++) { // samples come in shard order: each shard's indexes ascend
        if (!keep[i]) continue;
        sh->limit_index[at++] = l->places[i].index;
        sh->limit_start[l->places[i].shard + 1] = at;
    }
    for (int s = 1; s <= sh->train.count; s++)
        if (sh->limit_start[s] < sh->limit_start[s - 1]) sh->limit_start[s] = sh->limit_start[s - 1];
    return 0;
}

int sharded_limit_per_class(Sharded *sh, int k, char *err, size_t errlen)
{
    LabelledSamples l = {0};
    ShardedSample sample = {0};
    ShardReader *reader = NULL;
    int next_shard = 0, rc = 0;
    while (rc == 0 && read_next(sh, &sh->train, NULL, &next_shard, &reader, training_keep(sh),
                                SHARD_SKIP_IMAGE, &sample))
        if (sample.sample.label >= 0)
            rc = add_labelled(&l, sample.sample.label,
                              (SamplePlace){.shard = next_shard - 1, .index = sample.sample.index});
    shard_close(reader);
    sharded_sample_free(&sample);
    uint8_t *keep = rc == 0 ? malloc((size_t)l.count + 1) : NULL;
    int kept = -1;
    if (!keep) snprintf(err, errlen, "out of memory");
    else if (l.count > INT32_MAX)
        snprintf(err, errlen, "%ld labelled training samples: more than labels_per_class counts",
                 l.count);
    else if ((kept = labels_keep_per_class(l.labels, (int)l.count, sh->num_classes, NULL, k, keep,
                                           err, errlen)) >= 0 &&
             index_kept(sh, &l, keep, kept)) {
        snprintf(err, errlen, "out of memory");
        kept = -1;
    }
    if (kept >= 0) sh->train_count = kept;
    else {
        free(sh->limit_start), free(sh->limit_index);
        sh->limit_start = NULL, sh->limit_index = NULL;
    }
    free(keep);
    free(l.labels), free(l.places);
    return kept < 0 ? -1 : 0;
}

int sharded_each_first(Sharded *sh, int count, ShardedVisit visit, void *ctx)
{
    ShardedSample sample = {0};
    ShardReader *reader = NULL;
    int next_shard = 0, taken = 0, rc = 0;
    while (taken < count && rc == 0 &&
           read_next(sh, &sh->train, NULL, &next_shard, &reader, training_keep(sh), 0, &sample)) {
        rc = visit(ctx, &sample, &taken);
    }
    shard_close(reader);
    sharded_sample_free(&sample);
    return rc;
}

typedef struct {
    StreamScratch *scratch;
    StreamPixelSums sums;
    int bad;
} StatsVisit;

static int add_to_stats(void *ctx, const ShardedSample *sample, int *taken)
{
    StatsVisit *v = ctx;
    char why[SHARDED_MESSAGE_MAX];
    if (stream_pixel_sums_add(sample->sample.image, sample->sample.image_len, sample->name,
                              v->scratch, &v->sums, NULL, NULL, why, sizeof why))
        v->bad++;
    (*taken)++;
    return 0;
}

int sharded_stats(Sharded *sh, int channels, int count, double *mean, double *std, int *bad,
                  char *err, size_t errlen)
{
    StatsVisit v = {.scratch = stream_scratch_new(), .sums = {.channels = channels}};
    if (!v.scratch) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sharded_each_first(sh, count, add_to_stats, &v);
    stream_scratch_free(v.scratch);
    *bad = v.bad;
    return stream_pixel_sums_finish(&v.sums, mean, std, err, errlen);
}
