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
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/compose.h"
#include "engine/hub.h"
#include "engine/sim.h"
#include "net/rtp.h"

FL_LOG_TAG("mix");

#define MAX_PORTS     24
#define IN_SLOTS      256 /* input frames and layout changes waiting for the thread */
#define OUT_SLOTS     128 /* encoded frames waiting for the worker */
#define AFRAME        960 /* samples of one 20 ms mono frame at 48 kHz */
#define ARATE         48000
#define FIFO_CAP      (ARATE / 2)   /* 500 ms of an input's decoded audio */
#define FIFO_PRIME    (3 * AFRAME)  /* an input is mixed once 60 ms wait */
#define FIFO_KEEP     (10 * AFRAME) /* over 200 ms waiting: the oldest go */
#define MAX_PAYLOAD   1200
#define KEY_REPEAT_MS 500
#define TIMER_MS      100
#define ALL_BUT       0x80000000u /* an audio key: every input but (key & 0xff) */
#define NOBODY        0xffu
#define VIDEO_PT      96
#define AUDIO_PT      111

typedef enum {
    COMPOSITE,
    ALPHA,
    MIXER
} mix_kind;

/* The layout, as the worker decides it; the thread works from a copy. */
typedef struct layout {
    uint32_t present;         /* slots of ports in the hub */
    uint32_t input;           /* slots whose port takes something in (the grid's) */
    uint8_t order[MAX_PORTS]; /* slots in the order they joined */
    int norder;
    uint32_t akey[MAX_PORTS]; /* what each port hears: ALL_BUT | slot, or a mask of inputs */
    int8_t vfrom[MAX_PORTS];  /* Mixer: the video source each port shows; -1 none */
    int master, master_z;     /* AlphaBlending: -1 none */

    struct {
        float x, y, w, h;
        int z, set;
    } place[MAX_PORTS];
} layout;

enum {
    IN_AUDIO,
    IN_VIDEO,
    IN_LAYOUT
};

typedef struct in_slot {
    int type;
    int port;
    unsigned gen; /* the port's: a new port in the slot starts its codecs afresh */
    fl_codec_kind kind;
    uint32_t rate; /* audio: the input's clock */
    fl_bytes b;
    layout lay;
} in_slot;

typedef struct out_slot {
    unsigned media;
    uint32_t target; /* video: the picture (0, or a Mixer source's slot); audio: the key */
    uint32_t ts;
    int key;
    fl_bytes b;
} out_slot;

/* A port, on the worker. */
typedef struct mport {
    fl__mix *m;
    fl_element *e;
    int slot;
    unsigned gen;
    fl_depack *depack[2]; /* audio, video */
    fl_codec_kind kind[2];
    int pt[2];
    uint32_t rate[2];
    uint64_t caps_gen;
    uint64_t key_ms;
    /* Mixer */
    uint32_t audio_from;
    int video_from;
} mport;

/* An output stream, on the worker: what one picture or mix is sent as. */
typedef struct ostream {
    int used;
    unsigned media;
    uint32_t target;
    uint32_t ssrc;
    uint16_t seq;
    int sent_any;
    fl_pack *pack;
    uint32_t last_ts; /* the last frame's timestamp, and when it went (Sender Reports) */
    fl_time last_at;
    uint64_t age; /* ticks of the timer it went unused */
} ostream;

/* A port's slot, on the thread. */
typedef struct tport {
    unsigned gen;
    fl_vdec *vdec;
    fl_codec_kind vkind;
    fl_picture pic;
    int has_pic;
    fl_adec *adec;
    fl_codec_kind akind;
    fl_resampler *rs;
    int arate;
    int16_t fifo[FIFO_CAP];
    size_t fifo_len;
    int primed;
    int16_t cur[AFRAME];
    int has_cur;
} tport;

typedef struct aenc {
    uint32_t key;
    fl_aenc *enc;
    int used; /* this tick */
    int idle; /* ticks unused */
} aenc;

typedef struct canvas {
    uint32_t target;
    fl_picture pic;
    fl_venc *enc;
    int used, idle;
} canvas;

struct fl__mix {
    fl_element *e;
    fl__worker *w;
    fl__hub *hub;
    mix_kind kind;
    int width, height, fps; /* Composite's constructor; AlphaBlending/Mixer: fps */
    /* worker */
    mport *ports[MAX_PORTS];
    unsigned gens[MAX_PORTS];
    uint64_t joins;
    uint8_t order[MAX_PORTS];
    int norder;
    int master, master_z;
    layout sent;
    int sent_valid;
    int started;
    uv_async_t async;
    uv_timer_t timer;
    int closing;
    ostream os[2 * MAX_PORTS + 2];
    uint8_t payload[MAX_PAYLOAD];
    uint64_t frames_in, dropped_in;
    /* shared */
    in_slot in[IN_SLOTS];
    out_slot out[OUT_SLOTS];
    atomic_uint in_head, in_tail, out_head, out_tail;
    atomic_uint want_key; /* slots whose decoder needs a key frame */
    atomic_int force_key; /* the encoders make a key frame next */
    atomic_int kbps;
    atomic_int stop;
    atomic_uint_fast64_t composed, encoded, decoded, late_ticks, dropped_out, decode_errors;
    atomic_int_fast64_t cpu_us; /* the thread's CPU time, refreshed every tick */
    /* thread */
    uv_thread_t thread;
    layout lay;
    tport *tp; /* MAX_PORTS */
    aenc aencs[2 * MAX_PORTS + 2];
    canvas canvases[MAX_PORTS];
    int32_t acc[AFRAME];
    int16_t amix[AFRAME];
    int16_t dec[FL_AUDIO_MAX_FRAME * 2];
    int16_t res[FL_AUDIO_MAX_FRAME * 7];
    uint32_t audio_ts;
    uint64_t start_ns;
    int venc_kbps;
};

static const fl_sdp_codec vp8_caps = { .pt = VIDEO_PT, .name = "VP8", .clock_rate = 90000 };
static const fl_sdp_codec opus_caps = { .pt = AUDIO_PT,
                                        .name = "opus",
                                        .clock_rate = ARATE,
                                        .channels = 2 };

static int mix_start(fl__mix *m);

/* ---- the thread ---- */

static void tport_reset(tport *t, unsigned gen)
{
    fl_vdec_destroy(t->vdec);
    fl_adec_destroy(t->adec);
    fl_resampler_destroy(t->rs);
    fl_picture_free(&t->pic);
    t->vdec = NULL;
    t->adec = NULL;
    t->rs = NULL;
    t->has_pic = 0;
    t->fifo_len = 0;
    t->primed = 0;
    t->has_cur = 0;
    t->vkind = t->akind = FL_CODEC_OTHER;
    t->gen = gen;
}

static void want_key(fl__mix *m, int slot)
{
    atomic_fetch_or(&m->want_key, 1u << slot);
}

static void take_video(fl__mix *m, tport *t, in_slot *s)
{
    if (!t->vdec || t->vkind != s->kind) {
        fl_vdec_destroy(t->vdec);
        t->vdec = NULL;
        t->vkind = s->kind;
        if (fl_vdec_create(&t->vdec, s->kind) < 0)
            return;
    }
    fl_picture view;
    int rc = fl_vdec_decode(t->vdec, s->b.data, s->b.len, &view);
    if (rc < 0) {
        atomic_fetch_add(&m->decode_errors, 1);
        want_key(m, s->port);
        return;
    }
    if (rc == 0)
        return;
    atomic_fetch_add(&m->decoded, 1);
    if (t->pic.width != view.width || t->pic.height != view.height) {
        fl_picture_free(&t->pic);
        if (fl_picture_alloc(&t->pic, view.width, view.height) < 0)
            return;
    }
    t->has_pic = fl_picture_scale(&view, &t->pic) == 0;
}

static void fifo_put(tport *t, const int16_t *pcm, size_t n)
{
    if (n > FIFO_CAP)
        n = FIFO_CAP;
    if (t->fifo_len + n > FIFO_CAP) {
        size_t drop = t->fifo_len + n - FIFO_CAP;
        memmove(t->fifo, t->fifo + drop, (t->fifo_len - drop) * sizeof(int16_t));
        t->fifo_len -= drop;
    }
    memcpy(t->fifo + t->fifo_len, pcm, n * sizeof(int16_t));
    t->fifo_len += n;
}

static void take_audio(fl__mix *m, tport *t, in_slot *s)
{
    if (!t->adec || t->akind != s->kind) {
        fl_adec_destroy(t->adec);
        fl_resampler_destroy(t->rs);
        t->adec = NULL;
        t->rs = NULL;
        t->akind = s->kind;
        if (fl_adec_create(&t->adec, s->kind, 1) < 0)
            return;
        t->arate = fl_adec_rate(t->adec);
        if (t->arate != ARATE && fl_resampler_create(&t->rs, t->arate, ARATE, 1) < 0) {
            fl_adec_destroy(t->adec);
            t->adec = NULL;
            return;
        }
    }
    int n = fl_adec_decode(t->adec, s->b.data, s->b.len, m->dec, FL_AUDIO_MAX_FRAME);
    if (n <= 0) {
        atomic_fetch_add(&m->decode_errors, 1);
        return;
    }
    atomic_fetch_add(&m->decoded, 1);
    if (t->rs) {
        size_t k =
                fl_resample(t->rs, m->dec, (size_t)n, m->res, sizeof(m->res) / sizeof(m->res[0]));
        fifo_put(t, m->res, k);
    } else {
        fifo_put(t, m->dec, (size_t)n);
    }
}

static void drain_inputs(fl__mix *m)
{
    unsigned tail = atomic_load_explicit(&m->in_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&m->in_head, memory_order_acquire);
    while (tail != head) {
        in_slot *s = &m->in[tail % IN_SLOTS];
        if (s->type == IN_LAYOUT) {
            m->lay = s->lay;
        } else {
            tport *t = &m->tp[s->port];
            if (t->gen != s->gen)
                tport_reset(t, s->gen);
            if (s->type == IN_VIDEO)
                take_video(m, t, s);
            else
                take_audio(m, t, s);
        }
        tail++;
        atomic_store_explicit(&m->in_tail, tail, memory_order_release);
        if (tail == head)
            head = atomic_load_explicit(&m->in_head, memory_order_acquire);
    }
}

/* Hands an encoded frame to the worker; 0 when the ring is full. */
static int put_out(fl__mix *m,
                   unsigned media,
                   uint32_t target,
                   const void *data,
                   size_t len,
                   uint32_t ts,
                   int key)
{
    unsigned head = atomic_load_explicit(&m->out_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&m->out_tail, memory_order_acquire);
    out_slot *o = &m->out[head % OUT_SLOTS];
    fl_bytes_clear(&o->b);
    if (head - tail >= OUT_SLOTS || fl_bytes_append(&o->b, data, len) < 0) {
        atomic_fetch_add(&m->dropped_out, 1);
        if (media == FL_MEDIA_VIDEO)
            atomic_store(&m->force_key, 1); /* the viewers lost a frame */
        return 0;
    }
    o->media = media;
    o->target = target;
    o->ts = ts;
    o->key = key;
    atomic_store_explicit(&m->out_head, head + 1, memory_order_release);
    return 1;
}

/* The slot's 20 ms of audio this tick, when it is being mixed. */
static void pull_audio(tport *t)
{
    t->has_cur = 0;
    if (!t->adec)
        return;
    if (!t->primed) {
        if (t->fifo_len < FIFO_PRIME)
            return;
        t->primed = 1;
    }
    if (t->fifo_len > FIFO_KEEP) { /* the input's clock runs ahead: catch up */
        size_t drop = t->fifo_len - FIFO_PRIME;
        memmove(t->fifo, t->fifo + drop, (t->fifo_len - drop) * sizeof(int16_t));
        t->fifo_len -= drop;
    }
    size_t n = t->fifo_len < AFRAME ? t->fifo_len : AFRAME;
    memcpy(t->cur, t->fifo, n * sizeof(int16_t));
    memset(t->cur + n, 0, (AFRAME - n) * sizeof(int16_t));
    memmove(t->fifo, t->fifo + n, (t->fifo_len - n) * sizeof(int16_t));
    t->fifo_len -= n;
    t->has_cur = 1;
    if (n < AFRAME)
        t->primed = 0; /* it ran dry: wait for 60 ms again */
}

static aenc *aenc_for(fl__mix *m, uint32_t key)
{
    aenc *free_one = NULL;
    for (size_t i = 0; i < sizeof(m->aencs) / sizeof(m->aencs[0]); i++) {
        aenc *a = &m->aencs[i];
        if (a->enc && a->key == key)
            return a;
        if (!a->enc && !free_one)
            free_one = a;
    }
    if (!free_one)
        return NULL;
    fl_aenc_config c = { .kind = FL_CODEC_OPUS, .channels = 1, .kbps = 32 };
    if (fl_aenc_create(&free_one->enc, &c) < 0)
        return NULL;
    free_one->key = key;
    free_one->idle = 0;
    return free_one;
}

static void audio_tick(fl__mix *m)
{
    const layout *l = &m->lay;
    memset(m->acc, 0, sizeof(m->acc));
    for (int s = 0; s < MAX_PORTS; s++) {
        tport *t = &m->tp[s];
        if (!(l->present & (1u << s))) {
            t->has_cur = 0;
            continue;
        }
        pull_audio(t);
        if (t->has_cur)
            fl_pcm_accumulate(m->acc, t->cur, AFRAME);
    }
    for (size_t i = 0; i < sizeof(m->aencs) / sizeof(m->aencs[0]); i++)
        m->aencs[i].used = 0;
    for (int p = 0; p < MAX_PORTS; p++) {
        uint32_t key = l->akey[p];
        if (!(l->present & (1u << p)) || !key)
            continue;
        aenc *a = aenc_for(m, key);
        if (!a || a->used)
            continue; /* made already for a port that hears the same */
        a->used = 1;
        a->idle = 0;
        if (key & ALL_BUT) {
            int ex = (int)(key & 0xff);
            const int16_t *own = ex < MAX_PORTS && m->tp[ex].has_cur ? m->tp[ex].cur : NULL;
            fl_pcm_mix_minus(m->acc, own, m->amix, AFRAME);
        } else {
            int32_t *acc = m->acc; /* reused: the full mix is not needed again for a mask */
            int32_t sum[AFRAME];
            memset(sum, 0, sizeof(sum));
            for (int s = 0; s < MAX_PORTS; s++) {
                if ((key & (1u << s)) && m->tp[s].has_cur)
                    fl_pcm_accumulate(sum, m->tp[s].cur, AFRAME);
            }
            (void)acc;
            fl_pcm_mix_minus(sum, NULL, m->amix, AFRAME);
        }
        uint8_t out[1275];
        int n = fl_aenc_encode(a->enc, m->amix, out, sizeof(out));
        if (n > 0 && put_out(m, FL_MEDIA_AUDIO, key, out, (size_t)n, m->audio_ts, 1))
            atomic_fetch_add(&m->encoded, 1);
    }
    for (size_t i = 0; i < sizeof(m->aencs) / sizeof(m->aencs[0]); i++) {
        aenc *a = &m->aencs[i];
        if (a->enc && !a->used && ++a->idle > 50) {
            fl_aenc_destroy(a->enc);
            a->enc = NULL;
        }
    }
    m->audio_ts += AFRAME;
}

static canvas *canvas_for(fl__mix *m, uint32_t target, int width, int height)
{
    canvas *c = NULL, *free_one = NULL;
    for (int i = 0; i < MAX_PORTS && !c; i++) {
        if (m->canvases[i].pic.width && m->canvases[i].target == target)
            c = &m->canvases[i];
        else if (!m->canvases[i].pic.width && !free_one)
            free_one = &m->canvases[i];
    }
    width &= ~1;
    height &= ~1;
    if (width < 16 || height < 16)
        return NULL;
    if (c && (c->pic.width != width || c->pic.height != height)) {
        fl_venc_destroy(c->enc);
        c->enc = NULL;
        fl_picture_free(&c->pic);
        free_one = c;
        c = NULL;
    }
    if (!c) {
        if (!free_one || fl_picture_alloc(&free_one->pic, width, height) < 0)
            return NULL;
        c = free_one;
        c->target = target;
        c->idle = 0;
    }
    if (!c->enc) {
        fl_venc_config vc = { .kind = FL_CODEC_VP8,
                              .width = width,
                              .height = height,
                              .fps = m->fps,
                              .kbps = atomic_load(&m->kbps) };
        if (fl_venc_create(&c->enc, &vc) < 0)
            return NULL;
        m->venc_kbps = vc.kbps;
    }
    return c;
}

static void draw(const fl_picture *src, fl_picture *dst, const fl_rect *box, int fit)
{
    fl_rect r = *box;
    if (fit)
        fl_rect_fit(src->width, src->height, box, &r);
    fl_picture view;
    if (fl_picture_view(dst, &r, &view) == 0)
        fl_picture_scale(src, &view);
}

static void compose_grid(fl__mix *m, canvas *c)
{
    const layout *l = &m->lay;
    fl_rect all = { 0, 0, c->pic.width, c->pic.height };
    fl_picture_fill(&c->pic, &all, FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV);
    int n = 0;
    for (int k = 0; k < l->norder; k++)
        n += (l->input >> l->order[k]) & 1;
    int i = 0;
    for (int k = 0; k < l->norder; k++) {
        int s = l->order[k];
        if (!((l->input >> s) & 1))
            continue;
        fl_rect cell;
        fl_grid_cell(n, i++, c->pic.width, c->pic.height, &cell);
        if (m->tp[s].has_pic)
            draw(&m->tp[s].pic, &c->pic, &cell, 1);
    }
}

static void compose_alpha(fl__mix *m, canvas *c)
{
    const layout *l = &m->lay;
    int order[MAX_PORTS + 1], n = 0;
    for (int k = 0; k < l->norder; k++) {
        int s = l->order[k];
        if (s == l->master || (l->place[s].set && m->tp[s].has_pic))
            order[n++] = s;
    }
    /* by zOrder, the earlier joined first among equals (insertion sort: a
     * handful of ports) */
    for (int i = 1; i < n; i++) {
        int s = order[i], z = s == l->master ? l->master_z : l->place[s].z, j = i - 1;
        while (j >= 0 && (order[j] == l->master ? l->master_z : l->place[order[j]].z) > z) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = s;
    }
    fl_rect all = { 0, 0, c->pic.width, c->pic.height };
    fl_picture_fill(&c->pic, &all, FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV);
    for (int i = 0; i < n; i++) {
        int s = order[i];
        if (!m->tp[s].has_pic)
            continue;
        if (s == l->master) {
            draw(&m->tp[s].pic, &c->pic, &all, 0);
            continue;
        }
        fl_rect r;
        fl_rect_relative(l->place[s].x, l->place[s].y, l->place[s].w, l->place[s].h, c->pic.width,
                         c->pic.height, &r);
        if (r.w)
            draw(&m->tp[s].pic, &c->pic, &r, 0);
    }
}

static void encode_canvas(fl__mix *m, canvas *c, uint32_t ts90k, int force)
{
    int kbps = atomic_load(&m->kbps);
    if (kbps != m->venc_kbps) {
        for (int i = 0; i < MAX_PORTS; i++) {
            if (m->canvases[i].enc)
                fl_venc_set_bitrate(m->canvases[i].enc, kbps);
        }
        m->venc_kbps = kbps;
    }
    fl_venc_frame f;
    c->used = 1;
    c->idle = 0;
    atomic_fetch_add(&m->composed, 1);
    if (fl_venc_encode(c->enc, &c->pic, ts90k, force, &f) == 1 &&
        put_out(m, FL_MEDIA_VIDEO, c->target, f.data, f.len, ts90k, f.key))
        atomic_fetch_add(&m->encoded, 1);
}

static void video_tick(fl__mix *m, uint64_t now_ns)
{
    const layout *l = &m->lay;
    uint32_t ts90k = (uint32_t)((now_ns - m->start_ns) * 9 / 100000);
    int force = atomic_exchange(&m->force_key, 0);
    for (int i = 0; i < MAX_PORTS; i++)
        m->canvases[i].used = 0;
    if (m->kind == COMPOSITE && l->present) {
        canvas *c = canvas_for(m, 0, m->width, m->height);
        if (c) {
            compose_grid(m, c);
            encode_canvas(m, c, ts90k, force);
        }
    } else if (m->kind == ALPHA && l->master >= 0 && m->tp[l->master].has_pic) {
        const fl_picture *mp = &m->tp[l->master].pic;
        canvas *c = canvas_for(m, 0, mp->width, mp->height);
        if (c) {
            compose_alpha(m, c);
            encode_canvas(m, c, ts90k, force);
        }
    } else if (m->kind == MIXER) {
        uint32_t shown = 0;
        for (int p = 0; p < MAX_PORTS; p++) {
            if ((l->present >> p) & 1 && l->vfrom[p] >= 0)
                shown |= 1u << l->vfrom[p];
        }
        for (int s = 0; s < MAX_PORTS; s++) {
            if (!((shown >> s) & 1) || !m->tp[s].has_pic)
                continue;
            const fl_picture *sp = &m->tp[s].pic;
            canvas *c = canvas_for(m, (uint32_t)s, sp->width, sp->height);
            if (c && fl_picture_scale(sp, &c->pic) == 0)
                encode_canvas(m, c, ts90k, force);
        }
    }
    for (int i = 0; i < MAX_PORTS; i++) {
        canvas *c = &m->canvases[i];
        if (c->pic.width && !c->used && ++c->idle > 5 * m->fps) {
            fl_venc_destroy(c->enc);
            c->enc = NULL;
            fl_picture_free(&c->pic);
        }
    }
}

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t at_ns)
{
    struct timespec t = { .tv_sec = (time_t)(at_ns / 1000000000u),
                          .tv_nsec = (long)(at_ns % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

static void thread_main(void *arg)
{
    fl__mix *m = arg;
    char name[16];
    snprintf(name, sizeof(name), "fluo-mix");
    pthread_setname_np(pthread_self(), name);
    const uint64_t aperiod = 20000000u, vperiod = 1000000000u / (uint64_t)m->fps;
    m->start_ns = mono_ns();
    uint64_t next_a = m->start_ns, next_v = m->start_ns;
    while (!atomic_load(&m->stop)) {
        uint64_t next = next_a < next_v ? next_a : next_v;
        uint64_t now = mono_ns();
        if (now < next) {
            sleep_until(next);
            now = mono_ns();
        }
        drain_inputs(m);
        unsigned before = atomic_load_explicit(&m->out_head, memory_order_relaxed);
        if (now >= next_a) {
            audio_tick(m);
            next_a += aperiod;
            if (now > next_a + 10 * aperiod) { /* far behind (a stall): no burst to catch up */
                atomic_fetch_add(&m->late_ticks, (now - next_a) / aperiod);
                next_a = now + aperiod;
            }
        }
        if (now >= next_v) {
            video_tick(m, now);
            next_v += vperiod;
            if (now > next_v + 2 * vperiod) {
                atomic_fetch_add(&m->late_ticks, (now - next_v) / vperiod);
                next_v = now + vperiod;
            }
        }
        struct timespec cpu;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
            atomic_store(&m->cpu_us, (int64_t)cpu.tv_sec * 1000000 + cpu.tv_nsec / 1000);
        if (atomic_load_explicit(&m->out_head, memory_order_relaxed) != before ||
            atomic_load(&m->want_key))
            uv_async_send(&m->async);
    }
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
            tport_reset(&m->tp[i], 0);
        free(m->tp);
    }
    for (size_t i = 0; i < sizeof(m->aencs) / sizeof(m->aencs[0]); i++)
        fl_aenc_destroy(m->aencs[i].enc);
    for (int i = 0; i < MAX_PORTS; i++) {
        fl_venc_destroy(m->canvases[i].enc);
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

static int port_has_input(const mport *p)
{
    for (int i = 0; i < 2; i++) {
        fl__pad *src = p->e->defaults[i];
        if (src && src->twin && src->twin->src)
            return 1;
    }
    return 0;
}

static int port_has_audio_input(const mport *p)
{
    fl__pad *src = p->e->defaults[fl__media_index(FL_MEDIA_AUDIO)];
    return src && src->twin && src->twin->src;
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
        if (port_has_input(p))
            l->input |= 1u << s;
        if (m->kind == MIXER) {
            l->akey[s] = p->audio_from;
            l->vfrom[s] = (int8_t)p->video_from;
        } else {
            l->akey[s] = ALL_BUT | (port_has_audio_input(p) ? (uint32_t)s : NOBODY);
        }
    }
    memcpy(l->place, m->sent.place, sizeof(l->place));
}

/* Sends the layout to the thread when it changed (or `force`). */
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
    fl_pack_config pc = { .codec = media == FL_MEDIA_VIDEO ? FL_CODEC_VP8 : FL_CODEC_OPUS,
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
    if (m->kind == MIXER)
        return p->video_from >= 0 && (uint32_t)p->video_from == target;
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
    st->last_ts = o->ts;
    st->last_at = fl__clock_now(&m->w->loop);
    while ((n = fl_pack_next(st->pack, m->payload, sizeof(m->payload), &marker)) > 0) {
        if (o->media == FL_MEDIA_AUDIO)
            marker = !st->sent_any;
        st->sent_any = 1;
        fl_buf *b = fl_buf_pool_get(m->w->pool);
        if (!b)
            return;
        fl_rtp_header h = { .marker = (uint8_t)marker,
                            .payload_type = o->media == FL_MEDIA_VIDEO ? VIDEO_PT : AUDIO_PT,
                            .seq = st->seq++,
                            .timestamp = o->ts,
                            .ssrc = st->ssrc };
        if (fl_rtp_buf_write(b, 64, &h, m->payload, n) == 0) {
            for (int s = 0; s < MAX_PORTS; s++) {
                mport *p = m->ports[s];
                if (p && p->e->defaults[i] && shows(m, p, o->media, o->target))
                    fl__pad_push(p->e->defaults[i], b);
            }
        }
        fl_buf_unref(b);
    }
}

static void ask_keys(fl__mix *m, uint32_t slots)
{
    uint64_t now = (uint64_t)(fl__clock_now(&m->w->loop) / FL_TIME_MS);
    for (int s = 0; s < MAX_PORTS; s++) {
        mport *p = m->ports[s];
        if (!((slots >> s) & 1) || !p)
            continue;
        if (p->key_ms && now - p->key_ms < KEY_REPEAT_MS) {
            atomic_fetch_or(&m->want_key, 1u << s); /* later */
            continue;
        }
        p->key_ms = now;
        fl__pad *src = p->e->defaults[fl__media_index(FL_MEDIA_VIDEO)];
        if (src && src->twin)
            fl__pad_request_key_frame_upstream(src->twin, 0);
    }
}

static void on_async(uv_async_t *h)
{
    fl__mix *m = h->data;
    unsigned tail = atomic_load_explicit(&m->out_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&m->out_head, memory_order_acquire);
    while (tail != head) {
        deliver(m, &m->out[tail % OUT_SLOTS]);
        tail++;
        atomic_store_explicit(&m->out_tail, tail, memory_order_release);
    }
}

/* The layout again (links come and go without a word to the hub), key
 * frames the decoders want, and the encoders' bitrate: the least the
 * ports' viewers can take. */
static void on_timer(uv_timer_t *t)
{
    fl__mix *m = t->data;
    relayout(m);
    uint32_t want = atomic_exchange(&m->want_key, 0);
    if (want)
        ask_keys(m, want);
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

static int mix_start(fl__mix *m)
{
    if (m->started)
        return 0;
    m->tp = calloc(MAX_PORTS, sizeof(tport));
    if (!m->tp)
        return FL_ENOMEM;
    atomic_store(&m->kbps, 1000);
    if (uv_async_init(&m->w->loop, &m->async, on_async) != 0)
        return FL_EIO;
    m->async.data = m;
    m->closing++;
    uv_timer_init(&m->w->loop, &m->timer);
    m->timer.data = m;
    m->closing++;
    uv_timer_start(&m->timer, on_timer, TIMER_MS, TIMER_MS);
    relayout(m);
    if (uv_thread_create(&m->thread, thread_main, m) != 0)
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
        fl_log(FL_LOG_WARN, "%s: a port more than %d cannot join", m->e->name, MAX_PORTS);
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
    if (!p || i < 0 || !buf->rtp.parsed || !input_format(m, p, sink, i) ||
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
    (void)mp;
    return media == FL_MEDIA_VIDEO ? &vp8_caps : media == FL_MEDIA_AUDIO ? &opus_caps : NULL;
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
    if (!m->started) {
        free_mix(m);
        return;
    }
    atomic_store(&m->stop, 1);
    uv_thread_join(&m->thread);
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

static int mix_set_property(fl_element *e, const char *name, const char *value)
{
    fl__mix *m = fl__hub_mix(e->impl);
    int *field = strcmp(name, "width") == 0       ? &m->width
                 : strcmp(name, "height") == 0    ? &m->height
                 : strcmp(name, "framerate") == 0 ? &m->fps
                                                  : NULL;
    if (!field || m->kind != COMPOSITE)
        return FL_ENOTSUP;
    if (m->started)
        return FL_ESTATE; /* the constructor's: mixing has started */
    int v;
    if (int_arg(value, field == &m->fps ? 1 : 16, field == &m->fps ? 60 : 4096, &v) < 0)
        return FL_EINVAL;
    *field = field == &m->fps ? v : v & ~1;
    return 0;
}

static int mix_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    fl__mix *m = fl__hub_mix(e->impl);
    int v = strcmp(name, "width") == 0       ? m->width
            : strcmp(name, "height") == 0    ? m->height
            : strcmp(name, "framerate") == 0 ? m->fps
                                             : -1;
    if (v < 0 || m->kind != COMPOSITE)
        return FL_ENOTSUP;
    snprintf(out, cap, "%d", v);
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
