// The daemon's HTTP request path (server/http.c and what it dispatches to) on any bytes sent
// as they are over a loopback connection to an in-process simmimd: libmicrohttpd's parsing,
// then our routing ({id}, {name}, methods, 404/405), the token (header and ?access_token=),
// query parameters (state, kind, limit, offset, since, ...), bodies and their limit, the
// handlers, and Range / If-None-Match on files (a registered dataset's sample.png, the
// dashboard's files). The server runs as in tests/unit/server/test_http.c: a real database,
// hub and supervisor whose trainer is /bin/false (a submitted job fails at once), a scanner
// running build/simmim-data (datasets are scanned by a child, as in the daemon), token "tok",
// one IDX dataset "tiny" (registered again if a request deleted it). The harness
// half-closes the connection after the input and reads the first answer until it is whole,
// the server closes, or it stays silent for IDLE_MS (event streams, an unfinished body).
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "http.h"
#include "store.h"

enum { IDLE_MS = 100, TINY_TRAIN = 24, TINY_TEST = 8, TINY_SIDE = 8 };

static App app;
static Http *http;
static Supervisor *supervisor;
static Scanner *scanner;
static char data_dir[512], tiny_dir[600];

static void write_at(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) fuzz_die("cannot write", path);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void write_idx_split(const char *prefix, int count)
{
    char path[700];
    size_t n = 16 + (size_t)count * TINY_SIDE * TINY_SIDE;
    uint8_t img[16 + TINY_TRAIN * TINY_SIDE * TINY_SIDE], lab[8 + TINY_TRAIN];
    be32(img, 0x803), be32(img + 4, (uint32_t)count), be32(img + 8, TINY_SIDE);
    be32(img + 12, TINY_SIDE);
    for (size_t i = 16; i < n; i++) img[i] = (uint8_t)(i * 37 % 251);
    be32(lab, 0x801), be32(lab + 4, (uint32_t)count);
    for (int i = 0; i < count; i++) lab[8 + i] = (uint8_t)(i % 4);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", tiny_dir, prefix);
    write_at(path, img, n);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", tiny_dir, prefix);
    write_at(path, lab, 8 + (size_t)count);
}

static void register_tiny(void)
{
    DatasetRow row;
    if (store_dataset_get(app.db, "tiny", &row) == 0) return;
    char err[1024];
    const char *field = NULL;
    DatasetRequest req = {.name = "tiny", .format = "idx", .path = tiny_dir, .wait_s = 60};
    int status = datasets_register(&app, &req, err, sizeof err, &field);
    if (status != 201 && status != 409) {
        fprintf(stderr, "fuzz_http: cannot register the dataset: %d %s\n", status, err);
        abort();
    }
}

static void stop_server(void)
{
    if (http) http_stop(http);
    if (scanner) scanner_stop(scanner);
    if (supervisor) supervisor_stop(supervisor);
    http = NULL, supervisor = NULL, scanner = NULL;
}

static void start_server(void)
{
    static char state[512], web[512], db_path[600];
    char err[1024];
    snprintf(state, sizeof state, "%s/state", fuzz_dir());
    snprintf(web, sizeof web, "%s/web", fuzz_dir());
    snprintf(data_dir, sizeof data_dir, "%s/data", fuzz_dir());
    snprintf(tiny_dir, sizeof tiny_dir, "%s/tiny", data_dir);
    char runs[600];
    snprintf(runs, sizeof runs, "%s/runs", state);
    const char *dirs[] = {state, runs, web, data_dir, tiny_dir};
    for (int i = 0; i < 5; i++)
        if (mkdir(dirs[i], 0755) && errno != EEXIST) fuzz_die("cannot create", dirs[i]);
    write_idx_split("train", TINY_TRAIN);
    write_idx_split("t10k", TINY_TEST);
    static const char index_html[] = "<!doctype html><title>simmimd</title><p>fuzz</p>\n";
    static const char app_js[] = "console.log('simmimd');\n";
    char path[700];
    snprintf(path, sizeof path, "%s/index.html", web);
    write_at(path, index_html, sizeof index_html - 1);
    snprintf(path, sizeof path, "%s/app.js", web);
    write_at(path, app_js, sizeof app_js - 1);

    snprintf(db_path, sizeof db_path, "%s/simmimd.db", state);
    Db *db = db_open(db_path, err, sizeof err);
    Hub *hub = db ? hub_create(256) : NULL;
    SupervisorConfig sc = {.train_binary = "/bin/false", .state_dir = state, .max_jobs = 1};
    supervisor = hub ? supervisor_start(&sc, db, hub, err, sizeof err) : NULL;
    // The scan's binary from the repository's root, where make fuzz and make test run this.
    static char data_binary[PATH_MAX];
    static const char *data_roots[1];
    data_roots[0] = data_dir;
    ScannerConfig scfg = {.data_binary = realpath("build/simmim-data", data_binary)
                                             ? data_binary : "build/simmim-data",
                          .state_dir = state, .data_roots = data_roots, .data_root_count = 1};
    scanner = supervisor ? scanner_start(&scfg, db, hub, err, sizeof err) : NULL;
    app = (App){.db = db, .hub = hub, .supervisor = supervisor, .scanner = scanner,
                .state_dir = state, .web_dir = web, .data_roots = {data_dir},
                .data_root_count = 1, .token = "tok", .connections_per_ip = 64, .started_at = 0};
    http = scanner ? http_start(&app, "127.0.0.1:0", err, sizeof err) : NULL;
    if (!http) {
        fprintf(stderr, "fuzz_http: cannot start the server: %s\n", err);
        abort();
    }
    atexit(stop_server); // before fuzz_dir's removal (atexit runs in reverse)
    register_tiny();
}

// The supervisor's children end with SIGCHLD, which interrupts our system calls: each is
// retried on EINTR.
static int connect_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_port(http))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        int interrupted = errno == EINTR;
        if (fd >= 0) close(fd);
        if (!interrupted) break;
    }
    fuzz_die("cannot connect to", "the server");
    return -1;
}

// Whether buf holds a whole answer: its head and the body its Content-Length or chunked
// encoding announces (none for HEAD, 1xx, 204 and 304). libmicrohttpd may notice the
// half-closed connection only tens of milliseconds after a kept-alive answer; this spares the
// wait.
static int answer_complete(const char *buf, size_t got, int status, int head_request)
{
    const char *end = memmem(buf, got, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (head_request || status < 200 || status == 204 || status == 304) return 1;
    char lower[8192];
    size_t n = head < sizeof lower - 1 ? head : sizeof lower - 1;
    for (size_t i = 0; i < n; i++) lower[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
    lower[n] = 0;
    const char *length = strstr(lower, "\r\ncontent-length:");
    if (length) return got >= head + strtoull(length + 17, NULL, 10);
    if (strstr(lower, "\r\ntransfer-encoding: chunked"))
        return got >= head + 5 && memcmp(buf + got - 5, "0\r\n\r\n", 5) == 0;
    return 0; // until the server closes
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!http) start_server();
    int fd = connect_server();
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // the server closed early (a bad request): fine
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char buf[65536];
    size_t got = 0;
    int status = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int head_request = size >= 5 && memcmp(data, "HEAD ", 5) == 0;
    for (;;) {
        int ready = got < sizeof buf ? poll(&p, 1, IDLE_MS) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0) status = atoi(buf + 9);
        if (answer_complete(buf, got, status, head_request)) break;
    }
    close(fd);
    // The answer's last 160 bytes received (the body, mostly), one line.
    char tail[161];
    size_t k = 0, from = got > 160 ? got - 160 : 0;
    for (size_t i = from; i < got && k < 160; i++)
        tail[k++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.';
    tail[k] = 0;
    fuzz_note("%zu bytes sent, answer %d, %zu bytes: %s", sent, status, got, tail);
    // 500 is our handlers' "internal" answer: a request must never cause one (libmicrohttpd's
    // own 501 and 505 for methods and versions it does not know are fine).
    FUZZ_CHECK(status != 500, "the server answered 500");
    register_tiny();
    return 0;
}
