/* Fuzzes ice/stun parsing: parse, read every attribute through its getter,
 * check integrity with a fixed key, write the message back, and require the
 * copy to parse to the same attributes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "ice/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";

static void read_all(const fl_stun_msg *m)
{
    fl_addr a;
    uint32_t u32;
    uint64_t u64;
    int code;
    const char *s;
    size_t n;
    uint16_t types[4];
    for (size_t i = 0; i < m->num_attrs; i++) {
        fl_stun_attr_get_xor_addr(m, &m->attrs[i], &a);
        fl_stun_attr_get_addr(&m->attrs[i], &a);
    }
    fl_stun_msg_get_u32(m, FL_STUN_ATTR_PRIORITY, &u32);
    fl_stun_msg_get_u64(m, FL_STUN_ATTR_ICE_CONTROLLING, &u64);
    fl_stun_msg_get_string(m, FL_STUN_ATTR_USERNAME, &s, &n);
    if (fl_stun_msg_get_error(m, &code, &s, &n) == 0 && (code < 300 || code > 699))
        abort();
    fl_stun_msg_get_unknown_attrs(m, types, 4, &n);
}

static void write_back(const fl_stun_msg *m, int verified)
{
    static uint8_t out[70000];
    fl_stun_writer w;
    size_t len;
    fl_stun_writer_init(&w, out, sizeof out, m->method, m->cls, m->txn_id);
    for (size_t i = 0; i < m->num_attrs; i++) {
        const fl_stun_attr *a = &m->attrs[i];
        if (a->type == FL_STUN_ATTR_MESSAGE_INTEGRITY)
            fl_stun_writer_add_integrity(&w, key, sizeof key - 1);
        else if (a->type == FL_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
            fl_stun_writer_add_integrity_sha256(&w, key, sizeof key - 1);
        else if (a->type == FL_STUN_ATTR_FINGERPRINT)
            fl_stun_writer_add_fingerprint(&w);
        else
            fl_stun_writer_add(&w, a->type, a->value, a->len);
    }
    int err = fl_stun_writer_finish(&w, &len);
    if (err == FL_EMSGSIZE)
        return;
    if (err != 0)
        abort();
    fl_stun_msg m2;
    if (fl_stun_msg_parse(&m2, out, len) != 0 || m2.num_attrs != m->num_attrs)
        abort();
    for (size_t i = 0; i < m->num_attrs; i++) {
        if (m2.attrs[i].type != m->attrs[i].type)
            abort();
    }
    if (verified && fl_stun_msg_check_integrity(&m2, key, sizeof key - 1) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_stun_msg m;
    int quick = fl_stun_is_message(data, size);
    if (fl_stun_msg_parse(&m, data, size) != 0)
        return 0;
    if (!quick)
        abort(); /* everything parse accepts passes the quick check */
    read_all(&m);
    int verified = fl_stun_msg_check_integrity(&m, key, sizeof key - 1) == 0;
    write_back(&m, verified);
    return 0;
}
