/* Transcoders on links (engine/transcode.c), under the simulation: an
 * AppSource pushing a pre-encoded clip in one format and AppSinks that take
 * another. What comes out is depacketized and decoded here, so a test
 * fails when the pictures or the sound do not survive the trip. The codec
 * threads are real: the tests wait (briefly, for real) for their frames. */
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/coder.h"
#include "net/rtp.h"
#include "sim_world.h"

typedef struct out {
    fl_codec_kind kind;
    fl_depack *depack;
    fl_vdec *vdec;
    fl_adec *adec;
    int pt;
    uint32_t ssrc;
    int frames, pictures, width, height, packets, bad_pt, keys;
    double energy; /* audio: sum of squares of the decoded samples */
    long samples;
} out;

typedef struct world {
    sim_world s;
    fl_element *src;
    fl_clip *clip;
    uint16_t seq;
    int errors;
} world;

static void out_init(out *o, fl_codec_kind kind, int pt)
{
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->pt = pt;
    fl_depack_config dc = { .codec = kind };
    assert_int_equal(fl_depack_create(&o->depack, &dc), 0);
    if (fl_codec_kind_is_video(kind))
        assert_int_equal(fl_vdec_create(&o->vdec, kind), 0);
    else
        assert_int_equal(fl_adec_create(&o->adec, kind, 1), 0);
}

static void out_deinit(out *o)
{
    fl_depack_destroy(o->depack);
    fl_vdec_destroy(o->vdec);
    fl_adec_destroy(o->adec);
}

static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    (void)media;
    out *o = arg;
    fl_rtp_view v;
    if (fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0)
        return;
    o->packets++;
    o->ssrc = v.ssrc;
    if (v.payload_type != o->pt)
        o->bad_pt++;
    fl_depack_packet p = { .payload = v.payload,
                           .len = v.payload_len,
                           .seq = v.seq,
                           .ts = v.timestamp,
                           .marker = v.marker };
    fl_depack_push(o->depack, &p);
    fl_frame f;
    while (fl_depack_pull(o->depack, &f) == 1) {
        o->frames++;
        o->keys += fl_codec_kind_is_video(o->kind) && f.key;
        if (o->vdec) {
            fl_picture pic;
            if (fl_vdec_decode(o->vdec, f.data, f.len, &pic) == 1) {
                o->pictures++;
                o->width = pic.width;
                o->height = pic.height;
            }
        } else {
            static int16_t pcm[FL_AUDIO_MAX_FRAME];
            int n = fl_adec_decode(o->adec, f.data, f.len, pcm, FL_AUDIO_MAX_FRAME);
            for (int i = 0; i < n; i++)
                o->energy += (double)pcm[i] * pcm[i];
            o->samples += n > 0 ? n : 0;
        }
    }
}

static void on_event(void *arg, const fl_event *ev)
{
    world *w = arg;
    if (ev->type == FL_EVENT_ERROR)
        w->errors++;
}

static void set_prop(world *w, fl_element *e, const char *name, const char *value)
{
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(e, name, value, sw_on_done, &w->s)), 0);
}

static fl_element *make_sink(world *w, const char *name, const char *caps, unsigned media, out *o)
{
    fl_element *e = sw_make(&w->s, FL_ELEMENT_APP_SINK, name);
    set_prop(w, e, media == FL_MEDIA_VIDEO ? "videoCaps" : "audioCaps", caps);
    assert_int_equal(fl_element_set_media_cb(e, on_media, o), 0);
    assert_int_equal(fl_element_set_event_cb(e, on_event, w), 0);
    sw_join(&w->s, w->src, e, media);
    return e;
}

/* Lets the codec threads work for up to `ms` of real time, settling the
 * simulation meanwhile, until `done` holds. */
static void wait_for(world *w, int ms, const int *counter, int target)
{
    for (int i = 0; i < ms && *counter < target; i++) {
        assert_int_equal(fl__sim_settle(w->s.sim), 0);
        usleep(1000);
    }
    assert_int_equal(fl__sim_settle(w->s.sim), 0);
}

/* Pushes the clip's packets of frames [from, to) (video) or packets (audio),
 * advancing virtual time by one frame each and giving the codec threads a
 * moment per frame. */
static void push(world *w, unsigned media, int pt, size_t from, size_t to, const int *progress)
{
    fl_clip *c = w->clip;
    size_t frame = 0;
    for (size_t i = 0; i < c->n && frame < to; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        if (frame >= from) {
            uint8_t pkt[1500];
            size_t len;
            fl_rtp_header h = { .marker = p->marker,
                                .payload_type = (uint8_t)pt,
                                .seq = w->seq++,
                                .timestamp = p->ts + 1000,
                                .ssrc = 0x11223344 };
            assert_int_equal(fl_rtp_write(pkt, sizeof(pkt), &h, p->payload, p->len, 0, &len), 0);
            assert_int_equal(fl_element_push(w->src, media, pkt, len, NULL, NULL), 0);
        }
        int last = media == FL_MEDIA_AUDIO || p->marker;
        if (last) {
            if (frame >= from) {
                assert_int_equal(fl__sim_advance(w->s.sim, 33 * FL_TIME_MS), 0);
                int before = *progress;
                wait_for(w, 30, progress, before + 1);
            }
            frame++;
        }
    }
}

static world *world_new(const char *src_caps, unsigned media)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, 7);
    w->src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src");
    set_prop(w, w->src, media == FL_MEDIA_VIDEO ? "videoCaps" : "audioCaps", src_caps);
    return w;
}

static void world_free(world *w)
{
    sw_deinit(&w->s);
    fl_clip_destroy(w->clip);
    free(w);
}

/* VP8 in, two H.264 sinks and one VP8 sink: one transcoder serves both H.264
 * sinks, whose decoders show the clip's pictures at its size; the VP8 sink
 * gets the source's own packets (its SSRC), untouched. */
static void test_vp8_to_h264_shared(void **state)
{
    (void)state;
    world *w = world_new("96 VP8/90000", FL_MEDIA_VIDEO);
    assert_int_equal(fl_clip_vp8(&w->clip, 320, 240, 30, 500, 1, 1200), 0);
    out a, b, direct;
    out_init(&a, FL_CODEC_H264, 102);
    out_init(&b, FL_CODEC_H264, 102);
    out_init(&direct, FL_CODEC_VP8, 96);
    make_sink(w, "a", "102 H264/90000;packetization-mode=1", FL_MEDIA_VIDEO, &a);
    make_sink(w, "b", "102 H264/90000;packetization-mode=1", FL_MEDIA_VIDEO, &b);
    fl_element *d = make_sink(w, "d", "96 VP8/90000", FL_MEDIA_VIDEO, &direct);
    push(w, FL_MEDIA_VIDEO, 96, 0, 30, &a.pictures);
    wait_for(w, 500, &b.pictures, 25);
    assert_int_equal(sw_dot_transcoders(&w->s), 1);
    fl_depack_stats ds;
    fl_depack_get_stats(a.depack, &ds);
    print_message("%s\nH264 a: %d packets %d frames %d pictures (depack: %llu dropped %llu skipped "
                  "%llu malformed); b: %d packets %d pictures; VP8: %d\n",
                  w->s.text, a.packets, a.frames, a.pictures, (unsigned long long)ds.dropped,
                  (unsigned long long)ds.skipped, (unsigned long long)ds.malformed, b.packets,
                  b.pictures, direct.pictures);
    assert_true(a.pictures >= 25);
    assert_true(b.pictures >= 25);
    assert_int_equal(a.width, 320);
    assert_int_equal(a.height, 240);
    assert_int_equal(a.bad_pt + b.bad_pt, 0);
    assert_int_equal(a.ssrc, b.ssrc); /* one stream, shared */
    assert_int_not_equal(a.ssrc, 0x11223344u);
    assert_int_equal(direct.pictures, 30);
    assert_int_equal(direct.ssrc, 0x11223344u);
    assert_int_equal(w->errors, 0);

    /* transcoding is reported on the sinks that take it */
    assert_int_equal(sw_wait(&w->s, fl_element_disconnect(w->src, d, FL_MEDIA_VIDEO, NULL, NULL,
                                                          sw_on_done, &w->s)),
                     0);
    out_deinit(&a);
    out_deinit(&b);
    out_deinit(&direct);
    world_free(w);
}

/* videoFormat caps the size (aspect kept) and H.264 back to VP8 works. */
static void test_h264_to_vp8_scaled(void **state)
{
    (void)state;
    world *w = world_new("102 H264/90000;packetization-mode=1", FL_MEDIA_VIDEO);
    assert_int_equal(fl_clip_h264(&w->clip, 640, 480, 30, 800, 1, 1200), 0);
    out a;
    out_init(&a, FL_CODEC_VP8, 96);
    fl_element *e = sw_make(&w->s, FL_ELEMENT_APP_SINK, "a");
    set_prop(w, e, "videoCaps", "96 VP8/90000");
    set_prop(w, e, "videoFormat", "width=320;height=320");
    assert_int_equal(fl_element_set_media_cb(e, on_media, &a), 0);
    sw_join(&w->s, w->src, e, FL_MEDIA_VIDEO);
    push(w, FL_MEDIA_VIDEO, 102, 0, 15, &a.pictures);
    int keys = a.keys;
    assert_int_equal(keys, 1); /* the clip has one key frame, and so has the output */
    /* a sink's key frame request is the transcoder's encoder's to answer
     * (the clip, past its key frame, has none to give) */
    assert_int_equal(sw_wait(&w->s, fl_element_request_key_frame(e, sw_on_done, &w->s)), 0);
    push(w, FL_MEDIA_VIDEO, 102, 15, 30, &a.pictures);
    wait_for(w, 500, &a.pictures, 25);
    assert_true(a.pictures >= 25);
    assert_int_equal(a.keys, 2);
    assert_int_equal(a.width, 320);
    assert_int_equal(a.height, 240);
    out_deinit(&a);
    world_free(w);
}

/* Opus in, PCMU out: 8 kHz G.711 that still carries the clip's tone. */
static void test_opus_to_pcmu(void **state)
{
    (void)state;
    world *w = world_new("111 opus/48000/2", FL_MEDIA_AUDIO);
    assert_int_equal(fl_clip_opus(&w->clip, 64, 2), 0);
    out a;
    out_init(&a, FL_CODEC_PCMU, 0);
    make_sink(w, "a", "0 PCMU/8000", FL_MEDIA_AUDIO, &a);
    push(w, FL_MEDIA_AUDIO, 111, 0, 100, &a.frames);
    wait_for(w, 500, &a.frames, 90);
    assert_true(a.frames >= 90);
    assert_true(a.samples >= 90 * 160);
    double rms = sqrt(a.energy / (double)a.samples);
    print_message("PCMU out: %d frames, rms %.0f\n", a.frames, rms);
    assert_true(rms > 1000.0); /* the tone, not silence */
    assert_int_equal(a.bad_pt, 0);
    out_deinit(&a);
    world_free(w);
}

/* A transcoder made and ended 1,000 times (a sink linked, fed, unlinked):
 * nothing is left behind (ASan's leak check, the DOT). */
static void test_churn(void **state)
{
    (void)state;
    world *w = world_new("96 VP8/90000", FL_MEDIA_VIDEO);
    assert_int_equal(fl_clip_vp8(&w->clip, 64, 64, 30, 100, 1, 1200), 0);
    out a;
    out_init(&a, FL_CODEC_H264, 102);
    fl_element *e = sw_make(&w->s, FL_ELEMENT_APP_SINK, "a");
    set_prop(w, e, "videoCaps", "102 H264/90000;packetization-mode=1");
    assert_int_equal(fl_element_set_media_cb(e, on_media, &a), 0);
    for (int i = 0; i < 1000; i++) {
        sw_join(&w->s, w->src, e, FL_MEDIA_VIDEO);
        push(w, FL_MEDIA_VIDEO, 96, 0, 1, &a.frames);
        push(w, FL_MEDIA_VIDEO, 96, 0, 1, &a.frames); /* the first made the transcoder */
        assert_int_equal(sw_dot_transcoders(&w->s), 1);
        assert_int_equal(sw_wait(&w->s, fl_element_disconnect(w->src, e, FL_MEDIA_VIDEO, NULL, NULL,
                                                              sw_on_done, &w->s)),
                         0);
        assert_int_equal(sw_dot_transcoders(&w->s), 0);
    }
    print_message("1000 transcoders: %d frames out\n", a.frames);
    assert_true(a.frames > 500);
    out_deinit(&a);
    world_free(w);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vp8_to_h264_shared),
        cmocka_unit_test(test_h264_to_vp8_scaled),
        cmocka_unit_test(test_opus_to_pcmu),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
