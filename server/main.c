// simmimd: the control plane. Loads the configuration, opens and migrates the database, starts
// the scanner (which scans again the datasets a previous daemon left scanning), registers
// Fashion-MNIST when Debian's package is present (waiting for its scan), starts the supervisor
// (which re-queues jobs a previous daemon left running), lets studies submit what a previous
// daemon left them to (a fine-tuning whose pretraining ended), and starts the HTTP server, then waits for
// SIGTERM or SIGINT: children are stopped cleanly (trainers checkpoint) and the daemon exits 0.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon_config.h"
#include "db.h"
#include "api.h"
#include "http.h"
#include "hub.h"
#include "scanner.h"
#include "store.h"
#include "supervisor.h"

static const char *const FASHION_MNIST = "/usr/share/datasets/fashion-mnist";
// At start the daemon waits for Fashion-MNIST's scan (a second or two) before it listens.
static const double FASHION_MNIST_WAIT_S = 300;

static int daemon_die(const char *what, const char *err)
{
    fprintf(stderr, "simmimd: %s: %s\n", what, err);
    return 1;
}

// Creates dir and dir/runs; resolves dir to an absolute path in `real`.
static int prepare_state_dir(const char *dir, char *real, char *err, size_t errlen)
{
    char runs[PATH_MAX + 8];
    if ((mkdir(dir, 0755) && errno != EEXIST) || !realpath(dir, real)) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(runs, sizeof runs, "%s/runs", real);
    if (mkdir(runs, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", runs, strerror(errno));
        return -1;
    }
    return 0;
}

// One daemon per state dir: a second would re-queue and re-run the first one's jobs.
static int lock_state_dir(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/simmimd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
        snprintf(err, errlen, "%s: %s", path,
                 fd < 0 ? strerror(errno) : "another simmimd is using this state dir");
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd; // held until the process exits
}

static void register_fashion_mnist(App *app)
{
    DatasetRow row;
    char path[PATH_MAX], err[1024];
    const char *field;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", FASHION_MNIST);
    if (access(path, R_OK) != 0 || store_dataset_get(app->db, "fashion-mnist", &row) == STORE_OK) return;
    DatasetRequest req = {.name = "fashion-mnist", .format = "idx", .path = FASHION_MNIST,
                          .wait_s = FASHION_MNIST_WAIT_S};
    int status = datasets_register(app, &req, err, sizeof err, &field);
    if (status == 201) fprintf(stderr, "simmimd: registered dataset fashion-mnist\n");
    else if (status == 202) fprintf(stderr, "simmimd: dataset fashion-mnist is still scanning\n");
    else fprintf(stderr, "simmimd: could not register fashion-mnist: %s\n", err);
}

static int resolve_data_roots(const DaemonConfig *cfg, App *app, char roots[][PATH_MAX])
{
    for (int i = 0; i < cfg->data_root_count; i++) {
        if (!realpath(cfg->data_roots[i], roots[app->data_root_count])) {
            fprintf(stderr, "simmimd: data root %s: %s (ignored)\n", cfg->data_roots[i], strerror(errno));
            continue;
        }
        app->data_roots[app->data_root_count] = roots[app->data_root_count];
        app->data_root_count++;
    }
    return 0;
}

// Blocks the shutdown signals in every thread (threads inherit the mask) so that main can
// wait for them with sigwait.
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

// Every connection is an open file: take the whole hard limit, so that a flood meets the
// per-address and head-deadline defences before it meets the open-file limit.
static void raise_open_file_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
            fprintf(stderr, "simmimd: cannot raise the open-file limit: %s\n", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    DaemonConfig cfg;
    char err[PATH_MAX * 2], state_dir[PATH_MAX], web_dir[PATH_MAX], db_path[PATH_MAX + 16];
    static char roots[MAX_DATA_ROOTS][PATH_MAX];
    int rc = config_load(&cfg, argc, argv, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return rc > 0 ? 0 : 2;
    }
    if (prepare_state_dir(cfg.state_dir, state_dir, err, sizeof err))
        return daemon_die("state dir", err);
    int lock_fd = lock_state_dir(state_dir, err, sizeof err);
    if (lock_fd < 0) return daemon_die("state dir", err);
    sigset_t signals;
    block_signals(&signals);
    raise_open_file_limit();

    snprintf(db_path, sizeof db_path, "%s/simmimd.db", state_dir);
    Db *db = db_open(db_path, err, sizeof err);
    if (!db) return daemon_die("database", err);
    Hub *hub = hub_create(4096);
    App app = {.db = db, .hub = hub, .state_dir = state_dir, .token = cfg.token[0] ? cfg.token : NULL,
               .connections_per_ip = cfg.connections_per_ip, .max_cells = cfg.max_cells,
               .started_at = (double)time(NULL)};
    app.web_dir = realpath(cfg.web_dir, web_dir) ? web_dir : cfg.web_dir;
    resolve_data_roots(&cfg, &app, roots);
    ScannerConfig scfg = {.data_binary = cfg.data_binary, .state_dir = state_dir,
                          .data_roots = app.data_roots, .data_root_count = app.data_root_count,
                          .max_scans = cfg.max_scans};
    app.scanner = scanner_start(&scfg, db, hub, err, sizeof err);
    if (!app.scanner) return daemon_die("scanner", err);
    register_fashion_mnist(&app);

    SupervisorConfig sc = {.train_binary = cfg.train_binary, .state_dir = state_dir,
                           .max_jobs = cfg.max_jobs, .max_restarts = cfg.max_restarts,
                           .data_roots = app.data_roots, .data_root_count = app.data_root_count,
                           .mpirun = cfg.mpirun, .mpi_hostfile = cfg.mpi_hostfile,
                           .mpi_args = cfg.mpi_args, .rank_timeout = cfg.rank_timeout};
    app.supervisor = supervisor_start(&sc, db, hub, err, sizeof err);
    if (!app.supervisor) {
        scanner_stop(app.scanner);
        return daemon_die("supervisor", err);
    }
    scanner_set_supervisor(app.scanner, app.supervisor);
    supervisor_on_job_ended(app.supervisor, studies_job_ended, &app);
    studies_recover(&app);
    Http *http = http_start(&app, cfg.listen, err, sizeof err);
    if (!http) {
        supervisor_stop(app.supervisor);
        scanner_stop(app.scanner);
        return daemon_die("listen", err);
    }
    fprintf(stderr, "simmimd: listening on http://%s (state in %s, %d job%s at a time%s)\n", cfg.listen,
            state_dir, cfg.max_jobs, cfg.max_jobs == 1 ? "" : "s", app.token ? ", token required" : "");

    int sig = 0;
    sigwait(&signals, &sig);
    fprintf(stderr, "simmimd: %s received; stopping jobs (they checkpoint) and exiting\n", strsignal(sig));
    hub_shutdown(hub);
    http_stop(http);
    scanner_stop(app.scanner); // first: a scan that ends wakes the supervisor
    supervisor_stop(app.supervisor);
    hub_destroy(hub);
    db_close(db);
    config_free(&cfg);
    close(lock_fd);
    return 0;
}
