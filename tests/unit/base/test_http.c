/* base/http: request and response heads, parse and write back; response
 * bodies (Content-Length, chunked, up to the close) in any split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/http.h"

#include <cmocka.h>

static const char request[] = "GET /kurento?access_token=x HTTP/1.1\r\n"
                              "Host: 127.0.0.1:8888\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: keep-alive, Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

static int parse_str(fl_http_head *h, fl_http_kind kind, const char *s)
{
    size_t used = 0;
    fl_http_head_init(h, kind);
    return fl_http_head_parse(h, (const uint8_t *)s, strlen(s), &used);
}

static void test_request_round_trip(void **state)
{
    (void)state;
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(parse_str(h, FL_HTTP_REQUEST, request), 0);
    assert_string_equal(h->method, "GET");
    assert_string_equal(h->target, "/kurento?access_token=x");
    assert_int_equal(h->version_minor, 1);
    assert_int_equal(h->header_count, 5);
    assert_string_equal(fl_http_head_get(h, "host"), "127.0.0.1:8888");
    assert_string_equal(fl_http_head_get(h, "SEC-WEBSOCKET-VERSION"), "13");
    assert_null(fl_http_head_get(h, "Origin"));
    fl_bytes out;
    fl_bytes_init(&out);
    assert_int_equal(fl_http_request_write(&out, h->method, h->target, h->headers, h->header_count),
                     0);
    assert_int_equal(out.len, strlen(request));
    assert_memory_equal(out.data, request, out.len);
    fl_bytes_deinit(&out);
    free(h);
}

static void test_byte_by_byte_and_trailing(void **state)
{
    (void)state;
    fl_http_head *h = malloc(sizeof(*h));
    fl_http_head_init(h, FL_HTTP_REQUEST);
    char buf[sizeof(request) + 8];
    snprintf(buf, sizeof(buf), "%sXYZ", request);
    size_t total = strlen(buf);
    size_t fed = 0;
    int rc = FL_EAGAIN;
    while (rc == FL_EAGAIN && fed < total) {
        size_t used = 0;
        rc = fl_http_head_parse(h, (const uint8_t *)buf + fed, 1, &used);
        assert_int_equal(used, 1);
        fed += used;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(fed, strlen(request));
    assert_string_equal(fl_http_head_get(h, "Upgrade"), "websocket");
    /* Again, all at once: the head ends inside the chunk. */
    size_t used = 0;
    fl_http_head_init(h, FL_HTTP_REQUEST);
    assert_int_equal(fl_http_head_parse(h, (const uint8_t *)buf, total, &used), 0);
    assert_int_equal(used, strlen(request));
    assert_int_equal(fl_http_head_parse(h, (const uint8_t *)"x", 1, &used), FL_ESTATE);
    free(h);
}

static void test_value_whitespace(void **state)
{
    (void)state;
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(
            parse_str(h, FL_HTTP_REQUEST, "GET / HTTP/1.0\r\nA:x\r\nB: \t y z \t\r\nC:\r\n\r\n"),
            0);
    assert_int_equal(h->version_minor, 0);
    assert_string_equal(fl_http_head_get(h, "a"), "x");
    assert_string_equal(fl_http_head_get(h, "b"), "y z");
    assert_string_equal(fl_http_head_get(h, "c"), "");
    free(h);
}

static void test_response_round_trip(void **state)
{
    (void)state;
    const char *resp = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    fl_http_head *h = malloc(sizeof(*h));
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, resp), 0);
    assert_int_equal(h->status, 101);
    assert_string_equal(h->reason, "Switching Protocols");
    fl_bytes out;
    fl_bytes_init(&out);
    assert_int_equal(fl_http_response_write(&out, h->status, h->headers, h->header_count, NULL, 0),
                     0);
    assert_int_equal(out.len, strlen(resp));
    assert_memory_equal(out.data, resp, out.len);
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, "HTTP/1.1 200\r\n\r\n"), 0);
    assert_int_equal(h->status, 200);
    assert_string_equal(h->reason, "");
    fl_bytes_deinit(&out);
    free(h);
}

static void test_response_body(void **state)
{
    (void)state;
    fl_bytes out;
    fl_bytes_init(&out);
    fl_http_header hh[] = { { "Content-Type", "text/plain" }, { "Connection", "close" } };
    assert_int_equal(fl_http_response_write(&out, 404, hh, 2, "nope", 4), 0);
    const char *expect = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                         "Connection: close\r\nContent-Length: 4\r\n\r\nnope";
    assert_int_equal(out.len, strlen(expect));
    assert_memory_equal(out.data, expect, out.len);
    size_t len = out.len;
    fl_http_header bad[] = { { "X", "a\r\nInjected: 1" } };
    assert_int_equal(fl_http_response_write(&out, 200, bad, 1, NULL, 0), FL_EINVAL);
    fl_http_header badname[] = { { "X Y", "a" } };
    assert_int_equal(fl_http_response_write(&out, 200, badname, 1, NULL, 0), FL_EINVAL);
    assert_int_equal(fl_http_response_write(&out, 42, NULL, 0, NULL, 0), FL_EINVAL);
    assert_int_equal(fl_http_request_write(&out, "GET", "/a b", NULL, 0), FL_EINVAL);
    assert_int_equal(fl_http_request_write(&out, "G\nT", "/", NULL, 0), FL_EINVAL);
    assert_int_equal(out.len, len);
    fl_bytes_deinit(&out);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\nHost: x\r\n\r\n",          /* bare LF */
        "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n",     /* bare CR */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",       /* space before colon */
        "GET / HTTP/1.1\r\nHost: x\r\n  y\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET /\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\n\r\n",
    };
    fl_http_head *h = malloc(sizeof(*h));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_str(h, FL_HTTP_REQUEST, bad[i]);
        if (rc != FL_EBADMSG)
            fail_msg("case %zu: %d", i, rc);
    }
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, "HTTP/1.1 10 X\r\n\r\n"), FL_EBADMSG);
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, "HTTP/1.1 abc X\r\n\r\n"), FL_EBADMSG);
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, "GET / HTTP/1.1\r\n\r\n"), FL_EBADMSG);
    /* A NUL is refused as soon as it arrives. */
    size_t used = 0;
    fl_http_head_init(h, FL_HTTP_REQUEST);
    assert_int_equal(fl_http_head_parse(h, (const uint8_t *)"GE\0", 3, &used), FL_EBADMSG);
    free(h);
}

static void test_limits(void **state)
{
    (void)state;
    fl_http_head *h = malloc(sizeof(*h));
    fl_bytes b;
    fl_bytes_init(&b);
    fl_bytes_append_str(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < FL_HTTP_MAX_HEADERS; i++)
        fl_bytes_printf(&b, "H%d: v\r\n", i);
    fl_bytes_append_str(&b, "\r\n");
    fl_bytes_append(&b, "", 1);
    assert_int_equal(parse_str(h, FL_HTTP_REQUEST, (const char *)b.data), 0);
    assert_int_equal(h->header_count, FL_HTTP_MAX_HEADERS);
    b.len -= 3;
    fl_bytes_append_str(&b, "One: more\r\n\r\n");
    fl_bytes_append(&b, "", 1);
    assert_int_equal(parse_str(h, FL_HTTP_REQUEST, (const char *)b.data), FL_EMSGSIZE);
    /* A head longer than 8 KiB. */
    fl_bytes_clear(&b);
    fl_bytes_append_str(&b, "GET / HTTP/1.1\r\nX: ");
    while (b.len < FL_HTTP_MAX_HEAD + 10)
        fl_bytes_append_str(&b, "aaaaaaaa");
    size_t used = 0;
    fl_http_head_init(h, FL_HTTP_REQUEST);
    assert_int_equal(fl_http_head_parse(h, b.data, b.len, &used), FL_EMSGSIZE);
    assert_int_equal(used, FL_HTTP_MAX_HEAD);
    /* Exactly 8 KiB is fine. */
    fl_bytes_clear(&b);
    fl_bytes_append_str(&b, "GET / HTTP/1.1\r\nX: ");
    while (b.len < FL_HTTP_MAX_HEAD - 4)
        fl_bytes_append_str(&b, "a");
    fl_bytes_append_str(&b, "\r\n\r\n");
    assert_int_equal(b.len, FL_HTTP_MAX_HEAD);
    fl_http_head_init(h, FL_HTTP_REQUEST);
    assert_int_equal(fl_http_head_parse(h, b.data, b.len, &used), 0);
    fl_bytes_deinit(&b);
    free(h);
}

static void test_token_list(void **state)
{
    (void)state;
    assert_true(fl_http_token_list_has("keep-alive, Upgrade", "upgrade"));
    assert_true(fl_http_token_list_has("Upgrade", "upgrade"));
    assert_true(fl_http_token_list_has(" ,upgrade ,", "upgrade"));
    assert_false(fl_http_token_list_has("upgrades", "upgrade"));
    assert_false(fl_http_token_list_has("keep-alive", "upgrade"));
    assert_false(fl_http_token_list_has("", "upgrade"));
    assert_string_equal(fl_http_status_reason(404), "Not Found");
    assert_string_equal(fl_http_status_reason(999), "Unknown");
}

/* Parses a whole response (head and body) fed in pieces of `split` bytes;
 * the body goes to `body`. Returns the body reader's last code (or the
 * head's error), and after a close (`close_at_end`) fl_http_body_finish's. */
static int read_response(const char *msg,
                         size_t msg_len,
                         size_t split,
                         bool close_at_end,
                         fl_bytes *body,
                         fl_http_body *b,
                         size_t *rest)
{
    fl_http_head *h = malloc(sizeof(*h));
    fl_http_head_init(h, FL_HTTP_RESPONSE);
    fl_bytes_clear(body);
    const uint8_t *p = (const uint8_t *)msg;
    size_t left = msg_len;
    int rc = FL_EAGAIN;
    bool in_body = false;
    *rest = 0;
    while (left > 0) {
        size_t n = left < split ? left : split;
        size_t off = 0;
        while (off < n) {
            size_t used = 0;
            if (!in_body) {
                rc = fl_http_head_parse(h, p + off, n - off, &used);
                off += used;
                if (rc == FL_EAGAIN)
                    continue;
                if (rc != 0)
                    goto out;
                rc = fl_http_body_init(b, h, false);
                if (rc != 0)
                    goto out;
                in_body = true;
                rc = FL_EAGAIN;
                continue;
            }
            const uint8_t *bp;
            size_t bl;
            rc = fl_http_body_parse(b, p + off, n - off, &used, &bp, &bl);
            assert_true(used <= n - off);
            if (bl) {
                /* no copy: the body bytes are inside the input */
                assert_true(bp >= p + off && bp + bl <= p + off + used);
                fl_bytes_append(body, bp, bl);
            }
            off += used;
            if (rc == 0) {
                *rest += n - off;
                break;
            }
            if (rc != FL_EAGAIN)
                goto out;
            assert_true(used > 0);
        }
        p += n;
        left -= n;
    }
    if (close_at_end && in_body)
        rc = fl_http_body_finish(b);
out:
    free(h);
    return rc;
}

static void test_body_length_chunked_close(void **state)
{
    (void)state;
    static const char chunked[] = "HTTP/1.1 200 OK\r\n"
                                  "Transfer-Encoding: gzip, chunked\r\n"
                                  "Content-Length: 3\r\n"
                                  "\r\n"
                                  "5\r\nhello\r\n"
                                  "1A;name=\"v; x\" ; b\r\n abcdefghijklmnopqrstuvwxy\r\n"
                                  "00000 \t;ext\r\n"
                                  "Expires: never\r\n"
                                  "X: y\r\n"
                                  "\r\n"
                                  "NEXT";
    static const char length[] = "HTTP/1.1 206 Partial Content\r\n"
                                 "Content-Length: 10, 10\r\n"
                                 "\r\n"
                                 "0123456789NEXT";
    static const char closed[] = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
    fl_bytes body;
    fl_bytes_init(&body);
    fl_http_body b;
    size_t rest;
    for (size_t split = 1; split <= sizeof(chunked); split++) {
        assert_int_equal(
                read_response(chunked, sizeof(chunked) - 1, split, false, &body, &b, &rest), 0);
        assert_int_equal(b.kind, FL_HTTP_BODY_CHUNKED);
        assert_int_equal(b.length, -1);
        assert_int_equal(body.len, 31);
        assert_memory_equal(body.data, "hello abcdefghijklmnopqrstuvwxy", 31);
        assert_int_equal(b.received, 31);
        assert_int_equal(rest, 4);
        /* complete: later calls take nothing */
        size_t used = 9;
        const uint8_t *bp;
        size_t bl;
        assert_int_equal(fl_http_body_parse(&b, (const uint8_t *)"x", 1, &used, &bp, &bl), 0);
        assert_int_equal(used, 0);
        assert_int_equal(fl_http_body_finish(&b), 0);

        assert_int_equal(read_response(length, sizeof(length) - 1, split, false, &body, &b, &rest),
                         0);
        assert_int_equal(b.kind, FL_HTTP_BODY_LENGTH);
        assert_int_equal(b.length, 10);
        assert_int_equal(body.len, 10);
        assert_memory_equal(body.data, "0123456789", 10);
        assert_int_equal(rest, 4);

        assert_int_equal(read_response(closed, sizeof(closed) - 1, split, true, &body, &b, &rest),
                         0);
        assert_int_equal(b.kind, FL_HTTP_BODY_CLOSE);
        assert_int_equal(body.len, 13);
        assert_memory_equal(body.data, "until the end", 13);
    }
    /* cut short */
    assert_int_equal(read_response(length, sizeof(length) - 8, 7, true, &body, &b, &rest),
                     FL_EBADMSG);
    assert_int_equal(body.len, 7);
    assert_int_equal(read_response(chunked, 80, 7, true, &body, &b, &rest), FL_EBADMSG);
    /* no body */
    static const char *const empty[] = {
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(read_response(empty[i], strlen(empty[i]), 5, true, &body, &b, &rest), 0);
        assert_int_equal(body.len, 0);
    }
    assert_int_equal(b.kind, FL_HTTP_BODY_LENGTH);
    fl_bytes_deinit(&body);
}

static void test_body_head_request_and_requests(void **state)
{
    (void)state;
    fl_http_head *h = malloc(sizeof(*h));
    fl_http_body b;
    assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
                     0);
    assert_int_equal(fl_http_body_init(&b, h, true), 0);
    assert_int_equal(b.kind, FL_HTTP_BODY_NONE);
    assert_int_equal(fl_http_body_finish(&b), 0);
    assert_int_equal(parse_str(h, FL_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_int_equal(fl_http_body_init(&b, h, false), 0);
    assert_int_equal(b.kind, FL_HTTP_BODY_NONE);
    assert_int_equal(parse_str(h, FL_HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n"),
                     0);
    assert_int_equal(fl_http_body_init(&b, h, false), 0);
    assert_int_equal(b.kind, FL_HTTP_BODY_LENGTH);
    assert_int_equal(
            parse_str(h, FL_HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 0);
    assert_int_equal(fl_http_body_init(&b, h, false), FL_EBADMSG);
    /* a response whose last coding is not chunked runs to the close */
    assert_int_equal(
            parse_str(h, FL_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            0);
    assert_int_equal(fl_http_body_init(&b, h, false), 0);
    assert_int_equal(b.kind, FL_HTTP_BODY_CLOSE);
    free(h);
}

static void test_body_malformed(void **state)
{
    (void)state;
    static const char *const bad_head[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    fl_http_head *h = malloc(sizeof(*h));
    fl_http_body b;
    for (size_t i = 0; i < sizeof(bad_head) / sizeof(bad_head[0]); i++) {
        assert_int_equal(parse_str(h, FL_HTTP_RESPONSE, bad_head[i]), 0);
        int rc = fl_http_body_init(&b, h, false);
        if (rc != FL_EBADMSG)
            fail_msg("head %zu: %d", i, rc);
    }
    free(h);
    static const char *const bad_chunks[] = {
        "x\r\n",            /* not hex */
        "\r\n",             /* no size */
        "5\r\nhelloX\r\n",  /* no CRLF after the data */
        "5\r\nhello\rX",    /* CR without LF */
        "5\nhello\r\n",     /* bare LF */
        "5 x\r\n",          /* BWS not followed by ';' */
        "5;a\x01\r\n",      /* control character in an extension */
        "0\r\n: v\r\n\r\n", /* a trailer line without a name */
        "0\r\nX: \x7f\r\n\r\n",
        "0\r\n\rX",
        "-5\r\n",
        "10000000000000000\r\n", /* 2^64 */
    };
    fl_bytes body;
    fl_bytes_init(&body);
    char msg[256];
    size_t rest;
    for (size_t i = 0; i < sizeof(bad_chunks) / sizeof(bad_chunks[0]); i++) {
        snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bad_chunks[i]);
        for (size_t split = 1; split < 4; split++) {
            int rc = read_response(msg, strlen(msg), split, false, &body, &b, &rest);
            if (rc != FL_EBADMSG && rc != FL_EMSGSIZE)
                fail_msg("chunks %zu split %zu: %d", i, split, rc);
            /* an error is final */
            size_t used;
            const uint8_t *bp;
            size_t bl;
            assert_int_not_equal(
                    fl_http_body_parse(&b, (const uint8_t *)"0\r\n\r\n", 5, &used, &bp, &bl), 0);
            assert_int_equal(fl_http_body_finish(&b), FL_EBADMSG);
        }
    }
    fl_bytes_deinit(&body);
}

static void test_body_limits(void **state)
{
    (void)state;
    fl_bytes msg, body;
    fl_bytes_init(&msg);
    fl_bytes_init(&body);
    fl_http_body b;
    size_t rest;
    /* chunk extensions up to the line limit, then one byte more */
    for (int over = 0; over < 2; over++) {
        fl_bytes_clear(&msg);
        fl_bytes_append_str(&msg, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        size_t start = msg.len;
        fl_bytes_append_str(&msg, "3;x=");
        while (msg.len - start < FL_HTTP_MAX_CHUNK_LINE - 2 + (size_t)over)
            fl_bytes_append_str(&msg, "a");
        fl_bytes_append_str(&msg, "\r\nabc\r\n0\r\n\r\n");
        int rc = read_response((const char *)msg.data, msg.len, 1000, false, &body, &b, &rest);
        assert_int_equal(rc, over ? FL_EMSGSIZE : 0);
    }
    /* the largest chunk size taken: 2^62 - 1 */
    const char *big = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3fffffffffffffff\r\nabc";
    assert_int_equal(read_response(big, strlen(big), 3, false, &body, &b, &rest), FL_EAGAIN);
    assert_int_equal(body.len, 3);
    big = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000000000000000\r\n";
    assert_int_equal(read_response(big, strlen(big), 3, false, &body, &b, &rest), FL_EMSGSIZE);
    /* trailers beyond FL_HTTP_MAX_TRAILER */
    fl_bytes_clear(&msg);
    fl_bytes_append_str(&msg, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
    for (int i = 0; i < FL_HTTP_MAX_TRAILER / 10 + 1; i++)
        fl_bytes_append_str(&msg, "X: 123456\r\n");
    fl_bytes_append_str(&msg, "\r\n");
    assert_int_equal(read_response((const char *)msg.data, msg.len, 512, false, &body, &b, &rest),
                     FL_EMSGSIZE);
    fl_bytes_deinit(&msg);
    fl_bytes_deinit(&body);
}

static void test_url(void **state)
{
    (void)state;
    fl_http_url u, r;
    assert_int_equal(fl_http_url_parse(&u, "http://example.com/a/b.webm?x=1#frag"), 0);
    assert_false(u.https);
    assert_string_equal(u.host, "example.com");
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/a/b.webm?x=1");
    assert_int_equal(fl_http_url_parse(&u, "HTTPS://[::1]:8443?q"), 0);
    assert_true(u.https);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "8443");
    assert_string_equal(u.path, "/?q");
    assert_int_equal(fl_http_url_parse(&u, "https://h"), 0);
    assert_string_equal(u.port, "443");
    assert_string_equal(u.path, "/");
    static const char *const bad[] = {
        "ftp://h/a",    "http://",      "http:///a",     "http://h:0/",    "http://h:65536/",
        "http://h:/",   "http://h:8x/", "http://[::1/",  "http://[::1]x/", "http://h/a b",
        "http://u@h/a", "rtsp://h/a",   "http://h\x01/", "http://h/\x7f",  "http://h:123456/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fl_http_url_parse(&u, bad[i]) != FL_EINVAL)
            fail_msg("%s was taken", bad[i]);
    }
    char longpath[3000];
    memset(longpath, 'a', sizeof(longpath));
    memcpy(longpath, "http://h/", 9);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(fl_http_url_parse(&u, longpath), FL_EINVAL);

    /* Location references */
    assert_int_equal(fl_http_url_parse(&u, "http://h:81/dir/file.mp4?x"), 0);
    assert_int_equal(fl_http_url_resolve(&r, &u, "https://cdn/f"), 0);
    assert_true(r.https);
    assert_string_equal(r.host, "cdn");
    assert_string_equal(r.path, "/f");
    assert_int_equal(fl_http_url_resolve(&r, &u, "//other:82/g"), 0);
    assert_false(r.https);
    assert_string_equal(r.host, "other");
    assert_string_equal(r.port, "82");
    assert_int_equal(fl_http_url_resolve(&r, &u, "/top?y"), 0);
    assert_string_equal(r.host, "h");
    assert_string_equal(r.port, "81");
    assert_string_equal(r.path, "/top?y");
    assert_int_equal(fl_http_url_resolve(&r, &u, "near.mp4"), 0);
    assert_string_equal(r.path, "/dir/near.mp4");
    assert_int_equal(fl_http_url_parse(&u, "http://[fe80::1]:81/x"), 0);
    assert_int_equal(fl_http_url_resolve(&r, &u, "/y"), 0);
    assert_string_equal(r.host, "fe80::1");
    assert_int_equal(fl_http_url_resolve(&r, &u, "rtsp://h/"), FL_EINVAL);
    assert_int_equal(fl_http_url_resolve(&r, &u, "/a b"), FL_EINVAL);
}

static void test_content_range(void **state)
{
    (void)state;
    int64_t f, l, c;
    assert_int_equal(fl_http_content_range_parse("bytes 0-99/1000", &f, &l, &c), 0);
    assert_true(f == 0 && l == 99 && c == 1000);
    assert_int_equal(fl_http_content_range_parse("bytes 5-5/*", &f, &l, &c), 0);
    assert_true(f == 5 && l == 5 && c == -1);
    assert_int_equal(fl_http_content_range_parse("bytes */1234", &f, &l, &c), 0);
    assert_true(f == -1 && l == -1 && c == 1234);
    assert_int_equal(fl_http_content_range_parse("bytes 999999999999999999-999999999999999999/*",
                                                 &f, &l, &c),
                     0);
    static const char *const bad[] = {
        "bytes 0-99/99",
        "bytes 10-9/100",
        "bytes */*",
        "bytes 0-99",
        "bytes 0-/100",
        "bytes -5/100",
        "items 0-1/2",
        "bytes 0-1/2 ",
        "bytes  0-1/2",
        "bytes 0-1/2x",
        "bytes 1234567890123456789-1234567890123456790/*",
        "",
        "bytes ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fl_http_content_range_parse(bad[i], &f, &l, &c) != FL_EBADMSG)
            fail_msg("\"%s\" was taken", bad[i]);
    }
    assert_int_equal(fl_http_content_range_parse(NULL, &f, &l, &c), FL_EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_byte_by_byte_and_trailing),
        cmocka_unit_test(test_value_whitespace),
        cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_response_body),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_token_list),
        cmocka_unit_test(test_body_length_chunked_close),
        cmocka_unit_test(test_body_head_request_and_requests),
        cmocka_unit_test(test_body_malformed),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_content_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
