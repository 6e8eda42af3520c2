/* Fuzzes base/http's response reading: a head, then its body (Content-Length,
 * chunked or up to the close) over the input fed in splits that bytes 0 and
 * 1 pick (byte 0: whether it answers a HEAD), and again all at once; both runs must agree on the
 * outcome and the body bytes, which must lie inside the input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    int rc;
    size_t body_len;
    size_t end; /* input bytes taken by head and body */
} outcome;

static uint8_t body_a[1 << 16];
static uint8_t body_b[1 << 16];

/* What an HTTP client reads from a head besides the body's framing:
 * Content-Range, and a Location resolved against a URL. */
static void check_client_fields(const fl_http_head *h)
{
    int64_t f, l, c;
    const char *cr = fl_http_head_get(h, "Content-Range");
    if (cr && fl_http_content_range_parse(cr, &f, &l, &c) == 0) {
        if ((f < 0) != (l < 0) || l < f || (c >= 0 && l >= c) || (f < 0 && c < 0))
            abort();
    }
    const char *loc = fl_http_head_get(h, "Location");
    if (loc) {
        static fl_http_url base, out, again;
        if (fl_http_url_parse(&base, "https://[::1]:8443/dir/file.webm?x=1") != 0)
            abort();
        if (fl_http_url_resolve(&out, &base, loc) == 0) {
            /* the result is a URL that parses to itself */
            char s[sizeof(out.host) + sizeof(out.path) + 32];
            bool v6 = strchr(out.host, ':') != NULL;
            snprintf(s, sizeof(s), "%s://%s%s%s:%s%s", out.https ? "https" : "http", v6 ? "[" : "",
                     out.host, v6 ? "]" : "", out.port, out.path);
            if (fl_http_url_parse(&again, s) != 0 || strcmp(again.host, out.host) != 0 ||
                strcmp(again.path, out.path) != 0 || strcmp(again.port, out.port) != 0)
                abort();
        }
    }
}

static outcome read_all(const uint8_t *data,
                        size_t size,
                        size_t split,
                        bool head_request,
                        uint8_t *body,
                        size_t cap)
{
    static fl_http_head h;
    fl_http_body b;
    outcome o = { FL_EAGAIN, 0, 0 };
    bool in_body = false;
    fl_http_head_init(&h, FL_HTTP_RESPONSE);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < split ? size - off : split;
        size_t used = 0;
        if (!in_body) {
            o.rc = fl_http_head_parse(&h, data + off, n, &used);
            if (used > n)
                abort();
            off += used;
            if (o.rc == FL_EAGAIN)
                continue;
            if (o.rc != 0)
                break;
            check_client_fields(&h);
            o.rc = fl_http_body_init(&b, &h, head_request);
            if (o.rc != 0)
                break;
            in_body = true;
            o.rc = FL_EAGAIN;
            continue;
        }
        const uint8_t *bp;
        size_t bl;
        o.rc = fl_http_body_parse(&b, data + off, n, &used, &bp, &bl);
        if (used > n || (o.rc == FL_EAGAIN && used == 0))
            abort();
        if (bl && (bp < data + off || bp + bl > data + off + used))
            abort();
        if (bl && o.body_len + bl <= cap)
            memcpy(body + o.body_len, bp, bl);
        o.body_len += bl;
        off += used;
        if (o.rc != FL_EAGAIN)
            break;
    }
    if (in_body && o.rc == FL_EAGAIN)
        o.rc = fl_http_body_finish(&b) == 0 ? 1 : FL_EBADMSG;
    if (in_body && b.received != o.body_len)
        abort();
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        fl_log_configure("*:0");
        init = 1;
    }
    if (size < 2)
        return 0;
    bool head_request = (data[0] & 1) != 0;
    size_t split = (size_t)(data[1] & 0x3f) + 1;
    outcome a = read_all(data + 2, size - 2, split, head_request, body_a, sizeof(body_a));
    outcome b = read_all(data + 2, size - 2, size, head_request, body_b, sizeof(body_b));
    /* the split changes nothing (an error may be found at another point of
     * the body, so only the kind of outcome and the bytes before it) */
    if ((a.rc == 0 || a.rc == 1) != (b.rc == 0 || b.rc == 1))
        abort();
    if (a.rc == 0 || a.rc == 1) {
        if (a.body_len != b.body_len)
            abort();
        size_t n = a.body_len < sizeof(body_a) ? a.body_len : sizeof(body_a);
        if (memcmp(body_a, body_b, n) != 0)
            abort();
    }
    return 0;
}
