// Checking a checkpoint's file against the SHA-256 its trainer recorded when it wrote it
// (docs/checkpoints.md#integrity): before a download, through the store's record of the last
// check (a file whose size, mtime and inode are unchanged since is not hashed again), and
// when a fine-tuning pins it as its start (hashed in full). Every outcome is recorded in the
// store; a mismatch makes the checkpoint "corrupt" in the API.
#ifndef SIMMIMD_CHECKPOINT_CHECK_H
#define SIMMIMD_CHECKPOINT_CHECK_H

#include <stddef.h>

#include "db.h"
#include "spec/spec.h"

typedef struct {
    char path[SPEC_PATH_MAX]; // the checkpoint's file (what was hashed: this or a pin of it)
    char expected[65];        // the checkpoint's recorded sha256
    char actual[65];          // the file's ("" when it could not be read)
    long job_id;
    int file_errno;           // why the file could not be read; 0 when it was
} CheckpointCheck;

enum { CHECK_CACHED, CHECK_FULL };

// Checks checkpoint `id`: its own file, or `file` (a pin: a hard link to it) when not NULL.
// STORE_OK: it matches. STORE_CONFLICT: it does not (recorded; *c says how). STORE_NOT_FOUND:
// no such checkpoint. STORE_ERROR: the file cannot be read (c->file_errno; ENOENT: it is
// gone) or the store failed.
int checkpoint_check(Db *db, long id, const char *file, int how, CheckpointCheck *c);

// "checkpoint 3 (job 1, step-160.safetensors) is corrupt: its file's sha256 is …, but … was recorded when
// it was written" — the 409 message.
void checkpoint_check_message(long id, const CheckpointCheck *c, char *out, size_t cap);

#endif
