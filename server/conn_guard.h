// The connection guard: a deadline for each request head, which libmicrohttpd cannot give
// (its connection timeout is an idle timeout, and a client trickling one byte a second resets
// it forever). Every connection is registered through libmicrohttpd's connection
// notifications; a watchdog thread shuts down the socket of one whose request head has not
// arrived within the deadline — counted from when the connection opened, or from the end of
// its previous request — and libmicrohttpd then closes it. Once a second the watchdog also
// runs a tick for its owner (the event streams' keepalives).
#ifndef SIMMIMD_CONN_GUARD_H
#define SIMMIMD_CONN_GUARD_H

#include <microhttpd.h>

typedef struct ConnGuard ConnGuard;

// Starts the watchdog; NULL if out of memory or no thread could be started.
ConnGuard *conn_guard_start(double head_deadline_s, void (*tick)(void *ctx), void *ctx);
// Stops the watchdog; the connections must be gone (after MHD_stop_daemon).
void conn_guard_stop(ConnGuard *guard);

// libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard.
void conn_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
// A request's head has arrived on conn (its first call into the request handler).
void conn_guard_head_received(struct MHD_Connection *conn);
// A request on conn is over: the next head's deadline starts now.
void conn_guard_request_done(struct MHD_Connection *conn);

// Connections the watchdog has cut for a late head, since the start.
unsigned long conn_guard_cut_count(ConnGuard *guard);

#endif
