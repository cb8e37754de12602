// Jobs in the store (store.h): creation, the state machine (one conditional UPDATE per
// transition), the job JSON of the API and its filtered, paginated list, what the scheduler
// and supervisor read (next queued job, runtime, jobs by state), deletion of finished jobs,
// counts by state and the Prometheus gauges.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_sql.h"

enum { LIST_DEFAULT_LIMIT = 100, LIST_MAX_LIMIT = 1000 };

static const char *const STATE_NAMES[JOB_STATE_COUNT] = {
    [JOB_QUEUED] = "queued", [JOB_RUNNING] = "running", [JOB_PAUSED] = "paused",
    [JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed", [JOB_CANCELLED] = "cancelled"};
#define FINISHED_STATES (STATE_BIT(JOB_SUCCEEDED) | STATE_BIT(JOB_FAILED) | STATE_BIT(JOB_CANCELLED))
#define LIVE_STATES (STATE_BIT(JOB_QUEUED) | STATE_BIT(JOB_RUNNING) | STATE_BIT(JOB_PAUSED))

const char *job_state_name(JobState s)
{
    return (unsigned)s < JOB_STATE_COUNT ? STATE_NAMES[s] : "unknown";
}

int job_state_parse(const char *name, JobState *s)
{
    for (int i = 0; name && i < JOB_STATE_COUNT; i++)
        if (strcmp(name, STATE_NAMES[i]) == 0) {
            *s = (JobState)i;
            return 0;
        }
    return -1;
}

// The states of a mask as ",queued,paused," for `instr(?, ',' || state || ',')`.
static void state_list(unsigned mask, char *out, size_t cap)
{
    size_t len = 0;
    out[len++] = ',';
    for (int s = 0; s < JOB_STATE_COUNT; s++)
        if (mask & STATE_BIT(s)) len += (size_t)snprintf(out + len, cap - len, "%s,", job_state_name(s));
    out[len] = 0;
}

// --- creation ----------------------------------------------------------------------------

// The child's spec with "job_id" set (checkpoints record it), re-serialized canonically.
static char *child_spec_with_id(const char *child_spec, long id)
{
    JobSpec spec;
    SpecError err;
    if (spec_parse(child_spec, strlen(child_spec), &spec, &err)) {
        fprintf(stderr, "simmimd: job %ld: the child spec does not parse: %s\n", id, err.message);
        return NULL;
    }
    spec.job_id = id;
    return spec_to_json(&spec);
}

// A study's job takes its run (the run must not have one yet: a run is submitted once).
static int link_study_run(sqlite3 *c, long id, long study_run)
{
    int rc = sql_exec(c, "UPDATE study_runs SET job_id = ?1 WHERE id = ?2 AND job_id IS NULL", "ll",
                      id, study_run);
    if (rc == 0) return STORE_CONFLICT;
    if (rc < 0) return rc;
    rc = sql_exec(c, "UPDATE jobs SET study_id = (SELECT study_id FROM study_runs WHERE id = ?) "
                     "WHERE id = ?", "ll", study_run, id);
    return rc == 1 ? STORE_OK : STORE_ERROR;
}

static long job_insert(sqlite3 *c, const JobSpec *spec, const char *api_spec, const char *child_spec,
                       long init_checkpoint_id, const char *runs_dir, long study_run)
{
    const long *init = init_checkpoint_id > 0 ? &init_checkpoint_id : NULL;
    const char *dataset = spec->dataset_name[0] ? spec->dataset_name : NULL;
    if (sql_exec(c,
                 "INSERT INTO jobs (name, kind, priority, dataset, init_checkpoint_id, api_spec, "
                 "child_spec, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 "ssisLssd", spec->name, spec_kind_name(spec->kind), spec->priority, dataset, init, api_spec,
                 child_spec, store_now()) < 0)
        return STORE_ERROR;
    long id = (long)sqlite3_last_insert_rowid(c);
    char run_dir[sizeof ((JobRuntime *)0)->run_dir];
    char *spec_text = child_spec_with_id(child_spec, id);
    int n = snprintf(run_dir, sizeof run_dir, "%s/%ld", runs_dir, id);
    // A job without a name is named after what it is: <kind>-<dataset>-<id>.
    int rc = spec_text && n > 0 && (size_t)n < sizeof run_dir &&
                     sql_exec(c, "UPDATE jobs SET run_dir = ?, child_spec = ?, name = CASE name "
                                 "WHEN '' THEN kind || '-' || COALESCE(dataset, 'data') || '-' || id "
                                 "ELSE name END WHERE id = ?",
                              "ssl", run_dir, spec_text, id) == 1
                 ? STORE_OK
                 : STORE_ERROR;
    free(spec_text);
    if (rc == STORE_OK && study_run > 0) rc = link_study_run(c, id, study_run);
    return rc == STORE_OK ? id : rc;
}

long store_job_create(Db *db, const JobSpec *spec, const char *api_spec, const char *child_spec,
                      long init_checkpoint_id, const char *runs_dir, long study_run)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    long id = sql_begin(c);
    if (id == STORE_OK)
        id = sql_end(c, job_insert(c, spec, api_spec, child_spec, init_checkpoint_id, runs_dir, study_run));
    db_unlock(db);
    return id;
}

// --- the job JSON ------------------------------------------------------------------------

// waiting_for: why a queued job does not start yet (its dataset is still being scanned).
#define JOB_SELECT                                                                              \
    "SELECT id, name, kind, state, priority, dataset, api_spec, step, total_steps, epoch, eta_s, " \
    "loss, lr, img_per_s, val_loss, top1, knn_top1, error, exit_status, created_at, started_at, " \
    "finished_at, init_checkpoint_id, run_s, running_since, restarts, study_id, "               \
    "(SELECT 'dataset ' || d.name || ' ' || d.state FROM datasets d WHERE d.name = jobs.dataset " \
    "AND d.state = 'scanning' AND jobs.state = 'queued') AS waiting_for FROM jobs "
#define JOB_FILTER \
    "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR study_id = ?3) "

// Where each column goes in the job object: a section ("progress", "metrics") or the top
// level. Missing values are null, except in "metrics" where they are left out.
static const struct {
    const char *section, *key, *column;
} JOB_FIELDS[] = {
    {NULL, "id", "id"}, {NULL, "name", "name"}, {NULL, "kind", "kind"}, {NULL, "state", "state"},
    {NULL, "priority", "priority"}, {NULL, "dataset", "dataset"},
    {NULL, "waiting_for", "waiting_for"},
    {"progress", "step", "step"}, {"progress", "total", "total_steps"},
    {"progress", "epoch", "epoch"}, {"progress", "eta_s", "eta_s"},
    {"metrics", "loss", "loss"}, {"metrics", "lr", "lr"}, {"metrics", "img_per_s", "img_per_s"},
    {"metrics", "val_loss", "val_loss"}, {"metrics", "top1", "top1"},
    {"metrics", "knn_top1", "knn_top1"},
    {NULL, "error", "error"}, {NULL, "exit_status", "exit_status"},
    {NULL, "created_at", "created_at"}, {NULL, "started_at", "started_at"},
    {NULL, "finished_at", "finished_at"}, {NULL, "init_checkpoint_id", "init_checkpoint_id"},
    {NULL, "restarts", "restarts"}, {NULL, "study", "study_id"},
};

// Seconds the job has spent running (not paused, queued again, or waiting out a daemon
// stop); null if it never started.
static json_t *job_duration(const json_t *row)
{
    if (!json_object_get(row, "started_at")) return json_null();
    json_t *since = json_object_get(row, "running_since");
    double current = since ? fmax(0.0, store_now() - json_number_value(since)) : 0.0;
    return json_real(json_number_value(json_object_get(row, "run_s")) + current);
}

static json_t *job_shape(const json_t *row)
{
    json_t *job = json_object();
    int bad = !job;
    for (size_t i = 0; !bad && i < sizeof JOB_FIELDS / sizeof *JOB_FIELDS; i++) {
        json_t *dst = job;
        if (JOB_FIELDS[i].section && !(dst = json_object_get(job, JOB_FIELDS[i].section))) {
            dst = json_object();
            bad |= json_object_set_new(job, JOB_FIELDS[i].section, dst) != 0;
        }
        json_t *v = json_object_get(row, JOB_FIELDS[i].column);
        int metrics = JOB_FIELDS[i].section && strcmp(JOB_FIELDS[i].section, "metrics") == 0;
        if (!v && metrics) continue;
        bad |= !dst || json_object_set_new(dst, JOB_FIELDS[i].key, v ? json_incref(v) : json_null()) != 0;
    }
    const char *spec_text = json_string_value(json_object_get(row, "api_spec"));
    json_t *spec = spec_text ? json_loads(spec_text, 0, NULL) : NULL;
    // The encoder's arch, for lists and summaries: the spec's (its model is the checkpoint's
    // once a job from one is stored).
    json_t *arch = json_object_get(json_object_get(spec, "model"), "arch");
    bad = bad || json_object_set_new(job, "arch", arch ? json_incref(arch) : json_null()) ||
          json_object_set_new(job, "spec", spec ? spec : json_null()) ||
          json_object_set_new(job, "duration_s", job_duration(row));
    if (bad) json_decref(job);
    return bad ? NULL : job;
}

// Rows are read under the database lock and shaped into jobs after it (parsing each job's
// spec is most of the work, and the trainers' events and every other request wait for the
// lock meanwhile).
static int append_job_row(sqlite3_stmt *st, void *ctx)
{
    json_t *row = sql_row_object(st);
    return row && json_array_append_new(ctx, row) == 0 ? STORE_OK : STORE_ERROR;
}

// The rows as jobs (rows is stolen); NULL on error.
static json_t *shape_jobs(json_t *rows)
{
    json_t *jobs = rows ? json_array() : NULL, *row;
    size_t i;
    json_array_foreach(rows, i, row) {
        json_t *job = jobs ? job_shape(row) : NULL;
        if (!job || json_array_append_new(jobs, job)) {
            json_decref(jobs);
            jobs = NULL;
            break;
        }
    }
    json_decref(rows);
    return jobs;
}

json_t *store_job_json(Db *db, long id)
{
    json_t *rows = json_array();
    if (!rows) return NULL;
    db_lock(db);
    int rc = sql_each(db_sqlite(db), append_job_row, rows, JOB_SELECT "WHERE id = ?", "l", id);
    db_unlock(db);
    json_t *jobs = rc == STORE_OK ? shape_jobs(rows) : (json_decref(rows), NULL);
    json_t *job = json_incref(json_array_get(jobs, 0));
    json_decref(jobs);
    return job;
}

json_t *store_jobs_json(Db *db, const char *state, const char *kind, long study, long limit,
                        long offset)
{
    if (limit <= 0) limit = LIST_DEFAULT_LIMIT;
    if (limit > LIST_MAX_LIMIT) limit = LIST_MAX_LIMIT;
    if (offset < 0) offset = 0;
    json_t *rows = json_array();
    long total = 0;
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    const long *of_study = study > 0 ? &study : NULL;
    int rc = rows ? sql_each(c, append_job_row, rows, JOB_SELECT JOB_FILTER "ORDER BY id DESC LIMIT ?4 OFFSET ?5",
                             "ssLll", state, kind, of_study, limit, offset)
                  : STORE_ERROR;
    if (rc == STORE_OK)
        rc = sql_long(c, &total, "SELECT COUNT(*) FROM jobs " JOB_FILTER, "ssL", state, kind, of_study);
    db_unlock(db);
    json_t *jobs = rc == STORE_OK ? shape_jobs(rows) : (json_decref(rows), NULL);
    return jobs ? json_pack("{s:o, s:I}", "jobs", jobs, "total", (json_int_t)total) : NULL;
}

// --- the state machine -------------------------------------------------------------------

// Moves a job whose state is in from_mask to `to`, with the timestamps `to` implies.
// resume < 0 keeps the flag; exit_status and error NULL keep theirs. Leaving 'running' adds
// the interval since running_since to run_s, ending now or, for a run the daemon lost
// (until_last_heard), at the last progress or evaluation event it recorded.
static int job_set_state(Db *db, long id, unsigned from_mask, JobState to, int resume,
                         const long *exit_status, const char *error, int until_last_heard)
{
    char from[128];
    state_list(from_mask, from, sizeof from);
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = sql_exec(c,
                      "UPDATE jobs SET state = ?1, resume = CASE WHEN ?2 < 0 THEN resume ELSE ?2 END, "
                      "started_at = CASE WHEN ?1 = 'running' THEN COALESCE(started_at, ?3) ELSE started_at END, "
                      "finished_at = CASE WHEN ?1 IN ('succeeded', 'failed', 'cancelled') THEN ?3 "
                      "WHEN ?1 = 'queued' THEN NULL ELSE finished_at END, "
                      // NULL (not running, or lost with no event recorded) adds nothing.
                      "run_s = run_s + COALESCE(MAX(0, CASE WHEN ?8 THEN (SELECT MAX(t) FROM metrics "
                      "WHERE metrics.job_id = jobs.id) ELSE ?3 END - running_since), 0), "
                      "running_since = CASE WHEN ?1 = 'running' THEN ?3 ELSE NULL END, "
                      "exit_status = COALESCE(?4, exit_status), error = COALESCE(?5, error) "
                      "WHERE id = ?6 AND instr(?7, ',' || state || ',') > 0",
                      "sidLslsi", job_state_name(to), resume, store_now(), exit_status, error, id, from,
                      until_last_heard);
    if (rc == 0) rc = job_exists(c, id) == STORE_OK ? STORE_CONFLICT : STORE_NOT_FOUND;
    db_unlock(db);
    return rc < 0 ? rc : STORE_OK;
}

int store_job_transition(Db *db, long id, unsigned from_mask, JobState to, int resume)
{
    return job_set_state(db, id, from_mask, to, resume ? 1 : 0, NULL, NULL, 0);
}

int store_job_requeue_lost(Db *db, long id)
{
    return job_set_state(db, id, STATE_BIT(JOB_RUNNING), JOB_QUEUED, 1, NULL, NULL, 1);
}

int store_job_requeue_killed(Db *db, long id, int max_restarts, double backoff_s, int *attempt,
                             double *delay_s)
{
    long restarts = 0;
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = sql_long(c, &restarts, "SELECT restarts FROM jobs WHERE id = ? AND state = 'running'",
                      "l", id);
    if (rc == STORE_OK && restarts >= max_restarts) rc = STORE_CONFLICT;
    if (rc == STORE_OK) {
        *attempt = (int)restarts + 1;
        *delay_s = ldexp(backoff_s, (int)restarts);
        rc = sql_exec(c, "UPDATE jobs SET restarts = restarts + 1, restart_after = ?, "
                         "killed_at_step = MAX(COALESCE(killed_at_step, 0), step) WHERE id = ?",
                      "dl", store_now() + *delay_s, id);
    }
    db_unlock(db);
    if (rc < 0 || rc == STORE_CONFLICT || rc == STORE_NOT_FOUND) return rc;
    return store_job_transition(db, id, STATE_BIT(JOB_RUNNING), JOB_QUEUED, 1);
}

int store_job_finish(Db *db, long id, JobState state, int exit_status, const char *error)
{
    long status = exit_status;
    return job_set_state(db, id, LIVE_STATES, state, -1, &status, error, 0);
}

// --- what the scheduler and the supervisor read ------------------------------------------

long store_job_next_queued(Db *db)
{
    long id = 0;
    db_lock(db);
    int rc = sql_long(db_sqlite(db), &id,
                      "SELECT id FROM jobs WHERE state = 'queued' AND "
                      "(restart_after IS NULL OR restart_after <= ?) AND NOT EXISTS "
                      "(SELECT 1 FROM datasets d WHERE d.name = jobs.dataset AND "
                      "d.state <> 'ready') "
                      "ORDER BY priority DESC, created_at, id LIMIT 1", "d", store_now());
    db_unlock(db);
    return rc == STORE_OK ? id : 0;
}

static int read_runtime(sqlite3_stmt *st, void *ctx)
{
    JobRuntime *rt = ctx;
    const char *kind = (const char *)sqlite3_column_text(st, 1);
    rt->id = (long)sqlite3_column_int64(st, 0);
    if (!kind || spec_kind_parse(kind, &rt->kind)) return STORE_ERROR;
    if (job_state_parse((const char *)sqlite3_column_text(st, 2), &rt->state)) return STORE_ERROR;
    rt->resume = sqlite3_column_int(st, 3);
    const char *spec = (const char *)sqlite3_column_text(st, 4);
    if (column_copy(st, 5, rt->run_dir, sizeof rt->run_dir) || !spec || !(rt->child_spec = strdup(spec)))
        return STORE_ERROR;
    return SQL_STOP;
}

int store_job_runtime(Db *db, long id, JobRuntime *rt)
{
    memset(rt, 0, sizeof *rt);
    db_lock(db);
    int rc = sql_each(db_sqlite(db), read_runtime, rt,
                      "SELECT id, kind, state, resume, child_spec, run_dir FROM jobs WHERE id = ?", "l", id);
    db_unlock(db);
    if (rc == STORE_OK && !rt->child_spec) return STORE_NOT_FOUND;
    if (rc != STORE_OK) {
        free(rt->child_spec);
        rt->child_spec = NULL;
    }
    return rc;
}

int store_jobs_queued_on(Db *db, const char *dataset, long **ids)
{
    db_lock(db);
    int rc = sql_ids(db_sqlite(db), ids, "SELECT id FROM jobs WHERE state = 'queued' "
                     "AND dataset = ? ORDER BY id", "s", dataset);
    db_unlock(db);
    return rc;
}

int store_job_fail_queued(Db *db, long id, const char *error)
{
    return job_set_state(db, id, STATE_BIT(JOB_QUEUED), JOB_FAILED, -1, NULL, error, 0);
}

int store_jobs_in_state(Db *db, JobState s, long **ids)
{
    db_lock(db);
    int rc = sql_ids(db_sqlite(db), ids, "SELECT id FROM jobs WHERE state = ? ORDER BY id", "s",
                     job_state_name(s));
    db_unlock(db);
    return rc;
}

// --- deletion ----------------------------------------------------------------------------

// A finished job whose checkpoint no live job starts from; its metrics, checkpoints and
// previews go with it (ON DELETE CASCADE).
static int job_delete(sqlite3 *c, long id)
{
    char finished[128], live[128];
    state_list(FINISHED_STATES, finished, sizeof finished);
    state_list(LIVE_STATES, live, sizeof live);
    long used;
    int rc = sql_long(c, &used,
                      "SELECT 1 FROM jobs j JOIN checkpoints k ON k.id = j.init_checkpoint_id "
                      "WHERE k.job_id = ? AND instr(?, ',' || j.state || ',') > 0 LIMIT 1",
                      "ls", id, live);
    if (rc == STORE_OK) return STORE_CONFLICT;
    if (rc != STORE_NOT_FOUND) return rc;
    rc = sql_exec(c, "DELETE FROM jobs WHERE id = ? AND instr(?, ',' || state || ',') > 0", "ls", id, finished);
    if (rc == 0) rc = job_exists(c, id) == STORE_OK ? STORE_CONFLICT : STORE_NOT_FOUND;
    return rc < 0 ? rc : STORE_OK;
}

int store_job_uses_file(Db *db, const char *path)
{
    char live[128];
    state_list(LIVE_STATES, live, sizeof live);
    long found;
    db_lock(db);
    int rc = sql_long(db_sqlite(db), &found,
                      "SELECT 1 FROM jobs WHERE instr(?, ',' || state || ',') > 0 "
                      "AND instr(child_spec, ?) > 0 LIMIT 1", "ss", live, path);
    db_unlock(db);
    return rc;
}

int store_job_delete(Db *db, long id)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = sql_begin(c);
    if (rc == STORE_OK) rc = sql_end(c, job_delete(c, id));
    db_unlock(db);
    return rc;
}

// --- counts and Prometheus ---------------------------------------------------------------

static int count_state(sqlite3_stmt *st, void *ctx)
{
    long *counts = ctx;
    JobState s;
    if (job_state_parse((const char *)sqlite3_column_text(st, 0), &s) == 0)
        counts[s] = (long)sqlite3_column_int64(st, 1);
    return STORE_OK;
}

static int job_counts(sqlite3 *c, long counts[JOB_STATE_COUNT])
{
    memset(counts, 0, JOB_STATE_COUNT * sizeof *counts);
    return sql_each(c, count_state, counts, "SELECT state, COUNT(*) FROM jobs GROUP BY state", "");
}

json_t *store_job_counts_json(Db *db)
{
    long counts[JOB_STATE_COUNT];
    db_lock(db);
    int rc = job_counts(db_sqlite(db), counts);
    db_unlock(db);
    json_t *obj = rc == STORE_OK ? json_object() : NULL;
    for (int s = 0; obj && s < JOB_STATE_COUNT; s++)
        if (json_object_set_new(obj, job_state_name(s), json_integer(counts[s]))) {
            json_decref(obj);
            obj = NULL;
        }
    return obj;
}

typedef struct {
    char *buf;
    size_t cap, len;
    const char *metric;
} PromText;

static int prom_append(PromText *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = p->len < p->cap ? vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap) : -1;
    va_end(ap);
    if (n < 0 || (size_t)n >= p->cap - p->len) return STORE_ERROR;
    p->len += (size_t)n;
    return STORE_OK;
}

static int prom_job_sample(sqlite3_stmt *st, void *ctx)
{
    PromText *p = ctx;
    return prom_append(p, "%s{job=\"%lld\"} %.9g\n", p->metric, (long long)sqlite3_column_int64(st, 0),
                       sqlite3_column_double(st, 1));
}

// The per-running-job gauges: one query each (a family's samples must be together).
static const struct {
    const char *name, *help, *sql;
} JOB_GAUGES[] = {
    {"simmimd_job_step", "Training step of a running job.",
     "SELECT id, step FROM jobs WHERE state = 'running' ORDER BY id"},
    {"simmimd_job_loss", "Training loss of a running job (mean since its last progress event).",
     "SELECT id, loss FROM jobs WHERE state = 'running' AND loss IS NOT NULL ORDER BY id"},
    {"simmimd_job_img_per_s", "Training throughput of a running job, images per second.",
     "SELECT id, img_per_s FROM jobs WHERE state = 'running' AND img_per_s IS NOT NULL ORDER BY id"},
    {"simmimd_job_knn_top1", "k-NN top-1 in percent of a running pretraining's encoder at its latest evaluation.",
     "SELECT id, knn_top1 FROM jobs WHERE state = 'running' AND knn_top1 IS NOT NULL ORDER BY id"},
};

static int prometheus(sqlite3 *c, PromText *p)
{
    long counts[JOB_STATE_COUNT];
    int rc = job_counts(c, counts);
    if (rc == STORE_OK)
        rc = prom_append(p, "# HELP simmimd_jobs Jobs by state.\n# TYPE simmimd_jobs gauge\n");
    for (int s = 0; rc == STORE_OK && s < JOB_STATE_COUNT; s++)
        rc = prom_append(p, "simmimd_jobs{state=\"%s\"} %ld\n", job_state_name(s), counts[s]);
    for (size_t i = 0; rc == STORE_OK && i < sizeof JOB_GAUGES / sizeof *JOB_GAUGES; i++) {
        p->metric = JOB_GAUGES[i].name;
        rc = prom_append(p, "# HELP %s %s\n# TYPE %s gauge\n", p->metric, JOB_GAUGES[i].help, p->metric);
        if (rc == STORE_OK) rc = sql_each(c, prom_job_sample, p, JOB_GAUGES[i].sql, "");
    }
    return rc;
}

long store_prometheus(Db *db, char *buf, size_t cap, size_t len)
{
    PromText p = {buf, cap, len, NULL};
    db_lock(db);
    int rc = prometheus(db_sqlite(db), &p);
    db_unlock(db);
    return rc == STORE_OK ? (long)p.len : -1;
}
