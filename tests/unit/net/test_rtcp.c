/* net/rtcp: compound iteration, parse and write back for every packet
 * type, NACK expansion/compression, transport-cc chunks and deltas, RTT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtcp.h"

#include <cmocka.h>

/* tests/data/rtcp/sr_sdes_chrome.bin: SR with one report block + SDES
 * CNAME, the compound Chromium sends for a sending audio track. */
static const uint8_t sr_sdes[] = {
    0x81, 0xc8, 0x00, 0x0c,                         /* SR RC=1 len=12 */
    0x11, 0x22, 0x33, 0x44,                         /* SSRC */
    0xe9, 0x4b, 0x1c, 0x3a, 0x80, 0x00, 0x00, 0x00, /* NTP */
    0x00, 0x01, 0x77, 0x00,                         /* RTP ts */
    0x00, 0x00, 0x01, 0xf4,                         /* packets 500 */
    0x00, 0x00, 0x4e, 0x20,                         /* octets 20000 */
    0xaa, 0xbb, 0xcc, 0xdd,                         /* report SSRC */
    0x19, 0xff, 0xff, 0xfe,                         /* fraction 25, lost -2 */
    0x00, 0x01, 0x00, 0x05,                         /* ext highest seq */
    0x00, 0x00, 0x00, 0x20,                         /* jitter */
    0x1c, 0x3a, 0x80, 0x00,                         /* LSR */
    0x00, 0x01, 0x00, 0x00,                         /* DLSR 1 s */
    0x81, 0xca, 0x00, 0x06,                         /* SDES SC=1 len=6 */
    0x11, 0x22, 0x33, 0x44, 0x01, 0x10, 'C',  'N',  'A', 'M',  'E',  '0', '1',
    '2',  '3',  '4',  '5',  '6',  '7',  '8',  '9',  'X', 0x00, 0x00, /* CNAME 16 + null + pad */
};

/* tests/data/rtcp/rr_sdes_bye.bin: RR (no blocks), SDES with two chunks
 * (CNAME, then CNAME+TOOL), BYE with two SSRCs and a reason. */
static const uint8_t rr_sdes_bye[] = {
    0x80, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,                         /* RR */
    0x82, 0xca, 0x00, 0x07,                                                 /* SDES SC=2 */
    0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 'a',  'b',  0x00, 0x00, 0x00, 0x00, /* chunk 1 */
    0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 'c',  0x06, 0x03, 'f',  'l',  'o',  /* chunk 2 */
    0x00, 0x00, 0x00, 0x00,                                                 /* null + pad */
    0x82, 0xcb, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* BYE SC=2 */
    0x05, 'b',  'y',  'e',  '!',  '!',  0x00, 0x00,                         /* reason */
};

/* tests/data/rtcp/twcc_chrome.bin: reduced-size transport-cc feedback laid
 * out as libwebrtc writes it: a one-bit vector, a two-bit vector (with a
 * negative large delta) and a run-length chunk, padded with the P bit. */
static const uint8_t twcc_fb[] = {
    0xaf, 0xcd, 0x00, 0x08, /* V=2 P FMT=15 RTPFB len=8 */
    0x00, 0x00, 0x00, 0x01, /* sender */
    0x11, 0x22, 0x33, 0x44, /* media */
    0xff, 0xfe, 0x00, 0x17, /* base seq 65534, count 23 */
    0xff, 0xff, 0xfe, 0x05, /* ref time -2, fb count 5 */
    0xb8, 0x00,             /* 1-bit: 1 1 1 0 0 0 0 0 0 0 0 0 0 0 */
    0xd5, 0x80,             /* 2-bit: 1 1 1 2 0 0 0 */
    0x00, 0x02,             /* run: 2 x not received */
    0x04, 0x08,             /* deltas (small) pkt 0, 1 */
    0x10, 0x00, 0x00,       /* pkt 2, 14, 15 small */
    0x01, 0xff, 0xfe,       /* pkt 16 small 1, pkt 17 large -2 */
    0x00, 0x02,             /* padding, count 2 */
};

static const uint8_t pli[] = { 0x81, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0x11, 0x22, 0x33, 0x44 };

static const uint8_t remb[] = {
    0x8f, 0xce, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    'R',  'E',  'M',  'B',  0x01, 0x0a, 0x5c, 0xf6, 0x11, 0x22, 0x33, 0x44,
};

static void iterate(const uint8_t *p, size_t len, fl_rtcp_pkt *out, size_t *n)
{
    fl_rtcp_iter it;
    fl_rtcp_iter_init(&it, p, len);
    *n = 0;
    int r;
    while ((r = fl_rtcp_iter_next(&it, &out[*n])) == 1)
        (*n)++;
    assert_int_equal(r, 0);
}

static void test_sr_sdes(void **state)
{
    (void)state;
    fl_rtcp_pkt p[4];
    size_t n;
    iterate(sr_sdes, sizeof(sr_sdes), p, &n);
    assert_int_equal(n, 2);
    int reduced;
    assert_int_equal(fl_rtcp_compound_check(sr_sdes, sizeof(sr_sdes), &reduced), 0);
    assert_int_equal(reduced, 0);

    fl_rtcp_sr sr;
    assert_int_equal(fl_rtcp_sr_parse(&p[0], &sr), 0);
    assert_int_equal(sr.ssrc, 0x11223344);
    assert_int_equal(sr.ntp, 0xe94b1c3a80000000ull);
    assert_int_equal(sr.rtp_ts, 0x17700);
    assert_int_equal(sr.packet_count, 500);
    assert_int_equal(sr.octet_count, 20000);
    assert_int_equal(sr.num_reports, 1);
    assert_int_equal(sr.reports[0].ssrc, 0xaabbccdd);
    assert_int_equal(sr.reports[0].fraction_lost, 25);
    assert_int_equal(sr.reports[0].cumulative_lost, -2);
    assert_int_equal(sr.reports[0].ext_highest_seq, 0x10005);
    assert_int_equal(sr.reports[0].jitter, 32);
    assert_int_equal(sr.reports[0].lsr, fl_rtcp_ntp_mid(sr.ntp));
    assert_int_equal(sr.ext_len, 0);

    fl_rtcp_sdes sd;
    assert_int_equal(fl_rtcp_sdes_parse(&p[1], &sd), 0);
    assert_int_equal(sd.num_chunks, 1);
    const char *s;
    size_t sl;
    assert_int_equal(fl_rtcp_sdes_cname(&sd.chunks[0], &s, &sl), 0);
    assert_int_equal(sl, 16);
    assert_memory_equal(s, "CNAME0123456789", 15);

    uint8_t out[256];
    size_t a, b;
    assert_int_equal(fl_rtcp_sr_write(out, sizeof(out), &sr, &a), 0);
    assert_int_equal(fl_rtcp_sdes_write(out + a, sizeof(out) - a, &sd, &b), 0);
    assert_int_equal(a + b, sizeof(sr_sdes));
    assert_memory_equal(out, sr_sdes, sizeof(sr_sdes));
    assert_int_equal(fl_rtcp_sr_write(out, a - 1, &sr, &a), FL_EMSGSIZE);
}

static void test_rr_sdes_bye(void **state)
{
    (void)state;
    fl_rtcp_pkt p[4];
    size_t n;
    iterate(rr_sdes_bye, sizeof(rr_sdes_bye), p, &n);
    assert_int_equal(n, 3);
    fl_rtcp_rr rr;
    fl_rtcp_sdes sd;
    fl_rtcp_bye bye;
    assert_int_equal(fl_rtcp_rr_parse(&p[0], &rr), 0);
    assert_int_equal(rr.num_reports, 0);
    assert_int_equal(fl_rtcp_sdes_parse(&p[1], &sd), 0);
    assert_int_equal(sd.num_chunks, 2);
    assert_int_equal(sd.chunks[1].num_items, 2);
    assert_int_equal(sd.chunks[1].items[1].type, 6);
    assert_int_equal(fl_rtcp_bye_parse(&p[2], &bye), 0);
    assert_int_equal(bye.num_ssrcs, 2);
    assert_int_equal(bye.ssrcs[1], 2);
    assert_int_equal(bye.reason_len, 5);
    assert_memory_equal(bye.reason, "bye!!", 5);
    fl_rtcp_sr wrong;
    assert_int_equal(fl_rtcp_sr_parse(&p[0], &wrong), FL_EBADMSG);

    uint8_t out[256];
    size_t o = 0, k;
    assert_int_equal(fl_rtcp_rr_write(out, sizeof(out), &rr, &k), 0);
    o += k;
    assert_int_equal(fl_rtcp_sdes_write(out + o, sizeof(out) - o, &sd, &k), 0);
    o += k;
    assert_int_equal(fl_rtcp_bye_write(out + o, sizeof(out) - o, &bye, &k), 0);
    o += k;
    assert_int_equal(o, sizeof(rr_sdes_bye));
    assert_memory_equal(out, rr_sdes_bye, o);
}

static void test_app(void **state)
{
    (void)state;
    fl_rtcp_app a = { .subtype = 3,
                      .ssrc = 9,
                      .name = { 'f', 'l', 'u', 'o' },
                      .data = (const uint8_t *)"hello",
                      .len = 5 };
    uint8_t out[64];
    size_t n;
    assert_int_equal(fl_rtcp_app_write(out, sizeof(out), &a, &n), 0);
    assert_int_equal(n, 20);
    fl_rtcp_pkt p;
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, n), 0);
    assert_int_equal(p.padding, 1);
    fl_rtcp_app b;
    assert_int_equal(fl_rtcp_app_parse(&p, &b), 0);
    assert_int_equal(b.subtype, 3);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.name, "fluo", 4);
    uint8_t again[64];
    size_t m;
    assert_int_equal(fl_rtcp_app_write(again, sizeof(again), &b, &m), 0);
    assert_int_equal(m, n);
    assert_memory_equal(again, out, n);
}

static void test_reduced_size_and_pli_remb(void **state)
{
    (void)state;
    int reduced;
    assert_int_equal(fl_rtcp_compound_check(pli, sizeof(pli), &reduced), 0);
    assert_int_equal(reduced, 1);
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    assert_int_equal(fl_rtcp_pkt_parse(&p, pli, sizeof(pli)), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fb.fmt, FL_RTCP_FMT_PLI);
    assert_int_equal(fb.media_ssrc, 0x11223344);
    assert_int_equal(fb.fci_len, 0);
    uint8_t out[64];
    size_t n;
    assert_int_equal(fl_rtcp_fb_write(out, sizeof(out), &fb, &n), 0);
    assert_int_equal(n, sizeof(pli));
    assert_memory_equal(out, pli, n);

    fl_rtcp_remb r;
    assert_int_equal(fl_rtcp_pkt_parse(&p, remb, sizeof(remb)), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_remb_parse(&fb, &r), 0);
    assert_int_equal(r.num_ssrcs, 1);
    assert_int_equal(r.ssrcs[0], 0x11223344);
    assert_int_equal(r.exp, 2);
    assert_int_equal(r.mantissa, 0x25cf6);
    assert_int_equal(fl_rtcp_remb_bitrate(&r), 0x25cf6u << 2);
    assert_int_equal(fl_rtcp_remb_write(out, sizeof(out), &r, &n), 0);
    assert_int_equal(n, sizeof(remb));
    assert_memory_equal(out, remb, n);
    fl_rtcp_remb_set_bitrate(&r, 0x25cf6u << 2);
    assert_int_equal(r.exp, 2);
    assert_int_equal(r.mantissa, 0x25cf6);
    fl_rtcp_remb_set_bitrate(&r, 100000);
    assert_int_equal(r.exp, 0);
    fl_rtcp_remb_set_bitrate(&r, 5000000000ull);
    assert_true(fl_rtcp_remb_bitrate(&r) <= 5000000000ull);
    assert_true(fl_rtcp_remb_bitrate(&r) > 4990000000ull);
    /* PLI is not REMB. */
    assert_int_equal(fl_rtcp_pkt_parse(&p, pli, sizeof(pli)), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_remb_parse(&fb, &r), FL_ENOENT);
}

static void test_fir(void **state)
{
    (void)state;
    fl_rtcp_fir_entry e[2] = { { .ssrc = 0x11223344, .seq = 7 }, { .ssrc = 5, .seq = 255 } };
    uint8_t out[64];
    size_t n;
    assert_int_equal(fl_rtcp_fir_write(out, sizeof(out), 1, e, 2, &n), 0);
    assert_int_equal(n, 28);
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, n), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fb.fmt, FL_RTCP_FMT_FIR);
    assert_int_equal(fl_rtcp_fir_count(&fb), 2);
    fl_rtcp_fir_entry g;
    fl_rtcp_fir_get(&fb, 1, &g);
    assert_int_equal(g.ssrc, 5);
    assert_int_equal(g.seq, 255);
    uint8_t again[64];
    size_t m;
    assert_int_equal(fl_rtcp_fb_write(again, sizeof(again), &fb, &m), 0);
    assert_memory_equal(again, out, n);
}

static void test_nack(void **state)
{
    (void)state;
    /* RFC 4585 6.2.1: PID 65534 with BLP bits 0 and 15 -> 65534, 65535, 14. */
    static const uint8_t nack[] = { 0x81, 0xcd, 0x00, 0x04, 0,    0,    0,    1,    0,    0,
                                    0,    2,    0xff, 0xfe, 0x80, 0x01, 0x00, 0x64, 0x00, 0x00 };
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    assert_int_equal(fl_rtcp_pkt_parse(&p, nack, sizeof(nack)), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_nack_count(&fb), 2);
    uint16_t seqs[40];
    size_t n = fl_rtcp_nack_expand(&fb, seqs, 40);
    assert_int_equal(n, 4);
    assert_int_equal(seqs[0], 65534);
    assert_int_equal(seqs[1], 65535);
    assert_int_equal(seqs[2], 14);
    assert_int_equal(seqs[3], 100);
    assert_int_equal(fl_rtcp_nack_expand(&fb, seqs, 2), 4);
    uint8_t out[64];
    size_t len;
    assert_int_equal(fl_rtcp_nack_write(out, sizeof(out), 1, 2, seqs, 4, &len), 0);
    assert_int_equal(len, sizeof(nack));
    assert_memory_equal(out, nack, len);
    /* 40 consecutive losses -> 3 items (17 + 17 + 6). */
    uint16_t many[40];
    for (uint16_t i = 0; i < 40; i++)
        many[i] = (uint16_t)(65530 + i);
    assert_int_equal(fl_rtcp_nack_write(out, sizeof(out), 1, 2, many, 40, &len), 0);
    assert_int_equal(len, 12 + 3 * 4);
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, len), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    uint16_t back[64];
    assert_int_equal(fl_rtcp_nack_expand(&fb, back, 64), 40);
    assert_memory_equal(back, many, sizeof(many));
    assert_int_equal(fl_rtcp_nack_write(out, 20, 1, 2, many, 40, &len), FL_EMSGSIZE);
}

static void test_twcc_parse(void **state)
{
    (void)state;
    int reduced;
    assert_int_equal(fl_rtcp_compound_check(twcc_fb, sizeof(twcc_fb), &reduced), 0);
    assert_int_equal(reduced, 1);
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    fl_rtcp_twcc t;
    fl_rtcp_twcc_packet pk[64];
    size_t n;
    assert_int_equal(fl_rtcp_pkt_parse(&p, twcc_fb, sizeof(twcc_fb)), 0);
    assert_int_equal(p.body_len, 32 - 2);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), 0);
    assert_int_equal(n, 23);
    assert_int_equal(t.base_seq, 65534);
    assert_int_equal(t.ref_time, -2);
    assert_int_equal(t.fb_count, 5);
    assert_int_equal(pk[0].seq, 65534);
    assert_int_equal(pk[2].seq, 0); /* wrap */
    assert_int_equal(pk[0].symbol, 1);
    assert_int_equal(pk[0].delta, 4);
    assert_int_equal(pk[0].arrival_us, -128000 + 1000);
    assert_int_equal(pk[1].delta, 8);
    assert_int_equal(pk[2].symbol, 1);
    assert_int_equal(pk[2].delta, 16);
    assert_int_equal(pk[3].symbol, 0);
    assert_int_equal(pk[14].symbol, 1);
    assert_int_equal(pk[15].symbol, 1);
    assert_int_equal(pk[16].symbol, 1);
    assert_int_equal(pk[16].delta, 1);
    assert_int_equal(pk[17].symbol, 2);
    assert_int_equal(pk[17].delta, -2);
    assert_int_equal(pk[17].arrival_us, -128000 + (4 + 8 + 16 + 1 - 2) * 250);
    assert_int_equal(pk[22].symbol, 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 22, &n), FL_EMSGSIZE);

    /* Parse -> write gives the same bytes; write -> parse -> write is stable. */
    uint8_t out[128], again[128];
    size_t a, b;
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), 0);
    assert_int_equal(fl_rtcp_twcc_write(out, sizeof(out), &t, pk, n, &a), 0);
    assert_int_equal(a, sizeof(twcc_fb));
    assert_memory_equal(out, twcc_fb, a);
    assert_int_equal(fl_rtcp_twcc_write(out, a - 1, &t, pk, n, &b), FL_EMSGSIZE);
    assert_int_equal(fl_rtcp_twcc_write(out, sizeof(out), &t, pk, n, &a), 0);
    fl_rtcp_twcc_packet pk2[64];
    fl_rtcp_twcc t2;
    size_t n2;
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, a), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t2, pk2, 64, &n2), 0);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pk2[i].symbol, pk[i].symbol);
        assert_int_equal(pk2[i].delta, pk[i].delta);
        assert_int_equal(pk2[i].arrival_us, pk[i].arrival_us);
    }
    assert_int_equal(fl_rtcp_twcc_write(again, sizeof(again), &t2, pk2, n2, &b), 0);
    assert_int_equal(a, b);
    assert_memory_equal(out, again, a);
}

static void test_twcc_build(void **state)
{
    (void)state;
    /* 40 packets from seq 65500 with every 5th lost, a reorder (negative
     * delta) and a long gap (large delta). Every chunk type gets used. */
    uint16_t seqs[64];
    int64_t arr[64];
    size_t n = 0;
    int64_t base = 5000000;
    for (uint16_t i = 0; i < 40; i++) {
        if (i % 5 == 4 && i < 20)
            continue;
        seqs[n] = (uint16_t)(65500 + i);
        arr[n] = base + i * 1000;
        n++;
    }
    arr[3] -= 3000; /* arrives before its predecessor */
    uint8_t out[512];
    size_t len;
    assert_int_equal(fl_rtcp_twcc_build(out, sizeof(out), 1, 2, 9, seqs, arr, n, &len), 0);
    fl_rtcp_pkt p;
    fl_rtcp_fb fb;
    fl_rtcp_twcc t;
    fl_rtcp_twcc_packet pk[64];
    size_t cnt;
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, len), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &cnt), 0);
    assert_int_equal(cnt, 40);
    assert_int_equal(t.base_seq, 65500);
    assert_int_equal(t.fb_count, 9);
    size_t j = 0;
    int saw_neg = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (j < n && pk[i].seq == seqs[j]) {
            assert_int_not_equal(pk[i].symbol, 0);
            /* Exact to 250 µs (arrivals here are multiples of 250 µs). */
            assert_int_equal(pk[i].arrival_us, arr[j]);
            saw_neg |= pk[i].delta < 0;
            j++;
        } else {
            assert_int_equal(pk[i].symbol, 0);
        }
    }
    assert_int_equal(j, n);
    assert_true(saw_neg);
    /* A 9 s gap does not fit 16 bits of 250 µs. */
    arr[n - 1] = arr[n - 2] + 9000000;
    assert_int_equal(fl_rtcp_twcc_build(out, sizeof(out), 1, 2, 9, seqs, arr, n, &len), FL_ERANGE);
    arr[n - 1] = arr[n - 2] + 5000000; /* 5 s = 20000 units: large */
    assert_int_equal(fl_rtcp_twcc_build(out, sizeof(out), 1, 2, 9, seqs, arr, n, &len), 0);
    assert_int_equal(fl_rtcp_pkt_parse(&p, out, len), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &cnt), 0);
    assert_int_equal(pk[39].symbol, 2);
    assert_int_equal(pk[39].delta, 20000);
    assert_int_equal(pk[39].arrival_us, arr[n - 1]);
    /* Decreasing sequence numbers are refused. */
    uint16_t bad[2] = { 5, 4 };
    assert_int_equal(fl_rtcp_twcc_build(out, sizeof(out), 1, 2, 0, bad, arr, 2, &len), FL_EINVAL);
}

static void test_bad_compound(void **state)
{
    (void)state;
    /* Middle block claims more than is left: iteration stops there. */
    uint8_t c[sizeof(rr_sdes_bye)];
    memcpy(c, rr_sdes_bye, sizeof(c));
    c[8 + 3] = 0x40;
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    fl_rtcp_iter_init(&it, c, sizeof(c));
    assert_int_equal(fl_rtcp_iter_next(&it, &p), 1);
    assert_int_equal(fl_rtcp_iter_next(&it, &p), FL_EBADMSG);
    assert_int_equal(it.off, 8);
    assert_int_equal(fl_rtcp_iter_next(&it, &p), FL_EBADMSG);
    int reduced;
    assert_int_equal(fl_rtcp_compound_check(c, sizeof(c), &reduced), FL_EBADMSG);
    /* Wrong version in the middle block. */
    memcpy(c, rr_sdes_bye, sizeof(c));
    c[8] = 0x42;
    assert_int_equal(fl_rtcp_compound_check(c, sizeof(c), &reduced), FL_EBADMSG);
    /* Bad padding count. */
    uint8_t pad[8] = { 0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 9 };
    assert_int_equal(fl_rtcp_pkt_parse(&p, pad, 8), FL_EBADMSG);
    pad[7] = 0;
    assert_int_equal(fl_rtcp_pkt_parse(&p, pad, 8), FL_EBADMSG);
    assert_int_equal(fl_rtcp_compound_check(pad, 0, &reduced), FL_EBADMSG);

    /* Every truncation of every fixture not at a packet boundary fails,
     * and none overreads (ASan). */
    const uint8_t *fx[] = { sr_sdes, rr_sdes_bye, twcc_fb, remb };
    size_t fl[] = { sizeof(sr_sdes), sizeof(rr_sdes_bye), sizeof(twcc_fb), sizeof(remb) };
    for (size_t f = 0; f < 4; f++) {
        for (size_t i = 0; i < fl[f]; i++) {
            uint8_t *copy = malloc(i ? i : 1);
            memcpy(copy, fx[f], i);
            int at_boundary = 0;
            fl_rtcp_iter_init(&it, fx[f], fl[f]);
            while (fl_rtcp_iter_next(&it, &p) == 1)
                at_boundary |= it.off == i;
            if (!at_boundary)
                assert_int_not_equal(fl_rtcp_compound_check(copy, i, &reduced), 0);
            free(copy);
        }
    }
    /* Counts larger than the body. */
    fl_rtcp_sr sr;
    fl_rtcp_rr rr;
    fl_rtcp_sdes sd;
    fl_rtcp_bye bye;
    uint8_t rrb[8] = { 0x81, 0xc9, 0x00, 0x01, 0, 0, 0, 1 };
    assert_int_equal(fl_rtcp_pkt_parse(&p, rrb, 8), 0);
    assert_int_equal(fl_rtcp_rr_parse(&p, &rr), FL_EBADMSG);
    assert_int_equal(fl_rtcp_sr_parse(&p, &sr), FL_EBADMSG);
    rrb[1] = FL_RTCP_SDES;
    assert_int_equal(fl_rtcp_pkt_parse(&p, rrb, 8), 0);
    assert_int_equal(fl_rtcp_sdes_parse(&p, &sd), FL_EBADMSG);
    rrb[0] = 0x82;
    rrb[1] = FL_RTCP_BYE;
    assert_int_equal(fl_rtcp_pkt_parse(&p, rrb, 8), 0);
    assert_int_equal(fl_rtcp_bye_parse(&p, &bye), FL_EBADMSG);
    /* BYE reason longer than the packet. */
    uint8_t by[12] = { 0x81, 0xcb, 0x00, 0x02, 0, 0, 0, 1, 9, 'a', 'b', 'c' };
    assert_int_equal(fl_rtcp_pkt_parse(&p, by, 12), 0);
    assert_int_equal(fl_rtcp_bye_parse(&p, &bye), FL_EBADMSG);
    /* TWCC with a reserved run symbol and with too few chunks. */
    uint8_t tw[24];
    memcpy(tw, twcc_fb, 20);
    tw[3] = 0x05;
    tw[0] = 0x8f;
    tw[20] = 0x60;
    tw[21] = 0x17;
    tw[22] = tw[23] = 0;
    fl_rtcp_fb fb;
    fl_rtcp_twcc t;
    fl_rtcp_twcc_packet pk[64];
    size_t n;
    assert_int_equal(fl_rtcp_pkt_parse(&p, tw, 24), 0);
    assert_int_equal(fl_rtcp_fb_parse(&p, &fb), 0);
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), FL_EBADMSG);
    tw[20] = 0x20;
    tw[21] = 0x02; /* run of 2, count 23 -> need more chunks */
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), FL_EBADMSG);
    tw[21] = 0x17; /* run of 23 small: deltas missing */
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), FL_EBADMSG);
    tw[20] = 0x00; /* run of 23 not received */
    assert_int_equal(fl_rtcp_twcc_parse(&fb, &t, pk, 64, &n), 0);
}

static void test_rtt(void **state)
{
    (void)state;
    /* Sent SR at mid 0x10000 (1 s), peer held it 0.5 s, back at 1.75 s. */
    assert_int_equal(fl_rtcp_rtt_us(0x1c000, 0x10000, 0x8000), 250000);
    assert_int_equal(fl_rtcp_rtt_us(0x1c000, 0, 0x8000), -1);
    assert_int_equal(fl_rtcp_rtt_us(0x10000, 0x10000, 0x8000), 0); /* clock skew */
    /* Across the 32-bit wrap. */
    assert_int_equal(fl_rtcp_rtt_us(0x00004000, 0xffff8000u, 0x8000), 250000);
    assert_int_equal(fl_rtcp_ntp_mid(0x0001000200030004ull), 0x00020003);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_sdes),      cmocka_unit_test(test_rr_sdes_bye),
        cmocka_unit_test(test_app),          cmocka_unit_test(test_reduced_size_and_pli_remb),
        cmocka_unit_test(test_fir),          cmocka_unit_test(test_nack),
        cmocka_unit_test(test_twcc_parse),   cmocka_unit_test(test_twcc_build),
        cmocka_unit_test(test_bad_compound), cmocka_unit_test(test_rtt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
