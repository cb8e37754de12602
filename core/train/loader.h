// The batch loader: worker threads that build the batches of the next steps into slots while
// the caller trains on the current one. What a batch is belongs to the caller — a `prepare`
// callback run once per step, in step order (the step's sample indices, its masks), then an
// `image` callback per image of the batch, on any worker, in any order — each deterministic
// in (step, image), so a batch does not depend on the number of workers and the loader holds
// no training state. With `image` NULL, `prepare` builds the whole batch.
#ifndef SIMMIM_LOADER_H
#define SIMMIM_LOADER_H

typedef struct {
    void (*prepare)(void *ctx, long step, int slot);
    void (*image)(void *ctx, long step, int slot, int index, int worker); // may be NULL
    void *ctx;
    int images;  // per batch (the `image` calls of a step)
    int workers; // threads, ≥ 1
    int slots;   // batches in flight: the one being trained on and those built ahead, ≥ 2
} LoaderConfig;

typedef struct Loader Loader;

// Starts the workers and queues steps first … end − 1; NULL if a thread cannot start.
Loader *loader_start(const LoaderConfig *cfg, long first, long end);
// Waits for step t's batch (t = the previous call's + 1, or `first`), frees the slot of the
// step before it for a later step, and returns the slot holding step t; adds the seconds spent
// waiting to *waited.
int loader_next(Loader *l, long t, double *waited);
void loader_stop(Loader *l);

#endif
