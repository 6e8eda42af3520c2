/* HttpPostEndpoint on a simulated worker (engine/sim.h): a WebM that
 * ffmpeg makes (VP8+Opus, 3 s) written with fl_element_write in 1-byte,
 * odd-sized and whole pieces by a writer that keeps at most 64 KiB in
 * flight (as the control server does) plays as the file does: every
 * video frame at its time, whole, sequence numbers without a gap,
 * EndOfStream at the end; the writer is held back by the playing (it has
 * not written the file long before it plays); the stream ends by
 * fl_element_write_end or after disconnectionTimeout without bytes, or
 * at its own end when its size is known, and a write after EndOfStream
 * starts a new stream; a
 * series of pieces with pauses between plays as one stream; garbage gives
 * an Error event and failed writes naming the cause until
 * fl_element_write_end; a cut stream ends with an Error or EndOfStream;
 * a release with writes waiting completes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/engine/play_world.h"

#define FPS       30
#define SECONDS   3
#define IN_FLIGHT (64u << 10)

typedef struct world {
    play_world pw; /* its src the HttpPostEndpoint */
    /* the file and the writer */
    uint8_t *file;
    size_t file_len;
    size_t piece;   /* bytes per write */
    size_t limit;   /* write up to here */
    size_t written; /* bytes handed to fl_element_write */
    size_t taken;   /* bytes whose write completed with 0 */
    size_t most_in_flight;
    int write_fails;
    int last_status;
    char last_why[512];
} world;

static world *world_new(void)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    pw_init(&w->pw, "httppost", 11, FL_ELEMENT_HTTP_POST, "post");
    return w;
}

static void world_free(world *w)
{
    pw_deinit(&w->pw);
    free(w->file);
    free(w);
}

/* A 3 s WebM of testsrc2 (320x240, 30 fps, a key frame each second) and a
 * 440 Hz tone, made once by ffmpeg, copied into w->file. `live`: written to
 * a pipe, as a live encoder or a browser's MediaRecorder makes it (the
 * Segment's size unknown: the stream's end is where the upload ends); else
 * a file (sizes known, Cues: its end is in it). */
static struct {
    uint8_t *data;
    size_t len;
} made[2];

static void make_file_as(world *w, int live)
{
    if (!made[live].data) {
        char cmd[1024], path[128];
        snprintf(path, sizeof(path), "%s/a.webm", w->pw.dir);
        snprintf(
                cmd, sizeof(cmd),
                "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=%d:duration=%d "
                "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=%d -c:v libvpx -b:v 1M "
                "-c:a libopus -g %d -shortest %s'%s'",
                FPS, SECONDS, SECONDS, FPS, live ? "-f webm - > " : "", path);
        assert_int_equal(system(cmd), 0);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        made[live].len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        made[live].data = malloc(made[live].len);
        assert_non_null(made[live].data);
        assert_int_equal(fread(made[live].data, 1, made[live].len, f), made[live].len);
        fclose(f);
    }
    w->file_len = made[live].len;
    w->file = malloc(w->file_len);
    assert_non_null(w->file);
    memcpy(w->file, made[live].data, w->file_len);
}

/* A world holding the file (`live` as make_file_as), or NULL where ffmpeg
 * is missing: the test skipped. */
static world *world_with_file(int live)
{
    if (!pw_have_ffmpeg()) {
        skip();
        return NULL;
    }
    world *w = world_new();
    make_file_as(w, live);
    return w;
}

static void pump_writes(world *w);

static void on_written(void *arg, int status, const char *why)
{
    world *w = arg;
    w->last_status = status;
    snprintf(w->last_why, sizeof(w->last_why), "%s", why ? why : "");
    if (status < 0) {
        w->write_fails++;
        return;
    }
    assert_null(why);
    w->taken += w->piece < w->written - w->taken ? w->piece : w->written - w->taken;
    pump_writes(w);
}

/* Writes the next pieces of the file while less than IN_FLIGHT waits. */
static void pump_writes(world *w)
{
    while (w->written < w->limit && w->written - w->taken < IN_FLIGHT && !w->write_fails) {
        size_t n = w->limit - w->written < w->piece ? w->limit - w->written : w->piece;
        assert_int_equal(fl_element_write(w->pw.src, w->file + w->written, n, on_written, w), 0);
        w->written += n;
        if (w->written - w->taken > w->most_in_flight)
            w->most_in_flight = w->written - w->taken;
    }
}

static void write_upto(world *w, size_t limit)
{
    w->limit = limit;
    pump_writes(w);
}

/* Depacketized VP8 frames from packet `from` on: their count, and each
 * one's first packet's time in at[] and whether it is a key frame in key[]
 * (either may be NULL). */
static size_t video_frames(world *w, size_t from, fl_time *at, int *key, size_t cap)
{
    return pw_video_frames(&w->pw, FL_CODEC_VP8, from, at, NULL, key, cap);
}

/* The file's 90 frames, paced at 30 fps from the first, key frames where
 * the file has them. */
static void check_frames(world *w, size_t from, size_t frames)
{
    static fl_time at[400];
    static int key[400];
    size_t n = video_frames(w, from, at, key, 400);
    assert_int_equal(n, frames);
    for (size_t i = 0; i < n; i++) {
        fl_time want = at[0] + (fl_time)(i % (SECONDS * FPS)) * FL_TIME_SEC / FPS;
        if (i >= SECONDS * FPS)
            break; /* a second stream starts when it is written */
        assert_true(at[i] >= want - FL_TIME_MS && at[i] <= want + 11 * FL_TIME_MS);
        assert_int_equal(key[i], i % FPS == 0);
    }
}

static void play_in_pieces(size_t piece)
{
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    w->piece = piece ? piece : w->file_len;
    fl_time t0 = fl__sim_now(w->pw.s.sim);
    write_upto(w, w->file_len);
    pw_advance(&w->pw, 500 * FL_TIME_MS);
    /* held back by the playing: not all written half a second in */
    if (piece)
        assert_true(w->written < w->file_len);
    pw_advance(&w->pw, (SECONDS - 0.5) * FL_TIME_SEC);
    assert_int_equal(w->written, w->file_len);
    assert_int_equal(w->taken, w->file_len);
    assert_int_equal(sw_wait(&w->pw.s, fl_element_write_end(w->pw.src, sw_on_done, &w->pw.s)), 0);
    pw_advance(&w->pw, 500 * FL_TIME_MS);
    assert_int_equal(w->pw.errors, 0);
    assert_int_equal(w->write_fails, 0);
    assert_int_equal(w->pw.eos, 1);
    fl_time eos = w->pw.eos_at - t0;
    assert_true(eos >= (SECONDS - 0.1) * FL_TIME_SEC && eos <= (SECONDS + 0.1) * FL_TIME_SEC);
    assert_true(w->most_in_flight <= IN_FLIGHT + w->piece);
    pw_check_continuous(&w->pw, 1);
    check_frames(w, 0, SECONDS * FPS);
    world_free(w);
}

static void test_whole(void **state)
{
    (void)state;
    play_in_pieces(0);
}

static void test_odd_pieces(void **state)
{
    (void)state;
    play_in_pieces(997);
}

static void test_one_byte_pieces(void **state)
{
    (void)state;
    play_in_pieces(1);
}

/* No fl_element_write_end: the stream ends disconnectionTimeout (2 s)
 * after the bytes ran out (the player reads 0.7 s ahead); a write after
 * EndOfStream starts a new stream (a new SSRC, itself without a gap). */
static void test_disconnection_timeout_then_again(void **state)
{
    (void)state;
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    sw_wait(&w->pw.s,
            fl_element_get_property(w->pw.src, "disconnectionTimeout", sw_on_text, &w->pw.s));
    assert_string_equal(w->pw.s.text, "2");
    w->piece = 4096;
    fl_time t0 = fl__sim_now(w->pw.s.sim);
    write_upto(w, w->file_len);
    pw_advance(&w->pw, (SECONDS + 0.5) * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 0); /* still waiting for more */
    pw_advance(&w->pw, 2 * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 1);
    fl_time eos = w->pw.eos_at - t0;
    assert_true(eos >= (SECONDS + 1.1) * FL_TIME_SEC && eos <= (SECONDS + 2.1) * FL_TIME_SEC);
    size_t first = w->pw.npkts;
    /* again, the same file: a new stream */
    w->written = w->taken = 0;
    write_upto(w, w->file_len);
    pw_advance(&w->pw, (SECONDS + 3) * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 2);
    assert_int_equal(w->pw.errors, 0);
    assert_true(w->pw.npkts > first + SECONDS * FPS);
    pw_check_continuous(&w->pw, 2);
    check_frames(w, 0, 2 * SECONDS * FPS);
    world_free(w);
}

/* A series of pieces 400 ms apart (as a browser's MediaRecorder posts
 * them): one stream, no EndOfStream between them, every frame out. */
static void test_series_with_pauses(void **state)
{
    (void)state;
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    w->piece = 1000;
    for (int i = 1; i <= 8; i++) {
        write_upto(w, w->file_len * (size_t)i / 8);
        pw_advance(&w->pw, 400 * FL_TIME_MS);
        assert_int_equal(w->pw.eos, 0);
    }
    pw_advance(&w->pw, 4 * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 1);
    assert_int_equal(w->pw.errors, 0);
    pw_check_continuous(&w->pw, 1);
    assert_int_equal(video_frames(w, 0, NULL, NULL, 200), SECONDS * FPS);
    world_free(w);
}

/* A file whose Segment says its size: EndOfStream at its end, without
 * fl_element_write_end or waiting for disconnectionTimeout; bytes written
 * past that end are never read, and their writes complete at it. */
static void test_sized_file_ends_itself(void **state)
{
    (void)state;
    world *w = world_with_file(0);
    if (!w)
        return; /* skipped */
    w->file = realloc(w->file, w->file_len + 20000);
    assert_non_null(w->file);
    memset(w->file + w->file_len, 0x5a, 20000);
    w->file_len += 20000;
    w->piece = 8192;
    fl_time t0 = fl__sim_now(w->pw.s.sim);
    write_upto(w, w->file_len - 20000);
    /* the demuxer is at the Segment's end: the rest comes before the last
     * frames leave, and is never read */
    pw_advance(&w->pw, (SECONDS - 0.4) * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 0);
    write_upto(w, w->file_len);
    pw_advance(&w->pw, 100 * FL_TIME_MS);
    assert_true(w->taken < w->file_len);
    pw_advance(&w->pw, 0.6 * FL_TIME_SEC);
    assert_int_equal(w->pw.eos, 1);
    assert_true(w->pw.eos_at - t0 <= (SECONDS + 0.1) * FL_TIME_SEC);
    assert_int_equal(w->pw.errors, 0);
    assert_int_equal(w->write_fails, 0);
    assert_int_equal(w->taken, w->file_len);
    check_frames(w, 0, SECONDS * FPS);
    world_free(w);
}

/* Not WebM: an Error event, the write fails naming the cause, and the
 * following ones too, until fl_element_write_end; then a good file
 * plays. */
static void test_garbage_then_good(void **state)
{
    (void)state;
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    static uint8_t junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 7 + 3);
    w->piece = 1024;
    uint8_t *good = w->file;
    size_t good_len = w->file_len;
    w->file = junk;
    w->file_len = sizeof(junk);
    write_upto(w, sizeof(junk));
    pw_advance(&w->pw, 100 * FL_TIME_MS);
    assert_int_equal(w->pw.errors, 1);
    assert_string_equal(w->pw.error_type, "MEDIA_NOT_SUPPORTED");
    assert_non_null(strstr(w->pw.error_desc, "not a WebM"));
    assert_true(w->write_fails >= 1);
    assert_int_equal(w->last_status, FL_ENOTSUP);
    assert_non_null(strstr(w->last_why, "not a WebM"));
    /* still failed */
    assert_int_equal(
            sw_wait(&w->pw.s, fl_element_write(w->pw.src, good, 100, sw_on_text, &w->pw.s)),
            FL_ENOTSUP);
    assert_int_equal(sw_wait(&w->pw.s, fl_element_write_end(w->pw.src, sw_on_done, &w->pw.s)), 0);
    w->file = good;
    w->file_len = good_len;
    w->written = w->taken = 0;
    w->write_fails = 0;
    write_upto(w, w->file_len);
    pw_advance(&w->pw, (SECONDS + 3) * FL_TIME_SEC);
    assert_int_equal(w->pw.errors, 1);
    assert_int_equal(w->pw.eos, 1);
    assert_int_equal(video_frames(w, 0, NULL, NULL, 200), SECONDS * FPS);
    world_free(w);
}

/* A stream cut in the middle of a frame: an Error (corrupt) or
 * EndOfStream, the frames before it out, nothing else. */
static void test_cut_stream(void **state)
{
    (void)state;
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    w->piece = 777;
    write_upto(w, w->file_len / 2 + 13);
    pw_advance(&w->pw, (SECONDS + 3) * FL_TIME_SEC);
    assert_int_equal(w->pw.errors + w->pw.eos, 1);
    size_t n = video_frames(w, 0, NULL, NULL, 200);
    assert_true(n >= FPS && n < SECONDS * FPS);
    world_free(w);
}

/* Huge pieces are refused at once; a release with writes waiting
 * completes them (no leak under ASan). */
static void test_limits_and_release(void **state)
{
    (void)state;
    world *w = world_with_file(1);
    if (!w)
        return; /* skipped */
    assert_int_equal(fl_element_write(w->pw.src, w->file, FL_ENGINE_WRITE_MAX + 1, on_written, w),
                     FL_EMSGSIZE);
    assert_int_equal(fl_element_write(w->pw.sink, w->file, 10, on_written, w), FL_ENOTSUP);
    assert_int_equal(sw_wait(&w->pw.s, fl_element_set_property(w->pw.src, "disconnectionTimeout",
                                                               "-1", sw_on_done, &w->pw.s)),
                     FL_EINVAL);
    w->piece = 4096;
    write_upto(w, w->file_len);
    pw_advance(&w->pw, 300 * FL_TIME_MS);
    assert_true(w->written > w->taken);
    assert_int_equal(sw_wait(&w->pw.s, fl_element_release(w->pw.src, sw_on_done, &w->pw.s)), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(fl__sim_settle(w->pw.s.sim), 0);
    assert_true(w->write_fails >= 1);
    assert_true(w->last_status == FL_ECANCELED || w->last_status == FL_ECLOSED);
    world_free(w);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_odd_pieces),
        cmocka_unit_test(test_one_byte_pieces),
        cmocka_unit_test(test_disconnection_timeout_then_again),
        cmocka_unit_test(test_series_with_pauses),
        cmocka_unit_test(test_sized_file_ends_itself),
        cmocka_unit_test(test_garbage_then_good),
        cmocka_unit_test(test_cut_stream),
        cmocka_unit_test(test_limits_and_release),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(made[0].data);
    free(made[1].data);
    return rc;
}
