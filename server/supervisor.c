// The supervisor; see supervisor.h. One thread owns the children: it schedules, spawns,
// polls their stdout for event lines, and reaps them. HTTP threads only flag a child (pause,
// cancel) and signal it, under the same mutex.
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
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

#include "base/fileio.h"
#include "child_io.h"
#include "launch.h"
#include "pins.h"
#include "store.h"

enum { MAX_CHILDREN = 64, LOG_TAIL_LINES = 20, SHUTDOWN_GRACE_S = 300,
       RESTART_BACKOFF_S = 10 };

typedef enum { ASK_NONE, ASK_PAUSE, ASK_CANCEL, ASK_SHUTDOWN } Request;

typedef struct {
    long job_id;
    pid_t pid;                // simmim-train, or mpirun (ranks > 1)
    int ranks;
    int out_fd;               // the child's stdout; -1 once it closed
    ChildLine line;
    Request request;
    int saw_done, saw_stopped;
    char error[1024];         // the message of its error event
    char run_dir[4096];
} Child;

struct Supervisor {
    SupervisorConfig cfg;
    Launcher launcher;
    RankPlacement placement;  // the launcher's, for the memory check (spec.h)
    Db *db;
    Hub *hub;
    pthread_t thread;
    pthread_mutex_t lock;
    ChildOwner plumbing;      // the children's environment, the thread's wake pipe
    int stopping;
    Child children[MAX_CHILDREN];
    int child_count;
    JobEndedFn job_ended;     // under lock
    void *job_ended_ctx;
};

void supervisor_wake(Supervisor *s)
{
    child_owner_wake(&s->plumbing, "supervisor");
}

void supervisor_announce_state(Supervisor *s, long job_id)
{
    json_t *job = store_job_json(s->db, job_id);
    if (job) hub_publish(s->hub, job_id, "state", job);
}

// --- ingesting events --------------------------------------------------------------------

static void ingest_events_file(Supervisor *s, long job_id, const char *run_dir);

static void ingest_line(void *owner, void *child, const char *line)
{
    Supervisor *s = owner;
    Child *c = child;
    json_t *ev = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "event"));
    if (!name) {
        json_decref(ev);
        return; // not an event line; the trainer writes only events on stdout
    }
    // A trainer starts once it holds its run dir's lock, so a previous trainer of the job has
    // exited by then. One that outlived a killed daemon (it checkpoints on its SIGTERM) may
    // have appended to events.jsonl after the new daemon re-read it at recovery: read it again
    // now, before this run resumes past those steps.
    if (strcmp(name, "start") == 0) ingest_events_file(s, c->job_id, c->run_dir);
    if (store_ingest_event(s->db, c->job_id, ev) != STORE_OK)
        fprintf(stderr, "simmimd: job %ld: could not store a %s event\n", c->job_id, name);
    if (strcmp(name, "done") == 0) c->saw_done = 1;
    if (strcmp(name, "stopped") == 0) c->saw_stopped = 1;
    const char *message = json_string_value(json_object_get(ev, "message"));
    if (strcmp(name, "error") == 0 && message) snprintf(c->error, sizeof c->error, "%s", message);
    json_object_set_new(ev, "job_id", json_integer(c->job_id));
    hub_publish(s->hub, c->job_id, name, ev);
}

// Reads what the child wrote; complete lines are ingested. Returns 0 at end of file.
static int read_child(Supervisor *s, Child *c)
{
    return child_read_lines(c->out_fd, &c->line, ingest_line, s, c);
}

// Re-reads a run dir's events.jsonl; storing is idempotent, so only what the database
// missed (a crash between the child's write and our read) is added. Start events are left
// out: storing an old one would move the job's progress back to where that run began, and
// the next trainer's own start sets what they carry.
static void ingest_events_file(Supervisor *s, long job_id, const char *run_dir)
{
    char path[4200], line[CHILD_LINE_MAX];
    snprintf(path, sizeof path, "%s/events.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *name = json_string_value(json_object_get(ev, "event"));
        if (json_is_object(ev) && (!name || strcmp(name, "start") != 0))
            store_ingest_event(s->db, job_id, ev);
        json_decref(ev);
    }
    fclose(f);
}

// --- spawning and reaping ----------------------------------------------------------------

static int write_spec(const char *run_dir, const char *spec, char *path, size_t pathlen)
{
    char err[512];
    snprintf(path, pathlen, "%s/spec.json", run_dir);
    FileChunk chunk = {spec, strlen(spec)};
    if (mkdir(run_dir, 0755) && errno != EEXIST) return -1;
    if (file_write_atomic(path, &chunk, 1, err, sizeof err)) {
        fprintf(stderr, "simmimd: %s\n", err);
        return -1;
    }
    return 0;
}

static pid_t spawn_trainer(Supervisor *s, const char *spec_path, const char *run_dir, int out_fd,
                           int ranks)
{
    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s/train.log", run_dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return -1;
    char *argv[LAUNCH_MAX_ARGS + 1], words[LAUNCH_WORDS];
    const char *program = launcher_argv(&s->launcher, ranks, spec_path, run_dir, words, argv);
    // simmim-train stops itself when the daemon dies (--die-with-parent); mpirun is told to
    // stop its ranks the way a pause does.
    int death_signal = ranks > 1 ? launcher_stop_signal(ranks) : 0;
    pid_t pid = child_spawn(&s->plumbing, program, argv, out_fd, log_fd, death_signal);
    close(log_fd);
    return pid;
}

static void fail_to_start(Supervisor *s, long job_id, const char *why)
{
    fprintf(stderr, "simmimd: job %ld: %s\n", job_id, why);
    store_job_finish(s->db, job_id, JOB_FAILED, -1, why);
    supervisor_announce_state(s, job_id);
}

static void start_job(Supervisor *s, long job_id)
{
    JobRuntime rt;
    char spec_path[4200];
    if (store_job_runtime(s->db, job_id, &rt) != STORE_OK) return;
    int pipe_fds[2] = {-1, -1};
    if (write_spec(rt.run_dir, rt.child_spec, spec_path, sizeof spec_path) ||
        pipe2(pipe_fds, O_CLOEXEC)) {
        free(rt.child_spec);
        fail_to_start(s, job_id, "cannot prepare the run directory");
        return;
    }
    json_t *spec = json_loads(rt.child_spec, 0, NULL);
    json_t *ranks_value = json_object_get(json_object_get(spec, "train"), "ranks");
    int ranks = json_is_integer(ranks_value) ? (int)json_integer_value(ranks_value) : 1;
    json_decref(spec);
    free(rt.child_spec);
    if (store_job_transition(s->db, job_id, STATE_BIT(JOB_QUEUED), JOB_RUNNING, rt.resume) != STORE_OK) {
        close(pipe_fds[0]), close(pipe_fds[1]);
        return; // cancelled meanwhile
    }
    pid_t pid = spawn_trainer(s, spec_path, rt.run_dir, pipe_fds[1], ranks);
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        fail_to_start(s, job_id, "cannot start simmim-train");
        return;
    }
    Child *c = &s->children[s->child_count++];
    memset(c, 0, sizeof *c);
    c->job_id = job_id;
    c->pid = pid;
    c->ranks = ranks;
    c->out_fd = pipe_fds[0];
    snprintf(c->run_dir, sizeof c->run_dir, "%s", rt.run_dir);
    fprintf(stderr, "simmimd: job %ld started (pid %d%s)\n", job_id, (int)pid,
            ranks > 1 ? ", mpirun" : "");
    supervisor_announce_state(s, job_id);
}

static void schedule(Supervisor *s)
{
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && s->child_count < s->cfg.max_jobs && s->child_count < MAX_CHILDREN) {
        long id = store_job_next_queued(s->db);
        if (id <= 0) break;
        start_job(s, id);
    }
    pthread_mutex_unlock(&s->lock);
}

// The last lines of a run's train.log, for a job that failed without an error event.
// The end of a trainer's log (its stderr, and mpirun's), for one that died without an error
// event.
static void log_tail(const char *run_dir, char *out, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", run_dir);
    child_log_tail(path, out, cap, LOG_TAIL_LINES);
}

// A trainer killed by a signal nobody asked for (kill -9, the OOM killer; not one that
// reported an error of its own) is started again from its last checkpoint after a backoff,
// up to max_restarts times before it checkpoints past where it was killed. 1 if it was
// queued again (and a `restarted` event published), 0 if it has had its restarts.
static int restart_killed(Supervisor *s, Child *c, int signal, const char *who)
{
    int attempt;
    double delay;
    if (store_job_requeue_killed(s->db, c->job_id, s->cfg.max_restarts, RESTART_BACKOFF_S,
                                 &attempt, &delay) != STORE_OK)
        return 0;
    fprintf(stderr, "simmimd: job %ld: %s killed by signal %d (%s); restart %d of %d in %.0f s "
            "from its last checkpoint\n", c->job_id, who, signal, strsignal(signal), attempt,
            s->cfg.max_restarts, delay);
    hub_publish(s->hub, c->job_id, "restarted",
                json_pack("{s:i, s:s, s:i, s:i, s:f}", "signal", signal, "signal_name",
                          sigabbrev_np(signal) ? sigabbrev_np(signal) : "?", "attempt", attempt,
                          "max_restarts", s->cfg.max_restarts, "delay_s", delay));
    return 1;
}

// Turns a child's exit into its job's state.
static void finish_child(Supervisor *s, Child *c, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int clean = WIFEXITED(status) && code == 0;
    // A rank of an mpirun killed by a signal counts as the trainer killed by it.
    int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    char reason[2048], tail[1536], who[300] = "simmim-train";
    if (!signal && c->ranks > 1 && !c->error[0]) {
        log_tail(c->run_dir, tail, sizeof tail);
        char rank[280];
        if ((signal = launcher_rank_signal(code, tail, rank, sizeof rank)))
            snprintf(who, sizeof who, "simmim-train (%s)", rank);
    }
    int killed = signal && c->request == ASK_NONE && !c->error[0];
    if (killed && restart_killed(s, c, signal, who)) {
        // queued again, held back for its backoff
    } else if (c->request == ASK_CANCEL) {
        store_job_finish(s->db, c->job_id, JOB_CANCELLED, code, NULL);
    } else if (clean && c->request == ASK_PAUSE) {
        store_job_transition(s->db, c->job_id, STATE_BIT(JOB_RUNNING), JOB_PAUSED, 1);
    } else if (clean && (c->request == ASK_SHUTDOWN || (c->saw_stopped && !c->saw_done))) {
        store_job_transition(s->db, c->job_id, STATE_BIT(JOB_RUNNING), JOB_QUEUED, 1);
    } else if (clean && c->saw_done) {
        store_job_finish(s->db, c->job_id, JOB_SUCCEEDED, 0, NULL);
    } else {
        if (c->error[0]) snprintf(reason, sizeof reason, "%s", c->error);
        else if (killed)
            snprintf(reason, sizeof reason, "%s was killed by signal %d (%s) after %d restart%s "
                     "without a checkpoint past where it was killed (max-restarts)", who, signal,
                     strsignal(signal), s->cfg.max_restarts, s->cfg.max_restarts == 1 ? "" : "s");
        else {
            log_tail(c->run_dir, tail, sizeof tail);
            snprintf(reason, sizeof reason, "simmim-train exited with status %d: %s", code, tail);
        }
        store_job_finish(s->db, c->job_id, JOB_FAILED, code, reason);
    }
    fprintf(stderr, "simmimd: job %ld ended (exit status %d)\n", c->job_id, code);
    supervisor_announce_state(s, c->job_id);
}

static void reap(Supervisor *s, int index)
{
    Child *c = &s->children[index];
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {}
    close(c->out_fd);
    finish_child(s, c, status);
    s->children[index] = s->children[--s->child_count];
    pins_sweep(s->cfg.state_dir, s->db);
}

// --- the thread --------------------------------------------------------------------------

static void *supervisor_main(void *arg)
{
    Supervisor *s = arg;
    struct pollfd fds[MAX_CHILDREN + 1];
    for (;;) {
        schedule(s);
        pthread_mutex_lock(&s->lock);
        int n = s->child_count, stopping = s->stopping;
        for (int i = 0; i < n; i++) fds[i] = (struct pollfd){.fd = s->children[i].out_fd, .events = POLLIN};
        pthread_mutex_unlock(&s->lock);
        if (stopping && n == 0) break;
        fds[n] = (struct pollfd){.fd = s->plumbing.wake_pipe[0], .events = POLLIN};
        if (poll(fds, n + 1, 1000) < 0 && errno != EINTR) break;
        if (fds[n].revents & POLLIN) child_owner_drain(&s->plumbing);
        long ended[MAX_CHILDREN];
        int ended_count = 0;
        pthread_mutex_lock(&s->lock);
        JobEndedFn job_ended = s->job_ended;
        void *ctx = s->job_ended_ctx;
        for (int i = n - 1; i >= 0; i--) // children only leave in reap, from the end down
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                !read_child(s, &s->children[i])) {
                ended[ended_count++] = s->children[i].job_id;
                reap(s, i);
            }
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; job_ended && i < ended_count; i++) job_ended(ctx, ended[i]);
    }
    return NULL;
}

static void recover_running_jobs(Supervisor *s)
{
    long *ids = NULL;
    int count = store_jobs_in_state(s->db, JOB_RUNNING, &ids);
    for (int i = 0; i < count; i++) {
        JobRuntime rt;
        if (store_job_runtime(s->db, ids[i], &rt) == STORE_OK) {
            ingest_events_file(s, ids[i], rt.run_dir);
            free(rt.child_spec);
        }
        if (store_job_requeue_lost(s->db, ids[i]) == STORE_OK)
            fprintf(stderr, "simmimd: job %ld was running when the daemon stopped; re-queued\n", ids[i]);
        else
            fprintf(stderr, "simmimd: job %ld was running when the daemon stopped; could not re-queue "
                            "it (database error)\n", ids[i]);
    }
    free(ids);
}

Supervisor *supervisor_start(const SupervisorConfig *cfg, Db *db, Hub *hub, char *err, size_t errlen)
{
    Supervisor *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "supervisor: out of memory");
        return NULL;
    }
    if (child_owner_open(&s->plumbing, "supervisor", "train binary", cfg->train_binary, err,
                         errlen)) {
        free(s);
        return NULL;
    }
    s->cfg = *cfg;
    s->db = db;
    s->hub = hub;
    LaunchConfig lc = {.train_binary = cfg->train_binary, .mpirun = cfg->mpirun,
                       .hostfile = cfg->mpi_hostfile, .mpi_args = cfg->mpi_args,
                       .rank_timeout = cfg->rank_timeout, .data_roots = cfg->data_roots,
                       .data_root_count = cfg->data_root_count};
    launcher_init(&s->launcher, &lc);
    s->placement = (RankPlacement){launcher_rank_hosts, &s->launcher};
    pthread_mutex_init(&s->lock, NULL);
    recover_running_jobs(s);
    pins_sweep(s->cfg.state_dir, s->db);
    spec_set_rank_placement(&s->placement); // from now on, specs count the hostfile's hosts
    if (pthread_create(&s->thread, NULL, supervisor_main, s)) {
        spec_set_rank_placement(NULL);
        snprintf(err, errlen, "supervisor: cannot start its thread");
        child_owner_close(&s->plumbing);
        free(s);
        return NULL;
    }
    return s;
}

void supervisor_on_job_ended(Supervisor *s, JobEndedFn fn, void *ctx)
{
    pthread_mutex_lock(&s->lock);
    s->job_ended = fn;
    s->job_ended_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

static Child *find_child(Supervisor *s, long job_id)
{
    for (int i = 0; i < s->child_count; i++)
        if (s->children[i].job_id == job_id) return &s->children[i];
    return NULL;
}

// Asks a running child to checkpoint and exit; what follows depends on `why`.
static void ask_child(Child *c, Request why)
{
    c->request = why;
    kill(c->pid, launcher_stop_signal(c->ranks));
}

void supervisor_stop(Supervisor *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    for (int i = 0; i < s->child_count; i++) ask_child(&s->children[i], ASK_SHUTDOWN);
    pthread_mutex_unlock(&s->lock);
    supervisor_wake(s);
    // Children finish their step and checkpoint; after a grace period they are killed.
    for (int waited = 0;; waited++) {
        pthread_mutex_lock(&s->lock);
        int left = s->child_count;
        if (left && waited == SHUTDOWN_GRACE_S * 10)
            for (int i = 0; i < s->child_count; i++) kill(s->children[i].pid, SIGKILL);
        pthread_mutex_unlock(&s->lock);
        if (!left) break;
        usleep(100000);
    }
    pthread_join(s->thread, NULL);
    spec_set_rank_placement(NULL);
    pthread_mutex_destroy(&s->lock);
    child_owner_close(&s->plumbing);
    free(s);
}

int supervisor_cancel(Supervisor *s, long job_id)
{
    pthread_mutex_lock(&s->lock);
    Child *c = find_child(s, job_id);
    int rc = STORE_OK;
    if (c) ask_child(c, ASK_CANCEL);
    else rc = store_job_transition(s->db, job_id, STATE_BIT(JOB_QUEUED) | STATE_BIT(JOB_PAUSED), JOB_CANCELLED, 0);
    pthread_mutex_unlock(&s->lock);
    if (!c && rc == STORE_OK) {
        supervisor_announce_state(s, job_id);
        pins_sweep(s->cfg.state_dir, s->db);
    }
    return rc;
}

int supervisor_pause(Supervisor *s, long job_id)
{
    pthread_mutex_lock(&s->lock);
    Child *c = find_child(s, job_id);
    if (c && c->request == ASK_NONE) ask_child(c, ASK_PAUSE);
    pthread_mutex_unlock(&s->lock);
    if (c) return STORE_OK;
    json_t *job = store_job_json(s->db, job_id);
    json_decref(job);
    return job ? STORE_CONFLICT : STORE_NOT_FOUND;
}

int supervisor_check_ranks(Supervisor *s, int ranks, char *err, size_t errlen)
{
    return launcher_check_ranks(&s->launcher, ranks, err, errlen);
}

int supervisor_resume(Supervisor *s, long job_id)
{
    int rc = store_job_transition(s->db, job_id, STATE_BIT(JOB_PAUSED), JOB_QUEUED, 1);
    if (rc == STORE_OK) {
        supervisor_announce_state(s, job_id);
        supervisor_wake(s);
    }
    return rc;
}
