/* SCTP over DTLS (RFC 8261) for WebRTC data channels (RFC 8831), with the
 * DataChannel Establishment Protocol (RFC 8832, net/dcep.h), over usrsctp.
 *
 *     fl_sctp_create(&s, &cfg);
 *     fl_sctp_start(s, now);                       // once DTLS is connected
 *     fl_sctp_handle_input(s, now, data, len);     // a DTLS application record
 *     fl_sctp_handle_timeout(s, now);              // at fl_sctp_poll_timeout
 *     while (fl_sctp_poll_transmit(s, pkt, cap, &n) == 0) fl_dtls_send(pkt, n)
 *     while (fl_sctp_poll_event(s, &ev) == 0)      UP, DOWN, OPEN, CLOSED, MESSAGE
 *     fl_sctp_open_channel / _close_channel / _send
 *
 * Why usrsctp: it is the SCTP stack the browsers' own WebRTC code grew up
 * with, so it speaks their dialect (stream resets, partial reliability,
 * the INIT and SACK behaviour they expect), and Debian ships it. It is
 * used without threads or sockets of its own: usrsctp_init_nothreads, the
 * "conn" address family (packets go to and come from us, not the kernel),
 * and its timers are driven from the callers' fl_sctp_handle_timeout.
 *
 * usrsctp is process-global, and so is what this module keeps beside it:
 * one initialisation (the first fl_sctp_create), one timer wheel, and the
 * table that maps usrsctp's "addresses" to associations. An fl_sctp
 * belongs to one thread, as everything else in net/; associations of
 * different threads may run at once (usrsctp locks inside). The timer
 * wheel is advanced by whichever thread's fl_sctp_handle_timeout comes
 * first once 10 ms passed, so a retransmission of one association may be
 * produced on another thread: the packets an association makes are put on
 * its queue under one process-wide mutex, and drained by its owner's
 * fl_sctp_poll_transmit (at its next input or timeout: within
 * FL_SCTP_TICK). Messages and notifications are read only by the owner,
 * in fl_sctp_poll_event.
 *
 * Channels are named by their SCTP stream id (Kurento's channelId). Ours
 * are even when we are the DTLS client, odd when the server (RFC 8832 6).
 * A channel closes by resetting its outgoing stream (RFC 8831 6.7); it is
 * CLOSED once the peer reset its own (either side may begin). */
#ifndef FL_NET_SCTP_H
#define FL_NET_SCTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/time.h"

typedef struct fl_sctp fl_sctp;

#define FL_SCTP_DEFAULT_PORT    5000
#define FL_SCTP_DEFAULT_MAX_MSG 262144 /* our a=max-message-size */
#define FL_SCTP_STREAMS         1024   /* each way */
/* The path MTU usrsctp is given; its packets over the conn address family
 * come out up to 12 bytes longer (FL_SCTP_PACKET_MAX), which still fits
 * one DTLS record in a 1200-byte datagram with any cipher suite. */
#define FL_SCTP_MTU        1100
#define FL_SCTP_PACKET_MAX 1124
#define FL_SCTP_TICK       (20 * FL_TIME_MS)

typedef struct fl_sctp_config {
    uint16_t local_port, remote_port; /* a=sctp-port; 0: 5000 */
    int dtls_client;                  /* our stream ids: even (1) or odd (0) */
    /* The largest message we take (what our SDP said); 0: 256 KiB.
     * Bigger ones are dropped whole and counted. */
    size_t max_message_size;
    /* The peer's a=max-message-size; 0: 65536 (RFC 8841 6.1: absent). */
    size_t remote_max_message_size;
} fl_sctp_config;

typedef enum fl_sctp_event_type {
    FL_SCTP_EVENT_UP = 1,     /* the association is established */
    FL_SCTP_EVENT_DOWN = 2,   /* it ended (lost, shut down, refused); channels closed first */
    FL_SCTP_EVENT_OPEN = 3,   /* .channel is open (the peer's OPEN, or its ACK to ours) */
    FL_SCTP_EVENT_CLOSED = 4, /* .channel closed (both streams reset, or the association ended) */
    FL_SCTP_EVENT_MESSAGE = 5 /* .channel, .binary, .data/.len: one whole message */
} fl_sctp_event_type;

typedef struct fl_sctp_event {
    fl_sctp_event_type type;
    int channel;
    int binary;          /* MESSAGE: binary (1) or text (0) */
    const uint8_t *data; /* MESSAGE: valid until the next fl_sctp call */
    size_t len;
} fl_sctp_event;

typedef enum fl_sctp_channel_state {
    FL_SCTP_CONNECTING = 0, /* our OPEN sent (or waiting for the association), no ACK yet */
    FL_SCTP_OPEN = 1,
    FL_SCTP_CLOSING = 2, /* our outgoing stream reset asked */
    FL_SCTP_CLOSED = 3,
} fl_sctp_channel_state;

/* A channel as fl_sctp_channel_get reports it (the strings are the
 * channel's: valid until it closes or the next open/close call). */
typedef struct fl_sctp_channel_info {
    int id;
    fl_sctp_channel_state state;
    const char *label, *protocol;
    int ordered;
    int max_retransmits;      /* -1: not limited by count */
    int max_packet_life_time; /* ms; -1: not limited by time */
    uint16_t priority;
    uint64_t messages_sent, bytes_sent, messages_received, bytes_received;
} fl_sctp_channel_info;

typedef struct fl_sctp_stats {
    uint64_t channels_opened, channels_closed;
    uint64_t packets_in, packets_out, packets_dropped; /* dropped: the queue was full */
    uint64_t messages_dropped; /* too big, unknown channel, bad DCEP, send buffer full */
    uint64_t bad_dcep;
} fl_sctp_stats;

/* FL_EINVAL for a bad config, FL_ENOMEM, FL_EIO when usrsctp could not be
 * initialised. */
int fl_sctp_create(fl_sctp **out, const fl_sctp_config *cfg);

/* Aborts the association (if any) and frees s. */
void fl_sctp_destroy(fl_sctp *s);

/* Makes the socket and sends INIT (both sides connect: RFC 8841 leaves no
 * side to listen, and SCTP settles colliding INITs). FL_ESTATE when
 * started already, FL_EIO when usrsctp refuses. */
int fl_sctp_start(fl_sctp *s, fl_time now);

/* One SCTP packet from the peer (a DTLS application data record). */
int fl_sctp_handle_input(fl_sctp *s, fl_time now, const uint8_t *data, size_t len);

/* Advances usrsctp's timers (process-wide, see above) and retries what
 * waited for room in the send buffer. */
void fl_sctp_handle_timeout(fl_sctp *s, fl_time now);

/* FL_SCTP_TICK after the last look at the timers (handle_timeout, or an
 * input at least half a tick later) while started; FL_TIME_NEVER
 * before. */
fl_time fl_sctp_poll_timeout(const fl_sctp *s);

/* Copies the next SCTP packet to send into out (cap bytes;
 * FL_SCTP_PACKET_MAX is enough): 0 and *len, FL_EAGAIN when none,
 * FL_EMSGSIZE (the packet dropped) when cap is too small. */
int fl_sctp_poll_transmit(fl_sctp *s, uint8_t *out, size_t cap, size_t *len);

/* The next event; FL_EAGAIN when none. A MESSAGE's bytes stay valid until
 * the next call on s. */
int fl_sctp_poll_event(fl_sctp *s, fl_sctp_event *ev);

/* Opens a channel of ours (the next free stream id of our parity, into
 * *id): OPEN is sent now, or when the association comes up. ordered 0:
 * unordered; max_packet_life_time (ms) or max_retransmits >= 0: partial
 * reliability (not both: FL_EINVAL); priority 0: 256 (RFC 8831's normal).
 * FL_EINVAL for a label or protocol over 65535 bytes, FL_ERANGE when no
 * stream id is free, FL_ECLOSED after DOWN. Its OPEN event comes with the
 * peer's ACK. */
int fl_sctp_open_channel(fl_sctp *s,
                         const char *label,
                         const char *protocol,
                         int ordered,
                         int max_packet_life_time,
                         int max_retransmits,
                         uint16_t priority,
                         int *id);

/* Closes a channel (either side's): resets our outgoing stream; CLOSED
 * comes when the peer reset its own. FL_ENOENT for no such channel. */
int fl_sctp_close_channel(fl_sctp *s, int id);

/* Sends one message on a channel (text or binary; empty ones as RFC 8831
 * says). A message that does not fit the send buffer waits for room (in
 * order), up to 16 MiB waiting; past that FL_EAGAIN. FL_ENOENT for no such
 * channel or one closing, FL_EMSGSIZE above the peer's
 * max-message-size. */
int fl_sctp_send(fl_sctp *s, int id, int binary, const uint8_t *data, size_t len);

/* The channel with stream id `id`: 0, or FL_ENOENT. */
int fl_sctp_channel_get(const fl_sctp *s, int id, fl_sctp_channel_info *out);

/* Iterates over the channels not yet closed: *iter from 0; 1 while one is
 * given. */
int fl_sctp_channel_next(const fl_sctp *s, int *iter, fl_sctp_channel_info *out);

/* The first channel labelled `label` that is not closing, or -1. */
int fl_sctp_channel_find(const fl_sctp *s, const char *label);

int fl_sctp_is_up(const fl_sctp *s);
void fl_sctp_get_stats(const fl_sctp *s, fl_sctp_stats *out);

/* Associations alive in the process (tests: none left after teardown). */
size_t fl_sctp_live(void);

#endif
