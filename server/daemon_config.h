// The daemon's configuration (core/config/config.h is the model's): defaults, then a config file
// (`key = value` lines), then the environment (SIMMIMD_TOKEN), then command-line flags, each
// overriding the one before.
#ifndef SIMMIMD_DAEMON_CONFIG_H
#define SIMMIMD_DAEMON_CONFIG_H

#include <stddef.h>

#include "http.h"

typedef struct {
    char listen[256];
    char state_dir[4096];
    char *data_roots[MAX_DATA_ROOTS]; // as given; /usr/share/datasets is always one
    int data_root_count;
    int max_jobs;
    char token[256];                  // "" = no authentication
    char train_binary[4096];          // simmim-train; default: beside simmimd
    char data_binary[4096];           // simmim-data (dataset scans); default: beside simmimd
    char web_dir[4096];               // the dashboard; default: ../web from simmimd, if present
    int connections_per_ip;           // open connections one client address may hold (64)
    int max_restarts;                 // of a trainer killed by a signal nobody asked for (3)
    int max_scans;                    // dataset scans (simmim-data children) at once (2)
    int max_cells;                    // cells a study may have (64)
    // Jobs of train.ranks > 1 (launch.h): mpirun (a path or a name on PATH; "mpirun"), its
    // hostfile ("": every rank on this host), more of its arguments, and simmim-train's
    // --rank-timeout (0: the trainer's default).
    char mpirun[4096];
    char mpi_hostfile[4096];
    char mpi_args[1024];
    int rank_timeout;
} DaemonConfig;

// Fills cfg from argv (and the file named by --config); -1 with a message on bad input,
// 1 when --help was asked for (usage in err).
int config_load(DaemonConfig *cfg, int argc, char **argv, char *err, size_t errlen);
void config_free(DaemonConfig *cfg);

#endif
