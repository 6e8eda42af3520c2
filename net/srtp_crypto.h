/* net/srtp_crypto: libsrtp2's AES-128-ICM, AES-256-ICM and HMAC-SHA1 on mbedTLS, with
 * per-session keyed state and no allocation per packet. Internal to net/. */
#ifndef FL_NET_SRTP_CRYPTO_H
#define FL_NET_SRTP_CRYPTO_H

/* Replaces libsrtp2's AES-128-ICM, AES-256-ICM and HMAC-SHA1 with the mbedTLS ones, after
 * libsrtp2 ran their known-answer tests. Call after srtp_init(), before any
 * session exists. 0, or FL_EIO when libsrtp2 refused them (its own stay). */
int fl__srtp_crypto_install(void);

#endif
