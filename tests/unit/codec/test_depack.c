/* codec: the depacketizers. Real encoded frames (libvpx VP8 from
 * fl_clip_vp8, libvpx VP9 encoded here, H.264 from libx264 and libopenh264
 * in tests/unit/codec/fixtures/, Opus from fl_clip_opus) are packetized by
 * this file's own packetizers (VP8 and VP9 descriptors of every shape;
 * H.264 single NAL, STAP-A, FU-A), depacketized, and compared byte for
 * byte; then loss, wrap-around, malformed payloads and the H.264 SPS
 * reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

#include "base/err.h"
#include "codec/codec.h"
#include "tests/unit/codec/codec_fixtures.h"

#include <cmocka.h>

#define FIXTURES "tests/unit/codec/fixtures/"
#define MAX_PKT  8192 /* single NAL mode sends whole NAL units */

/* ---- packets and frames ---- */

typedef struct pkt {
    uint8_t data[MAX_PKT];
    size_t len;
    uint32_t ts;
    int marker;
} pkt;

typedef struct pkts {
    pkt *p;
    size_t n, cap;
} pkts;

static pkt *pkts_add(pkts *l, uint32_t ts)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->p = realloc(l->p, l->cap * sizeof(*l->p));
        assert_non_null(l->p);
    }
    pkt *p = &l->p[l->n++];
    memset(p, 0, sizeof(*p));
    p->ts = ts;
    return p;
}

static void pull_all(fl_depack *d, frames *out)
{
    fl_frame f;
    while (fl_depack_pull(d, &f) == 1) {
        frame *c = frames_add(out, f.data, f.len);
        c->ts = f.rtp_ts;
        c->key = f.key;
        c->width = f.width;
        c->height = f.height;
        assert_true(f.sps_len <= FL_DEPACK_MAX_PARAM_SET && f.pps_len <= FL_DEPACK_MAX_PARAM_SET);
        assert_int_equal(f.sps == NULL, f.sps_len == 0);
        assert_int_equal(f.pps == NULL, f.pps_len == 0);
        if (f.sps)
            memcpy(c->sps, f.sps, f.sps_len);
        if (f.pps)
            memcpy(c->pps, f.pps, f.pps_len);
        c->sps_len = f.sps_len;
        c->pps_len = f.pps_len;
    }
}

/* Pushes l->p[i] as sequence number seq0 + i (ts offset by ts0), skipping
 * those with drop[i]; collects the frames. Returns how many pushes failed. */
static int run(fl_depack *d,
               const pkts *l,
               uint16_t seq0,
               uint32_t ts0,
               const int *drop,
               frames *out)
{
    int failed = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (drop && drop[i])
            continue;
        const pkt *p = &l->p[i];
        fl_depack_packet dp = { .payload = p->data,
                                .len = p->len,
                                .seq = (uint16_t)(seq0 + i),
                                .ts = p->ts + ts0,
                                .marker = p->marker };
        failed += fl_depack_push(d, &dp) != 0;
        pull_all(d, out);
    }
    return failed;
}

static fl_depack *make(fl_codec_kind kind, const char *fmtp, size_t max_frame)
{
    fl_depack *d = NULL;
    fl_depack_config c = { .codec = kind, .fmtp = fmtp, .max_frame = max_frame };
    assert_int_equal(fl_depack_create(&d, &c), 0);
    return d;
}

static void assert_same_frames(const frames *got, const frames *want, uint32_t ts0)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        assert_int_equal(got->f[i].len, want->f[i].len);
        assert_memory_equal(got->f[i].data, want->f[i].data, want->f[i].len);
        assert_int_equal(got->f[i].ts, (uint32_t)(want->f[i].ts + ts0));
        assert_int_equal(got->f[i].key, want->f[i].key);
    }
}

/* ---- VP8 ---- */

static frames vp8_src; /* libvpx frames of fl_clip_vp8, 320x240, one key frame first */

static int setup_vp8(void **state)
{
    (void)state;
    fl_clip *c = NULL;
    if (fl_clip_vp8(&c, 320, 240, 30, 600, 1, 1200) != 0)
        return -1;
    frame *f = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        if (!f) {
            f = frames_add(&vp8_src, p->payload + FL_VP8_DESC_LEN, p->len - FL_VP8_DESC_LEN);
            f->ts = p->ts;
            f->key = p->keyframe;
        } else {
            frame_append(f, p->payload + FL_VP8_DESC_LEN, p->len - FL_VP8_DESC_LEN);
        }
        if (p->marker)
            f = NULL;
    }
    fl_clip_destroy(c);
    return vp8_src.n == 30 ? 0 : -1;
}

static int teardown_vp8(void **state)
{
    (void)state;
    frames_free(&vp8_src);
    return 0;
}

/* Descriptor shapes (RFC 7741 4.2). */
enum {
    VP8_MIN,
    VP8_PID7,
    VP8_FULL
};

static size_t vp8_desc(uint8_t *o, int shape, int start, unsigned pid)
{
    o[0] = start ? 0x10 : 0;
    if (shape == VP8_MIN)
        return 1;
    o[0] |= 0x80;
    if (shape == VP8_PID7) {
        o[1] = 0x80;
        o[2] = (uint8_t)(pid & 0x7f);
        return 3;
    }
    o[1] = 0xf0; /* I, L, T, K */
    o[2] = (uint8_t)(0x80 | (pid >> 8 & 0x7f));
    o[3] = (uint8_t)pid;
    o[4] = (uint8_t)pid;     /* TL0PICIDX */
    o[5] = 0x40 | (pid & 7); /* TID 1, Y, KEYIDX */
    return 6;
}

static void vp8_packetize(pkts *l, const frames *src, int shape, size_t mtu, int markers)
{
    for (size_t i = 0; i < src->n; i++) {
        const frame *f = &src->f[i];
        for (size_t at = 0; at < f->len;) {
            pkt *p = pkts_add(l, f->ts);
            size_t h = vp8_desc(p->data, shape, at == 0, (unsigned)i);
            size_t n = f->len - at < mtu - h ? f->len - at : mtu - h;
            memcpy(p->data + h, f->data + at, n);
            p->len = h + n;
            at += n;
            p->marker = markers && at == f->len;
        }
    }
}

static void test_vp8_round_trip(void **state)
{
    (void)state;

    static const struct {
        int shape;
        size_t mtu;
        int markers;
    } cases[] = {
        { VP8_MIN, 1200, 1 }, { VP8_PID7, 300, 1 }, { VP8_FULL, 100, 1 }, { VP8_FULL, 500, 0 }
    };

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        pkts l = { 0 };
        vp8_packetize(&l, &vp8_src, cases[k].shape, cases[k].mtu, cases[k].markers);
        assert_true(l.n > vp8_src.n);
        fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
        frames got = { 0 };
        assert_int_equal(run(d, &l, 1000, 0, NULL, &got), 0);
        if (!cases[k].markers) { /* the last frame ends at the end of the stream */
            assert_int_equal(got.n, vp8_src.n - 1);
            fl_depack_flush(d);
            pull_all(d, &got);
        }
        assert_same_frames(&got, &vp8_src, 0);
        assert_int_equal(got.f[0].width, 320);
        assert_int_equal(got.f[0].height, 240);
        assert_int_equal(got.f[1].width, 0);
        assert_false(fl_depack_wants_key(d));
        fl_depack_stats st;
        fl_depack_get_stats(d, &st);
        assert_int_equal(st.packets, l.n);
        assert_int_equal(st.frames, vp8_src.n);
        assert_int_equal(st.key_frames, 1);
        assert_int_equal(st.dropped + st.skipped + st.malformed + st.gaps, 0);
        frames_free(&got);
        fl_depack_destroy(d);
        free(l.p);
    }
}

/* A packet lost in the middle of frame 5: frames 5.. are dropped (they
 * depend on it) until the clip's key frame comes again (a second loop). */
static void test_vp8_loss_waits_for_key(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp8_packetize(&l, &vp8_src, VP8_PID7, 200, 1);
    size_t first = l.n;
    vp8_packetize(&l, &vp8_src, VP8_PID7, 200, 1);
    for (size_t i = first; i < l.n; i++)
        l.p[i].ts += 90000;
    int *drop = calloc(l.n, sizeof(int));
    /* the second packet of frame 5 */
    size_t at = 0;
    for (size_t f = 0; f < 5; at++)
        f += l.p[at].marker;
    assert_false(l.p[at].marker);
    drop[at + 1] = 1;

    fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
    frames got = { 0 };
    int wanted_during = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (drop[i])
            continue;
        fl_depack_packet p = { l.p[i].data, l.p[i].len,    (uint16_t)(65000 + i),
                               l.p[i].ts,   l.p[i].marker, 0 };
        assert_int_equal(fl_depack_push(d, &p), 0);
        pull_all(d, &got);
        if (i > at + 1 && i < first)
            wanted_during += fl_depack_wants_key(d);
    }
    assert_int_equal(wanted_during, (int)(first - at - 2));
    assert_false(fl_depack_wants_key(d));
    assert_int_equal(got.n, 5 + vp8_src.n);
    for (size_t i = 0; i < 5; i++)
        assert_memory_equal(got.f[i].data, vp8_src.f[i].data, vp8_src.f[i].len);
    assert_true(got.f[5].key);
    assert_int_equal(got.f[5].ts, 90000);
    assert_int_equal(got.f[5].len, vp8_src.f[0].len);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.skipped, vp8_src.n - 6);
    frames_free(&got);
    fl_depack_destroy(d);
    free(drop);
    free(l.p);
}

/* Sequence numbers and timestamps wrap in the middle of the stream; loss
 * flagged by lost_before (the jitter buffer gave up) with no seq gap. */
static void test_vp8_wrap_and_lost_before(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp8_packetize(&l, &vp8_src, VP8_MIN, 400, 1);
    fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
    frames got = { 0 };
    uint32_t ts0 = 0xffffffffu - 20 * 3000;
    assert_int_equal(run(d, &l, (uint16_t)(65536 - l.n / 2), ts0, NULL, &got), 0);
    assert_same_frames(&got, &vp8_src, ts0);
    frames_free(&got);

    /* the same packets again, one flagged as coming after lost ones */
    fl_depack_packet p = { l.p[0].data, l.p[0].len, 7, 0, l.p[0].marker, 0 };
    fl_depack_destroy(d);
    d = make(FL_CODEC_VP8, NULL, 0);
    for (size_t i = 0; i < l.n; i++) {
        p = (fl_depack_packet){ l.p[i].data, l.p[i].len,    (uint16_t)(7 + i),
                                l.p[i].ts,   l.p[i].marker, i == 3 };
        fl_depack_push(d, &p);
        pull_all(d, &got);
    }
    size_t frame_of_3 = 0;
    for (size_t i = 0; i < 3; i++)
        frame_of_3 += l.p[i].marker;
    assert_int_equal(got.n, frame_of_3); /* everything after is waiting for a key frame */
    assert_true(fl_depack_wants_key(d));
    frames_free(&got);
    fl_depack_destroy(d);
    free(l.p);
}

/* A stream that starts on a delta frame: nothing until a key frame. */
static void test_vp8_starts_on_delta(void **state)
{
    (void)state;
    frames src = vp8_src;
    src.f++;
    src.n--;
    pkts l = { 0 };
    vp8_packetize(&l, &src, VP8_MIN, 1200, 1);
    fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
    frames got = { 0 };
    run(d, &l, 0, 0, NULL, &got);
    assert_int_equal(got.n, 0);
    assert_true(fl_depack_wants_key(d));
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.skipped, src.n);
    assert_int_equal(st.dropped, 0);
    fl_depack_destroy(d);
    free(l.p);
}

static void test_vp8_max_frame(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp8_packetize(&l, &vp8_src, VP8_MIN, 1200, 1);
    fl_depack *d = make(FL_CODEC_VP8, NULL, vp8_src.f[0].len - 1);
    frames got = { 0 };
    run(d, &l, 0, 0, NULL, &got);
    assert_int_equal(got.n, 0);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.too_big, 1);
    assert_int_equal(st.dropped, 1);
    fl_depack_destroy(d);
    /* exactly the size fits */
    d = make(FL_CODEC_VP8, NULL, vp8_src.f[0].len);
    run(d, &l, 0, 0, NULL, &got);
    assert_true(got.n >= 1);
    assert_int_equal(got.f[0].len, vp8_src.f[0].len);
    frames_free(&got);
    fl_depack_destroy(d);
    free(l.p);
}

/* Frames not pulled are dropped at the next push, and counted. */
static void test_unpulled_and_padding(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp8_packetize(&l, &vp8_src, VP8_MIN, 1200, 1);
    fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
    for (size_t i = 0; i < l.n; i++) {
        fl_depack_packet p = { l.p[i].data, l.p[i].len, (uint16_t)i, l.p[i].ts, l.p[i].marker, 0 };
        assert_int_equal(fl_depack_push(d, &p), 0);
    }
    /* a padding-only packet keeps the sequence; the last frame is still there before it */
    fl_frame f;
    fl_depack_packet pad = { NULL, 0, (uint16_t)l.n, l.p[l.n - 1].ts, 0, 0 };
    assert_int_equal(fl_depack_push(d, &pad), 0);
    assert_int_equal(fl_depack_pull(d, &f), 0);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.unpulled, vp8_src.n);
    assert_int_equal(st.gaps, 0);
    fl_depack_destroy(d);
    free(l.p);
}

/* ---- VP9 ---- */

static frames vp9_src; /* libvpx VP9, 320x240, key frames 0 and 10 */

static int setup_vp9(void **state)
{
    (void)state;
    return vpx_encode(vpx_codec_vp9_cx(), 400, 0, &vp9_src);
}

static int teardown_vp9(void **state)
{
    (void)state;
    frames_free(&vp9_src);
    return 0;
}

/* The descriptor (RFC 9628 4.2) of one packet of layer frame `f`. */
static size_t vp9_desc(uint8_t *o,
                       int flexible,
                       int key,
                       int b,
                       int e,
                       unsigned pid,
                       int sid,
                       int ss)
{
    size_t n = 1;
    o[0] = (uint8_t)(0x80 | (key ? 0 : 0x40) | 0x20 | (flexible ? 0x10 : 0) | (b ? 0x08 : 0) |
                     (e ? 0x04 : 0) | (ss ? 0x02 : 0));
    o[n++] = (uint8_t)(0x80 | (pid >> 8 & 0x7f));
    o[n++] = (uint8_t)pid;
    o[n++] = (uint8_t)(sid << 1); /* TID 0, U 0, SID, D 0 */
    if (!flexible)
        o[n++] = (uint8_t)pid; /* TL0PICIDX */
    if (flexible && !key) {
        o[n++] = (1 << 1) | 1; /* P_DIFF 1, N: one more */
        o[n++] = 2 << 1;       /* P_DIFF 2 */
    }
    if (ss) {
        o[n++] = 0x18; /* N_S 0 (one layer), Y, G */
        o[n++] = 320 >> 8;
        o[n++] = 320 & 0xff;
        o[n++] = 0;
        o[n++] = 240;
        o[n++] = 1;    /* N_G */
        o[n++] = 0x04; /* TID 0, U 0, R 1 */
        o[n++] = 1;
    }
    return n;
}

/* Layer frame f as packets; `last` marks the end of the picture. */
static void vp9_packetize_layer(pkts *l,
                                const frame *f,
                                uint32_t ts,
                                int flexible,
                                int key,
                                unsigned pid,
                                int sid,
                                int ss,
                                size_t mtu,
                                int last)
{
    for (size_t at = 0; at < f->len;) {
        pkt *p = pkts_add(l, ts);
        uint8_t hdr[32];
        size_t h = vp9_desc(hdr, flexible, key, at == 0, 0, pid, sid, ss && at == 0);
        size_t n = f->len - at < mtu - h ? f->len - at : mtu - h;
        int e = at + n == f->len;
        vp9_desc(p->data, flexible, key, at == 0, e, pid, sid, ss && at == 0);
        memcpy(p->data + h, f->data + at, n);
        p->len = h + n;
        at += n;
        p->marker = e && last;
    }
}

static void test_vp9_round_trip(void **state)
{
    (void)state;
    for (int flexible = 0; flexible < 2; flexible++) {
        pkts l = { 0 };
        for (size_t i = 0; i < vp9_src.n; i++) {
            const frame *f = &vp9_src.f[i];
            vp9_packetize_layer(&l, f, f->ts, flexible, f->key, (unsigned)i, 0, f->key && !flexible,
                                300, 1);
        }
        fl_depack *d = make(FL_CODEC_VP9, NULL, 0);
        frames got = { 0 };
        assert_int_equal(run(d, &l, 40000, 0, NULL, &got), 0);
        assert_same_frames(&got, &vp9_src, 0);
        /* from the SS (non-flexible) or the uncompressed header (flexible) */
        assert_int_equal(got.f[0].width, 320);
        assert_int_equal(got.f[0].height, 240);
        assert_int_equal(got.f[10].width, 320);
        assert_int_equal(got.f[1].width, 0);
        fl_depack_stats st;
        fl_depack_get_stats(d, &st);
        assert_int_equal(st.key_frames, 2);
        frames_free(&got);
        fl_depack_destroy(d);
        free(l.p);
    }
}

/* Two spatial layers in one picture come out as a superframe that libvpx
 * decodes. */
static void test_vp9_superframe(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp9_packetize_layer(&l, &vp9_src.f[0], 0, 0, 1, 0, 0, 0, 400, 0);
    vp9_packetize_layer(&l, &vp9_src.f[1], 0, 0, 1, 0, 1, 0, 400, 1);
    fl_depack *d = make(FL_CODEC_VP9, NULL, 0);
    frames got = { 0 };
    assert_int_equal(run(d, &l, 1, 0, NULL, &got), 0);
    assert_int_equal(got.n, 1);
    const frame *f = &got.f[0];
    size_t a = vp9_src.f[0].len, b = vp9_src.f[1].len;
    size_t mag = a > 0xffff || b > 0xffff ? 3 : a > 0xff || b > 0xff ? 2 : 1;
    assert_int_equal(f->len, a + b + 2 + 2 * mag);
    assert_memory_equal(f->data, vp9_src.f[0].data, a);
    assert_memory_equal(f->data + a, vp9_src.f[1].data, b);
    uint8_t marker = (uint8_t)(0xc0 | (mag - 1) << 3 | 1);
    assert_int_equal(f->data[a + b], marker);
    assert_int_equal(f->data[f->len - 1], marker);
    size_t size0 = 0;
    for (size_t k = 0; k < mag; k++)
        size0 |= (size_t)f->data[a + b + 1 + k] << (8 * k);
    assert_int_equal(size0, a);
    assert_true(f->key);

    vpx_codec_ctx_t dec;
    assert_int_equal(vpx_codec_dec_init(&dec, vpx_codec_vp9_dx(), NULL, 0), VPX_CODEC_OK);
    assert_int_equal(vpx_codec_decode(&dec, f->data, (unsigned)f->len, NULL, 0), VPX_CODEC_OK);
    vpx_codec_iter_t it = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&dec, &it);
    assert_non_null(img);
    assert_int_equal(img->d_w, 320);
    vpx_codec_destroy(&dec);
    frames_free(&got);
    fl_depack_destroy(d);
    free(l.p);
}

/* A picture that starts with a layer frame depending on the layer below
 * (D set; the lower layer's packets lost): dropped. */
static void test_vp9_lower_layer_lost(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp9_packetize_layer(&l, &vp9_src.f[0], 0, 0, 1, 0, 0, 0, 400, 1);
    size_t key_pkts = l.n;
    vp9_packetize_layer(&l, &vp9_src.f[0], 3000, 0, 1, 1, 1, 0, 400, 1);
    for (size_t i = key_pkts; i < l.n; i++)
        l.p[i].data[3] |= 1; /* D */
    fl_depack *d = make(FL_CODEC_VP9, NULL, 0);
    frames got = { 0 };
    run(d, &l, 1, 0, NULL, &got);
    assert_int_equal(got.n, 1);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.dropped, 1);
    frames_free(&got);
    fl_depack_destroy(d);
    free(l.p);
}

/* A layer frame whose E packet was lost, with no sequence gap seen
 * (the marker packet comes after a new B): the picture is dropped. */
static void test_vp9_layer_not_ended(void **state)
{
    (void)state;
    pkts l = { 0 };
    vp9_packetize_layer(&l, &vp9_src.f[0], 0, 0, 1, 0, 0, 1, 400, 1);
    assert_true(l.n >= 3);
    l.p[l.n - 1].data[0] &= (uint8_t)~0x04; /* no E */
    fl_depack *d = make(FL_CODEC_VP9, NULL, 0);
    frames got = { 0 };
    run(d, &l, 1, 0, NULL, &got);
    assert_int_equal(got.n, 0);
    assert_true(fl_depack_wants_key(d));
    fl_depack_destroy(d);
    free(l.p);
}

/* ---- H.264 ---- */

typedef struct nal {
    const uint8_t *p;
    size_t len;
} nal;

typedef struct au {
    nal nals[16];
    size_t n;
    int key;
} au;

typedef struct h264_stream {
    uint8_t *bytes;
    size_t len;
    au aus[32];
    size_t n;
    nal sps, pps;
} h264_stream;

static int vcl(uint8_t type)
{
    return type >= 1 && type <= 5;
}

/* Annex B into access units: a new one at a non-VCL NAL unit after a VCL
 * one, or at a slice with first_mb_in_slice 0 after a VCL one. */
static void h264_load(h264_stream *s, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    memset(s, 0, sizeof(*s));
    s->bytes = malloc(1 << 20);
    s->len = fread(s->bytes, 1, 1 << 20, f);
    fclose(f);
    assert_true(s->len > 100);
    size_t i = 0, start = 0;
    int prev_vcl = 0;
    au *cur = NULL;
    while (i + 3 <= s->len) {
        if (!(s->bytes[i] == 0 && s->bytes[i + 1] == 0 && s->bytes[i + 2] == 1)) {
            i++;
            continue;
        }
        start = i + 3;
        size_t end = start;
        while (end + 3 <= s->len &&
               !(s->bytes[end] == 0 && s->bytes[end + 1] == 0 &&
                 (s->bytes[end + 2] == 1 ||
                  (s->bytes[end + 2] == 0 && end + 3 < s->len && s->bytes[end + 3] == 1))))
            end++;
        if (end + 3 > s->len)
            end = s->len;
        nal n = { s->bytes + start, end - start };
        uint8_t type = n.p[0] & 0x1f;
        int first_slice = vcl(type) && (n.p[1] & 0x80);
        if (!cur || (prev_vcl && (!vcl(type) || first_slice))) {
            assert_true(s->n < 32);
            cur = &s->aus[s->n++];
        }
        assert_true(cur->n < 16);
        cur->nals[cur->n++] = n;
        cur->key |= type == 5;
        if (type == 7 && !s->sps.p)
            s->sps = n;
        if (type == 8 && !s->pps.p)
            s->pps = n;
        prev_vcl = vcl(type);
        i = end;
    }
    assert_non_null(s->sps.p);
    assert_non_null(s->pps.p);
}

/* The depacketizer's output for an access unit: AVC form. */
static void h264_expected(const h264_stream *s, frames *out, int skip_params)
{
    for (size_t i = 0; i < s->n; i++) {
        frame *f = frames_add(out, NULL, 0);
        f->ts = (uint32_t)i * 3000;
        f->key = s->aus[i].key;
        for (size_t k = 0; k < s->aus[i].n; k++) {
            const nal *n = &s->aus[i].nals[k];
            uint8_t t = n->p[0] & 0x1f;
            if (skip_params && (t == 7 || t == 8))
                continue;
            uint8_t len[4] = { (uint8_t)(n->len >> 24), (uint8_t)(n->len >> 16),
                               (uint8_t)(n->len >> 8), (uint8_t)n->len };
            frame_append(f, len, 4);
            frame_append(f, n->p, n->len);
        }
    }
}

enum {
    MODE_SINGLE,
    MODE_STAP_FU
};

static void h264_packetize(pkts *l, const h264_stream *s, int mode, size_t mtu, int skip_params)
{
    for (size_t i = 0; i < s->n; i++) {
        const au *a = &s->aus[i];
        uint32_t ts = (uint32_t)i * 3000;
        size_t first = l->n;
        for (size_t k = 0; k < a->n; k++) {
            const nal *n = &a->nals[k];
            uint8_t t = n->p[0] & 0x1f;
            if (skip_params && (t == 7 || t == 8))
                continue;
            if (mode == MODE_SINGLE || n->len <= mtu) {
                /* aggregate with the next ones while they fit */
                size_t total = 1 + 2 + n->len, j = k + 1;
                while (mode == MODE_STAP_FU && j < a->n && total + 2 + a->nals[j].len <= mtu)
                    total += 2 + a->nals[j++].len;
                pkt *p = pkts_add(l, ts);
                if (j == k + 1) {
                    assert_true(n->len <= MAX_PKT);
                    memcpy(p->data, n->p, n->len);
                    p->len = n->len;
                    continue;
                }
                p->data[0] = (uint8_t)((n->p[0] & 0x60) | 24);
                p->len = 1;
                for (; k < j; k++) {
                    const nal *m = &a->nals[k];
                    p->data[p->len++] = (uint8_t)(m->len >> 8);
                    p->data[p->len++] = (uint8_t)m->len;
                    memcpy(p->data + p->len, m->p, m->len);
                    p->len += m->len;
                }
                k--;
                continue;
            }
            for (size_t at = 1; at < n->len;) {
                pkt *p = pkts_add(l, ts);
                size_t m = n->len - at < mtu - 2 ? n->len - at : mtu - 2;
                p->data[0] = (uint8_t)((n->p[0] & 0xe0) | 28);
                p->data[1] = (uint8_t)((at == 1 ? 0x80 : 0) | (at + m == n->len ? 0x40 : 0) | t);
                memcpy(p->data + 2, n->p + at, m);
                p->len = 2 + m;
                at += m;
            }
        }
        assert_true(l->n > first);
        l->p[l->n - 1].marker = 1;
    }
}

static const struct {
    const char *file;
    uint16_t width, height;
    uint8_t profile;
} h264_fixtures[] = {
    { "openh264_176x100.h264", 176, 100, 66 },
    { "x264_high_200x120.h264", 200, 120, 100 },
    { "x264_444_162x90.h264", 162, 90, 244 },
    { "x264_interlaced_192x108.h264", 192, 108, 100 },
};

static void test_h264_round_trip(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(h264_fixtures) / sizeof(h264_fixtures[0]); k++) {
        h264_stream s;
        h264_load(&s, h264_fixtures[k].file);
        frames want = { 0 };
        h264_expected(&s, &want, 0);
        assert_true(want.f[0].key);
        for (int mode = MODE_SINGLE; mode <= MODE_STAP_FU; mode++) {
            pkts l = { 0 };
            h264_packetize(&l, &s, mode, mode == MODE_SINGLE ? MAX_PKT : 120, 0);
            fl_depack *d = make(FL_CODEC_H264, "packetization-mode=1", 0);
            frames got = { 0 };
            assert_int_equal(run(d, &l, 65530, 0, NULL, &got), 0);
            assert_same_frames(&got, &want, 0);
            for (size_t i = 0; i < got.n; i++) {
                assert_int_equal(got.f[i].sps_len, s.sps.len);
                assert_memory_equal(got.f[i].sps, s.sps.p, s.sps.len);
                assert_int_equal(got.f[i].pps_len, s.pps.len);
                assert_memory_equal(got.f[i].pps, s.pps.p, s.pps.len);
                assert_int_equal(got.f[i].width, got.f[i].key ? h264_fixtures[k].width : 0);
                assert_int_equal(got.f[i].height, got.f[i].key ? h264_fixtures[k].height : 0);
            }
            frames_free(&got);
            fl_depack_destroy(d);
            free(l.p);
        }
        fl_h264_sps sps;
        assert_int_equal(fl_h264_sps_parse(&sps, s.sps.p, s.sps.len), 0);
        assert_int_equal(sps.profile_idc, h264_fixtures[k].profile);
        assert_int_equal(sps.width, h264_fixtures[k].width);
        assert_int_equal(sps.height, h264_fixtures[k].height);
        frames_free(&want);
        free(s.bytes);
    }
}

static size_t b64(char *o, const uint8_t *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        o[k++] = a[v >> 18 & 63];
        o[k++] = a[v >> 12 & 63];
        o[k++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? a[v & 63] : '=';
    }
    o[k] = 0;
    return k;
}

/* A stream without in-band SPS/PPS: they come from sprop-parameter-sets. */
static void test_h264_sprop(void **state)
{
    (void)state;
    h264_stream s;
    h264_load(&s, "openh264_176x100.h264");
    char fmtp[2048], sps64[512], pps64[512];
    b64(sps64, s.sps.p, s.sps.len);
    b64(pps64, s.pps.p, s.pps.len);
    snprintf(
            fmtp, sizeof(fmtp),
            "level-asymmetry-allowed=1; packetization-mode=1;profile-level-id=42e01f;SPROP-parameter-sets=%s,%s",
            sps64, pps64);
    frames want = { 0 };
    h264_expected(&s, &want, 1);
    pkts l = { 0 };
    h264_packetize(&l, &s, MODE_STAP_FU, 300, 1);
    fl_depack *d = make(FL_CODEC_H264, fmtp, 0);
    frames got = { 0 };
    assert_int_equal(run(d, &l, 0, 0, NULL, &got), 0);
    assert_same_frames(&got, &want, 0);
    assert_int_equal(got.f[0].sps_len, s.sps.len);
    assert_memory_equal(got.f[0].sps, s.sps.p, s.sps.len);
    assert_memory_equal(got.f[0].pps, s.pps.p, s.pps.len);
    assert_int_equal(got.f[0].width, 176);
    frames_free(&got);
    fl_depack_destroy(d);

    /* a broken sprop is ignored: no parameter sets at all then */
    d = make(FL_CODEC_H264, "sprop-parameter-sets=!!,Zz", 0);
    run(d, &l, 0, 0, NULL, &got);
    assert_int_equal(got.n, want.n);
    assert_int_equal(got.f[0].sps_len, 0);
    assert_int_equal(got.f[0].pps_len, 0);
    frames_free(&got);
    fl_depack_destroy(d);
    frames_free(&want);
    free(l.p);
    free(s.bytes);
}

/* A lost FU-A fragment, and an FU-A that does not end: the access unit is
 * dropped, and the following ones until the next IDR. */
static void test_h264_loss(void **state)
{
    (void)state;
    h264_stream s;
    h264_load(&s, "openh264_176x100.h264"); /* IDR at 0 and 6 */
    assert_true(s.aus[6].key && !s.aus[2].key);
    pkts l = { 0 };
    h264_packetize(&l, &s, MODE_STAP_FU, 100, 0);
    size_t at = 0; /* the first packet of AU 2 */
    for (size_t m = 0; m < 2; at++)
        m += l.p[at].marker;
    assert_int_equal(l.p[at].data[0] & 0x1f, 28);
    int *drop = calloc(l.n, sizeof(int));
    drop[at + 1] = 1;
    fl_depack *d = make(FL_CODEC_H264, NULL, 0);
    frames got = { 0 };
    run(d, &l, 100, 0, drop, &got);
    assert_int_equal(got.n, 2 + s.n - 6);
    assert_int_equal(got.f[2].ts, 6 * 3000);
    assert_true(got.f[2].key);
    frames_free(&got);
    fl_depack_destroy(d);

    /* no loss seen, but the FU-A of AU 2 has no end: the marker comes on a middle fragment */
    size_t end = at;
    while (!(l.p[end].data[1] & 0x40))
        end++;
    pkts l2 = { 0 };
    for (size_t i = 0; i < l.n; i++)
        if (i != end)
            *pkts_add(&l2, 0) = l.p[i];
    l2.p[end - 1].marker = 1; /* the last middle fragment ends the AU */
    d = make(FL_CODEC_H264, NULL, 0);
    int failed = run(d, &l2, 100, 0, NULL, &got);
    assert_int_equal(failed, 0);
    assert_int_equal(got.n, 2 + s.n - 6);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.skipped, 3);
    frames_free(&got);
    fl_depack_destroy(d);
    free(l2.p);
    free(drop);
    free(l.p);
    free(s.bytes);
}

static void test_h264_malformed(void **state)
{
    (void)state;

    static const struct {
        uint8_t p[12];
        size_t len;
        int err;
    } bad[] = {
        { { 0x00, 0x11 }, 2, FL_EBADMSG },                         /* type 0 */
        { { 0x1e, 0x11 }, 2, FL_EBADMSG },                         /* type 30 */
        { { 0x18, 0x00, 0x05, 0x65, 0x88 }, 5, FL_EBADMSG },       /* STAP-A size past the end */
        { { 0x18, 0x00, 0x00, 0x00, 0x01, 0x65 }, 6, FL_EBADMSG }, /* STAP-A size 0 */
        { { 0x18, 0x00, 0x02, 0x65, 0x88, 0x00 }, 6, FL_EBADMSG }, /* STAP-A trailing byte */
        { { 0x7c, 0xc5, 0x88 }, 3, FL_EBADMSG },                   /* FU-A with S and E */
        { { 0x7c, 0x85 }, 2, FL_EBADMSG },                         /* FU-A with no byte */
        { { 0x19, 0x00, 0x01, 0x00, 0x02, 0x65, 0x88 }, 7, FL_ENOTSUP }, /* STAP-B */
        { { 0x1a, 0x00 }, 2, FL_ENOTSUP },                               /* MTAP16 */
        { { 0x1b, 0x00 }, 2, FL_ENOTSUP },                               /* MTAP24 */
        { { 0x1d, 0x85, 0x00, 0x01, 0x88 }, 5, FL_ENOTSUP },             /* FU-B */
    };

    fl_depack *d = make(FL_CODEC_H264, NULL, 0);
    uint16_t seq = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* a good IDR packet first, then the bad one in the same access unit */
        static const uint8_t idr[] = { 0x65, 0x88, 0x84, 0x21 };
        fl_depack_packet p = { idr, sizeof(idr), seq++, (uint32_t)i * 3000, 0, 0 };
        assert_int_equal(fl_depack_push(d, &p), 0);
        p = (fl_depack_packet){ bad[i].p, bad[i].len, seq++, (uint32_t)i * 3000, 1, 0 };
        assert_int_equal(fl_depack_push(d, &p), bad[i].err);
        fl_frame f;
        assert_int_equal(fl_depack_pull(d, &f), 0);
    }
    /* a picture whose first slice is not at macroblock 0: its start was lost */
    static const uint8_t idr_tail[] = { 0x65, 0x40, 0x84, 0x21 };
    fl_depack_packet p = { idr_tail, sizeof(idr_tail), seq++, 99000, 1, 0 };
    assert_int_equal(fl_depack_push(d, &p), 0);
    fl_frame f;
    assert_int_equal(fl_depack_pull(d, &f), 0);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.dropped, 12);
    assert_int_equal(st.malformed, 7);
    assert_int_equal(st.unsupported, 4);
    assert_int_equal(st.frames, 0);
    fl_depack_destroy(d);
}

/* SPSs made with a bit writer and checked with ffmpeg's trace_headers:
 * High, 4:2:0, scaling lists 0 (16 values), 2 (the default, by a delta
 * to 0) and 6 (40 values, then repeated), 1280x720; and Main with
 * pic_order_cnt_type 1 and emulation prevention bytes (two 00 00 03),
 * 640x360 with bottom cropping. */
static const uint8_t sps_scaling[] = { 0x67, 0x64, 0x00, 0x1f, 0xad, 0x95, 0x24, 0x92, 0x49, 0x24,
                                       0x92, 0x48, 0x44, 0x66, 0x31, 0x8c, 0x63, 0x18, 0xc6, 0x31,
                                       0x8c, 0x63, 0x18, 0xc0, 0x5f, 0x31, 0x8c, 0x63, 0x18, 0xc6,
                                       0x31, 0x8c, 0x63, 0x18, 0xc6, 0x02, 0xf9, 0x8c, 0x63, 0x18,
                                       0x19, 0xb6, 0x80, 0x50, 0x05, 0xbf, 0xd0 };
static const uint8_t sps_poc1[] = { 0x67, 0x4d, 0x40, 0x1e, 0x23, 0x40, 0x00, 0x00,
                                    0x40, 0x00, 0x02, 0x29, 0x80, 0x00, 0x02, 0x00,
                                    0x00, 0x03, 0x03, 0x90, 0x0a, 0x02, 0xff, 0x95 };

static void test_h264_sps(void **state)
{
    (void)state;
    fl_h264_sps s;
    assert_int_equal(fl_h264_sps_parse(&s, sps_scaling, sizeof(sps_scaling)), 0);
    assert_int_equal(s.profile_idc, 100);
    assert_int_equal(s.level_idc, 31);
    assert_int_equal(s.chroma_format_idc, 1);
    assert_int_equal(s.width, 1280);
    assert_int_equal(s.height, 720);
    assert_int_equal(fl_h264_sps_parse(&s, sps_poc1, sizeof(sps_poc1)), 0);
    assert_int_equal(s.profile_idc, 77);
    assert_int_equal(s.sps_id, 3);
    assert_int_equal(s.width, 640);
    assert_int_equal(s.height, 360);
    assert_int_equal(s.frame_mbs_only, 1);

    /* cut anywhere before the cropping fields: refused */
    for (size_t n = 0; n < sizeof(sps_poc1) - 2; n++)
        assert_int_equal(fl_h264_sps_parse(&s, sps_poc1, n), FL_EBADMSG);
    for (size_t n = 0; n < sizeof(sps_scaling) - 3; n++)
        assert_int_equal(fl_h264_sps_parse(&s, sps_scaling, n), FL_EBADMSG);
    uint8_t pps[sizeof(sps_poc1)];
    memcpy(pps, sps_poc1, sizeof(pps));
    pps[0] = 0x68;
    assert_int_equal(fl_h264_sps_parse(&s, pps, sizeof(pps)), FL_EBADMSG);
    /* one macroblock, cropped by 16 pixels on the right */
    static const uint8_t crop_all[] = { 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x7e, 0x27, 0x40 };
    assert_int_equal(fl_h264_sps_parse(&s, crop_all, sizeof(crop_all)), FL_EBADMSG);
}

/* ---- audio ---- */

static void test_opus_and_g711(void **state)
{
    (void)state;
    fl_clip *c = NULL;
    assert_int_equal(fl_clip_opus(&c, 32, 1), 0);
    fl_depack *d = make(FL_CODEC_OPUS, NULL, 0);
    frames got = { 0 };
    for (size_t i = 0; i < c->n; i++) {
        if (i == 10)
            continue; /* lost: the others do not care */
        fl_depack_packet p = { c->pkts[i].payload, c->pkts[i].len,    (uint16_t)(65530 + i),
                               c->pkts[i].ts,      c->pkts[i].marker, 0 };
        assert_int_equal(fl_depack_push(d, &p), 0);
        pull_all(d, &got);
        assert_false(fl_depack_wants_key(d));
    }
    assert_int_equal(got.n, c->n - 1);
    for (size_t i = 0, k = 0; i < c->n; i++) {
        if (i == 10)
            continue;
        assert_int_equal(got.f[k].len, c->pkts[i].len);
        assert_memory_equal(got.f[k].data, c->pkts[i].payload, c->pkts[i].len);
        assert_int_equal(got.f[k].ts, c->pkts[i].ts);
        assert_true(got.f[k].key);
        k++;
    }
    frames_free(&got);
    fl_depack_destroy(d);
    fl_clip_destroy(c);

    uint8_t pcm[160];
    for (int kind = FL_CODEC_PCMU; kind <= FL_CODEC_PCMA; kind++) {
        d = make((fl_codec_kind)kind, NULL, 0);
        for (int i = 0; i < 3; i++) {
            memset(pcm, 0x55 + i, sizeof(pcm));
            fl_depack_packet p = { pcm, sizeof(pcm), (uint16_t)i, (uint32_t)i * 160, i == 0, 0 };
            assert_int_equal(fl_depack_push(d, &p), 0);
            pull_all(d, &got);
        }
        assert_int_equal(got.n, 3);
        assert_int_equal(got.f[2].len, 160);
        assert_int_equal(got.f[2].data[0], 0x57);
        assert_int_equal(got.f[2].ts, 320);
        frames_free(&got);
        fl_depack_destroy(d);
    }
}

static void test_create_errors(void **state)
{
    (void)state;
    fl_depack *d = NULL;
    assert_int_equal(fl_depack_create(&d, NULL), FL_EINVAL);
    assert_int_equal(fl_depack_create(&d, &(fl_depack_config){ .codec = FL_CODEC_OTHER }),
                     FL_EINVAL);
    assert_int_equal(fl_depack_create(&d, &(fl_depack_config){ .codec = (fl_codec_kind)99 }),
                     FL_EINVAL);
    assert_null(d);
    fl_depack_destroy(NULL);
}

static void test_vp_malformed(void **state)
{
    (void)state;
    static const uint8_t vp8_bad[][4] = { { 0x90 }, { 0x90, 0x80 }, { 0x90, 0x80, 0x80 } };
    fl_depack *d = make(FL_CODEC_VP8, NULL, 0);
    for (size_t i = 0; i < 3; i++) {
        fl_depack_packet p = { vp8_bad[i], i + 1, (uint16_t)i, 0, 1, 0 };
        assert_int_equal(fl_depack_push(d, &p), FL_EBADMSG);
    }
    fl_depack_destroy(d);

    static const struct {
        uint8_t p[8];
        size_t len;
    } vp9_bad[] = {
        { { 0x8c }, 1 },                         /* I with no picture id */
        { { 0x8c, 0x80, 0x01 }, 3 },             /* 15-bit id, then nothing */
        { { 0x2c, 0x00 }, 2 },                   /* L non-flexible without TL0PICIDX */
        { { 0x5c, 0x03, 0x03, 0x03, 0x01 }, 5 }, /* F, P: a 4th P_DIFF */
        { { 0x0e, 0x10, 0x01 }, 3 },             /* SS with Y: sizes cut */
        { { 0x0e, 0x08, 0x02, 0x04 }, 4 },       /* SS with G: pictures cut */
    };

    d = make(FL_CODEC_VP9, NULL, 0);
    for (size_t i = 0; i < sizeof(vp9_bad) / sizeof(vp9_bad[0]); i++) {
        fl_depack_packet p = { vp9_bad[i].p, vp9_bad[i].len, (uint16_t)i, 0, 1, 0 };
        assert_int_equal(fl_depack_push(d, &p), FL_EBADMSG);
    }
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.malformed, 6);
    fl_depack_destroy(d);
}

int main(void)
{
    const struct CMUnitTest vp8[] = {
        cmocka_unit_test(test_vp8_round_trip),
        cmocka_unit_test(test_vp8_loss_waits_for_key),
        cmocka_unit_test(test_vp8_wrap_and_lost_before),
        cmocka_unit_test(test_vp8_starts_on_delta),
        cmocka_unit_test(test_vp8_max_frame),
        cmocka_unit_test(test_unpulled_and_padding),
    };
    const struct CMUnitTest vp9[] = {
        cmocka_unit_test(test_vp9_round_trip),
        cmocka_unit_test(test_vp9_superframe),
        cmocka_unit_test(test_vp9_layer_not_ended),
        cmocka_unit_test(test_vp9_lower_layer_lost),
    };
    const struct CMUnitTest other[] = {
        cmocka_unit_test(test_h264_round_trip), cmocka_unit_test(test_h264_sprop),
        cmocka_unit_test(test_h264_loss),       cmocka_unit_test(test_h264_malformed),
        cmocka_unit_test(test_h264_sps),        cmocka_unit_test(test_opus_and_g711),
        cmocka_unit_test(test_create_errors),   cmocka_unit_test(test_vp_malformed),
    };
    int failed = cmocka_run_group_tests_name("depack_vp8", vp8, setup_vp8, teardown_vp8);
    failed += cmocka_run_group_tests_name("depack_vp9", vp9, setup_vp9, teardown_vp9);
    failed += cmocka_run_group_tests_name("depack", other, NULL, NULL);
    return failed;
}
