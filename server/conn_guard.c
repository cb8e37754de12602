// The connection guard (conn_guard.h): a list of open connections under one mutex, each with
// the time its current request head became due, and the watchdog thread that sweeps it.
#include "conn_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

typedef struct Guarded {
    struct Guarded *prev, *next;
    ConnGuard *guard;
    int fd;
    int waiting_for_head; // 1 until a request head arrives, and again after each request
    double since;         // when the current wait for a head began
} Guarded;

struct ConnGuard {
    pthread_mutex_t mutex;
    pthread_cond_t stop_cond;
    pthread_t thread;
    Guarded *open;
    double deadline_s;
    void (*tick)(void *ctx);
    void *ctx;
    int stopping;
    unsigned long cut;
};

static double monotonic_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Shuts down the sockets whose head is overdue; libmicrohttpd sees the end of the stream and
// closes the connection (the fd stays valid until its CLOSED notification, which needs the
// mutex held here).
static void cut_overdue(ConnGuard *g, double now)
{
    pthread_mutex_lock(&g->mutex);
    for (Guarded *c = g->open; c; c = c->next) {
        if (!c->waiting_for_head || now - c->since < g->deadline_s) continue;
        shutdown(c->fd, SHUT_RDWR);
        c->waiting_for_head = 0; // once
        g->cut++;
    }
    pthread_mutex_unlock(&g->mutex);
}

static void *watchdog(void *arg)
{
    ConnGuard *g = arg;
    pthread_mutex_lock(&g->mutex);
    while (!g->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&g->stop_cond, &g->mutex, &until);
        if (g->stopping) break;
        pthread_mutex_unlock(&g->mutex);
        cut_overdue(g, monotonic_now());
        if (g->tick) g->tick(g->ctx);
        pthread_mutex_lock(&g->mutex);
    }
    pthread_mutex_unlock(&g->mutex);
    return NULL;
}

ConnGuard *conn_guard_start(double head_deadline_s, void (*tick)(void *ctx), void *ctx)
{
    ConnGuard *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->deadline_s = head_deadline_s, g->tick = tick, g->ctx = ctx;
    pthread_condattr_t attr;
    int ok = pthread_condattr_init(&attr) == 0;
    ok = ok && pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&g->stop_cond, &attr) == 0;
    if (ok) pthread_condattr_destroy(&attr);
    if (!ok || pthread_mutex_init(&g->mutex, NULL) != 0) {
        free(g);
        return NULL;
    }
    if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
        pthread_cond_destroy(&g->stop_cond);
        pthread_mutex_destroy(&g->mutex);
        free(g);
        return NULL;
    }
    return g;
}

void conn_guard_stop(ConnGuard *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mutex);
    g->stopping = 1;
    pthread_cond_signal(&g->stop_cond);
    pthread_mutex_unlock(&g->mutex);
    pthread_join(g->thread, NULL);
    while (g->open) { // none after MHD_stop_daemon; freed all the same
        Guarded *c = g->open;
        g->open = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->stop_cond);
    pthread_mutex_destroy(&g->mutex);
    free(g);
}

void conn_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    ConnGuard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        Guarded *c = info ? calloc(1, sizeof *c) : NULL;
        if (!c) return; // unguarded: the idle timeout still applies
        *c = (Guarded){.guard = g, .fd = info->connect_fd, .waiting_for_head = 1,
                       .since = monotonic_now()};
        pthread_mutex_lock(&g->mutex);
        c->next = g->open;
        if (g->open) g->open->prev = c;
        g->open = c;
        pthread_mutex_unlock(&g->mutex);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        Guarded *c = *socket_context;
        pthread_mutex_lock(&g->mutex);
        if (c->prev) c->prev->next = c->next;
        else g->open = c->next;
        if (c->next) c->next->prev = c->prev;
        pthread_mutex_unlock(&g->mutex);
        free(c);
        *socket_context = NULL;
    }
}

static Guarded *guarded_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void set_waiting(struct MHD_Connection *conn, int waiting)
{
    Guarded *c = guarded_of(conn);
    if (!c) return;
    pthread_mutex_lock(&c->guard->mutex);
    c->waiting_for_head = waiting;
    c->since = monotonic_now();
    pthread_mutex_unlock(&c->guard->mutex);
}

void conn_guard_head_received(struct MHD_Connection *conn) { set_waiting(conn, 0); }

void conn_guard_request_done(struct MHD_Connection *conn) { set_waiting(conn, 1); }

unsigned long conn_guard_cut_count(ConnGuard *g)
{
    pthread_mutex_lock(&g->mutex);
    unsigned long n = g->cut;
    pthread_mutex_unlock(&g->mutex);
    return n;
}
