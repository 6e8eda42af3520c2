/* Certificates for DTLS-SRTP (mbedTLS): a self-signed ECDSA P-256 certificate
 * made at start, or an RSA/ECDSA certificate and key loaded from PEM
 * (Kurento's pemCertificateRSA / pemCertificateECDSA), and the SDP
 * a=fingerprint of a certificate (RFC 8122).
 *
 * An fl_cert is read-only once made but not thread-safe (signing touches
 * mbedTLS's cached curve tables): give each worker its own with
 * fl_cert_copy(), which has the same certificate, key and fingerprint.
 * No clock is read: the validity period is given by the caller. */
#ifndef FL_NET_CERT_H
#define FL_NET_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rand.h"

typedef struct fl_cert fl_cert;

/* Longest fingerprint text: "sha-512 " + 64 bytes as "XX:" + NUL. */
#define FL_CERT_FP_TEXT_MAX (8 + 64 * 3)

typedef enum fl_cert_hash {
    FL_CERT_HASH_SHA1 = 1,
    FL_CERT_HASH_SHA256 = 2,
    FL_CERT_HASH_SHA384 = 3,
    FL_CERT_HASH_SHA512 = 4,
} fl_cert_hash;

/* A parsed a=fingerprint value. */
typedef struct fl_cert_fp {
    fl_cert_hash hash;
    size_t len; /* digest bytes */
    uint8_t digest[64];
} fl_cert_fp;

/* Makes a P-256 key and a self-signed certificate with a random serial,
 * subject and issuer "CN=<common_name>" (NULL: "fluo"), valid from
 * `not_before` (seconds since the Unix epoch, the caller's wall clock) for
 * `lifetime_s` seconds. The DRBG is seeded from `rand` (NULL:
 * fl_rand_system()). FL_ENOMEM, FL_EINVAL, FL_ETLS. */
int fl_cert_generate(fl_cert **out,
                     const char *common_name,
                     int64_t not_before,
                     int64_t lifetime_s,
                     fl_rand *rand);

/* Loads a PEM certificate (the first one in the file is ours) and its RSA or
 * ECDSA private key; `key_file` NULL: the key is in `cert_file` too.
 * FL_ETLS (logged) when a file is missing or unusable or the key does not
 * match; FL_ENOMEM. */
int fl_cert_load_file(fl_cert **out, const char *cert_file, const char *key_file);

/* The same from PEM text in memory (NUL-terminated strings). */
int fl_cert_load_pem(fl_cert **out, const char *cert_pem, const char *key_pem);

/* An independent copy (same certificate, key and fingerprint) for another
 * thread. */
int fl_cert_copy(fl_cert **out, const fl_cert *c);

void fl_cert_destroy(fl_cert *c);

/* "sha-256 AB:CD:..." for SDP's a=fingerprint; valid while c lives. */
const char *fl_cert_fingerprint(const fl_cert *c);

/* The DER of the certificate; valid while c lives. */
const uint8_t *fl_cert_der(const fl_cert *c, size_t *len);

/* Writes the fingerprint of a DER certificate as SDP text into `out`
 * (FL_CERT_FP_TEXT_MAX bytes is always enough). FL_EINVAL, FL_ERANGE. */
int fl_cert_fingerprint_der(const uint8_t *der,
                            size_t len,
                            fl_cert_hash hash,
                            char *out,
                            size_t cap);

/* Parses an a=fingerprint value: "<hash> <hex pairs separated by ':'>",
 * hash one of sha-1, sha-256, sha-384, sha-512 (any case). Leading and
 * trailing blanks are ignored. FL_EINVAL when malformed, FL_ENOTSUP for
 * another hash function. */
int fl_cert_fp_parse(fl_cert_fp *out, const char *text);

/* True when the certificate `der` has fingerprint `fp` (constant time). */
bool fl_cert_fp_matches(const fl_cert_fp *fp, const uint8_t *der, size_t len);

/* For net/dtls: the mbedTLS certificate and key (mbedtls_x509_crt *,
 * mbedtls_pk_context *). */
void *fl__cert_crt(fl_cert *c);
void *fl__cert_key(fl_cert *c);

#endif
