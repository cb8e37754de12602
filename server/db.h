// The SQLite database: opening it (WAL mode, foreign keys on, a busy timeout) and applying
// the numbered migrations of migrations/ (embedded into the binary at build time) in order,
// each inside a transaction and recorded in schema_migrations. A database from a newer
// simmimd (a recorded migration this binary does not know) is refused.
// One connection, serialized by a mutex: simmimd is the only writer and its queries are short.
#ifndef SIMMIMD_DB_H
#define SIMMIMD_DB_H

#include <sqlite3.h>
#include <stddef.h>

typedef struct Db Db;

// Opens (creating if needed) and migrates the database at path; NULL with a message on error.
Db *db_open(const char *path, char *err, size_t errlen);
void db_close(Db *db);
// The connection, for use between db_lock and db_unlock only.
sqlite3 *db_sqlite(Db *db);
void db_lock(Db *db);
void db_unlock(Db *db);
// The highest migration applied.
int db_schema_version(Db *db);

#endif
