// The studies resource of the API (docs/http-api.md#studies): a study's submission — its plan
// (studies.c), every run's spec checked as a job submission is (jobs_submit, check only), then
// the study stored and its first jobs submitted — the list and one study, its tables, and
// cancel, pause, resume and deletion acting on its jobs through the jobs' own actions. And a
// study's progress: each run is submitted as soon as it can be (a pretraining or a baseline at
// once, a fine-tuning once its pretraining has succeeded) when the study is created, when one
// of its jobs ends, when it is resumed, and at start-up (what a stopped or killed daemon left).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "base/json_out.h"
#include "studies.h"

// One advance at a time: a run is looked up as pending and submitted under it.
static pthread_mutex_t advance_lock = PTHREAD_MUTEX_INITIALIZER;

// ------------------------------------------------------------------ progress

// Submits a run through the jobs' own path (a fine-tuning or a linear probe from its
// pretraining job's newest checkpoint); a run refused keeps why.
static void submit_run(App *app, const StudyPending *run)
{
    JobSpec *spec = malloc(sizeof *spec);
    SpecError se;
    ApiError e;
    long id = 0;
    int rc = spec ? spec_parse(run->spec, strlen(run->spec), spec, &se) : -1;
    if (rc) {
        api_error_set(&e, 500, NULL, "its spec does not parse: %s", spec ? se.message : "out of memory");
    } else {
        if (run->role == STUDY_FINETUNE || run->role == STUDY_LINPROBE) {
            spec->init_from.form = REF_JOB_ID;
            spec->init_from.id = run->pretrain_job;
        }
        rc = jobs_submit(app, spec, &(JobSubmit){.study_run = run->run_id}, &id, &e);
    }
    free(spec);
    if (rc == 0) return;
    fprintf(stderr, "simmimd: study run %ld could not be submitted: %s\n", run->run_id, e.message);
    if (store_study_run_refused(app->db, run->run_id, e.message) != STORE_OK)
        fprintf(stderr, "simmimd: study run %ld: could not record why\n", run->run_id);
}

void studies_advance(App *app, long study_id)
{
    StudyPending *runs;
    pthread_mutex_lock(&advance_lock);
    int count = store_study_pending(app->db, study_id, &runs);
    for (int i = 0; i < count; i++) {
        submit_run(app, &runs[i]);
        free(runs[i].spec);
    }
    pthread_mutex_unlock(&advance_lock);
    if (count < 0) fprintf(stderr, "simmimd: study %ld: cannot read its runs\n", study_id);
    free(runs);
}

void studies_job_ended(void *app, long job_id)
{
    long study;
    if (store_study_of_job(((App *)app)->db, job_id, &study) == STORE_OK) studies_advance(app, study);
}

void studies_recover(App *app)
{
    long *ids;
    int count = store_study_ids(app->db, 1u << STUDY_ACTIVE, &ids);
    for (int i = 0; i < count; i++) studies_advance(app, ids[i]);
    if (count < 0) fprintf(stderr, "simmimd: cannot read the studies to resume them\n");
    free(ids);
}

// ------------------------------------------------------------------ submission

static int check_run(void *app, JobSpec *spec, ApiError *e)
{
    return jobs_submit(app, spec, &(JobSubmit){.check_only = 1}, NULL, e);
}

// The plan's JSON as the store keeps it; the study's id, or STORE_ERROR.
static long store_plan(Db *db, const StudyPlan *plan)
{
    const json_t *parts[] = {plan->axes, plan->seeds, plan->cells, plan->pretrain, plan->finetune,
                             plan->linprobe};
    enum { PARTS = sizeof parts / sizeof *parts };
    char *text[PARTS] = {0}; // a part that is NULL (no probes) stays NULL
    size_t len;
    int ok = 1;
    for (int i = 0; i < PARTS; i++) ok &= !parts[i] || (text[i] = json_out(parts[i], &len)) != NULL;
    StudyRecord rec = {.name = plan->name, .preset = plan->preset, .axes = text[0],
                       .seeds = text[1], .cells = text[2], .pretrain = text[3],
                       .finetune = text[4], .linprobe = text[5],
                       .baseline = plan->baseline, .runs = plan->runs, .run_count = plan->run_count};
    long id = ok ? store_study_create(db, &rec) : STORE_ERROR;
    for (int i = 0; i < PARTS; i++) free(text[i]);
    return id;
}

static json_t *study_json(App *app, long id, int with_rows)
{
    json_t *raw = store_study_raw(app->db, id);
    return raw ? study_shape(raw, with_rows) : NULL;
}

void api_studies_create(Request *r)
{
    StudyPlan plan;
    ApiError e;
    if (study_plan(r->body, r->body_len, r->app->max_cells, check_run, r->app, &plan, &e)) {
        reply_api_error(r, &e);
        return;
    }
    long id = store_plan(r->app->db, &plan);
    study_plan_free(&plan);
    if (id <= 0) {
        reply_error(r, 500, NULL, "the study could not be stored");
        return;
    }
    studies_advance(r->app, id);
    reply_json(r, 201, study_json(r->app, id, 1));
}

// ------------------------------------------------------------------ reading

void api_studies_list(Request *r)
{
    long *ids;
    int count = store_study_ids(r->app->db, ~0u, &ids);
    json_t *list = count >= 0 ? json_array() : NULL;
    for (int i = 0; list && i < count; i++) {
        json_t *study = study_json(r->app, ids[i], 0);
        if (study && json_array_append_new(list, study) == 0) continue;
        json_decref(list);
        list = NULL;
    }
    free(ids);
    reply_json(r, 200, list ? json_pack("{s:o, s:i}", "studies", list, "total", count) : NULL);
}

// The study of the path with its rows; NULL after answering 404.
static json_t *path_study(Request *r)
{
    json_t *study = study_json(r->app, r->id, 1);
    if (!study) reply_error(r, 404, NULL, "no study %ld", r->id);
    return study;
}

void api_study_get(Request *r)
{
    json_t *study = path_study(r);
    if (study) reply_json(r, 200, study);
}

static void reply_table(Request *r, char *(*table)(const json_t *), const char *content_type)
{
    json_t *study = path_study(r);
    if (!study) return;
    char *text = table(study);
    json_decref(study);
    if (text) reply_text(r, 200, content_type, text, strlen(text));
    else reply_error(r, 500, NULL, "out of memory");
    free(text);
}

void api_study_table_csv(Request *r) { reply_table(r, study_table_csv, "text/csv; charset=utf-8"); }
void api_study_table_md(Request *r) { reply_table(r, study_table_md, "text/markdown; charset=utf-8"); }

// ------------------------------------------------------------------ acting on the jobs

static const char *study_state(const json_t *study)
{
    return json_string_value(json_object_get(study, "state"));
}

// Applies act to each job of the study (a job it does not apply to is left as it is).
static void each_job(App *app, long study_id, void (*act)(App *app, long job_id))
{
    long *ids;
    int count = store_study_jobs(app->db, study_id, &ids);
    for (int i = 0; i < count; i++) act(app, ids[i]);
    if (count < 0) fprintf(stderr, "simmimd: study %ld: cannot read its jobs\n", study_id);
    free(ids);
}

static void cancel_job(App *app, long id) { supervisor_cancel(app->supervisor, id); }
static void resume_job(App *app, long id) { supervisor_resume(app->supervisor, id); }

// A running job checkpoints and stops; a queued one is held, paused, until the study resumes.
static void pause_job(App *app, long id)
{
    if (supervisor_pause(app->supervisor, id) == STORE_CONFLICT &&
        store_job_transition(app->db, id, STATE_BIT(JOB_QUEUED), JOB_PAUSED, 1) == STORE_OK)
        supervisor_announce_state(app->supervisor, id);
}

// Moves the study of the path from a state in `from` (a space-separated list) to `control`,
// acting on its jobs, and answers it (200), 404 or 409.
static void study_action(Request *r, const char *from, StudyControl control,
                         void (*act)(App *app, long job_id), const char *verb)
{
    json_t *study = path_study(r);
    if (!study) return;
    const char *state = study_state(study);
    char padded[32];
    snprintf(padded, sizeof padded, " %s ", state);
    char states[64];
    snprintf(states, sizeof states, " %s ", from);
    if (!strstr(states, padded)) {
        reply_error(r, 409, NULL, "cannot %s a study in state %s", verb, state);
        json_decref(study);
        return;
    }
    json_decref(study);
    if (store_study_set_control(r->app->db, r->id, control) != STORE_OK) {
        reply_error(r, 500, NULL, "cannot %s study %ld", verb, r->id);
        return;
    }
    each_job(r->app, r->id, act);
    if (control == STUDY_ACTIVE) studies_advance(r->app, r->id);
    supervisor_wake(r->app->supervisor);
    reply_json(r, 200, study_json(r->app, r->id, 1));
}

void api_study_cancel(Request *r) { study_action(r, "running paused", STUDY_CANCELLED, cancel_job, "cancel"); }
void api_study_pause(Request *r) { study_action(r, "running", STUDY_PAUSED, pause_job, "pause"); }
void api_study_resume(Request *r) { study_action(r, "paused", STUDY_ACTIVE, resume_job, "resume"); }

// A study whose every job has ended goes with its jobs (each deleted as DELETE /api/v1/jobs/{id}
// deletes it).
void api_study_delete(Request *r)
{
    json_t *study = path_study(r);
    if (!study) return;
    json_int_t done = json_integer_value(json_object_get(study, "jobs_done")),
               total = json_integer_value(json_object_get(study, "jobs_total"));
    json_decref(study);
    if (done < total) {
        reply_error(r, 409, NULL, "study %ld has jobs that have not ended (%lld of %lld have; "
                    "cancel it first)", r->id, (long long)done, (long long)total);
        return;
    }
    long *ids;
    ApiError e;
    int count = store_study_jobs(r->app->db, r->id, &ids), failed = count < 0;
    for (int i = 0; !failed && i < count; i++)
        failed = jobs_delete(r->app, ids[i], &e) != 0 && e.status != 404;
    free(ids);
    if (failed && count >= 0) reply_api_error(r, &e);
    else if (failed || store_study_delete(r->app->db, r->id) != STORE_OK)
        reply_error(r, 500, NULL, "cannot delete study %ld", r->id);
    else reply(r, 204, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}
