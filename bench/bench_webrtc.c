/* `fluo-bench echo|one2many|room --server fluo|janus|floor --sessions N
 * --seconds S`: WebRTC load against a server, measured as the server's CPU
 * time per forwarded packet, with loss, latency and memory per session. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/wr.h"

#define WARMUP_S 2.0

void fl_bench_webrtc_usage(FILE *out)
{
    fprintf(out, "  echo|one2many|room --server fluo|janus|floor --sessions N --seconds S\n"
                 "        [--fluo-bin PATH] [--workers N] [--kbps 1000]\n"
                 "        WebRTC load: N sessions publishing VP8 640x480 ~1 Mbit/s 30 fps +\n"
                 "        Opus in real time and receiving it back. echo: each endpoint\n"
                 "        loops to itself; one2many: one publisher, N viewers; room: N\n"
                 "        participants each receiving the others. Last line: SCENARIO\n"
                 "        server=NAME sessions=N fwd_pps=X cpu_us_per_pkt=X loss_pct=X\n"
                 "        p50_ms=X p99_ms=X rss_kb_per_session=X\n");
}

static int setup_scenario(wr_bench *b)
{
    wr_server *s = b->server;
    wr_peer *p;
    int rc = 0;
    if (strcmp(b->scenario, "echo") == 0) {
        for (int i = 0; i < b->sessions && rc == 0; i++) {
            if ((rc = wr_peer_create(b, 1, &p)) == 0)
                rc = s->echo(b, p);
        }
        return rc;
    }
    if (strcmp(b->scenario, "one2many") == 0) {
        void *pub = NULL;
        if ((rc = wr_peer_create(b, 1, &p)) == 0)
            rc = s->publish(b, p, &pub);
        wr_bench_wait_connected(b, 20); /* Janus takes subscribers of live feeds only */
        for (int i = 0; i < b->sessions && rc == 0; i++) {
            if ((rc = wr_peer_create(b, s != &fl_wr_server_janus, &p)) == 0)
                rc = s->view(b, p, pub);
        }
        return rc;
    }
    /* room: each participant publishes and views every other one */
    void **pubs = calloc((size_t)b->sessions, sizeof(*pubs));
    if (!pubs)
        return FL_ENOMEM;
    for (int i = 0; i < b->sessions && rc == 0; i++) {
        if ((rc = wr_peer_create(b, 1, &p)) == 0)
            rc = s->publish(b, p, &pubs[i]);
    }
    wr_bench_wait_connected(b, 20);
    for (int i = 0; i < b->sessions && rc == 0; i++) {
        for (int j = 0; j < b->sessions && rc == 0; j++) {
            if (i == j)
                continue;
            if ((rc = wr_peer_create(b, s != &fl_wr_server_janus, &p)) == 0)
                rc = s->view(b, p, pubs[j]);
        }
    }
    free(pubs); /* the handles themselves stay with the driver's objects */
    return rc;
}

static int parse_args(wr_bench *b, int argc, char **argv)
{
    const wr_arg args[] = {
        { "--server", NULL, &b->server_name }, { "--sessions", &b->sessions, NULL },
        { "--seconds", &b->seconds, NULL },    { "--fluo-bin", NULL, &b->fluo_bin },
        { "--workers", &b->workers, NULL },    { NULL, NULL, NULL },
    };
    if (wr_args_parse(args, argc, argv) < 0)
        return FL_EINVAL;
    if (b->sessions < 1 || b->sessions > 5000 || b->seconds < 1 || b->seconds > 3600)
        return FL_EINVAL;
    return 0;
}

int fl_bench_webrtc_run(const char *scenario, int argc, char **argv, const char *argv0)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    memset(b, 0, sizeof(*b));
    b->scenario = scenario;
    b->server_name = "fluo";
    b->sessions = 10;
    b->seconds = 10;
    const char *fluo_path = wr_default_fluo_bin(argv0);
    b->fluo_bin = fluo_path;
    if (parse_args(b, argc, argv) < 0) {
        fl_bench_webrtc_usage(stderr);
        return 2;
    }
    if (strcmp(b->server_name, "fluo") == 0)
        b->server = &fl_wr_server_fluo;
    else if (strcmp(b->server_name, "floor") == 0)
        b->server = &fl_wr_server_floor;
    else if (strcmp(b->server_name, "janus") == 0)
        b->server = &fl_wr_server_janus;
    else {
        fl_bench_webrtc_usage(stderr);
        return 2;
    }
    int status = 1;
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    /* the server starts first: Janus decides the client's address */
    snprintf(b->client_ip, sizeof(b->client_ip), "127.0.0.1");
    if (b->server->start(b) < 0) {
        fprintf(stderr, "fluo-bench: the %s server did not start\n", b->server_name);
        goto stop;
    }
    if (wr_bench_init(b, b->client_ip) < 0)
        goto stop;
    if (fl_clip_vp8(&b->video, 640, 480, 30, 1000, 10, 1150) < 0 ||
        fl_clip_opus(&b->audio, 48, 10) < 0) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        goto stop;
    }
    uint64_t rss0 = 0, rss1 = 0;
    wr_proc_rss_kb(b->pid, &rss0);
    if (setup_scenario(b) < 0) {
        fprintf(stderr, "fluo-bench: signalling with %s failed\n", b->server_name);
        goto stop;
    }
    size_t up = wr_bench_wait_connected(b, 20);
    if (up < b->npeers)
        fprintf(stderr, "fluo-bench: %zu of %zu peer connections up\n", up, b->npeers);
    wr_bench_run(b, WARMUP_S);
    uint64_t cpu0 = 0, cpu1 = 0, expected = 0, received = 0;
    wr_proc_cpu_us(b->pid, &cpu0);
    fl_time t0 = fl_time_now();
    wr_bench_window_start(b);
    wr_bench_run(b, b->seconds);
    wr_bench_window_end(b, &expected, &received);
    double secs = (double)(fl_time_now() - t0) / 1e6;
    wr_proc_cpu_us(b->pid, &cpu1);
    wr_proc_rss_kb(b->pid, &rss1);
    uint64_t fwd = b->win_rx;
    double loss = wr_loss_pct(expected, received);
    wr_sort(b->lat_ms, b->nlat);
    printf("%s server=%s sessions=%d fwd_pps=%.0f cpu_us_per_pkt=%.3f loss_pct=%.2f p50_ms=%.2f "
           "p99_ms=%.2f rss_kb_per_session=%.0f\n",
           scenario, b->server_name, b->sessions, (double)fwd / secs,
           fwd ? (double)(cpu1 - cpu0) / (double)fwd : 0.0, loss,
           wr_percentile(b->lat_ms, b->nlat, 0.5), wr_percentile(b->lat_ms, b->nlat, 0.99),
           rss1 > rss0 ? (double)(rss1 - rss0) / (double)b->sessions : 0.0);
    fflush(stdout);
    status = up == b->npeers && fwd > 0 ? 0 : 1;
stop:
    b->server->stop(b);
    wr_bench_deinit(b);
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    return status;
}
