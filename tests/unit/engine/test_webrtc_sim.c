/* Two WebRtcEndpoints against each other on a virtual clock and network
 * (engine/sim.h): offer/answer, ICE, DTLS-SRTP and video from an AppSource
 * through one endpoint to the other and out of an AppSink, a source switch
 * on the sender, and loss repaired by NACK. No browser, no sleeping: the
 * simulation jumps from one deadline to the next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "net/rtp.h"
#include "tests/unit/engine/sim_world.h"

#define MAX_SEEN 4096

typedef struct seen_pkt {
    uint32_t ssrc, ts;
    uint16_t seq;
    uint8_t pt;
    uint32_t tag; /* the first payload bytes after the VP8 descriptor */
} seen_pkt;

typedef struct world {
    sim_world s;
    peer a, b, c, d; /* a offers to b; c offers to d (when asked for) */
    fl_element *src1, *src2, *sink;
    seen_pkt seen[MAX_SEEN];
    size_t nseen;
    size_t not_rtp;
} world;

/* ---- media ---- */

static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    world *w = arg;
    fl_rtp_view v;
    if (media != FL_MEDIA_VIDEO || fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0 ||
        v.payload_len < 5 || w->nseen == MAX_SEEN) {
        w->not_rtp++;
        return;
    }
    seen_pkt *s = &w->seen[w->nseen++];
    s->ssrc = v.ssrc;
    s->ts = v.timestamp;
    s->seq = v.seq;
    s->pt = v.payload_type;
    const uint8_t *pl = v.payload + 1; /* after the one-byte VP8 descriptor */
    s->tag = (uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 | (uint32_t)pl[2] << 8 | pl[3];
}

/* One VP8 packet: a frame in one packet, key frames every 30th. */
static void push_frame(fl_element *src, uint32_t ssrc, uint16_t seq, uint32_t ts, uint32_t tag)
{
    uint8_t pkt[12 + 1 + 200];
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0x80;
    pkt[1] = 0x80 | 96; /* marker: the frame's last packet */
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
    pkt[12] = 0x10; /* VP8 descriptor: start of partition 0 */
    pkt[13] = (uint8_t)(tag >> 24);
    pkt[14] = (uint8_t)(tag >> 16);
    pkt[15] = (uint8_t)(tag >> 8);
    pkt[16] = (uint8_t)tag;
    /* the VP8 payload header: bit 0 clear is a key frame */
    pkt[17] = tag % 30 == 0 ? 0x00 : 0x01;
    assert_int_equal(fl_element_push(src, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
}

/* ---- the world ---- */

/* a and b with the video codecs given (NULL: the defaults). */
static world *world_new_codecs(uint64_t seed, const char *codecs)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, seed);
    sw_make_pair(&w->s, &w->a, "a", &w->b, "b", codecs);
    w->src1 = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src1");
    w->src2 = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src2");
    w->sink = sw_make(&w->s, FL_ELEMENT_APP_SINK, "sink");
    assert_int_equal(fl_element_set_media_cb(w->sink, on_media, w), 0);
    sw_join(&w->s, w->src1, w->a.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->b.e, w->sink, FL_MEDIA_VIDEO);
    return w;
}

static world *world_new(uint64_t seed)
{
    return world_new_codecs(seed, NULL);
}

static void world_free(world *w)
{
    sw_deinit(&w->s);
    free(w);
}

static fl_time negotiate(world *w)
{
    return sw_negotiate(&w->s, &w->a, &w->b);
}

/* Pushes n frames at 30 fps from src (its own numbering), one packet each. */
static void send_frames(world *w,
                        fl_element *src,
                        uint32_t ssrc,
                        uint16_t seq0,
                        uint32_t ts0,
                        uint32_t tag0,
                        int n)
{
    for (int i = 0; i < n; i++) {
        push_frame(src, ssrc, (uint16_t)(seq0 + i), ts0 + (uint32_t)i * 3000, tag0 + (uint32_t)i);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
}

static size_t find_tag(const world *w, uint32_t tag)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].tag == tag)
            return i;
    return SIZE_MAX;
}

static void test_offer_answer_media_switch(void **state)
{
    (void)state;
    world *w = world_new(1);
    fl_time took = negotiate(w);
    /* ICE checks and a DTLS handshake over a network with no delay: well
     * under a second of virtual time */
    assert_true(took < FL_TIME_SEC);

    /* 60 frames from the first source, in its numbering */
    send_frames(w, w->src1, 0x11111111, 1000, 500000, 0, 60);
    /* the second source replaces the first on a's video sink 100 ms later;
     * its numbering starts elsewhere, and the frames go on where the first
     * left off, timed by the (virtual) time between */
    assert_int_equal(fl__sim_advance(w->s.sim, 100 * FL_TIME_MS), 0);
    sw_join(&w->s, w->src2, w->a.e, FL_MEDIA_VIDEO);
    send_frames(w, w->src2, 0x22222222, 50000, 9000000, 1000, 60);
    assert_int_equal(fl__sim_advance(w->s.sim, 500 * FL_TIME_MS), 0);

    assert_int_equal(w->not_rtp, 0);
    assert_int_equal(w->a.errors + w->b.errors, 0);
    assert_true(w->a.media_state && w->b.media_state); /* RTCP came both ways */
    /* everything arrived once, in order: the network loses nothing here */
    assert_int_equal(w->nseen, 120);
    for (size_t i = 0; i < w->nseen; i++) {
        const seen_pkt *s = &w->seen[i];
        assert_int_equal(s->tag, i < 60 ? i : 1000 + (i - 60));
        /* one stream for b, whichever source feeds a: a's SSRC and payload
         * type, sequence numbers that follow each other, time that moves on */
        assert_int_equal(s->ssrc, w->seen[0].ssrc);
        assert_int_equal(s->pt, w->seen[0].pt);
        assert_int_not_equal(s->ssrc, 0x11111111);
        assert_int_not_equal(s->ssrc, 0x22222222);
        if (i > 0) {
            assert_int_equal((uint16_t)(s->seq - w->seen[i - 1].seq), 1);
            /* 3000 ticks a frame; across the switch, the virtual time
             * between the frames (133 ms: 11970 ticks) */
            uint32_t dts = s->ts - w->seen[i - 1].ts;
            if (i == 60)
                assert_int_equal(dts, 133 * 90);
            else
                assert_int_equal(dts, 3000);
        }
    }
    fl__sim_stats ss;
    fl__sim_get_stats(w->s.sim, &ss);
    assert_int_equal(ss.dropped, 0);
    assert_int_equal(ss.unreachable, 0);
    assert_true(ss.delivered > 120);
    world_free(w);
}

static void test_loss_repaired_by_nack(void **state)
{
    (void)state;
    world *w = world_new(7);
    negotiate(w);
    /* 5% of every datagram lost, both ways, 20 ms one way */
    fl__sim_set_network(w->s.sim, 20 * FL_TIME_MS, 50);
    send_frames(w, w->src1, 0x33333333, 1, 1000, 0, 200);
    fl__sim_set_network(w->s.sim, 20 * FL_TIME_MS, 0);
    assert_int_equal(fl__sim_advance(w->s.sim, 2 * FL_TIME_SEC), 0);
    fl__sim_stats ss;
    fl__sim_get_stats(w->s.sim, &ss);
    assert_true(ss.dropped > 0);
    /* every frame arrives at last, the lost ones resent on b's NACK */
    size_t missing = 0, late = 0;
    for (uint32_t tag = 0; tag < 200; tag++) {
        size_t at = find_tag(w, tag);
        if (at == SIZE_MAX)
            missing++;
        else if (at != tag)
            late++;
    }
    assert_int_equal(missing, 0);
    assert_true(late > 0); /* some came out of order: their resends */
    world_free(w);
}

/* An upstream whose format differs from what a negotiated, and that fluo
 * cannot transcode: a is fed by d (linked before either pair negotiated),
 * which receives AV1 from c while a sends VP8 to b (the only codec they
 * have). The mismatch is found once, said in one Error event,
 * and nothing goes out; a new link (an AppSource, no format of its own)
 * changes the verdict, and media flows. */
static void test_format_decided_on_graph_change(void **state)
{
    (void)state;
    world *w = world_new_codecs(3, "VP8/90000");
    sw_make_pair(&w->s, &w->c, "c", &w->d, "d", "AV1/90000");
    fl_element *src3 = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src3");
    sw_join(&w->s, src3, w->c.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->d.e, w->a.e, FL_MEDIA_VIDEO); /* replaces src1 */
    negotiate(w);
    sw_negotiate(&w->s, &w->c, &w->d);
    assert_int_equal(sw_invoke(&w->s, w->a.e, "getLocalSessionDescriptor", NULL, 0), 0);
    assert_non_null(strstr(w->s.text, "VP8/90000"));
    assert_int_equal(sw_invoke(&w->s, w->d.e, "getLocalSessionDescriptor", NULL, 0), 0);
    assert_null(strstr(w->s.text, "VP8/90000"));
    assert_non_null(strstr(w->s.text, "AV1/90000"));

    /* AV1 from c reaches d and a, which does not send it */
    for (int i = 0; i < 30; i++) {
        uint8_t nal[40] = { 0x80, 0x80 | 102, 0, (uint8_t)i, 0, 0, 0, (uint8_t)i, 0, 0, 0, 9 };
        nal[12] = 0x65; /* an IDR slice */
        assert_int_equal(fl_element_push(src3, FL_MEDIA_VIDEO, nal, sizeof(nal), NULL, NULL), 0);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
    assert_int_equal(w->a.errors, 1);
    assert_int_equal(w->nseen, 0);

    /* a new source on a's sink pad: decided again, and it fits */
    sw_join(&w->s, w->src1, w->a.e, FL_MEDIA_VIDEO);
    send_frames(w, w->src1, 0x44444444, 1, 1, 0, 10);
    assert_int_equal(fl__sim_advance(w->s.sim, 200 * FL_TIME_MS), 0);
    assert_int_equal(w->nseen, 10);
    assert_int_equal(w->a.errors, 1);
    world_free(w);
}

/* A source in another of the codecs a negotiated: a and b agree on VP8
 * and H264 (VP8 first, so VP8 is what a sends at first); H264 from c
 * through d reaches a, which sends it as H264, with H264's payload type,
 * and raises no Error (RFC 3264: either side may send any codec of the
 * answer). */
static void test_source_in_another_negotiated_codec(void **state)
{
    (void)state;
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, 4);
    sw_make_pair(&w->s, &w->a, "a", &w->b, "b", "VP8/90000,H264/90000");
    sw_make_pair(&w->s, &w->c, "c", &w->d, "d", "H264/90000");
    w->sink = sw_make(&w->s, FL_ELEMENT_APP_SINK, "sink");
    assert_int_equal(fl_element_set_media_cb(w->sink, on_media, w), 0);
    fl_element *src3 = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src3");
    sw_join(&w->s, src3, w->c.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->d.e, w->a.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->b.e, w->sink, FL_MEDIA_VIDEO);
    negotiate(w);
    sw_negotiate(&w->s, &w->c, &w->d);
    assert_int_equal(sw_invoke(&w->s, w->a.e, "getLocalSessionDescriptor", NULL, 0), 0);
    const char *h264 = strstr(w->s.text, " H264/90000");
    const char *vp8 = strstr(w->s.text, " VP8/90000");
    assert_non_null(h264);
    assert_non_null(vp8);
    assert_true(vp8 < h264); /* VP8 is the main codec */
    int h264_pt = -1;
    for (const char *q = h264; q > w->s.text && q[-1] != ':'; q--)
        h264_pt = atoi(q - 1);
    assert_true(h264_pt > 0);
    for (int i = 0; i < 30; i++) {
        uint8_t nal[40] = { 0x80, 0x80 | 102, 0, (uint8_t)i, 0, 0, 0, (uint8_t)i, 0, 0, 0, 9 };
        nal[12] = 0x65; /* an IDR slice */
        assert_int_equal(fl_element_push(src3, FL_MEDIA_VIDEO, nal, sizeof(nal), NULL, NULL), 0);
        assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
    }
    assert_int_equal(fl__sim_advance(w->s.sim, 200 * FL_TIME_MS), 0);
    assert_int_equal(w->a.errors, 0);
    assert_true(w->nseen >= 25);
    for (size_t i = 0; i < w->nseen; i++)
        assert_int_equal(w->seen[i].pt, h264_pt);
    /* what b sends a is still taken as VP8: only the sending changed */
    const fl_sdp_codec *recv = w->a.e->type->caps(w->a.e, FL_MEDIA_VIDEO);
    assert_non_null(recv);
    assert_string_equal(recv->name, "VP8");

    /* a source with no format of its own (an AppSource sending VP8): back
     * to the main codec's payload type */
    size_t before = w->nseen;
    w->src1 = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src1");
    sw_join(&w->s, w->src1, w->a.e, FL_MEDIA_VIDEO);
    send_frames(w, w->src1, 0x55555555, 1, 1, 0, 10);
    assert_int_equal(fl__sim_advance(w->s.sim, 200 * FL_TIME_MS), 0);
    assert_true(w->nseen >= before + 8);
    for (size_t i = before; i < w->nseen; i++)
        assert_int_not_equal(w->seen[i].pt, h264_pt);
    world_free(w);
}

/* Each leg numbers its packets from below 2^15 (fl_rtp_seq_initial): a
 * peer whose DTLS handshake ends after ours drops our first packets, and
 * had they reached a wrap to 0, SRTP would never authenticate the rest of
 * the stream for it (its rollover counter taken as 0). Over seeds enough
 * that full 16-bit numbering would start above at least once. */
static void test_first_sequence_number_below_half(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        world *w = world_new(100 + seed);
        negotiate(w);
        send_frames(w, w->src1, 0x66666666, 60000, 1000, 0, 3);
        assert_int_equal(fl__sim_advance(w->s.sim, 100 * FL_TIME_MS), 0);
        assert_int_equal(w->nseen, 3);
        assert_true(w->seen[0].seq < 0x8000u);
        world_free(w);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer_answer_media_switch),
        cmocka_unit_test(test_loss_repaired_by_nack),
        cmocka_unit_test(test_format_decided_on_graph_change),
        cmocka_unit_test(test_source_in_another_negotiated_codec),
        cmocka_unit_test(test_first_sequence_number_below_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
