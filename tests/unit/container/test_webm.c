/* container: the WebM/Matroska muxer (fl_mux with FL_MUX_WEBM and
 * FL_MUX_MKV) fed frames from real encoders: VP8 and Opus clips from
 * codec/, H.264 and VP9 streams that ffmpeg (libx264, libvpx-vp9) makes in
 * a temporary folder, G.711 coded here. Each file is read back three
 * ways: by tests/unit/container/mkv_read.h (structure, timestamps, the
 * frames' bytes), by ffprobe/ffmpeg (codecs, duration, a decode with no
 * error) and by mkvinfo (no error or warning). Crash safety: a copy of
 * the file cut after every append before finish must decode cleanly and
 * hold every unit before the cut. Tests that need a tool skip only when
 * it is missing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "codec/codec.h"
#include "container/container.h"
#include "tests/unit/container/media_fixtures.h"
#include "tests/unit/container/mkv_read.h"

#include <cmocka.h>

#define FPS         30
#define W           320
#define H           240
#define OPUS_US     20000
#define OPUS_DELAY  80 /* ms: the muxer's CodecDelay */
#define MAX_APPENDS 8192

/* ---- a sink: the file in memory and where each append ended ---- */

typedef struct sink {
    uint8_t *data;
    size_t len, cap;
    size_t appends[MAX_APPENDS]; /* file length after each append */
    size_t nappends;
    size_t patches;
    int calls;
    int fail_at; /* the call (1-based) that fails with FL_EIO; 0: none */
    int bad;     /* a patch past the end, an empty write, an append after a patch */
} sink;

static int sink_write(void *arg, int64_t offset, const uint8_t *p, size_t n)
{
    sink *s = arg;
    s->calls++;
    if (s->fail_at && s->calls >= s->fail_at)
        return FL_EIO;
    if (n == 0)
        s->bad = 1;
    if (offset == FL_MUX_APPEND) {
        if (s->patches)
            s->bad = 1;
        assert_int_equal(mf_file_append(&s->data, &s->len, &s->cap, p, n), 0);
        if (s->nappends < MAX_APPENDS)
            s->appends[s->nappends++] = s->len;
        return 0;
    }
    int r = mf_file_patch(s->data, s->len, offset, p, n);
    if (r != 0)
        s->bad = 1;
    else
        s->patches++;
    return r;
}

static void sink_free(sink *s)
{
    free(s->data);
    free(s);
}

/* ---- media: frames as a recorder hands them over ---- */

typedef struct media {
    fl_mux_frame *f;
    int64_t *arrival; /* when the frame reaches the muxer (sorting key) */
    size_t n, cap;
} media;

static void media_add(media *m, const fl_mux_frame *f, int64_t lag_us)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->f = realloc(m->f, m->cap * sizeof(*m->f));
        m->arrival = realloc(m->arrival, m->cap * sizeof(*m->arrival));
        assert_non_null(m->f);
        assert_non_null(m->arrival);
    }
    fl_mux_frame c = *f;
    uint8_t *d = malloc(f->len);
    assert_non_null(d);
    memcpy(d, f->data, f->len);
    c.data = d;
    if (f->sps) {
        uint8_t *s = malloc(f->sps_len), *p = malloc(f->pps_len);
        assert_non_null(s);
        assert_non_null(p);
        memcpy(s, f->sps, f->sps_len);
        memcpy(p, f->pps, f->pps_len);
        c.sps = s;
        c.pps = p;
    }
    m->f[m->n] = c;
    m->arrival[m->n++] = f->pts_us + lag_us;
}

static void media_free(media *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free((void *)m->f[i].data);
        free((void *)m->f[i].sps);
        free((void *)m->f[i].pps);
    }
    free(m->f);
    free(m->arrival);
    memset(m, 0, sizeof(*m));
}

/* Stable order by arrival: what a recorder with per-stream delays gives. */
static void media_sort(media *m)
{
    for (size_t i = 1; i < m->n; i++) {
        fl_mux_frame f = m->f[i];
        int64_t a = m->arrival[i];
        size_t j = i;
        while (j > 0 && m->arrival[j - 1] > a) {
            m->f[j] = m->f[j - 1];
            m->arrival[j] = m->arrival[j - 1];
            j--;
        }
        m->f[j] = f;
        m->arrival[j] = a;
    }
}

/* The clips are built once: encoding is the slow part. */
static fl_clip *vp8_clip, *opus_clip;
static char tmp_dir[64];

/* `loops` seconds of VP8 (a key frame each second) on track `track`, from
 * start_us. */
static void add_vp8(media *m, unsigned track, int loops, int64_t start_us, int64_t lag_us)
{
    const fl_clip *c = vp8_clip;
    uint8_t *frame = malloc(c->bytes);
    assert_non_null(frame);
    for (int l = 0; l < loops; l++) {
        size_t len = 0;
        for (size_t i = 0; i < c->n; i++) {
            const fl_clip_packet *p = &c->pkts[i];
            fl_vp8_desc d;
            assert_int_equal(fl_vp8_desc_parse(&d, p->payload, p->len), 0);
            memcpy(frame + len, p->payload + d.header_len, p->len - d.header_len);
            len += p->len - d.header_len;
            if (!p->marker)
                continue;
            fl_mux_frame f = {
                .track = track,
                .pts_us = start_us + (int64_t)l * (int64_t)c->duration_us +
                          (int64_t)p->ts * 1000000 / FL_VP8_CLOCK_RATE,
                .key = p->keyframe,
                .data = frame,
                .len = len,
                .width = p->keyframe ? W : 0,
                .height = p->keyframe ? H : 0,
            };
            media_add(m, &f, lag_us);
            len = 0;
        }
    }
    free(frame);
}

static void add_opus(media *m, unsigned track, int loops, int64_t start_us, int64_t lag_us)
{
    const fl_clip *c = opus_clip;
    for (int l = 0; l < loops; l++)
        for (size_t i = 0; i < c->n; i++) {
            fl_mux_frame f = {
                .track = track,
                .pts_us = start_us + (int64_t)l * (int64_t)c->duration_us +
                          (int64_t)c->pkts[i].ts * 1000000 / FL_OPUS_CLOCK_RATE,
                .key = 1,
                .data = c->pkts[i].payload,
                .len = c->pkts[i].len,
            };
            media_add(m, &f, lag_us);
        }
}

/* G.711 (ITU-T G.711, as Sun's reference g711.c) of a 440 Hz tone, 20 ms frames. */
static int g711_segment(int v, const int *ends)
{
    int seg = 0;
    while (seg < 8 && v > ends[seg])
        seg++;
    return seg;
}

static uint8_t linear_to_ulaw(int16_t pcm)
{
    static const int ends[8] = { 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF };
    int v = pcm >> 2, mask = 0xFF;
    if (v < 0) {
        v = -v;
        mask = 0x7F;
    }
    if (v > 8159)
        v = 8159;
    v += 0x84 >> 2;
    int seg = g711_segment(v, ends);
    if (seg >= 8)
        return (uint8_t)(0x7F ^ mask);
    return (uint8_t)(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask);
}

static uint8_t linear_to_alaw(int16_t pcm)
{
    static const int ends[8] = { 0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF };
    int v = pcm >> 3, mask = 0xD5;
    if (v < 0) {
        v = -v - 1;
        mask = 0x55;
    }
    int seg = g711_segment(v, ends);
    if (seg >= 8)
        return (uint8_t)(0x7F ^ mask);
    int a = seg << 4 | ((seg < 2 ? v >> 1 : v >> seg) & 0xF);
    return (uint8_t)(a ^ mask);
}

static void add_g711(media *m, unsigned track, int alaw, int seconds)
{
    uint8_t frame[160];
    for (int k = 0; k < seconds * 50; k++) {
        for (int i = 0; i < 160; i++) {
            int n = k * 160 + i;
            int16_t pcm = (int16_t)(8000 * sin(2 * 3.14159265358979 * 440 * n / 8000));
            frame[i] = alaw ? linear_to_alaw(pcm) : linear_to_ulaw(pcm);
        }
        fl_mux_frame f = {
            .track = track, .pts_us = (int64_t)k * 20000, .key = 1, .data = frame, .len = 160
        };
        media_add(m, &f, 0);
    }
}

/* ---- tools ---- */

static int have_tools(void)
{
    return mf_have_tool("ffmpeg") && mf_have_tool("ffprobe") && mf_have_tool("mkvinfo");
}

/* ffmpeg decodes every stream with nothing to say at -v error. */
static void check_decodes(const char *path)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
    int st = mf_run(cmd, out, sizeof(out));
    if (st != 0 || out[0])
        print_error("%s: ffmpeg said (%d): %s\n", path, st, out);
    assert_int_equal(st, 0);
    assert_string_equal(out, "");
}

/* The end of the last packet ffprobe finds, seconds (0: none). */
static double probe_packets_end(const char *path)
{
    char cmd[512];
    static char out[1 << 20];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries packet=pts_time,duration_time -of csv=p=0 %s", path);
    assert_int_equal(mf_run(cmd, out, sizeof(out)), 0);
    double end = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        double pts = 0, dur = 0;
        if (sscanf(line, "%lf,%lf", &pts, &dur) >= 1 && pts + dur > end)
            end = pts + dur;
    }
    return end;
}

/* ffprobe: the codecs in track order ("vp8,opus") and the duration. */
static void check_probe(const char *path, const char *codecs, double duration_s)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries stream=codec_name:format=duration "
             "-of default=nw=1:nk=1 %s",
             path);
    assert_int_equal(mf_run(cmd, out, sizeof(out)), 0);
    char got[128] = "";
    double dur = -1;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *end;
        double v = strtod(line, &end);
        if (end != line && *end == '\0') {
            dur = v;
            continue;
        }
        if (got[0])
            strcat(got, ",");
        strncat(got, line, sizeof(got) - strlen(got) - 1);
    }
    print_message("%s: %s, %.3f s (frames given: %.3f s)\n", path, got, dur, duration_s);
    assert_string_equal(got, codecs);
    assert_true(dur > duration_s - 0.1 && dur < duration_s + 0.1);
}

/* mkvinfo reads all of it (--all: every cluster, not the first alone)
 * with no error or warning and finds `clusters` clusters. */
static void check_mkvinfo(const char *path, size_t clusters)
{
    char cmd[512];
    static char out[1 << 21];
    snprintf(cmd, sizeof(cmd), "mkvinfo --all %s 2>&1", path);
    int st = mf_run(cmd, out, sizeof(out));
    if (st != 0 || strstr(out, "rror") || strstr(out, "arning"))
        print_error("%s: mkvinfo said (%d): %.2000s\n", path, st, out);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "rror"));
    assert_null(strstr(out, "arning"));
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, "|+ Cluster\n")) != NULL; p++)
        n++;
    assert_int_equal(n, clusters);
}

/* The file p..n saved as tmp_dir/name: ffmpeg decodes it without a word
 * and mkvinfo reads it whole and finds `clusters` clusters. */
static void check_saved(const char *name, const uint8_t *p, size_t n, size_t clusters)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    assert_int_equal(mf_write_file(path, p, n), 0);
    check_decodes(path);
    check_mkvinfo(path, clusters);
}

/* ---- streams made by ffmpeg ---- */

/* Makes `name` in tmp_dir with ffmpeg's test picture; 0, or -1 when ffmpeg failed. */
static int ffmpeg_make(const char *name, const char *size, int seconds, const char *codec_args)
{
    char cmd[1024], out[4096];
    snprintf(
            cmd, sizeof(cmd),
            "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=%s:rate=%d -t %d -pix_fmt yuv420p %s %s/%s 2>&1",
            size, FPS, seconds, codec_args, tmp_dir, name);
    int st = mf_run(cmd, out, sizeof(out));
    if (st != 0)
        print_error("ffmpeg: %s\n", out);
    return st == 0 ? 0 : -1;
}

/* The next Annex B start code at or after `at`: the NAL unit's first byte
 * is returned; len if none. */
static size_t annexb_next(const uint8_t *p, size_t len, size_t at, size_t *code_at)
{
    for (size_t i = at; i + 3 <= len; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
            *code_at = i > at && p[i - 1] == 0 ? i - 1 : i;
            return i + 3;
        }
    *code_at = len;
    return len;
}

/* An H.264 Annex B stream (access units delimited by AUDs, libx264 aud=1)
 * as AVC frames: NAL units but AUD/SPS/PPS with 4-byte lengths, the SPS
 * and PPS in force given with each key frame. */
static void add_h264(media *m, unsigned track, const char *name, int64_t start_us, int w, int h)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    size_t len;
    uint8_t *p = mf_read_file(path, &len);
    assert_non_null(p);
    uint8_t *frame = malloc(len + 64), sps[256], pps[256];
    assert_non_null(frame);
    size_t flen = 0, sps_len = 0, pps_len = 0, frames = 0;
    int key = 0, started = 0;
    size_t code, at = annexb_next(p, len, 0, &code);
    while (at < len) {
        size_t next = annexb_next(p, len, at, &code);
        const uint8_t *nal = p + at;
        size_t n = code - at;
        int type = nal[0] & 0x1f;
        if (type == 9 || at >= len) { /* an AUD: the frame before is whole */
            if (started) {
                fl_mux_frame f = { .track = track,
                                   .pts_us = start_us + (int64_t)frames * 1000000 / FPS,
                                   .key = key,
                                   .data = frame,
                                   .len = flen };
                if (key)
                    f = (fl_mux_frame){ .track = track,
                                        .pts_us = f.pts_us,
                                        .key = 1,
                                        .data = frame,
                                        .len = flen,
                                        .width = (uint16_t)w,
                                        .height = (uint16_t)h,
                                        .sps = sps,
                                        .sps_len = sps_len,
                                        .pps = pps,
                                        .pps_len = pps_len };
                media_add(m, &f, 0);
                frames++;
            }
            started = 1;
            flen = 0;
            key = 0;
        } else if (type == 7) {
            assert_true(n <= sizeof(sps));
            memcpy(sps, nal, sps_len = n);
        } else if (type == 8) {
            assert_true(n <= sizeof(pps));
            memcpy(pps, nal, pps_len = n);
        } else {
            key |= type == 5;
            frame[flen] = (uint8_t)(n >> 24);
            frame[flen + 1] = (uint8_t)(n >> 16);
            frame[flen + 2] = (uint8_t)(n >> 8);
            frame[flen + 3] = (uint8_t)n;
            memcpy(frame + flen + 4, nal, n);
            flen += 4 + n;
        }
        at = next;
    }
    if (flen) {
        fl_mux_frame f = { .track = track,
                           .pts_us = start_us + (int64_t)frames * 1000000 / FPS,
                           .key = key,
                           .data = frame,
                           .len = flen };
        media_add(m, &f, 0);
    }
    free(frame);
    free(p);
}

/* VP9 frames from an IVF file; the key-frame bit read from the
 * uncompressed header of profile 0 (frame_marker, profile, show_existing,
 * frame_type). */
static void add_vp9(media *m, unsigned track, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    size_t len;
    uint8_t *p = mf_read_file(path, &len);
    assert_non_null(p);
    assert_true(len >= 32 && memcmp(p, "DKIF", 4) == 0);
    size_t at = (size_t)(p[6] | p[7] << 8);
    int64_t i = 0;
    while (at + 12 <= len) {
        size_t n = (size_t)p[at] | (size_t)p[at + 1] << 8 | (size_t)p[at + 2] << 16 |
                   (size_t)p[at + 3] << 24;
        at += 12;
        assert_true(at + n <= len && n > 0);
        uint8_t b = p[at];
        int key = (b >> 6) == 2 && !(b & 0x30) && !(b & 0x08) && !(b & 0x04);
        fl_mux_frame f = { .track = track,
                           .pts_us = i * 1000000 / FPS,
                           .key = key,
                           .data = p + at,
                           .len = n,
                           .width = key ? W : 0,
                           .height = key ? H : 0 };
        media_add(m, &f, 0);
        at += n;
        i++;
    }
    free(p);
}

/* ---- muxing and reading back ---- */

typedef struct run_result {
    sink *s;
    uint8_t *live;       /* the file before finish (its patches) */
    size_t appends_live; /* appends before finish */
    fl_mux_stats st;
    mkv_file f;
} run_result;

static void mux_media(run_result *r,
                      fl_mux_format format,
                      const fl_mux_track *tracks,
                      size_t ntracks,
                      const media *m,
                      int64_t fragment_us)
{
    memset(r, 0, sizeof(*r));
    r->s = calloc(1, sizeof(*r->s));
    assert_non_null(r->s);
    fl_mux_config cfg = { .format = format,
                          .tracks = tracks,
                          .ntracks = ntracks,
                          .out = { sink_write, r->s },
                          .fragment_us = fragment_us };
    fl_mux *mux;
    assert_int_equal(fl_mux_create(&mux, &cfg), 0);
    for (size_t i = 0; i < m->n; i++)
        assert_int_equal(fl_mux_write(mux, &m->f[i]), 0);
    r->appends_live = r->s->nappends;
    r->live = malloc(r->s->len ? r->s->len : 1);
    assert_non_null(r->live);
    memcpy(r->live, r->s->data, r->s->len);
    assert_int_equal(fl_mux_finish(mux), 0);
    assert_int_equal(fl_mux_write(mux, &m->f[0]), FL_ESTATE);
    assert_int_equal(fl_mux_finish(mux), FL_ESTATE);
    fl_mux_get_stats(mux, &r->st);
    fl_mux_destroy(mux);
    assert_false(r->s->bad);
    assert_int_equal(r->st.frames, m->n);
    assert_int_equal(r->st.bytes, r->s->len);
    if (mkv_read(r->s->data, r->s->len, &r->f) != 0)
        print_error("mkv_read: %s\n", r->f.why);
    assert_null(r->f.why);
}

static void result_free(run_result *r)
{
    mkv_free(&r->f);
    free(r->live);
    sink_free(r->s);
}

/* What every finished file must be: the Segment's size, Duration, Cues on
 * the first video track's key-frame clusters (or every cluster without
 * video), blocks in timestamp order within each track with relative
 * timestamps in range, each cluster with video starting on a key frame. */
static void check_structure(const run_result *r, const char *doc_type, int in_order)
{
    const mkv_file *f = &r->f;
    assert_string_equal(f->doc_type, doc_type);
    assert_int_equal(f->seg_size, (int64_t)(r->s->len - f->seg_data));
    assert_int_equal(f->timestamp_scale, 1000000);
    assert_true(f->duration >= 0);
    assert_true(fabs(f->duration - (double)r->st.duration_us / 1000.0) < 0.001);
    assert_int_equal(f->nclusters, r->st.units);
    assert_true(f->seek_info && f->seek_tracks);
    int video = 0;
    for (size_t i = 0; i < f->ntracks; i++) {
        assert_int_equal(f->tracks[i].number, i + 1);
        video |= f->tracks[i].type == 1;
    }
    int64_t last[MKV_MAX_TRACKS + 1];
    for (size_t i = 0; i <= MKV_MAX_TRACKS; i++)
        last[i] = -1;
    int64_t prev = -1;
    size_t cue_clusters = 0;
    for (size_t c = 0; c < f->nclusters; c++) {
        const mkv_cluster *cl = &f->clusters[c];
        int seen_video = 0;
        for (size_t k = cl->first; k < cl->first + cl->n; k++) {
            const mkv_block *b = &f->blocks[k];
            assert_true(b->track >= 1 && b->track <= f->ntracks);
            assert_true(b->rel >= 0 && b->rel <= 30000);
            assert_true(b->ts >= last[b->track]);
            last[b->track] = b->ts;
            if (in_order) {
                assert_true(b->ts >= prev);
                prev = b->ts;
            }
            if (f->tracks[b->track - 1].type == 1 && !seen_video) {
                seen_video = 1;
                if (k == cl->first && b->key)
                    cue_clusters++;
            }
        }
        if (!video)
            cue_clusters++;
    }
    assert_true(f->ncues > 0);
    assert_int_equal(f->ncues, cue_clusters);
    assert_int_equal(f->seek_cues, f->cues_pos);
}

/* The frames of track `track` (0-based) come back byte for byte, in order,
 * at their times (Opus shifted by the CodecDelay). */
static void check_frames(const run_result *r, const media *m, unsigned track)
{
    const mkv_file *f = &r->f;
    const mkv_track *t = &f->tracks[track];
    int64_t delay = (int64_t)(t->codec_delay / 1000000);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        const fl_mux_frame *fr = &m->f[i];
        if (fr->track != track)
            continue;
        while (k < f->nblocks && f->blocks[k].track != t->number)
            k++;
        assert_true(k < f->nblocks);
        const mkv_block *b = &f->blocks[k++];
        assert_int_equal(b->ts - delay, (fr->pts_us + 500) / 1000);
        assert_int_equal(b->len, fr->len);
        assert_memory_equal(r->s->data + b->off, fr->data, fr->len);
        if (t->type == 1)
            assert_int_equal(b->key, !!fr->key);
        else
            assert_true(b->key);
    }
    while (k < f->nblocks && f->blocks[k].track != t->number)
        k++;
    assert_int_equal(k, f->nblocks);
}

/* The tools on the whole file. */
static void check_file(const run_result *r, const char *name, const char *codecs, double seconds)
{
    check_saved(name, r->s->data, r->s->len, r->f.nclusters);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    check_probe(path, codecs, seconds);
}

/* A crash after each append before finish: the file as it was then
 * decodes cleanly and holds every block of the clusters before the cut. */
static void check_cuts(const run_result *r, const char *name)
{
    const mkv_file *full = &r->f;
    char path[128];
    snprintf(path, sizeof(path), "%s/cut_%s", tmp_dir, name);
    assert_true(r->appends_live >= 1);
    for (size_t i = 0; i < r->appends_live; i++) {
        size_t cut = r->s->appends[i];
        assert_int_equal(mf_write_file(path, r->live, cut), 0);
        check_decodes(path);
        mkv_file f;
        if (mkv_read(r->live, cut, &f) != 0)
            print_error("cut at %zu: %s\n", cut, f.why);
        assert_null(f.why);
        assert_int_equal(f.seg_size, -1);
        assert_true(f.duration < 0);
        assert_int_equal(f.nclusters, i + 1); /* the header came with the first */
        double want = 0;
        for (size_t k = 0; k < f.nblocks; k++) {
            const mkv_block *b = &f.blocks[k];
            double delay = (double)full->tracks[b->track - 1].codec_delay / 1e9;
            double end = (double)b->ts / 1000.0 - delay;
            if (end > want)
                want = end;
        }
        double got = probe_packets_end(path);
        if (f.nblocks)
            assert_true(got >= want - 0.0015);
        else
            assert_true(got == 0);
        mkv_free(&f);
    }
}

/* ---- the tests ---- */

static const fl_mux_track VP8_T = { .codec = FL_MUX_VP8 };
static const fl_mux_track VP9_T = { .codec = FL_MUX_VP9 };
static const fl_mux_track H264_T = { .codec = FL_MUX_H264 };
static const fl_mux_track OPUS_T = { .codec = FL_MUX_OPUS, .sample_rate = 48000, .channels = 2 };
static const fl_mux_track PCMU_T = { .codec = FL_MUX_PCMU, .sample_rate = 8000, .channels = 1 };
static const fl_mux_track PCMA_T = { .codec = FL_MUX_PCMA, .sample_rate = 8000, .channels = 1 };

#define SKIP_WITHOUT_TOOLS()                                                \
    do {                                                                    \
        if (!have_tools()) {                                                \
            print_message("ffmpeg, ffprobe or mkvinfo missing: skipped\n"); \
            skip();                                                         \
        }                                                                   \
    } while (0)

/* VP8 and Opus as they reach a recorder: video 60 ms behind the audio. */
static void test_webm_vp8_opus(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    media m = { 0 };
    add_vp8(&m, 0, 4, 0, 60000);
    add_opus(&m, 1, 4, 0, 0);
    media_sort(&m);
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_WEBM, tracks, 2, &m, 0);
    assert_int_equal(r.st.frames_dropped, 0);
    assert_int_equal(r.st.units, 4); /* a key frame each second */
    assert_int_equal(r.f.ntracks, 2);
    assert_string_equal(r.f.tracks[0].codec, "V_VP8");
    assert_int_equal(r.f.tracks[0].width, W);
    assert_int_equal(r.f.tracks[0].height, H);
    const mkv_track *o = &r.f.tracks[1];
    assert_string_equal(o->codec, "A_OPUS");
    assert_int_equal(o->codec_delay, 80000000);
    assert_int_equal(o->seek_pre_roll, 80000000);
    assert_int_equal(o->channels, 2);
    assert_true(o->rate == 48000.0);
    assert_int_equal(o->priv_len, 19);
    assert_memory_equal(o->priv, "OpusHead\x01\x02\x00\x0f\x80\xbb\x00\x00\x00\x00\x00", 19);
    assert_int_equal(r.st.duration_us, 4000000);
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_frames(&r, &m, 1);
    check_file(&r, "vp8_opus.webm", "vp8,opus", 4.0);
    check_cuts(&r, "vp8_opus.webm");
    result_free(&r);
    media_free(&m);
}

static void test_webm_vp8_only(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    media m = { 0 };
    add_vp8(&m, 0, 3, 0, 0);
    run_result r;
    mux_media(&r, FL_MUX_WEBM, &VP8_T, 1, &m, 0);
    assert_int_equal(r.st.units, 3);
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_file(&r, "vp8.webm", "vp8", 3.0);
    check_cuts(&r, "vp8.webm");
    result_free(&r);
    media_free(&m);
}

/* No video: clusters by time, every fragment_us. */
static void test_webm_opus_only(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    media m = { 0 };
    add_opus(&m, 0, 3, 0, 0);
    run_result r;
    mux_media(&r, FL_MUX_WEBM, &OPUS_T, 1, &m, 500000);
    assert_int_equal(r.st.units, 6);
    for (size_t c = 0; c < r.f.nclusters; c++) {
        const mkv_cluster *cl = &r.f.clusters[c];
        assert_int_equal(cl->ts, OPUS_DELAY + 500 * (int64_t)c);
        assert_int_equal(cl->n, 25);
    }
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_file(&r, "opus.webm", "opus", 3.0);
    check_cuts(&r, "opus.webm");
    result_free(&r);
    media_free(&m);
}

static void test_webm_vp9(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    assert_int_equal(ffmpeg_make("vp9.ivf", "320x240", 3,
                                 "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -g 30 "
                                 "-lag-in-frames 0 -auto-alt-ref 0 -f ivf"),
                     0);
    media m = { 0 };
    add_vp9(&m, 0, "vp9.ivf");
    add_opus(&m, 1, 3, 0, 0);
    media_sort(&m);
    assert_true(m.n == 90 + 150);
    fl_mux_track tracks[] = { VP9_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_WEBM, tracks, 2, &m, 0);
    assert_int_equal(r.st.units, 3);
    assert_string_equal(r.f.tracks[0].codec, "V_VP9");
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_file(&r, "vp9_opus.webm", "vp9,opus", 3.0);
    check_cuts(&r, "vp9_opus.webm");
    result_free(&r);
    media_free(&m);
}

static void test_mkv_h264_opus(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    assert_int_equal(ffmpeg_make("high.h264", "320x240", 3,
                                 "-c:v libx264 -preset veryfast -profile:v high -bf 0 -g 30 "
                                 "-x264-params aud=1 -f h264"),
                     0);
    media m = { 0 };
    add_h264(&m, 0, "high.h264", 0, W, H);
    add_opus(&m, 1, 3, 0, 30000);
    media_sort(&m);
    fl_mux_track tracks[] = { H264_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_MKV, tracks, 2, &m, 0);
    assert_int_equal(r.st.units, 3);
    const mkv_track *t = &r.f.tracks[0];
    assert_string_equal(t->codec, "V_MPEG4/ISO/AVC");
    /* avcC: version 1, profile High from the SPS, 4-byte lengths, one SPS,
     * one PPS, then High's chroma format and bit depths (4:2:0, 8 bits). */
    const fl_mux_frame *key = &m.f[0];
    for (size_t i = 0; i < m.n && !(m.f[i].track == 0 && m.f[i].key); i++)
        key = &m.f[i + 1];
    assert_int_equal(t->priv_len, 11 + key->sps_len + key->pps_len + 4);
    assert_int_equal(t->priv[0], 1);
    assert_int_equal(t->priv[1], 100);
    assert_int_equal(t->priv[4], 0xff);
    assert_int_equal(t->priv[5], 0xe1);
    assert_memory_equal(t->priv + 8, key->sps, key->sps_len);
    const uint8_t *ext = t->priv + t->priv_len - 4;
    assert_int_equal(ext[0], 0xfd);
    assert_int_equal(ext[1], 0xf8);
    assert_int_equal(ext[2], 0xf8);
    assert_int_equal(ext[3], 0);
    check_structure(&r, "matroska", 1);
    check_frames(&r, &m, 0);
    check_frames(&r, &m, 1);
    check_file(&r, "h264_opus.mkv", "h264,opus", 3.0);
    check_cuts(&r, "h264_opus.mkv");
    result_free(&r);
    media_free(&m);
}

/* The picture size changes (a new SPS and PPS): key frames under the new
 * ones carry them in band, in front of their NAL units. */
static void test_mkv_h264_new_sps(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    assert_int_equal(ffmpeg_make("base.h264", "320x240", 2,
                                 "-c:v libx264 -preset ultrafast -bf 0 -g 30 -x264-params aud=1 "
                                 "-f h264"),
                     0);
    assert_int_equal(ffmpeg_make("big.h264", "640x360", 2,
                                 "-c:v libx264 -preset ultrafast -bf 0 -g 30 -x264-params aud=1 "
                                 "-f h264"),
                     0);
    media m = { 0 };
    add_h264(&m, 0, "base.h264", 0, 320, 240);
    add_h264(&m, 0, "big.h264", 2000000, 640, 360);
    assert_int_equal(m.n, 120);
    run_result r;
    mux_media(&r, FL_MUX_MKV, &H264_T, 1, &m, 0);
    assert_int_equal(r.st.units, 4);
    const mkv_track *t = &r.f.tracks[0];
    assert_int_equal(t->priv[1], 66); /* Baseline: no High extension */
    assert_int_equal(t->priv_len, 11 + m.f[0].sps_len + m.f[0].pps_len);
    assert_int_equal(t->width, 320);
    check_structure(&r, "matroska", 1);
    size_t in_band = 0;
    for (size_t k = 0; k < r.f.nblocks; k++) {
        const mkv_block *b = &r.f.blocks[k];
        const fl_mux_frame *fr = &m.f[k];
        const uint8_t *d = r.s->data + b->off;
        if (fr->pts_us < 2000000 || !fr->key) {
            assert_int_equal(b->len, fr->len);
            assert_memory_equal(d, fr->data, fr->len);
            continue;
        }
        size_t pre = 8 + fr->sps_len + fr->pps_len;
        assert_int_equal(b->len, pre + fr->len);
        assert_int_equal(d[3], fr->sps_len);
        assert_memory_equal(d + 4, fr->sps, fr->sps_len);
        assert_memory_equal(d + 8 + fr->sps_len, fr->pps, fr->pps_len);
        assert_memory_equal(d + pre, fr->data, fr->len);
        in_band++;
    }
    assert_int_equal(in_band, 2);
    check_file(&r, "h264_sizes.mkv", "h264", 4.0);
    result_free(&r);
    media_free(&m);
}

static void test_mkv_g711(void **state)
{
    (void)state;
    SKIP_WITHOUT_TOOLS();
    for (int alaw = 0; alaw <= 1; alaw++) {
        media m = { 0 };
        add_g711(&m, 0, alaw, 3);
        run_result r;
        mux_media(&r, FL_MUX_MKV, alaw ? &PCMA_T : &PCMU_T, 1, &m, 0);
        assert_int_equal(r.st.units, 3);
        const mkv_track *t = &r.f.tracks[0];
        assert_string_equal(t->codec, "A_MS/ACM");
        assert_true(t->rate == 8000.0);
        assert_int_equal(t->priv_len, 18);
        /* WAVEFORMATEX: tag 7 (mu-law) or 6 (A-law), mono, 8000 Hz, 8000 B/s, 8 bits */
        const uint8_t want[18] = { alaw ? 6 : 7, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40,
                                   0x1f,         0, 0, 1, 0,    8,    0, 0, 0 };
        assert_memory_equal(t->priv, want, 18);
        check_structure(&r, "matroska", 1);
        check_frames(&r, &m, 0);
        check_file(&r, alaw ? "pcma.mkv" : "pcmu.mkv", alaw ? "pcm_alaw" : "pcm_mulaw", 3.0);
        if (!alaw)
            check_cuts(&r, "pcmu.mkv");
        result_free(&r);
        media_free(&m);
    }
}

/* What every format shares: codecs per format, track count, frame rules. */
static void test_refuses(void **state)
{
    (void)state;
    sink s = { 0 };
    fl_mux *mux = (fl_mux *)&s;
    fl_mux_config cfg = { .format = FL_MUX_WEBM, .out = { sink_write, &s } };
    fl_mux_track t4[5] = { VP8_T, OPUS_T, VP8_T, OPUS_T, OPUS_T };
    cfg.tracks = t4;
    cfg.ntracks = 0;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    assert_null(mux);
    cfg.ntracks = 5;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    const fl_mux_track not_webm[] = { H264_T, PCMU_T, PCMA_T };
    for (size_t i = 0; i < 3; i++) {
        cfg.tracks = &not_webm[i];
        cfg.ntracks = 1;
        assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    }
    cfg.format = FL_MUX_MKV;
    for (size_t i = 0; i < 3; i++) {
        cfg.tracks = &not_webm[i];
        assert_int_equal(fl_mux_create(&mux, &cfg), 0);
        fl_mux_destroy(mux);
    }
    fl_mux_track bad_audio = { .codec = FL_MUX_OPUS, .sample_rate = 48000, .channels = 3 };
    cfg.tracks = &bad_audio;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    bad_audio.channels = 1;
    bad_audio.sample_rate = 0;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    cfg.format = FL_MUX_MP4;
    cfg.tracks = &PCMU_T;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    cfg.tracks = &H264_T;
    assert_int_equal(fl_mux_create(&mux, &cfg), 0); /* container/mp4.c takes it */
    fl_mux_destroy(mux);
    cfg.format = (fl_mux_format)7;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    cfg.format = FL_MUX_WEBM;
    cfg.tracks = &OPUS_T;
    cfg.fragment_us = -1;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    cfg.fragment_us = 0;
    cfg.out.write = NULL;
    assert_int_equal(fl_mux_create(&mux, &cfg), FL_EINVAL);
    cfg.out.write = sink_write;
    assert_int_equal(fl_mux_create(NULL, &cfg), FL_EINVAL);
    assert_int_equal(fl_mux_create(&mux, NULL), FL_EINVAL);

    /* Frames: refused ones change nothing and count as dropped. */
    assert_int_equal(fl_mux_create(&mux, &cfg), 0);
    uint8_t b[8] = { 0x78, 1, 2, 3 }; /* Opus TOC: hybrid, 20 ms, one frame */
    fl_mux_frame f = { .track = 0, .pts_us = 40000, .key = 1, .data = b, .len = sizeof(b) };
    assert_int_equal(fl_mux_write(mux, &f), 0);
    assert_int_equal(s.calls, 0); /* the header waits for the first cluster */
    f.pts_us = 39999;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL);
    f.pts_us = -1;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL);
    f.pts_us = 60000;
    f.track = 1;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL);
    f.track = 0;
    f.len = 0;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL);
    f.len = sizeof(b);
    f.data = NULL;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL);
    f.data = b;
    f.sps = b;
    assert_int_equal(fl_mux_write(mux, &f), FL_EINVAL); /* an SPS with no length */
    f.sps = NULL;
    assert_int_equal(fl_mux_write(mux, NULL), FL_EINVAL);
    assert_int_equal(fl_mux_write(mux, &f), 0); /* 60 ms: still in order */
    fl_mux_stats st;
    fl_mux_get_stats(mux, &st);
    assert_int_equal(st.frames, 8);
    assert_int_equal(st.frames_dropped, 6);
    assert_int_equal(st.units, 0);
    assert_int_equal(st.bytes, s.len);
    assert_int_equal(fl_mux_finish(mux), 0);
    assert_int_equal(s.calls, 5); /* header and cluster, Cues, three patches */
    assert_int_equal(s.nappends, 2);
    assert_int_equal(s.patches, 3);
    assert_int_equal(fl_mux_write(mux, &f), FL_ESTATE);
    fl_mux_get_stats(mux, &st);
    assert_int_equal(st.units, 1);
    assert_int_equal(st.duration_us, 80000);
    fl_mux_destroy(mux);
    fl_mux_destroy(NULL);
    assert_false(s.bad);
    mkv_file mf;
    assert_int_equal(mkv_read(s.data, s.len, &mf), 0);
    assert_int_equal(mf.nblocks, 2);
    assert_true(mf.duration == 80.0);
    mkv_free(&mf);
    free(s.data);
}

/* Nothing is written before the first frame, nor before a video track has
 * shown a key frame with its size; frames before it are dropped. */
static void test_header_waits_for_key_frame(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 2, 0, 0);
    add_opus(&m, 1, 2, 0, 0);
    media_sort(&m);
    sink s = { 0 };
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    fl_mux_config cfg = { FL_MUX_WEBM, tracks, 2, { sink_write, &s }, 0 };
    fl_mux *mux;
    assert_int_equal(fl_mux_create(&mux, &cfg), 0);
    assert_int_equal(s.calls, 0);
    size_t dropped = 0;
    for (size_t i = 0; i < m.n; i++) {
        fl_mux_frame f = m.f[i];
        /* the first second's key frame lost: video starts at the next, at 1 s */
        if (f.track == 0 && f.pts_us == 0)
            f.key = 0;
        if (f.track == 0 && f.pts_us < 1000000)
            dropped++;
        assert_int_equal(fl_mux_write(mux, &f), 0);
        if (f.track == 0 && f.pts_us < 1000000)
            assert_int_equal(s.calls, 0);
    }
    assert_true(s.calls >= 1);
    assert_int_equal(fl_mux_finish(mux), 0);
    fl_mux_stats st;
    fl_mux_get_stats(mux, &st);
    fl_mux_destroy(mux);
    assert_int_equal(st.frames_dropped, dropped);
    mkv_file f;
    assert_int_equal(mkv_read(s.data, s.len, &f), 0);
    assert_int_equal(f.ntracks, 2);
    /* The audio held during the wait is all there, from its start. */
    size_t audio = 0;
    int64_t first_audio = -1;
    for (size_t k = 0; k < f.nblocks; k++)
        if (f.blocks[k].track == 2) {
            if (first_audio < 0)
                first_audio = f.blocks[k].ts;
            audio++;
        }
    assert_int_equal(audio, 100);
    assert_int_equal(first_audio, OPUS_DELAY);
    /* The first cluster is audio only; the key frame at 1 s starts the next. */
    assert_int_equal(f.nclusters, 2);
    assert_int_equal(f.blocks[f.clusters[1].first].track, 1);
    assert_int_equal(f.clusters[1].ts, 1000);
    assert_int_equal(f.ncues, 1);
    mkv_free(&f);
    if (have_tools())
        check_saved("late_key.webm", s.data, s.len, 2);
    free(s.data);
    media_free(&m);
}

/* 2 s without a usable key frame: the header goes out without the video
 * track (left out: its later frames are dropped); an audio track that
 * sends nothing is written empty. */
static void test_header_wait_bounded(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 3, 0, 0);
    add_opus(&m, 1, 3, 0, 0);
    media_sort(&m);
    sink s = { 0 };
    fl_mux_track tracks[] = { VP8_T, OPUS_T, OPUS_T };
    fl_mux_config cfg = { FL_MUX_WEBM, tracks, 3, { sink_write, &s }, 0 };
    fl_mux *mux;
    assert_int_equal(fl_mux_create(&mux, &cfg), 0);
    size_t video = 0;
    int64_t newest = 0;
    for (size_t i = 0; i < m.n; i++) {
        fl_mux_frame f = m.f[i];
        if (f.track == 0) {
            f.width = 0; /* its size never known */
            video++;
        }
        assert_int_equal(fl_mux_write(mux, &f), 0);
        /* 2 s of media after the first frame, the header is decided and
         * the audio held goes out (its first cluster with the header) */
        int64_t ts = f.pts_us / 1000 + (f.track ? OPUS_DELAY : 0);
        if (ts > newest)
            newest = ts;
        if (newest < 2000)
            assert_int_equal(s.calls, 0);
        else
            assert_true(s.calls > 0);
    }
    assert_int_equal(fl_mux_finish(mux), 0);
    fl_mux_stats st;
    fl_mux_get_stats(mux, &st);
    fl_mux_destroy(mux);
    assert_int_equal(st.frames_dropped, video);
    mkv_file f;
    assert_int_equal(mkv_read(s.data, s.len, &f), 0);
    assert_int_equal(f.ntracks, 2);
    assert_string_equal(f.tracks[0].codec, "A_OPUS");
    assert_string_equal(f.tracks[1].codec, "A_OPUS");
    for (size_t k = 0; k < f.nblocks; k++)
        assert_int_equal(f.blocks[k].track, 1);
    assert_int_equal(f.nblocks, 150);
    mkv_free(&f);
    if (have_tools())
        check_saved("no_video.webm", s.data, s.len, 3);
    free(s.data);
    media_free(&m);
}

/* A write that fails: its error comes back, the muxer writes nothing more;
 * what was written before stays whole. */
static void test_write_error(void **state)
{
    (void)state;
    media m = { 0 };
    add_opus(&m, 0, 3, 0, 0);
    for (int fail_at = 1; fail_at <= 2; fail_at++) {
        sink s = { .fail_at = fail_at };
        fl_mux_config cfg = { FL_MUX_WEBM, &OPUS_T, 1, { sink_write, &s }, 0 };
        fl_mux *mux;
        assert_int_equal(fl_mux_create(&mux, &cfg), 0);
        int r = 0;
        size_t i = 0;
        while (i < m.n && (r = fl_mux_write(mux, &m.f[i])) == 0)
            i++;
        assert_int_equal(r, FL_EIO);
        assert_int_equal(s.calls, fail_at);
        /* the frame that closed the cluster the write carried: 1 s, 2 s */
        assert_int_equal(m.f[i].pts_us, fail_at * 1000000);
        assert_int_equal(fl_mux_write(mux, &m.f[i + 1]), FL_EIO);
        assert_int_equal(fl_mux_finish(mux), FL_EIO);
        assert_int_equal(s.calls, fail_at);
        fl_mux_stats st;
        fl_mux_get_stats(mux, &st);
        assert_int_equal(st.units, fail_at - 1);
        assert_int_equal(st.bytes, s.len);
        fl_mux_destroy(mux);
        if (fail_at == 2) {
            mkv_file f;
            assert_int_equal(mkv_read(s.data, s.len, &f), 0);
            assert_int_equal(f.nclusters, 1);
            assert_int_equal(f.nblocks, 50);
            mkv_free(&f);
        }
        free(s.data);
    }
    media_free(&m);
}

/* No key frame for 65 s (a browser sends one only when asked): clusters
 * close at 30 s anyway; and at 32 MiB. */
static void test_cluster_caps(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 65, 0, 0);
    add_opus(&m, 1, 65, 0, 0);
    media_sort(&m);
    for (size_t i = 1; i < m.n; i++)
        m.f[i].key = m.f[i].track == 1; /* video: the first key frame only */
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_WEBM, tracks, 2, &m, 0);
    assert_int_equal(r.st.units, 3);
    for (size_t c = 0; c < r.f.nclusters; c++) {
        const mkv_cluster *cl = &r.f.clusters[c];
        assert_true(r.f.blocks[cl->first + cl->n - 1].ts - cl->ts <= 30000);
        if (c > 0)
            assert_true(cl->ts - cl[-1].ts > 30000 && cl->ts - cl[-1].ts <= 30034);
    }
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_frames(&r, &m, 1);
    if (have_tools())
        check_saved("long.webm", r.s->data, r.s->len, 3);
    result_free(&r);
    media_free(&m);

    /* 40 frames of 1 MiB (bytes only: read back by mkv_read alone) */
    media big = { 0 };
    uint8_t *d = malloc(1 << 20);
    assert_non_null(d);
    for (int i = 0; i < 40; i++) {
        memset(d, i, 1 << 20);
        fl_mux_frame f = { .track = 0,
                           .pts_us = (int64_t)i * 33333,
                           .key = i == 0,
                           .data = d,
                           .len = 1 << 20,
                           .width = W,
                           .height = H };
        media_add(&big, &f, 0);
    }
    free(d);
    mux_media(&r, FL_MUX_WEBM, &VP8_T, 1, &big, 0);
    assert_int_equal(r.st.units, 2);
    for (size_t c = 0; c < r.f.nclusters; c++)
        assert_true(r.f.clusters[c].end - r.f.clusters[c].off <= (32u << 20) + 16);
    assert_int_equal(r.f.clusters[0].n + r.f.clusters[1].n, 40);
    assert_true(r.f.clusters[0].n >= 31);
    check_frames(&r, &big, 0);
    result_free(&r);
    media_free(&big);
}

/* Video 800 ms behind the audio (more than the muxer waits): the file is
 * still whole and each track in order. */
static void test_lagging_track(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 3, 0, 800000);
    add_opus(&m, 1, 3, 0, 0);
    media_sort(&m);
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_WEBM, tracks, 2, &m, 0);
    assert_int_equal(r.st.frames_dropped, 0);
    check_structure(&r, "webm", 0);
    check_frames(&r, &m, 0);
    check_frames(&r, &m, 1);
    if (have_tools())
        check_file(&r, "lagging.webm", "vp8,opus", 3.0);
    result_free(&r);
    media_free(&m);
}

/* The camera pauses from 1 s to 3 s: once it has been silent for a
 * fragment, the audio goes out in clusters by time, as with no video; the
 * key frame at 3 s starts a cluster again. */
static void test_video_pause(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 1, 0, 0);
    add_vp8(&m, 0, 1, 3000000, 0);
    add_opus(&m, 1, 4, 0, 0);
    media_sort(&m);
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    run_result r;
    mux_media(&r, FL_MUX_WEBM, tracks, 2, &m, 0);
    assert_int_equal(r.st.units, 4);
    /* the last video frame at 967 ms: audio (file time) from 1967 on is cut by time */
    assert_int_equal(r.f.clusters[0].ts, 0);
    assert_int_equal(r.f.clusters[1].ts, 1980);
    assert_int_equal(r.f.clusters[2].ts, 2980);
    assert_int_equal(r.f.clusters[3].ts, 3000);
    assert_int_equal(r.f.ncues, 2);
    check_structure(&r, "webm", 1);
    check_frames(&r, &m, 0);
    check_frames(&r, &m, 1);
    if (have_tools())
        check_file(&r, "pause.webm", "vp8,opus", 4.0);
    result_free(&r);
    media_free(&m);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int null_write(void *arg, int64_t offset, const uint8_t *p, size_t n)
{
    (void)p;
    if (offset == FL_MUX_APPEND)
        *(uint64_t *)arg += n;
    return 0;
}

/* Figures (printed, not asserted): bytes the file adds per frame and the
 * muxer's time per frame, 20 s of VP8 and Opus into a sink that only counts. */
static void test_figures(void **state)
{
    (void)state;
    media m = { 0 };
    add_vp8(&m, 0, 20, 0, 60000);
    add_opus(&m, 1, 20, 0, 0);
    media_sort(&m);
    uint64_t media_bytes = 0;
    for (size_t i = 0; i < m.n; i++)
        media_bytes += m.f[i].len;
    fl_mux_track tracks[] = { VP8_T, OPUS_T };
    int64_t best = INT64_MAX;
    uint64_t file = 0;
    for (int round = 0; round < 5; round++) {
        uint64_t bytes = 0;
        fl_mux_config cfg = { FL_MUX_WEBM, tracks, 2, { null_write, &bytes }, 0 };
        fl_mux *mux;
        int64_t t0 = now_ns();
        assert_int_equal(fl_mux_create(&mux, &cfg), 0);
        for (size_t i = 0; i < m.n; i++)
            assert_int_equal(fl_mux_write(mux, &m.f[i]), 0);
        assert_int_equal(fl_mux_finish(mux), 0);
        fl_mux_destroy(mux);
        int64_t t = now_ns() - t0;
        if (t < best)
            best = t;
        file = bytes;
    }
    assert_true(file > media_bytes);
    print_message("webm figures: %zu frames (%llu media bytes), file %llu bytes: %.2f bytes "
                  "of container per frame, %.0f ns per frame\n",
                  m.n, (unsigned long long)media_bytes, (unsigned long long)file,
                  (double)(file - media_bytes) / (double)m.n, (double)best / (double)m.n);
    media_free(&m);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fl_webm_XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    if (fl_clip_vp8(&vp8_clip, W, H, FPS, 500, 1, 1200) != 0 ||
        fl_clip_opus(&opus_clip, 48, 1) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fl_clip_destroy(vp8_clip);
    fl_clip_destroy(opus_clip);
    if (getenv("FLUO_KEEP_FILES")) { /* to look at them */
        print_message("files kept in %s\n", tmp_dir);
        return 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webm_vp8_opus),
        cmocka_unit_test(test_webm_vp8_only),
        cmocka_unit_test(test_webm_opus_only),
        cmocka_unit_test(test_webm_vp9),
        cmocka_unit_test(test_mkv_h264_opus),
        cmocka_unit_test(test_mkv_h264_new_sps),
        cmocka_unit_test(test_mkv_g711),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_header_waits_for_key_frame),
        cmocka_unit_test(test_header_wait_bounded),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_cluster_caps),
        cmocka_unit_test(test_lagging_track),
        cmocka_unit_test(test_video_pause),
        cmocka_unit_test(test_figures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
