/* Fuzzes codec/keyframe: every payload format's key-frame test on
 * arbitrary bytes (the first byte picks the format); VP8 must agree with
 * the descriptor parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fl_codec_kind kind = (fl_codec_kind)(data[0] % 4);
    int r = fl_codec_key_frame_start(kind, data + 1, size - 1);
    if (r != 0 && r != 1)
        abort();
    if (kind == FL_CODEC_VP8) {
        fl_vp8_desc d;
        int want = fl_vp8_desc_parse(&d, data + 1, size - 1) == 0 && d.keyframe;
        if (r != want)
            abort();
    }
    return 0;
}
