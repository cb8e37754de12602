// safetensors reader and writer; see safetensors.h. The reader checks every size before it
// allocates and validates the header the way the reference Python implementation does:
// known dtype, shape × dtype size = byte span, spans in bounds, contiguous and covering the
// whole data section.
#include "base/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

enum { MAX_HEADER = 100 << 20 };

typedef struct {
    size_t begin, end;
    int index;
} Span;

static int span_compare(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int parse_tensor(const char *name, json_t *entry, size_t data_size, StTensor *t, Span *span,
                        char *err, size_t errlen)
{
    json_t *dtype = json_object_get(entry, "dtype"), *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_object(entry) || !json_is_string(dtype) || !json_is_array(shape) ||
        !json_is_array(offsets) || json_array_size(offsets) != 2) {
        snprintf(err, errlen, "tensor '%s': header entry needs dtype, shape and data_offsets", name);
        return -1;
    }
    if (strcmp(json_string_value(dtype), "F32") != 0) {
        snprintf(err, errlen, "tensor '%s': dtype %s is not supported (only F32)", name,
                 json_string_value(dtype));
        return -1;
    }
    size_t ndim = json_array_size(shape), numel = 1;
    if (ndim > ST_MAX_DIMS) {
        snprintf(err, errlen, "tensor '%s': %zu dimensions, at most %d supported", name, ndim, ST_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)ndim;
    int zero = 0;
    for (size_t i = 0; i < ndim; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0) {
            snprintf(err, errlen, "tensor '%s': invalid shape", name);
            return -1;
        }
        t->shape[i] = json_integer_value(d);
        zero |= t->shape[i] == 0;
    }
    // numel · 4 must fit the data section; with a 0 dimension the others may be anything.
    for (size_t i = 0; i < ndim && !zero; i++) {
        if (numel > data_size / (size_t)t->shape[i]) {
            snprintf(err, errlen, "tensor '%s': shape larger than the file", name);
            return -1;
        }
        numel *= (size_t)t->shape[i];
    }
    if (zero) numel = 0;
    json_t *b = json_array_get(offsets, 0), *e = json_array_get(offsets, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b) ||
        (size_t)json_integer_value(e) > data_size) {
        snprintf(err, errlen, "tensor '%s': data_offsets outside the data section", name);
        return -1;
    }
    span->begin = (size_t)json_integer_value(b);
    span->end = (size_t)json_integer_value(e);
    if (span->end - span->begin != numel * sizeof(float)) {
        snprintf(err, errlen, "tensor '%s': %zu bytes of data for a shape of %zu floats", name,
                 span->end - span->begin, numel);
        return -1;
    }
    if (span->begin % sizeof(float)) {
        snprintf(err, errlen, "tensor '%s': data not aligned to 4 bytes", name);
        return -1;
    }
    t->numel = numel;
    t->name = strdup(name);
    return t->name ? 0 : -1;
}

static int parse_metadata(json_t *meta, SafeTensors *st, char *err, size_t errlen)
{
    if (!json_is_object(meta)) {
        snprintf(err, errlen, "__metadata__ must be an object of strings");
        return -1;
    }
    size_t n = json_object_size(meta);
    st->meta_keys = calloc(n + 1, sizeof(char *));
    st->meta_values = calloc(n + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values) return -1;
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value)) {
            snprintf(err, errlen, "__metadata__ value of '%s' is not a string", key);
            return -1;
        }
        st->meta_keys[st->meta_count] = strdup(key);
        st->meta_values[st->meta_count] = strdup(json_string_value(value));
        st->meta_count++;
        if (!st->meta_keys[st->meta_count - 1] || !st->meta_values[st->meta_count - 1]) return -1;
    }
    return 0;
}

static int parse_header(json_t *header, size_t data_size, SafeTensors *st, Span *spans,
                        char *err, size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach(header, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(value, st, err, errlen)) return -1;
            continue;
        }
        StTensor *t = &st->tensors[st->count];
        spans[st->count].index = st->count;
        if (parse_tensor(key, value, data_size, t, &spans[st->count], err, errlen)) return -1;
        st->count++;
    }
    qsort(spans, st->count, sizeof *spans, span_compare);
    size_t expect = 0;
    for (int i = 0; i < st->count; i++) {
        if (spans[i].begin != expect) {
            snprintf(err, errlen, "tensor '%s': data overlaps or leaves a gap",
                     st->tensors[spans[i].index].name);
            return -1;
        }
        expect = spans[i].end;
    }
    if (expect != data_size) {
        snprintf(err, errlen, "data section is %zu bytes but the tensors cover %zu", data_size, expect);
        return -1;
    }
    return 0;
}

static int read_exact(FILE *f, void *buf, size_t len) { return fread(buf, 1, len, f) == len ? 0 : -1; }

int safetensors_read(const char *path, SafeTensors *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    unsigned char len_bytes[8];
    char *header_text = NULL;
    json_t *header = NULL;
    Span *spans = NULL;
    int rc = -1;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    if (sb.st_size < 8 || read_exact(f, len_bytes, 8)) {
        snprintf(err, errlen, "%s: not a safetensors file (shorter than 8 bytes)", path);
        goto done;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | len_bytes[i];
    if (header_len > MAX_HEADER || header_len > (uint64_t)sb.st_size - 8) {
        snprintf(err, errlen, "%s: header length %llu does not fit the file", path,
                 (unsigned long long)header_len);
        goto done;
    }
    size_t data_size = (size_t)sb.st_size - 8 - header_len;
    header_text = malloc(header_len + 1);
    if (!header_text || read_exact(f, header_text, header_len)) {
        snprintf(err, errlen, "%s: cannot read the header", path);
        goto done;
    }
    header_text[header_len] = 0;
    json_error_t jerr;
    header = json_loadb(header_text, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(header)) {
        snprintf(err, errlen, "%s: header is not a JSON object%s%s", path, header ? "" : ": ",
                 header ? "" : jerr.text);
        goto done;
    }
    size_t entries = json_object_size(header);
    st->tensors = calloc(entries + 1, sizeof *st->tensors);
    spans = calloc(entries + 1, sizeof *spans);
    st->data = malloc(data_size ? data_size : 1);
    if (!st->tensors || !spans || !st->data) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    char perr[256] = "out of memory";
    if (parse_header(header, data_size, st, spans, perr, sizeof perr)) {
        snprintf(err, errlen, "%s: %s", path, perr);
        goto done;
    }
    if (read_exact(f, st->data, data_size)) {
        snprintf(err, errlen, "%s: truncated data section", path);
        goto done;
    }
    for (int i = 0; i < st->count; i++)
        st->tensors[spans[i].index].data = st->data + spans[i].begin / sizeof(float);
    rc = 0;
done:
    fclose(f);
    free(header_text);
    free(spans);
    json_decref(header);
    if (rc) safetensors_free(st);
    return rc;
}

void safetensors_free(SafeTensors *st)
{
    for (int i = 0; i < st->count; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->meta_count; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->data);
    memset(st, 0, sizeof *st);
}

const StTensor *safetensors_find(const SafeTensors *st, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *safetensors_meta(const SafeTensors *st, const char *key)
{
    for (int i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

static json_t *build_header(const StTensor *tensors, int count, const char *const *meta_keys,
                            const char *const *meta_values, int meta_count)
{
    json_t *header = json_object(), *meta = json_object();
    if (!header || !meta) goto fail;
    for (int i = 0; i < meta_count; i++)
        if (json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]))) goto fail;
    if (meta_count && json_object_set(header, "__metadata__", meta)) goto fail;
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        const StTensor *t = &tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        size_t end = offset + t->numel * sizeof(float);
        json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape,
                                  "data_offsets", (json_int_t)offset, (json_int_t)end);
        if (!entry || json_object_set_new(header, t->name, entry)) goto fail;
        offset = end;
    }
    json_decref(meta);
    return header;
fail:
    json_decref(meta);
    json_decref(header);
    return NULL;
}

int safetensors_write(const char *path, const StTensor *tensors, int count,
                      const char *const *meta_keys, const char *const *meta_values, int meta_count,
                      char *err, size_t errlen)
{
    json_t *header = build_header(tensors, count, meta_keys, meta_values, meta_count);
    char *text = header ? json_dumps(header, JSON_COMPACT) : NULL;
    json_decref(header);
    FileChunk *chunks = calloc((size_t)count + 3, sizeof *chunks);
    if (!text || !chunks) {
        free(text);
        free(chunks);
        snprintf(err, errlen, "%s: out of memory building the header", path);
        return -1;
    }
    // Pad the header with spaces so the data section starts 8-byte aligned.
    size_t text_len = strlen(text), padded = (text_len + 7) / 8 * 8;
    static const char spaces[8] = "        ";
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    chunks[0] = (FileChunk){len_bytes, 8};
    chunks[1] = (FileChunk){text, text_len};
    chunks[2] = (FileChunk){spaces, padded - text_len};
    for (int i = 0; i < count; i++)
        chunks[3 + i] = (FileChunk){tensors[i].data, tensors[i].numel * sizeof(float)};
    int rc = file_write_atomic(path, chunks, count + 3, err, errlen);
    free(text);
    free(chunks);
    return rc;
}
