/* HTTP authentication for the HTTP and RTSP clients, sans-IO: reading a
 * server's WWW-Authenticate challenges and writing the Authorization value
 * that answers one. Basic (RFC 7617) and Digest (RFC 7616, and RFC 2617's
 * servers: no qop, or qop=auth) with the MD5, MD5-sess, SHA-256 and
 * SHA-256-sess algorithms. qop=auth-int is not supported (a challenge
 * offering only it is refused); the user name is always sent plain (no
 * userhash).
 *
 *     fl_httpauth_challenge c = { 0 };
 *     for each WWW-Authenticate field value v:
 *         fl_httpauth_challenge_pick(&c, v);      // keeps the strongest
 *     fl_httpauth_write(out, sizeof out, &c, user, pass, "DESCRIBE", url,
 *                       cnonce, ++nc);
 *
 * No allocation, no global state; the cnonce comes from the caller (its
 * random generator). Not thread-safe: a challenge belongs to one thread. */
#ifndef FL_NET_HTTPAUTH_H
#define FL_NET_HTTPAUTH_H

#include <stddef.h>
#include <stdint.h>

typedef enum fl_httpauth_scheme {
    FL_HTTPAUTH_NONE = 0, /* nothing usable picked yet */
    FL_HTTPAUTH_BASIC,
    FL_HTTPAUTH_DIGEST,
} fl_httpauth_scheme;

typedef enum fl_httpauth_alg {
    FL_HTTPAUTH_MD5 = 0, /* also when the challenge names no algorithm */
    FL_HTTPAUTH_MD5_SESS,
    FL_HTTPAUTH_SHA256,
    FL_HTTPAUTH_SHA256_SESS,
} fl_httpauth_alg;

#define FL_HTTPAUTH_MAX_PARAM 256 /* longest realm, nonce or opaque kept */

typedef struct fl_httpauth_challenge {
    fl_httpauth_scheme scheme;
    fl_httpauth_alg alg;                /* Digest */
    int qop_auth;                       /* Digest: the server offered qop=auth */
    int stale;                          /* Digest: stale=true */
    int has_opaque;                     /* Digest: opaque present (echoed back) */
    char realm[FL_HTTPAUTH_MAX_PARAM];  /* "" when absent */
    char nonce[FL_HTTPAUTH_MAX_PARAM];  /* Digest, required */
    char opaque[FL_HTTPAUTH_MAX_PARAM]; /* Digest */
} fl_httpauth_challenge;

/* Parses one challenge: the first usable one in `value` (a field value
 * may list several, "Digest realm=..., nonce=..., Basic realm=..."). 0,
 * FL_ENOTSUP when the value holds no challenge fluo can answer (another
 * scheme, Digest with an unknown algorithm or only qop=auth-int, Digest
 * without a nonce), FL_EBADMSG for a value that does not parse (an
 * unterminated quoted string, a parameter without a name), FL_EMSGSIZE
 * for a parameter longer than FL_HTTPAUTH_MAX_PARAM - 1. */
int fl_httpauth_challenge_parse(fl_httpauth_challenge *c, const char *value);

/* Parses every challenge of `value` and keeps in *best the strongest one
 * seen so far (best starts zeroed): Digest SHA-256 over Digest MD5 over
 * Basic. 0 when *best holds a usable challenge afterwards, FL_ENOTSUP
 * when it still does not. */
int fl_httpauth_challenge_pick(fl_httpauth_challenge *best, const char *value);

/* Writes the Authorization field value answering c for a request of
 * `method` on `uri` (the request target as sent), NUL-terminated, into out
 * (cap bytes): "Basic <base64(user:password)>" or "Digest username=...,
 * realm=..., nonce=..., uri=..., response=..., algorithm=..., [qop=auth,
 * nc=<nc as 8 hex digits>, cnonce=...,] [opaque=...]". cnonce (printable,
 * no '"' or '\\') and nc (the count of requests made with this nonce,
 * starting at 1) matter only with qop=auth or a -sess algorithm. Returns
 * the length written, FL_EINVAL for no usable challenge or a string with a
 * '"', '\\' or control character where it would be quoted, FL_EMSGSIZE
 * when out is too small. */
long fl_httpauth_write(char *out,
                       size_t cap,
                       const fl_httpauth_challenge *c,
                       const char *user,
                       const char *password,
                       const char *method,
                       const char *uri,
                       const char *cnonce,
                       uint32_t nc);

#endif
