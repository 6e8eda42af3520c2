/* net/dcep: DATA_CHANNEL_OPEN and ACK parsed, written back byte for byte,
 * and malformed messages refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "net/dcep.h"

#include <cmocka.h>

/* An OPEN as a browser sends it for createDataChannel("chat"): reliable,
 * ordered, priority 256, no protocol. */
static const uint8_t open_chat[] = {
    0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 'c', 'h', 'a', 't',
};

/* Unordered, at most 3 retransmissions, label "x", protocol "proto". */
static const uint8_t open_rexmit[] = {
    0x03, 0x81, 0x00, 0x80, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x05, 'x',  'p',  'r',  'o',  't',  'o',
};

static void roundtrip(const uint8_t *msg, size_t len)
{
    fl_dcep_open o;
    assert_int_equal(fl_dcep_type(msg, len), FL_DCEP_OPEN);
    assert_int_equal(fl_dcep_open_parse(msg, len, &o), 0);
    uint8_t out[64];
    assert_int_equal(fl_dcep_open_write(&o, out, sizeof(out)), (int)len);
    assert_memory_equal(out, msg, len);
    assert_int_equal(fl_dcep_open_write(&o, out, len - 1), FL_EMSGSIZE);
}

static void test_open_reliable(void **state)
{
    (void)state;
    fl_dcep_open o;
    assert_int_equal(fl_dcep_open_parse(open_chat, sizeof(open_chat), &o), 0);
    assert_int_equal(o.channel_type, FL_DCEP_RELIABLE);
    assert_int_equal(o.priority, 256);
    assert_int_equal(o.reliability, 0);
    assert_int_equal(o.label_len, 4);
    assert_memory_equal(o.label, "chat", 4);
    assert_int_equal(o.protocol_len, 0);
    roundtrip(open_chat, sizeof(open_chat));
}

static void test_open_partial(void **state)
{
    (void)state;
    fl_dcep_open o;
    assert_int_equal(fl_dcep_open_parse(open_rexmit, sizeof(open_rexmit), &o), 0);
    assert_int_equal(o.channel_type, FL_DCEP_PARTIAL_REXMIT | FL_DCEP_UNORDERED);
    assert_int_equal(o.reliability, 3);
    assert_memory_equal(o.label, "x", 1);
    assert_int_equal(o.protocol_len, 5);
    assert_memory_equal(o.protocol, "proto", 5);
    roundtrip(open_rexmit, sizeof(open_rexmit));
}

static void test_bad(void **state)
{
    (void)state;
    fl_dcep_open o;
    uint8_t m[sizeof(open_chat)];
    /* cut inside the label, inside the header */
    assert_int_equal(fl_dcep_open_parse(open_chat, sizeof(open_chat) - 1, &o), FL_EBADMSG);
    assert_int_equal(fl_dcep_open_parse(open_chat, 11, &o), FL_EBADMSG);
    /* unknown channel type */
    memcpy(m, open_chat, sizeof(m));
    m[1] = 0x03;
    assert_int_equal(fl_dcep_open_parse(m, sizeof(m), &o), FL_EBADMSG);
    /* protocol length past the end */
    memcpy(m, open_chat, sizeof(m));
    m[11] = 1;
    assert_int_equal(fl_dcep_open_parse(m, sizeof(m), &o), FL_EBADMSG);
    /* an ACK is not an OPEN; unknown types and empty messages */
    uint8_t ack[1];
    assert_int_equal(fl_dcep_ack_write(ack, sizeof(ack)), 1);
    assert_int_equal(ack[0], 0x02);
    assert_int_equal(fl_dcep_type(ack, 1), FL_DCEP_ACK);
    assert_int_equal(fl_dcep_open_parse(ack, 1, &o), FL_EBADMSG);
    assert_int_equal(fl_dcep_type(ack, 0), FL_EBADMSG);
    uint8_t other = 0x04;
    assert_int_equal(fl_dcep_type(&other, 1), FL_EBADMSG);
    assert_int_equal(fl_dcep_ack_write(ack, 0), FL_EMSGSIZE);
    /* trailing bytes after label and protocol are ignored */
    uint8_t longer[sizeof(open_chat) + 3];
    memcpy(longer, open_chat, sizeof(open_chat));
    memset(longer + sizeof(open_chat), 0xee, 3);
    assert_int_equal(fl_dcep_open_parse(longer, sizeof(longer), &o), 0);
    assert_int_equal(o.label_len, 4);
    o.channel_type = 0x7f;
    assert_int_equal(fl_dcep_open_write(&o, m, sizeof(m)), FL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_reliable),
        cmocka_unit_test(test_open_partial),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
