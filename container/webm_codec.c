/* The codec side of Matroska tracks: avcC from the SPS/PPS, OpusHead,
 * WAVEFORMATEX for G.711, and Opus packet durations. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/wire.h"
#include "container/webm_int.h"

#define PARAM_SET_MAX 65535

/* ---- H.264 ---- */

int fl__h264_param_sets_ok(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len)
{
    return sps && pps && sps_len >= 4 && sps_len <= PARAM_SET_MAX && pps_len >= 1 &&
           pps_len <= PARAM_SET_MAX && (sps[0] & 0x1f) == FL__H264_NAL_SPS &&
           (pps[0] & 0x1f) == FL__H264_NAL_PPS;
}

/* Reads the RBSP of a NAL unit bit by bit: emulation prevention bytes
 * (0x000003) skipped. Past the end it reads zeros and sets `over`. */
typedef struct rbsp {
    const uint8_t *p;
    size_t len;
    size_t at;     /* next byte */
    unsigned bit;  /* next bit in p[at], 7..0 */
    unsigned zero; /* zero bytes just read */
    int over;
} rbsp;

static unsigned rbsp_bit(rbsp *r)
{
    if (r->at >= r->len) {
        r->over = 1;
        return 0;
    }
    if (r->bit == 7 && r->zero >= 2 && r->p[r->at] == 3) {
        r->zero = 0;
        if (++r->at >= r->len) {
            r->over = 1;
            return 0;
        }
    }
    unsigned b = (r->p[r->at] >> r->bit) & 1u;
    if (r->bit == 0) {
        r->zero = r->p[r->at] == 0 ? r->zero + 1 : 0;
        r->bit = 7;
        r->at++;
    } else {
        r->bit--;
    }
    return b;
}

/* ue(v), H.264 9.1; values past 2^31 mark the reader over. */
static uint32_t rbsp_ue(rbsp *r)
{
    unsigned zeros = 0;
    while (!rbsp_bit(r)) {
        if (r->over || ++zeros > 31) {
            r->over = 1;
            return 0;
        }
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < zeros; i++)
        v = v << 1 | rbsp_bit(r);
    return (uint32_t)((UINT64_C(1) << zeros) - 1 + v);
}

typedef struct sps_format {
    uint32_t chroma_format_idc;
    uint32_t bit_depth_luma_minus8;
    uint32_t bit_depth_chroma_minus8;
} sps_format;

/* The chroma format and bit depths of a High-family SPS (H.264 7.3.2.1.1).
 * 0, or -1 when the SPS ends or is out of range before them. */
static int sps_read_format(const uint8_t *sps, size_t len, sps_format *out)
{
    rbsp r = { .p = sps, .len = len, .at = 4, .bit = 7 }; /* after header, profile, flags, level */
    (void)rbsp_ue(&r);                                    /* seq_parameter_set_id */
    out->chroma_format_idc = rbsp_ue(&r);
    if (out->chroma_format_idc == 3)
        (void)rbsp_bit(&r); /* separate_colour_plane_flag */
    out->bit_depth_luma_minus8 = rbsp_ue(&r);
    out->bit_depth_chroma_minus8 = rbsp_ue(&r);
    if (r.over || out->chroma_format_idc > 3 || out->bit_depth_luma_minus8 > 6 ||
        out->bit_depth_chroma_minus8 > 6)
        return -1;
    return 0;
}

size_t fl__avcc_write(uint8_t *out,
                      size_t cap,
                      const uint8_t *sps,
                      size_t sps_len,
                      const uint8_t *pps,
                      size_t pps_len)
{
    if (cap < sps_len + pps_len + FL__AVCC_OVERHEAD)
        return 0;
    uint8_t profile = sps[1];
    size_t n = 0;
    out[n++] = 1; /* configurationVersion */
    out[n++] = profile;
    out[n++] = sps[2];   /* profile_compatibility: the constraint flags */
    out[n++] = sps[3];   /* AVCLevelIndication */
    out[n++] = 0xfc | 3; /* lengthSizeMinusOne: 4-byte lengths */
    out[n++] = 0xe0 | 1; /* one SPS */
    fl_put_be16(out + n, (uint16_t)sps_len);
    memcpy(out + n + 2, sps, sps_len);
    n += 2 + sps_len;
    out[n++] = 1; /* one PPS */
    fl_put_be16(out + n, (uint16_t)pps_len);
    memcpy(out + n + 2, pps, pps_len);
    n += 2 + pps_len;
    sps_format f;
    if (profile != 66 && profile != 77 && profile != 88 && sps_read_format(sps, sps_len, &f) == 0) {
        out[n++] = (uint8_t)(0xfc | f.chroma_format_idc);
        out[n++] = (uint8_t)(0xf8 | f.bit_depth_luma_minus8);
        out[n++] = (uint8_t)(0xf8 | f.bit_depth_chroma_minus8);
        out[n++] = 0; /* numOfSequenceParameterSetExt */
    }
    return n;
}

/* ---- audio ---- */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

void fl__opus_head_write(uint8_t out[FL__OPUS_HEAD_LEN],
                         unsigned channels,
                         uint16_t pre_skip,
                         uint32_t input_rate)
{
    memcpy(out, "OpusHead", 8);
    out[8] = 1; /* version */
    out[9] = (uint8_t)channels;
    put_le16(out + 10, pre_skip);
    put_le32(out + 12, input_rate);
    put_le16(out + 16, 0); /* output gain, Q7.8 dB */
    out[18] = 0;           /* mapping family 0: mono or stereo, no table */
}

void fl__waveformatex_write(uint8_t out[FL__WAVEFORMATEX_LEN],
                            uint16_t format_tag,
                            unsigned channels,
                            uint32_t rate)
{
    put_le16(out, format_tag);
    put_le16(out + 2, (uint16_t)channels);
    put_le32(out + 4, rate);                /* nSamplesPerSec */
    put_le32(out + 8, rate * channels);     /* nAvgBytesPerSec: one byte a sample */
    put_le16(out + 12, (uint16_t)channels); /* nBlockAlign */
    put_le16(out + 14, 8);                  /* wBitsPerSample */
    put_le16(out + 16, 0);                  /* cbSize */
}

int64_t fl__opus_packet_us(const uint8_t *p, size_t len)
{
    if (len < 1)
        return 0;
    unsigned config = p[0] >> 3;
    int64_t frame_us;
    if (config < 12) /* SILK: 10, 20, 40, 60 ms */
        frame_us = (int64_t[]){ 10000, 20000, 40000, 60000 }[config & 3];
    else if (config < 16) /* hybrid: 10, 20 ms */
        frame_us = (config & 1) ? 20000 : 10000;
    else /* CELT: 2.5, 5, 10, 20 ms */
        frame_us = (int64_t)2500 << (config & 3);
    unsigned frames;
    switch (p[0] & 3) {
    case 0:
        frames = 1;
        break;
    case 1:
    case 2:
        frames = 2;
        break;
    default:
        if (len < 2)
            return 0;
        frames = p[1] & 0x3f;
        break;
    }
    int64_t us = frame_us * frames;
    return us > 120000 ? 0 : us; /* RFC 6716 3.2.5: at most 120 ms */
}
