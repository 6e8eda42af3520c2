/* container/ private: what the Matroska/WebM muxer (container/webm.c)
 * takes from each codec: the CodecPrivate blobs for audio (OpusHead,
 * WAVEFORMATEX; H.264's avcC is container_int.h's, shared with MP4) and
 * the length of an audio frame. Input is the caller's (a depacketizer's,
 * from the network): everything here reads within the lengths given and
 * fails cleanly on malformed bytes. Reentrant. */
#ifndef FL_CONTAINER_WEBM_INT_H
#define FL_CONTAINER_WEBM_INT_H

#include <stddef.h>
#include <stdint.h>

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
