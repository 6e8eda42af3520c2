/* NACK and RTX (RFC 4585 generic NACK, RFC 4588 RTX), sans-IO.
 *
 * Receiving side, one fl_nack_gen per received media stream: sequence
 * numbers go in as packets arrive; gaps become missing entries that are
 * requested at once, then again every retry interval (the RTT, at least
 * 20 ms) up to a retry budget; an entry older than the age limit, or over
 * its budget, is given up (never asked for when it can no longer help).
 *
 *     fl_nack_gen_on_packet(g, now, seq, 0);     // a media packet
 *     fl_nack_gen_on_packet(g, now, osn, 1);     // a retransmission (RTX)
 *     n = fl_nack_gen_poll(g, now, seqs, cap);   // due now: put them in a NACK
 *     deadline = fl_nack_gen_poll_timeout(g);
 *
 * Sending side, one fl_nack_history per sent stream: the packets as sent,
 * by reference to the caller's buffers (no copy), looked up by our
 * sequence number when the peer's NACK names it; each packet is resent at
 * most once per `min_resend_interval` (the RTT).
 *
 * RTX (RFC 4588 4): fl_nack_rtx_write builds the retransmission packet
 * (the RTX SSRC and payload type, its own sequence numbers, the original
 * sequence number (OSN) in the first two payload bytes);
 * fl_nack_rtx_unwrap turns a received RTX packet back into the original
 * in place.
 *
 * Nothing allocates after create. Not thread-safe: one owner (a loop). */
#ifndef FL_NET_NACK_H
#define FL_NET_NACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/time.h"
#include "net/rtp.h"

/* ---- receiving side ---- */

typedef struct fl_nack_gen fl_nack_gen;

typedef struct fl_nack_gen_config {
    size_t max_missing;     /* entries tracked at once; 0: 512 */
    unsigned max_retries;   /* requests per packet; 0: 10 */
    fl_time max_age;        /* give up this long after the gap was seen (and send
                               no request whose answer, one retry interval
                               later, would come after that); 0: 1 s */
    fl_time retry_interval; /* until set_rtt; 0: 100 ms */
    uint16_t max_reorder;   /* a jump of more than this many sequence numbers
                               resets (no NACK storm); 0: 1000 */
} fl_nack_gen_config;

typedef struct fl_nack_gen_stats {
    uint64_t requested; /* sequence numbers put in NACKs, retries included */
    uint64_t recovered; /* missing packets that arrived afterwards */
    uint64_t given_up;  /* too old, over the retry budget, or dropped (no
                           room in max_missing, a reset) */
    uint64_t resets;    /* jumps past max_reorder */
    size_t missing;     /* tracked now */
    fl_time response;   /* smoothed request-to-retransmission time; 0: none */
} fl_nack_gen_stats;

/* The ring of `max_missing` entries is allocated at the first gap, so a
 * stream that loses nothing holds none (without memory then, that gap is
 * given up). */
int fl_nack_gen_create(fl_nack_gen **out, const fl_nack_gen_config *cfg);
void fl_nack_gen_destroy(fl_nack_gen *g);

/* A packet arrived. `recovered` is 1 for a retransmission (the OSN of an
 * RTX packet): it only clears its entry and never opens gaps. Returns 1
 * when seq was missing (its entry is cleared now), 0 otherwise (in order,
 * a duplicate, or a retransmission nobody waits for, such as a sender's
 * probe made of old packets). */
int fl_nack_gen_on_packet(fl_nack_gen *g, fl_time now, uint16_t seq, int recovered);

/* The round-trip time, for the retry interval (clamped to [20 ms, 500 ms]).
 * Until it is given, the interval follows 1.5 times the smoothed time from
 * a request to the retransmission that answers it (a sender we only
 * receive from reports no RTT). */
void fl_nack_gen_set_rtt(fl_nack_gen *g, fl_time rtt);

/* Fills seqs (wrap-aware increasing order) with the entries due at `now`
 * and marks them requested; returns how many (at most cap). Entries past
 * their age or budget are dropped here. */
size_t fl_nack_gen_poll(fl_nack_gen *g, fl_time now, uint16_t *seqs, size_t cap);

/* When poll has something next, FL_TIME_NEVER if nothing is missing. */
fl_time fl_nack_gen_poll_timeout(const fl_nack_gen *g);

void fl_nack_gen_get_stats(const fl_nack_gen *g, fl_nack_gen_stats *out);

/* ---- sending side ---- */

typedef struct fl_nack_history fl_nack_history;

typedef struct fl_nack_history_config {
    size_t capacity;             /* packets, rounded up to a power of two; 0: 1024 */
    fl_time max_age;             /* not resent when older; 0: 1 s */
    fl_time min_resend_interval; /* until set_rtt; 0: 10 ms */
} fl_nack_history_config;

/* One packet as sent: `buf` holds the original RTP bytes (any header: the
 * payload is found by payload_off/payload_len); seq, timestamp and marker
 * are what we sent it with. */
#define FL_NACK_HEAD_MAX 8

typedef struct fl_nack_history_entry {
    fl_buf *buf; /* a reference held by the history */
    uint16_t seq;
    uint32_t timestamp;
    uint8_t marker;
    uint16_t payload_off;
    uint16_t payload_len;
    fl_time sent;
    fl_time resent;   /* 0: never */
    uint8_t requests; /* resends answered so far, this one included */
    /* the payload's first head_len bytes as they were sent, when the sender
     * rewrote them (a VP8 payload descriptor): resends write them over the
     * buffer's own; 0: the buffer's bytes as they are */
    uint8_t head_len;
    uint8_t head[FL_NACK_HEAD_MAX];
} fl_nack_history_entry;

typedef struct fl_nack_history_stats {
    uint64_t stored;
    uint64_t resent;    /* lookups answered */
    uint64_t missing;   /* asked for but never stored (not sent, or not yet) */
    uint64_t too_old;   /* sent, but longer ago than max_age (or overwritten
                           since: older than every packet held) */
    uint64_t throttled; /* resent within min_resend_interval */
} fl_nack_history_stats;

/* The ring of `capacity` slots is allocated at the first put, so a stream
 * that never sends holds none. */
int fl_nack_history_create(fl_nack_history **out, const fl_nack_history_config *cfg);
/* Drops every reference held. */
void fl_nack_history_destroy(fl_nack_history *h);

/* Keeps a reference to buf (fl_buf_ref is taken here; the caller keeps its
 * own). The slot's previous packet is released. payload_off is counted
 * from fl_buf_data(buf); a range past buf->len (asserted) or past 64 KiB
 * is not stored, nor is anything when the first put cannot allocate the
 * ring. `now` must not be 0 (resent uses 0 for never). */
void fl_nack_history_put(fl_nack_history *h,
                         fl_time now,
                         uint16_t seq,
                         uint32_t timestamp,
                         int marker,
                         fl_buf *buf,
                         size_t payload_off,
                         size_t payload_len);

/* The payload of the packet just put as `seq` went out with its first
 * `len` bytes (at most FL_NACK_HEAD_MAX) replaced by `head`: its resends
 * will too. Nothing when that packet is not held. */
void fl_nack_history_set_head(fl_nack_history *h, uint16_t seq, const uint8_t *head, size_t len);

/* The packet sent as `seq`, when it may be resent now (held, not too old,
 * not resent within the interval): its `resent` is set to now and its
 * `requests` counted (more than 1: the earlier resends were lost). NULL
 * otherwise (counted). The entry stays valid until the next put. */
const fl_nack_history_entry *fl_nack_history_resend(fl_nack_history *h, fl_time now, uint16_t seq);

/* The RTT, for the resend interval (clamped to [5 ms, 500 ms]). */
void fl_nack_history_set_rtt(fl_nack_history *h, fl_time rtt);

/* Releases every packet held (a source change, or teardown before the pool). */
void fl_nack_history_clear(fl_nack_history *h);

void fl_nack_history_get_stats(const fl_nack_history *h, fl_nack_history_stats *out);

/* What resends may take of the link to a peer: its estimate of the link
 * (`bps`, a REMB), less the media sent to it meanwhile, and never less
 * than a quarter of the estimate (media filling the estimate must not
 * starve repair altogether). At most 250 ms of the estimate is saved up.
 * Without this, a viewer whose link is full asks for what the full link
 * lost, and the resends fill it further: a retransmission storm.
 *
 *     if (fl_resend_budget_open(&b, now, remb, media_bytes_sent))
 *         ... send it, then fl_resend_budget_spend(&b, len);
 *
 * `media` is a running count of the bytes sent to the peer but resends
 * (it may wrap). */
typedef struct fl_resend_budget {
    fl_time at;     /* brought up to date then; 0: never */
    uint32_t media; /* the media count then */
    int64_t bytes;  /* what may be resent now (below 0: overspent) */
} fl_resend_budget;

/* Brings the budget up to now; 1 when a resend may go now (always with
 * bps 0: no estimate known). */
int fl_resend_budget_open(fl_resend_budget *b, fl_time now, uint64_t bps, uint32_t media);
/* A resend of len bytes went out. */
void fl_resend_budget_spend(fl_resend_budget *b, size_t len);

/* ---- RTX ---- */

/* Writes the RTX packet for `e` at out: header from h (the RTX SSRC,
 * payload type and sequence number; exts and CSRCs as given; timestamp and
 * marker are taken from e), then the OSN e->seq, then the original payload
 * (no padding). 0 with *out_len set, FL_EMSGSIZE, FL_EINVAL. With
 * h->payload_type and h->ssrc equal to the original's and `osn` 0 it
 * writes a plain retransmission instead (no OSN, sequence number e->seq). */
int fl_nack_rtx_write(uint8_t *out,
                      size_t cap,
                      const fl_rtp_header *h,
                      const fl_nack_history_entry *e,
                      int osn,
                      size_t *out_len);

/* Turns the RTX packet in buf (one reference, parsed as v) into the
 * original in place: the OSN becomes the sequence number, ssrc and
 * payload_type the original's; header extensions and CSRCs are kept; buf's
 * start moves by 2 bytes. *osn is set. FL_EBADMSG when the payload is
 * shorter than 2 bytes (padding-only probes: drop them), FL_EBUSY when buf
 * is shared. v is stale afterwards: parse again. */
int fl_nack_rtx_unwrap(fl_buf *buf,
                       const fl_rtp_view *v,
                       uint32_t ssrc,
                       uint8_t payload_type,
                       uint16_t *osn);

#endif
