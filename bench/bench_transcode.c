/* `fluo-bench transcode [--sessions N] [--seconds S] [--rounds R]`: what
 * fluo's automatic transcoding costs on top of the codec libraries, and how
 * many transcoding sessions this machine holds at full frame rate.
 *
 * In process: an engine with one worker and a codec thread per core. A
 * session is one pipeline with two links, each an AppSource pushing one
 * format into an AppSink that takes the other, so the engine puts a
 * transcoder on each: VP8 -> H.264 (Constrained Baseline,
 * packetization-mode 1) and H.264 -> VP8 ("and back"). The sources are the
 * 640x480 30 frames/s 1 Mbit/s clips of codec.h (fl_clip_vp8, fl_clip_h264),
 * looped (sequence numbers, timestamps and VP8 picture ids carried on
 * across loops) and pushed in real time from the main thread, the sessions
 * spread over the frame interval. The AppSinks ask for 1 Mbit/s
 * (encoderBitrate) and count the frames they get (marker bits): the
 * transcoded frames.
 *
 * fluo's cost: the process's CPU time (getrusage, user + sys) over a
 * window after a warm-up, divided by the frames out of the AppSinks. Nothing
 * is subtracted: the main thread's pacing and pushing (a copy and a call
 * posted to the worker per packet) is in it. It is also split by thread
 * (/proc/self/task/TID/schedstat): the main thread, the worker, the codec
 * threads. The bare reference, in the same run: the clips' frames,
 * depacketized once up front, through fl_vdec (VP8) + fl_venc (H.264) and
 * fl_vdec (H.264) + fl_venc (VP8) at the same size, bitrate and frame rate,
 * on one thread, timed with its thread CPU clock per frame; once paced at
 * the clips' frame rate as fluo gets them (the headline reference: a frame
 * that comes every 33 ms finds colder caches than one in a tight loop), and
 * once in a tight loop (the floor). The ratio is fluo's CPU over what the
 * bare libraries spend on the same frames (each direction's bare cost per
 * frame times the frames fluo made in that direction). Reference and fluo
 * runs alternate over R rounds; medians and ranges are printed.
 *
 * Capacity: N = 1, 2, ... sessions, each for a shorter window, until an
 * AppSink gets less than 29/30 of its source's frame rate or a transcoder
 * skips or drops a frame (its counts in the pipeline's DOT graph); the
 * largest N that held is reported. The table comes last, then one line:
 * `transcode sessions=N rounds=R cpu_us_per_frame=X bare_us_per_frame=Y
 * ratio=Z ratio_min=A ratio_max=B ratio_tight_loop=C max_sessions=M`. */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/bench_media.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "engine/fluo.h"
#include "net/rtp.h"

#define CLIP_W       640
#define CLIP_H       480
#define CLIP_FPS     30
#define CLIP_KBPS    1000
#define CLIP_S       4
#define MAX_PAYLOAD  1200
#define VP8_PT       96
#define H264_PT      102
#define H264_FMTP    "packetization-mode=1;profile-level-id=42e01f"
#define WARMUP_S     2.0
#define FIRST_WAIT_S (CLIP_S + 2.0) /* for every sink's first frame */
#define FULL_RATE    (29.0 / 30.0)  /* of the source's frame rate */
#define MAX_SESSIONS 64
#define MAX_ROUNDS   15
#define WAIT_MS      5000 /* for the engine's replies */
#define MAX_TASKS    64

/* What one AppSink got; written on the worker, read by the main thread. */
typedef struct xb_sink {
    uint8_t pt;
    fl_codec_kind kind;
    atomic_uint_fast64_t frames, packets, bytes, keys, foreign;
} xb_sink;

typedef struct xb_session {
    fl_pipeline *p;
    xb_stream in[2];
    xb_sink out[2]; /* 0: H.264 made from VP8, 1: VP8 made from H.264 */
} xb_session;

/* The transcoders' counts summed from the DOT graphs. */
typedef struct xb_dot {
    unsigned long long in, encoded, skipped, dropped;
    int transcoders;
} xb_dot;

/* The process's threads and their CPU time (/proc/self/task/TID/schedstat:
 * ns on a CPU), to split fluo's time between the main thread (pacing and
 * pushing), the engine's worker and its codec threads. */
typedef struct xb_tasks {
    int n;
    int tid[MAX_TASKS];
    double us[MAX_TASKS];
} xb_tasks;

typedef struct xb_run {
    fl_engine *engine;
    xb_session *s;
    int n;
    atomic_int dones, failed;
    atomic_int dots;
    _Atomic(xb_dot *) dot;
    int64_t t0_us;
    xb_tasks before; /* the threads before any transcoder: main and worker */
} xb_run;

/* What one measured window gave. */
typedef struct xb_fig {
    int sessions;
    double cpu_us;                       /* process CPU over the window */
    double main_us, worker_us, codec_us; /* of which: pushing, the worker, codec threads */
    double frames[2];                    /* out of the AppSinks, per direction */
    double fps_min;                      /* the slowest sink's frames a second */
    double rate_min;                     /* the slowest sink's, over its source's frame rate */
    double out_kbps[2];                  /* payload bit rate per sink, per direction (mean) */
    unsigned long long skipped, dropped;
    unsigned long long foreign; /* packets of the source's format handed to a sink */
    double bare_us, ratio;      /* bare CPU per frame for the same frames, paced; fluo's over it */
    double hot_us, ratio_hot;   /* the same against the bare libraries in a tight loop */
    int held;
} xb_fig;

/* Thread CPU per frame of the bare libraries, per direction, and their
 * output bit rate. */
typedef struct xb_bare {
    double us[2];
    double kbps[2];
} xb_bare;

/* One round's reference: the frames paced as fluo gets them, and in a
 * tight loop (warm caches: the floor). */
typedef struct xb_ref {
    xb_bare paced, hot;
} xb_ref;

static void tasks_read(xb_tasks *t)
{
    t->n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && t->n < MAX_TASKS) {
        char path[64];
        unsigned long long ns;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%.16s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fscanf(f, "%llu", &ns) == 1) {
            t->tid[t->n] = atoi(e->d_name);
            t->us[t->n++] = (double)ns / 1e3;
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
}

static int tasks_has(const xb_tasks *t, int tid)
{
    for (int i = 0; i < t->n; i++) {
        if (t->tid[i] == tid)
            return 1;
    }
    return 0;
}

/* ---- the clips ---- */

static int clips_make(xb_clip *vp8, xb_clip *h264)
{
    *vp8 = (xb_clip){ .kind = FL_CODEC_VP8, .pt = VP8_PT, .caps = "96 VP8/90000" };
    *h264 = (xb_clip){ .kind = FL_CODEC_H264, .pt = H264_PT, .caps = "102 H264/90000;" H264_FMTP };
    int rc = fl_clip_vp8(&vp8->clip, CLIP_W, CLIP_H, CLIP_FPS, CLIP_KBPS, CLIP_S, MAX_PAYLOAD);
    if (rc == 0)
        rc = fl_clip_h264(&h264->clip, CLIP_W, CLIP_H, CLIP_FPS, CLIP_KBPS, CLIP_S, MAX_PAYLOAD);
    if (rc == 0)
        rc = xb_clip_frames(vp8);
    if (rc == 0)
        rc = xb_clip_frames(h264);
    return rc;
}

/* ---- the bare reference ---- */

/* Frames of both clips, `loops` times, each direction's decode + encode
 * timed on this thread's CPU clock (the first second of frames warms up
 * and is not counted); paced: a frame pair every 1/CLIP_FPS s, sleeping in
 * between. 0, or a negative code when a library failed. */
static int ref_run(const xb_clip *clips[2], int loops, int paced, xb_bare *out)
{
    static const fl_codec_kind outk[2] = { FL_CODEC_H264, FL_CODEC_VP8 };
    fl_vdec *dec[2] = { NULL, NULL };
    fl_venc *enc[2] = { NULL, NULL };
    double cpu[2] = { 0, 0 }, bytes[2] = { 0, 0 };
    size_t counted[2] = { 0, 0 };
    int rc = 0;
    for (int d = 0; d < 2 && rc == 0; d++) {
        fl_venc_config vc = {
            .kind = outk[d], .width = CLIP_W, .height = CLIP_H, .fps = CLIP_FPS, .kbps = CLIP_KBPS
        };
        rc = fl_vdec_create(&dec[d], clips[d]->kind);
        if (rc == 0)
            rc = fl_venc_create(&enc[d], &vc);
    }
    size_t most = clips[0]->frames > clips[1]->frames ? clips[0]->frames : clips[1]->frames;
    int64_t t0 = xb_now_us();
    for (int l = 0; l < loops && rc == 0; l++) {
        for (size_t i = 0; i < most && rc == 0; i++) {
            if (paced)
                xb_sleep_until_us(t0 + (int64_t)((size_t)l * most + i) * 1000000 / CLIP_FPS);
            for (int d = 0; d < 2 && rc == 0; d++) {
                const xb_clip *c = clips[d];
                if (i >= c->frames)
                    continue;
                uint32_t ts = c->ts[i] + (uint32_t)l * c->clip->duration_ts;
                double t = xb_thread_cpu_us();
                fl_picture pic;
                fl_venc_frame f = { 0 };
                int got = fl_vdec_decode(dec[d], c->frame[i], c->len[i], &pic);
                if (got == 1)
                    got = fl_venc_encode(enc[d], &pic, ts, 0, &f);
                double spent = xb_thread_cpu_us() - t;
                if (got < 0) {
                    rc = got;
                } else if (l > 0 || i >= CLIP_FPS) {
                    cpu[d] += spent;
                    bytes[d] += got == 1 ? (double)f.len : 0;
                    counted[d]++;
                }
            }
        }
    }
    for (int d = 0; d < 2; d++) {
        fl_vdec_destroy(dec[d]);
        fl_venc_destroy(enc[d]);
        if (rc == 0 && counted[d] == 0)
            rc = FL_EINVAL;
        if (rc == 0) {
            out->us[d] = cpu[d] / (double)counted[d];
            out->kbps[d] = bytes[d] * 8 * clips[d]->fps / (double)counted[d] / 1000;
        }
    }
    return rc;
}

/* ---- fluo ---- */

static void on_done(void *arg, int status)
{
    xb_run *r = arg;
    if (status < 0)
        atomic_store(&r->failed, status);
    atomic_fetch_add(&r->dones, 1);
}

/* Waits (sleeping) for *counter to reach target: 0, or FL_ETIMEDOUT. */
static int wait_count(atomic_int *counter, int target)
{
    for (int i = 0; i < WAIT_MS && atomic_load(counter) < target; i++)
        xb_sleep_ms(1);
    return atomic_load(counter) >= target ? 0 : FL_ETIMEDOUT;
}

/* An AppSink's packet, on the worker: counted when it is of the sink's
 * format, as foreign otherwise. */
static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    xb_sink *k = arg;
    fl_rtp_view v;
    (void)media;
    if (fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) != 0 || v.payload_type != k->pt) {
        atomic_fetch_add_explicit(&k->foreign, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&k->packets, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->bytes, v.payload_len, memory_order_relaxed);
    if (v.marker)
        atomic_fetch_add_explicit(&k->frames, 1, memory_order_relaxed);
    if (fl_codec_key_frame_start(k->kind, v.payload, v.payload_len))
        atomic_fetch_add_explicit(&k->keys, 1, memory_order_relaxed);
}

/* The pipeline of session i: two AppSource -> AppSink links, each sink
 * taking the other format. Its calls are posted; on_done counts them. */
static int session_open(xb_run *r, int i, const xb_clip *clips[2], int *calls)
{
    xb_session *s = &r->s[i];
    int rc = fl_pipeline_create(r->engine, &s->p);
    for (int d = 0; d < 2 && rc == 0; d++) {
        const xb_clip *from = clips[d], *to = clips[1 - d];
        fl_element *src = NULL, *sink = NULL;
        s->out[d].pt = to->pt;
        s->out[d].kind = to->kind;
        rc = fl_element_create(s->p, FL_ELEMENT_APP_SOURCE, NULL, &src);
        if (rc == 0)
            rc = fl_element_create(s->p, FL_ELEMENT_APP_SINK, NULL, &sink);
        if (rc == 0)
            rc = fl_element_set_property(src, "videoCaps", from->caps, on_done, r);
        if (rc == 0)
            rc = fl_element_set_property(sink, "videoCaps", to->caps, on_done, r);
        if (rc == 0)
            rc = fl_element_set_property(sink, "encoderBitrate", "1000000", on_done, r);
        if (rc == 0)
            rc = fl_element_set_media_cb(sink, on_media, &s->out[d]);
        if (rc == 0)
            rc = fl_element_connect(src, sink, FL_MEDIA_VIDEO, NULL, NULL, on_done, r);
        *calls += rc == 0 ? 4 : 0;
        s->in[d] =
                (xb_stream){ .src = src,
                             .c = from,
                             .ssrc = 0x10000u + (uint32_t)(2 * i + d),
                             .offset_us = (int64_t)(2 * i + d) * 1000000 / CLIP_FPS / (2 * r->n) };
    }
    return rc;
}

static int64_t stream_due(const xb_run *r, const xb_stream *st)
{
    const fl_clip *k = st->c->clip;
    return r->t0_us + st->offset_us + (int64_t)(st->loop * k->duration_us) +
           (int64_t)k->pkts[st->next].send_us;
}

/* Pushes every source's packets in real time until `until` (or, with
 * until 0, until every sink has had a frame, or FIRST_WAIT_S has passed). */
static int pace(xb_run *r, int64_t until)
{
    int64_t first_by = xb_now_us() + (int64_t)(FIRST_WAIT_S * 1e6);
    for (;;) {
        int64_t now = xb_now_us();
        if (until ? now >= until : now >= first_by)
            return until ? 0 : FL_ETIMEDOUT;
        if (!until) {
            int all = 1;
            for (int i = 0; i < r->n && all; i++)
                all = atomic_load(&r->s[i].out[0].frames) && atomic_load(&r->s[i].out[1].frames);
            if (all)
                return 0;
        }
        xb_stream *next = NULL;
        int64_t due = INT64_MAX;
        for (int i = 0; i < r->n; i++) {
            for (int d = 0; d < 2; d++) {
                int64_t t = stream_due(r, &r->s[i].in[d]);
                if (t < due) {
                    due = t;
                    next = &r->s[i].in[d];
                }
            }
        }
        if (due > now) {
            int64_t wake = until && until < due ? until : due;
            if (!until && wake > now + 1000)
                wake = now + 1000;
            xb_sleep_until_us(wake);
            continue;
        }
        int rc = xb_stream_push(next);
        if (rc < 0)
            return rc;
    }
}

/* A pipeline's DOT graph, on the worker: its transcoders' counts added up. */
static void on_dot(void *arg, int status, const char *text)
{
    xb_run *r = arg;
    xb_dot *sum = atomic_load(&r->dot);
    for (const char *p = text; status == 0 && p && (p = strstr(p, "\\n")) != NULL; p += 2) {
        int sinks;
        unsigned long long in, enc, skip, drop;
        if (sscanf(p, "\\n%d sinks, %llu frames in, %llu encoded, %llu skipped, %llu dropped",
                   &sinks, &in, &enc, &skip, &drop) == 5) {
            sum->in += in;
            sum->encoded += enc;
            sum->skipped += skip;
            sum->dropped += drop;
            sum->transcoders++;
        }
    }
    if (status < 0)
        atomic_store(&r->failed, status);
    atomic_fetch_add(&r->dots, 1);
}

/* Every pipeline's transcoder counts, summed into *out (one pipeline's
 * reply at a time, so the sum is written by one thread at a time). */
static int dot_sum(xb_run *r, xb_dot *out)
{
    memset(out, 0, sizeof(*out));
    atomic_store(&r->dot, out);
    for (int i = 0; i < r->n; i++) {
        int before = atomic_load(&r->dots);
        int rc = fl_pipeline_get_dot(r->s[i].p, on_dot, r);
        if (rc == 0)
            rc = wait_count(&r->dots, before + 1);
        if (rc < 0)
            return rc;
    }
    return atomic_load(&r->failed);
}

typedef struct xb_snap {
    int64_t t_us;
    double cpu_us;
    xb_tasks tasks;
    uint64_t frames[MAX_SESSIONS][2], bytes[MAX_SESSIONS][2];
    xb_dot dot;
} xb_snap;

/* The counters at one edge of the window: the DOT graphs are read before
 * the CPU time at the start (end: after), outside the window. */
static int snap_take(xb_run *r, xb_snap *s, int end)
{
    int rc = end ? 0 : dot_sum(r, &s->dot);
    s->cpu_us = xb_process_cpu_us();
    tasks_read(&s->tasks);
    s->t_us = xb_now_us();
    for (int i = 0; i < r->n; i++) {
        for (int d = 0; d < 2; d++) {
            s->frames[i][d] = atomic_load(&r->s[i].out[d].frames);
            s->bytes[i][d] = atomic_load(&r->s[i].out[d].bytes);
        }
    }
    return end ? dot_sum(r, &s->dot) : rc;
}

static void run_close(xb_run *r)
{
    int before = atomic_load(&r->dones), posted = 0;
    for (int i = 0; i < r->n; i++)
        posted += r->s[i].p && fl_pipeline_release(r->s[i].p, on_done, r) == 0;
    wait_count(&r->dones, before + posted);
    if (r->engine)
        fl_engine_destroy(r->engine);
    free(r->s);
}

static void figures(const xb_run *r, const xb_snap *a, const xb_snap *b, xb_fig *f)
{
    double secs = (double)(b->t_us - a->t_us) / 1e6;
    memset(f, 0, sizeof(*f));
    f->sessions = r->n;
    f->cpu_us = b->cpu_us - a->cpu_us;
    f->fps_min = 1e9;
    f->rate_min = 1e9;
    for (int i = 0; i < r->n; i++) {
        for (int d = 0; d < 2; d++) {
            double frames = (double)(b->frames[i][d] - a->frames[i][d]);
            double fps = frames / secs;
            f->frames[d] += frames;
            f->out_kbps[d] += (double)(b->bytes[i][d] - a->bytes[i][d]) * 8 / secs / 1000 / r->n;
            if (fps < f->fps_min)
                f->fps_min = fps;
            if (fps / r->s[i].in[d].c->fps < f->rate_min)
                f->rate_min = fps / r->s[i].in[d].c->fps;
            f->foreign += atomic_load(&r->s[i].out[d].foreign);
        }
    }
    for (int i = 0; i < b->tasks.n; i++) {
        double us = b->tasks.us[i];
        for (int j = 0; j < a->tasks.n; j++) {
            if (a->tasks.tid[j] == b->tasks.tid[i])
                us -= a->tasks.us[j];
        }
        if (b->tasks.tid[i] == (int)getpid())
            f->main_us += us;
        else if (tasks_has(&r->before, b->tasks.tid[i]))
            f->worker_us += us;
        else
            f->codec_us += us;
    }
    f->skipped = b->dot.skipped - a->dot.skipped;
    f->dropped = b->dot.dropped - a->dot.dropped;
    f->held = f->rate_min >= FULL_RATE && !f->skipped && !f->dropped &&
              b->dot.transcoders == 2 * r->n;
}

/* n sessions: set up, warmed up, measured over `seconds`, torn down. */
static int fluo_run(const xb_clip *clips[2], int n, int codec_threads, double seconds, xb_fig *f)
{
    xb_run r = { .n = n };
    fl_engine_config cfg = { .workers = 1, .codec_threads = codec_threads };
    int rc = fl_engine_create(&r.engine, &cfg);
    if (rc < 0)
        return rc;
    int calls = 0;
    if (!(r.s = calloc((size_t)n, sizeof(*r.s))))
        rc = FL_ENOMEM;
    for (int i = 0; i < n && rc == 0; i++)
        rc = session_open(&r, i, clips, &calls);
    if (wait_count(&r.dones, calls) < 0 && rc == 0)
        rc = FL_ETIMEDOUT;
    if (rc == 0)
        rc = atomic_load(&r.failed);
    tasks_read(&r.before);
    xb_snap a, b;
    r.t0_us = xb_now_us() + 10000;
    if (rc == 0)
        rc = pace(&r, 0);
    if (rc == 0)
        rc = pace(&r, xb_now_us() + (int64_t)(WARMUP_S * 1e6));
    if (rc == 0)
        rc = snap_take(&r, &a, 0);
    if (rc == 0)
        rc = pace(&r, xb_now_us() + (int64_t)(seconds * 1e6));
    if (rc == 0)
        rc = snap_take(&r, &b, 1);
    if (rc == 0)
        figures(&r, &a, &b, f);
    for (int i = 0; rc == 0 && i < n; i++) {
        for (int d = 0; d < 2; d++) {
            if (!atomic_load(&r.s[i].out[d].keys))
                rc = FL_EBADMSG; /* no key frame of the sink's format came */
        }
    }
    run_close(&r);
    return rc;
}

/* Fluo's CPU against the bare libraries' for the frames fluo made,
 * direction by direction: the bare CPU per frame and the ratio. */
static void rate_one(const xb_fig *f, const xb_bare *b, double *bare_us, double *ratio)
{
    double bare = b->us[0] * f->frames[0] + b->us[1] * f->frames[1];
    double frames = f->frames[0] + f->frames[1];
    *bare_us = frames > 0 ? bare / frames : 0;
    *ratio = bare > 0 ? f->cpu_us / bare : 0;
}

static void rate_against(xb_fig *f, const xb_ref *ref)
{
    rate_one(f, &ref->paced, &f->bare_us, &f->ratio);
    rate_one(f, &ref->hot, &f->hot_us, &f->ratio_hot);
}

static double per_frame(const xb_fig *f, double us)
{
    double frames = f->frames[0] + f->frames[1];
    return frames > 0 ? us / frames : 0;
}

/* ---- the command ---- */

typedef struct xb_opts {
    int sessions, rounds, max_sessions, codec_threads;
    double seconds, step_seconds;
} xb_opts;

void fl_bench_transcode_usage(FILE *out)
{
    fprintf(out, "  transcode [--sessions 1] [--seconds 5] [--rounds 3] [--max-sessions 16]\n"
                 "        [--step-seconds 4] [--codec-threads CORES]\n"
                 "        In process: N sessions of VP8 640x480 30 fps 1 Mbit/s -> H.264 and\n"
                 "        H.264 -> VP8 through AppSource -> AppSink links the engine transcodes\n"
                 "        (1 worker, a codec thread per core): fluo's CPU per transcoded frame\n"
                 "        against bare libvpx + openh264 decode and encode of the same frames\n"
                 "        in the same run (paced at 30 frames/s, and in a tight loop), over\n"
                 "        alternating rounds; then 1, 2, ... sessions until one falls below 29\n"
                 "        of 30 frames/s or a transcoder skips a frame (--max-sessions 0: no\n"
                 "        sweep). Last line: transcode sessions=N rounds=R cpu_us_per_frame=X\n"
                 "        bare_us_per_frame=Y ratio=Z ratio_min=A ratio_max=B\n"
                 "        ratio_tight_loop=C max_sessions=M\n");
}

static int parse_opts(int argc, char **argv, xb_opts *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (xb_opts){ .sessions = 1,
                    .rounds = 3,
                    .max_sessions = 16,
                    .codec_threads = cores > 0 ? (int)cores : 1,
                    .seconds = 5,
                    .step_seconds = 4 };
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return FL_EINVAL;
        if (strcmp(a, "--sessions") == 0)
            o->sessions = atoi(v);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = atoi(v);
        else if (strcmp(a, "--max-sessions") == 0)
            o->max_sessions = atoi(v);
        else if (strcmp(a, "--codec-threads") == 0)
            o->codec_threads = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--step-seconds") == 0)
            o->step_seconds = atof(v);
        else
            return FL_EINVAL;
    }
    if (o->sessions < 1 || o->sessions > MAX_SESSIONS || o->rounds < 1 || o->rounds > MAX_ROUNDS ||
        o->max_sessions < 0 || o->max_sessions > MAX_SESSIONS || o->codec_threads < 1 ||
        o->seconds < 1 || o->step_seconds < 1)
        return FL_EINVAL;
    return 0;
}

static void print_fig(const char *what, const xb_fig *f)
{
    printf("%s sessions=%d cpu_us_per_frame=%.0f main_us=%.0f worker_us=%.0f codec_us=%.0f "
           "bare_us_per_frame=%.0f ratio=%.2f tight_loop_us=%.0f ratio_tight_loop=%.2f "
           "frames=%.0f+%.0f fps_min=%.1f skipped=%llu dropped=%llu kbps_out=%.0f/%.0f "
           "foreign=%llu%s\n",
           what, f->sessions, per_frame(f, f->cpu_us), per_frame(f, f->main_us),
           per_frame(f, f->worker_us), per_frame(f, f->codec_us), f->bare_us, f->ratio, f->hot_us,
           f->ratio_hot, f->frames[0], f->frames[1], f->fps_min, f->skipped, f->dropped,
           f->out_kbps[0], f->out_kbps[1], f->foreign, f->held ? "" : " (below full rate)");
    fflush(stdout);
}

/* Alternating rounds of the references and of fluo with o->sessions. */
static int ratio_rounds(const xb_clip *clips[2], const xb_opts *o, xb_fig *figs, xb_ref *refs)
{
    for (int k = 0; k < o->rounds; k++) {
        int rc = 0;
        for (int step = 0; step < 2 && rc == 0; step++) {
            if ((step == 0) == (k % 2 == 0)) {
                rc = ref_run(clips, 1, 1, &refs[k].paced);
                if (rc == 0)
                    rc = ref_run(clips, 2, 0, &refs[k].hot);
                if (rc == 0)
                    printf("bare round=%d paced_us=%.0f/%.0f tight_loop_us=%.0f/%.0f "
                           "kbps_out=%.0f/%.0f\n",
                           k + 1, refs[k].paced.us[0], refs[k].paced.us[1], refs[k].hot.us[0],
                           refs[k].hot.us[1], refs[k].paced.kbps[0], refs[k].paced.kbps[1]);
            } else {
                rc = fluo_run(clips, o->sessions, o->codec_threads, o->seconds, &figs[k]);
            }
        }
        if (rc < 0)
            return rc;
        rate_against(&figs[k], &refs[k]);
        char what[32];
        snprintf(what, sizeof(what), "fluo round=%d", k + 1);
        print_fig(what, &figs[k]);
    }
    return 0;
}

/* The references' medians over the rounds, direction by direction. */
static void ref_median(const xb_ref *refs, int n, xb_ref *out)
{
    double v[MAX_ROUNDS], x;
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < n; k++)
            v[k] = refs[k].paced.us[d];
        out->paced.us[d] = xb_median(v, n, &x, &x);
        for (int k = 0; k < n; k++)
            v[k] = refs[k].hot.us[d];
        out->hot.us[d] = xb_median(v, n, &x, &x);
    }
}

/* N = 1, 2, ... until a step falls short: the steps run, the largest N held. */
static int capacity(const xb_clip *clips[2],
                    const xb_opts *o,
                    const xb_ref *ref,
                    xb_fig *steps,
                    int *nsteps,
                    int *held)
{
    for (int n = 1; n <= o->max_sessions; n++) {
        xb_fig *f = &steps[*nsteps];
        int rc = fluo_run(clips, n, o->codec_threads, o->step_seconds, f);
        if (rc < 0)
            return rc;
        rate_against(f, ref);
        print_fig("fluo step", f);
        (*nsteps)++;
        if (!f->held)
            break;
        *held = n;
    }
    return 0;
}

static void print_row(const char *sessions,
                      const xb_fig *f,
                      const char *ranges[3],
                      const char *full)
{
    printf("| %s | %.0f%s | %.0f / %.0f / %.0f | %.0f%s | %.2f%s | %.2f | %.1f | %llu | %s |\n",
           sessions, per_frame(f, f->cpu_us), ranges[0], per_frame(f, f->codec_us),
           per_frame(f, f->worker_us), per_frame(f, f->main_us), f->bare_us, ranges[1], f->ratio,
           ranges[2], f->ratio_hot, f->fps_min, f->skipped + f->dropped, full);
}

/* The medians of the rounds (per frame, as a figure of one frame), with
 * the ranges of the headline ones; the slowest sink and the losses of all. */
static void rounds_median(const xb_opts *o, const xb_fig *figs, xb_fig *mid, char ranges[3][40])
{
    double v[5][MAX_ROUNDS], lo[3], hi[3], x;
    *mid = (xb_fig){ .sessions = o->sessions, .frames = { 1, 0 }, .fps_min = 1e9, .held = 1 };
    for (int k = 0; k < o->rounds; k++) {
        const xb_fig *f = &figs[k];
        v[0][k] = per_frame(f, f->cpu_us);
        v[1][k] = per_frame(f, f->codec_us);
        v[2][k] = per_frame(f, f->worker_us);
        v[3][k] = per_frame(f, f->main_us);
        v[4][k] = f->ratio_hot;
        mid->fps_min = f->fps_min < mid->fps_min ? f->fps_min : mid->fps_min;
        mid->skipped += f->skipped;
        mid->dropped += f->dropped;
        mid->held = mid->held && f->held;
    }
    mid->cpu_us = xb_median(v[0], o->rounds, &lo[0], &hi[0]);
    mid->codec_us = xb_median(v[1], o->rounds, &x, &x);
    mid->worker_us = xb_median(v[2], o->rounds, &x, &x);
    mid->main_us = xb_median(v[3], o->rounds, &x, &x);
    mid->ratio_hot = xb_median(v[4], o->rounds, &x, &x);
    for (int k = 0; k < o->rounds; k++) {
        v[0][k] = figs[k].bare_us;
        v[1][k] = figs[k].ratio;
    }
    mid->bare_us = xb_median(v[0], o->rounds, &lo[1], &hi[1]);
    mid->ratio = xb_median(v[1], o->rounds, &lo[2], &hi[2]);
    snprintf(ranges[0], sizeof(ranges[0]), " (%.0f-%.0f)", lo[0], hi[0]);
    snprintf(ranges[1], sizeof(ranges[1]), " (%.0f-%.0f)", lo[1], hi[1]);
    snprintf(ranges[2], sizeof(ranges[2]), " (%.2f-%.2f)", lo[2], hi[2]);
}

static void print_table(const xb_opts *o,
                        const xb_fig *mid,
                        char ranges[3][40],
                        const xb_fig *steps,
                        int nsteps)
{
    const char *r[3] = { ranges[0], ranges[1], ranges[2] }, *none[3] = { "", "", "" };
    printf("\n| sessions | fluo CPU/frame µs | of which codec threads / worker / pushing µs "
           "| bare CPU/frame µs, paced | ratio | ratio to bare in a tight loop "
           "| slowest sink fps | skipped+dropped | full rate |\n"
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    char what[48];
    snprintf(what, sizeof(what), "%d, median of %d rounds", o->sessions, o->rounds);
    print_row(what, mid, r, mid->held ? "yes" : "no");
    for (int i = 0; i < nsteps; i++) {
        snprintf(what, sizeof(what), "%d", steps[i].sessions);
        print_row(what, &steps[i], none, steps[i].held ? "yes" : "no");
    }
}

int fl_bench_transcode_run(int argc, char **argv)
{
    xb_opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        fl_bench_transcode_usage(stderr);
        return 2;
    }
    xb_clip vp8, h264;
    int rc = clips_make(&vp8, &h264);
    const xb_clip *clips[2] = { &vp8, &h264 };
    static xb_fig figs[MAX_ROUNDS], steps[MAX_SESSIONS];
    xb_ref refs[MAX_ROUNDS], mid;
    int nsteps = 0, held = 0;
    if (rc == 0) {
        printf("clips: VP8 %zu frames, H.264 %zu frames in %d s\n", vp8.frames, h264.frames,
               CLIP_S);
        rc = ratio_rounds(clips, &o, figs, refs);
    }
    if (rc == 0) {
        ref_median(refs, o.rounds, &mid);
        rc = capacity(clips, &o, &mid, steps, &nsteps, &held);
    }
    xb_clip_free(&vp8);
    xb_clip_free(&h264);
    if (rc < 0) {
        fprintf(stderr, "fluo-bench transcode: %s\n", fl_strerror(rc));
        return 1;
    }
    xb_fig m;
    char ranges[3][40];
    rounds_median(&o, figs, &m, ranges);
    print_table(&o, &m, ranges, steps, nsteps);
    double lo, hi, ratio[MAX_ROUNDS];
    for (int k = 0; k < o.rounds; k++)
        ratio[k] = figs[k].ratio;
    xb_median(ratio, o.rounds, &lo, &hi);
    printf("\ntranscode sessions=%d rounds=%d cpu_us_per_frame=%.0f bare_us_per_frame=%.0f "
           "ratio=%.2f ratio_min=%.2f ratio_max=%.2f ratio_tight_loop=%.2f max_sessions=%d\n",
           o.sessions, o.rounds, m.cpu_us, m.bare_us, m.ratio, lo, hi, m.ratio_hot, held);
    return 0;
}
