/* The ServerManager's operations, the status page and /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

#define KURENTO_API    "7.3.0"
#define MAX_CPU_SAMPLE 10000

int64_t fl__used_memory_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

int fl__cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static size_t count_pipelines(struct fl_rpc *rpc)
{
    return (size_t)rpc->npipelines;
}

void fl__sm_get_info(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    json_t *info = json_pack("{s:s, s:s, s:s, s:o, s:[s], s:o}", "__module__", "kurento",
                             "__type__", "ServerInfo", "version", KURENTO_API, "type",
                             json_string("KMS"), "capabilities", "transactions", "modules",
                             fl__kmd_module_infos(&c->rpc->kmd));
    fl__call_ok(c, info);
}

/* With isolated sessions, only the caller's pipelines and session. */
void fl__sm_get_pipelines(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    json_t *ids = json_array();
    const char *key;
    obj *pipe;
    for (size_t it = 0; fl_hmap_next(&c->rpc->objects, &it, &key, (void **)&pipe);) {
        if (pipe->pipeline && !pipe->released && fl__call_sees(c, pipe))
            json_array_append_new(ids, json_string(pipe->id));
    }
    fl__call_ok(c, ids);
}

void fl__sm_get_sessions(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    json_t *ids = json_array();
    const char *key;
    for (size_t it = 0; fl_hmap_next(&c->rpc->sessions, &it, &key, NULL);) {
        if (!c->rpc->cfg.isolated || strcmp(key, c->session) == 0)
            json_array_append_new(ids, json_string(key));
    }
    fl__call_ok(c, ids);
}

void fl__sm_get_metadata(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    fl__call_ok(c, json_string("")); /* no metadata is configured */
}

void fl__sm_get_kmd(call *c, obj *o, json_t *p)
{
    (void)o;
    const char *name = json_string_value(json_object_get(p, "moduleName"));
    const char *text = fl__kmd_text(name);
    if (!text) {
        fl__call_err(c, KE_SERVER_MANAGER_ERROR_KMD_NOT_FOUND, "Module '%.100s' not found", name);
        return;
    }
    fl__call_ok(c, json_string(text));
}

void fl__sm_get_cpu_count(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    fl__call_ok(c, json_integer(fl__cpu_count()));
}

void fl__sm_get_used_memory(call *c, obj *o, json_t *p)
{
    (void)o;
    (void)p;
    fl__call_ok(c, json_integer(fl__used_memory_kb()));
}

struct cpu_sample {
    uv_timer_t timer;
    fl_list node; /* in rpc->cpu_samples */
    call *c;
    unsigned long long busy;
    unsigned long long total;
};

static int read_cpu(unsigned long long *busy, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return FL_EIO;
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return FL_EIO;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; /* idle and iowait */
    return 0;
}

static void cpu_sample_closed(uv_handle_t *h)
{
    free(h->data);
}

static void cpu_sample_done(uv_timer_t *t)
{
    struct cpu_sample *s = t->data;
    fl_list_remove(&s->node);
    unsigned long long busy, total;
    if (read_cpu(&busy, &total) != 0) {
        fl__call_err(s->c, KE_UNEXPECTED_ERROR, "Cannot read /proc/stat");
    } else {
        double dt = (double)(total - s->total);
        double pct = dt > 0 ? 100.0 * (double)(busy - s->busy) / dt : 0.0;
        fl__call_ok(s->c, json_real(pct));
    }
    uv_close((uv_handle_t *)&s->timer, cpu_sample_closed);
}

void fl__sm_get_used_cpu(call *c, obj *o, json_t *p)
{
    (void)o;
    json_int_t interval = json_integer_value(json_object_get(p, "interval"));
    if (interval < 0 || interval > MAX_CPU_SAMPLE) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "'interval' must be between 0 and %d ms", MAX_CPU_SAMPLE);
        return;
    }
    struct cpu_sample *s = calloc(1, sizeof(*s));
    if (!s || read_cpu(&s->busy, &s->total) != 0) {
        free(s);
        fl__call_err(c, KE_UNEXPECTED_ERROR, "Cannot sample the CPU");
        return;
    }
    s->c = c;
    fl_list_push_back(&c->rpc->cpu_samples, &s->node);
    uv_timer_init(c->rpc->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, cpu_sample_done, (uint64_t)(interval > 0 ? interval : 1), 0);
}

void fl__sm_cancel_cpu_samples(struct fl_rpc *rpc)
{
    fl_list_foreach_safe (it, tmp, &rpc->cpu_samples) {
        struct cpu_sample *s = fl_container_of(it, struct cpu_sample, node);
        fl_list_remove(&s->node);
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, cpu_sample_closed);
        fl__call_err(s->c, KE_UNEXPECTED_ERROR, "The server is shutting down");
    }
}

static void status_page(struct fl_rpc *rpc, fl_bytes *body)
{
    fl_rpc_server_stats ws;
    fl_rpc_server_get_stats(rpc->server, &ws);
    fl_engine_stats es;
    fl_engine_get_stats(rpc->engine, &es);
    long long up = (fl_time_wall_ms() - rpc->start_ms) / 1000;
    fl_bytes_printf(
            body,
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>fluo</title></head>"
            "<body>\n<h1>fluo media server</h1>\n<table>\n"
            "<tr><td>version</td><td>%s (Kurento API %s)</td></tr>\n"
            "<tr><td>uptime</td><td>%lld s</td></tr>\n"
            "<tr><td>pipelines</td><td>%zu</td></tr>\n"
            "<tr><td>elements</td><td>%llu</td></tr>\n"
            "<tr><td>sessions</td><td>%zu</td></tr>\n"
            "<tr><td>connections</td><td>%lu</td></tr>\n"
            "<tr><td>workers</td><td>%d</td></tr>\n"
            "<tr><td>memory</td><td>%lld KiB</td></tr>\n"
            "</table>\n<p>Kurento Protocol at ws://HOST:%d/%s</p>\n</body></html>\n",
            FLUO_VERSION, KURENTO_API, up, count_pipelines(rpc), (unsigned long long)es.elements,
            fl_hmap_len(&rpc->sessions), ws.connections, es.workers,
            (long long)fl__used_memory_kb(), rpc->cfg.port, rpc->cfg.path);
}

static void metric(fl_bytes *b, const char *name, const char *type, const char *help, double v)
{
    fl_bytes_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void metrics_page(struct fl_rpc *rpc, fl_bytes *b)
{
    fl_rpc_server_stats ws;
    fl_rpc_server_get_stats(rpc->server, &ws);
    fl_engine_stats es;
    fl_engine_get_stats(rpc->engine, &es);
    metric(b, "fluo_uptime_seconds", "gauge", "Seconds since the server started.",
           (double)(fl_time_wall_ms() - rpc->start_ms) / 1000.0);
    metric(b, "fluo_pipelines", "gauge", "Media pipelines alive.", (double)count_pipelines(rpc));
    metric(b, "fluo_elements", "gauge", "Media elements alive.", (double)es.elements);
    metric(b, "fluo_sessions", "gauge", "Kurento sessions known.",
           (double)fl_hmap_len(&rpc->sessions));
    metric(b, "fluo_websocket_connections", "gauge", "Open WebSocket connections.",
           (double)ws.connections);
    metric(b, "fluo_websocket_connections_total", "counter", "Connections accepted.",
           (double)ws.connections_total);
    metric(b, "fluo_websocket_protocol_errors_total", "counter",
           "Connections closed for a protocol violation.", (double)ws.protocol_errors);
    metric(b, "fluo_websocket_tcp_connections", "gauge",
           "TCP connections to the control port held, in any phase.", (double)ws.tcp_connections);
    metric(b, "fluo_websocket_paused_connections", "gauge",
           "Connections not read for now (too many requests waiting).", (double)ws.reading_paused);
    metric(b, "fluo_websocket_refused_max_connections_total", "counter",
           "Sockets closed at once: fluo.maxConnections reached.", (double)ws.refused_max);
    metric(b, "fluo_websocket_refused_fd_reserve_total", "counter",
           "Sockets closed at once: within fluo.limits.fdReserve of RLIMIT_NOFILE.",
           (double)ws.refused_fd);
    metric(b, "fluo_websocket_request_timeouts_total", "counter",
           "HTTP requests or upgrades not finished in fluo.messageTimeout.",
           (double)ws.request_timeouts);
    metric(b, "fluo_websocket_message_timeouts_total", "counter",
           "WebSocket messages not finished in fluo.messageTimeout.", (double)ws.message_timeouts);
    metric(b, "fluo_websocket_stalled_readers_total", "counter",
           "Connections dropped: output unread for fluo.stalledReaderTimeout.",
           (double)ws.stalled_readers);
    metric(b, "fluo_websocket_output_overflows_total", "counter",
           "Connections closed: output over fluo.maxQueuedOutput.", (double)ws.output_overflows);
    metric(b, "fluo_websocket_auth_failures_total", "counter",
           "Requests answered 401 (no or wrong access token).", (double)ws.auth_failures);
    metric(b, "process_open_fds", "gauge", "Open file descriptors.", (double)ws.fds);
    metric(b, "process_max_fds", "gauge", "RLIMIT_NOFILE (0: none).", (double)ws.fd_limit);
    metric(b, "fluo_rpc_calls_total", "counter", "JSON-RPC calls executed.",
           (double)rpc->calls_total);
    metric(b, "fluo_rpc_errors_total", "counter", "JSON-RPC calls answered with an error.",
           (double)rpc->errors_total);
    metric(b, "fluo_events_total", "counter", "onEvent notifications sent.",
           (double)rpc->events_total);
    metric(b, "fluo_media_packets_total", "counter", "Media packets forwarded by elements.",
           (double)es.media_packets);
    metric(b, "fluo_media_bytes_total", "counter", "Media bytes forwarded by elements.",
           (double)es.media_bytes);
    metric(b, "fluo_resident_memory_bytes", "gauge", "Resident memory of the process.",
           (double)fl__used_memory_kb() * 1024.0);
    metric(b, "fluo_rpc_read_pauses_total", "counter",
           "Times reading from a connection paused while its requests waited.",
           (double)rpc->read_pauses);
    fl__limits_metrics(rpc, b);
}

int fl__http_status(void *ctx, const char *path, fl_bytes *body, const char **content_type)
{
    struct fl_rpc *rpc = ctx;
    if (strcmp(path, "/") == 0) {
        *content_type = "text/html; charset=utf-8";
        status_page(rpc, body);
        return 200;
    }
    if (strcmp(path, "/metrics") == 0) {
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_page(rpc, body);
        return 200;
    }
    *content_type = "text/plain; charset=utf-8";
    fl_bytes_printf(body, "not found\n");
    return 404;
}
