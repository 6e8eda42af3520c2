/* net/transport: DTLS-SRTP media transport, or plain RTP, or SRTP keyed
 * from SDP (see transport.h). Without DTLS (PLAIN, SDES) t->dtls is NULL
 * and the transport is CONNECTED from fl_transport_start; PLAIN has no
 * SRTP sessions (t->in, t->out NULL). */
#include "net/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "net/rtcp.h"
#include "net/srtp.h"

FL_LOG_TAG("transport");

#define SR_HISTORY      8
#define CONTROL_RESERVE 4
#define EVQ_MIN         4 /* the event ring's first size */

typedef struct in_ssrc {
    uint32_t ssrc;
    uint8_t pt;
    uint32_t clock_rate;
    fl_rtp_rx_stats rx;
    uint64_t packets, bytes, header_bytes;
    uint8_t fraction_lost;
    uint64_t sr_received;
    uint32_t last_sr_mid;
    uint32_t last_sr_rtp; /* the RTP timestamp the last SR paired with its NTP time */
    int64_t last_sr_sent; /* that NTP time, in µs */
    fl_time last_sr_arrival;
} in_ssrc;

typedef struct sr_sent {
    uint32_t mid;
    fl_time at;
    int used;
} sr_sent;

typedef struct out_ssrc {
    uint32_t ssrc;
    uint64_t packets, bytes, sr_sent_count;
    sr_sent srs[SR_HISTORY];
    size_t sr_next;
    int64_t rtt_us;
    uint8_t remote_fraction_lost;
    int32_t remote_packets_lost;
    uint32_t remote_jitter;
} out_ssrc;

struct fl_transport {
    /* the peer's clock against ours: the least (arrival - NTP time) of its
     * Sender Reports, the one least delayed on the way (sr_offset_set: one
     * came) */
    fl_time sr_offset;
    int sr_offset_set;
    fl_dtls *dtls;
    fl_buf_pool *pool;
    fl_srtp *in, *out;
    fl_dtls_srtp_profile profile;
    fl_transport_mode mode;
    fl_srtp_profile sdes_profile;
    int started, connected, ended;
    int app_data;
    int failed_err;
    char reason[160];
    uint32_t replay_window;
    /* transmit queue, linked through fl_buf.next */
    fl_buf *txq_head, *txq_tail;
    size_t txq_len, txq_max;
    size_t evq_head, evq_len, evq_cap;
    fl_transport_clock_rate rates[FL_TRANSPORT_MAX_CLOCK_RATES];
    size_t n_rates;
    int64_t wall_offset_us;
    in_ssrc in_ssrcs[FL_TRANSPORT_MAX_SSRCS];
    size_t n_in;
    out_ssrc out_ssrcs[FL_TRANSPORT_MAX_SSRCS];
    size_t n_out;
    fl_transport_stats st; /* counters first; the rest is filled by get_stats */
    /* the event ring: drained after each datagram and restarting at slot 0,
     * it is allocated at the first event and doubled when full (up to
     * FL_TRANSPORT_EVENT_QUEUE), so it holds what the deepest burst needed
     * (an idle transport a few slots, not 17 kB) */
    fl_transport_event *evq;
};

/* ---- queues ---- */

static void txq_push(fl_transport *t, fl_buf *b)
{
    b->next = NULL;
    if (t->txq_tail)
        t->txq_tail->next = b;
    else
        t->txq_head = b;
    t->txq_tail = b;
    t->txq_len++;
}

/* Doubles the event ring (the first: EVQ_MIN slots), its events moved to
 * the start of the new one. */
static int evq_grow(fl_transport *t)
{
    size_t cap = t->evq_cap ? t->evq_cap * 2 : EVQ_MIN;
    if (cap > FL_TRANSPORT_EVENT_QUEUE)
        cap = FL_TRANSPORT_EVENT_QUEUE;
    fl_transport_event *n = malloc(cap * sizeof(*n));
    if (!n)
        return FL_ENOMEM;
    for (size_t i = 0; i < t->evq_len; i++)
        n[i] = t->evq[(t->evq_head + i) % t->evq_cap];
    free(t->evq);
    t->evq = n;
    t->evq_head = 0;
    t->evq_cap = cap;
    return 0;
}

static int evq_push(fl_transport *t, const fl_transport_event *ev)
{
    int media = ev->type == FL_TRANSPORT_EVENT_RTP || ev->type == FL_TRANSPORT_EVENT_RTCP ||
                ev->type == FL_TRANSPORT_EVENT_DATA;
    size_t limit = FL_TRANSPORT_EVENT_QUEUE - (media ? CONTROL_RESERVE : 0);
    if (t->evq_len >= limit || (t->evq_len == t->evq_cap && evq_grow(t) < 0)) {
        t->st.events_dropped++;
        return FL_EAGAIN;
    }
    t->evq[(t->evq_head + t->evq_len) % t->evq_cap] = *ev;
    t->evq_len++;
    return 0;
}

static void push_control(fl_transport *t, fl_transport_event_type type)
{
    fl_transport_event ev = { .type = type, .profile = t->profile };
    if (type == FL_TRANSPORT_EVENT_FAILED) {
        ev.err = t->failed_err;
        ev.reason = t->reason;
    }
    evq_push(t, &ev);
}

/* ---- DTLS ---- */

static void fail(fl_transport *t, int err, const char *reason)
{
    if (t->ended)
        return;
    t->ended = 1;
    t->failed_err = err;
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
    push_control(t, FL_TRANSPORT_EVENT_FAILED);
}

static int make_srtp(fl_transport *t, const fl_dtls_srtp_keys *k)
{
    fl_srtp_config c = { 0 };
    c.profile = (fl_srtp_profile)k->profile;
    c.key_len = k->key_len;
    c.salt_len = k->salt_len;
    c.replay_window = t->replay_window;
    c.direction = FL_SRTP_INBOUND;
    c.key = k->remote_master;
    c.salt = k->remote_master + k->key_len;
    int err = fl_srtp_create(&t->in, &c);
    if (err)
        return err;
    c.direction = FL_SRTP_OUTBOUND;
    c.key = k->local_master;
    c.salt = k->local_master + k->key_len;
    return fl_srtp_create(&t->out, &c);
}

static void on_dtls_event(fl_transport *t, fl_dtls_event *ev)
{
    if (ev->type == FL_DTLS_EVENT_CONNECTED) {
        if (ev->srtp.profile == FL_DTLS_SRTP_NONE) {
            fail(t, FL_ENOTSUP, "DTLS connected but the peer did not negotiate use_srtp");
        } else {
            int err = make_srtp(t, &ev->srtp);
            if (err) {
                fl_srtp_destroy(t->in);
                fl_srtp_destroy(t->out);
                t->in = t->out = NULL;
                fail(t, err, "SRTP session setup failed");
            } else if (!t->ended) {
                t->profile = ev->srtp.profile;
                t->connected = 1;
                fl_log(FL_LOG_DEBUG, "connected, %s", fl_dtls_srtp_profile_name(t->profile));
                push_control(t, FL_TRANSPORT_EVENT_CONNECTED);
            }
        }
    } else if (ev->type == FL_DTLS_EVENT_FAILED) {
        fail(t, ev->err, ev->reason);
    } else if (!t->ended) {
        t->ended = 1;
        push_control(t, FL_TRANSPORT_EVENT_CLOSED);
    }
    memset(&ev->srtp, 0, sizeof(ev->srtp)); /* wipe the secrets */
}

/* Moves DTLS output and events into ours. */
static void pump_dtls(fl_transport *t)
{
    fl_bytes g;
    while (fl_dtls_poll_transmit(t->dtls, &g) == 0) {
        fl_buf *b = fl_buf_pool_get(t->pool);
        if (!b || fl_buf_tailroom(b) < g.len) {
            t->st.tx_dropped++;
            if (b)
                fl_buf_unref(b);
        } else {
            memcpy(fl_buf_data(b), g.data, g.len);
            b->len = (uint32_t)g.len;
            txq_push(t, b);
        }
        fl_bytes_deinit(&g);
    }
    while (fl_dtls_poll_data(t->dtls, &g) == 0) {
        fl_buf *b = t->app_data && !t->ended ? fl_buf_pool_get(t->pool) : NULL;
        if (b && fl_buf_tailroom(b) >= g.len) {
            memcpy(fl_buf_data(b), g.data, g.len);
            b->len = (uint32_t)g.len;
            fl_transport_event ev = { .type = FL_TRANSPORT_EVENT_DATA, .buf = b };
            if (evq_push(t, &ev) != 0)
                fl_buf_unref(b);
        } else {
            t->st.dtls_app_dropped++;
            if (b)
                fl_buf_unref(b);
        }
        fl_bytes_deinit(&g);
    }
    fl_dtls_event ev;
    while (fl_dtls_poll_event(t->dtls, &ev) == 0)
        on_dtls_event(t, &ev);
}

/* ---- create / destroy ---- */

/* SDES: both directions keyed now from the SDP keys (key then salt). */
static int make_sdes(fl_transport *t, const fl_transport_config *cfg)
{
    size_t key_len = fl_srtp_profile_key_len(cfg->sdes_profile);
    if (key_len == 0 || !cfg->sdes_local_key || !cfg->sdes_remote_key)
        return FL_EINVAL;
    fl_dtls_srtp_keys k = { 0 };
    k.profile = (fl_dtls_srtp_profile)cfg->sdes_profile;
    k.key_len = key_len;
    k.salt_len = fl_srtp_profile_salt_len(cfg->sdes_profile);
    if (k.key_len + k.salt_len > sizeof(k.local_master))
        return FL_EINVAL;
    memcpy(k.local_master, cfg->sdes_local_key, k.key_len + k.salt_len);
    memcpy(k.remote_master, cfg->sdes_remote_key, k.key_len + k.salt_len);
    int err = make_srtp(t, &k);
    explicit_bzero(&k, sizeof(k));
    return err;
}

/* PLAIN and SDES: no DTLS; SDES keys its SRTP sessions. */
static int create_keyed(fl_transport *t, const fl_transport_config *cfg)
{
    if (cfg->mode != FL_TRANSPORT_PLAIN && cfg->mode != FL_TRANSPORT_SDES)
        return FL_EINVAL;
    t->mode = cfg->mode;
    if (cfg->mode == FL_TRANSPORT_PLAIN)
        return 0;
    t->sdes_profile = cfg->sdes_profile;
    int err = make_sdes(t, cfg);
    if (err) {
        fl_srtp_destroy(t->in);
        fl_srtp_destroy(t->out);
        t->in = t->out = NULL;
    }
    return err;
}

int fl_transport_create(fl_transport **out, const fl_transport_config *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->pool || cfg->n_clock_rates > FL_TRANSPORT_MAX_CLOCK_RATES)
        return FL_EINVAL;
    fl_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return FL_ENOMEM;
    t->replay_window = cfg->replay_window;
    if (cfg->mode != FL_TRANSPORT_DTLS) {
        int err = create_keyed(t, cfg);
        if (err) {
            free(t);
            return err;
        }
        goto configure;
    }
    fl_dtls_config dc = { 0 };
    dc.cert = cfg->cert;
    dc.role = cfg->role;
    dc.remote_fingerprint = cfg->remote_fingerprint;
    memcpy(dc.profiles, cfg->profiles, sizeof(dc.profiles));
    dc.n_profiles = cfg->n_profiles;
    dc.mtu = cfg->mtu;
    dc.hs_timeout_min_ms = cfg->hs_timeout_min_ms;
    dc.hs_timeout_max_ms = cfg->hs_timeout_max_ms;
    dc.rand = cfg->rand;
    int err = fl_dtls_create(&t->dtls, &dc);
    if (err) {
        free(t);
        return err;
    }
configure:
    t->pool = cfg->pool;
    t->replay_window = cfg->replay_window;
    t->txq_max = cfg->tx_queue_max ? cfg->tx_queue_max : FL_TRANSPORT_DEFAULT_TXQ;
    memcpy(t->rates, cfg->clock_rates, sizeof(t->rates));
    t->n_rates = cfg->n_clock_rates;
    t->wall_offset_us = cfg->wall_offset_us;
    t->app_data = cfg->app_data;
    t->st.rtt_us = -1;
    *out = t;
    return 0;
}

void fl_transport_destroy(fl_transport *t)
{
    if (!t)
        return;
    while (t->txq_head) {
        fl_buf *b = t->txq_head;
        t->txq_head = b->next;
        fl_buf_unref(b);
    }
    fl_transport_event ev;
    while (fl_transport_poll_event(t, &ev) == 0)
        fl_transport_event_release(&ev);
    fl_srtp_destroy(t->in);
    fl_srtp_destroy(t->out);
    if (t->dtls)
        fl_dtls_destroy(t->dtls);
    free(t->evq);
    free(t);
}

int fl_transport_start(fl_transport *t, fl_time now)
{
    if (!t->dtls) {
        if (t->started || t->ended)
            return FL_ESTATE;
        t->started = t->connected = 1;
        t->profile = t->mode == FL_TRANSPORT_SDES ? (fl_dtls_srtp_profile)t->sdes_profile
                                                  : FL_DTLS_SRTP_NONE;
        fl_log(FL_LOG_DEBUG, "connected, %s",
               t->mode == FL_TRANSPORT_SDES ? "SRTP keyed from SDP" : "plain RTP");
        push_control(t, FL_TRANSPORT_EVENT_CONNECTED);
        return 0;
    }
    int err = fl_dtls_start(t->dtls, now);
    pump_dtls(t);
    return err;
}

int fl_transport_set_remote_fingerprint(fl_transport *t, const char *sdp_value)
{
    if (!t->dtls)
        return FL_ESTATE;
    int err = fl_dtls_set_remote_fingerprint(t->dtls, sdp_value);
    pump_dtls(t);
    return err;
}

int fl_transport_handle_timeout(fl_transport *t, fl_time now)
{
    if (!t->dtls)
        return 0;
    int err = fl_dtls_handle_timeout(t->dtls, now);
    pump_dtls(t);
    return err;
}

fl_time fl_transport_poll_timeout(const fl_transport *t)
{
    return t->dtls ? fl_dtls_poll_timeout(t->dtls) : FL_TIME_NEVER;
}

int fl_transport_close(fl_transport *t)
{
    if (!t->dtls) {
        t->ended = 1;
        return 0;
    }
    int err = fl_dtls_close(t->dtls);
    t->ended = 1;
    pump_dtls(t);
    return err;
}

int fl_transport_sender_report(const fl_transport *t,
                               uint32_t ssrc,
                               uint32_t *rtp_ts,
                               fl_time *sent)
{
    for (size_t i = 0; i < t->n_in; i++) {
        const in_ssrc *s = &t->in_ssrcs[i];
        if (s->ssrc != ssrc)
            continue;
        if (!s->sr_received)
            break;
        *rtp_ts = s->last_sr_rtp;
        *sent = s->last_sr_sent + t->sr_offset;
        return 0;
    }
    return FL_ENOENT;
}

fl_dtls_state fl_transport_get_state(const fl_transport *t)
{
    if (!t->dtls)
        return t->ended       ? FL_DTLS_STATE_CLOSED
               : t->connected ? FL_DTLS_STATE_CONNECTED
                              : FL_DTLS_STATE_NEW;
    return fl_dtls_get_state(t->dtls);
}

/* ---- SSRC tables ---- */

uint32_t fl_transport_get_clock_rate(const fl_transport *t, uint8_t pt)
{
    for (size_t i = 0; i < t->n_rates; i++)
        if (t->rates[i].payload_type == pt && t->rates[i].rate)
            return t->rates[i].rate;
    if (pt == 0 || pt == 8 || pt == 9)
        return 8000;
    if (pt == 111)
        return 48000;
    return 90000;
}

static in_ssrc *find_in(fl_transport *t, uint32_t ssrc, int create)
{
    for (size_t i = 0; i < t->n_in; i++)
        if (t->in_ssrcs[i].ssrc == ssrc)
            return &t->in_ssrcs[i];
    if (!create || t->n_in == FL_TRANSPORT_MAX_SSRCS)
        return NULL;
    in_ssrc *s = &t->in_ssrcs[t->n_in++];
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    fl_rtp_rx_stats_init(&s->rx);
    return s;
}

static out_ssrc *find_out(fl_transport *t, uint32_t ssrc, int create)
{
    for (size_t i = 0; i < t->n_out; i++)
        if (t->out_ssrcs[i].ssrc == ssrc)
            return &t->out_ssrcs[i];
    if (!create || t->n_out == FL_TRANSPORT_MAX_SSRCS)
        return NULL;
    out_ssrc *s = &t->out_ssrcs[t->n_out++];
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->rtt_us = -1;
    return s;
}

/* now in RTP clock units (wrapping), without overflowing the product. */
static uint32_t rtp_clock(fl_time now, uint32_t rate)
{
    uint64_t us = (uint64_t)now;
    uint64_t v = (us / 1000000u) * rate + (us % 1000000u) * rate / 1000000u;
    return (uint32_t)v;
}

static uint64_t ntp_of(const fl_transport *t, fl_time now)
{
    int64_t us = now + t->wall_offset_us;
    uint64_t secs = (uint64_t)(us / 1000000) + 2208988800u;
    uint64_t frac = ((uint64_t)(us % 1000000) << 32) / 1000000u;
    return (secs << 32) | frac;
}

/* ---- input ---- */

static int srtp_drop(fl_transport *t, int err)
{
    if (err == FL_SRTP_EREPLAY)
        t->st.srtp_replay++;
    else if (err == FL_EAUTH)
        t->st.srtp_auth++;
    else
        t->st.srtp_other++;
    return err;
}

static int input_rtp(fl_transport *t, fl_time now, fl_buf *buf)
{
    int err = t->in ? fl_srtp_unprotect(t->in, buf) : 0;
    if (err)
        return srtp_drop(t, err);
    fl_transport_event ev = { .type = FL_TRANSPORT_EVENT_RTP, .arrival = now };
    if (fl_rtp_parse(&ev.rtp, fl_buf_data(buf), buf->len) != 0) {
        t->st.rtp_bad++;
        return FL_EBADMSG;
    }
    t->st.rtp_received++;
    in_ssrc *s = find_in(t, ev.rtp.ssrc, 1);
    if (s) {
        s->pt = ev.rtp.payload_type;
        s->clock_rate = fl_transport_get_clock_rate(t, s->pt);
        s->packets++;
        s->bytes += ev.rtp.payload_len;
        s->header_bytes += buf->len - ev.rtp.payload_len;
        fl_rtp_rx_stats_update(&s->rx, ev.rtp.seq, ev.rtp.timestamp, rtp_clock(now, s->clock_rate));
    }
    ev.buf = buf;
    if (evq_push(t, &ev) != 0)
        return FL_EAGAIN;
    return 0;
}

static void on_report_block(fl_transport *t, fl_time now, const fl_rtcp_report_block *rb)
{
    out_ssrc *o = find_out(t, rb->ssrc, 0);
    if (!o)
        return;
    o->remote_fraction_lost = rb->fraction_lost;
    o->remote_packets_lost = rb->cumulative_lost;
    o->remote_jitter = rb->jitter;
    if (rb->lsr == 0)
        return;
    for (size_t i = 0; i < SR_HISTORY; i++) {
        if (!o->srs[i].used || o->srs[i].mid != rb->lsr)
            continue;
        int64_t dlsr_us = (int64_t)(((uint64_t)rb->dlsr * 1000000u) >> 16);
        int64_t rtt = now - o->srs[i].at - dlsr_us;
        o->rtt_us = rtt < 0 ? 0 : rtt;
        t->st.rtt_us = o->rtt_us;
        return;
    }
}

static void on_rtcp(fl_transport *t, fl_time now, const uint8_t *data, size_t len)
{
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    int r;
    fl_rtcp_iter_init(&it, data, len);
    while ((r = fl_rtcp_iter_next(&it, &p)) == 1) {
        if (p.type == FL_RTCP_SR) {
            fl_rtcp_sr sr;
            if (fl_rtcp_sr_parse(&p, &sr) != 0)
                continue;
            in_ssrc *s = find_in(t, sr.ssrc, 1);
            if (s) {
                s->sr_received++;
                s->last_sr_mid = fl_rtcp_ntp_mid(sr.ntp);
                s->last_sr_rtp = sr.rtp_ts;
                s->last_sr_arrival = now;
                /* NTP (32.32 fixed point, from 1900) in µs */
                s->last_sr_sent = (int64_t)(sr.ntp >> 32) * FL_TIME_SEC +
                                  (int64_t)(((sr.ntp & 0xffffffffu) * (uint64_t)FL_TIME_SEC) >> 32);
                if (!t->sr_offset_set || now - s->last_sr_sent < t->sr_offset) {
                    t->sr_offset = now - s->last_sr_sent;
                    t->sr_offset_set = 1;
                }
            }
            for (size_t i = 0; i < sr.num_reports; i++)
                on_report_block(t, now, &sr.reports[i]);
        } else if (p.type == FL_RTCP_RR) {
            fl_rtcp_rr rr;
            if (fl_rtcp_rr_parse(&p, &rr) != 0)
                continue;
            for (size_t i = 0; i < rr.num_reports; i++)
                on_report_block(t, now, &rr.reports[i]);
        }
    }
    if (r < 0)
        t->st.rtcp_bad++;
}

static int input_rtcp(fl_transport *t, fl_time now, fl_buf *buf)
{
    int err = t->in ? fl_srtp_unprotect_rtcp(t->in, buf) : 0;
    if (err)
        return srtp_drop(t, err);
    t->st.rtcp_received++;
    on_rtcp(t, now, fl_buf_data(buf), buf->len);
    fl_transport_event ev = { .type = FL_TRANSPORT_EVENT_RTCP, .arrival = now, .buf = buf };
    if (evq_push(t, &ev) != 0)
        return FL_EAGAIN;
    return 0;
}

int fl_transport_handle_input(fl_transport *t, fl_time now, fl_buf *buf)
{
    int err = 0;
    const uint8_t *d = fl_buf_data(buf);
    size_t len = buf->len;
    t->st.datagrams_received++;
    t->st.bytes_received += len;
    fl_demux_kind kind = len ? fl_demux_classify(d[0]) : FL_DEMUX_OTHER;
    if (kind == FL_DEMUX_DTLS && t->dtls) {
        fl_dtls_handle_input(t->dtls, now, d, len);
        pump_dtls(t);
    } else if (kind == FL_DEMUX_RTP && len >= 2) {
        if (!t->connected || t->ended) {
            t->st.media_not_ready++;
            err = FL_ESTATE;
        } else {
            err = fl_demux_is_rtcp(d, len) ? input_rtcp(t, now, buf) : input_rtp(t, now, buf);
            if (err == 0)
                return 0; /* the event owns buf */
        }
    } else {
        t->st.unknown++;
        err = FL_ENOTSUP;
    }
    fl_buf_unref(buf);
    return err;
}

/* ---- output ---- */

static int send_check(fl_transport *t, fl_buf *buf, int rtcp)
{
    if (!t->connected || t->ended)
        return FL_ESTATE;
    if (!fl_buf_writable(buf))
        return FL_EBUSY;
    if (t->out && fl_buf_tailroom(buf) < fl_srtp_trailer_len(t->out, rtcp))
        return FL_EMSGSIZE;
    if (t->txq_len >= t->txq_max)
        return FL_EAGAIN;
    return 0;
}

int fl_transport_send_rtp(fl_transport *t, fl_time now, fl_buf *buf)
{
    (void)now;
    int err = send_check(t, buf, 0);
    if (err)
        return err;
    /* what the caller wrote with fl_rtp_buf_write is known already */
    if (!buf->rtp.parsed && fl_rtp_buf_parse(buf) != 0)
        return FL_EBADMSG;
    uint32_t ssrc = buf->rtp.ssrc;
    size_t payload = buf->rtp.payload_len;
    err = t->out ? fl_srtp_protect(t->out, buf) : 0;
    if (err)
        return err;
    out_ssrc *o = find_out(t, ssrc, 1);
    if (o) {
        o->packets++;
        o->bytes += payload;
    }
    t->st.rtp_sent++;
    txq_push(t, buf);
    return 0;
}

int fl_transport_send_rtcp(fl_transport *t, fl_time now, fl_buf *buf)
{
    int err = send_check(t, buf, 1);
    if (err)
        return err;
    int reduced = 0;
    if (fl_rtcp_compound_check(fl_buf_data(buf), buf->len, &reduced) != 0)
        return FL_EBADMSG;
    /* Remember our SRs: the peer's LSR echoes their NTP middle bits. */
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    fl_rtcp_iter_init(&it, fl_buf_data(buf), buf->len);
    while (fl_rtcp_iter_next(&it, &p) == 1) {
        fl_rtcp_sr sr;
        if (p.type != FL_RTCP_SR || fl_rtcp_sr_parse(&p, &sr) != 0)
            continue;
        out_ssrc *o = find_out(t, sr.ssrc, 1);
        if (o) {
            o->sr_sent_count++;
            o->srs[o->sr_next] = (sr_sent){ fl_rtcp_ntp_mid(sr.ntp), now, 1 };
            o->sr_next = (o->sr_next + 1) % SR_HISTORY;
        }
    }
    err = t->out ? fl_srtp_protect_rtcp(t->out, buf) : 0;
    if (err)
        return err;
    t->st.rtcp_sent++;
    txq_push(t, buf);
    return 0;
}

int fl_transport_send_data(fl_transport *t, const uint8_t *data, size_t len)
{
    if (!t->dtls || !t->connected || t->ended)
        return FL_ESTATE;
    if (t->txq_len >= t->txq_max)
        return FL_EAGAIN;
    int err = fl_dtls_send(t->dtls, data, len);
    pump_dtls(t);
    return err;
}

int fl_transport_poll_transmit(fl_transport *t, fl_buf **out)
{
    fl_buf *b = t->txq_head;
    if (!b)
        return FL_EAGAIN;
    t->txq_head = b->next;
    if (!t->txq_head)
        t->txq_tail = NULL;
    t->txq_len--;
    b->next = NULL;
    t->st.datagrams_sent++;
    t->st.bytes_sent += b->len;
    *out = b;
    return 0;
}

int fl_transport_poll_event(fl_transport *t, fl_transport_event *out)
{
    if (t->evq_len == 0)
        return FL_EAGAIN;
    *out = t->evq[t->evq_head];
    t->evq_head = (t->evq_head + 1) % t->evq_cap;
    if (--t->evq_len == 0)
        t->evq_head = 0;
    return 0;
}

/* ---- reports ---- */

static size_t fill_blocks(fl_transport *t, fl_time now, fl_rtcp_report_block *rb)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_in && n < FL_RTCP_MAX_COUNT; i++) {
        in_ssrc *s = &t->in_ssrcs[i];
        if (!s->rx.started || s->rx.probation)
            continue;
        fl_rtp_report r;
        fl_rtp_rx_stats_report(&s->rx, &r);
        s->fraction_lost = r.fraction_lost;
        fl_rtcp_report_block *b = &rb[n++];
        b->ssrc = s->ssrc;
        b->fraction_lost = r.fraction_lost;
        b->cumulative_lost = r.cumulative_lost;
        b->ext_highest_seq = r.ext_highest_seq;
        b->jitter = r.jitter;
        b->lsr = s->sr_received ? s->last_sr_mid : 0;
        b->dlsr = s->sr_received
                          ? (uint32_t)(((uint64_t)(now - s->last_sr_arrival) << 16) / 1000000u)
                          : 0;
    }
    return n;
}

int fl_transport_write_sr(fl_transport *t,
                          fl_time now,
                          uint32_t ssrc,
                          uint32_t rtp_ts,
                          uint32_t packets,
                          uint32_t octets,
                          fl_buf *buf)
{
    fl_rtcp_sr sr;
    memset(&sr, 0, sizeof(sr));
    sr.ssrc = ssrc;
    sr.ntp = ntp_of(t, now);
    sr.rtp_ts = rtp_ts;
    sr.packet_count = packets;
    sr.octet_count = octets;
    sr.num_reports = fill_blocks(t, now, sr.reports);
    size_t n = 0;
    size_t cap = buf->cap - buf->off;
    int err = fl_rtcp_sr_write(fl_buf_data(buf), cap, &sr, &n);
    if (err)
        return err;
    buf->len = (uint32_t)n;
    return 0;
}

int fl_transport_write_rr(fl_transport *t, fl_time now, uint32_t ssrc, fl_buf *buf)
{
    fl_rtcp_rr rr;
    memset(&rr, 0, sizeof(rr));
    rr.ssrc = ssrc;
    rr.num_reports = fill_blocks(t, now, rr.reports);
    size_t n = 0;
    int err = fl_rtcp_rr_write(fl_buf_data(buf), buf->cap - buf->off, &rr, &n);
    if (err)
        return err;
    buf->len = (uint32_t)n;
    return 0;
}

/* ---- stats ---- */

void fl_transport_get_stats(const fl_transport *t, fl_transport_stats *out)
{
    *out = t->st;
    out->dtls_state = fl_transport_get_state(t);
    out->role = t->dtls ? fl_dtls_get_role(t->dtls) : 0;
    out->profile = t->profile;
    out->dtls_dropped = t->dtls ? fl_dtls_dropped(t->dtls) : 0;
    fl_srtp_stats ss;
    const fl_srtp *both[2] = { t->in, t->out };
    for (int i = 0; i < 2; i++) {
        if (!both[i])
            continue;
        fl_srtp_get_stats(both[i], &ss);
        out->srtp_key_soft_limit += ss.key_soft_limits;
    }
    out->n_inbound = t->n_in;
    for (size_t i = 0; i < t->n_in; i++) {
        const in_ssrc *s = &t->in_ssrcs[i];
        fl_transport_inbound_stats *o = &out->inbound[i];
        memset(o, 0, sizeof(*o));
        o->ssrc = s->ssrc;
        o->payload_type = s->pt;
        o->clock_rate = s->clock_rate;
        o->packets = s->packets;
        o->bytes = s->bytes;
        o->header_bytes = s->header_bytes;
        o->packets_lost = s->rx.started && !s->rx.probation ? fl_rtp_rx_stats_lost(&s->rx) : 0;
        o->fraction_lost = s->fraction_lost;
        o->jitter = s->rx.jitter_q4 >> 4;
        o->jitter_s = s->clock_rate ? (double)o->jitter / s->clock_rate : 0;
        o->duplicates = s->rx.duplicates;
        o->sr_received = s->sr_received;
        o->last_sr_arrival = s->last_sr_arrival;
    }
    out->n_outbound = t->n_out;
    for (size_t i = 0; i < t->n_out; i++) {
        const out_ssrc *s = &t->out_ssrcs[i];
        fl_transport_outbound_stats *o = &out->outbound[i];
        memset(o, 0, sizeof(*o));
        o->ssrc = s->ssrc;
        o->packets = s->packets;
        o->bytes = s->bytes;
        o->sr_sent = s->sr_sent_count;
        o->rtt_us = s->rtt_us;
        o->remote_fraction_lost = s->remote_fraction_lost;
        o->remote_packets_lost = s->remote_packets_lost;
        o->remote_jitter = s->remote_jitter;
    }
}
