/* Fuzzes net/rtp parsing: parse, walk every extension through the typed
 * getters, rebuild the packet and require the copy to parse the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_rtp_view v;
    (void)fl_demux_classify(size ? data[0] : 0);
    (void)fl_demux_is_rtcp(data, size);
    if (fl_rtp_parse(&v, data, size) != 0)
        return 0;
    if (v.header_len + v.payload_len + v.pad_len != size)
        abort();
    fl_rtp_ext exts[64];
    size_t ne = 0;
    fl_rtp_ext_iter it;
    int ok = 1;
    if (fl_rtp_ext_iter_init(&it, &v) == 0) {
        fl_rtp_ext e;
        int r;
        while ((r = fl_rtp_ext_iter_next(&it, &e)) == 1) {
            uint32_t u32;
            uint16_t u16;
            const char *s;
            size_t n;
            int voice;
            uint8_t level;
            fl_rtp_ext_get_abs_send_time(&e, &u32);
            fl_rtp_ext_get_twcc_seq(&e, &u16);
            fl_rtp_ext_get_string(&e, &s, &n);
            fl_rtp_ext_get_audio_level(&e, &voice, &level);
            if (ne < 64)
                exts[ne++] = e;
            else
                ok = 0;
        }
        if (r < 0)
            ok = 0;
    } else if (v.extension) {
        ok = 0;
    }
    for (size_t i = 0; i < v.csrc_count; i++)
        (void)fl_rtp_view_csrc(&v, i);
    if (!ok)
        return 0;
    fl_rtp_header h = { .marker = v.marker,
                        .payload_type = v.payload_type,
                        .seq = v.seq,
                        .timestamp = v.timestamp,
                        .ssrc = v.ssrc,
                        .csrc_count = v.csrc_count,
                        .exts = exts,
                        .num_exts = ne,
                        .two_byte = v.extension && v.ext_profile != FL_RTP_EXT_ONE_BYTE };
    for (size_t i = 0; i < v.csrc_count; i++)
        h.csrcs[i] = fl_rtp_view_csrc(&v, i);
    static uint8_t out[1 << 17];
    size_t n;
    if (fl_rtp_write(out, sizeof(out), &h, v.payload, v.payload_len, v.pad_len, &n) != 0)
        return 0;
    fl_rtp_view w;
    if (fl_rtp_parse(&w, out, n) != 0)
        abort();
    if (w.seq != v.seq || w.ssrc != v.ssrc || w.timestamp != v.timestamp ||
        w.payload_len != v.payload_len || w.csrc_count != v.csrc_count ||
        memcmp(w.payload, v.payload, v.payload_len) != 0)
        abort();
    for (size_t i = 0; i < ne; i++) {
        fl_rtp_ext e;
        if (fl_rtp_ext_find(&w, exts[i].id, &e) != 0)
            abort();
    }
    return 0;
}
