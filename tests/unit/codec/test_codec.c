/* codec: VP8 and Opus clips (checked by decoding them with libvpx and
 * libopus) and the VP8 payload descriptor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

#include "base/err.h"
#include "codec/codec.h"

#include <cmocka.h>

#define MAX_PAYLOAD 1200

/* Built once: encoding is the slow part. */
static fl_clip *vp8_clip;

static int setup_vp8(void **state)
{
    (void)state;
    return fl_clip_vp8(&vp8_clip, 640, 480, 30, 1000, 2, MAX_PAYLOAD) == 0 ? 0 : -1;
}

static int teardown_vp8(void **state)
{
    (void)state;
    fl_clip_destroy(vp8_clip);
    vp8_clip = NULL;
    return 0;
}

static void test_vp8_clip_packets(void **state)
{
    (void)state;
    const fl_clip *c = vp8_clip;
    assert_int_equal(c->clock_rate, 90000);
    assert_int_equal(c->frames, 60);
    assert_int_equal(c->duration_ts, 180000);
    assert_int_equal(c->duration_us, 2000000);
    assert_true(c->n >= 60);

    fl_vp8_desc d;
    assert_int_equal(fl_vp8_desc_parse(&d, c->pkts[0].payload, c->pkts[0].len), 0);
    assert_int_equal(d.start, 1);
    assert_int_equal(d.partition, 0);
    assert_true(d.keyframe);
    assert_true(c->pkts[0].keyframe);
    assert_int_equal(c->pkts[0].ts, 0);
    assert_int_equal(c->pkts[0].send_us, 0);

    size_t frames = 0, key_frames = 0;
    uint64_t bytes = 0;
    int prev_pid = -1;
    uint32_t prev_ts = 0, prev_send = 0;
    for (size_t i = 0; i < c->n; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        assert_true(p->len <= MAX_PAYLOAD);
        assert_int_equal(fl_vp8_desc_parse(&d, p->payload, p->len), 0);
        assert_int_equal(d.header_len, 4);
        assert_true(d.picture_id >= 0);
        assert_true(p->send_us >= prev_send);
        assert_true(p->send_us < c->duration_us);
        prev_send = p->send_us;
        bytes += p->len;
        int first = i == 0 || c->pkts[i - 1].marker;
        assert_int_equal(d.start, first);
        if (first) {
            if (prev_pid >= 0) {
                assert_int_equal(d.picture_id, (prev_pid + 1) % 32768);
                assert_int_equal(p->ts, prev_ts + 3000);
            }
            prev_pid = d.picture_id;
            prev_ts = p->ts;
            /* Only a key frame's first packet says so in its payload header. */
            assert_int_equal(d.keyframe, p->keyframe);
            if (p->keyframe)
                key_frames++;
            frames++;
        } else {
            assert_int_equal(d.picture_id, prev_pid);
            assert_int_equal(p->ts, prev_ts);
            assert_int_equal(p->keyframe, c->pkts[i - 1].keyframe);
            assert_false(d.keyframe);
        }
    }
    assert_true(c->pkts[c->n - 1].marker);
    assert_int_equal(frames, 60);
    assert_int_equal(key_frames, 1);
    assert_int_equal(bytes, c->bytes);
    double kbps = (double)bytes * 8 / 2.0 / 1000.0;
    print_message("vp8 clip: %zu packets, %.0f kbps\n", c->n, kbps);
    assert_true(kbps >= 650 && kbps <= 1350);
}

/* Reassembles each frame from its payloads and decodes it with libvpx. */
static void test_vp8_clip_decodes(void **state)
{
    (void)state;
    const fl_clip *c = vp8_clip;
    vpx_codec_ctx_t dec;
    assert_int_equal(vpx_codec_dec_init(&dec, vpx_codec_vp8_dx(), NULL, 0), VPX_CODEC_OK);
    uint8_t *frame = malloc(c->bytes);
    size_t ysz = 640 * 480;
    uint8_t *prev = malloc(ysz), *cur = malloc(ysz);
    assert_non_null(frame);
    assert_non_null(prev);
    assert_non_null(cur);
    size_t len = 0, decoded = 0;
    for (size_t i = 0; i < c->n; i++) {
        fl_vp8_desc d;
        assert_int_equal(fl_vp8_desc_parse(&d, c->pkts[i].payload, c->pkts[i].len), 0);
        memcpy(frame + len, c->pkts[i].payload + d.header_len, c->pkts[i].len - d.header_len);
        len += c->pkts[i].len - d.header_len;
        if (!c->pkts[i].marker)
            continue;
        assert_int_equal(vpx_codec_decode(&dec, frame, (unsigned)len, NULL, 0), VPX_CODEC_OK);
        len = 0;
        vpx_codec_iter_t iter = NULL;
        vpx_image_t *img = vpx_codec_get_frame(&dec, &iter);
        assert_non_null(img);
        assert_int_equal(img->d_w, 640);
        assert_int_equal(img->d_h, 480);
        for (int y = 0; y < 480; y++)
            memcpy(cur + (size_t)y * 640, img->planes[VPX_PLANE_Y] + y * img->stride[VPX_PLANE_Y],
                   640);
        if (decoded > 0) {
            size_t differ = 0;
            for (size_t k = 0; k < ysz; k++)
                differ += abs((int)cur[k] - (int)prev[k]) > 8;
            /* The square and the counter move every frame: well over 1% of pixels. */
            assert_true(differ > ysz / 100);
        }
        uint8_t *t = prev;
        prev = cur;
        cur = t;
        decoded++;
    }
    assert_int_equal(decoded, 60);
    free(frame);
    free(prev);
    free(cur);
    vpx_codec_destroy(&dec);
}

static void test_vp8_clip_bad_args(void **state)
{
    (void)state;
    fl_clip *c = NULL;
    assert_int_equal(fl_clip_vp8(&c, 0, 480, 30, 1000, 1, 1200), FL_EINVAL);
    assert_int_equal(fl_clip_vp8(&c, 640, 8, 30, 1000, 1, 1200), FL_EINVAL);
    assert_int_equal(fl_clip_vp8(&c, 640, 480, 0, 1000, 1, 1200), FL_EINVAL);
    assert_int_equal(fl_clip_vp8(&c, 640, 480, 30, 0, 1, 1200), FL_EINVAL);
    assert_int_equal(fl_clip_vp8(&c, 640, 480, 30, 1000, 0, 1200), FL_EINVAL);
    assert_int_equal(fl_clip_vp8(&c, 640, 480, 30, 1000, 1, 10), FL_EINVAL);
    assert_int_equal(fl_clip_opus(&c, 1, 1), FL_EINVAL);
    assert_int_equal(fl_clip_opus(&c, 64, 0), FL_EINVAL);
    assert_null(c);
    fl_clip_destroy(NULL);
}

/* Odd sizes, a small payload limit and an fps that does not divide 90000. */
static void test_vp8_clip_odd(void **state)
{
    (void)state;
    fl_clip *c;
    assert_int_equal(fl_clip_vp8(&c, 161, 97, 7, 200, 1, 64), 0);
    assert_int_equal(c->frames, 7);
    assert_int_equal(c->duration_ts, 90000);
    assert_true(c->pkts[0].keyframe);
    for (size_t i = 0; i < c->n; i++)
        assert_true(c->pkts[i].len <= 64);
    assert_int_equal(c->pkts[c->n - 1].ts, 6 * 90000 / 7);
    fl_clip_destroy(c);
}

static void test_opus_clip(void **state)
{
    (void)state;
    fl_clip *c;
    assert_int_equal(fl_clip_opus(&c, 64, 2), 0);
    assert_int_equal(c->clock_rate, 48000);
    assert_int_equal(c->n, 100);
    assert_int_equal(c->frames, 100);
    assert_int_equal(c->duration_ts, 96000);
    assert_int_equal(c->duration_us, 2000000);
    int err;
    OpusDecoder *dec = opus_decoder_create(48000, 2, &err);
    assert_non_null(dec);
    static int16_t pcm[5760 * 2];
    uint64_t bytes = 0;
    double energy = 0;
    for (size_t i = 0; i < c->n; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        assert_int_equal(p->ts, i * 960);
        assert_int_equal(p->send_us, i * 20000);
        assert_int_equal(p->marker, i == 0);
        int n = opus_decode(dec, p->payload, (opus_int32)p->len, pcm, 5760, 0);
        assert_int_equal(n, 960);
        assert_int_equal(opus_packet_get_nb_channels(p->payload), 2);
        for (int k = 0; k < n * 2; k++)
            energy += (double)pcm[k] * pcm[k];
        bytes += p->len;
    }
    assert_int_equal(bytes, c->bytes);
    /* Not silence: the tone is at about -10 dBFS. */
    assert_true(energy / (c->n * 960 * 2) > 1e6);
    double kbps = (double)bytes * 8 / 2.0 / 1000.0;
    print_message("opus clip: %.0f kbps\n", kbps);
    assert_true(kbps > 32 && kbps < 96);
    opus_decoder_destroy(dec);
    fl_clip_destroy(c);
}

static void test_desc_parse(void **state)
{
    (void)state;
    fl_vp8_desc d;
    /* No extension: S=1 PID=0, key frame (P=0). */
    const uint8_t min_key[] = { 0x10, 0x50, 0x42, 0x00 };
    assert_int_equal(fl_vp8_desc_parse(&d, min_key, sizeof(min_key)), 0);
    assert_int_equal(d.start, 1);
    assert_int_equal(d.partition, 0);
    assert_int_equal(d.picture_id, -1);
    assert_int_equal(d.keyframe, 1);
    assert_int_equal(d.header_len, 1);
    /* 7-bit picture id, interframe (P=1). */
    const uint8_t pid7[] = { 0x90, 0x80, 0x25, 0x31 };
    assert_int_equal(fl_vp8_desc_parse(&d, pid7, sizeof(pid7)), 0);
    assert_int_equal(d.picture_id, 0x25);
    assert_int_equal(d.keyframe, 0);
    assert_int_equal(d.header_len, 3);
    /* 15-bit picture id, TL0PICIDX, TID/KEYIDX; S=0, PID=2: not a key frame start. */
    const uint8_t full[] = { 0x82, 0xf0, 0xab, 0xcd, 0x11, 0x40, 0x00 };
    assert_int_equal(fl_vp8_desc_parse(&d, full, sizeof(full)), 0);
    assert_int_equal(d.start, 0);
    assert_int_equal(d.partition, 2);
    assert_int_equal(d.picture_id, 0x2bcd);
    assert_int_equal(d.keyframe, 0);
    assert_int_equal(d.header_len, 6);
    /* Only K set still takes the TID/KEYIDX byte. */
    const uint8_t konly[] = { 0x90, 0x10, 0x05, 0x00 };
    assert_int_equal(fl_vp8_desc_parse(&d, konly, sizeof(konly)), 0);
    assert_int_equal(d.header_len, 3);
    assert_int_equal(d.keyframe, 1);
    /* X set, no optional fields. */
    const uint8_t xempty[] = { 0x90, 0x00, 0x00 };
    assert_int_equal(fl_vp8_desc_parse(&d, xempty, sizeof(xempty)), 0);
    assert_int_equal(d.header_len, 2);

    /* Every truncation of each descriptor, payload byte included, is malformed. */
    const uint8_t *all[] = { min_key, pid7, full, konly, xempty };
    const size_t hl[] = { 1, 3, 6, 3, 2 };
    for (size_t i = 0; i < 5; i++)
        for (size_t n = 0; n <= hl[i]; n++)
            assert_int_equal(fl_vp8_desc_parse(&d, all[i], n), FL_EBADMSG);
    assert_int_equal(fl_vp8_desc_parse(&d, NULL, 0), FL_EBADMSG);
}

static void test_desc_picture_id_rewrite(void **state)
{
    (void)state;
    uint8_t p15[] = { 0x90, 0x80, 0x80, 0x00, 0x00 };
    assert_int_equal(fl_vp8_desc_set_picture_id(p15, sizeof(p15), 32767 + 5), 0);
    const uint8_t want15[] = { 0x90, 0x80, 0x80, 0x04, 0x00 };
    assert_memory_equal(p15, want15, sizeof(p15));
    assert_int_equal(fl_vp8_desc_set_picture_id(p15, sizeof(p15), 0x1234), 0);
    fl_vp8_desc d;
    assert_int_equal(fl_vp8_desc_parse(&d, p15, sizeof(p15)), 0);
    assert_int_equal(d.picture_id, 0x1234);

    uint8_t p7[] = { 0x90, 0x80, 0x01, 0x00 };
    assert_int_equal(fl_vp8_desc_set_picture_id(p7, sizeof(p7), 200), 0);
    assert_int_equal(p7[2], 200 & 0x7f);

    uint8_t none[] = { 0x10, 0x00 };
    assert_int_equal(fl_vp8_desc_set_picture_id(none, sizeof(none), 1), FL_ENOENT);
    assert_int_equal(fl_vp8_desc_set_picture_id(p15, 3, 1), FL_EBADMSG);

    /* The clip's own descriptors rewrite and parse back. */
    uint8_t copy[MAX_PAYLOAD];
    const fl_clip_packet *p = &vp8_clip->pkts[vp8_clip->n - 1];
    memcpy(copy, p->payload, p->len);
    assert_int_equal(fl_vp8_desc_set_picture_id(copy, p->len, 60 + 59), 0);
    assert_int_equal(fl_vp8_desc_parse(&d, copy, p->len), 0);
    assert_int_equal(d.picture_id, 119);
    assert_memory_equal(copy + 4, p->payload + 4, p->len - 4);
}

/* Key-frame starts per payload format, from hand-made payloads. */
static void test_key_frame_start(void **state)
{
    (void)state;
    assert_int_equal(fl_codec_kind_of("vp8"), FL_CODEC_VP8);
    assert_int_equal(fl_codec_kind_of("VP9"), FL_CODEC_VP9);
    assert_int_equal(fl_codec_kind_of("H264"), FL_CODEC_H264);
    assert_int_equal(fl_codec_kind_of("opus"), FL_CODEC_OPUS);
    assert_int_equal(fl_codec_kind_of("OPUS"), FL_CODEC_OPUS);
    assert_int_equal(fl_codec_kind_of("pcmu"), FL_CODEC_PCMU);
    assert_int_equal(fl_codec_kind_of("PCMA"), FL_CODEC_PCMA);
    assert_int_equal(fl_codec_kind_of("G722"), FL_CODEC_OTHER);
    assert_true(fl_codec_kind_is_video(FL_CODEC_VP8) && fl_codec_kind_is_video(FL_CODEC_H264));
    assert_false(fl_codec_kind_is_video(FL_CODEC_OPUS) || fl_codec_kind_is_video(FL_CODEC_OTHER));
    assert_int_equal(fl_codec_kind_of(NULL), FL_CODEC_OTHER);
    /* VP8: S=1 PID=0, then the payload header's P bit (0 = key frame) */
    const uint8_t vp8_key[] = { 0x10, 0x00, 0x9d, 0x01 };
    const uint8_t vp8_delta[] = { 0x10, 0x01, 0x9d, 0x01 };
    const uint8_t vp8_cont[] = { 0x00, 0x00, 0x9d, 0x01 };
    const uint8_t vp8_ext[] = { 0x90, 0x80, 0x80, 0x05, 0x00, 0x9d };
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, vp8_key, sizeof(vp8_key)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, vp8_delta, sizeof(vp8_delta)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, vp8_cont, sizeof(vp8_cont)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, vp8_ext, sizeof(vp8_ext)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, vp8_key, 1), 0);
    /* VP9: B set, P clear */
    const uint8_t vp9_key[] = { 0x08, 0x00 }, vp9_delta[] = { 0x48, 0x00 }, vp9_mid[] = { 0x00 };
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP9, vp9_key, sizeof(vp9_key)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP9, vp9_delta, sizeof(vp9_delta)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP9, vp9_mid, sizeof(vp9_mid)), 0);
    /* H.264: IDR, SPS in STAP-A, FU-A start of an IDR, a P slice */
    const uint8_t idr[] = { 0x65, 0x88 }, p_slice[] = { 0x41, 0x9a };
    const uint8_t stap[] = { 0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce };
    const uint8_t stap_bad[] = { 0x18, 0x00, 0x09, 0x67, 0x42 };
    const uint8_t fu_start[] = { 0x7c, 0x85, 0x88 }, fu_mid[] = { 0x7c, 0x05, 0x88 };
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, idr, sizeof(idr)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, p_slice, sizeof(p_slice)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, stap, sizeof(stap)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, stap_bad, sizeof(stap_bad)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, fu_start, sizeof(fu_start)), 1);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, fu_mid, sizeof(fu_mid)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, idr, 0), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_OTHER, idr, sizeof(idr)), 0);
    /* audio has no key frame to wait for */
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_OPUS, idr, sizeof(idr)), 0);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_PCMU, idr, sizeof(idr)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vp8_clip_packets),
        cmocka_unit_test(test_vp8_clip_decodes),
        cmocka_unit_test(test_desc_picture_id_rewrite),
        cmocka_unit_test(test_vp8_clip_bad_args),
        cmocka_unit_test(test_vp8_clip_odd),
        cmocka_unit_test(test_opus_clip),
        cmocka_unit_test(test_desc_parse),
        cmocka_unit_test(test_key_frame_start),
    };
    return cmocka_run_group_tests(tests, setup_vp8, teardown_vp8);
}
