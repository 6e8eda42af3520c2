/* Depacketizers: the part every payload format shares (frames opened,
 * broken, ended; loss; the key-frame wait; the frame buffers), the audio
 * formats (one packet, one frame) and the bit reader. The video formats are
 * in depack_vpx.c and depack_h264.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec.h"
#include "codec/codec_int.h"

FL_LOG_TAG("depack");

/* A frame buffer starts at this size and doubles. */
#define GROW_MIN 4096

int fl__grow_reserve(fl__grow *g, size_t n)
{
    if (g->cap - g->len >= n)
        return 0;
    size_t cap = g->cap ? g->cap : GROW_MIN;
    while (cap - g->len < n) {
        if (cap > SIZE_MAX / 2)
            return FL_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(g->p, cap);
    if (!p)
        return FL_ENOMEM;
    g->p = p;
    g->cap = cap;
    return 0;
}

int fl__codec_kind_has_rtp(fl_codec_kind k)
{
    switch (k) {
    case FL_CODEC_VP8:
    case FL_CODEC_VP9:
    case FL_CODEC_H264:
    case FL_CODEC_OPUS:
    case FL_CODEC_PCMU:
    case FL_CODEC_PCMA:
        return 1;
    default:
        return 0;
    }
}

int fl_depack_create(fl_depack **out, const fl_depack_config *cfg)
{
    if (!out || !cfg || !fl__codec_kind_has_rtp(cfg->codec))
        return FL_EINVAL;
    fl_depack *d = calloc(1, sizeof(*d));
    if (!d)
        return FL_ENOMEM;
    d->codec = cfg->codec;
    d->video = fl_codec_kind_is_video(cfg->codec);
    d->max_frame = cfg->max_frame ? cfg->max_frame : FL_DEPACK_DEF_MAX_FRAME;
    d->waiting_key = d->video;
    if (d->codec == FL_CODEC_H264 && cfg->fmtp && fl__h264_set_fmtp(d, cfg->fmtp) != 0)
        fl_log(FL_LOG_DEBUG, "sprop-parameter-sets not usable: ignored");
    *out = d;
    return 0;
}

void fl_depack_destroy(fl_depack *d)
{
    if (!d)
        return;
    for (int i = 0; i < 3; i++)
        free(d->buf[i].p);
    free(d);
}

/* A video frame is lost: everything waits for the next key frame. */
static void lose_video(fl_depack *d)
{
    if (!d->video)
        return;
    d->waiting_key = 1;
    d->want_key = 1;
}

static void frame_reset(fl_depack *d)
{
    d->active = 0;
    d->broken = 0;
    d->too_big = 0;
    d->key = 0;
    d->width = 0;
    d->height = 0;
    d->fu_open = 0;
    fl__vp9_frame_reset(d);
    d->buf[d->asm_buf].len = 0;
}

void fl__depack_begin(fl_depack *d, uint32_t ts, int start)
{
    if (d->active)
        return;
    frame_reset(d);
    d->active = 1;
    d->ts = ts;
    d->broken = !start;
}

void fl__depack_break(fl_depack *d, uint32_t ts)
{
    fl__depack_begin(d, ts, 0);
    d->broken = 1;
    lose_video(d);
}

uint8_t *fl__depack_append(fl_depack *d, size_t n)
{
    if (!d->active || d->broken)
        return NULL;
    fl__grow *g = &d->buf[d->asm_buf];
    if (n > d->max_frame - g->len) {
        d->broken = 1;
        d->too_big = 1;
        return NULL;
    }
    if (fl__grow_reserve(g, n) != 0) {
        d->broken = 1;
        return NULL;
    }
    uint8_t *at = g->p + g->len;
    g->len += n;
    return at;
}

static int format_finish(fl_depack *d, fl__grow *g)
{
    switch (d->codec) {
    case FL_CODEC_VP8:
        return fl__vp8_finish(d, g);
    case FL_CODEC_VP9:
        return fl__vp9_finish(d, g);
    case FL_CODEC_H264:
        return fl__h264_finish(d, g);
    default:
        return 0;
    }
}

/* A buffer that no ready frame holds: there are 3 and at most 2 are ready. */
static int free_buf(const fl_depack *d)
{
    for (int i = 0; i < 3; i++) {
        int used = 0;
        for (int k = 0; k < d->nready; k++)
            used |= d->ready_buf[k] == i;
        if (!used)
            return i;
    }
    return 0; /* not reached */
}

void fl__depack_end(fl_depack *d)
{
    if (!d->active)
        return;
    fl__grow *g = &d->buf[d->asm_buf];
    if (!d->broken && format_finish(d, g) != 0)
        d->broken = 1;
    if (d->broken) {
        d->stats.dropped++;
        d->stats.too_big += d->too_big != 0;
        lose_video(d);
    } else if (d->video && d->waiting_key && !d->key) {
        d->stats.skipped++;
        d->want_key = 1;
    } else if (d->nready == 2) {
        d->stats.dropped++; /* not reached: a push ends two frames at most */
    } else {
        fl_frame *f = &d->ready[d->nready];
        *f = (fl_frame){ .codec = d->codec,
                         .data = g->p,
                         .len = g->len,
                         .rtp_ts = d->ts,
                         .key = d->video ? d->key : 1 };
        if (f->key && d->video) {
            f->width = d->width;
            f->height = d->height;
        }
        if (d->codec == FL_CODEC_H264)
            fl__h264_frame_params(d, f);
        d->ready_buf[d->nready++] = d->asm_buf;
        d->asm_buf = free_buf(d);
        d->stats.frames++;
        if (f->key) {
            d->stats.key_frames += d->video;
            d->waiting_key = 0;
            d->want_key = 0;
        }
    }
    frame_reset(d);
}

static int audio_push(fl_depack *d, const fl_depack_packet *p)
{
    fl__depack_begin(d, p->ts, 1);
    uint8_t *at = fl__depack_append(d, p->len);
    if (at)
        memcpy(at, p->payload, p->len);
    d->key = 1;
    fl__depack_end(d);
    return 0;
}

static int format_push(fl_depack *d, const fl_depack_packet *p)
{
    switch (d->codec) {
    case FL_CODEC_VP8:
        return fl__vp8_push(d, p);
    case FL_CODEC_VP9:
        return fl__vp9_push(d, p);
    case FL_CODEC_H264:
        return fl__h264_push(d, p);
    default:
        return audio_push(d, p);
    }
}

int fl_depack_push(fl_depack *d, const fl_depack_packet *p)
{
    if (!d || !p || (p->len && !p->payload))
        return FL_EINVAL;
    d->stats.unpulled += (unsigned)(d->nready - d->pulled);
    d->nready = 0;
    d->pulled = 0;
    d->stats.packets++;

    int gap = p->lost_before > 0 || (d->have_seq && p->seq != (uint16_t)(d->last_seq + 1));
    d->have_seq = 1;
    d->last_seq = p->seq;
    if (gap) { /* in the open frame, whole frames, or the start of the next one */
        d->stats.gaps++;
        if (d->active)
            d->broken = 1;
        lose_video(d);
    }
    if (p->len == 0)
        return 0;
    if (d->active && p->ts != d->ts)
        fl__depack_end(d);

    int r = format_push(d, p);
    if (r == FL_EBADMSG)
        d->stats.malformed++;
    else if (r == FL_ENOTSUP)
        d->stats.unsupported++;
    if (r != 0) {
        fl_log(FL_LOG_TRACE, "seq %u: %s, frame at ts %u dropped", p->seq, fl_strerror(r),
               (unsigned)p->ts);
        fl__depack_break(d, p->ts);
    }
    if (p->marker)
        fl__depack_end(d);
    return r;
}

void fl_depack_flush(fl_depack *d)
{
    if (!d)
        return;
    d->stats.unpulled += (unsigned)(d->nready - d->pulled);
    d->nready = 0;
    d->pulled = 0;
    fl__depack_end(d);
}

int fl_depack_pull(fl_depack *d, fl_frame *out)
{
    if (!d || !out || d->pulled >= d->nready)
        return 0;
    *out = d->ready[d->pulled++];
    return 1;
}

int fl_depack_wants_key(const fl_depack *d)
{
    return d && d->want_key;
}

void fl_depack_get_stats(const fl_depack *d, fl_depack_stats *out)
{
    if (d && out)
        *out = d->stats;
}

/* ---- the bit reader ---- */

void fl__bits_init(fl__bits *b, const uint8_t *p, size_t len, int epb)
{
    *b = (fl__bits){ .p = p, .len = len, .epb = epb };
}

/* Loads the next byte, skipping an emulation prevention byte. */
static int bits_load(fl__bits *b)
{
    if (b->at < b->len && b->epb && b->zeros >= 2 && b->p[b->at] == 3) {
        b->at++;
        b->zeros = 0;
    }
    if (b->at >= b->len) {
        b->err = 1;
        return -1;
    }
    uint8_t v = b->p[b->at++];
    b->zeros = v == 0 ? b->zeros + 1 : 0;
    b->cur = v;
    b->left = 8;
    return 0;
}

uint32_t fl__bits_read(fl__bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (b->left == 0 && bits_load(b) != 0)
            return 0;
        b->left--;
        v = v << 1 | ((b->cur >> b->left) & 1u);
    }
    return b->err ? 0 : v;
}

uint32_t fl__bits_ue(fl__bits *b)
{
    int zeros = 0;
    while (!b->err && fl__bits_read(b, 1) == 0) {
        if (++zeros > 31) {
            b->err = 1;
            return 0;
        }
    }
    if (b->err)
        return 0;
    uint64_t v = ((uint64_t)1 << zeros) - 1 + fl__bits_read(b, zeros);
    if (v > UINT32_MAX - 1) {
        b->err = 1;
        return 0;
    }
    return (uint32_t)v;
}

int64_t fl__bits_se(fl__bits *b)
{
    uint32_t k = fl__bits_ue(b);
    return (k & 1) ? (int64_t)(k >> 1) + 1 : -(int64_t)(k >> 1);
}
