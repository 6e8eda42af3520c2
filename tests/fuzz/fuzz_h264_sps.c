/* Fuzzes codec's H.264 SPS reader (fl_h264_sps_parse): any bytes after an
 * SPS NAL header; what it accepts must be a picture it could describe. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *nal = malloc(size + 1);
    if (!nal)
        return 0;
    nal[0] = 0x67;
    memcpy(nal + 1, data, size);
    fl_h264_sps s;
    memset(&s, 0xa5, sizeof(s));
    int r = fl_h264_sps_parse(&s, nal, size + 1);
    if (r != 0 && r != FL_EBADMSG)
        abort();
    if (r == 0) {
        if (s.width == 0 || s.height == 0 || s.chroma_format_idc > 3 || s.sps_id > 31 ||
            s.bit_depth_luma < 8 || s.bit_depth_luma > 14 || s.bit_depth_chroma < 8 ||
            s.bit_depth_chroma > 14 || s.frame_mbs_only > 1 ||
            s.profile_idc != (size ? data[0] : 0))
            abort();
        /* the same bytes with a header other than SPS are refused */
        nal[0] = 0x68;
        if (fl_h264_sps_parse(&s, nal, size + 1) != FL_EBADMSG)
            abort();
    }
    free(nal);
    return 0;
}
