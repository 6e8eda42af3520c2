/* net/rewrite: one outgoing stream's numbering over a changing source
 * (continuity over a switch and back, wrap-around, reordering, duplicates,
 * a long pause, stragglers, payload types), and the RTP header noted in
 * the buffer (net/rtp's fl_rtp_buf_parse, _note, _write) that it reads on
 * the way in and the transport reads on the way out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/rewrite.h"
#include "net/rtp.h"

#include <cmocka.h>

#define T0    FL_TIME_SEC
#define MS    FL_TIME_MS
#define OURS  0x0a0b0c0du
#define PT    96
#define CLOCK 90000u
#define SRC_A 0x11111111u
#define SRC_B 0x22222222u

static fl_rewrite make(uint16_t seq0, uint32_t ts0)
{
    fl_rewrite rw;
    fl_rewrite_config c = {
        .ssrc = OURS, .payload_type = PT, .clock_rate = CLOCK, .seq0 = seq0, .ts0 = ts0
    };
    fl_rewrite_init(&rw, &c);
    return rw;
}

static fl_buf_rtp pkt(uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    return (fl_buf_rtp){
        .ssrc = ssrc, .seq = seq, .timestamp = ts, .payload_type = 100, .parsed = 1
    };
}

/* Rewrites one packet that must go out; returns its header. */
static fl_rtp_header out(fl_rewrite *rw, fl_time now, fl_buf_rtp in)
{
    fl_rtp_header h = { .csrc_count = 0 };
    assert_int_equal(fl_rewrite_packet(rw, now, &in, &h), 1);
    assert_int_equal(h.ssrc, OURS);
    assert_int_equal(h.payload_type, PT);
    return h;
}

/* The stream starts at the caller's values whatever the source's; within
 * the source every packet keeps its distance from the first. */
static void test_start_and_one_source(void **state)
{
    (void)state;
    fl_rewrite rw = make(1000, 500000);
    assert_false(rw.started);
    fl_buf_rtp in = pkt(SRC_A, 40000, 7777);
    in.marker = 1;
    fl_rtp_header h = out(&rw, T0, in);
    assert_int_equal(h.seq, 1000);
    assert_int_equal(h.timestamp, 500000);
    assert_int_equal(h.marker, 1);
    assert_true(rw.started);
    for (uint16_t i = 1; i < 50; i++) {
        h = out(&rw, T0 + i * 20 * MS, pkt(SRC_A, (uint16_t)(40000 + i), 7777 + i * 1800u));
        assert_int_equal(h.seq, 1000 + i);
        assert_int_equal(h.timestamp, 500000 + i * 1800u);
        assert_int_equal(h.marker, 0);
    }
    assert_int_equal(rw.switches, 0);
    /* a sender report 10 ms after the last packet: 900 ticks on */
    assert_int_equal(fl_rewrite_timestamp_at(&rw, T0 + 49 * 20 * MS + 10 * MS),
                     500000 + 49 * 1800u + 900);
}

/* A new source continues the numbering: the next sequence number, the
 * timestamp advanced by the wall time since the last packet. */
static void test_switch_continuity(void **state)
{
    (void)state;
    fl_rewrite rw = make(100, 1000);
    for (uint16_t i = 0; i < 10; i++)
        out(&rw, T0 + i * 33 * MS, pkt(SRC_A, (uint16_t)(5000 + i), 3000u * i));
    /* last: seq 109, ts 1000 + 27000 at T0 + 297 ms; B 40 ms later */
    fl_rtp_header h = out(&rw, T0 + 337 * MS, pkt(SRC_B, 61000, 123456789));
    assert_int_equal(h.seq, 110);
    assert_int_equal(h.timestamp, 1000 + 27000 + 3600);
    assert_int_equal(rw.switches, 1);
    h = out(&rw, T0 + 370 * MS, pkt(SRC_B, 61001, 123456789 + 3000));
    assert_int_equal(h.seq, 111);
    assert_int_equal(h.timestamp, 1000 + 27000 + 3600 + 3000);
    /* the same instant: one step of the stream on (a frame: 3000 ticks),
     * never the last frame's timestamp nor next to it */
    h = out(&rw, T0 + 370 * MS, pkt(SRC_A, 5010, 30000));
    assert_int_equal(h.seq, 112);
    assert_int_equal(h.timestamp, 1000 + 27000 + 3600 + 3000 + 3000);
    assert_int_equal(rw.switches, 2);
}

/* Sequence numbers wrap at 65535, timestamps at 2^32, in the source's
 * numbering, in ours, and across a switch. */
static void test_wrap(void **state)
{
    (void)state;
    fl_rewrite rw = make(65533, 0xffffff00u);
    fl_rtp_header h;
    for (uint32_t i = 0; i < 6; i++) {
        h = out(&rw, T0 + (fl_time)i * 10 * MS,
                pkt(SRC_A, (uint16_t)(65534 + i), 0xffffffc0u + i * 90));
        assert_int_equal(h.seq, (uint16_t)(65533 + i));
        assert_int_equal(h.timestamp, (uint32_t)(0xffffff00u + i * 90));
    }
    assert_int_equal(rw.last_seq, 2);
    assert_int_equal(rw.last_ts, 450 - 0x100);
    /* a late one from before the wrap keeps its place */
    h = out(&rw, T0 + 55 * MS, pkt(SRC_A, 65535, 0xffffffc0u + 90));
    assert_int_equal(h.seq, 65534);
    assert_int_equal(rw.last_seq, 2);
    /* a switch with the source's numbers about to wrap too */
    rw = make(65535, 0xfffffff0u);
    out(&rw, T0, pkt(SRC_A, 1, 1));
    h = out(&rw, T0 + 1 * MS, pkt(SRC_B, 65535, 0xffffffffu));
    assert_int_equal(h.seq, 0);
    assert_int_equal(h.timestamp, 0xfffffff0u + 90);
    h = out(&rw, T0 + 2 * MS, pkt(SRC_B, 0, 89));
    assert_int_equal(h.seq, 1);
    assert_int_equal(h.timestamp, 0xfffffff0u + 90 + 90);
}

/* Reordered packets of one source keep their numbers and do not move the
 * highest sent: what follows, a report or a switch, goes on from it. */
static void test_reordering(void **state)
{
    (void)state;
    fl_rewrite rw = make(10, 0);
    out(&rw, T0, pkt(SRC_A, 200, 0));
    out(&rw, T0 + 20 * MS, pkt(SRC_A, 203, 5400));
    fl_rtp_header h = out(&rw, T0 + 30 * MS, pkt(SRC_A, 201, 1800));
    assert_int_equal(h.seq, 11);
    assert_int_equal(h.timestamp, 1800);
    h = out(&rw, T0 + 40 * MS, pkt(SRC_A, 202, 3600));
    assert_int_equal(h.seq, 12);
    assert_int_equal(rw.last_seq, 13);
    assert_int_equal(rw.last_ts, 5400);
    assert_int_equal(rw.last_time, T0 + 20 * MS);
    /* a source whose first packets came reordered: nothing before the
     * first source's first is dropped (no number was sent there) */
    h = out(&rw, T0 + 45 * MS, pkt(SRC_A, 199, 0));
    assert_int_equal(h.seq, 9);
    assert_int_equal(rw.stale, 0);
    /* the switch continues from the highest, timed from when it went */
    h = out(&rw, T0 + 60 * MS, pkt(SRC_B, 7, 7));
    assert_int_equal(h.seq, 14);
    assert_int_equal(h.timestamp, 5400 + 3600);
}

/* A duplicate goes out with its original's numbers and changes nothing. */
static void test_duplicates(void **state)
{
    (void)state;
    fl_rewrite rw = make(300, 9000);
    out(&rw, T0, pkt(SRC_A, 1, 100));
    out(&rw, T0 + 20 * MS, pkt(SRC_A, 2, 1900));
    fl_rtp_header h = out(&rw, T0 + 25 * MS, pkt(SRC_A, 2, 1900));
    assert_int_equal(h.seq, 301);
    assert_int_equal(h.timestamp, 9000 + 1800);
    h = out(&rw, T0 + 26 * MS, pkt(SRC_A, 1, 100));
    assert_int_equal(h.seq, 300);
    assert_int_equal(h.timestamp, 9000);
    assert_int_equal(rw.last_seq, 301);
    assert_int_equal(rw.last_ts, 9000 + 1800);
    assert_int_equal(rw.last_time, T0 + 20 * MS);
    assert_int_equal(rw.src_span, 2);
    assert_int_equal(rw.switches + rw.stale, 0);
    h = out(&rw, T0 + 40 * MS, pkt(SRC_A, 3, 3700));
    assert_int_equal(h.seq, 302);
}

/* Back to the first source: a change like any other, the numbering goes
 * on (its old deltas would jump back to where it left). */
static void test_switch_back(void **state)
{
    (void)state;
    fl_rewrite rw = make(0, 0);
    for (uint16_t i = 0; i < 5; i++)
        out(&rw, T0 + i * 10 * MS, pkt(SRC_A, (uint16_t)(100 + i), 900u * i));
    for (uint16_t i = 0; i < 5; i++)
        out(&rw, T0 + (50 + i * 10) * MS, pkt(SRC_B, (uint16_t)(9000 + i), 50000 + 900u * i));
    /* A's last: 4, 3600 at 40 ms; B's first 10 ms later, its last: 9 */
    assert_int_equal(rw.last_seq, 9);
    assert_int_equal(rw.last_ts, 3600 + 900 + 3600);
    fl_rtp_header h = out(&rw, T0 + 100 * MS, pkt(SRC_A, 105, 4500));
    assert_int_equal(h.seq, 10);
    assert_int_equal(h.timestamp, 8100 + 900);
    h = out(&rw, T0 + 110 * MS, pkt(SRC_A, 106, 5400));
    assert_int_equal(h.seq, 11);
    assert_int_equal(h.timestamp, 9000 + 900);
    assert_int_equal(rw.switches, 2);
}

/* A long pause before a switch shows as that much time in the timestamps
 * (the peer's jitter buffer plays on from the right instant); within one
 * source the source's own clock says how long it paused. */
static void test_long_pause(void **state)
{
    (void)state;
    fl_rewrite rw = make(0, 1000);
    out(&rw, T0, pkt(SRC_A, 1, 0));
    fl_rtp_header h = out(&rw, T0 + 10 * FL_TIME_SEC, pkt(SRC_A, 2, 90000u * 10));
    assert_int_equal(h.timestamp, 1000 + 900000);
    h = out(&rw, T0 + 3610 * FL_TIME_SEC, pkt(SRC_B, 1, 1));
    assert_int_equal(h.seq, 2);
    assert_int_equal(h.timestamp, (uint32_t)(1000 + 900000 + 90000ull * 3600));
    assert_int_equal(fl_rewrite_timestamp_at(&rw, T0 + 3611 * FL_TIME_SEC),
                     (uint32_t)(1000 + 900000 + 90000ull * 3601));
}

/* After a switch, a packet of the new source from before its first one
 * would take a number already sent for the old source: dropped. Later
 * ones fill the new source's own gaps. */
static void test_stragglers_after_switch(void **state)
{
    (void)state;
    fl_rewrite rw = make(500, 0);
    for (uint16_t i = 0; i < 4; i++)
        out(&rw, T0 + i * 10 * MS, pkt(SRC_A, i, 900u * i)); /* 500..503 */
    out(&rw, T0 + 40 * MS, pkt(SRC_B, 1000, 0));             /* 504 */
    fl_rtp_header h;
    fl_buf_rtp late = pkt(SRC_B, 999, 0);
    assert_int_equal(fl_rewrite_packet(&rw, T0 + 41 * MS, &late, &h), 0);
    assert_int_equal(rw.stale, 1);
    out(&rw, T0 + 50 * MS, pkt(SRC_B, 1003, 2700)); /* 507 */
    h = out(&rw, T0 + 51 * MS, pkt(SRC_B, 1001, 900));
    assert_int_equal(h.seq, 505);
    late = pkt(SRC_B, 998, 0);
    assert_int_equal(fl_rewrite_packet(&rw, T0 + 52 * MS, &late, &h), 0);
    /* far enough behind to be the source's own jump, not a straggler */
    h = out(&rw, T0 + 53 * MS, pkt(SRC_B, (uint16_t)(1003 - FL_RTP_MAX_DROPOUT - 1), 0));
    assert_int_equal(h.seq, (uint16_t)(507 - FL_RTP_MAX_DROPOUT - 1));
    assert_int_equal(rw.stale, 2);
    /* once the source has sent half the sequence space, nothing is stale
     * (its count saturates: it never wraps back to a few) */
    for (uint32_t i = 1; i <= 0x10010; i++)
        out(&rw, T0 + 60 * MS, pkt(SRC_B, (uint16_t)(1003 + i), 2700));
    assert_int_equal(rw.src_span, 0x8000);
    h = out(&rw, T0 + 60 * MS, pkt(SRC_B, (uint16_t)(1003 + 0x10010 - 100), 2700));
    assert_int_equal(h.seq, (uint16_t)(507 + 0x10010 - 100));
    assert_int_equal(rw.stale, 2);
}

/* Only the source's payload type goes, as ours; unparsed buffers never. */
static void test_payload_types(void **state)
{
    (void)state;
    fl_rewrite rw = make(0, 0);
    fl_rtp_header h;
    fl_buf_rtp in = pkt(SRC_A, 1, 0);
    in.payload_type = 101;
    out(&rw, T0, in); /* -1 at first: any */
    fl_rewrite_set_source_pt(&rw, 100);
    assert_int_equal(fl_rewrite_packet(&rw, T0, &in, &h), 0);
    assert_int_equal(rw.other_pt, 1);
    in.payload_type = 100;
    in.seq = 2;
    h = out(&rw, T0, in);
    assert_int_equal(h.seq, 1);
    in.parsed = 0;
    in.seq = 3;
    assert_int_equal(fl_rewrite_packet(&rw, T0, &in, &h), 0);
    assert_int_equal(rw.last_seq, 1);
}

/* VP8 with Chromium's one-byte extensions and 4 bytes of padding. */
static const uint8_t vp8_pkt[] = {
    0xb0, 0xe0, 0x12, 0x34, 0x00, 0x01, 0x02, 0x03, 0xca, 0xfe, 0xba, 0xbe, /* V=2 P X M pt=96 */
    0xbe, 0xde, 0x00, 0x01, 0x22, 0x12, 0x34, 0x56,                         /* abs-send-time */
    0x90, 0x10, 0x00, 0x9d, 0x01, 0x2a,                                     /* VP8 payload */
    0x00, 0x00, 0x00, 0x04,                                                 /* RTP padding */
};

/* The header parsed on ingress travels with the buffer: the rewrite and
 * the payload it carries come from the note, and what is written parses
 * back as the packet rewritten. */
static void test_buffer_note(void **state)
{
    (void)state;
    fl_buf_pool *pool = NULL;
    assert_int_equal(fl_buf_pool_create(&pool, 1500, 64, 2, 0), 0);
    fl_buf *b = fl_buf_pool_get(pool);
    assert_false(b->rtp.parsed);
    memcpy(fl_buf_data(b), vp8_pkt, sizeof(vp8_pkt));
    fl_buf_set_len(b, sizeof(vp8_pkt));
    assert_int_equal(fl_rtp_buf_parse(b), 0);
    assert_true(b->rtp.parsed);
    assert_int_equal(b->rtp.ssrc, 0xcafebabe);
    assert_int_equal(b->rtp.seq, 0x1234);
    assert_int_equal(b->rtp.timestamp, 0x00010203);
    assert_int_equal(b->rtp.payload_type, 96);
    assert_int_equal(b->rtp.marker, 1);
    assert_int_equal(b->rtp.payload_off, 20);
    assert_int_equal(b->rtp.payload_len, 6);

    fl_rewrite rw = make(7, 70);
    fl_rewrite_set_source_pt(&rw, 96);
    fl_rtp_header h = out(&rw, T0, b->rtp);
    fl_buf *o = fl_buf_pool_get(pool);
    assert_int_equal(
            fl_rtp_buf_write(o, 16, &h, fl_buf_data(b) + b->rtp.payload_off, b->rtp.payload_len),
            0);
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, fl_buf_data(o), o->len), 0);
    assert_int_equal(v.ssrc, OURS);
    assert_int_equal(v.seq, 7);
    assert_int_equal(v.timestamp, 70);
    assert_int_equal(v.payload_type, PT);
    assert_int_equal(v.marker, 1);
    assert_int_equal(v.payload_len, 6);
    assert_memory_equal(v.payload, vp8_pkt + 20, 6);
    /* what was written is noted as a parse would note it */
    fl_buf_rtp written = o->rtp;
    assert_true(written.parsed);
    assert_int_equal(fl_rtp_buf_parse(o), 0);
    assert_int_equal(o->rtp.ssrc, written.ssrc);
    assert_int_equal(o->rtp.timestamp, written.timestamp);
    assert_int_equal(o->rtp.seq, written.seq);
    assert_int_equal(o->rtp.payload_off, written.payload_off);
    assert_int_equal(o->rtp.payload_len, written.payload_len);
    assert_int_equal(o->rtp.payload_type, written.payload_type);
    assert_int_equal(o->rtp.marker, written.marker);
    /* no room: nothing written, no note */
    assert_int_equal(fl_rtp_buf_write(o, 1500 + 64, &h, vp8_pkt, 6), FL_EMSGSIZE);
    assert_false(o->rtp.parsed);
    assert_int_equal(fl_rtp_buf_write(o, 1500 - 12 - 5, &h, vp8_pkt, 6), FL_EMSGSIZE);
    assert_int_equal(fl_rtp_buf_write(o, 1500 - 12 - 6, &h, vp8_pkt, 6), 0);
    assert_int_equal(o->len, 18);
    fl_buf_set_len(o, 18); /* the length set: the bytes may have changed */
    assert_false(o->rtp.parsed);
    fl_buf_unref(o);

    /* moving the start of the bytes voids the note */
    uint8_t *head = fl_buf_push_head(b, 4);
    assert_non_null(head);
    memset(head, 0, 4); /* version 0 */
    assert_false(b->rtp.parsed);
    assert_int_equal(fl_rtp_buf_parse(b), FL_ENOTSUP);
    assert_false(b->rtp.parsed);
    assert_int_equal(fl_buf_pull_head(b, 4), 0);
    assert_int_equal(fl_rtp_buf_parse(b), 0);
    fl_buf_pull_head(b, 0);
    assert_false(b->rtp.parsed);
    /* a view of other bytes is not noted; a truncated packet fails */
    assert_int_equal(fl_rtp_parse(&v, vp8_pkt, sizeof(vp8_pkt)), 0);
    fl_rtp_buf_note(b, &v);
    assert_false(b->rtp.parsed);
    fl_buf_set_len(b, 11);
    assert_int_equal(fl_rtp_buf_parse(b), FL_EBADMSG);
    assert_false(b->rtp.parsed);
    fl_buf_unref(b);

    /* a buffer back from the pool carries no note */
    b = fl_buf_pool_get(pool);
    memcpy(fl_buf_data(b), vp8_pkt, sizeof(vp8_pkt));
    fl_buf_set_len(b, sizeof(vp8_pkt));
    assert_int_equal(fl_rtp_buf_parse(b), 0);
    fl_buf_unref(b);
    b = fl_buf_pool_get(pool);
    assert_false(b->rtp.parsed);
    fl_buf_unref(b);
    fl_buf_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_and_one_source),
        cmocka_unit_test(test_switch_continuity),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_reordering),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_switch_back),
        cmocka_unit_test(test_long_pause),
        cmocka_unit_test(test_stragglers_after_switch),
        cmocka_unit_test(test_payload_types),
        cmocka_unit_test(test_buffer_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
