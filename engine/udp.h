/* Media UDP sockets on a worker loop (private to engine/).
 *
 * A socket binds to one local IP on the first free port of a range (tried in
 * a random order), receives in batches with recvmmsg straight into buffers of
 * the worker's pool, and queues sends that go out with sendmmsg once per loop
 * iteration (from a uv_check handle), or at once when the queue fills up.
 * Nothing is allocated per packet.
 *
 * Threads: a socket, its callback and its buffers belong to the loop's thread.
 * Every function here is called on that thread. */
#ifndef FL_ENGINE_UDP_H
#define FL_ENGINE_UDP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/rand.h"

#define FL__UDP_BATCH    32 /* datagrams per recvmmsg/sendmmsg */
#define FL__UDP_MIN_PORT 40000
#define FL__UDP_MAX_PORT 65535
/* packets a socket holds while the kernel refuses more (a full queue is
 * flushed at once, not dropped): 256 is seconds of video per peer */
#define FL__UDP_QUEUE_DEFAULT 256

typedef struct fl__udp fl__udp;

/* One received datagram. The callback owns buf's reference. */
typedef struct fl__udp_packet {
    fl_buf *buf;   /* payload: the datagram; headroom as the pool gives it */
    fl_addr from;  /* the sender */
    fl_addr local; /* the address it arrived on (the bound IP, or from
                    * IP_PKTINFO when bound to a wildcard address) */
} fl__udp_packet;

/* Called with n >= 1 datagrams read by one recvmmsg. The callback owns each
 * pkts[i].buf (one reference each: drop it or keep it); the array itself is
 * the socket's and is reused after the callback returns. The callback may
 * send on and close the socket. */
typedef void (*fl__udp_recv_fn)(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg);

/* Called once the socket's memory is freed. */
typedef void (*fl__udp_close_fn)(void *arg);

typedef struct fl__udp_config {
    fl_addr local;     /* IP to bind (port ignored); "0.0.0.0"/"::" allowed */
    uint16_t min_port; /* port range, both 0: 40000-65535 (Kurento's) */
    uint16_t max_port;
    size_t queue; /* send queue length in packets; 0: 1024 */
    int rcvbuf;   /* SO_RCVBUF / SO_SNDBUF bytes, forced when permitted; 0: the system's */
    int sndbuf;
    fl_rand *rand; /* port order; NULL: the system generator */
} fl__udp_config;

typedef struct fl__udp_stats {
    uint64_t packets_in;
    uint64_t bytes_in;
    uint64_t batches_in; /* recvmmsg calls that returned datagrams */
    uint64_t packets_out;
    uint64_t bytes_out;
    uint64_t batches_out;     /* sendmmsg calls that sent datagrams */
    uint64_t drops_queue;     /* sends refused: queue full (socket blocked) */
    uint64_t drops_no_buf;    /* datagrams discarded: pool exhausted */
    uint64_t drops_truncated; /* datagrams larger than a buffer */
    uint64_t send_errors;     /* datagrams the kernel refused */
} fl__udp_stats;

/* Creates a socket bound to cfg->local on a free port of the range and
 * starts receiving into buffers of `pool` (which must outlive the socket).
 * FL_EBUSY when every port of the range is taken; FL_EINVAL for a bad range
 * or an IP that is not local; FL_EIO for other socket errors. */
int fl__udp_create(fl__udp **out,
                   uv_loop_t *loop,
                   fl_buf_pool *pool,
                   const fl__udp_config *cfg,
                   fl__udp_recv_fn on_recv,
                   void *arg);

/* Closes the socket: queued packets are dropped, no callback runs after this
 * call, and the memory is freed in libuv's close callbacks, then on_close
 * (may be NULL) runs. */
void fl__udp_close(fl__udp *u, fl__udp_close_fn on_close, void *arg);

/* Queues buf's payload to `to`, taking the caller's reference in all cases.
 * It goes out with the next flush (end of this loop iteration). FL_EAGAIN
 * when the queue is full (counted in drops_queue), FL_EINVAL for a bad
 * address, FL_ECLOSED after close. */
int fl__udp_send(fl__udp *u, const fl_addr *to, fl_buf *buf);

/* Sends what is queued now (sendmmsg); what the kernel does not take waits
 * for the socket to become writable. */
void fl__udp_flush(fl__udp *u);

/* The bound address (IP and port). */
const fl_addr *fl__udp_local(const fl__udp *u);

/* Packets waiting in the send queue. */
size_t fl__udp_queued(const fl__udp *u);

void fl__udp_get_stats(const fl__udp *u, fl__udp_stats *out);

/* Binds fd (a socket of a's family) to a's IP on a free port of
 * [min_port, max_port] tried in a random order; writes the port. Shared with
 * the TCP listener. Same errors as fl__udp_create. */
int fl__port_bind(int fd,
                  const fl_addr *a,
                  uint16_t min_port,
                  uint16_t max_port,
                  fl_rand *r,
                  uint16_t *port);

#endif
