/* RecorderEndpoint on the simulation (engine/sim.h): real VP8 and Opus
 * (codec/'s clips) from AppSources through a WebRtcEndpoint pair into a
 * recorder, on a virtual clock; each file is then checked by ffprobe,
 * ffmpeg (decodes with no error) and mkvinfo. Profiles, pause, a stream
 * that starts a second late, loss on the network, a profile that cannot
 * hold the source's format, a folder that does not exist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/codec.h"
#include "tests/unit/engine/sim_world.h"

typedef struct track_src {
    fl_element *src;
    const fl_clip *clip;
    unsigned media;
    uint8_t pt;
    uint32_t ssrc;
    uint16_t seq;
    size_t next;   /* packet index in the clip */
    fl_time start; /* virtual time of the clip's start */
} track_src;

typedef struct rec_world {
    sim_world s;
    peer a, b, c, d; /* c and d: a second pair, when a test makes it */
    fl_element *rec;
    track_src v, au;
    int recording, paused, stopped, errors;
    int transcoding; /* MediaTranscodingStateChanged TRANSCODING events */
    int pace;        /* give the codec threads a moment (real time) after each video frame */
    enum fl_uri_state state;
    char err_type[64], err_desc[512];
    char dir[64], path[128], uri[160];
} rec_world;

static fl_clip *vclip, *aclip;

static int setup_clips(void **state)
{
    (void)state;
    if (fl_clip_vp8(&vclip, 320, 240, 30, 400, 8, 1100) != 0)
        return -1;
    return fl_clip_opus(&aclip, 48, 8) == 0 ? 0 : -1;
}

static int free_clips(void **state)
{
    (void)state;
    fl_clip_destroy(vclip);
    fl_clip_destroy(aclip);
    return 0;
}

static void on_rec_event(void *arg, const fl_event *ev)
{
    rec_world *w = arg;
    switch (ev->type) {
    case FL_EVENT_RECORDING:
        w->recording++;
        break;
    case FL_EVENT_PAUSED:
        w->paused++;
        break;
    case FL_EVENT_STOPPED:
        w->stopped++;
        break;
    case FL_EVENT_URI_STATE:
        w->state = ev->uri_state.state;
        break;
    case FL_EVENT_MEDIA_TRANSCODING:
        w->transcoding += ev->media_transcoding.transcoding;
        break;
    case FL_EVENT_ERROR:
        w->errors++;
        snprintf(w->err_type, sizeof(w->err_type), "%s", ev->error.type);
        snprintf(w->err_desc, sizeof(w->err_desc), "%s", ev->error.description);
        break;
    default:
        break;
    }
}

static int set_prop(rec_world *w, fl_element *e, const char *name, const char *value)
{
    return sw_wait(&w->s, fl_element_set_property(e, name, value, sw_on_done, &w->s));
}

/* A world whose recorder writes `file` (in a new temp folder, or `dir`
 * when given) with `profile`; media from both AppSources. */
static rec_world *rec_new(uint64_t seed, const char *profile, const char *file, const char *dir)
{
    rec_world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    snprintf(w->dir, sizeof(w->dir), "/tmp/fluo-rec-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->path, sizeof(w->path), "%s/%s", dir ? dir : w->dir, file);
    snprintf(w->uri, sizeof(w->uri), "file://%s", w->path);
    sw_init(&w->s, seed);
    sw_make_pair(&w->s, &w->a, "a", &w->b, "b", NULL);
    w->v = (track_src){ .src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "video"),
                        .clip = vclip,
                        .media = FL_MEDIA_VIDEO,
                        .pt = 96,
                        .ssrc = 0x1234 };
    w->au = (track_src){ .src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "audio"),
                         .clip = aclip,
                         .media = FL_MEDIA_AUDIO,
                         .pt = 111,
                         .ssrc = 0x5678 };
    w->rec = sw_make(&w->s, FL_ELEMENT_RECORDER, "rec");
    assert_int_equal(fl_element_set_event_cb(w->rec, on_rec_event, w), 0);
    assert_int_equal(set_prop(w, w->rec, "uri", w->uri), 0);
    assert_int_equal(set_prop(w, w->rec, "mediaProfile", profile), 0);
    sw_join(&w->s, w->v.src, w->a.e, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->au.src, w->a.e, FL_MEDIA_AUDIO);
    sw_join(&w->s, w->b.e, w->rec, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO);
    sw_negotiate(&w->s, &w->a, &w->b);
    return w;
}

static void rec_free(rec_world *w)
{
    sw_deinit(&w->s);
    if (getenv("FLUO_TEST_KEEP")) /* to look at a file by hand */
        return (void)fprintf(stderr, "kept %s\n", w->path), free(w);
    unlink(w->path);
    rmdir(w->dir);
    free(w);
}

static void start_track(rec_world *w, track_src *t)
{
    t->start = fl__sim_now(w->s.sim);
    t->next = 0;
}

static fl_time next_at(const track_src *t)
{
    if (!t->start || t->next >= t->clip->n)
        return FL_TIME_NEVER;
    return t->start + (fl_time)t->clip->pkts[t->next].send_us;
}

static void push_next(track_src *t)
{
    const fl_clip_packet *cp = &t->clip->pkts[t->next++];
    uint8_t pkt[1500];
    assert_true(cp->len + 12 <= sizeof(pkt));
    uint32_t ts = cp->ts;
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)((cp->marker ? 0x80 : 0) | t->pt);
    pkt[2] = (uint8_t)(t->seq >> 8);
    pkt[3] = (uint8_t)t->seq;
    t->seq++;
    pkt[4] = (uint8_t)(ts >> 24);
    pkt[5] = (uint8_t)(ts >> 16);
    pkt[6] = (uint8_t)(ts >> 8);
    pkt[7] = (uint8_t)ts;
    pkt[8] = (uint8_t)(t->ssrc >> 24);
    pkt[9] = (uint8_t)(t->ssrc >> 16);
    pkt[10] = (uint8_t)(t->ssrc >> 8);
    pkt[11] = (uint8_t)t->ssrc;
    memcpy(pkt + 12, cp->payload, cp->len);
    assert_int_equal(fl_element_push(t->src, t->media, pkt, 12 + cp->len, NULL, NULL), 0);
}

/* Sends what the started tracks have until `dt` of virtual time passed. */
static void play(rec_world *w, fl_time dt)
{
    fl_time end = fl__sim_now(w->s.sim) + dt;
    for (;;) {
        fl_time va = next_at(&w->v), aa = next_at(&w->au);
        track_src *t = va <= aa ? &w->v : &w->au;
        fl_time at = va <= aa ? va : aa;
        if (at > end)
            break;
        if (at > fl__sim_now(w->s.sim))
            assert_int_equal(fl__sim_advance(w->s.sim, at - fl__sim_now(w->s.sim)), 0);
        push_next(t);
        for (int k = 0; w->pace && t == &w->v && k < 15; k++) {
            assert_int_equal(fl__sim_settle(w->s.sim), 0);
            usleep(1000);
        }
    }
    assert_int_equal(fl__sim_advance(w->s.sim, end - fl__sim_now(w->s.sim)), 0);
}

static int call(rec_world *w, const char *method)
{
    return sw_invoke(&w->s, w->rec, method, NULL, 0);
}

/* ---- what the file holds, by the tools nobody here wrote ---- */

static int have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* The output of a command (at most cap - 1 bytes). */
static void run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    pclose(p);
}

typedef struct probe {
    char codecs[64]; /* "vp8,opus" in stream order */
    double duration;
    double first_pts[2]; /* audio, video: the first packet's time; -1 none */
} probe;

static void probe_file(const char *path, probe *p)
{
    char cmd[512], out[4096];
    memset(p, 0, sizeof(*p));
    p->first_pts[0] = p->first_pts[1] = -1;
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '%s' | paste -sd, -",
             path);
    run(cmd, out, sizeof(out));
    out[strcspn(out, "\n")] = 0;
    snprintf(p->codecs, sizeof(p->codecs), "%.63s", out);
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s'",
             path);
    run(cmd, out, sizeof(out));
    p->duration = atof(out);
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -select_streams %c -show_entries packet=pts_time -of csv=p=0 "
                 "-read_intervals %%+#1 '%s'",
                 k ? 'v' : 'a', path);
        run(cmd, out, sizeof(out));
        if (out[0])
            p->first_pts[k] = atof(out);
    }
}

/* ffmpeg decodes every frame with nothing to say. */
static void expect_clean_decode(const char *path)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f null - 2>&1", path);
    run(cmd, out, sizeof(out));
    if (out[0])
        fprintf(stderr, "ffmpeg on %s: %s\n", path, out);
    assert_string_equal(out, "");
}

/* mkvinfo parses it with no error and no warning. */
static void expect_mkvinfo_clean(const char *path)
{
    if (!have("mkvinfo"))
        return;
    char cmd[512], out[65536];
    snprintf(cmd, sizeof(cmd), "mkvinfo '%s' 2>&1; echo \"exit=$?\"", path);
    run(cmd, out, sizeof(out));
    assert_non_null(strstr(out, "exit=0"));
    assert_null(strstr(out, "Error"));
    assert_null(strstr(out, "Warning"));
}

/* ---- tests ---- */

static void record_for(rec_world *w, fl_time seconds)
{
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, seconds);
    assert_int_equal(call(w, "stopAndWait"), 0);
}

static void check_profile(const char *profile, const char *file, const char *codecs, int mkv)
{
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(11, profile, file, NULL);
    record_for(w, 4 * FL_TIME_SEC);
    /* record() raised START and Recording; stopAndWait answered after the
     * file was complete: Stopped came first */
    assert_int_equal(w->recording, 1);
    assert_int_equal(w->stopped, 1);
    assert_int_equal(w->state, FL_URI_STOP);
    assert_int_equal(w->errors, 0);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, codecs);
    assert_true(p.duration > 3.5 && p.duration < 4.5);
    expect_clean_decode(w->path);
    if (mkv)
        expect_mkvinfo_clean(w->path);
    rec_free(w);
}

static void test_webm(void **state)
{
    (void)state;
    check_profile("WEBM", "a.webm", "vp8,opus", 1);
}

static void test_webm_audio_only(void **state)
{
    (void)state;
    check_profile("WEBM_AUDIO_ONLY", "a.webm", "opus", 1);
}

static void test_webm_video_only(void **state)
{
    (void)state;
    check_profile("WEBM_VIDEO_ONLY", "v.webm", "vp8", 1);
}

static void test_mkv(void **state)
{
    (void)state;
    check_profile("MKV", "a.mkv", "vp8,opus", 1);
}

/* The paused span is left out: 2 s, 2 s paused, 2 s make a 4 s file. */
static void test_pause(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(12, "WEBM", "p.webm", NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, 2 * FL_TIME_SEC);
    assert_int_equal(call(w, "pause"), 0);
    assert_int_equal(w->state, FL_URI_PAUSE);
    assert_int_equal(w->paused, 1);
    play(w, 2 * FL_TIME_SEC);
    assert_int_equal(call(w, "record"), 0);
    assert_int_equal(w->state, FL_URI_START);
    play(w, 2 * FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    /* record again after stop: refused, in words */
    assert_int_equal(call(w, "record"), FL_ESTATE);
    assert_non_null(strstr(w->s.text, "stopped"));
    probe p;
    probe_file(w->path, &p);
    assert_true(p.duration > 3.4 && p.duration < 4.6);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* Audio starts a second after video: it is a second into the file. */
static void test_late_audio(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(13, "WEBM", "late.webm", NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    play(w, FL_TIME_SEC);
    start_track(w, &w->au);
    play(w, 3 * FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    probe p;
    probe_file(w->path, &p);
    assert_true(p.first_pts[1] >= 0 && p.first_pts[1] < 0.05);
    assert_true(p.first_pts[0] > 0.95 && p.first_pts[0] < 1.1);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* The video source is switched halfway (another AppSource, its own SSRC,
 * numbering and timestamps): the file goes on, one video stream, no gap
 * and no step back. */
static void test_source_switch(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(18, "WEBM", "switch.webm", NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, 2 * FL_TIME_SEC);
    track_src second = { .src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "video2"),
                         .clip = vclip,
                         .media = FL_MEDIA_VIDEO,
                         .pt = 96,
                         .ssrc = 0x9999,
                         .seq = 40000 };
    sw_join(&w->s, second.src, w->a.e, FL_MEDIA_VIDEO);
    w->v = second;
    start_track(w, &w->v);
    play(w, 2 * FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    assert_int_equal(w->errors, 0);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "vp8,opus");
    assert_true(p.duration > 3.5 && p.duration < 4.5);
    /* video frames all through: none missing around the switch */
    char cmd[512], out[64];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams v -count_packets -show_entries "
             "stream=nb_read_packets -of csv=p=0 '%s'",
             w->path);
    run(cmd, out, sizeof(out));
    assert_true(atoi(out) >= 4 * 30 - 6);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* Released while recording (no stop): the file is completed all the
 * same, as Kurento's recorder does on release. */
static void test_release_completes(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(19, "MKV", "released.mkv", NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, 3 * FL_TIME_SEC);
    assert_int_equal(sw_wait(&w->s, fl_element_release(w->rec, sw_on_done, &w->s)), 0);
    assert_int_equal(fl__sim_settle(w->s.sim), 0);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "vp8,opus");
    assert_true(p.duration > 2.5 && p.duration < 3.5);
    expect_clean_decode(w->path);
    expect_mkvinfo_clean(w->path);
    rec_free(w);
}

/* A second pair whose d feeds the recorder's video from now on: c gets
 * its video from a new AppSource (another SSRC, numbering and times). */
static track_src second_pair(rec_world *w, const char *codecs)
{
    sw_make_pair(&w->s, &w->c, "c", &w->d, "d", codecs);
    track_src t = { .src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "video2"),
                    .clip = vclip,
                    .media = FL_MEDIA_VIDEO,
                    .pt = 96,
                    .ssrc = 0x7777,
                    .seq = 20000 };
    sw_join(&w->s, t.src, w->c.e, FL_MEDIA_VIDEO);
    sw_negotiate(&w->s, &w->c, &w->d);
    return t;
}

/* The recorder's own video input switched (another SSRC reaches it) half
 * a second in, before the streams were in sync: what was held is timed by
 * the first source, what follows by the second; one short, clean file. */
static void test_switch_before_sync(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(20, "WEBM", "early.webm", NULL);
    track_src v2 = second_pair(w, NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, FL_TIME_SEC / 2);
    sw_join(&w->s, w->d.e, w->rec, FL_MEDIA_VIDEO);
    w->v.start = 0; /* the first source stops */
    w->v = v2;
    start_track(w, &w->v);
    play(w, 2 * FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    assert_int_equal(w->errors, 0);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "vp8,opus");
    assert_true(p.duration > 2.0 && p.duration < 3.0);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* A new source of a format fluo cannot convert for the video track: said
 * once in an Error event and left out; the file stays whole. */
static void test_source_of_another_format(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(21, "MKV", "format.mkv", NULL);
    track_src v2 = second_pair(w, "AV1/90000");
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, 2 * FL_TIME_SEC);
    sw_join(&w->s, w->d.e, w->rec, FL_MEDIA_VIDEO);
    w->v.start = 0;
    w->v = v2;
    start_track(w, &w->v);
    play(w, FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    assert_int_equal(w->errors, 1);
    assert_string_equal(w->err_type, "MEDIA_FORMAT_MISMATCH");
    assert_non_null(strstr(w->err_desc, "AV1"));
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "vp8,opus");
    expect_clean_decode(w->path);
    rec_free(w);
}

/* The upstream endpoint goes while the recorder still waits for its video
 * to sync (audio flows, video is linked but silent): nothing of the gone
 * element is touched later (ASan watches), and the audio is in the file. */
static void test_upstream_gone_before_sync(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(22, "WEBM", "gone.webm", NULL);
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->au);
    play(w, FL_TIME_SEC / 2);
    assert_int_equal(sw_wait(&w->s, fl_element_release(w->b.e, sw_on_done, &w->s)), 0);
    w->au.start = 0;
    play(w, 3 * FL_TIME_SEC);
    assert_int_equal(call(w, "stopAndWait"), 0);
    probe p;
    probe_file(w->path, &p);
    assert_non_null(strstr(p.codecs, "opus"));
    expect_clean_decode(w->path);
    rec_free(w);
}

/* 5% loss both ways: what NACK does not repair is left out whole; the
 * file decodes with no error. */
static void test_loss(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(14, "WEBM", "loss.webm", NULL);
    fl__sim_set_network(w->s.sim, 10 * FL_TIME_MS, 50);
    record_for(w, 5 * FL_TIME_SEC);
    fl__sim_stats ss;
    fl__sim_get_stats(w->s.sim, &ss);
    assert_true(ss.dropped > 20);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "vp8,opus");
    assert_true(p.duration > 4.0);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* MP4 cannot hold VP8: the video reaches the recorder through a
 * transcoder to H.264 (MediaTranscodingStateChanged says so), and the file
 * holds both tracks and decodes. */
static void test_mp4_takes_vp8_through_transcoder(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(15, "MP4", "v.mp4", NULL);
    w->pace = 1;
    record_for(w, 3 * FL_TIME_SEC);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->transcoding, 1);
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "h264,opus");
    assert_true(p.duration > 2.5);
    expect_clean_decode(w->path);
    rec_free(w);
}

/* MP4 and a video format fluo cannot convert: an Error event names both,
 * and the audio is recorded. */
static void test_profile_refuses_format(void **state)
{
    (void)state;
    if (!have("ffprobe"))
        skip();
    rec_world *w = rec_new(23, "MP4", "av1.mp4", NULL);
    track_src v2 = second_pair(w, "AV1/90000");
    sw_join(&w->s, w->d.e, w->rec, FL_MEDIA_VIDEO);
    w->v = v2;
    record_for(w, 3 * FL_TIME_SEC);
    assert_int_equal(w->errors, 1);
    assert_string_equal(w->err_type, "MEDIA_FORMAT_MISMATCH");
    assert_non_null(strstr(w->err_desc, "AV1"));
    assert_non_null(strstr(w->err_desc, "MP4"));
    probe p;
    probe_file(w->path, &p);
    assert_string_equal(p.codecs, "opus");
    expect_clean_decode(w->path);
    rec_free(w);
}

/* A folder that does not exist: an Error event with the path and the
 * reason; the engine goes on (stopAndWait answers). */
static void test_no_such_folder(void **state)
{
    (void)state;
    rec_world *w = rec_new(16, "WEBM", "x.webm", "/nonexistent-fluo-folder");
    assert_int_equal(call(w, "record"), 0);
    start_track(w, &w->v);
    start_track(w, &w->au);
    play(w, FL_TIME_SEC);
    /* stopAndWait answers, with the failure */
    assert_int_equal(call(w, "stopAndWait"), FL_EIO);
    assert_non_null(strstr(w->s.text, "/nonexistent-fluo-folder/x.webm"));
    assert_int_equal(w->errors, 1);
    assert_string_equal(w->err_type, "RESOURCE_ERROR_OPEN_WRITE");
    assert_non_null(strstr(w->err_desc, "/nonexistent-fluo-folder/x.webm"));
    assert_non_null(strstr(w->err_desc, "no such file or directory"));
    assert_int_equal(w->recording, 0);
    rec_free(w);
}

static void test_bad_settings(void **state)
{
    (void)state;
    rec_world *w = rec_new(17, "WEBM", "y.webm", NULL);
    assert_int_equal(set_prop(w, w->rec, "uri", "http://example.com/x.webm"), FL_ENOTSUP);
    assert_int_equal(set_prop(w, w->rec, "uri", "file://relative/x.webm"), FL_EINVAL);
    assert_int_equal(set_prop(w, w->rec, "uri", "/tmp/x.webm"), FL_EINVAL);
    assert_int_equal(set_prop(w, w->rec, "mediaProfile", "FLV"), FL_ENOTSUP);
    assert_int_equal(set_prop(w, w->rec, "uri", "file:///tmp/a%20b.webm"), 0);
    assert_int_equal(sw_wait(&w->s, fl_element_get_property(w->rec, "uri", sw_on_text, &w->s)), 0);
    assert_string_equal(w->s.text, "file:///tmp/a%20b.webm");
    assert_int_equal(sw_wait(&w->s, fl_element_get_property(w->rec, "state", sw_on_text, &w->s)),
                     0);
    assert_string_equal(w->s.text, "STOP");
    rec_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webm),
        cmocka_unit_test(test_webm_audio_only),
        cmocka_unit_test(test_webm_video_only),
        cmocka_unit_test(test_mkv),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_late_audio),
        cmocka_unit_test(test_source_switch),
        cmocka_unit_test(test_release_completes),
        cmocka_unit_test(test_switch_before_sync),
        cmocka_unit_test(test_source_of_another_format),
        cmocka_unit_test(test_upstream_gone_before_sync),
        cmocka_unit_test(test_loss),
        cmocka_unit_test(test_mp4_takes_vp8_through_transcoder),
        cmocka_unit_test(test_profile_refuses_format),
        cmocka_unit_test(test_no_such_folder),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, setup_clips, free_clips);
}
