/* net/bwe: receive-side delay-based bandwidth estimation, GCC on
 * abs-send-time (see bwe.h).
 *
 * Four stages, each a group of fields and helpers below:
 *   1. send-time groups: packets sent within 5 ms form a group; a burst
 *      (packets that arrive together after queueing) joins the group;
 *      each new group gives the previous one's send and arrival deltas;
 *   2. trendline: the accumulated delay variation, smoothed, over the
 *      last 20 groups; its least-squares slope, scaled, is the trend;
 *   3. detector: the trend against an adaptive threshold gives normal,
 *      over-use (over the threshold for 10 ms and still rising) or
 *      under-use;
 *   4. AIMD: hold, increase (multiplicative far from the link capacity
 *      seen at the last over-uses, additive near it), decrease to beta
 *      times the incoming rate.
 * Before the first over-use the increase is a faster start-up ramp: a
 * receive-side estimator cannot probe, so this is how it finds the link.
 * The loss bound caps all of it. */
#include "net/bwe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define DEFAULT_START_BPS 300000
#define DEFAULT_MIN_BPS   30000
#define DEFAULT_MAX_BPS   30000000

/* abs-send-time: 24 bits of 6.18 fixed-point seconds, wraps every 64 s */
#define AST_BITS 24
#define AST_MASK ((1u << AST_BITS) - 1)
#define AST_HALF (1 << (AST_BITS - 1))

/* send-time groups */
#define GROUP_SPAN     (5 * FL_TIME_MS)
#define BURST_GAP      (5 * FL_TIME_MS)
#define BURST_MAX      (100 * FL_TIME_MS)
#define REORDER_RESET  3
#define STREAM_TIMEOUT (2 * FL_TIME_SEC)

/* trendline */
#define TREND_WINDOW     20
#define TREND_SMOOTHING  0.9
#define TREND_GAIN       4.0
#define TREND_MIN_DELTAS 60
#define TREND_MAX_DELTAS 1000

/* detector (ms) */
#define THRESHOLD_START    12.5
#define THRESHOLD_MIN      6.0
#define THRESHOLD_MAX      600.0
#define THRESHOLD_K_UP     0.01
#define THRESHOLD_K_DOWN   0.00018
#define THRESHOLD_MAX_JUMP 15.0
#define THRESHOLD_MAX_DT   100.0
#define OVERUSE_TIME       10.0

/* incoming rate: 500 ms in 5 ms buckets */
#define RATE_BUCKET  (5 * FL_TIME_MS)
#define RATE_BUCKETS 100
#define RATE_WINDOW  (RATE_BUCKET * RATE_BUCKETS)

/* AIMD */
#define BETA                0.85
#define INCREASE_PER_SEC    1.08
#define STARTUP_PER_SEC     1.5
#define MIN_MULT_STEP_BPS   1000.0
#define MIN_ADD_RATE_BPS    4000.0
#define NEAR_FRAME_RATE     30.0
#define NEAR_PACKET_BITS    (1200.0 * 8)
#define RESPONSE_EXTRA      (100 * FL_TIME_MS)
#define DEFAULT_RTT         (200 * FL_TIME_MS)
#define UPDATE_INTERVAL     (100 * FL_TIME_MS)
#define INCREASE_LIMIT_GAIN 1.5
#define INCREASE_LIMIT_ADD  10000.0
#define CAPACITY_ALPHA      0.05
#define CAPACITY_DEV_MIN    0.4
#define CAPACITY_DEV_MAX    2.5

/* loss bound */
#define LOSS_HIGH 0.10
#define LOSS_LOW  0.02

typedef enum rc_state {
    RC_HOLD,
    RC_INCREASE,
    RC_DECREASE,
} rc_state;

typedef struct group {
    int used;
    int64_t first_send, last_send; /* µs on the sender's unwrapped clock */
    fl_time first_arrival, last_arrival;
} group;

typedef struct rate_window {
    uint64_t bytes[RATE_BUCKETS];
    uint64_t sum;
    int64_t newest; /* bucket number of the newest bucket */
    fl_time first;  /* the first arrival since the last reset */
    unsigned samples;
} rate_window;

struct fl_bwe {
    double min_bps, max_bps;
    fl_time rtt;

    /* abs-send-time unwrapped to 18-bit-fraction ticks */
    int have_ast;
    uint32_t last_ast;
    int64_t ast_ticks;

    /* 1. groups */
    group cur, prev;
    int reordered;
    int have_arrival;
    fl_time last_arrival;

    /* 2. trendline */
    double hist_x[TREND_WINDOW], hist_y[TREND_WINDOW]; /* ms since origin, ms */
    size_t hist_len, hist_next;
    int trend_started;
    fl_time trend_origin;
    unsigned num_deltas;
    double acc_delay, smoothed_delay, prev_trend, modified_trend;

    /* 3. detector */
    double threshold, time_over; /* ms; time_over < 0: not over */
    unsigned over_count;
    int threshold_started;
    fl_time threshold_at;
    fl_bwe_usage usage;

    /* incoming rate */
    rate_window rate;
    double incoming_bps; /* < 0: not known yet */

    /* 4. AIMD */
    rc_state state;
    double estimate;
    int startup;
    int updated;
    fl_time last_update, last_change;
    double capacity_kbps; /* < 0: none; the link capacity at the last over-uses */
    double capacity_dev;  /* its variance, normalised by it */

    /* loss */
    double loss_bound; /* HUGE_VAL: none */
    double loss_high;  /* ratio */
    double decrease;   /* 0: 1 - loss/2 */
    uint8_t fraction_lost;

    uint64_t packets, overuses;
};

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- abs-send-time ---- */

/* The send time in µs on an unwrapped clock: each value is placed within
 * 32 s of the one before, so the 64 s wrap and reordering both unwrap. */
static int64_t unwrap_send_time(fl_bwe *b, uint32_t ast)
{
    ast &= AST_MASK;
    if (!b->have_ast) {
        b->have_ast = 1;
        b->ast_ticks = ast;
    } else {
        int32_t diff = (int32_t)((ast - b->last_ast) & AST_MASK);
        if (diff >= AST_HALF)
            diff -= 1 << AST_BITS;
        b->ast_ticks += diff;
    }
    b->last_ast = ast;
    /* 2^18 ticks per second: 1e6 / 2^18 = 15625 / 4096 µs per tick */
    return floor_div(b->ast_ticks * 15625, 4096);
}

/* ---- incoming rate ---- */

static void rate_reset(rate_window *r)
{
    memset(r, 0, sizeof(*r));
}

static void rate_advance(rate_window *r, fl_time now)
{
    int64_t n = floor_div(now, RATE_BUCKET);
    if (r->samples == 0 || n <= r->newest)
        return;
    if (n - r->newest >= RATE_BUCKETS) {
        memset(r->bytes, 0, sizeof(r->bytes));
        r->sum = 0;
    } else {
        for (int64_t i = r->newest + 1; i <= n; i++) {
            size_t slot = (size_t)(((i % RATE_BUCKETS) + RATE_BUCKETS) % RATE_BUCKETS);
            r->sum -= r->bytes[slot];
            r->bytes[slot] = 0;
        }
    }
    r->newest = n;
}

static void rate_add(rate_window *r, fl_time now, size_t size)
{
    int64_t n = floor_div(now, RATE_BUCKET);
    if (r->samples == 0) {
        r->newest = n;
        r->first = now;
    }
    rate_advance(r, now);
    if (r->samples < UINT32_MAX)
        r->samples++;
    if (n <= r->newest - RATE_BUCKETS)
        return; /* arrived out of order, older than the window */
    size_t slot = (size_t)(((n % RATE_BUCKETS) + RATE_BUCKETS) % RATE_BUCKETS);
    r->bytes[slot] += size;
    r->sum += size;
}

/* bit/s over the window (or the time since the first packet when
 * shorter); -1 until two packets came */
static double rate_bps(rate_window *r, fl_time now)
{
    if (r->samples < 2)
        return -1;
    rate_advance(r, now);
    fl_time span = now - r->first + RATE_BUCKET;
    if (span > RATE_WINDOW)
        span = RATE_WINDOW;
    if (span < RATE_BUCKET)
        span = RATE_BUCKET;
    return (double)r->sum * 8.0 * (double)FL_TIME_SEC / (double)span;
}

/* ---- 2 and 3: trendline and over-use detector ---- */

static void filter_reset(fl_bwe *b)
{
    memset(&b->cur, 0, sizeof(b->cur));
    memset(&b->prev, 0, sizeof(b->prev));
    b->reordered = 0;
    b->hist_len = b->hist_next = 0;
    b->trend_started = 0;
    b->num_deltas = 0;
    b->acc_delay = b->smoothed_delay = b->prev_trend = b->modified_trend = 0;
    b->time_over = -1;
    b->over_count = 0;
    b->usage = FL_BWE_NORMAL;
}

/* least-squares slope of the history; 0 when all x are equal */
static int fit_slope(const fl_bwe *b, double *out)
{
    double sx = 0, sy = 0;
    for (size_t i = 0; i < b->hist_len; i++) {
        sx += b->hist_x[i];
        sy += b->hist_y[i];
    }
    double mx = sx / (double)b->hist_len, my = sy / (double)b->hist_len;
    double num = 0, den = 0;
    for (size_t i = 0; i < b->hist_len; i++) {
        double dx = b->hist_x[i] - mx;
        num += dx * (b->hist_y[i] - my);
        den += dx * dx;
    }
    if (den == 0)
        return 0;
    *out = num / den;
    return 1;
}

static void threshold_update(fl_bwe *b, double modified, fl_time now)
{
    if (!b->threshold_started) {
        b->threshold_started = 1;
        b->threshold_at = now;
    }
    double m = fabs(modified);
    if (m > b->threshold + THRESHOLD_MAX_JUMP) {
        /* a spike (a route change, a hiccup) does not move the threshold */
        b->threshold_at = now;
        return;
    }
    double k = m < b->threshold ? THRESHOLD_K_DOWN : THRESHOLD_K_UP;
    double dt = clampd((double)(now - b->threshold_at) / (double)FL_TIME_MS, 0, THRESHOLD_MAX_DT);
    b->threshold += k * (m - b->threshold) * dt;
    b->threshold = clampd(b->threshold, THRESHOLD_MIN, THRESHOLD_MAX);
    b->threshold_at = now;
}

static void detect(fl_bwe *b, double trend, double send_ms, fl_time now)
{
    if (b->num_deltas < 2) {
        b->usage = FL_BWE_NORMAL;
        return;
    }
    unsigned n = b->num_deltas < TREND_MIN_DELTAS ? b->num_deltas : TREND_MIN_DELTAS;
    double modified = (double)n * trend * TREND_GAIN;
    b->modified_trend = modified;
    if (modified > b->threshold) {
        /* the first time over counts half a group: it went over somewhere
         * within it */
        b->time_over = b->time_over < 0 ? send_ms / 2 : b->time_over + send_ms;
        b->over_count++;
        if (b->time_over > OVERUSE_TIME && b->over_count > 1 && trend >= b->prev_trend) {
            b->time_over = 0;
            b->over_count = 0;
            b->usage = FL_BWE_OVERUSE;
        }
    } else {
        b->time_over = -1;
        b->over_count = 0;
        b->usage = modified < -b->threshold ? FL_BWE_UNDERUSE : FL_BWE_NORMAL;
    }
    b->prev_trend = trend;
    threshold_update(b, modified, now);
}

static void trend_update(fl_bwe *b, double arrival_ms, double send_ms, fl_time at)
{
    if (b->num_deltas < TREND_MAX_DELTAS)
        b->num_deltas++;
    if (!b->trend_started) {
        b->trend_started = 1;
        b->trend_origin = at;
    }
    b->acc_delay += arrival_ms - send_ms;
    b->smoothed_delay = TREND_SMOOTHING * b->smoothed_delay + (1 - TREND_SMOOTHING) * b->acc_delay;
    b->hist_x[b->hist_next] = (double)(at - b->trend_origin) / (double)FL_TIME_MS;
    b->hist_y[b->hist_next] = b->smoothed_delay;
    b->hist_next = (b->hist_next + 1) % TREND_WINDOW;
    if (b->hist_len < TREND_WINDOW)
        b->hist_len++;
    double trend = b->prev_trend;
    if (b->hist_len == TREND_WINDOW)
        fit_slope(b, &trend);
    detect(b, trend, send_ms, at);
}

/* ---- 1: send-time groups ---- */

static void group_start(group *g, int64_t send, fl_time arrival)
{
    g->used = 1;
    g->first_send = g->last_send = send;
    g->first_arrival = g->last_arrival = arrival;
}

/* Packets that queued behind each other arrive closer together than they
 * were sent: they belong to the group before them. */
static int in_burst(const group *g, int64_t send, fl_time arrival)
{
    fl_time arrival_delta = arrival - g->last_arrival;
    int64_t send_delta = send - g->last_send;
    if (send_delta == 0)
        return 1;
    return arrival_delta - send_delta < 0 && arrival_delta <= BURST_GAP &&
           arrival - g->first_arrival < BURST_MAX;
}

/* Adds a packet to the current group, or closes the group and feeds its
 * deltas against the one before to the trendline. */
static void group_packet(fl_bwe *b, int64_t send, fl_time arrival)
{
    group *g = &b->cur;
    if (!g->used) {
        group_start(g, send, arrival);
        return;
    }
    if (send < g->first_send)
        return; /* sent before the current group: reordered, no delta */
    if (in_burst(g, send, arrival) || send - g->first_send <= GROUP_SPAN) {
        if (send > g->last_send)
            g->last_send = send;
        g->last_arrival = arrival;
        return;
    }
    if (b->prev.used) {
        fl_time arrival_delta = g->last_arrival - b->prev.last_arrival;
        int64_t send_delta = g->last_send - b->prev.last_send;
        if (arrival_delta < 0) {
            if (++b->reordered >= REORDER_RESET) {
                filter_reset(b);
                group_start(&b->cur, send, arrival);
                return;
            }
        } else {
            b->reordered = 0;
            trend_update(b, (double)arrival_delta / (double)FL_TIME_MS,
                         (double)send_delta / (double)FL_TIME_MS, g->last_arrival);
        }
    }
    b->prev = *g;
    group_start(g, send, arrival);
}

/* ---- 4: AIMD rate control ---- */

static void capacity_sample(fl_bwe *b, double bps)
{
    double kbps = bps / 1000.0;
    if (b->capacity_kbps < 0)
        b->capacity_kbps = kbps;
    else
        b->capacity_kbps = (1 - CAPACITY_ALPHA) * b->capacity_kbps + CAPACITY_ALPHA * kbps;
    double norm = fmax(b->capacity_kbps, 1.0);
    double err = b->capacity_kbps - kbps;
    b->capacity_dev = (1 - CAPACITY_ALPHA) * b->capacity_dev + CAPACITY_ALPHA * err * err / norm;
    b->capacity_dev = clampd(b->capacity_dev, CAPACITY_DEV_MIN, CAPACITY_DEV_MAX);
}

/* three standard deviations of the capacity, bit/s */
static double capacity_margin(const fl_bwe *b)
{
    return 3.0 * sqrt(b->capacity_dev * b->capacity_kbps) * 1000.0;
}

/* the additive increase: about one packet per response time, bit/s per s */
static double near_increase_rate(const fl_bwe *b)
{
    double frame_bits = b->estimate / NEAR_FRAME_RATE;
    double packets = ceil(frame_bits / NEAR_PACKET_BITS);
    double packet_bits = packets > 0 ? frame_bits / packets : frame_bits;
    double response = (double)(b->rtt + RESPONSE_EXTRA) / (double)FL_TIME_SEC;
    return fmax(MIN_ADD_RATE_BPS, packet_bits / response);
}

/* Near the congestion point: the incoming rate within three standard
 * deviations of the link capacity seen at the last over-uses (the draft's
 * 5.5). Above it the capacity has grown: forget it. Below it (after a
 * decrease) the estimate is far again and grows multiplicatively. */
static int near_capacity(fl_bwe *b)
{
    if (b->capacity_kbps < 0)
        return 0;
    double rate = b->incoming_bps >= 0 ? b->incoming_bps : b->estimate;
    double cap = b->capacity_kbps * 1000.0, margin = capacity_margin(b);
    if (rate > cap + margin) {
        b->capacity_kbps = -1;
        return 0;
    }
    return rate >= cap - margin;
}

static void increase(fl_bwe *b, fl_time now)
{
    int near = near_capacity(b);
    /* the sender does not follow: do not run ahead of what arrives */
    double incoming = b->incoming_bps;
    double limit = incoming >= 0 ? INCREASE_LIMIT_GAIN * incoming + INCREASE_LIMIT_ADD : 0;
    if (b->estimate < limit) {
        double dt = clampd((double)(now - b->last_change) / (double)FL_TIME_SEC, 0, 1);
        double step;
        if (b->startup)
            step = fmax(b->estimate * (pow(STARTUP_PER_SEC, dt) - 1), MIN_MULT_STEP_BPS);
        else if (near)
            step = near_increase_rate(b) * dt;
        else
            step = fmax(b->estimate * (pow(INCREASE_PER_SEC, dt) - 1), MIN_MULT_STEP_BPS);
        b->estimate = fmin(b->estimate + step, limit);
    }
    b->last_change = now;
}

static void decrease(fl_bwe *b, fl_time now)
{
    double incoming = b->incoming_bps >= 0 ? b->incoming_bps : b->estimate;
    double lower = BETA * incoming;
    if (lower > b->estimate && b->capacity_kbps >= 0)
        lower = BETA * b->capacity_kbps * 1000.0;
    if (lower < b->estimate)
        b->estimate = lower;
    if (b->capacity_kbps >= 0 && incoming < b->capacity_kbps * 1000.0 - capacity_margin(b))
        b->capacity_kbps = -1; /* far below: start the average again */
    capacity_sample(b, incoming);
    b->startup = 0;
    b->state = RC_HOLD; /* until the queue has drained */
    b->last_change = now;
}

static void rate_control(fl_bwe *b, fl_time now)
{
    switch (b->usage) {
    case FL_BWE_NORMAL:
        if (b->state == RC_HOLD) {
            b->last_change = now;
            b->state = RC_INCREASE;
        }
        break;
    case FL_BWE_OVERUSE:
        b->state = RC_DECREASE;
        break;
    case FL_BWE_UNDERUSE:
        b->state = RC_HOLD;
        break;
    }
    if (b->state == RC_INCREASE)
        increase(b, now);
    else if (b->state == RC_DECREASE)
        decrease(b, now);
    b->estimate = clampd(fmin(b->estimate, b->loss_bound), b->min_bps, b->max_bps);
    b->updated = 1;
    b->last_update = now;
}

/* An over-use that goes on lowers again after an RTT, or at once when
 * what arrives is under half the estimate. */
static int time_to_reduce_further(const fl_bwe *b, fl_time now)
{
    fl_time interval = b->rtt < 10 * FL_TIME_MS ? 10 * FL_TIME_MS : b->rtt;
    if (interval > 200 * FL_TIME_MS)
        interval = 200 * FL_TIME_MS;
    if (now - b->last_change >= interval)
        return 1;
    return b->incoming_bps >= 0 && b->incoming_bps < 0.5 * b->estimate;
}

static void maybe_rate_control(fl_bwe *b, fl_time now, fl_bwe_usage before)
{
    int due;
    if (b->usage == FL_BWE_OVERUSE) {
        if (before != FL_BWE_OVERUSE)
            b->overuses++;
        due = before != FL_BWE_OVERUSE || time_to_reduce_further(b, now);
    } else {
        due = !b->updated || b->usage != before || now - b->last_update >= UPDATE_INTERVAL;
    }
    if (due)
        rate_control(b, now);
}

/* ---- API ---- */

int fl_bwe_create(fl_bwe **out, const fl_bwe_config *cfg)
{
    fl_bwe_config c = { 0 };
    if (cfg)
        c = *cfg;
    double min = c.min_bps ? (double)c.min_bps : DEFAULT_MIN_BPS;
    double max = c.max_bps ? (double)c.max_bps : DEFAULT_MAX_BPS;
    double start = c.start_bps ? (double)c.start_bps : DEFAULT_START_BPS;
    if (!out || min > max)
        return FL_EINVAL;
    fl_bwe *b = calloc(1, sizeof(*b));
    if (!b)
        return FL_ENOMEM;
    b->min_bps = min;
    b->max_bps = max;
    b->rtt = DEFAULT_RTT;
    b->estimate = clampd(start, min, max);
    b->startup = 1;
    b->state = RC_HOLD;
    b->capacity_kbps = -1;
    b->capacity_dev = CAPACITY_DEV_MIN;
    b->loss_bound = HUGE_VAL;
    b->loss_high = cfg && cfg->loss_high ? cfg->loss_high / 256.0 : LOSS_HIGH;
    b->decrease = cfg && cfg->decrease > 0 && cfg->decrease < 1 ? cfg->decrease : 0;
    b->threshold = THRESHOLD_START;
    b->incoming_bps = -1;
    filter_reset(b);
    *out = b;
    return 0;
}

void fl_bwe_destroy(fl_bwe *b)
{
    free(b);
}

/* A silence of STREAM_TIMEOUT: the delay filter starts over (the gap is no
 * delay variation), so does the rate window; the estimate holds. */
static void stream_timeout(fl_bwe *b)
{
    filter_reset(b);
    b->have_ast = 0; /* 32 s apart would unwrap the wrong way */
    rate_reset(&b->rate);
    b->incoming_bps = -1;
    b->have_arrival = 0;
    b->state = RC_HOLD;
}

void fl_bwe_on_packet(fl_bwe *b, fl_time arrival, uint32_t abs_send_time, size_t size)
{
    if (b->have_arrival && arrival - b->last_arrival > STREAM_TIMEOUT)
        stream_timeout(b);
    b->have_arrival = 1;
    b->last_arrival = arrival;
    b->packets++;
    rate_add(&b->rate, arrival, size);
    b->incoming_bps = rate_bps(&b->rate, arrival);
    fl_bwe_usage before = b->usage;
    group_packet(b, unwrap_send_time(b, abs_send_time), arrival);
    maybe_rate_control(b, arrival, before);
}

void fl_bwe_on_loss(fl_bwe *b, fl_time now, uint8_t fraction_lost)
{
    double loss = fraction_lost / 256.0;
    b->fraction_lost = fraction_lost;
    if (loss > b->loss_high) {
        double f = b->decrease ? b->decrease : 1 - 0.5 * loss;
        b->loss_bound = fmax(b->estimate * f, b->min_bps);
        b->estimate = b->loss_bound;
        b->startup = 0;
        b->last_change = now;
    } else if (loss < LOSS_LOW) {
        b->loss_bound = HUGE_VAL;
    }
}

void fl_bwe_set_rtt(fl_bwe *b, fl_time rtt)
{
    b->rtt = rtt > 0 ? rtt : DEFAULT_RTT;
}

void fl_bwe_handle_timeout(fl_bwe *b, fl_time now)
{
    if (b->have_arrival && now - b->last_arrival >= STREAM_TIMEOUT)
        stream_timeout(b);
}

fl_time fl_bwe_poll_timeout(const fl_bwe *b)
{
    return b->have_arrival ? b->last_arrival + STREAM_TIMEOUT : FL_TIME_NEVER;
}

uint64_t fl_bwe_estimate(const fl_bwe *b)
{
    return b->estimate >= 1.8e19 ? UINT64_MAX : (uint64_t)(b->estimate + 0.5);
}

void fl_bwe_get_stats(const fl_bwe *b, fl_bwe_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->estimate_bps = fl_bwe_estimate(b);
    out->incoming_bps = b->incoming_bps > 0 ? (uint64_t)(b->incoming_bps + 0.5) : 0;
    out->usage = b->usage;
    out->trend = b->modified_trend;
    out->threshold = b->threshold;
    out->packets = b->packets;
    out->overuses = b->overuses;
    out->fraction_lost = b->fraction_lost;
}

/* ---- a viewer's REMB, as what its source may send ---- */

#define BOUND_FED_WINDOW (200 * FL_TIME_MS)
#define BOUND_GROWTH     0.08 /* a second */
#define BOUND_MAX_X      2

uint64_t fl_remb_bound_update(fl_remb_bound *b, fl_time now, uint64_t remb, uint32_t bytes)
{
    if (!b->at || now < b->at || now - b->at > 5 * FL_TIME_SEC) {
        *b = (fl_remb_bound){
            .at = now, .remb = remb, .bound = remb, .fed_at = now, .fed_bytes = bytes
        };
        return remb;
    }
    if (now - b->fed_at >= BOUND_FED_WINDOW) {
        b->fed = (uint64_t)((double)(uint32_t)(bytes - b->fed_bytes) * 8 * FL_TIME_SEC /
                            (double)(now - b->fed_at));
        b->fed_at = now;
        b->fed_bytes = bytes;
    }
    int fell = remb < b->remb / 100 * 95;
    int held = b->fed && b->fed / 4 * 5 < remb; /* fed under 1/1.25 of it */
    if (fell || !held) {
        b->bound = remb;
    } else {
        double grown = (double)(b->bound > remb ? b->bound : remb) *
                       (1 + BOUND_GROWTH * (double)(now - b->at) / FL_TIME_SEC);
        double top = (double)remb * BOUND_MAX_X;
        b->bound = (uint64_t)(grown < top ? grown : top);
    }
    b->at = now;
    b->remb = remb;
    return b->bound;
}
