// The event hub (hub.h): a fixed ring of the most recent events, each serialized once when
// published and numbered by a sequence that starts at 1, under one mutex; readers wait on a
// condition variable (monotonic clock) and format an event as a Server-Sent Events record.
#include "hub.h"

#include <ctype.h>
#include <errno.h>
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
    pthread_cond_t cond;
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
    pthread_condattr_t attr;
    int ok = hub->ring && pthread_condattr_init(&attr) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&hub->cond, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!ok || pthread_mutex_init(&hub->mutex, NULL) != 0) {
        if (ok) pthread_cond_destroy(&hub->cond);
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
    pthread_cond_destroy(&hub->cond);
    pthread_mutex_destroy(&hub->mutex);
    free(hub);
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
    pthread_cond_broadcast(&hub->cond);
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

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

int hub_wait(Hub *hub, unsigned long *seq, long job_id, int timeout_ms, char *buf, size_t cap)
{
    struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    int n = 0, timed_out = 0;
    pthread_mutex_lock(&hub->mutex);
    while (!hub->shutdown && (n = hub_take(hub, seq, job_id, buf, cap)) == 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&hub->cond, &hub->mutex, &deadline) == ETIMEDOUT;
    if (hub->shutdown) n = -1;
    pthread_mutex_unlock(&hub->mutex);
    return n;
}

void hub_shutdown(Hub *hub)
{
    pthread_mutex_lock(&hub->mutex);
    hub->shutdown = 1;
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->mutex);
}
