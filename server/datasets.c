// Datasets on disk (http.h's datasets_register and api.h's helpers): names, the realpath
// check against the data roots, loading a dataset once at its natural size (IDX: as stored;
// image folders: DATASET_FOLDER_SIZE), confined to the data roots (class folders and images
// that link outside are skipped and logged), for its counts and a sample.png of 16 test
// images (state_dir/datasets/<name>/sample.png), the record in the store, and unregistering.
// Registrations and removals are serialized by one lock, so a name's sample file and its
// record always change together.
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "base/json_out.h"
#include "data/augment.h"
#include "data/data.h"
#include "data/preview.h"
#include "store.h"

enum { IDX_FALLBACK_SIZE = 28, SKIPS_LOGGED = 20 };

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

int dataset_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= DATASET_NAME_MAX && strspn(name, SAFE_NAME_CHARS) == n &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

// state_dir/datasets and a dataset's directory below it; -1 if they do not fit.
static int dataset_paths(const App *app, const char *name, char *root, char *dir, size_t cap)
{
    return path_printf(root, cap, "%s/datasets", app->state_dir) ||
           path_printf(dir, cap, "%s/%s", root, name);
}

// A registration's outcome: an HTTP status with a message and the field at fault.
typedef struct {
    char *err;
    size_t errlen;
    const char **field;
} Outcome;

static int registration_fail(Outcome *o, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int registration_fail(Outcome *o, int status, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, o->errlen, fmt, ap);
    va_end(ap);
    *o->field = field;
    return status;
}

// ------------------------------------------------------------------ the path

// 1 if a path names no ".." component.
static int without_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == 0)) return 0;
    return 1;
}

static int inside_a_root(const App *app, const char *path)
{
    for (int i = 0; i < app->data_root_count; i++)
        if (path_is_inside(app->data_roots[i], path)) return 1;
    return 0;
}

// The 403 for a path outside the data roots: which roots there are, and how to add one.
static int outside_the_roots(const App *app, const char *what, Outcome *o)
{
    char roots[1024] = "";
    size_t len = 0;
    for (int i = 0; i < app->data_root_count && len < sizeof roots; i++)
        len += (size_t)snprintf(roots + len, sizeof roots - len, "%s%s", i ? ", " : "",
                                app->data_roots[i]);
    return registration_fail(o, 403, "path",
                             "path: %s the data roots (%s); to add one, start simmimd with "
                             "--data-root DIR (data-root = DIR in its config file; make run "
                             "DATA_ROOT=\"DIR ...\")",
                             what, app->data_root_count ? roots : "none");
}

// Resolves path into real (PATH_MAX) and checks that it lies inside a data root: 0, or a
// status. A path that does not resolve answers 400 only where it would lie inside a root, so
// that the answers do not reveal what exists elsewhere.
static int resolve_path(const App *app, const char *path, char *real, Outcome *o)
{
    if (path[0] != '/')
        return registration_fail(o, 400, "path", "path: must be absolute (got \"%.200s\")", path);
    if (!realpath(path, real)) {
        int err = errno;
        if (!without_dotdot(path) || !inside_a_root(app, path))
            return outside_the_roots(app, "outside", o);
        return registration_fail(o, 400, "path", "path: %s: %s", path, strerror(err));
    }
    if (!inside_a_root(app, real))
        return outside_the_roots(app, "resolves outside", o);
    return 0;
}

// ------------------------------------------------------------------ loading

// What a load skips (outside the data roots) goes to the log, at most SKIPS_LOGGED lines a
// dataset.
typedef struct {
    const char *name;
    int logged;
} SkipLog;

static void log_skip(void *ctx, const char *path, const char *message)
{
    (void)path;
    SkipLog *log = ctx;
    if (log->logged++ < SKIPS_LOGGED)
        fprintf(stderr, "simmimd: dataset %s: %s\n", log->name, message);
}

// log NULL: skips are not logged.
static DataRoots app_roots(const App *app, SkipLog *log)
{
    return (DataRoots){.roots = app->data_roots, .root_count = app->data_root_count,
                       .warn = log ? log_skip : NULL, .warn_ctx = log};
}

// The side of an IDX dataset's training images; IDX_FALLBACK_SIZE when its header cannot be
// read (the loader then names the problem).
static int idx_natural_size(const App *app, const char *dir)
{
    int side;
    char err[512];
    DataRoots roots = app_roots(app, NULL); // the loader that follows logs
    return dataset_idx_image_side(dir, &roots, &side, err, sizeof err) ? IDX_FALLBACK_SIZE : side;
}

// The sample: DATASET_SAMPLE_COUNT test images spread over the split
// (DATASET_SAMPLE_COLS per row), normalized as training sees them, and their classes as a JSON
// array into labels ("" when the dataset is unlabelled).
static int write_sample(const Dataset *ds, const char *path, char *labels, size_t labels_cap,
                        char *err, size_t errlen)
{
    const ImageSet *set = ds->test.count > 0 ? &ds->test : &ds->train;
    int n = set->count < DATASET_SAMPLE_COUNT ? set->count : DATASET_SAMPLE_COUNT;
    int S = ds->stored_size + 2 * ds->pad, C = ds->channels;
    int indices[DATASET_SAMPLE_COUNT];
    float *images = malloc((size_t)n * (size_t)C * (size_t)S * (size_t)S * sizeof *images);
    json_t *names = ds->num_classes ? json_array() : NULL;
    if (!images || (ds->num_classes && !names)) {
        free(images);
        json_decref(names);
        snprintf(err, errlen, "out of memory for the sample");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        indices[i] = (int)((long)i * set->count / n);
        int label = set->labels[indices[i]];
        if (names) json_array_append_new(names, json_text(label >= 0 ? ds->class_names[label] : ""));
    }
    augment_batch(ds, set, indices, n, NULL, 0, 0, images, NULL);
    int rc = preview_write_samples_png(path, images, n, C, S, DATASET_SAMPLE_COLS, ds->mean,
                                       ds->std, err, errlen);
    free(images);
    char *text = names ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    // Class names longer than the record allows leave the sample unlabelled, not the dataset.
    snprintf(labels, labels_cap, "%s", text && strlen(text) < labels_cap ? text : "");
    free(text);
    return rc;
}

static int dataset_dir_make(const char *path, Outcome *o)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
    return registration_fail(o, 500, NULL, "cannot create %s: %s", path, strerror(errno));
}

// Loads the dataset at row->path for its counts, then writes its sample into dir. What lies
// outside the data roots is left out of both (and logged).
static int load_and_sample(const App *app, DatasetRow *row, const char *root, const char *dir,
                           Outcome *o)
{
    Dataset ds;
    char msg[1024];
    int folder = row->format == DATA_FORMAT_IMAGEFOLDER;
    int size = folder ? DATASET_FOLDER_SIZE : idx_natural_size(app, row->path);
    SkipLog log = {row->name, 0};
    DataRoots roots = app_roots(app, &log);
    if (dataset_load(row->format, row->path, size, folder ? 3 : 1, &roots, &ds, msg, sizeof msg))
        return registration_fail(o, 400, "path", "path: %s", msg);
    if (log.logged > SKIPS_LOGGED)
        fprintf(stderr, "simmimd: dataset %s: %d more skipped (%d in all)\n", row->name,
                log.logged - SKIPS_LOGGED, ds.skipped);
    row->train_count = ds.train.count, row->test_count = ds.test.count;
    row->num_classes = ds.num_classes, row->channels = ds.channels;
    row->image_size = ds.stored_size;
    row->sizes = ds.sizes;
    int status = dataset_dir_make(root, o) || dataset_dir_make(dir, o) ? 500 : 0;
    if (!status && write_sample(&ds, row->sample_path, row->sample_labels,
                                sizeof row->sample_labels, msg, sizeof msg))
        status = registration_fail(o, 500, NULL, "cannot write the sample: %s", msg);
    dataset_free(&ds);
    return status;
}

// Under the registry lock: a free name, the data, the sample and the record.
static int register_locked(const App *app, DatasetRow *row, Outcome *o)
{
    char root[PATH_MAX], dir[PATH_MAX], msg[PATH_MAX + 64];
    int rc = store_dataset_get(app->db, row->name, &(DatasetRow){0});
    if (rc == STORE_OK)
        return registration_fail(o, 409, "name",
                                 "name: a dataset named \"%s\" is already registered", row->name);
    if (rc != STORE_NOT_FOUND) return registration_fail(o, 500, NULL, "cannot read the datasets");
    if (dataset_paths(app, row->name, root, dir, sizeof root) ||
        path_printf(row->sample_path, sizeof row->sample_path, "%s/sample.png", dir))
        return registration_fail(o, 500, NULL, "the state dir's path is too long");
    int status = load_and_sample(app, row, root, dir, o);
    if (!status && (rc = store_dataset_insert(app->db, row)) != STORE_OK)
        status =
            rc == STORE_CONFLICT
                ? registration_fail(o, 409, "name",
                                    "name: a dataset named \"%s\" is already registered", row->name)
                : registration_fail(o, 500, NULL, "the dataset could not be stored");
    if (status && status != 400 && remove_tree(root, dir, msg, sizeof msg))
        fprintf(stderr, "simmimd: dataset %s: %s\n", row->name, msg);
    return status ? status : 201;
}

// The request's name, format and path, checked into row.
static int check_request(const App *app, const char *name, const char *format, const char *path,
                         DatasetRow *row, Outcome *o)
{
    char real[PATH_MAX];
    if (!name || !dataset_name_valid(name))
        return registration_fail(o, 400, "name",
                                 "name: 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and "
                                 "'-' (got \"%.80s\")",
                                 DATASET_NAME_MAX, name ? name : "");
    if (format && strcmp(format, "idx") == 0)
        row->format = DATA_FORMAT_IDX;
    else if (format && strcmp(format, "imagefolder") == 0)
        row->format = DATA_FORMAT_IMAGEFOLDER;
    else
        return registration_fail(o, 400, "format", "format: idx or imagefolder (got \"%.40s\")",
                                 format ? format : "");
    if (!path) return registration_fail(o, 400, "path", "path: required");
    int status = resolve_path(app, path, real, o);
    if (status) return status;
    if (strlen(real) >= sizeof row->path)
        return registration_fail(o, 400, "path", "path: too long");
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->path, sizeof row->path, "%s", real);
    return 0;
}

int datasets_register(App *app, const char *name, const char *format, const char *path,
                      char *err, size_t errlen, const char **field)
{
    Outcome o = {err, errlen, field};
    DatasetRow *row = calloc(1, sizeof *row);
    *field = NULL;
    if (!row) return registration_fail(&o, 500, NULL, "out of memory");
    int status = check_request(app, name, format, path, row, &o);
    if (!status) {
        pthread_mutex_lock(&registry_lock);
        status = register_locked(app, row, &o);
        pthread_mutex_unlock(&registry_lock);
    }
    free(row);
    return status;
}

int datasets_unregister(App *app, const char *name, char *err, size_t errlen)
{
    char root[PATH_MAX], dir[PATH_MAX];
    const char *field;
    Outcome o = {err, errlen, &field};
    if (dataset_paths(app, name, root, dir, sizeof root))
        return registration_fail(&o, 500, NULL, "the state dir's path is too long");
    pthread_mutex_lock(&registry_lock);
    int rc = store_dataset_delete(app->db, name), status = 204;
    if (rc == STORE_NOT_FOUND)
        status = registration_fail(&o, 404, NULL, "no dataset named \"%s\"", name);
    else if (rc == STORE_CONFLICT)
        status = registration_fail(
            &o, 409, NULL, "dataset \"%s\" is used by a queued, running or paused job", name);
    else if (rc != STORE_OK)
        status = registration_fail(&o, 500, NULL, "cannot delete dataset \"%s\"", name);
    else if (remove_tree(root, dir, err, errlen))
        status = 500;
    pthread_mutex_unlock(&registry_lock);
    return status;
}
