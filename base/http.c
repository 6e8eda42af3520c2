#include "base/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/uri.h"

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP, HTAB and obs-text */
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

void fl_http_head_init(fl_http_head *h, fl_http_kind kind)
{
    memset(h, 0, offsetof(fl_http_head, buf));
    h->kind = kind;
    h->buf[0] = '\0';
}

/* Parses "HTTP/1.x" (or "RTSP/1.x", which has HTTP's message syntax: RFC
 * 2326 6 and 7) at *p, advancing it. */
static int parse_version(char **p, int *minor, int *rtsp)
{
    if (strncmp(*p, "HTTP/1.", 7) == 0)
        *rtsp = 0;
    else if (strncmp(*p, "RTSP/1.", 7) == 0)
        *rtsp = 1;
    else
        return FL_EBADMSG;
    char d = (*p)[7];
    if (d < '0' || d > '9')
        return FL_EBADMSG;
    *minor = d - '0';
    *p += 8;
    return 0;
}

static int parse_request_line(fl_http_head *h, char *line)
{
    char *p = line;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == line || *p != ' ')
        return FL_EBADMSG;
    *p++ = '\0';
    h->method = line;
    char *target = p;
    while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == target || *p != ' ')
        return FL_EBADMSG;
    *p++ = '\0';
    h->target = target;
    int rc = parse_version(&p, &h->version_minor, &h->rtsp);
    if (rc != 0)
        return rc;
    return *p == '\0' ? 0 : FL_EBADMSG;
}

static int parse_status_line(fl_http_head *h, char *line)
{
    char *p = line;
    int rc = parse_version(&p, &h->version_minor, &h->rtsp);
    if (rc != 0)
        return rc;
    if (*p++ != ' ')
        return FL_EBADMSG;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (*p < '0' || *p > '9')
            return FL_EBADMSG;
        status = status * 10 + (*p - '0');
    }
    if (status < 100)
        return FL_EBADMSG;
    h->status = status;
    if (*p == '\0') {
        h->reason = p;
        return 0;
    }
    if (*p++ != ' ')
        return FL_EBADMSG;
    h->reason = p;
    for (; *p; p++) {
        if (!is_field_char((unsigned char)*p))
            return FL_EBADMSG;
    }
    return 0;
}

static int parse_field_line(fl_http_head *h, char *line)
{
    char *p = line;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == line || *p != ':')
        return FL_EBADMSG;
    if (h->header_count == FL_HTTP_MAX_HEADERS)
        return FL_EMSGSIZE;
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char *value = p;
    char *end = p;
    for (; *p; p++) {
        if (!is_field_char((unsigned char)*p))
            return FL_EBADMSG;
        if (*p != ' ' && *p != '\t')
            end = p + 1;
    }
    *end = '\0';
    h->headers[h->header_count].name = line;
    h->headers[h->header_count].value = value;
    h->header_count++;
    return 0;
}

/* buf[0..len) is a whole head ending in CRLFCRLF with no bare LF or NUL. */
static int parse_head(fl_http_head *h)
{
    char *line = h->buf;
    char *limit = h->buf + h->len;
    bool first = true;
    while (line < limit) {
        char *cr = memchr(line, '\r', (size_t)(limit - line));
        if (!cr || cr + 1 >= limit || cr[1] != '\n')
            return FL_EBADMSG;
        *cr = '\0';
        cr[1] = '\0';
        if (line == cr)
            return first ? FL_EBADMSG : 0;
        int rc;
        if (first)
            rc = h->kind == FL_HTTP_REQUEST ? parse_request_line(h, line)
                                            : parse_status_line(h, line);
        else
            rc = parse_field_line(h, line);
        if (rc != 0)
            return rc;
        first = false;
        line = cr + 2;
    }
    return FL_EBADMSG;
}

int fl_http_head_parse(fl_http_head *h, const uint8_t *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (h->done)
        return FL_ESTATE;
    size_t old = h->len;
    size_t take = FL_HTTP_MAX_HEAD - old;
    if (take > len)
        take = len;
    if (take > 0)
        memcpy(h->buf + old, data, take);
    h->len += take;
    for (size_t i = old; i < h->len; i++) {
        char c = h->buf[i];
        if (c == '\0' || (c == '\n' && (i == 0 || h->buf[i - 1] != '\r'))) {
            h->done = true;
            return FL_EBADMSG;
        }
        if (c == '\n' && i >= 3 && memcmp(h->buf + i - 3, "\r\n\r\n", 4) == 0) {
            h->len = i + 1;
            h->buf[h->len] = '\0';
            h->done = true;
            *consumed = h->len - old;
            return parse_head(h);
        }
    }
    *consumed = take;
    if (h->len == FL_HTTP_MAX_HEAD) {
        h->done = true;
        return FL_EMSGSIZE;
    }
    return FL_EAGAIN;
}

const char *fl_http_head_get(const fl_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->header_count; i++) {
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    }
    return NULL;
}

bool fl_http_token_list_has(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == tlen && tlen > 0 && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}

const char *fl_http_status_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!is_tchar((unsigned char)*s))
            return false;
    }
    return true;
}

static bool is_field_value(const char *s)
{
    for (; *s; s++) {
        if (!is_field_char((unsigned char)*s))
            return false;
    }
    return true;
}

static int write_fields(fl_bytes *out, const fl_http_header *headers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!is_token(headers[i].name) || !is_field_value(headers[i].value))
            return FL_EINVAL;
        int rc = fl_bytes_printf(out, "%s: %s\r\n", headers[i].name, headers[i].value);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int fl_http_request_write(fl_bytes *out,
                          const char *method,
                          const char *target,
                          const fl_http_header *headers,
                          size_t count)
{
    if (!is_token(method) || !*target)
        return FL_EINVAL;
    for (const char *p = target; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return FL_EINVAL;
    }
    size_t mark = out->len;
    int rc = fl_bytes_printf(out, "%s %s HTTP/1.1\r\n", method, target);
    if (rc == 0)
        rc = write_fields(out, headers, count);
    if (rc == 0)
        rc = fl_bytes_append(out, "\r\n", 2);
    if (rc != 0)
        out->len = mark;
    return rc;
}

int fl_http_response_write(fl_bytes *out,
                           int status,
                           const fl_http_header *headers,
                           size_t count,
                           const void *body,
                           size_t body_len)
{
    if (status < 100 || status > 999)
        return FL_EINVAL;
    size_t mark = out->len;
    int rc = fl_bytes_printf(out, "HTTP/1.1 %d %s\r\n", status, fl_http_status_reason(status));
    if (rc == 0)
        rc = write_fields(out, headers, count);
    if (rc == 0 && body)
        rc = fl_bytes_printf(out, "Content-Length: %zu\r\n", body_len);
    if (rc == 0)
        rc = fl_bytes_append(out, "\r\n", 2);
    if (rc == 0 && body)
        rc = fl_bytes_append(out, body, body_len);
    if (rc != 0)
        out->len = mark;
    return rc;
}

/* ---- message bodies (RFC 9112 6 and 7) ----------------------------------- */

enum {
    CK_SIZE,      /* the first hex digit of a chunk size */
    CK_SIZE_MORE, /* more digits, BWS, ';' or CR */
    CK_SIZE_WS,   /* BWS after the size: ';' must follow */
    CK_EXT,       /* extensions, ignored up to CR */
    CK_SIZE_LF,   /* the LF ending the size line */
    CK_DATA,      /* chunk data */
    CK_DATA_CR,   /* the CRLF after the data */
    CK_DATA_LF,
    CK_TRAILER,    /* the start of a trailer line, or the final CRLF */
    CK_TRAILER_IN, /* inside a trailer line, up to CR */
    CK_TRAILER_LF,
    CK_END_LF, /* the LF of the final CRLF */
};

/* Content-Length: every field (and every element of a list such as
 * "42, 42") the same decimal number. */
static int parse_content_length(const fl_http_head *h, int64_t *out)
{
    int64_t value = -1;
    for (size_t i = 0; i < h->header_count; i++) {
        if (strcasecmp(h->headers[i].name, "Content-Length") != 0)
            continue;
        const char *p = h->headers[i].value;
        for (;;) {
            int64_t v = 0;
            int digits = 0;
            for (; *p >= '0' && *p <= '9'; p++, digits++) {
                if (digits == 18)
                    return FL_EBADMSG;
                v = v * 10 + (*p - '0');
            }
            if (digits == 0 || (value >= 0 && v != value))
                return FL_EBADMSG;
            value = v;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '\0')
                break;
            if (*p++ != ',')
                return FL_EBADMSG;
            while (*p == ' ' || *p == '\t')
                p++;
        }
    }
    *out = value;
    return 0;
}

/* Transfer-Encoding: 1 when chunked is the last coding, 0 when another is,
 * -1 when there is none; FL_EBADMSG when chunked comes before another. */
static int parse_transfer_encoding(const fl_http_head *h)
{
    int last = -1;
    for (size_t i = 0; i < h->header_count; i++) {
        if (strcasecmp(h->headers[i].name, "Transfer-Encoding") != 0)
            continue;
        const char *p = h->headers[i].value;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *start = p;
            while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
                p++;
            size_t n = (size_t)(p - start);
            while (*p && *p != ',')
                p++; /* parameters */
            if (n == 0)
                continue;
            if (last == 1)
                return FL_EBADMSG;
            last = n == 7 && strncasecmp(start, "chunked", 7) == 0 ? 1 : 0;
        }
    }
    return last;
}

int fl_http_body_init(fl_http_body *b, const fl_http_head *h, bool head_request)
{
    memset(b, 0, sizeof(*b));
    b->length = -1;
    b->kind = FL_HTTP_BODY_NONE;
    b->done = true;
    if (h->kind == FL_HTTP_RESPONSE &&
        (head_request || h->status < 200 || h->status == 204 || h->status == 304))
        return 0;
    int te = parse_transfer_encoding(h);
    if (te == FL_EBADMSG)
        return te;
    int64_t length;
    int rc = parse_content_length(h, &length);
    if (te >= 0) {
        if (te == 0 && h->kind == FL_HTTP_REQUEST)
            return FL_EBADMSG;
        b->kind = te == 1 ? FL_HTTP_BODY_CHUNKED : FL_HTTP_BODY_CLOSE;
        b->state = CK_SIZE;
        b->done = false;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (length >= 0) {
        b->kind = FL_HTTP_BODY_LENGTH;
        b->length = length;
        b->left = (uint64_t)length;
        b->done = length == 0;
        return 0;
    }
    if (h->kind == FL_HTTP_RESPONSE) {
        b->kind = FL_HTTP_BODY_CLOSE;
        b->done = false;
    }
    return 0;
}

/* One framing byte of the chunked coding (everything but the data). */
static int chunk_framing_byte(fl_http_body *b, uint8_t c)
{
    bool ctl = (c < 0x20 && c != '\t') || c == 0x7f;
    switch (b->state) {
    case CK_SIZE:
    case CK_SIZE_MORE: {
        int v = fl_hex_digit(c);
        if (v >= 0) {
            if (b->left >> 58)
                return FL_EMSGSIZE;
            b->left = (b->left << 4) | (uint64_t)v;
            b->state = CK_SIZE_MORE;
            return 0;
        }
        if (b->state == CK_SIZE)
            return FL_EBADMSG;
        if (c == '\r')
            b->state = CK_SIZE_LF;
        else if (c == ';')
            b->state = CK_EXT;
        else if (c == ' ' || c == '\t')
            b->state = CK_SIZE_WS;
        else
            return FL_EBADMSG;
        return 0;
    }
    case CK_SIZE_WS:
        if (c == ';')
            b->state = CK_EXT;
        else if (c != ' ' && c != '\t')
            return FL_EBADMSG;
        return 0;
    case CK_EXT:
        if (c == '\r')
            b->state = CK_SIZE_LF;
        else if (ctl)
            return FL_EBADMSG;
        return 0;
    case CK_SIZE_LF:
        if (c != '\n')
            return FL_EBADMSG;
        b->line = 0;
        b->state = b->left > 0 ? CK_DATA : CK_TRAILER;
        return 0;
    case CK_DATA_CR:
        if (c != '\r')
            return FL_EBADMSG;
        b->state = CK_DATA_LF;
        return 0;
    case CK_DATA_LF:
        if (c != '\n')
            return FL_EBADMSG;
        b->state = CK_SIZE;
        return 0;
    case CK_TRAILER:
        if (c == '\r')
            b->state = CK_END_LF;
        else if (ctl || c == ':' || c == ' ' || c == '\t')
            return FL_EBADMSG; /* a field line starts with its name */
        else
            b->state = CK_TRAILER_IN;
        return 0;
    case CK_TRAILER_IN:
        if (c == '\r')
            b->state = CK_TRAILER_LF;
        else if (ctl)
            return FL_EBADMSG;
        return 0;
    case CK_TRAILER_LF:
        if (c != '\n')
            return FL_EBADMSG;
        b->state = CK_TRAILER;
        return 0;
    case CK_END_LF:
        if (c != '\n')
            return FL_EBADMSG;
        b->done = true;
        return 0;
    default:
        return FL_ESTATE;
    }
}

static int parse_chunked(fl_http_body *b,
                         const uint8_t *data,
                         size_t len,
                         size_t *consumed,
                         const uint8_t **body,
                         size_t *body_len)
{
    size_t i = 0;
    while (i < len && !b->done) {
        if (b->state == CK_DATA) {
            size_t n = len - i;
            if (n > b->left)
                n = (size_t)b->left;
            *body = data + i;
            *body_len = n;
            b->left -= n;
            b->received += n;
            if (b->left == 0)
                b->state = CK_DATA_CR;
            *consumed = i + n;
            return FL_EAGAIN;
        }
        bool in_trailer = b->state >= CK_TRAILER;
        if (in_trailer ? ++b->trailer > FL_HTTP_MAX_TRAILER : ++b->line > FL_HTTP_MAX_CHUNK_LINE)
            return FL_EMSGSIZE;
        int rc = chunk_framing_byte(b, data[i++]);
        if (rc != 0)
            return rc;
        if (b->state == CK_SIZE)
            b->line = 0;
    }
    *consumed = i;
    return b->done ? 0 : FL_EAGAIN;
}

int fl_http_body_parse(fl_http_body *b,
                       const uint8_t *data,
                       size_t len,
                       size_t *consumed,
                       const uint8_t **body,
                       size_t *body_len)
{
    *consumed = 0;
    *body = NULL;
    *body_len = 0;
    if (b->failed)
        return FL_EBADMSG;
    if (b->done)
        return 0;
    if (b->kind == FL_HTTP_BODY_CLOSE) {
        *body = len ? data : NULL;
        *body_len = len;
        *consumed = len;
        b->received += len;
        return FL_EAGAIN;
    }
    if (b->kind == FL_HTTP_BODY_LENGTH) {
        size_t n = len;
        if (n > b->left)
            n = (size_t)b->left;
        *body = n ? data : NULL;
        *body_len = n;
        *consumed = n;
        b->left -= n;
        b->received += n;
        b->done = b->left == 0;
        return b->done ? 0 : FL_EAGAIN;
    }
    int rc = parse_chunked(b, data, len, consumed, body, body_len);
    if (rc != 0 && rc != FL_EAGAIN) {
        b->failed = true;
        *body = NULL;
        *body_len = 0;
        if (rc == FL_ESTATE)
            rc = FL_EBADMSG;
    }
    return rc;
}

int fl_http_body_finish(fl_http_body *b)
{
    if (b->failed)
        return FL_EBADMSG;
    if (b->kind == FL_HTTP_BODY_CLOSE)
        b->done = true;
    return b->done ? 0 : FL_EBADMSG;
}

/* ---- URLs and ranges ----------------------------------------------------- */

static bool copy_checked(char *dst, size_t cap, const char *src, size_t n, bool path)
{
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c <= 0x20 || c >= 0x7f || (!path && strchr("/?#@[]", c)))
            return false;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

int fl_http_url_parse(fl_http_url *u, const char *uri)
{
    const char *p;
    memset(u, 0, sizeof(*u));
    if (strncasecmp(uri, "http://", 7) == 0) {
        p = uri + 7;
    } else if (strncasecmp(uri, "https://", 8) == 0) {
        u->https = true;
        p = uri + 8;
    } else {
        return FL_EINVAL;
    }
    size_t alen = strcspn(p, "/?#");
    const char *end = p + alen;
    const char *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb || !copy_checked(u->host, sizeof(u->host), p + 1, (size_t)(rb - p - 1), false))
            return FL_EINVAL;
        if (rb + 1 < end && rb[1] != ':')
            return FL_EINVAL;
        port = rb + 1 < end ? rb + 2 : NULL;
    } else {
        const char *colon = memchr(p, ':', alen);
        size_t hlen = colon ? (size_t)(colon - p) : alen;
        if (!copy_checked(u->host, sizeof(u->host), p, hlen, false))
            return FL_EINVAL;
        port = colon ? colon + 1 : NULL;
    }
    if (!u->host[0])
        return FL_EINVAL;
    long pv = u->https ? 443 : 80;
    if (port) {
        if (port == end || end - port > 5)
            return FL_EINVAL;
        pv = 0;
        for (const char *q = port; q < end; q++) {
            if (*q < '0' || *q > '9')
                return FL_EINVAL;
            pv = pv * 10 + (*q - '0');
        }
        if (pv < 1 || pv > 65535)
            return FL_EINVAL;
    }
    snprintf(u->port, sizeof(u->port), "%ld", pv);
    size_t plen = strcspn(end, "#");
    size_t at = 0;
    if (*end != '/')
        u->path[at++] = '/';
    if (!copy_checked(u->path + at, sizeof(u->path) - at, end, plen, true))
        return FL_EINVAL;
    return 0;
}

int fl_http_url_resolve(fl_http_url *out, const fl_http_url *base, const char *loc)
{
    char abs[sizeof(base->path) + sizeof(base->host) + 32];
    /* a scheme (RFC 3986 3.1) makes it absolute */
    size_t sl = strspn(loc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (sl > 0 && loc[sl] == ':' && strchr("0123456789+-.", loc[0]) == NULL)
        return fl_http_url_parse(out, loc);
    const char *scheme = base->https ? "https" : "http";
    const char *lb = strchr(base->host, ':') ? "[" : "";
    const char *rb = *lb ? "]" : "";
    int n;
    if (loc[0] == '/' && loc[1] == '/') {
        n = snprintf(abs, sizeof(abs), "%s:%s", scheme, loc);
    } else if (loc[0] == '/') {
        n = snprintf(abs, sizeof(abs), "%s://%s%s%s:%s%s", scheme, lb, base->host, rb, base->port,
                     loc);
    } else {
        size_t dir = strcspn(base->path, "?");
        while (dir > 0 && base->path[dir - 1] != '/')
            dir--;
        n = snprintf(abs, sizeof(abs), "%s://%s%s%s:%s%.*s%s", scheme, lb, base->host, rb,
                     base->port, (int)dir, base->path, loc);
    }
    if (n < 0 || (size_t)n >= sizeof(abs))
        return FL_EINVAL;
    return fl_http_url_parse(out, abs);
}

/* Up to 18 decimal digits. */
static int read_decimal(const char **p, int64_t *out)
{
    int64_t v = 0;
    int digits = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, digits++) {
        if (digits == 18)
            return FL_EBADMSG;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return digits > 0 ? 0 : FL_EBADMSG;
}

int fl_http_content_range_parse(const char *value, int64_t *first, int64_t *last, int64_t *complete)
{
    int64_t f = -1, l = -1, c = -1;
    if (!value || strncasecmp(value, "bytes ", 6) != 0)
        return FL_EBADMSG;
    const char *p = value + 6;
    if (*p == '*') {
        p++;
    } else if (read_decimal(&p, &f) != 0 || *p++ != '-' || read_decimal(&p, &l) != 0 || l < f) {
        return FL_EBADMSG;
    }
    if (*p++ != '/')
        return FL_EBADMSG;
    if (*p == '*' && f >= 0)
        p++;
    else if (read_decimal(&p, &c) != 0)
        return FL_EBADMSG;
    if (*p != '\0' || (c >= 0 && l >= c))
        return FL_EBADMSG;
    *first = f;
    *last = l;
    *complete = c;
    return 0;
}
