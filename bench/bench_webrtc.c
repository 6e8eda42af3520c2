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
 * one burst at its time, and Opus.
 *
 * Simulcast (`one2many --simulcast 1`, and `simulcast`, which runs it
 * against plain one2many in alternating rounds): the publisher sends three
 * such clips at three sizes as SSRC simulcast, and the viewers, by thirds,
 * are capped so that the server should forward each third one layer. A
 * packet's trailer names its layer, so what a viewer got says which layer
 * it was on whatever the server rewrote; the loss counts a layer's packets
 * once per viewer found on it. A server that forwards anything but one
 * layer per viewer (fluo before it chose layers forwarded all three to
 * everyone) fails the split check, and `simulcast` then gives no ratio. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/janus.h"
#include "bench/wr.h"

#define WARMUP_S    2.0
#define GRACE_S     0.5   /* after the window: its packets still in flight */
#define KEY_S       3     /* the clip's length: a key frame starts each loop */
#define KEY_BYTES   40000 /* a camera's key frame at 640x480 */
#define MAX_LOSS    1.0   /* % */
#define MAX_P99_MS  50.0
#define SETTLE_S    25 /* simulcast: the longest wait for the viewers' layers */
#define MAX_ROUNDS  15
#define LAYER_SHARE 0.99     /* a viewer is on a layer when this share of its video is of it */
#define VIEW_REMB   10000000 /* bit/s: what every simulcast viewer says it can take */

/* The simulcast publisher's layers, lowest first (SSRC form), and each
 * third of the viewers' maxVideoSendBandwidth (kbit/s; 0: not set): the
 * engine keeps a layer whose rate is under 90% of the cap, so 350 takes
 * the lowest (150 kbit/s, not 450), 1000 the middle (450, not 1200), and
 * no cap the top one. */
static const struct {
    int w, h, kbps;
} sim_layers[WR_LAYERS] = { { 320, 180, 150 }, { 640, 360, 450 }, { 1280, 720, 1200 } };

static const int view_caps[WR_LAYERS] = { 350, 1000, 0 };

/* What a run measured, for the simulcast comparison. */
typedef struct run_fig {
    double cpu_us_per_pkt, proc_us_per_pkt;
    double cpu_us_per_sent_pkt; /* counting the server's RTX padding to viewers as sent */
    double rtx_pps;             /* that padding (and retransmissions) per second */
    int pass;
    int split[WR_LAYERS]; /* viewers on each layer over the window */
    int split_ok;         /* every viewer on the layer its cap gives */
} run_fig;

void fl_bench_webrtc_usage(FILE *out)
{
    fprintf(out,
            "  echo|one2many|room --server fluo|janus|floor --sessions N --seconds S\n"
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
            "        other_cpu_us=N (fluo)] [rtx_pps=X cpu_us_per_sent_pkt=X] [split=N,N,N\n"
            "        split_ok=0|1] unconnected=N stalls=N pass=0|1\n"
            "  one2many --simulcast 1 [the options above]\n"
            "        The publisher sends three VP8 layers (SSRC simulcast, a=ssrc-group:SIM):\n"
            "        320x180 150 kbit/s, 640x360 450, 1280x720 1200, a key frame (7, 21,\n"
            "        56 kB) every 3 s and on a PLI naming the layer; viewers by thirds have\n"
            "        maxVideoSendBandwidth 350, 1000 and none, and all send a 10 Mbit/s\n"
            "        REMB, so that fluo (fluo only) gives them the low, middle and top\n"
            "        layer. The window starts once every viewer is on its layer (or after\n"
            "        25 s); split= counts the viewers on each layer over the window (by\n"
            "        the layer each packet's trailer names), split_ok=1 when each got\n"
            "        >= 99%% of its video from its own; pass needs it.\n"
            "        The viewers count the server's RTX (its probing padding) apart:\n"
            "        rtx_pps=X cpu_us_per_sent_pkt=X (CPU over media + padding).\n"
            "  simulcast --server fluo --sessions N --seconds S [--rounds 3] [the options\n"
            "        above]: one2many with and without --simulcast, alternating, R\n"
            "        rounds of both, the same viewers (caps, REMB) in both. Last line:\n"
            "        simulcast server=fluo sessions=N rounds=R pairs=K\n"
            "        plain_cpu_us_per_pkt=X simulcast_cpu_us_per_pkt=X rtx_pps=X ratio=X\n"
            "        ratio_min=X ratio_max=X proc_ratio=X proc_ratio_min=X\n"
            "        proc_ratio_max=X sent_ratio=X sent_ratio_min=X sent_ratio_max=X\n"
            "        split=N,N,N pass=0|1: medians over the K rounds whose simulcast run\n"
            "        had the split (ratio: simulcast / plain in the same round; proc_:\n"
            "        the process alone; sent_: per packet sent, padding counted). Exit\n"
            "        1 when a round failed or had no split; \"none\" when none had it.\n");
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
        if ((rc = new_peer(b, 1, "publisher", b->sessions, 0, &p)) == 0) {
            if (b->simulcast)
                wr_peer_simulcast(p, b->layers);
            rc = s->publish(b, p, &pub);
        }
        wr_bench_wait_connected(b, 20); /* Janus takes subscribers of live feeds only */
        for (int i = 0; i < b->sessions && rc == 0; i++) {
            if ((rc = new_peer(b, offerer_views, "viewer", 0, 2, &p)) < 0)
                break;
            if (b->layered_viewers) {
                p->max_send_kbps = view_caps[i % WR_LAYERS];
                p->remb_bps = VIEW_REMB;
            }
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

static int parse_args(wr_bench *b, int argc, char **argv, int *rounds)
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
        { "--simulcast", &b->simulcast, NULL },
        { "--rounds", rounds, NULL },
        { NULL, NULL, NULL },
    };
    if (wr_args_parse(args, argc, argv) < 0)
        return FL_EINVAL;
    int compare = strcmp(b->scenario, "simulcast") == 0;
    if (b->simulcast < 0 || b->simulcast > 1 || (b->simulcast && strcmp(b->scenario, "one2many")) ||
        *rounds < 1 || *rounds > MAX_ROUNDS || (*rounds != 1 && !compare))
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

/* ---- simulcast: the layer each viewer gets ---- */

/* The layer a viewer's cap gives it (view_caps); -1 for a peer with none. */
static int expected_layer(const wr_peer *p)
{
    if (!p->remb_bps)
        return -1;
    for (int k = 0; k < WR_LAYERS; k++) {
        if (view_caps[k] == p->max_send_kbps)
            return k;
    }
    return -1;
}

/* Every peer's rx_layer counts into at (WR_LAYERS per peer, by index). */
static void layers_snapshot(const wr_bench *b, uint64_t *at)
{
    for (size_t i = 0; i < b->npeers; i++)
        memcpy(at + i * WR_LAYERS, b->peers[i]->rx_layer, sizeof(b->peers[i]->rx_layer));
}

/* The viewers on each layer since the counts in at (split), each counted
 * where it got >= LAYER_SHARE of its video; 1 when every viewer is so on
 * the layer its cap gives it. */
static int split_since(const wr_bench *b, const uint64_t *at, int split[WR_LAYERS])
{
    int ok = 1;
    memset(split, 0, WR_LAYERS * sizeof(*split));
    for (size_t i = 0; i < b->npeers; i++) {
        const wr_peer *p = b->peers[i];
        int want = expected_layer(p);
        if (want < 0)
            continue;
        double share;
        int k = wr_viewer_layer(p, at + i * WR_LAYERS, &share);
        if (k >= 0 && share >= LAYER_SHARE)
            split[k]++;
        if (k != want || share < LAYER_SHARE)
            ok = 0;
    }
    return ok;
}

/* What each viewer off its layer got over the window, on stderr (the
 * first few). */
static void split_detail(const wr_bench *b, const uint64_t *at)
{
    int shown = 0;
    for (size_t i = 0; i < b->npeers && shown < 6; i++) {
        const wr_peer *p = b->peers[i];
        const uint64_t *x = at + i * WR_LAYERS;
        double share;
        int want = expected_layer(p), k = wr_viewer_layer(p, x, &share);
        if (want < 0 || (k == want && share >= LAYER_SHARE))
            continue;
        shown++;
        fprintf(stderr,
                "fluo-bench:   peer %d (viewer, maxVideoSendBandwidth %d) should get layer %d, "
                "got video packets of layers 0,1,2: %llu,%llu,%llu\n",
                p->id, p->max_send_kbps, want, (unsigned long long)(p->rx_layer[0] - x[0]),
                (unsigned long long)(p->rx_layer[1] - x[1]),
                (unsigned long long)(p->rx_layer[2] - x[2]));
    }
}

/* Runs the loop until every viewer has been on its layer for two 1 s
 * checks in a row (the engine moves a viewer up only after its estimate
 * held for 5 s), SETTLE_S at most, and says how it ended. */
static void settle(wr_bench *b, uint64_t *at)
{
    fl_time t0 = fl_time_now();
    int good = 0, ok = 0, split[WR_LAYERS] = { 0 };
    while (good < 2 && !b->aborted && fl_time_now() - t0 < SETTLE_S * FL_TIME_SEC) {
        layers_snapshot(b, at);
        wr_bench_run(b, 1.0);
        ok = split_since(b, at, split);
        good = ok ? good + 1 : 0;
    }
    printf("%s phase=settled seconds=%.1f split=%d,%d,%d settled=%d\n", b->scenario,
           (double)(fl_time_now() - t0) / 1e6, split[0], split[1], split[2], good >= 2);
    fflush(stdout);
}

/* RTX packets the viewers received so far (the server's probing), by the
 * layer their cap gives them. */
static void rtx_by_layer(const wr_bench *b, uint64_t n[WR_LAYERS])
{
    memset(n, 0, WR_LAYERS * sizeof(*n));
    for (size_t i = 0; i < b->npeers; i++) {
        int k = expected_layer(b->peers[i]);
        if (k >= 0)
            n[k] += b->peers[i]->rx_rtx;
    }
}

/* After the window: how many viewers the server says it forwards the
 * layer to that they got, its switches (b->server->layer), and the last
 * REMB it sent the publisher (without simulcast no more than the least
 * its viewers take: 350 kbit/s here), and the RTX packets (padding) the
 * viewers of each third got over the window. */
static void server_layers(wr_bench *b, const uint64_t *at, const uint64_t rtx[WR_LAYERS])
{
    int asked = 0, match = 0, told = 0;
    long switches = 0;
    for (size_t i = 0; i < b->npeers && b->server->layer; i++) {
        const wr_peer *p = b->peers[i];
        if (expected_layer(p) < 0)
            continue;
        double share;
        int got = wr_viewer_layer(p, at + i * WR_LAYERS, &share), layer = -1, sw = 0;
        asked++;
        if (b->server->layer(b, b->peers[i], &layer, &sw) < 0)
            continue;
        told++;
        match += layer == got;
        switches += sw;
    }
    uint64_t remb = b->npeers ? b->peers[0]->remb_recv : 0; /* the publisher: made first */
    printf("%s phase=server_layers viewers=%d told=%d match=%d switches=%ld "
           "publisher_remb_kbps=%llu rtx_pkts_in_window=%llu,%llu,%llu\n",
           b->scenario, asked, told, match, switches, (unsigned long long)(remb / 1000),
           (unsigned long long)rtx[0], (unsigned long long)rtx[1], (unsigned long long)rtx[2]);
    fflush(stdout);
}

/* The measured window and its record line; f's figures. 1 when the step
 * passes. */
static int measure(wr_bench *b, uint64_t rss0, size_t unconnected, uint64_t *at, run_fig *f)
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
    layers_snapshot(b, at);
    uint64_t rtx0[WR_LAYERS];
    rtx_by_layer(b, rtx0);
    wr_bench_run(b, b->seconds);
    /* the receivers' count is replaced by the senders' below; a window cut
     * short by a stall lasts ~0 s */
    wr_bench_window_end(b, &expected, &received);
    double secs = (double)(fl_time_now() - t0) / 1e6 + 1e-6;
    uint64_t rtx[WR_LAYERS], rtx_all = 0;
    rtx_by_layer(b, rtx);
    for (int k = 0; k < WR_LAYERS; k++)
        rtx_all += rtx[k] -= rtx0[k];
    wr_proc_cpu_us(b->pid, &cpu1);
    wr_threads_read(b->pid, &th1);
    if (b->server_cpus)
        wr_cpu_irq_us(b->server_cpus, &irq1);
    wr_proc_rss_kb(b->pid, &rss1);
    char workers[WR_MAX_WORKERS * 27 + 96], split[160] = "";
    workers_fields(b, &th0, &th1, workers, sizeof(workers));
    wr_threads_free(&th0);
    wr_threads_free(&th1);
    f->split_ok = split_since(b, at, f->split);
    for (size_t i = 0; i < b->npeers; i++) {
        for (int k = 0; k < b->peers[i]->nlayers; k++)
            b->peers[i]->layer_subs[k] = f->split[k]; /* who should get each layer's packets */
    }
    f->rtx_pps = (double)rtx_all / secs;
    wr_bench_sender_loss(b, GRACE_S, &expected, &received);
    double loss = wr_loss_pct(expected, received);
    wr_sort(b->lat_ms, b->nlat);
    double p50 = wr_percentile(b->lat_ms, b->nlat, 0.5);
    double p99 = wr_percentile(b->lat_ms, b->nlat, 0.99);
    uint64_t cpu = (cpu1 - cpu0) + (irq1 - irq0);
    double cores = secs > 0 ? (double)cpu / (secs * 1e6) : 0;
    long streams = streams_of(b);
    const fl_clip *top = b->simulcast ? b->layers[WR_LAYERS - 1] : b->video;
    double kbps = 0;
    for (int k = 0; k < (b->simulcast ? WR_LAYERS : 1); k++) {
        const fl_clip *c = b->simulcast ? b->layers[k] : b->video;
        kbps += c ? (double)c->bytes * 8.0 / ((double)c->duration_us / 1e3) : 0;
    }
    uint64_t keys = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        keys += b->peers[i]->tx[1].key_frames;
        for (int k = 0; k < b->peers[i]->nlayers; k++)
            keys += b->peers[i]->layers[k].key_frames;
    }
    int pass = !b->aborted && unconnected == 0 && b->stalls == 0 && received > 0 &&
               received <= expected && loss <= MAX_LOSS && p99 <= MAX_P99_MS &&
               (!b->simulcast || f->split_ok);
    f->cpu_us_per_pkt = received ? (double)cpu / (double)received : 0.0;
    f->cpu_us_per_sent_pkt = received ? (double)cpu / (double)(received + rtx_all) : 0.0;
    if (b->layered_viewers)
        snprintf(split, sizeof(split), " rtx_pps=%.0f cpu_us_per_sent_pkt=%.3f", f->rtx_pps,
                 f->cpu_us_per_sent_pkt);
    if (b->simulcast)
        snprintf(split + strlen(split), sizeof(split) - strlen(split),
                 " split=%d,%d,%d split_ok=%d", f->split[0], f->split[1], f->split[2], f->split_ok);
    f->proc_us_per_pkt = received ? (double)(cpu1 - cpu0) / (double)received : 0.0;
    f->pass = pass;
    if (b->layered_viewers && !b->stalls) /* (a stalled server may not answer) */
        server_layers(b, at, rtx);
    printf("%s server=%s sessions=%d fwd_pps=%.0f offered_pps=%.0f cpu_us_per_pkt=%.3f "
           "proc_us_per_pkt=%.3f proc_cpu_us=%llu irq_us=%llu cores_used=%.3f streams=%ld "
           "streams_per_core=%.0f loss_pct=%.2f p50_ms=%.2f p99_ms=%.2f rss_kb_per_session=%.0f "
           "video_kbps=%.0f key_frames=%llu key_frame_bytes=%zu%s%s unconnected=%zu stalls=%zu "
           "pass=%d\n",
           b->scenario, b->server_name, b->sessions, (double)received / secs,
           (double)expected / secs, f->cpu_us_per_pkt, f->proc_us_per_pkt,
           (unsigned long long)(cpu1 - cpu0), (unsigned long long)(irq1 - irq0), cores, streams,
           cores > 0 ? (double)streams / cores : 0.0, loss, p50, p99,
           rss1 > rss0 ? (double)(rss1 - rss0) / (double)b->sessions : 0.0, kbps,
           (unsigned long long)keys, key_bytes_of(top), workers, split, unconnected, b->stalls,
           pass);
    fflush(stdout);
    return pass;
}

/* The clips: the camera's (b->video), Opus, and the simulcast layers when
 * they are sent. 0 or a code (said on stderr). */
static int make_media(wr_bench *b, int layers)
{
    size_t key_bytes = (size_t)b->kbps * KEY_S * 1000 / 8 / 4; /* a quarter of the budget at most */
    if (key_bytes > KEY_BYTES)
        key_bytes = KEY_BYTES;
    int rc = wr_camera_clip(&b->video, b->kbps, KEY_S, key_bytes);
    if (rc == 0)
        rc = fl_clip_opus(&b->audio, 48, 10);
    for (int k = 0; k < WR_LAYERS && layers && rc == 0; k++) {
        /* an eighth of a loop's budget (7, 21 and 56 kB): with a quarter,
         * as above, two of the middle layer's key frames in one second
         * take its rate over that second (fluo measures a layer so) past
         * 90% of its viewers' cap, the likely reason fluo moved them down
         * and up again in 2 of 4 runs */
        key_bytes = (size_t)sim_layers[k].kbps * KEY_S * 1000 / 8 / 8;
        rc = wr_camera_clip_sized(&b->layers[k], sim_layers[k].w, sim_layers[k].h,
                                  sim_layers[k].kbps, KEY_S, key_bytes);
    }
    if (rc < 0)
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
    return rc;
}

static void free_media(wr_bench *b)
{
    wr_camera_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    for (int k = 0; k < WR_LAYERS; k++)
        wr_camera_clip_destroy(b->layers[k]);
}

/* For each peer with a stalled stream (the first few), what it received,
 * and for a simulcast viewer the layers it got, on stderr. The server is
 * not asked: a stall may be the server stopped, and its control
 * connection would never answer. */
static void diagnose_stalled(wr_bench *b, const uint64_t *at)
{
    int shown = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        wr_peer *p = b->peers[i];
        for (int k = 0; k < p->nlayers; k++)
            fprintf(stderr,
                    "fluo-bench:   peer %d (publisher) layer %d ssrc=%08x sent %llu packets, "
                    "%llu key frames (%llu on request)\n",
                    p->id, k, p->layers[k].ssrc, (unsigned long long)p->layers[k].packets,
                    (unsigned long long)p->layers[k].key_frames,
                    (unsigned long long)p->layers[k].restarts);
    }
    for (size_t i = 0; i < b->npeers && shown < 4; i++) {
        wr_peer *p = b->peers[i];
        int stalled = 0;
        for (size_t k = 0; k < p->nrx; k++)
            stalled |= p->rx[k].stalled;
        if (!stalled)
            continue;
        shown++;
        wr_peer_diagnose(p);
        if (b->layered_viewers)
            fprintf(stderr,
                    "fluo-bench:   peer %d (cap %d) got video of layers 0,1,2: %llu,%llu,%llu "
                    "(%llu,%llu,%llu since the last check)\n",
                    p->id, p->max_send_kbps, (unsigned long long)p->rx_layer[0],
                    (unsigned long long)p->rx_layer[1], (unsigned long long)p->rx_layer[2],
                    (unsigned long long)(p->rx_layer[0] - at[i * WR_LAYERS]),
                    (unsigned long long)(p->rx_layer[1] - at[i * WR_LAYERS + 1]),
                    (unsigned long long)(p->rx_layer[2] - at[i * WR_LAYERS + 2]));
    }
}

/* One run of b's scenario against a server it starts: its record line
 * last; f's figures. 0, or 1 when it failed (said on stderr). */
static int run_one(wr_bench *b, run_fig *f)
{
    int status = 1;
    fl_bench_netns net = { 0 };
    uint64_t *at = NULL;
    memset(f, 0, sizeof(*f));
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
    uint64_t rss0 = 0;
    wr_proc_rss_kb(b->pid, &rss0);
    if (setup_scenario(b) < 0) {
        fprintf(stderr, "fluo-bench: FAILED: signalling with %s failed\n", b->server_name);
        goto stop;
    }
    if (!(at = calloc(b->npeers * WR_LAYERS, sizeof(*at))))
        goto stop;
    size_t up = wr_bench_wait_connected(b, 20);
    wr_bench_watch_stalls(b);
    printf("%s phase=connected server=%s pid=%d peers=%zu connected=%zu\n", b->scenario,
           b->server_name, (int)b->pid, b->npeers, up);
    fflush(stdout);
    wr_bench_run(b, WARMUP_S);
    if (b->simulcast)
        settle(b, at);
    size_t unconnected = wr_bench_check_peers(b);
    int pass = measure(b, rss0, unconnected, at, f);
    if (b->fail[0]) {
        fprintf(stderr, "fluo-bench: %s against %s with %d sessions FAILED: %s\n", b->scenario,
                b->server_name, b->sessions, b->fail);
        diagnose_stalled(b, at);
    } else {
        status = 0;
        if (!pass)
            fprintf(stderr, "fluo-bench: %s against %s with %d sessions: step not passed\n",
                    b->scenario, b->server_name, b->sessions);
        if (b->simulcast && !f->split_ok)
            fprintf(stderr,
                    "fluo-bench: %s: no simulcast split: the viewers did not each get the "
                    "layer their cap gives (split=%d,%d,%d over the window; viewers by thirds "
                    "should be on layers 0, 1 and 2)\n",
                    b->scenario, f->split[0], f->split[1], f->split[2]);
        if (b->simulcast && !f->split_ok)
            split_detail(b, at);
    }
stop:
    free(at);
    b->server->stop(b);
    wr_bench_deinit(b);
    fl_bench_netns_down(&net);
    return status;
}

/* The median of v[0..n) (sorted in place), its least and greatest. */
static double median(double *v, int n, double *lo, double *hi)
{
    wr_sort(v, (size_t)n);
    *lo = v[0];
    *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* `simulcast`: one2many plain and simulcast, alternating, `rounds` of
 * both; the ratio line last, over the rounds whose simulcast run had the
 * split. 0, or 1 when a run failed or a simulcast run had no split. */
static int compare(wr_bench *b, int rounds)
{
    static wr_bench opts;
    opts = *b;
    opts.scenario = "one2many";
    opts.layered_viewers = 1;
    /* per round: plain and simulcast CPU per packet (with softirq, the
     * process alone, per packet sent counting padding), and the padding */
    double cpu[2][MAX_ROUNDS], proc[2][MAX_ROUNDS], sent[2][MAX_ROUNDS], rtx[MAX_ROUNDS];
    double ratio[MAX_ROUNDS], pratio[MAX_ROUNDS], sratio[MAX_ROUNDS];
    int split[WR_LAYERS] = { 0 }, n = 0, pass = 1, failed = 0;
    for (int r = 0; r < rounds && !failed; r++) {
        int split_ok = 0;
        for (int i = 0; i < 2 && !failed; i++) {
            int sim = r % 2 ? 1 - i : i; /* P S, S P, P S...: a drift falls on both */
            run_fig f;
            *b = opts;
            b->simulcast = sim;
            printf("simulcast round=%d mode=%s\n", r + 1, sim ? "simulcast" : "plain");
            fflush(stdout);
            failed = run_one(b, &f) != 0;
            cpu[sim][n] = f.cpu_us_per_pkt;
            proc[sim][n] = f.proc_us_per_pkt;
            sent[sim][n] = f.cpu_us_per_sent_pkt;
            if (sim)
                rtx[n] = f.rtx_pps;
            pass &= f.pass;
            if (sim && (split_ok = f.split_ok))
                memcpy(split, f.split, sizeof(split));
        }
        if (failed || !split_ok || cpu[0][n] <= 0 || proc[0][n] <= 0 || sent[0][n] <= 0)
            continue; /* no pair from this round */
        ratio[n] = cpu[1][n] / cpu[0][n];
        pratio[n] = proc[1][n] / proc[0][n];
        sratio[n] = sent[1][n] / sent[0][n];
        n++;
    }
    *b = opts;
    if (!n) {
        printf("simulcast server=%s sessions=%d rounds=%d pairs=0 plain_cpu_us_per_pkt=none "
               "simulcast_cpu_us_per_pkt=none ratio=none pass=0\n",
               b->server_name, b->sessions, rounds);
        fprintf(stderr, "fluo-bench: simulcast: FAILED: %s: no ratio\n",
                failed ? "a run failed (above)" : "no simulcast run had the split");
        return 1;
    }
    double lo, hi, plo, phi, slo, shi, x0, x1;
    double pc = median(cpu[0], n, &x0, &x1), sc = median(cpu[1], n, &x0, &x1);
    double ra = median(ratio, n, &lo, &hi), pr = median(pratio, n, &plo, &phi);
    double sr = median(sratio, n, &slo, &shi), rp = median(rtx, n, &x0, &x1);
    if (n < rounds)
        fprintf(stderr,
                "fluo-bench: simulcast: FAILED: %d of %d rounds %s; the ratio is of the %d "
                "with the split\n",
                rounds - n, rounds, failed ? "failed or were not run" : "had no split", n);
    printf("simulcast server=%s sessions=%d rounds=%d pairs=%d plain_cpu_us_per_pkt=%.3f "
           "simulcast_cpu_us_per_pkt=%.3f rtx_pps=%.0f ratio=%.2f ratio_min=%.2f ratio_max=%.2f "
           "proc_ratio=%.2f proc_ratio_min=%.2f proc_ratio_max=%.2f sent_ratio=%.2f "
           "sent_ratio_min=%.2f sent_ratio_max=%.2f split=%d,%d,%d pass=%d\n",
           b->server_name, b->sessions, rounds, n, pc, sc, rp, ra, lo, hi, pr, plo, phi, sr, slo,
           shi, split[0], split[1], split[2], pass && n == rounds);
    fflush(stdout);
    return n == rounds ? 0 : 1;
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
    int compare_runs = strcmp(scenario, "simulcast") == 0, rounds = compare_runs ? 3 : 1;
    if (parse_args(b, argc, argv, &rounds) < 0) {
        fl_bench_webrtc_usage(stderr);
        return 2;
    }
    if (strcmp(b->server_name, "fluo") == 0)
        b->server = &fl_wr_server_fluo;
    else if (strcmp(b->server_name, "floor") == 0)
        b->server = &fl_wr_server_floor;
    else if (strcmp(b->server_name, "janus") == 0)
        b->server = &fl_wr_server_janus;
    if (!b->server || ((b->simulcast || compare_runs) && b->server != &fl_wr_server_fluo)) {
        if (b->server)
            fprintf(stderr, "fluo-bench: simulcast has a driver for fluo only\n");
        fl_bench_webrtc_usage(stderr);
        return 2;
    }
    b->layered_viewers = b->simulcast;
    int status = 1;
    if (make_media(b, b->simulcast || compare_runs) == 0) {
        run_fig f;
        status = compare_runs ? compare(b, rounds) : run_one(b, &f);
    }
    free_media(b);
    return status;
}
