// Data-parallel training without MPI (make MPI=0, or no mpicc); see dist.h. One process: rank
// 0 of 1, whose collectives have nothing to do. Started by mpirun as one of several processes
// it refuses to run (each would train alone into the same run dir).
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *dist_library(void) { return NULL; }

int dist_init(Dist *d, int *argc, char ***argv, double timeout_s, char *err, size_t errlen)
{
    (void)argc, (void)argv;
    *d = (Dist){.rank = 0, .ranks = 1, .local_ranks = 1, .rank0_here = 1,
                .timeout_s = timeout_s};
    if (gethostname(d->host, sizeof d->host)) snprintf(d->host, sizeof d->host, "?");
    d->host[sizeof d->host - 1] = 0;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size) size = getenv("PMI_SIZE");
    if (size && atoi(size) > 1) {
        snprintf(err, errlen, "simmim-train was built without MPI (make MPI=0, or no mpicc): it "
                 "cannot be one of the %d processes mpirun started; build it with Open MPI "
                 "installed (deploy/deps.sh)", atoi(size));
        return -1;
    }
    return 0;
}

void dist_finish(Dist *d, int status) { (void)d, (void)status; }

int dist_share_bytes(Dist *d, char **bytes, size_t *len, char *err, size_t errlen)
{
    (void)d, (void)len, (void)err, (void)errlen;
    return *bytes ? 0 : -1;
}

int dist_broadcast(Dist *d, void *buf, size_t bytes, const char *what, char *err, size_t errlen)
{
    (void)d, (void)buf, (void)bytes, (void)what, (void)err, (void)errlen;
    return 0;
}

int dist_sum_floats(Dist *d, float *x, size_t n, const char *what, char *err, size_t errlen)
{
    (void)d, (void)x, (void)n, (void)what, (void)err, (void)errlen;
    return 0;
}

int dist_sum_doubles(Dist *d, double *x, int n, const char *what, char *err, size_t errlen)
{
    (void)d, (void)x, (void)n, (void)what, (void)err, (void)errlen;
    return 0;
}

int dist_gather(Dist *d, void *buf, size_t bytes, int everyone, const char *what, char *err,
                size_t errlen)
{
    (void)d, (void)buf, (void)bytes, (void)everyone, (void)what, (void)err, (void)errlen;
    return 0;
}

int dist_solo_begin(Dist *d, char *err, size_t errlen)
{
    (void)d, (void)err, (void)errlen;
    return 0;
}

int dist_solo_end(Dist *d, char *err, size_t errlen)
{
    (void)d, (void)err, (void)errlen;
    return 0;
}
