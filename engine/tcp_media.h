/* Passive ICE-TCP (RFC 6544) on a worker loop (private to engine/).
 *
 * A listener binds to one local IP on a free port of a range, accepts
 * connections, splits each stream into RFC 4571 frames (ice/tcp_frame) and
 * hands every frame, copied into a buffer of the worker's pool, to a callback
 * with the connection's id and peer address. Frames sent on a connection are
 * prefixed in the buffer's headroom and written with writev once per loop
 * iteration. Connections silent for the idle time, closed by the peer, or
 * broken are closed and reported.
 *
 * Threads: everything runs on the loop's thread. */
#ifndef FL_ENGINE_TCP_MEDIA_H
#define FL_ENGINE_TCP_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/rand.h"

typedef struct fl__tcp_media fl__tcp_media;

typedef struct fl__tcp_media_callbacks {
    /* A frame from connection `conn`; the callback owns frame's reference.
     * It may send, close the connection or close the listener. */
    void (*on_frame)(fl__tcp_media *t,
                     uint64_t conn,
                     const fl_addr *peer,
                     fl_buf *frame,
                     void *arg);
    /* A connection was accepted (open = 1) or has closed (open = 0: by the
     * peer, an error, the idle timer or fl__tcp_media_close_conn). May be
     * NULL. Not called for connections closed by fl__tcp_media_close. */
    void (*on_conn)(fl__tcp_media *t, uint64_t conn, const fl_addr *peer, int open, void *arg);
} fl__tcp_media_callbacks;

typedef void (*fl__tcp_media_close_fn)(void *arg);

typedef struct fl__tcp_media_config {
    fl_addr local;     /* IP to listen on (port ignored) */
    uint16_t min_port; /* port range; both 0: 40000-65535 */
    uint16_t max_port;
    uint32_t idle_ms; /* close a connection that sends nothing this long; 0: 30 s */
    size_t max_conns; /* connections at once, more are refused; 0: 64 */
    size_t queue;     /* frames waiting to be written per connection; 0: 256 */
    size_t max_frame; /* largest frame accepted; 0: what a pool buffer holds */
    fl_rand *rand;    /* port order; NULL: the system generator */
} fl__tcp_media_config;

typedef struct fl__tcp_media_stats {
    uint64_t conns_accepted;
    uint64_t conns_refused; /* over max_conns */
    uint64_t conns_closed;  /* for any reason, after being accepted */
    uint64_t conns_idle;    /* of which by the idle timer */
    uint64_t frames_in;
    uint64_t bytes_in; /* payload bytes, headers not counted */
    uint64_t frames_out;
    uint64_t bytes_out;
    uint64_t writes;       /* writev calls that wrote something */
    uint64_t drops_queue;  /* frames refused: a connection's queue full */
    uint64_t drops_no_buf; /* frames dropped: pool exhausted */
    uint64_t frames_bad;   /* frames skipped: empty or over max_frame */
} fl__tcp_media_stats;

/* Starts listening. `pool` must outlive the listener. FL_EBUSY when the
 * range has no free port, FL_EINVAL for bad arguments or a non-local IP,
 * FL_EIO for other socket errors. */
int fl__tcp_media_create(fl__tcp_media **out,
                         uv_loop_t *loop,
                         fl_buf_pool *pool,
                         const fl__tcp_media_config *cfg,
                         const fl__tcp_media_callbacks *cbs,
                         void *arg);

/* Closes the listener and every connection; no callback runs after this
 * call; memory is freed in libuv's close callbacks, then on_close (may be
 * NULL) runs. */
void fl__tcp_media_close(fl__tcp_media *t, fl__tcp_media_close_fn on_close, void *arg);

/* Queues frame (its payload, 1..65535 bytes) on connection conn, taking the
 * caller's reference in all cases. The two-byte length goes in the buffer's
 * headroom, so the buffer must have one reference and 2 bytes of headroom.
 * FL_ENOENT for an unknown or closed connection, FL_EAGAIN when its queue
 * is full, FL_EMSGSIZE / FL_EINVAL for a bad length or buffer. */
int fl__tcp_media_send(fl__tcp_media *t, uint64_t conn, fl_buf *frame);

/* Closes one connection (on_conn reports it); FL_ENOENT when unknown. */
int fl__tcp_media_close_conn(fl__tcp_media *t, uint64_t conn);

/* The listening address (IP and port). */
const fl_addr *fl__tcp_media_local(const fl__tcp_media *t);

/* Open connections. */
size_t fl__tcp_media_conns(const fl__tcp_media *t);

void fl__tcp_media_get_stats(const fl__tcp_media *t, fl__tcp_media_stats *out);

#endif
