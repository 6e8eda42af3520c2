/* Certificates and fingerprints for DTLS-SRTP, over mbedTLS's X.509 layer. */
#include "net/cert.h"

#include <ctype.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("dtls");

#define CERT_DER_MAX 4096
#define KEY_DER_MAX  8192

struct fl_cert {
    mbedtls_x509_crt crt; /* ours first, then any chain */
    mbedtls_pk_context key;
    char fp[FL_CERT_FP_TEXT_MAX];
};

static void log_mbedtls(int level, const char *what, int ret)
{
    char msg[128];
    mbedtls_strerror(ret, msg, sizeof(msg));
    fl_log(level, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

static fl_cert *cert_new(void)
{
    fl_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    mbedtls_x509_crt_init(&c->crt);
    mbedtls_pk_init(&c->key);
    return c;
}

void fl_cert_destroy(fl_cert *c)
{
    if (!c)
        return;
    mbedtls_x509_crt_free(&c->crt);
    mbedtls_pk_free(&c->key);
    free(c);
}

/* Checks the pair and computes the fingerprint. */
static int cert_finish(fl_cert *c)
{
    int ret = mbedtls_pk_check_pair(&c->crt.pk, &c->key);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "the private key does not match the certificate");
        return FL_ETLS;
    }
    if (!mbedtls_pk_can_do(&c->key, MBEDTLS_PK_ECKEY) &&
        !mbedtls_pk_can_do(&c->key, MBEDTLS_PK_RSA)) {
        fl_log(FL_LOG_ERROR, "the key is neither RSA nor ECDSA");
        return FL_ETLS;
    }
    return fl_cert_fingerprint_der(c->crt.raw.p, c->crt.raw.len, FL_CERT_HASH_SHA256, c->fp,
                                   sizeof(c->fp));
}

/* ---- generation ----------------------------------------------------------- */

static int entropy(void *ctx, unsigned char *out, size_t len)
{
    fl_rand_fill(ctx, out, len);
    return 0;
}

static int format_time(int64_t t, char out[16])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1950)
        return FL_EINVAL;
    if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
        return FL_EINVAL;
    return 0;
}

static int write_self_signed(fl_cert *c,
                             mbedtls_ctr_drbg_context *drbg,
                             const char *subject,
                             const char *from,
                             const char *to)
{
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    unsigned char sbytes[16];
    unsigned char *der = malloc(CERT_DER_MAX);
    int rc = FL_ETLS;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    if (!der) {
        rc = FL_ENOMEM;
        goto out;
    }
    mbedtls_ctr_drbg_random(drbg, sbytes, sizeof(sbytes));
    sbytes[0] &= 0x7f; /* positive */
    sbytes[0] |= 0x01; /* and not shortened */
    if (mbedtls_mpi_read_binary(&serial, sbytes, sizeof(sbytes)) != 0)
        goto out;
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &c->key);
    mbedtls_x509write_crt_set_issuer_key(&w, &c->key);
    if (mbedtls_x509write_crt_set_serial(&w, &serial) != 0 ||
        mbedtls_x509write_crt_set_validity(&w, from, to) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&w, subject) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, subject) != 0) {
        rc = FL_EINVAL;
        goto out;
    }
    int len = mbedtls_x509write_crt_der(&w, der, CERT_DER_MAX, mbedtls_ctr_drbg_random, drbg);
    if (len <= 0) {
        log_mbedtls(FL_LOG_ERROR, "certificate", len);
        goto out;
    }
    int ret = mbedtls_x509_crt_parse_der(&c->crt, der + CERT_DER_MAX - len, (size_t)len);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        goto out;
    }
    rc = 0;
out:
    mbedtls_platform_zeroize(sbytes, sizeof(sbytes));
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    free(der);
    return rc;
}

int fl_cert_generate(fl_cert **out,
                     const char *common_name,
                     int64_t not_before,
                     int64_t lifetime_s,
                     fl_rand *rand)
{
    char subject[160], from[16], to[16];
    if (!common_name)
        common_name = "fluo";
    if (lifetime_s <= 0 || strlen(common_name) > 64 || strpbrk(common_name, ",=+\"\\<>;"))
        return FL_EINVAL;
    if (format_time(not_before, from) != 0 || format_time(not_before + lifetime_s, to) != 0)
        return FL_EINVAL;
    snprintf(subject, sizeof(subject), "CN=%s", common_name);
    if (!rand)
        rand = fl_rand_system();
    fl_cert *c = cert_new();
    if (!c)
        return FL_ENOMEM;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ctr_drbg_init(&drbg);
    int rc = FL_ETLS;
    int ret = mbedtls_ctr_drbg_seed(&drbg, entropy, rand, (const unsigned char *)"fluo-cert", 9);
    if (ret == 0)
        ret = mbedtls_pk_setup(&c->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(c->key),
                                  mbedtls_ctr_drbg_random, &drbg);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "key generation", ret);
        goto fail;
    }
    rc = write_self_signed(c, &drbg, subject, from, to);
    if (rc == 0)
        rc = cert_finish(c);
    if (rc != 0)
        goto fail;
    mbedtls_ctr_drbg_free(&drbg);
    *out = c;
    return 0;
fail:
    mbedtls_ctr_drbg_free(&drbg);
    fl_cert_destroy(c);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

int fl_cert_load_file(fl_cert **out, const char *cert_file, const char *key_file)
{
    if (!cert_file)
        return FL_EINVAL;
    fl_cert *c = cert_new();
    if (!c)
        return FL_ENOMEM;
    int rc = FL_ETLS;
    int ret = mbedtls_x509_crt_parse_file(&c->crt, cert_file);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "cannot load a certificate from %s", cert_file);
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        goto fail;
    }
    const char *kf = key_file ? key_file : cert_file;
    ret = mbedtls_pk_parse_keyfile(&c->key, kf, NULL);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "cannot load a private key from %s", kf);
        log_mbedtls(FL_LOG_ERROR, "private key", ret);
        goto fail;
    }
    rc = cert_finish(c);
    if (rc != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    fl_cert_destroy(c);
    return rc;
}

int fl_cert_load_pem(fl_cert **out, const char *cert_pem, const char *key_pem)
{
    if (!cert_pem || !key_pem)
        return FL_EINVAL;
    fl_cert *c = cert_new();
    if (!c)
        return FL_ENOMEM;
    int rc = FL_ETLS;
    int ret =
            mbedtls_x509_crt_parse(&c->crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        goto fail;
    }
    ret = mbedtls_pk_parse_key(&c->key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL,
                               0);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "private key", ret);
        goto fail;
    }
    rc = cert_finish(c);
    if (rc != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    fl_cert_destroy(c);
    return rc;
}

int fl_cert_copy(fl_cert **out, const fl_cert *src)
{
    fl_cert *c = cert_new();
    unsigned char *der = malloc(KEY_DER_MAX);
    int rc = FL_ENOMEM;
    if (!c || !der)
        goto fail;
    rc = FL_ETLS;
    for (const mbedtls_x509_crt *x = &src->crt; x && x->raw.p; x = x->next) {
        if (mbedtls_x509_crt_parse_der(&c->crt, x->raw.p, x->raw.len) != 0)
            goto fail;
    }
    int len = mbedtls_pk_write_key_der((mbedtls_pk_context *)&src->key, der, KEY_DER_MAX);
    if (len <= 0 ||
        mbedtls_pk_parse_key(&c->key, der + KEY_DER_MAX - len, (size_t)len, NULL, 0) != 0)
        goto fail;
    memcpy(c->fp, src->fp, sizeof(c->fp));
    mbedtls_platform_zeroize(der, KEY_DER_MAX);
    free(der);
    *out = c;
    return 0;
fail:
    if (der)
        mbedtls_platform_zeroize(der, KEY_DER_MAX);
    free(der);
    fl_cert_destroy(c);
    return rc;
}

const char *fl_cert_fingerprint(const fl_cert *c)
{
    return c->fp;
}

const uint8_t *fl_cert_der(const fl_cert *c, size_t *len)
{
    *len = c->crt.raw.len;
    return c->crt.raw.p;
}

void *fl__cert_crt(fl_cert *c)
{
    return &c->crt;
}

void *fl__cert_key(fl_cert *c)
{
    return &c->key;
}

/* ---- fingerprints --------------------------------------------------------- */

static const struct {
    fl_cert_hash hash;
    const char *name;
    mbedtls_md_type_t md;
    size_t len;
} hashes[] = {
    { FL_CERT_HASH_SHA1, "sha-1", MBEDTLS_MD_SHA1, 20 },
    { FL_CERT_HASH_SHA256, "sha-256", MBEDTLS_MD_SHA256, 32 },
    { FL_CERT_HASH_SHA384, "sha-384", MBEDTLS_MD_SHA384, 48 },
    { FL_CERT_HASH_SHA512, "sha-512", MBEDTLS_MD_SHA512, 64 },
};

static int hash_index(fl_cert_hash h)
{
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
        if (hashes[i].hash == h)
            return (int)i;
    return -1;
}

static int digest(const uint8_t *der, size_t len, int hi, uint8_t out[64])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(hashes[hi].md);
    if (!md || mbedtls_md(md, der, len, out) != 0)
        return FL_ETLS;
    return 0;
}

int fl_cert_fingerprint_der(const uint8_t *der,
                            size_t len,
                            fl_cert_hash hash,
                            char *out,
                            size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t d[64];
    int hi = hash_index(hash);
    if (hi < 0 || !der || len == 0)
        return FL_EINVAL;
    size_t name_len = strlen(hashes[hi].name);
    if (cap < name_len + 1 + hashes[hi].len * 3)
        return FL_ERANGE;
    int rc = digest(der, len, hi, d);
    if (rc != 0)
        return rc;
    memcpy(out, hashes[hi].name, name_len);
    char *p = out + name_len;
    *p++ = ' ';
    for (size_t i = 0; i < hashes[hi].len; i++) {
        if (i > 0)
            *p++ = ':';
        *p++ = hex[d[i] >> 4];
        *p++ = hex[d[i] & 15];
    }
    *p = '\0';
    return 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int parse_hash_name(const char **sp, int *hi)
{
    const char *s = *sp;
    size_t n = 0;
    while (s[n] && !isspace((unsigned char)s[n]))
        n++;
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        if (strlen(hashes[i].name) == n && strncasecmp(s, hashes[i].name, n) == 0) {
            *hi = (int)i;
            *sp = s + n;
            return 0;
        }
    }
    static const char *const other[] = { "md2", "md5", "sha-224" };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        if (strlen(other[i]) == n && strncasecmp(s, other[i], n) == 0)
            return FL_ENOTSUP;
    return FL_EINVAL;
}

int fl_cert_fp_parse(fl_cert_fp *out, const char *text)
{
    int hi;
    if (!text)
        return FL_EINVAL;
    while (isspace((unsigned char)*text))
        text++;
    int rc = parse_hash_name(&text, &hi);
    if (rc != 0)
        return rc;
    if (!isspace((unsigned char)*text))
        return FL_EINVAL;
    while (isspace((unsigned char)*text))
        text++;
    size_t n = 0;
    for (;;) {
        int h = hexval((unsigned char)text[0]);
        int l = h < 0 ? -1 : hexval((unsigned char)text[1]);
        if (h < 0 || l < 0 || n >= hashes[hi].len)
            return FL_EINVAL;
        out->digest[n++] = (uint8_t)(h << 4 | l);
        text += 2;
        if (*text != ':')
            break;
        text++;
    }
    while (isspace((unsigned char)*text))
        text++;
    if (*text != '\0' || n != hashes[hi].len)
        return FL_EINVAL;
    out->hash = hashes[hi].hash;
    out->len = n;
    return 0;
}

bool fl_cert_fp_matches(const fl_cert_fp *fp, const uint8_t *der, size_t len)
{
    uint8_t d[64];
    int hi = hash_index(fp->hash);
    if (hi < 0 || fp->len != hashes[hi].len || !der || len == 0 || digest(der, len, hi, d) != 0)
        return false;
    uint8_t diff = 0;
    for (size_t i = 0; i < fp->len; i++)
        diff |= (uint8_t)(d[i] ^ fp->digest[i]);
    return diff == 0;
}
