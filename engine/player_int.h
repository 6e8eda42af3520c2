/* The PlayerEndpoint (engine/player.c) as another element type's engine
 * (private to engine/): HttpPostEndpoint (engine/http_post.c) is a player
 * fed by pushes, with the player's hooks for what it sends.
 *
 * Worker thread only. */
#ifndef FL_ENGINE_PLAYER_INT_H
#define FL_ENGINE_PLAYER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine_int.h"

/* The init hook of a player whose bytes come from fl__player_write:
 * a stream starts with the first write (its EBML header) and plays in
 * real time as it comes; it ends after fl__player_write_end, or when the
 * demuxer waited `idle` microseconds (> 0) for bytes that did not come;
 * then EndOfStream once its last frame left (or at the end its Segment's
 * size gives). A write after that starts a new stream (new SSRCs, its
 * stream time going on from the last one's). */
int fl__player_init_fed(fl_element *e, fl_time idle);

/* The idle time of the streams started from now on, and its value. */
void fl__player_set_idle(fl_element *e, fl_time idle);
fl_time fl__player_idle(fl_element *e);

/* Appends len bytes (copied) to the stream, starting one when none is
 * playing. `done` is completed with 0 once the demuxer took the bytes (or
 * needs them at once); with the stream's error (FL_ENOTSUP not a format
 * it reads, FL_EBADMSG corrupt...) and the Error event's description when
 * the stream failed (then every write fails until fl__player_write_end);
 * FL_EBUSY while the last stream ended but still plays out its queued
 * frames; FL_ECANCELED when the element is released first. */
void fl__player_write(fl_element *e, const uint8_t *data, size_t len, fl__deferred done);

/* Ends the stream (what was written still plays, then EndOfStream), or,
 * after a failure, lets the next write start a new stream. */
void fl__player_write_end(fl_element *e);

/* The player type's hooks, shared by a type built on it (the property
 * hooks answer useEncodedMedia alike). */
int fl__player_set_property(fl_element *e, const char *name, const char *value);
int fl__player_get_property(fl_element *e, const char *name, char *out, size_t cap);
void fl__player_fini(fl_element *e);
void fl__player_receive(fl_element *e, fl__pad *sink, fl_buf *buf);
void fl__player_key_frame(fl_element *e, unsigned media, int join);
const fl_sdp_codec *fl__player_caps(fl_element *e, unsigned media);
void fl__player_stats(fl_element *e, unsigned media, fl__stats_out *out);
int fl__player_sender_report(fl_element *e,
                             unsigned media,
                             uint32_t ssrc,
                             uint32_t *rtp_ts,
                             fl_time *sent);

#endif
