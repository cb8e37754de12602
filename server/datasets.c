// Datasets on disk (http.h's datasets_register and api.h's helpers): names, the realpath
// check against the data roots, the shards' globs, the record (scanning at once; the counts
// and the sample state_dir/datasets/<name>/sample.png come from a simmim-data child, scanner.h:
// the daemon never reads a dataset itself), the short wait that keeps a small registration's
// answer 201 with its counts, and unregistering. Registrations and removals are serialized by
// one lock, so a name's record and its folder always change together.
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
#include "data/data.h"
#include "data/shards.h"
#include "scanner.h"
#include "store.h"


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

// ------------------------------------------------------------------ registering

// The field a scan's message is about: its prefix ("path: ...", "train: ...", "test: "), as
// simmim-data writes them; NULL for a failure of the scan itself (it could not run).
static const char *message_field(const char *message)
{
    static const char *const fields[] = {"path", "train", "test"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        size_t n = strlen(fields[i]);
        if (strncmp(message, fields[i], n) == 0 && message[n] == ':') return fields[i];
    }
    return NULL;
}

// Drops a registration whose scan failed while its request waited: nothing is kept, as
// before scans ran in children.
static void forget(const App *app, const char *name)
{
    char root[PATH_MAX], dir[PATH_MAX], msg[PATH_MAX + 64];
    pthread_mutex_lock(&registry_lock);
    if (store_dataset_delete(app->db, name) == STORE_OK && dataset_paths(app, name, root, dir,
                                                                         sizeof root) == 0 &&
        remove_tree(root, dir, msg, sizeof msg))
        fprintf(stderr, "simmimd: dataset %s: %s\n", name, msg);
    pthread_mutex_unlock(&registry_lock);
}

// Under the registry lock: a free name, and the record, scanning.
static int record_locked(const App *app, DatasetRow *row, Outcome *o)
{
    char root[PATH_MAX], dir[PATH_MAX];
    int rc = store_dataset_get(app->db, row->name, &(DatasetRow){0});
    if (rc == STORE_OK)
        return registration_fail(o, 409, "name",
                                 "name: a dataset named \"%s\" is already registered", row->name);
    if (rc != STORE_NOT_FOUND) return registration_fail(o, 500, NULL, "cannot read the datasets");
    if (dataset_paths(app, row->name, root, dir, sizeof root) ||
        path_printf(row->sample_path, sizeof row->sample_path, "%s/sample.png", dir))
        return registration_fail(o, 500, NULL, "the state dir's path is too long");
    row->state = DATASET_SCANNING;
    row->bytes = -1;
    rc = store_dataset_insert(app->db, row);
    if (rc == STORE_CONFLICT)
        return registration_fail(o, 409, "name",
                                 "name: a dataset named \"%s\" is already registered", row->name);
    return rc == STORE_OK ? 0 : registration_fail(o, 500, NULL, "the dataset could not be stored");
}

// The scan, waited for up to wait_s: 201 ready, 202 scanning, or the failure (the record
// dropped).
static int scan_and_wait(App *app, const DatasetRow *row, double wait_s, Outcome *o)
{
    if (!app->scanner || scanner_scan(app->scanner, row->name)) {
        forget(app, row->name);
        return registration_fail(o, 500, NULL, "the daemon cannot scan datasets now");
    }
    scanner_wait(app->scanner, row->name, wait_s);
    DatasetRow *now = malloc(sizeof *now);
    int rc = now ? store_dataset_get(app->db, row->name, now) : STORE_ERROR;
    int status = rc != STORE_OK ? registration_fail(o, 500, NULL, "the dataset vanished")
                 : now->state == DATASET_READY    ? 201
                 : now->state == DATASET_SCANNING ? 202
                 : 0;
    if (status == 0) {
        const char *field = message_field(now->error);
        status = registration_fail(o, field ? 400 : 500, field, "%s", now->error);
        forget(app, row->name);
    }
    free(now);
    return status;
}

// A shards glob (field "train" or "test") into out: 0, or a status.
static int check_glob(const char *field, const char *glob, char *out, size_t cap, Outcome *o)
{
    char why[256];
    if (shards_glob_check(glob, why, sizeof why))
        return registration_fail(o, 400, field, "%s: %s", field, why);
    snprintf(out, cap, "%s", glob);
    return 0;
}

// The request's name, format, path and globs, checked into row.
static int check_request(const App *app, const DatasetRequest *req, DatasetRow *row, Outcome *o)
{
    char real[PATH_MAX];
    const char *name = req->name, *format = req->format, *path = req->path;
    if (!name || !dataset_name_valid(name))
        return registration_fail(o, 400, "name",
                                 "name: 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and "
                                 "'-' (got \"%.80s\")",
                                 DATASET_NAME_MAX, name ? name : "");
    if (format && strcmp(format, "idx") == 0)
        row->format = DATA_FORMAT_IDX;
    else if (format && strcmp(format, "imagefolder") == 0)
        row->format = DATA_FORMAT_IMAGEFOLDER;
    else if (format && strcmp(format, "shards") == 0)
        row->format = DATA_FORMAT_SHARDS;
    else
        return registration_fail(o, 400, "format", "format: idx, imagefolder or shards (got "
                                 "\"%.40s\")", format ? format : "");
    int shards = row->format == DATA_FORMAT_SHARDS, status;
    if (!shards && (req->train || req->test))
        return registration_fail(o, 400, req->train ? "train" : "test", "%s: only for format "
                                 "\"shards\" (got format \"%s\")", req->train ? "train" : "test",
                                 format);
    if (shards && !req->train)
        return registration_fail(o, 400, "train", "train: required with format \"shards\": a "
                                 "glob of the training shards inside path, e.g. \"train-*.tar\"");
    if (shards && (check_glob("train", req->train, row->train_glob, sizeof row->train_glob, o) ||
                   (req->test && check_glob("test", req->test, row->test_glob,
                                            sizeof row->test_glob, o))))
        return 400;
    if (!path) return registration_fail(o, 400, "path", "path: required");
    status = resolve_path(app, path, real, o);
    if (status) return status;
    if (strlen(real) >= sizeof row->path)
        return registration_fail(o, 400, "path", "path: too long");
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->path, sizeof row->path, "%s", real);
    return 0;
}

int datasets_register(App *app, const DatasetRequest *req, char *err, size_t errlen,
                      const char **field)
{
    Outcome o = {err, errlen, field};
    DatasetRow *row = calloc(1, sizeof *row);
    *field = NULL;
    if (!row) return registration_fail(&o, 500, NULL, "out of memory");
    int status = check_request(app, req, row, &o);
    if (!status) {
        pthread_mutex_lock(&registry_lock);
        status = record_locked(app, row, &o);
        pthread_mutex_unlock(&registry_lock);
    }
    if (!status) status = scan_and_wait(app, row, req->wait_s, &o);
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
    else if (app->scanner)
        scanner_cancel(app->scanner, name); // a scan still running: stopped, its result ignored
    if (status == 204 && remove_tree(root, dir, err, errlen)) status = 500;
    pthread_mutex_unlock(&registry_lock);
    return status;
}
