/* A sans-IO TURN client (RFC 8656) over UDP or TCP, with long-term
 * credentials (RFC 8489 §9.2), and the turnUrl forms Kurento and WebRTC use.
 *
 * The client owns no socket and no timer. The caller feeds it what arrives
 * from the TURN server (fl_turn_client_handle_input) and the time
 * (fl_turn_client_handle_timeout), sends what fl_turn_client_poll_transmit
 * gives to the server, reacts to fl_turn_client_poll_event, and arms one
 * timer at fl_turn_client_poll_timeout. Peer data goes out through
 * fl_turn_client_wrap (ChannelData when a channel is bound, else a Send
 * indication) and comes back as FL_TURN_EVENT_DATA. A client belongs to one
 * thread. Passwords and keys are never logged. */
#ifndef FL_ICE_TURN_H
#define FL_ICE_TURN_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/rand.h"
#include "base/time.h"

enum fl_turn_transport {
    FL_TURN_UDP = 0,
    FL_TURN_TCP = 1,
};

#define FL_TURN_DEFAULT_PORT     3478
#define FL_TURN_TLS_DEFAULT_PORT 5349
#define FL_TURN_CHANNEL_MIN      0x4000
#define FL_TURN_CHANNEL_MAX      0x4FFF
#define FL_TURN_MAX_PEERS        32 /* permissions, and channels, per client */

/* Timers (RFC 8656 §9, §12): permissions last 5 minutes and are refreshed
 * after 4; channels last 10 minutes and are refreshed after 9; an
 * allocation is refreshed one minute before it expires (or at half its
 * lifetime when that is shorter than two minutes). */
#define FL_TURN_PERMISSION_REFRESH (240 * FL_TIME_SEC)
#define FL_TURN_CHANNEL_REFRESH    (540 * FL_TIME_SEC)

/* ---- URLs ---------------------------------------------------------------- */

typedef struct fl_turn_url {
    char username[256]; /* empty when the URL has none */
    char password[256];
    char host[256]; /* an IP literal or a name, without brackets */
    uint16_t port;
    int transport; /* enum fl_turn_transport */
    int secure;    /* turns: (TLS); the client itself does not speak TLS */
} fl_turn_url;

/* Parses Kurento's turnUrl "user:password@host[:port][?transport=udp|tcp]"
 * and the RFC 7065 forms "turn:host[:port][?transport=...]" and "turns:...",
 * where a "user:password@" part is also accepted after the scheme. IPv6
 * hosts go in brackets. The password is everything between the first ':'
 * and the last '@'. Default port 3478 (5349 for turns), transport UDP (TCP
 * for turns). FL_EINVAL for a malformed URL (empty host, bad port, unknown
 * scheme, user without password), FL_ENOTSUP for a transport other than udp
 * or tcp, FL_EMSGSIZE for a field longer than the struct holds. */
int fl_turn_url_parse(fl_turn_url *out, const char *s);

/* ---- Client -------------------------------------------------------------- */

typedef struct fl_turn_client fl_turn_client;

typedef struct fl_turn_config {
    fl_addr server;       /* the TURN server's address */
    int transport;        /* FL_TURN_UDP or FL_TURN_TCP */
    const char *username; /* copied; may be NULL when the server asks none */
    const char *password; /* copied; never logged */
    fl_rand *rand;        /* transaction ids; must outlive the client */
    fl_time rto;          /* 0: 500 ms (UDP only) */
    const char *software; /* optional SOFTWARE attribute */
} fl_turn_config;

enum fl_turn_event_type {
    FL_TURN_EVENT_ALLOCATED = 1, /* relayed and mapped addresses, lifetime */
    FL_TURN_EVENT_PERMISSION,    /* a permission for peer's IP is installed */
    FL_TURN_EVENT_CHANNEL_BOUND, /* channel for peer is usable */
    FL_TURN_EVENT_DATA,          /* data from peer (via channel or Data indication) */
    FL_TURN_EVENT_ERROR,         /* a request failed; see err, stun_code, fatal */
    FL_TURN_EVENT_DEALLOCATED,   /* the allocation is gone (deallocate or expiry) */
};

typedef struct fl_turn_event {
    int type;
    fl_addr relayed;   /* ALLOCATED */
    fl_addr mapped;    /* ALLOCATED: our address as the server sees it */
    uint32_t lifetime; /* ALLOCATED: seconds */
    fl_addr peer;      /* PERMISSION, CHANNEL_BOUND, DATA, ERROR of a peer request */
    uint16_t channel;  /* CHANNEL_BOUND, DATA through a channel (0 otherwise) */
    /* DATA: points into the buffer given to handle_input (UDP) or into the
     * client's stream buffer (TCP); valid until the next handle_input. */
    const uint8_t *data;
    size_t len;
    int err;         /* ERROR: FL_ETIMEDOUT, FL_EAUTH, FL_EPROTO (error response) ... */
    int stun_code;   /* ERROR: the server's ERROR-CODE, 0 if none */
    uint16_t method; /* ERROR: the request's method */
    int fatal;       /* ERROR: the allocation failed or is lost */
} fl_turn_event;

typedef struct fl_turn_transmit {
    fl_addr to;          /* the server */
    const uint8_t *data; /* valid until the next call into the client */
    size_t len;
} fl_turn_transmit;

/* Creates a client (heap); nothing is sent until fl_turn_client_allocate.
 * FL_EINVAL for a missing server, rand or a bad transport. */
int fl_turn_client_create(fl_turn_client **out, const fl_turn_config *cfg);
/* Frees the client (wiping the password and key). Does not deallocate:
 * call fl_turn_client_deallocate and flush first for a clean goodbye. */
void fl_turn_client_destroy(fl_turn_client *c);

/* Sends an Allocate request for a UDP relay (first without credentials; the
 * 401 challenge's REALM and NONCE are then used). FL_ESTATE if already
 * started. */
int fl_turn_client_allocate(fl_turn_client *c, fl_time now);

/* Installs (and keeps refreshing) a permission for peer's IP address.
 * Before the allocation succeeds the request waits and goes out then.
 * FL_ENOMEM past FL_TURN_MAX_PEERS, FL_ESTATE after deallocation. */
int fl_turn_client_create_permission(fl_turn_client *c, fl_time now, const fl_addr *peer);

/* Binds a channel (0x4000 up) to peer (IP and port), which also installs a
 * permission, and keeps it refreshed. Until FL_TURN_EVENT_CHANNEL_BOUND,
 * wrap sends Send indications. *channel (may be NULL) gets the number. */
int fl_turn_client_bind_channel(fl_turn_client *c,
                                fl_time now,
                                const fl_addr *peer,
                                uint16_t *channel);

/* Releases the allocation: Refresh with LIFETIME 0; FL_TURN_EVENT_DEALLOCATED
 * follows (also if the request times out). */
int fl_turn_client_deallocate(fl_turn_client *c, fl_time now);

/* Bytes from the server (`from` is checked against it over UDP; over TCP
 * the stream may be cut anywhere). STUN responses drive the state; Data
 * indications and ChannelData become FL_TURN_EVENT_DATA. Returns 0,
 * FL_EBADMSG (malformed, dropped), FL_ENOENT (no matching transaction or
 * channel, dropped), FL_EINVAL (not from the server), FL_EPROTO (TCP stream
 * corrupt: the client fails). Poll every event before the next call. */
int fl_turn_client_handle_input(fl_turn_client *c,
                                fl_time now,
                                const fl_addr *from,
                                const uint8_t *buf,
                                size_t len);

/* Frames `len` bytes for `peer` into out: ChannelData (padded to 4 over TCP)
 * when a channel is bound to peer, else a Send indication. *out_len gets the
 * size. FL_ESTATE without an allocation, FL_EMSGSIZE when cap is short. */
int fl_turn_client_wrap(fl_turn_client *c,
                        const fl_addr *peer,
                        const uint8_t *data,
                        size_t len,
                        uint8_t *out,
                        size_t cap,
                        size_t *out_len);

/* Retransmissions, refreshes and timeouts due at `now`. */
int fl_turn_client_handle_timeout(fl_turn_client *c, fl_time now);
/* Next message for the server: 0, or FL_EAGAIN when there is none. */
int fl_turn_client_poll_transmit(fl_turn_client *c, fl_turn_transmit *out);
/* Next event: 0, or FL_EAGAIN when there is none. */
int fl_turn_client_poll_event(fl_turn_client *c, fl_turn_event *ev);
/* Earliest deadline, FL_TIME_NEVER when none. */
fl_time fl_turn_client_poll_timeout(const fl_turn_client *c);

/* The relayed address once allocated (FL_ESTATE before). */
int fl_turn_client_get_relayed(const fl_turn_client *c, fl_addr *out);

/* Size of the frame at the start of a TURN stream: 20 + length for STUN,
 * 4 + length rounded up to 4 for ChannelData (`tcp`: padded) ; 0 when fewer
 * than 4 bytes are there; FL_EPROTO-worthy garbage gives SIZE_MAX. */
size_t fl_turn_frame_size(const uint8_t *buf, size_t len, int tcp);

#endif
