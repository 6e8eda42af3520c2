/* DCEP (RFC 8832) messages: parse and write. */
#include "net/dcep.h"

#include <string.h>

#include "base/err.h"
#include "base/wire.h"

int fl_dcep_channel_type_valid(uint8_t type)
{
    uint8_t base = type & (uint8_t)~FL_DCEP_UNORDERED;
    return base == FL_DCEP_RELIABLE || base == FL_DCEP_PARTIAL_REXMIT ||
           base == FL_DCEP_PARTIAL_TIMED;
}

int fl_dcep_type(const uint8_t *data, size_t len)
{
    if (len == 0)
        return FL_EBADMSG;
    if (data[0] == FL_DCEP_OPEN || data[0] == FL_DCEP_ACK)
        return data[0];
    return FL_EBADMSG;
}

int fl_dcep_open_parse(const uint8_t *data, size_t len, fl_dcep_open *out)
{
    memset(out, 0, sizeof(*out));
    if (len < FL_DCEP_OPEN_HEADER || data[0] != FL_DCEP_OPEN)
        return FL_EBADMSG;
    out->channel_type = data[1];
    if (!fl_dcep_channel_type_valid(out->channel_type))
        return FL_EBADMSG;
    out->priority = fl_get_be16(data + 2);
    out->reliability = fl_get_be32(data + 4);
    size_t llen = fl_get_be16(data + 8), plen = fl_get_be16(data + 10);
    if (llen + plen > len - FL_DCEP_OPEN_HEADER)
        return FL_EBADMSG;
    out->label = data + FL_DCEP_OPEN_HEADER;
    out->label_len = llen;
    out->protocol = out->label + llen;
    out->protocol_len = plen;
    return 0;
}

int fl_dcep_open_write(const fl_dcep_open *o, uint8_t *out, size_t cap)
{
    if (!fl_dcep_channel_type_valid(o->channel_type) || o->label_len > 0xffff ||
        o->protocol_len > 0xffff)
        return FL_EINVAL;
    size_t n = FL_DCEP_OPEN_HEADER + o->label_len + o->protocol_len;
    if (n > cap)
        return FL_EMSGSIZE;
    out[0] = FL_DCEP_OPEN;
    out[1] = o->channel_type;
    fl_put_be16(out + 2, o->priority);
    fl_put_be32(out + 4, o->reliability);
    fl_put_be16(out + 8, (uint16_t)o->label_len);
    fl_put_be16(out + 10, (uint16_t)o->protocol_len);
    if (o->label_len)
        memcpy(out + FL_DCEP_OPEN_HEADER, o->label, o->label_len);
    if (o->protocol_len)
        memcpy(out + FL_DCEP_OPEN_HEADER + o->label_len, o->protocol, o->protocol_len);
    return (int)n;
}

int fl_dcep_ack_write(uint8_t *out, size_t cap)
{
    if (cap < 1)
        return FL_EMSGSIZE;
    out[0] = FL_DCEP_ACK;
    return 1;
}
