// The confinement of a dataset to its data roots (data.h's DataRoots, data_load.h's Confine):
// the roots resolved once per load, where a path leads, the skips reported to the caller,
// and opening with a check of what was actually opened (its descriptor's path), so that a
// link swapped in between a folder's listing and the read is caught.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "data/data_load.h"

int confine_begin(Confine *c, const DataRoots *roots, Dataset *ds, char *err, size_t errlen)
{
    *c = (Confine){.roots = roots, .ds = ds};
    if (!roots || roots->root_count <= 0) return 0;
    c->active = 1;
    c->real = calloc((size_t)roots->root_count, sizeof *c->real);
    if (!c->real) {
        snprintf(err, errlen, "out of memory for %d data roots", roots->root_count);
        return -1;
    }
    for (int i = 0; i < roots->root_count; i++) {
        char *real = realpath(roots->roots[i], NULL);
        if (real) {
            c->real[c->count++] = real;
            continue;
        }
        if (errno == ENOMEM) {
            snprintf(err, errlen, "out of memory resolving the data roots");
            return -1;
        }
        if (roots->warn) {
            char message[PATH_MAX + 128];
            snprintf(message, sizeof message,
                     "data root %s does not resolve (%s): it holds nothing", roots->roots[i],
                     strerror(errno));
            roots->warn(roots->warn_ctx, roots->roots[i], message);
        }
    }
    return 0;
}

void confine_end(Confine *c)
{
    for (int i = 0; i < c->count; i++) free(c->real[i]);
    free(c->real);
    memset(c, 0, sizeof *c);
}

static int inside_a_root(const Confine *c, const char *real)
{
    for (int i = 0; i < c->count; i++)
        if (file_path_inside(c->real[i], real)) return 1;
    return 0;
}

ConfineWhere confine_stat(const Confine *c, const char *path, struct stat *st)
{
    memset(st, 0, sizeof *st);
    if (!c->active) {
        if (stat(path, st) != 0) {
            memset(st, 0, sizeof *st);
            return CONFINE_MISSING;
        }
        return CONFINE_INSIDE;
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) return CONFINE_MISSING;
    if (stat(real, st) != 0) memset(st, 0, sizeof *st);
    return inside_a_root(c, real) ? CONFINE_INSIDE : CONFINE_OUTSIDE;
}

ConfineWhere confine_lookup(const Confine *c, const char *path, mode_t *mode)
{
    struct stat st;
    ConfineWhere where = confine_stat(c, path, &st);
    *mode = st.st_mode;
    return where;
}

int confine_check_folder(const Confine *c, const char *path, char *err, size_t errlen)
{
    mode_t mode;
    ConfineWhere where = confine_lookup(c, path, &mode);
    if (where == CONFINE_OUTSIDE) return confine_refuse(c, path, err, errlen);
    if (where == CONFINE_INSIDE && S_ISDIR(mode)) return 0;
    snprintf(err, errlen, "%s: cannot open folder: %s", path,
             where == CONFINE_INSIDE ? "not a folder" : strerror(errno));
    return -1;
}

void confine_skip(const Confine *c, const char *path, const char *what, const char *why)
{
    if (c->ds) c->ds->skipped++;
    if (!c->roots || !c->roots->warn) return;
    char message[PATH_MAX + 256];
    snprintf(message, sizeof message, "%s: %s skipped: %s", path, what, why);
    c->roots->warn(c->roots->warn_ctx, path, message);
}

int confine_refuse(const Confine *c, const char *path, char *err, size_t errlen)
{
    int n = snprintf(err, errlen, "%s: resolves outside the data roots (", path);
    for (int i = 0; c->roots && i < c->roots->root_count && n >= 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, "%s%s", i ? ", " : "", c->roots->roots[i]);
    if (n >= 0 && (size_t)n < errlen) snprintf(err + n, errlen - (size_t)n, ")");
    return -1;
}

// 1 if the open descriptor fd (opened from path) lies inside a root: the path the kernel
// holds for it, or, where /proc is not mounted, path's realpath if that is the same file.
static int fd_inside(const Confine *c, int fd, const char *path)
{
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n > 0 && real[0] == '/') {
        real[n] = 0;
        return inside_a_root(c, real);
    }
    struct stat opened, named;
    return realpath(path, real) && inside_a_root(c, real) && fstat(fd, &opened) == 0 &&
           stat(real, &named) == 0 && opened.st_dev == named.st_dev &&
           opened.st_ino == named.st_ino;
}

int confine_open(const Confine *c, const char *path, int flags, int *outside)
{
    *outside = 0;
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0 || !c->active || fd_inside(c, fd, path)) return fd;
    close(fd);
    *outside = 1;
    return -1;
}
