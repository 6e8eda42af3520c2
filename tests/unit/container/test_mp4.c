/* container: the fragmented MP4 muxer (container/mp4.c) through fl_mux.
 *
 * The media is real: H.264 from libx264 through ffmpeg, made in a temporary
 * directory when the group starts (the commands are in make_h264), split
 * into access units and turned into AVC form, and Opus from codec/'s
 * fl_clip_opus (one packet a frame, 20 ms). The files written are read
 * back twice: by a small box walker here (every unit whole boxes, fragment
 * sequence, the exact time of every sample, tfra entries on sync samples),
 * and by ffprobe/ffmpeg (codecs, duration, frame count, decoding with no
 * error, a copy cut after each fragment, A/V timing). The tests that need
 * ffmpeg are skipped when it is missing. */
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
#include "base/wire.h"
#include "codec/codec.h"
#include "container/container.h"
#include "tests/unit/container/media_fixtures.h"

#include <cmocka.h>

#define VIDEO_TS 90000
#define AUDIO_TS 48000

/* ---- the sink: the file in memory, and where each appended unit ends ---- */

#define MAX_UNITS 8192

struct sink {
    uint8_t *p;
    size_t len, cap;
    size_t ends[MAX_UNITS];
    size_t nunits;
    int appends;
    int patches;
    int fail_at;  /* the n-th append and every later one fail (1-based); 0: never */
    int bad_unit; /* an append that was not whole boxes, or a patch out of range */
};

static int sink_write(void *arg, int64_t offset, const uint8_t *data, size_t len)
{
    struct sink *s = arg;
    if (offset == FL_MUX_APPEND) {
        s->appends++;
        if (s->fail_at && s->appends >= s->fail_at)
            return FL_EIO;
        if (!mf_boxes_whole(data, len))
            s->bad_unit = 1;
        int r = mf_file_append(&s->p, &s->len, &s->cap, data, len);
        if (r == 0 && s->nunits < MAX_UNITS)
            s->ends[s->nunits++] = s->len;
        return r;
    }
    int r = mf_file_patch(s->p, s->len, offset, data, len);
    if (r != 0)
        s->bad_unit = 1;
    else
        s->patches++;
    return r;
}

static struct sink *sink_new(void)
{
    struct sink *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    return s;
}

static void sink_free(struct sink *s)
{
    if (s)
        free(s->p);
    free(s);
}

/* ---- the media: H.264 access units in AVC form, Opus packets ---- */

struct au {
    uint8_t *avc; /* the NAL units of the frame after their 4-byte lengths */
    size_t len;
    int key;
    const uint8_t *sps, *pps; /* in force (into the stream's bytes) */
    size_t sps_len, pps_len;
    uint16_t width, height;
};

struct h264 {
    uint8_t *bytes;
    struct au *aus;
    size_t n;
};

static struct h264 *high_stream;  /* libx264 High, 640x480, 30 fps, 5 s, GOP 30 */
static struct h264 *big_stream;   /* libx264 baseline, 640x480, 30 fps, 2 s */
static struct h264 *small_stream; /* libx264 baseline, 320x240, 30 fps, 2 s */
static fl_clip *opus_clip;        /* 5 s */
static char tmp_dir[64];

static int have_ffmpeg(void)
{
    return mf_have_tool("ffmpeg") && mf_have_tool("ffprobe");
}

/* Everything a command prints on stdout (and stderr when it says 2>&1),
 * NUL-terminated; *status: its exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = 0;
    int st = pclose(f);
    if (status)
        *status = st;
    return out;
}

struct nal {
    const uint8_t *p;
    size_t len;
};

/* Annex B: the NAL units between start codes (trailing zero bytes dropped). */
static size_t split_annexb(const uint8_t *p, size_t len, struct nal *out, size_t cap)
{
    size_t n = 0, start = 0;
    int open = 0;
    for (size_t i = 0; i + 3 <= len; i++) {
        if (p[i] != 0 || p[i + 1] != 0 || p[i + 2] != 1)
            continue;
        if (open && n < cap) {
            size_t end = i;
            while (end > start && p[end - 1] == 0)
                end--;
            out[n++] = (struct nal){ p + start, end - start };
        }
        start = i + 3;
        open = 1;
        i += 2;
    }
    if (open && n < cap)
        out[n++] = (struct nal){ p + start, len - start };
    return n;
}

static void au_append(struct au *a, const struct nal *nal)
{
    a->avc = realloc(a->avc, a->len + 4 + nal->len);
    assert_non_null(a->avc);
    fl_put_be32(a->avc + a->len, (uint32_t)nal->len);
    memcpy(a->avc + a->len + 4, nal->p, nal->len);
    a->len += 4 + nal->len;
}

/* Access units: a new one at an AUD, SEI, SPS or PPS after a slice, or at a
 * slice with first_mb_in_slice 0 after a slice. SPS and PPS are kept as the
 * ones in force (container.h: given beside the frame, not in it). */
static struct h264 *h264_split(uint8_t *bytes, size_t len, uint16_t width, uint16_t height)
{
    size_t cap = len / 4 + 16;
    struct nal *nals = calloc(cap, sizeof(*nals));
    struct h264 *h = calloc(1, sizeof(*h));
    assert_true(nals && h);
    size_t nn = split_annexb(bytes, len, nals, cap);
    h->bytes = bytes;
    h->aus = calloc(nn + 1, sizeof(*h->aus));
    assert_non_null(h->aus);
    const struct nal *sps = NULL, *pps = NULL;
    struct au cur = { 0 };
    int cur_vcl = 0;
    for (size_t i = 0; i < nn; i++) {
        const struct nal *nal = &nals[i];
        int type = nal->p[0] & 0x1f;
        int vcl = type == 1 || type == 5;
        int starts = (type >= 6 && type <= 9) || (vcl && nal->len > 1 && (nal->p[1] & 0x80));
        if (cur_vcl && starts) {
            h->aus[h->n++] = cur;
            memset(&cur, 0, sizeof(cur));
            cur_vcl = 0;
        }
        if (type == 7)
            sps = nal;
        else if (type == 8)
            pps = nal;
        else if (type != 9)
            au_append(&cur, nal);
        if (vcl && !cur_vcl) {
            cur_vcl = 1;
            cur.key = type == 5;
            cur.sps = sps ? sps->p : NULL;
            cur.sps_len = sps ? sps->len : 0;
            cur.pps = pps ? pps->p : NULL;
            cur.pps_len = pps ? pps->len : 0;
            cur.width = width;
            cur.height = height;
        }
    }
    if (cur_vcl)
        h->aus[h->n++] = cur;
    else
        free(cur.avc);
    free(nals);
    return h;
}

static void h264_free(struct h264 *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->aus[i].avc);
    free(h->aus);
    free(h->bytes);
    free(h);
}

/* Encodes testsrc2 with libx264 (no B-frames: WebRTC sends none) into
 * tmp_dir/name and splits it. NULL when ffmpeg is missing or fails. */
static struct h264 *make_h264(const char *name,
                              const char *opts,
                              int width,
                              int height,
                              int seconds)
{
    char path[128], cmd[512];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -v error -y -f lavfi -i testsrc2=size=%dx%d:rate=30 -t %d -c:v libx264 "
             "-bf 0 %s -bsf:v h264_mp4toannexb -f h264 %s",
             width, height, seconds, opts, path);
    if (system(cmd) != 0)
        return NULL;
    size_t len;
    uint8_t *bytes = mf_read_file(path, &len);
    if (!bytes)
        return NULL;
    return h264_split(bytes, len, (uint16_t)width, (uint16_t)height);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fluo_mp4_XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    if (fl_clip_opus(&opus_clip, 32, 5) != 0)
        return -1;
    if (have_ffmpeg()) {
        high_stream = make_h264("high.h264", "-g 30", 640, 480, 5);
        big_stream = make_h264("big.h264", "-profile:v baseline -g 30", 640, 480, 2);
        small_stream = make_h264("small.h264", "-profile:v baseline -g 30", 320, 240, 2);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    h264_free(high_stream);
    h264_free(big_stream);
    h264_free(small_stream);
    fl_clip_destroy(opus_clip);
    char cmd[128];
    if (getenv("FLUO_KEEP_TMP"))
        return 0; /* to look at the files */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- feeding a muxer ---- */

/* Frame i of 30 fps video, in microseconds (rounded, no drift). */
static int64_t video_pts(size_t i)
{
    return ((int64_t)i * 1000000 + 15) / 30;
}

static int64_t audio_pts(size_t j)
{
    return (int64_t)j * 20000;
}

/* The time a muxer must give a pts in a timescale: rounded half up. */
static int64_t ticks_of(int64_t us, int64_t timescale)
{
    return (us * timescale * 2 + 1000000) / 2000000;
}

static fl_mux_frame video_frame(unsigned track, const struct au *a, int64_t pts)
{
    fl_mux_frame f = {
        .track = track, .pts_us = pts, .key = a->key, .data = a->avc, .len = a->len
    };
    if (a->key) {
        f.width = a->width;
        f.height = a->height;
        f.sps = a->sps;
        f.sps_len = a->sps_len;
        f.pps = a->pps;
        f.pps_len = a->pps_len;
    }
    return f;
}

static fl_mux_frame audio_frame(unsigned track, size_t j, int64_t pts)
{
    const fl_clip_packet *p = &opus_clip->pkts[j % opus_clip->n];
    return (fl_mux_frame){
        .track = track, .pts_us = pts, .key = 1, .data = p->payload, .len = p->len
    };
}

struct feed {
    const struct au *video;
    size_t nvideo;
    int64_t video_start;
    size_t naudio;
    int64_t audio_start;
    unsigned video_track, audio_track;
};

/* Gives every frame in pts order (video first at equal times). */
static void feed_all(fl_mux *m, const struct feed *fd)
{
    size_t i = 0, j = 0;
    while (i < fd->nvideo || j < fd->naudio) {
        int64_t vp = i < fd->nvideo ? fd->video_start + video_pts(i) : INT64_MAX;
        int64_t ap = j < fd->naudio ? fd->audio_start + audio_pts(j) : INT64_MAX;
        fl_mux_frame f;
        if (vp <= ap) {
            f = video_frame(fd->video_track, &fd->video[i], vp);
            i++;
        } else {
            f = audio_frame(fd->audio_track, j, ap);
            j++;
        }
        assert_int_equal(fl_mux_write(m, &f), 0);
    }
}

static fl_mux *mux_new(struct sink *s, const fl_mux_track *tracks, size_t n, int64_t fragment_us)
{
    fl_mux_config cfg = { .format = FL_MUX_MP4,
                          .tracks = tracks,
                          .ntracks = n,
                          .out = { sink_write, s },
                          .fragment_us = fragment_us };
    fl_mux *m = NULL;
    assert_int_equal(fl_mux_create(&m, &cfg), 0);
    return m;
}

static const fl_mux_track video_track = { .codec = FL_MUX_H264 };
static const fl_mux_track audio_track = { .codec = FL_MUX_OPUS,
                                          .sample_rate = 48000,
                                          .channels = 2 };

/* ---- reading the file back (the box reader: mp4_read.h) ---- */

#include "tests/unit/container/mp4_read.h"

/* Every sample of track ti at the exact time of its pts (the i-th given at
 * first + step(i)), lasting until the next. */
static void check_times(const struct ptrack *t, int64_t first_us, int video)
{
    for (size_t i = 0; i < t->n; i++) {
        int64_t pts = first_us + (video ? video_pts(i) : audio_pts(i));
        assert_int_equal(t->dts[i], ticks_of(pts, t->timescale));
        if (i + 1 < t->n)
            assert_int_equal(t->dur[i], t->dts[i + 1] - t->dts[i]);
    }
}

/* ---- ffprobe and ffmpeg ---- */

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

/* ffmpeg decodes every stream of the file and says nothing. */
static void check_decodes(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
    int st;
    char *out = run(cmd, &st);
    if (st != 0 || out[0])
        fail_msg("ffmpeg on %s: status %d: %s", path, st, out);
    free(out);
}

struct probe_stream {
    char codec[16];
    long packets;
};

/* ffprobe's streams (codec, packets counted) and the format's duration. */
static size_t probe(const char *path, struct probe_stream *s, size_t cap, double *duration)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_packets -show_entries stream=codec_name,nb_read_packets "
             "-of csv=p=0 %s 2>&1",
             path);
    char *out = run(cmd, NULL);
    size_t n = 0;
    for (char *line = strtok(out, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        if (sscanf(line, "%15[^,],%ld", s[n].codec, &s[n].packets) == 2)
            n++;
    }
    free(out);
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_entries format=duration -of csv=p=0 %s 2>&1",
             path);
    out = run(cmd, NULL);
    *duration = strtod(out, NULL);
    free(out);
    return n;
}

struct packet {
    int stream;
    double pts, duration;
};

/* Every packet ffprobe reads: stream, pts and duration in seconds. */
static struct packet *probe_packets(const char *path, size_t *n)
{
    char cmd[512];
    snprintf(
            cmd, sizeof(cmd),
            "ffprobe -v error -show_entries packet=stream_index,pts_time,duration_time -of csv=p=0 %s",
            path);
    char *out = run(cmd, NULL);
    size_t cap = 1024, k = 0;
    struct packet *pk = malloc(cap * sizeof(*pk));
    assert_non_null(pk);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        struct packet x = { 0 };
        if (sscanf(line, "%d,%lf,%lf", &x.stream, &x.pts, &x.duration) < 2)
            continue;
        if (k == cap) {
            cap *= 2;
            pk = realloc(pk, cap * sizeof(*pk));
            assert_non_null(pk);
        }
        pk[k++] = x;
    }
    free(out);
    *n = k;
    return pk;
}

/* The time the packets of a file cover: the latest end of one. ffmpeg
 * gives fragmented Opus packets no duration: such a packet lasts as long
 * as the step from the one before it in its stream. */
static double covered(const char *path)
{
    size_t n;
    struct packet *pk = probe_packets(path, &n);
    double end = 0, last_pts[8] = { 0 }, step[8] = { 0 };
    for (size_t i = 0; i < n; i++) {
        int st = pk[i].stream & 7;
        if (pk[i].pts > last_pts[st])
            step[st] = pk[i].pts - last_pts[st];
        last_pts[st] = pk[i].pts;
        double d = pk[i].duration > 0 ? pk[i].duration : step[st];
        if (pk[i].pts + d > end)
            end = pk[i].pts + d;
    }
    free(pk);
    return end;
}

/* A copy of the file as it was before finish, cut after each fragment:
 * ffmpeg decodes it without a word, and its packets cover every fragment
 * before the cut. */
static void check_cuts(const struct sink *snap, const struct pfile *pf)
{
    char path[128];
    path_in_tmp(path, sizeof(path), "cut.mp4");
    assert_true(snap->nunits >= 3);
    for (size_t k = 1; k < snap->nunits; k++) {
        assert_int_equal(mf_write_file(path, snap->p, snap->ends[k]), 0);
        check_decodes(path);
        double want = pf->frags[k - 1].end_s;
        double got = covered(path);
        if (got < want - 0.002 || got > want + 0.002)
            fail_msg("cut after fragment %zu: covers %.3f s, fragments %.3f s", k, got, want);
    }
}

/* A snapshot of the sink (the file before finish). */
static struct sink *sink_copy(const struct sink *s)
{
    struct sink *c = sink_new();
    *c = *s;
    c->p = malloc(s->len ? s->len : 1);
    assert_non_null(c->p);
    memcpy(c->p, s->p, s->len);
    c->cap = s->len;
    return c;
}

/* ---- synthetic H.264 for the tests that need no decoder ---- */

static const uint8_t sps_base[] = { 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84 };
static const uint8_t pps_base[] = { 0x68, 0xce, 0x3c, 0x80 };
static const uint8_t idr_avc[] = { 0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x33 };
static const uint8_t slice_avc[] = { 0, 0, 0, 4, 0x41, 0x9a, 0x22, 0x11 };

static fl_mux_frame synth_video(unsigned track, int64_t pts, int key)
{
    fl_mux_frame f = { .track = track, .pts_us = pts, .key = key };
    f.data = key ? idr_avc : slice_avc;
    f.len = key ? sizeof(idr_avc) : sizeof(slice_avc);
    if (key) {
        f.width = 640;
        f.height = 480;
        f.sps = sps_base;
        f.sps_len = sizeof(sps_base);
        f.pps = pps_base;
        f.pps_len = sizeof(pps_base);
    }
    return f;
}

/* ---- the tests ---- */

static void test_create_refused(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    fl_mux *m = NULL;
    fl_mux_track pcmu = { .codec = FL_MUX_PCMU, .sample_rate = 8000, .channels = 1 };
    fl_mux_track vp8 = { .codec = FL_MUX_VP8 };
    fl_mux_track opus3 = { .codec = FL_MUX_OPUS, .sample_rate = 48000, .channels = 3 };
    fl_mux_track opus0 = { .codec = FL_MUX_OPUS, .sample_rate = 48000, .channels = 0 };
    fl_mux_track five[5] = { video_track, audio_track, audio_track, audio_track, audio_track };
    fl_mux_config cfg = {
        .format = FL_MUX_MP4, .tracks = &pcmu, .ntracks = 1, .out = { sink_write, s }
    };
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL); /* G.711 in MP4 */
    cfg.tracks = &vp8;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.tracks = &opus3;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.tracks = &opus0;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.tracks = five;
    cfg.ntracks = 0;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.ntracks = 5;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.ntracks = 2;
    cfg.out.write = NULL;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.out.write = sink_write;
    cfg.fragment_us = -1;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL);
    cfg.fragment_us = 0;
    cfg.format = FL_MUX_WEBM;
    assert_int_equal(fl_mux_create(&m, &cfg), FL_EINVAL); /* H.264 in WebM */
    assert_null(m);
    cfg.format = FL_MUX_MP4;
    assert_int_equal(fl_mux_create(&m, &cfg), 0);
    assert_int_equal(s->len, 0); /* nothing before the first frame */
    fl_mux_destroy(m);
    sink_free(s);
}

static void test_write_rules(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    const fl_mux_track tracks[2] = { video_track, audio_track };
    fl_mux *m = mux_new(s, tracks, 2, 0);

    fl_mux_frame f = synth_video(2, 0, 1); /* no track 2 */
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);
    f = synth_video(0, -1, 1);
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);
    f = synth_video(0, 0, 0); /* before the first key frame: dropped */
    assert_int_equal(fl_mux_write(m, &f), 0);
    f = audio_frame(1, 0, 0); /* held: the header waits for the video */
    assert_int_equal(fl_mux_write(m, &f), 0);
    f = synth_video(0, 40000, 1);
    f.sps = NULL; /* a key frame without its SPS: dropped */
    f.sps_len = 0;
    assert_int_equal(fl_mux_write(m, &f), 0);
    f = synth_video(0, 50000, 1);
    f.width = 0; /* nor without its size */
    assert_int_equal(fl_mux_write(m, &f), 0);
    uint8_t broken[sizeof(idr_avc)];
    memcpy(broken, idr_avc, sizeof(broken));
    broken[3] = 6; /* a NAL length past the end */
    f = synth_video(0, 60000, 1);
    f.data = broken;
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);
    f.data = idr_avc;
    f.len = 4; /* a length and no NAL unit */
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);
    assert_int_equal(s->len, 0);

    f = synth_video(0, 100000, 1); /* the header can go now */
    assert_int_equal(fl_mux_write(m, &f), 0);
    assert_int_equal(s->nunits, 1);
    assert_memory_equal(s->p + 4, "ftyp", 4);
    f = synth_video(0, 50000, 0); /* time going back */
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);
    f = synth_video(0, 133333, 0);
    assert_int_equal(fl_mux_write(m, &f), 0);
    f = audio_frame(1, 1, 20000);
    assert_int_equal(fl_mux_write(m, &f), 0);
    f = audio_frame(1, 2, ((int64_t)1 << 52) + 1); /* past 142 years */
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL);

    assert_int_equal(fl_mux_finish(m), 0);
    assert_int_equal(fl_mux_write(m, &f), FL_ESTATE);
    assert_int_equal(fl_mux_finish(m), FL_ESTATE);
    assert_false(s->bad_unit);
    assert_int_equal(s->patches, 1); /* mehd's duration */

    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    assert_int_equal(st.frames, 13);
    assert_int_equal(st.frames_dropped, 9); /* 3 refused by fl_mux, 6 by the MP4 muxer */
    assert_int_equal(st.units, 1);
    assert_int_equal(st.bytes, s->len);
    assert_int_equal(st.duration_us, 166666); /* the last video frame lasts as the one before */

    struct pfile *pf = parse_file(s->p, s->len);
    assert_int_equal(pf->ntracks, 2);
    assert_string_equal(pf->tracks[0].entry, "avc1");
    assert_int_equal(pf->tracks[0].width, 640);
    assert_int_equal(pf->tracks[0].height, 480);
    assert_int_equal(pf->tracks[0].n, 2);
    assert_int_equal(pf->tracks[0].dts[0], 9000);
    assert_int_equal(pf->tracks[0].dur[0], 3000);
    assert_int_equal(pf->tracks[0].dur[1], 3000);
    assert_true(pf->tracks[0].sync[0]);
    assert_false(pf->tracks[0].sync[1]);
    assert_int_equal(pf->tracks[1].n, 2);
    assert_int_equal(pf->tracks[1].dts[0], 0);
    assert_int_equal(pf->tracks[1].dur[1], 960);
    assert_int_equal(pf->ra_entries, 2);
    assert_int_equal(pf->mehd, 167); /* ms */
    /* avc1 is said in the brands, and Opus */
    assert_non_null(strstr(pf->brands, "iso5"));
    assert_non_null(strstr(pf->brands, "avc1"));
    assert_non_null(strstr(pf->brands, "Opus"));
    /* avcC: version, profile, compatibility, level from the SPS, 4-byte lengths, the SPS and PPS;
     * Baseline: no chroma fields */
    const uint8_t want[] = { 1,    0x42, 0xc0, 0x1e, 0xff, 0xe1, 0,    10,   0x67,
                             0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84,
                             1,    0,    4,    0x68, 0xce, 0x3c, 0x80 };
    assert_int_equal(pf->tracks[0].config_len, sizeof(want));
    assert_memory_equal(pf->tracks[0].config, want, sizeof(want));
    /* dOps: version 0, 2 channels, PreSkip 3840, 48000 Hz, gain 0, family 0 */
    const uint8_t dops[] = { 0, 2, 0x0f, 0x00, 0, 0, 0xbb, 0x80, 0, 0, 0 };
    assert_int_equal(pf->tracks[1].config_len, sizeof(dops));
    assert_memory_equal(pf->tracks[1].config, dops, sizeof(dops));
    pfile_free(pf);
    fl_mux_destroy(m);
    sink_free(s);
}

/* avcC's High-profile fields come from the SPS as codec/'s
 * fl_h264_sps_parse reads it (past its emulation-prevention bytes); an
 * SPS that does not parse whole gives an avcC without them. */
static void test_avcc_high_profile(void **state)
{
    (void)state;
    /* High 4:2:0 8 bits, 640x480; the 00 00 03 before the first ue(v) is an
     * emulation-prevention byte */
    static const uint8_t sps_high[] = { 0x67, 0x64, 0x00, 0x00, 0x03, 0xac,
                                        0xda, 0x02, 0x80, 0xf6, 0x40 };
    /* High 4:4:4 (244), 10 bits, 640x480: chroma_format_idc 3, separate planes 0,
     * depths 2 and 2 */
    static const uint8_t sps_444[] = { 0x67, 0xf4, 0x00, 0x1f, 0x90, 0xd9,
                                       0xb4, 0x05, 0x01, 0xec, 0x80 };
    /* High, cut before the chroma fields: avcC without them */
    static const uint8_t sps_short[] = { 0x67, 0x64, 0x00, 0x1f };
    /* sps_high cut after its bit depths: it does not parse, no fields either */
    static const uint8_t sps_cut[] = { 0x67, 0x64, 0x00, 0x00, 0x03, 0xac };

    const struct {
        const uint8_t *sps;
        size_t len;
        uint8_t ext[4];
        int has_ext;
    } cases[] = {
        { sps_high, sizeof(sps_high), { 0xfd, 0xf8, 0xf8, 0 }, 1 },
        { sps_444, sizeof(sps_444), { 0xff, 0xfa, 0xfa, 0 }, 1 },
        { sps_short, sizeof(sps_short), { 0 }, 0 },
        { sps_cut, sizeof(sps_cut), { 0 }, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sink *s = sink_new();
        fl_mux *m = mux_new(s, &video_track, 1, 0);
        fl_mux_frame f = synth_video(0, 0, 1);
        f.sps = cases[i].sps;
        f.sps_len = cases[i].len;
        assert_int_equal(fl_mux_write(m, &f), 0);
        assert_int_equal(fl_mux_finish(m), 0);
        struct pfile *pf = parse_file(s->p, s->len);
        const struct ptrack *t = &pf->tracks[0];
        size_t base = 6 + 2 + cases[i].len + 1 + 2 + sizeof(pps_base);
        assert_int_equal(t->config_len, base + (cases[i].has_ext ? 4 : 0));
        assert_memory_equal(t->config + 1, cases[i].sps + 1, 3);
        assert_memory_equal(t->config + 8, cases[i].sps, cases[i].len);
        if (cases[i].has_ext)
            assert_memory_equal(t->config + base, cases[i].ext, 4);
        pfile_free(pf);
        fl_mux_destroy(m);
        sink_free(s);
    }
}

/* A video track with no usable key frame after 2 s of media is left out;
 * the audio is written without it. */
static void test_header_timeout(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    const fl_mux_track tracks[2] = { video_track, audio_track };
    fl_mux *m = mux_new(s, tracks, 2, 0);
    for (size_t j = 0; j < 150; j++) {
        fl_mux_frame f = audio_frame(1, j, audio_pts(j));
        assert_int_equal(fl_mux_write(m, &f), 0);
        if (j % 2 == 0) {
            f = synth_video(0, audio_pts(j), j >= 120); /* key frames from 2.4 s: too late */
            assert_int_equal(fl_mux_write(m, &f), 0);
        }
        if (j == 99)
            assert_int_equal(s->len, 0); /* 1.98 s held */
        if (j == 100) {                  /* 2 s: the header, without the video, and the 2 s held */
            assert_int_equal(s->nunits, 2);
            struct box moov;
            assert_int_equal(box_find(s->p, s->ends[0], "moov", &moov), 0);
        }
    }
    assert_int_equal(fl_mux_finish(m), 0);
    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    assert_int_equal(st.frames, 225);
    assert_int_equal(st.frames_dropped, 75);
    struct pfile *pf = parse_file(s->p, s->len);
    assert_int_equal(pf->ntracks, 1);
    assert_string_equal(pf->tracks[0].handler, "soun");
    assert_int_equal(pf->tracks[0].n, 150);
    check_times(&pf->tracks[0], 0, 0);
    assert_null(strstr(pf->brands, "avc1"));
    pfile_free(pf);
    if (have_ffmpeg()) {
        char path[128];
        path_in_tmp(path, sizeof(path), "timeout.mp4");
        assert_int_equal(mf_write_file(path, s->p, s->len), 0);
        check_decodes(path);
    }
    fl_mux_destroy(m);
    sink_free(s);
}

/* Muxes fd, checks the file's structure and times, and (before finish) keeps a copy. */
static struct pfile *mux_checked(struct sink *s,
                                 struct sink **snap,
                                 const fl_mux_track *tracks,
                                 size_t n,
                                 const struct feed *fd)
{
    fl_mux *m = mux_new(s, tracks, n, 0);
    feed_all(m, fd);
    if (snap)
        *snap = sink_copy(s);
    assert_int_equal(fl_mux_finish(m), 0);
    assert_false(s->bad_unit);
    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    assert_int_equal(st.frames, fd->nvideo + fd->naudio);
    assert_int_equal(st.frames_dropped, 0);
    assert_int_equal(st.bytes, s->len);
    fl_mux_destroy(m);

    struct pfile *pf = parse_file(s->p, s->len);
    assert_true(pf->has_mfra);
    assert_int_equal(st.units, pf->nfrags);
    assert_int_equal(pf->ntracks, n);
    for (size_t i = 0; i < n; i++) {
        const struct ptrack *t = &pf->tracks[i];
        int video = tracks[i].codec == FL_MUX_H264;
        assert_int_equal(t->n, video ? fd->nvideo : fd->naudio);
        check_times(t, video ? fd->video_start : fd->audio_start, video);
        assert_int_equal(t->timescale, video ? VIDEO_TS : AUDIO_TS);
    }
    for (size_t k = 0; k < pf->nfrags; k++) {
        const struct pfrag *fr = &pf->frags[k];
        for (size_t j = 0; j < fr->ntraf; j++) /* fragments start on a key frame */
            assert_true(pf->tracks[fr->traf_track[j]].sync[fr->traf_first[j]]);
    }
    return pf;
}

/* The file muxed into s (snap: before finish; pf: parsed) as the tools see
 * it: ffprobe finds the streams want says (codec and packets each, in
 * order) and 5 s; ffmpeg decodes it, and each cut copy, without a word.
 * Frees pf, snap and s. */
static void check_5s_file(struct sink *s,
                          struct sink *snap,
                          struct pfile *pf,
                          const char *name,
                          const struct probe_stream *want,
                          size_t nwant)
{
    char path[128];
    path_in_tmp(path, sizeof(path), name);
    assert_int_equal(mf_write_file(path, s->p, s->len), 0);
    struct probe_stream ps[4];
    double duration;
    assert_int_equal(probe(path, ps, 4, &duration), nwant);
    for (size_t i = 0; i < nwant; i++) {
        assert_string_equal(ps[i].codec, want[i].codec);
        assert_int_equal(ps[i].packets, want[i].packets);
    }
    if (duration < 4.9 || duration > 5.1)
        fail_msg("duration %.3f s, 5 s given", duration);
    check_decodes(path);
    check_cuts(snap, pf);
    pfile_free(pf);
    sink_free(snap);
    sink_free(s);
}

static void test_h264_opus(void **state)
{
    (void)state;
    if (!high_stream)
        skip();
    assert_int_equal(high_stream->n, 150);
    struct sink *s = sink_new(), *snap = NULL;
    const fl_mux_track tracks[2] = { video_track, audio_track };
    struct feed fd = {
        .video = high_stream->aus, .nvideo = 150, .naudio = 250, .video_track = 0, .audio_track = 1
    };
    struct pfile *pf = mux_checked(s, &snap, tracks, 2, &fd);
    assert_int_equal(pf->nfrags, 5); /* a fragment a second, on the GOP's key frames */
    assert_int_equal(pf->ra_entries, 10);
    assert_int_equal(pf->mehd, 5000);
    /* x264's High profile SPS: 4:2:0, 8 bits in avcC */
    const struct ptrack *v = &pf->tracks[0];
    assert_int_equal(v->config[1], 100);
    assert_memory_equal(v->config + v->config_len - 4, "\xfd\xf8\xf8\x00", 4);
    const struct probe_stream want[] = { { "h264", 150 }, { "opus", 250 } };
    check_5s_file(s, snap, pf, "av.mp4", want, 2);
}

static void test_h264_only(void **state)
{
    (void)state;
    if (!high_stream)
        skip();
    struct sink *s = sink_new(), *snap = NULL;
    struct feed fd = { .video = high_stream->aus, .nvideo = 150 };
    struct pfile *pf = mux_checked(s, &snap, &video_track, 1, &fd);
    assert_int_equal(pf->nfrags, 5);
    const struct probe_stream want[] = { { "h264", 150 } };
    check_5s_file(s, snap, pf, "video.mp4", want, 1);
}

static void test_opus_only(void **state)
{
    (void)state;
    struct sink *s = sink_new(), *snap = NULL;
    struct feed fd = { .naudio = 250 };
    struct pfile *pf = mux_checked(s, &snap, &audio_track, 1, &fd);
    assert_int_equal(pf->nfrags, 5); /* by time: no video */
    assert_int_equal(pf->ra_entries, 5);
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(pf->frags[k].traf_n[0], 50);
    if (!have_ffmpeg()) {
        pfile_free(pf);
        sink_free(snap);
        sink_free(s);
        skip();
    }
    const struct probe_stream want[] = { { "opus", 250 } };
    check_5s_file(s, snap, pf, "audio.mp4", want, 1);
}

/* Video starting a second after the audio: frames given at the same pts
 * come out within 1 ms of each other. */
static void test_av_sync(void **state)
{
    (void)state;
    if (!high_stream)
        skip();
    struct sink *s = sink_new();
    const fl_mux_track tracks[2] = { audio_track, video_track };
    struct feed fd = { .video = high_stream->aus,
                       .nvideo = 120,
                       .video_start = 1000000,
                       .naudio = 250,
                       .video_track = 1,
                       .audio_track = 0 };
    struct pfile *pf = mux_checked(s, NULL, tracks, 2, &fd);
    pfile_free(pf);
    char path[128];
    path_in_tmp(path, sizeof(path), "sync.mp4");
    assert_int_equal(mf_write_file(path, s->p, s->len), 0);
    check_decodes(path);
    size_t n;
    struct packet *pk = probe_packets(path, &n);
    double apts[250], vpts[120];
    size_t na = 0, nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (pk[i].stream == 0 && na < 250)
            apts[na++] = pk[i].pts;
        else if (pk[i].stream == 1 && nv < 120)
            vpts[nv++] = pk[i].pts;
    }
    free(pk);
    assert_int_equal(na, 250);
    assert_int_equal(nv, 120);
    size_t pairs = 0;
    for (size_t i = 0; i < nv;
         i += 3) { /* every 100 ms: video frame i and audio frame j share a pts */
        int64_t pts = fd.video_start + video_pts(i);
        size_t j = (size_t)(pts / 20000);
        assert_int_equal(audio_pts(j), pts);
        double d = vpts[i] - apts[j];
        if (d > 0.001 || d < -0.001)
            fail_msg("video frame %zu at %.6f s, audio at %.6f s", i, vpts[i], apts[j]);
        pairs++;
    }
    assert_int_equal(pairs, 40);
    sink_free(s);
}

/* A key frame with another SPS (the sender changed resolution) carries it
 * in band: the file decodes across the change. */
static void test_resolution_change(void **state)
{
    (void)state;
    if (!big_stream || !small_stream)
        skip();
    size_t n = big_stream->n + small_stream->n;
    struct au *aus = calloc(n, sizeof(*aus));
    assert_non_null(aus);
    memcpy(aus, big_stream->aus, big_stream->n * sizeof(*aus));
    memcpy(aus + big_stream->n, small_stream->aus, small_stream->n * sizeof(*aus));
    struct sink *s = sink_new();
    struct feed fd = { .video = aus, .nvideo = n };
    struct pfile *pf = mux_checked(s, NULL, &video_track, 1, &fd);
    const struct ptrack *t = &pf->tracks[0];
    assert_int_equal(t->width, 640);
    const struct au *first_small = &small_stream->aus[0];
    size_t k = big_stream->n;
    assert_int_equal(t->size[k],
                     first_small->len + 8 + first_small->sps_len + first_small->pps_len);
    assert_int_equal(fl_get_be32(s->p + t->offset[k]), first_small->sps_len);
    assert_memory_equal(s->p + t->offset[k] + 4, first_small->sps, first_small->sps_len);
    for (size_t i = 0; i < n; i++) { /* the small key frames carry it, the others are as given */
        size_t extra = i >= k && aus[i].key ? 8 + first_small->sps_len + first_small->pps_len : 0;
        assert_int_equal(t->size[i], aus[i].len + extra);
    }
    pfile_free(pf);

    char path[128];
    path_in_tmp(path, sizeof(path), "resize.mp4");
    assert_int_equal(mf_write_file(path, s->p, s->len), 0);
    check_decodes(path);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams v -show_entries frame=width,height -of csv=p=0 %s",
             path);
    char *out = run(cmd, NULL);
    size_t big = 0, small = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int w = 0, h = 0; /* "W,H" and maybe side data after */
        if (sscanf(line, "%d,%d", &w, &h) != 2)
            continue;
        big += w == 640 && h == 480;
        small += w == 320 && h == 240;
    }
    free(out);
    assert_int_equal(big, big_stream->n);
    assert_int_equal(small, small_stream->n);
    free(aus);
    sink_free(s);
}

/* A fragment is closed at 30 s with no key frame, and before it would pass
 * 32 MiB or 16384 samples. */
static void test_fragment_limits(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    fl_mux *m = mux_new(s, &video_track, 1, 0);
    for (size_t i = 0; i < 1050; i++) { /* one key frame, then 35 s */
        fl_mux_frame f = synth_video(0, video_pts(i), i == 0);
        assert_int_equal(fl_mux_write(m, &f), 0);
    }
    assert_int_equal(fl_mux_finish(m), 0);
    struct pfile *pf = parse_file(s->p, s->len);
    assert_int_equal(pf->nfrags, 2);
    assert_int_equal(pf->frags[0].traf_n[0], 900);
    assert_int_equal(pf->frags[1].traf_n[0], 150);
    assert_false(pf->tracks[0].sync[900]);
    assert_int_equal(pf->ra_entries, 1); /* the second fragment has no key frame */
    check_times(&pf->tracks[0], 0, 1);
    pfile_free(pf);
    fl_mux_destroy(m);
    sink_free(s);

    /* 4 MiB audio frames: 8 to a fragment */
    s = sink_new();
    m = mux_new(s, &audio_track, 1, 0);
    size_t big = (size_t)4 << 20;
    uint8_t *data = calloc(1, big);
    assert_non_null(data);
    for (size_t j = 0; j < 10; j++) {
        fl_mux_frame f = { .track = 0, .pts_us = audio_pts(j), .key = 1, .data = data, .len = big };
        assert_int_equal(fl_mux_write(m, &f), 0);
    }
    fl_mux_frame f = {
        .track = 0, .pts_us = audio_pts(10), .key = 1, .data = data, .len = ((size_t)32 << 20) + 1
    };
    assert_int_equal(fl_mux_write(m, &f), FL_EINVAL); /* a frame past the limit on its own */
    assert_int_equal(fl_mux_finish(m), 0);
    free(data);
    pf = parse_file(s->p, s->len);
    assert_int_equal(pf->nfrags, 2);
    assert_int_equal(pf->frags[0].traf_n[0], 8);
    assert_true(pf->frags[0].unit_len <= ((size_t)32 << 20) + 4096);
    pfile_free(pf);
    fl_mux_destroy(m);
    sink_free(s);

    /* 20000 one-byte frames at one time: a fragment holds 16384 */
    s = sink_new();
    m = mux_new(s, &audio_track, 1, 0);
    static const uint8_t toc = 0xf8;
    for (size_t j = 0; j < 20000; j++) {
        fl_mux_frame g = { .track = 0, .pts_us = 0, .key = 1, .data = &toc, .len = 1 };
        assert_int_equal(fl_mux_write(m, &g), 0);
    }
    assert_int_equal(fl_mux_finish(m), 0);
    pf = parse_file(s->p, s->len);
    assert_int_equal(pf->nfrags, 2);
    assert_int_equal(pf->frags[0].traf_n[0], 16384);
    assert_int_equal(pf->frags[1].traf_n[0], 20000 - 16384);
    pfile_free(pf);
    fl_mux_destroy(m);
    sink_free(s);
}

/* At finish the last sample lasts as long as the one before it; alone, one
 * frame (20 ms Opus, 1/30 s video). */
static void test_last_duration(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    const fl_mux_track tracks[2] = { video_track, audio_track };
    fl_mux *m = mux_new(s, tracks, 2, 0);
    for (size_t j = 0; j < 5; j++) { /* 40 ms Opus packets */
        fl_mux_frame f = audio_frame(1, j, (int64_t)j * 40000);
        assert_int_equal(fl_mux_write(m, &f), 0);
    }
    fl_mux_frame f = synth_video(0, 0, 1); /* one video frame */
    assert_int_equal(fl_mux_write(m, &f), 0);
    assert_int_equal(fl_mux_finish(m), 0);
    struct pfile *pf = parse_file(s->p, s->len);
    assert_int_equal(pf->tracks[0].n, 1);
    assert_int_equal(pf->tracks[0].dur[0], 3000);
    assert_int_equal(pf->tracks[1].n, 5);
    for (size_t j = 0; j < 5; j++)
        assert_int_equal(pf->tracks[1].dur[j], 1920);
    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    assert_int_equal(st.duration_us, 200000);
    pfile_free(pf);
    fl_mux_destroy(m);
    sink_free(s);
}

/* A failed write stops the muxer: the error comes back from every later
 * call and nothing more is written. */
static void test_write_error(void **state)
{
    (void)state;
    struct sink *s = sink_new();
    s->fail_at = 2; /* the header goes, the first fragment fails */
    fl_mux *m = mux_new(s, &audio_track, 1, 0);
    int r = 0;
    size_t j = 0;
    for (; j < 100 && r == 0; j++) {
        fl_mux_frame f = audio_frame(0, j, audio_pts(j));
        r = fl_mux_write(m, &f);
    }
    assert_int_equal(r, FL_EIO);
    assert_int_equal(j, 51); /* the frame at 1 s closed the fragment */
    fl_mux_frame f = audio_frame(0, j, audio_pts(j));
    assert_int_equal(fl_mux_write(m, &f), FL_EIO);
    assert_int_equal(fl_mux_finish(m), FL_EIO);
    assert_int_equal(s->appends, 2);
    assert_int_equal(s->nunits, 1);
    assert_int_equal(s->patches, 0);
    fl_mux_destroy(m);
    sink_free(s);
}

/* The cost, said (not judged by time): bytes of container per frame and
 * time per frame for H.264 + Opus with 1 s fragments. */
static void test_overhead(void **state)
{
    (void)state;
    if (!high_stream)
        skip();
    const fl_mux_track tracks[2] = { video_track, audio_track };
    struct feed fd = {
        .video = high_stream->aus, .nvideo = 150, .naudio = 250, .video_track = 0, .audio_track = 1
    };
    uint64_t media = 0;
    for (size_t i = 0; i < fd.nvideo; i++)
        media += high_stream->aus[i].len;
    for (size_t j = 0; j < fd.naudio; j++)
        media += opus_clip->pkts[j % opus_clip->n].len;
    struct sink *s = sink_new();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fl_mux *m = mux_new(s, tracks, 2, 0);
    feed_all(m, &fd);
    assert_int_equal(fl_mux_finish(m), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fl_mux_destroy(m);
    size_t frames = fd.nvideo + fd.naudio;
    double per_frame = (double)(s->len - media) / (double)frames;
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                (double)frames;
    print_message(
            "mp4: %zu frames, %llu media bytes, %zu file bytes: %.2f bytes of container per frame, "
            "%.0f ns per frame\n",
            frames, (unsigned long long)media, s->len, per_frame, ns);
    assert_true(per_frame < 16);
    sink_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_refused),    cmocka_unit_test(test_write_rules),
        cmocka_unit_test(test_avcc_high_profile), cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_h264_opus),         cmocka_unit_test(test_h264_only),
        cmocka_unit_test(test_opus_only),         cmocka_unit_test(test_av_sync),
        cmocka_unit_test(test_resolution_change), cmocka_unit_test(test_fragment_limits),
        cmocka_unit_test(test_last_duration),     cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_overhead),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
