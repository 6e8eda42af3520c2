/* sdp/: plain RTP and SDES (RtpEndpoint). a=crypto lines (RFC 4568's
 * examples, RFC 6188 suites, every malformed shape), the plain figures of
 * the structured view, answers to Kurento's rtp-receiver tutorial offers
 * (RTP/AVPF with a=direction:active, and RTP/SAVPF with an inline key) and
 * to ffmpeg's -sdp_file output (RTP/AVP, c= on the session, no rtcp-mux),
 * our own plain offer and the answer to it. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/err.h"
#include "sdp/sdp.h"

/* RFC 4568 section 4 / 6.1 examples. */
#define RFC_KEY1 "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
#define RFC_KEY2 "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"
/* 46 bytes, AES-256 key || salt. */
#define KEY256 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="

/* Kurento's rtp-receiver tutorial: the peer sends first (COMEDIA). */
static const char kurento_offer[] = "v=0\r\n"
                                    "o=- 0 0 IN IP4 127.0.0.1\r\n"
                                    "s=Kurento Tutorial - RTP Player\r\n"
                                    "c=IN IP4 127.0.0.1\r\n"
                                    "t=0 0\r\n"
                                    "m=audio 5006 RTP/AVPF 96\r\n"
                                    "a=rtpmap:96 opus/48000/2\r\n"
                                    "a=sendonly\r\n"
                                    "a=direction:active\r\n"
                                    "a=ssrc:445566 cname:user@example.com\r\n"
                                    "m=video 5004 RTP/AVPF 103 104\r\n"
                                    "a=rtpmap:103 H264/90000\r\n"
                                    "a=rtpmap:104 VP8/90000\r\n"
                                    "a=rtcp-fb:103 goog-remb\r\n"
                                    "a=rtcp-fb:103 nack pli\r\n"
                                    "a=sendonly\r\n"
                                    "a=direction:active\r\n"
                                    "a=ssrc:112233 cname:user@example.com\r\n";

/* The tutorial's SRTP variant, as its Handler.java writes it (the crypto
 * line before the rtpmap, "|2^31|1:1": a lifetime and a 1-byte MKI its
 * senders never put in packets), plus an AES-256 line and one of a suite
 * fluo does not know. */
#define TUTORIAL_KEY "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0" /* "ABC...XYZ1234" */
static const char kurento_srtp_offer[] =
        "v=0\r\n"
        "o=- 0 0 IN IP4 127.0.0.1\r\n"
        "s=Kurento Tutorial - RTP Player\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=video 5004 RTP/SAVPF 103\r\n"
        "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" KEY256 "\r\n"
        "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" TUTORIAL_KEY "|2^31|1:1\r\n"
        "a=crypto:3 F8_128_HMAC_SHA1_80 inline:" RFC_KEY1 "\r\n"
        "a=rtpmap:103 H264/90000\r\n"
        "a=rtcp-fb:103 goog-remb\r\n"
        "a=sendonly\r\n"
        "a=direction:active\r\n"
        "a=ssrc:112233 cname:user@example.com\r\n"
        "a=rtcp-mux\r\n";

/* ffmpeg -re -i in.mp4 -c:v libx264 -c:a libopus -f rtp_mpegts ... -sdp_file:
 * one address for the session, RTP/AVP, RTCP on port + 1. */
static const char ffmpeg_sdp[] =
        "v=0\r\n"
        "o=- 0 0 IN IP4 127.0.0.1\r\n"
        "s=No Name\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "a=tool:libavformat 59.27.100\r\n"
        "m=video 5004 RTP/AVP 96\r\n"
        "b=AS:200\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 packetization-mode=1; "
        "sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==; profile-level-id=42C01E\r\n"
        "m=audio 5006 RTP/AVP 97\r\n"
        "b=AS:64\r\n"
        "a=rtpmap:97 opus/48000/2\r\n"
        "a=fmtp:97 sprop-stereo=1\r\n";

static fl_sdp_desc *new_desc(void)
{
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    return d;
}

static int describe_rc(const char *text, fl_sdp_desc *d, char *err, size_t errlen)
{
    fl_sdp *s;
    int rc = fl_sdp_parse(&s, text, strlen(text), err, errlen);
    if (rc != 0)
        fail_msg("parse: %s", err);
    rc = fl_sdp_describe(s, d, err, errlen);
    fl_sdp_destroy(s);
    return rc;
}

static void describe_text(const char *text, fl_sdp_desc *d)
{
    char err[128];
    int rc = describe_rc(text, d, err, sizeof(err));
    if (rc != 0)
        fail_msg("describe: %s", err);
}

static fl_sdp_crypto key_of(fl_sdp_crypto_suite suite, uint8_t seed)
{
    fl_sdp_crypto c;
    memset(&c, 0, sizeof(c));
    c.suite = suite;
    c.key_len = fl_sdp_crypto_key_len(suite);
    c.tag = 1;
    for (size_t i = 0; i < c.key_len; i++)
        c.key[i] = (uint8_t)(seed + 11 * i);
    return c;
}

static fl_sdp_local plain_local(uint16_t audio_port, uint16_t video_port)
{
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.plain = 1;
    l.address = "192.0.2.10";
    l.port[0] = audio_port;
    l.port[1] = video_port;
    l.cname = "fluocname";
    l.session_id = 42;
    l.session_version = 1;
    return l;
}

/* ---- base64 ---- */

static void test_base64(void **state)
{
    (void)state;

    static const struct {
        const char *plain, *enc;
    } rfc4648[] = { { "", "" },
                    { "f", "Zg==" },
                    { "fo", "Zm8=" },
                    { "foo", "Zm9v" },
                    { "foob", "Zm9vYg==" },
                    { "fooba", "Zm9vYmE=" },
                    { "foobar", "Zm9vYmFy" } };

    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char out[16];
        uint8_t back[16];
        size_t n = strlen(rfc4648[i].plain);
        assert_int_equal(fl_base64_encode((const uint8_t *)rfc4648[i].plain, n, out, sizeof(out)),
                         (int)strlen(rfc4648[i].enc));
        assert_string_equal(out, rfc4648[i].enc);
        assert_int_equal(fl_base64_decode(out, strlen(out), back, sizeof(back)), (int)n);
        assert_memory_equal(back, rfc4648[i].plain, n);
    }
    uint8_t b[8];
    char small[8];
    const char *bad[] = { "Zg=",  "Zg===", "Z===", "Zh==", "Zm9=", "Zm9v=A==", "Zm 9",
                          "Zm-9", "Zm_9",  "=Zm9", "Zg=A", "Zm8",  "Zm9vYg=a" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fl_base64_decode(bad[i], strlen(bad[i]), b, sizeof(b)), FL_EBADMSG);
    assert_int_equal(fl_base64_decode("Zm9vYmFyZm9v", 12, b, 8), FL_EMSGSIZE);
    assert_int_equal(fl_base64_encode((const uint8_t *)"foobar", 6, small, 8), FL_EMSGSIZE);
    assert_string_equal(small, "");
    assert_int_equal(fl_base64_encode((const uint8_t *)"foobar", 6, small, 0), FL_EMSGSIZE);
}

/* ---- a=crypto ---- */

static void test_crypto_rfc4568(void **state)
{
    (void)state;
    fl_sdp_crypto c;
    char err[128], out[200];
    const char *v = "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^20|1:4";
    assert_int_equal(fl_sdp_crypto_parse(v, &c, err, sizeof(err)), 0);
    assert_int_equal(c.tag, 1);
    assert_int_equal(c.suite, FL_SDP_AES_CM_128_HMAC_SHA1_80);
    assert_int_equal(c.key_len, 30);
    uint8_t want[30];
    assert_int_equal(fl_base64_decode(RFC_KEY1, strlen(RFC_KEY1), want, sizeof(want)), 30);
    assert_memory_equal(c.key, want, 30);
    assert_int_equal(c.lifetime, 1048576);
    assert_int_equal(c.mki, 1);
    assert_int_equal(c.mki_len, 4);
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), 0);
    assert_string_equal(out, v);

    /* the _32 suite with a 32-byte MKI, and session parameters kept apart */
    v = "2 AES_CM_128_HMAC_SHA1_32 inline:" RFC_KEY2 "|2^20|1:32 FEC_ORDER=FEC_SRTP KDR=0";
    assert_int_equal(fl_sdp_crypto_parse(v, &c, err, sizeof(err)), 0);
    assert_int_equal(c.tag, 2);
    assert_int_equal(c.suite, FL_SDP_AES_CM_128_HMAC_SHA1_32);
    assert_int_equal(c.mki_len, 32);
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), 0);
    assert_string_equal(out, "2 AES_CM_128_HMAC_SHA1_32 inline:" RFC_KEY2 "|2^20|1:32");

    /* a decimal lifetime, MKI alone, no extras */
    assert_int_equal(fl_sdp_crypto_parse("7 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1000", &c,
                                         err, sizeof(err)),
                     0);
    assert_int_equal(c.lifetime, 1000);
    assert_int_equal(c.mki_len, 0);
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), 0);
    assert_string_equal(out, "7 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1000");
    assert_int_equal(fl_sdp_crypto_parse("7 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|5:1", &c,
                                         err, sizeof(err)),
                     0);
    assert_int_equal(c.lifetime, 0);
    assert_int_equal(c.mki, 5);
    assert_int_equal(c.mki_len, 1);
    assert_int_equal(fl_sdp_crypto_parse("999999999 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, &c,
                                         err, sizeof(err)),
                     0);
    assert_int_equal(c.tag, 999999999);
    assert_int_equal(c.lifetime, 0);
    assert_int_equal(c.mki_len, 0);
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), 0);
    assert_string_equal(out, "999999999 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1);
}

static void test_crypto_suites(void **state)
{
    (void)state;
    static const char *const names[] = { "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32",
                                         "AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32" };
    for (int i = 0; i < 4; i++) {
        fl_sdp_crypto_suite s = fl_sdp_crypto_suite_parse(names[i]);
        assert_int_equal(s, FL_SDP_AES_CM_128_HMAC_SHA1_80 + i);
        assert_string_equal(fl_sdp_crypto_suite_name(s), names[i]);
        assert_int_equal(fl_sdp_crypto_key_len(s), i < 2 ? 30 : 46);
        /* every suite round-trips a key of its length */
        fl_sdp_crypto c = key_of(s, (uint8_t)i), back;
        char out[200];
        assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), 0);
        assert_int_equal(fl_sdp_crypto_parse(out, &back, NULL, 0), 0);
        assert_memory_equal(&back, &c, sizeof(c));
    }
    assert_int_equal(fl_sdp_crypto_suite_parse("aes_cm_128_hmac_sha1_80"), FL_SDP_CRYPTO_NONE);
    assert_int_equal(fl_sdp_crypto_suite_parse(NULL), FL_SDP_CRYPTO_NONE);
    assert_int_equal(fl_sdp_crypto_key_len(FL_SDP_CRYPTO_NONE), 0);
    assert_string_equal(fl_sdp_crypto_suite_name(FL_SDP_CRYPTO_NONE), "");
    assert_string_equal(fl_sdp_crypto_suite_name((fl_sdp_crypto_suite)99), "");

    fl_sdp_crypto c;
    assert_int_equal(fl_sdp_crypto_parse("1 AES_256_CM_HMAC_SHA1_32 inline:" KEY256, &c, NULL, 0),
                     0);
    assert_int_equal(c.key_len, 46);
    for (int i = 0; i < 46; i++)
        assert_int_equal(c.key[i], i);

    /* writing: bad key length, tag, suite; too small a buffer */
    char out[200];
    c = key_of(FL_SDP_AES_CM_128_HMAC_SHA1_80, 1);
    c.key_len = 46;
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), FL_EINVAL);
    c = key_of(FL_SDP_AES_CM_128_HMAC_SHA1_80, 1);
    c.tag = 0;
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), FL_EINVAL);
    c.tag = 1000000000;
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), FL_EINVAL);
    c = key_of(FL_SDP_CRYPTO_NONE, 1);
    assert_int_equal(fl_sdp_crypto_write(&c, out, sizeof(out)), FL_EINVAL);
    c = key_of(FL_SDP_AES_CM_128_HMAC_SHA1_80, 1);
    assert_int_equal(fl_sdp_crypto_write(&c, out, 40), FL_EMSGSIZE);
    assert_string_equal(out, "");
    assert_int_equal(fl_sdp_crypto_write(&c, out, 0), FL_EINVAL);
}

static void test_crypto_bad(void **state)
{
    (void)state;

    static const struct {
        const char *value;
        int rc;
    } cases[] = {
        { "", FL_EBADMSG },
        { "1", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80", FL_EBADMSG },
        { "0 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "1000000000 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "0000000001 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "-1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "x AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 uri:http://x/" RFC_KEY1, FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 INLINE:" RFC_KEY1, FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB!", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" KEY256, FL_EBADMSG },
        { "1 AES_256_CM_HMAC_SHA1_80 inline:" RFC_KEY1, FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:Zm9v", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^20|1:4;inline:" RFC_KEY2 "|2^20|2:4",
          FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^49", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|0", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|281474976710657", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1:0", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1:129", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|256:1", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|4294967296:4", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|:4", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1:4|2^20", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^20|2^20", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|1:4|2:4", FL_EBADMSG },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^20|1:4|x", FL_EBADMSG },
        /* not supported: the caller skips the line */
        { "1 F8_128_HMAC_SHA1_80 inline:" RFC_KEY1, FL_ENOTSUP },
        { "1 AEAD_AES_128_GCM inline:" RFC_KEY1, FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80_AND_A_VERY_LONG_NAME_INDEED inline:" RFC_KEY1, FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 " UNENCRYPTED_SRTP", FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 " UNENCRYPTED_SRTCP", FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 " UNAUTHENTICATED_SRTP", FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 " KDR=24", FL_ENOTSUP },
        { "1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 " KDR=x", FL_ENOTSUP },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fl_sdp_crypto c;
        char err[128] = "";
        memset(&c, 0x5a, sizeof(c));
        int rc = fl_sdp_crypto_parse(cases[i].value, &c, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("\"%s\": %d, want %d", cases[i].value, rc, cases[i].rc);
        assert_true(err[0] != '\0'); /* a reason, always */
        assert_null(strstr(err, RFC_KEY1));
        assert_int_equal(c.key_len, 0); /* nothing half-filled */
    }
    fl_sdp_crypto c;
    assert_int_equal(fl_sdp_crypto_parse(NULL, &c, NULL, 0), FL_EINVAL);
}

/* ---- the structured view ---- */

static void test_describe_plain(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    describe_text(kurento_offer, d);
    assert_int_equal(d->nmedia, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(d->media[i].addr, "127.0.0.1");
        assert_int_equal(d->media[i].addr_ip6, 0);
        assert_int_equal(d->media[i].comedia, 1);
        assert_string_equal(d->media[i].proto, "RTP/AVPF");
        assert_int_equal(d->media[i].rtcp_port, 0);
        assert_int_equal(d->media[i].ncrypto, 0);
        assert_int_equal(d->media[i].rtcp_mux, 0);
    }
    assert_int_equal(d->media[0].port, 5006);
    assert_int_equal(d->media[1].port, 5004);
    assert_int_equal(d->media[1].codecs[0].fb, FL_SDP_FB_REMB | FL_SDP_FB_PLI);

    describe_text(kurento_srtp_offer, d);
    assert_int_equal(d->media[0].ncrypto, 2); /* F8 skipped */
    assert_int_equal(d->media[0].crypto[0].suite, FL_SDP_AES_256_CM_HMAC_SHA1_80);
    assert_int_equal(d->media[0].crypto[1].tag, 2);
    assert_int_equal(d->media[0].crypto[1].suite, FL_SDP_AES_CM_128_HMAC_SHA1_80);
    assert_memory_equal(d->media[0].crypto[1].key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ1234", 30);
    assert_int_equal(d->media[0].crypto[1].lifetime, 1ull << 31);
    assert_int_equal(d->media[0].crypto[1].mki, 1);
    assert_int_equal(d->media[0].crypto[1].mki_len, 1);

    /* the section's own c= over the session's; IP6; a=rtcp with an address */
    describe_text(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::5\r\na=rtcp:4001 IN IP6 2001:db8::6\r\n"
            "a=direction:both\r\n"
            "m=video 4002 RTP/AVP 96\r\nc=IN IP4 224.2.1.1/127/3\r\na=rtcp:4003\r\n"
            "a=direction:passive\r\n"
            "m=audio 4004 RTP/AVP 0\r\n",
            d);
    assert_string_equal(d->media[0].addr, "2001:db8::5");
    assert_int_equal(d->media[0].addr_ip6, 1);
    assert_int_equal(d->media[0].rtcp_port, 4001);
    assert_string_equal(d->media[0].rtcp_addr, "2001:db8::6");
    assert_int_equal(d->media[0].comedia, 3);
    assert_string_equal(d->media[1].addr, "224.2.1.1");
    assert_int_equal(d->media[1].rtcp_port, 4003);
    assert_string_equal(d->media[1].rtcp_addr, "");
    assert_int_equal(d->media[1].comedia, 2);
    assert_string_equal(d->media[2].addr, "10.0.0.1");
    assert_int_equal(d->media[2].comedia, 0);

    /* no c= anywhere: "" (not an error for describe) */
    describe_text("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
                  d);
    assert_string_equal(d->media[0].addr, "");
    free(d);
}

static void test_describe_plain_errors(void **state)
{
    (void)state;

    static const struct {
        const char *attr, *why;
    } cases[] = {
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Zm9v\r\n", "line 6: a=crypto: key of" },
        { "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "\r\n", "line 6: a=crypto: tag" },
        { "a=rtcp:0\r\n", "line 6: a=rtcp port" },
        { "a=rtcp:70000\r\n", "line 6: a=rtcp port" },
        { "a=rtcp:x\r\n", "line 6: a=rtcp port" },
        { "a=rtcp:5001 IN IP4\r\n", "line 6: a=rtcp address" },
        { "a=rtcp:5001 XX IP4 1.2.3.4\r\n", "line 6: a=rtcp address" },
    };

    fl_sdp_desc *d = new_desc();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512], err[128];
        snprintf(text, sizeof(text),
                 "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0\r\n%s",
                 cases[i].attr);
        assert_int_equal(describe_rc(text, d, err, sizeof(err)), FL_EBADMSG);
        if (strncmp(err, cases[i].why, strlen(cases[i].why)) != 0)
            fail_msg("%s: \"%s\"", cases[i].attr, err);
        assert_int_equal(d->nmedia, 0);
    }
    /* more than FL_SDP_MAX_CRYPTO lines: the first ones kept */
    char text[4096] =
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0\r\n";
    for (int i = 1; i <= FL_SDP_MAX_CRYPTO + 2; i++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof(text) - n, "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", i,
                 RFC_KEY1);
    }
    describe_text(text, d);
    assert_int_equal(d->media[0].ncrypto, FL_SDP_MAX_CRYPTO);
    assert_int_equal(d->media[0].crypto[FL_SDP_MAX_CRYPTO - 1].tag, FL_SDP_MAX_CRYPTO);
    free(d);
}

/* ---- answers ---- */

static char *answer_ok(const char *offer_text,
                       const fl_sdp_local *l,
                       fl_sdp_desc *offer,
                       fl_sdp_desc *answer)
{
    char err[128], *text = NULL;
    describe_text(offer_text, offer);
    int rc = fl_sdp_answer(offer, l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer, &text, err,
                           sizeof(err));
    if (rc != 0)
        fail_msg("answer: %d %s", rc, err);
    return text;
}

static void test_answer_kurento(void **state)
{
    (void)state;
    fl_sdp_desc *offer = new_desc(), *answer = new_desc(), *back = new_desc();
    fl_sdp_local l = plain_local(40000, 40002);
    char *text = answer_ok(kurento_offer, &l, offer, answer);
    static const char want[] = "v=0\r\n"
                               "o=- 42 1 IN IP4 192.0.2.10\r\n"
                               "s=-\r\n"
                               "t=0 0\r\n"
                               "m=audio 40000 RTP/AVPF 96\r\n"
                               "c=IN IP4 192.0.2.10\r\n"
                               "a=rtcp:40001\r\n"
                               "a=recvonly\r\n"
                               "a=direction:passive\r\n"
                               "a=rtpmap:96 opus/48000/2\r\n"
                               "m=video 40002 RTP/AVPF 103 104\r\n"
                               "c=IN IP4 192.0.2.10\r\n"
                               "a=rtcp:40003\r\n"
                               "a=recvonly\r\n"
                               "a=direction:passive\r\n"
                               "a=rtpmap:103 H264/90000\r\n"
                               "a=rtcp-fb:103 goog-remb\r\n"
                               "a=rtcp-fb:103 nack pli\r\n"
                               "a=rtpmap:104 VP8/90000\r\n";
    assert_string_equal(text, want);
    /* the view matches what the text says */
    describe_text(text, back);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(back->media[i].port, answer->media[i].port);
        assert_int_equal(back->media[i].rtcp_port, answer->media[i].rtcp_port);
        assert_int_equal(back->media[i].comedia, 2);
        assert_string_equal(back->media[i].addr, "192.0.2.10");
        assert_string_equal(answer->media[i].addr, "192.0.2.10");
        assert_int_equal(back->media[i].ncodecs, answer->media[i].ncodecs);
    }
    free(text);

    /* we send too: our ssrc and cname; IPv6 address */
    l.address = "2001:db8::10";
    l.ssrc[1] = 777;
    char err[128];
    assert_int_equal(fl_sdp_answer(offer, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, answer,
                                   &text, err, sizeof(err)),
                     0);
    assert_non_null(strstr(text, "c=IN IP6 2001:db8::10\r\n"));
    assert_non_null(strstr(text, "o=- 42 1 IN IP6 2001:db8::10\r\n"));
    assert_non_null(strstr(text, "a=recvonly\r\n")); /* the offer only sends */
    assert_null(strstr(text, "a=ssrc:777"));         /* so we do not */
    assert_int_equal(answer->media[1].addr_ip6, 1);
    free(text);

    /* only video has a port: audio rejected in place */
    l = plain_local(0, 40002);
    text = answer_ok(kurento_offer, &l, offer, answer);
    assert_non_null(strstr(text, "m=audio 0 RTP/AVPF 96\r\nc=IN IP4 192.0.2.10\r\nm=video 40002"));
    assert_int_equal(answer->media[0].rejected, 1);
    free(text);
    free(offer);
    free(answer);
    free(back);
}

static void test_answer_srtp(void **state)
{
    (void)state;
    fl_sdp_desc *offer = new_desc(), *answer = new_desc(), *back = new_desc();
    fl_sdp_local l = plain_local(0, 40002);
    fl_sdp_crypto ours = key_of(FL_SDP_AES_CM_128_HMAC_SHA1_80, 9);
    ours.tag = 77; /* the offer's tag is answered, not ours */
    l.crypto[1] = &ours;
    char *text = answer_ok(kurento_srtp_offer, &l, offer, answer);
    assert_non_null(strstr(text, "m=video 40002 RTP/SAVPF 103\r\n"));
    assert_non_null(strstr(text, "a=rtcp-mux\r\n"));
    assert_null(strstr(text, "a=rtcp:"));
    describe_text(text, back);
    assert_int_equal(back->media[0].ncrypto, 1);
    assert_int_equal(back->media[0].crypto[0].tag, 2);
    assert_int_equal(back->media[0].crypto[0].suite, FL_SDP_AES_CM_128_HMAC_SHA1_80);
    assert_memory_equal(back->media[0].crypto[0].key, ours.key, 30);
    assert_memory_equal(&answer->media[0].crypto[0], &back->media[0].crypto[0],
                        sizeof(fl_sdp_crypto));
    free(text);

    /* AES-256: the first line */
    fl_sdp_crypto big = key_of(FL_SDP_AES_256_CM_HMAC_SHA1_80, 3);
    l.crypto[1] = &big;
    text = answer_ok(kurento_srtp_offer, &l, offer, answer);
    assert_int_equal(answer->media[0].crypto[0].tag, 1);
    assert_int_equal(answer->media[0].crypto[0].key_len, 46);
    free(text);

    /* nothing acceptable: SAVPF without our crypto, our suite not offered,
     * crypto on an AVPF offer */
    char err[128];
    fl_sdp_crypto other = key_of(FL_SDP_AES_CM_128_HMAC_SHA1_32, 3);
    const fl_sdp_crypto *tries[] = { NULL, &other };
    for (int i = 0; i < 2; i++) {
        l.crypto[1] = tries[i];
        assert_int_equal(fl_sdp_answer(offer, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer,
                                       &text, err, sizeof(err)),
                         FL_ENOTSUP);
        assert_null(text);
    }
    l.crypto[1] = &ours;
    describe_text(kurento_offer, offer);
    assert_int_equal(fl_sdp_answer(offer, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer,
                                   &text, err, sizeof(err)),
                     FL_ENOTSUP);
    /* a key of the wrong length is a bad local parameter */
    ours.key_len = 29;
    describe_text(kurento_srtp_offer, offer);
    assert_int_equal(fl_sdp_answer(offer, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer,
                                   &text, err, sizeof(err)),
                     FL_EINVAL);
    /* a line of our suite without an MKI is preferred to one with */
    ours.key_len = 30;
    free(answer_ok("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   "m=video 5004 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY1 "|2^20|1:4\r\n"
                   "a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY2 "\r\n",
                   &l, offer, answer));
    assert_int_equal(answer->media[0].crypto[0].tag, 5);
    assert_int_equal(answer->media[0].crypto[0].mki_len, 0);
    free(offer);
    free(answer);
    free(back);
}

static void test_answer_ffmpeg(void **state)
{
    (void)state;
    fl_sdp_desc *offer = new_desc(), *answer = new_desc();
    fl_sdp_local l = plain_local(50000, 50002);
    char *text = answer_ok(ffmpeg_sdp, &l, offer, answer);
    assert_string_equal(offer->media[0].addr, "127.0.0.1"); /* the session's */
    assert_int_equal(offer->media[0].bandwidth_as_kbps, 200);
    static const char want[] =
            "v=0\r\n"
            "o=- 42 1 IN IP4 192.0.2.10\r\n"
            "s=-\r\n"
            "t=0 0\r\n"
            "m=video 50002 RTP/AVP 96\r\n"
            "c=IN IP4 192.0.2.10\r\n"
            "a=rtcp:50003\r\n"
            "a=recvonly\r\n"
            "a=rtpmap:96 H264/90000\r\n"
            "a=fmtp:96 packetization-mode=1; "
            "sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==; profile-level-id=42C01E\r\n"
            "m=audio 50000 RTP/AVP 97\r\n"
            "c=IN IP4 192.0.2.10\r\n"
            "a=rtcp:50001\r\n"
            "a=recvonly\r\n"
            "a=rtpmap:97 opus/48000/2\r\n"
            "a=fmtp:97 sprop-stereo=1\r\n";
    assert_string_equal(text, want);
    assert_int_equal(answer->media[0].rtcp_mux, 0);
    assert_int_equal(answer->media[0].rtcp_port, 50003);
    assert_int_equal(answer->media[0].comedia, 0);
    free(text);

    /* the same offer to a WebRTC answerer: nothing it can take */
    fl_sdp_local w;
    memset(&w, 0, sizeof(w));
    w.ice_ufrag = "abcd";
    w.ice_pwd = "0123456789abcdefghijklmn";
    w.fingerprint = "sha-256 AB:CD";
    w.cname = "c";
    w.stream_id = "s";
    char err[128];
    assert_int_equal(fl_sdp_answer(offer, &w, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer,
                                   &text, err, sizeof(err)),
                     FL_ENOTSUP);

    /* no c= at all: an accepted section has nowhere to send */
    describe_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                  "m=audio 5006 RTP/AVP 0\r\n",
                  offer);
    assert_int_equal(fl_sdp_answer(offer, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, answer,
                                   &text, err, sizeof(err)),
                     FL_EBADMSG);
    assert_string_equal(err, "section 0: no connection address");
    /* 0.0.0.0 is an address (COMEDIA peers write it); a second audio
     * section is rejected (one port per kind) */
    free(answer_ok("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                   "m=audio 5006 RTP/AVP 0\r\nm=audio 5008 RTP/AVP 0\r\n",
                   &l, offer, answer));
    assert_int_equal(answer->media[0].rejected, 0);
    assert_int_equal(answer->media[1].rejected, 1);
    free(offer);
    free(answer);
}

/* ---- our offer ---- */

static void test_offer_plain(void **state)
{
    (void)state;
    fl_sdp_desc *offer = new_desc(), *their_offer = new_desc(), *answer = new_desc(),
                *answer_view = new_desc();
    fl_sdp_local l = plain_local(40000, 40002);
    static const char *const audio[] = { "PCMU/8000", NULL };
    static const char *const video[] = { "VP8/90000", NULL };
    l.audio_codecs = audio;
    l.video_codecs = video;
    l.ssrc[0] = 1111;
    fl_sdp_crypto key = key_of(FL_SDP_AES_256_CM_HMAC_SHA1_32, 5);
    key.tag = 9; /* written as tag 1 */
    l.crypto[1] = &key;
    char *text = NULL, err[128];
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDONLY, 1, FL_SDP_DIR_RECVONLY, offer, &text),
                     0);
    char b64[80];
    fl_base64_encode(key.key, key.key_len, b64, sizeof(b64));
    char want[2048];
    snprintf(want, sizeof(want),
             "v=0\r\n"
             "o=- 42 1 IN IP4 192.0.2.10\r\n"
             "s=-\r\n"
             "t=0 0\r\n"
             "m=audio 40000 RTP/AVPF 0\r\n"
             "c=IN IP4 192.0.2.10\r\n"
             "a=rtcp:40001\r\n"
             "a=extmap:1 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
             "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
             "a=extmap:6 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
             "a=sendonly\r\n"
             "a=rtcp-mux\r\n"
             "a=rtpmap:0 PCMU/8000\r\n"
             "a=ssrc:1111 cname:fluocname\r\n"
             "m=video 40002 RTP/SAVPF 96 97\r\n"
             "c=IN IP4 192.0.2.10\r\n"
             "a=rtcp:40003\r\n"
             "a=extmap:1 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
             "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
             "a=extmap:7 urn:ietf:params:rtp-hdrext:toffset\r\n"
             "a=recvonly\r\n"
             "a=crypto:1 AES_256_CM_HMAC_SHA1_32 inline:%s\r\n"
             "a=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n"
             "a=rtcp-fb:96 goog-remb\r\n"
             "a=rtcp-fb:96 ccm fir\r\n"
             "a=rtcp-fb:96 nack\r\n"
             "a=rtcp-fb:96 nack pli\r\n"
             "a=rtpmap:97 rtx/90000\r\n"
             "a=fmtp:97 apt=96\r\n",
             b64);
    assert_string_equal(text, want);
    assert_int_equal(offer->nbundle, 0);
    assert_int_equal(offer->media[1].crypto[0].tag, 1);

    /* a peer answers it (its own key for video) */
    describe_text(text, their_offer);
    free(text);
    fl_sdp_local peer = plain_local(6000, 6002);
    peer.address = "198.51.100.7";
    fl_sdp_crypto pkey = key_of(FL_SDP_AES_256_CM_HMAC_SHA1_32, 77);
    peer.crypto[1] = &pkey;
    assert_int_equal(fl_sdp_answer(their_offer, &peer, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV,
                                   answer, &text, err, sizeof(err)),
                     0);
    describe_text(text, answer_view);
    free(text);
    fl_sdp_desc saved = *offer;
    assert_int_equal(fl_sdp_process_answer(offer, answer_view, err, sizeof(err)), 0);
    assert_int_equal(offer->media[1].ncrypto, 1);
    assert_memory_equal(offer->media[1].crypto[0].key, key.key, 46);
    assert_memory_equal(answer_view->media[1].crypto[0].key, pkey.key, 46);
    assert_string_equal(answer_view->media[1].addr, "198.51.100.7");
    assert_int_equal(answer_view->media[1].port, 6002);
    assert_int_equal(offer->media[1].rtcp_mux, 1);
    assert_int_equal(offer->media[1].rtcp_port, 0);
    assert_int_equal(offer->media[0].dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(offer->media[1].dir, FL_SDP_DIR_RECVONLY);
    assert_int_equal(offer->media[1].setup, FL_SDP_SETUP_NONE);

    /* answers it must refuse, leaving the offer as it was */
    static const struct {
        const char *from, *to, *why;
    } bad[] = {
        { "a=crypto:1 ", "a=crypto:2 ", "section 1: no a=crypto line answering ours" },
        { "AES_256_CM_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_80",
          "section 1: no a=crypto line answering ours" },
        { "RTP/SAVPF", "RTP/SAVP", "section 1: profile RTP/SAVP, the offer's RTP/SAVPF" },
        { "RTP/SAVPF 96 97\r\nc=IN IP4 198.51.100.7\r\n", "RTP/SAVPF 96 97\r\n",
          "section 1: no connection address" },
    };

    char *good = NULL;
    assert_int_equal(fl_sdp_answer(their_offer, &peer, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV,
                                   answer, &good, err, sizeof(err)),
                     0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char edited[4096];
        const char *at = strstr(good, bad[i].from);
        assert_non_null(at);
        snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - good), good, bad[i].to,
                 at + strlen(bad[i].from));
        describe_text(edited, answer_view);
        *offer = saved;
        assert_int_equal(fl_sdp_process_answer(offer, answer_view, err, sizeof(err)), FL_EBADMSG);
        assert_string_equal(err, bad[i].why);
        assert_memory_equal(offer, &saved, sizeof(saved));
    }
    /* without rtcp-mux in the answer RTCP stays on port + 1 */
    char edited[4096];
    const char *at = strstr(good, "a=rtcp-mux\r\n");
    snprintf(edited, sizeof(edited), "%.*s%s", (int)(at - good), good, at + 12);
    describe_text(edited, answer_view);
    *offer = saved;
    assert_int_equal(fl_sdp_process_answer(offer, answer_view, err, sizeof(err)), 0);
    assert_int_equal(offer->media[0].rtcp_mux, 0);
    assert_int_equal(offer->media[0].rtcp_port, 40001);
    free(good);

    /* no port for a kind we offer */
    l.port[0] = 0;
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDONLY, 0, FL_SDP_DIR_RECVONLY, offer, &text),
                     FL_EINVAL);
    free(offer);
    free(their_offer);
    free(answer);
    free(answer_view);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),         cmocka_unit_test(test_crypto_rfc4568),
        cmocka_unit_test(test_crypto_suites),  cmocka_unit_test(test_crypto_bad),
        cmocka_unit_test(test_describe_plain), cmocka_unit_test(test_describe_plain_errors),
        cmocka_unit_test(test_answer_kurento), cmocka_unit_test(test_answer_srtp),
        cmocka_unit_test(test_answer_ffmpeg),  cmocka_unit_test(test_offer_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
