/* `fluo-bench play --server fluo --sessions N --seconds S`: what playing a
 * file costs against forwarding, in one run on one fluo.
 *
 * The file is made once per run by ffmpeg in a temporary folder that is
 * fluo.playRoots (removed at the end): a VP8+Opus WebM of a test pattern and
 * a tone, S + 2 s long, 30 frames a second. Forwarding: N publishers (the
 * VP8+Opus clips of `fluo-bench echo`, wr_client.c) each looped back to
 * itself through its own WebRtcEndpoint, fluo's CPU time divided by the
 * packets they got back, over two windows of S/2 s, one before the playing
 * and one after it (the publishers are silent in between). Playing: N
 * receive-only clients, each with a pipeline of a PlayerEndpoint of the file
 * connected to a WebRtcEndpoint, every play() sent at once, and fluo's CPU
 * time over S s from then divided by the RTP packets the clients received
 * (file reads, demuxing, packetizing, pacing, SRTP). Each client must get
 * audio and video at the file's frame rate (within FPS_SLACK, counted from
 * its first video packet by the frames' marker bits), no EndOfStream may
 * come within the S s, and each player's EndOfStream must come within
 * EOS_SLACK_S of the file's end; a client that fails any of it is not ok and
 * the run fails. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/kclient.h"
#include "bench/wr.h"

#define WARMUP_S    1.5  /* echo media flows before the first window */
#define SETTLE_S    0.5  /* after the publishers stop or start again */
#define FILE_EXTRA  2    /* the file's length past --seconds, s */
#define FILE_FPS    30.0 /* its frame rate */
#define FPS_SLACK   0.1  /* a client's frame rate against FILE_FPS, relative */
#define START_MAX_S 1.0  /* play() to a client's first video packet, at most */
#define EOS_SLACK_S 1.0  /* EndOfStream against the file's end, s */
#define POLL_S      0.1  /* between getPosition rounds while EndOfStream is awaited */

typedef wr_fluo_opts play_opts;

/* What a receiving client got from its player within the play window. */
typedef struct play_rx {
    uint64_t video, audio, frames; /* packets; video frames (marker bits) */
    fl_time first_video;           /* its first video packet; 0: none */
} play_rx;

typedef struct play_session {
    wr_peer *echo, *view; /* the publisher looped back; the player's client */
    char echo_pipe[160], echo_ep[320];
    char pipe[160], ep[320], player[320];
    play_rx at0, rx;     /* counters at the window's start; the window's */
    int eos;             /* EndOfStream events of its player */
    fl_time eos_at;      /* when the first one was read */
    int eos_in_window;   /* those read before the window ended */
    int64_t position_ms; /* getPosition at the window's end; -1: none */
} play_session;

typedef struct play_figs {
    wr_fwd fwd; /* the echo windows */
    uint64_t play_pkts, play_cpu_us;
    double file_s;                /* the file's duration (ffprobe) */
    double fps_min, fps_max;      /* over the clients */
    double start_max_ms;          /* play() sent to a first video packet */
    double eos_err_max_ms;        /* |EndOfStream - the file's end| */
    int eos_in_window, eos_total; /* over the players */
    fl_time play_at, window_end;  /* play() sent; the play window's end */
    int window_read;              /* what fluo sent within the window was read */
    size_t up, clients_ok;
    int measured;
} play_figs;

static fl_bench_kc kc = FL_BENCH_KC_INIT; /* the fluo it starts, its control connection */

void fl_bench_play_usage(FILE *out)
{
    fprintf(out, "  play --server fluo [--sessions 10] [--seconds 20] [--fluo-bin PATH]\n"
                 "        [--workers N]\n"
                 "        Playing a file against forwarding in one run: a VP8+Opus WebM of\n"
                 "        S+2 s made by ffmpeg; N publishers (as echo sends) looped back to\n"
                 "        themselves for S/2 s, then N receive-only clients each fed by a\n"
                 "        PlayerEndpoint of the file for S s (every play() at once), then\n"
                 "        the loops back again for S/2 s. fluo's CPU per packet the clients\n"
                 "        received from the players against per forwarded packet; each\n"
                 "        client must get audio and video at the file's 30 frames/s, and\n"
                 "        EndOfStream only at the file's end, the run fails otherwise.\n"
                 "        Last line: play server=fluo sessions=N cpu_us_per_pkt=X\n"
                 "        fwd_cpu_us_per_pkt=Y ratio=Z clients_ok=N\n");
}

/* ---- the file ---- */

/* Makes dir/play.webm with ffmpeg: VP8 640x480 at 30 frames/s, 1 Mbit/s, a
 * key frame a second, and Opus (a 440 Hz tone), `seconds` long. 0, or
 * FL_ENOENT when there is no ffmpeg, FL_EIO when it failed (said on
 * stderr). */
static int make_file(const char *path, int seconds)
{
    if (system("ffmpeg -version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "fluo-bench: play makes its file with ffmpeg, which cannot be run "
                        "(apt-get install ffmpeg)\n");
        return FL_ENOENT;
    }
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x480:rate=30 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000 -t %d "
             "-c:v libvpx -b:v 1M -g 30 -deadline realtime -cpu-used 8 "
             "-c:a libopus -b:a 64k '%s'",
             seconds, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "fluo-bench: ffmpeg could not make %s\n", path);
        return FL_EIO;
    }
    return 0;
}

/* ffprobe's duration of the file, s; -1 when it cannot say. */
static double file_duration(const char *path)
{
    char cmd[PATH_MAX + 128], line[128];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 '%s'", path);
    FILE *f = popen(cmd, "r");
    double d = -1;
    if (!f)
        return -1;
    if (fgets(line, sizeof(line), f) && sscanf(line, "%lf", &d) != 1)
        d = -1;
    pclose(f);
    return d;
}

/* ---- fluo ---- */

/* processOffer with p's offer (dir its direction), the answer taken, then
 * gatherCandidates. */
static int negotiate(wr_peer *p, const char *ep, fl_sdp_dir dir)
{
    char *offer = wr_peer_offer(p, dir);
    json_t *answer =
            offer ? fl_bench_kc_invoke(&kc, ep, "processOffer", json_pack("{s:s}", "offer", offer))
                  : NULL;
    free(offer);
    int rc = json_is_string(answer) ? wr_peer_set_answer(p, json_string_value(answer)) : FL_EIO;
    json_decref(answer);
    return rc == 0 ? fl_bench_kc_invoke_void(&kc, ep, "gatherCandidates", NULL) : rc;
}

/* The publisher: a pipeline, a WebRtcEndpoint looped to itself. */
static int echo_setup(wr_bench *b, play_session *s)
{
    int rc = wr_peer_create(b, 1, &s->echo);
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "MediaPipeline", json_object(), s->echo_pipe,
                                sizeof(s->echo_pipe));
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "WebRtcEndpoint",
                                json_pack("{s:s}", "mediaPipeline", s->echo_pipe), s->echo_ep,
                                sizeof(s->echo_ep));
    if (rc == 0)
        rc = fl_bench_kc_invoke_void(&kc, s->echo_ep, "connect",
                                     json_pack("{s:s}", "sink", s->echo_ep));
    return rc < 0 ? rc : negotiate(s->echo, s->echo_ep, FL_SDP_DIR_SENDRECV);
}

/* The receiving client: a pipeline, a PlayerEndpoint of uri connected to a
 * WebRtcEndpoint, its EndOfStream subscribed to. */
static int view_setup(wr_bench *b, play_session *s, const char *uri)
{
    int rc = wr_peer_create(b, 1, &s->view);
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "MediaPipeline", json_object(), s->pipe, sizeof(s->pipe));
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "WebRtcEndpoint", json_pack("{s:s}", "mediaPipeline", s->pipe),
                                s->ep, sizeof(s->ep));
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "PlayerEndpoint",
                                json_pack("{s:s, s:s}", "mediaPipeline", s->pipe, "uri", uri),
                                s->player, sizeof(s->player));
    if (rc == 0)
        rc = fl_bench_kc_invoke_void(&kc, s->player, "connect", json_pack("{s:s}", "sink", s->ep));
    if (rc == 0) {
        json_t *v = fl_bench_kc_call(
                &kc, "subscribe",
                json_pack("{s:s, s:s}", "object", s->player, "type", "EndOfStream"));
        rc = v ? 0 : FL_EIO;
        json_decref(v);
    }
    return rc < 0 ? rc : negotiate(s->view, s->ep, FL_SDP_DIR_RECVONLY);
}

/* ---- the players' calls and events ---- */

/* An onEvent notification: an EndOfStream of one of the players counted. */
static void on_note(json_t *msg, play_session *ss, int n, const play_figs *f)
{
    json_t *v = json_object_get(json_object_get(msg, "params"), "value");
    const char *type = json_string_value(json_object_get(v, "type"));
    const char *obj = json_string_value(json_object_get(v, "object"));
    if (!type || !obj || strcmp(type, "EndOfStream") != 0)
        return;
    for (int i = 0; i < n; i++) {
        if (strcmp(ss[i].player, obj) != 0)
            continue;
        if (!ss[i].eos++)
            ss[i].eos_at = fl_time_now();
        ss[i].eos_in_window += !f->window_read;
        return;
    }
}

/* Sends op (no parameters) to every player at once, then reads until every
 * reply came, counting the EndOfStream events read meanwhile. getPosition's
 * values go to position_ms. 0, or FL_EIO when a call failed or fluo went
 * away. */
static int players_invoke(play_session *ss, int n, const char *op, const play_figs *f)
{
    int first = 0, rc = 0, pos = strcmp(op, "getPosition") == 0;
    for (int i = 0; i < n; i++) {
        int id = fl_bench_kc_send(&kc, "invoke",
                                  json_pack("{s:s, s:s, s:{}}", "object", ss[i].player, "operation",
                                            op, "operationParams"));
        if (id < 0)
            return id;
        if (i == 0)
            first = id;
    }
    for (int left = n; left > 0;) {
        json_t *msg = fl_bench_kc_next(&kc);
        if (!msg)
            return FL_EIO;
        json_t *jid = json_object_get(msg, "id");
        json_int_t k = json_integer_value(jid) - first;
        if (!jid) {
            on_note(msg, ss, n, f);
        } else if (k >= 0 && k < n) {
            left--;
            json_t *v = fl_bench_kc_value(&kc, op, msg);
            if (!v) {
                fprintf(stderr, "fluo-bench: %s: %s failed\n", ss[k].player, op);
                rc = FL_EIO;
            } else if (pos) {
                ss[k].position_ms = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
            }
            json_decref(v);
        }
        json_decref(msg);
    }
    return rc;
}

/* ---- counters ---- */

/* What p has received so far, video and audio told apart by their
 * sections' payload types (anything else, RTX or padding, left out). */
static play_rx rx_of(const wr_peer *p)
{
    play_rx r = { 0 };
    for (size_t i = 0; i < p->nrx; i++) {
        const wr_rx *x = &p->rx[i];
        if (x->pt == p->tx[1].pt) {
            r.video += x->received;
            r.frames += x->markers;
            if (!r.first_video || x->first_at < r.first_video)
                r.first_video = x->first_at;
        } else if (x->pt == p->tx[0].pt) {
            r.audio += x->received;
        }
    }
    return r;
}

/* The publishers stop sending, or start again from their clips' start
 * (paced from now: no burst to catch up). */
static void echo_sending(play_session *ss, int n, int on)
{
    fl_time now = fl_time_now();
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            wr_tx *t = &ss[i].echo->tx[k];
            if (!t->clip)
                continue;
            if (on && !t->on) {
                t->ts_base = t->last_ts + t->clip->clock_rate / 30;
                t->t_base = now;
                t->pos = 0;
            }
            t->on = on;
        }
    }
}

/* ---- the scenario ---- */

/* Every player played at once, S s measured from the first play() sent:
 * fluo's CPU, the packets each client got, the players' positions at the
 * end; then EndOfStream awaited up to the file's end and EOS_SLACK_S. */
static int play_window(wr_bench *b, play_session *ss, int n, int seconds, play_figs *f)
{
    uint64_t cpu0 = 0, cpu1 = 0;
    for (int i = 0; i < n; i++)
        ss[i].at0 = rx_of(ss[i].view);
    wr_proc_cpu_us(b->pid, &cpu0);
    f->play_at = fl_time_now();
    int rc = players_invoke(ss, n, "play", f);
    double left = seconds - (double)(fl_time_now() - f->play_at) / 1e6;
    if (rc == 0 && left > 0)
        wr_bench_run(b, left);
    wr_proc_cpu_us(b->pid, &cpu1);
    f->window_end = fl_time_now();
    f->play_cpu_us = cpu1 - cpu0;
    for (int i = 0; i < n; i++) {
        play_rx r = rx_of(ss[i].view);
        ss[i].rx.video = r.video - ss[i].at0.video;
        ss[i].rx.audio = r.audio - ss[i].at0.audio;
        ss[i].rx.frames = r.frames - ss[i].at0.frames;
        ss[i].rx.first_video = r.first_video > f->play_at ? r.first_video : 0;
        f->play_pkts += ss[i].rx.video + ss[i].rx.audio;
    }
    if (rc < 0)
        return rc;
    /* the positions, and the EndOfStream events of the window read */
    for (int i = 0; i < n; i++)
        ss[i].position_ms = -1;
    if ((rc = players_invoke(ss, n, "getPosition", f)) < 0)
        return rc;
    f->window_read = 1; /* fluo answers in order: its events of the window came before */
    fl_time until = f->play_at + (fl_time)((f->file_s + EOS_SLACK_S) * 1e6);
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= ss[i].eos > 0;
        if (all || fl_time_now() > until)
            break;
        wr_bench_run(b, POLL_S);
        if ((rc = players_invoke(ss, n, "getPosition", f)) < 0)
            return rc;
    }
    return 0;
}

/* Whether session s's client got what a player of the file should give;
 * what is wrong is printed. Adds its figures to f's. */
static int check_client(int i, const play_session *s, int seconds, play_figs *f)
{
    const play_rx *r = &s->rx;
    double span = r->first_video ? (double)(f->window_end - r->first_video) / 1e6 : 0;
    double fps = span > 0 ? (double)r->frames / span : 0;
    double start_ms = r->first_video ? (double)(r->first_video - f->play_at) / 1e3 : -1;
    double eos_err_ms =
            s->eos ? fabs((double)(s->eos_at - f->play_at) / 1e3 - f->file_s * 1e3) : -1;
    if (f->fps_min == 0 || fps < f->fps_min)
        f->fps_min = fps;
    if (fps > f->fps_max)
        f->fps_max = fps;
    if (start_ms > f->start_max_ms)
        f->start_max_ms = start_ms;
    if (eos_err_ms > f->eos_err_max_ms)
        f->eos_err_max_ms = eos_err_ms;
    f->eos_in_window += s->eos_in_window;
    f->eos_total += s->eos;
    int ok = r->video > 0 && r->audio > 0 && fabs(fps - FILE_FPS) <= FILE_FPS * FPS_SLACK &&
             start_ms >= 0 && start_ms <= START_MAX_S * 1e3 && s->eos_in_window == 0 &&
             s->eos == 1 && eos_err_ms <= EOS_SLACK_S * 1e3;
    if (!ok)
        fprintf(stderr,
                "fluo-bench: client %d: video %llu pkts, %llu frames (%.1f/s), audio %llu pkts, "
                "first video %.0f ms after play, EndOfStream %d (%d within the %d s, %.0f ms "
                "from the file's end), position %lld ms\n",
                i, (unsigned long long)r->video, (unsigned long long)r->frames, fps,
                (unsigned long long)r->audio, start_ms, s->eos, s->eos_in_window, seconds,
                eos_err_ms, (long long)s->position_ms);
    return ok;
}

static int measure(wr_bench *b, play_session *ss, int n, int seconds, play_figs *f)
{
    wr_bench_run(b, WARMUP_S);
    wr_fwd_window(b, "play", "before", seconds / 2.0, &f->fwd);
    echo_sending(ss, n, 0);
    wr_bench_run(b, SETTLE_S);
    int rc = play_window(b, ss, n, seconds, f);
    if (rc < 0)
        return rc;
    echo_sending(ss, n, 1);
    wr_bench_run(b, SETTLE_S);
    wr_fwd_window(b, "play", "after", seconds / 2.0, &f->fwd);
    for (int i = 0; i < n; i++)
        f->clients_ok += (size_t)check_client(i, &ss[i], seconds, f);
    f->measured = 1;
    return 0;
}

static void report(const play_opts *o, const play_figs *f)
{
    double fwd = wr_fwd_cpu_us_per_pkt(&f->fwd);
    double play = f->play_pkts ? (double)f->play_cpu_us / (double)f->play_pkts : 0;
    wr_fwd_report("play", o->seconds, &f->fwd);
    printf("play phase=play seconds=%d file_s=%.3f received_pkts=%llu cpu_us=%llu fps_min=%.1f "
           "fps_max=%.1f start_max_ms=%.0f eos_in_window=%d eos=%d eos_err_max_ms=%.0f\n",
           o->seconds, f->file_s, (unsigned long long)f->play_pkts,
           (unsigned long long)f->play_cpu_us, f->fps_min, f->fps_max, f->start_max_ms,
           f->eos_in_window, f->eos_total, f->eos_err_max_ms);
    printf("play server=%s sessions=%d cpu_us_per_pkt=%.3f fwd_cpu_us_per_pkt=%.3f ratio=%.2f "
           "clients_ok=%zu\n",
           o->server_name, o->sessions, play, fwd, fwd > 0 ? play / fwd : 0.0, f->clients_ok);
    fflush(stdout);
}

static int run(wr_bench *b,
               const play_opts *o,
               play_session *ss,
               const char *path,
               const char *dir,
               play_figs *f)
{
    int rc = make_file(path, o->seconds + FILE_EXTRA);
    if (rc < 0)
        return rc;
    if ((f->file_s = file_duration(path)) <= 0) {
        fprintf(stderr, "fluo-bench: ffprobe cannot read %s\n", path);
        return FL_EIO;
    }
    if ((rc = fl_bench_kc_start_with(&kc, b, "playRoots", dir)) < 0) {
        fprintf(stderr, "fluo-bench: fluo did not start\n");
        return rc;
    }
    if ((rc = wr_bench_init(b, b->client_ip)) < 0)
        return rc;
    kc.pump = 1;
    if (fl_clip_vp8(&b->video, 640, 480, 30, 1000, 10, 1150) < 0 ||
        fl_clip_opus(&b->audio, 48, 10) < 0) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        return FL_EIO;
    }
    char uri[PATH_MAX + 16];
    snprintf(uri, sizeof(uri), "file://%s", path);
    for (int i = 0; i < o->sessions; i++) {
        if ((rc = echo_setup(b, &ss[i])) < 0 || (rc = view_setup(b, &ss[i], uri)) < 0) {
            fprintf(stderr, "fluo-bench: session %d: signalling with fluo failed\n", i);
            return rc;
        }
    }
    f->up = wr_bench_wait_connected(b, 20);
    if (f->up < b->npeers) {
        fprintf(stderr, "fluo-bench: %zu of %zu peer connections up\n", f->up, b->npeers);
        return FL_ETIMEDOUT;
    }
    return measure(b, ss, o->sessions, o->seconds, f);
}

int fl_bench_play_run(int argc, char **argv, const char *argv0)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    play_opts o;
    int st = wr_fluo_scenario_init(b, &o, "play", argc, argv, argv0);
    if (st < 0) {
        if (st == FL_EINVAL)
            fl_bench_play_usage(stderr);
        return 2;
    }
    char dir[] = "/tmp/fluo-bench-play-XXXXXX", path[sizeof(dir) + 16];
    play_session *ss = calloc((size_t)o.sessions, sizeof(*ss));
    if (!ss || !mkdtemp(dir)) {
        fprintf(stderr, "fluo-bench: no temporary folder: %s\n", strerror(errno));
        free(ss);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/play.webm", dir);
    play_figs f = { 0 };
    int rc = run(b, &o, ss, path, dir, &f);
    fl_bench_kc_stop_bench(&kc, b);
    unlink(path);
    if (rmdir(dir) < 0)
        fprintf(stderr, "fluo-bench: cannot remove %s: %s\n", dir, strerror(errno));
    if (f.measured)
        report(&o, &f);
    int status = rc == 0 && f.clients_ok == (size_t)o.sessions && f.fwd.pkts > 0 && f.play_pkts > 0
                         ? 0
                         : 1;
    wr_bench_deinit(b);
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    free(ss);
    return status;
}
