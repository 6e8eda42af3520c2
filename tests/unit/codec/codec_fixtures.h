/* What the packetizer and depacketizer tests (test_pack.c, test_depack.c)
 * share: a growing list of encoded frames and the libvpx encoder that
 * makes their VP8 and VP9 sources. Static inline; it asserts with
 * cmocka (included here). */
#ifndef FL_TESTS_UNIT_CODEC_CODEC_FIXTURES_H
#define FL_TESTS_UNIT_CODEC_CODEC_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "codec/codec.h"

#include <cmocka.h>

/* An encoded frame (a source) or a depacketized one (copied out), its
 * data malloc'd. */
typedef struct frame {
    uint8_t *data;
    size_t len;
    uint32_t ts;
    int key;
    uint16_t width, height;
    uint8_t sps[FL_DEPACK_MAX_PARAM_SET], pps[FL_DEPACK_MAX_PARAM_SET];
    size_t sps_len, pps_len;
} frame;

typedef struct frames {
    frame *f;
    size_t n, cap;
} frames;

/* A new frame at the end of l holding a copy of data[0..len) (data may be
 * NULL when len is 0), the rest of it zero. */
static inline frame *frames_add(frames *l, const uint8_t *data, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->f = realloc(l->f, l->cap * sizeof(*l->f));
        assert_non_null(l->f);
    }
    frame *f = &l->f[l->n++];
    memset(f, 0, sizeof(*f));
    f->data = malloc(len ? len : 1);
    assert_non_null(f->data);
    if (len)
        memcpy(f->data, data, len);
    f->len = len;
    return f;
}

static inline void frame_append(frame *f, const uint8_t *data, size_t len)
{
    f->data = realloc(f->data, f->len + len);
    assert_non_null(f->data);
    memcpy(f->data + f->len, data, len);
    f->len += len;
}

static inline void frames_free(frames *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->f[i].data);
    free(l->f);
    memset(l, 0, sizeof(*l));
}

/* Encodes 20 pictures of 320x240 at 30/s with libvpx (iface: VP8's or
 * VP9's encoder) at kbps, key frames forced at 0 and 10 only, into out
 * (ts: 90 kHz, 3000 a picture). The pictures are a moving gradient, with
 * a seeded grain over it when `grain` (bigger frames). 0, or -1 when
 * libvpx failed or did not give 20 frames keyed so. */
static inline int vpx_encode(vpx_codec_iface_t *iface, unsigned kbps, int grain, frames *out)
{
    vpx_codec_enc_cfg_t cfg;
    vpx_codec_ctx_t enc;
    if (vpx_codec_enc_config_default(iface, &cfg, 0) != VPX_CODEC_OK)
        return -1;
    cfg.g_w = 320;
    cfg.g_h = 240;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = 30;
    cfg.rc_target_bitrate = kbps;
    cfg.g_lag_in_frames = 0;
    cfg.kf_mode = VPX_KF_DISABLED;
    cfg.g_error_resilient = 1;
    if (vpx_codec_enc_init(&enc, iface, &cfg, 0) != VPX_CODEC_OK)
        return -1;
    vpx_codec_control(&enc, VP8E_SET_CPUUSED, 8);
    vpx_image_t img;
    vpx_img_alloc(&img, VPX_IMG_FMT_I420, 320, 240, 16);
    uint32_t rng = 12345;
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) {
        for (int y = 0; y < 240; y++) {
            for (int x = 0; x < 320; x++) {
                rng = rng * 1103515245u + 12345u;
                img.planes[0][y * img.stride[0] + x] =
                        (uint8_t)(x + y * 2 + i * 5 + (grain ? rng >> 28 : 0));
            }
        }
        for (int y = 0; y < 120; y++) {
            memset(img.planes[1] + y * img.stride[1], 100 + i, 160);
            memset(img.planes[2] + y * img.stride[2], 140 - i, 160);
        }
        vpx_enc_frame_flags_t fl = i % 10 == 0 ? VPX_EFLAG_FORCE_KF : 0;
        if (vpx_codec_encode(&enc, &img, i, 1, fl, VPX_DL_REALTIME) != VPX_CODEC_OK) {
            rc = -1;
            break;
        }
        vpx_codec_iter_t it = NULL;
        const vpx_codec_cx_pkt_t *p;
        while ((p = vpx_codec_get_cx_data(&enc, &it)) != NULL) {
            if (p->kind != VPX_CODEC_CX_FRAME_PKT)
                continue;
            frame *f = frames_add(out, p->data.frame.buf, p->data.frame.sz);
            f->ts = (uint32_t)i * 3000;
            f->key = (p->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        }
    }
    vpx_img_free(&img);
    vpx_codec_destroy(&enc);
    if (rc < 0)
        return -1;
    return out->n == 20 && out->f[0].key && out->f[10].key && !out->f[1].key ? 0 : -1;
}

#endif
