/* RtpEndpoint: a plain RTP peer (SIP gateways, ffmpeg, GStreamer,
 * encoders). The WebRtcEndpoint's element (engine/webrtc_int.h) in its
 * `plain` mode: no ICE and no DTLS; each accepted media section gets its
 * own UDP port pair (RTP, and RTCP on the next port unless rtcp-mux was
 * negotiated) on one address of the machine, and its own transport
 * (net/transport PLAIN, or SDES-SRTP keyed from a=crypto). Everything per
 * packet (the egress rewrite, NACK/RTX, SR/RR, PLI/FIR/REMB, key frames,
 * stats, transcoding) is the WebRtcEndpoint's code (webrtc_media.c,
 * webrtc_feedback.c); this file holds the signalling, the sockets and where
 * the peer is.
 *
 * Symmetric RTP: media goes to the peer's c=/m= address and port, RTCP to
 * its a=rtcp port (or port+1, or the RTP port with rtcp-mux). COMEDIA (the
 * peer says a=direction:active, or its address is 0.0.0.0 / ::): the peer's
 * RTP and RTCP addresses are learnt from its first packet on each socket;
 * with SDES they are learnt again from any packet that passes SRTP
 * authentication (a peer that moved), never from one that does not. Worker
 * thread only. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/base64.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "engine/engine_int.h"
#include "engine/netif.h"
#include "engine/udp.h"
#include "engine/webrtc_int.h"
#include "net/srtp.h"
#include "net/transport.h"
#include "sdp/sdp.h"

FL_LOG_TAG("rtp");

#define MAX_ADDRS 32

/* The settings of its own (wr->rtp). */
typedef struct rtp_settings {
    int use_ipv6;
    fl_sdp_crypto key;         /* ours (tag 1); suite NONE: no SDES */
    char addr[FL_ADDR_STRLEN]; /* ours, in the SDP; "" before the sockets */
} rtp_settings;

static rtp_settings *settings(webrtc *wr)
{
    return wr->rtp;
}

/* ---- sockets ---- */

/* The stream and socket a datagram came on. */
static int stream_of(webrtc *wr, const fl__udp *u, int *rtcp)
{
    for (int k = 0; k < 2; k++) {
        if (u == wr->pl[k].rtp || u == wr->pl[k].rtcp) {
            *rtcp = u == wr->pl[k].rtcp;
            return k;
        }
    }
    return -1;
}

static int same_addr(const fl_addr *a, const fl_addr *b)
{
    return a->family == b->family && a->port == b->port && fl_addr_ip_equal(a, b);
}

/* COMEDIA: the peer's address from a packet the transport took (with SDES:
 * one that passed authentication). In the clear only the first counts. */
static void learn(webrtc *wr, int k, int rtcp_socket, const fl_addr *from)
{
    wr_plain *pl = &wr->pl[k];
    int mux = !pl->rtcp;
    fl_addr *to = rtcp_socket ? &pl->peer_rtcp : &pl->peer_rtp;
    if (!pl->comedia || same_addr(to, from))
        return;
    if (to->family && settings(wr)->key.suite == FL_SDP_CRYPTO_NONE)
        return;
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_INFO, "%s: %s peer learnt from its packets: %s", wr->e ? wr->e->name : "rtp",
           k ? "video" : "audio", fl_addr_str(from, s));
    *to = *from;
    if (mux)
        pl->peer_rtcp = *from;
}

/* The sender's SSRC (RTP: bytes 8-11; RTCP: 4-7, RFC 5761 4) is ours. */
static int own_packet(const webrtc *wr, int k, const fl_buf *b)
{
    const uint8_t *d = fl_buf_data((fl_buf *)b);
    if (b->len < 12 || !wr->st[k].ssrc)
        return 0;
    const uint8_t *s = d[1] >= 192 && d[1] <= 223 ? d + 4 : d + 8;
    uint32_t ssrc = (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
    return ssrc == wr->st[k].ssrc;
}

static void on_udp(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg)
{
    webrtc *wr = arg;
    int rtcp = 0, k = stream_of(wr, u, &rtcp);
    fl_time now = fl__clock_now(&wr->w->loop);
    for (size_t i = 0; i < n; i++) {
        if (k < 0 || !wr->pl[k].tr) { /* before the negotiation ended */
            fl_buf_unref(pkts[i].buf);
            continue;
        }
        /* our own packets sent back (an SDES peer given our key would
         * authenticate them) move nothing and go nowhere */
        if (own_packet(wr, k, pkts[i].buf)) {
            fl_buf_unref(pkts[i].buf);
            continue;
        }
        int rc = fl_transport_handle_input(wr->pl[k].tr, now, pkts[i].buf);
        if (rc == 0)
            learn(wr, k, rtcp, &pkts[i].from);
        else
            fl_log(FL_LOG_TRACE, "datagram dropped: %s", fl_strerror(rc));
    }
    fl__wr_pump(wr);
}

/* RFC 5761 4: RTCP packet types 192-223 in the second byte. */
static int is_rtcp(const fl_buf *b)
{
    const uint8_t *d = fl_buf_data((fl_buf *)b);
    return b->len >= 2 && d[1] >= 192 && d[1] <= 223;
}

void fl__rtp_flush_tx(webrtc *wr)
{
    fl_buf *b;
    for (int k = 0; k < 2; k++) {
        wr_plain *pl = &wr->pl[k];
        while (pl->tr && fl_transport_poll_transmit(pl->tr, &b) == 0) {
            int rtcp = is_rtcp(b);
            fl__udp *u = rtcp && pl->rtcp ? pl->rtcp : pl->rtp;
            const fl_addr *to = rtcp ? &pl->peer_rtcp : &pl->peer_rtp;
            fl_addr next;
            if (rtcp && !to->family && pl->peer_rtp.family) {
                /* COMEDIA, no RTCP from the peer yet: the port after its RTP's */
                next = pl->peer_rtp;
                next.port = (uint16_t)(next.port + 1);
                to = &next;
            }
            if (!u || !to->family) /* COMEDIA: nothing came from the peer yet */
                fl_buf_unref(b);
            else
                fl__udp_send(u, to, b);
        }
    }
}

/* Our address: the first of the family on the interfaces allowed
 * (networkInterfaces), one not loopback when there is one. */
static int pick_address(webrtc *wr, int family, fl_addr *out)
{
    fl__netif_addr addrs[MAX_ADDRS];
    size_t n = 0;
    int rc = fl__netif_list(wr->ifaces, 1, addrs, MAX_ADDRS, &n);
    if (rc < 0)
        return rc;
    const fl__netif_addr *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        if (addrs[i].addr.family != family)
            continue;
        if (!pick || (pick->loopback && !addrs[i].loopback))
            pick = &addrs[i];
    }
    if (!pick)
        return FL_ENOENT;
    *out = pick->addr;
    return 0;
}

static void close_socket(fl__udp **u)
{
    if (*u)
        fl__udp_close(*u, NULL, NULL);
    *u = NULL;
}

static void close_sockets(webrtc *wr, int k)
{
    close_socket(&wr->pl[k].rtp);
    close_socket(&wr->pl[k].rtcp);
}

/* The RTP socket of stream k and, unless mux, the RTCP one on the next
 * port. FL_EBUSY when no pair is free in the range. */
static int open_sockets(webrtc *wr, int k, int mux, const fl_addr *local)
{
    wr_plain *pl = &wr->pl[k];
    fl__udp_config uc = { .local = *local,
                          .min_port = (uint16_t)wr->min_port,
                          .max_port = (uint16_t)wr->max_port,
                          .rand = fl__clock_rand(&wr->w->loop) };
    if (!uc.min_port && !uc.max_port) {
        uc.min_port = FL__UDP_MIN_PORT;
        uc.max_port = FL__UDP_MAX_PORT;
    }
    if (!mux && uc.max_port > uc.min_port)
        uc.max_port--; /* room for RTCP above */
    for (int tries = 0; tries < 16; tries++) {
        int rc = fl__udp_create(&pl->rtp, &wr->w->loop, wr->w->pool, &uc, on_udp, wr);
        if (rc < 0 || mux)
            return rc;
        fl__udp_config rc_cfg = uc;
        rc_cfg.min_port = rc_cfg.max_port = (uint16_t)(fl__udp_local(pl->rtp)->port + 1);
        if ((rc = fl__udp_create(&pl->rtcp, &wr->w->loop, wr->w->pool, &rc_cfg, on_udp, wr)) == 0)
            return 0;
        close_socket(&pl->rtp);
        if (rc != FL_EBUSY)
            return rc;
    }
    return FL_EBUSY;
}

/* Sockets for the kinds wanted (mux[k] < 0: not wanted) on our address. */
static int open_all(webrtc *wr, const int mux[2], char *err, size_t errlen)
{
    rtp_settings *rs = settings(wr);
    fl_addr local;
    int rc = pick_address(wr, rs->use_ipv6 ? 6 : 4, &local);
    if (rc < 0) {
        snprintf(err, errlen, "no IPv%d address to use on this machine's interfaces%s%s",
                 rs->use_ipv6 ? 6 : 4, wr->ifaces[0] ? " " : "", wr->ifaces);
        return rc;
    }
    fl_addr_ip_str(&local, rs->addr);
    for (int k = 0; k < 2; k++) {
        if (mux[k] >= 0 && !wr->pl[k].rtp && (rc = open_sockets(wr, k, mux[k], &local)) < 0) {
            snprintf(err, errlen, "no UDP port pair free on %s in %d-%d: %s", rs->addr,
                     wr->min_port, wr->max_port, fl_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* ---- negotiation ---- */

static void local_for(webrtc *wr, fl__wr_local *lp)
{
    rtp_settings *rs = settings(wr);
    fl__wr_local_init(wr, lp);
    fl_sdp_local *l = &lp->local;
    l->plain = 1;
    l->address = rs->addr;
    /* no transport-wide sequence numbers or mid without BUNDLE and ICE */
    l->fb = FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_FIR | FL_SDP_FB_REMB;
    l->exts = 1u << FL_SDP_EXT_ABS_SEND_TIME;
    for (int k = 0; k < 2; k++) {
        l->port[k] = wr->pl[k].rtp ? fl__udp_local(wr->pl[k].rtp)->port : 0;
        l->crypto[k] = rs->key.suite != FL_SDP_CRYPTO_NONE ? &rs->key : NULL;
    }
}

static fl_srtp_profile srtp_profile(fl_sdp_crypto_suite s)
{
    switch (s) {
    case FL_SDP_AES_CM_128_HMAC_SHA1_32:
        return FL_SRTP_AES128_CM_HMAC_SHA1_32;
    case FL_SDP_AES_256_CM_HMAC_SHA1_80:
        return FL_SRTP_AES256_CM_HMAC_SHA1_80;
    case FL_SDP_AES_256_CM_HMAC_SHA1_32:
        return FL_SRTP_AES256_CM_HMAC_SHA1_32;
    default:
        return FL_SRTP_AES128_CM_HMAC_SHA1_80;
    }
}

static int is_wildcard(const fl_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0;
}

/* Where the peer of section rm is (RTP, RTCP), or COMEDIA. */
static void peer_of(wr_plain *pl, const fl_sdp_media *rm, int mux)
{
    memset(&pl->peer_rtp, 0, sizeof(pl->peer_rtp));
    memset(&pl->peer_rtcp, 0, sizeof(pl->peer_rtcp));
    fl_addr a;
    int known = fl_addr_parse(&a, rm->addr, rm->port) == 0 && !is_wildcard(&a) && rm->port;
    /* the peer sends first (a=direction:active or both), or cannot say
     * where it is: its packets tell */
    pl->comedia = !known || rm->comedia == 1 || rm->comedia == 3;
    if (pl->comedia)
        return;
    pl->peer_rtp = a;
    pl->peer_rtcp = a;
    if (mux)
        return;
    pl->peer_rtcp.port = rm->rtcp_port ? rm->rtcp_port : (uint16_t)(rm->port + 1);
    if (rm->rtcp_addr[0] && fl_addr_parse(&a, rm->rtcp_addr, pl->peer_rtcp.port) == 0 &&
        !is_wildcard(&a))
        pl->peer_rtcp = a;
}

/* The key the peer sends with: its first a=crypto line of our suite. */
static const fl_sdp_crypto *remote_key(const fl_sdp_media *rm, fl_sdp_crypto_suite suite)
{
    for (size_t i = 0; i < rm->ncrypto; i++) {
        if (rm->crypto[i].suite == suite)
            return &rm->crypto[i];
    }
    return NULL;
}

/* Stream k's transport, PLAIN or SDES, started (CONNECTED comes at once). */
static int stream_transport(webrtc *wr,
                            int k,
                            const fl_sdp_media *lm,
                            const fl_sdp_media *rm,
                            char *err,
                            size_t errlen)
{
    rtp_settings *rs = settings(wr);
    wr_plain *pl = &wr->pl[k];
    fl_transport_config tc = { .mode = FL_TRANSPORT_PLAIN, .pool = wr->w->pool };
    if (rs->key.suite != FL_SDP_CRYPTO_NONE) {
        const fl_sdp_crypto *theirs = remote_key(rm, rs->key.suite);
        if (!theirs) {
            snprintf(err, errlen, "the %s section has no a=crypto line of %s",
                     k ? "video" : "audio", fl_sdp_crypto_suite_name(rs->key.suite));
            return FL_EBADMSG;
        }
        tc.mode = FL_TRANSPORT_SDES;
        tc.sdes_profile = srtp_profile(rs->key.suite);
        tc.sdes_local_key = rs->key.key;
        tc.sdes_remote_key = theirs->key;
    }
    for (size_t j = 0; j < lm->ncodecs && tc.n_clock_rates < FL_TRANSPORT_MAX_CLOCK_RATES; j++) {
        tc.clock_rates[tc.n_clock_rates].payload_type = lm->codecs[j].pt;
        tc.clock_rates[tc.n_clock_rates++].rate = lm->codecs[j].clock_rate;
    }
    int rc = fl_transport_create(&pl->tr, &tc);
    if (rc < 0) {
        snprintf(err, errlen, "the RTP transport could not be made: %s", fl_strerror(rc));
        return rc;
    }
    peer_of(pl, rm, lm->rtcp_mux && rm->rtcp_mux);
    if (!pl->comedia && pl->peer_rtp.family != fl__udp_local(pl->rtp)->family) {
        snprintf(err, errlen,
                 "the %s section's peer is at an IPv%d address and this endpoint "
                 "uses IPv%d (useIpv6)",
                 k ? "video" : "audio", pl->peer_rtp.family, rs->use_ipv6 ? 6 : 4);
        return FL_ENOTSUP;
    }
    if (lm->rtcp_mux && rm->rtcp_mux) /* the RTCP port is not used */
        close_socket(&pl->rtcp);
    wr->st[k].tr = pl->tr;
    return 0;
}

/* Streams, transports and feedback from the negotiated descriptions. */
static int apply(webrtc *wr, char *err, size_t errlen)
{
    const fl_sdp_desc *l = wr->local, *r = wr->remote;
    if (!fl__wr_streams_from(wr, err, errlen))
        return FL_ENOTSUP;
    int rc;
    for (int k = 0; k < 2; k++) {
        wr_stream *st = &wr->st[k];
        if (!st->present) {
            close_sockets(wr, k);
            continue;
        }
        rc = stream_transport(wr, k, &l->media[st->mline], &r->media[st->mline], err, errlen);
        if (rc < 0)
            return rc;
    }
    if ((rc = fl__wr_media_setup(wr, l, r)) < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    fl_time now = fl__clock_now(&wr->w->loop);
    for (int k = 0; k < 2; k++) {
        if (wr->pl[k].tr)
            fl_transport_start(wr->pl[k].tr, now);
    }
    fl__wr_pump(wr);
    return 0;
}

/* Our side: a socket pair for each kind (RTCP on its own port until the
 * answer takes rtcp-mux; when answering, for each kind offered: the answer
 * may take a later section of a kind than the first, an RTP/AVP twin after
 * an RTP/SAVP one refused for want of a key, whose rtcp-mux may differ),
 * then what we bring to the SDP. */
static int rtp_begin(webrtc *wr,
                     const fl_sdp_desc *offer,
                     fl__wr_local *lp,
                     char *err,
                     size_t errlen)
{
    int mux[2] = { 0, 0 };
    if (offer) {
        mux[0] = mux[1] = -1;
        for (size_t i = 0; i < offer->nmedia; i++) {
            const fl_sdp_media *m = &offer->media[i];
            int k = m->kind == FL_SDP_KIND_AUDIO ? 0 : m->kind == FL_SDP_KIND_VIDEO ? 1 : -1;
            if (k >= 0 && !m->rejected)
                mux[k] = 0;
        }
    }
    int rc = open_all(wr, mux, err, errlen);
    if (rc < 0)
        return rc;
    local_for(wr, lp);
    return 0;
}

static const fl__wr_sdp_ops rtp_sdp = {
    .begin = rtp_begin,
    .apply = apply,
};

void fl__rtp_reset(webrtc *wr, int keep_local)
{
    for (int k = 0; k < 2; k++) {
        if (wr->pl[k].tr)
            fl_transport_destroy(wr->pl[k].tr);
        wr->pl[k].tr = NULL;
        if (!keep_local)
            close_sockets(wr, k);
    }
}

/* ---- what the transports report ---- */

void fl__rtp_reports(webrtc *wr, int k, const fl_transport_stats *ts)
{
    if (k < 0)
        return;
    wr_plain *pl = &wr->pl[k];
    unsigned media = k ? FL_MEDIA_VIDEO : FL_MEDIA_AUDIO;
    if (ts->srtp_key_soft_limit > pl->soft_limits) {
        pl->soft_limits = ts->srtp_key_soft_limit;
        fl_event ev = { .type = FL_EVENT_KEY_SOFT_LIMIT, .key_soft_limit = { .media = media } };
        fl__wr_raise(wr, &ev);
    }
    /* said on the first refusal, then each time the count doubles */
    if (ts->srtp_auth > 2 * pl->auth_failed) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "%s: %llu packets from the peer failed SRTP authentication (a wrong key, or "
                 "media not encrypted): they are dropped",
                 fl_media_type_name(media), (unsigned long long)ts->srtp_auth);
        pl->auth_failed = ts->srtp_auth;
        fl__wr_raise_error(wr, "SRTP_AUTH_FAILED", msg);
    }
}

/* ---- the calls and properties ---- */

static const fl__method rtp_methods[] = {
    { "processOffer", M_PROCESS_OFFER, 1, 1 },
    { "generateOffer", M_GENERATE_OFFER, 0, 2 },
    { "processAnswer", M_PROCESS_ANSWER, 1, 1 },
    { "getLocalSessionDescriptor", M_GET_LOCAL, 0, 0 },
    { "getRemoteSessionDescriptor", M_GET_REMOTE, 0, 0 },
    { NULL, 0, 0, 0 },
};

static int rtp_invoke(fl_element *e, fl__invocation *inv)
{
    webrtc *wr = fl__wr_impl(e);
    switch (inv->method->id) {
    case M_PROCESS_OFFER:
    case M_GENERATE_OFFER:
    case M_PROCESS_ANSWER:
    case M_GET_LOCAL:
    case M_GET_REMOTE:
        return fl__wr_sdp_step(wr, inv, &rtp_sdp);
    default:
        return FL_ENOTSUP;
    }
}

/* The WebRtcEndpoint's ICE and DTLS settings and readings. */
static int webrtc_only(const char *name)
{
    static const char *const names[] = {
        "stunServerAddress", "stunServerPort",     "turnUrl",
        "externalIPv4",      "externalIPv6",       "iceTcp",
        "ICECandidatePairs", "IceConnectionState", "DtlsConnectionState",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (strcmp(names[i], name) == 0)
            return 1;
    }
    return 0;
}

/* Kurento's CryptoSuite names. */
static fl_sdp_crypto_suite suite_parse(const char *s, size_t n)
{
    static const struct {
        const char *name;
        fl_sdp_crypto_suite suite;
    } suites[] = {
        { "AES_128_CM_HMAC_SHA1_80", FL_SDP_AES_CM_128_HMAC_SHA1_80 },
        { "AES_128_CM_HMAC_SHA1_32", FL_SDP_AES_CM_128_HMAC_SHA1_32 },
        { "AES_256_CM_HMAC_SHA1_80", FL_SDP_AES_256_CM_HMAC_SHA1_80 },
        { "AES_256_CM_HMAC_SHA1_32", FL_SDP_AES_256_CM_HMAC_SHA1_32 },
    };

    for (size_t i = 0; i < sizeof(suites) / sizeof(*suites); i++) {
        if (strlen(suites[i].name) == n && strncmp(suites[i].name, s, n) == 0)
            return suites[i].suite;
    }
    return FL_SDP_CRYPTO_NONE;
}

/* "sdes": "<CryptoSuite>[ <base64 key||salt>]"; a key of the suite's length
 * (30 bytes AES-128, 46 AES-256), else a random one. "" none. */
static int set_sdes(rtp_settings *rs, const char *value)
{
    fl_sdp_crypto c = { .tag = 1 };
    if (!value[0]) {
        rs->key = c;
        return 0;
    }
    const char *sp = strchr(value, ' ');
    size_t n = sp ? (size_t)(sp - value) : strlen(value);
    if ((c.suite = suite_parse(value, n)) == FL_SDP_CRYPTO_NONE)
        return FL_EINVAL;
    c.key_len = fl_sdp_crypto_key_len(c.suite);
    if (sp) {
        int got = fl_base64_decode(sp + 1, strlen(sp + 1), c.key, sizeof(c.key));
        if (got < 0 || (size_t)got != c.key_len) {
            explicit_bzero(&c, sizeof(c));
            return FL_EINVAL;
        }
    } else {
        fl_rand_fill(fl_rand_system(), c.key, c.key_len);
    }
    rs->key = c;
    explicit_bzero(&c, sizeof(c));
    return 0;
}

static int rtp_set_property(fl_element *e, const char *name, const char *value)
{
    webrtc *wr = fl__wr_impl(e);
    if (!wr || webrtc_only(name))
        return FL_ENOTSUP;
    int sdes = strcmp(name, "sdes") == 0, v6 = strcmp(name, "useIpv6") == 0;
    if (!sdes && !v6)
        return fl__wr_set_property(e, name, value);
    if (wr->pl[0].rtp || wr->pl[1].rtp || wr->sdp_state != SDP_NONE)
        return FL_ESTATE; /* the sockets and the SDP have them already */
    if (sdes)
        return set_sdes(settings(wr), value);
    if (strcmp(value, "true") && strcmp(value, "false"))
        return FL_EINVAL;
    settings(wr)->use_ipv6 = value[0] == 't';
    return 0;
}

static int rtp_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    webrtc *wr = fl__wr_impl(e);
    if (!wr || webrtc_only(name) || strcmp(name, "sdes") == 0) /* the key is not read back */
        return FL_ENOTSUP;
    if (strcmp(name, "useIpv6") == 0) {
        snprintf(out, cap, "%s", settings(wr)->use_ipv6 ? "true" : "false");
        return 0;
    }
    return fl__wr_get_property(e, name, out, cap);
}

/* ---- life ---- */

static int rtp_init(fl_element *e)
{
    rtp_settings *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return FL_ENOMEM;
    int rc = fl__wr_init(e);
    if (rc < 0) {
        free(rs);
        return rc;
    }
    webrtc *wr = fl__wr_impl(e);
    wr->plain = 1;
    wr->rtp = rs;
    return 0;
}

static void on_socket_closed(void *arg)
{
    fl__wr_part_closed(arg);
}

void fl__rtp_close(webrtc *wr)
{
    for (int k = 0; k < 2; k++) {
        fl__udp **socks[2] = { &wr->pl[k].rtp, &wr->pl[k].rtcp };
        for (int i = 0; i < 2; i++) {
            if (!*socks[i])
                continue;
            wr->pending_closes++;
            fl__udp_close(*socks[i], on_socket_closed, wr);
            *socks[i] = NULL;
        }
    }
}

void fl__rtp_free(webrtc *wr)
{
    for (int k = 0; k < 2; k++) {
        if (wr->pl[k].tr)
            fl_transport_destroy(wr->pl[k].tr);
        wr->pl[k].tr = NULL;
    }
    if (wr->rtp)
        explicit_bzero(wr->rtp, sizeof(rtp_settings));
    free(wr->rtp);
    wr->rtp = NULL;
}

const fl__element_type fl__rtp_endpoint_type = {
    .name = FL_ELEMENT_RTP,
    .spreads = 1,
    .receive = fl__wr_receive,
    .init = rtp_init,
    .fini = fl__wr_fini,
    .key_frame = fl__wr_key_frame,
    .caps = fl__wr_caps,
    .sender_report = fl__wr_sender_report,
    .set_property = rtp_set_property,
    .get_property = rtp_get_property,
    .stats = fl__wr_stats,
    .linked = fl__wr_linked,
    .reroute = fl__wr_reroute,
    .bitrate = fl__wr_bitrate,
    .receiving = fl__wr_receiving,
    .methods = rtp_methods,
    .invoke = rtp_invoke,
};
