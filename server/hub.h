// The event hub: a ring of recent events (job state changes and trainer events) with
// sequence numbers, that Server-Sent Events connections wait on. Publishing never blocks
// on a slow reader; a reader that falls behind the ring skips ahead. Sequence numbers start
// at 1 with each daemon; a reader asking for one beyond the newest starts at the next event.
#ifndef SIMMIMD_HUB_H
#define SIMMIMD_HUB_H

#include <jansson.h>

typedef struct Hub Hub;

Hub *hub_create(int capacity);
void hub_destroy(Hub *hub);
// Publishes an event of a job (name: "state", "progress", "eval", "checkpoint", "preview",
// ...; copied first, so it may point into data, and characters other than letters, digits,
// '-' and '_' become '_'); data is stolen, and an object gets "job_id" if it lacks one.
// Wakes every waiting reader.
void hub_publish(Hub *hub, long job_id, const char *name, json_t *data);
// The sequence number the next event will get.
unsigned long hub_next_seq(Hub *hub);
// Waits up to timeout_ms for an event with seq ≥ *seq for job_id (0 = any job). On success
// writes "id: N\nevent: NAME\ndata: JSON\n\n" into buf, advances *seq past it and returns
// its length; 0 on timeout; -1 when the hub shuts down. An event too long for buf is skipped.
int hub_wait(Hub *hub, unsigned long *seq, long job_id, int timeout_ms, char *buf, size_t cap);
// Wakes all readers with -1 (daemon shutdown).
void hub_shutdown(Hub *hub);

#endif
