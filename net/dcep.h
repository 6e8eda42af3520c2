/* The DataChannel Establishment Protocol (RFC 8832): DATA_CHANNEL_OPEN and
 * DATA_CHANNEL_ACK, carried on an SCTP stream with PPID 50, and the PPIDs
 * of WebRTC data channel messages (RFC 8831 section 8). Pure codec: no
 * state, no allocation; a parsed OPEN points into the caller's bytes. */
#ifndef FL_NET_DCEP_H
#define FL_NET_DCEP_H

#include <stddef.h>
#include <stdint.h>

/* SCTP payload protocol identifiers (RFC 8831, 8832). */
enum {
    FL_DCEP_PPID_CONTROL = 50,
    FL_DCEP_PPID_STRING = 51,
    FL_DCEP_PPID_BINARY_PARTIAL = 52, /* deprecated: one piece of a message */
    FL_DCEP_PPID_BINARY = 53,
    FL_DCEP_PPID_STRING_PARTIAL = 54, /* deprecated */
    FL_DCEP_PPID_STRING_EMPTY = 56,   /* an empty string (one byte sent) */
    FL_DCEP_PPID_BINARY_EMPTY = 57,   /* an empty binary message */
};

/* Message types. */
enum {
    FL_DCEP_ACK = 0x02,
    FL_DCEP_OPEN = 0x03,
};

/* Channel types of DATA_CHANNEL_OPEN; 0x80 set: unordered. */
enum {
    FL_DCEP_RELIABLE = 0x00,
    FL_DCEP_PARTIAL_REXMIT = 0x01, /* reliability: retransmissions at most */
    FL_DCEP_PARTIAL_TIMED = 0x02,  /* reliability: lifetime in ms */
    FL_DCEP_UNORDERED = 0x80,
};

#define FL_DCEP_OPEN_HEADER 12 /* bytes before label and protocol */

typedef struct fl_dcep_open {
    uint8_t channel_type; /* FL_DCEP_RELIABLE..., | FL_DCEP_UNORDERED */
    uint16_t priority;
    uint32_t reliability; /* retransmissions or ms; 0 for reliable types */
    const uint8_t *label; /* not NUL-terminated; points into the parsed bytes */
    size_t label_len;
    const uint8_t *protocol;
    size_t protocol_len;
} fl_dcep_open;

/* The message type of a DCEP message (its first byte): FL_DCEP_OPEN,
 * FL_DCEP_ACK, or FL_EBADMSG for an empty one or an unknown type. */
int fl_dcep_type(const uint8_t *data, size_t len);

/* Parses a DATA_CHANNEL_OPEN. FL_EBADMSG: not an OPEN, shorter than its
 * header, label and protocol lengths beyond the message (bytes after them
 * are ignored, as RFC 8832 leaves room for extensions), or an unknown
 * channel type. */
int fl_dcep_open_parse(const uint8_t *data, size_t len, fl_dcep_open *out);

/* Writes a DATA_CHANNEL_OPEN into out; the bytes written, or FL_EMSGSIZE
 * when cap is too small, FL_EINVAL for an unknown channel type or a label
 * or protocol longer than 65535 bytes. */
int fl_dcep_open_write(const fl_dcep_open *o, uint8_t *out, size_t cap);

/* Writes a DATA_CHANNEL_ACK (one byte); 1, or FL_EMSGSIZE. */
int fl_dcep_ack_write(uint8_t *out, size_t cap);

/* Whether a channel type is one RFC 8832 defines. */
int fl_dcep_channel_type_valid(uint8_t type);

#endif
