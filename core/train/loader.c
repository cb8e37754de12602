// The loader thread; see loader.h. Two slots: the caller reads slot t % 2 while the thread
// writes slot (t + 1) % 2.
#include "train/loader.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct Loader {
    LoaderFill fill;
    void *ctx;
    long end;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    long requested; // the step the thread should build next, -1 when none
    long ready;     // the last step built, -1 when none
    int quit;
};

static void *loader_main(void *arg)
{
    Loader *l = arg;
    omp_set_num_threads(1); // the trainer's threads own the cores; this thread stays serial
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->quit && l->requested < 0) pthread_cond_wait(&l->changed, &l->lock);
        if (l->quit) break;
        long step = l->requested;
        l->requested = -1;
        pthread_mutex_unlock(&l->lock);
        l->fill(l->ctx, step, (int)(step % 2));
        pthread_mutex_lock(&l->lock);
        l->ready = step;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

Loader *loader_start(LoaderFill fill, void *ctx, long first, long end)
{
    Loader *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    *l = (Loader){.fill = fill, .ctx = ctx, .end = end, .requested = first < end ? first : -1,
                  .ready = -1};
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    if (pthread_create(&l->thread, NULL, loader_main, l)) {
        free(l);
        return NULL;
    }
    return l;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int loader_next(Loader *l, long t, double *waited)
{
    double t0 = seconds_now();
    pthread_mutex_lock(&l->lock);
    while (l->ready != t) pthread_cond_wait(&l->changed, &l->lock);
    if (t + 1 < l->end) {
        l->requested = t + 1;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    if (waited) *waited += seconds_now() - t0;
    return (int)(t % 2);
}

void loader_stop(Loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    l->quit = 1;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->changed);
    free(l);
}
