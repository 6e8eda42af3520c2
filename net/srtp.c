/* net/srtp: the libsrtp2 wrapper. With net/srtp_crypto, the only files that
 * include <srtp2/...>. */
#include "net/srtp.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "base/log.h"
#include "net/srtp_crypto.h"

FL_LOG_TAG("srtp");

#define RTP_HEADER_LEN  12
#define RTCP_HEADER_LEN 8
#define SSRC_TRACK      16

struct fl_srtp {
    srtp_t ctx;
    fl_srtp_profile profile;
    fl_srtp_direction direction;
    size_t rtp_trailer;
    size_t rtcp_trailer;
    fl_srtp_stats stats;
    /* INBOUND: what a stream added with a guessed rollover counter is keyed
     * with (see fl_srtp_unprotect), wiped with the session */
    uint8_t master[FL_SRTP_MAX_KEY_LEN + FL_SRTP_MAX_SALT_LEN];
    unsigned long window;
    unsigned guesses_left;
    /* INBOUND: SSRCs an RTP packet of has authenticated (while there is
     * room: a session past SSRC_TRACK guesses no more) */
    uint32_t rtp_ok[SSRC_TRACK];
    size_t n_rtp_ok;
};

/* ---- global initialisation ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

/* libsrtp's messages go to our log at debug level. Only errors and warnings
 * are forwarded: libsrtp's debug output (when its debug modules are on) can
 * print key material, which is never logged. */
static void srtp_log_handler(srtp_log_level_t level, const char *msg, void *data)
{
    (void)data;
    if (level == srtp_log_level_error || level == srtp_log_level_warning)
        fl_log(FL_LOG_DEBUG, "libsrtp: %s", msg);
}

/* libsrtp's events come through one process-wide handler, on the thread
 * that protects or unprotects (the session's own): the session's counter is
 * found through its user data. */
static void srtp_event_handler(srtp_event_data_t *data)
{
    fl_srtp *s = data && data->session ? srtp_get_user_data(data->session) : NULL;
    if (!s)
        return;
    switch (data->event) {
    case event_key_soft_limit:
        s->stats.key_soft_limits++;
        fl_log(FL_LOG_INFO, "%s session: key soft limit (ssrc %u)",
               s->direction == FL_SRTP_INBOUND ? "inbound" : "outbound", (unsigned)data->ssrc);
        break;
    case event_key_hard_limit:
        fl_log(FL_LOG_WARN, "key hard limit (ssrc %u): packets refused", (unsigned)data->ssrc);
        break;
    default:
        break;
    }
}

static void init_libsrtp(void)
{
    srtp_err_status_t st = srtp_init();
    if (st != srtp_err_status_ok) {
        fl_log(FL_LOG_ERROR, "srtp_init failed (%d)", (int)st);
        init_result = FL_EIO;
        return;
    }
    srtp_install_log_handler(srtp_log_handler, NULL);
    srtp_install_event_handler(srtp_event_handler);
    /* without it, libsrtp2's own back end (slower) stays: not fatal */
    int crypto = fl__srtp_crypto_install();
    fl_log(FL_LOG_DEBUG, "%s initialised, AES-CM, HMAC-SHA1 and AES-GCM on %s",
           srtp_get_version_string(),
           crypto == 0 ? "OpenSSL libcrypto" : "the library's own back end");
    init_result = 0;
}

int fl_srtp_init(void)
{
    if (pthread_once(&init_once, init_libsrtp) != 0)
        return FL_EIO;
    return init_result;
}

/* ---- profiles ---- */

size_t fl_srtp_profile_key_len(fl_srtp_profile profile)
{
    switch (profile) {
    case FL_SRTP_AES128_CM_HMAC_SHA1_80:
    case FL_SRTP_AES128_CM_HMAC_SHA1_32:
    case FL_SRTP_AEAD_AES_128_GCM:
        return 16;
    case FL_SRTP_AES256_CM_HMAC_SHA1_80:
    case FL_SRTP_AES256_CM_HMAC_SHA1_32:
        return 32;
    }
    return 0;
}

size_t fl_srtp_profile_salt_len(fl_srtp_profile profile)
{
    switch (profile) {
    case FL_SRTP_AES128_CM_HMAC_SHA1_80:
    case FL_SRTP_AES128_CM_HMAC_SHA1_32:
    case FL_SRTP_AES256_CM_HMAC_SHA1_80:
    case FL_SRTP_AES256_CM_HMAC_SHA1_32:
        return 14;
    case FL_SRTP_AEAD_AES_128_GCM:
        return 12;
    }
    return 0;
}

const char *fl_srtp_profile_name(fl_srtp_profile profile)
{
    switch (profile) {
    case FL_SRTP_AES128_CM_HMAC_SHA1_80:
        return "SRTP_AES128_CM_HMAC_SHA1_80";
    case FL_SRTP_AES128_CM_HMAC_SHA1_32:
        return "SRTP_AES128_CM_HMAC_SHA1_32";
    case FL_SRTP_AEAD_AES_128_GCM:
        return "SRTP_AEAD_AES_128_GCM";
    case FL_SRTP_AES256_CM_HMAC_SHA1_80:
        return "SRTP_AES256_CM_HMAC_SHA1_80";
    case FL_SRTP_AES256_CM_HMAC_SHA1_32:
        return "SRTP_AES256_CM_HMAC_SHA1_32";
    }
    return "unknown";
}

/* RFC 5764 section 4.1.2: the _32 profile keeps an 80-bit SRTCP tag. */
static void set_crypto_policies(srtp_policy_t *p, fl_srtp_profile profile)
{
    switch (profile) {
    case FL_SRTP_AES128_CM_HMAC_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case FL_SRTP_AES128_CM_HMAC_SHA1_32:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case FL_SRTP_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        break;
    case FL_SRTP_AES256_CM_HMAC_SHA1_80:
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        break;
    case FL_SRTP_AES256_CM_HMAC_SHA1_32:
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        break;
    }
}

/* ---- errors ---- */

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
    case srtp_err_status_pkt_idx_old:
        return FL_SRTP_EREPLAY;
    case srtp_err_status_auth_fail:
        return FL_EAUTH;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
    case srtp_err_status_bad_mki:
    case srtp_err_status_no_ctx:
        return FL_EBADMSG;
    case srtp_err_status_key_expired:
    case srtp_err_status_pkt_idx_adv:
        return FL_ESTATE;
    case srtp_err_status_alloc_fail:
        return FL_ENOMEM;
    default:
        return FL_EPROTO;
    }
}

static void count_error(fl_srtp *s, int rc)
{
    if (rc == FL_SRTP_EREPLAY)
        s->stats.replay_drops++;
    else if (rc == FL_EAUTH)
        s->stats.auth_failures++;
    else if (rc == FL_EBADMSG)
        s->stats.bad_packets++;
    else
        s->stats.other_errors++;
}

/* ---- sessions ---- */

static int check_config(const fl_srtp_config *cfg)
{
    size_t key_len = fl_srtp_profile_key_len(cfg->profile);
    if (key_len == 0 || cfg->key_len != key_len || !cfg->key)
        return FL_EINVAL;
    if (cfg->salt_len != fl_srtp_profile_salt_len(cfg->profile) || !cfg->salt)
        return FL_EINVAL;
    if (cfg->direction != FL_SRTP_INBOUND && cfg->direction != FL_SRTP_OUTBOUND)
        return FL_EINVAL;
    if (cfg->replay_window != 0 && (cfg->replay_window < FL_SRTP_MIN_REPLAY_WINDOW ||
                                    cfg->replay_window > FL_SRTP_MAX_REPLAY_WINDOW))
        return FL_EINVAL;
    return 0;
}

static int trailer_lengths(fl_srtp *s)
{
    uint32_t rtp = 0, rtcp = 0;
    if (srtp_get_protect_trailer_length(s->ctx, 0, 0, &rtp) != srtp_err_status_ok ||
        srtp_get_protect_rtcp_trailer_length(s->ctx, 0, 0, &rtcp) != srtp_err_status_ok)
        return FL_EPROTO;
    s->rtp_trailer = rtp;
    s->rtcp_trailer = rtcp; /* E|SRTCP index word + tag */
    if (s->rtp_trailer > FL_SRTP_MAX_TRAILER_LEN || s->rtcp_trailer > FL_SRTP_MAX_TRAILER_LEN)
        return FL_EPROTO;
    return 0;
}

int fl_srtp_create(fl_srtp **out, const fl_srtp_config *cfg)
{
    if (!out || !cfg)
        return FL_EINVAL;
    int rc = check_config(cfg);
    if (rc != 0)
        return rc;
    rc = fl_srtp_init();
    if (rc != 0)
        return rc;
    fl_srtp *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->profile = cfg->profile;
    s->direction = cfg->direction;

    /* libsrtp wants key || salt in one array. */
    uint8_t master[FL_SRTP_MAX_KEY_LEN + FL_SRTP_MAX_SALT_LEN];
    memcpy(master, cfg->key, cfg->key_len);
    memcpy(master + cfg->key_len, cfg->salt, cfg->salt_len);

    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    set_crypto_policies(&policy, cfg->profile);
    policy.ssrc.type = cfg->direction == FL_SRTP_INBOUND ? ssrc_any_inbound : ssrc_any_outbound;
    policy.key = master;
    policy.window_size = cfg->replay_window ? cfg->replay_window : FL_SRTP_DEFAULT_REPLAY_WINDOW;
    policy.allow_repeat_tx = cfg->direction == FL_SRTP_OUTBOUND && cfg->allow_repeat_tx;

    srtp_err_status_t st = srtp_create(&s->ctx, &policy);
    if (cfg->direction == FL_SRTP_INBOUND) {
        memcpy(s->master, master, sizeof(master));
        s->window = policy.window_size;
        s->guesses_left = FL_SRTP_ROC_GUESSES;
    }
    explicit_bzero(master, sizeof(master));
    if (st != srtp_err_status_ok) {
        fl_log(FL_LOG_WARN, "srtp_create(%s) failed (%d)", fl_srtp_profile_name(cfg->profile),
               (int)st);
        rc = st == srtp_err_status_alloc_fail ? FL_ENOMEM : FL_EINVAL;
        goto free_session;
    }
    srtp_set_user_data(s->ctx, s);
    rc = trailer_lengths(s);
    if (rc != 0)
        goto dealloc_ctx;
    fl_log(FL_LOG_DEBUG, "%s session %s, replay window %lu",
           cfg->direction == FL_SRTP_INBOUND ? "inbound" : "outbound",
           fl_srtp_profile_name(cfg->profile), policy.window_size);
    *out = s;
    return 0;

dealloc_ctx:
    srtp_dealloc(s->ctx);
free_session:
    explicit_bzero(s, sizeof(*s));
    free(s);
    return rc;
}

void fl_srtp_destroy(fl_srtp *s)
{
    if (!s)
        return;
    /* srtp_dealloc zeroes the cipher and auth contexts (the session keys)
     * before freeing them; the master key was never kept. */
    srtp_dealloc(s->ctx);
    explicit_bzero(s, sizeof(*s));
    free(s);
}

size_t fl_srtp_trailer_len(const fl_srtp *s, int rtcp)
{
    return rtcp ? s->rtcp_trailer : s->rtp_trailer;
}

void fl_srtp_get_stats(const fl_srtp *s, fl_srtp_stats *out)
{
    *out = s->stats;
}

/* ---- packets ---- */

/* Version 2 and a header (CSRCs, extension) that fits in len. */
static int check_rtp(const uint8_t *p, size_t len)
{
    if (len < RTP_HEADER_LEN || (p[0] & 0xc0) != 0x80)
        return FL_EBADMSG;
    size_t hdr = RTP_HEADER_LEN + 4 * (size_t)(p[0] & 0x0f);
    if (p[0] & 0x10) {
        if (hdr + 4 > len)
            return FL_EBADMSG;
        hdr += 4 + 4 * (((size_t)p[hdr + 2] << 8) | p[hdr + 3]);
    }
    return hdr <= len ? 0 : FL_EBADMSG;
}

static int check_rtcp(const uint8_t *p, size_t len)
{
    if (len < RTCP_HEADER_LEN || (p[0] & 0xc0) != 0x80)
        return FL_EBADMSG;
    return 0;
}

/* Common checks; returns 0 or an error already counted. */
static int pre(fl_srtp *s, fl_buf *buf, fl_srtp_direction dir, size_t min_len, size_t trailer)
{
    int rc = 0;
    if (!buf)
        return FL_EINVAL;
    if (s->direction != dir)
        rc = FL_ESTATE;
    else if (!fl_buf_writable(buf))
        rc = FL_EBUSY;
    else if (buf->len < min_len)
        rc = FL_EBADMSG;
    else if (buf->len > INT_MAX - FL_SRTP_MAX_TRAILER_LEN)
        rc = FL_EMSGSIZE;
    else if (fl_buf_tailroom(buf) < trailer)
        rc = FL_EMSGSIZE;
    if (rc != 0)
        count_error(s, rc);
    return rc;
}

static int finish(fl_srtp *s, fl_buf *buf, srtp_err_status_t st, int len, uint64_t *counter)
{
    int rc = map_status(st);
    if (rc != 0) {
        count_error(s, rc);
        fl_log(FL_LOG_TRACE, "packet dropped: %s (libsrtp %d)", fl_strerror(rc), (int)st);
        return rc;
    }
    buf->len = (uint32_t)len;
    (*counter)++;
    return 0;
}

int fl_srtp_protect(fl_srtp *s, fl_buf *buf)
{
    int rc = pre(s, buf, FL_SRTP_OUTBOUND, RTP_HEADER_LEN, s->rtp_trailer);
    if (rc == 0 && (rc = check_rtp(fl_buf_data(buf), buf->len)) != 0)
        count_error(s, rc);
    if (rc != 0)
        return rc;
    int len = (int)buf->len;
    srtp_err_status_t st = srtp_protect(s->ctx, fl_buf_data(buf), &len);
    return finish(s, buf, st, len, &s->stats.rtp_protected);
}

/* The packet p[0..len) of ssrc, an SSRC no RTP packet of has authenticated
 * yet, failed at the rollover counter a new stream starts at, 0: tried
 * once more from orig (its bytes as they came) at 1, on a stream added for
 * the SSRC or on the one its SRTCP made. Kept at 1 when that authenticates
 * it, else as it was. ssrc_wire: the SSRC as on the wire (libsrtp's
 * streams are keyed so). */
static srtp_err_status_t unprotect_roc1(fl_srtp *s,
                                        uint32_t ssrc,
                                        uint32_t ssrc_wire,
                                        uint8_t *p,
                                        int *len,
                                        const uint8_t *orig,
                                        int orig_len)
{
    s->guesses_left--;
    uint32_t roc;
    int added = srtp_get_stream_roc(s->ctx, ssrc, &roc) != srtp_err_status_ok;
    if (added) {
        srtp_policy_t policy;
        memset(&policy, 0, sizeof(policy));
        set_crypto_policies(&policy, s->profile);
        policy.ssrc.type = ssrc_specific;
        policy.ssrc.value = ssrc;
        policy.key = s->master;
        policy.window_size = s->window;
        if (srtp_add_stream(s->ctx, &policy) != srtp_err_status_ok)
            return srtp_err_status_auth_fail;
    } else if (roc != 0) {
        return srtp_err_status_auth_fail;
    }
    srtp_err_status_t st = srtp_set_stream_roc(s->ctx, ssrc, 1);
    if (st == srtp_err_status_ok) {
        memcpy(p, orig, (size_t)orig_len);
        *len = orig_len;
        st = srtp_unprotect(s->ctx, p, len);
    }
    if (st != srtp_err_status_ok) {
        if (added || srtp_set_stream_roc(s->ctx, ssrc, 0) != srtp_err_status_ok)
            srtp_remove_stream(s->ctx, ssrc_wire);
        return srtp_err_status_auth_fail;
    }
    s->stats.roc_guessed++;
    fl_log(FL_LOG_INFO,
           "ssrc %u: authenticated at a rollover counter of 1 (its first packets were missed "
           "past a wrap)",
           (unsigned)ssrc);
    return st;
}

/* Whether an RTP packet of ssrc authenticated before; noted now if `ok`. */
static int rtp_seen(fl_srtp *s, uint32_t ssrc, int ok)
{
    for (size_t i = 0; i < s->n_rtp_ok; i++)
        if (s->rtp_ok[i] == ssrc)
            return 1;
    if (s->n_rtp_ok == SSRC_TRACK)
        return 1; /* too many to tell: taken as seen */
    if (ok)
        s->rtp_ok[s->n_rtp_ok++] = ssrc;
    return 0;
}

int fl_srtp_unprotect(fl_srtp *s, fl_buf *buf)
{
    int rc = pre(s, buf, FL_SRTP_INBOUND, RTP_HEADER_LEN + s->rtp_trailer, 0);
    if (rc == 0 && (rc = check_rtp(fl_buf_data(buf), buf->len)) != 0)
        count_error(s, rc);
    if (rc != 0)
        return rc;
    uint8_t *p = fl_buf_data(buf);
    int len = (int)buf->len;
    /* an SSRC no RTP packet of has authenticated yet: its bytes kept for a
     * second try (the first may decrypt them in place before its tag
     * fails) */
    uint8_t orig[FL_SRTP_ROC_GUESS_MAX_LEN];
    uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    uint32_t ssrc_wire;
    memcpy(&ssrc_wire, p + 8, 4);
    int fresh = s->guesses_left && buf->len <= sizeof(orig) && !rtp_seen(s, ssrc, 0);
    if (fresh)
        memcpy(orig, p, buf->len);
    srtp_err_status_t st = srtp_unprotect(s->ctx, p, &len);
    if (st == srtp_err_status_auth_fail && fresh)
        st = unprotect_roc1(s, ssrc, ssrc_wire, p, &len, orig, (int)buf->len);
    if (st == srtp_err_status_ok && fresh)
        rtp_seen(s, ssrc, 1);
    return finish(s, buf, st, len, &s->stats.rtp_unprotected);
}

int fl_srtp_protect_rtcp(fl_srtp *s, fl_buf *buf)
{
    int rc = pre(s, buf, FL_SRTP_OUTBOUND, RTCP_HEADER_LEN, s->rtcp_trailer);
    if (rc == 0 && (rc = check_rtcp(fl_buf_data(buf), buf->len)) != 0)
        count_error(s, rc);
    if (rc != 0)
        return rc;
    int len = (int)buf->len;
    srtp_err_status_t st = srtp_protect_rtcp(s->ctx, fl_buf_data(buf), &len);
    return finish(s, buf, st, len, &s->stats.rtcp_protected);
}

int fl_srtp_unprotect_rtcp(fl_srtp *s, fl_buf *buf)
{
    int rc = pre(s, buf, FL_SRTP_INBOUND, RTCP_HEADER_LEN + s->rtcp_trailer, 0);
    if (rc == 0 && (rc = check_rtcp(fl_buf_data(buf), buf->len)) != 0)
        count_error(s, rc);
    if (rc != 0)
        return rc;
    int len = (int)buf->len;
    srtp_err_status_t st = srtp_unprotect_rtcp(s->ctx, fl_buf_data(buf), &len);
    return finish(s, buf, st, len, &s->stats.rtcp_unprotected);
}
