/* RTSP 1.0 stream reader, message writers, header values and URLs. See
 * rtsp.h. */
#include "net/rtsp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/uri.h"

/* ---- the stream reader ---- */

enum {
    R_START = 0, /* between items */
    R_PREFIX,    /* the first bytes of a message: "RTSP/" or a method */
    R_HEAD,
    R_BODY,
    R_FRAME_HDR, /* after '$': channel and length */
    R_FRAME,
};

void fl_rtsp_reader_init(fl_rtsp_reader *r)
{
    r->state = R_START;
    r->err = 0;
    r->npre = 0;
    r->need = 0;
    r->have = 0;
    r->channel = 0;
}

static int fail(fl_rtsp_reader *r, int err)
{
    r->err = err;
    return err;
}

/* The message's body length, once its head is complete. */
static int body_length(fl_rtsp_reader *r, size_t *n)
{
    const char *cl = fl_http_head_get(&r->head, "Content-Length");
    *n = 0;
    if (!cl)
        return 0;
    if (*cl < '0' || *cl > '9')
        return FL_EBADMSG;
    size_t v = 0;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9')
            return FL_EBADMSG;
        v = v * 10 + (size_t)(*p - '0');
        if (v > FL_RTSP_MAX_BODY)
            return FL_EMSGSIZE;
    }
    *n = v;
    return 0;
}

static void emit_message(fl_rtsp_reader *r, fl_rtsp_item *out, const uint8_t *body, size_t n)
{
    memset(out, 0, sizeof *out);
    out->kind = r->head.kind == FL_HTTP_RESPONSE ? FL_RTSP_ITEM_RESPONSE : FL_RTSP_ITEM_REQUEST;
    out->head = &r->head;
    out->body = n ? body : NULL;
    out->body_len = n;
    r->state = R_START;
}

static void emit_frame(fl_rtsp_reader *r, fl_rtsp_item *out, const uint8_t *data, size_t n)
{
    memset(out, 0, sizeof *out);
    out->kind = FL_RTSP_ITEM_FRAME;
    out->channel = r->channel;
    out->data = data;
    out->len = n;
    r->state = R_START;
}

/* The head is complete: a body follows, or the message is out. */
static int head_done(fl_rtsp_reader *r, fl_rtsp_item *out)
{
    size_t n;
    int rc = body_length(r, &n);
    if (rc < 0)
        return fail(r, rc);
    if (n == 0) {
        emit_message(r, out, NULL, 0);
        return 1;
    }
    r->state = R_BODY;
    r->need = n;
    r->have = 0;
    return 0;
}

/* Decides request or response from the first bytes ("RTSP/" begins a
 * response) and starts the head with them. */
static int prefix_byte(fl_rtsp_reader *r, uint8_t b)
{
    static const char resp[] = "RTSP/";
    r->pre[r->npre++] = b;
    int is_resp = memcmp(r->pre, resp, r->npre) == 0;
    if (is_resp && r->npre < 5)
        return 0;
    fl_http_head_init(&r->head, is_resp ? FL_HTTP_RESPONSE : FL_HTTP_REQUEST);
    size_t used = 0;
    int rc = fl_http_head_parse(&r->head, r->pre, r->npre, &used);
    if (rc != FL_EAGAIN)
        return fail(r, rc == 0 ? FL_EBADMSG : rc);
    r->state = R_HEAD;
    return 0;
}

/* Takes bytes of a body or frame into buf, or points into data when the
 * whole of it is there at once. 1 when complete (*whole set). */
static int take(fl_rtsp_reader *r,
                const uint8_t *data,
                size_t len,
                size_t *off,
                const uint8_t **whole)
{
    size_t avail = len - *off;
    if (r->have == 0 && avail >= r->need) {
        *whole = data + *off;
        *off += r->need;
        return 1;
    }
    size_t n = r->need - r->have;
    if (n > avail)
        n = avail;
    memcpy(r->buf + r->have, data + *off, n);
    r->have += n;
    *off += n;
    if (r->have < r->need)
        return 0;
    *whole = r->buf;
    return 1;
}

static int step(fl_rtsp_reader *r, const uint8_t *data, size_t len, size_t *off, fl_rtsp_item *out)
{
    const uint8_t *whole;
    switch (r->state) {
    case R_START: {
        uint8_t b = data[(*off)++];
        if (b == '\r' || b == '\n')
            return 0;
        if (b == '$') {
            r->state = R_FRAME_HDR;
            r->npre = 0;
            return 0;
        }
        r->state = R_PREFIX;
        r->npre = 0;
        return prefix_byte(r, b);
    }
    case R_PREFIX:
        return prefix_byte(r, data[(*off)++]);
    case R_HEAD: {
        size_t used = 0;
        int rc = fl_http_head_parse(&r->head, data + *off, len - *off, &used);
        *off += used;
        if (rc == FL_EAGAIN)
            return 0;
        if (rc < 0)
            return fail(r, rc);
        return head_done(r, out);
    }
    case R_BODY:
        if (!take(r, data, len, off, &whole))
            return 0;
        emit_message(r, out, whole, r->need);
        return 1;
    case R_FRAME_HDR:
        r->pre[r->npre++] = data[(*off)++];
        if (r->npre < 3)
            return 0;
        r->channel = r->pre[0];
        r->need = (size_t)r->pre[1] << 8 | r->pre[2];
        r->have = 0;
        if (r->need == 0) {
            emit_frame(r, out, r->buf, 0);
            return 1;
        }
        r->state = R_FRAME;
        return 0;
    case R_FRAME:
        if (!take(r, data, len, off, &whole))
            return 0;
        emit_frame(r, out, whole, r->need);
        return 1;
    }
    return fail(r, FL_ESTATE);
}

int fl_rtsp_reader_read(fl_rtsp_reader *r,
                        const uint8_t *data,
                        size_t len,
                        size_t *consumed,
                        fl_rtsp_item *out)
{
    size_t off = 0;
    *consumed = 0;
    if (r->err)
        return r->err;
    while (off < len) {
        int rc = step(r, data, len, &off, out);
        if (rc != 0) {
            *consumed = off;
            return rc;
        }
    }
    *consumed = off;
    return 0;
}

/* ---- writing messages ---- */

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int fl_rtsp_request_write(fl_bytes *out,
                          const char *method,
                          const char *url,
                          uint32_t cseq,
                          const fl_http_header *headers,
                          size_t count)
{
    if (!*method || strpbrk(method, " \t\r\n:/") || !*url || strpbrk(url, " \t\r\n"))
        return FL_EINVAL;
    for (size_t i = 0; i < count; i++) {
        if (!*headers[i].name || strpbrk(headers[i].name, " \t\r\n:") || has_crlf(headers[i].value))
            return FL_EINVAL;
    }
    int rc = fl_bytes_printf(out, "%s %s RTSP/1.0\r\nCSeq: %u\r\n", method, url, (unsigned)cseq);
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = fl_bytes_printf(out, "%s: %s\r\n", headers[i].name, headers[i].value);
    if (rc == 0)
        rc = fl_bytes_append_str(out, "\r\n");
    return rc;
}

int fl_rtsp_response_write(fl_bytes *out, int status, const char *cseq)
{
    if (status < 100 || status > 599 || (cseq && has_crlf(cseq)))
        return FL_EINVAL;
    const char *reason = status == 551 ? "Option not supported" : fl_http_status_reason(status);
    int rc = fl_bytes_printf(out, "RTSP/1.0 %d %s\r\n", status, reason);
    if (rc == 0 && cseq)
        rc = fl_bytes_printf(out, "CSeq: %s\r\n", cseq);
    if (rc == 0)
        rc = fl_bytes_append_str(out, "\r\n");
    return rc;
}

int fl_rtsp_frame_header_write(uint8_t out[4], uint8_t channel, size_t len)
{
    if (len > 65535)
        return FL_EMSGSIZE;
    out[0] = '$';
    out[1] = channel;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 0;
}

/* ---- header values ---- */

/* Parses "a" or "a-b" (each 0..max) into v; a single value n gives n, n+1. */
static int parse_pair(const char *s, size_t n, long max, int v[2])
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return FL_EBADMSG;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    if (tmp[0] < '0' || tmp[0] > '9')
        return FL_EBADMSG;
    long a = strtol(tmp, &end, 10);
    if (a > max)
        return FL_EBADMSG;
    long b = a + 1;
    if (*end == '-') {
        if (end[1] < '0' || end[1] > '9')
            return FL_EBADMSG;
        b = strtol(end + 1, &end, 10);
    }
    if (*end != '\0' || a > max || b > max + 1 || b < 0)
        return FL_EBADMSG;
    v[0] = (int)a;
    v[1] = (int)(b > max ? max : b);
    return 0;
}

static int transport_param(fl_rtsp_transport *t, const char *p, size_t n)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n;
    const char *v = eq ? eq + 1 : p + n;
    size_t vlen = eq ? n - klen - 1 : 0;
#define IS(k) (klen == strlen(k) && strncasecmp(p, k, klen) == 0)
    if (IS("unicast"))
        t->multicast = 0;
    else if (IS("multicast"))
        t->multicast = 1;
    else if (IS("client_port"))
        return parse_pair(v, vlen, 65535, t->client_port);
    else if (IS("server_port"))
        return parse_pair(v, vlen, 65535, t->server_port);
    else if (IS("interleaved"))
        return parse_pair(v, vlen, 255, t->interleaved);
    else if (IS("ssrc")) {
        if (vlen == 0 || vlen > 8)
            return FL_EBADMSG;
        uint32_t s = 0;
        for (size_t i = 0; i < vlen; i++) {
            char ch = v[i];
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0)
                return FL_EBADMSG;
            s = s << 4 | (uint32_t)d;
        }
        t->ssrc = s;
        t->has_ssrc = 1;
    } else if (IS("source")) {
        if (vlen >= sizeof t->source)
            return FL_EBADMSG;
        memcpy(t->source, v, vlen);
        t->source[vlen] = '\0';
    }
#undef IS
    return 0;
}

int fl_rtsp_transport_parse(fl_rtsp_transport *t, const char *value)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 2; i++)
        t->client_port[i] = t->server_port[i] = t->interleaved[i] = -1;
    const char *end = strchr(value, ',');
    if (!end)
        end = value + strlen(value);
    const char *p = value;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *pe = semi ? semi : end;
    size_t plen = (size_t)(pe - p);
    while (plen && (p[plen - 1] == ' ' || p[plen - 1] == '\t'))
        plen--;
    if (plen == 7 && strncasecmp(p, "RTP/AVP", 7) == 0)
        t->tcp = 0;
    else if (plen == 11 && strncasecmp(p, "RTP/AVP/UDP", 11) == 0)
        t->tcp = 0;
    else if (plen == 11 && strncasecmp(p, "RTP/AVP/TCP", 11) == 0)
        t->tcp = 1;
    else
        return FL_ENOTSUP;
    p = pe;
    while (p < end) {
        p++; /* the ';' */
        const char *q = memchr(p, ';', (size_t)(end - p));
        const char *qe = q ? q : end;
        const char *a = p, *b = qe;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            int rc = transport_param(t, a, (size_t)(b - a));
            if (rc < 0)
                return rc;
        }
        p = qe;
    }
    return 0;
}

long fl_rtsp_transport_write(char *out, size_t cap, const fl_rtsp_transport *t)
{
    size_t len = 0;
    int n = snprintf(out, cap, "%s;%s", t->tcp ? "RTP/AVP/TCP" : "RTP/AVP",
                     t->multicast ? "multicast" : "unicast");
#define ADD()                                \
    do {                                     \
        if (n < 0 || (size_t)n >= cap - len) \
            return FL_EMSGSIZE;              \
        len += (size_t)n;                    \
    } while (0)
    ADD();
    static const char *const names[3] = { "client_port", "server_port", "interleaved" };
    const int *pairs[3] = { t->client_port, t->server_port, t->interleaved };
    for (int i = 0; i < 3; i++) {
        if (pairs[i][0] < 0)
            continue;
        if (pairs[i][1] >= 0)
            n = snprintf(out + len, cap - len, ";%s=%d-%d", names[i], pairs[i][0], pairs[i][1]);
        else
            n = snprintf(out + len, cap - len, ";%s=%d", names[i], pairs[i][0]);
        ADD();
    }
    if (t->has_ssrc) {
        n = snprintf(out + len, cap - len, ";ssrc=%08X", (unsigned)t->ssrc);
        ADD();
    }
    if (t->source[0]) {
        n = snprintf(out + len, cap - len, ";source=%s", t->source);
        ADD();
    }
#undef ADD
    return (long)len;
}

int fl_rtsp_session_parse(const char *value, char *id, size_t cap, unsigned *timeout_s)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, "; \t");
    if (n == 0)
        return FL_EBADMSG;
    if (n >= cap)
        return FL_EMSGSIZE;
    memcpy(id, p, n);
    id[n] = '\0';
    *timeout_s = 60;
    p += n;
    while (*p) {
        p += strspn(p, "; \t");
        if (strncasecmp(p, "timeout=", 8) == 0) {
            p += 8;
            if (*p < '0' || *p > '9')
                return FL_EBADMSG;
            char *end;
            unsigned long v = strtoul(p, &end, 10);
            if (v == 0 || v > 86400 || (*end && *end != ';' && *end != ' '))
                return FL_EBADMSG;
            *timeout_s = (unsigned)v;
            p = end;
        } else {
            p += strcspn(p, ";");
        }
    }
    return 0;
}

static int rtp_info_entry(const char *p, size_t n, fl_rtsp_rtp_info *e)
{
    memset(e, 0, sizeof *e);
    int has_url = 0;
    while (n > 0) {
        size_t k = 0;
        while (k < n && p[k] != ';')
            k++;
        const char *a = p;
        size_t alen = k;
        while (alen && (*a == ' ' || *a == '\t')) {
            a++;
            alen--;
        }
        while (alen && (a[alen - 1] == ' ' || a[alen - 1] == '\t'))
            alen--;
        if (alen > 4 && strncasecmp(a, "url=", 4) == 0) {
            if (alen - 4 >= sizeof e->url)
                return FL_EMSGSIZE;
            memcpy(e->url, a + 4, alen - 4);
            e->url[alen - 4] = '\0';
            has_url = 1;
        } else if ((alen > 4 && strncasecmp(a, "seq=", 4) == 0) ||
                   (alen > 8 && strncasecmp(a, "rtptime=", 8) == 0)) {
            int is_seq = a[0] == 's' || a[0] == 'S';
            size_t off = is_seq ? 4 : 8;
            uint64_t v = 0;
            for (size_t i = off; i < alen; i++) {
                if (a[i] < '0' || a[i] > '9')
                    return FL_EBADMSG;
                v = v * 10 + (uint64_t)(a[i] - '0');
                if (v > (is_seq ? 65535u : 4294967295u))
                    return FL_EBADMSG;
            }
            if (is_seq) {
                e->seq = (uint16_t)v;
                e->has_seq = 1;
            } else {
                e->rtptime = (uint32_t)v;
                e->has_rtptime = 1;
            }
        }
        p += k;
        n -= k;
        if (n) {
            p++;
            n--;
        }
    }
    return has_url ? 0 : FL_EBADMSG;
}

int fl_rtsp_rtp_info_parse(const char *value, fl_rtsp_rtp_info *out, size_t cap, size_t *n)
{
    *n = 0;
    const char *p = value;
    for (;;) {
        /* a ',' inside a url is part of it only when no "url=" follows: split
         * where ", url=" or ",url=" begins the next entry */
        const char *next = NULL;
        for (const char *q = strchr(p, ','); q; q = strchr(q + 1, ',')) {
            const char *s = q + 1;
            while (*s == ' ' || *s == '\t')
                s++;
            if (strncasecmp(s, "url=", 4) == 0) {
                next = q;
                break;
            }
        }
        size_t len = next ? (size_t)(next - p) : strlen(p);
        if (*n == cap)
            return FL_EMSGSIZE;
        int rc = rtp_info_entry(p, len, &out[*n]);
        if (rc < 0)
            return rc;
        (*n)++;
        if (!next)
            return 0;
        p = next + 1;
    }
}

/* ---- URLs ---- */

static int copy_part(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return FL_EMSGSIZE;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int split_authority(fl_rtsp_url *u, const char *a, size_t n)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (a[i] == '@')
            at = a + i;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        size_t ulen = colon ? (size_t)(colon - a) : (size_t)(at - a);
        long rc = fl_percent_decode(a, ulen, u->user, sizeof u->user);
        if (rc < 0)
            return (int)rc;
        if (colon) {
            rc = fl_percent_decode(colon + 1, (size_t)(at - colon - 1), u->password,
                                   sizeof u->password);
            if (rc < 0)
                return (int)rc;
        }
        u->has_credentials = 1;
        n -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *port = NULL;
    size_t hlen = n;
    if (n && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close || close == a + 1)
            return FL_EINVAL;
        int rc = copy_part(u->host, sizeof u->host, a + 1, (size_t)(close - a - 1));
        if (rc < 0)
            return rc;
        if (close + 1 < a + n) {
            if (close[1] != ':')
                return FL_EINVAL;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon) {
            hlen = (size_t)(colon - a);
            port = colon + 1;
        }
        if (hlen == 0)
            return FL_EINVAL;
        int rc = copy_part(u->host, sizeof u->host, a, hlen);
        if (rc < 0)
            return rc;
    }
    u->port = 554;
    if (port) {
        size_t plen = (size_t)(a + n - port);
        if (plen == 0 || plen > 5)
            return FL_EINVAL;
        unsigned long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return FL_EINVAL;
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return FL_EINVAL;
        u->port = (uint16_t)v;
    }
    return 0;
}

int fl_rtsp_url_parse(fl_rtsp_url *u, const char *uri)
{
    memset(u, 0, sizeof *u);
    const char *rest;
    if (strncasecmp(uri, "rtsp://", 7) == 0) {
        rest = uri + 7;
    } else if (strncasecmp(uri, "rtspt://", 8) == 0) {
        rest = uri + 8;
        u->tcp = 1;
    } else {
        return FL_EINVAL;
    }
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return FL_EINVAL;
    size_t alen = strcspn(rest, "/?#");
    int rc = split_authority(u, rest, alen);
    if (rc < 0)
        return rc;
    const char *path = rest + alen;
    size_t plen = strcspn(path, "#");
    /* host[:port] as written, without the credentials */
    const char *hp = rest;
    size_t hplen = alen;
    const char *at = memchr(rest, '@', alen);
    while (at) {
        hplen -= (size_t)(at + 1 - hp);
        hp = at + 1;
        at = memchr(hp, '@', hplen);
    }
    int n = snprintf(u->request, sizeof u->request, "rtsp://%.*s%.*s%s", (int)hplen, hp, (int)plen,
                     path, plen ? "" : "/");
    if (n < 0 || (size_t)n >= sizeof u->request)
        return FL_EMSGSIZE;
    return 0;
}

int fl_rtsp_url_resolve(char *out, size_t cap, const char *base, const char *control)
{
    int n;
    if (!*control || strcmp(control, "*") == 0)
        n = snprintf(out, cap, "%s", base);
    else if (strstr(control, "://"))
        n = snprintf(out, cap, "%s", control);
    else {
        size_t bl = strlen(base);
        int slash = bl > 0 && base[bl - 1] == '/';
        if (control[0] == '/' && slash)
            control++;
        n = snprintf(out, cap, "%s%s%s", base, slash || control[0] == '/' ? "" : "/", control);
    }
    if (n < 0 || (size_t)n >= cap)
        return FL_EMSGSIZE;
    return 0;
}

int fl_rtsp_sdp_controls(const char *sdp,
                         size_t len,
                         char *session,
                         size_t scap,
                         char (*media)[FL_RTSP_MAX_URL],
                         size_t max,
                         size_t *nmedia)
{
    size_t m = 0; /* m= lines seen */
    if (scap)
        session[0] = '\0';
    for (size_t i = 0; i < max; i++)
        media[i][0] = '\0';
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        const char *line = sdp + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        off += nl ? n + 1 : n;
        if (n && line[n - 1] == '\r')
            n--;
        if (n >= 2 && line[0] == 'm' && line[1] == '=') {
            m++;
        } else if (n >= 10 && memcmp(line, "a=control:", 10) == 0) {
            const char *v = line + 10;
            size_t vlen = n - 10;
            while (vlen && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            if (m == 0) {
                if (copy_part(session, scap, v, vlen) < 0)
                    rc = FL_EMSGSIZE;
            } else if (m <= max) {
                if (copy_part(media[m - 1], FL_RTSP_MAX_URL, v, vlen) < 0)
                    rc = FL_EMSGSIZE;
            }
        }
    }
    *nmedia = m;
    return rc;
}
