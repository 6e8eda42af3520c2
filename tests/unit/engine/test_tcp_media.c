/* Passive ICE-TCP listener over loopback with a plain client socket: frames
 * in any cut, echoed back, bad frames skipped, idle and peer closes, the
 * connection limit, the port range, and a loop that closes clean. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rand.h"
#include "engine/tcp_media.h"
#include "ice/tcp_frame.h"

#define FRAMES  2000
#define WAIT_MS 10000

typedef struct T {
    uv_loop_t loop;
    fl_buf_pool *pool;
    fl__tcp_media *t;
    uv_idle_t idle;
    uv_timer_t timer;
    int timed_out;
    int echo;
    /* server side */
    uint64_t conn;
    int opened, closed;
    fl_addr peer;
    uint32_t frames;
    uint32_t bad_content;
    /* client side */
    int fd;
    uint8_t *stream; /* every frame the client sends, framed */
    size_t stream_len, written;
    fl_rand rand;
    fl_tcp_frame_decoder dec;
    uint8_t scratch[2048];
    uint32_t echoed;
} T;

/* Frame i: (i % 1400) + 1 bytes of a pattern that depends on i. */
static size_t frame_len(uint32_t i)
{
    return i % 1400 + 1;
}

static int frame_ok(uint32_t i, const uint8_t *p, size_t len)
{
    if (len != frame_len(i))
        return 0;
    for (size_t j = 0; j < len; j++) {
        if (p[j] != (uint8_t)(i + j))
            return 0;
    }
    return 1;
}

static void on_frame(fl__tcp_media *t, uint64_t conn, const fl_addr *peer, fl_buf *b, void *arg)
{
    T *x = arg;
    assert_int_equal(conn, x->conn);
    assert_true(fl_addr_equal(peer, &x->peer));
    x->bad_content += !frame_ok(x->frames, fl_buf_data(b), b->len);
    x->frames++;
    if (x->echo)
        assert_int_equal(fl__tcp_media_send(t, conn, b), 0);
    else
        fl_buf_unref(b);
}

static void on_conn(fl__tcp_media *t, uint64_t conn, const fl_addr *peer, int open, void *arg)
{
    T *x = arg;
    (void)t;
    if (open) {
        x->opened++;
        x->conn = conn;
        x->peer = *peer;
    } else {
        assert_int_equal(conn, x->conn);
        x->closed++;
    }
}

static const fl__tcp_media_callbacks cbs = { on_frame, on_conn };

static void on_timeout(uv_timer_t *h)
{
    T *x = h->data;
    x->timed_out = 1;
    uv_stop(&x->loop);
}

static void setup_t(T *x, const fl__tcp_media_config *cfg)
{
    memset(x, 0, sizeof *x);
    x->fd = -1;
    assert_int_equal(uv_loop_init(&x->loop), 0);
    assert_int_equal(fl_buf_pool_create(&x->pool, 2048, 128, 16, 0), 0);
    assert_int_equal(fl__tcp_media_create(&x->t, &x->loop, x->pool, cfg, &cbs, x), 0);
    uv_timer_init(&x->loop, &x->timer);
    x->timer.data = x;
    fl_rand_seeded_init(&x->rand, 7);
    fl_tcp_frame_decoder_init(&x->dec, x->scratch, sizeof x->scratch);
}

static int on_close_count;

static void on_close(void *arg)
{
    (void)arg;
    on_close_count++;
}

static void teardown_t(T *x)
{
    if (x->fd >= 0)
        close(x->fd);
    on_close_count = 0;
    fl__tcp_media_close(x->t, on_close, NULL);
    uv_close((uv_handle_t *)&x->timer, NULL);
    assert_int_equal(uv_run(&x->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(on_close_count, 1);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    fl_buf_pool_stats ps;
    fl_buf_pool_get_stats(x->pool, &ps);
    assert_int_equal(ps.in_use, 0);
    fl_buf_pool_destroy(x->pool);
    free(x->stream);
}

static fl__tcp_media_config config_for(const char *ip)
{
    fl__tcp_media_config cfg = { 0 };
    assert_int_equal(fl_addr_parse(&cfg.local, ip, 0), 0);
    return cfg;
}

/* A non-blocking client connected to the listener. */
static int client_connect(T *x)
{
    const fl_addr *a = fl__tcp_media_local(x->t);
    struct sockaddr_storage ss;
    size_t len = fl_addr_to_sockaddr(a, (struct sockaddr *)&ss, sizeof ss);
    int fd = socket(a->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, (socklen_t)len), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(T *x, uint64_t ms)
{
    uv_timer_start(&x->timer, on_timeout, ms, 0);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    x->timed_out = 0;
}

static void build_stream(T *x)
{
    size_t cap = 0;
    for (uint32_t i = 0; i < FRAMES; i++)
        cap += frame_len(i) + 2;
    x->stream = malloc(cap);
    for (uint32_t i = 0; i < FRAMES; i++) {
        uint8_t *p = x->stream + x->stream_len;
        for (size_t j = 0; j < frame_len(i); j++)
            p[2 + j] = (uint8_t)(i + j);
        size_t w;
        assert_int_equal(fl_tcp_frame_write(p, cap - x->stream_len, p + 2, frame_len(i), &w), 0);
        x->stream_len += w;
    }
}

/* Client: writes the next piece (1..3000 bytes), reads and checks echoes. */
static void on_idle(uv_idle_t *h)
{
    T *x = h->data;
    if (x->written < x->stream_len) {
        size_t n = 1 + fl_rand_u32(&x->rand) % 3000;
        if (n > x->stream_len - x->written)
            n = x->stream_len - x->written;
        ssize_t r = write(x->fd, x->stream + x->written, n);
        if (r > 0)
            x->written += (size_t)r;
    }
    uint8_t buf[4096];
    ssize_t r = read(x->fd, buf, sizeof buf);
    if (r > 0) {
        assert_int_equal(fl_tcp_frame_decoder_handle_input(&x->dec, buf, (size_t)r), 0);
        const uint8_t *f;
        size_t len;
        while (fl_tcp_frame_decoder_poll_frame(&x->dec, &f, &len) == 0) {
            assert_true(frame_ok(x->echoed, f, len));
            x->echoed++;
        }
    }
    if (x->echoed == FRAMES)
        uv_stop(&x->loop);
}

static void test_echo(void **state)
{
    (void)state;
    T x;
    fl__tcp_media_config cfg = config_for("127.0.0.1");
    setup_t(&x, &cfg);
    x.echo = 1;
    build_stream(&x);
    x.fd = client_connect(&x);
    uv_idle_init(&x.loop, &x.idle);
    x.idle.data = &x;
    uv_idle_start(&x.idle, on_idle);
    uv_timer_start(&x.timer, on_timeout, WAIT_MS, 0);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&x.idle, NULL);
    assert_false(x.timed_out);
    assert_int_equal(x.opened, 1);
    assert_int_equal(x.frames, FRAMES);
    assert_int_equal(x.echoed, FRAMES);
    assert_int_equal(x.bad_content, 0);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(x.fd, (struct sockaddr *)&ss, &sl);
    fl_addr mine;
    fl_addr_from_sockaddr(&mine, (struct sockaddr *)&ss);
    assert_true(fl_addr_equal(&mine, &x.peer));

    fl__tcp_media_stats st;
    fl__tcp_media_get_stats(x.t, &st);
    assert_int_equal(st.frames_in, FRAMES);
    assert_int_equal(st.frames_out, FRAMES);
    assert_int_equal(st.bytes_in, x.stream_len - 2 * FRAMES);
    assert_int_equal(st.bytes_out, st.bytes_in);
    assert_true(st.writes < FRAMES); /* frames go out several per writev */
    assert_int_equal(st.frames_bad + st.drops_queue + st.drops_no_buf, 0);

    /* the peer closes: reported once */
    close(x.fd);
    x.fd = -1;
    run_for(&x, 100);
    assert_int_equal(x.closed, 1);
    assert_int_equal(fl__tcp_media_conns(x.t), 0);
    fl_buf *b = fl_buf_pool_get(x.pool);
    fl_buf_set_len(b, 4);
    assert_int_equal(fl__tcp_media_send(x.t, x.conn, b), FL_ENOENT);
    teardown_t(&x);
}

/* Empty and oversized frames are skipped; the frames around them arrive. */
static void test_bad_frames(void **state)
{
    (void)state;
    T x;
    fl__tcp_media_config cfg = config_for("::1");
    cfg.max_frame = 100;
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 lo = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int v6 = bind(fd, (struct sockaddr *)&lo, sizeof lo) == 0;
    close(fd);
    if (!v6) {
        cfg = config_for("127.0.0.1");
        cfg.max_frame = 100;
    }
    setup_t(&x, &cfg);
    x.fd = client_connect(&x);
    uint8_t s[2 + 1 + 2 + 2 + 200 + 2 + 2];
    size_t at = 0;
    s[at++] = 0, s[at++] = 1, s[at++] = 0; /* frame 0: 1 byte, (0 + 0) */
    s[at++] = 0, s[at++] = 0;              /* empty */
    s[at++] = 0, s[at++] = 200;            /* over max_frame */
    memset(s + at, 0, 200);
    at += 200;
    s[at++] = 0, s[at++] = 2, s[at++] = 1, s[at++] = 2; /* frame 1: 2 bytes (1, 2) */
    assert_int_equal(write(x.fd, s, at), (ssize_t)at);
    run_for(&x, 100);
    assert_int_equal(x.frames, 2);
    assert_int_equal(x.bad_content, 0);
    fl__tcp_media_stats st;
    fl__tcp_media_get_stats(x.t, &st);
    assert_int_equal(st.frames_bad, 2);
    teardown_t(&x);
}

/* A silent connection is closed by the idle timer; the client sees EOF. */
static void test_idle_and_local_close(void **state)
{
    (void)state;
    T x;
    fl__tcp_media_config cfg = config_for("127.0.0.1");
    cfg.idle_ms = 100;
    setup_t(&x, &cfg);
    x.fd = client_connect(&x);
    run_for(&x, 400);
    assert_int_equal(x.opened, 1);
    assert_int_equal(x.closed, 1);
    uint8_t b;
    assert_int_equal(read(x.fd, &b, 1), 0);
    close(x.fd);

    x.fd = client_connect(&x);
    run_for(&x, 20);
    assert_int_equal(x.opened, 2);
    assert_int_equal(fl__tcp_media_close_conn(x.t, x.conn), 0);
    assert_int_equal(fl__tcp_media_close_conn(x.t, x.conn), FL_ENOENT);
    assert_int_equal(x.closed, 2);
    run_for(&x, 20);
    assert_int_equal(read(x.fd, &b, 1), 0);
    fl__tcp_media_stats st;
    fl__tcp_media_get_stats(x.t, &st);
    assert_int_equal(st.conns_idle, 1);
    assert_int_equal(st.conns_closed, 2);
    teardown_t(&x);
}

/* Over max_conns, a connection is accepted and closed at once; closing the
 * listener with a connection open reports nothing and frees everything. */
static void test_limit_and_close_with_conns(void **state)
{
    (void)state;
    T x;
    fl__tcp_media_config cfg = config_for("127.0.0.1");
    cfg.max_conns = 1;
    setup_t(&x, &cfg);
    x.fd = client_connect(&x);
    run_for(&x, 20);
    int fd2 = client_connect(&x);
    run_for(&x, 20);
    uint8_t b;
    ssize_t r = read(fd2, &b, 1);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    close(fd2);
    fl__tcp_media_stats st;
    fl__tcp_media_get_stats(x.t, &st);
    assert_int_equal(st.conns_accepted, 1);
    assert_int_equal(st.conns_refused, 1);
    assert_int_equal(fl__tcp_media_conns(x.t), 1);
    teardown_t(&x); /* with the first connection still open */
    assert_int_equal(x.closed, 0);
}

/* A 2-port range gives two listeners, then FL_EBUSY. */
static void test_port_range(void **state)
{
    (void)state;
    uv_loop_t loop;
    fl_buf_pool *pool;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(fl_buf_pool_create(&pool, 2048, 128, 0, 0), 0);
    uint16_t lo = (uint16_t)(30000 + (getpid() % 5000) * 2);
    fl__tcp_media_config cfg = config_for("127.0.0.1");
    cfg.min_port = lo;
    cfg.max_port = (uint16_t)(lo + 1);
    fl__tcp_media *t[3] = { 0 };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fl__tcp_media_create(&t[i], &loop, pool, &cfg, &cbs, NULL), 0);
        uint16_t p = fl__tcp_media_local(t[i])->port;
        assert_true(p == lo || p == lo + 1);
    }
    assert_int_equal(fl__tcp_media_create(&t[2], &loop, pool, &cfg, &cbs, NULL), FL_EBUSY);
    on_close_count = 0;
    fl__tcp_media_close(t[0], on_close, NULL);
    fl__tcp_media_close(t[1], on_close, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(on_close_count, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    fl_buf_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_idle_and_local_close),
        cmocka_unit_test(test_limit_and_close_with_conns),
        cmocka_unit_test(test_port_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
