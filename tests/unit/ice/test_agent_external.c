/* A host behind a 1:1 NAT (a cloud VM): its host candidate announces the
 * external address (Kurento's externalIPv4/IPv6) while the socket stays bound
 * to the private one, and the peer connects through the NAT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/addr.h"
#include "base/rand.h"
#include "ice/agent.h"

#include <cmocka.h>

struct side {
    fl_ice_agent *a;
    fl_addr bound;  /* what its socket is bound to */
    fl_addr public; /* how the other side reaches it */
    fl_ice_state state;
    fl_ice_event selected;
};

static void pump_events(struct side *me, struct side *peer, fl_time now)
{
    fl_ice_event ev;
    char line[FL_ICE_CAND_STRLEN];
    while (fl_ice_agent_poll_event(me->a, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
            assert_true(fl_ice_candidate_write(&ev.candidate, line, sizeof(line)) > 0);
            assert_int_equal(fl_ice_agent_add_remote_candidate(peer->a, now, line), 0);
        } else if (ev.type == FL_ICE_EVENT_GATHERING_DONE) {
            fl_ice_agent_remote_end_of_candidates(peer->a, now);
        } else if (ev.type == FL_ICE_EVENT_STATE) {
            me->state = ev.state;
        } else if (ev.type == FL_ICE_EVENT_SELECTED_PAIR) {
            me->selected = ev;
        }
    }
}

/* Delivers what `me` sends: to the peer's public address only, appearing to
 * come from me's public address (the NAT rewrites both ways). */
static void pump_transmits(struct side *me, struct side *peer, fl_time now)
{
    static fl_ice_transmit tx;
    while (fl_ice_agent_poll_transmit(me->a, &tx) == 0) {
        if (!fl_addr_equal(&tx.dst, &peer->public))
            continue; /* the private address is unreachable from outside */
        fl_ice_agent_handle_input(peer->a, now, 0, &me->public, tx.data, tx.len);
    }
}

static void test_external_address_announced_and_reached(void **state)
{
    (void)state;
    fl_rand r;
    fl_rand_seeded_init(&r, 42);
    struct side srv, cli;
    memset(&srv, 0, sizeof(srv));
    memset(&cli, 0, sizeof(cli));
    fl_ice_agent_config scfg = { .role = FL_ICE_ROLE_CONTROLLED, .rand = &r };
    fl_ice_agent_config ccfg = { .role = FL_ICE_ROLE_CONTROLLING, .rand = &r };
    assert_int_equal(fl_ice_agent_create(&srv.a, &scfg), 0);
    assert_int_equal(fl_ice_agent_create(&cli.a, &ccfg), 0);
    fl_addr_parse(&srv.bound, "10.0.0.5", 40000);
    fl_addr_parse(&srv.public, "203.0.113.9", 40000);
    fl_addr_parse(&cli.bound, "198.51.100.20", 50000);
    cli.public = cli.bound;
    fl_ice_host sh = { .component = 1, .socket_id = 0, .addr = srv.bound };
    fl_addr_parse(&sh.advertised, "203.0.113.9", 0);
    fl_addr announced = fl_ice_host_announced(&sh);
    assert_true(fl_addr_equal(&announced, &srv.public));
    fl_ice_host ch = { .component = 1, .socket_id = 0, .addr = cli.bound };
    assert_int_equal(fl_ice_agent_add_host(srv.a, &sh), 0);
    assert_int_equal(fl_ice_agent_add_host(cli.a, &ch), 0);
    fl_ice_agent_set_remote_credentials(srv.a, fl_ice_agent_local_ufrag(cli.a),
                                        fl_ice_agent_local_pwd(cli.a));
    fl_ice_agent_set_remote_credentials(cli.a, fl_ice_agent_local_ufrag(srv.a),
                                        fl_ice_agent_local_pwd(srv.a));
    fl_time now = 1000000;
    fl_ice_agent_gather(srv.a, now);
    fl_ice_agent_gather(cli.a, now);
    for (int i = 0;
         i < 2000 && (srv.state != FL_ICE_STATE_READY || cli.state != FL_ICE_STATE_READY); i++) {
        pump_events(&srv, &cli, now);
        pump_events(&cli, &srv, now);
        pump_transmits(&srv, &cli, now);
        pump_transmits(&cli, &srv, now);
        now += 5000;
        fl_ice_agent_handle_timeout(srv.a, now);
        fl_ice_agent_handle_timeout(cli.a, now);
    }
    assert_int_equal(srv.state, FL_ICE_STATE_READY);
    assert_int_equal(cli.state, FL_ICE_STATE_READY);
    /* The client selected the server's announced (external) host candidate. */
    assert_int_equal(cli.selected.remote.type, FL_ICE_CAND_HOST);
    assert_true(fl_addr_equal(&cli.selected.remote.addr, &srv.public));
    /* The server learned nothing peer-reflexive about itself: its announced
     * candidate already is the address the client sees. */
    fl_ice_stats st;
    fl_ice_agent_get_stats(srv.a, &st);
    assert_int_equal(st.prflx_local, 0);
    assert_true(fl_addr_equal(&srv.selected.candidate.addr, &srv.public));
    fl_ice_agent_destroy(srv.a);
    fl_ice_agent_destroy(cli.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_address_announced_and_reached),
    };
    return cmocka_run_group_tests_name("ice_agent_external", tests, NULL, NULL);
}
