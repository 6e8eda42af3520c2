/* WebRtcEndpoint's RTCP side: the reports (SR or RR each interval), the
 * browser's RTCP (PLI and FIR passed upstream as key-frame requests, REMB
 * noted, NACK answered) and the feedback loops, both ways.
 *
 * From the browser that publishes: every packet is noted for transport-cc
 * feedback (net/twcc) and our receive-side estimate (net/bwe, on
 * abs-send-time); gaps become NACKs (net/nack, retried within a budget);
 * RTX packets are turned back into the originals and forwarded; key-frame
 * starts are seen, so requests are coalesced until one arrives. The REMB
 * the browser is told is the least of what every viewer downstream can
 * take (their browsers' REMB within their endpoints' send bounds, through
 * PassThroughs) and, when the browser does not run its own estimator on
 * our transport-cc feedback, our receive-side estimate; bounded by this
 * endpoint's min/maxVideoRecvBandwidth. Sent every second, and at once
 * when it falls by more than 3%.
 *
 * Towards a browser that views: what is sent is kept by reference
 * (net/nack's history, the upstream buffers themselves) and its NACKs are
 * answered with RTX (RFC 4588) or plain retransmissions. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/engine_int.h"
#include "engine/webrtc_int.h"
#include "net/bwe.h"
#include "net/nack.h"
#include "net/rewrite.h"
#include "net/rtcp.h"
#include "net/rtp.h"
#include "net/transport.h"
#include "net/twcc.h"

FL_LOG_TAG("webrtc");

#define NACK_BATCH        64          /* sequence numbers per NACK we send */
#define RESEND_BATCH      128         /* sequence numbers answered per NACK received */
#define LOST_KEY_INTERVAL FL_TIME_SEC /* key frames asked for a viewer stuck on the too old */

static fl_buf *pool_buf(webrtc *wr, size_t *room)
{
    fl_buf *b = fl_buf_pool_get(wr->w->pool);
    if (b)
        *room = fl_buf_tailroom(b) - SRTP_TAILROOM;
    return b;
}

/* On the transport of st. */
static void send_rtcp(wr_stream *st, fl_time now, fl_buf *b, size_t len)
{
    fl_buf_set_len(b, len);
    if (!st->tr || fl_transport_send_rtcp(st->tr, now, b) < 0)
        fl_buf_unref(b);
}

/* ---- reports ---- */

/* SR for each stream we send on, else one RR on each transport; the loss
 * and RTT they carry go to the feedback loops. */
void fl__wr_send_reports(webrtc *wr, fl_time now)
{
    int sent_sr[2] = { 0, 0 }; /* by stream */
    for (int i = 0; i < 2; i++) {
        wr_stream *st = &wr->st[i];
        if (!st->present || !st->tr || !st->send || !st->rw.started)
            continue;
        fl_buf *b = fl_buf_pool_get(wr->w->pool);
        if (!b)
            return;
        uint32_t ts = fl_rewrite_timestamp_at(&st->rw, now);
        if (fl_transport_write_sr(st->tr, now, st->ssrc, ts, st->packets, st->octets, b) < 0) {
            fl_buf_unref(b);
            continue;
        }
        send_rtcp(st, now, b, b->len);
        sent_sr[i] = 1;
    }
    fl_transport_stats *ts = malloc(sizeof(*ts));
    fl_transport *t;
    int k;
    for (int n = 0; (t = fl__wr_transport(wr, n, &k)) != NULL; n++) {
        /* a transport of one stream reports for it; the BUNDLE one for both */
        int sr = k >= 0 ? sent_sr[k] : sent_sr[0] || sent_sr[1];
        wr_stream *own = k >= 0 ? &wr->st[k] : wr->st[1].present ? &wr->st[1] : &wr->st[0];
        fl_buf *b = sr ? NULL : fl_buf_pool_get(wr->w->pool);
        if (b && fl_transport_write_rr(t, now, own->ssrc, b) < 0)
            fl_buf_unref(b);
        else if (b)
            send_rtcp(own, now, b, b->len);
        if (ts) {
            fl_transport_get_stats(t, ts);
            fl__wr_feedback_reports(wr, k, ts);
        }
    }
    free(ts);
    fl__wr_flush_tx(wr);
}

/* ---- the browser's RTCP: PLI, FIR, REMB, NACK ---- */

void fl__wr_on_rtcp(webrtc *wr, fl_buf *b)
{
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    fl_rtcp_iter_init(&it, fl_buf_data(b), b->len);
    while (fl_rtcp_iter_next(&it, &p) > 0) {
        fl_rtcp_fb fb;
        if (fl_rtcp_fb_parse(&p, &fb) < 0)
            continue;
        for (int i = 0; i < 2; i++) {
            wr_stream *st = &wr->st[i];
            if (!st->present)
                continue;
            int key = 0;
            if (fb.type == 206 && fb.fmt == 1 && fb.media_ssrc == st->ssrc) {
                st->pli_recv++;
                key = 1;
            } else if (fb.type == 206 && fb.fmt == 4) {
                for (size_t k = 0; k < fl_rtcp_fir_count(&fb); k++) {
                    fl_rtcp_fir_entry fe;
                    fl_rtcp_fir_get(&fb, k, &fe);
                    if (fe.ssrc == st->ssrc) {
                        st->fir_recv++;
                        key = 1;
                    }
                }
            } else if (fb.type == 206 && fb.fmt == 15) {
                fl_rtcp_remb r;
                if (fl_rtcp_remb_parse(&fb, &r) == 0) {
                    st->remb_recv = fl_rtcp_remb_bitrate(&r);
                    if (i == 1) /* fl__wr_bitrate's, video only */
                        fl_remb_bound_update(&st->remb_bound, fl__clock_now(&wr->w->loop),
                                             st->remb_recv, st->octets);
                }
            } else if (fb.type == 205 && fb.fmt == 1 && fb.media_ssrc == st->ssrc) {
                key = fl__wr_answer_nack(wr, st, &fb, fl__clock_now(&wr->w->loop));
            }
            /* a viewer of a simulcast source asks for its own layer's */
            if (key && wr->e && wr->e->defaults[i] &&
                !fl__wr_sim_key_frame(wr, st, wr->e->defaults[i]->twin))
                fl__pad_request_key_frame(wr->e->defaults[i]->twin, 0);
        }
    }
}

/* ---- key frames ---- */

static void send_pli(webrtc *wr, wr_stream *st, wr_keys *ks, uint32_t media_ssrc, fl_time now)
{
    size_t room, n = 0;
    fl_buf *b = pool_buf(wr, &room);
    if (!b)
        return;
    fl_rtcp_fb fb = { .fmt = FL_RTCP_FMT_PLI,
                      .type = FL_RTCP_PSFB,
                      .sender_ssrc = st->ssrc,
                      .media_ssrc = media_ssrc };
    if (fl_rtcp_fb_write(fl_buf_data(b), room, &fb, &n) < 0) {
        fl_buf_unref(b);
        return;
    }
    send_rtcp(st, now, b, n);
    ks->last_pli = now;
    /* a key frame is awaited; without a way to see one, the throttle alone */
    ks->key_asked = fl_codec_kind_is_video(st->kind) ? now : 0;
    ks->pli_wanted = 0;
    ks->pli_join = 0;
    st->pli_sent++;
}

/* When a wanted key-frame request may go: a join goes at once, a repair
 * after the throttle; either waits while a requested key frame is on its
 * way (coalesced, and asked again if it does not come). */
static fl_time key_due(const wr_keys *ks)
{
    if (!ks->pli_wanted)
        return FL_TIME_NEVER;
    fl_time at = 0;
    if (ks->key_asked)
        at = ks->key_asked + KEY_FRAME_WAIT;
    if (!ks->pli_join && ks->last_pli && ks->last_pli + PLI_MIN_INTERVAL > at)
        at = ks->last_pli + PLI_MIN_INTERVAL;
    return at;
}

void fl__wr_ask_layer_key_frame(webrtc *wr, wr_stream *st, int layer, fl_time now, int join)
{
    if (layer < 0 || layer >= st->nlayers)
        return;
    wr_layer *ly = &st->lay[layer];
    ly->keys.pli_wanted = 1;
    ly->keys.pli_join |= join;
    if (wr->connected && ly->ssrc && key_due(&ly->keys) <= now) {
        send_pli(wr, st, &ly->keys, ly->ssrc, now);
        ly->pli_sent++;
        fl__wr_flush_tx(wr);
    }
}

void fl__wr_ask_key_frame(webrtc *wr, wr_stream *st, fl_time now, int join)
{
    if (st->nlayers) { /* each layer its own */
        for (int i = 0; i < st->nlayers; i++)
            fl__wr_ask_layer_key_frame(wr, st, i, now, join);
        return;
    }
    st->keys.pli_wanted = 1;
    st->keys.pli_join |= join;
    if (wr->connected && st->remote_ssrc && key_due(&st->keys) <= now) {
        send_pli(wr, st, &st->keys, st->remote_ssrc, now);
        fl__wr_flush_tx(wr);
    }
}

/* ---- what the browser sends ---- */

void fl__wr_note_arrival(webrtc *wr, const fl_rtp_view *v, fl_time arrival, size_t size)
{
    fl_rtp_ext x;
    uint16_t seq;
    uint32_t abs;
    if (wr->twcc && fl_rtp_ext_find(v, wr->twcc_id, &x) == 0 &&
        fl_rtp_ext_get_twcc_seq(&x, &seq) == 0) {
        fl_twcc_rx_on_packet(wr->twcc, arrival, seq);
        wr->twcc_packets++;
    }
    if (wr->bwe && fl_rtp_ext_find(v, wr->ast_id, &x) == 0 &&
        fl_rtp_ext_get_abs_send_time(&x, &abs) == 0)
        fl_bwe_on_packet(wr->bwe, arrival, abs, size);
}

int fl__wr_media_in(webrtc *wr, wr_stream *st, fl_transport_event *ev)
{
    if (st->nlayers)
        return fl__wr_sim_in(wr, st, ev);
    fl_time arrival = ev->arrival ? ev->arrival : fl__clock_now(&wr->w->loop);
    if (wr->pt_rtx[st - wr->st][ev->rtp.payload_type & 127]) {
        uint16_t osn;
        /* padding-only probes, or RTX before any media: nothing to forward */
        if (!st->remote_ssrc ||
            fl_nack_rtx_unwrap(ev->buf, &ev->rtp, st->remote_ssrc, st->codec.pt, &osn) < 0 ||
            fl_rtp_parse(&ev->rtp, fl_buf_data(ev->buf), ev->buf->len) < 0)
            return 0;
        /* forwarded only when it fills a gap: browsers also probe the
         * link with retransmissions of packets that did arrive */
        if (st->nack && !fl_nack_gen_on_packet(st->nack, arrival, osn, 1)) {
            st->rtx_unneeded++;
            return 0;
        }
        st->rtx_recv++;
    } else {
        st->remote_ssrc = ev->rtp.ssrc;
        if (st->nack)
            fl_nack_gen_on_packet(st->nack, arrival, ev->rtp.seq, 0);
    }
    st->in_layer = st->in_tid = st->in_key = 0;
    if (fl_codec_kind_is_video(st->kind) &&
        fl_codec_key_frame_start(st->kind, ev->rtp.payload, ev->rtp.payload_len)) {
        /* every request made so far is answered by this one */
        st->key_frames++;
        fl__wr_keys_answered(&st->keys);
        st->in_key = 1;
    }
    return 1;
}

/* ---- what we send back ---- */

/* The NACKs due for the stream (layer -1) or one of its simulcast layers. */
static void send_nacks(webrtc *wr, wr_stream *st, int layer, fl_time now)
{
    fl_nack_gen *ng = layer < 0 ? st->nack : st->lay[layer].nack;
    uint32_t media = layer < 0 ? st->remote_ssrc : st->lay[layer].ssrc;
    uint64_t *given_up = layer < 0 ? &st->nack_given_up : &st->lay[layer].nack_given_up;
    uint16_t seqs[NACK_BATCH];
    size_t n;
    while ((n = fl_nack_gen_poll(ng, now, seqs, NACK_BATCH)) > 0) {
        size_t room, len = 0;
        fl_buf *b = pool_buf(wr, &room);
        if (!b)
            return;
        if (fl_rtcp_nack_write(fl_buf_data(b), room, st->ssrc, media, seqs, n, &len) < 0) {
            fl_buf_unref(b);
            return;
        }
        send_rtcp(st, now, b, len);
        st->nacks_sent++;
        st->nack_seqs_sent += n;
        if (n < NACK_BATCH)
            break;
    }
    /* packets given up break what every viewer decodes until the next key
     * frame: ask for one now rather than wait for each viewer to notice */
    fl_nack_gen_stats ns;
    fl_nack_gen_get_stats(ng, &ns);
    if (ns.given_up > *given_up) {
        *given_up = ns.given_up;
        if (fl_codec_kind_is_video(st->kind) && layer >= 0)
            fl__wr_ask_layer_key_frame(wr, st, layer, now, 0);
        else if (fl_codec_kind_is_video(st->kind))
            fl__wr_ask_key_frame(wr, st, now, 0);
    }
}

static void send_twcc(webrtc *wr, fl_time now)
{
    uint32_t media = wr->st[1].remote_ssrc ? wr->st[1].remote_ssrc : wr->st[0].remote_ssrc;
    wr_stream *on = wr->st[1].tr ? &wr->st[1] : &wr->st[0];
    for (;;) {
        size_t room, len = 0;
        fl_buf *b = pool_buf(wr, &room);
        if (!b)
            return;
        if (fl_twcc_rx_poll_feedback(wr->twcc, now, media, fl_buf_data(b), room, &len) < 0) {
            fl_buf_unref(b);
            return;
        }
        send_rtcp(on, now, b, len);
    }
}

/* What the browser that publishes here is told, bit/s. */
static uint64_t remb_target(webrtc *wr)
{
    uint64_t t = 0;
    /* a browser running its own estimator on our transport-cc feedback
     * has the better view of its uplink; otherwise ours stands for it */
    if (wr->bwe && !wr->twcc_packets)
        t = fl_bwe_estimate(wr->bwe);
    /* the least its viewers take; not with simulcast, where each viewer
     * gets the layer it can take and the publisher sends them all */
    fl__pad *src = wr->e && !wr->st[1].nlayers ? wr->e->defaults[1] : NULL;
    uint64_t down = src ? fl__pad_downstream_bitrate(src) : 0;
    if (down && (!t || down < t))
        t = down;
    uint64_t max = wr->max_vrecv > 0 ? (uint64_t)wr->max_vrecv * 1000 : DEFAULT_REMB_BPS;
    uint64_t min = (uint64_t)wr->min_vrecv * 1000;
    if (!t && wr->remb_on_connect > 0) /* nothing known yet: RembParams' start */
        t = (uint64_t)wr->remb_on_connect;
    if (!t || t > max)
        t = max;
    if (min < REMB_MIN_BPS)
        min = REMB_MIN_BPS;
    return t < min ? min : t;
}

static void send_remb(webrtc *wr, fl_time now)
{
    wr_stream *v = &wr->st[1];
    if (!v->present || !v->recv || !v->remote_ssrc || !(v->fb & FL_SDP_FB_REMB))
        return;
    uint64_t bps = remb_target(wr);
    /* every second, and at once on a fall of more than 3% */
    if (now - wr->remb_sent_at < REMB_INTERVAL && bps * 100 >= wr->remb_sent_bps * 97)
        return;
    size_t room, len = 0;
    fl_buf *b = pool_buf(wr, &room);
    if (!b)
        return;
    fl_rtcp_remb r = { .sender_ssrc = v->ssrc, .num_ssrcs = 1 };
    r.ssrcs[0] = v->remote_ssrc;
    if (v->nlayers) { /* every layer's */
        r.num_ssrcs = 0;
        for (int i = 0; i < v->nlayers && r.num_ssrcs < FL_RTCP_REMB_MAX_SSRCS; i++) {
            if (v->lay[i].ssrc)
                r.ssrcs[r.num_ssrcs++] = v->lay[i].ssrc;
        }
    }
    fl_rtcp_remb_set_bitrate(&r, bps);
    if (fl_rtcp_remb_write(fl_buf_data(b), room, &r, &len) < 0) {
        fl_buf_unref(b);
        return;
    }
    send_rtcp(v, now, b, len);
    wr->remb_sent_bps = fl_rtcp_remb_bitrate(&r);
    wr->remb_sent_at = now;
}

void fl__wr_feedback(webrtc *wr, fl_time now)
{
    if (!wr->connected)
        return;
    for (int i = 0; i < 2; i++) {
        wr_stream *st = &wr->st[i];
        if (st->nack && st->remote_ssrc && fl_nack_gen_poll_timeout(st->nack) <= now)
            send_nacks(wr, st, -1, now);
        if (st->keys.pli_wanted && st->remote_ssrc && !st->nlayers && key_due(&st->keys) <= now)
            send_pli(wr, st, &st->keys, st->remote_ssrc, now);
        for (int j = 0; j < st->nlayers; j++) {
            wr_layer *ly = &st->lay[j];
            if (!ly->ssrc)
                continue;
            if (ly->nack && fl_nack_gen_poll_timeout(ly->nack) <= now)
                send_nacks(wr, st, j, now);
            if (ly->keys.pli_wanted && key_due(&ly->keys) <= now) {
                send_pli(wr, st, &ly->keys, ly->ssrc, now);
                ly->pli_sent++;
            }
        }
    }
    if (wr->twcc && fl_twcc_rx_poll_timeout(wr->twcc) <= now)
        send_twcc(wr, now);
    if (wr->bwe && fl_bwe_poll_timeout(wr->bwe) <= now)
        fl_bwe_handle_timeout(wr->bwe, now);
    if (now >= wr->next_remb_check) {
        send_remb(wr, now);
        wr->next_remb_check = now + REMB_CHECK;
    }
    fl__wr_flush_tx(wr);
}

fl_time fl__wr_feedback_deadline(const webrtc *wr)
{
    if (!wr->connected)
        return FL_TIME_NEVER;
    fl_time at = wr->st[1].present && wr->st[1].recv ? wr->next_remb_check : FL_TIME_NEVER;
    for (int i = 0; i < 2; i++) {
        const wr_stream *st = &wr->st[i];
        fl_time t =
                st->nack && st->remote_ssrc ? fl_nack_gen_poll_timeout(st->nack) : FL_TIME_NEVER;
        if (t < at)
            at = t;
        t = st->remote_ssrc && !st->nlayers ? key_due(&st->keys) : FL_TIME_NEVER;
        if (t < at)
            at = t;
        for (int j = 0; j < st->nlayers; j++) {
            const wr_layer *ly = &st->lay[j];
            if (!ly->ssrc)
                continue;
            t = ly->nack ? fl_nack_gen_poll_timeout(ly->nack) : FL_TIME_NEVER;
            if (t < at)
                at = t;
            t = key_due(&ly->keys);
            if (t < at)
                at = t;
        }
    }
    fl_time t = wr->twcc ? fl_twcc_rx_poll_timeout(wr->twcc) : FL_TIME_NEVER;
    if (t < at)
        at = t;
    t = wr->bwe ? fl_bwe_poll_timeout(wr->bwe) : FL_TIME_NEVER;
    return t < at ? t : at;
}

/* Once per report interval: the loss the estimator bounds itself by, the
 * RTT the NACK and resend timers follow. */
/* Transport-cc feedback takes about 5% of what arrives, every 50 to 250 ms
 * (about 80 bytes on the wire each): the sooner it comes, the sooner the
 * browser's estimator reacts and the faster it ramps (its response time
 * is the feedback's round trip). */
static void twcc_pace(webrtc *wr, const fl_transport_stats *ts, fl_time now)
{
    if (wr->twcc_rate_at && now > wr->twcc_rate_at && ts->bytes_received >= wr->twcc_rate_bytes) {
        double bps = (double)(ts->bytes_received - wr->twcc_rate_bytes) * 8 * FL_TIME_SEC /
                     (double)(now - wr->twcc_rate_at);
        double interval = bps > 0 ? 80 * 8 / (0.05 * bps) * FL_TIME_SEC : TWCC_MAX_INTERVAL;
        if (interval < TWCC_MIN_INTERVAL)
            interval = TWCC_MIN_INTERVAL;
        if (interval > TWCC_MAX_INTERVAL)
            interval = TWCC_MAX_INTERVAL;
        fl_twcc_rx_set_interval(wr->twcc, (fl_time)interval);
    }
    wr->twcc_rate_at = now;
    wr->twcc_rate_bytes = ts->bytes_received;
}

void fl__wr_feedback_reports(webrtc *wr, int k, const fl_transport_stats *ts)
{
    if (wr->plain)
        fl__rtp_reports(wr, k, ts);
    if (wr->twcc)
        twcc_pace(wr, ts, fl__clock_now(&wr->w->loop));
    for (size_t j = 0; wr->bwe && j < ts->n_inbound; j++) {
        if (ts->inbound[j].ssrc == wr->st[1].remote_ssrc)
            fl_bwe_on_loss(wr->bwe, fl__clock_now(&wr->w->loop), ts->inbound[j].fraction_lost);
    }
    if (ts->rtt_us < 0)
        return;
    if (wr->bwe)
        fl_bwe_set_rtt(wr->bwe, ts->rtt_us);
    for (int i = 0; i < 2; i++) {
        if (k >= 0 && i != k)
            continue;
        if (wr->st[i].nack)
            fl_nack_gen_set_rtt(wr->st[i].nack, ts->rtt_us);
        for (int j = 0; j < wr->st[i].nlayers; j++) {
            if (wr->st[i].lay[j].nack)
                fl_nack_gen_set_rtt(wr->st[i].lay[j].nack, ts->rtt_us);
        }
        if (wr->st[i].hist)
            fl_nack_history_set_rtt(wr->st[i].hist, ts->rtt_us);
    }
}

/* ---- answering the viewer's NACKs ---- */

/* The bytes sent, 0 when nothing was. */
static size_t resend(webrtc *wr, wr_stream *st, fl_time now, const fl_nack_history_entry *e)
{
    size_t room, len = 0;
    fl_buf *b = pool_buf(wr, &room);
    if (!b)
        return 0;
    uint8_t abs[3];
    fl_rtp_ext x = { .id = wr->ast_id, .data = abs, .len = sizeof(abs) };
    fl__wr_abs_send_time(now, abs);
    int rtx = st->rtx_pt >= 0;
    fl_rtp_header h = { .marker = e->marker,
                        .payload_type = rtx ? (uint8_t)st->rtx_pt : st->rw.cfg.payload_type,
                        .seq = rtx ? st->rtx_seq++ : e->seq,
                        .timestamp = e->timestamp,
                        .ssrc = rtx ? st->rtx_ssrc : st->ssrc,
                        .exts = wr->ast_id ? &x : NULL,
                        .num_exts = wr->ast_id ? 1 : 0 };
    if (fl_nack_rtx_write(fl_buf_data(b), room, &h, e, rtx, &len) < 0) {
        fl_buf_unref(b);
        return 0;
    }
    fl_buf_set_len(b, len);
    if (!st->tr || fl_transport_send_rtp(st->tr, now, b) < 0) {
        fl_buf_unref(b);
        return 0;
    }
    if (rtx)
        st->rtx_sent++;
    else
        st->resent_plain++;
    return len;
}

int fl__wr_answer_nack(webrtc *wr, wr_stream *st, const fl_rtcp_fb *fb, fl_time now)
{
    st->nack_recv++;
    if (!st->hist || !wr->connected)
        return 0;
    fl_nack_history_stats before, after;
    fl_nack_history_get_stats(st->hist, &before);
    uint16_t seqs[RESEND_BATCH];
    size_t n = fl_rtcp_nack_expand(fb, seqs, RESEND_BATCH);
    if (n > RESEND_BATCH)
        n = RESEND_BATCH;
    /* what went to the peer beside resends: media payload, probe padding */
    uint32_t sent = (uint32_t)(st->octets + st->so.padding_bytes);
    for (size_t i = 0; i < n; i++) {
        /* a link that lost these may be full: what it has room for, no more */
        if (!fl_resend_budget_open(&st->rb, now, st->remb_recv, sent)) {
            st->nack_held += n - i;
            break;
        }
        const fl_nack_history_entry *e = fl_nack_history_resend(st->hist, now, seqs[i]);
        /* asked again: the resend was lost too, so this one goes twice */
        for (int k = 0; e && k < (e->requests > 1 ? 2 : 1); k++) {
            if (k && !fl_resend_budget_open(&st->rb, now, st->remb_recv, sent))
                break;
            fl_resend_budget_spend(&st->rb, resend(wr, st, now, e));
        }
    }
    fl__wr_flush_tx(wr);
    /* Too old, not merely missing: a packet the source lost may still be
     * on its way, repaired upstream. */
    fl_nack_history_get_stats(st->hist, &after);
    if (st != &wr->st[1] || after.too_old == before.too_old ||
        (st->lost_key_at && now - st->lost_key_at < LOST_KEY_INTERVAL))
        return 0;
    st->lost_key_at = now;
    return 1;
}

/* ---- what the endpoint can take, for the publisher upstream ---- */

uint64_t fl__wr_bitrate(fl_element *e, unsigned media)
{
    webrtc *wr = fl__wr_impl(e);
    if (!wr || media != FL_MEDIA_VIDEO || !wr->st[1].present || !wr->st[1].send || !wr->connected)
        return 0;
    /* above the viewer's REMB while what it is fed holds that down */
    uint64_t b = wr->st[1].remb_bound.bound;
    uint64_t max = (uint64_t)wr->max_vsend * 1000, min = (uint64_t)wr->min_vsend * 1000;
    if (max && (!b || b > max))
        b = max;
    if (b && min && b < min)
        b = min;
    return b;
}

/* ---- set-up ---- */

static const fl_sdp_codec *codec_by_pt(const fl_sdp_media *m, int pt)
{
    for (size_t i = 0; pt >= 0 && i < m->ncodecs; i++) {
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    }
    return NULL;
}

/* An extension both descriptions name with the same id; 0 otherwise. */
static uint8_t ext_agreed(const fl_sdp_media *lm, const fl_sdp_media *rm, fl_sdp_ext x)
{
    return lm->ext_ids[x] && lm->ext_ids[x] == rm->ext_ids[x] ? lm->ext_ids[x] : 0;
}

/* What both descriptions agree for one of our codecs: feedback and RTX. */
static void agreed(const fl_sdp_codec *c, const fl_sdp_media *rm, wr_alt *out)
{
    const fl_sdp_codec *rc = codec_by_pt(rm, c->pt);
    const fl_sdp_codec *rtx = codec_by_pt(rm, c->rtx_pt);
    out->codec = *c;
    out->fb = c->fb & (rc ? rc->fb : 0);
    out->rtx_pt = rtx && strcasecmp(rtx->name, "rtx") == 0 ? c->rtx_pt : -1;
}

static int is_aux(const char *name)
{
    static const char *const aux[] = {
        "rtx", "red", "ulpfec", "flexfec-03", "CN", "telephone-event"
    };
    for (size_t i = 0; i < sizeof(aux) / sizeof(*aux); i++) {
        if (strcasecmp(name, aux[i]) == 0)
            return 1;
    }
    return 0;
}

/* Sends in alt (NULL: the main codec, whose agreed RTX is main_rtx). */
static void send_in(webrtc *wr, wr_stream *st, int index)
{
    if (st->sending == index)
        return;
    const fl_sdp_codec *c = index < 0 ? &st->codec : &st->alt[index].codec;
    fl_log(FL_LOG_DEBUG, "%s: sends %s/%u (payload type %u), its source's format",
           wr->e ? wr->e->name : "webrtc", c->name, c->clock_rate, c->pt);
    st->sending = index;
    st->rtx_pt = index < 0 ? st->main_rtx_pt : st->alt[index].rtx_pt;
    fl_rewrite_set_format(&st->rw, c->pt, c->clock_rate);
    /* what the history holds went in the other format: not resent as this one */
    if (st->hist)
        fl_nack_history_clear(st->hist);
}

int fl__wr_send_codec(webrtc *wr, wr_stream *st, const fl_sdp_codec *in)
{
    if (!in || fl_sdp_codec_match(in, &st->codec)) {
        send_in(wr, st, -1);
        return 1;
    }
    for (size_t i = 0; i < st->nalt; i++) {
        if (fl_sdp_codec_match(in, &st->alt[i].codec)) {
            send_in(wr, st, (int)i);
            return 1;
        }
    }
    return 0;
}

const char *fl__wr_sent_codec_name(const wr_stream *st)
{
    return st->sending < 0 ? st->codec.name : st->alt[st->sending].codec.name;
}

static int stream_setup(webrtc *wr, int k, const fl_sdp_media *lm, const fl_sdp_media *rm)
{
    wr_stream *st = &wr->st[k];
    wr_alt main;
    agreed(&st->codec, rm, &main);
    st->fb = main.fb;
    st->rtx_pt = main.rtx_pt;
    st->main_rtx_pt = main.rtx_pt;
    st->sending = -1;
    st->nalt = 0;
    for (size_t i = 0; i < lm->ncodecs && i < FL_SDP_MAX_CODECS && st->nalt < FL__WR_ALT_CODECS;
         i++) {
        if (!is_aux(lm->codecs[i].name) && codec_by_pt(rm, lm->codecs[i].pt))
            agreed(&lm->codecs[i], rm, &st->alt[st->nalt++]);
    }
    st->rtx_ssrc = wr->rtx_ssrc[k];
    fl_rand *random = fl__clock_rand(&wr->w->loop);
    st->rtx_seq = fl_rtp_seq_initial(fl_rand_u32(random));
    /* our numbering starts at random (RFC 3550 5.1), below 2^15 so that a
     * peer that misses our first packets still authenticates the rest
     * (fl_rtp_seq_initial), and continues across sources */
    fl_rewrite_config rwc = { .ssrc = st->ssrc,
                              .payload_type = st->codec.pt,
                              .clock_rate = st->codec.clock_rate,
                              .seq0 = fl_rtp_seq_initial(fl_rand_u32(random)),
                              .ts0 = fl_rand_u32(random) };
    fl_rewrite_init(&st->rw, &rwc);
    st->kind = fl_codec_kind_of(st->codec.name);
    if (!wr->ast_id)
        wr->ast_id = ext_agreed(lm, rm, FL_SDP_EXT_ABS_SEND_TIME);
    if (!wr->twcc_id && (st->fb & FL_SDP_FB_TWCC))
        wr->twcc_id = ext_agreed(lm, rm, FL_SDP_EXT_TWCC);
    fl__wr_sim_setup(st, k, lm, rm);
    if (!(st->fb & FL_SDP_FB_NACK))
        return 0;
    for (int i = 0; st->recv && i < st->nlayers; i++) {
        if (fl_nack_gen_create(&st->lay[i].nack, NULL) < 0)
            return FL_ENOMEM;
    }
    /* 512 packets: about 3 s of 1.7 Mbit/s video, 0.5 s at 8 Mbit/s; the
     * buffers are the upstream's, shared by every viewer's history */
    fl_nack_history_config hc = { .capacity = 512 };
    if (st->recv && fl_nack_gen_create(&st->nack, NULL) < 0)
        return FL_ENOMEM;
    if (st->send && fl_nack_history_create(&st->hist, &hc) < 0)
        return FL_ENOMEM;
    return 0;
}

int fl__wr_media_setup(webrtc *wr, const fl_sdp_desc *l, const fl_sdp_desc *r)
{
    int recv_video = 0, rc;
    fl__worker_caps_changed(wr->w); /* our caps are the negotiated codecs */
    for (int k = 0; k < 2; k++) {
        wr_stream *st = &wr->st[k];
        if (!st->present || (size_t)st->mline >= l->nmedia || (size_t)st->mline >= r->nmedia)
            continue;
        if ((rc = stream_setup(wr, k, &l->media[st->mline], &r->media[st->mline])) < 0)
            return rc;
        recv_video |= k == 1 && st->recv;
    }
    if (wr->twcc_id) {
        fl_twcc_rx_config tc = { .sender_ssrc = wr->ssrc[1] };
        if (fl_twcc_rx_create(&wr->twcc, &tc) < 0)
            return FL_ENOMEM;
    }
    if (wr->ast_id && recv_video) {
        fl_bwe_config bc = { .min_bps = REMB_MIN_BPS,
                             .start_bps = (uint64_t)wr->remb_on_connect,
                             .loss_high = (uint8_t)wr->remb_up_losses,
                             .decrease = wr->remb_decrement };
        if (wr->min_vrecv > 0 && (uint64_t)wr->min_vrecv * 1000 > bc.min_bps)
            bc.min_bps = (uint64_t)wr->min_vrecv * 1000;
        if (wr->max_vrecv > 0)
            bc.max_bps = (uint64_t)wr->max_vrecv * 1000;
        if (bc.max_bps && bc.max_bps < bc.min_bps)
            bc.max_bps = bc.min_bps;
        if (fl_bwe_create(&wr->bwe, &bc) < 0)
            return FL_ENOMEM;
    }
    return 0;
}

void fl__wr_media_reset(webrtc *wr)
{
    fl__worker_caps_changed(wr->w);
    for (int k = 0; k < 2; k++) {
        wr_stream *st = &wr->st[k];
        if (st->nack)
            fl_nack_gen_destroy(st->nack);
        if (st->hist)
            fl_nack_history_destroy(st->hist);
        st->nack = NULL;
        st->hist = NULL;
        for (int i = 0; i < st->nlayers; i++) {
            if (st->lay[i].nack)
                fl_nack_gen_destroy(st->lay[i].nack);
            st->lay[i].nack = NULL;
        }
        st->nlayers = 0;
    }
    if (wr->twcc)
        fl_twcc_rx_destroy(wr->twcc);
    if (wr->bwe)
        fl_bwe_destroy(wr->bwe);
    wr->twcc = NULL;
    wr->bwe = NULL;
    wr->ast_id = wr->twcc_id = 0;
    wr->twcc_packets = 0;
}
