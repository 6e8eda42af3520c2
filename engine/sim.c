/* The simulation: virtual clock, seeded generator, deadlines and a network
 * of copied datagrams. See sim.h. */
#include "engine/sim.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("sim");

/* rounds of one settle before it is called a livelock */
#define SETTLE_ROUNDS 100000

typedef struct datagram {
    fl_list node;
    fl_time at;
    fl_addr from, to;
    size_t len;
    uint8_t data[];
} datagram;

struct fl__sim {
    fl_time now;
    fl_rand rand;
    uv_loop_t *loop; /* the engine's worker loop, once attached */
    fl_list timers;  /* fl__sim_timer.node */
    fl_list sockets; /* fl__sim_socket.node */
    fl_list flight;  /* datagram.node, by arrival time */
    fl_time delay;
    unsigned loss_permille;
    uint64_t activity; /* bumped by everything that happens */
    fl__sim_stats stats;
};

/* the simulation of this thread (its loop is the only simulated one) */
static _Thread_local fl__sim *thread_sim;

int fl__sim_create(fl__sim **out, fl_time start, uint64_t seed)
{
    fl__sim *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->now = start > 0 ? start : FL_TIME_SEC;
    fl_rand_seeded_init(&s->rand, seed);
    fl_list_init(&s->timers);
    fl_list_init(&s->sockets);
    fl_list_init(&s->flight);
    *out = s;
    return 0;
}

void fl__sim_destroy(fl__sim *s)
{
    if (!s)
        return;
    fl_list *n;
    while ((n = fl_list_pop_front(&s->flight)))
        free(fl_container_of(n, datagram, node));
    if (!fl_list_empty(&s->timers) || !fl_list_empty(&s->sockets))
        fl_log(FL_LOG_ERROR, "simulation freed with %zu timers and %zu sockets registered",
               fl_list_count(&s->timers), fl_list_count(&s->sockets));
    if (thread_sim == s)
        thread_sim = NULL;
    free(s);
}

void fl__sim_attach(fl__sim *s, uv_loop_t *loop)
{
    s->loop = loop;
    thread_sim = s;
}

fl__sim *fl__loop_sim(const uv_loop_t *loop)
{
    fl__sim *s = thread_sim;
    return s && s->loop == loop ? s : NULL;
}

fl_time fl__sim_now(const fl__sim *s)
{
    return s->now;
}

fl_rand *fl__sim_rand(fl__sim *s)
{
    return &s->rand;
}

fl_time fl__clock_now(const uv_loop_t *loop)
{
    const fl__sim *s = fl__loop_sim(loop);
    return s ? s->now : fl_time_now();
}

fl_rand *fl__clock_rand(const uv_loop_t *loop)
{
    fl__sim *s = fl__loop_sim(loop);
    return s ? &s->rand : fl_rand_system();
}

void fl__sim_set_network(fl__sim *s, fl_time delay, unsigned loss_permille)
{
    s->delay = delay > 0 ? delay : 0;
    s->loss_permille = loss_permille > 1000 ? 1000 : loss_permille;
}

void fl__sim_busy(fl__sim *s)
{
    s->activity++;
}

void fl__sim_get_stats(const fl__sim *s, fl__sim_stats *out)
{
    *out = s->stats;
}

/* ---- timers ---- */

void fl__sim_timer_add(fl__sim *s, fl__sim_timer *t)
{
    t->at = FL_TIME_NEVER;
    fl_list_push_back(&s->timers, &t->node);
}

void fl__sim_timer_remove(fl__sim_timer *t)
{
    fl_list_remove(&t->node);
}

/* The first armed timer due by `by`, in registration order; NULL: none. */
static fl__sim_timer *timer_due(fl__sim *s, fl_time by)
{
    fl_list_foreach (it, &s->timers) {
        fl__sim_timer *t = fl_container_of(it, fl__sim_timer, node);
        if (t->at <= by)
            return t;
    }
    return NULL;
}

static fl_time timer_next(const fl__sim *s)
{
    fl_time next = FL_TIME_NEVER;
    fl_list_foreach (it, &s->timers) {
        const fl__sim_timer *t = fl_container_of(it, fl__sim_timer, node);
        if (t->at < next)
            next = t->at;
    }
    return next;
}

/* ---- network ---- */

void fl__sim_socket_add(fl__sim *s, fl__sim_socket *so)
{
    fl_list_push_back(&s->sockets, &so->node);
}

void fl__sim_socket_remove(fl__sim_socket *so)
{
    fl_list_remove(&so->node);
}

void fl__sim_send(fl__sim *s,
                  const fl_addr *from,
                  const fl_addr *to,
                  const uint8_t *data,
                  size_t len)
{
    s->activity++;
    s->stats.sent++;
    if (s->loss_permille && fl_rand_u32(&s->rand) % 1000 < s->loss_permille) {
        s->stats.dropped++;
        return;
    }
    datagram *d = malloc(sizeof(*d) + len);
    if (!d) {
        s->stats.dropped++;
        return;
    }
    d->at = s->now + s->delay;
    d->from = *from;
    d->to = *to;
    d->len = len;
    memcpy(d->data, data, len);
    /* by arrival time, after those arriving at the same time */
    fl_list *at = &s->flight;
    while (at->prev != &s->flight && fl_container_of(at->prev, datagram, node)->at > d->at)
        at = at->prev;
    fl_list_insert_before(at, &d->node);
}

static fl__sim_socket *socket_find(fl__sim *s, const fl_addr *a)
{
    fl_list_foreach (it, &s->sockets) {
        fl__sim_socket *so = fl_container_of(it, fl__sim_socket, node);
        if (fl_addr_equal(&so->local, a))
            return so;
    }
    return NULL;
}

/* Delivers the first datagram if it is due; 0 when none is. */
static int deliver_one(fl__sim *s)
{
    if (fl_list_empty(&s->flight))
        return 0;
    datagram *d = fl_container_of(s->flight.next, datagram, node);
    if (d->at > s->now)
        return 0;
    fl_list_remove(&d->node);
    s->activity++;
    fl__sim_socket *so = socket_find(s, &d->to);
    if (so) {
        s->stats.delivered++;
        so->deliver(so, &d->from, d->data, d->len);
    } else {
        s->stats.unreachable++;
    }
    free(d);
    return 1;
}

/* ---- driving ---- */

int fl__sim_settle(fl__sim *s)
{
    for (int round = 0; round < SETTLE_ROUNDS; round++) {
        uint64_t before = s->activity;
        if (s->loop)
            uv_run(s->loop, UV_RUN_NOWAIT);
        while (deliver_one(s))
            ;
        fl__sim_timer *t;
        while ((t = timer_due(s, s->now))) {
            t->at = FL_TIME_NEVER;
            s->activity++;
            s->stats.timers++;
            t->fire(t);
        }
        if (s->activity == before)
            return 0;
    }
    fl_log(FL_LOG_ERROR, "the simulation did not settle at %lld us", (long long)s->now);
    return FL_EAGAIN;
}

int fl__sim_advance(fl__sim *s, fl_time dt)
{
    fl_time end = s->now + (dt > 0 ? dt : 0);
    int rc = fl__sim_settle(s);
    while (rc == 0) {
        fl_time next = timer_next(s);
        if (!fl_list_empty(&s->flight)) {
            fl_time d = fl_container_of(s->flight.next, datagram, node)->at;
            if (d < next)
                next = d;
        }
        if (next > end)
            break;
        if (next > s->now)
            s->now = next;
        rc = fl__sim_settle(s);
    }
    if (rc == 0) {
        s->now = end;
        rc = fl__sim_settle(s);
    }
    return rc;
}
