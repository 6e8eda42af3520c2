/* The media transport of a WebRtcEndpoint (or RtpEndpoint), sans-IO:
 * DTLS-SRTP (net/dtls) keys SRTP/SRTCP (net/srtp) on one ICE path, or
 * (fl_transport_mode) SRTP is keyed from SDP a=crypto (SDES), or RTP goes
 * in the clear (PLAIN), both without DTLS; RTP and RTCP are
 * demultiplexed (RFC 7983, RFC 5761), unprotected in place, parsed, and
 * counted per SSRC (net/rtp receive statistics, RTT from RTCP LSR/DLSR).
 *
 *     fl_transport_create(&t, &cfg);
 *     fl_transport_start(t, now);                  // once ICE has a path
 *     fl_transport_handle_input(t, now, buf);      // one datagram; takes buf
 *     fl_transport_handle_timeout(t, now);         // at poll_timeout
 *     fl_transport_send_rtp(t, now, buf);          // protect in place, queue
 *     while (fl_transport_poll_transmit(t, &b) == 0) send b, fl_buf_unref(b)
 *     while (fl_transport_poll_event(t, &ev) == 0) ..., fl_transport_event_release(&ev)
 *     deadline = fl_transport_poll_timeout(t);
 *
 * Keys (net/dtls.h): the CONNECTED event of fl_dtls carries local_master
 * (what this side sends with: the client's write key+salt for a DTLS
 * client, the server's for a server) and remote_master (what the peer sends
 * with). The OUTBOUND SRTP session is keyed with local_master, the INBOUND
 * one with remote_master, whatever the role.
 *
 * Media arriving before the handshake completed (and the peer's fingerprint
 * was checked) is dropped and counted; so is media after FAILED or CLOSED.
 * Only AES-CM profiles exist (net/dtls.h: no GCM with mbedTLS 2.28). A peer
 * that completes DTLS without use_srtp makes the transport FAILED.
 *
 * Clock rates (for jitter, RFC 3550 A.8, arrival time in RTP units): taken
 * from cfg.clock_rates (the SDP a=rtpmap); a payload type not listed gets
 * 8000 for the RFC 3551 static PTs 0, 8, 9, 48000 for 111 (opus as Chrome
 * and Kurento offer it) and 90000 otherwise (video). Pass the map.
 *
 * DTLS application data (SCTP for data channels, net/sctp): with
 * cfg.app_data each record received is a DATA event (copied into a buffer
 * of the pool) and fl_transport_send_data sends one; without it records
 * are drained and counted (stats.dtls_app_dropped).
 *
 * Buffers: every fl_buf here comes from and goes back to the caller's pool
 * (cfg.pool, one loop); DTLS datagrams are copied into a buffer of it (the
 * handshake only), media goes out in the caller's own buffer, no copy.
 * Not thread-safe: a transport belongs to its loop thread. */
#ifndef FL_NET_TRANSPORT_H
#define FL_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/rand.h"
#include "base/time.h"
#include "net/cert.h"
#include "net/dtls.h"
#include "net/rtp.h"
#include "net/srtp.h"

typedef struct fl_transport fl_transport;

#define FL_TRANSPORT_MAX_CLOCK_RATES 16
#define FL_TRANSPORT_MAX_SSRCS       16 /* per direction with statistics */
#define FL_TRANSPORT_EVENT_QUEUE     128
#define FL_TRANSPORT_DEFAULT_TXQ     1024

typedef struct fl_transport_clock_rate {
    uint8_t payload_type;
    uint32_t rate; /* Hz */
} fl_transport_clock_rate;

/* How media is protected. */
typedef enum fl_transport_mode {
    FL_TRANSPORT_DTLS = 0,  /* DTLS-SRTP (WebRTC) */
    FL_TRANSPORT_PLAIN = 1, /* no protection: RTP and RTCP in the clear (RTP/AVP, RTP/AVPF) */
    /* SRTP keyed from SDP (RFC 4568): sdes_profile, sdes_local_key (what we
     * send with, key||salt), sdes_remote_key (what the peer sends with). */
    FL_TRANSPORT_SDES = 2,
} fl_transport_mode;

typedef struct fl_transport_config {
    /* PLAIN and SDES: no DTLS (cert, role, fingerprint, profiles, mtu and
     * hs timeouts are ignored), CONNECTED at fl_transport_start, DTLS
     * records arriving are dropped and counted (stats.unknown). */
    fl_transport_mode mode;
    fl_srtp_profile sdes_profile; /* SDES: any fl_srtp profile (AES-CM for a=crypto) */
    /* SDES: fl_srtp_profile_key_len + _salt_len bytes each (key then salt),
     * copied at create (the caller may wipe its own copies). */
    const uint8_t *sdes_local_key, *sdes_remote_key;
    fl_cert *cert;                  /* ours (DTLS); not owned, must outlive */
    fl_dtls_role role;              /* from SDP a=setup */
    const char *remote_fingerprint; /* SDP a=fingerprint, or NULL (later) */
    fl_dtls_srtp_profile profiles[FL_DTLS_MAX_PROFILES];
    size_t n_profiles;      /* 0: SHA1_80 then SHA1_32 */
    size_t mtu;             /* 0: FL_DTLS_DEFAULT_MTU */
    fl_rand *rand;          /* NULL: fl_rand_system() */
    uint32_t replay_window; /* SRTP, packets; 0: FL_SRTP_DEFAULT_REPLAY_WINDOW */
    uint32_t hs_timeout_min_ms, hs_timeout_max_ms; /* 0: net/dtls defaults */
    /* Required: DTLS datagrams are copied into buffers of this pool, whose
     * buffers must hold the MTU. */
    fl_buf_pool *pool;
    /* Packets waiting for poll_transmit; 0: FL_TRANSPORT_DEFAULT_TXQ. */
    size_t tx_queue_max;
    fl_transport_clock_rate clock_rates[FL_TRANSPORT_MAX_CLOCK_RATES];
    size_t n_clock_rates;
    /* Added to `now` to make the NTP time of fl_transport_write_sr (µs since
     * the Unix epoch at now == 0). 0: NTP from the monotonic clock, enough
     * for RTT but not wall-clock accurate. */
    int64_t wall_offset_us;
    /* DTLS application data records become DATA events (see above). */
    int app_data;
} fl_transport_config;

typedef enum fl_transport_event_type {
    FL_TRANSPORT_EVENT_CONNECTED = 1, /* .profile; media may flow */
    FL_TRANSPORT_EVENT_FAILED = 2,    /* .err, .reason (from DTLS) */
    FL_TRANSPORT_EVENT_RTP = 3,       /* .buf (decrypted), .rtp */
    FL_TRANSPORT_EVENT_RTCP = 4,      /* .buf (decrypted compound) */
    FL_TRANSPORT_EVENT_CLOSED = 5,    /* the peer sent close_notify */
    FL_TRANSPORT_EVENT_DATA = 6,      /* .buf: a DTLS application data record (cfg.app_data) */
} fl_transport_event_type;

typedef struct fl_transport_event {
    fl_transport_event_type type;
    /* CONNECTED: the DTLS profile; SDES: the fl_srtp_profile value (same
     * numbers for AES128, 0x0101/0x0102 for AES256); PLAIN: NONE. */
    fl_dtls_srtp_profile profile;
    int err;            /* FAILED: FL_EAUTH, FL_ETIMEDOUT, FL_ETLS, ... */
    const char *reason; /* FAILED; valid while the transport lives */
    /* RTP, RTCP, DATA: one reference owned by the event; drop it with
     * fl_transport_event_release() (or fl_buf_unref). NULL otherwise. */
    fl_buf *buf;
    fl_rtp_view rtp; /* RTP: points into buf */
    fl_time arrival;
} fl_transport_event;

static inline void fl_transport_event_release(fl_transport_event *ev)
{
    if (ev->buf)
        fl_buf_unref(ev->buf);
    ev->buf = NULL;
}

/* Per inbound SSRC, the figures of Kurento's RTCInboundRTPStreamStats. */
typedef struct fl_transport_inbound_stats {
    uint32_t ssrc;
    uint8_t payload_type; /* of the last packet */
    uint32_t clock_rate;
    uint64_t packets;      /* every packet decrypted, probation included */
    uint64_t bytes;        /* payload bytes (no header, no padding) */
    uint64_t header_bytes; /* RTP header and padding bytes */
    int64_t packets_lost;  /* RFC 3550 A.3 cumulative; may be negative */
    uint8_t fraction_lost; /* /256, of the last report block we wrote */
    uint32_t jitter;       /* RTP clock units (A.8) */
    double jitter_s;
    uint32_t duplicates;
    uint64_t sr_received; /* SRs from this SSRC */
    fl_time last_sr_arrival;
} fl_transport_inbound_stats;

/* Per outbound SSRC (RTCOutboundRTPStreamStats + remote-inbound figures). */
typedef struct fl_transport_outbound_stats {
    uint32_t ssrc;
    uint64_t packets;
    uint64_t bytes; /* payload bytes */
    uint64_t sr_sent;
    int64_t rtt_us; /* last, from the peer's report block; -1 unknown */
    uint8_t remote_fraction_lost;
    int32_t remote_packets_lost;
    uint32_t remote_jitter; /* RTP units */
} fl_transport_outbound_stats;

typedef struct fl_transport_stats {
    fl_dtls_state dtls_state;
    fl_dtls_role role;
    fl_dtls_srtp_profile profile; /* NONE before CONNECTED */
    /* Datagrams as on the wire (protected sizes), DTLS included. */
    uint64_t datagrams_received, bytes_received;
    uint64_t datagrams_sent, bytes_sent;
    uint64_t rtp_received, rtcp_received; /* decrypted */
    uint64_t rtp_sent, rtcp_sent;         /* protected */
    /* Drops. */
    uint64_t media_not_ready;     /* RTP/RTCP before CONNECTED or after the end */
    uint64_t srtp_replay;         /* inbound FL_SRTP_EREPLAY (RTP and RTCP) */
    uint64_t srtp_auth;           /* inbound FL_EAUTH */
    uint64_t srtp_other;          /* inbound malformed, shared buffer, ... */
    uint64_t rtp_bad;             /* decrypted but not RTP (fl_rtp_parse) */
    uint64_t rtcp_bad;            /* decrypted compound with a bad block */
    uint64_t unknown;             /* neither DTLS nor RTP/RTCP (RFC 7983) */
    uint64_t dtls_dropped;        /* junk fl_dtls dropped */
    uint64_t dtls_app_dropped;    /* DTLS application data (not wired) */
    uint64_t tx_dropped;          /* DTLS datagrams lost: no pool buffer, too big */
    uint64_t events_dropped;      /* media events: event queue full */
    uint64_t srtp_key_soft_limit; /* libsrtp key soft limit events, both directions */
    int64_t rtt_us;               /* last RTT of any outbound SSRC; -1 unknown */
    size_t n_inbound, n_outbound;
    fl_transport_inbound_stats inbound[FL_TRANSPORT_MAX_SSRCS];
    fl_transport_outbound_stats outbound[FL_TRANSPORT_MAX_SSRCS];
} fl_transport_stats;

/* FL_EINVAL (no pool, bad config) and the errors of fl_dtls_create. */
int fl_transport_create(fl_transport **out, const fl_transport_config *cfg);

/* Frees t: queued datagrams and pending events' buffers are dropped. */
void fl_transport_destroy(fl_transport *t);

/* Starts DTLS (client: ClientHello queued). FL_ESTATE if started. */
int fl_transport_start(fl_transport *t, fl_time now);

/* See fl_dtls_set_remote_fingerprint. */
int fl_transport_set_remote_fingerprint(fl_transport *t, const char *sdp_value);

/* One datagram from the ICE layer (STUN already taken out). The caller's
 * reference is taken, always; for media it must be the only one (SRTP works
 * in place). Returns 0 when the datagram was used (an event may be queued),
 * or the reason it was dropped (counted): FL_ESTATE (media before CONNECTED
 * or after the end), FL_SRTP_EREPLAY, FL_EAUTH, FL_EBADMSG, FL_EBUSY,
 * FL_ENOTSUP (not DTLS/RTP/RTCP). Never fatal to the session. */
int fl_transport_handle_input(fl_transport *t, fl_time now, fl_buf *buf);

int fl_transport_handle_timeout(fl_transport *t, fl_time now);

/* Next deadline for handle_timeout, or FL_TIME_NEVER. */
fl_time fl_transport_poll_timeout(const fl_transport *t);

/* Protects an RTP packet (resp. compound RTCP) in place and queues it. The
 * buffer must hold one reference and fl_srtp tailroom (16 bytes is always
 * enough); an RTP header noted in buf->rtp (fl_rtp_buf_write) is taken as
 * it is, otherwise the packet is parsed. On success the reference is
 * taken; on error the caller keeps it: FL_ESTATE (not CONNECTED), FL_EBUSY
 * (shared), FL_EMSGSIZE (tailroom), FL_EBADMSG (not RTP / not RTCP),
 * FL_EAGAIN (transmit queue full); a failure inside libsrtp may leave the
 * bytes changed: drop the buffer. SRs sent are remembered (per SSRC) to
 * compute RTT from the peer's LSR/DLSR. */
int fl_transport_send_rtp(fl_transport *t, fl_time now, fl_buf *buf);
int fl_transport_send_rtcp(fl_transport *t, fl_time now, fl_buf *buf);

/* The next datagram to send, with its reference: send fl_buf_data(*out),
 * (*out)->len, then fl_buf_unref. FL_EAGAIN when none. */
int fl_transport_poll_transmit(fl_transport *t, fl_buf **out);

/* One DTLS application data record (an SCTP packet), queued for
 * poll_transmit. FL_ESTATE before CONNECTED or after it ended (or without
 * DTLS), FL_EAGAIN with the transmit queue full, FL_EMSGSIZE above what
 * one record of the MTU holds. */
int fl_transport_send_data(fl_transport *t, const uint8_t *data, size_t len);

/* The next event; FL_EAGAIN when none. */
int fl_transport_poll_event(fl_transport *t, fl_transport_event *out);

/* Sends close_notify (if connected) and stops: later media is refused. */
int fl_transport_close(fl_transport *t);

/* Writes (plaintext) an RTCP SR for our `ssrc` at fl_buf_data(buf), setting
 * buf->len, with a report block (loss, jitter, LSR/DLSR) per inbound SSRC
 * that has statistics (this starts their next fraction-lost interval). NTP
 * time from now + cfg.wall_offset_us. Send it with fl_transport_send_rtcp.
 * FL_EMSGSIZE if the buffer is too small (leave tailroom for SRTCP). */
int fl_transport_write_sr(fl_transport *t,
                          fl_time now,
                          uint32_t ssrc,
                          uint32_t rtp_ts,
                          uint32_t packets,
                          uint32_t octets,
                          fl_buf *buf);
/* The same as an RR, for a side that does not send media. */
int fl_transport_write_rr(fl_transport *t, fl_time now, uint32_t ssrc, fl_buf *buf);

void fl_transport_get_stats(const fl_transport *t, fl_transport_stats *out);

fl_dtls_state fl_transport_get_state(const fl_transport *t);

/* The last Sender Report from `ssrc`: the RTP timestamp it paired with its
 * sender's clock, and that moment (its NTP time) on our clock (the `now`
 * of fl_transport_handle_input): the NTP time plus one offset for the whole
 * transport, the least (arrival - NTP) of every SR received on it, so an
 * SR held up on the way (the first ones often are, by hundreds of ms) moves
 * nothing. A receiver anchors each stream's timestamps there: the SR's
 * timestamp is the sender's capture clock, free of the encoding and pacing
 * delay of media packets, and the streams of one sender share the offset,
 * so anchored streams are in sync with each other exactly (their offset
 * from our clock is only as good as the least delayed SR). FL_ENOENT
 * before any SR. */
int fl_transport_sender_report(const fl_transport *t,
                               uint32_t ssrc,
                               uint32_t *rtp_ts,
                               fl_time *sent);

/* Clock rate used for a payload type (see the top of this file). */
uint32_t fl_transport_get_clock_rate(const fl_transport *t, uint8_t payload_type);

#endif
