/* net/srtp_crypto_ossl: AES-128/256 counter mode, HMAC-SHA1 and AES-128-GCM
 * for libsrtp2 on OpenSSL's libcrypto, installed in place of the library's
 * own crypto back end (net/srtp_crypto.c does the installing).
 *
 * libcrypto is the field's standard for SRTP crypto (libsrtp2's own first
 * choice of back end; Chromium's libsrtp runs on BoringSSL's, its fork):
 * AES-NI and SHA-NI from its assembly on this kind of CPU.
 *
 * Keyed once per session, nothing allocated, locked or copied through the
 * heap per packet:
 * - AES-CM is EVP AES-CTR. libsrtp's IV (RFC 3711 4.1.1: the salt XOR the
 *   SSRC and packet index, low 16 bits zero) is the CTR mode's counter
 *   block; EVP_CipherInit_ex with no cipher and no key and a new IV keeps
 *   the expanded key and only resets the counter and the partial block.
 *   CTR carries into the upper 112 bits where ICM's counter wraps at 16,
 *   which no packet reaches: at most 0xffff blocks per IV (checked here).
 * - HMAC-SHA1 keeps the inner and outer SHA-1 states after the padded key
 *   (RFC 2104) and copies those structs per packet. OpenSSL 3.0's EVP_MAC
 *   re-init without a key duplicates the digest's provider context with a
 *   malloc and a free per packet (EVP_MD_CTX_copy_ex -> dupctx; two
 *   allocations and 17% more time per 1200-byte HMAC, measured), which the
 *   plain SHA_CTX copy avoids; SHA1_Update runs the same assembly block
 *   function as the EVP digest. The low-level SHA-1 calls are deprecated in
 *   OpenSSL 3 but kept: hence OPENSSL_SUPPRESS_DEPRECATED.
 * - AES-GCM is EVP AES-128-GCM: the key once, the 12-byte IV and the
 *   direction per packet, AAD and payload through EVP_CipherUpdate, the tag
 *   through the GCM controls. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>

#include "net/srtp_crypto.h"

#define BLOCK        16
#define ICM_MAX_OUT  (0xffffu * BLOCK) /* the 16-bit block counter's reach */
#define SHA1_LEN     20
#define SHA1_BLOCK   64
#define HMAC_KEY_MAX 20
#define GCM_IV_LEN   12
#define GCM_TAG_MAX  16

/* ---- AES integer counter mode on EVP AES-CTR ---- */

typedef struct icm {
    EVP_CIPHER_CTX *ctx;
    unsigned key_bytes;    /* 16 or 32, then the 14-byte salt */
    uint8_t offset[BLOCK]; /* the salt, low two octets zero */
    uint32_t produced;     /* keystream octets since the last IV */
} icm;

static const srtp_cipher_type_t icm_type, icm256_type;

static srtp_err_status_t icm_alloc_of(srtp_cipher_t **out, int key_len, const srtp_cipher_type_t *t)
{
    *out = NULL;
    int want = t == &icm256_type ? SRTP_AES_ICM_256_KEY_LEN_WSALT : SRTP_AES_ICM_128_KEY_LEN_WSALT;
    if (key_len != want)
        return srtp_err_status_bad_param;
    icm *s = calloc(1, sizeof *s);
    if (!s || !(s->ctx = EVP_CIPHER_CTX_new())) {
        free(s);
        return srtp_err_status_alloc_fail;
    }
    s->key_bytes = (unsigned)(key_len - SRTP_SALT_LEN);
    srtp_err_status_t rc = fl__srtp_cipher_wrap(out, t, s, key_len);
    if (rc != srtp_err_status_ok) {
        EVP_CIPHER_CTX_free(s->ctx);
        free(s);
    }
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
        EVP_CIPHER_CTX_free(s->ctx); /* clears the key schedule */
        OPENSSL_cleanse(s, sizeof *s);
        free(s);
    }
    free(c);
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
    icm *s = state;
    const EVP_CIPHER *evp = s->key_bytes == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr();
    memset(s->offset, 0, sizeof s->offset);
    memcpy(s->offset, key + s->key_bytes, SRTP_SALT_LEN);
    s->produced = 0;
    if (EVP_CipherInit_ex(s->ctx, evp, NULL, key, s->offset, 1) != 1)
        return srtp_err_status_init_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    (void)dir;
    icm *s = state;
    uint8_t counter[BLOCK];
    for (int i = 0; i < BLOCK; i++)
        counter[i] = s->offset[i] ^ iv[i];
    s->produced = 0;
    /* no cipher, no key: the context keeps both, takes the new counter */
    if (EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, counter, 1) != 1)
        return srtp_err_status_cipher_fail;
    return srtp_err_status_ok;
}

/* Encryption and decryption are the same XOR with the keystream. */
static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
    icm *s = state;
    if (*len > ICM_MAX_OUT - s->produced || *len > (unsigned)INT32_MAX)
        return srtp_err_status_terminus;
    s->produced += *len;
    int out = 0;
    if (EVP_EncryptUpdate(s->ctx, buf, &out, buf, (int)*len) != 1 || out != (int)*len)
        return srtp_err_status_cipher_fail;
    return srtp_err_status_ok;
}

static const srtp_cipher_type_t icm_type = {
    .alloc = icm_alloc,
    .dealloc = icm_dealloc,
    .init = icm_init,
    .encrypt = icm_crypt,
    .decrypt = icm_crypt,
    .set_iv = icm_set_iv,
    .description = "AES-128 integer counter mode (OpenSSL libcrypto)",
    .test_data = &fl__srtp_kat_icm128,
    .id = SRTP_AES_ICM_128,
};

static const srtp_cipher_type_t icm256_type = {
    .alloc = icm256_alloc,
    .dealloc = icm_dealloc,
    .init = icm_init,
    .encrypt = icm_crypt,
    .decrypt = icm_crypt,
    .set_iv = icm_set_iv,
    .description = "AES-256 integer counter mode (OpenSSL libcrypto)",
    .test_data = &fl__srtp_kat_icm256,
    .id = SRTP_AES_ICM_256,
};

/* ---- HMAC-SHA1 from keyed SHA-1 states ---- */

typedef struct hmac {
    SHA_CTX inner0, outer0; /* after the key XOR ipad / opad, set once */
    SHA_CTX cur;            /* the packet being authenticated */
} hmac;

static const srtp_auth_type_t hmac_type;

static srtp_err_status_t hmac_alloc(srtp_auth_t **out, int key_len, int out_len)
{
    *out = NULL;
    if (key_len < 0 || key_len > HMAC_KEY_MAX || out_len < 0 || out_len > SHA1_LEN)
        return srtp_err_status_bad_param;
    srtp_auth_t *a = calloc(1, sizeof *a);
    hmac *h = calloc(1, sizeof *h);
    if (!a || !h) {
        free(a);
        free(h);
        return srtp_err_status_alloc_fail;
    }
    a->type = &hmac_type;
    a->state = h;
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
    if (a->state) {
        OPENSSL_cleanse(a->state, sizeof(hmac));
        free(a->state);
    }
    free(a);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
    hmac *h = state;
    if (key_len < 0 || key_len > HMAC_KEY_MAX)
        return srtp_err_status_bad_param;
    uint8_t ipad[SHA1_BLOCK], opad[SHA1_BLOCK];
    memset(ipad, 0x36, sizeof ipad);
    memset(opad, 0x5c, sizeof opad);
    for (int i = 0; i < key_len; i++) {
        ipad[i] ^= key[i];
        opad[i] ^= key[i];
    }
    int ok = SHA1_Init(&h->inner0) && SHA1_Update(&h->inner0, ipad, sizeof ipad) &&
             SHA1_Init(&h->outer0) && SHA1_Update(&h->outer0, opad, sizeof opad);
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
    h->cur = h->inner0;
    return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

static srtp_err_status_t hmac_start(void *state)
{
    hmac *h = state;
    h->cur = h->inner0;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *buf, int len)
{
    hmac *h = state;
    if (len < 0 || !SHA1_Update(&h->cur, buf, (size_t)len))
        return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_compute(void *state,
                                      const uint8_t *buf,
                                      int len,
                                      int tag_len,
                                      uint8_t *tag)
{
    hmac *h = state;
    uint8_t full[SHA1_LEN];
    if (tag_len < 0 || tag_len > SHA1_LEN || hmac_update(state, buf, len) != 0 ||
        !SHA1_Final(full, &h->cur))
        return srtp_err_status_auth_fail;
    h->cur = h->outer0;
    int ok = SHA1_Update(&h->cur, full, sizeof full) && SHA1_Final(full, &h->cur);
    if (ok)
        memcpy(tag, full, (size_t)tag_len);
    OPENSSL_cleanse(full, sizeof full);
    return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

static const srtp_auth_type_t hmac_type = {
    .alloc = hmac_alloc,
    .dealloc = hmac_dealloc,
    .init = hmac_init,
    .compute = hmac_compute,
    .update = hmac_update,
    .start = hmac_start,
    .description = "HMAC-SHA1 (OpenSSL libcrypto)",
    .test_data = &fl__srtp_kat_hmac_sha1,
    .id = SRTP_HMAC_SHA1,
};

/* ---- AES-128-GCM on EVP (RFC 7714) ---- */

typedef struct gcm {
    EVP_CIPHER_CTX *ctx;
    int tag_len; /* 16, or 8 for libsrtp's 8-octet variant */
    int enc;     /* the direction set with the IV */
} gcm;

static const srtp_cipher_type_t gcm_type;

static srtp_err_status_t gcm_alloc(srtp_cipher_t **out, int key_len, int tag_len)
{
    *out = NULL;
    if (key_len != SRTP_AES_GCM_128_KEY_LEN_WSALT || (tag_len != 16 && tag_len != 8))
        return srtp_err_status_bad_param;
    gcm *s = calloc(1, sizeof *s);
    if (!s || !(s->ctx = EVP_CIPHER_CTX_new())) {
        free(s);
        return srtp_err_status_alloc_fail;
    }
    s->tag_len = tag_len;
    srtp_err_status_t rc = fl__srtp_cipher_wrap(out, &gcm_type, s, key_len);
    if (rc != srtp_err_status_ok) {
        EVP_CIPHER_CTX_free(s->ctx);
        free(s);
    }
    return rc;
}

static srtp_err_status_t gcm_dealloc(srtp_cipher_t *c)
{
    if (!c)
        return srtp_err_status_bad_param;
    gcm *s = c->state;
    if (s) {
        EVP_CIPHER_CTX_free(s->ctx);
        OPENSSL_cleanse(s, sizeof *s);
        free(s);
    }
    free(c);
    return srtp_err_status_ok;
}

/* The key is the first 16 octets; the salt after it enters libsrtp's IV. */
static srtp_err_status_t gcm_init(void *state, const uint8_t *key)
{
    gcm *s = state;
    if (EVP_CipherInit_ex(s->ctx, EVP_aes_128_gcm(), NULL, key, NULL, 1) != 1)
        return srtp_err_status_init_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    gcm *s = state;
    if (dir != srtp_direction_encrypt && dir != srtp_direction_decrypt)
        return srtp_err_status_bad_param;
    s->enc = dir == srtp_direction_encrypt;
    if (EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, s->enc) != 1)
        return srtp_err_status_cipher_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
    gcm *s = state;
    int out = 0;
    if (len > (uint32_t)INT32_MAX || EVP_CipherUpdate(s->ctx, NULL, &out, aad, (int)len) != 1)
        return srtp_err_status_algo_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
    gcm *s = state;
    int out = 0;
    if (!s->enc || *len > (unsigned)INT32_MAX ||
        EVP_CipherUpdate(s->ctx, buf, &out, buf, (int)*len) != 1 || out != (int)*len)
        return srtp_err_status_cipher_fail;
    return srtp_err_status_ok;
}

/* Finishes the encryption and writes the tag to buf. */
static srtp_err_status_t gcm_get_tag(void *state, uint8_t *buf, uint32_t *len)
{
    gcm *s = state;
    int out = 0;
    uint8_t none[BLOCK];
    if (!s->enc || EVP_CipherFinal_ex(s->ctx, none, &out) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, s->tag_len, buf) != 1)
        return srtp_err_status_algo_fail;
    *len = (uint32_t)s->tag_len;
    return srtp_err_status_ok;
}

/* buf holds the ciphertext then the tag; on success *len loses the tag. */
static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *len)
{
    gcm *s = state;
    int out = 0;
    if (s->enc || *len < (unsigned)s->tag_len || *len > (unsigned)INT32_MAX)
        return srtp_err_status_bad_param;
    int n = (int)*len - s->tag_len;
    uint8_t none[BLOCK];
    if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, s->tag_len, buf + n) != 1 ||
        EVP_CipherUpdate(s->ctx, buf, &out, buf, n) != 1 || out != n)
        return srtp_err_status_cipher_fail;
    if (EVP_CipherFinal_ex(s->ctx, none, &out) != 1)
        return srtp_err_status_auth_fail;
    *len = (unsigned)n;
    return srtp_err_status_ok;
}

/* The GCM specification's test case 4 (McGrew and Viega), as libsrtp2's
 * own: key then a 12-octet salt (unused by the cipher), 96-bit IV, 20
 * octets of AAD, 60 of plaintext, the 16-octet tag after the ciphertext. */
static const uint8_t gcm_kat_key[SRTP_AES_GCM_128_KEY_LEN_WSALT] = {
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
    0x83, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
};
static uint8_t gcm_kat_iv[GCM_IV_LEN] = {
    0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88,
};
static const uint8_t gcm_kat_plain[60] = {
    0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
    0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
    0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
    0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39,
};
static const uint8_t gcm_kat_aad[20] = {
    0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
    0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2,
};
static const uint8_t gcm_kat_cipher[76] = {
    0x42,
    0x83,
    0x1e,
    0xc2,
    0x21,
    0x77,
    0x74,
    0x24,
    0x4b,
    0x72,
    0x21,
    0xb7,
    0x84,
    0xd0,
    0xd4,
    0x9c,
    0xe3,
    0xaa,
    0x21,
    0x2f,
    0x2c,
    0x02,
    0xa4,
    0xe0,
    0x35,
    0xc1,
    0x7e,
    0x23,
    0x29,
    0xac,
    0xa1,
    0x2e,
    0x21,
    0xd5,
    0x14,
    0xb2,
    0x54,
    0x66,
    0x93,
    0x1c,
    0x7d,
    0x8f,
    0x6a,
    0x5a,
    0xac,
    0x84,
    0xaa,
    0x05,
    0x1b,
    0xa3,
    0x0b,
    0x39,
    0x6a,
    0x0a,
    0xac,
    0x97,
    0x3d,
    0x58,
    0xe0,
    0x91,
    /* tag */
    0x5b,
    0xc9,
    0x4f,
    0xbc,
    0x32,
    0x21,
    0xa5,
    0xdb,
    0x94,
    0xfa,
    0xe9,
    0x5a,
    0xe7,
    0x12,
    0x1a,
    0x47,
};
static const srtp_cipher_test_case_t gcm_kat = {
    .key_length_octets = SRTP_AES_GCM_128_KEY_LEN_WSALT,
    .key = gcm_kat_key,
    .idx = gcm_kat_iv,
    .plaintext_length_octets = sizeof gcm_kat_plain,
    .plaintext = gcm_kat_plain,
    .ciphertext_length_octets = sizeof gcm_kat_cipher,
    .ciphertext = gcm_kat_cipher,
    .aad_length_octets = sizeof gcm_kat_aad,
    .aad = gcm_kat_aad,
    .tag_length_octets = GCM_TAG_MAX,
};

static const srtp_cipher_type_t gcm_type = {
    .alloc = gcm_alloc,
    .dealloc = gcm_dealloc,
    .init = gcm_init,
    .set_aad = gcm_set_aad,
    .encrypt = gcm_encrypt,
    .decrypt = gcm_decrypt,
    .set_iv = gcm_set_iv,
    .get_tag = gcm_get_tag,
    .description = "AES-128 GCM (OpenSSL libcrypto)",
    .test_data = &gcm_kat,
    .id = SRTP_AES_GCM_128,
};

/* ---- the types, for net/srtp_crypto.c ---- */

const srtp_cipher_type_t *const fl__srtp_ossl_icm128 = &icm_type;
const srtp_cipher_type_t *const fl__srtp_ossl_icm256 = &icm256_type;
const srtp_cipher_type_t *const fl__srtp_ossl_gcm128 = &gcm_type;
const srtp_auth_type_t *const fl__srtp_ossl_hmac = &hmac_type;
