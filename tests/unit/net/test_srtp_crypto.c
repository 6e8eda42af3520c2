/* net/srtp_crypto: libsrtp2 running on OpenSSL's libcrypto (production)
 * and on the mbedTLS AES-ICM and HMAC-SHA1 (the benchmark's other back end).
 * AES-128 (RFC 3711) and AES-256 (RFC 6188: the same key derivation and
 * counter mode with the 256-bit cipher and a 32-byte session key), 80- and
 * 32-bit tags, and AES-128-GCM (RFC 7714).
 * - Each OpenSSL type passes libsrtp2's self-test (its known answers, RFC
 *   3711 B.2, RFC 6188 7.1, RFC 2202, the GCM specification's case 4, and
 *   random round trips) and the kernel takes them.
 * - Every packet fl_srtp protects is checked against RFC 3711 computed here
 *   from scratch (key derivation 4.3, AES-CM 4.1.1, HMAC-SHA1 4.2.1) with
 *   mbedTLS's own CTR mode and one-shot HMAC, for payload lengths around and
 *   between AES block boundaries and for rollover counters past zero.
 * - The same keys and packets give the same bytes on OpenSSL as on mbedTLS
 *   (ICM, HMAC) and on libsrtp2's own back end (GCM), RTP and RTCP, and
 *   each side unprotects the other's.
 * - OpenSSL allocates nothing per packet once a session exists (its
 *   allocations are counted through CRYPTO_set_mem_functions). */
#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>

#include "base/buf.h"
#include "net/srtp.h"
#include "net/srtp_crypto.h"

#include <cmocka.h>

#define HEADROOM 32
#define BUF_SIZE 2048

static const uint8_t master_key[32] = {
    0x3c, 0x11, 0x9a, 0x02, 0x7d, 0xe5, 0x40, 0xb8, 0x91, 0x0f, 0x6e, 0x23, 0xc4, 0x58, 0xaa, 0x17,
    0x8e, 0x42, 0x07, 0xd3, 0x19, 0xa4, 0x6b, 0xf0, 0x25, 0xc8, 0x73, 0x0e, 0xbb, 0x51, 0x96, 0x2d,
};

/* The profile under test: key length (16 or 32) and SRTP tag (10 or 4). */
typedef struct variant {
    fl_srtp_profile profile;
    size_t key_len, tag_len;
} variant;

static const variant variants[] = {
    { FL_SRTP_AES128_CM_HMAC_SHA1_80, 16, 10 },
    { FL_SRTP_AES256_CM_HMAC_SHA1_80, 32, 10 },
    { FL_SRTP_AES256_CM_HMAC_SHA1_32, 32, 4 },
};
static const variant *cur = &variants[0];
static const uint8_t master_salt[14] = {
    0x60, 0x2e, 0x94, 0xd1, 0x0b, 0x77, 0x3a, 0xfe, 0x15, 0xc9, 0x82, 0x4d, 0x36, 0xe0,
};

/* AES-CM keystream from a 16-byte IV into out (mbedTLS's generic CTR). */
static void keystream(const uint8_t *key, const uint8_t iv[16], uint8_t *out, size_t n)
{
    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    assert_int_equal(mbedtls_aes_setkey_enc(&aes, key, (unsigned)cur->key_len * 8), 0);
    uint8_t ctr[16], block[16];
    memcpy(ctr, iv, 16);
    size_t off = 0;
    memset(out, 0, n);
    assert_int_equal(mbedtls_aes_crypt_ctr(&aes, n, &off, ctr, block, out, out), 0);
    mbedtls_aes_free(&aes);
}

/* RFC 3711 4.3.1 with key_derivation_rate 0 (RFC 6188 4.1 for AES-256:
 * the PRF is AES-256 in counter mode under the 256-bit master key). */
static void derive(uint8_t label, uint8_t *out, size_t n)
{
    uint8_t iv[16] = { 0 };
    memcpy(iv, master_salt, 14);
    iv[7] ^= label;
    keystream(master_key, iv, out, n);
}

/* The SRTP packet RFC 3711 gives for an RTP packet, HMAC-SHA1-80. */
static size_t reference_protect(const uint8_t *rtp, size_t len, uint32_t roc, uint8_t *out)
{
    uint8_t k_e[32], k_a[20], k_s[14];
    derive(0x00, k_e, cur->key_len);
    derive(0x01, k_a, sizeof k_a);
    derive(0x02, k_s, sizeof k_s);
    uint8_t iv[16] = { 0 };
    memcpy(iv, k_s, 14);
    for (int i = 0; i < 4; i++) {
        iv[4 + i] ^= rtp[8 + i];                     /* SSRC */
        iv[8 + i] ^= (uint8_t)(roc >> (24 - 8 * i)); /* ROC */
    }
    iv[12] ^= rtp[2]; /* SEQ */
    iv[13] ^= rtp[3];
    memcpy(out, rtp, len);
    uint8_t *ks = malloc(len);
    assert_non_null(ks);
    keystream(k_e, iv, ks, len - 12);
    for (size_t i = 12; i < len; i++)
        out[i] ^= ks[i - 12];
    free(ks);
    uint8_t *auth = malloc(len + 4), tag[20];
    assert_non_null(auth);
    memcpy(auth, out, len);
    for (int i = 0; i < 4; i++)
        auth[len + i] = (uint8_t)(roc >> (24 - 8 * i));
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), k_a, sizeof k_a,
                                     auth, len + 4, tag),
                     0);
    free(auth);
    memcpy(out + len, tag, cur->tag_len);
    return len + cur->tag_len;
}

static fl_srtp *session(fl_srtp_direction dir)
{
    fl_srtp_config cfg = {
        .profile = cur->profile,
        .direction = dir,
        .key = master_key,
        .key_len = cur->key_len,
        .salt = master_salt,
        .salt_len = sizeof master_salt,
    };
    fl_srtp *s = NULL;
    assert_int_equal(fl_srtp_create(&s, &cfg), 0);
    return s;
}

static void fill(uint8_t *p, uint16_t seq, size_t len)
{
    static const uint8_t header[12] = { 0x80, 0x60, 0,    0,    0x00, 0x01,
                                        0x5f, 0x90, 0xde, 0xad, 0xbe, 0xef };
    memcpy(p, header, 12);
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    for (size_t i = 12; i < len; i++)
        p[i] = (uint8_t)(i * 13 + seq);
}

/* libsrtp2 accepts the types again: its known-answer and random round-trip
 * tests pass against them. */
static void test_install(void **state)
{
    (void)state;
    assert_int_equal(fl_srtp_init(), 0);
    assert_int_equal(fl__srtp_crypto_install(), 0);
    assert_int_equal(srtp_cipher_type_self_test(fl__srtp_ossl_icm128), srtp_err_status_ok);
    assert_int_equal(srtp_cipher_type_self_test(fl__srtp_ossl_icm256), srtp_err_status_ok);
    assert_int_equal(srtp_cipher_type_self_test(fl__srtp_ossl_gcm128), srtp_err_status_ok);
    assert_int_equal(srtp_auth_type_self_test(fl__srtp_ossl_hmac), srtp_err_status_ok);
}

/* Payloads of 0 to 70 bytes and around 1200, every one equal to RFC 3711
 * computed independently, and back. */
static void test_against_reference(void **state)
{
    cur = *state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_srtp *out = session(FL_SRTP_OUTBOUND);
    fl_srtp *in = session(FL_SRTP_INBOUND);
    uint16_t seq = 100;
    uint8_t rtp[1300], want[1400];
    for (size_t payload = 0; payload <= 1210; payload = payload == 70 ? 1180 : payload + 1) {
        size_t len = 12 + payload;
        fill(rtp, seq, len);
        size_t want_len = reference_protect(rtp, len, 0, want);
        fl_buf *b = fl_buf_pool_get(pool);
        memcpy(fl_buf_data(b), rtp, len);
        assert_int_equal(fl_buf_set_len(b, len), 0);
        assert_int_equal(fl_srtp_protect(out, b), 0);
        assert_int_equal(b->len, want_len);
        assert_memory_equal(fl_buf_data(b), want, want_len);
        assert_int_equal(fl_srtp_unprotect(in, b), 0);
        assert_int_equal(b->len, len);
        assert_memory_equal(fl_buf_data(b), rtp, len);
        fl_buf_unref(b);
        seq++;
    }
    fl_srtp_destroy(out);
    fl_srtp_destroy(in);
    fl_buf_pool_destroy(pool);
}

/* Past a sequence wrap the rollover counter enters the IV and the tag. */
static void test_rollover(void **state)
{
    cur = *state;
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_srtp *out = session(FL_SRTP_OUTBOUND);
    uint8_t rtp[200], want[220];
    uint32_t roc = 0;
    for (uint32_t i = 0; i < 8; i++) {
        uint16_t seq = (uint16_t)(65532 + i);
        roc = seq < 65532 ? 1 : 0;
        fill(rtp, seq, sizeof rtp);
        size_t want_len = reference_protect(rtp, sizeof rtp, roc, want);
        fl_buf *b = fl_buf_pool_get(pool);
        memcpy(fl_buf_data(b), rtp, sizeof rtp);
        assert_int_equal(fl_buf_set_len(b, sizeof rtp), 0);
        assert_int_equal(fl_srtp_protect(out, b), 0);
        assert_memory_equal(fl_buf_data(b), want, want_len);
        fl_buf_unref(b);
    }
    assert_int_equal(roc, 1);
    fl_srtp_destroy(out);
    fl_buf_pool_destroy(pool);
}

/* ---- OpenSSL against the other back ends ---- */

#define CROSS_PKTS 24

static long ossl_allocs; /* OpenSSL's allocations since the start */

static void *count_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

typedef struct cross {
    fl_srtp_profile profile;
    size_t key_len;
    fl_srtp_backend other; /* what OpenSSL's bytes are compared with */
} cross;

static const cross crosses[] = {
    { FL_SRTP_AES128_CM_HMAC_SHA1_80, 16, FL_SRTP_BACKEND_MBEDTLS },
    { FL_SRTP_AES128_CM_HMAC_SHA1_32, 16, FL_SRTP_BACKEND_MBEDTLS },
    { FL_SRTP_AES256_CM_HMAC_SHA1_80, 32, FL_SRTP_BACKEND_MBEDTLS },
    { FL_SRTP_AES256_CM_HMAC_SHA1_32, 32, FL_SRTP_BACKEND_MBEDTLS },
    { FL_SRTP_AEAD_AES_128_GCM, 16, FL_SRTP_BACKEND_LIBSRTP },
};

typedef struct wire {
    uint8_t bytes[CROSS_PKTS][BUF_SIZE];
    size_t len[CROSS_PKTS];
} wire;

static fl_srtp *cross_session(const cross *x, fl_srtp_direction dir)
{
    fl_srtp_config cfg = {
        .profile = x->profile,
        .direction = dir,
        .key = master_key,
        .key_len = x->key_len,
        .salt = master_salt,
        .salt_len = fl_srtp_profile_salt_len(x->profile),
    };
    fl_srtp *s = NULL;
    assert_int_equal(fl_srtp_create(&s, &cfg), 0);
    return s;
}

/* Packet i: RTP for even i, RTCP (an RR) for odd, lengths across blocks. */
static size_t plain_packet(int i, uint8_t *p)
{
    size_t len = 12 + (size_t)(i * 53 % 1250);
    fill(p, (uint16_t)(65530 + i), len); /* past a sequence wrap */
    if (i % 2) {
        p[0] = 0x80;
        p[1] = 201;
        size_t words = len / 4 - 1;
        len = (words + 1) * 4;
        p[2] = (uint8_t)(words >> 8);
        p[3] = (uint8_t)words;
    }
    return len;
}

/* Protects the CROSS_PKTS packets on back end `which` into w, and
 * unprotects `check` (the other back end's bytes) back to the plain ones. */
static void protect_all(const cross *x, fl_srtp_backend which, wire *w, const wire *check)
{
    assert_int_equal(fl__srtp_crypto_install_backend(which), 0);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_srtp *out = cross_session(x, FL_SRTP_OUTBOUND);
    fl_srtp *in = cross_session(x, FL_SRTP_INBOUND);
    uint8_t plain[BUF_SIZE];
    for (int i = 0; i < CROSS_PKTS; i++) {
        size_t len = plain_packet(i, plain);
        fl_buf *b = fl_buf_pool_get(pool);
        memcpy(fl_buf_data(b), plain, len);
        assert_int_equal(fl_buf_set_len(b, len), 0);
        assert_int_equal(i % 2 ? fl_srtp_protect_rtcp(out, b) : fl_srtp_protect(out, b), 0);
        assert_true(b->len > len);
        w->len[i] = b->len;
        memcpy(w->bytes[i], fl_buf_data(b), b->len);
        if (check) {
            memcpy(fl_buf_data(b), check->bytes[i], check->len[i]);
            assert_int_equal(fl_buf_set_len(b, check->len[i]), 0);
            assert_int_equal(i % 2 ? fl_srtp_unprotect_rtcp(in, b) : fl_srtp_unprotect(in, b), 0);
            assert_int_equal(b->len, len);
            assert_memory_equal(fl_buf_data(b), plain, len);
        }
        fl_buf_unref(b);
    }
    fl_srtp_destroy(out);
    fl_srtp_destroy(in);
    fl_buf_pool_destroy(pool);
}

static void test_cross_backends(void **state)
{
    const cross *x = *state;
    wire *ossl = calloc(1, sizeof *ossl), *other = calloc(1, sizeof *other);
    assert_non_null(ossl);
    assert_non_null(other);
    protect_all(x, FL_SRTP_BACKEND_OPENSSL, ossl, NULL);
    protect_all(x, x->other, other, ossl); /* the other opens OpenSSL's */
    protect_all(x, FL_SRTP_BACKEND_OPENSSL, ossl, other);
    for (int i = 0; i < CROSS_PKTS; i++) {
        assert_int_equal(ossl->len[i], other->len[i]);
        assert_memory_equal(ossl->bytes[i], other->bytes[i], ossl->len[i]);
    }
    /* a flipped bit fails the tag on OpenSSL's side */
    assert_int_equal(fl__srtp_crypto_install_backend(FL_SRTP_BACKEND_OPENSSL), 0);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_srtp *in = cross_session(x, FL_SRTP_INBOUND);
    fl_buf *b = fl_buf_pool_get(pool);
    memcpy(fl_buf_data(b), other->bytes[2], other->len[2]);
    fl_buf_data(b)[20] ^= 0x01;
    assert_int_equal(fl_buf_set_len(b, other->len[2]), 0);
    assert_int_not_equal(fl_srtp_unprotect(in, b), 0);
    fl_buf_unref(b);
    fl_srtp_destroy(in);
    fl_buf_pool_destroy(pool);
    free(ossl);
    free(other);
}

/* Once sessions exist, protect and unprotect make OpenSSL allocate nothing. */
static void test_no_alloc_per_packet(void **state)
{
    const cross *x = *state;
    assert_int_equal(fl__srtp_crypto_install_backend(FL_SRTP_BACKEND_OPENSSL), 0);
    fl_buf_pool *pool;
    assert_int_equal(fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0), 0);
    fl_srtp *out = cross_session(x, FL_SRTP_OUTBOUND);
    fl_srtp *in = cross_session(x, FL_SRTP_INBOUND);
    long before = 0;
    uint8_t plain[BUF_SIZE];
    for (int i = 0; i < 200; i++) {
        if (i == 4)
            before = ossl_allocs;
        size_t len = plain_packet(i & ~1, plain);
        fill(plain, (uint16_t)i, len);
        fl_buf *b = fl_buf_pool_get(pool);
        memcpy(fl_buf_data(b), plain, len);
        assert_int_equal(fl_buf_set_len(b, len), 0);
        assert_int_equal(fl_srtp_protect(out, b), 0);
        assert_int_equal(fl_srtp_unprotect(in, b), 0);
        assert_memory_equal(fl_buf_data(b), plain, len);
        fl_buf_unref(b);
    }
    assert_true(before > 0); /* the counter sees OpenSSL's allocations */
    assert_int_equal(ossl_allocs, before);
    fl_srtp_destroy(out);
    fl_srtp_destroy(in);
    fl_buf_pool_destroy(pool);
}

int main(void)
{
    /* before OpenSSL allocates anything */
    if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install),
        cmocka_unit_test_prestate(test_against_reference, (void *)&variants[0]),
        cmocka_unit_test_prestate(test_against_reference, (void *)&variants[1]),
        cmocka_unit_test_prestate(test_against_reference, (void *)&variants[2]),
        cmocka_unit_test_prestate(test_rollover, (void *)&variants[0]),
        cmocka_unit_test_prestate(test_rollover, (void *)&variants[1]),
        cmocka_unit_test_prestate(test_cross_backends, (void *)&crosses[0]),
        cmocka_unit_test_prestate(test_cross_backends, (void *)&crosses[1]),
        cmocka_unit_test_prestate(test_cross_backends, (void *)&crosses[2]),
        cmocka_unit_test_prestate(test_cross_backends, (void *)&crosses[3]),
        cmocka_unit_test_prestate(test_cross_backends, (void *)&crosses[4]),
        cmocka_unit_test_prestate(test_no_alloc_per_packet, (void *)&crosses[0]),
        cmocka_unit_test_prestate(test_no_alloc_per_packet, (void *)&crosses[4]),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
