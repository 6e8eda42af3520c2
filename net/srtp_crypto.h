/* net/srtp_crypto: the crypto libsrtp2 runs SRTP on, installed through its
 * crypto kernel in place of the library's own back end (NSS on Debian,
 * which allocates and locks per packet). Production runs OpenSSL's
 * libcrypto (net/srtp_crypto_ossl.c): AES-128/256-ICM, HMAC-SHA1 and
 * AES-128-GCM. The mbedTLS AES-ICM and HMAC-SHA1 (net/srtp_crypto.c) and the
 * library's own back end stay selectable for the benchmark and the tests.
 * Every type keeps per-session keyed state and allocates nothing per
 * packet. Internal to net/. */
#ifndef FL_NET_SRTP_CRYPTO_H
#define FL_NET_SRTP_CRYPTO_H

#include <srtp2/auth.h>
#include <srtp2/cipher.h>

typedef enum fl_srtp_backend {
    FL_SRTP_BACKEND_OPENSSL, /* AES-ICM, HMAC-SHA1 and AES-GCM on libcrypto */
    FL_SRTP_BACKEND_MBEDTLS, /* AES-ICM and HMAC-SHA1 on mbedTLS, GCM the library's */
    FL_SRTP_BACKEND_LIBSRTP, /* libsrtp2's own back end for everything */
} fl_srtp_backend;

/* Installs the production back end (OpenSSL) after libsrtp2 ran the known-
 * answer tests of each type (its own test data and the type's). Call after
 * srtp_init(), before any session exists. 0, or FL_EIO when libsrtp2 refused
 * one (the library's own then stays for that type). */
int fl__srtp_crypto_install(void);

/* For the benchmark and tests: restarts libsrtp2's crypto kernel
 * (srtp_shutdown, srtp_init) and installs back end `which` on it. Only when
 * no session exists: sessions made before keep the types they were made
 * with, and the kernel's lists they were checked against are gone. 0, or
 * FL_EIO (libsrtp2 failed to restart or refused a type). */
int fl__srtp_crypto_install_backend(fl_srtp_backend which);

/* Known answers every back end's types are checked with (net/srtp_crypto.c):
 * RFC 3711 B.2 and RFC 6188 7.1 (AES-128/256-ICM keystream), RFC 2202
 * test case 1 (HMAC-SHA1). */
extern const srtp_cipher_test_case_t fl__srtp_kat_icm128;
extern const srtp_cipher_test_case_t fl__srtp_kat_icm256;
extern const srtp_auth_test_case_t fl__srtp_kat_hmac_sha1;

/* The libsrtp2 cipher of type t (its id is the algorithm) holding a state
 * the caller made; on failure nothing is kept (the caller frees its state).
 * Shared by every back end's alloc. */
srtp_err_status_t fl__srtp_cipher_wrap(srtp_cipher_t **out,
                                       const srtp_cipher_type_t *t,
                                       void *state,
                                       int key_len);

/* The OpenSSL types (net/srtp_crypto_ossl.c). */
extern const srtp_cipher_type_t *const fl__srtp_ossl_icm128;
extern const srtp_cipher_type_t *const fl__srtp_ossl_icm256;
extern const srtp_cipher_type_t *const fl__srtp_ossl_gcm128;
extern const srtp_auth_type_t *const fl__srtp_ossl_hmac;

#endif
