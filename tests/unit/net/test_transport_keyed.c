/* net/transport without DTLS: SRTP keyed from SDP (SDES, RFC 4568) for the
 * AES-128 and AES-256 profiles and plain RTP, two transports back to back
 * in memory: media and RTCP both ways, RTT, wrong keys, DTLS records and
 * media at the wrong time dropped and counted, configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "net/rtcp.h"
#include "net/srtp.h"
#include "net/transport.h"

#include <cmocka.h>

#define T0       ((fl_time)1000 * FL_TIME_SEC)
#define HEADROOM 32
#define BUF_SIZE 1600
#define SSRC_A   0x11111111u
#define SSRC_B   0x22222222u

static fl_buf_pool *pool;

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    return fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 64, 0);
}

static int teardown(void **state)
{
    (void)state;
    fl_buf_pool_destroy(pool);
    return 0;
}

static void assert_pool_empty(void)
{
    fl_buf_pool_stats ps;
    fl_buf_pool_get_stats(pool, &ps);
    assert_int_equal(ps.in_use, 0);
}

typedef struct side {
    fl_transport *t;
    bool connected;
    fl_dtls_srtp_profile profile;
    uint32_t peer_ssrc;
    size_t rtp_ok, rtp_bad_payload, rtcp;
} side;

typedef struct pair {
    side a, b;
    fl_time now;
    size_t last_wire_len; /* of the last datagram moved */
    uint8_t last_wire[BUF_SIZE];
} pair;

/* key||salt of one side, from a seed. */
static void master(uint8_t seed, uint8_t out[48])
{
    for (int i = 0; i < 48; i++)
        out[i] = (uint8_t)(seed * 31 + i * 7);
}

static fl_transport_config config(fl_transport_mode mode,
                                  fl_srtp_profile profile,
                                  const uint8_t *local,
                                  const uint8_t *remote)
{
    fl_transport_config c = { 0 };
    c.mode = mode;
    c.pool = pool;
    c.sdes_profile = profile;
    c.sdes_local_key = local;
    c.sdes_remote_key = remote;
    c.clock_rates[0] = (fl_transport_clock_rate){ 96, 90000 };
    c.n_clock_rates = 1;
    return c;
}

/* Two transports; b receives with b_remote (a's key unless a test says). */
static void make_pair(pair *p,
                      fl_transport_mode mode,
                      fl_srtp_profile profile,
                      uint8_t b_remote_seed)
{
    memset(p, 0, sizeof(*p));
    p->now = T0;
    uint8_t ka[48], kb[48], kb_remote[48];
    master(1, ka);
    master(2, kb);
    master(b_remote_seed, kb_remote);
    fl_transport_config ca = config(mode, profile, ka, kb);
    fl_transport_config cb = config(mode, profile, kb, kb_remote);
    assert_int_equal(fl_transport_create(&p->a.t, &ca), 0);
    assert_int_equal(fl_transport_create(&p->b.t, &cb), 0);
    /* the keys were copied: wiping ours changes nothing */
    memset(ka, 0, sizeof(ka));
    memset(kb, 0, sizeof(kb));
    memset(kb_remote, 0, sizeof(kb_remote));
    p->a.peer_ssrc = SSRC_B;
    p->b.peer_ssrc = SSRC_A;
}

static void free_pair(pair *p)
{
    fl_transport_destroy(p->a.t);
    fl_transport_destroy(p->b.t);
    assert_pool_empty();
}

static size_t payload_for(uint16_t seq, uint8_t *out)
{
    size_t n = 20 + seq % 200;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(seq * 7 + i * 13);
    return n;
}

static void take_events(side *s)
{
    fl_transport_event ev;
    while (fl_transport_poll_event(s->t, &ev) == 0) {
        if (ev.type == FL_TRANSPORT_EVENT_CONNECTED) {
            s->connected = true;
            s->profile = ev.profile;
        } else if (ev.type == FL_TRANSPORT_EVENT_RTP) {
            uint8_t want[256];
            size_t n = payload_for(ev.rtp.seq, want);
            if (ev.rtp.ssrc == s->peer_ssrc && ev.rtp.payload_len == n &&
                memcmp(ev.rtp.payload, want, n) == 0 && ev.rtp.payload_type == 96)
                s->rtp_ok++;
            else
                s->rtp_bad_payload++;
        } else if (ev.type == FL_TRANSPORT_EVENT_RTCP) {
            s->rtcp++;
        } else {
            fail_msg("unexpected event %d", ev.type);
        }
        fl_transport_event_release(&ev);
    }
}

/* Moves every queued datagram from x to y; the last one's bytes are kept. */
static size_t flow(pair *p, side *x, side *y)
{
    fl_buf *g;
    size_t n = 0;
    while (fl_transport_poll_transmit(x->t, &g) == 0) {
        n++;
        p->last_wire_len = g->len;
        memcpy(p->last_wire, fl_buf_data(g), g->len);
        fl_transport_handle_input(y->t, p->now, g);
    }
    take_events(x);
    take_events(y);
    return n;
}

static fl_buf *make_rtp(uint32_t ssrc, uint16_t seq, uint8_t *copy, size_t *copy_len)
{
    uint8_t payload[256];
    size_t n = payload_for(seq, payload);
    fl_rtp_header h = { 0 };
    h.payload_type = 96;
    h.seq = seq;
    h.timestamp = 3000u * seq;
    h.ssrc = ssrc;
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    size_t len = 0;
    assert_int_equal(fl_rtp_write(fl_buf_data(b), BUF_SIZE - 64, &h, payload, n, 0, &len), 0);
    b->len = (uint32_t)len;
    if (copy) {
        memcpy(copy, fl_buf_data(b), len);
        *copy_len = len;
    }
    return b;
}

static void start_pair(pair *p, fl_dtls_srtp_profile want)
{
    assert_int_equal(fl_transport_get_state(p->a.t), FL_DTLS_STATE_NEW);
    assert_int_equal(fl_transport_start(p->a.t, p->now), 0);
    assert_int_equal(fl_transport_start(p->b.t, p->now), 0);
    assert_int_equal(fl_transport_start(p->a.t, p->now), FL_ESTATE);
    take_events(&p->a);
    take_events(&p->b);
    assert_true(p->a.connected);
    assert_true(p->b.connected);
    assert_int_equal(p->a.profile, want);
    assert_int_equal(fl_transport_get_state(p->a.t), FL_DTLS_STATE_CONNECTED);
    assert_int_equal(fl_transport_poll_timeout(p->a.t), FL_TIME_NEVER);
    assert_int_equal(fl_transport_handle_timeout(p->a.t, p->now), 0);
    fl_buf *g;
    assert_int_equal(fl_transport_poll_transmit(p->a.t, &g), FL_EAGAIN); /* no handshake */
}

/* 100 packets each way, an SR and the RR answering it (RTT), the bytes on
 * the wire protected by `trailer` (0: in the clear). */
static void media_both_ways(fl_transport_mode mode, fl_srtp_profile profile, size_t trailer)
{
    pair p;
    make_pair(&p, mode, profile, 1);
    start_pair(&p, mode == FL_TRANSPORT_SDES ? (fl_dtls_srtp_profile)profile : FL_DTLS_SRTP_NONE);
    uint8_t sent[BUF_SIZE];
    size_t sent_len = 0;
    for (uint16_t i = 0; i < 100; i++) {
        fl_buf *b = make_rtp(SSRC_A, (uint16_t)(7 + i), sent, &sent_len);
        assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), 0);
        flow(&p, &p.a, &p.b);
        assert_int_equal(p.last_wire_len, sent_len + trailer);
        if (trailer)
            assert_memory_not_equal(p.last_wire + 12, sent + 12, sent_len - 12);
        else
            assert_memory_equal(p.last_wire, sent, sent_len);
        b = make_rtp(SSRC_B, (uint16_t)(65500 + i), NULL, NULL); /* wraps */
        assert_int_equal(fl_transport_send_rtp(p.b.t, p.now, b), 0);
        flow(&p, &p.b, &p.a);
        p.now += 10 * FL_TIME_MS;
    }
    assert_int_equal(p.a.rtp_ok, 100);
    assert_int_equal(p.b.rtp_ok, 100);
    assert_int_equal(p.a.rtp_bad_payload + p.b.rtp_bad_payload, 0);

    /* SR from a (20 ms on the way), b answers 10 ms later, 20 ms back */
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_sr(p.a.t, p.now, SSRC_A, 1234, 100, 5000, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.a.t, p.now, b), 0);
    p.now += 20 * FL_TIME_MS;
    flow(&p, &p.a, &p.b);
    assert_int_equal(p.b.rtcp, 1);
    p.now += 10 * FL_TIME_MS;
    b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_rr(p.b.t, p.now, SSRC_B, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.b.t, p.now, b), 0);
    p.now += 20 * FL_TIME_MS;
    flow(&p, &p.b, &p.a);
    assert_int_equal(p.a.rtcp, 1);

    fl_transport_stats st;
    fl_transport_get_stats(p.a.t, &st);
    assert_int_equal(st.dtls_state, FL_DTLS_STATE_CONNECTED);
    assert_int_equal(st.rtp_sent, 100);
    assert_int_equal(st.rtp_received, 100);
    assert_int_equal(st.rtcp_sent, 1);
    assert_int_equal(st.rtcp_received, 1);
    assert_int_equal(st.srtp_replay + st.srtp_auth + st.srtp_other + st.media_not_ready, 0);
    assert_int_equal(st.srtp_key_soft_limit, 0);
    assert_true(st.rtt_us >= 40 * FL_TIME_MS - 100 && st.rtt_us <= 40 * FL_TIME_MS + 100);
    fl_transport_get_stats(p.b.t, &st);
    assert_int_equal(st.n_inbound, 1);
    assert_int_equal(st.inbound[0].packets, 100);
    assert_int_equal(st.inbound[0].packets_lost, 0);
    assert_int_equal(st.inbound[0].sr_received, 1);

    /* closed: media refused both ways */
    assert_int_equal(fl_transport_close(p.a.t), 0);
    assert_int_equal(fl_transport_get_state(p.a.t), FL_DTLS_STATE_CLOSED);
    b = make_rtp(SSRC_A, 1, NULL, NULL);
    assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), FL_ESTATE);
    fl_buf_unref(b);
    b = make_rtp(SSRC_B, 200, NULL, NULL); /* after the 100 sent */
    assert_int_equal(fl_transport_send_rtp(p.b.t, p.now, b), 0);
    assert_int_equal(fl_transport_poll_transmit(p.b.t, &b), 0);
    assert_int_equal(fl_transport_handle_input(p.a.t, p.now, b), FL_ESTATE);
    free_pair(&p);
}

static void test_sdes_aes128_80(void **state)
{
    (void)state;
    media_both_ways(FL_TRANSPORT_SDES, FL_SRTP_AES128_CM_HMAC_SHA1_80, 10);
}

static void test_sdes_aes128_32(void **state)
{
    (void)state;
    media_both_ways(FL_TRANSPORT_SDES, FL_SRTP_AES128_CM_HMAC_SHA1_32, 4);
}

static void test_sdes_aes256_80(void **state)
{
    (void)state;
    media_both_ways(FL_TRANSPORT_SDES, FL_SRTP_AES256_CM_HMAC_SHA1_80, 10);
}

static void test_sdes_aes256_32(void **state)
{
    (void)state;
    media_both_ways(FL_TRANSPORT_SDES, FL_SRTP_AES256_CM_HMAC_SHA1_32, 4);
}

static void test_plain(void **state)
{
    (void)state;
    media_both_ways(FL_TRANSPORT_PLAIN, 0, 0);

    /* plain needs no tailroom: a packet filling its buffer goes as it is */
    pair p;
    make_pair(&p, FL_TRANSPORT_PLAIN, 0, 1);
    start_pair(&p, FL_DTLS_SRTP_NONE);
    fl_buf *b = make_rtp(SSRC_A, 5, NULL, NULL);
    size_t room = fl_buf_tailroom(b);
    memset(fl_buf_data(b) + b->len, 0, room);
    b->len += (uint32_t)room;
    assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), 0);
    assert_int_equal(flow(&p, &p.a, &p.b), 1);
    assert_int_equal(p.b.rtp_bad_payload, 1); /* padded payload: not the one we wrote */
    free_pair(&p);
}

/* The receiver holds another key: every packet fails authentication, is
 * counted and never delivered. */
static void test_sdes_wrong_key(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, FL_TRANSPORT_SDES, FL_SRTP_AES256_CM_HMAC_SHA1_80, 9);
    start_pair(&p, (fl_dtls_srtp_profile)FL_SRTP_AES256_CM_HMAC_SHA1_80);
    for (uint16_t i = 0; i < 10; i++) {
        fl_buf *b = make_rtp(SSRC_A, i, NULL, NULL);
        assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), 0);
        assert_int_equal(fl_transport_poll_transmit(p.a.t, &b), 0);
        assert_int_equal(fl_transport_handle_input(p.b.t, p.now, b), FL_EAUTH);
    }
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_rr(p.a.t, p.now, SSRC_A, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.a.t, p.now, b), 0);
    flow(&p, &p.a, &p.b);
    take_events(&p.b);
    assert_int_equal(p.b.rtp_ok + p.b.rtp_bad_payload + p.b.rtcp, 0);
    fl_transport_stats st;
    fl_transport_get_stats(p.b.t, &st);
    assert_int_equal(st.srtp_auth, 11);
    assert_int_equal(st.rtp_received + st.rtcp_received, 0);
    assert_int_equal(st.n_inbound, 0);
    /* the other way the keys agree */
    b = make_rtp(SSRC_B, 1, NULL, NULL);
    assert_int_equal(fl_transport_send_rtp(p.b.t, p.now, b), 0);
    flow(&p, &p.b, &p.a);
    assert_int_equal(p.a.rtp_ok, 1);
    free_pair(&p);
}

/* DTLS records are dropped (unknown); media before start is not ready; a
 * fingerprint has no use. */
static void test_keyed_drops(void **state)
{
    (void)state;
    fl_transport_mode modes[] = { FL_TRANSPORT_PLAIN, FL_TRANSPORT_SDES };
    for (int m = 0; m < 2; m++) {
        pair p;
        make_pair(&p, modes[m], FL_SRTP_AES128_CM_HMAC_SHA1_80, 1);
        fl_buf *b = make_rtp(SSRC_A, 1, NULL, NULL);
        assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), FL_ESTATE);
        fl_buf_unref(b);
        b = make_rtp(SSRC_A, 1, NULL, NULL);
        assert_int_equal(fl_transport_handle_input(p.b.t, p.now, b), FL_ESTATE);
        assert_int_equal(fl_transport_set_remote_fingerprint(p.a.t, "sha-256 00:11"), FL_ESTATE);
        start_pair(&p, modes[m] == FL_TRANSPORT_SDES
                               ? (fl_dtls_srtp_profile)FL_SRTP_AES128_CM_HMAC_SHA1_80
                               : FL_DTLS_SRTP_NONE);
        static const uint8_t hello[] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
        b = fl_buf_pool_get(pool);
        memcpy(fl_buf_data(b), hello, sizeof(hello));
        b->len = sizeof(hello);
        assert_int_equal(fl_transport_handle_input(p.a.t, p.now, b), FL_ENOTSUP);
        fl_transport_stats st;
        fl_transport_get_stats(p.a.t, &st);
        assert_int_equal(st.unknown, 1);
        assert_int_equal(st.dtls_dropped, 0);
        assert_int_equal(st.dtls_state, FL_DTLS_STATE_CONNECTED);
        fl_transport_get_stats(p.b.t, &st);
        assert_int_equal(st.media_not_ready, 1);
        /* and after that, media flows */
        b = make_rtp(SSRC_A, 2, NULL, NULL);
        assert_int_equal(fl_transport_send_rtp(p.a.t, p.now, b), 0);
        flow(&p, &p.a, &p.b);
        assert_int_equal(p.b.rtp_ok, 1);
        free_pair(&p);
    }
}

static void test_keyed_config(void **state)
{
    (void)state;
    uint8_t k[48];
    master(3, k);
    fl_transport *t = NULL;
    fl_transport_config c = config(FL_TRANSPORT_SDES, FL_SRTP_AES256_CM_HMAC_SHA1_32, k, NULL);
    assert_int_equal(fl_transport_create(&t, &c), FL_EINVAL);
    c = config(FL_TRANSPORT_SDES, FL_SRTP_AES256_CM_HMAC_SHA1_32, NULL, k);
    assert_int_equal(fl_transport_create(&t, &c), FL_EINVAL);
    c = config(FL_TRANSPORT_SDES, (fl_srtp_profile)0x0005, k, k);
    assert_int_equal(fl_transport_create(&t, &c), FL_EINVAL);
    c = config(FL_TRANSPORT_SDES, FL_SRTP_AEAD_AES_128_GCM, k, k); /* works, 12-byte salt */
    assert_int_equal(fl_transport_create(&t, &c), 0);
    fl_transport_destroy(t);
    c = config((fl_transport_mode)7, 0, NULL, NULL);
    assert_int_equal(fl_transport_create(&t, &c), FL_EINVAL);
    c = config(FL_TRANSPORT_PLAIN, 0, NULL, NULL);
    c.pool = NULL;
    assert_int_equal(fl_transport_create(&t, &c), FL_EINVAL);
    assert_null(t);
    /* no certificate needed without DTLS */
    c = config(FL_TRANSPORT_PLAIN, 0, NULL, NULL);
    assert_int_equal(fl_transport_create(&t, &c), 0);
    fl_transport_stats st;
    fl_transport_get_stats(t, &st);
    assert_int_equal(st.dtls_state, FL_DTLS_STATE_NEW);
    assert_int_equal(st.profile, FL_DTLS_SRTP_NONE);
    fl_transport_destroy(t);
    assert_pool_empty();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdes_aes128_80), cmocka_unit_test(test_sdes_aes128_32),
        cmocka_unit_test(test_sdes_aes256_80), cmocka_unit_test(test_sdes_aes256_32),
        cmocka_unit_test(test_plain),          cmocka_unit_test(test_sdes_wrong_key),
        cmocka_unit_test(test_keyed_drops),    cmocka_unit_test(test_keyed_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
