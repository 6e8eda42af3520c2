/* Transcoders on links and the codec threads that run them (transcode.h).
 *
 * A transcoder lives on its source pad (src->xcodes) and is owned by the
 * worker; its codec work runs on one codec thread of the engine's pool.
 * They share two rings of slots: `in` (whole input frames, the worker
 * writes, the thread reads) and `out` (encoded frames, the thread writes,
 * the worker reads). Each ring has one writer and one reader, so a head and
 * a tail with acquire/release ordering are all the synchronisation a frame
 * needs; a semaphore wakes the thread and the transcoder's uv_async_t wakes
 * the worker. The thread list of a codec thread is changed under its mutex
 * only when a transcoder starts (never per frame).
 *
 * Ending: the worker marks the transcoder dead and wakes its thread; the
 * thread drops it from its list, says so (thread_done) and wakes the worker
 * one last time; the worker then closes the async handle, and its close
 * callback frees the transcoder. The worker's loop runs until that handle
 * is closed, so the pool outlives every transcoder. */
#include "engine/transcode.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "codec/codec.h"
#include "codec/xcoder.h"
#include "engine/sim.h"
#include "net/rtp.h"

FL_LOG_TAG("xcode");

#define IN_SLOTS       8  /* frames waiting for the codec thread: ~250 ms of video */
#define OUT_SLOTS      16 /* encoded frames waiting for the worker */
#define MAX_PAYLOAD    1200
#define RATE_PERIOD_MS 1000
#define KEY_REPEAT_MS  500 /* asks upstream for a key frame at most this often */

typedef struct slot {
    fl_bytes b; /* grows to the largest frame, then stays */
    uint32_t ts;
    int key;
    fl_codec_kind kind; /* the input's format */
    unsigned epoch;     /* the input's source: a new one starts the codecs afresh */
} slot;

typedef struct codec_thread codec_thread;

struct fl__xcode {
    fl_list node; /* in src->xcodes; worker */
    fl_list job;  /* in its thread's jobs; that thread */
    fl__pad *src;
    fl__worker *w;
    codec_thread *th;
    unsigned id;
    fl__xcode_spec spec;
    fl_codec_kind out_kind;
    int video;
    /* worker */
    int nsinks;
    fl_codec_kind in_kind;
    uint64_t in_gen;
    fl_depack *depack;
    fl_pack *pack;
    uint32_t ssrc, in_ssrc;
    int in_pt;          /* the input's payload type: other ones (RTX, FEC, DTMF) stay out */
    unsigned in_epoch;  /* bumped by each new input source (SSRC) */
    unsigned out_epoch; /* the epoch of the last frame sent: a new one, a new SSRC */
    uint64_t in_ext;    /* the input's RTP timestamp unwrapped, as the codecs do */
    int in_ext_known;
    int error_said;
    uint16_t seq;
    int sent_any;
    uint64_t key_ms, rate_ms;
    int kbps;
    int dead;
    uv_async_t async;
    uint8_t payload[MAX_PAYLOAD];
    uint64_t frames_in, dropped_full;
    uint32_t in_rate, out_rate; /* RTP clocks, for Sender Reports */
    /* shared */
    slot in[IN_SLOTS], out[OUT_SLOTS];
    atomic_uint in_head, in_tail, out_head, out_tail;
    atomic_int force_key, want_key, new_kbps, stop, thread_done;
    atomic_int failed; /* the codecs cannot start (a negative code): said in an Error */
    atomic_uint_fast64_t skipped, dropped_out, encoded;
    /* codec thread */
    fl_xcoder *xc;
    fl_codec_kind xc_kind;
    unsigned xc_epoch;
    int xc_kbps;
    int xc_failed; /* for xc_kind and xc_epoch: not tried again */
};

struct codec_thread {
    uv_thread_t thread;
    uv_sem_t wake;
    uv_mutex_t lock; /* adds */
    fl_list adds;    /* fl__xcode.job: new, not yet taken */
    fl_list jobs;    /* the thread's own */
    atomic_int stop;
    atomic_int load; /* transcoders on it */
};

typedef struct fl__codec_pool {
    int n;
    codec_thread th[];
} codec_pool;

/* ---- the pool ---- */

static void thread_main(void *arg);

static void *lock_pool(fl_engine *engine)
{
    uv_mutex_lock(&engine->codecs_lock);
    codec_pool *p = engine->codecs;
    if (!p && !engine->codecs_stopped) {
        int n = engine->codec_threads > 0 ? engine->codec_threads : (int)uv_available_parallelism();
        p = calloc(1, sizeof(*p) + (size_t)n * sizeof(codec_thread));
        for (int i = 0; p && i < n; i++) {
            codec_thread *t = &p->th[i];
            fl_list_init(&t->adds);
            fl_list_init(&t->jobs);
            uv_mutex_init(&t->lock);
            uv_sem_init(&t->wake, 0);
            if (uv_thread_create(&t->thread, thread_main, t) != 0) {
                uv_mutex_destroy(&t->lock);
                uv_sem_destroy(&t->wake);
                break;
            }
            p->n++;
        }
        if (p && p->n == 0) {
            free(p);
            p = NULL;
        }
        if (!p) {
            engine->codecs_stopped = 1; /* not tried again: no transcoder can start */
            fl_log(FL_LOG_ERROR, "no codec thread could start: nothing will be transcoded");
        }
        engine->codecs = p;
        if (p)
            fl_log(FL_LOG_INFO, "%d codec threads started", p->n);
    }
    return p;
}

void fl__codec_pool_stop(fl_engine *engine)
{
    uv_mutex_lock(&engine->codecs_lock);
    codec_pool *p = engine->codecs;
    engine->codecs = NULL;
    engine->codecs_stopped = 1;
    uv_mutex_unlock(&engine->codecs_lock);
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        atomic_store(&p->th[i].stop, 1);
        uv_sem_post(&p->th[i].wake);
    }
    for (int i = 0; i < p->n; i++) {
        uv_thread_join(&p->th[i].thread);
        uv_mutex_destroy(&p->th[i].lock);
        uv_sem_destroy(&p->th[i].wake);
    }
    free(p);
}

/* ---- the codec thread's side ---- */

static int slot_fill(slot *s, const uint8_t *data, size_t len)
{
    fl_bytes_clear(&s->b);
    return fl_bytes_append(&s->b, data, len);
}

/* The codecs for the input's format and source: made afresh for a new one
 * (a decoder's state and the timestamps belong to one source); codecs that
 * cannot start are not tried again for the same input, and that is said
 * once. */
static void job_coder(fl__xcode *x, fl_codec_kind kind, unsigned epoch)
{
    if ((x->xc || x->xc_failed) && x->xc_kind == kind && x->xc_epoch == epoch)
        return;
    fl_xcoder_destroy(x->xc);
    x->xc = NULL;
    x->xc_kind = kind;
    x->xc_epoch = epoch;
    fl_xcoder_config cfg = { .in = kind,
                             .out = x->out_kind,
                             .out_channels = x->spec.out.channels == 2 ? 2 : 1,
                             .max_width = x->spec.max_width,
                             .max_height = x->spec.max_height,
                             .max_fps = x->spec.max_fps,
                             .kbps = atomic_load(&x->new_kbps) };
    int rc = fl_xcoder_create(&x->xc, &cfg);
    x->xc_kbps = cfg.kbps;
    x->xc_failed = rc < 0;
    if (rc < 0) {
        fl_log(FL_LOG_WARN, "transcoder %u: %s -> %s cannot start: %s", x->id,
               fl_codec_kind_name(kind), fl_codec_kind_name(x->out_kind), fl_strerror(rc));
        atomic_store(&x->failed, rc);
    }
}

/* Runs what is waiting; 1 when it handed frames back. */
static int job_run(fl__xcode *x)
{
    unsigned tail = atomic_load_explicit(&x->in_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&x->in_head, memory_order_acquire);
    int handed = 0;
    while (tail != head) {
        slot *s = &x->in[tail % IN_SLOTS];
        job_coder(x, s->kind, s->epoch);
        if (x->xc) {
            if (atomic_exchange(&x->force_key, 0))
                fl_xcoder_force_key(x->xc);
            int kbps = atomic_load(&x->new_kbps);
            if (kbps != x->xc_kbps) {
                fl_xcoder_set_bitrate(x->xc, kbps);
                x->xc_kbps = kbps;
            }
            /* behind (more than two frames queued behind this one: a
             * scheduling hiccup rides on two): decode every frame, encode
             * only the newest */
            int encode = !x->video || head - tail <= 3;
            int rc = fl_xcoder_push(x->xc, s->b.data, s->b.len, s->ts, encode);
            if (!encode)
                atomic_fetch_add(&x->skipped, 1);
            if (rc == FL_EBADMSG) {
                atomic_store(&x->want_key, 1);
                handed = 1;
            } else if (rc < 0 && !atomic_load(&x->failed)) {
                atomic_store(&x->failed, rc); /* the encoder: said once */
                handed = 1;
            }
            fl_xcoder_frame f;
            while (fl_xcoder_pull(x->xc, &f) == 1) {
                unsigned oh = atomic_load_explicit(&x->out_head, memory_order_relaxed);
                unsigned ot = atomic_load_explicit(&x->out_tail, memory_order_acquire);
                slot *o = &x->out[oh % OUT_SLOTS];
                if (oh - ot >= OUT_SLOTS || slot_fill(o, f.data, f.len) < 0) {
                    atomic_fetch_add(&x->dropped_out, 1);
                    atomic_store(&x->force_key, 1); /* the sinks' decoders lost a frame */
                    continue;
                }
                o->ts = f.ts;
                o->key = f.key;
                o->epoch = s->epoch;
                atomic_store_explicit(&x->out_head, oh + 1, memory_order_release);
                atomic_fetch_add(&x->encoded, 1);
                handed = 1;
            }
        }
        tail++;
        atomic_store_explicit(&x->in_tail, tail, memory_order_release);
        head = atomic_load_explicit(&x->in_head, memory_order_acquire);
    }
    return handed;
}

/* The worker frees the transcoder once it sees thread_done; the store and
 * the last wake happen under the thread's lock, which the worker takes
 * before freeing, so the wake never touches freed memory. */
static void job_end(codec_thread *t, fl__xcode *x)
{
    fl_list_remove(&x->job);
    fl_xcoder_destroy(x->xc);
    x->xc = NULL;
    atomic_fetch_sub(&t->load, 1);
    uv_mutex_lock(&t->lock);
    atomic_store(&x->thread_done, 1);
    uv_async_send(&x->async);
    uv_mutex_unlock(&t->lock);
}

static void thread_main(void *arg)
{
    codec_thread *t = arg;
    for (;;) {
        uv_sem_wait(&t->wake);
        uv_mutex_lock(&t->lock);
        while (!fl_list_empty(&t->adds))
            fl_list_push_back(&t->jobs, fl_list_pop_front(&t->adds));
        uv_mutex_unlock(&t->lock);
        int stopping = atomic_load(&t->stop);
        fl_list_foreach_safe (it, tmp, &t->jobs) {
            fl__xcode *x = fl_container_of(it, fl__xcode, job);
            if (atomic_load(&x->stop) || stopping)
                job_end(t, x);
            else if (job_run(x))
                uv_async_send(&x->async);
        }
        if (stopping)
            break;
    }
}

/* ---- the worker's side ---- */

static void on_closed(uv_handle_t *h)
{
    fl__xcode *x = h->data;
    for (size_t i = 0; i < IN_SLOTS; i++)
        fl_bytes_deinit(&x->in[i].b);
    for (size_t i = 0; i < OUT_SLOTS; i++)
        fl_bytes_deinit(&x->out[i].b);
    fl_depack_destroy(x->depack);
    fl_pack_destroy(x->pack);
    free(x);
}

/* The first sink of the transcoder (a sink pad of x->src routed to it). */
static fl__pad *first_sink(const fl__xcode *x)
{
    for (size_t i = 0; i < x->src->nsinks; i++) {
        if (x->src->sinks[i]->xc == x)
            return x->src->sinks[i];
    }
    return NULL;
}

/* An Error event on every element the transcoder serves: its codecs
 * cannot start, or its encoder failed. */
static void say_failed(fl__xcode *x, int rc)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s media from %s/%u to %s/%u cannot be transcoded: %s",
             fl_media_type_name(x->src->media), fl_codec_kind_name(x->in_kind), x->in_rate,
             x->spec.out.name, x->spec.out.clock_rate, fl_strerror(rc));
    for (size_t i = 0; i < x->src->nsinks; i++) {
        fl__pad *sink = x->src->sinks[i];
        if (sink->xc != x)
            continue;
        fl_event ev = { .type = FL_EVENT_ERROR,
                        .error = { .type = "TRANSCODING_ERROR", .description = msg } };
        fl__element_raise(sink->element, &ev);
    }
}

static void send_packet(fl__xcode *x, uint32_t ts, size_t len, int marker)
{
    fl_buf *b = fl_buf_pool_get(x->w->pool);
    if (!b)
        return;
    fl_rtp_header h = { .marker = (uint8_t)marker,
                        .payload_type = x->spec.out.pt,
                        .seq = x->seq++,
                        .timestamp = ts,
                        .ssrc = x->ssrc };
    if (fl_rtp_buf_write(b, 64, &h, x->payload, len) == 0)
        fl__pad_deliver_xcoded(x->src, x, b);
    fl_buf_unref(b);
}

static void deliver(fl__xcode *x, slot *o)
{
    if (o->epoch != x->out_epoch) {
        /* frames of a new input source: a new stream, so that the sinks
         * take the jump in its timestamps for a change of source */
        x->out_epoch = o->epoch;
        x->ssrc = fl_rand_u32(fl__clock_rand(&x->w->loop));
        x->sent_any = 0;
    }
    if (!x->pack) {
        fl_pack_config pc = { .codec = x->out_kind, .max_payload = MAX_PAYLOAD };
        if (fl_pack_create(&x->pack, &pc) < 0)
            return;
    }
    if (fl_pack_frame(x->pack, &(fl_pack_input){ o->b.data, o->b.len, o->key }) < 0)
        return;
    int marker;
    size_t n;
    uint32_t samples = 0;
    int g711 = x->out_kind == FL_CODEC_PCMU || x->out_kind == FL_CODEC_PCMA;
    while ((n = fl_pack_next(x->pack, x->payload, sizeof(x->payload), &marker)) > 0) {
        if (!x->video)
            marker = !x->sent_any; /* a talkspurt starts */
        x->sent_any = 1;
        send_packet(x, o->ts + samples, n, marker);
        if (g711)
            samples += (uint32_t)n;
    }
}

static void request_upstream(fl__xcode *x, int join)
{
    uint64_t now = (uint64_t)(fl__clock_now(&x->w->loop) / FL_TIME_MS);
    if (!join && x->key_ms && now - x->key_ms < KEY_REPEAT_MS)
        return;
    x->key_ms = now;
    fl__pad *sink = first_sink(x);
    if (sink)
        fl__pad_request_key_frame_upstream(sink, join);
}

static void on_async(uv_async_t *h)
{
    fl__xcode *x = h->data;
    if (atomic_load(&x->thread_done)) {
        uv_mutex_lock(&x->th->lock); /* job_end's last wake is over */
        uv_mutex_unlock(&x->th->lock);
        uv_close((uv_handle_t *)&x->async, on_closed);
        return;
    }
    if (x->dead)
        return;
    int failed = atomic_load(&x->failed);
    if (failed && !x->error_said) {
        x->error_said = 1;
        say_failed(x, failed);
    }
    if (atomic_exchange(&x->want_key, 0))
        request_upstream(x, 0);
    unsigned tail = atomic_load_explicit(&x->out_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&x->out_head, memory_order_acquire);
    while (tail != head) {
        deliver(x, &x->out[tail % OUT_SLOTS]);
        tail++;
        atomic_store_explicit(&x->out_tail, tail, memory_order_release);
        if (x->dead)
            return; /* a sink's receive ended it */
    }
}

static int spec_equal(const fl__xcode_spec *a, const fl__xcode_spec *b)
{
    return fl_sdp_codec_match(&a->out, &b->out) && a->max_width == b->max_width &&
           a->max_height == b->max_height && a->max_fps == b->max_fps &&
           a->max_kbps == b->max_kbps && a->min_kbps == b->min_kbps &&
           a->start_kbps == b->start_kbps;
}

int fl__xcode_possible(const fl_sdp_codec *in, const fl_sdp_codec *out)
{
    return in && out && fl_xcoder_supports(fl_codec_kind_of(in->name), fl_codec_kind_of(out->name));
}

static int start_kbps(const fl__xcode_spec *s, int video)
{
    int k = s->start_kbps ? s->start_kbps : video ? 300 : 0;
    if (video && s->max_kbps && k > s->max_kbps)
        k = s->max_kbps;
    if (video && s->min_kbps && k < s->min_kbps)
        k = s->min_kbps;
    return k;
}

static fl__xcode *xcode_new(fl__pad *src, const fl__xcode_spec *spec)
{
    fl_engine *engine = src->element->engine;
    codec_pool *pool = lock_pool(engine);
    if (!pool) {
        uv_mutex_unlock(&engine->codecs_lock);
        return NULL;
    }
    fl__xcode *x = calloc(1, sizeof(*x));
    if (!x) {
        uv_mutex_unlock(&engine->codecs_lock);
        return NULL;
    }
    codec_thread *t = &pool->th[0];
    for (int i = 1; i < pool->n; i++) {
        if (atomic_load(&pool->th[i].load) < atomic_load(&t->load))
            t = &pool->th[i];
    }
    static atomic_uint ids;
    x->id = atomic_fetch_add(&ids, 1) + 1;
    x->src = src;
    x->w = src->element->worker;
    x->th = t;
    x->spec = *spec;
    x->out_kind = fl_codec_kind_of(spec->out.name);
    x->video = fl_codec_kind_is_video(x->out_kind);
    x->kbps = start_kbps(spec, x->video);
    atomic_store(&x->new_kbps, x->kbps);
    fl_rand *r = fl__clock_rand(&x->w->loop);
    x->ssrc = fl_rand_u32(r);
    x->seq = (uint16_t)fl_rand_u32(r);
    x->out_rate = spec->out.clock_rate ? spec->out.clock_rate : 90000;
    if (uv_async_init(&x->w->loop, &x->async, on_async) != 0) {
        uv_mutex_unlock(&engine->codecs_lock);
        free(x);
        return NULL;
    }
    x->async.data = x;
    atomic_fetch_add(&t->load, 1);
    uv_mutex_lock(&t->lock);
    fl_list_push_back(&t->adds, &x->job);
    uv_mutex_unlock(&t->lock);
    uv_mutex_unlock(&engine->codecs_lock);
    fl_list_push_back(&src->xcodes, &x->node);
    fl_log(FL_LOG_DEBUG, "transcoder %u on %s: to %s/%u %dx%d@%d", x->id, src->element->name,
           spec->out.name, spec->out.clock_rate, spec->max_width, spec->max_height, spec->max_fps);
    return x;
}

static void xcode_end(fl__xcode *x)
{
    x->dead = 1;
    fl_list_remove(&x->node);
    fl_log(FL_LOG_INFO,
           "transcoder %u ends: %llu frames in, %llu encoded, %llu skipped, %llu "
           "dropped",
           x->id, (unsigned long long)x->frames_in, (unsigned long long)atomic_load(&x->encoded),
           (unsigned long long)atomic_load(&x->skipped),
           (unsigned long long)(x->dropped_full + atomic_load(&x->dropped_out)));
    atomic_store(&x->stop, 1);
    uv_sem_post(&x->th->wake);
}

int fl__xcode_attach(fl__pad *sink, const fl__xcode_spec *spec)
{
    fl__pad *src = sink->src;
    if (!src)
        return FL_EINVAL;
    fl_codec_kind k = fl_codec_kind_of(spec->out.name);
    if (!fl_xcoder_supports(k, k))
        return FL_ENOTSUP;
    if (sink->xc && sink->xc->src == src && spec_equal(&sink->xc->spec, spec))
        return 0;
    fl__xcode *found = NULL;
    fl_list_foreach (it, &src->xcodes) {
        fl__xcode *x = fl_container_of(it, fl__xcode, node);
        if (spec_equal(&x->spec, spec)) {
            found = x;
            break;
        }
    }
    int fresh = !found;
    if (!found && !(found = xcode_new(src, spec)))
        return FL_ENOMEM;
    fl__xcode_detach(sink);
    sink->xc = found;
    found->nsinks++;
    fl__worker_caps_changed(found->w);
    if (fresh)
        request_upstream(found, 1);
    else
        atomic_store(&found->force_key, 1); /* the new sink starts from a key frame */
    return 0;
}

void fl__xcode_detach(fl__pad *sink)
{
    fl__xcode *x = sink->xc;
    if (!x)
        return;
    sink->xc = NULL;
    fl__worker_caps_changed(x->w);
    if (--x->nsinks == 0)
        xcode_end(x);
}

const fl_sdp_codec *fl__xcode_caps(const fl__xcode *x)
{
    return &x->spec.out;
}

void fl__xcode_stats(const fl__xcode *x, fl_stats_outbound_rtp *out)
{
    out->xcode_frames_in = (int64_t)x->frames_in;
    out->xcode_frames_encoded = (int64_t)atomic_load(&x->encoded);
    out->xcode_frames_skipped = (int64_t)atomic_load(&x->skipped);
    out->xcode_frames_dropped = (int64_t)(x->dropped_full + atomic_load(&x->dropped_out));
    out->xcode_bitrate = x->video ? (int64_t)x->kbps * 1000 : 0;
}

void fl__xcode_key_frame(fl__xcode *x)
{
    atomic_store(&x->force_key, 1);
}

/* The target bitrate: what the sinks can take, within the spec's bounds. */
static void rate_update(fl__xcode *x, uint64_t now_ms)
{
    if (x->rate_ms && now_ms - x->rate_ms < RATE_PERIOD_MS)
        return;
    x->rate_ms = now_ms;
    if (!x->video)
        return;
    uint64_t least = 0;
    for (size_t i = 0; i < x->src->nsinks; i++) {
        fl__pad *s = x->src->sinks[i];
        const fl__element_type *t = s->element->type;
        uint64_t b = s->xc == x && t->bitrate ? t->bitrate(s->element, s->media) : 0;
        if (b && (!least || b < least))
            least = b;
    }
    int kbps = least ? (int)(least / 1000) : start_kbps(&x->spec, 1);
    if (x->spec.max_kbps && kbps > x->spec.max_kbps)
        kbps = x->spec.max_kbps;
    if (x->spec.min_kbps && kbps < x->spec.min_kbps)
        kbps = x->spec.min_kbps;
    if (kbps < 30)
        kbps = 30;
    if (kbps != x->kbps) {
        x->kbps = kbps;
        atomic_store(&x->new_kbps, kbps);
    }
}

/* The input's format, as the source says (a new source upstream changes
 * it); makes the depacketizer for it. 0 when it has none. */
static int input_format(fl__xcode *x, fl__pad *sink)
{
    if (x->in_gen == x->w->graph_gen && x->depack)
        return 1;
    x->in_gen = x->w->graph_gen;
    const fl_sdp_codec *in = fl__pad_caps(sink);
    fl_codec_kind k = in ? fl_codec_kind_of(in->name) : FL_CODEC_OTHER;
    if (in)
        x->in_pt = in->pt;
    if (!fl_xcoder_supports(k, x->out_kind)) {
        fl_depack_destroy(x->depack);
        x->depack = NULL;
        x->in_kind = FL_CODEC_OTHER;
        return 0;
    }
    if (k == x->in_kind && x->depack)
        return 1;
    fl_depack_destroy(x->depack);
    x->depack = NULL;
    fl_depack_config dc = { .codec = k, .clock_rate = in->clock_rate, .fmtp = in->fmtp };
    if (fl_depack_create(&x->depack, &dc) < 0)
        return 0;
    x->in_kind = k;
    x->in_ext_known = 0;
    x->in_rate = in->clock_rate ? in->clock_rate : 90000;
    request_upstream(x, 1);
    return 1;
}

static void xcode_input(fl__xcode *x, fl_buf *buf)
{
    fl__pad *sink = first_sink(x);
    if (!sink || !buf->rtp.parsed || !input_format(x, sink) || buf->rtp.payload_type != x->in_pt)
        return;
    uint64_t now_ms = (uint64_t)(fl__clock_now(&x->w->loop) / FL_TIME_MS);
    rate_update(x, now_ms);
    if (buf->rtp.ssrc != x->in_ssrc || !x->in_ext_known) {
        if (x->frames_in)
            x->in_epoch++; /* another source: its own decoder state and timeline */
        x->in_ssrc = buf->rtp.ssrc;
        x->in_ext = buf->rtp.timestamp;
        x->in_ext_known = 1;
    }
    x->in_ext += (uint64_t)(int64_t)(int32_t)(buf->rtp.timestamp - (uint32_t)x->in_ext);
    fl_depack_packet p = { .payload = fl_buf_data(buf) + buf->rtp.payload_off,
                           .len = buf->rtp.payload_len,
                           .seq = buf->rtp.seq,
                           .ts = buf->rtp.timestamp,
                           .marker = buf->rtp.marker };
    fl_depack_push(x->depack, &p);
    fl_frame f;
    int woke = 0;
    while (fl_depack_pull(x->depack, &f) == 1) {
        x->frames_in++;
        unsigned head = atomic_load_explicit(&x->in_head, memory_order_relaxed);
        unsigned tail = atomic_load_explicit(&x->in_tail, memory_order_acquire);
        slot *s = &x->in[head % IN_SLOTS];
        if (head - tail >= IN_SLOTS || slot_fill(s, f.data, f.len) < 0) {
            /* the codec thread is far behind: this frame is lost to the
             * decoder, which then needs a key frame */
            x->dropped_full++;
            atomic_store(&x->want_key, 1);
            continue;
        }
        s->ts = f.rtp_ts;
        s->key = f.key;
        s->kind = x->in_kind;
        s->epoch = x->in_epoch;
        atomic_store_explicit(&x->in_head, head + 1, memory_order_release);
        woke = 1;
    }
    if (woke)
        uv_sem_post(&x->th->wake);
    if (fl_depack_wants_key(x->depack) || atomic_exchange(&x->want_key, 0))
        request_upstream(x, 0);
}

void fl__xcode_push(fl__pad *src, fl_buf *buf)
{
    fl_list_foreach_safe (it, tmp, &src->xcodes)
        xcode_input(fl_container_of(it, fl__xcode, node), buf);
}

int fl__xcode_sender_report(fl__xcode *x, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent)
{
    fl__pad *sink = first_sink(x);
    uint32_t ts;
    if (ssrc != x->ssrc || !sink || !x->in_rate ||
        fl__pad_sender_report_upstream(sink, x->in_ssrc, &ts, sent) != 0)
        return FL_ENOENT;
    /* video keeps the input's timestamps; audio's are scaled by the clocks,
     * from the timestamp unwrapped as the codec side unwraps it (from the
     * source's first one) */
    if (x->in_rate == x->out_rate) {
        *rtp_ts = ts;
        return 0;
    }
    uint64_t ext = x->in_ext + (uint64_t)(int64_t)(int32_t)(ts - (uint32_t)x->in_ext);
    *rtp_ts = (uint32_t)(ext * x->out_rate / x->in_rate);
    return 0;
}

void fl__xcode_dot(const fl_element *e,
                   uint64_t from_id,
                   void (*out)(void *arg, const char *fmt, ...)
                           __attribute__((format(printf, 2, 3))),
                   void *arg)
{
    fl_list_foreach (it, &e->pads) {
        const fl__pad *src = fl_container_of(it, fl__pad, node);
        if (src->dir != FL_DIR_SOURCE)
            continue;
        fl_list_foreach (jt, &src->xcodes) {
            const fl__xcode *x = fl_container_of(jt, fl__xcode, node);
            out(arg,
                "  transcoder_%u [label=\"transcoder %s -> %s/%u\\n%d sinks, %llu frames in, "
                "%llu encoded, %llu skipped, %llu dropped\", shape=ellipse];\n",
                x->id, fl_codec_kind_name(x->in_kind), x->spec.out.name, x->spec.out.clock_rate,
                x->nsinks, (unsigned long long)x->frames_in,
                (unsigned long long)atomic_load(&x->encoded),
                (unsigned long long)atomic_load(&x->skipped),
                (unsigned long long)(x->dropped_full + atomic_load(&x->dropped_out)));
            out(arg, "  e%llu -> transcoder_%u [label=\"%s\"];\n", (unsigned long long)from_id,
                x->id, fl_media_type_name(src->media));
            for (size_t i = 0; i < src->nsinks; i++) {
                if (src->sinks[i]->xc == x)
                    out(arg, "  transcoder_%u -> e%llu;\n", x->id,
                        (unsigned long long)src->sinks[i]->element->id);
            }
        }
    }
}

void fl__xcode_say(fl_element *e, fl__pad *sink, int *said)
{
    int state = sink->xc != NULL;
    if (!e || *said == state + 1)
        return;
    *said = state + 1;
    fl_event ev = { .type = FL_EVENT_MEDIA_TRANSCODING,
                    .media_transcoding = {
                            .media = sink->media, .transcoding = state, .bin_name = e->name } };
    fl__element_raise(e, &ev);
}

/* ---- what elements ask for ---- */

int fl__element_format_forced(const fl_element *e, unsigned media, const fl_sdp_codec *in)
{
    const fl__format *f = &e->format[media == FL_MEDIA_VIDEO ? 1 : 0];
    return f->fps || f->width || f->height || f->kbps ||
           (f->codec[0] && in && strcasecmp(f->codec, in->name) != 0);
}

void fl__xcode_spec_for(const fl_element *e,
                        unsigned media,
                        const fl_sdp_codec *target,
                        fl__xcode_spec *out)
{
    const fl__format *f = &e->format[media == FL_MEDIA_VIDEO ? 1 : 0];
    memset(out, 0, sizeof(*out));
    out->out = *target;
    if (media == FL_MEDIA_VIDEO) {
        out->max_width = f->width;
        out->max_height = f->height;
        out->max_fps = f->fps;
        out->max_kbps = e->enc_max_bps / 1000;
        out->min_kbps = e->enc_min_bps / 1000;
        out->start_kbps = e->enc_bps / 1000;
    } else {
        out->start_kbps = f->kbps;
        out->max_kbps = f->kbps;
    }
}

int fl__xcode_is_property(const char *name)
{
    static const char *const names[] = { "audioFormat", "videoFormat", "encoderBitrate",
                                         "minEncoderBitrate", "maxEncoderBitrate" };
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || (*end && *end != ';') || n < lo || n > hi)
        return FL_EINVAL;
    *out = (int)n;
    return 0;
}

static int parse_format(const char *v, fl__format *f)
{
    memset(f, 0, sizeof(*f));
    while (v && *v) {
        const char *eq = strchr(v, '='), *end = strchr(v, ';');
        if (!eq || (end && eq > end))
            return FL_EINVAL;
        size_t klen = (size_t)(eq - v);
        const char *val = eq + 1;
        int rc = 0;
        if (klen == 5 && strncmp(v, "codec", 5) == 0) {
            size_t n = end ? (size_t)(end - val) : strlen(val);
            if (n >= sizeof(f->codec))
                return FL_EINVAL;
            memcpy(f->codec, val, n);
            f->codec[n] = '\0';
            if (fl_codec_kind_of(f->codec) == FL_CODEC_OTHER && strcasecmp(f->codec, "RAW") != 0)
                return FL_EINVAL;
        } else if (klen == 3 && strncmp(v, "fps", 3) == 0) {
            rc = parse_int(val, 0, 120, &f->fps);
        } else if (klen == 5 && strncmp(v, "width", 5) == 0) {
            rc = parse_int(val, 0, 8192, &f->width);
        } else if (klen == 6 && strncmp(v, "height", 6) == 0) {
            rc = parse_int(val, 0, 8192, &f->height);
        } else if (klen == 4 && strncmp(v, "kbps", 4) == 0) {
            rc = parse_int(val, 0, 100000, &f->kbps);
        } else {
            return FL_EINVAL;
        }
        if (rc < 0)
            return rc;
        v = end ? end + 1 : NULL;
    }
    return 0;
}

int fl__xcode_set_property(fl_element *e, const char *name, const char *value)
{
    int rc = 0, n;
    if (strcmp(name, "audioFormat") == 0 || strcmp(name, "videoFormat") == 0) {
        fl__format f;
        if ((rc = parse_format(value, &f)) < 0)
            return rc;
        e->format[name[0] == 'v'] = f;
    } else if ((rc = parse_int(value, 0, 1000000000, &n)) < 0) {
        return rc;
    } else if (strcmp(name, "encoderBitrate") == 0) {
        e->enc_bps = n;
    } else if (strcmp(name, "minEncoderBitrate") == 0) {
        e->enc_min_bps = n;
    } else if (strcmp(name, "maxEncoderBitrate") == 0) {
        e->enc_max_bps = n;
    } else {
        return FL_EINVAL;
    }
    fl__worker_caps_changed(e->worker); /* its sinks decide again */
    return 0;
}
