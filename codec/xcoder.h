/* codec/xcoder.h: one transcode, frames of one format in, frames of
 * another out (decode, convert, encode), sans-IO: no clock, no thread.
 *
 * Video: decode, scale to the output size (the input's, capped by the
 * largest size asked for, aspect kept, even), thin to the frame rate cap,
 * encode. Audio: decode, convert channels, resample, re-chunk into the
 * encoder's frames, encode. The same encoded format may be asked for (a
 * size, rate or bitrate cap of the same codec).
 *
 * Timestamps: video keeps the input's RTP timestamps (every video clock is
 * 90 kHz); audio outputs on its own clock, an input timestamp scaled by
 * out_rate / in_rate, so one Sender Report maps both.
 *
 *     fl_xcoder_push(x, data, len, ts, 1);
 *     while (fl_xcoder_pull(x, &f) == 1)
 *         packetize f.data at f.ts;
 *
 * One owner; no allocation per frame once warmed up (a new picture size
 * makes a new encoder). */
#ifndef FL_CODEC_XCODER_H
#define FL_CODEC_XCODER_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

typedef struct fl_xcoder fl_xcoder;

typedef struct fl_xcoder_config {
    fl_codec_kind in, out;
    int out_channels;          /* audio: 1 or 2 (G.711: 1) */
    int max_width, max_height; /* video: 0 no cap */
    int max_fps;               /* video: 0 no cap */
    int kbps;                  /* the encoder's first target; 0: 1000 video, 32/64 Opus */
} fl_xcoder_config;

typedef struct fl_xcoder_frame {
    const uint8_t *data; /* valid until the next push, pull or destroy */
    size_t len;
    uint32_t ts; /* RTP timestamp on the output clock */
    int key;     /* video key frame; 1 for audio */
    int width;   /* video: the encoded size */
    int height;
} fl_xcoder_frame;

typedef struct fl_xcoder_stats {
    uint64_t frames_in;
    uint64_t decoded;       /* pictures or audio frames out of the decoder */
    uint64_t decode_errors; /* frames the decoder refused */
    uint64_t encoded;       /* frames out of the encoder */
    uint64_t skipped;       /* decoded but not encoded: asked to (behind) or the frame rate cap */
    uint64_t rate_dropped;  /* the encoder's rate control dropped them */
    uint64_t key_frames;    /* encoded key frames */
    uint64_t encoders;      /* encoders made (a size change makes one) */
} fl_xcoder_stats;

/* 0, FL_EINVAL (a kind with no decoder, or no encoder, or bad caps),
 * FL_ENOMEM, FL_EIO. Audio's encoder is made at once; video's at the first
 * picture (its size is known then). */
int fl_xcoder_create(fl_xcoder **out, const fl_xcoder_config *cfg);
void fl_xcoder_destroy(fl_xcoder *x);

/* 1 when there is a decoder for `in` and an encoder for `out` here. */
int fl_xcoder_supports(fl_codec_kind in, fl_codec_kind out);

/* Takes one input frame (an fl_depack frame: data, its RTP timestamp on
 * the input clock). encode 0: decode only, to keep the decoder's state
 * (a transcoder that is behind). Returns 0, FL_EBADMSG when the decoder
 * refused it (ask upstream for a key frame), FL_EIO when the encoder
 * failed, FL_ENOMEM. Frames it makes wait for fl_xcoder_pull; ones not
 * pulled before the next push are dropped. */
int fl_xcoder_push(fl_xcoder *x, const uint8_t *data, size_t len, uint32_t ts, int encode);

/* 1 and the next output frame, 0 when none is left. */
int fl_xcoder_pull(fl_xcoder *x, fl_xcoder_frame *out);

/* The next encoded picture is a key frame. */
void fl_xcoder_force_key(fl_xcoder *x);

/* The encoder's target from now on (clamped to the codec's range). */
void fl_xcoder_set_bitrate(fl_xcoder *x, int kbps);

void fl_xcoder_get_stats(const fl_xcoder *x, fl_xcoder_stats *out);

#endif
