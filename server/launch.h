// The launcher: how a job's trainer is started. A job of one rank is simmim-train itself; one of
// train.ranks > 1 is `mpirun -np N [--hostfile F] [mpi-args] simmim-train ...`, mpirun starting
// the ranks on this host and those of the hostfile (docs/architecture.md). At start the daemon
// asks its simmim-train whether it was built with MPI and looks for mpirun, so that a job it
// cannot run is refused at submission — as is one mpirun would refuse, more ranks than its
// slots — and reads the hostfile, so that the memory check counts the ranks each host will run
// (spec.h's RankPlacement); and what mpirun says of a rank that was killed is read back into
// what the supervisor knows of a single process killed by a signal.
#ifndef SIMMIMD_LAUNCH_H
#define SIMMIMD_LAUNCH_H

#include <stddef.h>

#include "spec/spec.h"

enum { LAUNCH_MAX_HOSTS = 1024 };

typedef struct {
    const char *train_binary;
    const char *mpirun;        // a path, or a name looked up on PATH (NULL: "mpirun")
    const char *hostfile;      // NULL or "": none (every rank on this host)
    const char *mpi_args;      // more mpirun arguments, separated by spaces (NULL or "": none)
    int rank_timeout;          // simmim-train --rank-timeout; 0: its default
    const char *const *data_roots; // passed to each trainer as --data-root
    int data_root_count;
} LaunchConfig;

typedef struct {
    LaunchConfig cfg;
    char mpirun[4096];         // mpirun's path, "" when not found
    char mpi[128];             // the MPI library of simmim-train, "" when built without
    char unable[512];          // why train.ranks > 1 cannot run here; "" when it can
    int cores;                 // this host's slots as mpirun counts them: its cores (hardware
                               // threads with --use-hwthread-cpus in mpi-args)
    int oversubscribe;         // mpi-args let mpirun start more ranks than there are slots
    int hosts;                 // the hostfile's hosts, this one first (0: no hostfile)
    int slots[LAUNCH_MAX_HOSTS]; // each one's slots: its slots=N, or its lines when listed
                               // several times (0: once without slots=, so its cores: this
                               // host's `cores`, another's unknown)
} Launcher;

// Probes simmim-train (--capabilities), finds mpirun, reads the hostfile and mpi-args; never
// fails (a trainer without MPI, or a hostfile that cannot be read, only runs one-rank jobs).
void launcher_init(Launcher *l, const LaunchConfig *cfg);
// Whether a job of `ranks` ranks can be started: 0, or -1 with err saying why not — no MPI or
// mpirun, or more ranks than mpirun's slots (this host's cores without a hostfile, or the
// hostfile's slots when it gives every host's) with no oversubscription in mpi-args.
int launcher_check_ranks(const Launcher *l, int ranks, char *err, size_t errlen);
// A RankPlacement (ctx: the Launcher): where mpirun's default mapping (by slot) starts the
// ranks — every one on this host without a hostfile; else the hostfile's hosts filled slot by
// slot in order, rank 0 on the first (this host), and ranks beyond every slot dealt out one per
// host in turn from the first. A host whose slots are not given counts as many as this one.
RankHosts launcher_rank_hosts(int ranks, const void *ctx);
// The program to execute and its argv (NULL-terminated, at most LAUNCH_MAX_ARGS entries,
// pointing into the config, `words` and the arguments) for a trainer of `ranks` ranks. Room
// for mpirun's own arguments, LAUNCH_MPI_WORDS of mpi-args, the trainer's and 16 data roots.
enum { LAUNCH_MPI_WORDS = 48, LAUNCH_MAX_ARGS = 128, LAUNCH_WORDS = 32 + 1024 };
const char *launcher_argv(const Launcher *l, int ranks, const char *spec_path, const char *run_dir,
                          char words[LAUNCH_WORDS], char **argv);
// The signal that asks a trainer to checkpoint and stop: SIGTERM for simmim-train, SIGUSR1 for
// mpirun, which passes it on to every rank (SIGTERM it answers by killing them within seconds).
int launcher_stop_signal(int ranks);
// mpirun's exit status after a rank died of a signal is 128 + the signal, and it names the
// rank and host in train.log: the signal (0 if the status says none), and in who "rank R on
// host H" (or "a rank" when the log does not say).
int launcher_rank_signal(int status, const char *log_tail, char *who, size_t cap);

#endif
