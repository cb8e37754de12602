// Answers and query parameters for the handlers (api.h): the one way every answer is queued
// (reply, counted for /metrics by http.c), JSON bodies, JSON error bodies ({"error": {code,
// message, field}}), plain text, and strict integer query parameters.
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "base/json_out.h"

void reply(Request *r, unsigned status, struct MHD_Response *response)
{
    if (r->responded) { // a handler bug; keep the first answer
        fprintf(stderr, "simmimd: http: second answer (%u) to %s %s ignored\n", status,
                r->method, r->url);
        if (response) MHD_destroy_response(response);
        return;
    }
    r->responded = 1;
    if (!response) {
        r->result = MHD_NO; // out of memory: libmicrohttpd closes the connection
        return;
    }
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    r->result = MHD_queue_response(r->conn, status, response);
    MHD_destroy_response(response);
    http_count_answer(r->http, r->route, status);
}

void reply_text(Request *r, unsigned status, const char *content_type, const char *text,
                size_t len)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (res) {
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    reply(r, status, res);
}

static const char *error_code(unsigned status)
{
    switch (status) {
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 409: return "conflict";
    case 413: return "too_large";
    default: return status >= 500 ? "internal" : "invalid";
    }
}

// A response holding body (stolen) as one line of compact JSON; NULL when out of memory.
static struct MHD_Response *json_response(json_t *body)
{
    size_t len;
    char *text = body ? json_out(body, &len) : NULL;
    json_decref(body);
    if (!text) return NULL;
    text[len] = '\n'; // over the NUL: the response has an explicit length
    struct MHD_Response *res =
        MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_FREE);
    if (!res) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return res;
}

void reply_json(Request *r, unsigned status, json_t *body)
{
    if (!body) {
        reply_error(r, 500, NULL, "the record could not be read (see the daemon's log)");
        return;
    }
    reply(r, status, json_response(body));
}

void reply_error_header(Request *r, unsigned status, const char *field,
                               const char *message, const char *header, const char *value)
{
    if (status >= 500)
        fprintf(stderr, "simmimd: %s %s: %u %s\n", r->method, r->url, status, message);
    // A message may quote the request (its path, a query value), which need not be UTF-8.
    json_t *e = json_pack("{s:s, s:o}", "code", error_code(status), "message", json_text(message));
    if (e && field && *field) json_object_set_new(e, "field", json_string(field));
    struct MHD_Response *res = e ? json_response(json_pack("{s:o}", "error", e)) : NULL;
    if (res && header) MHD_add_response_header(res, header, value);
    reply(r, status, res);
}

void reply_error(Request *r, unsigned status, const char *field, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    reply_error_header(r, status, field, message, NULL, NULL);
}

void api_error_set(ApiError *e, unsigned status, const char *field, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    text_one_line(e->field);
    text_one_line(e->message);
}

void reply_api_error(Request *r, const ApiError *e)
{
    reply_error_header(r, e->status, e->field, e->message, NULL, NULL);
}

// ---------------------------------------------------------------- query parameters

const char *query_string(Request *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int query_long(Request *r, const char *key, long def, long min, long max, long *out)
{
    const char *s = query_string(r, key);
    if (!s) {
        *out = def;
        return 0;
    }
    if (parse_long(s, min, max, out) == 0) return 0;
    reply_error(r, 400, key, "%s: must be an integer from %ld to %ld (got \"%.64s\")", key, min,
                max, s);
    return -1;
}
