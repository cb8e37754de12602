// Whole-file reads with a size cap, and atomic writes (temp file, fsync, rename, fsync of the
// directory) so that a crash or a full disk never leaves a half-written file under the name.
#ifndef SIMMIM_FILEIO_H
#define SIMMIM_FILEIO_H

#include <stddef.h>

typedef struct {
    const void *data;
    size_t len;
} FileChunk;

// Writes the chunks, in order, to path atomically; -1 with a message on error.
int file_write_atomic(const char *path, const FileChunk *chunks, int count, char *err, size_t errlen);

#endif
