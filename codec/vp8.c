/* VP8 RTP payload descriptor (RFC 7741 4.2) and payload header key-frame bit (4.3).
 *
 *   0 1 2 3 4 5 6 7
 *  |X|R|N|S|R| PID |        always
 *  |I|L|T|K| RSV   |        if X
 *  |M| PictureID   |        if I (M: 15-bit PictureID, one more byte)
 *  |   TL0PICIDX   |        if L
 *  |TID|Y| KEYIDX  |        if T or K
 */
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "codec/codec.h"
#include "codec/codec_int.h"

#define VP8_X   0x80u
#define VP8_S   0x10u
#define VP8_PID 0x07u
#define VP8_I   0x80u
#define VP8_L   0x40u
#define VP8_T   0x20u
#define VP8_K   0x10u
#define VP8_M   0x80u
#define VP8_P   0x01u

/* Offset of the PictureID field, or 0 when absent; *wide for the 15-bit form. */
static int picture_id_at(const uint8_t *p, size_t len, size_t *at, int *wide)
{
    *at = 0;
    *wide = 0;
    if (len < 1)
        return FL_EBADMSG;
    if (!(p[0] & VP8_X))
        return 0;
    if (len < 2)
        return FL_EBADMSG;
    if (!(p[1] & VP8_I))
        return 0;
    if (len < 3)
        return FL_EBADMSG;
    *wide = (p[2] & VP8_M) != 0;
    if (*wide && len < 4)
        return FL_EBADMSG;
    *at = 2;
    return 0;
}

int fl_vp8_desc_parse(fl_vp8_desc *out, const uint8_t *payload, size_t len)
{
    size_t at;
    int wide;
    if (picture_id_at(payload, len, &at, &wide) != 0)
        return FL_EBADMSG;
    size_t n = 1;
    int picture_id = -1;
    if (payload[0] & VP8_X) {
        uint8_t ext = payload[1];
        n = 2;
        if (at) {
            if (wide)
                picture_id = ((payload[2] & 0x7f) << 8) | payload[3];
            else
                picture_id = payload[2] & 0x7f;
            n += wide ? 2 : 1;
        }
        if (ext & VP8_L)
            n++;
        if (ext & (VP8_T | VP8_K))
            n++;
    }
    /* A packet carries at least one byte of the VP8 frame. */
    if (len <= n)
        return FL_EBADMSG;
    out->start = (payload[0] & VP8_S) != 0;
    out->partition = (uint8_t)(payload[0] & VP8_PID);
    out->picture_id = picture_id;
    out->keyframe = out->start && out->partition == 0 && !(payload[n] & VP8_P);
    out->header_len = n;
    return 0;
}

int fl_vp8_desc_set_picture_id(uint8_t *payload, size_t len, int picture_id)
{
    fl_vp8_desc d;
    if (fl_vp8_desc_parse(&d, payload, len) != 0)
        return FL_EBADMSG;
    size_t at;
    int wide;
    (void)picture_id_at(payload, len, &at, &wide);
    if (!at)
        return FL_ENOENT;
    unsigned id = (unsigned)picture_id;
    if (wide) {
        payload[at] = (uint8_t)(VP8_M | ((id >> 8) & 0x7f));
        payload[at + 1] = (uint8_t)(id & 0xff);
    } else {
        payload[at] = (uint8_t)(id & 0x7f);
    }
    return 0;
}

void fl__vp8_desc_write(uint8_t *out, int start, int partition, int picture_id)
{
    unsigned id = (unsigned)picture_id;
    out[0] = (uint8_t)(VP8_X | (start ? VP8_S : 0) | ((unsigned)partition & VP8_PID));
    out[1] = VP8_I;
    out[2] = (uint8_t)(VP8_M | ((id >> 8) & 0x7f));
    out[3] = (uint8_t)(id & 0xff);
}
