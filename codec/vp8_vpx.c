/* The libvpx wrapper: the VP8 encoder, set up as a WebRTC sender runs it
 * (realtime, one pass, CBR, no lag). The only file that includes libvpx. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec_int.h"

FL_LOG_TAG("codec");

/* Speed for VP8 realtime: -16..16, higher is faster; libwebrtc uses -6 at
 * 640x480 on a desktop. */
#define VP8_CPU_USED (-6)

struct fl__vp8_enc {
    vpx_codec_ctx_t ctx;
    int width, height;
};

static void set_config(vpx_codec_enc_cfg_t *cfg, int width, int height, int fps, int kbps)
{
    cfg->g_w = (unsigned)width;
    cfg->g_h = (unsigned)height;
    cfg->g_timebase.num = 1;
    cfg->g_timebase.den = fps;
    cfg->g_threads = 1;
    cfg->g_lag_in_frames = 0;
    cfg->g_pass = VPX_RC_ONE_PASS;
    cfg->g_error_resilient = 0;
    cfg->rc_end_usage = VPX_CBR;
    cfg->rc_target_bitrate = (unsigned)kbps;
    cfg->rc_min_quantizer = 2;
    cfg->rc_max_quantizer = 56;
    cfg->rc_undershoot_pct = 100;
    cfg->rc_overshoot_pct = 15;
    cfg->rc_buf_initial_sz = 500;
    cfg->rc_buf_optimal_sz = 600;
    cfg->rc_buf_sz = 1000;
    cfg->rc_dropframe_thresh = 0;
    cfg->rc_resize_allowed = 0;
    cfg->kf_mode = VPX_KF_DISABLED;
}

int fl__vp8_enc_create(fl__vp8_enc **out, int width, int height, int fps, int kbps)
{
    fl__vp8_enc *e = calloc(1, sizeof(*e));
    if (!e)
        return FL_ENOMEM;
    vpx_codec_enc_cfg_t cfg;
    vpx_codec_err_t err = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0);
    if (err != VPX_CODEC_OK)
        goto fail_free;
    set_config(&cfg, width, height, fps, kbps);
    err = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &cfg, 0);
    if (err != VPX_CODEC_OK)
        goto fail_free;
    if (vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, VP8_CPU_USED) != VPX_CODEC_OK ||
        vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u) != VPX_CODEC_OK ||
        vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1u) != VPX_CODEC_OK ||
        vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION) !=
                VPX_CODEC_OK ||
        vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 900u) != VPX_CODEC_OK) {
        goto fail_ctx;
    }
    e->width = width;
    e->height = height;
    *out = e;
    return 0;

fail_ctx:
    fl_log(FL_LOG_WARN, "vp8 encoder setup: %s",
           vpx_codec_error_detail(&e->ctx) ? vpx_codec_error_detail(&e->ctx)
                                           : vpx_codec_error(&e->ctx));
    vpx_codec_destroy(&e->ctx);
    free(e);
    return FL_EIO;
fail_free:
    fl_log(FL_LOG_WARN, "vp8 encoder init %dx%d: %s", width, height, vpx_codec_err_to_string(err));
    free(e);
    return FL_EIO;
}

int fl__vp8_enc_encode(fl__vp8_enc *e,
                       const fl__yuv *f,
                       int64_t pts,
                       int force_key,
                       fl__vp8_frame_fn fn,
                       void *arg)
{
    if (f->width != e->width || f->height != e->height)
        return FL_EINVAL;
    /* An image header over the caller's planes, which need not be contiguous. */
    vpx_image_t img;
    if (!vpx_img_wrap(&img, VPX_IMG_FMT_I420, (unsigned)f->width, (unsigned)f->height, 1,
                      f->plane[0]))
        return FL_EIO;
    for (int i = 0; i < 3; i++) {
        img.planes[i] = f->plane[i];
        img.stride[i] = f->stride[i];
    }
    vpx_enc_frame_flags_t flags = force_key ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&e->ctx, &img, pts, 1, flags, VPX_DL_REALTIME) != VPX_CODEC_OK) {
        fl_log(FL_LOG_WARN, "vp8 encode: %s", vpx_codec_error(&e->ctx));
        return FL_EIO;
    }
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
            continue;
        int key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        int r = fn(arg, pkt->data.frame.buf, pkt->data.frame.sz, key);
        if (r != 0)
            return r;
    }
    return 0;
}

void fl__vp8_enc_destroy(fl__vp8_enc *e)
{
    if (!e)
        return;
    vpx_codec_destroy(&e->ctx);
    free(e);
}
