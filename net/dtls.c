/* DTLS-SRTP endpoint: the one file that wraps mbedTLS's DTLS layer. */
#include "net/dtls.h"

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"

FL_LOG_TAG("dtls");

#define READ_BUF     16384
#define EVENTS_MAX   4
#define MASTER_LEN   48
#define EXPORT_LABEL "EXTRACTOR-dtls_srtp"

static const char FP_MISMATCH[] = "certificate fingerprint does not match the SDP a=fingerprint";

typedef struct dgram {
    struct dgram *next;
    size_t len;
    uint8_t data[];
} dgram;

typedef struct queue {
    dgram *head, *tail;
} queue;

struct fl_dtls {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    fl_cert *cert;
    fl_rand *rand;
    fl_dtls_role role;
    fl_dtls_state state;
    bool hs_done; /* mbedTLS finished; CONNECTED once the fingerprint checks */
    bool have_fp;
    bool fp_mismatch; /* seen by the verify callback */
    bool have_master;
    fl_cert_fp fp;
    mbedtls_ssl_srtp_profile profiles[FL_DTLS_MAX_PROFILES + 1];
    size_t mtu;
    fl_time now;
    fl_time timer_int, timer_fin; /* FL_TIME_NEVER when off */
    const uint8_t *in;            /* the datagram being handled */
    size_t in_len;
    queue tx, rx;
    fl_dtls_event events[EVENTS_MAX];
    unsigned ev_head, ev_count;
    uint8_t master[MASTER_LEN];
    uint8_t randbytes[64];
    mbedtls_tls_prf_types prf;
    uint8_t *peer_der;
    size_t peer_der_len;
    uint64_t dropped;
    struct hello_asm *hello; /* server: a fragmented ClientHello being put together */
};

static void log_mbedtls(int level, const char *what, int ret)
{
    char msg[128];
    mbedtls_strerror(ret, msg, sizeof(msg));
    fl_log(level, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

/* ---- small queues --------------------------------------------------------- */

static int queue_push(queue *q, const uint8_t *data, size_t len)
{
    dgram *g = malloc(sizeof(*g) + len);
    if (!g)
        return FL_ENOMEM;
    g->next = NULL;
    g->len = len;
    memcpy(g->data, data, len);
    if (q->tail)
        q->tail->next = g;
    else
        q->head = g;
    q->tail = g;
    return 0;
}

static int queue_pop(queue *q, fl_bytes *out)
{
    dgram *g = q->head;
    if (!g)
        return FL_EAGAIN;
    q->head = g->next;
    if (!q->head)
        q->tail = NULL;
    fl_bytes_init(out);
    int rc = fl_bytes_append(out, g->data, g->len);
    free(g);
    return rc;
}

static void queue_clear(queue *q)
{
    while (q->head) {
        dgram *g = q->head;
        q->head = g->next;
        free(g);
    }
    q->tail = NULL;
}

static fl_dtls_event *event_push(fl_dtls *d, fl_dtls_event_type type)
{
    if (d->ev_count == EVENTS_MAX)
        return NULL;
    fl_dtls_event *ev = &d->events[(d->ev_head + d->ev_count++) % EVENTS_MAX];
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    return ev;
}

static void fail(fl_dtls *d, int err, const char *reason)
{
    if (d->state == FL_DTLS_STATE_FAILED || d->state == FL_DTLS_STATE_CLOSED)
        return;
    d->state = FL_DTLS_STATE_FAILED;
    fl_log(FL_LOG_INFO, "handshake failed: %s", reason);
    fl_dtls_event *ev = event_push(d, FL_DTLS_EVENT_FAILED);
    if (ev) {
        ev->err = err;
        snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
    }
    mbedtls_platform_zeroize(d->master, sizeof(d->master));
}

/* ---- mbedTLS callbacks ---------------------------------------------------- */

static int rng(void *ctx, unsigned char *out, size_t len)
{
    fl_rand_fill(ctx, out, len);
    return 0;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    fl_dtls *d = ctx;
    if (queue_push(&d->tx, buf, len) != 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    fl_dtls *d = ctx;
    if (!d->in)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > d->in_len)
        len = d->in_len;
    memcpy(buf, d->in, len);
    d->in = NULL;
    return (int)len;
}

static void set_timer(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    fl_dtls *d = ctx;
    if (fin_ms == 0) {
        d->timer_int = d->timer_fin = FL_TIME_NEVER;
        return;
    }
    d->timer_int = d->now + (fl_time)int_ms * FL_TIME_MS;
    d->timer_fin = d->now + (fl_time)fin_ms * FL_TIME_MS;
}

static int get_timer(void *ctx)
{
    fl_dtls *d = ctx;
    if (d->timer_fin == FL_TIME_NEVER)
        return -1;
    if (d->now >= d->timer_fin)
        return 2;
    if (d->now >= d->timer_int)
        return 1;
    return 0;
}

/* The peer's chain: only the leaf's fingerprint matters. */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    fl_dtls *d = ctx;
    *flags = 0;
    if (depth > 0)
        return 0;
    free(d->peer_der);
    d->peer_der = NULL;
    d->peer_der_len = 0;
    if (!crt->raw.p || crt->raw.len == 0)
        return MBEDTLS_ERR_X509_FATAL_ERROR; /* an empty certificate fails at once */
    d->peer_der = malloc(crt->raw.len);
    if (!d->peer_der)
        return MBEDTLS_ERR_X509_ALLOC_FAILED;
    memcpy(d->peer_der, crt->raw.p, crt->raw.len);
    d->peer_der_len = crt->raw.len;
    if (d->have_fp && !fl_cert_fp_matches(&d->fp, d->peer_der, d->peer_der_len)) {
        d->fp_mismatch = true;
        *flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED;
        return MBEDTLS_ERR_X509_FATAL_ERROR; /* fatal even with OPTIONAL */
    }
    return 0;
}

static int export_keys(void *ctx,
                       const unsigned char *ms,
                       const unsigned char *kb,
                       size_t maclen,
                       size_t keylen,
                       size_t ivlen,
                       const unsigned char client_random[32],
                       const unsigned char server_random[32],
                       mbedtls_tls_prf_types prf)
{
    fl_dtls *d = ctx;
    (void)kb;
    (void)maclen;
    (void)keylen;
    (void)ivlen;
    memcpy(d->master, ms, MASTER_LEN);
    memcpy(d->randbytes, client_random, 32);
    memcpy(d->randbytes + 32, server_random, 32);
    d->prf = prf;
    d->have_master = true;
    return 0;
}

/* ---- creation ------------------------------------------------------------- */

static int set_profiles(fl_dtls *d, const fl_dtls_config *cfg)
{
    size_t n = cfg->n_profiles;
    if (n == 0) {
        d->profiles[0] = MBEDTLS_TLS_SRTP_AES128_CM_HMAC_SHA1_80;
        d->profiles[1] = MBEDTLS_TLS_SRTP_AES128_CM_HMAC_SHA1_32;
        n = 2;
    } else {
        if (n > FL_DTLS_MAX_PROFILES)
            return FL_EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (cfg->profiles[i] != FL_DTLS_SRTP_AES128_CM_SHA1_80 &&
                cfg->profiles[i] != FL_DTLS_SRTP_AES128_CM_SHA1_32) {
                fl_log(FL_LOG_WARN, "SRTP profile 0x%04x is not supported by mbedTLS 2.28",
                       (unsigned)cfg->profiles[i]);
                return FL_ENOTSUP;
            }
            d->profiles[i] = (mbedtls_ssl_srtp_profile)cfg->profiles[i];
        }
    }
    d->profiles[n] = MBEDTLS_TLS_SRTP_UNSET;
    return mbedtls_ssl_conf_dtls_srtp_protection_profiles(&d->conf, d->profiles) == 0 ? 0 : FL_ETLS;
}

static int setup_conf(fl_dtls *d, const fl_dtls_config *cfg)
{
    mbedtls_ssl_config *c = &d->conf;
    int ret = mbedtls_ssl_config_defaults(
            c, d->role == FL_DTLS_ROLE_CLIENT ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER,
            MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "DTLS defaults", ret);
        return FL_ETLS;
    }
    mbedtls_ssl_conf_rng(c, rng, d->rand);
    mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    /* ICE has already checked the path: no HelloVerifyRequest round trip. */
    mbedtls_ssl_conf_dtls_cookies(c, NULL, NULL, NULL);
    mbedtls_ssl_conf_handshake_timeout(c, cfg->hs_timeout_min_ms ? cfg->hs_timeout_min_ms : 1000,
                                       cfg->hs_timeout_max_ms ? cfg->hs_timeout_max_ms : 16000);
    /* The peer's certificate is trusted by fingerprint only: verify_cb
     * aborts the handshake on a mismatch, finish() fails when none came.
     * OPTIONAL (not REQUIRED) so that mbedTLS's CA, validity and key usage
     * checks, meaningless for WebRTC's self-signed certificates, do not
     * reject a peer; our certificate stands in as the "CA" list. */
    mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(c, fl__cert_crt(d->cert), NULL);
    mbedtls_ssl_conf_cert_req_ca_list(c, MBEDTLS_SSL_CERT_REQ_CA_LIST_DISABLED);
    mbedtls_ssl_conf_export_keys_ext_cb(c, export_keys, d);
    ret = mbedtls_ssl_conf_own_cert(c, fl__cert_crt(d->cert), fl__cert_key(d->cert));
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        return FL_ETLS;
    }
    return set_profiles(d, cfg);
}

int fl_dtls_create(fl_dtls **out, const fl_dtls_config *cfg)
{
    if (!cfg || !cfg->cert ||
        (cfg->role != FL_DTLS_ROLE_CLIENT && cfg->role != FL_DTLS_ROLE_SERVER))
        return FL_EINVAL;
    if (cfg->mtu != 0 && (cfg->mtu < 200 || cfg->mtu > 65535))
        return FL_EINVAL;
    fl_dtls *d = calloc(1, sizeof(*d));
    if (!d)
        return FL_ENOMEM;
    mbedtls_ssl_config_init(&d->conf);
    mbedtls_ssl_init(&d->ssl);
    d->cert = cfg->cert;
    d->rand = cfg->rand ? cfg->rand : fl_rand_system();
    d->role = cfg->role;
    d->mtu = cfg->mtu ? cfg->mtu : FL_DTLS_DEFAULT_MTU;
    d->timer_int = d->timer_fin = FL_TIME_NEVER;
    int rc = FL_ENOMEM;
    if (cfg->remote_fingerprint) {
        rc = fl_cert_fp_parse(&d->fp, cfg->remote_fingerprint);
        if (rc != 0)
            goto fail;
        d->have_fp = true;
    }
    rc = setup_conf(d, cfg);
    if (rc != 0)
        goto fail;
    int ret = mbedtls_ssl_setup(&d->ssl, &d->conf);
    if (ret != 0) {
        rc = ret == MBEDTLS_ERR_SSL_ALLOC_FAILED ? FL_ENOMEM : FL_ETLS;
        goto fail;
    }
    mbedtls_ssl_set_bio(&d->ssl, d, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_timer_cb(&d->ssl, d, set_timer, get_timer);
    mbedtls_ssl_set_verify(&d->ssl, verify_cb, d);
    mbedtls_ssl_set_mtu(&d->ssl, (uint16_t)d->mtu);
    *out = d;
    return 0;
fail:
    fl_dtls_destroy(d);
    return rc;
}

void fl_dtls_destroy(fl_dtls *d)
{
    if (!d)
        return;
    free(d->hello);
    mbedtls_ssl_free(&d->ssl);
    mbedtls_ssl_config_free(&d->conf);
    queue_clear(&d->tx);
    queue_clear(&d->rx);
    free(d->peer_der);
    mbedtls_platform_zeroize(d, sizeof(*d));
    free(d);
}

/* ---- handshake ------------------------------------------------------------ */

static void export_srtp(fl_dtls *d, fl_dtls_srtp_keys *k)
{
    mbedtls_dtls_srtp_info info;
    mbedtls_ssl_get_dtls_srtp_negotiation_result(&d->ssl, &info);
    k->profile = (fl_dtls_srtp_profile)info.chosen_dtls_srtp_profile;
    if (k->profile != FL_DTLS_SRTP_AES128_CM_SHA1_80 &&
        k->profile != FL_DTLS_SRTP_AES128_CM_SHA1_32) {
        k->profile = FL_DTLS_SRTP_NONE;
        return;
    }
    size_t kl = 16, sl = 14;
    k->key_len = kl;
    k->salt_len = sl;
    k->material_len = 2 * (kl + sl);
    if (!d->have_master ||
        mbedtls_ssl_tls_prf(d->prf, d->master, MASTER_LEN, EXPORT_LABEL, d->randbytes,
                            sizeof(d->randbytes), k->material, k->material_len) != 0) {
        memset(k, 0, sizeof(*k));
        return;
    }
    const uint8_t *m = k->material;
    memcpy(k->client_key, m, kl);
    memcpy(k->server_key, m + kl, kl);
    memcpy(k->client_salt, m + 2 * kl, sl);
    memcpy(k->server_salt, m + 2 * kl + sl, sl);
    bool client = d->role == FL_DTLS_ROLE_CLIENT;
    memcpy(k->local_master, client ? k->client_key : k->server_key, kl);
    memcpy(k->local_master + kl, client ? k->client_salt : k->server_salt, sl);
    memcpy(k->remote_master, client ? k->server_key : k->client_key, kl);
    memcpy(k->remote_master + kl, client ? k->server_salt : k->client_salt, sl);
}

/* Handshake done and the fingerprint known: check it and report. */
static void finish(fl_dtls *d)
{
    if (!d->peer_der) {
        fail(d, FL_EAUTH, "the peer sent no certificate");
    } else if (!fl_cert_fp_matches(&d->fp, d->peer_der, d->peer_der_len)) {
        mbedtls_ssl_send_alert_message(&d->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
        fail(d, FL_EAUTH, FP_MISMATCH);
    } else {
        fl_dtls_event *ev = event_push(d, FL_DTLS_EVENT_CONNECTED);
        d->state = FL_DTLS_STATE_CONNECTED;
        if (ev)
            export_srtp(d, &ev->srtp);
        fl_log(FL_LOG_DEBUG, "connected as %s: %s, %s",
               d->role == FL_DTLS_ROLE_CLIENT ? "client" : "server",
               mbedtls_ssl_get_ciphersuite(&d->ssl),
               ev ? fl_dtls_srtp_profile_name(ev->srtp.profile) : "?");
    }
    mbedtls_platform_zeroize(d->master, sizeof(d->master));
    d->have_master = false;
}

static void handshake_error(fl_dtls *d, int ret)
{
    char buf[160], msg[100];
    if (d->fp_mismatch) {
        fail(d, FL_EAUTH, FP_MISMATCH);
    } else if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        fail(d, FL_ETIMEDOUT, "handshake timed out");
    } else if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED) {
        fail(d, FL_ENOMEM, "out of memory");
    } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        fail(d, FL_ETLS, "the peer sent a fatal alert");
    } else {
        mbedtls_strerror(ret, msg, sizeof(msg));
        snprintf(buf, sizeof(buf), "handshake failed: %s (-0x%04x)", msg, (unsigned)-ret);
        fail(d, ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ? FL_EAUTH : FL_ETLS, buf);
    }
}

/* Reads records after the handshake: data, close_notify, retransmissions. */
static void read_records(fl_dtls *d)
{
    /* on the stack: a buffer kept per endpoint would hold 16 kB for the
     * application data DTLS-SRTP never carries */
    uint8_t rbuf[READ_BUF];
    for (;;) {
        int ret = mbedtls_ssl_read(&d->ssl, rbuf, READ_BUF);
        if (ret > 0) {
            if (d->state == FL_DTLS_STATE_CONNECTED)
                (void)queue_push(&d->rx, rbuf, (size_t)ret);
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == 0)
            return;
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            bool was_connected = d->state == FL_DTLS_STATE_CONNECTED;
            (void)mbedtls_ssl_close_notify(&d->ssl);
            if (!was_connected) {
                fail(d, FL_ECLOSED, "the peer closed before the fingerprint was checked");
                return;
            }
            d->state = FL_DTLS_STATE_CLOSED;
            event_push(d, FL_DTLS_EVENT_CLOSED);
            return;
        }
        log_mbedtls(FL_LOG_DEBUG, "read", ret);
        if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
            fail(d, FL_ETLS, "the peer sent a fatal alert");
        else
            handshake_error(d, ret);
        return;
    }
}

/* A server that has not yet accepted a ClientHello drops a datagram that
 * fails to parse as one instead of failing: anyone can send junk. */
static bool reset_if_fresh_server(fl_dtls *d, int ret)
{
    if (d->role != FL_DTLS_ROLE_SERVER || d->ssl.state > MBEDTLS_SSL_CLIENT_HELLO ||
        ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
        return false;
    log_mbedtls(FL_LOG_DEBUG, "dropped a bad ClientHello", ret);
    d->dropped++;
    queue_clear(&d->tx); /* no alert to whoever sent it */
    if (mbedtls_ssl_session_reset(&d->ssl) != 0)
        return false;
    mbedtls_ssl_set_mtu(&d->ssl, (uint16_t)d->mtu);
    d->timer_int = d->timer_fin = FL_TIME_NEVER;
    d->fp_mismatch = false;
    d->have_master = false;
    return true;
}

static void drive(fl_dtls *d)
{
    if (d->state != FL_DTLS_STATE_HANDSHAKING && d->state != FL_DTLS_STATE_CONNECTED)
        return;
    /* A due retransmission is served before the input: go round again so
     * the datagram is read too. */
    for (int i = 0; i < 3 && !d->hs_done; i++) {
        int ret = mbedtls_ssl_handshake(&d->ssl);
        if (ret == 0) {
            d->hs_done = true;
            if (d->have_fp)
                finish(d);
            else
                fl_log(FL_LOG_DEBUG, "handshake done; waiting for the SDP fingerprint");
            break;
        }
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (!reset_if_fresh_server(d, ret))
                handshake_error(d, ret);
            return;
        }
        if (!d->in)
            return;
    }
    if (d->hs_done && d->state != FL_DTLS_STATE_FAILED)
        read_records(d);
}

int fl_dtls_start(fl_dtls *d, fl_time now)
{
    if (d->state != FL_DTLS_STATE_NEW)
        return FL_ESTATE;
    d->now = now;
    d->state = FL_DTLS_STATE_HANDSHAKING;
    if (d->role == FL_DTLS_ROLE_CLIENT)
        drive(d);
    return 0;
}

int fl_dtls_set_remote_fingerprint(fl_dtls *d, const char *sdp_value)
{
    fl_cert_fp fp;
    if (d->state == FL_DTLS_STATE_FAILED || d->state == FL_DTLS_STATE_CONNECTED ||
        d->state == FL_DTLS_STATE_CLOSED)
        return FL_ESTATE;
    int rc = fl_cert_fp_parse(&fp, sdp_value);
    if (rc != 0)
        return rc;
    d->fp = fp;
    d->have_fp = true;
    if (d->hs_done)
        finish(d);
    return 0;
}

/* Cheap record-layer sanity check before mbedTLS sees the datagram. */
static bool looks_like_dtls(const uint8_t *p, size_t len)
{
    if (len < 13)
        return false;
    if (p[0] < 20 || p[0] > 23)
        return false;
    return p[1] == 0xfe;
}

/* ---- fragmented ClientHello -----------------------------------------------
 *
 * mbedTLS 2.28's DTLS server refuses a ClientHello split into handshake
 * fragments (RFC 6347 4.2.3), and browsers split theirs once it outgrows
 * one datagram (a post-quantum key share does that). The fragments are put
 * back together here and mbedTLS gets one unfragmented record. */

#define REC_HDR        13
#define HS_HDR         12
#define HELLO_BODY_MAX 8192

struct hello_asm {
    uint16_t msg_seq;
    size_t msg_len; /* 0: nothing collected */
    size_t got;     /* bytes covered (fragments do not overlap in practice) */
    uint8_t rec[REC_HDR];
    uint8_t have[HELLO_BODY_MAX / 8];
    uint8_t body[HELLO_BODY_MAX];
    uint8_t out[2048 + REC_HDR + HS_HDR + HELLO_BODY_MAX]; /* rewritten datagram */
};

/* Whether the record is a fragment of a ClientHello (not a whole one). */
static bool is_hello_fragment(const uint8_t *r, size_t rlen)
{
    if (rlen < REC_HDR + HS_HDR || r[0] != 22 || r[3] != 0 || r[4] != 0 || r[REC_HDR] != 1)
        return false;
    const uint8_t *h = r + REC_HDR;
    uint32_t msg_len = fl_get_be24(h + 1), off = fl_get_be24(h + 6), flen = fl_get_be24(h + 9);
    return (off != 0 || flen != msg_len) && (size_t)REC_HDR + HS_HDR + flen <= rlen;
}

/* Adds one fragment; true when the message is complete. */
static bool hello_add(struct hello_asm *a, const uint8_t *r)
{
    const uint8_t *h = r + REC_HDR;
    uint32_t msg_len = fl_get_be24(h + 1), off = fl_get_be24(h + 6), flen = fl_get_be24(h + 9);
    uint16_t seq = (uint16_t)(h[4] << 8 | h[5]);
    if (msg_len == 0 || msg_len > HELLO_BODY_MAX || off + flen > msg_len)
        return false;
    if (a->msg_len != msg_len || a->msg_seq != seq) { /* a new message */
        a->msg_len = msg_len;
        a->msg_seq = seq;
        a->got = 0;
        memset(a->have, 0, sizeof(a->have));
        memcpy(a->rec, r, REC_HDR);
    }
    if (off == 0)
        memcpy(a->rec, r, REC_HDR);
    for (uint32_t i = off; i < off + flen; i++) {
        if (!(a->have[i / 8] & (1u << (i % 8)))) {
            a->have[i / 8] |= (uint8_t)(1u << (i % 8));
            a->got++;
        }
    }
    memcpy(a->body + off, h + HS_HDR, flen);
    return a->got == a->msg_len;
}

/* The datagram as mbedTLS should see it: fragments of a ClientHello taken
 * out, and the whole message in their place once every byte is in. Returns
 * data itself when there is nothing to do. */
static const uint8_t *hello_reassemble(fl_dtls *d, const uint8_t *data, size_t *len)
{
    bool any = false;
    for (size_t off = 0; off + REC_HDR <= *len;) {
        size_t rlen = REC_HDR + (size_t)(data[off + 11] << 8 | data[off + 12]);
        if (off + rlen > *len)
            break;
        any = any || is_hello_fragment(data + off, rlen);
        off += rlen;
    }
    if (!any)
        return data;
    if (!d->hello && !(d->hello = calloc(1, sizeof(*d->hello))))
        return data;
    struct hello_asm *a = d->hello;
    size_t out = 0;
    for (size_t off = 0; off + REC_HDR <= *len;) {
        size_t rlen = REC_HDR + (size_t)(data[off + 11] << 8 | data[off + 12]);
        if (off + rlen > *len)
            break;
        const uint8_t *r = data + off;
        off += rlen;
        if (!is_hello_fragment(r, rlen)) {
            if (out + rlen <= 2048) {
                memcpy(a->out + out, r, rlen);
                out += rlen;
            }
            continue;
        }
        if (!hello_add(a, r))
            continue;
        uint8_t *o = a->out + out;
        memcpy(o, a->rec, REC_HDR);
        o[11] = (uint8_t)((HS_HDR + a->msg_len) >> 8);
        o[12] = (uint8_t)(HS_HDR + a->msg_len);
        o[REC_HDR] = 1;
        fl_put_be24(o + REC_HDR + 1, (uint32_t)a->msg_len);
        o[REC_HDR + 4] = (uint8_t)(a->msg_seq >> 8);
        o[REC_HDR + 5] = (uint8_t)a->msg_seq;
        fl_put_be24(o + REC_HDR + 6, 0);
        fl_put_be24(o + REC_HDR + 9, (uint32_t)a->msg_len);
        memcpy(o + REC_HDR + HS_HDR, a->body, a->msg_len);
        out += REC_HDR + HS_HDR + a->msg_len;
        a->msg_len = 0; /* a retransmission starts over */
        fl_log(FL_LOG_DEBUG, "put a fragmented ClientHello together (%zu bytes)",
               (size_t)(fl_get_be24(o + REC_HDR + 1)));
        break; /* the rest of the datagram is later flights' */
    }
    *len = out;
    return a->out;
}

int fl_dtls_handle_input(fl_dtls *d, fl_time now, const uint8_t *data, size_t len)
{
    if (d->state == FL_DTLS_STATE_NEW && d->role == FL_DTLS_ROLE_SERVER)
        d->state = FL_DTLS_STATE_HANDSHAKING;
    if (d->state != FL_DTLS_STATE_HANDSHAKING && d->state != FL_DTLS_STATE_CONNECTED)
        return FL_ESTATE;
    if (now > d->now)
        d->now = now;
    if (!data || !looks_like_dtls(data, len)) {
        d->dropped++;
        fl_log(FL_LOG_TRACE, "dropped a %zu-byte datagram that is not DTLS", len);
        return 0;
    }
    if (d->role == FL_DTLS_ROLE_SERVER && !d->hs_done) {
        data = hello_reassemble(d, data, &len);
        if (len == 0)
            return 0; /* only part of a ClientHello so far */
    }
    d->in = data;
    d->in_len = len;
    drive(d);
    d->in = NULL;
    return 0;
}

int fl_dtls_handle_timeout(fl_dtls *d, fl_time now)
{
    if (now > d->now)
        d->now = now;
    if (d->state == FL_DTLS_STATE_HANDSHAKING && !d->hs_done && d->timer_fin != FL_TIME_NEVER &&
        d->now >= d->timer_fin)
        drive(d);
    return 0;
}

fl_time fl_dtls_poll_timeout(const fl_dtls *d)
{
    if (d->state != FL_DTLS_STATE_HANDSHAKING || d->hs_done)
        return FL_TIME_NEVER;
    return d->timer_fin;
}

int fl_dtls_poll_transmit(fl_dtls *d, fl_bytes *out)
{
    return queue_pop(&d->tx, out);
}

int fl_dtls_poll_event(fl_dtls *d, fl_dtls_event *out)
{
    if (d->ev_count == 0)
        return FL_EAGAIN;
    fl_dtls_event *ev = &d->events[d->ev_head];
    *out = *ev;
    mbedtls_platform_zeroize(ev, sizeof(*ev));
    d->ev_head = (d->ev_head + 1) % EVENTS_MAX;
    d->ev_count--;
    return 0;
}

int fl_dtls_send(fl_dtls *d, const void *data, size_t len)
{
    if (d->state != FL_DTLS_STATE_CONNECTED)
        return FL_ESTATE;
    int room = mbedtls_ssl_get_max_out_record_payload(&d->ssl);
    if (room < 0 || len > (size_t)room)
        return FL_EMSGSIZE;
    int ret = mbedtls_ssl_write(&d->ssl, data, len);
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
        return FL_ENOMEM;
    if (ret < 0 || (size_t)ret != len) {
        log_mbedtls(FL_LOG_DEBUG, "write", ret);
        return FL_ETLS;
    }
    return 0;
}

int fl_dtls_poll_data(fl_dtls *d, fl_bytes *out)
{
    return queue_pop(&d->rx, out);
}

int fl_dtls_close(fl_dtls *d)
{
    if (d->state == FL_DTLS_STATE_CLOSED || d->state == FL_DTLS_STATE_FAILED)
        return FL_ESTATE;
    if (d->hs_done)
        (void)mbedtls_ssl_close_notify(&d->ssl);
    d->state = FL_DTLS_STATE_CLOSED;
    d->timer_int = d->timer_fin = FL_TIME_NEVER;
    return 0;
}

fl_dtls_state fl_dtls_get_state(const fl_dtls *d)
{
    return d->state;
}

fl_dtls_role fl_dtls_get_role(const fl_dtls *d)
{
    return d->role;
}

uint64_t fl_dtls_dropped(const fl_dtls *d)
{
    return d->dropped;
}

const char *fl_dtls_srtp_profile_name(fl_dtls_srtp_profile p)
{
    switch (p) {
    case FL_DTLS_SRTP_AES128_CM_SHA1_80:
        return "SRTP_AES128_CM_SHA1_80";
    case FL_DTLS_SRTP_AES128_CM_SHA1_32:
        return "SRTP_AES128_CM_SHA1_32";
    case FL_DTLS_SRTP_AEAD_AES_128_GCM:
        return "SRTP_AEAD_AES_128_GCM";
    case FL_DTLS_SRTP_NONE:
        break;
    }
    return "none";
}
