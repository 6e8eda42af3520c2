/* RTP (RFC 3550) packets parsed in place, header extensions (RFC 8285),
 * wrap-aware sequence/timestamp helpers, per-SSRC receive statistics
 * (RFC 3550 A.1, A.3, A.8) and the RFC 7983 first-byte demux.
 *
 * A fl_rtp_view points into the caller's bytes and lives no longer than
 * them. Nothing here allocates, does I/O or reads a clock. */
#ifndef FL_NET_RTP_H
#define FL_NET_RTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define FL_RTP_HEADER_MIN   12
#define FL_RTP_MAX_CSRC     15
#define FL_RTP_EXT_ONE_BYTE 0xBEDEu
/* Two-byte form: 0x100 in the top 12 bits, appbits in the low 4. */
#define FL_RTP_EXT_TWO_BYTE      0x1000u
#define FL_RTP_EXT_TWO_BYTE_MASK 0xFFF0u

typedef struct fl_rtp_view {
    const uint8_t *data; /* whole packet */
    size_t len;
    uint8_t version;
    uint8_t padding;   /* P bit */
    uint8_t extension; /* X bit */
    uint8_t csrc_count;
    uint8_t marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    const uint8_t *csrcs; /* csrc_count * 4 bytes, big endian */
    uint16_t ext_profile; /* valid if extension */
    const uint8_t *ext_data;
    size_t ext_len; /* bytes, multiple of 4 */
    size_t header_len;
    const uint8_t *payload;
    size_t payload_len; /* padding removed */
    size_t pad_len;     /* padding bytes including the count byte */
} fl_rtp_view;

/* Parses len bytes; 0 or FL_EBADMSG (FL_ENOTSUP for a version other than 2). */
int fl_rtp_parse(fl_rtp_view *v, const uint8_t *data, size_t len);

uint32_t fl_rtp_view_csrc(const fl_rtp_view *v, size_t i);

/* Notes v, parsed from b's bytes, in b->rtp for the elements the buffer
 * reaches (base/buf.h). A v over other bytes leaves b->rtp.parsed 0. */
void fl_rtp_buf_note(fl_buf *b, const fl_rtp_view *v);
/* Parses b's bytes and notes the header: 0, or fl_rtp_parse's error with
 * b->rtp.parsed 0. */
int fl_rtp_buf_parse(fl_buf *b);

/* One header extension element (RFC 8285). */
typedef struct fl_rtp_ext {
    uint8_t id;
    const uint8_t *data;
    size_t len;
} fl_rtp_ext;

typedef struct fl_rtp_ext_iter {
    const uint8_t *p;
    const uint8_t *end;
    int two_byte;
} fl_rtp_ext_iter;

/* Starts iterating v's extension block. FL_ENOTSUP if the block is neither
 * RFC 8285 form, FL_ENOENT if there is no block. */
int fl_rtp_ext_iter_init(fl_rtp_ext_iter *it, const fl_rtp_view *v);
/* 1 with *e filled, 0 at the end, FL_EBADMSG for an element that overruns. */
int fl_rtp_ext_iter_next(fl_rtp_ext_iter *it, fl_rtp_ext *e);
/* First element with this id: 0 or FL_ENOENT / FL_EBADMSG. */
int fl_rtp_ext_find(const fl_rtp_view *v, uint8_t id, fl_rtp_ext *e);

/* Typed getters: 0 or FL_EBADMSG when the element has the wrong size. */
/* abs-send-time: 24-bit 6.18 fixed-point seconds. */
int fl_rtp_ext_get_abs_send_time(const fl_rtp_ext *e, uint32_t *abs24);
/* 6.18 fixed point to microseconds (within the 64 s wrap). */
uint64_t fl_rtp_abs_send_time_to_us(uint32_t abs24);
int fl_rtp_ext_get_twcc_seq(const fl_rtp_ext *e, uint16_t *seq);
/* sdes:mid, rtp-stream-id, repaired-rtp-stream-id: not NUL-terminated. */
int fl_rtp_ext_get_string(const fl_rtp_ext *e, const char **s, size_t *len);
/* ssrc-audio-level (RFC 6464): voice = V bit, level = -dBov 0..127. */
int fl_rtp_ext_get_audio_level(const fl_rtp_ext *e, int *voice, uint8_t *level);

/* In-place rewrites of a header already checked by fl_rtp_parse. */
void fl_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc);
void fl_rtp_set_seq(uint8_t *pkt, uint16_t seq);
void fl_rtp_set_timestamp(uint8_t *pkt, uint32_t ts);
void fl_rtp_set_marker(uint8_t *pkt, int marker);
void fl_rtp_set_payload_type(uint8_t *pkt, uint8_t pt);

/* Header builder (tests, benchmarks, RTX). Extensions are written in the
 * one-byte form when every id is 1..14 and every length 1..16, otherwise
 * (or with two_byte set) in the two-byte form. */
typedef struct fl_rtp_header {
    uint8_t marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint8_t csrc_count;
    uint32_t csrcs[FL_RTP_MAX_CSRC];
    const fl_rtp_ext *exts;
    size_t num_exts;
    int two_byte;
} fl_rtp_header;

/* Writes header + payload + pad_len padding bytes (0 or 1..255) into out.
 * 0 with *out_len set, FL_EMSGSIZE if cap is too small, FL_EINVAL for a bad
 * extension or csrc_count. */
int fl_rtp_write(uint8_t *out,
                 size_t cap,
                 const fl_rtp_header *h,
                 const uint8_t *payload,
                 size_t payload_len,
                 size_t pad_len,
                 size_t *out_len);

/* fl_rtp_write into b's bytes (from fl_buf_data, keeping `reserve` bytes of
 * tailroom free), setting its length and noting the header in b->rtp.
 * 0 or fl_rtp_write's error (b unchanged but its note voided). */
int fl_rtp_buf_write(fl_buf *b,
                     size_t reserve,
                     const fl_rtp_header *h,
                     const uint8_t *payload,
                     size_t payload_len);

/* Wrap-aware comparisons (RFC 1982 serial arithmetic). */
static inline int fl_rtp_seq_lt(uint16_t a, uint16_t b)
{
    return a != b && (uint16_t)(b - a) < 0x8000u;
}

static inline int fl_rtp_ts_lt(uint32_t a, uint32_t b)
{
    return a != b && (uint32_t)(b - a) < 0x80000000u;
}

/* A sending stream's first sequence number, made from a random value:
 * below 2^15, as libwebrtc chooses it. SRTP keys each packet by the
 * rollover counter too (RFC 3711 3.3.1), which a receiver takes to be 0 at
 * the first packet it sees: one that missed the first packets (sent before
 * its DTLS handshake finished, or lost) up to and past a wrap to 0 would
 * never authenticate a packet of the stream. Below 2^15, the first 32768
 * packets can be missed. */
static inline uint16_t fl_rtp_seq_initial(uint32_t random)
{
    return (uint16_t)(random & 0x7fffu);
}

/* Unwraps 16-bit sequence numbers / 32-bit timestamps to 64 bits, choosing
 * the value closest to the last one. The first value unwraps to itself
 * plus one cycle, so a slightly earlier packet never goes below zero. */
typedef struct fl_rtp_unwrapper {
    uint64_t last;
    int started;
} fl_rtp_unwrapper;

void fl_rtp_unwrapper_init(fl_rtp_unwrapper *u);
uint64_t fl_rtp_seq_unwrap(fl_rtp_unwrapper *u, uint16_t seq);
uint64_t fl_rtp_ts_unwrap(fl_rtp_unwrapper *u, uint32_t ts);

/* Per-SSRC receive statistics, RFC 3550 A.1 (validity and probation),
 * A.3 (loss) and A.8 (jitter). */
#define FL_RTP_MIN_SEQUENTIAL 2
#define FL_RTP_MAX_DROPOUT    3000
#define FL_RTP_MAX_MISORDER   100

typedef struct fl_rtp_rx_stats {
    uint16_t max_seq;
    uint32_t cycles; /* count << 16 */
    uint32_t base_seq;
    uint32_t bad_seq;
    uint32_t probation;
    uint32_t received;
    uint32_t expected_prior;
    uint32_t received_prior;
    uint32_t transit;
    int have_transit;
    uint32_t jitter_q4; /* jitter * 16, as A.8 keeps it */
    uint64_t window;    /* bit i: max_seq - i received */
    uint32_t duplicates;
    uint32_t out_of_order;
    int started;
} fl_rtp_rx_stats;

/* The fields of a report block (RFC 3550 6.4.1) except SSRC, LSR, DLSR. */
typedef struct fl_rtp_report {
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* clamped to the 24-bit signed range */
    uint32_t ext_highest_seq;
    uint32_t jitter;
} fl_rtp_report;

void fl_rtp_rx_stats_init(fl_rtp_rx_stats *s);
/* Feeds one packet. arrival is in the stream's RTP clock units. Returns 1 if
 * the packet counts (valid source), 0 if held by probation, a duplicate, or
 * a bad jump. */
int fl_rtp_rx_stats_update(fl_rtp_rx_stats *s, uint16_t seq, uint32_t rtp_ts, uint32_t arrival);
uint32_t fl_rtp_rx_stats_expected(const fl_rtp_rx_stats *s);
int64_t fl_rtp_rx_stats_lost(const fl_rtp_rx_stats *s);
/* Fills a report and starts the next interval (fraction lost). */
void fl_rtp_rx_stats_report(fl_rtp_rx_stats *s, fl_rtp_report *r);

/* RFC 7983 demultiplexing by the first byte. */
typedef enum fl_demux_kind {
    FL_DEMUX_OTHER = 0,
    FL_DEMUX_STUN,         /* 0..3 */
    FL_DEMUX_ZRTP,         /* 16..19 */
    FL_DEMUX_DTLS,         /* 20..63 */
    FL_DEMUX_TURN_CHANNEL, /* 64..79 */
    FL_DEMUX_RTP,          /* 128..191 (RTP or RTCP) */
} fl_demux_kind;

fl_demux_kind fl_demux_classify(uint8_t first);
/* For an FL_DEMUX_RTP packet of at least 2 bytes: 1 if RTCP (RFC 5761: the
 * second byte with the marker bit masked is 64..95), 0 if RTP. */
int fl_demux_is_rtcp(const uint8_t *data, size_t len);

#endif
