/* The filter kit (engine/filter.h): a filter element's worker side and its
 * codec thread. */
#include "engine/filter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "codec/codec.h"
#include "net/rtp.h"

FL_LOG_TAG("filter");

#define IN_SLOTS       16 /* frames and messages waiting for the thread: ~0.5 s of video */
#define OUT_SLOTS      32 /* encoded frames, notes and answers waiting for the worker */
#define OUT_FOR_MEDIA  (OUT_SLOTS - IN_SLOTS) /* frames and notes: the rest is the answers' */
#define ON_AIR_IDLE_MS 1000 /* on air with no encoded frame this long: back to the source */
#define MAX_PAYLOAD    1200
#define KEY_REPEAT_MS  500
#define TIMER_MS       200
#define NOTE_MAX       1024
#define ENC_FPS        30

enum {
    IN_FRAME,
    IN_MESSAGE
};

typedef struct in_slot {
    int type;
    fl_codec_kind kind;
    uint32_t ts;
    fl_bytes b;
    void *msg;
} in_slot;

enum {
    OUT_VIDEO,
    OUT_NOTE,
    OUT_ANSWER
};

typedef struct out_slot {
    int type;
    uint32_t ts;
    int key;
    int start; /* encoded while the source's packets went out: may take over */
    fl_codec_kind kind;
    fl_bytes b; /* the frame; a note's two strings; an answer's why */
    fl__deferred d;
    int status;
} out_slot;

struct fl__filter {
    fl_element *e;
    fl__worker *w;
    const fl__filter_class *cls;
    void *state;
    void *wstate;
    /* worker */
    fl_depack *depack;
    fl_codec_kind kind;
    int pt;
    uint64_t caps_gen;
    int feeding;
    int on_air_w; /* the worker's mode: 1 the encoded stream goes out */
    uint64_t key_ms;
    fl_pack *pack;
    fl_codec_kind pack_kind;
    uint32_t ssrc;
    uint16_t seq;
    uint16_t pid_seed;
    int sent_any;
    uint32_t last_ts;
    fl_time last_at;
    uint64_t enc_ms; /* when the last encoded frame went, ms */
    uint8_t payload[MAX_PAYLOAD];
    uv_async_t async;
    uv_timer_t timer;
    int closing;
    int thread_started;
    uint64_t frames_in, dropped_in, forwarded;
    /* shared */
    in_slot in[IN_SLOTS];
    out_slot out[OUT_SLOTS];
    atomic_uint in_head, in_tail, out_head, out_tail;
    atomic_int on_air;    /* the worker's mode, for the thread */
    atomic_int want_pass; /* nothing drawn for a while: back to forwarding */
    atomic_int want_key;  /* the decoder needs a key frame */
    atomic_int force_key; /* a viewer wants a key frame of the encoded stream */
    atomic_int kbps;
    atomic_int active; /* the class has something to draw */
    atomic_int stop;
    atomic_uint_fast64_t decoded, decode_errors, processed, drawn, encoded, skipped;
    uv_sem_t wake;
    uv_thread_t thread;
    /* thread */
    fl_vdec *vdec;
    fl_codec_kind vkind;
    fl_venc *venc;
    fl_codec_kind ekind;
    int ew, eh, ekbps;
    const fl_picture *cur;
    fl_picture canvas;
    int canvas_made;
    int encoding;
    int seen_on_air;
    uint64_t drawn_ns, key_ns;
};

static uint64_t mono_ns(void)
{
    return (uint64_t)fl_time_now() * 1000u;
}

fl__filter *fl__filter_of(fl_element *e)
{
    return e->impl;
}

void *fl__filter_worker(fl__filter *f)
{
    return f->wstate;
}

/* ---- the thread ---- */

/* Writes an out slot; the filler fills it. NULL when the ring holds
 * `room` slots already: frames and notes leave IN_SLOTS for the answers,
 * so every message the thread takes has room for its answer. */
static out_slot *out_begin(fl__filter *f, unsigned room)
{
    unsigned head = atomic_load_explicit(&f->out_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&f->out_tail, memory_order_acquire);
    if (head - tail >= room)
        return NULL;
    out_slot *o = &f->out[head % OUT_SLOTS];
    fl_bytes_clear(&o->b);
    return o;
}

static void out_commit(fl__filter *f)
{
    unsigned head = atomic_load_explicit(&f->out_head, memory_order_relaxed);
    atomic_store_explicit(&f->out_head, head + 1, memory_order_release);
    uv_async_send(&f->async);
}

int fl__filter_tell(fl__filter *f, const char *a, const char *b)
{
    out_slot *o = out_begin(f, OUT_FOR_MEDIA);
    if (!o)
        return FL_EAGAIN;
    size_t na = strnlen(a, NOTE_MAX), nb = strnlen(b, NOTE_MAX);
    if (fl_bytes_append(&o->b, a, na) < 0 || fl_bytes_append(&o->b, "", 1) < 0 ||
        fl_bytes_append(&o->b, b, nb) < 0 || fl_bytes_append(&o->b, "", 1) < 0)
        return FL_ENOMEM;
    o->type = OUT_NOTE;
    out_commit(f);
    return 0;
}

int fl__filter_answer(fl__filter *f, fl__deferred d, int status, const char *why)
{
    out_slot *o = out_begin(f, OUT_SLOTS);
    if (!o)
        return FL_EAGAIN;
    if (why && fl_bytes_append(&o->b, why, strlen(why) + 1) < 0)
        fl_bytes_clear(&o->b); /* answered without its why rather than not at all */
    o->type = OUT_ANSWER;
    o->d = d;
    o->status = status;
    out_commit(f);
    return 0;
}

const fl_picture *fl__filter_picture(fl__filter *f)
{
    return f->cur;
}

fl_picture *fl__filter_canvas(fl__filter *f)
{
    const fl_picture *p = f->cur;
    if (!p)
        return NULL;
    if (f->canvas_made)
        return &f->canvas;
    if (f->canvas.width != p->width || f->canvas.height != p->height) {
        fl_picture_free(&f->canvas);
        if (fl_picture_alloc(&f->canvas, p->width, p->height) < 0)
            return NULL;
    }
    if (fl_picture_scale(p, &f->canvas) < 0) /* same size: a copy */
        return NULL;
    f->canvas_made = 1;
    return &f->canvas;
}

/* The encoder for a picture of this size in the input's codec. */
static int encoder_for(fl__filter *f, fl_codec_kind kind, int w, int h)
{
    int kbps = atomic_load(&f->kbps);
    if (f->venc && f->ekind == kind && f->ew == w && f->eh == h) {
        if (kbps != f->ekbps && fl_venc_set_bitrate(f->venc, kbps) == 0)
            f->ekbps = kbps;
        return 0;
    }
    fl_venc_destroy(f->venc);
    f->venc = NULL;
    fl_venc_config c = { .kind = kind, .width = w, .height = h, .fps = ENC_FPS, .kbps = kbps };
    int rc = fl_venc_create(&f->venc, &c);
    if (rc < 0)
        return rc;
    f->ekind = kind;
    f->ew = w;
    f->eh = h;
    f->ekbps = kbps;
    return 0;
}

static void encode(fl__filter *f,
                   const fl_picture *pic,
                   fl_codec_kind kind,
                   uint32_t ts,
                   int key,
                   int start)
{
    fl_picture even = *pic; /* the encoders take even sizes */
    even.width &= ~1;
    even.height &= ~1;
    if (even.width < 16 || even.height < 16 || encoder_for(f, kind, even.width, even.height) < 0)
        return;
    fl_venc_frame vf;
    if (fl_venc_encode(f->venc, &even, ts, key, &vf) != 1)
        return;
    out_slot *o = out_begin(f, OUT_FOR_MEDIA);
    if (!o || fl_bytes_append(&o->b, vf.data, vf.len) < 0) {
        atomic_store(&f->force_key, 1); /* the viewers lost a frame */
        return;
    }
    o->type = OUT_VIDEO;
    o->ts = ts;
    o->key = vf.key;
    o->kind = kind;
    o->start = start;
    atomic_fetch_add(&f->encoded, 1);
    out_commit(f);
}

/* One frame: decoded always (the decoder's state), shown to the class when
 * it is the newest waiting, encoded while the encoded stream is wanted. */
static void run_frame(fl__filter *f, in_slot *s, int newest)
{
    if (!f->vdec || f->vkind != s->kind) {
        fl_vdec_destroy(f->vdec);
        f->vdec = NULL;
        f->vkind = s->kind;
        if (fl_vdec_create(&f->vdec, s->kind) < 0)
            return;
    }
    fl_picture pic;
    int rc = fl_vdec_decode(f->vdec, s->b.data, s->b.len, &pic);
    if (rc == FL_EBADMSG) {
        atomic_fetch_add(&f->decode_errors, 1);
        atomic_store(&f->want_key, 1);
        uv_async_send(&f->async);
        return;
    }
    if (rc != 1)
        return;
    atomic_fetch_add(&f->decoded, 1);
    if (!newest) { /* behind: the newest only */
        atomic_fetch_add(&f->skipped, 1);
        return;
    }
    uint64_t now = mono_ns();
    f->cur = &pic;
    f->canvas_made = 0;
    int drew = f->cls->process(f, f->state, &pic, now) == 1 && f->canvas_made;
    f->cur = NULL;
    atomic_fetch_add(&f->processed, 1);
    if (f->cls->reads_only)
        return;
    int on_air = atomic_load(&f->on_air);
    int key = 0;
    if (drew) {
        atomic_fetch_add(&f->drawn, 1);
        f->drawn_ns = now;
        atomic_store(&f->want_pass, 0);
        if (!f->encoding) { /* the encoded stream starts with a key frame */
            f->encoding = 1;
            f->seen_on_air = 0;
            key = 1;
        }
    }
    if (!f->encoding)
        return;
    if (on_air) {
        f->seen_on_air = 1;
        if (!drew && now - f->drawn_ns >= FL__FILTER_QUIET_MS * 1000000ull &&
            !atomic_load(&f->want_pass)) {
            atomic_store(&f->want_pass, 1);
            uv_async_send(&f->async);
        }
    } else if (f->seen_on_air) {
        if (!drew) { /* the worker went back to forwarding */
            f->encoding = 0;
            return;
        }
        f->seen_on_air = 0; /* it has to come back: from a key frame */
        key = 1;
    } else if (now - f->key_ns >= KEY_REPEAT_MS * 1000000ull) {
        key = 1; /* the worker waits for a key frame to go on air */
    }
    if (atomic_exchange(&f->force_key, 0))
        key = 1;
    if (key)
        f->key_ns = now;
    encode(f, drew ? &f->canvas : &pic, s->kind, s->ts, key, !on_air);
}

static void thread_main(void *arg)
{
    fl__filter *f = arg;
    pthread_setname_np(pthread_self(), "fluo-filter");
    for (;;) {
        uv_sem_wait(&f->wake);
        if (atomic_load(&f->stop))
            break;
        unsigned tail = atomic_load_explicit(&f->in_tail, memory_order_relaxed);
        unsigned head = atomic_load_explicit(&f->in_head, memory_order_acquire);
        while (tail != head && !atomic_load(&f->stop)) { /* the worker waits: stop at once */
            in_slot *s = &f->in[tail % IN_SLOTS];
            if (s->type == IN_MESSAGE) {
                f->cls->message(f, f->state, s->msg);
                s->msg = NULL;
            } else {
                int newest = 1; /* a frame waits behind this one: skip its work */
                for (unsigned k = tail + 1; k != head && newest; k++)
                    newest = f->in[k % IN_SLOTS].type != IN_FRAME;
                run_frame(f, s, newest);
            }
            tail++;
            atomic_store_explicit(&f->in_tail, tail, memory_order_release);
            head = atomic_load_explicit(&f->in_head, memory_order_acquire);
        }
    }
}

/* ---- the worker ---- */

static in_slot *in_begin(fl__filter *f)
{
    unsigned head = atomic_load_explicit(&f->in_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&f->in_tail, memory_order_acquire);
    return head - tail >= IN_SLOTS ? NULL : &f->in[head % IN_SLOTS];
}

static void in_commit(fl__filter *f)
{
    unsigned head = atomic_load_explicit(&f->in_head, memory_order_relaxed);
    atomic_store_explicit(&f->in_head, head + 1, memory_order_release);
    uv_sem_post(&f->wake);
}

int fl__filter_send(fl__filter *f, void *msg)
{
    in_slot *s = f->thread_started ? in_begin(f) : NULL;
    if (!s)
        return FL_EAGAIN;
    s->type = IN_MESSAGE;
    s->msg = msg;
    in_commit(f);
    return 0;
}

static fl__pad *video_src(fl__filter *f)
{
    return f->e->defaults[fl__media_index(FL_MEDIA_VIDEO)];
}

/* Asks the source for a key frame, at most every KEY_REPEAT_MS. */
static void ask_key(fl__filter *f)
{
    uint64_t now = (uint64_t)(fl__clock_now(&f->w->loop) / FL_TIME_MS);
    if (f->key_ms && now - f->key_ms < KEY_REPEAT_MS)
        return;
    f->key_ms = now;
    fl__pad *src = video_src(f);
    if (src && src->twin)
        fl__pad_request_key_frame_upstream(src->twin, 0);
}

/* Whether the thread gets the video: a reader always; a class that draws
 * while it has something to draw and someone watches, and while its
 * encoded stream is on air (until the source's packets take over). */
static void decide_feeding(fl__filter *f)
{
    fl__pad *src = video_src(f);
    int watched = src && src->nsinks > 0;
    int active = atomic_load(&f->active);
    int feed = f->thread_started && (f->cls->reads_only || (watched && (active || f->on_air_w)));
    if (feed && !f->feeding)
        ask_key(f); /* the decoder starts from a key frame */
    f->feeding = feed;
    if (!active && f->on_air_w && !atomic_exchange(&f->want_pass, 1)) {
        f->key_ms = 0; /* nothing to draw: back to the source at once */
        ask_key(f);
    }
}

void fl__filter_set_active(fl__filter *f, int active)
{
    atomic_store(&f->active, active);
    uv_async_send(&f->async);
}

static void send_encoded(fl__filter *f, out_slot *o)
{
    if (!f->pack || f->pack_kind != o->kind) {
        fl_pack_destroy(f->pack);
        f->pack = NULL;
        fl_pack_config pc = { .codec = o->kind, .max_payload = MAX_PAYLOAD, .seed = f->pid_seed };
        if (fl_pack_create(&f->pack, &pc) < 0)
            return;
        f->pack_kind = o->kind;
    }
    if (fl_pack_frame(f->pack, &(fl_pack_input){ o->b.data, o->b.len, o->key }) < 0)
        return;
    f->last_ts = o->ts;
    f->last_at = fl__clock_now(&f->w->loop);
    f->enc_ms = (uint64_t)(f->last_at / FL_TIME_MS);
    f->sent_any = 1;
    fl__pad *src = video_src(f);
    int marker;
    size_t n;
    while ((n = fl_pack_next(f->pack, f->payload, sizeof(f->payload), &marker)) > 0) {
        fl_buf *b = fl_buf_pool_get(f->w->pool);
        if (!b)
            return;
        fl_rtp_header h = { .marker = (uint8_t)marker,
                            .payload_type = (uint8_t)f->pt,
                            .seq = f->seq++,
                            .timestamp = o->ts,
                            .ssrc = f->ssrc };
        if (fl_rtp_buf_write(b, 64, &h, f->payload, n) == 0 && src)
            fl__pad_push(src, b);
        fl_buf_unref(b);
    }
}

static void on_async(uv_async_t *h)
{
    fl__filter *f = h->data;
    if (!f->e)
        return; /* the element is going */
    decide_feeding(f);
    if (atomic_exchange(&f->want_key, 0))
        ask_key(f);
    if (f->on_air_w && atomic_load(&f->want_pass))
        ask_key(f); /* back to forwarding from the source's next key frame */
    unsigned tail = atomic_load_explicit(&f->out_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&f->out_head, memory_order_acquire);
    while (tail != head) {
        out_slot *o = &f->out[tail % OUT_SLOTS];
        if (o->type == OUT_VIDEO) {
            /* a key frame encoded while the source's packets went out: a
             * late one, encoded before a return to the source, is not */
            if (!f->on_air_w && o->key && o->start && !atomic_load(&f->want_pass)) {
                f->on_air_w = 1; /* the encoded stream takes over from its key frame */
                atomic_store(&f->on_air, 1);
            }
            if (f->on_air_w)
                send_encoded(f, o);
        } else if (o->type == OUT_NOTE) {
            const char *a = (const char *)o->b.data;
            if (f->cls->told && o->b.len >= 2)
                f->cls->told(f->e, a, a + strlen(a) + 1);
        } else {
            fl__deferred_text(&o->d, o->status, o->b.len ? (const char *)o->b.data : NULL);
        }
        tail++;
        atomic_store_explicit(&f->out_tail, tail, memory_order_release);
    }
}

static void on_timer(uv_timer_t *t)
{
    fl__filter *f = t->data;
    if (!f->e)
        return;
    decide_feeding(f);
    uint64_t now_ms = (uint64_t)(fl__clock_now(&f->w->loop) / FL_TIME_MS);
    if (f->on_air_w && now_ms - f->enc_ms > ON_AIR_IDLE_MS && !atomic_exchange(&f->want_pass, 1))
        f->key_ms = 0; /* its stream stopped (a decoder that fails): the source's again */
    if (f->on_air_w && atomic_load(&f->want_pass))
        ask_key(f);
    fl__pad *src = video_src(f);
    uint64_t b = src ? fl__pad_downstream_bitrate(src) : 0;
    int kbps = b ? (int)(b / 1000) : 1000;
    atomic_store(&f->kbps, kbps < 100 ? 100 : kbps > 4000 ? 4000 : kbps);
}

/* The video input's format (caps from upstream): its depacketizer. 0 when
 * it cannot be decoded. */
static int input_format(fl__filter *f, fl__pad *sink)
{
    if (f->caps_gen == f->w->graph_gen && f->depack)
        return 1;
    f->caps_gen = f->w->graph_gen;
    const fl_sdp_codec *in = sink->src ? fl__pad_caps(sink) : NULL;
    fl_codec_kind kind = in ? fl_codec_kind_of(in->name) : FL_CODEC_OTHER;
    if (kind == f->kind && f->depack && in->pt == f->pt)
        return 1;
    fl_depack_destroy(f->depack);
    f->depack = NULL;
    f->kind = kind;
    if (!fl_codec_kind_is_video(kind))
        return 0;
    fl_depack_config dc = { .codec = kind, .clock_rate = in->clock_rate, .fmtp = in->fmtp };
    if (fl_depack_create(&f->depack, &dc) < 0)
        return 0;
    f->pt = in->pt;
    return 1;
}

static void feed(fl__filter *f, fl__pad *sink, fl_buf *buf)
{
    if (!buf->rtp.parsed || !input_format(f, sink) || buf->rtp.payload_type != f->pt)
        return;
    fl_depack_packet dp = { .payload = fl_buf_data(buf) + buf->rtp.payload_off,
                            .len = buf->rtp.payload_len,
                            .seq = buf->rtp.seq,
                            .ts = buf->rtp.timestamp,
                            .marker = buf->rtp.marker };
    fl_depack_push(f->depack, &dp);
    fl_frame fr;
    while (fl_depack_pull(f->depack, &fr) == 1) {
        f->frames_in++;
        in_slot *s = in_begin(f);
        if (s)
            fl_bytes_clear(&s->b);
        if (!s || fl_bytes_append(&s->b, fr.data, fr.len) < 0) {
            f->dropped_in++; /* the thread is far behind: its decoder needs a key frame */
            atomic_store(&f->want_key, 1);
            continue;
        }
        s->type = IN_FRAME;
        s->kind = f->kind;
        s->ts = fr.rtp_ts;
        in_commit(f);
    }
    if (fl_depack_wants_key(f->depack))
        ask_key(f);
}

void fl__filter_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    fl__filter *f = e->impl;
    if (sink->media != FL_MEDIA_VIDEO || !f) {
        fl__pad_push(sink->twin, buf);
        fl_buf_unref(buf);
        return;
    }
    /* back to forwarding at a key frame of the source, once asked */
    if (f->on_air_w && atomic_load(&f->want_pass) && buf->rtp.parsed &&
        buf->rtp.payload_type == f->pt &&
        fl_codec_key_frame_start(f->kind, fl_buf_data(buf) + buf->rtp.payload_off,
                                 buf->rtp.payload_len)) {
        f->on_air_w = 0;
        atomic_store(&f->on_air, 0);
        atomic_store(&f->want_pass, 0);
    }
    if (!f->on_air_w) {
        fl__pad_push(sink->twin, buf);
        f->forwarded++;
    }
    if (f->feeding)
        feed(f, sink, buf);
    fl_buf_unref(buf);
}

void fl__filter_end_of_stream(fl_element *e, fl__pad *sink)
{
    (void)e;
    fl__pad_push_end(sink->twin);
}

void fl__filter_key_frame(fl_element *e, unsigned media, int join)
{
    fl__filter *f = e->impl;
    if (media == FL_MEDIA_VIDEO && f && f->on_air_w) {
        atomic_store(&f->force_key, 1);
        return;
    }
    fl__pad *src = e->defaults[fl__media_index(media)];
    if (src && src->twin)
        fl__pad_request_key_frame_upstream(src->twin, join);
}

int fl__filter_sender_report(fl_element *e,
                             unsigned media,
                             uint32_t ssrc,
                             uint32_t *rtp_ts,
                             fl_time *sent)
{
    fl__filter *f = e->impl;
    if (media == FL_MEDIA_VIDEO && f && f->sent_any && ssrc == f->ssrc) {
        fl_time now = fl__clock_now(&f->w->loop);
        *rtp_ts = f->last_ts + (uint32_t)((uint64_t)(now - f->last_at) * 90000u / FL_TIME_SEC);
        *sent = now;
        return 0;
    }
    fl__pad *src = e->defaults[fl__media_index(media)];
    return src && src->twin ? fl__pad_sender_report_upstream(src->twin, ssrc, rtp_ts, sent)
                            : FL_ENOENT;
}

void fl__filter_stats(fl_element *e, unsigned media, fl__stats_out *out)
{
    fl__filter *f = e->impl;
    fl_stats *s = fl__stats_add(out, FL_STATS_FILTER);
    if (!s || !f)
        return;
    (void)media;
    fl_stats_filter *x = &s->filter;
    x->frames_in = f->frames_in;
    x->frames_dropped = f->dropped_in;
    x->forwarded = f->forwarded;
    x->frames_decoded = atomic_load(&f->decoded);
    x->decode_errors = atomic_load(&f->decode_errors);
    x->processed = atomic_load(&f->processed);
    x->drawn = atomic_load(&f->drawn);
    x->frames_encoded = atomic_load(&f->encoded);
    x->skipped = atomic_load(&f->skipped);
    x->encoding = f->on_air_w;
}

static void free_filter(fl__filter *f)
{
    for (size_t i = 0; i < IN_SLOTS; i++) {
        if (f->in[i].msg && f->cls->free_message)
            f->cls->free_message(f->in[i].msg);
        fl_bytes_deinit(&f->in[i].b);
    }
    for (size_t i = 0; i < OUT_SLOTS; i++)
        fl_bytes_deinit(&f->out[i].b);
    if (f->cls->fini)
        f->cls->fini(f->state);
    free(f->state);
    free(f->wstate);
    fl_depack_destroy(f->depack);
    fl_pack_destroy(f->pack);
    fl_vdec_destroy(f->vdec);
    fl_venc_destroy(f->venc);
    fl_picture_free(&f->canvas);
    free(f);
}

static void on_closed(uv_handle_t *h)
{
    fl__filter *f = h->data;
    if (--f->closing == 0)
        free_filter(f);
}

int fl__filter_init_class(fl_element *e, const fl__filter_class *cls)
{
    fl__filter *f = calloc(1, sizeof(*f));
    if (!f || !(f->state = calloc(1, cls->state_size ? cls->state_size : 1)) ||
        !(f->wstate = calloc(1, cls->worker_size ? cls->worker_size : 1))) {
        if (f)
            free(f->state);
        free(f);
        return FL_ENOMEM;
    }
    f->e = e;
    f->w = e->pipeline->worker;
    f->cls = cls;
    atomic_store(&f->active, cls->reads_only);
    atomic_store(&f->kbps, 1000);
    fl_rand *r = fl__clock_rand(&f->w->loop);
    f->ssrc = fl_rand_u32(r);
    f->seq = (uint16_t)fl_rand_u32(r);
    f->pid_seed = (uint16_t)fl_rand_u32(r);
    if (uv_async_init(&f->w->loop, &f->async, on_async) != 0) {
        free(f->state);
        free(f->wstate);
        free(f);
        return FL_EIO;
    }
    f->async.data = f;
    f->closing++;
    uv_timer_init(&f->w->loop, &f->timer);
    f->timer.data = f;
    f->closing++;
    uv_timer_start(&f->timer, on_timer, TIMER_MS, TIMER_MS);
    e->impl = f;
    if (uv_sem_init(&f->wake, 0) == 0) {
        if (uv_thread_create(&f->thread, thread_main, f) == 0)
            f->thread_started = 1;
        else
            uv_sem_destroy(&f->wake);
    }
    if (!f->thread_started) {
        fl_log(FL_LOG_ERROR, "%s %s: no codec thread: its video is forwarded as it is",
               e->type->name, e->name);
        return 0;
    }
    decide_feeding(f);
    return 0;
}

void fl__filter_fini(fl_element *e)
{
    fl__filter *f = e->impl;
    if (!f)
        return;
    e->impl = NULL;
    if (f->thread_started) {
        atomic_store(&f->stop, 1);
        uv_sem_post(&f->wake);
        uv_thread_join(&f->thread);
        uv_sem_destroy(&f->wake);
    }
    /* answers the thread gave and the worker had not read yet */
    unsigned tail = atomic_load(&f->out_tail), head = atomic_load(&f->out_head);
    for (; tail != head; tail++) {
        out_slot *o = &f->out[tail % OUT_SLOTS];
        if (o->type == OUT_ANSWER)
            fl__deferred_text(&o->d, o->status, o->b.len ? (const char *)o->b.data : NULL);
    }
    atomic_store(&f->out_tail, head);
    f->e = NULL;
    uv_close((uv_handle_t *)&f->async, on_closed);
    uv_close((uv_handle_t *)&f->timer, on_closed);
}
