/* The push byte source (engine/player_src.h): bytes handed in by
 * fl__bytes_push_write as they come (an HTTP upload), read in order by a
 * demuxer. Reads are answered from a deadline (never inside the call that
 * caused them) once enough bytes are held, or when the stream ended.
 *
 * Memory: the bytes not yet read sit in one buffer that grows to the
 * most ever held and is reused (compacted in place); each write waits in
 * a small array for its completion. What is held is bounded by the
 * writer, who waits for completions (a write completes once the reader
 * took its last byte, or at once when the reader waits for it). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/player_src.h"

/* Most bytes given in one answer beyond what was asked (a read-ahead
 * that bounds what the demuxer copies at once). */
#define READ_MAX (256u << 10)
/* Most bytes held: a demuxer's largest unit and some. */
#define HOLD_MAX (80u << 20)

typedef struct pending_write {
    int64_t end; /* the stream offset just past its bytes */
    fl__deferred done;
} pending_write;

typedef struct push_src {
    fl__bytes base;
    uv_loop_t *loop;
    fl__bytes_cb cb;
    void *arg;
    fl_time idle;
    /* held bytes: buf[head .. head + len), at stream offset `off` */
    uint8_t *buf;
    size_t cap, head, len;
    int64_t off;
    pending_write *w;
    size_t nw, capw;
    int opened;
    int reading; /* a read waits for its answer */
    size_t read_len;
    fl_time wait_from; /* the last write or the start of the read */
    int ended;         /* no more bytes will come */
    int closing;
    fl__deadline later;
} push_src;

static fl_time now_of(push_src *s)
{
    return fl__clock_now(s->loop);
}

/* Completes the writes whose bytes the reader took, or waits for now. */
static void complete_taken(push_src *s)
{
    int64_t limit = s->off + (s->reading ? (int64_t)s->read_len : 0);
    size_t n = 0;
    while (n < s->nw && s->w[n].end <= limit)
        fl__deferred_text(&s->w[n++].done, 0, NULL);
    if (n) {
        memmove(s->w, s->w + n, (s->nw - n) * sizeof(*s->w));
        s->nw -= n;
    }
}

static void complete_all(push_src *s, int status, const char *why)
{
    for (size_t i = 0; i < s->nw; i++)
        fl__deferred_text(&s->w[i].done, status, why);
    s->nw = 0;
}

static void answer_read(push_src *s)
{
    size_t n = s->len;
    if (n > s->read_len && n > READ_MAX)
        n = s->read_len > READ_MAX ? s->read_len : READ_MAX;
    const uint8_t *data = s->buf + s->head;
    int64_t at = s->off;
    s->reading = 0;
    /* taken before the callback, which may ask the next read; the bytes
     * stay in place until the next write */
    s->head += n;
    s->len -= n;
    s->off += (int64_t)n;
    if (s->len == 0)
        s->head = 0;
    s->cb.data(s->arg, at, data, n);
}

static void on_later(uv_timer_t *t)
{
    push_src *s = t->data;
    if (s->closing)
        return;
    if (!s->opened) {
        s->opened = 1;
        s->cb.opened(s->arg, -1, 0);
        if (s->closing)
            return;
    }
    if (s->reading && !s->ended && s->len < s->read_len) {
        fl_time now = now_of(s);
        if (now - s->wait_from >= s->idle)
            s->ended = 1; /* nothing came for `idle`: the stream ended */
        else
            fl__deadline_arm(&s->later, s->wait_from + s->idle, now);
    }
    if (s->reading && (s->len >= s->read_len || s->ended))
        answer_read(s);
    if (!s->closing)
        complete_taken(s);
}

static void soon(push_src *s)
{
    fl_time now = now_of(s);
    fl__deadline_arm(&s->later, now, now);
}

static int push_read(fl__bytes *b, int64_t offset, size_t len)
{
    push_src *s = (push_src *)b;
    if (!s->opened)
        return FL_ESTATE;
    if (s->reading)
        return FL_EBUSY;
    if (len == 0 || offset < 0)
        return FL_EINVAL;
    if (offset != s->off)
        return FL_ENOTSUP; /* behind what was read, or a skip ahead */
    s->reading = 1;
    s->read_len = len;
    s->wait_from = now_of(s);
    soon(s);
    return 0;
}

int fl__bytes_push_write(fl__bytes *b, const uint8_t *data, size_t len, fl__deferred done)
{
    push_src *s = (push_src *)b;
    if (s->ended)
        return FL_ESTATE;
    if (len > HOLD_MAX - s->len)
        return FL_EMSGSIZE;
    if (s->nw == s->capw) {
        size_t nc = s->capw ? s->capw * 2 : 16;
        pending_write *nw = realloc(s->w, nc * sizeof(*nw));
        if (!nw)
            return FL_ENOMEM;
        s->w = nw;
        s->capw = nc;
    }
    if (s->head + s->len + len > s->cap) {
        if (s->head) { /* compact: the reader's last answer is over */
            memmove(s->buf, s->buf + s->head, s->len);
            s->head = 0;
        }
        if (s->len + len > s->cap) {
            size_t nc = s->cap ? s->cap : 64u << 10;
            while (nc < s->len + len)
                nc *= 2;
            uint8_t *nb = realloc(s->buf, nc);
            if (!nb)
                return FL_ENOMEM;
            s->buf = nb;
            s->cap = nc;
        }
    }
    if (len)
        memcpy(s->buf + s->head + s->len, data, len);
    s->len += len;
    s->w[s->nw++] = (pending_write){ .end = s->off + (int64_t)s->len, .done = done };
    s->wait_from = now_of(s);
    soon(s);
    return 0;
}

void fl__bytes_push_end(fl__bytes *b)
{
    push_src *s = (push_src *)b;
    s->ended = 1;
    soon(s);
}

int fl__bytes_push_ended(const fl__bytes *b)
{
    return ((const push_src *)b)->ended;
}

void fl__bytes_push_fail(fl__bytes *b, int status, const char *why)
{
    complete_all((push_src *)b, status, why);
}

static void on_later_closed(uv_handle_t *h)
{
    push_src *s = h->data;
    free(s->buf);
    free(s->w);
    free(s);
}

static void push_close(fl__bytes *b)
{
    push_src *s = (push_src *)b;
    s->closing = 1;
    complete_all(s, FL_ECANCELED, "the stream was closed before these bytes were read");
    fl__deadline_close(&s->later, on_later_closed);
}

static const fl__bytes_ops push_ops = { push_read, push_close };

int fl__bytes_push_create(fl__bytes **out,
                          uv_loop_t *loop,
                          fl_time idle,
                          const fl__bytes_cb *cb,
                          void *arg)
{
    if (!out || !loop || idle <= 0 || !cb || !cb->opened || !cb->data || !cb->failed)
        return FL_EINVAL;
    push_src *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->base.ops = &push_ops;
    s->loop = loop;
    s->cb = *cb;
    s->arg = arg;
    s->idle = idle;
    fl__deadline_init(&s->later, loop, on_later, s, 0);
    soon(s); /* opened, from the deadline */
    *out = &s->base;
    return 0;
}
