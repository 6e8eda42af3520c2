/* sdp/: data channel sections (RFC 8841 and the legacy DTLS/SCTP form):
 * parsed, answered when fl_sdp_local.datachannels asks for them (rejected
 * otherwise), offered, and the answer to our offer read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sdp/sdp.h"

#include <cmocka.h>

#define FP                                                                                       \
    "sha-256 "                                                                                   \
    "11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:" \
    "FF:00"
#define ICE                                  \
    "a=ice-ufrag:Xy9z\r\n"                   \
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" \
    "a=ice-options:trickle\r\n"              \
    "a=fingerprint:" FP "\r\n"               \
    "a=setup:actpass\r\n"

/* A browser's offer: video and a data channel (RFC 8841). */
static const char offer_8841[] = "v=0\r\n"
                                 "o=- 1 2 IN IP4 127.0.0.1\r\n"
                                 "s=-\r\n"
                                 "t=0 0\r\n"
                                 "a=group:BUNDLE 0 1\r\n"
                                 "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                                 "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:0\r\n"
                                 "a=sendrecv\r\n"
                                 "a=rtcp-mux\r\n"
                                 "a=rtpmap:96 VP8/90000\r\n"
                                 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                                 "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:1\r\n"
                                 "a=sctp-port:5000\r\n"
                                 "a=max-message-size:262144\r\n";

/* The legacy form older clients send: data channels only. */
static const char offer_legacy[] = "v=0\r\n"
                                   "o=- 1 2 IN IP4 127.0.0.1\r\n"
                                   "s=-\r\n"
                                   "t=0 0\r\n"
                                   "a=group:BUNDLE data\r\n"
                                   "m=application 9 DTLS/SCTP 5001\r\n"
                                   "c=IN IP4 0.0.0.0\r\n" ICE "a=mid:data\r\n"
                                   "a=sctpmap:5001 webrtc-datachannel 1024\r\n";

static fl_sdp_desc *describe(const char *text)
{
    fl_sdp *s;
    char err[128];
    assert_int_equal(fl_sdp_parse(&s, text, strlen(text), err, sizeof(err)), 0);
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    assert_int_equal(fl_sdp_describe(s, d, err, sizeof(err)), 0);
    fl_sdp_destroy(s);
    return d;
}

static fl_sdp_local local_defaults(int dc)
{
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.ice_ufrag = "fLuO";
    l.ice_pwd = "0123456789abcdefghijklmn";
    l.fingerprint = FP;
    l.cname = "fluocname";
    l.stream_id = "fluo";
    l.session_id = 7;
    l.session_version = 2;
    l.datachannels = dc;
    return l;
}

static void test_parse(void **state)
{
    (void)state;
    fl_sdp_desc *d = describe(offer_8841);
    assert_int_equal(d->media[1].kind, FL_SDP_KIND_APPLICATION);
    assert_int_equal(d->media[1].sctp_port, 5000);
    assert_int_equal(d->media[1].max_message_size, 262144);
    assert_int_equal(d->media[1].sctp_legacy, 0);
    free(d);
    d = describe(offer_legacy);
    assert_int_equal(d->media[0].sctp_port, 5001);
    assert_int_equal(d->media[0].sctp_legacy, 1);
    assert_int_equal(d->media[0].max_message_size, 0);
    free(d);
}

static void test_answer_8841(void **state)
{
    (void)state;
    fl_sdp_desc *o = describe(offer_8841), *a = calloc(1, sizeof(*a));
    fl_sdp_local l = local_defaults(1);
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_false(a->media[1].rejected);
    assert_int_equal(a->nbundle, 2);
    assert_non_null(strstr(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                                 "c=IN IP4 0.0.0.0\r\n"));
    assert_non_null(strstr(text, "a=setup:active\r\na=mid:1\r\na=sctp-port:5000\r\n"
                                 "a=max-message-size:262144\r\n"));
    /* no direction, no RTCP lines in it */
    const char *app = strstr(text, "m=application");
    assert_null(strstr(app, "a=sendrecv"));
    assert_null(strstr(app, "a=rtcp"));
    fl_sdp_desc *back = describe(text);
    assert_int_equal(back->media[1].sctp_port, 5000);
    assert_int_equal(back->media[1].max_message_size, 262144);
    free(back);
    free(text);

    /* without data channels: rejected in place, as before */
    l = local_defaults(0);
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_true(a->media[1].rejected);
    assert_non_null(strstr(text, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    free(text);
    free(o);
    free(a);
}

static void test_answer_legacy(void **state)
{
    (void)state;
    fl_sdp_desc *o = describe(offer_legacy), *a = calloc(1, sizeof(*a));
    fl_sdp_local l = local_defaults(1);
    char *text, err[128];
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     0);
    assert_non_null(strstr(text, "m=application 9 DTLS/SCTP 5000\r\n"));
    assert_non_null(strstr(text, "a=sctpmap:5000 webrtc-datachannel 1024\r\n"));
    assert_null(strstr(text, "a=sctp-port"));
    fl_sdp_desc *back = describe(text);
    assert_int_equal(back->media[0].sctp_port, 5000);
    assert_int_equal(back->media[0].sctp_legacy, 1);
    free(back);
    free(text);
    /* a data-only offer without data channels: nothing to accept */
    l = local_defaults(0);
    assert_int_equal(fl_sdp_answer(o, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDRECV, a, &text, err,
                                   sizeof(err)),
                     FL_ENOTSUP);
    free(o);
    free(a);
}

static void test_offer(void **state)
{
    (void)state;
    fl_sdp_local l = local_defaults(1);
    fl_sdp_desc *o = calloc(1, sizeof(*o));
    char *text, err[128];
    assert_int_equal(fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDRECV, 1, FL_SDP_DIR_SENDRECV, o, &text), 0);
    assert_int_equal(o->nmedia, 3);
    assert_int_equal(o->nbundle, 3);
    assert_non_null(strstr(text, "a=group:BUNDLE 0 1 2\r\n"));
    assert_non_null(strstr(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    assert_non_null(strstr(text, "a=setup:actpass\r\na=mid:2\r\na=sctp-port:5000\r\n"));
    free(text);
    /* the browser's answer, its data channel accepted */
    char answer[4096];
    snprintf(answer, sizeof(answer),
             "v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n%sa=mid:0\r\n"
             "a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:%u opus/48000/2\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n%sa=mid:1\r\n"
             "a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:%u VP8/90000\r\n"
             "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n%s"
             "a=mid:2\r\na=sctp-port:5000\r\na=max-message-size:65536\r\n",
             o->media[0].codecs[0].pt,
             "a=ice-ufrag:Ab\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:" FP
             "\r\na=setup:active\r\n",
             o->media[0].codecs[0].pt, o->media[1].codecs[0].pt,
             "a=ice-ufrag:Ab\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:" FP
             "\r\na=setup:active\r\n",
             o->media[1].codecs[0].pt,
             "a=ice-ufrag:Ab\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:" FP
             "\r\na=setup:active\r\n");
    fl_sdp_desc *a = describe(answer);
    assert_int_equal(a->media[2].max_message_size, 65536);
    int rc = fl_sdp_process_answer(o, a, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_false(o->media[2].rejected);
    assert_int_equal(o->media[2].setup, FL_SDP_SETUP_PASSIVE);
    free(a);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_answer_8841),
        cmocka_unit_test(test_answer_legacy),
        cmocka_unit_test(test_offer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
