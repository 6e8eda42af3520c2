/* The RTSP client (engine/rtsp_src.c) against a real server nobody here
 * wrote: GStreamer's gst-rtsp-server (tests/interop/lib/rtsp_server.py, a
 * child process per test). ready() with H.264 (its sprop fmtp) and PCMU;
 * RTP of both streams at their rates over UDP, over interleaved TCP
 * (rtspt://) and by the fallback when the server refuses UDP; Basic and
 * Digest logins, a wrong password and none; a port with no server; close
 * in the middle of the stream (from a callback too), the loop closed
 * clean. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "codec/codec.h"
#include "engine/fluo.h"
#include "engine/player_src.h"

#define SERVER       "tests/interop/lib/rtsp_server.py"
#define WINDOW_MS    2000
#define MAX_TS       512
#define READY_WAIT   10000
#define FAIL_WAIT    10000
#define PACKETS_WAIT 8000

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Starts the server with its options; waits for its "PORT n" line. */
static void server_start(server *s, const char *const *opts)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *argv[16] = { "/usr/bin/python3", SERVER, "--port", "0", "--duration", "60" };
    size_t n = 6;
    for (size_t i = 0; opts && opts[i]; i++)
        argv[n++] = opts[i];
    argv[n] = NULL;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[64];
    size_t len = 0;
    while (len + 1 < sizeof line) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        assert_true(poll(&p, 1, 15000) == 1);
        ssize_t r = read(fds[0], line + len, 1);
        assert_true(r == 1);
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    assert_int_equal(sscanf(line, "PORT %d", &s->port), 1);
}

static void server_stop(server *s)
{
    kill(s->pid, SIGTERM);
    int st;
    waitpid(s->pid, &st, 0);
}

typedef struct per_stream {
    size_t packets;
    size_t in_window; /* packets that arrived in the window */
    uint64_t first_ms;
    uint32_t ts[MAX_TS]; /* distinct timestamps that began in the window */
    size_t nts;
    size_t key_frames;
} per_stream;

typedef struct ctx {
    uv_loop_t loop;
    uv_timer_t wake;
    fl__rtsp *r;
    int ready;
    fl__rtsp_stream streams[FL__RTSP_MAX_STREAMS];
    size_t n;
    char skipped[256];
    int failed;
    int status;
    char why[512];
    int ended;
    size_t srs;
    per_stream st[FL__RTSP_MAX_STREAMS];
    int closed;          /* fl__rtsp_close was called: no callback after */
    size_t close_at_rtp; /* close from inside rtp() at this packet (0: never) */
    size_t rtps;
} ctx;

static void on_ready(void *arg, const fl__rtsp_stream *streams, size_t n, const char *skipped)
{
    ctx *c = arg;
    assert_false(c->closed);
    assert_false(c->ready);
    c->ready = 1;
    c->n = n;
    memcpy(c->streams, streams, n * sizeof *streams);
    snprintf(c->skipped, sizeof c->skipped, "%s", skipped);
}

static void on_rtp(void *arg, size_t i, const uint8_t *data, size_t len)
{
    ctx *c = arg;
    assert_false(c->closed);
    assert_true(i < c->n);
    assert_true(len >= 12);
    per_stream *p = &c->st[i];
    uint64_t now = uv_now(&c->loop);
    if (p->packets++ == 0)
        p->first_ms = now;
    c->rtps++;
    if (now - p->first_ms < WINDOW_MS) {
        p->in_window++;
        uint32_t ts = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 |
                      data[7];
        if ((p->nts == 0 || p->ts[p->nts - 1] != ts) && p->nts < MAX_TS)
            p->ts[p->nts++] = ts;
        size_t hl = 12 + 4 * (size_t)(data[0] & 15);
        if (c->streams[i].media == FL_MEDIA_VIDEO && len > hl &&
            fl_codec_key_frame_start(fl_codec_kind_of(c->streams[i].codec.name), data + hl,
                                     len - hl))
            p->key_frames++;
    }
    if (c->close_at_rtp && c->rtps == c->close_at_rtp) {
        fl__rtsp_close(c->r);
        c->closed = 1;
    }
}

static void on_sr(void *arg, size_t i, uint32_t rtp_ts, uint64_t ntp)
{
    ctx *c = arg;
    (void)rtp_ts;
    assert_false(c->closed);
    assert_true(i < c->n);
    assert_true(ntp != 0);
    c->srs++;
}

static void on_ended(void *arg)
{
    ctx *c = arg;
    assert_false(c->closed);
    c->ended = 1;
}

static void on_failed(void *arg, int status, const char *why)
{
    ctx *c = arg;
    assert_false(c->closed);
    assert_false(c->failed);
    c->failed = 1;
    c->status = status;
    snprintf(c->why, sizeof c->why, "%s", why);
}

static const fl__rtsp_cb cbs = { on_ready, on_rtp, on_sr, on_ended, on_failed };

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

static void ctx_init(ctx *c)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    uv_timer_init(&c->loop, &c->wake);
    uv_timer_start(&c->wake, on_wake, 20, 20);
}

/* Runs the loop until *flag is set or ms pass. */
static void run_until(ctx *c, const int *flag, uint64_t ms)
{
    uint64_t end = uv_now(&c->loop) + ms;
    while (!*flag && uv_now(&c->loop) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
}

static void run_for(ctx *c, uint64_t ms)
{
    int never = 0;
    run_until(c, &never, ms);
}

/* Closes what is left and checks the loop ends with nothing open. */
static void ctx_finish(ctx *c)
{
    if (!c->closed && c->r)
        fl__rtsp_close(c->r);
    c->closed = 1;
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

/* Opens prefix + "127.0.0.1:<port>/test" (prefix: scheme and credentials). */
static void open_url(ctx *c, const char *prefix, int port, fl__rtsp_transport t)
{
    char url[256];
    snprintf(url, sizeof url, "%s127.0.0.1:%d/test", prefix, port);
    assert_int_equal(fl__rtsp_open(&c->r, &c->loop, url, t, &cbs, c), 0);
    /* nothing comes from within the call */
    assert_false(c->ready || c->failed);
}

static void check_ready(ctx *c)
{
    run_until(c, &c->ready, READY_WAIT);
    if (c->failed)
        fail_msg("failed: %s", c->why);
    assert_true(c->ready);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->skipped, "");
    assert_int_equal(c->streams[0].media, FL_MEDIA_VIDEO);
    assert_string_equal(c->streams[0].codec.name, "H264");
    assert_int_equal(c->streams[0].codec.clock_rate, 90000);
    assert_int_equal(c->streams[0].codec.pt, 96);
    assert_non_null(strstr(c->streams[0].codec.fmtp, "sprop-parameter-sets="));
    assert_non_null(strstr(c->streams[0].codec.fmtp, "packetization-mode=1"));
    assert_int_equal(c->streams[1].media, FL_MEDIA_AUDIO);
    assert_string_equal(c->streams[1].codec.name, "PCMU");
    assert_int_equal(c->streams[1].codec.clock_rate, 8000);
}

/* PLAY, then RTP of both streams over a 2 s window from each stream's
 * first packet: about 30 distinct video timestamps a second with key
 * frames, and PCMU's 20 ms packets (about 50 a second). */
static void check_play(ctx *c)
{
    assert_int_equal(fl__rtsp_play(c->r), 0);
    uint64_t end = uv_now(&c->loop) + PACKETS_WAIT;
    while (!c->failed && uv_now(&c->loop) < end) {
        uv_run(&c->loop, UV_RUN_ONCE);
        uint64_t now = uv_now(&c->loop);
        if (c->st[0].packets && c->st[1].packets && now - c->st[0].first_ms > WINDOW_MS + 100 &&
            now - c->st[1].first_ms > WINDOW_MS + 100)
            break;
    }
    if (c->failed)
        fail_msg("failed: %s", c->why);
    per_stream *v = &c->st[0], *a = &c->st[1];
    printf("video: %zu packets, %zu frames, %zu key frames in 2 s; audio: %zu packets; %zu SRs\n",
           v->in_window, v->nts, v->key_frames, a->in_window, c->srs);
    assert_in_range(v->nts, 50, 70);
    assert_true(v->key_frames >= 1);
    assert_in_range(a->in_window, 80, 120);
    /* timestamps advance at the clock rates: 2 s of video, 2 s of audio */
    uint32_t vspan = v->ts[v->nts - 1] - v->ts[0];
    assert_in_range(vspan, 150000, 190000);
    uint32_t aspan = a->ts[a->nts - 1] - a->ts[0];
    assert_in_range(aspan, 14000, 17000);
    /* the server's Sender Reports (rtpbin sends one every few seconds) */
    uint64_t sr_end = uv_now(&c->loop) + 6000;
    while (!c->failed && c->srs == 0 && uv_now(&c->loop) < sr_end)
        uv_run(&c->loop, UV_RUN_ONCE);
    assert_true(c->srs >= 1);
    /* a key frame request goes to the video stream only */
    assert_int_equal(fl__rtsp_request_key_frame(c->r, 0), 0);
    assert_int_equal(fl__rtsp_request_key_frame(c->r, 1), FL_ENOTSUP);
    assert_int_equal(fl__rtsp_request_key_frame(c->r, 7), FL_ENOTSUP);
}

static void test_udp(void **state)
{
    (void)state;
    static const char *const opts[] = { "--protocols", "udp", NULL };
    server s;
    server_start(&s, opts);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, "rtsp://", s.port, FL__RTSP_UDP);
    assert_int_equal(fl__rtsp_play(c->r), FL_ESTATE);
    check_ready(c);
    check_play(c);
    ctx_finish(c);
    free(c);
    server_stop(&s);
}

static void test_tcp(void **state)
{
    (void)state;
    static const char *const opts[] = { "--protocols", "tcp", NULL };
    server s;
    server_start(&s, opts);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, "rtspt://", s.port, FL__RTSP_UDP);
    check_ready(c);
    check_play(c);
    ctx_finish(c);
    free(c);
    server_stop(&s);
}

/* rtsp:// (UDP first) to a server that serves TCP only: 461, then TCP. */
static void test_udp_refused_fallback(void **state)
{
    (void)state;
    static const char *const opts[] = { "--protocols", "tcp", NULL };
    server s;
    server_start(&s, opts);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, "rtsp://", s.port, FL__RTSP_UDP);
    check_ready(c);
    check_play(c);
    ctx_finish(c);
    free(c);
    server_stop(&s);
}

static void login(const char *scheme, const char *url, int want_status)
{
    const char *const opts[] = { "--auth", scheme, "--user", "cam", "--password", "s3cret", NULL };
    server s;
    server_start(&s, opts);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, url, s.port, FL__RTSP_UDP);
    if (want_status == 0) {
        check_ready(c);
    } else {
        run_until(c, &c->failed, FAIL_WAIT);
        assert_true(c->failed);
        assert_false(c->ready);
        assert_int_equal(c->status, want_status);
        char want[128];
        snprintf(want, sizeof want, "RTSP server 127.0.0.1:%d refused the login (401 Unauthorized)",
                 s.port);
        assert_string_equal(c->why, want);
    }
    ctx_finish(c);
    free(c);
    server_stop(&s);
}

static void test_digest(void **state)
{
    (void)state;
    login("digest", "rtsp://cam:s3cret@", 0);
    login("digest", "rtsp://cam:wrong@", FL_EAUTH);
    login("digest", "rtsp://", FL_EAUTH);
}

static void test_basic(void **state)
{
    (void)state;
    login("basic", "rtsp://cam:s3cret@", 0);
    login("basic", "rtsp://cam:nope@", FL_EAUTH);
}

static void test_no_server(void **state)
{
    (void)state;
    /* a port nobody listens on: bound, then released */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, "rtsp://", ntohs(sa.sin_port), FL__RTSP_UDP);
    run_until(c, &c->failed, FAIL_WAIT);
    assert_true(c->failed);
    assert_int_equal(c->status, FL_EIO);
    char want[64];
    snprintf(want, sizeof want, "RTSP server 127.0.0.1:%d", ntohs(sa.sin_port));
    assert_non_null(strstr(c->why, want));
    ctx_finish(c);
    free(c);

    fl__rtsp *r = NULL;
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(fl__rtsp_open(&r, &loop, "http://127.0.0.1/x", FL__RTSP_UDP, &cbs, NULL),
                     FL_EINVAL);
    assert_int_equal(fl__rtsp_open(&r, &loop, "rtsp://:80/x", FL__RTSP_UDP, &cbs, NULL), FL_EINVAL);
    assert_null(r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Closing while packets flow: from outside, and from inside rtp(); then
 * no callback, and the loop closes clean (ASan sees no leak). Closing
 * while connecting too. */
static void test_close_mid_stream(void **state)
{
    (void)state;
    static const char *const opts[] = { "--protocols", "both", NULL };
    server s;
    server_start(&s, opts);
    for (int variant = 0; variant < 3; variant++) {
        ctx *c = calloc(1, sizeof *c);
        ctx_init(c);
        open_url(c, variant == 1 ? "rtspt://" : "rtsp://", s.port, FL__RTSP_UDP);
        if (variant == 2) {
            run_for(c, 1); /* resolving or connecting */
            ctx_finish(c);
            assert_false(c->ready);
            free(c);
            continue;
        }
        check_ready(c);
        c->close_at_rtp = variant == 1 ? 40 : 0;
        assert_int_equal(fl__rtsp_play(c->r), 0);
        int got = 0;
        uint64_t end = uv_now(&c->loop) + PACKETS_WAIT;
        while (!c->failed && !c->closed && uv_now(&c->loop) < end) {
            uv_run(&c->loop, UV_RUN_ONCE);
            got = c->rtps >= 40;
            if (got && variant == 0)
                break;
        }
        assert_true(c->rtps >= 40);
        size_t at_close = c->rtps;
        ctx_finish(c);
        assert_int_equal(c->rtps, at_close);
        free(c);
    }
    server_stop(&s);
}

/* The server goes away after PLAY (its process ends and the connection
 * with it): ended(), not failed(). */
static void test_server_ends(void **state)
{
    (void)state;
    static const char *const opts[] = { "--protocols", "tcp", "--duration", "2", NULL };
    server s;
    server_start(&s, opts);
    ctx *c = calloc(1, sizeof *c);
    ctx_init(c);
    open_url(c, "rtspt://", s.port, FL__RTSP_TCP);
    check_ready(c);
    assert_int_equal(fl__rtsp_play(c->r), 0);
    run_until(c, &c->ended, 8000);
    assert_true(c->ended);
    assert_false(c->failed);
    assert_true(c->st[0].packets > 0);
    ctx_finish(c);
    free(c);
    server_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_udp_refused_fallback),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_close_mid_stream),
        cmocka_unit_test(test_server_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
