/* Shared UDP ports (engine/udp_mux.h) under real ICE transports over
 * loopback: a server's sessions share one socket, each connects to a peer
 * of its own port (as browsers are), and every datagram reaches its own
 * session only; two sessions of one mux connect to each other without the
 * kernel; strangers' datagrams are dropped and counted; a session that
 * closes leaves nothing routed to it. (Peers that share one address and
 * port, as two servers' shared sockets would, cannot be told apart once
 * ICE is done: server-to-server links use ports of their own.) */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "engine/ice_transport.h"
#include "engine/udp_mux.h"
#include "ice/stun.h"

#include <cmocka.h>

#define PAIRS   3
#define PACKETS 40

struct peer {
    fl__ice_transport *t;
    struct peer *other;
    uint8_t tag; /* what its peer's datagrams carry in byte 1 */
    fl_ice_state state;
    int data_in, wrong_in;
    uint16_t host_port; /* of its first UDP host candidate */
    int closed;
};

static void on_event(void *arg, const fl_ice_event *ev)
{
    struct peer *p = arg;
    char line[FL_ICE_CAND_STRLEN];
    if (ev->type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
        if (ev->candidate.transport == FL_ICE_UDP && !p->host_port)
            p->host_port = ev->candidate.addr.port;
        assert_true(fl_ice_candidate_write(&ev->candidate, line, sizeof(line)) > 0);
        fl__ice_transport_add_remote_candidate(p->other->t, line);
    } else if (ev->type == FL_ICE_EVENT_GATHERING_DONE) {
        fl__ice_transport_add_remote_candidate(p->other->t, "");
    } else if (ev->type == FL_ICE_EVENT_STATE) {
        p->state = ev->state;
    }
}

static void on_data(void *arg, fl_buf *buf, const fl_addr *from)
{
    (void)from;
    struct peer *p = arg;
    if (buf->len >= 2 && fl_buf_data(buf)[0] == 0x80 && fl_buf_data(buf)[1] == p->tag)
        p->data_in++;
    else
        p->wrong_in++;
    fl_buf_unref(buf);
}

static void on_closed(void *arg)
{
    ((struct peer *)arg)->closed = 1;
}

typedef struct world {
    uv_loop_t loop;
    fl_buf_pool *pool;
    fl__udp_mux *mux[2];
    struct peer a[PAIRS], b[PAIRS];
} world;

static void spin(world *w, int ms)
{
    for (int i = 0; i < ms; i++)
        uv_run(&w->loop, UV_RUN_NOWAIT), uv_sleep(1);
}

static void open_peer(world *w, struct peer *p, fl__udp_mux *mux, fl_ice_role role)
{
    fl__ice_transport_config c = {
        .role = role, .network_interfaces = "lo", .loopback = 1, .mux = mux
    };
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    assert_int_equal(fl__ice_transport_create(&p->t, &w->loop, w->pool, &c, &cbs, p), 0);
    assert_int_equal(fl__ice_transport_sockets(p->t) == 0, mux != NULL); /* none of its own */
}

static void start_pair(struct peer *a, struct peer *b, uint8_t tag)
{
    a->other = b;
    b->other = a;
    a->tag = tag;
    b->tag = (uint8_t)(tag + 100);
    fl_ice_agent *aa = fl__ice_transport_agent(a->t), *ab = fl__ice_transport_agent(b->t);
    fl__ice_transport_set_remote_credentials(a->t, fl_ice_agent_local_ufrag(ab),
                                             fl_ice_agent_local_pwd(ab));
    fl__ice_transport_set_remote_credentials(b->t, fl_ice_agent_local_ufrag(aa),
                                             fl_ice_agent_local_pwd(aa));
    fl__ice_transport_gather(a->t);
    fl__ice_transport_gather(b->t);
}

static int all_ready(const world *w, int n)
{
    for (int i = 0; i < n; i++) {
        if (w->a[i].state != FL_ICE_STATE_READY || w->b[i].state != FL_ICE_STATE_READY)
            return 0;
    }
    return 1;
}

static void send_tagged(world *w, struct peer *from, int n)
{
    for (int i = 0; i < n; i++) {
        fl_buf *buf = fl_buf_pool_get(w->pool);
        memset(fl_buf_data(buf), 0, 200);
        fl_buf_data(buf)[0] = 0x80;
        fl_buf_data(buf)[1] = from->other->tag;
        buf->len = 200;
        assert_int_equal(fl__ice_transport_send(from->t, buf), 0);
    }
}

static void world_init(world *w, int nmux)
{
    memset(w, 0, sizeof(*w));
    uv_loop_init(&w->loop);
    assert_int_equal(fl_buf_pool_create(&w->pool, 1500, 64, 64, 0), 0);
    for (int i = 0; i < nmux; i++)
        assert_int_equal(fl__udp_mux_create(&w->mux[i], &w->loop, w->pool, 0), 0);
}

static void close_peer(world *w, struct peer *p)
{
    if (!p->t)
        return;
    fl__ice_transport_close(p->t, on_closed, p);
    p->t = NULL;
    for (int i = 0; i < 2000 && !p->closed; i++)
        uv_run(&w->loop, UV_RUN_NOWAIT), uv_sleep(1);
    assert_true(p->closed);
}

static void world_end(world *w)
{
    for (int i = 0; i < PAIRS; i++) {
        close_peer(w, &w->a[i]);
        close_peer(w, &w->b[i]);
    }
    fl__udp_mux_close(w->mux[0]);
    fl__udp_mux_close(w->mux[1]);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&w->loop), 0);
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(w->pool, &st);
    assert_int_equal(st.in_use, 0);
    fl_buf_pool_destroy(w->pool);
}

/* A datagram from a socket of no session to `port` on 127.0.0.1. */
static void stranger_send(uint16_t port, const uint8_t *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
    close(fd);
}

static void test_sessions_share_a_port(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    for (int i = 0; i < PAIRS; i++) {
        open_peer(&w, &w.a[i], w.mux[0], FL_ICE_ROLE_CONTROLLING);
        open_peer(&w, &w.b[i], NULL, FL_ICE_ROLE_CONTROLLED);
        start_pair(&w.a[i], &w.b[i], (uint8_t)(i + 1));
    }
    for (int i = 0; i < 5000 && !all_ready(&w, PAIRS); i++)
        spin(&w, 1);
    assert_true(all_ready(&w, PAIRS));
    for (int i = 1; i < PAIRS; i++) { /* one port on the mux, one each on the other side */
        assert_int_equal(w.a[i].host_port, w.a[0].host_port);
        assert_int_not_equal(w.b[i].host_port, w.b[0].host_port);
    }
    for (int i = 0; i < PAIRS; i++) {
        send_tagged(&w, &w.a[i], PACKETS);
        send_tagged(&w, &w.b[i], PACKETS);
    }
    spin(&w, 200);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(w.a[i].data_in, PACKETS);
        assert_int_equal(w.b[i].data_in, PACKETS);
        assert_int_equal(w.a[i].wrong_in + w.b[i].wrong_in, 0);
    }
    fl__udp_mux_stats st;
    fl__udp_mux_get_stats(w.mux[0], &st);
    assert_true(st.by_ufrag > 0 && st.by_txn > 0);
    assert_true(st.by_addr >= PAIRS * PACKETS);
    assert_int_equal(st.clients, PAIRS);
    assert_true(st.sockets >= 1);

    /* strangers: junk, and a STUN request naming no session's ufrag */
    uint8_t junk[64] = { 0x80, 1 };
    stranger_send(w.a[0].host_port, junk, sizeof junk);
    uint8_t req[128];
    fl_stun_writer sw;
    uint8_t txn[FL_STUN_TXN_ID_SIZE] = { 1, 2, 3 };
    assert_int_equal(
            fl_stun_writer_init(&sw, req, sizeof req, FL_STUN_BINDING, FL_STUN_REQUEST, txn), 0);
    assert_int_equal(fl_stun_writer_add(&sw, FL_STUN_ATTR_USERNAME, "nobody:x", 8), 0);
    size_t n;
    assert_int_equal(fl_stun_writer_finish(&sw, &n), 0);
    stranger_send(w.a[0].host_port, req, n);
    spin(&w, 50);
    fl__udp_mux_stats st2;
    fl__udp_mux_get_stats(w.mux[0], &st2);
    assert_int_equal(st2.unclaimed, st.unclaimed + 2);

    /* a session that closes takes its addresses along: its peer's data is
     * nobody's now, and the other sessions still get theirs */
    size_t addrs = st2.addresses;
    close_peer(&w, &w.a[0]);
    fl__udp_mux_get_stats(w.mux[0], &st);
    assert_true(st.addresses < addrs);
    assert_int_equal(st.clients, PAIRS - 1);
    send_tagged(&w, &w.b[0], 5);
    send_tagged(&w, &w.b[1], 5);
    spin(&w, 100);
    fl__udp_mux_get_stats(w.mux[0], &st2);
    assert_int_equal(st2.unclaimed, st.unclaimed + 5);
    assert_int_equal(w.a[1].data_in, PACKETS + 5);
    world_end(&w);
}

static void test_sessions_of_one_mux_talk(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    open_peer(&w, &w.a[0], w.mux[0], FL_ICE_ROLE_CONTROLLING);
    open_peer(&w, &w.b[0], w.mux[0], FL_ICE_ROLE_CONTROLLED);
    start_pair(&w.a[0], &w.b[0], 7);
    for (int i = 0; i < 5000 && !all_ready(&w, 1); i++)
        spin(&w, 1);
    assert_true(all_ready(&w, 1));
    assert_int_equal(w.a[0].host_port, w.b[0].host_port);
    send_tagged(&w, &w.a[0], PACKETS);
    send_tagged(&w, &w.b[0], PACKETS);
    spin(&w, 100);
    assert_int_equal(w.a[0].data_in, PACKETS);
    assert_int_equal(w.b[0].data_in, PACKETS);
    assert_int_equal(w.a[0].wrong_in + w.b[0].wrong_in, 0);
    /* datagrams still queued for a session that closes are dropped */
    send_tagged(&w, &w.a[0], 3);
    close_peer(&w, &w.b[0]);
    world_end(&w);
}

/* A stranger who knows a session's ufrag (it travels in clear) sends a
 * check without the password, then data: the session's agent refuses the
 * check, so the stranger's address is not learnt and its data is nobody's. */
static void test_no_learning_without_integrity(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    open_peer(&w, &w.a[0], w.mux[0], FL_ICE_ROLE_CONTROLLING);
    open_peer(&w, &w.b[0], NULL, FL_ICE_ROLE_CONTROLLED);
    start_pair(&w.a[0], &w.b[0], 3);
    for (int i = 0; i < 5000 && !all_ready(&w, 1); i++)
        spin(&w, 1);
    assert_true(all_ready(&w, 1));
    fl__udp_mux_stats st, st2;
    fl__udp_mux_get_stats(w.mux[0], &st);
    char user[300];
    snprintf(user, sizeof user, "%s:x",
             fl_ice_agent_local_ufrag(fl__ice_transport_agent(w.a[0].t)));
    uint8_t req[512];
    fl_stun_writer sw;
    uint8_t txn[FL_STUN_TXN_ID_SIZE] = { 9, 9, 9 };
    assert_int_equal(
            fl_stun_writer_init(&sw, req, sizeof req, FL_STUN_BINDING, FL_STUN_REQUEST, txn), 0);
    assert_int_equal(fl_stun_writer_add_string(&sw, FL_STUN_ATTR_USERNAME, user), 0);
    size_t n;
    assert_int_equal(fl_stun_writer_finish(&sw, &n), 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(w.a[0].host_port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(fd, req, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    spin(&w, 30);
    uint8_t rtp[40] = { 0x80, 3 };
    assert_int_equal(sendto(fd, rtp, sizeof rtp, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)sizeof rtp);
    spin(&w, 30);
    close(fd);
    fl__udp_mux_get_stats(w.mux[0], &st2);
    assert_true(st2.by_ufrag >= st.by_ufrag + 1); /* the check went to the agent (and consent) */
    assert_int_equal(st2.unclaimed, st.unclaimed + 1); /* its data is nobody's */
    assert_int_equal(st2.addresses, st.addresses);
    assert_int_equal(w.a[0].data_in + w.a[0].wrong_in, 0);
    world_end(&w);
}

static int direct_in;

static void count_in(void *arg, fl__udp *u, fl__udp_packet *p)
{
    (void)arg;
    (void)u;
    direct_in++;
    fl_buf_unref(p->buf);
}

/* The address table's rules, through the API: a live session's address is
 * not taken by another, and a session that learns more addresses than it
 * keeps forgets the one heard from longest ago, not the one in use. */
static void test_learning_rules(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    fl_addr lo;
    fl_addr_parse(&lo, "127.0.0.1", 0);
    fl__udp *u;
    assert_int_equal(fl__udp_mux_socket(w.mux[0], &lo, 0, 0, &u), 0);
    fl__udp_mux_client c1, c2;
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c1, "one", count_in, NULL), 0);
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c2, "two", count_in, NULL), 0);
    /* P: a real socket, so that its datagrams can be routed */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in pa = { .sin_family = AF_INET };
    pa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&pa, sizeof pa), 0);
    socklen_t pl = sizeof pa;
    getsockname(fd, (struct sockaddr *)&pa, &pl);
    fl_addr p;
    fl_addr_from_sockaddr(&p, (struct sockaddr *)&pa);
    assert_int_equal(fl__udp_mux_learn(&c1, u, &p), 0);
    assert_int_equal(fl__udp_mux_learn(&c2, u, &p), FL_EBUSY); /* c1 heard from it just now */
    for (int i = 0; i < FL__UDP_MUX_CLIENT_ADDRS - 1; i++) {
        fl_addr x = lo;
        x.port = (uint16_t)(1000 + i);
        assert_int_equal(fl__udp_mux_learn(&c1, u, &x), 0);
    }
    assert_int_equal(fl__udp_mux_learn(&c1, u, &p), 0); /* heard again: the newest */
    fl_addr extra = lo;
    extra.port = 2000;
    assert_int_equal(fl__udp_mux_learn(&c1, u, &extra), 0); /* one too many: 1000 goes */
    fl__udp_mux_stats st;
    fl__udp_mux_get_stats(w.mux[0], &st);
    assert_int_equal(st.addresses, FL__UDP_MUX_CLIENT_ADDRS);
    assert_int_equal(st.refused_takeovers, 1);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(fl__udp_local(u)->port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t junk[20] = { 0x80 };
    assert_int_equal(sendto(fd, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)sizeof junk);
    spin(&w, 30);
    close(fd);
    assert_int_equal(direct_in, 1); /* P still routes to c1 */
    fl__udp_mux_detach(&c1);
    fl__udp_mux_detach(&c2);
    fl__udp_mux_get_stats(w.mux[0], &st);
    assert_int_equal(st.addresses, 0);
    world_end(&w);
}

static void test_attach_rules(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    fl__udp_mux_client c1, c2;
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c1, "", (fl__udp_mux_recv_fn)1, NULL),
                     FL_EINVAL);
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c1, "abcd", (fl__udp_mux_recv_fn)1, NULL), 0);
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c2, "abcd", (fl__udp_mux_recv_fn)1, NULL),
                     FL_EEXIST);
    fl__udp_mux_detach(&c1);
    assert_int_equal(fl__udp_mux_attach(w.mux[0], &c2, "abcd", (fl__udp_mux_recv_fn)1, NULL), 0);
    fl__udp_mux_close(w.mux[0]); /* waits for its last client */
    fl__udp_mux_detach(&c2);
    w.mux[0] = NULL;
    world_end(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_share_a_port),
        cmocka_unit_test(test_sessions_of_one_mux_talk),
        cmocka_unit_test(test_no_learning_without_integrity),
        cmocka_unit_test(test_learning_rules),
        cmocka_unit_test(test_attach_rules),
    };
    return cmocka_run_group_tests_name("engine_udp_mux", tests, NULL, NULL);
}
