// Checkpoints and previews in the store (store.h): their JSON for the API, and the files
// behind them for downloads and images — always found by id and step, the path taken from
// the database (relative to the job's run dir, checked when the event was stored), never
// from a request. A checkpoint the trainer deleted (keep_checkpoints) is no longer listed
// or served. The last check of a checkpoint's file against its sha256 is kept with the
// file's stamp then (size, mtime, inode), so that an unchanged file is not hashed again.
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_sql.h"

// arch is the encoder's, as its job's spec states it (the model the checkpoint's metadata
// records). The columns after `download` are the file's stamp at its last check, for "corrupt"
// (see finish_checkpoint); they are not part of the answer.
#define CHECKPOINT_SELECT                                                                      \
    "SELECT k.id, k.job_id, k.step, k.bytes, k.sha256, k.created_at, k.path, j.kind, "         \
    "json_extract(j.api_spec, '$.model.arch') AS arch, "                                      \
    "'/api/v1/checkpoints/' || k.id || '/download' AS download, k.corrupt, "                  \
    "j.run_dir AS _run_dir, k.verified_bytes AS _bytes, k.verified_mtime_ns AS _mtime, "       \
    "k.verified_inode AS _inode "                                                          \
    "FROM checkpoints k JOIN jobs j ON j.id = k.job_id WHERE k.deleted = 0 "

// {"<key>": rows, "total": N}, or NULL (rows NULL: an error).
static json_t *list_json(const char *key, json_t *rows)
{
    return rows ? json_pack("{s:o, s:I}", key, rows, "total", (json_int_t)json_array_size(rows)) : NULL;
}

// The hash a checkpoint's file had at its last check, if that check saw it as it is now.
typedef struct {
    int found;
    char sha256[65];
} RunCheck;

static int read_check(sqlite3_stmt *st, void *ctx)
{
    RunCheck *c = ctx;
    if (column_copy(st, 0, c->sha256, sizeof c->sha256)) return STORE_ERROR;
    c->found = 1;
    return SQL_STOP;
}

int file_stamp(const char *path, FileStamp *stamp)
{
    struct stat st;
    if (stat(path, &st)) return -1;
    stamp->bytes = (long)st.st_size;
    stamp->mtime_ns = (long)st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
    stamp->inode = (long)st.st_ino;
    return 0;
}

static long row_long(const json_t *row, const char *key)
{
    return (long)json_integer_value(json_object_get(row, key));
}

// A checkpoint row as the API shows it: "corrupt" is true when its last check found the file
// not to match and the file is still the one checked (or gone: nothing newer was seen); a
// file written since (a resumed run writing that step again) is unchecked, not corrupt.
static void finish_checkpoint(json_t *row)
{
    int corrupt = row_long(row, "corrupt") == 1;
    char path[SPEC_PATH_MAX];
    const char *run_dir = json_string_value(json_object_get(row, "_run_dir"));
    const char *rel = json_string_value(json_object_get(row, "path"));
    FileStamp now;
    if (corrupt && run_dir && rel && join_run_path(run_dir, rel, path, sizeof path) == STORE_OK &&
        file_stamp(path, &now) == 0)
        corrupt = now.bytes == row_long(row, "_bytes") && now.mtime_ns == row_long(row, "_mtime") &&
                  now.inode == row_long(row, "_inode");
    json_object_set_new(row, "corrupt", json_boolean(corrupt));
    json_object_del(row, "_run_dir");
    json_object_del(row, "_bytes");
    json_object_del(row, "_mtime");
    json_object_del(row, "_inode");
}

static json_t *finish_checkpoints(json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) finish_checkpoint(row);
    return rows;
}

json_t *store_checkpoints_json(Db *db, long job_id)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    json_t *rows = job_exists(c, job_id) != STORE_OK
                       ? NULL
                       : sql_rows_json(c, CHECKPOINT_SELECT "AND k.job_id = ? ORDER BY k.step DESC", "l", job_id);
    db_unlock(db);
    return list_json("checkpoints", finish_checkpoints(rows));
}

json_t *store_checkpoint_json(Db *db, long checkpoint_id)
{
    db_lock(db);
    json_t *rows = sql_rows_json(db_sqlite(db), CHECKPOINT_SELECT "AND k.id = ?", "l", checkpoint_id);
    db_unlock(db);
    json_t *checkpoint = json_incref(json_array_get(finish_checkpoints(rows), 0));
    json_decref(rows);
    return checkpoint;
}

int store_checkpoint_checked(Db *db, long checkpoint_id, const FileStamp *stamp, char actual[65])
{
    RunCheck found = {0};
    db_lock(db);
    int rc = sql_each(db_sqlite(db), read_check, &found,
                      "SELECT verified_sha256 FROM checkpoints WHERE id = ? AND verified_bytes = ? "
                      "AND verified_mtime_ns = ? AND verified_inode = ? AND verified_sha256 IS NOT NULL",
                      "llll", checkpoint_id, stamp->bytes, stamp->mtime_ns, stamp->inode);
    db_unlock(db);
    if (rc != STORE_OK) return rc;
    if (!found.found) return STORE_NOT_FOUND;
    memcpy(actual, found.sha256, sizeof found.sha256);
    return STORE_OK;
}

int store_checkpoint_record_check(Db *db, long checkpoint_id, const FileStamp *stamp,
                                  const char *actual)
{
    db_lock(db);
    int rc = sql_exec(db_sqlite(db),
                      "UPDATE checkpoints SET verified_sha256 = ?1, verified_bytes = ?2, "
                      "verified_mtime_ns = ?3, verified_inode = ?4, corrupt = (lower(sha256) <> ?1) "
                      "WHERE id = ?5",
                      "sllll", actual, stamp->bytes, stamp->mtime_ns, stamp->inode, checkpoint_id);
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

// A file of a job's run dir: columns 0 and 1 of a row are its run_dir and relative path;
// a checkpoint's row goes on with job_id, bytes, sha256 and kind.
typedef struct {
    char *path;
    size_t pathlen;
    int found;
    long job_id, bytes;
    char sha256[65];
    JobKind kind;
} RunFile;

static int read_run_file(sqlite3_stmt *st, void *ctx)
{
    RunFile *f = ctx;
    const char *run_dir = (const char *)sqlite3_column_text(st, 0), *rel = (const char *)sqlite3_column_text(st, 1);
    if (!run_dir || !rel || join_run_path(run_dir, rel, f->path, f->pathlen)) return STORE_ERROR;
    f->found = 1;
    return SQL_STOP;
}

static int read_checkpoint_file(sqlite3_stmt *st, void *ctx)
{
    RunFile *f = ctx;
    const char *kind = (const char *)sqlite3_column_text(st, 5);
    f->job_id = (long)sqlite3_column_int64(st, 2);
    f->bytes = (long)sqlite3_column_int64(st, 3);
    if (!kind || spec_kind_parse(kind, &f->kind)) return STORE_ERROR;
    if (column_copy(st, 4, f->sha256, sizeof f->sha256)) return STORE_ERROR;
    return read_run_file(st, ctx);
}

static int checkpoint_file(Db *db, long checkpoint_id, RunFile *f)
{
    db_lock(db);
    int rc = sql_each(db_sqlite(db), read_checkpoint_file, f,
                      "SELECT j.run_dir, k.path, k.job_id, k.bytes, k.sha256, j.kind FROM checkpoints k "
                      "JOIN jobs j ON j.id = k.job_id WHERE k.id = ? AND k.deleted = 0",
                      "l", checkpoint_id);
    db_unlock(db);
    return rc == STORE_OK && !f->found ? STORE_NOT_FOUND : rc;
}

int store_checkpoint_file(Db *db, long checkpoint_id, char *path, size_t pathlen, long *bytes,
                          char sha256[65], long *job_id)
{
    RunFile f = {.path = path, .pathlen = pathlen};
    int rc = checkpoint_file(db, checkpoint_id, &f);
    if (rc != STORE_OK) return rc;
    if (bytes) *bytes = f.bytes;
    if (sha256) memcpy(sha256, f.sha256, sizeof f.sha256);
    if (job_id) *job_id = f.job_id;
    return STORE_OK;
}

int store_checkpoint_origin(Db *db, long checkpoint_id, JobKind *kind, char *path, size_t pathlen)
{
    RunFile f = {.path = path, .pathlen = pathlen};
    int rc = checkpoint_file(db, checkpoint_id, &f);
    if (rc == STORE_OK && kind) *kind = f.kind;
    return rc;
}

int store_job_latest_checkpoint(Db *db, long job_id, long *checkpoint_id)
{
    db_lock(db);
    int rc = sql_long(db_sqlite(db), checkpoint_id,
                      "SELECT id FROM checkpoints WHERE job_id = ? AND deleted = 0 ORDER BY step DESC LIMIT 1",
                      "l", job_id);
    db_unlock(db);
    return rc;
}

json_t *store_previews_json(Db *db, long job_id)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    json_t *rows = job_exists(c, job_id) != STORE_OK
                       ? NULL
                       : sql_rows_json(c,
                                       "SELECT step, '/api/v1/jobs/' || job_id || '/preview.png?step=' || step "
                                       "AS url FROM previews WHERE job_id = ? ORDER BY step",
                                       "l", job_id);
    db_unlock(db);
    return list_json("previews", rows);
}

int store_preview_file(Db *db, long job_id, long step, char *path, size_t pathlen)
{
    RunFile f = {.path = path, .pathlen = pathlen};
    db_lock(db);
    int rc = sql_each(db_sqlite(db), read_run_file, &f,
                      "SELECT j.run_dir, p.path FROM previews p JOIN jobs j ON j.id = p.job_id "
                      "WHERE p.job_id = ?1 AND (?2 < 0 OR p.step = ?2) ORDER BY p.step DESC LIMIT 1",
                      "ll", job_id, step);
    db_unlock(db);
    return rc == STORE_OK && !f.found ? STORE_NOT_FOUND : rc;
}
