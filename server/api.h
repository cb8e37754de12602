// What the HTTP handlers share (internal to server/): the request a handler gets, the one way
// to answer it (JSON, a JSON error, a file with ETag and Range, a stream), query parameters,
// safe paths, and the handlers the routing table of http.c dispatches to.
#ifndef SIMMIMD_API_H
#define SIMMIMD_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "store.h"

// The characters of names that may appear in paths (datasets, downloads, web files).
#define SAFE_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum {
    BODY_MAX = 1 << 20,   // bytes of a request body (more: 413)
    DATASET_NAME_MAX = 64,
};

typedef struct {
    App *app;
    Http *http;
    struct MHD_Connection *conn;
    const char *method;   // as sent; HEAD is routed like GET
    const char *url;      // path, unescaped by libmicrohttpd
    int route;            // index in the routing table; -1 none
    long id;              // the {id} of the path, 0 if none
    char name[DATASET_NAME_MAX + 1]; // the {name} of the path, "" if none
    char *body;           // NUL-terminated, body_len bytes
    size_t body_len, body_cap, body_seen;
    int body_too_large;
    int responded;        // a response is queued
    enum MHD_Result result;
} Request;

// --- answers (reply.c) --- each queues exactly one response on the request.
// Queues `response` (destroyed here) with `status`; counts it for /metrics.
void reply(Request *r, unsigned status, struct MHD_Response *response);
// body is stolen; NULL (out of memory, or a record that vanished) answers 500.
void reply_json(Request *r, unsigned status, json_t *body);
// {"error": {"code", "message", "field"}}: the code follows from the status (400 invalid,
// 401 unauthorized, 403 forbidden, 404 not_found, 405 invalid, 409 conflict, 413 too_large,
// 416 invalid, 5xx internal); field may be NULL or "".
void reply_error(Request *r, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// The same with one extra header (header NULL: none) and a plain message.
void reply_error_header(Request *r, unsigned status, const char *field, const char *message,
                        const char *header, const char *value);
void reply_text(Request *r, unsigned status, const char *content_type, const char *text,
                size_t len);

// An error answer made before it is sent, by code that also serves what is not a request (a
// study submits its fine-tunings when their pretraining ends): the status, the field at fault
// ("" when none) and the message.
typedef struct {
    unsigned status;
    char field[64];
    char message[1024];
} ApiError;
void api_error_set(ApiError *e, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void reply_api_error(Request *r, const ApiError *e);

// --- query parameters (reply.c) ---
const char *query_string(Request *r, const char *key); // NULL if absent
// An integer in [min, max], def if absent; -1 after answering 400 (field = key).
int query_long(Request *r, const char *key, long def, long min, long max, long *out);
// A strict decimal integer (no sign, no spaces) in [min, max]; -1 otherwise.
int parse_long(const char *s, long min, long max, long *out);

// --- files (files.c) ---
typedef struct {
    const char *path;
    const char *content_type;
    const char *etag;          // with its quotes; NULL: derived from size and mtime
    const char *download_name; // Content-Disposition: attachment; NULL: none
} FileReply;
// Serves a file: Content-Length, ETag and If-None-Match (304), Range bytes=a-b, a-, -n (206
// with Content-Range; 416 when unsatisfiable; several ranges are ignored), 404 if missing.
void reply_file(Request *r, const FileReply *f);
// snprintf for paths: -1 if the result does not fit.
int path_printf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// 1 if path (a realpath) is root (a realpath) or below it.
int path_is_inside(const char *root, const char *path);
// Removes dir and everything below it, without following symbolic links, if dir lies strictly
// inside root; a missing dir is success. -1 with errno-based message otherwise.
int remove_tree(const char *root, const char *dir, char *err, size_t errlen);

// --- metrics of the HTTP layer (http.c) ---
// Counts an answer of `status` to a request of route (-1: none matched) for /metrics.
void http_count_answer(Http *http, int route, unsigned status);
// Appends the request counters as Prometheus text; the new length or -1 if it does not fit.
long http_prometheus(Http *http, char *buf, size_t cap, size_t len);

// --- jobs (api_jobs.c) ---
typedef struct {
    int check_only; // run every check of a submission and store nothing
    long study_run; // the study run the job is (store.h); 0: none
} JobSubmit;
// Submits a parsed API-form spec as POST /api/v1/jobs does: the processor runs its precision,
// its dataset is registered (and, once scanned, suits it), its starting checkpoint resolves and
// is pinned; then it is stored queued and the supervisor woken. 0 with *id, or -1 with *e
// (nothing stored, no pin kept; a study run that has its job already: 409). spec is completed
// (a starting checkpoint's model adopted).
int jobs_submit(App *app, JobSpec *spec, const JobSubmit *opt, long *id, ApiError *e);
// Deletes a finished job, its records and its run dir (DELETE /api/v1/jobs/{id}): 0, or -1 with
// *e (404, 409 while it is live or a live job starts from its checkpoints, 500).
int jobs_delete(App *app, long id, ApiError *e);

// --- studies' progress (api_studies.c) ---
// Submits every run of a study that can be submitted now (not while it is paused or
// cancelled); a run refused keeps why. Safe from any thread.
void studies_advance(App *app, long study_id);
// The supervisor's JobEndedFn (ctx: the App): the study of a job that ended advances.
void studies_job_ended(void *app, long job_id);
// At start-up: every active study advances (what a stopped or killed daemon left).
void studies_recover(App *app);

// --- datasets (datasets.c) ---
int dataset_name_valid(const char *name);
// Whether a ready dataset suits a job, as submission checks it (api_jobs.c): a fine-tuning
// needs classes, the batch must not exceed the training images (the labelled ones kept with
// finetune.labels_per_class), the images must pad evenly to model.img_size, a starting
// checkpoint's padding must be the dataset's (checkpoint_id 0: not checked), and a
// fine-tuning's memory is checked again with the dataset's classes (spec->model.num_classes is
// set to them). 0, or -1 with *field and a message.
int job_suits_dataset(JobSpec *spec, const DatasetRow *d, long checkpoint_id, int checkpoint_pad,
                      const char **field, char *msg, size_t cap);
// Removes a dataset's record and its directory: 204, 404, 409 (a live job uses it) or 500.
int datasets_unregister(App *app, const char *name, char *err, size_t errlen);

// --- handlers ---
void api_health(Request *r);
void api_prometheus(Request *r);
void api_jobs_list(Request *r);
void api_jobs_create(Request *r);
void api_job_get(Request *r);
void api_job_delete(Request *r);
void api_job_cancel(Request *r);
void api_job_pause(Request *r);
void api_job_resume(Request *r);
void api_job_metrics(Request *r);
void api_job_logs(Request *r);
void api_job_previews(Request *r);
void api_job_preview_png(Request *r);
void api_job_checkpoints(Request *r);
void api_checkpoint_get(Request *r);
void api_checkpoint_download(Request *r);
void api_datasets_list(Request *r);
void api_datasets_create(Request *r);
void api_dataset_get(Request *r);
void api_dataset_delete(Request *r);
void api_dataset_sample(Request *r);
void api_studies_list(Request *r);
void api_studies_create(Request *r);
void api_study_get(Request *r);
void api_study_delete(Request *r);
void api_study_cancel(Request *r);
void api_study_pause(Request *r);
void api_study_resume(Request *r);
void api_study_table_csv(Request *r);
void api_study_table_md(Request *r);
void sse_job_events(Request *r);
void sse_all_events(Request *r);
void static_serve(Request *r);

#endif
