/* Mixing hubs: Composite, AlphaBlending and Mixer. Their HubPorts
 * (engine/hub.c) hand what they take in to the hub's mixer, and send out
 * what the mixer makes for them.
 *
 * A mixer runs its codec work on a thread of its own (a codec thread, as
 * a transcoder's), paced by a clock, never by its inputs: every 20 ms it
 * mixes and encodes audio, every 1/framerate s it composes and encodes a
 * picture, from what has arrived by then. An input that is slow or gone
 * leaves its last picture (or a black tile) and silence; nothing waits
 * for it.
 *
 * - Composite: the pictures of the ports that take something in, in a
 *   grid of the constructor's size (fl_grid_cell: 1, 2, 3-4, 5-9, ...
 *   inputs), each fitted into its cell; a port with no picture is a black
 *   tile. Every port hears the mix of all the others (mix-minus).
 * - AlphaBlending: the master port's picture at its own size, and the
 *   ports given a place (setPortProperties) drawn over it, relative to its
 *   size, in zOrder. Audio as Composite's.
 * - Mixer: connect(media, source, sink) between ports: a sink hears the
 *   mix of the audio sources connected to it, and sees the picture of the
 *   video source connected to it last.
 *
 * Each distinct picture is encoded once (VP8) and sent to every port that
 * shows it; each distinct mix once (Opus, mono 48 kHz). A sink that takes
 * another format gets a transcoder on its link as from any source.
 *
 * Threads: the worker owns the ports and the layout; it writes whole input
 * frames and layout changes into one single-producer single-consumer ring
 * to the mixer thread, and reads encoded frames from another. No lock per
 * frame. The thread is joined when the hub goes (it wakes at least every
 * 20 ms). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "engine/mix_int.h"
#include "engine/sim.h"
#include "engine/transcode.h"
#include "net/rtp.h"

FL_LOG_TAG("mix");

static const fl_sdp_codec vp8_caps = { .pt = VIDEO_PT,
                                       .name = "VP8",
                                       .clock_rate = 90000,
                                       .rtx_pt = -1 };
static const fl_sdp_codec opus_caps = { .pt = AUDIO_PT,
                                        .name = "opus",
                                        .clock_rate = ARATE,
                                        .channels = 2,
                                        .rtx_pt = -1 };

/* The payload type a format's stream carries. */
static int fmt_pt(int fmt)
{
    return fmt == FMT_H264 ? 102 : fmt == FMT_VP9 ? 98 : VIDEO_PT;
}

static int fmt_of(fl_codec_kind k)
{
    return k == FL_CODEC_H264  ? FMT_H264
           : k == FL_CODEC_VP9 ? FMT_VP9
           : k == FL_CODEC_VP8 ? FMT_VP8
                               : -1;
}

/* ---- the worker's side ---- */

static void free_mix(fl__mix *m)
{
    for (size_t i = 0; i < IN_SLOTS; i++)
        fl_bytes_deinit(&m->in[i].b);
    for (size_t i = 0; i < OUT_SLOTS; i++)
        fl_bytes_deinit(&m->out[i].b);
    for (size_t i = 0; i < sizeof(m->os) / sizeof(m->os[0]); i++)
        fl_pack_destroy(m->os[i].pack);
    if (m->tp) {
        for (int i = 0; i < MAX_PORTS; i++)
            fl__mix_tport_reset(&m->tp[i], 0);
        free(m->tp);
    }
    for (size_t i = 0; i < sizeof(m->aencs) / sizeof(m->aencs[0]); i++)
        fl_aenc_destroy(m->aencs[i].enc);
    for (int i = 0; i < MAX_PORTS; i++) {
        for (int f = 0; f < NFMT; f++)
            fl_venc_destroy(m->canvases[i].enc[f]);
        fl_picture_free(&m->canvases[i].pic);
    }
    free(m);
}

static void on_closed(uv_handle_t *h)
{
    fl__mix *m = h->data;
    if (--m->closing == 0)
        free_mix(m);
}

/* Whether something is linked into the port's sink pad of media index i. */
static int port_takes(const mport *p, int i)
{
    fl__pad *src = p->e->defaults[i];
    return src && src->twin && src->twin->src;
}

/* Whether what the port sends of media index i reaches some sink. */
static int port_watched(const mport *p, int i)
{
    fl__pad *src = p->e->defaults[i];
    return src && src->nsinks > 0;
}

static void make_layout(fl__mix *m, layout *l)
{
    memset(l, 0, sizeof(*l));
    l->master = m->master;
    l->master_z = m->master_z;
    l->norder = m->norder;
    memcpy(l->order, m->order, sizeof(l->order));
    for (int s = 0; s < MAX_PORTS; s++) {
        mport *p = m->ports[s];
        l->vfrom[s] = -1;
        if (!p)
            continue;
        l->present |= 1u << s;
        l->gen[s] = p->gen;
        if (port_takes(p, 0) || port_takes(p, 1))
            l->input |= 1u << s;
        for (int i = 0; i < 2; i++)
            l->watched[i] |= (uint32_t)port_watched(p, i) << s;
        l->vfmt[s] = (uint8_t)p->vfmt;
        if (m->kind == MIXER) {
            l->akey[s] = p->audio_from;
            l->vfrom[s] = (int8_t)p->video_from;
        } else {
            l->akey[s] = ALL_BUT |
                         (port_takes(p, fl__media_index(FL_MEDIA_AUDIO)) ? (uint32_t)s : NOBODY);
        }
    }
    memcpy(l->place, m->sent.place, sizeof(l->place));
}

/* Sends the layout to the thread when it changed. */
static void publish(fl__mix *m, const layout *l)
{
    if (m->sent_valid && memcmp(l, &m->sent, sizeof(*l)) == 0)
        return;
    unsigned head = atomic_load_explicit(&m->in_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&m->in_tail, memory_order_acquire);
    if (head - tail >= IN_SLOTS)
        return; /* tried again at the next timer tick */
    in_slot *s = &m->in[head % IN_SLOTS];
    s->type = IN_LAYOUT;
    s->lay = *l;
    atomic_store_explicit(&m->in_head, head + 1, memory_order_release);
    m->sent = *l;
    m->sent_valid = 1;
}

static void relayout(fl__mix *m)
{
    layout l;
    make_layout(m, &l);
    publish(m, &l);
}

void fl__mix_relayout(fl__mix *m)
{
    if (m->started)
        relayout(m);
}

static ostream *stream_for(fl__mix *m, unsigned media, uint32_t target)
{
    ostream *free_one = NULL;
    for (size_t i = 0; i < sizeof(m->os) / sizeof(m->os[0]); i++) {
        ostream *o = &m->os[i];
        if (o->used && o->media == media && o->target == target)
            return o;
        if (!o->used && !free_one)
            free_one = o;
    }
    if (!free_one)
        return NULL;
    ostream *o = free_one;
    fl_pack_destroy(o->pack);
    memset(o, 0, sizeof(*o));
    fl_pack_config pc = { .codec = media == FL_MEDIA_VIDEO ? fl__mix_fmt_kind(TARGET_FMT(target))
                                                           : FL_CODEC_OPUS,
                          .max_payload = MAX_PAYLOAD };
    if (fl_pack_create(&o->pack, &pc) < 0)
        return NULL;
    fl_rand *r = fl__clock_rand(&m->w->loop);
    o->used = 1;
    o->media = media;
    o->target = target;
    o->ssrc = fl_rand_u32(r);
    o->seq = (uint16_t)fl_rand_u32(r);
    return o;
}

/* Whether port p gets this output. */
static int shows(const fl__mix *m, const mport *p, unsigned media, uint32_t target)
{
    if (media == FL_MEDIA_AUDIO)
        return m->sent.akey[p->slot] == target;
    if (p->vfmt != TARGET_FMT(target))
        return 0;
    if (m->kind == MIXER)
        return p->video_from >= 0 && (uint32_t)p->video_from == TARGET_PIC(target);
    return 1;
}

static void deliver(fl__mix *m, out_slot *o)
{
    ostream *st = stream_for(m, o->media, o->target);
    if (!st)
        return;
    st->age = 0;
    if (fl_pack_frame(st->pack, &(fl_pack_input){ o->b.data, o->b.len, o->key }) < 0)
        return;
    int i = fl__media_index(o->media);
    int marker;
    size_t n;
    /* for Sender Reports: the timestamp and the moment it stands for, the
     * tick it was made for, on the worker's clock */
    uint64_t mono = fl__mix_mono_ns();
    st->last_ts = o->ts;
    st->last_at =
            fl__clock_now(&m->w->loop) - (fl_time)(mono > o->at_ns ? (mono - o->at_ns) / 1000u : 0);
    /* the ports it goes to, chosen once for the frame's packets */
    fl__pad *to[MAX_PORTS];
    int nto = 0;
    for (int s = 0; s < MAX_PORTS; s++) {
        mport *p = m->ports[s];
        if (p && p->e->defaults[i] && shows(m, p, o->media, o->target))
            to[nto++] = p->e->defaults[i];
    }
    while ((n = fl_pack_next(st->pack, m->payload, sizeof(m->payload), &marker)) > 0) {
        if (o->media == FL_MEDIA_AUDIO)
            marker = !st->sent_any;
        st->sent_any = 1;
        fl_buf *b = fl_buf_pool_get(m->w->pool);
        if (!b)
            return;
        fl_rtp_header h = { .marker = (uint8_t)marker,
                            .payload_type = o->media == FL_MEDIA_VIDEO
                                                    ? (uint8_t)fmt_pt(TARGET_FMT(o->target))
                                                    : AUDIO_PT,
                            .seq = st->seq++,
                            .timestamp = o->ts,
                            .ssrc = st->ssrc };
        if (fl_rtp_buf_write(b, 64, &h, m->payload, n) == 0) {
            for (int k = 0; k < nto; k++)
                fl__pad_push(to[k], b);
        }
        fl_buf_unref(b);
    }
}

/* Asks the inputs in `slots`, and those still pending, for a key frame:
 * each at most every KEY_REPEAT_MS (the rest wait for the timer). */
static void ask_keys(fl__mix *m, uint32_t slots)
{
    uint64_t now = (uint64_t)(fl__clock_now(&m->w->loop) / FL_TIME_MS);
    m->keys_pending |= slots;
    for (int s = 0; s < MAX_PORTS; s++) {
        mport *p = m->ports[s];
        if (!((m->keys_pending >> s) & 1))
            continue;
        if (p && p->key_ms && now - p->key_ms < KEY_REPEAT_MS)
            continue; /* later */
        m->keys_pending &= ~(1u << s);
        if (!p)
            continue;
        p->key_ms = now;
        fl__pad *src = p->e->defaults[fl__media_index(FL_MEDIA_VIDEO)];
        if (src && src->twin)
            fl__pad_request_key_frame_upstream(src->twin, 0);
    }
}

static void on_async(uv_async_t *h)
{
    fl__mix *m = h->data;
    uint32_t want = atomic_exchange(&m->want_key, 0);
    if (want)
        ask_keys(m, want);
    unsigned tail = atomic_load_explicit(&m->out_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&m->out_head, memory_order_acquire);
    while (tail != head) {
        deliver(m, &m->out[tail % OUT_SLOTS]);
        tail++;
        atomic_store_explicit(&m->out_tail, tail, memory_order_release);
    }
}

/* A port whose every video viewer takes it through a transcoder to one
 * format (a viewer that does not take VP8) goes out in that format from
 * now on: the picture is then encoded once per format, for every port that
 * sends it, and those transcoders end (the viewers decide again). */
static void adopt_viewers_format(fl__mix *m, mport *p)
{
    fl__pad *src = p->e->defaults[fl__media_index(FL_MEDIA_VIDEO)];
    const fl_sdp_codec *want = NULL;
    for (size_t i = 0; src && i < src->nsinks; i++) {
        const fl_sdp_codec *c = src->sinks[i]->xc ? fl__xcode_caps(src->sinks[i]->xc) : NULL;
        if (!c || (want && fl_codec_kind_of(c->name) != fl_codec_kind_of(want->name)))
            return; /* a viewer takes what goes out, or they differ */
        want = c;
    }
    int f = want ? fmt_of(fl_codec_kind_of(want->name)) : -1;
    if (f < 0)
        return;
    p->vfmt = f;
    p->vcaps = *want;
    p->vcaps.pt = (uint8_t)fmt_pt(f); /* ours: the viewer maps it to its own */
    p->vcaps.rtx_pt = -1;
    fl__worker_caps_changed(m->w);
    /* a key frame in the new format now, and again a little later: the
     * packet that makes a viewer change its route is not delivered */
    atomic_store(&m->force_key, 1);
    m->key_later = 2;
}

/* The layout again (links come and go without a word to the hub), key
 * frames the decoders want, and the encoders' bitrate: the least the
 * ports' viewers can take. */
static void on_timer(uv_timer_t *t)
{
    fl__mix *m = t->data;
    if (m->key_later && --m->key_later == 0)
        atomic_store(&m->force_key, 1);
    for (int s = 0; s < MAX_PORTS; s++) {
        if (m->ports[s])
            adopt_viewers_format(m, m->ports[s]);
    }
    relayout(m);
    ask_keys(m, atomic_exchange(&m->want_key, 0));
    uint64_t least = 0;
    for (int s = 0; s < MAX_PORTS; s++) {
        mport *p = m->ports[s];
        fl__pad *src = p ? p->e->defaults[fl__media_index(FL_MEDIA_VIDEO)] : NULL;
        uint64_t b = src ? fl__pad_downstream_bitrate(src) : 0;
        if (b && (!least || b < least))
            least = b;
    }
    int kbps = least ? (int)(least / 1000) : 1000;
    atomic_store(&m->kbps, kbps < 100 ? 100 : kbps > 4000 ? 4000 : kbps);
    for (size_t i = 0; i < sizeof(m->os) / sizeof(m->os[0]); i++) {
        ostream *o = &m->os[i];
        if (o->used && ++o->age > 50) { /* 5 s unused: its picture or mix is gone */
            fl_pack_destroy(o->pack);
            memset(o, 0, sizeof(*o));
        }
    }
}

/* The mixer's thread and handles, at the first port. Each part is made
 * once: after a failure, the next port tries what is left, and the hub's
 * end closes what was made. */
static int mix_start(fl__mix *m)
{
    if (m->started)
        return 0;
    if (!m->tp && !(m->tp = calloc(MAX_PORTS, sizeof(tport))))
        return FL_ENOMEM;
    if (!m->closing) {
        if (uv_async_init(&m->w->loop, &m->async, on_async) != 0)
            return FL_EIO;
        m->async.data = m;
        m->closing++;
        uv_timer_init(&m->w->loop, &m->timer);
        m->timer.data = m;
        m->closing++;
        uv_timer_start(&m->timer, on_timer, TIMER_MS, TIMER_MS);
        atomic_store(&m->kbps, 1000);
        fl_rand *r = fl__clock_rand(&m->w->loop);
        m->audio_ts = fl_rand_u32(r);
        m->video_ts0 = fl_rand_u32(r);
    }
    relayout(m);
    if (uv_thread_create(&m->thread, fl__mix_thread_main, m) != 0)
        return FL_EIO;
    m->started = 1;
    fl_log(FL_LOG_DEBUG, "%s %s: mixing at %dx%d, %d fps", m->e->type->name, m->e->name, m->width,
           m->height, m->fps);
    return 0;
}

void *fl__mix_join(fl__mix *m, fl_element *port_e)
{
    int slot = -1;
    for (int s = 0; s < MAX_PORTS && slot < 0; s++) {
        if (!m->ports[s])
            slot = s;
    }
    if (slot < 0) {
        char why[160];
        snprintf(why, sizeof(why), "%s mixes at most %d HubPorts: this one is in no hub",
                 m->e->type->name, MAX_PORTS);
        fl_log(FL_LOG_WARN, "%s: %s", m->e->name, why);
        fl_event ev = { .type = FL_EVENT_ERROR,
                        .error = { .type = "NOT_ENOUGH_RESOURCES", .description = why } };
        fl__element_raise(port_e, &ev);
        return NULL;
    }
    if (mix_start(m) < 0)
        return NULL;
    mport *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->m = m;
    p->e = port_e;
    p->slot = slot;
    p->gen = ++m->gens[slot];
    p->video_from = -1;
    p->vfmt = FMT_VP8;
    p->vcaps = vp8_caps;
    m->ports[slot] = p;
    m->order[m->norder++] = (uint8_t)slot;
    m->sent.place[slot].set = 0;
    relayout(m);
    return p;
}

void fl__mix_leave(fl__mix *m, void *mp)
{
    mport *p = mp;
    if (!p)
        return;
    int s = p->slot;
    m->ports[s] = NULL;
    for (int k = 0, j = 0; k < m->norder; k++) {
        if (m->order[k] != s)
            m->order[j++] = m->order[k];
    }
    m->norder--;
    if (m->master == s)
        m->master = -1;
    for (int q = 0; q < MAX_PORTS; q++) {
        mport *o = m->ports[q];
        if (o) {
            o->audio_from &= ~(1u << s);
            if (o->video_from == s)
                o->video_from = -1;
        }
    }
    m->sent.place[s].set = 0;
    for (int i = 0; i < 2; i++)
        fl_depack_destroy(p->depack[i]);
    free(p);
    relayout(m);
}

/* The input's format for a sink of the port (caps from upstream): its
 * depacketizer. 0 when nothing can be decoded. */
static int input_format(fl__mix *m, mport *p, fl__pad *sink, int i)
{
    if (p->caps_gen == m->w->graph_gen && (p->depack[0] || p->depack[1]))
        return p->depack[i] != NULL;
    p->caps_gen = m->w->graph_gen;
    for (int k = 0; k < 2; k++) {
        fl__pad *src = p->e->defaults[k];
        fl__pad *s = src ? src->twin : NULL;
        const fl_sdp_codec *in = s && s->src ? fl__pad_caps(s) : NULL;
        fl_codec_kind kind = in ? fl_codec_kind_of(in->name) : FL_CODEC_OTHER;
        if (kind == p->kind[k] && p->depack[k])
            continue;
        fl_depack_destroy(p->depack[k]);
        p->depack[k] = NULL;
        p->kind[k] = kind;
        int ok = k == 1 ? fl_codec_kind_is_video(kind)
                        : kind == FL_CODEC_OPUS || kind == FL_CODEC_PCMU || kind == FL_CODEC_PCMA;
        fl_depack_config dc = { .codec = kind,
                                .clock_rate = in ? in->clock_rate : 0,
                                .fmtp = in ? in->fmtp : NULL };
        if (ok && fl_depack_create(&p->depack[k], &dc) == 0) {
            p->pt[k] = in->pt;
            p->rate[k] = in->clock_rate;
        }
    }
    (void)sink;
    return p->depack[i] != NULL;
}

void fl__mix_input(fl__mix *m, void *mp, fl__pad *sink, fl_buf *buf)
{
    mport *p = mp;
    int i = fl__media_index(sink->media);
    if (!p || i < 0 || i > 1 || !buf->rtp.parsed || !input_format(m, p, sink, i) ||
        buf->rtp.payload_type != p->pt[i])
        return;
    fl_depack_packet dp = { .payload = fl_buf_data(buf) + buf->rtp.payload_off,
                            .len = buf->rtp.payload_len,
                            .seq = buf->rtp.seq,
                            .ts = buf->rtp.timestamp,
                            .marker = buf->rtp.marker };
    fl_depack_push(p->depack[i], &dp);
    fl_frame f;
    while (fl_depack_pull(p->depack[i], &f) == 1) {
        m->frames_in++;
        unsigned head = atomic_load_explicit(&m->in_head, memory_order_relaxed);
        unsigned tail = atomic_load_explicit(&m->in_tail, memory_order_acquire);
        in_slot *s = &m->in[head % IN_SLOTS];
        fl_bytes_clear(&s->b);
        if (head - tail >= IN_SLOTS || fl_bytes_append(&s->b, f.data, f.len) < 0) {
            m->dropped_in++; /* the thread is far behind: the decoder needs a key frame */
            if (i == 1)
                atomic_fetch_or(&m->want_key, 1u << p->slot);
            continue;
        }
        s->type = i == 1 ? IN_VIDEO : IN_AUDIO;
        s->port = p->slot;
        s->gen = p->gen;
        s->kind = p->kind[i];
        s->rate = p->rate[i];
        atomic_store_explicit(&m->in_head, head + 1, memory_order_release);
    }
    if (i == 1 && fl_depack_wants_key(p->depack[i]))
        ask_keys(m, 1u << p->slot);
}

const fl_sdp_codec *fl__mix_caps(fl__mix *m, void *mp, unsigned media)
{
    (void)m;
    const mport *p = mp;
    if (media == FL_MEDIA_VIDEO)
        return p ? &p->vcaps : &vp8_caps;
    return media == FL_MEDIA_AUDIO ? &opus_caps : NULL;
}

void fl__mix_key_frame(fl__mix *m, void *mp, unsigned media)
{
    (void)mp;
    if (media == FL_MEDIA_VIDEO)
        atomic_store(&m->force_key, 1);
}

int fl__mix_sender_report(fl__mix *m,
                          void *mp,
                          unsigned media,
                          uint32_t ssrc,
                          uint32_t *rtp_ts,
                          fl_time *sent)
{
    (void)mp;
    for (size_t i = 0; i < sizeof(m->os) / sizeof(m->os[0]); i++) {
        const ostream *o = &m->os[i];
        if (!o->used || o->media != media || o->ssrc != ssrc || !o->sent_any)
            continue;
        fl_time now = fl__clock_now(&m->w->loop);
        uint64_t rate = media == FL_MEDIA_VIDEO ? 90000 : ARATE;
        *rtp_ts = o->last_ts + (uint32_t)((uint64_t)(now - o->last_at) * rate / FL_TIME_SEC);
        *sent = now;
        return 0;
    }
    return FL_ENOENT;
}

/* ---- the hub elements ---- */

enum {
    MIX_SET_MASTER,
    MIX_SET_PORT_PROPERTIES,
    MIX_CONNECT,
    MIX_DISCONNECT
};

static const fl__method no_methods[] = {
    { NULL, 0, 0, 0 },
};

static const fl__method alpha_methods[] = {
    { "setMaster", MIX_SET_MASTER, 2, 2 },
    { "setPortProperties", MIX_SET_PORT_PROPERTIES, 6, 6 },
    { NULL, 0, 0, 0 },
};

static const fl__method mixer_methods[] = {
    { "connect", MIX_CONNECT, 3, 3 },
    { "disconnect", MIX_DISCONNECT, 3, 3 },
    { NULL, 0, 0, 0 },
};

extern const fl__element_type fl__composite_type;
extern const fl__element_type fl__alpha_blending_type;
extern const fl__element_type fl__mixer_type;

static int mix_init(fl_element *e)
{
    fl__mix *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    m->e = e;
    m->w = e->worker;
    m->kind = e->type == &fl__composite_type        ? COMPOSITE
              : e->type == &fl__alpha_blending_type ? ALPHA
                                                    : MIXER;
    m->width = 800; /* Composite's defaults (kmd) */
    m->height = 600;
    m->fps = m->kind == COMPOSITE ? 15 : 30;
    m->master = -1;
    if (!(m->hub = fl__hub_create(e, m))) {
        free(m);
        return FL_ENOMEM;
    }
    e->impl = m->hub;
    return 0;
}

static void mix_fini(fl_element *e)
{
    fl__hub *h = e->impl;
    if (!h)
        return;
    fl__mix *m = fl__hub_mix(h);
    fl__hub_destroy(h); /* its ports leave */
    e->impl = NULL;
    if (!m->closing) {
        free_mix(m); /* never started */
        return;
    }
    if (m->started) {
        atomic_store(&m->stop, 1);
        uv_thread_join(&m->thread);
    }
    fl_log(FL_LOG_INFO,
           "%s %s ends: %llu frames in, %llu decoded, %llu pictures composed, %llu frames "
           "encoded, %llu late ticks",
           e->type->name, e->name, (unsigned long long)m->frames_in,
           (unsigned long long)atomic_load(&m->decoded),
           (unsigned long long)atomic_load(&m->composed),
           (unsigned long long)atomic_load(&m->encoded),
           (unsigned long long)atomic_load(&m->late_ticks));
    uv_close((uv_handle_t *)&m->async, on_closed);
    uv_close((uv_handle_t *)&m->timer, on_closed);
}

/* Media reaches a hub through its ports, never its own pads. */
static void mix_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    (void)sink;
    fl_buf_unref(buf);
}

static int int_arg(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || n < lo || n > hi)
        return FL_EINVAL;
    *out = (int)n;
    return 0;
}

static int float_arg(const char *v, float lo, float hi, float *out)
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(d >= lo && d <= hi))
        return FL_EINVAL;
    *out = (float)d;
    return 0;
}

/* Composite's constructor properties: the field, its range. */
static int *composite_field(fl__mix *m, const char *name, int *lo, int *hi)
{
    *lo = 16;
    *hi = 4096;
    if (m->kind != COMPOSITE)
        return NULL;
    if (strcmp(name, "width") == 0)
        return &m->width;
    if (strcmp(name, "height") == 0)
        return &m->height;
    *lo = 1;
    *hi = 60;
    return strcmp(name, "framerate") == 0 ? &m->fps : NULL;
}

static int mix_set_property(fl_element *e, const char *name, const char *value)
{
    fl__mix *m = fl__hub_mix(e->impl);
    int lo, hi, v;
    int *field = composite_field(m, name, &lo, &hi);
    if (!field)
        return FL_ENOTSUP;
    if (m->started)
        return FL_ESTATE; /* the constructor's: mixing has started */
    if (int_arg(value, lo, hi, &v) < 0)
        return FL_EINVAL;
    *field = field == &m->fps ? v : v & ~1;
    return 0;
}

static int mix_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    int lo, hi;
    const int *field = composite_field(fl__hub_mix(e->impl), name, &lo, &hi);
    if (!field)
        return FL_ENOTSUP;
    snprintf(out, cap, "%d", *field);
    return 0;
}

static mport *named_port(fl__mix *m, const char *name, fl__invocation *inv)
{
    fl_element *pe = fl__hub_port_named(m->hub, name, inv);
    return pe ? fl__hub_port_mix(pe) : NULL;
}

static int media_arg(const char *v, unsigned *out, fl__invocation *inv)
{
    if (v && strcmp(v, "AUDIO") == 0)
        *out = FL_MEDIA_AUDIO;
    else if (v && strcmp(v, "VIDEO") == 0)
        *out = FL_MEDIA_VIDEO;
    else {
        snprintf(inv->why, sizeof(inv->why), "media must be AUDIO or VIDEO, not '%.100s'",
                 v ? v : "");
        return FL_EINVAL;
    }
    return 0;
}

static int mix_invoke(fl_element *e, fl__invocation *inv)
{
    fl__mix *m = fl__hub_mix(e->impl);
    const char *const *a = inv->args;
    mport *p, *q;
    unsigned media;
    int z;
    float x, y, w, h;
    switch (inv->method->id) {
    case MIX_SET_MASTER:
        if (!(p = named_port(m, a[0], inv)))
            return FL_EINVAL;
        if (int_arg(a[1], -1000000, 1000000, &z) < 0) {
            snprintf(inv->why, sizeof(inv->why), "zOrder must be an integer");
            return FL_EINVAL;
        }
        m->master = p->slot;
        m->master_z = z;
        break;
    case MIX_SET_PORT_PROPERTIES:
        if (float_arg(a[0], 0, 1, &x) < 0 || float_arg(a[1], 0, 1, &y) < 0 ||
            int_arg(a[2], -1000000, 1000000, &z) < 0 || float_arg(a[3], 0, 1, &w) < 0 ||
            float_arg(a[4], 0, 1, &h) < 0) {
            snprintf(inv->why, sizeof(inv->why),
                     "relativeX, relativeY, relativeWidth and relativeHeight must be numbers "
                     "from 0 to 1, zOrder an integer");
            return FL_EINVAL;
        }
        if (!(p = named_port(m, a[5], inv)))
            return FL_EINVAL;
        m->sent.place[p->slot].x = x;
        m->sent.place[p->slot].y = y;
        m->sent.place[p->slot].w = w;
        m->sent.place[p->slot].h = h;
        m->sent.place[p->slot].z = z;
        m->sent.place[p->slot].set = 1;
        m->sent_valid = 0; /* sent again */
        break;
    case MIX_CONNECT:
    case MIX_DISCONNECT:
        if (media_arg(a[0], &media, inv) < 0 || !(p = named_port(m, a[1], inv)) ||
            !(q = named_port(m, a[2], inv)))
            return FL_EINVAL;
        if (inv->method->id == MIX_CONNECT) {
            if (media == FL_MEDIA_AUDIO)
                q->audio_from |= 1u << p->slot;
            else
                q->video_from = p->slot;
        } else if (media == FL_MEDIA_AUDIO) {
            q->audio_from &= ~(1u << p->slot);
        } else if (q->video_from == p->slot) {
            q->video_from = -1;
        }
        if (media == FL_MEDIA_VIDEO)
            atomic_store(&m->force_key, 1);
        break;
    default:
        return FL_ENOTSUP;
    }
    relayout(m);
    return 0;
}

void fl__mix_stats(fl__mix *m, fl__stats_out *out)
{
    fl_stats *s = fl__stats_add(out, FL_STATS_MIXER);
    if (!s)
        return;
    int n = 0;
    for (int i = 0; i < MAX_PORTS; i++)
        n += m->ports[i] != NULL;
    s->mixer = (fl_stats_mixer){
        .ports = n,
        .frames_in = (int64_t)m->frames_in,
        .frames_decoded = (int64_t)atomic_load(&m->decoded),
        .decode_errors = (int64_t)atomic_load(&m->decode_errors),
        .frames_dropped = (int64_t)(m->dropped_in + atomic_load(&m->dropped_out)),
        .pictures_composed = (int64_t)atomic_load(&m->composed),
        .frames_encoded = (int64_t)atomic_load(&m->encoded),
        .late_ticks = (int64_t)atomic_load(&m->late_ticks),
        .cpu_us = (int64_t)atomic_load(&m->cpu_us),
    };
}

static void mix_stats(fl_element *e, unsigned media, fl__stats_out *out)
{
    (void)media;
    fl__mix_stats(fl__hub_mix(e->impl), out);
}

/* The mixer's figures: what it decoded, composed and encoded. */
static void mix_dot(const fl_element *e,
                    void (*out)(void *arg, const char *fmt, ...)
                            __attribute__((format(printf, 2, 3))),
                    void *arg)
{
    fl__mix *m = fl__hub_mix(e->impl);
    out(arg,
        "  mixer_%llu [label=\"%s %dx%d@%d\\n%llu frames in, %llu decoded, %llu composed, "
        "%llu encoded, %llu late ticks\", shape=ellipse];\n",
        (unsigned long long)e->id,
        m->kind == COMPOSITE ? "grid"
        : m->kind == ALPHA   ? "blend"
                             : "mix",
        m->width, m->height, m->fps, (unsigned long long)m->frames_in,
        (unsigned long long)atomic_load(&m->decoded), (unsigned long long)atomic_load(&m->composed),
        (unsigned long long)atomic_load(&m->encoded),
        (unsigned long long)atomic_load(&m->late_ticks));
    out(arg, "  e%llu -> mixer_%llu [style=dotted, arrowhead=none];\n", (unsigned long long)e->id,
        (unsigned long long)e->id);
}

#define MIX_TYPE(var, type_name, meths)   \
    const fl__element_type var = {        \
        .name = type_name,                \
        .receive = mix_receive,           \
        .init = mix_init,                 \
        .fini = mix_fini,                 \
        .set_property = mix_set_property, \
        .get_property = mix_get_property, \
        .methods = meths,                 \
        .invoke = mix_invoke,             \
        .dot = mix_dot,                   \
        .stats = mix_stats,               \
        .hub = 1,                         \
    }

MIX_TYPE(fl__composite_type, FL_ELEMENT_COMPOSITE, no_methods);
MIX_TYPE(fl__alpha_blending_type, FL_ELEMENT_ALPHA_BLENDING, alpha_methods);
MIX_TYPE(fl__mixer_type, FL_ELEMENT_MIXER, mixer_methods);
