/* codec: the raw-media codecs (codec/coder.h). Video: the synthetic
 * picture encoded with each encoder and decoded back (PSNR, key frames,
 * rate control), H.264 through the packetizer and depacketizer, scaling.
 * Audio: Opus and G.711 round trips of tones, the G.711 code points and
 * error bounds, the resampler's pass and stop bands, and garbage fed to
 * every decoder. Prints encode and decode ms per frame. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "base/err.h"
#include "codec/codec.h"
#include "codec/codec_int.h"
#include "codec/coder.h"

#include <cmocka.h>

#define W       640
#define H       480
#define FPS     30
#define FRAMES  30
#define PI      3.14159265358979323846
#define AVC_CAP (1u << 20)

static const char *kind_name(fl_codec_kind k)
{
    return k == FL_CODEC_VP8 ? "VP8" : k == FL_CODEC_VP9 ? "VP9" : "H264";
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Picture `index` of the synthetic source, drawn into p (allocated here). */
static void source_picture(fl_picture *p, unsigned index)
{
    if (!p->plane[0])
        assert_int_equal(fl_picture_alloc(p, W, H), 0);
    fl__yuv y = { p->width,
                  p->height,
                  { p->plane[0], p->plane[1], p->plane[2] },
                  { p->stride[0], p->stride[1], p->stride[2] } };
    fl__synth_picture(&y, index);
}

static double psnr_y(const fl_picture *a, const fl_picture *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    double se = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++) {
            int d = a->plane[0][y * a->stride[0] + x] - b->plane[0][y * b->stride[0] + x];
            se += d * d;
        }
    double mse = se / (a->width * a->height);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static fl_venc *make_enc(fl_codec_kind kind, int kbps)
{
    fl_venc *e = NULL;
    fl_venc_config c = { kind, W, H, FPS, kbps };
    assert_int_equal(fl_venc_create(&e, &c), 0);
    return e;
}

/* Annex B to AVC form (4-byte lengths), into buf (cap bytes). */
static size_t annexb_to_avc(const uint8_t *in, size_t len, uint8_t *buf, size_t cap)
{
    size_t out = 0, i = 0, start = SIZE_MAX;
    while (i + 3 <= len) {
        if (in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 1) {
            if (start != SIZE_MAX) {
                size_t end = i;
                while (end > start && in[end - 1] == 0)
                    end--;
                size_t n = end - start;
                assert_true(out + 4 + n <= cap);
                buf[out] = (uint8_t)(n >> 24);
                buf[out + 1] = (uint8_t)(n >> 16);
                buf[out + 2] = (uint8_t)(n >> 8);
                buf[out + 3] = (uint8_t)n;
                memcpy(buf + out + 4, in + start, n);
                out += 4 + n;
            }
            i += 3;
            start = i;
        } else {
            i++;
        }
    }
    assert_true(start != SIZE_MAX);
    size_t n = len - start;
    assert_true(out + 4 + n <= cap);
    buf[out] = (uint8_t)(n >> 24);
    buf[out + 1] = (uint8_t)(n >> 16);
    buf[out + 2] = (uint8_t)(n >> 8);
    buf[out + 3] = (uint8_t)n;
    memcpy(buf + out + 4, in + start, n);
    return out + 4 + n;
}

/* Encodes FRAMES pictures (a key forced at 15), decodes each output and
 * compares it with its source. */
static void round_trip(fl_codec_kind kind)
{
    fl_venc *e = make_enc(kind, 1000);
    fl_vdec *d = NULL;
    assert_int_equal(fl_vdec_create(&d, kind), 0);
    fl_picture src = { 0 };
    uint8_t *avc = malloc(AVC_CAP);
    assert_non_null(avc);
    double psnr_sum = 0, psnr_min = 99, enc_ms = 0, dec_ms = 0;
    int coded = 0, decoded = 0;
    for (unsigned i = 0; i < FRAMES; i++) {
        source_picture(&src, i);
        fl_venc_frame f;
        double t0 = now_ms();
        int r = fl_venc_encode(e, &src, i * 90000u / FPS, i == 15, &f);
        enc_ms += now_ms() - t0;
        assert_true(r == 0 || r == 1);
        if (i == 0 || i == 15)
            assert_int_equal(r, 1);
        if (r == 0)
            continue;
        coded++;
        assert_true(f.len > 0);
        if (i == 0 || i == 15)
            assert_true(f.key);
        else
            assert_false(f.key);
        const uint8_t *data = f.data;
        size_t len = f.len;
        if (kind == FL_CODEC_H264) { /* the decoder takes AVC form */
            len = annexb_to_avc(f.data, f.len, avc, AVC_CAP);
            data = avc;
        }
        fl_picture out;
        t0 = now_ms();
        r = fl_vdec_decode(d, data, len, &out);
        dec_ms += now_ms() - t0;
        assert_int_equal(r, 1);
        decoded++;
        double p = psnr_y(&src, &out);
        psnr_sum += p;
        psnr_min = p < psnr_min ? p : psnr_min;
    }
    print_message("%s 640x480 1000 kbps: %d/%d frames coded, Y PSNR mean %.1f min %.1f dB, "
                  "encode %.2f ms, decode %.2f ms per frame\n",
                  kind_name(kind), coded, FRAMES, psnr_sum / decoded, psnr_min, enc_ms / FRAMES,
                  dec_ms / decoded);
    assert_true(coded >= FRAMES - 2);
    assert_true(psnr_sum / decoded > 30.0);
    assert_true(psnr_min > 27.0);
    free(avc);
    fl_picture_free(&src);
    fl_vdec_destroy(d);
    fl_venc_destroy(e);
}

static void test_vp8(void **state)
{
    (void)state;
    round_trip(FL_CODEC_VP8);
}

static void test_vp9(void **state)
{
    (void)state;
    round_trip(FL_CODEC_VP9);
}

static void test_h264(void **state)
{
    (void)state;
    round_trip(FL_CODEC_H264);
}

/* Bytes over 30 frames at 1500 kbps, then over 30 at 200 after
 * fl_venc_set_bitrate: the second must be well under the first. */
static void bitrate_change(fl_codec_kind kind)
{
    fl_venc *e = make_enc(kind, 1500);
    fl_picture src = { 0 };
    size_t bytes[2] = { 0, 0 };
    unsigned i = 0;
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1)
            assert_int_equal(fl_venc_set_bitrate(e, 200), 0);
        for (int k = 0; k < 30; k++, i++) {
            source_picture(&src, i);
            fl_venc_frame f;
            int r = fl_venc_encode(e, &src, i * 90000u / FPS, 0, &f);
            assert_true(r == 0 || r == 1);
            if (r == 1) {
                assert_false(f.key && i > 0);
                bytes[phase] += f.len;
            }
        }
    }
    /* 1500 kbps over 1 s is 187 kB; 200 kbps 25 kB (plus the settling) */
    print_message("%s bytes per second at 1500 kbps %zu, at 200 kbps %zu\n", kind_name(kind),
                  bytes[0], bytes[1]);
    assert_true(bytes[0] > 100000);
    assert_true(bytes[1] * 3 < bytes[0]);
    fl_picture_free(&src);
    fl_venc_destroy(e);
}

static void test_bitrate(void **state)
{
    (void)state;
    bitrate_change(FL_CODEC_VP8);
    bitrate_change(FL_CODEC_VP9);
    bitrate_change(FL_CODEC_H264);
}

/* NAL unit types of an Annex B access unit, in order (at most max). */
static int nal_types(const uint8_t *p, size_t len, int *types, int max)
{
    int n = 0;
    for (size_t i = 0; i + 3 < len && n < max; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
            types[n++] = p[i + 3] & 0x1f;
            i += 2;
        }
    return n;
}

static void test_h264_annexb(void **state)
{
    (void)state;
    fl_venc *e = make_enc(FL_CODEC_H264, 1000);
    fl_picture src = { 0 };
    for (unsigned i = 0; i < 12; i++) {
        source_picture(&src, i);
        fl_venc_frame f;
        assert_int_equal(fl_venc_encode(e, &src, i * 3000u, i == 10, &f), 1);
        static const uint8_t start[4] = { 0, 0, 0, 1 };
        assert_true(f.len > 4);
        assert_memory_equal(f.data, start, 4);
        int t[16], n = nal_types(f.data, f.len, t, 16);
        int sps = 0, pps = 0, idr = 0, slice = 0;
        for (int k = 0; k < n; k++) {
            sps += t[k] == 7;
            pps += t[k] == 8;
            idr += t[k] == 5;
            slice += t[k] == 1;
        }
        if (i == 0 || i == 10) {
            assert_true(f.key);
            assert_int_equal(t[0], 7);
            assert_int_equal(sps, 1);
            assert_int_equal(pps, 1);
            assert_true(idr >= 1);
            assert_int_equal(slice, 0);
        } else {
            assert_false(f.key);
            assert_int_equal(sps + pps + idr, 0);
            assert_true(slice >= 1);
        }
    }
    fl_picture_free(&src);
    fl_venc_destroy(e);
}

/* H.264 from the encoder through fl_pack (mode 1, 1200-byte payloads) and
 * fl_depack (AVC form out) into the decoder: the decoder's input path. */
static void test_h264_through_rtp(void **state)
{
    (void)state;
    fl_venc *e = make_enc(FL_CODEC_H264, 1500);
    fl_pack *pk = NULL;
    fl_depack *dp = NULL;
    fl_vdec *d = NULL;
    assert_int_equal(
            fl_pack_create(&pk, &(fl_pack_config){ .codec = FL_CODEC_H264, .max_payload = 1200 }),
            0);
    assert_int_equal(fl_depack_create(&dp, &(fl_depack_config){ .codec = FL_CODEC_H264 }), 0);
    assert_int_equal(fl_vdec_create(&d, FL_CODEC_H264), 0);
    fl_picture src = { 0 };
    uint8_t payload[1200];
    uint16_t seq = 100;
    int decoded = 0, fragmented = 0;
    double psnr_min = 99;
    for (unsigned i = 0; i < 20; i++) {
        source_picture(&src, i);
        fl_venc_frame f;
        uint32_t ts = i * 3000u;
        int r = fl_venc_encode(e, &src, ts, 0, &f);
        assert_true(r == 0 || r == 1);
        if (r == 0)
            continue;
        assert_int_equal(fl_pack_frame(pk, &(fl_pack_input){ f.data, f.len, f.key }), 0);
        size_t n;
        int marker, packets = 0;
        while ((n = fl_pack_next(pk, payload, sizeof(payload), &marker)) > 0) {
            fl_depack_packet p = {
                .payload = payload, .len = n, .seq = seq++, .ts = ts, .marker = marker
            };
            assert_int_equal(fl_depack_push(dp, &p), 0);
            packets++;
        }
        fragmented += packets > 1;
        fl_frame fr;
        assert_int_equal(fl_depack_pull(dp, &fr), 1);
        assert_int_equal(fr.key, f.key);
        fl_picture out;
        assert_int_equal(fl_vdec_decode(d, fr.data, fr.len, &out), 1);
        double q = psnr_y(&src, &out);
        psnr_min = q < psnr_min ? q : psnr_min;
        decoded++;
    }
    print_message("H264 via RTP: %d frames decoded, %d fragmented, min Y PSNR %.1f dB\n", decoded,
                  fragmented, psnr_min);
    assert_true(decoded >= 18);
    assert_true(fragmented > 0);
    assert_true(psnr_min > 27.0);
    fl_picture_free(&src);
    fl_vdec_destroy(d);
    fl_depack_destroy(dp);
    fl_pack_destroy(pk);
    fl_venc_destroy(e);
}

/* fl_clip_h264: packets depacketize into frames that all decode. */
static void test_clip_h264(void **state)
{
    (void)state;
    fl_clip *c = NULL;
    assert_int_equal(fl_clip_h264(&c, 320, 240, 30, 500, 1, 1000), 0);
    assert_int_equal(c->clock_rate, 90000);
    assert_int_equal(c->duration_ts, 90000);
    assert_int_equal(c->duration_us, 1000000);
    assert_true(c->frames >= 28 && c->frames <= 30);
    assert_true(c->pkts[0].keyframe);
    assert_int_equal(c->pkts[0].ts, 0);
    assert_true(fl_codec_key_frame_start(FL_CODEC_H264, c->pkts[0].payload, c->pkts[0].len));
    fl_depack *dp = NULL;
    fl_vdec *d = NULL;
    assert_int_equal(fl_depack_create(&dp, &(fl_depack_config){ .codec = FL_CODEC_H264 }), 0);
    assert_int_equal(fl_vdec_create(&d, FL_CODEC_H264), 0);
    size_t markers = 0, keys = 0, decoded = 0;
    uint32_t last_send = 0;
    for (size_t i = 0; i < c->n; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        assert_true(p->len <= 1000);
        assert_true(p->send_us >= last_send);
        last_send = p->send_us;
        markers += p->marker;
        keys += p->keyframe && p->marker;
        fl_depack_packet dpk = { .payload = p->payload,
                                 .len = p->len,
                                 .seq = (uint16_t)i,
                                 .ts = p->ts,
                                 .marker = p->marker };
        assert_int_equal(fl_depack_push(dp, &dpk), 0);
        fl_frame fr;
        while (fl_depack_pull(dp, &fr) == 1) {
            fl_picture out;
            assert_int_equal(fl_vdec_decode(d, fr.data, fr.len, &out), 1);
            assert_int_equal(out.width, 320);
            assert_int_equal(out.height, 240);
            decoded++;
        }
    }
    assert_int_equal(markers, c->frames);
    assert_int_equal(keys, 1);
    assert_int_equal(decoded, c->frames);
    assert_int_equal(fl_clip_h264(&(fl_clip *){ NULL }, 321, 240, 30, 500, 1, 1000), FL_EINVAL);
    assert_int_equal(fl_clip_h264(&(fl_clip *){ NULL }, 320, 240, 30, 500, 1, 63), FL_EINVAL);
    fl_vdec_destroy(d);
    fl_depack_destroy(dp);
    fl_clip_destroy(c);
}

static void fill(fl_picture *p, int y, int u, int v)
{
    for (int r = 0; r < p->height; r++)
        memset(p->plane[0] + r * p->stride[0], y, (size_t)p->width);
    for (int r = 0; r < (p->height + 1) / 2; r++) {
        memset(p->plane[1] + r * p->stride[1], u, (size_t)(p->width + 1) / 2);
        memset(p->plane[2] + r * p->stride[2], v, (size_t)(p->width + 1) / 2);
    }
}

static void test_scale(void **state)
{
    (void)state;
    fl_picture big = { 0 }, small = { 0 }, up = { 0 };
    assert_int_equal(fl_picture_alloc(&big, 640, 480), 0);
    assert_int_equal(fl_picture_alloc(&small, 320, 240), 0);
    assert_int_equal(fl_picture_alloc(&up, 640, 480), 0);
    assert_int_equal((uintptr_t)big.plane[0] % 32, 0);
    assert_int_equal(big.stride[0] % 32, 0);
    /* a flat colour stays exactly that colour, down and up */
    fill(&big, 100, 50, 200);
    assert_int_equal(fl_picture_scale(&big, &small), 0);
    assert_int_equal(fl_picture_scale(&small, &up), 0);
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 320; x++)
            assert_int_equal(small.plane[0][y * small.stride[0] + x], 100);
    for (int y = 0; y < 120; y++)
        for (int x = 0; x < 160; x++) {
            assert_int_equal(small.plane[1][y * small.stride[1] + x], 50);
            assert_int_equal(small.plane[2][y * small.stride[2] + x], 200);
        }
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++)
            assert_int_equal(up.plane[0][y * up.stride[0] + x], 100);
    /* a horizontal gradient: small(x) is the mean of big(2x) and big(2x+1) */
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++)
            big.plane[0][y * big.stride[0] + x] = (uint8_t)(x * 255 / 639);
    assert_int_equal(fl_picture_scale(&big, &small), 0);
    for (int y = 0; y < 240; y += 7)
        for (int x = 0; x < 320; x++) {
            int want = ((2 * x) * 255 / 639 + (2 * x + 1) * 255 / 639 + 1) / 2;
            int got = small.plane[0][y * small.stride[0] + x];
            assert_true(abs(got - want) <= 1);
        }
    /* same size: a copy */
    assert_int_equal(fl_picture_scale(&big, &up), 0);
    for (int y = 0; y < 480; y += 13)
        assert_memory_equal(up.plane[0] + y * up.stride[0], big.plane[0] + y * big.stride[0], 640);
    fl_picture_free(&up);
    fl_picture_free(&small);
    fl_picture_free(&big);
    assert_null(big.plane[0]);
    fl_picture_free(&big); /* zeroed: no-op */
    fl_picture bad;
    assert_int_equal(fl_picture_alloc(&bad, 1, 480), FL_EINVAL);
    assert_int_equal(fl_picture_alloc(&bad, 640, 8193), FL_EINVAL);
    assert_int_equal(fl_picture_scale(&big, &up), FL_EINVAL);
}

/* A VP8 key frame of width x 16 straight from libvpx (past fl_venc's
 * limits), flat grey, decoded with fl_vdec. */
static int decode_vp8_of_width(unsigned width)
{
    vpx_codec_enc_cfg_t cfg;
    assert_int_equal(vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0), VPX_CODEC_OK);
    cfg.g_w = width;
    cfg.g_h = 16;
    vpx_codec_ctx_t enc;
    assert_int_equal(vpx_codec_enc_init(&enc, vpx_codec_vp8_cx(), &cfg, 0), VPX_CODEC_OK);
    vpx_image_t *img = vpx_img_alloc(NULL, VPX_IMG_FMT_I420, width, 16, 32);
    assert_non_null(img);
    memset(img->img_data, 128, (size_t)img->stride[0] * 16 * 3 / 2);
    assert_int_equal(vpx_codec_encode(&enc, img, 0, 1, VPX_EFLAG_FORCE_KF, VPX_DL_REALTIME),
                     VPX_CODEC_OK);
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt = vpx_codec_get_cx_data(&enc, &iter);
    assert_non_null(pkt);
    fl_vdec *d = NULL;
    assert_int_equal(fl_vdec_create(&d, FL_CODEC_VP8), 0);
    fl_picture out;
    int r = fl_vdec_decode(d, pkt->data.frame.buf, pkt->data.frame.sz, &out);
    if (r == 1)
        assert_int_equal(out.width, (int)width);
    fl_vdec_destroy(d);
    vpx_img_free(img);
    vpx_codec_destroy(&enc);
    return r;
}

static void test_video_too_big(void **state)
{
    (void)state;
    assert_int_equal(decode_vp8_of_width(4096), 1);
    assert_int_equal(decode_vp8_of_width(4112), FL_EBADMSG);
}

static void test_video_misuse(void **state)
{
    (void)state;
    fl_venc *e = NULL;
    fl_vdec *d = NULL;
    fl_venc_config c = { FL_CODEC_VP8, 641, 480, 30, 1000 };
    assert_int_equal(fl_venc_create(&e, &c), FL_EINVAL);
    c = (fl_venc_config){ FL_CODEC_OPUS, 640, 480, 30, 1000 };
    assert_int_equal(fl_venc_create(&e, &c), FL_EINVAL);
    c = (fl_venc_config){ FL_CODEC_H264, 640, 480, 0, 1000 };
    assert_int_equal(fl_venc_create(&e, &c), FL_EINVAL);
    c = (fl_venc_config){ FL_CODEC_VP9, 640, 480, 30, 5 };
    assert_int_equal(fl_venc_create(&e, &c), FL_EINVAL);
    assert_int_equal(fl_vdec_create(&d, FL_CODEC_OPUS), FL_EINVAL);
    e = make_enc(FL_CODEC_VP8, 500);
    fl_picture p = { 0 };
    fl_venc_frame f;
    assert_int_equal(fl_picture_alloc(&p, 320, 240), 0);
    assert_int_equal(fl_venc_encode(e, &p, 0, 0, &f), FL_EINVAL);
    assert_int_equal(fl_venc_set_bitrate(e, 1), 0); /* clamped */
    fl_picture_free(&p);
    fl_venc_destroy(e);
    fl_venc_destroy(NULL);
    fl_vdec_destroy(NULL);
}

/* Garbage and truncated frames: refused or no picture, never a crash. */
static void test_video_garbage(void **state)
{
    (void)state;
    static const fl_codec_kind kinds[] = { FL_CODEC_VP8, FL_CODEC_VP9, FL_CODEC_H264 };
    uint8_t junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    for (size_t k = 0; k < 3; k++) {
        fl_vdec *d = NULL;
        assert_int_equal(fl_vdec_create(&d, kinds[k]), 0);
        fl_picture out;
        assert_int_equal(fl_vdec_decode(d, junk, 0, &out), FL_EINVAL);
        int bad = 0;
        for (size_t len = 1; len < sizeof(junk); len = len * 2 + 1) {
            int r = fl_vdec_decode(d, junk + len % 7, len, &out);
            assert_true(r == FL_EBADMSG || r == 0);
            bad += r == FL_EBADMSG;
        }
        assert_true(bad > 0);
        fl_vdec_destroy(d);
    }
    /* H.264: lengths that do not add up */
    fl_vdec *d = NULL;
    assert_int_equal(fl_vdec_create(&d, FL_CODEC_H264), 0);
    static const uint8_t over[] = { 0, 0, 0, 9, 0x65, 1, 2 };
    static const uint8_t zero[] = { 0, 0, 0, 0, 0x65 };
    static const uint8_t stub[] = { 0, 0, 1 };
    fl_picture out;
    assert_int_equal(fl_vdec_decode(d, over, sizeof(over), &out), FL_EBADMSG);
    assert_int_equal(fl_vdec_decode(d, zero, sizeof(zero), &out), FL_EBADMSG);
    assert_int_equal(fl_vdec_decode(d, stub, sizeof(stub), &out), FL_EBADMSG);
    fl_vdec_destroy(d);
}

/* ---- audio ---- */

/* A sine of freq Hz at amplitude amp, channel c of ch, from sample start. */
static void tone(int16_t *pcm,
                 size_t n,
                 int ch,
                 int c,
                 double freq,
                 int rate,
                 double amp,
                 size_t start)
{
    for (size_t i = 0; i < n; i++)
        pcm[i * (size_t)ch + (size_t)c] =
                (int16_t)lrint(amp * sin(2 * PI * freq * (double)(start + i) / rate));
}

static double rms(const int16_t *pcm, size_t n, int ch, int c)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double v = pcm[i * (size_t)ch + (size_t)c];
        s += v * v;
    }
    return sqrt(s / (double)n);
}

/* Frequency from the rising zero crossings (with a little hysteresis). */
static double zc_freq(const int16_t *pcm, size_t n, int ch, int c, int rate)
{
    size_t first = 0, last = 0, count = 0;
    int below = 0;
    for (size_t i = 0; i < n; i++) {
        int v = pcm[i * (size_t)ch + (size_t)c];
        if (v < -200)
            below = 1;
        else if (v >= 0 && below) {
            below = 0;
            if (count == 0)
                first = i;
            last = i;
            count++;
        }
    }
    return count < 2 ? 0 : (double)(count - 1) * rate / (double)(last - first);
}

/* 1 s of a tone through an Opus encoder and decoder, channel c at freq[c]. */
static void opus_round_trip(int channels)
{
    static const double freq[2] = { 440.0, 660.0 };
    fl_aenc *e = NULL;
    fl_adec *d = NULL;
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_OPUS, channels, 0 }), 0);
    assert_int_equal(fl_adec_create(&d, FL_CODEC_OPUS, channels), 0);
    assert_int_equal(fl_aenc_rate(e), 48000);
    assert_int_equal(fl_adec_rate(d), 48000);
    assert_int_equal(fl_aenc_frame_samples(e), 960);
    size_t total = 50 * 960;
    int16_t *in = calloc(total * 2, sizeof(*in)), *out = calloc(total * 2, sizeof(*out));
    assert_non_null(in);
    assert_non_null(out);
    for (int c = 0; c < channels; c++)
        tone(in, total, channels, c, freq[c], 48000, 8000, 0);
    size_t got = 0;
    int16_t pcm[FL_AUDIO_MAX_FRAME * 2];
    for (size_t f = 0; f < 50; f++) {
        uint8_t pkt[1275];
        int n = fl_aenc_encode(e, in + f * 960 * (size_t)channels, pkt, sizeof(pkt));
        assert_true(n > 0);
        int s = fl_adec_decode(d, pkt, (size_t)n, pcm, FL_AUDIO_MAX_FRAME);
        assert_int_equal(s, 960);
        memcpy(out + got * (size_t)channels, pcm, (size_t)s * (size_t)channels * sizeof(*pcm));
        got += (size_t)s;
    }
    /* skip the first 100 ms (the codec's delay and start) */
    size_t skip = 4800, n = got - skip;
    for (int c = 0; c < channels; c++) {
        double ri = rms(in + skip * (size_t)channels, n, channels, c);
        double ro = rms(out + skip * (size_t)channels, n, channels, c);
        double f = zc_freq(out + skip * (size_t)channels, n, channels, c, 48000);
        print_message("opus %d ch, channel %d: rms in %.0f out %.0f, %.1f Hz\n", channels, c, ri,
                      ro, f);
        assert_true(ro > ri * 0.8 && ro < ri * 1.2);
        assert_true(fabs(f - freq[c]) < freq[c] * 0.02);
    }
    /* loss concealment: one frame of the last length */
    assert_int_equal(fl_adec_decode(d, NULL, 0, pcm, FL_AUDIO_MAX_FRAME), 960);
    assert_int_equal(fl_aenc_set_bitrate(e, 1000), 0); /* clamped */
    free(in);
    free(out);
    fl_adec_destroy(d);
    fl_aenc_destroy(e);
}

static void test_opus(void **state)
{
    (void)state;
    opus_round_trip(1);
    opus_round_trip(2);
    fl_aenc *e = NULL;
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_OPUS, 3, 0 }), FL_EINVAL);
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_OPUS, 1, 5 }), FL_EINVAL);
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_PCMU, 2, 0 }), FL_EINVAL);
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_VP8, 1, 0 }), FL_EINVAL);
    assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ FL_CODEC_OPUS, 1, 0 }), 0);
    int16_t pcm[960] = { 0 };
    uint8_t out[1275];
    assert_int_equal(fl_aenc_encode(e, pcm, out, 0), FL_EMSGSIZE);
    fl_aenc_destroy(e);
}

/* Quantization step of the segment a code falls in, on the 16-bit scale. */
static int ulaw_step(uint8_t u)
{
    return 8 << ((~u >> 4) & 7);
}

static int alaw_step(uint8_t a)
{
    int seg = ((a ^ 0x55) >> 4) & 7;
    return seg < 2 ? 16 : 8 << seg;
}

static void test_g711(void **state)
{
    (void)state;
    /* the code points of silence (G.711 tables 1a and 2a) */
    assert_int_equal(fl_g711_ulaw_encode(0), 0xff);
    assert_int_equal(fl_g711_alaw_encode(0), 0xd5);
    assert_int_equal(fl_g711_ulaw_decode(0xff), 0);
    assert_int_equal(fl_g711_ulaw_decode(0x7f), 0);
    assert_int_equal(fl_g711_alaw_decode(0xd5), 8);
    assert_int_equal(fl_g711_alaw_decode(0x55), -8);
    /* the largest magnitudes */
    assert_int_equal(fl_g711_ulaw_decode(0x80), 32124);
    assert_int_equal(fl_g711_ulaw_decode(0x00), -32124);
    assert_int_equal(fl_g711_alaw_decode(0xaa), 32256);
    assert_int_equal(fl_g711_alaw_decode(0x2a), -32256);
    assert_int_equal(fl_g711_ulaw_encode(32767), 0x80);
    assert_int_equal(fl_g711_alaw_encode(-32768), 0x2a);
    /* every sample: within half a step (A-law: plus the 3 bits it drops),
     * and decoding is monotonic in the input */
    int prev_u = -40000, prev_a = -40000;
    for (int s = -32768; s <= 32767; s++) {
        uint8_t u = fl_g711_ulaw_encode((int16_t)s), a = fl_g711_alaw_encode((int16_t)s);
        int du = fl_g711_ulaw_decode(u), da = fl_g711_alaw_decode(a);
        if (abs(s) <= 32124)
            assert_true(abs(du - s) <= ulaw_step(u) / 2);
        if (abs(s) <= 32256)
            assert_true(abs(da - s) <= alaw_step(a) / 2 + 8);
        assert_true(du >= prev_u);
        assert_true(da >= prev_a);
        prev_u = du;
        prev_a = da;
    }
    /* every code decodes and encodes back to itself (but mu-law's -0) */
    for (int c = 0; c < 256; c++) {
        if (c != 0x7f)
            assert_int_equal(fl_g711_ulaw_encode(fl_g711_ulaw_decode((uint8_t)c)), c);
        assert_int_equal(fl_g711_alaw_encode(fl_g711_alaw_decode((uint8_t)c)), c);
    }
}

/* G.711 through fl_aenc/fl_adec: a 1 kHz tone keeps its level (within
 * the quantization noise), mono and duplicated to stereo. */
static void test_g711_codec(void **state)
{
    (void)state;
    static const fl_codec_kind kinds[] = { FL_CODEC_PCMU, FL_CODEC_PCMA };
    for (int k = 0; k < 2; k++) {
        fl_aenc *e = NULL;
        fl_adec *d1 = NULL, *d2 = NULL;
        assert_int_equal(fl_aenc_create(&e, &(fl_aenc_config){ kinds[k], 1, 0 }), 0);
        assert_int_equal(fl_adec_create(&d1, kinds[k], 1), 0);
        assert_int_equal(fl_adec_create(&d2, kinds[k], 2), 0);
        assert_int_equal(fl_aenc_rate(e), 8000);
        assert_int_equal(fl_adec_rate(d1), 8000);
        assert_int_equal(fl_aenc_frame_samples(e), 160);
        int16_t in[160], mono[320], stereo[640];
        tone(in, 160, 1, 0, 1000, 8000, 10000, 0);
        uint8_t pkt[160];
        assert_int_equal(fl_aenc_encode(e, in, pkt, 159), FL_EMSGSIZE);
        assert_int_equal(fl_aenc_encode(e, in, pkt, sizeof(pkt)), 160);
        assert_int_equal(fl_adec_decode(d1, pkt, 160, mono, 320), 160);
        assert_int_equal(fl_adec_decode(d2, pkt, 160, stereo, 320), 160);
        double noise = 0;
        for (int i = 0; i < 160; i++) {
            assert_int_equal(stereo[2 * i], mono[i]);
            assert_int_equal(stereo[2 * i + 1], mono[i]);
            noise += (double)(mono[i] - in[i]) * (mono[i] - in[i]);
        }
        double snr = 10 * log10(rms(in, 160, 1, 0) * rms(in, 160, 1, 0) / (noise / 160));
        print_message("%s SNR of a 1 kHz tone: %.1f dB\n", k ? "PCMA" : "PCMU", snr);
        assert_true(snr > 30); /* G.711 gives about 38 dB */
        assert_int_equal(fl_adec_decode(d1, pkt, 160, mono, 100), FL_EINVAL);
        /* concealment: silence of the last frame's length */
        assert_int_equal(fl_adec_decode(d2, NULL, 0, stereo, 320), 160);
        for (int i = 0; i < 320; i++)
            assert_int_equal(stereo[i], 0);
        assert_int_equal(fl_aenc_set_bitrate(e, 64), 0);
        fl_adec_destroy(d2);
        fl_adec_destroy(d1);
        fl_aenc_destroy(e);
    }
}

static void test_audio_garbage(void **state)
{
    (void)state;
    fl_adec *d = NULL;
    int16_t pcm[FL_AUDIO_MAX_FRAME * 2];
    assert_int_equal(fl_adec_create(&d, FL_CODEC_OPUS, 2), 0);
    /* code 3 with no frame, and code 3 declaring more than 120 ms */
    static const uint8_t none[] = { 0x03, 0x00 };
    static const uint8_t too_long[] = { 0x03, 0x3f, 1, 2, 3 };
    static const uint8_t cut[] = { 0x01 }; /* code 1, no bytes: two empty frames */
    assert_int_equal(fl_adec_decode(d, none, sizeof(none), pcm, FL_AUDIO_MAX_FRAME), FL_EBADMSG);
    assert_int_equal(fl_adec_decode(d, too_long, sizeof(too_long), pcm, FL_AUDIO_MAX_FRAME),
                     FL_EBADMSG);
    assert_true(fl_adec_decode(d, cut, sizeof(cut), pcm, FL_AUDIO_MAX_FRAME) >= 0);
    assert_int_equal(fl_adec_decode(d, none, 0, pcm, FL_AUDIO_MAX_FRAME), FL_EINVAL);
    uint32_t x = 99;
    uint8_t junk[400];
    for (int round = 0; round < 200; round++) {
        size_t len = 1 + (size_t)round * 2;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (uint8_t)(x >> 16);
        }
        int r = fl_adec_decode(d, junk, len, pcm, FL_AUDIO_MAX_FRAME);
        assert_true(r == FL_EBADMSG || (r >= 0 && r <= FL_AUDIO_MAX_FRAME));
    }
    fl_adec_destroy(d);
    assert_int_equal(fl_adec_create(&d, FL_CODEC_PCMA, 3), FL_EINVAL);
    assert_int_equal(fl_adec_create(&d, FL_CODEC_H264, 1), FL_EINVAL);
}

/* ---- resampling ---- */

/* Resamples n frames of in in calls of `chunk`, returns the output count. */
static size_t resample_all(fl_resampler *r,
                           const int16_t *in,
                           size_t n,
                           size_t chunk,
                           int ch,
                           int16_t *out,
                           size_t cap,
                           double ratio)
{
    size_t got = 0;
    for (size_t at = 0; at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        size_t room = (size_t)(k * ratio) + 2;
        assert_true(got + room <= cap);
        size_t w = fl_resample(r, in + at * (size_t)ch, k, out + got * (size_t)ch, room);
        assert_true(w + 1 >= (size_t)(k * ratio) && w <= (size_t)(k * ratio) + 2);
        got += w;
    }
    return got;
}

static void test_resample(void **state)
{
    (void)state;
    size_t n = 48000;
    int16_t *a = malloc(n * 2 * sizeof(*a)), *b = malloc(n * 2 * sizeof(*b)),
            *c = malloc(n * 2 * sizeof(*c));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    fl_resampler *down = NULL, *up = NULL;
    assert_int_equal(fl_resampler_create(&down, 48000, 8000, 1), 0);
    assert_int_equal(fl_resampler_create(&up, 8000, 48000, 1), 0);
    /* 440 Hz: 48k -> 8k -> 48k keeps level and pitch */
    tone(a, n, 1, 0, 440, 48000, 10000, 0);
    size_t m = resample_all(down, a, n, 960, 1, b, n, 1.0 / 6);
    assert_true(m >= 7990 && m <= 8000);
    double f8 = zc_freq(b + 800, m - 800, 1, 0, 8000);
    size_t k = resample_all(up, b, m, 160, 1, c, 2 * n, 6.0);
    assert_true(k >= 47900 && k <= 48000);
    double r_in = rms(a, n, 1, 0), r_out = rms(c + 4800, k - 4800, 1, 0);
    double f48 = zc_freq(c + 4800, k - 4800, 1, 0, 48000);
    print_message("resample 440 Hz 48k->8k->48k: rms %.0f -> %.0f, %.2f Hz at 8k, %.2f Hz\n", r_in,
                  r_out, f8, f48);
    assert_true(fabs(r_out / r_in - 1) < 0.02);
    assert_true(fabs(f8 - 440) < 1 && fabs(f48 - 440) < 1);
    fl_resampler_destroy(down);
    fl_resampler_destroy(up);

    /* 6 kHz cannot exist at 8 kHz: removed, not aliased to 2 kHz */
    assert_int_equal(fl_resampler_create(&down, 48000, 8000, 2), 0);
    tone(a, n / 2, 2, 0, 6000, 48000, 10000, 0);
    tone(a, n / 2, 2, 1, 440, 48000, 10000, 0);
    m = resample_all(down, a, n / 2, 480, 2, b, n, 1.0 / 6);
    double r6 = rms(b + 2 * 400, m - 400, 2, 0), r440 = rms(b + 2 * 400, m - 400, 2, 1);
    print_message("resample 6 kHz to 8 kHz: rms %.1f (%.1f dB), 440 Hz beside it %.0f\n", r6,
                  20 * log10(r6 / 7071 + 1e-9), r440);
    assert_true(r6 < 7071 * 0.01); /* 40 dB down at least */
    assert_true(fabs(r440 / 7071 - 1) < 0.02);
    fl_resampler_destroy(down);

    /* 44.1k -> 48k over odd chunks: no drift over 1 s */
    assert_int_equal(fl_resampler_create(&up, 44100, 48000, 1), 0);
    tone(a, 44100, 1, 0, 1000, 44100, 10000, 0);
    k = resample_all(up, a, 44100, 441, 1, c, 2 * n, 48000.0 / 44100);
    assert_true(k >= 47960 && k <= 48000);
    assert_true(fabs(zc_freq(c + 2000, k - 2000, 1, 0, 48000) - 1000) < 1);
    fl_resampler_destroy(up);

    /* equal rates copy; bad arguments */
    assert_int_equal(fl_resampler_create(&up, 16000, 16000, 2), 0);
    assert_int_equal(fl_resample(up, a, 100, b, 100), 100);
    assert_memory_equal(a, b, 200 * sizeof(*a));
    fl_resampler_destroy(up);
    assert_int_equal(fl_resampler_create(&up, 7999, 8000, 1), FL_EINVAL);
    assert_int_equal(fl_resampler_create(&up, 8000, 192001, 1), FL_EINVAL);
    assert_int_equal(fl_resampler_create(&up, 8000, 16000, 3), FL_EINVAL);
    free(a);
    free(b);
    free(c);
}

static void test_channels(void **state)
{
    (void)state;
    int16_t st[6] = { 100, 300, -32768, -32768, 32767, 1 }, mono[3], back[6];
    fl_pcm_channels(st, 2, mono, 1, 3);
    assert_int_equal(mono[0], 200);
    assert_int_equal(mono[1], -32768);
    assert_int_equal(mono[2], 16384);
    fl_pcm_channels(mono, 1, back, 2, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(back[2 * i], mono[i]);
        assert_int_equal(back[2 * i + 1], mono[i]);
    }
    fl_pcm_channels(st, 2, back, 2, 3);
    assert_memory_equal(st, back, sizeof(st));
}

int main(void)
{
    const struct CMUnitTest video[] = {
        cmocka_unit_test(test_vp8),           cmocka_unit_test(test_vp9),
        cmocka_unit_test(test_h264),          cmocka_unit_test(test_bitrate),
        cmocka_unit_test(test_h264_annexb),   cmocka_unit_test(test_h264_through_rtp),
        cmocka_unit_test(test_clip_h264),     cmocka_unit_test(test_scale),
        cmocka_unit_test(test_video_too_big), cmocka_unit_test(test_video_misuse),
        cmocka_unit_test(test_video_garbage),
    };
    const struct CMUnitTest audio[] = {
        cmocka_unit_test(test_opus),       cmocka_unit_test(test_g711),
        cmocka_unit_test(test_g711_codec), cmocka_unit_test(test_audio_garbage),
        cmocka_unit_test(test_resample),   cmocka_unit_test(test_channels),
    };
    int failed = cmocka_run_group_tests_name("coder_video", video, NULL, NULL);
    failed += cmocka_run_group_tests_name("coder_audio", audio, NULL, NULL);
    return failed;
}
