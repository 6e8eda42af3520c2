/* Transcoders: Kurento's agnostic media. A sink pad whose element cannot
 * take the format reaching it asks for a transcoder on that link; one
 * transcoder per source pad and output format serves every sink that needs
 * the same output. The worker depacketizes and hands whole frames to a
 * codec thread (decode, scale, encode: codec/xcoder.h), which hands the
 * encoded frames back; the worker packetizes them and delivers them to the
 * sinks as if the source had sent them. Frames cross in single-producer
 * single-consumer rings: no lock per frame. A transcoder that falls behind
 * decodes every frame but encodes only the newest, and counts what it
 * skipped; it never delays the worker.
 *
 * Worker thread, except where said. */
#ifndef FL_ENGINE_TRANSCODE_H
#define FL_ENGINE_TRANSCODE_H

#include <stdint.h>

#include "engine/engine_int.h"

/* What a sink asks a transcoder to make. */
typedef struct fl__xcode_spec {
    fl_sdp_codec out;          /* the format (its pt is the first asker's) */
    int max_width, max_height; /* video: 0 no cap */
    int max_fps;               /* video: 0 no cap */
    int max_kbps;              /* the encoder's ceiling; 0: none */
    int min_kbps;              /* its floor; 0: none */
    int start_kbps;            /* before any estimate; 0: the codec's default */
} fl__xcode_spec;

/* 1 when fluo can turn `in` into `out` (a decoder and an encoder). */
int fl__xcode_possible(const fl_sdp_codec *in, const fl_sdp_codec *out);

/* Routes what reaches `sink` through a transcoder of its source pad making
 * spec (an existing one when another sink asked the same), replacing the
 * one it had. 0, FL_ENOTSUP (no such transcode), FL_ENOMEM, FL_EINVAL (not
 * linked). */
int fl__xcode_attach(fl__pad *sink, const fl__xcode_spec *spec);

/* Takes `sink` off its transcoder (none: no-op); the last sink's leaving
 * ends the transcoder. */
void fl__xcode_detach(fl__pad *sink);

/* The format a transcoder makes. */
const fl_sdp_codec *fl__xcode_caps(const fl__xcode *x);

/* Its counts into the transcoding fields of an outbound entry. */
void fl__xcode_stats(const fl__xcode *x, fl_stats_outbound_rtp *out);

/* A packet of the transcoders' source pad (fl__pad_push). Borrows buf. */
void fl__xcode_push(fl__pad *src, fl_buf *buf);

/* A sink wants a key frame: the encoder makes one (not the source). */
void fl__xcode_key_frame(fl__xcode *x);

/* The Sender Report for the transcoder's output stream `ssrc`, from its
 * source's, on the output clock: 0 or FL_ENOENT. */
int fl__xcode_sender_report(fl__xcode *x, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent);

/* Writes the DOT nodes and edges of the transcoders of element e's source
 * pads (dot.c's printf), their input drawn from node e<from_id> (e's id, or
 * for a bridge's "in" end, its source's). */
void fl__xcode_dot(const fl_element *e,
                   uint64_t from_id,
                   void (*out)(void *arg, const char *fmt, ...)
                           __attribute__((format(printf, 2, 3))),
                   void *arg);

/* The spec a sink of element e asks for to output `target` of `media`:
 * the element's format caps (setVideoFormat) and encoder bitrates. */
void fl__xcode_spec_for(const fl_element *e,
                        unsigned media,
                        const fl_sdp_codec *target,
                        fl__xcode_spec *out);

/* 1 when the element was asked for a format of `media` that `in` is not
 * (another codec, or caps: a transcode is forced even for the same codec). */
int fl__element_format_forced(const fl_element *e, unsigned media, const fl_sdp_codec *in);

/* The properties every element has for transcoding: "audioFormat" and
 * "videoFormat" ("codec=VP8;fps=15;width=320;height=240;kbps=64", "" to
 * clear) and Kurento's "encoderBitrate", "minEncoderBitrate",
 * "maxEncoderBitrate" (bit/s). 1 when `name` is one of them. */
int fl__xcode_is_property(const char *name);
/* Sets one: 0, FL_EINVAL. */
int fl__xcode_set_property(fl_element *e, const char *name, const char *value);

/* Raises MediaTranscodingStateChanged on e for what reaches `sink` when it
 * changed since *said (0 nothing said yet, 1 NOT_TRANSCODING, 2
 * TRANSCODING; updated). */
void fl__xcode_say(fl_element *e, fl__pad *sink, int *said);

/* Codec threads of an engine: started with the first transcoder, stopped
 * by fl__codec_pool_stop once the workers have stopped. Any thread. */
void fl__codec_pool_stop(fl_engine *engine);

#endif
