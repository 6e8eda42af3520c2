/* RtpEndpoints on a virtual clock and network (engine/sim.h): two of them
 * offer and answer to each other in the clear and with SDES-SRTP (AES-128
 * and AES-256) and carry video from an AppSource to an AppSink; a wrong
 * key stops the media and is counted and said; a COMEDIA peer (a raw
 * socket of the test, its SDP with no address) is learnt from its first
 * packet and answered there; bad SDP gets the right errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "net/rtp.h"
#include "sdp/sdp.h"
#include "tests/unit/engine/sim_world.h"

typedef struct world {
    sim_world s;
    peer a, b;
    fl_element *src, *sink;
    size_t seen, not_rtp;
    uint16_t last_seq;
    char err_type[64];
    int soft_limits;
    /* a raw peer: the test's own socket in the simulated network */
    fl__sim_socket raw;
    size_t raw_rtp, raw_rtcp;
    uint16_t raw_rtcp_from; /* the source port of the last RTCP it got */
    size_t audio_seen;
    /* stats */
    int64_t auth_failed;
    int64_t packets_in;
} world;

static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    world *w = arg;
    fl_rtp_view v;
    if (media == FL_MEDIA_AUDIO) {
        w->audio_seen++;
        return;
    }
    if (media != FL_MEDIA_VIDEO || fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0) {
        w->not_rtp++;
        return;
    }
    w->seen++;
    w->last_seq = v.seq;
}

/* a peer and its world, for on_event */
typedef struct peer_ctx {
    peer p;
    world *w;
} peer_ctx;

static peer_ctx ctx_a, ctx_b;

static void on_event(void *arg, const fl_event *ev)
{
    peer_ctx *c = arg;
    world *w = c->w;
    sw_peer_event(&c->p, ev);
    if (ev->type == FL_EVENT_ERROR)
        snprintf(w->err_type, sizeof(w->err_type), "%s", ev->error.type);
    if (ev->type == FL_EVENT_KEY_SOFT_LIMIT)
        w->soft_limits++;
}

static void make_vp8(uint8_t *pkt, size_t len, uint32_t ssrc, uint16_t seq, uint32_t ts, int key)
{
    memset(pkt, 0, len);
    pkt[0] = 0x80;
    pkt[1] = 0x80 | 96;
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    pkt[4] = (uint8_t)(ts >> 24);
    pkt[5] = (uint8_t)(ts >> 16);
    pkt[6] = (uint8_t)(ts >> 8);
    pkt[7] = (uint8_t)ts;
    pkt[8] = (uint8_t)(ssrc >> 24);
    pkt[9] = (uint8_t)(ssrc >> 16);
    pkt[10] = (uint8_t)(ssrc >> 8);
    pkt[11] = (uint8_t)ssrc;
    pkt[12] = 0x10;              /* VP8 descriptor: start of partition 0 */
    pkt[13] = key ? 0x00 : 0x01; /* bit 0 clear: a key frame */
}

static void push_frames(world *w, fl_element *src, uint16_t seq0, int n)
{
    uint8_t pkt[12 + 200];
    for (int i = 0; i < n; i++) {
        make_vp8(pkt, sizeof(pkt), 0x1234, (uint16_t)(seq0 + i), 90000u + (uint32_t)i * 3000,
                 i % 30 == 0);
        assert_int_equal(fl_element_push(src, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
}

static world *world_new(uint64_t seed, const char *sdes_a, const char *sdes_b)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, seed);
    fl_list_init(&w->raw.node);
    ctx_a = (peer_ctx){ .w = w };
    ctx_b = (peer_ctx){ .w = w };
    peer *pp[2] = { &ctx_a.p, &ctx_b.p };
    const char *sdes[2] = { sdes_a, sdes_b };
    for (int i = 0; i < 2; i++) {
        pp[i]->e = sw_make(&w->s, FL_ELEMENT_RTP, i ? "b" : "a");
        assert_int_equal(fl_element_set_event_cb(pp[i]->e, on_event, pp[i]), 0);
        assert_int_equal(sw_wait(&w->s, fl_element_set_property(pp[i]->e, "networkInterfaces", "lo",
                                                                sw_on_done, &w->s)),
                         0);
        if (sdes[i])
            assert_int_equal(sw_wait(&w->s, fl_element_set_property(pp[i]->e, "sdes", sdes[i],
                                                                    sw_on_done, &w->s)),
                             0);
    }
    w->src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src");
    w->sink = sw_make(&w->s, FL_ELEMENT_APP_SINK, "sink");
    assert_int_equal(fl_element_set_media_cb(w->sink, on_media, w), 0);
    return w;
}

static void world_free(world *w)
{
    fl__sim_socket_remove(&w->raw);
    sw_deinit(&w->s);
    free(w);
}

static void on_stats(void *arg, int status, const fl_stats *entries, size_t n)
{
    world *w = arg;
    w->s.done = 1;
    w->s.status = status;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].kind == FL_STATS_ENDPOINT)
            w->auth_failed = entries[i].endpoint.srtp_auth_failed;
        if (entries[i].kind == FL_STATS_INBOUND_RTP)
            w->packets_in += entries[i].inbound_rtp.packets_received;
    }
}

static void get_stats(world *w, fl_element *e)
{
    w->auth_failed = -2;
    w->packets_in = 0;
    assert_int_equal(sw_wait(&w->s, fl_element_get_stats(e, FL_MEDIA_ALL, on_stats, w)), 0);
}

/* a offers, b answers; answer_edit may change the answer before a takes it */
static void negotiate(world *w, void (*answer_edit)(char *))
{
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "generateOffer", NULL, 0), 0);
    char *offer = strdup(w->s.text);
    assert_non_null(strstr(offer, "m=video "));
    assert_null(strstr(offer, "a=ice-ufrag"));
    assert_null(strstr(offer, "a=fingerprint"));
    int prc = sw_invoke(&w->s, ctx_b.p.e, "processOffer", (const char *[]){ offer }, 1);
    if (prc)
        fprintf(stderr, "offer:\n%s\nwhy: %s\n", offer, w->s.text);
    assert_int_equal(prc, 0);
    char *answer = strdup(w->s.text);
    assert_non_null(strstr(answer, "c=IN IP4 127.0.0.1"));
    if (answer_edit)
        answer_edit(answer);
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processAnswer", (const char *[]){ answer }, 1),
                     0);
    assert_int_equal(fl__sim_advance(w->s.sim, 10 * FL_TIME_MS), 0);
    assert_true(ctx_a.p.dtls_connected && ctx_b.p.dtls_connected); /* CONNECTED, no DTLS */
    free(offer);
    free(answer);
}

/* a sends to b: src -> a ... b -> sink */
static void media_a_to_b(world *w, const char *sdes, void (*answer_edit)(char *))
{
    (void)sdes;
    sw_join(&w->s, w->src, ctx_a.p.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, ctx_b.p.e, w->sink, FL_MEDIA_VIDEO);
    negotiate(w, answer_edit);
    push_frames(w, w->src, 100, 90);
}

static void test_plain(void **state)
{
    (void)state;
    world *w = world_new(1, NULL, NULL);
    media_a_to_b(w, NULL, NULL);
    assert_true(w->seen >= 85);
    assert_int_equal(w->not_rtp, 0);
    /* RTCP flows both ways (SR from a, RR from b): the media state says so */
    assert_true(ctx_a.p.media_state && ctx_b.p.media_state);
    get_stats(w, ctx_b.p.e);
    assert_int_equal(w->auth_failed, 0);
    assert_true(w->packets_in >= 85);
    world_free(w);
}

/* useIpv6: the sockets and the SDP on ::1, media as over IPv4 */
static void test_ipv6(void **state)
{
    (void)state;
    world *w = world_new(9, NULL, NULL);
    fl_element *e[2] = { ctx_a.p.e, ctx_b.p.e };
    for (int i = 0; i < 2; i++)
        assert_int_equal(
                sw_wait(&w->s, fl_element_set_property(e[i], "useIpv6", "true", sw_on_done, &w->s)),
                0);
    sw_join(&w->s, w->src, ctx_a.p.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, ctx_b.p.e, w->sink, FL_MEDIA_VIDEO);
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "generateOffer", NULL, 0), 0);
    char *offer = strdup(w->s.text);
    assert_non_null(strstr(offer, "c=IN IP6 ::1"));
    assert_int_equal(sw_invoke(&w->s, ctx_b.p.e, "processOffer", (const char *[]){ offer }, 1), 0);
    char *answer = strdup(w->s.text);
    assert_non_null(strstr(answer, "c=IN IP6 ::1"));
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processAnswer", (const char *[]){ answer }, 1),
                     0);
    push_frames(w, w->src, 100, 60);
    assert_true(w->seen >= 55);
    free(offer);
    free(answer);
    world_free(w);
}

static void test_sdes(void **state)
{
    (void)state;
    const char *suites[] = { "AES_128_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32" };
    for (int i = 0; i < 2; i++) {
        world *w = world_new(2 + (uint64_t)i, suites[i], suites[i]);
        assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "generateOffer", NULL, 0), 0);
        w->s.done = 0;
        /* the offer says the suite and its key; our settings are fixed now */
        assert_non_null(strstr(w->s.text, "RTP/SAVPF"));
        assert_non_null(strstr(w->s.text, i ? "AES_256_CM_HMAC_SHA1_32 inline:"
                                            : "AES_CM_128_HMAC_SHA1_80 inline:"));
        assert_int_equal(sw_wait(&w->s, fl_element_set_property(ctx_a.p.e, "sdes", suites[0],
                                                                sw_on_done, &w->s)),
                         FL_ESTATE);
        world_free(w);

        w = world_new(4 + (uint64_t)i, suites[i], suites[i]);
        media_a_to_b(w, suites[i], NULL);
        assert_true(w->seen >= 85);
        get_stats(w, ctx_b.p.e);
        assert_int_equal(w->auth_failed, 0);
        assert_int_equal(w->soft_limits, 0);
        world_free(w);
    }
}

/* b's answer key replaced by another of the same length: a cannot check
 * what b sends */
static void spoil_key(char *answer)
{
    int n = 0;
    for (char *k = strstr(answer, "inline:"); k; k = strstr(k, "inline:")) {
        k += 7;
        k[0] = k[0] == 'A' ? 'B' : 'A';
        n++;
    }
    assert_int_equal(n, 2); /* audio and video */
}

static void test_sdes_wrong_key(void **state)
{
    (void)state;
    const char *suite = "AES_128_CM_HMAC_SHA1_80";
    world *w = world_new(6, suite, suite);
    /* b sends, a receives with the wrong key for b */
    sw_join(&w->s, w->src, ctx_b.p.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, ctx_a.p.e, w->sink, FL_MEDIA_VIDEO);
    negotiate(w, spoil_key);
    push_frames(w, w->src, 100, 90);
    assert_int_equal(w->seen, 0);
    get_stats(w, ctx_a.p.e);
    assert_true(w->auth_failed >= 85);
    assert_int_equal(w->packets_in, 0);
    assert_string_equal(w->err_type, "SRTP_AUTH_FAILED");
    world_free(w);
}

/* ---- COMEDIA: a raw peer the SDP does not locate ---- */

static void raw_deliver(fl__sim_socket *so, const fl_addr *from, const uint8_t *d, size_t len)
{
    world *w = fl_container_of(so, world, raw);
    if (len >= 2 && d[1] >= 192 && d[1] <= 223) {
        w->raw_rtcp++;
        w->raw_rtcp_from = from->port;
    } else
        w->raw_rtp++;
}

static void test_comedia(void **state)
{
    (void)state;
    world *w = world_new(7, NULL, NULL);
    fl_addr_parse(&w->raw.local, "127.0.0.1", 30998);
    w->raw.deliver = raw_deliver;
    fl__sim_socket_add(w->s.sim, &w->raw);
    fl_element *back = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "back");
    sw_join(&w->s, ctx_b.p.e, w->sink, FL_MEDIA_VIDEO);
    sw_join(&w->s, back, ctx_b.p.e, FL_MEDIA_VIDEO);
    const char *offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                        "m=video 9 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=direction:active\r\n"
                        "a=sendrecv\r\n";
    int prc = sw_invoke(&w->s, ctx_b.p.e, "processOffer", (const char *[]){ offer }, 1);
    if (prc)
        fprintf(stderr, "offer:\n%s\nwhy: %s\n", offer, w->s.text);
    assert_int_equal(prc, 0);
    assert_non_null(strstr(w->s.text, "a=direction:passive"));
    const char *ours = strstr(w->s.text, "a=ssrc:");
    assert_non_null(ours);
    uint32_t own_ssrc = (uint32_t)strtoul(ours + 7, NULL, 10);
    fl_sdp *sdp;
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    assert_int_equal(fl_sdp_parse(&sdp, w->s.text, strlen(w->s.text), NULL, 0), 0);
    assert_int_equal(fl_sdp_describe(sdp, d, NULL, 0), 0);
    fl_sdp_destroy(sdp);
    fl_addr to;
    assert_int_equal(fl_addr_parse(&to, d->media[0].addr, d->media[0].port), 0);
    free(d);
    /* b sends nothing before the peer spoke */
    uint8_t pkt[12 + 200];
    make_vp8(pkt, sizeof(pkt), 0x777, 1, 1000, 1);
    assert_int_equal(fl_element_push(back, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
    assert_int_equal(fl__sim_advance(w->s.sim, 100 * FL_TIME_MS), 0);
    assert_int_equal(w->raw_rtp, 0);
    /* b's own packet sent back from elsewhere first: it teaches nothing */
    fl_addr elsewhere;
    fl_addr_parse(&elsewhere, "127.0.0.1", 31500);
    make_vp8(pkt, sizeof(pkt), own_ssrc, 1, 1000, 1);
    fl__sim_send(w->s.sim, &elsewhere, &to, pkt, sizeof(pkt));
    assert_int_equal(fl__sim_advance(w->s.sim, 10 * FL_TIME_MS), 0);
    for (int i = 0; i < 60; i++) {
        make_vp8(pkt, sizeof(pkt), 0xabc, (uint16_t)(500 + i), 3000u * (uint32_t)i, i == 0);
        fl__sim_send(w->s.sim, &w->raw.local, &to, pkt, sizeof(pkt));
        make_vp8(pkt, sizeof(pkt), 0x777, (uint16_t)(2 + i), 1000u + 3000u * (uint32_t)i, 0);
        assert_int_equal(fl_element_push(back, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
    assert_true(w->seen >= 58);
    assert_int_equal(w->last_seq, 559);
    /* answered where it spoke from: media, and RTCP at the port after */
    assert_true(w->raw_rtp >= 55);
    world_free(w);
}

/* The port of the answer's section of `kind` ("audio", "video"). */
static uint16_t answer_port(const char *answer, const char *kind)
{
    char m[16];
    snprintf(m, sizeof(m), "m=%s ", kind);
    const char *at = strstr(answer, m);
    assert_non_null(at);
    return (uint16_t)atoi(at + strlen(m));
}

/* Separate RTP sessions: the answer takes the RTP/AVP video section after a
 * refused RTP/SAVP one (rtcp-mux on the first only), so RTCP uses the port
 * after the media port; audio's payload type 97 is video's RTX number, and
 * still audio on its own session. */
static void test_sections(void **state)
{
    (void)state;
    world *w = world_new(9, NULL, NULL);
    fl_addr_parse(&w->raw.local, "127.0.0.1", 30011);
    w->raw.deliver = raw_deliver;
    fl__sim_socket_add(w->s.sim, &w->raw);
    fl_element *back = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "back");
    sw_join(&w->s, ctx_b.p.e, w->sink, FL_MEDIA_AUDIO);
    sw_join(&w->s, back, ctx_b.p.e, FL_MEDIA_VIDEO);
    const char *offer =
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=video 30000 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-mux\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e\r\n"
            "m=video 30010 RTP/AVPF 96 97\r\na=rtpmap:96 VP8/90000\r\n"
            "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
            "m=audio 30020 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n";
    int prc = sw_invoke(&w->s, ctx_b.p.e, "processOffer", (const char *[]){ offer }, 1);
    if (prc)
        fprintf(stderr, "why: %s\n", w->s.text);
    assert_int_equal(prc, 0);
    char *answer = strdup(w->s.text);
    uint16_t vport = answer_port(answer, "video"), aport = answer_port(answer, "audio");
    assert_int_equal(answer_port(answer, "video"), 0); /* the SAVP one, refused */
    const char *second = strstr(strstr(answer, "m=video ") + 1, "m=video ");
    assert_non_null(second);
    vport = (uint16_t)atoi(second + 8);
    assert_true(vport > 0);
    char rtcp[32];
    snprintf(rtcp, sizeof(rtcp), "a=rtcp:%u", (unsigned)(vport + 1));
    assert_non_null(strstr(second, rtcp));
    fl_addr to;
    fl_addr_parse(&to, "127.0.0.1", aport);
    uint8_t pkt[12 + 100];
    for (int i = 0; i < 60; i++) {
        memset(pkt, 0, sizeof(pkt));
        pkt[0] = 0x80;
        pkt[1] = 97;
        pkt[2] = (uint8_t)(i >> 8);
        pkt[3] = (uint8_t)i;
        pkt[7] = (uint8_t)i; /* timestamp */
        pkt[11] = 0x42;      /* ssrc */
        fl__sim_send(w->s.sim, &w->raw.local, &to, pkt, sizeof(pkt));
        make_vp8(pkt, sizeof(pkt), 0x777, (uint16_t)(2 + i), 1000u + 3000u * (uint32_t)i, !i);
        assert_int_equal(fl_element_push(back, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
    assert_true(w->audio_seen >= 55); /* not taken for video's RTX */
    assert_int_equal(fl__sim_advance(w->s.sim, 3 * FL_TIME_SEC), 0);
    assert_true(w->raw_rtcp > 0); /* b's SRs for the video it sends */
    assert_int_equal(w->raw_rtcp_from, vport + 1);
    free(answer);
    world_free(w);
}

/* ---- bad input ---- */

static void test_bad_sdp(void **state)
{
    (void)state;
    world *w = world_new(8, NULL, NULL);
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processOffer", (const char *[]){ "garbage" }, 1),
                     FL_EBADMSG);
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processAnswer", (const char *[]){ "v=0\r\n" }, 1),
                     FL_ESTATE);
    /* SRTP offered to an endpoint without crypto: nothing to accept */
    const char *savp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       "m=video 5000 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                       "inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e\r\n";
    assert_true(sw_invoke(&w->s, ctx_a.p.e, "processOffer", (const char *[]){ savp }, 1) < 0);
    /* a failed step is undone: a good offer is still taken */
    const char *good = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processOffer", (const char *[]){ good }, 1), 0);
    assert_non_null(strstr(w->s.text, "m=audio "));
    assert_non_null(strstr(w->s.text, "RTP/AVP 0"));
    assert_int_equal(sw_invoke(&w->s, ctx_a.p.e, "processOffer", (const char *[]){ good }, 1),
                     FL_ESTATE);
    /* bad settings */
    /* a peer at an IPv6 address for an IPv4 endpoint (no useIpv6) */
    const char *six = "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
                      "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    assert_int_equal(sw_invoke(&w->s, ctx_b.p.e, "processOffer", (const char *[]){ six }, 1),
                     FL_ENOTSUP);
    assert_non_null(strstr(w->s.text, "useIpv6"));
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(ctx_b.p.e, "sdes", "AES_999",
                                                            sw_on_done, &w->s)),
                     FL_EINVAL);
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(ctx_b.p.e, "sdes",
                                                            "AES_128_CM_HMAC_SHA1_80 QUJD",
                                                            sw_on_done, &w->s)),
                     FL_EINVAL);
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(ctx_b.p.e, "stunServerAddress",
                                                            "1.2.3.4", sw_on_done, &w->s)),
                     FL_ENOTSUP);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),   cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_sdes),    cmocka_unit_test(test_sdes_wrong_key),
        cmocka_unit_test(test_comedia), cmocka_unit_test(test_sections),
        cmocka_unit_test(test_bad_sdp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
