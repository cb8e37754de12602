// Data-parallel training on MPI; see dist.h. Only the main thread calls MPI (the loader's and
// OpenMP's threads never do). Each collective is started non-blocking and tested until it
// completes or Dist.timeout_s passes — spinning for SPIN_S (a non-blocking collective moves
// only while it is tested: napping from the start made a 4 MB all-reduce 19 times slower), then
// napping, so that a rank that waits for a slower one leaves the cores to it — and a failure is
// returned, never exit()ed: the caller reports it and dist_finish ends every rank.
#include "train/dist.h"

#include <mpi.h>
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
        snprintf(err, errlen, "%s: not complete within %.0f s (rank 0 names the ranks that "
                 "did not arrive)", what, d->timeout_s);
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
    size_t n = (size_t)snprintf(err, errlen, "%s: not complete within %.0f s: ", what, d->timeout_s);
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

static int wait_for(Dist *d, MPI_Request *req, const char *what, char *err, size_t errlen)
{
    double start = MPI_Wtime();
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return fail_mpi(d, rc, what, err, errlen);
        if (done) return 0;
        double waited = MPI_Wtime() - start;
        if (waited > d->timeout_s) return name_missing(d, what, err, errlen);
        if (waited > SPIN_S) nap();
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
    *d = (Dist){.rank = 0, .ranks = 1, .timeout_s = timeout_s};
    if (gethostname(d->host, sizeof d->host)) snprintf(d->host, sizeof d->host, "?");
    d->host[sizeof d->host - 1] = 0;
    if (!launched_by_mpi()) return 0;
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init failed (%d)", rc);
        return -1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->ranks);
    if (d->ranks == 1) return 0;
    MPI_Comm local;
    int local_ranks = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &local_ranks);
        MPI_Comm_free(&local);
    }
    d->threads = rank_threads(local_ranks);
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

void dist_finish(Dist *d, int status)
{
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (d->hosts) free(d->hosts[0]);
    free(d->hosts);
    d->hosts = NULL;
    if (!initialized) return;
    if (status != 0 && d->ranks > 1) MPI_Abort(MPI_COMM_WORLD, status);
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
