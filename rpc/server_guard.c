/* The control server's access token (rpc/server_int.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rpc/server_int.h"

/* ---- access token --------------------------------------------------------- */

/* Equal strings, in a time that depends on the lengths only. */
static bool same_secret(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned diff = glen != wlen;
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes v[0..n) into out (room for n bytes); -1 on a bad escape. */
static long percent_decode(const char *v, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '%') {
            out[o++] = v[i];
            continue;
        }
        int hi = i + 2 < n ? hex_digit(v[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(v[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    return (long)o;
}

static bool query_has_token(const char *target, const char *want, size_t wlen)
{
    static const char key[] = "access_token=";
    const size_t klen = sizeof(key) - 1;
    const char *q = strchr(target, '?');
    char value[FL_HTTP_MAX_HEAD];
    bool ok = false;
    for (const char *p = q ? q + 1 : ""; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n >= klen && n - klen <= sizeof(value) && memcmp(p, key, klen) == 0) {
            long len = percent_decode(p + klen, n - klen, value);
            if (len >= 0 && same_secret(value, (size_t)len, want, wlen))
                ok = true;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return ok;
}

bool fl__server_token_ok(const char *token, const fl_http_head *req)
{
    if (!token || !*token)
        return true;
    size_t wlen = strlen(token);
    bool ok = query_has_token(req->target, token, wlen);
    const char *auth = fl_http_head_get(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer", 6) == 0 && (auth[6] == ' ' || auth[6] == '\t')) {
        const char *v = auth + 7;
        while (*v == ' ' || *v == '\t')
            v++;
        if (same_secret(v, strlen(v), token, wlen))
            ok = true;
    }
    return ok;
}
