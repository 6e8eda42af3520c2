/* net/rtsp: the stream reader over responses, server requests and
 * interleaved frames in every split, the writers (read back), Transport,
 * Session and RTP-Info values, URLs and SDP control attributes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtsp.h"

#include <cmocka.h>

/* What gst-rtsp-server sent to a DESCRIBE (SDP cut short), then a
 * server's GET_PARAMETER, two frames and a stray CRLF. */
static const char describe_resp[] = "RTSP/1.0 200 OK\r\n"
                                    "CSeq: 2\r\n"
                                    "Content-Type: application/sdp\r\n"
                                    "Content-Base: rtsp://127.0.0.1:8554/test/\r\n"
                                    "Content-Length: 40\r\n"
                                    "\r\n"
                                    "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:s0\r\n";
static const char server_req[] = "GET_PARAMETER rtsp://127.0.0.1:8554/test/ RTSP/1.0\r\n"
                                 "CSeq: 7\r\n"
                                 "\r\n";

static fl_rtsp_reader rd;

typedef struct seen {
    int kinds[8];
    int n;
    char body[128];
    uint8_t channels[8];
    size_t lens[8];
    uint8_t first[8];
} seen;

/* Feeds the whole stream in chunks of `split` bytes. */
static void feed(const uint8_t *data, size_t len, size_t split, seen *s)
{
    fl_rtsp_reader_init(&rd);
    memset(s, 0, sizeof *s);
    for (size_t off = 0; off < len;) {
        size_t n = len - off < split ? len - off : split;
        size_t done = 0;
        while (done < n) {
            size_t used;
            fl_rtsp_item it;
            int rc = fl_rtsp_reader_read(&rd, data + off + done, n - done, &used, &it);
            assert_true(rc >= 0);
            assert_true(used <= n - done);
            done += used;
            if (rc == 1) {
                assert_true(s->n < 8);
                s->kinds[s->n] = (int)it.kind;
                if (it.kind == FL_RTSP_ITEM_FRAME) {
                    s->channels[s->n] = it.channel;
                    s->lens[s->n] = it.len;
                    s->first[s->n] = it.len ? it.data[0] : 0;
                } else if (it.kind == FL_RTSP_ITEM_RESPONSE) {
                    assert_int_equal(it.head->status, 200);
                    assert_true(it.head->rtsp);
                    assert_string_equal(fl_http_head_get(it.head, "CSeq"), "2");
                    assert_int_equal(it.body_len, 40);
                    memcpy(s->body, it.body, it.body_len);
                } else {
                    assert_string_equal(it.head->method, "GET_PARAMETER");
                    assert_null(it.body);
                }
                s->n++;
            } else {
                assert_int_equal(done, n);
            }
        }
        off += n;
    }
}

static void test_reader_splits(void **state)
{
    (void)state;
    uint8_t stream[1024];
    size_t len = 0;
    memcpy(stream + len, describe_resp, strlen(describe_resp));
    len += strlen(describe_resp);
    uint8_t f1[4 + 300];
    assert_int_equal(fl_rtsp_frame_header_write(f1, 0, 300), 0);
    memset(f1 + 4, 0x80, 300);
    memcpy(stream + len, f1, sizeof f1);
    len += sizeof f1;
    memcpy(stream + len, server_req, strlen(server_req));
    len += strlen(server_req);
    memcpy(stream + len, "\r\n$\x01\x00\x02\x81\xc9", 8);
    len += 8;
    static const size_t splits[] = { 1, 2, 3, 5, 7, 64, 1024 };
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        seen s;
        feed(stream, len, splits[i], &s);
        assert_int_equal(s.n, 4);
        assert_int_equal(s.kinds[0], FL_RTSP_ITEM_RESPONSE);
        assert_memory_equal(s.body, "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:s0\r\n", 40);
        assert_int_equal(s.kinds[1], FL_RTSP_ITEM_FRAME);
        assert_int_equal(s.channels[1], 0);
        assert_int_equal(s.lens[1], 300);
        assert_int_equal(s.first[1], 0x80);
        assert_int_equal(s.kinds[2], FL_RTSP_ITEM_REQUEST);
        assert_int_equal(s.kinds[3], FL_RTSP_ITEM_FRAME);
        assert_int_equal(s.channels[3], 1);
        assert_int_equal(s.lens[3], 2);
        assert_int_equal(s.first[3], 0x81);
    }
}

static int read_all(const char *text)
{
    fl_rtsp_reader_init(&rd);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        size_t used;
        fl_rtsp_item it;
        int rc = fl_rtsp_reader_read(&rd, (const uint8_t *)text + off, len - off, &used, &it);
        if (rc < 0)
            return rc;
        off += used;
    }
    return 0;
}

static void test_reader_errors(void **state)
{
    (void)state;
    assert_int_equal(read_all("RTSP/1.0 200 OK\r\nContent-Length: x\r\n\r\n"), FL_EBADMSG);
    assert_int_equal(read_all("RTSP/1.0 200 OK\r\nContent-Length: 70000\r\n\r\n"), FL_EMSGSIZE);
    assert_int_equal(read_all("RTSP/1.0 200 OK\nBad\r\n\r\n"), FL_EBADMSG);
    assert_int_equal(read_all("RTSX 200\r\n\r\n"), FL_EBADMSG);
    /* the error sticks */
    size_t used;
    fl_rtsp_item it;
    assert_int_equal(fl_rtsp_reader_read(&rd, (const uint8_t *)"$", 1, &used, &it), FL_EBADMSG);
    assert_int_equal(used, 0);
    /* a zero-length frame is an item */
    fl_rtsp_reader_init(&rd);
    assert_int_equal(fl_rtsp_reader_read(&rd, (const uint8_t *)"$\x05\x00\x00", 4, &used, &it), 1);
    assert_int_equal(it.kind, FL_RTSP_ITEM_FRAME);
    assert_int_equal(it.channel, 5);
    assert_int_equal(it.len, 0);
    uint8_t h[4];
    assert_int_equal(fl_rtsp_frame_header_write(h, 0, 65536), FL_EMSGSIZE);
}

static void test_writers(void **state)
{
    (void)state;
    fl_bytes b;
    fl_bytes_init(&b);
    fl_http_header hs[] = { { "Accept", "application/sdp" }, { "Session", "abc" } };
    assert_int_equal(fl_rtsp_request_write(&b, "DESCRIBE", "rtsp://h/x", 3, hs, 2), 0);
    const char *want = "DESCRIBE rtsp://h/x RTSP/1.0\r\nCSeq: 3\r\nAccept: application/sdp\r\n"
                       "Session: abc\r\n\r\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* reads back as a request */
    fl_http_head *h = malloc(sizeof *h);
    fl_http_head_init(h, FL_HTTP_REQUEST);
    size_t used;
    assert_int_equal(fl_http_head_parse(h, b.data, b.len, &used), 0);
    assert_string_equal(h->method, "DESCRIBE");
    assert_true(h->rtsp);
    assert_string_equal(fl_http_head_get(h, "Session"), "abc");
    free(h);
    fl_bytes_clear(&b);
    assert_int_equal(fl_rtsp_request_write(&b, "DESCRIBE", "rtsp://h/x y", 3, NULL, 0), FL_EINVAL);
    fl_http_header bad = { "X", "a\r\nb" };
    assert_int_equal(fl_rtsp_request_write(&b, "OPTIONS", "*", 1, &bad, 1), FL_EINVAL);
    assert_int_equal(fl_rtsp_response_write(&b, 200, "7"), 0);
    assert_int_equal(b.len, strlen("RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n"));
    assert_memory_equal(b.data, "RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n", b.len);
    assert_int_equal(fl_rtsp_response_write(&b, 99, "7"), FL_EINVAL);
    fl_bytes_deinit(&b);
}

static void test_transport(void **state)
{
    (void)state;
    fl_rtsp_transport t;
    assert_int_equal(fl_rtsp_transport_parse(&t,
                                             "RTP/AVP;unicast;client_port=5000-5001;"
                                             "server_port=6970-6971;ssrc=1A2b3C4d;mode=\"PLAY\""),
                     0);
    assert_false(t.tcp);
    assert_false(t.multicast);
    assert_int_equal(t.client_port[0], 5000);
    assert_int_equal(t.client_port[1], 5001);
    assert_int_equal(t.server_port[0], 6970);
    assert_int_equal(t.server_port[1], 6971);
    assert_int_equal(t.interleaved[0], -1);
    assert_true(t.has_ssrc);
    assert_int_equal(t.ssrc, 0x1a2b3c4d);
    char out[256];
    long n = fl_rtsp_transport_write(out, sizeof out, &t);
    assert_int_equal(n, (long)strlen(out));
    assert_string_equal(
            out, "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D");
    fl_rtsp_transport again;
    assert_int_equal(fl_rtsp_transport_parse(&again, out), 0);
    assert_memory_equal(&again, &t, sizeof t);
    assert_int_equal(fl_rtsp_transport_write(out, 20, &t), FL_EMSGSIZE);

    assert_int_equal(
            fl_rtsp_transport_parse(&t, "RTP/AVP/TCP;unicast;interleaved=4, RTP/AVP;unicast"), 0);
    assert_true(t.tcp);
    assert_int_equal(t.interleaved[0], 4);
    assert_int_equal(t.interleaved[1], 5);
    assert_int_equal(t.client_port[0], -1);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;unicast;source=10.0.0.9;client_port=7"),
                     0);
    assert_string_equal(t.source, "10.0.0.9");
    assert_int_equal(t.client_port[1], 8);

    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/SAVP;unicast"), FL_ENOTSUP);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;client_port=70000"), FL_EBADMSG);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP/TCP;interleaved=256-257"), FL_EBADMSG);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;ssrc=123456789"), FL_EBADMSG);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;client_port=-"), FL_EBADMSG);
    /* the largest number strtol gives: refused before it is stepped (the
     * fuzzer's find: a + 1 overflowed) */
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;client_port=9223372036854775807"),
                     FL_EBADMSG);
    assert_int_equal(fl_rtsp_transport_parse(&t, "RTP/AVP;client_port=99999999999999999999-1"),
                     FL_EBADMSG);
}

static void test_session_rtp_info(void **state)
{
    (void)state;
    char id[32];
    unsigned to;
    assert_int_equal(fl_rtsp_session_parse("xcXcHpGN0Kqqf2V_;timeout=60", id, sizeof id, &to), 0);
    assert_string_equal(id, "xcXcHpGN0Kqqf2V_");
    assert_int_equal(to, 60);
    assert_int_equal(fl_rtsp_session_parse(" 12345678", id, sizeof id, &to), 0);
    assert_string_equal(id, "12345678");
    assert_int_equal(to, 60);
    assert_int_equal(fl_rtsp_session_parse("abc; timeout=20", id, sizeof id, &to), 0);
    assert_int_equal(to, 20);
    assert_int_equal(fl_rtsp_session_parse("abc;timeout=x", id, sizeof id, &to), FL_EBADMSG);
    assert_int_equal(fl_rtsp_session_parse("", id, sizeof id, &to), FL_EBADMSG);
    assert_int_equal(fl_rtsp_session_parse("0123456789abcdef0123456789abcdef", id, sizeof id, &to),
                     FL_EMSGSIZE);

    fl_rtsp_rtp_info e[3];
    size_t n;
    assert_int_equal(fl_rtsp_rtp_info_parse("url=rtsp://127.0.0.1:8554/test/stream=0;seq=16207;"
                                            "rtptime=2969848434, url=rtsp://127.0.0.1:8554/test/"
                                            "stream=1;seq=1,2;rtptime=7",
                                            e, 3, &n),
                     FL_EBADMSG); /* "1,2" is not a number */
    assert_int_equal(
            fl_rtsp_rtp_info_parse("url=rtsp://h/a,b/stream=0;seq=16207;rtptime=2969848434, "
                                   "url=stream=1;seq=1",
                                   e, 3, &n),
            0);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].url, "rtsp://h/a,b/stream=0");
    assert_true(e[0].has_seq);
    assert_int_equal(e[0].seq, 16207);
    assert_int_equal(e[0].rtptime, 2969848434u);
    assert_string_equal(e[1].url, "stream=1");
    assert_false(e[1].has_rtptime);
    assert_int_equal(fl_rtsp_rtp_info_parse("url=a, url=b", e, 1, &n), FL_EMSGSIZE);
    assert_int_equal(fl_rtsp_rtp_info_parse("seq=1", e, 3, &n), FL_EBADMSG);
    assert_int_equal(fl_rtsp_rtp_info_parse("url=a;seq=65536", e, 3, &n), FL_EBADMSG);
}

static void test_urls(void **state)
{
    (void)state;
    fl_rtsp_url u;
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp://user:p%40ss@cam.local:8554/live/main?x=1"), 0);
    assert_false(u.tcp);
    assert_true(u.has_credentials);
    assert_string_equal(u.user, "user");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "cam.local");
    assert_int_equal(u.port, 8554);
    assert_string_equal(u.request, "rtsp://cam.local:8554/live/main?x=1");
    assert_int_equal(fl_rtsp_url_parse(&u, "rtspt://[::1]/x"), 0);
    assert_true(u.tcp);
    assert_false(u.has_credentials);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 554);
    assert_string_equal(u.request, "rtsp://[::1]/x");
    assert_int_equal(fl_rtsp_url_parse(&u, "RTSP://h"), 0);
    assert_string_equal(u.request, "rtsp://h/");
    assert_int_equal(fl_rtsp_url_parse(&u, "http://h/x"), FL_EINVAL);
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp:///x"), FL_EINVAL);
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp://h:0/x"), FL_EINVAL);
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp://h:65536/x"), FL_EINVAL);
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp://h/a b"), FL_EINVAL);
    assert_int_equal(fl_rtsp_url_parse(&u, "rtsp://u:%zz@h/"), FL_EINVAL);

    char out[128];
    assert_int_equal(fl_rtsp_url_resolve(out, sizeof out, "rtsp://h/test/", "stream=0"), 0);
    assert_string_equal(out, "rtsp://h/test/stream=0");
    assert_int_equal(fl_rtsp_url_resolve(out, sizeof out, "rtsp://h/test", "trackID=1"), 0);
    assert_string_equal(out, "rtsp://h/test/trackID=1");
    assert_int_equal(fl_rtsp_url_resolve(out, sizeof out, "rtsp://h/test", "*"), 0);
    assert_string_equal(out, "rtsp://h/test");
    assert_int_equal(fl_rtsp_url_resolve(out, sizeof out, "rtsp://h/t", "rtsp://o/v/track1"), 0);
    assert_string_equal(out, "rtsp://o/v/track1");
    assert_int_equal(fl_rtsp_url_resolve(out, 10, "rtsp://h/test", "trackID=1"), FL_EMSGSIZE);
}

static void test_sdp_controls(void **state)
{
    (void)state;
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\na=control:*\r\n"
                      "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"
                      "m=audio 0 RTP/AVP 0\r\n"
                      "m=audio 0 RTP/AVP 8\na=control: rtsp://h/abs\n";
    char session[64];
    char media[2][FL_RTSP_MAX_URL];
    size_t n;
    assert_int_equal(fl_rtsp_sdp_controls(sdp, strlen(sdp), session, sizeof session, media, 2, &n),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(session, "*");
    assert_string_equal(media[0], "stream=0");
    assert_string_equal(media[1], "");
    assert_int_equal(fl_rtsp_sdp_controls(sdp, strlen(sdp), session, 1, media, 2, &n), FL_EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_splits),    cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_writers),          cmocka_unit_test(test_transport),
        cmocka_unit_test(test_session_rtp_info), cmocka_unit_test(test_urls),
        cmocka_unit_test(test_sdp_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
