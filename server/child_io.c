// The children's plumbing shared by supervisor.c and scanner.c: environment, wake pipe,
// stdout lines, the tail of the log (child_io.h).
#include "child_io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

// Children share the cores with each other and the API: idle OpenMP threads should sleep
// rather than spin (spinning threads of an oversubscribed machine slow every job several
// times). A policy set in the daemon's own environment is kept.
static char **child_environment(void)
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

int child_owner_open(ChildOwner *o, const char *owner, const char *what, const char *binary,
                     char *err, size_t errlen)
{
    if (access(binary, X_OK) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, binary, strerror(errno));
        return -1;
    }
    if (pipe2(o->wake_pipe, O_CLOEXEC | O_NONBLOCK)) {
        snprintf(err, errlen, "%s: %s", owner, strerror(errno));
        return -1;
    }
    if (!(o->env = child_environment())) {
        snprintf(err, errlen, "%s: out of memory", owner);
        close(o->wake_pipe[0]), close(o->wake_pipe[1]);
        return -1;
    }
    return 0;
}

void child_owner_close(ChildOwner *o)
{
    close(o->wake_pipe[0]);
    close(o->wake_pipe[1]);
    free(o->env);
}

enum { CHILD_NICENESS = 10 };

pid_t child_spawn(const ChildOwner *o, const char *program, char *const argv[], int out_fd,
                  int log_fd, int death_signal)
{
    pid_t pid = fork();
    if (pid == 0) { // only async-signal-safe calls until exec
        if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        if (setpriority(PRIO_PROCESS, 0, CHILD_NICENESS)) {} // a niceness it keeps is no failure
        if (death_signal) prctl(PR_SET_PDEATHSIG, death_signal);
        execve(program, argv, o->env);
        _exit(127);
    }
    return pid;
}

void child_owner_wake(ChildOwner *o, const char *owner)
{
    char c = 1;
    if (write(o->wake_pipe[1], &c, 1) < 0 && errno != EAGAIN)
        fprintf(stderr, "simmimd: %s wake: %s\n", owner, strerror(errno));
}

void child_owner_drain(ChildOwner *o)
{
    char drain[64];
    while (read(o->wake_pipe[0], drain, sizeof drain) > 0) {}
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
