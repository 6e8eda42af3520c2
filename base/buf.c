#include "base/buf.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/err.h"

#define SLAB_MAX 64

_Static_assert(offsetof(fl_buf, data) % 8 == 0, "a packet starts aligned");

struct slab {
    struct slab *next;
};

struct fl_buf_pool {
    size_t buf_bytes; /* size of one fl_buf including data[] */
    uint32_t cap;
    uint32_t headroom;
    size_t max;
    fl_buf *free;
    fl_buf *returned; /* shared buffers released by any thread (atomic push) */
    struct slab *slabs;
    fl_buf_pool_stats stats;
};

static int pool_grow(fl_buf_pool *p, size_t n)
{
    if (p->max && p->stats.allocated + n > p->max)
        n = p->max - p->stats.allocated;
    if (n == 0)
        return FL_ENOMEM;
    size_t hdr = (sizeof(struct slab) + 63) & ~(size_t)63;
    struct slab *s = malloc(hdr + n * p->buf_bytes);
    if (!s)
        return FL_ENOMEM;
    s->next = p->slabs;
    p->slabs = s;
    uint8_t *at = (uint8_t *)s + hdr;
    for (size_t i = 0; i < n; i++) {
        fl_buf *b = (fl_buf *)(at + i * p->buf_bytes);
        b->pool = p;
        b->cap = p->cap;
        b->next = p->free;
        p->free = b;
    }
    p->stats.allocated += n;
    return 0;
}

int fl_buf_pool_create(fl_buf_pool **out, size_t size, size_t headroom, size_t prealloc, size_t max)
{
    if (!out || size == 0 || size + headroom > UINT32_MAX / 2 || (max && prealloc > max))
        return FL_EINVAL;
    fl_buf_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    p->cap = (uint32_t)(size + headroom);
    p->headroom = (uint32_t)headroom;
    p->buf_bytes = (sizeof(fl_buf) + p->cap + 63) & ~(size_t)63;
    p->max = max;
    if (prealloc && pool_grow(p, prealloc) != 0) {
        free(p);
        return FL_ENOMEM;
    }
    *out = p;
    return 0;
}

void fl_buf_pool_destroy(fl_buf_pool *pool)
{
    if (!pool)
        return;
    fl_buf_pool_reclaim(pool);
    assert(pool->stats.in_use == 0);
    if (pool->stats.in_use != 0)
        return; /* buffers still out: leak the pool rather than free under them */
    struct slab *s = pool->slabs;
    while (s) {
        struct slab *next = s->next;
        free(s);
        s = next;
    }
    free(pool);
}

void fl_buf_pool_reclaim(fl_buf_pool *pool)
{
    fl_buf *b = __atomic_exchange_n(&pool->returned, NULL, __ATOMIC_ACQUIRE);
    while (b) {
        fl_buf *next = b->next;
        b->next = pool->free;
        pool->free = b;
        pool->stats.in_use--;
        b = next;
    }
}

fl_buf *fl_buf_pool_get(fl_buf_pool *pool)
{
    if (!pool->free && __atomic_load_n(&pool->returned, __ATOMIC_RELAXED))
        fl_buf_pool_reclaim(pool);
    if (!pool->free) {
        size_t n = pool->stats.allocated < SLAB_MAX
                           ? (pool->stats.allocated ? pool->stats.allocated : 8)
                           : SLAB_MAX;
        if (pool_grow(pool, n) != 0) {
            pool->stats.failed++;
            return NULL;
        }
    }
    fl_buf *b = pool->free;
    pool->free = b->next;
    b->next = NULL;
    b->refs = 1;
    b->off = pool->headroom;
    b->len = 0;
    b->user = 0;
    b->rtp.parsed = 0;
    b->shared = 0;
    pool->stats.in_use++;
    return b;
}

void fl_buf_pool_get_stats(const fl_buf_pool *pool, fl_buf_pool_stats *out)
{
    *out = pool->stats;
}

void fl_buf_unref(fl_buf *b)
{
    if (!b)
        return;
    fl_buf_pool *p = b->pool;
    if (b->shared) {
        if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
            return;
        /* maybe not the pool's thread: onto the list it takes back */
        fl_buf *head = __atomic_load_n(&p->returned, __ATOMIC_RELAXED);
        do {
            b->next = head;
        } while (!__atomic_compare_exchange_n(&p->returned, &head, b, 1, __ATOMIC_RELEASE,
                                              __ATOMIC_RELAXED));
        return;
    }
    assert(b->refs > 0);
    if (--b->refs > 0)
        return;
    b->next = p->free;
    p->free = b;
    p->stats.in_use--;
}

uint8_t *fl_buf_push_head(fl_buf *b, size_t n)
{
    if (n > b->off)
        return NULL;
    b->rtp.parsed = 0; /* its offsets no longer hold */
    b->off -= (uint32_t)n;
    b->len += (uint32_t)n;
    return b->data + b->off;
}

int fl_buf_pull_head(fl_buf *b, size_t n)
{
    if (n > b->len)
        return FL_ERANGE;
    b->rtp.parsed = 0;
    b->off += (uint32_t)n;
    b->len -= (uint32_t)n;
    return 0;
}

int fl_buf_set_len(fl_buf *b, size_t len)
{
    if (len > (size_t)b->cap - b->off)
        return FL_ERANGE;
    b->rtp.parsed = 0;
    b->len = (uint32_t)len;
    return 0;
}
