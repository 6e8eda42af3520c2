/* An ICE transport with a TURN server (coturn on 127.0.0.1, as
 * tests/unit/ice/test_turn_coturn.c runs it): the relayed candidate is
 * gathered before gathering done; a peer given only that candidate
 * connects through coturn, the relayed pair is selected on the TURN side,
 * and data goes both ways through the relay; a TURN server refusing the
 * credentials still ends gathering. Skipped when turnserver is not
 * installed. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "engine/ice_transport.h"
#include "tests/unit/common/coturn.h"

#include <cmocka.h>

#define DEADLINE (10 * FL_TIME_SEC)
#define COUNT    50

struct peer {
    fl__ice_transport *t;
    struct peer *other;
    int relay_only_out; /* pass only relayed candidates to the other side */
    int dead_ports_out; /* pass candidates with a port nobody listens on */
    fl_ice_state state;
    int relay_candidates;
    fl_ice_candidate relay;
    int candidates_after_done; /* local candidates announced after gathering done */
    int gathered;
    int selected;
    fl_ice_candidate sel_local, sel_remote;
    int data_in;
    int echo;
    fl_addr last_from;
    int closed;
};

static uint16_t dead_port;

static void on_event(void *arg, const fl_ice_event *ev)
{
    struct peer *p = arg;
    char line[FL_ICE_CAND_STRLEN];
    if (ev->type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
        fl_ice_candidate c = ev->candidate;
        p->candidates_after_done += p->gathered;
        if (c.type == FL_ICE_CAND_RELAY) {
            p->relay_candidates++;
            p->relay = c;
        }
        if (!p->other || (p->relay_only_out && c.type != FL_ICE_CAND_RELAY))
            return;
        if (p->dead_ports_out)
            c.addr.port = dead_port;
        assert_true(fl_ice_candidate_write(&c, line, sizeof(line)) > 0);
        fl__ice_transport_add_remote_candidate(p->other->t, line);
    } else if (ev->type == FL_ICE_EVENT_GATHERING_DONE) {
        p->gathered = 1;
        if (p->other)
            fl__ice_transport_add_remote_candidate(p->other->t, "");
    } else if (ev->type == FL_ICE_EVENT_STATE) {
        p->state = ev->state;
    } else if (ev->type == FL_ICE_EVENT_SELECTED_PAIR) {
        p->selected++;
        p->sel_local = ev->candidate;
        p->sel_remote = ev->remote;
    }
}

static void on_data(void *arg, fl_buf *buf, const fl_addr *from)
{
    struct peer *p = arg;
    assert_int_equal(buf->len, 200);
    assert_int_equal(fl_buf_data(buf)[0], 0x80);
    assert_int_equal(fl_buf_data(buf)[199], 0x80);
    p->data_in++;
    p->last_from = *from;
    if (p->echo)
        fl__ice_transport_send(p->t, buf); /* the same buffer goes back */
    else
        fl_buf_unref(buf);
}

static void on_closed(void *arg)
{
    ((struct peer *)arg)->closed = 1;
}

/* Runs the loop until both flags reach `want` (or DEADLINE passes). */
static void run_until(uv_loop_t *loop, int *flag_a, int *flag_b, int want)
{
    fl_time end = fl_time_now() + DEADLINE;
    while ((*flag_a < want || *flag_b < want) && fl_time_now() < end)
        uv_run(loop, UV_RUN_NOWAIT), uv_sleep(1);
}

static fl__ice_transport_config config(fl_ice_role role)
{
    fl__ice_transport_config c = { .role = role, .network_interfaces = "lo", .loopback = 1 };
    return c;
}

static void turn_url(char *out, size_t cap, const char *password)
{
    snprintf(out, cap, "u:%s@127.0.0.1:%u", password, (unsigned)coturn_port);
}

/* Gathers with turnUrl `url` until gathering is done; the caller closes. */
static void gather_with(uv_loop_t *loop, fl_buf_pool **pool, const char *url, struct peer *a)
{
    uv_loop_init(loop);
    assert_int_equal(fl_buf_pool_create(pool, 1500, 64, 64, 0), 0);
    fl__ice_transport_config c = config(FL_ICE_ROLE_CONTROLLED);
    c.turn_url = url;
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    assert_int_equal(fl__ice_transport_create(&a->t, loop, *pool, &c, &cbs, a), 0);
    fl__ice_transport_gather(a->t);
    run_until(loop, &a->gathered, &a->gathered, 1);
    assert_true(a->gathered);
}

static void close_all(uv_loop_t *loop, fl_buf_pool *pool, struct peer *a, struct peer *b)
{
    fl__ice_transport_close(a->t, on_closed, a);
    if (b)
        fl__ice_transport_close(b->t, on_closed, b);
    run_until(loop, &a->closed, b ? &b->closed : &a->closed, 1);
    assert_true(a->closed && (!b || b->closed));
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(pool, &st);
    assert_int_equal(st.in_use, 0);
    fl_buf_pool_destroy(pool);
}

/* The relayed candidate comes out (coturn's relay address, our UDP socket
 * as its related address), and gathering done after it. */
static void test_gather_relayed(void **state)
{
    (void)state;
    if (coturn_pid < 0)
        skip();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 64, 0), 0);
    char url[128];
    turn_url(url, sizeof url, "p");
    fl__ice_transport_config c = config(FL_ICE_ROLE_CONTROLLED);
    c.turn_url = url;
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    struct peer a = { 0 };
    assert_int_equal(fl__ice_transport_create(&a.t, &loop, pool, &c, &cbs, &a), 0);
    fl__ice_transport_gather(a.t);
    run_until(&loop, &a.gathered, &a.gathered, 1);
    assert_true(a.gathered);
    assert_int_equal(a.relay_candidates, 1);
    assert_int_equal(a.candidates_after_done, 0);
    char s[FL_ADDR_STRLEN];
    assert_string_equal(fl_addr_ip_str(&a.relay.addr, s), "127.0.0.1");
    assert_int_not_equal(a.relay.addr.port, coturn_port);
    assert_string_equal(fl_addr_ip_str(&a.relay.related, s), "127.0.0.1");
    char line[FL_ICE_CAND_STRLEN];
    assert_true(fl_ice_candidate_write(&a.relay, line, sizeof line) > 0);
    assert_non_null(strstr(line, " typ relay "));
    close_all(&loop, pool, &a, NULL);
}

/* turnUrl with a host name ("localhost"): resolved off the loop, the
 * Allocate goes to its IPv4 address, the relayed candidate comes before
 * gathering done. */
static void test_gather_relayed_host_name(void **state)
{
    (void)state;
    if (coturn_pid < 0)
        skip();
    uv_loop_t loop;
    fl_buf_pool *pool;
    char url[128];
    snprintf(url, sizeof url, "u:p@localhost:%u", (unsigned)coturn_port);
    struct peer a = { 0 };
    gather_with(&loop, &pool, url, &a);
    assert_int_equal(a.relay_candidates, 1);
    assert_int_equal(a.candidates_after_done, 0);
    char s[FL_ADDR_STRLEN];
    assert_string_equal(fl_addr_ip_str(&a.relay.addr, s), "127.0.0.1");
    close_all(&loop, pool, &a, NULL);
}

/* A host name that does not resolve (an empty label: refused by the
 * resolver without a DNS query): gathering still ends, host candidates
 * only. */
static void test_gather_host_name_unresolved(void **state)
{
    (void)state;
    uv_loop_t loop;
    fl_buf_pool *pool;
    struct peer a = { 0 };
    gather_with(&loop, &pool, "u:p@no-such-host..invalid:3478", &a);
    assert_int_equal(a.relay_candidates, 0);
    close_all(&loop, pool, &a, NULL);
}

/* Closed while its TURN server's name is being resolved: the close waits
 * for the resolution's callback and frees everything. */
static void test_close_while_resolving(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 64, 0), 0);
    fl__ice_transport_config c = config(FL_ICE_ROLE_CONTROLLED);
    c.turn_url = "u:p@localhost:3478";
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    struct peer a = { 0 };
    assert_int_equal(fl__ice_transport_create(&a.t, &loop, pool, &c, &cbs, &a), 0);
    fl__ice_transport_gather(a.t);
    close_all(&loop, pool, &a, NULL);
}

/* A wrong password: the Allocate fails, gathering still ends (after it),
 * without a relayed candidate. */
static void test_gather_turn_refused(void **state)
{
    (void)state;
    if (coturn_pid < 0)
        skip();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 64, 0), 0);
    char url[128];
    turn_url(url, sizeof url, "wrong");
    fl__ice_transport_config c = config(FL_ICE_ROLE_CONTROLLED);
    c.turn_url = url;
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    struct peer a = { 0 };
    assert_int_equal(fl__ice_transport_create(&a.t, &loop, pool, &c, &cbs, &a), 0);
    fl__ice_transport_gather(a.t);
    run_until(&loop, &a.gathered, &a.gathered, 1);
    assert_true(a.gathered);
    assert_int_equal(a.relay_candidates, 0);
    close_all(&loop, pool, &a, NULL);
}

/* A (controlled) has the TURN server; B (controlling) is given only A's
 * relayed candidate. A is given B's candidates with a port nobody listens
 * on: A's own checks go nowhere, but they install the TURN permission for
 * B's IP (RFC 8656 §9: per IP), so B's checks come through the relay and A
 * learns B as peer-reflexive on its relayed socket. The pair selected on A
 * has the relayed candidate as local; data crosses coturn both ways. */
static void test_connect_through_relay(void **state)
{
    (void)state;
    if (coturn_pid < 0)
        skip();
    dead_port = free_port();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 64, 0), 0);
    char url[128];
    turn_url(url, sizeof url, "p");
    struct peer a = { .relay_only_out = 1, .echo = 1 }, b = { .dead_ports_out = 1 };
    a.other = &b;
    b.other = &a;
    fl__ice_transport_config ca = config(FL_ICE_ROLE_CONTROLLED);
    ca.turn_url = url;
    fl__ice_transport_config cb = config(FL_ICE_ROLE_CONTROLLING);
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    assert_int_equal(fl__ice_transport_create(&a.t, &loop, pool, &ca, &cbs, &a), 0);
    assert_int_equal(fl__ice_transport_create(&b.t, &loop, pool, &cb, &cbs, &b), 0);
    fl_ice_agent *aa = fl__ice_transport_agent(a.t), *ab = fl__ice_transport_agent(b.t);
    fl__ice_transport_set_remote_credentials(a.t, fl_ice_agent_local_ufrag(ab),
                                             fl_ice_agent_local_pwd(ab));
    fl__ice_transport_set_remote_credentials(b.t, fl_ice_agent_local_ufrag(aa),
                                             fl_ice_agent_local_pwd(aa));
    fl__ice_transport_gather(b.t);
    fl__ice_transport_gather(a.t);
    fl_time end = fl_time_now() + DEADLINE;
    while (!(a.state == FL_ICE_STATE_READY && b.state == FL_ICE_STATE_READY && a.selected &&
             b.selected) &&
           fl_time_now() < end)
        uv_run(&loop, UV_RUN_NOWAIT), uv_sleep(1);
    assert_int_equal(a.state, FL_ICE_STATE_READY);
    assert_int_equal(b.state, FL_ICE_STATE_READY);
    assert_int_equal(a.relay_candidates, 1);
    assert_int_equal(a.sel_local.type, FL_ICE_CAND_RELAY);
    assert_true(fl_addr_equal(&a.sel_local.addr, &a.relay.addr));
    assert_int_equal(b.sel_remote.type, FL_ICE_CAND_RELAY);
    assert_true(fl_addr_equal(&b.sel_remote.addr, &a.relay.addr));
    /* B -> coturn -> A (unwrapped), A echoes: wrapped -> coturn -> B */
    for (int i = 0; i < COUNT; i++) {
        fl_buf *buf = fl_buf_pool_get(pool);
        memset(fl_buf_data(buf), 0x80, 200);
        buf->len = 200;
        assert_int_equal(fl__ice_transport_send(b.t, buf), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1); /* loopback: no burst loss in coturn */
    }
    run_until(&loop, &a.data_in, &b.data_in, COUNT);
    assert_true(a.data_in >= COUNT - 2);
    assert_true(b.data_in >= COUNT - 2);
    assert_true(fl_addr_equal(&a.last_from, &a.sel_remote.addr)); /* the peer, not coturn */
    assert_true(fl_addr_equal(&b.last_from, &a.relay.addr));      /* came from the relay */
    close_all(&loop, pool, &a, &b);
}

int main(void)
{
    if (getenv("FLUO_LOG"))
        fl_log_configure(getenv("FLUO_LOG"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_relayed),
        cmocka_unit_test(test_gather_relayed_host_name),
        cmocka_unit_test(test_gather_host_name_unresolved),
        cmocka_unit_test(test_close_while_resolving),
        cmocka_unit_test(test_gather_turn_refused),
        cmocka_unit_test(test_connect_through_relay),
    };
    return cmocka_run_group_tests_name("engine_ice_transport_turn", tests, start_coturn,
                                       stop_coturn);
}
