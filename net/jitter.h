/* A jitter buffer for one received RTP stream (a recorder's input), sans-IO.
 *
 * Packets go in as they arrive, in any order; they come out in sequence
 * order. A missing packet is waited for up to max_wait from the moment a
 * later one showed it missing (NACK retransmissions, asked for upstream,
 * arrive within it); then the buffer gives up on it and goes on, telling
 * how many were skipped (lost_before), which is what a depacketizer needs
 * to drop a broken frame (codec/codec.h, fl_depack_packet.lost_before).
 *
 *     fl_jitter_push(j, buf, now);                  // the reference is taken
 *     while (fl_jitter_pop(j, now, &buf, &lost) == 1)
 *         depacketize buf, then fl_buf_unref(buf);
 *     timer at fl_jitter_deadline(j);
 *
 * Duplicates and packets older than what was already released are dropped.
 * A new SSRC (the source switched upstream), or a sequence number that
 * jumps by twice the capacity or more either way (the source restarted),
 * resets the buffer: what it held is released first, in order, then the
 * new stream starts. A packet that lands a capacity or more ahead of the
 * next one to release makes the buffer move on: the packets it held that
 * far back are released at once (the full buffer cannot wait).
 *
 * Memory: a ring of `capacity` slots indexed by sequence number and a
 * release queue of twice that, both allocated at create; nothing allocates
 * per packet. The buffers are the caller's (refcounted fl_buf, possibly
 * shared with other sinks: only read, never relinked or marked). Not
 * thread-safe: one owner (a loop). */
#ifndef FL_NET_JITTER_H
#define FL_NET_JITTER_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/time.h"

#define FL_JITTER_DEF_MAX_WAIT (150 * FL_TIME_MS)
#define FL_JITTER_DEF_CAPACITY 512
#define FL_JITTER_MAX_CAPACITY 16384

typedef struct fl_jitter fl_jitter;

typedef struct fl_jitter_config {
    uint32_t clock_rate; /* the stream's RTP clock, Hz, for the held span in
                            the stats; 0: the span is not reported */
    fl_time max_wait;    /* how long a missing packet is waited for; 0:
                            FL_JITTER_DEF_MAX_WAIT */
    size_t capacity;     /* packets held at most, rounded up to a power of
                            two, at most FL_JITTER_MAX_CAPACITY; 0:
                            FL_JITTER_DEF_CAPACITY */
} fl_jitter_config;

typedef struct fl_jitter_stats {
    uint64_t received;   /* pushed */
    uint64_t released;   /* popped */
    uint64_t duplicates; /* dropped: the same sequence number is held */
    uint64_t late;       /* dropped: older than what was released (a late
                            retransmission, or a duplicate of a released one) */
    uint64_t lost;       /* sequence numbers given up, and packets dropped
                            from a full release queue (the sum of lost_before) */
    uint64_t reordered;  /* arrived after a higher sequence number */
    uint64_t resets;     /* new SSRC or sequence jump */
    uint64_t overflows;  /* moves on because a packet did not fit */
    uint64_t dropped;    /* released packets dropped because the release
                            queue was full (pop not called for long): the
                            next one out counts them in its lost_before */
    size_t held;         /* packets in the buffer and the release queue now */
    uint32_t held_span;  /* RTP timestamp span of the ring (highest minus
                            the next to release), clock units */
    uint32_t held_ms;    /* the same in milliseconds (clock_rate set) */
} fl_jitter_stats;

/* cfg may be NULL (every default). Returns 0, FL_EINVAL (negative
 * max_wait) or FL_ENOMEM. */
int fl_jitter_create(fl_jitter **out, const fl_jitter_config *cfg);

/* Releases every buffer still held. NULL is a no-op. */
void fl_jitter_destroy(fl_jitter *j);

/* Takes the caller's reference to buf in every case. buf->rtp must be
 * parsed (net/rtp.h fl_rtp_buf_parse or fl_rtp_buf_note). Returns 0 when
 * the packet is held, or, having dropped it (unref): FL_EEXIST for a
 * duplicate, FL_ERANGE for a packet older than what was released, FL_EINVAL
 * for a buffer without a parsed RTP header. */
int fl_jitter_push(fl_jitter *j, fl_buf *buf, fl_time now);

/* 1 and the next packet in order in *out (the caller owns that reference
 * now), with *lost_before the sequence numbers skipped just before it (>
 * 0 only when the wait for them ran out, the buffer was full, or at a
 * flush, or packets were dropped from a full release queue); 0 when
 * nothing is ready at `now`. After a reset lost_before counts within the
 * new stream only (0 on its first packet unless the queue dropped some):
 * its sequence numbers are no continuation of the old ones, which
 * fl_jitter_last_ext_seq tells by a jump to a later cycle. */
int fl_jitter_pop(fl_jitter *j, fl_time now, fl_buf **out, unsigned *lost_before);

/* The extended sequence number of the packet pop returned last: its
 * sequence number in the low 16 bits, strictly increasing over the life of
 * the buffer (a reset moves on to a later 65536 cycle). 0 before any. */
uint64_t fl_jitter_last_ext_seq(const fl_jitter *j);

/* When pop may give a packet: 0 (the past) when one is ready now, the time
 * the wait for a missing packet runs out, or FL_TIME_NEVER when nothing is
 * held. */
fl_time fl_jitter_deadline(const fl_jitter *j);

/* Gives up every wait: what is held is released by the next pops, in
 * order, with the gaps as lost_before (the end of a recording). Pushing
 * afterwards goes on with the same stream. */
void fl_jitter_flush(fl_jitter *j);

void fl_jitter_get_stats(const fl_jitter *j, fl_jitter_stats *out);

#endif
