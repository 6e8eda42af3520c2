/* container: the WebM/Matroska demuxer (fl_demux_* on Matroska files).
 *
 * Files from ffmpeg (VP8, VP9, H.264 with and without B-frames, Opus,
 * G.711 mu-law) made in a temporary folder are read and compared packet by
 * packet with what ffprobe -show_packets says of them (times, key flags,
 * sizes); a file of our own muxer (fl_mux in memory) is read back frame
 * for frame, bytes included; a file written here element by element holds
 * what ffmpeg does not write (Xiph, fixed and EBML lacing, BlockGroup with
 * ReferenceBlock, clusters of unknown size, Void and CRC-32). The same
 * file fed in 1-byte and 7-byte pieces, whole, or as a stream of unknown
 * size gives the same frames; seeks land on the key frame at or before
 * the time, with Cues and without; cut and corrupted files end in FL_EOF
 * or FL_EBADMSG with the frames before the cut unchanged. Tests that need
 * ffmpeg skip only when it is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "container/container.h"
#include "container/ebml.h"
#include "tests/unit/container/media_fixtures.h"

#include <cmocka.h>

/* ---- reading a file whole through fl_demux ---- */

typedef struct got_frame {
    unsigned track;
    int64_t pts, dts;
    int key;
    size_t len;
    uint64_t hash;
} got_frame;

typedef struct got {
    got_frame *f;
    size_t n, cap;
    fl_demux_info info;
    int ready;
    int rc; /* what ended the read: FL_EOF or an error */
    /* H.264: every frame's NAL lengths cover it exactly */
    int avc_bad;
    /* what the tracks' pointers showed before the demuxer went */
    uint8_t extra8[FL_DEMUX_MAX_TRACKS][8];
    uint8_t sps0[FL_DEMUX_MAX_TRACKS], pps0[FL_DEMUX_MAX_TRACKS];
    int sets_in_extra[FL_DEMUX_MAX_TRACKS];
} got;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void assert_frame_equal(const got_frame *a, const got_frame *b)
{
    if (a->track != b->track || a->pts != b->pts || a->key != b->key || a->len != b->len)
        print_error("frame %u %lld %d %zu, wanted %u %lld %d %zu\n", a->track, (long long)a->pts,
                    a->key, a->len, b->track, (long long)b->pts, b->key, b->len);
    assert_int_equal(a->track, b->track);
    assert_int_equal(a->pts, b->pts);
    assert_int_equal(a->dts, b->dts);
    assert_int_equal(a->key, b->key);
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->hash, b->hash);
}

static void got_free(got *g)
{
    free(g->f);
    memset(g, 0, sizeof(*g));
}

static void got_add(got *g, const fl_demux_info *info, const fl_demux_frame *fr)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->f = realloc(g->f, g->cap * sizeof(*g->f));
        assert_non_null(g->f);
    }
    const fl_demux_track *t = &info->tracks[fr->track];
    if (t->codec == FL_CODEC_H264) {
        size_t at = 0, nls = t->nal_length_size;
        while (at + nls <= fr->len) {
            size_t l = 0;
            for (size_t i = 0; i < nls; i++)
                l = l << 8 | fr->data[at + i];
            at += nls + l;
        }
        if (at != fr->len)
            g->avc_bad++;
    }
    g->f[g->n++] = (got_frame){ .track = fr->track,
                                .pts = fr->pts_us,
                                .dts = fr->dts_us,
                                .key = fr->key,
                                .len = fr->len,
                                .hash = fnv(fr->data, fr->len) };
}

/* Feeds what is wanted from file (n bytes; `size` given at create: n or
 * -1) in pieces of `piece` bytes (0: all the rest of the file at once; a
 * stream of unknown size is given at least what is wanted), reading until
 * the end or an error; seeks to seek_us (>= 0) after `seek_after` frames. */
static void demux_ex(got *g,
                     const uint8_t *file,
                     size_t n,
                     int64_t size,
                     size_t piece,
                     size_t seek_after,
                     int64_t seek_us)
{
    memset(g, 0, sizeof(*g));
    fl_demux *d;
    assert_int_equal(fl_demux_create(&d, &(fl_demux_config){ .size = size }), 0);
    size_t frames = 0;
    for (long guard = 0;; guard++) {
        assert_true(guard < 50000000);
        fl_demux_frame fr;
        int rc = fl_demux_read(d, &fr);
        if (rc == 1) {
            got_add(g, fl_demux_info_get(d), &fr);
            if (++frames == seek_after && seek_us >= 0)
                assert_int_equal(fl_demux_seek(d, seek_us), 0);
            continue;
        }
        if (rc != FL_EAGAIN) {
            g->rc = rc;
            break;
        }
        int64_t off;
        size_t len;
        fl_demux_want(d, &off, &len);
        assert_true(len > 0);
        assert_true(off >= 0);
        size_t avail = (uint64_t)off < n ? n - (size_t)off : 0;
        size_t k = piece ? piece : avail;
        if (size < 0 && k < len)
            k = len;
        if (k > avail)
            k = avail;
        assert_int_equal(fl_demux_feed(d, off, file + (avail ? off : 0), k), 0);
    }
    g->ready = fl_demux_ready(d);
    g->info = *fl_demux_info_get(d);
    for (size_t i = 0; i < g->info.ntracks; i++) {
        const fl_demux_track *t = &g->info.tracks[i];
        if (t->extra_len >= 8)
            memcpy(g->extra8[i], t->extra, 8);
        if (t->sps && t->pps) {
            g->sps0[i] = t->sps[0];
            g->pps0[i] = t->pps[0];
            g->sets_in_extra[i] =
                    t->sps > t->extra && t->sps + t->sps_len <= t->extra + t->extra_len &&
                    t->pps > t->extra && t->pps + t->pps_len <= t->extra + t->extra_len;
        }
    }
    /* the error repeats */
    fl_demux_frame fr;
    if (g->rc != FL_EOF)
        assert_int_equal(fl_demux_read(d, &fr), g->rc);
    fl_demux_destroy(d);
}

static void demux(got *g, const uint8_t *file, size_t n, size_t piece)
{
    demux_ex(g, file, n, (int64_t)n, piece, 0, -1);
}

static size_t count_track(const got *g, unsigned track)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        k += g->f[i].track == track;
    return k;
}

static void assert_same(const got *a, const got *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->rc, b->rc);
    for (size_t i = 0; i < a->n; i++)
        assert_frame_equal(&a->f[i], &b->f[i]);
}

/* ---- ffmpeg and ffprobe ---- */

static char tmp_dir[64];

#define NEED_FFMPEG()                                              \
    do {                                                           \
        if (!mf_have_tool("ffmpeg") || !mf_have_tool("ffprobe")) { \
            print_message("ffmpeg or ffprobe missing: skipped\n"); \
            skip();                                                \
        }                                                          \
    } while (0)

/* Makes tmp_dir/name from 3 s of test picture and a tone; the file's bytes. */
static uint8_t *make(const char *name, const char *args, size_t *n)
{
    char cmd[1024], out[4096], path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=30 "
             "-f lavfi -i sine=frequency=440:sample_rate=%s -t 3 -g 30 %s %s 2>&1",
             strstr(args, "pcm_") ? "8000" : "48000", args, path);
    int st = mf_run(cmd, out, sizeof(out));
    if (st != 0)
        print_error("ffmpeg: %s\n", out);
    assert_int_equal(st, 0);
    uint8_t *p = mf_read_file(path, n);
    assert_non_null(p);
    return p;
}

/* ffprobe's packets of stream `index`, in file order, against ours of
 * track `index`: as many, the same times (to 1 us), key flags and sizes. */
static void check_probe(const char *name, const got *g, unsigned index)
{
    char cmd[512];
    static char out[1 << 20];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams %u -show_entries packet=pts_time,size,flags "
             "-of csv=p=0 %s/%s",
             index, tmp_dir, name);
    assert_int_equal(mf_run(cmd, out, sizeof(out)), 0);
    size_t k = 0, keys = 0, i = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), k++) {
        double pts;
        size_t size;
        char flags[16];
        assert_int_equal(sscanf(line, "%lf,%zu,%15s", &pts, &size, flags), 3);
        while (i < g->n && g->f[i].track != index)
            i++;
        assert_true(i < g->n);
        const got_frame *f = &g->f[i++];
        /* ffmpeg rounds a CodecDelay (Opus: 6.5 ms) to the track's ms */
        int64_t us = (int64_t)(pts * 1e6 + (pts < 0 ? -0.5 : 0.5));
        if (llabs(f->pts - us) <= 500)
            us = f->pts;
        if (f->pts != us || f->len != size || f->key != (flags[0] == 'K'))
            print_error("%s stream %u packet %zu: ffprobe %s, ours %lld,%zu,%d\n", name, index, k,
                        line, (long long)f->pts, f->len, f->key);
        assert_int_equal(f->pts, us);
        assert_int_equal(f->dts, f->pts);
        assert_int_equal(f->len, size);
        assert_int_equal(f->key, flags[0] == 'K');
        keys += f->key;
    }
    assert_int_equal(k, count_track(g, index));
    assert_true(keys > 0);
}

/* The file's video track 0: 90 frames 1/30 s apart; audio track 1. */
static void check_av(const got *g, fl_codec_kind video, fl_codec_kind audio, uint32_t rate)
{
    assert_int_equal(g->rc, FL_EOF);
    assert_true(g->ready);
    assert_int_equal(g->info.format, FL_DEMUX_MATROSKA);
    assert_int_equal(g->info.ntracks, 2);
    const fl_demux_track *v = &g->info.tracks[0], *a = &g->info.tracks[1];
    assert_true(v->video);
    assert_int_equal(v->codec, video);
    assert_int_equal(v->width, 320);
    assert_int_equal(v->height, 240);
    assert_false(a->video);
    assert_int_equal(a->codec, audio);
    assert_int_equal(a->sample_rate, rate);
    assert_int_equal(a->channels, 1);
    assert_true(g->info.duration_us > 2900000 && g->info.duration_us < 3100000);
    assert_true(g->info.seekable);
    assert_int_equal(count_track(g, 0), 90);
    /* video in presentation order: i / 30 s from the first (the file's
     * times are in ms) */
    int64_t *pts = malloc(90 * sizeof(*pts));
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->f[i].track == 0)
            pts[k++] = g->f[i].pts;
    for (size_t i = 1; i < 90; i++)
        for (size_t j = i; j > 0 && pts[j - 1] > pts[j]; j--) {
            int64_t t = pts[j];
            pts[j] = pts[j - 1];
            pts[j - 1] = t;
        }
    for (size_t i = 0; i < 90; i++)
        assert_true(llabs(pts[i] - pts[0] - (int64_t)i * 1000000 / 30) <= 1000);
    assert_true(pts[0] >= 0 && pts[0] <= 10000);
    free(pts);
    assert_int_equal(g->avc_bad, 0);
}

static void test_ffmpeg_vp8_opus(void **state)
{
    (void)state;
    NEED_FFMPEG();
    size_t n;
    uint8_t *f = make("vp8.webm", "-c:v libvpx -c:a libopus", &n);
    got g;
    demux(&g, f, n, 0);
    check_av(&g, FL_CODEC_VP8, FL_CODEC_OPUS, 48000);
    assert_string_equal(g.info.tracks[0].codec_name, "V_VP8");
    assert_string_equal(g.info.tracks[1].codec_name, "A_OPUS");
    assert_true(g.info.tracks[1].extra_len >= 19);
    assert_memory_equal(g.extra8[1], "OpusHead", 8);
    check_probe("vp8.webm", &g, 0);
    check_probe("vp8.webm", &g, 1);
    /* the Opus CodecDelay is taken off: the first packet is before 0 */
    size_t i = 0;
    while (g.f[i].track != 1)
        i++;
    assert_true(g.f[i].pts < 0);
    print_message("vp8.webm: %zu bytes, %zu frames (%zu audio)\n", n, g.n, count_track(&g, 1));
    got_free(&g);
    free(f);
}

static void test_ffmpeg_vp9_opus(void **state)
{
    (void)state;
    NEED_FFMPEG();
    size_t n;
    uint8_t *f =
            make("vp9.webm", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus", &n);
    got g;
    demux(&g, f, n, 0);
    check_av(&g, FL_CODEC_VP9, FL_CODEC_OPUS, 48000);
    check_probe("vp9.webm", &g, 0);
    check_probe("vp9.webm", &g, 1);
    got_free(&g);
    free(f);
}

static void check_h264(const char *name, const char *args)
{
    size_t n;
    uint8_t *f = make(name, args, &n);
    got g;
    demux(&g, f, n, 0);
    check_av(&g, FL_CODEC_H264, FL_CODEC_OPUS, 48000);
    const fl_demux_track *v = &g.info.tracks[0];
    assert_string_equal(v->codec_name, "V_MPEG4/ISO/AVC");
    assert_int_equal(v->nal_length_size, 4);
    assert_non_null(v->sps);
    assert_non_null(v->pps);
    assert_int_equal(g.sps0[0] & 0x1f, 7);
    assert_int_equal(g.pps0[0] & 0x1f, 8);
    assert_true(g.sets_in_extra[0]);
    check_probe(name, &g, 0);
    check_probe(name, &g, 1);
    /* B-frames: presentation times go back in decode order */
    int back = 0;
    int64_t last = INT64_MIN;
    for (size_t i = 0; i < g.n; i++) {
        if (g.f[i].track != 0)
            continue;
        back += g.f[i].pts < last;
        last = g.f[i].pts;
    }
    print_message("%s: %d video frames before the one they follow\n", name, back);
    if (strstr(args, "-bf 0"))
        assert_int_equal(back, 0);
    else
        assert_true(back > 0);
    got_free(&g);
    free(f);
}

static void test_ffmpeg_h264(void **state)
{
    (void)state;
    NEED_FFMPEG();
    check_h264("h264.mkv", "-c:v libx264 -bf 0 -c:a libopus");
    check_h264("h264b.mkv", "-c:v libx264 -bf 3 -c:a libopus");
}

static void test_ffmpeg_pcmu(void **state)
{
    (void)state;
    NEED_FFMPEG();
    size_t n;
    uint8_t *f = make("pcmu.mkv", "-c:v libvpx -c:a pcm_mulaw", &n);
    got g;
    demux(&g, f, n, 0);
    check_av(&g, FL_CODEC_VP8, FL_CODEC_PCMU, 8000);
    assert_string_equal(g.info.tracks[1].codec_name, "A_MS/ACM");
    check_probe("pcmu.mkv", &g, 1);
    size_t bytes = 0;
    for (size_t i = 0; i < g.n; i++)
        bytes += g.f[i].track == 1 ? g.f[i].len : 0;
    assert_int_equal(bytes, 3 * 8000); /* one byte a sample */
    got_free(&g);
    free(f);
}

/* ---- our muxer's files ---- */

typedef struct mem {
    uint8_t *p;
    size_t len, cap;
    uint8_t *snap; /* the file as it was before finish */
    size_t snap_len;
} mem;

static int mem_write(void *arg, int64_t offset, const uint8_t *p, size_t n)
{
    mem *m = arg;
    if (offset == FL_MUX_APPEND)
        return mf_file_append(&m->p, &m->len, &m->cap, p, n);
    return mf_file_patch(m->p, m->len, offset, p, n);
}

#define OWN_FRAMES 150

/* 5 s of 30 fps video (a key frame a second) and 20 ms Opus or G.711
 * frames; *want the frames as they went in. */
static void own_file(mem *m, int h264, got *want)
{
    static const uint8_t sps[] = { 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5 };
    static const uint8_t pps[] = { 0x68, 0xce, 0x3c, 0x80 };
    fl_mux_track tracks[2] = {
        { .codec = h264 ? FL_MUX_H264 : FL_MUX_VP8 },
        h264 ? (fl_mux_track){ .codec = FL_MUX_PCMA, .sample_rate = 8000, .channels = 1 }
             : (fl_mux_track){ .codec = FL_MUX_OPUS, .sample_rate = 48000, .channels = 2 },
    };
    memset(m, 0, sizeof(*m));
    memset(want, 0, sizeof(*want));
    fl_mux *mux;
    assert_int_equal(
            fl_mux_create(&mux, &(fl_mux_config){ .format = h264 ? FL_MUX_MKV : FL_MUX_WEBM,
                                                  .tracks = tracks,
                                                  .ntracks = 2,
                                                  .out = { mem_write, m } }),
            0);
    want->info.ntracks = 2;
    want->info.tracks[0].codec = h264 ? FL_CODEC_H264 : FL_CODEC_VP8;
    want->info.tracks[0].nal_length_size = 4;
    want->info.tracks[1].codec = h264 ? FL_CODEC_PCMA : FL_CODEC_OPUS;
    uint8_t buf[2000];
    int64_t audio_us = 0;
    for (int i = 0; i < OWN_FRAMES; i++) {
        int64_t pts = (int64_t)i * 1000000 / 30;
        size_t len = 100 + (size_t)(i * 37 % 900);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(i * 7 + k);
        if (h264)
            fl_put_be32(buf, (uint32_t)(len - 4));
        fl_mux_frame f = { .track = 0,
                           .pts_us = pts,
                           .key = i % 30 == 0,
                           .data = buf,
                           .len = len,
                           .width = 320,
                           .height = 240 };
        if (h264 && f.key) {
            f.sps = sps;
            f.sps_len = sizeof(sps);
            f.pps = pps;
            f.pps_len = sizeof(pps);
        }
        assert_int_equal(fl_mux_write(mux, &f), 0);
        fl_demux_frame df = {
            .track = 0, .pts_us = (pts + 500) / 1000 * 1000, .key = f.key, .data = buf, .len = len
        };
        df.dts_us = df.pts_us;
        got_add(want, &want->info, &df);
        while (audio_us <= pts) {
            size_t alen = h264 ? 160 : 40 + (size_t)(audio_us / 20000 % 50);
            for (size_t k = 0; k < alen; k++)
                buf[k] = (uint8_t)(audio_us / 20000 + k * 3);
            if (!h264)
                buf[0] = 0xfc; /* Opus TOC: CELT 20 ms, stereo, one frame */
            fl_mux_frame a = { .track = 1, .pts_us = audio_us, .key = 1, .data = buf, .len = alen };
            assert_int_equal(fl_mux_write(mux, &a), 0);
            fl_demux_frame da = { .track = 1,
                                  .pts_us = audio_us,
                                  .dts_us = audio_us,
                                  .key = 1,
                                  .data = buf,
                                  .len = alen };
            got_add(want, &want->info, &da);
            audio_us += 20000;
        }
    }
    m->snap = malloc(m->len);
    assert_non_null(m->snap);
    memcpy(m->snap, m->p, m->len);
    m->snap_len = m->len;
    assert_int_equal(fl_mux_finish(mux), 0);
    fl_mux_destroy(mux);
}

/* The frames of each track in order as they went in (the muxer may
 * interleave them otherwise); prefix: the first of them. */
static void assert_tracks_equal(const got *g, const got *want, size_t ntracks, int prefix)
{
    for (unsigned t = 0; t < ntracks; t++) {
        size_t i = 0, j = 0;
        for (;;) {
            while (i < g->n && g->f[i].track != t)
                i++;
            while (j < want->n && want->f[j].track != t)
                j++;
            if (i == g->n || j == want->n)
                break;
            assert_frame_equal(&g->f[i], &want->f[j]);
            i++;
            j++;
        }
        assert_int_equal(i, g->n);
        if (!prefix)
            assert_int_equal(j, want->n);
    }
}

static void test_own_muxer(void **state)
{
    (void)state;
    for (int h264 = 0; h264 <= 1; h264++) {
        mem m;
        got want, g;
        own_file(&m, h264, &want);
        demux(&g, m.p, m.len, 0);
        assert_int_equal(g.rc, FL_EOF);
        assert_int_equal(g.info.ntracks, 2);
        assert_int_equal(g.info.tracks[0].codec, want.info.tracks[0].codec);
        assert_int_equal(g.info.tracks[1].codec, want.info.tracks[1].codec);
        assert_int_equal(g.info.tracks[0].width, 320);
        assert_true(g.info.duration_us >= 4960000 && g.info.duration_us <= 5020000);
        if (h264) {
            assert_int_equal(g.info.tracks[0].sps_len, 9);
            assert_int_equal(g.info.tracks[0].pps_len, 4);
            assert_int_equal(g.info.tracks[1].sample_rate, 8000);
        }
        assert_tracks_equal(&g, &want, 2, 0);
        /* the file as it was before finish: a Segment of unknown size, no Cues */
        got cut;
        demux(&cut, m.snap, m.snap_len, 7);
        assert_int_equal(cut.rc, FL_EOF);
        assert_tracks_equal(&cut, &want, 2, 1);
        assert_true(cut.n > want.n / 2);
        assert_int_equal(cut.info.duration_us, -1);
        got_free(&cut);
        got_free(&g);
        got_free(&want);
        free(m.p);
        free(m.snap);
    }
}

/* ---- a file written here: lacing, BlockGroup, unknown sizes ---- */

static void put_block(fl__ebml *e,
                      uint32_t id,
                      unsigned track,
                      int16_t rel,
                      uint8_t flags,
                      const uint8_t *lace,
                      size_t lace_len,
                      size_t body)
{
    uint8_t b[1024];
    b[0] = (uint8_t)(0x80 | track);
    fl_put_be16(b + 1, (uint16_t)rel);
    b[3] = flags;
    if (lace_len)
        memcpy(b + 4, lace, lace_len);
    /* each laced frame starts with an Opus TOC: CELT 20 ms, mono, one frame */
    memset(b + 4 + lace_len, 0xf8, body);
    fl__ebml_binary(e, id, b, 4 + lace_len + body);
}

static void handmade(fl__ebml *e)
{
    fl__ebml_init(e);
    size_t h = fl__ebml_open(e, 0x1A45DFA3);
    fl__ebml_string(e, 0x4282, "matroska");
    fl__ebml_close(e, h);
    fl__ebml_void(e, 5); /* before the Segment */
    fl__ebml_head(e, 0x18538067, FL__EBML_UNKNOWN_SIZE, 8);
    h = fl__ebml_open(e, 0x1549A966);
    fl__ebml_uint(e, 0x2AD7B1, 1000000);
    fl__ebml_close(e, h);
    h = fl__ebml_open(e, 0x1654AE6B);
    size_t t = fl__ebml_open(e, 0xAE);
    fl__ebml_uint(e, 0xD7, 1);
    fl__ebml_uint(e, 0x83, 1);
    fl__ebml_string(e, 0x86, "V_VP8");
    size_t v = fl__ebml_open(e, 0xE0);
    fl__ebml_uint(e, 0xB0, 64);
    fl__ebml_uint(e, 0xBA, 48);
    fl__ebml_close(e, v);
    fl__ebml_close(e, t);
    t = fl__ebml_open(e, 0xAE);
    fl__ebml_uint(e, 0xD7, 2);
    fl__ebml_uint(e, 0x83, 2);
    fl__ebml_string(e, 0x86, "A_OPUS");
    v = fl__ebml_open(e, 0xE1);
    fl__ebml_float(e, 0xB5, 48000.0);
    fl__ebml_uint(e, 0x9F, 1);
    fl__ebml_close(e, v);
    fl__ebml_close(e, t);
    t = fl__ebml_open(e, 0xAE);
    fl__ebml_uint(e, 0xD7, 3);
    fl__ebml_uint(e, 0x83, 2);
    fl__ebml_string(e, 0x86, "A_MS/ACM");
    static const uint8_t wfx[18] = { 7,    0, 1, 0, 0x40, 0x1f, 0, 0, 0x40,
                                     0x1f, 0, 0, 1, 0,    8,    0, 0, 0 };
    fl__ebml_binary(e, 0x63A2, wfx, sizeof(wfx));
    fl__ebml_close(e, t);
    t = fl__ebml_open(e, 0xAE);
    fl__ebml_uint(e, 0xD7, 5);
    fl__ebml_uint(e, 0x83, 2);
    fl__ebml_string(e, 0x86, "A_AAC");
    fl__ebml_close(e, t);
    fl__ebml_close(e, h);
    /* a cluster of unknown size */
    fl__ebml_head(e, 0x1F43B675, FL__EBML_UNKNOWN_SIZE, 8);
    fl__ebml_uint(e, 0xE7, 1000);
    put_block(e, 0xA3, 1, 0, 0x80, NULL, 0, 50);
    uint8_t blk[64];
    fl__ebml g;
    fl__ebml_init(&g);
    put_block(&g, 0xA1, 1, 33, 0, NULL, 0, 20); /* a Block: the element made, then wrapped */
    fl__ebml_uint(&g, 0xFB, (uint64_t)-33 & 0xff);
    fl__ebml_binary(e, 0xA0, g.data, g.len);
    fl__ebml_deinit(&g);
    fl__ebml_void(e, 9);
    static const uint8_t xiph[] = { 2, 3, 0xff, 45 }; /* 3 frames: 3, 300, the rest (5) */
    put_block(e, 0xA3, 2, 0, 0x80 | 0x02, xiph, sizeof(xiph), 3 + 300 + 5);
    static const uint8_t ebml[] = { 2, 0x8a, 0xbc }; /* 10, then 10 - 3 = 7, the rest (12) */
    put_block(e, 0xA3, 2, 60, 0x80 | 0x06, ebml, sizeof(ebml), 10 + 7 + 12);
    static const uint8_t fixed[] = { 1 }; /* 2 frames of 160 bytes: 20 ms each at 8 kHz */
    put_block(e, 0xA3, 3, 0, 0x80 | 0x04, fixed, sizeof(fixed), 320);
    put_block(e, 0xA3, 5, 0, 0x80, NULL, 0, 30); /* AAC: skipped */
    put_block(e, 0xA3, 9, 0, 0x80, NULL, 0, 30); /* no such track: skipped */
    /* a cluster of known size after it, with a CRC-32 first */
    h = fl__ebml_open(e, 0x1F43B675);
    memset(blk, 0, 4);
    fl__ebml_binary(e, 0xBF, blk, 4);
    fl__ebml_uint(e, 0xE7, 2000);
    put_block(e, 0xA3, 1, -5, 0, NULL, 0, 40);
    fl__ebml_close(e, h);
    assert_int_equal(e->err, 0);
}

static void test_handmade(void **state)
{
    (void)state;
    fl__ebml e;
    handmade(&e);
    char path[128]; /* kept with FLUO_KEEP_FILES: a seed of tests/fuzz/corpus/mkv_demux */
    snprintf(path, sizeof(path), "%s/handmade.mkv", tmp_dir);
    assert_int_equal(mf_write_file(path, e.data, e.len), 0);
    got g;
    demux(&g, e.data, e.len, 0);
    assert_int_equal(g.rc, FL_EOF);
    assert_int_equal(g.info.ntracks, 4);
    assert_int_equal(g.info.tracks[0].codec, FL_CODEC_VP8);
    assert_int_equal(g.info.tracks[0].width, 64);
    assert_int_equal(g.info.tracks[1].codec, FL_CODEC_OPUS);
    assert_int_equal(g.info.tracks[1].sample_rate, 48000);
    assert_int_equal(g.info.tracks[2].codec, FL_CODEC_PCMU);
    assert_int_equal(g.info.tracks[2].sample_rate, 8000);
    assert_int_equal(g.info.tracks[2].channels, 1);
    assert_int_equal(g.info.tracks[3].codec, FL_CODEC_OTHER);
    assert_string_equal(g.info.tracks[3].codec_name, "A_AAC");
    assert_int_equal(g.info.duration_us, -1);

    static const struct {
        unsigned track;
        int64_t pts;
        int key;
        size_t len;
    } want[] = {
        { 0, 1000000, 1, 50 },  { 0, 1033000, 0, 20 }, /* SimpleBlock, BlockGroup */
        { 1, 1000000, 1, 3 },   { 1, 1020000, 1, 300 }, { 1, 1040000, 1, 5 },  /* Xiph */
        { 1, 1060000, 1, 10 },  { 1, 1080000, 1, 7 },   { 1, 1100000, 1, 12 }, /* EBML */
        { 2, 1000000, 1, 160 }, { 2, 1020000, 1, 160 },                        /* fixed */
        { 0, 1995000, 0, 40 },
    };

    assert_int_equal(g.n, sizeof(want) / sizeof(*want));
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.f[i].track, want[i].track);
        assert_int_equal(g.f[i].pts, want[i].pts);
        assert_int_equal(g.f[i].key, want[i].key);
        assert_int_equal(g.f[i].len, want[i].len);
    }
    /* as a stream, and in pieces: the same */
    got s;
    demux_ex(&s, e.data, e.len, -1, 0, 0, -1);
    assert_same(&g, &s);
    got_free(&s);
    demux(&s, e.data, e.len, 1);
    assert_same(&g, &s);
    got_free(&s);
    /* a lace that does not fit: corrupt */
    uint8_t *bad = malloc(e.len);
    memcpy(bad, e.data, e.len);
    size_t at = 0;
    for (size_t i = 0; i + 4 < e.len; i++)
        if (memcmp(bad + i, "\x82\x00\x3c\x86\x02", 5) == 0)
            at = i;
    assert_true(at > 0);
    bad[at + 5] = 0xff; /* the first EBML lace size: 127 */
    demux(&s, bad, e.len, 0);
    assert_int_equal(s.rc, FL_EBADMSG);
    assert_int_equal(s.n, 5);
    got_free(&s);
    free(bad);
    got_free(&g);
    fl__ebml_deinit(&e);
}

/* ---- pieces, seeking, damage ---- */

static void test_pieces(void **state)
{
    (void)state;
    NEED_FFMPEG();
    const char *names[] = { "vp8.webm", "h264b.mkv" };
    for (size_t k = 0; k < 2; k++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, names[k]);
        size_t n;
        uint8_t *f = mf_read_file(path, &n);
        if (!f)
            f = make(names[k], k ? "-c:v libx264 -bf 3 -c:a libopus" : "-c:v libvpx -c:a libopus",
                     &n);
        got whole, one, seven, stream, stream7;
        demux(&whole, f, n, 0);
        demux(&one, f, n, 1);
        demux(&seven, f, n, 7);
        demux_ex(&stream, f, n, -1, 0, 0, -1);
        demux_ex(&stream7, f, n, -1, 7, 0, -1);
        assert_int_equal(whole.rc, FL_EOF);
        assert_same(&whole, &one);
        assert_same(&whole, &seven);
        assert_same(&whole, &stream);
        assert_same(&whole, &stream7);
        assert_false(stream.info.seekable);
        got_free(&whole);
        got_free(&one);
        got_free(&seven);
        got_free(&stream);
        got_free(&stream7);
        free(f);
    }
}

/* After a seek to `to` from the start: the first video frame is the key
 * frame at or before it (as the full read has them; the first key frame
 * when none is), then the frames the full read has from there, every
 * track from that time: audio from its first frame at or after it. */
static void check_seek(const got *full, const uint8_t *f, size_t n, int64_t to, size_t piece)
{
    int64_t key = INT64_MIN, first_key = INT64_MAX, audio = INT64_MAX;
    for (size_t i = 0; i < full->n; i++) {
        const got_frame *g = &full->f[i];
        if (g->track == 0 && g->key && g->pts <= to && g->pts > key)
            key = g->pts;
        if (g->track == 0 && g->key && g->pts < first_key)
            first_key = g->pts;
    }
    if (key == INT64_MIN)
        key = first_key;
    assert_true(key != INT64_MAX);
    for (size_t i = 0; i < full->n; i++)
        if (full->f[i].track == 1 && full->f[i].pts >= key && full->f[i].pts < audio)
            audio = full->f[i].pts;
    got s;
    demux_ex(&s, f, n, (int64_t)n, piece, 1, to);
    assert_int_equal(s.rc, FL_EOF);
    assert_true(s.n > 2);
    size_t first = 1; /* the frame read before the seek */
    while (s.f[first].track != 0)
        first++;
    assert_true(s.f[first].key);
    assert_int_equal(s.f[first].pts, key);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.f[i].pts >= key);
    /* the full read's frames from that key frame on, less the audio
     * frames before its time: the same */
    size_t j = 0;
    while (!(full->f[j].track == 0 && full->f[j].pts == key))
        j++;
    size_t i = first;
    for (; j < full->n && i < s.n; j++) {
        if (full->f[j].pts < key)
            continue;
        assert_frame_equal(&s.f[i], &full->f[j]);
        i++;
    }
    assert_int_equal(i, s.n);
    assert_int_equal(j, full->n);
    for (i = 1; i < s.n && s.f[i].track != 1; i++)
        ;
    if (audio != INT64_MAX) {
        assert_true(i < s.n);
        assert_int_equal(s.f[i].pts, audio);
    }
    print_message("seek to %lld: key frame %lld, %zu frames after\n", (long long)to, (long long)key,
                  s.n - 1);
    got_free(&s);
}

static void test_seek(void **state)
{
    (void)state;
    NEED_FFMPEG();
    size_t n;
    uint8_t *f = make("seek.webm", "-c:v libvpx -c:a libopus", &n);
    got full;
    demux(&full, f, n, 0);
    assert_int_equal(full.rc, FL_EOF);
    check_seek(&full, f, n, 1500000, 0);
    check_seek(&full, f, n, 1000000, 7);
    check_seek(&full, f, n, 10000, 0);
    check_seek(&full, f, n, 2990000, 0);
    got_free(&full);
    free(f);
    /* no Cues (written to a pipe): the clusters are scanned */
    char cmd[512], out[1024], path[128];
    snprintf(path, sizeof(path), "%s/pipe.webm", tmp_dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=30 -t 3 -g 30 "
             "-c:v libvpx -cluster_time_limit 500 -f webm - > %s 2>&1",
             path);
    assert_int_equal(mf_run(cmd, out, sizeof(out)), 0);
    f = mf_read_file(path, &n);
    assert_non_null(f);
    demux(&full, f, n, 0);
    assert_int_equal(full.rc, FL_EOF);
    assert_int_equal(count_track(&full, 0), 90);
    assert_true(full.info.seekable);
    check_seek(&full, f, n, 1500000, 0);
    check_seek(&full, f, n, 2500000, 1);
    got_free(&full);
    free(f);
    /* our muxer's file with Cues, and cut before finish (without) */
    mem m;
    got want;
    own_file(&m, 1, &want);
    demux(&full, m.p, m.len, 0);
    check_seek(&full, m.p, m.len, 2100000, 0);
    got_free(&full);
    demux(&full, m.snap, m.snap_len, 0);
    assert_int_equal(full.rc, FL_EOF);
    check_seek(&full, m.snap, m.snap_len, 3500000, 0);
    got_free(&full);
    got_free(&want);
    free(m.p);
    free(m.snap);
}

/* ffmpeg writes a Cluster at a video key frame only once the cluster
 * holds 4 KiB: at a low rate a cluster holds several key frames (a cue
 * each, the cluster's position). Seeks land on the key frame at or before
 * the time inside its cluster, with Cues and without (written to a pipe),
 * VP8 and H.264 with B-frames, whole and in 7-byte pieces (a pipe's
 * clusters are kept to 5 s as a file's are: not a cluster a second). */
static void test_seek_in_cluster(void **state)
{
    (void)state;
    NEED_FFMPEG();
    static const char *const names[] = { "kf.webm", "kf_pipe.webm", "kf.mkv" };
    static const char *const args[] = {
        "-c:v libvpx -b:v 8k -c:a libopus -b:a 6k",
        "-c:v libvpx -b:v 8k -c:a libopus -b:a 6k -cluster_time_limit 5000 -f webm",
        "-c:v libx264 -bf 3 -b:v 8k -c:a libopus -b:a 6k",
    };
    for (size_t k = 0; k < 3; k++) {
        char cmd[1024], out[4096], path[128];
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, names[k]);
        snprintf(cmd, sizeof(cmd),
                 "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=64x48:rate=30 -f lavfi "
                 "-i sine=frequency=440:sample_rate=48000 -t 10 -g 30 %s %s%s 2>&1",
                 args[k], k == 1 ? "- > " : "", path);
        assert_int_equal(mf_run(cmd, out, sizeof(out)), 0);
        size_t n;
        uint8_t *f = mf_read_file(path, &n);
        assert_non_null(f);
        got full;
        demux(&full, f, n, 0);
        assert_int_equal(full.rc, FL_EOF);
        assert_true(full.info.seekable);
        check_probe(names[k], &full, 0);
        check_probe(names[k], &full, 1);
        /* key frames a second apart, clusters far fewer */
        int64_t keys[10];
        size_t nkeys = 0, clusters = 0;
        for (size_t i = 0; i < full.n; i++)
            if (full.f[i].track == 0 && full.f[i].key) {
                assert_true(nkeys < 10);
                keys[nkeys++] = full.f[i].pts;
            }
        assert_int_equal(nkeys, 10);
        for (size_t i = 0; i + 4 <= n; i++)
            clusters += memcmp(f + i, "\x1f\x43\xb6\x75", 4) == 0;
        print_message("%s: %zu bytes, %zu clusters, key frames %lld .. %lld us\n", names[k], n,
                      clusters, (long long)keys[0], (long long)keys[9]);
        assert_true(clusters >= 2 && clusters <= 5);
        for (size_t i = 0; i < 10; i++)
            assert_true(llabs(keys[i] - (int64_t)i * 1000000) <= 10000);
        check_seek(&full, f, n, keys[6], 0);
        check_seek(&full, f, n, 6500000, 0);
        check_seek(&full, f, n, 6000000, 0);
        check_seek(&full, f, n, 0, 0);
        check_seek(&full, f, n, 4500000, 7);
        check_seek(&full, f, n, 7500000, 0);
        check_seek(&full, f, n, 8500000, 7);
        check_seek(&full, f, n, 9900000, 0);
        got_free(&full);
        free(f);
    }
}

/* The walk through a cluster: a BlockGroup key frame in a cluster's
 * middle, one with a ReferenceBlock, a cluster of unknown size ended by
 * the next, Void and CRC-32 between blocks. No Cues: the clusters are
 * scanned, and the scan stops at the first (unknown size). */
static void test_seek_walk(void **state)
{
    (void)state;
    fl__ebml e, g;
    fl__ebml_init(&e);
    size_t h = fl__ebml_open(&e, 0x1A45DFA3);
    fl__ebml_string(&e, 0x4282, "webm");
    fl__ebml_close(&e, h);
    size_t seg = fl__ebml_open(&e, 0x18538067);
    h = fl__ebml_open(&e, 0x1549A966);
    fl__ebml_uint(&e, 0x2AD7B1, 1000000);
    fl__ebml_close(&e, h);
    h = fl__ebml_open(&e, 0x1654AE6B);
    size_t t = fl__ebml_open(&e, 0xAE);
    fl__ebml_uint(&e, 0xD7, 1);
    fl__ebml_uint(&e, 0x83, 1);
    fl__ebml_string(&e, 0x86, "V_VP8");
    fl__ebml_close(&e, t);
    t = fl__ebml_open(&e, 0xAE);
    fl__ebml_uint(&e, 0xD7, 2);
    fl__ebml_uint(&e, 0x83, 2);
    fl__ebml_string(&e, 0x86, "A_OPUS");
    fl__ebml_close(&e, t);
    fl__ebml_close(&e, h);
    fl__ebml_head(&e, 0x1F43B675, FL__EBML_UNKNOWN_SIZE, 8);
    fl__ebml_uint(&e, 0xE7, 0);
    for (int i = 0; i < 20; i++) { /* video every 50 ms, audio every 20 ms */
        int rel = i * 50;
        for (int a = rel; a < rel + 50; a += 20)
            put_block(&e, 0xA3, 2, a, 0x80, NULL, 0, 30);
        if (i % 4 == 2) { /* a BlockGroup: key at 100, 500, 900; not at 300, 700 */
            fl__ebml_init(&g);
            put_block(&g, 0xA1, 1, rel, 0, NULL, 0, 60);
            if (i % 8 == 6)
                fl__ebml_uint(&g, 0xFB, 50);
            fl__ebml_binary(&e, 0xA0, g.data, g.len);
            fl__ebml_deinit(&g);
        } else {
            put_block(&e, 0xA3, 1, rel, i == 0 ? 0x80 : 0, NULL, 0, 40 + (size_t)i);
        }
        fl__ebml_void(&e, 3);
    }
    h = fl__ebml_open(&e, 0x1F43B675);
    uint8_t crc[4] = { 0 };
    fl__ebml_binary(&e, 0xBF, crc, 4);
    fl__ebml_uint(&e, 0xE7, 1000);
    for (int i = 0; i < 10; i++) {
        put_block(&e, 0xA3, 2, i * 40, 0x80, NULL, 0, 30);
        put_block(&e, 0xA3, 1, i * 40, i == 0 ? 0x80 : 0, NULL, 0, 50);
    }
    fl__ebml_close(&e, h);
    fl__ebml_close(&e, seg);
    assert_int_equal(e.err, 0);
    char path[128]; /* kept with FLUO_KEEP_FILES: a seed of tests/fuzz/corpus/mkv_demux */
    snprintf(path, sizeof(path), "%s/seek_walk.mkv", tmp_dir);
    assert_int_equal(mf_write_file(path, e.data, e.len), 0);
    got full;
    demux(&full, e.data, e.len, 0);
    assert_int_equal(full.rc, FL_EOF);
    assert_true(full.info.seekable);
    assert_int_equal(count_track(&full, 0), 30);

    static const struct {
        int64_t to;
        size_t piece;
    } seeks[] = { { 90000, 0 },  { 100000, 1 }, { 299000, 0 }, { 350000, 7 },  { 499999, 0 },
                  { 500000, 0 }, { 800000, 7 }, { 999000, 0 }, { 1000000, 1 }, { 1300000, 0 } };

    for (size_t i = 0; i < sizeof(seeks) / sizeof(*seeks); i++)
        check_seek(&full, e.data, e.len, seeks[i].to, seeks[i].piece);
    got_free(&full);
    fl__ebml_deinit(&e);
}

static void test_damage(void **state)
{
    (void)state;
    mem m;
    got want, full, g;
    own_file(&m, 0, &want);
    demux(&full, m.p, m.len, 0);
    assert_int_equal(full.rc, FL_EOF);
    /* cut every 97 bytes: the frames before the cut, then FL_EOF (or
     * FL_EBADMSG for a cut in the header) */
    size_t eof = 0, bad = 0;
    for (size_t cut = 0; cut < m.len; cut += 97) {
        demux(&g, m.p, cut, cut % 2 ? 0 : 13);
        assert_true(g.rc == FL_EOF || g.rc == FL_EBADMSG);
        if (g.rc == FL_EBADMSG)
            assert_int_equal(g.n, 0);
        eof += g.rc == FL_EOF;
        bad += g.rc == FL_EBADMSG;
        assert_true(g.n <= full.n);
        for (size_t i = 0; i < g.n; i++)
            assert_frame_equal(&g.f[i], &full.f[i]);
        got_free(&g);
    }
    assert_true(eof > bad);
    /* random bytes changed: an end, never a crash */
    uint8_t *p = malloc(m.len);
    uint32_t seed = 12345;
    size_t ends[3] = { 0 };
    for (int round = 0; round < 300; round++) {
        memcpy(p, m.p, m.len);
        for (int k = 0; k < 1 + round % 8; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = round < 100 ? (seed >> 8) % 600 : (seed >> 8) % m.len;
            p[at] ^= (uint8_t)(1u << (seed % 8));
        }
        demux(&g, p, m.len, round % 3 == 0 ? 7 : 0);
        assert_true(g.rc == FL_EOF || g.rc == FL_EBADMSG || g.rc == FL_ENOTSUP);
        ends[g.rc == FL_EOF ? 0 : g.rc == FL_EBADMSG ? 1 : 2]++;
        got_free(&g);
    }
    print_message(
            "cuts: %zu FL_EOF, %zu FL_EBADMSG; flips: %zu FL_EOF, %zu FL_EBADMSG, %zu FL_ENOTSUP\n",
            eof, bad, ends[0], ends[1], ends[2]);
    free(p);
    got_free(&full);
    got_free(&want);
    free(m.p);
    free(m.snap);
}

static void test_refuses(void **state)
{
    (void)state;
    got g;
    /* not Matroska at all, and a DocType of another kind */
    static const uint8_t junk[] = "this is not a media file at all";
    demux(&g, junk, sizeof(junk), 0);
    assert_int_equal(g.rc, FL_ENOTSUP);
    fl__ebml e;
    fl__ebml_init(&e);
    size_t h = fl__ebml_open(&e, 0x1A45DFA3);
    fl__ebml_string(&e, 0x4282, "notmkv");
    fl__ebml_close(&e, h);
    fl__ebml_head(&e, 0x18538067, 0, 1);
    demux(&g, e.data, e.len, 0);
    assert_int_equal(g.rc, FL_ENOTSUP);
    fl__ebml_deinit(&e);
    /* no Tracks: corrupt */
    fl__ebml_init(&e);
    h = fl__ebml_open(&e, 0x1A45DFA3);
    fl__ebml_string(&e, 0x4282, "webm");
    fl__ebml_close(&e, h);
    h = fl__ebml_open(&e, 0x18538067);
    fl__ebml_head(&e, 0x1F43B675, 0, 1);
    fl__ebml_close(&e, h);
    demux(&g, e.data, e.len, 0);
    assert_int_equal(g.rc, FL_EBADMSG);
    assert_false(g.ready);
    /* a seek before the header, or in a stream: refused */
    fl_demux *d;
    assert_int_equal(fl_demux_create(&d, &(fl_demux_config){ .size = -1 }), 0);
    assert_int_equal(fl_demux_seek(d, 0), FL_ENOTSUP);
    fl_demux_destroy(d);
    fl__ebml_deinit(&e);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fl_mkvd_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("FLUO_KEEP_FILES")) {
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
        cmocka_unit_test(test_ffmpeg_vp8_opus), cmocka_unit_test(test_ffmpeg_vp9_opus),
        cmocka_unit_test(test_ffmpeg_h264),     cmocka_unit_test(test_ffmpeg_pcmu),
        cmocka_unit_test(test_own_muxer),       cmocka_unit_test(test_handmade),
        cmocka_unit_test(test_pieces),          cmocka_unit_test(test_seek),
        cmocka_unit_test(test_seek_in_cluster), cmocka_unit_test(test_seek_walk),
        cmocka_unit_test(test_damage),          cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
