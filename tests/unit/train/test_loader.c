// The batch loader (train/loader.h): whatever the number of workers and slots, every step's
// batch is complete and as its callbacks build it when the caller gets it, preparations run
// once per step and in step order, a slot is not rebuilt while the caller holds it, and a
// start in the middle (a resume) begins there. Workers are slowed at random to shuffle the
// interleavings.
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/loader.h"
#include "test.h"

enum { IMAGES = 7, MAX_SLOTS = 5, STEPS = 60 };

typedef struct {
    long step[MAX_SLOTS];             // what prepare wrote
    long value[MAX_SLOTS][IMAGES];    // what image wrote: a function of (step, index)
    atomic_int in_order;              // 0 once a prepare ran out of order
    long last_prepared;
    atomic_int calls[STEPS][IMAGES];  // image calls per (step, index)
    int slots;
} Fake;

static void jitter(unsigned seed)
{
    struct timespec ts = {0, (long)(seed % 5) * 20000};
    nanosleep(&ts, NULL);
}

static void prepare(void *ctx, long step, int slot)
{
    Fake *f = ctx;
    if (step != f->last_prepared + 1) f->in_order = 0;
    f->last_prepared = step;
    jitter((unsigned)step * 7u);
    f->step[slot] = step;
}

static void image(void *ctx, long step, int slot, int index, int worker)
{
    Fake *f = ctx;
    (void)worker;
    jitter((unsigned)(step * 31 + index));
    (void)step;
    f->value[slot][index] = f->step[slot] * 1000 + index; // what prepare wrote for the slot
    atomic_fetch_add(&f->calls[step][index], 1);
}

static void run(int workers, int slots, long first)
{
    Fake *f = calloc(1, sizeof *f);
    f->in_order = 1;
    f->last_prepared = first - 1;
    f->slots = slots;
    LoaderConfig cfg = {.prepare = prepare, .image = image, .ctx = f, .images = IMAGES,
                        .workers = workers, .slots = slots};
    Loader *l = loader_start(&cfg, first, STEPS);
    int complete = l != NULL, rebuilt = 0;
    for (long t = first; l && t < STEPS; t++) {
        int slot = loader_next(l, t, NULL);
        long held[IMAGES];
        memcpy(held, f->value[slot], sizeof held);
        complete &= f->step[slot] == t;
        for (int i = 0; i < IMAGES; i++) complete &= held[i] == t * 1000 + i;
        jitter((unsigned)t); // "train": the workers build ahead meanwhile
        rebuilt |= memcmp(held, f->value[slot], sizeof held) != 0 || f->step[slot] != t;
    }
    loader_stop(l);
    int once = 1;
    for (long t = first; t < STEPS; t++)
        for (int i = 0; i < IMAGES; i++) once &= f->calls[t][i] == 1;
    char name[128];
    snprintf(name, sizeof name, "%d worker(s), %d slots, from step %ld: every batch complete, "
             "prepared in order, each image built once, none rebuilt while held", workers, slots,
             first);
    test_report(complete && f->in_order && once && !rebuilt, name,
                "complete %d, in order %d, once %d, rebuilt %d", complete, (int)f->in_order, once,
                rebuilt);
    free(f);
}

// Without an image callback, prepare builds the batch alone (the cached path).
static void run_prepare_only(void)
{
    Fake *f = calloc(1, sizeof *f);
    f->in_order = 1;
    f->last_prepared = -1;
    LoaderConfig cfg = {.prepare = prepare, .ctx = f, .images = IMAGES, .workers = 1, .slots = 2};
    Loader *l = loader_start(&cfg, 0, STEPS);
    int ok = l != NULL;
    for (long t = 0; l && t < STEPS; t++) ok &= f->step[loader_next(l, t, NULL)] == t;
    loader_stop(l);
    test_report(ok && f->in_order, "prepare alone builds each batch, in order", "ok %d", ok);
    free(f);
}

int main(void)
{
    run_prepare_only();
    for (int workers = 1; workers <= 4; workers++)
        for (int slots = 2; slots <= MAX_SLOTS; slots += 3) run(workers, slots, 0);
    run(3, 3, 41);
    LoaderConfig bad = {.prepare = prepare, .images = 1, .workers = 0, .slots = 2};
    test_report(loader_start(&bad, 0, 1) == NULL, "zero workers is refused", "");
    TEST_EXIT();
}
