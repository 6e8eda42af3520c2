/* Bridges: links between elements of one pipeline placed on two workers.
 *
 * A pipeline that spreads (fl_engine_config.spread_from) has elements on
 * several workers. A link from a source pad on worker A to a sink pad on
 * worker B goes through a bridge, one per source pad and worker however
 * many sinks it feeds there: a hidden "out" element on A whose sink pad is
 * linked to the source pad, and a hidden "in" element on B whose source pad
 * is linked to every sink of B fed by it, so the fan-out on B is B's work.
 *
 * Packets: "out" marks each buffer shared (base/buf.h: its references are
 * then counted atomically, and it goes back to A's pool from wherever the
 * last one is dropped) and puts it on the bridge's single-producer
 * single-consumer ring; no copy, no lock. Once per loop iteration of A (and
 * before it blocks) each worker fed is woken once; B, woken, empties its
 * rings and pushes each buffer out of the "in" pad. What must stay in order
 * with the packets (caps, Sender Reports, end of stream) rides the same
 * ring as a call run on B.
 *
 * Back to A: key frame requests (calls posted to A), and the least bitrate
 * B's sinks take (an atomic B refreshes as packets arrive, which A's "out"
 * answers for REMB).
 *
 * Who is linked: A keeps the set of B's sinks each bridge feeds (for
 * getSinkConnections, the events, and to know when a bridge has no use).
 * Only A changes it: a connect adds its sink before B links it, and B
 * reports every link of an "in" pad it removes. When the set is empty, or
 * the source goes, A tears down "out" and tells B to tear down "in": calls
 * from one worker to another run in the order posted, so nothing B was
 * told before arrives after. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "engine/engine_int.h"
#include "engine/sim.h"

FL_LOG_TAG("engine");

#define RING          4096 /* packets in flight per bridge; a power of two */
#define SR_SLOTS      4    /* streams per bridge whose Sender Report B keeps */
#define SR_EVERY_MS   500
#define RATE_EVERY_MS 200

typedef struct sr_slot {
    uint32_t ssrc;
    uint32_t rtp_ts;
    fl_time sent;
    uint64_t at_ms; /* A: when last asked; B: when last set (the oldest goes) */
    int set;
} sr_slot;

typedef struct remote_sink {
    fl_element *element; /* referenced */
    char *desc;
    uint32_t seq; /* the last connect that linked it */
} remote_sink;

typedef struct fl__bridge {
    atomic_int refs; /* one per end still set up */
    fl__worker *from, *to;
    unsigned media;
    fl_element *source; /* referenced: what the bridge stands for */
    char *source_desc;
    fl_element *out, *in;
    /* the ring: written by A, emptied by B; entries are fl_buf * or, with
     * the low bit set, fl__call * to run on B in order with the packets */
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    atomic_uint_fast64_t bitrate; /* B's sinks' least, bit/s; 0 none */
    _Alignas(64) uintptr_t ring[RING];
    /* A's */
    fl_list out_node;  /* in from->bridges_out */
    fl_list wake_node; /* in from->bridges_wake while wake */
    int wake;
    int half_woken;  /* B woken early, the ring half full, this iteration */
    fl_list pending; /* fl__call for B that found the ring full: before any packet */
    uint32_t seq;    /* connects made */
    int closing;     /* "out" is being torn down */
    uint64_t gen;    /* from->graph_gen when caps were last looked at */
    fl_sdp_codec caps;
    int have_caps; /* caps as B was last told */
    sr_slot sr_out[SR_SLOTS];
    int sr_last;      /* the sr_out slot of the last packet's stream */
    uint64_t dropped; /* packets the full ring refused */
    remote_sink *sinks;
    size_t nsinks, cap;
    /* B's */
    fl_list in_node; /* in to->bridges_in once B saw it */
    int registered;
    int in_closing;
    fl_sdp_codec in_caps;
    int in_have_caps;
    sr_slot sr_in[SR_SLOTS];
    uint64_t rate_ms;
} fl__bridge;

static uint64_t now_ms(fl__worker *w)
{
    return (uint64_t)(fl__clock_now(&w->loop) / FL_TIME_MS);
}

static fl__pad *bridge_pad(fl_element *e, int dir, unsigned media)
{
    fl__pad *src = e->defaults[fl__media_index(media)];
    return !src ? NULL : dir == FL_DIR_SOURCE ? src : src->twin;
}

static void bridge_unref(fl__bridge *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* what B never took (it stopped first): any thread may drop them */
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&b->head, memory_order_acquire);
    for (; tail != head; tail++) {
        uintptr_t v = b->ring[tail & (RING - 1)];
        if (v & 1)
            fl__call_free((fl__call *)(v & ~(uintptr_t)1));
        else
            fl_buf_unref((fl_buf *)v);
    }
    fl__element_unref(b->source);
    fl__element_unref(b->out);
    fl__element_unref(b->in);
    free(b->source_desc);
    free(b);
}

/* ---- the ring ---- */

static int ring_put(fl__bridge *b, uintptr_t v)
{
    size_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    if (head - atomic_load_explicit(&b->tail, memory_order_acquire) >= RING)
        return FL_EAGAIN;
    b->ring[head & (RING - 1)] = v;
    atomic_store_explicit(&b->head, head + 1, memory_order_release);
    if (!b->wake) {
        b->wake = 1;
        fl_list_push_back(&b->from->bridges_wake, &b->wake_node);
    }
    /* a long iteration (a big batch of calls or datagrams): B starts now */
    size_t used = head + 1 - atomic_load_explicit(&b->tail, memory_order_relaxed);
    if (!b->half_woken && used >= RING / 2) {
        b->half_woken = 1;
        fl__worker_wake(b->to);
    }
    return 0;
}

/* Moves the messages that found the ring full into it, in order; 0 when
 * none is left waiting. */
static int pending_flush(fl__bridge *b)
{
    fl_list *it;
    while ((it = b->pending.next) != &b->pending) {
        if (ring_put(b, (uintptr_t)fl_container_of(it, fl__call, node) | 1) < 0)
            return FL_EAGAIN;
        fl_list_remove(it);
    }
    return 0;
}

/* Sends B a call on "in", in order with the packets (held on A while the
 * ring is full: packets wait behind it). `data` is copied. A's thread. */
static void tell_in(fl__bridge *b, fl__call_fn run, const void *data, size_t len)
{
    fl__call *c = fl__call_new(b->to, run, NULL, b->in, NULL, NULL, NULL, data, len);
    if (!c) {
        fl_log(FL_LOG_ERROR, "out of memory: a bridge message of %s dropped", b->source->name);
        return;
    }
    if (pending_flush(b) < 0 || ring_put(b, (uintptr_t)c | 1) < 0)
        fl_list_push_back(&b->pending, &c->node);
}

/* ---- B's side ---- */

static void in_register(fl__bridge *b)
{
    if (b->registered)
        return;
    b->registered = 1;
    fl_list_push_back(&b->to->bridges_in, &b->in_node);
}

static void in_caps_run(fl__call *c)
{
    fl_element *in = c->element;
    if (in->dead)
        return;
    fl__bridge *b = in->impl;
    b->in_have_caps = c->len == sizeof(fl_sdp_codec);
    if (b->in_have_caps)
        memcpy(&b->in_caps, c->data, sizeof(fl_sdp_codec));
    fl__worker_caps_changed(in->worker);
}

static void in_sender_report_run(fl__call *c)
{
    fl_element *in = c->element;
    if (in->dead)
        return;
    fl__bridge *b = in->impl;
    sr_slot got;
    memcpy(&got, c->data, sizeof(got));
    sr_slot *slot = &b->sr_in[0];
    for (int i = 0; i < SR_SLOTS; i++) {
        if (b->sr_in[i].set && b->sr_in[i].ssrc == got.ssrc) {
            slot = &b->sr_in[i];
            break;
        }
        if (!b->sr_in[i].set || b->sr_in[i].at_ms < slot->at_ms)
            slot = &b->sr_in[i];
    }
    *slot = got;
    slot->set = 1;
    slot->at_ms = now_ms(in->worker);
}

static void in_end_run(fl__call *c)
{
    fl_element *in = c->element;
    fl__bridge *b = in->impl;
    if (!in->dead)
        fl__pad_push_end(bridge_pad(in, FL_DIR_SOURCE, b->media));
}

/* Tears down "in" (its sinks unlinked without a word back: A knows). */
static void in_close_run(fl__call *c)
{
    fl_element *in = c->element;
    if (in->dead)
        return;
    fl__bridge *b = in->impl;
    b->in_closing = 1;
    fl__element_teardown(in, 0);
    fl__element_unref(in); /* its existence's */
}

static void in_drain(fl__bridge *b)
{
    fl_element *in = b->in;
    fl__pad *src = bridge_pad(in, FL_DIR_SOURCE, b->media);
    size_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&b->head, memory_order_acquire);
    while (tail != head && !in->dead) {
        uintptr_t v = b->ring[tail & (RING - 1)];
        tail++;
        atomic_store_explicit(&b->tail, tail, memory_order_release);
        if (v & 1) {
            fl__call *c = (fl__call *)(v & ~(uintptr_t)1);
            c->run(c);
            fl__call_free(c);
            continue;
        }
        fl_buf *buf = (fl_buf *)v;
        fl__pad_push(src, buf);
        fl_buf_unref(buf);
    }
    uint64_t now = now_ms(in->worker);
    if (!in->dead && now - b->rate_ms >= RATE_EVERY_MS) {
        b->rate_ms = now;
        atomic_store_explicit(&b->bitrate, fl__pad_downstream_bitrate(src), memory_order_relaxed);
    }
}

void fl__worker_bridges_drain(fl__worker *w)
{
    fl_list_foreach_safe (it, tmp, &w->bridges_in) {
        in_drain(fl_container_of(it, fl__bridge, in_node));
    }
}

fl_element *fl__bridge_source(const fl_element *in)
{
    return ((const fl__bridge *)in->impl)->source;
}

fl_element *fl__bridge_in_element(fl_list *node)
{
    return fl_container_of(node, fl__bridge, in_node)->in;
}

static void out_key_frame_run(fl__call *c);

/* `layer`: a simulcast layer (0 lowest), -1 all; carried in the call's dir
 * beside join (bit 0). */
static void post_key_frame(fl_element *e, unsigned media, int layer, int join)
{
    fl__bridge *b = e->impl;
    fl__call *c = fl__call_new(b->from, out_key_frame_run, NULL, b->out, NULL, NULL, NULL, NULL, 0);
    if (!c)
        return;
    c->media = media;
    c->dir = (join ? 1 : 0) | (layer + 1) << 1;
    (void)fl__call_post(c);
}

static void in_key_frame(fl_element *e, unsigned media, int join)
{
    post_key_frame(e, media, -1, join);
}

static void in_key_frame_layer(fl_element *e, unsigned media, int layer, int join)
{
    post_key_frame(e, media, layer < 0 ? 0 : layer, join);
}

static const fl_sdp_codec *in_caps(fl_element *e, unsigned media)
{
    (void)media;
    fl__bridge *b = e->impl;
    return b->in_have_caps ? &b->in_caps : NULL;
}

static int in_sender_report(fl_element *e,
                            unsigned media,
                            uint32_t ssrc,
                            uint32_t *rtp_ts,
                            fl_time *sent)
{
    (void)media;
    fl__bridge *b = e->impl;
    for (int i = 0; i < SR_SLOTS; i++) {
        if (b->sr_in[i].set && b->sr_in[i].ssrc == ssrc) {
            *rtp_ts = b->sr_in[i].rtp_ts;
            *sent = b->sr_in[i].sent;
            return 0;
        }
    }
    return FL_ENOENT;
}

static void in_fini(fl_element *e)
{
    fl__bridge *b = e->impl;
    if (!b)
        return;
    b->in_closing = 1;
    if (b->registered)
        fl_list_remove(&b->in_node);
    b->registered = 0;
    e->impl = NULL;
    bridge_unref(b);
}

static void in_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e, (void)sink;
    fl_buf_unref(buf); /* nothing links into an "in" end */
}

const fl__element_type fl__bridge_in_type = {
    .simulcast = 1,
    .name = "BridgeIn",
    .receive = in_receive,
    .fini = in_fini,
    .key_frame = in_key_frame,
    .key_frame_layer = in_key_frame_layer,
    .caps = in_caps,
    .sender_report = in_sender_report,
};

/* ---- A's side ---- */

static void out_key_frame_run(fl__call *c)
{
    fl_element *out = c->element;
    int join = c->dir & 1, layer = (c->dir >> 1) - 1;
    if (out->dead)
        return;
    if (layer >= 0)
        fl__pad_request_key_frame_layer(bridge_pad(out, FL_DIR_SINK, c->media), layer, join);
    else
        fl__pad_request_key_frame(bridge_pad(out, FL_DIR_SINK, c->media), join);
}

static void out_check_caps(fl__bridge *b, fl__pad *sink)
{
    b->gen = b->from->graph_gen;
    const fl_sdp_codec *caps = fl__pad_caps(sink);
    if (caps ? b->have_caps && !memcmp(caps, &b->caps, sizeof(*caps)) : !b->have_caps)
        return;
    b->have_caps = caps != NULL;
    if (caps)
        b->caps = *caps;
    tell_in(b, in_caps_run, caps, caps ? sizeof(*caps) : 0);
}

/* The sr_out slot of stream ssrc, else a free or the oldest one. */
static sr_slot *out_sr_slot(fl__bridge *b, uint32_t ssrc)
{
    sr_slot *slot = &b->sr_out[0];
    for (int i = 0; i < SR_SLOTS; i++) {
        if (b->sr_out[i].set && b->sr_out[i].ssrc == ssrc)
            return &b->sr_out[i];
        if (!b->sr_out[i].set || b->sr_out[i].at_ms < slot->at_ms)
            slot = &b->sr_out[i];
    }
    return slot;
}

/* At most every SR_EVERY_MS per stream: its producer's last Sender Report,
 * to B when it changed. Per packet, no clock read (the sink's last_ms is
 * this packet's time) and, while the stream stays the same, one slot. */
static void out_check_sender_report(fl__bridge *b, fl__pad *sink, const fl_buf *buf)
{
    if (!buf->rtp.parsed)
        return;
    uint64_t now = sink->last_ms;
    sr_slot *slot = &b->sr_out[b->sr_last];
    if (!slot->set || slot->ssrc != buf->rtp.ssrc) {
        slot = out_sr_slot(b, buf->rtp.ssrc);
        b->sr_last = (int)(slot - b->sr_out);
    }
    if (slot->set && slot->ssrc == buf->rtp.ssrc && now - slot->at_ms < SR_EVERY_MS)
        return;
    if (!slot->set || slot->ssrc != buf->rtp.ssrc)
        *slot = (sr_slot){ .ssrc = buf->rtp.ssrc, .set = 1 };
    slot->at_ms = now;
    uint32_t ts;
    fl_time sent;
    if (fl__pad_sender_report(sink, slot->ssrc, &ts, &sent) != 0 ||
        (ts == slot->rtp_ts && sent == slot->sent))
        return;
    slot->rtp_ts = ts;
    slot->sent = sent;
    tell_in(b, in_sender_report_run, slot, sizeof(*slot));
}

static void out_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    fl__bridge *b = e->impl;
    if (b->gen != b->from->graph_gen)
        out_check_caps(b, sink);
    out_check_sender_report(b, sink, buf);
    fl_buf_share(buf);
    if (pending_flush(b) < 0 || ring_put(b, (uintptr_t)buf) < 0) {
        if (b->dropped++ % 1000 == 0)
            fl_log(FL_LOG_WARN, "bridge of %s to worker %d full: %llu packets dropped",
                   b->source->name, b->to->index, (unsigned long long)b->dropped);
        fl_buf_unref(buf);
    }
}

static uint64_t out_bitrate(fl_element *e, unsigned media)
{
    (void)media;
    fl__bridge *b = e->impl;
    return atomic_load_explicit(&b->bitrate, memory_order_relaxed);
}

static void out_end_of_stream(fl_element *e, fl__pad *sink)
{
    (void)sink;
    fl__bridge *b = e->impl;
    tell_in(b, in_end_run, NULL, 0);
}

static void out_fini(fl_element *e)
{
    fl__bridge *b = e->impl;
    if (!b)
        return;
    b->closing = 1;
    fl_list_remove(&b->out_node);
    if (b->wake) { /* B is told below anyway */
        fl_list_remove(&b->wake_node);
        b->wake = 0;
    }
    fl_list *it;
    while ((it = fl_list_pop_front(&b->pending)))
        fl__call_free(fl_container_of(it, fl__call, node));
    fl__call *c = fl__call_new(b->to, in_close_run, NULL, b->in, NULL, NULL, NULL, NULL, 0);
    if (c)
        (void)fl__call_post(c);
    else
        fl_log(FL_LOG_ERROR, "out of memory: a bridge of %s kept", b->source->name);
    for (size_t i = 0; i < b->nsinks; i++) {
        fl__element_unref(b->sinks[i].element);
        free(b->sinks[i].desc);
    }
    free(b->sinks);
    b->sinks = NULL;
    b->nsinks = 0;
    e->impl = NULL;
    bridge_unref(b);
}

/* Tears down "out" and with it the bridge. A's thread. */
static void out_close(fl_element *out)
{
    if (out->dead || ((fl__bridge *)out->impl)->closing)
        return;
    ((fl__bridge *)out->impl)->closing = 1;
    fl__element_teardown(out, 0);
    fl__element_unref(out); /* its existence's */
}

const fl__element_type fl__bridge_out_type = {
    .simulcast = 1,
    .name = "BridgeOut",
    .receive = out_receive,
    .fini = out_fini,
    .bitrate = out_bitrate,
    .end_of_stream = out_end_of_stream,
};

static remote_sink *sink_find(fl__bridge *b, const fl_element *e, const char *desc)
{
    for (size_t i = 0; i < b->nsinks; i++) {
        if (b->sinks[i].element == e && !strcmp(b->sinks[i].desc, desc))
            return &b->sinks[i];
    }
    return NULL;
}

/* Adds a sink of B's (or renews it: *added 0) under a new connect's seq. */
static int sink_add(fl__bridge *b, fl_element *e, const char *desc, uint32_t *seq, int *added)
{
    *seq = ++b->seq;
    *added = 0;
    remote_sink *old = sink_find(b, e, desc);
    if (old) {
        old->seq = *seq;
        return 0;
    }
    if (b->nsinks == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        remote_sink *v = realloc(b->sinks, cap * sizeof(*v));
        if (!v)
            return FL_ENOMEM;
        b->sinks = v;
        b->cap = cap;
    }
    char *d = strdup(desc);
    if (!d)
        return FL_ENOMEM;
    fl__element_ref(e);
    b->sinks[b->nsinks++] = (remote_sink){ .element = e, .desc = d, .seq = *seq };
    *added = 1;
    return 0;
}

/* Forgets a sink of B's, unless a connect after `seq` (0: any) linked it
 * again; the bridge goes with its last. A's thread. */
static void sink_remove(fl__bridge *b,
                        const fl_element *e,
                        const char *desc,
                        uint32_t seq,
                        int events)
{
    remote_sink *s = sink_find(b, e, desc);
    if (s && seq && s->seq != seq)
        return; /* an older link's removal: the sink was connected since */
    if (s) {
        if (events)
            fl__raise_link(FL_EVENT_ELEMENT_DISCONNECTED, b->source, b->source_desc, s->element,
                           s->desc, b->media);
        fl__element_unref(s->element);
        free(s->desc);
        *s = b->sinks[--b->nsinks];
    }
    if (b->nsinks == 0)
        out_close(b->out);
}

/* B unlinked the sink c->peer linked by connect c->data (its seq). */
static void out_sink_left_run(fl__call *c)
{
    fl_element *out = c->element;
    uint32_t seq;
    memcpy(&seq, c->data, sizeof(seq));
    if (!out->dead)
        sink_remove(out->impl, c->peer, c->peer_desc, seq, c->dir);
}

static void post_sink_left(fl__bridge *b,
                           fl_element *sink,
                           const char *desc,
                           uint32_t seq,
                           int events)
{
    fl__call *c = fl__call_new(b->from, out_sink_left_run, NULL, b->out, sink, NULL, desc,
                               (const uint8_t *)&seq, sizeof(seq));
    if (!c) {
        fl_log(FL_LOG_ERROR, "out of memory: a bridge of %s kept", b->source->name);
        return;
    }
    c->dir = events;
    (void)fl__call_post(c);
}

/* ---- links ---- */

void fl__bridge_unlinked(fl__pad *src, fl__pad *sink, int events)
{
    if (src->element->type == &fl__bridge_in_type) {
        /* a sink of B left: A hears of it, unless A closed the bridge */
        fl__bridge *b = src->element->impl;
        if (!b || b->in_closing)
            return;
        post_sink_left(b, sink->element, sink->desc, sink->bridge_seq, events);
        return;
    }
    /* the source left "out" (its element torn down): every link goes */
    fl__bridge *b = sink->element->impl;
    if (!b || b->closing)
        return;
    for (size_t i = 0; events && i < b->nsinks; i++)
        fl__raise_link(FL_EVENT_ELEMENT_DISCONNECTED, b->source, b->source_desc,
                       b->sinks[i].element, b->sinks[i].desc, b->media);
    out_close(sink->element);
}

void fl__bridge_visit_out(const fl__pad *out_sink, const fl__pad *src, fl__link_fn fn, void *ctx)
{
    const fl__bridge *b = out_sink->element->impl;
    for (size_t i = 0; b && i < b->nsinks; i++)
        fn(ctx, src->element, src->desc, b->sinks[i].element, b->sinks[i].desc, b->media);
}

void fl__bridge_visit_in(const fl__pad *in_src, const fl__pad *sink, fl__link_fn fn, void *ctx)
{
    const fl__bridge *b = in_src->element->impl;
    if (b)
        fn(ctx, b->source, b->source_desc, sink->element, sink->desc, b->media);
}

/* The bridge from src to worker `to`, made when missing. A's thread. */
static fl__bridge *bridge_get(fl__pad *src, fl__worker *to, int *rc)
{
    for (size_t i = 0; i < src->nsinks; i++) {
        fl_element *e = src->sinks[i]->element;
        if (e->type == &fl__bridge_out_type && ((fl__bridge *)e->impl)->to == to)
            return e->impl;
    }
    fl_element *from_el = src->element;
    size_t size = (sizeof(fl__bridge) + 63) & ~(size_t)63;
    fl__bridge *b = aligned_alloc(64, size); /* the ring's indexes on lines of their own */
    if (b)
        memset(b, 0, size);
    if (!b || !(b->source_desc = strdup(src->desc))) {
        free(b);
        *rc = FL_ENOMEM;
        return NULL;
    }
    atomic_init(&b->refs, 2);
    b->from = from_el->worker;
    b->to = to;
    b->media = src->media;
    b->source = from_el;
    fl__element_ref(from_el);
    fl_list_init(&b->out_node);
    fl_list_init(&b->wake_node);
    fl_list_init(&b->in_node);
    fl_list_init(&b->pending);
    fl_pipeline *p = from_el->pipeline;
    if ((*rc = fl__element_new(p, b->from, &fl__bridge_out_type, "bridge-out", &b->out)) < 0)
        goto fail;
    if ((*rc = fl__element_new(p, to, &fl__bridge_in_type, "bridge-in", &b->in)) < 0)
        goto fail;
    b->out->impl = b;
    b->in->impl = b;
    fl__pad *out_sink;
    if ((*rc = fl__element_pads(b->out)) < 0 || (*rc = fl__element_pads(b->in)) < 0 ||
        !(out_sink = bridge_pad(b->out, FL_DIR_SINK, b->media)) ||
        (*rc = fl__link_add(src, out_sink)) < 0)
        goto fail;
    fl__element_ref(b->out); /* the bridge's: either side may still name the other's end */
    fl__element_ref(b->in);
    fl_list_push_back(&b->from->bridges_out, &b->out_node);
    /* B reads these before any message: they travel with the connect */
    b->gen = b->from->graph_gen;
    const fl_sdp_codec *caps = fl__pad_caps(out_sink);
    if ((b->have_caps = b->in_have_caps = caps != NULL))
        b->caps = b->in_caps = *caps;
    fl_log(FL_LOG_DEBUG, "bridge %s:%s:%s from worker %d to %d", from_el->name,
           fl_media_type_name(b->media), b->source_desc, b->from->index, to->index);
    return b;

fail:
    /* nothing posted yet: both ends go here, unknown to their hooks */
    if (b->out) {
        b->out->impl = NULL;
        fl__element_teardown(b->out, 0);
        fl__element_unref(b->out);
    }
    if (b->in) {
        b->in->impl = NULL;
        fl__element_teardown(b->in, 0);
        fl__element_unref(b->in);
    }
    fl__element_unref(b->source);
    free(b->source_desc);
    free(b);
    return NULL;
}

/* What A sends B for a connect: the bridge of each media (NULL: not
 * asked) and the seq of A's connect on it. */
typedef struct connect_msg {
    fl__bridge *bridges[3];
    uint32_t seqs[3];
} connect_msg;

/* What A sends B for a disconnect: the bridge of each media whose link to
 * B's element goes (NULL: none). */
typedef struct disconnect_msg {
    fl__bridge *bridges[3];
} disconnect_msg;

/* Relays c (its reply, callback and rc as c->dir) to the peer's worker to
 * run `run` with msg (len bytes); FL_ECLOSED / FL_ENOMEM, c keeping its
 * reply, when it cannot. A's thread. */
static int relay(fl__call *c, fl__call_fn run, const void *msg, size_t len, int rc)
{
    const char *kdesc = c->peer_desc ? c->peer_desc : "default";
    fl__call *n = fl__call_new(c->peer->worker, run, NULL, c->peer, NULL, NULL, kdesc, msg, len);
    if (n) {
        n->media = c->media;
        n->dir = rc;
    }
    return fl__call_relay(c, n);
}

static void in_connect_run(fl__call *c);
static void in_disconnect_run(fl__call *c);

void fl__bridge_connect(fl__call *c)
{
    const char *sdesc = c->desc ? c->desc : "default";
    const char *kdesc = c->peer_desc ? c->peer_desc : "default";
    connect_msg msg = { { NULL }, { 0 } };
    int rc = 0;
    for (unsigned m = FL_MEDIA_AUDIO; rc == 0 && m <= FL_MEDIA_DATA; m <<= 1) {
        if (!(c->media & m))
            continue;
        int i = fl__media_index(m), added = 0;
        fl__pad *src = fl__pad_get(c->element, FL_DIR_SOURCE, m, sdesc, &rc);
        fl__bridge *b = src ? bridge_get(src, c->peer->worker, &rc) : NULL;
        if (b && (rc = sink_add(b, c->peer, kdesc, &msg.seqs[i], &added)) < 0 && b->nsinks == 0)
            out_close(b->out);
        if (rc < 0)
            break;
        msg.bridges[i] = b;
        if (added) /* a link renewed says nothing, as a direct one */
            fl__raise_link(FL_EVENT_ELEMENT_CONNECTED, c->element, src->desc, c->peer, kdesc, m);
    }
    /* B links what A added, then answers (rc: A's failure, if any) */
    int prc = relay(c, in_connect_run, &msg, sizeof(msg), rc);
    if (prc < 0) {
        for (int i = 0; i < 3; i++) {
            if (msg.bridges[i])
                sink_remove(msg.bridges[i], c->peer, kdesc, msg.seqs[i], 0);
        }
        fl__call_done(c, prc);
    }
}

static void in_connect_run(fl__call *c)
{
    connect_msg msg;
    memcpy(&msg, c->data, sizeof(msg));
    fl_element *e = c->element;
    int rc = c->dir;
    for (int i = 0; i < 3; i++) {
        fl__bridge *b = msg.bridges[i];
        if (!b)
            continue;
        in_register(b);
        fl__pad *src = bridge_pad(b->in, FL_DIR_SOURCE, b->media);
        int lrc = e->dead ? FL_ECLOSED : 0;
        fl__pad *sink = lrc ? NULL : fl__pad_get(e, FL_DIR_SINK, b->media, c->peer_desc, &lrc);
        if (sink && sink->src != src) {
            if (sink->src)
                fl__link_remove(sink->src, sink, 1);
            if ((lrc = fl__link_add(src, sink)) == 0) {
                sink->bridge_seq = msg.seqs[i];
                if (e->type->linked)
                    e->type->linked(e, sink);
                if (b->media == FL_MEDIA_VIDEO &&
                    (!e->type->receiving || e->type->receiving(e, b->media)))
                    fl__pad_request_key_frame(sink, 1);
            }
        } else if (sink) {
            sink->bridge_seq = msg.seqs[i]; /* renewed */
        }
        if (lrc < 0) { /* A forgets it */
            post_sink_left(b, e, c->peer_desc, msg.seqs[i], 0);
            if (rc == 0)
                rc = lrc;
        }
    }
    fl__call_done(c, rc);
}

void fl__bridge_disconnect(fl__call *c)
{
    const char *sdesc = c->desc ? c->desc : "default";
    const char *kdesc = c->peer_desc ? c->peer_desc : "default";
    disconnect_msg msg = { { NULL } };
    for (unsigned m = FL_MEDIA_AUDIO; m <= FL_MEDIA_DATA; m <<= 1) {
        /* only a pad that exists: a disconnect makes none */
        fl__pad *src = NULL;
        fl_list_foreach (it, &c->element->pads) {
            fl__pad *pad = fl_container_of(it, fl__pad, node);
            if (pad->dir == FL_DIR_SOURCE && pad->media == m && !strcmp(pad->desc, sdesc))
                src = pad;
        }
        for (size_t i = 0; (c->media & m) && src && i < src->nsinks; i++) {
            fl_element *out = src->sinks[i]->element;
            fl__bridge *b = out->type == &fl__bridge_out_type ? out->impl : NULL;
            if (b && b->to == c->peer->worker && sink_find(b, c->peer, kdesc))
                msg.bridges[fl__media_index(m)] = b;
        }
    }
    /* B unlinks; each link it removes comes back as out_sink_left_run */
    int prc = relay(c, in_disconnect_run, &msg, sizeof(msg), 0);
    if (prc < 0)
        fl__call_done(c, prc);
}

static void in_disconnect_run(fl__call *c)
{
    disconnect_msg msg;
    memcpy(&msg, c->data, sizeof(msg));
    fl_element *e = c->element;
    for (int i = 0; i < 3 && !e->dead; i++) {
        fl__bridge *b = msg.bridges[i];
        if (!b)
            continue;
        fl__pad *src = bridge_pad(b->in, FL_DIR_SOURCE, b->media);
        fl_list_foreach (it, &e->pads) {
            fl__pad *sink = fl_container_of(it, fl__pad, node);
            if (sink->dir == FL_DIR_SINK && sink->src == src && !strcmp(sink->desc, c->peer_desc)) {
                fl__link_remove(src, sink, 1);
                break;
            }
        }
    }
    fl__call_done(c, c->dir);
}

/* ---- the worker's side ---- */

void fl__worker_bridges_wake(fl__worker *w)
{
    fl_list batch, *it;
    fl_list_init(&batch);
    while ((it = fl_list_pop_front(&w->bridges_wake)))
        fl_list_push_back(&batch, it);
    while ((it = fl_list_pop_front(&batch))) {
        fl__bridge *b = fl_container_of(it, fl__bridge, wake_node);
        b->wake = 0;
        b->half_woken = 0;
        (void)pending_flush(b); /* what it puts wakes B next time */
        fl__worker_wake(b->to);
    }
}

void fl__worker_bridges_close(fl__worker *w)
{
    fl_list *it;
    while ((it = w->bridges_out.next) != &w->bridges_out)
        out_close(fl_container_of(it, fl__bridge, out_node)->out);
    while ((it = w->bridges_in.next) != &w->bridges_in) {
        fl__bridge *b = fl_container_of(it, fl__bridge, in_node);
        fl_element *in = b->in;
        in_drain(b);
        b->in_closing = 1;
        fl__element_teardown(in, 0); /* in_fini leaves the list */
        fl__element_unref(in);
    }
}
