/* Video decoders: VP8 and VP9 through libvpx, H.264 through openh264. Each
 * gives a view of the library's own output planes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wels/codec_api.h>

#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec_int.h"
#include "codec/coder.h"

FL_LOG_TAG("codec");

/* openh264 takes the length as an int. */
#define H264_MAX_AU (64u << 20)
/* Largest picture side decoded: a bigger one is refused before the
 * decoder allocates for it (a stream could declare 65535 x 65535). */
#define MAX_SIDE 4096

struct fl_vdec {
    fl_codec_kind kind;
    vpx_codec_ctx_t vpx;
    ISVCDecoder *h264;
    fl__grow annexb; /* H.264: the access unit with start codes */
};

static int vpx_start(fl_vdec *d)
{
    vpx_codec_dec_cfg_t cfg = { .threads = 1 };
    vpx_codec_iface_t *iface = d->kind == FL_CODEC_VP8 ? vpx_codec_vp8_dx() : vpx_codec_vp9_dx();
    vpx_codec_err_t err = vpx_codec_dec_init(&d->vpx, iface, &cfg, 0);
    if (err != VPX_CODEC_OK) {
        fl_log(FL_LOG_WARN, "vpx decoder init: %s", vpx_codec_err_to_string(err));
        return FL_EIO;
    }
    return 0;
}

static int h264_start(fl_vdec *d)
{
    if (WelsCreateDecoder(&d->h264) != 0 || !d->h264) {
        d->h264 = NULL;
        return FL_EIO;
    }
    int quiet = WELS_LOG_QUIET;
    (*d->h264)->SetOption(d->h264, DECODER_OPTION_TRACE_LEVEL, &quiet);
    SDecodingParam p;
    memset(&p, 0, sizeof(p));
    p.sVideoProperty.size = sizeof(p.sVideoProperty);
    p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    /* No concealment: a picture with a reference missing is refused, and
     * the caller asks for a key frame rather than pass on a smeared one. */
    p.eEcActiveIdc = ERROR_CON_DISABLE;
    if ((*d->h264)->Initialize(d->h264, &p) != 0) {
        WelsDestroyDecoder(d->h264);
        d->h264 = NULL;
        return FL_EIO;
    }
    return 0;
}

int fl_vdec_create(fl_vdec **out, fl_codec_kind kind)
{
    if (!out || (kind != FL_CODEC_VP8 && kind != FL_CODEC_VP9 && kind != FL_CODEC_H264))
        return FL_EINVAL;
    fl_vdec *d = calloc(1, sizeof(*d));
    if (!d)
        return FL_ENOMEM;
    d->kind = kind;
    int r = kind == FL_CODEC_H264 ? h264_start(d) : vpx_start(d);
    if (r != 0) {
        free(d);
        return r;
    }
    *out = d;
    return 0;
}

void fl_vdec_destroy(fl_vdec *d)
{
    if (!d)
        return;
    if (d->kind == FL_CODEC_H264) {
        (*d->h264)->Uninitialize(d->h264);
        WelsDestroyDecoder(d->h264);
    } else {
        vpx_codec_destroy(&d->vpx);
    }
    free(d->annexb.p);
    free(d);
}

static int vpx_decode(fl_vdec *d, const uint8_t *data, size_t len, fl_picture *pic)
{
    if (len > UINT32_MAX)
        return FL_EBADMSG;
    vpx_codec_stream_info_t si = { .sz = sizeof(si) };
    vpx_codec_iface_t *iface = d->kind == FL_CODEC_VP8 ? vpx_codec_vp8_dx() : vpx_codec_vp9_dx();
    if (vpx_codec_peek_stream_info(iface, data, (unsigned)len, &si) == VPX_CODEC_OK &&
        (si.w > MAX_SIDE || si.h > MAX_SIDE))
        return FL_EBADMSG;
    if (vpx_codec_decode(&d->vpx, data, (unsigned)len, NULL, 0) != VPX_CODEC_OK) {
        fl_log(FL_LOG_DEBUG, "vpx decode: %s", vpx_codec_error(&d->vpx));
        return FL_EBADMSG;
    }
    vpx_codec_iter_t iter = NULL;
    vpx_image_t *img, *last = NULL;
    while ((img = vpx_codec_get_frame(&d->vpx, &iter)) != NULL)
        last = img;
    if (!last)
        return 0;
    /* VP9 profiles 1-3 (4:2:2, 4:4:4, high bit depth) are not I420. */
    if (last->fmt != VPX_IMG_FMT_I420 || last->d_w < 2 || last->d_h < 2)
        return FL_EBADMSG;
    for (int i = 0; i < 3; i++) {
        pic->plane[i] = last->planes[i];
        pic->stride[i] = last->stride[i];
    }
    pic->width = (int)last->d_w;
    pic->height = (int)last->d_h;
    return 1;
}

/* AVC form (4-byte lengths) to Annex B (4-byte start codes), in place of
 * the lengths: the sizes match. An SPS of a picture over MAX_SIDE is
 * refused. */
static int to_annexb(fl_vdec *d, const uint8_t *data, size_t len)
{
    d->annexb.len = 0;
    if (fl__grow_reserve(&d->annexb, len) != 0)
        return FL_ENOMEM;
    size_t at = 0;
    while (at < len) {
        if (len - at < 5)
            return FL_EBADMSG;
        size_t n = (size_t)data[at] << 24 | (size_t)data[at + 1] << 16 | (size_t)data[at + 2] << 8 |
                   data[at + 3];
        if (n == 0 || n > len - at - 4)
            return FL_EBADMSG;
        fl_h264_sps sps;
        if ((data[at + 4] & FL__H264_NAL_TYPE) == FL__H264_NAL_SPS &&
            fl_h264_sps_parse(&sps, data + at + 4, n) == 0 &&
            (sps.width > MAX_SIDE || sps.height > MAX_SIDE))
            return FL_EBADMSG;
        uint8_t *w = d->annexb.p + at;
        w[0] = 0;
        w[1] = 0;
        w[2] = 0;
        w[3] = 1;
        memcpy(w + 4, data + at + 4, n);
        at += 4 + n;
    }
    d->annexb.len = len;
    return 0;
}

static int h264_decode(fl_vdec *d, const uint8_t *data, size_t len, fl_picture *pic)
{
    if (len > H264_MAX_AU)
        return FL_EBADMSG;
    int r = to_annexb(d, data, len);
    if (r != 0)
        return r;
    uint8_t *planes[3] = { NULL, NULL, NULL };
    SBufferInfo info;
    memset(&info, 0, sizeof(info));
    DECODING_STATE s =
            (*d->h264)->DecodeFrameNoDelay(d->h264, d->annexb.p, (int)d->annexb.len, planes, &info);
    if (s != dsErrorFree) {
        fl_log(FL_LOG_DEBUG, "h264 decode: state 0x%x", (unsigned)s);
        return FL_EBADMSG;
    }
    if (info.iBufferStatus != 1)
        return 0;
    const SSysMEMBuffer *b = &info.UsrData.sSystemBuffer;
    if (!planes[0] || !planes[1] || !planes[2] || b->iWidth < 2 || b->iHeight < 2)
        return FL_EBADMSG;
    pic->plane[0] = planes[0];
    pic->plane[1] = planes[1];
    pic->plane[2] = planes[2];
    pic->stride[0] = b->iStride[0];
    pic->stride[1] = b->iStride[1];
    pic->stride[2] = b->iStride[1];
    pic->width = b->iWidth;
    pic->height = b->iHeight;
    return 1;
}

int fl_vdec_decode(fl_vdec *d, const uint8_t *data, size_t len, fl_picture *pic)
{
    if (!d || !data || len == 0 || !pic)
        return FL_EINVAL;
    if (d->kind == FL_CODEC_H264)
        return h264_decode(d, data, len, pic);
    return vpx_decode(d, data, len, pic);
}
