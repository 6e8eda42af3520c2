/* WebRtcEndpoint's packet path: RTP from the browser out of the element's
 * source pads; media reaching its sink pads rewritten to this leg's own
 * SSRC, sequence numbers and timestamps while it is copied into a send
 * buffer (the one copy), protected in place there, and queued for
 * sendmmsg. RTCP ends here: each leg writes its own SR/RR and REMB; PLI/FIR
 * from the browser go upstream to whoever produces the media, throttled. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/ice_transport.h"
#include "engine/transcode.h"
#include "engine/webrtc_int.h"
#include "net/rtcp.h"
#include "net/rtp.h"
#include "net/transport.h"
#include "sdp/sdp.h"

FL_LOG_TAG("webrtc");

#define CAPTURE_MAX 40

static void capture(webrtc *wr, const char *what, unsigned n, const fl_buf *b)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s-%03u.bin", wr->capture_dir, what, n);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(b->data + b->off, 1, b->len, f);
    fclose(f);
}

void fl__wr_flush_tx(webrtc *wr)
{
    fl_buf *b;
    if (wr->plain) {
        fl__rtp_flush_tx(wr);
        return;
    }
    while (wr->tr && fl_transport_poll_transmit(wr->tr, &b) == 0) {
        if (wr->ice)
            fl__ice_transport_send(wr->ice, b);
        else
            fl_buf_unref(b);
    }
}

/* ConnectionStateChanged / MediaStateChanged when *state changes. */
static void set_state(webrtc *wr, int *state, enum fl_event_type type, int connected)
{
    if (*state == connected)
        return;
    *state = connected;
    fl_event_connection_state change = {
        .old_state = connected ? FL_CONNECTION_DISCONNECTED : FL_CONNECTION_CONNECTED,
        .new_state = connected ? FL_CONNECTION_CONNECTED : FL_CONNECTION_DISCONNECTED,
    };
    fl_event ev = { .type = type };
    if (type == FL_EVENT_CONNECTION_STATE)
        ev.connection_state = change;
    else
        ev.media_state = change;
    fl__wr_raise(wr, &ev);
}

static void set_connection(webrtc *wr, int connected)
{
    set_state(wr, &wr->connected, FL_EVENT_CONNECTION_STATE, connected);
}

static void set_media_state(webrtc *wr, int connected)
{
    set_state(wr, &wr->media_connected, FL_EVENT_MEDIA_STATE, connected);
}

/* An event of the transport that serves stream k alone (-1: every one). */
static void on_transport_event(webrtc *wr, int k, fl_transport_event *ev)
{
    switch (ev->type) {
    case FL_TRANSPORT_EVENT_CONNECTED:
        if (!wr->plain)
            fl_log(FL_LOG_INFO, "%s: DTLS connected (%s)", wr->e ? wr->e->name : "?",
                   fl_dtls_srtp_profile_name(ev->profile));
        set_connection(wr, 1);
        fl__wr_data_connected(wr);
        /* what reaches us from upstream starts with a key frame, asked for
         * now that it can be received */
        if (wr->e && wr->st[1].send && wr->e->defaults[1])
            fl__pad_request_key_frame(wr->e->defaults[1]->twin, 1);
        break;
    case FL_TRANSPORT_EVENT_FAILED: {
        char msg[256];
        snprintf(msg, sizeof(msg), "DTLS handshake with the browser failed: %s",
                 ev->reason ? ev->reason : fl_strerror(ev->err));
        fl__wr_raise_error(wr, "DTLS_FAILED", msg);
        break;
    }
    case FL_TRANSPORT_EVENT_CLOSED:
        set_connection(wr, 0);
        set_media_state(wr, 0);
        break;
    case FL_TRANSPORT_EVENT_RTP: {
        /* a stream's own transport carries its kind whatever the number */
        unsigned kind = k >= 0 ? (k ? FL_MEDIA_VIDEO : FL_MEDIA_AUDIO)
                               : wr->pt_kind[ev->rtp.payload_type & 127];
        int i = fl__wr_kind_index(kind);
        fl_log(FL_LOG_TRACE, "rtp pt %u ssrc %u seq %u kind %u", ev->rtp.payload_type,
               (unsigned)ev->rtp.ssrc, ev->rtp.seq, kind);
        fl__wr_note_arrival(wr, &ev->rtp, ev->arrival ? ev->arrival : fl__clock_now(&wr->w->loop),
                            ev->buf->len);
        if (i < 0 || !wr->e || !wr->e->defaults[i])
            break;
        wr_stream *st = &wr->st[i];
        if (wr->capture_dir && wr->captured_rtp[i] < CAPTURE_MAX)
            capture(wr, i ? "rtp-video" : "rtp-audio", wr->captured_rtp[i]++, ev->buf);
        if (!fl__wr_media_in(wr, st, ev))
            break;
        /* parsed once: the header travels with the buffer, with the
         * simulcast layer media_in found */
        fl_rtp_buf_note(ev->buf, &ev->rtp);
        ev->buf->rtp.layer = st->in_layer;
        ev->buf->rtp.tid = st->in_tid;
        ev->buf->rtp.key = st->in_key;
        fl__pad_push(wr->e->defaults[i], ev->buf);
        break;
    }
    case FL_TRANSPORT_EVENT_DATA:
        fl__wr_data_input(wr, ev->buf);
        break;
    case FL_TRANSPORT_EVENT_RTCP:
        set_media_state(wr, 1);
        if (wr->capture_dir && wr->captured_rtcp < CAPTURE_MAX)
            capture(wr, "rtcp", wr->captured_rtcp++, ev->buf);
        fl__wr_on_rtcp(wr, ev->buf);
        break;
    }
}

/* Runs the transport: datagrams out, events up, next deadline. */
void fl__wr_pump(webrtc *wr)
{
    int k;
    if (!fl__wr_transport(wr, 0, &k))
        return;
    fl__wr_flush_tx(wr);
    fl_transport_event ev;
    fl_transport *t;
    for (int n = 0; (t = fl__wr_transport(wr, n, &k)) != NULL; n++) {
        while (fl_transport_poll_event(t, &ev) == 0) {
            on_transport_event(wr, k, &ev);
            fl_transport_event_release(&ev);
            if (!fl__wr_transport(wr, n, &k)) /* torn down meanwhile */
                return;
        }
    }
    fl__wr_data_pump(wr);
    if (!fl__wr_transport(wr, 0, &k))
        return;
    fl__wr_feedback(wr, fl__clock_now(&wr->w->loop));
    fl__wr_flush_tx(wr);
    fl__wr_schedule(wr);
}

void fl__wr_on_timer(uv_timer_t *h)
{
    webrtc *wr = h->data;
    fl_transport *t;
    int k;
    if (!fl__wr_transport(wr, 0, &k))
        return;
    fl_time now = fl__clock_now(&wr->w->loop);
    for (int n = 0; (t = fl__wr_transport(wr, n, &k)) != NULL; n++)
        fl_transport_handle_timeout(t, now);
    fl__wr_data_timeout(wr, now);
    if (wr->connected && now >= wr->next_rtcp) {
        fl__wr_send_reports(wr, now);
        /* RFC 3550 6.3.5: randomised between 0.5 and 1.5 intervals */
        wr->next_rtcp =
                now + RTCP_INTERVAL / 2 + fl_rand_u32(fl__clock_rand(&wr->w->loop)) % RTCP_INTERVAL;
    }
    fl__wr_pump(wr);
}

void fl__wr_schedule(webrtc *wr)
{
    fl_transport *t;
    int k;
    if (!wr->e || !fl__wr_transport(wr, 0, &k))
        return;
    fl_time now = fl__clock_now(&wr->w->loop);
    fl_time at = FL_TIME_NEVER;
    for (int n = 0; (t = fl__wr_transport(wr, n, &k)) != NULL; n++) {
        fl_time tt = fl_transport_poll_timeout(t);
        if (tt < at)
            at = tt;
    }
    if (wr->connected && wr->next_rtcp < at)
        at = wr->next_rtcp;
    fl_time fb = fl__wr_feedback_deadline(wr);
    if (fb < at)
        at = fb;
    fl_time dt = fl__wr_data_deadline(wr);
    if (dt < at)
        at = dt;
    /* only moves the timer earlier: a timer left armed for an earlier time
     * fires, finds little to do and arms the next deadline */
    fl__deadline_arm(&wr->timer, at, now);
}

/* ---- media from the pipeline ---- */

/* Why nothing of what arrives can be sent: said once, in an Error event. */
static void mismatch(webrtc *wr,
                     wr_stream *st,
                     fl__pad *sink,
                     const fl_sdp_codec *in,
                     const char *why)
{
    if (st->codec_error)
        return;
    char msg[384];
    snprintf(msg, sizeof(msg),
             "%s media arrives as %s/%u but this endpoint negotiated %s/%u with its peer, and %s; "
             "it is not sent",
             fl_media_type_name(sink->media), in->name, in->clock_rate, st->codec.name,
             st->codec.clock_rate, why);
    fl__wr_raise_error(wr, "MEDIA_FORMAT_MISMATCH", msg);
    st->codec_error = 1;
}

/* A negotiated codec a transcoder can make from `in`: the one asked for by
 * setAudioFormat/setVideoFormat first, then the main one, then the rest. */
static const fl_sdp_codec *xcode_target(webrtc *wr,
                                        wr_stream *st,
                                        unsigned media,
                                        const fl_sdp_codec *in)
{
    const char *want = wr->e->format[media == FL_MEDIA_VIDEO].codec;
    for (int pass = want[0] ? 0 : 1; pass < 2; pass++) {
        for (int i = -1; i < (int)st->nalt; i++) {
            const fl_sdp_codec *c = i < 0 ? &st->codec : &st->alt[i].codec;
            if ((pass == 1 || strcasecmp(c->name, want) == 0) && fl__xcode_possible(in, c))
                return c;
        }
    }
    return NULL;
}

/* The source's format against ours: sent as it is when it is one we
 * negotiated (and no format was forced on us), else through a transcoder.
 * Decided again after each change of the graph (a link anywhere on the
 * worker, an element's SDP done, a format set), so a packet costs one
 * compare. 0 when nothing can be sent (said once in an Error event). */
static int decide(webrtc *wr, wr_stream *st, fl__pad *sink)
{
    const fl_sdp_codec *in = fl__pad_caps(sink);
    int forced = fl__element_format_forced(wr->e, sink->media, in);
    if ((!in || !forced) && fl__wr_send_codec(wr, st, in)) {
        fl__xcode_detach(sink);
        /* RTX, FEC, comfort noise of the source: this leg has its own */
        fl_rewrite_set_source_pt(&st->rw, in ? in->pt : -1);
        return 1;
    }
    const fl_sdp_codec *target = xcode_target(wr, st, sink->media, in);
    if (!target) {
        fl__xcode_detach(sink);
        mismatch(wr, st, sink, in,
                 "fluo has no transcoder between them (it converts among VP8, VP9 and H264, and "
                 "among opus, PCMU and PCMA)");
        return 0;
    }
    fl__wr_send_codec(wr, st, target);
    fl__xcode_spec spec;
    fl__xcode_spec_for(wr->e, sink->media, target, &spec);
    int rc = fl__xcode_attach(sink, &spec);
    if (rc < 0) {
        mismatch(wr, st, sink, in, "a transcoder could not be started");
        return 0;
    }
    fl_rewrite_set_source_pt(&st->rw, fl__xcode_caps(sink->xc)->pt);
    return 1;
}

/* 0 also for the packet that made the sink change its route (to, from or
 * between transcoders): it came the old way, and the rest of its frame
 * will not. */
static int caps_fit(webrtc *wr, wr_stream *st, fl__pad *sink)
{
    if (st->caps_gen != wr->w->graph_gen || st->caps_sink != sink) {
        fl__xcode *before = sink->xc;
        st->caps_sink = sink;
        st->caps_fit = decide(wr, st, sink);
        st->caps_gen = wr->w->graph_gen; /* after: attaching bumps it */
        if (sink->xc != before)
            return 0;
    }
    return st->caps_fit;
}

void fl__wr_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    webrtc *wr = fl__wr_impl(e);
    if (wr && sink->media == FL_MEDIA_DATA) {
        fl__wr_data_receive(wr, sink, buf);
        return;
    }
    int i = fl__wr_kind_index(sink->media);
    if (!wr || i < 0 || !wr->st[i].tr || !wr->connected || !wr->st[i].send)
        goto drop;
    wr_stream *st = &wr->st[i];
    if (!buf->rtp.parsed || !caps_fit(wr, st, sink))
        goto drop;
    fl_time now = fl__clock_now(&wr->w->loop);
    /* one layer of a simulcast source, its VP8 descriptor rewritten */
    uint8_t head[FL_NACK_HEAD_MAX];
    size_t head_len = 0;
    if (buf->rtp.layer && i == 1 && sink->src && sink->src->element->type->simulcast &&
        !fl__wr_sim_out(wr, st, sink, buf, now, head, &head_len))
        goto drop; /* (from a single-stream element: the one layer it sends) */
    uint8_t abs[3];
    fl_rtp_ext x = { .id = wr->ast_id, .data = abs, .len = sizeof(abs) };
    fl_rtp_header h = { .exts = wr->ast_id ? &x : NULL, .num_exts = wr->ast_id ? 1 : 0 };
    if (!fl_rewrite_packet(&st->rw, now, &buf->rtp, &h))
        goto drop;
    fl__xcode_say(e, sink, &st->transcoding_said);
    fl_buf *out = fl_buf_pool_get(wr->w->pool);
    if (!out)
        goto drop;
    fl__wr_abs_send_time(now, abs);
    size_t payload_len = buf->rtp.payload_len;
    if (fl_rtp_buf_write(out, SRTP_TAILROOM, &h, fl_buf_data(buf) + buf->rtp.payload_off,
                         payload_len) < 0) {
        fl_buf_unref(out);
        goto drop;
    }
    if (head_len)
        memcpy(fl_buf_data(out) + out->rtp.payload_off, head, head_len);
    if (fl_transport_send_rtp(st->tr, now, out) < 0) {
        fl_buf_unref(out);
        goto drop;
    }
    st->packets++;
    st->octets += (uint32_t)payload_len;
    if (st->hist) { /* the upstream buffer itself, for retransmissions */
        fl_nack_history_put(st->hist, now, h.seq, h.timestamp, h.marker, buf, buf->rtp.payload_off,
                            payload_len);
        if (head_len)
            fl_nack_history_set_head(st->hist, h.seq, head, head_len);
    }
    fl__wr_flush_tx(wr);
drop:
    fl_buf_unref(buf);
}

void fl__wr_reroute(fl_element *e, fl__pad *sink)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(sink->media);
    if (wr && i >= 0 && wr->st[i].tr && wr->connected && wr->st[i].send)
        caps_fit(wr, &wr->st[i], sink);
}

void fl__wr_linked(fl_element *e, fl__pad *sink)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(sink->media);
    if (wr && i >= 0) { /* a new source: say again if it does not fit */
        wr->st[i].codec_error = 0;
        wr->st[i].transcoding_said = 0;
        fl__wr_sim_relink(&wr->st[i], sink); /* its layers are chosen afresh */
    }
}

int fl__wr_receiving(fl_element *e, unsigned media)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(media);
    return wr && i >= 0 && wr->connected && wr->st[i].send;
}

void fl__wr_key_frame(fl_element *e, unsigned media, int join)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(media);
    if (!wr || i != 1 || !wr->st[i].recv)
        return;
    fl__wr_ask_key_frame(wr, &wr->st[i], fl__clock_now(&wr->w->loop), join);
    fl__wr_schedule(wr);
}

void fl__wr_key_frame_layer(fl_element *e, unsigned media, int layer, int join)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(media);
    if (!wr || i != 1 || !wr->st[i].recv)
        return;
    fl_time now = fl__clock_now(&wr->w->loop);
    if (wr->st[i].nlayers)
        fl__wr_ask_layer_key_frame(wr, &wr->st[i], layer, now, join);
    else
        fl__wr_ask_key_frame(wr, &wr->st[i], now, join);
    fl__wr_schedule(wr);
}

int fl__wr_sender_report(fl_element *e,
                         unsigned media,
                         uint32_t ssrc,
                         uint32_t *rtp_ts,
                         fl_time *sent)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(media);
    if (!wr || i < 0 || !wr->st[i].tr)
        return FL_ENOENT;
    return fl_transport_sender_report(wr->st[i].tr, ssrc, rtp_ts, sent);
}

const fl_sdp_codec *fl__wr_caps(fl_element *e, unsigned media)
{
    webrtc *wr = fl__wr_impl(e);
    int i = fl__wr_kind_index(media);
    if (!wr || i < 0 || !wr->st[i].present || !wr->st[i].recv)
        return NULL;
    return &wr->st[i].codec;
}

/* ---- stats ---- */

/* The figures both directions of a stream share; counts as fl_stats_rtp
 * orders them: fir, pli, nack, remb, lost. */
static void stats_rtp(fl_stats_rtp *r,
                      uint32_t ssrc,
                      unsigned media,
                      const wr_stream *st,
                      const int64_t counts[5],
                      uint8_t fraction_lost)
{
    r->ssrc = ssrc;
    r->media = media;
    snprintf(r->mid, sizeof(r->mid), "%s", st->mid);
    snprintf(r->codec, sizeof(r->codec), "%s", st->codec.name);
    r->fir_count = counts[0];
    r->pli_count = counts[1];
    r->nack_count = counts[2];
    r->remb = counts[3];
    r->packets_lost = counts[4];
    r->fraction_lost = fraction_lost / 256.0;
}

/* ts: of the transport that serves stream only alone (-1: every one). */
static void stats_inbound(webrtc *wr,
                          unsigned media,
                          int only,
                          const fl_transport_stats *ts,
                          fl__stats_out *out)
{
    for (size_t k = 0; k < ts->n_inbound; k++) {
        const fl_transport_inbound_stats *in = &ts->inbound[k];
        unsigned kind = only >= 0 ? (only ? FL_MEDIA_VIDEO : FL_MEDIA_AUDIO)
                                  : wr->pt_kind[in->payload_type & 127];
        int i = fl__wr_kind_index(kind);
        if (i < 0 || !(media & kind) || wr->pt_rtx[i][in->payload_type & 127])
            continue; /* the RTX stream counts in its media stream's figures */
        const wr_stream *st = &wr->st[i];
        fl_stats *s = fl__stats_add(out, FL_STATS_INBOUND_RTP);
        if (!s)
            return;
        fl_stats_inbound_rtp *r = &s->inbound_rtp;
        int64_t remb = i == 1 ? (int64_t)wr->remb_sent_bps : 0;
        const int64_t counts[5] = { 0, (int64_t)st->pli_sent, (int64_t)st->nacks_sent, remb,
                                    in->packets_lost };
        stats_rtp(&r->rtp, in->ssrc, kind, st, counts, in->fraction_lost);
        r->packets_received = (int64_t)in->packets;
        r->bytes_received = (int64_t)in->bytes;
        r->jitter = in->jitter_s;
        r->nack_seqs_sent = (int64_t)st->nack_seqs_sent;
        r->retransmitted_packets_received = (int64_t)st->rtx_recv;
        r->retransmissions_unneeded = (int64_t)st->rtx_unneeded;
        r->key_frames_received = (int64_t)st->key_frames;
        r->receive_estimate = i == 1 && wr->bwe ? (int64_t)fl_bwe_estimate(wr->bwe) : -1;
    }
}

static void stats_outbound(webrtc *wr,
                           unsigned media,
                           const fl_transport_stats *ts,
                           fl__stats_out *out)
{
    for (size_t k = 0; k < ts->n_outbound; k++) {
        const fl_transport_outbound_stats *o = &ts->outbound[k];
        int i = o->ssrc == wr->st[0].ssrc ? 0 : o->ssrc == wr->st[1].ssrc ? 1 : -1;
        unsigned kind = i == 0 ? FL_MEDIA_AUDIO : FL_MEDIA_VIDEO;
        if (i < 0 || !(media & kind))
            continue;
        const wr_stream *st = &wr->st[i];
        fl_stats *s = fl__stats_add(out, FL_STATS_OUTBOUND_RTP);
        if (!s)
            return;
        fl_stats_outbound_rtp *r = &s->outbound_rtp;
        const int64_t counts[5] = { (int64_t)st->fir_recv, (int64_t)st->pli_recv,
                                    (int64_t)st->nack_recv, (int64_t)st->remb_recv,
                                    o->remote_packets_lost };
        stats_rtp(&r->rtp, o->ssrc, kind, st, counts, o->remote_fraction_lost);
        snprintf(r->rtp.codec, sizeof(r->rtp.codec), "%s", fl__wr_sent_codec_name(st));
        r->packets_sent = (int64_t)o->packets;
        r->bytes_sent = (int64_t)o->bytes;
        r->target_bitrate = (int64_t)fl__wr_bitrate(wr->e, kind);
        r->round_trip_time = o->rtt_us >= 0 ? o->rtt_us / 1e6 : -1.0;
        r->retransmitted_packets_sent = (int64_t)(st->rtx_sent + st->resent_plain);
        r->nack_unanswered = r->nack_held = -1;
        r->xcode_frames_in = r->xcode_frames_encoded = r->xcode_frames_skipped = -1;
        r->xcode_frames_dropped = r->xcode_bitrate = -1;
        r->simulcast_layer = r->simulcast_temporal_layer = -1;
        r->simulcast_switches = r->probe_padding_bytes = -1;
        if (i == 1 && st->so.active) {
            r->simulcast_layer = st->so.cur;
            r->simulcast_temporal_layer = st->so.cur >= 0 ? st->so.tid_chosen : -1;
            r->simulcast_switches = (int64_t)st->so.switches;
            r->probe_padding_bytes = (int64_t)st->so.padding_bytes;
        }
        fl__pad *src = wr->e->defaults[fl__media_index(kind)];
        if (src && src->twin->xc)
            fl__xcode_stats(src->twin->xc, r);
        if (st->hist) {
            fl_nack_history_stats hs;
            fl_nack_history_get_stats(st->hist, &hs);
            r->nack_unanswered = (int64_t)(hs.missing + hs.too_old);
            r->nack_held = (int64_t)st->nack_held;
        }
    }
}

void fl__wr_stats(fl_element *e, unsigned media, fl__stats_out *out)
{
    webrtc *wr = fl__wr_impl(e);
    fl_stats *s = fl__stats_add(out, FL_STATS_ENDPOINT);
    if (!s)
        return;
    s->endpoint.unvalidated_packets_dropped =
            wr && wr->ice ? (int64_t)fl__ice_transport_dropped_unvalidated(wr->ice) : -1;
    s->endpoint.srtp_auth_failed = wr && wr->plain ? 0 : -1;
    s->endpoint.shared_port_unclaimed =
            wr && wr->ice ? fl__ice_transport_shared_unclaimed(wr->ice) : -1;
    size_t first = out->n - 1;
    int k;
    if (!wr || !fl__wr_transport(wr, 0, &k))
        return;
    fl_transport_stats *ts = malloc(sizeof(*ts));
    if (!ts) {
        out->oom = 1;
        return;
    }
    fl_transport *t;
    for (int n = 0; (t = fl__wr_transport(wr, n, &k)) != NULL; n++) {
        fl_transport_get_stats(t, ts);
        if (wr->plain) /* SRTP refused, in the endpoint's entry (by index:
                          adding entries may move them) */
            out->v[first].endpoint.srtp_auth_failed += (int64_t)ts->srtp_auth;
        stats_inbound(wr, media, k, ts, out);
        stats_outbound(wr, media, ts, out);
    }
    free(ts);
    if (media & FL_MEDIA_DATA)
        fl__wr_data_stats(wr, out);
}

/* ---- life ---- */
