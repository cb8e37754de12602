// The event hub: a ring of recent events (job state changes and trainer events) with
// sequence numbers, that Server-Sent Events connections read and wait on without blocking a
// thread. Publishing never blocks on a slow reader; a reader that falls behind the ring skips
// ahead. Sequence numbers start
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
// Wakes every waiter.
void hub_publish(Hub *hub, long job_id, const char *name, json_t *data);
// The sequence number the next event will get.
unsigned long hub_next_seq(Hub *hub);
// A reader that never blocks (an event stream on a shared server thread) reads with
// hub_read; when there is nothing for it, it is registered to be woken, exactly once, by the
// next event, by hub_wake_due once its due time has passed or its `gone` (optional) says its
// reader left, or by the shutdown. wake and gone run under the hub's lock: they must not call
// into the hub (wake resumes a connection, gone looks at its socket, no more).
typedef struct HubWaiter HubWaiter;
struct HubWaiter {
    void (*wake)(HubWaiter *w);
    int (*gone)(HubWaiter *w); // NULL, or non-zero once the reader behind it has left
    double due;                // monotonic seconds
    HubWaiter *prev, *next;    // the hub's; a waiter is registered while in the list
    int registered;
};
// The first event with seq ≥ *seq for job_id (0 = any job): writes "id: N\nevent: NAME\ndata:
// JSON\n\n" into buf, advances *seq past it and returns its length (an event too long for buf
// is skipped). With none yet: 0, and w (unless NULL) is registered with `due`; before it
// returns, `park` (unless NULL) runs under the hub's lock, so that a wake cannot come before
// it (an event stream suspends its connection there). -1 after hub_shutdown.
int hub_read(Hub *hub, unsigned long *seq, long job_id, char *buf, size_t cap, HubWaiter *w,
             double due, void (*park)(HubWaiter *w));
// Unregisters w if it is waiting (before w is freed).
void hub_forget(Hub *hub, HubWaiter *w);
// Wakes the waiters whose due time is at or before now (keepalives) and those whose reader
// left (their gone says so): a stream whose client went away ends within a tick, not at its
// next keepalives.
void hub_wake_due(Hub *hub, double now);
// Wakes every waiter and makes every read return -1 (daemon shutdown).
void hub_shutdown(Hub *hub);
// Monotonic seconds, the clock of HubWaiter.due.
double hub_now(void);

#endif
