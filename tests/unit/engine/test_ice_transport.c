/* Two ICE transports on one loop over the loopback interface: candidates
 * trickled from one to the other, READY on both, data both ways on the
 * selected pair, everything closed and every buffer back in its pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "engine/ice_transport.h"

#include <cmocka.h>

struct peer {
    fl__ice_transport *t;
    struct peer *other;
    fl_ice_state state;
    int data_in;
    int echo;
    int tcp_candidates;
    int closed;
    fl_buf_pool *pool;
};

static void on_event(void *arg, const fl_ice_event *ev)
{
    struct peer *p = arg;
    char line[FL_ICE_CAND_STRLEN];
    if (ev->type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
        assert_true(fl_ice_candidate_write(&ev->candidate, line, sizeof(line)) > 0);
        p->tcp_candidates += ev->candidate.transport == FL_ICE_TCP;
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
    assert_int_equal(fl_buf_data(buf)[0], 0x80);
    p->data_in++;
    if (p->echo)
        fl__ice_transport_send(p->t, buf); /* the same buffer goes back */
    else
        fl_buf_unref(buf);
}

static void on_closed(void *arg)
{
    ((struct peer *)arg)->closed = 1;
}

static void run_until(uv_loop_t *loop, int *flag_a, int *flag_b, int want)
{
    for (int i = 0; i < 5000 && (*flag_a < want || *flag_b < want); i++)
        uv_run(loop, UV_RUN_NOWAIT), uv_sleep(1);
}

static void connect_pair(int ice_tcp)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 64, 0), 0);
    struct peer a = { .pool = pool }, b = { .pool = pool, .echo = 1 };
    a.other = &b;
    b.other = &a;
    fl__ice_transport_config ca = { .role = FL_ICE_ROLE_CONTROLLING,
                                    .network_interfaces = "lo",
                                    .loopback = 1 };
    fl__ice_transport_config cb = ca;
    cb.role = FL_ICE_ROLE_CONTROLLED;
    cb.ice_tcp = ice_tcp;
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    assert_int_equal(fl__ice_transport_create(&a.t, &loop, pool, &ca, &cbs, &a), 0);
    assert_int_equal(fl__ice_transport_create(&b.t, &loop, pool, &cb, &cbs, &b), 0);
    assert_true(fl__ice_transport_sockets(a.t) >= 1);
    fl_ice_agent *aa = fl__ice_transport_agent(a.t), *ab = fl__ice_transport_agent(b.t);
    fl__ice_transport_set_remote_credentials(a.t, fl_ice_agent_local_ufrag(ab),
                                             fl_ice_agent_local_pwd(ab));
    fl__ice_transport_set_remote_credentials(b.t, fl_ice_agent_local_ufrag(aa),
                                             fl_ice_agent_local_pwd(aa));
    fl_buf *early = fl_buf_pool_get(pool);
    assert_int_equal(fl__ice_transport_send(a.t, early), FL_ESTATE); /* nothing selected */
    fl__ice_transport_gather(a.t);
    fl__ice_transport_gather(b.t);
    int ready_a = 0, ready_b = 0;
    for (int i = 0; i < 5000 && !(ready_a && ready_b); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        ready_a = a.state == FL_ICE_STATE_READY;
        ready_b = b.state == FL_ICE_STATE_READY;
    }
    assert_true(ready_a && ready_b);
    assert_int_equal(b.tcp_candidates > 0, ice_tcp);
    for (int i = 0; i < 50; i++) {
        fl_buf *buf = fl_buf_pool_get(pool);
        memset(fl_buf_data(buf), 0x80, 200);
        buf->len = 200;
        assert_int_equal(fl__ice_transport_send(a.t, buf), 0);
    }
    run_until(&loop, &a.data_in, &b.data_in, 50);
    assert_int_equal(b.data_in, 50);
    assert_int_equal(a.data_in, 50);
    fl__ice_transport_close(a.t, on_closed, &a);
    fl__ice_transport_close(b.t, on_closed, &b);
    run_until(&loop, &a.closed, &b.closed, 1);
    assert_true(a.closed && b.closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(pool, &st);
    assert_int_equal(st.in_use, 0);
    fl_buf_pool_destroy(pool);
}

static void test_udp(void **state)
{
    (void)state;
    connect_pair(0);
}

static void test_with_ice_tcp_listener(void **state)
{
    (void)state;
    connect_pair(1);
}

static void test_no_address(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 8, 0), 0);
    fl__ice_transport_config c = { .network_interfaces = "nope0", .loopback = 1 };
    fl__ice_transport_callbacks cbs = { .on_event = on_event, .on_data = on_data };
    fl__ice_transport *t;
    assert_int_equal(fl__ice_transport_create(&t, &loop, pool, &c, &cbs, NULL), FL_ENOENT);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    fl_buf_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_with_ice_tcp_listener),
        cmocka_unit_test(test_no_address),
    };
    return cmocka_run_group_tests_name("engine_ice_transport", tests, NULL, NULL);
}
