// Does overlapping the gradient all-reduce with the backward pass win on this machine (issue
// 29)? A stand-in for one data-parallel step: a backward pass of K equal pieces of compute
// (each piece finishes one bucket of the flat gradient buffer, as a block's backward does),
// and the all-reduce of the buffer (fp32, sum, in place), in five ways:
//   after     compute everything, then one MPI_Iallreduce tested until done (simmim-train's
//             way: dist_mpi.c)
//   blocking  compute everything, then one MPI_Allreduce
//   chunked   compute everything, then an MPI_Iallreduce per bucket, all started at once and
//             tested until done
//   buckets   MPI_Iallreduce each bucket as its piece ends, MPI_Test between pieces, wait at
//             the end (no MPI call inside a piece: a block's backward has none)
//   fine      the same, with MPI_Test every ~1 ms inside the pieces too (hooks in the kernels)
//   thread    a communication thread all-reducing the buckets as they are ready (blocking
//             calls, MPI_THREAD_MULTIPLE) while the main thread computes
// Prints the median step time of each (rounds interleaved) and of the compute alone. Built and run by
// tests/bench/bench_ranks.sh: mpicc -O2 -pthread, mpirun -np 2 overlap FLOATS COMPUTE_MS.
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PIECES = 6, REPS = 9, WORK = 1 << 16 };

static float *grads, work[WORK];
static size_t n;
static long piece_iters; // compute loop iterations of one piece
static volatile int ready; // buckets ready for the communication thread
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

// One slice of a piece of compute; with reqs, MPI_Test on the `open` requests after it.
static void compute(long iters, MPI_Request *reqs, int open)
{
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < WORK; j++) work[j] = work[j] * 0.999f + 0.001f;
    for (int k = 0; reqs && k < open; k++) {
        int done;
        MPI_Test(&reqs[k], &done, MPI_STATUS_IGNORE);
    }
}

static void bucket(int k, float **at, int *count)
{
    size_t per = n / PIECES;
    *at = grads + (size_t)k * per;
    *count = (int)(k == PIECES - 1 ? n - (size_t)k * per : per);
}

static void *comm_thread(void *arg)
{
    (void)arg;
    for (int k = 0; k < PIECES; k++) {
        pthread_mutex_lock(&lock);
        while (ready <= k) pthread_cond_wait(&changed, &lock);
        pthread_mutex_unlock(&lock);
        float *at;
        int count;
        bucket(k, &at, &count);
        MPI_Allreduce(MPI_IN_PLACE, at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    return NULL;
}

static double step(const char *how)
{
    MPI_Request reqs[PIECES];
    pthread_t thread;
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    if (strcmp(how, "thread") == 0) {
        ready = 0;
        pthread_create(&thread, NULL, comm_thread, NULL);
    }
    for (int k = 0; k < PIECES; k++) {
        if (strcmp(how, "fine") == 0)
            for (long s = 0; s < piece_iters; s += piece_iters / 20 + 1)
                compute(piece_iters / 20 + 1, reqs, k);
        else
            compute(piece_iters, strcmp(how, "buckets") == 0 ? reqs : NULL, k);
        float *at;
        int count;
        bucket(k, &at, &count);
        if (strcmp(how, "buckets") == 0 || strcmp(how, "fine") == 0)
            MPI_Iallreduce(MPI_IN_PLACE, at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &reqs[k]);
        if (strcmp(how, "thread") == 0) {
            pthread_mutex_lock(&lock);
            ready = k + 1;
            pthread_cond_broadcast(&changed);
            pthread_mutex_unlock(&lock);
        }
    }
    if (strcmp(how, "blocking") == 0)
        MPI_Allreduce(MPI_IN_PLACE, grads, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (strcmp(how, "chunked") == 0) {
        for (int k = 0; k < PIECES; k++) {
            float *at;
            int count;
            bucket(k, &at, &count);
            MPI_Iallreduce(MPI_IN_PLACE, at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &reqs[k]);
        }
        for (int done = 0; !done;) MPI_Testall(PIECES, reqs, &done, MPI_STATUSES_IGNORE);
    }
    if (strcmp(how, "after") == 0) {
        MPI_Iallreduce(MPI_IN_PLACE, grads, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, reqs);
        for (int done = 0; !done;) MPI_Test(reqs, &done, MPI_STATUS_IGNORE);
    }
    if (strcmp(how, "buckets") == 0 || strcmp(how, "fine") == 0)
        MPI_Waitall(PIECES, reqs, MPI_STATUSES_IGNORE);
    if (strcmp(how, "thread") == 0) pthread_join(thread, NULL);
    if (strcmp(how, "compute") == 0) MPI_Barrier(MPI_COMM_WORLD);
    return MPI_Wtime() - start;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    n = argc > 1 ? strtoul(argv[1], NULL, 10) : 806160;
    double compute_ms = argc > 2 ? atof(argv[2]) : 200;
    grads = calloc(n, sizeof *grads);
    // calibrate: iterations of the compute loop per millisecond
    double t = MPI_Wtime();
    compute(50, NULL, 0);
    double per_ms = 50 / ((MPI_Wtime() - t) * 1e3);
    MPI_Allreduce(MPI_IN_PLACE, &per_ms, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    piece_iters = (long)(per_ms * compute_ms / PIECES) + 1;
    enum { WAYS = 7 };
    const char *ways[WAYS] = {"compute", "after", "blocking", "chunked", "buckets", "fine", "thread"};
    double times[WAYS][REPS], med[WAYS];
    for (int r = 0; r < REPS; r++) // interleaved: the host's load drifts
        for (int w = 0; w < WAYS; w++) times[w][r] = step(ways[w]);
    for (int w = 0; w < WAYS; w++) {
        qsort(times[w], REPS, sizeof times[w][0], by_value);
        med[w] = times[w][REPS / 2];
    }
    if (rank == 0) {
        printf("%zu floats (%.1f MB), %.0f ms of compute in %d pieces%s\n", n, n * 4 / 1e6,
               compute_ms, PIECES, provided == MPI_THREAD_MULTIPLE ? "" : " (no THREAD_MULTIPLE)");
        for (int w = 0; w < WAYS; w++)
            printf("  %-8s %8.1f ms   %+6.1f%% against after\n", ways[w], med[w] * 1e3,
                   100 * (med[w] / med[1] - 1));
    }
    free(grads);
    MPI_Finalize();
    return 0;
}
