/* `fluo-bench idle --server fluo --sessions N`: the memory one fluo holds
 * per idle connected WebRtcEndpoint. N echo calls (hello-world's
 * loopback: a pipeline and a WebRtcEndpoint connected to itself each) are
 * set up one after another and brought to ICE+DTLS connected, SRTP keyed,
 * with no media flowing; every --step sessions, once all are connected and
 * --seconds have passed, fluo's RSS is read and its growth since the
 * baseline divided by the sessions up. The baseline is taken after a
 * first call was made and released, so the server's lazily made
 * resources (worker sockets, certificates, pools) are in it. With
 * --media-seconds S, every peer then sends its VP8 and Opus for S seconds,
 * stops, and after --seconds more the RSS is read again: the memory held
 * just after media stopped. The run fails if a session does not connect.
 * One line per step, the record last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/wr.h"

typedef struct idle_opts {
    int step;          /* sessions between samples */
    int media_seconds; /* 0: no media at all */
} idle_opts;

/* fluo's memory: VmRSS and its anonymous part (kB) from /proc/PID/status. */
typedef struct mem {
    uint64_t rss_kb, anon_kb;
} mem;

void fl_bench_idle_usage(FILE *out)
{
    fprintf(out, "  idle --server fluo [--sessions 200] [--step 50] [--seconds 3]\n"
                 "       [--media-seconds 0] [--fluo-bin PATH] [--workers N]\n"
                 "        Memory per idle connected WebRtcEndpoint: N echo calls brought to\n"
                 "        ICE+DTLS connected with no media; fluo's RSS growth per session\n"
                 "        every --step sessions (after --seconds idle), against a baseline\n"
                 "        taken after one call was made and released. --media-seconds S:\n"
                 "        then S s of VP8+Opus from every peer, stopped, and RSS again after\n"
                 "        --seconds. Last line: idle server=NAME sessions=N connected=N\n"
                 "        rss_base_kb=X rss_kb=X kb_per_endpoint=X anon_kb_per_endpoint=X\n"
                 "        after_media_kb_per_endpoint=X (-1: no media phase)\n");
}

static int read_mem(pid_t pid, mem *m)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return FL_EIO;
    int got = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
            m->rss_kb = kb;
            got |= 1;
        } else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1) {
            m->anon_kb = kb;
            got |= 2;
        }
    }
    fclose(f);
    return got == 3 ? 0 : FL_EIO;
}

static double per_session(uint64_t now_kb, uint64_t base_kb, size_t n)
{
    return n ? ((double)now_kb - (double)base_kb) / (double)n : 0;
}

static size_t connected(const wr_bench *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->npeers; i++)
        n += b->peers[i]->connected && !b->peers[i]->failed;
    return n;
}

/* One echo call, its peer's media off. */
static int add_session(wr_bench *b, wr_peer **out)
{
    int rc = wr_peer_create(b, 1, out);
    if (rc < 0)
        return rc;
    rc = b->server->echo(b, *out);
    for (int k = 0; k < 2; k++)
        (*out)->tx[k].on = 0;
    return rc;
}

/* Runs the loop until the server's RSS stops moving (at most 5 s more). */
static mem settle(wr_bench *b, double seconds)
{
    mem prev = { 0, 0 }, m = { 0, 0 };
    wr_bench_run(b, seconds);
    read_mem(b->pid, &prev);
    for (int i = 0; i < 10; i++) {
        wr_bench_run(b, 0.5);
        read_mem(b->pid, &m);
        if (m.rss_kb == prev.rss_kb)
            break;
        prev = m;
    }
    return m;
}

/* The warm-up call, made and released; then the baseline. */
static int baseline(wr_bench *b, mem *base)
{
    wr_peer *p;
    if (add_session(b, &p) < 0 || wr_bench_wait_connected(b, 20) < 1) {
        fprintf(stderr, "fluo-bench: idle: the first call did not connect\n");
        return FL_EIO;
    }
    wr_bench_run(b, 1);
    int rc = b->server->leave(b, p);
    wr_peer_remove(b, p);
    if (rc < 0)
        return rc;
    *base = settle(b, 1);
    printf("idle step sessions=0 connected=0 rss_kb=%llu anon_kb=%llu\n",
           (unsigned long long)base->rss_kb, (unsigned long long)base->anon_kb);
    fflush(stdout);
    return 0;
}

/* Every peer sends media for `seconds`, then stops. */
static void media_phase(wr_bench *b, int seconds)
{
    fl_time now = fl_time_now();
    for (size_t i = 0; i < b->npeers; i++) {
        for (int k = 0; k < 2; k++) {
            wr_tx *t = &b->peers[i]->tx[k];
            if (!t->clip)
                continue;
            t->pos = 0;
            t->t_base = now;
            t->ts_base = t->last_ts + 3000;
            t->on = 1;
        }
    }
    wr_bench_run(b, seconds);
    for (size_t i = 0; i < b->npeers; i++)
        for (int k = 0; k < 2; k++)
            b->peers[i]->tx[k].on = 0;
}

static int run(wr_bench *b, const idle_opts *io)
{
    mem base, m = { 0, 0 };
    if (baseline(b, &base) < 0)
        return 1;
    int ok = 1;
    for (int n = 1; n <= b->sessions && ok; n++) {
        wr_peer *p;
        if (add_session(b, &p) < 0) {
            fprintf(stderr, "fluo-bench: idle: call %d's signalling failed\n", n);
            ok = 0;
        }
        if (n % io->step && n != b->sessions)
            continue;
        size_t up = wr_bench_wait_connected(b, 20);
        if (up < (size_t)n) {
            fprintf(stderr, "fluo-bench: idle: %zu of %d sessions connected\n", up, n);
            ok = 0;
        }
        m = settle(b, b->seconds);
        printf("idle step sessions=%d connected=%zu rss_kb=%llu anon_kb=%llu kb_per_endpoint=%.1f "
               "anon_kb_per_endpoint=%.1f\n",
               n, connected(b), (unsigned long long)m.rss_kb, (unsigned long long)m.anon_kb,
               per_session(m.rss_kb, base.rss_kb, (size_t)n),
               per_session(m.anon_kb, base.anon_kb, (size_t)n));
        fflush(stdout);
    }
    double after = -1;
    if (ok && io->media_seconds > 0) {
        media_phase(b, io->media_seconds);
        mem a = settle(b, b->seconds);
        after = per_session(a.rss_kb, base.rss_kb, b->npeers);
        printf("idle after_media sessions=%zu rss_kb=%llu anon_kb=%llu kb_per_endpoint=%.1f\n",
               b->npeers, (unsigned long long)a.rss_kb, (unsigned long long)a.anon_kb, after);
    }
    size_t up = connected(b);
    if (up < (size_t)b->sessions)
        ok = 0;
    printf("idle server=%s sessions=%d connected=%zu rss_base_kb=%llu rss_kb=%llu "
           "kb_per_endpoint=%.1f anon_kb_per_endpoint=%.1f after_media_kb_per_endpoint=%.1f\n",
           b->server_name, b->sessions, up, (unsigned long long)base.rss_kb,
           (unsigned long long)m.rss_kb, per_session(m.rss_kb, base.rss_kb, up),
           per_session(m.anon_kb, base.anon_kb, up), after);
    fflush(stdout);
    return ok ? 0 : 1;
}

int fl_bench_idle_run(int argc, char **argv)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    wr_fluo_opts o;
    idle_opts io = { .step = 50, .media_seconds = 0 };
    /* fluo is looked for beside fluo-bench itself */
    char self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[len > 0 ? len : 0] = '\0';
    /* this scenario's own options taken out, the shared ones after a name
     * as wr_fluo_scenario_init reads them */
    char **rest = calloc((size_t)argc + 2, sizeof(*rest));
    int nrest = 1, status = 1, seconds = 3;
    if (!rest)
        return 1;
    rest[0] = "idle";
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--step")) {
            io.step = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--media-seconds")) {
            io.media_seconds = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) {
            seconds = atoi(argv[++i]);
        } else {
            rest[nrest++] = argv[i];
        }
    }
    int rc = wr_fluo_scenario_init(b, &o, "idle", nrest, rest, self[0] ? self : "fluo-bench");
    free(rest);
    if (rc == FL_ENOTSUP)
        return 2;
    if (rc < 0 || io.step < 1 || io.media_seconds < 0 || io.media_seconds > 600 || seconds < 1 ||
        seconds > 600) {
        fl_bench_idle_usage(stderr);
        return 2;
    }
    b->seconds = seconds;
    b->server = &fl_wr_server_fluo;
    if (b->server->start(b) < 0) {
        fprintf(stderr, "fluo-bench: the %s server did not start\n", o.server_name);
        goto stop;
    }
    if (wr_bench_init(b, b->client_ip) < 0)
        goto stop;
    b->pump_calls = 1; /* ICE and DTLS of the calls made run during the next ones */
    if (io.media_seconds > 0 && (fl_clip_vp8(&b->video, 640, 480, 30, 600, 4, 1150) < 0 ||
                                 fl_clip_opus(&b->audio, 48, 4) < 0)) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        goto stop;
    }
    status = run(b, &io);
stop:
    b->server->stop(b);
    wr_bench_deinit(b);
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    return status;
}
