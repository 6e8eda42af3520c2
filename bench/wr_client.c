/* The harness's client peers: ICE + DTLS-SRTP + RTP on one UDP socket,
 * batched with recvmmsg/sendmmsg, media paced from pre-encoded clips. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "bench/wr.h"
#include "codec/codec.h"
#include "net/rtcp.h"

FL_LOG_TAG("bench");

#define BATCH     64
#define TICK_MS   1
#define POOL_SIZE 1600
#define LAT_CAP   200000

/* ---- peers' addresses ---- */

/* A free slot for a new peer (its address), growing the table. */
static int slot_take(wr_bench *b, wr_peer *p)
{
    size_t i = 0;
    while (i < b->nslots && b->slots[i])
        i++;
    if (i == b->nslots) {
        size_t n = b->nslots ? b->nslots * 2 : 256;
        if (n > 65000)
            return FL_ENOMEM; /* a /16 of addresses */
        wr_peer **v = realloc(b->slots, n * sizeof(*v));
        if (!v)
            return FL_ENOMEM;
        memset(v + b->nslots, 0, (n - b->nslots) * sizeof(*v));
        b->slots = v;
        b->nslots = n;
    }
    b->slots[i] = p;
    p->slot = i;
    uint32_t ip = htonl(b->peer_base + (uint32_t)i + 1);
    memset(&p->addr, 0, sizeof(p->addr));
    p->addr.family = 4;
    p->addr.port = b->local.port;
    memcpy(p->addr.ip, &ip, 4);
    inet_ntop(AF_INET, &ip, p->ip, sizeof(p->ip));
    return 0;
}

/* The peer a datagram was sent to (its destination address). */
static wr_peer *peer_at(const wr_bench *b, uint32_t to)
{
    uint32_t h = ntohl(to);
    if (h <= b->peer_base || h - b->peer_base > b->nslots)
        return NULL;
    return b->slots[h - b->peer_base - 1];
}

/* ---- sending ---- */

static void flush_sends(wr_bench *b)
{
    size_t off = 0;
    while (off < b->nsend) {
        int n = sendmmsg(b->fd, b->msgs + off, (unsigned)(b->nsend - off), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break; /* full socket buffer: what is left is lost, as on a network */
        }
        off += (size_t)n;
    }
    for (size_t i = 0; i < b->nsend; i++)
        fl_buf_unref(b->bufs[i]);
    b->nsend = 0;
}

/* Queues a datagram from peer p (takes the reference). */
static void queue_send(wr_peer *p, fl_buf *buf, const fl_addr *to)
{
    wr_bench *b = p->b;
    if (b->nsend == BATCH)
        flush_sends(b);
    size_t i = b->nsend++;
    b->bufs[i] = buf;
    b->iovs[i].iov_base = fl_buf_data(buf);
    b->iovs[i].iov_len = buf->len;
    socklen_t sl =
            (socklen_t)fl_addr_to_sockaddr(to, (struct sockaddr *)&b->dsts[i], sizeof(b->dsts[i]));
    memset(&b->msgs[i], 0, sizeof(b->msgs[i]));
    b->msgs[i].msg_hdr.msg_name = &b->dsts[i];
    b->msgs[i].msg_hdr.msg_namelen = sl;
    b->msgs[i].msg_hdr.msg_iov = &b->iovs[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    /* from the peer's own address */
    struct msghdr *h = &b->msgs[i].msg_hdr;
    h->msg_control = b->ctls[i];
    h->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = { 0 };
    memcpy(&pi.ipi_spec_dst.s_addr, p->addr.ip, 4);
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
}

static void send_bytes(wr_peer *p, const uint8_t *data, size_t len, const fl_addr *to)
{
    fl_buf *buf = fl_buf_pool_get(p->b->pool);
    if (!buf || len > fl_buf_tailroom(buf)) {
        if (buf)
            fl_buf_unref(buf);
        return;
    }
    memcpy(fl_buf_data(buf), data, len);
    fl_buf_set_len(buf, len);
    queue_send(p, buf, to);
}

static void peer_pump(wr_peer *p, fl_time now);

static void start_dtls(wr_peer *p, fl_time now)
{
    if (p->dtls_started || !p->tr)
        return;
    p->dtls_started = 1;
    fl_transport_start(p->tr, now);
}

static void peer_flush_ice(wr_peer *p, fl_time now)
{
    fl_ice_transmit tx;
    while (fl_ice_agent_poll_transmit(p->ice, &tx) == 0)
        send_bytes(p, tx.data, tx.len, &tx.dst);
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(p->ice, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE && !p->cand[0]) {
            fl_ice_candidate_write(&ev.candidate, p->cand, sizeof(p->cand));
        } else if (ev.type == FL_ICE_EVENT_SELECTED_PAIR) {
            p->selected = ev.remote.addr;
            p->have_selected = 1;
            if (!p->t.ice)
                p->t.ice = now;
            if (p->dtls_client)
                start_dtls(p, now);
        } else if (ev.type == FL_ICE_EVENT_STATE && ev.state == FL_ICE_STATE_FAILED) {
            p->failed = 1;
        }
    }
}

static void peer_flush_tr(wr_peer *p)
{
    fl_buf *buf;
    while (p->tr && fl_transport_poll_transmit(p->tr, &buf) == 0) {
        if (p->have_selected)
            queue_send(p, buf, &p->selected);
        else
            fl_buf_unref(buf);
    }
}

static void send_media(wr_peer *p, wr_tx *t, fl_time now)
{
    const fl_clip *c = t->clip;
    while (t->on && c && c->n) {
        if (t->restart && t->pos > 0 && c->pkts[t->pos - 1].marker) {
            /* a key frame asked for: start the clip over at this frame edge */
            t->ts_base = t->last_ts + c->clock_rate / 30;
            t->t_base = now;
            t->pos = 0;
            t->restart = 0;
            t->restarts++;
        }
        const fl_clip_packet *k = &c->pkts[t->pos];
        /* a frame's packets leave together at its first one's time, in one
         * burst as an encoder hands them over, not spread over the frame */
        int frame_start = t->pos == 0 || c->pkts[t->pos - 1].ts != k->ts;
        if (frame_start && t->t_base + (fl_time)k->send_us > now)
            break;
        fl_buf *buf = fl_buf_pool_get(p->b->pool);
        if (!buf)
            break;
        uint32_t ts = t->ts_base + k->ts;
        fl_rtp_header h = { .marker = k->marker,
                            .payload_type = t->pt,
                            .seq = t->seq,
                            .timestamp = ts,
                            .ssrc = t->ssrc };
        uint8_t payload[POOL_SIZE];
        size_t plen = k->len + WR_TRAILER_LEN;
        size_t n = 0;
        if (plen > sizeof(payload)) {
            fl_buf_unref(buf);
            break;
        }
        memcpy(payload, k->payload, k->len);
        uint32_t magic = t->layer ? WR_TRAILER_LAYER0 + (uint32_t)t->layer - 1 : WR_TRAILER_MAGIC;
        int64_t sent = now;
        memcpy(payload + k->len, &magic, 4);
        memcpy(payload + k->len + 4, &sent, 8);
        if (fl_rtp_write(fl_buf_data(buf), fl_buf_tailroom(buf) - 16, &h, payload, plen, 0, &n) <
                    0 ||
            fl_buf_set_len(buf, n) < 0 || fl_transport_send_rtp(p->tr, now, buf) < 0) {
            fl_buf_unref(buf);
            break;
        }
        if (t->pos == 0)
            t->key_frames++;
        t->seq++;
        t->last_ts = ts;
        t->packets++;
        t->win_sent += now >= p->b->win_t0 && now < p->b->win_t1;
        t->octets += plen;
        if (++t->pos == c->n) {
            t->pos = 0;
            t->t_base += (fl_time)c->duration_us;
            t->ts_base += c->duration_ts;
        }
    }
}

/* A REMB of p->remb_bps for the video it receives, after the report
 * already in buf. */
static void append_remb(wr_peer *p, fl_buf *buf)
{
    fl_rtcp_remb r = { .sender_ssrc = p->tx[1].ssrc, .num_ssrcs = 0 };
    for (size_t k = 0; k < p->nrx && r.num_ssrcs < 4; k++) {
        if (p->rx[k].pt == p->tx[1].pt)
            r.ssrcs[r.num_ssrcs++] = p->rx[k].ssrc;
    }
    fl_rtcp_remb_set_bitrate(&r, p->remb_bps);
    size_t n = 0;
    if (fl_rtcp_remb_write(fl_buf_data(buf) + buf->len, fl_buf_tailroom(buf) - 64, &r, &n) == 0)
        fl_buf_set_len(buf, buf->len + n);
}

static void send_reports(wr_peer *p, fl_time now)
{
    wr_tx *txs[2 + WR_LAYERS] = { &p->tx[0], &p->tx[1] };
    size_t n = 2;
    for (int k = 0; k < p->nlayers; k++)
        txs[k ? n++ : 1] = &p->layers[k]; /* layer 0 in tx[1]'s place */
    for (size_t i = 0; i < n; i++) {
        wr_tx *t = txs[i];
        fl_buf *buf = fl_buf_pool_get(p->b->pool);
        if (!buf)
            return;
        int rc = t->on ? fl_transport_write_sr(p->tr, now, t->ssrc, t->last_ts,
                                               (uint32_t)t->packets, (uint32_t)t->octets, buf)
                       : fl_transport_write_rr(p->tr, now, t->ssrc, buf);
        if (rc == 0 && p->remb_bps && i == 0)
            append_remb(p, buf);
        if (rc < 0 || fl_transport_send_rtcp(p->tr, now, buf) < 0)
            fl_buf_unref(buf);
        if (!t->on)
            break; /* one RR is enough */
    }
}

/* ---- receiving ---- */

/* The join scenario's key frame: assembled by sequence number from the
 * packet that starts it (S=1, partition 0, P=0) to the one with the marker
 * bit; complete once every packet in between came, in any order. */
static void watch_key(wr_peer *p, const fl_rtp_view *v, uint64_t seq, fl_time now)
{
    wr_key *k = &p->key;
    if (!p->t.video)
        p->t.video = now;
    p->t.video_before_key++;
    fl_vp8_desc d;
    if (fl_vp8_desc_parse(&d, v->payload, v->payload_len) == 0 && d.keyframe) {
        memset(k, 0, sizeof(*k));
        k->active = 1;
        k->ts = v->timestamp;
        k->first = seq;
        k->last = -1;
    }
    if (!k->active || v->timestamp != k->ts || seq < k->first || seq - k->first >= WR_KEY_MAX_PKTS)
        return;
    size_t off = (size_t)(seq - k->first);
    k->have[off / 64] |= 1ull << (off % 64);
    if (v->marker)
        k->last = (int)off;
    if (k->last < 0)
        return;
    for (size_t i = 0; i <= (size_t)k->last; i++) {
        if (!(k->have[i / 64] >> (i % 64) & 1))
            return;
    }
    p->t.key = now;
    k->active = 0;
}

static void on_rtp(wr_peer *p, const fl_rtp_view *v, fl_time now)
{
    wr_bench *b = p->b;
    if (p->rtx_pt >= 0 && v->payload_type == p->rtx_pt) {
        /* the server's retransmissions and probing padding: not a stream
         * of its own, and no media (this client never asks for one) */
        p->rx_rtx++;
        return;
    }
    p->rx_packets++;
    if (b->measuring)
        b->win_rx++;
    wr_rx *r = NULL;
    for (size_t i = 0; i < p->nrx; i++) {
        if (p->rx[i].ssrc == v->ssrc)
            r = &p->rx[i];
    }
    if (!r && p->nrx < WR_MAX_RX) {
        r = &p->rx[p->nrx++];
        memset(r, 0, sizeof(*r));
        r->ssrc = v->ssrc;
        r->pt = v->payload_type;
        r->first_at = now;
        fl_rtp_unwrapper_init(&r->uw);
    }
    if (!r) {
        p->rx_unknown++;
        return;
    }
    uint64_t s = fl_rtp_seq_unwrap(&r->uw, v->seq);
    if (!r->started) {
        r->started = 1;
        r->first = s;
        r->highest = s;
    } else if (s > r->highest) {
        r->highest = s;
    }
    r->received++;
    r->last_at = now;
    r->markers += v->marker;
    if (p->watch_key && !p->t.key && v->payload_type == p->tx[1].pt)
        watch_key(p, v, s, now);
    if (v->payload_len >= WR_TRAILER_LEN) {
        const uint8_t *t = v->payload + v->payload_len - WR_TRAILER_LEN;
        uint32_t magic;
        int64_t sent;
        memcpy(&magic, t, 4);
        memcpy(&sent, t + 4, 8);
        uint32_t layer = magic - WR_TRAILER_LAYER0;
        if (layer < WR_LAYERS) {
            p->rx_layer[layer]++;
            magic = WR_TRAILER_MAGIC;
        }
        int in_win = magic == WR_TRAILER_MAGIC && sent >= b->win_t0 && sent < b->win_t1;
        b->win_in += in_win;
        if (in_win && sent <= now) {
            double ms = (double)(now - sent) / 1000.0;
            b->lat_seen++;
            if (b->nlat < b->lat_cap)
                b->lat_ms[b->nlat++] = ms;
            else {
                uint64_t j = fl_rand_u32(&b->rand) % b->lat_seen;
                if (j < b->lat_cap)
                    b->lat_ms[j] = ms;
            }
        }
    }
}

static void on_rtcp(wr_peer *p, fl_buf *buf)
{
    fl_rtcp_iter it;
    fl_rtcp_pkt pk;
    fl_rtcp_iter_init(&it, fl_buf_data(buf), buf->len);
    while (fl_rtcp_iter_next(&it, &pk) > 0) {
        fl_rtcp_fb fb;
        if (pk.type != FL_RTCP_PSFB || fl_rtcp_fb_parse(&pk, &fb) < 0)
            continue;
        fl_rtcp_remb remb;
        if (fb.fmt == FL_RTCP_FMT_AFB && fl_rtcp_remb_parse(&fb, &remb) == 0)
            p->remb_recv = fl_rtcp_remb_bitrate(&remb);
        if (fb.fmt == 1)
            p->pli_recv++;
        else if (fb.fmt == 4)
            p->fir_recv++;
        if (fb.fmt != 1 && fb.fmt != 4)
            continue;
        /* a simulcast layer's key frame: the layer the request names (a
         * FIR names it in its entry, not in the media SSRC) */
        wr_tx *t = &p->tx[1];
        uint32_t target = fb.media_ssrc;
        if (fb.fmt == 4 && fb.fci_len >= 4)
            target = (uint32_t)fb.fci[0] << 24 | (uint32_t)fb.fci[1] << 16 |
                     (uint32_t)fb.fci[2] << 8 | fb.fci[3];
        for (int k = 0; k < p->nlayers; k++) {
            if (p->layers[k].ssrc == target)
                t = &p->layers[k];
        }
        t->restart = 1;
    }
}

static void peer_pump(wr_peer *p, fl_time now)
{
    peer_flush_ice(p, now);
    fl_transport_event ev;
    while (p->tr && fl_transport_poll_event(p->tr, &ev) == 0) {
        switch (ev.type) {
        case FL_TRANSPORT_EVENT_CONNECTED:
            p->connected = 1;
            p->t.dtls = now;
            for (int i = 0; i < 2; i++)
                p->tx[i].t_base = now;
            for (int k = 0; k < p->nlayers; k++)
                p->layers[k].t_base = now;
            break;
        case FL_TRANSPORT_EVENT_FAILED:
            p->failed = 1;
            fl_log(FL_LOG_WARN, "peer %d: DTLS failed: %s", p->id, ev.reason ? ev.reason : "?");
            break;
        case FL_TRANSPORT_EVENT_RTP:
            on_rtp(p, &ev.rtp, now);
            break;
        case FL_TRANSPORT_EVENT_RTCP:
            on_rtcp(p, ev.buf);
            break;
        default:
            break;
        }
        fl_transport_event_release(&ev);
    }
    peer_flush_tr(p);
    if (p->connected)
        return; /* the 10 ms tick is enough for consent and reports */
    /* while connecting, ICE and DTLS timers run on their own deadlines (a
     * triggered check, the nomination, a flight) rather than the tick's */
    fl_time at = fl_ice_agent_poll_timeout(p->ice);
    if (p->tr && fl_transport_poll_timeout(p->tr) < at)
        at = fl_transport_poll_timeout(p->tr);
    if (at < p->next_timeout)
        p->next_timeout = at;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    wr_bench *b = h->data;
    if (status < 0)
        return;
    wr_dgrams *d = &b->dgrams;
    for (int round = 0; round < 16; round++) {
        size_t got = wr_dgrams_read(d, b->fd, b->pool, WR_DGRAM_BATCH);
        fl_time now = fl_time_now();
        for (size_t i = 0; i < got; i++) {
            fl_buf *buf = d->bufs[i];
            fl_addr src;
            fl_addr_from_sockaddr(&src, (struct sockaddr *)&d->from[i]);
            const uint8_t *data = fl_buf_data(buf);
            int stun = buf->len >= 20 && data[0] < 2;
            wr_peer *p = peer_at(b, d->to[i]);
            if (!p) {
                fl_buf_unref(buf);
                continue;
            }
            if (stun) {
                fl_ice_agent_handle_input(p->ice, now, 0, &src, data, buf->len);
                fl_buf_unref(buf);
            } else if (p->tr) {
                fl_transport_handle_input(p->tr, now, buf);
            } else {
                fl_buf_unref(buf);
            }
            peer_pump(p, now);
        }
        if (got < WR_DGRAM_BATCH)
            break;
    }
    flush_sends(b);
}

static fl_time last_reports, last_stall_check;

static void on_tick(uv_timer_t *h)
{
    wr_bench *b = h->data;
    fl_time now = fl_time_now();
    int reports = now - last_reports >= FL_TIME_SEC;
    if (reports)
        last_reports = now;
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        if (now >= p->next_timeout) {
            fl_ice_agent_handle_timeout(p->ice, now);
            if (p->tr)
                fl_transport_handle_timeout(p->tr, now);
            p->next_timeout = now + 10 * FL_TIME_MS;
        }
        if (p->connected) {
            send_media(p, &p->tx[0], now);
            send_media(p, &p->tx[1], now);
            for (int k = 0; k < p->nlayers; k++)
                send_media(p, &p->layers[k], now);
            if (reports)
                send_reports(p, now);
        }
        peer_pump(p, now);
    }
    flush_sends(b);
    if (b->watch_stalls && now - last_stall_check >= 100 * FL_TIME_MS) {
        last_stall_check = now;
        wr_bench_check_stalls(b, now);
    }
}

/* ---- failures ---- */

void wr_bench_check_stalls(wr_bench *b, fl_time now)
{
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        for (size_t k = 0; k < p->nrx; k++) {
            wr_rx *r = &p->rx[k];
            if (!r->started || r->stalled || now - r->last_at < WR_STALL_US)
                continue;
            r->stalled = 1;
            b->stalls++;
            fprintf(stderr,
                    "fluo-bench: STALL: peer %d (%s) stream ssrc=%08x pt=%u had no packet "
                    "for %.1f s (%llu received)\n",
                    p->id, p->role ? p->role : "peer", r->ssrc, r->pt,
                    (double)(now - r->last_at) / 1e6, (unsigned long long)r->received);
            if (!b->fail[0])
                snprintf(b->fail, sizeof(b->fail), "peer %d (%s) stalled: stream %08x", p->id,
                         p->role ? p->role : "peer", r->ssrc);
            b->aborted = 1;
        }
    }
    if (b->aborted)
        uv_stop(&b->loop);
}

void wr_bench_watch_stalls(wr_bench *b)
{
    fl_time now = fl_time_now();
    for (size_t i = 0; i < b->npeers; i++) {
        for (size_t k = 0; k < b->peers[i]->nrx; k++)
            b->peers[i]->rx[k].last_at = now;
    }
    last_stall_check = now;
    b->watch_stalls = 1;
}

void wr_peer_diagnose(const wr_peer *p)
{
    static const char *const kind[2] = { "audio", "video" };
    for (int i = 0; i < 2; i++)
        fprintf(stderr,
                "fluo-bench:   peer %d client sent %s ssrc=%08x pt=%u on=%d packets=%llu "
                "first_seq=%u\n",
                p->id, kind[i], p->tx[i].ssrc, p->tx[i].pt, p->tx[i].on,
                (unsigned long long)p->tx[i].packets,
                (unsigned)(uint16_t)(p->tx[i].seq - (uint16_t)p->tx[i].packets));
    for (size_t k = 0; k < p->nrx; k++)
        fprintf(stderr, "fluo-bench:   peer %d client received ssrc=%08x pt=%u packets=%llu\n",
                p->id, p->rx[k].ssrc, p->rx[k].pt, (unsigned long long)p->rx[k].received);
    fl_transport_stats *ts = p->tr ? malloc(sizeof(*ts)) : NULL;
    if (!ts)
        return;
    fl_transport_get_stats(p->tr, ts);
    fprintf(stderr,
            "fluo-bench:   peer %d client transport: rtp_received=%llu rtp_sent=%llu "
            "not_ready=%llu srtp_replay=%llu srtp_auth=%llu srtp_other=%llu rtp_bad=%llu "
            "unknown=%llu events_dropped=%llu unknown_ssrc=%llu\n",
            p->id, (unsigned long long)ts->rtp_received, (unsigned long long)ts->rtp_sent,
            (unsigned long long)ts->media_not_ready, (unsigned long long)ts->srtp_replay,
            (unsigned long long)ts->srtp_auth, (unsigned long long)ts->srtp_other,
            (unsigned long long)ts->rtp_bad, (unsigned long long)ts->unknown,
            (unsigned long long)ts->events_dropped, (unsigned long long)p->rx_unknown);
    for (size_t k = 0; k < ts->n_inbound; k++)
        fprintf(stderr, "fluo-bench:   peer %d client transport in ssrc=%08x pt=%u packets=%llu\n",
                p->id, ts->inbound[k].ssrc, ts->inbound[k].payload_type,
                (unsigned long long)ts->inbound[k].packets);
    free(ts);
}

size_t wr_bench_check_peers(wr_bench *b)
{
    size_t bad = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        const char *role = p->role ? p->role : "peer";
        char why[160] = "";
        if (!p->connected)
            snprintf(why, sizeof(why), "did not connect (ICE %s, DTLS %s)",
                     p->have_selected ? "done" : "not done", p->failed ? "failed" : "not done");
        else if ((int)p->nrx < p->expect_streams)
            snprintf(why, sizeof(why), "received %zu of its %d streams (%llu RTP packets in all%s)",
                     p->nrx, p->expect_streams, (unsigned long long)p->rx_packets,
                     p->nrx == 1 ? (p->rx[0].pt == p->tx[1].pt ? ", video only" : ", audio only")
                                 : "");
        if (!why[0])
            continue;
        bad++;
        fprintf(stderr, "fluo-bench: FAILED: peer %d (%s) %s\n", p->id, role, why);
        if (p->connected) {
            wr_peer_diagnose(p);
            if (b->server && b->server->diagnose)
                b->server->diagnose(b, p);
        }
        if (!b->fail[0])
            snprintf(b->fail, sizeof(b->fail), "peer %d (%s) %s", p->id, role, why);
    }
    return bad;
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void wr_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
}

double wr_percentile(const double *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* ---- setup ---- */

int wr_bench_init(wr_bench *b, const char *client_ip)
{
    if (client_ip != b->client_ip)
        snprintf(b->client_ip, sizeof(b->client_ip), "%s", client_ip);
    if (fl_addr_parse(&b->local, "0.0.0.0", 0) < 0)
        return FL_EINVAL;
    b->peer_base = strncmp(client_ip, "127.", 4) == 0 ? 0x7f010000u : WR_VETH_PEER_BASE;
    b->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(b->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)fl_addr_to_sockaddr(&b->local, (struct sockaddr *)&ss, sizeof(ss));
    int sz = 16 << 20;
    setsockopt(b->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    setsockopt(b->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    if (b->fd < 0 || bind(b->fd, (struct sockaddr *)&ss, sl) < 0) {
        fprintf(stderr, "fluo-bench: cannot bind %s: %s\n", client_ip, strerror(errno));
        return FL_EIO;
    }
    sl = sizeof(ss);
    getsockname(b->fd, (struct sockaddr *)&ss, &sl);
    fl_addr_from_sockaddr(&b->local, (struct sockaddr *)&ss);
    if (fl_buf_pool_create(&b->pool, POOL_SIZE, 64, 1024, 0) < 0)
        return FL_ENOMEM;
    int64_t now_s = fl_time_wall_ms() / 1000;
    if (fl_cert_generate(&b->cert, "fluo-bench", now_s - 3600, 7 * 24 * 3600, &b->rand) < 0)
        return FL_ETLS;
    b->msgs = calloc(BATCH, sizeof(*b->msgs));
    b->iovs = calloc(BATCH, sizeof(*b->iovs));
    b->dsts = calloc(BATCH, sizeof(*b->dsts));
    b->ctls = calloc(BATCH, sizeof(*b->ctls));
    b->bufs = calloc(BATCH, sizeof(*b->bufs));
    b->lat_cap = LAT_CAP;
    b->lat_ms = malloc(LAT_CAP * sizeof(double));
    if (!b->msgs || !b->iovs || !b->dsts || !b->ctls || !b->bufs || !b->lat_ms)
        return FL_ENOMEM;
    uv_loop_init(&b->loop);
    uv_poll_init(&b->loop, &b->poll, b->fd);
    b->poll.data = b;
    uv_poll_start(&b->poll, UV_READABLE, on_readable);
    uv_timer_init(&b->loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
    return 0;
}

static void peer_destroy(wr_peer *p)
{
    if (p->slot < p->b->nslots && p->b->slots[p->slot] == p)
        p->b->slots[p->slot] = NULL;
    if (p->tr)
        fl_transport_destroy(p->tr);
    fl_ice_agent_destroy(p->ice);
    free(p->local);
    free(p);
}

void wr_bench_deinit(wr_bench *b)
{
    if (b->npeers) {
        flush_sends(b);
        for (size_t i = 0; i < b->npeers; i++)
            peer_destroy(b->peers[i]);
    }
    free(b->peers);
    free(b->slots);
    if (b->fd > 0) {
        uv_poll_stop(&b->poll);
        uv_close((uv_handle_t *)&b->poll, NULL);
        uv_close((uv_handle_t *)&b->tick, NULL);
        uv_run(&b->loop, UV_RUN_NOWAIT);
        uv_loop_close(&b->loop);
        close(b->fd);
    }
    if (b->pool)
        fl_buf_pool_destroy(b->pool);
    if (b->cert)
        fl_cert_destroy(b->cert);
    free(b->msgs);
    free(b->iovs);
    free(b->dsts);
    free(b->ctls);
    free(b->bufs);
    free(b->lat_ms);
}

int wr_peer_create(wr_bench *b, int offerer, wr_peer **out)
{
    wr_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    p->b = b;
    p->offerer = offerer;
    p->rtx_pt = -1;
    p->slot = SIZE_MAX;
    if (slot_take(b, p) < 0) {
        free(p);
        return FL_ENOMEM;
    }
    fl_ice_agent_config ac = { .role = offerer ? FL_ICE_ROLE_CONTROLLING : FL_ICE_ROLE_CONTROLLED,
                               .rand = &b->rand,
                               .nomination_delay = 50 * FL_TIME_MS };
    int rc = fl_ice_agent_create(&p->ice, &ac);
    fl_ice_host host = { .component = 1, .socket_id = 0, .addr = p->addr };
    if (rc == 0)
        rc = fl_ice_agent_add_host(p->ice, &host);
    if (rc == 0)
        rc = fl_ice_agent_gather(p->ice, fl_time_now());
    if (rc < 0) {
        if (p->ice)
            fl_ice_agent_destroy(p->ice);
        b->slots[p->slot] = NULL;
        free(p);
        return rc;
    }
    peer_flush_ice(p, fl_time_now());
    if (b->npeers == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        wr_peer **v = realloc(b->peers, cap * sizeof(*v));
        if (!v) {
            peer_destroy(p);
            return FL_ENOMEM;
        }
        b->peers = v;
        b->cap = cap;
    }
    p->id = b->peer_seq++;
    b->peers[b->npeers++] = p;
    for (int i = 0; i < 2; i++) {
        do
            p->tx[i].ssrc = fl_rand_u32(&b->rand);
        while (!p->tx[i].ssrc);
        /* below 2^15 as a browser starts (fl_rtp_seq_initial): a server
         * that drops our first packets, its handshake not yet done, still
         * authenticates the rest */
        p->tx[i].seq = fl_rtp_seq_initial(fl_rand_u32(&b->rand));
    }
    *out = p;
    return 0;
}

void wr_peer_remove(wr_bench *b, wr_peer *p)
{
    size_t i = 0;
    while (i < b->npeers && b->peers[i] != p)
        i++;
    if (i == b->npeers)
        return;
    b->peers[i] = b->peers[--b->npeers];
    flush_sends(b);
    peer_destroy(p);
}

static void fill_local(wr_peer *p, fl_sdp_local *l, const char **cands)
{
    memset(l, 0, sizeof(*l));
    l->ice_ufrag = fl_ice_agent_local_ufrag(p->ice);
    l->ice_pwd = fl_ice_agent_local_pwd(p->ice);
    l->fingerprint = fl_cert_fingerprint(p->b->cert);
    static const char *const audio[] = { "opus/48000/2", NULL };
    static const char *const video[] = { "VP8/90000", NULL };
    l->audio_codecs = audio;
    l->video_codecs = video;
    l->cname = "fluobench";
    l->stream_id = "fluobench";
    l->ssrc[0] = p->tx[0].ssrc;
    l->ssrc[1] = p->tx[1].ssrc;
    l->session_id = fl_rand_u32(&p->b->rand);
    l->session_version = 1;
    l->address = p->ip;
    cands[0] = p->cand;
    l->candidates = cands;
    l->ncandidates = p->cand[0] && !p->trickle ? 1 : 0;
    l->end_of_candidates = !p->trickle;
}

/* From the negotiated local view and the remote one: ICE, DTLS, media. */
static int apply(wr_peer *p, const fl_sdp_desc *remote)
{
    const fl_sdp_desc *l = p->local;
    const fl_sdp_media *rm0 = NULL;
    fl_sdp_setup ours = FL_SDP_SETUP_NONE;
    for (size_t i = 0; i < l->nmedia && i < remote->nmedia; i++) {
        const fl_sdp_media *lm = &l->media[i];
        if (lm->rejected || remote->media[i].rejected)
            continue;
        if (!rm0) {
            rm0 = &remote->media[i];
            ours = lm->setup;
        }
        const fl_sdp_codec *c = fl_sdp_media_main_codec(lm);
        int k = lm->kind == FL_SDP_KIND_AUDIO ? 0 : lm->kind == FL_SDP_KIND_VIDEO ? 1 : -1;
        if (k < 0 || !c)
            continue;
        wr_tx *t = &p->tx[k];
        t->pt = c->pt;
        if (k)
            p->rtx_pt = c->rtx_pt;
        t->clip = k ? p->b->video : p->b->audio;
        t->on = lm->dir == FL_SDP_DIR_SENDRECV || lm->dir == FL_SDP_DIR_SENDONLY;
        for (int j = 0; k && j < p->nlayers; j++) {
            p->layers[j].pt = c->pt;
            p->layers[j].on = t->on;
        }
        if (k && p->nlayers)
            t->on = 0; /* the layers send the video */
    }
    if (!rm0)
        return FL_ENOTSUP;
    if (ours == FL_SDP_SETUP_ACTPASS)
        ours = rm0->setup == FL_SDP_SETUP_ACTIVE ? FL_SDP_SETUP_PASSIVE : FL_SDP_SETUP_ACTIVE;
    p->dtls_client = ours == FL_SDP_SETUP_ACTIVE;
    fl_time now = fl_time_now();
    int rc = fl_ice_agent_set_remote_credentials(p->ice, rm0->ice_ufrag, rm0->ice_pwd);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < remote->nmedia; i++) {
        for (size_t c = 0; c < remote->media[i].ncandidates; c++)
            wr_peer_add_candidate(p, remote->media[i].candidates[c]);
    }
    fl_transport_config tc = {
        .cert = p->b->cert,
        .role = p->dtls_client ? FL_DTLS_ROLE_CLIENT : FL_DTLS_ROLE_SERVER,
        .remote_fingerprint = rm0->fingerprint,
        .pool = p->b->pool,
        .rand = &p->b->rand,
    };
    if ((rc = fl_transport_create(&p->tr, &tc)) < 0)
        return rc;
    if (!p->dtls_client)
        start_dtls(p, now);
    peer_pump(p, now);
    return 0;
}

char *wr_peer_offer(wr_peer *p, fl_sdp_dir dir)
{
    fl_sdp_local l;
    const char *cands[1];
    fill_local(p, &l, cands);
    char *text = NULL;
    if (!(p->local = calloc(1, sizeof(*p->local))))
        return NULL;
    if (fl_sdp_offer(&l, 1, dir, 1, dir, p->local, &text) < 0)
        return NULL;
    return p->nlayers ? wr_simulcast_offer(p, text) : text;
}

static int parse(const char *text, fl_sdp_desc *d)
{
    fl_sdp *s;
    char err[200];
    int rc = fl_sdp_parse(&s, text, strlen(text), err, sizeof(err));
    if (rc == 0) {
        rc = fl_sdp_describe(s, d, err, sizeof(err));
        fl_sdp_destroy(s);
    }
    if (rc < 0)
        fprintf(stderr, "fluo-bench: the server's SDP: %s\n", err);
    return rc;
}

int wr_peer_set_answer(wr_peer *p, const char *sdp)
{
    fl_sdp_desc *r = calloc(1, sizeof(*r));
    char err[200];
    int rc = r ? parse(sdp, r) : FL_ENOMEM;
    if (rc == 0 && (rc = fl_sdp_process_answer(p->local, r, err, sizeof(err))) < 0)
        fprintf(stderr, "fluo-bench: the server's answer: %s\n", err);
    if (rc == 0)
        rc = apply(p, r);
    free(r);
    return rc;
}

char *wr_peer_answer(wr_peer *p, const char *offer)
{
    fl_sdp_desc *r = calloc(1, sizeof(*r));
    char err[200];
    char *text = NULL;
    fl_sdp_local l;
    const char *cands[1];
    fill_local(p, &l, cands);
    int rc = r ? parse(offer, r) : FL_ENOMEM;
    if (rc == 0 && !(p->local = calloc(1, sizeof(*p->local))))
        rc = FL_ENOMEM;
    if (rc == 0 && (rc = fl_sdp_answer(r, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, p->local,
                                       &text, err, sizeof(err))) < 0)
        fprintf(stderr, "fluo-bench: answering the server's offer: %s\n", err);
    if (rc == 0)
        rc = apply(p, r);
    free(r);
    if (rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}

void wr_peer_add_candidate(wr_peer *p, const char *cand)
{
    fl_ice_candidate c;
    if (fl_ice_candidate_parse(&c, cand, strlen(cand)) < 0 || c.transport != FL_ICE_UDP ||
        c.addr.family != 4)
        return;
    fl_ice_agent_add_remote(p->ice, fl_time_now(), &c);
}

size_t wr_bench_wait_connected(wr_bench *b, int timeout_s)
{
    fl_time end = fl_time_now() + (fl_time)timeout_s * FL_TIME_SEC;
    for (;;) {
        size_t n = 0, failed = 0;
        for (size_t i = 0; i < b->npeers; i++) {
            n += b->peers[i]->connected;
            failed += b->peers[i]->failed;
        }
        if (n + failed == b->npeers || fl_time_now() > end)
            return n;
        uv_run(&b->loop, UV_RUN_ONCE);
    }
}

static void on_stop(uv_timer_t *h)
{
    uv_stop(h->loop);
}

void wr_bench_run(wr_bench *b, double seconds)
{
    if (b->aborted)
        return;
    uv_timer_t t;
    uv_timer_init(&b->loop, &t);
    uv_timer_start(&t, on_stop, (uint64_t)(seconds * 1000), 0);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&b->loop, UV_RUN_NOWAIT);
}

void wr_bench_window_start(wr_bench *b)
{
    b->measuring = 1;
    b->win_rx = 0;
    b->win_in = 0;
    b->win_t0 = fl_time_now();
    b->win_t1 = INT64_MAX;
    b->nlat = 0;
    b->lat_seen = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        for (size_t k = 0; k < p->nrx; k++) {
            wr_rx *r = &p->rx[k];
            r->win_expected0 = r->started ? r->highest - r->first + 1 : 0;
            r->win_received0 = r->received;
        }
        p->tx[0].win_sent = p->tx[1].win_sent = 0;
        for (int k = 0; k < p->nlayers; k++)
            p->layers[k].win_sent = 0;
    }
}

void wr_bench_sender_loss(wr_bench *b, double grace, uint64_t *expected, uint64_t *received)
{
    b->win_t1 = fl_time_now();
    b->measuring = 1; /* latency of the window's packets still in flight */
    wr_bench_run(b, grace);
    b->measuring = 0;
    *expected = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        const wr_peer *p = b->peers[i];
        *expected += (p->tx[0].win_sent + p->tx[1].win_sent) * (uint64_t)p->subscribers;
        for (int k = 0; k < p->nlayers; k++)
            *expected += p->layers[k].win_sent * (uint64_t)p->layer_subs[k];
    }
    *received = b->win_in;
}

void wr_bench_window_end(wr_bench *b, uint64_t *expected, uint64_t *received)
{
    b->measuring = 0;
    *expected = *received = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        for (size_t k = 0; k < p->nrx; k++) {
            wr_rx *r = &p->rx[k];
            uint64_t e = r->started ? r->highest - r->first + 1 : 0;
            *expected += e - r->win_expected0;
            *received += r->received - r->win_received0;
        }
    }
}

/* ---- /proc ---- */

int wr_proc_cpu_us(pid_t pid, uint64_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return FL_EIO;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return FL_EIO;
    unsigned long long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return FL_EIO;
    long hz = sysconf(_SC_CLK_TCK);
    *out = (uint64_t)(ut + st) * 1000000ull / (uint64_t)hz;
    return 0;
}

int wr_pin_process(pid_t pid, uint64_t cpus)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return FL_EIO;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < WR_MAX_CPUS; cpu++) {
        if (cpus >> cpu & 1)
            CPU_SET(cpu, &set);
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.' && sched_setaffinity(atoi(e->d_name), sizeof(set), &set) < 0)
            rc = FL_EIO;
    }
    closedir(d);
    return rc;
}

int wr_cpu_irq_us(uint64_t cpus, uint64_t *out)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return FL_EIO;
    char line[512];
    uint64_t ticks = 0, seen = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned cpu;
        unsigned long long irq = 0, softirq = 0;
        /* cpuN user nice system idle iowait irq softirq ... (USER_HZ);
         * "cpu " is every core's sum */
        if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9' &&
            sscanf(line, "cpu%u %*u %*u %*u %*u %*u %llu %llu", &cpu, &irq, &softirq) == 3 &&
            cpu < WR_MAX_CPUS && (cpus >> cpu & 1)) {
            ticks += irq + softirq;
            seen |= 1ull << cpu;
        }
    }
    fclose(f);
    if (seen != cpus)
        return FL_EIO;
    *out = ticks * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    return 0;
}

int wr_proc_fds(pid_t pid, uint64_t *out)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return FL_EIO;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    *out = n;
    return 0;
}

int wr_proc_rss_kb(pid_t pid, uint64_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return FL_EIO;
    int rc = FL_EIO;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
            *out = kb;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *wr_default_fluo_bin(const char *argv0)
{
    static char path[512];
    const char *slash = strrchr(argv0, '/');
    snprintf(path, sizeof(path), "%.*sfluo", slash ? (int)(slash - argv0 + 1) : 0, argv0);
    return path;
}
