/* net/rtp: parse, header extensions, rewrite, build round trip, wrap-aware
 * helpers, receive statistics and RFC 7983 demux. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtp.h"

#include <cmocka.h>

/* tests/data/rtp/opus_chrome.bin: an Opus packet laid out as Chromium sends
 * it (one-byte extensions audio-level=1, abs-send-time=2, twcc=3, mid=4). */
static const uint8_t opus_chrome[] = {
    0x90, 0xef, 0x12, 0x34, 0x00, 0x00, 0x03, 0xc0, 0x11, 0x22, 0x33, 0x44, /* V=2 X M pt=111 */
    0xbe, 0xde, 0x00, 0x03,                                                 /* one-byte, 3 words */
    0x10, 0x8a,             /* id1 audio level V=1 10 */
    0x22, 0x12, 0x34, 0x56, /* id2 abs-send-time */
    0x31, 0x00, 0x05,       /* id3 twcc seq 5 */
    0x40, 0x30,             /* id4 mid "0" */
    0x00,                   /* padding */
    0xfc, 0xff, 0xfe,       /* Opus TOC + data */
};

/* tests/data/rtp/vp8_csrc_pad.bin: two CSRCs, a two-byte extension block
 * with an id above 14 and a zero-length element, and 4 bytes of RTP padding. */
static const uint8_t csrc_two_byte_pad[] = {
    0xb2, 0x60, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, /* V=2 P X CC=2 */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,                         /* CSRCs */
    0x10, 0x00, 0x00, 0x02,                                                 /* two-byte, 2 words */
    0x10, 0x03, 'a',  'b',  'c',                                            /* id16 "abc" */
    0x05, 0x00,                                                             /* id5 empty */
    0x00,                                                                   /* padding */
    0x90, 0x10, 0x00,                                                       /* VP8 payload */
    0x00, 0x00, 0x00, 0x04,                                                 /* RTP padding */
};

static void test_parse_chrome_opus(void **state)
{
    (void)state;
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, opus_chrome, sizeof(opus_chrome)), 0);
    assert_int_equal(v.version, 2);
    assert_int_equal(v.marker, 1);
    assert_int_equal(v.payload_type, 111);
    assert_int_equal(v.seq, 0x1234);
    assert_int_equal(v.timestamp, 960);
    assert_int_equal(v.ssrc, 0x11223344);
    assert_int_equal(v.ext_profile, 0xbede);
    assert_int_equal(v.ext_len, 12);
    assert_int_equal(v.header_len, 28);
    assert_int_equal(v.payload_len, 3);
    assert_int_equal(v.payload[0], 0xfc);

    fl_rtp_ext e;
    int voice;
    uint8_t level;
    assert_int_equal(fl_rtp_ext_find(&v, 1, &e), 0);
    assert_int_equal(fl_rtp_ext_get_audio_level(&e, &voice, &level), 0);
    assert_int_equal(voice, 1);
    assert_int_equal(level, 10);
    uint32_t abs;
    assert_int_equal(fl_rtp_ext_find(&v, 2, &e), 0);
    assert_int_equal(fl_rtp_ext_get_abs_send_time(&e, &abs), 0);
    assert_int_equal(abs, 0x123456);
    assert_int_equal(fl_rtp_abs_send_time_to_us(abs), (0x123456ull * 1000000) >> 18);
    assert_int_equal(fl_rtp_abs_send_time_to_us(1u << 18), 1000000);
    uint16_t tw;
    assert_int_equal(fl_rtp_ext_find(&v, 3, &e), 0);
    assert_int_equal(fl_rtp_ext_get_twcc_seq(&e, &tw), 0);
    assert_int_equal(tw, 5);
    assert_int_equal(fl_rtp_ext_get_abs_send_time(&e, &abs), FL_EBADMSG);
    const char *s;
    size_t n;
    assert_int_equal(fl_rtp_ext_find(&v, 4, &e), 0);
    assert_int_equal(fl_rtp_ext_get_string(&e, &s, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(s, "0", 1);
    assert_int_equal(fl_rtp_ext_find(&v, 7, &e), FL_ENOENT);
}

static void test_parse_csrc_two_byte_padding(void **state)
{
    (void)state;
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, csrc_two_byte_pad, sizeof(csrc_two_byte_pad)), 0);
    assert_int_equal(v.padding, 1);
    assert_int_equal(v.csrc_count, 2);
    assert_int_equal(fl_rtp_view_csrc(&v, 0), 1);
    assert_int_equal(fl_rtp_view_csrc(&v, 1), 2);
    assert_int_equal(fl_rtp_view_csrc(&v, 2), 0);
    assert_int_equal(v.seq, 65535);
    assert_int_equal(v.pad_len, 4);
    assert_int_equal(v.payload_len, 3);
    fl_rtp_ext_iter it;
    fl_rtp_ext e;
    assert_int_equal(fl_rtp_ext_iter_init(&it, &v), 0);
    assert_int_equal(fl_rtp_ext_iter_next(&it, &e), 1);
    assert_int_equal(e.id, 16);
    assert_int_equal(e.len, 3);
    assert_memory_equal(e.data, "abc", 3);
    assert_int_equal(fl_rtp_ext_iter_next(&it, &e), 1);
    assert_int_equal(e.id, 5);
    assert_int_equal(e.len, 0);
    assert_int_equal(fl_rtp_ext_iter_next(&it, &e), 0);
    const char *s;
    size_t n;
    assert_int_equal(fl_rtp_ext_get_string(&e, &s, &n), FL_EBADMSG);
}

/* Rebuilds a parsed packet through fl_rtp_write and compares bytes. */
static void round_trip(const uint8_t *pkt, size_t len, int two_byte)
{
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, pkt, len), 0);
    fl_rtp_ext exts[16];
    size_t ne = 0;
    fl_rtp_ext_iter it;
    if (fl_rtp_ext_iter_init(&it, &v) == 0) {
        while (ne < 16 && fl_rtp_ext_iter_next(&it, &exts[ne]) == 1)
            ne++;
    }
    fl_rtp_header h = { .marker = v.marker,
                        .payload_type = v.payload_type,
                        .seq = v.seq,
                        .timestamp = v.timestamp,
                        .ssrc = v.ssrc,
                        .csrc_count = v.csrc_count,
                        .exts = exts,
                        .num_exts = ne,
                        .two_byte = two_byte };
    for (size_t i = 0; i < v.csrc_count; i++)
        h.csrcs[i] = fl_rtp_view_csrc(&v, i);
    uint8_t out[1500];
    size_t n = 0;
    assert_int_equal(fl_rtp_write(out, sizeof(out), &h, v.payload, v.payload_len, v.pad_len, &n),
                     0);
    assert_int_equal(n, len);
    /* RTP padding bytes other than the count are written as zero. */
    assert_memory_equal(out, pkt, len);
    assert_int_equal(fl_rtp_write(out, len - 1, &h, v.payload, v.payload_len, v.pad_len, &n),
                     FL_EMSGSIZE);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip(opus_chrome, sizeof(opus_chrome), 0);
    round_trip(csrc_two_byte_pad, sizeof(csrc_two_byte_pad), 1);
    static const uint8_t plain[] = { 0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 9 };
    round_trip(plain, sizeof(plain), 0);
}

static void test_build_chooses_two_byte(void **state)
{
    (void)state;
    fl_rtp_ext exts[2] = { { .id = 1, .data = (const uint8_t *)"x", .len = 1 },
                           { .id = 20, .data = (const uint8_t *)"yz", .len = 2 } };
    fl_rtp_header h = { .payload_type = 96, .seq = 1, .ssrc = 7, .exts = exts, .num_exts = 2 };
    uint8_t out[64];
    size_t n;
    assert_int_equal(fl_rtp_write(out, sizeof(out), &h, NULL, 0, 0, &n), 0);
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, out, n), 0);
    assert_int_equal(v.ext_profile, 0x1000);
    fl_rtp_ext e;
    assert_int_equal(fl_rtp_ext_find(&v, 20, &e), 0);
    assert_int_equal(e.len, 2);
    exts[1].id = 0;
    assert_int_equal(fl_rtp_write(out, sizeof(out), &h, NULL, 0, 0, &n), FL_EINVAL);
    h.num_exts = 1;
    h.csrc_count = 16;
    assert_int_equal(fl_rtp_write(out, sizeof(out), &h, NULL, 0, 0, &n), FL_EINVAL);
}

static void test_rewrite(void **state)
{
    (void)state;
    uint8_t p[sizeof(opus_chrome)];
    memcpy(p, opus_chrome, sizeof(p));
    fl_rtp_set_ssrc(p, 0xcafebabe);
    fl_rtp_set_seq(p, 65535);
    fl_rtp_set_timestamp(p, 0xfffffff0);
    fl_rtp_set_marker(p, 0);
    fl_rtp_set_payload_type(p, 96);
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, p, sizeof(p)), 0);
    assert_int_equal(v.ssrc, 0xcafebabe);
    assert_int_equal(v.seq, 65535);
    assert_int_equal(v.timestamp, 0xfffffff0);
    assert_int_equal(v.marker, 0);
    assert_int_equal(v.payload_type, 96);
    assert_int_equal(v.ext_len, 12);
    assert_memory_equal(p + 12, opus_chrome + 12, sizeof(p) - 12);
}

static void test_bad_input(void **state)
{
    (void)state;
    fl_rtp_view v;
    /* Every truncation of the fixtures either fails or (past the header) is
     * still self-consistent; never reads past len (ASan checks). */
    for (size_t i = 0; i < sizeof(csrc_two_byte_pad); i++) {
        uint8_t *copy = malloc(i ? i : 1);
        memcpy(copy, csrc_two_byte_pad, i);
        assert_int_not_equal(fl_rtp_parse(&v, copy, i), 0);
        free(copy);
    }
    for (size_t i = 0; i < 28; i++) {
        uint8_t *copy = malloc(i ? i : 1);
        memcpy(copy, opus_chrome, i);
        assert_int_not_equal(fl_rtp_parse(&v, copy, i), 0);
        free(copy);
    }
    uint8_t p[16] = { 0x40 };
    assert_int_equal(fl_rtp_parse(&v, p, 12), FL_ENOTSUP);
    /* Padding count 0, and larger than the body. */
    uint8_t q[14] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(fl_rtp_parse(&v, q, sizeof(q)), FL_EBADMSG);
    q[13] = 3;
    assert_int_equal(fl_rtp_parse(&v, q, sizeof(q)), FL_EBADMSG);
    q[13] = 2;
    assert_int_equal(fl_rtp_parse(&v, q, sizeof(q)), 0);
    assert_int_equal(v.payload_len, 0);
    /* Padding only with no body. */
    assert_int_equal(fl_rtp_parse(&v, q, 12), FL_EBADMSG);
    /* One-byte element overrunning its block. */
    uint8_t r[] = { 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1, 0x12, 1, 2, 3 };
    assert_int_equal(fl_rtp_parse(&v, r, sizeof(r)), 0);
    fl_rtp_ext e;
    assert_int_equal(fl_rtp_ext_find(&v, 1, &e), 0);
    r[16] = 0x13;
    assert_int_equal(fl_rtp_ext_find(&v, 1, &e), FL_EBADMSG);
    /* id 15 stops processing. */
    r[16] = 0xf0;
    assert_int_equal(fl_rtp_ext_find(&v, 1, &e), FL_ENOENT);
    /* Unknown profile. */
    r[12] = 0x12;
    fl_rtp_ext_iter it;
    assert_int_equal(fl_rtp_parse(&v, r, sizeof(r)), 0);
    assert_int_equal(fl_rtp_ext_iter_init(&it, &v), FL_ENOTSUP);
    assert_int_equal(fl_rtp_ext_find(&v, 1, &e), FL_ENOENT);
    /* Two-byte element header cut at the block end. */
    uint8_t t[] = { 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 1, 0, 0, 0, 7 };
    assert_int_equal(fl_rtp_parse(&v, t, sizeof(t)), 0);
    assert_int_equal(fl_rtp_ext_find(&v, 7, &e), FL_EBADMSG);
}

static void test_seq_helpers(void **state)
{
    (void)state;
    assert_true(fl_rtp_seq_lt(1, 2));
    assert_false(fl_rtp_seq_lt(2, 1));
    assert_false(fl_rtp_seq_lt(5, 5));
    assert_true(fl_rtp_seq_lt(65535, 0));
    assert_false(fl_rtp_seq_lt(0, 65535));
    assert_true(fl_rtp_seq_lt(65000, 100));
    assert_true(fl_rtp_ts_lt(0xffffff00u, 0x10));
    assert_false(fl_rtp_ts_lt(0x10, 0xffffff00u));

    fl_rtp_unwrapper u;
    fl_rtp_unwrapper_init(&u);
    uint64_t a = fl_rtp_seq_unwrap(&u, 65534);
    assert_int_equal(fl_rtp_seq_unwrap(&u, 65535), a + 1);
    assert_int_equal(fl_rtp_seq_unwrap(&u, 0), a + 2);
    assert_int_equal(fl_rtp_seq_unwrap(&u, 65533), a - 1); /* late packet */
    assert_int_equal(fl_rtp_seq_unwrap(&u, 1), a + 3);
    for (uint32_t i = 2; i < 300000; i += 1000)
        assert_int_equal(fl_rtp_seq_unwrap(&u, (uint16_t)i), a + 2 + i);

    fl_rtp_unwrapper_init(&u);
    uint64_t t = fl_rtp_ts_unwrap(&u, 0xfffff000u);
    assert_int_equal(fl_rtp_ts_unwrap(&u, 0x1000), t + 0x2000);
    assert_int_equal(fl_rtp_ts_unwrap(&u, 0xffffe000u), t - 0x1000);
}

static int feed(fl_rtp_rx_stats *s, uint16_t seq)
{
    return fl_rtp_rx_stats_update(s, seq, (uint32_t)seq * 960u, (uint32_t)seq * 960u + 5000u);
}

static void test_stats_loss(void **state)
{
    (void)state;
    fl_rtp_rx_stats s;
    fl_rtp_rx_stats_init(&s);
    assert_int_equal(feed(&s, 100), 0); /* probation */
    assert_int_equal(feed(&s, 101), 1);
    for (uint16_t q = 102; q < 200; q++) {
        if (q % 10 == 0)
            continue; /* lose 9 of them */
        assert_int_equal(feed(&s, q), 1);
    }
    fl_rtp_report r;
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.ext_highest_seq, 199);
    assert_int_equal(fl_rtp_rx_stats_expected(&s), 99); /* 101..199 */
    assert_int_equal(r.cumulative_lost, 9);
    assert_int_equal(r.fraction_lost, (9 * 256) / 99);
    assert_int_equal(r.jitter, 0); /* constant transit */
    /* Next interval: no loss. */
    for (uint16_t q = 200; q < 210; q++)
        feed(&s, q);
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.fraction_lost, 0);
    assert_int_equal(r.cumulative_lost, 9);
    /* A late packet fills a gap: cumulative loss drops, fraction clamps 0. */
    assert_int_equal(feed(&s, 190), 1);
    assert_int_equal(s.out_of_order, 1);
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.cumulative_lost, 8);
    assert_int_equal(r.fraction_lost, 0);
}

static void test_stats_reorder_dup_wrap(void **state)
{
    (void)state;
    fl_rtp_rx_stats s;
    fl_rtp_rx_stats_init(&s);
    feed(&s, 65530);
    feed(&s, 65531);
    feed(&s, 65532);
    assert_int_equal(feed(&s, 65534), 1);
    assert_int_equal(feed(&s, 65533), 1); /* reordered */
    assert_int_equal(feed(&s, 65533), 0); /* duplicate */
    assert_int_equal(feed(&s, 65534), 0); /* duplicate */
    assert_int_equal(feed(&s, 65535), 1);
    assert_int_equal(feed(&s, 0), 1);
    assert_int_equal(feed(&s, 2), 1);
    assert_int_equal(feed(&s, 2), 0);
    assert_int_equal(s.duplicates, 3);
    assert_int_equal(s.out_of_order, 1);
    fl_rtp_report r;
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.ext_highest_seq, 65536 + 2);
    assert_int_equal(r.cumulative_lost, 1); /* seq 1 */
    /* Duplicates more than received make loss negative (A.3 allows it). */
    fl_rtp_rx_stats_init(&s);
    feed(&s, 10);
    feed(&s, 11);
    assert_int_equal(feed(&s, 11), 0);
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.cumulative_lost, 0);
    /* A duplicate older than the 64-packet window is counted as received,
     * so cumulative loss goes negative as RFC 3550 A.3 says it may. */
    for (uint16_t q = 12; q < 110; q++)
        feed(&s, q);
    assert_int_equal(feed(&s, 20), 1);
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.cumulative_lost, -1);
    assert_int_equal(r.fraction_lost, 0);
}

static void test_stats_restart_and_jitter(void **state)
{
    (void)state;
    fl_rtp_rx_stats s;
    fl_rtp_rx_stats_init(&s);
    feed(&s, 1);
    feed(&s, 2);
    feed(&s, 3);
    /* A jump beyond MAX_DROPOUT is dropped until two in a row. */
    assert_int_equal(feed(&s, 30000), 0);
    assert_int_equal(feed(&s, 30001), 1);
    fl_rtp_report r;
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.ext_highest_seq, 30001);
    assert_int_equal(r.cumulative_lost, 0);
    /* Jitter: alternate transit by +-160 units; J converges towards 160... */
    fl_rtp_rx_stats_init(&s);
    for (uint32_t i = 0; i < 400; i++) {
        uint32_t ts = i * 160;
        fl_rtp_rx_stats_update(&s, (uint16_t)i, ts, ts + ((i & 1) ? 160u : 0u));
    }
    fl_rtp_rx_stats_report(&s, &r);
    assert_in_range(r.jitter, 150, 160);
    /* Stats with probation pending report zeros. */
    fl_rtp_rx_stats_init(&s);
    feed(&s, 5);
    fl_rtp_rx_stats_report(&s, &r);
    assert_int_equal(r.cumulative_lost, 0);
    assert_int_equal(r.fraction_lost, 0);
}

static void test_demux(void **state)
{
    (void)state;
    assert_int_equal(fl_demux_classify(0), FL_DEMUX_STUN);
    assert_int_equal(fl_demux_classify(3), FL_DEMUX_STUN);
    assert_int_equal(fl_demux_classify(4), FL_DEMUX_OTHER);
    assert_int_equal(fl_demux_classify(17), FL_DEMUX_ZRTP);
    assert_int_equal(fl_demux_classify(20), FL_DEMUX_DTLS);
    assert_int_equal(fl_demux_classify(63), FL_DEMUX_DTLS);
    assert_int_equal(fl_demux_classify(64), FL_DEMUX_TURN_CHANNEL);
    assert_int_equal(fl_demux_classify(80), FL_DEMUX_OTHER);
    assert_int_equal(fl_demux_classify(128), FL_DEMUX_RTP);
    assert_int_equal(fl_demux_classify(191), FL_DEMUX_RTP);
    assert_int_equal(fl_demux_classify(192), FL_DEMUX_OTHER);
    uint8_t p[2] = { 0x80, 200 };
    assert_true(fl_demux_is_rtcp(p, 2)); /* SR */
    p[1] = 206;
    assert_true(fl_demux_is_rtcp(p, 2)); /* PSFB */
    p[1] = 0x80 | 96;
    assert_false(fl_demux_is_rtcp(p, 2)); /* RTP pt 96 with marker */
    p[1] = 111;
    assert_false(fl_demux_is_rtcp(p, 2));
    assert_false(fl_demux_is_rtcp(p, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_chrome_opus),
        cmocka_unit_test(test_parse_csrc_two_byte_padding),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_build_chooses_two_byte),
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_seq_helpers),
        cmocka_unit_test(test_stats_loss),
        cmocka_unit_test(test_stats_reorder_dup_wrap),
        cmocka_unit_test(test_stats_restart_and_jitter),
        cmocka_unit_test(test_demux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
