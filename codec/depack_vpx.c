/* VP8 (RFC 7741) and VP9 (RFC 9628) depacketizers.
 *
 * VP9 payload descriptor (4.2):
 *
 *   |I|P|L|F|B|E|V|Z|                   always
 *   |M| PICTURE ID  | (PICTURE ID)      if I (M: 15 bits)
 *   |TID|U| SID |D  | (TL0PICIDX)       if L (TL0PICIDX when F is 0)
 *   |  P_DIFF     |N|  up to 3 times    if F and P
 *   |N_S|Y|G|-|-|-|  then the SS (4.2.1) if V:
 *     Y: N_S + 1 times WIDTH (2 bytes), HEIGHT (2 bytes)
 *     G: N_G, then N_G times |TID|U|R|-|-| and R times P_DIFF
 */
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "codec/codec.h"
#include "codec/codec_int.h"

/* ---- VP8 ---- */

/* The key frame header (RFC 6386 9.1): 3-byte frame tag, start code, sizes. */
#define VP8_KEY_HEADER 10

int fl__vp8_push(fl_depack *d, const fl_depack_packet *p)
{
    fl_vp8_desc desc;
    if (fl_vp8_desc_parse(&desc, p->payload, p->len) != 0)
        return FL_EBADMSG;
    int start = desc.start && desc.partition == 0;
    if (start && d->active) /* the last frame's marker was lost or never set */
        fl__depack_end(d);
    if (!d->active) {
        fl__depack_begin(d, p->ts, start);
        d->key = desc.keyframe;
    }
    size_t n = p->len - desc.header_len;
    uint8_t *at = fl__depack_append(d, n);
    if (at)
        memcpy(at, p->payload + desc.header_len, n);
    return 0;
}

int fl__vp8_finish(fl_depack *d, fl__grow *g)
{
    if (g->len == 0)
        return FL_EBADMSG;
    const uint8_t *f = g->p;
    if (d->key && g->len >= VP8_KEY_HEADER && f[3] == 0x9d && f[4] == 0x01 && f[5] == 0x2a) {
        d->width = (uint16_t)((f[6] | f[7] << 8) & 0x3fff);
        d->height = (uint16_t)((f[8] | f[9] << 8) & 0x3fff);
    }
    return 0;
}

/* ---- VP9 ---- */

#define VP9_I 0x80u
#define VP9_P 0x40u
#define VP9_L 0x20u
#define VP9_F 0x10u
#define VP9_B 0x08u
#define VP9_E 0x04u
#define VP9_V 0x02u

#define VP9_MAX_P_DIFF 3

typedef struct vp9_desc {
    uint8_t flags;
    int sid;
    int inter_layer; /* D: depends on the spatial layer below */
    size_t header_len;
    int ss_layers; /* SS sizes given for this many spatial layers; 0: none */
    uint16_t width[8], height[8];
} vp9_desc;

/* The SS (4.2.1) at p[*at]. */
static int vp9_parse_ss(vp9_desc *v, const uint8_t *p, size_t len, size_t *at)
{
    if (*at >= len)
        return FL_EBADMSG;
    int ns = (p[*at] >> 5) + 1, y = p[*at] & 0x10, g = p[*at] & 0x08;
    (*at)++;
    if (y) {
        if (len - *at < (size_t)ns * 4)
            return FL_EBADMSG;
        for (int i = 0; i < ns; i++, *at += 4) {
            v->width[i] = fl_get_be16(p + *at);
            v->height[i] = fl_get_be16(p + *at + 2);
        }
        v->ss_layers = ns;
    }
    if (g) {
        if (*at >= len)
            return FL_EBADMSG;
        int ng = p[(*at)++];
        for (int i = 0; i < ng; i++) {
            if (*at >= len)
                return FL_EBADMSG;
            size_t r = (p[(*at)++] >> 2) & 3;
            if (len - *at < r)
                return FL_EBADMSG;
            *at += r;
        }
    }
    return 0;
}

static int vp9_parse(vp9_desc *v, const uint8_t *p, size_t len)
{
    *v = (vp9_desc){ .flags = p[0] };
    size_t at = 1;
    if (v->flags & VP9_I) {
        if (at >= len)
            return FL_EBADMSG;
        at += (p[at] & 0x80) ? 2 : 1;
    }
    if (v->flags & VP9_L) {
        if (at >= len)
            return FL_EBADMSG;
        v->sid = (p[at] >> 1) & 7;
        v->inter_layer = p[at] & 1;
        at += (v->flags & VP9_F) ? 1 : 2; /* TL0PICIDX in non-flexible mode */
    }
    if ((v->flags & VP9_F) && (v->flags & VP9_P)) {
        int n = 0, more = 1;
        while (more) {
            if (at >= len || n == VP9_MAX_P_DIFF)
                return FL_EBADMSG;
            more = p[at++] & 1;
            n++;
        }
    }
    if ((v->flags & VP9_V) && vp9_parse_ss(v, p, len, &at) != 0)
        return FL_EBADMSG;
    if (at >= len) /* no byte of the frame */
        return FL_EBADMSG;
    v->header_len = at;
    return 0;
}

void fl__vp9_frame_reset(fl_depack *d)
{
    d->in_layer = 0;
    d->layers = 0;
    d->first_p = 0;
    d->max_sid = 0;
    d->ss_layers = 0;
}

static size_t asm_len(const fl_depack *d)
{
    return d->buf[d->asm_buf].len;
}

int fl__vp9_push(fl_depack *d, const fl_depack_packet *p)
{
    vp9_desc v;
    if (vp9_parse(&v, p->payload, p->len) != 0)
        return FL_EBADMSG;
    int begin = (v.flags & VP9_B) != 0;
    if (!d->active) {
        fl__depack_begin(d, p->ts, begin);
        d->first_p = (v.flags & VP9_P) != 0;
    }
    if (begin) {
        if (d->in_layer || d->layers == FL__VP9_MAX_LAYERS)
            d->broken = 1; /* the last layer frame did not end */
        else if (d->layers == 0 && v.inter_layer)
            d->broken = 1; /* the layer below, which it needs, was lost */
        else
            d->layer_at[d->layers++] = asm_len(d);
        d->in_layer = 1;
    } else if (!d->in_layer) {
        d->broken = 1; /* the layer frame's start was lost */
    }
    if (v.sid > d->max_sid)
        d->max_sid = v.sid;
    if (v.ss_layers) {
        d->ss_layers = v.ss_layers;
        memcpy(d->ss_width, v.width, sizeof(v.width));
        memcpy(d->ss_height, v.height, sizeof(v.height));
    }
    size_t n = p->len - v.header_len;
    uint8_t *at = fl__depack_append(d, n);
    if (at)
        memcpy(at, p->payload + v.header_len, n);
    if (v.flags & VP9_E)
        d->in_layer = 0;
    return 0;
}

/* The uncompressed header (VP9 bitstream spec 6.2) of a frame: 1 and its
 * size for a key frame, 0 otherwise (or when it cannot be read). */
static int vp9_key_header(const uint8_t *f, size_t len, uint16_t *w, uint16_t *h)
{
    fl__bits b;
    fl__bits_init(&b, f, len, 0);
    if (fl__bits_read(&b, 2) != 2) /* frame_marker */
        return 0;
    unsigned profile = fl__bits_read(&b, 1);
    profile |= fl__bits_read(&b, 1) << 1;
    if (profile == 3)
        fl__bits_read(&b, 1);
    if (fl__bits_read(&b, 1)) /* show_existing_frame */
        return 0;
    if (fl__bits_read(&b, 1) != 0) /* frame_type: 0 KEY_FRAME */
        return 0;
    fl__bits_read(&b, 2); /* show_frame, error_resilient_mode */
    if (fl__bits_read(&b, 24) != 0x498342 || b.err)
        return 0;
    if (profile >= 2)
        fl__bits_read(&b, 1);        /* ten_or_twelve_bit */
    if (fl__bits_read(&b, 3) != 7) { /* color_space, not CS_RGB */
        fl__bits_read(&b, 1);        /* color_range */
        if (profile == 1 || profile == 3)
            fl__bits_read(&b, 3); /* subsampling_x, subsampling_y, reserved_zero */
    } else if (profile == 1 || profile == 3) {
        fl__bits_read(&b, 1);
    }
    uint32_t fw = fl__bits_read(&b, 16) + 1, fh = fl__bits_read(&b, 16) + 1;
    if (b.err)
        return 0;
    *w = (uint16_t)(fw > UINT16_MAX ? 0 : fw);
    *h = (uint16_t)(fh > UINT16_MAX ? 0 : fh);
    return 1;
}

/* Bytes that hold every size (1 to 4). */
static int size_bytes(size_t max)
{
    return max <= 0xff ? 1 : max <= 0xffff ? 2 : max <= 0xffffff ? 3 : 4;
}

/* Several layer frames: a superframe index after them (annex B). */
static void vp9_write_index(fl_depack *d, size_t end)
{
    size_t sizes[FL__VP9_MAX_LAYERS], max = 0;
    for (int i = 0; i < d->layers; i++) {
        size_t next = i + 1 < d->layers ? d->layer_at[i + 1] : end;
        sizes[i] = next - d->layer_at[i];
        max = sizes[i] > max ? sizes[i] : max;
    }
    int mag = size_bytes(max);
    uint8_t marker = (uint8_t)(0xc0 | (mag - 1) << 3 | (d->layers - 1));
    uint8_t *at = fl__depack_append(d, 2 + (size_t)mag * (size_t)d->layers);
    if (!at)
        return;
    *at++ = marker;
    for (int i = 0; i < d->layers; i++)
        for (int k = 0; k < mag; k++)
            *at++ = (uint8_t)(sizes[i] >> (8 * k));
    *at = marker;
}

int fl__vp9_finish(fl_depack *d, fl__grow *g)
{
    if (d->in_layer || d->layers == 0 || g->len == 0)
        return FL_EBADMSG;
    for (int i = 0; i < d->layers; i++) /* an empty layer frame */
        if ((i + 1 < d->layers ? d->layer_at[i + 1] : g->len) == d->layer_at[i])
            return FL_EBADMSG;
    uint16_t w = 0, h = 0;
    d->key = !d->first_p && vp9_key_header(g->p, g->len, &w, &h);
    if (d->key) {
        int sid = d->max_sid;
        if (d->ss_layers > 0 && d->ss_width[sid < d->ss_layers ? sid : d->ss_layers - 1]) {
            sid = sid < d->ss_layers ? sid : d->ss_layers - 1;
            w = d->ss_width[sid];
            h = d->ss_height[sid];
        }
        d->width = w;
        d->height = h;
    }
    if (d->layers > 1)
        vp9_write_index(d, g->len);
    return d->broken ? FL_EBADMSG : 0;
}
