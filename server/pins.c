// Pinned starting checkpoints of fine-tuning jobs (see pins.h).
#include "pins.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static pthread_mutex_t pins_mutex = PTHREAD_MUTEX_INITIALIZER;

void pins_lock(void) { pthread_mutex_lock(&pins_mutex); }
void pins_unlock(void) { pthread_mutex_unlock(&pins_mutex); }

static int pins_dir(const char *state_dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/pinned", state_dir);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int pins_link(const char *state_dir, long checkpoint_id, const char *source, char *pinned, size_t cap)
{
    char dir[4096];
    if (pins_dir(state_dir, dir, sizeof dir)) return -1;
    int n = snprintf(pinned, cap, "%s/checkpoint-%ld.safetensors", dir, checkpoint_id);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(dir, 0755) && errno != EEXIST) return -1;
    if (link(source, pinned) && errno != EEXIST) return -1;
    return 0;
}

static int is_pin_name(const char *name)
{
    long id;
    char tail[16];
    return sscanf(name, "checkpoint-%ld%15s", &id, tail) == 2 && strcmp(tail, ".safetensors") == 0;
}

void pins_sweep(const char *state_dir, Db *db)
{
    char dir[4096], path[4096 + 256];
    if (pins_dir(state_dir, dir, sizeof dir)) return;
    pins_lock();
    DIR *d = opendir(dir); // none yet: nothing pinned
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!is_pin_name(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (store_job_uses_file(db, path) == STORE_NOT_FOUND && unlink(path) == 0)
            fprintf(stderr, "simmimd: unpinned %s (no unfinished job starts from it)\n", e->d_name);
    }
    if (d) closedir(d);
    pins_unlock();
}
