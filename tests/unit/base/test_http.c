/* rpc/http: request and response heads, parse and write back. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
