// Trainer events into the store (store.h, docs/events.md): each event line of
// simmim-train becomes metric, checkpoint and preview rows and moves the job's progress and
// latest metrics forward. Idempotent — rows are unique per job and step, and the job's
// progress moves back only at a resumed run's start, which an in-order re-read passes again —
// so a whole events.jsonl can be ingested again after a crash.
// Events are hostile input: a missing or non-finite number is skipped, a bad step, path or
// checksum refuses the event, an unknown event is ignored. Also the metrics series.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "store.h"
#include "store_sql.h"

enum { ERROR_MESSAGE_MAX = 2048, REL_PATH_MAX = 1024 };
// Beyond any real run, and every count stays exact as a JSON (double) number.
#define STEP_MAX (1L << 40)
#define BYTES_MAX (1L << 53)

typedef struct {
    sqlite3 *c;
    long job_id;
    const json_t *ev;
    double t;    // the event's time, or now
    long step; // the event's step (validated), -1 when it has none
} Event;

// A finite number field: a pointer to it in *slot, or NULL when missing or not a number.
static const double *field_number(const json_t *ev, const char *key, double *slot)
{
    const json_t *v = json_object_get(ev, key);
    if (!json_is_number(v)) return NULL;
    *slot = json_number_value(v);
    return isfinite(*slot) ? slot : NULL;
}

// A whole number in [0, max] (an integer, or a real with no fraction): 0, or -1.
static int field_count(const json_t *ev, const char *key, long max, long *out)
{
    const json_t *v = json_object_get(ev, key);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > max) return -1;
        *out = (long)i;
        return 0;
    }
    double d;
    if (!field_number(ev, key, &d) || d < 0 || d > (double)max || d != floor(d)) return -1;
    *out = (long)d;
    return 0;
}

// A path relative to the run dir that stays inside it: no leading '/', no empty, "." or
// ".." component, no control characters.
static const char *field_rel_path(const json_t *ev, const char *key)
{
    const char *p = json_string_value(json_object_get(ev, key));
    if (!p || !*p || *p == '/' || strlen(p) >= REL_PATH_MAX) return NULL;
    for (const char *part = p; part;) {
        const char *end = strchr(part, '/');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) return NULL;
        part = end ? end + 1 : NULL;
    }
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return NULL;
    return p;
}

// A SHA-256 of 64 hex digits, lowercased into out: 0, or -1.
static int field_sha256(const json_t *ev, const char *key, char out[65])
{
    const char *s = json_string_value(json_object_get(ev, key));
    if (!s || strlen(s) != 64) return -1;
    for (int i = 0; i < 64; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return -1;
        out[i] = ch;
    }
    out[64] = 0;
    return 0;
}

static int done_ok(int changes) { return changes < 0 ? changes : STORE_OK; }

// --- one function per event --------------------------------------------------------------

// A run resumed from a checkpoint behind its last progress (what came after was lost to a kill
// or a crash) does those steps again: its progress goes back to where the run really is, the
// one place progress moves backwards. The steps' metric rows stay (a resumed run repeats
// them bit for bit).
static int ingest_start(Event *e)
{
    long total, resumed, per_epoch, params;
    if (field_count(e->ev, "params", BYTES_MAX, &params) == 0 &&
        sql_exec(e->c, "UPDATE jobs SET params = ? WHERE id = ?", "ll", params, e->job_id) < 0)
        return STORE_ERROR;
    if (field_count(e->ev, "total_steps", STEP_MAX, &total)) return STORE_OK;
    if (field_count(e->ev, "resumed_from_step", total, &resumed))
        return done_ok(sql_exec(e->c, "UPDATE jobs SET total_steps = ? WHERE id = ?", "ll", total, e->job_id));
    double epoch_value = 0;
    const double *epoch = NULL;
    if (!field_count(e->ev, "steps_per_epoch", STEP_MAX, &per_epoch) && per_epoch > 0) {
        epoch_value = (double)resumed / (double)per_epoch;
        epoch = &epoch_value;
    }
    return done_ok(sql_exec(e->c,
                            "UPDATE jobs SET total_steps = ?, step = ?, epoch = ?, eta_s = NULL WHERE id = ?",
                            "llDl", total, resumed, epoch, e->job_id));
}

static int ingest_progress(Event *e)
{
    double v[6];
    const double *epoch = field_number(e->ev, "epoch", &v[0]), *loss = field_number(e->ev, "loss", &v[1]),
                 *lr = field_number(e->ev, "lr", &v[2]), *grad_norm = field_number(e->ev, "grad_norm", &v[3]),
                 *img_per_s = field_number(e->ev, "img_per_s", &v[4]), *eta = field_number(e->ev, "eta_s", &v[5]);
    long total_value;
    const long *total = field_count(e->ev, "total_steps", STEP_MAX, &total_value) ? NULL : &total_value;
    int rc = sql_exec(e->c,
                      "INSERT OR IGNORE INTO metrics (job_id, kind, step, epoch, loss, lr, grad_norm, "
                      "img_per_s, t) VALUES (?, 'progress', ?, ?, ?, ?, ?, ?, ?)",
                      "llDDDDDd", e->job_id, e->step, epoch, loss, lr, grad_norm, img_per_s, e->t);
    if (rc < 0) return rc;
    return done_ok(sql_exec(e->c,
                            "UPDATE jobs SET step = ?1, total_steps = COALESCE(?2, total_steps), "
                            "epoch = COALESCE(?3, epoch), eta_s = COALESCE(?4, eta_s), "
                            "loss = COALESCE(?5, loss), lr = COALESCE(?6, lr), "
                            "img_per_s = COALESCE(?7, img_per_s) WHERE id = ?8 AND step <= ?1",
                            "lLDDDDDl", e->step, total, epoch, eta, loss, lr, img_per_s, e->job_id));
}

// Eval and done carry the latest evaluation: val_loss, top1 (fine-tuning, linear probe) and
// knn_top1 (pretraining with the k-NN probe; done has none, its eval event had it).
static int update_eval_fields(Event *e, int done)
{
    double v[3];
    const double *val_loss = field_number(e->ev, "val_loss", &v[0]), *top1 = field_number(e->ev, "top1", &v[1]),
                 *knn_top1 = field_number(e->ev, "knn_top1", &v[2]);
    return done_ok(sql_exec(e->c,
                            "UPDATE jobs SET val_loss = COALESCE(?1, val_loss), top1 = COALESCE(?2, top1), "
                            "knn_top1 = COALESCE(?6, knn_top1), "
                            "step = CASE WHEN ?3 THEN ?4 ELSE step END, "
                            "eta_s = CASE WHEN ?3 THEN 0 ELSE eta_s END WHERE id = ?5 AND step <= ?4",
                            "DDillD", val_loss, top1, done, e->step, e->job_id, knn_top1));
}

static int ingest_eval(Event *e)
{
    double v[4];
    const double *epoch = field_number(e->ev, "epoch", &v[0]), *val_loss = field_number(e->ev, "val_loss", &v[1]),
                 *top1 = field_number(e->ev, "top1", &v[2]), *knn_top1 = field_number(e->ev, "knn_top1", &v[3]);
    int rc = sql_exec(e->c,
                      "INSERT OR IGNORE INTO metrics (job_id, kind, step, epoch, val_loss, top1, knn_top1, t) "
                      "VALUES (?, 'eval', ?, ?, ?, ?, ?, ?)",
                      "llDDDDd", e->job_id, e->step, epoch, val_loss, top1, knn_top1, e->t);
    return rc < 0 ? rc : update_eval_fields(e, 0);
}

static int ingest_done(Event *e) { return update_eval_fields(e, 1); }

// A checkpoint written again at the same step (a run resumed from an earlier one) replaces
// the row's file facts and revives it; the same event ingested again changes nothing.
// A checkpoint is written where the run is: a job that stops (pause, cancel) checkpoints a
// step its last progress event had not reached, and its progress moves on to it (the epoch in
// proportion). A checkpoint past the step a killed trainer reached resets the job's restarts.
static int ingest_checkpoint(Event *e)
{
    const char *path = field_rel_path(e->ev, "path");
    long bytes;
    char sha[65];
    if (!path || field_count(e->ev, "bytes", BYTES_MAX, &bytes) || field_sha256(e->ev, "sha256", sha))
        return STORE_INVALID;
    int rc = sql_exec(e->c,
                      "UPDATE jobs SET epoch = CASE WHEN step > 0 THEN epoch * ?1 / step ELSE epoch END, "
                      "step = ?1 WHERE id = ?2 AND step < ?1",
                      "ll", e->step, e->job_id);
    // Past the step its trainer was killed at, a job has its restarts back (migration 0005).
    if (rc >= 0)
        rc = sql_exec(e->c, "UPDATE jobs SET restarts = 0, killed_at_step = NULL "
                            "WHERE id = ?2 AND killed_at_step IS NOT NULL AND ?1 > killed_at_step",
                      "ll", e->step, e->job_id);
    if (rc < 0) return rc;
    return done_ok(sql_exec(e->c,
                            "INSERT INTO checkpoints (job_id, step, path, bytes, sha256, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, step) DO UPDATE SET "
                            "path = excluded.path, bytes = excluded.bytes, sha256 = excluded.sha256, "
                            "created_at = excluded.created_at, deleted = 0 "
                            "WHERE path != excluded.path OR bytes != excluded.bytes OR sha256 != excluded.sha256",
                            "llslsd", e->job_id, e->step, path, bytes, sha, e->t));
}

// The trainer found a checkpoint it was to resume from not to hash to what it recorded (and
// moved the file aside): the row, if it is still that file's, is marked corrupt.
static int ingest_checkpoint_corrupt(Event *e)
{
    char expected[65], actual[65];
    if (field_sha256(e->ev, "expected_sha256", expected) || field_sha256(e->ev, "actual_sha256", actual))
        return STORE_INVALID;
    return done_ok(sql_exec(e->c,
                            "UPDATE checkpoints SET corrupt = 1, verified_sha256 = ?1 "
                            "WHERE job_id = ?2 AND step = ?3 AND lower(sha256) = ?4",
                            "slls", actual, e->job_id, e->step, expected));
}

static int ingest_checkpoint_deleted(Event *e)
{
    return done_ok(sql_exec(e->c, "UPDATE checkpoints SET deleted = 1 WHERE job_id = ? AND step = ?", "ll",
                            e->job_id, e->step));
}

static int ingest_preview(Event *e)
{
    const char *path = field_rel_path(e->ev, "path");
    if (!path) return STORE_INVALID;
    return done_ok(sql_exec(e->c, "INSERT OR IGNORE INTO previews (job_id, step, path, t) VALUES (?, ?, ?, ?)",
                            "llsd", e->job_id, e->step, path, e->t));
}

static int ingest_error(Event *e)
{
    const char *message = json_string_value(json_object_get(e->ev, "message"));
    if (!message) return STORE_INVALID;
    char text[ERROR_MESSAGE_MAX];
    size_t n = strlen(message);
    if (n >= sizeof text) { // cut at a character boundary: the text stays UTF-8
        n = sizeof text - 1;
        while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80) n--;
    }
    memcpy(text, message, n);
    text[n] = 0;
    return done_ok(sql_exec(e->c, "UPDATE jobs SET error = ? WHERE id = ?", "sl", text, e->job_id));
}

static const struct {
    const char *name;
    int has_step;
    int (*apply)(Event *e);
} HANDLERS[] = {
    {"start", 0, ingest_start},
    {"progress", 1, ingest_progress},
    {"eval", 1, ingest_eval},
    {"checkpoint", 1, ingest_checkpoint},
    {"checkpoint_deleted", 1, ingest_checkpoint_deleted},
    {"checkpoint_corrupt", 1, ingest_checkpoint_corrupt},
    {"preview", 1, ingest_preview},
    {"done", 1, ingest_done},
    {"error", 0, ingest_error},
    // "stopped" and anything newer: nothing to store (the supervisor acts on "stopped")
};

// The event's step: within STEP_MAX and, once the run's length is known, within it.
static int event_step(Event *e, long total)
{
    long own_total;
    if (field_count(e->ev, "total_steps", STEP_MAX, &own_total) == 0) total = own_total;
    if (field_count(e->ev, "step", STEP_MAX, &e->step)) return STORE_INVALID;
    return total >= 0 && e->step > total ? STORE_INVALID : STORE_OK;
}

// Applies the event of HANDLERS[index] (< 0: unknown, ignored) to an existing job.
static int ingest(Event *e, int index)
{
    long total = -1; // the run's length, once its start event told it
    int rc = sql_long(e->c, &total, "SELECT COALESCE(total_steps, -1) FROM jobs WHERE id = ?", "l", e->job_id);
    if (rc != STORE_OK || index < 0) return rc;
    e->step = -1;
    if (HANDLERS[index].has_step && (rc = event_step(e, total)) != STORE_OK) return rc;
    return HANDLERS[index].apply(e);
}

int store_ingest_event(Db *db, long job_id, const json_t *event)
{
    const char *name = json_string_value(json_object_get(event, "event"));
    if (!json_is_object(event) || !name) return STORE_INVALID;
    int index = -1;
    for (int i = 0; index < 0 && i < (int)(sizeof HANDLERS / sizeof *HANDLERS); i++)
        if (strcmp(name, HANDLERS[i].name) == 0) index = i;
    double t;
    Event e = {.job_id = job_id, .ev = event, .t = field_number(event, "t", &t) ? t : store_now()};
    db_lock(db);
    e.c = db_sqlite(db);
    int rc = sql_begin(e.c);
    if (rc == STORE_OK) rc = (int)sql_end(e.c, ingest(&e, index));
    db_unlock(db);
    return rc;
}

// --- the metrics series ------------------------------------------------------------------

// One step of the series: the progress and eval rows of that step merged. (job, kind, step)
// is unique, so a field has at most one value per kind; each takes the larger where both
// kinds have one, except epoch, which prefers the progress row's (fractional) value.
enum { METRIC_EPOCH, METRIC_FIELDS = 8 };
static const char *const METRIC_KEYS[METRIC_FIELDS] = {
    ",\"epoch\":", ",\"loss\":", ",\"lr\":", ",\"grad_norm\":", ",\"img_per_s\":", ",\"val_loss\":",
    ",\"top1\":", ",\"knn_top1\":"};
typedef struct {
    long step;
    unsigned has;           // bit i: field i has a value
    unsigned progress_epoch; // epoch came from a progress row
    double v[METRIC_FIELDS];
} MetricStep;

typedef struct {
    MetricStep *rows;
    size_t n, cap;
} MetricSeries;

static int collect_metric(sqlite3_stmt *st, void *ctx)
{
    MetricSeries *m = ctx;
    long step = (long)sqlite3_column_int64(st, 0);
    int progress = strcmp((const char *)sqlite3_column_text(st, 1), "progress") == 0;
    if (m->n == 0 || m->rows[m->n - 1].step != step) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 256;
            MetricStep *grown = realloc(m->rows, cap * sizeof *grown);
            if (!grown) return STORE_ERROR;
            m->rows = grown, m->cap = cap;
        }
        m->rows[m->n++] = (MetricStep){.step = step};
    }
    MetricStep *r = &m->rows[m->n - 1];
    for (int i = 0; i < METRIC_FIELDS; i++) {
        if (sqlite3_column_type(st, 2 + i) == SQLITE_NULL) continue;
        double v = sqlite3_column_double(st, 2 + i);
        unsigned bit = 1u << i;
        if (i == METRIC_EPOCH && (r->progress_epoch || progress)) {
            if (r->progress_epoch && !progress) continue; // keep the progress row's
            if (progress && !r->progress_epoch) r->has &= ~bit; // replaces an eval row's
            r->progress_epoch = progress;
        }
        if (!(r->has & bit) || v > r->v[i]) r->v[i] = v;
        r->has |= bit;
    }
    return STORE_OK;
}

typedef struct {
    char *buf;
    size_t len, cap;
} Text;

static int text_put(Text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1) cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) return -1;
        t->buf = grown, t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
    return 0;
}

// The rows are read under the database lock and written out after it, straight into text
// (what json_out would make of the objects, without building them: a long job's series is
// thousands of them, and every other request and the trainers' events wait for the lock
// meanwhile). One query in step order, merged here, instead of a GROUP BY: a third of the time.
char *store_metrics_text(Db *db, long job_id, long since, size_t *len)
{
    MetricSeries m = {0};
    db_lock(db);
    sqlite3 *c = db_sqlite(db);
    int rc = job_exists(c, job_id);
    if (rc == STORE_OK)
        rc = sql_each(c, collect_metric, &m,
                      "SELECT step, kind, epoch, loss, lr, grad_norm, img_per_s, val_loss, top1, knn_top1 "
                      "FROM metrics WHERE job_id = ? AND step > ? ORDER BY step",
                      "ll", job_id, since);
    db_unlock(db);
    Text t = {0};
    int bad = rc != STORE_OK || text_put(&t, "{\"metrics\":[", 12);
    for (size_t i = 0; !bad && i < m.n; i++) {
        char item[64 + METRIC_FIELDS * (JSON_REAL_TEXT_MAX + 16)], real[JSON_REAL_TEXT_MAX];
        size_t n = (size_t)snprintf(item, sizeof item, "%s{\"step\":%ld", i ? "," : "", m.rows[i].step);
        for (int f = 0; f < METRIC_FIELDS; f++) {
            if (!(m.rows[i].has & (1u << f))) continue;
            size_t k = strlen(METRIC_KEYS[f]), r = json_out_real(m.rows[i].v[f], real);
            memcpy(item + n, METRIC_KEYS[f], k), n += k;
            memcpy(item + n, real, r), n += r;
        }
        item[n++] = '}';
        bad = text_put(&t, item, n);
    }
    free(m.rows);
    if (bad || text_put(&t, "]}\n", 3)) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}

json_t *store_metrics_json(Db *db, long job_id, long since)
{
    size_t len;
    char *text = store_metrics_text(db, job_id, since, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return doc;
}
