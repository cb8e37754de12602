// Registered datasets in the store (store.h): insert (a name is taken once), get, list, the
// dataset JSON of the API, a scan's progress and its end (ready, or failed with the queued jobs
// that waited for it), and deletion, refused while a live job uses the dataset.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "store.h"
#include "store_sql.h"

static const char *const FORMAT_NAMES[] = {[DATA_FORMAT_IDX] = "idx", [DATA_FORMAT_IMAGEFOLDER] = "imagefolder",
                                           [DATA_FORMAT_SHARDS] = "shards"};
static const char *const STATE_NAMES[] = {[DATASET_SCANNING] = "scanning", [DATASET_READY] = "ready",
                                          [DATASET_FAILED] = "failed"};
enum { STATE_COUNT = sizeof STATE_NAMES / sizeof *STATE_NAMES };

const char *dataset_state_name(DatasetState s)
{
    return (unsigned)s < STATE_COUNT ? STATE_NAMES[s] : "unknown";
}

static int state_parse(const char *name, DatasetState *s)
{
    for (int i = 0; name && i < STATE_COUNT; i++)
        if (strcmp(name, STATE_NAMES[i]) == 0) {
            *s = (DatasetState)i;
            return 0;
        }
    return -1;
}

static const char *or_null(const char *text) { return text && text[0] ? text : NULL; }
enum { FORMAT_COUNT = sizeof FORMAT_NAMES / sizeof *FORMAT_NAMES };

static const char *format_name(DataFormat f) { return (unsigned)f < FORMAT_COUNT ? FORMAT_NAMES[f] : NULL; }

static int format_parse(const char *name, DataFormat *f)
{
    for (int i = 0; name && i < FORMAT_COUNT; i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0) {
            *f = (DataFormat)i;
            return 0;
        }
    return -1;
}

int store_dataset_insert(Db *db, const DatasetRow *row)
{
    const char *format = format_name(row->format);
    if (!format) return STORE_ERROR;
    db_lock(db);
    const ImageSizes *z = &row->sizes;
    int rc = sql_exec(db_sqlite(db),
                      "INSERT INTO datasets (name, format, path, train_count, test_count, num_classes, "
                      "channels, image_size, sample_path, created_at, min_width, min_height, "
                      "max_width, max_height, common_width, common_height, sample_labels, state, "
                      "error, scanned, train_glob, test_glob) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (name) DO NOTHING",
                      "sssiiiiisdiiiiiissslss", row->name, format, row->path, row->train_count,
                      row->test_count, row->num_classes, row->channels, row->image_size,
                      row->sample_path, store_now(), z->min_width, z->min_height, z->max_width,
                      z->max_height, z->common_width, z->common_height,
                      or_null(row->sample_labels), dataset_state_name(row->state),
                      or_null(row->error), row->scanned, or_null(row->train_glob),
                      or_null(row->test_glob));
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_CONFLICT : STORE_OK;
}

#define DATASET_SELECT                                                                    \
    "SELECT name, format, path, train_count, test_count, num_classes, channels, image_size, " \
    "sample_path, min_width, min_height, max_width, max_height, common_width, common_height, " \
    "sample_labels, state, error, scanned, train_glob, test_glob, train_shards, test_shards, " \
    "bad_samples, bytes, skipped FROM datasets "

// A nullable text column into a buffer ("" for NULL); -1 when too long.
static int optional_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    out[0] = 0;
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : column_copy(st, col, out, cap);
}

static int dataset_row_read(sqlite3_stmt *st, DatasetRow *row)
{
    memset(row, 0, sizeof *row);
    if (column_copy(st, 0, row->name, sizeof row->name) ||
        format_parse((const char *)sqlite3_column_text(st, 1), &row->format) ||
        column_copy(st, 2, row->path, sizeof row->path) ||
        column_copy(st, 8, row->sample_path, sizeof row->sample_path) ||
        state_parse((const char *)sqlite3_column_text(st, 16), &row->state))
        return STORE_ERROR;
    int *counts[] = {&row->train_count, &row->test_count, &row->num_classes, &row->channels,
                     &row->image_size};
    for (int i = 0; i < 5; i++) *counts[i] = sqlite3_column_int(st, 3 + i);
    ImageSizes *z = &row->sizes; // NULL (a row from before they were recorded) reads as 0
    int *sizes[] = {&z->min_width, &z->min_height, &z->max_width, &z->max_height,
                    &z->common_width, &z->common_height};
    for (int i = 0; i < 6; i++) *sizes[i] = sqlite3_column_int(st, 9 + i);
    if (optional_copy(st, 15, row->sample_labels, sizeof row->sample_labels) ||
        optional_copy(st, 17, row->error, sizeof row->error) ||
        optional_copy(st, 19, row->train_glob, sizeof row->train_glob) ||
        optional_copy(st, 20, row->test_glob, sizeof row->test_glob))
        return STORE_ERROR;
    row->scanned = (long)sqlite3_column_int64(st, 18);
    row->train_shards = sqlite3_column_int(st, 21);
    row->test_shards = sqlite3_column_int(st, 22);
    row->bad_samples = (long)sqlite3_column_int64(st, 23);
    row->bytes = sqlite3_column_type(st, 24) == SQLITE_NULL ? -1.0 : sqlite3_column_double(st, 24);
    row->skipped = sqlite3_column_int(st, 25);
    return STORE_OK;
}

typedef struct {
    DatasetRow *row;
    int found;
} DatasetGet;

static int get_dataset(sqlite3_stmt *st, void *ctx)
{
    DatasetGet *g = ctx;
    int rc = dataset_row_read(st, g->row);
    g->found = rc == STORE_OK;
    return rc == STORE_OK ? SQL_STOP : rc;
}

int store_dataset_get(Db *db, const char *name, DatasetRow *row)
{
    DatasetGet g = {row, 0};
    db_lock(db);
    int rc = sql_each(db_sqlite(db), get_dataset, &g, DATASET_SELECT "WHERE name = ?", "s", name);
    db_unlock(db);
    return rc == STORE_OK && !g.found ? STORE_NOT_FOUND : rc;
}

static int append_dataset(sqlite3_stmt *st, void *ctx)
{
    DatasetRow row;
    json_t *obj = dataset_row_read(st, &row) == STORE_OK ? store_dataset_json(&row) : NULL;
    return obj && json_array_append_new(ctx, obj) == 0 ? STORE_OK : STORE_ERROR;
}

json_t *store_datasets_json(Db *db)
{
    json_t *rows = json_array();
    if (!rows) return NULL;
    db_lock(db);
    int rc = sql_each(db_sqlite(db), append_dataset, rows, DATASET_SELECT "ORDER BY name", "");
    db_unlock(db);
    if (rc != STORE_OK) {
        json_decref(rows);
        return NULL;
    }
    return json_pack("{s:o, s:I}", "datasets", rows, "total", (json_int_t)json_array_size(rows));
}

// A URL path segment: bytes other than RFC 3986's unreserved ones percent-encoded.
static void url_segment(const char *s, char *out, size_t cap)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 <= cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%', out[n++] = HEX[ch >> 4], out[n++] = HEX[ch & 15];
        }
    }
    out[n] = 0;
}

// What a shards dataset adds (null for the other formats): its globs and how many shards
// each matched (null until the scan says).
static json_t *shards_json(const DatasetRow *row, json_t **train, json_t **test)
{
    int shards = row->format == DATA_FORMAT_SHARDS;
    *train = shards ? json_text(row->train_glob) : json_null();
    *test = shards && row->test_glob[0] ? json_text(row->test_glob) : json_null();
    if (!shards || row->state != DATASET_READY) return json_null();
    return json_pack("{s:i, s:i}", "train", row->train_shards, "test", row->test_shards);
}

json_t *store_dataset_json(const DatasetRow *row)
{
    char name[3 * SPEC_NAME_MAX + 1], sample[sizeof name + 64];
    url_segment(row->name, name, sizeof name);
    snprintf(sample, sizeof sample, "/api/v1/datasets/%s/sample.png", name);
    const char *format = format_name(row->format);
    json_t *name_text = json_text(row->name), *path_text = json_text(row->path);
    if (!format || !name_text || !path_text) {
        json_decref(name_text);
        json_decref(path_text);
        return NULL;
    }
    json_t *d = json_pack("{s:o, s:s, s:o, s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:i}", "name",
                          name_text, "format", format, "path", path_text, "state",
                          dataset_state_name(row->state), "train_count", row->train_count,
                          "test_count", row->test_count, "num_classes", row->num_classes,
                          "channels", row->channels, "image_size", row->image_size, "sample",
                          sample, "sample_cols", DATASET_SAMPLE_COLS);
    const ImageSizes *z = &row->sizes;
    json_t *sizes = z->min_width ? json_pack("{s:[ii], s:[ii], s:[ii]}", "min", z->min_width,
                                             z->min_height, "max", z->max_width, z->max_height,
                                             "most_common", z->common_width, z->common_height)
                                 : json_null();
    json_t *labels = row->sample_labels[0] ? json_loads(row->sample_labels, 0, NULL) : json_null();
    json_t *train, *test, *shards = shards_json(row, &train, &test);
    // json_object_set_new takes the value even when it fails (or d is NULL).
    int failed = json_object_set_new(d, "image_sizes", sizes ? sizes : json_null());
    failed |= json_object_set_new(d, "sample_labels", labels ? labels : json_null());
    failed |= json_object_set_new(d, "error", row->error[0] ? json_text(row->error) : json_null());
    failed |= json_object_set_new(d, "scanned", json_integer(row->scanned));
    failed |= json_object_set_new(d, "bytes", row->bytes >= 0 ? json_integer((json_int_t)row->bytes)
                                                              : json_null());
    failed |= json_object_set_new(d, "skipped", json_integer(row->skipped));
    failed |= json_object_set_new(d, "train", train);
    failed |= json_object_set_new(d, "test", test);
    failed |= json_object_set_new(d, "shards", shards);
    failed |= json_object_set_new(d, "bad_samples", json_integer(row->bad_samples));
    if (failed) {
        json_decref(d);
        return NULL;
    }
    return d;
}

// Refused while a queued, running or paused job names it.
static int dataset_delete(sqlite3 *c, const char *name)
{
    long one;
    int rc = sql_long(c, &one, "SELECT 1 FROM datasets WHERE name = ?", "s", name);
    if (rc != STORE_OK) return rc;
    rc = sql_long(c, &one,
                  "SELECT 1 FROM jobs WHERE dataset = ? AND state IN ('queued', 'running', 'paused') LIMIT 1",
                  "s", name);
    if (rc == STORE_OK) return STORE_CONFLICT;
    if (rc != STORE_NOT_FOUND) return rc;
    rc = sql_exec(c, "DELETE FROM datasets WHERE name = ?", "s", name);
    return rc < 0 ? rc : STORE_OK;
}

int store_dataset_delete(Db *db, const char *name)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = sql_begin(c);
    if (rc == STORE_OK) rc = (int)sql_end(c, dataset_delete(c, name));
    db_unlock(db);
    return rc;
}

// ---- scans ---------------------------------------------------------------------------------

int store_dataset_scan_progress(Db *db, const char *name, long scanned)
{
    db_lock(db);
    int rc = sql_exec(db_sqlite(db), "UPDATE datasets SET scanned = ? WHERE name = ? AND "
                      "state = 'scanning'", "ls", scanned, name);
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

int store_dataset_scan_ready(Db *db, const DatasetRow *row)
{
    const ImageSizes *z = &row->sizes;
    const double *bytes = row->bytes >= 0 ? &row->bytes : NULL;
    db_lock(db);
    int rc = sql_exec(db_sqlite(db),
                      "UPDATE datasets SET state = 'ready', error = NULL, train_count = ?, "
                      "test_count = ?, num_classes = ?, channels = ?, image_size = ?, "
                      "min_width = ?, min_height = ?, max_width = ?, max_height = ?, "
                      "common_width = ?, common_height = ?, sample_labels = ?, scanned = ?, "
                      "train_shards = ?, test_shards = ?, bad_samples = ?, bytes = ?, "
                      "skipped = ?, scanned_at = ? WHERE name = ? AND state = 'scanning'",
                      "iiiiiiiiiiisliilDids", row->train_count, row->test_count, row->num_classes,
                      row->channels, row->image_size, z->min_width, z->min_height, z->max_width,
                      z->max_height, z->common_width, z->common_height, or_null(row->sample_labels),
                      row->scanned, row->train_shards, row->test_shards, row->bad_samples, bytes,
                      row->skipped, store_now(), row->name);
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

static int scan_failed(sqlite3 *c, const char *name, const char *error)
{
    int rc = sql_exec(c, "UPDATE datasets SET state = 'failed', error = ?, scanned_at = ? "
                      "WHERE name = ? AND state = 'scanning'", "sds", error, store_now(), name);
    if (rc <= 0) return rc < 0 ? rc : STORE_NOT_FOUND;
    char message[DATASET_ERROR_MAX + 256];
    snprintf(message, sizeof message, "dataset \"%s\": its scan failed: %s", name, error);
    double now = store_now();
    rc = sql_exec(c, "UPDATE jobs SET state = 'failed', error = ?, finished_at = ? "
                  "WHERE dataset = ? AND state = 'queued'", "sds", message, now, name);
    return rc < 0 ? rc : STORE_OK;
}

int store_dataset_scan_failed(Db *db, const char *name, const char *error)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = sql_begin(c);
    if (rc == STORE_OK) rc = (int)sql_end(c, scan_failed(c, name, error));
    db_unlock(db);
    return rc;
}

typedef struct {
    char **names;
    int count, cap;
} NameList;

static int append_name(sqlite3_stmt *st, void *ctx)
{
    NameList *list = ctx;
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 8;
        char **names = realloc(list->names, (size_t)cap * sizeof *names);
        if (!names) return STORE_ERROR;
        list->names = names, list->cap = cap;
    }
    const char *name = (const char *)sqlite3_column_text(st, 0);
    char *copy = name ? strdup(name) : NULL;
    if (!copy) return STORE_ERROR;
    list->names[list->count++] = copy;
    return STORE_OK;
}

int store_datasets_in_state(Db *db, DatasetState state, char ***names)
{
    NameList list = {0};
    db_lock(db);
    int rc = sql_each(db_sqlite(db), append_name, &list, "SELECT name FROM datasets WHERE "
                      "state = ? ORDER BY name", "s", dataset_state_name(state));
    db_unlock(db);
    if (rc != STORE_OK) {
        for (int i = 0; i < list.count; i++) free(list.names[i]);
        free(list.names);
        *names = NULL;
        return rc;
    }
    *names = list.names;
    return list.count;
}
