/* HTTP Basic and Digest authentication (RFC 7617, 7616, 2617). See
 * httpauth.h. */
#include "net/httpauth.h"

#include <mbedtls/base64.h>
#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

/* ---- challenges ---- */

static int is_tchar(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* token68 adds these to a token's characters (RFC 7235 2.1). */
static int is_t68char(char ch)
{
    return is_tchar(ch) || ch == '/';
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static const char *skip_token(const char *p)
{
    while (is_tchar(*p))
        p++;
    return p;
}

/* Reads a token or quoted-string value into out (unescaped); *p moves past
 * it. */
static int read_value(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    int too_long = 0;
    if (*s == '"') {
        s++;
        for (;;) {
            char ch = *s;
            if (ch == '\0')
                return FL_EBADMSG;
            if (ch == '"')
                break;
            if (ch == '\\') {
                s++;
                ch = *s;
                if (ch == '\0')
                    return FL_EBADMSG;
            }
            if (n + 1 < cap)
                out[n++] = ch;
            else
                too_long = 1;
            s++;
        }
        s++;
    } else {
        const char *e = skip_token(s);
        if (e == s)
            return FL_EBADMSG;
        for (; s < e; s++) {
            if (n + 1 < cap)
                out[n++] = *s;
            else
                too_long = 1;
        }
    }
    out[n] = '\0';
    *p = s;
    return too_long ? FL_EMSGSIZE : 0;
}

static int list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - p) == n && strncasecmp(p, item, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

typedef struct parsed {
    int usable;
    int qop_seen;
    int alg_known;
    int has_nonce;
} parsed;

static void digest_param(fl_httpauth_challenge *c, parsed *st, const char *name, const char *v)
{
    if (strcasecmp(name, "realm") == 0) {
        snprintf(c->realm, sizeof c->realm, "%s", v);
    } else if (strcasecmp(name, "nonce") == 0) {
        snprintf(c->nonce, sizeof c->nonce, "%s", v);
        st->has_nonce = 1;
    } else if (strcasecmp(name, "opaque") == 0) {
        snprintf(c->opaque, sizeof c->opaque, "%s", v);
        c->has_opaque = 1;
    } else if (strcasecmp(name, "stale") == 0) {
        c->stale = strcasecmp(v, "true") == 0;
    } else if (strcasecmp(name, "qop") == 0) {
        st->qop_seen = 1;
        c->qop_auth = list_has(v, "auth");
    } else if (strcasecmp(name, "algorithm") == 0) {
        static const struct {
            const char *name;
            fl_httpauth_alg alg;
        } algs[] = {
            { "MD5", FL_HTTPAUTH_MD5 },
            { "MD5-sess", FL_HTTPAUTH_MD5_SESS },
            { "SHA-256", FL_HTTPAUTH_SHA256 },
            { "SHA-256-sess", FL_HTTPAUTH_SHA256_SESS },
        };

        st->alg_known = 0;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
            if (strcasecmp(v, algs[i].name) == 0) {
                c->alg = algs[i].alg;
                st->alg_known = 1;
            }
        }
    }
}

/* Parses the auth-params after a scheme (up to the next challenge or the
 * end). */
static int read_params(const char **pp, fl_httpauth_challenge *c, parsed *st)
{
    const char *p = *pp;
    char name[32];
    char value[FL_HTTPAUTH_MAX_PARAM];
    for (;;) {
        p = skip_ws(p);
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *ne = skip_token(p);
        if (ne == p) {
            if (!is_t68char(*p))
                return FL_EBADMSG;
            while (is_t68char(*p)) /* a token68 (ignored) */
                p++;
            while (*p == '=')
                p++;
            continue;
        }
        const char *q = skip_ws(ne);
        if (*q != '=')
            break; /* the next challenge's scheme */
        q = skip_ws(q + 1);
        if (*q == '\0' || *q == ',' || *q == '=') { /* token68 ending in '=' */
            while (*q == '=')
                q++;
            p = q;
            continue;
        }
        size_t nlen = (size_t)(ne - p);
        int long_name = nlen >= sizeof name;
        if (!long_name) {
            memcpy(name, p, nlen);
            name[nlen] = '\0';
        }
        int rc = read_value(&q, value, sizeof value);
        if (rc == FL_EBADMSG || (rc == FL_EMSGSIZE && !long_name))
            return rc;
        if (c->scheme == FL_HTTPAUTH_DIGEST && !long_name)
            digest_param(c, st, name, value);
        else if (!long_name && strcasecmp(name, "realm") == 0)
            snprintf(c->realm, sizeof c->realm, "%s", value);
        p = q;
    }
    *pp = p;
    return 0;
}

/* Parses the next challenge at *pp into c: 1 (st->usable says if fluo can
 * answer it), 0 at the end, or an error. */
static int next_challenge(const char **pp, fl_httpauth_challenge *c, parsed *st)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (*p == '\0')
        return 0;
    const char *se = skip_token(p);
    if (se == p)
        return FL_EBADMSG;
    memset(c, 0, sizeof *c);
    memset(st, 0, sizeof *st);
    st->alg_known = 1;
    size_t slen = (size_t)(se - p);
    if (slen == 5 && strncasecmp(p, "Basic", 5) == 0)
        c->scheme = FL_HTTPAUTH_BASIC;
    else if (slen == 6 && strncasecmp(p, "Digest", 6) == 0)
        c->scheme = FL_HTTPAUTH_DIGEST;
    else
        c->scheme = FL_HTTPAUTH_NONE;
    p = se;
    int rc = read_params(&p, c, st);
    if (rc < 0)
        return rc;
    *pp = p;
    if (c->scheme == FL_HTTPAUTH_BASIC)
        st->usable = 1;
    else if (c->scheme == FL_HTTPAUTH_DIGEST)
        st->usable = st->has_nonce && st->alg_known && (!st->qop_seen || c->qop_auth);
    return 1;
}

static int rank(const fl_httpauth_challenge *c)
{
    if (c->scheme == FL_HTTPAUTH_BASIC)
        return 1;
    if (c->scheme != FL_HTTPAUTH_DIGEST)
        return 0;
    return c->alg == FL_HTTPAUTH_SHA256 || c->alg == FL_HTTPAUTH_SHA256_SESS ? 3 : 2;
}

int fl_httpauth_challenge_parse(fl_httpauth_challenge *c, const char *value)
{
    const char *p = value;
    fl_httpauth_challenge cand;
    parsed st;
    int rc;
    while ((rc = next_challenge(&p, &cand, &st)) == 1) {
        if (st.usable) {
            *c = cand;
            return 0;
        }
    }
    return rc < 0 ? rc : FL_ENOTSUP;
}

int fl_httpauth_challenge_pick(fl_httpauth_challenge *best, const char *value)
{
    const char *p = value;
    fl_httpauth_challenge cand;
    parsed st;
    while (next_challenge(&p, &cand, &st) == 1) {
        if (st.usable && rank(&cand) > rank(best))
            *best = cand;
    }
    return rank(best) > 0 ? 0 : FL_ENOTSUP;
}

/* ---- answers ---- */

typedef struct hasher {
    int sha256;
    mbedtls_md5_context md5;
    mbedtls_sha256_context sha;
    int parts;
} hasher;

static void h_start(hasher *h, int sha256)
{
    h->sha256 = sha256;
    h->parts = 0;
    if (sha256) {
        mbedtls_sha256_init(&h->sha);
        mbedtls_sha256_starts_ret(&h->sha, 0);
    } else {
        mbedtls_md5_init(&h->md5);
        mbedtls_md5_starts_ret(&h->md5);
    }
}

/* Adds one ':'-separated part. */
static void h_part(hasher *h, const char *s)
{
    const unsigned char colon = ':';
    if (h->sha256) {
        if (h->parts)
            mbedtls_sha256_update_ret(&h->sha, &colon, 1);
        mbedtls_sha256_update_ret(&h->sha, (const unsigned char *)s, strlen(s));
    } else {
        if (h->parts)
            mbedtls_md5_update_ret(&h->md5, &colon, 1);
        mbedtls_md5_update_ret(&h->md5, (const unsigned char *)s, strlen(s));
    }
    h->parts++;
}

/* Finishes into lowercase hex (33 or 65 bytes with the NUL). */
static void h_hex(hasher *h, char out[65])
{
    unsigned char d[32];
    size_t n = h->sha256 ? 32 : 16;
    if (h->sha256) {
        mbedtls_sha256_finish_ret(&h->sha, d);
        mbedtls_sha256_free(&h->sha);
    } else {
        mbedtls_md5_finish_ret(&h->md5, d);
        mbedtls_md5_free(&h->md5);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int quotable(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            return 0;
    }
    return 1;
}

static long write_basic(char *out, size_t cap, const char *user, const char *password)
{
    char plain[512];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, password);
    if (n < 0 || (size_t)n >= sizeof plain)
        return FL_EMSGSIZE;
    if (cap < 7)
        return FL_EMSGSIZE;
    memcpy(out, "Basic ", 6);
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)out + 6, cap - 6, &olen,
                              (const unsigned char *)plain, (size_t)n) != 0)
        return FL_EMSGSIZE;
    return (long)(6 + olen);
}

static const char *alg_name(fl_httpauth_alg alg)
{
    switch (alg) {
    case FL_HTTPAUTH_MD5_SESS:
        return "MD5-sess";
    case FL_HTTPAUTH_SHA256:
        return "SHA-256";
    case FL_HTTPAUTH_SHA256_SESS:
        return "SHA-256-sess";
    case FL_HTTPAUTH_MD5:
        break;
    }
    return "MD5";
}

long fl_httpauth_write(char *out,
                       size_t cap,
                       const fl_httpauth_challenge *c,
                       const char *user,
                       const char *password,
                       const char *method,
                       const char *uri,
                       const char *cnonce,
                       uint32_t nc)
{
    if (!c || !user || !password || !method || !uri || !out || cap == 0)
        return FL_EINVAL;
    if (c->scheme == FL_HTTPAUTH_BASIC)
        return write_basic(out, cap, user, password);
    if (c->scheme != FL_HTTPAUTH_DIGEST)
        return FL_EINVAL;
    int sess = c->alg == FL_HTTPAUTH_MD5_SESS || c->alg == FL_HTTPAUTH_SHA256_SESS;
    int sha = c->alg == FL_HTTPAUTH_SHA256 || c->alg == FL_HTTPAUTH_SHA256_SESS;
    if ((c->qop_auth || sess) && (!cnonce || !*cnonce || !quotable(cnonce)))
        return FL_EINVAL;
    if (!quotable(user) || !quotable(uri) || !quotable(c->realm) || !quotable(c->nonce) ||
        !quotable(c->opaque))
        return FL_EINVAL;
    char ha1[65], ha2[65], resp[65], ncs[9];
    hasher h;
    h_start(&h, sha);
    h_part(&h, user);
    h_part(&h, c->realm);
    h_part(&h, password);
    h_hex(&h, ha1);
    if (sess) {
        h_start(&h, sha);
        h_part(&h, ha1);
        h_part(&h, c->nonce);
        h_part(&h, cnonce);
        h_hex(&h, ha1);
    }
    h_start(&h, sha);
    h_part(&h, method);
    h_part(&h, uri);
    h_hex(&h, ha2);
    snprintf(ncs, sizeof ncs, "%08x", (unsigned)nc);
    h_start(&h, sha);
    h_part(&h, ha1);
    h_part(&h, c->nonce);
    if (c->qop_auth) {
        h_part(&h, ncs);
        h_part(&h, cnonce);
        h_part(&h, "auth");
    }
    h_part(&h, ha2);
    h_hex(&h, resp);
    int n = snprintf(out, cap,
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\", algorithm=%s",
                     user, c->realm, c->nonce, uri, resp, alg_name(c->alg));
    if (n < 0 || (size_t)n >= cap)
        return FL_EMSGSIZE;
    size_t len = (size_t)n;
    if (c->qop_auth || sess) {
        if (c->qop_auth)
            n = snprintf(out + len, cap - len, ", qop=auth, nc=%s, cnonce=\"%s\"", ncs, cnonce);
        else
            n = snprintf(out + len, cap - len, ", cnonce=\"%s\"", cnonce);
        if (n < 0 || (size_t)n >= cap - len)
            return FL_EMSGSIZE;
        len += (size_t)n;
    }
    if (c->has_opaque) {
        n = snprintf(out + len, cap - len, ", opaque=\"%s\"", c->opaque);
        if (n < 0 || (size_t)n >= cap - len)
            return FL_EMSGSIZE;
        len += (size_t)n;
    }
    return (long)len;
}
