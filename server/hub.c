// The event hub (hub.h): a fixed ring of the most recent events, each serialized once when
// published and numbered by a sequence that starts at 1, and the list of waiting readers,
// under one mutex; a reader formats an event as a Server-Sent Events record.
#include "hub.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json_out.h"

enum { HUB_NAME_MAX = 32 };

typedef struct {
    unsigned long seq;
    long job_id;
    char name[HUB_NAME_MAX];
    char *data; // compact JSON, one line
} HubEvent;

struct Hub {
    pthread_mutex_t mutex;
    HubWaiter *waiters; // registered, in no particular order
    HubEvent *ring;
    int capacity;
    unsigned long next; // the sequence number of the next event
    int shutdown;
};

Hub *hub_create(int capacity)
{
    if (capacity < 1) return NULL;
    Hub *hub = calloc(1, sizeof *hub);
    if (!hub) return NULL;
    hub->ring = calloc((size_t)capacity, sizeof *hub->ring);
    if (!hub->ring || pthread_mutex_init(&hub->mutex, NULL) != 0) {
        free(hub->ring);
        free(hub);
        return NULL;
    }
    hub->capacity = capacity;
    hub->next = 1;
    return hub;
}

void hub_destroy(Hub *hub)
{
    if (!hub) return;
    for (int i = 0; i < hub->capacity; i++) free(hub->ring[i].data);
    free(hub->ring);
    pthread_mutex_destroy(&hub->mutex);
    free(hub);
}

double hub_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Under the lock.
static void waiter_unlink(Hub *hub, HubWaiter *w)
{
    if (!w->registered) return;
    if (w->prev) w->prev->next = w->next;
    else hub->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->registered = 0;
}

// Under the lock: wakes (and unregisters) every waiter, or those due by `now` or whose reader
// left (now < 0: all).
static void wake_waiters(Hub *hub, double now)
{
    for (HubWaiter *w = hub->waiters, *next; w; w = next) {
        next = w->next;
        if (now >= 0 && w->due > now && !(w->gone && w->gone(w))) continue;
        waiter_unlink(hub, w);
        w->wake(w);
    }
}

// The event's JSON: data with the job's id added to an object that lacks one.
static char *hub_serialize(long job_id, json_t *data)
{
    if (!data) data = json_object();
    if (json_is_object(data) && job_id > 0 && !json_object_get(data, "job_id"))
        json_object_set_new(data, "job_id", json_integer(job_id));
    size_t len;
    char *text = data ? json_out(data, &len) : NULL;
    json_decref(data);
    return text;
}

// The event's name as SSE may carry it: letters, digits, '_' and '-' (others become '_').
static void hub_event_name(const char *name, char out[HUB_NAME_MAX])
{
    size_t n = 0;
    for (; name && name[n] && n < HUB_NAME_MAX - 1; n++)
        out[n] = isalnum((unsigned char)name[n]) || name[n] == '-' ? name[n] : '_';
    out[n] = 0;
}

void hub_publish(Hub *hub, long job_id, const char *name, json_t *data)
{
    char event[HUB_NAME_MAX];
    hub_event_name(name, event); // first: name may live inside data
    char *text = hub_serialize(job_id, data); // outside the lock: readers never wait on it
    if (!text) {
        fprintf(stderr, "simmimd: hub: out of memory; event '%s' of job %ld dropped\n", event,
                job_id);
        return;
    }
    pthread_mutex_lock(&hub->mutex);
    HubEvent *e = &hub->ring[hub->next % (unsigned long)hub->capacity];
    free(e->data);
    e->seq = hub->next++;
    e->job_id = job_id;
    memcpy(e->name, event, sizeof e->name);
    e->data = text;
    wake_waiters(hub, -1);
    pthread_mutex_unlock(&hub->mutex);
}

unsigned long hub_next_seq(Hub *hub)
{
    pthread_mutex_lock(&hub->mutex);
    unsigned long next = hub->next;
    pthread_mutex_unlock(&hub->mutex);
    return next;
}

// The oldest sequence number the ring still holds.
static unsigned long hub_oldest(const Hub *hub)
{
    unsigned long cap = (unsigned long)hub->capacity;
    return hub->next > cap ? hub->next - cap : 1;
}

// Formats the first event at or after *seq that matches job_id (0: any) into buf and moves
// *seq past it; 0 when there is none yet. An event too large for buf is skipped (logged).
static int hub_take(Hub *hub, unsigned long *seq, long job_id, char *buf, size_t cap)
{
    if (*seq < hub_oldest(hub)) *seq = hub_oldest(hub); // fell behind: skip ahead
    if (*seq > hub->next) *seq = hub->next;             // from the future (a restarted daemon)
    for (; *seq < hub->next; (*seq)++) {
        const HubEvent *e = &hub->ring[*seq % (unsigned long)hub->capacity];
        if (job_id != 0 && e->job_id != job_id) continue;
        int n = snprintf(buf, cap, "id: %lu\nevent: %s\ndata: %s\n\n", e->seq, e->name, e->data);
        if (n > 0 && (size_t)n < cap) {
            (*seq)++;
            return n;
        }
        fprintf(stderr, "simmimd: hub: event %lu (%zu bytes) exceeds a reader's buffer; skipped\n",
                e->seq, strlen(e->data));
    }
    return 0;
}

int hub_read(Hub *hub, unsigned long *seq, long job_id, char *buf, size_t cap, HubWaiter *w,
             double due, void (*park)(HubWaiter *w))
{
    pthread_mutex_lock(&hub->mutex);
    int n = hub->shutdown ? -1 : hub_take(hub, seq, job_id, buf, cap);
    if (n == 0 && w) {
        waiter_unlink(hub, w);
        w->due = due;
        w->prev = NULL, w->next = hub->waiters;
        if (hub->waiters) hub->waiters->prev = w;
        hub->waiters = w;
        w->registered = 1;
        if (park) park(w);
    }
    pthread_mutex_unlock(&hub->mutex);
    return n;
}

void hub_forget(Hub *hub, HubWaiter *w)
{
    pthread_mutex_lock(&hub->mutex);
    waiter_unlink(hub, w);
    pthread_mutex_unlock(&hub->mutex);
}

void hub_wake_due(Hub *hub, double now)
{
    pthread_mutex_lock(&hub->mutex);
    wake_waiters(hub, now);
    pthread_mutex_unlock(&hub->mutex);
}

void hub_shutdown(Hub *hub)
{
    pthread_mutex_lock(&hub->mutex);
    hub->shutdown = 1;
    wake_waiters(hub, -1);
    pthread_mutex_unlock(&hub->mutex);
}
