/* sdp/: exact round trips of Chromium and Firefox descriptions, the
 * structured view, malformed text, codec matching, answers to browser
 * offers, our own offer and the answer to it. */
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

#include "base/err.h"
#include "sdp/sdp.h"

#define FP                                                                                       \
    "sha-256 "                                                                                   \
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:" \
    "19:08"
#define ICE                                  \
    "a=ice-ufrag:Xk3d\r\n"                   \
    "a=ice-pwd:j9ZyPq1N2mB7cV4xL8sR0tUw\r\n" \
    "a=ice-options:trickle\r\n"              \
    "a=fingerprint:" FP "\r\n"               \
    "a=setup:actpass\r\n"
#define STREAM "2f4c9b0e-0d0e-4a4f-9b2e-3c3c5d6e7f80"
#define FB5(pt)                          \
    "a=rtcp-fb:" #pt " goog-remb\r\n"    \
    "a=rtcp-fb:" #pt " transport-cc\r\n" \
    "a=rtcp-fb:" #pt " ccm fir\r\n"      \
    "a=rtcp-fb:" #pt " nack\r\n"         \
    "a=rtcp-fb:" #pt " nack pli\r\n"
#define RTX(pt, apt)                 \
    "a=rtpmap:" #pt " rtx/90000\r\n" \
    "a=fmtp:" #pt " apt=" #apt "\r\n"
#define H264(pt, rtx, pm, plid)                                                                    \
    "a=rtpmap:" #pt " H264/90000\r\n" FB5(pt) "a=fmtp:" #pt                                        \
                                              " level-asymmetry-allowed=1;packetization-mode=" #pm \
                                              ";profile-level-id=" plid "\r\n" RTX(rtx, pt)

/* Chromium 120, unified plan: audio, video, a data channel. */
static const char chrome_offer[] =
        "v=0\r\n"
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE 0 1 2\r\n"
        "a=extmap-allow-mixed\r\n"
        "a=msid-semantic: WMS " STREAM "\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n" ICE "a=mid:0\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=sendrecv\r\n"
        "a=msid:" STREAM " 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\r\n"
        "a=rtcp-mux\r\n"
        "a=rtcp-rsize\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=rtcp-fb:111 transport-cc\r\n"
        "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:63 red/48000/2\r\n"
        "a=fmtp:63 111/111\r\n"
        "a=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:13 CN/8000\r\n"
        "a=rtpmap:110 telephone-event/48000\r\n"
        "a=rtpmap:126 telephone-event/8000\r\n"
        "a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6\r\n"
        "a=ssrc:3735928559 msid:" STREAM " 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 "
        "98 99 100 101 112 113 116 117 118\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n" ICE "a=mid:1\r\n"
        "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=extmap:13 urn:3gpp:video-orientation\r\n"
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
        "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
        "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\n"
        "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\n"
        "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\n"
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
        "a=sendrecv\r\n"
        "a=msid:" STREAM " 0b6c1f2e-7a8b-4c9d-ae0f-1b2c3d4e5f60\r\n"
        "a=rtcp-mux\r\n"
        "a=rtcp-rsize\r\n"
        "a=rtpmap:96 VP8/90000\r\n" FB5(96) RTX(97, 96) H264(102, 103, 1, "42001f") H264(
                104,
                105,
                0,
                "42001f") H264(106, 107, 1, "42e01f") H264(108, 109, 0, "42e01f") H264(127,
                                                                                       125,
                                                                                       1,
                                                                                       "4d001f")
                H264(39, 40, 0, "4d001f") "a=rtpmap:45 AV1/90000\r\n" FB5(45) "a=fmtp:45 level-idx=5;profile=0;tier=0\r\n" RTX(46, 45) "a=rtpmap:98 VP9/90000\r\n" FB5(
                        98) "a=fmtp:98 profile-id=0\r\n" RTX(99,
                                                             98) "a=rtpmap:100 VP9/90000\r\n" FB5(100) "a=fmtp:100 profile-id=2\r\n" RTX(101,
                                                                                                                                         100)
                        H264(112, 113, 1, "64001f") "a=rtpmap:116 red/90000\r\n" RTX(
                                117,
                                116) "a=rtpmap:118 ulpfec/90000\r\n"
                                     "a=ssrc-group:FID 1652365281 2398174451\r\n"
                                     "a=ssrc:1652365281 cname:4TOk42mSjXCkVIa6\r\n"
                                     "a=ssrc:1652365281 msid:" STREAM
                                     " 0b6c1f2e-7a8b-4c9d-ae0f-1b2c3d4e5f60\r\n"
                                     "a=ssrc:2398174451 cname:4TOk42mSjXCkVIa6\r\n"
                                     "a=ssrc:2398174451 msid:" STREAM
                                     " 0b6c1f2e-7a8b-4c9d-ae0f-1b2c3d4e5f60\r\n"
                                     "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                                     "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:2\r\n"
                                     "a=sctp-port:5000\r\n"
                                     "a=max-message-size:262144\r\n";

#define FF_FP                                                                                    \
    "sha-256 "                                                                                   \
    "F4:3A:9C:51:0E:52:71:6B:8D:D2:0C:58:8B:2E:73:41:37:BA:0F:6E:96:CE:18:0A:DB:C4:85:E4:9A:0D:" \
    "52:0B"
#define FF_ICE                                       \
    "a=ice-pwd:7ab0c6ff4b1e2b5e0f6f1c5a1d2e3f40\r\n" \
    "a=ice-ufrag:c1a5e2f3\r\n"

/* Firefox 115: fmtp before rtpmap, fingerprint on the session, ssrc-group
 * after the ssrcs. */
static const char firefox_offer[] =
        "v=0\r\n"
        "o=mozilla...THIS_IS_SDPARTA-115.0 6780386128826853394 0 IN IP4 0.0.0.0\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=fingerprint:" FF_FP "\r\n"
        "a=group:BUNDLE 0 1\r\n"
        "a=ice-options:trickle\r\n"
        "a=msid-semantic:WMS *\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=sendrecv\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n"
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n"
        "a=fmtp:101 0-15\r\n" FF_ICE "a=mid:0\r\n"
        "a=msid:{5b0f8c1e-8d0e-4a5b-9a3c-2e1f0d9c8b7a} {7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f}\r\n"
        "a=rtcp-mux\r\n"
        "a=rtpmap:109 opus/48000/2\r\n"
        "a=rtpmap:9 G722/8000/1\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000/1\r\n"
        "a=setup:actpass\r\n"
        "a=ssrc:2655508255 cname:{2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a}\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=sendrecv\r\n"
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset\r\n"
        "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
        "a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
        "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\n"
        "a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1\r\n"
        "a=fmtp:120 max-fs=12288;max-fr=60\r\n"
        "a=fmtp:124 apt=120\r\n"
        "a=fmtp:121 max-fs=12288;max-fr=60\r\n"
        "a=fmtp:125 apt=121\r\n"
        "a=fmtp:127 apt=126\r\n"
        "a=fmtp:98 apt=97\r\n" FF_ICE "a=mid:1\r\n"
        "a=msid:{5b0f8c1e-8d0e-4a5b-9a3c-2e1f0d9c8b7a} {1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9}\r\n"
        "a=rtcp-fb:120 nack\r\n"
        "a=rtcp-fb:120 nack pli\r\n"
        "a=rtcp-fb:120 ccm fir\r\n"
        "a=rtcp-fb:120 goog-remb\r\n"
        "a=rtcp-fb:120 transport-cc\r\n"
        "a=rtcp-fb:121 nack\r\n"
        "a=rtcp-fb:121 nack pli\r\n"
        "a=rtcp-fb:121 ccm fir\r\n"
        "a=rtcp-fb:121 goog-remb\r\n"
        "a=rtcp-fb:121 transport-cc\r\n"
        "a=rtcp-fb:126 nack\r\n"
        "a=rtcp-fb:126 nack pli\r\n"
        "a=rtcp-fb:126 ccm fir\r\n"
        "a=rtcp-fb:126 goog-remb\r\n"
        "a=rtcp-fb:126 transport-cc\r\n"
        "a=rtcp-fb:97 nack\r\n"
        "a=rtcp-fb:97 nack pli\r\n"
        "a=rtcp-fb:97 ccm fir\r\n"
        "a=rtcp-fb:97 goog-remb\r\n"
        "a=rtcp-fb:97 transport-cc\r\n"
        "a=rtcp-mux\r\n"
        "a=rtcp-rsize\r\n"
        "a=rtpmap:120 VP8/90000\r\n"
        "a=rtpmap:124 rtx/90000\r\n"
        "a=rtpmap:121 VP9/90000\r\n"
        "a=rtpmap:125 rtx/90000\r\n"
        "a=rtpmap:126 H264/90000\r\n"
        "a=rtpmap:127 rtx/90000\r\n"
        "a=rtpmap:97 H264/90000\r\n"
        "a=rtpmap:98 rtx/90000\r\n"
        "a=setup:actpass\r\n"
        "a=ssrc:1423190427 cname:{2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a}\r\n"
        "a=ssrc:2829036034 cname:{2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a}\r\n"
        "a=ssrc-group:FID 1423190427 2829036034\r\n";

static fl_sdp_desc *new_desc(void)
{
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    return d;
}

static void describe_text(const char *text, fl_sdp_desc *d)
{
    fl_sdp *s;
    char err[128];
    int rc = fl_sdp_parse(&s, text, strlen(text), err, sizeof(err));
    if (rc != 0)
        fail_msg("parse: %s", err);
    rc = fl_sdp_describe(s, d, err, sizeof(err));
    if (rc != 0)
        fail_msg("describe: %s", err);
    fl_sdp_destroy(s);
}

static void round_trip(const char *text)
{
    fl_sdp *s;
    char err[128];
    assert_int_equal(fl_sdp_parse(&s, text, strlen(text), err, sizeof(err)), 0);
    char *out = fl_sdp_write(s);
    assert_non_null(out);
    assert_string_equal(out, text);
    free(out);
    fl_sdp_destroy(s);
}

/* text with every CRLF turned into LF */
static char *lf_only(const char *text)
{
    char *lf = malloc(strlen(text) + 1), *p = lf;
    assert_non_null(lf);
    for (const char *q = text; *q; q++) {
        if (*q != '\r')
            *p++ = *q;
    }
    *p = '\0';
    return lf;
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip(chrome_offer);
    round_trip(firefox_offer);
    /* LF-only input, and no final newline: written back with CRLF */
    const char *texts[] = { chrome_offer, firefox_offer };
    for (size_t i = 0; i < 2; i++) {
        char *lf = lf_only(texts[i]);
        for (int cut = 0; cut < 2; cut++) {
            fl_sdp *s;
            assert_int_equal(fl_sdp_parse(&s, lf, strlen(lf) - (size_t)cut, NULL, 0), 0);
            char *out = fl_sdp_write(s);
            assert_string_equal(out, texts[i]);
            free(out);
            fl_sdp_destroy(s);
        }
        free(lf);
    }
}

static void test_unknown_lines_kept(void **state)
{
    (void)state;
    const char *text = "v=0\r\n"
                       "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
                       "s=SDP Seminar\r\n"
                       "i=A Seminar on the session description protocol\r\n"
                       "u=http://www.example.com/seminars/sdp.pdf\r\n"
                       "e=j.doe@example.com (Jane Doe)\r\n"
                       "c=IN IP4 224.2.17.12/127\r\n"
                       "t=2873397496 2873404696\r\n"
                       "r=7d 1h 0 25h\r\n"
                       "z=2882844526 -1h 2898848070 0\r\n"
                       "a=recvonly\r\n"
                       "a=x-google-flag:conference\r\n"
                       "a=weird:  two  spaces \r\n"
                       "m=audio 49170/2 RTP/AVP 0\r\n"
                       "b=AS:64\r\n"
                       "a=\r\n"
                       "m=video 51372 RTP/AVP 99\r\n"
                       "a=rtpmap:99 h263-1998/90000\r\n"
                       "a=rtpmap:120 notlisted/90000\r\n"
                       "m=text 0 RTP/AVP 98\r\n";
    round_trip(text);
    fl_sdp_desc *d = new_desc();
    describe_text(text, d);
    assert_int_equal(d->session_id, 2890844526u);
    assert_int_equal(d->nmedia, 3);
    assert_int_equal(d->media[0].port, 49170);
    assert_int_equal(d->media[0].dir, FL_SDP_DIR_RECVONLY); /* from the session */
    assert_int_equal(d->media[0].bandwidth_as_kbps, 64);
    assert_string_equal(d->media[0].codecs[0].name, "PCMU"); /* static, no rtpmap */
    assert_int_equal(d->media[0].codecs[0].clock_rate, 8000);
    assert_int_equal(d->media[1].ncodecs, 1);
    assert_string_equal(d->media[1].codecs[0].name, "h263-1998");
    assert_int_equal(d->media[2].kind, FL_SDP_KIND_OTHER);
    assert_string_equal(d->media[2].kind_name, "text");
    assert_true(d->media[2].rejected);
    free(d);
}

static void test_describe_chrome(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    describe_text(chrome_offer, d);
    assert_true(d->session_id == 4611731400430051336ull);
    assert_int_equal(d->session_version, 2);
    assert_int_equal(d->ice_lite, 0);
    assert_int_equal(d->nbundle, 3);
    assert_string_equal(d->bundle[2], "2");
    assert_int_equal(d->nmedia, 3);

    const fl_sdp_media *a = &d->media[0];
    assert_int_equal(a->kind, FL_SDP_KIND_AUDIO);
    assert_string_equal(a->proto, "UDP/TLS/RTP/SAVPF");
    assert_int_equal(a->port, 9);
    assert_false(a->rejected);
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->dir, FL_SDP_DIR_SENDRECV);
    assert_true(a->rtcp_mux && a->rtcp_rsize);
    assert_int_equal(a->ncodecs, 8);
    assert_int_equal(a->codecs[0].pt, 111);
    assert_string_equal(a->codecs[0].name, "opus");
    assert_int_equal(a->codecs[0].clock_rate, 48000);
    assert_int_equal(a->codecs[0].channels, 2);
    assert_string_equal(a->codecs[0].fmtp, "minptime=10;useinbandfec=1");
    assert_int_equal(a->codecs[0].fb, FL_SDP_FB_TWCC);
    assert_int_equal(a->codecs[0].rtx_pt, -1);
    assert_string_equal(a->codecs[1].name, "red");
    assert_int_equal(a->codecs[3].pt, 0);
    assert_int_equal(a->codecs[3].channels, 0);
    assert_string_equal(a->codecs[7].name, "telephone-event");
    assert_int_equal(a->ext_ids[FL_SDP_EXT_AUDIO_LEVEL], 1);
    assert_int_equal(a->ext_ids[FL_SDP_EXT_ABS_SEND_TIME], 2);
    assert_int_equal(a->ext_ids[FL_SDP_EXT_TWCC], 3);
    assert_int_equal(a->ext_ids[FL_SDP_EXT_MID], 4);
    assert_int_equal(a->ext_ids[FL_SDP_EXT_TOFFSET], 0);
    assert_int_equal(a->nssrcs, 1);
    assert_int_equal(a->ssrcs[0].ssrc, 3735928559u);
    assert_int_equal(a->ssrcs[0].rtx_ssrc, 0);
    assert_string_equal(a->ssrcs[0].cname, "4TOk42mSjXCkVIa6");
    assert_string_equal(a->ssrcs[0].msid, STREAM " 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    assert_string_equal(a->ice_ufrag, "Xk3d");
    assert_string_equal(a->ice_pwd, "j9ZyPq1N2mB7cV4xL8sR0tUw");
    assert_string_equal(a->fingerprint, FP);
    assert_int_equal(a->setup, FL_SDP_SETUP_ACTPASS);
    assert_string_equal(a->fmt, "111 63 9 0 8 13 110 126");
    assert_ptr_equal(fl_sdp_media_main_codec(a), &a->codecs[0]);

    const fl_sdp_media *v = &d->media[1];
    assert_int_equal(v->kind, FL_SDP_KIND_VIDEO);
    assert_int_equal(v->ncodecs, 25);
    assert_string_equal(v->codecs[0].name, "VP8");
    assert_int_equal(v->codecs[0].rtx_pt, 97);
    assert_int_equal(v->codecs[0].fb, FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_FIR |
                                              FL_SDP_FB_REMB | FL_SDP_FB_TWCC);
    assert_string_equal(v->codecs[1].name, "rtx");
    assert_string_equal(v->codecs[1].fmtp, "apt=96");
    assert_int_equal(v->codecs[2].pt, 102);
    assert_string_equal(v->codecs[2].fmtp,
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f");
    assert_int_equal(v->codecs[2].rtx_pt, 103);
    assert_int_equal(v->codecs[10].pt, 127);
    assert_int_equal(v->codecs[10].rtx_pt, 125);
    assert_string_equal(v->codecs[14].name, "AV1");
    assert_int_equal(v->codecs[22].pt, 116);
    assert_int_equal(v->codecs[22].rtx_pt, 117);
    assert_int_equal(v->codecs[24].rtx_pt, -1);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_TOFFSET], 14);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RRID], 11);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_AUDIO_LEVEL], 0);
    assert_int_equal(v->nssrcs, 1); /* the RTX ssrc folded into its primary */
    assert_int_equal(v->ssrcs[0].ssrc, 1652365281u);
    assert_int_equal(v->ssrcs[0].rtx_ssrc, 2398174451u);

    const fl_sdp_media *app = &d->media[2];
    assert_int_equal(app->kind, FL_SDP_KIND_APPLICATION);
    assert_string_equal(app->proto, "UDP/DTLS/SCTP");
    assert_string_equal(app->fmt, "webrtc-datachannel");
    assert_int_equal(app->ncodecs, 0);
    assert_null(fl_sdp_media_main_codec(app));
    free(d);
}

static void test_describe_firefox(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    describe_text(firefox_offer, d);
    assert_true(d->session_id == 6780386128826853394ull);
    assert_int_equal(d->nbundle, 2);
    const fl_sdp_media *a = &d->media[0];
    assert_string_equal(a->fingerprint, FF_FP); /* from the session */
    assert_string_equal(a->ice_ufrag, "c1a5e2f3");
    assert_int_equal(a->setup, FL_SDP_SETUP_ACTPASS);
    assert_string_equal(a->codecs[0].fmtp, "maxplaybackrate=48000;stereo=1;useinbandfec=1");
    assert_int_equal(a->codecs[1].channels, 1);
    assert_int_equal(a->rtcp_rsize, 0);
    assert_int_equal(a->ext_ids[FL_SDP_EXT_MID], 3);
    assert_string_equal(a->ssrcs[0].msid, "{5b0f8c1e-8d0e-4a5b-9a3c-2e1f0d9c8b7a} "
                                          "{7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f}");
    const fl_sdp_media *v = &d->media[1];
    assert_int_equal(v->ncodecs, 8);
    assert_int_equal(v->codecs[0].rtx_pt, 124);
    assert_int_equal(v->codecs[4].pt, 126);
    assert_int_equal(v->codecs[4].rtx_pt, 127);
    assert_int_equal(v->codecs[6].rtx_pt, 98);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_TWCC], 7);
    assert_int_equal(v->nssrcs, 1);
    assert_int_equal(v->ssrcs[0].ssrc, 1423190427u);
    assert_int_equal(v->ssrcs[0].rtx_ssrc, 2829036034u);
    free(d);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\r\n",
        "v=1\r\n",
        "o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n",
        "v=0\r\nfoo\r\n",
        "v=0\r\nA=b\r\n",
        "v=0\r\na:x\r\n",
        "v=0\r\no=- 1 IN IP4 0.0.0.0\r\n",
        "v=0\r\no=- x 1 IN IP4 0.0.0.0\r\n",
        "v=0\r\no=- 99999999999999999999 1 IN IP4 0.0.0.0\r\n",
        "v=0\r\nc=IN IP4\r\n",
        "v=0\r\nm=audio 9 RTP/AVP\r\n",
        "v=0\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\ns=-\r\n\r\nt=0 0\r\n",
        "v=0\r\ns=a\tb\x01\r\n",
        "v=0\r\nv=0\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fl_sdp *s = (fl_sdp *)&s;
        char err[128] = "";
        int rc = fl_sdp_parse(&s, bad[i], strlen(bad[i]), err, sizeof(err));
        if (rc != FL_EBADMSG)
            fail_msg("case %zu: got %d: %s", i, rc, bad[i]);
        assert_null(s);
        assert_true(err[0] != '\0');
    }
    char err[128];
    fl_sdp *s;
    const char *three = "v=0\r\nm=audio 9 RTP/AVP\r\n";
    assert_int_equal(fl_sdp_parse(&s, three, strlen(three), err, sizeof(err)), FL_EBADMSG);
    assert_string_equal(err, "line 2: m= line needs 4 fields");
    /* a NUL byte */
    assert_int_equal(fl_sdp_parse(&s, "v=0\r\ns=\0\r\n", 10, err, sizeof(err)), FL_EBADMSG);
    /* too many sections, too long */
    char *big = malloc(FL_SDP_MAX_LEN + 2);
    strcpy(big, "v=0\r\n");
    for (int i = 0; i <= FL_SDP_MAX_MEDIA; i++)
        strcat(big, "m=audio 9 RTP/AVP 0\r\n");
    assert_int_equal(fl_sdp_parse(&s, big, strlen(big), err, sizeof(err)), FL_EBADMSG);
    assert_non_null(strstr(err, "more than"));
    memset(big, 'x', FL_SDP_MAX_LEN + 1);
    memcpy(big, "v=0\r\ns=", 7);
    assert_int_equal(fl_sdp_parse(&s, big, FL_SDP_MAX_LEN + 1, NULL, 0), FL_EBADMSG);
    assert_int_equal(fl_sdp_parse(&s, big, FL_SDP_MAX_LEN, NULL, 0), 0);
    fl_sdp_destroy(s);
    free(big);
}

static void test_describe_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "m=audio 9 RTP/AVP 200\r\n",
        "m=audio 9 RTP/AVP x\r\n",
        "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
        "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus/x\r\n",
        "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:96 PCMU/8000\r\n",
        "m=audio 9 RTP/AVP 0\r\na=extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid\r\n",
        "m=audio 9 RTP/AVP 0\r\na=extmap:1 urn:a\r\na=extmap:1 urn:b\r\n",
        "m=audio 9 RTP/AVP 0\r\na=mid:a\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n",
        "m=audio 9 RTP/AVP 0\r\na=setup:sometimes\r\n",
        "m=audio 9 RTP/AVP 0\r\na=ssrc:x cname:y\r\n",
        "m=audio 9 RTP/AVP 0\r\na=ssrc-group:FID 1\r\n",
        "m=audio 9 RTP/AVP 0\r\na=mid:0123456789012345678901234567890123456789\r\n",
    };
    fl_sdp_desc *d = new_desc();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512], err[128] = "";
        snprintf(text, sizeof(text), "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n%s", bad[i]);
        fl_sdp *s;
        assert_int_equal(fl_sdp_parse(&s, text, strlen(text), NULL, 0), 0);
        int rc = fl_sdp_describe(s, d, err, sizeof(err));
        if (rc != FL_EBADMSG || !err[0])
            fail_msg("case %zu: got %d: %s", i, rc, bad[i]);
        fl_sdp_destroy(s);
    }
    /* an rtpmap for a payload not on the m= line, and no c=: fine */
    describe_text("v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:96 opus/48000/2\r\n", d);
    assert_int_equal(d->media[0].ncodecs, 1);
    free(d);
}

static fl_sdp_codec codec(const char *name, uint32_t rate, uint8_t ch, const char *fmtp)
{
    fl_sdp_codec c;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "%s", name);
    c.clock_rate = rate;
    c.channels = ch;
    snprintf(c.fmtp, sizeof(c.fmtp), "%s", fmtp);
    c.rtx_pt = -1;
    return c;
}

static int h264_match(const char *a, const char *b)
{
    fl_sdp_codec x = codec("H264", 90000, 0, a), y = codec("h264", 90000, 0, b);
    return fl_sdp_codec_match(&x, &y);
}

static void test_codec_match(void **state)
{
    (void)state;
    /* packetization-mode must be equal; absent = 0 */
    assert_false(h264_match("packetization-mode=1;profile-level-id=42e01f",
                            "packetization-mode=0;profile-level-id=42e01f"));
    assert_true(
            h264_match("profile-level-id=42e01f", "packetization-mode=0;profile-level-id=42e01f"));
    /* level may differ */
    assert_true(
            h264_match("packetization-mode=1;profile-level-id=42e01f",
                       "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e034"));
    /* constrained baseline (42e0, 42c0, 4d80...) against baseline (4200): not the same profile */
    assert_false(h264_match("packetization-mode=1;profile-level-id=42e01f",
                            "packetization-mode=1;profile-level-id=42001f"));
    assert_true(h264_match("packetization-mode=1;profile-level-id=42e01f",
                           "packetization-mode=1;profile-level-id=42C01F"));
    assert_true(h264_match("packetization-mode=1;profile-level-id=4d801f",
                           "packetization-mode=1;profile-level-id=42e02a"));
    assert_false(h264_match("packetization-mode=1;profile-level-id=4d001f",
                            "packetization-mode=1;profile-level-id=42e01f"));
    assert_true(h264_match("packetization-mode=1;profile-level-id=640c1f",
                           "packetization-mode=1;profile-level-id=640c34"));
    assert_false(h264_match("packetization-mode=1;profile-level-id=64001f",
                            "packetization-mode=1;profile-level-id=640c1f"));
    /* absent = 42e01f */
    assert_true(h264_match("", "profile-level-id=42e01f"));
    assert_false(h264_match("", "profile-level-id=zzzzzz"));
    /* others: name, rate, channels (0 = 1) */
    fl_sdp_codec a = codec("opus", 48000, 2, "minptime=10"), b = codec("OPUS", 48000, 2, "");
    assert_true(fl_sdp_codec_match(&a, &b));
    b.channels = 1;
    assert_false(fl_sdp_codec_match(&a, &b));
    a = codec("PCMU", 8000, 0, "");
    b = codec("PCMU", 8000, 1, "");
    assert_true(fl_sdp_codec_match(&a, &b));
    b.clock_rate = 16000;
    assert_false(fl_sdp_codec_match(&a, &b));
    a = codec("VP9", 90000, 0, "profile-id=0");
    b = codec("VP9", 90000, 0, "");
    assert_true(fl_sdp_codec_match(&a, &b));
    b = codec("VP9", 90000, 0, "profile-id=2");
    assert_false(fl_sdp_codec_match(&a, &b));

    assert_int_equal(fl_sdp_dir_reverse(FL_SDP_DIR_SENDONLY), FL_SDP_DIR_RECVONLY);
    assert_int_equal(fl_sdp_dir_reverse(FL_SDP_DIR_RECVONLY), FL_SDP_DIR_SENDONLY);
    assert_int_equal(fl_sdp_dir_reverse(FL_SDP_DIR_SENDRECV), FL_SDP_DIR_SENDRECV);
    assert_int_equal(fl_sdp_dir_reverse(FL_SDP_DIR_INACTIVE), FL_SDP_DIR_INACTIVE);
    assert_string_equal(fl_sdp_ext_uri(FL_SDP_EXT_MID), "urn:ietf:params:rtp-hdrext:sdes:mid");
}

#define OUR_FP                                                                                   \
    "sha-256 "                                                                                   \
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:" \
    "EE:FF"

static fl_sdp_local local_defaults(void)
{
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.ice_ufrag = "fLuO";
    l.ice_pwd = "0123456789abcdefghijklmn";
    l.fingerprint = OUR_FP;
    l.cname = "fluocname";
    l.stream_id = "fluo";
    l.session_id = 1234567890123ull;
    l.session_version = 2;
    return l;
}

/* Every negotiated figure of `want` as read back from its own text. */
static void assert_same_figures(const fl_sdp_desc *want, const char *text)
{
    fl_sdp_desc *got = new_desc();
    describe_text(text, got);
    assert_true(got->session_id == want->session_id);
    assert_true(got->session_version == want->session_version);
    assert_int_equal(got->ice_lite, want->ice_lite);
    assert_int_equal(got->nbundle, want->nbundle);
    for (size_t i = 0; i < want->nbundle; i++)
        assert_string_equal(got->bundle[i], want->bundle[i]);
    assert_int_equal(got->nmedia, want->nmedia);
    for (size_t i = 0; i < want->nmedia; i++) {
        const fl_sdp_media *w = &want->media[i], *g = &got->media[i];
        assert_int_equal(g->kind, w->kind);
        assert_string_equal(g->kind_name, w->kind_name);
        assert_string_equal(g->proto, w->proto);
        assert_int_equal(g->port, w->port);
        assert_int_equal(g->rejected, w->rejected);
        assert_string_equal(g->mid, w->mid);
        assert_string_equal(g->fmt, w->fmt);
        if (w->rejected)
            continue;
        assert_int_equal(g->dir, w->dir);
        assert_int_equal(g->rtcp_mux, w->rtcp_mux);
        assert_int_equal(g->rtcp_rsize, w->rtcp_rsize);
        assert_int_equal(g->ncodecs, w->ncodecs);
        for (size_t c = 0; c < w->ncodecs; c++) {
            assert_int_equal(g->codecs[c].pt, w->codecs[c].pt);
            assert_string_equal(g->codecs[c].name, w->codecs[c].name);
            assert_int_equal(g->codecs[c].clock_rate, w->codecs[c].clock_rate);
            assert_int_equal(g->codecs[c].channels, w->codecs[c].channels);
            assert_string_equal(g->codecs[c].fmtp, w->codecs[c].fmtp);
            assert_int_equal(g->codecs[c].fb, w->codecs[c].fb);
            assert_int_equal(g->codecs[c].rtx_pt, w->codecs[c].rtx_pt);
        }
        assert_memory_equal(g->ext_ids, w->ext_ids, sizeof(w->ext_ids));
        assert_int_equal(g->nssrcs, w->nssrcs);
        for (size_t k = 0; k < w->nssrcs; k++) {
            assert_int_equal(g->ssrcs[k].ssrc, w->ssrcs[k].ssrc);
            assert_int_equal(g->ssrcs[k].rtx_ssrc, w->ssrcs[k].rtx_ssrc);
            assert_string_equal(g->ssrcs[k].cname, w->ssrcs[k].cname);
            assert_string_equal(g->ssrcs[k].msid, w->ssrcs[k].msid);
        }
        assert_string_equal(g->ice_ufrag, w->ice_ufrag);
        assert_string_equal(g->ice_pwd, w->ice_pwd);
        assert_string_equal(g->fingerprint, w->fingerprint);
        assert_int_equal(g->setup, w->setup);
        assert_int_equal(g->ncandidates, w->ncandidates);
        for (size_t k = 0; k < w->ncandidates; k++)
            assert_string_equal(g->candidates[k], w->candidates[k]);
        assert_int_equal(g->end_of_candidates, w->end_of_candidates);
    }
    free(got);
}

static void test_answer_chrome(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(chrome_offer, o);
    fl_sdp_local l = local_defaults();
    l.ssrc[0] = 1111;
    l.ssrc[1] = 2222;
    l.rtx_ssrc[1] = 3333;
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(a->nmedia, 3);
    /* audio: opus, PCMU, PCMA in the offer's order with its numbers */
    const fl_sdp_media *au = &a->media[0];
    assert_false(au->rejected);
    assert_int_equal(au->port, 9);
    assert_int_equal(au->ncodecs, 3);
    assert_int_equal(au->codecs[0].pt, 111);
    assert_string_equal(au->codecs[0].fmtp, "minptime=10;useinbandfec=1");
    assert_int_equal(au->codecs[0].fb, 0); /* TWCC not configured */
    assert_int_equal(au->codecs[1].pt, 0);
    assert_int_equal(au->codecs[2].pt, 8);
    assert_int_equal(au->dir, FL_SDP_DIR_SENDRECV);
    assert_int_equal(au->setup, FL_SDP_SETUP_ACTIVE);
    assert_true(au->rtcp_mux && au->rtcp_rsize);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_AUDIO_LEVEL], 1);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_ABS_SEND_TIME], 2);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_TWCC], 0);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_MID], 4);
    assert_string_equal(au->ice_ufrag, "fLuO");
    assert_string_equal(au->fingerprint, OUR_FP);
    assert_int_equal(au->nssrcs, 1);
    assert_int_equal(au->ssrcs[0].ssrc, 1111);
    assert_int_equal(au->ssrcs[0].rtx_ssrc, 0);
    /* video: VP8, every H.264 variant and VP9 profile 0, each with its RTX,
     * in the offer's order */
    const fl_sdp_media *v = &a->media[1];
    static const uint8_t want_pts[] = { 96,  97,  102, 103, 104, 105, 106, 107, 108,
                                        109, 127, 125, 39,  40,  98,  99,  112, 113 };
    assert_int_equal(v->ncodecs, sizeof(want_pts));
    for (size_t i = 0; i < sizeof(want_pts); i++)
        assert_int_equal(v->codecs[i].pt, want_pts[i]);
    assert_int_equal(v->codecs[0].rtx_pt, 97);
    assert_int_equal(v->codecs[0].fb,
                     FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_FIR | FL_SDP_FB_REMB);
    assert_string_equal(v->codecs[3].fmtp, "apt=102");
    assert_int_equal(v->codecs[3].fb, 0);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_TOFFSET], 14);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 0);
    assert_ptr_equal(fl_sdp_media_main_codec(v), &v->codecs[0]);
    assert_int_equal(v->nssrcs, 1);
    assert_int_equal(v->ssrcs[0].rtx_ssrc, 3333);
    /* the data channel: rejected in place */
    assert_true(a->media[2].rejected);
    assert_int_equal(a->media[2].port, 0);
    assert_int_equal(a->nbundle, 2);
    assert_string_equal(a->bundle[0], "0");
    assert_string_equal(a->bundle[1], "1");

    assert_non_null(strstr(text, "\r\nm=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                                 "c=IN IP4 0.0.0.0\r\na=mid:2\r\n"));
    assert_true(text[strlen(text) - 1] == '\n');
    assert_non_null(strstr(text, "\r\na=group:BUNDLE 0 1\r\n"));
    assert_non_null(strstr(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n"));
    assert_non_null(strstr(text, "a=ice-options:trickle\r\n"));
    assert_non_null(strstr(text, "a=ssrc-group:FID 2222 3333\r\n"
                                 "a=ssrc:2222 cname:fluocname\r\n"
                                 "a=ssrc:2222 msid:fluo fluo-video\r\n"
                                 "a=ssrc:3333 cname:fluocname\r\n"
                                 "a=ssrc:3333 msid:fluo fluo-video\r\n"));
    assert_non_null(strstr(text, "a=msid:fluo fluo-audio\r\n"));
    assert_non_null(strstr(text, "v=0\r\no=- 1234567890123 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"));
    assert_same_figures(a, text);
    round_trip(text);
    /* the offerer's side reads our answer */
    fl_sdp_desc *back = new_desc();
    describe_text(text, back);
    assert_int_equal(fl_sdp_process_answer(o, back, err, sizeof(err)), 0);
    assert_int_equal(o->media[1].ncodecs, 18);
    assert_true(o->media[2].rejected);
    assert_int_equal(o->media[0].setup, FL_SDP_SETUP_PASSIVE);
    free(back);
    free(text);
    free(o);
    free(a);
}

static void test_answer_firefox(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(firefox_offer, o);
    fl_sdp_local l = local_defaults();
    char *text, err[128];
    assert_int_equal(
            fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_RECVONLY, a, &text, err, 128), 0);
    assert_int_equal(a->media[0].ncodecs, 3); /* 109 0 8 */
    assert_int_equal(a->media[0].codecs[0].pt, 109);
    assert_int_equal(a->media[0].nssrcs, 0); /* no ssrc configured */
    const fl_sdp_media *v = &a->media[1];
    assert_int_equal(v->dir, FL_SDP_DIR_RECVONLY);
    /* in the offer's order: VP8 120/124, VP9 121/125, H264 126/127 (pm 1)
     * and 97/98 (pm 0) */
    assert_int_equal(v->ncodecs, 8);
    assert_int_equal(v->codecs[0].pt, 120);
    assert_int_equal(v->codecs[0].rtx_pt, 124);
    assert_int_equal(v->codecs[2].pt, 121);
    assert_int_equal(v->codecs[4].pt, 126);
    assert_int_equal(v->codecs[6].pt, 97);
    assert_int_equal(v->codecs[6].rtx_pt, 98);
    assert_int_equal(v->rtcp_rsize, 1);
    assert_int_equal(a->media[0].rtcp_rsize, 0);
    assert_null(strstr(text, "a=rtcp-rsize\r\na=rtpmap:109"));
    assert_same_figures(a, text);
    free(text);
    free(o);
    free(a);
}

static void test_answer_codec_lists(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(chrome_offer, o);
    fl_sdp_local l = local_defaults();
    const char *h264[] = { "H264/90000;packetization-mode=1;profile-level-id=42e01f", NULL };
    const char *audio[] = { "PCMA/8000", "telephone-event/8000", "opus/48000/2", NULL };
    l.video_codecs = h264;
    l.audio_codecs = audio;
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    /* offerer's order, not ours */
    assert_int_equal(a->media[0].ncodecs, 3);
    assert_int_equal(a->media[0].codecs[0].pt, 111);
    assert_int_equal(a->media[0].codecs[1].pt, 8);
    assert_int_equal(a->media[0].codecs[2].pt, 126);
    /* only constrained baseline with packetization-mode 1: 106 and its RTX */
    const fl_sdp_media *v = &a->media[1];
    assert_int_equal(v->ncodecs, 2);
    assert_int_equal(v->codecs[0].pt, 106);
    assert_string_equal(v->codecs[0].fmtp,
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
    assert_int_equal(v->codecs[0].rtx_pt, 107);
    assert_same_figures(a, text);
    free(text);

    /* RED only with the codec it carries */
    const char *red[] = { "red/48000/2", "opus/48000/2", NULL },
               *red_only[] = { "red/48000/2", "PCMU/8000", NULL };
    l.audio_codecs = red;
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(a->media[0].ncodecs, 2);
    assert_string_equal(a->media[0].codecs[1].name, "red");
    assert_string_equal(a->media[0].codecs[1].fmtp, "111/111");
    free(text);
    l.audio_codecs = red_only;
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(a->media[0].ncodecs, 1);
    assert_string_equal(a->media[0].codecs[0].name, "PCMU");
    free(text);

    /* only H.264 against a VP8-only offer: nothing to accept */
    const char *vp8_only = "v=0\r\n"
                           "o=- 1 2 IN IP4 127.0.0.1\r\n"
                           "s=-\r\n"
                           "t=0 0\r\n"
                           "a=group:BUNDLE 0\r\n"
                           "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
                           "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:0\r\n"
                           "a=sendrecv\r\n"
                           "a=rtcp-mux\r\n"
                           "a=rtpmap:96 VP8/90000\r\n"
                           "a=rtpmap:97 rtx/90000\r\n"
                           "a=fmtp:97 apt=96\r\n";
    describe_text(vp8_only, o);
    const char *h264_any[] = { "H264/90000", NULL };
    l.video_codecs = h264_any;
    err[0] = '\0';
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_ENOTSUP);
    assert_null(text);
    assert_true(err[0] != '\0');
    /* a malformed list */
    const char *broken[] = { "VP8", NULL };
    l.video_codecs = broken;
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_EINVAL);
    free(o);
    free(a);
}

static const char *dir_names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

/* The Chrome offer with both sections' direction replaced. */
static fl_sdp_dir answer_dir(fl_sdp_dir offered, fl_sdp_dir want, size_t *nssrcs)
{
    char *text = strdup(chrome_offer);
    for (char *p = strstr(text, "a=sendrecv\r\n"); p; p = strstr(p + 1, "a=sendrecv\r\n")) {
        char line[16];
        snprintf(line, sizeof(line), "a=%s", dir_names[offered]);
        memcpy(p, line, 10);
    }
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(text, o);
    assert_int_equal(o->media[1].dir, offered);
    fl_sdp_local l = local_defaults();
    l.ssrc[0] = 5;
    l.ssrc[1] = 6;
    char *out;
    assert_int_equal(fl_sdp_answer(o, &l, want, want, a, &out, NULL, 0), 0);
    assert_int_equal(a->media[0].dir, a->media[1].dir);
    assert_same_figures(a, out);
    fl_sdp_dir d = a->media[1].dir;
    *nssrcs = a->media[1].nssrcs;
    assert_int_equal(strstr(out, "a=ssrc:6 cname:fluocname\r\n") != NULL, *nssrcs == 1);
    free(out);
    free(text);
    free(o);
    free(a);
    return d;
}

static void test_answer_directions(void **state)
{
    (void)state;

    static const struct {
        fl_sdp_dir offered, want, answered;
    } cases[] = {
        { FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV },
        { FL_SDP_DIR_SENDONLY, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_RECVONLY },
        { FL_SDP_DIR_RECVONLY, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDONLY },
        { FL_SDP_DIR_INACTIVE, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_INACTIVE },
        { FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDONLY, FL_SDP_DIR_SENDONLY },
        { FL_SDP_DIR_RECVONLY, FL_SDP_DIR_SENDONLY, FL_SDP_DIR_SENDONLY },
        { FL_SDP_DIR_SENDONLY, FL_SDP_DIR_SENDONLY, FL_SDP_DIR_INACTIVE },
        { FL_SDP_DIR_SENDRECV, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY },
        { FL_SDP_DIR_SENDONLY, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY },
        { FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_INACTIVE },
        { FL_SDP_DIR_SENDRECV, FL_SDP_DIR_INACTIVE, FL_SDP_DIR_INACTIVE },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t nssrcs;
        fl_sdp_dir got = answer_dir(cases[i].offered, cases[i].want, &nssrcs);
        if (got != cases[i].answered)
            fail_msg("case %zu: got %s", i, dir_names[got]);
        int we_send = got == FL_SDP_DIR_SENDRECV || got == FL_SDP_DIR_SENDONLY;
        assert_int_equal(nssrcs, we_send ? 1 : 0);
    }
}

static void test_answer_setup_and_ice(void **state)
{
    (void)state;

    static const struct {
        const char *offered;
        fl_sdp_setup answered;
    } cases[] = {
        { "actpass", FL_SDP_SETUP_ACTIVE },
        { "active", FL_SDP_SETUP_PASSIVE },
        { "passive", FL_SDP_SETUP_ACTIVE },
    };

    fl_sdp_desc *o = new_desc(), *a = new_desc();
    fl_sdp_local l = local_defaults();
    char *text, err[128];
    for (size_t i = 0; i < 3; i++) {
        char sdp[1024];
        snprintf(sdp, sizeof(sdp),
                 "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
                 "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
                 "a=fingerprint:" FP "\r\na=setup:%s\r\na=mid:audio\r\n",
                 cases[i].offered);
        describe_text(sdp, o);
        assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text,
                                       err, sizeof(err)),
                         0);
        assert_int_equal(a->media[0].setup, cases[i].answered);
        assert_string_equal(a->media[0].mid, "audio");
        assert_int_equal(a->nbundle, 0); /* no BUNDLE offered */
        assert_null(strstr(text, "a=group:"));
        assert_false(a->media[0].rtcp_mux);
        assert_same_figures(a, text);
        free(text);
    }
    /* no ICE credentials, no fingerprint */
    const char *no_ufrag = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                           "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
                           "a=ice-pwd:0123456789012345678901\r\na=fingerprint:" FP "\r\n"
                           "a=setup:actpass\r\na=mid:0\r\n";
    describe_text(no_ufrag, o);
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_EBADMSG);
    assert_string_equal(err, "section 0: no ICE credentials");
    assert_null(text);
    const char *no_fp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
                        "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
                        "a=setup:actpass\r\na=mid:0\r\n";
    describe_text(no_fp, o);
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_EBADMSG);
    assert_string_equal(err, "section 0: no fingerprint");
    /* missing local parameters */
    describe_text(chrome_offer, o);
    l.fingerprint = NULL;
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_EINVAL);
    free(o);
    free(a);
}

static void test_answer_fb_exts_candidates(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(chrome_offer, o);
    fl_sdp_local l = local_defaults();
    l.fb = FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_TWCC;
    l.exts = 1u << FL_SDP_EXT_TWCC | 1u << FL_SDP_EXT_MID | 1u << FL_SDP_EXT_RID;
    const char *cands[] = {
        "candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host",
        "2 1 tcp 1518280447 192.0.2.1 9 typ host tcptype passive", /* prefix added */
    };
    l.candidates = cands;
    l.ncandidates = 2;
    l.end_of_candidates = 1;
    l.ice_lite = 1;
    l.address = "192.0.2.1";
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, a, &text, err,
                                   sizeof(err)),
                     0);
    const fl_sdp_media *au = &a->media[0], *v = &a->media[1];
    assert_int_equal(au->codecs[0].fb, FL_SDP_FB_TWCC);
    assert_int_equal(v->codecs[0].fb, FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_TWCC);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_TWCC], 3);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_MID], 4);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_ABS_SEND_TIME], 0);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_RID], 0); /* not offered for audio */
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_TOFFSET], 0);
    assert_int_equal(au->ncandidates, 2);
    assert_string_equal(au->candidates[1],
                        "candidate:2 1 tcp 1518280447 192.0.2.1 9 typ host tcptype passive");
    assert_true(au->end_of_candidates);
    assert_int_equal(v->ncandidates, 0);
    assert_false(v->end_of_candidates);
    assert_int_equal(a->ice_lite, 1);
    assert_null(strstr(text, "ice-options"));
    assert_non_null(strstr(text, "\r\na=ice-lite\r\n"));
    assert_non_null(strstr(text, "o=- 1234567890123 2 IN IP4 192.0.2.1\r\n"));
    assert_non_null(strstr(text, "a=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\r\n"));
    assert_non_null(strstr(text, "a=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n"
                                 "a=rtcp-fb:96 nack pli\r\n"));
    assert_null(strstr(text, "a=ssrc"));
    assert_same_figures(a, text);
    free(text);
    free(o);
    free(a);
}

static const char *ab_answer =
        "v=0\r\n"
        "o=- 8377425190263358154 2 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE 0 1\r\n"
        "a=extmap-allow-mixed\r\n"
        "a=msid-semantic: WMS\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n"
        "a=ice-ufrag:Qw3r\r\n"
        "a=ice-pwd:9jZyPq1N2mB7cV4xL8sR0tUw\r\n"
        "a=ice-options:trickle\r\n"
        "a=fingerprint:" FP "\r\n"
        "a=setup:active\r\n"
        "a=mid:0\r\n"
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:6 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=recvonly\r\n"
        "a=rtcp-mux\r\n"
        "a=rtcp-rsize\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 99 100 97\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n"
        "a=ice-ufrag:Qw3r\r\n"
        "a=ice-pwd:9jZyPq1N2mB7cV4xL8sR0tUw\r\n"
        "a=ice-options:trickle\r\n"
        "a=fingerprint:" FP "\r\n"
        "a=setup:active\r\n"
        "a=mid:1\r\n"
        "a=extmap:1 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=sendrecv\r\n"
        "a=msid:- 5f2a1c3b-1d2e-4f50-8a9b-0c1d2e3f4a5b\r\n"
        "a=rtcp-mux\r\n"
        "a=rtcp-rsize\r\n"
        "a=rtpmap:99 H264/90000\r\n"
        "a=rtcp-fb:99 goog-remb\r\n"
        "a=rtcp-fb:99 nack\r\n"
        "a=rtcp-fb:99 nack pli\r\n"
        "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
        "a=rtpmap:100 rtx/90000\r\n"
        "a=fmtp:100 apt=99\r\n"
        "a=rtpmap:97 VP8/90000\r\n"
        "a=rtcp-fb:97 goog-remb\r\n"
        "a=rtcp-fb:97 nack\r\n"
        "a=ssrc-group:FID 424242 434343\r\n"
        "a=ssrc:424242 cname:b9Pz0qWk1T3kUv9e\r\n"
        "a=ssrc:434343 cname:b9Pz0qWk1T3kUv9e\r\n";

static void test_offer_and_answer(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    fl_sdp_local l = local_defaults();
    l.ssrc[0] = 11;
    l.ssrc[1] = 22;
    l.rtx_ssrc[1] = 23;
    char *text, err[128];
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDONLY, 1, FL_SDP_DIR_SENDRECV, o, &text), 0);
    assert_int_equal(o->nmedia, 2);
    assert_string_equal(o->media[0].mid, "0");
    assert_string_equal(o->media[1].mid, "1");
    assert_int_equal(o->nbundle, 2);
    /* opus 96, PCMU 0, PCMA 8; VP8 97 + rtx 98, H264 99 + rtx 100, VP9 101 + rtx 102 */
    assert_int_equal(o->media[0].ncodecs, 3);
    assert_int_equal(o->media[0].codecs[0].pt, 96);
    assert_int_equal(o->media[0].codecs[1].pt, 0);
    assert_int_equal(o->media[0].codecs[2].pt, 8);
    assert_int_equal(o->media[1].ncodecs, 6);
    assert_int_equal(o->media[1].codecs[0].pt, 97);
    assert_int_equal(o->media[1].codecs[0].rtx_pt, 98);
    assert_int_equal(o->media[1].codecs[2].pt, 99);
    assert_string_equal(o->media[1].codecs[3].fmtp, "apt=99");
    assert_int_equal(o->media[0].setup, FL_SDP_SETUP_ACTPASS);
    assert_int_equal(o->media[1].ssrcs[0].rtx_ssrc, 23);
    assert_non_null(strstr(text, "m=video 9 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102\r\n"));
    assert_non_null(strstr(text, "a=setup:actpass\r\n"));
    assert_non_null(strstr(text, "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;"
                                 "profile-level-id=42e01f\r\n"));
    assert_same_figures(o, text);
    round_trip(text);
    free(text);

    describe_text(ab_answer, a);
    assert_int_equal(fl_sdp_process_answer(o, a, err, sizeof(err)), 0);
    const fl_sdp_media *au = &o->media[0], *v = &o->media[1];
    assert_int_equal(au->ncodecs, 2);
    assert_int_equal(au->codecs[0].pt, 96);
    assert_int_equal(au->codecs[1].pt, 0);
    assert_int_equal(au->dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(au->setup, FL_SDP_SETUP_PASSIVE);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_MID], 3);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_AUDIO_LEVEL], 6);
    assert_int_equal(au->ext_ids[FL_SDP_EXT_ABS_SEND_TIME], 0);
    /* the answer's order: H264 with its RTX, then VP8 without */
    assert_int_equal(v->ncodecs, 3);
    assert_int_equal(v->codecs[0].pt, 99);
    assert_int_equal(v->codecs[0].rtx_pt, 100);
    assert_int_equal(v->codecs[0].fb, FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_REMB);
    assert_int_equal(v->codecs[2].pt, 97);
    assert_int_equal(v->codecs[2].rtx_pt, -1);
    assert_int_equal(v->codecs[2].fb, FL_SDP_FB_NACK | FL_SDP_FB_REMB);
    assert_int_equal(v->dir, FL_SDP_DIR_SENDRECV);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_TOFFSET], 0);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_ABS_SEND_TIME], 1);
    assert_int_equal(o->nbundle, 2);
    /* the remote's figures come from the answer's own view */
    assert_int_equal(a->media[1].ssrcs[0].rtx_ssrc, 434343);
    free(o);
    free(a);
}

static void test_process_answer_errors(void **state)
{
    (void)state;
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    fl_sdp_local l = local_defaults();
    char *text, err[128];
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDRECV, 1, FL_SDP_DIR_SENDRECV, o, &text), 0);
    free(text);

    static const struct {
        const char *from, *to, *why;
    } edits[] = {
        { "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMA/8000", "section 0: payload 0 is not" },
        { "UDP/TLS/RTP/SAVPF 99 100 97", "UDP/TLS/RTP/SAVPF 99 100 97 120", "payload 120" },
        { "a=ice-ufrag:Qw3r\r\na=ice-pwd:9jZyPq1N2mB7cV4xL8sR0tUw\r\na=ice-options:trickle\r\n"
          "a=fingerprint:" FP "\r\na=setup:active\r\na=mid:1",
          "a=mid:1", "section 1: no ICE" },
        { "a=setup:active\r\na=mid:0", "a=setup:actpass\r\na=mid:0", "setup actpass" },
        { "m=video", "m=audio", "kind differs" },
    };

    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char buf[8192];
        const char *at = strstr(ab_answer, edits[i].from);
        assert_non_null(at);
        size_t pre = (size_t)(at - ab_answer);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, ab_answer, edits[i].to,
                 at + strlen(edits[i].from));
        describe_text(buf, a);
        fl_sdp_desc *copy = new_desc();
        memcpy(copy, o, sizeof(*o));
        err[0] = '\0';
        assert_int_equal(fl_sdp_process_answer(o, a, err, sizeof(err)), FL_EBADMSG);
        if (!strstr(err, edits[i].why))
            fail_msg("case %zu: %s", i, err);
        assert_memory_equal(copy, o, sizeof(*o)); /* untouched */
        free(copy);
    }
    /* one section only */
    describe_text("v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n", a);
    assert_int_equal(fl_sdp_process_answer(o, a, err, sizeof(err)), FL_EBADMSG);
    /* a rejected section */
    describe_text("v=0\r\ns=-\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
                  "m=video 0 UDP/TLS/RTP/SAVPF 97\r\na=mid:1\r\n",
                  a);
    assert_int_equal(fl_sdp_process_answer(o, a, err, sizeof(err)), 0);
    assert_true(o->media[0].rejected && o->media[1].rejected);
    assert_int_equal(o->media[1].ncodecs, 0);
    /* no sections at all */
    assert_int_equal(fl_sdp_offer(&l, 0, FL_SDP_DIR_SENDRECV, 0, FL_SDP_DIR_SENDRECV, o, &text),
                     FL_EINVAL);
    free(o);
    free(a);
}

/* tests/fuzz/corpus/sdp/: the seeds (the offers above, and a real
 * Chromium 156 offer and its answer to fl_sdp_offer's text, captured on
 * this machine through playwright-core), plus any regression input the
 * fuzzer finds: each must round trip byte for byte. Run from the
 * repository root (as tests/run_all.sh does); skipped elsewhere. */
static char *read_corpus(const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof(path), "tests/fuzz/corpus/sdp/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(FL_SDP_MAX_LEN + 1);
    assert_non_null(buf);
    *n = fread(buf, 1, FL_SDP_MAX_LEN, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static void test_corpus_files(void **state)
{
    (void)state;
    static const char *const names[] = { "chrome_offer", "firefox_offer", "answer",
                                         "chromium156_offer", "chromium156_answer" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        char *buf = read_corpus(names[i], &n);
        if (!buf)
            skip();
        fl_sdp *s;
        assert_int_equal(fl_sdp_parse(&s, buf, n, NULL, 0), 0);
        char *out = fl_sdp_write(s);
        assert_int_equal(strlen(out), n);
        assert_memory_equal(out, buf, n);
        free(out);
        fl_sdp_destroy(s);
        free(buf);
    }
}

/* The real Chromium offer answered, and its answer to our offer read. */
static void test_chromium_captures(void **state)
{
    (void)state;
    size_t n;
    char *offer = read_corpus("chromium156_offer", &n);
    if (!offer)
        skip();
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(offer, o);
    assert_int_equal(o->nmedia, 3);
    assert_int_equal(o->media[1].ncodecs, 23);
    fl_sdp_local l = local_defaults();
    l.ssrc[0] = 1111;
    l.ssrc[1] = 2222;
    l.rtx_ssrc[1] = 3333;
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_string_equal(fl_sdp_media_main_codec(&a->media[0])->name, "opus");
    assert_string_equal(fl_sdp_media_main_codec(&a->media[1])->name, "VP8");
    assert_true(a->media[2].rejected);
    assert_same_figures(a, text);
    free(text);
    free(offer);

    /* fl_sdp_offer's text as tests/fuzz/corpus/sdp/chromium156_answer
     * answered it (a page with no tracks: recvonly) */
    l = local_defaults();
    l.ssrc[0] = 1111;
    l.ssrc[1] = 2222;
    l.rtx_ssrc[1] = 3333;
    l.session_id = 42;
    l.session_version = 1;
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDRECV, 1, FL_SDP_DIR_SENDRECV, o, &text), 0);
    free(text);
    char *answer = read_corpus("chromium156_answer", &n);
    assert_non_null(answer);
    describe_text(answer, a);
    assert_int_equal(fl_sdp_process_answer(o, a, err, sizeof(err)), 0);
    assert_int_equal(o->media[0].dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(o->media[1].dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(o->media[0].setup, FL_SDP_SETUP_PASSIVE);
    assert_int_equal(o->media[1].ncodecs, 4);
    assert_int_equal(o->media[1].codecs[0].rtx_pt, 98);
    assert_int_equal(o->media[1].ext_ids[FL_SDP_EXT_TOFFSET], 7);
    free(answer);
    free(o);
    free(a);
}

/* An RTX SSRC is announced only when RTX was negotiated. */
static void test_answer_no_rtx(void **state)
{
    (void)state;
    const char *offer = "v=0\r\n"
                        "o=- 1 2 IN IP4 127.0.0.1\r\n"
                        "s=-\r\n"
                        "t=0 0\r\n"
                        "a=group:BUNDLE v\r\n"
                        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                        "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:v\r\n"
                        "a=recvonly\r\n"
                        "a=rtcp-mux\r\n"
                        "a=rtpmap:96 VP8/90000\r\n"
                        "a=rtcp-fb:* nack\r\n";
    fl_sdp_desc *o = new_desc(), *a = new_desc();
    describe_text(offer, o);
    assert_int_equal(o->media[0].codecs[0].fb, FL_SDP_FB_NACK); /* from rtcp-fb:* */
    fl_sdp_local l = local_defaults();
    l.ssrc[1] = 7;
    l.rtx_ssrc[1] = 8;
    char *text;
    assert_int_equal(
            fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, NULL, 0), 0);
    assert_int_equal(a->media[0].dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(a->media[0].nssrcs, 1);
    assert_int_equal(a->media[0].ssrcs[0].rtx_ssrc, 0);
    assert_null(strstr(text, "ssrc-group"));
    assert_null(strstr(text, "a=ssrc:8 "));
    assert_non_null(strstr(text, "a=group:BUNDLE v\r\n"));
    assert_same_figures(a, text);
    free(text);
    free(o);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_unknown_lines_kept),
        cmocka_unit_test(test_describe_chrome),
        cmocka_unit_test(test_describe_firefox),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_describe_errors),
        cmocka_unit_test(test_codec_match),
        cmocka_unit_test(test_answer_chrome),
        cmocka_unit_test(test_answer_firefox),
        cmocka_unit_test(test_answer_codec_lists),
        cmocka_unit_test(test_answer_directions),
        cmocka_unit_test(test_answer_setup_and_ice),
        cmocka_unit_test(test_answer_fb_exts_candidates),
        cmocka_unit_test(test_offer_and_answer),
        cmocka_unit_test(test_process_answer_errors),
        cmocka_unit_test(test_corpus_files),
        cmocka_unit_test(test_chromium_captures),
        cmocka_unit_test(test_answer_no_rtx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
