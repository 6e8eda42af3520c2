/* net/jitter: order, reorder, loss given up after max_wait, duplicates and
 * late packets, the wrap at 65535, a full buffer, resets (new SSRC,
 * sequence jumps), flush, and every buffer back in its pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/jitter.h"
#include "net/rtp.h"

#include <cmocka.h>

#define MS FL_TIME_MS

static fl_buf_pool *pool;

static int setup(void **state)
{
    (void)state;
    return fl_buf_pool_create(&pool, 1500, 64, 64, 0);
}

static int teardown(void **state)
{
    (void)state;
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(pool, &st);
    fl_buf_pool_destroy(pool);
    return st.in_use == 0 ? 0 : -1; /* a leaked buffer fails the group */
}

static fl_buf *packet(uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    static const uint8_t payload[20] = { 1, 2, 3 };
    fl_rtp_header h = { .payload_type = 96, .seq = seq, .timestamp = ts, .ssrc = ssrc };
    assert_int_equal(fl_rtp_buf_write(b, 0, &h, payload, sizeof(payload)), 0);
    return b;
}

static int push(fl_jitter *j, uint16_t seq, fl_time now)
{
    return fl_jitter_push(j, packet(1234, seq, (uint32_t)seq * 3000), now);
}

/* Pops one packet: its sequence number, or -1 when nothing is ready. */
static int pop(fl_jitter *j, fl_time now, unsigned *lost)
{
    fl_buf *b = NULL;
    unsigned l = 99;
    if (fl_jitter_pop(j, now, &b, &l) != 1)
        return -1;
    assert_non_null(b);
    assert_int_equal((uint16_t)fl_jitter_last_ext_seq(j), b->rtp.seq);
    int seq = b->rtp.seq;
    fl_buf_unref(b);
    if (lost)
        *lost = l;
    else
        assert_int_equal(l, 0);
    return seq;
}

static fl_jitter *make(size_t capacity)
{
    fl_jitter *j = NULL;
    fl_jitter_config c = { .clock_rate = 90000, .capacity = capacity };
    assert_int_equal(fl_jitter_create(&j, &c), 0);
    return j;
}

static void test_in_order(void **state)
{
    (void)state;
    fl_jitter *j = make(0);
    assert_int_equal(fl_jitter_deadline(j), FL_TIME_NEVER);
    assert_int_equal(pop(j, 0, NULL), -1);
    uint64_t prev = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(push(j, (uint16_t)(100 + i), i * MS), 0);
        assert_int_equal(fl_jitter_deadline(j), 0);
        assert_int_equal(pop(j, i * MS, NULL), (uint16_t)(100 + i));
        assert_true(fl_jitter_last_ext_seq(j) == prev + 1 || i == 0);
        prev = fl_jitter_last_ext_seq(j);
        assert_int_equal(pop(j, i * MS, NULL), -1);
    }
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.received, 1000);
    assert_int_equal(st.released, 1000);
    assert_int_equal(st.lost + st.reordered + st.duplicates + st.late + st.resets, 0);
    assert_int_equal(st.held, 0);
    fl_jitter_destroy(j);
}

static void test_reorder(void **state)
{
    (void)state;
    fl_jitter *j = make(0);
    assert_int_equal(push(j, 1, 0), 0);
    assert_int_equal(push(j, 3, 5 * MS), 0);
    assert_int_equal(pop(j, 5 * MS, NULL), 1);
    assert_int_equal(pop(j, 5 * MS, NULL), -1); /* 2 is awaited */
    assert_int_equal(fl_jitter_deadline(j), 5 * MS + FL_JITTER_DEF_MAX_WAIT);
    assert_int_equal(push(j, 2, 30 * MS), 0);
    assert_int_equal(fl_jitter_deadline(j), 0);
    assert_int_equal(pop(j, 30 * MS, NULL), 2);
    assert_int_equal(pop(j, 30 * MS, NULL), 3);
    assert_int_equal(fl_jitter_deadline(j), FL_TIME_NEVER);
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.reordered, 1);
    assert_int_equal(st.lost, 0);
    fl_jitter_destroy(j);
}

/* The wait runs from the arrival of the first packet that showed the gap,
 * not from the later ones. */
static void test_loss_given_up(void **state)
{
    (void)state;
    fl_jitter *j = make(0);
    assert_int_equal(push(j, 10, 0), 0);
    assert_int_equal(pop(j, 0, NULL), 10);
    assert_int_equal(push(j, 14, 50 * MS), 0);
    assert_int_equal(push(j, 13, 100 * MS), 0);
    assert_int_equal(fl_jitter_deadline(j), 200 * MS);
    assert_int_equal(pop(j, 199 * MS, NULL), -1);
    unsigned lost = 0;
    assert_int_equal(pop(j, 200 * MS, &lost), 13);
    assert_int_equal(lost, 2);
    assert_int_equal(pop(j, 200 * MS, NULL), 14);
    /* a retransmission that comes too late */
    assert_int_equal(push(j, 12, 210 * MS), FL_ERANGE);
    assert_int_equal(push(j, 11, 210 * MS), FL_ERANGE);
    /* a second gap after a given-up one waits its own time */
    assert_int_equal(push(j, 16, 300 * MS), 0);
    assert_int_equal(pop(j, 449 * MS, NULL), -1);
    assert_int_equal(pop(j, 450 * MS, &lost), 16);
    assert_int_equal(lost, 1);
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.lost, 3);
    assert_int_equal(st.late, 2);
    fl_jitter_destroy(j);

    /* a configured wait */
    fl_jitter_config c = { .max_wait = 20 * MS };
    assert_int_equal(fl_jitter_create(&j, &c), 0);
    push(j, 1, 0);
    push(j, 3, 0);
    assert_int_equal(pop(j, 0, NULL), 1);
    assert_int_equal(fl_jitter_deadline(j), 20 * MS);
    fl_jitter_destroy(j); /* still holding 3: released here */
}

static void test_duplicates(void **state)
{
    (void)state;
    fl_jitter *j = make(0);
    assert_int_equal(push(j, 5, 0), 0);
    assert_int_equal(push(j, 7, 0), 0);
    assert_int_equal(push(j, 7, 1), FL_EEXIST);
    assert_int_equal(push(j, 5, 1), FL_EEXIST);
    assert_int_equal(pop(j, 1, NULL), 5);
    assert_int_equal(push(j, 5, 2), FL_ERANGE); /* a duplicate of one released */
    assert_int_equal(push(j, 6, 2), 0);
    assert_int_equal(pop(j, 2, NULL), 6);
    assert_int_equal(pop(j, 2, NULL), 7);
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.received, 6);
    assert_int_equal(st.released, 3);
    /* a buffer with no RTP note is refused (and given back) */
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_jitter_push(j, b, 3), FL_EINVAL);
    fl_jitter_destroy(j);
}

static void test_wrap(void **state)
{
    (void)state;
    fl_jitter *j = make(64);
    static const int order[] = { 0, 2, 1, 3, 5, 4, 6, 9, 7, 8, 10, 11 };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        assert_int_equal(push(j, (uint16_t)(65530 + order[i]), 0), 0);
    uint64_t first = 0;
    for (int i = 0; i < 12; i++) {
        assert_int_equal(pop(j, 0, NULL), (uint16_t)(65530 + i));
        if (i == 0)
            first = fl_jitter_last_ext_seq(j);
        assert_true(fl_jitter_last_ext_seq(j) == first + (uint64_t)i);
    }
    assert_int_equal(pop(j, FL_TIME_SEC, NULL), -1);
    fl_jitter_destroy(j);
}

/* Capacity 8: a packet 8 or more ahead of the next to release makes room
 * at once, whatever the wait. */
static void test_full(void **state)
{
    (void)state;
    fl_jitter *j = make(8);
    for (int s = 0; s < 8; s++)
        if (s != 1)
            assert_int_equal(push(j, (uint16_t)s, 0), 0);
    assert_int_equal(push(j, 8, 1), 0); /* 0 goes out */
    assert_int_equal(push(j, 9, 2), 0); /* 1 given up */
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.overflows, 2);
    assert_int_equal(st.held, 9);
    assert_int_equal(fl_jitter_deadline(j), 0);
    unsigned lost = 0;
    assert_int_equal(pop(j, 2, NULL), 0);
    assert_int_equal(pop(j, 2, &lost), 2);
    assert_int_equal(lost, 1);
    for (int s = 3; s <= 9; s++)
        assert_int_equal(pop(j, 2, NULL), s);
    /* a jump of one capacity: everything held goes, the gap counted */
    push(j, 10, 3);
    push(j, 12, 3);
    push(j, 20, 3);
    assert_int_equal(pop(j, 3, NULL), 10);
    assert_int_equal(pop(j, 3, &lost), 12);
    assert_int_equal(lost, 1);
    assert_int_equal(pop(j, 3, NULL), -1); /* 13..19 still awaited */
    assert_int_equal(pop(j, 3 + FL_JITTER_DEF_MAX_WAIT, &lost), 20);
    assert_int_equal(lost, 7);
    fl_jitter_destroy(j);
}

static void test_reset(void **state)
{
    (void)state;
    fl_jitter *j = make(16);
    push(j, 100, 0);
    push(j, 102, 0);
    assert_int_equal(pop(j, 0, NULL), 100);
    uint64_t before = fl_jitter_last_ext_seq(j);
    /* a new SSRC: 102 goes first, with its gap, then the new stream */
    assert_int_equal(fl_jitter_push(j, packet(999, 7000, 5), 1), 0);
    assert_int_equal(fl_jitter_push(j, packet(999, 7001, 5), 1), 0);
    unsigned lost = 0;
    assert_int_equal(pop(j, 1, &lost), 102);
    assert_int_equal(lost, 1);
    assert_int_equal(pop(j, 1, &lost), 7000);
    assert_int_equal(lost, 0);
    assert_true(fl_jitter_last_ext_seq(j) >= before + 65536);
    assert_int_equal(pop(j, 1, NULL), 7001);
    /* a jump far beyond capacity on the same SSRC, forward then back */
    assert_int_equal(fl_jitter_push(j, packet(999, 7003, 5), 2), 0);
    assert_int_equal(fl_jitter_push(j, packet(999, 7003 + 32, 5), 2), 0);
    assert_int_equal(fl_jitter_push(j, packet(999, 7003 + 33, 5), 2), 0);
    assert_int_equal(pop(j, 2, &lost), 7003);
    assert_int_equal(lost, 1);
    uint64_t e = fl_jitter_last_ext_seq(j);
    assert_int_equal(pop(j, 2, &lost), 7035);
    assert_int_equal(lost, 0);
    assert_true(fl_jitter_last_ext_seq(j) >= e + 65536);
    assert_int_equal(pop(j, 2, NULL), 7036);
    assert_int_equal(fl_jitter_push(j, packet(999, 7036 - 40, 5), 3), 0); /* back by 40 */
    assert_int_equal(pop(j, 3, NULL), 7036 - 40);
    assert_int_equal(fl_jitter_push(j, packet(999, 7036 - 50, 5), 3),
                     FL_ERANGE); /* back by 11: late */
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.resets, 3);
    assert_int_equal(st.late, 1);
    fl_jitter_destroy(j);
}

static void test_flush_and_span(void **state)
{
    (void)state;
    fl_jitter *j = make(0);
    push(j, 1, 0);
    push(j, 4, 0);
    push(j, 7, 0);
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.held, 3);
    assert_int_equal(st.held_span, 6 * 3000);
    assert_int_equal(st.held_ms, 200);
    fl_jitter_flush(j);
    assert_int_equal(fl_jitter_deadline(j), 0);
    unsigned lost = 0;
    assert_int_equal(pop(j, 0, NULL), 1);
    assert_int_equal(pop(j, 0, &lost), 4);
    assert_int_equal(lost, 2);
    assert_int_equal(pop(j, 0, &lost), 7);
    assert_int_equal(lost, 2);
    assert_int_equal(pop(j, 0, NULL), -1);
    assert_int_equal(fl_jitter_deadline(j), FL_TIME_NEVER);
    /* the stream goes on after a flush */
    assert_int_equal(push(j, 8, 1), 0);
    assert_int_equal(pop(j, 1, NULL), 8);
    fl_jitter_destroy(j);
}

/* The release queue holds twice the capacity: past that, the oldest
 * released packets are dropped (counted) rather than kept without bound. */
static void test_queue_bound(void **state)
{
    (void)state;
    fl_jitter *j = make(4);
    for (int i = 0; i < 40; i++)
        push(j, (uint16_t)i, 0);
    fl_jitter_stats st;
    fl_jitter_get_stats(j, &st);
    assert_int_equal(st.held, 4 + 8);
    assert_int_equal(st.dropped, 40 - 12);
    unsigned lost = 0;
    assert_int_equal(pop(j, 0, &lost), 28);
    assert_int_equal(lost, 28); /* 0..27 dropped */
    assert_int_equal(pop(j, 0, &lost), 29);
    assert_int_equal(lost, 0);
    fl_jitter_destroy(j);
}

static void test_create(void **state)
{
    (void)state;
    fl_jitter *j = NULL;
    assert_int_equal(fl_jitter_create(&j, &(fl_jitter_config){ .max_wait = -1 }), FL_EINVAL);
    assert_int_equal(fl_jitter_create(NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_jitter_create(&j, NULL), 0);
    assert_int_equal(fl_jitter_deadline(j), FL_TIME_NEVER);
    fl_jitter_destroy(j);
    fl_jitter_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),      cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_loss_given_up), cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_wrap),          cmocka_unit_test(test_full),
        cmocka_unit_test(test_reset),         cmocka_unit_test(test_flush_and_span),
        cmocka_unit_test(test_queue_bound),   cmocka_unit_test(test_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
