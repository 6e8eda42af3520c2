/* rpc/server: the control server on a private loop, driven by plain
 * non-blocking sockets in the same thread (the loop runs between reads). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "base/time.h"
#include "rpc/server.h"
#include "rpc/tls.h"
#include "rpc/ws.h"

#include <cmocka.h>

typedef struct ctx {
    fl_rpc_server *srv;
    int opens;
    int closes;
    int messages;
    int https;
    char last_path[64];
    fl_rpc_conn *conn;
    bool done;
    int flood_sent; /* messages queued by "flood" before fl_rpc_conn_send failed */
    int flood_err;
} ctx;

typedef struct client {
    int fd;
    fl_ws *ws;
    fl_tls *tls;
    fl_bytes in; /* plaintext not yet given to the parser */
    bool eof;
} client;

static uv_loop_t loop;
static ctx T;
static fl_rand rnd;
static char tmpdir[64];
static char cert[128];

/* ---- server side callbacks ------------------------------------------------ */

static void on_open(void *arg, fl_rpc_conn *conn)
{
    ctx *t = arg;
    t->opens++;
    t->conn = conn;
    fl_rpc_conn_set_user(conn, t);
    assert_non_null(strstr(fl_rpc_conn_peer(conn), "127.0.0.1:"));
}

static void on_message(void *arg, fl_rpc_conn *conn, const char *data, size_t len)
{
    ctx *t = arg;
    assert_ptr_equal(fl_rpc_conn_get_user(conn), t);
    assert_int_equal(data[len], '\0');
    t->messages++;
    if (strcmp(data, "bye") == 0) {
        fl_rpc_conn_close(conn, 1000, "done");
        assert_int_equal(fl_rpc_conn_send(conn, "late", 4), FL_ECLOSED);
        return;
    }
    if (strcmp(data, "stop") == 0) {
        fl_rpc_server_close(t->srv, NULL, NULL);
        return;
    }
    if (strcmp(data, "pause") == 0)
        fl_rpc_conn_pause_reading(conn, 1);
    if (strncmp(data, "flood", 5) == 0) {
        /* "flood N": up to N messages of 8 KiB, until the server refuses one. */
        static char big[8192];
        memset(big, 'x', sizeof(big));
        int n = atoi(data + 6);
        for (t->flood_sent = 0; t->flood_sent < n; t->flood_sent++) {
            t->flood_err = fl_rpc_conn_send(conn, big, sizeof(big));
            if (t->flood_err != 0)
                return;
        }
        return;
    }
    assert_int_equal(fl_rpc_conn_send(conn, data, len), 0);
}

static void on_close(void *arg, fl_rpc_conn *conn)
{
    ctx *t = arg;
    assert_ptr_equal(fl_rpc_conn_get_user(conn), t);
    t->closes++;
}

static int on_http(void *arg, const char *path, fl_bytes *body, const char **content_type)
{
    ctx *t = arg;
    t->https++;
    snprintf(t->last_path, sizeof(t->last_path), "%s", path);
    if (strcmp(path, "/") != 0)
        return 404;
    fl_bytes_append_str(body, "fluo status");
    *content_type = "text/html";
    return 200;
}

static void server_done(void *arg)
{
    ((ctx *)arg)->done = true;
}

static void start_with(const fl_rpc_server_config *cfg)
{
    memset(&T, 0, sizeof(T));
    assert_int_equal(uv_loop_init(&loop), 0);
    fl_rpc_server_callbacks cb = { &T, on_open, on_message, on_close, on_http, NULL };
    assert_int_equal(fl_rpc_server_create(&T.srv, &loop, cfg, &cb), 0);
    assert_true(fl_rpc_server_port(T.srv) > 0);
}

static void start(const char *bind_addr, int secure_port)
{
    fl_rpc_server_config cfg = {
        .bind_addr = bind_addr,
        .port = 0,
        .secure_port = secure_port,
        .cert_file = secure_port ? cert : NULL,
        .max_message = 4096,
    };
    start_with(&cfg);
}

static void run_for(int ms)
{
    fl_time end = fl_time_now() + ms * FL_TIME_MS;
    while (fl_time_now() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

static void stop(void)
{
    if (T.srv)
        fl_rpc_server_close(T.srv, server_done, &T);
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (!T.done && fl_time_now() < end)
        run_for(1);
    assert_true(T.done);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- client side ---------------------------------------------------------- */

static void client_connect(client *c, int port, fl_tls_config *tls)
{
    memset(c, 0, sizeof(*c));
    fl_bytes_init(&c->in);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (tls)
        assert_int_equal(fl_tls_create(&c->tls, tls, NULL), 0);
    fl_ws_config wcfg = { .role = FL_WS_CLIENT, .rand = &rnd };
    assert_int_equal(fl_ws_create(&c->ws, &wcfg), 0);
}

static void client_flush_tls(client *c)
{
    fl_bytes out;
    if (c->tls && fl_tls_poll_transmit(c->tls, &out) == 0) {
        assert_int_equal(send(c->fd, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
        fl_bytes_deinit(&out);
    }
}

static void client_send(client *c, const void *data, size_t len)
{
    if (c->tls) {
        int rc = fl_tls_write(c->tls, data, len);
        if (rc == FL_ECLOSED)
            return; /* the server's close_notify came first */
        assert_int_equal(rc, 0);
        client_flush_tls(c);
        return;
    }
    assert_int_equal(send(c->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void client_send_ws(client *c)
{
    fl_bytes out;
    if (fl_ws_poll_transmit(c->ws, &out) == 0) {
        client_send(c, out.data, out.len);
        fl_bytes_deinit(&out);
    }
}

/* One turn: run the loop, read what is there. */
static void client_pump(client *c)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    client_flush_tls(c);
    uint8_t buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        c->eof = true;
    } else if (n > 0 && c->tls) {
        fl_tls_handle_input(c->tls, buf, (size_t)n, &c->in);
        client_flush_tls(c);
    } else if (n > 0) {
        fl_bytes_append(&c->in, buf, (size_t)n);
    } else {
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
}

static void client_free(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    fl_ws_destroy(c->ws);
    fl_tls_destroy(c->tls);
    fl_bytes_deinit(&c->in);
    c->fd = -1;
}

/* Reads an HTTP response head; returns its status. Leftover bytes stay. */
static int client_read_head(client *c, fl_http_head *h)
{
    fl_http_head_init(h, FL_HTTP_RESPONSE);
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    size_t fed = 0;
    while (fl_time_now() < end) {
        size_t used = 0;
        int rc = fl_http_head_parse(h, c->in.data + fed, c->in.len - fed, &used);
        fed += used;
        if (rc == 0) {
            fl_bytes_consume(&c->in, fed);
            return h->status;
        }
        assert_int_equal(rc, FL_EAGAIN);
        fl_bytes_consume(&c->in, fed);
        fed = 0;
        assert_false(c->eof);
        client_pump(c);
    }
    fail_msg("no response head");
    return -1;
}

static void client_upgrade(client *c, const char *target)
{
    fl_bytes req;
    fl_bytes_init(&req);
    char key[25];
    assert_int_equal(fl_ws_handshake_client_write(&req, "127.0.0.1", target, &rnd, key), 0);
    client_send(c, req.data, req.len);
    fl_bytes_deinit(&req);
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(client_read_head(c, h), 101);
    assert_int_equal(fl_ws_handshake_client_check(h, key), 0);
    free(h);
}

static void client_next(client *c, fl_ws_event *ev)
{
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (fl_time_now() < end) {
        if (fl_ws_poll_event(c->ws, ev) == 0)
            return;
        if (c->in.len > 0) {
            fl_ws_handle_input(c->ws, c->in.data, c->in.len);
            fl_bytes_clear(&c->in);
            continue;
        }
        assert_false(c->eof);
        client_pump(c);
    }
    fail_msg("no WebSocket event");
}

static void client_wait_eof(client *c)
{
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (!c->eof && fl_time_now() < end)
        client_pump(c);
    assert_true(c->eof);
}

static void expect_close(client *c, int code, const char *reason)
{
    fl_ws_event ev;
    client_next(c, &ev);
    while (ev.type == FL_WS_EVENT_PONG)
        client_next(c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_false(ev.local);
    assert_int_equal(ev.code, code);
    if (reason)
        assert_string_equal(ev.reason, reason);
    client_send_ws(c); /* our echo */
    client_wait_eof(c);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_echo_and_close(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento?access_token=abc");
    run_for(5);
    assert_int_equal(T.opens, 1);
    /* Pipelined: three messages and a ping in one segment. */
    fl_ws_send_text(c.ws, "one", 3);
    fl_ws_send_ping(c.ws, "pp", 2);
    fl_ws_send_binary(c.ws, "two", 3);
    fl_ws_send_text(c.ws, "{\"jsonrpc\":\"2.0\"}", 17);
    client_send_ws(&c);
    fl_ws_event ev;
    static const char *const expect[] = { "one", "two", "{\"jsonrpc\":\"2.0\"}" };
    int got = 0;
    bool pong = false;
    while (got < 3) {
        client_next(&c, &ev);
        if (ev.type == FL_WS_EVENT_PONG) {
            assert_memory_equal(ev.data, "pp", 2);
            pong = true;
            continue;
        }
        assert_int_equal(ev.type, FL_WS_EVENT_TEXT); /* always text frames */
        assert_string_equal((const char *)ev.data, expect[got]);
        got++;
    }
    assert_true(pong);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.messages_in, 3);
    assert_int_equal(st.messages_out, 3);
    /* Client-initiated close. */
    fl_ws_send_close(c.ws, 1000, "bye bye");
    client_send_ws(&c);
    client_next(&c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, 1000);
    assert_string_equal(ev.reason, "bye bye");
    client_wait_eof(&c);
    run_for(5);
    assert_int_equal(T.closes, 1);
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.connections, 0);
    assert_int_equal(st.connections_total, 1);
    assert_int_equal(st.protocol_errors, 0);
    client_free(&c);
    stop();
}

static void test_http_get(void **state)
{
    (void)state;
    start(NULL, 0); /* "::" dual stack (or 0.0.0.0), reached over IPv4 */
    fl_http_head *h = malloc(sizeof(*h));
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    const char *req = "GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(&c, req, strlen(req));
    assert_int_equal(client_read_head(&c, h), 200);
    assert_string_equal(fl_http_head_get(h, "Content-Type"), "text/html");
    assert_string_equal(fl_http_head_get(h, "Connection"), "close");
    assert_string_equal(fl_http_head_get(h, "Content-Length"), "11");
    client_wait_eof(&c);
    assert_int_equal(c.in.len, 11);
    assert_memory_equal(c.in.data, "fluo status", 11);
    assert_string_equal(T.last_path, "/");
    client_free(&c);
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    req = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(&c, req, strlen(req));
    assert_int_equal(client_read_head(&c, h), 404);
    client_wait_eof(&c);
    assert_string_equal(T.last_path, "/nope");
    client_free(&c);
    /* Not GET; malformed. */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    req = "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(&c, req, strlen(req));
    assert_int_equal(client_read_head(&c, h), 405);
    client_wait_eof(&c);
    client_free(&c);
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    req = "GET / HTTP/1.1\nHost: x\r\n\r\n";
    client_send(&c, req, strlen(req));
    assert_int_equal(client_read_head(&c, h), 400);
    client_wait_eof(&c);
    client_free(&c);
    /* A bad upgrade. */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    req = "GET /kurento HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n";
    client_send(&c, req, strlen(req));
    assert_int_equal(client_read_head(&c, h), 400);
    client_wait_eof(&c);
    client_free(&c);
    assert_int_equal(T.https, 2);
    assert_int_equal(T.opens, 0);
    free(h);
    stop();
}

static void test_invalid_path(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/other");
    expect_close(&c, 1002, "Invalid path");
    client_free(&c);
    /* "/kurento/" is not "kurento" either. */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento/x");
    expect_close(&c, 1002, "Invalid path");
    client_free(&c);
    assert_int_equal(T.opens, 0);
    assert_int_equal(T.closes, 0);
    stop();
}

static void test_protocol_errors(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    /* Unmasked frame. */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    const uint8_t unmasked[] = { 0x81, 0x02, 'h', 'i' };
    client_send(&c, unmasked, sizeof(unmasked));
    fl_ws_event ev;
    client_next(&c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, 1002);
    client_wait_eof(&c);
    client_free(&c);
    /* Too big (max_message is 4096 here). */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    char big[5000];
    memset(big, 'a', sizeof(big));
    fl_ws_send_text(c.ws, big, sizeof(big));
    client_send_ws(&c);
    client_next(&c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, 1009);
    client_wait_eof(&c);
    client_free(&c);
    /* Torn mid-frame: on_close once, no answer needed. */
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    const uint8_t half[] = { 0x81, 0x85, 1, 2, 3, 4, 'h' };
    client_send(&c, half, sizeof(half));
    client_free(&c);
    run_for(20);
    assert_int_equal(T.opens, 3);
    assert_int_equal(T.closes, 3);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.protocol_errors, 2);
    assert_int_equal(st.connections, 0);
    stop();
}

static void test_server_side_close(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    fl_ws_send_text(c.ws, "bye", 3);
    client_send_ws(&c);
    expect_close(&c, 1000, "done");
    run_for(5);
    assert_int_equal(T.closes, 1);
    client_free(&c);
    /* Server shutdown with a connection open, and a connection that never
     * sent its head. */
    client idle;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    client_connect(&idle, fl_rpc_server_port(T.srv), NULL);
    run_for(5);
    fl_rpc_server_close(T.srv, server_done, &T);
    assert_int_equal(T.closes, 2);
    expect_close(&c, 1001, NULL);
    client_wait_eof(&idle);
    client_free(&c);
    client_free(&idle);
    T.srv = NULL;
    stop();
}

static void test_close_from_callback(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    fl_ws_send_text(c.ws, "stop", 4);
    fl_ws_send_text(c.ws, "never delivered", 15);
    client_send_ws(&c);
    expect_close(&c, 1001, NULL);
    assert_int_equal(T.messages, 1);
    assert_int_equal(T.closes, 1);
    client_free(&c);
    /* The server is freed; stop() only checks the loop. */
    fl_time end = fl_time_now() + 2 * FL_TIME_SEC;
    while (uv_loop_alive(&loop) && fl_time_now() < end)
        run_for(1);
    T.done = true;
    T.srv = NULL;
    stop();
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_wss(void **state)
{
    (void)state;
    int port = free_port();
    start("127.0.0.1", port);
    assert_int_equal(fl_rpc_server_secure_port(T.srv), port);
    fl_tls_config *tcfg = NULL;
    assert_int_equal(fl_tls_config_create_client(&tcfg, NULL, &rnd), 0);
    client c;
    client_connect(&c, port, tcfg);
    client_flush_tls(&c);
    client_upgrade(&c, "/kurento");
    fl_ws_send_text(c.ws, "secure", 6);
    client_send_ws(&c);
    fl_ws_event ev;
    client_next(&c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_TEXT);
    assert_string_equal((const char *)ev.data, "secure");
    fl_ws_send_close(c.ws, 1000, NULL);
    client_send_ws(&c);
    client_next(&c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    client_wait_eof(&c);
    client_free(&c);
    /* HTTPS GET. */
    client_connect(&c, port, tcfg);
    client_flush_tls(&c);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(&c, req, strlen(req));
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(client_read_head(&c, h), 200);
    free(h);
    client_wait_eof(&c);
    client_free(&c);
    /* Plain text on the TLS port. */
    client_connect(&c, port, NULL);
    client_send(&c, req, strlen(req));
    client_wait_eof(&c);
    client_free(&c);
    fl_tls_config_destroy(tcfg);
    assert_int_equal(T.opens, 1);
    assert_int_equal(T.closes, 1);
    stop();
}

static void test_bad_config(void **state)
{
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    fl_rpc_server *s = NULL;
    fl_rpc_server_callbacks cb = { 0 };
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .port = 0, .secure_port = 1 };
    assert_int_equal(fl_rpc_server_create(&s, &loop, &cfg, &cb), FL_EINVAL);
    cfg.cert_file = "/nonexistent.pem";
    assert_int_equal(fl_rpc_server_create(&s, &loop, &cfg, &cb), FL_ETLS);
    fl_rpc_server_config bad_addr = { .bind_addr = "not an address", .port = 0 };
    assert_int_equal(fl_rpc_server_create(&s, &loop, &bad_addr, &cb), FL_EIO);
    /* A port already taken. */
    fl_rpc_server_config ok = { .bind_addr = "127.0.0.1", .port = 0 };
    assert_int_equal(fl_rpc_server_create(&s, &loop, &ok, &cb), 0);
    fl_rpc_server *s2 = NULL;
    ok.port = fl_rpc_server_port(s);
    assert_int_equal(fl_rpc_server_create(&s2, &loop, &ok, &cb), FL_EIO);
    fl_rpc_server_close(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- limits and flow control ---------------------------------------------- */

/* Sends "GET target" with the WebSocket upgrade fields (if `upgrade`) and
 * `extra` (complete header lines, may be ""). */
static void client_request(client *c, const char *target, bool upgrade, const char *extra)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n", target,
             upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                     : "",
             extra);
    client_send(c, req, strlen(req));
}

/* The status of the answer to such a request (then the connection ends
 * unless it is 101). */
static int client_status(int port, const char *target, bool upgrade, const char *extra)
{
    client c;
    client_connect(&c, port, NULL);
    client_request(&c, target, upgrade, extra);
    fl_http_head *h = malloc(sizeof(*h));
    int status = client_read_head(&c, h);
    if (status == 401)
        assert_string_equal(fl_http_head_get(h, "WWW-Authenticate"), "Bearer realm=\"fluo\"");
    free(h);
    if (status != 101)
        client_wait_eof(&c);
    client_free(&c);
    return status;
}

static void send_text(client *c, const char *text)
{
    fl_ws_send_text(c->ws, text, strlen(text));
    client_send_ws(c);
}

static void expect_text(client *c, const char *text)
{
    fl_ws_event ev;
    client_next(c, &ev);
    assert_int_equal(ev.type, FL_WS_EVENT_TEXT);
    assert_string_equal((const char *)ev.data, text);
}

/* Paused: messages already read wait (the clock of an unfinished one
 * stops); resumed from outside a callback: delivered on a later loop turn,
 * in order, then the socket is read again. */
static void pause_resume(bool tls)
{
    int port = tls ? free_port() : 0;
    fl_rpc_server_config cfg = {
        .bind_addr = "127.0.0.1",
        .secure_port = port,
        .cert_file = tls ? cert : NULL,
        .message_timeout_ms = 150,
    };
    start_with(&cfg);
    fl_tls_config *tcfg = NULL;
    if (tls)
        assert_int_equal(fl_tls_config_create_client(&tcfg, NULL, &rnd), 0);
    client c;
    client_connect(&c, tls ? port : fl_rpc_server_port(T.srv), tcfg);
    client_flush_tls(&c);
    client_upgrade(&c, "/kurento");
    fl_ws_send_text(c.ws, "pause", 5); /* one segment: the rest is read with it */
    fl_ws_send_text(c.ws, "a", 1);
    fl_ws_send_text(c.ws, "b", 1);
    client_send_ws(&c);
    expect_text(&c, "pause");
    send_text(&c, "c");
    const uint8_t half[] = { 0x81, 0x85, 1, 2, 3, 4, 'h' }; /* "h" of five bytes */
    client_send(&c, half, sizeof(half));
    run_for(400); /* over the message timeout: no clock runs while paused */
    assert_int_equal(T.messages, 1);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.reading_paused, 1);
    assert_int_equal(st.message_timeouts, 0);
    fl_rpc_conn_pause_reading(T.conn, 0);
    assert_int_equal(T.messages, 1); /* not inside the call */
    expect_text(&c, "a");
    expect_text(&c, "b");
    expect_text(&c, "c");
    assert_int_equal(T.messages, 4);
    /* Now the half frame is the peer's to finish. */
    expect_close(&c, 1008, "message not finished in 150 ms");
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.reading_paused, 0);
    assert_int_equal(st.message_timeouts, 1);
    assert_int_equal(T.closes, 1);
    client_free(&c);
    fl_tls_config_destroy(tcfg);
    stop();
}

static void test_pause_reading(void **state)
{
    (void)state;
    pause_resume(false);
}

static void test_pause_reading_tls(void **state)
{
    (void)state;
    pause_resume(true);
}

/* A paused connection that is closed reads again, for the peer's close. */
static void test_pause_then_close(void **state)
{
    (void)state;
    start("127.0.0.1", 0);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    send_text(&c, "pause");
    expect_text(&c, "pause");
    fl_rpc_conn_close(T.conn, 1000, "bye");
    expect_close(&c, 1000, "bye"); /* replies and waits for EOF: the server read it */
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.reading_paused, 0);
    client_free(&c);
    stop();
}

/* An HTTP request not finished in time gets 408, idle or half sent. */
static void test_request_timeout(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .message_timeout_ms = 100 };
    start_with(&cfg);
    fl_http_head *h = malloc(sizeof(*h));
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_send(&c, "GET / HT", 8);
    assert_int_equal(client_read_head(&c, h), 408);
    client_wait_eof(&c);
    client_free(&c);
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    assert_int_equal(client_read_head(&c, h), 408);
    client_wait_eof(&c);
    client_free(&c);
    run_for(20);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.request_timeouts, 2);
    assert_int_equal(st.tcp_connections, 0);
    free(h);
    stop();
}

/* Fragments: the first one alone is an unfinished message. */
static void test_message_timeout(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .message_timeout_ms = 200 };
    start_with(&cfg);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    run_for(300); /* idle between messages is fine */
    send_text(&c, "ok");
    expect_text(&c, "ok");
    const uint8_t first[] = { 0x01, 0x82, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2 }; /* no FIN */
    client_send(&c, first, sizeof(first));
    fl_time t0 = fl_time_now();
    expect_close(&c, 1008, "message not finished in 200 ms");
    assert_true(fl_time_now() - t0 >= 150 * FL_TIME_MS);
    assert_int_equal(T.messages, 1);
    client_free(&c);
    stop();
}

static void test_max_connections(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .max_connections = 2 };
    start_with(&cfg);
    int port = fl_rpc_server_port(T.srv);
    client a, b, over;
    client_connect(&a, port, NULL);
    client_upgrade(&a, "/kurento");
    client_connect(&b, port, NULL);
    client_upgrade(&b, "/kurento");
    client_connect(&over, port, NULL);
    client_request(&over, "/kurento", true, "");
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(client_read_head(&over, h), 503);
    free(h);
    client_wait_eof(&over);
    client_free(&over);
    send_text(&a, "still here");
    expect_text(&a, "still here");
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.refused_max, 1);
    assert_int_equal(st.connections, 2);
    /* A place freed is taken again. */
    client_free(&b);
    run_for(20);
    assert_int_equal(client_status(port, "/", false, ""), 200);
    client_free(&a);
    stop();
}

static void test_access_token(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .access_token = "a+b/c=" };
    start_with(&cfg);
    int port = fl_rpc_server_port(T.srv);
    assert_int_equal(client_status(port, "/kurento", true, ""), 401);
    assert_int_equal(client_status(port, "/kurento?access_token=a+b/c", true, ""), 401);
    assert_int_equal(client_status(port, "/kurento?access_token=a+b/c==", true, ""), 401);
    assert_int_equal(client_status(port, "/kurento?access_token=a+b%2Fc%3", true, ""), 401);
    assert_int_equal(client_status(port, "/kurento", true, "Authorization: Bearer a+b/c\r\n"), 401);
    assert_int_equal(client_status(port, "/kurento", true, "Authorization: Basic a+b/c=\r\n"), 401);
    assert_int_equal(client_status(port, "/", false, ""), 401);
    assert_int_equal(client_status(port, "/metrics", false, ""), 401);
    assert_int_equal(T.https, 0);
    assert_int_equal(client_status(port, "/?access_token=a+b/c=", false, ""), 200);
    assert_int_equal(client_status(port, "/", false, "Authorization: bearer a+b/c=\r\n"), 200);
    assert_int_equal(client_status(port, "/kurento?x=1&access_token=a+b%2Fc%3D", true, ""), 101);
    assert_int_equal(client_status(port, "/kurento", true, "Authorization: Bearer a+b/c=\r\n"),
                     101);
    run_for(20);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.auth_failures, 8);
    assert_int_equal(T.opens, 2);
    stop();
}

/* A peer that does not read: the message that would pass the cap is refused
 * and the connection closed with 1008 behind what is queued. */
static void test_output_cap(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .max_queued_output = 65536 };
    start_with(&cfg);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    send_text(&c, "flood 8000"); /* 64 MiB if nothing stopped it */
    run_for(50);
    assert_int_equal(T.flood_err, FL_ECLOSED);
    assert_true(T.flood_sent < 4000); /* kernel buffers, then 64 KiB */
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.output_overflows, 1);
    fl_ws_event ev;
    int texts = 0;
    for (;;) {
        client_next(&c, &ev);
        if (ev.type != FL_WS_EVENT_TEXT)
            break;
        texts++;
    }
    assert_int_equal(texts, T.flood_sent);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, 1008);
    assert_string_equal(ev.reason, "output queue over 65536 bytes");
    client_send_ws(&c);
    client_wait_eof(&c);
    client_free(&c);
    assert_int_equal(T.closes, 1);
    stop();
}

/* Output that stays unwritten past reader_timeout: dropped. */
static void test_stalled_reader(void **state)
{
    (void)state;
    fl_rpc_server_config cfg = {
        .bind_addr = "127.0.0.1",
        .reader_timeout_ms = 200,
        .max_queued_output = 64u << 20,
    };
    start_with(&cfg);
    client c;
    client_connect(&c, fl_rpc_server_port(T.srv), NULL);
    client_upgrade(&c, "/kurento");
    send_text(&c, "flood 3000"); /* 24 MiB: more than the socket buffers hold */
    run_for(20);
    assert_int_equal(T.flood_sent, 3000);
    assert_int_equal(T.closes, 0);
    run_for(400);
    assert_int_equal(T.closes, 1);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.stalled_readers, 1);
    client_free(&c);
    stop();
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    long n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own */
}

/* Within fd_reserve of RLIMIT_NOFILE new sockets are closed at once; those
 * held keep working. */
static void test_fd_budget(void **state)
{
    (void)state;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    long base = open_fds();
    struct rlimit low = { (rlim_t)(base + 20), old.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    fl_rpc_server_config cfg = { .bind_addr = "127.0.0.1", .fd_reserve = 8 };
    start_with(&cfg);
    int port = fl_rpc_server_port(T.srv);
    client held;
    client_connect(&held, port, NULL);
    client_upgrade(&held, "/kurento");
    client more[6];
    int refused = -1;
    for (int i = 0; i < 6 && refused < 0; i++) {
        run_for(120); /* near the limit the count is at most 100 ms old */
        client_connect(&more[i], port, NULL);
        client_request(&more[i], "/", false, "");
        fl_http_head *h = malloc(sizeof(*h));
        int status = client_read_head(&more[i], h);
        free(h);
        client_wait_eof(&more[i]);
        if (status == 503)
            refused = i;
        else
            assert_int_equal(status, 200);
        /* keep the socket: it holds a descriptor */
    }
    assert_true(refused >= 1); /* 2 descriptors a client in this process */
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.refused_fd, 1);
    assert_int_equal(st.fd_limit, (long)low.rlim_cur);
    send_text(&held, "served");
    expect_text(&held, "served");
    for (int i = 0; i <= refused; i++)
        client_free(&more[i]);
    client_free(&held);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    stop();
}

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    fl_rand_seeded_init(&rnd, 3);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fl_srv_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cert, sizeof(cert), "%s/both.pem", tmpdir);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/k.pem -out %s/c.pem -days 2 -subj /CN=localhost 2>/dev/null && "
             "cat %s/c.pem %s/k.pem > %s",
             tmpdir, tmpdir, tmpdir, tmpdir, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_close),
        cmocka_unit_test(test_http_get),
        cmocka_unit_test(test_invalid_path),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_server_side_close),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_wss),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_pause_reading),
        cmocka_unit_test(test_pause_reading_tls),
        cmocka_unit_test(test_pause_then_close),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_message_timeout),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_access_token),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_stalled_reader),
        cmocka_unit_test(test_fd_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
