/* Fuzzes codec/depack. The first byte picks the payload format (VP8, VP9,
 * H.264, Opus, PCMU, PCMA: the byte mod 6) and, for H.264, whether an fmtp
 * string (NUL-terminated) follows (bit 7: 0x80 is H.264 with one). Then
 * packets as records |flags|len|payload|: flags bit 0 marker, bit 1
 * lost_before, bits 2-3 sequence numbers skipped, bit 4 next timestamp.
 * Checks what comes out: only the codec's frames, within max_frame; H.264
 * in well-formed AVC form; video starting on a key frame and, after any
 * gap, going on only from a key frame. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"

#define MAX_FRAME 3000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fl_codec_kind kinds[] = { FL_CODEC_VP8,  FL_CODEC_VP9,  FL_CODEC_H264,
                                       FL_CODEC_OPUS, FL_CODEC_PCMU, FL_CODEC_PCMA };

static void check_avc(const fl_frame *f)
{
    size_t at = 0;
    while (at < f->len) {
        if (f->len - at < 5)
            abort();
        size_t n = (size_t)f->data[at] << 24 | (size_t)f->data[at + 1] << 16 |
                   (size_t)f->data[at + 2] << 8 | f->data[at + 3];
        if (n == 0 || n > f->len - at - 4)
            abort();
        at += 4 + n;
    }
}

/* Pulls everything; *need_key: the next video frame must be a key frame. */
static void pull(fl_depack *d, fl_codec_kind kind, uint32_t ts, int *need_key)
{
    fl_frame f;
    int video = fl_codec_kind_is_video(kind);
    while (fl_depack_pull(d, &f) == 1) {
        if (f.codec != kind || f.len == 0 || f.len > MAX_FRAME || !f.data)
            abort();
        if (!video && (!f.key || f.rtp_ts != ts || f.sps))
            abort();
        if (video && *need_key && !f.key)
            abort();
        if (!f.key && (f.width || f.height))
            abort();
        if ((f.sps || f.pps) && kind != FL_CODEC_H264)
            abort();
        if (f.sps_len > FL_DEPACK_MAX_PARAM_SET || f.pps_len > FL_DEPACK_MAX_PARAM_SET ||
            (f.sps == NULL) != (f.sps_len == 0) || (f.pps == NULL) != (f.pps_len == 0))
            abort();
        if (kind == FL_CODEC_H264)
            check_avc(&f);
        volatile uint8_t sink = f.data[f.len - 1]; /* readable to the end */
        (void)sink;
        if (f.key)
            *need_key = 0;
    }
    if (fl_depack_wants_key(d) && !video)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fl_codec_kind kind = kinds[data[0] % 6];
    size_t at = 1;
    char fmtp[256] = "";
    if (kind == FL_CODEC_H264 && (data[0] & 0x80)) {
        size_t n = 0;
        while (at < size && data[at] && n + 1 < sizeof(fmtp))
            fmtp[n++] = (char)data[at++];
        fmtp[n] = 0;
        at++;
    }
    fl_depack *d = NULL;
    fl_depack_config c = { .codec = kind, .fmtp = fmtp, .max_frame = MAX_FRAME };
    if (fl_depack_create(&d, &c) != 0)
        abort();
    uint16_t seq = 100;
    uint32_t ts = 0xfffffff0u;
    int need_key = 1;
    uint8_t *copy = malloc(256);
    while (at + 2 <= size) {
        uint8_t flags = data[at], len = data[at + 1];
        at += 2;
        if (len > size - at)
            len = (uint8_t)(size - at);
        memcpy(copy, data + at, len); /* the depacketizer must not keep it */
        at += len;
        unsigned skip = (flags >> 2) & 3;
        seq = (uint16_t)(seq + 1 + skip);
        if (flags & 0x10)
            ts += 3000;
        fl_depack_packet p = { .payload = copy,
                               .len = len,
                               .seq = seq,
                               .ts = ts,
                               .marker = flags & 1,
                               .lost_before = (flags >> 1) & 1 };
        if (skip || p.lost_before)
            need_key = 1;
        int r = fl_depack_push(d, &p);
        if (r != 0 && r != FL_EBADMSG && r != FL_ENOTSUP)
            abort();
        memset(copy, 0xee, 256);
        pull(d, kind, ts, &need_key);
    }
    fl_depack_flush(d);
    pull(d, kind, ts, &need_key);
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    if (st.unpulled != 0 || st.key_frames > st.frames)
        abort();
    free(copy);
    fl_depack_destroy(d);
    return 0;
}
