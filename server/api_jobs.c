// The jobs resource of the API: submission (the API-form spec checked against the registered
// dataset and the starting checkpoint, and the file-form spec for simmim-train built from
// it), the list and one job, cancel/pause/resume through the supervisor, deletion with the
// run dir, and a job's metrics, log tail, previews and checkpoints.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "base/cpu.h"
#include "checkpoint_check.h"
#include "data/data.h"
#include "pins.h"
#include "spec/checkpoint_file.h"
#include "spec/spec.h"
#include "store.h"

enum {
    LIST_DEFAULT = 100, LIST_MAX = 1000,
    TAIL_DEFAULT = 100, TAIL_MAX_LINES = 10000,
    TAIL_CHUNK = 64 << 10, TAIL_MAX_BYTES = 4 << 20,
};

// state_dir/runs, and a job's run dir below it (the store names it the same way).
static int runs_dir(const App *app, char *out, size_t cap)
{
    return path_printf(out, cap, "%s/runs", app->state_dir);
}

static int run_dir(const App *app, long id, char *out, size_t cap)
{
    return path_printf(out, cap, "%s/runs/%ld", app->state_dir, id);
}

// The job of the path as JSON; NULL after answering 404.
static json_t *path_job(Request *r)
{
    json_t *job = store_job_json(r->app->db, r->id);
    if (!job) reply_error(r, 404, NULL, "no job %ld", r->id);
    return job;
}

static int path_job_exists(Request *r)
{
    json_t *job = path_job(r);
    json_decref(job);
    return job != NULL;
}

static const char *job_state_of(const json_t *job)
{
    const char *state = json_string_value(json_object_get(job, "state"));
    return state ? state : "unknown";
}

// ------------------------------------------------------------------ submission

// What a submission resolved beyond the spec.
typedef struct {
    DatasetRow dataset;
    long checkpoint_id;                // 0: none
    char checkpoint_path[SPEC_PATH_MAX]; // its file, then its pin
    char checkpoint_sha256[65];        // checked against the pin, passed on to the trainer
    int checkpoint_pad;                // the starting checkpoint's image padding
} Resolved;

static void spec_error_set(ApiError *e, unsigned status, const SpecError *se)
{
    api_error_set(e, status, se->field, "%s", se->message);
}

// The API names a registered dataset.
static int resolve_dataset(App *app, ApiError *e, const JobSpec *spec, Resolved *res)
{
    if (spec->dataset_form != REF_NAME) {
        api_error_set(e, 400, "dataset", "dataset: through the API, name a registered dataset "
                      "(GET /api/v1/datasets)");
        return -1;
    }
    int rc = store_dataset_get(app->db, spec->dataset_name, &res->dataset);
    if (rc == STORE_NOT_FOUND)
        api_error_set(e, 404, "dataset", "dataset: no dataset named \"%s\" is registered",
                      spec->dataset_name);
    else if (rc != STORE_OK)
        api_error_set(e, 500, NULL, "cannot read dataset \"%s\"", spec->dataset_name);
    return rc == STORE_OK ? 0 : -1;
}

// A job id as init_from (field: finetune.init_from or pretrain.init_from): a pretraining job
// that has written a checkpoint.
static int resolve_init_job(App *app, ApiError *e, const char *field, long job_id, Resolved *res)
{
    JobRuntime rt = {0};
    int rc = store_job_runtime(app->db, job_id, &rt);
    free(rt.child_spec);
    if (rc != STORE_OK) {
        if (rc == STORE_NOT_FOUND)
            api_error_set(e, 404, field, "%s: no job %ld", field, job_id);
        else
            api_error_set(e, 500, NULL, "cannot read job %ld", job_id);
        return -1;
    }
    if (rt.kind != JOB_PRETRAIN) {
        api_error_set(e, 409, field, "%s: job %ld is %s job; start from a pretraining job",
                      field, job_id, spec_kind_noun(rt.kind));
        return -1;
    }
    rc = store_job_latest_checkpoint(app->db, job_id, &res->checkpoint_id);
    if (rc == STORE_NOT_FOUND)
        api_error_set(e, 409, field, "%s: job %ld has no checkpoint yet", field, job_id);
    else if (rc != STORE_OK)
        api_error_set(e, 500, NULL, "cannot read the checkpoints of job %ld", job_id);
    return rc == STORE_OK ? 0 : -1;
}

// res->checkpoint_id must be a checkpoint of a pretraining job; fills its path.
static int resolve_checkpoint(App *app, ApiError *e, const char *field, Resolved *res)
{
    JobKind kind;
    long id = res->checkpoint_id;
    int rc = store_checkpoint_origin(app->db, id, &kind, res->checkpoint_path,
                                     sizeof res->checkpoint_path);
    if (rc == STORE_NOT_FOUND)
        api_error_set(e, 404, field, "%s: no checkpoint %ld", field, id);
    else if (rc != STORE_OK)
        api_error_set(e, 500, NULL, "cannot read checkpoint %ld", id);
    else if (kind != JOB_PRETRAIN)
        api_error_set(e, 409, field, "%s: checkpoint %ld is from a fine-tuning job; start from a "
                      "pretraining checkpoint", field, id);
    return rc == STORE_OK && kind == JOB_PRETRAIN ? 0 : -1;
}

// The encoder of a job from a checkpoint is the checkpoint's; a continued pretraining's head
// must be the checkpoint's too (checkpoint_suits_pretraining, as the trainer checks it).
static int adopt_checkpoint_model(ApiError *e, const char *field, JobSpec *spec, Resolved *res)
{
    SafeTensors st;
    ModelConfig cfg;
    CheckpointMeta meta;
    SpecError se;
    char err[512];
    if (checkpoint_read(res->checkpoint_path, &st, &cfg, &meta, err, sizeof err)) {
        api_error_set(e, 409, field, "%s: checkpoint %ld cannot be read: %s", field,
                      res->checkpoint_id, err);
        return -1;
    }
    int rc = spec_adopt_model(spec, &cfg, &se);
    res->checkpoint_pad = meta.pad;
    safetensors_free(&st);
    if (rc) {
        spec_error_set(e, 400, &se);
        return -1;
    }
    if (spec->kind == JOB_PRETRAIN &&
        checkpoint_suits_pretraining(&cfg, &spec->model, err, sizeof err)) {
        api_error_set(e, 400, field, "%s: checkpoint %ld cannot be continued by this spec: %s",
                      field, res->checkpoint_id, err);
        return -1;
    }
    return 0;
}

// The starting checkpoint, pinned for the job and checked against its sha256 (pins.h) before
// anything is read from it; the caller holds pins_lock until the job is stored.
static int pin_checkpoint(App *app, ApiError *e, const char *field, Resolved *res)
{
    char pinned[SPEC_PATH_MAX], message[512];
    CheckpointCheck check;
    long id = res->checkpoint_id;
    int rc = pins_link(app->state_dir, app->db, id, res->checkpoint_path, pinned,
                       sizeof pinned, &check);
    if (rc == STORE_CONFLICT) {
        checkpoint_check_message(id, &check, message, sizeof message);
        api_error_set(e, 409, field, "%s: %s", field, message);
    } else if (rc == STORE_NOT_FOUND) {
        api_error_set(e, 404, field, "%s: no checkpoint %ld", field, id);
    } else if (rc != STORE_OK) {
        api_error_set(e, 500, NULL, "cannot keep checkpoint %ld for the job: %s", id,
                      strerror(errno));
    }
    if (rc != STORE_OK) return -1;
    snprintf(res->checkpoint_path, sizeof res->checkpoint_path, "%s", pinned);
    memcpy(res->checkpoint_sha256, check.expected, sizeof res->checkpoint_sha256);
    return 0;
}

static int resolve_init_from(App *app, ApiError *e, JobSpec *spec, Resolved *res)
{
    const char *field = spec_init_from_field(spec);
    switch (spec->init_from.form) {
    case REF_NONE: return 0;
    case REF_JOB_ID:
        if (resolve_init_job(app, e, field, spec->init_from.id, res)) return -1;
        break;
    case REF_CHECKPOINT_ID: res->checkpoint_id = spec->init_from.id; break;
    default:
        api_error_set(e, 400, field, "%s: through the API, give a pretraining job id or "
                      "{\"checkpoint\": id}", field);
        return -1;
    }
    return resolve_checkpoint(app, e, field, res) || pin_checkpoint(app, e, field, res) ||
                   adopt_checkpoint_model(e, field, spec, res)
               ? -1
               : 0;
}

// What the trainer would only find out after starting: several ranks need mpirun and a
// simmim-train built with MPI (launch.h).
static int check_spec_ranks(App *app, ApiError *e, const JobSpec *spec)
{
    char err[1024];
    if (spec->train.ranks == 1 ||
        supervisor_check_ranks(app->supervisor, spec->train.ranks, err, sizeof err) == 0)
        return 0;
    api_error_set(e, 400, "train.ranks", "%s", err);
    return -1;
}

// What the trainer would only find out after starting: this processor must run the precision.
static int check_spec_precision(ApiError *e, const JobSpec *spec)
{
    char err[256];
    if (cpu_precision_available(spec->train.precision, err, sizeof err) == 0) return 0;
    api_error_set(e, 400, "train.precision", "train.precision: %s", err);
    return -1;
}

int job_suits_dataset(JobSpec *spec, const DatasetRow *d, long checkpoint_id, int checkpoint_pad,
                      const char **field, char *msg, size_t cap)
{
    int finetune = spec->kind == JOB_FINETUNE, per_class = spec_labels_per_class(spec);
    if (spec->kind != JOB_PRETRAIN && d->num_classes < 1) {
        *field = "dataset";
        snprintf(msg, cap, "dataset: \"%s\" is unlabelled; %s needs classes", d->name,
                 finetune ? "fine-tuning" : "a linear probe");
        return -1;
    }
    SpecError se;
    if (spec_knn_runs(spec, d->num_classes, d->format, &se) < 0) {
        *field = "eval.knn.enabled"; // the one field spec_knn_runs refuses
        snprintf(msg, cap, "%s (dataset \"%s\")", se.message, d->name);
        return -1;
    }
    long images = per_class > 0 ? (long)per_class * d->num_classes : d->train_count;
    if (spec->train.batch_size > images) {
        *field = "train.batch_size";
        snprintf(msg, cap, "train.batch_size: %d exceeds the %ld training images of dataset "
                 "\"%s\"", spec->train.batch_size, images, d->name);
        return -1;
    }
    // The padding the trainer will give the images (the record keeps an IDX dataset's larger
    // side; IDX datasets are square in practice), and a starting checkpoint's must match it.
    int pad;
    char why[512];
    if (dataset_pad_for(d->format, d->image_size, spec->model.img_size, &pad, why, sizeof why)) {
        *field = "model.img_size";
        snprintf(msg, cap, "model.img_size: dataset \"%s\": %s", d->name, why);
        return -1;
    }
    const char *from = spec_init_from_field(spec);
    if (checkpoint_id &&
        checkpoint_suits_dataset(&spec->model, checkpoint_pad, pad, why, sizeof why)) {
        *field = from;
        snprintf(msg, cap, "%s: checkpoint %ld does not suit dataset \"%s\": %s", from,
                 checkpoint_id, d->name, why);
        return -1;
    }
    // A fine-tuning's classifier is sized by the dataset's classes, known only now: the
    // memory check of spec_parse again with them.
    if (!finetune) return 0;
    spec->model.num_classes = d->num_classes;
    if (spec_check_memory(spec, &se) == 0) return 0;
    *field = "train.max_memory_mb";
    snprintf(msg, cap, "%s", se.message);
    return -1;
}

// What the trainer would only find out after starting: the dataset must suit the spec. A
// dataset still scanning is checked when its scan ends (scanner.c); one whose scan failed
// takes no job.
static int check_spec_dataset(ApiError *e, JobSpec *spec, const Resolved *res)
{
    const DatasetRow *d = &res->dataset;
    if (d->state == DATASET_SCANNING) return 0;
    if (d->state == DATASET_FAILED) {
        api_error_set(e, 409, "dataset", "dataset: \"%s\" could not be registered: %s (DELETE "
                      "/api/v1/datasets/%s and register it again)", d->name, d->error, d->name);
        return -1;
    }
    const char *field = NULL;
    char msg[1024];
    if (job_suits_dataset(spec, d, res->checkpoint_id, res->checkpoint_pad, &field, msg,
                          sizeof msg) == 0)
        return 0;
    api_error_set(e, 400, field, "%s", msg);
    return -1;
}

// The file form simmim-train reads: the dataset and the starting checkpoint by path (the
// store adds the job's id when it inserts the job).
static char *child_spec_json(const JobSpec *spec, const Resolved *res)
{
    JobSpec *child = malloc(sizeof *child);
    if (!child) return NULL;
    *child = *spec;
    child->dataset_form = REF_PATH;
    child->dataset_format = res->dataset.format;
    snprintf(child->dataset_path, sizeof child->dataset_path, "%s", res->dataset.path);
    snprintf(child->dataset_train, sizeof child->dataset_train, "%s", res->dataset.train_glob);
    snprintf(child->dataset_test, sizeof child->dataset_test, "%s", res->dataset.test_glob);
    snprintf(child->dataset_name, sizeof child->dataset_name, "%s", res->dataset.name);
    if (res->checkpoint_id) {
        child->init_from.form = REF_PATH;
        snprintf(child->init_from.path, sizeof child->init_from.path, "%s",
                 res->checkpoint_path);
        memcpy(child->init_from.sha256, res->checkpoint_sha256,
               sizeof child->init_from.sha256);
        child->init_from.id = 0;
    }
    child->job_id = 0;
    char *text = spec_to_json(child);
    free(child);
    return text;
}

// Inserts the job (queued; a study run's) and wakes the supervisor; 0 with *id, or -1 with *e.
static int store_submitted(App *app, ApiError *e, JobSpec *spec, const Resolved *res,
                           long study_run, long *id)
{
    char runs[SPEC_PATH_MAX];
    spec->job_id = 0; // the id is the store's to give
    char *api_spec = spec_to_json(spec), *child_spec = child_spec_json(spec, res);
    *id = api_spec && child_spec && runs_dir(app, runs, sizeof runs) == 0
              ? store_job_create(app->db, spec, api_spec, child_spec, res->checkpoint_id, runs,
                                 study_run)
              : STORE_ERROR;
    free(api_spec);
    free(child_spec);
    if (*id == STORE_CONFLICT)
        api_error_set(e, 409, NULL, "study run %ld has its job already", study_run);
    else if (*id <= 0)
        api_error_set(e, 500, NULL, "the job could not be stored");
    if (*id <= 0) return -1;
    supervisor_wake(app->supervisor);
    return 0;
}

int jobs_submit(App *app, JobSpec *spec, const JobSubmit *opt, long *id, ApiError *e)
{
    Resolved *res = calloc(1, sizeof *res);
    if (!res) {
        api_error_set(e, 500, NULL, "out of memory");
        return -1;
    }
    pins_lock(); // from the starting checkpoint's pin until its job is stored
    int ok = check_spec_precision(e, spec) == 0 && check_spec_ranks(app, e, spec) == 0 &&
             resolve_dataset(app, e, spec, res) == 0 &&
             resolve_init_from(app, e, spec, res) == 0 && check_spec_dataset(e, spec, res) == 0;
    if (ok && !opt->check_only) ok = store_submitted(app, e, spec, res, opt->study_run, id) == 0;
    if ((!ok || opt->check_only) && res->checkpoint_sha256[0])
        pins_drop_unused(app->db, res->checkpoint_path);
    pins_unlock();
    free(res);
    return ok ? 0 : -1;
}

// A job submitted without a name is named by the store (<kind>-<dataset>-<id>), not after the
// spec's default, which says nothing about the job.
static void name_unless_given(JobSpec *spec)
{
    if (!(spec->given & NAME_GIVEN)) spec->name[0] = '\0';
}

void api_jobs_create(Request *r)
{
    JobSpec *spec = malloc(sizeof *spec);
    SpecError se;
    ApiError e;
    long id;
    if (!spec) {
        reply_error(r, 500, NULL, "out of memory");
    } else if (spec_parse(r->body, r->body_len, spec, &se)) {
        reply_error(r, 400, se.field, "%s", se.message);
    } else {
        name_unless_given(spec);
        if (jobs_submit(r->app, spec, &(JobSubmit){0}, &id, &e) == 0)
            reply_json(r, 201, store_job_json(r->app->db, id));
        else
            reply_api_error(r, &e);
    }
    free(spec);
}

// ------------------------------------------------------------------ the list and one job

void api_jobs_list(Request *r)
{
    const char *state = query_string(r, "state"), *kind = query_string(r, "kind");
    JobState s;
    long limit, offset, study;
    if (state && !*state) state = NULL;
    if (kind && !*kind) kind = NULL;
    if (state && job_state_parse(state, &s)) {
        reply_error(r, 400, "state", "state: one of queued, running, paused, succeeded, failed, "
                    "cancelled (got \"%.32s\")", state);
        return;
    }
    JobKind k;
    if (kind && spec_kind_parse(kind, &k)) {
        reply_error(r, 400, "kind", "kind: pretrain, finetune or linprobe (got \"%.32s\")", kind);
        return;
    }
    if (query_long(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) ||
        query_long(r, "offset", 0, 0, 1L << 40, &offset) ||
        query_long(r, "study", 0, 1, 1L << 53, &study))
        return;
    reply_json(r, 200, store_jobs_json(r->app->db, state, kind, study, limit, offset));
}

void api_job_get(Request *r)
{
    json_t *job = path_job(r);
    if (job) reply_json(r, 200, job);
}

// ------------------------------------------------------------------ transitions

typedef int (*SupervisorAction)(Supervisor *s, long job_id);

static void job_action(Request *r, SupervisorAction act, const char *verb)
{
    int rc = act(r->app->supervisor, r->id);
    if (rc == STORE_OK) {
        supervisor_wake(r->app->supervisor);
        reply_json(r, 200, store_job_json(r->app->db, r->id));
        return;
    }
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, 404, NULL, "no job %ld", r->id);
        return;
    }
    json_t *job = rc == STORE_CONFLICT ? store_job_json(r->app->db, r->id) : NULL;
    if (job)
        reply_error(r, 409, NULL, "cannot %s a job in state %s", verb, job_state_of(job));
    else
        reply_error(r, 500, NULL, "cannot %s job %ld", verb, r->id);
    json_decref(job);
}

void api_job_cancel(Request *r) { job_action(r, supervisor_cancel, "cancel"); }
void api_job_pause(Request *r) { job_action(r, supervisor_pause, "pause"); }
void api_job_resume(Request *r) { job_action(r, supervisor_resume, "resume"); }

static int job_is_finished(const json_t *job)
{
    const char *state = job_state_of(job);
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

int jobs_delete(App *app, long id, ApiError *e)
{
    char runs[SPEC_PATH_MAX], dir[SPEC_PATH_MAX], err[SPEC_PATH_MAX + 128];
    json_t *job = store_job_json(app->db, id);
    int rc = store_job_delete(app->db, id), ok = 0;
    if (rc == STORE_NOT_FOUND)
        api_error_set(e, 404, NULL, "no job %ld", id);
    else if (rc == STORE_CONFLICT && job_is_finished(job))
        api_error_set(e, 409, NULL, "job %ld cannot be deleted while a queued, running or "
                      "paused job starts from one of its checkpoints", id);
    else if (rc == STORE_CONFLICT)
        api_error_set(e, 409, NULL, "only a finished job can be deleted (job %ld is %s)", id,
                      job_state_of(job));
    else if (rc != STORE_OK)
        api_error_set(e, 500, NULL, "cannot delete job %ld", id);
    else if (runs_dir(app, runs, sizeof runs) || run_dir(app, id, dir, sizeof dir) ||
             remove_tree(runs, dir, err, sizeof err))
        api_error_set(e, 500, NULL, "job %ld was deleted but its run dir was not: %s", id, err);
    else
        ok = 1;
    json_decref(job);
    return ok ? 0 : -1;
}

void api_job_delete(Request *r)
{
    ApiError e;
    if (jobs_delete(r->app, r->id, &e))
        reply_api_error(r, &e);
    else
        reply(r, 204, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

// ------------------------------------------------------------------ a job's records

void api_job_metrics(Request *r)
{
    long since;
    size_t len;
    if (!path_job_exists(r) || query_long(r, "since", -1, -1, 1L << 53, &since)) return;
    char *text = store_metrics_text(r->app->db, r->id, since, &len);
    if (text) reply_text(r, 200, "application/json", text, len);
    else reply_error(r, 500, NULL, "the record could not be read (see the daemon's log)");
    free(text);
}

void api_job_previews(Request *r)
{
    if (path_job_exists(r)) reply_json(r, 200, store_previews_json(r->app->db, r->id));
}

void api_job_checkpoints(Request *r)
{
    if (path_job_exists(r)) reply_json(r, 200, store_checkpoints_json(r->app->db, r->id));
}

void api_job_preview_png(Request *r)
{
    char path[SPEC_PATH_MAX];
    long step;
    if (!path_job_exists(r) || query_long(r, "step", -1, 0, 1L << 53, &step)) return;
    int rc = store_preview_file(r->app->db, r->id, step, path, sizeof path);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, 404, step < 0 ? NULL : "step", step < 0 ? "job %ld has no preview yet" :
                    "job %ld has no preview at step %ld", r->id, step);
        return;
    }
    if (rc != STORE_OK) {
        reply_error(r, 500, NULL, "cannot read the previews of job %ld", r->id);
        return;
    }
    reply_file(r, &(FileReply){.path = path, .content_type = "image/png"});
}

// ------------------------------------------------------------------ the log

// Counts the line ends in [buf, buf + len) from the back; returns the offset just after the
// `want`-th one, or -1 if there are fewer (*found += how many there were).
static long find_line_start(const char *buf, size_t len, long want, long *found)
{
    for (size_t i = len; i-- > 0;)
        if (buf[i] == '\n' && ++*found == want) return (long)i + 1;
    return -1;
}

// Prepends the `chunk` bytes before offset `end` of fd to buf[0, have); -1 on failure.
static int prepend_chunk(int fd, off_t end, size_t chunk, char **buf, size_t have)
{
    char *grown = realloc(*buf, have + chunk + 1);
    if (!grown) return -1;
    *buf = grown;
    memmove(grown + chunk, grown, have);
    return pread(fd, grown, chunk, end - (off_t)chunk) == (ssize_t)chunk ? 0 : -1;
}

// The last `lines` lines of a file, read back from its end in chunks: at most
// TAIL_MAX_BYTES, and then without the partial first line. NULL with errno on failure.
static char *file_tail(const char *path, long lines, size_t *out_len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    off_t end = st.st_size;
    char *buf = NULL, last = 0;
    size_t have = 0;
    long want = lines, found = 0, start = -1;
    if (end > 0 && pread(fd, &last, 1, end - 1) == 1 && last == '\n') want++; // the last line's end
    int failed = 0;
    while (start < 0 && end > 0 && have < TAIL_MAX_BYTES && !failed) {
        size_t chunk = (size_t)(end < TAIL_CHUNK ? end : TAIL_CHUNK);
        failed = prepend_chunk(fd, end, chunk, &buf, have);
        end -= (off_t)chunk, have += chunk;
        if (!failed) start = find_line_start(buf, chunk, want, &found);
    }
    close(fd);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (start < 0 && end > 0) { // cut at TAIL_MAX_BYTES: from the first whole line
        const char *nl = memchr(buf, '\n', have);
        start = nl ? nl - buf + 1 : (long)have;
    }
    if (start < 0) start = 0;
    *out_len = have - (size_t)start;
    if (!buf) return calloc(1, 1);
    memmove(buf, buf + start, *out_len);
    buf[*out_len] = 0;
    return buf;
}

void api_job_logs(Request *r)
{
    char path[SPEC_PATH_MAX];
    long tail;
    size_t len = 0;
    if (!path_job_exists(r) || query_long(r, "tail", TAIL_DEFAULT, 1, TAIL_MAX_LINES, &tail))
        return;
    if (path_printf(path, sizeof path, "%s/runs/%ld/train.log", r->app->state_dir, r->id)) {
        reply_error(r, 500, NULL, "the run dir's path is too long");
        return;
    }
    char *text = file_tail(path, tail, &len);
    if (!text && errno != ENOENT) {
        reply_error(r, 500, NULL, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    reply_text(r, 200, "text/plain; charset=utf-8", text ? text : "", text ? len : 0);
    free(text);
}
