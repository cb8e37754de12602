// Statement helpers shared by the store_*.c files (not a public interface): prepare a
// statement and bind its parameters from a type string, run it for its changes, for one
// integer, for a column of integers, row by row through a callback, or into a JSON array of
// objects by column name; transactions; and the small conversions every store file needs.
// Every SQLite error is logged once here (with the statement) and returned as STORE_ERROR.
#ifndef SIMMIMD_STORE_SQL_H
#define SIMMIMD_STORE_SQL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

// Parameter types, one letter per `?` in order:
//   i  int            l  long           d  double
//   s  const char *   (NULL binds NULL)
//   L  const long *   (NULL binds NULL)  D  const double * (NULL binds NULL)
// Variadic arguments must have exactly these types (cast literals: (long)0).

// Prepares sql with its parameters bound; STORE_OK or STORE_ERROR (*st is NULL then).
int sql_prepare(sqlite3 *c, sqlite3_stmt **st, const char *sql, const char *types, ...);
// Runs a statement that returns no rows: the number of rows it changed, or STORE_ERROR.
int sql_exec(sqlite3 *c, const char *sql, const char *types, ...);
// The first column of the first row as an integer: STORE_OK, STORE_NOT_FOUND (no row or a
// NULL value) or STORE_ERROR.
int sql_long(sqlite3 *c, long *out, const char *sql, const char *types, ...);
// Calls row(st, ctx) for each row; SQL_STOP stops early (STORE_OK), another negative return
// stops and is returned. STORE_OK after the last row, STORE_ERROR on a database error.
enum { SQL_STOP = -100 };
typedef int (*SqlRowFn)(sqlite3_stmt *st, void *ctx);
int sql_each(sqlite3 *c, SqlRowFn row, void *ctx, const char *sql, const char *types, ...);
// The first column of every row as an integer: the count with *ids malloc'd (NULL when there
// is no row), or STORE_ERROR with *ids NULL.
int sql_ids(sqlite3 *c, long **ids, const char *sql, const char *types, ...);
// The rows as a JSON array of objects keyed by column name (NULL columns left out); NULL on
// error.
json_t *sql_rows_json(sqlite3 *c, const char *sql, const char *types, ...);
// The current row of st as an object keyed by column name, NULL columns left out.
json_t *sql_row_object(sqlite3_stmt *st);

// BEGIN IMMEDIATE; and the end of a transaction: COMMIT when rc >= 0, else ROLLBACK. Returns
// rc, or STORE_ERROR if the commit failed.
int sql_begin(sqlite3 *c);
long sql_end(sqlite3 *c, long rc);

// Copies a text column into a fixed buffer: 0, or -1 when NULL or too long.
int column_copy(sqlite3_stmt *st, int col, char *out, size_t cap);
// run_dir + "/" + rel into out: STORE_OK, or STORE_ERROR when it does not fit.
int join_run_path(const char *run_dir, const char *rel, char *out, size_t cap);
// Wall-clock time in unix seconds.
double store_now(void);
// STORE_OK when the job exists, STORE_NOT_FOUND or STORE_ERROR.
int job_exists(sqlite3 *c, long job_id);

#endif
