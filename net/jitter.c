/* The jitter buffer: a ring of slots indexed by extended sequence number
 * (the window [next, next + capacity)), and a FIFO of packets already
 * released in order (by a reset, an overflow or a flush) that pop hands
 * out before the ring. */
#include "net/jitter.h"

#include <stdlib.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("jitter");

/* Durations are capped so that time sums cannot overflow. */
#define MAX_WAIT (3600 * FL_TIME_SEC)

struct slot {
    fl_buf *buf;
    fl_time arrival;
};

struct released {
    fl_buf *buf;
    uint64_t ext;
    unsigned lost;
};

struct fl_jitter {
    struct slot *ring;
    size_t cap, mask;
    struct released *queue;
    size_t qcap, qhead, qcount;
    fl_time max_wait;
    uint32_t clock_rate;

    int started;
    uint32_t ssrc;
    uint64_t next;     /* the next extended sequence number to release */
    uint64_t high;     /* one past the highest held (next when none is) */
    uint64_t last_out; /* the last released; lost_before counts from it */
    uint64_t last_popped;
    uint32_t high_ts;
    size_t held;        /* in the ring */
    fl_time head_since; /* slot `next` empty and held > 0: when the wait began */
    fl_jitter_stats stats;
};

int fl_jitter_create(fl_jitter **out, const fl_jitter_config *cfg)
{
    fl_jitter_config c = { 0 };
    if (cfg)
        c = *cfg;
    if (!out || c.max_wait < 0)
        return FL_EINVAL;
    size_t want = c.capacity ? c.capacity : FL_JITTER_DEF_CAPACITY;
    if (want > FL_JITTER_MAX_CAPACITY)
        want = FL_JITTER_MAX_CAPACITY;
    size_t cap = 1;
    while (cap < want)
        cap *= 2;
    fl_jitter *j = calloc(1, sizeof(*j));
    if (!j)
        return FL_ENOMEM;
    j->ring = calloc(cap, sizeof(*j->ring));
    j->queue = calloc(2 * cap, sizeof(*j->queue));
    if (!j->ring || !j->queue) {
        free(j->ring);
        free(j->queue);
        free(j);
        return FL_ENOMEM;
    }
    j->cap = cap;
    j->mask = cap - 1;
    j->qcap = 2 * cap;
    j->max_wait = c.max_wait ? c.max_wait : FL_JITTER_DEF_MAX_WAIT;
    if (j->max_wait > MAX_WAIT)
        j->max_wait = MAX_WAIT;
    j->clock_rate = c.clock_rate;
    *out = j;
    return 0;
}

void fl_jitter_destroy(fl_jitter *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->cap; i++)
        if (j->ring[i].buf)
            fl_buf_unref(j->ring[i].buf);
    for (size_t i = 0; i < j->qcount; i++)
        fl_buf_unref(j->queue[(j->qhead + i) % j->qcap].buf);
    free(j->ring);
    free(j->queue);
    free(j);
}

static struct slot *slot_at(const fl_jitter *j, uint64_t ext)
{
    return &j->ring[ext & j->mask];
}

/* The first held extended sequence number at or after `from` (held > 0). */
static uint64_t first_held(const fl_jitter *j, uint64_t from)
{
    while (from < j->high && !slot_at(j, from)->buf)
        from++;
    return from;
}

/* After `next` moved: when slot next is empty, the wait for it began when
 * the earliest of the packets held after it arrived. */
static void update_head(fl_jitter *j)
{
    if (j->held == 0) {
        j->high = j->next;
        return;
    }
    if (slot_at(j, j->next)->buf)
        return;
    fl_time since = FL_TIME_NEVER;
    for (uint64_t e = j->next; e < j->high; e++) {
        const struct slot *s = slot_at(j, e);
        if (s->buf && s->arrival < since)
            since = s->arrival;
    }
    j->head_since = since;
}

/* Takes the packet at ext out of the ring; *lost is the gap before it. */
static fl_buf *take(fl_jitter *j, uint64_t ext, unsigned *lost)
{
    struct slot *s = slot_at(j, ext);
    fl_buf *b = s->buf;
    s->buf = NULL;
    j->held--;
    uint64_t gap = ext - j->last_out - 1;
    *lost = gap > UINT32_MAX ? UINT32_MAX : (unsigned)gap;
    j->stats.lost += gap;
    j->last_out = ext;
    return b;
}

static void queue_put(fl_jitter *j, fl_buf *b, uint64_t ext, unsigned lost)
{
    if (j->qcount == j->qcap) { /* the oldest goes: the next one tells it is missing */
        struct released *old = &j->queue[j->qhead];
        uint64_t gap = (uint64_t)old->lost + 1;
        fl_buf_unref(old->buf);
        j->qhead = (j->qhead + 1) % j->qcap;
        j->qcount--;
        j->stats.dropped++;
        j->stats.lost++;
        struct released *head = j->qcount ? &j->queue[j->qhead] : NULL;
        if (head)
            head->lost = head->lost + gap > UINT32_MAX ? UINT32_MAX : (unsigned)(head->lost + gap);
        else
            lost = lost + gap > UINT32_MAX ? UINT32_MAX : (unsigned)(lost + gap);
    }
    j->queue[(j->qhead + j->qcount++) % j->qcap] = (struct released){ b, ext, lost };
}

/* Releases everything held below `upto` into the queue, in order, and
 * moves next there. */
static void release_below(fl_jitter *j, uint64_t upto)
{
    for (uint64_t e = j->next; e < upto && j->held > 0; e++) {
        if (slot_at(j, e)->buf) {
            unsigned lost;
            fl_buf *b = take(j, e, &lost);
            queue_put(j, b, e, lost);
        }
    }
    if (upto > j->next)
        j->next = upto;
    if (j->high < j->next)
        j->high = j->next;
    update_head(j);
}

/* A new stream from seq on, its numbers in a later 65536 cycle. */
static void start_epoch(fl_jitter *j, uint16_t seq, uint32_t ssrc)
{
    uint64_t top = j->high > j->next ? j->high : j->next;
    j->next = (((top >> 16) + 2) << 16) | seq;
    j->high = j->next;
    j->last_out = j->next - 1;
    j->ssrc = ssrc;
    j->started = 1;
}

static void reset(fl_jitter *j, uint16_t seq, uint32_t ssrc)
{
    j->stats.resets++;
    if ((j->stats.resets & (j->stats.resets - 1)) == 0) /* 1st, 2nd, 4th ...: rate-limited */
        fl_log(FL_LOG_DEBUG, "reset (ssrc %u -> %u, seq %u -> %u): %zu held released",
               (unsigned)j->ssrc, (unsigned)ssrc, (unsigned)(uint16_t)j->next, seq, j->held);
    release_below(j, j->high);
    start_epoch(j, seq, ssrc);
}

int fl_jitter_push(fl_jitter *j, fl_buf *buf, fl_time now)
{
    if (!j || !buf || !buf->rtp.parsed) {
        if (buf)
            fl_buf_unref(buf);
        return FL_EINVAL;
    }
    j->stats.received++;
    uint16_t seq = buf->rtp.seq;
    if (!j->started)
        start_epoch(j, seq, buf->rtp.ssrc);
    else if (buf->rtp.ssrc != j->ssrc)
        reset(j, seq, buf->rtp.ssrc);
    uint16_t u = (uint16_t)(seq - (uint16_t)j->next);
    int32_t d = u < 0x8000u ? (int32_t)u : (int32_t)u - 65536;
    if (d >= (int32_t)(2 * j->cap) || d <= -(int32_t)(2 * j->cap)) {
        reset(j, seq, buf->rtp.ssrc);
        d = 0;
    }
    if (d < 0) {
        j->stats.late++;
        fl_buf_unref(buf);
        return FL_ERANGE;
    }
    uint64_t ext = j->next + (uint64_t)d;
    if (ext >= j->next + j->cap) {
        j->stats.overflows++;
        release_below(j, ext - j->cap + 1);
    }
    struct slot *s = slot_at(j, ext);
    if (s->buf) {
        j->stats.duplicates++;
        fl_buf_unref(buf);
        return FL_EEXIST;
    }
    if (ext < j->high) {
        j->stats.reordered++;
    } else {
        j->high = ext + 1;
        j->high_ts = buf->rtp.timestamp;
    }
    s->buf = buf;
    s->arrival = now;
    if (++j->held == 1 && ext != j->next)
        j->head_since = now;
    return 0;
}

int fl_jitter_pop(fl_jitter *j, fl_time now, fl_buf **out, unsigned *lost_before)
{
    if (!j || !out)
        return 0;
    unsigned lost = 0;
    if (j->qcount > 0) {
        struct released *r = &j->queue[j->qhead];
        j->qhead = (j->qhead + 1) % j->qcap;
        j->qcount--;
        *out = r->buf;
        lost = r->lost;
        j->last_popped = r->ext;
    } else {
        if (j->held == 0)
            return 0;
        if (!slot_at(j, j->next)->buf) {
            if (now < j->head_since + j->max_wait)
                return 0;
            j->next = first_held(j, j->next); /* given up: the gap is lost_before */
        }
        *out = take(j, j->next, &lost);
        j->last_popped = j->next++;
        update_head(j);
    }
    j->stats.released++;
    if (lost_before)
        *lost_before = lost;
    return 1;
}

uint64_t fl_jitter_last_ext_seq(const fl_jitter *j)
{
    return j ? j->last_popped : 0;
}

fl_time fl_jitter_deadline(const fl_jitter *j)
{
    if (!j || (j->qcount == 0 && j->held == 0))
        return FL_TIME_NEVER;
    if (j->qcount > 0 || slot_at(j, j->next)->buf)
        return 0;
    return j->head_since + j->max_wait;
}

void fl_jitter_flush(fl_jitter *j)
{
    if (j)
        release_below(j, j->high);
}

void fl_jitter_get_stats(const fl_jitter *j, fl_jitter_stats *out)
{
    if (!j || !out)
        return;
    *out = j->stats;
    out->held = j->held + j->qcount;
    out->held_span = 0;
    out->held_ms = 0;
    if (j->held > 0) {
        const fl_buf *oldest = slot_at(j, first_held(j, j->next))->buf;
        out->held_span = j->high_ts - oldest->rtp.timestamp;
        if (j->clock_rate)
            out->held_ms = (uint32_t)((uint64_t)out->held_span * 1000 / j->clock_rate);
    }
}
