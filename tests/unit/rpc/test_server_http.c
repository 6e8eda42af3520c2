/* rpc/server: HTTP requests given to on_request (fl_rpc_http), on a private
 * loop driven by plain non-blocking sockets in the same thread: buffered and
 * streamed bodies (Content-Length, chunked), pause/resume, 413, 408, 400, a
 * peer that goes mid-body, answers from a timer, TLS, and the requests no
 * route takes. */
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
#include "base/http.h"
#include "base/log.h"
#include "base/time.h"
#include "rpc/server.h"
#include "rpc/tls.h"

#include <cmocka.h>

typedef struct ctx {
    fl_rpc_server *srv;
    bool done;
    int requests; /* on_request calls */
    int https;    /* on_http calls */
    int ends;
    int gones;
    int gone_status;
    size_t streamed;  /* stream mode: bytes given to body */
    int body_calls;   /* stream mode */
    int paused_calls; /* body calls that came while paused: must stay 0 */
    bool paused;
    fl_rpc_http *stream; /* the streamed request, to resume */
    fl_rpc_http *later;  /* answered from the timer */
    uv_timer_t timer;
    char got[4096]; /* the last buffered body */
    size_t got_len;
    char local[64];
    int local_tls;
} ctx;

typedef struct client {
    int fd;
    fl_tls *tls;
    fl_bytes in;
    bool eof;
} client;

static uv_loop_t loop;
static ctx T;
static char tmpdir[64];
static char cert[128];

/* ---- server side ---------------------------------------------------------- */

static void h_body(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    ctx *t = user;
    (void)req;
    (void)data;
    if (t->paused)
        t->paused_calls++;
    t->body_calls++;
    t->streamed += len;
    if (t->body_calls == 1) { /* hold the rest until the test resumes */
        t->paused = true;
        t->stream = req;
        fl_rpc_http_pause(req, 1);
    }
}

static void answer_later(uv_timer_t *tm)
{
    ctx *t = tm->data;
    assert_int_equal(fl_rpc_http_respond(t->later, 202, NULL, 0, NULL, NULL, 0), 0);
    t->later = NULL;
}

static void h_end(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    ctx *t = user;
    t->ends++;
    if (strcmp(fl_rpc_http_path(req), "/r/stream") == 0) {
        assert_null(data);
        assert_int_equal(len, 0);
        char n[32];
        snprintf(n, sizeof(n), "%zu", t->streamed);
        assert_int_equal(fl_rpc_http_respond(req, 200, NULL, 0, "text/plain", n, strlen(n)), 0);
        return;
    }
    assert_non_null(data);
    assert_int_equal(data[len], '\0');
    assert_true(len < sizeof(t->got));
    memcpy(t->got, data, len);
    t->got_len = len;
    if (strcmp(fl_rpc_http_path(req), "/r/later") == 0) {
        t->later = req;
        uv_timer_start(&t->timer, answer_later, 50, 0);
        return;
    }
    fl_http_header extra[2] = { { "Location", "/r/buf/1" }, { "X-Query", fl_rpc_http_query(req) } };
    assert_int_equal(fl_rpc_http_respond(req, 201, extra, 2, "application/sdp", data, len), 0);
    assert_int_equal(fl_rpc_http_respond(req, 500, NULL, 0, NULL, NULL, 0), FL_ECLOSED);
}

static void h_gone(void *user, fl_rpc_http *req, int status)
{
    ctx *t = user;
    (void)req;
    t->gones++;
    t->gone_status = status;
}

static const fl_rpc_http_handler handler = { h_body, h_end, h_gone };

static int on_request(void *arg, fl_rpc_http *req)
{
    ctx *t = arg;
    const char *path = fl_rpc_http_path(req);
    if (strncmp(path, "/r/", 3) != 0)
        return FL_ENOENT;
    t->requests++;
    assert_non_null(strstr(fl_rpc_http_peer(req), "127.0.0.1:"));
    assert_int_equal(fl_rpc_http_local(req, t->local, sizeof(t->local), &t->local_tls), 0);
    if (strcmp(path, "/r/now") == 0) {
        if (!fl_rpc_http_token_ok(req, "tok")) {
            fl_http_header www = { "WWW-Authenticate", "Bearer" };
            return fl_rpc_http_respond(req, 401, &www, 1, NULL, NULL, 0);
        }
        return fl_rpc_http_respond(req, 204, NULL, 0, NULL, NULL, 0);
    }
    if (strcmp(path, "/r/none") == 0)
        return 0; /* neither: the server answers 500 */
    if (strcmp(path, "/r/stream") == 0)
        fl_rpc_http_accept(req, &handler, t, 0);
    else if (strcmp(path, "/r/small") == 0)
        fl_rpc_http_accept(req, &handler, t, 10);
    else
        fl_rpc_http_accept(req, &handler, t, 4000);
    return 0;
}

static int on_http(void *arg, const char *path, fl_bytes *body, const char **content_type)
{
    ctx *t = arg;
    (void)path;
    t->https++;
    fl_bytes_append_str(body, "page");
    *content_type = "text/plain";
    return 200;
}

static void server_done(void *arg)
{
    ((ctx *)arg)->done = true;
}

static void start_with(int message_timeout_ms, bool secure)
{
    memset(&T, 0, sizeof(T));
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &T.timer);
    T.timer.data = &T;
    fl_rpc_server_config cfg = {
        .bind_addr = "127.0.0.1",
        .port = 0,
        .access_token = "tok",
        .message_timeout_ms = message_timeout_ms,
    };
    if (secure) {
        cfg.port = -1;
        cfg.secure_port = 30000 + (int)(getpid() % 20000);
        cfg.cert_file = cert;
    }
    fl_rpc_server_callbacks cb = { &T, NULL, NULL, NULL, on_http, on_request };
    assert_int_equal(fl_rpc_server_create(&T.srv, &loop, &cfg, &cb), 0);
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
    fl_rpc_server_close(T.srv, server_done, &T);
    uv_close((uv_handle_t *)&T.timer, NULL);
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (!T.done && fl_time_now() < end)
        run_for(1);
    assert_true(T.done);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- client side ---------------------------------------------------------- */

static void client_flush_tls(client *c)
{
    fl_bytes out;
    if (c->tls && fl_tls_poll_transmit(c->tls, &out) == 0) {
        assert_int_equal(send(c->fd, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
        fl_bytes_deinit(&out);
    }
}

static void client_connect(client *c, fl_tls_config *tls)
{
    memset(c, 0, sizeof(*c));
    fl_bytes_init(&c->in);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    int port = tls ? fl_rpc_server_secure_port(T.srv) : fl_rpc_server_port(T.srv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (tls) {
        assert_int_equal(fl_tls_create(&c->tls, tls, "localhost"), 0);
        client_flush_tls(c);
    }
}

static void client_send(client *c, const char *data)
{
    size_t len = strlen(data);
    if (c->tls) {
        assert_int_equal(fl_tls_write(c->tls, data, len), 0);
        client_flush_tls(c);
        return;
    }
    assert_int_equal(send(c->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void client_pump(client *c)
{
    uv_run(&loop, UV_RUN_NOWAIT);
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

/* Waits for the answer and the close: its status; the body in c->in. */
static int client_answer(client *c, fl_http_head *h)
{
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (!c->eof && fl_time_now() < end)
        client_pump(c);
    assert_true(c->eof);
    fl_http_head_init(h, FL_HTTP_RESPONSE);
    size_t used = 0;
    assert_int_equal(fl_http_head_parse(h, c->in.data, c->in.len, &used), 0);
    fl_bytes_consume(&c->in, used);
    return h->status;
}

static void client_free(client *c)
{
    close(c->fd);
    fl_tls_destroy(c->tls);
    fl_bytes_deinit(&c->in);
}

static fl_http_head *H;
static char answer[2048]; /* the body of roundtrip's answer */

/* One request on a new connection; the answer's status. */
static int roundtrip(const char *req, fl_tls_config *tls)
{
    client c;
    client_connect(&c, tls);
    client_send(&c, req);
    int status = client_answer(&c, H);
    assert_true(c.in.len < sizeof(answer));
    if (c.in.len)
        memcpy(answer, c.in.data, c.in.len);
    answer[c.in.len] = '\0';
    client_free(&c);
    return status;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_buffered(void **state)
{
    (void)state;
    start_with(0, false);
    const char *req = "POST /r/buf?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/sdp\r\n"
                      "Content-Length: 5\r\n\r\nv=0\r\n";
    assert_int_equal(roundtrip(req, NULL), 201);
    assert_string_equal(fl_http_head_get(H, "Location"), "/r/buf/1");
    assert_string_equal(fl_http_head_get(H, "X-Query"), "x=1");
    assert_string_equal(fl_http_head_get(H, "Content-Type"), "application/sdp");
    assert_string_equal(fl_http_head_get(H, "Content-Length"), "5");
    assert_string_equal(fl_http_head_get(H, "Connection"), "close");
    assert_string_equal(answer, "v=0\r\n");
    assert_int_equal(T.ends, 1);
    assert_int_equal(T.gones, 0);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", fl_rpc_server_port(T.srv));
    assert_string_equal(T.local, want);
    assert_int_equal(T.local_tls, 0);
    /* No body at all: end at once with "", len 0. */
    assert_int_equal(roundtrip("DELETE /r/buf HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 201);
    assert_int_equal(T.ends, 2);
    assert_int_equal(T.got_len, 0);
    /* Chunked, in pieces, with Expect: 100-continue. */
    client c;
    client_connect(&c, NULL);
    client_send(&c, "PUT /r/buf HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-continue\r\n\r\n");
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (c.in.len < 25 && fl_time_now() < end)
        client_pump(&c);
    assert_memory_equal(c.in.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    fl_bytes_consume(&c.in, 25);
    client_send(&c, "3\r\nabc\r\n");
    run_for(20);
    assert_int_equal(T.ends, 2);
    client_send(&c, "4;ext=1\r\ndefg\r\n0\r\n\r\n");
    assert_int_equal(client_answer(&c, H), 201);
    assert_int_equal(T.got_len, 7);
    assert_memory_equal(T.got, "abcdefg", 7);
    client_free(&c);
    assert_int_equal(T.requests, 3);
    stop();
}

static void test_fallthrough(void **state)
{
    (void)state;
    start_with(0, false);
    /* Not a route's path: the server as before (token, GET page, 405). */
    assert_int_equal(roundtrip("GET /?access_token=tok HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 200);
    assert_int_equal(roundtrip("GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 401);
    assert_int_equal(
            roundtrip("POST /x HTTP/1.1\r\nAuthorization: Bearer tok\r\nContent-Length: 0\r\n\r\n",
                      NULL),
            405);
    assert_int_equal(T.https, 1);
    assert_int_equal(T.requests, 0);
    /* A route checks its own token; answers from on_request. */
    assert_int_equal(roundtrip("POST /r/now HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 401);
    assert_string_equal(fl_http_head_get(H, "WWW-Authenticate"), "Bearer");
    assert_int_equal(roundtrip("POST /r/now HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n", NULL),
                     204);
    assert_null(fl_http_head_get(H, "Content-Length")); /* RFC 9110 8.6: none on a 204 */
    assert_null(fl_http_head_get(H, "Content-Type"));
    assert_int_equal(roundtrip("GET /r/now?access_token=tok HTTP/1.1\r\n\r\n", NULL), 204);
    /* A route that neither takes nor answers: 500. */
    assert_int_equal(roundtrip("POST /r/none HTTP/1.1\r\n\r\n", NULL), 500);
    assert_int_equal(T.gones, 0);
    stop();
}

static void test_limits(void **state)
{
    (void)state;
    start_with(300, false);
    /* Content-Length over max_body: 413 before the body is read. */
    assert_int_equal(roundtrip("POST /r/small HTTP/1.1\r\nContent-Length: 100\r\n\r\n", NULL), 413);
    assert_int_equal(T.gones, 1);
    assert_int_equal(T.gone_status, FL_EMSGSIZE);
    /* Chunked going over it. */
    assert_int_equal(roundtrip("POST /r/small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "8\r\n12345678\r\n8\r\n12345678\r\n",
                               NULL),
                     413);
    assert_int_equal(T.gones, 2);
    assert_int_equal(T.gone_status, FL_EMSGSIZE);
    /* Malformed chunked framing: 400. */
    assert_int_equal(
            roundtrip("POST /r/buf HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", NULL),
            400);
    assert_int_equal(T.gones, 3);
    assert_int_equal(T.gone_status, FL_EBADMSG);
    /* Content-Length not a number: 400. */
    assert_int_equal(roundtrip("POST /r/buf HTTP/1.1\r\nContent-Length: x\r\n\r\n", NULL), 400);
    assert_int_equal(T.gones, 4);
    /* A body that does not finish: 408 after message_timeout. */
    fl_time t0 = fl_time_now();
    assert_int_equal(roundtrip("POST /r/buf HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", NULL), 408);
    assert_true(fl_time_now() - t0 >= 250 * FL_TIME_MS);
    assert_int_equal(T.gones, 5);
    assert_int_equal(T.gone_status, FL_ETIMEDOUT);
    assert_int_equal(T.ends, 0);
    fl_rpc_server_stats st;
    fl_rpc_server_get_stats(T.srv, &st);
    assert_int_equal(st.request_timeouts, 1);
    stop();
}

static void test_peer_gone(void **state)
{
    (void)state;
    start_with(0, false);
    client c;
    client_connect(&c, NULL);
    client_send(&c, "POST /r/buf HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    run_for(20);
    assert_int_equal(T.requests, 1);
    assert_int_equal(T.gones, 0);
    client_free(&c);
    run_for(50);
    assert_int_equal(T.gones, 1);
    assert_int_equal(T.gone_status, FL_ECLOSED);
    /* The server closing with a request waiting for its answer. */
    client_connect(&c, NULL);
    client_send(&c, "POST /r/later HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    run_for(10);
    assert_int_equal(T.ends, 1);
    assert_non_null(T.later);
    uv_timer_stop(&T.timer);
    T.later = NULL;
    fl_rpc_server_close(T.srv, server_done, &T);
    assert_int_equal(T.gones, 2);
    assert_int_equal(T.gone_status, FL_ECANCELED);
    T.srv = NULL;
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    while (!T.done && fl_time_now() < end)
        run_for(1);
    assert_true(T.done);
    client_free(&c);
    uv_close((uv_handle_t *)&T.timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_later(void **state)
{
    (void)state;
    start_with(0, false);
    fl_time t0 = fl_time_now();
    assert_int_equal(roundtrip("POST /r/later HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", NULL), 202);
    assert_true(fl_time_now() - t0 >= 40 * FL_TIME_MS);
    assert_memory_equal(T.got, "hi", 2);
    assert_int_equal(T.gones, 0);
    stop();
}

static void test_stream_pause(void **state)
{
    (void)state;
    start_with(100, false); /* stream mode times nothing: the pause outlives it */
    static char big[200001];
    memset(big, 'z', sizeof(big) - 1);
    client c;
    client_connect(&c, NULL);
    client_send(&c, "POST /r/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    char line[32];
    snprintf(line, sizeof(line), "%zx\r\n", sizeof(big) - 1);
    client_send(&c, line);
    client_send(&c, big);
    client_send(&c, "\r\n");
    run_for(200);
    assert_int_equal(T.body_calls, 1);
    assert_true(T.paused);
    size_t first = T.streamed;
    assert_true(first < sizeof(big) - 1);
    client_send(&c, "5\r\nhello\r\n0\r\n\r\n");
    run_for(50);
    assert_int_equal(T.streamed, first); /* nothing while paused */
    assert_int_equal(T.ends, 0);
    assert_int_equal(T.gones, 0);
    /* Resume from outside a callback: the rest comes on later turns. */
    T.paused = false;
    fl_rpc_http_pause(T.stream, 0);
    assert_int_equal(T.body_calls, 1);
    assert_int_equal(client_answer(&c, H), 200);
    char want[32];
    snprintf(want, sizeof(want), "%zu", sizeof(big) - 1 + 5);
    assert_int_equal(c.in.len, strlen(want));
    assert_memory_equal(c.in.data, want, strlen(want));
    assert_int_equal(T.paused_calls, 0);
    client_free(&c);
    stop();
}

/* A streamed body that stops coming: 408 after the message timeout, as a
 * buffered one, and the route hears of it (its URL is free again). */
static void test_stream_stall(void **state)
{
    (void)state;
    start_with(100, false);
    client c;
    client_connect(&c, NULL);
    client_send(&c, "POST /r/stream HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    assert_int_equal(client_answer(&c, H), 408);
    assert_int_equal(T.gones, 1);
    assert_int_equal(T.gone_status, FL_ETIMEDOUT);
    client_free(&c);
    /* HEAD: the answer's head as it would be, no body after it */
    assert_int_equal(roundtrip("HEAD /r/buf HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", NULL), 201);
    assert_string_equal(fl_http_head_get(H, "Content-Length"), "3");
    assert_string_equal(answer, "");
    stop();
}

static void test_tls(void **state)
{
    (void)state;
    start_with(0, true);
    fl_tls_config *tc = NULL;
    assert_int_equal(fl_tls_config_create_client(&tc, NULL, 0), 0);
    const char *req = "POST /r/buf HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(roundtrip(req, tc), 201);
    assert_string_equal(answer, "abc");
    assert_int_equal(T.local_tls, 1);
    fl_tls_config_destroy(tc);
    stop();
}

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    H = malloc(sizeof(*H));
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fl_srvh_XXXXXX");
    if (!H || !mkdtemp(tmpdir))
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
    free(H);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffered),     cmocka_unit_test(test_fallthrough),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_peer_gone),
        cmocka_unit_test(test_later),        cmocka_unit_test(test_stream_pause),
        cmocka_unit_test(test_stream_stall), cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
