// Data-parallel training across the processes of one job (train.ranks, docs/job-spec.md): which
// rank this process is, and the few collectives a training step needs. dist_mpi.c builds it on
// MPI (make finds mpicc); dist_none.c, built with MPI=0, is one process and refuses to be one
// of several. The training loop calls the same functions either way.
//
// Every collective waits at most Dist.timeout_s. A wait that expires fails with a message that
// names the ranks (and their hosts) that never arrived: the ranks still waiting report to rank
// 0, which names the others. A rank that dies is mpirun's to notice (it ends the job). Rank 0
// alone does the run's I/O (its run dir, evaluation, previews, checkpoints) while the others
// wait for it at the next collective: between dist_solo_begin and dist_solo_end it sends them
// signs of life, each of which restarts their clock, so a long evaluation never times them out
// and a rank 0 that stops (hung, stopped, its host unreachable) still does.
#ifndef SIMMIM_DIST_H
#define SIMMIM_DIST_H

#include <stddef.h>

enum { DIST_HOST_MAX = 64 };

typedef struct {
    int rank, ranks;
    int threads;         // compute threads a rank takes by default: its share of the host's
                         // cores (the cores divided by the host's ranks), 0 alone: every core
    int local_ranks;     // the ranks on this host, this one included
    int rank0_here;      // rank 0 is one of them
    double timeout_s;    // of every wait for the other ranks
    char host[DIST_HOST_MAX];
    char **hosts;        // every rank's host, by rank (ranks > 1)
    int failed;          // a collective failed: the others were not all there
    int together;        // every rank failed at the same point, on figures they share: they
                         // leave together (dist_finish does not end the others)
    struct DistSolo *solo; // rank 0's signs of life while it works alone (private)
} Dist;

// The MPI library simmim-train runs on ("Open MPI v4.1.4, ..."), or NULL when built without MPI.
const char *dist_library(void);

// Joins the job's ranks when an MPI launcher (mpirun) started this process, else stands alone
// (rank 0 of 1). 0, or -1 with err filled (an MPI that does not start; a build without MPI
// started as one of several processes).
int dist_init(Dist *d, int *argc, char ***argv, double timeout_s, char *err, size_t errlen);
// Leaves the job: cleanly after status 0 (or a failure every rank met together: Dist.together),
// otherwise by ending every rank at once (MPI_Abort).
void dist_finish(Dist *d, int status);

// Rank 0 starts and ends work the others wait for (no collective in between; other ranks: no-
// ops): meanwhile a thread of it sends every other rank a sign of life each quarter of
// timeout_s that passes. 0, or -1 with err filled (the thread does not start; a sign could not
// be sent).
int dist_solo_begin(Dist *d, char *err, size_t errlen);
int dist_solo_end(Dist *d, char *err, size_t errlen);

// Rank 0's bytes to every rank: rank 0 passes *bytes (NULL: it has none, and every rank gets
// -1) and *len; the others receive a malloc'ed copy (NUL-terminated) in *bytes.
int dist_share_bytes(Dist *d, char **bytes, size_t *len, char *err, size_t errlen);
// Rank 0's `bytes` bytes at buf to every rank's buf.
int dist_broadcast(Dist *d, void *buf, size_t bytes, const char *what, char *err, size_t errlen);
// x[0 … n) ← the sum of every rank's x (floats: the gradients; doubles: a step's figures).
int dist_sum_floats(Dist *d, float *x, size_t n, const char *what, char *err, size_t errlen);
int dist_sum_doubles(Dist *d, double *x, int n, const char *what, char *err, size_t errlen);
// buf holds `bytes` for each rank, by rank: rank r's part, at buf + r·bytes, is sent to rank 0
// (everyone 0) or to every rank (everyone 1), in place.
int dist_gather(Dist *d, void *buf, size_t bytes, int everyone, const char *what, char *err,
                size_t errlen);

#endif
