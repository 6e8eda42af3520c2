/* The numbered packets the engine's media tests push and check: packet
 * `seq` of `media` is 20-219 bytes, each byte a function of both, so a
 * sink can tell a lost, repeated, reordered or altered packet. */
#ifndef FL_TESTS_UNIT_ENGINE_MEDIA_PACKETS_H
#define FL_TESTS_UNIT_ENGINE_MEDIA_PACKETS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/fluo.h"

/* Writes packet seq of media into out (256 bytes at least); its length. */
static inline size_t make_packet(uint8_t *out, unsigned media, int seq)
{
    size_t len = 20 + (size_t)(seq % 200);
    out[0] = (uint8_t)media;
    out[1] = (uint8_t)(seq >> 8);
    out[2] = (uint8_t)seq;
    for (size_t i = 3; i < len; i++)
        out[i] = (uint8_t)(seq * 7 + i);
    return len;
}

/* 0, 1, 2 for audio, video, data. */
static inline int media_idx(unsigned media)
{
    return media == FL_MEDIA_AUDIO ? 0 : media == FL_MEDIA_VIDEO ? 1 : 2;
}

#endif
