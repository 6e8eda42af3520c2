/* WebRtcEndpoint and simulcast: the layers a browser sends, and the one
 * layer each viewer gets.
 *
 * Ingress (a publisher that sends two or more encodings): each packet's
 * layer is known by its SSRC, from the offer's a=ssrc-group:SIM or learnt
 * from the sdes:rtp-stream-id (repaired-rtp-stream-id for RTX) extension
 * of its first packets, and noted on its buffer (fl_buf_rtp.layer, .tid,
 * .key) so that no one downstream parses it again. Every layer has its
 * own NACKs and its own key-frame requests, coalesced across the viewers
 * that ask for it. Layers are numbered lowest first in the description's
 * order (a browser lists its encodings in the order its page gave them,
 * commonly the smallest first).
 *
 * Egress (a viewer): the source pad carries every layer; the viewer's
 * stream forwards one. net/layers.h chooses it from what each layer
 * measures here, the viewer's REMB and maxVideoSendBandwidth; a switch
 * waits for a key frame of the target layer (asked for on that layer's
 * SSRC); net/rewrite keeps SSRC, sequence numbers and timestamps
 * continuous across it (a new source), and codec/vp8_rewrite.h the VP8
 * payload descriptor, dropping the temporal layers above the choice
 * (fl_rewrite_skip closes the numbering over them).
 *
 * A browser's receive estimate follows what it receives (it rises to
 * about one and a half times that), so a viewer held at a low layer
 * would never show room for a higher one. While a higher layer is sent,
 * padding-only RTX packets make up the difference
 * (probing), never more than the viewer's own estimate allows nor more
 * than its cap, until the estimate is as high as the next layer needs
 * (or, under a cap, 1.3 times the cap); they stop for a while (4 s,
 * doubling to 32 s) when its estimate falls. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/time.h"
#include "codec/vp8_rewrite.h"
#include "engine/engine_int.h"
#include "engine/webrtc_int.h"
#include "net/layers.h"
#include "net/nack.h"
#include "net/rtp.h"
#include "net/transport.h"

#define SIM_UPDATE        (250 * FL_TIME_MS) /* the layer choice looked at again */
#define SIM_KEY_AGAIN     (500 * FL_TIME_MS) /* the target's key frame asked again */
#define PROBE_SHARE       100                /* percent of the next layer's rate probed for */
#define PROBE_FALL        85                 /* an estimate under this percent of its peak: stop */
#define PROBE_BACKOFF     (4 * FL_TIME_SEC)
#define PROBE_BACKOFF_MAX (32 * FL_TIME_SEC)
#define PROBE_BURST       (40 * FL_TIME_MS) /* padding owed is kept to this much */
#define PADDING_LEN       255
#define PADDING_WIRE      (PADDING_LEN + 12 + 4 + 28) /* with RTP, extension, UDP/IP */

/* ---- ingress ---- */

static void sim_out_reset(wr_sim_out *so)
{
    memset(so, 0, sizeof(*so));
    fl_vp8_rewrite_init(&so->vr);
    /* a new viewer starts at the best layer its cap allows: its browser's
     * estimate follows what it receives, and the first one it gives tells
     * at once whether that holds */
    fl_layers_config cfg = { .start_high = 1 };
    fl_layers_init(&so->ly, &cfg);
    so->cur = so->target = -1;
    so->tid = FL_VP8_TID_ALL;
}

void fl__wr_sim_setup(wr_stream *st, int k, const fl_sdp_media *lm, const fl_sdp_media *rm)
{
    memset(st->lay, 0, sizeof(st->lay));
    st->nlayers = 0;
    st->rid_id = st->rrid_id = 0;
    st->so.active = 0;
    if (k != 1 || !st->recv)
        return;
    if (lm->nrids > 1 && lm->ext_ids[FL_SDP_EXT_RID]) { /* RID simulcast we answered */
        for (size_t i = 0; i < lm->nrids && i < FL_LAYERS_SPATIAL; i++)
            memcpy(st->lay[i].rid, lm->rids[i].id, sizeof(st->lay[i].rid));
        st->nlayers = (int)(lm->nrids < FL_LAYERS_SPATIAL ? lm->nrids : FL_LAYERS_SPATIAL);
        st->rid_id = lm->ext_ids[FL_SDP_EXT_RID];
        st->rrid_id = lm->ext_ids[FL_SDP_EXT_RRID];
    } else if (rm->nsim > 1) { /* SSRC simulcast */
        for (size_t i = 0; i < rm->nsim && i < FL_LAYERS_SPATIAL; i++) {
            st->lay[i].ssrc = rm->sim_ssrc[i];
            st->lay[i].rtx_ssrc = rm->sim_rtx[i];
        }
        st->nlayers = (int)(rm->nsim < FL_LAYERS_SPATIAL ? rm->nsim : FL_LAYERS_SPATIAL);
    }
}

/* The layer a packet's SSRC belongs to, or -1. */
static int layer_of(const wr_stream *st, uint32_t ssrc, int rtx)
{
    for (int i = 0; i < st->nlayers; i++) {
        if ((rtx ? st->lay[i].rtx_ssrc : st->lay[i].ssrc) == ssrc && ssrc)
            return i;
    }
    return -1;
}

/* A packet of an SSRC not known yet: its layer from its rid extension
 * (repaired-rtp-stream-id on RTX), the SSRC learnt; -1 when none names one. */
static int layer_learn(wr_stream *st, const fl_rtp_view *v, int rtx)
{
    uint8_t id = rtx ? st->rrid_id : st->rid_id;
    fl_rtp_ext x;
    if (!id || fl_rtp_ext_find(v, id, &x) < 0 || x.len == 0)
        return -1;
    for (int i = 0; i < st->nlayers; i++) {
        wr_layer *ly = &st->lay[i];
        if (strlen(ly->rid) == x.len && memcmp(ly->rid, x.data, x.len) == 0) {
            if (rtx)
                ly->rtx_ssrc = v->ssrc;
            else
                ly->ssrc = v->ssrc;
            return i;
        }
    }
    return -1;
}

int fl__wr_sim_in(webrtc *wr, wr_stream *st, fl_transport_event *ev)
{
    fl_time arrival = ev->arrival ? ev->arrival : fl__clock_now(&wr->w->loop);
    int rtx = wr->pt_rtx[st - wr->st][ev->rtp.payload_type & 127] != 0;
    int l = layer_of(st, ev->rtp.ssrc, rtx);
    if (l < 0)
        l = layer_learn(st, &ev->rtp, rtx);
    if (l < 0) {
        st->sim_unknown++;
        return 0;
    }
    wr_layer *ly = &st->lay[l];
    if (rtx) {
        uint16_t osn;
        /* padding-only probes, or RTX before any media: nothing to forward */
        if (!ly->ssrc || fl_nack_rtx_unwrap(ev->buf, &ev->rtp, ly->ssrc, st->codec.pt, &osn) < 0 ||
            fl_rtp_parse(&ev->rtp, fl_buf_data(ev->buf), ev->buf->len) < 0)
            return 0;
        if (ly->nack && !fl_nack_gen_on_packet(ly->nack, arrival, osn, 1)) {
            st->rtx_unneeded++;
            return 0;
        }
        st->rtx_recv++;
    } else if (ly->nack) {
        fl_nack_gen_on_packet(ly->nack, arrival, ev->rtp.seq, 0);
    }
    /* the stream's SSRC for REMB, transport-cc and loss: the lowest known */
    if (!st->remote_ssrc || l == 0 || layer_of(st, st->remote_ssrc, 0) < 0)
        st->remote_ssrc = ly->ssrc;
    ly->packets++;
    st->in_layer = (uint8_t)(l + 1);
    st->in_tid = 0;
    st->in_key = 0;
    if (st->kind == FL_CODEC_VP8) {
        fl_vp8_descriptor d;
        if (fl_vp8_descriptor_parse(&d, ev->rtp.payload, ev->rtp.payload_len) == 0 && d.t)
            st->in_tid = d.tid;
    }
    if (fl_codec_key_frame_start(st->kind, ev->rtp.payload, ev->rtp.payload_len)) {
        ly->key_frames++;
        st->key_frames++;
        fl__wr_keys_answered(&ly->keys);
        st->in_key = 1;
    }
    return 1;
}

/* ---- egress ---- */

/* The bitrate of a whole spatial layer in the last measure; 0: none. */
static uint64_t layer_rate(const wr_sim_out *so, int l)
{
    uint64_t sum = 0;
    for (int t = 0; t < FL_LAYERS_TEMPORAL; t++)
        sum += so->ly.layer[l].bps[t];
    return sum;
}

/* The padding rate wanted now (0: none): while a higher layer than the
 * one forwarded is sent, the viewer should receive
 * PROBE_SHARE percent of that layer's rate, padding included, but never
 * more than its estimate. A browser's estimate grows by a few percent a
 * second up to about 1.5 times what it receives, so receiving as much as
 * its estimate keeps it growing at its own pace, and PROBE_SHARE percent
 * of the next layer lets it pass that layer's rate over the headroom. */
static void probe_plan(webrtc *wr, wr_stream *st, fl_time now)
{
    wr_sim_out *so = &st->so;
    uint64_t remb = st->remb_recv;
    if (so->probe_bps && remb > so->probe_remb)
        so->probe_remb = remb;
    if (so->probe_bps && remb < so->probe_remb / 100 * PROBE_FALL) { /* it hurt: back off */
        so->probe_backoff = so->probe_backoff ? so->probe_backoff * 2 : PROBE_BACKOFF;
        if (so->probe_backoff > PROBE_BACKOFF_MAX)
            so->probe_backoff = PROBE_BACKOFF_MAX;
        so->probe_next = now + so->probe_backoff;
        so->probe_bps = 0;
        return;
    }
    uint64_t next = 0;
    for (int l = so->cur + 1; so->cur >= 0 && l < FL_LAYERS_SPATIAL && !next; l++)
        next = now - so->ly.layer[l].last < FL_TIME_SEC ? layer_rate(so, l) : 0;
    uint64_t cap = wr->max_vsend > 0 ? (uint64_t)wr->max_vsend * 1000 : 0;
    uint64_t have = 0; /* what is forwarded: the temporal layers chosen */
    for (int t = 0; so->cur >= 0 && t <= so->tid && t < FL_LAYERS_TEMPORAL; t++)
        have += so->ly.layer[so->cur].bps[t];
    uint64_t want = next * PROBE_SHARE / 100;
    if (want > remb)
        want = remb;
    /* padding is sent too: within the cap's budget (the estimate then
     * stands ready for the layer when the cap is lifted) */
    if (cap && want > cap / 100 * 90)
        want = cap / 100 * 90;
    /* the estimate as high as the next layer needs, or as the cap lets
     * padding take it: done (a browser's estimate does not fall when what
     * it receives does, only when its link is full) */
    uint64_t ready = next / 9 * 11; /* its rate over the headroom, and 10% more */
    if (cap && ready > cap / 10 * 13)
        ready = cap / 10 * 13;
    if (!next || !remb || remb >= ready || st->rtx_pt < 0 || !wr->ast_id || now < so->probe_next ||
        want <= have) {
        if (so->probe_bps)
            so->probe_remb = 0;
        so->probe_bps = 0;
        return;
    }
    if (!so->probe_bps) {
        so->probe_remb = remb;
        so->probe_at = now;
        so->probe_owed = 0;
    }
    so->probe_bps = want - have;
}

/* Padding-only RTX packets for what probing owes by now. */
static void probe_send(webrtc *wr, wr_stream *st, fl_time now)
{
    wr_sim_out *so = &st->so;
    if (now > so->probe_at) {
        so->probe_owed += so->probe_bps * (uint64_t)(now - so->probe_at) / 8 / FL_TIME_SEC;
        so->probe_at = now;
    }
    uint64_t burst = so->probe_bps * PROBE_BURST / 8 / FL_TIME_SEC;
    if (so->probe_owed > burst + PADDING_WIRE)
        so->probe_owed = burst + PADDING_WIRE;
    while (so->probe_owed >= PADDING_WIRE && st->rw.started) {
        fl_buf *out = fl_buf_pool_get(wr->w->pool);
        if (!out)
            return;
        uint8_t abs[3];
        fl__wr_abs_send_time(now, abs);
        fl_rtp_ext x = { .id = wr->ast_id, .data = abs, .len = sizeof(abs) };
        fl_rtp_header h = { .payload_type = (uint8_t)st->rtx_pt,
                            .seq = st->rtx_seq++,
                            .timestamp = st->rw.last_ts,
                            .ssrc = st->rtx_ssrc,
                            .exts = &x,
                            .num_exts = 1 };
        size_t len;
        if (fl_rtp_write(fl_buf_data(out), fl_buf_tailroom(out) - SRTP_TAILROOM, &h, NULL, 0,
                         PADDING_LEN, &len) < 0 ||
            fl_buf_set_len(out, len) < 0 || fl_transport_send_rtp(st->tr, now, out) < 0) {
            fl_buf_unref(out);
            return;
        }
        so->probe_owed -= PADDING_WIRE;
        so->padding_packets++;
        so->padding_bytes += len;
    }
    fl__wr_flush_tx(wr);
}

/* The layers the viewer is handed (fl__pad_push): the one forwarded, the
 * one switched to, and the lowest (whose packets keep this running when
 * the others pause). */
static void want_layers(const wr_sim_out *so, fl__pad *sink)
{
    unsigned m = 1;
    if (so->cur >= 0)
        m |= 1u << so->cur;
    if (so->target >= 0)
        m |= 1u << so->target;
    sink->sim_want = (uint8_t)m;
}

/* Bitrates measured, the choice looked at again, the target's key frame
 * asked for, probing planned. */
static void sim_update(webrtc *wr, wr_stream *st, fl__pad *sink, fl_time now)
{
    wr_sim_out *so = &st->so;
    so->next_update = now + SIM_UPDATE;
    /* the first measure sooner: nothing is chosen before one */
    /* the layers as the source pad measures them for all its viewers */
    const fl__pad *src = sink->src;
    for (int l = 0; l < FL_LAYERS_SPATIAL; l++) {
        if (src->sim_last_ms[l])
            fl_layers_on_packet(&so->ly, l, (fl_time)src->sim_last_ms[l] * FL_TIME_MS);
    }
    for (int l = 0; l < FL_LAYERS_SPATIAL; l++)
        for (int t = 0; t < FL_LAYERS_TEMPORAL; t++)
            fl_layers_set_bitrate(&so->ly, l, t, src->sim_bps[l][t]);
    so->vp8 = strcasecmp(fl__wr_sent_codec_name(st), "VP8") == 0;
    fl_layers_set_estimate(&so->ly, st->remb_recv);
    fl_layers_set_cap(&so->ly, wr->max_vsend > 0 ? (uint64_t)wr->max_vsend * 1000 : 0);
    fl_layer_choice c;
    fl_layers_update(&so->ly, now, &c);
    if (c.spatial != so->target) {
        so->target = c.spatial;
        so->key_wanted_at = 0;
    }
    /* a layer's top measured TID: all of them, those not measured yet too */
    so->tid_chosen = c.temporal;
    int tid = c.temporal;
    if (c.spatial >= 0 && tid >= 0) {
        int top = 0;
        for (int t = 0; t < FL_LAYERS_TEMPORAL; t++)
            if (so->ly.layer[c.spatial].bps[t])
                top = t;
        if (tid >= top)
            tid = FL_VP8_TID_ALL;
    }
    if (tid >= 0 && tid != so->tid) {
        so->tid = tid;
        fl_vp8_rewrite_set_target_tid(&so->vr, tid);
    }
    if (so->target >= 0 && so->target != so->cur &&
        (!so->key_wanted_at || now - so->key_wanted_at >= SIM_KEY_AGAIN)) {
        so->key_wanted_at = now;
        fl__pad_request_key_frame_layer(sink, so->target, so->cur < 0);
    }
    probe_plan(wr, st, now);
    want_layers(so, sink);
}

int fl__wr_sim_out(webrtc *wr,
                   wr_stream *st,
                   fl__pad *sink,
                   const fl_buf *buf,
                   fl_time now,
                   uint8_t *head,
                   size_t *head_len)
{
    wr_sim_out *so = &st->so;
    *head_len = 0;
    if (!so->active) {
        sim_out_reset(so);
        so->active = 1;
    }
    int l = buf->rtp.layer - 1;
    if (l < 0 || l >= FL_LAYERS_SPATIAL)
        return 0;
    if (now >= so->next_update)
        sim_update(wr, st, sink, now);
    if (so->probe_bps)
        probe_send(wr, st, now);
    if (l == so->target && l != so->cur && buf->rtp.key) { /* the switch */
        if (so->cur >= 0)
            so->switches++;
        want_layers(so, sink);
        if (l > so->cur)
            so->probe_backoff = 0; /* probing worked (or was not needed) */
        so->cur = l;
        so->key_wanted_at = 0;
        fl_vp8_rewrite_switch(&so->vr);
    }
    if (l != so->cur)
        return 0;
    /* not the source's main payload type (net/rewrite drops it): the VP8
     * numbering must not count it */
    if (st->rw.src_pt >= 0 && buf->rtp.payload_type != st->rw.src_pt)
        return 0;
    if (!so->vp8)
        return 1;
    /* the descriptor rewritten in a copy of the payload's start, written
     * over the egress's own copy of the packet */
    uint8_t start[16];
    size_t n = buf->rtp.payload_len < sizeof(start) ? buf->rtp.payload_len : sizeof(start);
    memcpy(start, buf->data + buf->off + buf->rtp.payload_off, n);
    fl_vp8_descriptor d;
    if (fl_vp8_rewrite_packet(&so->vr, start, n) != 1 ||
        fl_vp8_descriptor_parse(&d, start, n) < 0 || d.header_len > FL_NACK_HEAD_MAX) {
        fl_rewrite_skip(&st->rw, &buf->rtp); /* no gap where it was */
        return 0;
    }
    memcpy(head, start, d.header_len);
    *head_len = d.header_len;
    return 1;
}

void fl__wr_sim_relink(wr_stream *st, fl__pad *sink)
{
    wr_sim_out *so = &st->so;
    sink->sim_want = 0; /* every layer until a choice is made */
    if (!so->active)
        return;
    /* the viewer's VP8 numbering and the counts go on; the layers are the
     * new source's, measured and chosen afresh */
    fl_vp8_rewrite vr = so->vr;
    uint64_t switches = so->switches, pp = so->padding_packets, pb = so->padding_bytes;
    sim_out_reset(so);
    so->active = 1;
    so->vr = vr;
    fl_vp8_rewrite_switch(&so->vr);
    so->switches = switches;
    so->padding_packets = pp;
    so->padding_bytes = pb;
}

int fl__wr_sim_key_frame(webrtc *wr, wr_stream *st, fl__pad *sink)
{
    (void)wr;
    if (!st->so.active || st->so.cur < 0 || sink->xc) /* a transcoder's encoder answers */
        return 0;
    fl__pad_request_key_frame_layer(sink, st->so.cur, 0);
    return 1;
}
