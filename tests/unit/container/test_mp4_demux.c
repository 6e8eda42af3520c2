/* container/mp4_demux.c through fl_demux: files that ffmpeg makes in a
 * temporary directory (testsrc2 320x240 30 fps with a 440 Hz sine at
 * 48 kHz, 3 s, key frames every 30 frames: H.264 from libx264 without and
 * with B-frames, Opus from libopus, AAC) as a plain MP4 with its moov at
 * the end, with +faststart, and fragmented (frag_keyframe+empty_moov+
 * default_base_moof), checked against ffprobe's packets (times, sizes, key
 * flags); a file fluo's own muxer writes, read back exactly; feeding in odd
 * pieces and with read-ahead gives the same frames; seeks land on the key
 * frame at or before; cut and flipped files never crash. The tests that
 * need ffmpeg are skipped when it is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "codec/codec.h"
#include "container/container.h"
#include "tests/unit/container/media_fixtures.h"

#include <cmocka.h>

static char tmp_dir[64];
static int have_tools;

/* ---- demuxing a file in memory ---- */

struct fr {
    unsigned track;
    int64_t pts, dts;
    int key;
    size_t len;
    uint32_t hash;
    uint8_t *data; /* a copy */
};

struct demuxed {
    fl_demux_info info;
    struct fr *f;
    size_t n, cap;
    int end; /* what ended the reading: FL_EOF or an error */
    int seek_rc;
    size_t feeds; /* fl_demux_feed calls */
    uint64_t fed; /* bytes given */
};

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

enum feed_mode {
    FEED_EXACT, /* what is wanted */
    FEED_AHEAD, /* 256 KiB more than wanted */
    FEED_ODD,   /* pieces of 1..2x what is wanted, from a seeded generator */
};

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Reads file..len through a demuxer (told its size, or -1), fed as `mode`
 * says; with seek_us >= 0, seeks there after `seek_after` frames. Frames
 * of the seek go on after those before it. */
static void demux_file(const uint8_t *file,
                       size_t len,
                       int64_t size,
                       enum feed_mode mode,
                       size_t seek_after,
                       int64_t seek_us,
                       struct demuxed *out)
{
    memset(out, 0, sizeof(*out));
    fl_demux *d;
    assert_int_equal(fl_demux_create(&d, &(fl_demux_config){ .size = size }), 0);
    uint32_t seed = 7;
    size_t guard = 0;
    for (;;) {
        assert_true(++guard < 10000000);
        if (seek_us >= 0 && out->n == seek_after) {
            out->seek_rc = fl_demux_seek(d, seek_us);
            seek_us = -1;
        }
        fl_demux_frame f;
        int rc = fl_demux_read(d, &f);
        if (rc == 1) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 256;
                out->f = realloc(out->f, out->cap * sizeof(*out->f));
                assert_non_null(out->f);
            }
            assert_true(f.data != NULL && f.len > 0 &&
                        f.track < out->info.ntracks + FL_DEMUX_MAX_TRACKS);
            uint8_t *copy = malloc(f.len);
            assert_non_null(copy);
            memcpy(copy, f.data, f.len);
            out->f[out->n++] = (struct fr){ f.track, f.pts_us,           f.dts_us, f.key,
                                            f.len,   fnv(f.data, f.len), copy };
            continue;
        }
        if (rc != FL_EAGAIN) {
            out->end = rc;
            break;
        }
        int64_t off;
        size_t want;
        fl_demux_want(d, &off, &want);
        assert_true(off >= 0 && want > 0);
        size_t n = want;
        if (mode == FEED_AHEAD)
            n += 256 << 10;
        else if (mode == FEED_ODD) /* fewer than wanted only when the size says it is not the end */
            n = (size >= 0 ? 1 : want) + lcg(&seed) % (2 * want);
        if ((uint64_t)off >= len)
            n = 0;
        else if (n > len - (size_t)off)
            n = len - (size_t)off;
        assert_int_equal(fl_demux_feed(d, off, file + (n ? off : 0), n), 0);
        out->feeds++;
        out->fed += n;
    }
    out->info = *fl_demux_info_get(d);
    for (size_t i = 0; i < out->info.ntracks; i++) { /* the codec data outlives the demuxer */
        fl_demux_track *t = &out->info.tracks[i];
        if (!t->extra)
            continue;
        uint8_t *copy = malloc(t->extra_len);
        assert_non_null(copy);
        memcpy(copy, t->extra, t->extra_len);
        if (t->sps)
            t->sps = copy + (t->sps - t->extra);
        if (t->pps)
            t->pps = copy + (t->pps - t->extra);
        t->extra = copy;
    }
    fl_demux_destroy(d);
}

static void demuxed_free(struct demuxed *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->f[i].data);
    for (size_t i = 0; i < m->info.ntracks; i++)
        free((void *)m->info.tracks[i].extra);
    m->info.ntracks = 0;
    free(m->f);
    m->f = NULL;
}

static size_t count_track(const struct demuxed *m, unsigned track)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += m->f[i].track == track;
    return n;
}

static void assert_same_frames(const struct demuxed *a, const struct demuxed *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->end, b->end);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->f[i].track, b->f[i].track);
        assert_true(a->f[i].pts == b->f[i].pts && a->f[i].dts == b->f[i].dts);
        assert_int_equal(a->f[i].key, b->f[i].key);
        assert_int_equal(a->f[i].len, b->f[i].len);
        assert_int_equal(a->f[i].hash, b->f[i].hash);
    }
}

/* ---- ffmpeg and ffprobe ---- */

struct probe_pkt {
    unsigned stream;
    int64_t pts, dts; /* us, from ffprobe's seconds */
    size_t size;
    int key;
};

static int64_t sec_to_us(double s)
{
    return (int64_t)(s * 1e6 + (s < 0 ? -0.5 : 0.5));
}

/* ffprobe's packets of a file, in its order. */
static struct probe_pkt *probe(const char *path, size_t *n)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries packet=stream_index,pts_time,dts_time,size,flags "
             "-of csv=p=0 %s",
             path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1024;
    struct probe_pkt *p = calloc(cap, sizeof(*p));
    assert_non_null(p);
    *n = 0;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned s;
        double pts, dts;
        size_t size;
        char flags[16];
        if (sscanf(line, "%u,%lf,%lf,%zu,%15[^,\n]", &s, &pts, &dts, &size, flags) != 5)
            continue;
        assert_true(*n < cap);
        p[(*n)++] = (struct probe_pkt){ s, sec_to_us(pts), sec_to_us(dts), size, flags[0] == 'K' };
    }
    assert_int_equal(pclose(f), 0);
    return p;
}

/* Makes tmp_dir/name with ffmpeg: the test pattern and tone, 3 s, then
 * `codecs` and `opts`. Returns its bytes (*len). */
static uint8_t *make_file(const char *name,
                          const char *codecs,
                          const char *opts,
                          size_t *len,
                          char *path,
                          size_t path_cap)
{
    char cmd[1024];
    snprintf(path, path_cap, "%s/%s", tmp_dir, name);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i "
             "sine=frequency=440:sample_rate=48000 -t 3 %s -g 30 %s %s",
             codecs, opts, path);
    assert_int_equal(system(cmd), 0);
    uint8_t *p = mf_read_file(path, len);
    assert_non_null(p);
    return p;
}

/* ffprobe's format duration of the file at path, in us. */
static int64_t probe_duration(const char *path)
{
    char cmd[512], line[128];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 %s", path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    double s = -1;
    if (fgets(line, sizeof(line), f))
        s = strtod(line, NULL);
    assert_int_equal(pclose(f), 0);
    assert_true(s > 0);
    return sec_to_us(s);
}

/* Every frame matches ffprobe's packet of the same stream in turn (the
 * file's stream index is our track index for these files). */
static void assert_matches_probe(const struct demuxed *m, const char *path)
{
    size_t np;
    struct probe_pkt *p = probe(path, &np);
    assert_int_equal(m->n, np);
    for (unsigned s = 0; s < m->info.ntracks; s++) {
        size_t j = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (m->f[i].track != s)
                continue;
            while (j < np && p[j].stream != s)
                j++;
            assert_true(j < np);
            if (llabs(m->f[i].pts - p[j].pts) > 1 || llabs(m->f[i].dts - p[j].dts) > 1)
                fail_msg("track %u frame %zu: pts %lld dts %lld, ffprobe %lld %lld", s, i,
                         (long long)m->f[i].pts, (long long)m->f[i].dts, (long long)p[j].pts,
                         (long long)p[j].dts);
            assert_int_equal(m->f[i].len, p[j].size);
            if (m->info.tracks[s].video)
                assert_int_equal(m->f[i].key, p[j].key);
            j++;
        }
    }
    free(p);
}

static void assert_h264_opus(const fl_demux_info *info)
{
    assert_int_equal(info->format, FL_DEMUX_MP4);
    assert_int_equal(info->ntracks, 2);
    const fl_demux_track *v = &info->tracks[0], *a = &info->tracks[1];
    assert_true(v->video && v->codec == FL_CODEC_H264);
    assert_string_equal(v->codec_name, "avc1");
    assert_int_equal(v->width, 320);
    assert_int_equal(v->height, 240);
    assert_int_equal(v->nal_length_size, 4);
    assert_true(v->sps && v->sps_len > 3 && (v->sps[0] & 0x1f) == 7);
    assert_true(v->pps && v->pps_len > 0 && (v->pps[0] & 0x1f) == 8);
    assert_true(v->extra && v->extra_len >= v->sps_len + v->pps_len + 7);
    assert_true(!a->video && a->codec == FL_CODEC_OPUS);
    assert_string_equal(a->codec_name, "Opus");
    assert_int_equal(a->sample_rate, 48000);
    assert_int_equal(a->channels, 1);
    assert_true(a->extra && a->extra_len >= 11);
}

/* 90 video frames at i/30 s (B-frames: in presentation order once
 * sorted), the first a key frame, and Opus every 20 ms. */
static void assert_av_timing(const struct demuxed *m)
{
    assert_int_equal(count_track(m, 0), 90);
    assert_true(count_track(m, 1) >= 149);
    int64_t pts[90];
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->f[i].track == 0)
            pts[n++] = m->f[i].pts;
    for (size_t i = 0; i < 90; i++) /* a permutation of i/30 s */
        for (size_t k = i + 1; k < 90; k++)
            if (pts[k] < pts[i]) {
                int64_t t = pts[i];
                pts[i] = pts[k];
                pts[k] = t;
            }
    int64_t first = pts[0];
    for (size_t i = 0; i < 90; i++)
        assert_true(llabs(pts[i] - first - ((int64_t)i * 1000000 + 15) / 30) <= 1);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fluo_mp4d_XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    have_tools = mf_have_tool("ffmpeg") && mf_have_tool("ffprobe");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    if (getenv("FLUO_KEEP_TMP"))
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define NEED_TOOLS()     \
    do {                 \
        if (!have_tools) \
            skip();      \
    } while (0)

static const char *const h264_opus = "-c:v libx264 -bf 0 -c:a libopus";

/* ---- tests ---- */

/* ffmpeg's default: the moov after the mdat. */
static void test_plain_moov_at_end(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *file = make_file("plain.mp4", h264_opus, "", &len, path, sizeof(path));
    struct demuxed m;
    demux_file(file, len, (int64_t)len, FEED_EXACT, 0, -1, &m);
    assert_int_equal(m.end, FL_EOF);
    assert_h264_opus(&m.info);
    assert_true(m.info.seekable);
    assert_true(llabs(m.info.duration_us - 3000000) < 30000);
    assert_av_timing(&m);
    for (size_t i = 0; i < m.n; i++)
        if (m.f[i].track == 0) {
            assert_int_equal(m.f[i].pts, m.f[i].dts);
            assert_int_equal(m.f[i].key, m.f[i].pts % 1000000 == 0);
        }
    assert_int_equal(m.f[0].pts, -6500); /* Opus pre-skip: 312 samples before 0 */
    assert_matches_probe(&m, path);
    /* read once: every byte given at most once, whatever the layout */
    assert_true(m.fed <= len + 64);
    demuxed_free(&m);
    free(file);
}

static void test_faststart_bframes(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *file = make_file("bf.mp4", "-c:v libx264 -c:a libopus", "-movflags +faststart", &len,
                              path, sizeof(path));
    assert_int_equal(memcmp(file + 4, "ftyp", 4), 0);
    struct demuxed m;
    demux_file(file, len, (int64_t)len, FEED_AHEAD, 0, -1, &m);
    assert_int_equal(m.end, FL_EOF);
    assert_h264_opus(&m.info);
    assert_av_timing(&m);
    int reordered = 0;
    for (size_t i = 0; i < m.n; i++)
        reordered |= m.f[i].track == 0 && m.f[i].pts != m.f[i].dts;
    assert_true(reordered);
    assert_int_equal(m.f[0].pts, 0); /* the edit list's B-frame delay is applied */
    assert_matches_probe(&m, path);
    /* a stream: size unknown, moov first */
    struct demuxed s;
    demux_file(file, len, -1, FEED_ODD, 0, -1, &s);
    assert_same_frames(&m, &s);
    demuxed_free(&s);
    demuxed_free(&m);
    free(file);
}

static void test_fragmented(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *file = make_file("frag.mp4", "-c:v libx264 -c:a libopus",
                              "-movflags frag_keyframe+empty_moov+default_base_moof", &len, path,
                              sizeof(path));
    struct demuxed m, s;
    demux_file(file, len, (int64_t)len, FEED_EXACT, 0, -1, &m);
    assert_int_equal(m.end, FL_EOF);
    assert_h264_opus(&m.info);
    assert_true(m.info.seekable);
    assert_av_timing(&m);
    assert_matches_probe(&m, path);
    /* read once, but for the duration's look at the first and last
     * fragments and the mfra */
    assert_true(m.fed <= len + 4096);
    assert_true(llabs(m.info.duration_us - probe_duration(path)) <= 1);
    demux_file(file, len, -1, FEED_ODD, 0, -1, &s);
    assert_same_frames(&m, &s);
    assert_false(s.info.seekable);
    assert_int_equal(s.info.duration_us, -1); /* a stream: not measured */
    demuxed_free(&s);
    demuxed_free(&m);
    free(file);
}

/* ---- the duration of fragmented files ---- */

/* The top-level boxes of a file: how many, the first and last moof's
 * sizes, all moofs' together and the mfra's (0 when none). */
struct layout {
    size_t boxes, first_moof, last_moof, moofs, mfra;
};

static struct layout layout_of(const uint8_t *p, size_t len)
{
    struct layout l = { 0 };
    for (size_t at = 0; at + 8 <= len;) {
        size_t size = fl_get_be32(p + at);
        assert_true(size >= 8 && size <= len - at); /* no 64-bit sizes in these */
        if (memcmp(p + at + 4, "moof", 4) == 0) {
            if (!l.first_moof)
                l.first_moof = size;
            l.last_moof = size;
            l.moofs += size;
        } else if (memcmp(p + at + 4, "mfra", 4) == 0) {
            l.mfra = size;
        }
        l.boxes++;
        at += size;
    }
    return l;
}

/* The file (written to tmp_dir/name for ffprobe) says no duration (no
 * mehd, mvhd's 0): the demuxer measures it before the header is reported
 * read, the same however the bytes come, within one frame (1/30 s) of
 * ffprobe's format duration. The bytes read beyond the file once: with an
 * mfra, the first and last fragments' moofs and the mfra; without, every
 * moof and box header of a walk. Returns the duration. */
static int64_t check_frag_duration(const uint8_t *file, size_t len, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    assert_int_equal(mf_write_file(path, file, len), 0);
    int64_t want = probe_duration(path);
    struct layout l = layout_of(file, len);
    struct demuxed a, b, c;
    demux_file(file, len, (int64_t)len, FEED_EXACT, 0, -1, &a);
    assert_int_equal(a.end, FL_EOF);
    if (llabs(a.info.duration_us - want) > 33334)
        fail_msg("%s: duration %lld us, ffprobe %lld", name, (long long)a.info.duration_us,
                 (long long)want);
    uint64_t extra = a.fed - len;
    if (l.mfra)
        assert_true(extra <= l.first_moof + l.last_moof + l.mfra + 64);
    else
        assert_true(extra <= 2 * l.first_moof + l.moofs + 16 * l.boxes + 64);
    demux_file(file, len, (int64_t)len, FEED_ODD, 0, -1, &b);
    demux_file(file, len, (int64_t)len, FEED_AHEAD, 0, -1, &c);
    assert_same_frames(&a, &b);
    assert_same_frames(&a, &c);
    assert_int_equal(b.info.duration_us, a.info.duration_us);
    assert_int_equal(c.info.duration_us, a.info.duration_us);
    int64_t d = a.info.duration_us;
    demuxed_free(&a);
    demuxed_free(&b);
    demuxed_free(&c);
    return d;
}

/* The mfra cut off the end, as a file whose writer never finished. */
static size_t without_mfra(const uint8_t *file, size_t len)
{
    assert_true(len > 16 && memcmp(file + len - 12, "mfro", 4) == 0);
    size_t mfra = fl_get_be32(file + len - 4);
    assert_true(mfra < len && memcmp(file + len - mfra + 4, "mfra", 4) == 0);
    return len - mfra;
}

/* ffmpeg's frag_keyframe+empty_moov+default_base_moof: through the mfra
 * and, cut, by walking the fragments; without B-frames (10 s: ten
 * fragments, so that the walk reads more than the mfra's way) and with
 * (the video's first sample shows two frames late: its end and start are
 * its pts, as ffprobe's). */
static void test_frag_duration(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len, blen;
    uint8_t *file = make_file("fragd.mp4", h264_opus,
                              "-t 10 -movflags frag_keyframe+empty_moov+default_base_moof", &len,
                              path, sizeof(path));
    int64_t d = check_frag_duration(file, len, "fragd_mfra.mp4");
    assert_true(d > 9900000 && d < 10100000);
    assert_int_equal(check_frag_duration(file, without_mfra(file, len), "fragd_cut.mp4"), d);
    uint8_t *bf = make_file("fragdb.mp4", "-c:v libx264 -c:a libopus",
                            "-movflags frag_keyframe+empty_moov+default_base_moof", &blen, path,
                            sizeof(path));
    d = check_frag_duration(bf, blen, "fragdb_mfra.mp4");
    assert_true(d > 3050000 && d < 3100000); /* 3 s from the first B-frame delay on */
    assert_int_equal(check_frag_duration(bf, without_mfra(bf, blen), "fragdb_cut.mp4"), d);
    free(bf);
    /* video alone: it ends last, from its first pts (3 s, not 2 frames less) */
    bf = make_file("fragdv.mp4", "-an -c:v libx264",
                   "-movflags frag_keyframe+empty_moov+default_base_moof", &blen, path,
                   sizeof(path));
    d = check_frag_duration(bf, blen, "fragdv_mfra.mp4");
    assert_true(llabs(d - 3000000) <= 1);
    assert_int_equal(check_frag_duration(bf, without_mfra(bf, blen), "fragdv_cut.mp4"), d);
    free(bf);
    free(file);
}

/* AAC is listed, named and skipped. */
static void test_aac_skipped(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *file =
            make_file("aac.mp4", "-c:v libx264 -bf 0 -c:a aac", "", &len, path, sizeof(path));
    struct demuxed m;
    demux_file(file, len, (int64_t)len, FEED_ODD, 0, -1, &m);
    assert_int_equal(m.end, FL_EOF);
    assert_int_equal(m.info.ntracks, 2);
    assert_int_equal(m.info.tracks[1].codec, FL_CODEC_OTHER);
    assert_string_equal(m.info.tracks[1].codec_name, "mp4a");
    assert_false(m.info.tracks[1].video);
    assert_int_equal(count_track(&m, 1), 0);
    assert_int_equal(count_track(&m, 0), 90);
    demuxed_free(&m);
    free(file);
}

/* Odd pieces, read-ahead and an unknown size give the same frames. */
static void test_split_feeding(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *file = make_file("split.mp4", h264_opus, "", &len, path, sizeof(path));
    struct demuxed a, b, c;
    demux_file(file, len, (int64_t)len, FEED_EXACT, 0, -1, &a);
    demux_file(file, len, (int64_t)len, FEED_ODD, 0, -1, &b);
    demux_file(file, len, (int64_t)len, FEED_AHEAD, 0, -1, &c);
    assert_int_equal(a.end, FL_EOF);
    assert_same_frames(&a, &b);
    assert_same_frames(&a, &c);
    assert_true(b.feeds > a.feeds);
    demuxed_free(&a);
    demuxed_free(&b);
    demuxed_free(&c);
    free(file);
}

/* After a seek to 1.5 s: the video from its last key frame at or before
 * (1 s: key frames every 30 frames), its frames from there on as a whole
 * read gives them; the audio from that key frame's time. */
static void assert_seek_lands(const uint8_t *file, size_t len, int64_t size)
{
    struct demuxed whole, m;
    demux_file(file, len, size, FEED_EXACT, 0, -1, &whole);
    size_t key = whole.n;
    for (size_t i = 0; i < whole.n; i++)
        if (whole.f[i].track == 0 && whole.f[i].key && whole.f[i].pts <= 1500000)
            key = i;
    assert_true(key < whole.n);
    int64_t key_us = whole.f[key].pts;
    assert_true(key_us >= 1000000 && key_us < 1010000);

    demux_file(file, len, size, FEED_AHEAD, 10, 1500000, &m);
    assert_int_equal(m.seek_rc, 0);
    assert_int_equal(m.end, FL_EOF);
    size_t j = key; /* the video after the seek: whole's from the key frame on */
    const struct fr *a = NULL;
    for (size_t i = 10; i < m.n; i++) {
        if (!a && m.f[i].track == 1)
            a = &m.f[i];
        if (m.f[i].track != 0)
            continue;
        while (j < whole.n && whole.f[j].track != 0)
            j++;
        assert_true(j < whole.n);
        if (m.f[i].pts != whole.f[j].pts)
            fail_msg("landed at %lld, not %lld", (long long)m.f[i].pts, (long long)whole.f[j].pts);
        assert_int_equal(m.f[i].hash, whole.f[j].hash);
        j++;
    }
    while (j < whole.n && whole.f[j].track != 0)
        j++;
    assert_int_equal(j, whole.n);
    assert_non_null(a);
    assert_true(a->pts >= key_us && a->pts < key_us + 25000);
    demuxed_free(&m);
    demuxed_free(&whole);
}

static void test_seek(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len, flen;
    uint8_t *plain = make_file("seek.mp4", h264_opus, "", &len, path, sizeof(path));
    assert_seek_lands(plain, len, (int64_t)len);
    uint8_t *frag = make_file("seekf.mp4", h264_opus,
                              "-movflags frag_keyframe+empty_moov+default_base_moof", &flen, path,
                              sizeof(path));
    assert_seek_lands(frag, flen, (int64_t)flen); /* through the mfra */
    /* without the mfra: the moofs are scanned */
    assert_true(flen > 16 && memcmp(frag + flen - 12, "mfro", 4) == 0);
    size_t mfra = fl_get_be32(frag + flen - 4);
    assert_int_equal(memcmp(frag + flen - mfra + 4, "mfra", 4), 0);
    assert_seek_lands(frag, flen - mfra, (int64_t)(flen - mfra));
    /* out of range, and not seekable without a size */
    fl_demux *d;
    fl_demux_frame f;
    assert_int_equal(fl_demux_create(&d, &(fl_demux_config){ .size = -1 }), 0);
    int rc;
    while ((rc = fl_demux_read(d, &f)) == FL_EAGAIN) {
        int64_t off;
        size_t want;
        fl_demux_want(d, &off, &want);
        assert_int_equal(fl_demux_feed(d, off, frag + off,
                                       (size_t)off + want <= flen ? want : flen - (size_t)off),
                         0);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(fl_demux_seek(d, 0), FL_ENOTSUP);
    fl_demux_destroy(d);
    free(plain);
    free(frag);
}

/* ---- fluo's own muxer ---- */

struct memfile {
    uint8_t *p;
    size_t len, cap;
};

static int mem_write(void *arg, int64_t offset, const uint8_t *data, size_t len)
{
    struct memfile *f = arg;
    if (offset == FL_MUX_APPEND)
        return mf_file_append(&f->p, &f->len, &f->cap, data, len);
    return mf_file_patch(f->p, f->len, offset, data, len);
}

/* The frames of src (an ffmpeg file's) muxed by container/mp4.c into out:
 * video at i/30 s, Opus every 20 ms. */
static void mux_own(const struct demuxed *src, struct memfile *out)
{
    const fl_demux_track *v = &src->info.tracks[0];
    fl_mux_track tracks[2] = { { FL_MUX_H264, 0, 0 }, { FL_MUX_OPUS, 48000, 1 } };
    fl_mux *mux;
    assert_int_equal(fl_mux_create(&mux, &(fl_mux_config){ .format = FL_MUX_MP4,
                                                           .tracks = tracks,
                                                           .ntracks = 2,
                                                           .out = { mem_write, out } }),
                     0);
    size_t nv = 0, na = 0;
    for (size_t i = 0; i < src->n; i++) {
        const struct fr *f = &src->f[i];
        int64_t pts = f->track == 0 ? ((int64_t)nv++ * 1000000 + 15) / 30 : (int64_t)na++ * 20000;
        fl_mux_frame mf = {
            .track = f->track, .pts_us = pts, .key = f->key, .data = f->data, .len = f->len
        };
        if (f->track == 0 && f->key) {
            mf.width = 320;
            mf.height = 240;
            mf.sps = v->sps;
            mf.sps_len = v->sps_len;
            mf.pps = v->pps;
            mf.pps_len = v->pps_len;
        }
        assert_int_equal(fl_mux_write(mux, &mf), 0);
    }
    assert_int_equal(fl_mux_finish(mux), 0);
    fl_mux_destroy(mux);
}

static uint8_t *own_file(size_t *len, struct memfile *out)
{
    char path[128];
    uint8_t *file = make_file("src.mp4", h264_opus, "", len, path, sizeof(path));
    struct demuxed src;
    demux_file(file, *len, (int64_t)*len, FEED_AHEAD, 0, -1, &src);
    assert_int_equal(src.end, FL_EOF);
    *out = (struct memfile){ 0 };
    mux_own(&src, out);
    demuxed_free(&src);
    return file;
}

/* The frames of an ffmpeg file muxed by container/mp4.c read back: the
 * same bytes, times and key frames. */
static void test_own_muxer(void **state)
{
    (void)state;
    NEED_TOOLS();
    size_t len;
    struct memfile out;
    uint8_t *file = own_file(&len, &out);
    struct demuxed src;
    demux_file(file, len, (int64_t)len, FEED_AHEAD, 0, -1, &src);
    assert_int_equal(src.end, FL_EOF);

    struct demuxed back;
    demux_file(out.p, out.len, (int64_t)out.len, FEED_ODD, 0, -1, &back);
    assert_int_equal(back.end, FL_EOF);
    assert_int_equal(back.info.ntracks, 2);
    assert_int_equal(back.info.tracks[0].codec, FL_CODEC_H264);
    assert_int_equal(back.info.tracks[1].codec, FL_CODEC_OPUS);
    assert_true(back.info.seekable);
    assert_true(back.info.duration_us > 2900000 && back.info.duration_us < 3100000);
    assert_int_equal(back.n, src.n);
    size_t iv = 0, ia = 0;
    size_t sv = 0, sa = 0; /* the source's frames of each track, in turn */
    for (size_t i = 0; i < back.n; i++) {
        const struct fr *b = &back.f[i];
        size_t *k = b->track == 0 ? &sv : &sa;
        while (src.f[*k].track != b->track)
            (*k)++;
        const struct fr *a = &src.f[(*k)++];
        int64_t pts = b->track == 0 ? ((int64_t)iv++ * 1000000 + 15) / 30 : (int64_t)ia++ * 20000;
        assert_int_equal(b->pts, pts);
        assert_int_equal(b->dts, pts);
        assert_int_equal(b->key, a->key);
        assert_int_equal(b->len, a->len);
        assert_memory_equal(b->data, a->data, a->len);
    }
    assert_seek_lands(out.p, out.len, (int64_t)out.len);
    demuxed_free(&back);
    demuxed_free(&src);
    free(out.p);
    free(file);
}

/* fluo's muxer patches mehd's duration at the end; without it (zeroed)
 * the mfra gives the same duration, and without either (a recording that
 * never finished) the walk of the fragments does. */
static void test_own_muxer_duration(void **state)
{
    (void)state;
    NEED_TOOLS();
    size_t len;
    struct memfile out;
    uint8_t *file = own_file(&len, &out);
    char path[128];
    snprintf(path, sizeof(path), "%s/own.mp4", tmp_dir);
    assert_int_equal(mf_write_file(path, out.p, out.len), 0);
    struct demuxed m;
    demux_file(out.p, out.len, (int64_t)out.len, FEED_EXACT, 0, -1, &m);
    int64_t mehd = m.info.duration_us;
    assert_true(llabs(mehd - probe_duration(path)) <= 33334);
    demuxed_free(&m);
    uint8_t *at = memmem(out.p, out.len, "mehd", 4);
    assert_non_null(at);
    assert_int_equal(at[4], 1); /* version 1: a 64-bit duration */
    assert_int_not_equal(fl_get_be32(at + 8) | fl_get_be32(at + 12), 0);
    memset(at + 8, 0, 8);
    int64_t d = check_frag_duration(out.p, out.len, "own_mfra.mp4");
    assert_true(llabs(d - mehd) <= 33334);
    assert_int_equal(check_frag_duration(out.p, without_mfra(out.p, out.len), "own_cut.mp4"), d);
    free(out.p);
    free(file);
}

/* ---- damage ---- */

/* 1 when every frame of part is a frame of whole, in the same order. */
static int subsequence(const struct demuxed *part, const struct demuxed *whole)
{
    size_t j = 0;
    for (size_t i = 0; i < part->n; i++) {
        while (j < whole->n &&
               (whole->f[j].hash != part->f[i].hash || whole->f[j].pts != part->f[i].pts))
            j++;
        if (j++ == whole->n)
            return 0;
    }
    return 1;
}

static void damage(const uint8_t *file, size_t len)
{
    struct demuxed whole, m;
    demux_file(file, len, (int64_t)len, FEED_EXACT, 0, -1, &whole);
    assert_int_equal(whole.end, FL_EOF);
    uint32_t seed = 99;
    for (int i = 0; i < 120; i++) { /* cut: a subsequence, then the end */
        size_t cut = i < 40 ? (size_t)i * 37 % len : lcg(&seed) % len;
        demux_file(file, cut, (int64_t)cut, (enum feed_mode)(i % 3), 0, -1, &m);
        assert_true(m.end == FL_EOF || m.end == FL_EBADMSG);
        assert_true(subsequence(&m, &whole));
        demuxed_free(&m);
    }
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    for (int i = 0; i < 400; i++) { /* flipped bytes: never a crash or a read outside */
        memcpy(bad, file, len);
        for (int k = 0; k < 1 + i % 4; k++)
            bad[lcg(&seed) % len] ^= (uint8_t)(1u << (lcg(&seed) % 8));
        demux_file(bad, len, i % 5 ? (int64_t)len : -1, (enum feed_mode)(i % 3), 5, 1200000, &m);
        assert_true(m.end == FL_EOF || m.end == FL_EBADMSG || m.end == FL_ENOTSUP);
        demuxed_free(&m);
    }
    free(bad);
    demuxed_free(&whole);
}

static void test_damage(void **state)
{
    (void)state;
    NEED_TOOLS();
    char path[128];
    size_t len;
    uint8_t *plain =
            make_file("dmg.mp4", "-c:v libx264 -c:a libopus", "-t 1", &len, path, sizeof(path));
    damage(plain, len);
    free(plain);
    uint8_t *frag = make_file("dmgf.mp4", h264_opus,
                              "-t 1 -movflags frag_keyframe+empty_moov+default_base_moof", &len,
                              path, sizeof(path));
    damage(frag, len);
    free(frag);
}

/* Hand-made boxes: nothing to read, sizes that lie, not an MP4. */
static void test_bad_boxes(void **state)
{
    (void)state;
    static const uint8_t ftyp_only[] = { 0,   0,   0,   16,  'f', 't', 'y', 'p',
                                         'i', 's', 'o', 'm', 0,   0,   0,   0 };
    static const uint8_t small[] = { 0, 0, 0, 4, 'f', 't', 'y', 'p', 0, 0, 0, 0 };
    static const uint8_t huge_moov[] = { 0,    0,    0,    16,   'f',  't',  'y',  'p',
                                         'i',  's',  'o',  'm',  0,    0,    0,    0,
                                         0,    0,    0,    1,    'm',  'o',  'o',  'v',
                                         0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t zero_moov[] = { 0,   0,   0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o',
                                         'm', 0,   0, 0,  0,   0,   0,   0,   0,   'm', 'o',
                                         'o', 'v', 0, 0,  0,   8,   'm', 'v', 'h', 'd' };
    static const uint8_t webp[] = { 'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P' };

    struct {
        const uint8_t *p;
        size_t len;
        int end;
    } cases[] = {
        { ftyp_only, sizeof(ftyp_only), FL_EBADMSG }, { small, sizeof(small), FL_EBADMSG },
        { huge_moov, sizeof(huge_moov), FL_EBADMSG }, { zero_moov, sizeof(zero_moov), FL_EBADMSG },
        { webp, sizeof(webp), FL_ENOTSUP },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        for (int known = 0; known < 2; known++) {
            struct demuxed m;
            demux_file(cases[i].p, cases[i].len, known ? (int64_t)cases[i].len : -1, FEED_EXACT, 0,
                       -1, &m);
            if (m.end != cases[i].end)
                fail_msg("case %zu (size %s): %d", i, known ? "known" : "unknown", m.end);
            assert_int_equal(m.n, 0);
            demuxed_free(&m);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_moov_at_end), cmocka_unit_test(test_faststart_bframes),
        cmocka_unit_test(test_fragmented),        cmocka_unit_test(test_aac_skipped),
        cmocka_unit_test(test_split_feeding),     cmocka_unit_test(test_seek),
        cmocka_unit_test(test_own_muxer),         cmocka_unit_test(test_own_muxer_duration),
        cmocka_unit_test(test_frag_duration),     cmocka_unit_test(test_damage),
        cmocka_unit_test(test_bad_boxes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
