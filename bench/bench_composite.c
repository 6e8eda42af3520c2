/* `fluo-bench composite [--inputs 4] [--seconds 5] [--rounds 3]`: what a
 * Composite costs per output picture, against the bare codec work the
 * same picture needs.
 *
 * In process: an engine with one worker; a pipeline with a Composite at
 * 640x480, 30 frames/s, N AppSources each pushing the 640x480 30 frames/s
 * 1 Mbit/s VP8 clip of codec.h (fl_clip_vp8, looped, in real time from the
 * main thread, the inputs spread over the frame interval) into a HubPort
 * of their own, and one more HubPort feeding an AppSink that takes VP8 and
 * counts the pictures it gets (marker bits).
 *
 * fluo's cost: the process's CPU time (user + sys) over a window after a
 * warm-up, divided by the pictures out of the AppSink. Nothing is
 * subtracted: the main thread's pushing, the worker's depacketizing and
 * packetizing, and the mixer's audio (the output port hears the mix of no
 * input: 20 ms of silence encoded every 20 ms) are in it.
 *
 * The bare reference, in the same run, on one thread, paced at 30
 * frames/s: per output picture, one frame of each input through its own
 * fl_vdec, each picture scaled into its grid cell (fl_grid_cell,
 * fl_rect_fit) of a 640x480 canvas, and the canvas through fl_venc (VP8,
 * 1 Mbit/s), timed with the thread's CPU clock. Reference and fluo runs
 * alternate over R rounds; medians and ranges are printed, then one line:
 * `composite inputs=N width=640 height=480 fps=30 rounds=R
 * cpu_us_per_frame=X bare_us_per_frame=Y ratio=Z ratio_min=A ratio_max=B
 * out_fps=F`. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/bench_media.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/compose.h"
#include "engine/fluo.h"
#include "net/rtp.h"

#define OUT_W      640
#define OUT_H      480
#define OUT_FPS    30
#define CLIP_KBPS  1000
#define CLIP_S     4
#define VP8_PT     96
#define MAX_INPUTS 9
#define MAX_ROUNDS 15
#define WARMUP_S   2.0
#define WAIT_MS    5000

typedef struct cb_run {
    fl_engine *engine;
    fl_pipeline *p;
    xb_stream in[MAX_INPUTS];
    int n;
    atomic_int dones, failed;
    atomic_uint_fast64_t frames, foreign;
    int64_t t0_us;
} cb_run;

typedef struct cb_opts {
    int inputs, rounds;
    double seconds;
} cb_opts;

void fl_bench_composite_usage(FILE *out)
{
    fprintf(out, "usage: fluo-bench composite [--inputs 4] [--seconds 5] [--rounds 3]\n"
                 "  a Composite of N VP8 640x480 30 fps inputs at 640x480 30 fps, in process:\n"
                 "  fluo's CPU per output picture against the bare decode + scale + encode of\n"
                 "  the same picture in the same run\n");
}

/* ---- the bare reference ---- */

/* Per output picture, one frame of each input decoded, scaled into its
 * cell and the canvas encoded, paced at OUT_FPS for `seconds` (the first
 * second warms up). Thread CPU per picture into *us. */
static int ref_run(const xb_clip *c, int n, double seconds, double *us)
{
    fl_vdec *dec[MAX_INPUTS] = { NULL };
    fl_venc *enc = NULL;
    fl_picture canvas = { 0 };
    fl_venc_config vc = {
        .kind = FL_CODEC_VP8, .width = OUT_W, .height = OUT_H, .fps = OUT_FPS, .kbps = CLIP_KBPS
    };
    int rc = fl_venc_create(&enc, &vc);
    if (rc == 0)
        rc = fl_picture_alloc(&canvas, OUT_W, OUT_H);
    for (int i = 0; i < n && rc == 0; i++)
        rc = fl_vdec_create(&dec[i], FL_CODEC_VP8);
    size_t total = (size_t)(seconds * OUT_FPS), counted = 0;
    double cpu = 0;
    int64_t t0 = xb_now_us();
    for (size_t k = 0; k < total && rc == 0; k++) {
        xb_sleep_until_us(t0 + (int64_t)k * 1000000 / OUT_FPS);
        size_t f = k % c->frames;
        double t = xb_thread_cpu_us();
        fl_rect all = { 0, 0, OUT_W, OUT_H };
        fl_picture_fill(&canvas, &all, FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV);
        for (int i = 0; i < n && rc == 0; i++) {
            fl_picture pic, view;
            int got = fl_vdec_decode(dec[i], c->frame[f], c->len[f], &pic);
            if (got < 0) {
                rc = got;
                break;
            }
            fl_rect cell, r;
            fl_grid_cell(n, i, OUT_W, OUT_H, &cell);
            fl_rect_fit(pic.width, pic.height, &cell, &r);
            if (got == 1 && fl_picture_view(&canvas, &r, &view) == 0)
                fl_picture_scale(&pic, &view);
        }
        fl_venc_frame out;
        if (rc == 0 && fl_venc_encode(enc, &canvas, (uint32_t)(k * 90000 / OUT_FPS), 0, &out) < 0)
            rc = FL_EIO;
        double spent = xb_thread_cpu_us() - t;
        if (k >= OUT_FPS) {
            cpu += spent;
            counted++;
        }
    }
    for (int i = 0; i < n; i++)
        fl_vdec_destroy(dec[i]);
    fl_venc_destroy(enc);
    fl_picture_free(&canvas);
    if (rc == 0 && !counted)
        rc = FL_EINVAL;
    if (rc == 0)
        *us = cpu / (double)counted;
    return rc;
}

/* ---- fluo ---- */

static void on_done(void *arg, int status)
{
    cb_run *r = arg;
    if (status < 0)
        atomic_store(&r->failed, status);
    atomic_fetch_add(&r->dones, 1);
}

static int wait_dones(cb_run *r, int target)
{
    for (int i = 0; i < WAIT_MS && atomic_load(&r->dones) < target; i++)
        xb_sleep_ms(1);
    if (atomic_load(&r->failed))
        return atomic_load(&r->failed);
    return atomic_load(&r->dones) >= target ? 0 : FL_ETIMEDOUT;
}

/* The AppSink's packets, on the worker: pictures counted by marker bit. */
static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    cb_run *r = arg;
    fl_rtp_view v;
    (void)media;
    if (fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) != 0 || v.payload_type != VP8_PT)
        atomic_fetch_add_explicit(&r->foreign, 1, memory_order_relaxed);
    else if (v.marker)
        atomic_fetch_add_explicit(&r->frames, 1, memory_order_relaxed);
}

static int graph_open(cb_run *r, const xb_clip *c)
{
    fl_element *hub = NULL, *out = NULL, *sink = NULL;
    int calls = 0;
    int rc = fl_pipeline_create(r->engine, &r->p);
    if (rc == 0)
        rc = fl_element_create(r->p, FL_ELEMENT_COMPOSITE, NULL, &hub);
    char v[16];
    static const char *const props[] = { "width", "height", "framerate" };
    const int vals[] = { OUT_W, OUT_H, OUT_FPS };
    for (int i = 0; i < 3 && rc == 0; i++) {
        snprintf(v, sizeof(v), "%d", vals[i]);
        rc = fl_element_set_property(hub, props[i], v, on_done, r);
        calls += rc == 0;
    }
    /* properties before any port joins: the calls run in order */
    for (int i = 0; i <= r->n && rc == 0; i++) {
        fl_element *port = NULL, *src = NULL;
        rc = fl_element_create(r->p, FL_ELEMENT_HUB_PORT, NULL, &port);
        if (rc == 0)
            rc = fl_element_set_property(port, "hub", fl_element_name(hub), on_done, r);
        calls += rc == 0;
        if (i == r->n) {
            out = port;
            break;
        }
        if (rc == 0)
            rc = fl_element_create(r->p, FL_ELEMENT_APP_SOURCE, NULL, &src);
        if (rc == 0)
            rc = fl_element_set_property(src, "videoCaps", c->caps, on_done, r);
        if (rc == 0)
            rc = fl_element_connect(src, port, FL_MEDIA_VIDEO, NULL, NULL, on_done, r);
        calls += rc == 0 ? 2 : 0;
        r->in[i] = (xb_stream){ .src = src,
                                .c = c,
                                .ssrc = 0x20000u + (uint32_t)i,
                                .offset_us = (int64_t)i * 1000000 / OUT_FPS / r->n };
    }
    if (rc == 0)
        rc = fl_element_create(r->p, FL_ELEMENT_APP_SINK, NULL, &sink);
    if (rc == 0)
        rc = fl_element_set_property(sink, "videoCaps", "96 VP8/90000", on_done, r);
    if (rc == 0)
        rc = fl_element_set_media_cb(sink, on_media, r);
    if (rc == 0)
        rc = fl_element_connect(out, sink, FL_MEDIA_VIDEO, NULL, NULL, on_done, r);
    calls += rc == 0 ? 2 : 0;
    return rc == 0 ? wait_dones(r, calls) : rc;
}

static int64_t due(const cb_run *r, const xb_stream *st)
{
    const fl_clip *k = st->c->clip;
    return r->t0_us + st->offset_us + (int64_t)(st->loop * k->duration_us) +
           (int64_t)k->pkts[st->next].send_us;
}

/* Pushes every input's packets in real time until `until`. */
static int pace(cb_run *r, int64_t until)
{
    for (;;) {
        int64_t now = xb_now_us();
        if (now >= until)
            return 0;
        xb_stream *next = NULL;
        int64_t when = INT64_MAX;
        for (int i = 0; i < r->n; i++) {
            int64_t t = due(r, &r->in[i]);
            if (t < when) {
                when = t;
                next = &r->in[i];
            }
        }
        if (when > now) {
            xb_sleep_until_us(when < until ? when : until);
            continue;
        }
        int rc = xb_stream_push(next);
        if (rc < 0)
            return rc;
    }
}

static void on_released(void *arg, int status)
{
    (void)status;
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* One fluo run: CPU per output picture and output pictures a second. */
static int fluo_run(const xb_clip *c, int n, double seconds, double *us, double *fps)
{
    cb_run *r = calloc(1, sizeof(*r));
    if (!r)
        return FL_ENOMEM;
    r->n = n;
    fl_engine_config cfg = { .workers = 1, .codec_threads = 1 };
    int rc = fl_engine_create(&r->engine, &cfg);
    if (rc == 0)
        rc = graph_open(r, c);
    r->t0_us = xb_now_us();
    if (rc == 0)
        rc = pace(r, r->t0_us + (int64_t)(WARMUP_S * 1e6));
    double cpu0 = xb_process_cpu_us();
    uint64_t f0 = atomic_load(&r->frames);
    int64_t w0 = xb_now_us();
    if (rc == 0)
        rc = pace(r, w0 + (int64_t)(seconds * 1e6));
    double cpu = xb_process_cpu_us() - cpu0;
    uint64_t frames = atomic_load(&r->frames) - f0;
    double wall = (double)(xb_now_us() - w0) / 1e6;
    if (rc == 0 && frames == 0)
        rc = FL_EIO; /* nothing came out */
    if (rc == 0) {
        *us = cpu / (double)frames;
        *fps = (double)frames / wall;
    }
    if (r->p) {
        atomic_int released = 0;
        fl_pipeline_release(r->p, on_released, &released);
        for (int i = 0; i < WAIT_MS && !atomic_load(&released); i++)
            xb_sleep_ms(1);
    }
    if (r->engine)
        fl_engine_destroy(r->engine);
    free(r);
    return rc;
}

/* ---- the run ---- */

static int parse_opts(int argc, char **argv, cb_opts *o)
{
    *o = (cb_opts){ .inputs = 4, .rounds = 3, .seconds = 5 };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return FL_EINVAL;
        if (strcmp(a, "--inputs") == 0)
            o->inputs = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = atoi(v);
        else
            return FL_EINVAL;
        i++;
    }
    if (o->inputs < 1 || o->inputs > MAX_INPUTS || o->rounds < 1 || o->rounds > MAX_ROUNDS ||
        !(o->seconds >= 1 && o->seconds <= 600))
        return FL_EINVAL;
    return 0;
}

int fl_bench_composite_run(int argc, char **argv)
{
    cb_opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        fl_bench_composite_usage(stderr);
        return 2;
    }
    xb_clip clip = { .kind = FL_CODEC_VP8, .pt = VP8_PT, .caps = "96 VP8/90000" };
    int rc = fl_clip_vp8(&clip.clip, OUT_W, OUT_H, OUT_FPS, CLIP_KBPS, CLIP_S, 1200);
    if (rc == 0)
        rc = xb_clip_frames(&clip);
    double fluo_us[MAX_ROUNDS], bare_us[MAX_ROUNDS], ratio[MAX_ROUNDS], fps[MAX_ROUNDS];
    for (int k = 0; k < o.rounds && rc == 0; k++) {
        rc = ref_run(&clip, o.inputs, o.seconds, &bare_us[k]);
        if (rc == 0)
            rc = fluo_run(&clip, o.inputs, o.seconds, &fluo_us[k], &fps[k]);
        if (rc == 0) {
            ratio[k] = fluo_us[k] / bare_us[k];
            printf("round %d: fluo %.0f us/picture at %.1f pictures/s, bare %.0f us/picture, "
                   "ratio %.2f\n",
                   k + 1, fluo_us[k], fps[k], bare_us[k], ratio[k]);
            fflush(stdout);
        }
    }
    xb_clip_free(&clip);
    if (rc < 0) {
        fprintf(stderr, "composite: %s\n", fl_strerror(rc));
        return 1;
    }
    double flo, fhi, blo, bhi, rlo, rhi, plo, phi;
    double f = xb_median(fluo_us, o.rounds, &flo, &fhi),
           b = xb_median(bare_us, o.rounds, &blo, &bhi);
    double ra = xb_median(ratio, o.rounds, &rlo, &rhi), p = xb_median(fps, o.rounds, &plo, &phi);
    printf("\n| %d inputs, %dx%d %d fps | CPU per output picture | range |\n"
           "|---|---|---|\n"
           "| fluo Composite (process) | %.0f us | %.0f-%.0f |\n"
           "| bare decode + scale + encode | %.0f us | %.0f-%.0f |\n"
           "| ratio | %.2f | %.2f-%.2f |\n"
           "| output pictures/s | %.1f | %.1f-%.1f |\n\n",
           o.inputs, OUT_W, OUT_H, OUT_FPS, f, flo, fhi, b, blo, bhi, ra, rlo, rhi, p, plo, phi);
    printf("composite inputs=%d width=%d height=%d fps=%d rounds=%d cpu_us_per_frame=%.0f "
           "bare_us_per_frame=%.0f ratio=%.2f ratio_min=%.2f ratio_max=%.2f out_fps=%.1f\n",
           o.inputs, OUT_W, OUT_H, OUT_FPS, o.rounds, f, b, ra, rlo, rhi, p);
    return 0;
}
