/* TURN client against scripted server replies: the 401 dance, 438, refresh
 * timing, permissions, channels, ChannelData and indications, TCP framing
 * split at every byte, and turnUrl parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/stun.h"
#include "ice/turn.h"

#include <cmocka.h>

#define T0 (100 * FL_TIME_SEC)

typedef struct fixture {
    fl_rand rand;
    fl_turn_client *c;
    fl_addr server, relayed, mapped, peer, peer2;
    uint8_t key[16];
    uint8_t req[2048]; /* last request, copied */
    size_t req_len;
    fl_stun_msg m; /* view over req */
} fixture;

static void setup_fixture(fixture *f, int transport)
{
    memset(f, 0, sizeof *f);
    fl_rand_seeded_init(&f->rand, 42);
    fl_addr_parse(&f->server, "192.0.2.1", 3478);
    fl_addr_parse(&f->relayed, "192.0.2.1", 50000);
    fl_addr_parse(&f->mapped, "198.51.100.7", 40000);
    fl_addr_parse(&f->peer, "203.0.113.5", 6000);
    fl_addr_parse(&f->peer2, "2001:db8::5", 6002);
    fl_stun_long_term_key_md5(f->key, "u", "fluo", "p");
    fl_turn_config cfg = { .server = f->server,
                           .transport = transport,
                           .username = "u",
                           .password = "p",
                           .rand = &f->rand };
    assert_int_equal(fl_turn_client_create(&f->c, &cfg), 0);
}

/* Takes the next request the client sends and parses it. */
static void next_request(fixture *f, uint16_t method)
{
    fl_turn_transmit tx;
    assert_int_equal(fl_turn_client_poll_transmit(f->c, &tx), 0);
    assert_true(fl_addr_equal(&tx.to, &f->server));
    assert_true(tx.len <= sizeof f->req);
    memcpy(f->req, tx.data, tx.len);
    f->req_len = tx.len;
    assert_int_equal(fl_stun_msg_parse(&f->m, f->req, f->req_len), 0);
    assert_int_equal(f->m.method, method);
    assert_int_equal(f->m.cls, FL_STUN_REQUEST);
}

static void no_request(fixture *f)
{
    fl_turn_transmit tx;
    assert_int_equal(fl_turn_client_poll_transmit(f->c, &tx), FL_EAGAIN);
}

/* The exact bytes a request must have: method attributes given by `add`,
 * then the credentials (nonce NULL: none) and FINGERPRINT. */
typedef void (*add_fn)(fixture *f, fl_stun_writer *w);

static void expect_request(fixture *f, uint16_t method, add_fn add, const char *nonce)
{
    uint8_t want[2048];
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, want, sizeof want, method, FL_STUN_REQUEST, f->m.txn_id);
    if (add) {
        add(f, &w);
    }
    if (nonce) {
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, "u");
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, "fluo");
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, nonce);
        fl_stun_writer_add_integrity(&w, f->key, 16);
    }
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(f->req_len, len);
    assert_memory_equal(f->req, want, len);
}

static void add_transport(fixture *f, fl_stun_writer *w)
{
    (void)f;
    fl_stun_writer_add_u32(w, FL_STUN_ATTR_REQUESTED_TRANSPORT, 17u << 24);
}

static void add_perm(fixture *f, fl_stun_writer *w)
{
    fl_addr ip = f->peer;
    ip.port = 0;
    fl_stun_writer_add_xor_addr(w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &ip);
}

static void add_chan(fixture *f, fl_stun_writer *w)
{
    fl_stun_writer_add_u32(w, FL_STUN_ATTR_CHANNEL_NUMBER, 0x40000000u);
    fl_stun_writer_add_xor_addr(w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &f->peer);
}

static void add_lifetime0(fixture *f, fl_stun_writer *w)
{
    (void)f;
    fl_stun_writer_add_u32(w, FL_STUN_ATTR_LIFETIME, 0);
}

/* Server replies to the last request. */
static size_t build_reply(fixture *f,
                          uint8_t *out,
                          size_t cap,
                          int code,
                          const char *nonce,
                          uint32_t lifetime)
{
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, cap, f->m.method, code ? FL_STUN_ERROR : FL_STUN_SUCCESS,
                        f->m.txn_id);
    if (code) {
        fl_stun_writer_add_error(&w, code, code == 401 ? "Unauthorized" : "Stale Nonce");
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, "fluo");
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, nonce);
    } else {
        if (f->m.method == FL_STUN_ALLOCATE) {
            fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_RELAYED_ADDRESS, &f->relayed);
            fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &f->mapped);
        }
        if (lifetime != UINT32_MAX) {
            fl_stun_writer_add_u32(&w, FL_STUN_ATTR_LIFETIME, lifetime);
        }
        fl_stun_writer_add_integrity(&w, f->key, 16);
    }
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return len;
}

static void reply(fixture *f, fl_time now, int code, const char *nonce, uint32_t lifetime)
{
    uint8_t buf[512];
    size_t len = build_reply(f, buf, sizeof buf, code, nonce, lifetime);
    assert_int_equal(fl_turn_client_handle_input(f->c, now, &f->server, buf, len), 0);
}

static void expect_event(fixture *f, int type, fl_turn_event *ev)
{
    fl_turn_event tmp;
    ev = ev ? ev : &tmp;
    assert_int_equal(fl_turn_client_poll_event(f->c, ev), 0);
    assert_int_equal(ev->type, type);
}

static void no_event(fixture *f)
{
    fl_turn_event ev;
    assert_int_equal(fl_turn_client_poll_event(f->c, &ev), FL_EAGAIN);
}

/* Allocate through the 401 challenge. */
static void allocate(fixture *f)
{
    fl_turn_event ev;
    assert_int_equal(fl_turn_client_allocate(f->c, T0), 0);
    next_request(f, FL_STUN_ALLOCATE);
    expect_request(f, FL_STUN_ALLOCATE, add_transport, NULL);
    uint8_t first_id[12];
    memcpy(first_id, f->m.txn_id, 12);
    reply(f, T0 + 10 * FL_TIME_MS, 401, "n1", 0);
    next_request(f, FL_STUN_ALLOCATE);
    assert_memory_not_equal(first_id, f->m.txn_id, 12);
    expect_request(f, FL_STUN_ALLOCATE, add_transport, "n1");
    assert_int_equal(fl_stun_msg_check_integrity(&f->m, f->key, 16), 0);
    no_event(f);
    reply(f, T0 + 20 * FL_TIME_MS, 0, NULL, 600);
    expect_event(f, FL_TURN_EVENT_ALLOCATED, &ev);
    assert_true(fl_addr_equal(&ev.relayed, &f->relayed));
    assert_true(fl_addr_equal(&ev.mapped, &f->mapped));
    assert_int_equal(ev.lifetime, 600);
    no_request(f);
}

static void test_allocate_401_and_refresh_438(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f, FL_TURN_UDP);
    allocate(&f);
    fl_addr a;
    assert_int_equal(fl_turn_client_get_relayed(f.c, &a), 0);
    /* refresh one minute before the 600 s lifetime ends */
    fl_time due = T0 + 20 * FL_TIME_MS + 540 * FL_TIME_SEC;
    assert_int_equal(fl_turn_client_poll_timeout(f.c), due);
    fl_turn_client_handle_timeout(f.c, due - 1);
    no_request(&f);
    fl_turn_client_handle_timeout(f.c, due);
    next_request(&f, FL_STUN_REFRESH);
    expect_request(&f, FL_STUN_REFRESH, NULL, "n1");
    /* 438: same request again with the new nonce, a new transaction */
    reply(&f, due + 5 * FL_TIME_MS, 438, "n2", 0);
    next_request(&f, FL_STUN_REFRESH);
    expect_request(&f, FL_STUN_REFRESH, NULL, "n2");
    reply(&f, due + 10 * FL_TIME_MS, 0, NULL, 300);
    no_event(&f);
    assert_int_equal(fl_turn_client_poll_timeout(f.c), due + 10 * FL_TIME_MS + 240 * FL_TIME_SEC);
    /* deallocate: Refresh with LIFETIME 0 */
    assert_int_equal(fl_turn_client_deallocate(f.c, due + FL_TIME_SEC), 0);
    next_request(&f, FL_STUN_REFRESH);
    expect_request(&f, FL_STUN_REFRESH, add_lifetime0, "n2");
    reply(&f, due + 2 * FL_TIME_SEC, 0, NULL, 0);
    expect_event(&f, FL_TURN_EVENT_DEALLOCATED, NULL);
    assert_int_equal(fl_turn_client_poll_timeout(f.c), FL_TIME_NEVER);
    fl_turn_client_destroy(f.c);
}

static void test_permission_and_channel(void **state)
{
    (void)state;
    fixture f;
    fl_turn_event ev;
    uint16_t ch;
    setup_fixture(&f, FL_TURN_UDP);
    allocate(&f);
    fl_time now = T0 + FL_TIME_SEC;
    assert_int_equal(fl_turn_client_create_permission(f.c, now, &f.peer), 0);
    next_request(&f, FL_STUN_CREATE_PERMISSION);
    expect_request(&f, FL_STUN_CREATE_PERMISSION, add_perm, "n1");
    assert_int_equal(fl_turn_client_create_permission(f.c, now, &f.peer), 0); /* deduped */
    no_request(&f);
    reply(&f, now, 0, NULL, UINT32_MAX);
    expect_event(&f, FL_TURN_EVENT_PERMISSION, &ev);
    assert_true(fl_addr_ip_equal(&ev.peer, &f.peer));
    /* refreshed after 4 minutes */
    assert_int_equal(fl_turn_client_poll_timeout(f.c), now + 240 * FL_TIME_SEC);

    assert_int_equal(fl_turn_client_bind_channel(f.c, now, &f.peer, &ch), 0);
    assert_int_equal(ch, 0x4000);
    next_request(&f, FL_STUN_CHANNEL_BIND);
    expect_request(&f, FL_STUN_CHANNEL_BIND, add_chan, "n1");
    reply(&f, now + FL_TIME_SEC, 0, NULL, UINT32_MAX);
    expect_event(&f, FL_TURN_EVENT_CHANNEL_BOUND, &ev);
    assert_int_equal(ev.channel, 0x4000);

    /* permission refresh at +240 s, channel refresh at +540 s */
    fl_turn_client_handle_timeout(f.c, now + 240 * FL_TIME_SEC);
    next_request(&f, FL_STUN_CREATE_PERMISSION);
    reply(&f, now + 240 * FL_TIME_SEC, 0, NULL, UINT32_MAX);
    no_event(&f);
    fl_turn_client_handle_timeout(f.c, now + 480 * FL_TIME_SEC);
    next_request(&f, FL_STUN_CREATE_PERMISSION);
    expect_request(&f, FL_STUN_CREATE_PERMISSION, add_perm, "n1");
    reply(&f, now + 480 * FL_TIME_SEC, 0, NULL, UINT32_MAX);
    /* the allocation's own refresh comes first, at T0 + 20 ms + 540 s */
    assert_int_equal(fl_turn_client_poll_timeout(f.c), T0 + 20 * FL_TIME_MS + 540 * FL_TIME_SEC);
    fl_turn_client_handle_timeout(f.c, T0 + 20 * FL_TIME_MS + 540 * FL_TIME_SEC);
    next_request(&f, FL_STUN_REFRESH);
    reply(&f, T0 + 541 * FL_TIME_SEC, 0, NULL, 600);
    assert_int_equal(fl_turn_client_poll_timeout(f.c), now + 541 * FL_TIME_SEC);
    fl_turn_client_handle_timeout(f.c, now + 541 * FL_TIME_SEC - 1);
    no_request(&f);
    fl_turn_client_handle_timeout(f.c, now + 541 * FL_TIME_SEC);
    next_request(&f, FL_STUN_CHANNEL_BIND);
    expect_request(&f, FL_STUN_CHANNEL_BIND, add_chan, "n1");
    fl_turn_client_destroy(f.c);
}

static void test_channel_data_and_indications(void **state)
{
    (void)state;
    fixture f;
    fl_turn_event ev;
    uint8_t out[256];
    size_t len;
    setup_fixture(&f, FL_TURN_UDP);
    assert_int_equal(
            fl_turn_client_wrap(f.c, &f.peer, (const uint8_t *)"x", 1, out, sizeof out, &len),
            FL_ESTATE);
    allocate(&f);
    /* Send indication before any channel */
    assert_int_equal(
            fl_turn_client_wrap(f.c, &f.peer2, (const uint8_t *)"hello", 5, out, sizeof out, &len),
            0);
    fl_stun_msg m;
    fl_addr a;
    assert_int_equal(fl_stun_msg_parse(&m, out, len), 0);
    assert_int_equal(m.method, FL_STUN_SEND);
    assert_int_equal(m.cls, FL_STUN_INDICATION);
    assert_int_equal(fl_stun_msg_get_xor_addr(&m, FL_STUN_ATTR_XOR_PEER_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, &f.peer2));
    assert_memory_equal(fl_stun_msg_find(&m, FL_STUN_ATTR_DATA)->value, "hello", 5);
    assert_int_equal(len, 20 + 24 + 12);

    /* Data indication in */
    uint8_t di[128];
    fl_stun_writer w;
    fl_stun_writer_init(&w, di, sizeof di, FL_STUN_DATA, FL_STUN_INDICATION, m.txn_id);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &f.peer2);
    fl_stun_writer_add(&w, FL_STUN_ATTR_DATA, "world", 5);
    fl_stun_writer_finish(&w, &len);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, di, len), 0);
    expect_event(&f, FL_TURN_EVENT_DATA, &ev);
    assert_true(fl_addr_equal(&ev.peer, &f.peer2));
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "world", 5);
    assert_int_equal(ev.channel, 0);

    fl_turn_client_destroy(f.c);
}

static void test_channel_data_udp(void **state)
{
    (void)state;
    fixture f;
    fl_turn_event ev;
    uint8_t out[256];
    size_t len;
    setup_fixture(&f, FL_TURN_UDP);
    allocate(&f);
    /* bind a channel; ChannelData both ways, exact bytes, no padding over UDP */
    fl_turn_client_bind_channel(f.c, T0, &f.peer, NULL);
    next_request(&f, FL_STUN_CHANNEL_BIND);
    reply(&f, T0, 0, NULL, UINT32_MAX);
    expect_event(&f, FL_TURN_EVENT_CHANNEL_BOUND, NULL);
    assert_int_equal(
            fl_turn_client_wrap(f.c, &f.peer, (const uint8_t *)"abcde", 5, out, sizeof out, &len),
            0);
    static const uint8_t cd[] = { 0x40, 0x00, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e' };
    assert_int_equal(len, sizeof cd);
    assert_memory_equal(out, cd, sizeof cd);
    assert_int_equal(fl_turn_client_wrap(f.c, &f.peer, (const uint8_t *)"abcde", 5, out, 8, &len),
                     FL_EMSGSIZE);
    static const uint8_t cdin[] = { 0x40, 0x00, 0x00, 0x03, 'x', 'y', 'z', 0 };
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, cdin, sizeof cdin), 0);
    expect_event(&f, FL_TURN_EVENT_DATA, &ev);
    assert_true(fl_addr_equal(&ev.peer, &f.peer));
    assert_int_equal(ev.channel, 0x4000);
    assert_int_equal(ev.len, 3);
    assert_ptr_equal(ev.data, cdin + 4);
    /* unknown channel, short ChannelData, garbage, wrong source */
    static const uint8_t cdbad[] = { 0x40, 0x01, 0x00, 0x01, 'q', 0, 0, 0 };
    static const uint8_t cdshort[] = { 0x40, 0x00, 0x00, 0x09, 'q' };
    static const uint8_t junk[] = { 0xff, 0x00, 0x00, 0x00 };
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, cdbad, sizeof cdbad),
                     FL_ENOENT);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, cdshort, sizeof cdshort),
                     FL_EBADMSG);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, junk, sizeof junk),
                     FL_EBADMSG);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.peer, cdin, sizeof cdin), FL_EINVAL);
    no_event(&f);
    fl_turn_client_destroy(f.c);
}

static void test_bad_responses(void **state)
{
    (void)state;
    fixture f;
    uint8_t buf[512];
    fl_turn_event ev;
    setup_fixture(&f, FL_TURN_UDP);
    allocate(&f);
    fl_turn_client_create_permission(f.c, T0, &f.peer);
    next_request(&f, FL_STUN_CREATE_PERMISSION);
    /* success with a bad MESSAGE-INTEGRITY: dropped, request still pending */
    f.key[0] ^= 1;
    size_t len = build_reply(&f, buf, sizeof buf, 0, NULL, UINT32_MAX);
    f.key[0] ^= 1;
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, buf, len), FL_EAUTH);
    no_event(&f);
    /* a changed transaction id breaks the FINGERPRINT */
    buf[8] ^= 0xff;
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, buf, len), FL_EBADMSG);
    /* an unknown transaction */
    fl_stun_writer w;
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_CREATE_PERMISSION, FL_STUN_SUCCESS,
                        (const uint8_t *)"unknown-txn!");
    fl_stun_writer_finish(&w, &len);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, buf, len), FL_ENOENT);
    /* a 403 fails the permission, not the allocation */
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_CREATE_PERMISSION, FL_STUN_ERROR, f.m.txn_id);
    fl_stun_writer_add_error(&w, 403, "Forbidden");
    fl_stun_writer_finish(&w, &len);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, &f.server, buf, len), 0);
    expect_event(&f, FL_TURN_EVENT_ERROR, &ev);
    assert_int_equal(ev.stun_code, 403);
    assert_int_equal(ev.method, FL_STUN_CREATE_PERMISSION);
    assert_false(ev.fatal);
    assert_true(fl_addr_ip_equal(&ev.peer, &f.peer));
    /* the failed permission is forgotten: no busy refresh, asking again sends anew */
    assert_int_equal(fl_turn_client_poll_timeout(f.c), T0 + 20 * FL_TIME_MS + 540 * FL_TIME_SEC);
    assert_int_equal(fl_turn_client_create_permission(f.c, T0, &f.peer), 0);
    next_request(&f, FL_STUN_CREATE_PERMISSION);
    fl_turn_client_destroy(f.c);

    /* wrong password: 401 again after credentials is fatal */
    setup_fixture(&f, FL_TURN_UDP);
    fl_turn_client_allocate(f.c, T0);
    next_request(&f, FL_STUN_ALLOCATE);
    reply(&f, T0, 401, "n1", 0);
    next_request(&f, FL_STUN_ALLOCATE);
    reply(&f, T0, 401, "n1", 0);
    expect_event(&f, FL_TURN_EVENT_ERROR, &ev);
    assert_int_equal(ev.err, FL_EAUTH);
    assert_true(ev.fatal);
    no_request(&f);
    fl_turn_client_destroy(f.c);
}

static void test_udp_retransmit_and_timeout(void **state)
{
    (void)state;
    fixture f;
    fl_turn_event ev;
    static const fl_time sends[] = { 500, 1500, 3500, 7500, 15500, 31500 };
    setup_fixture(&f, FL_TURN_UDP);
    fl_turn_client_allocate(f.c, T0);
    next_request(&f, FL_STUN_ALLOCATE);
    uint8_t first[2048];
    size_t first_len = f.req_len;
    memcpy(first, f.req, first_len);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(fl_turn_client_poll_timeout(f.c), T0 + sends[i] * FL_TIME_MS);
        fl_turn_client_handle_timeout(f.c, T0 + sends[i] * FL_TIME_MS);
        next_request(&f, FL_STUN_ALLOCATE);
        assert_int_equal(f.req_len, first_len);
        assert_memory_equal(f.req, first, first_len); /* the same bytes */
        no_request(&f);
    }
    fl_turn_client_handle_timeout(f.c, T0 + 39500 * FL_TIME_MS);
    expect_event(&f, FL_TURN_EVENT_ERROR, &ev);
    assert_int_equal(ev.err, FL_ETIMEDOUT);
    assert_true(ev.fatal);
    assert_int_equal(fl_turn_client_poll_timeout(f.c), FL_TIME_NEVER);
    fl_turn_client_destroy(f.c);

    /* over TCP: sent once, times out at 39.5 s */
    setup_fixture(&f, FL_TURN_TCP);
    fl_turn_client_allocate(f.c, T0);
    next_request(&f, FL_STUN_ALLOCATE);
    assert_int_equal(fl_turn_client_poll_timeout(f.c), T0 + 39500 * FL_TIME_MS);
    fl_turn_client_handle_timeout(f.c, T0 + 39500 * FL_TIME_MS);
    no_request(&f);
    expect_event(&f, FL_TURN_EVENT_ERROR, &ev);
    assert_int_equal(ev.err, FL_ETIMEDOUT);
    fl_turn_client_destroy(f.c);
}

/* Over TCP: the server's stream (allocate success, padded ChannelData, a
 * Data indication, ChannelData without padding need) cut at every byte. */
static size_t tcp_stream(fixture *f, uint8_t *s, size_t cap)
{
    size_t n = build_reply(f, s, cap, 0, NULL, 600);
    static const uint8_t cd1[] = { 0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
    memcpy(s + n, cd1, sizeof cd1);
    n += sizeof cd1;
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, s + n, cap - n, FL_STUN_DATA, FL_STUN_INDICATION, f->m.txn_id);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &f->peer2);
    fl_stun_writer_add(&w, FL_STUN_ATTR_DATA, "ind", 3);
    fl_stun_writer_finish(&w, &len);
    n += len;
    static const uint8_t cd2[] = { 0x40, 0x00, 0x00, 0x04, '1', '2', '3', '4' };
    memcpy(s + n, cd2, sizeof cd2);
    return n + sizeof cd2;
}

static void feed_and_check(fixture *f, const uint8_t *p, size_t n, int *seen)
{
    static const char *const want[] = { NULL, "hello", "ind", "1234" };
    fl_turn_event ev;
    assert_int_equal(fl_turn_client_handle_input(f->c, T0, NULL, p, n), 0);
    while (fl_turn_client_poll_event(f->c, &ev) == 0) {
        if (*seen == 0) {
            assert_int_equal(ev.type, FL_TURN_EVENT_ALLOCATED);
        } else {
            assert_int_equal(ev.type, FL_TURN_EVENT_DATA);
            assert_int_equal(ev.len, strlen(want[*seen]));
            assert_memory_equal(ev.data, want[*seen], ev.len);
        }
        (*seen)++;
    }
}

static void test_tcp_framing_every_split(void **state)
{
    (void)state;
    uint8_t s[1024];
    size_t n = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        fixture f;
        int seen = 0;
        setup_fixture(&f, FL_TURN_TCP);
        fl_turn_client_allocate(f.c, T0);
        assert_int_equal(fl_turn_client_bind_channel(f.c, T0, &f.peer, NULL), 0);
        next_request(&f, FL_STUN_ALLOCATE);
        uint8_t r401[512];
        size_t l401 = build_reply(&f, r401, sizeof r401, 401, "n1", 0);
        for (size_t i = 0; i < l401; i++) { /* 401 one byte at a time */
            assert_int_equal(fl_turn_client_handle_input(f.c, T0, NULL, r401 + i, 1), 0);
        }
        next_request(&f, FL_STUN_ALLOCATE);
        n = tcp_stream(&f, s, sizeof s);
        feed_and_check(&f, s, cut, &seen);
        feed_and_check(&f, s + cut, n - cut, &seen);
        assert_int_equal(seen, 4);
        next_request(&f, FL_STUN_CHANNEL_BIND); /* the waiting channel went out */
        reply(&f, T0, 0, NULL, UINT32_MAX);
        expect_event(&f, FL_TURN_EVENT_CHANNEL_BOUND, NULL);
        uint8_t out[64];
        size_t len;
        fl_turn_client_wrap(f.c, &f.peer, (const uint8_t *)"hello", 5, out, sizeof out, &len);
        assert_int_equal(len, 12); /* padded to 4 over TCP */
        assert_memory_equal(out + 9, "\0\0\0", 3);
        fl_turn_client_destroy(f.c);
    }
    assert_true(n > 100);
}

static void test_tcp_corrupt_stream(void **state)
{
    (void)state;
    fixture f;
    fl_turn_event ev;
    static const uint8_t junk[] = { 0x80, 0x01, 0x02, 0x03 };
    setup_fixture(&f, FL_TURN_TCP);
    fl_turn_client_allocate(f.c, T0);
    assert_int_equal(fl_turn_client_handle_input(f.c, T0, NULL, junk, sizeof junk), FL_EPROTO);
    expect_event(&f, FL_TURN_EVENT_ERROR, &ev);
    assert_int_equal(ev.err, FL_EPROTO);
    assert_true(ev.fatal);
    fl_turn_client_destroy(f.c);
}

static void test_url_parse(void **state)
{
    (void)state;
    fl_turn_url u;
    assert_int_equal(fl_turn_url_parse(&u, "user:pa:ss@w@10.0.0.1:3479?transport=tcp"), 0);
    assert_string_equal(u.username, "user");
    assert_string_equal(u.password, "pa:ss@w");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 3479);
    assert_int_equal(u.transport, FL_TURN_TCP);
    assert_false(u.secure);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@turn.example.org"), 0);
    assert_string_equal(u.host, "turn.example.org");
    assert_int_equal(u.port, 3478);
    assert_int_equal(u.transport, FL_TURN_UDP);
    assert_int_equal(fl_turn_url_parse(&u, "turn:[2001:db8::1]:5000?transport=UDP"), 0);
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 5000);
    assert_string_equal(u.username, "");
    assert_int_equal(fl_turn_url_parse(&u, "turns:turn.example.org"), 0);
    assert_true(u.secure);
    assert_int_equal(u.port, 5349);
    assert_int_equal(u.transport, FL_TURN_TCP);
    assert_int_equal(fl_turn_url_parse(&u, "turn:u:p@127.0.0.1:3478?transport=udp&x=1"), 0);
    assert_string_equal(u.password, "p");
    assert_int_equal(fl_turn_url_parse(&u, "u:p@[::1]"), 0);
    assert_string_equal(u.host, "::1");

    assert_int_equal(fl_turn_url_parse(&u, ""), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "up@host"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@host:0"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@host:65536"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@host:12a"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@host:"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@2001:db8::1"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@[::1"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "stun:host"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "http://host"), FL_EINVAL);
    assert_int_equal(fl_turn_url_parse(&u, "u:p@host?transport=sctp"), FL_ENOTSUP);
    char longhost[400];
    memset(longhost, 'a', sizeof longhost - 1);
    longhost[sizeof longhost - 1] = '\0';
    assert_int_equal(fl_turn_url_parse(&u, longhost), FL_EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocate_401_and_refresh_438),
        cmocka_unit_test(test_permission_and_channel),
        cmocka_unit_test(test_channel_data_and_indications),
        cmocka_unit_test(test_channel_data_udp),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_udp_retransmit_and_timeout),
        cmocka_unit_test(test_tcp_framing_every_split),
        cmocka_unit_test(test_tcp_corrupt_stream),
        cmocka_unit_test(test_url_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
