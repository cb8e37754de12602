// Pinned starting checkpoints of fine-tuning jobs (see pins.h).
#include "pins.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "spec/spec.h"
#include "store.h"

static pthread_mutex_t pins_mutex = PTHREAD_MUTEX_INITIALIZER;

void pins_lock(void) { pthread_mutex_lock(&pins_mutex); }
void pins_unlock(void) { pthread_mutex_unlock(&pins_mutex); }

int pins_link(const char *state_dir, Db *db, long checkpoint_id, const char *source, char *pinned,
              size_t cap, CheckpointCheck *check)
{
    char dir[SPEC_PATH_MAX];
    memset(check, 0, sizeof *check);
    if (path_printf(dir, sizeof dir, "%s/pinned", state_dir) ||
        path_printf(pinned, cap, "%s/checkpoint-%ld.safetensors", dir, checkpoint_id)) {
        errno = ENAMETOOLONG;
        return STORE_ERROR;
    }
    if (mkdir(dir, 0755) && errno != EEXIST) return STORE_ERROR;
    int made = link(source, pinned) == 0;
    if (!made && errno != EEXIST) return STORE_ERROR;
    int rc = checkpoint_check(db, checkpoint_id, pinned, CHECK_FULL, check);
    if (rc == STORE_CONFLICT && made) unlink(pinned);
    if (rc == STORE_ERROR && check->file_errno) errno = check->file_errno;
    return rc;
}

static int is_pin_name(const char *name)
{
    long id;
    char tail[16];
    return sscanf(name, "checkpoint-%ld%15s", &id, tail) == 2 && strcmp(tail, ".safetensors") == 0;
}

void pins_drop_unused(Db *db, const char *pinned)
{
    if (store_job_uses_file(db, pinned) == STORE_NOT_FOUND) unlink(pinned);
}

void pins_sweep(const char *state_dir, Db *db)
{
    char dir[SPEC_PATH_MAX], path[SPEC_PATH_MAX];
    if (path_printf(dir, sizeof dir, "%s/pinned", state_dir)) return;
    pins_lock();
    DIR *d = opendir(dir); // none yet: nothing pinned
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!is_pin_name(e->d_name) || path_printf(path, sizeof path, "%s/%s", dir, e->d_name))
            continue;
        if (store_job_uses_file(db, path) == STORE_NOT_FOUND && unlink(path) == 0)
            fprintf(stderr, "simmimd: unpinned %s (no unfinished job starts from it)\n", e->d_name);
    }
    if (d) closedir(d);
    pins_unlock();
}
