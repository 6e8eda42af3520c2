/* RFC 4571 framing: see tcp_frame.h. */
#include "ice/tcp_frame.h"

#include <string.h>

#include "base/err.h"
#include "base/wire.h"

void fl_tcp_frame_decoder_init(fl_tcp_frame_decoder *d, uint8_t *scratch, size_t max)
{
    memset(d, 0, sizeof *d);
    d->scratch = scratch;
    d->max = max > FL_TCP_FRAME_MAX ? FL_TCP_FRAME_MAX : max;
}

int fl_tcp_frame_decoder_handle_input(fl_tcp_frame_decoder *d, const uint8_t *data, size_t len)
{
    if (d->in_len > 0)
        return FL_ESTATE;
    d->in = data;
    d->in_len = data ? len : 0;
    return 0;
}

static void consume(fl_tcp_frame_decoder *d, size_t n)
{
    d->in += n;
    d->in_len -= n;
    if (d->in_len == 0)
        d->in = NULL;
}

/* A whole frame at the start of the input, with no partial state: yields it
 * in place. */
static int take_whole(fl_tcp_frame_decoder *d, const uint8_t **frame, size_t *len)
{
    if (d->hdr_have != 0 || d->in_len < FL_TCP_FRAME_HEADER)
        return 0;
    size_t n = fl_get_be16(d->in);
    if (n == 0 || n > d->max || d->in_len - FL_TCP_FRAME_HEADER < n)
        return 0;
    *frame = d->in + FL_TCP_FRAME_HEADER;
    *len = n;
    consume(d, FL_TCP_FRAME_HEADER + n);
    d->frames++;
    return 1;
}

/* Takes one header byte; once both are in, checks the length. 0 to carry
 * on, or the error that skips the frame. */
static int take_header_byte(fl_tcp_frame_decoder *d)
{
    d->hdr[d->hdr_have++] = d->in[0];
    consume(d, 1);
    if (d->hdr_have < FL_TCP_FRAME_HEADER)
        return 0;
    d->need = fl_get_be16(d->hdr);
    d->have = 0;
    if (d->need == 0) {
        d->hdr_have = 0;
        d->empty++;
        return FL_EBADMSG;
    }
    if (d->need > d->max) {
        d->skipping = 1;
        d->oversized++;
        return FL_EMSGSIZE;
    }
    return 0;
}

/* Takes body bytes of the current frame; 1 when a frame is ready. */
static int take_body(fl_tcp_frame_decoder *d, const uint8_t **frame, size_t *len)
{
    size_t want = d->need - d->have;
    if (!d->skipping && d->have == 0 && d->in_len >= want) {
        *frame = d->in; /* the header was split, the body is whole: in place */
        consume(d, want);
    } else {
        size_t take = d->in_len < want ? d->in_len : want;
        if (!d->skipping)
            memcpy(d->scratch + d->have, d->in, take);
        d->have += take;
        consume(d, take);
        if (d->have < d->need)
            return 0;
        *frame = d->scratch;
    }
    d->hdr_have = 0;
    d->have = 0;
    if (d->skipping) {
        d->skipping = 0;
        return 0;
    }
    *len = d->need;
    d->frames++;
    return 1;
}

int fl_tcp_frame_decoder_poll_frame(fl_tcp_frame_decoder *d, const uint8_t **frame, size_t *len)
{
    while (d->in_len > 0) {
        if (take_whole(d, frame, len))
            return 0;
        if (d->hdr_have < FL_TCP_FRAME_HEADER) {
            int rc = take_header_byte(d);
            if (rc < 0)
                return rc;
            continue;
        }
        if (take_body(d, frame, len))
            return 0;
    }
    return FL_EAGAIN;
}

size_t fl_tcp_frame_decoder_pending(const fl_tcp_frame_decoder *d)
{
    return d->hdr_have + d->have;
}

int fl_tcp_frame_write_header(uint8_t out[FL_TCP_FRAME_HEADER], size_t len)
{
    if (len == 0)
        return FL_EINVAL;
    if (len > FL_TCP_FRAME_MAX)
        return FL_EMSGSIZE;
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    return 0;
}

int fl_tcp_frame_write(uint8_t *out,
                       size_t cap,
                       const uint8_t *payload,
                       size_t len,
                       size_t *written)
{
    if (len == 0)
        return FL_EINVAL;
    if (len > FL_TCP_FRAME_MAX || cap < FL_TCP_FRAME_HEADER || cap - FL_TCP_FRAME_HEADER < len)
        return FL_EMSGSIZE;
    memmove(out + FL_TCP_FRAME_HEADER, payload, len); /* payload may be at out */
    fl_tcp_frame_write_header(out, len);
    *written = FL_TCP_FRAME_HEADER + len;
    return 0;
}
