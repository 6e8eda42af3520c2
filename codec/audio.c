/* Audio decoders and encoders: Opus through libopus, G.711 (ITU-T G.711
 * mu-law and A-law) written here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/coder.h"

FL_LOG_TAG("codec");

#define OPUS_RATE        48000
#define OPUS_FRAME       960 /* 20 ms */
#define G711_RATE        8000
#define G711_FRAME       160 /* 20 ms */
#define OPUS_MAX_PAYLOAD 1275
#define G711_MAX_PAYLOAD FL_AUDIO_MAX_FRAME

/* ---- G.711 ----
 *
 * mu-law (G.711 table 2a): the magnitude plus a bias of 0x84 is put as a
 * 3-bit segment (the position of its leading one above bit 7) and the 4
 * bits after the leading one; the code is the inverted sign, segment and
 * mantissa. Decoding gives the middle of the interval. Here on the 16-bit
 * scale (G.711's 14 bits shifted left by 2). A-law (table 1a): 13 bits,
 * segment 0 and 1 with the same step, code bits inverted every other one
 * (XOR 0x55). */

#define ULAW_BIAS 0x84
#define ULAW_CLIP 32635

/* Position of the highest set bit of v (v > 0). */
static int top_bit(unsigned v)
{
    int n = 0;
    while (v >>= 1)
        n++;
    return n;
}

uint8_t fl_g711_ulaw_encode(int16_t s)
{
    int mag = s < 0 ? -(int)s : s;
    uint8_t sign = s < 0 ? 0x80 : 0x00;
    if (mag > ULAW_CLIP)
        mag = ULAW_CLIP;
    mag += ULAW_BIAS;
    int seg = top_bit((unsigned)mag) - 7;
    int mant = (mag >> (seg + 3)) & 0x0f;
    return (uint8_t) ~(sign | (uint8_t)(seg << 4) | (uint8_t)mant);
}

int16_t fl_g711_ulaw_decode(uint8_t u)
{
    u = (uint8_t)~u;
    int seg = (u >> 4) & 7, mant = u & 0x0f;
    int mag = (((mant << 3) + ULAW_BIAS) << seg) - ULAW_BIAS;
    return (int16_t)(u & 0x80 ? -mag : mag);
}

uint8_t fl_g711_alaw_encode(int16_t s)
{
    /* 13 bits; negative values take one less so the two halves mirror. */
    int v = s >> 3;
    uint8_t mask = 0xd5;
    if (v < 0) {
        v = -v - 1;
        mask = 0x55;
    }
    if (v > 0xfff)
        return (uint8_t)(0x7f ^ mask);
    int seg = v < 0x20 ? 0 : top_bit((unsigned)v) - 4;
    int mant = seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
    return (uint8_t)((seg << 4 | mant) ^ mask);
}

int16_t fl_g711_alaw_decode(uint8_t a)
{
    a ^= 0x55;
    int seg = (a >> 4) & 7;
    int v = (a & 0x0f) << 4;
    if (seg == 0)
        v += 8;
    else
        v = (v + 0x108) << (seg - 1);
    return (int16_t)(a & 0x80 ? v : -v);
}

/* ---- decoders ---- */

struct fl_adec {
    fl_codec_kind kind;
    int channels;
    OpusDecoder *opus;
    int last; /* samples per channel of the last frame */
};

int fl_adec_create(fl_adec **out, fl_codec_kind kind, int channels)
{
    if (!out || (channels != 1 && channels != 2) ||
        (kind != FL_CODEC_OPUS && kind != FL_CODEC_PCMU && kind != FL_CODEC_PCMA))
        return FL_EINVAL;
    fl_adec *d = calloc(1, sizeof(*d));
    if (!d)
        return FL_ENOMEM;
    d->kind = kind;
    d->channels = channels;
    d->last = kind == FL_CODEC_OPUS ? OPUS_FRAME : G711_FRAME;
    if (kind == FL_CODEC_OPUS) {
        int err = OPUS_OK;
        d->opus = opus_decoder_create(OPUS_RATE, channels, &err);
        if (!d->opus || err != OPUS_OK) {
            fl_log(FL_LOG_WARN, "opus decoder: %s", opus_strerror(err));
            free(d);
            return err == OPUS_ALLOC_FAIL ? FL_ENOMEM : FL_EIO;
        }
    }
    *out = d;
    return 0;
}

void fl_adec_destroy(fl_adec *d)
{
    if (!d)
        return;
    if (d->opus)
        opus_decoder_destroy(d->opus);
    free(d);
}

int fl_adec_rate(const fl_adec *d)
{
    return d->kind == FL_CODEC_OPUS ? OPUS_RATE : G711_RATE;
}

static int opus_dec(fl_adec *d, const uint8_t *data, size_t len, int16_t *pcm, size_t cap)
{
    int frame = (int)(cap > FL_AUDIO_MAX_FRAME ? FL_AUDIO_MAX_FRAME : cap);
    int n;
    if (!data) {
        /* Concealment: the last frame's length, in whole 2.5 ms steps. */
        int want = d->last < frame ? d->last : frame;
        want -= want % 120;
        if (want <= 0)
            return FL_EINVAL;
        n = opus_decode(d->opus, NULL, 0, pcm, want, 0);
    } else {
        if (len > 0x7fffffff)
            return FL_EBADMSG;
        n = opus_decode(d->opus, data, (opus_int32)len, pcm, frame, 0);
    }
    if (n == OPUS_BUFFER_TOO_SMALL)
        return FL_EINVAL;
    if (n < 0)
        return FL_EBADMSG;
    if (data && n > 0)
        d->last = n;
    return n;
}

static int g711_dec(fl_adec *d, const uint8_t *data, size_t len, int16_t *pcm, size_t cap)
{
    int ch = d->channels;
    if (!data) {
        size_t n = (size_t)d->last < cap ? (size_t)d->last : cap;
        memset(pcm, 0, n * (size_t)ch * sizeof(*pcm));
        return (int)n;
    }
    if (len > cap || len > G711_MAX_PAYLOAD)
        return FL_EINVAL;
    int ulaw = d->kind == FL_CODEC_PCMU;
    for (size_t i = 0; i < len; i++) {
        int16_t s = ulaw ? fl_g711_ulaw_decode(data[i]) : fl_g711_alaw_decode(data[i]);
        pcm[i * (size_t)ch] = s;
        if (ch == 2)
            pcm[i * 2 + 1] = s;
    }
    d->last = (int)len;
    return (int)len;
}

int fl_adec_decode(fl_adec *d, const uint8_t *data, size_t len, int16_t *pcm, size_t cap)
{
    if (!d || !pcm || cap == 0 || (data && len == 0))
        return FL_EINVAL;
    if (d->kind == FL_CODEC_OPUS)
        return opus_dec(d, data, len, pcm, cap);
    return g711_dec(d, data, len, pcm, cap);
}

/* ---- encoders ---- */

struct fl_aenc {
    fl_codec_kind kind;
    int channels;
    OpusEncoder *opus;
};

static int opus_enc_start(fl_aenc *e, const fl_aenc_config *cfg)
{
    int app = cfg->channels == 1 ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO;
    int err = OPUS_OK;
    e->opus = opus_encoder_create(OPUS_RATE, cfg->channels, app, &err);
    if (!e->opus || err != OPUS_OK) {
        fl_log(FL_LOG_WARN, "opus encoder: %s", opus_strerror(err));
        return err == OPUS_ALLOC_FAIL ? FL_ENOMEM : FL_EIO;
    }
    int kbps = cfg->kbps ? cfg->kbps : cfg->channels == 1 ? 32 : 64;
    err = opus_encoder_ctl(e->opus, OPUS_SET_BITRATE(kbps * 1000));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(e->opus, OPUS_SET_VBR(1));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(e->opus, OPUS_SET_INBAND_FEC(0));
    if (err != OPUS_OK) {
        fl_log(FL_LOG_WARN, "opus encoder ctl: %s", opus_strerror(err));
        opus_encoder_destroy(e->opus);
        e->opus = NULL;
        return FL_EIO;
    }
    return 0;
}

int fl_aenc_create(fl_aenc **out, const fl_aenc_config *cfg)
{
    if (!out || !cfg)
        return FL_EINVAL;
    int opus = cfg->kind == FL_CODEC_OPUS;
    if (!opus && cfg->kind != FL_CODEC_PCMU && cfg->kind != FL_CODEC_PCMA)
        return FL_EINVAL;
    if (cfg->channels != 1 && (cfg->channels != 2 || !opus))
        return FL_EINVAL;
    if (opus && cfg->kbps != 0 && (cfg->kbps < 6 || cfg->kbps > 510))
        return FL_EINVAL;
    fl_aenc *e = calloc(1, sizeof(*e));
    if (!e)
        return FL_ENOMEM;
    e->kind = cfg->kind;
    e->channels = cfg->channels;
    if (opus) {
        int r = opus_enc_start(e, cfg);
        if (r != 0) {
            free(e);
            return r;
        }
    }
    *out = e;
    return 0;
}

void fl_aenc_destroy(fl_aenc *e)
{
    if (!e)
        return;
    if (e->opus)
        opus_encoder_destroy(e->opus);
    free(e);
}

int fl_aenc_rate(const fl_aenc *e)
{
    return e->kind == FL_CODEC_OPUS ? OPUS_RATE : G711_RATE;
}

int fl_aenc_frame_samples(const fl_aenc *e)
{
    return e->kind == FL_CODEC_OPUS ? OPUS_FRAME : G711_FRAME;
}

int fl_aenc_encode(fl_aenc *e, const int16_t *pcm, uint8_t *out, size_t cap)
{
    if (!e || !pcm || !out)
        return FL_EIO;
    if (e->kind != FL_CODEC_OPUS) {
        if (cap < G711_FRAME)
            return FL_EMSGSIZE;
        int ulaw = e->kind == FL_CODEC_PCMU;
        for (int i = 0; i < G711_FRAME; i++)
            out[i] = ulaw ? fl_g711_ulaw_encode(pcm[i]) : fl_g711_alaw_encode(pcm[i]);
        return G711_FRAME;
    }
    if (cap == 0)
        return FL_EMSGSIZE;
    opus_int32 max = cap > OPUS_MAX_PAYLOAD ? OPUS_MAX_PAYLOAD : (opus_int32)cap;
    opus_int32 n = opus_encode(e->opus, pcm, OPUS_FRAME, out, max);
    if (n == OPUS_BUFFER_TOO_SMALL)
        return FL_EMSGSIZE;
    if (n <= 0) {
        fl_log(FL_LOG_WARN, "opus encode: %s", n < 0 ? opus_strerror(n) : "empty");
        return FL_EIO;
    }
    return (int)n;
}

int fl_aenc_set_bitrate(fl_aenc *e, int kbps)
{
    if (!e)
        return FL_EIO;
    if (e->kind != FL_CODEC_OPUS)
        return 0;
    kbps = kbps < 6 ? 6 : kbps > 510 ? 510 : kbps;
    return opus_encoder_ctl(e->opus, OPUS_SET_BITRATE(kbps * 1000)) == OPUS_OK ? 0 : FL_EIO;
}
