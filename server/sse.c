// Server-Sent Events: GET /api/v1/jobs/{id}/events (one job; it opens with an "event: job"
// snapshot of the job) and GET /api/v1/events (every job). Each stream is a libmicrohttpd
// callback response whose reader blocks in hub_wait on its connection's own thread, sends a
// ": keepalive" comment when nothing happened for KEEPALIVE_MS, resumes after Last-Event-ID,
// and ends when the hub shuts down.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "base/json_out.h"
#include "store.h"

enum { SSE_BLOCK = 64 << 10, KEEPALIVE_MS = 15000, RETRY_MS = 3000 };

typedef struct {
    Hub *hub;
    long job_id;          // 0: every job
    unsigned long seq;    // the next event to send
    size_t len, off;      // buf[off, len) is not sent yet
    char buf[SSE_BLOCK];
} Stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    Stream *s = cls;
    if (s->off == s->len) {
        int n = hub_wait(s->hub, &s->seq, s->job_id, KEEPALIVE_MS, s->buf, sizeof s->buf);
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (n == 0) n = snprintf(s->buf, sizeof s->buf, ": keepalive\n\n");
        s->len = (size_t)n, s->off = 0;
    }
    size_t k = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, k);
    s->off += k;
    return (ssize_t)k;
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
    *s = (Stream){.hub = r->app->hub, .job_id = job_id, .seq = seq};
    int n = snprintf(s->buf, sizeof s->buf, "retry: %d\n: connected\n\n", RETRY_MS);
    if (text && (size_t)n + len + 32 < sizeof s->buf)
        n += snprintf(s->buf + n, sizeof s->buf - (size_t)n, "event: job\ndata: %s\n\n", text);
    free(text);
    s->len = (size_t)n;
    struct MHD_Response *res =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, stream_read, s, free);
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
