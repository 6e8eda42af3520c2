/* Fuzzes codec/vp8_rewrite: the full descriptor parse (fields checked
 * against the bytes, write-back of the same values gives the same bytes),
 * then the input as a run of packets through a viewer's rewrite, with
 * switches and target changes between them: a packet sent keeps its
 * length, flags and frame bytes; one dropped is left as it was. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/vp8_rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const uint8_t *p, size_t len)
{
    fl_vp8_descriptor d;
    int r = fl_vp8_descriptor_parse(&d, p, len);
    if (r != 0) {
        if (r != FL_EBADMSG)
            abort();
        return;
    }
    if (d.header_len < 1 || d.header_len > 6 || d.header_len >= len || d.partition > 7 ||
        d.tid > 3 || d.keyidx > 31 || (!d.m && d.picture_id > 127))
        abort();
    if (d.i != (d.picture_id_at != 0) || d.l != (d.tl0picidx_at != 0) ||
        (d.t || d.k) != (d.tk_at != 0))
        abort();
    if (d.keyframe && (!d.s || d.partition != 0))
        abort();
    uint8_t copy[16];
    size_t n = len < sizeof(copy) ? len : sizeof(copy);
    memcpy(copy, p, n);
    fl_vp8_descriptor_write(copy, &d);
    if (memcmp(copy, p, n) != 0)
        abort();
}

/* One packet through the rewrite, in a copy. */
static void check_packet(fl_vp8_rewrite *vr, const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, p, len);
    fl_vp8_descriptor in, out;
    int parsed = fl_vp8_descriptor_parse(&in, p, len) == 0;
    int r = fl_vp8_rewrite_packet(vr, copy, len);
    if (r == 1) {
        if (!parsed || fl_vp8_descriptor_parse(&out, copy, len) != 0)
            abort();
        if (out.header_len != in.header_len || out.m != in.m || out.tid != in.tid ||
            out.y != in.y || out.s != in.s || out.keyframe != in.keyframe ||
            memcmp(copy + in.header_len, p + in.header_len, len - in.header_len) != 0)
            abort();
    } else {
        if ((r != 0 && r != FL_EBADMSG) || (r == FL_EBADMSG && parsed && in.i == 0) ||
            memcmp(copy, p, len) != 0)
            abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(data, size);
    /* packets: [control][length][bytes...]; control bit 7 a switch before
     * the packet, bit 6 a new target TID (bits 0-2, 4+ meaning "all") */
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    size_t at = 0;
    while (at + 2 <= size) {
        uint8_t ctl = data[at];
        size_t len = data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        if (ctl & 0x80)
            fl_vp8_rewrite_switch(&vr);
        if (ctl & 0x40)
            fl_vp8_rewrite_set_target_tid(&vr, (ctl & 7) > 3 ? 9 : ctl & 7);
        check_parse(data + at, len);
        check_packet(&vr, data + at, len);
        at += len;
    }
    return 0;
}
