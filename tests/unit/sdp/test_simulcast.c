/* sdp/: simulcast. Offers as Chromium writes them (RID form with RTX, and
 * the SSRC form with a=ssrc-group:SIM) described into their layers, the
 * a=rid/a=simulcast rules (alternatives, paused layers, pt= restrictions,
 * caps, malformed lines), and answers with fl_sdp_local.simulcast_recv off
 * (as without simulcast) and on (the layers answered, read back the same). */
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
    "3C:9A:0E:71:55:D2:8B:46:F0:1D:27:A9:6E:C3:48:B5:12:7F:E0:94:5A:D6:83:2B:C1:70:4E:9F:36:A8:" \
    "05:DB"
#define ICE                                  \
    "a=ice-ufrag:Qm7t\r\n"                   \
    "a=ice-pwd:p4Lw9sXe2RkT7vBn0cHy5uJq\r\n" \
    "a=ice-options:trickle\r\n"              \
    "a=fingerprint:" FP "\r\n"               \
    "a=setup:actpass\r\n"
#define STREAM "6c1e4a2b-93f0-4d58-b7a1-0e2f3d4c5b6a"
#define TRACK  "d8b2f7e1-4c3a-4e9b-a0d6-5f1e2c3b4a59"
#define FB5(pt)                          \
    "a=rtcp-fb:" #pt " goog-remb\r\n"    \
    "a=rtcp-fb:" #pt " transport-cc\r\n" \
    "a=rtcp-fb:" #pt " ccm fir\r\n"      \
    "a=rtcp-fb:" #pt " nack\r\n"         \
    "a=rtcp-fb:" #pt " nack pli\r\n"
#define RTX(pt, apt)                 \
    "a=rtpmap:" #pt " rtx/90000\r\n" \
    "a=fmtp:" #pt " apt=" #apt "\r\n"

#define SESSION                                      \
    "v=0\r\n"                                        \
    "o=- 8316458813453563373 2 IN IP4 127.0.0.1\r\n" \
    "s=-\r\n"                                        \
    "t=0 0\r\n"                                      \
    "a=group:BUNDLE 0 1\r\n"                         \
    "a=extmap-allow-mixed\r\n"                       \
    "a=msid-semantic: WMS " STREAM "\r\n"

#define AUDIO                                                    \
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"                      \
    "c=IN IP4 0.0.0.0\r\n"                                       \
    "a=rtcp:9 IN IP4 0.0.0.0\r\n" ICE "a=mid:0\r\n"              \
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n" \
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"         \
    "a=sendonly\r\n"                                             \
    "a=msid:" STREAM " 1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\r\n" \
    "a=rtcp-mux\r\n"                                             \
    "a=rtpmap:111 opus/48000/2\r\n"                              \
    "a=rtcp-fb:111 transport-cc\r\n"                             \
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"                  \
    "a=rtpmap:0 PCMU/8000\r\n"                                   \
    "a=ssrc:1001 cname:Hq2xV9LmP0aZ4cTe\r\n"                     \
    "a=ssrc:1001 msid:" STREAM " 1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\r\n"

/* The video section up to its codecs: exts are extra a=extmap lines, dir
 * its direction. */
#define VIDEO_HEAD(exts, dir)                                                                                                                               \
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 45\r\n"                                                                                                      \
    "c=IN IP4 0.0.0.0\r\n"                                                                                                                                  \
    "a=rtcp:9 IN IP4 0.0.0.0\r\n" ICE "a=mid:1\r\n"                                                                                                         \
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"                                                                                                    \
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"                                                                             \
    "a=extmap:13 urn:3gpp:video-orientation\r\n"                                                                                                            \
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"                                                              \
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"                                                                             \
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" exts "a=" dir "\r\n"                                                                               \
    "a=msid:" STREAM " " TRACK "\r\n"                                                                                                                       \
    "a=rtcp-mux\r\n"                                                                                                                                        \
    "a=rtcp-rsize\r\n"                                                                                                                                      \
    "a=rtpmap:96 VP8/90000\r\n" FB5(96)                                                                                                                     \
            RTX(97, 96) "a=rtpmap:102 H264/90000\r\n" FB5(102) "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" RTX( \
                    103, 102) "a=rtpmap:45 AV1/90000\r\n" FB5(45)

#define RID_EXTS                                                    \
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n" \
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"

#define RID_TAIL       \
    "a=rid:q send\r\n" \
    "a=rid:h send\r\n" \
    "a=rid:f send\r\n" \
    "a=simulcast:send q;h;f\r\n"

/* Chromium's offer for addTransceiver(track, {sendEncodings: [{rid: "q",
 * scaleResolutionDownBy: 4}, {rid: "h", scaleResolutionDownBy: 2}, {rid:
 * "f"}]}): no a=ssrc in the video section, the layers by RID. */
static const char rid_offer[] = SESSION AUDIO VIDEO_HEAD(RID_EXTS, "sendonly") RID_TAIL;

/* The same offer without its a=rid and a=simulcast lines. */
static const char rid_offer_bare[] = SESSION AUDIO VIDEO_HEAD(RID_EXTS, "sendonly");

/* The SSRC form (the SDP a page munges for Chromium's conference mode):
 * three SSRCs in a=ssrc-group:SIM, each with its RTX by FID. */
#define SSRC(n)                                \
    "a=ssrc:" #n " cname:Hq2xV9LmP0aZ4cTe\r\n" \
    "a=ssrc:" #n " msid:" STREAM " " TRACK "\r\n"
static const char sim_offer[] =
        SESSION AUDIO VIDEO_HEAD("", "sendonly") "a=ssrc-group:FID 2001 2002\r\n"
                                                 "a=ssrc-group:FID 2003 2004\r\n"
                                                 "a=ssrc-group:FID 2005 2006\r\n"
                                                 "a=ssrc-group:SIM 2001 2003 2005\r\n" SSRC(2001)
                                                         SSRC(2002) SSRC(2003) SSRC(2004) SSRC(2005)
                                                                 SSRC(2006);

static fl_sdp_desc *new_desc(void)
{
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    return d;
}

/* 0 or the describe error, with the reason in err. */
static int describe(const char *text, fl_sdp_desc *d, char *err, size_t errlen)
{
    fl_sdp *s;
    int rc = fl_sdp_parse(&s, text, strlen(text), err, errlen);
    if (rc != 0)
        fail_msg("parse: %s", err);
    rc = fl_sdp_describe(s, d, err, errlen);
    fl_sdp_destroy(s);
    return rc;
}

static void describe_ok(const char *text, fl_sdp_desc *d)
{
    char err[128];
    if (describe(text, d, err, sizeof(err)) != 0)
        fail_msg("describe: %s", err);
}

/* The offer with `tail` in place of RID_TAIL, described; its video
 * section. */
static fl_sdp_media *video_with(fl_sdp_desc *d, const char *tail)
{
    char text[8192];
    int n = snprintf(text, sizeof(text), "%s%s", rid_offer_bare, tail);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    describe_ok(text, d);
    assert_int_equal(d->nmedia, 2);
    return &d->media[1];
}

static void assert_layers(const fl_sdp_media *m, const char *ids, fl_sdp_rid_dir dir)
{
    char got[128] = "";
    for (size_t i = 0; i < m->nrids; i++) {
        assert_int_equal(m->rids[i].dir, dir);
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s%s", i ? ";" : "",
                 m->rids[i].paused ? "~" : "", m->rids[i].id);
    }
    assert_string_equal(got, ids);
}

static void test_describe_rid(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    describe_ok(rid_offer, d);
    const fl_sdp_media *v = &d->media[1];
    assert_int_equal(v->kind, FL_SDP_KIND_VIDEO);
    assert_int_equal(v->nrids, 3);
    assert_layers(v, "q;h;f", FL_SDP_RID_SEND);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v->rids[i].npts, 0);
        assert_int_equal(v->rids[i].max_width, 0);
    }
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RRID], 11);
    assert_int_equal(v->codecs[0].rtx_pt, 97);
    assert_int_equal(v->nssrcs, 0);
    assert_int_equal(v->nsim, 0);
    assert_int_equal(d->media[0].nrids, 0);
    /* a header extension's value to its layer */
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_SEND, "q", 1), 0);
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_SEND, "fx", 1), 2);
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_SEND, "fx", 2), -1);
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_SEND, "", 0), -1);
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_SEND, NULL, 0), -1);
    assert_int_equal(fl_sdp_media_rid_layer(v, FL_SDP_RID_RECV, "h", 1), -1);

    /* the text writes back exactly */
    fl_sdp *s;
    char err[128];
    assert_int_equal(fl_sdp_parse(&s, rid_offer, strlen(rid_offer), err, sizeof(err)), 0);
    char *out = fl_sdp_write(s);
    assert_string_equal(out, rid_offer);
    free(out);
    fl_sdp_destroy(s);
    free(d);
}

static void test_describe_sim(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    describe_ok(sim_offer, d);
    const fl_sdp_media *v = &d->media[1];
    assert_int_equal(v->nsim, 3);
    static const uint32_t ssrc[] = { 2001, 2003, 2005 }, rtx[] = { 2002, 2004, 2006 };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v->sim_ssrc[i], ssrc[i]);
        assert_int_equal(v->sim_rtx[i], rtx[i]);
    }
    /* the FID folding is as without SIM: three ssrcs with their RTX */
    assert_int_equal(v->nssrcs, 3);
    assert_int_equal(v->ssrcs[1].ssrc, 2003);
    assert_int_equal(v->ssrcs[1].rtx_ssrc, 2004);
    assert_int_equal(v->nrids, 0);
    assert_int_equal(d->media[0].nsim, 0);
    /* an SSRC's layer, media or RTX */
    int is_rtx = -1;
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 2003, &is_rtx), 1);
    assert_int_equal(is_rtx, 0);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 2006, &is_rtx), 2);
    assert_int_equal(is_rtx, 1);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 2001, NULL), 0);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 2007, &is_rtx), -1);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 0, &is_rtx), -1);
    assert_int_equal(fl_sdp_media_ssrc_layer(&d->media[0], 1001, &is_rtx), -1);

    /* SIM before its FID groups, an SSRC without RTX */
    v = video_with(d, "a=ssrc-group:SIM 7 8\r\na=ssrc-group:FID 8 9\r\n");
    assert_int_equal(v->nsim, 2);
    assert_int_equal(v->sim_ssrc[0], 7);
    assert_int_equal(v->sim_rtx[0], 0);
    assert_int_equal(v->sim_ssrc[1], 8);
    assert_int_equal(v->sim_rtx[1], 9);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 9, NULL), 1);
    assert_int_equal(fl_sdp_media_ssrc_layer(v, 0, NULL), -1); /* "no RTX" is no SSRC */

    /* only the first SIM group; six SSRCs capped at FL_SDP_MAX_RIDS */
    v = video_with(d, "a=ssrc-group:SIM 1 2 3 4 5 6\r\na=ssrc-group:SIM 10 11\r\n");
    assert_int_equal(v->nsim, FL_SDP_MAX_RIDS);
    for (size_t i = 0; i < FL_SDP_MAX_RIDS; i++)
        assert_int_equal(v->sim_ssrc[i], i + 1);

    /* an SSRC listed twice: no SSRC simulcast */
    v = video_with(d, "a=ssrc-group:SIM 5 6 5\r\n");
    assert_int_equal(v->nsim, 0);
    /* groups of other semantics are still ignored */
    v = video_with(d, "a=ssrc-group:FEC-FR 5 6\r\na=ssrc-group:SIM 4294967295\r\n");
    assert_int_equal(v->nsim, 1);
    assert_int_equal(v->sim_ssrc[0], 4294967295u);
    free(d);
}

static void test_rid_rules(void **state)
{
    (void)state;
    fl_sdp_desc *d = new_desc();
    const fl_sdp_media *v;

    /* restrictions: pt= keeps the m= line's payload types; max-* kept when
     * whole numbers; unknown parameters ignored */
    v = video_with(d, "a=rid:lo send pt=96,97,120,96;max-width=320;max-height=180;max-fps=15;"
                      "max-br=150000;depend=x;max-pps=abc\r\n"
                      "a=rid:hi send max-width=1280.5; max-height = 720 ;max-br=99999999999\r\n"
                      "a=simulcast:send lo;hi\r\n");
    assert_layers(v, "lo;hi", FL_SDP_RID_SEND);
    assert_int_equal(v->rids[0].npts, 2);
    assert_int_equal(v->rids[0].pts[0], 96);
    assert_int_equal(v->rids[0].pts[1], 97);
    assert_int_equal(v->rids[0].max_width, 320);
    assert_int_equal(v->rids[0].max_height, 180);
    assert_int_equal(v->rids[0].max_fps, 15);
    assert_int_equal(v->rids[0].max_br, 150000);
    assert_int_equal(v->rids[1].npts, 0);
    assert_int_equal(v->rids[1].max_width, 0);  /* not a whole number */
    assert_int_equal(v->rids[1].max_height, 0); /* " = 720": the name is "max-height " */
    assert_int_equal(v->rids[1].max_br, 0);     /* wider than 32 bits */

    /* alternatives: the first one with an a=rid line of that direction;
     * paused layers; ids the lines do not define skipped */
    v = video_with(d, "a=rid:a send\r\na=rid:b send\r\na=rid:c recv\r\na=rid:d send\r\n"
                      "a=simulcast:send x,a,b;~b;c,d;zz\r\n");
    assert_layers(v, "a;~b;d", FL_SDP_RID_SEND);

    /* a layer twice: once; the lines after a=simulcast count too */
    v = video_with(d, "a=simulcast:send 1;2;1;3\r\na=rid:1 send\r\na=rid:2 send\r\n"
                      "a=rid:3 send\r\n");
    assert_layers(v, "1;2;3", FL_SDP_RID_SEND);

    /* a pt= naming only payload types not on the m= line, an id too long
     * for the extension, a repeated line (the first counts) */
    v = video_with(d, "a=rid:p send pt=120,121\r\na=rid:abcdefghijklmnop send\r\n"
                      "a=rid:ok send pt=45\r\na=rid:ok send pt=96\r\n"
                      "a=rid:abcdefghijklmno send\r\n"
                      "a=simulcast:send p;abcdefghijklmnop;ok;abcdefghijklmno\r\n");
    assert_layers(v, "ok;abcdefghijklmno", FL_SDP_RID_SEND);
    assert_int_equal(v->rids[0].npts, 1);
    assert_int_equal(v->rids[0].pts[0], 45);

    /* both parts, send first; the drafts' "rid=" form; blanks */
    v = video_with(d, "a=rid:r1 recv\r\na=rid:s1 send\r\na=rid:s2 send\r\n"
                      "a=simulcast:  recv r1   send rid=s1;s2\r\n");
    assert_int_equal(v->nrids, 3);
    assert_string_equal(v->rids[0].id, "s1");
    assert_string_equal(v->rids[1].id, "s2");
    assert_string_equal(v->rids[2].id, "r1");
    assert_int_equal(v->rids[2].dir, FL_SDP_RID_RECV);

    /* a=rid without a=simulcast is not simulcast */
    v = video_with(d, "a=rid:q send\r\na=rid:h send\r\n");
    assert_int_equal(v->nrids, 0);

    /* more layers than the cap: the first FL_SDP_MAX_RIDS */
    v = video_with(d, "a=rid:0 send\r\na=rid:1 send\r\na=rid:2 send\r\na=rid:3 send\r\n"
                      "a=rid:4 send\r\na=rid:5 send\r\na=simulcast:send 0;1;2;3;4;5\r\n");
    assert_int_equal(FL_SDP_MAX_RIDS, 4);
    assert_layers(v, "0;1;2;3", FL_SDP_RID_SEND);

    /* more a=simulcast entries than are kept, more a=rid lines than kept */
    char tail[4096] = "";
    for (int i = 0; i < 40; i++)
        snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "a=rid:r%d send\r\n", i);
    snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "a=simulcast:send ");
    for (int i = 0; i < 40; i++)
        snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "%sx%d,r%d", i ? ";" : "", i, i);
    snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "\r\n");
    v = video_with(d, tail);
    assert_layers(v, "r0;r1;r2;r3", FL_SDP_RID_SEND);
    free(d);
}

static void test_malformed(void **state)
{
    (void)state;

    static const struct {
        const char *tail, *why;
    } bad[] = {
        { "a=rid:\r\n", "a=rid needs an id and a direction" },
        { "a=rid:q\r\n", "a=rid needs an id and a direction" },
        { "a=rid:q sendrecv\r\n", "a=rid direction is neither send nor recv" },
        { "a=rid:q! send\r\n", "a=rid id is not letters" },
        { "a=rid:q send pt=96,x\r\n", "a=rid pt= is not a list" },
        { "a=rid:q send pt=\r\n", "a=rid pt= is not a list" },
        { "a=rid:q send pt=96,,97\r\n", "a=rid pt= is not a list" },
        { "a=rid:q send pt=128\r\n", "a=rid pt= is not a list" },
        { "a=simulcast:\r\n", "a=simulcast needs send or recv" },
        { "a=simulcast:send\r\n", "a=simulcast list is not rids" },
        { "a=simulcast:sendonly q\r\n", "a=simulcast direction is neither" },
        { "a=simulcast:send q;;h\r\n", "a=simulcast list is not rids" },
        { "a=simulcast:send q;h,\r\n", "a=simulcast list is not rids" },
        { "a=simulcast:send ~\r\n", "a=simulcast list is not rids" },
        { "a=simulcast:send q~h\r\n", "a=simulcast list is not rids" },
        { "a=simulcast:send q send h\r\n", "a=simulcast gives a direction twice" },
        { "a=simulcast:send q\r\na=simulcast:send h\r\n", "a=simulcast twice in a section" },
        { "a=ssrc-group:SIM\r\n", "a=ssrc-group:SIM needs ssrcs" },
        { "a=ssrc-group:SIM 1 x\r\n", "a=ssrc-group:SIM lists something" },
        { "a=ssrc-group:SIM 4294967296\r\n", "a=ssrc-group:SIM lists something" },
    };

    fl_sdp_desc *d = new_desc();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[8192], err[128], want[32];
        snprintf(text, sizeof(text), "%s%s", rid_offer_bare, bad[i].tail);
        int rc = describe(text, d, err, sizeof(err));
        if (rc != FL_EBADMSG)
            fail_msg("%s: %d", bad[i].tail, rc);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: \"%s\"", bad[i].tail, err);
        /* the line named is the last one of the text */
        size_t last = 0;
        for (const char *p = text; *p; p++)
            last += *p == '\n';
        snprintf(want, sizeof(want), "line %zu: ", last);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("%s: \"%s\", not %s", bad[i].tail, err, want);
        assert_int_equal(d->nmedia, 0); /* cleared */
    }
    free(d);
}

static fl_sdp_local local_defaults(void)
{
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.ice_ufrag = "fLuO";
    l.ice_pwd = "0123456789abcdefghijklmn";
    l.fingerprint = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    l.cname = "fluocname";
    l.stream_id = "fluo";
    l.session_id = 99;
    l.session_version = 2;
    l.ssrc[0] = 1111;
    l.ssrc[1] = 2222;
    l.rtx_ssrc[1] = 3333;
    return l;
}

/* The answer's text to `offer`, with its view in a. */
static char *answer(const char *offer, const fl_sdp_local *l, fl_sdp_dir want_video, fl_sdp_desc *a)
{
    fl_sdp_desc *o = new_desc();
    describe_ok(offer, o);
    char *text, err[128];
    int rc = fl_sdp_answer(o, l, FL_SDP_DIR_SENDRECV, want_video, a, &text, err, sizeof(err));
    if (rc != 0)
        fail_msg("answer: %s", err);
    free(o);
    return text;
}

static void test_answer_off(void **state)
{
    (void)state;
    fl_sdp_local l = local_defaults();
    fl_sdp_desc *a = new_desc();
    /* without simulcast_recv the layers change nothing: the answer is the
     * one to the offer without them */
    char *with = answer(rid_offer, &l, FL_SDP_DIR_RECVONLY, a);
    assert_int_equal(a->media[1].nrids, 0);
    assert_int_equal(a->media[1].ext_ids[FL_SDP_EXT_RID], 0);
    char *bare = answer(rid_offer_bare, &l, FL_SDP_DIR_RECVONLY, a);
    assert_string_equal(with, bare);
    assert_null(strstr(with, "a=rid"));
    assert_null(strstr(with, "a=simulcast"));
    assert_null(strstr(with, "rtp-stream-id"));
    assert_non_null(strstr(with, "a=recvonly"));
    free(with);
    free(bare);

    /* the RID extensions when `exts` asks for them, as before */
    l.exts = 1u << FL_SDP_EXT_MID | 1u << FL_SDP_EXT_RID;
    with = answer(rid_offer, &l, FL_SDP_DIR_RECVONLY, a);
    assert_int_equal(a->media[1].ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(a->media[1].ext_ids[FL_SDP_EXT_RRID], 0);
    assert_int_equal(a->media[1].nrids, 0);
    assert_null(strstr(with, "a=simulcast"));
    free(with);

    /* the SSRC form needs nothing: the same answer either way */
    l = local_defaults();
    char *off = answer(sim_offer, &l, FL_SDP_DIR_RECVONLY, a);
    l.simulcast_recv = 1;
    char *on = answer(sim_offer, &l, FL_SDP_DIR_RECVONLY, a);
    assert_string_equal(off, on);
    assert_null(strstr(on, "a=simulcast"));
    free(off);
    free(on);
    free(a);
}

/* The answer's text read back gives its layers and extension ids, and the
 * offerer's side accepts it. */
static void assert_reads_back(const char *offer, const fl_sdp_desc *a, const char *text)
{
    fl_sdp_desc *b = new_desc(), *o = new_desc();
    describe_ok(text, b);
    assert_int_equal(b->nmedia, a->nmedia);
    for (size_t i = 0; i < a->nmedia; i++) {
        const fl_sdp_media *m = &a->media[i], *n = &b->media[i];
        assert_int_equal(n->nrids, m->nrids);
        for (size_t k = 0; k < m->nrids; k++) {
            assert_string_equal(n->rids[k].id, m->rids[k].id);
            assert_int_equal(n->rids[k].dir, m->rids[k].dir);
            assert_int_equal(n->rids[k].paused, m->rids[k].paused);
        }
        assert_memory_equal(n->ext_ids, m->ext_ids, sizeof(m->ext_ids));
        assert_int_equal(n->dir, m->dir);
        assert_int_equal(n->ncodecs, m->ncodecs);
    }
    describe_ok(offer, o);
    char err[128];
    if (fl_sdp_process_answer(o, b, err, sizeof(err)) != 0)
        fail_msg("process_answer: %s", err);
    free(o);
    free(b);
}

static void test_answer_on(void **state)
{
    (void)state;
    fl_sdp_local l = local_defaults();
    l.simulcast_recv = 1;
    fl_sdp_desc *a = new_desc();
    char *text = answer(rid_offer, &l, FL_SDP_DIR_RECVONLY, a);
    const fl_sdp_media *v = &a->media[1];
    assert_layers(v, "q;h;f", FL_SDP_RID_RECV);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RRID], 11);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_MID], 4);
    assert_int_equal(v->dir, FL_SDP_DIR_RECVONLY);
    assert_non_null(strstr(text, "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
                                 "a=extmap:11 "
                                 "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"));
    /* the lines close the section, in the offer's order */
    const char *tail = "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n";
    assert_string_equal(text + strlen(text) - strlen(tail), tail);
    assert_null(strstr(text, "a=ssrc:"));   /* we send nothing */
    assert_int_equal(a->media[0].nrids, 0); /* audio untouched */
    assert_true(strstr(text, "rtp-stream-id") > strstr(text, "m=video"));
    assert_reads_back(rid_offer, a, text);

    /* everything else as without simulcast: the same text once the simulcast
     * lines and the two extensions are taken out */
    fl_sdp_local off = local_defaults();
    char *plain = answer(rid_offer, &off, FL_SDP_DIR_RECVONLY, a);
    char *cut = strdup(text);
    const char *const drop[] = {
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n",
        tail,
    };
    for (size_t i = 0; i < 3; i++) {
        char *p = strstr(cut, drop[i]);
        assert_non_null(p);
        memmove(p, p + strlen(drop[i]), strlen(p + strlen(drop[i])) + 1);
    }
    assert_string_equal(cut, plain);
    free(cut);
    free(plain);
    free(text);

    /* sendrecv on our side too: the layers and our ssrc */
    text = answer(rid_offer, &l, FL_SDP_DIR_SENDRECV, a);
    assert_int_equal(a->media[1].dir, FL_SDP_DIR_RECVONLY); /* the offer only sends */
    assert_int_equal(a->media[1].nrids, 3);
    free(text);
    free(a);
}

static void test_answer_on_cases(void **state)
{
    (void)state;
    fl_sdp_local l = local_defaults();
    l.simulcast_recv = 1;
    fl_sdp_desc *a = new_desc();
    char offer[8192];

    /* we do not receive video: no simulcast */
    char *text = answer(rid_offer, &l, FL_SDP_DIR_SENDONLY, a);
    assert_int_equal(a->media[1].dir, FL_SDP_DIR_INACTIVE);
    assert_int_equal(a->media[1].nrids, 0);
    assert_null(strstr(text, "a=simulcast"));
    assert_null(strstr(text, "rtp-stream-id"));
    free(text);

    /* no rtp-stream-id extension offered: no way to tell the layers apart */
    snprintf(offer, sizeof(offer), "%s", SESSION AUDIO VIDEO_HEAD("", "sendonly") RID_TAIL);
    text = answer(offer, &l, FL_SDP_DIR_RECVONLY, a);
    assert_int_equal(a->media[1].nrids, 0);
    assert_null(strstr(text, "a=simulcast"));
    free(text);

    /* rtp-stream-id without repaired-rtp-stream-id; a paused layer; a layer
     * restricted to H.264 when we take VP8 only is left out */
    snprintf(offer, sizeof(offer), "%s",
             SESSION AUDIO VIDEO_HEAD(
                     "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n",
                     "sendrecv") "a=rid:lo send pt=102,103\r\na=rid:mid send pt=96,102\r\n"
                                 "a=rid:hi send\r\na=simulcast:send lo;mid;~hi\r\n");
    static const char *const vp8_only[] = { "VP8/90000", NULL };
    l.video_codecs = vp8_only;
    text = answer(offer, &l, FL_SDP_DIR_SENDRECV, a);
    const fl_sdp_media *v = &a->media[1];
    assert_int_equal(v->dir, FL_SDP_DIR_SENDRECV);
    assert_layers(v, "mid;~hi", FL_SDP_RID_RECV);
    assert_int_equal(v->rids[0].npts, 0); /* the answer restricts nothing */
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 9);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RRID], 0);
    assert_non_null(
            strstr(text, "a=rid:mid recv\r\na=rid:hi recv\r\na=simulcast:recv mid;~hi\r\n"));
    assert_non_null(strstr(text, "a=ssrc:2222 cname:fluocname\r\n")); /* we send too */
    assert_reads_back(offer, a, text);
    free(text);

    /* every layer restricted to codecs we dropped: no simulcast at all */
    snprintf(offer, sizeof(offer), "%s",
             SESSION AUDIO VIDEO_HEAD(RID_EXTS, "sendonly") "a=rid:a send pt=102\r\n"
                                                            "a=rid:b send pt=45\r\n"
                                                            "a=simulcast:send a;b\r\n");
    text = answer(offer, &l, FL_SDP_DIR_RECVONLY, a);
    assert_int_equal(a->media[1].nrids, 0);
    assert_int_equal(a->media[1].ext_ids[FL_SDP_EXT_RID], 0);
    assert_null(strstr(text, "a=simulcast"));
    free(text);

    /* an offer that receives simulcast (a=simulcast:recv) is not answered
     * with layers: we send one stream */
    l.video_codecs = NULL;
    snprintf(offer, sizeof(offer), "%s",
             SESSION AUDIO VIDEO_HEAD(RID_EXTS, "recvonly") "a=rid:a recv\r\na=rid:b recv\r\n"
                                                            "a=simulcast:recv a;b\r\n");
    text = answer(offer, &l, FL_SDP_DIR_SENDRECV, a);
    assert_int_equal(a->media[1].dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(a->media[1].nrids, 0);
    assert_null(strstr(text, "a=simulcast"));
    free(text);
    free(a);
}

/* tests/fuzz/corpus/sdp/chromium156_simulcast_offer: Chromium 156's offer
 * for addTransceiver(canvas track, {direction: "sendonly", sendEncodings:
 * q, h, f}); the answers below were given back to that Chromium, which kept
 * its three encodings with simulcast_recv and one without. */
static void test_chromium_capture(void **state)
{
    (void)state;
    FILE *f = fopen("tests/fuzz/corpus/sdp/chromium156_simulcast_offer", "rb");
    if (!f)
        skip();
    static char offer[FL_SDP_MAX_LEN + 1];
    size_t n = fread(offer, 1, FL_SDP_MAX_LEN, f);
    offer[n] = '\0';
    fclose(f);
    fl_sdp_desc *d = new_desc();
    describe_ok(offer, d);
    assert_int_equal(d->nmedia, 1);
    const fl_sdp_media *v = &d->media[0];
    assert_layers(v, "q;h;f", FL_SDP_RID_SEND);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RID], 10);
    assert_int_equal(v->ext_ids[FL_SDP_EXT_RRID], 11);
    assert_int_equal(v->dir, FL_SDP_DIR_SENDONLY);
    assert_int_equal(v->nssrcs, 0);

    fl_sdp_local l = local_defaults();
    l.simulcast_recv = 1;
    char *text = answer(offer, &l, FL_SDP_DIR_RECVONLY, d);
    assert_layers(&d->media[0], "q;h;f", FL_SDP_RID_RECV);
    assert_non_null(strstr(text, "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\n"
                                 "a=simulcast:recv q;h;f\r\n"));
    assert_reads_back(offer, d, text);
    free(text);
    l.simulcast_recv = 0;
    text = answer(offer, &l, FL_SDP_DIR_RECVONLY, d);
    assert_null(strstr(text, "a=rid"));
    assert_null(strstr(text, "a=simulcast"));
    free(text);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_rid),    cmocka_unit_test(test_describe_sim),
        cmocka_unit_test(test_rid_rules),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_answer_off),      cmocka_unit_test(test_answer_on),
        cmocka_unit_test(test_answer_on_cases), cmocka_unit_test(test_chromium_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
