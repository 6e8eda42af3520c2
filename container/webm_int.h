/* container/ private: what the Matroska/WebM muxer (container/webm.c)
 * takes from each codec: the CodecPrivate blobs (avcC, OpusHead,
 * WAVEFORMATEX) and the length of an audio frame. Input is the caller's
 * (a depacketizer's, from the network): everything here reads within the
 * lengths given and fails cleanly on malformed bytes. Reentrant. */
#ifndef FL_CONTAINER_WEBM_INT_H
#define FL_CONTAINER_WEBM_INT_H

#include <stddef.h>
#include <stdint.h>

/* H.264 NAL unit types this muxer looks at (RFC 6184 1.3, H.264 7.4.1). */
#define FL__H264_NAL_SPS 7
#define FL__H264_NAL_PPS 8

/* An avcC never needs more than this beside its SPS and PPS. */
#define FL__AVCC_OVERHEAD 16

/* 1 when sps looks like an SPS NAL unit (type 7, the profile, constraint
 * and level bytes present) and pps like a PPS (type 8), each at most
 * 65535 bytes (avcC's 16-bit lengths); 0 otherwise. */
int fl__h264_param_sets_ok(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len);

/* Writes the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) for
 * one SPS and one PPS (checked by fl__h264_param_sets_ok) at out: 4-byte
 * NAL lengths; for profiles other than Baseline, Main and Extended the
 * chroma format and bit depths read from the SPS (left out when the SPS
 * cannot be read that far). Returns its length, or 0 when cap (at least
 * sps_len + pps_len + FL__AVCC_OVERHEAD is enough) is too small. */
size_t fl__avcc_write(uint8_t *out,
                      size_t cap,
                      const uint8_t *sps,
                      size_t sps_len,
                      const uint8_t *pps,
                      size_t pps_len);

#define FL__OPUS_HEAD_LEN 19
/* The Opus identification header (RFC 7845 5.1): version 1, mapping family
 * 0 (channels 1 or 2), output gain 0. */
void fl__opus_head_write(uint8_t out[FL__OPUS_HEAD_LEN],
                         unsigned channels,
                         uint16_t pre_skip,
                         uint32_t input_rate);

#define FL__WAVEFORMATEX_LEN  18
#define FL__WAVE_FORMAT_ALAW  6
#define FL__WAVE_FORMAT_MULAW 7
/* WAVEFORMATEX (little endian, cbSize 0) for 8-bit G.711 (A_MS/ACM). */
void fl__waveformatex_write(uint8_t out[FL__WAVEFORMATEX_LEN],
                            uint16_t format_tag,
                            unsigned channels,
                            uint32_t rate);

/* Microseconds of audio in an Opus packet (RFC 6716 3.1: the TOC byte's
 * frame size times its frame count), 0 when malformed. */
int64_t fl__opus_packet_us(const uint8_t *p, size_t len);

#endif
