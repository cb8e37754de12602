// Checkpoints pinned for fine-tuning jobs that have not finished: a hard link per starting
// checkpoint under state_dir/pinned, made when the job is submitted (the pretraining job may
// rotate its checkpoints away or be deleted before the fine-tune starts) and swept once no
// queued, running or paused job starts from it.
#ifndef SIMMIMD_PINS_H
#define SIMMIMD_PINS_H

#include <stddef.h>

#include "db.h"

// Links `source` as state_dir/pinned/checkpoint-<id>.safetensors (kept if already there) and
// writes that path to `pinned`. 0, or -1 with errno set.
int pins_link(const char *state_dir, long checkpoint_id, const char *source, char *pinned, size_t cap);
// Removes the pins no queued, running or paused job names. Errors leave a pin in place,
// which is harmless.
void pins_sweep(const char *state_dir, Db *db);
// Held from making a pin until its job is stored, so that a sweep never sees the pin alone.
void pins_lock(void);
void pins_unlock(void);

#endif
