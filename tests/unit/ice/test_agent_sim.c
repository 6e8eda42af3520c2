/* Two ICE agents connected through an in-memory network with a virtual
 * clock and seeded loss, delay and reordering. Candidates are trickled
 * through SDP strings as the signalling would carry them. */
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

#define MAX_PKTS  4096
#define MAX_HOSTS 2

typedef struct pkt {
    fl_time at;
    int to;
    int socket_id;
    fl_addr from;
    size_t len;
    uint8_t data[FL_ICE_MSG_MAX];
} pkt;

typedef struct peer {
    fl_ice_agent *a;
    fl_rand rand;
    fl_addr hosts[MAX_HOSTS];
    int n_hosts;
    int done;
    fl_ice_state state;
} peer;

typedef struct net {
    fl_rand rand;
    peer p[2];
    pkt *pkts;
    int n_pkts;
    int loss_pct;
    fl_time now;
    uint64_t sent, lost;
} net;

static void net_send(net *n, int from, const fl_ice_transmit *tx)
{
    n->sent++;
    if ((int)(fl_rand_u32(&n->rand) % 100) < n->loss_pct) {
        n->lost++;
        return;
    }
    int to = 1 - from;
    const peer *d = &n->p[to];
    for (int s = 0; s < d->n_hosts; s++) {
        if (!fl_addr_equal(&d->hosts[s], &tx->dst) || n->n_pkts == MAX_PKTS)
            continue;
        pkt *k = &n->pkts[n->n_pkts++];
        k->at = n->now + (fl_time)(5 + fl_rand_u32(&n->rand) % 60) * FL_TIME_MS;
        k->to = to;
        k->socket_id = s;
        k->from = n->p[from].hosts[tx->socket_id];
        k->len = tx->len;
        memcpy(k->data, tx->data, tx->len);
        return;
    }
}

static void drain(net *n, int i)
{
    peer *me = &n->p[i], *other = &n->p[1 - i];
    fl_ice_transmit tx;
    fl_ice_event ev;
    while (fl_ice_agent_poll_transmit(me->a, &tx) == 0) {
        assert_true(tx.socket_id >= 0 && tx.socket_id < me->n_hosts);
        net_send(n, i, &tx);
    }
    while (fl_ice_agent_poll_event(me->a, &ev) == 0) {
        char line[FL_ICE_CAND_STRLEN];
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
            assert_true(fl_ice_candidate_write(&ev.candidate, line, sizeof(line)) > 0);
            assert_int_equal(fl_ice_agent_add_remote_candidate(other->a, n->now, line), 0);
        } else if (ev.type == FL_ICE_EVENT_GATHERING_DONE) {
            fl_ice_agent_add_remote_candidate(other->a, n->now, "");
        } else if (ev.type == FL_ICE_EVENT_STATE) {
            me->state = ev.state;
        }
    }
}

static void deliver_due(net *n)
{
    for (int i = 0; i < n->n_pkts;) {
        pkt *k = &n->pkts[i];
        if (k->at > n->now) {
            i++;
            continue;
        }
        pkt c = *k;
        n->pkts[i] = n->pkts[--n->n_pkts];
        fl_ice_agent_handle_input(n->p[c.to].a, n->now, c.socket_id, &c.from, c.data, c.len);
    }
}

static fl_time next_time(const net *n)
{
    fl_time t = FL_TIME_NEVER;
    for (int i = 0; i < 2; i++) {
        fl_time d = fl_ice_agent_poll_timeout(n->p[i].a);
        if (d < t)
            t = d;
    }
    for (int i = 0; i < n->n_pkts; i++) {
        if (n->pkts[i].at < t)
            t = n->pkts[i].at;
    }
    return t;
}

static void peer_init(net *n,
                      int i,
                      uint64_t seed,
                      const fl_ice_agent_config *base,
                      const char *const *ips,
                      int n_ips)
{
    peer *p = &n->p[i];
    fl_ice_agent_config cfg = *base;
    fl_rand_seeded_init(&p->rand, seed);
    cfg.rand = &p->rand;
    assert_int_equal(fl_ice_agent_create(&p->a, &cfg), 0);
    for (int h = 0; h < n_ips; h++) {
        fl_ice_host host = { .component = 1, .socket_id = h };
        assert_int_equal(fl_addr_parse(&host.addr, ips[h], (uint16_t)(40000 + 10 * i + h)), 0);
        p->hosts[h] = host.addr;
        assert_int_equal(fl_ice_agent_add_host(p->a, &host), 0);
    }
    p->n_hosts = n_ips;
}

/* Runs until both are READY (returns the virtual time) or `limit`. */
static fl_time run(net *n, fl_time limit)
{
    for (int i = 0; i < 2; i++) {
        fl_ice_agent_set_remote_credentials(n->p[1 - i].a, fl_ice_agent_local_ufrag(n->p[i].a),
                                            fl_ice_agent_local_pwd(n->p[i].a));
        fl_ice_agent_gather(n->p[i].a, n->now);
    }
    while (n->now < limit) {
        for (int i = 0; i < 2; i++)
            drain(n, i);
        if (n->p[0].state == FL_ICE_STATE_READY && n->p[1].state == FL_ICE_STATE_READY)
            return n->now;
        fl_time t = next_time(n);
        if (t == FL_TIME_NEVER)
            break;
        if (t > n->now)
            n->now = t;
        deliver_due(n);
        for (int i = 0; i < 2; i++) {
            if (fl_ice_agent_poll_timeout(n->p[i].a) <= n->now)
                fl_ice_agent_handle_timeout(n->p[i].a, n->now);
        }
    }
    return FL_TIME_NEVER;
}

static void check_same_pair(net *n)
{
    fl_ice_candidate l0, r0, l1, r1;
    assert_int_equal(fl_ice_agent_selected_pair(n->p[0].a, 1, &l0, &r0, NULL), 0);
    assert_int_equal(fl_ice_agent_selected_pair(n->p[1].a, 1, &l1, &r1, NULL), 0);
    assert_true(fl_addr_equal(&l0.addr, &r1.addr));
    assert_true(fl_addr_equal(&r0.addr, &l1.addr));
}

static void net_free(net *n)
{
    fl_ice_agent_destroy(n->p[0].a);
    fl_ice_agent_destroy(n->p[1].a);
    free(n->pkts);
}

typedef struct scenario {
    fl_ice_agent_config c0, c1;
    const char *const *ips0;
    const char *const *ips1;
    int n0, n1;
    int loss;
    fl_time limit;
} scenario;

static fl_time run_seed(const scenario *s, uint64_t seed, int keep_going)
{
    net n;
    memset(&n, 0, sizeof(n));
    n.pkts = calloc(MAX_PKTS, sizeof(pkt));
    assert_non_null(n.pkts);
    n.loss_pct = s->loss;
    n.now = 1000 * FL_TIME_SEC;
    fl_rand_seeded_init(&n.rand, seed * 7919 + 1);
    peer_init(&n, 0, seed * 2 + 11, &s->c0, s->ips0, s->n0);
    peer_init(&n, 1, seed * 2 + 12, &s->c1, s->ips1, s->n1);
    fl_time start = n.now;
    fl_time t = run(&n, start + s->limit);
    if (t == FL_TIME_NEVER)
        fail_msg("seed %llu: not READY after %lld ms (states %d %d)", (unsigned long long)seed,
                 (long long)(s->limit / 1000), n.p[0].state, n.p[1].state);
    check_same_pair(&n);
    assert_int_equal(fl_ice_agent_role(n.p[0].a) != fl_ice_agent_role(n.p[1].a), 1);
    if (keep_going) { /* a minute more: consent keeps the pair alive despite loss */
        fl_time end = n.now + 60 * FL_TIME_SEC;
        while (n.now < end) {
            for (int i = 0; i < 2; i++)
                drain(&n, i);
            n.now = next_time(&n) > n.now ? next_time(&n) : n.now;
            deliver_due(&n);
            for (int i = 0; i < 2; i++)
                fl_ice_agent_handle_timeout(n.p[i].a, n.now);
        }
        for (int i = 0; i < 2; i++)
            drain(&n, i);
        assert_int_equal(fl_ice_agent_state(n.p[0].a, 1), FL_ICE_STATE_READY);
        assert_int_equal(fl_ice_agent_state(n.p[1].a, 1), FL_ICE_STATE_READY);
        check_same_pair(&n);
    }
    net_free(&n);
    return t - start;
}

static const char *const v4_1[] = { "10.0.0.1" };
static const char *const v4_2[] = { "10.0.0.2" };
static const char *const dual_1[] = { "10.0.0.1", "2001:db8::1" };
static const char *const dual_2[] = { "10.0.0.2", "2001:db8::2" };

static void run_many(const scenario *s, int seeds, fl_time max_avg)
{
    fl_time total = 0, worst = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        fl_time t = run_seed(s, (uint64_t)seed, seed <= 5);
        total += t;
        if (t > worst)
            worst = t;
    }
    print_message("%d seeds: average %lld ms, worst %lld ms (virtual)\n", seeds,
                  (long long)(total / seeds / 1000), (long long)(worst / 1000));
    assert_true(total / seeds <= max_avg);
}

static void test_full_full_lossy(void **state)
{
    (void)state;
    scenario s = { .c0 = { .role = FL_ICE_ROLE_CONTROLLING },
                   .c1 = { .role = FL_ICE_ROLE_CONTROLLED },
                   .ips0 = dual_1,
                   .ips1 = dual_2,
                   .n0 = 2,
                   .n1 = 2,
                   .loss = 20,
                   .limit = 20 * FL_TIME_SEC };
    run_many(&s, 200, 4 * FL_TIME_SEC);
}

static void test_full_lite_lossy(void **state)
{
    (void)state;
    scenario s = { .c0 = { .role = FL_ICE_ROLE_CONTROLLING },
                   .c1 = { .role = FL_ICE_ROLE_CONTROLLED, .lite = 1 },
                   .ips0 = v4_1,
                   .ips1 = v4_2,
                   .n0 = 1,
                   .n1 = 1,
                   .loss = 20,
                   .limit = 20 * FL_TIME_SEC };
    run_many(&s, 200, 4 * FL_TIME_SEC);
}

static void test_both_controlling(void **state)
{
    (void)state;
    scenario s = { .c0 = { .role = FL_ICE_ROLE_CONTROLLING },
                   .c1 = { .role = FL_ICE_ROLE_CONTROLLING },
                   .ips0 = v4_1,
                   .ips1 = v4_2,
                   .n0 = 1,
                   .n1 = 1,
                   .loss = 10,
                   .limit = 20 * FL_TIME_SEC };
    run_many(&s, 100, 4 * FL_TIME_SEC);
}

static void test_both_controlled(void **state)
{
    (void)state;
    scenario s = { .c0 = { .role = FL_ICE_ROLE_CONTROLLED },
                   .c1 = { .role = FL_ICE_ROLE_CONTROLLED },
                   .ips0 = dual_1,
                   .ips1 = dual_2,
                   .n0 = 2,
                   .n1 = 2,
                   .loss = 10,
                   .limit = 20 * FL_TIME_SEC };
    run_many(&s, 100, 4 * FL_TIME_SEC);
}

static void test_no_loss_fast(void **state)
{
    (void)state;
    scenario s = { .c0 = { .role = FL_ICE_ROLE_CONTROLLING },
                   .c1 = { .role = FL_ICE_ROLE_CONTROLLED },
                   .ips0 = v4_1,
                   .ips1 = v4_2,
                   .n0 = 1,
                   .n1 = 1,
                   .loss = 0,
                   .limit = 20 * FL_TIME_SEC };
    for (int seed = 1; seed <= 20; seed++)
        assert_true(run_seed(&s, (uint64_t)seed, 0) < 1500 * FL_TIME_MS);
}

int main(void)
{
    fl_log_configure("*:warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_loss_fast),    cmocka_unit_test(test_full_full_lossy),
        cmocka_unit_test(test_full_lite_lossy), cmocka_unit_test(test_both_controlling),
        cmocka_unit_test(test_both_controlled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
