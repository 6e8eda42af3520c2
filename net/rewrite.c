/* The egress rewrite: one outgoing stream's numbering over a changing
 * source (see rewrite.h). */
#include "net/rewrite.h"

#include <string.h>

#define SPAN_MAX 0x8000u

void fl_rewrite_init(fl_rewrite *rw, const fl_rewrite_config *cfg)
{
    memset(rw, 0, sizeof(*rw));
    rw->cfg = *cfg;
    rw->src_pt = -1;
}

void fl_rewrite_set_source_pt(fl_rewrite *rw, int pt)
{
    rw->src_pt = pt;
}

void fl_rewrite_set_format(fl_rewrite *rw, uint8_t pt, uint32_t clock_rate)
{
    rw->cfg.payload_type = pt;
    if (clock_rate)
        rw->cfg.clock_rate = clock_rate;
}

/* A packet from an SSRC other than the current source's: its deltas put
 * its first packet next after the highest sent, at a timestamp advanced by
 * the wall time since, and by one step of the stream at least (the
 * stream's start values before anything went). */
static void new_source(fl_rewrite *rw, fl_time now, const fl_buf_rtp *in)
{
    uint16_t seq = rw->cfg.seq0;
    uint32_t ts = rw->cfg.ts0;
    if (rw->started) {
        int64_t ticks = (now - rw->last_time) * (int64_t)rw->cfg.clock_rate / FL_TIME_SEC;
        seq = (uint16_t)(rw->last_seq + 1);
        uint32_t least = rw->ts_step ? rw->ts_step : 1;
        ts = rw->last_ts + (ticks > (int64_t)least ? (uint32_t)ticks : least);
        rw->switched = 1;
        rw->switches++;
    }
    rw->seq_delta = (uint16_t)(seq - in->seq);
    rw->ts_delta = ts - in->timestamp;
    rw->src_ssrc = in->ssrc;
    rw->src_span = 0;
    rw->have_src = 1;
    rw->src_high = in->seq;
    rw->skip_kept = 0;
    rw->skip_head = 0;
    rw->skip_lost = 0;
}

/* Whether a skip (or the newest forgotten) is recent enough to count. */
static int recent(const fl_rewrite *rw, uint16_t skip)
{
    return (uint16_t)(rw->src_high - skip) <= FL_RTP_MAX_DROPOUT;
}

/* The skips after a packet of the source not newer than the newest seen,
 * that its number must take back; -1 when some of them are forgotten. A
 * packet far behind (a source that numbers afresh) starts the count over. */
static int skips_after(fl_rewrite *rw, uint16_t seq)
{
    if (!fl_rtp_seq_lt(seq, rw->src_high)) {
        rw->src_high = seq;
        return 0;
    }
    if ((uint16_t)(rw->src_high - seq) > FL_RTP_MAX_DROPOUT) {
        rw->src_high = seq;
        rw->skip_kept = 0;
        rw->skip_lost = 0;
        return 0;
    }
    if (rw->skip_lost && recent(rw, rw->skip_floor) && !fl_rtp_seq_lt(rw->skip_floor, seq))
        return -1;
    int n = 0;
    for (unsigned i = 0; i < rw->skip_kept; i++)
        n += recent(rw, rw->skips[i]) && fl_rtp_seq_lt(seq, rw->skips[i]);
    return n;
}

int fl_rewrite_skip(fl_rewrite *rw, const fl_buf_rtp *in)
{
    if (!in->parsed || (rw->src_pt >= 0 && in->payload_type != rw->src_pt))
        return 0;
    if (!rw->have_src || in->ssrc != rw->src_ssrc || !fl_rtp_seq_lt(rw->src_high, in->seq))
        return 0;
    if (rw->skip_kept == FL_REWRITE_SKIPS) {
        rw->skip_floor = rw->skips[rw->skip_head];
        rw->skip_lost = 1;
    } else {
        rw->skip_kept++;
    }
    rw->skips[rw->skip_head] = in->seq;
    rw->skip_head = (uint8_t)((rw->skip_head + 1u) % FL_REWRITE_SKIPS);
    rw->src_high = in->seq;
    rw->seq_delta--;
    rw->skipped++;
    return 1;
}

/* After a change of source, a packet older than the source's first: the
 * number it would get went out for the source before. */
static int stale(const fl_rewrite *rw, uint16_t seq)
{
    if (!rw->switched || !fl_rtp_seq_lt(seq, rw->last_seq))
        return 0;
    uint16_t behind = (uint16_t)(rw->last_seq - seq);
    return behind >= rw->src_span && behind <= FL_RTP_MAX_DROPOUT;
}

int fl_rewrite_packet(fl_rewrite *rw, fl_time now, const fl_buf_rtp *in, fl_rtp_header *h)
{
    if (!in->parsed)
        return 0;
    if (rw->src_pt >= 0 && in->payload_type != rw->src_pt) {
        rw->other_pt++;
        return 0;
    }
    if (!rw->have_src || in->ssrc != rw->src_ssrc)
        new_source(rw, now, in);
    int back = skips_after(rw, in->seq);
    uint16_t seq = (uint16_t)(in->seq + rw->seq_delta + back);
    uint32_t ts = in->timestamp + rw->ts_delta;
    if (back < 0 || stale(rw, seq)) {
        rw->stale++;
        return 0;
    }
    if (!rw->started || fl_rtp_seq_lt(rw->last_seq, seq)) {
        unsigned step = rw->started && rw->src_span ? (uint16_t)(seq - rw->last_seq) : 1;
        rw->src_span = (uint16_t)(rw->src_span + step < SPAN_MAX ? rw->src_span + step : SPAN_MAX);
        uint32_t dts = ts - rw->last_ts;
        if (rw->started && dts - 1 < rw->cfg.clock_rate) /* forward, at most a second */
            rw->ts_step = dts / step;
        rw->last_seq = seq;
        rw->last_ts = ts;
        rw->last_time = now;
    }
    rw->started = 1;
    h->marker = in->marker;
    h->payload_type = rw->cfg.payload_type;
    h->seq = seq;
    h->timestamp = ts;
    h->ssrc = rw->cfg.ssrc;
    return 1;
}

uint32_t fl_rewrite_timestamp_at(const fl_rewrite *rw, fl_time now)
{
    int64_t ticks = (now - rw->last_time) * (int64_t)rw->cfg.clock_rate / FL_TIME_SEC;
    return rw->last_ts + (uint32_t)ticks;
}
