/* The egress rewrite, sans-IO: one outgoing RTP stream's SSRC, sequence
 * numbers, timestamps and payload type written over whatever source feeds
 * it, so that the peer sees one continuous stream while its source changes
 * (a viewer switched from one publisher to another).
 *
 * Within one source the mapping is a fixed offset: a packet's sequence
 * number and timestamp plus the source's deltas, so reordered packets keep
 * their order and a duplicate gets the numbers its original got (the peer's
 * jitter buffer discards it). On a change of source (an SSRC other than the
 * last one seen, a return to an earlier source included) the deltas are
 * chosen so that the new source's first packet goes out with the next
 * sequence number after the highest sent, and a timestamp advanced by the
 * wall time since that packet, at the clock rate (at least one tick).
 * Nothing waits for a key frame: the element asks the new source for one
 * when the link changes. After a change, a packet of the new source older
 * than its first one (by up to FL_RTP_MAX_DROPOUT) is dropped: its number
 * would be one already sent for the source before.
 *
 *     fl_rewrite_config c = { .ssrc = ours, .payload_type = pt,
 *                             .clock_rate = 90000, .seq0 = rand16,
 *                             .ts0 = rand32 };
 *     fl_rewrite_init(&rw, &c);
 *     fl_rewrite_set_source_pt(&rw, in_pt);      // when the links change
 *     if (fl_rewrite_packet(&rw, now, &buf->rtp, &header))
 *         ... write header + payload, send ...
 *     ts = fl_rewrite_timestamp_at(&rw, now);    // for a sender report
 *
 * No allocation, no clock, no randomness of its own. The caller owns the
 * memory; one owner (a loop). */
#ifndef FL_NET_REWRITE_H
#define FL_NET_REWRITE_H

#include <stdint.h>

#include "base/buf.h"
#include "base/time.h"
#include "net/rtp.h"

typedef struct fl_rewrite_config {
    uint32_t ssrc;        /* ours */
    uint8_t payload_type; /* ours: the codec negotiated with the peer */
    uint32_t clock_rate;  /* Hz; the timestamp gap over a source change */
    uint16_t seq0;        /* the first sequence number sent (the caller's random) */
    uint32_t ts0;         /* the first timestamp sent (the caller's random) */
} fl_rewrite_config;

/* Skipped packets remembered for the late packets around them. */
#define FL_REWRITE_SKIPS 64

typedef struct fl_rewrite {
    fl_rewrite_config cfg;
    int src_pt; /* the source's payload type that is forwarded; -1: any */
    int started;
    int have_src; /* src_ssrc, src_first and the deltas are the current source's */
    int switched; /* the current source is not the first one */
    uint32_t src_ssrc;
    /* sequence numbers from the current source's first packet to the
     * highest sent, saturating at 0x8000 (then none is older than the first) */
    uint16_t src_span;
    uint16_t seq_delta;
    uint32_t ts_delta;
    /* the highest sequence number sent, its timestamp and when it went */
    uint16_t last_seq;
    uint32_t last_ts;
    fl_time last_time;
    /* the last forward step of the timestamp (a frame's or an audio
     * packet's duration, at most a second): a new source's first packet
     * is at least that far from the last one, never on the same frame */
    uint32_t ts_step;
    uint64_t switches; /* changes of source */
    uint64_t stale;    /* dropped: older than their source's first packet */
    uint64_t other_pt; /* dropped: not the source's payload type */
    /* packets of the current source skipped (fl_rewrite_skip): the newest
     * source sequence number seen, the last skipped ones (a ring of
     * skip_kept, skip_head the next place), and when some were forgotten
     * (skip_lost) the newest of those */
    uint16_t src_high;
    uint16_t skip_floor;
    uint8_t skip_kept;
    uint8_t skip_head;
    uint8_t skip_lost;
    uint16_t skips[FL_REWRITE_SKIPS];
    uint64_t skipped; /* packets skipped that moved the numbering */
} fl_rewrite;

/* Starts a stream: nothing sent yet, any payload type forwarded. */
void fl_rewrite_init(fl_rewrite *rw, const fl_rewrite_config *cfg);

/* The source's payload type that is forwarded (its main codec's, decided
 * when the links change): packets of any other (RTX, FEC, comfort noise:
 * this stream has its own) are dropped. -1: every payload type. */
void fl_rewrite_set_source_pt(fl_rewrite *rw, int pt);

/* The payload type written on what is sent from now on, and its clock
 * rate (the stream changed to another of the codecs negotiated with the
 * peer: VP8 to H.264, Opus to PCMU). */
void fl_rewrite_set_format(fl_rewrite *rw, uint8_t pt, uint32_t clock_rate);

/* One packet from the source, `now` its time of sending. 1: send it with
 * h's marker, payload_type, seq, timestamp and ssrc (set here; h's other
 * fields are left as they are), 0: drop it (another payload type, older
 * than its source's first packet, or `in` not parsed). */
int fl_rewrite_packet(fl_rewrite *rw, fl_time now, const fl_buf_rtp *in, fl_rtp_header *h);

/* A packet of the source that the caller drops on purpose (a temporal
 * layer above the viewer's, a picture of another simulcast layer): the
 * numbering closes over it, the source's later packets move down by one,
 * so the peer sees no gap. Returns 1 when it did; 0 when there was
 * nothing to close: a packet not parsed, of another payload type, of
 * another source than the current one (a new source's next packet goes
 * out next after the highest sent anyway), or not newer than the newest
 * seen of the source (a duplicate of a skipped packet; a late packet whose
 * number was counted in already: the peer sees it as lost).
 *
 * Late packets: a packet older than the newest seen goes out with the
 * number it would have had, counting the skips after it among the last
 * FL_REWRITE_SKIPS; one older than all of those that are remembered (when
 * more were skipped) is dropped as stale. A caller that never skips gets
 * what fl_rewrite_packet gave before. */
int fl_rewrite_skip(fl_rewrite *rw, const fl_buf_rtp *in);

/* Our RTP timestamp at `now`: the last one sent advanced by the wall time
 * since (a sender report's). Meaningful once `started`. */
uint32_t fl_rewrite_timestamp_at(const fl_rewrite *rw, fl_time now);

#endif
