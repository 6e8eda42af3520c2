/* Fuzzes ice/tcp_frame. Byte 0 picks the largest frame (bits 0-1) and the
 * size of the pieces the stream is cut into (bits 2-7); the rest is the
 * stream. The frames and errors the decoder yields must be exactly those a
 * one-pass reference walk of the whole stream finds, in order, whatever the
 * cuts. Every frame is written back and compared with the stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "ice/tcp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 70000

typedef struct event {
    int rc;
    size_t off; /* frame: its payload's offset in the stream */
    size_t len;
} event;

static event want[MAX_EVENTS];
static size_t nwant;

/* The events a decoder must report for the whole stream. */
static void reference(const uint8_t *s, size_t n, size_t max)
{
    nwant = 0;
    size_t pos = 0;
    while (pos + 2 <= n && nwant < MAX_EVENTS) {
        size_t len = (size_t)s[pos] << 8 | s[pos + 1];
        if (len == 0) {
            want[nwant++] = (event){ FL_EBADMSG, 0, 0 };
        } else if (len > max) {
            want[nwant++] = (event){ FL_EMSGSIZE, 0, 0 };
        } else if (pos + 2 + len <= n) {
            want[nwant++] = (event){ 0, pos + 2, len };
        } else {
            break;
        }
        pos += 2 + len;
    }
}

static size_t check_events(fl_tcp_frame_decoder *d, const uint8_t *s, size_t got)
{
    const uint8_t *f;
    size_t len;
    int rc;
    while ((rc = fl_tcp_frame_decoder_poll_frame(d, &f, &len)) != FL_EAGAIN) {
        if (got >= nwant || want[got].rc != rc)
            abort();
        if (rc == 0) {
            if (len != want[got].len || memcmp(f, s + want[got].off, len) != 0)
                abort();
            uint8_t hdr[2];
            if (fl_tcp_frame_write_header(hdr, len) != 0 || memcmp(hdr, s + want[got].off - 2, 2))
                abort();
        }
        got++;
    }
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = { 1, 64, 1500, FL_TCP_FRAME_MAX };
    static uint8_t scratch[FL_TCP_FRAME_MAX];
    if (size < 1)
        return 0;
    size_t max = maxes[data[0] & 3];
    size_t piece = (size_t)(data[0] >> 2) + 1;
    const uint8_t *s = data + 1;
    size_t n = size - 1;
    reference(s, n, max);
    if (nwant >= MAX_EVENTS)
        return 0;
    fl_tcp_frame_decoder d;
    fl_tcp_frame_decoder_init(&d, scratch, max);
    size_t got = 0;
    for (size_t at = 0; at < n; at += piece) {
        size_t len = n - at < piece ? n - at : piece;
        if (fl_tcp_frame_decoder_handle_input(&d, s + at, len) != 0)
            abort();
        got = check_events(&d, s, got);
    }
    if (got != nwant)
        abort();
    return 0;
}
