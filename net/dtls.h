/* DTLS 1.2 for DTLS-SRTP (RFC 5763, 5764) over mbedTLS, sans-IO.
 *
 * One fl_dtls per transport. The role comes from SDP's a=setup (active:
 * client, passive: server). The peer's certificate is checked only against
 * the SDP a=fingerprint (self-signed certificates are the rule in WebRTC); a
 * mismatch fails the handshake. The fingerprint may be given later with
 * fl_dtls_set_remote_fingerprint(): a handshake that completes before it is
 * known waits for it before reporting CONNECTED.
 *
 *     fl_dtls_create(&d, &cfg);
 *     fl_dtls_start(d, now);                       // client: sends ClientHello
 *     fl_dtls_handle_input(d, now, buf, len);      // DTLS records (RFC 7983 20..63)
 *     fl_dtls_handle_timeout(d, now);              // when the deadline passes
 *     while (fl_dtls_poll_transmit(d, &dgram) == 0) send dgram, fl_bytes_deinit
 *     while (fl_dtls_poll_event(d, &ev) == 0)      CONNECTED (SRTP keys), FAILED, CLOSED
 *     deadline = fl_dtls_poll_timeout(d);
 *
 * Time is the caller's (fl_time); mbedTLS's retransmission timers run on it.
 * Randomness comes from the fl_rand of the config. An fl_dtls belongs to one
 * thread, as does the fl_cert it uses.
 *
 * SRTP profiles: SRTP_AES128_CM_HMAC_SHA1_80 and SRTP_AES128_CM_HMAC_SHA1_32.
 * SRTP_AEAD_AES_128_GCM (RFC 7714) is NOT supported: mbedTLS 2.28 knows no
 * such use_srtp profile id (it accepts only 0x0001, 0x0002, 0x0005, 0x0006),
 * so asking for it fails with FL_ENOTSUP. */
#ifndef FL_NET_DTLS_H
#define FL_NET_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/rand.h"
#include "base/time.h"
#include "net/cert.h"

typedef struct fl_dtls fl_dtls;

typedef enum fl_dtls_role {
    FL_DTLS_ROLE_CLIENT = 1, /* a=setup:active */
    FL_DTLS_ROLE_SERVER = 2, /* a=setup:passive */
} fl_dtls_role;

/* IANA DTLS-SRTP protection profile ids. */
typedef enum fl_dtls_srtp_profile {
    FL_DTLS_SRTP_NONE = 0,
    FL_DTLS_SRTP_AES128_CM_SHA1_80 = 0x0001,
    FL_DTLS_SRTP_AES128_CM_SHA1_32 = 0x0002,
    FL_DTLS_SRTP_AEAD_AES_128_GCM = 0x0007, /* not supported (see above) */
} fl_dtls_srtp_profile;

#define FL_DTLS_MAX_PROFILES 4
#define FL_DTLS_DEFAULT_MTU  1200
/* Longest master key + salt of a supported profile. */
#define FL_DTLS_SRTP_MASTER_MAX 46

typedef struct fl_dtls_config {
    fl_cert *cert;     /* ours; not owned, must outlive the endpoint */
    fl_dtls_role role; /* required */
    /* SDP a=fingerprint value of the peer ("sha-256 AB:..."), or NULL to give
     * it later with fl_dtls_set_remote_fingerprint(). Copied. */
    const char *remote_fingerprint;
    /* In order of preference; n_profiles 0: {AES128_CM_SHA1_80,
     * AES128_CM_SHA1_32}. */
    fl_dtls_srtp_profile profiles[FL_DTLS_MAX_PROFILES];
    size_t n_profiles;
    size_t mtu;                 /* largest datagram; 0: FL_DTLS_DEFAULT_MTU */
    uint32_t hs_timeout_min_ms; /* first retransmission; 0: 1000 */
    uint32_t hs_timeout_max_ms; /* fail after this one; 0: 16000 */
    fl_rand *rand;              /* NULL: fl_rand_system(); must outlive */
} fl_dtls_config;

/* Keying material exported per RFC 5764 section 4.2: the 2 * (key + salt)
 * bytes from the TLS exporter "EXTRACTOR-dtls_srtp", split into the client's
 * and the server's write master key and salt. The client protects what it
 * sends with client_*, the server with server_*. */
typedef struct fl_dtls_srtp_keys {
    fl_dtls_srtp_profile profile;
    size_t key_len;  /* 16 */
    size_t salt_len; /* 14 */
    uint8_t client_key[32];
    uint8_t client_salt[14];
    uint8_t server_key[32];
    uint8_t server_salt[14];
    /* Key then salt, the master key format of libsrtp. local_* is what this
     * endpoint sends with, remote_* what it receives with. */
    uint8_t local_master[FL_DTLS_SRTP_MASTER_MAX];
    uint8_t remote_master[FL_DTLS_SRTP_MASTER_MAX];
    /* The exporter output as is (2 * (key_len + salt_len) bytes). */
    uint8_t material[2 * FL_DTLS_SRTP_MASTER_MAX];
    size_t material_len;
} fl_dtls_srtp_keys;

typedef enum fl_dtls_event_type {
    /* Handshake done and the peer's fingerprint checked. .srtp holds the
     * negotiated profile and keys; profile FL_DTLS_SRTP_NONE (no keys) when
     * the peer did not negotiate use_srtp. */
    FL_DTLS_EVENT_CONNECTED = 1,
    /* Fatal: .err (FL_EAUTH fingerprint or certificate, FL_ETIMEDOUT, FL_ETLS,
     * FL_ENOMEM) and .reason. No keys. */
    FL_DTLS_EVENT_FAILED = 2,
    /* The peer sent close_notify. */
    FL_DTLS_EVENT_CLOSED = 3,
} fl_dtls_event_type;

typedef struct fl_dtls_event {
    fl_dtls_event_type type;
    int err;
    char reason[160];
    fl_dtls_srtp_keys srtp; /* CONNECTED; secret: never log it */
} fl_dtls_event;

typedef enum fl_dtls_state {
    FL_DTLS_STATE_NEW = 0,
    FL_DTLS_STATE_HANDSHAKING = 1,
    FL_DTLS_STATE_CONNECTED = 2,
    FL_DTLS_STATE_CLOSED = 3,
    FL_DTLS_STATE_FAILED = 4,
} fl_dtls_state;

/* FL_EINVAL (no cert, bad role, bad fingerprint, MTU under 200),
 * FL_ENOTSUP (an unsupported SRTP profile), FL_ENOMEM, FL_ETLS. */
int fl_dtls_create(fl_dtls **out, const fl_dtls_config *cfg);

/* Frees d; the SRTP secrets it held are wiped. */
void fl_dtls_destroy(fl_dtls *d);

/* Starts the handshake: a client queues its ClientHello; a server only
 * waits (it also answers a ClientHello received before this call). Call it
 * once ICE has a path. FL_ESTATE if already started. */
int fl_dtls_start(fl_dtls *d, fl_time now);

/* Sets (or replaces, before the handshake completes) the peer's SDP
 * fingerprint. If the handshake already completed, the check happens now
 * and CONNECTED or FAILED is queued. FL_EINVAL/FL_ENOTSUP from
 * fl_cert_fp_parse; FL_ESTATE once CONNECTED or FAILED. */
int fl_dtls_set_remote_fingerprint(fl_dtls *d, const char *sdp_value);

/* One datagram from the peer (RFC 7983: first byte 20..63). Junk never ends
 * the session: a datagram that is not DTLS at all, and one that does not
 * parse as a ClientHello before a server's handshake began, are dropped and
 * counted (fl_dtls_dropped); records mbedTLS rejects (bad MAC, replay, wrong
 * epoch) are dropped by it silently. Returns 0, or FL_ESTATE after
 * FAILED/CLOSED or for a client not yet started (input ignored). */
int fl_dtls_handle_input(fl_dtls *d, fl_time now, const uint8_t *data, size_t len);

/* Drives handshake retransmission; call at fl_dtls_poll_timeout(). */
int fl_dtls_handle_timeout(fl_dtls *d, fl_time now);

/* Moves the next datagram to send into *out (overwritten; the caller
 * deinits it). FL_EAGAIN when none. */
int fl_dtls_poll_transmit(fl_dtls *d, fl_bytes *out);

/* The next event; FL_EAGAIN when none. */
int fl_dtls_poll_event(fl_dtls *d, fl_dtls_event *out);

/* Next deadline for fl_dtls_handle_timeout, or FL_TIME_NEVER. */
fl_time fl_dtls_poll_timeout(const fl_dtls *d);

/* Application data (e.g. SCTP for data channels): one record per call once
 * CONNECTED (FL_ESTATE before, FL_EMSGSIZE above the MTU's room). */
int fl_dtls_send(fl_dtls *d, const void *data, size_t len);

/* The next application data record received, moved into *out (the caller
 * deinits it). FL_EAGAIN when none. */
int fl_dtls_poll_data(fl_dtls *d, fl_bytes *out);

/* Queues close_notify (if the handshake completed) and stops the endpoint:
 * later input is ignored. No CLOSED event for a local close. */
int fl_dtls_close(fl_dtls *d);

fl_dtls_state fl_dtls_get_state(const fl_dtls *d);
fl_dtls_role fl_dtls_get_role(const fl_dtls *d);

/* Datagrams dropped as junk since creation (see fl_dtls_handle_input). */
uint64_t fl_dtls_dropped(const fl_dtls *d);

/* "SRTP_AES128_CM_SHA1_80", ... or "none". */
const char *fl_dtls_srtp_profile_name(fl_dtls_srtp_profile p);

#endif
