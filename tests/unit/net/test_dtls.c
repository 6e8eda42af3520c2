/* net/dtls and net/cert: two fluo endpoints in memory with a virtual clock
 * and seeded loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "net/cert.h"
#include "net/dtls.h"

#include <cmocka.h>

#define T0 ((fl_time)1000 * FL_TIME_SEC)

static fl_rand rnd;
static fl_cert *cert_a, *cert_b;

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    fl_rand_seeded_init(&rnd, 7);
    if (fl_cert_generate(&cert_a, "alice", 1700000000, 30 * 86400, &rnd) != 0)
        return -1;
    if (fl_cert_generate(&cert_b, NULL, 1700000000, 30 * 86400, &rnd) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fl_cert_destroy(cert_a);
    fl_cert_destroy(cert_b);
    return 0;
}

typedef struct side {
    fl_dtls *d;
    bool connected, failed, closed;
    fl_dtls_event ev; /* last CONNECTED or FAILED */
    size_t max_dgram;
    size_t sent;
} side;

typedef struct pair {
    side c, s;
    fl_time now;
    fl_rand loss;
    unsigned loss_pct;
    unsigned drop_first; /* datagrams dropped at the very start */
    size_t total;
} pair;

static void make_pair(pair *p,
                      const fl_dtls_srtp_profile *profiles,
                      size_t n,
                      size_t mtu,
                      const char *c_expects,
                      const char *s_expects)
{
    memset(p, 0, sizeof(*p));
    p->now = T0;
    fl_rand_seeded_init(&p->loss, 42);
    fl_dtls_config cc = { 0 };
    cc.cert = cert_a;
    cc.role = FL_DTLS_ROLE_CLIENT;
    cc.remote_fingerprint = c_expects;
    cc.mtu = mtu;
    cc.rand = &rnd;
    cc.n_profiles = n;
    for (size_t i = 0; i < n; i++)
        cc.profiles[i] = profiles[i];
    fl_dtls_config sc = cc;
    sc.cert = cert_b;
    sc.role = FL_DTLS_ROLE_SERVER;
    sc.remote_fingerprint = s_expects;
    assert_int_equal(fl_dtls_create(&p->c.d, &cc), 0);
    assert_int_equal(fl_dtls_create(&p->s.d, &sc), 0);
}

static void free_pair(pair *p)
{
    fl_dtls_destroy(p->c.d);
    fl_dtls_destroy(p->s.d);
}

static void take_events(side *s)
{
    fl_dtls_event ev;
    while (fl_dtls_poll_event(s->d, &ev) == 0) {
        if (ev.type == FL_DTLS_EVENT_CONNECTED) {
            s->connected = true;
            s->ev = ev;
        } else if (ev.type == FL_DTLS_EVENT_FAILED) {
            s->failed = true;
            s->ev = ev;
        } else {
            s->closed = true;
        }
    }
}

/* Moves datagrams from a to b; returns how many were sent. */
static size_t flow(pair *p, side *a, side *b)
{
    fl_bytes g;
    size_t n = 0;
    while (fl_dtls_poll_transmit(a->d, &g) == 0) {
        n++;
        p->total++;
        a->sent++;
        if (g.len > a->max_dgram)
            a->max_dgram = g.len;
        bool drop = false;
        if (p->drop_first > 0) {
            p->drop_first--;
            drop = true;
        } else if (p->loss_pct && fl_rand_u32(&p->loss) % 100 < p->loss_pct) {
            drop = true;
        }
        if (!drop)
            fl_dtls_handle_input(b->d, p->now, g.data, g.len);
        fl_bytes_deinit(&g);
    }
    return n;
}

static bool done(const side *s)
{
    return s->connected || s->failed;
}

/* Runs until both are done or `limit` of virtual time has passed. */
static void run(pair *p, fl_time limit)
{
    fl_time end = p->now + limit;
    while (p->now < end) {
        size_t n = flow(p, &p->c, &p->s) + flow(p, &p->s, &p->c);
        take_events(&p->c);
        take_events(&p->s);
        if (done(&p->c) && done(&p->s) && n == 0)
            return;
        if (n > 0)
            continue;
        fl_time tc = fl_dtls_poll_timeout(p->c.d), ts = fl_dtls_poll_timeout(p->s.d);
        fl_time t = tc < ts ? tc : ts;
        if (t == FL_TIME_NEVER)
            return;
        if (t > p->now)
            p->now = t;
        fl_dtls_handle_timeout(p->c.d, p->now);
        fl_dtls_handle_timeout(p->s.d, p->now);
    }
}

static void assert_same_keys(const pair *p, fl_dtls_srtp_profile profile)
{
    const fl_dtls_srtp_keys *a = &p->c.ev.srtp, *b = &p->s.ev.srtp;
    assert_int_equal(a->profile, profile);
    assert_int_equal(b->profile, profile);
    assert_int_equal(a->key_len, 16);
    assert_int_equal(a->salt_len, 14);
    assert_int_equal(a->material_len, 60);
    assert_memory_equal(a->material, b->material, 60);
    assert_memory_equal(a->client_key, b->client_key, 16);
    assert_memory_equal(a->client_salt, b->client_salt, 14);
    assert_memory_equal(a->server_key, b->server_key, 16);
    assert_memory_equal(a->server_salt, b->server_salt, 14);
    assert_memory_not_equal(a->client_key, a->server_key, 16);
    /* RFC 5764 4.2 layout: client key, server key, client salt, server salt. */
    assert_memory_equal(a->client_key, a->material, 16);
    assert_memory_equal(a->server_key, a->material + 16, 16);
    assert_memory_equal(a->client_salt, a->material + 32, 14);
    assert_memory_equal(a->server_salt, a->material + 46, 14);
    /* What one sends with, the other receives with. */
    assert_memory_equal(a->local_master, b->remote_master, 30);
    assert_memory_equal(a->remote_master, b->local_master, 30);
    assert_memory_equal(a->local_master, a->client_key, 16);
    assert_memory_equal(a->local_master + 16, a->client_salt, 14);
}

static void handshake(const fl_dtls_srtp_profile *cp,
                      size_t cn,
                      const fl_dtls_srtp_profile *sp,
                      size_t sn,
                      fl_dtls_srtp_profile expect)
{
    pair p;
    make_pair(&p, cp, cn, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    /* the server's own profile list */
    fl_dtls_destroy(p.s.d);
    fl_dtls_config sc = { .cert = cert_b, .role = FL_DTLS_ROLE_SERVER, .rand = &rnd };
    sc.remote_fingerprint = fl_cert_fingerprint(cert_a);
    sc.n_profiles = sn;
    for (size_t i = 0; i < sn; i++)
        sc.profiles[i] = sp[i];
    assert_int_equal(fl_dtls_create(&p.s.d, &sc), 0);
    assert_int_equal(fl_dtls_poll_timeout(p.c.d), FL_TIME_NEVER);
    assert_int_equal(fl_dtls_start(p.c.d, p.now), 0);
    assert_int_equal(fl_dtls_start(p.c.d, p.now), FL_ESTATE);
    run(&p, 10 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_int_equal(p.now, T0); /* no retransmission was needed */
    assert_same_keys(&p, expect);
    assert_true(p.c.max_dgram <= FL_DTLS_DEFAULT_MTU);
    assert_true(p.s.max_dgram <= FL_DTLS_DEFAULT_MTU);
    assert_int_equal(fl_dtls_get_state(p.c.d), FL_DTLS_STATE_CONNECTED);

    /* application data both ways, then close_notify */
    fl_bytes g;
    assert_int_equal(fl_dtls_send(p.c.d, "hello", 5), 0);
    assert_int_equal(fl_dtls_send(p.s.d, "world!", 6), 0);
    run(&p, FL_TIME_SEC);
    assert_int_equal(fl_dtls_poll_data(p.s.d, &g), 0);
    assert_int_equal(g.len, 5);
    assert_memory_equal(g.data, "hello", 5);
    fl_bytes_deinit(&g);
    assert_int_equal(fl_dtls_poll_data(p.c.d, &g), 0);
    assert_int_equal(g.len, 6);
    fl_bytes_deinit(&g);
    assert_int_equal(fl_dtls_poll_data(p.c.d, &g), FL_EAGAIN);
    assert_int_equal(fl_dtls_close(p.c.d), 0);
    run(&p, FL_TIME_SEC);
    assert_true(p.s.closed);
    assert_int_equal(fl_dtls_get_state(p.s.d), FL_DTLS_STATE_CLOSED);
    free_pair(&p);
}

static void test_handshake_sha1_80(void **state)
{
    (void)state;
    handshake(NULL, 0, NULL, 0, FL_DTLS_SRTP_AES128_CM_SHA1_80);
}

static void test_handshake_sha1_32(void **state)
{
    (void)state;
    fl_dtls_srtp_profile p32[] = { FL_DTLS_SRTP_AES128_CM_SHA1_32 };
    fl_dtls_srtp_profile both[] = { FL_DTLS_SRTP_AES128_CM_SHA1_32,
                                    FL_DTLS_SRTP_AES128_CM_SHA1_80 };
    handshake(p32, 1, NULL, 0, FL_DTLS_SRTP_AES128_CM_SHA1_32);
    handshake(both, 2, p32, 1, FL_DTLS_SRTP_AES128_CM_SHA1_32);
}

static void test_gcm_not_supported(void **state)
{
    (void)state;
    fl_dtls *d = NULL;
    fl_dtls_config cfg = { .cert = cert_a, .role = FL_DTLS_ROLE_SERVER, .rand = &rnd };
    cfg.profiles[0] = FL_DTLS_SRTP_AEAD_AES_128_GCM;
    cfg.n_profiles = 1;
    assert_int_equal(fl_dtls_create(&d, &cfg), FL_ENOTSUP);
    cfg.n_profiles = 0;
    cfg.remote_fingerprint = "sha-256 zz";
    assert_int_equal(fl_dtls_create(&d, &cfg), FL_EINVAL);
    cfg.remote_fingerprint = NULL;
    cfg.role = 0;
    assert_int_equal(fl_dtls_create(&d, &cfg), FL_EINVAL);
}

static void test_wrong_fingerprint(void **state)
{
    (void)state;
    /* the client expects cert_a's fingerprint but the server shows cert_b */
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_a), fl_cert_fingerprint(cert_a));
    fl_dtls_start(p.c.d, p.now);
    run(&p, 100 * FL_TIME_SEC);
    assert_true(p.c.failed);
    assert_false(p.c.connected);
    assert_int_equal(p.c.ev.err, FL_EAUTH);
    assert_string_equal(p.c.ev.reason,
                        "certificate fingerprint does not match the SDP a=fingerprint");
    assert_int_equal(p.c.ev.srtp.profile, FL_DTLS_SRTP_NONE);
    assert_false(p.s.connected);
    assert_int_equal(fl_dtls_get_state(p.c.d), FL_DTLS_STATE_FAILED);
    free_pair(&p);

    /* the server is the one that objects */
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_b));
    fl_dtls_start(p.c.d, p.now);
    run(&p, 100 * FL_TIME_SEC);
    assert_true(p.s.failed);
    assert_int_equal(p.s.ev.err, FL_EAUTH);
    assert_string_equal(p.s.ev.reason,
                        "certificate fingerprint does not match the SDP a=fingerprint");
    assert_false(p.c.connected);
    free_pair(&p);
}

static void test_fingerprint_later(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), NULL);
    fl_dtls_start(p.c.d, p.now);
    run(&p, 5 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_false(p.s.connected); /* waits for the answer's fingerprint */
    assert_int_equal(fl_dtls_send(p.s.d, "x", 1), FL_ESTATE);
    assert_int_equal(fl_dtls_set_remote_fingerprint(p.s.d, "SHA-256 00:11"), FL_EINVAL);
    assert_int_equal(fl_dtls_set_remote_fingerprint(p.s.d, fl_cert_fingerprint(cert_a)), 0);
    take_events(&p.s);
    assert_true(p.s.connected);
    assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    assert_int_equal(fl_dtls_set_remote_fingerprint(p.s.d, fl_cert_fingerprint(cert_a)), FL_ESTATE);
    free_pair(&p);

    /* and a late fingerprint that does not match */
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), NULL);
    fl_dtls_start(p.c.d, p.now);
    run(&p, 5 * FL_TIME_SEC);
    assert_int_equal(fl_dtls_set_remote_fingerprint(p.s.d, fl_cert_fingerprint(cert_b)), 0);
    take_events(&p.s);
    assert_true(p.s.failed);
    assert_int_equal(p.s.ev.err, FL_EAUTH);
    free_pair(&p);
}

static void test_drop_first_flight(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    p.drop_first = 1; /* the ClientHello */
    fl_dtls_start(p.c.d, p.now);
    assert_int_equal(fl_dtls_poll_timeout(p.c.d), T0 + FL_TIME_SEC);
    run(&p, 30 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_int_equal(p.now, T0 + FL_TIME_SEC); /* resent once, after 1 s */
    assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    free_pair(&p);
}

static void test_random_loss(void **state)
{
    (void)state;
    unsigned ok = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        pair p;
        make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
        fl_rand_seeded_init(&p.loss, seed);
        p.loss_pct = 30;
        fl_dtls_start(p.c.d, p.now);
        run(&p, 60 * FL_TIME_SEC);
        if (p.c.connected && p.s.connected) {
            assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
            ok++;
        } else {
            /* too many losses in a row: it must fail by time-out, cleanly */
            assert_true(p.c.failed || p.s.failed || !p.s.connected);
        }
        free_pair(&p);
    }
    print_message("30%% loss: %u of 20 seeds connected\n", ok);
    assert_true(ok >= 15);
}

static void test_timeout(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    p.loss_pct = 100;
    fl_dtls_start(p.c.d, p.now);
    run(&p, 120 * FL_TIME_SEC);
    assert_true(p.c.failed);
    assert_int_equal(p.c.ev.err, FL_ETIMEDOUT);
    assert_int_equal(p.now, T0 + 31 * FL_TIME_SEC); /* 1+2+4+8+16 s */
    assert_int_equal(p.c.sent, 5);
    free_pair(&p);
}

static void test_mtu_500(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 500, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    fl_dtls_start(p.c.d, p.now);
    run(&p, 10 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_true(p.c.max_dgram <= 500);
    assert_true(p.s.max_dgram <= 500);
    print_message("MTU 500: %zu datagrams, largest %zu/%zu bytes\n", p.total, p.c.max_dgram,
                  p.s.max_dgram);
    assert_true(p.total > 4);
    assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    free_pair(&p);
}

/* Writes one record holding bytes [off, off+n) of the ClientHello in
 * `hello` (a whole one) as a handshake fragment. */
static size_t hello_fragment(const uint8_t *hello,
                             size_t off,
                             size_t n,
                             uint8_t rec_seq,
                             uint8_t *out)
{
    memcpy(out, hello, 25);
    out[10] = rec_seq;
    out[11] = (uint8_t)((12 + n) >> 8);
    out[12] = (uint8_t)(12 + n);
    out[19] = (uint8_t)(off >> 16);
    out[20] = (uint8_t)(off >> 8);
    out[21] = (uint8_t)off;
    out[22] = (uint8_t)(n >> 16);
    out[23] = (uint8_t)(n >> 8);
    out[24] = (uint8_t)n;
    memcpy(out + 25, hello + 25 + off, n);
    return 25 + n;
}

/* A ClientHello split into handshake fragments, arriving out of order in
 * separate datagrams (browsers split theirs once a large key share outgrows
 * one datagram; mbedTLS alone refuses that): the server puts it together. */
static void test_fragmented_client_hello(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    fl_dtls_start(p.c.d, p.now);
    fl_bytes hello;
    assert_int_equal(fl_dtls_poll_transmit(p.c.d, &hello), 0);
    assert_true(hello.len > 60 && hello.data[13] == 1);
    size_t body = hello.len - 25, cut = body / 3;
    uint8_t a[2048], b[2048];
    size_t alen = hello_fragment(hello.data, 0, cut, hello.data[10], a);
    size_t blen = hello_fragment(hello.data, cut, body - cut, (uint8_t)(hello.data[10] + 1), b);
    assert_int_equal(fl_dtls_handle_input(p.s.d, p.now, b, blen), 0);
    fl_bytes none;
    assert_int_equal(fl_dtls_poll_transmit(p.s.d, &none), FL_EAGAIN); /* half a hello */
    assert_int_equal(fl_dtls_handle_input(p.s.d, p.now, a, alen), 0);
    fl_bytes reply;
    assert_int_equal(fl_dtls_poll_transmit(p.s.d, &reply), 0); /* HelloVerifyRequest */
    assert_int_equal(fl_dtls_handle_input(p.c.d, p.now, reply.data, reply.len), 0);
    fl_bytes_deinit(&reply);
    fl_bytes_deinit(&hello);
    run(&p, 10 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    free_pair(&p);
}

static void test_garbage(void **state)
{
    (void)state;
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(cert_b), fl_cert_fingerprint(cert_a));
    uint8_t junk[100];
    fl_rand_fill(&rnd, junk, sizeof(junk));
    junk[0] = 22; /* looks like a handshake record */
    junk[1] = 0xfe;
    junk[2] = 0xfd;
    fl_dtls_handle_input(p.s.d, p.now, junk, 5);
    fl_dtls_start(p.c.d, p.now);
    fl_dtls_handle_input(p.s.d, p.now, junk, sizeof(junk));
    fl_dtls_handle_input(p.c.d, p.now, junk, sizeof(junk));
    run(&p, 10 * FL_TIME_SEC);
    if (!p.c.connected || !p.s.connected)
        print_message("client: %s / server: %s\n", p.c.ev.reason, p.s.ev.reason);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_true(fl_dtls_dropped(p.s.d) >= 1);
    /* after the handshake: junk, a forged application record, then real data */
    uint8_t forged[40] = { 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 27 };
    fl_dtls_handle_input(p.s.d, p.now, junk, sizeof(junk));
    fl_dtls_handle_input(p.s.d, p.now, forged, sizeof(forged));
    fl_dtls_handle_input(p.s.d, p.now, (const uint8_t *)"\x80garbage-rtp", 12);
    assert_int_equal(fl_dtls_get_state(p.s.d), FL_DTLS_STATE_CONNECTED);
    assert_int_equal(fl_dtls_send(p.c.d, "ok", 2), 0);
    run(&p, FL_TIME_SEC);
    fl_bytes g;
    assert_int_equal(fl_dtls_poll_data(p.s.d, &g), 0);
    assert_int_equal(g.len, 2);
    fl_bytes_deinit(&g);
    assert_int_equal(fl_dtls_poll_data(p.s.d, &g), FL_EAGAIN);
    free_pair(&p);
}

/* ---- cert ------------------------------------------------------------------ */

static void test_fingerprint_text(void **state)
{
    (void)state;
    const char *fp = fl_cert_fingerprint(cert_a);
    assert_int_equal(strlen(fp), 8 + 32 * 3 - 1);
    assert_memory_equal(fp, "sha-256 ", 8);
    size_t len;
    const uint8_t *der = fl_cert_der(cert_a, &len);
    fl_cert_fp f;
    assert_int_equal(fl_cert_fp_parse(&f, fp), 0);
    assert_int_equal(f.hash, FL_CERT_HASH_SHA256);
    assert_true(fl_cert_fp_matches(&f, der, len));
    size_t lb;
    const uint8_t *derb = fl_cert_der(cert_b, &lb);
    assert_false(fl_cert_fp_matches(&f, derb, lb));

    /* lower case and blanks, other hashes */
    char text[FL_CERT_FP_TEXT_MAX], lower[FL_CERT_FP_TEXT_MAX + 4];
    static const fl_cert_hash hs[] = { FL_CERT_HASH_SHA1, FL_CERT_HASH_SHA256, FL_CERT_HASH_SHA384,
                                       FL_CERT_HASH_SHA512 };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(fl_cert_fingerprint_der(der, len, hs[i], text, sizeof(text)), 0);
        snprintf(lower, sizeof(lower), "  %s ", text);
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        assert_int_equal(fl_cert_fp_parse(&f, lower), 0);
        assert_int_equal(f.hash, hs[i]);
        assert_true(fl_cert_fp_matches(&f, der, len));
    }
    assert_int_equal(fl_cert_fingerprint_der(der, len, FL_CERT_HASH_SHA256, text, 20), FL_ERANGE);
    assert_int_equal(fl_cert_fp_parse(&f, "md5 00:11"), FL_ENOTSUP);
    assert_int_equal(fl_cert_fp_parse(&f, "sha-256"), FL_EINVAL);
    assert_int_equal(fl_cert_fp_parse(&f, "sha-256 AB:CD"), FL_EINVAL);
    assert_int_equal(fl_cert_fp_parse(&f, "sha-1 AB:CD:"), FL_EINVAL);
    assert_int_equal(fl_cert_fp_parse(&f, ""), FL_EINVAL);
    /* a one-character change */
    strcpy(text, fp);
    text[strlen(text) - 1] = text[strlen(text) - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(fl_cert_fp_parse(&f, text), 0);
    assert_false(fl_cert_fp_matches(&f, der, len));
}

static void test_cert_copy_and_pem(void **state)
{
    (void)state;
    fl_cert *c;
    assert_int_equal(fl_cert_copy(&c, cert_a), 0);
    assert_string_equal(fl_cert_fingerprint(c), fl_cert_fingerprint(cert_a));
    fl_cert_destroy(c);
    /* same seed, same certificate; different seed, different one */
    fl_rand r1, r2;
    fl_cert *x, *y;
    fl_rand_seeded_init(&r1, 99);
    fl_rand_seeded_init(&r2, 99);
    assert_int_equal(fl_cert_generate(&x, "x", 1700000000, 86400, &r1), 0);
    assert_int_equal(fl_cert_generate(&y, "x", 1700000000, 86400, &r2), 0);
    assert_string_equal(fl_cert_fingerprint(x), fl_cert_fingerprint(y));
    fl_cert_destroy(y);
    assert_int_equal(fl_cert_generate(&y, "x", 1700000000, 86400, &r1), 0);
    assert_string_not_equal(fl_cert_fingerprint(x), fl_cert_fingerprint(y));
    fl_cert_destroy(x);
    fl_cert_destroy(y);
    assert_int_equal(fl_cert_generate(&x, "a,b", 1700000000, 86400, &r1), FL_EINVAL);
    assert_int_equal(fl_cert_generate(&x, "a", 1700000000, 0, &r1), FL_EINVAL);
    assert_int_equal(fl_cert_load_pem(&x, "junk", "junk"), FL_ETLS);
    assert_int_equal(fl_cert_load_file(&x, "/nonexistent.pem", NULL), FL_ETLS);
}

/* An RSA certificate made by openssl, loaded from files (Kurento's
 * pemCertificateRSA holds certificate and key in one file). */
static void test_load_rsa_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/fl_cert_XXXXXX", cmd[512], both[64];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem "
             "-days 2 -subj /CN=rsa 2>/dev/null && cat c.pem k.pem > both.pem && "
             "openssl x509 -in c.pem -noout -fingerprint -sha256 | sed 's/.*=//' > fp.txt",
             dir);
    assert_int_equal(system(cmd), 0);
    snprintf(both, sizeof(both), "%s/both.pem", dir);
    fl_cert *c;
    assert_int_equal(fl_cert_load_file(&c, both, NULL), 0);
    char path[64], expect[200] = "sha-256 ";
    snprintf(path, sizeof(path), "%s/fp.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(expect + 8, sizeof(expect) - 8, f));
    fclose(f);
    expect[strcspn(expect, "\n")] = '\0';
    assert_string_equal(fl_cert_fingerprint(c), expect);

    /* an RSA server talks to an ECDSA client */
    pair p;
    make_pair(&p, NULL, 0, 0, fl_cert_fingerprint(c), fl_cert_fingerprint(cert_a));
    fl_dtls_destroy(p.s.d);
    fl_dtls_config sc = { .cert = c, .role = FL_DTLS_ROLE_SERVER, .rand = &rnd };
    sc.remote_fingerprint = fl_cert_fingerprint(cert_a);
    assert_int_equal(fl_dtls_create(&p.s.d, &sc), 0);
    fl_dtls_start(p.c.d, p.now);
    run(&p, 10 * FL_TIME_SEC);
    assert_true(p.c.connected);
    assert_true(p.s.connected);
    assert_same_keys(&p, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    free_pair(&p);
    fl_cert_destroy(c);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_sha1_80),
        cmocka_unit_test(test_handshake_sha1_32),
        cmocka_unit_test(test_gcm_not_supported),
        cmocka_unit_test(test_wrong_fingerprint),
        cmocka_unit_test(test_fingerprint_later),
        cmocka_unit_test(test_drop_first_flight),
        cmocka_unit_test(test_random_loss),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_mtu_500),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_fragmented_client_hello),
        cmocka_unit_test(test_fingerprint_text),
        cmocka_unit_test(test_cert_copy_and_pem),
        cmocka_unit_test(test_load_rsa_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
