/* fluo-bench rpc: many Kurento Protocol clients on one libuv loop.
 *
 * Each client opens a WebSocket (rpc/ws in client mode, rpc/tls for wss://),
 * then sends its calls one at a time, cycling through ping, create
 * MediaPipeline, invoke getName on it and release it, and measures each
 * call from send to response. A response with "error" (or none before the
 * timeout, or a broken connection) is a failed call. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "bench/bench.h"
#include "rpc/tls.h"
#include "rpc/ws.h"

FL_LOG_TAG("bench");

#define READ_BUF_SIZE 65536

enum client_phase {
    PHASE_CONNECTING,
    PHASE_HANDSHAKE,
    PHASE_RUNNING,
    PHASE_CLOSING,
    PHASE_DONE,
};

enum op {
    OP_PING,
    OP_CREATE,
    OP_INVOKE,
    OP_RELEASE,
    OP_COUNT,
};

typedef struct bench_rpc bench_rpc;

typedef struct bench_client {
    bench_rpc *b;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    fl_ws *ws;
    fl_tls *tls;
    fl_http_head *head;
    char key[25];
    enum client_phase phase;
    int done_calls;
    long next_id;
    long pending_id;
    fl_time sent_at;
    char *pipeline;
    char *session;
} bench_client;

typedef struct write_req {
    uv_write_t req;
    fl_bytes bytes;
} write_req;

struct bench_rpc {
    /* options */
    char host[256];
    char hostport[300];
    char target[512];
    int port;
    bool secure;
    int clients;
    int calls;
    int timeout_s;
    bool ping_only; /* --ops ping: the WebSocket + JSON-RPC floor, for reference */
    /* run */
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    fl_tls_config *tls_cfg;
    fl_rand rand;
    bench_client *cl;
    int active;
    uv_timer_t timer;
    long ok;
    long errors;
    double *lat_ms;
    size_t lat_count;
    fl_time start;
    fl_time last_response;
    char read_buf[READ_BUF_SIZE];
};

static void client_close(bench_client *c);
static void client_send_next(bench_client *c);

void fl_bench_rpc_usage(FILE *out)
{
    fprintf(out, "  rpc --url ws://127.0.0.1:8888/kurento [--clients 200] [--calls 100] "
                 "[--timeout 120] [--ops mix|ping]\n"
                 "      concurrent Kurento Protocol clients; prints calls/s and p50/p99 "
                 "latency\n"
                 "      --ops mix: ping, create MediaPipeline, invoke getName, release (default)\n"
                 "      --ops ping: pings only, the protocol floor to compare the mix with\n");
}

/* ---- options -------------------------------------------------------------- */

/* ws://host[:port][/path], wss://..., host may be [v6]. */
static int parse_url(bench_rpc *b, const char *url)
{
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        b->port = 80;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        b->port = 443;
        b->secure = true;
    } else {
        return FL_EINVAL;
    }
    size_t auth_len = strcspn(p, "/");
    const char *path = p + auth_len;
    snprintf(b->target, sizeof(b->target), "%s", *path ? path : "/");
    if (auth_len == 0 || auth_len >= sizeof(b->host))
        return FL_EINVAL;
    snprintf(b->hostport, sizeof(b->hostport), "%.*s", (int)auth_len, p);
    const char *host_end;
    if (*p == '[') {
        host_end = memchr(p, ']', auth_len);
        if (!host_end)
            return FL_EINVAL;
        snprintf(b->host, sizeof(b->host), "%.*s", (int)(host_end - p - 1), p + 1);
        host_end++;
    } else {
        host_end = memchr(p, ':', auth_len);
        if (!host_end)
            host_end = p + auth_len;
        snprintf(b->host, sizeof(b->host), "%.*s", (int)(host_end - p), p);
    }
    if (host_end < p + auth_len) {
        if (*host_end != ':')
            return FL_EINVAL;
        b->port = atoi(host_end + 1);
        if (b->port <= 0 || b->port > 65535)
            return FL_EINVAL;
    }
    return 0;
}

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return FL_EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_options(bench_rpc *b, int argc, char **argv)
{
    static const struct option opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "clients", required_argument, NULL, 'c' },
        { "calls", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { "ops", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *url = "ws://127.0.0.1:8888/kurento";
    b->clients = 200;
    b->calls = 100;
    b->timeout_s = 120;
    optind = 0;
    int ch, rc = 0;
    /* getopt wants argv[0]: shift by one. */
    while (rc == 0 && (ch = getopt_long(argc + 1, argv - 1, "", opts, NULL)) != -1) {
        if (ch == 'u')
            url = optarg;
        else if (ch == 'c')
            rc = parse_int(optarg, 1, 100000, &b->clients);
        else if (ch == 'n')
            rc = parse_int(optarg, 1, 100000000, &b->calls);
        else if (ch == 't')
            rc = parse_int(optarg, 1, 86400, &b->timeout_s);
        else if (ch == 'o' && (strcmp(optarg, "mix") == 0 || strcmp(optarg, "ping") == 0))
            b->ping_only = strcmp(optarg, "ping") == 0;
        else
            rc = FL_EINVAL;
    }
    if (rc == 0 && optind != argc + 1)
        rc = FL_EINVAL;
    if (rc == 0)
        rc = parse_url(b, url);
    return rc;
}

static int resolve(bench_rpc *b)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", b->port);
    int rc = getaddrinfo(b->host, port, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "fluo-bench: cannot resolve %s: %s\n", b->host, gai_strerror(rc));
        return FL_EINVAL;
    }
    memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* ---- output --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    bench_client *c = req->data;
    fl_bytes_deinit(&w->bytes);
    free(w);
    if (status < 0 && c->phase != PHASE_DONE)
        client_close(c);
}

static void write_raw(bench_client *c, fl_bytes *b)
{
    write_req *w = malloc(sizeof(*w));
    if (!w) {
        fl_bytes_deinit(b);
        client_close(c);
        return;
    }
    w->bytes = *b;
    fl_bytes_init(b);
    w->req.data = c;
    uv_buf_t buf = uv_buf_init((char *)w->bytes.data, (unsigned)w->bytes.len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
        fl_bytes_deinit(&w->bytes);
        free(w);
        client_close(c);
    }
}

/* Sends plaintext (through TLS for wss://); takes b's memory. */
static void send_plain(bench_client *c, fl_bytes *b)
{
    if (!c->tls) {
        write_raw(c, b);
        return;
    }
    if (b->len > 0 && fl_tls_write(c->tls, b->data, b->len) != 0) {
        fl_bytes_deinit(b);
        client_close(c);
        return;
    }
    fl_bytes_deinit(b);
    fl_bytes out;
    if (fl_tls_poll_transmit(c->tls, &out) == 0)
        write_raw(c, &out);
}

static void flush_ws(bench_client *c)
{
    fl_bytes b;
    if (fl_ws_poll_transmit(c->ws, &b) == 0)
        send_plain(c, &b);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    bench_client *c = h->data;
    bench_rpc *b = c->b;
    fl_ws_destroy(c->ws);
    fl_tls_destroy(c->tls);
    free(c->head);
    free(c->pipeline);
    free(c->session);
    c->ws = NULL;
    c->tls = NULL;
    c->head = NULL;
    c->pipeline = NULL;
    c->session = NULL;
    if (--b->active == 0)
        uv_close((uv_handle_t *)&b->timer, NULL);
}

/* Closes the connection; calls not done count as errors. */
static void client_close(bench_client *c)
{
    if (c->phase == PHASE_DONE)
        return;
    if (c->done_calls < c->b->calls)
        c->b->errors += c->b->calls - c->done_calls;
    c->done_calls = c->b->calls;
    c->phase = PHASE_DONE;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void client_finish(bench_client *c)
{
    if (fl_ws_send_close(c->ws, FL_WS_CLOSE_NORMAL, NULL) != 0) {
        client_close(c);
        return;
    }
    c->phase = PHASE_CLOSING;
    flush_ws(c);
}

static void on_timeout(uv_timer_t *t)
{
    bench_rpc *b = t->data;
    fprintf(stderr, "fluo-bench: timeout after %d s\n", b->timeout_s);
    for (int i = 0; i < b->clients; i++)
        client_close(&b->cl[i]);
}

/* ---- calls ---------------------------------------------------------------- */

static json_t *make_request(bench_client *c, enum op op)
{
    json_t *params = NULL;
    const char *method = "ping";
    if (op == OP_CREATE) {
        method = "create";
        params = json_pack("{s:s, s:{}}", "type", "MediaPipeline", "properties");
    } else if (op == OP_INVOKE) {
        method = "invoke";
        params = json_pack("{s:s, s:s}", "object", c->pipeline, "operation", "getName");
    } else if (op == OP_RELEASE) {
        method = "release";
        params = json_pack("{s:s}", "object", c->pipeline);
    } else if (c->next_id == 0) {
        params = json_pack("{s:i}", "interval", 5000);
    }
    if (params && c->session)
        json_object_set_new(params, "sessionId", json_string(c->session));
    json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)c->next_id,
                            "method", method);
    if (req && params)
        json_object_set_new(req, "params", params);
    else
        json_decref(params);
    return req;
}

static void client_send_next(bench_client *c)
{
    if (c->done_calls >= c->b->calls) {
        client_finish(c);
        return;
    }
    enum op op = c->b->ping_only ? OP_PING : (enum op)(c->done_calls % OP_COUNT);
    if ((op == OP_INVOKE || op == OP_RELEASE) && !c->pipeline)
        op = OP_PING; /* the create failed: keep the pace with a ping */
    json_t *req = make_request(c, op);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!text || fl_ws_send_text(c->ws, text, strlen(text)) != 0) {
        free(text);
        client_close(c);
        return;
    }
    free(text);
    c->pending_id = c->next_id++;
    c->sent_at = fl_time_now();
    flush_ws(c);
}

static void record(bench_client *c, bool ok)
{
    bench_rpc *b = c->b;
    fl_time now = fl_time_now();
    b->last_response = now;
    b->lat_ms[b->lat_count++] = (double)(now - c->sent_at) / (double)FL_TIME_MS;
    if (ok)
        b->ok++;
    else
        b->errors++;
    c->done_calls++;
}

static void remember_ids(bench_client *c, json_t *result, enum op op)
{
    const char *session = json_string_value(json_object_get(result, "sessionId"));
    if (session && !c->session)
        c->session = strdup(session);
    const char *value = json_string_value(json_object_get(result, "value"));
    if (op == OP_CREATE && value) {
        free(c->pipeline);
        c->pipeline = strdup(value);
    } else if (op == OP_RELEASE) {
        free(c->pipeline);
        c->pipeline = NULL;
    }
}

static void on_response(bench_client *c, const char *text, size_t len)
{
    json_t *msg = json_loadb(text, len, 0, NULL);
    json_t *id = json_object_get(msg, "id");
    if (!msg || !json_is_integer(id) || json_integer_value(id) != c->pending_id) {
        json_decref(msg); /* an event, or garbage: not our answer */
        return;
    }
    json_t *result = json_object_get(msg, "result");
    bool ok = json_object_get(msg, "error") == NULL && result != NULL;
    enum op op = c->b->ping_only ? OP_PING : (enum op)(c->done_calls % OP_COUNT);
    if (ok)
        remember_ids(c, result, op);
    else if (op == OP_CREATE || op == OP_RELEASE)
        remember_ids(c, NULL, OP_RELEASE);
    json_decref(msg);
    record(c, ok);
    client_send_next(c);
}

/* ---- input ---------------------------------------------------------------- */

static void ws_input(bench_client *c, const uint8_t *data, size_t len)
{
    if (len > 0 && fl_ws_handle_input(c->ws, data, len) != 0) {
        client_close(c);
        return;
    }
    fl_ws_event ev;
    while (c->phase != PHASE_DONE && fl_ws_poll_event(c->ws, &ev) == 0) {
        if (ev.type == FL_WS_EVENT_TEXT || ev.type == FL_WS_EVENT_BINARY) {
            if (c->phase == PHASE_RUNNING)
                on_response(c, (const char *)ev.data, ev.len);
        } else if (ev.type == FL_WS_EVENT_CLOSE) {
            if (c->phase != PHASE_CLOSING)
                fprintf(stderr, "fluo-bench: server closed with %d %s\n", ev.code, ev.reason);
            flush_ws(c);
            client_close(c);
        }
    }
    if (c->phase != PHASE_DONE)
        flush_ws(c);
}

static void plain_input(bench_client *c, const uint8_t *data, size_t len)
{
    if (c->phase == PHASE_HANDSHAKE) {
        size_t used = 0;
        int rc = fl_http_head_parse(c->head, data, len, &used);
        if (rc == FL_EAGAIN)
            return;
        if (rc != 0 || fl_ws_handshake_client_check(c->head, c->key) != 0) {
            fprintf(stderr, "fluo-bench: WebSocket handshake refused (HTTP %d)\n",
                    rc == 0 ? c->head->status : 0);
            client_close(c);
            return;
        }
        free(c->head);
        c->head = NULL;
        c->phase = PHASE_RUNNING;
        client_send_next(c);
        data += used;
        len -= used;
    }
    if (c->phase == PHASE_RUNNING || c->phase == PHASE_CLOSING)
        ws_input(c, data, len);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    bench_client *c = h->data;
    *buf = uv_buf_init(c->b->read_buf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bench_client *c = s->data;
    if (nread < 0) {
        if (c->phase != PHASE_CLOSING)
            fprintf(stderr, "fluo-bench: connection lost: %s\n", uv_strerror((int)nread));
        client_close(c);
        return;
    }
    if (nread == 0 || c->phase == PHASE_DONE)
        return;
    if (!c->tls) {
        plain_input(c, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    fl_bytes plain;
    fl_bytes_init(&plain);
    int rc = fl_tls_handle_input(c->tls, (const uint8_t *)buf->base, (size_t)nread, &plain);
    if (plain.len > 0)
        plain_input(c, plain.data, plain.len);
    fl_bytes_deinit(&plain);
    if (c->phase == PHASE_DONE)
        return;
    if (rc != 0) {
        client_close(c);
        return;
    }
    fl_bytes out; /* handshake records, alerts */
    if (fl_tls_poll_transmit(c->tls, &out) == 0)
        write_raw(c, &out);
}

/* ---- connect -------------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
    bench_client *c = req->data;
    if (c->phase == PHASE_DONE)
        return;
    if (status < 0) {
        fprintf(stderr, "fluo-bench: connect: %s\n", uv_strerror(status));
        client_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    fl_bytes req_bytes;
    fl_bytes_init(&req_bytes);
    if (fl_ws_handshake_client_write(&req_bytes, c->b->hostport, c->b->target, &c->b->rand,
                                     c->key) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        fl_bytes_deinit(&req_bytes);
        client_close(c);
        return;
    }
    c->phase = PHASE_HANDSHAKE;
    send_plain(c, &req_bytes);
}

static int client_start(bench_rpc *b, bench_client *c)
{
    c->b = b;
    c->tcp.data = c;
    c->connect_req.data = c;
    uv_tcp_init(b->loop, &c->tcp);
    b->active++;
    c->phase = PHASE_CONNECTING;
    fl_ws_config wcfg = { .role = FL_WS_CLIENT, .rand = &b->rand };
    c->head = malloc(sizeof(*c->head));
    if (!c->head || fl_ws_create(&c->ws, &wcfg) != 0)
        goto fail;
    fl_http_head_init(c->head, FL_HTTP_RESPONSE);
    if (b->secure && fl_tls_create(&c->tls, b->tls_cfg, b->host) != 0)
        goto fail;
    if (uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&b->addr, on_connect) != 0)
        goto fail;
    return 0;
fail:
    client_close(c);
    return FL_EIO;
}

/* ---- report --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void report(bench_rpc *b)
{
    qsort(b->lat_ms, b->lat_count, sizeof(double), cmp_double);
    fl_time end = b->last_response > b->start ? b->last_response : fl_time_now();
    double secs = (double)(end - b->start) / (double)FL_TIME_SEC;
    double rate = secs > 0 ? (double)b->ok / secs : 0.0;
    printf("rpc clients=%d calls=%ld ok=%ld errors=%ld calls_per_sec=%.1f p50_ms=%.3f "
           "p99_ms=%.3f\n",
           b->clients, (long)b->clients * b->calls, b->ok, b->errors, rate,
           percentile(b->lat_ms, b->lat_count, 0.50), percentile(b->lat_ms, b->lat_count, 0.99));
    fflush(stdout);
}

static int bench_setup(bench_rpc *b)
{
    if (resolve(b) != 0)
        return FL_EINVAL;
    if (b->secure && fl_tls_config_create_client(&b->tls_cfg, NULL, NULL) != 0)
        return FL_ETLS;
    b->cl = calloc((size_t)b->clients, sizeof(*b->cl));
    b->lat_ms = calloc((size_t)b->clients * (size_t)b->calls, sizeof(double));
    if (!b->cl || !b->lat_ms)
        return FL_ENOMEM;
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    return 0;
}

static void bench_free(bench_rpc *b)
{
    fl_tls_config_destroy(b->tls_cfg);
    free(b->cl);
    free(b->lat_ms);
    free(b);
}

int fl_bench_rpc_run(int argc, char **argv)
{
    bench_rpc *b = calloc(1, sizeof(*b));
    if (!b)
        return 1;
    if (parse_options(b, argc, argv) != 0) {
        fprintf(stderr, "fluo-bench rpc: bad arguments\n");
        fl_bench_rpc_usage(stderr);
        bench_free(b);
        return 2;
    }
    int status = 1;
    uv_loop_t loop;
    if (bench_setup(b) != 0 || uv_loop_init(&loop) != 0)
        goto out;
    b->loop = &loop;
    uv_timer_init(&loop, &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, on_timeout, (uint64_t)b->timeout_s * 1000, 0);
    b->start = fl_time_now();
    b->active = 0;
    for (int i = 0; i < b->clients; i++)
        client_start(b, &b->cl[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fl_log(FL_LOG_WARN, "loop not empty at exit");
    report(b);
    status = b->errors == 0 ? 0 : 1;
out:
    bench_free(b);
    return status;
}
