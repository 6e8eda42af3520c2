/* Pre-encoded clips: a synthetic source, encoded and packetized into RTP
 * payloads with their timestamps and send times. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"
#include "codec/codec_int.h"
#include "codec/coder.h"

#define OPUS_FRAME_SAMPLES 960
#define OPUS_FRAME_US      20000
#define OPUS_MAX_PACKET    4000

/* The public clip and what only building and freeing need. */
typedef struct clip_impl {
    fl_clip pub;
    uint8_t *data; /* every payload, back to back */
    size_t data_len, data_cap;
    size_t *off; /* payload offsets while building (data moves as it grows) */
    size_t pkt_cap;
} clip_impl;

static clip_impl *clip_new(uint32_t clock_rate)
{
    clip_impl *c = calloc(1, sizeof(*c));
    if (c)
        c->pub.clock_rate = clock_rate;
    return c;
}

/* Appends one payload, head (may be empty) then body. */
static int clip_push(clip_impl *c,
                     const uint8_t *head,
                     size_t head_len,
                     const uint8_t *body,
                     size_t body_len,
                     const fl_clip_packet *meta)
{
    size_t len = head_len + body_len;
    if (c->pub.n == c->pkt_cap) {
        size_t cap = c->pkt_cap ? c->pkt_cap * 2 : 256;
        fl_clip_packet *p = realloc(c->pub.pkts, cap * sizeof(*p));
        if (!p)
            return FL_ENOMEM;
        c->pub.pkts = p;
        size_t *o = realloc(c->off, cap * sizeof(*o));
        if (!o)
            return FL_ENOMEM;
        c->off = o;
        c->pkt_cap = cap;
    }
    if (c->data_cap - c->data_len < len) {
        size_t cap = c->data_cap ? c->data_cap : 65536;
        while (cap - c->data_len < len)
            cap *= 2;
        uint8_t *d = realloc(c->data, cap);
        if (!d)
            return FL_ENOMEM;
        c->data = d;
        c->data_cap = cap;
    }
    if (head_len)
        memcpy(c->data + c->data_len, head, head_len);
    memcpy(c->data + c->data_len + head_len, body, body_len);
    fl_clip_packet *p = &c->pub.pkts[c->pub.n];
    *p = *meta;
    p->payload = NULL;
    p->len = len;
    c->off[c->pub.n++] = c->data_len;
    c->data_len += len;
    c->pub.bytes += len;
    return 0;
}

/* Points every packet at its payload once the data no longer moves. */
static void clip_finish(clip_impl *c)
{
    for (size_t i = 0; i < c->pub.n; i++)
        c->pub.pkts[i].payload = c->data + c->off[i];
    free(c->off);
    c->off = NULL;
}

void fl_clip_destroy(fl_clip *clip)
{
    if (!clip)
        return;
    clip_impl *c = (clip_impl *)clip;
    free(c->data);
    free(c->off);
    free(c->pub.pkts);
    free(c);
}

typedef struct vp8_build {
    clip_impl *c;
    size_t max_body; /* max_payload less the descriptor */
    int fps;
    uint64_t index; /* the picture being encoded */
} vp8_build;

static uint64_t frame_us(uint64_t index, int fps)
{
    return index * 1000000u / (uint64_t)fps;
}

/* Splits one encoded frame into near-equal packets spread over its interval. */
static int vp8_on_frame(void *arg, const uint8_t *data, size_t len, int keyframe)
{
    vp8_build *b = arg;
    clip_impl *c = b->c;
    if (len == 0)
        return 0;
    size_t k = (len + b->max_body - 1) / b->max_body;
    size_t base = len / k, extra = len % k;
    uint64_t t0 = frame_us(b->index, b->fps);
    uint64_t interval = frame_us(b->index + 1, b->fps) - t0;
    int picture_id = (int)(c->pub.frames % FL_VP8_PICTURE_ID_MOD);
    size_t at = 0;
    for (size_t j = 0; j < k; j++) {
        size_t n = base + (j < extra ? 1 : 0);
        uint8_t desc[FL_VP8_DESC_LEN];
        fl__vp8_desc_write(desc, j == 0, 0, picture_id);
        fl_clip_packet meta = {
            .ts = (uint32_t)(b->index * FL_VP8_CLOCK_RATE / (uint64_t)b->fps),
            .send_us = (uint32_t)(t0 + j * interval / k),
            .marker = j == k - 1,
            .keyframe = (uint8_t)(keyframe != 0),
        };
        int r = clip_push(c, desc, sizeof(desc), data + at, n, &meta);
        if (r != 0)
            return r;
        at += n;
    }
    c->pub.frames++;
    return 0;
}

static int vp8_check(int width, int height, int fps, int kbps, int seconds, size_t max_payload)
{
    if (width < 16 || width > 4096 || height < 16 || height > 4096 || fps < 1 || fps > 120 ||
        kbps < 10 || kbps > 100000 || seconds < 1 || seconds > 3600 || max_payload < 64)
        return FL_EINVAL;
    return 0;
}

int fl_clip_vp8(fl_clip **out,
                int width,
                int height,
                int fps,
                int kbps,
                int seconds,
                size_t max_payload)
{
    int r = vp8_check(width, height, fps, kbps, seconds, max_payload);
    if (r != 0)
        return r;
    clip_impl *c = clip_new(FL_VP8_CLOCK_RATE);
    if (!c)
        return FL_ENOMEM;
    fl__yuv pic;
    r = fl__yuv_alloc(&pic, width, height);
    if (r != 0)
        goto fail_clip;
    fl__vp8_enc *enc;
    r = fl__vp8_enc_create(&enc, width, height, fps, kbps);
    if (r != 0)
        goto fail_pic;
    vp8_build b = { .c = c, .max_body = max_payload - FL_VP8_DESC_LEN, .fps = fps };
    uint64_t frames = (uint64_t)fps * (uint64_t)seconds;
    for (b.index = 0; b.index < frames; b.index++) {
        fl__synth_picture(&pic, (unsigned)b.index);
        r = fl__vp8_enc_encode(enc, &pic, (int64_t)b.index, b.index == 0, vp8_on_frame, &b);
        if (r != 0)
            goto fail_enc;
    }
    if (c->pub.n == 0 || !c->pub.pkts[0].keyframe) {
        r = FL_EIO;
        goto fail_enc;
    }
    c->pub.duration_ts = (uint32_t)(frames * FL_VP8_CLOCK_RATE / (uint64_t)fps);
    c->pub.duration_us = frame_us(frames, fps);
    clip_finish(c);
    fl__vp8_enc_destroy(enc);
    fl__yuv_free(&pic);
    *out = &c->pub;
    return 0;

fail_enc:
    fl__vp8_enc_destroy(enc);
fail_pic:
    fl__yuv_free(&pic);
fail_clip:
    fl_clip_destroy(&c->pub);
    return r;
}

/* Packetizes one H.264 access unit (Annex B) and spreads its packets over
 * the frame interval. */
static int h264_add_frame(clip_impl *c,
                          fl_pack *pack,
                          uint8_t *buf,
                          size_t cap,
                          const fl_venc_frame *f,
                          uint64_t index,
                          int fps)
{
    int r = fl_pack_frame(pack, &(fl_pack_input){ f->data, f->len, f->key });
    if (r != 0)
        return r == FL_ENOMEM ? r : FL_EIO;
    uint64_t t0 = frame_us(index, fps), interval = frame_us(index + 1, fps) - t0;
    size_t first = c->pub.n, n;
    int marker;
    while ((n = fl_pack_next(pack, buf, cap, &marker)) > 0) {
        fl_clip_packet meta = {
            .ts = (uint32_t)(index * FL_VP8_CLOCK_RATE / (uint64_t)fps),
            .marker = (uint8_t)(marker != 0),
            .keyframe = (uint8_t)(f->key != 0),
        };
        r = clip_push(c, NULL, 0, buf, n, &meta);
        if (r != 0)
            return r;
    }
    size_t k = c->pub.n - first;
    for (size_t j = 0; j < k; j++)
        c->pub.pkts[first + j].send_us = (uint32_t)(t0 + j * interval / k);
    c->pub.frames++;
    return 0;
}

int fl_clip_h264(fl_clip **out,
                 int width,
                 int height,
                 int fps,
                 int kbps,
                 int seconds,
                 size_t max_payload)
{
    int r = vp8_check(width, height, fps, kbps, seconds, max_payload);
    if (r != 0 || width % 2 || height % 2)
        return FL_EINVAL;
    clip_impl *c = clip_new(FL_VP8_CLOCK_RATE);
    uint8_t *buf = malloc(max_payload);
    fl__yuv pic = { 0 };
    fl_venc *enc = NULL;
    fl_pack *pack = NULL;
    r = FL_ENOMEM;
    if (!c || !buf || fl__yuv_alloc(&pic, width, height) != 0)
        goto done;
    fl_venc_config vc = { FL_CODEC_H264, width, height, fps, kbps };
    r = fl_venc_create(&enc, &vc);
    if (r == 0)
        r = fl_pack_create(&pack,
                           &(fl_pack_config){ .codec = FL_CODEC_H264, .max_payload = max_payload });
    uint64_t frames = (uint64_t)fps * (uint64_t)seconds;
    for (uint64_t i = 0; r == 0 && i < frames; i++) {
        fl__synth_picture(&pic, (unsigned)i);
        fl_picture p = { { pic.plane[0], pic.plane[1], pic.plane[2] },
                         { pic.stride[0], pic.stride[1], pic.stride[2] },
                         width,
                         height };
        fl_venc_frame f;
        uint32_t ts = (uint32_t)(i * FL_VP8_CLOCK_RATE / (uint64_t)fps);
        r = fl_venc_encode(enc, &p, ts, i == 0, &f);
        if (r == 1)
            r = h264_add_frame(c, pack, buf, max_payload, &f, i, fps);
    }
    if (r == 0 && (c->pub.n == 0 || !c->pub.pkts[0].keyframe))
        r = FL_EIO;
    if (r != 0)
        goto done;
    c->pub.duration_ts = (uint32_t)(frames * FL_VP8_CLOCK_RATE / (uint64_t)fps);
    c->pub.duration_us = frame_us(frames, fps);
    clip_finish(c);
    *out = &c->pub;
    c = NULL;
done:
    fl_pack_destroy(pack);
    fl_venc_destroy(enc);
    fl__yuv_free(&pic);
    free(buf);
    if (c)
        fl_clip_destroy(&c->pub);
    return r;
}

int fl_clip_opus(fl_clip **out, int kbps, int seconds)
{
    if (kbps < 6 || kbps > 510 || seconds < 1 || seconds > 3600)
        return FL_EINVAL;
    clip_impl *c = clip_new(FL_OPUS_CLOCK_RATE);
    if (!c)
        return FL_ENOMEM;
    int16_t *pcm = malloc(2 * OPUS_FRAME_SAMPLES * sizeof(*pcm));
    uint8_t *pkt = malloc(OPUS_MAX_PACKET);
    fl__opus_enc *enc = NULL;
    int r = FL_ENOMEM;
    if (!pcm || !pkt)
        goto fail;
    r = fl__opus_enc_create(&enc, kbps);
    if (r != 0)
        goto fail;
    uint64_t frames = (uint64_t)seconds * (1000000u / OPUS_FRAME_US);
    for (uint64_t i = 0; i < frames; i++) {
        fl__synth_tone(pcm, OPUS_FRAME_SAMPLES, i * OPUS_FRAME_SAMPLES);
        r = fl__opus_enc_encode(enc, pcm, OPUS_FRAME_SAMPLES, pkt, OPUS_MAX_PACKET);
        if (r < 0)
            goto fail;
        fl_clip_packet meta = {
            .ts = (uint32_t)(i * OPUS_FRAME_SAMPLES),
            .send_us = (uint32_t)(i * OPUS_FRAME_US),
            .marker = i == 0,
            .keyframe = 1,
        };
        r = clip_push(c, NULL, 0, pkt, (size_t)r, &meta);
        if (r != 0)
            goto fail;
        c->pub.frames++;
    }
    c->pub.duration_ts = (uint32_t)(frames * OPUS_FRAME_SAMPLES);
    c->pub.duration_us = frames * OPUS_FRAME_US;
    clip_finish(c);
    fl__opus_enc_destroy(enc);
    free(pkt);
    free(pcm);
    *out = &c->pub;
    return 0;

fail:
    fl__opus_enc_destroy(enc);
    free(pkt);
    free(pcm);
    fl_clip_destroy(&c->pub);
    return r;
}
