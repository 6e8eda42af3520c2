/* Video encoders as a WebRTC sender runs them: VP8 and VP9 through libvpx,
 * H.264 (Constrained Baseline) through openh264. One pass, CBR, no lag, key
 * frames only when asked. The output goes into a buffer of the encoder's
 * that grows to the largest frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wels/codec_api.h>

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec_int.h"
#include "codec/coder.h"

FL_LOG_TAG("codec");

/* libvpx speed: VP8 -16..16 (libwebrtc: -6 at 640x480 on a desktop), VP9
 * realtime 5..9 (libwebrtc: 7 or 8 above 352x288). */
#define VP8_CPU_USED (-6)
#define VP9_SPEED    7
/* VP9 adaptive quantization: 3 is cyclic refresh, libwebrtc's choice. */
#define VP9_AQ_CYCLIC 3
/* Frame dropping when the buffer runs low, percent (libwebrtc's 30). */
#define VPX_DROP_THRESH 30

struct fl_venc {
    fl_venc_config cfg;
    vpx_codec_ctx_t vpx;
    vpx_codec_enc_cfg_t vpx_cfg;
    ISVCEncoder *h264;
    int started; /* a frame has been encoded: last_ts90k holds */
    uint32_t last_ts;
    int64_t pts; /* ts90k unwrapped */
    fl__grow out;
};

static int clamp_kbps(int kbps)
{
    return kbps < 10 ? 10 : kbps > 100000 ? 100000 : kbps;
}

static int config_ok(const fl_venc_config *c)
{
    return (c->kind == FL_CODEC_VP8 || c->kind == FL_CODEC_VP9 || c->kind == FL_CODEC_H264) &&
           c->width >= 16 && c->width <= 4096 && c->height >= 16 && c->height <= 4096 &&
           c->width % 2 == 0 && c->height % 2 == 0 && c->fps >= 1 && c->fps <= 120 &&
           c->kbps >= 10 && c->kbps <= 100000;
}

/* ---- libvpx ---- */

static void vpx_set_config(vpx_codec_enc_cfg_t *v, const fl_venc_config *c)
{
    v->g_w = (unsigned)c->width;
    v->g_h = (unsigned)c->height;
    v->g_timebase.num = 1;
    v->g_timebase.den = 90000;
    v->g_threads = 1;
    v->g_lag_in_frames = 0;
    v->g_pass = VPX_RC_ONE_PASS;
    v->g_error_resilient = 0;
    v->rc_end_usage = VPX_CBR;
    v->rc_target_bitrate = (unsigned)c->kbps;
    v->rc_min_quantizer = 2;
    v->rc_max_quantizer = c->kind == FL_CODEC_VP9 ? 52 : 56;
    v->rc_undershoot_pct = c->kind == FL_CODEC_VP9 ? 50 : 100;
    v->rc_overshoot_pct = 15;
    v->rc_buf_initial_sz = 500;
    v->rc_buf_optimal_sz = 600;
    v->rc_buf_sz = 1000;
    v->rc_dropframe_thresh = VPX_DROP_THRESH;
    v->rc_resize_allowed = 0;
    v->kf_mode = VPX_KF_DISABLED;
}

static int vpx_controls(fl_venc *e)
{
    vpx_codec_ctx_t *x = &e->vpx;
    if (e->cfg.kind == FL_CODEC_VP8)
        return vpx_codec_control(x, VP8E_SET_CPUUSED, VP8_CPU_USED) != VPX_CODEC_OK ||
               vpx_codec_control(x, VP8E_SET_NOISE_SENSITIVITY, 0u) != VPX_CODEC_OK ||
               vpx_codec_control(x, VP8E_SET_STATIC_THRESHOLD, 1u) != VPX_CODEC_OK ||
               vpx_codec_control(x, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION) !=
                       VPX_CODEC_OK ||
               vpx_codec_control(x, VP8E_SET_MAX_INTRA_BITRATE_PCT, 900u) != VPX_CODEC_OK;
    return vpx_codec_control(x, VP8E_SET_CPUUSED, VP9_SPEED) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP9E_SET_ROW_MT, 0u) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP9E_SET_AQ_MODE, (unsigned)VP9_AQ_CYCLIC) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP9E_SET_TILE_COLUMNS, 0) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP9E_SET_FRAME_PARALLEL_DECODING, 0u) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP8E_SET_STATIC_THRESHOLD, 1u) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP8E_SET_MAX_INTRA_BITRATE_PCT, 900u) != VPX_CODEC_OK ||
           /* the colours, in the header: BT.601 studio range (see h264_params) */
           vpx_codec_control(x, VP9E_SET_COLOR_SPACE, (int)VPX_CS_BT_601) != VPX_CODEC_OK ||
           vpx_codec_control(x, VP9E_SET_COLOR_RANGE, (int)VPX_CR_STUDIO_RANGE) != VPX_CODEC_OK;
}

static int vpx_start(fl_venc *e)
{
    vpx_codec_iface_t *iface =
            e->cfg.kind == FL_CODEC_VP8 ? vpx_codec_vp8_cx() : vpx_codec_vp9_cx();
    vpx_codec_err_t err = vpx_codec_enc_config_default(iface, &e->vpx_cfg, 0);
    if (err == VPX_CODEC_OK) {
        vpx_set_config(&e->vpx_cfg, &e->cfg);
        err = vpx_codec_enc_init(&e->vpx, iface, &e->vpx_cfg, 0);
    }
    if (err != VPX_CODEC_OK) {
        fl_log(FL_LOG_WARN, "vpx encoder init %dx%d: %s", e->cfg.width, e->cfg.height,
               vpx_codec_err_to_string(err));
        return FL_EIO;
    }
    if (vpx_controls(e)) {
        fl_log(FL_LOG_WARN, "vpx encoder setup: %s", vpx_codec_error(&e->vpx));
        vpx_codec_destroy(&e->vpx);
        return FL_EIO;
    }
    return 0;
}

static int vpx_encode(fl_venc *e, const fl_picture *pic, int force_key, fl_venc_frame *out)
{
    /* An image header over the caller's planes. */
    vpx_image_t img;
    if (!vpx_img_wrap(&img, VPX_IMG_FMT_I420, (unsigned)pic->width, (unsigned)pic->height, 1,
                      pic->plane[0]))
        return FL_EIO;
    for (int i = 0; i < 3; i++) {
        img.planes[i] = pic->plane[i];
        img.stride[i] = pic->stride[i];
    }
    unsigned long duration = 90000u / (unsigned)e->cfg.fps;
    vpx_enc_frame_flags_t flags = force_key ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&e->vpx, &img, e->pts, duration, flags, VPX_DL_REALTIME) != VPX_CODEC_OK) {
        fl_log(FL_LOG_WARN, "vpx encode: %s", vpx_codec_error(&e->vpx));
        return FL_EIO;
    }
    e->out.len = 0;
    int key = 0, got = 0;
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    while ((pkt = vpx_codec_get_cx_data(&e->vpx, &iter)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT || pkt->data.frame.sz == 0)
            continue;
        /* One packet a frame (libvpx writes a VP9 superframe itself). */
        e->out.len = 0;
        if (fl__grow_reserve(&e->out, pkt->data.frame.sz) != 0)
            return FL_EIO;
        memcpy(e->out.p, pkt->data.frame.buf, pkt->data.frame.sz);
        e->out.len = pkt->data.frame.sz;
        key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        got = 1;
    }
    if (!got)
        return 0;
    out->data = e->out.p;
    out->len = e->out.len;
    out->key = key;
    return 1;
}

/* ---- openh264 ---- */

static void h264_params(SEncParamExt *p, const fl_venc_config *c)
{
    p->iUsageType = CAMERA_VIDEO_REAL_TIME;
    p->iPicWidth = c->width;
    p->iPicHeight = c->height;
    p->iTargetBitrate = c->kbps * 1000;
    p->iMaxBitrate = UNSPECIFIED_BIT_RATE;
    p->iRCMode = RC_BITRATE_MODE;
    p->fMaxFrameRate = (float)c->fps;
    p->bEnableFrameSkip = true;
    p->uiIntraPeriod = 0;
    p->iTemporalLayerNum = 1;
    p->iSpatialLayerNum = 1;
    p->iNumRefFrame = 1;
    p->eSpsPpsIdStrategy = CONSTANT_ID;
    p->bPrefixNalAddingCtrl = false;
    p->bEnableSSEI = false;
    p->bSimulcastAVC = false;
    p->iPaddingFlag = 0;
    p->iEntropyCodingModeFlag = 0; /* CAVLC: Baseline */
    p->iMultipleThreadIdc = 1;
    p->bEnableDenoise = false;
    p->bEnableBackgroundDetection = true;
    p->bEnableAdaptiveQuant = true;
    p->bEnableFrameCroppingFlag = true;
    p->bEnableSceneChangeDetect = false;
    p->bEnableLongTermReference = false;
    SSpatialLayerConfig *l = &p->sSpatialLayers[0];
    l->iVideoWidth = c->width;
    l->iVideoHeight = c->height;
    l->fFrameRate = (float)c->fps;
    l->iSpatialBitrate = p->iTargetBitrate;
    l->iMaxSpatialBitrate = p->iMaxBitrate;
    l->uiProfileIdc = PRO_BASELINE;
    l->uiLevelIdc = LEVEL_UNKNOWN; /* the encoder picks the least that fits */
    l->sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
    l->sSliceArgument.uiSliceNum = 1;
    /* the colours, said in the VUI: a decoder that is not told takes
     * H.264 for BT.709 and shows BT.601 pictures (what cameras and the VP8
     * and VP9 decoders give) too dark and too saturated */
    l->bVideoSignalTypePresent = true;
    l->uiVideoFormat = VF_UNDEF;
    l->bFullRange = false;
    l->bColorDescriptionPresent = true;
    l->uiColorPrimaries = CP_SMPTE170M;
    l->uiTransferCharacteristics = TRC_SMPTE170M;
    l->uiColorMatrix = CM_SMPTE170M;
}

static int h264_start(fl_venc *e)
{
    if (WelsCreateSVCEncoder(&e->h264) != 0 || !e->h264) {
        e->h264 = NULL;
        return FL_EIO;
    }
    int quiet = WELS_LOG_QUIET;
    (*e->h264)->SetOption(e->h264, ENCODER_OPTION_TRACE_LEVEL, &quiet);
    SEncParamExt p;
    memset(&p, 0, sizeof(p));
    int rc = (*e->h264)->GetDefaultParams(e->h264, &p);
    if (rc == 0) {
        h264_params(&p, &e->cfg);
        rc = (*e->h264)->InitializeExt(e->h264, &p);
    }
    if (rc != 0) {
        fl_log(FL_LOG_WARN, "openh264 encoder init %dx%d: %d", e->cfg.width, e->cfg.height, rc);
        WelsDestroySVCEncoder(e->h264);
        e->h264 = NULL;
        return FL_EIO;
    }
    int fmt = videoFormatI420;
    (*e->h264)->SetOption(e->h264, ENCODER_OPTION_DATAFORMAT, &fmt);
    return 0;
}

/* Copies every layer's NAL units (start codes included) into e->out. */
static int h264_collect(fl_venc *e, const SFrameBSInfo *info)
{
    e->out.len = 0;
    for (int i = 0; i < info->iLayerNum && i < MAX_LAYER_NUM_OF_FRAME; i++) {
        const SLayerBSInfo *l = &info->sLayerInfo[i];
        size_t n = 0;
        for (int k = 0; k < l->iNalCount; k++)
            n += (size_t)l->pNalLengthInByte[k];
        if (n == 0)
            continue;
        if (fl__grow_reserve(&e->out, n) != 0)
            return FL_EIO;
        memcpy(e->out.p + e->out.len, l->pBsBuf, n);
        e->out.len += n;
    }
    return 0;
}

static int h264_encode(fl_venc *e, const fl_picture *pic, int force_key, fl_venc_frame *out)
{
    if (force_key)
        (*e->h264)->ForceIntraFrame(e->h264, true);
    SSourcePicture src;
    memset(&src, 0, sizeof(src));
    src.iColorFormat = videoFormatI420;
    src.iPicWidth = pic->width;
    src.iPicHeight = pic->height;
    for (int i = 0; i < 3; i++) {
        src.pData[i] = pic->plane[i];
        src.iStride[i] = pic->stride[i];
    }
    src.uiTimeStamp = e->pts / 90;
    SFrameBSInfo info;
    memset(&info, 0, sizeof(info));
    int rc = (*e->h264)->EncodeFrame(e->h264, &src, &info);
    if (rc != cmResultSuccess) {
        fl_log(FL_LOG_WARN, "openh264 encode: %d", rc);
        return FL_EIO;
    }
    if (info.eFrameType == videoFrameTypeSkip || info.eFrameType == videoFrameTypeInvalid)
        return 0;
    if (h264_collect(e, &info) != 0)
        return FL_EIO;
    if (e->out.len == 0)
        return 0;
    out->data = e->out.p;
    out->len = e->out.len;
    out->key = info.eFrameType == videoFrameTypeIDR;
    return 1;
}

/* ---- the interface ---- */

int fl_venc_create(fl_venc **out, const fl_venc_config *cfg)
{
    if (!out || !cfg || !config_ok(cfg))
        return FL_EINVAL;
    fl_venc *e = calloc(1, sizeof(*e));
    if (!e)
        return FL_ENOMEM;
    e->cfg = *cfg;
    int r = cfg->kind == FL_CODEC_H264 ? h264_start(e) : vpx_start(e);
    if (r != 0) {
        free(e);
        return r;
    }
    *out = e;
    return 0;
}

void fl_venc_destroy(fl_venc *e)
{
    if (!e)
        return;
    if (e->cfg.kind == FL_CODEC_H264) {
        (*e->h264)->Uninitialize(e->h264);
        WelsDestroySVCEncoder(e->h264);
    } else {
        vpx_codec_destroy(&e->vpx);
    }
    free(e->out.p);
    free(e);
}

int fl_venc_encode(fl_venc *e,
                   const fl_picture *pic,
                   uint32_t ts90k,
                   int force_key,
                   fl_venc_frame *out)
{
    if (!e || !pic || !out || !pic->plane[0] || !pic->plane[1] || !pic->plane[2] ||
        pic->width != e->cfg.width || pic->height != e->cfg.height)
        return FL_EINVAL;
    /* The first frame is a key frame whatever the libraries think. */
    if (!e->started) {
        force_key = 1;
        e->started = 1;
        e->pts = 0;
    } else {
        uint32_t step = ts90k - e->last_ts;
        /* Time never goes back for rate control: a step back or a jump of
         * more than half the clock counts as one frame interval. */
        if (step == 0 || step > 0x80000000u)
            step = 90000u / (uint32_t)e->cfg.fps;
        e->pts += step;
    }
    e->last_ts = ts90k;
    if (e->cfg.kind == FL_CODEC_H264)
        return h264_encode(e, pic, force_key, out);
    return vpx_encode(e, pic, force_key, out);
}

int fl_venc_set_bitrate(fl_venc *e, int kbps)
{
    if (!e)
        return FL_EIO;
    kbps = clamp_kbps(kbps);
    e->cfg.kbps = kbps;
    if (e->cfg.kind == FL_CODEC_H264) {
        SBitrateInfo b = { .iLayer = SPATIAL_LAYER_ALL, .iBitrate = kbps * 1000 };
        if ((*e->h264)->SetOption(e->h264, ENCODER_OPTION_BITRATE, &b) != 0)
            return FL_EIO;
        return 0;
    }
    e->vpx_cfg.rc_target_bitrate = (unsigned)kbps;
    if (vpx_codec_enc_config_set(&e->vpx, &e->vpx_cfg) != VPX_CODEC_OK) {
        fl_log(FL_LOG_WARN, "vpx bitrate %d: %s", kbps, vpx_codec_error(&e->vpx));
        return FL_EIO;
    }
    return 0;
}
