// SHA-256 (FIPS 180-4), for the checksums of checkpoints that users download.
#ifndef SIMMIM_SHA256_H
#define SIMMIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;      // bytes hashed so far
    uint8_t block[64];
    size_t block_used;
} Sha256;

void sha256_init(Sha256 *h);
void sha256_update(Sha256 *h, const void *data, size_t len);
void sha256_final(Sha256 *h, char hex[65]); // lowercase hex digest, NUL-terminated
// The digest of a whole file; -1 if it cannot be read.
int sha256_file(const char *path, char hex[65]);

#endif
