/* `fluo-bench echo|one2many|room --server fluo|janus|floor --sessions N
 * --seconds S`: WebRTC load against a server, measured as the server's CPU
 * time per forwarded packet, with loss, latency and memory per session.
 *
 * What it counts cannot flatter the server:
 * - loss from the senders' side: every packet a peer sent inside the
 *   window times the peers that should have received it, against those of
 *   them that came (a viewer that never connected loses all of its share);
 * - a peer that did not connect, a receiver short of a stream, or a stream
 *   that stalls (no packet for 2 s once it had started) fails the run: a
 *   line naming the peer, the record with pass=0, exit status 1;
 * - a step passes (pass=1) only with loss <= 1%, p99 latency <= 50 ms and
 *   the delivered rate no more than the offered one;
 * - the server's CPU (cpu_us_per_pkt) is its process's user+sys time plus,
 *   when it is pinned (--server-cpu: one core, a list or "all"), the hard
 *   and soft interrupt time of the cores it is pinned to, summed from
 *   /proc/stat: loopback and veth deliver a packet in the softirq of the
 *   core that sent it, and the part of that work run outside the
 *   server's own context (ksoftirqd, a core woken from idle) is charged
 *   to no process. proc_us_per_pkt is the process's time alone. What the
 *   softirq columns cannot tell apart:
 *   . they count every softirq of those cores: a core the server shares
 *     with the client (--server-cpu 0-1 beside a client on core 0) adds
 *     the delivery of the client's own sends, and any other process's
 *     network work on those cores counts as well;
 *   . on a kernel with tick-based accounting (no IRQ_TIME_ACCOUNTING, as
 *     on the 2-core machine of bench/results.md), a tick that lands in a
 *     softirq run in the server's own context (much of a veth send's
 *     delivery, run as its sendmmsg ends) is counted both in the
 *     process's stime and in the core's softirq column: one2many, 100
 *     viewers, fluo alone on core 1 showed that core busy 1.06 s in 5 s
 *     while fluo had 0.90 s and the softirq column 0.35 s, so at least
 *     half of the column was fluo's time already.
 *   So cpu_us_per_pkt is an upper bound of the server's cost and
 *   proc_us_per_pkt a lower one (it misses the softirq run outside its
 *   context); each is computed the same way for every --server-cpu, so
 *   runs with the same --server-cpu compare like with like;
 * - against fluo, the CPU time of each worker thread ("fluo-worker-N",
 *   /proc/PID/task/TID/stat) over the window, as worker_cpu_us and as its
 *   share of the workers' total (worker_share, by worker index); the
 *   other threads (the main thread "fluo": signalling, logs) as
 *   other_cpu_us. A thread that exits within the window is left out, and
 *   a thread a worker starts takes its name (libuv's pool, which these
 *   scenarios do not use).
 * The media is a camera's: VP8 640x480 30 fps at --kbps on average, a key
 * frame every KEY_S seconds and on PLI/FIR, each frame's packets sent in
 * one burst at its time, and Opus. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/janus.h"
#include "bench/wr.h"

#define WARMUP_S   2.0
#define GRACE_S    0.5   /* after the window: its packets still in flight */
#define KEY_S      3     /* the clip's length: a key frame starts each loop */
#define KEY_BYTES  40000 /* a camera's key frame at 640x480 */
#define MAX_LOSS   1.0   /* % */
#define MAX_P99_MS 50.0

void fl_bench_webrtc_usage(FILE *out)
{
    fprintf(out, "  echo|one2many|room --server fluo|janus|floor --sessions N --seconds S\n"
                 "        [--fluo-bin PATH] [--workers N] [--kbps 1000] [--net lo|veth]\n"
                 "        [--server-cpu N|A-B|LIST|all]\n"
                 "        WebRTC load: N sessions publishing VP8 640x480 30 fps at --kbps\n"
                 "        (a key frame every 3 s and on PLI, each frame's packets in one\n"
                 "        burst) + Opus in real time and receiving it back. echo: each\n"
                 "        endpoint loops to itself; one2many: one publisher, N viewers;\n"
                 "        room: N participants each receiving the others. --net veth: the\n"
                 "        server in a namespace behind a veth pair, as Janus always is;\n"
                 "        --server-cpu: the server pinned to those cores (\"0-1\", \"all\"),\n"
                 "        their softirq time counted as the server's. Exit 1 when a peer\n"
                 "        does not connect or a stream stalls (2 s). Once connected:\n"
                 "        SCENARIO phase=connected server=NAME pid=N peers=N connected=N.\n"
                 "        Last line: SCENARIO server=NAME sessions=N fwd_pps=X\n"
                 "        offered_pps=X cpu_us_per_pkt=X proc_us_per_pkt=X proc_cpu_us=N\n"
                 "        irq_us=N cores_used=X streams=N streams_per_core=X loss_pct=X\n"
                 "        p50_ms=X p99_ms=X rss_kb_per_session=X video_kbps=X key_frames=N\n"
                 "        key_frame_bytes=N [workers=N worker_share=X,.. worker_cpu_us=N,..\n"
                 "        other_cpu_us=N (fluo)] unconnected=N stalls=N pass=0|1\n");
}

/* A peer made for the scenario, with who receives what it sends. */
static int new_peer(wr_bench *b, int offerer, const char *role, int subs, int streams, wr_peer **p)
{
    int rc = wr_peer_create(b, offerer, p);
    if (rc == 0) {
        (*p)->role = role;
        (*p)->subscribers = subs;
        (*p)->expect_streams = streams;
    }
    return rc;
}

static int setup_scenario(wr_bench *b)
{
    wr_server *s = b->server;
    int offerer_views = s != &fl_wr_server_janus; /* Janus offers to subscribers */
    wr_peer *p;
    int rc = 0;
    if (strcmp(b->scenario, "echo") == 0) {
        for (int i = 0; i < b->sessions && rc == 0; i++) {
            if ((rc = new_peer(b, 1, "echo", 1, 2, &p)) == 0)
                rc = s->echo(b, p);
        }
        return rc;
    }
    if (strcmp(b->scenario, "one2many") == 0) {
        void *pub = NULL;
        if ((rc = new_peer(b, 1, "publisher", b->sessions, 0, &p)) == 0)
            rc = s->publish(b, p, &pub);
        wr_bench_wait_connected(b, 20); /* Janus takes subscribers of live feeds only */
        for (int i = 0; i < b->sessions && rc == 0; i++) {
            if ((rc = new_peer(b, offerer_views, "viewer", 0, 2, &p)) == 0)
                rc = s->view(b, p, pub);
        }
        return rc;
    }
    /* room: each participant publishes and views every other one */
    void **pubs = calloc((size_t)b->sessions, sizeof(*pubs));
    if (!pubs)
        return FL_ENOMEM;
    for (int i = 0; i < b->sessions && rc == 0; i++) {
        if ((rc = new_peer(b, 1, "participant", b->sessions - 1, 0, &p)) == 0)
            rc = s->publish(b, p, &pubs[i]);
    }
    wr_bench_wait_connected(b, 20);
    for (int i = 0; i < b->sessions && rc == 0; i++) {
        for (int j = 0; j < b->sessions && rc == 0; j++) {
            if (i == j)
                continue;
            if ((rc = new_peer(b, offerer_views, "participant's view", 0, 2, &p)) == 0)
                rc = s->view(b, p, pubs[j]);
        }
    }
    free(pubs); /* the handles themselves stay with the driver's objects */
    return rc;
}

static int parse_args(wr_bench *b, int argc, char **argv)
{
    const char *net = "lo", *cpus = NULL;
    const wr_arg args[] = {
        { "--server", NULL, &b->server_name },
        { "--sessions", &b->sessions, NULL },
        { "--seconds", &b->seconds, NULL },
        { "--fluo-bin", NULL, &b->fluo_bin },
        { "--workers", &b->workers, NULL },
        { "--kbps", &b->kbps, NULL },
        { "--net", NULL, &net },
        { "--server-cpu", NULL, &cpus },
        { NULL, NULL, NULL },
    };
    if (wr_args_parse(args, argc, argv) < 0)
        return FL_EINVAL;
    if (b->sessions < 1 || b->sessions > 5000 || b->seconds < 1 || b->seconds > 3600 ||
        b->kbps < 100 || b->kbps > 20000)
        return FL_EINVAL;
    if (cpus && wr_cpu_list_parse(cpus, &b->server_cpus) < 0)
        return FL_EINVAL;
    if (strcmp(net, "lo") != 0 && strcmp(net, "veth") != 0)
        return FL_EINVAL;
    b->veth = strcmp(net, "veth") == 0;
    return 0;
}

static void pin_server(wr_bench *b)
{
    if (b->server_cpus && b->pid > 0 && wr_pin_process(b->pid, b->server_cpus) < 0)
        fprintf(stderr, "fluo-bench: cannot pin the server to cores %#llx\n",
                (unsigned long long)b->server_cpus);
}

/* Streams forwarded: one per receiving peer (audio + video of one feed). */
static long streams_of(const wr_bench *b)
{
    if (strcmp(b->scenario, "room") == 0)
        return (long)b->sessions * (b->sessions - 1);
    return b->sessions;
}

static size_t key_bytes_of(const fl_clip *c)
{
    size_t n = 0, bytes = 0;
    while (c && n < c->n && c->pkts[n].ts == c->pkts[0].ts)
        bytes += c->pkts[n++].len;
    return bytes;
}

/* Against fluo: " workers=N worker_share=X,.. worker_cpu_us=N,..
 * other_cpu_us=N" for the window between the readings from and to, in
 * line[cap]; "" for any other server. */
static void workers_fields(const wr_bench *b,
                           const wr_threads *from,
                           const wr_threads *to,
                           char *line,
                           size_t cap)
{
    line[0] = '\0';
    if (b->server != &fl_wr_server_fluo)
        return;
    wr_worker_cpu w;
    wr_threads_diff(from, to, &w);
    uint64_t total = 0;
    for (int i = 0; i < w.nworkers; i++)
        total += w.worker_us[i];
    char share[WR_MAX_WORKERS * 6 + 8] = "", us[WR_MAX_WORKERS * 21 + 8] = "";
    size_t ns = 0, nu = 0;
    for (int i = 0; i < w.nworkers; i++) {
        const char *sep = i ? "," : "";
        double f = total ? (double)w.worker_us[i] / (double)total : 0.0;
        ns += (size_t)snprintf(share + ns, sizeof(share) - ns, "%s%.2f", sep, f);
        nu += (size_t)snprintf(us + nu, sizeof(us) - nu, "%s%llu", sep,
                               (unsigned long long)w.worker_us[i]);
    }
    snprintf(line, cap, " workers=%d worker_share=%s worker_cpu_us=%s other_cpu_us=%llu",
             w.nworkers, w.nworkers && total ? share : "none", w.nworkers ? us : "none",
             (unsigned long long)w.other_us);
}

/* The measured window and its record line; 1 when the step passes. */
static int measure(wr_bench *b, uint64_t rss0, size_t unconnected)
{
    uint64_t cpu0 = 0, cpu1 = 0, irq0 = 0, irq1 = 0, expected = 0, received = 0, rss1 = 0;
    wr_threads th0 = { 0 }, th1 = { 0 };
    pin_server(b); /* again: threads made during the signalling */
    wr_proc_cpu_us(b->pid, &cpu0);
    wr_threads_read(b->pid, &th0);
    if (b->server_cpus)
        wr_cpu_irq_us(b->server_cpus, &irq0);
    fl_time t0 = fl_time_now();
    wr_bench_window_start(b);
    wr_bench_run(b, b->seconds);
    /* the receivers' count is replaced by the senders' below; a window cut
     * short by a stall lasts ~0 s */
    wr_bench_window_end(b, &expected, &received);
    double secs = (double)(fl_time_now() - t0) / 1e6 + 1e-6;
    wr_proc_cpu_us(b->pid, &cpu1);
    wr_threads_read(b->pid, &th1);
    if (b->server_cpus)
        wr_cpu_irq_us(b->server_cpus, &irq1);
    wr_proc_rss_kb(b->pid, &rss1);
    char workers[WR_MAX_WORKERS * 27 + 96];
    workers_fields(b, &th0, &th1, workers, sizeof(workers));
    wr_threads_free(&th0);
    wr_threads_free(&th1);
    wr_bench_sender_loss(b, GRACE_S, &expected, &received);
    double loss = wr_loss_pct(expected, received);
    wr_sort(b->lat_ms, b->nlat);
    double p50 = wr_percentile(b->lat_ms, b->nlat, 0.5);
    double p99 = wr_percentile(b->lat_ms, b->nlat, 0.99);
    uint64_t cpu = (cpu1 - cpu0) + (irq1 - irq0);
    double cores = secs > 0 ? (double)cpu / (secs * 1e6) : 0;
    long streams = streams_of(b);
    double kbps =
            b->video ? (double)b->video->bytes * 8.0 / ((double)b->video->duration_us / 1e3) : 0;
    uint64_t keys = 0;
    for (size_t i = 0; i < b->npeers; i++)
        keys += b->peers[i]->tx[1].key_frames;
    int pass = !b->aborted && unconnected == 0 && b->stalls == 0 && received > 0 &&
               received <= expected && loss <= MAX_LOSS && p99 <= MAX_P99_MS;
    printf("%s server=%s sessions=%d fwd_pps=%.0f offered_pps=%.0f cpu_us_per_pkt=%.3f "
           "proc_us_per_pkt=%.3f proc_cpu_us=%llu irq_us=%llu cores_used=%.3f streams=%ld "
           "streams_per_core=%.0f loss_pct=%.2f p50_ms=%.2f p99_ms=%.2f rss_kb_per_session=%.0f "
           "video_kbps=%.0f key_frames=%llu key_frame_bytes=%zu%s unconnected=%zu stalls=%zu "
           "pass=%d\n",
           b->scenario, b->server_name, b->sessions, (double)received / secs,
           (double)expected / secs, received ? (double)cpu / (double)received : 0.0,
           received ? (double)(cpu1 - cpu0) / (double)received : 0.0,
           (unsigned long long)(cpu1 - cpu0), (unsigned long long)(irq1 - irq0), cores, streams,
           cores > 0 ? (double)streams / cores : 0.0, loss, p50, p99,
           rss1 > rss0 ? (double)(rss1 - rss0) / (double)b->sessions : 0.0, kbps,
           (unsigned long long)keys, key_bytes_of(b->video), workers, unconnected, b->stalls, pass);
    fflush(stdout);
    return pass;
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
    b->kbps = 1000;
    b->fluo_bin = wr_default_fluo_bin(argv0);
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
    fl_bench_netns net = { 0 };
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    if (b->server == &fl_wr_server_janus)
        b->veth = 1; /* Janus's driver makes the namespace itself */
    snprintf(b->client_ip, sizeof(b->client_ip), "%s",
             b->veth ? FL_BENCH_NETNS_CLIENT_IP : "127.0.0.1");
    snprintf(b->server_ip, sizeof(b->server_ip), "%s",
             b->veth ? FL_BENCH_NETNS_SERVER_IP : "127.0.0.1");
    if (b->veth && b->server != &fl_wr_server_janus && fl_bench_netns_up(&net) < 0) {
        fprintf(stderr, "fluo-bench: FAILED: no namespace for --net veth (root needed)\n");
        goto stop;
    }
    if (b->server->start(b) < 0) {
        fprintf(stderr, "fluo-bench: FAILED: the %s server did not start\n", b->server_name);
        goto stop;
    }
    pin_server(b);
    if (wr_bench_init(b, b->client_ip) < 0)
        goto stop;
    size_t key_bytes = (size_t)b->kbps * KEY_S * 1000 / 8 / 4; /* a quarter of the budget at most */
    if (key_bytes > KEY_BYTES)
        key_bytes = KEY_BYTES;
    if (wr_camera_clip(&b->video, b->kbps, KEY_S, key_bytes) < 0 ||
        fl_clip_opus(&b->audio, 48, 10) < 0) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        goto stop;
    }
    uint64_t rss0 = 0;
    wr_proc_rss_kb(b->pid, &rss0);
    if (setup_scenario(b) < 0) {
        fprintf(stderr, "fluo-bench: FAILED: signalling with %s failed\n", b->server_name);
        goto stop;
    }
    size_t up = wr_bench_wait_connected(b, 20);
    wr_bench_watch_stalls(b);
    printf("%s phase=connected server=%s pid=%d peers=%zu connected=%zu\n", scenario,
           b->server_name, (int)b->pid, b->npeers, up);
    fflush(stdout);
    wr_bench_run(b, WARMUP_S);
    size_t unconnected = wr_bench_check_peers(b);
    int pass = measure(b, rss0, unconnected);
    if (b->fail[0]) {
        fprintf(stderr, "fluo-bench: %s against %s with %d sessions FAILED: %s\n", scenario,
                b->server_name, b->sessions, b->fail);
    } else {
        status = 0;
        if (!pass)
            fprintf(stderr, "fluo-bench: %s against %s with %d sessions: step not passed\n",
                    scenario, b->server_name, b->sessions);
    }
stop:
    b->server->stop(b);
    wr_bench_deinit(b);
    fl_bench_netns_down(&net);
    wr_camera_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    return status;
}
