// The safetensors format (8-byte little-endian header length, JSON header, raw little-endian
// data): a reader that treats its input as hostile and a writer that writes atomically.
// Only F32 tensors, the one dtype simmimd stores.
#ifndef SIMMIM_SAFETENSORS_H
#define SIMMIM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum { ST_MAX_DIMS = 8 };

typedef struct {
    char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    float *data;
} StTensor;

typedef struct {
    int count;
    StTensor *tensors;   // in file order
    char **meta_keys, **meta_values;
    int meta_count;
    float *data;         // one allocation holding every tensor's values
} SafeTensors;

int safetensors_read(const char *path, SafeTensors *st, char *err, size_t errlen);
void safetensors_free(SafeTensors *st);
const StTensor *safetensors_find(const SafeTensors *st, const char *name);
const char *safetensors_meta(const SafeTensors *st, const char *key); // NULL if absent

// Writes tensors (name, ndim, shape, numel, data) in the given order and string metadata
// pairs, atomically.
int safetensors_write(const char *path, const StTensor *tensors, int count,
                      const char *const *meta_keys, const char *const *meta_values, int meta_count,
                      char *err, size_t errlen);

#endif
