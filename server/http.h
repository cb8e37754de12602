// The HTTP server (libmicrohttpd on a pool of epoll threads; event streams suspend, never block):
// routing of the API (docs/http-api.md), the token check, the 1 MiB body limit, JSON error
// bodies, and the dashboard's static files from web/.
#ifndef SIMMIMD_HTTP_H
#define SIMMIMD_HTTP_H

#include "db.h"
#include "hub.h"
#include "scanner.h"
#include "supervisor.h"

enum { MAX_DATA_ROOTS = 16, DATASET_FOLDER_SIZE = 64 };

// Everything a request handler may use; owned by main.
typedef struct {
    Db *db;
    Hub *hub;
    Supervisor *supervisor;
    Scanner *scanner;        // dataset scans (registration)
    const char *state_dir;   // absolute
    const char *web_dir;     // absolute; the dashboard's files
    const char *data_roots[MAX_DATA_ROOTS]; // realpaths
    int data_root_count;
    const char *token;       // NULL: no authentication
    int connections_per_ip;  // open connections one client address may hold
    int max_cells;           // cells a study may have (max-cells)
    double started_at;       // unix seconds
} App;

typedef struct Http Http;

// Listens on "host:port" (IPv4, [IPv6] or a name; port 0 picks a free one); NULL with a
// message on error.
Http *http_start(App *app, const char *listen, char *err, size_t errlen);
// The port it listens on (the one picked for port 0).
int http_port(const Http *http);
// Shuts the hub down (so that event streams end), then stops serving and joins every
// connection's thread.
void http_stop(Http *http);

// A dataset registration (the API's body, or Fashion-MNIST at start).
typedef struct {
    const char *name, *format, *path; // format: "idx", "imagefolder" or "shards"
    const char *train, *test;         // shards: globs inside path (test NULL: the held-out 2%)
    double wait_s;                    // how long to wait for the scan before answering 202
} DatasetRequest;

// Registers a dataset found on disk: the path must resolve inside a data root, the globs name
// files inside it. The dataset is recorded as scanning and scanned by a child (scanner.h); the
// call waits up to wait_s for the scan. Returns an HTTP status: 201 (ready within wait_s), 202
// (still scanning: it becomes ready or failed later), 400 (bad name, format, path, glob, or a
// scan that failed within wait_s: nothing is kept), 403 (outside the data roots), 409 (name
// taken), 500; fills err with a message and *field with the field at fault (or NULL).
// Registrations of one name are serialized.
int datasets_register(App *app, const DatasetRequest *req, char *err, size_t errlen,
                      const char **field);

#endif
