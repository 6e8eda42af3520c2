/* net/rewrite's fl_rewrite_skip: packets dropped on purpose leave no
 * sequence number gap; late packets around skips get the numbers they
 * would have had; late skips, duplicates, other sources, a switch, and
 * more skips than are remembered. (test_rewrite.c, untouched, shows that a
 * caller that never skips gets what it got before.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "net/rewrite.h"
#include "net/rtp.h"

#include <cmocka.h>

#define T0    FL_TIME_SEC
#define MS    FL_TIME_MS
#define OURS  0x0a0b0c0du
#define PT    96
#define SRC_A 0x11111111u
#define SRC_B 0x22222222u

static fl_rewrite make(void)
{
    fl_rewrite rw;
    fl_rewrite_config c = {
        .ssrc = OURS, .payload_type = PT, .clock_rate = 90000, .seq0 = 1000, .ts0 = 5000
    };
    fl_rewrite_init(&rw, &c);
    return rw;
}

static fl_buf_rtp pkt(uint32_t ssrc, uint16_t seq)
{
    return (fl_buf_rtp){
        .ssrc = ssrc, .seq = seq, .timestamp = seq * 3000u, .payload_type = 100, .parsed = 1
    };
}

/* The sequence number a packet goes out with; -1 when it is dropped. */
static int out(fl_rewrite *rw, uint32_t ssrc, uint16_t seq)
{
    fl_rtp_header h = { .csrc_count = 0 };
    fl_buf_rtp in = pkt(ssrc, seq);
    if (!fl_rewrite_packet(rw, T0 + seq * MS, &in, &h))
        return -1;
    assert_int_equal(h.ssrc, OURS);
    return h.seq;
}

static int skip_pkt(fl_rewrite *rw, uint32_t ssrc, uint16_t seq)
{
    fl_buf_rtp in = pkt(ssrc, seq);
    return fl_rewrite_skip(rw, &in);
}

/* In order: every skip closes up, the numbers sent stay consecutive. */
static void test_skip_in_order(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    int next = 1000;
    for (uint16_t s = 100; s < 200; s++) {
        if (s % 3 == 2) {
            assert_int_equal(skip_pkt(&rw, SRC_A, s), 1);
            continue;
        }
        assert_int_equal(out(&rw, SRC_A, s), next++);
    }
    assert_int_equal(rw.skipped, 33);
    /* a duplicate of a skipped packet: nothing more to close */
    assert_int_equal(skip_pkt(&rw, SRC_A, 197), 0);
    assert_int_equal(out(&rw, SRC_A, 200), next++);
    /* timestamps are not touched by skips */
    fl_rtp_header h;
    fl_buf_rtp in = pkt(SRC_A, 201);
    assert_int_equal(fl_rewrite_packet(&rw, T0, &in, &h), 1);
    assert_int_equal(h.timestamp, 5000u + 101u * 3000u);
}

/* Late packets around skips: one older than a skip gets the number it
 * would have had in order; a packet lost upstream keeps its place; a late
 * packet that is skipped leaves its number unused (the peer sees a loss). */
static void test_late_around_skips(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    assert_int_equal(out(&rw, SRC_A, 100), 1000);
    assert_int_equal(out(&rw, SRC_A, 102), 1002); /* 101 late */
    assert_int_equal(skip_pkt(&rw, SRC_A, 103), 1);
    assert_int_equal(out(&rw, SRC_A, 105), 1004); /* 104 late */
    assert_int_equal(out(&rw, SRC_A, 101), 1001);
    assert_int_equal(out(&rw, SRC_A, 104), 1003);
    assert_int_equal(out(&rw, SRC_A, 101), 1001); /* a duplicate: its number again */
    /* 107 late, then skipped: 1006 stays unused */
    assert_int_equal(out(&rw, SRC_A, 106), 1005);
    assert_int_equal(out(&rw, SRC_A, 108), 1007);
    assert_int_equal(skip_pkt(&rw, SRC_A, 107), 0);
    assert_int_equal(out(&rw, SRC_A, 109), 1008);
    assert_int_equal(rw.skipped, 1);
}

/* Nothing to close: before anything, another source, another payload
 * type, a packet not parsed. */
static void test_skip_nothing_to_close(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    assert_int_equal(skip_pkt(&rw, SRC_A, 100), 0);
    assert_int_equal(out(&rw, SRC_A, 101), 1000);
    assert_int_equal(skip_pkt(&rw, SRC_B, 500), 0);
    fl_rewrite_set_source_pt(&rw, 100);
    fl_buf_rtp in = pkt(SRC_A, 102);
    in.payload_type = 101;
    assert_int_equal(fl_rewrite_skip(&rw, &in), 0);
    in.payload_type = 100;
    in.parsed = 0;
    assert_int_equal(fl_rewrite_skip(&rw, &in), 0);
    assert_int_equal(out(&rw, SRC_A, 102), 1001);
    assert_int_equal(rw.skipped, 0);
}

/* A switch: the new source goes on next after the highest sent whatever
 * was skipped before; its own skips close up; a packet older than its
 * first is stale, skips or not. */
static void test_skip_across_switch(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    assert_int_equal(out(&rw, SRC_A, 100), 1000);
    assert_int_equal(skip_pkt(&rw, SRC_A, 101), 1);
    assert_int_equal(skip_pkt(&rw, SRC_B, 4000), 0); /* B's first, skipped */
    fl_rtp_header h;
    fl_buf_rtp in = pkt(SRC_B, 4001);
    in.timestamp = 100 * 3000u;
    assert_int_equal(fl_rewrite_packet(&rw, T0 + 200 * MS, &in, &h), 1);
    assert_int_equal(h.seq, 1001);
    assert_int_equal(skip_pkt(&rw, SRC_B, 4002), 1);
    in = pkt(SRC_B, 4003);
    in.timestamp = 100 * 3000u;
    assert_int_equal(fl_rewrite_packet(&rw, T0 + 201 * MS, &in, &h), 1);
    assert_int_equal(h.seq, 1002);
    uint64_t stale = rw.stale;
    in = pkt(SRC_B, 4000);
    assert_int_equal(fl_rewrite_packet(&rw, T0 + 202 * MS, &in, &h), 0);
    assert_int_equal(rw.stale, stale + 1);
}

/* More skips than remembered: a late packet older than the forgotten ones
 * is dropped as stale; one after them still gets its number. */
static void test_skip_forgotten(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    assert_int_equal(out(&rw, SRC_A, 100), 1000);
    /* 101 late; 102 .. 102+SKIPS+4 skipped, with 110 late too */
    uint16_t s = 102;
    for (int n = 0; n < FL_REWRITE_SKIPS + 5; n++, s++) {
        if (s == 110)
            s++;
        assert_int_equal(skip_pkt(&rw, SRC_A, s), 1);
    }
    assert_int_equal(out(&rw, SRC_A, s), 1003); /* 101 and 110 counted in */
    uint64_t stale = rw.stale;
    assert_int_equal(out(&rw, SRC_A, 101), -1);
    assert_int_equal(rw.stale, stale + 1);
    assert_true(rw.skip_lost);
    /* 110: after the forgotten skips (102 .. 106): the kept ones after it
     * (111 .. 171) counted back */
    assert_int_equal(out(&rw, SRC_A, 110), 1002);
}

/* A source that numbers afresh far behind: the skips before do not count
 * for it, and the numbering goes on as without skips. */
static void test_skip_then_jump(void **state)
{
    (void)state;
    fl_rewrite rw = make();
    assert_int_equal(out(&rw, SRC_A, 20000), 1000);
    assert_int_equal(skip_pkt(&rw, SRC_A, 20001), 1);
    assert_int_equal(out(&rw, SRC_A, 20002), 1001);
    fl_rewrite plain = make();
    assert_int_equal(out(&plain, SRC_A, 20000), 1000);
    assert_int_equal(out(&plain, SRC_A, 20002), 1002);
    /* 10000 behind: both map it at their fixed offset */
    assert_int_equal(out(&rw, SRC_A, 10000), (uint16_t)(1000 + 10000 - 20000 - 1));
    assert_int_equal(out(&plain, SRC_A, 10000), (uint16_t)(1000 + 10000 - 20000));
    assert_int_equal(out(&rw, SRC_A, 10001), (uint16_t)(1000 + 10001 - 20000 - 1));
}

/* Seeded reordering (each packet up to 3 places late) with every third
 * packet skipped: each packet sent gets its in-order number less the skips
 * that took effect before it, and no number is sent twice. */
static void test_skip_reordered_model(void **state)
{
    (void)state;

    enum {
        N = 3000
    };

    static uint16_t order[N];
    static uint8_t used[N];
    for (int i = 0; i < N; i++)
        order[i] = (uint16_t)(65000 + i); /* wraps */
    uint32_t r = 12345;
    for (int i = 0; i + 1 < N; i++) {
        r = r * 1103515245u + 12345u;
        int j = i + (int)((r >> 16) % 4);
        if (j < N) {
            uint16_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    fl_rewrite rw = make();
    /* the reference: a skip takes effect when it is the newest seen */
    static uint8_t effective[N];
    memset(effective, 0, sizeof(effective));
    memset(used, 0, sizeof(used));
    uint16_t high = order[0];
    int first = order[0] - 65000;
    for (int i = 0; i < N; i++) {
        uint16_t s = order[i];
        int k = (uint16_t)(s - 65000);
        int newer = fl_rtp_seq_lt(high, s);
        if (newer)
            high = s;
        if (k % 3 == 1 && k != first) {
            assert_int_equal(skip_pkt(&rw, SRC_A, s), newer);
            effective[k] = (uint8_t)newer;
            continue;
        }
        fl_rtp_header h;
        fl_buf_rtp in = pkt(SRC_A, s);
        assert_int_equal(fl_rewrite_packet(&rw, T0, &in, &h), 1);
        int before = 0;
        for (int j = first < k ? first : k; j < k; j++)
            before += effective[j];
        int want = (1000 + k - first - before) & 0xffff;
        assert_int_equal(h.seq, want);
        int at = (uint16_t)(h.seq - 1000) % N;
        assert_int_equal(used[at], 0);
        used[at] = 1;
    }
    uint64_t took = 0;
    for (int k = 0; k < N; k++)
        took += effective[k];
    assert_int_equal(rw.skipped, took);
    assert_true(took > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_in_order),         cmocka_unit_test(test_late_around_skips),
        cmocka_unit_test(test_skip_nothing_to_close), cmocka_unit_test(test_skip_across_switch),
        cmocka_unit_test(test_skip_forgotten),        cmocka_unit_test(test_skip_then_jump),
        cmocka_unit_test(test_skip_reordered_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
