// A minimal test harness: each check prints "ok - name" or "not ok - name: why"; the runner
// (tests/run_tests.sh) counts them. A test binary exits non-zero if any check failed.
#ifndef SIMMIM_TEST_H
#define SIMMIM_TEST_H

#include <stdarg.h>
#include <stdio.h>

static int test_failures;

static void test_report(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("ok - %s\n", name);
    } else {
        va_list ap;
        va_start(ap, fmt);
        printf("not ok - %s: ", name);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        test_failures++;
    }
    fflush(stdout);
}

#define TEST_EXIT() return test_failures ? 1 : 0

#endif
