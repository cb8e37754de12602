// A one-batch-ahead loader: a thread that builds the batch of step t + 1 into one of two
// slots while the caller trains on step t. What a batch is belongs to the caller (a fill
// callback, deterministic in the step), so the loader holds no training state.
#ifndef SIMMIM_LOADER_H
#define SIMMIM_LOADER_H

typedef void (*LoaderFill)(void *ctx, long step, int slot);

typedef struct Loader Loader;

// Starts the thread and queues step `first`; NULL if the thread cannot start.
Loader *loader_start(LoaderFill fill, void *ctx, long first, long end);
// Waits for step t's batch (t = the previous call's + 1) and queues t + 1 if below `end`.
// Returns the slot holding step t; adds the seconds spent waiting to *waited.
int loader_next(Loader *l, long t, double *waited);
void loader_stop(Loader *l);

#endif
