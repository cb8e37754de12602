// A minimal test harness: each check prints "ok - name: detail" or "not ok - name: detail"; the runner
// (tests/run_tests.sh) counts them. A test binary exits non-zero if any check failed.
#ifndef SIMMIM_TEST_H
#define SIMMIM_TEST_H

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>

static int test_failures;

static void test_report(int ok, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - %s: ", ok ? "ok" : "not ok", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    test_failures += !ok;
    fflush(stdout);
}

#define TEST_EXIT() return test_failures ? 1 : 0

static inline int test_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

// Removes a test's scratch tree (never following a link out of it); 0 on success.
static inline int test_remove_tree(const char *dir)
{
    return nftw(dir, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// A path (or any short string) formatted into one of 8 rotating buffers: a few can be alive at
// once, as in a call's arguments; a caller that keeps one longer copies it.
static inline const char *test_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *test_pathf(const char *fmt, ...)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof buf[0], fmt, ap);
    va_end(ap);
    return p;
}

#endif
