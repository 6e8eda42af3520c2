/* The codec side of Matroska's audio tracks: OpusHead, WAVEFORMATEX for
 * G.711, and Opus packet durations (H.264's avcC: container/avcc.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "container/webm_int.h"

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
