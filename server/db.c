// The SQLite database (db.h): opening it with the daemon's pragmas (WAL, foreign keys, a busy
// timeout, synchronous=NORMAL), the migrations runner over the SQL files embedded at build
// time (build/gen/migrations.c), and the mutex that serializes the one connection.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

extern const char *const simmimd_migrations[];
extern const int simmimd_migration_count;

enum { BUSY_TIMEOUT_MS = 5000 };

struct Db {
    sqlite3 *conn;
    pthread_mutex_t lock;
    int version;
};

static int db_fail(sqlite3 *conn, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, conn ? sqlite3_errmsg(conn) : "out of memory");
    return -1;
}

// Runs every statement of a script (no parameters: migrations and pragmas are constants).
static int run_script(sqlite3 *conn, const char *sql, char *err, size_t errlen, const char *what)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(conn, tail, -1, &st, &tail) != SQLITE_OK)
            return db_fail(conn, err, errlen, what);
        if (!st) break; // only whitespace or comments remain
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return db_fail(conn, err, errlen, what);
    }
    return 0;
}

// Runs a one-row pragma and checks its answer (expect NULL: any).
static int pragma(sqlite3 *conn, const char *sql, const char *expect, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(conn, err, errlen, sql);
    int rc = sqlite3_step(st), ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (ok && expect) {
        const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (!got || strcmp(got, expect)) {
            snprintf(err, errlen, "%s: got %s, need %s", sql, got ? got : "nothing", expect);
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return ok ? 0 : db_fail(conn, err, errlen, sql);
}

static int configure(sqlite3 *conn, char *err, size_t errlen)
{
    if (sqlite3_extended_result_codes(conn, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(conn, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_fail(conn, err, errlen, "configure");
    return pragma(conn, "PRAGMA journal_mode=WAL", "wal", err, errlen) ||
           pragma(conn, "PRAGMA synchronous=NORMAL", NULL, err, errlen) ||
           pragma(conn, "PRAGMA foreign_keys=ON", NULL, err, errlen) ||
           pragma(conn, "PRAGMA foreign_keys", "1", err, errlen) ? -1 : 0;
}

// One integer from a query with at most one integer parameter (< 0: none); -1 on error,
// `none` when there is no row or the value is NULL.
static long db_query_long(sqlite3 *conn, const char *sql, long param, long none)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (param >= 0 && sqlite3_bind_int64(st, 1, param) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc = sqlite3_step(st);
    long v = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? (long)sqlite3_column_int64(st, 0)
             : rc == SQLITE_ROW || rc == SQLITE_DONE                     ? none
                                                                          : -1;
    sqlite3_finalize(st);
    return v;
}

// Applies migration `version` (1-based) unless schema_migrations records it, in one
// transaction with its record.
static int apply_migration(sqlite3 *conn, int version, char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "migration %04d", version);
    if (run_script(conn, "BEGIN IMMEDIATE", err, errlen, what)) return -1;
    long done =
        db_query_long(conn, "SELECT 1 FROM schema_migrations WHERE version = ?", version, 0);
    int rc = done < 0 ? db_fail(conn, err, errlen, what) : 0;
    if (rc == 0 && done == 0) {
        sqlite3_stmt *st = NULL;
        rc = run_script(conn, simmimd_migrations[version - 1], err, errlen, what);
        if (rc == 0 &&
            (sqlite3_prepare_v2(conn, "INSERT INTO schema_migrations(version, applied_at) "
                                      "VALUES (?, (julianday('now') - 2440587.5) * 86400.0)", -1, &st, NULL) != SQLITE_OK ||
             sqlite3_bind_int(st, 1, version) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE))
            rc = db_fail(conn, err, errlen, what);
        sqlite3_finalize(st);
    }
    if (rc == 0) return run_script(conn, "COMMIT", err, errlen, what);
    char ignored[8];
    if (!sqlite3_get_autocommit(conn) && run_script(conn, "ROLLBACK", ignored, sizeof ignored, what))
        fprintf(stderr, "simmimd: %s: rollback failed: %s\n", what, sqlite3_errmsg(conn));
    return -1;
}

static int migrate(sqlite3 *conn, int *version, char *err, size_t errlen)
{
    if (run_script(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)",
                   err, errlen, "schema_migrations"))
        return -1;
    long newest = db_query_long(conn, "SELECT MAX(version) FROM schema_migrations", -1, 0);
    if (newest < 0) return db_fail(conn, err, errlen, "schema_migrations");
    if (newest > simmimd_migration_count) {
        snprintf(err, errlen, "database schema version %ld is newer than this simmimd (%d); upgrade simmimd",
                 newest, simmimd_migration_count);
        return -1;
    }
    for (int v = 1; v <= simmimd_migration_count; v++)
        if (apply_migration(conn, v, err, errlen)) return -1;
    newest = db_query_long(conn, "SELECT MAX(version) FROM schema_migrations", -1, 0);
    if (newest < 0) return db_fail(conn, err, errlen, "schema_migrations");
    *version = (int)newest;
    return 0;
}

Db *db_open(const char *path, char *err, size_t errlen)
{
    sqlite3 *conn = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char what[4200];
    snprintf(what, sizeof what, "cannot open database %s", path);
    Db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "%s: out of memory", what);
        return NULL;
    }
    if (sqlite3_open_v2(path, &conn, flags, NULL) != SQLITE_OK) {
        db_fail(conn, err, errlen, what);
    } else if (sqlite3_db_readonly(conn, "main") == 1) {
        // SQLite opens a file it may not write read-only and says nothing; every write would
        // fail later, a job's progress with it. Refuse to start instead.
        snprintf(err, errlen, "%s: it is read-only (the file, or the file system holding it, "
                              "cannot be written)", what);
    } else if (configure(conn, err, errlen) == 0 && migrate(conn, &db->version, err, errlen) == 0) {
        if (pthread_mutex_init(&db->lock, NULL) == 0) {
            db->conn = conn;
            return db;
        }
        snprintf(err, errlen, "%s: cannot create its mutex", what);
    }
    if (conn && (sqlite3_errcode(conn) & 0xff) == SQLITE_BUSY) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (another process holds %s locked; waited %d s)", path,
                 BUSY_TIMEOUT_MS / 1000);
    }
    sqlite3_close(conn);
    free(db);
    return NULL;
}

void db_close(Db *db)
{
    if (!db) return;
    if (sqlite3_close(db->conn) != SQLITE_OK)
        fprintf(stderr, "simmimd: closing the database: %s\n", sqlite3_errmsg(db->conn));
    pthread_mutex_destroy(&db->lock);
    free(db);
}

sqlite3 *db_sqlite(Db *db) { return db->conn; }
void db_lock(Db *db) { pthread_mutex_lock(&db->lock); }
void db_unlock(Db *db) { pthread_mutex_unlock(&db->lock); }
int db_schema_version(Db *db) { return db->version; }
