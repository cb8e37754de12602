// The HTTP layer (server/http.h) in process, on a free loopback port, with a real database, hub
// and supervisor (whose "trainer" is /bin/false, so jobs fail at once): routing (404, 405 with
// Allow, ids that are not positive integers), the token (header, ?access_token= on GETs only,
// the dashboard open), the 1 MiB limit answered before the body is sent, the JSON error body,
// dataset registration against the data roots (outside, "..", a symlink out, missing, a bad
// name, a taken name), the sample PNG with ETag, If-None-Match and byte ranges, job submission
// errors naming their field, a job's life to deletion, the dashboard's files and traversal,
// /metrics, and an event stream that receives what the hub publishes.
#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "store.h"
#include "test.h"

enum { TRAIN_IMAGES = 40, TEST_IMAGES = 16, SIDE = 8, MAX_REPLY = 1 << 20 };

static int port;
static char root[64];

typedef struct {
    int status;
    char head[8192];  // status line and headers
    char *body;       // NUL-terminated
    size_t body_len;
} Reply;

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 10};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        data += n, len -= (size_t)n;
    }
    return 0;
}

// Reads until the server closes (Connection: close) and splits head and body.
static int read_reply(int fd, Reply *r)
{
    char *buf = malloc(MAX_REPLY + 1);
    size_t len = 0;
    ssize_t n;
    while (buf && len < MAX_REPLY && (n = recv(fd, buf + len, MAX_REPLY - len, 0)) > 0)
        len += (size_t)n;
    if (!buf) return -1;
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    memset(r, 0, sizeof *r);
    if (!end || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    size_t head = (size_t)(end - buf);
    snprintf(r->head, sizeof r->head, "%.*s", (int)head, buf);
    r->body_len = len - head - 4;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, end + 4, r->body_len);
    r->body[r->body_len] = 0;
    free(buf);
    return 0;
}

// One request on a new connection; headers: extra lines, each ending in \r\n.
static Reply request(const char *method, const char *path, const char *headers, const char *body)
{
    Reply r = {0};
    char head[4096];
    int fd = connect_server();
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s"
             "Content-Length: %zu\r\n\r\n", method, path, headers ? headers : "",
             body ? strlen(body) : 0);
    if (fd < 0 || send_all(fd, head, strlen(head)) || (body && send_all(fd, body, strlen(body))) ||
        read_reply(fd, &r))
        r.status = -1;
    if (fd >= 0) close(fd);
    return r;
}

// The body for a one-line report: at most 200 bytes, control and non-ASCII bytes as '.'.
static const char *shown(const Reply *r)
{
    static __thread char out[201];
    size_t n = 0;
    for (; r->body && n < r->body_len && n < sizeof out - 1; n++) {
        unsigned char c = (unsigned char)r->body[n];
        out[n] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    out[n] = 0;
    return out;
}

static const char AUTH[] = "Authorization: Bearer tok\r\n";

static Reply api(const char *method, const char *path, const char *body)
{
    return request(method, path, AUTH, body);
}

// The value of a response header (case-sensitive name as libmicrohttpd writes it), or "".
static const char *header_value(const Reply *r, const char *name, char *out, size_t cap)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr(r->head, key);
    out[0] = 0;
    if (p) snprintf(out, cap, "%.*s", (int)strcspn(p + strlen(key), "\r"), p + strlen(key));
    return out;
}

// The error body's code and field ("" when absent).
static int error_is(const Reply *r, int status, const char *code, const char *field)
{
    json_t *j = json_loads(r->body, 0, NULL), *e = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *f = json_string_value(json_object_get(e, "field"));
    int ok = r->status == status && c && strcmp(c, code) == 0 &&
             strcmp(f ? f : "", field ? field : "") == 0 && json_object_get(e, "message");
    json_decref(j);
    return ok;
}

static void check_error(const char *name, Reply r, int status, const char *code, const char *field)
{
    test_report(error_is(&r, status, code, field), name, "%d %s", r.status, shown(&r));
    free(r.body);
}

static void check_status(const char *name, Reply r, int status)
{
    test_report(r.status == status, name, "%d %s", r.status, shown(&r));
    free(r.body);
}

// ------------------------------------------------------------------ fixtures

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) fwrite(data, 1, len, f), fclose(f);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

// A tiny IDX dataset: `count` SIDE×SIDE images (pseudo-random) and labels i % 4.
static void write_idx_split(const char *dir, const char *prefix, int count)
{
    char path[256];
    size_t n = 16 + (size_t)count * SIDE * SIDE;
    uint8_t *img = malloc(n), *lab = malloc(8 + (size_t)count);
    uint32_t state = 12345u + (uint32_t)count;
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)count), put_be32(img + 8, SIDE),
        put_be32(img + 12, SIDE);
    for (size_t i = 16; i < n; i++) state = state * 1664525u + 1013904223u, img[i] = (uint8_t)(state >> 24);
    put_be32(lab, 0x801), put_be32(lab + 4, (uint32_t)count);
    for (int i = 0; i < count; i++) lab[8 + i] = (uint8_t)(i % 4);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    write_file(path, img, n);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_file(path, lab, 8 + (size_t)count);
    free(img);
    free(lab);
}

static void make_tree(void)
{
    static const char *const dirs[] = {"state", "state/runs", "web", "data", "data/tiny",
                                       "outside", "outside/tiny"};
    char path[256];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        mkdir(path, 0755);
    }
    snprintf(path, sizeof path, "%s/data/tiny", root);
    write_idx_split(path, "train", TRAIN_IMAGES);
    write_idx_split(path, "t10k", TEST_IMAGES);
    snprintf(path, sizeof path, "%s/outside/tiny", root);
    write_idx_split(path, "train", TRAIN_IMAGES);
    write_idx_split(path, "t10k", TEST_IMAGES);
    char target[256];
    snprintf(target, sizeof target, "%s/outside/tiny", root);
    snprintf(path, sizeof path, "%s/data/escape", root);
    if (symlink(target, path) != 0) perror("symlink");
    snprintf(path, sizeof path, "%s/web/index.html", root);
    write_file(path, "<h1>dashboard</h1>", 18);
    snprintf(path, sizeof path, "%s/web/app.js", root);
    write_file(path, "let x = 1;", 10);
    snprintf(path, sizeof path, "%s/web/.secret", root);
    write_file(path, "no", 2);
    snprintf(path, sizeof path, "%s/secret.txt", root);
    write_file(path, "no", 2);
}

// ------------------------------------------------------------------ checks

static void test_routing_and_auth(void)
{
    char allow[128];
    Reply r = request("GET", "/api/v1/jobs", NULL, NULL);
    check_error("no token: 401", r, 401, "unauthorized", NULL);
    check_error("wrong token: 401", request("GET", "/api/v1/jobs", "Authorization: Bearer nope\r\n",
                                            NULL), 401, "unauthorized", NULL);
    check_status("bearer token", api("GET", "/api/v1/jobs", NULL), 200);
    check_status("access_token on a GET", request("GET", "/api/v1/jobs?access_token=tok", NULL,
                                                  NULL), 200);
    check_error("access_token on a POST: 401", request("POST", "/api/v1/jobs?access_token=tok",
                                                        NULL, "{}"), 401, "unauthorized", NULL);
    check_status("the dashboard needs no token", request("GET", "/", NULL, NULL), 200);
    r = api("GET", "/api/v1/health", NULL);
    json_t *j = json_loads(r.body, 0, NULL);
    test_report(r.status == 200 && json_string_value(json_object_get(j, "version")) &&
                json_object_get(json_object_get(j, "jobs"), "queued"),
                "health", "%d %s", r.status, shown(&r));
    json_decref(j);
    free(r.body);
    check_error("unknown route: 404", api("GET", "/api/v1/nothing", NULL), 404, "not_found", NULL);
    check_error("id 0: 404", api("GET", "/api/v1/jobs/0", NULL), 404, "not_found", NULL);
    check_error("id -1: 404", api("GET", "/api/v1/jobs/-1", NULL), 404, "not_found", NULL);
    check_error("id abc: 404", api("GET", "/api/v1/jobs/abc", NULL), 404, "not_found", NULL);
    check_error("unknown job: 404", api("GET", "/api/v1/jobs/99", NULL), 404, "not_found", NULL);
    r = api("PUT", "/api/v1/jobs", "{}");
    header_value(&r, "Allow", allow, sizeof allow);
    test_report(error_is(&r, 405, "invalid", NULL) && strcmp(allow, "GET, HEAD, POST") == 0,
                "wrong method: 405 with Allow", "%d Allow: %s", r.status, allow);
    free(r.body);
}

static void test_body_limit(void)
{
    // Only the headers are sent: the answer must not wait for the declared 2 MB.
    Reply r = {0};
    int fd = connect_server();
    const char head[] = "POST /api/v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer tok\r\n"
                        "Content-Length: 2000000\r\n\r\n";
    if (fd < 0 || send_all(fd, head, sizeof head - 1) || read_reply(fd, &r)) r.status = -1;
    if (fd >= 0) close(fd);
    check_error("body over 1 MiB: 413 before it is sent", r, 413, "too_large", NULL);
    // Without a Content-Length (chunked), the body is read and dropped past 1 MiB, then 413.
    size_t n = (1 << 20) + 10;
    char *big = malloc(n), size[32];
    memset(big, ' ', n);
    const char chunked[] = "POST /api/v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer tok\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
    snprintf(size, sizeof size, "%zx\r\n", n);
    fd = connect_server();
    if (fd < 0 || send_all(fd, chunked, sizeof chunked - 1) || send_all(fd, size, strlen(size)) ||
        send_all(fd, big, n) || send_all(fd, "\r\n0\r\n\r\n", 7) || read_reply(fd, &r))
        r.status = -1;
    if (fd >= 0) close(fd);
    check_error("chunked body over 1 MiB: 413", r, 413, "too_large", NULL);
    free(big);
}

static void test_dataset_routes(void)
{
    char body[512], etag[128], range[128], length[64], hdr[256];
    static const struct {
        const char *name, *path, *code, *field;
        int status;
    } bad[] = {
        {"tiny", "%s/outside/tiny", "forbidden", "path", 403},
        {"tiny", "%s/data/../outside/tiny", "forbidden", "path", 403},
        {"tiny", "%s/data/escape", "forbidden", "path", 403},
        {"tiny", "%s/data/missing", "invalid", "path", 400},
        {"tiny", "%s/data", "invalid", "path", 400},
        {"ti/ny", "%s/data/tiny", "invalid", "name", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256], name[96];
        snprintf(path, sizeof path, bad[i].path, root);
        snprintf(body, sizeof body, "{\"name\": \"%s\", \"format\": \"idx\", \"path\": \"%s\"}",
                 bad[i].name, path);
        snprintf(name, sizeof name, "dataset refused: %s", bad[i].path + 2);
        check_error(name, api("POST", "/api/v1/datasets", body), bad[i].status, bad[i].code,
                    bad[i].field);
    }
    snprintf(body, sizeof body, "{\"name\": \"tiny\", \"format\": \"idx\", \"path\": \"%s/data/tiny\"}",
             root);
    Reply r = api("POST", "/api/v1/datasets", body);
    json_t *j = json_loads(r.body, 0, NULL);
    test_report(r.status == 201 && json_integer_value(json_object_get(j, "train_count")) == TRAIN_IMAGES &&
                json_integer_value(json_object_get(j, "image_size")) == SIDE &&
                !strcmp(json_string_value(json_object_get(j, "state")), "ready") &&
                json_integer_value(json_object_get(j, "scanned")) == TRAIN_IMAGES + TEST_IMAGES,
                "dataset registered: scanned within the wait, ready", "%d %s", r.status, shown(&r));
    json_decref(j);
    free(r.body);
    check_error("taken name: 409", api("POST", "/api/v1/datasets", body), 409, "conflict", "name");
    // The shards' globs: required with format shards, a file name pattern inside the path,
    // refused for the other formats.
    static const struct {
        const char *extra, *format, *field;
    } globs[] = {{"", "shards", "train"},
                 {", \"train\": \"../x*.tar\"", "shards", "train"},
                 {", \"train\": \"sub/x*.tar\"", "shards", "train"},
                 {", \"train\": \"x*.tar\", \"test\": \"..\"", "shards", "test"},
                 {", \"train\": 3", "shards", "train"},
                 {", \"train\": \"x*.tar\"", "idx", "train"},
                 {", \"test\": \"x*.tar\"", "imagefolder", "test"}};
    for (size_t i = 0; i < sizeof globs / sizeof *globs; i++) {
        char name[96], glob_body[512];
        snprintf(glob_body, sizeof glob_body, "{\"name\": \"g\", \"format\": \"%s\", \"path\": "
                 "\"%s/data/tiny\"%s}", globs[i].format, root, globs[i].extra);
        snprintf(name, sizeof name, "dataset globs refused: %s%s", globs[i].format, globs[i].extra);
        check_error(name, api("POST", "/api/v1/datasets", glob_body), 400, "invalid", globs[i].field);
    }
    snprintf(body, sizeof body, "{\"name\": \"g\", \"format\": \"shards\", \"path\": "
             "\"%s/data/tiny\", \"train\": \"none-*.tar\"}", root);
    check_error("shards: no match within the wait: 400, nothing kept",
                api("POST", "/api/v1/datasets", body), 400, "invalid", "train");
    check_error("shards: the refused registration is not kept", api("GET", "/api/v1/datasets/g",
                NULL), 404, "not_found", NULL);

    r = api("GET", "/api/v1/datasets/tiny/sample.png", NULL);
    header_value(&r, "ETag", etag, sizeof etag);
    header_value(&r, "Content-Length", length, sizeof length);
    size_t size = r.body_len;
    test_report(r.status == 200 && size > 8 && memcmp(r.body, "\x89PNG", 4) == 0 && *etag &&
                (size_t)atol(length) == size, "sample.png", "%d %zu bytes, ETag %s", r.status, size,
                etag);
    free(r.body);
    snprintf(hdr, sizeof hdr, "%sIf-None-Match: %s\r\n", AUTH, etag);
    check_status("If-None-Match: 304", request("GET", "/api/v1/datasets/tiny/sample.png", hdr, NULL), 304);
    snprintf(hdr, sizeof hdr, "%sRange: bytes=0-9\r\n", AUTH);
    r = request("GET", "/api/v1/datasets/tiny/sample.png", hdr, NULL);
    char want[64];
    snprintf(want, sizeof want, "bytes 0-9/%zu", size);
    header_value(&r, "Content-Range", range, sizeof range);
    test_report(r.status == 206 && r.body_len == 10 && strcmp(range, want) == 0, "range a-b: 206",
                "%d %zu bytes, %s", r.status, r.body_len, range);
    free(r.body);
    snprintf(hdr, sizeof hdr, "%sRange: bytes=-4\r\n", AUTH);
    r = request("GET", "/api/v1/datasets/tiny/sample.png", hdr, NULL);
    test_report(r.status == 206 && r.body_len == 4, "range -n: 206", "%d %zu", r.status, r.body_len);
    free(r.body);
    snprintf(hdr, sizeof hdr, "%sRange: bytes=%zu-\r\n", AUTH, size);
    r = request("GET", "/api/v1/datasets/tiny/sample.png", hdr, NULL);
    header_value(&r, "Content-Range", range, sizeof range);
    snprintf(want, sizeof want, "bytes */%zu", size);
    test_report(r.status == 416 && strcmp(range, want) == 0, "unsatisfiable range: 416", "%d %s",
                r.status, range);
    free(r.body);
}

// Polls a job until it reaches a final state; its state.
static void wait_finished(long id, char *state, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%ld", id);
    for (int i = 0; i < 200; i++) {
        Reply r = api("GET", path, NULL);
        json_t *j = json_loads(r.body, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "state"));
        snprintf(state, cap, "%s", s ? s : "?");
        json_decref(j);
        free(r.body);
        if (strcmp(state, "failed") == 0 || strcmp(state, "succeeded") == 0 ||
            strcmp(state, "cancelled") == 0)
            return;
        struct timespec t = {0, 50 * 1000000L};
        nanosleep(&t, NULL);
    }
}

static void test_jobs(void)
{
    char path[64], state[32];
    check_error("malformed JSON: 400", api("POST", "/api/v1/jobs", "{bad"), 400, "invalid", NULL);
    check_error("unknown field: 400", api("POST", "/api/v1/jobs", "{\"foo\": 1}"), 400, "invalid", "foo");
    check_error("wrong type: 400", api("POST", "/api/v1/jobs", "{\"dataset\": \"tiny\", \"train\": {\"epochs\": \"x\"}}"),
                400, "invalid", "train.epochs");
    check_error("unknown dataset: 404", api("POST", "/api/v1/jobs", "{\"dataset\": \"nope\"}"), 404,
                "not_found", "dataset");
    check_error("dataset by path: 400", api("POST", "/api/v1/jobs",
                "{\"dataset\": {\"format\": \"idx\", \"path\": \"/tmp\"}}"), 400, "invalid", "dataset");
    check_error("batch over the dataset: 400", api("POST", "/api/v1/jobs", "{\"dataset\": \"tiny\"}"),
                400, "invalid", "train.batch_size");
    check_error("init_from an unknown job: 404", api("POST", "/api/v1/jobs",
                "{\"kind\": \"finetune\", \"dataset\": \"tiny\", \"finetune\": {\"init_from\": 42}}"),
                404, "not_found", "finetune.init_from");
    check_error("init_from a path: 400", api("POST", "/api/v1/jobs",
                "{\"kind\": \"finetune\", \"dataset\": \"tiny\", \"finetune\": {\"init_from\": {\"path\": \"/x\"}}}"),
                400, "invalid", "finetune.init_from");
    Reply r = api("POST", "/api/v1/jobs", "{\"dataset\": \"tiny\", \"train\": {\"batch_size\": 8}}");
    json_t *j = json_loads(r.body, 0, NULL);
    long id = json_integer_value(json_object_get(j, "id"));
    test_report(r.status == 201 && id > 0, "job submitted", "%d %s", r.status, shown(&r));
    json_decref(j);
    free(r.body);
    check_error("finetune from a job without checkpoints: 409", api("POST", "/api/v1/jobs",
                "{\"kind\": \"finetune\", \"dataset\": \"tiny\", \"finetune\": {\"init_from\": 1}}"),
                409, "conflict", "finetune.init_from");
    wait_finished(id, state, sizeof state);
    test_report(strcmp(state, "failed") == 0, "the job failed (/bin/false)", "%s", state);
    snprintf(path, sizeof path, "/api/v1/jobs/%ld/resume", id);
    check_error("resume a failed job: 409", api("POST", path, NULL), 409, "conflict", NULL);
    snprintf(path, sizeof path, "/api/v1/jobs/%ld/logs?tail=0", id);
    check_error("tail=0: 400", api("GET", path, NULL), 400, "invalid", "tail");
    snprintf(path, sizeof path, "/api/v1/jobs/%ld", id);
    check_status("delete a finished job: 204", api("DELETE", path, NULL), 204);
    check_error("deleted: 404", api("GET", path, NULL), 404, "not_found", NULL);
    check_status("delete the dataset: 204", api("DELETE", "/api/v1/datasets/tiny", NULL), 204);
}

static void test_static_and_metrics(void)
{
    char type[128];
    Reply r = request("GET", "/", NULL, NULL);
    test_report(r.status == 200 && strstr(r.body, "dashboard"), "index.html at /", "%d", r.status);
    free(r.body);
    r = request("GET", "/app.js", NULL, NULL);
    header_value(&r, "Content-Type", type, sizeof type);
    test_report(r.status == 200 && strncmp(type, "text/javascript", 15) == 0, "app.js", "%d %s",
                r.status, type);
    free(r.body);
    check_error("dotfile: 404", request("GET", "/.secret", NULL, NULL), 404, "not_found", NULL);
    check_error("traversal: 404", request("GET", "/../secret.txt", NULL, NULL), 404, "not_found", NULL);
    check_error("encoded traversal: 404", request("GET", "/%2e%2e/secret.txt", NULL, NULL), 404,
                "not_found", NULL);
    check_error("static POST: 405", request("POST", "/index.html", NULL, "x"), 405, "invalid", NULL);
    r = api("GET", "/metrics", NULL);
    test_report(r.status == 200 && strstr(r.body, "simmimd_http_requests_total{") &&
                strstr(r.body, "simmimd_jobs{"), "/metrics", "%d", r.status);
    free(r.body);
}

static void test_event_stream(Hub *hub)
{
    char buf[8192];
    size_t len = 0;
    int fd = connect_server();
    const char head[] = "GET /api/v1/events?access_token=tok HTTP/1.1\r\nHost: test\r\n\r\n";
    int ok = fd >= 0 && send_all(fd, head, sizeof head - 1) == 0;
    int published = 0;
    ssize_t n;
    while (ok && len < sizeof buf - 1 && (n = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0) {
        len += (size_t)n;
        buf[len] = 0;
        if (!published && strstr(buf, ": connected")) {
            hub_publish(hub, 5, "progress", json_pack("{s:i}", "step", 10));
            published = 1;
        }
        if (strstr(buf, "event: progress\ndata: {\"step\":10,\"job_id\":5}")) break;
    }
    if (fd >= 0) close(fd);
    test_report(strstr(buf, "text/event-stream") && strstr(buf, "event: progress\ndata: {\"step\":10"),
                "event stream", "%zu bytes", len);
}

int main(void)
{
    char err[1024], path[512], state[128], web[128], data[128];
    snprintf(root, sizeof root, "/tmp/test_http.XXXXXX");
    if (!mkdtemp(root)) return 1;
    make_tree();
    snprintf(state, sizeof state, "%s/state", root);
    snprintf(web, sizeof web, "%s/web", root);
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(path, sizeof path, "%s/simmimd.db", state);
    Db *db = db_open(path, err, sizeof err);
    Hub *hub = hub_create(256);
    SupervisorConfig sc = {.train_binary = "/bin/false", .state_dir = state, .max_jobs = 1};
    Supervisor *sup = db && hub ? supervisor_start(&sc, db, hub, err, sizeof err) : NULL;
    // Datasets are scanned by build/simmim-data (make test builds it first; tests run from the
    // repository's root).
    char data_binary[PATH_MAX];
    const char *data_roots[] = {data};
    ScannerConfig scfg = {.data_binary = realpath("build/simmim-data", data_binary)
                                             ? data_binary : "build/simmim-data",
                          .state_dir = state, .data_roots = data_roots, .data_root_count = 1};
    Scanner *scanner = sup ? scanner_start(&scfg, db, hub, err, sizeof err) : NULL;
    App app = {.db = db, .hub = hub, .supervisor = sup, .scanner = scanner, .state_dir = state,
               .web_dir = web, .data_roots = {data}, .data_root_count = 1, .token = "tok",
               .started_at = 0};
    Http *http = scanner ? http_start(&app, "127.0.0.1:0", err, sizeof err) : NULL;
    test_report(http != NULL, "http_start on port 0", "%s", http ? "" : err);
    if (http) {
        port = http_port(http);
        test_routing_and_auth();
        test_body_limit();
        test_dataset_routes();
        test_jobs();
        test_static_and_metrics();
        test_event_stream(hub);
        http_stop(http);
    }
    if (scanner) scanner_stop(scanner);
    if (sup) supervisor_stop(sup);
    if (hub) hub_destroy(hub);
    if (db) db_close(db);
    test_remove_tree(root);
    TEST_EXIT();
}
