// Whole-file reads with a size cap, and atomic writes (temp file, fsync, rename, fsync of the
// directory) so that a crash or a full disk never leaves a half-written file under the name;
// and the one test of whether a path lies inside a folder, which the daemon and the dataset
// loaders share.
#ifndef SIMMIM_FILEIO_H
#define SIMMIM_FILEIO_H

#include <stddef.h>

typedef struct {
    const void *data;
    size_t len;
} FileChunk;

// Writes the chunks, in order, to path atomically; -1 with a message on error.
int file_write_atomic(const char *path, const FileChunk *chunks, int count, char *err, size_t errlen);

// 1 if path is root or lies below it, 0 otherwise. Both should be realpaths (absolute, no
// "." or ".." and no links), as the strings are compared as given. A trailing slash of root
// does not matter ("/data/" holds "/data/x"); "/data" does not hold "/database"; "/" holds
// every absolute path.
int file_path_inside(const char *root, const char *path);

#endif
