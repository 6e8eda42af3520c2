/* Payload format kinds by name, and which RTP packets start a key frame,
 * per payload format: VP8 (RFC 7741), VP9 (RFC 9628), H.264 (RFC 6184).
 * Read in place; nothing is copied. */
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "codec/codec.h"

enum {
    H264_IDR = 5,
    H264_SPS = 7,
    H264_STAP_A = 24,
    H264_FU_A = 28,
};

static int h264_key_nal(uint8_t type)
{
    return type == H264_IDR || type == H264_SPS;
}

static int h264_key_start(const uint8_t *p, size_t len)
{
    if (len < 1)
        return 0;
    uint8_t type = p[0] & 0x1f;
    if (type == H264_STAP_A) {
        for (size_t at = 1; at + 2 < len;) {
            size_t n = (size_t)p[at] << 8 | p[at + 1];
            if (n == 0 || at + 2 + n > len)
                return 0;
            if (h264_key_nal(p[at + 2] & 0x1f))
                return 1;
            at += 2 + n;
        }
        return 0;
    }
    if (type == H264_FU_A)
        return len >= 2 && (p[1] & 0x80) && h264_key_nal(p[1] & 0x1f);
    return h264_key_nal(type);
}

/* RFC 9628 4.2: I|P|L|F|B|E|V|Z; a packet that begins a frame (B) of a
 * picture not predicted from another (P clear). */
static int vp9_key_start(const uint8_t *p, size_t len)
{
    return len >= 1 && (p[0] & 0x08) && !(p[0] & 0x40);
}

const char *fl_codec_kind_name(fl_codec_kind kind)
{
    static const char *const names[] = { "other", "VP8", "VP9", "H264", "opus", "PCMU", "PCMA" };
    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "other";
}

fl_codec_kind fl_codec_kind_of(const char *name)
{
    if (!name)
        return FL_CODEC_OTHER;
    if (strcasecmp(name, "VP8") == 0)
        return FL_CODEC_VP8;
    if (strcasecmp(name, "VP9") == 0)
        return FL_CODEC_VP9;
    if (strcasecmp(name, "H264") == 0)
        return FL_CODEC_H264;
    if (strcasecmp(name, "opus") == 0)
        return FL_CODEC_OPUS;
    if (strcasecmp(name, "PCMU") == 0)
        return FL_CODEC_PCMU;
    if (strcasecmp(name, "PCMA") == 0)
        return FL_CODEC_PCMA;
    return FL_CODEC_OTHER;
}

int fl_codec_kind_is_video(fl_codec_kind kind)
{
    return kind == FL_CODEC_VP8 || kind == FL_CODEC_VP9 || kind == FL_CODEC_H264;
}

int fl_codec_key_frame_start(fl_codec_kind kind, const uint8_t *payload, size_t len)
{
    fl_vp8_desc d;
    switch (kind) {
    case FL_CODEC_VP8:
        return fl_vp8_desc_parse(&d, payload, len) == 0 && d.keyframe;
    case FL_CODEC_VP9:
        return vp9_key_start(payload, len);
    case FL_CODEC_H264:
        return h264_key_start(payload, len);
    default:
        return 0;
    }
}
