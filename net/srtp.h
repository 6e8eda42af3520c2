/* SRTP and SRTCP (RFC 3711, RFC 7714 for AES-GCM) over libsrtp2.
 *
 * One fl_srtp is one direction of one DTLS-SRTP association: an OUTBOUND
 * session protects what we send, an INBOUND session unprotects what we
 * receive. Each session is keyed once from the master key and master salt
 * for its direction and accepts any SSRC (libsrtp's ssrc_any_inbound /
 * ssrc_any_outbound template): a new SSRC needs no setup; libsrtp clones the
 * template stream the first time it sees the SSRC (one allocation per new
 * SSRC, none per packet in this wrapper).
 *
 * Packets are transformed IN PLACE in an fl_buf: protect appends the
 * authentication tag (and for SRTCP the 4-byte E|index word) into the
 * buffer's tailroom; unprotect shortens the payload. The buffer must hold
 * the only reference (a shared buffer is read-only).
 *
 * Keying (RFC 5764 section 4.2): the DTLS exporter with label
 * "EXTRACTOR-dtls_srtp" yields 2 * (key_len + salt_len) bytes laid out as
 *
 *     client_write_SRTP_master_key[key_len]
 *     server_write_SRTP_master_key[key_len]
 *     client_write_SRTP_master_salt[salt_len]
 *     server_write_SRTP_master_salt[salt_len]
 *
 * The DTLS client sends with the client key+salt and receives with the
 * server key+salt; the DTLS server the other way round. The caller splits
 * the material and passes the key and the salt of one direction here.
 * key_len is 16 for the DTLS profiles; salt_len is 14 for the AES-CM
 * profiles and 12 for AEAD_AES_128_GCM (fl_srtp_profile_key_len/_salt_len).
 * The AES-256 profiles (SDES keying, RFC 4568 + RFC 6188) take a 32-byte
 * key and a 14-byte salt, split from the a=crypto inline key||salt.
 *
 * Errors: 0 or a negative FL_E* code:
 *   FL_SRTP_EREPLAY (FL_EEXIST)  replayed or too old packet (replay window)
 *   FL_EAUTH                     authentication tag did not verify
 *   FL_EBADMSG                   malformed packet (too short, bad header)
 *   FL_EMSGSIZE                  protect: tailroom smaller than the trailer
 *   FL_EBUSY                     the buffer has more than one reference
 *   FL_ESTATE                    wrong direction for this session, or the
 *                                key reached its usage limit
 *   FL_EINVAL                    bad argument or configuration
 *
 * Threads: fl_srtp_init() is thread-safe. A session belongs to one thread
 * (the worker loop of its transport); it is not locked. Keys are never
 * logged; fl_srtp_destroy() wipes them. */
#ifndef FL_NET_SRTP_H
#define FL_NET_SRTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Returned for a replayed (or older than the window) packet. */
#define FL_SRTP_EREPLAY FL_EEXIST

/* Default replay window, in packets (libsrtp's own default is 128, too small
 * for video bursts and NACK-driven reordering). */
#define FL_SRTP_DEFAULT_REPLAY_WINDOW 1024
#define FL_SRTP_MIN_REPLAY_WINDOW     64
#define FL_SRTP_MAX_REPLAY_WINDOW     32767

/* Most tailroom any profile here needs: 16-byte GCM tag + 4-byte SRTCP index. */
#define FL_SRTP_MAX_TRAILER_LEN 20

#define FL_SRTP_MAX_KEY_LEN  32
#define FL_SRTP_MAX_SALT_LEN 14

/* DTLS-SRTP protection profiles; values are the "use_srtp" extension's IANA
 * identifiers (RFC 5764 section 4.1.2, RFC 7714 section 14.2). */
typedef enum fl_srtp_profile {
    FL_SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001, /* 10-byte SRTP and SRTCP tags */
    FL_SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002, /* 4-byte SRTP tag, 10-byte SRTCP tag */
    FL_SRTP_AEAD_AES_128_GCM = 0x0007,       /* 16-byte tags */
    /* SDES only (RFC 6188, keyed from a=crypto): no DTLS use_srtp id
     * exists for them, these values are fluo's and net/dtls never offers
     * them. 32-byte key, 14-byte salt. */
    FL_SRTP_AES256_CM_HMAC_SHA1_80 = 0x0101, /* 10-byte SRTP and SRTCP tags */
    FL_SRTP_AES256_CM_HMAC_SHA1_32 = 0x0102, /* 4-byte SRTP tag, 10-byte SRTCP tag */
} fl_srtp_profile;

typedef enum fl_srtp_direction {
    FL_SRTP_INBOUND = 1,  /* unprotect only */
    FL_SRTP_OUTBOUND = 2, /* protect only */
} fl_srtp_direction;

typedef struct fl_srtp_config {
    fl_srtp_profile profile;
    fl_srtp_direction direction;
    const uint8_t *key; /* master key, key_len bytes (16) */
    size_t key_len;
    const uint8_t *salt; /* master salt, salt_len bytes (14 AES-CM, 12 GCM) */
    size_t salt_len;
    /* Replay window in packets, 64..32767; 0: FL_SRTP_DEFAULT_REPLAY_WINDOW.
     * Applies to SRTP; libsrtp's SRTCP window is fixed at 128. */
    uint32_t replay_window;
    /* OUTBOUND only: allow protecting a sequence number twice (retransmission
     * without RTX). The payload MUST be identical or the keystream is reused. */
    int allow_repeat_tx;
} fl_srtp_config;

typedef struct fl_srtp_stats {
    uint64_t rtp_protected;
    uint64_t rtcp_protected;
    uint64_t rtp_unprotected;
    uint64_t rtcp_unprotected;
    uint64_t replay_drops;  /* FL_SRTP_EREPLAY, RTP and RTCP */
    uint64_t auth_failures; /* FL_EAUTH, RTP and RTCP */
    uint64_t bad_packets;   /* FL_EBADMSG */
    uint64_t other_errors;  /* anything else (no tailroom, shared buffer, ...) */
    /* libsrtp's key soft limit events (a stream's key has been used for
     * nearly 2^48 SRTP / 2^31 SRTCP packets: time to rekey). */
    uint64_t key_soft_limits;
    /* INBOUND: streams whose packets authenticated only with a rollover
     * counter of 1 (see fl_srtp_unprotect). */
    uint64_t roc_guessed;
} fl_srtp_stats;

typedef struct fl_srtp fl_srtp;

/* libsrtp2's global initialisation. Idempotent and thread-safe; also called by
 * fl_srtp_create(). Returns 0 or FL_EIO if libsrtp failed to initialise. */
int fl_srtp_init(void);

/* Key and salt lengths of a profile; 0 for an unknown profile. */
size_t fl_srtp_profile_key_len(fl_srtp_profile profile);
size_t fl_srtp_profile_salt_len(fl_srtp_profile profile);

/* "SRTP_AES128_CM_HMAC_SHA1_80" ...; "unknown" otherwise. */
const char *fl_srtp_profile_name(fl_srtp_profile profile);

/* Creates a session for one direction. The key and salt are copied into
 * libsrtp's context; the caller may wipe its copies on return. */
int fl_srtp_create(fl_srtp **out, const fl_srtp_config *cfg);

/* Frees the session and wipes its key material. NULL is ignored. */
void fl_srtp_destroy(fl_srtp *s);

/* Bytes protect appends to an RTP (rtcp = 0) or RTCP (rtcp = 1) packet: the
 * tailroom the egress buffer needs. */
size_t fl_srtp_trailer_len(const fl_srtp *s, int rtcp);

/* OUTBOUND. Encrypts the RTP packet in buf (payload = whole RTP packet) and
 * appends the tag; buf->len grows by fl_srtp_trailer_len(s, 0). Checks the
 * tailroom first (FL_EMSGSIZE). On error buf->len is unchanged; the bytes
 * may have been partly transformed, so drop the packet. */
int fl_srtp_protect(fl_srtp *s, fl_buf *buf);

/* INBOUND. Verifies and decrypts the SRTP packet in buf; on success buf->len
 * shrinks to the RTP packet. On failure the buffer must be dropped.
 *
 * A receiver takes a new SSRC's rollover counter to be 0 (RFC 3711 3.3.1),
 * which is wrong when it missed every packet of the stream up to and past
 * a wrap of the sequence number to 0 (dropped while its DTLS handshake was
 * not done, or lost): then no packet of the stream would ever authenticate.
 * So a packet of an SSRC no RTP packet of has authenticated yet (its SRTCP
 * may have) that fails is tried once more with a rollover counter of 1,
 * kept when it authenticates (stats.roc_guessed counts those), the stream
 * left as it was when not; at most FL_SRTP_ROC_GUESSES times per session,
 * for packets up to FL_SRTP_ROC_GUESS_MAX_LEN bytes, and for the first 16
 * SSRCs of a session. */
#define FL_SRTP_ROC_GUESSES       16
#define FL_SRTP_ROC_GUESS_MAX_LEN 2048
int fl_srtp_unprotect(fl_srtp *s, fl_buf *buf);

/* The same for compound RTCP packets (SRTCP, RFC 3711 section 3.4). */
int fl_srtp_protect_rtcp(fl_srtp *s, fl_buf *buf);
int fl_srtp_unprotect_rtcp(fl_srtp *s, fl_buf *buf);

void fl_srtp_get_stats(const fl_srtp *s, fl_srtp_stats *out);

#endif
