/* rpc/server: the control server on a private loop, driven by plain
 * non-blocking sockets in the same thread (the loop runs between reads). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "net/http.h"
#include "net/tls.h"
#include "net/ws.h"
#include "rpc/server.h"

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
    assert_int_equal(fl_rpc_conn_send(conn, data, len), 0);
}

static void on_close(void *arg, fl_rpc_conn *conn)
{
    ctx *t = arg;
    assert_ptr_equal(conn, t->conn);
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

static void start(const char *bind_addr, int secure_port)
{
    memset(&T, 0, sizeof(T));
    assert_int_equal(uv_loop_init(&loop), 0);
    fl_rpc_server_config cfg = {
        .bind_addr = bind_addr,
        .port = 0,
        .secure_port = secure_port,
        .cert_file = secure_port ? cert : NULL,
        .max_message = 4096,
    };
    fl_rpc_server_callbacks cb = { &T, on_open, on_message, on_close, on_http };
    assert_int_equal(fl_rpc_server_create(&T.srv, &loop, &cfg, &cb), 0);
    assert_true(fl_rpc_server_port(T.srv) > 0);
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
        assert_int_equal(fl_tls_write(c->tls, data, len), 0);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
