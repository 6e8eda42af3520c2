/* Packetizers: the part every payload format shares (create, the frame's
 * copy, dispatch, stats) and the audio formats: Opus
 * (RFC 7587) one frame, one payload; PCMU and PCMA (RFC 3551) split at
 * max_payload on sample (byte) boundaries. The video formats are in
 * pack_vpx.c and pack_h264.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec.h"
#include "codec/codec_int.h"
#include "codec/pack_int.h"

FL_LOG_TAG("pack");

#define DEF_MAX_PAYLOAD 1200
#define MIN_MAX_PAYLOAD 64

size_t fl__pack_piece(const fl_pack *p, size_t i)
{
    return p->base + (i < p->rem ? 1 : 0);
}

int fl_pack_create(fl_pack **out, const fl_pack_config *cfg)
{
    if (!out || !cfg || !fl__codec_kind_has_rtp(cfg->codec))
        return FL_EINVAL;
    size_t max = cfg->max_payload ? cfg->max_payload : DEF_MAX_PAYLOAD;
    if (max < MIN_MAX_PAYLOAD)
        return FL_EINVAL;
    unsigned nls = cfg->nal_length_size;
    if (cfg->codec == FL_CODEC_H264 && nls != 0 && nls != 1 && nls != 2 && nls != 4)
        return FL_EINVAL;
    fl_pack *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    p->codec = cfg->codec;
    p->max_payload = max;
    p->nal_length_size = nls;
    p->next_picture_id = (uint16_t)(cfg->seed % FL_VP8_PICTURE_ID_MOD);
    if (cfg->codec == FL_CODEC_H264) {
        if (cfg->sps && cfg->sps_len)
            fl__pack_h264_keep(p, cfg->sps, cfg->sps_len);
        if (cfg->pps && cfg->pps_len)
            fl__pack_h264_keep(p, cfg->pps, cfg->pps_len);
    }
    *out = p;
    return 0;
}

void fl_pack_destroy(fl_pack *p)
{
    if (!p)
        return;
    free(p->frame.p);
    free(p->nals);
    free(p);
}

/* Opus and G.711: the payload is the frame's bytes. */
static int audio_frame(fl_pack *p)
{
    if (p->codec == FL_CODEC_OPUS) {
        if (p->frame.len > p->max_payload)
            return FL_EMSGSIZE; /* an Opus packet cannot be split */
        p->parts = 1;
        p->part = 0;
        p->at = 0;
        return 0;
    }
    p->parts = (p->frame.len + p->max_payload - 1) / p->max_payload;
    p->part = 0;
    p->at = 0;
    return 0;
}

static size_t audio_next(fl_pack *p, uint8_t *out, int *marker)
{
    size_t n = p->frame.len - p->at;
    if (n > p->max_payload)
        n = p->max_payload;
    memcpy(out, p->frame.p + p->at, n);
    p->at += n;
    p->part++;
    *marker = 0;
    if (p->part == p->parts)
        p->pending = 0;
    return n;
}

int fl__pack_copy_frame(fl_pack *p, const fl_pack_input *in)
{
    p->frame.len = 0;
    int r = fl__grow_reserve(&p->frame, in->len);
    if (r != 0)
        return r;
    memcpy(p->frame.p, in->data, in->len);
    p->frame.len = in->len;
    return 0;
}

int fl_pack_frame(fl_pack *p, const fl_pack_input *in)
{
    if (!p || !in || (in->len && !in->data))
        return FL_EINVAL;
    p->pending = 0;
    p->frame.len = 0;
    int r;
    if (in->len == 0) {
        r = FL_EBADMSG;
    } else if (p->codec == FL_CODEC_H264) {
        r = fl__pack_h264_frame(p, in);
    } else if ((r = fl__pack_copy_frame(p, in)) == 0) {
        switch (p->codec) {
        case FL_CODEC_VP8:
            r = fl__pack_vp8_frame(p, in);
            break;
        case FL_CODEC_VP9:
            r = fl__pack_vp9_frame(p, in);
            break;
        default:
            r = audio_frame(p);
            break;
        }
    }
    if (r != 0) {
        p->stats.malformed += r == FL_EBADMSG || r == FL_EMSGSIZE;
        fl_log(FL_LOG_DEBUG, "frame of %zu bytes refused: %s", in->len, fl_strerror(r));
        p->frame.len = 0;
        return r;
    }
    p->pending = 1;
    p->stats.frames++;
    return 0;
}

size_t fl_pack_next(fl_pack *p, uint8_t *out, size_t cap, int *marker)
{
    int m = 0;
    if (marker)
        *marker = 0;
    if (!p || !out || !p->pending || cap < p->max_payload)
        return 0;
    size_t n;
    switch (p->codec) {
    case FL_CODEC_VP8:
        n = fl__pack_vp8_next(p, out, &m);
        break;
    case FL_CODEC_VP9:
        n = fl__pack_vp9_next(p, out, &m);
        break;
    case FL_CODEC_H264:
        n = fl__pack_h264_next(p, out, &m);
        break;
    default:
        n = audio_next(p, out, &m);
        break;
    }
    if (n == 0) {
        p->pending = 0;
        return 0;
    }
    p->stats.payloads++;
    p->stats.bytes += n;
    if (marker)
        *marker = m;
    return n;
}

void fl_pack_get_stats(const fl_pack *p, fl_pack_stats *out)
{
    if (p && out)
        *out = p->stats;
}
