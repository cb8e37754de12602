// Server-Sent Events: GET /api/v1/jobs/{id}/events (one job; it opens with an "event: job"
// snapshot of the job) and GET /api/v1/events (every job). Each stream is a libmicrohttpd
// callback response whose reader never blocks the server thread it shares with other
// connections: with nothing to send, it suspends its connection and registers with the hub,
// which resumes it at the next event, when a ": keepalive" comment is due (KEEPALIVE_S after
// the last thing sent; http.c's watchdog asks the hub every second) or at shutdown. A stream
// resumes after Last-Event-ID and ends when the hub shuts down, or within a second of its
// client leaving: a suspended connection is not watched by libmicrohttpd, so the hub's tick
// asks each parked stream whether its socket reached the end (stream_gone), and the stream,
// resumed, ends. Without that a closed stream stayed until its second keepalive (the first
// one's send succeeds), 30 s, holding its buffers and a connection of its address's limit.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "base/json_out.h"
#include "store.h"

enum { SSE_BLOCK = 64 << 10, KEEPALIVE_S = 15, RETRY_MS = 3000 };

typedef struct {
    HubWaiter waiter;     // first: the hub hands it back to wake and park
    Hub *hub;
    struct MHD_Connection *conn;
    int fd;               // the connection's socket (-1: unknown), open while the stream is
    long job_id;          // 0: every job
    unsigned long seq;    // the next event to send
    double last_sent;     // hub_now() when something was last queued
    size_t len, off;      // buf[off, len) is not sent yet
    char buf[SSE_BLOCK];
} Stream;

// Under the hub's lock (hub.h): the suspension comes before any wake can.
static void stream_park(HubWaiter *w) { MHD_suspend_connection(((Stream *)w)->conn); }
static void stream_wake(HubWaiter *w) { MHD_resume_connection(((Stream *)w)->conn); }

// Whether the client closed its end of the connection or reset it: a peek finds the end of
// the stream or an error (a client sends nothing more on an event stream).
static int stream_gone(HubWaiter *w)
{
    int fd = ((Stream *)w)->fd;
    if (fd < 0) return 0; // its socket unknown: left to the keepalives
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// The next thing to send into buf: an event, a keepalive when one is due, 0 when the stream
// parked until there is something (its connection suspended), -1 at shutdown.
static int stream_next(Stream *s)
{
    double now = hub_now(), due = s->last_sent + KEEPALIVE_S;
    int keepalive_due = now >= due;
    int n = hub_read(s->hub, &s->seq, s->job_id, s->buf, sizeof s->buf,
                     keepalive_due ? NULL : &s->waiter, due, stream_park);
    if (n == 0 && keepalive_due) n = snprintf(s->buf, sizeof s->buf, ": keepalive\n\n");
    if (n > 0) s->last_sent = now;
    return n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    Stream *s = cls;
    if (s->off == s->len) {
        if (stream_gone(&s->waiter)) return MHD_CONTENT_READER_END_OF_STREAM;
        int n = stream_next(s);
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (n == 0) return 0; // suspended: resumed by the hub
        s->len = (size_t)n, s->off = 0;
    }
    size_t k = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

static void stream_free(void *cls)
{
    Stream *s = cls;
    hub_forget(s->hub, &s->waiter);
    free(s);
}

// The first event to send: the one after Last-Event-ID, or the next one published.
static unsigned long first_seq(Request *r)
{
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_LAST_EVENT_ID);
    unsigned long next = hub_next_seq(r->app->hub);
    long id;
    if (last && parse_long(last, 0, LONG_MAX - 1, &id) == 0 && (unsigned long)id < next)
        return (unsigned long)id + 1;
    return next; // none, or one from before a restart of the daemon

}

// Starts a stream at event seq; snapshot (stolen, may be NULL; read after seq was taken, so
// nothing falls between them) is sent first as "event: job".
static void stream_start(Request *r, long job_id, unsigned long seq, json_t *snapshot)
{
    Stream *s = malloc(sizeof *s);
    size_t len;
    char *text = snapshot ? json_out(snapshot, &len) : NULL;
    json_decref(snapshot);
    if (!s) {
        free(text);
        reply(r, 500, NULL);
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *s = (Stream){.waiter = {.wake = stream_wake, .gone = stream_gone}, .hub = r->app->hub,
                  .conn = r->conn, .fd = info ? info->connect_fd : -1, .job_id = job_id,
                  .seq = seq, .last_sent = hub_now()};
    int n = snprintf(s->buf, sizeof s->buf, "retry: %d\n: connected\n\n", RETRY_MS);
    if (text && (size_t)n + len + 32 < sizeof s->buf)
        n += snprintf(s->buf + n, sizeof s->buf - (size_t)n, "event: job\ndata: %s\n\n", text);
    free(text);
    s->len = (size_t)n;
    struct MHD_Response *res =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, stream_read, s,
                                          stream_free);
    if (!res) {
        free(s);
        reply(r, 500, NULL);
        return;
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(res, "X-Accel-Buffering", "no"); // nginx: do not buffer
    reply(r, 200, res);
}

void sse_job_events(Request *r)
{
    unsigned long seq = first_seq(r);
    json_t *job = store_job_json(r->app->db, r->id);
    if (job)
        stream_start(r, r->id, seq, job);
    else
        reply_error(r, 404, NULL, "no job %ld", r->id);
}

void sse_all_events(Request *r)
{
    stream_start(r, 0, first_seq(r), NULL);
}
