// Checkpoint files checked against their recorded sha256, on a fresh database and run dir:
// a matching file, a changed one (409's message naming both hashes, "corrupt" in the JSON),
// the record of the last check used while the file's size, mtime and inode stay (and not
// after they change: a file written again is unchecked, not corrupt), a full check ignoring
// that record, a missing file, pins checked when made (a corrupt pin removed again, an unused
// pin of a refused submission dropped), and migration 0004 on a database from before it.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "checkpoint_check.h"
#include "pins.h"
#include "store.h"
#include "test.h"

extern const char *const simmimd_migrations[];
extern const int simmimd_migration_count;

static char dir[] = "/tmp/test_checkpoint_check.XXXXXX";
static char runs[256];

static Db *open_db(const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    Db *db = db_open(path, err, sizeof err);
    if (!db) {
        fprintf(stderr, "db_open: %s\n", err);
        exit(2);
    }
    return db;
}

// Writes a file; after a pause longer than the coarse clock's tick that file times come from,
// so that a rewrite of the same size gets another mtime, as any real one a moment later does.
static void write_file(const char *path, const char *text)
{
    usleep(20000);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

// A pretraining job whose trainer wrote checkpoints/step-<step>.safetensors holding `text`;
// returns the checkpoint's id and its file.
static long make_checkpoint(Db *db, long step, const char *text, char *file, size_t cap,
                            char sha[65])
{
    const char *api = "{\"kind\": \"pretrain\", \"dataset\": \"fm\"}";
    const char *child = "{\"kind\": \"pretrain\", \"dataset\": {\"format\": \"idx\", \"path\": \"/d\"}}";
    JobSpec spec;
    SpecError err;
    if (spec_parse(api, strlen(api), &spec, &err)) exit(2);
    long job = store_job_create(db, &spec, api, child, 0, runs, 0);
    char path[300];
    snprintf(path, sizeof path, "%s/%ld", runs, job);
    mkdir(runs, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%ld/checkpoints", runs, job);
    mkdir(path, 0755);
    snprintf(file, cap, "%s/step-%ld.safetensors", path, step);
    write_file(file, text);
    sha256_file(file, sha);
    char line[512];
    snprintf(line, sizeof line,
             "{\"event\":\"checkpoint\",\"t\":1,\"step\":%ld,\"path\":\"checkpoints/step-%ld.safetensors\","
             "\"bytes\":%zu,\"sha256\":\"%s\"}",
             step, step, strlen(text), sha);
    json_t *ev = json_loads(line, 0, NULL);
    int rc = store_ingest_event(db, job, ev);
    json_decref(ev);
    long id = 0;
    json_t *list = store_checkpoints_json(db, job);
    id = (long)json_integer_value(json_object_get(json_array_get(json_object_get(list, "checkpoints"), 0), "id"));
    json_decref(list);
    if (rc != STORE_OK || id <= 0) exit(2);
    return id;
}

static int corrupt_in_json(Db *db, long id)
{
    json_t *c = store_checkpoint_json(db, id);
    int v = json_is_true(json_object_get(c, "corrupt")) ? 1 : json_is_false(json_object_get(c, "corrupt")) ? 0 : -1;
    json_decref(c);
    return v;
}

static void test_checks(Db *db)
{
    char file[512], sha[65], message[512];
    long id = make_checkpoint(db, 40, "the weights of step 40", file, sizeof file, sha);
    CheckpointCheck c;
    test_report(corrupt_in_json(db, id) == 0, "a checkpoint never checked is not corrupt", "");
    int rc = checkpoint_check(db, id, NULL, CHECK_CACHED, &c);
    test_report(rc == STORE_OK && !strcmp(c.actual, sha) && !strcmp(c.expected, sha) && !strcmp(c.path, file),
                "a matching file", "%s", c.actual);
    test_report(corrupt_in_json(db, id) == 0, "a matching file is not corrupt", "");

    // A byte changed: 409's message names the checkpoint and both hashes; the JSON says so.
    write_file(file, "the weights of step 4O");
    char now[65];
    sha256_file(file, now);
    rc = checkpoint_check(db, id, NULL, CHECK_CACHED, &c);
    checkpoint_check_message(id, &c, message, sizeof message);
    char want[512];
    snprintf(want, sizeof want, "checkpoint %ld (job %ld, step-40.safetensors) is corrupt: its file's sha256 is "
             "%s, but %s was recorded when it was written", id, c.job_id, now, sha);
    test_report(rc == STORE_CONFLICT && !strcmp(c.actual, now) && !strcmp(message, want),
                "a changed file: conflict naming both hashes", "%s", message);
    test_report(corrupt_in_json(db, id) == 1, "a changed file is corrupt in the JSON", "");
    json_t *list = store_checkpoints_json(db, c.job_id);
    json_t *row = json_array_get(json_object_get(list, "checkpoints"), 0);
    test_report(json_is_true(json_object_get(row, "corrupt")) && !json_object_get(row, "_run_dir") &&
                    !json_object_get(row, "_mtime") && json_object_size(row) == 10,
                "the list shows corrupt and no internal columns", "%zu fields", json_object_size(row));
    json_decref(list);

    // The record of the last check stands for the file while its stamp does: an invented
    // record is believed by a cached check, not by a full one.
    FileStamp stamp;
    file_stamp(file, &stamp);
    store_checkpoint_record_check(db, id, &stamp, sha);
    rc = checkpoint_check(db, id, NULL, CHECK_CACHED, &c);
    test_report(rc == STORE_OK && !strcmp(c.actual, sha), "a cached check does not hash an unchanged file", "");
    test_report(corrupt_in_json(db, id) == 0, "the record decides corrupt", "");
    rc = checkpoint_check(db, id, NULL, CHECK_FULL, &c);
    test_report(rc == STORE_CONFLICT && !strcmp(c.actual, now), "a full check hashes it anyway", "%s", c.actual);
    test_report(corrupt_in_json(db, id) == 1, "and records what it found", "");

    // Written again (a resumed run writing that step anew): unchecked, so not corrupt, until
    // checked — and the check hashes it again.
    write_file(file, "the weights of step 40");
    test_report(corrupt_in_json(db, id) == 0, "a file written since its check is not shown corrupt", "");
    rc = checkpoint_check(db, id, NULL, CHECK_CACHED, &c);
    test_report(rc == STORE_OK && !strcmp(c.actual, sha), "a file written again is hashed again", "");

    // Gone: an error naming ENOENT, nothing recorded.
    unlink(file);
    rc = checkpoint_check(db, id, NULL, CHECK_CACHED, &c);
    test_report(rc == STORE_ERROR && c.file_errno == ENOENT, "a missing file", "rc %d errno %d", rc, c.file_errno);
    test_report(checkpoint_check(db, 999999, NULL, CHECK_CACHED, &c) == STORE_NOT_FOUND, "an unknown checkpoint", "");
}

static void test_pins(Db *db)
{
    char file[512], sha[65], pinned[512], state[512];
    long id = make_checkpoint(db, 80, "the weights of step 80", file, sizeof file, sha);
    snprintf(state, sizeof state, "%s/state", dir);
    mkdir(state, 0755);
    CheckpointCheck c;
    int rc = pins_link(state, db, id, file, pinned, sizeof pinned, &c);
    struct stat a, b;
    test_report(rc == STORE_OK && !strcmp(c.expected, sha) && stat(file, &a) == 0 && stat(pinned, &b) == 0 &&
                    a.st_ino == b.st_ino,
                "a pin is a checked hard link", "%s", pinned);
    pins_drop_unused(db, pinned);
    test_report(access(pinned, F_OK) != 0, "an unused pin is dropped", "");

    write_file(file, "the weights of step 8O"); // same inode: the pin would see it too
    rc = pins_link(state, db, id, file, pinned, sizeof pinned, &c);
    test_report(rc == STORE_CONFLICT && strcmp(c.actual, sha) && !strcmp(c.expected, sha) &&
                    access(pinned, F_OK) != 0,
                "a corrupt checkpoint is not pinned", "%s", c.actual);
    test_report(corrupt_in_json(db, id) == 1, "a corrupt pin marks the checkpoint corrupt", "");
}

// A database written before migration 0004 (schema 3, a checkpoint in it) gets the columns:
// its checkpoint unchecked and not corrupt.
static void test_migration(void)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/v3.db", dir);
    sqlite3 *c = NULL;
    int rc = sqlite3_open(path, &c);
    for (int i = 0; i < 3 && rc == SQLITE_OK; i++) rc = sqlite3_exec(c, simmimd_migrations[i], NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c,
                          "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL);"
                          "INSERT INTO schema_migrations VALUES (1, 1700000000), (2, 1700000000), (3, 1700000000);"
                          "INSERT INTO jobs (id, kind, api_spec, child_spec, run_dir, created_at) VALUES "
                          "(1, 'pretrain', '{}', '{}', '/nonexistent', 1);"
                          "INSERT INTO checkpoints (job_id, step, path, bytes, sha256, created_at) VALUES "
                          "(1, 5, 'checkpoints/step-5.safetensors', 1, 'ab', 1);",
                          NULL, NULL, NULL);
    sqlite3_close(c);
    Db *db = rc == SQLITE_OK ? db_open(path, err, sizeof err) : NULL;
    json_t *k = db ? store_checkpoint_json(db, 1) : NULL;
    test_report(db && db_schema_version(db) == simmimd_migration_count && simmimd_migration_count >= 4 && k &&
                    json_is_false(json_object_get(k, "corrupt")),
                "migration 0004: a checkpoint from before it is not corrupt", "%s %s", sqlite3_errstr(rc), err);
    json_decref(k);
    if (db) db_close(db);
}

int main(void)
{
    if (!mkdtemp(dir)) return 2;
    snprintf(runs, sizeof runs, "%s/runs", dir);
    Db *db = open_db("simmimd.db");
    test_checks(db);
    test_pins(db);
    db_close(db);
    test_migration();
    test_remove_tree(dir);
    TEST_EXIT();
}
