// The supervisor: schedules queued jobs (highest priority, then oldest; at most max_jobs at
// once), runs each as a simmim-train child in its own run dir, reads its event lines into
// the store and the hub, and turns its exit into the job's final state — or, for a child
// killed by a signal nobody asked for, into a restart from its last checkpoint after a
// backoff. Cancel and pause are requests to a running child (SIGTERM: it checkpoints and
// exits). A job of train.ranks > 1 runs under mpirun (launch.h): the same, with mpirun's stop
// signal and a rank killed read as the child killed. Runs on its own thread.
#ifndef SIMMIMD_SUPERVISOR_H
#define SIMMIMD_SUPERVISOR_H

#include "db.h"
#include "hub.h"

typedef struct Supervisor Supervisor;

typedef struct {
    const char *train_binary; // path of simmim-train
    const char *state_dir;
    int max_jobs;
    int max_restarts;         // of a trainer killed by a signal nobody asked for
    const char *const *data_roots; // passed to each trainer as --data-root
    int data_root_count;
    // Jobs of train.ranks > 1 (launch.h's LaunchConfig; NULL: mpirun on PATH, no hostfile,
    // no more arguments; rank_timeout 0: simmim-train's own).
    const char *mpirun, *mpi_hostfile, *mpi_args;
    int rank_timeout;
} SupervisorConfig;

// Re-queues jobs a previous daemon left running (after ingesting their events.jsonl), then
// starts the supervisor thread.
Supervisor *supervisor_start(const SupervisorConfig *cfg, Db *db, Hub *hub, char *err, size_t errlen);
// Stops every child cleanly (they checkpoint), records them as queued to resume, joins.
void supervisor_stop(Supervisor *s);
// Something changed (a job was queued or resumed): schedule now.
void supervisor_wake(Supervisor *s);
// Cancels (queued or paused: at once; running: SIGTERM, then cancelled) or pauses (running
// only) a job: STORE_OK, STORE_NOT_FOUND or STORE_CONFLICT (store.h).
int supervisor_cancel(Supervisor *s, long job_id);
int supervisor_pause(Supervisor *s, long job_id);
// Re-queues a paused job (it resumes from its last checkpoint).
int supervisor_resume(Supervisor *s, long job_id);
// Whether this daemon can start a job of `ranks` ranks (launch.h): 0, or -1 with err naming
// train.ranks and why not.
int supervisor_check_ranks(Supervisor *s, int ranks, char *err, size_t errlen);
// Called on the supervisor's thread, outside its lock, once a job's trainer has ended and the
// job's new state is stored (a study then submits the fine-tunings of a pretraining that
// succeeded). Set once, before jobs end.
typedef void (*JobEndedFn)(void *ctx, long job_id);
void supervisor_on_job_ended(Supervisor *s, JobEndedFn fn, void *ctx);
// Publishes a job's state change on the hub (after the store recorded it).
void supervisor_announce_state(Supervisor *s, long job_id);

#endif
