/* The control server's I/O glue: libuv TCP, optional TLS (net/tls), the HTTP
 * request head (net/http) and WebSocket framing (net/ws).
 *
 * A connection goes HTTP head -> either one HTTP answer or the WebSocket
 * phase -> teardown. Teardown is graceful (queued bytes are written, then a
 * TCP shutdown, then we read until the peer's EOF or LINGER_MS) or immediate
 * (the peer is gone). Handles are freed only in their close callbacks. */
#include "rpc/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/list.h"
#include "base/log.h"
#include "net/http.h"
#include "net/tls.h"
#include "net/ws.h"

FL_LOG_TAG("ws");

#define HANDSHAKE_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_MS     5000
#define LINGER_MS            2000
#define DEFAULT_MAX_MESSAGE  (1024 * 1024)
#define READ_BUF_SIZE        65536
#define MAX_WRITE_QUEUE      (64u * 1024 * 1024)
#define LISTEN_BACKLOG       511
#define MAX_LISTENERS        4

typedef struct listener {
    uv_tcp_t tcp;
    fl_rpc_server *srv;
    bool secure;
} listener;

typedef struct write_req {
    uv_write_t req;
    fl_bytes bytes;
} write_req;

enum conn_phase {
    PHASE_HTTP = 0,
    PHASE_WS = 1,
};

struct fl_rpc_conn {
    fl_list link;
    fl_rpc_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles;
    enum conn_phase phase;
    fl_tls *tls;
    fl_http_head *head;
    fl_ws *ws;
    void *user;
    bool opened;        /* on_open ran; on_close is owed */
    bool tearing;       /* teardown started: no more input is processed */
    bool shutting;      /* uv_shutdown issued: no more writes */
    bool shutdown_done; /* lingering until EOF */
    bool destroying;    /* uv_close called */
    bool broken;        /* a write failed: the timer tears down */
    char peer[64];
};

struct fl_rpc_server {
    uv_loop_t *loop;
    fl_rpc_server_callbacks cb;
    char *path;
    size_t max_message;
    listener listeners[MAX_LISTENERS];
    int listener_count;
    int listeners_open;
    int port;
    int secure_port;
    fl_tls_config *tls_cfg;
    fl_list conns;
    fl_rpc_server_stats stats;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    fl_bytes plain; /* scratch: decrypted input of the current read */
    char read_buf[READ_BUF_SIZE];
};

static void conn_destroy(fl_rpc_conn *c);
static void conn_finish(fl_rpc_conn *c);
static void conn_flush(fl_rpc_conn *c);
static void on_timer(uv_timer_t *t);

/* ---- server lifetime ------------------------------------------------------ */

static void server_maybe_free(fl_rpc_server *s)
{
    if (!s->closing || s->listeners_open > 0 || !fl_list_empty(&s->conns))
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    fl_tls_config_destroy(s->tls_cfg);
    fl_bytes_deinit(&s->plain);
    free(s->path);
    free(s);
    if (done)
        done(arg);
}

static void listener_closed(uv_handle_t *h)
{
    listener *l = h->data;
    l->srv->listeners_open--;
    server_maybe_free(l->srv);
}

/* ---- connection teardown -------------------------------------------------- */

static void notify_close(fl_rpc_conn *c)
{
    if (!c->opened)
        return;
    c->opened = false;
    c->srv->stats.connections--;
    if (c->srv->cb.on_close)
        c->srv->cb.on_close(c->srv->cb.ctx, c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    fl_rpc_conn *c = h->data;
    if (--c->handles > 0)
        return;
    fl_rpc_server *s = c->srv;
    fl_list_remove(&c->link);
    fl_ws_destroy(c->ws);
    fl_tls_destroy(c->tls);
    free(c->head);
    free(c);
    server_maybe_free(s);
}

/* Closes the handles at once; on_close (if owed) runs first. */
static void conn_destroy(fl_rpc_conn *c)
{
    if (c->destroying)
        return;
    notify_close(c);
    c->tearing = true;
    c->destroying = true;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    fl_rpc_conn *c = req->data;
    if (c->destroying)
        return;
    if (status < 0 || c->srv->closing) {
        conn_destroy(c);
        return;
    }
    c->shutdown_done = true;
    uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
}

/* Graceful: what is queued (our close frame, an HTTP answer, TLS
 * close_notify) is written, then FIN, then we wait for the peer's EOF. */
static void conn_finish(fl_rpc_conn *c)
{
    if (c->tearing)
        return;
    conn_flush(c);
    notify_close(c);
    c->tearing = true;
    if (c->tls) {
        fl_tls_close(c->tls);
        conn_flush(c);
    }
    uv_timer_stop(&c->timer);
    c->shutting = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_destroy(c);
}

/* ---- output --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    fl_rpc_conn *c = req->data;
    fl_bytes_deinit(&w->bytes);
    free(w);
    if (status < 0 && !c->tearing) {
        fl_log(FL_LOG_DEBUG, "%s: write failed: %s", c->peer, uv_strerror(status));
        conn_destroy(c);
    }
}

/* A failure while the user may be inside a call of ours: tear down from the
 * timer so on_close never runs inside fl_rpc_conn_send. */
static void conn_break_later(fl_rpc_conn *c)
{
    if (c->tearing || c->broken)
        return;
    c->broken = true;
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* Takes ownership of b's memory. */
static void conn_write_raw(fl_rpc_conn *c, fl_bytes *b)
{
    if (c->shutting || c->destroying || c->broken ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_WRITE_QUEUE) {
        fl_bytes_deinit(b);
        if (!c->shutting && !c->destroying)
            conn_break_later(c);
        return;
    }
    write_req *w = malloc(sizeof(*w));
    if (!w) {
        fl_bytes_deinit(b);
        conn_break_later(c);
        return;
    }
    w->bytes = *b;
    fl_bytes_init(b);
    w->req.data = c;
    uv_buf_t buf = uv_buf_init((char *)w->bytes.data, (unsigned)w->bytes.len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rc != 0) {
        fl_log(FL_LOG_DEBUG, "%s: write failed: %s", c->peer, uv_strerror(rc));
        fl_bytes_deinit(&w->bytes);
        free(w);
        conn_break_later(c);
    }
}

/* Sends plaintext (through TLS on the secure port); takes ownership. */
static void conn_send_plain(fl_rpc_conn *c, fl_bytes *b)
{
    if (!c->tls) {
        conn_write_raw(c, b);
        return;
    }
    int rc = b->len > 0 ? fl_tls_write(c->tls, b->data, b->len) : 0;
    fl_bytes_deinit(b);
    if (rc != 0)
        conn_break_later(c);
    fl_bytes out;
    if (fl_tls_poll_transmit(c->tls, &out) == 0)
        conn_write_raw(c, &out);
}

static void conn_flush(fl_rpc_conn *c)
{
    fl_bytes b;
    fl_bytes_init(&b);
    if (c->ws && fl_ws_poll_transmit(c->ws, &b) == 0) {
        conn_send_plain(c, &b);
        return;
    }
    if (c->tls)
        conn_send_plain(c, &b);
}

/* ---- timers --------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    fl_rpc_conn *c = t->data;
    if (c->tearing || c->broken) {
        conn_destroy(c);
    } else if (c->phase == PHASE_HTTP) {
        fl_log(FL_LOG_DEBUG, "%s: no complete request within %d ms", c->peer, HANDSHAKE_TIMEOUT_MS);
        conn_destroy(c);
    } else {
        fl_log(FL_LOG_DEBUG, "%s: no close reply within %d ms", c->peer, CLOSE_TIMEOUT_MS);
        conn_finish(c);
    }
}

/* ---- HTTP ----------------------------------------------------------------- */

/* "/kurento?x" -> "kurento" (KMS: strip the leading '/', ignore the query). */
static void target_path(const char *target, char *out, size_t cap, bool keep_slash)
{
    if (!keep_slash && *target == '/')
        target++;
    size_t n = strcspn(target, "?");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, target, n);
    out[n] = '\0';
}

static void http_answer(fl_rpc_conn *c, int status, const char *ctype, const fl_bytes *body)
{
    fl_bytes out;
    fl_bytes_init(&out);
    fl_http_header h[2] = { { "Content-Type", ctype }, { "Connection", "close" } };
    const void *data = body->data ? (const void *)body->data : (const void *)"";
    if (fl_http_response_write(&out, status, h, 2, data, body->len) == 0)
        conn_send_plain(c, &out);
    fl_bytes_deinit(&out);
    conn_finish(c);
}

static void http_error(fl_rpc_conn *c, int status)
{
    fl_bytes body;
    fl_bytes_init(&body);
    fl_bytes_printf(&body, "%d %s\n", status, fl_http_status_reason(status));
    http_answer(c, status, "text/plain", &body);
    fl_bytes_deinit(&body);
}

static void http_get(fl_rpc_conn *c)
{
    char path[1024];
    target_path(c->head->target, path, sizeof(path), true);
    fl_bytes body;
    fl_bytes_init(&body);
    const char *ctype = "text/plain";
    int status = 404;
    if (c->srv->cb.on_http)
        status = c->srv->cb.on_http(c->srv->cb.ctx, path, &body, &ctype);
    if (status == 404 && body.len == 0)
        fl_bytes_append_str(&body, "404 Not Found\n");
    fl_log(FL_LOG_DEBUG, "%s: GET %s -> %d", c->peer, path, status);
    http_answer(c, status, ctype ? ctype : "text/plain", &body);
    fl_bytes_deinit(&body);
}

static void ws_upgrade(fl_rpc_conn *c)
{
    fl_bytes out;
    fl_bytes_init(&out);
    int rc = fl_ws_handshake_server_accept(c->head, &out);
    if (rc != 0) {
        conn_send_plain(c, &out);
        fl_bytes_deinit(&out);
        conn_finish(c);
        return;
    }
    fl_ws_config wcfg = { .role = FL_WS_SERVER, .max_message = c->srv->max_message };
    if (fl_ws_create(&c->ws, &wcfg) != 0) {
        fl_bytes_deinit(&out);
        http_error(c, 503);
        return;
    }
    conn_send_plain(c, &out);
    c->phase = PHASE_WS;
    char path[1024];
    target_path(c->head->target, path, sizeof(path), false);
    if (strcmp(path, c->srv->path) != 0) {
        fl_log(FL_LOG_DEBUG, "%s: invalid path %s", c->peer, c->head->target);
        c->srv->stats.protocol_errors++;
        fl_ws_send_close(c->ws, FL_WS_CLOSE_PROTOCOL, "Invalid path");
        uv_timer_start(&c->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
        return;
    }
    c->opened = true;
    c->srv->stats.connections++;
    fl_log(FL_LOG_DEBUG, "%s: WebSocket open", c->peer);
    if (c->srv->cb.on_open)
        c->srv->cb.on_open(c->srv->cb.ctx, c);
}

static void http_request(fl_rpc_conn *c)
{
    uv_timer_stop(&c->timer);
    const char *upgrade = fl_http_head_get(c->head, "Upgrade");
    if (upgrade) {
        ws_upgrade(c);
    } else if (strcmp(c->head->method, "GET") != 0) {
        http_error(c, 405);
    } else {
        http_get(c);
    }
    free(c->head);
    c->head = NULL;
}

/* ---- input ---------------------------------------------------------------- */

static void ws_events(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    while (!c->tearing) {
        fl_ws_event ev;
        int rc = fl_ws_poll_event(c->ws, &ev);
        if (rc == FL_EAGAIN)
            return;
        if (rc != 0) {
            fl_log(FL_LOG_WARN, "%s: %s", c->peer, fl_strerror(rc));
            conn_destroy(c);
            return;
        }
        if (ev.type == FL_WS_EVENT_TEXT || ev.type == FL_WS_EVENT_BINARY) {
            if (!c->opened || fl_ws_get_state(c->ws) != FL_WS_OPEN)
                continue;
            s->stats.messages_in++;
            if (s->cb.on_message)
                s->cb.on_message(s->cb.ctx, c, (const char *)ev.data, ev.len);
        } else if (ev.type == FL_WS_EVENT_CLOSE) {
            if (ev.local) {
                s->stats.protocol_errors++;
                fl_log(FL_LOG_DEBUG, "%s: protocol error %d: %s", c->peer, ev.code, ev.reason);
            }
            conn_finish(c);
        }
    }
}

static void conn_input(fl_rpc_conn *c, const uint8_t *data, size_t len)
{
    if (c->phase == PHASE_HTTP) {
        size_t used = 0;
        int rc = fl_http_head_parse(c->head, data, len, &used);
        if (rc == FL_EAGAIN)
            return;
        if (rc != 0) {
            fl_log(FL_LOG_DEBUG, "%s: bad request head: %s", c->peer, fl_strerror(rc));
            http_error(c, rc == FL_EMSGSIZE ? 431 : 400);
            return;
        }
        http_request(c);
        data += used;
        len -= used;
    }
    if (c->tearing || c->phase != PHASE_WS || len == 0)
        return;
    if (fl_ws_handle_input(c->ws, data, len) != 0) {
        conn_destroy(c);
        return;
    }
    ws_events(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    fl_rpc_conn *c = h->data;
    *buf = uv_buf_init(c->srv->read_buf, READ_BUF_SIZE);
}

static void tls_input(fl_rpc_conn *c, const uint8_t *data, size_t len)
{
    fl_bytes *plain = &c->srv->plain;
    fl_bytes_clear(plain);
    int rc = fl_tls_handle_input(c->tls, data, len, plain);
    if (plain->len > 0)
        conn_input(c, plain->data, plain->len);
    fl_bytes_clear(plain);
    if (rc == 0 || c->tearing)
        return;
    if (rc != FL_ECLOSED)
        fl_log(FL_LOG_DEBUG, "%s: TLS: %s", c->peer, fl_strerror(rc));
    conn_flush(c); /* an alert, perhaps */
    conn_destroy(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    fl_rpc_conn *c = stream->data;
    if (nread < 0) {
        if (nread != UV_EOF)
            fl_log(FL_LOG_DEBUG, "%s: read: %s", c->peer, uv_strerror((int)nread));
        conn_destroy(c);
        return;
    }
    if (nread == 0 || c->tearing)
        return;
    if (c->tls)
        tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
    else
        conn_input(c, (const uint8_t *)buf->base, (size_t)nread);
    if (!c->destroying)
        conn_flush(c);
}

/* ---- accept --------------------------------------------------------------- */

static void peer_name(fl_rpc_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip));
            snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, port);
        }
    }
}

static int conn_setup(fl_rpc_conn *c, bool secure)
{
    uv_tcp_nodelay(&c->tcp, 1);
    /* A peer that vanishes without a FIN must not keep its session alive forever. */
    uv_tcp_keepalive(&c->tcp, 1, 60);
    peer_name(c);
    c->head = malloc(sizeof(*c->head));
    if (!c->head)
        return FL_ENOMEM;
    fl_http_head_init(c->head, FL_HTTP_REQUEST);
    if (secure) {
        int rc = fl_tls_create(&c->tls, c->srv->tls_cfg, NULL);
        if (rc != 0)
            return rc;
    }
    uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        return FL_EIO;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    fl_rpc_server *s = l->srv;
    if (status < 0) {
        fl_log(FL_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    fl_rpc_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        fl_log(FL_LOG_ERROR, "accept: out of memory");
        return;
    }
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    fl_list_push_back(&s->conns, &c->link);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        fl_log(FL_LOG_WARN, "accept: %s", uv_strerror(rc));
        conn_destroy(c);
        return;
    }
    s->stats.connections_total++;
    rc = conn_setup(c, l->secure);
    if (rc != 0) {
        fl_log(FL_LOG_WARN, "%s: cannot set up: %s", c->peer, fl_strerror(rc));
        conn_destroy(c);
    }
}

/* ---- listen --------------------------------------------------------------- */

static int parse_addr(const char *addr, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(addr, ':'))
        return uv_ip6_addr(addr, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(addr, port, (struct sockaddr_in *)ss);
}

static int bound_port(uv_tcp_t *tcp)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Binds one listener; returns the port or a negative libuv error. The
 * handle is closed (asynchronously) on failure. */
static int listen_on(fl_rpc_server *s, const char *addr, int port, bool secure)
{
    struct sockaddr_storage ss;
    int rc = parse_addr(addr, port, &ss);
    if (rc != 0)
        return rc;
    listener *l = &s->listeners[s->listener_count++];
    l->srv = s;
    l->secure = secure;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    s->listeners_open++;
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
        return rc;
    }
    return bound_port(&l->tcp);
}

static int listen_port(fl_rpc_server *s, const char *bind_addr, int port, bool secure)
{
    int rc;
    if (bind_addr) {
        rc = listen_on(s, bind_addr, port, secure);
    } else {
        bind_addr = "::";
        rc = listen_on(s, bind_addr, port, secure);
        if (rc < 0 && rc != UV_EADDRINUSE && rc != UV_EACCES) {
            fl_log(FL_LOG_INFO, "cannot listen on [::]:%d (%s), trying 0.0.0.0", port,
                   uv_strerror(rc));
            bind_addr = "0.0.0.0";
            rc = listen_on(s, bind_addr, port, secure);
        }
    }
    if (rc < 0) {
        fl_log(FL_LOG_ERROR, "cannot listen on %s port %d: %s", bind_addr, port, uv_strerror(rc));
        return FL_EIO;
    }
    bool v6 = strchr(bind_addr, ':') != NULL;
    fl_log(FL_LOG_INFO, "listening on %s://%s%s%s:%d/%s", secure ? "wss" : "ws", v6 ? "[" : "",
           bind_addr, v6 ? "]" : "", rc, s->path);
    return rc;
}

static int server_init(fl_rpc_server *s, const fl_rpc_server_config *cfg)
{
    const char *path = cfg->path ? cfg->path : "kurento";
    while (*path == '/')
        path++;
    s->path = strdup(path);
    if (!s->path)
        return FL_ENOMEM;
    s->max_message = cfg->max_message ? cfg->max_message : DEFAULT_MAX_MESSAGE;
    if (cfg->secure_port > 0) {
        int rc = fl_tls_config_create_server(&s->tls_cfg, cfg->cert_file, cfg->key_file,
                                             cfg->key_password, NULL);
        if (rc != 0)
            return rc == FL_ENOMEM ? rc : FL_ETLS;
    }
    if (cfg->port >= 0) {
        s->port = listen_port(s, cfg->bind_addr, cfg->port, false);
        if (s->port < 0)
            return s->port;
    }
    if (cfg->secure_port > 0) {
        s->secure_port = listen_port(s, cfg->bind_addr, cfg->secure_port, true);
        if (s->secure_port < 0)
            return s->secure_port;
    }
    return 0;
}

int fl_rpc_server_create(fl_rpc_server **out,
                         uv_loop_t *loop,
                         const fl_rpc_server_config *cfg,
                         const fl_rpc_server_callbacks *cb)
{
    if (!out || !loop || !cfg || !cb || cfg->port > 65535 || cfg->secure_port > 65535 ||
        cfg->secure_port < 0 || (cfg->secure_port > 0 && !cfg->cert_file) ||
        (cfg->port < 0 && cfg->secure_port == 0))
        return FL_EINVAL;
    fl_rpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->loop = loop;
    s->cb = *cb;
    fl_list_init(&s->conns);
    fl_bytes_init(&s->plain);
    int rc = server_init(s, cfg);
    if (rc != 0) {
        /* Listeners already open close on the next loop turn; then s is freed. */
        fl_rpc_server_close(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

int fl_rpc_server_port(const fl_rpc_server *s)
{
    return s->port;
}

int fl_rpc_server_secure_port(const fl_rpc_server *s)
{
    return s->secure_port;
}

/* ---- close ---------------------------------------------------------------- */

static void conn_going_away(fl_rpc_conn *c)
{
    if (c->destroying)
        return;
    if (c->tearing) {
        if (!c->shutting || c->shutdown_done)
            conn_destroy(c);
        return; /* on_shutdown destroys it */
    }
    if (c->phase != PHASE_WS) {
        conn_destroy(c);
        return;
    }
    fl_ws_send_close(c->ws, FL_WS_CLOSE_GOING_AWAY, "server shutting down");
    conn_finish(c);
}

void fl_rpc_server_close(fl_rpc_server *s, void (*done)(void *arg), void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    for (int i = 0; i < s->listener_count; i++) {
        uv_handle_t *h = (uv_handle_t *)&s->listeners[i].tcp;
        if (!uv_is_closing(h))
            uv_close(h, listener_closed);
    }
    fl_list_foreach_safe (it, tmp, &s->conns) {
        conn_going_away(fl_container_of(it, fl_rpc_conn, link));
    }
    server_maybe_free(s);
}

void fl_rpc_server_get_stats(const fl_rpc_server *s, fl_rpc_server_stats *out)
{
    *out = s->stats;
}

/* ---- connection API ------------------------------------------------------- */

int fl_rpc_conn_send(fl_rpc_conn *conn, const char *text, size_t len)
{
    if (conn->tearing || conn->broken || !conn->ws || fl_ws_get_state(conn->ws) != FL_WS_OPEN)
        return FL_ECLOSED;
    int rc = fl_ws_send_text(conn->ws, text, len);
    if (rc != 0)
        return rc;
    conn->srv->stats.messages_out++;
    conn_flush(conn);
    return 0;
}

void fl_rpc_conn_close(fl_rpc_conn *conn, int code, const char *reason)
{
    if (conn->tearing || !conn->ws || fl_ws_get_state(conn->ws) != FL_WS_OPEN)
        return;
    if (!fl_ws_close_code_valid(code))
        code = FL_WS_CLOSE_NORMAL;
    fl_ws_send_close(conn->ws, code, reason);
    conn_flush(conn);
    if (!conn->broken)
        uv_timer_start(&conn->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
}

void fl_rpc_conn_set_user(fl_rpc_conn *conn, void *user)
{
    conn->user = user;
}

void *fl_rpc_conn_get_user(const fl_rpc_conn *conn)
{
    return conn->user;
}

const char *fl_rpc_conn_peer(const fl_rpc_conn *conn)
{
    return conn->peer;
}
