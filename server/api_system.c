// The daemon's own resources: GET /api/v1/health (version, uptime, the database, jobs by
// state, the machine's cores, memory and bf16 engine) and GET /metrics (Prometheus text: build
// info, uptime, HTTP requests by route and status, and the store's job gauges).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "api.h"
#include "store.h"
#include "base/cpu.h"
#include "base/version.h"

enum { PROM_INITIAL = 64 << 10, PROM_MAX = 16 << 20 };

static double uptime_s(const App *app)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    double up = (double)t.tv_sec + (double)t.tv_nsec * 1e-9 - app->started_at;
    return up > 0.0 ? up : 0.0;
}

// What a job on this machine can ask for: its cores, memory, and how it runs train.precision
// bf16 (null: it cannot, and such a job is refused).
static json_t *machine_json(void)
{
    Bf16Engine engine = cpu_bf16_engine();
    return json_pack("{s:i, s:f, s:o}", "cores", cpu_core_count(), "memory_mb",
                     machine_memory_bytes() / (1024.0 * 1024.0), "bf16",
                     engine == BF16_ENGINE_NONE ? json_null()
                                                : json_string(cpu_bf16_engine_name(engine)));
}

void api_health(Request *r)
{
    json_t *jobs = store_job_counts_json(r->app->db);
    json_t *body = json_pack("{s:s, s:f, s:s, s:i, s:o, s:o}", "version", SIMMIMD_VERSION,
                             "uptime_s", uptime_s(r->app), "db", jobs ? "ok" : "error", "schema",
                             db_schema_version(r->app->db), "jobs", jobs ? jobs : json_null(),
                             "machine", machine_json());
    reply_json(r, jobs ? 200 : 503, body);
}

// Every metric into buf; the length, or -1 if it does not fit in cap.
static long prometheus_text(Request *r, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "# HELP simmimd_build_info The running simmimd.\n"
                     "# TYPE simmimd_build_info gauge\n"
                     "simmimd_build_info{version=\"%s\"} 1\n"
                     "# HELP simmimd_uptime_seconds Seconds since the daemon started.\n"
                     "# TYPE simmimd_uptime_seconds gauge\n"
                     "simmimd_uptime_seconds %.3f\n",
                     SIMMIMD_VERSION, uptime_s(r->app));
    if (n < 0 || (size_t)n >= cap) return -1;
    long len = http_prometheus(r->http, buf, cap, (size_t)n);
    return len < 0 ? -1 : store_prometheus(r->app->db, buf, cap, (size_t)len);
}

void api_prometheus(Request *r)
{
    for (size_t cap = PROM_INITIAL; cap <= PROM_MAX; cap *= 4) {
        char *buf = malloc(cap);
        long len = buf ? prometheus_text(r, buf, cap) : -1;
        if (len >= 0) reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, (size_t)len);
        free(buf);
        if (len >= 0 || !buf) break;
    }
    if (!r->responded) reply_error(r, 500, NULL, "the metrics could not be gathered");
}
