/* RFC 4571 framing: encode, then decode every split point, several frames
 * per input, partial headers, oversized and empty frames, and the
 * round trip back to the same bytes. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "ice/tcp_frame.h"

#define MAX_FRAMES 16

typedef struct collected {
    size_t n;
    size_t len[MAX_FRAMES];
    uint8_t data[MAX_FRAMES][600];
    int errors[MAX_FRAMES];
    size_t nerrors;
} collected;

/* Polls every frame out of the decoder into c. */
static void drain(fl_tcp_frame_decoder *d, collected *c)
{
    for (;;) {
        const uint8_t *f;
        size_t len;
        int rc = fl_tcp_frame_decoder_poll_frame(d, &f, &len);
        if (rc == FL_EAGAIN)
            return;
        if (rc < 0) {
            assert_true(c->nerrors < MAX_FRAMES);
            c->errors[c->nerrors++] = rc;
            continue;
        }
        assert_true(c->n < MAX_FRAMES);
        assert_true(len <= sizeof c->data[0]);
        memcpy(c->data[c->n], f, len);
        c->len[c->n++] = len;
    }
}

/* Feeds stream in pieces cut at the given points (ascending, inside len). */
static void feed_split(fl_tcp_frame_decoder *d,
                       const uint8_t *stream,
                       size_t len,
                       const size_t *cuts,
                       size_t ncuts,
                       collected *c)
{
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(fl_tcp_frame_decoder_handle_input(d, stream + at, end - at), 0);
        drain(d, c);
        at = end;
    }
}

/* Three frames of 1, 300 and 5 bytes in one stream. */
static size_t build_stream(uint8_t *out, size_t cap, const size_t *lens, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t payload[600];
        for (size_t j = 0; j < lens[i]; j++)
            payload[j] = (uint8_t)(i * 31 + j);
        size_t w;
        assert_int_equal(fl_tcp_frame_write(out + at, cap - at, payload, lens[i], &w), 0);
        assert_int_equal(w, lens[i] + 2);
        at += w;
    }
    return at;
}

static void check_frames(const collected *c, const size_t *lens, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c->len[i], lens[i]);
        for (size_t j = 0; j < lens[i]; j++)
            assert_int_equal(c->data[i][j], (uint8_t)(i * 31 + j));
    }
}

static void test_every_split_point(void **state)
{
    (void)state;
    static const size_t lens[] = { 1, 300, 5 };
    uint8_t stream[400];
    size_t len = build_stream(stream, sizeof stream, lens, 3);
    uint8_t scratch[512];
    for (size_t cut = 0; cut <= len; cut++) {
        fl_tcp_frame_decoder d;
        collected c = { 0 };
        fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
        feed_split(&d, stream, len, &cut, 1, &c);
        check_frames(&c, lens, 3);
        assert_int_equal(c.nerrors, 0);
        assert_int_equal(fl_tcp_frame_decoder_pending(&d), 0);
        assert_int_equal(d.frames, 3);
    }
}

/* Every pair of split points: three pieces, headers cut in every way. */
static void test_every_two_splits(void **state)
{
    (void)state;
    static const size_t lens[] = { 2, 40, 1, 7 };
    uint8_t stream[100];
    size_t len = build_stream(stream, sizeof stream, lens, 4);
    uint8_t scratch[64];
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            fl_tcp_frame_decoder d;
            collected c = { 0 };
            size_t cuts[2] = { a, b };
            fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
            feed_split(&d, stream, len, cuts, 2, &c);
            check_frames(&c, lens, 4);
        }
    }
}

/* One byte at a time: only the header bytes and the scratch copy. */
static void test_byte_by_byte(void **state)
{
    (void)state;
    static const size_t lens[] = { 3, 500, 1 };
    uint8_t stream[600];
    size_t len = build_stream(stream, sizeof stream, lens, 3);
    uint8_t scratch[512];
    fl_tcp_frame_decoder d;
    collected c = { 0 };
    fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, stream + i, 1), 0);
        drain(&d, &c);
        if (i == 0)
            assert_int_equal(fl_tcp_frame_decoder_pending(&d), 1);
    }
    check_frames(&c, lens, 3);
}

/* Frames whole in one input come back pointing into it: no copy. */
static void test_in_place(void **state)
{
    (void)state;
    static const size_t lens[] = { 10, 20 };
    uint8_t stream[64];
    size_t len = build_stream(stream, sizeof stream, lens, 2);
    uint8_t scratch[32];
    fl_tcp_frame_decoder d;
    fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
    assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, stream, len), 0);
    const uint8_t *f;
    size_t flen;
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &flen), 0);
    assert_ptr_equal(f, stream + 2);
    assert_int_equal(flen, 10);
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &flen), 0);
    assert_ptr_equal(f, stream + 14);
    assert_int_equal(flen, 20);
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &flen), FL_EAGAIN);
}

/* Input given while the last is not used up is refused. */
static void test_input_state(void **state)
{
    (void)state;
    uint8_t stream[] = { 0, 1, 'a', 0, 1, 'b' };
    uint8_t scratch[8];
    fl_tcp_frame_decoder d;
    fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
    assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, stream, sizeof stream), 0);
    const uint8_t *f;
    size_t len;
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &len), 0);
    assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, stream, 3), FL_ESTATE);
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &len), 0);
    assert_int_equal(f[0], 'b');
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &len), FL_EAGAIN);
    assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, NULL, 0), 0);
    assert_int_equal(fl_tcp_frame_decoder_poll_frame(&d, &f, &len), FL_EAGAIN);
}

/* An oversized frame is reported once and skipped in any split; an empty
 * frame is reported; the frames around them survive. */
static void test_oversized_and_empty(void **state)
{
    (void)state;
    uint8_t stream[2 + 3 + 2 + 100 + 2 + 2 + 3];
    size_t at = 0;
    stream[at++] = 0;
    stream[at++] = 3;
    memcpy(stream + at, "abc", 3);
    at += 3;
    stream[at++] = 0;
    stream[at++] = 100; /* over max (50) */
    memset(stream + at, 0xee, 100);
    at += 100;
    stream[at++] = 0;
    stream[at++] = 0; /* empty */
    stream[at++] = 0;
    stream[at++] = 1;
    stream[at++] = 'z';
    uint8_t scratch[50];
    for (size_t cut = 0; cut <= at; cut++) {
        fl_tcp_frame_decoder d;
        collected c = { 0 };
        fl_tcp_frame_decoder_init(&d, scratch, sizeof scratch);
        feed_split(&d, stream, at, &cut, 1, &c);
        assert_int_equal(c.n, 2);
        assert_memory_equal(c.data[0], "abc", 3);
        assert_int_equal(c.len[1], 1);
        assert_int_equal(c.data[1][0], 'z');
        assert_int_equal(c.nerrors, 2);
        assert_int_equal(c.errors[0], FL_EMSGSIZE);
        assert_int_equal(c.errors[1], FL_EBADMSG);
        assert_int_equal(d.oversized, 1);
        assert_int_equal(d.empty, 1);
    }
}

static void test_encoder(void **state)
{
    (void)state;
    uint8_t hdr[2];
    assert_int_equal(fl_tcp_frame_write_header(hdr, 65535), 0);
    assert_int_equal(hdr[0], 0xff);
    assert_int_equal(hdr[1], 0xff);
    assert_int_equal(fl_tcp_frame_write_header(hdr, 0x1234), 0);
    assert_int_equal(hdr[0], 0x12);
    assert_int_equal(hdr[1], 0x34);
    assert_int_equal(fl_tcp_frame_write_header(hdr, 65536), FL_EMSGSIZE);
    assert_int_equal(fl_tcp_frame_write_header(hdr, 0), FL_EINVAL);
    uint8_t out[8];
    size_t w = 0;
    assert_int_equal(fl_tcp_frame_write(out, sizeof out, (const uint8_t *)"abcdef", 6, &w), 0);
    assert_int_equal(w, 8);
    assert_memory_equal(out,
                        "\x00\x06"
                        "abcdef",
                        8);
    assert_int_equal(fl_tcp_frame_write(out, sizeof out, (const uint8_t *)"abcdefg", 7, &w),
                     FL_EMSGSIZE);
    /* in place: payload already at out, shifted right by the header */
    memcpy(out, "hello", 5);
    assert_int_equal(fl_tcp_frame_write(out, sizeof out, out, 5, &w), 0);
    assert_memory_equal(out,
                        "\x00\x05"
                        "hello",
                        7);
}

/* The largest frame, 65535 bytes, round-trips: encode, decode in pieces,
 * and the bytes match. */
static void test_max_frame_round_trip(void **state)
{
    (void)state;
    static uint8_t payload[FL_TCP_FRAME_MAX], stream[FL_TCP_FRAME_MAX + 2],
            scratch[FL_TCP_FRAME_MAX];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    size_t w;
    assert_int_equal(fl_tcp_frame_write(stream, sizeof stream, payload, sizeof payload, &w), 0);
    fl_tcp_frame_decoder d;
    fl_tcp_frame_decoder_init(&d, scratch, 1 << 20); /* clamped to 65535 */
    assert_int_equal(d.max, FL_TCP_FRAME_MAX);
    const uint8_t *f = NULL;
    size_t len = 0;
    int got = 0;
    for (size_t at = 0; at < w; at += 1000) {
        size_t n = w - at < 1000 ? w - at : 1000;
        assert_int_equal(fl_tcp_frame_decoder_handle_input(&d, stream + at, n), 0);
        while (fl_tcp_frame_decoder_poll_frame(&d, &f, &len) == 0)
            got++;
    }
    assert_int_equal(got, 1);
    assert_int_equal(len, sizeof payload);
    assert_memory_equal(f, payload, sizeof payload);
    uint8_t again[2];
    fl_tcp_frame_write_header(again, len);
    assert_memory_equal(again, stream, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point), cmocka_unit_test(test_every_two_splits),
        cmocka_unit_test(test_byte_by_byte),      cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_input_state),       cmocka_unit_test(test_oversized_and_empty),
        cmocka_unit_test(test_encoder),           cmocka_unit_test(test_max_frame_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
