/* STUN messages (RFC 8489, RFC 5389) with the ICE (RFC 8445) and TURN
 * (RFC 8656) attributes, and sans-IO client transactions.
 *
 * Parsing is zero-copy: an fl_stun_msg is a view over the caller's bytes and
 * lives no longer than they do. Writing goes into a caller buffer and never
 * writes past it. Nothing here allocates, reads the clock, draws random
 * numbers by itself or keeps global state; every function is reentrant and
 * an object belongs to the thread that uses it.
 *
 * Errors: FL_EBADMSG for any malformed message (bad header, length, padding,
 * truncated or malformed attribute, FINGERPRINT mismatch), FL_ENOTSUP for a
 * message without the magic cookie (RFC 3489), FL_EMSGSIZE when a message has
 * more attributes than fl_stun_msg holds or a writer's buffer is full,
 * FL_ENOENT for an absent attribute, FL_EAUTH for a MESSAGE-INTEGRITY
 * mismatch, FL_EINVAL for bad arguments. */
#ifndef FL_ICE_STUN_H
#define FL_ICE_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/rand.h"
#include "base/time.h"

#define FL_STUN_HEADER_SIZE   20
#define FL_STUN_MAGIC_COOKIE  0x2112A442u
#define FL_STUN_TXN_ID_SIZE   12
#define FL_STUN_ATTR_HDR_SIZE 4
/* Attributes one fl_stun_msg records; a message with more is FL_EMSGSIZE. */
#define FL_STUN_MAX_ATTRS 40
/* Unknown comprehension-required attribute types recorded per message. */
#define FL_STUN_MAX_UNKNOWN 16

#define FL_STUN_INTEGRITY_SIZE        20 /* HMAC-SHA1 */
#define FL_STUN_INTEGRITY_SHA256_SIZE 32 /* HMAC-SHA256, full length */
#define FL_STUN_FINGERPRINT_XOR       0x5354554Eu
#define FL_STUN_KEY_MD5_SIZE          16
#define FL_STUN_KEY_SHA256_SIZE       32

/* Methods (12 bits). */
enum fl_stun_method {
    FL_STUN_BINDING = 0x001,
    FL_STUN_ALLOCATE = 0x003,
    FL_STUN_REFRESH = 0x004,
    FL_STUN_SEND = 0x006,
    FL_STUN_DATA = 0x007,
    FL_STUN_CREATE_PERMISSION = 0x008,
    FL_STUN_CHANNEL_BIND = 0x009,
};

/* Classes (2 bits, C1 C0). */
enum fl_stun_class {
    FL_STUN_REQUEST = 0,
    FL_STUN_INDICATION = 1,
    FL_STUN_SUCCESS = 2,
    FL_STUN_ERROR = 3,
};

/* Attribute types. 0x0000-0x7FFF are comprehension-required. */
enum fl_stun_attr_type {
    FL_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    FL_STUN_ATTR_USERNAME = 0x0006,
    FL_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    FL_STUN_ATTR_ERROR_CODE = 0x0009,
    FL_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    FL_STUN_ATTR_CHANNEL_NUMBER = 0x000C,
    FL_STUN_ATTR_LIFETIME = 0x000D,
    FL_STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
    FL_STUN_ATTR_DATA = 0x0013,
    FL_STUN_ATTR_REALM = 0x0014,
    FL_STUN_ATTR_NONCE = 0x0015,
    FL_STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
    FL_STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
    FL_STUN_ATTR_EVEN_PORT = 0x0018,
    FL_STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
    FL_STUN_ATTR_DONT_FRAGMENT = 0x001A,
    FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
    FL_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
    FL_STUN_ATTR_USERHASH = 0x001E,
    FL_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    FL_STUN_ATTR_RESERVATION_TOKEN = 0x0022,
    FL_STUN_ATTR_PRIORITY = 0x0024,
    FL_STUN_ATTR_USE_CANDIDATE = 0x0025,
    /* comprehension-optional */
    FL_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
    FL_STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
    FL_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
    FL_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
    FL_STUN_ATTR_ICMP = 0x8004,
    FL_STUN_ATTR_SOFTWARE = 0x8022,
    FL_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
    FL_STUN_ATTR_FINGERPRINT = 0x8028,
    FL_STUN_ATTR_ICE_CONTROLLED = 0x8029,
    FL_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* PASSWORD-ALGORITHM values (RFC 8489 §18.5). */
#define FL_STUN_PASSWORD_ALG_MD5    0x0001
#define FL_STUN_PASSWORD_ALG_SHA256 0x0002

/* REQUESTED-TRANSPORT protocol number for UDP (RFC 8656 §18.11). */
#define FL_STUN_TRANSPORT_UDP 17

/* ERROR-CODE values used by ICE and TURN. */
enum fl_stun_error_code {
    FL_STUN_ERR_TRY_ALTERNATE = 300,
    FL_STUN_ERR_BAD_REQUEST = 400,
    FL_STUN_ERR_UNAUTHORIZED = 401,
    FL_STUN_ERR_FORBIDDEN = 403,
    FL_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
    FL_STUN_ERR_ALLOCATION_MISMATCH = 437,
    FL_STUN_ERR_STALE_NONCE = 438,
    FL_STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED = 440,
    FL_STUN_ERR_WRONG_CREDENTIALS = 441,
    FL_STUN_ERR_UNSUPPORTED_TRANSPORT = 442,
    FL_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH = 443,
    FL_STUN_ERR_ALLOCATION_QUOTA_REACHED = 486,
    FL_STUN_ERR_ROLE_CONFLICT = 487,
    FL_STUN_ERR_SERVER_ERROR = 500,
    FL_STUN_ERR_INSUFFICIENT_CAPACITY = 508,
};

/* ---- Parsing ------------------------------------------------------------ */

/* One attribute as it sits in the message: `value` points into the parsed
 * bytes, `len` excludes the padding. */
typedef struct fl_stun_attr {
    uint16_t type;
    uint16_t len;
    const uint8_t *value;
} fl_stun_attr;

/* A parsed message: a view over the bytes given to fl_stun_msg_parse.
 * `attrs` holds, in order, every attribute up to and including
 * MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; other
 * attributes after an integrity attribute are ignored (RFC 8489 §14.5, §14.6).
 * The *_off fields are byte offsets of those attributes' headers in `buf`
 * (0: absent; an attribute is never at offset 0). */
typedef struct fl_stun_msg {
    const uint8_t *buf;
    size_t len; /* FL_STUN_HEADER_SIZE + the header's length field */
    uint16_t type;
    uint16_t method;
    uint8_t cls;
    const uint8_t *txn_id; /* FL_STUN_TXN_ID_SIZE bytes in buf */
    size_t num_attrs;
    fl_stun_attr attrs[FL_STUN_MAX_ATTRS];
    size_t integrity_off;
    size_t integrity_sha256_off;
    size_t fingerprint_off; /* when set, the FINGERPRINT was verified */
    /* Comprehension-required attribute types (< 0x8000) the parser does not
     * know, before any integrity attribute; a server answers a request with
     * 420 and these in UNKNOWN-ATTRIBUTES. Capped at FL_STUN_MAX_UNKNOWN. */
    size_t num_unknown;
    uint16_t unknown[FL_STUN_MAX_UNKNOWN];
} fl_stun_msg;

/* Quick check (RFC 7983 demux and RFC 8489 §6): at least a header, the two
 * top bits zero, the magic cookie, a length field that is a multiple of 4
 * and equal to len - 20. Returns 1 or 0. Does not look at attributes. */
int fl_stun_is_message(const uint8_t *buf, size_t len);

/* Size of the STUN message whose header starts `buf` (20 + length field), or
 * 0 when fewer than 4 bytes are available. For stream framing (TCP). */
size_t fl_stun_msg_size(const uint8_t *buf, size_t len);

/* Parses exactly `len` bytes (one datagram or one framed message) into `m`.
 * Checks: header, cookie, length field == len - 20, each attribute within the
 * message, zero-free but present padding to 4 bytes, MESSAGE-INTEGRITY of 20
 * bytes, MESSAGE-INTEGRITY-SHA256 of 16..32 bytes in multiples of 4,
 * FINGERPRINT of 4 bytes that is the last attribute and matches the CRC-32.
 * Padding bytes may hold any value (RFC 8489 §14). On error `m` is unusable. */
int fl_stun_msg_parse(fl_stun_msg *m, const uint8_t *buf, size_t len);

/* First attribute of `type`, or NULL. */
const fl_stun_attr *fl_stun_msg_find(const fl_stun_msg *m, uint16_t type);

/* Decodes an XOR-MAPPED/XOR-PEER/XOR-RELAYED-ADDRESS attribute (IPv4 or
 * IPv6) using the message's cookie and transaction id. FL_EBADMSG when
 * malformed. The _attr form decodes one given attribute (several
 * XOR-PEER-ADDRESS may appear); the _msg form finds the first of `type`
 * (FL_ENOENT when absent). */
int fl_stun_attr_get_xor_addr(const fl_stun_msg *m, const fl_stun_attr *a, fl_addr *out);
int fl_stun_msg_get_xor_addr(const fl_stun_msg *m, uint16_t type, fl_addr *out);

/* Decodes a plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER). */
int fl_stun_attr_get_addr(const fl_stun_attr *a, fl_addr *out);
int fl_stun_msg_get_addr(const fl_stun_msg *m, uint16_t type, fl_addr *out);

/* 32-bit value (PRIORITY, LIFETIME, FINGERPRINT...; must be 4 bytes) and
 * 64-bit value (ICE-CONTROLLED/-CONTROLLING, RESERVATION-TOKEN; 8 bytes). */
int fl_stun_msg_get_u32(const fl_stun_msg *m, uint16_t type, uint32_t *out);
int fl_stun_msg_get_u64(const fl_stun_msg *m, uint16_t type, uint64_t *out);

/* A text attribute (USERNAME, REALM, NONCE, SOFTWARE...): pointer into the
 * message, NOT NUL-terminated, and its length. */
int fl_stun_msg_get_string(const fl_stun_msg *m, uint16_t type, const char **s, size_t *len);

/* ERROR-CODE: code 300..699 and the reason phrase (not NUL-terminated; may be
 * empty). FL_EBADMSG for a class outside 3..6 or a number above 99. */
int fl_stun_msg_get_error(const fl_stun_msg *m, int *code, const char **reason, size_t *reason_len);

/* UNKNOWN-ATTRIBUTES: copies up to `cap` types into `types`, sets `*n` to the
 * number present (which may exceed cap). FL_EBADMSG for an odd length. */
int fl_stun_msg_get_unknown_attrs(const fl_stun_msg *m, uint16_t *types, size_t cap, size_t *n);

/* Verifies the message's integrity with `key` (the short-term password, or a
 * long-term key from fl_stun_long_term_key_*). When MESSAGE-INTEGRITY-SHA256
 * is present it is checked, otherwise MESSAGE-INTEGRITY (HMAC-SHA1). The
 * HMAC covers the message up to the attribute, with the header length set as
 * if the attribute ended the message. 0, FL_ENOENT (no integrity attribute)
 * or FL_EAUTH (mismatch). The _sha1 form checks MESSAGE-INTEGRITY only. */
int fl_stun_msg_check_integrity(const fl_stun_msg *m, const uint8_t *key, size_t keylen);
int fl_stun_msg_check_integrity_sha1(const fl_stun_msg *m, const uint8_t *key, size_t keylen);

/* Long-term credential keys (RFC 8489 §9.2.2): MD5 or SHA-256 of
 * "username:realm:password". The strings are used as given (callers apply
 * OpaqueString/SASLprep if they need it). Never log the result. */
int fl_stun_long_term_key_md5(uint8_t out[FL_STUN_KEY_MD5_SIZE],
                              const char *username,
                              const char *realm,
                              const char *password);
int fl_stun_long_term_key_sha256(uint8_t out[FL_STUN_KEY_SHA256_SIZE],
                                 const char *username,
                                 const char *realm,
                                 const char *password);

/* USERHASH value (RFC 8489 §14.4): SHA-256 of "username:realm". */
int fl_stun_userhash(uint8_t out[32], const char *username, const char *realm);

/* True for the attribute types this module knows (all of the enum above). */
int fl_stun_attr_is_known(uint16_t type);

/* ---- Writing ------------------------------------------------------------ */

/* Writes one message into a caller buffer. Errors are sticky: after the
 * first failure (FL_EMSGSIZE for a full buffer, FL_EINVAL for a bad
 * argument, FL_ESTATE for an attribute after FINGERPRINT) every call returns
 * it and nothing more is written; fl_stun_writer_finish reports it. The
 * header length is kept current after every attribute. */
typedef struct fl_stun_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err;
    int sealed;       /* FINGERPRINT written */
    uint8_t pad_byte; /* padding value, 0 after init (any value is valid) */
} fl_stun_writer;

/* Starts a message of `method` and `cls` with transaction id `txn_id`
 * (12 bytes). FL_EMSGSIZE (sticky) when cap < 20. */
int fl_stun_writer_init(fl_stun_writer *w,
                        uint8_t *buf,
                        size_t cap,
                        uint16_t method,
                        uint8_t cls,
                        const uint8_t *txn_id);

/* Any attribute from raw bytes (value may be NULL when len is 0); pads
 * with zeros to 4 bytes. */
int fl_stun_writer_add(fl_stun_writer *w, uint16_t type, const void *value, size_t len);
int fl_stun_writer_add_u32(fl_stun_writer *w, uint16_t type, uint32_t v);
int fl_stun_writer_add_u64(fl_stun_writer *w, uint16_t type, uint64_t v);
/* NUL-terminated text, written without the NUL. */
int fl_stun_writer_add_string(fl_stun_writer *w, uint16_t type, const char *s);
/* XOR-MAPPED/XOR-PEER/XOR-RELAYED-ADDRESS, IPv4 or IPv6. */
int fl_stun_writer_add_xor_addr(fl_stun_writer *w, uint16_t type, const fl_addr *a);
/* MAPPED-ADDRESS, ALTERNATE-SERVER. */
int fl_stun_writer_add_addr(fl_stun_writer *w, uint16_t type, const fl_addr *a);
/* ERROR-CODE; code in 300..699, reason may be NULL. */
int fl_stun_writer_add_error(fl_stun_writer *w, int code, const char *reason);
int fl_stun_writer_add_unknown_attrs(fl_stun_writer *w, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY (HMAC-SHA1) / MESSAGE-INTEGRITY-SHA256 (32 bytes) over
 * what is written so far. Add FINGERPRINT, if any, after these. */
int fl_stun_writer_add_integrity(fl_stun_writer *w, const uint8_t *key, size_t keylen);
int fl_stun_writer_add_integrity_sha256(fl_stun_writer *w, const uint8_t *key, size_t keylen);
/* FINGERPRINT; nothing can be added after it. */
int fl_stun_writer_add_fingerprint(fl_stun_writer *w);
/* Sets *len to the message length; returns the sticky error if any. */
int fl_stun_writer_finish(fl_stun_writer *w, size_t *len);

/* ---- Client transactions (RFC 8489 §6.2) -------------------------------- */

#define FL_STUN_RTO_DEFAULT (500 * FL_TIME_MS)
#define FL_STUN_RC_DEFAULT  7
#define FL_STUN_RM_DEFAULT  16
#define FL_STUN_TI_DEFAULT  (39500 * FL_TIME_MS) /* reliable transports */

enum fl_stun_txn_action {
    FL_STUN_TXN_WAIT = 0,       /* nothing to do now */
    FL_STUN_TXN_RETRANSMIT = 1, /* send the request again, same bytes */
    FL_STUN_TXN_TIMED_OUT = 2,  /* give up: the transaction failed */
};

/* A request's retransmission state. Unreliable: sent at 0, RTO, 3 RTO, ...
 * (the interval doubles) Rc times in all, then the transaction times out
 * Rm * RTO after the last send. Reliable: sent once, times out after Ti.
 * The caller keeps the request bytes and sends them on RETRANSMIT. */
typedef struct fl_stun_txn {
    uint8_t id[FL_STUN_TXN_ID_SIZE];
    fl_time next;     /* next deadline, FL_TIME_NEVER when done */
    fl_time interval; /* current retransmission interval */
    fl_time rto;
    unsigned sent; /* transmissions so far */
    unsigned rc;
    unsigned rm;
    int reliable;
    int done;
    fl_time max_interval; /* cap on the doubling interval; 0 (set by start): none */
} fl_stun_txn;

/* Fills a fresh transaction id from `r`. */
void fl_stun_txn_id_generate(fl_rand *r, uint8_t id[FL_STUN_TXN_ID_SIZE]);

/* Generates t->id from `r` and zeroes the rest; call before start. */
void fl_stun_txn_init(fl_stun_txn *t, fl_rand *r);

/* The request was sent for the first time at `now`. rto <= 0 means
 * FL_STUN_RTO_DEFAULT. _start uses Rc 7 and Rm 16; _start_ex takes them
 * (0 means the default). A reliable transaction never retransmits and times
 * out after Ti = 39.5 s whatever rto, rc and rm say. */
void fl_stun_txn_start(fl_stun_txn *t, fl_time now, fl_time rto, int reliable);
void fl_stun_txn_start_ex(fl_stun_txn *t,
                          fl_time now,
                          fl_time rto,
                          unsigned rc,
                          unsigned rm,
                          int reliable);

/* Next deadline, FL_TIME_NEVER once finished or timed out. */
fl_time fl_stun_txn_poll_timeout(const fl_stun_txn *t);

/* Advances to `now`: WAIT, RETRANSMIT (send now; call again, one deadline per
 * call) or TIMED_OUT (reported once; then WAIT). */
int fl_stun_txn_handle_timeout(fl_stun_txn *t, fl_time now);

/* A response matched: stop the timers. */
void fl_stun_txn_finish(fl_stun_txn *t);

/* 1 when `m` answers this transaction (same transaction id, response class). */
int fl_stun_txn_matches(const fl_stun_txn *t, const fl_stun_msg *m);

#endif
