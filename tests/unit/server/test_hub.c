// The event hub (server/hub.h): events come out in order with their sequence numbers and in
// the Server-Sent Events format; a reader that fell behind a small ring skips ahead to the
// oldest event kept; the job filter; a waiting reader is parked under the hub's lock and woken
// once by the next event, by its due time, by its reader leaving or by the shutdown, and not
// after it is forgotten;
// an event name that lives inside the stolen data, names made safe, job_id added; an event too
// large for the reader's buffer skipped; a sequence number from the future; and concurrent
// publishers against a reader that sleeps until woken: every event read once, each
// publisher's events in its order, no wake lost.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"
#include "test.h"

enum { BUF = 4096, PUBLISHERS = 4, PER_PUBLISHER = 2000 };

// The text with its line ends shown as '|', for one-line reports.
static const char *oneline(char *text)
{
    for (char *p = text; *p; p++)
        if (*p == '\n') *p = '|';
    return text;
}

static void publish_n(Hub *hub, long job_id, int n)
{
    for (int i = 0; i < n; i++) hub_publish(hub, job_id, "progress", json_pack("{s:i}", "n", i));
}

// Reads one event without waiting: its id (0 if none) and, optionally, its data object.
static unsigned long read_event(Hub *hub, unsigned long *seq, long job_id, json_t **data)
{
    char buf[BUF];
    unsigned long id = 0;
    if (hub_read(hub, seq, job_id, buf, sizeof buf, NULL, 0, NULL) <= 0) return 0;
    const char *d = strstr(buf, "\ndata: ");
    if (sscanf(buf, "id: %lu\n", &id) != 1 || !d) return 0;
    if (data) *data = json_loads(d + 7, JSON_DISABLE_EOF_CHECK, NULL);
    return id;
}

static void test_order_and_format(void)
{
    Hub *hub = hub_create(16);
    char buf[BUF];
    unsigned long seq = hub_next_seq(hub);
    test_report(seq == 1, "first seq", "%lu", seq);
    hub_publish(hub, 7, "state", json_pack("{s:s}", "state", "running"));
    int n = hub_read(hub, &seq, 0, buf, sizeof buf, NULL, 0, NULL);
    const char *want = "id: 1\nevent: state\ndata: {\"state\":\"running\",\"job_id\":7}\n\n";
    int ok = n == (int)strlen(want) && strcmp(buf, want) == 0;
    test_report(ok, "sse format", "%s", oneline(buf));
    test_report(seq == 2, "seq advanced", "%lu", seq);
    publish_n(hub, 7, 5);
    int ordered = 1;
    for (unsigned long expect = 2; expect <= 6; expect++) {
        json_t *data = NULL;
        unsigned long id = read_event(hub, &seq, 0, &data);
        ordered &= id == expect && json_integer_value(json_object_get(data, "n")) == (long)expect - 2;
        json_decref(data);
    }
    test_report(ordered && read_event(hub, &seq, 0, NULL) == 0, "order", "ids 2..6 then none");
    hub_destroy(hub);
}

static void test_wrap_around(void)
{
    Hub *hub = hub_create(4);
    unsigned long seq = 1;
    publish_n(hub, 1, 10); // ids 1..10; the ring keeps 7..10
    unsigned long ids[5] = {0};
    for (int i = 0; i < 5; i++) ids[i] = read_event(hub, &seq, 0, NULL);
    test_report(ids[0] == 7 && ids[1] == 8 && ids[2] == 9 && ids[3] == 10 && ids[4] == 0,
                "wrap-around skips ahead", "%lu %lu %lu %lu %lu", ids[0], ids[1], ids[2], ids[3],
                ids[4]);
    publish_n(hub, 1, 3); // 11..13 overwrite the oldest slots
    unsigned long a = read_event(hub, &seq, 0, NULL), b = read_event(hub, &seq, 0, NULL);
    test_report(a == 11 && b == 12, "after wrapping", "%lu %lu", a, b);
    hub_destroy(hub);
}

static void test_job_filter(void)
{
    Hub *hub = hub_create(32);
    for (int i = 0; i < 10; i++)
        hub_publish(hub, i % 2 ? 2 : 1, "progress", json_pack("{s:i}", "n", i));
    unsigned long seq = 1, id;
    int count = 0, only_two = 1;
    json_t *data = NULL;
    while ((id = read_event(hub, &seq, 2, &data)) != 0) {
        only_two &= json_integer_value(json_object_get(data, "job_id")) == 2 && id % 2 == 0;
        json_decref(data);
        count++;
    }
    test_report(count == 5 && only_two, "job filter", "%d events of job 2", count);
    test_report(seq == 11, "filter consumed the rest", "seq %lu", seq);
    hub_destroy(hub);
}

// A waiter that counts its wakes and its parkings.
typedef struct {
    HubWaiter w; // first: the hub hands back &w
    int woken, parked;
} Counted;

static void counted_wake(HubWaiter *w) { ((Counted *)w)->woken++; }
static void counted_park(HubWaiter *w) { ((Counted *)w)->parked++; }
static int reader_left(HubWaiter *w) { (void)w; return 1; }
static int reader_stays(HubWaiter *w) { (void)w; return 0; }

static void test_waiting(void)
{
    Hub *hub = hub_create(8);
    char buf[BUF];
    unsigned long seq = hub_next_seq(hub);
    Counted a = {.w.wake = counted_wake}, b = {.w.wake = counted_wake};
    double now = hub_now();
    int n = hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, now + 1000, counted_park);
    unsigned long seq_b = seq;
    int m = hub_read(hub, &seq_b, 0, buf, sizeof buf, &b.w, now - 1, counted_park);
    test_report(n == 0 && m == 0 && a.parked == 1 && b.parked == 1 && !a.woken && !b.woken,
                "nothing to read: parked, not woken", "%d %d parked %d %d", n, m, a.parked,
                b.parked);
    hub_wake_due(hub, hub_now());
    test_report(a.woken == 0 && b.woken == 1, "the due time wakes only the waiter due",
                "woken %d %d", a.woken, b.woken);
    Counted left = {.w = {.wake = counted_wake, .gone = reader_left}},
            stays = {.w = {.wake = counted_wake, .gone = reader_stays}};
    unsigned long seq_l = seq, seq_s = seq;
    hub_read(hub, &seq_l, 0, buf, sizeof buf, &left.w, now + 1000, NULL);
    hub_read(hub, &seq_s, 0, buf, sizeof buf, &stays.w, now + 1000, NULL);
    hub_wake_due(hub, hub_now());
    test_report(left.woken == 1 && stays.woken == 0 && a.woken == 0,
                "a waiter whose reader left is woken before its due time", "woken %d %d",
                left.woken, stays.woken);
    hub_forget(hub, &stays.w);
    hub_publish(hub, 3, "eval", NULL);
    hub_publish(hub, 3, "eval", NULL);
    test_report(a.woken == 1 && b.woken == 1, "an event wakes each registered waiter once",
                "woken %d %d", a.woken, b.woken);
    n = hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, now + 1000, counted_park);
    test_report(n > 0 && a.parked == 1, "a woken reader reads the event", "%d", n);
    hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, now + 1000, counted_park);
    n = hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, now + 1000, counted_park);
    hub_forget(hub, &a.w);
    hub_publish(hub, 3, "eval", NULL);
    test_report(n == 0 && a.woken == 1, "a forgotten waiter is not woken", "woken %d", a.woken);
    seq = hub_next_seq(hub) + 100; // from the future (a restarted daemon): the next event
    n = hub_read(hub, &seq, 0, buf, sizeof buf, NULL, 0, NULL);
    unsigned long next = hub_next_seq(hub);
    hub_publish(hub, 3, "eval", NULL);
    unsigned long id = read_event(hub, &seq, 0, NULL);
    test_report(n == 0 && id == next, "future seq starts at the next event", "%d, then %lu (%lu)",
                n, id, next);
    hub_destroy(hub);
}

static void test_shutdown(void)
{
    Hub *hub = hub_create(8);
    char buf[BUF];
    unsigned long seq = hub_next_seq(hub);
    Counted a = {.w.wake = counted_wake};
    hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, hub_now() + 1000, NULL);
    hub_shutdown(hub);
    test_report(a.woken == 1, "shutdown wakes waiters", "woken %d", a.woken);
    test_report(hub_read(hub, &seq, 0, buf, sizeof buf, &a.w, 0, NULL) == -1 && a.woken == 1,
                "after shutdown a read ends and nothing waits", "-1");
    hub_destroy(hub);
}

static void test_names_and_sizes(void)
{
    Hub *hub = hub_create(8);
    char buf[BUF], small[64];
    unsigned long seq = 1;
    json_t *ev = json_pack("{s:s, s:i}", "event", "checkpoint", "step", 5);
    hub_publish(hub, 4, json_string_value(json_object_get(ev, "event")), ev); // name inside data
    hub_read(hub, &seq, 0, buf, sizeof buf, NULL, 0, NULL);
    int ok = strstr(buf, "event: checkpoint\n") != NULL;
    test_report(ok, "name inside stolen data", "%s", oneline(buf));
    hub_publish(hub, 4, "bad\nname: x", json_pack("{s:i}", "job_id", 9));
    hub_read(hub, &seq, 0, buf, sizeof buf, NULL, 0, NULL);
    ok = strstr(buf, "event: bad_name__x\n") && strstr(buf, "\"job_id\":9");
    test_report(ok, "unsafe name, job_id kept", "%s", oneline(buf));
    json_t *big = json_pack("{s:s}", "text", "0123456789012345678901234567890123456789");
    hub_publish(hub, 4, "big", big);
    hub_publish(hub, 4, "ok", NULL);
    int n = hub_read(hub, &seq, 0, small, sizeof small, NULL, 0, NULL);
    ok = n > 0 && strstr(small, "event: ok\n") && seq == 5;
    test_report(ok, "too large skipped", "%s", oneline(small));
    hub_publish(hub, 4, "real", json_pack("{s:f}", "ratio", 0.6));
    hub_read(hub, &seq, 0, buf, sizeof buf, NULL, 0, NULL);
    ok = strstr(buf, "\"ratio\":0.6,") != NULL;
    test_report(ok, "shortest reals", "%s", oneline(buf));
    hub_destroy(hub);
}

typedef struct {
    Hub *hub;
    long job;
} Publisher;

static void *publish_many(void *arg)
{
    Publisher *p = arg;
    publish_n(p->hub, p->job, PER_PUBLISHER);
    return NULL;
}

// A reader that sleeps until the hub wakes it, as a suspended event stream does: a wake that
// came before the sleep must not be lost.
typedef struct {
    HubWaiter w; // first
    Hub *hub;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int woken;
    int count, in_order, unique;
} Reader;

static void reader_wake(HubWaiter *w)
{
    Reader *rd = (Reader *)w;
    pthread_mutex_lock(&rd->mutex);
    rd->woken = 1;
    pthread_cond_signal(&rd->cond);
    pthread_mutex_unlock(&rd->mutex);
}

// The next event, sleeping while there is none (up to 5 s, then 0).
static int reader_next(Reader *rd, unsigned long *seq, char *buf, size_t cap)
{
    int n;
    while ((n = hub_read(rd->hub, seq, 0, buf, cap, &rd->w, hub_now() + 5, NULL)) == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&rd->mutex);
        int late = 0;
        while (!rd->woken && !late)
            late = pthread_cond_timedwait(&rd->cond, &rd->mutex, &until) != 0;
        rd->woken = 0;
        pthread_mutex_unlock(&rd->mutex);
        if (late) return 0;
    }
    return n;
}

// Reads every event the publishers send, checking ids and per-publisher order.
static void *read_all(void *arg)
{
    Reader *rd = arg;
    char buf[BUF];
    unsigned long seq = 1, last_id = 0;
    long next_n[PUBLISHERS + 1] = {0};
    rd->in_order = rd->unique = 1;
    while (rd->count < PUBLISHERS * PER_PUBLISHER) {
        int n = reader_next(rd, &seq, buf, sizeof buf);
        if (n <= 0) break;
        unsigned long id;
        const char *d = strstr(buf, "\ndata: ");
        json_t *data = d ? json_loads(d + 7, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        long job = json_integer_value(json_object_get(data, "job_id"));
        long k = json_integer_value(json_object_get(data, "n"));
        json_decref(data);
        if (sscanf(buf, "id: %lu", &id) != 1 || id != last_id + 1) rd->unique = 0;
        last_id = id;
        if (job < 1 || job > PUBLISHERS || k != next_n[job]++) rd->in_order = 0;
        rd->count++;
    }
    return NULL;
}

static void test_concurrent(void)
{
    Hub *hub = hub_create(PUBLISHERS * PER_PUBLISHER);
    Reader rd = {.w.wake = reader_wake, .hub = hub};
    pthread_mutex_init(&rd.mutex, NULL);
    pthread_cond_init(&rd.cond, NULL);
    Publisher pubs[PUBLISHERS];
    pthread_t reader, threads[PUBLISHERS];
    pthread_create(&reader, NULL, read_all, &rd);
    for (int i = 0; i < PUBLISHERS; i++) {
        pubs[i] = (Publisher){.hub = hub, .job = i + 1};
        pthread_create(&threads[i], NULL, publish_many, &pubs[i]);
    }
    for (int i = 0; i < PUBLISHERS; i++) pthread_join(threads[i], NULL);
    pthread_join(reader, NULL);
    test_report(rd.count == PUBLISHERS * PER_PUBLISHER && rd.unique && rd.in_order,
                "concurrent publishers", "%d events, ids contiguous %d, per-publisher order %d",
                rd.count, rd.unique, rd.in_order);
    test_report(hub_next_seq(hub) == PUBLISHERS * PER_PUBLISHER + 1, "sequence total", "%lu",
                hub_next_seq(hub));
    hub_forget(hub, &rd.w);
    pthread_cond_destroy(&rd.cond);
    pthread_mutex_destroy(&rd.mutex);
    hub_destroy(hub);
}

int main(void)
{
    test_report(hub_create(0) == NULL, "capacity 0 refused", "NULL");
    test_order_and_format();
    test_wrap_around();
    test_job_filter();
    test_waiting();
    test_shutdown();
    test_names_and_sizes();
    test_concurrent();
    TEST_EXIT();
}
