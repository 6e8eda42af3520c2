/* Refcounted packet buffers and their pools.
 *
 * A pool belongs to one thread (one loop): neither the pool nor its buffers
 * may be touched from another thread, so the refcount is not atomic, until
 * the holder marks a buffer shared (fl_buf_share) to hand it to another
 * thread: from then on its references are counted atomically, and the last
 * one, wherever dropped, returns it to its pool through a lock-free list the
 * pool's thread takes back whole when it runs out. A buffer is one allocation: header, headroom
 * (for TURN/ChannelData and similar prefixes), payload, tailroom (SRTP auth tag). A buffer with
 * more than one reference is read-only. Getting a buffer never calls malloc once the pool has grown
 * to its working size. */
#ifndef FL_BASE_BUF_H
#define FL_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_buf_pool fl_buf_pool;

/* The RTP header of the packet a buffer holds, noted by whoever parsed it
 * on ingress or wrote it (net/rtp's fl_rtp_buf_note, _parse, _write) so
 * that every element and transport the buffer reaches reads it here instead
 * of parsing the bytes again. Written by the holder of the only reference,
 * before the buffer is shared; `parsed` 0: nothing noted (a buffer from its
 * pool; fl_buf_push_head, _pull_head and _set_len void the note). */
typedef struct fl_buf_rtp {
    uint32_t ssrc;
    uint32_t timestamp;
    uint32_t payload_off; /* from fl_buf_data() */
    uint32_t payload_len; /* padding excluded */
    uint16_t seq;
    uint8_t payload_type;
    uint8_t marker;
    uint8_t parsed;
    /* noted on ingress by an endpoint that receives simulcast (0 otherwise):
     * the packet's spatial layer + 1 (lowest layer 1), its temporal layer
     * (VP8 TID, 0 without), and whether it starts a key frame */
    uint8_t layer;
    uint8_t tid;
    uint8_t key;
} fl_buf_rtp;

typedef struct fl_buf {
    fl_buf_pool *pool;
    struct fl_buf *next; /* free list link while pooled; caller's queue link otherwise */
    uint32_t refs;
    uint32_t shared; /* fl_buf_share: refs counted atomically, read-only */
    uint32_t cap;    /* bytes in data[] */
    uint32_t off;    /* start of the payload in data[] */
    uint32_t len;    /* payload length */
    uint64_t user;   /* free for the owner of the single reference */
    fl_buf_rtp rtp;
    uint8_t data[]; /* 8-byte aligned (buf.c checks it) */
} fl_buf;

typedef struct fl_buf_pool_stats {
    size_t allocated; /* buffers allocated in total */
    size_t in_use;    /* buffers handed out and not yet returned */
    size_t failed;    /* gets refused because the pool was at its maximum */
} fl_buf_pool_stats;

/* Creates a pool of buffers of `size` payload bytes plus `headroom`.
 * `prealloc` buffers are allocated now; the pool grows in slabs up to `max`
 * buffers (0: no limit). */
int fl_buf_pool_create(fl_buf_pool **out,
                       size_t size,
                       size_t headroom,
                       size_t prealloc,
                       size_t max);

/* Frees the pool. Every buffer must have been returned (asserted in debug
 * builds; in release builds outstanding buffers are leaked, not freed). */
void fl_buf_pool_destroy(fl_buf_pool *pool);

/* A buffer with one reference, len 0, off = headroom; NULL when the pool is
 * at its maximum or memory is exhausted. */
fl_buf *fl_buf_pool_get(fl_buf_pool *pool);

void fl_buf_pool_get_stats(const fl_buf_pool *pool, fl_buf_pool_stats *out);

/* Takes back the shared buffers whose last reference another thread
 * dropped (fl_buf_pool_get does it when it runs out). Pool's thread. */
void fl_buf_pool_reclaim(fl_buf_pool *pool);

static inline uint8_t *fl_buf_data(fl_buf *b)
{
    return b->data + b->off;
}

static inline size_t fl_buf_headroom(const fl_buf *b)
{
    return b->off;
}

static inline size_t fl_buf_tailroom(const fl_buf *b)
{
    return b->cap - b->off - b->len;
}

static inline fl_buf *fl_buf_ref(fl_buf *b)
{
    if (b->shared)
        __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED);
    else
        b->refs++;
    return b;
}

/* Makes the buffer fit to be handed to another thread (the handoff itself
 * must publish it with release ordering): read-only from now on, its
 * references counted atomically. Any holder; once shared, it stays so
 * until its pool hands it out again (so no write races a reader). */
static inline void fl_buf_share(fl_buf *b)
{
    if (!b->shared)
        b->shared = 1;
}

/* Whether the caller, holding a reference, may write the buffer: it holds
 * the only one and the buffer was never shared. */
static inline int fl_buf_writable(const fl_buf *b)
{
    return !b->shared && b->refs == 1;
}

/* Drops one reference; the last one returns the buffer to its pool. */
void fl_buf_unref(fl_buf *b);

/* Grows the payload at the front by n bytes (taken from headroom) and returns
 * the new start, or NULL when there is not enough headroom. */
uint8_t *fl_buf_push_head(fl_buf *b, size_t n);

/* Drops n bytes from the front of the payload; FL_ERANGE if n > len. */
int fl_buf_pull_head(fl_buf *b, size_t n);

/* Sets the payload length; FL_ERANGE if it does not fit. */
int fl_buf_set_len(fl_buf *b, size_t len);

#endif
