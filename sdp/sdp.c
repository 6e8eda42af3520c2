/* SDP text (RFC 8866): every line kept as written, so a parsed description
 * writes back unchanged (CRLF endings). The structured view is in
 * sdp/describe.c. */
#include "sdp/sdp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "sdp/sdp_int.h"

FL_LOG_TAG("sdp");

static const char *const ext_uris[FL_SDP_EXT_COUNT] = {
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "urn:ietf:params:rtp-hdrext:toffset",
};

const char *fl_sdp_ext_uri(fl_sdp_ext ext)
{
    if ((unsigned)ext >= FL_SDP_EXT_COUNT)
        return "";
    return ext_uris[ext];
}

int fl__sdp_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return FL_EBADMSG;
}

void fl__sdp_str_add(fl__sdp_str *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->failed = 1;
        va_end(ap2);
        return;
    }
    size_t need = s->len + (size_t)n + 1;
    if (need > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < need)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) {
            s->failed = 1;
            va_end(ap2);
            return;
        }
        s->p = p;
        s->cap = cap;
    }
    vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap2);
    va_end(ap2);
    s->len += (size_t)n;
}

/* Number of space-separated tokens in p[0..n). */
static size_t count_tokens(const char *p, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && (i == 0 || p[i - 1] == ' '))
            count++;
    }
    return count;
}

/* The `idx`th space-separated token of p[0..n), or length 0. */
static size_t token_at(const char *p, size_t n, size_t idx, const char **tok)
{
    size_t i = 0;
    for (size_t k = 0;; k++) {
        while (i < n && p[i] == ' ')
            i++;
        size_t start = i;
        while (i < n && p[i] != ' ')
            i++;
        if (start == i)
            return 0;
        if (k == idx) {
            *tok = p + start;
            return i - start;
        }
    }
}

static int all_digits_u64(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return 1;
}

/* The port of an m= line: digits up to 65535, optionally "/<count>". */
static int valid_port(const char *p, size_t n)
{
    const char *slash = memchr(p, '/', n);
    size_t pn = slash ? (size_t)(slash - p) : n;
    if (pn == 0 || pn > 5 || !all_digits_u64(p, pn))
        return 0;
    if (strtoul(p, NULL, 10) > 65535)
        return 0;
    if (slash && !all_digits_u64(slash + 1, n - pn - 1))
        return 0;
    return 1;
}

static int check_line(const char *p, size_t n, size_t no, size_t *nmedia, char *err, size_t errlen)
{
    if (n < 2 || p[0] < 'a' || p[0] > 'z' || p[1] != '=')
        return fl__sdp_fail(err, errlen, "line %zu: not <letter>=<value>", no);
    for (size_t i = 2; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fl__sdp_fail(err, errlen, "line %zu: control character", no);
    }
    const char *v = p + 2;
    size_t vn = n - 2;
    if (no == 1 && (p[0] != 'v' || vn != 1 || v[0] != '0'))
        return fl__sdp_fail(err, errlen, "line 1: not v=0");
    switch (p[0]) {
    case 'v':
        if (no != 1)
            return fl__sdp_fail(err, errlen, "line %zu: v= not first", no);
        break;
    case 'o': {
        const char *id, *ver;
        if (count_tokens(v, vn) != 6)
            return fl__sdp_fail(err, errlen, "line %zu: o= line needs 6 fields", no);
        size_t idn = token_at(v, vn, 1, &id), vern = token_at(v, vn, 2, &ver);
        if (!all_digits_u64(id, idn) || !all_digits_u64(ver, vern))
            return fl__sdp_fail(err, errlen, "line %zu: o= session id/version not a number", no);
        break;
    }
    case 'c':
        if (count_tokens(v, vn) != 3)
            return fl__sdp_fail(err, errlen, "line %zu: c= line needs 3 fields", no);
        break;
    case 'm': {
        const char *port;
        if (count_tokens(v, vn) < 4)
            return fl__sdp_fail(err, errlen, "line %zu: m= line needs 4 fields", no);
        size_t pn = token_at(v, vn, 1, &port);
        if (!valid_port(port, pn))
            return fl__sdp_fail(err, errlen, "line %zu: m= port not a number", no);
        if (++*nmedia > FL_SDP_MAX_MEDIA)
            return fl__sdp_fail(err, errlen, "line %zu: more than %d m= sections", no,
                                FL_SDP_MAX_MEDIA);
        break;
    }
    default:
        break;
    }
    return 0;
}

/* Only line endings (CR/LF) from p on. */
static int only_newlines(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\r' && p[i] != '\n')
            return 0;
    }
    return 1;
}

int fl_sdp_parse(fl_sdp **out, const char *text, size_t len, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!text)
        return fl__sdp_fail(err, errlen, "no text");
    if (len > FL_SDP_MAX_LEN)
        return fl__sdp_fail(err, errlen, "text longer than %d bytes", FL_SDP_MAX_LEN);
    if (memchr(text, '\0', len))
        return fl__sdp_fail(err, errlen, "NUL byte in the text");
    size_t max = 1;
    for (size_t i = 0; i < len; i++)
        max += text[i] == '\n';
    fl_sdp *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->buf = malloc(len + 1);
    s->lines = calloc(max, sizeof(*s->lines));
    int rc = FL_ENOMEM;
    if (!s->buf || !s->lines)
        goto fail;
    memcpy(s->buf, text, len);
    s->buf[len] = '\0';
    size_t pos = 0, nmedia = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t e = end > pos && text[end - 1] == '\r' ? end - 1 : end;
        size_t no = s->nlines + 1;
        if (e == pos) {
            if (only_newlines(text + pos, len - pos))
                break;
            rc = fl__sdp_fail(err, errlen, "line %zu: empty line", no);
            goto fail;
        }
        rc = check_line(text + pos, e - pos, no, &nmedia, err, errlen);
        if (rc != 0)
            goto fail;
        s->lines[s->nlines].type = text[pos];
        s->lines[s->nlines].off = pos + 2;
        s->lines[s->nlines].len = e - pos - 2;
        s->nlines++;
        pos = nl ? end + 1 : len;
    }
    if (s->nlines == 0) {
        rc = fl__sdp_fail(err, errlen, "empty text");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    fl_log(FL_LOG_DEBUG, "SDP rejected: %s", err && errlen ? err : fl_strerror(rc));
    fl_sdp_destroy(s);
    return rc;
}

char *fl_sdp_write(const fl_sdp *s)
{
    size_t total = 1;
    for (size_t i = 0; i < s->nlines; i++)
        total += s->lines[i].len + 4;
    char *out = malloc(total);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < s->nlines; i++) {
        const fl__sdp_line *l = &s->lines[i];
        *p++ = l->type;
        *p++ = '=';
        memcpy(p, s->buf + l->off, l->len);
        p += l->len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}

void fl_sdp_destroy(fl_sdp *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s->lines);
    free(s);
}
