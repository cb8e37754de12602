// The event hub (server/hub.h): events come out in order with their sequence numbers and in
// the Server-Sent Events format; a reader that fell behind a small ring skips ahead to the
// oldest event kept; the job filter; a timeout with nothing to read; shutdown wakes a blocked
// reader; an event name that lives inside the stolen data, names made safe, job_id added;
// an event too large for the reader's buffer skipped; a sequence number from the future; and
// concurrent publishers: every event read once, each publisher's events in its order.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"
#include "test.h"

enum { BUF = 4096, PUBLISHERS = 4, PER_PUBLISHER = 2000 };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

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
    if (hub_wait(hub, seq, job_id, 0, buf, sizeof buf) <= 0) return 0;
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
    int n = hub_wait(hub, &seq, 0, 0, buf, sizeof buf);
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

static void test_timeout(void)
{
    Hub *hub = hub_create(8);
    char buf[BUF];
    unsigned long seq = hub_next_seq(hub);
    double t0 = now_s();
    int n = hub_wait(hub, &seq, 0, 80, buf, sizeof buf);
    double waited = now_s() - t0;
    test_report(n == 0 && waited >= 0.075 && waited < 2.0, "timeout", "%d after %.3f s", n, waited);
    hub_publish(hub, 3, "eval", NULL);
    seq = hub_next_seq(hub) + 100; // from the future (a restarted daemon): the next event
    n = hub_wait(hub, &seq, 0, 0, buf, sizeof buf);
    hub_publish(hub, 3, "eval", NULL);
    unsigned long id = read_event(hub, &seq, 0, NULL);
    test_report(n == 0 && id == 2, "future seq starts at the next event", "%d, then %lu", n, id);
    hub_destroy(hub);
}

typedef struct {
    Hub *hub;
    int result;
    double waited;
} Waiter;

static void *wait_long(void *arg)
{
    Waiter *w = arg;
    char buf[BUF];
    unsigned long seq = hub_next_seq(w->hub);
    double t0 = now_s();
    w->result = hub_wait(w->hub, &seq, 0, 10000, buf, sizeof buf);
    w->waited = now_s() - t0;
    return NULL;
}

static void test_shutdown(void)
{
    Hub *hub = hub_create(8);
    Waiter w = {.hub = hub};
    pthread_t t;
    pthread_create(&t, NULL, wait_long, &w);
    struct timespec pause = {0, 50 * 1000000L};
    nanosleep(&pause, NULL);
    hub_shutdown(hub);
    pthread_join(t, NULL);
    test_report(w.result == -1 && w.waited < 5.0, "shutdown wakes readers", "%d after %.3f s",
                w.result, w.waited);
    char buf[BUF];
    unsigned long seq = 1;
    test_report(hub_wait(hub, &seq, 0, 1000, buf, sizeof buf) == -1, "after shutdown", "-1");
    hub_destroy(hub);
}

static void test_names_and_sizes(void)
{
    Hub *hub = hub_create(8);
    char buf[BUF], small[64];
    unsigned long seq = 1;
    json_t *ev = json_pack("{s:s, s:i}", "event", "checkpoint", "step", 5);
    hub_publish(hub, 4, json_string_value(json_object_get(ev, "event")), ev); // name inside data
    hub_wait(hub, &seq, 0, 0, buf, sizeof buf);
    int ok = strstr(buf, "event: checkpoint\n") != NULL;
    test_report(ok, "name inside stolen data", "%s", oneline(buf));
    hub_publish(hub, 4, "bad\nname: x", json_pack("{s:i}", "job_id", 9));
    hub_wait(hub, &seq, 0, 0, buf, sizeof buf);
    ok = strstr(buf, "event: bad_name__x\n") && strstr(buf, "\"job_id\":9");
    test_report(ok, "unsafe name, job_id kept", "%s", oneline(buf));
    json_t *big = json_pack("{s:s}", "text", "0123456789012345678901234567890123456789");
    hub_publish(hub, 4, "big", big);
    hub_publish(hub, 4, "ok", NULL);
    int n = hub_wait(hub, &seq, 0, 0, small, sizeof small);
    ok = n > 0 && strstr(small, "event: ok\n") && seq == 5;
    test_report(ok, "too large skipped", "%s", oneline(small));
    hub_publish(hub, 4, "real", json_pack("{s:f}", "ratio", 0.6));
    hub_wait(hub, &seq, 0, 0, buf, sizeof buf);
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

typedef struct {
    Hub *hub;
    int count, in_order, unique;
} Reader;

// Reads every event the publishers send, checking ids and per-publisher order.
static void *read_all(void *arg)
{
    Reader *rd = arg;
    char buf[BUF];
    unsigned long seq = 1, last_id = 0;
    long next_n[PUBLISHERS + 1] = {0};
    rd->in_order = rd->unique = 1;
    while (rd->count < PUBLISHERS * PER_PUBLISHER) {
        int n = hub_wait(rd->hub, &seq, 0, 5000, buf, sizeof buf);
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
    Reader rd = {.hub = hub};
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
    hub_destroy(hub);
}

int main(void)
{
    test_report(hub_create(0) == NULL, "capacity 0 refused", "NULL");
    test_order_and_format();
    test_wrap_around();
    test_job_filter();
    test_timeout();
    test_shutdown();
    test_names_and_sizes();
    test_concurrent();
    TEST_EXIT();
}
