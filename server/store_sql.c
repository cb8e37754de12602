// Statement helpers of the store (store_sql.h): binding parameters from a type string,
// running statements for changes, one integer, a column of integers, rows through a callback
// or as JSON, and transactions. The one place that turns an SQLite error into a log line and STORE_ERROR.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json_out.h"
#include "store.h"
#include "store_sql.h"

static int sql_fail(sqlite3 *c, const char *sql)
{
    fprintf(stderr, "simmimd: sqlite: %s (in: %.80s)\n", sqlite3_errmsg(c), sql);
    return STORE_ERROR;
}

static int bind_one(sqlite3_stmt *st, int i, char type, va_list *ap)
{
    switch (type) {
    case 'i': return sqlite3_bind_int(st, i, va_arg(*ap, int));
    case 'l': return sqlite3_bind_int64(st, i, va_arg(*ap, long));
    case 'd': return sqlite3_bind_double(st, i, va_arg(*ap, double));
    case 's': {
        const char *s = va_arg(*ap, const char *);
        return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    }
    case 'L': {
        const long *v = va_arg(*ap, const long *);
        return v ? sqlite3_bind_int64(st, i, *v) : sqlite3_bind_null(st, i);
    }
    case 'D': {
        const double *v = va_arg(*ap, const double *);
        return v ? sqlite3_bind_double(st, i, *v) : sqlite3_bind_null(st, i);
    }
    default: return SQLITE_MISUSE;
    }
}

static int vprepare(sqlite3 *c, sqlite3_stmt **st, const char *sql, const char *types, va_list ap)
{
    *st = NULL;
    if (sqlite3_prepare_v2(c, sql, -1, st, NULL) != SQLITE_OK) return sql_fail(c, sql);
    int count = (int)strlen(types);
    if (count != sqlite3_bind_parameter_count(*st)) {
        fprintf(stderr, "simmimd: sqlite: %d parameters given, %d expected (in: %.80s)\n", count,
                sqlite3_bind_parameter_count(*st), sql);
        sqlite3_finalize(*st);
        *st = NULL;
        return STORE_ERROR;
    }
    va_list args;
    va_copy(args, ap);
    int rc = SQLITE_OK;
    for (int i = 0; i < count && rc == SQLITE_OK; i++) rc = bind_one(*st, i + 1, types[i], &args);
    va_end(args);
    if (rc != SQLITE_OK) {
        sql_fail(c, sql);
        sqlite3_finalize(*st);
        *st = NULL;
        return STORE_ERROR;
    }
    return STORE_OK;
}

int sql_prepare(sqlite3 *c, sqlite3_stmt **st, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, st, sql, types, ap);
    va_end(ap);
    return rc;
}

// Steps through every row of a prepared statement, finalizes it. row may be NULL.
static int run_rows(sqlite3 *c, sqlite3_stmt *st, SqlRowFn row, void *ctx)
{
    int rc, result = STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row && (result = row(st, ctx)) < 0) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = sql_fail(c, sqlite3_sql(st));
    sqlite3_finalize(st);
    return result == SQL_STOP || result >= 0 ? STORE_OK : result;
}

int sql_exec(sqlite3 *c, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, &st, sql, types, ap);
    va_end(ap);
    if (rc == STORE_OK) rc = run_rows(c, st, NULL, NULL);
    return rc == STORE_OK ? sqlite3_changes(c) : rc;
}

typedef struct {
    long *out;
    int found;
} FirstLong;

static int first_long(sqlite3_stmt *st, void *ctx)
{
    FirstLong *f = ctx;
    f->found = sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (f->found) *f->out = (long)sqlite3_column_int64(st, 0);
    return SQL_STOP;
}

int sql_long(sqlite3 *c, long *out, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, &st, sql, types, ap);
    va_end(ap);
    if (rc != STORE_OK) return rc;
    FirstLong f = {out, 0};
    rc = run_rows(c, st, first_long, &f);
    return rc != STORE_OK ? rc : f.found ? STORE_OK : STORE_NOT_FOUND;
}

int sql_each(sqlite3 *c, SqlRowFn row, void *ctx, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, &st, sql, types, ap);
    va_end(ap);
    return rc == STORE_OK ? run_rows(c, st, row, ctx) : rc;
}

typedef struct {
    long *ids;
    int count, cap;
} IdList;

static int append_id(sqlite3_stmt *st, void *ctx)
{
    IdList *list = ctx;
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        long *ids = realloc(list->ids, (size_t)cap * sizeof *ids);
        if (!ids) return STORE_ERROR;
        list->ids = ids, list->cap = cap;
    }
    list->ids[list->count++] = (long)sqlite3_column_int64(st, 0);
    return STORE_OK;
}

int sql_ids(sqlite3 *c, long **ids, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    IdList list = {0};
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, &st, sql, types, ap);
    va_end(ap);
    if (rc == STORE_OK) rc = run_rows(c, st, append_id, &list);
    *ids = rc == STORE_OK ? list.ids : NULL;
    if (rc == STORE_OK) return list.count;
    free(list.ids);
    return rc;
}

json_t *sql_row_object(sqlite3_stmt *st)
{
    json_t *obj = json_object();
    int n = sqlite3_column_count(st);
    for (int i = 0; obj && i < n; i++) {
        json_t *v = NULL;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: v = json_integer((json_int_t)sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: v = json_real(sqlite3_column_double(st, i)); break;
        case SQLITE_TEXT: v = json_text((const char *)sqlite3_column_text(st, i)); break;
        default: continue; // NULL (and BLOB, which the store does not use)
        }
        if (!v || json_object_set_new(obj, sqlite3_column_name(st, i), v)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static int append_row(sqlite3_stmt *st, void *ctx)
{
    json_t *row = sql_row_object(st);
    return row && json_array_append_new(ctx, row) == 0 ? STORE_OK : STORE_ERROR;
}

json_t *sql_rows_json(sqlite3 *c, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = vprepare(c, &st, sql, types, ap);
    va_end(ap);
    if (rc != STORE_OK) return NULL;
    json_t *rows = json_array();
    if (!rows) {
        sqlite3_finalize(st);
        return NULL;
    }
    if (run_rows(c, st, append_row, rows) != STORE_OK) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

int sql_begin(sqlite3 *c)
{
    return sql_exec(c, "BEGIN IMMEDIATE", "") < 0 ? STORE_ERROR : STORE_OK;
}

long sql_end(sqlite3 *c, long rc)
{
    if (rc >= 0) return sql_exec(c, "COMMIT", "") < 0 ? STORE_ERROR : rc;
    // A failed ROLLBACK is logged by sql_exec; rc already says why the transaction ended.
    if (sqlite3_get_autocommit(c) == 0 && sql_exec(c, "ROLLBACK", "") < 0) return STORE_ERROR;
    return rc;
}

int column_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (!s || (size_t)sqlite3_column_bytes(st, col) >= cap) return -1;
    memcpy(out, s, (size_t)sqlite3_column_bytes(st, col) + 1);
    return 0;
}

int join_run_path(const char *run_dir, const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", run_dir, rel);
    return n < 0 || (size_t)n >= cap ? STORE_ERROR : STORE_OK;
}

double store_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int job_exists(sqlite3 *c, long job_id)
{
    long one;
    return sql_long(c, &one, "SELECT 1 FROM jobs WHERE id = ?", "l", job_id);
}
