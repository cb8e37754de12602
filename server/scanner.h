// The scanner: registering a dataset never reads it in the daemon. A registration is recorded
// as scanning and handed here; one simmim-data child per dataset (`simmim-data scan`,
// core/cmd) walks it confined to the data roots, writes its sample grid into
// state_dir/datasets/<name>/ and reports in JSON lines on its stdout, which a thread of ours
// reads: the running count goes to the store as it comes, then the dataset becomes ready with
// its counts — the queued jobs that waited for it are checked against them (those it does not
// suit fail, naming why) and the supervisor is woken — or failed with the child's reason, and
// the jobs that waited fail with it. A daemon that starts with datasets still scanning scans
// them again. A crash of a decoder is a failed scan, never the daemon's.
#ifndef SIMMIMD_SCANNER_H
#define SIMMIMD_SCANNER_H

#include <stddef.h>

#include "db.h"
#include "hub.h"
#include "supervisor.h"

typedef struct Scanner Scanner;

typedef struct {
    const char *data_binary; // path of simmim-data
    const char *state_dir;
    const char *const *data_roots; // passed to each scan as --data-root
    int data_root_count;
    int max_scans;           // children at once (0: SCANNER_DEFAULT_SCANS); more wait their turn
} ScannerConfig;

enum { SCANNER_DEFAULT_SCANS = 2, SCANNER_MAX_SCANS = 16 };

// Starts the scanner's thread, then scans again each dataset left scanning. NULL with a
// message (the binary is not executable, no memory).
Scanner *scanner_start(const ScannerConfig *cfg, Db *db, Hub *hub, char *err, size_t errlen);
// From now on a dataset that becomes ready wakes this supervisor (its waiting jobs may start).
void scanner_set_supervisor(Scanner *s, Supervisor *supervisor);
// Starts the scan of a dataset the store holds as scanning. A child that cannot be started
// fails the dataset at once (with the reason). 0, or -1 if the dataset is not found.
int scanner_scan(Scanner *s, const char *name);
// Waits until the dataset is no longer scanning (a scan waiting for its turn counts as
// scanning), at most `seconds`: 1 if its scan has ended
// (ready, failed, or the dataset is gone), 0 if it is still scanning.
int scanner_wait(Scanner *s, const char *name, double seconds);
// Stops a dataset's scan (it is being unregistered): its child is killed and what it reported
// is ignored.
void scanner_cancel(Scanner *s, const char *name);
// Kills the scans (a restarted daemon scans those datasets again) and joins the thread.
void scanner_stop(Scanner *s);

#endif
