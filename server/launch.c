// The launcher; see launch.h.
#include "launch.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CAPABILITIES_MAX = 4096 };

// simmim-train --capabilities: {"mpi": LIBRARY or null}. 0 with the library (or "") in out, or
// -1 when the trainer cannot be run or does not answer so.
static int probe_trainer(const char *binary, char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]), close(fds[1]);
        execl(binary, "simmim-train", "--capabilities", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char text[CAPABILITIES_MAX];
    size_t n = 0;
    ssize_t got;
    while (pid > 0 && n < sizeof text - 1 &&
           ((got = read(fds[0], text + n, sizeof text - 1 - n)) > 0 || (got < 0 && errno == EINTR)))
        n += got > 0 ? (size_t)got : 0;
    close(fds[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    text[n] = 0;
    json_t *doc = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0
                      ? json_loads(text, 0, NULL) : NULL;
    json_t *mpi = json_object_get(doc, "mpi");
    int rc = json_is_string(mpi) || json_is_null(mpi) ? 0 : -1;
    snprintf(out, cap, "%s", json_is_string(mpi) ? json_string_value(mpi) : "");
    json_decref(doc);
    return rc;
}

// A program name looked up on PATH (a name with a slash is taken as it is).
static void find_program(const char *name, char *out, size_t cap)
{
    out[0] = 0;
    if (strchr(name, '/')) {
        if (access(name, X_OK) == 0) snprintf(out, cap, "%s", name);
        return;
    }
    const char *path = getenv("PATH");
    for (const char *dir = path ? path : "/usr/bin:/bin"; *dir;) {
        size_t len = strcspn(dir, ":");
        snprintf(out, cap, "%.*s/%s", (int)len, dir, name);
        if (len && access(out, X_OK) == 0) return;
        dir += len + (dir[len] == ':');
    }
    out[0] = 0;
}

void launcher_init(Launcher *l, const LaunchConfig *cfg)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    if (!l->cfg.mpirun || !l->cfg.mpirun[0]) l->cfg.mpirun = "mpirun";
    if (!l->cfg.hostfile) l->cfg.hostfile = "";
    if (!l->cfg.mpi_args) l->cfg.mpi_args = "";
    find_program(l->cfg.mpirun, l->mpirun, sizeof l->mpirun);
    if (probe_trainer(cfg->train_binary, l->mpi, sizeof l->mpi))
        snprintf(l->unable, sizeof l->unable, "%s does not answer --capabilities (an older build?)",
                 cfg->train_binary);
    else if (!l->mpi[0])
        snprintf(l->unable, sizeof l->unable, "this daemon's simmim-train (%s) was built without "
                 "MPI, so it trains as one process; build it with Open MPI installed "
                 "(deploy/deps.sh, make)", cfg->train_binary);
    else if (!l->mpirun[0])
        snprintf(l->unable, sizeof l->unable, "mpirun (%s) is not found; install openmpi-bin or "
                 "set mpirun in the daemon's config", l->cfg.mpirun);
    if (l->unable[0]) fprintf(stderr, "simmimd: train.ranks > 1 refused: %s\n", l->unable);
    else fprintf(stderr, "simmimd: train.ranks > 1 runs under %s (%s)\n", l->mpirun, l->mpi);
}

int launcher_check_ranks(const Launcher *l, int ranks, char *err, size_t errlen)
{
    if (ranks <= 1 || !l->unable[0]) return 0;
    snprintf(err, errlen, "train.ranks: %d ranks cannot run here: %s (got %d)", ranks, l->unable,
             ranks);
    return -1;
}

const char *launcher_argv(const Launcher *l, int ranks, const char *spec_path, const char *run_dir,
                          char words[LAUNCH_WORDS], char **argv)
{
    // words: the rank count, the timeout, then the mpi-args split into words
    char *np = words, *timeout = words + 16, *rest = words + 32, *save = NULL;
    snprintf(np, 16, "%d", ranks);
    snprintf(timeout, 16, "%d", l->cfg.rank_timeout);
    int n = 0;
    if (ranks > 1) {
        argv[n++] = "mpirun";
        argv[n++] = "-np";
        argv[n++] = np;
        if (geteuid() == 0) argv[n++] = "--allow-run-as-root";
        if (l->cfg.hostfile[0]) argv[n++] = "--hostfile", argv[n++] = (char *)l->cfg.hostfile;
        argv[n++] = "-x", argv[n++] = "OMP_WAIT_POLICY"; // ranks on other hosts too
        snprintf(rest, LAUNCH_WORDS - 32, "%s", l->cfg.mpi_args);
        char *w = strtok_r(rest, " \t", &save);
        for (int taken = 0; w && taken < LAUNCH_MPI_WORDS; taken++, w = strtok_r(NULL, " \t", &save))
            argv[n++] = w;
        argv[n++] = (char *)l->cfg.train_binary;
    } else {
        argv[n++] = "simmim-train";
    }
    char *fixed[] = {"--spec", (char *)spec_path, "--run-dir", (char *)run_dir, "--resume",
                     "--die-with-parent"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) argv[n++] = fixed[i];
    if (l->cfg.rank_timeout > 0) argv[n++] = "--rank-timeout", argv[n++] = timeout;
    // The trainer opens the dataset confined to the daemon's data roots, as registration did.
    for (int i = 0; i < l->cfg.data_root_count && n + 3 < LAUNCH_MAX_ARGS; i++) {
        argv[n++] = "--data-root";
        argv[n++] = (char *)l->cfg.data_roots[i];
    }
    argv[n] = NULL;
    return ranks > 1 ? l->mpirun : l->cfg.train_binary;
}

int launcher_stop_signal(int ranks) { return ranks > 1 ? SIGUSR1 : SIGTERM; }

int launcher_rank_signal(int status, const char *log_tail, char *who, size_t cap)
{
    if (status <= 128 || status >= 128 + NSIG) return 0;
    // Open MPI: "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9"
    const char *at = strstr(log_tail, "process rank ");
    int rank;
    char host[256];
    if (at && sscanf(at, "process rank %d with PID %*d on node %255s", &rank, host) == 2)
        snprintf(who, cap, "rank %d on host %s", rank, host);
    else
        snprintf(who, cap, "a rank");
    return status - 128;
}
