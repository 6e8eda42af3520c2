/* The AVCDecoderConfigurationRecord (ISO/IEC 14496-15) that both muxers
 * write: the body of MP4's avcC box (container/mp4.c) and Matroska's
 * V_MPEG4/ISO/AVC CodecPrivate (container/webm.c). The SPS is read by
 * codec/'s fl_h264_sps_parse, the one H.264 SPS reader in the tree. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/wire.h"
#include "codec/codec.h"
#include "container/container_int.h"

/* H.264 NAL unit types (H.264 7.4.1). */
#define NAL_SPS 7
#define NAL_PPS 8

/* avcC's lengths are 16 bits. */
#define PARAM_SET_MAX 65535

int fl__h264_param_sets_ok(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len)
{
    return sps && pps && sps_len >= 4 && sps_len <= PARAM_SET_MAX && pps_len >= 1 &&
           pps_len <= PARAM_SET_MAX && (sps[0] & 0x1f) == NAL_SPS && (pps[0] & 0x1f) == NAL_PPS;
}

/* The record ends with chroma_format, bit_depth_luma_minus8,
 * bit_depth_chroma_minus8 and numOfSequenceParameterSetExt for every
 * profile but Baseline (66), Main (77) and Extended (88): the rule the
 * record's syntax states in ISO/IEC 14496-15:2022 (5.3.2.1), and the one
 * both muxers had. (Older editions named only 100, 110, 122 and 144, which
 * leaves out High 4:4:4 Predictive, 244.) For a profile whose SPS does not
 * code these fields, H.264 7.4.2.1.1 infers 4:2:0 and 8 bits, which is
 * what fl_h264_sps_parse gives. */
static int has_ext(uint8_t profile_idc)
{
    return profile_idc != 66 && profile_idc != 77 && profile_idc != 88;
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
    size_t n = 0;
    out[n++] = 1;        /* configurationVersion */
    out[n++] = sps[1];   /* AVCProfileIndication */
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
    fl_h264_sps s;
    if (has_ext(sps[1]) && fl_h264_sps_parse(&s, sps, sps_len) == 0) {
        out[n++] = (uint8_t)(0xfc | s.chroma_format_idc);
        out[n++] = (uint8_t)(0xf8 | (s.bit_depth_luma - 8));
        out[n++] = (uint8_t)(0xf8 | (s.bit_depth_chroma - 8));
        out[n++] = 0; /* numOfSequenceParameterSetExt */
    }
    return n;
}
