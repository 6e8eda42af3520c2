/* Transport-wide congestion control feedback, receiving side, sans-IO
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01, the RTPFB FMT 15
 * format browsers send and read): the transport-wide sequence number of
 * every packet that arrives, with its arrival time, is recorded; every
 * feedback interval (or sooner when many packets wait) the recorded span
 * is written as one or more feedback packets (net/rtcp's
 * fl_rtcp_twcc_build), with a feedback count that increments per packet.
 * A sender (a browser) runs its own send-side estimator on them.
 *
 *     fl_twcc_rx_on_packet(r, arrival, twcc_seq);
 *     while (fl_twcc_rx_poll_feedback(r, now, media_ssrc, out, cap, &n) == 0)
 *         send out[0..n) in compound RTCP
 *     deadline = fl_twcc_rx_poll_timeout(r);
 *
 * Reordered packets within the span still to be reported are placed; a
 * packet older than what was reported already is counted and dropped (a
 * feedback is never sent twice for one sequence number, except as "not
 * received" then). A jump of more than 8192 sequence numbers starts over.
 * Nothing allocates after create. Not thread-safe. */
#ifndef FL_NET_TWCC_H
#define FL_NET_TWCC_H

#include <stddef.h>
#include <stdint.h>

#include "base/time.h"

typedef struct fl_twcc_rx fl_twcc_rx;

typedef struct fl_twcc_rx_config {
    uint32_t sender_ssrc; /* ours, in each feedback packet */
    fl_time interval;     /* 0: 100 ms */
    size_t max_packets;   /* per feedback packet, sent early when reached;
                             0: 200 (about 400 bytes on the wire) */
} fl_twcc_rx_config;

typedef struct fl_twcc_rx_stats {
    uint64_t packets;   /* sequence numbers recorded */
    uint64_t feedbacks; /* feedback packets written */
    uint64_t late;      /* arrived after their span was reported */
    uint64_t resets;
} fl_twcc_rx_stats;

int fl_twcc_rx_create(fl_twcc_rx **out, const fl_twcc_rx_config *cfg);
void fl_twcc_rx_destroy(fl_twcc_rx *r);

void fl_twcc_rx_on_packet(fl_twcc_rx *r, fl_time arrival, uint16_t seq);

/* Writes the next feedback packet when one is due at `now` (its interval
 * passed, or max_packets wait): 0 with *out_len set, FL_EAGAIN when none,
 * FL_EMSGSIZE when cap is too small (the packets stay). media_ssrc: the
 * SSRC named in the feedback (any of the sender's; browsers ignore it). */
int fl_twcc_rx_poll_feedback(fl_twcc_rx *r,
                             fl_time now,
                             uint32_t media_ssrc,
                             uint8_t *out,
                             size_t cap,
                             size_t *out_len);

/* When a feedback is next due; FL_TIME_NEVER with nothing recorded. */
fl_time fl_twcc_rx_poll_timeout(const fl_twcc_rx *r);

/* Changes the feedback interval (> 0), from the next feedback on. */
void fl_twcc_rx_set_interval(fl_twcc_rx *r, fl_time interval);

void fl_twcc_rx_get_stats(const fl_twcc_rx *r, fl_twcc_rx_stats *out);

#endif
