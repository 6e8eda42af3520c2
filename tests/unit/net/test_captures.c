/* net/rtp and net/rtcp on packets captured from headless Chromium 156 in a
 * real session with fluo (tests/data/chromium: decrypted by fluo's own
 * ICE/DTLS-SRTP and written by FLUO_CAPTURE_DIR). Each packet is parsed and
 * built again from the parsed fields, and must come out byte for byte. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtcp.h"
#include "net/rtp.h"

#include <cmocka.h>

#define DIR_PATH "tests/data/chromium"

static size_t load(const char *name, uint8_t *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", DIR_PATH, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Calls fn for each capture whose name starts with prefix; returns how many. */
static size_t each(const char *prefix, void (*fn)(const char *name, const uint8_t *d, size_t n))
{
    DIR *dir = opendir(DIR_PATH);
    assert_non_null(dir);
    struct dirent *de;
    size_t count = 0;
    static uint8_t buf[4096];
    while ((de = readdir(dir))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        size_t n = load(de->d_name, buf, sizeof(buf));
        fn(de->d_name, buf, n);
        count++;
    }
    closedir(dir);
    return count;
}

static void rtp_round_trip(const char *name, const uint8_t *d, size_t n)
{
    fl_rtp_view v;
    assert_int_equal(fl_rtp_parse(&v, d, n), 0);
    fl_rtp_ext exts[32];
    size_t next = 0;
    int two_byte = 0;
    if (v.extension) {
        fl_rtp_ext_iter it;
        assert_int_equal(fl_rtp_ext_iter_init(&it, &v), 0);
        two_byte = it.two_byte;
        while (next < 32 && fl_rtp_ext_iter_next(&it, &exts[next]) > 0)
            next++;
        assert_true(next > 0); /* Chromium always sends some */
    }
    fl_rtp_header h = { .marker = v.marker,
                        .payload_type = v.payload_type,
                        .seq = v.seq,
                        .timestamp = v.timestamp,
                        .ssrc = v.ssrc,
                        .csrc_count = v.csrc_count,
                        .exts = exts,
                        .num_exts = next,
                        .two_byte = two_byte };
    for (size_t i = 0; i < v.csrc_count; i++)
        h.csrcs[i] = fl_rtp_view_csrc(&v, i);
    uint8_t out[4096];
    size_t len = 0;
    assert_int_equal(fl_rtp_write(out, sizeof(out), &h, v.payload, v.payload_len, v.pad_len, &len),
                     0);
    if (len != n || memcmp(out, d, n) != 0)
        fail_msg("%s: rebuilt packet differs (%zu vs %zu bytes)", name, len, n);
}

static void test_rtp(void **state)
{
    (void)state;
    size_t audio = each("rtp-audio", rtp_round_trip);
    size_t video = each("rtp-video", rtp_round_trip);
    assert_true(audio >= 5);
    assert_true(video >= 5);
}

/* Rebuilds one packet of a compound with the writer of its type. */
static size_t rtcp_rebuild(const fl_rtcp_pkt *p, uint8_t *out, size_t cap, int *types)
{
    size_t len = 0;
    switch (p->type) {
    case FL_RTCP_SR: {
        fl_rtcp_sr sr;
        assert_int_equal(fl_rtcp_sr_parse(p, &sr), 0);
        assert_int_equal(fl_rtcp_sr_write(out, cap, &sr, &len), 0);
        break;
    }
    case FL_RTCP_RR: {
        fl_rtcp_rr rr;
        assert_int_equal(fl_rtcp_rr_parse(p, &rr), 0);
        assert_int_equal(fl_rtcp_rr_write(out, cap, &rr, &len), 0);
        break;
    }
    case FL_RTCP_SDES: {
        fl_rtcp_sdes s;
        assert_int_equal(fl_rtcp_sdes_parse(p, &s), 0);
        assert_int_equal(fl_rtcp_sdes_write(out, cap, &s, &len), 0);
        const char *cname;
        size_t cn;
        assert_int_equal(fl_rtcp_sdes_cname(&s.chunks[0], &cname, &cn), 0);
        assert_true(cn > 0);
        break;
    }
    case FL_RTCP_PSFB:
    case FL_RTCP_RTPFB: {
        fl_rtcp_fb fb;
        assert_int_equal(fl_rtcp_fb_parse(p, &fb), 0);
        if (p->type == FL_RTCP_PSFB && fb.fmt == 15) {
            fl_rtcp_remb r;
            assert_int_equal(fl_rtcp_remb_parse(&fb, &r), 0);
            assert_true(fl_rtcp_remb_bitrate(&r) > 0);
            assert_int_equal(fl_rtcp_remb_write(out, cap, &r, &len), 0);
        } else {
            assert_int_equal(fl_rtcp_fb_write(out, cap, &fb, &len), 0);
        }
        break;
    }
    default:
        fail_msg("an RTCP type the captures did not have before: %u", p->type);
    }
    types[p->type - 200] = 1;
    return len;
}

static int rtcp_types[10];

static void rtcp_round_trip(const char *name, const uint8_t *d, size_t n)
{
    int reduced = -1;
    assert_int_equal(fl_rtcp_compound_check(d, n, &reduced), 0);
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    uint8_t out[4096];
    size_t len = 0;
    fl_rtcp_iter_init(&it, d, n);
    while (fl_rtcp_iter_next(&it, &p) > 0)
        len += rtcp_rebuild(&p, out + len, sizeof(out) - len, rtcp_types);
    assert_int_equal(it.err, 0);
    if (len != n || memcmp(out, d, n) != 0)
        fail_msg("%s: rebuilt compound differs (%zu vs %zu bytes)", name, len, n);
}

static void test_rtcp(void **state)
{
    (void)state;
    assert_true(each("rtcp", rtcp_round_trip) >= 10);
    /* SR, RR, SDES and payload-specific feedback (PLI, REMB) were seen */
    assert_true(rtcp_types[FL_RTCP_SR - 200]);
    assert_true(rtcp_types[FL_RTCP_RR - 200]);
    assert_true(rtcp_types[FL_RTCP_SDES - 200]);
    assert_true(rtcp_types[FL_RTCP_PSFB - 200]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtp),
        cmocka_unit_test(test_rtcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
