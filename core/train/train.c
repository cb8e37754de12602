// The training loop of one job; see train.h. Every random decision — data order, crops,
// flips, masks, drop path — is drawn from a stream keyed by (seed, purpose, epoch or step),
// so a batch depends on its step alone: the loader thread can run ahead, and a resumed run
// continues bit for bit from a checkpoint that holds only weights and AdamW moments.
// With train.ranks > 1 (dist.h) every rank draws the same global batch and trains on its rows
// of it (a streamed batch: decodes only those); their gradients are summed, each weighted by its
// share of the batch's loss, so every rank takes the same update; rank 0 alone talks to the
// outside world (run dir, events), working alone (dist_solo_begin) while the others wait.
#include "train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/json_out.h"
#include "base/sha256.h"
#include "data/augment.h"
#include "data/data.h"
#include "data/palette.h"
#include "data/preview.h"
#include "model/features.h"
#include "model/model.h"
#include "ops/ops.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/loader.h"
#include "train/probe.h"
#include "train/sharded.h"
#include "train/streamed.h"
#include "train/optim.h"

// Evaluation masks do not depend on the job's seed, so validation losses of jobs compare.
static const uint64_t EVAL_SEED = 0x5eed;
enum { PREVIEW_IMAGES = 8, PATH_BUF = 4352, MAX_DATA_WARNINGS = 100 };

static volatile sig_atomic_t stop_signal;

void train_request_stop(int signal) { stop_signal = signal; }

enum { HEAD_SECTIONS = 4, MAX_LOADER_SLOTS = 17, MIN_DATA_ERRORS = 10, PALETTE_IMAGES = 512 };
static const char *const HEAD_SECTION_NAMES[HEAD_SECTIONS] = {"mask", "decoder", "target", "loss"};

typedef struct {
    float *images, *token_mask, *drop_keep;
    int *labels;
    int *indices;          // the step's samples (streamed: decoded by the loader's workers)
    StreamedError *errors; // streamed: per image, a sample that failed and its replacement
    int *failures;         // streamed: per image, how many samples failed (-1: all tried)
    double loss_weight;    // this rank's share of the batch's loss (dist: its rows' masked
                           // cells over the batch's, or rows / batch size); 1 alone
    ShardedSample *samples;// shards: the step's samples as read from the stream
    char (*read_errors)[SHARDED_MESSAGE_MAX]; // shards: what reading them met, in order
    int read_error_count;  // (beyond the batch size only counted)
} BatchBuffers;

typedef struct {
    const JobSpec *spec;    // the caller's, or `adopted` once a checkpoint gave the model
    JobSpec adopted;
    const char *run_dir;
    const char *const *data_roots; // the dataset is confined to them; none: not confined
    int data_root_count, warnings;
    FILE *events;
    int lock_fd;
    Dataset ds;
    Model model;
    AdamW opt;
    OptimConfig optim;
    long steps_per_epoch, total_steps, end_step, start_step;
    BatchBuffers slots[MAX_LOADER_SLOTS], eval;
    int slot_count;    // the loader's: data.prefetch + 1
    // The permutations of the two newest epochs (loader only; steps in flight span at most
    // two epochs, since there are no more slots than steps per epoch + 1).
    int *orders[2];
    long order_epoch[2];
    int *eval_indices;
    int streaming;     // the training images are decoded from disk each step (data_path "stream")
    int sharding;      // ... from tar shards (else from an image folder)
    int mapped;        // an IDX dataset's images read in place from its files (data_path "stream")
    Streamed streamed;
    Sharded sharded;
    BatchBuffers *reading; // the batch whose samples are being read (shards' read errors)
    char data_path_reason[256];
    long data_errors, images_seen;
    char *head_json[HEAD_SECTIONS]; // pretraining: HEAD_SECTION_NAMES of the run, as JSON
    float *preview_image, *preview_scratch; // the prediction as an image (pretraining)
    double loss_sum, last_grad_norm, last_lr, data_wait, progress_time, startup_time;
    double exchange_time; // dist: seconds exchanging gradients since the last progress event
    double aside_time;    // seconds evaluating, previewing and checkpointing since then
    double measured_time; // when the steps the ETA goes by began: after the start-up step
    long measured_step;
    long loss_steps, progress_step, last_checkpoint_step;
    int has_eval, eval_epoch;
    double val_loss, top1;
    // eval.knn (pretraining): the bank is the first knn.bank_count training images of
    // knn_order, a fixed permutation whose bank part is sorted (dataset order; the rest supplies
    // a streamed bank image's replacements). features and predictions: one batch's.
    int knn_on, knn_bank_filled;
    int *knn_order;
    Knn knn;
    float *features;
    int *predictions;
    double knn_top1, knn_seconds;
    const char *dump_dir; // --dump-features: the folder the probes' features are written to
    Dist *dist;
    int first, rows;      // this rank's images of every batch: [first, first + rows)
    int resumed_ranks;    // the ranks that wrote the state resumed from (0: none)
} Trainer;

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Writes one event line (the object gets "event" and "t" first) to stdout and events.jsonl.
// Other ranks only report their own errors (stdout: mpirun passes it to the daemon).
static void emit(Trainer *tr, const char *name, json_t *fields)
{
    if (tr->dist->rank != 0 && strcmp(name, "error") != 0) {
        json_decref(fields);
        return;
    }
    json_t *ev = json_pack("{s:s, s:f}", "event", name, "t", wall_time());
    if (fields) json_object_update(ev, fields);
    json_decref(fields);
    size_t len;
    char *line = ev ? json_out(ev, &len) : NULL; // shortest reals: 0.6, and "t" in full
    json_decref(ev);
    if (!line) return;
    printf("%s\n", line);
    fflush(stdout);
    if (tr->events) {
        fprintf(tr->events, "%s\n", line);
        fflush(tr->events);
    }
    free(line);
}

static int report_failure(Trainer *tr, const char *fmt, va_list ap)
{
    char message[1024];
    vsnprintf(message, sizeof message, fmt, ap);
    for (char *c = message; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    if (tr->dist->rank != 0) { // a collective that failed is rank 0's to report, naming who
        char named[1200];
        snprintf(named, sizeof named, "rank %d (%s): %s", tr->dist->rank, tr->dist->host, message);
        fprintf(stderr, "simmim-train: error: %s\n", named);
        if (!tr->dist->failed) emit(tr, "error", json_pack("{s:s}", "message", named));
        return 1;
    }
    fprintf(stderr, "simmim-train: error: %s\n", message);
    emit(tr, "error", json_pack("{s:s}", "message", message));
    return 1;
}

static int train_fail(Trainer *tr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = report_failure(tr, fmt, ap);
    va_end(ap);
    return rc;
}

// A failure every rank meets at the same point of the same step, on figures they share (the
// summed loss, the batch's data errors): rank 0 reports it, the others only say on stderr that
// they stop with it, and they all exit 1 without one ending the others (dist_finish).
static int fail_together(Trainer *tr, const char *fmt, ...)
{
    tr->dist->together = 1;
    if (tr->dist->rank != 0) {
        fprintf(stderr, "simmim-train: rank %d (%s): fails with rank 0, which says why\n",
                tr->dist->rank, tr->dist->host);
        return 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = report_failure(tr, fmt, ap);
    va_end(ap);
    return rc;
}

// Rank 0's work alone — its run dir, evaluation, previews, checkpoints — which the others wait
// for at the next collective: begun with solo_begin (0, or 1 after reporting why not), ended
// with solo_end(tr, the work's status), which returns the status (or 1 if the signs of life
// failed).
static int solo_begin(Trainer *tr)
{
    char err[512];
    return dist_solo_begin(tr->dist, err, sizeof err) ? train_fail(tr, "%s", err) : 0;
}

static int solo_end(Trainer *tr, int rc)
{
    char err[512];
    if (dist_solo_end(tr->dist, err, sizeof err) && !rc) rc = train_fail(tr, "%s", err);
    return rc;
}

static int run_dir_mkdir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

// Creates the run dir layout, opens events.jsonl and takes the run dir's lock (waiting a
// while: a trainer of a crashed daemon may still be writing its last checkpoint).
static int open_run_dir(Trainer *tr)
{
    char path[PATH_BUF];
    if (run_dir_mkdir(tr->run_dir))
        return train_fail(tr, "run dir %s: %s", tr->run_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/checkpoints", tr->run_dir);
    if (run_dir_mkdir(path)) return train_fail(tr, "run dir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/previews", tr->run_dir);
    if (run_dir_mkdir(path)) return train_fail(tr, "run dir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/events.jsonl", tr->run_dir);
    tr->events = fopen(path, "a");
    if (!tr->events)
        return train_fail(tr, "run dir %s is not writable: %s", tr->run_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/.lock", tr->run_dir);
    tr->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (tr->lock_fd < 0) return train_fail(tr, "run dir lock %s: %s", path, strerror(errno));
    for (int tries = 0; flock(tr->lock_fd, LOCK_EX | LOCK_NB); tries++) {
        if (errno != EWOULDBLOCK || tries >= 600)
            return train_fail(tr, "run dir %s is locked by another simmim-train", tr->run_dir);
        usleep(100000);
    }
    return 0;
}

// The starting file must hash to the spec's init_from.sha256 (the daemon's record of it) or,
// without one, to what the run dir it lies in recorded for it.
static int verify_init_from(Trainer *tr)
{
    const char *path = tr->spec->init_from.path, *field = spec_init_from_field(tr->spec);
    char expected[65], actual[65], why[96];
    snprintf(why, sizeof why, "the spec's %s.sha256", field);
    if (tr->spec->init_from.sha256[0])
        memcpy(expected, tr->spec->init_from.sha256, sizeof expected);
    else if (checkpoint_recorded_sha256_of(path, expected) == 0)
        snprintf(why, sizeof why, "its run dir's checkpoint event");
    else
        return 0; // nothing recorded to check against
    if (checkpoint_verify_sha256(path, expected, actual) != 1) return 0; // unreadable: read says why
    return train_fail(tr, "%s: %s is corrupt: its sha256 is %s, %s says %s", field, path, actual,
                      why, expected);
}

// The model config and, for a start from a checkpoint, the checkpoint's normalization: a
// fine-tuning takes its encoder, a continued pretraining the whole model, whose head must be
// the spec's (checkpoint_suits_pretraining, the daemon's check at submission too).
static int resolve_model(Trainer *tr, ModelConfig *cfg, CheckpointMeta *from, SafeTensors *init)
{
    const JobSpec *s = tr->spec;
    const char *field = spec_init_from_field(s);
    char err[1024];
    *cfg = s->model;
    if (s->init_from.form == REF_NONE) return 0;
    if (s->init_from.form != REF_PATH)
        return train_fail(tr, "%s: simmim-train needs {\"path\": FILE}", field);
    if (verify_init_from(tr)) return 1;
    ModelConfig saved;
    if (checkpoint_read(s->init_from.path, init, &saved, from, err, sizeof err))
        return train_fail(tr, "%s: %s", field, err);
    // on an error below, the caller frees init (from->kind is set)
    if (strcmp(from->kind, "pretrain") != 0)
        return train_fail(tr, "%s: %s is a fine-tuning checkpoint; start from a pretraining one",
                          field, s->init_from.path);
    SpecError serr;
    tr->adopted = *s;
    if (spec_adopt_model(&tr->adopted, &saved, &serr)) return train_fail(tr, "%s", serr.message);
    if (s->kind == JOB_PRETRAIN &&
        checkpoint_suits_pretraining(&saved, &tr->adopted.model, err, sizeof err))
        return train_fail(tr, "%s: %s", field, err);
    if (s->kind == JOB_LINPROBE) { // the whole pretraining model, its head unused
        tr->adopted.model.decoder = saved.decoder;
        tr->adopted.model.target_resolution = saved.target_resolution;
        tr->adopted.model.loss = saved.loss;
    }
    tr->spec = &tr->adopted; // the mask patch a spec left to the model is resolved now too
    *cfg = tr->adopted.model;
    return 0;
}

// One warning: an event and a line on stderr.
static void train_warn(Trainer *tr, const char *message)
{
    fprintf(stderr, "simmim-train: warning: %s\n", message);
    emit(tr, "warning", json_pack("{s:s}", "message", message));
}

// A file or folder of the dataset skipped for lying outside the data roots (data.h's
// DataRoots): a warning each, the first MAX_DATA_WARNINGS of them.
static void warn_skipped(void *ctx, const char *path, const char *message)
{
    (void)path;
    Trainer *tr = ctx;
    char line[PATH_BUF + 64];
    snprintf(line, sizeof line, "dataset: %s", message);
    if (tr->warnings++ < MAX_DATA_WARNINGS) train_warn(tr, line);
}

// The start event's data_path: "stream" when the images are read from disk as steps need
// them (decoded, or an IDX dataset read in place), else "cache".
static const char *data_path_name(const Trainer *tr)
{
    return tr->streaming || tr->mapped ? "stream" : "cache";
}

// The reason for a dataset's path when its cache would be larger than data.cache_mb (limit).
static void over_the_limit(Trainer *tr, double bytes, double limit, const char *how)
{
    if (limit == 0)
        snprintf(tr->data_path_reason, sizeof tr->data_path_reason, "data.cache_mb is 0%s", how);
    else
        snprintf(tr->data_path_reason, sizeof tr->data_path_reason,
                 "its decoded cache would take %.0f MB, more than data.cache_mb (%.0f MB)%s",
                 bytes / 0x1p20, limit / 0x1p20, how);
}

// An IDX dataset is cached when its cache fits data.cache_mb; otherwise its images are read
// in place from its uncompressed files (tr->mapped: dataset_map_idx), which needs files
// that are not compressed and images kept as stored — else it is cached all the same, as
// before there was another way (a spec that ran keeps running), with a warning naming why.
static int choose_idx_path(Trainer *tr, const ModelConfig *cfg, const DataRoots *roots,
                           double limit, char *err, size_t errlen)
{
    IdxShape shape;
    char why[256];
    if (dataset_idx_shape(tr->spec->dataset_path, roots, &shape, err, errlen)) return -1;
    double bytes = (double)dataset_idx_cache_bytes(&shape, cfg->img_size, cfg->in_chans);
    if (bytes <= limit) {
        snprintf(tr->data_path_reason, sizeof tr->data_path_reason,
                 "its cache, %.0f MB, fits data.cache_mb (%.0f MB)", bytes / 0x1p20,
                 limit / 0x1p20);
        return 0;
    }
    if (!dataset_idx_mappable(&shape, cfg->img_size, cfg->in_chans, why, sizeof why)) {
        over_the_limit(tr, bytes, limit, ", but it cannot be read in place: cached all the same");
        snprintf(err, errlen, "dataset: %s; %s", tr->data_path_reason, why);
        train_warn(tr, err);
        return 0;
    }
    tr->mapped = 1;
    over_the_limit(tr, bytes, limit, ": its uncompressed files are read in place (mapped; "
                                     "the page cache holds what fits)");
    return 0;
}

// Whether the training images are cached or streamed (docs/job-spec.md, data.cache_mb): an
// image folder whose decoded cache would be larger than data.cache_mb is streamed — its
// listing kept in tr->streamed —, such an IDX dataset read in place (choose_idx_path), tar
// shards always streamed, and every other dataset cached. The listing warns of what it
// skips; a cached folder is then loaded without warning again.
static int choose_data_path(Trainer *tr, const ModelConfig *cfg, DataRoots *roots, char *err,
                            size_t errlen)
{
    const JobSpec *s = tr->spec;
    double limit = spec_data_cache_bytes(s);
    int threads = spec_data_workers(s) + ops_threads(); // the loader's, then evaluation's
    // Rank 0's budget on every rank (its default depends on the host's memory): a rank caching
    // what another streams would crop its images differently.
    if (dist_broadcast(tr->dist, &limit, sizeof limit, "sharing data.cache_mb", err, errlen))
        return -1;
    if (s->dataset_format == DATA_FORMAT_SHARDS) {
        tr->streaming = tr->sharding = 1;
        snprintf(tr->data_path_reason, sizeof tr->data_path_reason,
                 "tar shards are always streamed");
        return streamed_open(&tr->streamed, NULL, roots, cfg->in_chans, cfg->img_size, threads,
                             err, errlen);
    }
    if (s->dataset_format == DATA_FORMAT_IDX)
        return choose_idx_path(tr, cfg, roots, limit, err, errlen);
    if (streamed_open(&tr->streamed, s->dataset_path, roots, cfg->in_chans, cfg->img_size,
                      threads, err, errlen))
        return -1;
    double bytes = (double)samplelist_cache_bytes(&tr->streamed.list, cfg->in_chans, cfg->img_size);
    roots->warn = NULL;
    if (bytes <= limit) {
        streamed_close(&tr->streamed);
        snprintf(tr->data_path_reason, sizeof tr->data_path_reason,
                 "its decoded cache, %.0f MB, fits data.cache_mb (%.0f MB)", bytes / 0x1p20,
                 limit / 0x1p20);
        return 0;
    }
    tr->streaming = 1;
    over_the_limit(tr, bytes, limit, "");
    return 0;
}

// A streamed folder's counts and normalization in tr->ds (which holds no pixels): mean and
// std from samplelist_stats' fixed sample.
static int describe_streamed(Trainer *tr, const ModelConfig *cfg, char *err, size_t errlen)
{
    const SampleList *list = &tr->streamed.list;
    StreamStats stats;
    if (samplelist_stats(list, cfg->in_chans, STREAM_STATS_IMAGES, &stats, err, errlen)) return -1;
    if (stats.bad) {
        char line[1024];
        snprintf(line, sizeof line, "dataset: %d of the %d images sampled for the normalization "
                 "do not decode (left out); the first: %s", stats.bad, stats.bad + stats.used,
                 stats.first_bad);
        train_warn(tr, line);
    }
    Dataset *ds = &tr->ds;
    ds->format = DATA_FORMAT_IMAGEFOLDER;
    ds->train.count = list->train.count;
    ds->test.count = list->test.count;
    ds->num_classes = list->num_classes;
    ds->channels = cfg->in_chans;
    ds->stored_size = cfg->img_size;
    ds->skipped = list->skipped;
    ds->sizes = stats.sizes;
    memcpy(ds->mean, stats.mean, sizeof ds->mean);
    memcpy(ds->std, stats.std, sizeof ds->std);
    return 0;
}

// A read error of the shards' stream: kept with the batch being read, reported by the
// trainer's thread when the batch is used (a loader worker does not write events).
static void note_read_error(void *ctx, const char *message)
{
    Trainer *tr = ctx;
    BatchBuffers *b = tr->reading;
    if (b && b->read_error_count < tr->spec->train.batch_size)
        snprintf(b->read_errors[b->read_error_count], SHARDED_MESSAGE_MAX, "%s", message);
    if (b) b->read_error_count++;
}

// Tar shards' counts and normalization in tr->ds (which holds no pixels): the shards are
// listed and counted, mean and std taken from the first STREAM_STATS_IMAGES training samples
// (shards in order; a bad one reported).
static int describe_sharded(Trainer *tr, const ModelConfig *cfg, DataRoots *roots, char *err,
                            size_t errlen)
{
    const JobSpec *s = tr->spec;
    Sharded *sh = &tr->sharded;
    if (sharded_open(sh, s->dataset_path, s->dataset_train, s->dataset_test, roots, s->train.seed,
                     s->data.shuffle_buffer, note_read_error, tr, err, errlen))
        return -1;
    Dataset *ds = &tr->ds;
    int bad;
    if (sharded_stats(sh, cfg->in_chans, STREAM_STATS_IMAGES, ds->mean, ds->std, &bad, err,
                      errlen))
        return -1;
    if (bad) {
        char line[256];
        snprintf(line, sizeof line, "dataset: %d of the first %d training samples do not decode "
                 "(left out of the normalization)", bad, STREAM_STATS_IMAGES);
        train_warn(tr, line);
    }
    ds->format = DATA_FORMAT_SHARDS;
    ds->train.count = (int)sh->train_count;
    ds->test.count = (int)sh->test_count;
    ds->num_classes = sh->num_classes;
    ds->channels = cfg->in_chans;
    ds->stored_size = cfg->img_size;
    ds->skipped = sh->train.skipped + sh->test.skipped;
    return 0;
}

static int load_data(Trainer *tr, ModelConfig *cfg, const CheckpointMeta *from)
{
    const JobSpec *s = tr->spec;
    char err[1024];
    DataRoots roots = {.roots = tr->data_roots, .root_count = tr->data_root_count,
                       .warn = warn_skipped, .warn_ctx = tr};
    if (choose_data_path(tr, cfg, &roots, err, sizeof err))
        return train_fail(tr, "dataset: %s", err);
    if (tr->sharding ? describe_sharded(tr, cfg, &roots, err, sizeof err)
        : tr->streaming ? describe_streamed(tr, cfg, err, sizeof err)
        : tr->mapped    ? dataset_map_idx(s->dataset_path, cfg->img_size, &roots, &tr->ds, err,
                                          sizeof err)
                        : dataset_load(s->dataset_format, s->dataset_path, cfg->img_size,
                                       cfg->in_chans, &roots, &tr->ds, err, sizeof err))
        return train_fail(tr, "dataset: %s", err);
    if (tr->warnings > MAX_DATA_WARNINGS) {
        snprintf(err, sizeof err, "dataset: %d more files and folders skipped (%d in all): they "
                 "resolve outside the data roots", tr->warnings - MAX_DATA_WARNINGS,
                 tr->ds.skipped);
        train_warn(tr, err);
    }
    if (s->kind != JOB_PRETRAIN) { // a classifier: fine-tuning's head or the linear probe
        if (tr->ds.num_classes < 2)
            return train_fail(tr, "dataset: %s needs a labelled dataset with at least two "
                              "classes (one subfolder per class)",
                              s->kind == JOB_FINETUNE ? "fine-tuning" : "a linear probe");
        if (s->kind == JOB_FINETUNE) cfg->num_classes = tr->ds.num_classes;
        int k = spec_labels_per_class(s);
        if (k > 0 && (tr->sharding    ? sharded_limit_per_class(&tr->sharded, k, err, sizeof err)
                      : tr->streaming ? streamed_limit_per_class(&tr->streamed, k, err, sizeof err)
                                      : dataset_limit_per_class(&tr->ds, k, err, sizeof err)))
            return train_fail(tr, "%s.labels_per_class: %s", spec_kind_name(s->kind), err);
        if (tr->sharding) tr->ds.train.count = (int)tr->sharded.train_count;
        else if (tr->streaming) tr->ds.train.count = tr->streamed.list.train.count;
    }
    if (from->kind) { // normalization travels with the encoder
        if (checkpoint_suits_dataset(cfg, from->pad, tr->ds.pad, err, sizeof err))
            return train_fail(tr, "%s: %s", spec_init_from_field(s), err);
        memcpy(tr->ds.mean, from->mean, sizeof tr->ds.mean);
        memcpy(tr->ds.std, from->std, sizeof tr->ds.std);
    }
    if (tr->ds.train.count < s->train.batch_size)
        return train_fail(tr, "train.batch_size: %d is more than the %d training images",
                          s->train.batch_size, tr->ds.train.count);
    memcpy(tr->streamed.mean, tr->ds.mean, sizeof tr->ds.mean); // a checkpoint's, if given
    memcpy(tr->streamed.std, tr->ds.std, sizeof tr->ds.std);
    return 0;
}

// B: the batch (its draws: indices, masks, samples); rows: the images this rank trains on.
static int alloc_batch(BatchBuffers *b, const ModelConfig *cfg, int B, int rows)
{
    size_t pixels = (size_t)rows * cfg->in_chans * cfg->img_size * cfg->img_size;
    b->images = malloc(pixels * sizeof(float));
    b->labels = calloc(rows, sizeof(int));
    b->token_mask = calloc((size_t)B * model_num_patches(cfg), sizeof(float));
    b->drop_keep = calloc((size_t)B * 2 * model_total_blocks(cfg), sizeof(float));
    b->indices = calloc(B, sizeof(int));
    b->errors = calloc(B, sizeof *b->errors);
    b->failures = calloc(B, sizeof(int));
    b->samples = calloc(B, sizeof *b->samples);
    b->read_errors = calloc(B, sizeof *b->read_errors);
    return b->images && b->labels && b->token_mask && b->drop_keep && b->indices && b->errors &&
                   b->failures && b->samples && b->read_errors
               ? 0
               : -1;
}

static int alloc_batches(BatchBuffers *b, int count, const ModelConfig *cfg, int B, int rows)
{
    for (int i = 0; i < count; i++)
        if (alloc_batch(&b[i], cfg, B, rows)) return -1;
    return 0;
}

static void free_batch(BatchBuffers *b, int B)
{
    free(b->images), free(b->labels), free(b->token_mask), free(b->drop_keep);
    free(b->indices), free(b->errors), free(b->failures), free(b->read_errors);
    for (int i = 0; b->samples && i < B; i++) shard_sample_free(&b->samples[i].sample);
    free(b->samples);
}

// The spec sections a pretraining checkpoint records (docs/checkpoints.md), of the model the
// run built (a continued pretraining's encoder is its checkpoint's). -1 when out of memory.
static int head_sections_json(Trainer *tr)
{
    JobSpec resolved = *tr->spec;
    resolved.model = tr->model.cfg;
    char *text = spec_to_json(&resolved);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    int rc = doc ? 0 : -1;
    for (int i = 0; i < HEAD_SECTIONS; i++) {
        json_t *part = json_object_get(doc, HEAD_SECTION_NAMES[i]);
        size_t len;
        tr->head_json[i] = part ? json_out(part, &len) : NULL;
        if (!tr->head_json[i]) rc = -1;
    }
    json_decref(doc);
    return rc;
}

// warmup_epochs in steps; laid over train.total_steps, at most half of them.
static long warmup_steps(const JobSpec *s, long steps_per_epoch, long total_steps)
{
    long warmup = (long)llround(s->train.warmup_epochs * steps_per_epoch);
    return s->train.total_steps && warmup > total_steps / 2 ? total_steps / 2 : warmup;
}

// One sample of the shards as the only candidate of a decode.
static int shard_sample_candidate(void *ctx, int k, SampleBytes *buffer, const uint8_t **bytes,
                                  size_t *len, const char **name, int *label, char *err,
                                  size_t errlen)
{
    (void)k, (void)buffer, (void)err, (void)errlen;
    const ShardedSample *sample = ctx;
    *bytes = sample->sample.image, *len = sample->sample.image_len;
    *name = sample->name, *label = sample->sample.label;
    return 0;
}

static int add_to_sampler(void *ctx, const ShardedSample *sample, int *taken)
{
    streamed_sampler_add(ctx, shard_sample_candidate, (void *)sample);
    (*taken)++;
    return 0;
}

// The first PALETTE_IMAGES training samples of the shards (as their statistics are taken) in
// the evaluation view, as 8-bit pixels.
static int sample_shards(Trainer *tr, ImageSet *set, char *err, size_t errlen)
{
    StreamedSampler sampler;
    if (streamed_sampler_open(&sampler, &tr->streamed, PALETTE_IMAGES))
        return snprintf(err, errlen, "out of memory"), -1;
    sharded_each_first(&tr->sharded, PALETTE_IMAGES, add_to_sampler, &sampler);
    return streamed_sampler_close(&sampler, set, err, errlen);
}

// The palette's colours (data/palette.h) from the training images: the cache, or a fixed
// sample of a streamed folder or of the shards decoded for it.
static int fit_palette(Trainer *tr, Model *m, char *err, size_t errlen)
{
    const JobSpec *s = tr->spec;
    if (!tr->streaming) {
        if (palette_kmeans(&tr->ds.train, m->cfg.loss.palette, s->train.seed, m->params.palette))
            return snprintf(err, errlen, "out of memory"), -1;
        return 0;
    }
    ImageSet sample;
    if (tr->sharding ? sample_shards(tr, &sample, err, errlen)
                     : streamed_sample_images(&tr->streamed, PALETTE_IMAGES, &sample, err, errlen))
        return -1;
    int rc = palette_kmeans(&sample, m->cfg.loss.palette, s->train.seed, m->params.palette);
    free(sample.pixels);
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

static int compare_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

// eval.knn in a pretraining: whether it runs on this dataset (spec_knn_runs), its bank — the
// first min(bank, training images) of a permutation drawn with a fixed seed, the same for every
// job, sorted into dataset order — and its buffers, allocated once: the bank's features and
// labels, a batch's features, and similarities for as many queries as keep them within
// KNN_SIMILARITY_BYTES.
static int setup_knn(Trainer *tr)
{
    enum { KNN_SIMILARITY_BYTES = 64 << 20 };
    const JobSpec *s = tr->spec;
    SpecError se;
    int runs = spec_knn_runs(s, tr->ds.num_classes, s->dataset_format, &se);
    if (runs <= 0) return runs < 0 ? train_fail(tr, "%s", se.message) : 0;
    int n = tr->ds.train.count, bank = s->knn.bank < n ? s->knn.bank : n;
    int B = s->train.batch_size, D = model_out_dim(&tr->model.cfg);
    long rows = KNN_SIMILARITY_BYTES / ((long)sizeof(float) * bank);
    int queries = rows < 1 ? 1 : rows < B ? (int)rows : B;
    if (!(tr->knn_order = malloc(sizeof(int) * (size_t)n)) ||
        knn_create(&tr->knn, bank, D, s->knn.k, tr->ds.num_classes, queries) ||
        !(tr->features = malloc(sizeof(float) * (size_t)B * D)) ||
        !(tr->predictions = malloc(sizeof(int) * (size_t)B)))
        return train_fail(tr, "eval.knn: out of memory for a bank of %d images", bank);
    Rng rng;
    rng_seed(&rng, rng_stream_seed(EVAL_SEED, RNG_STREAM_KNN_BANK, 0));
    rng_permutation(&rng, tr->knn_order, n);
    qsort(tr->knn_order, (size_t)bank, sizeof(int), compare_int);
    tr->knn_on = 1;
    return 0;
}

// The model (from scratch or a fine-tuning start), the data, the optimizer and the batch
// buffers of a run; for a linear probe, the model, the data and one batch.
static int setup(Trainer *tr)
{
    const JobSpec *s = tr->spec;
    ModelConfig cfg;
    CheckpointMeta from = {0};
    SafeTensors init = {0};
    char err[1024];
    ops_set_threads(s->train.threads ? s->train.threads : tr->dist->threads);
    // Before model_create, which sizes the bf16 packing buffers for the precision.
    if (ops_set_precision(s->train.precision, err, sizeof err))
        return train_fail(tr, "train.precision: %s", err);
    int rc = resolve_model(tr, &cfg, &from, &init);
    s = tr->spec; // adopted from a checkpoint
    if (!rc) rc = load_data(tr, &cfg, &from);
    // Rank 0 evaluates, on whole batches; the others hold their rows of one.
    int capacity = tr->dist->rank == 0 ? s->train.batch_size : tr->rows;
    if (!rc && model_create(&tr->model, &cfg, capacity, err, sizeof err))
        rc = train_fail(tr, "%s", err);
    if (rc) {
        if (from.kind) safetensors_free(&init);
        return rc;
    }
    Model *m = &tr->model;
    m->label_smoothing = (float)s->finetune.label_smoothing;
    for (int c = 0; c < cfg.in_chans; c++)
        m->pixel_mean[c] = (float)tr->ds.mean[c], m->pixel_std[c] = (float)tr->ds.std[c];
    Rng init_rng;
    rng_seed(&init_rng, s->train.seed);
    model_init_weights(m, &init_rng);
    if (m->params.palette && !from.kind && fit_palette(tr, m, err, sizeof err))
        return train_fail(tr, "loss.palette: %s", err);
    if (from.kind) { // a continued pretraining takes every tensor, its palette too
        rc = checkpoint_load_params(m, &init, s->kind == JOB_FINETUNE, err, sizeof err);
        safetensors_free(&init);
        if (rc) return train_fail(tr, "%s: %s", spec_init_from_field(s), err);
    }
    if (s->kind == JOB_LINPROBE) // no optimizer, schedule or loader: features, then a solver
        return alloc_batch(&tr->eval, &cfg, s->train.batch_size, s->train.batch_size) ||
                       !(tr->eval_indices = malloc(sizeof(int) * s->train.batch_size))
                   ? train_fail(tr, "out of memory")
                   : 0;

    tr->steps_per_epoch = tr->ds.train.count / s->train.batch_size;
    // data.prefetch steps ahead, but never more than an epoch (see Trainer.orders)
    tr->slot_count = 1 + (int)(s->data.prefetch < tr->steps_per_epoch ? s->data.prefetch
                                                                       : tr->steps_per_epoch);
    if (tr->slot_count > MAX_LOADER_SLOTS) tr->slot_count = MAX_LOADER_SLOTS;
    tr->total_steps = s->train.total_steps ? s->train.total_steps
                                           : tr->steps_per_epoch * s->train.epochs;
    tr->end_step = s->train.max_steps > 0 && s->train.max_steps < tr->total_steps ? s->train.max_steps
                                                                                : tr->total_steps;
    int finetune = s->kind == JOB_FINETUNE;
    tr->optim = (OptimConfig){
        .lr = s->train.lr, .min_lr = s->train.min_lr,
        .warmup_steps = warmup_steps(s, tr->steps_per_epoch, tr->total_steps),
        .total_steps = tr->total_steps, .weight_decay = s->train.weight_decay,
        .beta1 = s->train.betas[0], .beta2 = s->train.betas[1], .eps = 1e-8,
        .clip_grad = s->train.clip_grad, .layer_decay = finetune ? s->finetune.layer_decay : 1.0};
    if (adamw_create(&tr->opt, &tr->optim, m->num_params) ||
        alloc_batches(tr->slots, tr->slot_count, &cfg, s->train.batch_size, tr->rows) ||
        !(tr->orders[0] = malloc(sizeof(int) * tr->ds.train.count)) ||
        !(tr->orders[1] = malloc(sizeof(int) * tr->ds.train.count)))
        return train_fail(tr, "out of memory");
    tr->order_epoch[0] = tr->order_epoch[1] = -1;
    if (tr->dist->rank != 0) return 0; // evaluation, previews, the k-NN bank: rank 0's
    if (alloc_batch(&tr->eval, &cfg, s->train.batch_size, s->train.batch_size) ||
        !(tr->eval_indices = malloc(sizeof(int) * s->train.batch_size)))
        return train_fail(tr, "out of memory");
    if (!finetune &&
        (!(tr->preview_image = malloc(sizeof(float) * (size_t)PREVIEW_IMAGES * cfg.in_chans *
                                      cfg.img_size * cfg.img_size)) ||
         !(tr->preview_scratch = malloc(sizeof(float) *
                                        simmim_prediction_scratch_floats(&cfg, PREVIEW_IMAGES)))))
        return train_fail(tr, "out of memory");
    if (!finetune && head_sections_json(tr)) return train_fail(tr, "out of memory");
    return finetune ? 0 : setup_knn(tr);
}

// A complete checkpoint whose weights do not hash to what events.jsonl recorded for them:
// moved aside to step-<N>.safetensors.corrupt (kept for inspection; no longer a checkpoint to
// resume from or to count among the kept ones) and reported with a checkpoint_corrupt event.
typedef struct {
    int count;
    long steps[8];
    char expected[8][65], actual[8][65];
} CorruptCheckpoints;

static void note_corrupt(void *ctx, long step, const char *path, const char *expected,
                         const char *actual)
{
    CorruptCheckpoints *c = ctx;
    char aside[PATH_BUF];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    if (rename(path, aside))
        fprintf(stderr, "simmim-train: cannot move %s aside: %s\n", path, strerror(errno));
    if (c->count == 8) return;
    c->steps[c->count] = step;
    memcpy(c->expected[c->count], expected, 65);
    memcpy(c->actual[c->count++], actual, 65);
}

static void report_corrupt(Trainer *tr, const CorruptCheckpoints *c, long resume_step)
{
    char rel[64];
    if (resume_step < 0) resume_step = 0; // none left: from scratch
    for (int i = 0; i < c->count; i++) {
        snprintf(rel, sizeof rel, "checkpoints/step-%ld.safetensors", c->steps[i]);
        fprintf(stderr, "simmim-train: %s is corrupt (sha256 %s, recorded %s); moved aside to "
                "%s.corrupt; resuming from step %ld\n", rel, c->actual[i], c->expected[i], rel,
                resume_step);
        emit(tr, "checkpoint_corrupt",
             json_pack("{s:I, s:s, s:s, s:s, s:I}", "step", (json_int_t)c->steps[i], "path", rel,
                       "expected_sha256", c->expected[i], "actual_sha256", c->actual[i],
                       "resume_step", (json_int_t)resume_step));
    }
}

// Continues from the run dir's newest complete checkpoint whose weights match the sha256
// recorded for them, if there is one: with --resume its weights and AdamW state replace the
// fresh ones (newer ones that do not match are moved aside and reported); without, a run dir
// that holds checkpoints is refused rather than overwritten.
static int resume_from_checkpoint(Trainer *tr, int requested)
{
    Model *m = &tr->model;
    char err[1024];
    long latest = checkpoint_find_latest(tr->run_dir);
    if (latest >= 0 && !requested)
        return train_fail(tr, "run dir %s already holds checkpoints; pass --resume to continue "
                              "it or use a new run dir", tr->run_dir);
    if (latest >= 0) {
        CorruptCheckpoints corrupt = {0};
        latest = checkpoint_find_resumable(tr->run_dir, note_corrupt, &corrupt);
        report_corrupt(tr, &corrupt, latest);
    }
    tr->start_step = 0;
    if (latest >= 0) {
        char path[PATH_BUF];
        SafeTensors st;
        ModelConfig saved;
        CheckpointMeta meta;
        snprintf(path, sizeof path, "%s/checkpoints/step-%ld.safetensors", tr->run_dir, latest);
        if (checkpoint_read(path, &st, &saved, &meta, err, sizeof err))
            return train_fail(tr, "resume: %s", err);
        int rc = checkpoint_load_params(m, &st, 0, err, sizeof err);
        safetensors_free(&st);
        if (rc) return train_fail(tr, "resume: %s: %s", path, err);
        snprintf(path, sizeof path, "%s/checkpoints/step-%ld.state", tr->run_dir, latest);
        if (checkpoint_read_state(path, m, &tr->opt, &tr->resumed_ranks, err, sizeof err) != latest)
            return train_fail(tr, "resume: %s", err);
        if (tr->resumed_ranks != tr->dist->ranks)
            fprintf(stderr, "simmim-train: resuming step %ld, trained on %d rank%s, on %d\n", latest,
                    tr->resumed_ranks, tr->resumed_ranks == 1 ? "" : "s", tr->dist->ranks);
        tr->start_step = tr->last_checkpoint_step = latest;
    }
    return 0;
}

// Every rank starts from rank 0's weights, AdamW moments and step (a run resumes from rank 0's
// run dir; the others never read it).
static int share_start(Trainer *tr)
{
    Model *m = &tr->model;
    AdamW *o = &tr->opt;
    long steps[2] = {tr->start_step, o->step};
    size_t bytes = sizeof(float) * m->num_params;
    char err[1024];
    if (dist_broadcast(tr->dist, steps, sizeof steps, "sharing the starting step", err, sizeof err) ||
        dist_broadcast(tr->dist, m->params_mem, bytes, "sharing the weights", err, sizeof err) ||
        dist_broadcast(tr->dist, o->m, bytes, "sharing AdamW's moments", err, sizeof err) ||
        dist_broadcast(tr->dist, o->v, bytes, "sharing AdamW's moments", err, sizeof err))
        return train_fail(tr, "%s", err);
    tr->start_step = steps[0];
    o->step = steps[1];
    return 0;
}

// The loader's fill callback: the batch of step t, a function of (seed, t) alone.
// The permutation of epoch `epoch` (one of the two kept; see Trainer.orders).
static const int *epoch_order(Trainer *tr, long epoch)
{
    int which = (int)(epoch % 2);
    if (tr->order_epoch[which] != epoch) {
        Rng order_rng;
        rng_seed(&order_rng,
                 rng_stream_seed(tr->spec->train.seed, RNG_STREAM_ORDER, (uint64_t)epoch));
        rng_permutation(&order_rng, tr->orders[which], tr->ds.train.count);
        tr->order_epoch[which] = epoch;
    }
    return tr->orders[which];
}

// Step t's samples from the shards' stream into b (the loader's prepare, in step order); a
// stream that runs dry (fewer good samples than counted) leaves hopeless images.
static void read_shard_batch(Trainer *tr, long t, BatchBuffers *b)
{
    int B = tr->spec->train.batch_size;
    long epoch = t / tr->steps_per_epoch, first = (t % tr->steps_per_epoch) * B;
    tr->reading = b;
    b->read_error_count = 0;
    for (int i = 0; i < B; i++) {
        char err[SHARDED_MESSAGE_MAX];
        b->failures[i] = 0;
        if (sharded_train_sample(&tr->sharded, epoch, first + i, &b->samples[i], err, sizeof err))
            note_read_error(tr, err);
    }
    tr->reading = NULL;
}

// This rank's part of a batch drawn whole (the draws of a step do not depend on the ranks): its
// share of the batch's loss — a masked loss's denominator counts masked pixels, so its rows'
// masked tokens over the batch's, else its rows over the batch — and its drop-path draws,
// moved to the front of each block's [2, B] (the model reads [blocks, 2, rows]).
static void take_rows(Trainer *tr, BatchBuffers *b)
{
    const ModelConfig *cfg = &tr->model.cfg;
    int B = tr->spec->train.batch_size, R = tr->rows;
    b->loss_weight = (double)R / B;
    if (R == B) return;
    if (tr->spec->kind == JOB_PRETRAIN && !cfg->loss.full_image) {
        long N = model_num_patches(cfg);
        double mine = 0.0, all = 0.0;
        for (long i = 0; i < B * N; i++) {
            all += b->token_mask[i];
            if (i / N >= tr->first && i / N < tr->first + R) mine += b->token_mask[i];
        }
        b->loss_weight = mine / all;
    }
    if (tr->spec->kind == JOB_FINETUNE)
        for (long lj = 0; lj < 2L * model_total_blocks(cfg); lj++)
            memmove(b->drop_keep + lj * R, b->drop_keep + lj * B + tr->first, sizeof(float) * R);
}

// The loader's prepare callback: the samples, masks and drop-path draws of step t — and, for
// cached data, this rank's images — a function of (seed, t) alone.
static void prepare_train_batch(void *ctx, long t, int slot)
{
    Trainer *tr = ctx;
    const JobSpec *s = tr->spec;
    const ModelConfig *cfg = &tr->model.cfg;
    BatchBuffers *b = &tr->slots[slot];
    int B = s->train.batch_size;
    if (tr->sharding) {
        read_shard_batch(tr, t, b);
    } else {
        const int *order = epoch_order(tr, t / tr->steps_per_epoch);
        memcpy(b->indices, order + (t % tr->steps_per_epoch) * B, sizeof(int) * B);
    }
    if (!tr->streaming)
        augment_batch(&tr->ds, &tr->ds.train, b->indices + tr->first, tr->rows, &s->augment,
                      s->train.seed, t, tr->first, b->images, b->labels);
    Rng rng;
    if (s->kind == JOB_PRETRAIN) {
        rng_seed(&rng, rng_stream_seed(s->train.seed, RNG_STREAM_MASK, (uint64_t)t));
        simmim_mask(b->token_mask, B, &s->mask, cfg, &rng);
    } else {
        rng_seed(&rng, rng_stream_seed(s->train.seed, RNG_STREAM_DROP, (uint64_t)t));
        for (int l = 0; l < model_total_blocks(cfg); l++) {
            double rate = model_drop_path_rate(cfg, l);
            for (int i = 0; i < 2 * B; i++)
                b->drop_keep[(size_t)l * 2 * B + i] = rng_uniform(&rng) >= rate ? 1.0f : 0.0f;
        }
    }
    take_rows(tr, b);
}

// The candidates of image `index` of a batch read from shards: the samples after it in the
// batch (its stream position is taken, so a replacement comes from what the step holds).
typedef struct {
    const BatchBuffers *b;
    int count, index;
} BatchCandidates;

static int batch_candidate(void *ctx, int k, SampleBytes *buffer, const uint8_t **bytes,
                           size_t *len, const char **name, int *label, char *err, size_t errlen)
{
    (void)buffer, (void)err, (void)errlen;
    const BatchCandidates *c = ctx;
    const ShardedSample *sample = &c->b->samples[(c->index + k) % c->count];
    *bytes = sample->sample.image, *len = sample->sample.image_len;
    *name = sample->name, *label = sample->sample.label;
    return 0;
}

// Decodes image `index` of batch b — from shards or a folder's order — into b's images and
// labels at `row` on scratch slot `thread`, recording its failures at `index`.
static void decode_batch_image(Trainer *tr, BatchBuffers *b, int count, int index, int row,
                               const StreamView *view, const int *order, long position,
                               const SampleSplit *split, int thread)
{
    Streamed *st = &tr->streamed;
    float *out = b->images + (size_t)row * st->channels * st->size * st->size;
    BatchCandidates shard = {.b = b, .count = count, .index = index};
    FolderCandidates folder = {.st = st, .split = split, .order = order, .position = position};
    b->failures[index] =
        tr->sharding
            ? streamed_decode(st, batch_candidate, &shard, count, view, thread, out,
                              &b->labels[row], &b->errors[index])
            : streamed_decode(st, folder_candidate, &folder, folder_tries(split), view, thread,
                              out, &b->labels[row], &b->errors[index]);
}

// The loader's image callback for streamed data: this rank's image `row` of step t — image
// first + row of the batch — decoded on worker `worker`, a sample that fails replaced by the
// next of the epoch's order (a folder) or of the batch (shards): whichever rank decodes it,
// the same image, crop and replacement.
static void decode_train_image(void *ctx, long t, int slot, int row, int worker)
{
    Trainer *tr = ctx;
    const JobSpec *s = tr->spec;
    const Streamed *st = &tr->streamed;
    int index = tr->first + row;
    StreamView view = {.channels = st->channels, .size = st->size, .mean = st->mean,
                       .std = st->std, .aug = &s->augment, .seed = s->train.seed, .step = t,
                       .slot = index};
    long position = (t % tr->steps_per_epoch) * s->train.batch_size + index;
    decode_batch_image(tr, &tr->slots[slot], s->train.batch_size, index, row, &view,
                       tr->orders[(t / tr->steps_per_epoch) % 2], position, &st->list.train,
                       worker);
}

// A data_error event per sample of a streamed batch that failed to decode (step: the one
// being trained, or the last one done for an evaluation); counted in tr->data_errors. Returns
// the message of the last, or NULL if none failed; *hopeless = 1 if no replacement decoded.
// Ranks other than 0 only count them (rank 0 reports every rank's: share_data_errors).
static const char *report_data_errors(Trainer *tr, long step, const char *split_name,
                                      const BatchBuffers *b, int n, int *hopeless)
{
    const char *last = NULL;
    int speak = tr->dist->rank == 0;
    for (int i = 0; i < b->read_error_count; i++) { // shards: what reading the batch met
        const char *message = i < n ? b->read_errors[i] : "(more read errors: not kept)";
        tr->data_errors++;
        last = message;
        if (!speak) continue;
        fprintf(stderr, "simmim-train: data error: %s\n", message);
        emit(tr, "data_error", json_pack("{s:I, s:s, s:s, s:I}", "step", (json_int_t)step, "split",
                                         split_name, "message", message, "data_errors",
                                         (json_int_t)tr->data_errors));
    }
    for (int i = 0; i < n; i++) {
        if (!b->failures[i]) continue;
        const StreamedError *e = &b->errors[i];
        tr->data_errors += b->failures[i] > 0 ? b->failures[i] : STREAMED_MAX_REPLACEMENTS;
        *hopeless |= b->failures[i] < 0;
        last = e->message;
        if (!speak) continue;
        fprintf(stderr, "simmim-train: data error: %s\n", e->message);
        emit(tr, "data_error",
             json_pack("{s:I, s:s, s:s, s:s, s:s?, s:I}", "step", (json_int_t)step, "split",
                       split_name, "path", e->failed, "message", e->message, "replaced_by",
                       e->replacement[0] ? e->replacement : NULL, "data_errors",
                       (json_int_t)tr->data_errors));
    }
    return last;
}

// A streamed batch's failures, each rank having decoded its rows (their counts and errors at
// the rows' places of the slot's arrays): every rank gets every count — so all count the same
// data errors and make the same decision — and rank 0, when other ranks' rows failed, their
// errors, which it reports. The replacements themselves need no exchange: each is the next
// sample of the order every rank knows, decoded by the rank whose row it fills.
static int share_data_errors(Trainer *tr, long step, BatchBuffers *b)
{
    int B = tr->spec->train.batch_size, R = tr->rows, elsewhere = 0;
    char what[64], err[1024];
    if (R == B) return 0;
    snprintf(what, sizeof what, "step %ld's data errors", step);
    if (dist_gather(tr->dist, b->failures, sizeof *b->failures * R, 1, what, err, sizeof err))
        return train_fail(tr, "%s", err);
    for (int i = R; i < B; i++) elsewhere |= b->failures[i] != 0;
    if (elsewhere &&
        dist_gather(tr->dist, b->errors, sizeof *b->errors * R, 0, what, err, sizeof err))
        return train_fail(tr, "%s", err);
    return 0;
}

// After a streamed training batch: its data errors reported, then the job fails (on every rank
// together) if no replacement decoded or more than data.max_error_fraction of the images seen so
// far (with an allowance of MIN_DATA_ERRORS) failed.
static int account_data_errors(Trainer *tr, long step, BatchBuffers *b)
{
    int n = tr->spec->train.batch_size, hopeless = 0;
    if (share_data_errors(tr, step, b)) return 1;
    const char *last = report_data_errors(tr, step, "train", b, n, &hopeless);
    tr->images_seen += n;
    double allowed = tr->spec->data.max_error_fraction * (double)tr->images_seen;
    if (hopeless)
        return fail_together(tr, "dataset: %d samples in a row failed to decode at step %ld; the "
                                 "first: %s", STREAMED_MAX_REPLACEMENTS, step, last);
    if (tr->data_errors > MIN_DATA_ERRORS && tr->data_errors > allowed)
        return fail_together(tr, "dataset: %ld of the %ld images read so far failed to decode, "
                                 "more than data.max_error_fraction (%g) allows; the last: %s",
                             tr->data_errors, tr->images_seen, tr->spec->data.max_error_fraction,
                             last ? last : "see the data_error events");
    return 0;
}

// Streamed images [first, first + n) of a split in the evaluation view into tr->eval on the
// trainer's threads (scratch slots after the loader's workers), in the split's order or, given
// one, order's; one that fails is replaced by the next of that order and, unless the k-NN
// bank has been filled before (its failures are the same at every evaluation: reported once),
// reported as a training image's (its failures count towards the same fraction).
static void decode_eval_images(Trainer *tr, int train_split, const int *order, int first, int n)
{
    Streamed *st = &tr->streamed;
    BatchBuffers *b = &tr->eval;
    StreamView view = {.channels = st->channels, .size = st->size, .mean = st->mean,
                       .std = st->std};
    const SampleSplit *split = train_split ? &st->list.train : &st->list.test;
    int workers = spec_data_workers(tr->spec);
    if (tr->sharding) { // the test split, read in order on this thread, then decoded in parallel
        tr->reading = b;
        b->read_error_count = 0;
        for (int i = 0; i < n; i++) {
            char err[SHARDED_MESSAGE_MAX];
            if (sharded_test_sample(&tr->sharded, first + i, &b->samples[i], err, sizeof err))
                note_read_error(tr, err);
        }
        tr->reading = NULL;
    }
#pragma omp parallel for
    for (int i = 0; i < n; i++)
        decode_batch_image(tr, b, n, i, i, &view, order, first + i, split,
                           workers + omp_get_thread_num());
    int hopeless = 0; // 64 images in a row that fail: counted; the batch is then unusable
    if (order != tr->knn_order || !tr->knn_bank_filled)
        report_data_errors(tr, tr->progress_step, train_split ? "train" : "test", b, n, &hopeless);
}

// Fills tr->eval with images [first, first + n) of the training or test split in the
// evaluation view (padded and normalized, nothing else) and their labels: in the split's order,
// or order's (the k-NN bank's).
static void view_batch(Trainer *tr, int train_split, const int *order, int first, int n)
{
    if (tr->streaming) {
        decode_eval_images(tr, train_split, order, first, n);
        return;
    }
    for (int i = 0; i < n; i++) tr->eval_indices[i] = order ? order[first + i] : first + i;
    augment_batch(&tr->ds, train_split ? &tr->ds.train : &tr->ds.test, tr->eval_indices, n, NULL,
                  0, 0, 0, tr->eval.images, tr->eval.labels);
}

// Fills tr->eval with test images [first, first + n) and their fixed masks; returns the batch.
static Batch eval_batch(Trainer *tr, int first, int n, long batch_index)
{
    view_batch(tr, 0, NULL, first, n);
    Batch b = {.size = n, .images = tr->eval.images};
    if (tr->spec->kind == JOB_PRETRAIN) {
        Rng rng;
        rng_seed(&rng, rng_stream_seed(EVAL_SEED, RNG_STREAM_EVAL_MASK, (uint64_t)batch_index));
        simmim_mask(tr->eval.token_mask, n, &tr->spec->mask, &tr->model.cfg, &rng);
        b.token_mask = tr->eval.token_mask;
    } else {
        b.labels = tr->eval.labels;
    }
    return b;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

// The probes' features as a safetensors file in the --dump-features folder: each (name, rows
// [count, D], labels [count], as floats) pair, and metadata. -1 with *err filled on failure.
typedef struct {
    const char *name;
    const float *rows;
    const int *labels;
    long count;
} FeatureSet;

static int dump_features(Trainer *tr, const char *file, const FeatureSet *sets, int set_count,
                         const char *const *keys, const char *const *values, int meta_count)
{
    enum { MAX_SETS = 2 };
    StTensor t[2 * MAX_SETS];
    char names[2 * MAX_SETS][64], path[PATH_BUF], err[1024];
    float *labels[MAX_SETS] = {0};
    int rc = 0, D = model_out_dim(&tr->model.cfg);
    for (int i = 0; i < set_count && !rc; i++) {
        long n = sets[i].count;
        labels[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!labels[i]) rc = -1;
        for (long j = 0; !rc && j < n; j++) labels[i][j] = (float)sets[i].labels[j];
        snprintf(names[2 * i], sizeof names[0], "%s_features", sets[i].name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s_labels", sets[i].name);
        t[2 * i] = (StTensor){.name = names[2 * i], .ndim = 2, .shape = {n, D},
                              .numel = (size_t)n * D, .data = (float *)sets[i].rows};
        t[2 * i + 1] = (StTensor){.name = names[2 * i + 1], .ndim = 1, .shape = {n},
                                  .numel = (size_t)n, .data = labels[i]};
    }
    snprintf(path, sizeof path, "%s/%s", tr->dump_dir, file);
    if (!rc) rc = safetensors_write(path, t, 2 * set_count, keys, values, meta_count, err, sizeof err);
    else snprintf(err, sizeof err, "out of memory");
    for (int i = 0; i < set_count; i++) free(labels[i]);
    return rc ? train_fail(tr, "--dump-features: %s: %s", path, err) : 0;
}

// The k-NN bank's features at this step: its images in the evaluation view, batch by batch,
// then L2-normalized.
static void fill_knn_bank(Trainer *tr)
{
    Knn *knn = &tr->knn;
    int B = tr->model.batch, D = knn->dim;
    for (int first = 0; first < knn->bank_count; first += B) {
        int n = knn->bank_count - first < B ? knn->bank_count - first : B;
        view_batch(tr, 1, tr->knn_order, first, n);
        model_features(&tr->model, tr->eval.images, n, knn->bank + (size_t)first * D);
        memcpy(knn->bank_labels + first, tr->eval.labels, sizeof(int) * n);
    }
    tr->knn_bank_filled = 1;
    probe_l2_normalize(knn->bank, knn->bank_count, D);
}

// The k-NN probe on n images in tr->eval (test images [first, first + n)): their features,
// L2-normalized into tr->features (a dump's rows `first` on), voted on by the bank in chunks
// of the similarities' rows; returns how many it predicts right.
static int knn_correct(Trainer *tr, int first, int n, float *dump_rows, int *dump_labels)
{
    Knn *knn = &tr->knn;
    int D = knn->dim, correct = 0;
    model_features(&tr->model, tr->eval.images, n, tr->features);
    probe_l2_normalize(tr->features, n, D);
    for (int q = 0; q < n; q += knn->max_queries) {
        int count = n - q < knn->max_queries ? n - q : knn->max_queries;
        knn_predict(knn, tr->features + (size_t)q * D, count, tr->spec->knn.temperature,
                    tr->predictions + q);
    }
    for (int i = 0; i < n; i++) correct += tr->predictions[i] == tr->eval.labels[i];
    if (dump_rows) {
        memcpy(dump_rows + (size_t)first * D, tr->features, sizeof(float) * n * D);
        memcpy(dump_labels + first, tr->eval.labels, sizeof(int) * n);
    }
    return correct;
}

// With --dump-features, the k-NN probe's features at this step (knn-step-<step>.safetensors):
// the bank's and the test split's, L2-normalized as the probe compares them.
static int dump_knn_features(Trainer *tr, long step, const float *test_rows,
                             const int *test_labels)
{
    char file[64], k[16], temperature[32], top1[32];
    snprintf(file, sizeof file, "knn-step-%ld.safetensors", step);
    snprintf(k, sizeof k, "%d", tr->knn.k);
    snprintf(temperature, sizeof temperature, "%.17g", tr->spec->knn.temperature);
    snprintf(top1, sizeof top1, "%.17g", tr->knn_top1);
    const FeatureSet sets[2] = {
        {"bank", tr->knn.bank, tr->knn.bank_labels, tr->knn.bank_count},
        {"test", test_rows, test_labels, tr->ds.test.count}};
    const char *const keys[] = {"k", "temperature", "knn_top1", "classes"};
    char classes[16];
    snprintf(classes, sizeof classes, "%d", tr->knn.classes);
    const char *const values[] = {k, temperature, top1, classes};
    return dump_features(tr, file, sets, 2, keys, values, 4);
}

// Validation over the whole test split: masked loss (pretraining) or cross-entropy and top-1;
// and in a pretraining with eval.knn, the k-NN probe's top-1.
static int evaluate(Trainer *tr, long step)
{
    Model *m = &tr->model;
    int B = m->batch, n_test = tr->ds.test.count, correct = 0, knn_right = 0;
    float smoothing = m->label_smoothing;
    m->label_smoothing = 0.0f; // validation reports plain cross-entropy
    double loss_sum = 0.0, knn_start = wall_time();
    float *dump_rows = NULL;
    int *dump_labels = NULL;
    if (tr->knn_on) fill_knn_bank(tr);
    if (tr->knn_on && tr->dump_dir &&
        (!(dump_rows = malloc(sizeof(float) * (size_t)n_test * tr->knn.dim)) ||
         !(dump_labels = malloc(sizeof(int) * (size_t)n_test)))) {
        free(dump_rows);
        return train_fail(tr, "--dump-features: out of memory");
    }
    tr->knn_seconds = wall_time() - knn_start;
    for (int first = 0, bi = 0; first < n_test; first += B, bi++) {
        int n = n_test - first < B ? n_test - first : B;
        Batch b = eval_batch(tr, first, n, bi);
        loss_sum += (double)model_forward(m, &b) * n;
        if (tr->spec->kind == JOB_FINETUNE)
            for (int i = 0; i < n; i++)
                correct += argmax(m->acts.logits + (size_t)i * m->cfg.num_classes, m->cfg.num_classes) ==
                           b.labels[i];
        if (tr->knn_on) {
            double start = wall_time();
            knn_right += knn_correct(tr, first, n, dump_rows, dump_labels);
            tr->knn_seconds += wall_time() - start;
        }
    }
    m->label_smoothing = smoothing;
    tr->val_loss = loss_sum / n_test;
    tr->top1 = 100.0 * correct / n_test;
    tr->knn_top1 = 100.0 * knn_right / n_test;
    tr->eval_epoch = (int)(step / tr->steps_per_epoch);
    tr->has_eval = 1;
    int rc = dump_rows ? dump_knn_features(tr, step, dump_rows, dump_labels) : 0;
    free(dump_rows);
    free(dump_labels);
    if (rc) return rc;
    if (!isfinite(tr->val_loss))
        return train_fail(tr, "validation loss is not finite at step %ld", step);
    json_t *ev = json_pack("{s:I, s:i, s:f}", "step", (json_int_t)step, "epoch", tr->eval_epoch,
                           "val_loss", tr->val_loss);
    fprintf(stderr, "step %ld epoch %d: val_loss %.4f", step, tr->eval_epoch, tr->val_loss);
    if (tr->spec->kind == JOB_FINETUNE) {
        json_object_set_new(ev, "top1", json_real(tr->top1));
        fprintf(stderr, " top1 %.2f%%", tr->top1);
    }
    if (tr->knn_on) {
        json_object_update_new(ev, json_pack("{s:f, s:f}", "knn_top1", tr->knn_top1, "knn_s",
                                             tr->knn_seconds));
        fprintf(stderr, " knn_top1 %.2f%% (%.1f s)", tr->knn_top1, tr->knn_seconds);
    }
    fprintf(stderr, "\n");
    emit(tr, "eval", ev);
    return 0;
}

static int write_preview(Trainer *tr, long step)
{
    Model *m = &tr->model;
    const ModelConfig *c = &m->cfg;
    int n = PREVIEW_IMAGES;
    if (n > m->batch) n = m->batch;
    if (n > tr->ds.test.count) n = tr->ds.test.count;
    Batch b = eval_batch(tr, 0, n, 0);
    model_forward(m, &b);
    simmim_prediction_image(m, tr->preview_image, tr->preview_scratch);
    char rel[64], path[PATH_BUF], err[1024];
    snprintf(rel, sizeof rel, "previews/step-%ld.png", step);
    snprintf(path, sizeof path, "%s/%s", tr->run_dir, rel);
    if (preview_write_png(path, b.images, tr->preview_image, b.token_mask, n, c->in_chans,
                          c->img_size, c->patch_size, tr->ds.mean, tr->ds.std, err, sizeof err))
        return train_fail(tr, "preview: %s", err);
    emit(tr, "preview", json_pack("{s:I, s:s}", "step", (json_int_t)step, "path", rel));
    return 0;
}

static void delete_old_checkpoints(Trainer *tr)
{
    long *steps = NULL;
    int count = checkpoint_steps(tr->run_dir, &steps);
    char path[PATH_BUF], rel[64];
    for (int i = tr->spec->schedule.keep_checkpoints; i < count; i++) {
        snprintf(rel, sizeof rel, "checkpoints/step-%ld.safetensors", steps[i]);
        snprintf(path, sizeof path, "%s/%s", tr->run_dir, rel);
        unlink(path);
        snprintf(path, sizeof path, "%s/checkpoints/step-%ld.state", tr->run_dir, steps[i]);
        unlink(path);
        emit(tr, "checkpoint_deleted", json_pack("{s:I, s:s}", "step", (json_int_t)steps[i], "path", rel));
    }
    free(steps);
}

static int write_checkpoint(Trainer *tr, long step)
{
    const JobSpec *s = tr->spec;
    char rel[64], path[PATH_BUF], err[1024], sha[65];
    snprintf(path, sizeof path, "%s/checkpoints/step-%ld.state", tr->run_dir, step);
    if (checkpoint_write_state(path, &tr->opt, step, tr->dist->ranks, err, sizeof err))
        return train_fail(tr, "checkpoint: %s", err);
    CheckpointMeta meta = {.kind = s->kind == JOB_PRETRAIN ? "pretrain" : "finetune", .step = step,
                           .seed = s->train.seed, .channels = tr->model.cfg.in_chans,
                           .pad = tr->ds.pad, .job_id = s->job_id,
                           .dataset = s->dataset_name[0] ? s->dataset_name : NULL,
                           .mask_json = tr->head_json[0], .decoder_json = tr->head_json[1],
                           .target_json = tr->head_json[2], .loss_json = tr->head_json[3]};
    memcpy(meta.mean, tr->ds.mean, sizeof meta.mean);
    memcpy(meta.std, tr->ds.std, sizeof meta.std);
    snprintf(rel, sizeof rel, "checkpoints/step-%ld.safetensors", step);
    snprintf(path, sizeof path, "%s/%s", tr->run_dir, rel);
    if (checkpoint_write_weights(path, &tr->model, &meta, err, sizeof err))
        return train_fail(tr, "checkpoint: %s", err);
    struct stat sb;
    if (stat(path, &sb) || sha256_file(path, sha))
        return train_fail(tr, "checkpoint: cannot read back %s", path);
    tr->last_checkpoint_step = step;
    emit(tr, "checkpoint", json_pack("{s:I, s:s, s:I, s:s}", "step", (json_int_t)step, "path", rel,
                                     "bytes", (json_int_t)sb.st_size, "sha256", sha));
    delete_old_checkpoints(tr);
    return 0;
}

static void report_progress(Trainer *tr, long step)
{
    double now = wall_time(), elapsed = now - tr->progress_time;
    long steps = step - tr->progress_step;
    if (steps == 0) // only the start-up step so far: the rate it gives is all there is
        elapsed = now - tr->startup_time, steps = 1;
    // The rate is the training's: an evaluation in the interval would halve it every epoch.
    // The ETA goes by the wall time of every step since the start-up, evaluations and all, so
    // that it does not jump at each.
    double training = elapsed - tr->aside_time;
    double img_per_s = training > 0 ? steps * (double)tr->spec->train.batch_size / training : 0.0;
    long measured = step - tr->measured_step;
    double per_step = measured > 0 ? (now - tr->measured_time) / measured : elapsed / steps;
    double eta = per_step * (tr->end_step - step);
    double loss = tr->loss_sum / (tr->loss_steps ? tr->loss_steps : 1);
    double epoch = (double)step / tr->steps_per_epoch;
    fprintf(stderr, "step %ld/%ld epoch %.2f loss %.4f lr %.3g grad_norm %.3f %.1f img/s eta %.0fs\n",
            step, tr->end_step, epoch, loss, tr->last_lr, tr->last_grad_norm, img_per_s, eta);
    json_t *ev = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}", "step",
                           (json_int_t)step, "total_steps", (json_int_t)tr->end_step, "epoch",
                           epoch, "loss", loss, "lr", tr->last_lr, "grad_norm",
                           tr->last_grad_norm, "img_per_s", img_per_s, "eta_s", eta,
                           "data_wait_s", tr->data_wait, "data_errors",
                           (json_int_t)tr->data_errors);
    if (ev && tr->dist->ranks > 1)
        json_object_set_new(ev, "exchange_s", json_real(tr->exchange_time));
    emit(tr, "progress", ev);
    tr->exchange_time = 0.0;
    tr->aside_time = 0.0;
    tr->loss_sum = 0.0;
    tr->loss_steps = 0;
    tr->progress_time = now;
    tr->progress_step = step;
    tr->data_wait = 0.0;
}

// The step's gradients and loss over the ranks: each rank's weighted by its share of the batch's
// loss (take_rows), then summed — the gradient of the whole batch's loss, the same on every rank.
static int exchange(Trainer *tr, long t, double weight, float *loss)
{
    if (tr->dist->ranks == 1) return 0;
    double start = wall_time(), sum = *loss * weight;
    Model *m = &tr->model;
    float w = (float)weight;
    char what[64], err[1024];
#pragma omp parallel for
    for (size_t i = 0; i < m->num_params; i++) m->grads_mem[i] *= w;
    snprintf(what, sizeof what, "step %ld's gradients", t + 1);
    if (dist_sum_floats(tr->dist, m->grads_mem, m->num_params, what, err, sizeof err) ||
        dist_sum_doubles(tr->dist, &sum, 1, what, err, sizeof err))
        return train_fail(tr, "%s", err);
    *loss = (float)sum;
    tr->exchange_time += wall_time() - start;
    return 0;
}

static int train_step(Trainer *tr, long t, const BatchBuffers *b)
{
    Model *m = &tr->model;
    int finetune = tr->spec->kind == JOB_FINETUNE;
    Batch batch = {.size = tr->rows, .images = b->images,
                   .token_mask = finetune ? NULL : b->token_mask + (size_t)tr->first *
                                                                   model_num_patches(&m->cfg),
                   .labels = finetune ? b->labels : NULL, .drop_keep = finetune ? b->drop_keep : NULL};
    tr->last_lr = lr_at(&tr->optim, t);
    model_zero_grad(m);
    float loss = model_forward(m, &batch);
    model_backward(m);
    if (exchange(tr, t, b->loss_weight, &loss)) return 1;
    if (!isfinite(loss))
        return fail_together(tr, "loss is not finite (%g) at step %ld", loss, t + 1);
    tr->last_grad_norm = clip_grad_norm(m->grads_mem, m->num_params, tr->optim.clip_grad);
    if (!isfinite(tr->last_grad_norm))
        return fail_together(tr, "gradient norm is not finite at step %ld", t + 1);
    adamw_step(&tr->opt, m, tr->last_lr);
    tr->loss_sum += loss;
    tr->loss_steps++;
    return 0;
}

// What happens after step `done` (= steps completed): progress, evaluation, preview,
// checkpoint, each on its schedule and at the end.
static int after_step(Trainer *tr, long done)
{
    const JobSpec *s = tr->spec;
    int last = done == tr->end_step;
    if (done % s->schedule.progress_every_steps == 0 || last) report_progress(tr, done);
    double start = wall_time();
    int failed = ((done % tr->steps_per_epoch == 0 || last) && evaluate(tr, done)) ||
                 (s->kind == JOB_PRETRAIN && (done % s->schedule.preview_every_steps == 0 || last) &&
                  write_preview(tr, done)) ||
                 ((done % s->schedule.checkpoint_every_steps == 0 || last || stop_signal) &&
                  write_checkpoint(tr, done));
    tr->aside_time += wall_time() - start;
    return failed;
}

// after_step on rank 0, working alone while the others wait at the start of the next step
// (after the last there is none: they are done, and are sent nothing).
static int rank0_after_step(Trainer *tr, long done)
{
    if (done == tr->end_step) return after_step(tr, done);
    return solo_begin(tr) ? 1 : solo_end(tr, after_step(tr, done));
}

// A process's first step pays for its start-up (threads, the first touch of the buffers, the
// loader's first batch): the rate and ETA of the progress events are measured after it.
static void leave_out_startup(Trainer *tr, long done)
{
    tr->startup_time = tr->progress_time;
    tr->progress_time = tr->measured_time = wall_time();
    tr->progress_step = tr->measured_step = done;
}

// The share of the mask grid a pretraining's masks hide: exact for random and square masks;
// block masks may fall short of their target, so for them the mean over MASK_RATIO_DRAWS
// masks of a fixed seed.
static double mask_ratio_effective(const MaskConfig *mask, const ModelConfig *cfg)
{
    enum { MASK_RATIO_DRAWS = 256 };
    int side = mask_grid(mask, cfg), target = mask_target_cells(mask, cfg);
    if (mask->type != MASK_BLOCK) return (double)target / (side * side);
    Rng rng;
    rng_seed(&rng, 0);
    uint8_t cells[side * side];
    long masked = 0;
    for (int i = 0; i < MASK_RATIO_DRAWS; i++) {
        memset(cells, 0, sizeof cells);
        masked += mask_block_draw(cells, side, target, mask->min_block, &rng, NULL, NULL);
    }
    return (double)masked / ((double)MASK_RATIO_DRAWS * side * side);
}

// The memory of the run as config.h's sizing function estimates it (what the daemon checks
// train.max_memory_mb against) and as the model and optimizer actually allocated, in MB.
static json_t *memory_report(const Trainer *tr)
{
    const Model *m = &tr->model;
    MemoryEstimate e = model_memory_estimate(&m->cfg, m->batch, m->attention_threads);
    double allocated = (4.0 * m->num_params + m->acts_floats) * sizeof(float);
    return json_pack("{s:f, s:f}", "memory_estimate_mb", memory_estimate_total(&e) / 0x1p20,
                     "memory_allocated_mb", allocated / 0x1p20);
}

// Whether to stop before step t: a signal rank 0 received, its decision for every rank (each
// then stops after the same step; mpirun passes SIGUSR1 to all, but they follow rank 0). With
// it, rank 0's count of data errors, which its evaluations add to: every rank counts on from it,
// so all judge data.max_error_fraction alike (account_data_errors).
static int agree_stop(Trainer *tr, long t, int *stop)
{
    char what[64], err[1024];
    long shared[2] = {stop_signal, tr->data_errors};
    snprintf(what, sizeof what, "the start of step %ld", t + 1);
    if (dist_broadcast(tr->dist, shared, sizeof shared, what, err, sizeof err))
        return train_fail(tr, "%s", err);
    *stop = (int)shared[0];
    tr->data_errors = shared[1];
    return 0;
}

static int run_loop(Trainer *tr)
{
    const JobSpec *s = tr->spec;
    int epochs = (int)((tr->total_steps + tr->steps_per_epoch - 1) / tr->steps_per_epoch);
    json_t *start = json_pack("{s:s, s:I, s:I, s:i, s:I, s:i, s:s, s:s, s:I}", "kind",
                              s->kind == JOB_PRETRAIN ? "pretrain" : "finetune", "total_steps",
                              (json_int_t)tr->end_step, "steps_per_epoch",
                              (json_int_t)tr->steps_per_epoch, "epochs", epochs, "params",
                              (json_int_t)tr->model.num_params, "threads", ops_threads(),
                              "precision", spec_precision_name(ops_precision()), "engine",
                              ops_precision_engine(), "resumed_from_step", (json_int_t)tr->start_step);
    if (start && s->kind == JOB_PRETRAIN)
        json_object_set_new(start, "mask_ratio_effective",
                            json_real(mask_ratio_effective(&s->mask, &tr->model.cfg)));
    if (start) json_object_update_new(start, memory_report(tr));
    if (start)
        json_object_update_new(start, json_pack("{s:i, s:i}", "ranks", tr->dist->ranks,
                                                "resumed_ranks", tr->resumed_ranks));
    if (start)
        json_object_update_new(start, json_pack("{s:s, s:s, s:i, s:i}", "data_path",
                                                data_path_name(tr),
                                                "data_path_reason", tr->data_path_reason,
                                                "data_workers",
                                                tr->streaming ? spec_data_workers(s) : 1,
                                                "data_prefetch", tr->slot_count - 1));
    emit(tr, "start", start);
    tr->progress_time = tr->measured_time = wall_time();
    tr->progress_step = tr->measured_step = tr->start_step;
    LoaderConfig lc = {.prepare = prepare_train_batch,
                       .image = tr->streaming ? decode_train_image : NULL, .ctx = tr,
                       .images = tr->rows,
                       .workers = tr->streaming ? spec_data_workers(s) : 1,
                       .slots = tr->slot_count};
    Loader *loader = loader_start(&lc, tr->start_step, tr->end_step);
    if (!loader) return train_fail(tr, "cannot start the data loader thread");
    int rc = 0, stop = 0;
    long t = tr->start_step;
    for (; t < tr->end_step && !(rc = agree_stop(tr, t, &stop)) && !stop; t++) {
        int slot = loader_next(loader, t, &tr->data_wait);
        if (tr->streaming && (rc = account_data_errors(tr, t + 1, &tr->slots[slot]))) break;
        if ((rc = train_step(tr, t, &tr->slots[slot]))) break;
        if (t == tr->start_step) leave_out_startup(tr, t + 1);
        if (tr->dist->rank == 0 && (rc = rank0_after_step(tr, t + 1))) break;
    }
    loader_stop(loader);
    if (rc || tr->dist->rank != 0) return rc; // what follows is the outside world's
    if (stop_signal) {
        if (tr->last_checkpoint_step != t && write_checkpoint(tr, t)) return 1;
        emit(tr, "stopped", json_pack("{s:I, s:i}", "step", (json_int_t)t, "signal", (int)stop_signal));
        return 0;
    }
    json_t *done = json_pack("{s:I}", "step", (json_int_t)t);
    if (tr->has_eval) {
        json_object_set_new(done, "epoch", json_integer(tr->eval_epoch));
        json_object_set_new(done, "val_loss", json_real(tr->val_loss));
        if (s->kind == JOB_FINETUNE) json_object_set_new(done, "top1", json_real(tr->top1));
    }
    emit(tr, "done", done);
    return 0;
}

// ---- The linear probe (kind "linprobe") ---------------------------------------------------

// Features of a whole split in the evaluation view, batch by batch: x [count, D] and labels.
// Returns 1 when a stop signal came first.
static int split_features(Trainer *tr, int train_split, float *x, int *labels)
{
    int B = tr->model.batch, D = model_out_dim(&tr->model.cfg);
    int count = train_split ? tr->ds.train.count : tr->ds.test.count;
    for (int first = 0; first < count; first += B) {
        if (stop_signal) return 1;
        int n = count - first < B ? count - first : B;
        view_batch(tr, train_split, NULL, first, n);
        model_features(&tr->model, tr->eval.images, n, x + (size_t)first * D);
        memcpy(labels + first, tr->eval.labels, sizeof(int) * n);
    }
    return 0;
}

// A progress event: the solver's iteration as the step, its objective as the loss.
static void report_solver(Trainer *tr, int iteration, long total, double loss, double grad_norm)
{
    double now = wall_time(), per_step = iteration ? (now - tr->progress_time) / iteration : 0.0;
    fprintf(stderr, "linprobe: iteration %d/%ld loss %.6f grad_norm %.3g\n", iteration, total,
            loss, grad_norm);
    emit(tr, "progress", json_pack("{s:i, s:I, s:f, s:f, s:f, s:f}", "step", iteration,
                                   "total_steps", (json_int_t)total, "epoch",
                                   total ? (double)iteration / total : 1.0, "loss", loss,
                                   "grad_norm", grad_norm, "eta_s", per_step * (total - iteration)));
}

static int solver_progress(void *ctx, int iteration, double loss, double grad_norm)
{
    Trainer *tr = ctx;
    if (iteration % tr->spec->schedule.progress_every_steps == 0)
        report_solver(tr, iteration, tr->spec->linprobe.max_iterations, loss, grad_norm);
    return stop_signal != 0;
}

static int linprobe_stopped(Trainer *tr, int iteration)
{
    emit(tr, "stopped", json_pack("{s:i, s:i}", "step", iteration, "signal", (int)stop_signal));
    return 0;
}

// The encoder's features of the training (labels_per_class applied) and test splits, once;
// standardized; a linear classifier solved on the training features and evaluated on the
// test's (docs/job-spec.md, linprobe). No checkpoint: the result is the events' top1.
static int run_linprobe(Trainer *tr)
{
    const JobSpec *s = tr->spec;
    int D = model_out_dim(&tr->model.cfg), C = tr->ds.num_classes, iterations = s->linprobe.max_iterations;
    long n_train = tr->ds.train.count, n_test = tr->ds.test.count;
    json_t *start = json_pack("{s:s, s:i, s:i, s:i, s:I, s:i, s:s, s:s, s:i, s:I, s:I}", "kind",
                              "linprobe", "total_steps", iterations, "steps_per_epoch", iterations,
                              "epochs", 1, "params", (json_int_t)tr->model.num_params, "threads",
                              ops_threads(), "precision", spec_precision_name(ops_precision()),
                              "engine", ops_precision_engine(), "resumed_from_step", 0, "train_images", (json_int_t)n_train,
                              "test_images", (json_int_t)n_test);
    if (start) json_object_update_new(start, memory_report(tr));
    if (start)
        json_object_update_new(start, json_pack("{s:s, s:s}", "data_path",
                                                data_path_name(tr),
                                                "data_path_reason", tr->data_path_reason));
    emit(tr, "start", start);
    float *x_train = malloc(sizeof(float) * (size_t)n_train * D);
    float *x_test = malloc(sizeof(float) * (size_t)n_test * D);
    int *y_train = malloc(sizeof(int) * (size_t)n_train), *y_test = malloc(sizeof(int) * (size_t)n_test);
    int *predicted = malloc(sizeof(int) * (size_t)n_test);
    float *weights = malloc(sizeof(float) * (size_t)C * D), *bias = malloc(sizeof(float) * C);
    int rc = 0;
    LinprobeResult result = {0};
    if (!x_train || !x_test || !y_train || !y_test || !predicted || !weights || !bias) {
        rc = train_fail(tr, "linprobe: out of memory for the features of %ld images",
                        n_train + n_test);
        goto done;
    }
    double started = wall_time();
    if (split_features(tr, 1, x_train, y_train) || split_features(tr, 0, x_test, y_test)) {
        rc = linprobe_stopped(tr, 0);
        goto done;
    }
    fprintf(stderr, "linprobe: features of %ld training and %ld test images in %.1f s\n", n_train,
            n_test, wall_time() - started);
    if (tr->dump_dir) {
        const FeatureSet sets[2] = {{"train", x_train, y_train, n_train},
                                    {"test", x_test, y_test, n_test}};
        if ((rc = dump_features(tr, "linprobe.safetensors", sets, 2, NULL, NULL, 0))) goto done;
    }
    probe_standardize(x_train, n_train, x_test, n_test, D);
    LinprobeConfig lc = {.weight_decay = s->linprobe.weight_decay, .max_iterations = iterations,
                         .progress = solver_progress, .ctx = tr};
    tr->progress_time = wall_time();
    if (linprobe_fit(x_train, y_train, n_train, D, C, &lc, weights, bias, &result)) {
        rc = train_fail(tr, "linprobe: out of memory for the solver");
        goto done;
    }
    if (result.stopped) {
        rc = linprobe_stopped(tr, result.iterations);
        goto done;
    }
    // The last progress event gives the iterations the solver took as the run's length.
    report_solver(tr, result.iterations, result.iterations, result.loss, result.grad_norm);
    tr->val_loss = linprobe_evaluate(x_test, y_test, n_test, D, C, weights, bias, predicted);
    if (tr->val_loss < 0) {
        rc = train_fail(tr, "linprobe: out of memory for the evaluation");
        goto done;
    }
    long correct = 0;
    for (long i = 0; i < n_test; i++) correct += predicted[i] == y_test[i];
    tr->top1 = 100.0 * (double)correct / (double)n_test;
    fprintf(stderr, "linprobe: %d iterations, loss %.6f; test: val_loss %.4f top1 %.2f%%\n",
            result.iterations, result.loss, tr->val_loss, tr->top1);
    json_t *fields = json_pack("{s:i, s:i, s:f, s:f}", "step", result.iterations, "epoch", 1,
                               "val_loss", tr->val_loss, "top1", tr->top1);
    emit(tr, "eval", json_deep_copy(fields));
    emit(tr, "done", fields);
done:
    free(x_train), free(x_test), free(y_train), free(y_test), free(predicted);
    free(weights), free(bias);
    return rc;
}

static void teardown(Trainer *tr)
{
    knn_free(&tr->knn);
    free(tr->knn_order);
    free(tr->features);
    free(tr->predictions);
    for (int i = 0; i < MAX_LOADER_SLOTS; i++) free_batch(&tr->slots[i], tr->spec->train.batch_size);
    free_batch(&tr->eval, tr->spec->train.batch_size);
    free(tr->orders[0]);
    free(tr->orders[1]);
    streamed_close(&tr->streamed);
    sharded_close(&tr->sharded);
    free(tr->eval_indices);
    for (int i = 0; i < HEAD_SECTIONS; i++) free(tr->head_json[i]);
    free(tr->preview_image);
    free(tr->preview_scratch);
    adamw_free(&tr->opt);
    model_free(&tr->model);
    dataset_free(&tr->ds);
    if (tr->events) fclose(tr->events);
    if (tr->lock_fd > 0) close(tr->lock_fd);
}

int train_run(const JobSpec *spec, const char *run_dir, int resume,
              const char *const *data_roots, int data_root_count, const char *dump_features,
              Dist *dist)
{
    Trainer tr = {.spec = spec, .run_dir = run_dir, .data_roots = data_roots,
                  .data_root_count = data_root_count, .lock_fd = -1, .dump_dir = dump_features,
                  .dist = dist, .rows = spec->train.batch_size / dist->ranks};
    tr.first = dist->rank * tr.rows;
    int rc = dist->rank == 0 ? (solo_begin(&tr) ? 1 : solo_end(&tr, open_run_dir(&tr))) : 0;
    if (!rc && spec->train.ranks != dist->ranks)
        rc = train_fail(&tr, "train.ranks is %d but %d process%s run%s: %s", spec->train.ranks,
                        dist->ranks, dist->ranks == 1 ? "" : "es", dist->ranks == 1 ? "s" : "",
                        dist_library() ? "start simmim-train with mpirun -np RANKS (the daemon "
                                         "does)" : "this simmim-train was built without MPI "
                                         "(make MPI=0, or no mpicc): it trains as one process");
    if (!rc && spec->dataset_form != REF_PATH)
        rc = train_fail(&tr, "dataset: simmim-train needs {\"format\": \"idx\"|\"imagefolder\", "
                             "\"path\": DIR}; names are resolved by simmimd");
    if (!rc) rc = setup(&tr);
    if (!rc && tr.spec->kind == JOB_LINPROBE) rc = run_linprobe(&tr);
    else if (!rc && dist->rank == 0)
        rc = solo_begin(&tr) ? 1 : solo_end(&tr, resume_from_checkpoint(&tr, resume));
    if (!rc && tr.spec->kind != JOB_LINPROBE) rc = share_start(&tr) ? 1 : run_loop(&tr);
    teardown(&tr);
    return rc;
}
