// simmim-train: runs one pretraining, fine-tuning or linear-probe job from a job-spec file into
// a run directory. `simmim-train --spec FILE --run-dir DIR [--resume] [--data-root DIR]...
// [--dump-features DIR] [--die-with-parent]`. Each --data-root confines the dataset to the
// folders given: what lies outside them is skipped with a `warning` event (or, for the
// dataset's folder, an IDX file, train/ or test/, is an error); with none, the dataset is not
// confined. --dump-features writes the representation probes' features (train.h) into DIR,
// for checking the probes against another implementation.
// Exit 0 when done or stopped by SIGTERM/SIGINT (after a checkpoint), 1 on any error, 2 on
// bad usage.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "spec/spec.h"
#include "train/train.h"

enum { MAX_SPEC_BYTES = 1 << 20 };

static void on_signal(int signal) { train_request_stop(signal); }

static int train_usage(void)
{
    fprintf(stderr,
            "usage: simmim-train --spec FILE --run-dir DIR [--resume] [--data-root DIR]...\n"
            "                    [--dump-features DIR] [--die-with-parent]\n"
            "  --data-root DIR  confine the dataset to DIR (repeatable): files and class folders\n"
            "                   that resolve outside every DIR are skipped with a warning event;\n"
            "                   without --data-root the dataset is not confined\n"
            "  --dump-features DIR  write the k-NN probe's bank and test features at each\n"
            "                   evaluation (knn-step-N.safetensors) or a linear probe's training\n"
            "                   and test features (linprobe.safetensors) into DIR\n");
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

int main(int argc, char **argv)
{
    const char *spec_path = NULL, *run_dir = NULL, *dump_features = NULL;
    const char *data_roots[argc]; // at most argc / 2 of them
    int resume = 0, data_root_count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) spec_path = argv[++i];
        else if (strcmp(argv[i], "--run-dir") == 0 && i + 1 < argc) run_dir = argv[++i];
        else if (strcmp(argv[i], "--data-root") == 0 && i + 1 < argc && argv[i + 1][0])
            data_roots[data_root_count++] = argv[++i];
        else if (strcmp(argv[i], "--dump-features") == 0 && i + 1 < argc) dump_features = argv[++i];
        else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--die-with-parent") == 0) prctl(PR_SET_PDEATHSIG, SIGTERM);
        else
            return train_usage();
    }
    if (!spec_path || !run_dir) return train_usage();

    size_t len;
    char *text = read_spec_file(spec_path, &len);
    if (!text) return 1;
    JobSpec spec;
    SpecError err;
    int bad = spec_parse(text, len, &spec, &err);
    free(text);
    if (bad) {
        fprintf(stderr, "simmim-train: error: spec %s: %s\n", spec_path, err.message);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    // A daemon that dies leaves our stdout without a reader; the events still reach
    // events.jsonl, and the SIGTERM of --die-with-parent gets its checkpoint written.
    signal(SIGPIPE, SIG_IGN);
    return train_run(&spec, run_dir, resume, data_roots, data_root_count, dump_features);
}
