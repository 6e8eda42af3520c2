/* STUN message parsing and writing (RFC 8489). See stun.h. */
#include "ice/stun.h"

#include <mbedtls/md5.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"

FL_LOG_TAG("stun");

/* ---- Byte helpers ------------------------------------------------------- */

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

/* CRC-32 (ISO HDLC, as FINGERPRINT uses), four bits at a time. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
    }
    return ~crc;
}

/* ---- HMAC (RFC 2104) over SHA-1 or SHA-256, without allocation ----------- */

enum {
    HMAC_BLOCK = 64,
    HMAC_MAX_OUT = 32
};

typedef struct hmac {
    int sha256;
    mbedtls_sha1_context sha1;
    mbedtls_sha256_context sha2;
    uint8_t opad[HMAC_BLOCK];
} hmac;

static void hash_starts(hmac *h)
{
    if (h->sha256) {
        mbedtls_sha256_starts_ret(&h->sha2, 0);
    } else {
        mbedtls_sha1_starts_ret(&h->sha1);
    }
}

static void hash_update(hmac *h, const uint8_t *p, size_t n)
{
    if (h->sha256) {
        mbedtls_sha256_update_ret(&h->sha2, p, n);
    } else {
        mbedtls_sha1_update_ret(&h->sha1, p, n);
    }
}

static size_t hash_finish(hmac *h, uint8_t *out)
{
    if (h->sha256) {
        mbedtls_sha256_finish_ret(&h->sha2, out);
        return 32;
    }
    mbedtls_sha1_finish_ret(&h->sha1, out);
    return 20;
}

static void hmac_start(hmac *h, int sha256, const uint8_t *key, size_t keylen)
{
    uint8_t k[HMAC_BLOCK] = { 0 };
    uint8_t ipad[HMAC_BLOCK];
    h->sha256 = sha256;
    mbedtls_sha1_init(&h->sha1);
    mbedtls_sha256_init(&h->sha2);
    if (keylen > HMAC_BLOCK) {
        hash_starts(h);
        hash_update(h, key, keylen);
        hash_finish(h, k);
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (size_t i = 0; i < HMAC_BLOCK; i++) {
        ipad[i] = (uint8_t)(k[i] ^ 0x36);
        h->opad[i] = (uint8_t)(k[i] ^ 0x5c);
    }
    hash_starts(h);
    hash_update(h, ipad, sizeof ipad);
    memset(k, 0, sizeof k);
    memset(ipad, 0, sizeof ipad);
}

static size_t hmac_finish(hmac *h, uint8_t out[HMAC_MAX_OUT])
{
    uint8_t inner[HMAC_MAX_OUT];
    size_t n = hash_finish(h, inner);
    hash_starts(h);
    hash_update(h, h->opad, sizeof h->opad);
    hash_update(h, inner, n);
    hash_finish(h, out);
    mbedtls_sha1_free(&h->sha1);
    mbedtls_sha256_free(&h->sha2);
    memset(h->opad, 0, sizeof h->opad);
    return n;
}

/* HMAC over buf[0..end) with the header's length field replaced by
 * `hdrlen`: what MESSAGE-INTEGRITY(-SHA256) and the writer both need. */
static size_t stun_hmac(int sha256,
                        const uint8_t *key,
                        size_t keylen,
                        const uint8_t *buf,
                        size_t end,
                        size_t hdrlen,
                        uint8_t out[HMAC_MAX_OUT])
{
    hmac h;
    uint8_t head[4];
    memcpy(head, buf, 2);
    fl_put_be16(head + 2, (uint16_t)hdrlen);
    hmac_start(&h, sha256, key, keylen);
    hash_update(&h, head, sizeof head);
    hash_update(&h, buf + 4, end - 4);
    return hmac_finish(&h, out);
}

static int equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= (uint8_t)(a[i] ^ b[i]);
    }
    return d == 0;
}

/* ---- Parsing ------------------------------------------------------------ */

int fl_stun_attr_is_known(uint16_t type)
{
    switch (type) {
    case FL_STUN_ATTR_MAPPED_ADDRESS:
    case FL_STUN_ATTR_USERNAME:
    case FL_STUN_ATTR_MESSAGE_INTEGRITY:
    case FL_STUN_ATTR_ERROR_CODE:
    case FL_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case FL_STUN_ATTR_CHANNEL_NUMBER:
    case FL_STUN_ATTR_LIFETIME:
    case FL_STUN_ATTR_XOR_PEER_ADDRESS:
    case FL_STUN_ATTR_DATA:
    case FL_STUN_ATTR_REALM:
    case FL_STUN_ATTR_NONCE:
    case FL_STUN_ATTR_XOR_RELAYED_ADDRESS:
    case FL_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case FL_STUN_ATTR_EVEN_PORT:
    case FL_STUN_ATTR_REQUESTED_TRANSPORT:
    case FL_STUN_ATTR_DONT_FRAGMENT:
    case FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case FL_STUN_ATTR_PASSWORD_ALGORITHM:
    case FL_STUN_ATTR_USERHASH:
    case FL_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case FL_STUN_ATTR_RESERVATION_TOKEN:
    case FL_STUN_ATTR_PRIORITY:
    case FL_STUN_ATTR_USE_CANDIDATE:
    case FL_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    case FL_STUN_ATTR_ADDRESS_ERROR_CODE:
    case FL_STUN_ATTR_PASSWORD_ALGORITHMS:
    case FL_STUN_ATTR_ALTERNATE_DOMAIN:
    case FL_STUN_ATTR_ICMP:
    case FL_STUN_ATTR_SOFTWARE:
    case FL_STUN_ATTR_ALTERNATE_SERVER:
    case FL_STUN_ATTR_FINGERPRINT:
    case FL_STUN_ATTR_ICE_CONTROLLED:
    case FL_STUN_ATTR_ICE_CONTROLLING:
        return 1;
    default:
        return 0;
    }
}

int fl_stun_is_message(const uint8_t *buf, size_t len)
{
    if (!buf || len < FL_STUN_HEADER_SIZE || (buf[0] & 0xC0) != 0) {
        return 0;
    }
    size_t hdrlen = fl_get_be16(buf + 2);
    return (hdrlen & 3) == 0 && hdrlen + FL_STUN_HEADER_SIZE == len &&
           fl_get_be32(buf + 4) == FL_STUN_MAGIC_COOKIE;
}

size_t fl_stun_msg_size(const uint8_t *buf, size_t len)
{
    if (!buf || len < 4) {
        return 0;
    }
    return FL_STUN_HEADER_SIZE + (size_t)fl_get_be16(buf + 2);
}

enum {
    AFTER_NONE,
    AFTER_MI,
    AFTER_MI_SHA256
};

static int append_attr(fl_stun_msg *m, uint16_t type, uint16_t len, const uint8_t *value)
{
    if (m->num_attrs == FL_STUN_MAX_ATTRS) {
        fl_log(FL_LOG_DEBUG, "more than %d attributes", FL_STUN_MAX_ATTRS);
        return FL_EMSGSIZE;
    }
    fl_stun_attr *a = &m->attrs[m->num_attrs++];
    a->type = type;
    a->len = len;
    a->value = value;
    return 0;
}

static int check_fingerprint(fl_stun_msg *m, size_t off, uint16_t len, const uint8_t *value)
{
    if (len != 4 || off + 8 != m->len) {
        fl_log(FL_LOG_DEBUG, "FINGERPRINT not last or of length %u", (unsigned)len);
        return FL_EBADMSG;
    }
    if ((crc32(m->buf, off) ^ FL_STUN_FINGERPRINT_XOR) != fl_get_be32(value)) {
        fl_log(FL_LOG_DEBUG, "FINGERPRINT mismatch");
        return FL_EBADMSG;
    }
    m->fingerprint_off = off;
    return append_attr(m, FL_STUN_ATTR_FINGERPRINT, len, value);
}

/* Records one attribute found at `off`, applying the ordering rules. */
static int take_attr(fl_stun_msg *m,
                     int *after,
                     size_t off,
                     uint16_t type,
                     uint16_t len,
                     const uint8_t *value)
{
    if (type == FL_STUN_ATTR_FINGERPRINT) {
        return check_fingerprint(m, off, len, value);
    }
    if (*after == AFTER_MI_SHA256) {
        return 0; /* ignored (RFC 8489 §14.6) */
    }
    if (type == FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
        if (len < 16 || len > 32 || (len & 3) != 0) {
            fl_log(FL_LOG_DEBUG, "MESSAGE-INTEGRITY-SHA256 of length %u", (unsigned)len);
            return FL_EBADMSG;
        }
        m->integrity_sha256_off = off;
        *after = AFTER_MI_SHA256;
        return append_attr(m, type, len, value);
    }
    if (*after == AFTER_MI) {
        return 0; /* ignored (RFC 8489 §14.5) */
    }
    if (type == FL_STUN_ATTR_MESSAGE_INTEGRITY) {
        if (len != FL_STUN_INTEGRITY_SIZE) {
            fl_log(FL_LOG_DEBUG, "MESSAGE-INTEGRITY of length %u", (unsigned)len);
            return FL_EBADMSG;
        }
        m->integrity_off = off;
        *after = AFTER_MI;
        return append_attr(m, type, len, value);
    }
    if (type < 0x8000 && !fl_stun_attr_is_known(type) && m->num_unknown < FL_STUN_MAX_UNKNOWN) {
        m->unknown[m->num_unknown++] = type;
    }
    return append_attr(m, type, len, value);
}

static int parse_attrs(fl_stun_msg *m)
{
    int after = AFTER_NONE;
    size_t off = FL_STUN_HEADER_SIZE;
    while (off < m->len) {
        if (m->fingerprint_off != 0) {
            fl_log(FL_LOG_DEBUG, "attribute after FINGERPRINT");
            return FL_EBADMSG;
        }
        if (m->len - off < FL_STUN_ATTR_HDR_SIZE) {
            fl_log(FL_LOG_DEBUG, "truncated attribute header at %zu", off);
            return FL_EBADMSG;
        }
        uint16_t type = fl_get_be16(m->buf + off);
        uint16_t len = fl_get_be16(m->buf + off + 2);
        if (pad4(len) > m->len - off - FL_STUN_ATTR_HDR_SIZE) {
            fl_log(FL_LOG_DEBUG, "attribute 0x%04x of length %u overruns the message",
                   (unsigned)type, (unsigned)len);
            return FL_EBADMSG;
        }
        int err = take_attr(m, &after, off, type, len, m->buf + off + FL_STUN_ATTR_HDR_SIZE);
        if (err < 0) {
            return err;
        }
        off += FL_STUN_ATTR_HDR_SIZE + pad4(len);
    }
    return 0;
}

int fl_stun_msg_parse(fl_stun_msg *m, const uint8_t *buf, size_t len)
{
    if (!m || !buf) {
        return FL_EINVAL;
    }
    if (len < FL_STUN_HEADER_SIZE || (buf[0] & 0xC0) != 0) {
        fl_log(FL_LOG_DEBUG, "not a STUN header (%zu bytes)", len);
        return FL_EBADMSG;
    }
    size_t hdrlen = fl_get_be16(buf + 2);
    if ((hdrlen & 3) != 0 || hdrlen + FL_STUN_HEADER_SIZE != len) {
        fl_log(FL_LOG_DEBUG, "length field %zu for %zu bytes", hdrlen, len);
        return FL_EBADMSG;
    }
    if (fl_get_be32(buf + 4) != FL_STUN_MAGIC_COOKIE) {
        fl_log(FL_LOG_DEBUG, "no magic cookie (RFC 3489 message)");
        return FL_ENOTSUP;
    }
    m->buf = buf;
    m->len = len;
    m->type = fl_get_be16(buf);
    m->cls = (uint8_t)(((m->type >> 4) & 1) | ((m->type >> 7) & 2));
    m->method =
            (uint16_t)((m->type & 0x000F) | ((m->type >> 1) & 0x0070) | ((m->type >> 2) & 0x0F80));
    m->txn_id = buf + 8;
    m->num_attrs = 0;
    m->integrity_off = 0;
    m->integrity_sha256_off = 0;
    m->fingerprint_off = 0;
    m->num_unknown = 0;
    return parse_attrs(m);
}

const fl_stun_attr *fl_stun_msg_find(const fl_stun_msg *m, uint16_t type)
{
    for (size_t i = 0; i < m->num_attrs; i++) {
        if (m->attrs[i].type == type) {
            return &m->attrs[i];
        }
    }
    return NULL;
}

/* Family byte and length shared by both address forms. */
static int addr_header(const fl_stun_attr *a, fl_addr *out)
{
    if (a->len < 4) {
        return FL_EBADMSG;
    }
    memset(out, 0, sizeof *out);
    if (a->value[1] == 0x01 && a->len == 8) {
        out->family = 4;
    } else if (a->value[1] == 0x02 && a->len == 20) {
        out->family = 6;
    } else {
        fl_log(FL_LOG_DEBUG, "address family %u with length %u", (unsigned)a->value[1],
               (unsigned)a->len);
        return FL_EBADMSG;
    }
    out->port = fl_get_be16(a->value + 2);
    return 0;
}

int fl_stun_attr_get_addr(const fl_stun_attr *a, fl_addr *out)
{
    if (!a || !out) {
        return FL_EINVAL;
    }
    int err = addr_header(a, out);
    if (err < 0) {
        return err;
    }
    memcpy(out->ip, a->value + 4, out->family == 4 ? 4 : 16);
    return 0;
}

/* The 16 bytes an address is XORed with: magic cookie, transaction id. */
static void xor_pad(const uint8_t *txn_id, uint8_t pad[16])
{
    fl_put_be32(pad, FL_STUN_MAGIC_COOKIE);
    memcpy(pad + 4, txn_id, FL_STUN_TXN_ID_SIZE);
}

int fl_stun_attr_get_xor_addr(const fl_stun_msg *m, const fl_stun_attr *a, fl_addr *out)
{
    if (!m || !a || !out) {
        return FL_EINVAL;
    }
    int err = addr_header(a, out);
    if (err < 0) {
        return err;
    }
    uint8_t pad[16];
    xor_pad(m->txn_id, pad);
    out->port = (uint16_t)(out->port ^ (FL_STUN_MAGIC_COOKIE >> 16));
    size_t n = out->family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++) {
        out->ip[i] = (uint8_t)(a->value[4 + i] ^ pad[i]);
    }
    return 0;
}

int fl_stun_msg_get_xor_addr(const fl_stun_msg *m, uint16_t type, fl_addr *out)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, type);
    return a ? fl_stun_attr_get_xor_addr(m, a, out) : FL_ENOENT;
}

int fl_stun_msg_get_addr(const fl_stun_msg *m, uint16_t type, fl_addr *out)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, type);
    return a ? fl_stun_attr_get_addr(a, out) : FL_ENOENT;
}

int fl_stun_msg_get_u32(const fl_stun_msg *m, uint16_t type, uint32_t *out)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, type);
    if (!a) {
        return FL_ENOENT;
    }
    if (a->len != 4) {
        return FL_EBADMSG;
    }
    *out = fl_get_be32(a->value);
    return 0;
}

int fl_stun_msg_get_u64(const fl_stun_msg *m, uint16_t type, uint64_t *out)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, type);
    if (!a) {
        return FL_ENOENT;
    }
    if (a->len != 8) {
        return FL_EBADMSG;
    }
    *out = (uint64_t)fl_get_be32(a->value) << 32 | fl_get_be32(a->value + 4);
    return 0;
}

int fl_stun_msg_get_string(const fl_stun_msg *m, uint16_t type, const char **s, size_t *len)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, type);
    if (!a) {
        return FL_ENOENT;
    }
    *s = (const char *)a->value;
    *len = a->len;
    return 0;
}

int fl_stun_msg_get_error(const fl_stun_msg *m, int *code, const char **reason, size_t *reason_len)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, FL_STUN_ATTR_ERROR_CODE);
    if (!a) {
        return FL_ENOENT;
    }
    if (a->len < 4) {
        return FL_EBADMSG;
    }
    unsigned cls = a->value[2] & 7u;
    unsigned num = a->value[3];
    if (cls < 3 || cls > 6 || num > 99) {
        fl_log(FL_LOG_DEBUG, "ERROR-CODE class %u number %u", cls, num);
        return FL_EBADMSG;
    }
    *code = (int)(cls * 100 + num);
    if (reason) {
        *reason = (const char *)a->value + 4;
    }
    if (reason_len) {
        *reason_len = a->len - 4u;
    }
    return 0;
}

int fl_stun_msg_get_unknown_attrs(const fl_stun_msg *m, uint16_t *types, size_t cap, size_t *n)
{
    const fl_stun_attr *a = fl_stun_msg_find(m, FL_STUN_ATTR_UNKNOWN_ATTRIBUTES);
    if (!a) {
        return FL_ENOENT;
    }
    if ((a->len & 1) != 0) {
        return FL_EBADMSG;
    }
    size_t count = a->len / 2u;
    for (size_t i = 0; i < count && i < cap; i++) {
        types[i] = fl_get_be16(a->value + 2 * i);
    }
    *n = count;
    return 0;
}

static int check_mi(const fl_stun_msg *m, size_t off, int sha256, const uint8_t *key, size_t keylen)
{
    uint8_t mac[HMAC_MAX_OUT];
    size_t len = fl_get_be16(m->buf + off + 2);
    size_t hdrlen = off + FL_STUN_ATTR_HDR_SIZE + len - FL_STUN_HEADER_SIZE;
    stun_hmac(sha256, key, keylen, m->buf, off, hdrlen, mac);
    int ok = equal_ct(mac, m->buf + off + FL_STUN_ATTR_HDR_SIZE, len);
    memset(mac, 0, sizeof mac);
    if (!ok) {
        fl_log(FL_LOG_DEBUG, "MESSAGE-INTEGRITY%s mismatch", sha256 ? "-SHA256" : "");
        return FL_EAUTH;
    }
    return 0;
}

int fl_stun_msg_check_integrity(const fl_stun_msg *m, const uint8_t *key, size_t keylen)
{
    if (!m || (!key && keylen > 0)) {
        return FL_EINVAL;
    }
    if (m->integrity_sha256_off != 0) {
        return check_mi(m, m->integrity_sha256_off, 1, key, keylen);
    }
    return fl_stun_msg_check_integrity_sha1(m, key, keylen);
}

int fl_stun_msg_check_integrity_sha1(const fl_stun_msg *m, const uint8_t *key, size_t keylen)
{
    if (!m || (!key && keylen > 0)) {
        return FL_EINVAL;
    }
    if (m->integrity_off == 0) {
        return FL_ENOENT;
    }
    return check_mi(m, m->integrity_off, 0, key, keylen);
}

/* ---- Long-term keys ----------------------------------------------------- */

int fl_stun_long_term_key_md5(uint8_t out[FL_STUN_KEY_MD5_SIZE],
                              const char *username,
                              const char *realm,
                              const char *password)
{
    if (!out || !username || !realm || !password) {
        return FL_EINVAL;
    }
    mbedtls_md5_context c;
    mbedtls_md5_init(&c);
    mbedtls_md5_starts_ret(&c);
    mbedtls_md5_update_ret(&c, (const uint8_t *)username, strlen(username));
    mbedtls_md5_update_ret(&c, (const uint8_t *)":", 1);
    mbedtls_md5_update_ret(&c, (const uint8_t *)realm, strlen(realm));
    mbedtls_md5_update_ret(&c, (const uint8_t *)":", 1);
    mbedtls_md5_update_ret(&c, (const uint8_t *)password, strlen(password));
    mbedtls_md5_finish_ret(&c, out);
    mbedtls_md5_free(&c);
    return 0;
}

static void sha256_joined(uint8_t out[32], const char *const *parts, size_t n)
{
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_starts_ret(&c, 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            mbedtls_sha256_update_ret(&c, (const uint8_t *)":", 1);
        }
        mbedtls_sha256_update_ret(&c, (const uint8_t *)parts[i], strlen(parts[i]));
    }
    mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
}

int fl_stun_long_term_key_sha256(uint8_t out[FL_STUN_KEY_SHA256_SIZE],
                                 const char *username,
                                 const char *realm,
                                 const char *password)
{
    if (!out || !username || !realm || !password) {
        return FL_EINVAL;
    }
    const char *parts[3] = { username, realm, password };
    sha256_joined(out, parts, 3);
    return 0;
}

int fl_stun_userhash(uint8_t out[32], const char *username, const char *realm)
{
    if (!out || !username || !realm) {
        return FL_EINVAL;
    }
    const char *parts[2] = { username, realm };
    sha256_joined(out, parts, 2);
    return 0;
}

/* ---- Writing ------------------------------------------------------------ */

static int fail(fl_stun_writer *w, int err)
{
    if (w->err == 0) {
        w->err = err;
    }
    return w->err;
}

int fl_stun_writer_init(fl_stun_writer *w,
                        uint8_t *buf,
                        size_t cap,
                        uint16_t method,
                        uint8_t cls,
                        const uint8_t *txn_id)
{
    if (!w) {
        return FL_EINVAL;
    }
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
    w->sealed = 0;
    w->pad_byte = 0;
    if (!buf || !txn_id || method > 0x0FFF || cls > 3) {
        return fail(w, FL_EINVAL);
    }
    if (cap < FL_STUN_HEADER_SIZE) {
        return fail(w, FL_EMSGSIZE);
    }
    uint16_t type = (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) |
                               ((method & 0x0F80) << 2) | ((cls & 1u) << 4) | ((cls & 2u) << 7));
    fl_put_be16(buf, type);
    fl_put_be16(buf + 2, 0);
    fl_put_be32(buf + 4, FL_STUN_MAGIC_COOKIE);
    memcpy(buf + 8, txn_id, FL_STUN_TXN_ID_SIZE);
    w->len = FL_STUN_HEADER_SIZE;
    return 0;
}

/* Reserves an attribute of `len` value bytes and returns a pointer to its
 * value, or NULL with the sticky error set. Padding is zeroed. */
static uint8_t *reserve(fl_stun_writer *w, uint16_t type, size_t len)
{
    if (w->err != 0) {
        return NULL;
    }
    if (w->sealed) {
        fail(w, FL_ESTATE);
        return NULL;
    }
    size_t total = FL_STUN_ATTR_HDR_SIZE + pad4(len);
    if (len > 0xFFFF || total > w->cap - w->len || w->len + total - FL_STUN_HEADER_SIZE > 0xFFFF) {
        fail(w, FL_EMSGSIZE);
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    fl_put_be16(p, type);
    fl_put_be16(p + 2, (uint16_t)len);
    memset(p + FL_STUN_ATTR_HDR_SIZE + len, w->pad_byte, pad4(len) - len);
    w->len += total;
    fl_put_be16(w->buf + 2, (uint16_t)(w->len - FL_STUN_HEADER_SIZE));
    return p + FL_STUN_ATTR_HDR_SIZE;
}

int fl_stun_writer_add(fl_stun_writer *w, uint16_t type, const void *value, size_t len)
{
    if (!value && len > 0) {
        return fail(w, FL_EINVAL);
    }
    uint8_t *p = reserve(w, type, len);
    if (!p) {
        return w->err;
    }
    if (len > 0) {
        memcpy(p, value, len);
    }
    return 0;
}

int fl_stun_writer_add_u32(fl_stun_writer *w, uint16_t type, uint32_t v)
{
    uint8_t b[4];
    fl_put_be32(b, v);
    return fl_stun_writer_add(w, type, b, sizeof b);
}

int fl_stun_writer_add_u64(fl_stun_writer *w, uint16_t type, uint64_t v)
{
    uint8_t b[8];
    fl_put_be32(b, (uint32_t)(v >> 32));
    fl_put_be32(b + 4, (uint32_t)v);
    return fl_stun_writer_add(w, type, b, sizeof b);
}

int fl_stun_writer_add_string(fl_stun_writer *w, uint16_t type, const char *s)
{
    if (!s) {
        return fail(w, FL_EINVAL);
    }
    return fl_stun_writer_add(w, type, s, strlen(s));
}

static int add_address(fl_stun_writer *w, uint16_t type, const fl_addr *a, int xor)
{
    if (!a || (a->family != 4 && a->family != 6)) {
        return fail(w, FL_EINVAL);
    }
    size_t n = a->family == 4 ? 4 : 16;
    uint8_t *p = reserve(w, type, 4 + n);
    if (!p) {
        return w->err;
    }
    uint8_t pad[16] = { 0 };
    uint16_t port = a->port;
    if (xor) {
        xor_pad(w->buf + 8, pad);
        port = (uint16_t)(port ^ (FL_STUN_MAGIC_COOKIE >> 16));
    }
    p[0] = 0;
    p[1] = a->family == 4 ? 0x01 : 0x02;
    fl_put_be16(p + 2, port);
    for (size_t i = 0; i < n; i++) {
        p[4 + i] = (uint8_t)(a->ip[i] ^ pad[i]);
    }
    return 0;
}

int fl_stun_writer_add_xor_addr(fl_stun_writer *w, uint16_t type, const fl_addr *a)
{
    return add_address(w, type, a, 1);
}

int fl_stun_writer_add_addr(fl_stun_writer *w, uint16_t type, const fl_addr *a)
{
    return add_address(w, type, a, 0);
}

int fl_stun_writer_add_error(fl_stun_writer *w, int code, const char *reason)
{
    if (code < 300 || code > 699) {
        return fail(w, FL_EINVAL);
    }
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 763) {
        return fail(w, FL_EINVAL);
    }
    uint8_t *p = reserve(w, FL_STUN_ATTR_ERROR_CODE, 4 + rlen);
    if (!p) {
        return w->err;
    }
    p[0] = 0;
    p[1] = 0;
    p[2] = (uint8_t)(code / 100);
    p[3] = (uint8_t)(code % 100);
    if (rlen > 0) {
        memcpy(p + 4, reason, rlen);
    }
    return 0;
}

int fl_stun_writer_add_unknown_attrs(fl_stun_writer *w, const uint16_t *types, size_t n)
{
    if (!types && n > 0) {
        return fail(w, FL_EINVAL);
    }
    uint8_t *p = reserve(w, FL_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
    if (!p) {
        return w->err;
    }
    for (size_t i = 0; i < n; i++) {
        fl_put_be16(p + 2 * i, types[i]);
    }
    return 0;
}

static int add_mi(fl_stun_writer *w, int sha256, const uint8_t *key, size_t keylen)
{
    if (!key && keylen > 0) {
        return fail(w, FL_EINVAL);
    }
    size_t maclen = sha256 ? FL_STUN_INTEGRITY_SHA256_SIZE : FL_STUN_INTEGRITY_SIZE;
    uint16_t type = sha256 ? FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 : FL_STUN_ATTR_MESSAGE_INTEGRITY;
    size_t start = w->len;
    uint8_t *p = reserve(w, type, maclen);
    if (!p) {
        return w->err;
    }
    uint8_t mac[HMAC_MAX_OUT];
    stun_hmac(sha256, key, keylen, w->buf, start, w->len - FL_STUN_HEADER_SIZE, mac);
    memcpy(p, mac, maclen);
    memset(mac, 0, sizeof mac);
    return 0;
}

int fl_stun_writer_add_integrity(fl_stun_writer *w, const uint8_t *key, size_t keylen)
{
    return add_mi(w, 0, key, keylen);
}

int fl_stun_writer_add_integrity_sha256(fl_stun_writer *w, const uint8_t *key, size_t keylen)
{
    return add_mi(w, 1, key, keylen);
}

int fl_stun_writer_add_fingerprint(fl_stun_writer *w)
{
    size_t start = w->len;
    uint8_t *p = reserve(w, FL_STUN_ATTR_FINGERPRINT, 4);
    if (!p) {
        return w->err;
    }
    fl_put_be32(p, crc32(w->buf, start) ^ FL_STUN_FINGERPRINT_XOR);
    w->sealed = 1;
    return 0;
}

int fl_stun_writer_finish(fl_stun_writer *w, size_t *len)
{
    if (!w) {
        return FL_EINVAL;
    }
    if (len) {
        *len = w->err == 0 ? w->len : 0;
    }
    return w->err;
}
