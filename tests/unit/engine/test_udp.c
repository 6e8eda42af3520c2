/* Media UDP sockets: batched exchange over loopback (IPv4 and IPv6), port
 * ranges, counters, send errors, pool exhaustion, wildcard binds, and a loop
 * that closes clean. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rand.h"
#include "engine/udp.h"

#define COUNT     10000
#define WINDOW    256 /* datagrams in flight, so loopback buffers never overflow */
#define PER_ROUND 64  /* datagrams queued per loop iteration */
#define PAYLOAD   100
#define WAIT_MS   10000

typedef struct side {
    fl__udp *u;
    uint32_t next_seq; /* expected next sequence number */
    uint32_t got;      /* datagrams received */
    uint32_t out_of_order;
    size_t max_batch;
    int echo;         /* send every datagram back to its sender */
    fl_buf *kept[64]; /* buffers held to exhaust a pool */
    size_t nkept;
    size_t keep; /* hold up to this many instead of dropping */
    fl_addr last_local;
} side;

typedef struct exchange {
    uv_loop_t loop;
    fl_buf_pool *pool;
    side a, b;
    uint32_t sent;
    uint32_t count;
    uv_idle_t idle;
    uv_timer_t timer;
    int timed_out;
    int closed;
} exchange;

static void on_recv(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg)
{
    side *s = arg;
    if (n > s->max_batch)
        s->max_batch = n;
    for (size_t i = 0; i < n; i++) {
        fl_buf *b = pkts[i].buf;
        uint32_t seq;
        assert_true(b->len >= sizeof seq);
        memcpy(&seq, fl_buf_data(b), sizeof seq);
        s->out_of_order += seq != s->next_seq;
        s->next_seq = seq + 1;
        s->got++;
        s->last_local = pkts[i].local;
        if (s->echo)
            assert_int_equal(fl__udp_send(u, &pkts[i].from, b), 0); /* zero copy */
        else if (s->nkept < s->keep)
            s->kept[s->nkept++] = b;
        else
            fl_buf_unref(b);
    }
}

static void on_close(void *arg)
{
    (*(int *)arg)++;
}

/* A queues up to PER_ROUND datagrams per iteration while fewer than WINDOW
 * are unanswered. */
static void on_idle(uv_idle_t *h)
{
    exchange *x = h->data;
    for (int i = 0; i < PER_ROUND && x->sent < x->count && x->sent - x->a.got < WINDOW; i++) {
        fl_buf *b = fl_buf_pool_get(x->pool);
        assert_non_null(b);
        memset(fl_buf_data(b), 0xab, PAYLOAD);
        memcpy(fl_buf_data(b), &x->sent, sizeof x->sent);
        assert_int_equal(fl_buf_set_len(b, PAYLOAD), 0);
        assert_int_equal(fl__udp_send(x->a.u, fl__udp_local(x->b.u), b), 0);
        x->sent++;
    }
    if (x->a.got == x->count)
        uv_stop(&x->loop);
}

static void on_timeout(uv_timer_t *h)
{
    exchange *x = h->data;
    x->timed_out = 1;
    uv_stop(&x->loop);
}

static fl__udp_config config_for(const char *ip, uint16_t lo, uint16_t hi)
{
    fl__udp_config cfg = { .min_port = lo, .max_port = hi, .rcvbuf = 1 << 20 };
    assert_int_equal(fl_addr_parse(&cfg.local, ip, 0), 0);
    return cfg;
}

/* Closes what is open and checks that the loop ends with no handle and the
 * pool with no buffer out. */
static void close_loop(uv_loop_t *loop, fl_buf_pool *pool, fl__udp **socks, size_t n)
{
    int closed = 0;
    for (size_t i = 0; i < n; i++)
        fl__udp_close(socks[i], on_close, &closed);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(closed, (int)n);
    assert_int_equal(uv_loop_close(loop), 0);
    fl_buf_pool_stats ps;
    fl_buf_pool_get_stats(pool, &ps);
    assert_int_equal(ps.in_use, 0);
    fl_buf_pool_destroy(pool);
}

static int ipv6_loopback_works(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void run_exchange(const char *ip)
{
    exchange x = { .count = COUNT };
    assert_int_equal(uv_loop_init(&x.loop), 0);
    assert_int_equal(fl_buf_pool_create(&x.pool, 2048, 128, 64, 0), 0);
    fl__udp_config cfg = config_for(ip, 0, 0);
    assert_int_equal(fl__udp_create(&x.a.u, &x.loop, x.pool, &cfg, on_recv, &x.a), 0);
    assert_int_equal(fl__udp_create(&x.b.u, &x.loop, x.pool, &cfg, on_recv, &x.b), 0);
    assert_true(fl__udp_local(x.a.u)->port >= FL__UDP_MIN_PORT);
    assert_int_not_equal(fl__udp_local(x.a.u)->port, fl__udp_local(x.b.u)->port);
    x.b.echo = 1;
    uv_idle_init(&x.loop, &x.idle);
    uv_timer_init(&x.loop, &x.timer);
    x.idle.data = x.timer.data = &x;
    uv_idle_start(&x.idle, on_idle);
    uv_timer_start(&x.timer, on_timeout, WAIT_MS, 0);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    assert_false(x.timed_out);
    uv_close((uv_handle_t *)&x.idle, NULL);
    uv_close((uv_handle_t *)&x.timer, NULL);

    assert_int_equal(x.b.got, COUNT);
    assert_int_equal(x.a.got, COUNT);
    assert_int_equal(x.a.out_of_order + x.b.out_of_order, 0);
    assert_true(x.a.max_batch > 1 || x.b.max_batch > 1);
    fl__udp_stats sa, sb;
    fl__udp_get_stats(x.a.u, &sa);
    fl__udp_get_stats(x.b.u, &sb);
    assert_int_equal(sa.packets_out, COUNT);
    assert_int_equal(sa.bytes_out, (uint64_t)COUNT * PAYLOAD);
    assert_int_equal(sb.packets_in, COUNT);
    assert_int_equal(sb.bytes_in, (uint64_t)COUNT * PAYLOAD);
    assert_int_equal(sb.packets_out, COUNT);
    assert_int_equal(sa.packets_in, COUNT);
    assert_true(sb.batches_in < sb.packets_in);
    assert_true(sa.batches_out < sa.packets_out);
    assert_int_equal(sa.drops_queue + sa.drops_no_buf + sa.send_errors, 0);
    assert_int_equal(sb.drops_queue + sb.drops_no_buf + sb.send_errors, 0);
    printf("%s: %u datagrams each way; batches in %llu/%llu, out %llu/%llu, max %zu/%zu\n", ip,
           COUNT, (unsigned long long)sb.batches_in, (unsigned long long)sa.batches_in,
           (unsigned long long)sa.batches_out, (unsigned long long)sb.batches_out, x.b.max_batch,
           x.a.max_batch);
    fl__udp *socks[] = { x.a.u, x.b.u };
    close_loop(&x.loop, x.pool, socks, 2);
}

static void test_exchange_ipv4(void **state)
{
    (void)state;
    run_exchange("127.0.0.1");
}

static void test_exchange_ipv6(void **state)
{
    (void)state;
    if (!ipv6_loopback_works())
        skip();
    run_exchange("::1");
}

/* A 2-port range gives two sockets on its two ports, then FL_EBUSY. */
static void test_port_range(void **state)
{
    (void)state;
    uv_loop_t loop;
    fl_buf_pool *pool;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(fl_buf_pool_create(&pool, 2048, 128, 0, 0), 0);
    fl__udp *u[3] = { 0 };
    side s = { 0 };
    uint16_t lo = (uint16_t)(20000 + (getpid() % 5000) * 2);
    fl__udp_config cfg = config_for("127.0.0.1", lo, (uint16_t)(lo + 1));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fl__udp_create(&u[i], &loop, pool, &cfg, on_recv, &s), 0);
        uint16_t p = fl__udp_local(u[i])->port;
        assert_true(p == lo || p == lo + 1);
    }
    assert_int_not_equal(fl__udp_local(u[0])->port, fl__udp_local(u[1])->port);
    assert_int_equal(fl__udp_create(&u[2], &loop, pool, &cfg, on_recv, &s), FL_EBUSY);
    assert_null(u[2]);

    cfg.min_port = 5000;
    cfg.max_port = 4000;
    assert_int_equal(fl__udp_create(&u[2], &loop, pool, &cfg, on_recv, &s), FL_EINVAL);
    cfg = config_for("192.0.2.1", lo, lo); /* TEST-NET-1: not a local address */
    assert_int_equal(fl__udp_create(&u[2], &loop, pool, &cfg, on_recv, &s), FL_EINVAL);
    close_loop(&loop, pool, u, 2);
}

/* Random port order: two seeded generators give different first ports. */
static void test_port_order(void **state)
{
    (void)state;
    uint16_t ports[8];
    for (int i = 0; i < 8; i++) {
        fl_rand r;
        fl_rand_seeded_init(&r, (uint64_t)i + 1);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        fl_addr a;
        assert_int_equal(fl_addr_parse(&a, "127.0.0.1", 0), 0);
        assert_int_equal(fl__port_bind(fd, &a, 0, 0, &r, &ports[i]), 0);
        assert_true(ports[i] >= FL__UDP_MIN_PORT);
        close(fd);
    }
    int distinct = 0;
    for (int i = 1; i < 8; i++)
        distinct += ports[i] != ports[0];
    assert_true(distinct > 0);
}

/* A send the kernel refuses (port 0) is counted and dropped; the rest of the
 * batch still goes out. A full queue is flushed at once. */
static void test_send_errors_and_full_queue(void **state)
{
    (void)state;
    exchange x = { 0 };
    assert_int_equal(uv_loop_init(&x.loop), 0);
    assert_int_equal(fl_buf_pool_create(&x.pool, 2048, 128, 0, 0), 0);
    fl__udp_config cfg = config_for("127.0.0.1", 0, 0);
    cfg.queue = 4;
    assert_int_equal(fl__udp_create(&x.a.u, &x.loop, x.pool, &cfg, on_recv, &x.a), 0);
    assert_int_equal(fl__udp_create(&x.b.u, &x.loop, x.pool, &cfg, on_recv, &x.b), 0);
    fl_addr bad = *fl__udp_local(x.b.u);
    bad.port = 0;
    fl_addr v6;
    assert_int_equal(fl_addr_parse(&v6, "::1", 9), 0);
    for (uint32_t i = 0; i < 10; i++) {
        fl_buf *b = fl_buf_pool_get(x.pool);
        memcpy(fl_buf_data(b), &i, sizeof i);
        fl_buf_set_len(b, sizeof i);
        const fl_addr *to = i == 0 ? &bad : fl__udp_local(x.b.u);
        assert_int_equal(fl__udp_send(x.a.u, to, b), 0);
        assert_true(fl__udp_queued(x.a.u) <= 4);
    }
    fl_buf *b = fl_buf_pool_get(x.pool);
    assert_int_equal(fl__udp_send(x.a.u, &v6, b), FL_EINVAL);
    x.b.next_seq = 1;
    uv_run(&x.loop, UV_RUN_NOWAIT); /* the check handle flushes the rest */
    usleep(20000);
    uv_run(&x.loop, UV_RUN_NOWAIT);
    fl__udp_stats st;
    fl__udp_get_stats(x.a.u, &st);
    assert_int_equal(st.send_errors, 1);
    assert_int_equal(st.packets_out, 9);
    assert_int_equal(fl__udp_queued(x.a.u), 0);
    assert_int_equal(x.b.got, 9);
    assert_int_equal(x.b.out_of_order, 0);
    fl__udp *socks[] = { x.a.u, x.b.u };
    close_loop(&x.loop, x.pool, socks, 2);
}

/* With its pool exhausted the receiver drops and counts, and recovers. */
static void test_pool_exhaustion(void **state)
{
    (void)state;
    exchange x = { 0 };
    fl_buf_pool *small;
    assert_int_equal(uv_loop_init(&x.loop), 0);
    assert_int_equal(fl_buf_pool_create(&x.pool, 2048, 128, 0, 0), 0);
    assert_int_equal(fl_buf_pool_create(&small, 2048, 128, 8, 8), 0);
    fl__udp_config cfg = config_for("127.0.0.1", 0, 0);
    assert_int_equal(fl__udp_create(&x.a.u, &x.loop, x.pool, &cfg, on_recv, &x.a), 0);
    assert_int_equal(fl__udp_create(&x.b.u, &x.loop, small, &cfg, on_recv, &x.b), 0);
    x.b.keep = 8;
    for (uint32_t i = 0; i < 20; i++) {
        fl_buf *b = fl_buf_pool_get(x.pool);
        memcpy(fl_buf_data(b), &i, sizeof i);
        fl_buf_set_len(b, sizeof i);
        assert_int_equal(fl__udp_send(x.a.u, fl__udp_local(x.b.u), b), 0);
    }
    fl__udp_flush(x.a.u);
    usleep(20000);
    uv_run(&x.loop, UV_RUN_NOWAIT);
    fl__udp_stats st;
    fl__udp_get_stats(x.b.u, &st);
    assert_int_equal(st.packets_in, 8);
    assert_int_equal(st.drops_no_buf, 12);
    for (size_t i = 0; i < x.b.nkept; i++)
        fl_buf_unref(x.b.kept[i]);
    fl__udp *socks[] = { x.a.u, x.b.u };
    close_loop(&x.loop, x.pool, socks, 2);
    fl_buf_pool_destroy(small);
}

/* Bound to 0.0.0.0, the local address of each datagram comes from PKTINFO. */
static void test_wildcard_local(void **state)
{
    (void)state;
    exchange x = { 0 };
    assert_int_equal(uv_loop_init(&x.loop), 0);
    assert_int_equal(fl_buf_pool_create(&x.pool, 2048, 128, 0, 0), 0);
    fl__udp_config cfg = config_for("127.0.0.1", 0, 0);
    fl__udp_config any = config_for("0.0.0.0", 0, 0);
    assert_int_equal(fl__udp_create(&x.a.u, &x.loop, x.pool, &cfg, on_recv, &x.a), 0);
    assert_int_equal(fl__udp_create(&x.b.u, &x.loop, x.pool, &any, on_recv, &x.b), 0);
    fl_addr to = *fl__udp_local(x.b.u);
    assert_int_equal(fl_addr_parse(&to, "127.0.0.1", to.port), 0);
    fl_buf *b = fl_buf_pool_get(x.pool);
    uint32_t zero = 0;
    memcpy(fl_buf_data(b), &zero, sizeof zero);
    fl_buf_set_len(b, sizeof zero);
    assert_int_equal(fl__udp_send(x.a.u, &to, b), 0);
    fl__udp_flush(x.a.u);
    usleep(20000);
    uv_run(&x.loop, UV_RUN_NOWAIT);
    assert_int_equal(x.b.got, 1);
    assert_true(fl_addr_equal(&x.b.last_local, &to));
    fl__udp *socks[] = { x.a.u, x.b.u };
    close_loop(&x.loop, x.pool, socks, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange_ipv4),
        cmocka_unit_test(test_exchange_ipv6),
        cmocka_unit_test(test_port_range),
        cmocka_unit_test(test_port_order),
        cmocka_unit_test(test_send_errors_and_full_queue),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_wildcard_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
