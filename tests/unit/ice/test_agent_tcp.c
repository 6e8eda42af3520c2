/* ICE-TCP (RFC 6544), passive side: a server agent with a passive TCP
 * candidate and the connections a peer opens to it.
 *
 * The agent has no active ICE-TCP, so the client agent in these tests sees
 * its connection as a datagram path: its "host" base is the connection's
 * local end, and the server's passive candidate is given to it as a UDP one.
 * The test carries that path as an active ICE-TCP peer does: RFC 4571
 * frames over one byte stream to the passive address (in memory, cut in
 * small pieces, or over a real loopback TCP connection). The server side is
 * what is under test, and it sees exactly what a browser would send. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/tcp_media.h"
#include "ice/agent.h"
#include "ice/stun.h"
#include "ice/tcp_frame.h"

#define MS        FL_TIME_MS
#define T0        (100 * FL_TIME_SEC)
#define PEER_UF   "PEER"
#define PEER_PWD  "peerpasswordpeerpassword"
#define AGENT_UF  "AGNT"
#define AGENT_PWD "agentpasswordagentpassword"
#define LISTENER  10 /* the server's listener socket id */
#define SRV_UDP   0  /* the server's UDP host socket id */
#define CLI_TUN   0  /* the client's connection, seen as a datagram socket */
#define CLI_UDP   1
#define CONN      FL_ICE_TCP_CONN_ID(1)
#define BROWSER_ACTIVE \
    "candidate:3 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active" /* as Chrome signals */

/* ---- helpers ---------------------------------------------------------------- */

static int next_event(fl_ice_agent *a, fl_ice_event_type type, fl_ice_event *out)
{
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(a, &ev) == 0) {
        if (ev.type == type) {
            if (out)
                *out = ev;
            return 1;
        }
    }
    return 0;
}

static int is_stun(const uint8_t *p, size_t len)
{
    return len >= 20 && p[0] < 4; /* RFC 7983 */
}

/* A request as the peer sends it: USERNAME "AGNT:PEER", PRIORITY, role. */
static size_t build_request(uint8_t *buf, size_t cap, fl_rand *r, int use_cand, const char *pwd)
{
    uint8_t id[FL_STUN_TXN_ID_SIZE];
    size_t len;
    fl_stun_writer w;
    fl_stun_txn_id_generate(r, id);
    fl_stun_writer_init(&w, buf, cap, FL_STUN_BINDING, FL_STUN_REQUEST, id);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, AGENT_UF ":" PEER_UF);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1845501695u);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLING, 1);
    if (use_cand)
        fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)pwd, strlen(pwd));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return len;
}

/* The expected passive candidate priority with the auto other-pref. */
static uint32_t passive_prio(int family)
{
    uint32_t other = 8191 - (family == 4 ? 1 : 0);
    return fl_ice_candidate_priority(126, 4 * 8192 + other, 1);
}

/* ---- (1) fixed inputs -------------------------------------------------------- */

typedef struct fx {
    fl_ice_agent *a;
    fl_rand rand;
    fl_addr listen, peer;
    fl_ice_transmit tx;
    fl_stun_msg m;
} fx;

static void fx_init(fx *f, fl_ice_role role)
{
    memset(f, 0, sizeof(*f));
    fl_rand_seeded_init(&f->rand, 7);
    fl_ice_agent_config cfg = {
        .role = role, .rand = &f->rand, .ufrag = AGENT_UF, .pwd = AGENT_PWD
    };
    assert_int_equal(fl_ice_agent_create(&f->a, &cfg), 0);
    fl_addr_parse(&f->listen, "10.0.0.1", 9000);
    fl_addr_parse(&f->peer, "10.0.0.2", 51000);
    fl_ice_host l = { .component = 1, .socket_id = LISTENER, .addr = f->listen };
    assert_int_equal(fl_ice_agent_add_tcp_passive(f->a, &l), 0);
    assert_int_equal(fl_ice_agent_set_remote_credentials(f->a, PEER_UF, PEER_PWD), 0);
}

static int fx_tx(fx *f)
{
    int rc = fl_ice_agent_poll_transmit(f->a, &f->tx);
    if (rc == 0)
        assert_int_equal(fl_stun_msg_parse(&f->m, f->tx.data, f->tx.len), 0);
    return rc;
}

static int fx_request(fx *f, fl_time now, int conn, int use_cand, const char *pwd)
{
    uint8_t buf[512];
    size_t len = build_request(buf, sizeof(buf), &f->rand, use_cand, pwd);
    return fl_ice_agent_handle_tcp_input(f->a, now, LISTENER, conn, &f->peer, buf, len);
}

/* Answers the agent's request in f->m on its connection. */
static void fx_answer(fx *f, fl_time now)
{
    uint8_t buf[512];
    size_t len;
    fl_stun_writer w;
    fl_stun_writer_init(&w, buf, sizeof(buf), FL_STUN_BINDING, FL_STUN_SUCCESS, f->m.txn_id);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &f->listen);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)PEER_PWD, strlen(PEER_PWD));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(
            fl_ice_agent_handle_tcp_input(f->a, now, LISTENER, f->tx.socket_id, &f->peer, buf, len),
            0);
}

static void expect_tx(fx *f, int cls)
{
    assert_int_equal(fx_tx(f), 0);
    assert_int_equal(f->m.cls, cls);
    assert_int_equal(f->tx.socket_id, CONN); /* never the listener */
    assert_true(fl_addr_equal(&f->tx.dst, &f->peer));
}

static void check_announced(fx *f)
{
    fl_ice_event ev;
    char line[FL_ICE_CAND_STRLEN], want[FL_ICE_CAND_STRLEN];
    assert_int_equal(fl_ice_agent_gather(f->a, T0), 0);
    assert_true(next_event(f->a, FL_ICE_EVENT_LOCAL_CANDIDATE, &ev));
    assert_int_equal(ev.socket_id, LISTENER);
    assert_int_equal(ev.candidate.transport, FL_ICE_TCP);
    assert_int_equal(ev.candidate.tcptype, FL_ICE_TCPTYPE_PASSIVE);
    assert_int_equal(ev.candidate.priority, passive_prio(4));
    assert_true(fl_ice_candidate_write(&ev.candidate, line, sizeof(line)) > 0);
    snprintf(want, sizeof(want), "candidate:%s 1 tcp %u 10.0.0.1 9000 typ host tcptype passive",
             ev.candidate.foundation, (unsigned)passive_prio(4));
    assert_string_equal(line, want);
    assert_true(next_event(f->a, FL_ICE_EVENT_GATHERING_DONE, NULL));
}

/* Bad input on a new connection takes no state. */
static void check_rejects(fx *f)
{
    fl_ice_stats st;
    uint8_t buf[512];
    size_t len = build_request(buf, sizeof(buf), &f->rand, 0, AGENT_PWD);
    assert_int_equal(fl_ice_agent_handle_tcp_input(f->a, T0, 99, CONN, &f->peer, buf, len),
                     FL_ENOENT); /* no such listener */
    assert_int_equal(fx_request(f, T0, CONN, 0, "wrongpasswordwrongpassword"), FL_EAUTH);
    uint8_t id[FL_STUN_TXN_ID_SIZE] = { 1 };
    fl_stun_writer w; /* a success response: not a first message */
    fl_stun_writer_init(&w, buf, sizeof(buf), FL_STUN_BINDING, FL_STUN_SUCCESS, id);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &f->listen);
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(fl_ice_agent_handle_tcp_input(f->a, T0, LISTENER, CONN, &f->peer, buf, len),
                     FL_ENOENT);
    fl_ice_agent_get_stats(f->a, &st);
    assert_int_equal(st.tcp_conns, 0);
    assert_int_equal(st.pairs, 0);
    assert_int_equal(fx_tx(f), FL_EAGAIN);
}

/* A check on a new connection, the triggered check back, then USE-CANDIDATE:
 * the pair on the connection is selected. */
static void select_over_conn(fx *f, fl_time t)
{
    fl_ice_event ev;
    fl_ice_stats st;
    fl_addr mapped;
    assert_int_equal(fx_request(f, t, CONN, 0, AGENT_PWD), 0);
    expect_tx(f, FL_STUN_SUCCESS); /* answered on the connection */
    assert_int_equal(fl_stun_msg_get_xor_addr(&f->m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped), 0);
    assert_true(fl_addr_equal(&mapped, &f->peer));
    fl_ice_agent_get_stats(f->a, &st);
    assert_int_equal(st.tcp_conns, 1);
    assert_int_equal(st.prflx_remote, 1);
    assert_int_equal(st.local_candidates, 1); /* a connection is no candidate */
    fl_ice_agent_handle_timeout(f->a, t + 50 * MS);
    expect_tx(f, FL_STUN_REQUEST); /* the triggered check, same connection */
    assert_non_null(fl_stun_msg_find(&f->m, FL_STUN_ATTR_ICE_CONTROLLED));
    fl_ice_agent_handle_timeout(f->a, t + 2 * FL_TIME_SEC);
    assert_int_equal(fx_tx(f), FL_EAGAIN); /* reliable transport: no retransmission */
    fx_answer(f, t + 2 * FL_TIME_SEC);
    assert_int_equal(fl_ice_agent_state(f->a, 1), FL_ICE_STATE_CONNECTED);
    assert_int_equal(fx_request(f, t + 3 * FL_TIME_SEC, CONN, 1, AGENT_PWD), 0);
    expect_tx(f, FL_STUN_SUCCESS);
    assert_true(next_event(f->a, FL_ICE_EVENT_SELECTED_PAIR, &ev));
    assert_int_equal(ev.socket_id, CONN);
    assert_int_equal(ev.candidate.transport, FL_ICE_TCP);
    assert_int_equal(ev.candidate.tcptype, FL_ICE_TCPTYPE_PASSIVE);
    assert_true(fl_addr_equal(&ev.candidate.addr, &f->listen));
    assert_int_equal(ev.remote.type, FL_ICE_CAND_PRFLX);
    assert_int_equal(ev.remote.transport, FL_ICE_TCP);
    assert_int_equal(ev.remote.tcptype, FL_ICE_TCPTYPE_ACTIVE);
    assert_true(fl_addr_equal(&ev.remote.addr, &f->peer));
    assert_int_equal(fl_ice_agent_state(f->a, 1), FL_ICE_STATE_READY);
}

static void test_passive_controlled(void **state)
{
    (void)state;
    fx f;
    fl_ice_stats st;
    fl_time t = T0 + 10 * FL_TIME_SEC;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED);
    check_announced(&f);
    check_rejects(&f);
    /* the browser's active candidate is stored, never checked, and the
     * component waits for its connection instead of failing */
    assert_int_equal(fl_ice_agent_add_remote_candidate(f.a, T0, BROWSER_ACTIVE), 0);
    assert_int_equal(fl_ice_agent_remote_end_of_candidates(f.a, T0), 0);
    fl_ice_agent_handle_timeout(f.a, t);
    assert_int_equal(fx_tx(&f), FL_EAGAIN);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_CONNECTING);
    select_over_conn(&f, t);
    /* consent freshness runs over the connection */
    fl_ice_agent_handle_timeout(f.a, t + 10 * FL_TIME_SEC);
    expect_tx(&f, FL_STUN_REQUEST);
    fx_answer(&f, t + 10 * FL_TIME_SEC);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    /* the connection closes: as on consent loss */
    fl_ice_agent_get_stats(f.a, &st);
    uint64_t consent = st.consent_sent;
    t += 17 * FL_TIME_SEC;
    fl_ice_agent_handle_timeout(f.a, t);
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.consent_sent, consent + 1); /* queued, not yet polled */
    assert_int_equal(fl_ice_agent_tcp_closed(f.a, t, CONN), 0);
    assert_int_equal(fx_tx(&f), FL_EAGAIN); /* nothing more for the dead connection */
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_FAILED);
    assert_int_equal(fl_ice_agent_selected_pair(f.a, 1, NULL, NULL, NULL), FL_ENOENT);
    assert_int_equal(fl_ice_agent_tcp_closed(f.a, t, CONN), FL_ENOENT);
    fl_ice_agent_destroy(f.a);
}

static void test_socket_ids(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED);
    fl_ice_host h = { .component = 1, .socket_id = LISTENER };
    fl_addr_parse(&h.addr, "10.0.0.1", 5000);
    assert_int_equal(fl_ice_agent_add_host(f.a, &h), FL_EEXIST); /* the listener's id */
    h.socket_id = 1;
    assert_int_equal(fl_ice_agent_add_host(f.a, &h), 0);
    h.socket_id = 2;
    h.addr = f.listen;
    assert_int_equal(fl_ice_agent_add_tcp_passive(f.a, &h), FL_EEXIST); /* same address */
    h.local_pref = 9000;
    fl_addr_parse(&h.addr, "10.0.0.1", 9001);
    assert_int_equal(fl_ice_agent_add_tcp_passive(f.a, &h), FL_EINVAL); /* other-pref > 8191 */
    assert_int_equal(fx_request(&f, T0, 1, 0, AGENT_PWD), FL_EEXIST);   /* a UDP host's id */
    assert_int_equal(fx_request(&f, T0, CONN, 0, AGENT_PWD), 0);
    assert_int_equal(fl_ice_agent_tcp_closed(f.a, T0, 1), FL_ENOENT); /* not a connection */
    fl_ice_agent_destroy(f.a);
}

/* RFC 6544 §4.2 local preferences, and UDP host above TCP host. */
static void test_priorities(void **state)
{
    (void)state;
    assert_int_equal(fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_HOST, FL_ICE_TCPTYPE_ACTIVE, 5),
                     6 * 8192 + 5);
    assert_int_equal(fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_HOST, FL_ICE_TCPTYPE_PASSIVE, 0),
                     4 * 8192);
    assert_int_equal(fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_RELAY, FL_ICE_TCPTYPE_SO, 1),
                     2 * 8192 + 1);
    assert_int_equal(fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_SRFLX, FL_ICE_TCPTYPE_SO, 9999),
                     6 * 8192 + 8191);
    assert_int_equal(fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_PRFLX, FL_ICE_TCPTYPE_PASSIVE, 0),
                     2 * 8192);
    /* the best TCP host candidate is below the worst-placed UDP host one an
     * agent with a few interfaces computes (RFC 8421: 65535 downwards) */
    uint32_t tcp = fl_ice_candidate_priority(
            126, fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_HOST, FL_ICE_TCPTYPE_ACTIVE, 8191), 1);
    assert_true(fl_ice_candidate_priority(126, 65535 - 16, 1) > tcp);
    assert_true(passive_prio(6) < fl_ice_candidate_priority(126, 65535 - 16, 1));
}

/* More connections come and go than the agent has local slots. */
static void test_connection_churn(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED);
    for (int i = 0; i < 100; i++) {
        fl_time now = T0 + i * FL_TIME_SEC;
        f.peer.port = (uint16_t)(50000 + i);
        int conn = FL_ICE_TCP_CONN_ID(i % 3); /* the glue reuses ids after a close */
        int answered = 0;
        assert_int_equal(fx_request(&f, now, conn, 0, AGENT_PWD), 0);
        while (fx_tx(&f) == 0) {
            assert_int_equal(f.tx.socket_id, conn);
            answered += f.m.cls == FL_STUN_SUCCESS;
        }
        assert_int_equal(answered, 1);
        assert_int_equal(fl_ice_agent_tcp_closed(f.a, now, conn), 0);
    }
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.tcp_conns, 100);
    assert_true(st.remote_candidates < 64);
    fl_ice_agent_destroy(f.a);
}

/* ---- (2), (4) in memory: a byte stream and, for (4), UDP ------------------------ */

#define MAX_ITEMS 16384
#define CHUNK     7 /* stream bytes per delivery: frames arrive cut anywhere */

enum {
    SRV = 0,
    CLI = 1
};

typedef struct item {
    fl_time at;
    uint64_t seq;
    int to;
    int tcp; /* a piece of the stream, else a UDP datagram */
    size_t len;
    uint8_t data[FL_ICE_MSG_MAX + FL_TCP_FRAME_HEADER];
} item;

typedef struct sim {
    fl_time now;
    fl_time tcp_delay, udp_delay;
    fl_ice_agent *a[2];
    fl_rand rand[2];
    fl_ice_state state[2];
    fl_addr listen, srv_udp, cli_tcp, cli_udp;
    fl_tcp_frame_decoder dec[2];
    uint8_t scratch[2][2048];
    item *items;
    int n_items;
    uint64_t seq;
    int data_frames[2];   /* non-STUN frames received */
    fl_time srv_valid[2]; /* when the server first got a success response: [tcp] */
    fl_ice_candidate srv_tcp_cand, srv_udp_cand;
} sim;

static void sim_push(sim *s, int to, int tcp, const uint8_t *data, size_t len)
{
    assert_true(s->n_items < MAX_ITEMS);
    item *it = &s->items[s->n_items++];
    it->at = s->now + (tcp ? s->tcp_delay : s->udp_delay);
    it->seq = s->seq++;
    it->to = to;
    it->tcp = tcp;
    it->len = len;
    memcpy(it->data, data, len);
}

/* Writes one RFC 4571 frame on the stream towards `to`, in small pieces. */
static void sim_stream_write(sim *s, int to, const uint8_t *data, size_t len)
{
    uint8_t framed[FL_ICE_MSG_MAX + FL_TCP_FRAME_HEADER];
    size_t n;
    assert_int_equal(fl_tcp_frame_write(framed, sizeof(framed), data, len, &n), 0);
    for (size_t off = 0; off < n; off += CHUNK)
        sim_push(s, to, 1, framed + off, n - off < CHUNK ? n - off : CHUNK);
}

/* The wire: a connection reaches only its other end; UDP only a UDP host. */
static void sim_route(sim *s, int from, const fl_ice_transmit *tx)
{
    if (from == SRV) {
        assert_int_not_equal(tx->socket_id, LISTENER); /* a listener sends nothing */
        if (tx->socket_id == CONN) {
            assert_true(fl_addr_equal(&tx->dst, &s->cli_tcp));
            sim_stream_write(s, CLI, tx->data, tx->len);
        } else if (tx->socket_id == SRV_UDP && fl_addr_equal(&tx->dst, &s->cli_udp)) {
            sim_push(s, CLI, 0, tx->data, tx->len);
        }
        return;
    }
    if (tx->socket_id == CLI_TUN && fl_addr_equal(&tx->dst, &s->listen))
        sim_stream_write(s, SRV, tx->data, tx->len);
    else if (tx->socket_id == CLI_UDP && fl_addr_equal(&tx->dst, &s->srv_udp))
        sim_push(s, SRV, 0, tx->data, tx->len);
}

/* What the signalling carries. The server's passive candidate reaches the
 * client as the datagram path it is to it; the client's connection end is
 * signalled to the server as a browser's active candidate (port 9). */
static fl_ice_candidate as_signalled(int from, const fl_ice_event *ev)
{
    fl_ice_candidate c = ev->candidate;
    if (from == SRV && c.transport == FL_ICE_TCP) {
        assert_int_equal(c.tcptype, FL_ICE_TCPTYPE_PASSIVE);
        c.transport = FL_ICE_UDP;
        c.tcptype = FL_ICE_TCPTYPE_NONE;
    } else if (from == CLI && ev->socket_id == CLI_TUN) {
        c.transport = FL_ICE_TCP;
        c.tcptype = FL_ICE_TCPTYPE_ACTIVE;
        c.addr.port = 9;
        c.priority = fl_ice_candidate_priority(
                90, fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_HOST, FL_ICE_TCPTYPE_ACTIVE, 8191),
                1);
    }
    return c;
}

static void sim_signal(sim *s, int from, const fl_ice_event *ev)
{
    fl_ice_candidate c = as_signalled(from, ev);
    if (from == SRV && ev->candidate.transport == FL_ICE_TCP)
        s->srv_tcp_cand = ev->candidate;
    else if (from == SRV)
        s->srv_udp_cand = ev->candidate;
    assert_int_equal(fl_ice_agent_add_remote(s->a[1 - from], s->now, &c), 0);
}

static void sim_drain(sim *s, int i)
{
    fl_ice_transmit tx;
    fl_ice_event ev;
    while (fl_ice_agent_poll_transmit(s->a[i], &tx) == 0)
        sim_route(s, i, &tx);
    while (fl_ice_agent_poll_event(s->a[i], &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE)
            sim_signal(s, i, &ev);
        else if (ev.type == FL_ICE_EVENT_GATHERING_DONE)
            fl_ice_agent_remote_end_of_candidates(s->a[1 - i], s->now);
        else if (ev.type == FL_ICE_EVENT_STATE)
            s->state[i] = ev.state;
    }
}

static void sim_frame_in(sim *s, int to, const uint8_t *f, size_t len)
{
    fl_stun_msg m;
    if (!is_stun(f, len)) {
        s->data_frames[to]++;
        return;
    }
    if (to == CLI) {
        fl_ice_agent_handle_input(s->a[CLI], s->now, CLI_TUN, &s->listen, f, len);
        return;
    }
    if (fl_stun_msg_parse(&m, f, len) == 0 && m.cls == FL_STUN_SUCCESS && !s->srv_valid[1])
        s->srv_valid[1] = s->now;
    assert_int_equal(
            fl_ice_agent_handle_tcp_input(s->a[SRV], s->now, LISTENER, CONN, &s->cli_tcp, f, len),
            0);
}

static void sim_deliver(sim *s, const item *it)
{
    if (!it->tcp) {
        fl_stun_msg m;
        const fl_addr *from = it->to == SRV ? &s->cli_udp : &s->srv_udp;
        if (it->to == SRV && fl_stun_msg_parse(&m, it->data, it->len) == 0 &&
            m.cls == FL_STUN_SUCCESS && !s->srv_valid[0])
            s->srv_valid[0] = s->now;
        fl_ice_agent_handle_input(s->a[it->to], s->now, it->to == SRV ? SRV_UDP : CLI_UDP, from,
                                  it->data, it->len);
        return;
    }
    fl_tcp_frame_decoder *d = &s->dec[it->to];
    const uint8_t *f;
    size_t len;
    assert_int_equal(fl_tcp_frame_decoder_handle_input(d, it->data, it->len), 0);
    while (fl_tcp_frame_decoder_poll_frame(d, &f, &len) == 0)
        sim_frame_in(s, it->to, f, len);
}

/* The earliest item (ties in sending order), removed; 0 when none is due. */
static int sim_next_due(sim *s, item *out)
{
    int best = -1;
    for (int i = 0; i < s->n_items; i++) {
        const item *it = &s->items[i];
        if (it->at <= s->now && (best < 0 || it->at < s->items[best].at ||
                                 (it->at == s->items[best].at && it->seq < s->items[best].seq)))
            best = i;
    }
    if (best < 0)
        return 0;
    *out = s->items[best];
    memmove(&s->items[best], &s->items[best + 1], (size_t)(s->n_items - best - 1) * sizeof(item));
    s->n_items--;
    return 1;
}

static fl_time sim_next_time(const sim *s)
{
    fl_time t = FL_TIME_NEVER;
    for (int i = 0; i < 2; i++) {
        fl_time d = fl_ice_agent_poll_timeout(s->a[i]);
        t = d < t ? d : t;
    }
    for (int i = 0; i < s->n_items; i++)
        t = s->items[i].at < t ? s->items[i].at : t;
    return t;
}

/* Runs until `until` (virtual), or until both are READY when stop_ready. */
static void sim_run(sim *s, fl_time until, int stop_ready)
{
    item it;
    while (s->now < until) {
        for (int i = 0; i < 2; i++)
            sim_drain(s, i);
        if (stop_ready && s->state[SRV] == FL_ICE_STATE_READY &&
            s->state[CLI] == FL_ICE_STATE_READY)
            return;
        fl_time t = sim_next_time(s);
        if (t == FL_TIME_NEVER)
            break;
        s->now = t > until ? until : t > s->now ? t : s->now;
        while (sim_next_due(s, &it))
            sim_deliver(s, &it);
        for (int i = 0; i < 2; i++) {
            if (fl_ice_agent_poll_timeout(s->a[i]) <= s->now)
                fl_ice_agent_handle_timeout(s->a[i], s->now);
        }
    }
}

static void sim_init(sim *s, fl_ice_role srv_role, int with_udp)
{
    memset(s, 0, sizeof(*s));
    s->items = calloc(MAX_ITEMS, sizeof(item));
    assert_non_null(s->items);
    s->now = T0;
    s->tcp_delay = s->udp_delay = 20 * MS;
    fl_addr_parse(&s->listen, "10.0.0.1", 9000);
    fl_addr_parse(&s->srv_udp, "10.0.0.1", 40000);
    fl_addr_parse(&s->cli_tcp, "10.0.0.2", 51000);
    fl_addr_parse(&s->cli_udp, "10.0.0.2", 40010);
    for (int i = 0; i < 2; i++) {
        fl_rand_seeded_init(&s->rand[i], 100 + (uint64_t)i);
        fl_ice_agent_config cfg = { .rand = &s->rand[i] };
        cfg.role = i == SRV ? srv_role : 1 - srv_role;
        assert_int_equal(fl_ice_agent_create(&s->a[i], &cfg), 0);
        fl_tcp_frame_decoder_init(&s->dec[i], s->scratch[i], sizeof(s->scratch[i]));
    }
    fl_ice_host h = { .component = 1, .socket_id = LISTENER, .addr = s->listen };
    assert_int_equal(fl_ice_agent_add_tcp_passive(s->a[SRV], &h), 0);
    h = (fl_ice_host){ .component = 1, .socket_id = CLI_TUN, .addr = s->cli_tcp };
    assert_int_equal(fl_ice_agent_add_host(s->a[CLI], &h), 0);
    if (with_udp) {
        h = (fl_ice_host){ .component = 1, .socket_id = SRV_UDP, .addr = s->srv_udp };
        assert_int_equal(fl_ice_agent_add_host(s->a[SRV], &h), 0);
        h = (fl_ice_host){ .component = 1, .socket_id = CLI_UDP, .addr = s->cli_udp };
        assert_int_equal(fl_ice_agent_add_host(s->a[CLI], &h), 0);
    }
    for (int i = 0; i < 2; i++) {
        fl_ice_agent_set_remote_credentials(s->a[1 - i], fl_ice_agent_local_ufrag(s->a[i]),
                                            fl_ice_agent_local_pwd(s->a[i]));
        fl_ice_agent_gather(s->a[i], s->now);
    }
}

static void sim_free(sim *s)
{
    fl_ice_agent_destroy(s->a[0]);
    fl_ice_agent_destroy(s->a[1]);
    free(s->items);
}

static void test_framed_stream(void **state)
{
    (void)state;
    sim s;
    fl_ice_candidate l, r;
    int sock;
    sim_init(&s, FL_ICE_ROLE_CONTROLLED, 0);
    sim_run(&s, T0 + 10 * FL_TIME_SEC, 1);
    assert_int_equal(s.state[SRV], FL_ICE_STATE_READY);
    assert_int_equal(s.state[CLI], FL_ICE_STATE_READY);
    assert_int_equal(fl_ice_agent_selected_pair(s.a[SRV], 1, &l, &r, &sock), 0);
    assert_int_equal(sock, CONN);
    assert_int_equal(l.transport, FL_ICE_TCP);
    assert_int_equal(l.tcptype, FL_ICE_TCPTYPE_PASSIVE);
    assert_int_equal(r.tcptype, FL_ICE_TCPTYPE_ACTIVE);
    assert_true(fl_addr_equal(&r.addr, &s.cli_tcp));
    print_message("READY over a framed stream in %lld ms (virtual)\n",
                  (long long)((s.now - T0) / MS));
    /* media on the selected connection, framed the same way */
    static const uint8_t rtp[] = { 0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef };
    for (int i = 0; i < 3; i++) {
        sim_stream_write(&s, SRV, rtp, sizeof(rtp));
        sim_stream_write(&s, CLI, rtp, sizeof(rtp));
    }
    /* a minute more: consent runs over the connection and holds */
    sim_run(&s, s.now + 60 * FL_TIME_SEC, 0);
    assert_int_equal(s.data_frames[SRV], 3);
    assert_int_equal(s.data_frames[CLI], 3);
    assert_int_equal(fl_ice_agent_state(s.a[SRV], 1), FL_ICE_STATE_READY);
    assert_int_equal(fl_ice_agent_state(s.a[CLI], 1), FL_ICE_STATE_READY);
    fl_ice_stats st;
    fl_ice_agent_get_stats(s.a[SRV], &st);
    assert_true(st.consent_sent >= 10);
    assert_int_equal(st.tcp_conns, 1);
    assert_int_equal(s.dec[SRV].oversized + s.dec[SRV].empty, 0);
    /* the peer closes the connection */
    assert_int_equal(fl_ice_agent_tcp_closed(s.a[SRV], s.now, CONN), 0);
    assert_int_equal(fl_ice_agent_state(s.a[SRV], 1), FL_ICE_STATE_FAILED);
    sim_free(&s);
}

/* The server controls, and its priorities choose: the TCP pair is valid
 * first (the stream is faster here), yet the UDP pair is nominated. */
static void test_udp_preferred(void **state)
{
    (void)state;
    sim s;
    fl_ice_candidate l, r;
    int sock;
    sim_init(&s, FL_ICE_ROLE_CONTROLLING, 1);
    s.udp_delay = 150 * MS;
    s.tcp_delay = 5 * MS;
    sim_run(&s, T0 + 10 * FL_TIME_SEC, 1);
    assert_int_equal(s.state[SRV], FL_ICE_STATE_READY);
    assert_int_equal(s.state[CLI], FL_ICE_STATE_READY);
    assert_true(s.srv_valid[1] != 0 && s.srv_valid[0] != 0);
    assert_true(s.srv_valid[1] < s.srv_valid[0]);
    assert_true(s.srv_udp_cand.priority > s.srv_tcp_cand.priority);
    assert_int_equal(fl_ice_agent_selected_pair(s.a[SRV], 1, &l, &r, &sock), 0);
    assert_int_equal(sock, SRV_UDP);
    assert_int_equal(l.transport, FL_ICE_UDP);
    assert_int_equal(r.transport, FL_ICE_UDP);
    assert_int_equal(fl_ice_agent_selected_pair(s.a[CLI], 1, NULL, NULL, &sock), 0);
    assert_int_equal(sock, CLI_UDP);
    print_message("TCP pair valid at %lld ms, UDP at %lld ms, UDP selected at %lld ms\n",
                  (long long)((s.srv_valid[1] - T0) / MS), (long long)((s.srv_valid[0] - T0) / MS),
                  (long long)((s.now - T0) / MS));
    sim_free(&s);
}

/* ---- (3) real sockets: engine/tcp_media and a plain TCP client ------------------ */

typedef struct live {
    uv_loop_t loop;
    fl_buf_pool *pool;
    fl__tcp_media *tm;
    fl_ice_agent *a[2];
    fl_rand rand[2];
    fl_ice_state state[2];
    int fd; /* the client's connection */
    fl_addr listen, cli;
    fl_tcp_frame_decoder dec;
    uint8_t scratch[2048];
    int data_in[2];
    int closed;
} live;

static const uint8_t media[] = { 0x80, 0x6f, 0x12, 0x34, 0, 0, 0, 9, 0xca, 0xfe, 0xba, 0xbe };

/* The glue: STUN frames to the agent, the rest is media. */
static void on_frame(fl__tcp_media *t, uint64_t conn, const fl_addr *peer, fl_buf *b, void *arg)
{
    live *L = arg;
    (void)t;
    const uint8_t *p = fl_buf_data(b);
    if (is_stun(p, b->len))
        fl_ice_agent_handle_tcp_input(L->a[SRV], fl_time_now(), LISTENER, FL_ICE_TCP_CONN_ID(conn),
                                      peer, p, b->len);
    else if (b->len == sizeof(media) && memcmp(p, media, sizeof(media)) == 0)
        L->data_in[SRV]++;
    fl_buf_unref(b);
}

static void on_conn(fl__tcp_media *t, uint64_t conn, const fl_addr *peer, int open, void *arg)
{
    live *L = arg;
    (void)t;
    (void)peer;
    if (!open)
        fl_ice_agent_tcp_closed(L->a[SRV], fl_time_now(), FL_ICE_TCP_CONN_ID(conn));
}

static void on_listener_closed(void *arg)
{
    ((live *)arg)->closed = 1;
}

static void srv_send(live *L, int socket_id, const uint8_t *data, size_t len)
{
    assert_true(socket_id & FL_ICE_TCP_CONN_FLAG); /* a connection, never the listener */
    fl_buf *b = fl_buf_pool_get(L->pool);
    assert_non_null(b);
    memcpy(fl_buf_data(b), data, len);
    assert_int_equal(fl_buf_set_len(b, len), 0);
    uint64_t conn = (uint64_t)socket_id & ~(uint64_t)FL_ICE_TCP_CONN_FLAG;
    assert_int_equal(fl__tcp_media_send(L->tm, conn, b), 0);
}

static void cli_send(live *L, const uint8_t *data, size_t len)
{
    uint8_t framed[FL_ICE_MSG_MAX + FL_TCP_FRAME_HEADER];
    size_t n;
    assert_int_equal(fl_tcp_frame_write(framed, sizeof(framed), data, len, &n), 0);
    assert_int_equal(send(L->fd, framed, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void cli_read(live *L)
{
    uint8_t buf[4096];
    const uint8_t *f;
    size_t len;
    ssize_t r = recv(L->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r <= 0)
        return;
    assert_int_equal(fl_tcp_frame_decoder_handle_input(&L->dec, buf, (size_t)r), 0);
    while (fl_tcp_frame_decoder_poll_frame(&L->dec, &f, &len) == 0) {
        if (is_stun(f, len))
            fl_ice_agent_handle_input(L->a[CLI], fl_time_now(), CLI_TUN, &L->listen, f, len);
        else if (len == sizeof(media) && memcmp(f, media, len) == 0)
            L->data_in[CLI]++;
    }
}

static void live_drain(live *L, int i)
{
    fl_ice_transmit tx;
    fl_ice_event ev;
    while (fl_ice_agent_poll_transmit(L->a[i], &tx) == 0) {
        if (i == SRV) {
            srv_send(L, tx.socket_id, tx.data, tx.len);
        } else {
            assert_int_equal(tx.socket_id, CLI_TUN);
            if (fl_addr_equal(&tx.dst, &L->listen))
                cli_send(L, tx.data, tx.len);
        }
    }
    while (fl_ice_agent_poll_event(L->a[i], &ev) == 0) {
        fl_ice_candidate c = as_signalled(i, &ev);
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE)
            assert_int_equal(fl_ice_agent_add_remote(L->a[1 - i], fl_time_now(), &c), 0);
        else if (ev.type == FL_ICE_EVENT_GATHERING_DONE)
            fl_ice_agent_remote_end_of_candidates(L->a[1 - i], fl_time_now());
        else if (ev.type == FL_ICE_EVENT_STATE)
            L->state[i] = ev.state;
    }
}

/* One round of the test's loop: libuv (server), the client socket, timers. */
static void live_step(live *L)
{
    struct pollfd pfd = { .fd = L->fd, .events = POLLIN };
    live_drain(L, SRV);
    live_drain(L, CLI);
    uv_run(&L->loop, UV_RUN_NOWAIT);
    cli_read(L);
    fl_time now = fl_time_now();
    for (int i = 0; i < 2; i++) {
        if (fl_ice_agent_poll_timeout(L->a[i]) <= now)
            fl_ice_agent_handle_timeout(L->a[i], now);
    }
    poll(&pfd, 1, 2);
}

static void live_open_client(live *L)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    L->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(L->fd >= 0);
    size_t n = fl_addr_to_sockaddr(&L->listen, (struct sockaddr *)&ss, sizeof(ss));
    assert_int_equal(connect(L->fd, (struct sockaddr *)&ss, (socklen_t)n), 0);
    assert_int_equal(getsockname(L->fd, (struct sockaddr *)&ss, &sl), 0);
    assert_int_equal(fl_addr_from_sockaddr(&L->cli, (struct sockaddr *)&ss), 0);
}

static void live_init(live *L)
{
    memset(L, 0, sizeof(*L));
    assert_int_equal(uv_loop_init(&L->loop), 0);
    assert_int_equal(fl_buf_pool_create(&L->pool, 2048, 64, 8, 256), 0);
    fl__tcp_media_config cfg = { .rand = NULL };
    fl_addr_parse(&cfg.local, "127.0.0.1", 0);
    fl__tcp_media_callbacks cbs = { .on_frame = on_frame, .on_conn = on_conn };
    assert_int_equal(fl__tcp_media_create(&L->tm, &L->loop, L->pool, &cfg, &cbs, L), 0);
    L->listen = *fl__tcp_media_local(L->tm);
    live_open_client(L);
    fl_tcp_frame_decoder_init(&L->dec, L->scratch, sizeof(L->scratch));
    for (int i = 0; i < 2; i++) {
        fl_rand_seeded_init(&L->rand[i], 300 + (uint64_t)i);
        fl_ice_agent_config c = { .rand = &L->rand[i] };
        c.role = i == SRV ? FL_ICE_ROLE_CONTROLLED : FL_ICE_ROLE_CONTROLLING;
        assert_int_equal(fl_ice_agent_create(&L->a[i], &c), 0);
    }
    fl_ice_host h = { .component = 1, .socket_id = LISTENER, .addr = L->listen };
    assert_int_equal(fl_ice_agent_add_tcp_passive(L->a[SRV], &h), 0);
    h = (fl_ice_host){ .component = 1, .socket_id = CLI_TUN, .addr = L->cli };
    assert_int_equal(fl_ice_agent_add_host(L->a[CLI], &h), 0);
    for (int i = 0; i < 2; i++)
        fl_ice_agent_set_remote_credentials(L->a[1 - i], fl_ice_agent_local_ufrag(L->a[i]),
                                            fl_ice_agent_local_pwd(L->a[i]));
    for (int i = 0; i < 2; i++)
        fl_ice_agent_gather(L->a[i], fl_time_now());
}

static void live_free(live *L)
{
    fl__tcp_media_close(L->tm, on_listener_closed, L);
    if (L->fd >= 0)
        close(L->fd);
    uv_run(&L->loop, UV_RUN_DEFAULT);
    assert_true(L->closed);
    assert_int_equal(uv_loop_close(&L->loop), 0);
    fl_buf_pool_destroy(L->pool);
    fl_ice_agent_destroy(L->a[0]);
    fl_ice_agent_destroy(L->a[1]);
}

static void test_real_sockets(void **state)
{
    (void)state;
    live L;
    int sock;
    live_init(&L);
    fl_time start = fl_time_now();
    while (fl_time_now() - start < 5 * FL_TIME_SEC &&
           (L.state[SRV] != FL_ICE_STATE_READY || L.state[CLI] != FL_ICE_STATE_READY))
        live_step(&L);
    assert_int_equal(L.state[SRV], FL_ICE_STATE_READY);
    assert_int_equal(L.state[CLI], FL_ICE_STATE_READY);
    print_message("READY over loopback TCP in %lld ms\n",
                  (long long)((fl_time_now() - start) / FL_TIME_MS));
    fl_ice_candidate r;
    assert_int_equal(fl_ice_agent_selected_pair(L.a[SRV], 1, NULL, &r, &sock), 0);
    assert_true(fl_addr_equal(&r.addr, &L.cli));
    for (int i = 0; i < 3; i++) {
        srv_send(&L, sock, media, sizeof(media));
        cli_send(&L, media, sizeof(media));
    }
    start = fl_time_now();
    while (fl_time_now() - start < 2 * FL_TIME_SEC && (L.data_in[SRV] < 3 || L.data_in[CLI] < 3))
        live_step(&L);
    assert_int_equal(L.data_in[SRV], 3);
    assert_int_equal(L.data_in[CLI], 3);
    /* the client goes away: the server's pair fails with its connection */
    close(L.fd);
    L.fd = -1;
    start = fl_time_now();
    while (fl_time_now() - start < 2 * FL_TIME_SEC && L.state[SRV] != FL_ICE_STATE_FAILED) {
        uv_run(&L.loop, UV_RUN_NOWAIT);
        live_drain(&L, SRV);
        poll(NULL, 0, 2);
    }
    assert_int_equal(L.state[SRV], FL_ICE_STATE_FAILED);
    live_free(&L);
}

int main(void)
{
    fl_log_configure("*:warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priorities),    cmocka_unit_test(test_passive_controlled),
        cmocka_unit_test(test_socket_ids),    cmocka_unit_test(test_connection_churn),
        cmocka_unit_test(test_framed_stream), cmocka_unit_test(test_udp_preferred),
        cmocka_unit_test(test_real_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
