// The scanner; see scanner.h. One thread owns the children: it starts the scans asked for (at
// most max_scans at once, the others wait their turn), polls their stdout for event lines,
// and reaps them. HTTP threads only queue a scan, flag one cancelled, or wait for one to end.
#include "scanner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "child_io.h"
#include "store.h"

enum { MAX_RUNNING = SCANNER_MAX_SCANS, WARNINGS_LOGGED = 20,
       LOG_TAIL_BYTES = 1024 };

typedef struct {
    char name[SPEC_NAME_MAX];
    pid_t pid;
    int out_fd;                 // the child's stdout; -1 once it closed
    int cancelled;              // the dataset was unregistered: ignore what it says
    int warnings;
    ChildLine line;
    DatasetRow *result;         // from its done event (NULL until then)
    char error[DATASET_ERROR_MAX]; // its error event's message
    char dir[PATH_MAX];         // state_dir/datasets/<name>
} Scan;

struct Scanner {
    ScannerConfig cfg;
    Db *db;
    Hub *hub;
    Supervisor *supervisor;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ended;       // broadcast whenever a scan ends
    ChildOwner plumbing;        // the children's environment, the thread's wake pipe
    int stopping;
    Scan *scans[MAX_RUNNING];
    int count;
    char **pending;             // names waiting for a free slot, oldest first
    int pending_count, pending_cap;
};

static void wake(Scanner *s)
{
    child_owner_wake(&s->plumbing, "scanner");
}

static void announce_job(Scanner *s, long job_id)
{
    json_t *job = store_job_json(s->db, job_id);
    if (job) hub_publish(s->hub, job_id, "state", job);
}

// ---- the end of a scan -------------------------------------------------------------------

// The queued jobs that waited for a dataset now ready: each is checked against its counts as a
// submission would have been (a fine-tuning needs classes, the batch must fit the training
// images, the images must pad to the model, the memory with the classes); those it does not
// suit fail, naming why.
static void check_waiting_jobs(Scanner *s, const DatasetRow *row)
{
    long *ids = NULL;
    int n = store_jobs_queued_on(s->db, row->name, &ids);
    for (int i = 0; i < n; i++) {
        json_t *job = store_job_json(s->db, ids[i]);
        char *text = job ? json_dumps(json_object_get(job, "spec"), JSON_COMPACT) : NULL;
        json_decref(job);
        JobSpec *spec = malloc(sizeof *spec);
        SpecError se;
        char message[1024];
        const char *field = NULL;
        if (text && spec && spec_parse(text, strlen(text), spec, &se) == 0 &&
            job_suits_dataset(spec, row, 0, 0, &field, message, sizeof message)) {
            fprintf(stderr, "simmimd: job %ld: dataset %s is ready but does not suit it: %s\n",
                    ids[i], row->name, message);
            if (store_job_fail_queued(s->db, ids[i], message) == STORE_OK) announce_job(s, ids[i]);
        }
        free(spec);
        free(text);
    }
    free(ids);
}

static void scan_ready(Scanner *s, Scan *scan)
{
    DatasetRow *row = scan->result;
    if (store_dataset_scan_ready(s->db, row) != STORE_OK) return;
    fprintf(stderr, "simmimd: dataset %s ready: %d training and %d test images\n", row->name,
            row->train_count, row->test_count);
    check_waiting_jobs(s, row);
    if (s->supervisor) supervisor_wake(s->supervisor);
}

static void scan_failed(Scanner *s, const char *name, const char *error)
{
    long *ids = NULL;
    int n = store_jobs_queued_on(s->db, name, &ids);
    if (store_dataset_scan_failed(s->db, name, error) == STORE_OK) {
        fprintf(stderr, "simmimd: dataset %s: scan failed: %s\n", name, error);
        for (int i = 0; i < n; i++) announce_job(s, ids[i]);
    }
    free(ids);
}

static void finish(Scanner *s, Scan *scan, int status)
{
    if (scan->cancelled) return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && scan->result) {
        scan_ready(s, scan);
        return;
    }
    char error[DATASET_ERROR_MAX], tail[LOG_TAIL_BYTES], log_path[PATH_MAX + 16];
    if (scan->error[0]) {
        snprintf(error, sizeof error, "%s", scan->error);
    } else {
        snprintf(log_path, sizeof log_path, "%s/scan.log", scan->dir);
        child_log_tail(log_path, tail, sizeof tail, 0);
        for (char *p = tail; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        if (WIFSIGNALED(status))
            snprintf(error, sizeof error, "simmim-data was killed by signal %d (%s): %s",
                     WTERMSIG(status), strsignal(WTERMSIG(status)), tail);
        else
            snprintf(error, sizeof error, "simmim-data exited with status %d: %s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, tail);
    }
    scan_failed(s, scan->name, error);
}

// ---- events ------------------------------------------------------------------------------

static int int_member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT_MAX
               ? (int)json_integer_value(v) : 0;
}

static void size_pair(const json_t *sizes, const char *key, int *w, int *h)
{
    json_t *pair = json_object_get(sizes, key);
    json_t *one = json_array_get(pair, 0), *two = json_array_get(pair, 1);
    *w = json_is_integer(one) ? (int)json_integer_value(one) : 0;
    *h = json_is_integer(two) ? (int)json_integer_value(two) : 0;
}

// The done event into a row: the stored row (name, format, path, globs, sample path) with the
// scan's counts.
static DatasetRow *done_row(Scanner *s, Scan *scan, const json_t *ev)
{
    DatasetRow *row = malloc(sizeof *row);
    if (!row || store_dataset_get(s->db, scan->name, row) != STORE_OK) {
        free(row);
        return NULL;
    }
    row->train_count = int_member(ev, "train_count");
    row->test_count = int_member(ev, "test_count");
    row->num_classes = int_member(ev, "num_classes");
    row->channels = int_member(ev, "channels");
    row->image_size = int_member(ev, "image_size");
    row->skipped = int_member(ev, "skipped");
    json_t *bad = json_object_get(ev, "bad_samples"), *bytes = json_object_get(ev, "bytes");
    row->bad_samples = json_is_integer(bad) ? (long)json_integer_value(bad) : 0;
    row->bytes = json_is_number(bytes) ? json_number_value(bytes) : -1.0;
    row->scanned = (long)row->train_count + row->test_count;
    json_t *sizes = json_object_get(ev, "image_sizes");
    ImageSizes *z = &row->sizes;
    memset(z, 0, sizeof *z);
    if (json_is_object(sizes)) {
        size_pair(sizes, "min", &z->min_width, &z->min_height);
        size_pair(sizes, "max", &z->max_width, &z->max_height);
        size_pair(sizes, "most_common", &z->common_width, &z->common_height);
    }
    json_t *labels = json_object_get(ev, "sample_labels");
    char *text = json_is_array(labels) ? json_dumps(labels, JSON_COMPACT) : NULL;
    // Class names longer than the record allows leave the sample unlabelled, not the dataset.
    snprintf(row->sample_labels, sizeof row->sample_labels, "%s",
             text && strlen(text) < sizeof row->sample_labels ? text : "");
    free(text);
    json_t *shards = json_object_get(ev, "shards");
    row->train_shards = int_member(shards, "train");
    row->test_shards = int_member(shards, "test");
    return row;
}

static void ingest_line(void *owner, void *child, const char *line)
{
    Scanner *s = owner;
    Scan *scan = child;
    json_t *ev = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *message = json_string_value(json_object_get(ev, "message"));
    if (!name || scan->cancelled) {
        json_decref(ev);
        return;
    }
    if (strcmp(name, "progress") == 0) {
        json_t *n = json_object_get(ev, "scanned");
        if (json_is_integer(n)) store_dataset_scan_progress(s->db, scan->name, (long)json_integer_value(n));
    } else if (strcmp(name, "warning") == 0 && message) {
        if (scan->warnings++ < WARNINGS_LOGGED)
            fprintf(stderr, "simmimd: dataset %s: %s\n", scan->name, message);
    } else if (strcmp(name, "error") == 0 && message) {
        snprintf(scan->error, sizeof scan->error, "%s", message);
    } else if (strcmp(name, "done") == 0 && !scan->result) {
        scan->result = done_row(s, scan, ev);
    }
    json_decref(ev);
}

// Reads what the child wrote; complete lines are ingested. Returns 0 at end of file.
static int read_scan(Scanner *s, Scan *scan)
{
    return child_read_lines(scan->out_fd, &scan->line, ingest_line, s, scan);
}

// ---- starting a scan ---------------------------------------------------------------------

static const char *format_word(DataFormat f)
{
    return f == DATA_FORMAT_IDX ? "idx" : f == DATA_FORMAT_SHARDS ? "shards" : "imagefolder";
}

// The child; -1 with errno on failure.
static pid_t spawn(Scanner *s, const DatasetRow *row, const char *dir, int out_fd)
{
    char log_path[PATH_MAX + 16];
    snprintf(log_path, sizeof log_path, "%s/scan.log", dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) return -1;
    char *argv[20 + 2 * s->cfg.data_root_count];
    int n = 0;
    argv[n++] = "simmim-data";
    argv[n++] = "scan";
    argv[n++] = "--format";
    argv[n++] = (char *)format_word(row->format);
    argv[n++] = "--path";
    argv[n++] = (char *)row->path;
    argv[n++] = "--out";
    argv[n++] = (char *)dir;
    if (row->train_glob[0]) argv[n++] = "--train", argv[n++] = (char *)row->train_glob;
    if (row->test_glob[0]) argv[n++] = "--test", argv[n++] = (char *)row->test_glob;
    for (int i = 0; i < s->cfg.data_root_count; i++) {
        argv[n++] = "--data-root";
        argv[n++] = (char *)s->cfg.data_roots[i];
    }
    argv[n++] = "--die-with-parent";
    argv[n] = NULL;
    pid_t pid = child_spawn(&s->plumbing, s->cfg.data_binary, argv, out_fd, log_fd, 0);
    int saved = errno;
    close(log_fd);
    errno = saved;
    return pid;
}

static int make_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

// Starts the scan of `name` in a free slot (under the lock).
static void start_scan(Scanner *s, const char *name)
{
    DatasetRow *row = malloc(sizeof *row);
    if (!row) return;
    if (store_dataset_get(s->db, name, row) != STORE_OK || row->state != DATASET_SCANNING) {
        free(row);
        return;
    }
    Scan *scan = calloc(1, sizeof *scan);
    char root[PATH_MAX], why[PATH_MAX + 256];
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    int paths_fit = path_printf(root, sizeof root, "%s/datasets", s->cfg.state_dir) == 0 &&
                    scan && path_printf(scan->dir, sizeof scan->dir, "%s/%s", root, name) == 0;
    if (!scan || !paths_fit) snprintf(why, sizeof why, "out of memory, or the state dir's path "
                                      "is too long");
    else if (make_dir(root) || make_dir(scan->dir))
        snprintf(why, sizeof why, "cannot create %s: %s", scan->dir, strerror(errno));
    else if (pipe2(fds, O_CLOEXEC))
        snprintf(why, sizeof why, "cannot make a pipe: %s", strerror(errno));
    else if ((pid = spawn(s, row, scan->dir, fds[1])) < 0)
        snprintf(why, sizeof why, "cannot start %s: %s", s->cfg.data_binary, strerror(errno));
    if (fds[1] >= 0) close(fds[1]);
    if (pid < 0) {
        if (fds[0] >= 0) close(fds[0]);
        free(scan);
        scan_failed(s, name, why);
        pthread_cond_broadcast(&s->ended);
        free(row);
        return;
    }
    snprintf(scan->name, sizeof scan->name, "%s", name);
    scan->pid = pid;
    scan->out_fd = fds[0];
    s->scans[s->count++] = scan;
    fprintf(stderr, "simmimd: dataset %s: scanning %s (pid %d)\n", name, row->path, (int)pid);
    free(row);
}

static void start_pending(Scanner *s)
{
    while (!s->stopping && s->pending_count > 0 && s->count < s->cfg.max_scans) {
        char *name = s->pending[0];
        memmove(s->pending, s->pending + 1, (size_t)--s->pending_count * sizeof *s->pending);
        start_scan(s, name);
        free(name);
    }
}

static void reap(Scanner *s, int index)
{
    Scan *scan = s->scans[index];
    int status = 0;
    while (waitpid(scan->pid, &status, 0) < 0 && errno == EINTR) {}
    if (scan->out_fd >= 0) close(scan->out_fd);
    if (!s->stopping) finish(s, scan, status);
    s->scans[index] = s->scans[--s->count];
    free(scan->result);
    free(scan);
    pthread_cond_broadcast(&s->ended);
}

// ---- the thread --------------------------------------------------------------------------

static void *scanner_main(void *arg)
{
    Scanner *s = arg;
    struct pollfd fds[MAX_RUNNING + 1];
    for (;;) {
        pthread_mutex_lock(&s->lock);
        start_pending(s);
        int n = s->count, stopping = s->stopping;
        for (int i = 0; i < n; i++) fds[i] = (struct pollfd){.fd = s->scans[i]->out_fd, .events = POLLIN};
        pthread_mutex_unlock(&s->lock);
        if (stopping && n == 0) break;
        fds[n] = (struct pollfd){.fd = s->plumbing.wake_pipe[0], .events = POLLIN};
        if (poll(fds, (nfds_t)n + 1, 1000) < 0 && errno != EINTR) break;
        if (fds[n].revents & POLLIN) child_owner_drain(&s->plumbing);
        pthread_mutex_lock(&s->lock);
        for (int i = n - 1; i >= 0; i--) // scans only leave in reap, from the end down
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                if (!read_scan(s, s->scans[i])) reap(s, i);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

Scanner *scanner_start(const ScannerConfig *cfg, Db *db, Hub *hub, char *err, size_t errlen)
{
    Scanner *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "scanner: out of memory");
        return NULL;
    }
    if (child_owner_open(&s->plumbing, "scanner", "data binary", cfg->data_binary, err, errlen)) {
        free(s);
        return NULL;
    }
    s->cfg = *cfg;
    if (s->cfg.max_scans < 1) s->cfg.max_scans = SCANNER_DEFAULT_SCANS;
    if (s->cfg.max_scans > MAX_RUNNING) s->cfg.max_scans = MAX_RUNNING;
    s->db = db;
    s->hub = hub;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->ended, NULL);
    if (pthread_create(&s->thread, NULL, scanner_main, s)) {
        snprintf(err, errlen, "scanner: cannot start its thread");
        child_owner_close(&s->plumbing);
        free(s);
        return NULL;
    }
    char **names = NULL;
    int n = store_datasets_in_state(db, DATASET_SCANNING, &names);
    for (int i = 0; i < n; i++) {
        fprintf(stderr, "simmimd: dataset %s was being scanned when the daemon stopped; scanning "
                "it again\n", names[i]);
        scanner_scan(s, names[i]);
        free(names[i]);
    }
    free(names);
    return s;
}

void scanner_set_supervisor(Scanner *s, Supervisor *supervisor)
{
    pthread_mutex_lock(&s->lock);
    s->supervisor = supervisor;
    pthread_mutex_unlock(&s->lock);
}

int scanner_scan(Scanner *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    int rc = -1;
    if (!s->stopping && s->pending_count == s->pending_cap) {
        int cap = s->pending_cap ? 2 * s->pending_cap : 8;
        char **grown = realloc(s->pending, (size_t)cap * sizeof *grown);
        if (grown) s->pending = grown, s->pending_cap = cap;
    }
    char *copy = strdup(name);
    if (!s->stopping && copy && s->pending_count < s->pending_cap) {
        s->pending[s->pending_count++] = copy;
        rc = 0;
    } else {
        free(copy);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) wake(s);
    return rc;
}

static void deadline_after(struct timespec *t, double seconds)
{
    clock_gettime(CLOCK_REALTIME, t);
    long ns = t->tv_nsec + (long)((seconds - (long)seconds) * 1e9);
    t->tv_sec += (time_t)seconds + ns / 1000000000L;
    t->tv_nsec = ns % 1000000000L;
}

int scanner_wait(Scanner *s, const char *name, double seconds)
{
    struct timespec end, now, slice;
    deadline_after(&end, seconds);
    DatasetRow *row = malloc(sizeof *row);
    int ended = 0;
    for (;;) {
        int rc = row ? store_dataset_get(s->db, name, row) : STORE_ERROR;
        if (rc != STORE_OK || row->state != DATASET_SCANNING) {
            ended = rc != STORE_ERROR;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        // Woken at each scan's end; checked again every 50 ms in any case (a scan may end
        // between our look at the store and the wait).
        deadline_after(&slice, 0.05);
        if (slice.tv_sec > end.tv_sec || (slice.tv_sec == end.tv_sec && slice.tv_nsec > end.tv_nsec))
            slice = end;
        pthread_mutex_lock(&s->lock);
        pthread_cond_timedwait(&s->ended, &s->lock, &slice);
        pthread_mutex_unlock(&s->lock);
    }
    free(row);
    return ended;
}

void scanner_cancel(Scanner *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->count; i++)
        if (!s->scans[i]->cancelled && strcmp(s->scans[i]->name, name) == 0) {
            s->scans[i]->cancelled = 1;
            kill(s->scans[i]->pid, SIGKILL);
        }
    for (int i = 0; i < s->pending_count;)
        if (strcmp(s->pending[i], name) == 0) {
            free(s->pending[i]);
            memmove(s->pending + i, s->pending + i + 1,
                    (size_t)(--s->pending_count - i) * sizeof *s->pending);
        } else {
            i++;
        }
    pthread_mutex_unlock(&s->lock);
}

void scanner_stop(Scanner *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    for (int i = 0; i < s->count; i++) kill(s->scans[i]->pid, SIGKILL);
    pthread_mutex_unlock(&s->lock);
    wake(s);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->pending_count; i++) free(s->pending[i]);
    free(s->pending);
    pthread_cond_destroy(&s->ended);
    pthread_mutex_destroy(&s->lock);
    child_owner_close(&s->plumbing);
    free(s);
}
