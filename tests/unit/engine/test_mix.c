/* Mixing hubs (engine/mix.c) under the simulation, with their real mixer
 * thread: AppSources push pictures of one colour each (VP8) and a tone of
 * their own (Opus) into HubPorts, in real time; AppSinks on the ports
 * decode what comes out. A test fails when the grid does not show the
 * inputs' colours in their cells, when a port hears itself (mix-minus) or
 * misses another, or when a port that leaves stays in the grid. */
#include <math.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/compose.h"
#include "net/rtp.h"
#include "sim_world.h"

#define IN_W  160
#define IN_H  120
#define OUT_W 320
#define OUT_H 240
#define FPS   15
#define NIN   3

typedef struct colour {
    uint8_t y, u, v;
} colour;

static const colour RED = { 81, 90, 240 }, GREEN = { 145, 54, 34 }, BLUE = { 41, 240, 110 };
static const int TONE[NIN] = { 500, 1100, 1700 };

/* One input: its AppSource, encoders and packetizer. */
typedef struct input {
    fl_element *src, *port;
    fl_venc *venc;
    fl_aenc *aenc;
    fl_pack *pack;
    fl_picture pic;
    uint16_t vseq, aseq;
    uint32_t ssrc;
    int frame;
    long sample;
    int tone;
} input;

/* What one AppSink got, decoded. */
typedef struct out {
    fl_depack *vdepack, *adepack;
    fl_vdec *vdec;
    fl_adec *adec;
    fl_picture last; /* the last decoded picture (a copy) */
    uint32_t vssrc;  /* the video stream it got last */
    int pictures;
    int16_t pcm[48000]; /* the last second of audio */
    long samples;
} out;

typedef struct world {
    sim_world s;
    fl_element *hub;
    input in[NIN];
} world;

static void out_init(out *o)
{
    memset(o, 0, sizeof(*o));
    fl_depack_config v = { .codec = FL_CODEC_VP8 }, a = { .codec = FL_CODEC_OPUS };
    assert_int_equal(fl_depack_create(&o->vdepack, &v), 0);
    assert_int_equal(fl_depack_create(&o->adepack, &a), 0);
    assert_int_equal(fl_vdec_create(&o->vdec, FL_CODEC_VP8), 0);
    assert_int_equal(fl_adec_create(&o->adec, FL_CODEC_OPUS, 1), 0);
}

static void out_deinit(out *o)
{
    fl_depack_destroy(o->vdepack);
    fl_depack_destroy(o->adepack);
    fl_vdec_destroy(o->vdec);
    fl_adec_destroy(o->adec);
    fl_picture_free(&o->last);
}

static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    out *o = arg;
    fl_rtp_view v;
    if (fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0)
        return;
    fl_depack *d = media == FL_MEDIA_VIDEO ? o->vdepack : o->adepack;
    if (media == FL_MEDIA_VIDEO)
        o->vssrc = v.ssrc;
    fl_depack_packet p = { .payload = v.payload,
                           .len = v.payload_len,
                           .seq = v.seq,
                           .ts = v.timestamp,
                           .marker = v.marker };
    fl_depack_push(d, &p);
    fl_frame f;
    while (fl_depack_pull(d, &f) == 1) {
        if (media == FL_MEDIA_VIDEO) {
            fl_picture pic;
            if (fl_vdec_decode(o->vdec, f.data, f.len, &pic) != 1)
                continue;
            if (o->last.width != pic.width || o->last.height != pic.height) {
                fl_picture_free(&o->last);
                assert_int_equal(fl_picture_alloc(&o->last, pic.width, pic.height), 0);
            }
            assert_int_equal(fl_picture_scale(&pic, &o->last), 0);
            o->pictures++;
        } else {
            int16_t pcm[FL_AUDIO_MAX_FRAME];
            int n = fl_adec_decode(o->adec, f.data, f.len, pcm, FL_AUDIO_MAX_FRAME);
            for (int i = 0; i < n; i++)
                o->pcm[(o->samples++) % 48000] = pcm[i];
        }
    }
}

/* The tone's strength in the last second (Goertzel), over the signal's. */
static double tone_share(const out *o, int hz)
{
    double s1 = 0, s2 = 0, total = 0, k = 2 * cos(2 * M_PI * hz / 48000.0);
    for (int i = 0; i < 48000; i++) {
        double x = o->pcm[i], s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
        total += x * x;
    }
    double power = s1 * s1 + s2 * s2 - k * s1 * s2;
    return total > 0 ? power / (total * 48000.0 / 2) : 0;
}

static void set_prop(world *w, fl_element *e, const char *name, const char *value)
{
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(e, name, value, sw_on_done, &w->s)), 0);
}

static fl_element *make_port(world *w, const char *name)
{
    fl_element *p = sw_make(&w->s, FL_ELEMENT_HUB_PORT, name);
    set_prop(w, p, "hub", fl_element_name(w->hub));
    return p;
}

static fl_element *make_sink(world *w, fl_element *port, const char *name, out *o)
{
    fl_element *e = sw_make(&w->s, FL_ELEMENT_APP_SINK, name);
    set_prop(w, e, "videoCaps", "96 VP8/90000");
    set_prop(w, e, "audioCaps", "111 opus/48000/2");
    assert_int_equal(fl_element_set_media_cb(e, on_media, o), 0);
    sw_join(&w->s, port, e, FL_MEDIA_VIDEO);
    sw_join(&w->s, port, e, FL_MEDIA_AUDIO);
    return e;
}

static void input_init(world *w, int i, colour c, int tone)
{
    input *in = &w->in[i];
    char name[16];
    snprintf(name, sizeof(name), "src%d", i);
    in->src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, name);
    set_prop(w, in->src, "videoCaps", "96 VP8/90000");
    set_prop(w, in->src, "audioCaps", "111 opus/48000/2");
    snprintf(name, sizeof(name), "port%d", i);
    in->port = make_port(w, name);
    sw_join(&w->s, in->src, in->port, FL_MEDIA_VIDEO);
    sw_join(&w->s, in->src, in->port, FL_MEDIA_AUDIO);
    fl_venc_config vc = {
        .kind = FL_CODEC_VP8, .width = IN_W, .height = IN_H, .fps = FPS, .kbps = 300
    };
    fl_aenc_config ac = { .kind = FL_CODEC_OPUS, .channels = 1, .kbps = 32 };
    fl_pack_config pc = { .codec = FL_CODEC_VP8, .max_payload = 1200 };
    assert_int_equal(fl_venc_create(&in->venc, &vc), 0);
    assert_int_equal(fl_aenc_create(&in->aenc, &ac), 0);
    assert_int_equal(fl_pack_create(&in->pack, &pc), 0);
    assert_int_equal(fl_picture_alloc(&in->pic, IN_W, IN_H), 0);
    fl_rect all = { 0, 0, IN_W, IN_H };
    fl_picture_fill(&in->pic, &all, c.y, c.u, c.v);
    in->ssrc = 0x1000u + (uint32_t)i;
    in->tone = tone;
}

static void input_deinit(input *in)
{
    fl_venc_destroy(in->venc);
    fl_aenc_destroy(in->aenc);
    fl_pack_destroy(in->pack);
    fl_picture_free(&in->pic);
}

static void push_rtp(input *in,
                     unsigned media,
                     const uint8_t *payload,
                     size_t len,
                     uint32_t ts,
                     int marker)
{
    uint8_t pkt[1500];
    size_t n;
    fl_rtp_header h = { .marker = (uint8_t)marker,
                        .payload_type = media == FL_MEDIA_VIDEO ? 96 : 111,
                        .seq = media == FL_MEDIA_VIDEO ? in->vseq++ : in->aseq++,
                        .timestamp = ts,
                        .ssrc = in->ssrc + (media == FL_MEDIA_VIDEO ? 0x100u : 0) };
    assert_int_equal(fl_rtp_write(pkt, sizeof(pkt), &h, payload, len, 0, &n), 0);
    assert_int_equal(fl_element_push(in->src, media, pkt, n, NULL, NULL), 0);
}

static void push_video(input *in)
{
    fl_venc_frame f;
    uint32_t ts = (uint32_t)in->frame * 90000 / FPS;
    int got = fl_venc_encode(in->venc, &in->pic, ts, 0, &f);
    in->frame++;
    if (got != 1)
        return;
    assert_int_equal(fl_pack_frame(in->pack, &(fl_pack_input){ f.data, f.len, f.key }), 0);
    uint8_t payload[1200];
    size_t n;
    int marker;
    while ((n = fl_pack_next(in->pack, payload, sizeof(payload), &marker)) > 0)
        push_rtp(in, FL_MEDIA_VIDEO, payload, n, ts, marker);
}

static void push_audio(input *in)
{
    int16_t pcm[960];
    for (int i = 0; i < 960; i++, in->sample++)
        pcm[i] = (int16_t)(6000 * sin(2 * M_PI * in->tone * (double)in->sample / 48000.0));
    uint8_t payload[1275];
    int n = fl_aenc_encode(in->aenc, pcm, payload, sizeof(payload));
    assert_true(n > 0);
    push_rtp(in, FL_MEDIA_AUDIO, payload, (size_t)n, (uint32_t)(in->sample - 960), 0);
}

/* `ms` of real time: every 20 ms each live input's audio, every 1/FPS s
 * its picture; the simulation advanced and settled alongside. */
static void run_for(world *w, int ms, const int *live)
{
    for (int t = 0; t < ms; t += 20) {
        for (int i = 0; i < NIN; i++) {
            if (!live[i])
                continue;
            push_audio(&w->in[i]);
            if ((t / 20) % 3 == 0) /* 60 ms: about 15 pictures a second */
                push_video(&w->in[i]);
        }
        assert_int_equal(fl__sim_advance(w->s.sim, 20 * FL_TIME_MS), 0);
        usleep(20000);
        assert_int_equal(fl__sim_settle(w->s.sim), 0);
    }
}

/* The colour at the centre of rectangle r of p. */
static colour at(const fl_picture *p, const fl_rect *r)
{
    int x = r->x + r->w / 2, y = r->y + r->h / 2;
    colour c = { p->plane[0][y * p->stride[0] + x], p->plane[1][(y / 2) * p->stride[1] + x / 2],
                 p->plane[2][(y / 2) * p->stride[2] + x / 2] };
    return c;
}

static int near(colour a, colour b)
{
    return abs(a.y - b.y) < 24 && abs(a.u - b.u) < 24 && abs(a.v - b.v) < 24;
}

static void expect_cell(const out *o, int n, int i, colour c, const char *what)
{
    fl_rect cell;
    fl_grid_cell(n, i, OUT_W, OUT_H, &cell);
    colour got = at(&o->last, &cell);
    if (!near(got, c))
        fail_msg("%s: cell %d of %d shows Y%d U%d V%d, not Y%d U%d V%d", what, i, n, got.y, got.u,
                 got.v, c.y, c.u, c.v);
}

static world *world_new(void)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, 11);
    w->hub = sw_make(&w->s, FL_ELEMENT_COMPOSITE, "composite");
    set_prop(w, w->hub, "width", "320");
    set_prop(w, w->hub, "height", "240");
    set_prop(w, w->hub, "framerate", "15");
    return w;
}

static void world_free(world *w)
{
    sw_deinit(&w->s);
    for (int i = 0; i < NIN; i++)
        input_deinit(&w->in[i]);
    free(w);
}

static fl_stats_mixer stats_got;

static void on_stats(void *arg, int status, const fl_stats *entries, size_t n)
{
    if (status == 0 && n == 1 && entries[0].kind == FL_STATS_MIXER)
        stats_got = entries[0].mixer;
    sw_on_done(arg, status);
}

/* Three inputs and a viewer: a 2x2 grid of their colours and a black
 * cell; the viewer hears the three tones, input 0's port the other two
 * only; input 1 leaves and the grid becomes 2x1; the mixer's figures. */
static void test_composite(void **state)
{
    (void)state;
    world *w = world_new();
    static const colour *const colours[NIN] = { &RED, &GREEN, &BLUE };
    for (int i = 0; i < NIN; i++)
        input_init(w, i, *colours[i], TONE[i]);
    static out viewer, own;
    out_init(&viewer);
    out_init(&own);
    fl_element *vport = make_port(w, "viewer");
    make_sink(w, vport, "vsink", &viewer);
    make_sink(w, w->in[0].port, "own", &own);
    int live[NIN] = { 1, 1, 1 };
    run_for(w, 2500, live);
    print_message("viewer: %d pictures %dx%d, %ld samples; own: %d pictures\n", viewer.pictures,
                  viewer.last.width, viewer.last.height, viewer.samples, own.pictures);
    assert_true(viewer.pictures >= 15);
    assert_int_equal(viewer.last.width, OUT_W);
    assert_int_equal(viewer.last.height, OUT_H);
    expect_cell(&viewer, 4, 0, RED, "viewer");
    expect_cell(&viewer, 4, 1, GREEN, "viewer");
    expect_cell(&viewer, 4, 2, BLUE, "viewer");
    expect_cell(&viewer, 4, 3, (colour){ FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV }, "viewer");
    expect_cell(&own, 4, 0, RED, "input 0's port"); /* the picture is everyone's */

    double v[NIN], o[NIN];
    for (int i = 0; i < NIN; i++) {
        v[i] = tone_share(&viewer, TONE[i]);
        o[i] = tone_share(&own, TONE[i]);
    }
    print_message("tones heard by the viewer %.3f %.3f %.3f, by input 0 %.3f %.3f %.3f\n", v[0],
                  v[1], v[2], o[0], o[1], o[2]);
    for (int i = 0; i < NIN; i++)
        assert_true(v[i] > 0.1);
    assert_true(o[0] < 0.01); /* mix-minus: not itself */
    assert_true(o[1] > 0.1 && o[2] > 0.1);

    /* input 1 leaves: the grid closes up to 2x1 */
    assert_int_equal(sw_wait(&w->s, fl_element_release(w->in[1].port, sw_on_done, &w->s)), 0);
    live[1] = 0;
    run_for(w, 1500, live);
    expect_cell(&viewer, 2, 0, RED, "after a leave");
    expect_cell(&viewer, 2, 1, BLUE, "after a leave");

    /* a port joins in the slot input 1 left, linked to a source that sends
     * nothing yet: a black tile, never the last picture of the slot's
     * previous port */
    fl_element *quiet = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "quiet");
    set_prop(w, quiet, "videoCaps", "96 VP8/90000");
    fl_element *late = make_port(w, "late");
    sw_join(&w->s, quiet, late, FL_MEDIA_VIDEO);
    run_for(w, 1000, live);
    expect_cell(&viewer, 3, 0, RED, "after a join");
    expect_cell(&viewer, 3, 1, BLUE, "after a join");
    expect_cell(&viewer, 3, 2, (colour){ FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV }, "after a join");

    assert_int_equal(sw_wait(&w->s, fl_element_get_stats(vport, FL_MEDIA_ALL, on_stats, &w->s)), 0);
    fl_stats_mixer m = stats_got;
    print_message(
            "mixer: %lld ports, %lld in, %lld decoded, %lld composed, %lld encoded, %lld late, "
            "%lld us CPU\n",
            (long long)m.ports, (long long)m.frames_in, (long long)m.frames_decoded,
            (long long)m.pictures_composed, (long long)m.frames_encoded, (long long)m.late_ticks,
            (long long)m.cpu_us);
    assert_int_equal(m.ports, 4);
    assert_true(m.pictures_composed >= 45);
    assert_true(m.frames_decoded > 100);
    assert_true(m.cpu_us > 0);
    out_deinit(&viewer);
    out_deinit(&own);
    world_free(w);
}

/* H.264 viewers: the first gets the grid through a transcoder, then the
 * port goes out in H.264 itself and the transcoder ends; two ports' H.264
 * viewers then get one stream (one encode) and decode the grid, beside a
 * VP8 viewer. */
static void test_formats(void **state)
{
    (void)state;
    world *w = world_new();
    input_init(w, 0, RED, TONE[0]);
    static out a, b, v;
    out_init(&v);
    fl_depack_config hc = { .codec = FL_CODEC_H264 }, ac = { .codec = FL_CODEC_OPUS };
    out *hs[2] = { &a, &b };
    for (int i = 0; i < 2; i++) {
        memset(hs[i], 0, sizeof(out));
        assert_int_equal(fl_depack_create(&hs[i]->vdepack, &hc), 0);
        assert_int_equal(fl_depack_create(&hs[i]->adepack, &ac), 0);
        assert_int_equal(fl_vdec_create(&hs[i]->vdec, FL_CODEC_H264), 0);
        assert_int_equal(fl_adec_create(&hs[i]->adec, FL_CODEC_OPUS, 1), 0);
    }
    fl_element *pa = make_port(w, "pa"), *pb = make_port(w, "pb"), *pv = make_port(w, "pv");
    const char *h264 = "102 H264/90000;packetization-mode=1;profile-level-id=42e01f";
    fl_element *sinks[3];
    fl_element *ports[3] = { pa, pb, pv };
    out *outs[3] = { &a, &b, &v };
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "s%d", i);
        sinks[i] = sw_make(&w->s, FL_ELEMENT_APP_SINK, name);
        set_prop(w, sinks[i], "videoCaps", i < 2 ? h264 : "96 VP8/90000");
        assert_int_equal(fl_element_set_media_cb(sinks[i], on_media, outs[i]), 0);
        sw_join(&w->s, ports[i], sinks[i], FL_MEDIA_VIDEO);
    }
    int live[NIN] = { 1, 0, 0 };
    run_for(w, 2500, live);
    int xc = sw_dot_transcoders(&w->s);
    print_message("H.264 viewers: %d and %d pictures %dx%d, VP8 viewer %d; transcoders %d\n",
                  a.pictures, b.pictures, a.last.width, a.last.height, v.pictures, xc);
    assert_int_equal(xc, 0);
    assert_true(a.pictures >= 15 && b.pictures >= 15 && v.pictures >= 15);
    assert_int_equal(a.last.width, OUT_W);
    assert_int_equal(a.vssrc, b.vssrc); /* one H.264 stream for both */
    assert_int_not_equal(a.vssrc, v.vssrc);
    expect_cell(&a, 1, 0, RED, "H.264 viewer");
    expect_cell(&b, 1, 0, RED, "H.264 viewer");
    expect_cell(&v, 1, 0, RED, "VP8 viewer");
    for (int i = 0; i < 3; i++)
        out_deinit(outs[i]);
    world_free(w);
}

/* The constructor's size is refused once mixing started, and out of range. */
static void test_properties(void **state)
{
    (void)state;
    world *w = world_new();
    assert_int_equal(
            sw_wait(&w->s, fl_element_set_property(w->hub, "width", "7", sw_on_done, &w->s)),
            FL_EINVAL);
    make_port(w, "p");
    assert_int_equal(
            sw_wait(&w->s, fl_element_set_property(w->hub, "width", "640", sw_on_done, &w->s)),
            FL_ESTATE);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_composite),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
