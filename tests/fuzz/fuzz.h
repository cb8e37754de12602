// What the harnesses share: a scratch directory of this process (under $TMPDIR, else /tmp),
// created on first use and removed at exit, and writing the fuzzer's bytes into a file there
// — the readers under test take paths, and the image decoder chooses by extension.
// Each harness defines LLVMFuzzerTestOneInput; libFuzzer (make fuzz) or tests/fuzz/replay.c
// (make test) calls it.
#ifndef SIMMIM_FUZZ_H
#define SIMMIM_FUZZ_H

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// The most one allocation may take for an input of a few kilobytes: more is a finding, in
// make fuzz (libFuzzer's -malloc_limit_mb) as in the replay (ASan's max_allocation_size_mb).
// The decoders' own limits stay below it (64 Mpixel × 4 bytes = 256 MB).
enum { FUZZ_MALLOC_LIMIT_MB = 512 };

static char fuzz_dir_path[256];

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static inline void fuzz_remove_dir(void)
{
    if (fuzz_dir_path[0]) nftw(fuzz_dir_path, fuzz_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_die(const char *what, const char *path)
{
    fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

// The process's scratch directory.
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/simmimd-fuzz-XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir_path)) fuzz_die("cannot create", fuzz_dir_path);
    atexit(fuzz_remove_dir);
    return fuzz_dir_path;
}

// dir/name in a static buffer (one of 4, rotating).
static inline const char *fuzz_path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", fuzz_dir(), name);
    return p;
}

// Writes size bytes to dir/name (replacing it) and returns its path.
static inline const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) fuzz_die("cannot create", path);
    if ((size && fwrite(data, 1, size, f) != size) || fclose(f)) fuzz_die("cannot write", path);
    return path;
}

// Reads every byte of n floats, so that ASan sees an out-of-bounds tensor; the sum keeps
// the reads from being optimized away.
static inline float fuzz_touch_floats(const float *p, size_t n)
{
    volatile float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += p[i];
    return sum;
}

static inline unsigned fuzz_touch_bytes(const uint8_t *p, size_t n)
{
    volatile unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += p[i];
    return sum;
}

// With FUZZ_VERBOSE=1 in the environment, a harness says what the code under test made of the
// input (its error message, or what it accepted) on stderr: for reading a regression input.
static inline void fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fuzz_note(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE")) > 0;
    if (!verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

// 1 if s (NUL-terminated within cap) is valid UTF-8 without control characters below 0x20.
static inline int fuzz_one_line_utf8(const char *s, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strnlen(s, cap);
    if (n == cap) return 0;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                                  : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (c < 0x20 || more == 9 || (more == 1 && c < 0xC2) || i + more >= n + (more == 0))
            return 0;
        for (size_t k = 1; k <= more; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        i += more + 1;
    }
    return 1;
}

// A harness's check of a property the code promises (not a crash of its own): reported like
// a sanitizer finding, so that libFuzzer saves the input.
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
