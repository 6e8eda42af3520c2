/* rpc/ws: RFC 6455 handshake and framing, in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "rpc/ws.h"

#include <cmocka.h>

/* Masking key of the RFC 6455 section 5.7 examples. */
static void fixed_fill(fl_rand *r, void *out, size_t n)
{
    (void)r;
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)out)[i] = key[i & 3];
}

static fl_rand fixed_rand = { .fill = fixed_fill };

static fl_ws *make(fl_ws_role role, size_t max)
{
    fl_ws_config cfg = { .role = role, .max_message = max, .rand = &fixed_rand };
    fl_ws *ws = NULL;
    assert_int_equal(fl_ws_create(&ws, &cfg), 0);
    return ws;
}

static void feed(fl_ws *ws, const void *data, size_t len)
{
    assert_int_equal(fl_ws_handle_input(ws, data, len), 0);
}

static int next(fl_ws *ws, fl_ws_event *ev)
{
    return fl_ws_poll_event(ws, ev);
}

/* Takes everything ws has to send into *out (appended). */
static void drain(fl_ws *ws, fl_bytes *out)
{
    fl_bytes b;
    if (fl_ws_poll_transmit(ws, &b) == 0) {
        fl_bytes_append(out, b.data, b.len);
        fl_bytes_deinit(&b);
    }
}

static void assert_out(fl_ws *ws, const uint8_t *expect, size_t len)
{
    fl_bytes out;
    fl_bytes_init(&out);
    drain(ws, &out);
    assert_int_equal(out.len, len);
    if (len > 0)
        assert_memory_equal(out.data, expect, len);
    fl_bytes_deinit(&out);
}

/* ---- handshake ------------------------------------------------------------ */

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(fl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(fl_ws_accept_key("", out), FL_EINVAL);
}

static int server_answer(const char *req, fl_bytes *out)
{
    fl_http_head *h = malloc(sizeof(*h));
    size_t used = 0;
    fl_http_head_init(h, FL_HTTP_REQUEST);
    assert_int_equal(fl_http_head_parse(h, (const uint8_t *)req, strlen(req), &used), 0);
    int rc = fl_ws_handshake_server_accept(h, out);
    free(h);
    return rc;
}

static void test_server_handshake_rfc(void **state)
{
    (void)state;
    const char *req = "GET /chat HTTP/1.1\r\n"
                      "Host: server.example.com\r\n"
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Origin: http://example.com\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "\r\n";
    const char *expect = "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                         "\r\n";
    fl_bytes out;
    fl_bytes_init(&out);
    assert_int_equal(server_answer(req, &out), 0);
    assert_int_equal(out.len, strlen(expect));
    assert_memory_equal(out.data, expect, out.len);
    fl_bytes_deinit(&out);
}

static void expect_reject(const char *req, const char *status_line)
{
    fl_bytes out;
    fl_bytes_init(&out);
    assert_int_equal(server_answer(req, &out), FL_EPROTO);
    fl_bytes_append(&out, "", 1);
    if (strncmp((const char *)out.data, status_line, strlen(status_line)) != 0)
        fail_msg("expected %s, got %s", status_line, (const char *)out.data);
    assert_non_null(strstr((const char *)out.data, "Connection: close\r\n"));
    fl_bytes_deinit(&out);
}

static void test_server_handshake_errors(void **state)
{
    (void)state;
#define H_HOST "Host: h\r\n"
#define H_UP   "Upgrade: websocket\r\n"
#define H_CONN "Connection: Upgrade\r\n"
#define H_KEY  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define H_VER  "Sec-WebSocket-Version: 13\r\n"
    expect_reject("POST / HTTP/1.1\r\n" H_HOST H_UP H_CONN H_KEY H_VER "\r\n", "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.0\r\n" H_HOST H_UP H_CONN H_KEY H_VER "\r\n", "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_UP H_CONN H_KEY H_VER "\r\n", "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_CONN H_KEY H_VER "\r\n", "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST "Upgrade: h2c\r\n" H_CONN H_KEY H_VER "\r\n",
                  "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_UP "Connection: keep-alive\r\n" H_KEY H_VER "\r\n",
                  "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_UP H_CONN H_VER "\r\n", "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_UP H_CONN "Sec-WebSocket-Key: abc\r\n" H_VER "\r\n",
                  "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_UP H_CONN
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWVl\r\n" H_VER "\r\n",
                  "HTTP/1.1 400 ");
    expect_reject("GET / HTTP/1.1\r\n" H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n",
                  "HTTP/1.1 426 ");
    fl_bytes out;
    fl_bytes_init(&out);
    server_answer("GET / HTTP/1.1\r\n" H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n",
                  &out);
    fl_bytes_append(&out, "", 1);
    assert_non_null(strstr((const char *)out.data, "Sec-WebSocket-Version: 13\r\n"));
    fl_bytes_deinit(&out);
    /* Case and lists are fine. */
    fl_bytes_init(&out);
    assert_int_equal(server_answer("GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\n"
                                   "connection: keep-alive, upgrade\r\n" H_KEY H_VER "\r\n",
                                   &out),
                     0);
    fl_bytes_deinit(&out);
}

static void test_client_handshake(void **state)
{
    (void)state;
    fl_rand r;
    fl_rand_seeded_init(&r, 7);
    fl_bytes req, resp;
    fl_bytes_init(&req);
    fl_bytes_init(&resp);
    char key[25];
    assert_int_equal(fl_ws_handshake_client_write(&req, "127.0.0.1:8888", "/kurento", &r, key), 0);
    assert_int_equal(strlen(key), 24);
    fl_bytes_append(&req, "", 1);
    assert_int_equal(server_answer((const char *)req.data, &resp), 0);
    fl_http_head *h = malloc(sizeof(*h));
    size_t used = 0;
    fl_http_head_init(h, FL_HTTP_RESPONSE);
    assert_int_equal(fl_http_head_parse(h, resp.data, resp.len, &used), 0);
    assert_int_equal(fl_ws_handshake_client_check(h, key), 0);
    assert_int_equal(fl_ws_handshake_client_check(h, "AAAAAAAAAAAAAAAAAAAAAA=="), FL_EPROTO);
    const char *bad = "HTTP/1.1 200 OK\r\n\r\n";
    fl_http_head_init(h, FL_HTTP_RESPONSE);
    assert_int_equal(fl_http_head_parse(h, (const uint8_t *)bad, strlen(bad), &used), 0);
    assert_int_equal(fl_ws_handshake_client_check(h, key), FL_EPROTO);
    free(h);
    fl_bytes_deinit(&req);
    fl_bytes_deinit(&resp);
}

/* ---- RFC 6455 section 5.7 ------------------------------------------------- */

static const uint8_t hello_unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t hello_masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                        0x7f, 0x9f, 0x4d, 0x51, 0x58 };
static const uint8_t hel_lo[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
static const uint8_t ping_unmasked[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t pong_masked[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                       0x7f, 0x9f, 0x4d, 0x51, 0x58 };

static void expect_message(fl_ws *ws, fl_ws_event_type type, const void *data, size_t len)
{
    fl_ws_event ev;
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.type, type);
    assert_int_equal(ev.len, len);
    if (len > 0)
        assert_memory_equal(ev.data, data, len);
    assert_int_equal(ev.data[len], 0);
}

static void test_rfc_examples_parse(void **state)
{
    (void)state;
    fl_ws *client = make(FL_WS_CLIENT, 0);
    fl_ws *server = make(FL_WS_SERVER, 0);
    fl_ws_event ev;
    feed(client, hello_unmasked, sizeof(hello_unmasked));
    expect_message(client, FL_WS_EVENT_TEXT, "Hello", 5);
    feed(server, hello_masked, sizeof(hello_masked));
    expect_message(server, FL_WS_EVENT_TEXT, "Hello", 5);
    feed(client, hel_lo, sizeof(hel_lo));
    expect_message(client, FL_WS_EVENT_TEXT, "Hello", 5);
    /* Ping: the client answers with the RFC's masked pong, byte for byte. */
    feed(client, ping_unmasked, sizeof(ping_unmasked));
    assert_int_equal(next(client, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_PING);
    assert_int_equal(ev.len, 5);
    assert_out(client, pong_masked, sizeof(pong_masked));
    feed(server, pong_masked, sizeof(pong_masked));
    assert_int_equal(next(server, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_PONG);
    assert_memory_equal(ev.data, "Hello", 5);
    /* 256 bytes and 64 KiB binary, unmasked. */
    uint8_t *big = malloc(65536 + 10);
    for (size_t i = 0; i < 65536; i++)
        big[10 + i] = (uint8_t)(i * 7);
    uint8_t h256[4] = { 0x82, 0x7e, 0x01, 0x00 };
    feed(client, h256, 4);
    feed(client, big + 10, 256);
    expect_message(client, FL_WS_EVENT_BINARY, big + 10, 256);
    const uint8_t h64k[10] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 };
    memcpy(big, h64k, 10);
    feed(client, big, 65536 + 10);
    expect_message(client, FL_WS_EVENT_BINARY, big + 10, 65536);
    assert_int_equal(next(client, &ev), FL_EAGAIN);
    assert_int_equal(next(server, &ev), FL_EAGAIN);
    free(big);
    fl_ws_destroy(client);
    fl_ws_destroy(server);
}

static void test_rfc_examples_write(void **state)
{
    (void)state;
    fl_ws *client = make(FL_WS_CLIENT, 0);
    fl_ws *server = make(FL_WS_SERVER, 0);
    assert_int_equal(fl_ws_send_text(server, "Hello", 5), 0);
    assert_out(server, hello_unmasked, sizeof(hello_unmasked));
    assert_int_equal(fl_ws_send_text(client, "Hello", 5), 0);
    assert_out(client, hello_masked, sizeof(hello_masked));
    assert_int_equal(fl_ws_send_ping(server, "Hello", 5), 0);
    assert_out(server, ping_unmasked, sizeof(ping_unmasked));
    uint8_t *big = calloc(1, 65536);
    assert_int_equal(fl_ws_send_binary(server, big, 256), 0);
    fl_bytes out;
    fl_bytes_init(&out);
    drain(server, &out);
    assert_int_equal(out.len, 4 + 256);
    assert_memory_equal(out.data, ((const uint8_t[]){ 0x82, 0x7e, 0x01, 0x00 }), 4);
    fl_bytes_clear(&out);
    assert_int_equal(fl_ws_send_binary(server, big, 65536), 0);
    drain(server, &out);
    assert_int_equal(out.len, 10 + 65536);
    assert_memory_equal(out.data, ((const uint8_t[]){ 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 }), 10);
    fl_bytes_deinit(&out);
    free(big);
    fl_ws_destroy(client);
    fl_ws_destroy(server);
}

/* ---- fragmentation and splits --------------------------------------------- */

/* Masks a frame in place: b[0..hlen) header without the key; payload after. */
static size_t masked_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    size_t n = 0;
    out[n++] = b0;
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    static const uint8_t key[4] = { 0xa1, 0xb2, 0xc3, 0xd4 };
    memcpy(out + n, key, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
    return n + len;
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    uint8_t stream[512];
    size_t n = 0;
    n += masked_frame(stream + n, 0x01, "frag", 4);
    n += masked_frame(stream + n, 0x89, "p!", 2); /* ping in the middle */
    n += masked_frame(stream + n, 0x00, "\xe2\x82", 2);
    n += masked_frame(stream + n, 0x80, "\xac end", 5); /* euro sign across fragments */
    n += masked_frame(stream + n, 0x82, "", 0);
    n += masked_frame(stream + n, 0x81, "x", 1);
    fl_ws *server = make(FL_WS_SERVER, 0);
    fl_ws_event ev;
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        feed(server, stream + i, 1);
        while (next(server, &ev) == 0) {
            switch (seen++) {
            case 0:
                assert_int_equal(ev.type, FL_WS_EVENT_PING);
                assert_memory_equal(ev.data, "p!", 2);
                break;
            case 1:
                assert_int_equal(ev.type, FL_WS_EVENT_TEXT);
                assert_int_equal(ev.len, 11);
                assert_string_equal((const char *)ev.data, "frag\xe2\x82\xac end");
                break;
            case 2:
                assert_int_equal(ev.type, FL_WS_EVENT_BINARY);
                assert_int_equal(ev.len, 0);
                assert_int_equal(ev.data[0], 0);
                break;
            case 3:
                assert_int_equal(ev.type, FL_WS_EVENT_TEXT);
                assert_string_equal((const char *)ev.data, "x");
                break;
            default:
                fail();
            }
        }
    }
    assert_int_equal(seen, 4);
    assert_out(server, (const uint8_t[]){ 0x8a, 0x02, 'p', '!' }, 4);
    fl_ws_destroy(server);
}

/* fl_ws_input_held: a partial frame, then a first fragment, are held; a
 * finished message or a lone control frame is not. */
static void test_input_held(void **state)
{
    (void)state;
    uint8_t stream[64];
    size_t first = masked_frame(stream, 0x01, "ab", 2);
    size_t ping = masked_frame(stream + first, 0x89, "", 0);
    size_t last = masked_frame(stream + first + ping, 0x80, "c", 1);
    fl_ws *server = make(FL_WS_SERVER, 0);
    fl_ws_event ev;
    assert_false(fl_ws_input_held(server));
    feed(server, stream, 3); /* part of the first frame */
    assert_int_equal(next(server, &ev), FL_EAGAIN);
    assert_true(fl_ws_input_held(server));
    feed(server, stream + 3, first - 3 + ping); /* first fragment and a ping */
    assert_int_equal(next(server, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_PING);
    assert_int_equal(next(server, &ev), FL_EAGAIN);
    assert_true(fl_ws_input_held(server));
    feed(server, stream + first + ping, last);
    assert_true(fl_ws_input_held(server)); /* not polled yet */
    assert_int_equal(next(server, &ev), 0);
    assert_string_equal((const char *)ev.data, "abc");
    assert_int_equal(next(server, &ev), FL_EAGAIN);
    assert_false(fl_ws_input_held(server));
    feed(server, stream + first, ping); /* a control frame alone */
    assert_int_equal(next(server, &ev), 0);
    assert_int_equal(next(server, &ev), FL_EAGAIN);
    assert_false(fl_ws_input_held(server));
    fl_ws_destroy(server);
}

#define SPLIT_MESSAGES 40

/* Client-to-server stream: whole text and binary messages, and messages in
 * three fragments with a ping between the first two; every tenth is big. */
static void build_stream(fl_ws *client,
                         fl_rand *r,
                         size_t *sizes,
                         const uint8_t *payload,
                         fl_bytes *stream)
{
    for (int i = 0; i < SPLIT_MESSAGES; i++) {
        uint32_t v = fl_rand_u32(r);
        sizes[i] = i % 10 == 9 ? 70000 - (v % 100) : v % 300;
        if (i % 3 == 0) {
            assert_int_equal(fl_ws_send_text(client, payload, sizes[i]), 0);
        } else if (i % 3 == 1) {
            assert_int_equal(fl_ws_send_binary(client, payload, sizes[i]), 0);
        } else {
            uint8_t *frame = malloc(sizes[i] + 64);
            size_t a = sizes[i] / 3, b = sizes[i] / 3;
            drain(client, stream);
            fl_bytes_append(stream, frame, masked_frame(frame, 0x01, payload, a));
            fl_bytes_append(stream, frame, masked_frame(frame, 0x89, "", 0));
            fl_bytes_append(stream, frame, masked_frame(frame, 0x00, payload + a, b));
            fl_bytes_append(stream, frame,
                            masked_frame(frame, 0x80, payload + a + b, sizes[i] - a - b));
            free(frame);
        }
        drain(client, stream);
    }
}

static void test_random_splits(void **state)
{
    (void)state;
    fl_rand r;
    fl_rand_seeded_init(&r, 42);
    fl_ws *client = make(FL_WS_CLIENT, 0);
    fl_ws *server = make(FL_WS_SERVER, 0);
    size_t sizes[SPLIT_MESSAGES];
    fl_bytes stream;
    fl_bytes_init(&stream);
    uint8_t *payload = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    build_stream(client, &r, sizes, payload, &stream);
    int got = 0;
    size_t off = 0;
    while (off < stream.len) {
        size_t chunk = 1 + fl_rand_u32(&r) % 300;
        if (chunk > stream.len - off)
            chunk = stream.len - off;
        feed(server, stream.data + off, chunk);
        off += chunk;
        fl_ws_event ev;
        while (next(server, &ev) == 0) {
            if (ev.type == FL_WS_EVENT_PING)
                continue;
            assert_true(got < SPLIT_MESSAGES);
            assert_int_equal(ev.type, got % 3 == 1 ? FL_WS_EVENT_BINARY : FL_WS_EVENT_TEXT);
            assert_int_equal(ev.len, sizes[got]);
            assert_memory_equal(ev.data, payload, ev.len);
            got++;
        }
    }
    assert_int_equal(got, SPLIT_MESSAGES);
    assert_int_equal(fl_ws_get_state(server), FL_WS_OPEN);
    free(payload);
    fl_bytes_deinit(&stream);
    fl_ws_destroy(client);
    fl_ws_destroy(server);
}

/* ---- protocol errors ------------------------------------------------------ */

/* Feeds raw bytes to a fresh endpoint and expects a local close with
 * `code`, and that exact close frame queued. */
static void expect_fail_role(fl_ws_role role, size_t max, const uint8_t *data, size_t len, int code)
{
    fl_ws *ws = make(role, max);
    fl_ws_event ev;
    int rc;
    feed(ws, data, len);
    while ((rc = next(ws, &ev)) == 0 && ev.type != FL_WS_EVENT_CLOSE)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_true(ev.local);
    if (ev.code != code)
        fail_msg("expected close %d, got %d (%s)", code, ev.code, ev.reason);
    assert_int_equal(fl_ws_get_state(ws), FL_WS_CLOSED);
    fl_bytes out;
    fl_bytes_init(&out);
    drain(ws, &out);
    /* Skip pongs or whatever came before: the close is last. */
    assert_true(out.len >= 4);
    size_t at = 0;
    while (at < out.len && (out.data[at] & 0x0f) != 0x8) {
        size_t mlen = out.data[at + 1] & 0x7f;
        at += 2 + (role == FL_WS_CLIENT ? 4 : 0) + mlen;
    }
    assert_true(at + 4 <= out.len);
    assert_int_equal(out.data[at], 0x88);
    if (role == FL_WS_SERVER) {
        assert_int_equal((out.data[at + 2] << 8) | out.data[at + 3], code);
    }
    fl_bytes_deinit(&out);
    /* Nothing more is read, nothing more can be sent. */
    feed(ws, hello_masked, sizeof(hello_masked));
    assert_int_equal(next(ws, &ev), FL_EAGAIN);
    assert_int_equal(fl_ws_send_text(ws, "x", 1), FL_ECLOSED);
    assert_int_equal(fl_ws_send_close(ws, 1000, NULL), FL_ECLOSED);
    fl_ws_destroy(ws);
}

static void expect_fail(const uint8_t *data, size_t len, int code)
{
    expect_fail_role(FL_WS_SERVER, 0, data, len, code);
}

static void expect_fail_frames(const char *const *frames,
                               const uint8_t *b0s,
                               size_t count,
                               const size_t *lens,
                               int code)
{
    uint8_t buf[2048];
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += masked_frame(buf + n, b0s[i], frames[i], lens[i]);
    expect_fail(buf, n, code);
}

static void test_frame_errors(void **state)
{
    (void)state;
    /* Unmasked client frame. */
    expect_fail(hello_unmasked, sizeof(hello_unmasked), 1002);
    /* Masked server frame, seen by a client. */
    expect_fail_role(FL_WS_CLIENT, 0, hello_masked, sizeof(hello_masked), 1002);
    uint8_t f[256];
    /* Reserved bits. */
    for (int bit = 0x10; bit <= 0x40; bit <<= 1)
        expect_fail(f, masked_frame(f, (uint8_t)(0x81 | bit), "a", 1), 1002);
    /* Unknown opcodes. */
    static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };
    for (size_t i = 0; i < sizeof(ops); i++)
        expect_fail(f, masked_frame(f, (uint8_t)(0x80 | ops[i]), "a", 1), 1002);
    /* Control frames: too long, fragmented. */
    memset(f + 100, 'p', 126);
    uint8_t g[300];
    expect_fail(g, masked_frame(g, 0x89, f + 100, 126), 1002);
    expect_fail(g, masked_frame(g, 0x8a, f + 100, 126), 1002);
    expect_fail(g, masked_frame(g, 0x88, f + 100, 126), 1002);
    expect_fail(f, masked_frame(f, 0x09, "a", 1), 1002);
    expect_fail(f, masked_frame(f, 0x08, "", 0), 1002);
    /* Continuation without a start; new message inside a fragmented one. */
    expect_fail(f, masked_frame(f, 0x80, "a", 1), 1002);
    expect_fail(f, masked_frame(f, 0x00, "a", 1), 1002);
    static const char *const two[] = { "a", "b" };
    static const size_t ones[] = { 1, 1 };
    expect_fail_frames(two, (const uint8_t[]){ 0x01, 0x81 }, 2, ones, 1002);
    expect_fail_frames(two, (const uint8_t[]){ 0x02, 0x82 }, 2, ones, 1002);
    expect_fail_frames(two, (const uint8_t[]){ 0x01, 0x02 }, 2, ones, 1002);
    /* A 64-bit length with the top bit set. */
    const uint8_t huge[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
    expect_fail(huge, sizeof(huge), 1002);
}

static void test_size_limit(void **state)
{
    (void)state;
    uint8_t f[512];
    memset(f + 300, 'a', 200);
    expect_fail_role(FL_WS_SERVER, 100, f, masked_frame(f, 0x81, f + 300, 101), 1009);
    expect_fail_role(FL_WS_SERVER, 100, f, masked_frame(f, 0x82, f + 300, 200), 1009);
    /* Across fragments: 60 + 60 > 100. */
    size_t n = masked_frame(f, 0x01, f + 300, 60);
    n += masked_frame(f + n, 0x80, f + 300, 60);
    expect_fail_role(FL_WS_SERVER, 100, f, n, 1009);
    /* Detected from the header alone, before the payload arrives. */
    const uint8_t head[] = { 0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
    expect_fail_role(FL_WS_SERVER, 0, head, sizeof(head), 1009);
    /* Exactly the limit is fine. */
    fl_ws *ws = make(FL_WS_SERVER, 100);
    n = masked_frame(f, 0x01, f + 300, 50);
    n += masked_frame(f + n, 0x80, f + 300, 50);
    feed(ws, f, n);
    fl_ws_event ev;
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.len, 100);
    fl_ws_destroy(ws);
}

static void test_utf8_frames(void **state)
{
    (void)state;
    uint8_t f[256];
    expect_fail(f, masked_frame(f, 0x81, "a\xc0\x80", 3), 1007);
    /* Truncated at the end of the message, across fragments. */
    size_t n = masked_frame(f, 0x01, "ok\xe2", 3);
    n += masked_frame(f + n, 0x80, "\x82", 1);
    expect_fail(f, n, 1007);
    /* Invalid continuation in the second fragment. */
    n = masked_frame(f, 0x01, "\xf0\x9f", 2);
    n += masked_frame(f + n, 0x80, "\x98x", 2);
    expect_fail(f, n, 1007);
    /* Detected at the first bad fragment, before the message ends. */
    n = masked_frame(f, 0x01, "\xed\xa0\x80", 3);
    expect_fail(f, n, 1007);
    /* Binary is not checked. */
    fl_ws *ws = make(FL_WS_SERVER, 0);
    feed(ws, f, masked_frame(f, 0x82, "\xff\xfe", 2));
    fl_ws_event ev;
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_BINARY);
    fl_ws_destroy(ws);
}

static void test_utf8_validator(void **state)
{
    (void)state;
    static const char *const good[] = {
        "",
        "hello",
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* kosme */
        "\x7f",
        "\xc2\x80",
        "\xdf\xbf",
        "\xe0\xa0\x80",
        "\xed\x9f\xbf", /* U+D7FF */
        "\xee\x80\x80", /* U+E000 */
        "\xef\xbf\xbf",
        "\xf0\x90\x80\x80",
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    };
    static const char *const bad[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf", /* overlong */
        "\xe0\x80\x80",
        "\xe0\x9f\xbf", /* overlong */
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf", /* overlong */
        "\xed\xa0\x80",
        "\xed\xbf\xbf", /* surrogates */
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80", /* > U+10FFFF */
        "\xfe",
        "\xff",
        "\xc2",
        "\xe2\x82", /* truncated */
        "\xf0\x9f\x98",
        "\xc2\x41",
        "a\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!fl_ws_utf8_valid((const uint8_t *)good[i], strlen(good[i])))
            fail_msg("good case %zu rejected", i);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fl_ws_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])))
            fail_msg("bad case %zu accepted", i);
    }
    /* Every split of a valid multi-byte string across two fragments. */
    const char *s = "a\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9z";
    size_t len = strlen(s);
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t f[64];
        size_t n = masked_frame(f, 0x01, s, cut);
        n += masked_frame(f + n, 0x80, s + cut, len - cut);
        fl_ws *ws = make(FL_WS_SERVER, 0);
        feed(ws, f, n);
        expect_message(ws, FL_WS_EVENT_TEXT, s, len);
        fl_ws_destroy(ws);
    }
}

/* ---- close handshake ------------------------------------------------------ */

static void close_frame(uint8_t *f, size_t *n, int code, const char *reason)
{
    uint8_t p[130] = { 0 };
    size_t len = 0;
    if (code >= 0) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        len = 2;
    }
    if (reason) {
        memcpy(p + len, reason, strlen(reason));
        len += strlen(reason);
    }
    *n = masked_frame(f, 0x88, p, len);
}

static void test_close_codes(void **state)
{
    (void)state;
    static const int invalid[] = { 0,    999,  1004, 1005, 1006, 1015,
                                   1016, 1100, 2000, 2999, 5000, 65535 };
    uint8_t f[200];
    size_t n;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        close_frame(f, &n, invalid[i], NULL);
        expect_fail(f, n, 1002);
        assert_false(fl_ws_close_code_valid(invalid[i]));
    }
    /* One-byte payload. */
    expect_fail(f, masked_frame(f, 0x88, "\x03", 1), 1002);
    /* Reason not UTF-8. */
    close_frame(f, &n, 1000, "\xff");
    expect_fail(f, n, 1007);
    static const int valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                 1010, 1011, 3000, 3999, 4000, 4999 };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        fl_ws *ws = make(FL_WS_SERVER, 0);
        close_frame(f, &n, valid[i], "bye");
        feed(ws, f, n);
        fl_ws_event ev;
        assert_int_equal(next(ws, &ev), 0);
        assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
        assert_false(ev.local);
        assert_int_equal(ev.code, valid[i]);
        assert_string_equal(ev.reason, "bye");
        assert_int_equal(ev.reason_len, 3);
        uint8_t echo[] = { 0x88, 5, (uint8_t)(valid[i] >> 8), (uint8_t)valid[i], 'b', 'y', 'e' };
        assert_out(ws, echo, sizeof(echo));
        assert_int_equal(fl_ws_get_state(ws), FL_WS_CLOSED);
        fl_ws_destroy(ws);
    }
}

static void test_close_handshake(void **state)
{
    (void)state;
    uint8_t f[64];
    size_t n;
    fl_ws_event ev;
    /* Empty close: reported as 1005, echoed empty. */
    fl_ws *ws = make(FL_WS_SERVER, 0);
    close_frame(f, &n, -1, NULL);
    feed(ws, f, n);
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, FL_WS_CLOSE_NO_STATUS);
    assert_int_equal(ev.reason_len, 0);
    assert_out(ws, (const uint8_t[]){ 0x88, 0x00 }, 2);
    assert_int_equal(next(ws, &ev), FL_EAGAIN);
    fl_ws_destroy(ws);
    /* We close first; data still arrives; the peer's reply ends it. */
    ws = make(FL_WS_SERVER, 0);
    assert_int_equal(fl_ws_send_close(ws, 1002, "Invalid path"), 0);
    assert_int_equal(fl_ws_get_state(ws), FL_WS_CLOSING);
    const uint8_t expect[] = { 0x88, 14,  0x03, 0xea, 'I', 'n', 'v', 'a',
                               'l',  'i', 'd',  ' ',  'p', 'a', 't', 'h' };
    assert_out(ws, expect, sizeof(expect));
    assert_int_equal(fl_ws_send_text(ws, "x", 1), FL_ECLOSED);
    assert_int_equal(fl_ws_send_close(ws, 1000, NULL), FL_ECLOSED);
    n = masked_frame(f, 0x89, "p", 1);
    feed(ws, f, n);
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_PING);
    close_frame(f, &n, 1002, NULL);
    feed(ws, f, n);
    assert_int_equal(next(ws, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(ev.code, 1002);
    assert_false(ev.local);
    assert_int_equal(fl_ws_get_state(ws), FL_WS_CLOSED);
    assert_int_equal(fl_ws_pending(ws), 0); /* no pong, no second close */
    fl_ws_destroy(ws);
}

static void test_send_api(void **state)
{
    (void)state;
    fl_ws *ws = make(FL_WS_SERVER, 0);
    uint8_t big[200];
    memset(big, 'a', sizeof(big));
    assert_int_equal(fl_ws_send_ping(ws, big, 126), FL_EINVAL);
    assert_int_equal(fl_ws_send_ping(ws, big, 125), 0);
    assert_int_equal(fl_ws_send_text(ws, "\xc0\x80", 2), FL_EINVAL);
    assert_int_equal(fl_ws_send_close(ws, 1005, NULL), FL_EINVAL);
    assert_int_equal(fl_ws_send_close(ws, 999, NULL), FL_EINVAL);
    fl_bytes out;
    fl_bytes_init(&out);
    drain(ws, &out);
    assert_int_equal(out.len, 127);
    fl_bytes_clear(&out);
    /* A long reason is cut to 123 bytes on a character boundary. */
    char reason[200];
    memset(reason, 'r', 122);
    strcpy(reason + 122, "\xc3\xa9tail");
    assert_int_equal(fl_ws_send_close(ws, 1000, reason), 0);
    drain(ws, &out);
    assert_int_equal(out.len, 2 + 2 + 122);
    assert_int_equal(out.data[1], 124);
    fl_bytes_deinit(&out);
    fl_ws_destroy(ws);
    /* Client to server and back, through both parsers. */
    fl_ws *client = make(FL_WS_CLIENT, 0);
    fl_ws *server = make(FL_WS_SERVER, 0);
    assert_int_equal(fl_ws_send_close(client, 0, NULL), 0);
    fl_bytes_init(&out);
    drain(client, &out);
    feed(server, out.data, out.len);
    fl_ws_event ev;
    assert_int_equal(next(server, &ev), 0);
    assert_int_equal(ev.code, FL_WS_CLOSE_NO_STATUS);
    fl_bytes_clear(&out);
    drain(server, &out);
    feed(client, out.data, out.len);
    assert_int_equal(next(client, &ev), 0);
    assert_int_equal(ev.type, FL_WS_EVENT_CLOSE);
    assert_int_equal(fl_ws_get_state(client), FL_WS_CLOSED);
    fl_bytes_deinit(&out);
    fl_ws_destroy(client);
    fl_ws_destroy(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_server_handshake_rfc),
        cmocka_unit_test(test_server_handshake_errors),
        cmocka_unit_test(test_client_handshake),
        cmocka_unit_test(test_rfc_examples_parse),
        cmocka_unit_test(test_rfc_examples_write),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_input_held),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_frame_errors),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_utf8_frames),
        cmocka_unit_test(test_utf8_validator),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_handshake),
        cmocka_unit_test(test_send_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
