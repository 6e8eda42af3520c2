/* net/srtp_crypto: installs the crypto libsrtp2 runs on (OpenSSL's libcrypto
 * in production, net/srtp_crypto_ossl.c), and holds the earlier AES-128/256
 * counter mode and HMAC-SHA1 on mbedTLS, kept selectable for the benchmark
 * and as the cross-check of the OpenSSL ones in the tests.
 *
 * Debian's libsrtp2 runs its ciphers on NSS, which builds and frees a
 * PKCS#11 context (a malloc, a lock and a key lookup) for every packet: in a
 * profile of the echo load that was two thirds of the SRTP time. libsrtp2
 * lets a program replace a cipher or auth type through its crypto kernel
 * (srtp_replace_cipher_type, srtp_replace_auth_type); the ones here keep an
 * expanded AES key and a keyed HMAC state per session and never allocate
 * per packet. libsrtp2 still does everything SRTP: key derivation, the
 * packet index, replay, the tag layout. The kernel runs each type's known
 * answer tests (RFC 3711 B.2, RFC 6188 7.1, RFC 2202) and its own before
 * accepting it. AES-256 (SDES keying, RFC 6188) has its own cipher type id
 * in libsrtp (SRTP_AES_ICM_256, also its key derivation): the same code
 * replaces it with a 256-bit key.
 *
 * With the mbedTLS back end, AES-GCM stays on the library's. */
#include "net/srtp_crypto.h"

#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("srtp");

#define BLOCK        16
#define ICM_MAX_OUT  (0xffffu * BLOCK) /* the 16-bit block counter's reach */
#define SHA1_LEN     20
#define HMAC_KEY_MAX 20

srtp_err_status_t fl__srtp_cipher_wrap(srtp_cipher_t **out,
                                       const srtp_cipher_type_t *t,
                                       void *state,
                                       int key_len)
{
    srtp_cipher_t *c = calloc(1, sizeof *c);
    if (!c)
        return srtp_err_status_alloc_fail;
    c->type = t;
    c->state = state;
    c->key_len = key_len;
    c->algorithm = t->id;
    *out = c;
    return srtp_err_status_ok;
}

/* ---- AES integer counter mode (RFC 3711 4.1.1, RFC 6188 for 256 bits) ---- */

typedef struct icm {
    mbedtls_aes_context aes;
    unsigned key_bytes;     /* 16 or 32, then the 14-byte salt */
    uint8_t offset[BLOCK];  /* the salt, low two octets zero */
    uint8_t counter[BLOCK]; /* next block's input */
    uint8_t stream[BLOCK];  /* keystream of the current block */
    unsigned used;          /* octets of stream already used (BLOCK: none left) */
    uint32_t produced;      /* keystream octets since the last IV */
} icm;

static const srtp_cipher_type_t icm_type, icm256_type;

static srtp_err_status_t icm_alloc_of(srtp_cipher_t **out, int key_len, const srtp_cipher_type_t *t)
{
    *out = NULL;
    int want = t == &icm256_type ? SRTP_AES_ICM_256_KEY_LEN_WSALT : SRTP_AES_ICM_128_KEY_LEN_WSALT;
    if (key_len != want)
        return srtp_err_status_bad_param;
    icm *s = calloc(1, sizeof *s);
    if (!s)
        return srtp_err_status_alloc_fail;
    mbedtls_aes_init(&s->aes);
    s->key_bytes = (unsigned)(key_len - SRTP_SALT_LEN);
    srtp_err_status_t rc = fl__srtp_cipher_wrap(out, t, s, key_len);
    if (rc != srtp_err_status_ok)
        free(s);
    return rc;
}

static srtp_err_status_t icm_alloc(srtp_cipher_t **out, int key_len, int tag_len)
{
    (void)tag_len;
    return icm_alloc_of(out, key_len, &icm_type);
}

static srtp_err_status_t icm256_alloc(srtp_cipher_t **out, int key_len, int tag_len)
{
    (void)tag_len;
    return icm_alloc_of(out, key_len, &icm256_type);
}

static srtp_err_status_t icm_dealloc(srtp_cipher_t *c)
{
    if (!c)
        return srtp_err_status_bad_param;
    icm *s = c->state;
    if (s) {
        mbedtls_aes_free(&s->aes);
        mbedtls_platform_zeroize(s, sizeof *s);
        free(s);
    }
    free(c);
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
    icm *s = state;
    if (mbedtls_aes_setkey_enc(&s->aes, key, s->key_bytes * 8) != 0)
        return srtp_err_status_init_fail;
    memset(s->offset, 0, sizeof s->offset);
    memcpy(s->offset, key + s->key_bytes, SRTP_SALT_LEN);
    memcpy(s->counter, s->offset, BLOCK);
    s->used = BLOCK;
    s->produced = 0;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    (void)dir;
    icm *s = state;
    for (int i = 0; i < BLOCK; i++)
        s->counter[i] = s->offset[i] ^ iv[i];
    s->used = BLOCK;
    s->produced = 0;
    return srtp_err_status_ok;
}

/* The next keystream block; only the low 16 bits count (ICM). */
static int next_block(icm *s, uint8_t out[BLOCK])
{
    if (mbedtls_aes_crypt_ecb(&s->aes, MBEDTLS_AES_ENCRYPT, s->counter, out) != 0)
        return -1;
    uint16_t ctr = (uint16_t)((s->counter[14] << 8) | s->counter[15]);
    ctr++;
    s->counter[14] = (uint8_t)(ctr >> 8);
    s->counter[15] = (uint8_t)ctr;
    return 0;
}

static void xor_block(uint8_t *p, const uint8_t *k)
{
    uint64_t a, b, x, y;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&x, k, 8);
    memcpy(&y, k + 8, 8);
    a ^= x;
    b ^= y;
    memcpy(p, &a, 8);
    memcpy(p + 8, &b, 8);
}

/* Encryption and decryption are the same XOR with the keystream. */
static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
    icm *s = state;
    size_t n = *len;
    if (n > ICM_MAX_OUT - s->produced)
        return srtp_err_status_terminus;
    s->produced += (uint32_t)n;
    while (n > 0 && s->used < BLOCK) { /* the rest of a block begun before */
        *buf++ ^= s->stream[s->used++];
        n--;
    }
    uint8_t ks[BLOCK];
    for (; n >= BLOCK; n -= BLOCK, buf += BLOCK) {
        if (next_block(s, ks) != 0)
            return srtp_err_status_cipher_fail;
        xor_block(buf, ks);
    }
    mbedtls_platform_zeroize(ks, sizeof ks);
    if (n > 0) {
        if (next_block(s, s->stream) != 0)
            return srtp_err_status_cipher_fail;
        for (s->used = 0; s->used < n; s->used++)
            buf[s->used] ^= s->stream[s->used];
    }
    return srtp_err_status_ok;
}

/* RFC 3711 B.2: session key and salt, IV zero, the first two keystream
 * blocks. */
static const uint8_t icm_kat_key[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
    0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static uint8_t icm_kat_iv[BLOCK];
static const uint8_t icm_kat_zero[32];
static const uint8_t icm_kat_stream[32] = {
    0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80, 0xe1, 0x66, 0xb1, 0x6d, 0xd9, 0x2b, 0x4e, 0xb4,
    0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02, 0xd0, 0xf7, 0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab,
};
const srtp_cipher_test_case_t fl__srtp_kat_icm128 = {
    .key_length_octets = SRTP_AES_ICM_128_KEY_LEN_WSALT,
    .key = icm_kat_key,
    .idx = icm_kat_iv,
    .plaintext_length_octets = sizeof icm_kat_zero,
    .plaintext = icm_kat_zero,
    .ciphertext_length_octets = sizeof icm_kat_stream,
    .ciphertext = icm_kat_stream,
};

static const srtp_cipher_type_t icm_type = {
    .alloc = icm_alloc,
    .dealloc = icm_dealloc,
    .init = icm_init,
    .encrypt = icm_crypt,
    .decrypt = icm_crypt,
    .set_iv = icm_set_iv,
    .description = "AES-128 integer counter mode (mbedTLS)",
    .test_data = &fl__srtp_kat_icm128,
    .id = SRTP_AES_ICM_128,
};

/* RFC 6188 7.1: AES-256 session key and salt, IV zero, the first two
 * keystream blocks. */
static const uint8_t icm256_kat_key[SRTP_AES_ICM_256_KEY_LEN_WSALT] = {
    0x57, 0xf8, 0x2f, 0xe3, 0x61, 0x3f, 0xd1, 0x70, 0xa8, 0x5e, 0xc9, 0x3c, 0x40, 0xb1, 0xf0, 0x92,
    0x2e, 0xc4, 0xcb, 0x0d, 0xc0, 0x25, 0xb5, 0x82, 0x72, 0x14, 0x7c, 0xc4, 0x38, 0x94, 0x4a, 0x98,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static const uint8_t icm256_kat_stream[32] = {
    0x92, 0xbd, 0xd2, 0x8a, 0x93, 0xc3, 0xf5, 0x25, 0x11, 0xc6, 0x77, 0xd0, 0x8b, 0x55, 0x15, 0xa4,
    0x9d, 0xa7, 0x1b, 0x23, 0x78, 0xa8, 0x54, 0xf6, 0x70, 0x50, 0x75, 0x6d, 0xed, 0x16, 0x5b, 0xac,
};
const srtp_cipher_test_case_t fl__srtp_kat_icm256 = {
    .key_length_octets = SRTP_AES_ICM_256_KEY_LEN_WSALT,
    .key = icm256_kat_key,
    .idx = icm_kat_iv,
    .plaintext_length_octets = sizeof icm_kat_zero,
    .plaintext = icm_kat_zero,
    .ciphertext_length_octets = sizeof icm256_kat_stream,
    .ciphertext = icm256_kat_stream,
};

static const srtp_cipher_type_t icm256_type = {
    .alloc = icm256_alloc,
    .dealloc = icm_dealloc,
    .init = icm_init,
    .encrypt = icm_crypt,
    .decrypt = icm_crypt,
    .set_iv = icm_set_iv,
    .description = "AES-256 integer counter mode (mbedTLS)",
    .test_data = &fl__srtp_kat_icm256,
    .id = SRTP_AES_ICM_256,
};

/* ---- HMAC-SHA1 ---- */

static const srtp_auth_type_t hmac_type;

static srtp_err_status_t hmac_alloc(srtp_auth_t **out, int key_len, int out_len)
{
    *out = NULL;
    if (key_len < 0 || key_len > HMAC_KEY_MAX || out_len < 0 || out_len > SHA1_LEN)
        return srtp_err_status_bad_param;
    srtp_auth_t *a = calloc(1, sizeof *a);
    mbedtls_md_context_t *md = calloc(1, sizeof *md);
    if (!a || !md) {
        free(a);
        free(md);
        return srtp_err_status_alloc_fail;
    }
    mbedtls_md_init(md);
    if (mbedtls_md_setup(md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), 1) != 0) {
        mbedtls_md_free(md);
        free(a);
        free(md);
        return srtp_err_status_alloc_fail;
    }
    a->type = &hmac_type;
    a->state = md;
    a->out_len = out_len;
    a->key_len = key_len;
    a->prefix_len = 0;
    *out = a;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *a)
{
    if (!a)
        return srtp_err_status_bad_param;
    mbedtls_md_context_t *md = a->state;
    if (md) {
        mbedtls_md_free(md); /* zeroizes the keyed state */
        free(md);
    }
    free(a);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
    if (mbedtls_md_hmac_starts(state, key, (size_t)key_len) != 0)
        return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_start(void *state)
{
    if (mbedtls_md_hmac_reset(state) != 0)
        return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *buf, int len)
{
    if (len < 0 || mbedtls_md_hmac_update(state, buf, (size_t)len) != 0)
        return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_compute(void *state,
                                      const uint8_t *buf,
                                      int len,
                                      int tag_len,
                                      uint8_t *tag)
{
    uint8_t full[SHA1_LEN];
    if (tag_len < 0 || tag_len > SHA1_LEN || hmac_update(state, buf, len) != 0 ||
        mbedtls_md_hmac_finish(state, full) != 0)
        return srtp_err_status_auth_fail;
    memcpy(tag, full, (size_t)tag_len);
    mbedtls_platform_zeroize(full, sizeof full);
    return srtp_err_status_ok;
}

/* RFC 2202 test case 1. */
static const uint8_t hmac_kat_key[20] = {
    0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
    0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
};
static const uint8_t hmac_kat_data[8] = { 'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e' };
static const uint8_t hmac_kat_tag[SHA1_LEN] = {
    0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
    0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00,
};
const srtp_auth_test_case_t fl__srtp_kat_hmac_sha1 = {
    .key_length_octets = sizeof hmac_kat_key,
    .key = hmac_kat_key,
    .data_length_octets = sizeof hmac_kat_data,
    .data = hmac_kat_data,
    .tag_length_octets = sizeof hmac_kat_tag,
    .tag = hmac_kat_tag,
};

static const srtp_auth_type_t hmac_type = {
    .alloc = hmac_alloc,
    .dealloc = hmac_dealloc,
    .init = hmac_init,
    .compute = hmac_compute,
    .update = hmac_update,
    .start = hmac_start,
    .description = "HMAC-SHA1 (mbedTLS)",
    .test_data = &fl__srtp_kat_hmac_sha1,
    .id = SRTP_HMAC_SHA1,
};

/* ---- installation ---- */

static int replace_cipher(const srtp_cipher_type_t *t, srtp_cipher_type_id_t id)
{
    srtp_err_status_t st = srtp_replace_cipher_type(t, id);
    if (st != srtp_err_status_ok) {
        fl_log(FL_LOG_WARN, "%s refused by libsrtp (%d)", t->description, (int)st);
        return FL_EIO;
    }
    return 0;
}

static int replace_auth(const srtp_auth_type_t *t, srtp_auth_type_id_t id)
{
    srtp_err_status_t st = srtp_replace_auth_type(t, id);
    if (st != srtp_err_status_ok) {
        fl_log(FL_LOG_WARN, "%s refused by libsrtp (%d)", t->description, (int)st);
        return FL_EIO;
    }
    return 0;
}

static int install(fl_srtp_backend which)
{
    switch (which) {
    case FL_SRTP_BACKEND_OPENSSL:
        if (replace_cipher(fl__srtp_ossl_icm128, SRTP_AES_ICM_128) != 0 ||
            replace_cipher(fl__srtp_ossl_icm256, SRTP_AES_ICM_256) != 0 ||
            replace_cipher(fl__srtp_ossl_gcm128, SRTP_AES_GCM_128) != 0 ||
            replace_auth(fl__srtp_ossl_hmac, SRTP_HMAC_SHA1) != 0)
            return FL_EIO;
        return 0;
    case FL_SRTP_BACKEND_MBEDTLS:
        if (replace_cipher(&icm_type, SRTP_AES_ICM_128) != 0 ||
            replace_cipher(&icm256_type, SRTP_AES_ICM_256) != 0 ||
            replace_auth(&hmac_type, SRTP_HMAC_SHA1) != 0)
            return FL_EIO;
        return 0;
    case FL_SRTP_BACKEND_LIBSRTP:
        return 0;
    }
    return FL_EINVAL;
}

int fl__srtp_crypto_install(void)
{
    return install(FL_SRTP_BACKEND_OPENSSL);
}

int fl__srtp_crypto_install_backend(fl_srtp_backend which)
{
    /* srtp_init on a running kernel keeps its types: restart it */
    if (srtp_shutdown() != srtp_err_status_ok || srtp_init() != srtp_err_status_ok)
        return FL_EIO;
    return install(which);
}
