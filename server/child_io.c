// The children's plumbing shared by supervisor.c and scanner.c: environment, stdout lines,
// the tail of the log (child_io.h).
#include "child_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Children share the cores with each other and the API: idle OpenMP threads should sleep
// rather than spin (spinning threads of an oversubscribed machine slow every job several
// times). A policy set in the daemon's own environment is kept.
char **child_environment(void)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) return NULL;
    memcpy(env, environ, n * sizeof *env);
    if (!getenv("OMP_WAIT_POLICY")) env[n] = "OMP_WAIT_POLICY=passive";
    return env;
}

int child_read_lines(int fd, ChildLine *line, ChildLineFn on_line, void *owner, void *child)
{
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            line->text[line->len] = 0;
            on_line(owner, child, line->text);
            line->len = 0;
        } else if (line->len < sizeof line->text - 1) {
            line->text[line->len++] = buf[i];
        }
    }
    return n > 0;
}

void child_log_tail(const char *path, char *out, size_t cap, int max_lines)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f), start = size > (long)cap - 1 ? size - (long)cap + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
    int lines = 0;
    for (char *p = out + n; max_lines > 0 && p > out; p--)
        if (p[-1] == '\n' && ++lines > max_lines) {
            memmove(out, p, strlen(p) + 1);
            break;
        }
}
