/* Receive-side bandwidth estimation, sans-IO: Google Congestion Control's
 * delay-based part (draft-ietf-rmcat-gcc-02) on abs-send-time, with a
 * loss-based bound, for what a publisher is told in REMB.
 *
 *     fl_bwe_create(&b, &cfg);
 *     fl_bwe_on_packet(b, arrival, abs_send_time, size);  // every RTP packet
 *     fl_bwe_on_loss(b, now, fraction_lost);  // each receiver report interval
 *     fl_bwe_handle_timeout(b, now);          // at fl_bwe_poll_timeout
 *     bps = fl_bwe_estimate(b);
 *
 * Packets are grouped by send time (5 ms bursts); each group's delay
 * variation against the previous one goes through the arrival-time filter
 * (a trendline of accumulated delay, as libwebrtc's, over the last groups),
 * the over-use detector compares it with an adaptive threshold (gamma,
 * K_u/K_d), and the AIMD rate controller moves the estimate: multiplicative
 * increase far from the last congestion point, additive near it, decrease
 * to beta (0.85) times the incoming rate measured over the last 500 ms on
 * over-use, hold on under-use. Until the first over-use the estimate
 * ramps up faster (x1.5 per second): a receiver cannot probe, this is how
 * it finds the link. It never rises above 1.5 x the incoming rate
 * + 10 kbit/s. The loss bound follows the sender side of GCC: above 10%
 * loss it lowers the estimate by half the loss ratio and caps it there,
 * from 2 to 10% the cap stays, under 2% it is lifted.
 *
 * Time is a parameter (fl_time, µs); nothing here reads a clock or
 * allocates after create. Not thread-safe: one estimator per stream owner. */
#ifndef FL_NET_BWE_H
#define FL_NET_BWE_H

#include <stddef.h>
#include <stdint.h>

#include "base/time.h"

typedef struct fl_bwe fl_bwe;

typedef struct fl_bwe_config {
    uint64_t start_bps; /* the first estimate; 0: 300 kbit/s */
    uint64_t min_bps;   /* 0: 30 kbit/s */
    uint64_t max_bps;   /* 0: 30 Mbit/s */
    /* The loss bound: above loss_high (/256; 0: 26, about 10%) the
     * estimate is lowered to estimate x decrease (0: 1 - loss/2). */
    uint8_t loss_high;
    double decrease;
} fl_bwe_config;

typedef enum fl_bwe_usage {
    FL_BWE_NORMAL = 0,
    FL_BWE_UNDERUSE = 1,
    FL_BWE_OVERUSE = 2,
} fl_bwe_usage;

typedef struct fl_bwe_stats {
    uint64_t estimate_bps;
    uint64_t incoming_bps; /* measured over the last 500 ms */
    fl_bwe_usage usage;
    double trend;     /* the last modified trend (ms) */
    double threshold; /* the adaptive threshold (ms) */
    uint64_t packets, overuses;
    uint8_t fraction_lost; /* the last one given */
} fl_bwe_stats;

/* FL_ENOMEM, FL_EINVAL (min > max). */
int fl_bwe_create(fl_bwe **out, const fl_bwe_config *cfg);
void fl_bwe_destroy(fl_bwe *b);

/* One received RTP packet: its arrival time, the 24-bit abs-send-time
 * header extension (6.18 fixed-point seconds) and the whole packet's size
 * in bytes. Packets of every SSRC that carries the extension go to one
 * estimator (the send times are the sender's one clock). */
void fl_bwe_on_packet(fl_bwe *b, fl_time arrival, uint32_t abs_send_time, size_t size);

/* The fraction lost (/256) over the last reporting interval, for the loss
 * bound: once per receiver report (about a second); each call above 10%
 * lowers the estimate again. */
void fl_bwe_on_loss(fl_bwe *b, fl_time now, uint8_t fraction_lost);

/* The round-trip time to the sender, when known (RTCP): the additive
 * increase near the last congestion point adds about one packet per
 * RTT + 100 ms, and an over-use that goes on lowers the estimate again
 * after an RTT (10 to 200 ms). Optional; until set: 200 ms. */
void fl_bwe_set_rtt(fl_bwe *b, fl_time rtt);

/* After 2 s without packets (fl_bwe_poll_timeout; FL_TIME_NEVER before
 * the first packet and after a timeout) the delay filter and the incoming
 * rate start over; the estimate holds. on_packet does the same when it
 * sees such a gap itself. */
void fl_bwe_handle_timeout(fl_bwe *b, fl_time now);
fl_time fl_bwe_poll_timeout(const fl_bwe *b);

/* The current estimate in bit/s, within [min_bps, max_bps]. */
uint64_t fl_bwe_estimate(const fl_bwe *b);

void fl_bwe_get_stats(const fl_bwe *b, fl_bwe_stats *out);

/* ---- a viewer's REMB, as what its source may send ----
 *
 * A browser's estimate never rises above about 1.5 times what it receives,
 * and an encoder held to a low target sends well under it (frames
 * dropped), so a source held to the least of its viewers' REMB can stay
 * stuck low with every link idle: the viewers get little, say little, and
 * the source is held to it. So while a viewer is fed video under
 * 1/1.25 of its estimate (the estimate is what holds it, not its link)
 * and the estimate does not fall, the bound rises above the estimate by
 * 8% a second, up to twice the estimate; once fed near it, or when the
 * estimate falls by 5% (the browser's over-use: its link is full), the
 * bound is the estimate again.
 *
 *     bound = fl_remb_bound_update(&rb, now, remb, video_bytes_sent);
 *
 * video_bytes_sent is a running count (it may wrap). */
typedef struct fl_remb_bound {
    fl_time at;     /* the last update; 0: none */
    uint64_t remb;  /* the estimate then */
    uint64_t bound; /* what the source may send now */
    uint64_t fed;   /* bit/s fed, over the last interval of 200 ms or more */
    fl_time fed_at; /* where that interval starts */
    uint32_t fed_bytes;
} fl_remb_bound;

uint64_t fl_remb_bound_update(fl_remb_bound *b, fl_time now, uint64_t remb, uint32_t bytes);

#endif
