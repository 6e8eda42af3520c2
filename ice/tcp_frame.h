/* RFC 4571 framing for ICE-TCP (RFC 6544): each STUN, DTLS, RTP or RTCP
 * packet on the stream is preceded by its length in two bytes, big endian.
 *
 * Sans-IO. The decoder takes stream bytes cut anywhere and yields whole
 * frames. A frame that arrives whole inside one input is returned in place
 * (no copy); one split across inputs is put together in a scratch area the
 * caller provides, sized for the largest frame it accepts. Frames larger than
 * that, and empty frames, are skipped and reported, and the stream carries
 * on. Nothing is allocated. One decoder per connection; not thread-safe. */
#ifndef FL_ICE_TCP_FRAME_H
#define FL_ICE_TCP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FL_TCP_FRAME_HEADER 2
#define FL_TCP_FRAME_MAX    65535 /* the length field's limit */

typedef struct fl_tcp_frame_decoder {
    uint8_t *scratch;  /* the caller's, max bytes: frames split across inputs */
    size_t max;        /* largest frame yielded, 1..65535 */
    const uint8_t *in; /* input not yet consumed (borrowed) */
    size_t in_len;
    uint8_t hdr[FL_TCP_FRAME_HEADER];
    size_t hdr_have; /* header bytes seen of the current frame */
    size_t need;     /* the current frame's length, once hdr_have == 2 */
    size_t have;     /* bytes of it seen so far */
    int skipping;    /* the current frame is too large: its bytes are dropped */
    /* counters */
    uint64_t frames;    /* frames yielded */
    uint64_t oversized; /* frames skipped: longer than max */
    uint64_t empty;     /* frames skipped: length 0 */
} fl_tcp_frame_decoder;

/* Sets up a decoder that yields frames of 1..max bytes (max is clamped to
 * 65535) and reassembles split frames in scratch (max bytes, the caller's
 * memory; it must outlive the decoder). */
void fl_tcp_frame_decoder_init(fl_tcp_frame_decoder *d, uint8_t *scratch, size_t max);

/* Hands the decoder the next bytes of the stream. They are borrowed until
 * fl_tcp_frame_decoder_poll_frame returns FL_EAGAIN; FL_ESTATE (and nothing
 * taken) while the previous input is not used up. */
int fl_tcp_frame_decoder_handle_input(fl_tcp_frame_decoder *d, const uint8_t *data, size_t len);

/* The next frame: 0 with frame and len set (valid until the next call, and
 * pointing into the input or into scratch); FL_EAGAIN when the input is used
 * up (a partial frame stays buffered); FL_EMSGSIZE when a frame longer than
 * max starts (its bytes are skipped as they come); FL_EBADMSG for an empty
 * frame (skipped). After an error the caller may carry on polling. */
int fl_tcp_frame_decoder_poll_frame(fl_tcp_frame_decoder *d, const uint8_t **frame, size_t *len);

/* Bytes of a frame received but not yet yielded (header included). */
size_t fl_tcp_frame_decoder_pending(const fl_tcp_frame_decoder *d);

/* Writes the two-byte header for a payload of len bytes; FL_EMSGSIZE when
 * len is over 65535, FL_EINVAL when it is 0. */
int fl_tcp_frame_write_header(uint8_t out[FL_TCP_FRAME_HEADER], size_t len);

/* Writes header and payload to out (cap bytes); the total in *written.
 * FL_EMSGSIZE when it does not fit or len is over 65535, FL_EINVAL for 0. */
int fl_tcp_frame_write(uint8_t *out,
                       size_t cap,
                       const uint8_t *payload,
                       size_t len,
                       size_t *written);

#endif
