// simmim-data: dataset work that must not run inside the daemon (docs/architecture.md,
// "Dataset registration off the request path"). One command today:
//
//   simmim-data scan --format idx|imagefolder|shards --path DIR [--train GLOB] [--test GLOB]
//                    --out DIR [--data-root DIR]... [--die-with-parent]
//
// walks a dataset as the trainer will see it — confined to the data roots, with the same
// listing, split and classes — counts its images, and writes its sample grid to OUT/sample.png
// (16 images of its test split at DATASET_IMAGE_SIZE, as the dashboard shows them). It reports
// on stdout in JSON lines, flushed one by one, as simmim-train does:
//
//   {"event": "progress", "scanned": N}          every 0.25 s at most, and at the end: images
//                                                 or samples found so far
//   {"event": "warning", "message": "..."}        a file skipped (outside the data roots) or a
//                                                 bad shard sample; the first 20, then a count
//   {"event": "done", "train_count", "test_count", "num_classes", "channels", "image_size",
//    "bytes", "image_sizes", "sample_labels", "bad_samples", "skipped", "shards"}
//   {"event": "error", "message": "...", "field": "path" | "train" | "test"}
//
// Exit 0 after done, 1 after error, 2 on bad usage. Nothing is decoded but IDX files (loaded
// whole, as they are small), the sample's 16 images, and for an image folder the images
// samplelist_stats reads for the sizes (at most STREAM_STATS_IMAGES, a fixed sample). A
// shard's images are never decoded: shards_scan reads their headers and labels only.
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>

#include "base/json_out.h"
#include "data/augment.h"
#include "data/data.h"
#include "data/image.h"
#include "data/preview.h"
#include "data/shards.h"
#include "data/stream.h"

// The sample grid: SAMPLE_COUNT images, SAMPLE_COLS per row, each at DATASET_IMAGE_SIZE (image
// folders and shards; an IDX dataset's images at their own size).
enum { SAMPLE_COUNT = 16, SAMPLE_COLS = 8, DATASET_IMAGE_SIZE = 64, WARNINGS_MAX = 20 };
static const double PROGRESS_EVERY_S = 0.25;

typedef struct {
    const char *format, *path, *train, *test, *out;
    const char *roots[64];
    int root_count;
} Args;

// ---- events ------------------------------------------------------------------------------

static void emit(json_t *event)
{
    size_t len;
    char *text = event ? json_out(event, &len) : NULL;
    if (text) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(text);
    json_decref(event);
}

static int fail(const char *field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *field, const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    emit(json_pack("{s:s, s:o, s:s}", "event", "error", "message", json_text(message), "field",
                   field));
    fprintf(stderr, "simmim-data: error: %s\n", message);
    return 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    long scanned, reported;
    double last;
    int warnings, warnings_dropped;
} Progress;

// force: now, unless this count was the last one reported.
static void progress(Progress *p, long scanned, int force)
{
    p->scanned = scanned;
    double t = now_s();
    if (force ? scanned == p->reported && p->last > 0 : t - p->last < PROGRESS_EVERY_S) return;
    p->last = t;
    p->reported = scanned;
    emit(json_pack("{s:s, s:I}", "event", "progress", "scanned", (json_int_t)scanned));
}

static void warning(Progress *p, const char *message)
{
    if (p->warnings++ >= WARNINGS_MAX) {
        p->warnings_dropped++;
        return;
    }
    emit(json_pack("{s:s, s:o}", "event", "warning", "message", json_text(message)));
}

static void warn_skip(void *ctx, const char *path, const char *message)
{
    (void)path;
    warning(ctx, message);
}

// ---- the result ---------------------------------------------------------------------------

typedef struct {
    long train_count, test_count, bad_samples;
    int num_classes, channels, image_size, skipped;
    double bytes;
    ImageSizes sizes;          // all 0: not known
    json_t *sample_labels;     // array, or NULL (unlabelled)
    int shards_train, shards_test; // shards only
} Result;

static int done(const Args *a, Result *r, Progress *p)
{
    progress(p, p->scanned, 1);
    if (p->warnings_dropped) {
        char more[128];
        snprintf(more, sizeof more, "%d more warnings not shown", p->warnings_dropped);
        p->warnings = 0;
        warning(p, more);
    }
    const ImageSizes *z = &r->sizes;
    json_t *sizes = z->min_width ? json_pack("{s:[ii], s:[ii], s:[ii]}", "min", z->min_width,
                                             z->min_height, "max", z->max_width, z->max_height,
                                             "most_common", z->common_width, z->common_height)
                                 : json_null();
    json_t *shards = strcmp(a->format, "shards") == 0
                         ? json_pack("{s:i, s:i}", "train", r->shards_train, "test", r->shards_test)
                         : json_null();
    emit(json_pack("{s:s, s:I, s:I, s:i, s:i, s:i, s:f, s:o, s:o, s:I, s:i, s:o}", "event", "done",
                   "train_count", (json_int_t)r->train_count, "test_count",
                   (json_int_t)r->test_count, "num_classes", r->num_classes, "channels",
                   r->channels, "image_size", r->image_size, "bytes", r->bytes, "image_sizes",
                   sizes, "sample_labels", r->sample_labels ? r->sample_labels : json_null(),
                   "bad_samples", (json_int_t)r->bad_samples, "skipped", r->skipped, "shards",
                   shards));
    r->sample_labels = NULL; // taken by the event
    return 0;
}

static const double ZERO[DATA_MAX_CHANS] = {0}, ONE[DATA_MAX_CHANS] = {1, 1, 1};

// Writes OUT/sample.png from n images [n, C, S, S] normalized with mean and std.
static int write_sample(const Args *a, const float *images, int n, int C, int S,
                        const double *mean, const double *std)
{
    char path[PATH_MAX], err[1024];
    if (snprintf(path, sizeof path, "%s/sample.png", a->out) >= (int)sizeof path)
        return fail("path", "the output folder's path is too long");
    if (n == 0) return 0;
    if (preview_write_samples_png(path, images, n, C, S, SAMPLE_COLS, mean, std, err,
                                  sizeof err))
        return fail("path", "cannot write the sample: %s", err);
    return 0;
}

// ---- IDX: loaded whole (four small files), as registration always did ----------------------

static double idx_bytes(const char *dir)
{
    static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    double total = 0;
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0) snprintf(path, sizeof path, "%s/%s.gz", dir, names[i]);
        if (stat(path, &st) == 0) total += (double)st.st_size;
    }
    return total;
}

static int scan_idx(const Args *a, const DataRoots *roots, Result *r, Progress *p)
{
    Dataset ds;
    char err[2048];
    IdxShape shape;
    int side = 28, in_place = 0; // a dataset without a readable header fails in dataset_load
    if (dataset_idx_shape(a->path, roots, &shape, err, sizeof err) == 0) {
        side = shape.rows > shape.cols ? shape.rows : shape.cols;
        // Uncompressed files are read in place: a set larger than memory scans too.
        in_place = dataset_idx_mappable(&shape, side, 1, err, sizeof err);
    }
    if (in_place ? dataset_map_idx(a->path, side, roots, &ds, err, sizeof err)
                 : dataset_load(DATA_FORMAT_IDX, a->path, side, 1, roots, &ds, err, sizeof err))
        return fail("path", "path: %s", err);
    r->train_count = ds.train.count, r->test_count = ds.test.count;
    r->num_classes = ds.num_classes, r->channels = ds.channels;
    r->image_size = ds.stored_size, r->sizes = ds.sizes, r->skipped = ds.skipped;
    r->bytes = idx_bytes(a->path);
    progress(p, r->train_count + r->test_count, 1);
    // The sample: 16 test images spread over the split, padded as training sees them.
    const ImageSet *set = ds.test.count > 0 ? &ds.test : &ds.train;
    int n = set->count < SAMPLE_COUNT ? set->count : SAMPLE_COUNT, indices[SAMPLE_COUNT];
    int S = ds.stored_size + 2 * ds.pad, C = ds.channels;
    float *images = malloc((size_t)(n ? n : 1) * (size_t)C * (size_t)S * (size_t)S * sizeof *images);
    if (!images) {
        dataset_free(&ds);
        return fail("path", "out of memory for the sample");
    }
    r->sample_labels = ds.num_classes ? json_array() : NULL;
    for (int i = 0; i < n; i++) {
        indices[i] = (int)((long)i * set->count / n);
        int label = set->labels[indices[i]];
        if (r->sample_labels)
            json_array_append_new(r->sample_labels,
                                  json_text(label >= 0 ? ds.class_names[label] : ""));
    }
    augment_batch(&ds, set, indices, n, NULL, 0, 0, 0, images, NULL);
    int rc = write_sample(a, images, n, C, S, ds.mean, ds.std);
    free(images);
    dataset_free(&ds);
    return rc ? rc : done(a, r, p);
}

// ---- decoding the sample of an image folder or a shard set -----------------------------

typedef struct {
    float *images; // [SAMPLE_COUNT, 3, S, S]
    int count;
    json_t *labels; // or NULL
    StreamScratch *scratch;
} Sample;

// Decodes one encoded image into the next cell of the sample; a failure leaves the cell for
// the next image (and is a warning).
static void sample_add(Sample *s, const uint8_t *bytes, size_t len, const char *name,
                       const char *label, Progress *p)
{
    char err[1024];
    int S = DATASET_IMAGE_SIZE;
    StreamView view = {.channels = 3, .size = S, .mean = ZERO, .std = ONE};
    float *out = s->images + (size_t)s->count * 3 * (size_t)S * (size_t)S;
    if (stream_decode(bytes, len, name, &view, s->scratch, out, NULL, err, sizeof err)) {
        warning(p, err);
        return;
    }
    if (s->labels) json_array_append_new(s->labels, json_text(label ? label : ""));
    s->count++;
}

static int sample_begin(Sample *s, int labelled)
{
    size_t S = DATASET_IMAGE_SIZE;
    s->images = malloc(SAMPLE_COUNT * 3 * S * S * sizeof *s->images);
    s->scratch = stream_scratch_new();
    s->labels = labelled ? json_array() : NULL;
    s->count = 0;
    return s->images && s->scratch && (!labelled || s->labels) ? 0 : -1;
}

static void sample_end(Sample *s)
{
    free(s->images);
    stream_scratch_free(s->scratch);
    json_decref(s->labels);
    memset(s, 0, sizeof *s);
}

// ---- image folders: listed, never loaded -------------------------------------------------

// A running count for the progress events while the folder is listed: names with an image
// extension, class folder by class folder (the listing that follows is the authority, and
// the one that applies the data roots: links to folders are not followed here, so nothing
// outside the roots is counted even for a moment).
static void count_folder(const char *dir, int depth, Progress *p, long *count)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char path[PATH_MAX];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        int is_dir = e->d_type == DT_DIR;
        if (depth > 0 && e->d_type == DT_UNKNOWN &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) {
            struct stat st;
            is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (is_dir && depth > 0 &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            count_folder(path, depth - 1, p, count);
        else if (!is_dir && image_has_extension(e->d_name))
            progress(p, ++*count, 0);
    }
    closedir(d);
}

static int scan_imagefolder(const Args *a, const DataRoots *roots, Result *r, Progress *p)
{
    char err[2048], train_dir[PATH_MAX];
    long counted = 0;
    struct stat st;
    snprintf(train_dir, sizeof train_dir, "%s/train", a->path);
    int split = stat(train_dir, &st) == 0 && S_ISDIR(st.st_mode);
    count_folder(a->path, split ? 2 : 0, p, &counted);
    progress(p, counted, 1);
    SampleList list;
    if (samplelist_imagefolder(a->path, roots, &list, err, sizeof err))
        return fail("path", "path: %s", err);
    r->train_count = list.train.count, r->test_count = list.test.count;
    r->num_classes = list.num_classes, r->channels = 3, r->image_size = DATASET_IMAGE_SIZE;
    r->skipped = list.skipped;
    r->bytes = (double)(list.train_bytes + list.test_bytes);
    progress(p, r->train_count + r->test_count, 1);
    // The sizes on disk, from the images the statistics read (every one up to
    // STREAM_STATS_IMAGES, else a fixed sample); a folder whose images cannot be normalized
    // (a constant channel) cannot be trained on.
    StreamStats stats;
    if (samplelist_stats(&list, 3, STREAM_STATS_IMAGES, &stats, err, sizeof err)) {
        samplelist_free(&list);
        return fail("path", "path: %s", err);
    }
    r->sizes = stats.sizes;
    if (stats.bad) warning(p, stats.first_bad);
    // The sample: 16 images spread over the test split (the training split if it is empty).
    const SampleSplit *set = list.test.count > 0 ? &list.test : &list.train;
    Sample s;
    SampleBytes b = {0};
    int rc = sample_begin(&s, list.num_classes > 0);
    for (int i = 0, n = set->count; rc == 0 && i < n && s.count < SAMPLE_COUNT; i++) {
        // Image k of the grid is the (k·n/16)-th of the split; one that fails to decode is
        // replaced by the next.
        long want = (long)s.count * n / (n < SAMPLE_COUNT ? n : SAMPLE_COUNT);
        if (i < want) i = (int)want;
        if (samplelist_read(&list, set->paths[i], &b, err, sizeof err)) {
            warning(p, err);
            continue;
        }
        int label = set->labels[i];
        sample_add(&s, b.data, b.len, set->paths[i],
                   label >= 0 && label < list.num_classes ? list.class_names[label] : NULL, p);
    }
    if (rc == 0) rc = write_sample(a, s.images, s.count, 3, DATASET_IMAGE_SIZE, ZERO, ONE);
    else rc = fail("path", "out of memory for the sample");
    if (rc == 0) r->sample_labels = s.labels, s.labels = NULL;
    sample_end(&s);
    sample_bytes_free(&b);
    samplelist_free(&list);
    return rc ? rc : done(a, r, p);
}

// ---- shards: counted, never decoded ------------------------------------------------------

typedef struct {
    Progress *p;
    long before; // samples of the lists scanned before this one
} ShardScan;

static void on_shard_scan(void *ctx, const ShardCounts *so_far, const char *shard,
                          const char *message)
{
    (void)shard;
    ShardScan *scan = ctx;
    if (message) warning(scan->p, message);
    progress(scan->p, scan->before + so_far->samples, 0);
}

// The first SAMPLE_COUNT good samples of the test split: of the test shards, or the held-out
// samples of the training shards.
static int shards_sample(const ShardList *list, int held_out, const DataRoots *roots, Sample *s,
                         Progress *p)
{
    ShardSample sample = {0};
    char err[2048], name[PATH_MAX + SHARD_KEY_MAX + 8], label[16];
    for (int i = 0; i < list->count && s->count < SAMPLE_COUNT; i++) {
        ShardReader *r;
        if (shard_open(list->paths[i], roots, &r, err, sizeof err)) continue;
        int rc;
        while (s->count < SAMPLE_COUNT &&
               (rc = shard_next(r, &sample, 0, err, sizeof err)) != SHARD_END) {
            if (rc != SHARD_SAMPLE) {
                if (rc == SHARD_BAD_SAMPLE) continue;
                break;
            }
            if (held_out && !shards_held_out(sample.key)) continue;
            snprintf(name, sizeof name, "%s: %s.%s", list->paths[i], sample.key, sample.ext);
            snprintf(label, sizeof label, "%d", sample.label);
            sample_add(s, sample.image, sample.image_len, name, sample.label >= 0 ? label : "", p);
        }
        shard_close(r);
    }
    shard_sample_free(&sample);
    return 0;
}

// The registration field a shards_list error is about: the glob's, or the folder's.
static const char *list_field(const char *err, const char *glob_field)
{
    return strstr(err, "no shard matches") || strstr(err, "shard pattern") ? glob_field : "path";
}

static int scan_shards(const Args *a, const DataRoots *roots, Result *r, Progress *p)
{
    char err[4096];
    ShardList train, test = {0};
    ShardCounts tc = {0}, vc = {0};
    if (!a->train) return fail("train", "train: required with format \"shards\"");
    if (shards_list(a->path, a->train, roots, &train, err, sizeof err))
        return fail(list_field(err, "train"), "%s: %s", list_field(err, "train"), err);
    if (a->test && shards_list(a->path, a->test, roots, &test, err, sizeof err)) {
        shards_list_free(&train);
        return fail(list_field(err, "test"), "%s: %s", list_field(err, "test"), err);
    }
    ShardScan scan = {p, 0};
    int rc = 0;
    if (shards_scan(&train, roots, &tc, on_shard_scan, &scan, err, sizeof err))
        rc = fail("train", "train: %s", err);
    scan.before = tc.samples;
    if (rc == 0 && a->test && shards_scan(&test, roots, &vc, on_shard_scan, &scan, err, sizeof err))
        rc = fail("test", "test: %s", err);
    if (rc == 0) {
        r->train_count = a->test ? tc.samples : tc.samples - tc.held_out;
        r->test_count = a->test ? vc.samples : tc.held_out;
        r->num_classes = tc.num_classes > vc.num_classes ? tc.num_classes : vc.num_classes;
        r->channels = 3, r->image_size = DATASET_IMAGE_SIZE;
        r->bad_samples = tc.bad_samples + vc.bad_samples;
        r->bytes = tc.bytes + vc.bytes;
        r->skipped = train.skipped + test.skipped;
        r->shards_train = train.count, r->shards_test = test.count;
        progress(p, tc.samples + vc.samples, 1);
        if (r->train_count < 1)
            rc = fail("train", "train: no usable training sample in %d shard%s (%ld bad)",
                      train.count, train.count == 1 ? "" : "s", tc.bad_samples);
        else if (r->test_count < 1 && a->test)
            rc = fail("test", "test: no usable sample in %d shard%s (%ld bad)", test.count,
                      test.count == 1 ? "" : "s", vc.bad_samples);
        else if (r->test_count < 1)
            rc = fail("test", "test: the held-out split of the %ld training samples (2%%, by "
                      "their keys' hash) is empty; give a glob of test shards", tc.samples);
    }
    Sample s = {0};
    if (rc == 0 && sample_begin(&s, r->num_classes > 0)) rc = fail("path", "out of memory");
    if (rc == 0) shards_sample(a->test ? &test : &train, !a->test, roots, &s, p);
    if (rc == 0) rc = write_sample(a, s.images, s.count, 3, DATASET_IMAGE_SIZE, ZERO, ONE);
    if (rc == 0) r->sample_labels = s.labels, s.labels = NULL;
    sample_end(&s);
    shards_list_free(&train);
    shards_list_free(&test);
    return rc ? rc : done(a, r, p);
}

// ---- the command -------------------------------------------------------------------------

static int usage(void)
{
    fprintf(stderr,
            "usage: simmim-data scan --format idx|imagefolder|shards --path DIR [--train GLOB]\n"
            "                        [--test GLOB] --out DIR [--data-root DIR]...\n"
            "                        [--die-with-parent]\n"
            "  counts a dataset and writes OUT/sample.png; JSON-lines events on stdout\n");
    return 2;
}

int main(int argc, char **argv)
{
    Args a = {0};
    if (argc < 2 || strcmp(argv[1], "scan") != 0) return usage();
    for (int i = 2; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--format") && next) a.format = argv[++i];
        else if (!strcmp(argv[i], "--path") && next) a.path = argv[++i];
        else if (!strcmp(argv[i], "--train") && next) a.train = argv[++i];
        else if (!strcmp(argv[i], "--test") && next) a.test = argv[++i];
        else if (!strcmp(argv[i], "--out") && next) a.out = argv[++i];
        else if (!strcmp(argv[i], "--data-root") && next && next[0] &&
                 a.root_count < (int)(sizeof a.roots / sizeof *a.roots))
            a.roots[a.root_count++] = argv[++i];
        else if (!strcmp(argv[i], "--die-with-parent")) prctl(PR_SET_PDEATHSIG, SIGTERM);
        else return usage();
    }
    if (!a.format || !a.path || !a.out) return usage();
    int shards = !strcmp(a.format, "shards");
    if ((a.train || a.test) && !shards) return usage();
    Progress p = {0};
    DataRoots roots = {.roots = a.roots, .root_count = a.root_count, .warn = warn_skip,
                       .warn_ctx = &p};
    Result r = {0};
    int rc;
    if (!strcmp(a.format, "idx")) rc = scan_idx(&a, &roots, &r, &p);
    else if (!strcmp(a.format, "imagefolder")) rc = scan_imagefolder(&a, &roots, &r, &p);
    else if (shards) rc = scan_shards(&a, &roots, &r, &p);
    else rc = usage();
    json_decref(r.sample_labels);
    return rc;
}
