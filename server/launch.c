// The launcher; see launch.h.
#include "launch.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cpu.h"

enum { CAPABILITIES_MAX = 4096, HOST_NAME_MAX_BYTES = 256, HOSTFILE_LINE_MAX = 4096 };

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

// Whether a --map-by value carries the OVERSUBSCRIBE modifier ("core:OVERSUBSCRIBE").
static int map_oversubscribes(const char *value)
{
    for (const char *at = strpbrk(value, ":,"); at; at = strpbrk(at + 1, ":,"))
        if (strncasecmp(at + 1, "oversubscribe", 13) == 0 && strchr(":,", at[14])) return 1;
    return 0;
}

// What mpi-args tells mpirun about slots: whether it may start more ranks than there are
// (--oversubscribe, --map-by ...:OVERSUBSCRIBE, --mca rmaps_base_oversubscribe 1), and whether a
// host's slots are its hardware threads rather than its cores (--use-hwthread-cpus).
static void read_mpi_args(Launcher *l)
{
    char words[LAUNCH_WORDS], *save = NULL, *previous = "";
    snprintf(words, sizeof words, "%s", l->cfg.mpi_args);
    int hwthreads = 0;
    for (char *w = strtok_r(words, " \t", &save); w;
         previous = w, w = strtok_r(NULL, " \t", &save)) {
        const char *word = w + (w[0] == '-' && w[1] == '-'); // mpirun's options take - or --
        int map_by = strcmp(previous, "--map-by") == 0 || strcmp(previous, "-map-by") == 0;
        if (strcmp(word, "-oversubscribe") == 0 || (map_by && map_oversubscribes(w)) ||
            (strncmp(word, "-map-by=", 8) == 0 && map_oversubscribes(word + 8)) ||
            (strcmp(previous, "rmaps_base_oversubscribe") == 0 &&
             (strcmp(w, "1") == 0 || strcasecmp(w, "true") == 0)))
            l->oversubscribe = 1;
        hwthreads |= strcmp(word, "-use-hwthread-cpus") == 0;
    }
    l->cores = hwthreads ? cpu_count() : cpu_core_count();
}

// The hostfile's hosts and slots, as mpirun reads them: "HOST [slots=N] [other=...]" a line,
// "#" to the end of a line a comment; a host's slots are its slots=N, or as many as its lines
// when it is listed several times, or its cores when listed once without (mixing the two ways
// mpirun refuses) — or l->unable saying why not (it cannot be read, a line is not understood).
static void read_hostfile(Launcher *l)
{
    const char *path = l->cfg.hostfile;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(l->unable, sizeof l->unable, "mpi-hostfile %s cannot be read: %s", path,
                 strerror(errno));
        return;
    }
    struct {
        char name[HOST_NAME_MAX_BYTES];
        int lines, given; // lines naming it; one of them gave slots=
    } *hosts = calloc(LAUNCH_MAX_HOSTS, sizeof *hosts);
    if (!hosts) {
        fclose(f);
        snprintf(l->unable, sizeof l->unable, "mpi-hostfile %s: out of memory", path);
        return;
    }
    char line[HOSTFILE_LINE_MAX];
    const char *why = NULL;
    for (int number = 1; !why && fgets(line, sizeof line, f); number++) {
        char *save = NULL, *host;
        line[strcspn(line, "#\n")] = 0;
        if (!(host = strtok_r(line, " \t\r", &save))) continue;
        int slots = 0, at = 0;
        for (char *w; !why && (w = strtok_r(NULL, " \t\r", &save));) {
            char *end;
            if (strncmp(w, "slots=", 6) != 0) continue; // max_slots=, ...: not ours to count
            long n = strtol(w + 6, &end, 10);
            if (*end || n < 1 || n > 1 << 20) why = "slots= wants a count of at least 1";
            slots = (int)n;
        }
        while (at < l->hosts && strcmp(hosts[at].name, host) != 0) at++;
        if (!why && at == LAUNCH_MAX_HOSTS) why = "more hosts than simmimd counts (1024)";
        if (!why && strlen(host) >= HOST_NAME_MAX_BYTES) why = "a host name of 256 bytes or more";
        if (!why && at < l->hosts && (slots || hosts[at].given))
            why = "the host is named again with slots= (mpirun takes slots=N on one line, or the "
                  "host listed once per slot)";
        if (why) {
            snprintf(l->unable, sizeof l->unable, "mpi-hostfile %s, line %d: %s", path, number,
                     why);
            break;
        }
        if (at == l->hosts) snprintf(hosts[l->hosts++].name, HOST_NAME_MAX_BYTES, "%s", host);
        hosts[at].lines++;
        hosts[at].given = slots > 0;
        l->slots[at] = slots ? slots : hosts[at].lines > 1 ? hosts[at].lines : 0;
    }
    int failed = ferror(f);
    fclose(f);
    free(hosts);
    if (!why && failed)
        snprintf(l->unable, sizeof l->unable, "mpi-hostfile %s cannot be read", path);
    else if (!why && l->hosts == 0)
        snprintf(l->unable, sizeof l->unable, "mpi-hostfile %s names no host", path);
}

void launcher_init(Launcher *l, const LaunchConfig *cfg)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    if (!l->cfg.mpirun || !l->cfg.mpirun[0]) l->cfg.mpirun = "mpirun";
    if (!l->cfg.hostfile) l->cfg.hostfile = "";
    if (!l->cfg.mpi_args) l->cfg.mpi_args = "";
    find_program(l->cfg.mpirun, l->mpirun, sizeof l->mpirun);
    read_mpi_args(l);
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
    else if (l->cfg.hostfile[0])
        read_hostfile(l); // what is wrong with it, if anything, in l->unable
    if (l->unable[0]) fprintf(stderr, "simmimd: train.ranks > 1 refused: %s\n", l->unable);
    else fprintf(stderr, "simmimd: train.ranks > 1 runs under %s (%s)\n", l->mpirun, l->mpi);
}

// A host's slots: its slots=N, or its cores (another host's taken to be as many as this one's).
static int host_slots(const Launcher *l, int host)
{
    return l->slots[host] ? l->slots[host] : l->cores;
}

int launcher_check_ranks(const Launcher *l, int ranks, char *err, size_t errlen)
{
    if (ranks <= 1) return 0;
    if (l->unable[0]) {
        snprintf(err, errlen, "train.ranks: %d ranks cannot run here: %s (got %d)", ranks,
                 l->unable, ranks);
        return -1;
    }
    // mpirun's slots, when known: this host's cores, or the hostfile's if it gives every host's
    int slots = l->hosts ? 0 : l->cores;
    for (int h = 0; h < l->hosts && slots >= 0; h++)
        slots = h > 0 && !l->slots[h] ? -1 : slots + host_slots(l, h);
    if (l->oversubscribe || slots < 0 || ranks <= slots) return 0;
    snprintf(err, errlen, "train.ranks: %d ranks are more than mpirun's %d slots (%s%s) and "
             "mpi-args does not let it oversubscribe them (--oversubscribe), so mpirun would "
             "refuse to start them (got %d)", ranks, slots,
             l->hosts ? "the slots of mpi-hostfile " : "the cores of this host: no "
                                                        "mpi-hostfile is configured",
             l->hosts ? l->cfg.hostfile : "", ranks);
    return -1;
}

RankHosts launcher_rank_hosts(int ranks, const void *ctx)
{
    const Launcher *l = ctx;
    if (!l->hosts) return (RankHosts){.here = ranks, .rank0_here = 1};
    int left = ranks, total = 0;
    for (int h = 0; h < l->hosts; h++) total += host_slots(l, h);
    int extra = ranks > total ? ranks - total : 0; // dealt out one per host in turn
    RankHosts placed = {.rank0_here = 1};
    for (int h = 0; h < l->hosts; h++) {
        int on = left < host_slots(l, h) ? left : host_slots(l, h);
        left -= on;
        on += extra / l->hosts + (h < extra % l->hosts);
        if (h == 0) placed.here = on;
        else if (on > placed.elsewhere) placed.elsewhere = on;
    }
    return placed;
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
