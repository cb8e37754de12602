// Replays files through one harness without libFuzzer: the seed corpus and the regression
// inputs of tests/fuzz/ under gcc with ASan and UBSan, in make test. Built once per harness
// with -DFUZZ_NAME="<harness>" and linked with tests/fuzz/fuzz_<harness>.c.
//   replay_<harness>               every file of tests/fuzz/corpus/<harness>/ and
//                                  tests/fuzz/regressions/<harness>/ (from the repo's root)
//   replay_<harness> PATH...       these files, or every file of these folders
// Prints "ok - fuzz <harness>: <file>" for each file that ran through, and "not ok - ..."
// naming the file when a sanitizer finding or a failed check ends the process (the report is
// on stderr above it). FUZZ_VERBOSE=1 shows what the code made of each file.
#include <dirent.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME=\"<harness>\""
#endif

// The same allocation limit as make fuzz's -malloc_limit_mb (fuzz.h); the sanitizer reads
// this before main.
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=512"; }
_Static_assert(FUZZ_MALLOC_LIMIT_MB == 512, "keep __asan_default_options in step");
// UBSan's findings abort (rather than exit), so that on_abort names the file; with a stack.
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "abort_on_error=1:print_stacktrace=1"; }

static char current[4096]; // the file being replayed, for the death line

static void say_died(void)
{
    char line[4400];
    int n = snprintf(line, sizeof line, "not ok - fuzz %s: %s ended the process (report above)\n",
                     FUZZ_NAME, current);
    if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) < 0) return;
}

// A failed check aborts (and ASan leaves SIGABRT to us): say which file, then die of it.
static void on_abort(int sig)
{
    say_died();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok - fuzz %s: cannot open %s\n", FUZZ_NAME, path);
        return 0;
    }
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) {
        printf("not ok - fuzz %s: out of memory reading %s\n", FUZZ_NAME, path);
        return 0;
    }
    // A copy of exactly len bytes, as libFuzzer passes it, so an overread is caught.
    uint8_t *input = malloc(len ? len : 1);
    memcpy(input, data, len);
    free(data);
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(input, len);
    free(input);
    printf("ok - fuzz %s: %s (%zu bytes)\n", FUZZ_NAME, path, len);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Every regular file of dir, sorted by name; the count replayed, -1 if dir is missing.
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (count + 1) * sizeof *names);
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, compare_names);
    int replayed = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        struct stat st;
        size_t n = strlen(dir);
        snprintf(path, sizeof path, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) replayed += replay_file(path);
        free(names[i]);
    }
    free(names);
    return replayed;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    __sanitizer_set_death_callback(say_died);
    signal(SIGABRT, on_abort);
    if (argc > 1) {
        int failed = 0;
        for (int i = 1; i < argc; i++) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) failed |= replay_dir(argv[i]) < 0;
            else failed |= !replay_file(argv[i]);
        }
        return failed;
    }
    int seeds = replay_dir("tests/fuzz/corpus/" FUZZ_NAME);
    if (seeds < 1)
        printf("not ok - fuzz %s: no seed files in tests/fuzz/corpus/%s (run from the repo's "
               "root)\n", FUZZ_NAME, FUZZ_NAME);
    replay_dir("tests/fuzz/regressions/" FUZZ_NAME); // may not exist: no crash found yet
    return seeds < 1;
}
