/* The control server's I/O glue: libuv TCP, optional TLS (rpc/tls), the HTTP
 * request head (rpc/http) and WebSocket framing (rpc/ws).
 *
 * A connection goes HTTP head -> either one HTTP answer or the WebSocket
 * phase -> teardown. Teardown is graceful (queued bytes are written, then a
 * TCP shutdown, then we read until the peer's EOF or LINGER_MS) or immediate
 * (the peer is gone). Handles are freed only in their close callbacks.
 *
 * Memory per connection is bounded: a request head or an unfinished message
 * has message_timeout to finish, output waiting for a peer that does not read
 * has reader_timeout to go out and may not pass max_queued_output, and
 * sockets over max_connections or within fd_reserve of the descriptor limit
 * are closed as soon as accepted (rpc/server_guard.c). Each connection's
 * timer runs the clock of its phase: the request head; in the open WebSocket
 * phase the earlier of the unfinished message and the unwritten output
 * (conn_arm); the closing handshake; the teardown. */
#include "rpc/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/http.h"
#include "base/list.h"
#include "base/log.h"
#include "rpc/server_int.h"
#include "rpc/tls.h"
#include "rpc/ws.h"

FL_LOG_TAG("ws");

#define CLOSE_TIMEOUT_MS        5000
#define LINGER_MS               2000
#define TICK_MS                 1000
#define DEFAULT_MAX_MESSAGE     (1024 * 1024)
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_TIMEOUT_MS      30000
#define DEFAULT_MAX_QUEUED      (16u * 1024 * 1024)
#define LISTEN_BACKLOG          511

typedef struct write_req {
    uv_write_t req;
    fl_bytes bytes;
} write_req;

static void conn_destroy(fl_rpc_conn *c);
static void conn_finish(fl_rpc_conn *c);
static void conn_flush(fl_rpc_conn *c);
static void conn_arm(fl_rpc_conn *c);
static void conn_reading(fl_rpc_conn *c, bool on);
static void on_timer(uv_timer_t *t);
static void on_tick(uv_timer_t *t);

/* The loop's time in ms, never 0 (0 means "not set" in the clocks). */
static uint64_t loop_now(const fl_rpc_server *s)
{
    uint64_t now = uv_now(s->loop);
    return now ? now : 1;
}

/* "30 s" or "250 ms". */
static const char *duration(uint64_t ms, char *buf, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(buf, cap, "%llu s", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, cap, "%llu ms", (unsigned long long)ms);
    return buf;
}

/* ---- server lifetime ------------------------------------------------------ */

static void server_maybe_free(fl_rpc_server *s)
{
    if (!s->closing || s->handles_open > 0 || !fl_list_empty(&s->conns))
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    fl_tls_config_destroy(s->tls_cfg);
    fl_bytes_deinit(&s->plain);
    free(s->access_token);
    free(s->path);
    free(s);
    if (done)
        done(arg);
}

static void listener_closed(uv_handle_t *h)
{
    listener *l = h->data;
    l->srv->handles_open--;
    server_maybe_free(l->srv);
}

static void server_handle_closed(uv_handle_t *h)
{
    fl_rpc_server *s = h->data;
    s->handles_open--;
    server_maybe_free(s);
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
    fl__http_free(c->req);
    s->stats.tcp_connections--;
    if (c->paused)
        s->stats.reading_paused--;
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
    fl__http_gone(c, FL_ECLOSED);
    c->tearing = true;
    c->destroying = true;
    fl_list_remove(&c->resumed);
    fl__fd_budget_adjust(c->srv->fds, -1); /* uv_close closes the socket now */
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
 * close_notify) is written, then FIN, then we wait for the peer's EOF. A
 * peer that does not read gets CLOSE_TIMEOUT_MS for the writes to finish. */
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
    conn_reading(c, true); /* to see the EOF, even if paused */
    uv_timer_start(&c->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
    c->shutting = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_destroy(c);
}

/* ---- output --------------------------------------------------------------- */

static size_t conn_queued(const fl_rpc_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* Starts or stops the stalled-reader clock as output waits or has gone. */
static void out_clock(fl_rpc_conn *c)
{
    bool waiting = conn_queued(c) > 0;
    if (waiting == (c->out_since != 0))
        return;
    c->out_since = waiting ? loop_now(c->srv) : 0;
    conn_arm(c);
}

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    fl_rpc_conn *c = req->data;
    fl_bytes_deinit(&w->bytes);
    free(w);
    if (status < 0 && !c->tearing) {
        fl_log(FL_LOG_DEBUG, "%s: write failed: %s", c->peer, uv_strerror(status));
        conn_destroy(c);
        return;
    }
    if (!c->destroying)
        out_clock(c);
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

/* Takes ownership of b's memory. Messages are held to max_queued_output by
 * fl_rpc_conn_send; pongs, close frames and TLS records come on top, so the
 * hard stop here is twice that. */
static void conn_write_raw(fl_rpc_conn *c, fl_bytes *b)
{
    if (c->shutting || c->destroying || c->broken ||
        conn_queued(c) > 2 * c->srv->max_queued_output) {
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
        return;
    }
    out_clock(c);
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

static bool ws_open(const fl_rpc_conn *c)
{
    return c->phase == PHASE_WS && !c->tearing && !c->broken &&
           fl_ws_get_state(c->ws) == FL_WS_OPEN;
}

/* In the open WebSocket phase: the timer goes off at the earlier of the
 * unfinished message's and the unwritten output's deadlines, or not at all.
 * Other phases set the timer themselves. */
static void conn_arm(fl_rpc_conn *c)
{
    if (!ws_open(c))
        return;
    fl_rpc_server *s = c->srv;
    uint64_t due = 0;
    if (c->msg_since)
        due = c->msg_since + s->message_timeout_ms;
    if (c->out_since && (!due || c->out_since + s->reader_timeout_ms < due))
        due = c->out_since + s->reader_timeout_ms;
    if (due == c->due)
        return;
    c->due = due;
    if (!due) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = loop_now(s);
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* After input was parsed: a message is unfinished if input is held once
 * every complete one was delivered. Its clock starts with the first bytes
 * after the last complete message, and stops while the connection is paused
 * (what is held then is ours to deliver, not the peer's to finish). */
static void message_clock(fl_rpc_conn *c, bool delivered)
{
    if (!ws_open(c))
        return;
    if (c->paused || !fl_ws_input_held(c->ws))
        c->msg_since = 0;
    else if (delivered || !c->msg_since)
        c->msg_since = loop_now(c->srv);
    conn_arm(c);
}

/* Starts the closing handshake; the timer waits CLOSE_TIMEOUT_MS for the
 * peer's close. A paused connection reads again to see it. */
static void conn_close_with(fl_rpc_conn *c, int code, const char *reason)
{
    fl_ws_send_close(c->ws, code, reason);
    conn_flush(c);
    c->due = 0;
    if (c->paused)
        fl_rpc_conn_pause_reading(c, 0);
    if (!c->broken)
        uv_timer_start(&c->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
}

static void warn_limited(fl_rpc_server *s, fl_log_rate *r, const char *what, const char *line)
{
    unsigned long held = 0;
    if (!fl_log_rate_allow(r, loop_now(s), &held))
        return;
    if (held)
        fl_log(FL_LOG_WARN, "%s (and %lu more %s in the last seconds)", line, held, what);
    else
        fl_log(FL_LOG_WARN, "%s", line);
}

static void http_error(fl_rpc_conn *c, int status);

static void request_timeout(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    char d[32];
    char line[160];
    s->stats.request_timeouts++;
    snprintf(line, sizeof(line), "%s: HTTP request not finished in %s: 408", c->peer,
             duration(s->message_timeout_ms, d, sizeof(d)));
    warn_limited(s, &s->timeout_log, "timeouts", line);
    http_error(c, 408);
}

/* The open phase's timer: which clock ran out? */
static void open_timeout(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    uint64_t now = loop_now(s);
    char d[32];
    char line[160];
    c->due = 0;
    if (c->out_since && now >= c->out_since + s->reader_timeout_ms) {
        s->stats.stalled_readers++;
        snprintf(line, sizeof(line), "%s: %zu bytes of output not read in %s: dropped", c->peer,
                 conn_queued(c), duration(s->reader_timeout_ms, d, sizeof(d)));
        warn_limited(s, &s->reader_log, "slow readers", line);
        conn_destroy(c); /* a close frame would wait behind what it does not read */
        return;
    }
    if (c->msg_since && now >= c->msg_since + s->message_timeout_ms) {
        s->stats.message_timeouts++;
        char reason[64];
        snprintf(reason, sizeof(reason), "message not finished in %s",
                 duration(s->message_timeout_ms, d, sizeof(d)));
        snprintf(line, sizeof(line), "%s: %s: closed (1008)", c->peer, reason);
        warn_limited(s, &s->timeout_log, "timeouts", line);
        /* No reply is awaited: behind part of a frame it could not be parsed. */
        fl_ws_send_close(c->ws, FL_WS_CLOSE_POLICY, reason);
        conn_finish(c);
        return;
    }
    conn_arm(c);
}

static void on_timer(uv_timer_t *t)
{
    fl_rpc_conn *c = t->data;
    if (c->tearing || c->broken) {
        conn_destroy(c);
    } else if (c->phase == PHASE_HTTP) {
        request_timeout(c);
    } else if (c->phase == PHASE_REQ) {
        fl__http_timeout(c);
    } else if (fl_ws_get_state(c->ws) == FL_WS_OPEN) {
        open_timeout(c);
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

/* Answers and closes; `extra` (may be NULL) is one more header field. */
static void http_answer(fl_rpc_conn *c,
                        int status,
                        const char *ctype,
                        const fl_bytes *body,
                        const fl_http_header *extra)
{
    fl_bytes out;
    fl_bytes_init(&out);
    fl_http_header h[3] = { { "Content-Type", ctype }, { "Connection", "close" } };
    size_t n = 2;
    if (extra)
        h[n++] = *extra;
    const void *data = body->data ? (const void *)body->data : (const void *)"";
    if (fl_http_response_write(&out, status, h, n, data, body->len) == 0)
        conn_send_plain(c, &out);
    fl_bytes_deinit(&out);
    conn_finish(c);
}

static void http_error(fl_rpc_conn *c, int status)
{
    fl_bytes body;
    fl_bytes_init(&body);
    fl_bytes_printf(&body, "%d %s\n", status, fl_http_status_reason(status));
    http_answer(c, status, "text/plain", &body, NULL);
    fl_bytes_deinit(&body);
}

/* No access token, or a wrong one. The target is not logged: its query may
 * hold a token. */
static void http_unauthorized(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    s->stats.auth_failures++;
    char path[128];
    char line[256];
    target_path(c->head->target, path, sizeof(path), true);
    snprintf(line, sizeof(line), "%s: %s %s without the access token: 401", c->peer,
             c->head->method, path);
    warn_limited(s, &s->auth_log, "refusals", line);
    fl_bytes body;
    fl_bytes_init(&body);
    fl_bytes_append_str(&body, "401 Unauthorized: an access token is required\n");
    fl_http_header auth = { "WWW-Authenticate", "Bearer realm=\"fluo\"" };
    http_answer(c, 401, "text/plain", &body, &auth);
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
    http_answer(c, status, ctype ? ctype : "text/plain", &body, NULL);
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
    if (!upgrade && fl__http_route(c))
        return; /* the route's now, head and all */
    if (!fl__server_token_ok(c->srv->access_token, c->head)) {
        http_unauthorized(c);
    } else if (upgrade) {
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

/* Delivers what the parser has, until it needs more input or the
 * connection is paused or closing. */
static void ws_events(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    bool delivered = false;
    while (!c->tearing && !c->paused) {
        fl_ws_event ev;
        int rc = fl_ws_poll_event(c->ws, &ev);
        if (rc == FL_EAGAIN)
            break;
        if (rc != 0) {
            fl_log(FL_LOG_WARN, "%s: %s", c->peer, fl_strerror(rc));
            conn_destroy(c);
            return;
        }
        if (ev.type == FL_WS_EVENT_TEXT || ev.type == FL_WS_EVENT_BINARY) {
            if (!c->opened || fl_ws_get_state(c->ws) != FL_WS_OPEN)
                continue;
            s->stats.messages_in++;
            delivered = true;
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
    message_clock(c, delivered);
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
        if (c->phase == PHASE_REQ && !c->tearing) {
            fl__http_begin(c, data, len);
            return;
        }
    } else if (c->phase == PHASE_REQ) {
        fl__http_input(c, data, len);
        return;
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
    uv_timer_start(&c->timer, on_timer, c->srv->message_timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        return FL_EIO;
    c->reading = true;
    return 0;
}

/* NULL if the socket just accepted may stay, else why not. */
static const char *conn_admit(fl_rpc_server *s)
{
    if (s->stats.tcp_connections > s->max_connections) {
        s->stats.refused_max++;
        return "too many connections";
    }
    if (!fl__fd_budget_allows(s->fds, loop_now(s), 0)) {
        s->stats.refused_fd++;
        return "too near the file descriptor limit";
    }
    return NULL;
}

/* A 503 written only if the socket takes it at once. What the client has
 * already sent is read away first, so that the close is a FIN, not a reset
 * that could overtake the answer. */
static void refuse_answer(fl_rpc_conn *c, const char *why)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    char sink[4096];
    int reads = 0;
    while (reads++ < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
    }
    fl_bytes body, out;
    fl_bytes_init(&body);
    fl_bytes_init(&out);
    fl_bytes_printf(&body, "503 Service Unavailable: %s\n", why);
    fl_http_header h[2] = { { "Content-Type", "text/plain" }, { "Connection", "close" } };
    if (body.data && fl_http_response_write(&out, 503, h, 2, body.data, body.len) == 0) {
        uv_buf_t buf = uv_buf_init((char *)out.data, (unsigned)out.len);
        uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    }
    fl_bytes_deinit(&body);
    fl_bytes_deinit(&out);
}

/* Closes a socket over a cap at once, with a 503 on the plain port. */
static void conn_refuse(fl_rpc_conn *c, bool secure, const char *why)
{
    fl_rpc_server *s = c->srv;
    peer_name(c);
    char line[256];
    snprintf(line, sizeof(line),
             "%s: connection refused, %s (%lu held, max %lu; %ld of %ld descriptors in use, %d "
             "kept free)",
             c->peer, why, s->stats.tcp_connections - 1, s->max_connections,
             s->fds->counted + s->fds->delta, s->fds->limit, s->fds->reserve);
    warn_limited(s, &s->refused_log, "refused", line);
    if (!secure)
        refuse_answer(c, why);
    conn_destroy(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    fl_rpc_server *s = l->srv;
    if (status < 0) {
        char line[128];
        snprintf(line, sizeof(line), "accept: %s", uv_strerror(status));
        warn_limited(s, &s->refused_log, "refused", line);
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
    fl_list_init(&c->resumed);
    fl_list_push_back(&s->conns, &c->link);
    s->stats.tcp_connections++;
    fl__fd_budget_adjust(s->fds, 1);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        fl_log(FL_LOG_WARN, "accept: %s", uv_strerror(rc));
        conn_destroy(c);
        return;
    }
    const char *why = conn_admit(s);
    if (why) {
        conn_refuse(c, l->secure, why);
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
    s->handles_open++;
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
    if (cfg->access_token && *cfg->access_token) {
        s->access_token = strdup(cfg->access_token);
        if (!s->access_token)
            return FL_ENOMEM;
    }
    s->max_connections = cfg->max_connections > 0 ? (unsigned long)cfg->max_connections
                                                  : DEFAULT_MAX_CONNECTIONS;
    s->message_timeout_ms =
            cfg->message_timeout_ms > 0 ? (uint64_t)cfg->message_timeout_ms : DEFAULT_TIMEOUT_MS;
    s->reader_timeout_ms =
            cfg->reader_timeout_ms > 0 ? (uint64_t)cfg->reader_timeout_ms : DEFAULT_TIMEOUT_MS;
    s->max_queued_output = cfg->max_queued_output ? cfg->max_queued_output : DEFAULT_MAX_QUEUED;
    s->fds = cfg->fd_budget;
    if (!s->fds) {
        s->fds = &s->own_fds;
        fl__fd_budget_init(s->fds, cfg->fd_reserve, loop_now(s));
    }
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
    fl_list_init(&s->resumed);
    fl_bytes_init(&s->plain);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->tick);
    s->idle.data = s;
    s->tick.data = s;
    s->handles_open = 2;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->tick);
    int rc = server_init(s, cfg);
    if (rc != 0) {
        /* Listeners already open close on the next loop turn; then s is freed. */
        fl_rpc_server_close(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- loop-wide work ------------------------------------------------------- */

/* Connections resumed since the last turn: deliver what they hold, then read
 * again. Those resumed meanwhile wait for the next turn. */
static void on_idle(uv_idle_t *h)
{
    fl_rpc_server *s = h->data;
    fl_list batch;
    fl_list_init(&batch);
    if (!fl_list_empty(&s->resumed)) {
        fl_list_insert_before(s->resumed.next, &batch);
        fl_list_remove(&s->resumed);
    }
    fl_list *it;
    while ((it = fl_list_pop_front(&batch)) != NULL) {
        fl_rpc_conn *c = fl_container_of(it, fl_rpc_conn, resumed);
        if (c->tearing || c->paused)
            continue;
        if (c->phase == PHASE_REQ) {
            fl__http_resume(c);
            continue;
        }
        ws_events(c);
        if (c->destroying)
            continue;
        conn_flush(c);
        if (!c->tearing && !c->paused)
            conn_reading(c, true);
    }
    if (fl_list_empty(&s->resumed))
        uv_idle_stop(h);
}

static void tick_flush(fl_log_rate *r, uint64_t now, const char *what)
{
    unsigned long held = fl_log_rate_flush(r, now);
    if (held)
        fl_log(FL_LOG_WARN, "%lu more %s in the last seconds", held, what);
}

/* Keeps the descriptor count fresh (and its warning), and says the warnings
 * held back. */
static void on_tick(uv_timer_t *t)
{
    fl_rpc_server *s = t->data;
    uint64_t now = loop_now(s);
    fl__fd_budget_used(s->fds, now);
    tick_flush(&s->refused_log, now, "connections refused");
    tick_flush(&s->timeout_log, now, "timeouts");
    tick_flush(&s->reader_log, now, "slow readers");
    tick_flush(&s->auth_log, now, "requests without the access token");
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
        fl__http_gone(c, FL_ECANCELED);
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
    uv_close((uv_handle_t *)&s->idle, server_handle_closed);
    uv_close((uv_handle_t *)&s->tick, server_handle_closed);
    fl_list_foreach_safe (it, tmp, &s->conns) {
        conn_going_away(fl_container_of(it, fl_rpc_conn, link));
    }
    server_maybe_free(s);
}

void fl_rpc_server_get_stats(const fl_rpc_server *s, fl_rpc_server_stats *out)
{
    *out = s->stats;
    out->fds = s->fds->counted + s->fds->delta;
    out->fd_limit = s->fds->limit;
}

/* ---- connection API ------------------------------------------------------- */

/* The peer does not read what it asked for: close (the close frame waits
 * behind the rest; the close and teardown timeouts bound how long). */
static void conn_overflow(fl_rpc_conn *c, size_t queued, size_t len)
{
    fl_rpc_server *s = c->srv;
    s->stats.output_overflows++;
    char reason[64];
    char line[256];
    snprintf(reason, sizeof(reason), "output queue over %zu bytes", s->max_queued_output);
    snprintf(line, sizeof(line), "%s: %s (%zu waiting, %zu more): the peer is not reading; closed",
             c->peer, reason, queued, len);
    warn_limited(s, &s->reader_log, "slow readers", line);
    conn_close_with(c, FL_WS_CLOSE_POLICY, reason);
}

int fl_rpc_conn_send(fl_rpc_conn *conn, const char *text, size_t len)
{
    if (conn->tearing || conn->broken || !conn->ws || fl_ws_get_state(conn->ws) != FL_WS_OPEN)
        return FL_ECLOSED;
    size_t queued = conn_queued(conn) + fl_ws_pending(conn->ws);
    if (queued > 0 && queued + len > conn->srv->max_queued_output) {
        conn_overflow(conn, queued, len);
        return FL_ECLOSED;
    }
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
    conn_close_with(conn, code, reason);
}

static void conn_reading(fl_rpc_conn *c, bool on)
{
    if (on == c->reading || c->destroying)
        return;
    int rc = on ? uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)
                : uv_read_stop((uv_stream_t *)&c->tcp);
    if (rc != 0) {
        fl_log(FL_LOG_DEBUG, "%s: read %s: %s", c->peer, on ? "start" : "stop", uv_strerror(rc));
        conn_break_later(c);
        return;
    }
    c->reading = on;
}

void fl_rpc_conn_pause_reading(fl_rpc_conn *conn, int pause)
{
    fl_rpc_server *s = conn->srv;
    if (conn->tearing || (pause != 0) == conn->paused)
        return;
    if (pause && (!conn->ws || fl_ws_get_state(conn->ws) != FL_WS_OPEN))
        return; /* closing: keep reading for the peer's close */
    conn->paused = pause != 0;
    if (conn->paused) {
        s->stats.reading_paused++;
        conn_reading(conn, false);
        message_clock(conn, false);
        return;
    }
    s->stats.reading_paused--;
    fl_list_remove(&conn->resumed);
    fl_list_push_back(&s->resumed, &conn->resumed);
    if (!s->closing)
        uv_idle_start(&s->idle, on_idle);
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

/* ---- lent to rpc/server_http.c -------------------------------------------- */

uint64_t fl__server_now(const fl_rpc_server *s)
{
    return loop_now(s);
}

void fl__conn_send(fl_rpc_conn *c, fl_bytes *b)
{
    conn_send_plain(c, b);
}

void fl__conn_finish(fl_rpc_conn *c)
{
    conn_finish(c);
}

void fl__conn_reading(fl_rpc_conn *c, bool on)
{
    conn_reading(c, on);
}

void fl__conn_resume_later(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    fl_list_remove(&c->resumed);
    fl_list_push_back(&s->resumed, &c->resumed);
    if (!s->closing)
        uv_idle_start(&s->idle, on_idle);
}

void fl__conn_timer(fl_rpc_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

void fl__conn_http_error(fl_rpc_conn *c, int status)
{
    http_error(c, status);
}

int fl_rpc_conn_local(const fl_rpc_conn *conn, char *authority, size_t cap, int *tls)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    int port;
    int n;
    if (tls)
        *tls = conn->tls != NULL;
    if (uv_tcp_getsockname(&conn->tcp, (struct sockaddr *)&ss, &len) != 0)
        return FL_EIO;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        n = snprintf(authority, cap, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip));
            n = snprintf(authority, cap, "%s:%d", ip, port);
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            n = snprintf(authority, cap, "[%s]:%d", ip, port);
        }
    } else {
        return FL_EIO;
    }
    return n < 0 || (size_t)n >= cap ? FL_ERANGE : 0;
}
