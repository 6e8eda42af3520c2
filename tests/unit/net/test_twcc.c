/* net/twcc: the transport-wide feedback recorder. Every feedback written is
 * parsed back with fl_rtcp_twcc_parse and checked against what was fed:
 * received sequence numbers with their arrival times (to 250 µs), holes
 * as not received, the feedback count, wrap, reordering, late packets,
 * splitting (max_packets, long gaps), timing, and a seeded random run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rand.h"
#include "net/rtcp.h"
#include "net/twcc.h"

#include <cmocka.h>

#define SENDER 0x11112222u
#define MEDIA  0x33334444u
#define MAX_FB 64

/* The reference time is 24 bits of 64 ms: parsed arrivals repeat with it. */
#define REF_PERIOD (((int64_t)1 << 24) * FL_RTCP_TWCC_REF_US)

typedef struct fb_rec {
    fl_rtcp_twcc t;
    size_t n;
    fl_rtcp_twcc_packet pk[FL_RTCP_TWCC_BUILD_MAX];
} fb_rec;

typedef struct ctx {
    fl_twcc_rx *r;
    uint8_t count; /* the fb_count expected next */
    size_t nfb;    /* feedbacks from the last poll_all */
    fb_rec fbs[MAX_FB];
    int64_t arrival[65536]; /* by 16-bit sequence number, what was fed */
    uint8_t fed[65536];
    uint8_t reported[65536]; /* times reported as received */
} ctx;

static ctx c;

static void ctx_init(fl_time interval, size_t max_packets)
{
    memset(&c, 0, sizeof(c));
    fl_twcc_rx_config cfg = { .sender_ssrc = SENDER,
                              .interval = interval,
                              .max_packets = max_packets };
    assert_int_equal(fl_twcc_rx_create(&c.r, &cfg), 0);
}

static void ctx_done(void)
{
    fl_twcc_rx_destroy(c.r);
    c.r = NULL;
}

static void feed(fl_time t, uint16_t seq)
{
    fl_twcc_rx_on_packet(c.r, t, seq);
    c.arrival[seq] = t;
    c.fed[seq] = 1;
}

/* actual - parsed, modulo the reference time's period, is in [0, 250). */
static void assert_near(int64_t parsed, int64_t actual)
{
    int64_t d = (actual - parsed) % REF_PERIOD;
    if (d < 0)
        d += REF_PERIOD;
    assert_in_range(d, 0, FL_RTCP_TWCC_DELTA_US - 1);
}

static void parse_fb(const uint8_t *buf, size_t len, fb_rec *f)
{
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    assert_int_equal(len % 4, 0);
    assert_int_equal(fl_rtcp_pkt_parse(&p, buf, len), 0);
    assert_int_equal(p.len, len);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &f->t, f->pk, FL_RTCP_TWCC_BUILD_MAX, &f->n), 0);
    assert_int_equal(f->t.sender_ssrc, SENDER);
    assert_int_equal(f->t.media_ssrc, MEDIA);
    /* A span starts and ends at a received packet. */
    assert_int_not_equal(f->pk[0].symbol, FL_RTCP_TWCC_NOT_RECEIVED);
    assert_int_not_equal(f->pk[f->n - 1].symbol, FL_RTCP_TWCC_NOT_RECEIVED);
}

/* Polls at `now` until FL_EAGAIN; parses each feedback into c.fbs and
 * checks its count and, for 16-bit tests, its contents against c. */
static void poll_all(fl_time now, int check)
{
    uint8_t out[4096];
    size_t len;
    int err;
    c.nfb = 0;
    while ((err = fl_twcc_rx_poll_feedback(c.r, now, MEDIA, out, sizeof(out), &len)) == 0) {
        assert_true(c.nfb < MAX_FB);
        fb_rec *f = &c.fbs[c.nfb++];
        parse_fb(out, len, f);
        assert_int_equal(f->t.fb_count, c.count);
        c.count++;
        for (size_t i = 0; check && i < f->n; i++) {
            uint16_t s = f->pk[i].seq;
            if (f->pk[i].symbol == FL_RTCP_TWCC_NOT_RECEIVED)
                continue;
            assert_true(c.fed[s]);
            assert_int_equal(c.reported[s], 0);
            c.reported[s]++;
            assert_near(f->pk[i].arrival_us, c.arrival[s]);
        }
    }
    assert_int_equal(err, FL_EAGAIN);
}

/* The feedback f covers exactly [base, base + n) with `lost` (terminated by
 * -1) not received and everything else received. */
static void assert_span(const fb_rec *f, uint16_t base, size_t n, const int *lost)
{
    assert_int_equal(f->t.base_seq, base);
    assert_int_equal(f->n, n);
    for (size_t i = 0; i < n; i++) {
        uint16_t s = (uint16_t)(base + i);
        int is_lost = 0;
        for (const int *l = lost; l && *l >= 0; l++)
            is_lost |= *l == s;
        assert_int_equal(f->pk[i].seq, s);
        if (is_lost)
            assert_int_equal(f->pk[i].symbol, FL_RTCP_TWCC_NOT_RECEIVED);
        else
            assert_int_not_equal(f->pk[i].symbol, FL_RTCP_TWCC_NOT_RECEIVED);
    }
}

static void test_basic(void **state)
{
    (void)state;
    ctx_init(0, 0);
    fl_twcc_rx_stats st;
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);
    poll_all(12345, 1);
    assert_int_equal(c.nfb, 0);
    fl_time t0 = 1000037;
    for (uint16_t i = 0; i < 10; i++) {
        if (i != 3)
            feed(t0 + i * 1000 + i * 13, i);
    }
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t0 + 100 * FL_TIME_MS);
    poll_all(t0 + 100 * FL_TIME_MS - 1, 1);
    assert_int_equal(c.nfb, 0);
    poll_all(t0 + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 0, 10, (const int[]){ 3, -1 });
    assert_int_equal(c.fbs[0].t.fb_count, 0);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.packets, 9);
    assert_int_equal(st.feedbacks, 1);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.resets, 0);
    ctx_done();

    /* Defaults with no config; a NULL destroy is fine. */
    fl_twcc_rx *r;
    assert_int_equal(fl_twcc_rx_create(&r, NULL), 0);
    fl_twcc_rx_destroy(r);
    fl_twcc_rx_destroy(NULL);
}

static void test_fb_count(void **state)
{
    (void)state;
    ctx_init(0, 0);
    fl_time t = 5000;
    for (int i = 0; i < 300; i++) {
        feed(t, (uint16_t)(2 * i));
        t += 100 * FL_TIME_MS;
        poll_all(t, 1);
        assert_int_equal(c.nfb, 1);
        assert_int_equal(c.fbs[0].t.fb_count, (uint8_t)i);
        assert_int_equal(c.fbs[0].t.base_seq, (uint16_t)(2 * i));
        assert_int_equal(c.fbs[0].n, 1);
    }
    fl_twcc_rx_stats st;
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.feedbacks, 300);
    ctx_done();
}

static void test_seq_wrap(void **state)
{
    (void)state;
    ctx_init(0, 0);
    /* 13.9 days of monotonic time: past the 24-bit reference's period. */
    fl_time t0 = (fl_time)1200000 * FL_TIME_SEC + 777;
    for (int i = 0; i < 12; i++) {
        uint16_t s = (uint16_t)(65530 + i);
        if (s != 65535)
            feed(t0 + i * 2500 + 31, s);
    }
    poll_all(t0 + FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 65530, 12, (const int[]){ 65535, -1 });
    assert_int_equal(c.fbs[0].pk[6].seq, 0);
    /* And on across the wrap in the next span. */
    feed(t0 + 2 * FL_TIME_SEC, 6);
    feed(t0 + 2 * FL_TIME_SEC + 1000, 8);
    poll_all(t0 + 3 * FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 6, 3, (const int[]){ 7, -1 });
    ctx_done();
}

static void test_reorder(void **state)
{
    (void)state;
    ctx_init(0, 0);
    static const uint16_t order[] = { 10, 12, 11, 14, 13, 16, 15 };
    fl_time t = 70000;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++, t += 1000)
        feed(t, order[i]);
    poll_all(t + FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 10, 7, NULL);
    int negative = 0;
    for (size_t i = 0; i < c.fbs[0].n; i++)
        negative |= c.fbs[0].pk[i].delta < 0;
    assert_true(negative);
    ctx_done();

    /* Packets before the first one to arrive are placed while unreported. */
    ctx_init(0, 0);
    feed(1000, 100);
    feed(2000, 98);
    feed(3000, 101);
    feed(4000, 99);
    poll_all(FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 98, 4, NULL);
    ctx_done();
}

static void test_late(void **state)
{
    (void)state;
    ctx_init(0, 0);
    fl_twcc_rx_stats st;
    fl_time t0 = 1000, t1 = t0 + 100 * FL_TIME_MS;
    static const uint16_t first[] = { 0, 1, 2, 4, 6 };
    for (size_t i = 0; i < 5; i++)
        feed(t0 + (fl_time)i * 1000, first[i]);
    poll_all(t1, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 0, 7, (const int[]){ 3, 5, -1 });

    /* 3 and 5 were reported not received, 2 received: all late now. */
    fl_twcc_rx_on_packet(c.r, t1 + 10 * FL_TIME_MS, 3);
    fl_twcc_rx_on_packet(c.r, t1 + 11 * FL_TIME_MS, 5);
    fl_twcc_rx_on_packet(c.r, t1 + 12 * FL_TIME_MS, 2);
    feed(t1 + 13 * FL_TIME_MS, 9);
    feed(t1 + 14 * FL_TIME_MS, 10);
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.late, 3);
    assert_int_equal(st.packets, 7);
    /* The span starts at 9: 7 and 8 have not arrived, and are not named. */
    poll_all(t1 + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 9, 2, NULL);

    /* 8 arrives after 9 and 10 were reported: late though never named. */
    fl_twcc_rx_on_packet(c.r, t1 + 110 * FL_TIME_MS, 8);
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.late, 4);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);

    /* 11 arrives after 12 and 13, before the next feedback: it is the base. */
    feed(t1 + 200 * FL_TIME_MS, 12);
    feed(t1 + 201 * FL_TIME_MS, 13);
    feed(t1 + 202 * FL_TIME_MS, 11);
    fl_twcc_rx_on_packet(c.r, t1 + 203 * FL_TIME_MS, 13); /* duplicate: ignored, not late */
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.late, 4);
    assert_int_equal(st.packets, 10);
    poll_all(t1 + 300 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 11, 3, NULL);
    /* The duplicate kept the first arrival. */
    assert_near(c.fbs[0].pk[2].arrival_us, t1 + 201 * FL_TIME_MS);
    ctx_done();
}

static void test_max_packets(void **state)
{
    (void)state;
    /* Polled as a loop would: whenever the timeout has come. */
    ctx_init(0, 50);
    fl_time t0 = 3000000, now = t0;
    size_t total = 0;
    uint16_t bases[8];
    size_t counts[8];
    for (uint16_t i = 0; i < 120; i++) {
        now = t0 + i * 100;
        if (i != 7)
            feed(now, i);
        if (fl_twcc_rx_poll_timeout(c.r) <= now) {
            poll_all(now, 1);
            for (size_t k = 0; k < c.nfb; k++, total++) {
                assert_true(total < 8);
                bases[total] = c.fbs[k].t.base_seq;
                counts[total] = c.fbs[k].n;
            }
        }
    }
    /* Two full ones were sent early, at the 50th and 100th arrival. */
    assert_int_equal(total, 2);
    assert_int_equal(bases[0], 0);
    assert_int_equal(counts[0], 50);
    assert_int_equal(bases[1], 50);
    assert_int_equal(counts[1], 50);
    /* The rest after the interval since the last one (sent at 99). */
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t0 + 99 * 100 + 100 * FL_TIME_MS);
    poll_all(t0 + 99 * 100 + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 100, 20, NULL);
    ctx_done();

    /* Not polled until the interval: split in one round at one time, the
     * second span starting at the first received after the first. */
    ctx_init(0, 50);
    for (uint16_t i = 0; i < 120; i++) {
        if (i != 50 && i != 7)
            feed(t0 + i * 100, i);
    }
    assert_true(fl_twcc_rx_poll_timeout(c.r) <= t0 + 119 * 100);
    poll_all(t0 + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 3);
    assert_span(&c.fbs[0], 0, 50, (const int[]){ 7, -1 });
    assert_span(&c.fbs[1], 51, 50, NULL);
    assert_span(&c.fbs[2], 101, 19, NULL);
    ctx_done();

    /* More than fl_rtcp_twcc_build takes is capped to it. */
    ctx_init(0, 5000);
    for (uint16_t i = 0; i < 1500; i++)
        feed(t0 + i * 10, i);
    poll_all(t0 + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 2);
    assert_span(&c.fbs[0], 0, FL_RTCP_TWCC_BUILD_MAX, NULL);
    assert_span(&c.fbs[1], FL_RTCP_TWCC_BUILD_MAX, 1500 - FL_RTCP_TWCC_BUILD_MAX, NULL);
    ctx_done();
}

static void test_time_gap(void **state)
{
    (void)state;
    ctx_init(0, 0);
    fl_time t0 = 10 * FL_TIME_SEC;
    for (uint16_t i = 0; i < 5; i++)
        feed(t0 + i * 1000, i);
    /* 9 s later: a delta of 36000 units does not fit 16 bits. */
    for (uint16_t i = 5; i < 10; i++)
        feed(t0 + 9 * FL_TIME_SEC + i * 1000, i);
    poll_all(t0 + 10 * FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 2);
    assert_span(&c.fbs[0], 0, 5, NULL);
    assert_span(&c.fbs[1], 5, 5, NULL);

    /* Backwards: 21 arrives 9 s before 20 (both unreported). */
    fl_time t1 = t0 + 20 * FL_TIME_SEC;
    feed(t1, 21);
    feed(t1 + 9 * FL_TIME_SEC, 20);
    poll_all(t1 + 9 * FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 2);
    assert_span(&c.fbs[0], 20, 1, NULL);
    assert_span(&c.fbs[1], 21, 1, NULL);

    /* 5 s fits (20000 units, a large delta), with a hole in between. */
    fl_time t2 = t1 + 20 * FL_TIME_SEC;
    feed(t2, 30);
    feed(t2 + 5 * FL_TIME_SEC, 32);
    poll_all(t2 + 5 * FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 30, 3, (const int[]){ 31, -1 });
    assert_int_equal(c.fbs[0].pk[2].symbol, FL_RTCP_TWCC_LARGE_DELTA);
    ctx_done();
}

static void test_timeout(void **state)
{
    (void)state;
    ctx_init(20 * FL_TIME_MS, 0);
    fl_time t = 5000;
    uint8_t small[16];
    size_t len;
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);
    feed(t, 0);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 20 * FL_TIME_MS);
    feed(t + 5 * FL_TIME_MS, 1);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 20 * FL_TIME_MS);
    assert_int_equal(fl_twcc_rx_poll_feedback(c.r, t + 20 * FL_TIME_MS - 1, MEDIA, small,
                                              sizeof(small), &len),
                     FL_EAGAIN);
    /* Due, but no room: FL_EMSGSIZE, and nothing changes. */
    assert_int_equal(
            fl_twcc_rx_poll_feedback(c.r, t + 20 * FL_TIME_MS, MEDIA, small, sizeof(small), &len),
            FL_EMSGSIZE);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 20 * FL_TIME_MS);
    poll_all(t + 20 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_int_equal(c.fbs[0].t.fb_count, 0);
    assert_span(&c.fbs[0], 0, 2, NULL);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);

    /* Due one interval after the last feedback. */
    feed(t + 30 * FL_TIME_MS, 2);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 40 * FL_TIME_MS);
    feed(t + 100 * FL_TIME_MS, 3);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 40 * FL_TIME_MS);
    poll_all(t + 100 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 2, 2, NULL);

    /* After a pause the first packet is due at once. */
    feed(t + 500 * FL_TIME_MS, 4);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 120 * FL_TIME_MS);
    poll_all(t + 500 * FL_TIME_MS, 1);
    assert_int_equal(c.nfb, 1);
    assert_int_equal(c.fbs[0].t.fb_count, 2);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);

    /* A new interval counts from the last feedback; 0 is ignored. */
    fl_twcc_rx_set_interval(c.r, 50 * FL_TIME_MS);
    fl_twcc_rx_set_interval(c.r, 0);
    feed(t + 510 * FL_TIME_MS, 5);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), t + 550 * FL_TIME_MS);
    ctx_done();
}

static void test_reset(void **state)
{
    (void)state;
    ctx_init(0, 0);
    fl_twcc_rx_stats st;
    fl_time t = 1000;
    for (uint16_t i = 0; i < 5; i++)
        feed(t + i * 100, i);
    poll_all(t + FL_TIME_SEC, 1);
    assert_span(&c.fbs[0], 0, 5, NULL);
    t += 2 * FL_TIME_SEC;
    feed(t, 5);
    feed(t + 100, 6);
    feed(t + 200, 20000); /* a jump of 19994: 5 and 6 are forgotten */
    feed(t + 300, 20001);
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.resets, 1);
    poll_all(t + FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 20000, 2, NULL);

    t += 2 * FL_TIME_SEC;
    feed(t, 5000); /* backwards by 15001 */
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.resets, 2);
    assert_int_equal(st.late, 0);
    poll_all(t + FL_TIME_SEC, 1);
    assert_span(&c.fbs[0], 5000, 1, NULL);

    feed(t + 2 * FL_TIME_SEC, 5000 + 8192);              /* exactly 8192: goes on */
    feed(t + 2 * FL_TIME_SEC + 100, 5000 + 8192 + 8193); /* one more: starts over */
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.resets, 3);
    poll_all(t + 3 * FL_TIME_SEC, 1);
    assert_int_equal(c.nfb, 1);
    assert_span(&c.fbs[0], 5000 + 8192 + 8193, 1, NULL);
    ctx_done();

    /* Never polled: the ring keeps the newest 8192. */
    ctx_init(0, 0);
    for (int i = 0; i < 10000; i++)
        feed(1000 + i * 10, (uint16_t)i);
    poll_all(FL_TIME_SEC, 1);
    assert_int_equal(c.fbs[0].t.base_seq, 10000 - 8192);
    size_t sum = 0;
    for (size_t k = 0; k < c.nfb; k++) {
        assert_int_equal(c.fbs[k].t.base_seq, 10000 - 8192 + sum);
        sum += c.fbs[k].n;
    }
    assert_int_equal(sum, 8192);
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.packets, 10000);
    fl_twcc_rx_on_packet(c.r, 2 * FL_TIME_SEC, 5000); /* reported: late */
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.resets, 0);
    fl_twcc_rx_on_packet(c.r, 2 * FL_TIME_SEC, 100); /* 9899 back: starts over */
    fl_twcc_rx_get_stats(c.r, &st);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.resets, 1);
    ctx_done();
}

/* ---- seeded random run ---- */

#define RUN_N 200000

typedef struct arrival_ev {
    fl_time t;
    int32_t idx;
} arrival_ev;

static int cmp_ev(const void *a, const void *b)
{
    const arrival_ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static arrival_ev evs[RUN_N];
static fl_time run_arrival[RUN_N];
static uint8_t run_fed[RUN_N];
static uint8_t run_lost[RUN_N];
static uint8_t run_state[RUN_N]; /* 0 unreported, 1 received, 2 not received */

static uint16_t run_seq(int64_t idx)
{
    return (uint16_t)(65000 + idx);
}

/* Checks the feedbacks of the last poll_all against the run. */
static void run_check(int64_t hi, size_t *max_seen)
{
    for (size_t k = 0; k < c.nfb; k++) {
        const fb_rec *f = &c.fbs[k];
        if (f->n > *max_seen)
            *max_seen = f->n;
        assert_true(f->n <= 200);
        for (size_t i = 0; i < f->n; i++) {
            int32_t d = (int32_t)(uint16_t)(f->pk[i].seq - run_seq(hi));
            if (d >= 0x8000)
                d -= 0x10000;
            int64_t idx = hi + d;
            assert_in_range(idx, 0, hi);
            assert_int_equal(run_state[idx], 0); /* never named twice */
            if (f->pk[i].symbol == FL_RTCP_TWCC_NOT_RECEIVED) {
                assert_false(run_fed[idx]);
                run_state[idx] = 2;
            } else {
                assert_true(run_fed[idx]);
                assert_near(f->pk[i].arrival_us, run_arrival[idx]);
                run_state[idx] = 1;
            }
        }
    }
}

/* 2000 packets/s, 20 ms base delay, 0-3 ms jitter (reorders), 1% held 40 ms
 * more, 10% lost, and every 50000 a 9 s pause. Polled at each deadline
 * (settled: only once every packet below the highest has arrived or is
 * lost, so reordering stays inside spans). */
static void random_run(uint64_t seed, int settled)
{
    fl_rand rng;
    fl_rand_seeded_init(&rng, seed);
    memset(run_fed, 0, sizeof(run_fed));
    memset(run_lost, 0, sizeof(run_lost));
    memset(run_state, 0, sizeof(run_state));
    ctx_init(0, 0);
    size_t n = 0, lost = 0;
    fl_time send = 1000000;
    for (int32_t i = 0; i < RUN_N; i++) {
        send += (i % 50000 == 49999) ? 9 * FL_TIME_SEC : 500;
        uint32_t x = fl_rand_u32(&rng);
        if (x % 100 < 10) {
            run_lost[i] = 1;
            lost++;
            continue;
        }
        fl_time a = send + 20 * FL_TIME_MS + (fl_time)(fl_rand_u32(&rng) % 3000);
        if (x % 100 == 10)
            a += 40 * FL_TIME_MS;
        run_arrival[i] = a;
        evs[n].t = a;
        evs[n].idx = i;
        n++;
    }
    qsort(evs, n, sizeof(evs[0]), cmp_ev);
    fl_time now = 0;
    int64_t hi = -1;
    size_t max_seen = 0, polls = 0, inflight = 0, reordered = 0;
    for (size_t k = 0; k < n; k++) {
        for (fl_time to; (to = fl_twcc_rx_poll_timeout(c.r)) <= evs[k].t;) {
            if (settled && inflight > 0)
                break;
            if (to > now)
                now = to;
            poll_all(now, 0);
            assert_true(c.nfb > 0);
            run_check(hi, &max_seen);
            polls++;
        }
        int32_t idx = evs[k].idx;
        now = evs[k].t;
        fl_twcc_rx_on_packet(c.r, now, run_seq(idx));
        run_fed[idx] = 1;
        if (idx > hi) {
            for (int64_t j = hi + 1; j < idx; j++)
                inflight += !run_lost[j];
            hi = idx;
        } else {
            inflight--;
            reordered++;
        }
    }
    poll_all(now + FL_TIME_SEC, 0);
    run_check(hi, &max_seen);
    assert_int_equal(fl_twcc_rx_poll_timeout(c.r), FL_TIME_NEVER);

    /* Every packet fed is reported once as received, unless it came after
     * a later one had been reported (late, counted, never named). */
    fl_twcc_rx_stats st;
    fl_twcc_rx_get_stats(c.r, &st);
    size_t received = 0, unreported = 0;
    for (int32_t i = 0; i < RUN_N; i++) {
        if (run_lost[i])
            assert_int_not_equal(run_state[i], 1);
        else if (run_state[i] == 1)
            received++;
        else
            unreported++;
    }
    assert_int_equal(received + unreported, n);
    assert_int_equal(st.packets, received);
    assert_int_equal(st.late, unreported);
    assert_int_equal(st.resets, 0);
    assert_int_equal(st.feedbacks % 256, c.count);
    if (settled)
        assert_int_equal(unreported, 0);
    else
        assert_true(unreported < n / 100);
    assert_true(reordered > n / 10);
    assert_int_equal(max_seen, 200);
    assert_true(lost > RUN_N / 12 && lost < RUN_N / 8);
    print_message("random%s: %zu fed (%zu out of order), %zu lost, %zu late, %llu feedbacks in "
                  "%zu polls\n",
                  settled ? " settled" : "", n, reordered, lost, unreported,
                  (unsigned long long)st.feedbacks, polls);
    ctx_done();
}

static void test_random_settled(void **state)
{
    (void)state;
    random_run(0x7cc5eed, 1);
}

static void test_random(void **state)
{
    (void)state;
    random_run(0x7cc5eed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),    cmocka_unit_test(test_fb_count),
        cmocka_unit_test(test_seq_wrap), cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_late),     cmocka_unit_test(test_max_packets),
        cmocka_unit_test(test_time_gap), cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_reset),    cmocka_unit_test(test_random_settled),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
