// The HTTP server (http.h): libmicrohttpd on a small pool of threads, each serving many
// connections through epoll (so capacity ends at the open-file limit, not a thread count),
// with a per-address connection limit and the connection guard's deadline for request heads;
// the routing table (method + path pattern → handler, 404 and 405 in JSON), the token check,
// request bodies with a hard 1 MiB cap, and the answer counters behind /metrics. The answers
// themselves and query parameters are reply.c's. Handlers must not block their thread: the
// event streams suspend their connections instead (sse.c).
#include "http.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "api.h"
#include "base/sha256.h"
#include "conn_guard.h"

enum {
    CONNECTION_LIMIT = 16384,   // all addresses together; the open-file limit is raised to fit
    THREAD_POOL_SIZE = 4,       // more than the cores: a slow handler holds up only its share
    HEAD_DEADLINE_S = 10,       // to send a whole request head (conn_guard.h)
    CONNECTION_TIMEOUT_S = 120, // idle keep-alive connections; event streams send keepalives
    STATUS_MIN = 100, STATUS_MAX = 599,
    // A body without Content-Length is read (and dropped) past BODY_MAX up to this size, so
    // that its sender gets the 413; beyond it the connection is closed.
    BODY_DISCARD_MAX = 16 * BODY_MAX,
};

typedef void (*Handler)(Request *r);

typedef struct {
    const char *method;
    const char *pattern; // segments; {id}: a positive integer, {name}: a dataset name
    Handler handler;
} Route;

// "/*" is the dashboard's files: any path outside /api/ and /metrics.
static const Route ROUTES[] = {
    {"GET", "/api/v1/health", api_health},
    {"GET", "/api/v1/jobs", api_jobs_list},
    {"POST", "/api/v1/jobs", api_jobs_create},
    {"GET", "/api/v1/jobs/{id}", api_job_get},
    {"DELETE", "/api/v1/jobs/{id}", api_job_delete},
    {"POST", "/api/v1/jobs/{id}/cancel", api_job_cancel},
    {"POST", "/api/v1/jobs/{id}/pause", api_job_pause},
    {"POST", "/api/v1/jobs/{id}/resume", api_job_resume},
    {"GET", "/api/v1/jobs/{id}/metrics", api_job_metrics},
    {"GET", "/api/v1/jobs/{id}/events", sse_job_events},
    {"GET", "/api/v1/jobs/{id}/logs", api_job_logs},
    {"GET", "/api/v1/jobs/{id}/previews", api_job_previews},
    {"GET", "/api/v1/jobs/{id}/preview.png", api_job_preview_png},
    {"GET", "/api/v1/jobs/{id}/checkpoints", api_job_checkpoints},
    {"GET", "/api/v1/checkpoints/{id}", api_checkpoint_get},
    {"GET", "/api/v1/checkpoints/{id}/download", api_checkpoint_download},
    {"GET", "/api/v1/studies", api_studies_list},
    {"POST", "/api/v1/studies", api_studies_create},
    {"GET", "/api/v1/studies/{id}", api_study_get},
    {"DELETE", "/api/v1/studies/{id}", api_study_delete},
    {"POST", "/api/v1/studies/{id}/cancel", api_study_cancel},
    {"POST", "/api/v1/studies/{id}/pause", api_study_pause},
    {"POST", "/api/v1/studies/{id}/resume", api_study_resume},
    {"GET", "/api/v1/studies/{id}/table.csv", api_study_table_csv},
    {"GET", "/api/v1/studies/{id}/table.md", api_study_table_md},
    {"GET", "/api/v1/events", sse_all_events},
    {"GET", "/api/v1/datasets", api_datasets_list},
    {"POST", "/api/v1/datasets", api_datasets_create},
    {"GET", "/api/v1/datasets/{name}", api_dataset_get},
    {"DELETE", "/api/v1/datasets/{name}", api_dataset_delete},
    {"GET", "/api/v1/datasets/{name}/sample.png", api_dataset_sample},
    {"GET", "/metrics", api_prometheus},
    {"GET", "/*", static_serve},
};
enum { ROUTE_COUNT = sizeof ROUTES / sizeof ROUTES[0] };

struct Http {
    App *app;
    struct MHD_Daemon *daemon;
    ConnGuard *guard;
    int port;
    // Answers by route (ROUTE_COUNT: no route) and status.
    atomic_ulong answered[ROUTE_COUNT + 1][STATUS_MAX - STATUS_MIN + 1];
};

// ---------------------------------------------------------------- counters

void http_count_answer(Http *http, int route, unsigned status)
{
    if (status < STATUS_MIN || status > STATUS_MAX) return;
    atomic_fetch_add(&http->answered[route >= 0 ? route : ROUTE_COUNT][status - STATUS_MIN], 1);
}

// ---------------------------------------------------------------- routing

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static int method_matches(const Route *route, const char *method)
{
    return strcmp(route->method, method) == 0 ||
           (strcmp(route->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static int is_api_path(const char *url)
{
    return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0 ||
           strcmp(url, "/metrics") == 0;
}

// Matches one path segment [seg, seg + len) against a pattern segment.
static int segment_match(const char *pat, size_t plen, const char *seg, size_t len, Request *r)
{
    char text[DATASET_NAME_MAX + 1];
    int is_param = plen > 2 && pat[0] == '{';
    if (!is_param) return plen == len && memcmp(pat, seg, len) == 0;
    if (len == 0 || len > DATASET_NAME_MAX) return 0;
    memcpy(text, seg, len);
    text[len] = 0;
    if (strncmp(pat, "{id}", plen) == 0)
        return text[0] != '0' && parse_long(text, 1, LONG_MAX, &r->id) == 0;
    if (!dataset_name_valid(text)) return 0;
    memcpy(r->name, text, len + 1);
    return 1;
}

// Matches url against a pattern segment by segment, filling r->id and r->name.
static int route_match(const char *pattern, const char *url, Request *r)
{
    if (strcmp(pattern, "/*") == 0) return url[0] == '/' && !is_api_path(url);
    while (*pattern == '/' && *url == '/') {
        pattern++, url++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(url, "/");
        if (!segment_match(pattern, plen, url, len, r)) return 0;
        pattern += plen, url += len;
    }
    return *pattern == 0 && *url == 0;
}

// Finds the route of the request; otherwise answers 404, or 405 with Allow.
static int route_find(Request *r)
{
    char allow[64] = "";
    for (int i = 0; i < ROUTE_COUNT; i++) {
        if (!route_match(ROUTES[i].pattern, r->url, r)) continue;
        if (method_matches(&ROUTES[i], r->method)) return r->route = i;
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "",
                 strcmp(ROUTES[i].method, "GET") == 0 ? "GET, HEAD" : ROUTES[i].method);
    }
    r->id = 0, r->name[0] = 0;
    if (!*allow) {
        reply_error(r, 404, NULL, "no such resource: %.200s", r->url);
        return -1;
    }
    reply_error_header(r, 405, NULL, "method not allowed here", MHD_HTTP_HEADER_ALLOW, allow);
    return -1;
}

// ---------------------------------------------------------------- authentication

// Compares two strings in time independent of where they differ (both are hashed first, so
// the length of the token does not leak either).
static int token_equal(const char *given, const char *token)
{
    char a[65], b[65];
    Sha256 h;
    sha256_init(&h), sha256_update(&h, given, strlen(given)), sha256_final(&h, a);
    sha256_init(&h), sha256_update(&h, token, strlen(token)), sha256_final(&h, b);
    volatile unsigned char diff = 0;
    for (int i = 0; i < 64; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

// The token a request presents: "Authorization: Bearer T", or ?access_token=T on a GET.
static const char *presented_token(Request *r)
{
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ') auth++;
        return auth;
    }
    return is_get(r->method) ? query_string(r, "access_token") : NULL;
}

static int authorized(Request *r)
{
    const char *token = r->app->token;
    if (!token || !*token || !is_api_path(r->url)) return 1;
    const char *given = presented_token(r);
    if (given && token_equal(given, token)) return 1;
    reply_error_header(r, 401, NULL,
                       given ? "wrong token" : "a token is required: Authorization: Bearer <token>",
                       MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return 0;
}

// ---------------------------------------------------------------- requests

// Keeps up to BODY_MAX bytes of the body; beyond that the request is marked too large and the
// rest is dropped.
static void body_append(Request *r, const char *data, size_t len)
{
    if (r->body_too_large || len > BODY_MAX - r->body_len) {
        r->body_too_large = 1;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1) cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown) {
            r->body_too_large = 1; // answered as too large: nothing better to do
            return;
        }
        r->body = grown, r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = 0;
}

// libmicrohttpd's unescaping of paths and query arguments, except that %00 does not end the
// string early (/index.html%00.png would reach a handler as /index.html): it becomes a control
// character, which request_begin refuses in a path and parse_long in a number.
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls, (void)conn;
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0') s[i] = '\x01';
    return n;
}

static int has_control_character(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

// The first call for a request: headers only. Refuses a path with control characters,
// authenticates, routes and refuses a declared body over the limit before any of it is read.
static void request_begin(Request *r)
{
    if (has_control_character(r->url)) {
        reply_error(r, 400, NULL, "the path holds a control character (such as %%00)");
        return;
    }
    if (!authorized(r) || route_find(r) < 0) return;
    const char *length = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    long declared;
    if (length && (parse_long(length, 0, LONG_MAX, &declared) != 0 || declared > BODY_MAX))
        reply_error(r, 413, NULL, "the request body exceeds %d bytes", BODY_MAX);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    Http *http = cls;
    Request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *r = (Request){.app = http->app, .http = http, .conn = conn, .method = method,
                       .url = url, .route = -1, .result = MHD_YES};
        *con_cls = r;
        conn_guard_head_received(conn);
        request_begin(r);
        return r->result;
    }
    if (*upload_data_size) { // libmicrohttpd cannot answer before the body has been read
        r->body_seen += *upload_data_size;
        if (!r->responded) body_append(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r->body_seen > BODY_DISCARD_MAX ? MHD_NO : MHD_YES; // MHD_NO: close
    }
    if (r->responded) return r->result;
    if (r->body_too_large) {
        reply_error(r, 413, NULL, "the request body exceeds %d bytes", BODY_MAX);
        return r->result;
    }
    ROUTES[r->route].handler(r);
    if (!r->responded) reply_error(r, 500, NULL, "the handler gave no answer");
    return r->result;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)code;
    conn_guard_request_done(conn);
    Request *r = *con_cls;
    if (!r) return;
    free(r->body);
    free(r);
    *con_cls = NULL;
}

// At most LOG_LINES_PER_S of libmicrohttpd's lines a second: any client can make it write one
// (a malformed request), and the log must not be theirs to flood. The lines left out are
// counted in one line when their second is over (log_new_second, from the watchdog's tick or
// the next line).
enum { LOG_LINES_PER_S = 10 };

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static time_t log_second;
static int log_written;
static unsigned long log_dropped;

// Under log_mutex.
static void log_new_second(time_t now)
{
    if (now == log_second) return;
    if (log_dropped)
        fprintf(stderr, "simmimd: http: %lu more libmicrohttpd messages left out of the log\n",
                log_dropped);
    log_second = now, log_written = 0, log_dropped = 0;
}

static int log_allowed(void)
{
    pthread_mutex_lock(&log_mutex);
    log_new_second(time(NULL));
    int allowed = log_written < LOG_LINES_PER_S;
    if (allowed) log_written++;
    else log_dropped++;
    pthread_mutex_unlock(&log_mutex);
    return allowed;
}

// libmicrohttpd's error log, without the lines that only say a client went away (a browser
// closing an event stream, a download cut short) or was refused for holding too many
// connections: a normal disconnect is not an error, and a flood must not flood the log.
static void log_mhd_error(void *cls, const char *fmt, va_list ap)
{
    static const char *const disconnects[] = {
        "no longer available for sending", "forcibly closed by remote peer",
        "socket is not connected", "disconnected when reading request",
        "closed when reading request", // also the guard's cut of a late request head
        "closed by remote side",
        "connection limit", // a refused connection of a flood: one line each would be a flood
    };
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    for (size_t i = 0; i < sizeof disconnects / sizeof *disconnects; i++)
        if (strstr(message, disconnects[i])) return;
    size_t len = strlen(message);
    if (log_allowed())
        fprintf(stderr, "simmimd: http: %s%s", message,
                len && message[len - 1] == '\n' ? "" : "\n");
}

long http_prometheus(Http *http, char *buf, size_t cap, size_t len)
{
    static const char head[] =
        "# HELP simmimd_http_head_deadline_cuts_total Connections closed for not sending a "
        "request head in time.\n"
        "# TYPE simmimd_http_head_deadline_cuts_total counter\n"
        "simmimd_http_head_deadline_cuts_total %lu\n"
        "# HELP simmimd_http_requests_total HTTP requests answered, by route and status.\n"
        "# TYPE simmimd_http_requests_total counter\n";
    int n = snprintf(buf + len, cap - len, head, conn_guard_cut_count(http->guard));
    if (n < 0 || (size_t)n >= cap - len) return -1;
    len += (size_t)n;
    for (int route = 0; route <= ROUTE_COUNT; route++) {
        for (int s = STATUS_MIN; s <= STATUS_MAX; s++) {
            unsigned long count = atomic_load(&http->answered[route][s - STATUS_MIN]);
            if (!count) continue;
            const Route *rt = route < ROUTE_COUNT ? &ROUTES[route] : NULL;
            n = snprintf(buf + len, cap - len,
                         "simmimd_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %lu\n",
                         rt ? rt->method : "", rt ? rt->pattern : "", s, count);
            if (n < 0 || (size_t)n >= cap - len) return -1;
            len += (size_t)n;
        }
    }
    return (long)len;
}

// ---------------------------------------------------------------- the daemon

// The guard's tick, every second: event streams whose keepalive is due are resumed to send
// it, and the count of log lines left out in the last second is written.
static void every_second(void *arg)
{
    Http *http = arg;
    hub_wake_due(http->app->hub, hub_now());
    pthread_mutex_lock(&log_mutex);
    log_new_second(time(NULL));
    pthread_mutex_unlock(&log_mutex);
}

// Parses "host:port" or "[v6]:port" into a socket address (names resolve; an empty host
// means every interface).
static int parse_listen(const char *listen, struct sockaddr_storage *addr, char *err,
                        size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (!colon || hlen >= sizeof host) {
        snprintf(err, errlen, "listen address \"%s\": expected host:port", listen);
        return -1;
    }
    memcpy(host, listen, hlen);
    host[hlen] = 0;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = 0;
    }
    long port;
    if (parse_long(colon + 1, 0, 65535, &port)) {
        snprintf(err, errlen, "listen address \"%s\": the port must be 0 to 65535", listen);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "listen address \"%s\": %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

Http *http_start(App *app, const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    if (parse_listen(listen, &addr, err, errlen)) return NULL;
    Http *http = calloc(1, sizeof *http);
    if (!http) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    http->app = app;
    http->guard = conn_guard_start(HEAD_DEADLINE_S, every_second, http);
    if (!http->guard) {
        snprintf(err, errlen, "cannot start the connection watchdog");
        free(http);
        return NULL;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, http, MHD_OPTION_EXTERNAL_LOGGER, log_mhd_error, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_keeping_nul, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)THREAD_POOL_SIZE, MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, http->guard,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)app->connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not available?)", listen);
        conn_guard_stop(http->guard);
        free(http);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? info->port : 0;
    return http;
}

int http_port(const Http *http) { return http->port; }

void http_stop(Http *http)
{
    if (!http) return;
    hub_shutdown(http->app->hub); // resumes and ends the event streams
    MHD_stop_daemon(http->daemon);
    conn_guard_stop(http->guard);
    free(http);
}
