/* Fuzzes codec/vdec. The first byte picks the decoder (VP8, VP9, H.264:
 * the byte mod 3); then frames as records |len (2 bytes, big-endian)|bytes|
 * (a record cut short by the end is fed as it is), each given to
 * fl_vdec_decode (H.264 in AVC form). Checks the results: 1 with a picture
 * whose every row is readable, 0, FL_EBADMSG or FL_EINVAL (empty) only. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "codec/coder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fl_codec_kind kinds[] = { FL_CODEC_VP8, FL_CODEC_VP9, FL_CODEC_H264 };

/* Reads the first and last byte of every row of every plane. */
static void touch(const fl_picture *p)
{
    if (p->width < 2 || p->height < 2 || p->width > 16384 || p->height > 16384)
        abort();
    unsigned sum = 0;
    for (int i = 0; i < 3; i++) {
        int w = i ? (p->width + 1) / 2 : p->width, h = i ? (p->height + 1) / 2 : p->height;
        if (!p->plane[i] || p->stride[i] < w)
            abort();
        for (int y = 0; y < h; y++)
            sum += p->plane[i][(size_t)y * (size_t)p->stride[i]] +
                   p->plane[i][(size_t)y * (size_t)p->stride[i] + (size_t)w - 1];
    }
    volatile unsigned sink = sum;
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fl_vdec *d;
    if (fl_vdec_create(&d, kinds[data[0] % 3]) != 0)
        abort();
    size_t at = 1;
    while (at < size) {
        size_t len = size - at >= 2 ? (size_t)data[at] << 8 | data[at + 1] : 0;
        at += size - at >= 2 ? 2 : 1;
        if (len > size - at)
            len = size - at;
        /* a copy of its own size, so a read past the frame is caught */
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame)
            abort();
        for (size_t i = 0; i < len; i++)
            frame[i] = data[at + i];
        fl_picture pic;
        int r = fl_vdec_decode(d, frame, len, &pic);
        if (r == 1)
            touch(&pic);
        else if (r != 0 && r != FL_EBADMSG && !(r == FL_EINVAL && len == 0))
            abort();
        free(frame);
        at += len;
    }
    fl_vdec_destroy(d);
    return 0;
}
