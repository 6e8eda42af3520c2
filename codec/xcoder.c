/* One transcode: decode, convert, encode (see xcoder.h). */
#include "codec/xcoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/coder.h"

#define AUDIO_OUT_MAX 8    /* frames one push can make: 120 ms in, 20 ms out, and one left over */
#define AUDIO_PAYLOAD 1275 /* the largest Opus packet */
#define VIDEO_FPS_DEF 30

struct fl_xcoder {
    fl_xcoder_config cfg;
    int video;
    int kbps;
    fl_xcoder_stats st;
    /* video */
    fl_vdec *vdec;
    fl_venc *venc;
    int enc_w, enc_h;
    int failed_w, failed_h; /* the size an encoder could not be made for */
    fl_picture scaled;
    int force_key;
    int have_last;
    uint32_t last_ts;
    fl_xcoder_frame vout;
    int vready;
    /* audio */
    fl_adec *adec;
    fl_aenc *aenc;
    fl_resampler *rs;
    int in_rate, out_rate, channels, frame; /* frame: samples per channel of one output */
    int16_t *dec;                           /* FL_AUDIO_MAX_FRAME x channels */
    int16_t *fifo;                          /* resampled, not yet encoded */
    size_t fifo_len, fifo_cap;              /* samples per channel */
    uint64_t fifo_ts;                       /* output clock, unwrapped: the fifo's first sample */
    int ts_known;
    uint64_t in_ext; /* the last input timestamp, unwrapped */
    uint64_t in_next;
    uint8_t *aout; /* AUDIO_OUT_MAX payloads */
    fl_xcoder_frame afr[AUDIO_OUT_MAX];
    size_t an, ai;
};

static int is_video(fl_codec_kind k)
{
    return k == FL_CODEC_VP8 || k == FL_CODEC_VP9 || k == FL_CODEC_H264;
}

static int is_audio(fl_codec_kind k)
{
    return k == FL_CODEC_OPUS || k == FL_CODEC_PCMU || k == FL_CODEC_PCMA;
}

int fl_xcoder_supports(fl_codec_kind in, fl_codec_kind out)
{
    return (is_video(in) && is_video(out)) || (is_audio(in) && is_audio(out));
}

/* A bitrate within what the output codec takes. */
static int clamp_kbps(const fl_xcoder *x, int kbps)
{
    int lo = x->video ? 10 : 6, hi = x->video ? 100000 : 510;
    if (kbps <= 0)
        return 0;
    return kbps < lo ? lo : kbps > hi ? hi : kbps;
}

static int audio_setup(fl_xcoder *x)
{
    int ch = x->cfg.out_channels == 2 && x->cfg.out == FL_CODEC_OPUS ? 2 : 1;
    x->channels = ch;
    int rc = fl_adec_create(&x->adec, x->cfg.in, ch);
    if (rc < 0)
        return rc;
    fl_aenc_config ac = { .kind = x->cfg.out, .channels = ch, .kbps = x->kbps };
    if ((rc = fl_aenc_create(&x->aenc, &ac)) < 0)
        return rc;
    x->in_rate = fl_adec_rate(x->adec);
    x->out_rate = fl_aenc_rate(x->aenc);
    x->frame = fl_aenc_frame_samples(x->aenc);
    if ((rc = fl_resampler_create(&x->rs, x->in_rate, x->out_rate, ch)) < 0)
        return rc;
    /* a whole decoded frame resampled, plus less than one output frame left */
    x->fifo_cap = (size_t)FL_AUDIO_MAX_FRAME * (size_t)x->out_rate / (size_t)x->in_rate + 4 +
                  (size_t)x->frame;
    x->dec = malloc(sizeof(int16_t) * FL_AUDIO_MAX_FRAME * (size_t)ch);
    x->fifo = malloc(sizeof(int16_t) * x->fifo_cap * (size_t)ch);
    x->aout = malloc(AUDIO_OUT_MAX * AUDIO_PAYLOAD);
    return x->dec && x->fifo && x->aout ? 0 : FL_ENOMEM;
}

int fl_xcoder_create(fl_xcoder **out, const fl_xcoder_config *cfg)
{
    if (!out || !cfg || !fl_xcoder_supports(cfg->in, cfg->out) || cfg->max_width < 0 ||
        cfg->max_height < 0 || cfg->max_fps < 0 || cfg->max_fps > 120 || cfg->kbps < 0)
        return FL_EINVAL;
    fl_xcoder *x = calloc(1, sizeof(*x));
    if (!x)
        return FL_ENOMEM;
    x->cfg = *cfg;
    x->video = is_video(cfg->in);
    x->kbps = cfg->kbps ? clamp_kbps(x, cfg->kbps) : x->video ? 1000 : 0;
    int rc = x->video ? fl_vdec_create(&x->vdec, cfg->in) : audio_setup(x);
    if (rc < 0) {
        fl_xcoder_destroy(x);
        return rc;
    }
    x->force_key = 1;
    *out = x;
    return 0;
}

void fl_xcoder_destroy(fl_xcoder *x)
{
    if (!x)
        return;
    fl_vdec_destroy(x->vdec);
    fl_venc_destroy(x->venc);
    fl_picture_free(&x->scaled);
    fl_adec_destroy(x->adec);
    fl_aenc_destroy(x->aenc);
    fl_resampler_destroy(x->rs);
    free(x->dec);
    free(x->fifo);
    free(x->aout);
    free(x);
}

/* ---- video ---- */

/* Macroblocks in a picture H.264's highest level takes (level 5.2). */
#define H264_MAX_MBS 36864

/* The size to encode: the picture's, within the caps (and what the
 * encoder takes), aspect kept, even. */
static void out_size(const fl_xcoder *x, int w, int h, int *ow, int *oh)
{
    double s = 1.0;
    if (x->cfg.max_width && w > x->cfg.max_width)
        s = (double)x->cfg.max_width / w;
    if (x->cfg.max_height && h * s > x->cfg.max_height)
        s = (double)x->cfg.max_height / h;
    if (w * s > 4096)
        s = 4096.0 / w;
    if (h * s > 4096)
        s = 4096.0 / h;
    double mbs = ((w * s + 15) / 16) * ((h * s + 15) / 16);
    if (x->cfg.out == FL_CODEC_H264 && mbs > H264_MAX_MBS)
        s *= sqrt(H264_MAX_MBS / mbs) * 0.99;
    *ow = (int)(w * s) & ~1;
    *oh = (int)(h * s) & ~1;
    if (*ow < 16)
        *ow = 16;
    if (*oh < 16)
        *oh = 16;
}

static int video_encoder(fl_xcoder *x, int w, int h)
{
    if (x->venc && x->enc_w == w && x->enc_h == h)
        return 0;
    if (!x->venc && x->failed_w == w && x->failed_h == h)
        return FL_EIO; /* this size failed already: not tried per frame */
    fl_venc_destroy(x->venc);
    x->venc = NULL;
    fl_venc_config vc = { .kind = x->cfg.out,
                          .width = w,
                          .height = h,
                          .fps = x->cfg.max_fps ? x->cfg.max_fps : VIDEO_FPS_DEF,
                          .kbps = x->kbps };
    int rc = fl_venc_create(&x->venc, &vc);
    if (rc < 0) {
        x->failed_w = w;
        x->failed_h = h;
        return rc;
    }
    x->enc_w = w;
    x->enc_h = h;
    x->force_key = 1;
    x->st.encoders++;
    return 0;
}

static int video_push(fl_xcoder *x, const uint8_t *data, size_t len, uint32_t ts, int encode)
{
    fl_picture pic;
    int rc = fl_vdec_decode(x->vdec, data, len, &pic);
    if (rc < 0) {
        x->st.decode_errors++;
        return FL_EBADMSG;
    }
    if (rc == 0)
        return 0;
    x->st.decoded++;
    int32_t since = (int32_t)(ts - x->last_ts);
    if (x->cfg.max_fps && x->have_last && since >= 0 && since < 90000 * 5 &&
        since < 90000 / x->cfg.max_fps * 7 / 8)
        encode = 0; /* within the frame rate cap: this one is thinned out (a
                     * jump back or far ahead is a new timeline: not thinned) */
    if (!encode) {
        x->st.skipped++;
        return 0;
    }
    int w, h;
    out_size(x, pic.width, pic.height, &w, &h);
    if ((rc = video_encoder(x, w, h)) < 0)
        return rc;
    const fl_picture *src = &pic;
    if (w != pic.width || h != pic.height) {
        if (x->scaled.width != w || x->scaled.height != h) {
            fl_picture_free(&x->scaled);
            if ((rc = fl_picture_alloc(&x->scaled, w, h)) < 0)
                return rc;
        }
        if ((rc = fl_picture_scale(&pic, &x->scaled)) < 0)
            return rc;
        src = &x->scaled;
    }
    fl_venc_frame f;
    rc = fl_venc_encode(x->venc, src, ts, x->force_key, &f);
    if (rc < 0)
        return FL_EIO;
    if (rc == 0) {
        x->st.rate_dropped++;
        return 0;
    }
    x->force_key = 0;
    x->have_last = 1;
    x->last_ts = ts;
    x->st.encoded++;
    x->st.key_frames += f.key != 0;
    x->vout = (fl_xcoder_frame){
        .data = f.data, .len = f.len, .ts = ts, .key = f.key, .width = w, .height = h
    };
    x->vready = 1;
    return 0;
}

/* ---- audio ---- */

static uint64_t unwrap(fl_xcoder *x, uint32_t ts)
{
    if (!x->ts_known)
        x->in_ext = ts;
    else
        x->in_ext += (uint64_t)(int64_t)(int32_t)(ts - (uint32_t)x->in_ext);
    return x->in_ext;
}

static int audio_push(fl_xcoder *x, const uint8_t *data, size_t len, uint32_t ts, int encode)
{
    int n = fl_adec_decode(x->adec, data, len, x->dec, FL_AUDIO_MAX_FRAME);
    if (n < 0) {
        x->st.decode_errors++;
        return FL_EBADMSG;
    }
    x->st.decoded++;
    uint64_t in = unwrap(x, ts);
    /* a gap or a jump (loss, a new source): the fifo's time starts again
     * from this frame, what it held is dropped */
    if (!x->ts_known || in != x->in_next) {
        x->fifo_len = 0;
        x->fifo_ts = in * (uint64_t)x->out_rate / (uint64_t)x->in_rate;
    }
    x->ts_known = 1;
    x->in_next = in + (uint64_t)n;
    size_t got = fl_resample(x->rs, x->dec, (size_t)n, x->fifo + x->fifo_len * (size_t)x->channels,
                             x->fifo_cap - x->fifo_len);
    x->fifo_len += got;
    size_t f = (size_t)x->frame, done = 0;
    while (x->fifo_len - done >= f && x->an < AUDIO_OUT_MAX) {
        const int16_t *pcm = x->fifo + done * (size_t)x->channels;
        uint32_t out_ts = (uint32_t)(x->fifo_ts + done);
        done += f;
        if (!encode) {
            x->st.skipped++;
            continue;
        }
        uint8_t *buf = x->aout + x->an * AUDIO_PAYLOAD;
        int bytes = fl_aenc_encode(x->aenc, pcm, buf, AUDIO_PAYLOAD);
        if (bytes < 0)
            return FL_EIO;
        x->st.encoded++;
        x->afr[x->an++] =
                (fl_xcoder_frame){ .data = buf, .len = (size_t)bytes, .ts = out_ts, .key = 1 };
    }
    if (done) {
        memmove(x->fifo, x->fifo + done * (size_t)x->channels,
                (x->fifo_len - done) * (size_t)x->channels * sizeof(int16_t));
        x->fifo_len -= done;
        x->fifo_ts += done;
    }
    if (x->fifo_len + (size_t)FL_AUDIO_MAX_FRAME * (size_t)x->out_rate / (size_t)x->in_rate + 4 >
        x->fifo_cap)
        x->fifo_len = 0; /* cannot happen with whole frames encoded; kept bounded regardless */
    return 0;
}

int fl_xcoder_push(fl_xcoder *x, const uint8_t *data, size_t len, uint32_t ts, int encode)
{
    if (!x || !data || !len)
        return FL_EINVAL;
    x->vready = 0;
    x->an = x->ai = 0;
    x->st.frames_in++;
    return x->video ? video_push(x, data, len, ts, encode) : audio_push(x, data, len, ts, encode);
}

int fl_xcoder_pull(fl_xcoder *x, fl_xcoder_frame *out)
{
    if (x->video) {
        if (!x->vready)
            return 0;
        x->vready = 0;
        *out = x->vout;
        return 1;
    }
    if (x->ai >= x->an)
        return 0;
    *out = x->afr[x->ai++];
    return 1;
}

void fl_xcoder_force_key(fl_xcoder *x)
{
    x->force_key = 1;
}

void fl_xcoder_set_bitrate(fl_xcoder *x, int kbps)
{
    kbps = clamp_kbps(x, kbps);
    if (kbps <= 0 || kbps == x->kbps)
        return;
    x->kbps = kbps;
    if (x->venc)
        fl_venc_set_bitrate(x->venc, kbps);
    if (x->aenc)
        fl_aenc_set_bitrate(x->aenc, kbps);
}

void fl_xcoder_get_stats(const fl_xcoder *x, fl_xcoder_stats *out)
{
    *out = x->st;
}
