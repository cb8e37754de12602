// simmim-train: runs one pretraining, fine-tuning or linear-probe job from a job-spec file into
// a run directory. `simmim-train --spec FILE --run-dir DIR [--resume] [--data-root DIR]...
// [--dump-features DIR] [--die-with-parent] [--rank-timeout S]`, or `simmim-train
// --capabilities`. Each --data-root confines the dataset to the folders given: what lies
// outside them is skipped with a `warning` event (or, for the dataset's folder, an IDX file,
// train/ or test/, is an error); with none, the dataset is not confined. --dump-features writes
// the representation probes' features (train.h) into DIR, for checking the probes against
// another implementation. Under mpirun (train.ranks > 1) every rank runs this program: rank 0
// reads the spec and owns the run dir, and --rank-timeout bounds each wait for the others
// (train/dist.h). --capabilities prints {"mpi": LIBRARY or null} (the daemon asks before it
// accepts train.ranks > 1).
// Exit 0 when done or stopped by SIGTERM/SIGINT/SIGUSR1 (after a checkpoint), 1 on any error,
// 2 on bad usage.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "spec/spec.h"
#include "train/dist.h"
#include "train/train.h"

enum { MAX_SPEC_BYTES = 1 << 20 };
// A wait for the other ranks longer than this fails the job (--rank-timeout); rank 0's
// evaluations and checkpoints, which the others wait for, do not count (train/dist.h).
static const double RANK_TIMEOUT_S = 1800;

static void on_signal(int signal) { train_request_stop(signal); }

static int train_usage(void)
{
    fprintf(stderr,
            "usage: simmim-train --spec FILE --run-dir DIR [--resume] [--data-root DIR]...\n"
            "                    [--dump-features DIR] [--die-with-parent] [--rank-timeout S]\n"
            "       simmim-train --capabilities\n"
            "  --data-root DIR  confine the dataset to DIR (repeatable): files and class folders\n"
            "                   that resolve outside every DIR are skipped with a warning event;\n"
            "                   without --data-root the dataset is not confined\n"
            "  --dump-features DIR  write the k-NN probe's bank and test features at each\n"
            "                   evaluation (knn-step-N.safetensors) or a linear probe's training\n"
            "                   and test features (linprobe.safetensors) into DIR\n"
            "  --rank-timeout S  under mpirun, fail when the other ranks do not all arrive at\n"
            "                   a step's exchange within S seconds (default 1800; the time\n"
            "                   rank 0 spends evaluating and checkpointing is not counted)\n"
            "  --capabilities   print {\"mpi\": LIBRARY or null} and exit\n");
    return 2;
}

// Reads the whole spec file (at most 1 MiB) into a NUL-terminated buffer.
static char *read_spec_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "simmim-train: error: spec %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SPEC_BYTES + 1);
    *len = buf ? fread(buf, 1, MAX_SPEC_BYTES + 1, f) : 0;
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed || *len > MAX_SPEC_BYTES) {
        fprintf(stderr, "simmim-train: error: spec %s: %s\n", path,
                failed ? "cannot read" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[*len] = 0;
    return buf;
}

// The ranks of a job that share this host, as mpirun started them: each rank checks the memory
// of its own host (spec_check_memory). A spec of another rank count is refused by train_run.
static RankHosts ranks_of_this_host(int ranks, const void *ctx)
{
    const Dist *d = ctx;
    if (ranks != d->ranks) return (RankHosts){.here = ranks, .rank0_here = 1};
    return (RankHosts){.here = d->local_ranks, .rank0_here = d->rank0_here};
}

// The spec file's text on every rank: rank 0 reads it (the run dir is on its host) and shares it.
static char *shared_spec(Dist *dist, const char *path, size_t *len)
{
    char *text = dist->rank == 0 ? read_spec_file(path, len) : NULL, err[512] = "";
    if (dist_share_bytes(dist, &text, len, err, sizeof err) == 0) return text;
    if (err[0]) fprintf(stderr, "simmim-train: error: %s\n", err); // else rank 0 said why
    free(text);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *spec_path = NULL, *run_dir = NULL, *dump_features = NULL;
    const char *data_roots[argc]; // at most argc / 2 of them
    int resume = 0, data_root_count = 0;
    double rank_timeout = RANK_TIMEOUT_S;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) spec_path = argv[++i];
        else if (strcmp(argv[i], "--run-dir") == 0 && i + 1 < argc) run_dir = argv[++i];
        else if (strcmp(argv[i], "--data-root") == 0 && i + 1 < argc && argv[i + 1][0])
            data_roots[data_root_count++] = argv[++i];
        else if (strcmp(argv[i], "--dump-features") == 0 && i + 1 < argc) dump_features = argv[++i];
        else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--die-with-parent") == 0) prctl(PR_SET_PDEATHSIG, SIGTERM);
        else if (strcmp(argv[i], "--rank-timeout") == 0 && i + 1 < argc && atof(argv[i + 1]) > 0)
            rank_timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "--capabilities") == 0) {
            const char *mpi = dist_library();
            printf("{\"mpi\": %s%s%s}\n", mpi ? "\"" : "", mpi ? mpi : "null", mpi ? "\"" : "");
            return 0;
        } else
            return train_usage();
    }
    if (!spec_path || !run_dir) return train_usage();

    Dist dist;
    char why[512];
    if (dist_init(&dist, &argc, &argv, rank_timeout, why, sizeof why)) {
        fprintf(stderr, "simmim-train: error: %s\n", why);
        dist_finish(&dist, 1);
        return 1;
    }
    const RankPlacement placement = {ranks_of_this_host, &dist};
    spec_set_rank_placement(&placement);
    size_t len;
    char *text = shared_spec(&dist, spec_path, &len);
    JobSpec spec;
    SpecError err;
    int rc = !text || spec_parse(text, len, &spec, &err) ? 1 : 0;
    if (text && rc && dist.rank == 0) fprintf(stderr, "simmim-train: error: spec %s: %s\n", spec_path, err.message);
    free(text);
    if (!rc) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGUSR1, &sa, NULL); // what mpirun passes on to every rank (SIGTERM it does not)
        // A daemon that dies leaves our stdout without a reader; the events still reach
        // events.jsonl, and the SIGTERM of --die-with-parent gets its checkpoint written.
        signal(SIGPIPE, SIG_IGN);
        rc = train_run(&spec, run_dir, resume, data_roots, data_root_count, dump_features, &dist);
    }
    dist_finish(&dist, rc);
    return rc;
}
