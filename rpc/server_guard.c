/* The control server's access token (rpc/server_int.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/uri.h"
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

static bool query_has_token(const char *target, const char *want, size_t wlen)
{
    static const char key[] = "access_token=";
    const size_t klen = sizeof(key) - 1;
    const char *q = strchr(target, '?');
    char value[FL_HTTP_MAX_HEAD];
    bool ok = false;
    for (const char *p = q ? q + 1 : ""; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n >= klen && memcmp(p, key, klen) == 0) {
            long len = fl_percent_decode(p + klen, n - klen, value, sizeof(value));
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
