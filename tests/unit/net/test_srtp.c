/* net/srtp: SRTP/SRTCP through libsrtp2 on pooled buffers, for the three
 * DTLS-SRTP profiles and the two AES-256 (SDES) ones (whose packets are
 * checked against RFC 3711/6188 computed from scratch in test_srtp_crypto). Known-answer packets
 * are libsrtp's own srtp_validate() and srtp_validate_gcm() vectors (test/srtp_driver.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/srtp.h"

#include <cmocka.h>

#define HEADROOM 32
#define BUF_SIZE 1600

static const fl_srtp_profile profiles[] = {
    FL_SRTP_AES128_CM_HMAC_SHA1_80, FL_SRTP_AES128_CM_HMAC_SHA1_32, FL_SRTP_AEAD_AES_128_GCM,
    FL_SRTP_AES256_CM_HMAC_SHA1_80, FL_SRTP_AES256_CM_HMAC_SHA1_32,
};

/* ---- known-answer vectors ---- */

/* AES-CM: key (16) || salt (14). */
static const uint8_t kat_cm_master[30] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41,
    0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
};
/* AES-GCM: key (16) || salt (12). */
static const uint8_t kat_gcm_master[28] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
};
static const uint8_t kat_rtp[28] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
};
static const uint8_t kat_rtcp[24] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
};
/* AES_CM_128_HMAC_SHA1_80; the _32 profile sends the first 32 bytes. */
static const uint8_t kat_cm_srtp[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e,
    0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d,
    0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
};
/* SRTCP with HMAC_SHA1_80 (both AES-CM profiles). */
static const uint8_t kat_cm_srtcp[38] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4,
    0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00,
    0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
};
static const uint8_t kat_gcm_srtp[44] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e,
    0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97,
    0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92,
};
static const uint8_t kat_gcm_srtcp[44] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9, 0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a,
    0x55, 0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25, 0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3,
    0xb4, 0x46, 0xea, 0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01,
};

/* ---- helpers ---- */

typedef struct fixture {
    fl_srtp_profile profile;
    fl_buf_pool *pool;
    fl_srtp *out; /* sender */
    fl_srtp *in;  /* receiver, created separately from its own copy of the keys */
} fixture;

static void master_for(fl_srtp_profile profile, uint8_t seed, uint8_t *key, uint8_t *salt)
{
    for (size_t i = 0; i < fl_srtp_profile_key_len(profile); i++)
        key[i] = (uint8_t)(seed + 7 * i);
    for (size_t i = 0; i < fl_srtp_profile_salt_len(profile); i++)
        salt[i] = (uint8_t)(seed ^ (0x5a + 3 * i));
}

static fl_srtp *make_session(fl_srtp_profile profile,
                             fl_srtp_direction dir,
                             uint8_t seed,
                             uint32_t window)
{
    uint8_t key[FL_SRTP_MAX_KEY_LEN], salt[FL_SRTP_MAX_SALT_LEN];
    master_for(profile, seed, key, salt);
    fl_srtp_config cfg = {
        .profile = profile,
        .direction = dir,
        .key = key,
        .key_len = fl_srtp_profile_key_len(profile),
        .salt = salt,
        .salt_len = fl_srtp_profile_salt_len(profile),
        .replay_window = window,
    };
    fl_srtp *s = NULL;
    assert_int_equal(fl_srtp_create(&s, &cfg), 0);
    assert_non_null(s);
    return s;
}

static fl_srtp *make_kat_session(fl_srtp_profile profile, fl_srtp_direction dir)
{
    const uint8_t *m = profile == FL_SRTP_AEAD_AES_128_GCM ? kat_gcm_master : kat_cm_master;
    fl_srtp_config cfg = {
        .profile = profile,
        .direction = dir,
        .key = m,
        .key_len = 16,
        .salt = m + 16,
        .salt_len = fl_srtp_profile_salt_len(profile),
    };
    fl_srtp *s = NULL;
    assert_int_equal(fl_srtp_create(&s, &cfg), 0);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->profile = *(const fl_srtp_profile *)*state;
    assert_int_equal(fl_buf_pool_create(&f->pool, BUF_SIZE, HEADROOM, 8, 0), 0);
    f->out = make_session(f->profile, FL_SRTP_OUTBOUND, 1, 0);
    f->in = make_session(f->profile, FL_SRTP_INBOUND, 1, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fl_srtp_destroy(f->out);
    fl_srtp_destroy(f->in);
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(f->pool, &st);
    if (st.in_use == 0) /* a failed test leaves buffers out: leak the pool */
        fl_buf_pool_destroy(f->pool);
    free(f);
    return 0;
}

/* Writes an RTP packet (header + payload_len bytes) into buf. */
static void fill_rtp(fl_buf *b, uint32_t ssrc, uint16_t seq, size_t payload_len)
{
    uint8_t *p = fl_buf_data(b);
    uint32_t ts = (uint32_t)seq * 3000u;
    p[0] = 0x80;
    p[1] = 96;
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    p[4] = (uint8_t)(ts >> 24);
    p[5] = (uint8_t)(ts >> 16);
    p[6] = (uint8_t)(ts >> 8);
    p[7] = (uint8_t)ts;
    p[8] = (uint8_t)(ssrc >> 24);
    p[9] = (uint8_t)(ssrc >> 16);
    p[10] = (uint8_t)(ssrc >> 8);
    p[11] = (uint8_t)ssrc;
    for (size_t i = 0; i < payload_len; i++)
        p[12 + i] = (uint8_t)(i * 31 + seq + ssrc);
    assert_int_equal(fl_buf_set_len(b, 12 + payload_len), 0);
}

/* A sender report with one report block: 52 bytes. */
static void fill_rtcp(fl_buf *b, uint32_t ssrc)
{
    uint8_t *p = fl_buf_data(b);
    memset(p, 0, 52);
    p[0] = 0x81;
    p[1] = 200;
    p[3] = 12;
    p[4] = (uint8_t)(ssrc >> 24);
    p[5] = (uint8_t)(ssrc >> 16);
    p[6] = (uint8_t)(ssrc >> 8);
    p[7] = (uint8_t)ssrc;
    for (size_t i = 8; i < 52; i++)
        p[i] = (uint8_t)(i * 13);
    assert_int_equal(fl_buf_set_len(b, 52), 0);
}

static fl_buf *get(fixture *f)
{
    fl_buf *b = fl_buf_pool_get(f->pool);
    assert_non_null(b);
    return b;
}

/* Protects one RTP packet and unprotects it; checks the bytes come back. */
static void round_trip(fixture *f, fl_srtp *out, fl_srtp *in, uint32_t ssrc, uint16_t seq)
{
    fl_buf *b = get(f);
    fill_rtp(b, ssrc, seq, 200);
    uint8_t orig[212];
    memcpy(orig, fl_buf_data(b), sizeof(orig));
    assert_int_equal(fl_srtp_protect(out, b), 0);
    assert_int_equal(b->len, sizeof(orig) + fl_srtp_trailer_len(out, 0));
    assert_memory_equal(fl_buf_data(b), orig, 12); /* header in the clear */
    assert_memory_not_equal(fl_buf_data(b) + 12, orig + 12, 200);
    assert_int_equal(fl_srtp_unprotect(in, b), 0);
    assert_int_equal(b->len, sizeof(orig));
    assert_memory_equal(fl_buf_data(b), orig, sizeof(orig));
    fl_buf_unref(b);
}

/* ---- tests ---- */

static void test_round_trip_rtp(void **state)
{
    fixture *f = *state;
    for (uint16_t seq = 100; seq < 120; seq++)
        round_trip(f, f->out, f->in, 0x11223344, seq);
    fl_srtp_stats st;
    fl_srtp_get_stats(f->out, &st);
    assert_int_equal(st.rtp_protected, 20);
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.rtp_unprotected, 20);
    assert_int_equal(st.replay_drops + st.auth_failures + st.bad_packets + st.other_errors, 0);
}

static void test_round_trip_rtcp(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 5; i++) {
        fl_buf *b = get(f);
        fill_rtcp(b, 0xabcdef01);
        uint8_t orig[52];
        memcpy(orig, fl_buf_data(b), sizeof(orig));
        assert_int_equal(fl_srtp_protect_rtcp(f->out, b), 0);
        assert_int_equal(b->len, sizeof(orig) + fl_srtp_trailer_len(f->out, 1));
        assert_memory_equal(fl_buf_data(b), orig, 8);
        assert_memory_not_equal(fl_buf_data(b) + 8, orig + 8, sizeof(orig) - 8);
        /* E flag set, SRTCP index counts from 1; it precedes the HMAC tag
         * (RFC 3711 3.4) but follows the GCM ciphertext and tag (RFC 7714 9.1) */
        const uint8_t *idx = f->profile == FL_SRTP_AEAD_AES_128_GCM ? fl_buf_data(b) + b->len - 4
                                                                    : fl_buf_data(b) + sizeof(orig);
        assert_int_equal(idx[0], 0x80);
        assert_int_equal(idx[3], i + 1);
        assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), 0);
        assert_int_equal(b->len, sizeof(orig));
        assert_memory_equal(fl_buf_data(b), orig, sizeof(orig));
        fl_buf_unref(b);
    }
    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.rtcp_unprotected, 5);
}

static void test_replay(void **state)
{
    fixture *f = *state;
    fl_buf *b = get(f), *copy = get(f);
    fill_rtp(b, 0x01020304, 500, 100);
    assert_int_equal(fl_srtp_protect(f->out, b), 0);
    memcpy(fl_buf_data(copy), fl_buf_data(b), b->len);
    assert_int_equal(fl_buf_set_len(copy, b->len), 0);
    assert_int_equal(fl_srtp_unprotect(f->in, b), 0);
    assert_int_equal(fl_srtp_unprotect(f->in, copy), FL_SRTP_EREPLAY);

    /* RTCP as well */
    fill_rtcp(b, 0x01020304);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), 0);
    memcpy(fl_buf_data(copy), fl_buf_data(b), b->len);
    assert_int_equal(fl_buf_set_len(copy, b->len), 0);
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), 0);
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, copy), FL_SRTP_EREPLAY);

    /* The sender refuses to reuse a sequence number (keystream reuse). */
    fill_rtp(b, 0x01020304, 500, 100);
    assert_int_equal(fl_srtp_protect(f->out, b), FL_SRTP_EREPLAY);

    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.replay_drops, 2);
    assert_int_equal(st.auth_failures, 0);
    fl_buf_unref(b);
    fl_buf_unref(copy);
}

/* Packets older than the window are dropped; inside it, late ones pass. */
static void test_replay_window(void **state)
{
    fixture *f = *state;
    fl_srtp *in = make_session(f->profile, FL_SRTP_INBOUND, 1, 0);

    enum {
        N = 1100
    };

    fl_buf *late_ok = get(f), *too_old = get(f);
    for (uint16_t seq = 0; seq < N; seq++) {
        fl_buf *b = get(f);
        fill_rtp(b, 7, seq, 40);
        assert_int_equal(fl_srtp_protect(f->out, b), 0);
        if (seq == 50 || seq == N - 1000) {
            fl_buf *keep = seq == 50 ? too_old : late_ok;
            memcpy(fl_buf_data(keep), fl_buf_data(b), b->len);
            assert_int_equal(fl_buf_set_len(keep, b->len), 0);
        } else {
            assert_int_equal(fl_srtp_unprotect(in, b), 0);
        }
        fl_buf_unref(b);
    }
    /* window 1024 by default: N-1000 is inside, 50 is not */
    assert_int_equal(fl_srtp_unprotect(in, late_ok), 0);
    assert_int_equal(fl_srtp_unprotect(in, too_old), FL_SRTP_EREPLAY);
    fl_buf_unref(late_ok);
    fl_buf_unref(too_old);
    fl_srtp_destroy(in);
}

static void test_bit_flip(void **state)
{
    fixture *f = *state;
    size_t where[] = { 1, 3, 11, 12, 100, 211, 212 /* first tag byte */ };
    fl_buf *genuine = get(f);
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        fl_buf *b = get(f);
        fill_rtp(b, 0x55667788, (uint16_t)(1000 + i), 200);
        assert_int_equal(fl_srtp_protect(f->out, b), 0);
        if (i == 0) {
            memcpy(fl_buf_data(genuine), fl_buf_data(b), b->len);
            assert_int_equal(fl_buf_set_len(genuine, b->len), 0);
        }
        fl_buf_data(b)[where[i]] ^= 0x04;
        assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EAUTH);
        fl_buf_unref(b);
    }
    fl_buf *b = get(f);
    fill_rtcp(b, 0x55667788);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), 0);
    fl_buf_data(b)[20] ^= 0x80;
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), FL_EAUTH);
    fl_buf_unref(b);

    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.auth_failures, 8);
    assert_int_equal(st.rtp_unprotected, 0);
    /* forged packets do not advance the replay window: the genuine packet
     * with the first forged sequence number still gets through */
    assert_int_equal(fl_srtp_unprotect(f->in, genuine), 0);
    fl_buf_unref(genuine);
}

static void test_wrong_key(void **state)
{
    fixture *f = *state;
    fl_srtp *other = make_session(f->profile, FL_SRTP_OUTBOUND, 2, 0);
    fl_buf *b = get(f);
    fill_rtp(b, 0x99, 1, 300);
    assert_int_equal(fl_srtp_protect(other, b), 0);
    assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EAUTH);
    fill_rtcp(b, 0x99);
    assert_int_equal(fl_srtp_protect_rtcp(other, b), 0);
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), FL_EAUTH);
    fl_buf_unref(b);
    fl_srtp_destroy(other);
    /* the right key still works for that SSRC afterwards */
    round_trip(f, f->out, f->in, 0x99, 1);
}

/* 16-bit sequence numbers wrap; the rollover counter keeps the index going. */
static void test_seq_wrap(void **state)
{
    fixture *f = *state;
    uint16_t seq = 65500;
    for (int i = 0; i < 100; i++, seq++)
        round_trip(f, f->out, f->in, 0x0badcafe, seq);
    assert_true(seq < 100);
    /* a receiver that missed every packet before the wrap (dropped before
     * its DTLS handshake was done) takes the rollover counter as 0: the
     * first packet fails at 0 and authenticates at 1, and so do the rest */
    fl_srtp *late = make_session(f->profile, FL_SRTP_INBOUND, 1, 0);
    for (int i = 0; i < 20; i++, seq++)
        round_trip(f, f->out, late, 0x0badcafe, seq);
    fl_srtp_stats st;
    fl_srtp_get_stats(late, &st);
    assert_int_equal(st.roc_guessed, 1);
    assert_int_equal(st.auth_failures, 0);
    assert_int_equal(st.rtp_unprotected, 20);
    /* the same when the sender's report came first (libsrtp then has a
     * stream for the SSRC, at 0, before any RTP of it) */
    fl_srtp *late2 = make_session(f->profile, FL_SRTP_INBOUND, 1, 0);
    fl_buf *r = get(f);
    fill_rtcp(r, 0x0badcafe);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, r), 0);
    assert_int_equal(fl_srtp_unprotect_rtcp(late2, r), 0);
    fl_buf_unref(r);
    for (int i = 0; i < 20; i++, seq++)
        round_trip(f, f->out, late2, 0x0badcafe, seq);
    fl_srtp_get_stats(late2, &st);
    assert_int_equal(st.roc_guessed, 1);
    assert_int_equal(st.rtp_unprotected, 20);
    fl_srtp_destroy(late2);
    /* the stream the guess made is an ordinary one: a replay is refused */
    fl_buf *b = get(f), *copy = get(f);
    fill_rtp(b, 0x0badcafe, seq, 100);
    assert_int_equal(fl_srtp_protect(f->out, b), 0);
    memcpy(fl_buf_data(copy), fl_buf_data(b), b->len);
    assert_int_equal(fl_buf_set_len(copy, b->len), 0);
    assert_int_equal(fl_srtp_unprotect(late, b), 0);
    assert_int_equal(fl_srtp_unprotect(late, copy), FL_SRTP_EREPLAY);
    fl_buf_unref(b);
    fl_buf_unref(copy);
    fl_srtp_destroy(late);
}

/* A packet that authenticates at no rollover counter (a wrong key, junk)
 * is refused, the guesses are bounded, and a stream at 0 is unaffected. */
static void test_roc_guess_bounded(void **state)
{
    fixture *f = *state;
    fl_srtp *other = make_session(f->profile, FL_SRTP_OUTBOUND, 2, 0);
    for (uint32_t i = 0; i < FL_SRTP_ROC_GUESSES + 4; i++) {
        fl_buf *b = get(f);
        fill_rtp(b, 0x1000 + i, (uint16_t)i, 100);
        assert_int_equal(fl_srtp_protect(other, b), 0);
        assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EAUTH);
        fl_buf_unref(b);
    }
    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.roc_guessed, 0);
    assert_int_equal(st.auth_failures, FL_SRTP_ROC_GUESSES + 4);
    /* no guess left: a stream whose first packets were missed past a wrap
     * stays refused, one that starts at 0 still goes through */
    for (uint16_t seq = 65530; seq != 3; seq++) {
        fl_buf *b = get(f);
        fill_rtp(b, 0x0badcafe, seq, 100);
        assert_int_equal(fl_srtp_protect(f->out, b), 0);
        fl_buf_unref(b);
    }
    fl_buf *b = get(f);
    fill_rtp(b, 0x0badcafe, 3, 100);
    assert_int_equal(fl_srtp_protect(f->out, b), 0);
    assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EAUTH);
    fl_buf_unref(b);
    round_trip(f, f->out, f->in, 0x0badf00d, 7);
    fl_srtp_destroy(other);
}

/* A guess that fails leaves the stream SRTCP made as it was, at 0. */
static void test_roc_guess_undone(void **state)
{
    fixture *f = *state;
    fl_srtp *other = make_session(f->profile, FL_SRTP_OUTBOUND, 2, 0);
    fl_buf *b = get(f);
    fill_rtcp(b, 0x0badcafe);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), 0);
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), 0);
    fl_buf_unref(b);
    for (int i = 0; i < 3; i++) {
        b = get(f);
        fill_rtp(b, 0x0badcafe, (uint16_t)(100 + i), 100);
        assert_int_equal(fl_srtp_protect(other, b), 0); /* a forgery: another key */
        assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EAUTH);
        fl_buf_unref(b);
    }
    for (uint16_t seq = 90; seq < 110; seq++)
        round_trip(f, f->out, f->in, 0x0badcafe, seq);
    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.roc_guessed, 0);
    assert_int_equal(st.auth_failures, 3);
    fl_srtp_destroy(other);
}

static void test_many_ssrcs(void **state)
{
    fixture *f = *state;
    for (uint16_t seq = 0; seq < 3; seq++)
        for (uint32_t ssrc = 1; ssrc <= 300; ssrc++)
            round_trip(f, f->out, f->in, ssrc * 0x01000193u, (uint16_t)(seq + ssrc));
    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.rtp_unprotected, 900);
}

static void test_tailroom(void **state)
{
    fixture *f = *state;
    size_t tag = fl_srtp_trailer_len(f->out, 0);
    fl_buf *b = get(f);
    size_t cap_payload = BUF_SIZE; /* headroom + BUF_SIZE bytes in all */

    /* one byte short */
    fill_rtp(b, 0x42, 1, cap_payload - 12 - tag + 1);
    assert_int_equal(fl_buf_tailroom(b), tag - 1);
    size_t len = b->len;
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EMSGSIZE);
    assert_int_equal(b->len, len);

    /* exactly enough */
    fill_rtp(b, 0x42, 1, cap_payload - 12 - tag);
    assert_int_equal(fl_srtp_protect(f->out, b), 0);
    assert_int_equal(fl_buf_tailroom(b), 0);
    assert_int_equal(fl_srtp_unprotect(f->in, b), 0);

    /* RTCP needs the tag and the index word */
    size_t rtcp_trailer = fl_srtp_trailer_len(f->out, 1);
    fill_rtcp(b, 0x42);
    assert_int_equal(fl_buf_set_len(b, cap_payload - rtcp_trailer + 1), 0);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), FL_EMSGSIZE);

    fl_srtp_stats st;
    fl_srtp_get_stats(f->out, &st);
    assert_int_equal(st.other_errors, 2);
    fl_buf_unref(b);
}

/* protect writes its trailer and not one byte more. */
static void test_trailer_bound(void **state)
{
    fixture *f = *state;
    fl_buf *b = get(f);
    fill_rtp(b, 0x43, 9, 100);
    memset(fl_buf_data(b) + b->len, 0xee, fl_buf_tailroom(b));
    assert_int_equal(fl_srtp_protect(f->out, b), 0);
    for (size_t i = 0; i < fl_buf_tailroom(b); i++)
        assert_int_equal(fl_buf_data(b)[b->len + i], 0xee);
    fill_rtcp(b, 0x43);
    memset(fl_buf_data(b) + b->len, 0xee, fl_buf_tailroom(b));
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), 0);
    for (size_t i = 0; i < fl_buf_tailroom(b); i++)
        assert_int_equal(fl_buf_data(b)[b->len + i], 0xee);
    fl_buf_unref(b);
}

static void test_bad_input(void **state)
{
    fixture *f = *state;
    fl_buf *b = get(f);
    /* too short */
    fill_rtp(b, 1, 1, 0);
    assert_int_equal(fl_buf_set_len(b, 11), 0);
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EBADMSG);
    assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EBADMSG);
    /* header only, no room for a tag */
    fill_rtp(b, 1, 1, 0);
    assert_int_equal(fl_srtp_unprotect(f->in, b), FL_EBADMSG);
    /* version 1 */
    fill_rtp(b, 1, 1, 50);
    fl_buf_data(b)[0] = 0x40;
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EBADMSG);
    /* CSRC count beyond the packet */
    fill_rtp(b, 1, 1, 8);
    fl_buf_data(b)[0] = 0x8f;
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EBADMSG);
    /* extension length beyond the packet */
    fill_rtp(b, 1, 1, 8);
    fl_buf_data(b)[0] = 0x90;
    fl_buf_data(b)[14] = 0xff;
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EBADMSG);
    /* RTCP too short */
    fill_rtcp(b, 1);
    assert_int_equal(fl_buf_set_len(b, 7), 0);
    assert_int_equal(fl_srtp_protect_rtcp(f->out, b), FL_EBADMSG);
    assert_int_equal(fl_srtp_unprotect_rtcp(f->in, b), FL_EBADMSG);
    /* wrong direction */
    fill_rtp(b, 1, 1, 50);
    assert_int_equal(fl_srtp_unprotect(f->out, b), FL_ESTATE);
    assert_int_equal(fl_srtp_protect(f->in, b), FL_ESTATE);
    /* shared buffer is read-only */
    fl_buf_ref(b);
    assert_int_equal(fl_srtp_protect(f->out, b), FL_EBUSY);
    fl_buf_unref(b);
    fl_buf_unref(b);

    fl_srtp_stats st;
    fl_srtp_get_stats(f->in, &st);
    assert_int_equal(st.bad_packets, 3);
    assert_int_equal(st.rtp_unprotected, 0);
}

/* Tag sizes on the wire, and the known-answer packets. */
static void test_wire_format(void **state)
{
    fixture *f = *state;
    int gcm = f->profile == FL_SRTP_AEAD_AES_128_GCM;
    int short_tag = f->profile == FL_SRTP_AES128_CM_HMAC_SHA1_32 ||
                    f->profile == FL_SRTP_AES256_CM_HMAC_SHA1_32;
    size_t rtp_tag = gcm ? 16 : short_tag ? 4 : 10;
    size_t rtcp_tag = gcm ? 16 : 10;
    assert_int_equal(fl_srtp_trailer_len(f->out, 0), rtp_tag);
    assert_int_equal(fl_srtp_trailer_len(f->in, 0), rtp_tag);
    assert_int_equal(fl_srtp_trailer_len(f->out, 1), rtcp_tag + 4);
    if (f->profile == FL_SRTP_AES256_CM_HMAC_SHA1_80 ||
        f->profile == FL_SRTP_AES256_CM_HMAC_SHA1_32)
        return; /* libsrtp has no vector for these: test_srtp_crypto */

    const uint8_t *srtp = gcm ? kat_gcm_srtp : kat_cm_srtp;
    const uint8_t *srtcp = gcm ? kat_gcm_srtcp : kat_cm_srtcp;
    fl_srtp *out = make_kat_session(f->profile, FL_SRTP_OUTBOUND);
    fl_srtp *in = make_kat_session(f->profile, FL_SRTP_INBOUND);

    fl_buf *b = get(f);
    memcpy(fl_buf_data(b), kat_rtp, sizeof(kat_rtp));
    assert_int_equal(fl_buf_set_len(b, sizeof(kat_rtp)), 0);
    assert_int_equal(fl_srtp_protect(out, b), 0);
    assert_int_equal(b->len, sizeof(kat_rtp) + rtp_tag);
    assert_memory_equal(fl_buf_data(b), srtp, b->len);
    assert_int_equal(fl_srtp_unprotect(in, b), 0);
    assert_memory_equal(fl_buf_data(b), kat_rtp, sizeof(kat_rtp));

    memcpy(fl_buf_data(b), kat_rtcp, sizeof(kat_rtcp));
    assert_int_equal(fl_buf_set_len(b, sizeof(kat_rtcp)), 0);
    assert_int_equal(fl_srtp_protect_rtcp(out, b), 0);
    assert_int_equal(b->len, sizeof(kat_rtcp) + rtcp_tag + 4);
    assert_memory_equal(fl_buf_data(b), srtcp, b->len);
    assert_int_equal(fl_srtp_unprotect_rtcp(in, b), 0);
    assert_memory_equal(fl_buf_data(b), kat_rtcp, sizeof(kat_rtcp));

    fl_buf_unref(b);
    fl_srtp_destroy(out);
    fl_srtp_destroy(in);
}

/* Profiles do not interoperate with each other: a _32 receiver rejects _80. */
static void test_profile_mismatch(void **state)
{
    (void)state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 2, 0), 0);
    fl_srtp *out = make_session(FL_SRTP_AES128_CM_HMAC_SHA1_80, FL_SRTP_OUTBOUND, 3, 0);
    fl_srtp *in = make_session(FL_SRTP_AES128_CM_HMAC_SHA1_32, FL_SRTP_INBOUND, 3, 0);
    fl_buf *b = fl_buf_pool_get(pool);
    fill_rtp(b, 5, 5, 100);
    assert_int_equal(fl_srtp_protect(out, b), 0);
    assert_int_equal(fl_srtp_unprotect(in, b), FL_EAUTH);
    fl_buf_unref(b);
    fl_srtp_destroy(out);
    fl_srtp_destroy(in);
    fl_buf_pool_destroy(pool);
}

static void test_config(void **state)
{
    (void)state;
    assert_int_equal(fl_srtp_init(), 0);
    assert_int_equal(fl_srtp_init(), 0);
    uint8_t key[16] = { 0 }, salt[14] = { 0 };
    fl_srtp_config cfg = {
        .profile = FL_SRTP_AES128_CM_HMAC_SHA1_80,
        .direction = FL_SRTP_INBOUND,
        .key = key,
        .key_len = 16,
        .salt = salt,
        .salt_len = 14,
    };
    fl_srtp *s = NULL;
    fl_srtp_config bad = cfg;
    bad.salt_len = 12; /* GCM salt length with a CM profile */
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
    bad = cfg;
    bad.profile = (fl_srtp_profile)0x0005;
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
    bad = cfg;
    bad.direction = 0;
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
    bad = cfg;
    bad.replay_window = 32;
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
    bad = cfg;
    bad.key = NULL;
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
    assert_null(s);
    cfg.replay_window = 4096;
    assert_int_equal(fl_srtp_create(&s, &cfg), 0);
    fl_srtp_destroy(s);
    fl_srtp_destroy(NULL);
    assert_int_equal(fl_srtp_profile_salt_len(FL_SRTP_AEAD_AES_128_GCM), 12);
    assert_string_equal(fl_srtp_profile_name(FL_SRTP_AES128_CM_HMAC_SHA1_32),
                        "SRTP_AES128_CM_HMAC_SHA1_32");
    assert_int_equal(fl_srtp_profile_key_len(FL_SRTP_AES256_CM_HMAC_SHA1_80), 32);
    assert_int_equal(fl_srtp_profile_salt_len(FL_SRTP_AES256_CM_HMAC_SHA1_32), 14);
    assert_string_equal(fl_srtp_profile_name(FL_SRTP_AES256_CM_HMAC_SHA1_32),
                        "SRTP_AES256_CM_HMAC_SHA1_32");
    bad = cfg; /* a 128-bit key for an AES-256 profile */
    bad.profile = FL_SRTP_AES256_CM_HMAC_SHA1_80;
    assert_int_equal(fl_srtp_create(&s, &bad), FL_EINVAL);
}

#define PER_PROFILE(fn)                                                                          \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&profiles[0]),         \
            cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&profiles[1]), \
            cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&profiles[2]), \
            cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&profiles[3]), \
            cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&profiles[4])

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),      cmocka_unit_test(test_profile_mismatch),
        PER_PROFILE(test_round_trip_rtp),   PER_PROFILE(test_round_trip_rtcp),
        PER_PROFILE(test_replay),           PER_PROFILE(test_replay_window),
        PER_PROFILE(test_bit_flip),         PER_PROFILE(test_wrong_key),
        PER_PROFILE(test_seq_wrap),         PER_PROFILE(test_roc_guess_bounded),
        PER_PROFILE(test_roc_guess_undone), PER_PROFILE(test_many_ssrcs),
        PER_PROFILE(test_tailroom),         PER_PROFILE(test_trailer_bound),
        PER_PROFILE(test_bad_input),        PER_PROFILE(test_wire_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
