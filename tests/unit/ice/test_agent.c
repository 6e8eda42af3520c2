/* The ICE agent's state machine with fixed inputs and a fake clock: the test
 * plays the peer by building STUN messages itself. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/agent.h"
#include "ice/stun.h"

#define MS        FL_TIME_MS
#define T0        (100 * FL_TIME_SEC)
#define PEER_UF   "PEER"
#define PEER_PWD  "peerpasswordpeerpassword"
#define AGENT_UF  "AGNT"
#define AGENT_PWD "agentpasswordagentpassword"

typedef struct fx {
    fl_ice_agent *a;
    fl_rand rand;
    fl_addr local, remote;
    fl_ice_transmit tx;
    fl_stun_msg m;
} fx;

static void fx_init(fx *f, fl_ice_role role, int lite, int with_remote)
{
    memset(f, 0, sizeof(*f));
    fl_rand_seeded_init(&f->rand, 42);
    fl_ice_agent_config cfg = {
        .role = role, .lite = lite, .rand = &f->rand, .ufrag = AGENT_UF, .pwd = AGENT_PWD
    };
    assert_int_equal(fl_ice_agent_create(&f->a, &cfg), 0);
    fl_addr_parse(&f->local, "10.0.0.1", 5000);
    fl_addr_parse(&f->remote, "10.0.0.2", 6000);
    fl_ice_host h = { .component = 1, .socket_id = 0, .addr = f->local };
    assert_int_equal(fl_ice_agent_add_host(f->a, &h), 0);
    assert_int_equal(fl_ice_agent_set_remote_credentials(f->a, PEER_UF, PEER_PWD), 0);
    if (with_remote) {
        assert_int_equal(fl_ice_agent_add_remote_candidate(
                                 f->a, T0, "candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host"),
                         0);
        assert_int_equal(fl_ice_agent_add_remote_candidate(f->a, T0, "a=end-of-candidates"), 0);
    }
    assert_int_equal(fl_ice_agent_gather(f->a, T0), 0);
}

static void fx_free(fx *f)
{
    fl_ice_agent_destroy(f->a);
}

/* The next datagram, parsed into f->m. 0 or FL_EAGAIN. */
static int fx_tx(fx *f)
{
    int rc = fl_ice_agent_poll_transmit(f->a, &f->tx);
    if (rc == 0)
        assert_int_equal(fl_stun_msg_parse(&f->m, f->tx.data, f->tx.len), 0);
    return rc;
}

static int fx_event(fx *f, fl_ice_event_type type, fl_ice_event *out)
{
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(f->a, &ev) == 0) {
        if (ev.type == type) {
            if (out)
                *out = ev;
            return 1;
        }
    }
    return 0;
}

static void fx_drain_tx(fx *f)
{
    while (fx_tx(f) == 0) {
    }
}

/* Answers the request in f->m as the peer would. */
static int fx_answer(fx *f, fl_time now, int error, const char *pwd, const fl_addr *mapped)
{
    uint8_t buf[512];
    size_t len;
    fl_stun_writer w;
    fl_stun_writer_init(&w, buf, sizeof(buf), FL_STUN_BINDING,
                        error ? FL_STUN_ERROR : FL_STUN_SUCCESS, f->m.txn_id);
    if (error)
        fl_stun_writer_add_error(&w, error, "Role Conflict");
    else
        fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS,
                                    mapped ? mapped : &f->local);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)pwd, strlen(pwd));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return fl_ice_agent_handle_input(f->a, now, f->tx.socket_id, &f->tx.dst, buf, len);
}

typedef struct req_opts {
    uint16_t role_attr; /* 0: none */
    uint64_t tb;
    int use_cand;
    const char *pwd;
    const char *user;
} req_opts;

static int fx_request(fx *f, fl_time now, const fl_addr *from, const req_opts *o)
{
    uint8_t buf[512], id[12];
    size_t len;
    fl_stun_writer w;
    fl_stun_txn_id_generate(&f->rand, id);
    fl_stun_writer_init(&w, buf, sizeof(buf), FL_STUN_BINDING, FL_STUN_REQUEST, id);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, o->user ? o->user : AGENT_UF ":" PEER_UF);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1845501695u);
    if (o->role_attr)
        fl_stun_writer_add_u64(&w, o->role_attr, o->tb);
    if (o->use_cand)
        fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    const char *pwd = o->pwd ? o->pwd : AGENT_PWD;
    fl_stun_writer_add_integrity(&w, (const uint8_t *)pwd, strlen(pwd));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return fl_ice_agent_handle_input(f->a, now, 0, from, buf, len);
}

static void expect_ice_check(fx *f, int use_cand, uint16_t role_attr)
{
    assert_int_equal(fx_tx(f), 0);
    assert_int_equal(f->m.cls, FL_STUN_REQUEST);
    assert_true(fl_addr_equal(&f->tx.dst, &f->remote));
    assert_int_equal(
            fl_stun_msg_check_integrity(&f->m, (const uint8_t *)PEER_PWD, strlen(PEER_PWD)), 0);
    const char *u;
    size_t n;
    assert_int_equal(fl_stun_msg_get_string(&f->m, FL_STUN_ATTR_USERNAME, &u, &n), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(u, PEER_UF ":" AGENT_UF, 9);
    uint32_t prio;
    assert_int_equal(fl_stun_msg_get_u32(&f->m, FL_STUN_ATTR_PRIORITY, &prio), 0);
    assert_int_equal(prio >> 24, 110);
    assert_int_equal(fl_stun_msg_find(&f->m, FL_STUN_ATTR_USE_CANDIDATE) != NULL, use_cand);
    assert_non_null(fl_stun_msg_find(&f->m, role_attr));
    assert_true(f->m.fingerprint_off != 0);
}

static void test_check_retransmission_timing(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    fl_time t = fl_ice_agent_poll_timeout(f.a);
    assert_true(t <= T0);
    fl_ice_agent_handle_timeout(f.a, T0);
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLING);
    uint8_t id[12];
    memcpy(id, f.m.txn_id, 12);
    /* RFC 8489 doubling from 500 ms, capped at the agent's 500 ms default. */
    static const int at_ms[] = { 500, 1000, 1500, 2000, 2500, 3000 };
    for (size_t i = 0; i < 6; i++) {
        t = fl_ice_agent_poll_timeout(f.a);
        assert_int_equal(t, T0 + at_ms[i] * MS);
        fl_ice_agent_handle_timeout(f.a, t - 1);
        assert_int_equal(fx_tx(&f), FL_EAGAIN);
        fl_ice_agent_handle_timeout(f.a, t);
        expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLING);
        assert_memory_equal(f.m.txn_id, id, 12);
    }
    t = fl_ice_agent_poll_timeout(f.a);
    assert_int_equal(t, T0 + 11000 * MS); /* Rm * RTO after the last one */
    fl_ice_agent_handle_timeout(f.a, t);
    assert_int_equal(fx_tx(&f), FL_EAGAIN);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_FAILED);
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.checks_sent, 7);
    assert_int_equal(st.retransmits, 6);
    fx_free(&f);
}

static void test_unauthenticated_dropped(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 0, 0);
    fl_addr from;
    fl_addr_parse(&from, "10.0.0.9", 7000);
    req_opts bad_pwd = { .pwd = "wrongpasswordwrongpassword" };
    assert_int_equal(fx_request(&f, T0, &from, &bad_pwd), FL_EAUTH);
    req_opts bad_user = { .user = "XXXX:" PEER_UF };
    assert_int_equal(fx_request(&f, T0, &from, &bad_user), FL_EAUTH);
    static const uint8_t junk[] = { 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1,  2,   3,
                                    4, 5, 6, 7, 8,    9,    10,   11,   12, 0xff };
    assert_int_equal(fl_ice_agent_handle_input(f.a, T0, 0, &from, junk, sizeof(junk)), FL_EBADMSG);
    fl_ice_agent_handle_timeout(f.a, T0 + 10 * MS);
    assert_int_equal(fx_tx(&f), FL_EAGAIN);
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.dropped_unauth, 2);
    assert_int_equal(st.dropped_malformed, 1);
    assert_int_equal(st.prflx_remote, 0);
    assert_int_equal(st.remote_candidates, 0);
    /* its DTLS or media would not be let in */
    assert_false(fl_ice_agent_peer_validated(f.a, 0, &from));
    /* a response nobody asked for */
    f.tx.socket_id = 0;
    f.tx.dst = from;
    uint8_t id[12] = { 1 };
    fl_stun_msg fake = { .txn_id = id };
    f.m = fake;
    assert_int_equal(fx_answer(&f, T0, 0, PEER_PWD, NULL), FL_ENOENT);
    fx_free(&f);
}

static void test_prflx_learned(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 0, 0);
    fl_addr from;
    fl_addr_parse(&from, "192.168.1.77", 7000); /* Chrome's other address */
    req_opts o = { .role_attr = FL_STUN_ATTR_ICE_CONTROLLING, .tb = 5 };
    assert_int_equal(fx_request(&f, T0, &from, &o), 0);
    assert_int_equal(fx_tx(&f), 0); /* the response */
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    assert_true(fl_addr_equal(&f.tx.dst, &from));
    fl_addr mapped;
    assert_int_equal(fl_stun_msg_get_xor_addr(&f.m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped), 0);
    assert_true(fl_addr_equal(&mapped, &from));
    assert_int_equal(
            fl_stun_msg_check_integrity(&f.m, (const uint8_t *)AGENT_PWD, strlen(AGENT_PWD)), 0);
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.prflx_remote, 1);
    /* an authenticated check validates its source on that socket only */
    assert_true(fl_ice_agent_peer_validated(f.a, 0, &from));
    assert_false(fl_ice_agent_peer_validated(f.a, 1, &from));
    fl_addr other = from;
    other.port = 7001;
    assert_false(fl_ice_agent_peer_validated(f.a, 0, &other));
    /* the triggered check goes to the learnt address */
    f.remote = from;
    fl_ice_agent_handle_timeout(f.a, T0);
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLED);
    /* a success whose mapped address is new gives a local prflx candidate */
    fl_addr nat;
    fl_addr_parse(&nat, "203.0.113.5", 9000);
    assert_int_equal(fx_answer(&f, T0 + 20 * MS, 0, PEER_PWD, &nat), 0);
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.prflx_local, 1);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_CONNECTED);
    /* the signalled candidate for the same address replaces the prflx one */
    assert_int_equal(fl_ice_agent_add_remote_candidate(
                             f.a, T0, "candidate:9 1 udp 2130706431 192.168.1.77 7000 typ host"),
                     0);
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.remote_candidates, 1);
    fx_free(&f);
}

static void test_role_conflict_on_request(void **state)
{
    (void)state;
    fx f;
    fl_ice_event ev;
    /* controlling vs controlling, our tie-breaker wins (theirs is 0): 487 */
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    req_opts o = { .role_attr = FL_STUN_ATTR_ICE_CONTROLLING, .tb = 0 };
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    int code;
    const char *r;
    size_t rl;
    assert_int_equal(f.m.cls, FL_STUN_ERROR);
    assert_int_equal(fl_stun_msg_get_error(&f.m, &code, &r, &rl), 0);
    assert_int_equal(code, 487);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLING);
    fx_drain_tx(&f); /* our own first check */
    /* theirs is larger: we become controlled and answer */
    o.tb = UINT64_MAX;
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLED);
    assert_true(fx_event(&f, FL_ICE_EVENT_ROLE, &ev));
    assert_int_equal(ev.role, FL_ICE_ROLE_CONTROLLED);
    fx_free(&f);

    /* controlled vs controlled */
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 0, 1);
    o.role_attr = FL_STUN_ATTR_ICE_CONTROLLED;
    o.tb = UINT64_MAX;
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_ERROR);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLED);
    fx_drain_tx(&f);
    o.tb = 0;
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLING);
    fx_free(&f);
}

static void test_role_conflict_on_response(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    fl_ice_agent_handle_timeout(f.a, T0);
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLING);
    assert_int_equal(fx_answer(&f, T0 + 10 * MS, 487, PEER_PWD, NULL), 0);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLED);
    fl_ice_agent_handle_timeout(f.a, T0 + 50 * MS);
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLED); /* retried with the new role */
    /* a 487 without valid integrity changes nothing */
    assert_int_equal(fx_answer(&f, T0 + 60 * MS, 487, "wrongpasswordwrongpassword", NULL),
                     FL_EAUTH);
    assert_int_equal(fl_ice_agent_role(f.a), FL_ICE_ROLE_CONTROLLED);
    fx_free(&f);
}

/* Drives a controlling agent to READY; returns the time. */
static fl_time reach_ready_controlling(fx *f)
{
    fl_ice_event ev;
    fl_ice_agent_handle_timeout(f->a, T0);
    expect_ice_check(f, 0, FL_STUN_ATTR_ICE_CONTROLLING);
    assert_int_equal(fx_answer(f, T0 + 10 * MS, 0, PEER_PWD, NULL), 0);
    assert_int_equal(fl_ice_agent_state(f->a, 1), FL_ICE_STATE_CONNECTED);
    /* regular nomination: the only pair is the best one, nominated at once */
    fl_time t = fl_ice_agent_poll_timeout(f->a);
    assert_true(t <= T0 + 50 * MS);
    fl_ice_agent_handle_timeout(f->a, T0 + 50 * MS);
    expect_ice_check(f, 1, FL_STUN_ATTR_ICE_CONTROLLING);
    assert_int_equal(fx_answer(f, T0 + 60 * MS, 0, PEER_PWD, NULL), 0);
    assert_int_equal(fl_ice_agent_state(f->a, 1), FL_ICE_STATE_READY);
    assert_true(fx_event(f, FL_ICE_EVENT_SELECTED_PAIR, &ev));
    assert_true(fl_addr_equal(&ev.candidate.addr, &f->local));
    assert_true(fl_addr_equal(&ev.remote.addr, &f->remote));
    assert_int_equal(ev.socket_id, 0);
    return T0 + 60 * MS;
}

static void test_regular_nomination(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    /* a signalled candidate is not validated until a check succeeds */
    assert_false(fl_ice_agent_peer_validated(f.a, 0, &f.remote));
    reach_ready_controlling(&f);
    assert_true(fl_ice_agent_peer_validated(f.a, 0, &f.remote));
    fx_free(&f);
}

static void test_aggressive_nomination_from_peer(void **state)
{
    (void)state;
    fx f;
    fl_ice_event ev;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 0, 1);
    req_opts o = { .role_attr = FL_STUN_ATTR_ICE_CONTROLLING, .tb = 1, .use_cand = 1 };
    /* USE-CANDIDATE before our own check succeeded: selected once it does */
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    /* the triggered check, sent at once */
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLED);
    assert_int_not_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    assert_int_equal(fx_answer(&f, T0 + 10 * MS, 0, PEER_PWD, NULL), 0);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    assert_true(fx_event(&f, FL_ICE_EVENT_SELECTED_PAIR, &ev));
    fx_free(&f);

    /* our check succeeded first: USE-CANDIDATE selects at once */
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 0, 1);
    fl_ice_agent_handle_timeout(f.a, T0);
    expect_ice_check(&f, 0, FL_STUN_ATTR_ICE_CONTROLLED);
    assert_int_equal(fx_answer(&f, T0 + 10 * MS, 0, PEER_PWD, NULL), 0);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_CONNECTED);
    assert_int_equal(fx_request(&f, T0 + 20 * MS, &f.remote, &o), 0);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    fx_free(&f);
}

static void test_lite_selects_on_use_candidate(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 1, 0);
    req_opts o = { .role_attr = FL_STUN_ATTR_ICE_CONTROLLING, .tb = 1 };
    assert_int_equal(fx_request(&f, T0, &f.remote, &o), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    assert_int_equal(fx_tx(&f), FL_EAGAIN); /* lite: no checks of its own */
    o.use_cand = 1;
    assert_int_equal(fx_request(&f, T0 + 10 * MS, &f.remote, &o), 0);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    fx_drain_tx(&f);
    /* no checks from the peer for 30 s: consent gone */
    fl_ice_agent_handle_timeout(f.a, T0 + 10 * MS + 29 * FL_TIME_SEC);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    fx_drain_tx(&f); /* keepalive indications */
    fl_ice_agent_handle_timeout(f.a, T0 + 10 * MS + 30 * FL_TIME_SEC);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_FAILED);
    fx_free(&f);
}

static void test_consent_loss(void **state)
{
    (void)state;
    fx f;
    fl_ice_event ev;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    fl_time ready = reach_ready_controlling(&f);
    fl_time last = ready;
    int sent = 0;
    /* answer consent checks for 20 s: still READY */
    while (last < ready + 20 * FL_TIME_SEC) {
        fl_time t = fl_ice_agent_poll_timeout(f.a);
        assert_true(t >= last);
        fl_ice_agent_handle_timeout(f.a, t);
        while (fx_tx(&f) == 0) {
            if (f.m.cls == FL_STUN_REQUEST) {
                if (sent++ > 0) /* 5 s ± 20% apart */
                    assert_true(t - last >= 4 * FL_TIME_SEC && t - last <= 6 * FL_TIME_SEC);
                last = t;
                assert_int_equal(fx_answer(&f, t + MS, 0, PEER_PWD, NULL), 0);
            }
        }
    }
    assert_true(sent >= 4);
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    /* now silence: consent expires 30 s after the last response */
    fl_time expire = last + MS + 30 * FL_TIME_SEC;
    for (;;) {
        fl_time t = fl_ice_agent_poll_timeout(f.a);
        assert_true(t <= expire);
        fl_ice_agent_handle_timeout(f.a, t);
        fx_drain_tx(&f);
        if (t < expire)
            assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
        else
            break;
    }
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_FAILED);
    memset(&ev, 0, sizeof(ev));
    while (ev.state != FL_ICE_STATE_FAILED)
        assert_true(fx_event(&f, FL_ICE_EVENT_STATE, &ev));
    assert_int_equal(fl_ice_agent_selected_pair(f.a, 1, NULL, NULL, NULL), FL_ENOENT);
    fx_free(&f);
}

static void test_restart(void **state)
{
    (void)state;
    fx f;
    fl_ice_event ev;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 1);
    fl_time t = reach_ready_controlling(&f);
    fx_drain_tx(&f);
    assert_int_equal(fl_ice_agent_restart(f.a, t), 0);
    assert_string_not_equal(fl_ice_agent_local_ufrag(f.a), AGENT_UF);
    assert_string_not_equal(fl_ice_agent_local_pwd(f.a), AGENT_PWD);
    assert_true(strlen(fl_ice_agent_local_ufrag(f.a)) >= 4);
    assert_true(strlen(fl_ice_agent_local_pwd(f.a)) >= 22);
    /* the old pair stays selected, and old-credential checks are answered */
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    assert_int_equal(fl_ice_agent_selected_pair(f.a, 1, NULL, NULL, NULL), 0);
    req_opts old = { .role_attr = FL_STUN_ATTR_ICE_CONTROLLED, .tb = 1 };
    assert_int_equal(fx_request(&f, t, &f.remote, &old), 0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_SUCCESS);
    fl_ice_agent_gather(f.a, t);
    assert_true(fx_event(&f, FL_ICE_EVENT_LOCAL_CANDIDATE, NULL));
    /* the peer restarts too, from another address */
    assert_int_equal(fl_ice_agent_set_remote_credentials(f.a, "NEWP", "newpeerpasswordnewpeerpw"),
                     0);
    assert_int_equal(fl_ice_agent_add_remote_candidate(
                             f.a, t, "candidate:2 1 udp 2130706431 10.0.0.3 6001 typ host"),
                     0);
    fl_addr_parse(&f.remote, "10.0.0.3", 6001);
    for (int step = 0; step < 2; step++) {
        t += 50 * MS;
        fl_ice_agent_handle_timeout(f.a, t);
        while (fx_tx(&f) == 0 && !fl_addr_equal(&f.tx.dst, &f.remote)) {
        }
        assert_true(fl_addr_equal(&f.tx.dst, &f.remote));
        assert_int_equal(
                fl_stun_msg_check_integrity(&f.m, (const uint8_t *)"newpeerpasswordnewpeerpw", 24),
                0);
        assert_int_equal(fx_answer(&f, t + MS, 0, "newpeerpasswordnewpeerpw", NULL), 0);
    }
    assert_true(fx_event(&f, FL_ICE_EVENT_SELECTED_PAIR, &ev));
    assert_true(fl_addr_equal(&ev.remote.addr, &f.remote));
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_READY);
    fx_free(&f);
}

static void test_gathering_srflx(void **state)
{
    (void)state;
    fx f;
    fl_ice_event ev;
    memset(&f, 0, sizeof(f));
    fl_rand_seeded_init(&f.rand, 7);
    fl_ice_agent_config cfg = { .rand = &f.rand };
    assert_int_equal(fl_ice_agent_create(&f.a, &cfg), 0);
    assert_true(strlen(fl_ice_agent_local_ufrag(f.a)) >= 4);
    assert_int_equal(strlen(fl_ice_agent_local_pwd(f.a)), 24);
    fl_addr_parse(&f.local, "10.0.0.1", 5000);
    fl_ice_host h = { .component = 1, .socket_id = 3, .addr = f.local };
    assert_int_equal(fl_ice_agent_add_host(f.a, &h), 0);
    assert_int_equal(fl_ice_agent_add_host(f.a, &h), FL_EEXIST);
    fl_addr stun, pub;
    fl_addr_parse(&stun, "192.0.2.1", 3478);
    fl_addr_parse(&pub, "198.51.100.4", 62000);
    assert_int_equal(fl_ice_agent_add_stun_server(f.a, &stun), 0);
    assert_int_equal(fl_ice_agent_gather(f.a, T0), 0);
    assert_true(fx_event(&f, FL_ICE_EVENT_LOCAL_CANDIDATE, &ev));
    assert_int_equal(ev.candidate.type, FL_ICE_CAND_HOST);
    assert_int_equal(ev.candidate.priority, fl_ice_candidate_priority(126, 65534, 1));
    assert_int_equal(fl_ice_agent_state(f.a, 1), FL_ICE_STATE_GATHERING);
    fl_ice_agent_handle_timeout(f.a, T0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.tx.socket_id, 3);
    assert_true(fl_addr_equal(&f.tx.dst, &stun));
    f.tx.dst = stun;
    assert_int_equal(fx_answer(&f, T0 + 30 * MS, 0, "unusedunusedunusedunused", &pub), 0);
    assert_true(fx_event(&f, FL_ICE_EVENT_LOCAL_CANDIDATE, &ev));
    assert_int_equal(ev.candidate.type, FL_ICE_CAND_SRFLX);
    assert_true(fl_addr_equal(&ev.candidate.addr, &pub));
    assert_true(fl_addr_equal(&ev.candidate.related, &f.local));
    assert_int_equal(ev.candidate.priority >> 24, 100);
    assert_true(fx_event(&f, FL_ICE_EVENT_GATHERING_DONE, NULL));
    fx_free(&f);
}

/* A lite agent's responses, queued without polling: the transmit ring
 * grows (it starts small) and keeps them in order across its wrap, up to
 * 64 queued; those past that are dropped and counted. */
static int request_n(fx *f, uint32_t n)
{
    uint8_t buf[512], id[12] = { 0 };
    size_t len;
    fl_stun_writer w;
    memcpy(id, &n, sizeof(n));
    fl_stun_writer_init(&w, buf, sizeof(buf), FL_STUN_BINDING, FL_STUN_REQUEST, id);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, AGENT_UF ":" PEER_UF);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1845501695u);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLING, 1);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)AGENT_PWD, strlen(AGENT_PWD));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return fl_ice_agent_handle_input(f->a, T0, 0, &f->remote, buf, len);
}

static uint32_t response_n(fx *f)
{
    uint32_t n;
    assert_int_equal(fx_tx(f), 0);
    assert_int_equal(f->m.cls, FL_STUN_SUCCESS);
    memcpy(&n, f->m.txn_id, sizeof(n));
    return n;
}

static void test_transmit_queue_grows_in_order(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLED, 1, 1);
    fx_drain_tx(&f);
    uint32_t next = 0, expect = 0;
    /* wrap a small ring first: 3 in, 2 out, then enough to grow it twice */
    for (int i = 0; i < 3; i++)
        assert_int_equal(request_n(&f, next++), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(response_n(&f), expect++);
    for (int i = 0; i < 10; i++)
        assert_int_equal(request_n(&f, next++), 0);
    for (int i = 0; i < 11; i++)
        assert_int_equal(response_n(&f), expect++);
    assert_int_equal(fx_tx(&f), FL_EAGAIN);
    /* to the limit and past it */
    for (int i = 0; i < 70; i++)
        request_n(&f, next++);
    for (int i = 0; i < 64; i++)
        assert_int_equal(response_n(&f), expect++);
    assert_int_equal(fx_tx(&f), FL_EAGAIN);
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.dropped_tx_full, 6);
    /* and it works on after that */
    assert_int_equal(request_n(&f, 1000), 0);
    assert_int_equal(response_n(&f), 1000);
    fx_free(&f);
}

/* The candidate and pair arrays grow as candidates come, to the same
 * limits as ever: 64 remote candidates, 100 pairs (the lowest-priority
 * waiting ones give way to better ones). */
static void test_candidate_limits(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, FL_ICE_ROLE_CONTROLLING, 0, 0);
    fl_addr second;
    fl_addr_parse(&second, "10.0.0.3", 5002);
    fl_ice_host h = { .component = 1, .socket_id = 1, .addr = second };
    assert_int_equal(fl_ice_agent_add_host(f.a, &h), 0);
    char line[128];
    for (int i = 0; i < 64; i++) {
        snprintf(line, sizeof(line), "candidate:%d 1 udp %d 10.1.%d.%d 7000 typ host", i + 1,
                 2130706431 - i, i / 200, i % 200 + 1);
        assert_int_equal(fl_ice_agent_add_remote_candidate(f.a, T0, line), 0);
    }
    snprintf(line, sizeof(line), "candidate:99 1 udp 1 10.2.0.1 7000 typ host");
    assert_int_equal(fl_ice_agent_add_remote_candidate(f.a, T0, line), FL_ERANGE);
    fl_ice_stats st;
    fl_ice_agent_get_stats(f.a, &st);
    assert_int_equal(st.remote_candidates, 64);
    assert_int_equal(st.local_candidates, 2);
    assert_int_equal(st.pairs, 100);
    /* the checks go on: the first is for the best pair */
    fl_ice_agent_handle_timeout(f.a, T0);
    assert_int_equal(fx_tx(&f), 0);
    assert_int_equal(f.m.cls, FL_STUN_REQUEST);
    fx_free(&f);
}

static void test_bad_config(void **state)
{
    (void)state;
    fl_ice_agent *a;
    fl_rand r;
    fl_rand_seeded_init(&r, 1);
    fl_ice_agent_config c = { .rand = NULL };
    assert_int_equal(fl_ice_agent_create(&a, &c), FL_EINVAL);
    c.rand = &r;
    c.ufrag = "abc";
    assert_int_equal(fl_ice_agent_create(&a, &c), FL_EINVAL);
    c.ufrag = "abc:";
    assert_int_equal(fl_ice_agent_create(&a, &c), FL_EINVAL);
    c.ufrag = "abcd";
    c.pwd = "tooshort";
    assert_int_equal(fl_ice_agent_create(&a, &c), FL_EINVAL);
    c.pwd = NULL;
    assert_int_equal(fl_ice_agent_create(&a, &c), 0);
    assert_int_equal(
            fl_ice_agent_add_remote_candidate(a, 0, "candidate:1 1 udp 1 abc.local 5000 typ host"),
            FL_ENOTSUP);
    fl_ice_agent_destroy(a);
}

int main(void)
{
    fl_log_configure(getenv("FL_LOG") ? getenv("FL_LOG") : "*:warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_retransmission_timing),
        cmocka_unit_test(test_unauthenticated_dropped),
        cmocka_unit_test(test_prflx_learned),
        cmocka_unit_test(test_role_conflict_on_request),
        cmocka_unit_test(test_role_conflict_on_response),
        cmocka_unit_test(test_regular_nomination),
        cmocka_unit_test(test_aggressive_nomination_from_peer),
        cmocka_unit_test(test_lite_selects_on_use_candidate),
        cmocka_unit_test(test_consent_loss),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_gathering_srflx),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_transmit_queue_grows_in_order),
        cmocka_unit_test(test_candidate_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
