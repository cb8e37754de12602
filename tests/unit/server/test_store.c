// Store and database tests, on a fresh SQLite file in a temporary directory: migrations
// applied and recorded, WAL and foreign keys on, a newer schema refused; jobs created,
// listed, filtered and paginated; the state machine (legal, illegal, unknown job); the
// scheduler's order; a realistic trainer event sequence ingested twice (nothing stored
// twice, progress never backwards); the merged metrics series; checkpoint files, the
// latest checkpoint skipping deleted ones; datasets; deletion cascading; counts; Prometheus
// text; studies (a probe run, what to submit, the jobs of a study); and hostile events that
// must neither crash nor corrupt anything.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_sql.h"
#include "test.h"

extern const char *const simmimd_migrations[];
extern const int simmimd_migration_count;

static char dir[] = "/tmp/test_store.XXXXXX";
static char db_path[256], runs[256];

static const char SHA_A[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char SHA_B[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

static Db *open_db(void)
{
    char err[512];
    Db *db = db_open(db_path, err, sizeof err);
    if (!db) {
        fprintf(stderr, "db_open: %s\n", err);
        exit(2);
    }
    return db;
}

// One integer from a query with an optional integer parameter (< 0: none); -999 on error.
static long query(Db *db, const char *sql, long param)
{
    long v = -999;
    sqlite3_stmt *st = NULL;
    db_lock(db);
    if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK &&
        (param < 0 || sqlite3_bind_int64(st, 1, param) == SQLITE_OK) && sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    db_unlock(db);
    return v;
}

static const char *query_text(Db *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    snprintf(out, cap, "(error)");
    db_lock(db);
    if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    db_unlock(db);
    return out;
}

// A queued job: the API form names the dataset, the child's file form its path.
static long make_job(Db *db, const char *kind, const char *name, int priority, const char *dataset)
{
    char api[512], child[512];
    snprintf(api, sizeof api, "{\"kind\": \"%s\", \"name\": \"%s\", \"priority\": %d, \"dataset\": \"%s\"}",
             kind, name, priority, dataset);
    snprintf(child, sizeof child,
             "{\"kind\": \"%s\", \"name\": \"%s\", \"priority\": %d, \"dataset\": {\"format\": \"idx\", "
             "\"path\": \"/data/%s\"}%s}",
             kind, name, priority, dataset,
             strcmp(kind, "finetune") ? "" : ", \"finetune\": {\"init_from\": {\"path\": \"/x.safetensors\"}}");
    JobSpec spec;
    SpecError err;
    if (spec_parse(api, strlen(api), &spec, &err)) {
        fprintf(stderr, "spec_parse: %s\n", err.message);
        exit(2);
    }
    return store_job_create(db, &spec, api, child, 0, runs, 0);
}

static int ingest_text(Db *db, long job_id, const char *line)
{
    json_t *ev = json_loads(line, 0, NULL);
    if (!ev) return 99; // the test's own JSON is wrong
    int rc = store_ingest_event(db, job_id, ev);
    json_decref(ev);
    return rc;
}

static double num(const json_t *obj, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(obj, path1);
    if (path2) v = json_object_get(v, path2);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

// --- migrations and pragmas --------------------------------------------------------------

static void test_migrations(void)
{
    char text[64];
    Db *db = open_db();
    test_report(db_schema_version(db) == simmimd_migration_count && simmimd_migration_count >= 1,
                "migrations applied", "version %d of %d", db_schema_version(db), simmimd_migration_count);
    long recorded = query(db, "SELECT COUNT(*) FROM schema_migrations WHERE applied_at > 1.6e9", -1);
    test_report(recorded == simmimd_migration_count, "migrations recorded", "%ld rows", recorded);
    long tables = query(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                            "('jobs', 'metrics', 'checkpoints', 'previews', 'datasets')", -1);
    test_report(tables == 5, "schema tables", "%ld of 5", tables);
    test_report(strcmp(query_text(db, "PRAGMA journal_mode", text, sizeof text), "wal") == 0, "WAL mode",
                "journal_mode %s", text);
    test_report(query(db, "PRAGMA foreign_keys", -1) == 1, "foreign keys on", "");
    test_report(query(db, "PRAGMA synchronous", -1) == 1, "synchronous NORMAL", "");
    db_close(db);
    db = open_db(); // again: nothing applied twice
    recorded = query(db, "SELECT COUNT(*) FROM schema_migrations", -1);
    test_report(recorded == simmimd_migration_count && db_schema_version(db) == simmimd_migration_count,
                "reopen applies nothing again", "%ld rows", recorded);
    db_close(db);
}

static void test_newer_schema(void)
{
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/newer.db", dir);
    Db *db = db_open(path, err, sizeof err);
    long changed = -1;
    if (db) {
        db_lock(db);
        changed = sqlite3_exec(db_sqlite(db), "INSERT INTO schema_migrations VALUES (999, 0)", NULL, NULL, NULL);
        db_unlock(db);
        db_close(db);
    }
    test_report(db && changed == SQLITE_OK, "fake newer version recorded", "");
    db = db_open(path, err, sizeof err);
    char want[160];
    snprintf(want, sizeof want, "database schema version 999 is newer than this simmimd (%d); upgrade simmimd",
             simmimd_migration_count);
    test_report(!db && strcmp(err, want) == 0, "newer schema refused", "%s", err);
    db_close(db);
    db = db_open("/nonexistent-dir/x.db", err, sizeof err);
    test_report(!db && strstr(err, "cannot open database /nonexistent-dir/x.db"), "unopenable path", "%s", err);
}

// --- jobs ----------------------------------------------------------------------------------

static void test_jobs_list(Db *db)
{
    long ids[5];
    ids[0] = make_job(db, "pretrain", "p0", 0, "fmnist");
    ids[1] = make_job(db, "pretrain", "p1", 0, "fmnist");
    ids[2] = make_job(db, "finetune", "f2", 0, "fmnist");
    ids[3] = make_job(db, "pretrain", "p3", 0, "cifar");
    ids[4] = make_job(db, "finetune", "f4", 0, "cifar");
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= ids[i] > 0 && (i == 0 || ids[i] > ids[i - 1]);
    test_report(ok, "jobs created", "ids %ld..%ld", ids[0], ids[4]);

    json_t *job = store_job_json(db, ids[2]);
    json_t *spec = json_object_get(job, "spec"), *progress = json_object_get(job, "progress");
    test_report(job && json_integer_value(json_object_get(job, "id")) == ids[2] &&
                    !strcmp(json_string_value(json_object_get(job, "name")), "f2") &&
                    !strcmp(json_string_value(json_object_get(job, "kind")), "finetune") &&
                    !strcmp(json_string_value(json_object_get(job, "state")), "queued") &&
                    !strcmp(json_string_value(json_object_get(job, "dataset")), "fmnist"),
                "job json: identity", "");
    test_report(json_is_object(spec) && !strcmp(json_string_value(json_object_get(spec, "name")), "f2"),
                "job json: spec is the API spec", "");
    test_report(num(progress, "step", NULL) == 0 && json_is_null(json_object_get(progress, "total")) &&
                    json_object_size(json_object_get(job, "metrics")) == 0,
                "job json: no progress yet", "");
    test_report(json_is_null(json_object_get(job, "error")) && json_is_null(json_object_get(job, "started_at")) &&
                    json_is_null(json_object_get(job, "duration_s")) && num(job, "created_at", NULL) > 1.6e9 &&
                    json_is_null(json_object_get(job, "init_checkpoint_id")),
                "job json: nulls and times", "");
    json_decref(job);
    test_report(store_job_json(db, 999999) == NULL, "job json: unknown id is NULL", "");

    JobRuntime rt;
    char want_dir[300], want_id[64];
    snprintf(want_dir, sizeof want_dir, "%s/%ld", runs, ids[2]);
    snprintf(want_id, sizeof want_id, "\"job_id\": %ld", ids[2]);
    int rc = store_job_runtime(db, ids[2], &rt);
    test_report(rc == STORE_OK && rt.id == ids[2] && rt.kind == JOB_FINETUNE && rt.state == JOB_QUEUED &&
                    !rt.resume && !strcmp(rt.run_dir, want_dir),
                "runtime", "run_dir %s", rc == STORE_OK ? rt.run_dir : "-");
    test_report(rc == STORE_OK && strstr(rt.child_spec, want_id) && strstr(rt.child_spec, "/data/fmnist"),
                "runtime: child spec carries the job id", "%.80s", rc == STORE_OK ? rt.child_spec : "-");
    JobSpec parsed;
    test_report(rc == STORE_OK && spec_parse(rt.child_spec, strlen(rt.child_spec), &parsed, NULL) == 0 &&
                    parsed.job_id == ids[2] && parsed.dataset_form == REF_PATH,
                "runtime: child spec parses", "");
    if (rc == STORE_OK) free(rt.child_spec);
    test_report(store_job_runtime(db, 999999, &rt) == STORE_NOT_FOUND, "runtime: unknown job", "");

    json_t *all = store_jobs_json(db, NULL, NULL, 0, 0, 0), *list = json_object_get(all, "jobs");
    ok = json_array_size(list) == 5 && num(all, "total", NULL) == 5;
    for (size_t i = 0; ok && i < 5; i++) ok = num(json_array_get(list, i), "id", NULL) == ids[4 - i];
    test_report(ok, "list: all, newest first", "%zu jobs", json_array_size(list));
    json_decref(all);

    all = store_jobs_json(db, NULL, "finetune", 0, 0, 0), list = json_object_get(all, "jobs");
    test_report(json_array_size(list) == 2 && num(all, "total", NULL) == 2 &&
                    num(json_array_get(list, 0), "id", NULL) == ids[4],
                "list: kind filter", "");
    json_decref(all);

    all = store_jobs_json(db, NULL, NULL, 0, 2, 1), list = json_object_get(all, "jobs");
    test_report(json_array_size(list) == 2 && num(all, "total", NULL) == 5 &&
                    num(json_array_get(list, 0), "id", NULL) == ids[3] &&
                    num(json_array_get(list, 1), "id", NULL) == ids[2],
                "list: limit and offset; total ignores them", "");
    json_decref(all);

    all = store_jobs_json(db, NULL, NULL, 0, 100, 10), list = json_object_get(all, "jobs");
    test_report(json_array_size(list) == 0 && num(all, "total", NULL) == 5, "list: offset past the end", "");
    json_decref(all);

    store_job_transition(db, ids[1], STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    all = store_jobs_json(db, "running", "pretrain", 0, 0, 0), list = json_object_get(all, "jobs");
    test_report(json_array_size(list) == 1 && num(json_array_get(list, 0), "id", NULL) == ids[1],
                "list: state and kind filter", "");
    json_decref(all);
    all = store_jobs_json(db, "no-such-state", NULL, 0, 0, 0);
    test_report(all && num(all, "total", NULL) == 0, "list: unknown state matches nothing", "");
    json_decref(all);
    // Leave the database with nothing live for the tests that follow.
    for (int i = 0; i < 5; i++) store_job_finish(db, ids[i], JOB_CANCELLED, 0, NULL);
}

static void test_transitions(Db *db)
{
    long id = make_job(db, "pretrain", "t", 0, "fmnist");
    test_report(store_job_transition(db, id, STATE_BIT(JOB_RUNNING), JOB_PAUSED, 1) == STORE_CONFLICT,
                "transition: pause a queued job is a conflict", "");
    test_report(store_job_transition(db, 999999, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0) == STORE_NOT_FOUND,
                "transition: unknown job", "");
    test_report(store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0) == STORE_OK,
                "transition: queued to running", "");
    json_t *job = store_job_json(db, id);
    double started = num(job, "started_at", NULL);
    test_report(started > 1.6e9 && json_is_null(json_object_get(job, "finished_at")) &&
                    num(job, "duration_s", NULL) >= 0,
                "transition: started_at set", "%.3f", started);
    json_decref(job);
    test_report(store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0) == STORE_CONFLICT,
                "transition: running again is a conflict", "");
    test_report(store_job_transition(db, id, STATE_BIT(JOB_RUNNING), JOB_PAUSED, 1) == STORE_OK &&
                    store_job_transition(db, id, STATE_BIT(JOB_PAUSED), JOB_QUEUED, 1) == STORE_OK,
                "transition: pause, then resume", "");
    JobRuntime rt;
    int rc = store_job_runtime(db, id, &rt);
    test_report(rc == STORE_OK && rt.resume == 1 && rt.state == JOB_QUEUED, "transition: resume flag stored", "");
    if (rc == STORE_OK) free(rt.child_spec);
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 1);
    job = store_job_json(db, id);
    test_report(num(job, "started_at", NULL) == started, "transition: started_at kept across a resume", "");
    json_decref(job);
    test_report(store_job_finish(db, id, JOB_FAILED, 3, "loss is not finite") == STORE_OK, "finish: failed", "");
    job = store_job_json(db, id);
    test_report(!strcmp(json_string_value(json_object_get(job, "state")), "failed") &&
                    num(job, "exit_status", NULL) == 3 && num(job, "finished_at", NULL) >= started &&
                    !strcmp(json_string_value(json_object_get(job, "error")), "loss is not finite") &&
                    num(job, "duration_s", NULL) >= 0,
                "finish: state, exit status, error, finished_at", "");
    json_decref(job);
    test_report(store_job_finish(db, id, JOB_SUCCEEDED, 0, NULL) == STORE_CONFLICT,
                "finish: a finished job is a conflict", "");
    test_report(store_job_transition(db, id, STATE_BIT(JOB_PAUSED), JOB_QUEUED, 1) == STORE_CONFLICT,
                "transition: resume a finished job is a conflict", "");
    test_report(store_job_finish(db, 999999, JOB_FAILED, 1, NULL) == STORE_NOT_FOUND, "finish: unknown job", "");

    // A job finished from queued (cancelled before it ran) keeps a NULL started_at.
    long q = make_job(db, "pretrain", "q", 0, "fmnist");
    test_report(store_job_transition(db, q, STATE_BIT(JOB_QUEUED) | STATE_BIT(JOB_PAUSED), JOB_CANCELLED, 0) ==
                    STORE_OK,
                "transition: cancel a queued job", "");
    job = store_job_json(db, q);
    test_report(json_is_null(json_object_get(job, "started_at")) && num(job, "finished_at", NULL) > 1.6e9 &&
                    json_is_null(json_object_get(job, "duration_s")),
                "transition: cancelled before running", "");
    json_decref(job);
}

// Shifts a running job's current interval `seconds` into the past, as if it had run that long.
static void run_for(Db *db, long id, double seconds)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE jobs SET running_since = running_since - %g WHERE id = %ld", seconds, id);
    db_lock(db);
    int rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL);
    db_unlock(db);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "run_for: %s\n", sqlite3_errstr(rc));
        exit(2);
    }
}

static double duration_of(Db *db, long id)
{
    json_t *job = store_job_json(db, id);
    double d = num(job, "duration_s", NULL);
    json_decref(job);
    return d;
}

// duration_s counts running time only: not the time paused or queued again, and for a run the
// daemon lost (found running at its start), only up to the last event it recorded.
static void test_run_time(Db *db)
{
    long id = make_job(db, "pretrain", "timed", 0, "fmnist");
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    run_for(db, id, 100);
    double d = duration_of(db, id);
    test_report(d >= 100 && d < 101, "run time: counts while running", "%.3f s", d);
    store_job_transition(db, id, STATE_BIT(JOB_RUNNING), JOB_PAUSED, 1);
    double paused = duration_of(db, id);
    usleep(20000);
    test_report(paused >= 100 && paused < 101 && duration_of(db, id) == paused, "run time: stands still while paused",
                "%.3f s", paused);
    store_job_transition(db, id, STATE_BIT(JOB_PAUSED), JOB_QUEUED, 1);
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 1);
    run_for(db, id, 50);
    d = duration_of(db, id);
    test_report(d >= paused + 50 && d < paused + 51, "run time: a resumed run adds on", "%.3f s", d);

    char event[256];
    snprintf(event, sizeof event, "{\"event\":\"progress\",\"t\":%.3f,\"step\":10,\"total_steps\":100,"
             "\"epoch\":0.1,\"loss\":0.9,\"lr\":0.001,\"img_per_s\":250,\"eta_s\":90}", store_now() - 30);
    test_report(ingest_text(db, id, event) == STORE_OK && store_job_requeue_lost(db, id) == STORE_OK,
                "run time: a lost run re-queued", "");
    d = duration_of(db, id);
    test_report(d >= paused + 19.9 && d < paused + 20.1, "run time: a lost run ends at its last event",
                "%.3f s after the pause", d - paused);
    test_report(store_job_requeue_lost(db, id) == STORE_CONFLICT, "run time: only a running job is re-queued as lost", "");

    double before = d;
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 1);
    test_report(store_job_requeue_lost(db, id) == STORE_OK && duration_of(db, id) == before,
                "run time: a lost run with no event since its start adds nothing", "");
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 1);
    run_for(db, id, 10);
    store_job_finish(db, id, JOB_SUCCEEDED, 0, NULL);
    d = duration_of(db, id);
    usleep(20000);
    test_report(d >= before + 10 && d < before + 11 && duration_of(db, id) == d, "run time: fixed once finished",
                "%.3f s", d - before);
}

static void test_next_queued(Db *db)
{
    long low = make_job(db, "pretrain", "low", 0, "fmnist");
    long high1 = make_job(db, "pretrain", "high1", 5, "fmnist");
    long high2 = make_job(db, "pretrain", "high2", 5, "fmnist");
    long mid = make_job(db, "pretrain", "mid", 1, "fmnist");
    long order[4] = {high1, high2, mid, low}, got[4];
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        got[i] = store_job_next_queued(db);
        ok &= got[i] == order[i];
        store_job_transition(db, got[i], STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    }
    test_report(ok, "next queued: priority, then age", "%ld %ld %ld %ld", got[0], got[1], got[2], got[3]);
    test_report(store_job_next_queued(db) == 0, "next queued: none left", "");
    long *ids = NULL;
    int n = store_jobs_in_state(db, JOB_RUNNING, &ids);
    test_report(n == 4 && ids[0] == low && ids[3] == mid, "jobs in state", "%d running", n);
    free(ids);
    n = store_jobs_in_state(db, JOB_PAUSED, &ids);
    test_report(n == 0, "jobs in state: none", "%d", n);
    free(ids);
    for (int i = 0; i < 4; i++) store_job_finish(db, order[i], JOB_SUCCEEDED, 0, NULL);
}

// --- events --------------------------------------------------------------------------------

static char EVENTS[24][400];
static int event_count;

// fmt takes up to two longs (surplus arguments are ignored, as C allows).
static void add_event(const char *fmt, long a, long b)
{
    snprintf(EVENTS[event_count++], sizeof EVENTS[0], fmt, a, b);
}

// The lines a 100-step pretraining run writes: progress every 10 steps, eval every 50,
// checkpoints at 30, 60, 100 keeping two, previews at 30 and 100.
static void build_events(void)
{
    const char *progress = "{\"event\":\"progress\",\"t\":1700000100.5,\"step\":%ld,\"total_steps\":100,"
                           "\"epoch\":%ld.5,\"loss\":0.9,\"lr\":0.001,\"grad_norm\":1.5,\"img_per_s\":250,"
                           "\"eta_s\":12,\"data_wait_s\":0.01}";
    event_count = 0;
    add_event("{\"event\":\"start\",\"t\":1700000000,\"kind\":\"pretrain\",\"total_steps\":100,"
              "\"steps_per_epoch\":50,\"epochs\":2,\"params\":12345,\"threads\":2,\"resumed_from_step\":%ld}",
              0, 0);
    for (long s = 10; s <= 30; s += 10) add_event(progress, s, s / 50);
    add_event("{\"event\":\"checkpoint\",\"t\":1700000200,\"step\":%ld,\"path\":\"checkpoints/step-30.safetensors\","
              "\"bytes\":%ld,\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
              30, 4096);
    add_event("{\"event\":\"preview\",\"t\":1700000200,\"step\":%ld,\"path\":\"previews/step-30.png\"}", 30, 0);
    for (long s = 40; s <= 50; s += 10) add_event(progress, s, s / 50);
    add_event("{\"event\":\"eval\",\"t\":1700000300,\"step\":%ld,\"epoch\":%ld,\"val_loss\":0.8}", 50, 1);
    add_event("{\"event\":\"checkpoint\",\"t\":1700000400,\"step\":%ld,\"path\":\"checkpoints/step-60.safetensors\","
              "\"bytes\":%ld,\"sha256\":\"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"}",
              60, 8192);
    for (long s = 60; s <= 100; s += 10) add_event(progress, s, s / 50);
    add_event("{\"event\":\"eval\",\"t\":1700000500,\"step\":%ld,\"epoch\":%ld,\"val_loss\":0.7}", 100, 2);
    add_event("{\"event\":\"preview\",\"t\":1700000500,\"step\":%ld,\"path\":\"previews/step-100.png\"}", 100, 0);
    add_event("{\"event\":\"checkpoint\",\"t\":1700000600,\"step\":%ld,\"path\":\"checkpoints/step-100.safetensors\","
              "\"bytes\":%ld,\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
              100, 16384);
    add_event("{\"event\":\"checkpoint_deleted\",\"t\":1700000600,\"step\":%ld,"
              "\"path\":\"checkpoints/step-30.safetensors\"}", 30, 0);
    add_event("{\"event\":\"stopped\",\"t\":1700000600,\"step\":%ld,\"signal\":%ld}", 100, 15);
    add_event("{\"event\":\"done\",\"t\":1700000700,\"step\":%ld,\"epoch\":%ld,\"val_loss\":0.7}", 100, 2);
}

static long rows_of(Db *db, const char *table, long job_id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE job_id = ?", table);
    return query(db, sql, job_id);
}

static long checkpoint_id_at(Db *db, long job_id, long step)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id FROM checkpoints WHERE job_id = ? AND step = %ld", step);
    return query(db, sql, job_id);
}

static long ingest_all(Db *db, long id)
{
    int bad = 0;
    for (int i = 0; i < event_count; i++) bad += ingest_text(db, id, EVENTS[i]) != STORE_OK;
    return bad;
}

static void test_events(Db *db, long id)
{
    build_events();
    store_job_transition(db, id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    long bad = ingest_all(db, id);
    test_report(bad == 0, "ingest: every event stored", "%ld refused of %d", bad, event_count);
    long metrics = rows_of(db, "metrics", id), checkpoints = rows_of(db, "checkpoints", id),
         previews = rows_of(db, "previews", id);
    test_report(metrics == 12 && checkpoints == 3 && previews == 2, "ingest: rows",
                "%ld metrics, %ld checkpoints, %ld previews", metrics, checkpoints, previews);
    json_t *job = store_job_json(db, id);
    json_t *progress = json_object_get(job, "progress"), *m = json_object_get(job, "metrics");
    test_report(num(progress, "step", NULL) == 100 && num(progress, "total", NULL) == 100 &&
                    num(progress, "epoch", NULL) == 2.5 && num(progress, "eta_s", NULL) == 0,
                "ingest: job progress", "step %g", num(progress, "step", NULL));
    test_report(num(m, "loss", NULL) == 0.9 && num(m, "lr", NULL) == 0.001 && num(m, "img_per_s", NULL) == 250 &&
                    num(m, "val_loss", NULL) == 0.7 && !json_object_get(m, "top1"),
                "ingest: latest metrics, nulls left out", "");
    json_decref(job);

    // A crash: the daemon reads the whole events.jsonl again.
    bad = ingest_all(db, id);
    test_report(bad == 0 && rows_of(db, "metrics", id) == metrics && rows_of(db, "checkpoints", id) == checkpoints &&
                    rows_of(db, "previews", id) == previews,
                "ingest again: nothing stored twice", "");
    test_report(query(db, "SELECT deleted FROM checkpoints WHERE step = 30 AND job_id = ?", id) == 1,
                "ingest again: a deleted checkpoint stays deleted", "");
    // An old progress event (a resumed run repeats steps) must not move progress back.
    int rc = ingest_text(db, id,
                         "{\"event\":\"progress\",\"t\":1,\"step\":20,\"total_steps\":100,\"epoch\":0.4,"
                         "\"loss\":5.0,\"lr\":0.5,\"img_per_s\":1,\"eta_s\":99}");
    job = store_job_json(db, id);
    test_report(rc == STORE_OK && num(job, "progress", "step") == 100 && num(job, "metrics", "loss") == 0.9 &&
                    num(job, "progress", "eta_s") == 0,
                "ingest: an older step leaves progress", "step %g loss %g", num(job, "progress", "step"),
                num(job, "metrics", "loss"));
    json_decref(job);
    test_report(query(db, "SELECT loss FROM metrics WHERE kind = 'progress' AND step = 20 AND job_id = ?", id) != 5,
                "ingest: the first row of a step is kept", "");

    // Killed after step 100 was reported but before its checkpoint: the run resumes from 60.
    rc = ingest_text(db, id,
                     "{\"event\":\"start\",\"t\":2,\"kind\":\"pretrain\",\"total_steps\":100,"
                     "\"steps_per_epoch\":50,\"epochs\":2,\"params\":12345,\"threads\":2,\"resumed_from_step\":60}");
    job = store_job_json(db, id);
    test_report(rc == STORE_OK && num(job, "progress", "step") == 60 && num(job, "progress", "epoch") == 1.2 &&
                    json_is_null(json_object_get(json_object_get(job, "progress"), "eta_s")) &&
                    rows_of(db, "metrics", id) == metrics,
                "ingest: a resumed start moves progress back to its checkpoint", "step %g epoch %g",
                num(job, "progress", "step"), num(job, "progress", "epoch"));
    json_decref(job);
    rc = ingest_text(db, id,
                     "{\"event\":\"progress\",\"t\":3,\"step\":70,\"total_steps\":100,\"epoch\":1.4,"
                     "\"loss\":0.9,\"eta_s\":12}");
    job = store_job_json(db, id);
    test_report(rc == STORE_OK && num(job, "progress", "step") == 70 && num(job, "progress", "eta_s") == 12,
                "ingest: the resumed run's progress moves on from there", "step %g", num(job, "progress", "step"));
    json_decref(job);
    const char *beyond = "{\"event\":\"start\",\"total_steps\":100,\"resumed_from_step\":101}";
    rc = ingest_text(db, id, beyond);
    job = store_job_json(db, id);
    test_report(rc == STORE_OK && num(job, "progress", "step") == 70, "ingest: a resumed step beyond the run is ignored",
                "step %g", num(job, "progress", "step"));
    json_decref(job);
    rc = ingest_text(db, id, EVENTS[event_count - 1]); // the resumed run finishes
    test_report(rc == STORE_OK && query(db, "SELECT step FROM jobs WHERE id = ?", id) == 100,
                "ingest: the resumed run's done", "");
}

static void test_metrics(Db *db, long id)
{
    json_t *doc = store_metrics_json(db, id, 0), *list = json_object_get(doc, "metrics");
    int ascending = 1;
    for (size_t i = 1; i < json_array_size(list); i++)
        ascending &= num(json_array_get(list, i), "step", NULL) > num(json_array_get(list, i - 1), "step", NULL);
    test_report(json_array_size(list) == 10 && ascending, "metrics: one object per step, ascending", "%zu",
                json_array_size(list));
    json_t *at50 = json_array_get(list, 4), *at10 = json_array_get(list, 0);
    test_report(num(at50, "step", NULL) == 50 && num(at50, "loss", NULL) == 0.9 && num(at50, "val_loss", NULL) == 0.8 &&
                    num(at50, "epoch", NULL) == 1.5 && num(at50, "grad_norm", NULL) == 1.5,
                "metrics: progress and eval merged", "epoch %g", num(at50, "epoch", NULL));
    test_report(!json_object_get(at10, "val_loss") && !json_object_get(at10, "top1") &&
                    num(at10, "lr", NULL) == 0.001 && json_object_size(at10) == 6,
                "metrics: only the fields a step has", "%zu fields", json_object_size(at10));
    json_decref(doc);
    doc = store_metrics_json(db, id, 50), list = json_object_get(doc, "metrics");
    test_report(json_array_size(list) == 5 && num(json_array_get(list, 0), "step", NULL) == 60, "metrics: since", "");
    json_decref(doc);
    test_report(store_metrics_json(db, 999999, 0) == NULL, "metrics: unknown job", "");
}

static void test_checkpoints(Db *db, long id)
{
    json_t *doc = store_checkpoints_json(db, id), *list = json_object_get(doc, "checkpoints");
    test_report(json_array_size(list) == 2 && num(doc, "total", NULL) == 2 &&
                    num(json_array_get(list, 0), "step", NULL) == 100 && num(json_array_get(list, 1), "step", NULL) == 60,
                "checkpoints: not deleted, newest first", "%zu", json_array_size(list));
    json_decref(doc);
    long cid = checkpoint_id_at(db, id, 100), deleted = checkpoint_id_at(db, id, 30);
    json_t *ck = store_checkpoint_json(db, cid);
    char download[64];
    snprintf(download, sizeof download, "/api/v1/checkpoints/%ld/download", cid);
    test_report(ck && num(ck, "id", NULL) == cid && num(ck, "job_id", NULL) == id && num(ck, "bytes", NULL) == 16384 &&
                    !strcmp(json_string_value(json_object_get(ck, "sha256")), SHA_A) &&
                    !strcmp(json_string_value(json_object_get(ck, "path")), "checkpoints/step-100.safetensors") &&
                    !strcmp(json_string_value(json_object_get(ck, "kind")), "pretrain") &&
                    !strcmp(json_string_value(json_object_get(ck, "download")), download) &&
                    num(ck, "created_at", NULL) == 1700000600,
                "checkpoint json", "");
    json_decref(ck);
    test_report(store_checkpoint_json(db, deleted) == NULL && store_checkpoint_json(db, 999999) == NULL,
                "checkpoint json: deleted or unknown", "");

    char path[512], want[512], sha[65] = "";
    long bytes = 0, job = 0;
    snprintf(want, sizeof want, "%s/%ld/checkpoints/step-100.safetensors", runs, id);
    int rc = store_checkpoint_file(db, cid, path, sizeof path, &bytes, sha, &job);
    test_report(rc == STORE_OK && !strcmp(path, want) && bytes == 16384 && !strcmp(sha, SHA_A) && job == id,
                "checkpoint file: absolute path, bytes, sha256", "%s", rc == STORE_OK ? path : "-");
    test_report(store_checkpoint_file(db, deleted, path, sizeof path, &bytes, sha, &job) == STORE_NOT_FOUND,
                "checkpoint file: deleted", "");
    test_report(store_checkpoint_file(db, cid, path, 10, &bytes, sha, &job) == STORE_ERROR,
                "checkpoint file: buffer too small", "");
    JobKind kind = JOB_FINETUNE;
    test_report(store_checkpoint_origin(db, cid, &kind, path, sizeof path) == STORE_OK && kind == JOB_PRETRAIN &&
                    !strcmp(path, want),
                "checkpoint origin", "");

    long latest = 0;
    test_report(store_job_latest_checkpoint(db, id, &latest) == STORE_OK && latest == cid, "latest checkpoint", "");
    ingest_text(db, id, "{\"event\":\"checkpoint_deleted\",\"t\":1,\"step\":100,\"path\":\"x\"}");
    test_report(store_job_latest_checkpoint(db, id, &latest) == STORE_OK && latest == checkpoint_id_at(db, id, 60),
                "latest checkpoint skips deleted", "");
    // Written again at the same step with other contents (a run resumed from before it).
    int ing = ingest_text(db, id,
                          "{\"event\":\"checkpoint\",\"t\":2,\"step\":100,\"path\":\"checkpoints/step-100.safetensors\","
                          "\"bytes\":16000,\"sha256\":\"FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210\"}");
    rc = store_checkpoint_file(db, cid, path, sizeof path, &bytes, sha, &job);
    test_report(ing == STORE_OK && rc == STORE_OK && bytes == 16000 && !strcmp(sha, SHA_B) &&
                    store_job_latest_checkpoint(db, id, &latest) == STORE_OK && latest == cid,
                "checkpoint rewritten: same id, new facts, revived", "");
    test_report(store_job_latest_checkpoint(db, 999999, &latest) == STORE_NOT_FOUND,
                "latest checkpoint: unknown job", "");

    doc = store_previews_json(db, id), list = json_object_get(doc, "previews");
    char url[96];
    snprintf(url, sizeof url, "/api/v1/jobs/%ld/preview.png?step=30", id);
    test_report(json_array_size(list) == 2 && num(doc, "total", NULL) == 2 &&
                    num(json_array_get(list, 0), "step", NULL) == 30 &&
                    !strcmp(json_string_value(json_object_get(json_array_get(list, 0), "url")), url),
                "previews json", "");
    json_decref(doc);
    snprintf(want, sizeof want, "%s/%ld/previews/step-100.png", runs, id);
    test_report(store_preview_file(db, id, -1, path, sizeof path) == STORE_OK && !strcmp(path, want),
                "preview file: newest", "%s", path);
    snprintf(want, sizeof want, "%s/%ld/previews/step-30.png", runs, id);
    test_report(store_preview_file(db, id, 30, path, sizeof path) == STORE_OK && !strcmp(path, want),
                "preview file: by step", "");
    test_report(store_preview_file(db, id, 31, path, sizeof path) == STORE_NOT_FOUND &&
                    store_previews_json(db, 999999) == NULL && store_checkpoints_json(db, 999999) == NULL,
                "previews: unknown step or job", "");
}

// Hostile lines: refused or ignored, never a crash, and the job's records stay sane.
static void test_hostile_events(Db *db, long id)
{
    static const struct {
        const char *line;
        int rc;
    } CASES[] = {
        {"{}", STORE_INVALID},
        {"[1, 2]", STORE_INVALID},
        {"{\"event\": 5}", STORE_INVALID},
        {"{\"event\": \"progress\"}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": \"10\"}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": -1}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": 10.5}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": 1e300}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": 9223372036854775807}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": 101}", STORE_INVALID}, // beyond the run's 100 steps
        {"{\"event\": \"progress\", \"step\": 1000, \"total_steps\": 1e300}", STORE_INVALID},
        {"{\"event\": \"progress\", \"step\": 5, \"t\": \"soon\", \"loss\": \"NaN\", \"lr\": null, "
         "\"img_per_s\": [1], \"epoch\": {}, \"eta_s\": true, \"grad_norm\": 1e308}", STORE_OK},
        {"{\"event\": \"eval\", \"step\": 5, \"val_loss\": \"Infinity\", \"top1\": -1e308}", STORE_OK},
        {"{\"event\": \"checkpoint\", \"step\": 7, \"path\": \"../../etc/passwd\", \"bytes\": 1, "
         "\"sha256\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}", STORE_INVALID},
        {"{\"event\": \"checkpoint\", \"step\": 7, \"path\": \"/etc/passwd\", \"bytes\": 1, "
         "\"sha256\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}", STORE_INVALID},
        {"{\"event\": \"checkpoint\", \"step\": 7, \"path\": \"checkpoints/a\", \"bytes\": -1, "
         "\"sha256\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}", STORE_INVALID},
        {"{\"event\": \"checkpoint\", \"step\": 7, \"path\": \"checkpoints/a\", \"bytes\": 1, \"sha256\": \"abc\"}",
         STORE_INVALID},
        {"{\"event\": \"checkpoint\", \"step\": 7, \"path\": \"checkpoints/a\", \"bytes\": 1, "
         "\"sha256\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\"}", STORE_INVALID},
        {"{\"event\": \"checkpoint\", \"step\": 7}", STORE_INVALID},
        {"{\"event\": \"preview\", \"step\": 7, \"path\": \"previews//x.png\"}", STORE_INVALID},
        {"{\"event\": \"preview\", \"step\": 7, \"path\": \"previews/./x.png\"}", STORE_INVALID},
        {"{\"event\": \"preview\", \"step\": 7, \"path\": \"previews/x\\n.png\"}", STORE_INVALID},
        {"{\"event\": \"preview\", \"step\": 7, \"path\": 42}", STORE_INVALID},
        {"{\"event\": \"error\"}", STORE_INVALID},
        {"{\"event\": \"error\", \"message\": 3}", STORE_INVALID},
        {"{\"event\": \"start\", \"total_steps\": \"many\"}", STORE_OK},
        {"{\"event\": \"stopped\", \"step\": \"x\"}", STORE_OK},
        {"{\"event\": \"from-the-future\", \"step\": {}}", STORE_OK},
    };
    long metrics = rows_of(db, "metrics", id), checkpoints = rows_of(db, "checkpoints", id),
         previews = rows_of(db, "previews", id);
    int failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        int rc = ingest_text(db, id, CASES[i].line);
        if (rc != CASES[i].rc) {
            failed++;
            fprintf(stdout, "# %s -> %d, want %d\n", CASES[i].line, rc, CASES[i].rc);
        }
    }
    test_report(failed == 0, "hostile events: refused or ignored", "%d unexpected of %zu", failed,
                sizeof CASES / sizeof *CASES);
    test_report(rows_of(db, "checkpoints", id) == checkpoints && rows_of(db, "previews", id) == previews &&
                    rows_of(db, "metrics", id) == metrics + 2,
                "hostile events: no bad rows", "%ld metrics", rows_of(db, "metrics", id));
    long nulls = query(db, "SELECT COUNT(*) FROM metrics WHERE step = 5 AND loss IS NULL AND lr IS NULL AND "
                           "img_per_s IS NULL AND epoch IS NULL AND val_loss IS NULL AND job_id = ?", id);
    test_report(nulls == 2, "hostile events: unusable numbers skipped", "");
    json_t *job = store_job_json(db, id);
    test_report(num(job, "progress", "step") == 100 && num(job, "progress", "total") == 100 &&
                    num(job, "metrics", "loss") == 0.9,
                "hostile events: progress intact", "");
    json_decref(job);

    // A long message of two-byte characters: cut below 2048 bytes at a character boundary.
    char big[6100];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"event\": \"error\", \"message\": \"");
    for (int i = 0; i < 3000; i++) big[n++] = '\xc3', big[n++] = '\xa9';
    snprintf(big + n, sizeof big - n, "\"}");
    int rc = ingest_text(db, id, big);
    job = store_job_json(db, id);
    const char *error = json_string_value(json_object_get(job, "error"));
    test_report(rc == STORE_OK && error && strlen(error) == 2046 && !strchr(error, '?'),
                "error event: long message cut at a character", "%zu bytes", error ? strlen(error) : 0);
    json_decref(job);
    test_report(ingest_text(db, 999999, "{\"event\": \"progress\", \"step\": 1}") == STORE_NOT_FOUND,
                "ingest: unknown job", "");
    char text[32];
    test_report(!strcmp(query_text(db, "PRAGMA integrity_check", text, sizeof text), "ok") &&
                    query(db, "SELECT COUNT(*) FROM pragma_foreign_key_check", -1) == 0,
                "database intact", "%s", text);
}

// --- datasets ------------------------------------------------------------------------------

// A job's arch is its spec's model.arch, in the job and in its checkpoints. A job of its own,
// made last (the counts above are exact).
static void test_arch(Db *db)
{
    const char *api = "{\"kind\": \"pretrain\", \"name\": \"s\", \"dataset\": \"fmnist\","
                      " \"model\": {\"arch\": \"swin\"}}";
    JobSpec spec;
    SpecError err;
    long id = spec_parse(api, strlen(api), &spec, &err) ? 0 : store_job_create(db, &spec, api, "{}", 0, runs, 0);
    char event[256];
    snprintf(event, sizeof event, "{\"event\":\"checkpoint\",\"t\":1,\"step\":5,\"path\":"
             "\"checkpoints/step-5.safetensors\",\"bytes\":10,\"sha256\":\"%s\"}", SHA_A);
    json_t *ck = id > 0 && ingest_text(db, id, event) == STORE_OK
                     ? store_checkpoint_json(db, checkpoint_id_at(db, id, 5)) : NULL;
    json_t *job = store_job_json(db, id);
    const char *job_arch = json_string_value(json_object_get(job, "arch"));
    const char *ck_arch = json_string_value(json_object_get(ck, "arch"));
    test_report(job_arch && !strcmp(job_arch, "swin") && ck_arch && !strcmp(ck_arch, "swin"),
                "arch: a swin job's, in the job and its checkpoint", "job %s, checkpoint %s",
                job_arch ? job_arch : "-", ck_arch ? ck_arch : "-");
    json_decref(job), json_decref(ck);
}

static void test_dataset_rows(Db *db)
{
    DatasetRow row = {.format = DATA_FORMAT_IDX, .train_count = 60000, .test_count = 10000, .num_classes = 10,
                      .channels = 1, .image_size = 28};
    snprintf(row.name, sizeof row.name, "fashion mnist");
    snprintf(row.path, sizeof row.path, "/usr/share/datasets/fashion-mnist");
    snprintf(row.sample_path, sizeof row.sample_path, "%s/datasets/fashion-mnist.png", dir);
    test_report(store_dataset_insert(db, &row) == STORE_OK, "dataset insert", "");
    test_report(store_dataset_insert(db, &row) == STORE_CONFLICT, "dataset insert: name taken", "");
    DatasetRow got;
    int rc = store_dataset_get(db, "fashion mnist", &got);
    test_report(rc == STORE_OK && !strcmp(got.name, row.name) && got.format == DATA_FORMAT_IDX &&
                    !strcmp(got.path, row.path) && !strcmp(got.sample_path, row.sample_path) &&
                    got.train_count == 60000 && got.test_count == 10000 && got.num_classes == 10 &&
                    got.channels == 1 && got.image_size == 28,
                "dataset get", "");
    test_report(store_dataset_get(db, "nope", &got) == STORE_NOT_FOUND, "dataset get: unknown", "");
    json_t *doc = store_datasets_json(db), *d = json_array_get(json_object_get(doc, "datasets"), 0);
    test_report(num(doc, "total", NULL) == 1 && !strcmp(json_string_value(json_object_get(d, "name")), "fashion mnist") &&
                    !strcmp(json_string_value(json_object_get(d, "format")), "idx") &&
                    !strcmp(json_string_value(json_object_get(d, "path")), row.path) &&
                    num(d, "train_count", NULL) == 60000 && num(d, "num_classes", NULL) == 10 &&
                    num(d, "image_size", NULL) == 28 &&
                    !strcmp(json_string_value(json_object_get(d, "sample")),
                            "/api/v1/datasets/fashion%20mnist/sample.png"),
                "datasets json", "%s", json_string_value(json_object_get(d, "sample")));
    json_decref(doc);

    long job = make_job(db, "pretrain", "uses", 0, "fashion mnist");
    test_report(store_dataset_delete(db, "fashion mnist") == STORE_CONFLICT, "dataset delete: queued job uses it", "");
    store_job_transition(db, job, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    store_job_transition(db, job, STATE_BIT(JOB_RUNNING), JOB_PAUSED, 1);
    test_report(store_dataset_delete(db, "fashion mnist") == STORE_CONFLICT, "dataset delete: paused job uses it", "");
    store_job_finish(db, job, JOB_CANCELLED, 0, NULL);
    test_report(store_dataset_delete(db, "fashion mnist") == STORE_OK &&
                    store_dataset_get(db, "fashion mnist", &got) == STORE_NOT_FOUND,
                "dataset delete", "");
    test_report(store_dataset_delete(db, "fashion mnist") == STORE_NOT_FOUND, "dataset delete: unknown", "");
    json_t *j = store_job_json(db, job);
    test_report(j && !strcmp(json_string_value(json_object_get(j, "dataset")), "fashion mnist"),
                "dataset delete: jobs keep the name", "");
    json_decref(j);
}

// A dataset registered as scanning: its queued jobs wait (the scheduler skips them, their JSON
// says why), its running count moves, then ready with its counts (the jobs may start) or failed
// (its queued jobs fail with the reason); restart finds the ones still scanning.
static void test_dataset_scans(Db *db)
{
    DatasetRow row = {.format = DATA_FORMAT_SHARDS, .state = DATASET_SCANNING, .bytes = -1};
    snprintf(row.name, sizeof row.name, "big");
    snprintf(row.path, sizeof row.path, "/data/big");
    snprintf(row.sample_path, sizeof row.sample_path, "%s/datasets/big/sample.png", dir);
    snprintf(row.train_glob, sizeof row.train_glob, "train-*.tar");
    DatasetRow other = row;
    snprintf(other.name, sizeof other.name, "other");
    other.test_glob[0] = 0;
    snprintf(other.test_glob, sizeof other.test_glob, "test-*.tar");
    test_report(store_dataset_insert(db, &row) == STORE_OK &&
                    store_dataset_insert(db, &other) == STORE_OK,
                "scans: two datasets recorded as scanning", "");
    DatasetRow got;
    int rc = store_dataset_get(db, "big", &got);
    test_report(rc == STORE_OK && got.state == DATASET_SCANNING && got.format == DATA_FORMAT_SHARDS &&
                    !strcmp(got.train_glob, "train-*.tar") && !got.test_glob[0] && got.bytes < 0 &&
                    got.scanned == 0,
                "scans: a scanning row reads back", "state %d", got.state);
    char **names = NULL;
    int n = store_datasets_in_state(db, DATASET_SCANNING, &names);
    test_report(n == 2 && !strcmp(names[0], "big") && !strcmp(names[1], "other"),
                "scans: the datasets still scanning (for a restart)", "%d", n);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);

    long waiting = make_job(db, "pretrain", "waits", 100, "big");
    test_report(store_job_next_queued(db) != waiting, "scans: the scheduler skips a job whose "
                "dataset is scanning", "");
    json_t *j = store_job_json(db, waiting);
    const char *why = json_string_value(json_object_get(j, "waiting_for"));
    test_report(why && !strcmp(why, "dataset big scanning"), "scans: the job says what it waits "
                "for", "%s", why ? why : "null");
    json_decref(j);
    test_report(store_dataset_scan_progress(db, "big", 1234) == STORE_OK &&
                    store_dataset_get(db, "big", &got) == STORE_OK && got.scanned == 1234,
                "scans: the running count", "%ld", got.scanned);
    j = store_dataset_json(&got);
    test_report(j && !strcmp(json_string_value(json_object_get(j, "state")), "scanning") &&
                    num(j, "scanned", NULL) == 1234 && json_is_null(json_object_get(j, "bytes")) &&
                    !strcmp(json_string_value(json_object_get(j, "format")), "shards") &&
                    !strcmp(json_string_value(json_object_get(j, "train")), "train-*.tar") &&
                    json_is_null(json_object_get(j, "test")) &&
                    json_is_null(json_object_get(j, "shards")),
                "scans: the scanning dataset's JSON", "");
    json_decref(j);

    DatasetRow ready = got;
    ready.train_count = 9800, ready.test_count = 200, ready.num_classes = 5, ready.channels = 3;
    ready.image_size = 64, ready.scanned = 10000, ready.train_shards = 10, ready.bad_samples = 3;
    ready.bytes = 123456789.0, ready.skipped = 1;
    snprintf(ready.sample_labels, sizeof ready.sample_labels, "[\"0\", \"4\"]");
    test_report(store_dataset_scan_ready(db, &ready) == STORE_OK &&
                    store_dataset_get(db, "big", &got) == STORE_OK && got.state == DATASET_READY &&
                    got.train_count == 9800 && got.test_count == 200 && got.num_classes == 5 &&
                    got.scanned == 10000 && got.train_shards == 10 && got.bad_samples == 3 &&
                    got.bytes == 123456789.0 && got.skipped == 1,
                "scans: ready with its counts", "state %d", got.state);
    test_report(store_dataset_scan_ready(db, &ready) == STORE_NOT_FOUND &&
                    store_dataset_scan_progress(db, "big", 1) == STORE_NOT_FOUND &&
                    store_dataset_scan_failed(db, "big", "late") == STORE_NOT_FOUND,
                "scans: a ready dataset takes no more scan results", "");
    test_report(store_job_next_queued(db) == waiting, "scans: ready, its job is next", "");
    j = store_job_json(db, waiting);
    test_report(json_is_null(json_object_get(j, "waiting_for")), "scans: ready, the job waits for "
                "nothing", "");
    json_decref(j);
    j = store_dataset_json(&got);
    json_t *shards = json_object_get(j, "shards");
    test_report(j && num(shards, "train", NULL) == 10 && num(shards, "test", NULL) == 0 &&
                    num(j, "bytes", NULL) == 123456789.0 && num(j, "bad_samples", NULL) == 3,
                "scans: the ready dataset's JSON", "");
    json_decref(j);

    long on_other = make_job(db, "pretrain", "doomed", 0, "other");
    long *ids = NULL;
    n = store_jobs_queued_on(db, "other", &ids);
    test_report(n == 1 && ids[0] == on_other, "scans: the queued jobs on a dataset", "%d", n);
    free(ids);
    test_report(store_dataset_scan_failed(db, "other", "test: /data/x.tar: not a tar archive") ==
                    STORE_OK && store_dataset_get(db, "other", &got) == STORE_OK &&
                    got.state == DATASET_FAILED && !strcmp(got.error, "test: /data/x.tar: not a tar archive"),
                "scans: failed, with the reason", "%s", got.error);
    j = store_job_json(db, on_other);
    const char *error = json_string_value(json_object_get(j, "error"));
    test_report(!strcmp(json_string_value(json_object_get(j, "state")), "failed") && error &&
                    !strcmp(error, "dataset \"other\": its scan failed: test: /data/x.tar: not a "
                            "tar archive") && json_is_null(json_object_get(j, "exit_status")),
                "scans: a queued job on a failed dataset fails, naming the reason", "%s",
                error ? error : "null");
    json_decref(j);
    test_report(store_job_fail_queued(db, waiting, "train.batch_size: 512 exceeds the 300 training "
                                      "images of dataset \"big\"") == STORE_OK &&
                    store_job_fail_queued(db, waiting, "again") == STORE_CONFLICT,
                "scans: a queued job the ready dataset does not suit fails", "");
    test_report(store_dataset_delete(db, "big") == STORE_OK && store_dataset_delete(db, "other") ==
                    STORE_OK, "scans: datasets without live jobs can go", "");
}

// --- deletion, counts, Prometheus ----------------------------------------------------------

static void test_delete(Db *db, long id)
{
    // A fine-tuning job starting from the finished job's checkpoint holds it.
    long latest = 0;
    store_job_latest_checkpoint(db, id, &latest);
    char api[] = "{\"kind\": \"finetune\", \"dataset\": \"fmnist\", \"finetune\": {\"init_from\": 1}}";
    char child[] = "{\"kind\": \"finetune\", \"dataset\": {\"format\": \"idx\", \"path\": \"/d\"}, "
                   "\"finetune\": {\"init_from\": {\"path\": \"/x.safetensors\"}}}";
    JobSpec spec;
    long ft = spec_parse(api, strlen(api), &spec, NULL) ? -1 : store_job_create(db, &spec, api, child, latest, runs, 0);
    json_t *job = store_job_json(db, ft);
    test_report(ft > 0 && num(job, "init_checkpoint_id", NULL) == latest, "job with init checkpoint", "");
    json_decref(job);

    test_report(store_job_delete(db, id) == STORE_CONFLICT, "delete: a running job is refused", "");
    store_job_finish(db, id, JOB_SUCCEEDED, 0, NULL);
    test_report(store_job_delete(db, id) == STORE_CONFLICT, "delete: refused while a live job starts from it", "");
    store_job_transition(db, ft, STATE_BIT(JOB_QUEUED), JOB_CANCELLED, 0);
    test_report(store_job_delete(db, id) == STORE_OK, "delete: finished job", "");
    test_report(store_job_json(db, id) == NULL && rows_of(db, "metrics", id) == 0 &&
                    rows_of(db, "checkpoints", id) == 0 && rows_of(db, "previews", id) == 0,
                "delete: rows cascade", "");
    job = store_job_json(db, ft);
    test_report(json_is_null(json_object_get(job, "init_checkpoint_id")), "delete: init checkpoint set null", "");
    json_decref(job);
    test_report(store_job_delete(db, id) == STORE_NOT_FOUND, "delete: unknown job", "");
    long again = make_job(db, "pretrain", "after-delete", 0, "fmnist");
    test_report(again > ft, "ids are not reused", "%ld after %ld", again, ft);
    store_job_finish(db, again, JOB_CANCELLED, 0, NULL);
}

// The representation probes (migration 0008): a linear probe is a job of its own kind, listed
// and filtered as one; a pretraining's knn_top1 reaches its metrics series, its latest metrics
// and Prometheus; the kind's CHECK still refuses other words.
static void test_probes(Db *db)
{
    long probe = make_job(db, "linprobe", "probe", 0, "fmnist");
    JobRuntime rt = {0};
    int rc = store_job_runtime(db, probe, &rt);
    free(rt.child_spec);
    json_t *list = store_jobs_json(db, NULL, "linprobe", 0, 10, 0);
    json_t *jobs = json_object_get(list, "jobs");
    test_report(probe > 0 && rc == STORE_OK && rt.kind == JOB_LINPROBE && json_array_size(jobs) == 1 &&
                    !strcmp(json_string_value(json_object_get(json_array_get(jobs, 0), "kind")), "linprobe"),
                "probes: a linprobe job stored, read back and listed by its kind", "id %ld", probe);
    json_decref(list);
    store_job_transition(db, probe, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    int bad = ingest_text(db, probe, "{\"event\":\"start\",\"kind\":\"linprobe\",\"total_steps\":1000,"
                                     "\"steps_per_epoch\":1000,\"epochs\":1,\"resumed_from_step\":0}");
    bad += ingest_text(db, probe, "{\"event\":\"progress\",\"step\":40,\"total_steps\":40,\"epoch\":1,"
                                  "\"loss\":0.4,\"grad_norm\":0.001}");
    bad += ingest_text(db, probe, "{\"event\":\"eval\",\"step\":40,\"epoch\":1,\"val_loss\":0.5,"
                                  "\"top1\":81.25}");
    bad += ingest_text(db, probe, "{\"event\":\"done\",\"step\":40,\"epoch\":1,\"val_loss\":0.5,"
                                  "\"top1\":81.25}");
    json_t *job = store_job_json(db, probe);
    test_report(bad == 0 && num(job, "metrics", "top1") == 81.25 && num(job, "progress", "step") == 40 &&
                    num(job, "progress", "total") == 40,
                "probes: a linear probe's top1 and its iterations as progress", "top1 %g",
                num(job, "metrics", "top1"));
    json_decref(job);
    store_job_finish(db, probe, JOB_SUCCEEDED, 0, NULL);

    long pre = make_job(db, "pretrain", "knn", 0, "fmnist");
    store_job_transition(db, pre, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    bad = ingest_text(db, pre, "{\"event\":\"progress\",\"step\":50,\"loss\":0.3}");
    bad += ingest_text(db, pre, "{\"event\":\"eval\",\"step\":50,\"epoch\":1,\"val_loss\":0.6,"
                                "\"knn_top1\":42.5,\"knn_s\":3.5}");
    bad += ingest_text(db, pre, "{\"event\":\"eval\",\"step\":100,\"epoch\":2,\"val_loss\":0.5,"
                                "\"knn_top1\":47.75,\"knn_s\":3.5}");
    json_t *doc = store_metrics_json(db, pre, 0), *series = json_object_get(doc, "metrics");
    job = store_job_json(db, pre);
    test_report(bad == 0 && json_array_size(series) == 2 &&
                    num(json_array_get(series, 0), "knn_top1", NULL) == 42.5 &&
                    num(json_array_get(series, 0), "loss", NULL) == 0.3 &&
                    num(json_array_get(series, 1), "knn_top1", NULL) == 47.75 &&
                    num(job, "metrics", "knn_top1") == 47.75 && !json_object_get(json_object_get(job, "metrics"), "top1"),
                "probes: knn_top1 in the metrics series and the job's latest metrics", "%g",
                num(job, "metrics", "knn_top1"));
    json_decref(doc);
    json_decref(job);
    char buf[4096], line[128];
    long len = store_prometheus(db, buf, sizeof buf, 0);
    snprintf(line, sizeof line, "simmimd_job_knn_top1{job=\"%ld\"} 47.75\n", pre);
    test_report(len > 0 && strstr(buf, line) && strstr(buf, "# TYPE simmimd_job_knn_top1 gauge\n"),
                "probes: prometheus gauge of a running pretraining's knn_top1", "");
    store_job_finish(db, pre, JOB_CANCELLED, 0, NULL);
    db_lock(db);
    rc = sqlite3_exec(db_sqlite(db), "INSERT INTO jobs (kind, api_spec, child_spec, created_at) "
                                     "VALUES ('probe', '{}', '{}', 0)", NULL, NULL, NULL);
    db_unlock(db);
    test_report((rc & 0xff) == SQLITE_CONSTRAINT, "probes: the kind's CHECK still refuses another word", "%d", rc);
}

// --- studies -------------------------------------------------------------------------------

// A study probing its pretraining (migration 0009: the linprobe role and column): its record,
// the runs to submit before and after the pretraining succeeds, and the jobs list of the study.
static void test_studies(Db *db)
{
    char pre_spec[] = "{\"kind\": \"pretrain\"}", probe_spec[] = "{\"kind\": \"linprobe\"}",
         ft_spec[] = "{\"kind\": \"finetune\"}";
    StudyRun runs_planned[] = {{STUDY_PRETRAIN, 0, 0, -1, pre_spec}, {STUDY_LINPROBE, 0, 0, 0, probe_spec},
                               {STUDY_FINETUNE, 0, 0, 0, ft_spec}};
    StudyRecord rec = {.name = "probed", .axes = "[{\"field\": \"pretrain.mask.ratio\", \"values\": [0.5]}]",
                       .seeds = "[0]", .cells = "[{\"pretrain.mask.ratio\": 0.5}]", .pretrain = "{}",
                       .finetune = "{}", .linprobe = "{\"linprobe\": {\"max_iterations\": 50}}",
                       .runs = runs_planned, .run_count = 3};
    long study = store_study_create(db, &rec), plain = store_study_create(db, &(StudyRecord){
        .name = "plain", .axes = rec.axes, .seeds = "[0]", .cells = rec.cells, .pretrain = "{}",
        .finetune = "{}", .runs = runs_planned, .run_count = 1});
    StudyPending *pending;
    int count = store_study_pending(db, study, &pending);
    test_report(study > 0 && plain > study && count == 1 && pending[0].role == STUDY_PRETRAIN,
                "studies: stored with a probe run; at first only the pretraining can be submitted",
                "%ld %ld, %d pending", study, plain, count);
    long run = count == 1 ? pending[0].run_id : 0, pre = 0;
    for (int i = 0; i < count; i++) free(pending[i].spec);
    free(pending);
    JobSpec spec;
    const char *api = "{\"kind\": \"pretrain\", \"dataset\": \"fmnist\"}";
    if (spec_parse(api, strlen(api), &spec, NULL) == 0)
        pre = store_job_create(db, &spec, api, "{\"kind\": \"pretrain\", \"dataset\": {\"format\": "
                               "\"idx\", \"path\": \"/data/fmnist\"}}", 0, runs, run);
    make_job(db, "pretrain", "not the study's", 0, "fmnist");
    store_job_transition(db, pre, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    int bad = ingest_text(db, pre, "{\"event\":\"eval\",\"step\":5,\"epoch\":1,\"val_loss\":0.6,"
                                   "\"knn_top1\":40.5,\"knn_s\":1}");
    store_job_finish(db, pre, JOB_SUCCEEDED, 0, NULL);
    count = store_study_pending(db, study, &pending);
    test_report(bad == 0 && count == 2 && pending[0].role == STUDY_LINPROBE && pending[0].pretrain_job == pre &&
                    pending[1].role == STUDY_FINETUNE && !strcmp(pending[0].spec, probe_spec),
                "studies: once the pretraining succeeded, its probe and fine-tuning can be submitted",
                "%d pending", count);
    for (int i = 0; i < count; i++) free(pending[i].spec);
    free(pending);
    json_t *raw = store_study_raw(db, study), *list = store_jobs_json(db, NULL, NULL, study, 0, 0),
           *none = store_jobs_json(db, NULL, "finetune", study, 0, 0), *other = store_study_raw(db, plain);
    const json_t *probe_run = json_array_get(json_object_get(raw, "runs"), 1),
                 *pre_run = json_array_get(json_object_get(raw, "runs"), 0);
    test_report(json_integer_value(json_object_get(json_object_get(json_object_get(raw, "linprobe"), "linprobe"),
                                                   "max_iterations")) == 50 &&
                    !strcmp(json_string_value(json_object_get(probe_run, "role")), "linprobe") &&
                    num(pre_run, "knn_top1", NULL) == 40.5 && json_is_null(json_object_get(other, "linprobe")),
                "studies: the record holds the probe's spec (null without), its run and the k-NN top-1",
                "");
    test_report(num(list, "total", NULL) == 1 &&
                    num(json_array_get(json_object_get(list, "jobs"), 0), "id", NULL) == pre &&
                    num(json_array_get(json_object_get(list, "jobs"), 0), "study", NULL) == study &&
                    num(none, "total", NULL) == 0,
                "studies: the jobs list filtered by study (with a kind too)", "%g",
                num(list, "total", NULL));
    json_decref(raw);
    json_decref(other);
    json_decref(list);
    json_decref(none);
}

static void test_counts_and_prometheus(Db *db)
{
    long running = make_job(db, "pretrain", "r", 0, "fmnist");
    long queued = make_job(db, "pretrain", "q", 0, "fmnist");
    store_job_transition(db, running, STATE_BIT(JOB_QUEUED), JOB_RUNNING, 0);
    ingest_text(db, running, "{\"event\": \"progress\", \"step\": 40, \"loss\": 0.25, \"img_per_s\": 512.5}");
    json_t *counts = store_job_counts_json(db);
    long all = query(db, "SELECT COUNT(*) FROM jobs", -1), sum = 0;
    const char *key;
    json_t *value;
    json_object_foreach(counts, key, value) sum += (long)json_integer_value(value);
    test_report(json_object_size(counts) == 6 && num(counts, "running", NULL) == 1 && num(counts, "queued", NULL) == 1 &&
                    num(counts, "paused", NULL) == 0 && sum == all,
                "counts by state", "%ld jobs", sum);
    json_decref(counts);

    char buf[4096], line[128];
    size_t prefix = (size_t)snprintf(buf, sizeof buf, "# before\n");
    long len = store_prometheus(db, buf, sizeof buf, prefix);
    int ok = len > (long)prefix && (size_t)len == strlen(buf) && !strncmp(buf, "# before\n", 9) &&
             strstr(buf, "# TYPE simmimd_jobs gauge\n") && strstr(buf, "# HELP simmimd_jobs ");
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        snprintf(line, sizeof line, "simmimd_jobs{state=\"%s\"} ", job_state_name(s));
        ok &= strstr(buf, line) != NULL;
    }
    test_report(ok, "prometheus: jobs by state", "%ld bytes", len);
    snprintf(line, sizeof line, "simmimd_job_step{job=\"%ld\"} 40\n", running);
    ok = strstr(buf, line) != NULL;
    snprintf(line, sizeof line, "simmimd_job_loss{job=\"%ld\"} 0.25\n", running);
    ok &= strstr(buf, line) != NULL;
    snprintf(line, sizeof line, "simmimd_job_img_per_s{job=\"%ld\"} 512.5\n", running);
    ok &= strstr(buf, line) != NULL && strstr(buf, "# TYPE simmimd_job_img_per_s gauge\n");
    snprintf(line, sizeof line, "{job=\"%ld\"}", queued);
    ok &= strstr(buf, line) == NULL;
    test_report(ok, "prometheus: running job gauges", "");
    test_report(store_prometheus(db, buf, 64, 0) == -1, "prometheus: too small a buffer", "");
    store_job_finish(db, running, JOB_CANCELLED, 0, NULL);
    store_job_finish(db, queued, JOB_CANCELLED, 0, NULL);
}

static void cleanup(void)
{
    const char *names[] = {"simmimd.db", "simmimd.db-wal", "simmimd.db-shm", "newer.db", "newer.db-wal",
                           "newer.db-shm"};
    char path[300];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

// A database written by a simmimd before migration 0002 (which only kept started_at) gets
// its jobs' running times from started_at to their end: finished_at, or the last event.
static void test_run_time_migration(void)
{
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/v1.db", dir);
    sqlite3 *c = NULL;
    const char *rows =
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL);"
        "INSERT INTO schema_migrations VALUES (1, 1700000000);"
        "INSERT INTO jobs (id, kind, state, api_spec, child_spec, created_at, started_at, finished_at) VALUES"
        " (1, 'pretrain', 'succeeded', '{}', '{}', 1000, 1000, 1600),"
        " (2, 'pretrain', 'running', '{}', '{}', 2000, 2000, NULL),"
        " (3, 'pretrain', 'paused', '{}', '{}', 3000, 3000, NULL),"
        " (4, 'pretrain', 'queued', '{}', '{}', 4000, NULL, NULL);"
        "INSERT INTO metrics (job_id, kind, step, t) VALUES (3, 'progress', 10, 3100), (3, 'progress', 20, 3300);";
    int rc = sqlite3_open(path, &c);
    if (rc == SQLITE_OK) rc = sqlite3_exec(c, simmimd_migrations[0], NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(c, rows, NULL, NULL, NULL);
    sqlite3_close(c);
    test_report(rc == SQLITE_OK, "migration 0002: a version-1 database written", "%s", sqlite3_errstr(rc));
    Db *db = db_open(path, err, sizeof err);
    test_report(db && db_schema_version(db) == simmimd_migration_count, "migration 0002: applied", "%s", err);
    if (!db) return;
    test_report(duration_of(db, 1) == 600, "migration 0002: a finished job ran until it finished", "%g",
                duration_of(db, 1));
    test_report(duration_of(db, 3) == 300, "migration 0002: a paused job ran until its last event", "%g",
                duration_of(db, 3));
    long since = query(db, "SELECT running_since FROM jobs WHERE id = 2", -1);
    test_report(since == 2000, "migration 0002: a running job's interval starts at started_at", "%ld", since);
    json_t *never = store_job_json(db, 4);
    test_report(json_is_null(json_object_get(never, "duration_s")), "migration 0002: a job never started has none", "");
    json_decref(never);
    db_close(db);
}

int main(void)
{
    if (!mkdtemp(dir)) return 2;
    snprintf(db_path, sizeof db_path, "%s/simmimd.db", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    test_migrations();
    test_newer_schema();
    test_run_time_migration();
    Db *db = open_db();
    test_jobs_list(db);
    test_transitions(db);
    test_run_time(db);
    test_next_queued(db);
    long id = make_job(db, "pretrain", "events", 0, "fmnist");
    test_events(db, id);
    test_metrics(db, id);
    test_checkpoints(db, id);
    test_hostile_events(db, id);
    test_dataset_rows(db);
    test_delete(db, id);
    test_counts_and_prometheus(db);
    test_probes(db);
    test_studies(db);
    test_dataset_scans(db);
    test_arch(db);
    db_close(db);
    cleanup();
    TEST_EXIT();
}
