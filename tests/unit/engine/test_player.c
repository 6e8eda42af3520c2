/* PlayerEndpoint on a simulated worker (engine/sim.h): files that ffmpeg
 * makes (VP8+Opus WebM, H.264+Opus MP4) played into an AppSink on a
 * virtual clock, so pacing is measured exactly: every frame leaves at its
 * time from the container (not in bursts), the RTP timestamps follow the
 * file, sequence numbers have no gap, the frames depacketize whole (the
 * project's depacketizers), EndOfStream comes at the file's duration, the
 * Sender Report mapping agrees with what was sent; pause and setPosition
 * keep the stream continuous (no sequence jump, timestamps forward); a
 * missing and a corrupt file each raise an Error event that names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/engine/play_world.h"

#define FPS     30
#define SECONDS 3

/* The PlayerEndpoint is the world's src. */
typedef play_world world;

/* A 3 s file of testsrc2 (320x240, 30 fps, a key frame each second) and a
 * 440 Hz tone, made by ffmpeg in the world's folder. */
static void make_file(world *w, const char *name, const char *codecs, char *uri, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=%d:duration=%d "
             "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=%d %s -g %d -shortest "
             "'%s/%s'",
             FPS, SECONDS, SECONDS, codecs, FPS, w->dir, name);
    assert_int_equal(system(cmd), 0);
    snprintf(uri, cap, "file://%s/%s", w->dir, name);
}

static world *world_new(void)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    pw_init(w, "player", 7, FL_ELEMENT_PLAYER, "player");
    return w;
}

static void world_free(world *w)
{
    pw_deinit(w);
    free(w);
}

static void set_uri(world *w, const char *uri)
{
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(w->src, "uri", uri, sw_on_done, &w->s)),
                     0);
}

static void play_whole(const char *name, const char *codecs, fl_codec_kind kind)
{
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, name, codecs, uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    fl_time t0 = fl__sim_now(w->s.sim);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->eos, 1);
    assert_int_equal(w->states[FL_URI_START], 1);
    /* EndOfStream at the file's end: its last frame's time plus little */
    fl_time eos = w->eos_at - t0;
    assert_true(eos >= (SECONDS - 0.1) * FL_TIME_SEC && eos <= (SECONDS + 0.1) * FL_TIME_SEC);
    pw_check_continuous(w, 1);

    static fl_time at[200];
    static uint32_t ts[200];
    static int key[200];
    size_t n = pw_video_frames(w, kind, 0, at, ts, key, 200);
    assert_int_equal(n, SECONDS * FPS);
    assert_true(key[0]);
    fl_time first = at[0];
    for (size_t i = 0; i < n; i++) {
        /* frame i leaves at i / 30 s after the first, to the millisecond */
        fl_time want = first + (fl_time)i * FL_TIME_SEC / FPS;
        assert_true(at[i] >= want - FL_TIME_MS && at[i] <= want + 11 * FL_TIME_MS);
        /* WebM keeps milliseconds: within 90 ticks of the frame's time */
        int32_t dts = (int32_t)(ts[i] - ts[0]) - (int32_t)(i * 3000);
        assert_true(dts >= -90 && dts <= 90);
        assert_int_equal(key[i], i % FPS == 0);
    }
    /* audio: 20 ms Opus packets, 48 kHz timestamps, paced */
    size_t na = 0;
    uint32_t ats0 = 0;
    fl_time aat0 = 0;
    for (size_t i = 0; i < w->npkts; i++) {
        const pkt *p = &w->pkts[i];
        if (p->media != FL_MEDIA_AUDIO)
            continue;
        if (na == 0) {
            ats0 = p->ts;
            aat0 = p->at;
        }
        fl_time want = aat0 + (fl_time)(p->ts - ats0) * FL_TIME_SEC / 48000;
        assert_true(p->at >= want - FL_TIME_MS && p->at <= want + 11 * FL_TIME_MS);
        na++;
    }
    assert_true(na >= SECONDS * 50 - 2 && na <= SECONDS * 50 + 2);
    /* audio and video on one timeline: the first of each left together */
    assert_true(llabs(aat0 - first) <= 25 * FL_TIME_MS);
    world_free(w);
}

static void test_webm_vp8_opus(void **state)
{
    (void)state;
    play_whole("a.webm", "-c:v libvpx -b:v 500k -c:a libopus", FL_CODEC_VP8);
}

static void test_mp4_h264_opus(void **state)
{
    (void)state;
    play_whole("a.mp4", "-c:v libx264 -profile:v baseline -bf 0 -pix_fmt yuv420p -c:a libopus",
               FL_CODEC_H264);
}

/* Pause, then setPosition: sequence numbers go on without a gap, RTP
 * timestamps only forward (the pause's length, then one step past the
 * last frame), the frame after the seek is a key frame from the position
 * asked, and the Sender Report mapping agrees with what was sent. */
static void test_pause_seek_continuous(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "s.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 500 * FL_TIME_MS);
    assert_int_equal(sw_invoke(&w->s, w->src, "getVideoInfo", NULL, 0), 0);
    int seekable;
    long long init, end, dur;
    assert_int_equal(sscanf(w->s.text, "%d %lld %lld %lld", &seekable, &init, &end, &dur), 4);
    assert_int_equal(seekable, 1);
    assert_true(dur >= SECONDS * 1000 - 50 && dur <= SECONDS * 1000 + 50);

    /* the Sender Report the pipeline would send now */
    fl_time now = fl__sim_now(w->s.sim);
    const pkt *lastv = NULL;
    for (size_t i = 0; i < w->npkts; i++)
        if (w->pkts[i].media == FL_MEDIA_VIDEO)
            lastv = &w->pkts[i];
    assert_non_null(lastv);
    uint32_t sr_ts;
    fl_time sr_at;
    fl__pad *vsink = NULL;
    fl_list_foreach (it, &w->sink->pads) {
        fl__pad *pad = fl_container_of(it, fl__pad, node);
        if (pad->dir == FL_DIR_SINK && pad->media == FL_MEDIA_VIDEO)
            vsink = pad;
    }
    assert_non_null(vsink);
    assert_int_equal(fl__pad_sender_report(vsink, lastv->ssrc, &sr_ts, &sr_at), 0);
    /* the last frame left at lastv->at with lastv->ts: the report's
     * timestamp at its time is that advanced by the time since */
    int64_t want = (int64_t)lastv->ts + (sr_at - lastv->at) * 90000 / FL_TIME_SEC;
    assert_true(llabs((int64_t)sr_ts - want) <= 3000);
    (void)now;

    assert_int_equal(sw_invoke(&w->s, w->src, "pause", NULL, 0), 0);
    size_t paused_at = w->npkts;
    pw_advance(w, 1 * FL_TIME_SEC);
    assert_int_equal(w->npkts, paused_at); /* nothing while paused */
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 300 * FL_TIME_MS);
    fl_time seek_t = fl__sim_now(w->s.sim);
    assert_int_equal(sw_invoke(&w->s, w->src, "setPosition", (const char *[]){ "2100" }, 1), 0);
    pw_advance(w, 2 * FL_TIME_SEC);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->eos, 1);
    pw_check_continuous(w, 1);

    static fl_time at[400];
    static uint32_t ts[400];
    static int key[400];
    size_t n = pw_video_frames(w, FL_CODEC_VP8, 0, at, ts, key, 400);
    /* 0.5 s + 0.3 s before the seek (24 frames), then 1 s from 2.007 s */
    assert_true(n >= 50 && n <= 60);
    for (size_t i = 1; i < n; i++)
        assert_true((int32_t)(ts[i] - ts[i - 1]) > 0);
    /* after the seek: a key frame first, the last at or before 2.1 s (the
     * file's video starts 7 ms in: 2.007 s, frame 60 of 90), and its
     * timestamp one step past the frame before */
    size_t k = 0;
    while (k < n && at[k] < seek_t)
        k++;
    if (k < n && !key[k] && at[k] == seek_t)
        k++; /* due at the same instant, sent before the call ran */
    assert_true(k > 0 && k < n);
    assert_true(key[k]);
    uint32_t step = ts[k] - ts[k - 1];
    assert_true(step >= 3000 && step <= 4000);
    assert_int_equal(n - k, SECONDS * FPS - 2 * FPS);
    /* the pause (1 s) moved the timestamps on by its length: frame 15 is
     * the first after it */
    uint32_t gap = ts[15] - ts[14];
    assert_true(gap >= 90000 + 2900 && gap <= 90000 + 3100);
    assert_true(at[15] - at[14] >= FL_TIME_SEC && at[15] - at[14] <= FL_TIME_SEC + 40 * FL_TIME_MS);
    world_free(w);
}

static void test_missing_and_corrupt(void **state)
{
    (void)state;
    world *w = world_new();
    char uri[256];
    snprintf(uri, sizeof(uri), "file://%s/none.webm", w->dir);
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 100 * FL_TIME_MS);
    assert_int_equal(w->errors, 1);
    assert_string_equal(w->error_type, "URI_NOT_FOUND");
    assert_non_null(strstr(w->error_desc, "none.webm"));
    assert_int_equal(w->npkts, 0);
    assert_int_equal(w->eos, 0);

    /* an EBML header and then garbage; a new player on the same sink */
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.webm", w->dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const uint8_t ebml[] = { 0x1a, 0x45, 0xdf, 0xa3, 0x9f };
    fwrite(ebml, 1, sizeof(ebml), f);
    for (int i = 0; i < 4000; i++)
        fputc(0xff, f);
    fclose(f);
    fl_element *p2 = sw_make(&w->s, FL_ELEMENT_PLAYER, "p2");
    assert_int_equal(fl_element_set_event_cb(p2, pw_on_event, w), 0);
    snprintf(uri, sizeof(uri), "file://%s", path);
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(p2, "uri", uri, sw_on_done, &w->s)), 0);
    assert_int_equal(sw_invoke(&w->s, p2, "play", NULL, 0), 0);
    pw_advance(w, 100 * FL_TIME_MS);
    assert_int_equal(w->errors, 2);
    assert_string_equal(w->error_type, "MEDIA_CORRUPT");
    assert_non_null(strstr(w->error_desc, "bad.webm"));
    world_free(w);
}

/* Files cut short (every 1/7 of their length, both formats): each plays
 * what it holds and then ends (EndOfStream) or says it is corrupt (Error),
 * never a crash (the unit tests run under ASan too); played again after
 * its end, a whole file starts over and the stream goes on. */
static void test_truncated_and_replay(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "t.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    make_file(w, "t.mp4", "-c:v libx264 -profile:v baseline -bf 0 -c:a libopus", uri, sizeof(uri));
    static const char *const names[] = { "t.webm", "t.mp4" };
    for (int f = 0; f < 2; f++) {
        char path[160], cut[160];
        snprintf(path, sizeof(path), "%s/%s", w->dir, names[f]);
        FILE *in = fopen(path, "rb");
        assert_non_null(in);
        static uint8_t data[4 << 20];
        size_t len = fread(data, 1, sizeof(data), in);
        fclose(in);
        for (int k = 1; k < 7; k++) {
            snprintf(cut, sizeof(cut), "%s/cut%d-%s", w->dir, k, names[f]);
            FILE *out = fopen(cut, "wb");
            assert_non_null(out);
            fwrite(data, 1, len * (size_t)k / 7, out);
            fclose(out);
            char name[32];
            snprintf(name, sizeof(name), "cut%d", k);
            fl_element *p = sw_make(&w->s, FL_ELEMENT_PLAYER, name);
            assert_int_equal(fl_element_set_event_cb(p, pw_on_event, w), 0);
            snprintf(uri, sizeof(uri), "file://%s", cut);
            assert_int_equal(
                    sw_wait(&w->s, fl_element_set_property(p, "uri", uri, sw_on_done, &w->s)), 0);
            int before = w->eos + w->errors;
            assert_int_equal(sw_invoke(&w->s, p, "play", NULL, 0), 0);
            pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
            assert_int_equal(w->eos + w->errors, before + 1);
            assert_int_equal(sw_wait(&w->s, fl_element_release(p, sw_on_done, &w->s)), 0);
        }
    }
    /* a whole file to its end, then play() again: from the start, the
     * sequence numbers going on */
    w->eos = 0;
    snprintf(uri, sizeof(uri), "file://%s/t.webm", w->dir);
    set_uri(w, uri);
    size_t n0 = w->npkts;
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    assert_int_equal(w->eos, 1);
    size_t once = w->npkts - n0;
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    assert_int_equal(w->eos, 2);
    assert_true(w->npkts - n0 >= 2 * once - 4);
    /* the cut players were on no sink: only the whole file's packets */
    memmove(w->pkts, w->pkts + n0, (w->npkts - n0) * sizeof(pkt));
    w->npkts -= n0;
    pw_check_continuous(w, 1);
    world_free(w);
}

/* A player into a RecorderEndpoint with stopOnEndOfStream: the file's end
 * stops the recording (Stopped), and the recording holds the whole file
 * (ffprobe's duration). */
static void test_recorder_stops_on_end_of_stream(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256], rec_uri[256];
    make_file(w, "e.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    set_uri(w, uri);
    fl_element *rec = sw_make(&w->s, FL_ELEMENT_RECORDER, "rec");
    assert_int_equal(fl_element_set_event_cb(rec, pw_on_event, w), 0);
    snprintf(rec_uri, sizeof(rec_uri), "file://%s/rec.webm", w->dir);
    assert_int_equal(
            sw_wait(&w->s, fl_element_set_property(rec, "uri", rec_uri, sw_on_done, &w->s)), 0);
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(rec, "stopOnEndOfStream", "true",
                                                            sw_on_done, &w->s)),
                     0);
    sw_join(&w->s, w->src, rec, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO);
    assert_int_equal(sw_invoke(&w->s, rec, "record", NULL, 0), 0);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    assert_int_equal(w->eos, 1);
    assert_int_equal(w->stopped, 1);
    assert_int_equal(w->errors, 0);
    char cmd[512], out[64] = "";
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s/rec.webm'", w->dir);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    assert_non_null(fgets(out, sizeof(out), pp));
    pclose(pp);
    double d = atof(out);
    assert_true(d > SECONDS - 0.3 && d < SECONDS + 0.3);
    world_free(w);
}

/* ---- edges: seeks with a read in flight, stop and release while calls
 * wait, the end then pause, far timestamps, absurd positions ---- */

/* A 12 s file of about 3 MB: reads of 256 KiB go on while it plays. */
static void make_big(world *w, const char *name, const char *codecs, char *uri, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x480:rate=30:duration=12 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=12 %s -g 30 -shortest "
             "'%s/%s'",
             codecs, w->dir, name);
    assert_int_equal(system(cmd), 0);
    snprintf(uri, cap, "file://%s/%s", w->dir, name);
}

typedef struct answer {
    int done, status;
    char text[512];
} answer;

static void on_answer(void *arg, int status, const char *text)
{
    answer *a = arg;
    a->done++;
    a->status = status;
    snprintf(a->text, sizeof(a->text), "%s", text ? text : "");
}

static void settle(world *w)
{
    for (int i = 0; i < 20; i++)
        assert_int_equal(fl__sim_settle(w->s.sim), 0);
}

/* Two setPosition calls in one batch: the first starts a read (delivered
 * later), the second moves the demuxer's window: the stale read is fed at
 * the old offset. */
static void test_seek_while_read_in_flight(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_big(
            w, "big.webm",
            "-c:v libvpx -b:v 2M -minrate 2M -maxrate 2M -deadline realtime -cpu-used 8 -c:a libopus",
            uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 500 * FL_TIME_MS);
    answer a1 = { 0 }, a2 = { 0 };
    assert_int_equal(
            fl_element_invoke(w->src, "setPosition", (const char *[]){ "8000" }, 1, on_answer, &a1),
            0);
    assert_int_equal(fl_element_invoke(w->src, "setPosition", (const char *[]){ "10000" }, 1,
                                       on_answer, &a2),
                     0);
    settle(w);
    assert_int_equal(a1.done, 1);
    assert_int_equal(a2.done, 1);
    pw_advance(w, 1 * FL_TIME_SEC);
    fprintf(stderr, "seek in flight: a1 %d a2 %d errors %d type %s: %s\n", a1.status, a2.status,
            w->errors, w->error_type, w->error_desc);
    assert_int_equal(w->errors, 0);
    world_free(w);
}

/* getVideoInfo waiting for the header, then stop(): is it answered? */
static void test_video_info_then_stop(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "s.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    set_uri(w, uri);
    answer a0 = { 0 }, a1 = { 0 }, a2 = { 0 };
    assert_int_equal(fl_element_invoke(w->src, "play", NULL, 0, on_answer, &a0), 0);
    assert_int_equal(fl_element_invoke(w->src, "getVideoInfo", NULL, 0, on_answer, &a1), 0);
    assert_int_equal(fl_element_invoke(w->src, "stop", NULL, 0, on_answer, &a2), 0);
    settle(w);
    pw_advance(w, 2 * FL_TIME_SEC);
    fprintf(stderr, "info then stop: play %d/%d info done %d, stop %d\n", a0.done, a0.status,
            a1.done, a2.done);
    assert_int_equal(a1.done, 1);
    world_free(w);
}

/* The end, pause, play: does it play again? */
static void test_pause_at_end_then_play(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "s.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    assert_int_equal(w->eos, 1);
    assert_int_equal(sw_invoke(&w->s, w->src, "pause", NULL, 0), 0);
    size_t n = w->npkts;
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    fprintf(stderr, "pause at end then play: %zu new packets, eos %d\n", w->npkts - n, w->eos);
    assert_true(w->npkts > n);
    world_free(w);
}

/* A file whose timestamps start years in: rtp_ts's v * clock. */
static void test_large_timestamps(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "big.mp4",
              "-c:v libx264 -profile:v baseline -bf 0 -pix_fmt yuv420p -c:a libopus "
              "-output_ts_offset 1700000000",
              uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, (SECONDS + 1) * FL_TIME_SEC);
    fprintf(stderr, "large ts: errors %d eos %d pkts %zu %s\n", w->errors, w->eos, w->npkts,
            w->error_desc);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->eos, 1);
    world_free(w);
}

/* setPosition with a huge position: (int64_t)ms * 1000. */
static void test_huge_position(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "s.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 300 * FL_TIME_MS);
    int rc = sw_invoke(&w->s, w->src, "setPosition",
                       (const char *[]){ "9223372036854775"
                                         "807" },
                       1);
    fprintf(stderr, "huge position: %d\n", rc);
    assert_true(rc < 0);
    world_free(w);
}

/* Released while a read waits for delivery (sim), and released while
 * getVideoInfo waits. */
static void test_release_mid_read(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_file(w, "s.webm", "-c:v libvpx -b:v 300k -c:a libopus", uri, sizeof(uri));
    for (int k = 0; k < 3; k++) {
        fl_element *p = sw_make(&w->s, FL_ELEMENT_PLAYER, "rel");
        assert_int_equal(sw_wait(&w->s, fl_element_set_property(p, "uri", uri, sw_on_done, &w->s)),
                         0);
        answer a0 = { 0 }, a1 = { 0 };
        assert_int_equal(fl_element_invoke(p, "play", NULL, 0, on_answer, &a0), 0);
        assert_int_equal(fl_element_invoke(p, "getVideoInfo", NULL, 0, on_answer, &a1), 0);
        for (int i = 0; i < k; i++)
            assert_int_equal(fl__sim_advance(w->s.sim, 1), 0);
        assert_int_equal(fl_element_release(p, sw_on_done, &w->s), 0);
        assert_int_equal(sw_wait(&w->s, 0), 0);
        settle(w);
        assert_int_equal(a1.done, 1);
    }
    world_free(w);
}

/* setPosition (a read in flight) and pause in one batch, 1 s paused,
 * play: do the timestamps move on by the pause, as after a plain pause? */
static void test_pause_during_seek(void **state)
{
    (void)state;
    if (!pw_have_ffmpeg()) {
        skip();
        return;
    }
    world *w = world_new();
    char uri[256];
    make_big(
            w, "big.webm",
            "-c:v libvpx -b:v 2M -minrate 2M -maxrate 2M -deadline realtime -cpu-used 8 -c:a libopus",
            uri, sizeof(uri));
    set_uri(w, uri);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 500 * FL_TIME_MS);
    size_t before = w->npkts;
    answer a1 = { 0 }, a2 = { 0 };
    assert_int_equal(
            fl_element_invoke(w->src, "setPosition", (const char *[]){ "8000" }, 1, on_answer, &a1),
            0);
    assert_int_equal(fl_element_invoke(w->src, "pause", NULL, 0, on_answer, &a2), 0);
    settle(w);
    pw_advance(w, 1 * FL_TIME_SEC);
    assert_int_equal(w->npkts, before);
    assert_int_equal(sw_invoke(&w->s, w->src, "play", NULL, 0), 0);
    pw_advance(w, 300 * FL_TIME_MS);
    const pkt *last = NULL, *next = NULL;
    for (size_t i = 0; i < w->npkts; i++) {
        if (w->pkts[i].media != FL_MEDIA_VIDEO)
            continue;
        if (i < before)
            last = &w->pkts[i];
        else if (!next)
            next = &w->pkts[i];
    }
    assert_non_null(last);
    assert_non_null(next);
    fprintf(stderr, "pause during seek: ts step %u (90000 = the pause), wall %lld ms\n",
            next->ts - last->ts, (long long)((next->at - last->at) / FL_TIME_MS));
    assert_true(next->ts - last->ts >= 90000);
    world_free(w);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webm_vp8_opus),
        cmocka_unit_test(test_mp4_h264_opus),
        cmocka_unit_test(test_pause_seek_continuous),
        cmocka_unit_test(test_missing_and_corrupt),
        cmocka_unit_test(test_truncated_and_replay),
        cmocka_unit_test(test_recorder_stops_on_end_of_stream),
        cmocka_unit_test(test_seek_while_read_in_flight),
        cmocka_unit_test(test_video_info_then_stop),
        cmocka_unit_test(test_pause_at_end_then_play),
        cmocka_unit_test(test_large_timestamps),
        cmocka_unit_test(test_huge_position),
        cmocka_unit_test(test_release_mid_read),
        cmocka_unit_test(test_pause_during_seek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
