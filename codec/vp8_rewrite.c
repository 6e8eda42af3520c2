/* The VP8 payload descriptor in full and a viewer's rewrite of it over a
 * changing source layer (see vp8_rewrite.h). */
#include "codec/vp8_rewrite.h"

#include <string.h>

#include "base/err.h"

#define PID_MASK  0x7fffu
#define PID_HALF  0x4000u
#define PICS_MASK (FL_VP8_REWRITE_PICTURES - 1)

enum {
    PIC_EMPTY,
    PIC_SENT,
    PIC_DROPPED
};

/* Reads the optional byte at *at, or fails when the payload ends there. */
static int field(size_t len, size_t *at, uint8_t *where)
{
    if (*at >= len)
        return FL_EBADMSG;
    *where = (uint8_t)*at;
    (*at)++;
    return 0;
}

static int parse_ext(fl_vp8_descriptor *d, const uint8_t *p, size_t len, size_t *at)
{
    uint8_t b = p[1];
    d->i = (b >> 7) & 1;
    d->l = (b >> 6) & 1;
    d->t = (b >> 5) & 1;
    d->k = (b >> 4) & 1;
    if (d->i) {
        if (field(len, at, &d->picture_id_at) != 0)
            return FL_EBADMSG;
        d->m = (p[d->picture_id_at] >> 7) & 1;
        d->picture_id = p[d->picture_id_at] & 0x7f;
        if (d->m) {
            uint8_t lo;
            if (field(len, at, &lo) != 0)
                return FL_EBADMSG;
            d->picture_id = (uint16_t)(d->picture_id << 8 | p[lo]);
        }
    }
    if (d->l) {
        if (field(len, at, &d->tl0picidx_at) != 0)
            return FL_EBADMSG;
        d->tl0picidx = p[d->tl0picidx_at];
    }
    if (d->t || d->k) {
        if (field(len, at, &d->tk_at) != 0)
            return FL_EBADMSG;
        uint8_t tk = p[d->tk_at];
        if (d->t) {
            d->tid = (uint8_t)(tk >> 6);
            d->y = (tk >> 5) & 1;
        }
        if (d->k)
            d->keyidx = tk & 0x1f;
    }
    return 0;
}

int fl_vp8_descriptor_parse(fl_vp8_descriptor *d, const uint8_t *payload, size_t len)
{
    memset(d, 0, sizeof(*d));
    if (len < 1)
        return FL_EBADMSG;
    d->x = (payload[0] >> 7) & 1;
    d->n = (payload[0] >> 5) & 1;
    d->s = (payload[0] >> 4) & 1;
    d->partition = payload[0] & 0x07;
    size_t at = 1;
    if (d->x) {
        if (len < 2)
            return FL_EBADMSG;
        at = 2;
        if (parse_ext(d, payload, len, &at) != 0)
            return FL_EBADMSG;
    }
    /* A packet carries at least one byte of the VP8 frame. */
    if (len <= at)
        return FL_EBADMSG;
    d->header_len = (uint8_t)at;
    d->keyframe = d->s && d->partition == 0 && !(payload[at] & 0x01);
    return 0;
}

void fl_vp8_descriptor_write(uint8_t *payload, const fl_vp8_descriptor *d)
{
    if (d->i) {
        uint8_t *p = payload + d->picture_id_at;
        if (d->m) {
            p[0] = (uint8_t)(0x80u | ((d->picture_id >> 8) & 0x7fu));
            p[1] = (uint8_t)(d->picture_id & 0xffu);
        } else {
            p[0] = (uint8_t)(d->picture_id & 0x7fu);
        }
    }
    if (d->l)
        payload[d->tl0picidx_at] = d->tl0picidx;
    if (d->t || d->k) {
        uint8_t tk = payload[d->tk_at];
        if (d->t)
            tk = (uint8_t)((tk & 0x1fu) | (d->tid & 3u) << 6 | (d->y & 1u) << 5);
        if (d->k)
            tk = (uint8_t)((tk & 0xe0u) | (d->keyidx & 0x1fu));
        payload[d->tk_at] = tk;
    }
}

void fl_vp8_rewrite_init(fl_vp8_rewrite *vr)
{
    memset(vr, 0, sizeof(*vr));
    vr->target_tid = FL_VP8_TID_ALL;
    vr->tid = FL_VP8_TID_ALL;
}

void fl_vp8_rewrite_switch(fl_vp8_rewrite *vr)
{
    vr->src_pid = 0;
    vr->src_tl0 = 0;
    vr->src_key = 0;
    vr->tid = vr->target_tid;
    vr->switches++;
}

void fl_vp8_rewrite_set_target_tid(fl_vp8_rewrite *vr, int tid)
{
    vr->target_tid = (uint8_t)(tid < 0 ? 0 : tid > FL_VP8_TID_ALL ? FL_VP8_TID_ALL : tid);
    if (vr->tid > vr->target_tid)
        vr->tid = vr->target_tid;
}

/* The first picture of a source: it follows the last one sent. */
static void pid_source_start(fl_vp8_rewrite *vr, const fl_vp8_descriptor *d)
{
    vr->src_pid = 1;
    vr->src_wide = d->m;
    vr->pid_delta = vr->have_pid ? (uint16_t)((vr->last_pid + 1u - d->picture_id) & PID_MASK) : 0;
    vr->high = (uint16_t)((d->picture_id - 1u) & PID_MASK);
    memset(vr->pics, 0, sizeof(vr->pics));
}

/* A 7-bit PictureID as the 15-bit value nearest the newest seen. */
static uint16_t unwrap(const fl_vp8_rewrite *vr, uint16_t id)
{
    if (vr->src_wide)
        return id;
    int diff = (int)((id - vr->high) & 0x7fu);
    if (diff >= 64)
        diff -= 128;
    return (uint16_t)((unsigned)(vr->high + diff) & PID_MASK);
}

/* Whether a new picture (or, without a PictureID, a picture's first
 * packet) is forwarded under the temporal target; raises the layer in
 * force at a key frame or a layer sync of the next layer up. */
static int keep_new_picture(fl_vp8_rewrite *vr, const fl_vp8_descriptor *d)
{
    if (d->keyframe)
        vr->tid = vr->target_tid;
    if (!d->t || d->tid <= vr->tid)
        return 1;
    if (d->y && d->tid == vr->tid + 1 && d->tid <= vr->target_tid) {
        vr->tid = d->tid;
        return 1;
    }
    return 0;
}

/* A late picture: its own decision when remembered, else the offset of
 * the nearest remembered one before it. 1 send (*out set), 0 dropped by
 * its TID, -1 too late. */
static int late_picture(fl_vp8_rewrite *vr, const fl_vp8_descriptor *d, uint16_t e, uint16_t *out)
{
    fl_vp8_rewrite_picture *pic = &vr->pics[e & PICS_MASK];
    if (pic->state != PIC_EMPTY && pic->src == e) {
        *out = (uint16_t)((e + pic->delta) & PID_MASK);
        return pic->state == PIC_SENT;
    }
    unsigned back = (vr->high - e) & PID_MASK;
    for (unsigned j = 1; back + j < FL_VP8_REWRITE_PICTURES; j++) {
        uint16_t before = (uint16_t)((e - j) & PID_MASK);
        const fl_vp8_rewrite_picture *b = &vr->pics[before & PICS_MASK];
        if (b->state == PIC_EMPTY || b->src != before)
            continue;
        int keep = !d->t || d->tid <= vr->tid;
        *pic = (fl_vp8_rewrite_picture){ .src = e,
                                         .delta = b->delta,
                                         .state = keep ? PIC_SENT : PIC_DROPPED };
        *out = (uint16_t)((e + b->delta) & PID_MASK);
        return keep;
    }
    return -1;
}

/* A newer picture than any seen: decided here, remembered, and a dropped
 * one moves the offset of those after it down by one. */
static int new_picture(fl_vp8_rewrite *vr, const fl_vp8_descriptor *d, uint16_t e, uint16_t *out)
{
    unsigned ahead = (e - vr->high) & PID_MASK;
    unsigned n = ahead < FL_VP8_REWRITE_PICTURES ? ahead : FL_VP8_REWRITE_PICTURES;
    for (unsigned j = 1; j <= n; j++)
        vr->pics[(vr->high + j) & PICS_MASK].state = PIC_EMPTY;
    int keep = keep_new_picture(vr, d);
    if (!keep)
        vr->pid_delta = (uint16_t)((vr->pid_delta - 1u) & PID_MASK);
    vr->pics[e & PICS_MASK] = (fl_vp8_rewrite_picture){ .src = e,
                                                        .delta = vr->pid_delta,
                                                        .state = keep ? PIC_SENT : PIC_DROPPED };
    vr->high = e;
    *out = (uint16_t)((e + vr->pid_delta) & PID_MASK);
    if (keep) {
        vr->last_pid = *out;
        vr->have_pid = 1;
    }
    return keep;
}

/* The PictureID path: 1 send with *out, 0 dropped by TID, -1 too late,
 * -2 bad (a field width other than the source's). */
static int picture(fl_vp8_rewrite *vr, const fl_vp8_descriptor *d, uint16_t *out)
{
    if (!vr->src_pid)
        pid_source_start(vr, d);
    if (d->m != vr->src_wide)
        return -2;
    uint16_t e = unwrap(vr, d->picture_id);
    unsigned ahead = (e - vr->high) & PID_MASK;
    if (ahead != 0 && ahead < PID_HALF)
        return new_picture(vr, d, e, out);
    if (((vr->high - e) & PID_MASK) < FL_VP8_REWRITE_PICTURES)
        return late_picture(vr, d, e, out);
    if (!d->keyframe)
        return -1;
    /* a key frame far behind: the source numbers afresh */
    pid_source_start(vr, d);
    return new_picture(vr, d, d->picture_id, out);
}

static void rewrite_tl0_key(fl_vp8_rewrite *vr, fl_vp8_descriptor *d)
{
    if (d->l) {
        if (!vr->src_tl0)
            vr->tl0_delta = vr->have_tl0 ? (uint8_t)(vr->last_tl0 + 1u - d->tl0picidx) : 0;
        vr->src_tl0 = 1;
        d->tl0picidx = (uint8_t)(d->tl0picidx + vr->tl0_delta);
        if (!vr->have_tl0 || (uint8_t)(d->tl0picidx - vr->last_tl0 - 1u) < 0x7fu)
            vr->last_tl0 = d->tl0picidx;
        vr->have_tl0 = 1;
    }
    if (d->k) {
        if (!vr->src_key)
            vr->key_delta = vr->have_key ? (uint8_t)((vr->last_key + 1u - d->keyidx) & 0x1fu) : 0;
        vr->src_key = 1;
        d->keyidx = (uint8_t)((d->keyidx + vr->key_delta) & 0x1fu);
        if (!vr->have_key || ((d->keyidx - vr->last_key - 1u) & 0x1fu) < 15u)
            vr->last_key = d->keyidx;
        vr->have_key = 1;
    }
}

int fl_vp8_rewrite_packet(fl_vp8_rewrite *vr, uint8_t *payload, size_t len)
{
    fl_vp8_descriptor d;
    if (fl_vp8_descriptor_parse(&d, payload, len) != 0) {
        vr->bad++;
        return FL_EBADMSG;
    }
    int r;
    if (d.i) {
        uint16_t out = 0;
        r = picture(vr, &d, &out);
        d.picture_id = out;
    } else if (d.s && d.partition == 0) {
        r = keep_new_picture(vr, &d);
    } else {
        r = !d.t || d.tid <= vr->tid;
    }
    if (r == -2) {
        vr->bad++;
        return FL_EBADMSG;
    }
    if (r <= 0) {
        if (r == 0)
            vr->dropped_tid++;
        else
            vr->dropped_late++;
        return 0;
    }
    rewrite_tl0_key(vr, &d);
    fl_vp8_descriptor_write(payload, &d);
    return 1;
}
