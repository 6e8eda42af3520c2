/* Fuzzes codec/pack. Byte 0 picks the payload format (VP8, VP9, H.264,
 * Opus, PCMU, PCMA: the byte mod 6) and, for H.264, the input form (bits
 * 4-5: Annex B, or NAL lengths of 1, 2 or 4 bytes); byte 1 the max_payload
 * (64 + 4 * the byte). Then frames as records |key|len (2 bytes, big
 * endian)|bytes|. Each frame is packetized and its payloads pushed into a
 * depacketizer. Checks: no payload is empty or over max_payload; the
 * marker is on a video frame's last payload only; a frame refused is
 * refused with FL_EBADMSG (or FL_EMSGSIZE, Opus) and gives no payload; the
 * depacketizer takes every payload as well-formed; a VP8 or VP9 frame that
 * comes out of it is the frame that went in, an audio one the payload. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fl_codec_kind kinds[] = { FL_CODEC_VP8,  FL_CODEC_VP9,  FL_CODEC_H264,
                                       FL_CODEC_OPUS, FL_CODEC_PCMU, FL_CODEC_PCMA };
static const unsigned forms[] = { 0, 1, 2, 4 };

/* What the depacketizer gives: `want` (VP8, VP9: the frame; audio: the
 * payload, one frame each), or for H.264 anything well-formed. */
static void check_out(fl_depack *d, fl_codec_kind kind, const uint8_t *want, size_t len)
{
    fl_frame f;
    while (fl_depack_pull(d, &f) == 1) {
        if (f.codec != kind || f.len == 0)
            abort();
        if (kind != FL_CODEC_H264 && (f.len != len || memcmp(f.data, want, len) != 0))
            abort();
    }
}

/* Packs one frame and pushes what comes out. */
static void one_frame(fl_pack *p,
                      fl_depack *d,
                      fl_codec_kind kind,
                      size_t max,
                      const fl_pack_input *in,
                      uint16_t *seq,
                      uint32_t ts)
{
    static uint8_t buf[2048];
    int r = fl_pack_frame(p, in);
    if (r != 0) {
        if (r != FL_EBADMSG && !(r == FL_EMSGSIZE && kind == FL_CODEC_OPUS))
            abort();
        int m;
        if (fl_pack_next(p, buf, sizeof(buf), &m) != 0)
            abort();
        return;
    }
    int video = fl_codec_kind_is_video(kind), marker = 0, m;
    size_t n, count = 0;
    while ((n = fl_pack_next(p, buf, sizeof(buf), &m)) > 0) {
        if (n > max || marker || (m && !video) || count++ > in->len + 64)
            abort();
        marker = m;
        fl_depack_packet dp = { .payload = buf, .len = n, .seq = (*seq)++, .ts = ts, .marker = m };
        if (fl_depack_push(d, &dp) != 0)
            abort();
        if (video)
            check_out(d, kind, in->data, in->len);
        else
            check_out(d, kind, buf, n);
    }
    if (count == 0 || (video && !marker))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fl_codec_kind kind = kinds[data[0] % 6];
    size_t max = 64 + 4 * (size_t)data[1];
    fl_pack_config c = { .codec = kind,
                         .max_payload = max,
                         .nal_length_size = forms[(data[0] >> 4) & 3],
                         .seed = data[1] * 300u };
    fl_pack *p = NULL;
    fl_depack *d = NULL;
    fl_depack_config dc = { .codec = kind };
    if (fl_pack_create(&p, &c) != 0 || fl_depack_create(&d, &dc) != 0)
        abort();
    uint16_t seq = 65530;
    uint32_t ts = 0;
    for (size_t at = 2; at + 3 <= size;) {
        int key = data[at] & 1;
        size_t len = (size_t)data[at + 1] << 8 | data[at + 2];
        at += 3;
        if (len > size - at)
            len = size - at;
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
        if (!copy)
            abort();
        memcpy(copy, data + at, len);
        at += len;
        one_frame(p, d, kind, max, &(fl_pack_input){ copy, len, key }, &seq, ts);
        free(copy);
        ts += 3000;
    }
    fl_pack_stats st;
    fl_pack_get_stats(p, &st);
    if (st.payloads < st.frames)
        abort();
    fl_pack_destroy(p);
    fl_depack_destroy(d);
    return 0;
}
