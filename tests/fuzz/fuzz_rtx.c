/* Fuzzes net/nack's RTX unwrap: the input, parsed as an RTP packet, is
 * copied into a pool buffer and unwrapped in place; the result must parse
 * again with the same header (but sequence number, SSRC and payload type),
 * the payload minus its first two bytes and the same padding. A shared
 * buffer must be refused untouched. Then fl_nack_rtx_write wraps the
 * unwrapped packet again and the wrapped payload must match the input's. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/wire.h"
#include "net/nack.h"
#include "net/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUF_SIZE 2048
#define HEADROOM 64
#define SSRC     0x0a0b0c0du
#define PT       96

static fl_buf_pool *pool;

static fl_buf *load(const uint8_t *data, size_t size, fl_rtp_view *v)
{
    fl_buf *b = fl_buf_pool_get(pool);
    if (!b)
        abort();
    memcpy(fl_buf_data(b), data, size);
    if (fl_buf_set_len(b, size) != 0 || fl_rtp_parse(v, fl_buf_data(b), size) != 0)
        abort();
    return b;
}

/* Wraps the unwrapped packet u again with the input's header and checks
 * the RTX payload is the input's payload. */
static void rewrap(fl_buf *b, const fl_rtp_view *u, const fl_rtp_view *in)
{
    fl_nack_history_entry e = {
        .buf = b,
        .seq = u->seq,
        .timestamp = u->timestamp,
        .marker = u->marker,
        .payload_off = (uint16_t)u->header_len,
        .payload_len = (uint16_t)u->payload_len,
    };
    fl_rtp_header h = { .payload_type = in->payload_type,
                        .seq = in->seq,
                        .ssrc = in->ssrc,
                        .csrc_count = in->csrc_count };
    for (size_t i = 0; i < in->csrc_count; i++)
        h.csrcs[i] = fl_rtp_view_csrc(in, i);
    static uint8_t out[BUF_SIZE + 16];
    size_t n;
    if (fl_nack_rtx_write(out, sizeof(out), &h, &e, 1, &n) != 0)
        abort();
    fl_rtp_view w;
    if (fl_rtp_parse(&w, out, n) != 0 || w.seq != in->seq || w.ssrc != in->ssrc ||
        w.payload_type != in->payload_type || w.timestamp != in->timestamp ||
        w.marker != in->marker || w.payload_len != in->payload_len ||
        memcmp(w.payload, in->payload, in->payload_len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pool && fl_buf_pool_create(&pool, BUF_SIZE, HEADROOM, 4, 0) != 0)
        abort();
    fl_rtp_view in;
    if (size > BUF_SIZE || fl_rtp_parse(&in, data, size) != 0)
        return 0;
    fl_rtp_view v;
    fl_buf *b = load(data, size, &v);
    uint16_t osn = 0;

    /* Shared: refused, nothing moved. */
    fl_buf_ref(b);
    if (fl_nack_rtx_unwrap(b, &v, SSRC, PT, &osn) != FL_EBUSY || b->off != HEADROOM ||
        b->len != size || memcmp(fl_buf_data(b), data, size) != 0)
        abort();
    fl_buf_unref(b);

    int r = fl_nack_rtx_unwrap(b, &v, SSRC, PT, &osn);
    if (r == FL_EBADMSG) {
        if (in.payload_len >= 2 || memcmp(fl_buf_data(b), data, size) != 0)
            abort();
        fl_buf_unref(b);
        return 0;
    }
    if (r != 0 || osn != fl_get_be16(in.payload) || b->len != size - 2)
        abort();
    fl_rtp_view u;
    if (fl_rtp_parse(&u, fl_buf_data(b), b->len) != 0)
        abort();
    if (u.seq != osn || u.ssrc != SSRC || u.payload_type != PT || u.marker != in.marker ||
        u.timestamp != in.timestamp || u.padding != in.padding || u.csrc_count != in.csrc_count ||
        u.extension != in.extension || u.ext_profile != in.ext_profile || u.ext_len != in.ext_len ||
        u.header_len != in.header_len || u.pad_len != in.pad_len ||
        u.payload_len != in.payload_len - 2 || memcmp(u.csrcs, in.csrcs, 4u * in.csrc_count) != 0 ||
        (u.ext_len && memcmp(u.ext_data, in.ext_data, u.ext_len) != 0) ||
        memcmp(u.payload, in.payload + 2, u.payload_len + u.pad_len) != 0)
        abort();
    rewrap(b, &u, &in);
    fl_buf_unref(b);
    return 0;
}
