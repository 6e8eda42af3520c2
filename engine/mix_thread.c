/* A mixing hub's thread (engine/mix_int.h, engine/mix.c): every 20 ms
 * it takes in what the worker queued (layout changes, whole input frames
 * it decodes), mixes and encodes audio; every 1/framerate s it composes
 * and encodes the pictures; it queues the encoded frames for the worker. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/compose.h"
#include "engine/mix_int.h"

void fl__mix_tport_reset(tport *t, unsigned gen)
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
    t->pic_seq++;
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
            /* a port gone, replaced, or whose input went: its slot starts
             * afresh (no stale picture or sound for the next one) */
            for (int p = 0; p < MAX_PORTS; p++) {
                tport *t = &m->tp[p];
                int gone = !((s->lay.present >> p) & 1) || s->lay.gen[p] != t->gen ||
                           ((m->lay.input >> p) & 1 && !((s->lay.input >> p) & 1));
                if (gone && (t->vdec || t->adec || t->has_pic || t->gen != s->lay.gen[p]))
                    fl__mix_tport_reset(t, s->lay.gen[p]);
            }
            m->lay = s->lay;
        } else {
            tport *t = &m->tp[s->port];
            if (t->gen != s->gen)
                fl__mix_tport_reset(t, s->gen);
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
    int room = head - tail < OUT_SLOTS; /* else that slot is the worker's next: left alone */
    if (room) {
        fl_bytes_clear(&o->b);
        room = fl_bytes_append(&o->b, data, len) == 0;
    }
    if (!room) {
        atomic_fetch_add(&m->dropped_out, 1);
        if (media == FL_MEDIA_VIDEO)
            atomic_store(&m->force_key, 1); /* the viewers lost a frame */
        return 0;
    }
    o->media = media;
    o->target = target;
    o->ts = ts;
    o->key = key;
    o->at_ns = m->tick_ns;
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
        if (!((l->present & l->watched[0]) >> p & 1) || !key)
            continue; /* nobody listens to that port */
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
            int32_t sum[AFRAME];
            memset(sum, 0, sizeof(sum));
            for (int s = 0; s < MAX_PORTS; s++) {
                if ((key & (1u << s)) && m->tp[s].has_cur)
                    fl_pcm_accumulate(sum, m->tp[s].cur, AFRAME);
            }
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

fl_codec_kind fl__mix_fmt_kind(int fmt)
{
    return fmt == FMT_H264 ? FL_CODEC_H264 : fmt == FMT_VP9 ? FL_CODEC_VP9 : FL_CODEC_VP8;
}

static void canvas_codecs_free(canvas *c)
{
    for (int f = 0; f < NFMT; f++) {
        fl_venc_destroy(c->enc[f]);
        c->enc[f] = NULL;
    }
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
        canvas_codecs_free(c);
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

/* The picture, once in each format of `fmts` (a mask of FMT_*). */
static void encode_canvas(fl__mix *m, canvas *c, uint32_t ts90k, int force, unsigned fmts)
{
    int kbps = atomic_load(&m->kbps);
    c->sent_ns = m->tick_ns;
    atomic_fetch_add(&m->composed, 1);
    for (int f = 0; f < NFMT; f++) {
        if (!((fmts >> f) & 1))
            continue;
        if (!c->enc[f]) {
            fl_venc_config vc = { .kind = fl__mix_fmt_kind(f),
                                  .width = c->pic.width,
                                  .height = c->pic.height,
                                  .fps = m->fps,
                                  .kbps = kbps };
            if (fl_venc_create(&c->enc[f], &vc) < 0)
                continue;
            c->kbps[f] = kbps;
        }
        if (kbps != c->kbps[f] && fl_venc_set_bitrate(c->enc[f], kbps) == 0)
            c->kbps[f] = kbps;
        fl_venc_frame out;
        if (fl_venc_encode(c->enc[f], &c->pic, ts90k, force, &out) == 1 &&
            put_out(m, FL_MEDIA_VIDEO, c->target | (uint32_t)f << 8, out.data, out.len, ts90k,
                    out.key))
            atomic_fetch_add(&m->encoded, 1);
    }
}

/* The formats the watched ports showing picture `target` go out in. */
static unsigned formats(const fl__mix *m, uint32_t target)
{
    const layout *l = &m->lay;
    unsigned fmts = 0;
    for (int p = 0; p < MAX_PORTS; p++) {
        if (((l->present & l->watched[1]) >> p & 1) &&
            (m->kind != MIXER || (l->vfrom[p] >= 0 && (uint32_t)l->vfrom[p] == target)))
            fmts |= 1u << l->vfmt[p];
    }
    return fmts;
}

/* Whether a canvas is made this tick: an unchanged one (no input picture
 * yet, or a Mixer source with no new picture) once a second only, unless
 * a viewer wants a key frame. It stays in use either way. */
static int due(fl__mix *m, canvas *c, int changed, int force)
{
    c->used = 1;
    c->idle = 0;
    return changed || force || !c->sent_ns || m->tick_ns - c->sent_ns >= 1000000000u;
}

static void video_tick(fl__mix *m, uint64_t now_ns)
{
    const layout *l = &m->lay;
    uint32_t ts90k = m->video_ts0 + (uint32_t)((now_ns - m->start_ns) * 9 / 100000);
    int force = atomic_exchange(&m->force_key, 0);
    for (int i = 0; i < MAX_PORTS; i++)
        m->canvases[i].used = 0;
    int any = 0;
    for (int s = 0; s < MAX_PORTS; s++)
        any |= (l->present >> s) & 1 && m->tp[s].has_pic;
    if (!(l->present & l->watched[1])) {
        /* nobody watches: nothing made (the canvases stay a while) */
    } else if (m->kind == COMPOSITE) {
        canvas *c = canvas_for(m, 0, m->width, m->height);
        if (c && due(m, c, any, force)) {
            compose_grid(m, c);
            encode_canvas(m, c, ts90k, force, formats(m, 0));
        }
    } else if (m->kind == ALPHA && l->master >= 0 && m->tp[l->master].has_pic) {
        const fl_picture *mp = &m->tp[l->master].pic;
        canvas *c = canvas_for(m, 0, mp->width, mp->height);
        if (c && due(m, c, 1, force)) {
            compose_alpha(m, c);
            encode_canvas(m, c, ts90k, force, formats(m, 0));
        }
    } else if (m->kind == MIXER) {
        uint32_t shown = 0;
        for (int p = 0; p < MAX_PORTS; p++) {
            if ((l->present & l->watched[1]) >> p & 1 && l->vfrom[p] >= 0)
                shown |= 1u << l->vfrom[p];
        }
        for (int s = 0; s < MAX_PORTS; s++) {
            if (!((shown >> s) & 1) || !m->tp[s].has_pic)
                continue;
            const fl_picture *sp = &m->tp[s].pic;
            canvas *c = canvas_for(m, (uint32_t)s, sp->width, sp->height);
            if (c && due(m, c, c->seq != m->tp[s].pic_seq, force) &&
                fl_picture_scale(sp, &c->pic) == 0) {
                c->seq = m->tp[s].pic_seq;
                encode_canvas(m, c, ts90k, force, formats(m, (uint32_t)s));
            }
        }
    }
    for (int i = 0; i < MAX_PORTS; i++) {
        canvas *c = &m->canvases[i];
        if (c->pic.width && !c->used && ++c->idle > 5 * m->fps) {
            canvas_codecs_free(c);
            fl_picture_free(&c->pic);
        }
    }
}

uint64_t fl__mix_mono_ns(void)
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

void fl__mix_thread_main(void *arg)
{
    fl__mix *m = arg;
    char name[16];
    snprintf(name, sizeof(name), "fluo-mix");
    pthread_setname_np(pthread_self(), name);
    const uint64_t aperiod = 20000000u, vperiod = 1000000000u / (uint64_t)m->fps;
    m->start_ns = m->tick_ns = fl__mix_mono_ns();
    uint64_t next_a = m->start_ns, next_v = m->start_ns;
    while (!atomic_load(&m->stop)) {
        uint64_t next = next_a < next_v ? next_a : next_v;
        uint64_t now = fl__mix_mono_ns();
        if (now < next) {
            sleep_until(next);
            now = fl__mix_mono_ns();
        }
        drain_inputs(m);
        unsigned before = atomic_load_explicit(&m->out_head, memory_order_relaxed);
        if (now >= next_a) {
            m->tick_ns = next_a;
            audio_tick(m);
            next_a += aperiod;
            if (now > next_a + 10 * aperiod) { /* far behind (a stall): no burst to catch up */
                atomic_fetch_add(&m->late_ticks, (now - next_a) / aperiod);
                next_a = now + aperiod;
            }
        }
        if (now >= next_v) {
            m->tick_ns = next_v;
            video_tick(m, next_v);
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
