// Checkpoints pinned for fine-tuning jobs that have not finished: a hard link per starting
// checkpoint under state_dir/pinned, made when the job is submitted (the pretraining job may
// rotate its checkpoints away or be deleted before the fine-tune starts) and swept once no
// queued, running or paused job starts from it. A pin is checked against the checkpoint's
// sha256 when it is made, before the daemon reads anything from it.
#ifndef SIMMIMD_PINS_H
#define SIMMIMD_PINS_H

#include <stddef.h>

#include "checkpoint_check.h"
#include "db.h"

// Links checkpoint `checkpoint_id`'s file `source` as state_dir/pinned/checkpoint-<id>.safetensors
// (kept if already there), writes that path to `pinned`, and hashes the pinned file in full
// against the checkpoint's recorded sha256 (checkpoint_check, outcome in *check). STORE_OK;
// STORE_CONFLICT: it does not match (a link this call made is removed again); STORE_NOT_FOUND:
// no such checkpoint; STORE_ERROR: with errno set, or check->file_errno.
int pins_link(const char *state_dir, Db *db, long checkpoint_id, const char *source, char *pinned,
              size_t cap, CheckpointCheck *check);
// Removes the pin `pinned` unless a queued, running or paused job names it (a submission that
// pinned its checkpoint and was then refused). Under pins_lock.
void pins_drop_unused(Db *db, const char *pinned);
// Removes the pins no queued, running or paused job names. Errors leave a pin in place,
// which is harmless.
void pins_sweep(const char *state_dir, Db *db);
// Held from making a pin until its job is stored, so that a sweep never sees the pin alone.
void pins_lock(void);
void pins_unlock(void);

#endif
