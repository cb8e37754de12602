// The loader's workers; see loader.h. Step s lives in slot s % slots. A worker takes, under
// the lock, the first job there is: an unclaimed image of the oldest prepared step, or the
// preparation of the next step once its slot is free (the caller has moved past the step that
// held it) and no other worker is preparing — so preparations run one at a time, in order.
#include "train/loader.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { MAX_WORKERS = 64 };

typedef struct {
    long step;           // the step the slot holds, -1 when free
    int prepared;        // its prepare has run
    int claimed, done;   // its images handed out and finished
} Slot;

struct Loader {
    LoaderConfig cfg;
    long end;
    long next_prepare;   // the next step to prepare
    long consumed;       // the step the caller holds, -1 before the first
    int preparing;
    int quit;
    Slot *slots;
    pthread_t threads[MAX_WORKERS];
    int started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static int batch_complete(const Loader *l, const Slot *s)
{
    return s->prepared && (!l->cfg.image || s->done == l->cfg.images);
}

// An image of a prepared step not yet handed out: its slot (the oldest step first), or NULL.
static Slot *slot_with_image(Loader *l)
{
    Slot *best = NULL;
    if (!l->cfg.image) return NULL;
    for (int i = 0; i < l->cfg.slots; i++) {
        Slot *s = &l->slots[i];
        if (s->step >= 0 && s->prepared && s->claimed < l->cfg.images &&
            (!best || s->step < best->step))
            best = s;
    }
    return best;
}

static int can_prepare(const Loader *l)
{
    if (l->preparing || l->next_prepare >= l->end) return 0;
    return l->slots[l->next_prepare % l->cfg.slots].step < 0;
}

static void *worker_main(void *arg)
{
    Loader *l = arg;
    pthread_mutex_lock(&l->lock);
    int worker = l->started++;
    pthread_mutex_unlock(&l->lock);
    omp_set_num_threads(1); // the trainer's threads own the cores; a worker stays serial
    // A worker runs at nice 10 (a tenth of a step thread's share when they contend): on a
    // machine with no core to spare, a step thread preempted by a decode holds up its partner
    // at the next barrier, costing more than the decode time it gave. Not SCHED_IDLE, which
    // measured as well alone but would all but stop decoding beside another busy trainer.
    // Best effort: where it is refused, the worker keeps the trainer's priority.
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    pthread_mutex_lock(&l->lock);
    while (!l->quit) {
        Slot *s = slot_with_image(l);
        if (s) {
            long step = s->step;
            int index = s->claimed++;
            pthread_mutex_unlock(&l->lock);
            l->cfg.image(l->cfg.ctx, step, (int)(step % l->cfg.slots), index, worker);
            pthread_mutex_lock(&l->lock);
            s->done++;
            pthread_cond_broadcast(&l->changed);
        } else if (can_prepare(l)) {
            long step = l->next_prepare++;
            Slot *t = &l->slots[step % l->cfg.slots];
            *t = (Slot){.step = step};
            l->preparing = 1;
            pthread_mutex_unlock(&l->lock);
            l->cfg.prepare(l->cfg.ctx, step, (int)(step % l->cfg.slots));
            pthread_mutex_lock(&l->lock);
            t->prepared = 1;
            l->preparing = 0;
            pthread_cond_broadcast(&l->changed);
        } else {
            pthread_cond_wait(&l->changed, &l->lock);
        }
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

Loader *loader_start(const LoaderConfig *cfg, long first, long end)
{
    if (cfg->workers < 1 || cfg->workers > MAX_WORKERS || cfg->slots < 2) return NULL;
    Loader *l = calloc(1, sizeof *l);
    Slot *slots = calloc((size_t)cfg->slots, sizeof *slots);
    if (!l || !slots) {
        free(l), free(slots);
        return NULL;
    }
    *l = (Loader){.cfg = *cfg, .end = end, .next_prepare = first, .consumed = -1, .slots = slots};
    for (int i = 0; i < cfg->slots; i++) slots[i].step = -1;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    for (int i = 0; i < cfg->workers; i++)
        if (pthread_create(&l->threads[i], NULL, worker_main, l)) {
            l->cfg.workers = i; // join those that started
            loader_stop(l);
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
    Slot *s = &l->slots[t % l->cfg.slots];
    pthread_mutex_lock(&l->lock);
    if (l->consumed >= 0) l->slots[l->consumed % l->cfg.slots].step = -1;
    l->consumed = t;
    pthread_cond_broadcast(&l->changed);
    while (!(s->step == t && batch_complete(l, s))) pthread_cond_wait(&l->changed, &l->lock);
    pthread_mutex_unlock(&l->lock);
    if (waited) *waited += seconds_now() - t0;
    return (int)(t % l->cfg.slots);
}

void loader_stop(Loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    l->quit = 1;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->cfg.workers; i++) pthread_join(l->threads[i], NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->changed);
    free(l->slots);
    free(l);
}
