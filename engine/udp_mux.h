/* One UDP port per worker (private to engine/): the ICE transports of a
 * worker share one UDP socket per local address instead of opening their
 * own, so a server needs one port per worker opened in its firewall, and
 * every datagram queued in a loop iteration, whichever session it belongs
 * to, leaves in as few sendmmsg calls as the batch size allows.
 *
 * Demultiplexing, per datagram received on a shared socket:
 * - a STUN request or indication goes to the client whose local ICE ufrag
 *   is the first part of its USERNAME ("local:remote", RFC 8445 §7.2.2);
 * - a STUN response goes to the client that sent the request with its
 *   transaction id (fl__udp_mux_expect);
 * - anything else (DTLS, RTP, RTCP, and STUN that matched nothing above)
 *   goes to the client that learnt its source address.
 * A client learns an address (fl__udp_mux_learn) once its ICE agent has
 * accepted a check from it or an answer to one (the message's integrity
 * verified), never on the routing alone: knowing a session's ufrag, which
 * travels in clear, is not enough to move its peer's address. An address
 * that brought its owner a datagram in the last 5 s stays its owner's.
 * A datagram nobody claims is dropped and counted. A client still checks
 * what it gets (validated sources) as it would on a socket of its own.
 *
 * Threads: a mux belongs to its loop's thread; every function here is
 * called there. Nothing is allocated per packet: the address table grows
 * when clients learn addresses, never on the data path. */
#ifndef FL_ENGINE_UDP_MUX_H
#define FL_ENGINE_UDP_MUX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "engine/udp.h"

/* Addresses a client keeps at most; learning one more forgets the one
 * heard from longest ago. */
#define FL__UDP_MUX_CLIENT_ADDRS 8
/* Datagrams a shared socket holds queued for sending (a full queue is
 * flushed at once): room for one loop iteration of a busy worker. */
#define FL__UDP_MUX_QUEUE 8192
/* SO_RCVBUF and SO_SNDBUF of a shared socket (forced when permitted): it
 * carries every session of a worker. */
#define FL__UDP_MUX_SOCKBUF (4 << 20)

typedef struct fl__udp_mux fl__udp_mux;

/* Datagrams for one client, from shared socket u; the callback owns each
 * buffer's reference. */
typedef void (*fl__udp_mux_recv_fn)(void *arg, fl__udp *u, fl__udp_packet *pkt);

/* A client of the mux: the caller's memory, registered with
 * fl__udp_mux_attach until fl__udp_mux_detach. Its fields are the mux's. */
typedef struct fl__udp_mux_client {
    fl__udp_mux *mux;
    char ufrag[257]; /* the local ICE ufrag it answers to */
    fl__udp_mux_recv_fn on_recv;
    void *arg;
    /* the addresses it learnt, with their sockets' indexes, oldest first */
    size_t naddrs;
    uint32_t addr_sock[FL__UDP_MUX_CLIENT_ADDRS];
    fl_addr addrs[FL__UDP_MUX_CLIENT_ADDRS];
} fl__udp_mux_client;

typedef struct fl__udp_mux_stats {
    uint64_t by_ufrag;          /* STUN requests routed by USERNAME */
    uint64_t by_txn;            /* STUN responses routed by transaction id */
    uint64_t by_addr;           /* datagrams routed by their source address */
    uint64_t unclaimed;         /* datagrams no client claimed: dropped */
    uint64_t refused_takeovers; /* learns refused: a live session's address */
    size_t clients;             /* attached now */
    size_t addresses;           /* learnt addresses now */
    size_t sockets;             /* shared sockets open */
} fl__udp_mux_stats;

/* A mux on `loop` whose sockets receive into `pool` (which must outlive
 * it). `port` non-zero: every shared socket binds that port (FL_EBUSY when
 * it is taken); 0: the first one binds a free port of the range its first
 * user asks for, later ones the same port when it is free there too. */
int fl__udp_mux_create(fl__udp_mux **out, uv_loop_t *loop, fl_buf_pool *pool, uint16_t port);

/* Closes the mux: its sockets close once the last client has detached
 * (at once when none is attached), and its memory is freed after that. */
void fl__udp_mux_close(fl__udp_mux *m);

/* The shared socket on local IP `ip` (its port ignored), opened on first
 * use on the mux's port or a free port of [min_port, max_port] (both 0:
 * 40000-65535). Errors as fl__udp_create. */
int fl__udp_mux_socket(fl__udp_mux *m,
                       const fl_addr *ip,
                       uint16_t min_port,
                       uint16_t max_port,
                       fl__udp **out);

/* Registers c as the receiver of STUN requests for local ufrag `ufrag`
 * (FL_EINVAL when it is empty or too long, FL_EEXIST when another client
 * has it). */
int fl__udp_mux_attach(fl__udp_mux *m,
                       fl__udp_mux_client *c,
                       const char *ufrag,
                       fl__udp_mux_recv_fn on_recv,
                       void *arg);

/* Forgets c: its ufrag, its addresses and its pending transaction ids. No
 * callback for c runs after this. */
void fl__udp_mux_detach(fl__udp_mux_client *c);

/* c owns the peer address `from` on shared socket u from now on: its agent
 * accepted an authenticated check from there or an answer from there to
 * one of its checks. Re-learning an address makes it c's newest; one more
 * than FL__UDP_MUX_CLIENT_ADDRS forgets the one heard from longest ago.
 * FL_EBUSY when another client heard from that address in the last 5 s
 * (it keeps it); FL_ENOENT when u is not the mux's; FL_ENOMEM. */
int fl__udp_mux_learn(fl__udp_mux_client *c, const fl__udp *u, const fl_addr *from);

/* A STUN request c sends with transaction id `txn` (12 bytes): its
 * response comes back to c. Recent ids only: a table of fixed size, where
 * a newer id may take an older one's place (a retransmission puts it back). */
void fl__udp_mux_expect(fl__udp_mux_client *c, const uint8_t *txn);

/* A datagram from one client of the mux to another: a peer whose address
 * is u's own (two endpoints of this worker connected to each other), which
 * the kernel would hand back with a source address both share. It goes to
 * the client whose ufrag is `to_ufrag` in the next loop iteration, as if
 * from u's address, without a syscall. Takes b's reference; FL_ENOENT when
 * no client has that ufrag, FL_EAGAIN when the queue is full. */
int fl__udp_mux_send_local(fl__udp_mux *m, fl__udp *u, const char *to_ufrag, fl_buf *b);

void fl__udp_mux_get_stats(const fl__udp_mux *m, fl__udp_mux_stats *out);

#endif
