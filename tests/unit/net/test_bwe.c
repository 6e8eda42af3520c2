/* net/bwe: the delay-based estimator on fixed packet series (start,
 * growth, over-use, abs-send-time wrap, bursts, reordering, clamps, loss
 * bound, stream timeout), and a simulation on a virtual clock: a sender
 * paced at the estimate it was last told, a bottleneck FIFO whose capacity
 * steps 1 -> 2.5 -> 0.6 -> 1 Mbit/s (RFC 8867 5.1), the estimator at the
 * far end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/bwe.h"

#include <cmocka.h>

#define MBPS       1000000.0
#define PKT_SIZE   1200
#define PKT_BITS   (PKT_SIZE * 8.0)
#define CLOCK_BASE ((fl_time)1000 * FL_TIME_SEC) /* the receiver's clock at t = 0 */

/* abs-send-time of a sender clock reading: 6.18 fixed point, 24 bits */
static uint32_t ast_of(fl_time sender_us)
{
    return (uint32_t)((((uint64_t)sender_us) << 18) / 1000000u) & 0xffffffu;
}

/* A packet series: `n` packets of PKT_SIZE sent every `send_gap` from the
 * sender clock `*send`, arriving every `arrival_gap` from `*arrival`. */
static void feed(fl_bwe *b,
                 fl_time *send,
                 fl_time *arrival,
                 fl_time send_gap,
                 fl_time arrival_gap,
                 int n)
{
    for (int i = 0; i < n; i++) {
        fl_bwe_on_packet(b, *arrival, ast_of(*send), PKT_SIZE);
        *send += send_gap;
        *arrival += arrival_gap;
    }
}

/* the gap between 1200-byte packets at `bps` */
static fl_time gap_at(double bps)
{
    return (fl_time)(PKT_BITS / bps * (double)FL_TIME_SEC);
}

static void test_no_packets(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    assert_int_equal(fl_bwe_estimate(b), 300000);
    assert_true(fl_bwe_poll_timeout(b) == FL_TIME_NEVER);
    for (fl_time t = 0; t < 10 * FL_TIME_SEC; t += 100 * FL_TIME_MS)
        fl_bwe_handle_timeout(b, CLOCK_BASE + t);
    fl_bwe_on_loss(b, CLOCK_BASE + 10 * FL_TIME_SEC, 0);
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.estimate_bps, 300000);
    assert_int_equal(st.packets, 0);
    assert_int_equal(st.incoming_bps, 0);
    assert_int_equal(st.usage, FL_BWE_NORMAL);
    fl_bwe_destroy(b);

    fl_bwe_config cfg = { .start_bps = 1000000 };
    assert_int_equal(fl_bwe_create(&b, &cfg), 0);
    assert_int_equal(fl_bwe_estimate(b), 1000000);
    fl_bwe_destroy(b);
}

/* 1 Mbit/s arriving with a constant delay: no over-use, the estimate
 * leaves 300 kbit/s and stops at 1.5 x the incoming rate + 10 kbit/s. */
static void test_steady_grows(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 2 * 104);
    uint64_t at2s = fl_bwe_estimate(b);
    assert_true(at2s > 400000);
    feed(b, &send, &arrival, gap, gap, 8 * 104);
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.usage, FL_BWE_NORMAL);
    assert_int_equal(st.overuses, 0);
    assert_true(st.estimate_bps > at2s);
    assert_true(st.estimate_bps > 1400000);
    assert_true(st.estimate_bps <= 1.5 * (double)st.incoming_bps + 10000 + 1);
    assert_true(st.incoming_bps > 950000 && st.incoming_bps < 1050000);
    assert_int_equal(st.packets, 10 * 104);
    fl_bwe_destroy(b);
}

/* Arrivals spaced 25% wider than the sends: the queue grows, the detector
 * says over-use and the estimate drops to 0.85 x what arrives. */
static void test_growing_delay_overuse(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 5 * 104);
    uint64_t before = fl_bwe_estimate(b);
    assert_true(before > 1000000);

    int saw_overuse = 0;
    for (int i = 0; i < 200; i++) {
        feed(b, &send, &arrival, gap, gap * 5 / 4, 1);
        fl_bwe_stats st;
        fl_bwe_get_stats(b, &st);
        saw_overuse |= st.usage == FL_BWE_OVERUSE;
    }
    assert_true(saw_overuse);
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_true(st.overuses >= 1);
    assert_true(st.trend > 0);
    /* 0.8 Mbit/s arrives: 0.85 x that, whatever was in the window before */
    assert_true(st.estimate_bps < 0.85 * 900000);
    assert_true(st.estimate_bps < before);
    fl_bwe_destroy(b);
}

/* The same packets with the sender clock 6 s before the 64 s wrap and far
 * from it: the wrap changes nothing, and the over-use after it is seen. */
static void test_abs_send_time_wrap(void **state)
{
    (void)state;
    fl_bwe *a, *w;
    assert_int_equal(fl_bwe_create(&a, NULL), 0);
    assert_int_equal(fl_bwe_create(&w, NULL), 0);
    /* both multiples of 15625 us (4096 ticks): the same rounding */
    fl_time send_a = 10 * FL_TIME_SEC, send_w = 58 * FL_TIME_SEC;
    fl_time arr_a = CLOCK_BASE, arr_w = CLOCK_BASE, gap = gap_at(1 * MBPS);
    assert_true(ast_of(send_w) > ast_of(send_w + 10 * FL_TIME_SEC)); /* it does wrap */
    for (int i = 0; i < 12 * 104; i++) {
        fl_time arrival_gap = i < 10 * 104 ? gap : gap * 5 / 4;
        feed(a, &send_a, &arr_a, gap, arrival_gap, 1);
        feed(w, &send_w, &arr_w, gap, arrival_gap, 1);
        assert_int_equal(fl_bwe_estimate(a), fl_bwe_estimate(w));
    }
    fl_bwe_stats sa, sw;
    fl_bwe_get_stats(a, &sa);
    fl_bwe_get_stats(w, &sw);
    assert_true(sw.overuses >= 1);
    assert_int_equal(sa.overuses, sw.overuses);
    assert_true(sa.trend == sw.trend);
    assert_true(sa.threshold == sw.threshold);
    fl_bwe_destroy(a);
    fl_bwe_destroy(w);
}

/* A link that stalls for 150 ms and then delivers what it held at once (as
 * Wi-Fi does): the burst joins the group before it, no over-use. */
static void test_burst_after_stall(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    for (int stall = 0; stall < 5; stall++) {
        fl_time release = arrival + 150 * FL_TIME_MS;
        for (int i = 0; arrival + i * gap < release; i++) {
            fl_bwe_on_packet(b, release + i * 100 * FL_TIME_US, ast_of(send), PKT_SIZE);
            send += gap;
        }
        arrival = release + gap;
        feed(b, &send, &arrival, gap, gap, 104);
    }
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.overuses, 0);
    assert_int_equal(st.usage, FL_BWE_NORMAL);
    fl_bwe_destroy(b);
}

/* Reordered and duplicated packets (sent before the current group) are
 * counted in the rate but give no delay sample. */
static void test_reordered(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    for (int i = 0; i < 5 * 104; i++) {
        fl_time s = send + ((i % 10 == 3) ? gap : (i % 10 == 4) ? -gap : 0);
        fl_bwe_on_packet(b, arrival, ast_of(s), PKT_SIZE);
        if (i % 50 == 0)
            fl_bwe_on_packet(b, arrival, ast_of(s - 30 * gap), PKT_SIZE);
        send += gap;
        arrival += gap;
    }
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.overuses, 0);
    assert_int_equal(st.packets, 5 * 104 + 11);
    assert_true(st.estimate_bps > 1000000);
    fl_bwe_destroy(b);
}

static void test_clamps(void **state)
{
    (void)state;
    fl_bwe *b;
    fl_bwe_config bad = { .min_bps = 500000, .max_bps = 400000 };
    assert_int_equal(fl_bwe_create(&b, &bad), FL_EINVAL);
    assert_int_equal(fl_bwe_create(NULL, NULL), FL_EINVAL);

    fl_bwe_config low = { .start_bps = 10000, .min_bps = 50000 };
    assert_int_equal(fl_bwe_create(&b, &low), 0);
    assert_int_equal(fl_bwe_estimate(b), 50000);
    fl_bwe_destroy(b);

    fl_bwe_config cfg = { .start_bps = 1000000, .min_bps = 100000, .max_bps = 400000 };
    assert_int_equal(fl_bwe_create(&b, &cfg), 0);
    assert_int_equal(fl_bwe_estimate(b), 400000);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(2 * MBPS);
    feed(b, &send, &arrival, gap, gap, 10 * 208);
    assert_int_equal(fl_bwe_estimate(b), 400000);

    /* 100 kbit/s sent, 50 arriving: over-use lowers towards 42, held at 100 */
    gap = gap_at(0.1 * MBPS);
    feed(b, &send, &arrival, gap, gap * 2, 100);
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_true(st.overuses >= 1);
    assert_int_equal(st.estimate_bps, 100000);
    fl_bwe_on_loss(b, arrival, 255);
    assert_int_equal(fl_bwe_estimate(b), 100000);
    fl_bwe_destroy(b);
}

/* Over 10% lost: the estimate drops by half the loss ratio and may not
 * grow while 2-10% is lost; under 2% it grows again. */
static void test_loss_bound(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    double e = (double)fl_bwe_estimate(b);
    fl_bwe_on_loss(b, arrival, 64); /* 25% */
    uint64_t bound = fl_bwe_estimate(b);
    assert_true(bound <= e * 0.875 + 1 && bound >= e * 0.875 - 1);
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.fraction_lost, 64);

    fl_bwe_on_loss(b, arrival, 13); /* 5%: held */
    feed(b, &send, &arrival, gap, gap, 2 * 104);
    assert_int_equal(fl_bwe_estimate(b), bound);

    fl_bwe_on_loss(b, arrival, 2); /* 0.8%: lifted */
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    assert_true(fl_bwe_estimate(b) > (double)bound * 1.1);
    fl_bwe_destroy(b);
}

/* RembParams' upLosses and decrementFactor: the threshold and the cut. */
static void test_loss_config(void **state)
{
    (void)state;
    fl_bwe *b;
    fl_bwe_config cfg = { .loss_high = 12, .decrease = 0.5 };
    assert_int_equal(fl_bwe_create(&b, &cfg), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    double e = (double)fl_bwe_estimate(b);
    fl_bwe_on_loss(b, arrival, 10); /* under 12/256: held */
    assert_true((double)fl_bwe_estimate(b) == e);
    fl_bwe_on_loss(b, arrival, 13); /* 5%, over 12/256: halved */
    uint64_t bound = fl_bwe_estimate(b);
    assert_true(bound <= e * 0.5 + 1 && bound >= e * 0.5 - 1);
    fl_bwe_destroy(b);
}

static void test_stream_timeout(void **state)
{
    (void)state;
    fl_bwe *b;
    assert_int_equal(fl_bwe_create(&b, NULL), 0);
    fl_time send = 5 * FL_TIME_SEC, arrival = CLOCK_BASE, gap = gap_at(1 * MBPS);
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    fl_time last = arrival - gap;
    assert_true(fl_bwe_poll_timeout(b) == last + 2 * FL_TIME_SEC);
    uint64_t e = fl_bwe_estimate(b);
    fl_bwe_handle_timeout(b, last + FL_TIME_SEC); /* early: nothing */
    fl_bwe_stats st;
    fl_bwe_get_stats(b, &st);
    assert_true(st.incoming_bps > 0);
    fl_bwe_handle_timeout(b, fl_bwe_poll_timeout(b));
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.incoming_bps, 0);
    assert_int_equal(st.estimate_bps, e);
    assert_true(fl_bwe_poll_timeout(b) == FL_TIME_NEVER);

    /* after 70 s of silence (past a wrap) the stream starts over cleanly */
    send += 70 * FL_TIME_SEC;
    arrival += 70 * FL_TIME_SEC;
    feed(b, &send, &arrival, gap, gap, 3 * 104);
    fl_bwe_get_stats(b, &st);
    assert_int_equal(st.overuses, 0);
    assert_true(st.estimate_bps >= e);
    fl_bwe_destroy(b);
}

/* ---- the simulation ---- */

#define SIM_RING        1024
#define SIM_PROPAGATION (50 * FL_TIME_MS)
#define SIM_FEEDBACK    (25 * FL_TIME_MS)
#define SIM_MAX_BACKLOG (300 * FL_TIME_MS)
#define SIM_SAMPLE      (10 * FL_TIME_MS)
#define SIM_STEADY      (15 * FL_TIME_SEC) /* a phase's last 15 s */
#define SIM_SEND_CLOCK  (61 * FL_TIME_SEC) /* abs-send-time wraps at t = 3 s and 67 s */

typedef struct sim_phase {
    double capacity; /* bit/s */
    fl_time length;
} sim_phase;

typedef struct sim_path {
    const char *name;
    fl_time rtt;    /* given to the estimator; 0: not given */
    fl_time jitter; /* 0 to this much more propagation delay, uniform */
} sim_path;

typedef struct sim_result {
    double capacity;
    double mean_estimate; /* over the last 15 s */
    double throughput;    /* delivered, over the last 15 s */
    double max_queue_ms, max_steady_queue_ms;
    double share_under_200ms; /* of the packets that left the queue in the last 15 s */
    double converge_s;        /* to 80% of a higher capacity, 110% of a lower; -1 never */
    uint64_t drops;
} sim_result;

typedef struct sim_packet {
    fl_time at; /* into the queue, then the arrival */
    uint32_t ast;
} sim_packet;

typedef struct sim_ring {
    sim_packet p[SIM_RING];
    size_t head, len;
} sim_ring;

typedef struct sim_feedback {
    fl_time at;
    double bps;
} sim_feedback;

typedef struct sim {
    fl_bwe *bwe;
    const sim_phase *phases;
    size_t n_phases;
    sim_result *res;
    fl_time now, end;
    /* sender */
    double rate;
    fl_time next_send;
    sim_feedback fb[SIM_RING];
    size_t fb_head, fb_len;
    uint64_t told;
    /* bottleneck and path */
    sim_ring queue, flight;
    fl_time link_done;       /* when the packet at the head has left */
    uint64_t tried, dropped; /* this loss interval */
    fl_time jitter, last_arrival;
    uint64_t seed;
    fl_time next_report, next_sample;
    /* per phase */
    double before; /* the capacity before the phase (the start estimate) */
    double est_sum, est_n, delivered_bits, under_200, left_n;
    int converged;
} sim;

static void ring_push(sim_ring *r, sim_packet p)
{
    assert_true(r->len < SIM_RING);
    r->p[(r->head + r->len++) % SIM_RING] = p;
}

static sim_packet ring_pop(sim_ring *r)
{
    sim_packet p = r->p[r->head];
    r->head = (r->head + 1) % SIM_RING;
    r->len--;
    return p;
}

static size_t phase_of(const sim *s, fl_time t, fl_time *start)
{
    fl_time begin = 0;
    size_t i = 0;
    while (i + 1 < s->n_phases && t >= begin + s->phases[i].length)
        begin += s->phases[i++].length;
    if (start)
        *start = begin;
    return i;
}

static double capacity_at(const sim *s, fl_time t)
{
    return s->phases[phase_of(s, t, NULL)].capacity;
}

static int in_steady(const sim *s, fl_time t)
{
    fl_time start;
    size_t i = phase_of(s, t, &start);
    return t >= start + s->phases[i].length - SIM_STEADY;
}

/* what the receiver would say in REMB reaches the sender SIM_FEEDBACK later */
static void sim_tell(sim *s)
{
    uint64_t e = fl_bwe_estimate(s->bwe);
    if (e == s->told)
        return;
    s->told = e;
    assert_true(s->fb_len < SIM_RING);
    s->fb[(s->fb_head + s->fb_len++) % SIM_RING] =
            (sim_feedback){ s->now + SIM_FEEDBACK, (double)e };
}

static void sim_send(sim *s)
{
    while (s->fb_len > 0 && s->fb[s->fb_head].at <= s->now) {
        s->rate = s->fb[s->fb_head].bps;
        s->fb_head = (s->fb_head + 1) % SIM_RING;
        s->fb_len--;
    }
    double cap = capacity_at(s, s->now);
    fl_time backlog = s->queue.len ? s->link_done - s->now +
                                             (fl_time)((double)(s->queue.len - 1) * PKT_BITS / cap *
                                                       (double)FL_TIME_SEC)
                                   : 0;
    s->tried++;
    if (backlog > SIM_MAX_BACKLOG) {
        s->dropped++;
        s->res[phase_of(s, s->now, NULL)].drops++;
    } else {
        sim_packet p = { s->now, ast_of(SIM_SEND_CLOCK + s->now) };
        if (s->queue.len == 0)
            s->link_done = s->now + gap_at(cap);
        ring_push(&s->queue, p);
    }
    s->next_send = s->now + gap_at(s->rate);
}

static void sim_leave(sim *s)
{
    sim_packet p = ring_pop(&s->queue);
    sim_result *r = &s->res[phase_of(s, s->now, NULL)];
    double ms = (double)(s->now - p.at) / (double)FL_TIME_MS;
    if (ms > r->max_queue_ms)
        r->max_queue_ms = ms;
    if (in_steady(s, s->now)) {
        if (ms > r->max_steady_queue_ms)
            r->max_steady_queue_ms = ms;
        s->left_n++;
        s->under_200 += ms < 200;
    }
    /* jitter after the bottleneck, keeping the order (one path) */
    p.at = s->now + SIM_PROPAGATION;
    if (s->jitter > 0) {
        s->seed = s->seed * 6364136223846793005u + 1442695040888963407u;
        p.at += (fl_time)((s->seed >> 33) % (uint64_t)(s->jitter + 1));
    }
    if (p.at < s->last_arrival)
        p.at = s->last_arrival;
    s->last_arrival = p.at;
    ring_push(&s->flight, p);
    if (s->queue.len > 0)
        s->link_done = s->now + gap_at(capacity_at(s, s->now));
}

static void sim_arrive(sim *s)
{
    sim_packet p = ring_pop(&s->flight);
    fl_bwe_on_packet(s->bwe, CLOCK_BASE + s->now, p.ast, PKT_SIZE);
    if (fl_bwe_poll_timeout(s->bwe) <= CLOCK_BASE + s->now)
        fl_bwe_handle_timeout(s->bwe, CLOCK_BASE + s->now);
    if (in_steady(s, s->now))
        s->delivered_bits += PKT_BITS;
    sim_tell(s);
}

static void sim_report(sim *s)
{
    unsigned lost = s->tried ? (unsigned)(s->dropped * 256 / s->tried) : 0;
    fl_bwe_on_loss(s->bwe, CLOCK_BASE + s->now, (uint8_t)(lost > 255 ? 255 : lost));
    s->tried = s->dropped = 0;
    s->next_report += FL_TIME_SEC;
    sim_tell(s);
}

/* the estimate every 10 ms; a phase's figures when it ends */
static void sim_sample(sim *s)
{
    fl_time start;
    size_t i = phase_of(s, s->now, &start);
    const sim_phase *ph = &s->phases[i];
    sim_result *r = &s->res[i];
    double e = (double)fl_bwe_estimate(s->bwe);
    if (s->now == start) {
        s->est_sum = s->est_n = s->delivered_bits = s->under_200 = s->left_n = 0;
        s->converged = 0;
        s->before = i > 0 ? s->phases[i - 1].capacity : e;
        r->capacity = ph->capacity;
        r->converge_s = -1;
    }
    if (!s->converged &&
        (ph->capacity > s->before ? e >= 0.8 * ph->capacity : e <= 1.1 * ph->capacity)) {
        s->converged = 1;
        r->converge_s = (double)(s->now - start) / (double)FL_TIME_SEC;
    }
    if (in_steady(s, s->now)) {
        s->est_sum += e;
        s->est_n++;
    }
    if (s->now + SIM_SAMPLE >= start + ph->length) {
        r->mean_estimate = s->est_sum / s->est_n;
        r->throughput = s->delivered_bits / ((double)SIM_STEADY / (double)FL_TIME_SEC);
        r->share_under_200ms = s->left_n > 0 ? s->under_200 / s->left_n : 1;
    }
    s->next_sample += SIM_SAMPLE;
}

static fl_time min_time(fl_time a, fl_time b)
{
    return a < b ? a : b;
}

/* One event at a time in time order; at equal times arrivals first, then
 * the link, the sender, the loss report and the sampling. */
static void sim_run(const sim_phase *phases, size_t n, const sim_path *path, sim_result *res)
{
    sim *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    assert_int_equal(fl_bwe_create(&s->bwe, NULL), 0);
    if (path->rtt > 0)
        fl_bwe_set_rtt(s->bwe, path->rtt);
    s->jitter = path->jitter;
    s->seed = 1;
    s->phases = phases;
    s->n_phases = n;
    s->res = res;
    for (size_t i = 0; i < n; i++)
        s->end += phases[i].length;
    s->told = fl_bwe_estimate(s->bwe);
    s->rate = (double)s->told;
    s->next_report = FL_TIME_SEC;
    while (s->now < s->end) {
        fl_time arrive = s->flight.len ? s->flight.p[s->flight.head].at : FL_TIME_NEVER;
        fl_time leave = s->queue.len ? s->link_done : FL_TIME_NEVER;
        s->now = min_time(min_time(arrive, leave), min_time(s->next_send, s->next_report));
        s->now = min_time(s->now, s->next_sample);
        if (s->now >= s->end)
            break;
        if (arrive == s->now)
            sim_arrive(s);
        else if (leave == s->now)
            sim_leave(s);
        else if (s->next_send == s->now)
            sim_send(s);
        else if (s->next_report == s->now)
            sim_report(s);
        else
            sim_sample(s);
    }
    fl_bwe_destroy(s->bwe);
    free(s);
}

/* "reached": within 80% of a higher capacity, under 110% of a lower one */
static void print_results(const char *name, const sim_result *res, size_t n)
{
    printf("%s\n", name);
    for (size_t i = 0; i < n; i++) {
        const sim_result *r = &res[i];
        printf("  phase %zu, %.2f Mbit/s: last 15 s estimate %.3f (x%.2f), throughput %.3f, "
               "queue max %.0f ms (last 15 s: %.0f, %.1f%% < 200 ms); reached in %.2f s; %llu drops\n",
               i + 1, r->capacity / MBPS, r->mean_estimate / MBPS, r->mean_estimate / r->capacity,
               r->throughput / MBPS, r->max_queue_ms, r->max_steady_queue_ms,
               100 * r->share_under_200ms, r->converge_s, (unsigned long long)r->drops);
    }
}

/* RFC 8867 5.1, variable available capacity with a single flow */
static void test_sim_variable_capacity(void **state)
{
    (void)state;
    static const sim_phase phases[] = {
        { 1.0 * MBPS, 25 * FL_TIME_SEC },
        { 2.5 * MBPS, 25 * FL_TIME_SEC },
        { 0.6 * MBPS, 25 * FL_TIME_SEC },
        { 1.0 * MBPS, 25 * FL_TIME_SEC },
    };
    static const sim_path paths[] = {
        { "bwe sim, RFC 8867 5.1", 0, 0 },
        { "bwe sim, RFC 8867 5.1, RTT 75 ms given", 75 * FL_TIME_MS, 0 },
        { "bwe sim, RFC 8867 5.1, 0-10 ms jitter", 0, 10 * FL_TIME_MS },
    };
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
        sim_result res[4];
        memset(res, 0, sizeof(res));
        sim_run(phases, 4, &paths[p], res);
        print_results(paths[p].name, res, 4);
        for (size_t i = 0; i < 4; i++) {
            assert_true(res[i].mean_estimate >= 0.5 * res[i].capacity);
            assert_true(res[i].mean_estimate <= 1.15 * res[i].capacity);
            assert_true(res[i].share_under_200ms >= 0.9);
            assert_true(res[i].converge_s >= 0);
        }
        assert_true(res[1].converge_s <= 15.0); /* 2.0 Mbit/s within 15 s */
        assert_true(res[2].converge_s <= 3.0);  /* under 0.66 Mbit/s within 3 s */
    }
}

/* a clean 2.5 Mbit/s link from 300 kbit/s */
static void test_sim_ramp_up(void **state)
{
    (void)state;
    static const sim_phase phases[] = { { 2.5 * MBPS, 20 * FL_TIME_SEC } };
    sim_result res[1];
    memset(res, 0, sizeof(res));
    static const sim_path path = { "bwe sim, clean 2.5 Mbit/s link", 0, 0 };
    sim_run(phases, 1, &path, res);
    print_results(path.name, res, 1);
    assert_true(res[0].converge_s >= 0 && res[0].converge_s <= 10.0);
    assert_true(res[0].mean_estimate >= 0.8 * res[0].capacity);
    assert_true(res[0].mean_estimate <= 1.15 * res[0].capacity);
    assert_int_equal(res[0].drops, 0);
}

/* A viewer fed under its estimate lets its source above it, 8% a second
 * up to twice it; fed near it, or its estimate falling, holds the source to
 * the estimate again. */
static void test_remb_bound(void **state)
{
    (void)state;
    const fl_time S = FL_TIME_SEC, t0 = CLOCK_BASE;
    fl_remb_bound rb = { 0 };
    uint32_t bytes = 0xfffff000u; /* the count wraps on the way */
    assert_int_equal(fl_remb_bound_update(&rb, t0, 100000, bytes), 100000);
    /* fed 30 kbit/s (3750 bytes a second) under a steady 100 kbit/s */
    uint64_t b = 0;
    for (int i = 1; i <= 5; i++) {
        bytes += 3750;
        b = fl_remb_bound_update(&rb, t0 + i * S, 100000, bytes);
    }
    assert_int_equal(rb.fed, 30000);
    assert_true(b > 100000 * 1.3 && b < 100000 * 1.5); /* 1.08^5 */
    for (int i = 6; i <= 20; i++) {
        bytes += 3750;
        b = fl_remb_bound_update(&rb, t0 + i * S, 100000, bytes);
    }
    assert_int_equal(b, 200000); /* twice the estimate at most */
    /* the estimate falls 10%: the link is full, back to it */
    bytes += 3750;
    assert_int_equal(fl_remb_bound_update(&rb, t0 + 21 * S, 90000, bytes), 90000);
    bytes += 3750;
    assert_true(fl_remb_bound_update(&rb, t0 + 22 * S, 90000, bytes) > 90000);
    /* fed near the estimate (80 kbit/s of 90): it is the link's */
    bytes += 10000;
    assert_int_equal(fl_remb_bound_update(&rb, t0 + 23 * S, 90000, bytes), 90000);
    /* after a long silence, started afresh */
    assert_int_equal(fl_remb_bound_update(&rb, t0 + 40 * S, 50000, bytes), 50000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_packets),
        cmocka_unit_test(test_steady_grows),
        cmocka_unit_test(test_growing_delay_overuse),
        cmocka_unit_test(test_abs_send_time_wrap),
        cmocka_unit_test(test_burst_after_stall),
        cmocka_unit_test(test_reordered),
        cmocka_unit_test(test_clamps),
        cmocka_unit_test(test_loss_bound),
        cmocka_unit_test(test_loss_config),
        cmocka_unit_test(test_stream_timeout),
        cmocka_unit_test(test_sim_variable_capacity),
        cmocka_unit_test(test_sim_ramp_up),
        cmocka_unit_test(test_remb_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
