/* `fluo-bench filter [--seconds 5] [--rounds 3] [--filters zbar,image,face]`:
 * what ZBarFilter, ImageOverlayFilter and FaceOverlayFilter cost per
 * output picture, against the bare decode + encode of the same picture.
 *
 * In process: an engine with one worker; per filter a pipeline AppSource ->
 * filter -> AppSink, the AppSource pushing a 640x480 30 frames/s 1 Mbit/s
 * VP8 clip (looped, in real time from the main thread), the AppSink taking
 * VP8 and counting the pictures it gets (marker bits).
 * - ZBarFilter sees the clip of codec.h (fl_clip_vp8): no code in it, what
 *   is measured is the cost of looking (decode and scan; the source's
 *   packets go out untouched).
 * - ImageOverlayFilter sees the same clip with addImage("logo", a 160x120
 *   PNG with alpha, 0.1, 0.1, 0.3, 0.2, false, false).
 * - FaceOverlayFilter sees a clip made here of the face photo of
 *   tests/tools/face_photo.sh (480x480 in the 640x480 picture, moving 2
 *   pixels a frame back and forth), with setOverlayedImage(the same PNG,
 *   -0.35, -1.2, 1.6, 1.6), the magic mirror's placement.
 * Each overlay filter must really draw and encode during the window (its
 * FILTER statistics), and ZBarFilter must look at pictures and encode
 * none: the run fails otherwise.
 *
 * fluo's cost: the process's CPU time (user + sys) over a window after a
 * warm-up, divided by the pictures out of the AppSink. Nothing is
 * subtracted (the main thread's pushing, the worker's depacketizing and
 * forwarding or packetizing are in it).
 *
 * The bare reference, in the same run, on one thread, paced at 30
 * frames/s: each frame of the clip the filter sees through fl_vdec and the
 * picture through fl_venc (VP8, 1 Mbit/s), timed with the thread's CPU
 * clock (once per clip and round: ZBar and the image overlay share it).
 * Reference and fluo runs alternate over R rounds; medians and ranges are
 * printed, then, last, one line per filter: `filter name=ZBarFilter
 * width=640 height=480 fps=30 rounds=R cpu_us_per_frame=X
 * bare_us_per_frame=Y ratio=Z ratio_min=A ratio_max=B out_fps=F`. */
#include <libyuv.h>
#include <png.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/bench_media.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/compose.h"
#include "codec/face.h"
#include "codec/image.h"
#include "engine/fluo.h"
#include "net/rtp.h"

#define OUT_W       640
#define OUT_H       480
#define OUT_FPS     30
#define CLIP_KBPS   1000
#define CLIP_S      4
#define VP8_PT      96
#define MAX_PAYLOAD 1200
#define MAX_ROUNDS  15
#define WARMUP_S    2.0
#define WAIT_MS     5000
#define FACE_SIDE   480 /* the photo's side in the clip */
#define FACE_PHOTO  "build/media/face.png"
#define PHOTO_MAX   (16u << 20)
#define LOGO_W      160
#define LOGO_H      120
#define DETECT_W    FL_FACE_WORK_WIDTH /* the width FaceOverlayFilter detects at */

enum {
    F_ZBAR,
    F_IMAGE,
    F_FACE,
    F_COUNT
};

typedef struct fb_filter {
    const char *opt, *type;
    int draws; /* an overlay: must draw and encode during the window */
} fb_filter;

static const fb_filter filters[F_COUNT] = {
    { "zbar", FL_ELEMENT_ZBAR_FILTER, 0 },
    { "image", FL_ELEMENT_IMAGE_OVERLAY_FILTER, 1 },
    { "face", FL_ELEMENT_FACE_OVERLAY_FILTER, 1 },
};

typedef struct fb_opts {
    int rounds;
    double seconds;
    int on[F_COUNT];
} fb_opts;

typedef struct fb_run {
    fl_engine *engine;
    fl_pipeline *p;
    fl_element *filter;
    xb_stream in;
    atomic_int dones, failed;
    atomic_uint_fast64_t frames;
    int64_t t0_us;
    char why[256]; /* a failed invoke's words */
    atomic_int stats_done;
    int stats_status;
    fl_stats_filter stats;
} fb_run;

/* What one fluo run measured. */
typedef struct fb_result {
    double us, fps;
    fl_stats_filter d; /* the window's FILTER figures (differences) */
    int encoding;      /* its own stream going out at the window's end */
} fb_result;

void fl_bench_filter_usage(FILE *out)
{
    fprintf(out, "usage: fluo-bench filter [--seconds 5] [--rounds 3] [--filters zbar,image,face]\n"
                 "  ZBarFilter, ImageOverlayFilter and FaceOverlayFilter on a VP8 640x480 30 fps\n"
                 "  input, in process: fluo's CPU per output picture against the bare decode +\n"
                 "  encode of the same picture in the same run\n");
}

/* ---- the face clip ---- */

/* A clip in fl_clip's form, made here (freed with face_clip_free). */
typedef struct face_clip {
    fl_clip pub;
    uint8_t *data;
    size_t len, cap;
    size_t *off; /* each packet's payload offset in data */
    size_t pkts_cap;
} face_clip;

static int face_clip_add(face_clip *fc, const uint8_t *p, size_t n, uint32_t ts, int marker)
{
    if (fc->pub.n == fc->pkts_cap) {
        size_t cap = fc->pkts_cap ? fc->pkts_cap * 2 : 1024;
        fl_clip_packet *pk = realloc(fc->pub.pkts, cap * sizeof(*pk));
        if (!pk)
            return FL_ENOMEM;
        fc->pub.pkts = pk;
        size_t *off = realloc(fc->off, cap * sizeof(*off));
        if (!off)
            return FL_ENOMEM;
        fc->off = off;
        fc->pkts_cap = cap;
    }
    if (fc->len + n > fc->cap) {
        size_t cap = fc->cap ? fc->cap : 1u << 20;
        while (cap < fc->len + n)
            cap *= 2;
        uint8_t *d = realloc(fc->data, cap);
        if (!d)
            return FL_ENOMEM;
        fc->data = d;
        fc->cap = cap;
    }
    memcpy(fc->data + fc->len, p, n);
    fc->off[fc->pub.n] = fc->len;
    fc->pub.pkts[fc->pub.n++] = (fl_clip_packet){ .len = n, .ts = ts, .marker = (uint8_t)marker };
    fc->len += n;
    fc->pub.bytes += n;
    return 0;
}

static void face_clip_free(face_clip *fc)
{
    free(fc->data);
    free(fc->off);
    free(fc->pub.pkts);
    memset(fc, 0, sizeof(*fc));
}

/* The photo's left edge in frame i: 40..98 and back, 2 pixels a frame (a
 * period of 60 frames: the clip loops without a jump). */
static int face_x(size_t i)
{
    int phase = (int)(i % 60);
    return 40 + 2 * (phase < 30 ? phase : 60 - phase);
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return FL_ENOENT;
    size_t cap = 1u << 20, n = 0;
    uint8_t *b = malloc(cap);
    int rc = b ? 0 : FL_ENOMEM;
    while (rc == 0) {
        if (n == cap) {
            uint8_t *nb = cap < PHOTO_MAX ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                rc = cap < PHOTO_MAX ? FL_ENOMEM : FL_EMSGSIZE;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = FL_EIO;
    fclose(f);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    *len = n;
    return 0;
}

/* The photo at `path`, FACE_SIDE square on black, CLIP_S seconds at
 * OUT_FPS, encoded with fl_venc (VP8, CLIP_KBPS, the first frame the only
 * key frame) and packetized with fl_pack, packets spread over each frame's
 * interval as fl_clip_vp8 spreads them. */
static int face_clip_build(face_clip *fc, const char *path)
{
    uint8_t *file = NULL;
    size_t file_len = 0;
    char why[128] = "";
    fl_image img = { 0 }, sq = { 0 };
    fl_picture pic = { 0 };
    fl_venc *enc = NULL;
    fl_pack *pack = NULL;
    fl_venc_config vc = {
        .kind = FL_CODEC_VP8, .width = OUT_W, .height = OUT_H, .fps = OUT_FPS, .kbps = CLIP_KBPS
    };
    fl_pack_config pc = { .codec = FL_CODEC_VP8, .max_payload = MAX_PAYLOAD };
    int rc = read_file(path, &file, &file_len);
    if (rc == 0 && (rc = fl_image_decode(&img, file, file_len, why, sizeof(why))) < 0)
        fprintf(stderr, "filter: %s: %s\n", path, why);
    if (rc == 0)
        rc = fl_image_scale(&sq, &img, FACE_SIDE, FACE_SIDE);
    if (rc == 0)
        rc = fl_picture_alloc(&pic, OUT_W, OUT_H);
    if (rc == 0)
        rc = fl_venc_create(&enc, &vc);
    if (rc == 0)
        rc = fl_pack_create(&pack, &pc);
    uint8_t payload[MAX_PAYLOAD];
    size_t frames = (size_t)CLIP_S * OUT_FPS;
    for (size_t i = 0; i < frames && rc == 0; i++) {
        fl_rect all = { 0, 0, OUT_W, OUT_H }, r = { face_x(i), 0, FACE_SIDE, FACE_SIDE };
        fl_picture view;
        fl_picture_fill(&pic, &all, FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV);
        rc = fl_picture_view(&pic, &r, &view);
        if (rc == 0 &&
            ABGRToI420(sq.rgba, sq.width * 4, view.plane[0], view.stride[0], view.plane[1],
                       view.stride[1], view.plane[2], view.stride[2], FACE_SIDE, FACE_SIDE) != 0)
            rc = FL_EIO;
        uint32_t ts = (uint32_t)(i * 90000 / OUT_FPS);
        fl_venc_frame f;
        int got = rc == 0 ? fl_venc_encode(enc, &pic, ts, i == 0, &f) : 0;
        if (got < 0)
            rc = got;
        if (got != 1 || rc < 0)
            continue; /* dropped by the rate control: a gap, as a sender's */
        rc = fl_pack_frame(pack, &(fl_pack_input){ f.data, f.len, f.key });
        size_t first = fc->pub.n, n;
        int marker;
        while (rc == 0 && (n = fl_pack_next(pack, payload, sizeof(payload), &marker)) > 0)
            rc = face_clip_add(fc, payload, n, ts, marker);
        size_t k = fc->pub.n - first;
        uint64_t frame_us = (uint64_t)i * 1000000 / OUT_FPS, interval = 1000000 / OUT_FPS;
        for (size_t j = 0; j < k; j++) {
            fl_clip_packet *p = &fc->pub.pkts[first + j];
            p->send_us = (uint32_t)(frame_us + j * interval / k);
            p->keyframe = (uint8_t)f.key;
        }
        fc->pub.frames++;
    }
    if (rc == 0 && !fc->pub.n)
        rc = FL_EIO;
    for (size_t i = 0; rc == 0 && i < fc->pub.n; i++)
        fc->pub.pkts[i].payload = fc->data + fc->off[i];
    fc->pub.clock_rate = 90000;
    fc->pub.duration_ts = (uint32_t)(frames * 90000 / OUT_FPS);
    fc->pub.duration_us = (uint64_t)CLIP_S * 1000000;
    free(file);
    fl_image_free(&img);
    fl_image_free(&sq);
    fl_picture_free(&pic);
    fl_venc_destroy(enc);
    fl_pack_destroy(pack);
    return rc;
}

/* The overlay: LOGO_W x LOGO_H, an opaque orange disc with a half
 * transparent blue band across it, the rest clear. */
static int write_logo(const char *path)
{
    png_image img = {
        .version = PNG_IMAGE_VERSION, .width = LOGO_W, .height = LOGO_H, .format = PNG_FORMAT_RGBA
    };
    uint8_t *px = calloc((size_t)LOGO_W * LOGO_H, 4);
    if (!px)
        return FL_ENOMEM;
    for (int y = 0; y < LOGO_H; y++) {
        for (int x = 0; x < LOGO_W; x++) {
            uint8_t *p = px + ((size_t)y * LOGO_W + x) * 4;
            int dx = x - LOGO_W / 2, dy = y - LOGO_H / 2, r = LOGO_H / 2 - 4;
            if (y >= LOGO_H / 2 - 10 && y < LOGO_H / 2 + 10) {
                p[2] = 255;
                p[3] = 128;
            } else if (dx * dx + dy * dy <= r * r) {
                p[0] = 255;
                p[1] = 140;
                p[3] = 255;
            }
        }
    }
    int ok = png_image_write_to_file(&img, path, 0, px, 0, NULL);
    free(px);
    return ok ? 0 : FL_EIO;
}

/* ---- the bare reference ---- */

/* Each frame decoded and its picture encoded, paced at OUT_FPS for a
 * second of warm-up and `seconds` timed. Thread CPU per picture into *us.
 * With detect_us, besides (timed apart, not in *us): one face detection
 * per picture as FaceOverlayFilter runs it, its thread CPU per call; the
 * run fails unless most pictures show a face. */
static int ref_run(const xb_clip *c, double seconds, double *us, double *detect_us)
{
    fl_vdec *dec = NULL;
    fl_venc *enc = NULL;
    fl_face_detector *det = NULL;
    char why[160] = "";
    fl_venc_config vc = {
        .kind = FL_CODEC_VP8, .width = OUT_W, .height = OUT_H, .fps = OUT_FPS, .kbps = CLIP_KBPS
    };
    int rc = fl_venc_create(&enc, &vc);
    if (rc == 0)
        rc = fl_vdec_create(&dec, FL_CODEC_VP8);
    if (rc == 0 && detect_us &&
        (rc = fl_face_detector_create(&det, NULL, DETECT_W, why, sizeof(why))) < 0)
        fprintf(stderr, "filter: %s\n", why);
    size_t total = (size_t)((seconds + 1) * OUT_FPS), counted = 0, faces = 0;
    double cpu = 0, detect = 0;
    int64_t t0 = xb_now_us();
    for (size_t k = 0; k < total && rc == 0; k++) {
        xb_sleep_until_us(t0 + (int64_t)k * 1000000 / OUT_FPS);
        size_t f = k % c->frames;
        double t = xb_thread_cpu_us();
        fl_picture pic;
        int got = fl_vdec_decode(dec, c->frame[f], c->len[f], &pic);
        if (got < 0) {
            rc = got;
            break;
        }
        fl_venc_frame out;
        if (got == 1 && fl_venc_encode(enc, &pic, (uint32_t)(k * 90000 / OUT_FPS), 0, &out) < 0)
            rc = FL_EIO;
        double spent = xb_thread_cpu_us() - t;
        if (rc == 0 && det && got == 1) {
            fl_face face;
            t = xb_thread_cpu_us();
            int n = fl_face_detect(det, pic.plane[0], pic.width, pic.height, pic.stride[0], &face,
                                   1);
            if (k >= OUT_FPS)
                detect += xb_thread_cpu_us() - t;
            if (n < 0)
                rc = n;
            faces += n > 0 && k >= OUT_FPS;
        }
        if (k >= OUT_FPS) {
            cpu += spent;
            counted++;
        }
    }
    fl_vdec_destroy(dec);
    fl_venc_destroy(enc);
    fl_face_detector_destroy(det);
    if (rc == 0 && !counted)
        rc = FL_EINVAL;
    if (rc == 0 && det && faces < counted / 2) {
        fprintf(stderr, "filter: the face clip shows a face in %zu of %zu pictures\n", faces,
                counted);
        rc = FL_EIO;
    }
    if (rc == 0)
        *us = cpu / (double)counted;
    if (rc == 0 && detect_us)
        *detect_us = detect / (double)counted;
    return rc;
}

/* ---- fluo ---- */

static void on_done(void *arg, int status)
{
    fb_run *r = arg;
    if (status < 0)
        atomic_store(&r->failed, status);
    atomic_fetch_add(&r->dones, 1);
}

static void on_text(void *arg, int status, const char *text)
{
    fb_run *r = arg;
    if (status < 0)
        snprintf(r->why, sizeof(r->why), "%s", text ? text : "");
    on_done(r, status);
}

static int wait_dones(fb_run *r, int target)
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
    fb_run *r = arg;
    fl_rtp_view v;
    if (media == FL_MEDIA_VIDEO && fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) == 0 &&
        v.payload_type == VP8_PT && v.marker)
        atomic_fetch_add_explicit(&r->frames, 1, memory_order_relaxed);
}

/* AppSource -> the filter -> AppSink, then the filter's call (an overlay's
 * image, answered once the image is decoded). */
static int graph_open(fb_run *r, const xb_clip *c, int which, const char *uri)
{
    fl_element *src = NULL, *sink = NULL;
    int calls = 0;
    int rc = fl_pipeline_create(r->engine, &r->p);
    if (rc == 0)
        rc = fl_element_create(r->p, FL_ELEMENT_APP_SOURCE, NULL, &src);
    if (rc == 0)
        rc = fl_element_set_property(src, "videoCaps", c->caps, on_done, r);
    calls += rc == 0;
    if (rc == 0)
        rc = fl_element_create(r->p, filters[which].type, NULL, &r->filter);
    if (rc == 0)
        rc = fl_element_create(r->p, FL_ELEMENT_APP_SINK, NULL, &sink);
    if (rc == 0)
        rc = fl_element_set_property(sink, "videoCaps", c->caps, on_done, r);
    if (rc == 0)
        rc = fl_element_set_media_cb(sink, on_media, r);
    calls += rc == 0;
    if (rc == 0)
        rc = fl_element_connect(src, r->filter, FL_MEDIA_VIDEO, NULL, NULL, on_done, r);
    calls += rc == 0;
    if (rc == 0)
        rc = fl_element_connect(r->filter, sink, FL_MEDIA_VIDEO, NULL, NULL, on_done, r);
    calls += rc == 0;
    if (rc == 0)
        rc = wait_dones(r, calls);
    if (rc == 0 && which == F_IMAGE) {
        const char *args[] = { "logo", uri, "0.1", "0.1", "0.3", "0.2", "false", "false" };
        rc = fl_element_invoke(r->filter, "addImage", args, 8, on_text, r);
        calls += rc == 0;
    } else if (rc == 0 && which == F_FACE) {
        const char *args[] = { uri, "-0.35", "-1.2", "1.6", "1.6" };
        rc = fl_element_invoke(r->filter, "setOverlayedImage", args, 5, on_text, r);
        calls += rc == 0;
    }
    if (rc == 0)
        rc = wait_dones(r, calls);
    r->in = (xb_stream){ .src = src, .c = c, .ssrc = 0x30000u };
    return rc;
}

/* Pushes the clip's packets in real time until `until`. */
static int pace(fb_run *r, int64_t until)
{
    const fl_clip *k = r->in.c->clip;
    for (;;) {
        int64_t now = xb_now_us();
        if (now >= until)
            return 0;
        int64_t when = r->t0_us + (int64_t)(r->in.loop * k->duration_us) +
                       (int64_t)k->pkts[r->in.next].send_us;
        if (when > now) {
            xb_sleep_until_us(when < until ? when : until);
            continue;
        }
        int rc = xb_stream_push(&r->in);
        if (rc < 0)
            return rc;
    }
}

static void on_stats(void *arg, int status, const fl_stats *entries, size_t n)
{
    fb_run *r = arg;
    r->stats_status = status < 0 ? status : FL_ENOENT;
    for (size_t i = 0; status >= 0 && i < n; i++) {
        if (entries[i].kind == FL_STATS_FILTER) {
            r->stats = entries[i].filter;
            r->stats_status = 0;
        }
    }
    atomic_store(&r->stats_done, 1);
}

/* The filter's FILTER figures now. */
static int filter_stats(fb_run *r, fl_stats_filter *out)
{
    atomic_store(&r->stats_done, 0);
    int rc = fl_element_get_stats(r->filter, FL_MEDIA_VIDEO, on_stats, r);
    for (int i = 0; rc == 0 && i < WAIT_MS && !atomic_load(&r->stats_done); i++)
        xb_sleep_ms(1);
    if (rc == 0)
        rc = atomic_load(&r->stats_done) ? r->stats_status : FL_ETIMEDOUT;
    if (rc == 0)
        *out = r->stats;
    return rc;
}

static void on_released(void *arg, int status)
{
    (void)status;
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* Whether the window's figures show the filter at work: an overlay drew on
 * most pictures it looked at and encoded (its own stream going out at the
 * end), ZBar looked at pictures and encoded none. */
static int check_work(int which, const fb_result *x)
{
    const fl_stats_filter *d = &x->d;
    if (filters[which].draws) {
        if (d->drawn > 0 && d->drawn * 2 >= d->processed && d->frames_encoded > 0 && x->encoding)
            return 0;
        fprintf(stderr,
                "filter: %s did not draw in the window (drawn %lld of %lld, encoded %lld, "
                "encoding %d): nothing measured\n",
                filters[which].type, (long long)d->drawn, (long long)d->processed,
                (long long)d->frames_encoded, x->encoding);
        return FL_EIO;
    }
    if (d->processed > 0 && d->frames_encoded == 0)
        return 0;
    fprintf(stderr, "filter: %s looked at %lld pictures and encoded %lld in the window\n",
            filters[which].type, (long long)d->processed, (long long)d->frames_encoded);
    return FL_EIO;
}

/* One fluo run of filter `which` on clip c: CPU per output picture, output
 * pictures a second and the window's FILTER figures. */
static int fluo_run(const xb_clip *c, int which, const char *uri, double seconds, fb_result *x)
{
    fb_run *r = calloc(1, sizeof(*r));
    if (!r)
        return FL_ENOMEM;
    fl_engine_config cfg = { .workers = 1, .codec_threads = 1 };
    int rc = fl_engine_create(&r->engine, &cfg);
    if (rc == 0 && (rc = graph_open(r, c, which, uri)) < 0 && r->why[0])
        fprintf(stderr, "filter: %s: %s\n", filters[which].type, r->why);
    r->t0_us = xb_now_us();
    if (rc == 0)
        rc = pace(r, r->t0_us + (int64_t)(WARMUP_S * 1e6));
    fl_stats_filter s0 = { 0 }, s1 = { 0 };
    if (rc == 0)
        rc = filter_stats(r, &s0);
    double cpu0 = xb_process_cpu_us();
    uint64_t f0 = atomic_load(&r->frames);
    int64_t w0 = xb_now_us();
    if (rc == 0)
        rc = pace(r, w0 + (int64_t)(seconds * 1e6));
    double cpu = xb_process_cpu_us() - cpu0;
    uint64_t frames = atomic_load(&r->frames) - f0;
    double wall = (double)(xb_now_us() - w0) / 1e6;
    if (rc == 0)
        rc = filter_stats(r, &s1);
    if (rc == 0 && frames == 0)
        rc = FL_EIO; /* nothing came out */
    if (rc == 0) {
        x->us = cpu / (double)frames;
        x->fps = (double)frames / wall;
        x->encoding = (int)s1.encoding;
        x->d = (fl_stats_filter){ .frames_in = s1.frames_in - s0.frames_in,
                                  .frames_dropped = s1.frames_dropped - s0.frames_dropped,
                                  .forwarded = s1.forwarded - s0.forwarded,
                                  .frames_decoded = s1.frames_decoded - s0.frames_decoded,
                                  .decode_errors = s1.decode_errors - s0.decode_errors,
                                  .processed = s1.processed - s0.processed,
                                  .skipped = s1.skipped - s0.skipped,
                                  .drawn = s1.drawn - s0.drawn,
                                  .frames_encoded = s1.frames_encoded - s0.frames_encoded };
        rc = check_work(which, x);
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

static int parse_filters(const char *v, int on[F_COUNT])
{
    memset(on, 0, F_COUNT * sizeof(*on));
    int any = 0;
    while (*v) {
        size_t n = strcspn(v, ",");
        int found = 0;
        for (int i = 0; i < F_COUNT; i++) {
            if (strlen(filters[i].opt) == n && strncmp(v, filters[i].opt, n) == 0) {
                on[i] = found = any = 1;
                break;
            }
        }
        if (!found)
            return FL_EINVAL;
        v += n;
        if (*v == ',')
            v++;
    }
    return any ? 0 : FL_EINVAL;
}

static int parse_opts(int argc, char **argv, fb_opts *o)
{
    *o = (fb_opts){ .rounds = 3, .seconds = 5, .on = { 1, 1, 1 } };
    for (int i = 0; i < argc; i += 2) { /* option, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return FL_EINVAL;
        if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = atoi(v);
        else if (strcmp(a, "--filters") == 0) {
            if (parse_filters(v, o->on) < 0)
                return FL_EINVAL;
        } else
            return FL_EINVAL;
    }
    if (o->rounds < 1 || o->rounds > MAX_ROUNDS || !(o->seconds >= 1 && o->seconds <= 600))
        return FL_EINVAL;
    return 0;
}

/* The clips: fl_clip_vp8's (ZBar, image overlay) and the face clip. */
typedef struct fb_clips {
    xb_clip synth, face;
    face_clip face_src;
    char dir[64], logo[96], uri[112];
} fb_clips;

static int clips_open(fb_clips *k, const fb_opts *o)
{
    k->synth = (xb_clip){ .kind = FL_CODEC_VP8, .pt = VP8_PT, .caps = "96 VP8/90000" };
    k->face = k->synth;
    int rc = 0;
    if (o->on[F_ZBAR] || o->on[F_IMAGE]) {
        rc = fl_clip_vp8(&k->synth.clip, OUT_W, OUT_H, OUT_FPS, CLIP_KBPS, CLIP_S, MAX_PAYLOAD);
        if (rc == 0)
            rc = xb_clip_frames(&k->synth);
    }
    if (rc == 0 && o->on[F_FACE]) {
        if (access(FACE_PHOTO, R_OK) != 0 &&
            system("sh tests/tools/face_photo.sh " FACE_PHOTO) != 0) {
            fprintf(stderr,
                    "filter: no face photo at %s (tests/tools/face_photo.sh failed; "
                    "run from the source tree)\n",
                    FACE_PHOTO);
            return FL_ENOENT;
        }
        rc = face_clip_build(&k->face_src, FACE_PHOTO);
        k->face.clip = &k->face_src.pub;
        if (rc == 0)
            rc = xb_clip_frames(&k->face);
    }
    if (rc == 0 && (o->on[F_IMAGE] || o->on[F_FACE])) {
        snprintf(k->dir, sizeof(k->dir), "/tmp/fluo-bench-filter.XXXXXX");
        if (!mkdtemp(k->dir)) {
            k->dir[0] = '\0';
            return FL_EIO;
        }
        snprintf(k->logo, sizeof(k->logo), "%s/logo.png", k->dir);
        snprintf(k->uri, sizeof(k->uri), "file://%s", k->logo);
        rc = write_logo(k->logo);
    }
    return rc;
}

static void clips_close(fb_clips *k)
{
    xb_clip_free(&k->synth);
    k->face.clip = NULL; /* ours, not fl_clip_vp8's */
    xb_clip_free(&k->face);
    face_clip_free(&k->face_src);
    if (k->dir[0]) {
        unlink(k->logo);
        rmdir(k->dir);
    }
}

int fl_bench_filter_run(int argc, char **argv)
{
    fb_opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        fl_bench_filter_usage(stderr);
        return 2;
    }
    static fb_clips k;
    memset(&k, 0, sizeof(k));
    int rc = clips_open(&k, &o);
    double fluo_us[F_COUNT][MAX_ROUNDS], bare_us[F_COUNT][MAX_ROUNDS];
    double ratio[F_COUNT][MAX_ROUNDS], fps[F_COUNT][MAX_ROUNDS], detect_us[MAX_ROUNDS];
    for (int r = 0; r < o.rounds && rc == 0; r++) {
        double synth_us = 0, face_us = 0;
        if (o.on[F_ZBAR] || o.on[F_IMAGE])
            rc = ref_run(&k.synth, o.seconds, &synth_us, NULL);
        if (rc == 0 && o.on[F_FACE])
            rc = ref_run(&k.face, o.seconds, &face_us, &detect_us[r]);
        if (rc == 0 && (o.on[F_ZBAR] || o.on[F_IMAGE]))
            printf("round %d: bare decode + encode %.0f us/picture (synthetic clip)\n", r + 1,
                   synth_us);
        if (rc == 0 && o.on[F_FACE])
            printf("round %d: bare decode + encode %.0f us/picture (face clip); a face "
                   "detection alone %.0f us (%d wide)\n",
                   r + 1, face_us, detect_us[r], DETECT_W);
        for (int i = 0; i < F_COUNT && rc == 0; i++) {
            if (!o.on[i])
                continue;
            const xb_clip *c = i == F_FACE ? &k.face : &k.synth;
            fb_result x = { 0 };
            rc = fluo_run(c, i, k.uri, o.seconds, &x);
            if (rc < 0)
                break;
            fluo_us[i][r] = x.us;
            fps[i][r] = x.fps;
            bare_us[i][r] = i == F_FACE ? face_us : synth_us;
            ratio[i][r] = x.us / bare_us[i][r];
            printf("round %d: %s %.0f us/picture at %.1f pictures/s, ratio %.2f "
                   "(window: %lld in, %lld decoded, %lld looked at, %lld skipped, %lld drawn, "
                   "%lld encoded, %lld packets forwarded)\n",
                   r + 1, filters[i].type, x.us, x.fps, ratio[i][r], (long long)x.d.frames_in,
                   (long long)x.d.frames_decoded, (long long)x.d.processed, (long long)x.d.skipped,
                   (long long)x.d.drawn, (long long)x.d.frames_encoded, (long long)x.d.forwarded);
            fflush(stdout);
        }
    }
    clips_close(&k);
    if (rc < 0) {
        fprintf(stderr, "filter: %s\n", fl_strerror(rc));
        return 1;
    }
    printf("\n| filter, %dx%d %d fps | fluo us/frame [min-max] | bare us/frame [min-max] | "
           "ratio [min-max] | out fps |\n"
           "|---|---|---|---|---|\n",
           OUT_W, OUT_H, OUT_FPS);
    double f[F_COUNT], b[F_COUNT], ra[F_COUNT], p[F_COUNT], rlo[F_COUNT], rhi[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        if (!o.on[i])
            continue;
        double flo, fhi, blo, bhi, plo, phi;
        f[i] = xb_median(fluo_us[i], o.rounds, &flo, &fhi);
        b[i] = xb_median(bare_us[i], o.rounds, &blo, &bhi);
        ra[i] = xb_median(ratio[i], o.rounds, &rlo[i], &rhi[i]);
        p[i] = xb_median(fps[i], o.rounds, &plo, &phi);
        printf("| %s | %.0f [%.0f-%.0f] | %.0f [%.0f-%.0f] | %.2f [%.2f-%.2f] | %.1f |\n",
               filters[i].type, f[i], flo, fhi, b[i], blo, bhi, ra[i], rlo[i], rhi[i], p[i]);
    }
    if (o.on[F_FACE]) {
        double dlo, dhi, d = xb_median(detect_us, o.rounds, &dlo, &dhi);
        printf("\nFaceOverlayFilter detects as often as its thread sustains (each detection "
               "%dx the last one's time after it, %d ms at least); a face detection alone "
               "(%d wide, bare) costs %.0f us [%.0f-%.0f]\n",
               FL_FACE_DETECT_SHARE, FL_FACE_DETECT_MIN_MS, DETECT_W, d, dlo, dhi);
    }
    printf("\n");
    for (int i = 0; i < F_COUNT; i++) {
        if (o.on[i])
            printf("filter name=%s width=%d height=%d fps=%d rounds=%d cpu_us_per_frame=%.0f "
                   "bare_us_per_frame=%.0f ratio=%.2f ratio_min=%.2f ratio_max=%.2f "
                   "out_fps=%.1f\n",
                   filters[i].type, OUT_W, OUT_H, OUT_FPS, o.rounds, f[i], b[i], ra[i], rlo[i],
                   rhi[i], p[i]);
    }
    return 0;
}
