// The HTTP server (libmicrohttpd on a pool of epoll threads; event streams suspend, never block):
// routing of the API (docs/http-api.md), the token check, the 1 MiB body limit, JSON error
// bodies, and the dashboard's static files from web/.
#ifndef SIMMIMD_HTTP_H
#define SIMMIMD_HTTP_H

#include "db.h"
#include "hub.h"
#include "supervisor.h"

enum { MAX_DATA_ROOTS = 16, DATASET_FOLDER_SIZE = 64 };

// Everything a request handler may use; owned by main.
typedef struct {
    Db *db;
    Hub *hub;
    Supervisor *supervisor;
    const char *state_dir;   // absolute
    const char *web_dir;     // absolute; the dashboard's files
    const char *data_roots[MAX_DATA_ROOTS]; // realpaths
    int data_root_count;
    const char *token;       // NULL: no authentication
    int connections_per_ip;  // open connections one client address may hold
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

// Registers a dataset found on disk (used by the API and at start for Fashion-MNIST): the
// path must resolve inside a data root; its counts and a sample.png are recorded. Returns
// an HTTP status (201; 400 bad name, format, path or data; 403 outside the data roots; 409
// name taken; 500) and fills err with a message and *field with the field at fault (or NULL).
// imagefolder datasets are loaded (for counts and the sample) at DATASET_FOLDER_SIZE pixels;
// IDX at their stored size. Registrations are serialized.
int datasets_register(App *app, const char *name, const char *format, const char *path,
                      char *err, size_t errlen, const char **field);

#endif
