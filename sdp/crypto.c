/* a=crypto (RFC 4568 SDES for SRTP, RFC 6188 for the AES-256 suites):
 *
 *     a=crypto:<tag> <suite> inline:<key||salt base64>[|<lifetime>][|<MKI>:<len>] [<param>...]
 *
 * One inline key per line (several keys with MKIs are not supported), the
 * four AES-CM suites fluo keys SRTP with. Key bytes never go in an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/err.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

#define MAX_TAG      999999999u
#define MAX_LIFETIME (1ull << 48) /* RFC 3711: 2^48 SRTP packets per key */
#define MAX_MKI_LEN  128u         /* RFC 4568: 1 to 128 bytes */

static const char *const suite_names[] = {
    "",
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
};
#define NSUITES (sizeof(suite_names) / sizeof(suite_names[0]))

const char *fl_sdp_crypto_suite_name(fl_sdp_crypto_suite s)
{
    return (unsigned)s < NSUITES ? suite_names[s] : "";
}

fl_sdp_crypto_suite fl_sdp_crypto_suite_parse(const char *sdp_name)
{
    for (unsigned i = 1; sdp_name && i < NSUITES; i++) {
        if (strcmp(sdp_name, suite_names[i]) == 0)
            return (fl_sdp_crypto_suite)i;
    }
    return FL_SDP_CRYPTO_NONE;
}

size_t fl_sdp_crypto_key_len(fl_sdp_crypto_suite s)
{
    switch (s) {
    case FL_SDP_AES_CM_128_HMAC_SHA1_80:
    case FL_SDP_AES_CM_128_HMAC_SHA1_32:
        return 30;
    case FL_SDP_AES_256_CM_HMAC_SHA1_80:
    case FL_SDP_AES_256_CM_HMAC_SHA1_32:
        return 46;
    case FL_SDP_CRYPTO_NONE:
        break;
    }
    return 0;
}

/* A token of [p, end): up to the next space or tab. */
static const char *token_end(const char *p)
{
    while (*p && *p != ' ' && *p != '\t')
        p++;
    return p;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Decimal digits [p, end) up to max into *out; 0 or -1. */
static int decimal(const char *p, const char *end, uint64_t max, uint64_t *out)
{
    if (p == end || end - p > 20)
        return -1;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "2^n" or a decimal number of packets. */
static int lifetime(const char *p, const char *end, uint64_t *out)
{
    if (end - p > 2 && p[0] == '2' && p[1] == '^') {
        uint64_t n;
        if (decimal(p + 2, end, 48, &n) != 0)
            return -1;
        *out = 1ull << n;
        return 0;
    }
    return decimal(p, end, MAX_LIFETIME, out) == 0 && *out > 0 ? 0 : -1;
}

/* "<value>:<length>", value in 1..128 bytes; fluo keeps values up to 32 bits. */
static int mki(const char *p, const char *end, fl_sdp_crypto *out)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    uint64_t v, n;
    if (!colon || decimal(p, colon, UINT32_MAX, &v) != 0 ||
        decimal(colon + 1, end, MAX_MKI_LEN, &n) != 0 || n == 0)
        return -1;
    if (n < 4 && v >> (8 * n) != 0) /* the value does not fit its length */
        return -1;
    out->mki = (uint32_t)v;
    out->mki_len = (uint32_t)n;
    return 0;
}

/* "inline:<key||salt>[|lifetime][|mki:len]" from p to end. */
static int key_param(const char *p, const char *end, fl_sdp_crypto *out, char *err, size_t errlen)
{
    if ((size_t)(end - p) < 7 || memcmp(p, "inline:", 7) != 0)
        return fl__sdp_fail(err, errlen, "a=crypto: key method is not inline");
    p += 7;
    if (memchr(p, ';', (size_t)(end - p)))
        return fl__sdp_fail(err, errlen, "a=crypto: more than one key");
    const char *bar = memchr(p, '|', (size_t)(end - p));
    const char *kend = bar ? bar : end;
    uint8_t key[FL_SDP_CRYPTO_MAX_KEY + 3];
    int n = fl_base64_decode(p, (size_t)(kend - p), key, sizeof(key));
    if (n == FL_EBADMSG) {
        explicit_bzero(key, sizeof(key)); /* what was decoded before the bad byte */
        return fl__sdp_fail(err, errlen, "a=crypto: key is not base64");
    }
    if (n < 0 || (size_t)n != out->key_len) {
        memset(key, 0, sizeof(key));
        return fl__sdp_fail(err, errlen, "a=crypto: key of %s must be %zu bytes",
                            fl_sdp_crypto_suite_name(out->suite), out->key_len);
    }
    memcpy(out->key, key, out->key_len);
    memset(key, 0, sizeof(key));
    int fields = 0;
    while (bar) {
        p = bar + 1;
        bar = memchr(p, '|', (size_t)(end - p));
        const char *fend = bar ? bar : end;
        int is_mki = memchr(p, ':', (size_t)(fend - p)) != NULL;
        if (is_mki && fields < 2 && out->mki_len == 0) {
            if (mki(p, fend, out) != 0)
                return fl__sdp_fail(err, errlen, "a=crypto: bad MKI");
            fields = 2;
        } else if (!is_mki && fields == 0) {
            if (lifetime(p, fend, &out->lifetime) != 0)
                return fl__sdp_fail(err, errlen, "a=crypto: bad key lifetime");
            fields = 1;
        } else {
            return fl__sdp_fail(err, errlen, "a=crypto: unexpected field after the key");
        }
    }
    return 0;
}

/* Session parameters: those that turn protection off are not supported, a
 * key derivation rate other than 0 neither (libsrtp derives once). */
static int session_param(const char *p, const char *end)
{
    static const char *const off[] = { "UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP",
                                       "UNAUTHENTICATED_SRTP" };
    size_t n = (size_t)(end - p);
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        if (n == strlen(off[i]) && memcmp(p, off[i], n) == 0)
            return FL_ENOTSUP;
    }
    uint64_t kdr;
    if (n > 4 && memcmp(p, "KDR=", 4) == 0 && (decimal(p + 4, end, 24, &kdr) != 0 || kdr != 0))
        return FL_ENOTSUP;
    return 0;
}

int fl_sdp_crypto_parse(const char *value, fl_sdp_crypto *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    if (!value)
        return FL_EINVAL;
    const char *p = skip_space(value), *e = token_end(p);
    uint64_t tag;
    if (decimal(p, e, MAX_TAG, &tag) != 0 || tag == 0 || e - p > 9)
        return fl__sdp_fail(err, errlen, "a=crypto: tag not a number from 1 to 999999999");
    p = skip_space(e);
    e = token_end(p);
    char suite[32];
    if (p == e)
        return fl__sdp_fail(err, errlen, "a=crypto: no crypto suite");
    snprintf(suite, sizeof(suite), "%.*s", (int)(e - p < 31 ? e - p : 31), p);
    fl_sdp_crypto_suite s =
            (size_t)(e - p) < sizeof(suite) ? fl_sdp_crypto_suite_parse(suite) : FL_SDP_CRYPTO_NONE;
    p = skip_space(e);
    e = token_end(p);
    if (p == e)
        return fl__sdp_fail(err, errlen, "a=crypto: no key parameters");
    if (s == FL_SDP_CRYPTO_NONE) {
        if (err && errlen)
            snprintf(err, errlen, "a=crypto: crypto suite %s not supported", suite);
        return FL_ENOTSUP;
    }
    out->tag = (int)tag;
    out->suite = s;
    out->key_len = fl_sdp_crypto_key_len(s);
    int rc = key_param(p, e, out, err, errlen);
    for (p = skip_space(e); rc == 0 && *p; p = skip_space(e)) {
        e = token_end(p);
        rc = session_param(p, e);
        if (rc != 0 && err && errlen)
            snprintf(err, errlen, "a=crypto: session parameter %.*s not supported",
                     (int)(e - p < 40 ? e - p : 40), p);
    }
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* "2^n" when the lifetime is a power of two, else the number. */
static int write_lifetime(uint64_t v, char *out, size_t cap)
{
    if ((v & (v - 1)) == 0) {
        int n = 0;
        while ((1ull << n) != v)
            n++;
        return snprintf(out, cap, "|2^%d", n);
    }
    return snprintf(out, cap, "|%llu", (unsigned long long)v);
}

int fl_sdp_crypto_write(const fl_sdp_crypto *c, char *out, size_t cap)
{
    if (!c || !out || cap == 0)
        return FL_EINVAL;
    out[0] = '\0';
    size_t klen = fl_sdp_crypto_key_len(c->suite);
    if (klen == 0 || c->key_len != klen || c->tag < 1 || (unsigned)c->tag > MAX_TAG ||
        c->lifetime > MAX_LIFETIME || c->mki_len > MAX_MKI_LEN)
        return FL_EINVAL;
    char b64[FL_BASE64_ENCODED_LEN(FL_SDP_CRYPTO_MAX_KEY) + 1];
    fl_base64_encode(c->key, c->key_len, b64, sizeof(b64));
    char life[32] = "", mk[32] = "";
    if (c->lifetime)
        write_lifetime(c->lifetime, life, sizeof(life));
    if (c->mki_len)
        snprintf(mk, sizeof(mk), "|%u:%u", (unsigned)c->mki, (unsigned)c->mki_len);
    int n = snprintf(out, cap, "%d %s inline:%s%s%s", c->tag, fl_sdp_crypto_suite_name(c->suite),
                     b64, life, mk);
    memset(b64, 0, sizeof(b64));
    if (n < 0 || (size_t)n >= cap) {
        memset(out, 0, cap);
        return FL_EMSGSIZE;
    }
    return 0;
}
