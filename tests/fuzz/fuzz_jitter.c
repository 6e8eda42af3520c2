/* Fuzzes net/jitter with a sequence of operations, 3 bytes each (a, b, c):
 * time goes on by c ms; a bit 0 pushes a packet (bit 1: seq = last + (int8)b,
 * else seq = b << 8 | a; bit 2: the other SSRC), else pops what is ready;
 * a & 0xf0 == 0xf0 flushes. The first byte sets the capacity (1 to 32).
 * Checks: extended sequence numbers strictly increase, in step with
 * lost_before except across a reset (a later 65536 cycle); each packet comes out at most once;
 * the deadline is honest (pop gives a packet exactly when it is due); at
 * the end every packet is accounted for and every buffer is back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/jitter.h"
#include "net/rtp.h"

#define MAX_PACKETS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fl_buf_pool *pool;
static uint8_t released[MAX_PACKETS];

struct state {
    fl_jitter *j;
    uint64_t prev;
    int any;
};

static void pop_ready(struct state *s, fl_time now)
{
    for (;;) {
        fl_time due = fl_jitter_deadline(s->j);
        fl_buf *b = NULL;
        unsigned lost = 0;
        int r = fl_jitter_pop(s->j, now, &b, &lost);
        if (r != (due <= now))
            abort();
        if (r == 0)
            return;
        uint64_t ext = fl_jitter_last_ext_seq(s->j);
        if ((uint16_t)ext != b->rtp.seq || b->user >= MAX_PACKETS || released[b->user])
            abort();
        released[b->user] = 1;
        if (s->any) {
            if (ext <= s->prev)
                abort();
            int step = ext - s->prev == (uint64_t)lost + 1;
            /* a reset: a later cycle (lost_before counts only within the
             * new stream: packets dropped from a full release queue) */
            int reset = (ext >> 16) >= (s->prev >> 16) + 2;
            if (!step && !reset)
                abort();
        }
        s->prev = ext;
        s->any = 1;
        fl_buf_unref(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pool && fl_buf_pool_create(&pool, 64, 0, 64, 0) != 0)
        abort();
    if (size < 1)
        return 0;
    struct state s = { 0 };
    fl_jitter_config c = { .clock_rate = 90000,
                           .max_wait = 20 * FL_TIME_MS,
                           .capacity = (size_t)1 << (data[0] % 6) };
    if (fl_jitter_create(&s.j, &c) != 0)
        abort();
    memset(released, 0, sizeof(released));
    fl_time now = 0;
    uint16_t seq = 0;
    uint32_t ssrc = 1;
    uint64_t pushed = 0, refused = 0;
    for (size_t at = 1; at + 3 <= size && pushed < MAX_PACKETS; at += 3) {
        uint8_t a = data[at], b = data[at + 1], k = data[at + 2];
        now += k * FL_TIME_MS;
        if ((a & 0xf0) == 0xf0)
            fl_jitter_flush(s.j);
        if (!(a & 1)) {
            pop_ready(&s, now);
            continue;
        }
        seq = (a & 2) ? (uint16_t)(seq + (int8_t)b) : (uint16_t)(b << 8 | a);
        if (a & 4)
            ssrc ^= 3;
        fl_buf *buf = fl_buf_pool_get(pool);
        fl_rtp_header h = {
            .payload_type = 96, .seq = seq, .timestamp = seq * 3000u, .ssrc = ssrc
        };
        static const uint8_t payload[4] = { 1, 2, 3, 4 };
        if (!buf || fl_rtp_buf_write(buf, 0, &h, payload, sizeof(payload)) != 0)
            abort();
        buf->user = pushed++;
        int r = fl_jitter_push(s.j, buf, now);
        if (r != 0 && r != FL_EEXIST && r != FL_ERANGE)
            abort();
        refused += r != 0;
    }
    fl_jitter_flush(s.j);
    pop_ready(&s, now);
    fl_jitter_stats st;
    fl_jitter_get_stats(s.j, &st);
    if (st.held != 0 || st.received != pushed || st.duplicates + st.late != refused ||
        st.received != st.released + st.duplicates + st.late + st.dropped)
        abort();
    fl_jitter_destroy(s.j);
    fl_buf_pool_stats ps;
    fl_buf_pool_get_stats(pool, &ps);
    if (ps.in_use != 0)
        abort();
    return 0;
}
