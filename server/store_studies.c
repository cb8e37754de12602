// Studies in the store (store.h, migrations 0007 and 0009): a study and its runs inserted in
// one transaction, its record with each run's job state and figures (what studies.c shapes
// into the API's answer), the runs that can be submitted now, a run refused, the study of a
// job, a study's jobs, its control (active, paused, cancelled) and its removal. A run gets its
// job in store_job_create's transaction (store_jobs.c), so a run is never submitted twice, not
// even across a crash.
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_sql.h"

static const char *const ROLE_NAMES[] = {[STUDY_PRETRAIN] = "pretrain", [STUDY_FINETUNE] = "finetune",
                                         [STUDY_BASELINE] = "baseline", [STUDY_LINPROBE] = "linprobe"};
static const char *const CONTROL_NAMES[] = {[STUDY_ACTIVE] = "active", [STUDY_PAUSED] = "paused",
                                            [STUDY_CANCELLED] = "cancelled"};

// --- creation ----------------------------------------------------------------------------

static long study_insert(sqlite3 *c, const StudyRecord *rec)
{
    if (sql_exec(c,
                 "INSERT INTO studies (name, preset, axes, seeds, baseline, cells, pretrain, finetune, "
                 "linprobe, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 "ssssissssd", rec->name, rec->preset, rec->axes, rec->seeds, rec->baseline,
                 rec->cells, rec->pretrain, rec->finetune, rec->linprobe, store_now()) < 0)
        return STORE_ERROR;
    long id = (long)sqlite3_last_insert_rowid(c);
    // A fine-tuning names its pretraining by index among the runs; in the table, by row id.
    long *ids = calloc((size_t)rec->run_count + 1, sizeof *ids);
    int rc = ids ? STORE_OK : STORE_ERROR;
    for (int i = 0; rc == STORE_OK && i < rec->run_count; i++) {
        const StudyRun *r = &rec->runs[i];
        const long *pre = r->pretrain >= 0 && r->pretrain < i ? &ids[r->pretrain] : NULL;
        if (sql_exec(c,
                     "INSERT INTO study_runs (study_id, role, cell, seed, pretrain_run, spec) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     "lsiiLs", id, ROLE_NAMES[r->role], r->cell, r->seed, pre, r->spec) < 0)
            rc = STORE_ERROR;
        ids[i] = (long)sqlite3_last_insert_rowid(c);
    }
    free(ids);
    return rc == STORE_OK ? id : rc;
}

long store_study_create(Db *db, const StudyRecord *rec)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    long id = sql_begin(c);
    if (id == STORE_OK) id = sql_end(c, study_insert(c, rec));
    db_unlock(db);
    return id;
}

// --- the record ----------------------------------------------------------------------------

// The columns that hold JSON text, decoded in the record (a NULL column, such as a study's
// linprobe without probes, reads null).
static const char *const JSON_COLUMNS[] = {"axes",     "seeds",    "cells",
                                           "pretrain", "finetune", "linprobe"};

static json_t *decode_study(json_t *row)
{
    for (size_t i = 0; row && i < sizeof JSON_COLUMNS / sizeof *JSON_COLUMNS; i++) {
        const json_t *text = json_object_get(row, JSON_COLUMNS[i]);
        json_t *v = text ? json_loads(json_string_value(text), 0, NULL) : json_null();
        if (!v || json_object_set_new(row, JSON_COLUMNS[i], v)) {
            json_decref(row);
            return NULL;
        }
    }
    if (row && json_object_set_new(row, "baseline",
                                   json_boolean(json_integer_value(json_object_get(row, "baseline")))))
        row = (json_decref(row), NULL);
    if (row && !json_object_get(row, "preset")) json_object_set_new(row, "preset", json_null());
    return row;
}

json_t *store_study_raw(Db *db, long id)
{
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    json_t *rows = sql_rows_json(c, "SELECT id, name, preset, axes, seeds, baseline, cells, pretrain, "
                                    "finetune, linprobe, control, created_at FROM studies WHERE id = ?",
                                 "l", id);
    // A run's job: its state ("deleted" once the job is gone), top-1, k-NN top-1, running
    // time, mean throughput and parameters.
    json_t *runs = json_array_size(rows) == 1
                       ? sql_rows_json(c,
                                       "SELECT r.id, r.role, r.cell, r.seed, r.pretrain_run, r.job_id, "
                                       "r.error, CASE WHEN r.job_id IS NULL THEN NULL ELSE "
                                       "COALESCE(j.state, 'deleted') END AS job_state, j.top1, "
                                       "j.knn_top1, "
                                       "j.run_s + COALESCE(MAX(0, ?2 - j.running_since), 0) AS duration_s, "
                                       "(SELECT AVG(m.img_per_s) FROM metrics m WHERE m.job_id = j.id "
                                       "AND m.kind = 'progress') AS img_per_s, j.params "
                                       "FROM study_runs r LEFT JOIN jobs j ON j.id = r.job_id "
                                       "WHERE r.study_id = ?1 ORDER BY r.id",
                                       "ld", id, store_now())
                       : NULL;
    db_unlock(db);
    json_t *study = runs ? decode_study(json_incref(json_array_get(rows, 0))) : NULL;
    json_decref(rows);
    if (study && json_object_set_new(study, "runs", runs) == 0) return study;
    json_decref(study);
    return NULL;
}

int store_study_ids(Db *db, unsigned control_mask, long **ids)
{
    char controls[64] = ",";
    for (int i = STUDY_ACTIVE; i <= STUDY_CANCELLED; i++)
        if (control_mask & (1u << i)) strcat(strcat(controls, CONTROL_NAMES[i]), ",");
    db_lock(db);
    int rc = sql_ids(db_sqlite(db), ids, "SELECT id FROM studies WHERE "
                     "instr(?, ',' || control || ',') > 0 ORDER BY id DESC", "s", controls);
    db_unlock(db);
    return rc;
}

int store_study_jobs(Db *db, long study_id, long **ids)
{
    db_lock(db);
    int rc = sql_ids(db_sqlite(db), ids, "SELECT r.job_id FROM study_runs r JOIN jobs j "
                     "ON j.id = r.job_id WHERE r.study_id = ? ORDER BY r.id", "l", study_id);
    db_unlock(db);
    return rc;
}

// --- what to submit ------------------------------------------------------------------------

typedef struct {
    StudyPending *runs;
    int count;
} PendingList;

static int append_pending(sqlite3_stmt *st, void *ctx)
{
    PendingList *list = ctx;
    StudyPending *grown = realloc(list->runs, (size_t)(list->count + 1) * sizeof *grown);
    if (!grown) return STORE_ERROR;
    list->runs = grown;
    StudyPending *p = &grown[list->count];
    const char *role = (const char *)sqlite3_column_text(st, 1), *spec = (const char *)sqlite3_column_text(st, 3);
    p->run_id = (long)sqlite3_column_int64(st, 0);
    p->role = STUDY_PRETRAIN; // the table's CHECK admits only the words of ROLE_NAMES
    while (p->role < STUDY_LINPROBE && strcmp(role, ROLE_NAMES[p->role])) p->role++;
    p->pretrain_job = (long)sqlite3_column_int64(st, 2);
    if (!spec || !(p->spec = strdup(spec))) return STORE_ERROR;
    list->count++;
    return STORE_OK;
}

int store_study_pending(Db *db, long study_id, StudyPending **runs)
{
    PendingList list = {0};
    db_lock(db);
    int rc = sql_each(db_sqlite(db), append_pending, &list,
                      "SELECT r.id, r.role, p.job_id, r.spec FROM study_runs r "
                      "JOIN studies s ON s.id = r.study_id AND s.control = 'active' "
                      "LEFT JOIN study_runs p ON p.id = r.pretrain_run "
                      "LEFT JOIN jobs pj ON pj.id = p.job_id "
                      "WHERE r.study_id = ? AND r.job_id IS NULL AND r.error IS NULL "
                      "AND (r.role NOT IN ('finetune', 'linprobe') OR pj.state = 'succeeded') "
                      "ORDER BY r.id",
                      "l", study_id);
    db_unlock(db);
    *runs = list.runs;
    if (rc == STORE_OK) return list.count;
    for (int i = 0; i < list.count; i++) free(list.runs[i].spec);
    free(list.runs);
    *runs = NULL;
    return rc;
}

int store_study_run_refused(Db *db, long run_id, const char *error)
{
    db_lock(db);
    int rc = sql_exec(db_sqlite(db), "UPDATE study_runs SET error = ? WHERE id = ? AND job_id IS NULL",
                      "sl", error, run_id);
    db_unlock(db);
    return rc < 0 ? rc : STORE_OK;
}

int store_study_of_job(Db *db, long job_id, long *study_id)
{
    db_lock(db);
    int rc = sql_long(db_sqlite(db), study_id, "SELECT study_id FROM jobs WHERE id = ?", "l", job_id);
    db_unlock(db);
    return rc;
}

int store_study_set_control(Db *db, long study_id, StudyControl control)
{
    db_lock(db);
    int rc = sql_exec(db_sqlite(db), "UPDATE studies SET control = ? WHERE id = ?", "sl",
                      CONTROL_NAMES[control], study_id);
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

int store_study_delete(Db *db, long study_id)
{
    db_lock(db);
    int rc = sql_exec(db_sqlite(db), "DELETE FROM studies WHERE id = ?", "l", study_id);
    db_unlock(db);
    return rc < 0 ? rc : rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}
