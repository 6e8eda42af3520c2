/* NACK generation (RFC 4585), the sent-packet history and RTX (RFC 4588). */
#include "net/nack.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"

FL_LOG_TAG("nack");

#define GEN_DEF_MISSING  512
#define GEN_MAX_MISSING  0x8000u
#define GEN_DEF_RETRIES  10
#define GEN_MAX_RETRIES  255
#define GEN_DEF_AGE      FL_TIME_SEC
#define GEN_DEF_INTERVAL (100 * FL_TIME_MS)
#define GEN_MIN_RTT      (20 * FL_TIME_MS)
#define GEN_MAX_RTT      (500 * FL_TIME_MS)
#define GEN_DEF_REORDER  1000

#define HIST_DEF_CAPACITY 1024
#define HIST_MAX_CAPACITY 65536
#define HIST_DEF_AGE      FL_TIME_SEC
#define HIST_DEF_INTERVAL (10 * FL_TIME_MS)
#define HIST_MIN_RTT      (5 * FL_TIME_MS)
#define HIST_MAX_RTT      (500 * FL_TIME_MS)

/* Missing entries stay less than half the sequence space behind the
 * highest sequence number, so that wrap-aware order among them is total. */
#define SEQ_HALF 0x8000u

#define RTX_OSN_LEN 2

/* Configured durations are capped so that time sums cannot overflow. */
#define MAX_TIME (3600 * FL_TIME_SEC)

static fl_time clamp_time(fl_time t, fl_time lo, fl_time hi)
{
    return t < lo ? lo : t > hi ? hi : t;
}

/* ---- receiving side ---- */

struct missing {
    fl_time first; /* when the gap was seen */
    fl_time last;  /* the last request, when requests > 0 */
    uint16_t seq;
    uint8_t requests;
    uint8_t hopeless; /* an answer would come after the age limit: no more requests */
};

/* The missing entries are a ring kept in increasing sequence order: gaps
 * are only ever appended (above the highest sequence number), entries leave
 * from anywhere. */
struct fl_nack_gen {
    struct missing *ring;
    size_t cap;
    size_t head;
    size_t count;
    unsigned max_retries;
    fl_time max_age;
    fl_time interval;
    int rtt_given;    /* set_rtt was called: the measured response is not used */
    fl_time response; /* smoothed request-to-retransmission time; 0: none yet */
    uint16_t max_reorder;
    uint16_t highest;
    int started;
    fl_time next; /* cached poll timeout: never later than the truth */
    fl_nack_gen_stats stats;
};

enum {
    STEP_KEEP,
    STEP_DROP,
    STEP_REQUEST
};

int fl_nack_gen_create(fl_nack_gen **out, const fl_nack_gen_config *cfg)
{
    fl_nack_gen_config c = { 0 };
    if (cfg)
        c = *cfg;
    if (!out || c.max_age < 0 || c.retry_interval < 0)
        return FL_EINVAL;
    fl_nack_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return FL_ENOMEM;
    g->cap = c.max_missing ? c.max_missing : GEN_DEF_MISSING;
    if (g->cap > GEN_MAX_MISSING)
        g->cap = GEN_MAX_MISSING;
    /* g->ring: at the first gap, so a stream that loses nothing holds none */
    g->max_retries = c.max_retries ? c.max_retries : GEN_DEF_RETRIES;
    if (g->max_retries > GEN_MAX_RETRIES)
        g->max_retries = GEN_MAX_RETRIES;
    g->max_age = clamp_time(c.max_age ? c.max_age : GEN_DEF_AGE, 1, MAX_TIME);
    g->interval = clamp_time(c.retry_interval ? c.retry_interval : GEN_DEF_INTERVAL, 1, MAX_TIME);
    g->max_reorder = c.max_reorder ? c.max_reorder : GEN_DEF_REORDER;
    g->next = FL_TIME_NEVER;
    *out = g;
    return 0;
}

void fl_nack_gen_destroy(fl_nack_gen *g)
{
    if (!g)
        return;
    free(g->ring);
    free(g);
}

static struct missing *gen_at(const fl_nack_gen *g, size_t i)
{
    size_t k = g->head + i;
    return &g->ring[k >= g->cap ? k - g->cap : k];
}

static void gen_pop_front(fl_nack_gen *g)
{
    g->head = g->head + 1 == g->cap ? 0 : g->head + 1;
    g->count--;
}

/* Removes entry i, moving whichever side of it is shorter. */
static void gen_remove(fl_nack_gen *g, size_t i)
{
    if (i < g->count / 2) {
        for (size_t j = i; j > 0; j--)
            *gen_at(g, j) = *gen_at(g, j - 1);
        gen_pop_front(g);
        return;
    }
    for (size_t j = i; j + 1 < g->count; j++)
        *gen_at(g, j) = *gen_at(g, j + 1);
    g->count--;
}

/* Index of seq's entry, or g->count. Entries are sorted by decreasing
 * distance behind the highest sequence number. */
static size_t gen_find(const fl_nack_gen *g, uint16_t seq)
{
    uint16_t d = (uint16_t)(g->highest - seq);
    if (d == 0 || d >= SEQ_HALF)
        return g->count;
    size_t lo = 0, hi = g->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint16_t dm = (uint16_t)(g->highest - gen_at(g, mid)->seq);
        if (dm == d)
            return mid;
        if (dm > d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return g->count;
}

/* Forgets every entry and starts again at seq (a new source, a restart). */
static void gen_reset(fl_nack_gen *g, uint16_t seq)
{
    g->stats.resets++;
    if ((g->stats.resets & (g->stats.resets - 1)) == 0) /* 1st, 2nd, 4th ...: rate-limited */
        fl_log(FL_LOG_DEBUG, "sequence jump %u -> %u: %zu missing dropped (reset %llu)", g->highest,
               seq, g->count, (unsigned long long)g->stats.resets);
    g->stats.given_up += g->count;
    g->head = 0;
    g->count = 0;
    g->highest = seq;
    g->next = FL_TIME_NEVER;
}

/* Tracks highest+1 .. seq-1 (keeping the newest when they do not fit) and
 * moves the highest sequence number to seq. */
static void gen_open_gap(fl_nack_gen *g, fl_time now, uint16_t seq)
{
    size_t n = (size_t)(uint16_t)(seq - g->highest) - 1;
    uint16_t from = (uint16_t)(g->highest + 1);
    if (n && !g->ring && !(g->ring = calloc(g->cap, sizeof(*g->ring)))) {
        g->stats.given_up += n; /* no memory: this gap is not tracked */
        n = 0;
    }
    if (n > g->cap) {
        g->stats.given_up += n - g->cap;
        from = (uint16_t)(seq - g->cap);
        n = g->cap;
    }
    while (g->count + n > g->cap) {
        gen_pop_front(g);
        g->stats.given_up++;
    }
    for (size_t i = 0; i < n; i++) {
        struct missing *e = gen_at(g, g->count++);
        *e = (struct missing){ .first = now, .seq = (uint16_t)(from + i) };
    }
    g->highest = seq;
    while (g->count && (uint16_t)(g->highest - gen_at(g, 0)->seq) >= SEQ_HALF) {
        gen_pop_front(g);
        g->stats.given_up++;
    }
    if (n && now < g->next)
        g->next = now;
}

static void gen_measure(fl_nack_gen *g, fl_time sample);

int fl_nack_gen_on_packet(fl_nack_gen *g, fl_time now, uint16_t seq, int recovered)
{
    if (!g->started) {
        if (recovered)
            return 0;
        g->started = 1;
        g->highest = seq;
        return 0;
    }
    uint16_t ahead = (uint16_t)(seq - g->highest);
    if (recovered || ahead == 0 || ahead >= SEQ_HALF) {
        uint16_t behind = (uint16_t)(g->highest - seq);
        if (!recovered && behind > g->max_reorder) {
            gen_reset(g, seq);
            return 0;
        }
        size_t i = gen_find(g, seq);
        if (i == g->count)
            return 0; /* a duplicate, or not missing */
        const struct missing *e = gen_at(g, i);
        if (recovered || e->requests)
            g->stats.recovered++;
        if (recovered && e->requests == 1)
            gen_measure(g, now - e->last);
        gen_remove(g, i);
        return 1;
    }
    if (ahead > g->max_reorder) {
        gen_reset(g, seq);
        return 0;
    }
    gen_open_gap(g, now, seq);
    return 0;
}

/* What poll does with e at now; sets e->hopeless when no request can help
 * any more (its answer, one interval later, would come after the age). */
static int gen_step(const fl_nack_gen *g, struct missing *e, fl_time now)
{
    fl_time deadline = e->first + g->max_age;
    if (now >= deadline)
        return STEP_DROP;
    if (e->requests >= g->max_retries)
        return now - e->last >= g->interval ? STEP_DROP : STEP_KEEP;
    if (e->hopeless || (e->requests && now - e->last < g->interval))
        return STEP_KEEP;
    if (now + g->interval > deadline) {
        e->hopeless = 1;
        return STEP_KEEP;
    }
    return STEP_REQUEST;
}

/* When gen_step next has something to do for e. */
static fl_time gen_entry_next(const fl_nack_gen *g, const struct missing *e)
{
    fl_time deadline = e->first + g->max_age;
    if (e->requests >= g->max_retries) {
        fl_time t = e->last + g->interval;
        return t < deadline ? t : deadline;
    }
    fl_time due = e->requests ? e->last + g->interval : e->first;
    if (e->hopeless || due + g->interval > deadline)
        return deadline;
    return due;
}

static void gen_set_interval(fl_nack_gen *g, fl_time interval)
{
    g->interval = clamp_time(interval, GEN_MIN_RTT, GEN_MAX_RTT);
    g->next = FL_TIME_NEVER;
    for (size_t i = 0; i < g->count; i++) {
        fl_time t = gen_entry_next(g, gen_at(g, i));
        if (t < g->next)
            g->next = t;
    }
}

void fl_nack_gen_set_rtt(fl_nack_gen *g, fl_time rtt)
{
    g->rtt_given = 1;
    gen_set_interval(g, rtt);
}

/* A retransmission answered the only request for it after `sample`: with
 * no RTT given (a sender we only receive from has none to report), the
 * retry interval follows 1.5 times the smoothed response time. */
static void gen_measure(fl_nack_gen *g, fl_time sample)
{
    if (sample <= 0)
        return;
    g->response = g->response ? g->response + (sample - g->response) / 8 : sample;
    if (!g->rtt_given)
        gen_set_interval(g, g->response + g->response / 2);
}

size_t fl_nack_gen_poll(fl_nack_gen *g, fl_time now, uint16_t *seqs, size_t cap)
{
    size_t n = 0, w = 0;
    fl_time next = FL_TIME_NEVER;
    for (size_t i = 0; i < g->count; i++) {
        struct missing e = *gen_at(g, i);
        int step = gen_step(g, &e, now);
        if (step == STEP_DROP) {
            g->stats.given_up++;
            continue;
        }
        if (step == STEP_REQUEST && n < cap) {
            seqs[n++] = e.seq;
            e.requests++;
            e.last = now;
            g->stats.requested++;
        }
        *gen_at(g, w++) = e;
        fl_time t = gen_entry_next(g, &e);
        if (t < next)
            next = t;
    }
    g->count = w;
    g->next = next;
    return n;
}

fl_time fl_nack_gen_poll_timeout(const fl_nack_gen *g)
{
    return g->count ? g->next : FL_TIME_NEVER;
}

void fl_nack_gen_get_stats(const fl_nack_gen *g, fl_nack_gen_stats *out)
{
    *out = g->stats;
    out->missing = g->count;
    out->response = g->response;
}

/* ---- sending side ---- */

struct fl_nack_history {
    fl_nack_history_entry *slots;
    size_t mask;
    /* what may still be held: [oldest, newest]; older ones were released */
    uint16_t oldest, newest;
    int any;
    fl_time max_age;
    fl_time interval;
    fl_nack_history_stats stats;
};

int fl_nack_history_create(fl_nack_history **out, const fl_nack_history_config *cfg)
{
    fl_nack_history_config c = { 0 };
    if (cfg)
        c = *cfg;
    if (!out || c.max_age < 0 || c.min_resend_interval < 0)
        return FL_EINVAL;
    size_t want = c.capacity ? c.capacity : HIST_DEF_CAPACITY;
    size_t cap = 1;
    while (cap < want && cap < HIST_MAX_CAPACITY)
        cap <<= 1;
    fl_nack_history *h = calloc(1, sizeof(*h));
    if (!h)
        return FL_ENOMEM;
    h->mask = cap - 1; /* h->slots: at the first put, so a stream that sends nothing holds none */
    h->max_age = clamp_time(c.max_age ? c.max_age : HIST_DEF_AGE, 1, MAX_TIME);
    h->interval = clamp_time(c.min_resend_interval ? c.min_resend_interval : HIST_DEF_INTERVAL, 1,
                             MAX_TIME);
    *out = h;
    return 0;
}

void fl_nack_history_clear(fl_nack_history *h)
{
    for (size_t i = 0; h->slots && i <= h->mask; i++) {
        fl_buf_unref(h->slots[i].buf);
        h->slots[i].buf = NULL;
    }
}

void fl_nack_history_destroy(fl_nack_history *h)
{
    if (!h)
        return;
    fl_nack_history_clear(h);
    free(h->slots);
    free(h);
}

/* Releases the packets past max_age from the oldest end, so the pool gets
 * its buffers back after about max_age rather than `capacity` packets
 * later. Amortized one step per put. */
static void hist_prune(fl_nack_history *h, fl_time now)
{
    if ((size_t)(uint16_t)(h->newest - h->oldest) > h->mask) {
        /* a jump past the ring (a new source): one sweep of every slot */
        for (size_t i = 0; i <= h->mask; i++) {
            fl_nack_history_entry *e = &h->slots[i];
            if (e->buf && now - e->sent > h->max_age) {
                fl_buf_unref(e->buf);
                e->buf = NULL;
            }
        }
        h->oldest = (uint16_t)(h->newest - h->mask);
    }
    while (h->oldest != h->newest) {
        fl_nack_history_entry *e = &h->slots[h->oldest & h->mask];
        if (e->buf && e->seq == h->oldest) {
            if (now - e->sent <= h->max_age)
                return;
            fl_buf_unref(e->buf);
            e->buf = NULL;
        }
        h->oldest++;
    }
}

void fl_nack_history_put(fl_nack_history *h,
                         fl_time now,
                         uint16_t seq,
                         uint32_t timestamp,
                         int marker,
                         fl_buf *buf,
                         size_t payload_off,
                         size_t payload_len)
{
    /* A range outside the buffer is the caller's bug, not network input. */
    assert(payload_off <= buf->len && payload_len <= buf->len - payload_off);
    if (payload_off > buf->len || payload_len > buf->len - payload_off ||
        payload_off > UINT16_MAX || payload_len > UINT16_MAX)
        return;
    if (!h->slots && !(h->slots = calloc(h->mask + 1, sizeof(*h->slots))))
        return; /* no memory: not kept, a request for it counts as missing */
    fl_nack_history_entry *e = &h->slots[seq & h->mask];
    fl_buf_ref(buf); /* before the unref: buf may be the slot's own */
    fl_buf_unref(e->buf);
    *e = (fl_nack_history_entry){
        .buf = buf,
        .seq = seq,
        .timestamp = timestamp,
        .marker = marker ? 1 : 0,
        .payload_off = (uint16_t)payload_off,
        .payload_len = (uint16_t)payload_len,
        .sent = now,
    };
    h->stats.stored++;
    if (!h->any) {
        h->any = 1;
        h->oldest = h->newest = seq;
    } else if ((uint16_t)(seq - h->newest) < SEQ_HALF) {
        h->newest = seq;
    }
    hist_prune(h, now);
}

void fl_nack_history_set_head(fl_nack_history *h, uint16_t seq, const uint8_t *head, size_t len)
{
    fl_nack_history_entry *e = h->slots ? &h->slots[seq & h->mask] : NULL;
    if (!e || !e->buf || e->seq != seq || len > FL_NACK_HEAD_MAX || len > e->payload_len)
        return;
    memcpy(e->head, head, len);
    e->head_len = (uint8_t)len;
}

const fl_nack_history_entry *fl_nack_history_resend(fl_nack_history *h, fl_time now, uint16_t seq)
{
    fl_nack_history_entry *e = h->slots ? &h->slots[seq & h->mask] : NULL;
    if (!e || !e->buf || e->seq != seq) {
        /* before the oldest held: sent, then let go of when it aged (or its
         * slot was taken); else never stored */
        uint16_t back = (uint16_t)(h->oldest - seq);
        if (h->any && back && back < SEQ_HALF)
            h->stats.too_old++;
        else
            h->stats.missing++;
        return NULL;
    }
    if (now - e->sent > h->max_age) {
        h->stats.too_old++;
        return NULL;
    }
    if (e->resent && now - e->resent < h->interval) {
        h->stats.throttled++;
        return NULL;
    }
    e->resent = now;
    if (e->requests < UINT8_MAX)
        e->requests++;
    h->stats.resent++;
    return e;
}

void fl_nack_history_set_rtt(fl_nack_history *h, fl_time rtt)
{
    h->interval = clamp_time(rtt, HIST_MIN_RTT, HIST_MAX_RTT);
}

void fl_nack_history_get_stats(const fl_nack_history *h, fl_nack_history_stats *out)
{
    *out = h->stats;
}

/* ---- resend budget ---- */

#define BUDGET_SAVED_DIV 4    /* a quarter second of the estimate saved up at most */
#define BUDGET_MIN_SAVED 2400 /* bytes: two full packets, at any estimate */

int fl_resend_budget_open(fl_resend_budget *b, fl_time now, uint64_t bps, uint32_t media)
{
    if (!bps) {
        b->at = 0;
        return 1;
    }
    int64_t cap = (int64_t)(bps / 8 / BUDGET_SAVED_DIV);
    if (cap < BUDGET_MIN_SAVED)
        cap = BUDGET_MIN_SAVED;
    if (!b->at || now < b->at || now - b->at > FL_TIME_SEC) {
        b->bytes = cap; /* first, or after a quiet second: all saved up */
    } else if (now > b->at) {
        int64_t gain = (int64_t)((double)bps / 8 * (double)(now - b->at) / FL_TIME_SEC);
        int64_t room = gain - (int64_t)(uint32_t)(media - b->media);
        b->bytes += room > gain / 4 ? room : gain / 4;
        if (b->bytes > cap)
            b->bytes = cap;
    }
    b->at = now;
    b->media = media;
    return b->bytes > 0;
}

void fl_resend_budget_spend(fl_resend_budget *b, size_t len)
{
    if (b->at)
        b->bytes -= (int64_t)len;
}

/* ---- RTX ---- */

int fl_nack_rtx_write(uint8_t *out,
                      size_t cap,
                      const fl_rtp_header *h,
                      const fl_nack_history_entry *e,
                      int osn,
                      size_t *out_len)
{
    if (!e->buf || (size_t)e->payload_off + e->payload_len > e->buf->len)
        return FL_EINVAL;
    fl_rtp_header rh = *h;
    rh.timestamp = e->timestamp;
    rh.marker = e->marker;
    if (!osn)
        rh.seq = e->seq; /* a plain retransmission is the packet as sent */
    size_t hl;
    int r = fl_rtp_write(out, cap, &rh, NULL, 0, 0, &hl);
    if (r < 0)
        return r;
    size_t pre = osn ? RTX_OSN_LEN : 0;
    if (cap - hl < pre + e->payload_len)
        return FL_EMSGSIZE;
    if (osn)
        fl_put_be16(out + hl, e->seq);
    if (e->payload_len)
        memcpy(out + hl + pre, fl_buf_data(e->buf) + e->payload_off, e->payload_len);
    if (e->head_len && e->head_len <= e->payload_len)
        memcpy(out + hl + pre, e->head, e->head_len);
    *out_len = hl + pre + e->payload_len;
    return 0;
}

int fl_nack_rtx_unwrap(fl_buf *buf,
                       const fl_rtp_view *v,
                       uint32_t ssrc,
                       uint8_t payload_type,
                       uint16_t *osn)
{
    if (!fl_buf_writable(buf))
        return FL_EBUSY;
    uint8_t *p = fl_buf_data(buf);
    if (v->data != p || v->len != buf->len || payload_type > 127 ||
        v->header_len + v->payload_len + v->pad_len != v->len)
        return FL_EINVAL;
    if (v->payload_len < RTX_OSN_LEN)
        return FL_EBADMSG;
    *osn = fl_get_be16(p + v->header_len);
    /* The header (fixed part, CSRCs, extension block) moves over the OSN;
     * the payload and the padding (its count byte last) stay where they are. */
    memmove(p + RTX_OSN_LEN, p, v->header_len);
    buf->off += RTX_OSN_LEN;
    buf->len -= RTX_OSN_LEN;
    p += RTX_OSN_LEN;
    fl_rtp_set_seq(p, *osn);
    fl_rtp_set_ssrc(p, ssrc);
    fl_rtp_set_payload_type(p, payload_type);
    return 0;
}
