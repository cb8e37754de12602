// Data-parallel training on MPI; see dist.h. Only the main thread calls MPI (the loader's and
// OpenMP's threads never do). Each collective is started non-blocking and tested until it
// completes or Dist.timeout_s passes — spinning for SPIN_S (a non-blocking collective moves
// only while it is tested: napping from the start made a 4 MB all-reduce 19 times slower), then
// napping, so that a rank that waits for a slower one leaves the cores to it — and a failure is
// returned, never exit()ed: the caller reports it and dist_finish ends every rank. While rank 0
// works alone, a thread of its own sends the signs of life (MPI_THREAD_SERIALIZED: the main
// thread makes no MPI call between dist_solo_begin and dist_solo_end).
#include "train/dist.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cpu.h"

static const double SPIN_S = 0.05; // testing without a pause, then
enum {
    NAP_NS = 100000,         // between tests
    TAG_ARRIVED = 29,        // a timed-out rank tells rank 0 it is alive
    TAG_ALIVE = 30,          // rank 0, working alone, tells a waiting rank it is alive
    CHUNK = 1 << 28,         // elements (a broadcast: bytes) per call; counts are ints
};

const char *dist_library(void)
{
    static char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    char *eol = strchr(version, '\n');
    if (eol) *eol = 0;
    for (char *c = version; *c; c++)
        if (*c == ',') { // "Open MPI v4.1.4, package: ..." → "Open MPI v4.1.4"
            *c = 0;
            break;
        }
    return version;
}

// Started by mpirun (Open MPI) or another PMI launcher.
static int launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static void mpi_message(int code, char *out, size_t cap)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = 0;
    snprintf(out, cap, "%s", len ? text : "unknown MPI error");
}

static int fail_mpi(Dist *d, int code, const char *what, char *err, size_t errlen)
{
    char text[MPI_MAX_ERROR_STRING];
    mpi_message(code, text, sizeof text);
    d->failed = 1;
    snprintf(err, errlen, "%s: %s", what, text);
    return -1;
}

static void nap(void)
{
    struct timespec ts = {0, NAP_NS};
    nanosleep(&ts, NULL);
}

// After a wait expired: the ranks still waiting tell rank 0; rank 0 gives them a grace period
// (the others entered the collective at other times) and names those it did not hear from.
static int name_missing(Dist *d, const char *what, char *err, size_t errlen)
{
    d->failed = 1;
    if (d->rank != 0) {
        MPI_Request req;
        int done = 0;
        if (MPI_Isend(&d->rank, 1, MPI_INT, 0, TAG_ARRIVED, MPI_COMM_WORLD, &req) == MPI_SUCCESS)
            for (double start = MPI_Wtime(); !done && MPI_Wtime() - start < 1.0; nap())
                if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        snprintf(err, errlen, "%s: not complete within %g s (rank 0 names the ranks that did not "
                 "arrive; when it says nothing, it is the one: rank 0 (%s) stopped)", what,
                 d->timeout_s, d->hosts[0]);
        return -1;
    }
    double grace = d->timeout_s / 4 < 1 ? 1 : d->timeout_s / 4 > 30 ? 30 : d->timeout_s / 4;
    char heard[d->ranks];
    memset(heard, 0, sizeof heard);
    heard[0] = 1;
    for (double start = MPI_Wtime(); MPI_Wtime() - start < grace; nap()) {
        int flag = 1, from;
        MPI_Status st;
        while (flag && MPI_Iprobe(MPI_ANY_SOURCE, TAG_ARRIVED, MPI_COMM_WORLD, &flag, &st) ==
                           MPI_SUCCESS && flag) {
            MPI_Recv(&from, 1, MPI_INT, st.MPI_SOURCE, TAG_ARRIVED, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (from > 0 && from < d->ranks) heard[from] = 1;
        }
    }
    size_t n = (size_t)snprintf(err, errlen, "%s: not complete within %g s: ", what, d->timeout_s);
    int missing = 0;
    for (int r = 1; r < d->ranks; r++)
        if (!heard[r] && n < errlen)
            n += (size_t)snprintf(err + n, errlen - n, "%srank %d (%s)", missing++ ? ", " : "", r,
                                  d->hosts[r]);
    if (n < errlen)
        snprintf(err + n, errlen - n, missing ? " never arrived (hung, or its host unreachable)"
                                              : "every rank arrived, the transfer did not end "
                                                "(the network between the hosts?)");
    return -1;
}

// Rank 0's signs of life that have arrived, taken: 1 if there were any, 0 if none, or an MPI
// error code (negated).
static int heard_from_rank0(void)
{
    int flag = 0, heard = 0, rc;
    while ((rc = MPI_Iprobe(0, TAG_ALIVE, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE)) ==
               MPI_SUCCESS && flag) {
        rc = MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_ALIVE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) break;
        heard = 1;
    }
    return rc == MPI_SUCCESS ? heard : -(rc ? rc : 1);
}

// Once past the spin, a rank other than 0 restarts its clock on each sign of life of rank 0.
static int wait_for(Dist *d, MPI_Request *req, const char *what, char *err, size_t errlen)
{
    double start = MPI_Wtime();
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return fail_mpi(d, rc, what, err, errlen);
        if (done) return 0;
        double waited = MPI_Wtime() - start;
        if (waited <= SPIN_S) continue;
        int heard = d->rank != 0 ? heard_from_rank0() : 0;
        if (heard < 0) return fail_mpi(d, -heard, what, err, errlen);
        if (heard) start = MPI_Wtime();
        else if (waited > d->timeout_s) return name_missing(d, what, err, errlen);
        nap();
    }
}

// A rank's default threads: its share of the host's cores, or every processor it is bound to
// when mpirun bound it to fewer than the host has.
static int rank_threads(int local_ranks)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = cpu_count();
    if (online > 0 && mine < online) return mine;
    int share = (int)(mine / local_ranks);
    return share > 0 ? share : 1;
}

int dist_init(Dist *d, int *argc, char ***argv, double timeout_s, char *err, size_t errlen)
{
    *d = (Dist){.rank = 0, .ranks = 1, .local_ranks = 1, .rank0_here = 1,
                .timeout_s = timeout_s};
    if (gethostname(d->host, sizeof d->host)) snprintf(d->host, sizeof d->host, "?");
    d->host[sizeof d->host - 1] = 0;
    if (!launched_by_mpi()) return 0;
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init failed (%d)", rc);
        return -1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->ranks);
    if (d->ranks == 1) return 0;
    if (provided < MPI_THREAD_SERIALIZED) {
        snprintf(err, errlen, "rank %d: %s gives MPI_THREAD level %d, and simmim-train needs "
                 "MPI_THREAD_SERIALIZED (rank 0's signs of life come from a thread)", d->rank,
                 dist_library(), provided);
        return -1;
    }
    // The ranks on this host, and whether rank 0 is one (the lowest of their ranks is 0).
    MPI_Comm local;
    int lowest = 0;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_size(local, &d->local_ranks);
        if (rc == MPI_SUCCESS)
            rc = MPI_Allreduce(&d->rank, &lowest, 1, MPI_INT, MPI_MIN, local);
        MPI_Comm_free(&local);
    }
    if (rc != MPI_SUCCESS) return fail_mpi(d, rc, "finding the ranks of this host", err, errlen);
    d->rank0_here = lowest == 0;
    d->threads = rank_threads(d->local_ranks);
    char *names = calloc((size_t)d->ranks, DIST_HOST_MAX);
    d->hosts = calloc((size_t)d->ranks, sizeof *d->hosts);
    if (!names || !d->hosts) {
        free(names);
        snprintf(err, errlen, "rank %d: out of memory", d->rank);
        return -1;
    }
    rc = MPI_Allgather(d->host, DIST_HOST_MAX, MPI_CHAR, names, DIST_HOST_MAX, MPI_CHAR,
                       MPI_COMM_WORLD);
    for (int r = 0; r < d->ranks; r++) d->hosts[r] = names + (size_t)r * DIST_HOST_MAX;
    return rc == MPI_SUCCESS ? 0 : fail_mpi(d, rc, "gathering the ranks' hosts", err, errlen);
}

// ---- rank 0 working alone ------------------------------------------------------------------

// One thread of rank 0, started by its first dist_solo_begin and ended by dist_finish, sends the
// signs. It waits while rank 0 is not alone; once alone, it sends every other rank a sign each
// quarter of the timeout that passes (a phase shorter than that sends none, so signs do not
// pile up unread at ranks that never wait long). It calls MPI only between dist_solo_begin and
// dist_solo_end, holding the lock, when the main thread makes no MPI call.
struct DistSolo {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;   // on CLOCK_MONOTONIC
    int on, quit;
    struct timespec last;     // the phase's start, then its last sign
    int code;                 // an MPI error sending a sign (MPI_SUCCESS: none)
};

static void *send_signs(void *arg)
{
    Dist *d = arg;
    struct DistSolo *s = d->solo;
    double every = d->timeout_s / 4;
    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        if (!s->on) {
            pthread_cond_wait(&s->changed, &s->lock);
            continue;
        }
        double at = s->last.tv_sec + s->last.tv_nsec * 1e-9 + every;
        struct timespec until = {.tv_sec = (time_t)at};
        until.tv_nsec = (long)((at - (double)until.tv_sec) * 1e9);
        if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != ETIMEDOUT || !s->on) continue;
        for (int r = 1; r < d->ranks && s->code == MPI_SUCCESS; r++) {
            MPI_Request req;
            s->code = MPI_Isend(NULL, 0, MPI_BYTE, r, TAG_ALIVE, MPI_COMM_WORLD, &req);
            if (s->code == MPI_SUCCESS) s->code = MPI_Request_free(&req); // completes on its own
        }
        clock_gettime(CLOCK_MONOTONIC, &s->last);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void solo_free(struct DistSolo *s)
{
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

// The first phase of rank 0 alone: its thread.
static int solo_start(Dist *d, char *err, size_t errlen)
{
    struct DistSolo *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;
    int rc = s ? pthread_condattr_init(&attr) : ENOMEM;
    if (rc == 0) {
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        s->code = MPI_SUCCESS;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, &attr);
        pthread_condattr_destroy(&attr);
        d->solo = s;
        rc = pthread_create(&s->thread, NULL, send_signs, d);
        if (rc) solo_free(s), d->solo = NULL;
    } else {
        free(s);
    }
    if (rc == 0) return 0;
    snprintf(err, errlen, "rank 0: cannot start the thread that tells the other ranks it is "
             "alive: %s", strerror(rc));
    return -1;
}

int dist_solo_begin(Dist *d, char *err, size_t errlen)
{
    if (d->rank != 0 || d->ranks == 1) return 0;
    if (!d->solo && solo_start(d, err, errlen)) return -1;
    struct DistSolo *s = d->solo;
    pthread_mutex_lock(&s->lock);
    s->on = 1;
    clock_gettime(CLOCK_MONOTONIC, &s->last);
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int dist_solo_end(Dist *d, char *err, size_t errlen)
{
    struct DistSolo *s = d->solo;
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    s->on = 0;
    int code = s->code;
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return code == MPI_SUCCESS ? 0 : fail_mpi(d, code, "telling the other ranks rank 0 is alive",
                                              err, errlen);
}

// Ends rank 0's thread, if it started.
static void solo_stop(Dist *d)
{
    struct DistSolo *s = d->solo;
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->on = 0;
    s->quit = 1;
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    solo_free(s);
    d->solo = NULL;
}

void dist_finish(Dist *d, int status)
{
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (d->hosts) free(d->hosts[0]);
    free(d->hosts);
    d->hosts = NULL;
    solo_stop(d);
    if (!initialized) return;
    if (status != 0 && d->ranks > 1 && !d->together) MPI_Abort(MPI_COMM_WORLD, status);
    MPI_Finalize();
}

int dist_broadcast(Dist *d, void *buf, size_t bytes, const char *what, char *err, size_t errlen)
{
    for (size_t at = 0; d->ranks > 1 && at < bytes; at += CHUNK) {
        MPI_Request req;
        int count = bytes - at < CHUNK ? (int)(bytes - at) : CHUNK;
        int rc = MPI_Ibcast((char *)buf + at, count, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return fail_mpi(d, rc, what, err, errlen);
        if (wait_for(d, &req, what, err, errlen)) return -1;
    }
    return 0;
}

int dist_share_bytes(Dist *d, char **bytes, size_t *len, char *err, size_t errlen)
{
    int64_t n = d->rank == 0 ? (*bytes ? (int64_t)*len : -1) : 0;
    if (dist_broadcast(d, &n, sizeof n, "sharing the spec", err, errlen)) return -1;
    if (n < 0) return -1; // rank 0 has said why
    if (d->rank != 0) {
        *len = (size_t)n;
        if (!(*bytes = calloc(*len + 1, 1))) {
            snprintf(err, errlen, "rank %d (%s): out of memory", d->rank, d->host);
            return -1;
        }
    }
    return dist_broadcast(d, *bytes, *len, "sharing the spec", err, errlen);
}

static int sum(Dist *d, void *x, size_t n, MPI_Datatype type, size_t size, const char *what,
               char *err, size_t errlen)
{
    for (size_t at = 0; d->ranks > 1 && at < n; at += CHUNK) {
        MPI_Request req;
        int count = n - at < CHUNK ? (int)(n - at) : CHUNK;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)x + at * size, count, type, MPI_SUM,
                                MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return fail_mpi(d, rc, what, err, errlen);
        if (wait_for(d, &req, what, err, errlen)) return -1;
    }
    return 0;
}

int dist_sum_floats(Dist *d, float *x, size_t n, const char *what, char *err, size_t errlen)
{
    return sum(d, x, n, MPI_FLOAT, sizeof *x, what, err, errlen);
}

int dist_sum_doubles(Dist *d, double *x, int n, const char *what, char *err, size_t errlen)
{
    return sum(d, x, (size_t)n, MPI_DOUBLE, sizeof *x, what, err, errlen);
}

int dist_gather(Dist *d, void *buf, size_t bytes, int everyone, const char *what, char *err,
                size_t errlen)
{
    if (d->ranks == 1) return 0;
    if (bytes > INT_MAX) {
        snprintf(err, errlen, "%s: %zu bytes per rank, more than one gather takes", what, bytes);
        return -1;
    }
    MPI_Request req;
    int count = (int)bytes, rc =
        everyone ? MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, count, MPI_BYTE,
                                  MPI_COMM_WORLD, &req)
                 : MPI_Igather(d->rank == 0 ? MPI_IN_PLACE : (char *)buf + (size_t)d->rank * bytes,
                               count, MPI_BYTE, buf, count, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) return fail_mpi(d, rc, what, err, errlen);
    return wait_for(d, &req, what, err, errlen);
}
