/* RTCP (RFC 3550, 4585, 5104, 5506): compound packet iteration, parse and
 * write for SR, RR, SDES, BYE, APP, generic NACK, PLI, FIR, REMB
 * (draft-alvestrand-rmcat-remb) and transport-wide congestion control
 * feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), and the
 * RTT from LSR/DLSR.
 *
 * Parsers read from a fl_rtcp_pkt that points into the caller's bytes.
 * Writers emit one packet each into out (compound = concatenation) and
 * return 0 with *out_len set, FL_EMSGSIZE or FL_EINVAL. */
#ifndef FL_NET_RTCP_H
#define FL_NET_RTCP_H

#include <stddef.h>
#include <stdint.h>

enum {
    FL_RTCP_SR = 200,
    FL_RTCP_RR = 201,
    FL_RTCP_SDES = 202,
    FL_RTCP_BYE = 203,
    FL_RTCP_APP = 204,
    FL_RTCP_RTPFB = 205,
    FL_RTCP_PSFB = 206,
};

enum {
    FL_RTCP_FMT_NACK = 1,  /* RTPFB */
    FL_RTCP_FMT_TWCC = 15, /* RTPFB */
    FL_RTCP_FMT_PLI = 1,   /* PSFB */
    FL_RTCP_FMT_FIR = 4,   /* PSFB */
    FL_RTCP_FMT_AFB = 15,  /* PSFB, REMB */
};

#define FL_RTCP_MAX_COUNT  31
#define FL_RTCP_SDES_CNAME 1

/* One packet of a compound packet. */
typedef struct fl_rtcp_pkt {
    const uint8_t *data; /* header start */
    size_t len;          /* whole packet, (length + 1) * 4 */
    uint8_t padding;
    uint8_t count; /* RC / SC / FMT / subtype */
    uint8_t type;
    const uint8_t *body; /* after the 4-byte header */
    size_t body_len;     /* padding removed */
} fl_rtcp_pkt;

typedef struct fl_rtcp_iter {
    const uint8_t *data;
    size_t len;
    size_t off; /* offset of the next packet, or of the bad one */
    int err;    /* 0 or the error that stopped the walk */
} fl_rtcp_iter;

void fl_rtcp_iter_init(fl_rtcp_iter *it, const uint8_t *data, size_t len);
/* 1 with *p filled, 0 at the end, or a negative error (it->off is the bad
 * packet's offset, it->err the code); the walk stops at the first bad one. */
int fl_rtcp_iter_next(fl_rtcp_iter *it, fl_rtcp_pkt *p);
/* Parses one packet header at data. */
int fl_rtcp_pkt_parse(fl_rtcp_pkt *p, const uint8_t *data, size_t len);

/* Checks a whole compound packet: every block well-formed, and the first an
 * SR or RR unless it is a reduced-size packet (RFC 5506), for which
 * *reduced is set to 1. 0 or the first block's error. */
int fl_rtcp_compound_check(const uint8_t *data, size_t len, int *reduced);

typedef struct fl_rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed */
    uint32_t ext_highest_seq;
    uint32_t jitter;
    uint32_t lsr;
    uint32_t dlsr;
} fl_rtcp_report_block;

typedef struct fl_rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp;
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
    size_t num_reports;
    fl_rtcp_report_block reports[FL_RTCP_MAX_COUNT];
    const uint8_t *ext; /* profile-specific extension, kept by the writer */
    size_t ext_len;
} fl_rtcp_sr;

typedef struct fl_rtcp_rr {
    uint32_t ssrc;
    size_t num_reports;
    fl_rtcp_report_block reports[FL_RTCP_MAX_COUNT];
    const uint8_t *ext;
    size_t ext_len;
} fl_rtcp_rr;

int fl_rtcp_sr_parse(const fl_rtcp_pkt *p, fl_rtcp_sr *sr);
int fl_rtcp_sr_write(uint8_t *out, size_t cap, const fl_rtcp_sr *sr, size_t *out_len);
int fl_rtcp_rr_parse(const fl_rtcp_pkt *p, fl_rtcp_rr *rr);
int fl_rtcp_rr_write(uint8_t *out, size_t cap, const fl_rtcp_rr *rr, size_t *out_len);

#define FL_RTCP_SDES_MAX_ITEMS 16

typedef struct fl_rtcp_sdes_item {
    uint8_t type;
    uint8_t len;
    const uint8_t *data;
} fl_rtcp_sdes_item;

typedef struct fl_rtcp_sdes_chunk {
    uint32_t ssrc;
    size_t num_items;
    fl_rtcp_sdes_item items[FL_RTCP_SDES_MAX_ITEMS];
} fl_rtcp_sdes_chunk;

typedef struct fl_rtcp_sdes {
    size_t num_chunks;
    fl_rtcp_sdes_chunk chunks[FL_RTCP_MAX_COUNT];
} fl_rtcp_sdes;

/* FL_ENOTSUP for a chunk with more than FL_RTCP_SDES_MAX_ITEMS items. */
int fl_rtcp_sdes_parse(const fl_rtcp_pkt *p, fl_rtcp_sdes *s);
int fl_rtcp_sdes_write(uint8_t *out, size_t cap, const fl_rtcp_sdes *s, size_t *out_len);
/* The chunk's CNAME: 0 or FL_ENOENT. */
int fl_rtcp_sdes_cname(const fl_rtcp_sdes_chunk *c, const char **s, size_t *len);

typedef struct fl_rtcp_bye {
    size_t num_ssrcs;
    uint32_t ssrcs[FL_RTCP_MAX_COUNT];
    const uint8_t *reason; /* NULL if none */
    uint8_t reason_len;
} fl_rtcp_bye;

int fl_rtcp_bye_parse(const fl_rtcp_pkt *p, fl_rtcp_bye *b);
int fl_rtcp_bye_write(uint8_t *out, size_t cap, const fl_rtcp_bye *b, size_t *out_len);

typedef struct fl_rtcp_app {
    uint8_t subtype;
    uint32_t ssrc;
    uint8_t name[4];
    const uint8_t *data;
    size_t len; /* multiple of 4 */
} fl_rtcp_app;

int fl_rtcp_app_parse(const fl_rtcp_pkt *p, fl_rtcp_app *a);
int fl_rtcp_app_write(uint8_t *out, size_t cap, const fl_rtcp_app *a, size_t *out_len);

/* Common feedback header (RFC 4585 6.1). */
typedef struct fl_rtcp_fb {
    uint8_t fmt;
    uint8_t type; /* RTPFB or PSFB */
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    const uint8_t *fci;
    size_t fci_len;
} fl_rtcp_fb;

int fl_rtcp_fb_parse(const fl_rtcp_pkt *p, fl_rtcp_fb *fb);
/* Writes any feedback packet (PLI: fci_len 0). fci_len multiple of 4. */
int fl_rtcp_fb_write(uint8_t *out, size_t cap, const fl_rtcp_fb *fb, size_t *out_len);

/* Generic NACK (RFC 4585 6.2.1). */
size_t fl_rtcp_nack_count(const fl_rtcp_fb *fb);
void fl_rtcp_nack_item(const fl_rtcp_fb *fb, size_t i, uint16_t *pid, uint16_t *blp);
/* Expands every PID+BLP into lost sequence numbers; returns how many there
 * are (may exceed cap: only cap are stored). */
size_t fl_rtcp_nack_expand(const fl_rtcp_fb *fb, uint16_t *seqs, size_t cap);
/* Compresses lost sequence numbers (in wrap-aware increasing order) into
 * PID+BLP items and writes the NACK. */
int fl_rtcp_nack_write(uint8_t *out,
                       size_t cap,
                       uint32_t sender_ssrc,
                       uint32_t media_ssrc,
                       const uint16_t *lost,
                       size_t n,
                       size_t *out_len);

/* FIR (RFC 5104 4.3.1). */
typedef struct fl_rtcp_fir_entry {
    uint32_t ssrc;
    uint8_t seq;
} fl_rtcp_fir_entry;

size_t fl_rtcp_fir_count(const fl_rtcp_fb *fb);
void fl_rtcp_fir_get(const fl_rtcp_fb *fb, size_t i, fl_rtcp_fir_entry *e);
int fl_rtcp_fir_write(uint8_t *out,
                      size_t cap,
                      uint32_t sender_ssrc,
                      const fl_rtcp_fir_entry *entries,
                      size_t n,
                      size_t *out_len);

/* REMB. */
#define FL_RTCP_REMB_MAX_SSRCS 255

typedef struct fl_rtcp_remb {
    uint32_t sender_ssrc;
    uint8_t exp;       /* 6 bits */
    uint32_t mantissa; /* 18 bits */
    size_t num_ssrcs;
    uint32_t ssrcs[FL_RTCP_REMB_MAX_SSRCS];
} fl_rtcp_remb;

/* FL_ENOENT if the AFB packet is not REMB. */
int fl_rtcp_remb_parse(const fl_rtcp_fb *fb, fl_rtcp_remb *r);
uint64_t fl_rtcp_remb_bitrate(const fl_rtcp_remb *r);
/* Sets exp/mantissa to the smallest exponent holding bps (rounded down). */
void fl_rtcp_remb_set_bitrate(fl_rtcp_remb *r, uint64_t bps);
int fl_rtcp_remb_write(uint8_t *out, size_t cap, const fl_rtcp_remb *r, size_t *out_len);

/* Transport-wide congestion control feedback. */
enum {
    FL_RTCP_TWCC_NOT_RECEIVED = 0,
    FL_RTCP_TWCC_SMALL_DELTA = 1,
    FL_RTCP_TWCC_LARGE_DELTA = 2,
};

#define FL_RTCP_TWCC_DELTA_US  250
#define FL_RTCP_TWCC_REF_US    64000
#define FL_RTCP_TWCC_BUILD_MAX 1024

typedef struct fl_rtcp_twcc {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    uint16_t base_seq;
    uint16_t status_count;
    int32_t ref_time; /* 24-bit signed, 64 ms units */
    uint8_t fb_count;
} fl_rtcp_twcc;

typedef struct fl_rtcp_twcc_packet {
    uint16_t seq;
    uint8_t symbol;     /* FL_RTCP_TWCC_* */
    int32_t delta;      /* 250 µs units; 0 when not received */
    int64_t arrival_us; /* ref_time * 64 ms + running sum of deltas */
} fl_rtcp_twcc_packet;

/* Parses the header and fills pkts[0..status_count); *n = status_count.
 * FL_EMSGSIZE if cap < status_count (65535 always suffices), FL_EBADMSG on
 * truncation, a reserved symbol or chunks that do not cover status_count. */
int fl_rtcp_twcc_parse(const fl_rtcp_fb *fb,
                       fl_rtcp_twcc *t,
                       fl_rtcp_twcc_packet *pkts,
                       size_t cap,
                       size_t *n);
/* Writes from t (status_count taken from n) and pkts[].symbol/.delta;
 * pkts[i].seq must be base_seq + i. */
int fl_rtcp_twcc_write(uint8_t *out,
                       size_t cap,
                       const fl_rtcp_twcc *t,
                       const fl_rtcp_twcc_packet *pkts,
                       size_t n,
                       size_t *out_len);
/* Builds a feedback from received packets (at most FL_RTCP_TWCC_BUILD_MAX
 * sequence numbers from first to last) (seqs in wrap-aware increasing
 * order, arrival times in µs, which may go backwards). Gaps are reported
 * not received. FL_ERANGE if a delta does not fit 16 bits or the span is
 * too long; FL_EINVAL if seqs are not increasing. */
int fl_rtcp_twcc_build(uint8_t *out,
                       size_t cap,
                       uint32_t sender_ssrc,
                       uint32_t media_ssrc,
                       uint8_t fb_count,
                       const uint16_t *seqs,
                       const int64_t *arrival_us,
                       size_t n,
                       size_t *out_len);

/* NTP helpers and RTT (RFC 3550 6.4.1). */
static inline uint32_t fl_rtcp_ntp_mid(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

/* Round-trip time in µs from a report block received when the local NTP
 * clock's middle 32 bits read arrival_mid; -1 if lsr is 0 (no SR yet). */
int64_t fl_rtcp_rtt_us(uint32_t arrival_mid, uint32_t lsr, uint32_t dlsr);

#endif
