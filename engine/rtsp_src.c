/* The RTSP 1.0 client of a PlayerEndpoint (fl__rtsp, engine/player_src.h):
 * libuv I/O around net/rtsp's sans-IO pieces.
 *
 * One TCP connection carries the requests, one at a time: OPTIONS,
 * DESCRIBE (401 answered once with the URI's credentials), SETUP per
 * stream (UDP on an even/odd port pair, or interleaved channels 2i/2i+1;
 * a 461 to UDP moves that stream and the rest to TCP), then ready(); PLAY,
 * PAUSE, keep-alives at half the session timeout, TEARDOWN on close. RTP
 * comes by UDP or as interleaved frames and goes to rtp() as it is; RTCP
 * from the server gives sender_report() (SR) and ended() (BYE on every
 * stream); receiver reports go back every RR_INTERVAL_MS and a PLI on
 * request. Every callback runs from a libuv callback, never from within
 * the call that caused it; after failed() or ended() nothing more comes. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "codec/codec.h"
#include "engine/fluo.h"
#include "engine/player_src.h"
#include "net/httpauth.h"
#include "net/rtcp.h"
#include "net/rtsp.h"

FL_LOG_TAG("rtsp");

#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 10000
#define TICK_MS            1000
#define RR_INTERVAL_MS     3000
#define TCP_READ_BUF       16384
#define UDP_READ_BUF       16384
#define PORT_TRIES         64

enum {
    ST_CONNECTING = 0, /* resolving and connecting */
    ST_OPTIONS,
    ST_DESCRIBE,
    ST_SETUP,
    ST_READY, /* set up, not playing */
    ST_PLAYING,
};

typedef struct stream {
    fl__rtsp *r;
    fl__rtsp_stream pub;
    char url[FL_RTSP_MAX_URL];
    int tcp;
    int ch[2];       /* interleaved channels: RTP, RTCP */
    uv_udp_t udp[2]; /* RTP, RTCP */
    int udp_open;
    uint16_t port; /* our RTP port (even) */
    int server_port[2];
    int has_ssrc;
    uint32_t media_ssrc;
    int bye;
    /* reception statistics for receiver reports (RFC 3550 A.1, A.3) */
    int seq_init;
    uint16_t max_seq;
    uint32_t base_seq, cycles, received, expected_prior, received_prior;
    uint32_t lsr;
    uint64_t sr_at_ms;
} stream;

typedef enum action {
    ACT_NONE = 0,
    ACT_PLAY,
    ACT_PAUSE,
} action;

struct fl__rtsp {
    uv_loop_t *loop;
    fl__rtsp_cb cb;
    void *arg;
    fl_rtsp_url url;
    char where[300]; /* "host:port", for messages */
    char base[FL_RTSP_MAX_URL];
    char aggregate[FL_RTSP_MAX_URL];
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect and request timeouts; a deferred failure */
    uv_timer_t tick;  /* keep-alives and receiver reports */
    int gai_pending, tcp_open, pending_closes;
    int closing, done;
    int state;
    struct sockaddr_storage peer;
    /* the request waiting for its answer */
    uint32_t cseq;
    int outstanding;
    char method[16];
    char req_url[FL_RTSP_MAX_URL];
    char transport[128];
    action queued;
    /* authentication */
    fl_httpauth_challenge auth;
    int auth_tried;
    uint32_t nc;
    char cnonce[17];
    char session[128];
    unsigned timeout_s;
    int get_parameter;
    uint64_t last_keepalive_ms, last_rr_ms;
    /* a failure found before any libuv callback ran */
    int deferred_status;
    char deferred_why[400];
    uint32_t ssrc; /* ours, in RTCP */
    size_t n;
    stream streams[FL__RTSP_MAX_STREAMS];
    size_t setup_next;
    char skipped[256];
    fl_rtsp_reader reader;
    uint8_t tcp_buf[TCP_READ_BUF];
    uint8_t udp_buf[UDP_READ_BUF];
};

static void send_request(fl__rtsp *r, const char *method, const char *url);
static void on_tick(uv_timer_t *t);

/* ---- endings ---- */

static void on_closed(uv_handle_t *h)
{
    fl__rtsp *r = h->data;
    if (--r->pending_closes == 0 && r->closing && !r->gai_pending)
        free(r);
}

static void close_handle(fl__rtsp *r, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    h->data = r;
    r->pending_closes++;
    uv_close(h, on_closed);
}

static void stop_timers(fl__rtsp *r)
{
    uv_timer_stop(&r->timer);
    uv_timer_stop(&r->tick);
}

/* Reports a failure (once) and stops: no callback after it. */
static void fail(fl__rtsp *r, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void fail(fl__rtsp *r, int status, const char *fmt, ...)
{
    if (r->done || r->closing)
        return;
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    r->done = 1;
    stop_timers(r);
    if (r->tcp_open)
        uv_read_stop((uv_stream_t *)&r->tcp);
    fl_log(FL_LOG_INFO, "%s", why);
    r->cb.failed(r->arg, status, why);
}

static void end(fl__rtsp *r)
{
    if (r->done || r->closing)
        return;
    r->done = 1;
    stop_timers(r);
    fl_log(FL_LOG_INFO, "RTSP server %s ended the stream", r->where);
    r->cb.ended(r->arg);
}

/* ---- sending ---- */

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void tcp_send(fl__rtsp *r, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (!r->tcp_open || uv_is_closing((uv_handle_t *)&r->tcp))
        return;
    uv_write_t *req = malloc(sizeof *req + alen + blen);
    if (!req)
        return;
    uint8_t *data = (uint8_t *)(req + 1);
    memcpy(data, a, alen);
    if (blen)
        memcpy(data + alen, b, blen);
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)(alen + blen));
    if (uv_write(req, (uv_stream_t *)&r->tcp, &buf, 1, on_written) != 0)
        free(req);
}

/* Sends an RTCP packet to the server on stream s's RTCP path. */
static void rtcp_send(fl__rtsp *r, stream *s, const uint8_t *data, size_t len)
{
    if (s->tcp) {
        uint8_t hdr[4];
        if (fl_rtsp_frame_header_write(hdr, (uint8_t)s->ch[1], len) == 0)
            tcp_send(r, hdr, sizeof hdr, data, len);
        return;
    }
    if (!s->udp_open || s->server_port[1] < 0)
        return;
    struct sockaddr_storage to = r->peer;
    if (to.ss_family == AF_INET)
        ((struct sockaddr_in *)&to)->sin_port = htons((uint16_t)s->server_port[1]);
    else
        ((struct sockaddr_in6 *)&to)->sin6_port = htons((uint16_t)s->server_port[1]);
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    uv_udp_try_send(&s->udp[1], &buf, 1, (const struct sockaddr *)&to);
}

/* An RR with s's report block and an SDES CNAME into out. */
static size_t write_rr(fl__rtsp *r, stream *s, uint8_t *out, size_t cap)
{
    fl_rtcp_rr rr = { .ssrc = r->ssrc };
    if (s->seq_init && s->has_ssrc) {
        fl_rtcp_report_block *b = &rr.reports[0];
        uint32_t ext_max = s->cycles + s->max_seq;
        uint32_t expected = ext_max - s->base_seq + 1;
        int64_t lost = (int64_t)expected - s->received;
        uint32_t exp_int = expected - s->expected_prior;
        uint32_t rec_int = s->received - s->received_prior;
        int64_t lost_int = (int64_t)exp_int - rec_int;
        s->expected_prior = expected;
        s->received_prior = s->received;
        b->ssrc = s->media_ssrc;
        b->fraction_lost = exp_int == 0 || lost_int <= 0 ? 0 : (uint8_t)((lost_int << 8) / exp_int);
        b->cumulative_lost = lost > 0x7fffff    ? 0x7fffff
                             : lost < -0x800000 ? -0x800000
                                                : (int32_t)lost;
        b->ext_highest_seq = ext_max;
        b->lsr = s->lsr;
        if (s->lsr)
            b->dlsr = (uint32_t)((uv_now(r->loop) - s->sr_at_ms) * 65536 / 1000);
        rr.num_reports = 1;
    }
    size_t n = 0, m = 0;
    if (fl_rtcp_rr_write(out, cap, &rr, &n) != 0)
        return 0;
    static const char cname[] = "fluo";
    fl_rtcp_sdes sdes = { .num_chunks = 1 };
    sdes.chunks[0].ssrc = r->ssrc;
    sdes.chunks[0].num_items = 1;
    sdes.chunks[0].items[0] =
            (fl_rtcp_sdes_item){ FL_RTCP_SDES_CNAME, sizeof cname - 1, (const uint8_t *)cname };
    if (fl_rtcp_sdes_write(out + n, cap - n, &sdes, &m) != 0)
        return n;
    return n + m;
}

static void send_receiver_reports(fl__rtsp *r)
{
    uint8_t pkt[256];
    for (size_t i = 0; i < r->n; i++) {
        stream *s = &r->streams[i];
        if (!s->seq_init || s->bye)
            continue;
        size_t len = write_rr(r, s, pkt, sizeof pkt);
        if (len)
            rtcp_send(r, s, pkt, len);
    }
}

/* ---- requests ---- */

static void on_request_timeout(uv_timer_t *t)
{
    fl__rtsp *r = t->data;
    if (r->deferred_status) {
        fail(r, r->deferred_status, "%s", r->deferred_why);
        return;
    }
    if (r->state == ST_CONNECTING)
        fail(r, FL_ETIMEDOUT, "RTSP server %s: no connection within %d s", r->where,
             CONNECT_TIMEOUT_MS / 1000);
    else
        fail(r, FL_ETIMEDOUT, "RTSP server %s did not answer %s within %d s", r->where, r->method,
             REQUEST_TIMEOUT_MS / 1000);
}

/* Writes and sends r->method on r->req_url with a new CSeq (the
 * Authorization, Session and Transport the request needs added). */
static void send_current(fl__rtsp *r)
{
    fl_http_header hs[6];
    size_t n = 0;
    char authz[1024];
    hs[n++] = (fl_http_header){ "User-Agent", "fluo" };
    if (strcmp(r->method, "DESCRIBE") == 0)
        hs[n++] = (fl_http_header){ "Accept", "application/sdp" };
    if (r->transport[0])
        hs[n++] = (fl_http_header){ "Transport", r->transport };
    if (r->session[0] && strcmp(r->method, "OPTIONS") != 0)
        hs[n++] = (fl_http_header){ "Session", r->session };
    if (r->auth.scheme != FL_HTTPAUTH_NONE) {
        long len = fl_httpauth_write(authz, sizeof authz, &r->auth, r->url.user, r->url.password,
                                     r->method, r->req_url, r->cnonce, ++r->nc);
        if (len > 0)
            hs[n++] = (fl_http_header){ "Authorization", authz };
    }
    if (strcmp(r->method, "PLAY") == 0)
        hs[n++] = (fl_http_header){ "Range", "npt=0.000-" };
    fl_bytes out;
    fl_bytes_init(&out);
    int rc = fl_rtsp_request_write(&out, r->method, r->req_url, ++r->cseq, hs, n);
    if (rc < 0) {
        fl_bytes_deinit(&out);
        fail(r, rc, "RTSP server %s: cannot write %s for %s (%s)", r->where, r->method, r->req_url,
             fl_strerror(rc));
        return;
    }
    fl_log(FL_LOG_DEBUG, "%s %s CSeq %u", r->method, r->req_url, r->cseq);
    tcp_send(r, out.data, out.len, NULL, 0);
    fl_bytes_deinit(&out);
    r->outstanding = 1;
    uv_timer_start(&r->timer, on_request_timeout, REQUEST_TIMEOUT_MS, 0);
}

static void send_request(fl__rtsp *r, const char *method, const char *url)
{
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->req_url, sizeof r->req_url, "%s", url);
    r->transport[0] = '\0';
    send_current(r);
}

static void run_queued(fl__rtsp *r)
{
    action a = r->queued;
    r->queued = ACT_NONE;
    if (a == ACT_PLAY)
        send_request(r, "PLAY", r->aggregate);
    else if (a == ACT_PAUSE)
        send_request(r, "PAUSE", r->aggregate);
}

/* ---- media ---- */

static void track_seq(stream *s, uint16_t seq)
{
    if (!s->seq_init) {
        s->seq_init = 1;
        s->base_seq = seq;
        s->max_seq = seq;
        s->received = 1;
        return;
    }
    uint16_t delta = (uint16_t)(seq - s->max_seq);
    if (delta != 0 && delta < 0x8000) {
        if (seq < s->max_seq)
            s->cycles += 65536;
        s->max_seq = seq;
    }
    s->received++;
}

static void on_rtp(fl__rtsp *r, size_t i, const uint8_t *data, size_t len)
{
    stream *s = &r->streams[i];
    if (len < 12 || (data[0] >> 6) != 2 || r->done)
        return;
    uint32_t ssrc =
            (uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 | (uint32_t)data[10] << 8 | data[11];
    if (!s->has_ssrc) {
        s->has_ssrc = 1;
        s->media_ssrc = ssrc;
    } else if (ssrc != s->media_ssrc) {
        if (s->seq_init)
            return; /* another source on this stream: not ours */
        s->media_ssrc = ssrc;
    }
    track_seq(s, (uint16_t)(data[2] << 8 | data[3]));
    r->cb.rtp(r->arg, i, data, len);
}

static void on_rtcp(fl__rtsp *r, size_t i, const uint8_t *data, size_t len)
{
    stream *s = &r->streams[i];
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    fl_rtcp_iter_init(&it, data, len);
    while (!r->done && !r->closing && fl_rtcp_iter_next(&it, &p) == 1) {
        if (p.type == FL_RTCP_SR) {
            fl_rtcp_sr sr;
            if (fl_rtcp_sr_parse(&p, &sr) != 0 || (s->has_ssrc && sr.ssrc != s->media_ssrc))
                continue;
            s->lsr = fl_rtcp_ntp_mid(sr.ntp);
            s->sr_at_ms = uv_now(r->loop);
            r->cb.sender_report(r->arg, i, sr.rtp_ts, sr.ntp);
        } else if (p.type == FL_RTCP_BYE) {
            fl_rtcp_bye bye;
            if (fl_rtcp_bye_parse(&p, &bye) != 0)
                continue;
            for (size_t k = 0; k < bye.num_ssrcs; k++)
                if (!s->has_ssrc || bye.ssrcs[k] == s->media_ssrc)
                    s->bye = 1;
            size_t ended = 0;
            for (size_t k = 0; k < r->n; k++)
                ended += (size_t)r->streams[k].bye;
            if (ended == r->n)
                end(r);
        }
    }
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    stream *s = h->data;
    *buf = uv_buf_init((char *)s->r->udp_buf, sizeof s->r->udp_buf);
}

static void on_udp(uv_udp_t *h,
                   ssize_t nread,
                   const uv_buf_t *buf,
                   const struct sockaddr *from,
                   unsigned flags)
{
    stream *s = h->data;
    fl__rtsp *r = s->r;
    if (nread <= 0 || !from || (flags & UV_UDP_PARTIAL) || r->done || r->closing)
        return;
    fl_addr a, b;
    if (fl_addr_from_sockaddr(&a, from) != 0 ||
        fl_addr_from_sockaddr(&b, (const struct sockaddr *)&r->peer) != 0 ||
        !fl_addr_ip_equal(&a, &b))
        return; /* not from the server */
    size_t i = (size_t)(s - r->streams);
    if (h == &s->udp[0])
        on_rtp(r, i, (const uint8_t *)buf->base, (size_t)nread);
    else
        on_rtcp(r, i, (const uint8_t *)buf->base, (size_t)nread);
}

/* Binds stream s's two UDP sockets on an even port and the next one. */
static int bind_pair(fl__rtsp *r, stream *s)
{
    int family = r->peer.ss_family;
    for (int tries = 0; tries < PORT_TRIES; tries++) {
        int fd[2] = { socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1 };
        if (fd[0] < 0)
            return FL_EIO;
        struct sockaddr_storage sa;
        memset(&sa, 0, sizeof sa);
        sa.ss_family = (sa_family_t)family;
        socklen_t salen =
                family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        uint16_t port = 0;
        if (bind(fd[0], (struct sockaddr *)&sa, salen) == 0 &&
            getsockname(fd[0], (struct sockaddr *)&sa, &salen) == 0) {
            port = family == AF_INET ? ntohs(((struct sockaddr_in *)&sa)->sin_port)
                                     : ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        }
        if (port == 0 || port % 2 != 0 || port == 65534) {
            close(fd[0]);
            continue;
        }
        fd[1] = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (family == AF_INET)
            ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)(port + 1));
        else
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)(port + 1));
        if (fd[1] < 0 || bind(fd[1], (struct sockaddr *)&sa, salen) != 0) {
            close(fd[0]);
            if (fd[1] >= 0)
                close(fd[1]);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            uv_udp_init(r->loop, &s->udp[k]);
            s->udp[k].data = s;
            uv_udp_open(&s->udp[k], fd[k]);
            uv_udp_recv_start(&s->udp[k], on_udp_alloc, on_udp);
        }
        s->udp_open = 1;
        s->port = port;
        return 0;
    }
    return FL_EIO;
}

static void close_udp(fl__rtsp *r, stream *s)
{
    if (!s->udp_open)
        return;
    for (int k = 0; k < 2; k++)
        close_handle(r, (uv_handle_t *)&s->udp[k]);
    s->udp_open = 0;
}

/* ---- the session's steps ---- */

static void setup_next(fl__rtsp *r)
{
    stream *s = &r->streams[r->setup_next];
    fl_rtsp_transport t;
    memset(&t, 0, sizeof t);
    for (int k = 0; k < 2; k++)
        t.client_port[k] = t.server_port[k] = t.interleaved[k] = -1;
    if (!s->tcp && !s->udp_open && bind_pair(r, s) != 0)
        s->tcp = 1; /* no port pair: interleave instead */
    if (s->tcp) {
        t.tcp = 1;
        s->ch[0] = t.interleaved[0] = (int)(2 * r->setup_next);
        s->ch[1] = t.interleaved[1] = (int)(2 * r->setup_next + 1);
    } else {
        t.client_port[0] = s->port;
        t.client_port[1] = s->port + 1;
    }
    snprintf(r->method, sizeof r->method, "SETUP");
    snprintf(r->req_url, sizeof r->req_url, "%s", s->url);
    if (fl_rtsp_transport_write(r->transport, sizeof r->transport, &t) < 0)
        r->transport[0] = '\0';
    r->state = ST_SETUP;
    send_current(r);
}

static void ready(fl__rtsp *r)
{
    fl__rtsp_stream pub[FL__RTSP_MAX_STREAMS];
    for (size_t i = 0; i < r->n; i++)
        pub[i] = r->streams[i].pub;
    r->state = ST_READY;
    r->last_keepalive_ms = r->last_rr_ms = uv_now(r->loop);
    uv_timer_start(&r->tick, on_tick, TICK_MS, TICK_MS);
    fl_log(FL_LOG_INFO, "RTSP server %s: %zu streams set up%s%s", r->where, r->n,
           r->skipped[0] ? ", skipped: " : "", r->skipped);
    r->cb.ready(r->arg, pub, r->n, r->skipped);
}

static void add_skipped(fl__rtsp *r, const char *what)
{
    size_t len = strlen(r->skipped);
    snprintf(r->skipped + len, sizeof r->skipped - len, "%s%s", len ? ", " : "", what);
}

static int forwardable(const fl_sdp_codec *c)
{
    switch (fl_codec_kind_of(c->name)) {
    case FL_CODEC_H264:
    case FL_CODEC_VP8:
    case FL_CODEC_OPUS:
    case FL_CODEC_PCMU:
    case FL_CODEC_PCMA:
        return 1;
    default:
        return 0;
    }
}

typedef struct described {
    fl_sdp_desc desc;
    char controls[FL_SDP_MAX_MEDIA][FL_RTSP_MAX_URL];
} described;

/* Picks the streams fluo can forward out of a DESCRIBE's SDP. */
static int take_sdp(fl__rtsp *r, const uint8_t *body, size_t len, char *err, size_t errlen)
{
    fl_sdp *sdp = NULL;
    described *d = calloc(1, sizeof *d);
    if (!d)
        return FL_ENOMEM;
    char session[FL_RTSP_MAX_URL];
    size_t nmedia = 0;
    int rc = fl_sdp_parse(&sdp, (const char *)body, len, err, errlen);
    if (rc == 0)
        rc = fl_sdp_describe(sdp, &d->desc, err, errlen);
    if (rc == 0 && fl_rtsp_sdp_controls((const char *)body, len, session, sizeof session,
                                        d->controls, FL_SDP_MAX_MEDIA, &nmedia) != 0) {
        snprintf(err, errlen, "a=control too long");
        rc = FL_EBADMSG;
    }
    if (rc == 0 && fl_rtsp_url_resolve(r->aggregate, sizeof r->aggregate, r->base, session) != 0)
        rc = FL_EMSGSIZE;
    for (size_t m = 0; rc == 0 && m < d->desc.nmedia; m++) {
        const fl_sdp_media *md = &d->desc.media[m];
        const fl_sdp_codec *pick = NULL;
        for (size_t k = 0; k < md->ncodecs && !pick; k++)
            if (forwardable(&md->codecs[k]))
                pick = &md->codecs[k];
        char what[96];
        snprintf(what, sizeof what, "%s %s/%u", md->kind_name,
                 md->ncodecs ? md->codecs[0].name : "?",
                 md->ncodecs ? (unsigned)md->codecs[0].clock_rate : 0u);
        if (!pick || (md->kind != FL_SDP_KIND_AUDIO && md->kind != FL_SDP_KIND_VIDEO) ||
            r->n == FL__RTSP_MAX_STREAMS) {
            add_skipped(r, what);
            continue;
        }
        stream *s = &r->streams[r->n];
        if (fl_rtsp_url_resolve(s->url, sizeof s->url, r->base, d->controls[m]) != 0) {
            add_skipped(r, what);
            continue;
        }
        s->pub.media = md->kind == FL_SDP_KIND_VIDEO ? FL_MEDIA_VIDEO : FL_MEDIA_AUDIO;
        s->pub.codec = *pick;
        s->tcp = r->url.tcp;
        s->r = r;
        s->server_port[0] = s->server_port[1] = -1;
        r->n++;
    }
    fl_sdp_destroy(sdp);
    free(d);
    return rc;
}

/* A 401: answers the challenge once with the URI's credentials. */
static void unauthorized(fl__rtsp *r, const fl_http_head *h)
{
    fl_httpauth_challenge best;
    memset(&best, 0, sizeof best);
    for (size_t i = 0; i < h->header_count; i++)
        if (strcasecmp(h->headers[i].name, "WWW-Authenticate") == 0)
            fl_httpauth_challenge_pick(&best, h->headers[i].value);
    int stale =
            best.scheme == FL_HTTPAUTH_DIGEST && best.stale && r->auth.scheme != FL_HTTPAUTH_NONE;
    if (!r->url.has_credentials || best.scheme == FL_HTTPAUTH_NONE || (r->auth_tried && !stale)) {
        fail(r, FL_EAUTH, "RTSP server %s refused the login (401 Unauthorized)", r->where);
        return;
    }
    r->auth = best;
    r->auth_tried = 1;
    r->nc = 0;
    send_current(r);
}

static int status_error(int status)
{
    switch (status) {
    case 401:
    case 403:
        return FL_EAUTH;
    case 404:
        return FL_ENOENT;
    case 461:
        return FL_ENOTSUP;
    default:
        return FL_EPROTO;
    }
}

static void on_describe(fl__rtsp *r, const fl_rtsp_item *it)
{
    const fl_http_head *h = it->head;
    const char *base = fl_http_head_get(h, "Content-Base");
    if (!base)
        base = fl_http_head_get(h, "Content-Location");
    snprintf(r->base, sizeof r->base, "%s", base ? base : r->url.request);
    char err[160] = "";
    int rc = take_sdp(r, it->body, it->body_len, err, sizeof err);
    if (rc < 0) {
        fail(r, FL_EPROTO, "RTSP server %s sent an SDP fluo cannot read (%s)", r->where,
             err[0] ? err : fl_strerror(rc));
        return;
    }
    if (r->n == 0) {
        fail(r, FL_ENOTSUP, "RTSP server %s has no stream fluo can forward (%s)", r->where,
             r->skipped[0] ? r->skipped : "no media");
        return;
    }
    r->setup_next = 0;
    setup_next(r);
}

static void on_setup(fl__rtsp *r, const fl_rtsp_item *it)
{
    stream *s = &r->streams[r->setup_next];
    const fl_http_head *h = it->head;
    if (h->status == 461 && !s->tcp) {
        fl_log(FL_LOG_INFO, "RTSP server %s refused UDP: interleaved TCP instead", r->where);
        for (size_t i = r->setup_next; i < r->n; i++) {
            r->streams[i].tcp = 1;
            close_udp(r, &r->streams[i]);
        }
        setup_next(r);
        return;
    }
    if (h->status != 200) {
        fail(r, status_error(h->status), "RTSP server %s answered SETUP of %s with %d %s", r->where,
             s->url, h->status, h->reason);
        return;
    }
    const char *v = fl_http_head_get(h, "Session");
    unsigned timeout = 60;
    if (!v || fl_rtsp_session_parse(v, r->session, sizeof r->session, &timeout) != 0) {
        fail(r, FL_EPROTO, "RTSP server %s answered SETUP without a valid Session", r->where);
        return;
    }
    r->timeout_s = timeout;
    fl_rtsp_transport t;
    v = fl_http_head_get(h, "Transport");
    if (!v || fl_rtsp_transport_parse(&t, v) != 0 || t.tcp != s->tcp) {
        fail(r, FL_ENOTSUP,
             "RTSP server %s answered SETUP with a transport fluo did not ask for (%s)", r->where,
             v ? v : "none");
        return;
    }
    if (s->tcp) {
        if (t.interleaved[0] >= 0) {
            s->ch[0] = t.interleaved[0];
            s->ch[1] = t.interleaved[1];
        }
    } else {
        s->server_port[0] = t.server_port[0];
        s->server_port[1] = t.server_port[1];
    }
    if (t.has_ssrc) {
        s->has_ssrc = 1;
        s->media_ssrc = t.ssrc;
    }
    if (++r->setup_next < r->n) {
        setup_next(r);
        return;
    }
    r->transport[0] = '\0';
    ready(r);
}

static void on_response(fl__rtsp *r, const fl_rtsp_item *it)
{
    const fl_http_head *h = it->head;
    const char *cseq = fl_http_head_get(h, "CSeq");
    if (!r->outstanding || !cseq || strtoul(cseq, NULL, 10) != r->cseq)
        return; /* not the answer we wait for */
    r->outstanding = 0;
    uv_timer_stop(&r->timer);
    if (h->status == 401) {
        unauthorized(r, h);
        return;
    }
    switch (r->state) {
    case ST_OPTIONS: {
        const char *pub = fl_http_head_get(h, "Public");
        r->get_parameter = pub && fl_http_token_list_has(pub, "GET_PARAMETER");
        r->state = ST_DESCRIBE;
        send_request(r, "DESCRIBE", r->url.request);
        return;
    }
    case ST_DESCRIBE:
        if (h->status != 200) {
            fail(r, status_error(h->status), "RTSP server %s answered DESCRIBE of %s with %d %s",
                 r->where, r->url.request, h->status, h->reason);
            return;
        }
        on_describe(r, it);
        return;
    case ST_SETUP:
        on_setup(r, it);
        return;
    default:
        break;
    }
    /* PLAY, PAUSE and keep-alives */
    if (h->status != 200 && (strcmp(r->method, "PLAY") == 0 || strcmp(r->method, "PAUSE") == 0)) {
        fail(r, status_error(h->status), "RTSP server %s answered %s with %d %s", r->where,
             r->method, h->status, h->reason);
        return;
    }
    if (strcmp(r->method, "PLAY") == 0) {
        r->state = ST_PLAYING;
    } else if (strcmp(r->method, "PAUSE") == 0) {
        r->state = ST_READY;
    }
    run_queued(r);
}

/* A request from the server: OPTIONS and GET_PARAMETER are answered 200,
 * anything else 501. */
static void on_server_request(fl__rtsp *r, const fl_http_head *h)
{
    int ok = strcmp(h->method, "OPTIONS") == 0 || strcmp(h->method, "GET_PARAMETER") == 0;
    fl_bytes out;
    fl_bytes_init(&out);
    if (fl_rtsp_response_write(&out, ok ? 200 : 501, fl_http_head_get(h, "CSeq")) == 0)
        tcp_send(r, out.data, out.len, NULL, 0);
    fl_bytes_deinit(&out);
}

static void on_frame(fl__rtsp *r, const fl_rtsp_item *it)
{
    for (size_t i = 0; i < r->n; i++) {
        stream *s = &r->streams[i];
        if (!s->tcp)
            continue;
        if (it->channel == s->ch[0])
            on_rtp(r, i, it->data, it->len);
        else if (it->channel == s->ch[1])
            on_rtcp(r, i, it->data, it->len);
    }
}

static void on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    fl__rtsp *r = h->data;
    *buf = uv_buf_init((char *)r->tcp_buf, sizeof r->tcp_buf);
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    fl__rtsp *r = st->data;
    if (r->done || r->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && r->state == ST_PLAYING)
            end(r);
        else
            fail(r, FL_EIO, "RTSP server %s closed the connection (%s)", r->where,
                 uv_strerror((int)nread));
        return;
    }
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t len = (size_t)nread, off = 0;
    while (off < len && !r->done && !r->closing) {
        size_t used = 0;
        fl_rtsp_item it;
        int rc = fl_rtsp_reader_read(&r->reader, data + off, len - off, &used, &it);
        off += used;
        if (rc < 0) {
            fail(r, FL_EPROTO, "RTSP server %s sent bytes that are not RTSP (%s)", r->where,
                 fl_strerror(rc));
            return;
        }
        if (rc == 0)
            break;
        if (it.kind == FL_RTSP_ITEM_FRAME)
            on_frame(r, &it);
        else if (!it.head->rtsp)
            fail(r, FL_EPROTO, "RTSP server %s answered in HTTP, not RTSP", r->where);
        else if (it.kind == FL_RTSP_ITEM_RESPONSE)
            on_response(r, &it);
        else
            on_server_request(r, it.head);
    }
}

static void on_tick(uv_timer_t *t)
{
    fl__rtsp *r = t->data;
    uint64_t now = uv_now(r->loop);
    if (r->state == ST_PLAYING && now - r->last_rr_ms >= RR_INTERVAL_MS) {
        r->last_rr_ms = now;
        send_receiver_reports(r);
    }
    if (now - r->last_keepalive_ms >= (uint64_t)r->timeout_s * 500 && !r->outstanding) {
        r->last_keepalive_ms = now;
        send_request(r, r->get_parameter ? "GET_PARAMETER" : "OPTIONS",
                     r->get_parameter ? r->aggregate : r->url.request);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    fl__rtsp *r = req->data;
    if (r->closing || r->done)
        return;
    if (status < 0) {
        fail(r, FL_EIO, "RTSP server %s: cannot connect (%s)", r->where, uv_strerror(status));
        return;
    }
    int namelen = sizeof r->peer;
    uv_tcp_getpeername(&r->tcp, (struct sockaddr *)&r->peer, &namelen);
    uv_tcp_nodelay(&r->tcp, 1);
    uv_read_start((uv_stream_t *)&r->tcp, on_tcp_alloc, on_tcp_read);
    r->state = ST_OPTIONS;
    send_request(r, "OPTIONS", r->url.request);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    fl__rtsp *r = req->data;
    r->gai_pending = 0;
    if (r->closing) {
        uv_freeaddrinfo(res);
        if (r->pending_closes == 0)
            free(r);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        fail(r, FL_EIO, "RTSP server %s: cannot resolve %s (%s)", r->where, r->url.host,
             uv_strerror(status));
        return;
    }
    uv_tcp_init(r->loop, &r->tcp);
    r->tcp.data = r;
    r->tcp_open = 1;
    r->connect.data = r;
    int rc = uv_tcp_connect(&r->connect, &r->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (rc < 0)
        fail(r, FL_EIO, "RTSP server %s: cannot connect (%s)", r->where, uv_strerror(rc));
}

/* ---- the interface ---- */

int fl__rtsp_open(fl__rtsp **out,
                  uv_loop_t *loop,
                  const char *uri,
                  fl__rtsp_transport transport,
                  const fl__rtsp_cb *cb,
                  void *arg)
{
    *out = NULL;
    fl__rtsp *r = calloc(1, sizeof *r);
    if (!r)
        return FL_ENOMEM;
    if (!uri || fl_rtsp_url_parse(&r->url, uri) != 0) {
        free(r);
        return FL_EINVAL;
    }
    if (transport == FL__RTSP_TCP)
        r->url.tcp = 1;
    r->loop = loop;
    r->cb = *cb;
    r->arg = arg;
    r->timeout_s = 60;
    snprintf(r->where, sizeof r->where, strchr(r->url.host, ':') ? "[%s]:%u" : "%s:%u", r->url.host,
             (unsigned)r->url.port);
    fl_rtsp_reader_init(&r->reader);
    fl_rand *rnd = fl_rand_system();
    r->ssrc = fl_rand_u32(rnd);
    snprintf(r->cnonce, sizeof r->cnonce, "%08x%08x", fl_rand_u32(rnd), fl_rand_u32(rnd));
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->tick);
    r->timer.data = r->tick.data = r;
    r->gai.data = r;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)r->url.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int rc = uv_getaddrinfo(loop, &r->gai, on_resolved, r->url.host, port, &hints);
    if (rc < 0) {
        r->deferred_status = FL_EIO;
        snprintf(r->deferred_why, sizeof r->deferred_why,
                 "RTSP server %s: cannot resolve the host (%s)", r->where, uv_strerror(rc));
        uv_timer_start(&r->timer, on_request_timeout, 0, 0);
    } else {
        r->gai_pending = 1;
        uv_timer_start(&r->timer, on_request_timeout, CONNECT_TIMEOUT_MS, 0);
    }
    *out = r;
    return 0;
}

static int ask(fl__rtsp *r, action a)
{
    if (r->closing || r->done || r->state < ST_READY)
        return FL_ESTATE;
    if (r->outstanding) {
        r->queued = a;
        return 0;
    }
    r->queued = a;
    run_queued(r);
    return 0;
}

int fl__rtsp_play(fl__rtsp *r)
{
    return ask(r, ACT_PLAY);
}

int fl__rtsp_pause(fl__rtsp *r)
{
    return ask(r, ACT_PAUSE);
}

int fl__rtsp_request_key_frame(fl__rtsp *r, size_t i)
{
    if (r->closing || r->done || r->state < ST_READY || i >= r->n)
        return FL_ENOTSUP;
    stream *s = &r->streams[i];
    if (s->pub.media != FL_MEDIA_VIDEO || !s->has_ssrc)
        return FL_ENOTSUP;
    uint8_t pkt[256];
    size_t len = write_rr(r, s, pkt, sizeof pkt), n = 0;
    fl_rtcp_fb pli = { .fmt = FL_RTCP_FMT_PLI,
                       .type = FL_RTCP_PSFB,
                       .sender_ssrc = r->ssrc,
                       .media_ssrc = s->media_ssrc };
    if (fl_rtcp_fb_write(pkt + len, sizeof pkt - len, &pli, &n) != 0)
        return FL_ENOTSUP;
    rtcp_send(r, s, pkt, len + n);
    return 0;
}

void fl__rtsp_close(fl__rtsp *r)
{
    if (!r || r->closing)
        return;
    if (r->tcp_open && r->session[0] && !r->done && r->state >= ST_SETUP) {
        snprintf(r->method, sizeof r->method, "TEARDOWN");
        snprintf(r->req_url, sizeof r->req_url, "%s", r->aggregate);
        r->transport[0] = '\0';
        send_current(r); /* best effort: libuv writes it at once when it can */
    }
    r->closing = 1;
    stop_timers(r);
    if (r->gai_pending)
        uv_cancel((uv_req_t *)&r->gai);
    close_handle(r, (uv_handle_t *)&r->timer);
    close_handle(r, (uv_handle_t *)&r->tick);
    if (r->tcp_open)
        close_handle(r, (uv_handle_t *)&r->tcp);
    for (size_t i = 0; i < FL__RTSP_MAX_STREAMS; i++)
        close_udp(r, &r->streams[i]);
}
