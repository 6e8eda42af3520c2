/* Transport-wide congestion control feedback, receiving side (net/twcc.h).
 *
 * Sequence numbers are unwrapped to 64 bits against the highest one seen.
 * A ring of RING slots, indexed by the unwrapped number, holds the arrival
 * time of every packet recorded and not yet reported (in 250 µs units, the
 * feedback's resolution, low 32 bits: 12 days of range around the latest
 * arrival) and a bit saying the slot is in use. Slots outside the recorded
 * span are always clear, so a slot is reused without a scan.
 *
 * A feedback starts at the lowest recorded sequence number (libwebrtc's
 * base is always a received packet), covers at most max_packets sequence
 * numbers, ends at a recorded one, and stops early before a packet whose
 * delta from the previous one would not fit 16 bits (about 8.2 s); the
 * rest goes in the next one. Holes inside are "not received"; numbers
 * before the base or after the end that have not arrived stay open, so a
 * late arrival there is still reported, once. */
#include "net/twcc.h"

#include <stdlib.h>

#include "base/err.h"
#include "base/log.h"
#include "net/rtcp.h"

FL_LOG_TAG("twcc");

#define RING      8192 /* sequence numbers held, and the jump that starts over */
#define RING_MASK ((uint64_t)RING - 1)

#define DEFAULT_INTERVAL (100 * FL_TIME_MS)
#define DEFAULT_MAX      200

/* 250 µs units per 64 ms reference time unit. */
#define REF_UNITS (FL_RTCP_TWCC_REF_US / FL_RTCP_TWCC_DELTA_US)

struct fl_twcc_rx {
    uint32_t sender_ssrc;
    fl_time interval;
    size_t max_packets;
    int started;
    int64_t highest;  /* highest sequence number seen (unwrapped) */
    int64_t reported; /* last one reported; nothing at or below is recorded again */
    int64_t first;    /* lowest recorded and unreported, when pending > 0 */
    size_t pending;   /* recorded and unreported */
    int64_t last_q;   /* latest arrival, 250 µs units: unwraps the ring's values */
    fl_time last_arrival;
    fl_time last_fb; /* the last feedback written, or the first arrival */
    uint8_t fb_count;
    fl_twcc_rx_stats st;
    uint32_t q[RING]; /* arrival, 250 µs units, low 32 bits */
    uint64_t used[RING / 64];
    uint16_t *seqs; /* one feedback's worth, max_packets each */
    int64_t *arrivals;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t slot(int64_t s)
{
    return (size_t)((uint64_t)s & RING_MASK);
}

static int is_used(const fl_twcc_rx *r, int64_t s)
{
    size_t i = slot(s);
    return (int)((r->used[i / 64] >> (i % 64)) & 1);
}

static void set_used(fl_twcc_rx *r, int64_t s, uint64_t q)
{
    size_t i = slot(s);
    r->used[i / 64] |= (uint64_t)1 << (i % 64);
    r->q[i] = (uint32_t)q;
}

static void clear_used(fl_twcc_rx *r, int64_t s)
{
    size_t i = slot(s);
    r->used[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* The arrival stored for s, unwrapped against the latest one. */
static int64_t arrival_q(const fl_twcc_rx *r, int64_t s)
{
    uint32_t d = r->q[slot(s)] - (uint32_t)(uint64_t)r->last_q;
    return r->last_q + (int64_t)(int32_t)d;
}

static fl_time add_sat(fl_time a, fl_time b)
{
    return a > FL_TIME_NEVER - b ? FL_TIME_NEVER : a + b;
}

/* The lowest recorded sequence number from s on, within the span. */
static void find_first(fl_twcc_rx *r, int64_t s)
{
    if (r->pending == 0)
        return;
    while (!is_used(r, s))
        s++;
    r->first = s;
}

/* Forgets every recorded packet below lo, unreported. */
static size_t drop_below(fl_twcc_rx *r, int64_t lo)
{
    size_t dropped = 0;
    for (int64_t s = r->first; r->pending > 0 && s < lo; s++) {
        if (is_used(r, s)) {
            clear_used(r, s);
            r->pending--;
            dropped++;
        }
    }
    find_first(r, lo);
    return dropped;
}

/* Starts over at s: nothing recorded, nothing reported. */
static void start(fl_twcc_rx *r, int64_t s)
{
    if (r->pending > 0)
        drop_below(r, r->highest + 1);
    r->highest = s;
    r->reported = s - RING;
}

int fl_twcc_rx_create(fl_twcc_rx **out, const fl_twcc_rx_config *cfg)
{
    static const fl_twcc_rx_config defaults = { 0 };
    if (!out)
        return FL_EINVAL;
    *out = NULL;
    if (!cfg)
        cfg = &defaults;
    fl_twcc_rx *r = calloc(1, sizeof(*r));
    if (!r)
        return FL_ENOMEM;
    r->sender_ssrc = cfg->sender_ssrc;
    r->interval = cfg->interval > 0 ? cfg->interval : DEFAULT_INTERVAL;
    r->max_packets = cfg->max_packets ? cfg->max_packets : DEFAULT_MAX;
    if (r->max_packets > FL_RTCP_TWCC_BUILD_MAX)
        r->max_packets = FL_RTCP_TWCC_BUILD_MAX;
    r->seqs = calloc(r->max_packets, sizeof(*r->seqs));
    if (!r->seqs)
        goto free_r;
    r->arrivals = calloc(r->max_packets, sizeof(*r->arrivals));
    if (!r->arrivals)
        goto free_seqs;
    *out = r;
    return 0;

free_seqs:
    free(r->seqs);
free_r:
    free(r);
    return FL_ENOMEM;
}

void fl_twcc_rx_destroy(fl_twcc_rx *r)
{
    if (!r)
        return;
    free(r->arrivals);
    free(r->seqs);
    free(r);
}

void fl_twcc_rx_on_packet(fl_twcc_rx *r, fl_time arrival, uint16_t seq)
{
    if (!r->started) {
        r->started = 1;
        r->last_fb = arrival;
        start(r, ((int64_t)1 << 32) + seq);
    }
    int32_t d = (int32_t)(uint16_t)(seq - (uint16_t)(uint64_t)r->highest);
    if (d >= 0x8000)
        d -= 0x10000;
    int64_t s = r->highest + d;
    if (d > RING || d < -RING) {
        fl_log(FL_LOG_DEBUG, "sequence number jumps by %d, starting over (%zu unreported)", (int)d,
               r->pending);
        start(r, s);
        r->st.resets++;
    }
    if (s <= r->reported) {
        r->st.late++;
        fl_log(FL_LOG_TRACE, "late: %u", (unsigned)seq);
        return;
    }
    if (s > r->highest) {
        /* Keep [highest - RING + 1, highest] in the ring; a caller that
         * does not poll loses the oldest packets. */
        if (r->pending > 0 && r->first <= s - RING) {
            size_t n = drop_below(r, s - RING + 1);
            fl_log(FL_LOG_DEBUG, "not polled: %zu packets dropped unreported", n);
        }
        if (r->reported < s - RING)
            r->reported = s - RING; /* below the ring now: late */
        r->highest = s;
    } else if (is_used(r, s)) {
        return; /* duplicate */
    }
    int64_t q = floor_div(arrival, FL_RTCP_TWCC_DELTA_US);
    set_used(r, s, (uint64_t)q);
    r->last_q = q;
    r->last_arrival = arrival;
    if (r->pending == 0 || s < r->first)
        r->first = s;
    r->pending++;
    r->st.packets++;
}

/* Gathers the next feedback's packets into r->seqs/arrivals; returns how
 * many, with *last the unwrapped sequence number of the last one. */
static size_t gather(fl_twcc_rx *r, int64_t *last)
{
    int64_t end = r->first + (int64_t)r->max_packets - 1;
    if (end > r->highest)
        end = r->highest;
    int64_t prev = floor_div(arrival_q(r, r->first), REF_UNITS) * REF_UNITS;
    size_t n = 0;
    for (int64_t s = r->first; s <= end; s++) {
        if (!is_used(r, s))
            continue;
        /* The deltas fl_rtcp_twcc_build will compute: stop before one that
         * does not fit (the first always does, from the reference time). */
        int64_t q = arrival_q(r, s);
        if (n > 0 && (q - prev < INT16_MIN || q - prev > INT16_MAX))
            break;
        r->seqs[n] = (uint16_t)(uint64_t)s;
        r->arrivals[n] = q * FL_RTCP_TWCC_DELTA_US;
        n++;
        prev = q;
        *last = s;
    }
    return n;
}

int fl_twcc_rx_poll_feedback(fl_twcc_rx *r,
                             fl_time now,
                             uint32_t media_ssrc,
                             uint8_t *out,
                             size_t cap,
                             size_t *out_len)
{
    if (r->pending == 0)
        return FL_EAGAIN;
    int by_time = now >= add_sat(r->last_fb, r->interval);
    int full = r->highest - r->first + 1 >= (int64_t)r->max_packets;
    if (!by_time && !full)
        return FL_EAGAIN;
    int64_t last = r->first;
    size_t n = gather(r, &last);
    int err = fl_rtcp_twcc_build(out, cap, r->sender_ssrc, media_ssrc, r->fb_count, r->seqs,
                                 r->arrivals, n, out_len);
    if (err)
        return err;
    for (int64_t s = r->first; s <= last; s++)
        clear_used(r, s);
    r->pending -= n;
    r->reported = last;
    find_first(r, last + 1);
    r->fb_count++;
    r->st.feedbacks++;
    /* A round due by time writes everything recorded before it ends. */
    if (!by_time || r->pending == 0)
        r->last_fb = now;
    return 0;
}

fl_time fl_twcc_rx_poll_timeout(const fl_twcc_rx *r)
{
    if (r->pending == 0)
        return FL_TIME_NEVER;
    fl_time due = add_sat(r->last_fb, r->interval);
    if (r->highest - r->first + 1 >= (int64_t)r->max_packets && r->last_arrival < due)
        return r->last_arrival;
    return due;
}

void fl_twcc_rx_set_interval(fl_twcc_rx *r, fl_time interval)
{
    if (interval > 0)
        r->interval = interval;
}

void fl_twcc_rx_get_stats(const fl_twcc_rx *r, fl_twcc_rx_stats *out)
{
    *out = r->st;
}
