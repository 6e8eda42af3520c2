/* VP8 (RFC 7741) and VP9 (RFC 9628, non-flexible mode) packetizers.
 *
 * VP8: every payload starts with the 4-byte descriptor |X|R|N|S|R|PID|,
 * |I|L|T|K|RSV|, |M|PictureID (15 bits)|: X=1, I=1, M=1, S=1 on the
 * first packet of the frame, PID 0 (a frame is one partition to us).
 *
 * VP9: |I|P|L|F|B|E|V|Z| then |M|PICTURE ID (15 bits)|; L=0 (no layer
 * indices: one spatial and one temporal layer), F=0; on a key frame's
 * first packet, V=1 and the scalability structure (4.2.1) with one
 * spatial layer and its size when the frame's uncompressed header tells it:
 * |N_S=0|Y=1|G=0|-|-|-| WIDTH (16) HEIGHT (16).
 *
 * A frame and its descriptors are split into near-equal payloads: the
 * payload count is the fewest that fit in max_payload. */
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "codec/codec.h"
#include "codec/codec_int.h"
#include "codec/pack_int.h"

#define VP9_I 0x80u
#define VP9_P 0x40u
#define VP9_B 0x08u
#define VP9_E 0x04u
#define VP9_V 0x02u
#define VP9_M 0x80u
#define VP9_Y 0x10u

#define VP9_DESC_LEN 3 /* flags, 15-bit PictureID */
#define VP9_SS_LEN   5 /* N_S|Y|G, width, height */

static void next_picture_id(fl_pack *p)
{
    p->picture_id = p->next_picture_id;
    p->next_picture_id = (uint16_t)((p->next_picture_id + 1u) % FL_VP8_PICTURE_ID_MOD);
}

/* Writes piece p->part: its descriptor (hdr bytes, from write_desc) then
 * the frame's next bytes. */
static size_t vpx_piece(fl_pack *p, uint8_t *out, size_t hdr, int *marker)
{
    size_t piece = fl__pack_piece(p, p->part);
    size_t body = piece - hdr;
    memcpy(out + hdr, p->frame.p + p->at, body);
    p->at += body;
    p->part++;
    *marker = p->part == p->parts;
    if (p->part == p->parts)
        p->pending = 0;
    return piece;
}

/* ---- VP8 ---- */

/* Plans the fewest payloads of at most max_payload for the frame, each
 * with a descriptor of hdr bytes and the first with first_extra more. */
static void vpx_plan(fl_pack *p, size_t hdr)
{
    size_t body = p->max_payload - hdr;
    size_t parts = (p->frame.len + p->first_extra + body - 1) / body;
    size_t total = p->frame.len + p->first_extra + parts * hdr;
    p->parts = parts;
    p->base = total / parts;
    p->rem = total % parts;
    p->part = 0;
    p->at = 0;
}

int fl__pack_vp8_frame(fl_pack *p, const fl_pack_input *in)
{
    (void)in; /* the key bit is in the frame's own payload header */
    next_picture_id(p);
    p->first_extra = 0;
    vpx_plan(p, FL_VP8_DESC_LEN);
    return 0;
}

size_t fl__pack_vp8_next(fl_pack *p, uint8_t *out, int *marker)
{
    if (p->part >= p->parts)
        return 0;
    fl__vp8_desc_write(out, p->part == 0, 0, p->picture_id);
    return vpx_piece(p, out, FL_VP8_DESC_LEN, marker);
}

/* ---- VP9 ---- */

/* The frame size from a key frame's uncompressed header (VP9 bitstream
 * 6.2: frame_marker, profile, show_existing_frame, frame_type, show_frame,
 * error_resilient_mode, sync code, color_config, frame_size). 0 when it is
 * not a key frame or cannot be read. */
static int vp9_key_size(const uint8_t *f, size_t len, uint16_t *w, uint16_t *h)
{
    fl__bits b;
    fl__bits_init(&b, f, len, 0);
    if (fl__bits_read(&b, 2) != 2)
        return 0;
    unsigned profile = fl__bits_read(&b, 1);
    profile |= fl__bits_read(&b, 1) << 1;
    if (profile == 3)
        fl__bits_read(&b, 1);                         /* reserved_zero */
    if (fl__bits_read(&b, 1) || fl__bits_read(&b, 1)) /* show_existing_frame, frame_type */
        return 0;
    fl__bits_read(&b, 2);
    if (fl__bits_read(&b, 24) != 0x498342 || b.err)
        return 0;
    if (profile >= 2)
        fl__bits_read(&b, 1); /* ten_or_twelve_bit */
    int rgb = fl__bits_read(&b, 3) == 7;
    if (!rgb)
        fl__bits_read(&b, 1); /* color_range */
    if (profile == 1 || profile == 3)
        fl__bits_read(&b, rgb ? 1 : 3);
    uint32_t fw = fl__bits_read(&b, 16) + 1, fh = fl__bits_read(&b, 16) + 1;
    if (b.err || fw > UINT16_MAX || fh > UINT16_MAX)
        return 0;
    *w = (uint16_t)fw;
    *h = (uint16_t)fh;
    return 1;
}

int fl__pack_vp9_frame(fl_pack *p, const fl_pack_input *in)
{
    next_picture_id(p);
    p->key = in->key != 0;
    p->width = 0;
    p->height = 0;
    if (p->key)
        (void)vp9_key_size(p->frame.p, p->frame.len, &p->width, &p->height);
    p->first_extra = p->width ? VP9_SS_LEN : 0;
    vpx_plan(p, VP9_DESC_LEN);
    return 0;
}

size_t fl__pack_vp9_next(fl_pack *p, uint8_t *out, int *marker)
{
    if (p->part >= p->parts)
        return 0;
    int first = p->part == 0, last = p->part + 1 == p->parts;
    int ss = first && p->first_extra;
    out[0] = (uint8_t)(VP9_I | (p->key ? 0 : VP9_P) | (first ? VP9_B : 0) | (last ? VP9_E : 0) |
                       (ss ? VP9_V : 0));
    out[1] = (uint8_t)(VP9_M | ((p->picture_id >> 8) & 0x7f));
    out[2] = (uint8_t)(p->picture_id & 0xff);
    size_t hdr = VP9_DESC_LEN;
    if (ss) {
        out[hdr++] = VP9_Y; /* N_S 0: one spatial layer; G 0 */
        fl_put_be16(out + hdr, p->width);
        fl_put_be16(out + hdr + 2, p->height);
        hdr += 4;
    }
    return vpx_piece(p, out, hdr, marker);
}
