/* Fuzzes codec/vp8 descriptor parsing: parse, check the fields against the
 * bytes, rewrite the picture id in a copy and require the copy to parse the
 * same with the new id. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_vp8_desc d;
    int r = fl_vp8_desc_parse(&d, data, size);
    if (r != 0) {
        if (r != FL_EBADMSG)
            abort();
        return 0;
    }
    if (d.header_len < 1 || d.header_len > 6 || d.header_len >= size || d.partition > 7 ||
        d.picture_id < -1 || d.picture_id > 32767)
        abort();
    if (d.keyframe && (!d.start || d.partition != 0))
        abort();
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    int id = size > 1 ? (data[size - 1] << 8 | data[size - 2]) : 77;
    r = fl_vp8_desc_set_picture_id(copy, size, id);
    if ((r == FL_ENOENT) != (d.picture_id < 0) || (r != 0 && r != FL_ENOENT))
        abort();
    fl_vp8_desc e;
    if (fl_vp8_desc_parse(&e, copy, size) != 0)
        abort();
    /* A picture id implies X and I, so data[2] is the M byte. */
    int wide = d.picture_id >= 0 && (data[2] & 0x80);
    int want = d.picture_id < 0 ? -1 : wide ? id & 0x7fff : id & 0x7f;
    if (e.picture_id != want || e.start != d.start || e.partition != d.partition ||
        e.keyframe != d.keyframe || e.header_len != d.header_len ||
        memcmp(copy + d.header_len, data + d.header_len, size - d.header_len) != 0)
        abort();
    free(copy);
    return 0;
}
