/* codec/xcoder: one transcode, frames in, frames out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/xcoder.h"

#include <cmocka.h>

/* The clip's frames, whole (depacketized). */
typedef struct frames {
    uint8_t *data[64];
    size_t len[64];
    size_t n;
} frames;

static void frames_of(const fl_clip *c, fl_codec_kind kind, frames *out)
{
    fl_depack *d;
    fl_depack_config dc = { .codec = kind };
    assert_int_equal(fl_depack_create(&d, &dc), 0);
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < c->n && out->n < 64; i++) {
        fl_depack_packet p = { .payload = c->pkts[i].payload,
                               .len = c->pkts[i].len,
                               .seq = (uint16_t)i,
                               .ts = c->pkts[i].ts,
                               .marker = c->pkts[i].marker };
        assert_int_equal(fl_depack_push(d, &p), 0);
        fl_frame f;
        while (fl_depack_pull(d, &f) == 1 && out->n < 64) {
            out->data[out->n] = malloc(f.len);
            memcpy(out->data[out->n], f.data, f.len);
            out->len[out->n++] = f.len;
        }
    }
    fl_depack_destroy(d);
}

static void frames_free(frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->data[i]);
}

/* A frame rate cap thins the frames; a jump back of the timestamps (a new
 * source behind the same transcoder) is a new timeline, not a reason to
 * thin every frame until the old one is passed. */
static void test_fps_cap_and_jump_back(void **state)
{
    (void)state;
    fl_clip *c;
    assert_int_equal(fl_clip_vp8(&c, 160, 120, 30, 200, 1, 1200), 0);
    frames f;
    frames_of(c, FL_CODEC_VP8, &f);
    assert_int_equal(f.n, 30);
    fl_xcoder *x;
    fl_xcoder_config cfg = { .in = FL_CODEC_VP8, .out = FL_CODEC_VP8, .max_fps = 15 };
    assert_int_equal(fl_xcoder_create(&x, &cfg), 0);
    int out = 0;
    fl_xcoder_frame o;
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(fl_xcoder_push(x, f.data[i], f.len[i], 900000 + (uint32_t)i * 3000, 1), 0);
        out += fl_xcoder_pull(x, &o);
    }
    assert_true(out >= 14 && out <= 16); /* 30 frames at 30/s capped to 15/s */
    /* the same frames again, timed ten seconds earlier */
    fl_xcoder_force_key(x);
    int again = 0;
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(fl_xcoder_push(x, f.data[i], f.len[i], (uint32_t)i * 3000, 1), 0);
        again += fl_xcoder_pull(x, &o);
    }
    assert_true(again >= 14 && again <= 16);
    fl_xcoder_stats st;
    fl_xcoder_get_stats(x, &st);
    assert_int_equal(st.decoded, 60);
    fl_xcoder_destroy(x);
    frames_free(&f);
    fl_clip_destroy(c);
}

/* Bitrates outside a codec's range are brought into it, not refused (an
 * encoderBitrate a client set is not the codec's to reject per frame). */
static void test_bitrate_clamped(void **state)
{
    (void)state;
    fl_xcoder *x;
    fl_xcoder_config a = {
        .in = FL_CODEC_PCMU, .out = FL_CODEC_OPUS, .out_channels = 1, .kbps = 1
    };
    assert_int_equal(fl_xcoder_create(&x, &a), 0);
    fl_xcoder_set_bitrate(x, 100000);
    uint8_t pcmu[160];
    memset(pcmu, 0xFF, sizeof(pcmu));
    int n = 0;
    fl_xcoder_frame o;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fl_xcoder_push(x, pcmu, sizeof(pcmu), (uint32_t)i * 160, 1), 0);
        while (fl_xcoder_pull(x, &o) == 1)
            n++;
    }
    assert_true(n >= 8);
    fl_xcoder_destroy(x);

    fl_clip *c;
    assert_int_equal(fl_clip_vp8(&c, 160, 120, 30, 200, 1, 1200), 0);
    frames f;
    frames_of(c, FL_CODEC_VP8, &f);
    fl_xcoder_config v = { .in = FL_CODEC_VP8, .out = FL_CODEC_H264, .kbps = 5000000 };
    assert_int_equal(fl_xcoder_create(&x, &v), 0);
    n = 0;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fl_xcoder_push(x, f.data[i], f.len[i], (uint32_t)i * 3000, 1), 0);
        n += fl_xcoder_pull(x, &o);
    }
    assert_int_equal(n, 5);
    fl_xcoder_destroy(x);
    frames_free(&f);
    fl_clip_destroy(c);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fps_cap_and_jump_back),
        cmocka_unit_test(test_bitrate_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
