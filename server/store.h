// The daemon's records in SQLite: jobs and their state machine, metrics, checkpoints,
// previews and datasets, and the ingestion of trainer events. Every function takes the
// database lock itself, uses prepared statements, and returns errors instead of ignoring
// them. Functions ending in _json return a new Jansson object shaped as the HTTP API
// contract (docs/http-api.md) shows it, or NULL when the record does not exist.
#ifndef SIMMIMD_STORE_H
#define SIMMIMD_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"
#include "spec/spec.h"

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_PAUSED, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED } JobState;
#define JOB_STATE_COUNT 6
const char *job_state_name(JobState s);
int job_state_parse(const char *name, JobState *s); // -1 if unknown
#define STATE_BIT(s) (1u << (s))

// STORE_INVALID: an event store_ingest_event cannot use (not an object, no "event", a bad
// step, path or checksum); nothing was stored.
enum { STORE_OK = 0, STORE_NOT_FOUND = -1, STORE_CONFLICT = -2, STORE_ERROR = -3, STORE_INVALID = -4 };

// What the supervisor needs to run a job.
typedef struct {
    long id;
    JobKind kind;
    JobState state;
    int resume;          // 1: pass --resume (paused or recovered job)
    char *child_spec;    // the file-form spec JSON handed to simmim-train (caller frees)
    char run_dir[4096];
} JobRuntime;

// --- jobs ---
// Inserts a queued job. api_spec: the resolved spec as submitted (API form); child_spec: the
// file form for simmim-train, which must parse (spec_parse): it is stored with "job_id" set
// to the new id (re-serialized by spec_to_json), so checkpoints record their job.
// init_checkpoint_id: 0 when none. run_dir = runs_dir/<id>. study_run > 0: the job is that
// study run's (store_study_*), recorded with the job in one transaction — STORE_CONFLICT and
// nothing stored when the run already has a job. Returns the id or STORE_ERROR.
long store_job_create(Db *db, const JobSpec *spec, const char *api_spec, const char *child_spec,
                      long init_checkpoint_id, const char *runs_dir, long study_run);
json_t *store_job_json(Db *db, long id);
// {"jobs": [...], "total": N}; state/kind NULL = any, study ≤ 0 = any (else that study's
// jobs); newest first; total counts every match (limit ≤ 0: 100, at most 1000; offset < 0: 0).
json_t *store_jobs_json(Db *db, const char *state, const char *kind, long study, long limit,
                        long offset);
// Moves a job to `to` if its state is in `from_mask`: STORE_OK, STORE_NOT_FOUND or
// STORE_CONFLICT. Sets started_at/finished_at and the running time (duration_s) as the
// states imply; `resume` sets the flag.
int store_job_transition(Db *db, long id, unsigned from_mask, JobState to, int resume);
// Re-queues (to resume) a job found running at daemon start, whose trainer the daemon lost:
// its last running interval is taken to end at the last event it recorded.
int store_job_requeue_lost(Db *db, long id);
// Records how a job ended: its final state, exit status and the tail of its log (error NULL
// keeps the message an error event stored). From queued, running or paused only: else
// STORE_CONFLICT (or STORE_NOT_FOUND).
int store_job_finish(Db *db, long id, JobState state, int exit_status, const char *error);
// A running job whose trainer was killed by a signal nobody asked for goes back to the queue,
// held back for backoff_s doubled per restart since it last checkpointed past the step it was
// killed at. STORE_CONFLICT (and no change) once it has had max_restarts such restarts;
// otherwise *attempt is this restart's number (1 for the first) and *delay_s its backoff.
int store_job_requeue_killed(Db *db, long id, int max_restarts, double backoff_s, int *attempt,
                             double *delay_s);
// The next job to run: highest priority, then oldest; 0 when none is queued.
long store_job_next_queued(Db *db);
int store_job_runtime(Db *db, long id, JobRuntime *rt); // caller frees rt->child_spec
// Ids of jobs in a state (e.g. running at start-up); returns the count, *ids malloc'd.
int store_jobs_in_state(Db *db, JobState s, long **ids);
// Finished jobs only (STORE_CONFLICT otherwise, and while a queued, running or paused job
// starts from one of its checkpoints); removes its rows; the caller removes files.
int store_job_delete(Db *db, long id);
// STORE_OK if a queued, running or paused job's file-form spec names `path`, else
// STORE_NOT_FOUND (or an error).
int store_job_uses_file(Db *db, const char *path);
// {"queued": n, "running": n, ...}
json_t *store_job_counts_json(Db *db);
// The queued jobs that train on a dataset, oldest first: the count, *ids malloc'd.
int store_jobs_queued_on(Db *db, const char *dataset, long **ids);
// Fails a queued job that never ran (a dataset it waited for turned out not to suit it):
// error recorded, exit_status stays null. STORE_CONFLICT if it is no longer queued.
int store_job_fail_queued(Db *db, long id, const char *error);

// --- trainer events (idempotent: an event already stored for its job and step is ignored) ---
// Applies one event line of simmim-train to the job's records: progress and eval → metrics
// (unique per job, kind and step) and the job's progress fields; checkpoint → checkpoints;
// checkpoint_deleted → marks it deleted; preview → previews; start → total steps and the
// model's parameter count; error →
// the job's error message; done → final metrics. The job's progress and latest metrics move
// only forward (an event with a step below the stored one leaves them). A missing or
// non-finite field is skipped; unknown events are ignored (STORE_OK). STORE_NOT_FOUND for an
// unknown job, STORE_INVALID for an unusable event (see above).
int store_ingest_event(Db *db, long job_id, const json_t *event);
// {"metrics": [{step, epoch, loss, lr, grad_norm, img_per_s, val_loss, top1}...]} with
// step > since, ascending, one object per step merging progress and eval fields (only the
// fields it has). NULL when the job does not exist (likewise the job's checkpoint and
// preview lists below).
json_t *store_metrics_json(Db *db, long job_id, long since);
// The same as the API answers it: one line of JSON text and a newline, malloc'd, *len bytes
// (written without building the objects: a long job's series is thousands of them).
char *store_metrics_text(Db *db, long job_id, long since, size_t *len);

// --- checkpoints and previews ---
// Not-deleted checkpoints, newest first: {"checkpoints": [...], "total": N}, each as
// store_checkpoint_json: {id, job_id, step, bytes, sha256, created_at, path (relative to the
// run dir), kind (of its job), download (URL), corrupt (true when the last check of the file,
// which it still is, found another sha256)}. A deleted checkpoint is not found by any
// function here.
json_t *store_checkpoints_json(Db *db, long job_id);
json_t *store_checkpoint_json(Db *db, long checkpoint_id);
// The file of a checkpoint (absolute path) with its size and sha256, for downloads.
int store_checkpoint_file(Db *db, long checkpoint_id, char *path, size_t pathlen, long *bytes,
                          char sha256[65], long *job_id);
// The newest checkpoint of a job: STORE_NOT_FOUND when it has none.
int store_job_latest_checkpoint(Db *db, long job_id, long *checkpoint_id);
// kind of the job that wrote a checkpoint, and the checkpoint file.
int store_checkpoint_origin(Db *db, long checkpoint_id, JobKind *kind, char *path, size_t pathlen);
// A file as the checks of checkpoints know it: it is taken to be unchanged while these are
// (links made and removed — pins — leave them; a write changes mtime, a rename the inode).
typedef struct {
    long bytes, mtime_ns, inode;
} FileStamp;
int file_stamp(const char *path, FileStamp *stamp); // stat; -1 with errno
// The SHA-256 the last check of a checkpoint's file found, if that check saw the file as
// `stamp`: STORE_OK with `actual` filled, else STORE_NOT_FOUND.
int store_checkpoint_checked(Db *db, long checkpoint_id, const FileStamp *stamp, char actual[65]);
// Records a check: the file, as `stamp`, hashed to `actual` (lowercase hex); the checkpoint is
// corrupt when that is not its sha256.
int store_checkpoint_record_check(Db *db, long checkpoint_id, const FileStamp *stamp,
                                  const char *actual);
// {"previews": [{step, url}...], "total": N}, ascending by step.
json_t *store_previews_json(Db *db, long job_id);
// The preview PNG at `step` (< 0: the newest).
int store_preview_file(Db *db, long job_id, long step, char *path, size_t pathlen);

// --- datasets ---
// A dataset's sample.png: DATASET_SAMPLE_COUNT test images, DATASET_SAMPLE_COLS per row.
enum { DATASET_SAMPLE_COUNT = 16, DATASET_SAMPLE_COLS = 8, DATASET_SAMPLE_LABELS_MAX = 4608,
       DATASET_ERROR_MAX = 2048 };
// A registration is recorded as scanning at once; its scan (a simmim-data child, scanner.h)
// makes it ready with its counts, or failed with the reason.
typedef enum { DATASET_SCANNING, DATASET_READY, DATASET_FAILED } DatasetState;
const char *dataset_state_name(DatasetState s);
typedef struct {
    char name[SPEC_NAME_MAX];
    DataFormat format;
    char path[SPEC_PATH_MAX];       // realpath, inside a data root
    int train_count, test_count, num_classes, channels, image_size;
    char sample_path[SPEC_PATH_MAX]; // sample.png, written by the scan
    ImageSizes sizes;                // of the training images on disk; 0s: not recorded
    char sample_labels[DATASET_SAMPLE_LABELS_MAX]; // JSON array of the sample's classes; "": none
    DatasetState state;
    char error[DATASET_ERROR_MAX];   // failed: why ("" otherwise)
    long scanned;                    // images or samples found so far (scanning), or in all
    char train_glob[SPEC_GLOB_MAX], test_glob[SPEC_GLOB_MAX]; // shards; "": none
    int train_shards, test_shards;   // shards: the files each glob matched (ready)
    long bad_samples;                // shards: samples the scan found bad
    double bytes;                    // its files on disk; < 0: not known
    int skipped;                     // files left out: they resolve outside the data roots
} DatasetRow;
int store_dataset_insert(Db *db, const DatasetRow *row); // STORE_CONFLICT if the name exists
int store_dataset_get(Db *db, const char *name, DatasetRow *row);
json_t *store_datasets_json(Db *db);                     // {"datasets": [...], "total": N}
json_t *store_dataset_json(const DatasetRow *row);
// STORE_CONFLICT while a queued, running or paused job uses it.
int store_dataset_delete(Db *db, const char *name);
// A scan's running count; only while the dataset is scanning (else STORE_NOT_FOUND).
int store_dataset_scan_progress(Db *db, const char *name, long scanned);
// A scan's result: row's counts, sizes, sample labels, shards, bytes and skips, and state
// ready. Only while the dataset is scanning (else STORE_NOT_FOUND).
int store_dataset_scan_ready(Db *db, const DatasetRow *row);
// A scan that failed: the dataset becomes failed with `error`, and every queued job on it
// fails with "dataset \"NAME\": its scan failed: ERROR". Only while it is scanning (else
// STORE_NOT_FOUND).
int store_dataset_scan_failed(Db *db, const char *name, const char *error);
// The names of the datasets in a state (e.g. scanning at start-up): the count, *names
// malloc'd (each name too; free both).
int store_datasets_in_state(Db *db, DatasetState state, char ***names);

// --- studies (store_studies.c) ---
// A study's runs: the jobs it submits (docs/http-api.md#studies). A pretraining and a baseline
// are submitted at once; a fine-tuning and a linear probe once their pretraining has succeeded.
// A run keeps its job id once submitted (also after that job is deleted), or the reason it
// could not be.
typedef enum { STUDY_PRETRAIN, STUDY_FINETUNE, STUDY_BASELINE, STUDY_LINPROBE } StudyRole;
typedef struct {
    StudyRole role;
    int cell;     // the cell it serves (a pretraining and its probe: the first of those); -1
                  // for a baseline
    int seed;     // index into the study's seeds
    int pretrain; // a fine-tuning or a linear probe: its pretraining's index among the runs;
                  // else -1
    char *spec;   // the API-form spec it is submitted with (without the init_from the study
                  // fills)
} StudyRun;
typedef struct {
    const char *name, *preset; // preset NULL: none
    const char *axes, *seeds, *cells, *pretrain, *finetune; // JSON texts
    const char *linprobe; // JSON text; NULL: the study probes nothing
    int baseline;
    const StudyRun *runs;
    int run_count;
} StudyRecord;
// What a study can control in its children: active, paused (nothing of it starts), cancelled.
typedef enum { STUDY_ACTIVE, STUDY_PAUSED, STUDY_CANCELLED } StudyControl;
// Inserts a study and its runs (one transaction); the id or STORE_ERROR.
long store_study_create(Db *db, const StudyRecord *rec);
// The study's record: {id, name, preset, created_at, control, axes, seeds, baseline, cells,
// pretrain, finetune, linprobe (null: none), runs: [{id, role, cell, seed, pretrain_run, job_id,
// error, job_state (null before its job, "deleted" after it), top1, knn_top1, duration_s,
// img_per_s (the mean of its progress events), params}...]}, as study_shape (studies.h) reads
// it; NULL when there is none.
json_t *store_study_raw(Db *db, long id);
// Ids of the studies, newest first (control_mask: those whose control is in it, by bit
// 1 << StudyControl): the count, *ids malloc'd.
int store_study_ids(Db *db, unsigned control_mask, long **ids);
// The runs of an active study that can be submitted now, in order: not submitted nor refused,
// and a fine-tuning's or a linear probe's pretraining succeeded. The count, *runs malloc'd
// (free each spec).
typedef struct {
    long run_id;
    StudyRole role;
    long pretrain_job; // a fine-tuning or a linear probe: the job of its pretraining
    char *spec;
} StudyPending;
int store_study_pending(Db *db, long study_id, StudyPending **runs);
// A run that could not be submitted: it keeps why.
int store_study_run_refused(Db *db, long run_id, const char *error);
// The study a job belongs to: STORE_OK, STORE_NOT_FOUND (none) or STORE_ERROR.
int store_study_of_job(Db *db, long job_id, long *study_id);
// The jobs of a study that still exist, in the order of its runs: the count, *ids malloc'd.
int store_study_jobs(Db *db, long study_id, long **ids);
// Sets a study's control: STORE_OK or STORE_NOT_FOUND.
int store_study_set_control(Db *db, long study_id, StudyControl control);
// Removes a study and its runs (its jobs are the caller's to delete first).
int store_study_delete(Db *db, long study_id);

// --- Prometheus ---
// Appends the daemon's gauges (jobs by state, per running job step/loss/img_per_s) as
// Prometheus text to buf; returns the new length or -1 if it does not fit.
long store_prometheus(Db *db, char *buf, size_t cap, size_t len);

#endif
