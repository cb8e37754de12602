// The training loop of one job (simmim-train): data, model, optimizer, evaluation, events,
// checkpoints, previews and stopping on a signal, all inside one run directory; and a linear
// probe's features and classifier (probe.h).
#ifndef SIMMIM_TRAIN_H
#define SIMMIM_TRAIN_H

#include "spec/spec.h"
#include "train/dist.h"

// Runs the job; returns the process exit code: 0 when done or stopped by a signal, 1 on any
// error (reported as an `error` event and one line on stderr). The dataset is confined to the
// data_root_count data_roots (data.h's DataRoots: what resolves outside them is skipped with a
// `warning` event, or is an error); with none, it is not confined. dump_features (NULL: none)
// is a folder the representation probes' features are written to as safetensors files: a
// pretraining's k-NN bank and test features at each evaluation (knn-step-<step>.safetensors),
// a linear probe's training and test features (linprobe.safetensors). dist: the job's ranks
// (spec->train.ranks of them, or it fails); rank 0 alone opens the run dir and writes events.
int train_run(const JobSpec *spec, const char *run_dir, int resume,
              const char *const *data_roots, int data_root_count, const char *dump_features,
              Dist *dist);

// Asks a running train_run to finish its step, checkpoint and stop. Async-signal-safe.
void train_request_stop(int signal);

#endif
