// Checking checkpoint files against their recorded SHA-256; see checkpoint_check.h.
#include "checkpoint_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/sha256.h"
#include "store.h"

static int same_stamp(const FileStamp *a, const FileStamp *b)
{
    return a->bytes == b->bytes && a->mtime_ns == b->mtime_ns && a->inode == b->inode;
}

int checkpoint_check(Db *db, long id, const char *file, int how, CheckpointCheck *c)
{
    long bytes;
    memset(c, 0, sizeof *c);
    int rc = store_checkpoint_file(db, id, c->path, sizeof c->path, &bytes, c->expected, &c->job_id);
    if (rc != STORE_OK) return rc;
    const char *hashed = file ? file : c->path;
    FileStamp before, after;
    if (file_stamp(hashed, &before)) {
        c->file_errno = errno ? errno : EIO;
        return STORE_ERROR;
    }
    if (how == CHECK_FULL || store_checkpoint_checked(db, id, &before, c->actual) != STORE_OK) {
        errno = 0;
        if (sha256_file(hashed, c->actual)) {
            c->actual[0] = 0;
            c->file_errno = errno ? errno : EIO;
            return STORE_ERROR;
        }
        // Recorded only for the file as it was throughout the hashing.
        if (file_stamp(hashed, &after) == 0 && same_stamp(&before, &after))
            store_checkpoint_record_check(db, id, &before, c->actual);
    }
    return strcasecmp(c->actual, c->expected) == 0 ? STORE_OK : STORE_CONFLICT;
}

void checkpoint_check_message(long id, const CheckpointCheck *c, char *out, size_t cap)
{
    const char *base = strrchr(c->path, '/');
    snprintf(out, cap, "checkpoint %ld (job %ld, %s) is corrupt: its file's sha256 is %s, but %s "
             "was recorded when it was written", id, c->job_id, base ? base + 1 : c->path,
             c->actual, c->expected);
}
