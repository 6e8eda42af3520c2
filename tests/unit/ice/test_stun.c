/* STUN messages: RFC 5769 / RFC 8489 vectors, attribute round trips,
 * malformed input, writer bounds and transaction timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/stun.h"

#include <cmocka.h>

/* ---- RFC 5769 vectors ---------------------------------------------------- */

/* §2.1 Sample Request: SOFTWARE "STUN test client", PRIORITY, ICE-CONTROLLED,
 * USERNAME "evtj:h6vY" (padding 0x20), password "VOkJxbRl1RmTxUk/WvJxBt". */
static const uint8_t rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* §2.2 Sample IPv4 Response: SOFTWARE "test vector", 192.0.2.1:32853. */
static const uint8_t rfc5769_resp4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* §2.3 Sample IPv6 Response: [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t rfc5769_resp6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* §2.4 Sample Request with Long-Term Authentication: USERNAME "マトリックス",
 * NONCE "f//499k954d6OL34oL9FSTvy64sA", REALM "example.org", password
 * "TheMatrIX" (after SASLprep). No FINGERPRINT. */
static const uint8_t rfc5769_ltc[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
    0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
    0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
    0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
    0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

static const char short_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const char ltc_user[] =
        "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void parse_ok(fl_stun_msg *m, const uint8_t *buf, size_t len)
{
    assert_int_equal(fl_stun_msg_parse(m, buf, len), 0);
}

static void assert_string_attr(const fl_stun_msg *m, uint16_t type, const char *want)
{
    const char *s;
    size_t n;
    assert_int_equal(fl_stun_msg_get_string(m, type, &s, &n), 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

static void test_rfc5769_request(void **state)
{
    (void)state;
    fl_stun_msg m;
    parse_ok(&m, rfc5769_request, sizeof rfc5769_request);
    assert_int_equal(m.method, FL_STUN_BINDING);
    assert_int_equal(m.cls, FL_STUN_REQUEST);
    assert_int_equal(m.num_attrs, 6);
    assert_int_equal(m.num_unknown, 0);
    assert_true(m.fingerprint_off > 0 && m.integrity_off > 0);
    assert_string_attr(&m, FL_STUN_ATTR_SOFTWARE, "STUN test client");
    assert_string_attr(&m, FL_STUN_ATTR_USERNAME, "evtj:h6vY");
    uint32_t prio;
    uint64_t tie;
    assert_int_equal(fl_stun_msg_get_u32(&m, FL_STUN_ATTR_PRIORITY, &prio), 0);
    assert_int_equal(prio, 0x6e0001ff);
    assert_int_equal(fl_stun_msg_get_u64(&m, FL_STUN_ATTR_ICE_CONTROLLED, &tie), 0);
    assert_true(tie == 0x932ff9b151263b36ull);
    assert_int_equal(fl_stun_msg_check_integrity(&m, (const uint8_t *)short_pw, strlen(short_pw)),
                     0);
    assert_int_equal(fl_stun_msg_check_integrity(&m, (const uint8_t *)"wrong", 5), FL_EAUTH);

    uint8_t out[256];
    fl_stun_writer w;
    size_t len;
    assert_int_equal(
            fl_stun_writer_init(&w, out, sizeof out, FL_STUN_BINDING, FL_STUN_REQUEST, m.txn_id),
            0);
    w.pad_byte = 0x20;
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_SOFTWARE, "STUN test client");
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 0x6e0001ff);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, "evtj:h6vY");
    fl_stun_writer_add_integrity(&w, (const uint8_t *)short_pw, strlen(short_pw));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(len, sizeof rfc5769_request);
    assert_memory_equal(out, rfc5769_request, len);
}

static void check_response(const uint8_t *vec, size_t veclen, const char *ip)
{
    fl_stun_msg m;
    parse_ok(&m, vec, veclen);
    assert_int_equal(m.method, FL_STUN_BINDING);
    assert_int_equal(m.cls, FL_STUN_SUCCESS);
    assert_string_attr(&m, FL_STUN_ATTR_SOFTWARE, "test vector");
    fl_addr a, want;
    assert_int_equal(fl_addr_parse(&want, ip, 32853), 0);
    assert_int_equal(fl_stun_msg_get_xor_addr(&m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, &want));
    assert_int_equal(fl_stun_msg_check_integrity(&m, (const uint8_t *)short_pw, strlen(short_pw)),
                     0);

    uint8_t out[256];
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, sizeof out, FL_STUN_BINDING, FL_STUN_SUCCESS, m.txn_id);
    w.pad_byte = 0x20;
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_SOFTWARE, "test vector");
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &want);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)short_pw, strlen(short_pw));
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(len, veclen);
    assert_memory_equal(out, vec, len);
}

static void test_rfc5769_responses(void **state)
{
    (void)state;
    check_response(rfc5769_resp4, sizeof rfc5769_resp4, "192.0.2.1");
    check_response(rfc5769_resp6, sizeof rfc5769_resp6, "2001:db8:1234:5678:11:2233:4455:6677");
}

static void test_rfc5769_long_term(void **state)
{
    (void)state;
    fl_stun_msg m;
    uint8_t key[FL_STUN_KEY_MD5_SIZE];
    parse_ok(&m, rfc5769_ltc, sizeof rfc5769_ltc);
    assert_int_equal(m.fingerprint_off, 0);
    assert_string_attr(&m, FL_STUN_ATTR_USERNAME, ltc_user);
    assert_string_attr(&m, FL_STUN_ATTR_NONCE, "f//499k954d6OL34oL9FSTvy64sA");
    assert_string_attr(&m, FL_STUN_ATTR_REALM, "example.org");
    assert_int_equal(fl_stun_long_term_key_md5(key, ltc_user, "example.org", "TheMatrIX"), 0);
    assert_int_equal(fl_stun_msg_check_integrity(&m, key, sizeof key), 0);
    key[0] ^= 1;
    assert_int_equal(fl_stun_msg_check_integrity(&m, key, sizeof key), FL_EAUTH);
    key[0] ^= 1;

    uint8_t out[256];
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, sizeof out, FL_STUN_BINDING, FL_STUN_REQUEST, m.txn_id);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, ltc_user);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, "f//499k954d6OL34oL9FSTvy64sA");
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, "example.org");
    fl_stun_writer_add_integrity(&w, key, sizeof key);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(len, sizeof rfc5769_ltc);
    assert_memory_equal(out, rfc5769_ltc, len);
}

/* RFC 8489 B.1 as corrected by its verified erratum: USERHASH, NONCE, REALM,
 * PASSWORD-ALGORITHM SHA-256, MESSAGE-INTEGRITY-SHA256 with a SHA-256 key. */
static void test_rfc8489_sha256(void **state)
{
    (void)state;
    static const uint8_t txn[12] = { 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
                                     0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e };
    static const uint8_t want_userhash[32] = { 0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd,
                                               0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f,
                                               0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2,
                                               0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04 };
    static const uint8_t want_mac[32] = { 0xb5, 0xc7, 0xbf, 0x00, 0x5b, 0x6c, 0x52, 0xa2,
                                          0x1c, 0x51, 0xc5, 0xe8, 0x92, 0xf8, 0x19, 0x24,
                                          0x13, 0x62, 0x96, 0xcb, 0x92, 0x7c, 0x43, 0x14,
                                          0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65 };
    static const uint8_t alg[4] = { 0x00, 0x02, 0x00, 0x00 };
    uint8_t uh[32], key[32], out[256];
    size_t len;
    fl_stun_writer w;
    fl_stun_msg m;
    assert_int_equal(fl_stun_userhash(uh, ltc_user, "example.org"), 0);
    assert_memory_equal(uh, want_userhash, 32);
    assert_int_equal(fl_stun_long_term_key_sha256(key, ltc_user, "example.org", "TheMatrIX"), 0);
    fl_stun_writer_init(&w, out, sizeof out, FL_STUN_BINDING, FL_STUN_REQUEST, txn);
    fl_stun_writer_add(&w, FL_STUN_ATTR_USERHASH, uh, sizeof uh);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, "example.org");
    fl_stun_writer_add(&w, FL_STUN_ATTR_PASSWORD_ALGORITHM, alg, sizeof alg);
    fl_stun_writer_add_integrity_sha256(&w, key, sizeof key);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    assert_int_equal(len, 164);
    assert_int_equal(out[3], 0x90);
    assert_memory_equal(out + len - 32, want_mac, 32);
    parse_ok(&m, out, len);
    assert_true(m.integrity_sha256_off > 0);
    assert_int_equal(fl_stun_msg_check_integrity(&m, key, sizeof key), 0);
    assert_int_equal(fl_stun_msg_check_integrity_sha1(&m, key, sizeof key), FL_ENOENT);
    key[5] ^= 0x80;
    assert_int_equal(fl_stun_msg_check_integrity(&m, key, sizeof key), FL_EAUTH);
}

/* ---- Every attribute: write, parse, write back, compare ------------------ */

static const uint8_t txn_a[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static size_t build_all(uint8_t *out, size_t cap, const fl_addr *v4, const fl_addr *v6)
{
    static const uint16_t unknown[3] = { 0x0031, 0x7001, 0x0002 };
    static const uint8_t hash[32] = { 0xaa, 0xbb };
    static const uint8_t algs[8] = { 0, 1, 0, 0, 0, 2, 0, 0 };
    static const uint8_t one = 0x80, data[5] = { 'h', 'e', 'l', 'l', 'o' };
    static const uint8_t family[4] = { 0x01, 0, 0, 0 };
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, cap, FL_STUN_ALLOCATE, FL_STUN_ERROR, txn_a);
    fl_stun_writer_add_addr(&w, FL_STUN_ATTR_MAPPED_ADDRESS, v4);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, "user");
    fl_stun_writer_add_error(&w, 420, "Unknown Attribute");
    fl_stun_writer_add_unknown_attrs(&w, unknown, 3);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_CHANNEL_NUMBER, 0x40010000u);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_LIFETIME, 600);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, v6);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, v4);
    fl_stun_writer_add(&w, FL_STUN_ATTR_DATA, data, sizeof data);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, "fluo");
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, "abcdef0123");
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_RELAYED_ADDRESS, v4);
    fl_stun_writer_add(&w, FL_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, family, 4);
    fl_stun_writer_add(&w, FL_STUN_ATTR_EVEN_PORT, &one, 1);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_REQUESTED_TRANSPORT, FL_STUN_TRANSPORT_UDP << 24);
    fl_stun_writer_add(&w, FL_STUN_ATTR_DONT_FRAGMENT, NULL, 0);
    fl_stun_writer_add(&w, FL_STUN_ATTR_PASSWORD_ALGORITHM, algs, 4);
    fl_stun_writer_add(&w, FL_STUN_ATTR_USERHASH, hash, sizeof hash);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, v6);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_RESERVATION_TOKEN, 0x0102030405060708ull);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 0x7e7fffffu);
    fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    fl_stun_writer_add(&w, FL_STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof algs);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_SOFTWARE, "fluo 0.1");
    fl_stun_writer_add_addr(&w, FL_STUN_ATTR_ALTERNATE_SERVER, v6);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLED, 1);
    fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLING, UINT64_MAX);
    fl_stun_writer_add(&w, 0xC057, data, 3); /* unknown, comprehension-optional */
    fl_stun_writer_add_integrity(&w, (const uint8_t *)"key", 3);
    fl_stun_writer_add_integrity_sha256(&w, (const uint8_t *)"key", 3);
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return len;
}

static size_t write_back(const fl_stun_msg *m, uint8_t *out, size_t cap)
{
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, cap, m->method, m->cls, m->txn_id);
    for (size_t i = 0; i < m->num_attrs; i++) {
        const fl_stun_attr *a = &m->attrs[i];
        if (a->type == FL_STUN_ATTR_MESSAGE_INTEGRITY) {
            fl_stun_writer_add_integrity(&w, (const uint8_t *)"key", 3);
        } else if (a->type == FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
            fl_stun_writer_add_integrity_sha256(&w, (const uint8_t *)"key", 3);
        } else if (a->type == FL_STUN_ATTR_FINGERPRINT) {
            fl_stun_writer_add_fingerprint(&w);
        } else {
            fl_stun_writer_add(&w, a->type, a->value, a->len);
        }
    }
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    return len;
}

static void check_all_getters(const fl_stun_msg *m, const fl_addr *v4, const fl_addr *v6)
{
    fl_addr a;
    uint32_t u32;
    uint64_t u64;
    int code;
    const char *reason;
    size_t rlen, n;
    uint16_t types[2];
    assert_int_equal(fl_stun_msg_get_addr(m, FL_STUN_ATTR_MAPPED_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, v4));
    assert_int_equal(fl_stun_msg_get_addr(m, FL_STUN_ATTR_ALTERNATE_SERVER, &a), 0);
    assert_true(fl_addr_equal(&a, v6));
    assert_int_equal(fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_PEER_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, v6));
    assert_int_equal(fl_stun_attr_get_xor_addr(m, &m->attrs[7], &a), 0);
    assert_true(fl_addr_equal(&a, v4));
    assert_int_equal(fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_RELAYED_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, v4));
    assert_int_equal(fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
    assert_true(fl_addr_equal(&a, v6));
    assert_int_equal(fl_stun_msg_get_error(m, &code, &reason, &rlen), 0);
    assert_int_equal(code, 420);
    assert_int_equal(rlen, 17);
    assert_memory_equal(reason, "Unknown Attribute", 17);
    assert_int_equal(fl_stun_msg_get_unknown_attrs(m, types, 2, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(types[0], 0x0031);
    assert_int_equal(types[1], 0x7001);
    assert_int_equal(fl_stun_msg_get_u32(m, FL_STUN_ATTR_LIFETIME, &u32), 0);
    assert_int_equal(u32, 600);
    assert_int_equal(fl_stun_msg_get_u32(m, FL_STUN_ATTR_CHANNEL_NUMBER, &u32), 0);
    assert_int_equal(u32, 0x40010000u);
    assert_int_equal(fl_stun_msg_get_u64(m, FL_STUN_ATTR_RESERVATION_TOKEN, &u64), 0);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(fl_stun_msg_get_u64(m, FL_STUN_ATTR_ICE_CONTROLLING, &u64), 0);
    assert_true(u64 == UINT64_MAX);
    assert_non_null(fl_stun_msg_find(m, FL_STUN_ATTR_USE_CANDIDATE));
    assert_int_equal(fl_stun_msg_find(m, FL_STUN_ATTR_DONT_FRAGMENT)->len, 0);
    assert_int_equal(fl_stun_msg_find(m, FL_STUN_ATTR_EVEN_PORT)->value[0], 0x80);
    assert_string_attr(m, FL_STUN_ATTR_USERNAME, "user");
    assert_string_attr(m, FL_STUN_ATTR_NONCE, "abcdef0123");
    assert_string_attr(m, FL_STUN_ATTR_DATA, "hello");
    assert_int_equal(fl_stun_msg_check_integrity(m, (const uint8_t *)"key", 3), 0);
    assert_int_equal(fl_stun_msg_check_integrity_sha1(m, (const uint8_t *)"key", 3), 0);
}

static void test_every_attribute_round_trip(void **state)
{
    (void)state;
    uint8_t a[1024], b[1024];
    fl_addr v4, v6;
    fl_stun_msg m;
    assert_int_equal(fl_addr_parse(&v4, "10.1.2.3", 3478), 0);
    assert_int_equal(fl_addr_parse(&v6, "2001:db8::7", 65535), 0);
    size_t alen = build_all(a, sizeof a, &v4, &v6);
    parse_ok(&m, a, alen);
    assert_int_equal(m.method, FL_STUN_ALLOCATE);
    assert_int_equal(m.cls, FL_STUN_ERROR);
    assert_int_equal(m.num_attrs, 31);
    assert_int_equal(m.num_unknown, 0);
    check_all_getters(&m, &v4, &v6);
    size_t blen = write_back(&m, b, sizeof b);
    assert_int_equal(blen, alen);
    assert_memory_equal(a, b, alen);
    /* the three class/method combinations TURN uses round trip too */
    static const uint16_t methods[] = { FL_STUN_BINDING,      FL_STUN_ALLOCATE,
                                        FL_STUN_REFRESH,      FL_STUN_SEND,
                                        FL_STUN_DATA,         FL_STUN_CREATE_PERMISSION,
                                        FL_STUN_CHANNEL_BIND, 0x0FFF };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        for (uint8_t cls = 0; cls < 4; cls++) {
            fl_stun_writer w;
            size_t len;
            fl_stun_writer_init(&w, a, sizeof a, methods[i], cls, txn_a);
            assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
            parse_ok(&m, a, len);
            assert_int_equal(m.method, methods[i]);
            assert_int_equal(m.cls, cls);
        }
    }
}

/* ---- Integrity ordering and unknown attributes ---------------------------- */

static void test_after_integrity_ignored(void **state)
{
    (void)state;
    uint8_t buf[256];
    fl_stun_writer w;
    fl_stun_msg m;
    size_t len;
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    fl_stun_writer_add_string(&w, 0x7777, "x"); /* unknown, comprehension-required */
    fl_stun_writer_add_string(&w, 0xC001, "y"); /* unknown, optional: not reported */
    fl_stun_writer_add_integrity(&w, (const uint8_t *)"k", 1);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_SOFTWARE, "ignored");
    fl_stun_writer_add_string(&w, 0x7778, "ignored");
    fl_stun_writer_add_fingerprint(&w);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    parse_ok(&m, buf, len);
    assert_null(fl_stun_msg_find(&m, FL_STUN_ATTR_SOFTWARE));
    assert_non_null(fl_stun_msg_find(&m, FL_STUN_ATTR_FINGERPRINT));
    assert_int_equal(m.num_unknown, 1);
    assert_int_equal(m.unknown[0], 0x7777);
    assert_int_equal(fl_stun_msg_check_integrity(&m, (const uint8_t *)"k", 1), 0);
    /* FL_ENOENT without integrity; bad arguments */
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_INDICATION, txn_a);
    fl_stun_writer_finish(&w, &len);
    parse_ok(&m, buf, len);
    assert_int_equal(fl_stun_msg_check_integrity(&m, (const uint8_t *)"k", 1), FL_ENOENT);
    assert_int_equal(fl_stun_msg_get_u32(&m, FL_STUN_ATTR_PRIORITY, &(uint32_t){ 0 }), FL_ENOENT);
    assert_int_equal(fl_stun_msg_parse(NULL, buf, len), FL_EINVAL);
}

/* ---- Malformed input ------------------------------------------------------ */

static void expect_parse(const uint8_t *buf, size_t len, int want)
{
    fl_stun_msg m;
    assert_int_equal(fl_stun_msg_parse(&m, buf, len), want);
}

static void test_malformed_header(void **state)
{
    (void)state;
    uint8_t b[sizeof rfc5769_resp4];
    expect_parse(rfc5769_resp4, 19, FL_EBADMSG);                       /* short */
    expect_parse(rfc5769_resp4, sizeof rfc5769_resp4 - 4, FL_EBADMSG); /* truncated */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[0] |= 0x80; /* top bits */
    expect_parse(b, sizeof b, FL_EBADMSG);
    assert_false(fl_stun_is_message(b, sizeof b));
    memcpy(b, rfc5769_resp4, sizeof b);
    b[3] = 0x3d; /* length not a multiple of 4 */
    expect_parse(b, sizeof b, FL_EBADMSG);
    b[3] = 0x40; /* length beyond the datagram */
    expect_parse(b, sizeof b, FL_EBADMSG);
    memcpy(b, rfc5769_resp4, sizeof b);
    b[5] ^= 1; /* no cookie: RFC 3489 */
    expect_parse(b, sizeof b, FL_ENOTSUP);
    assert_false(fl_stun_is_message(b, sizeof b));
    assert_true(fl_stun_is_message(rfc5769_resp4, sizeof rfc5769_resp4));
    assert_false(fl_stun_is_message(rfc5769_resp4, sizeof rfc5769_resp4 - 1));
    assert_int_equal(fl_stun_msg_size(rfc5769_resp4, 4), sizeof rfc5769_resp4);
    assert_int_equal(fl_stun_msg_size(rfc5769_resp4, 3), 0);
}

static void test_malformed_attributes(void **state)
{
    (void)state;
    uint8_t b[sizeof rfc5769_resp4];
    /* attribute length overruns the message */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[23] = 0x3c;
    expect_parse(b, sizeof b, FL_EBADMSG);
    /* attribute whose padding is missing: SOFTWARE of 13 bytes in 12+4 */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[23] = 0x0d;
    expect_parse(b, sizeof b, FL_EBADMSG);
    /* truncated: the header length cuts the last attribute */
    uint8_t t[28] = { 0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42 };
    t[20] = 0x80;
    t[21] = 0x22;
    t[23] = 0x08; /* 8 value bytes, 4 present */
    expect_parse(t, sizeof t, FL_EBADMSG);
    /* bad fingerprint */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[sizeof b - 1] ^= 1;
    expect_parse(b, sizeof b, FL_EBADMSG);
    /* MESSAGE-INTEGRITY of the wrong length (19 + 1 padding) */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[51] = 0x13;
    expect_parse(b, sizeof b, FL_EBADMSG);
    /* FINGERPRINT not last: turn SOFTWARE into a FINGERPRINT */
    memcpy(b, rfc5769_resp4, sizeof b);
    b[20] = 0x80;
    b[21] = 0x28;
    expect_parse(b, sizeof b, FL_EBADMSG);
    /* bad integrity: one byte of the long-term request changed */
    uint8_t l[sizeof rfc5769_ltc];
    uint8_t key[16];
    fl_stun_msg m;
    memcpy(l, rfc5769_ltc, sizeof l);
    l[60] ^= 0x20;
    parse_ok(&m, l, sizeof l);
    fl_stun_long_term_key_md5(key, ltc_user, "example.org", "TheMatrIX");
    assert_int_equal(fl_stun_msg_check_integrity(&m, key, sizeof key), FL_EAUTH);
}

static void test_too_many_attributes(void **state)
{
    (void)state;
    uint8_t buf[20 + 4 * (FL_STUN_MAX_ATTRS + 1)];
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    for (int i = 0; i <= FL_STUN_MAX_ATTRS; i++) {
        fl_stun_writer_add(&w, 0xC000, NULL, 0);
    }
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    expect_parse(buf, len, FL_EMSGSIZE);
    expect_parse(buf, len - 4, FL_EBADMSG); /* header length now wrong */
}

static void test_bad_attribute_values(void **state)
{
    (void)state;
    uint8_t buf[128];
    fl_stun_writer w;
    fl_stun_msg m;
    size_t len;
    fl_addr a;
    int code;
    size_t n;
    uint16_t t[1];
    uint32_t u32;
    uint64_t u64;
    static const uint8_t addr3[8] = { 0, 3, 0, 1, 1, 2, 3, 4 }; /* family 3 */
    static const uint8_t addr6short[8] = { 0, 2, 0, 1, 1, 2, 3, 4 };
    static const uint8_t err2[4] = { 0, 0, 2, 0 };     /* class 2 */
    static const uint8_t err100[4] = { 0, 0, 4, 100 }; /* number 100 */
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_ERROR, txn_a);
    fl_stun_writer_add(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, addr3, 8);
    fl_stun_writer_add(&w, FL_STUN_ATTR_MAPPED_ADDRESS, addr6short, 8);
    fl_stun_writer_add(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, addr3, 3);
    fl_stun_writer_add(&w, FL_STUN_ATTR_ERROR_CODE, err2, 4);
    fl_stun_writer_add(&w, FL_STUN_ATTR_UNKNOWN_ATTRIBUTES, err2, 3);
    fl_stun_writer_add(&w, FL_STUN_ATTR_LIFETIME, err2, 3);
    fl_stun_writer_add(&w, FL_STUN_ATTR_ICE_CONTROLLED, err2, 4);
    assert_int_equal(fl_stun_writer_finish(&w, &len), 0);
    parse_ok(&m, buf, len);
    assert_int_equal(fl_stun_msg_get_xor_addr(&m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_addr(&m, FL_STUN_ATTR_MAPPED_ADDRESS, &a), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_xor_addr(&m, FL_STUN_ATTR_XOR_PEER_ADDRESS, &a), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_xor_addr(&m, FL_STUN_ATTR_XOR_RELAYED_ADDRESS, &a), FL_ENOENT);
    assert_int_equal(fl_stun_msg_get_error(&m, &code, NULL, NULL), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_unknown_attrs(&m, t, 1, &n), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_u32(&m, FL_STUN_ATTR_LIFETIME, &u32), FL_EBADMSG);
    assert_int_equal(fl_stun_msg_get_u64(&m, FL_STUN_ATTR_ICE_CONTROLLED, &u64), FL_EBADMSG);
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_ERROR, txn_a);
    fl_stun_writer_add(&w, FL_STUN_ATTR_ERROR_CODE, err100, 4);
    fl_stun_writer_finish(&w, &len);
    parse_ok(&m, buf, len);
    assert_int_equal(fl_stun_msg_get_error(&m, &code, NULL, NULL), FL_EBADMSG);
}

/* ---- Writer bounds --------------------------------------------------------- */

static void test_writer_bounds(void **state)
{
    (void)state;
    uint8_t buf[64];
    fl_stun_writer w;
    size_t len = 99;
    memset(buf, 0xEE, sizeof buf);
    assert_int_equal(fl_stun_writer_init(&w, buf, 27, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a), 0);
    assert_int_equal(fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1), FL_EMSGSIZE);
    assert_int_equal(fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0), FL_EMSGSIZE);
    assert_int_equal(fl_stun_writer_finish(&w, &len), FL_EMSGSIZE);
    assert_int_equal(len, 0);
    for (size_t i = 20; i < sizeof buf; i++) {
        assert_int_equal(buf[i], 0xEE);
    }
    assert_int_equal(fl_stun_writer_init(&w, buf, 19, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a),
                     FL_EMSGSIZE);
    assert_int_equal(fl_stun_writer_init(&w, buf, 64, 0x1000, FL_STUN_REQUEST, txn_a), FL_EINVAL);
    /* an integrity attribute that does not fit */
    fl_stun_writer_init(&w, buf, 40, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    assert_int_equal(fl_stun_writer_add_integrity(&w, (const uint8_t *)"k", 1), FL_EMSGSIZE);
    /* nothing after FINGERPRINT */
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    assert_int_equal(fl_stun_writer_add_fingerprint(&w), 0);
    assert_int_equal(fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1), FL_ESTATE);
    assert_int_equal(fl_stun_writer_finish(&w, &len), FL_ESTATE);
    /* bad arguments */
    fl_addr none = { 0 };
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    assert_int_equal(fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &none),
                     FL_EINVAL);
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, txn_a);
    assert_int_equal(fl_stun_writer_add_error(&w, 200, "x"), FL_EINVAL);
}

/* ---- Transactions ------------------------------------------------------------ */

static void test_txn_schedule_udp(void **state)
{
    (void)state;
    static const fl_time sends[] = { 500, 1500, 3500, 7500, 15500, 31500 };
    fl_rand r;
    fl_stun_txn t;
    fl_rand_seeded_init(&r, 7);
    fl_stun_txn_init(&t, &r);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), FL_TIME_NEVER);
    const fl_time t0 = 1000 * FL_TIME_SEC;
    fl_stun_txn_start(&t, t0, 500 * FL_TIME_MS, 0); /* first send at 0 */
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        fl_time due = t0 + sends[i] * FL_TIME_MS;
        assert_int_equal(fl_stun_txn_poll_timeout(&t), due);
        assert_int_equal(fl_stun_txn_handle_timeout(&t, due - 1), FL_STUN_TXN_WAIT);
        assert_int_equal(fl_stun_txn_handle_timeout(&t, due), FL_STUN_TXN_RETRANSMIT);
    }
    assert_int_equal(t.sent, 7);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), t0 + 39500 * FL_TIME_MS);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, t0 + 39499 * FL_TIME_MS), FL_STUN_TXN_WAIT);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, t0 + 39500 * FL_TIME_MS),
                     FL_STUN_TXN_TIMED_OUT);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, t0 + 50000 * FL_TIME_MS), FL_STUN_TXN_WAIT);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), FL_TIME_NEVER);
}

static void test_txn_reliable_and_match(void **state)
{
    (void)state;
    fl_rand r;
    fl_stun_txn t, t2;
    fl_rand_seeded_init(&r, 7);
    fl_stun_txn_init(&t, &r);
    fl_stun_txn_init(&t2, &r);
    assert_memory_not_equal(t.id, t2.id, 12);
    fl_stun_txn_start(&t, 0, 0, 1);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), 39500 * FL_TIME_MS);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, 39 * FL_TIME_SEC), FL_STUN_TXN_WAIT);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, 39500 * FL_TIME_MS), FL_STUN_TXN_TIMED_OUT);

    /* a response with the same id matches; a request or another id does not */
    uint8_t buf[64];
    fl_stun_writer w;
    fl_stun_msg m;
    size_t len;
    fl_stun_txn_start_ex(&t, 0, 100 * FL_TIME_MS, 2, 4, 0);
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_SUCCESS, t.id);
    fl_stun_writer_finish(&w, &len);
    parse_ok(&m, buf, len);
    assert_true(fl_stun_txn_matches(&t, &m));
    assert_false(fl_stun_txn_matches(&t2, &m));
    fl_stun_writer_init(&w, buf, sizeof buf, FL_STUN_BINDING, FL_STUN_REQUEST, t.id);
    fl_stun_writer_finish(&w, &len);
    parse_ok(&m, buf, len);
    assert_false(fl_stun_txn_matches(&t, &m));
    /* rc 2, rm 4: send at 0 and 100 ms, time out at 500 ms */
    assert_int_equal(fl_stun_txn_handle_timeout(&t, 100 * FL_TIME_MS), FL_STUN_TXN_RETRANSMIT);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), 500 * FL_TIME_MS);
    fl_stun_txn_finish(&t);
    assert_int_equal(fl_stun_txn_poll_timeout(&t), FL_TIME_NEVER);
    assert_int_equal(fl_stun_txn_handle_timeout(&t, 600 * FL_TIME_MS), FL_STUN_TXN_WAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5769_request),
        cmocka_unit_test(test_rfc5769_responses),
        cmocka_unit_test(test_rfc5769_long_term),
        cmocka_unit_test(test_rfc8489_sha256),
        cmocka_unit_test(test_every_attribute_round_trip),
        cmocka_unit_test(test_after_integrity_ignored),
        cmocka_unit_test(test_malformed_header),
        cmocka_unit_test(test_malformed_attributes),
        cmocka_unit_test(test_too_many_attributes),
        cmocka_unit_test(test_bad_attribute_values),
        cmocka_unit_test(test_writer_bounds),
        cmocka_unit_test(test_txn_schedule_udp),
        cmocka_unit_test(test_txn_reliable_and_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
