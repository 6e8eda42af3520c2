/* net/transport: two transports back to back in memory with a virtual
 * clock: DTLS-SRTP handshake, SRTP/SRTCP both ways, statistics, drops. */
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
#include "net/cert.h"
#include "net/rtcp.h"
#include "net/srtp.h"
#include "net/transport.h"

#include <cmocka.h>

#define T0       ((fl_time)1000 * FL_TIME_SEC)
#define HEADROOM 32
#define BUF_SIZE 1600
#define SSRC_C   0x11111111u
#define SSRC_S   0x22222222u

static fl_rand rnd;
static fl_cert *cert_a, *cert_b, *cert_x;
static fl_buf_pool *pool;

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    fl_rand_seeded_init(&rnd, 11);
    if (fl_cert_generate(&cert_a, "alice", 1700000000, 30 * 86400, &rnd) != 0 ||
        fl_cert_generate(&cert_b, "bob", 1700000000, 30 * 86400, &rnd) != 0 ||
        fl_cert_generate(&cert_x, "mallory", 1700000000, 30 * 86400, &rnd) != 0)
        return -1;
    return fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 64, 0);
}

static int teardown(void **state)
{
    (void)state;
    fl_cert_destroy(cert_a);
    fl_cert_destroy(cert_b);
    fl_cert_destroy(cert_x);
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
    bool connected, failed, closed;
    int err;
    char reason[160];
    fl_dtls_srtp_profile profile;
    uint32_t peer_ssrc;
    size_t rtp_ok, rtp_bad_payload, rtcp;
    size_t last_rtcp_len;
} side;

typedef struct pair {
    side c, s;
    fl_time now;
} pair;

static void make_pair(pair *p, fl_dtls_srtp_profile profile, const char *c_expects)
{
    memset(p, 0, sizeof(*p));
    p->now = T0;
    fl_transport_config cc = { 0 };
    cc.cert = cert_a;
    cc.role = FL_DTLS_ROLE_CLIENT;
    cc.remote_fingerprint = c_expects;
    cc.rand = &rnd;
    cc.pool = pool;
    if (profile) {
        cc.profiles[0] = profile;
        cc.n_profiles = 1;
    }
    cc.clock_rates[0] = (fl_transport_clock_rate){ 96, 90000 };
    cc.n_clock_rates = 1;
    fl_transport_config sc = cc;
    sc.cert = cert_b;
    sc.role = FL_DTLS_ROLE_SERVER;
    sc.remote_fingerprint = fl_cert_fingerprint(cert_a);
    assert_int_equal(fl_transport_create(&p->c.t, &cc), 0);
    assert_int_equal(fl_transport_create(&p->s.t, &sc), 0);
    p->c.peer_ssrc = SSRC_S;
    p->s.peer_ssrc = SSRC_C;
}

static void free_pair(pair *p)
{
    fl_transport_destroy(p->c.t);
    fl_transport_destroy(p->s.t);
    assert_pool_empty();
}

/* Payload of packet seq: its length and bytes depend on seq. */
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
        switch (ev.type) {
        case FL_TRANSPORT_EVENT_CONNECTED:
            s->connected = true;
            s->profile = ev.profile;
            break;
        case FL_TRANSPORT_EVENT_FAILED:
            s->failed = true;
            s->err = ev.err;
            snprintf(s->reason, sizeof(s->reason), "%s", ev.reason);
            break;
        case FL_TRANSPORT_EVENT_CLOSED:
            s->closed = true;
            break;
        case FL_TRANSPORT_EVENT_RTP: {
            uint8_t want[256];
            size_t n = payload_for(ev.rtp.seq, want);
            assert_non_null(ev.buf);
            if (ev.rtp.ssrc == s->peer_ssrc && ev.rtp.payload_len == n &&
                memcmp(ev.rtp.payload, want, n) == 0 && ev.rtp.payload_type == 96)
                s->rtp_ok++;
            else
                s->rtp_bad_payload++;
            break;
        }
        case FL_TRANSPORT_EVENT_RTCP:
            s->rtcp++;
            s->last_rtcp_len = ev.buf->len;
            break;
        case FL_TRANSPORT_EVENT_DATA: /* not asked for (cfg.app_data) */
            s->rtp_bad_payload++;
            break;
        }
        fl_transport_event_release(&ev);
    }
}

/* Moves every queued datagram from a to b. */
static size_t flow(pair *p, side *a, side *b)
{
    fl_buf *g;
    size_t n = 0;
    while (fl_transport_poll_transmit(a->t, &g) == 0) {
        n++;
        fl_transport_handle_input(b->t, p->now, g);
    }
    take_events(a);
    take_events(b);
    return n;
}

static void run(pair *p, fl_time limit)
{
    fl_time end = p->now + limit;
    while (p->now < end) {
        size_t n = flow(p, &p->c, &p->s) + flow(p, &p->s, &p->c);
        if (n > 0)
            continue;
        fl_time tc = fl_transport_poll_timeout(p->c.t), ts = fl_transport_poll_timeout(p->s.t);
        fl_time t = tc < ts ? tc : ts;
        if (t == FL_TIME_NEVER)
            return;
        if (t > p->now)
            p->now = t;
        fl_transport_handle_timeout(p->c.t, p->now);
        fl_transport_handle_timeout(p->s.t, p->now);
    }
}

static fl_buf *make_rtp(uint32_t ssrc, uint16_t seq)
{
    uint8_t payload[256];
    size_t n = payload_for(seq, payload);
    fl_rtp_header h = { 0 };
    h.payload_type = 96;
    h.seq = seq;
    h.timestamp = 3000u * seq;
    h.ssrc = ssrc;
    h.marker = seq % 10 == 0;
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    size_t len = 0;
    assert_int_equal(fl_rtp_write(fl_buf_data(b), BUF_SIZE - 32, &h, payload, n, 0, &len), 0);
    b->len = (uint32_t)len;
    return b;
}

static void send_rtp(pair *p, side *s, uint32_t ssrc, uint16_t seq)
{
    fl_buf *b = make_rtp(ssrc, seq);
    assert_int_equal(fl_transport_send_rtp(s->t, p->now, b), 0);
}

static void connect_pair(pair *p, fl_dtls_srtp_profile profile)
{
    make_pair(p, profile, fl_cert_fingerprint(cert_b));
    assert_int_equal(fl_transport_start(p->c.t, p->now), 0);
    run(p, 10 * FL_TIME_SEC);
    assert_true(p->c.connected);
    assert_true(p->s.connected);
    assert_int_equal(p->c.profile, profile);
    assert_int_equal(p->s.profile, profile);
    assert_int_equal(fl_transport_get_state(p->c.t), FL_DTLS_STATE_CONNECTED);
}

static const fl_transport_inbound_stats *inbound(const fl_transport_stats *st, uint32_t ssrc)
{
    for (size_t i = 0; i < st->n_inbound; i++)
        if (st->inbound[i].ssrc == ssrc)
            return &st->inbound[i];
    fail_msg("no inbound stats for %08x", ssrc);
    return NULL;
}

static const fl_transport_outbound_stats *outbound(const fl_transport_stats *st, uint32_t ssrc)
{
    for (size_t i = 0; i < st->n_outbound; i++)
        if (st->outbound[i].ssrc == ssrc)
            return &st->outbound[i];
    fail_msg("no outbound stats for %08x", ssrc);
    return NULL;
}

static void media_both_ways(fl_dtls_srtp_profile profile)
{
    pair p;
    connect_pair(&p, profile);
    for (uint16_t i = 0; i < 200; i++) {
        send_rtp(&p, &p.c, SSRC_C, (uint16_t)(1000 + i));
        send_rtp(&p, &p.s, SSRC_S, (uint16_t)(65500 + i)); /* wraps */
        if (i % 7 == 0) {
            p.now += 20 * FL_TIME_MS;
            flow(&p, &p.c, &p.s);
            flow(&p, &p.s, &p.c);
        }
    }
    flow(&p, &p.c, &p.s);
    flow(&p, &p.s, &p.c);
    assert_int_equal(p.s.rtp_ok, 200);
    assert_int_equal(p.c.rtp_ok, 200);
    assert_int_equal(p.s.rtp_bad_payload + p.c.rtp_bad_payload, 0);

    /* RTCP: the client sends an SR that takes 20 ms to arrive; the server
     * answers 10 ms later with an RR whose block echoes it; 20 ms back. */
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_sr(p.c.t, p.now, SSRC_C, 1234, 200, 5000, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.c.t, p.now, b), 0);
    p.now += 20 * FL_TIME_MS;
    flow(&p, &p.c, &p.s);
    assert_int_equal(p.s.rtcp, 1);
    assert_int_equal(p.s.last_rtcp_len, 28 + 24); /* SR with one block */
    p.now += 10 * FL_TIME_MS;
    b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_sr(p.s.t, p.now, SSRC_S, 99, 200, 5000, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.s.t, p.now, b), 0);
    p.now += 20 * FL_TIME_MS;
    flow(&p, &p.s, &p.c);
    assert_int_equal(p.c.rtcp, 1);
    /* and a plain RR from the client, whose block echoes the server's SR */
    b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_rr(p.c.t, p.now, SSRC_C, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.c.t, p.now, b), 0);
    p.now += 5 * FL_TIME_MS;
    flow(&p, &p.c, &p.s);
    assert_int_equal(p.s.rtcp, 2);

    fl_transport_stats st;
    fl_transport_get_stats(p.c.t, &st);
    assert_int_equal(st.dtls_state, FL_DTLS_STATE_CONNECTED);
    assert_int_equal(st.role, FL_DTLS_ROLE_CLIENT);
    assert_int_equal(st.profile, profile);
    assert_int_equal(st.rtp_sent, 200);
    assert_int_equal(st.rtp_received, 200);
    assert_int_equal(st.rtcp_sent, 2);
    assert_int_equal(st.rtcp_received, 1);
    assert_int_equal(st.srtp_replay + st.srtp_auth + st.srtp_other + st.media_not_ready, 0);
    const fl_transport_outbound_stats *o = outbound(&st, SSRC_C);
    assert_int_equal(o->packets, 200);
    assert_int_equal(o->sr_sent, 1);
    /* 50 ms between SR and RR arrival, 10 ms held: 40 ms (DLSR in 1/65536 s) */
    assert_true(o->rtt_us >= 40 * FL_TIME_MS - 100 && o->rtt_us <= 40 * FL_TIME_MS + 100);
    assert_int_equal(st.rtt_us, o->rtt_us);
    assert_int_equal(o->remote_packets_lost, 0);
    const fl_transport_inbound_stats *in = inbound(&st, SSRC_S);
    assert_int_equal(in->packets, 200);
    assert_int_equal(in->packets_lost, 0);
    assert_int_equal(in->clock_rate, 90000);
    assert_int_equal(in->sr_received, 1);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < 200; i++)
        bytes += 20 + (uint16_t)(65500 + i) % 200;
    assert_int_equal(in->bytes, bytes);
    assert_int_equal(in->header_bytes, 200 * 12);

    fl_transport_get_stats(p.s.t, &st);
    assert_int_equal(st.rtp_received, 200);
    assert_int_equal(st.rtcp_received, 2);
    assert_int_equal(inbound(&st, SSRC_C)->packets_lost, 0);
    /* the server's SR: 20 ms there, answered at once, 5 ms back */
    o = outbound(&st, SSRC_S);
    assert_true(o->rtt_us >= 25 * FL_TIME_MS - 100 && o->rtt_us <= 25 * FL_TIME_MS + 100);

    /* close: the peer sees CLOSED and media stops */
    assert_int_equal(fl_transport_close(p.c.t), 0);
    flow(&p, &p.c, &p.s);
    assert_true(p.s.closed);
    b = make_rtp(SSRC_S, 1);
    assert_int_equal(fl_transport_send_rtp(p.s.t, p.now, b), FL_ESTATE);
    fl_buf_unref(b);
    free_pair(&p);
}

static void test_media_sha1_80(void **state)
{
    (void)state;
    media_both_ways(FL_DTLS_SRTP_AES128_CM_SHA1_80);
}

static void test_media_sha1_32(void **state)
{
    (void)state;
    media_both_ways(FL_DTLS_SRTP_AES128_CM_SHA1_32);
}

static void test_wrong_fingerprint(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, 0, fl_cert_fingerprint(cert_x)); /* the server shows cert_b */
    assert_int_equal(fl_transport_start(p.c.t, p.now), 0);
    run(&p, 100 * FL_TIME_SEC);
    assert_true(p.c.failed);
    assert_false(p.c.connected);
    assert_false(p.s.connected);
    assert_int_equal(p.c.err, FL_EAUTH);
    assert_string_equal(p.c.reason, "certificate fingerprint does not match the SDP a=fingerprint");
    assert_int_equal(fl_transport_get_state(p.c.t), FL_DTLS_STATE_FAILED);
    /* no media flows either way */
    fl_buf *b = make_rtp(SSRC_C, 1);
    assert_int_equal(fl_transport_send_rtp(p.c.t, p.now, b), FL_ESTATE);
    assert_int_equal(fl_transport_send_rtp(p.s.t, p.now, b), FL_ESTATE);
    assert_int_equal(fl_transport_send_rtcp(p.s.t, p.now, b), FL_ESTATE);
    /* a datagram that looks like SRTP is refused */
    assert_int_equal(fl_transport_handle_input(p.c.t, p.now, b), FL_ESTATE);
    fl_transport_stats st;
    fl_transport_get_stats(p.c.t, &st);
    assert_int_equal(st.media_not_ready, 1);
    assert_int_equal(st.dtls_state, FL_DTLS_STATE_FAILED);
    assert_int_equal(st.profile, FL_DTLS_SRTP_NONE);
    free_pair(&p);
}

static void test_fingerprint_later(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, 0, NULL);
    assert_int_equal(fl_transport_start(p.c.t, p.now), 0);
    run(&p, 10 * FL_TIME_SEC);
    assert_false(p.c.connected);
    assert_int_equal(fl_transport_set_remote_fingerprint(p.c.t, fl_cert_fingerprint(cert_b)), 0);
    take_events(&p.c);
    assert_true(p.c.connected);
    send_rtp(&p, &p.c, SSRC_C, 7);
    flow(&p, &p.c, &p.s);
    assert_int_equal(p.s.rtp_ok, 1);
    free_pair(&p);
}

static fl_buf *copy_buf(const fl_buf *src)
{
    fl_buf *b = fl_buf_pool_get(pool);
    assert_non_null(b);
    memcpy(fl_buf_data(b), src->data + src->off, src->len);
    b->len = src->len;
    return b;
}

static void test_replay(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    send_rtp(&p, &p.c, SSRC_C, 500);
    fl_buf *g;
    assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
    fl_buf *again = copy_buf(g);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, g), 0);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, again), FL_SRTP_EREPLAY);
    /* the same for SRTCP */
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_rr(p.c.t, p.now, SSRC_C, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.c.t, p.now, b), 0);
    assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
    again = copy_buf(g);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, g), 0);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, again), FL_SRTP_EREPLAY);
    /* a shared buffer cannot be unprotected in place */
    send_rtp(&p, &p.c, SSRC_C, 501);
    assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
    fl_buf_ref(g);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, g), FL_EBUSY);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, g), 0);
    take_events(&p.s);
    assert_int_equal(p.s.rtp_ok, 2);
    assert_int_equal(p.s.rtcp, 1);
    fl_transport_stats st;
    fl_transport_get_stats(p.s.t, &st);
    assert_int_equal(st.srtp_replay, 2);
    assert_int_equal(st.srtp_other, 1);
    assert_int_equal(st.rtp_received, 2);
    free_pair(&p);
}

static void test_media_before_connected(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, 0, fl_cert_fingerprint(cert_b));
    /* before anything started */
    fl_buf *b = make_rtp(SSRC_C, 1);
    assert_int_equal(fl_transport_send_rtp(p.c.t, p.now, b), FL_ESTATE);
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, b), FL_ESTATE);
    /* run until the server is connected and the client is not: the
     * server's last flight is held while its first SRTP packet overtakes it */
    assert_int_equal(fl_transport_start(p.c.t, p.now), 0);
    fl_buf *held[16];
    size_t n_held = 0;
    for (int round = 0; round < 10 && !p.s.connected; round++) {
        flow(&p, &p.c, &p.s);
        if (p.s.connected)
            break;
        flow(&p, &p.s, &p.c);
    }
    assert_true(p.s.connected);
    assert_false(p.c.connected);
    while (n_held < 16 && fl_transport_poll_transmit(p.s.t, &held[n_held]) == 0)
        n_held++;
    assert_true(n_held > 0);
    send_rtp(&p, &p.s, SSRC_S, 1);
    fl_buf *g;
    assert_int_equal(fl_transport_poll_transmit(p.s.t, &g), 0);
    assert_int_equal(fl_transport_handle_input(p.c.t, p.now, g), FL_ESTATE);
    for (size_t i = 0; i < n_held; i++)
        fl_transport_handle_input(p.c.t, p.now, held[i]);
    take_events(&p.c);
    assert_true(p.c.connected);
    assert_int_equal(p.c.rtp_ok, 0);
    send_rtp(&p, &p.s, SSRC_S, 2);
    flow(&p, &p.s, &p.c);
    assert_int_equal(p.c.rtp_ok, 1);
    fl_transport_stats st;
    fl_transport_get_stats(p.c.t, &st);
    assert_int_equal(st.media_not_ready, 1);
    assert_int_equal(st.rtp_received, 1);
    free_pair(&p);
}

static void test_loss(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_32);
    fl_transport_stats st;
    fl_buf *g;
    for (uint16_t seq = 0; seq < 100; seq++) {
        p.now += 33 * FL_TIME_MS; /* sent and received every 33 ms: no jitter */
        send_rtp(&p, &p.c, SSRC_C, seq);
        assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
        if (seq >= 40 && seq < 50)
            fl_buf_unref(g);
        else
            fl_transport_handle_input(p.s.t, p.now, g);
        take_events(&p.s);
        if (seq == 30) {
            fl_transport_get_stats(p.s.t, &st);
            assert_int_equal(inbound(&st, SSRC_C)->packets_lost, 0);
        }
    }
    assert_int_equal(p.s.rtp_ok, 90);
    fl_transport_get_stats(p.s.t, &st);
    const fl_transport_inbound_stats *in = inbound(&st, SSRC_C);
    assert_int_equal(in->packets, 90);
    assert_int_equal(in->packets_lost, 10);
    /* 3000 RTP units per packet at 90 kHz is 33.33 ms, sent every 33 ms */
    assert_true(in->jitter < 100);
    /* the report block carries the loss to the sender */
    fl_buf *b = fl_buf_pool_get(pool);
    assert_int_equal(fl_transport_write_rr(p.s.t, p.now, SSRC_S, b), 0);
    assert_int_equal(fl_transport_send_rtcp(p.s.t, p.now, b), 0);
    flow(&p, &p.s, &p.c);
    fl_transport_get_stats(p.c.t, &st);
    const fl_transport_outbound_stats *o = outbound(&st, SSRC_C);
    assert_int_equal(o->remote_packets_lost, 10);
    assert_int_equal(o->remote_fraction_lost, 10 * 256 / 99);
    assert_int_equal(o->rtt_us, -1); /* no SR from the client: no RTT */
    fl_transport_get_stats(p.s.t, &st);
    assert_int_equal(inbound(&st, SSRC_C)->fraction_lost, 10 * 256 / 99);
    free_pair(&p);
}

static void feed(pair *p, side *s, const uint8_t *data, size_t len, int want)
{
    fl_buf *b = fl_buf_pool_get(pool);
    memcpy(fl_buf_data(b), data, len);
    b->len = (uint32_t)len;
    int got = fl_transport_handle_input(s->t, p->now, b);
    if (want == 1) /* any drop */
        assert_true(got < 0);
    else
        assert_int_equal(got, want);
}

static void test_garbage(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    uint8_t junk[300];
    fl_rand_fill(&rnd, junk, sizeof(junk));
    feed(&p, &p.s, junk, 0, FL_ENOTSUP);
    junk[0] = 0x00; /* STUN: not ours */
    feed(&p, &p.s, junk, 100, FL_ENOTSUP);
    junk[0] = 0xff;
    feed(&p, &p.s, junk, 100, FL_ENOTSUP);
    junk[0] = 0x80;
    feed(&p, &p.s, junk, 1, FL_ENOTSUP);
    feed(&p, &p.s, junk, 8, FL_EBADMSG);
    junk[1] = 96;
    feed(&p, &p.s, junk, 300, FL_EAUTH);
    junk[1] = 200; /* SRTCP: libsrtp may object before the tag check */
    feed(&p, &p.s, junk, 300, 1);
    junk[0] = 0x17; /* DTLS application data junk */
    feed(&p, &p.s, junk, 300, 0);
    junk[0] = 0x16;
    feed(&p, &p.s, junk, 5, 0);
    /* a valid SRTP packet that is not RTP once decrypted cannot be made
     * without the keys; a truncated real one fails authentication */
    send_rtp(&p, &p.c, SSRC_C, 9);
    fl_buf *g;
    assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
    g->len -= 3;
    assert_int_equal(fl_transport_handle_input(p.s.t, p.now, g), FL_EAUTH);
    /* the session still works both ways */
    for (uint16_t i = 10; i < 20; i++) {
        send_rtp(&p, &p.c, SSRC_C, i);
        send_rtp(&p, &p.s, SSRC_S, i);
    }
    flow(&p, &p.c, &p.s);
    flow(&p, &p.s, &p.c);
    assert_int_equal(p.s.rtp_ok, 10);
    assert_int_equal(p.c.rtp_ok, 10);
    assert_false(p.s.failed || p.c.failed);
    fl_transport_stats st;
    fl_transport_get_stats(p.s.t, &st);
    assert_int_equal(st.unknown, 4);
    assert_true(st.srtp_auth >= 2);
    assert_int_equal(st.srtp_auth + st.srtp_other, 4);
    assert_int_equal(st.dtls_state, FL_DTLS_STATE_CONNECTED);
    free_pair(&p);
}

static void test_send_errors(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    fl_buf *b = make_rtp(SSRC_C, 1);
    size_t len = b->len;
    /* no tailroom for the tag */
    assert_int_equal(fl_buf_set_len(b, BUF_SIZE - 4), 0);
    assert_int_equal(fl_transport_send_rtp(p.c.t, p.now, b), FL_EMSGSIZE);
    assert_int_equal(fl_buf_set_len(b, len), 0);
    /* shared */
    fl_buf_ref(b);
    assert_int_equal(fl_transport_send_rtp(p.c.t, p.now, b), FL_EBUSY);
    fl_buf_unref(b);
    /* not RTCP */
    assert_int_equal(fl_transport_send_rtcp(p.c.t, p.now, b), FL_EBADMSG);
    /* not RTP */
    fl_buf_data(b)[0] = 0x40;
    assert_int_equal(fl_transport_send_rtp(p.c.t, p.now, b), FL_EBADMSG);
    fl_buf_unref(b);
    assert_int_equal(fl_transport_start(p.c.t, p.now), FL_ESTATE);
    assert_int_equal(fl_transport_poll_timeout(p.c.t), FL_TIME_NEVER);
    /* the default clock rates */
    assert_int_equal(fl_transport_get_clock_rate(p.c.t, 0), 8000);
    assert_int_equal(fl_transport_get_clock_rate(p.c.t, 111), 48000);
    assert_int_equal(fl_transport_get_clock_rate(p.c.t, 100), 90000);
    free_pair(&p);
}

static void test_handshake_retransmit(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, 0, fl_cert_fingerprint(cert_b));
    assert_int_equal(fl_transport_poll_timeout(p.c.t), FL_TIME_NEVER);
    assert_int_equal(fl_transport_start(p.c.t, p.now), 0);
    fl_buf *g;
    assert_int_equal(fl_transport_poll_transmit(p.c.t, &g), 0);
    fl_buf_unref(g); /* the ClientHello is lost */
    assert_true(fl_transport_poll_timeout(p.c.t) > p.now);
    run(&p, 10 * FL_TIME_SEC);
    assert_true(p.c.connected && p.s.connected);
    assert_true(p.now >= T0 + FL_TIME_SEC);
    fl_transport_stats st;
    fl_transport_get_stats(p.c.t, &st);
    assert_true(st.datagrams_sent >= 3);
    assert_true(st.bytes_sent > 500);
    free_pair(&p);
}

static void test_event_queue_full(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    for (uint16_t i = 0; i < 200; i++)
        send_rtp(&p, &p.c, SSRC_C, i);
    fl_buf *g;
    size_t n = 0, dropped = 0;
    while (fl_transport_poll_transmit(p.c.t, &g) == 0) {
        n++;
        if (fl_transport_handle_input(p.s.t, p.now, g) == FL_EAGAIN)
            dropped++;
    }
    assert_int_equal(n, 200);
    fl_transport_stats st;
    fl_transport_get_stats(p.s.t, &st);
    assert_int_equal(st.events_dropped, dropped);
    assert_int_equal(dropped, 200 - (FL_TRANSPORT_EVENT_QUEUE - 4));
    take_events(&p.s);
    assert_int_equal(p.s.rtp_ok, FL_TRANSPORT_EVENT_QUEUE - 4);
    free_pair(&p);
}

/* The event ring starts small and grows while events wait: they come out
 * in the order they went in, across its wrap and its growth. */
static void deliver(pair *p, size_t n)
{
    fl_buf *g;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fl_transport_poll_transmit(p->c.t, &g), 0);
        assert_int_equal(fl_transport_handle_input(p->s.t, p->now, g), 0);
    }
}

static uint16_t next_rtp_seq(pair *p)
{
    fl_transport_event ev;
    assert_int_equal(fl_transport_poll_event(p->s.t, &ev), 0);
    assert_int_equal(ev.type, FL_TRANSPORT_EVENT_RTP);
    uint16_t seq = ev.rtp.seq;
    fl_transport_event_release(&ev);
    return seq;
}

static void test_event_queue_order(void **state)
{
    (void)state;
    pair p;
    connect_pair(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    uint16_t sent = 0, expect = 0;
    for (int i = 0; i < 3; i++)
        send_rtp(&p, &p.c, SSRC_C, sent++);
    deliver(&p, 3);
    for (int i = 0; i < 2; i++)
        assert_int_equal(next_rtp_seq(&p), expect++);
    for (int i = 0; i < 40; i++)
        send_rtp(&p, &p.c, SSRC_C, sent++);
    deliver(&p, 40);
    while (expect < sent)
        assert_int_equal(next_rtp_seq(&p), expect++);
    fl_transport_event ev;
    assert_int_equal(fl_transport_poll_event(p.s.t, &ev), FL_EAGAIN);
    free_pair(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_sha1_80),
        cmocka_unit_test(test_event_queue_order),
        cmocka_unit_test(test_media_sha1_32),
        cmocka_unit_test(test_wrong_fingerprint),
        cmocka_unit_test(test_fingerprint_later),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_media_before_connected),
        cmocka_unit_test(test_loss),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_send_errors),
        cmocka_unit_test(test_handshake_retransmit),
        cmocka_unit_test(test_event_queue_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
