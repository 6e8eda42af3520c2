/* net/nack: gap detection and retries, the sent-packet history, RTX write
 * and unwrap round trips, and a lossy link simulated on a virtual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rand.h"
#include "base/wire.h"
#include "net/nack.h"
#include "net/rtcp.h"
#include "net/rtp.h"

#include <cmocka.h>

#define T0       FL_TIME_SEC /* virtual clocks start here: 0 means "never" */
#define MS       FL_TIME_MS
#define BUF_SIZE 1500
#define HEADROOM 64

static fl_nack_gen *make_gen(const fl_nack_gen_config *c)
{
    fl_nack_gen *g = NULL;
    assert_int_equal(fl_nack_gen_create(&g, c), 0);
    return g;
}

static fl_nack_gen_stats gen_stats(const fl_nack_gen *g)
{
    fl_nack_gen_stats st;
    fl_nack_gen_get_stats(g, &st);
    return st;
}

static size_t pool_in_use(const fl_buf_pool *pool)
{
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(pool, &st);
    return st.in_use;
}

/* ---- receiving side ---- */

/* No RTT given: the retry interval follows 1.5 x the measured time from a
 * request to the retransmission answering it; a given RTT wins. */
static void test_gen_measured_response(void **state)
{
    (void)state;
    fl_nack_gen *g = make_gen(NULL);
    uint16_t seqs[16];
    fl_nack_gen_on_packet(g, T0, 1, 0);
    fl_nack_gen_on_packet(g, T0, 3, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 16), 1);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 100 * MS); /* the default */
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 40 * MS, 2, 1), 1);
    fl_nack_gen_stats st;
    fl_nack_gen_get_stats(g, &st);
    assert_int_equal(st.response, 40 * MS);
    fl_nack_gen_on_packet(g, T0 + 50 * MS, 5, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 50 * MS, seqs, 16), 1);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 110 * MS); /* 60 ms */
    /* a second sample smooths (1/8) */
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 58 * MS, 4, 1), 1);
    fl_nack_gen_get_stats(g, &st);
    assert_int_equal(st.response, 36 * MS);
    /* an RTT given wins over what is measured */
    fl_nack_gen_set_rtt(g, 80 * MS);
    fl_nack_gen_on_packet(g, T0 + 60 * MS, 7, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 60 * MS, seqs, 16), 1);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 61 * MS, 6, 1), 1);
    fl_nack_gen_on_packet(g, T0 + 70 * MS, 9, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 70 * MS, seqs, 16), 1);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 150 * MS);
    fl_nack_gen_destroy(g);
}

static void test_gen_gap_retries(void **state)
{
    (void)state;
    fl_nack_gen_config c = { .max_retries = 3, .retry_interval = 50 * MS, .max_age = FL_TIME_SEC };
    fl_nack_gen *g = make_gen(&c);
    uint16_t seqs[16];
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);
    fl_nack_gen_on_packet(g, T0, 1, 0);
    fl_nack_gen_on_packet(g, T0, 2, 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);
    fl_nack_gen_on_packet(g, T0, 5, 0);
    assert_int_equal(gen_stats(g).missing, 2);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0);

    /* Requested at once, once. */
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 16), 2);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[1], 4);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 16), 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 50 * MS);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 49 * MS, seqs, 16), 0);

    /* Then every interval, up to the budget of 3 requests. */
    assert_int_equal(fl_nack_gen_poll(g, T0 + 50 * MS, seqs, 16), 2);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 100 * MS);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 100 * MS, seqs, 16), 2);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(gen_stats(g).requested, 6);
    /* The last request has its interval to be answered, then it is given up. */
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 150 * MS);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 149 * MS, seqs, 16), 0);
    assert_int_equal(gen_stats(g).missing, 2);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 150 * MS, seqs, 16), 0);
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.missing, 0);
    assert_int_equal(st.given_up, 2);
    assert_int_equal(st.requested, 6);
    assert_int_equal(st.recovered, 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);

    /* The RTT sets the interval, clamped to [20 ms, 500 ms]. */
    fl_nack_gen_on_packet(g, T0 + 200 * MS, 7, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 200 * MS, seqs, 16), 1);
    fl_nack_gen_set_rtt(g, 1 * MS);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 220 * MS);
    fl_nack_gen_set_rtt(g, 10 * FL_TIME_SEC);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 700 * MS);
    fl_nack_gen_set_rtt(g, 30 * MS);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 230 * MS);

    /* What on_packet says: 1 only for a packet that filled a gap; a
     * retransmission nobody waits for (a probe of old packets) is 0. */
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 230 * MS, 8, 0), 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 230 * MS, 5, 1), 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 230 * MS, 6, 1), 1);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 230 * MS, 6, 1), 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 231 * MS, 10, 0), 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + 232 * MS, 9, 0), 1);
    fl_nack_gen_destroy(g);
    fl_nack_gen_destroy(NULL);
}

static void test_gen_age_limit(void **state)
{
    (void)state;
    fl_nack_gen_config c = { .max_age = 200 * MS, .retry_interval = 60 * MS };
    fl_nack_gen *g = make_gen(&c);
    uint16_t seqs[4];
    fl_nack_gen_on_packet(g, T0, 10, 0);
    fl_nack_gen_on_packet(g, T0, 12, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 4), 1);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 60 * MS, seqs, 4), 1);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 120 * MS, seqs, 4), 1);
    /* A request at 180 ms would be answered after the 200 ms age: none is
     * sent, and the entry waits for its age. */
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 200 * MS);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 180 * MS, seqs, 4), 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 199 * MS, seqs, 4), 0);
    assert_int_equal(gen_stats(g).missing, 1);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 200 * MS, seqs, 4), 0);
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.requested, 3);
    assert_int_equal(st.given_up, 1);
    assert_int_equal(st.missing, 0);

    /* Polled late, too late to help: never requested, and no busy loop. */
    fl_nack_gen_on_packet(g, T0 + 300 * MS, 14, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 450 * MS, seqs, 4), 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 500 * MS);
    assert_int_equal(fl_nack_gen_poll(g, T0 + 500 * MS, seqs, 4), 0);
    st = gen_stats(g);
    assert_int_equal(st.requested, 3);
    assert_int_equal(st.given_up, 2);

    /* A late arrival after the entry was given up changes nothing. */
    fl_nack_gen_on_packet(g, T0 + 510 * MS, 13, 1);
    assert_int_equal(gen_stats(g).recovered, 0);
    fl_nack_gen_destroy(g);
}

static void test_gen_wrap(void **state)
{
    (void)state;
    fl_nack_gen *g = make_gen(NULL);
    uint16_t seqs[8];
    fl_nack_gen_on_packet(g, T0, 65533, 0);
    fl_nack_gen_on_packet(g, T0, 65534, 0);
    fl_nack_gen_on_packet(g, T0, 1, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 8), 2);
    assert_int_equal(seqs[0], 65535);
    assert_int_equal(seqs[1], 0);
    fl_nack_gen_on_packet(g, T0 + MS, 0, 0); /* late, after being requested */
    fl_nack_gen_on_packet(g, T0 + MS, 65535, 1);
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.recovered, 2);
    assert_int_equal(st.missing, 0);
    assert_int_equal(st.resets, 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);

    /* A gap across the wrap, reported in wrap-aware order. */
    fl_nack_gen_on_packet(g, T0 + MS, 2, 0);
    fl_nack_gen_on_packet(g, T0 + MS, 65530, 0); /* backwards 8: late, not missing */
    assert_int_equal(gen_stats(g).resets, 0);
    fl_nack_gen_destroy(g);

    g = make_gen(NULL);
    fl_nack_gen_on_packet(g, T0, 65530, 0);
    fl_nack_gen_on_packet(g, T0, 3, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 8), 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(seqs[i], (uint16_t)(65531 + i));
    fl_nack_gen_on_packet(g, T0, 65534, 1);
    fl_nack_gen_on_packet(g, T0, 1, 1);
    assert_int_equal(gen_stats(g).missing, 6);
    assert_int_equal(fl_nack_gen_poll(g, T0 + FL_TIME_SEC / 10, seqs, 8), 6);
    assert_int_equal(seqs[0], 65531);
    assert_int_equal(seqs[2], 65533);
    assert_int_equal(seqs[3], 65535);
    assert_int_equal(seqs[4], 0);
    assert_int_equal(seqs[5], 2);
    fl_nack_gen_destroy(g);
}

static void test_gen_reorder(void **state)
{
    (void)state;
    fl_nack_gen *g = make_gen(NULL);
    uint16_t seqs[8];
    fl_nack_gen_on_packet(g, T0, 10, 0);
    fl_nack_gen_on_packet(g, T0, 12, 0);
    fl_nack_gen_on_packet(g, T0, 11, 0); /* reordered before any request */
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.missing, 0);
    assert_int_equal(st.recovered, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 8), 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);

    fl_nack_gen_on_packet(g, T0, 13, 0);
    fl_nack_gen_on_packet(g, T0, 15, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 8), 1);
    assert_int_equal(seqs[0], 14);
    fl_nack_gen_on_packet(g, T0 + 5 * MS, 14, 0); /* late after its request */
    fl_nack_gen_on_packet(g, T0 + 6 * MS, 14, 0); /* duplicate */
    st = gen_stats(g);
    assert_int_equal(st.recovered, 1);
    assert_int_equal(st.missing, 0);

    /* Removal from the middle keeps the order. */
    fl_nack_gen_on_packet(g, T0 + 10 * MS, 25, 0); /* 16..24 missing */
    fl_nack_gen_on_packet(g, T0 + 10 * MS, 18, 0);
    fl_nack_gen_on_packet(g, T0 + 10 * MS, 23, 0);
    fl_nack_gen_on_packet(g, T0 + 10 * MS, 16, 0);
    fl_nack_gen_on_packet(g, T0 + 10 * MS, 3, 0); /* old, not missing */
    assert_int_equal(fl_nack_gen_poll(g, T0 + 10 * MS, seqs, 8), 6);
    const uint16_t want[] = { 17, 19, 20, 21, 22, 24 };
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(seqs[i], want[i]);
    st = gen_stats(g);
    assert_int_equal(st.recovered, 1);
    assert_int_equal(st.resets, 0);
    fl_nack_gen_destroy(g);
}

static void test_gen_jump_resets(void **state)
{
    (void)state;
    fl_nack_gen_config c = { .max_reorder = 100, .max_missing = 16 };
    fl_nack_gen *g = make_gen(&c);
    uint16_t seqs[64];
    fl_nack_gen_on_packet(g, T0, 1000, 0);
    fl_nack_gen_on_packet(g, T0, 1101, 0); /* forward 101 */
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.missing, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 64), 0);

    /* Forward exactly max_reorder: a gap of 99, only the newest 16 kept. */
    fl_nack_gen_on_packet(g, T0, 1201, 0);
    st = gen_stats(g);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.missing, 16);
    assert_int_equal(st.given_up, 99 - 16);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 64), 16);
    assert_int_equal(seqs[0], 1185);
    assert_int_equal(seqs[15], 1200);

    /* A further gap pushes the oldest out. */
    fl_nack_gen_on_packet(g, T0, 1205, 0);
    st = gen_stats(g);
    assert_int_equal(st.missing, 16);
    assert_int_equal(st.given_up, 83 + 3);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 64), 3);
    assert_int_equal(seqs[0], 1202);

    /* Backwards by more than max_reorder: reset, no storm. */
    fl_nack_gen_on_packet(g, T0, 1205 - 101, 0);
    st = gen_stats(g);
    assert_int_equal(st.resets, 2);
    assert_int_equal(st.missing, 0);
    assert_int_equal(st.given_up, 86 + 16);
    fl_nack_gen_on_packet(g, T0, 1105, 0);
    assert_int_equal(gen_stats(g).missing, 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), FL_TIME_NEVER);

    /* The default: a jump of 30000 is a new stream, not 29999 requests. */
    fl_nack_gen_destroy(g);
    g = make_gen(NULL);
    fl_nack_gen_on_packet(g, T0, 5, 0);
    fl_nack_gen_on_packet(g, T0, 30005, 0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 64), 0);
    assert_int_equal(gen_stats(g).resets, 1);
    fl_nack_gen_destroy(g);
}

static void test_gen_rtx_only_clears(void **state)
{
    (void)state;
    fl_nack_gen *g = make_gen(NULL);
    uint16_t seqs[2];
    fl_nack_gen_on_packet(g, T0, 5, 1); /* before any media: ignored */
    fl_nack_gen_on_packet(g, T0, 10, 0);
    fl_nack_gen_on_packet(g, T0, 20, 1); /* ahead: no gap opened */
    fl_nack_gen_on_packet(g, T0, 11, 0);
    assert_int_equal(gen_stats(g).missing, 0);
    fl_nack_gen_on_packet(g, T0, 17, 0);
    assert_int_equal(gen_stats(g).missing, 5);
    fl_nack_gen_on_packet(g, T0, 13, 1); /* a retransmission counts */
    fl_nack_gen_on_packet(g, T0, 13, 1); /* twice does not */
    fl_nack_gen_stats st = gen_stats(g);
    assert_int_equal(st.missing, 4);
    assert_int_equal(st.recovered, 1);

    /* A small cap: the rest stays due at once, in order. */
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 2), 2);
    assert_int_equal(seqs[0], 12);
    assert_int_equal(seqs[1], 14);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 2), 2);
    assert_int_equal(seqs[0], 15);
    assert_int_equal(seqs[1], 16);
    assert_int_equal(fl_nack_gen_poll(g, T0, seqs, 2), 0);
    assert_int_equal(fl_nack_gen_poll_timeout(g), T0 + 100 * MS);
    fl_nack_gen_destroy(g);

    fl_nack_gen_config bad = { .max_age = -1 };
    assert_int_equal(fl_nack_gen_create(&g, &bad), FL_EINVAL);
}

/* ---- sending side ---- */

/* A packet for seq in a new buffer: 12-byte header, 20 payload bytes. */
static fl_buf *make_packet(fl_buf_pool *pool, uint16_t seq)
{
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    uint8_t payload[20];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(seq + i);
    fl_rtp_header h = { .payload_type = 96, .seq = seq, .timestamp = seq * 10u, .ssrc = 0xabc };
    size_t n;
    assert_int_equal(
            fl_rtp_write(fl_buf_data(b), fl_buf_tailroom(b), &h, payload, sizeof(payload), 0, &n),
            0);
    assert_int_equal(fl_buf_set_len(b, n), 0);
    return b;
}

static void history_put(fl_nack_history *h, fl_time now, fl_buf *b)
{
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, fl_buf_data(b), b->len), 0);
    fl_nack_history_put(h, now, v.seq, v.timestamp, v.marker, b, v.header_len, v.payload_len);
}

/* Packets past max_age go back to the pool as new ones are put, not only
 * when their slot is reused; gaps in the numbering are stepped over. */
static void test_history_prune(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 8, 0), 0);
    fl_nack_history_config c = { .capacity = 64, .max_age = 100 * MS };
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, &c), 0);
    for (uint16_t s = 0; s < 10; s++) {
        if (s == 4)
            continue; /* never sent */
        fl_buf *b = make_packet(pool, s);
        history_put(h, T0 + s * MS, b);
        fl_buf_unref(b);
    }
    assert_int_equal(pool_in_use(pool), 9);
    fl_buf *b = make_packet(pool, 10);
    history_put(h, T0 + 106 * MS, b); /* 0..5 are past 100 ms now */
    fl_buf_unref(b);
    assert_int_equal(pool_in_use(pool), 5); /* 6..10 */
    assert_null(fl_nack_history_resend(h, T0 + 106 * MS, 5));
    assert_null(fl_nack_history_resend(h, T0 + 106 * MS, 4)); /* let go of with 0..5 */
    assert_non_null(fl_nack_history_resend(h, T0 + 106 * MS, 6));
    b = make_packet(pool, 12); /* 11 never sent */
    history_put(h, T0 + 107 * MS, b);
    fl_buf_unref(b);
    assert_null(fl_nack_history_resend(h, T0 + 107 * MS, 11));
    assert_null(fl_nack_history_resend(h, T0 + 107 * MS, 13)); /* not yet */
    fl_nack_history_stats st;
    fl_nack_history_get_stats(h, &st);
    assert_int_equal(st.too_old, 2); /* 5 and 4: too old to tell them apart */
    assert_int_equal(st.missing, 2);
    b = make_packet(pool, 200); /* a jump: everything older is past its age */
    history_put(h, T0 + 300 * MS, b);
    fl_buf_unref(b);
    assert_int_equal(pool_in_use(pool), 1);
    fl_nack_history_destroy(h);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);
}

static void test_history(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 8, 0), 0);
    fl_nack_history_config c = { .capacity = 3, .max_age = FL_TIME_SEC };
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, &c), 0);
    for (uint16_t s = 100; s < 104; s++) {
        fl_buf *b = make_packet(pool, s);
        history_put(h, T0 + (s - 100) * MS, b);
        assert_int_equal(b->refs, 2);
        fl_buf_unref(b); /* the history's is now the only reference */
    }
    assert_int_equal(pool_in_use(pool), 4); /* capacity rounded up to 4 */

    const fl_nack_history_entry *e = fl_nack_history_resend(h, T0 + 10 * MS, 101);
    assert_non_null(e);
    assert_int_equal(e->seq, 101);
    assert_int_equal(e->timestamp, 1010);
    assert_int_equal(e->payload_off, 12);
    assert_int_equal(e->payload_len, 20);
    assert_int_equal(e->sent, T0 + MS);
    assert_int_equal(e->resent, T0 + 10 * MS);
    assert_int_equal(e->requests, 1);
    assert_int_equal(fl_buf_data(e->buf)[e->payload_off], (uint8_t)101);

    /* Throttled within the default 10 ms; the RTT, clamped at 5 ms, shortens it. */
    assert_null(fl_nack_history_resend(h, T0 + 19 * MS, 101));
    e = fl_nack_history_resend(h, T0 + 20 * MS, 101);
    assert_non_null(e);
    assert_int_equal(e->requests, 2); /* asked again: the first resend was lost */
    fl_nack_history_set_rtt(h, 1 * MS);
    assert_null(fl_nack_history_resend(h, T0 + 24 * MS, 101));
    assert_non_null(fl_nack_history_resend(h, T0 + 25 * MS, 101));

    /* Never stored (the slot holds another), too old, just young enough. */
    assert_null(fl_nack_history_resend(h, T0 + 30 * MS, 200));
    assert_null(fl_nack_history_resend(h, T0 + FL_TIME_SEC + 2 * MS + 1, 102));
    assert_non_null(fl_nack_history_resend(h, T0 + FL_TIME_SEC + 3 * MS, 103));

    /* Overwritten: 104 takes 100's slot and releases it (asked for, 100 is
     * too old: older than anything held). */
    fl_buf *b = make_packet(pool, 104);
    history_put(h, T0 + 40 * MS, b);
    assert_int_equal(pool_in_use(pool), 4); /* 101..103, and 104 (ours too) */
    assert_null(fl_nack_history_resend(h, T0 + 41 * MS, 100));
    /* The same buffer again in its own slot keeps one history reference. */
    history_put(h, T0 + 41 * MS, b);
    assert_int_equal(b->refs, 2);
    fl_buf_unref(b);
    assert_non_null(fl_nack_history_resend(h, T0 + 42 * MS, 104));

    fl_nack_history_stats st;
    fl_nack_history_get_stats(h, &st);
    assert_int_equal(st.stored, 6);
    assert_int_equal(st.resent, 5);
    assert_int_equal(st.throttled, 2);
    assert_int_equal(st.missing, 1);
    assert_int_equal(st.too_old, 2);

    fl_nack_history_clear(h);
    assert_int_equal(pool_in_use(pool), 0);
    assert_null(fl_nack_history_resend(h, T0 + 50 * MS, 104));
    b = make_packet(pool, 7);
    history_put(h, T0 + 60 * MS, b);
    fl_buf_unref(b);
    fl_nack_history_destroy(h); /* releases it */
    fl_nack_history_destroy(NULL);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);
}

/* ---- RTX ---- */

#define RTX_SSRC 0x5eed0001u
#define RTX_PT   97

static void assert_same_packet(const fl_rtp_view *a, const fl_rtp_view *b)
{
    assert_int_equal(a->marker, b->marker);
    assert_int_equal(a->payload_type, b->payload_type);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->timestamp, b->timestamp);
    assert_int_equal(a->ssrc, b->ssrc);
    assert_int_equal(a->padding, b->padding);
    assert_int_equal(a->csrc_count, b->csrc_count);
    for (size_t i = 0; i < a->csrc_count; i++)
        assert_int_equal(fl_rtp_view_csrc(a, i), fl_rtp_view_csrc(b, i));
    assert_int_equal(a->extension, b->extension);
    assert_int_equal(a->ext_profile, b->ext_profile);
    assert_int_equal(a->ext_len, b->ext_len);
    if (a->ext_len)
        assert_memory_equal(a->ext_data, b->ext_data, a->ext_len);
    assert_int_equal(a->payload_len, b->payload_len);
    if (a->payload_len)
        assert_memory_equal(a->payload, b->payload, a->payload_len);
    assert_int_equal(a->pad_len, b->pad_len);
}

/* Sends `orig` through the history and RTX, unwraps it and compares. */
static void rtx_round_trip(const fl_rtp_header *orig, const uint8_t *payload, size_t len)
{
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, NULL), 0);

    fl_buf *b = fl_buf_pool_get(pool);
    size_t n;
    assert_int_equal(fl_rtp_write(fl_buf_data(b), fl_buf_tailroom(b), orig, payload, len, 0, &n),
                     0);
    assert_int_equal(fl_buf_set_len(b, n), 0);
    history_put(h, T0, b);
    const fl_nack_history_entry *e = fl_nack_history_resend(h, T0 + 40 * MS, orig->seq);
    assert_non_null(e);

    fl_rtp_header rh = *orig;
    rh.ssrc = RTX_SSRC;
    rh.payload_type = RTX_PT;
    rh.seq = 4242;
    rh.timestamp = 0; /* taken from the entry */
    rh.marker = 0;
    fl_buf *r = fl_buf_pool_get(pool);
    assert_int_equal(fl_nack_rtx_write(fl_buf_data(r), fl_buf_tailroom(r), &rh, e, 1, &n), 0);
    assert_int_equal(n, b->len + 2);
    assert_int_equal(fl_buf_set_len(r, n), 0);

    fl_rtp_view ov, rv;
    assert_int_equal(fl_rtp_parse(&ov, fl_buf_data(b), b->len), 0);
    assert_int_equal(fl_rtp_parse(&rv, fl_buf_data(r), r->len), 0);
    assert_int_equal(rv.ssrc, RTX_SSRC);
    assert_int_equal(rv.payload_type, RTX_PT);
    assert_int_equal(rv.seq, 4242);
    assert_int_equal(rv.timestamp, ov.timestamp);
    assert_int_equal(rv.marker, ov.marker);
    assert_int_equal(rv.payload_len, len + 2);
    assert_int_equal(fl_get_be16(rv.payload), orig->seq);

    uint16_t osn = 0;
    uint32_t off = r->off;
    assert_int_equal(fl_nack_rtx_unwrap(r, &rv, orig->ssrc, orig->payload_type, &osn), 0);
    assert_int_equal(osn, orig->seq);
    assert_int_equal(r->off, off + 2);
    fl_rtp_view uv;
    assert_int_equal(fl_rtp_parse(&uv, fl_buf_data(r), r->len), 0);
    assert_same_packet(&uv, &ov);
    assert_int_equal(r->len, b->len);
    assert_memory_equal(fl_buf_data(r), fl_buf_data(b), b->len);

    fl_buf_unref(r);
    fl_buf_unref(b);
    fl_nack_history_destroy(h);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);
}

static void test_rtx_round_trip(void **state)
{
    (void)state;
    const uint8_t payload[] = { 0x90, 0x80, 0x12, 0x34, 0x9d, 0x01, 0x2a, 0x00, 0x11 };
    fl_rtp_header h = {
        .marker = 1, .payload_type = 96, .seq = 65535, .timestamp = 0xfffffff0u, .ssrc = 0x01020304
    };
    rtx_round_trip(&h, payload, sizeof(payload)); /* bare header */

    const uint8_t level[] = { 0x8a };
    const uint8_t abs[] = { 0x12, 0x34, 0x56 };
    const uint8_t twcc[] = { 0x00, 0x05 };
    const uint8_t mid[] = { '0' };
    fl_rtp_ext one[] = {
        { .id = 1, .data = level, .len = 1 },
        { .id = 2, .data = abs, .len = 3 },
        { .id = 3, .data = twcc, .len = 2 },
        { .id = 4, .data = mid, .len = 1 },
    };
    h.exts = one;
    h.num_exts = 4;
    h.csrc_count = 2;
    h.csrcs[0] = 0xdeadbeef;
    h.csrcs[1] = 7;
    h.marker = 0;
    h.seq = 0;
    rtx_round_trip(&h, payload, sizeof(payload)); /* one-byte extensions, CSRCs */

    const uint8_t name[] = { 'a', 'b', 'c' };
    fl_rtp_ext two[] = {
        { .id = 16, .data = name, .len = 3 },
        { .id = 5, .data = NULL, .len = 0 },
    };
    h.exts = two;
    h.num_exts = 2;
    h.csrc_count = FL_RTP_MAX_CSRC;
    for (size_t i = 0; i < FL_RTP_MAX_CSRC; i++)
        h.csrcs[i] = (uint32_t)i * 0x01010101u;
    h.seq = 12345;
    rtx_round_trip(&h, payload, sizeof(payload)); /* two-byte extensions, 15 CSRCs */
    rtx_round_trip(&h, payload, 0);               /* an empty payload: the OSN alone */
}

static void test_rtx_plain(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, NULL), 0);
    fl_buf *b = make_packet(pool, 300);
    history_put(h, T0, b);
    const fl_nack_history_entry *e = fl_nack_history_resend(h, T0, 300);
    assert_non_null(e);
    /* The original's SSRC and payload type: the packet as it was sent. */
    fl_rtp_header rh = { .payload_type = 96, .ssrc = 0xabc, .seq = 9 };
    uint8_t out[BUF_SIZE];
    size_t n;
    assert_int_equal(fl_nack_rtx_write(out, sizeof(out), &rh, e, 0, &n), 0);
    assert_int_equal(n, b->len);
    assert_memory_equal(out, fl_buf_data(b), n);

    /* Too small, by one byte, with and without the OSN. */
    assert_int_equal(fl_nack_rtx_write(out, n - 1, &rh, e, 0, &n), FL_EMSGSIZE);
    assert_int_equal(fl_nack_rtx_write(out, b->len + 1, &rh, e, 1, &n), FL_EMSGSIZE);
    assert_int_equal(fl_nack_rtx_write(out, 11, &rh, e, 1, &n), FL_EMSGSIZE);
    fl_buf_unref(b);
    fl_nack_history_destroy(h);
    fl_buf_pool_destroy(pool);
}

/* A packet sent with the start of its payload rewritten (a VP8 descriptor)
 * is resent so, in both forms; the buffer itself is left as it is; a head
 * for a packet not held, or longer than allowed, is not kept. */
static void test_rtx_head(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, NULL), 0);
    fl_buf *b = make_packet(pool, 300);
    history_put(h, T0, b);
    const uint8_t head[4] = { 0x90, 0x80, 0x12, 0x34 };
    fl_nack_history_set_head(h, 300, head, sizeof(head));
    fl_nack_history_set_head(h, 301, head, sizeof(head));         /* not held */
    fl_nack_history_set_head(h, 300, head, FL_NACK_HEAD_MAX + 1); /* too long: ignored */
    const fl_nack_history_entry *e = fl_nack_history_resend(h, T0, 300);
    assert_non_null(e);
    assert_int_equal(e->head_len, sizeof(head));
    uint8_t out[BUF_SIZE];
    size_t n;
    fl_rtp_header rh = { .payload_type = 96, .ssrc = 0xabc, .seq = 9 };
    assert_int_equal(fl_nack_rtx_write(out, sizeof(out), &rh, e, 0, &n), 0);
    assert_int_equal(n, b->len);
    assert_memory_equal(out + 12, head, sizeof(head));
    assert_memory_equal(out + 16, fl_buf_data(b) + 16, n - 16);
    assert_int_equal(fl_buf_data(b)[12], 44); /* payload byte 0 of seq 300 */
    rh.payload_type = 97;
    rh.ssrc = 0xdef;
    assert_int_equal(fl_nack_rtx_write(out, sizeof(out), &rh, e, 1, &n), 0);
    assert_int_equal(out[12] << 8 | out[13], 300); /* the OSN, then the head */
    assert_memory_equal(out + 14, head, sizeof(head));
    /* put again: the head is the new packet's business */
    history_put(h, T0 + MS, b);
    e = fl_nack_history_resend(h, T0 + 100 * FL_TIME_SEC, 300);
    assert_true(!e || e->head_len == 0);
    fl_buf_unref(b);
    fl_nack_history_destroy(h);
    fl_buf_pool_destroy(pool);
}

/* An RTX packet (OSN then payload) written straight into a new buffer. */
static fl_buf *make_rtx(fl_buf_pool *pool,
                        const fl_rtp_header *h,
                        const uint8_t *body,
                        size_t len,
                        size_t pad,
                        fl_rtp_view *v)
{
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    size_t n;
    assert_int_equal(fl_rtp_write(fl_buf_data(b), fl_buf_tailroom(b), h, body, len, pad, &n), 0);
    assert_int_equal(fl_buf_set_len(b, n), 0);
    assert_int_equal(fl_rtp_parse(v, fl_buf_data(b), b->len), 0);
    return b;
}

static void test_rtx_unwrap_padding(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    const uint8_t abs[] = { 1, 2, 3 };
    fl_rtp_ext ext = { .id = 2, .data = abs, .len = 3 };
    fl_rtp_header h = { .marker = 1,
                        .payload_type = RTX_PT,
                        .seq = 77,
                        .timestamp = 9000,
                        .ssrc = RTX_SSRC,
                        .csrc_count = 1,
                        .csrcs = { 42 },
                        .exts = &ext,
                        .num_exts = 1 };
    const uint8_t body[] = { 0x12, 0x34, 'a', 'b', 'c' };
    fl_rtp_view v;
    fl_buf *b = make_rtx(pool, &h, body, sizeof(body), 4, &v);
    uint16_t osn;
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 0x1111, 100, &osn), 0);
    assert_int_equal(osn, 0x1234);
    fl_rtp_view u;
    assert_int_equal(fl_rtp_parse(&u, fl_buf_data(b), b->len), 0);
    assert_int_equal(u.padding, 1);
    assert_int_equal(u.pad_len, 4);
    assert_int_equal(u.payload_len, 3);
    assert_memory_equal(u.payload, "abc", 3);
    assert_int_equal(u.seq, 0x1234);
    assert_int_equal(u.ssrc, 0x1111);
    assert_int_equal(u.payload_type, 100);
    assert_int_equal(u.marker, 1);
    assert_int_equal(u.timestamp, 9000);
    assert_int_equal(fl_rtp_view_csrc(&u, 0), 42);
    fl_rtp_ext got;
    assert_int_equal(fl_rtp_ext_find(&u, 2, &got), 0);
    assert_memory_equal(got.data, abs, 3);
    fl_buf_unref(b);

    /* An original with padding: the RTX carries its payload only. */
    fl_nack_history *hist = NULL;
    assert_int_equal(fl_nack_history_create(&hist, NULL), 0);
    fl_rtp_header oh = { .payload_type = 96, .seq = 5, .timestamp = 1, .ssrc = 0x1111 };
    b = make_rtx(pool, &oh, body, sizeof(body), 7, &v);
    fl_nack_history_put(hist, T0, v.seq, v.timestamp, v.marker, b, v.header_len, v.payload_len);
    const fl_nack_history_entry *e = fl_nack_history_resend(hist, T0, 5);
    assert_non_null(e);
    uint8_t out[64];
    size_t n;
    assert_int_equal(fl_nack_rtx_write(out, sizeof(out), &h, e, 1, &n), 0);
    fl_rtp_view rv;
    assert_int_equal(fl_rtp_parse(&rv, out, n), 0);
    assert_int_equal(rv.padding, 0);
    assert_int_equal(rv.payload_len, 2 + sizeof(body));
    assert_int_equal(fl_get_be16(rv.payload), 5);
    assert_memory_equal(rv.payload + 2, body, sizeof(body));
    fl_buf_unref(b);
    fl_nack_history_destroy(hist);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);
}

static void test_rtx_refuses(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_rtp_header h = { .payload_type = RTX_PT, .seq = 1, .ssrc = RTX_SSRC };
    const uint8_t body[] = { 0x00, 0x07, 0xaa };
    uint8_t copy[64];
    uint16_t osn = 0xbeef;
    fl_rtp_view v;

    /* One payload byte: no OSN. */
    fl_buf *b = make_rtx(pool, &h, body, 1, 0, &v);
    memcpy(copy, fl_buf_data(b), b->len);
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 1, 96, &osn), FL_EBADMSG);
    assert_int_equal(b->off, HEADROOM);
    assert_memory_equal(fl_buf_data(b), copy, b->len);
    fl_buf_unref(b);

    /* Padding only (a probe). */
    b = make_rtx(pool, &h, body, 0, 8, &v);
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 1, 96, &osn), FL_EBADMSG);
    fl_buf_unref(b);

    /* Shared: read-only. */
    b = make_rtx(pool, &h, body, sizeof(body), 0, &v);
    memcpy(copy, fl_buf_data(b), b->len);
    fl_buf_ref(b);
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 1, 96, &osn), FL_EBUSY);
    assert_int_equal(b->off, HEADROOM);
    assert_int_equal(b->len, 12 + sizeof(body));
    assert_memory_equal(fl_buf_data(b), copy, b->len);
    fl_buf_unref(b);
    assert_int_equal(osn, 0xbeef);

    /* A view of other bytes, a payload type out of range. */
    fl_rtp_view other;
    assert_int_equal(fl_rtp_parse(&other, copy, 12 + sizeof(body)), 0);
    assert_int_equal(fl_nack_rtx_unwrap(b, &other, 1, 96, &osn), FL_EINVAL);
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 1, 128, &osn), FL_EINVAL);
    assert_int_equal(fl_nack_rtx_unwrap(b, &v, 1, 96, &osn), 0);
    assert_int_equal(osn, 7);
    fl_buf_unref(b);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);
}

/* ---- simulation ----
 *
 * A sender sends SIM_PACKETS media packets at 100 packets/s to a receiver
 * over a link of SIM_DELAY each way that drops packets at random (seeded),
 * media, NACKs and retransmissions alike. The receiver's fl_nack_gen asks
 * (RTCP generic NACK), the sender's fl_nack_history answers with RTX built
 * by fl_nack_rtx_write, the receiver unwraps them in place. Time advances
 * in 1 ms steps; within a step, packets are delivered before anyone polls.
 *
 * The test checks the schedule itself: a packet lost at the gap seen at t0
 * is requested at exactly t0, t0 + RTT, t0 + 2 RTT ... while the answer
 * can come within max_age, and no more once a retransmission is delivered.
 * A packet is answerable when one of its requests and the retransmission
 * it asked for both got through; every answerable packet must be counted
 * recovered, and every other one given up. */

#define SIM_PACKETS    20000
#define SIM_SEQ0       60000 /* wraps in the run */
#define SIM_PERIOD     (10 * MS)
#define SIM_DELAY      (20 * MS)
#define SIM_RTT        (2 * SIM_DELAY)
#define SIM_MAX_AGE    (150 * MS)
#define SIM_RETRIES    10
#define SIM_MEDIA_SSRC 0x11110000u
#define SIM_RTX_SSRC   0x22220000u
#define SIM_RECV_SSRC  0x33330000u
#define SIM_MEDIA_PT   96
#define SIM_PAYLOAD    120
#define SIM_FWD        256
#define SIM_REV        64
#define SIM_POLL       64

typedef struct sim_flight {
    fl_time at;
    fl_buf *buf;
} sim_flight;

typedef struct sim_nack {
    fl_time at;
    size_t len;
    uint8_t data[12 + 4 * SIM_POLL];
} sim_nack;

typedef struct sim_seq {
    fl_time t0;        /* when the receiver could see it missing; 0: not lost or never seen */
    uint8_t lost;      /* the media packet was dropped */
    uint8_t attempts;  /* requests for it */
    uint8_t answered;  /* the attempt whose retransmission got through, 0: none */
    uint8_t recovered; /* the generator counted it recovered */
} sim_seq;

typedef struct sim {
    fl_rand rng;
    uint32_t drop_below;
    fl_buf_pool *pool;
    fl_nack_gen *gen;
    fl_nack_history *hist;
    sim_flight fwd[SIM_FWD];
    size_t fwd_head, fwd_count;
    sim_nack rev[SIM_REV];
    size_t rev_head, rev_count;
    sim_seq seqs[SIM_PACKETS];
    int started;
    size_t next_expected; /* receiver: the media packet after the last delivered */
    uint16_t rtx_seq;
    unsigned lost, detected, requests, nacks, nacks_lost, rtx, rtx_lost, answerable, recovered;
} sim;

static int sim_drop(sim *s)
{
    return fl_rand_u32(&s->rng) < s->drop_below;
}

static size_t sim_index(uint16_t seq)
{
    size_t i = (uint16_t)(seq - SIM_SEQ0);
    assert_true(i < SIM_PACKETS);
    return i;
}

/* The header of media packet i, whose extension bytes live in ast[3]. */
static fl_rtp_header sim_header(size_t i, uint8_t ast[3], fl_rtp_ext *ext)
{
    fl_put_be24(ast, (uint32_t)(i * 2621u));
    *ext = (fl_rtp_ext){ .id = 3, .data = ast, .len = 3 };
    return (fl_rtp_header){ .marker = i % 3 == 0,
                            .payload_type = SIM_MEDIA_PT,
                            .seq = (uint16_t)(SIM_SEQ0 + i),
                            .timestamp = (uint32_t)(i * 900u),
                            .ssrc = SIM_MEDIA_SSRC,
                            .exts = ext,
                            .num_exts = 1 };
}

static size_t sim_media(size_t i, uint8_t *out, size_t cap)
{
    uint8_t ast[3];
    fl_rtp_ext ext;
    fl_rtp_header h = sim_header(i, ast, &ext);
    uint8_t payload[SIM_PAYLOAD];
    for (size_t j = 0; j < sizeof(payload); j++)
        payload[j] = (uint8_t)(i * 31u + j);
    size_t n;
    assert_int_equal(fl_rtp_write(out, cap, &h, payload, sizeof(payload), 0, &n), 0);
    return n;
}

static void sim_forward(sim *s, fl_time now, fl_buf *b)
{
    assert_true(s->fwd_count < SIM_FWD);
    s->fwd[(s->fwd_head + s->fwd_count++) % SIM_FWD] = (sim_flight){ now + SIM_DELAY, b };
}

static void sim_send_media(sim *s, fl_time now, size_t i)
{
    fl_buf *b = fl_buf_pool_get(s->pool);
    assert_non_null(b);
    assert_int_equal(fl_buf_set_len(b, sim_media(i, fl_buf_data(b), fl_buf_tailroom(b))), 0);
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, fl_buf_data(b), b->len), 0);
    fl_nack_history_put(s->hist, now, v.seq, v.timestamp, v.marker, b, v.header_len, v.payload_len);
    if (sim_drop(s)) {
        s->seqs[i].lost = 1;
        s->lost++;
        fl_buf_unref(b);
        return;
    }
    sim_forward(s, now, b); /* our reference travels */
}

static void sim_recv_media(sim *s, fl_time now, const fl_rtp_view *v)
{
    size_t i = sim_index(v->seq);
    if (!s->started) {
        s->started = 1; /* packets lost before the first are not known to be missing */
        s->next_expected = i;
    }
    for (size_t j = s->next_expected; j < i; j++) {
        assert_true(s->seqs[j].lost);
        s->seqs[j].t0 = now;
        s->detected++;
    }
    s->next_expected = i + 1;
    fl_nack_gen_on_packet(s->gen, now, v->seq, 0);
}

static void sim_recv_rtx(sim *s, fl_time now, fl_buf *b, const fl_rtp_view *v)
{
    assert_int_equal(v->ssrc, SIM_RTX_SSRC);
    uint16_t osn;
    assert_int_equal(fl_nack_rtx_unwrap(b, v, SIM_MEDIA_SSRC, SIM_MEDIA_PT, &osn), 0);
    size_t i = sim_index(osn);
    uint8_t want[BUF_SIZE];
    size_t n = sim_media(i, want, sizeof(want));
    assert_int_equal(b->len, n);
    assert_memory_equal(fl_buf_data(b), want, n); /* the original, byte for byte */

    sim_seq *q = &s->seqs[i];
    assert_true(q->lost && q->answered && !q->recovered);
    assert_true(now <= q->t0 + SIM_MAX_AGE);
    uint64_t before = (uint64_t)s->recovered;
    fl_nack_gen_on_packet(s->gen, now, osn, 1);
    fl_nack_gen_stats st;
    fl_nack_gen_get_stats(s->gen, &st);
    assert_int_equal(st.recovered, before + 1);
    q->recovered = 1;
    s->recovered++;
}

static void sim_deliver_forward(sim *s, fl_time now)
{
    while (s->fwd_count && s->fwd[s->fwd_head].at <= now) {
        fl_buf *b = s->fwd[s->fwd_head].buf;
        s->fwd_head = (s->fwd_head + 1) % SIM_FWD;
        s->fwd_count--;
        fl_rtp_view v;
        assert_int_equal(fl_rtp_parse(&v, fl_buf_data(b), b->len), 0);
        if (v.payload_type == SIM_MEDIA_PT)
            sim_recv_media(s, now, &v);
        else
            sim_recv_rtx(s, now, b, &v);
        fl_buf_unref(b);
    }
}

static void sim_send_rtx(sim *s, fl_time now, const fl_nack_history_entry *e)
{
    size_t i = sim_index(e->seq);
    uint8_t ast[3];
    fl_rtp_ext ext;
    fl_rtp_header h = sim_header(i, ast, &ext);
    h.ssrc = SIM_RTX_SSRC;
    h.payload_type = RTX_PT;
    h.seq = s->rtx_seq++;
    fl_buf *b = fl_buf_pool_get(s->pool);
    assert_non_null(b);
    size_t n;
    assert_int_equal(fl_nack_rtx_write(fl_buf_data(b), fl_buf_tailroom(b), &h, e, 1, &n), 0);
    assert_int_equal(fl_buf_set_len(b, n), 0);
    s->rtx++;
    if (sim_drop(s)) {
        s->rtx_lost++;
        fl_buf_unref(b);
        return;
    }
    sim_seq *q = &s->seqs[i];
    assert_int_equal(q->answered, 0);
    q->answered = q->attempts;
    s->answerable++;
    sim_forward(s, now, b);
}

static void sim_deliver_reverse(sim *s, fl_time now)
{
    while (s->rev_count && s->rev[s->rev_head].at <= now) {
        const sim_nack *m = &s->rev[s->rev_head];
        s->rev_head = (s->rev_head + 1) % SIM_REV;
        s->rev_count--;
        fl_rtcp_pkt p;
        fl_rtcp_fb fb;
        assert_int_equal(fl_rtcp_pkt_parse(&p, m->data, m->len), 0);
        assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
        assert_int_equal(fb.media_ssrc, SIM_MEDIA_SSRC);
        uint16_t seqs[SIM_POLL];
        size_t n = fl_rtcp_nack_expand(&fb, seqs, SIM_POLL);
        assert_true(n > 0 && n <= SIM_POLL);
        for (size_t k = 0; k < n; k++) {
            const fl_nack_history_entry *e = fl_nack_history_resend(s->hist, now, seqs[k]);
            assert_non_null(e); /* never throttled, too old or overwritten here */
            sim_send_rtx(s, now, e);
        }
    }
}

/* The receiver's requests, each checked against the schedule. */
static void sim_poll(sim *s, fl_time now)
{
    while (fl_nack_gen_poll_timeout(s->gen) <= now) {
        uint16_t seqs[SIM_POLL];
        size_t n = fl_nack_gen_poll(s->gen, now, seqs, SIM_POLL);
        for (size_t k = 0; k < n; k++) {
            if (k)
                assert_true(fl_rtp_seq_lt(seqs[k - 1], seqs[k]));
            sim_seq *q = &s->seqs[sim_index(seqs[k])];
            assert_true(q->lost && q->t0 && !q->recovered);
            assert_true(q->attempts < SIM_RETRIES);
            assert_int_equal(now, q->t0 + q->attempts * SIM_RTT);
            assert_true(now + SIM_RTT <= q->t0 + SIM_MAX_AGE);
            q->attempts++;
            s->requests++;
        }
        if (n) {
            assert_true(s->rev_count < SIM_REV);
            sim_nack *m = &s->rev[(s->rev_head + s->rev_count) % SIM_REV];
            assert_int_equal(fl_rtcp_nack_write(m->data, sizeof(m->data), SIM_RECV_SSRC,
                                                SIM_MEDIA_SSRC, seqs, n, &m->len),
                             0);
            m->at = now + SIM_DELAY;
            s->nacks++;
            if (sim_drop(s))
                s->nacks_lost++;
            else
                s->rev_count++;
        }
        if (n < SIM_POLL) {
            assert_true(fl_nack_gen_poll_timeout(s->gen) > now); /* no busy loop */
            break;
        }
    }
}

static void sim_check(const sim *s)
{
    /* Requests that could be answered within max_age: at t0, t0 + RTT ... */
    unsigned scheduled = 0;
    while (scheduled < SIM_RETRIES && (scheduled + 1) * SIM_RTT <= SIM_MAX_AGE)
        scheduled++;
    unsigned detected = 0, answerable = 0;
    for (size_t i = 0; i < SIM_PACKETS; i++) {
        const sim_seq *q = &s->seqs[i];
        if (!q->lost || !q->t0) {
            assert_int_equal(q->attempts, 0);
            continue;
        }
        detected++;
        if (q->answered) {
            answerable++;
            assert_true(q->recovered);
            assert_int_equal(q->attempts, q->answered);
        } else {
            assert_false(q->recovered);
            assert_int_equal(q->attempts, scheduled);
        }
    }
    assert_int_equal(detected, s->detected);
    assert_int_equal(answerable, s->answerable);

    fl_nack_gen_stats g;
    fl_nack_gen_get_stats(s->gen, &g);
    assert_int_equal(g.recovered, s->answerable);
    assert_int_equal(g.recovered, s->recovered);
    assert_int_equal(g.given_up, s->detected - s->answerable);
    assert_int_equal(g.requested, s->requests);
    assert_int_equal(g.missing, 0);
    assert_int_equal(g.resets, 0);
    fl_nack_history_stats h;
    fl_nack_history_get_stats(s->hist, &h);
    assert_int_equal(h.stored, SIM_PACKETS);
    assert_int_equal(h.resent, s->rtx);
    assert_int_equal(h.throttled + h.too_old + h.missing, 0);
}

static void sim_run(unsigned loss_percent, uint64_t seed)
{
    sim *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    fl_rand_seeded_init(&s->rng, seed);
    s->drop_below = (uint32_t)(UINT32_MAX / 100 * loss_percent);
    s->rtx_seq = 1000;
    assert_int_equal(fl_buf_pool_create(&s->pool, BUF_SIZE, HEADROOM, 64, 0), 0);
    fl_nack_gen_config gc = { .max_age = SIM_MAX_AGE, .max_retries = SIM_RETRIES };
    assert_int_equal(fl_nack_gen_create(&s->gen, &gc), 0);
    fl_nack_history_config hc = { .capacity = 1024 };
    assert_int_equal(fl_nack_history_create(&s->hist, &hc), 0);
    fl_nack_gen_set_rtt(s->gen, SIM_RTT);
    fl_nack_history_set_rtt(s->hist, SIM_RTT);

    size_t sent = 0;
    for (fl_time now = T0;; now += MS) {
        assert_true(now < T0 + 1000 * FL_TIME_SEC);
        sim_deliver_forward(s, now);
        sim_deliver_reverse(s, now);
        if (sent < SIM_PACKETS && now == T0 + (fl_time)sent * SIM_PERIOD)
            sim_send_media(s, now, sent++);
        sim_poll(s, now);
        if (sent == SIM_PACKETS && !s->fwd_count && !s->rev_count &&
            fl_nack_gen_poll_timeout(s->gen) == FL_TIME_NEVER)
            break;
    }
    sim_check(s);
    printf("nack sim, %u%% loss each way, RTT %d ms, max_age %d ms: %d packets, %u lost "
           "(%u seen missing), %u recovered = %u answerable (%.2f%%), %u given up; "
           "%u NACKs (%u lost) naming %u packets, %u retransmissions (%u lost)\n",
           loss_percent, (int)(SIM_RTT / MS), (int)(SIM_MAX_AGE / MS), SIM_PACKETS, s->lost,
           s->detected, s->recovered, s->answerable,
           s->detected ? 100.0 * s->recovered / s->detected : 100.0, s->detected - s->recovered,
           s->nacks, s->nacks_lost, s->requests, s->rtx, s->rtx_lost);

    fl_nack_history_destroy(s->hist);
    fl_nack_gen_destroy(s->gen);
    assert_int_equal(pool_in_use(s->pool), 0);
    fl_buf_pool_destroy(s->pool);
    free(s);
}

static void test_sim_loss_5(void **state)
{
    (void)state;
    sim_run(5, 0x5eed5);
}

static void test_sim_loss_20(void **state)
{
    (void)state;
    sim_run(20, 0x5eed20);
}

/* Before their first packet (sent, or lost) the rings do not exist yet:
 * lookups, clears and stats work on the empty state, and the first put and
 * gap work as on any other. */
static void test_before_first_packet(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 8, 0), 0);
    fl_nack_history *h = NULL;
    assert_int_equal(fl_nack_history_create(&h, NULL), 0);
    assert_null(fl_nack_history_resend(h, T0, 7));
    fl_nack_history_clear(h);
    fl_nack_history_stats hs;
    fl_nack_history_get_stats(h, &hs);
    assert_int_equal(hs.missing, 1);
    assert_int_equal(hs.stored, 0);
    fl_buf *b = make_packet(pool, 7);
    history_put(h, T0, b);
    fl_buf_unref(b);
    assert_non_null(fl_nack_history_resend(h, T0 + MS, 7));
    fl_nack_history_destroy(h);
    assert_int_equal(pool_in_use(pool), 0);
    fl_buf_pool_destroy(pool);

    fl_nack_gen *g = make_gen(NULL);
    assert_int_equal(fl_nack_gen_on_packet(g, T0, 100, 0), 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0, 100, 0), 0); /* a duplicate */
    assert_int_equal(fl_nack_gen_on_packet(g, T0, 99, 1), 0);  /* never missing */
    assert_int_equal(fl_nack_gen_on_packet(g, T0, 101, 0), 0);
    assert_int_equal(gen_stats(g).missing, 0);
    assert_int_equal(fl_nack_gen_on_packet(g, T0, 104, 0), 0); /* 102, 103 lost */
    assert_int_equal(gen_stats(g).missing, 2);
    assert_int_equal(fl_nack_gen_on_packet(g, T0 + MS, 103, 1), 1);
    assert_int_equal(gen_stats(g).missing, 1);
    fl_nack_gen_destroy(g);
}

/* Resends take the estimate less the media sent, a quarter of it at
 * least, saved up to 250 ms of it. */
static void test_resend_budget(void **state)
{
    (void)state;
    fl_resend_budget b = { 0 };
    assert_int_equal(fl_resend_budget_open(&b, T0, 0, 0), 1); /* no estimate: no limit */
    fl_resend_budget_spend(&b, 100000);
    assert_int_equal(fl_resend_budget_open(&b, T0, 0, 0), 1);

    const uint64_t bps = 800000; /* 100 kB/s: 25 kB saved at most */
    uint32_t media = 0xffffff00u;
    assert_int_equal(fl_resend_budget_open(&b, T0, bps, media), 1);
    assert_int_equal(b.bytes, 25000);
    fl_resend_budget_spend(&b, 25000);
    assert_int_equal(fl_resend_budget_open(&b, T0, bps, media), 0);

    /* 100 ms with 2 kB of media (the count wraps): 8 kB more */
    media += 2000;
    assert_int_equal(fl_resend_budget_open(&b, T0 + 100 * MS, bps, media), 1);
    assert_int_equal(b.bytes, 8000);
    /* media filling the estimate: a quarter of it still */
    media += 10000;
    assert_int_equal(fl_resend_budget_open(&b, T0 + 200 * MS, bps, media), 1);
    assert_int_equal(b.bytes, 10500);
    media += 50000; /* over it */
    assert_int_equal(fl_resend_budget_open(&b, T0 + 300 * MS, bps, media), 1);
    assert_int_equal(b.bytes, 13000);
    fl_resend_budget_spend(&b, 14000);
    assert_int_equal(fl_resend_budget_open(&b, T0 + 300 * MS, bps, media), 0);
    /* saved up to the cap */
    assert_int_equal(fl_resend_budget_open(&b, T0 + 1000 * MS, bps, media), 1);
    assert_int_equal(b.bytes, 25000);
    /* a low estimate still lets two full packets through */
    fl_resend_budget_spend(&b, 25000);
    assert_int_equal(fl_resend_budget_open(&b, T0 + 3000 * MS, 16000, media), 1);
    assert_int_equal(b.bytes, 2400);
    fl_resend_budget_spend(&b, 2400);
    assert_int_equal(fl_resend_budget_open(&b, T0 + 3000 * MS, 16000, media), 0);
    assert_int_equal(fl_resend_budget_open(&b, T0 + 3100 * MS, 16000, media), 1); /* 200 bytes */
    assert_int_equal(b.bytes, 200);
    /* a clock that went back: started afresh */
    assert_int_equal(fl_resend_budget_open(&b, T0 + 2000 * MS, 16000, media), 1);
    assert_int_equal(b.bytes, 2400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_gap_retries),     cmocka_unit_test(test_gen_measured_response),
        cmocka_unit_test(test_gen_age_limit),       cmocka_unit_test(test_gen_wrap),
        cmocka_unit_test(test_gen_reorder),         cmocka_unit_test(test_gen_jump_resets),
        cmocka_unit_test(test_gen_rtx_only_clears), cmocka_unit_test(test_history),
        cmocka_unit_test(test_history_prune),       cmocka_unit_test(test_rtx_round_trip),
        cmocka_unit_test(test_rtx_plain),           cmocka_unit_test(test_rtx_unwrap_padding),
        cmocka_unit_test(test_rtx_refuses),         cmocka_unit_test(test_rtx_head),
        cmocka_unit_test(test_sim_loss_5),          cmocka_unit_test(test_sim_loss_20),
        cmocka_unit_test(test_before_first_packet), cmocka_unit_test(test_resend_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
