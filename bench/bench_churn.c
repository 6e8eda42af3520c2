/* `fluo-bench churn --server fluo --sessions N --seconds S`: a soak of one
 * long-lived fluo under churn. N sessions with media are live at all times,
 * each for a random 5-20 s (--life-min, --life-max), then released and
 * replaced: echo calls (a pipeline of their own, hello-world's loopback)
 * alternate with viewers joining one broadcast (one2many's calls) that runs
 * the whole time. A session must have connected and had media back before
 * it leaves. fluo's RSS and open fds are printed before the churn, every
 * --report seconds and after everything was released; the run fails if a
 * session failed, if the fds did not come back to where they were, or if
 * RSS grew by more than --rss-growth-mb (idle against idle, and the last
 * sample under load against the first). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/wr.h"

#define MIN_MEDIA_PKTS 50 /* what a session must get back: about 0.3 s of media */

typedef struct churn_opts {
    const char *server_name;
    const char *fluo_bin;
    int sessions;
    int seconds;
    int life_min, life_max; /* seconds */
    int report;             /* seconds between samples */
    int rss_growth_mb;
    int workers;
} churn_opts;

typedef struct session {
    wr_peer *p;
    int viewer;
    fl_time since, until;
} session;

typedef struct churn {
    wr_bench *b;
    const churn_opts *o;
    session *live;
    size_t nlive;
    wr_peer *pub;
    void *pub_handle;
    uint64_t joined, left, failed, kinds;
    int stopped_short; /* a session could not be started: the run ended early */
    fl_time t0;
} churn;

typedef struct sample {
    uint64_t rss_kb, fds;
    int ok; /* both read: fluo is still there */
} sample;

void fl_bench_churn_usage(FILE *out)
{
    fprintf(out, "  churn --server fluo [--sessions 8] [--seconds 3600] [--life-min 5]\n"
                 "        [--life-max 20] [--report 60] [--rss-growth-mb 50] [--fluo-bin PATH]\n"
                 "        [--workers N]\n"
                 "        Soak: N sessions with media live at all times on one fluo, each\n"
                 "        released after a random life and replaced (echo calls and viewers of\n"
                 "        one broadcast, alternating). Prints fluo's RSS and open fds before,\n"
                 "        every --report s and after; fails on a failed session, fds not back\n"
                 "        to where they were, or RSS growth past the bound. Last line: churn\n"
                 "        server=NAME sessions=N seconds=S joined=N failed=N rss_start_kb=X\n"
                 "        rss_end_kb=X fds_start=N fds_end=N rss_load_first_kb=X\n"
                 "        rss_load_last_kb=X\n");
}

static int parse_args(churn_opts *o, int argc, char **argv)
{
    static const struct {
        const char *name;
        size_t off;
    } ints[] = {
        { "--sessions", offsetof(churn_opts, sessions) },
        { "--seconds", offsetof(churn_opts, seconds) },
        { "--life-min", offsetof(churn_opts, life_min) },
        { "--life-max", offsetof(churn_opts, life_max) },
        { "--report", offsetof(churn_opts, report) },
        { "--rss-growth-mb", offsetof(churn_opts, rss_growth_mb) },
        { "--workers", offsetof(churn_opts, workers) },
    };

    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t k = 0;
        if (!v)
            return FL_EINVAL;
        if (strcmp(a, "--server") == 0) {
            o->server_name = v;
            continue;
        }
        if (strcmp(a, "--fluo-bin") == 0) {
            o->fluo_bin = v;
            continue;
        }
        while (k < sizeof(ints) / sizeof(ints[0]) && strcmp(a, ints[k].name) != 0)
            k++;
        if (k == sizeof(ints) / sizeof(ints[0]))
            return FL_EINVAL;
        *(int *)((char *)o + ints[k].off) = atoi(v);
    }
    if (o->sessions < 1 || o->sessions > 500 || o->seconds < 1 || o->seconds > 7 * 24 * 3600 ||
        o->life_min < 1 || o->life_max < o->life_min || o->report < 1 || o->rss_growth_mb < 1)
        return FL_EINVAL;
    return 0;
}

static sample take_sample(const wr_bench *b)
{
    sample s = { 0, 0, 0 };
    s.ok = wr_proc_rss_kb(b->pid, &s.rss_kb) == 0 && wr_proc_fds(b->pid, &s.fds) == 0;
    return s;
}

static double elapsed_s(const churn *c)
{
    return (double)(fl_time_now() - c->t0) / 1e6;
}

/* A new session: an echo call or a viewer of the broadcast, alternately. */
static int join_one(churn *c)
{
    wr_bench *b = c->b;
    session *s = &c->live[c->nlive];
    int viewer = (int)(c->kinds++ % 2);
    int rc = wr_peer_create(b, 1, &s->p);
    if (rc < 0)
        return rc;
    rc = viewer ? b->server->join(b, s->p, c->pub_handle) : b->server->echo(b, s->p);
    if (rc < 0) {
        fprintf(stderr, "fluo-bench: churn: a new %s's signalling failed at %.0f s\n",
                viewer ? "viewer" : "echo call", elapsed_s(c));
        b->server->leave(b, s->p);
        wr_peer_remove(b, s->p);
        c->failed++;
        return 0;
    }
    uint32_t span = (uint32_t)(c->o->life_max - c->o->life_min) * 1000 + 1;
    s->since = fl_time_now();
    s->until =
            s->since + ((fl_time)c->o->life_min * 1000 + fl_rand_u32(&b->rand) % span) * FL_TIME_MS;
    s->viewer = viewer;
    c->nlive++;
    c->joined++;
    return 0;
}

/* The session leaves: it must have connected and had media back (unless
 * the run ends before it lived --life-min). */
static void leave_one(churn *c, size_t i)
{
    wr_bench *b = c->b;
    session *s = &c->live[i];
    int judged = fl_time_now() - s->since >= (fl_time)c->o->life_min * FL_TIME_SEC;
    if (judged && (!s->p->connected || s->p->rx_packets < MIN_MEDIA_PKTS)) {
        fprintf(stderr,
                "fluo-bench: churn: %s %d leaves at %.0f s with %s and %llu media packets "
                "back\n",
                s->viewer ? "viewer" : "echo call", s->p->id, elapsed_s(c),
                s->p->connected ? "DTLS up" : "no connection",
                (unsigned long long)s->p->rx_packets);
        c->failed++;
    }
    if (b->server->leave(b, s->p) < 0)
        c->failed++;
    wr_peer_remove(b, s->p);
    c->live[i] = c->live[--c->nlive];
    c->left++;
}

static void print_sample(const churn *c, const char *what, sample s)
{
    printf("churn t=%.0f %s live=%zu joined=%llu failed=%llu rss_kb=%llu fds=%llu\n", elapsed_s(c),
           what, c->nlive, (unsigned long long)c->joined, (unsigned long long)c->failed,
           (unsigned long long)s.rss_kb, (unsigned long long)s.fds);
    fflush(stdout);
}

/* The broadcast the viewers join. */
static int start_broadcast(churn *c)
{
    wr_bench *b = c->b;
    int rc = wr_peer_create(b, 1, &c->pub);
    if (rc == 0)
        rc = b->server->publish(b, c->pub, &c->pub_handle);
    if (rc < 0 || !c->pub->connected) {
        wr_bench_wait_connected(b, 20);
        if (!c->pub->connected) {
            fprintf(stderr, "fluo-bench: churn: the broadcast's publisher did not connect\n");
            return rc < 0 ? rc : FL_ETIMEDOUT;
        }
    }
    return 0;
}

static void stop_broadcast(churn *c)
{
    if (!c->pub)
        return;
    if (c->b->server->leave(c->b, c->pub) < 0)
        c->failed++;
    wr_peer_remove(c->b, c->pub);
    c->pub = NULL;
}

/* Runs the loop until the server's fd count stops changing (releases end
 * asynchronously), at most 10 s; returns the sample then. */
static sample settle(churn *c)
{
    sample prev = take_sample(c->b), s = prev;
    for (int i = 0; i < 20; i++) {
        wr_bench_run(c->b, 0.5);
        s = take_sample(c->b);
        if (s.fds == prev.fds && i >= 2)
            break;
        prev = s;
    }
    return s;
}

/* Keeps N sessions live until the time is up, sampling every --report s. */
static void churn_loop(churn *c, sample *first, sample *last)
{
    const churn_opts *o = c->o;
    fl_time end = c->t0 + (fl_time)o->seconds * FL_TIME_SEC;
    fl_time next_report = c->t0 + (fl_time)o->report * FL_TIME_SEC;
    int reports = 0;
    while (fl_time_now() < end) {
        while (c->nlive < (size_t)o->sessions) {
            if (join_one(c) < 0) {
                c->stopped_short = 1;
                return;
            }
        }
        wr_bench_run(c->b, 0.05);
        fl_time now = fl_time_now();
        for (size_t i = 0; i < c->nlive;) {
            if (c->live[i].until <= now)
                leave_one(c, i);
            else
                i++;
        }
        if (now >= next_report) {
            next_report += (fl_time)o->report * FL_TIME_SEC;
            *last = take_sample(c->b);
            if (reports++ == 0)
                *first = *last;
            print_sample(c, "load", *last);
        }
    }
    if (!reports) {
        *first = *last = take_sample(c->b);
        print_sample(c, "load", *last);
    }
}

/* Prints the record and judges the run: 0 passed. */
static int verdict(const churn *c, sample idle0, sample idle1, sample first, sample last)
{
    const churn_opts *o = c->o;
    uint64_t bound = (uint64_t)o->rss_growth_mb * 1024;
    int ok = 1;
    printf("churn server=%s sessions=%d seconds=%d joined=%llu failed=%llu rss_start_kb=%llu "
           "rss_end_kb=%llu fds_start=%llu fds_end=%llu rss_load_first_kb=%llu "
           "rss_load_last_kb=%llu\n",
           o->server_name, o->sessions, o->seconds, (unsigned long long)c->joined,
           (unsigned long long)c->failed, (unsigned long long)idle0.rss_kb,
           (unsigned long long)idle1.rss_kb, (unsigned long long)idle0.fds,
           (unsigned long long)idle1.fds, (unsigned long long)first.rss_kb,
           (unsigned long long)last.rss_kb);
    fflush(stdout);
    if (c->failed) {
        fprintf(stderr, "fluo-bench: churn: %llu sessions failed\n", (unsigned long long)c->failed);
        ok = 0;
    }
    if (c->stopped_short) {
        fprintf(stderr, "fluo-bench: churn: a session could not be started after %.0f s\n",
                elapsed_s(c));
        ok = 0;
    }
    if (!c->stopped_short && (!idle0.ok || !idle1.ok || !first.ok || !last.ok)) {
        fprintf(stderr, "fluo-bench: churn: fluo's RSS or descriptors could not be read (is it "
                        "still running?)\n");
        ok = 0;
    }
    if (idle1.fds > idle0.fds) {
        fprintf(stderr, "fluo-bench: churn: fds grew from %llu to %llu\n",
                (unsigned long long)idle0.fds, (unsigned long long)idle1.fds);
        ok = 0;
    }
    if (idle1.rss_kb > idle0.rss_kb + bound || last.rss_kb > first.rss_kb + bound) {
        fprintf(stderr, "fluo-bench: churn: RSS grew by more than %d MB\n", o->rss_growth_mb);
        ok = 0;
    }
    return ok ? 0 : 1;
}

static int run(churn *c)
{
    wr_bench *b = c->b;
    /* a first echo call and viewer, released: the server's lazily made
     * resources (worker sockets, certificates) exist before the baseline */
    if (start_broadcast(c) < 0)
        return 1;
    for (int i = 0; i < 2; i++)
        if (join_one(c) < 0)
            return 1;
    wr_bench_run(b, 2);
    while (c->nlive)
        leave_one(c, 0);
    stop_broadcast(c);
    sample idle0 = settle(c), first = { 0, 0, 0 }, last = { 0, 0, 0 };
    c->joined = c->left = 0;
    c->t0 = fl_time_now();
    print_sample(c, "idle", idle0);
    if (start_broadcast(c) < 0)
        return 1;
    churn_loop(c, &first, &last);
    while (c->nlive)
        leave_one(c, 0);
    stop_broadcast(c);
    sample idle1 = settle(c);
    print_sample(c, "idle", idle1);
    return verdict(c, idle0, idle1, first, last);
}

int fl_bench_churn_run(int argc, char **argv, const char *argv0)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    memset(b, 0, sizeof(*b));
    const char *fluo_path = wr_default_fluo_bin(argv0);
    churn_opts o = { .server_name = "fluo",
                     .fluo_bin = fluo_path,
                     .sessions = 8,
                     .seconds = 3600,
                     .life_min = 5,
                     .life_max = 20,
                     .report = 60,
                     .rss_growth_mb = 50 };
    if (parse_args(&o, argc, argv) < 0) {
        fl_bench_churn_usage(stderr);
        return 2;
    }
    if (strcmp(o.server_name, "fluo") != 0) {
        fprintf(stderr, "fluo-bench: churn has a driver for fluo only\n");
        return 2;
    }
    b->scenario = "churn";
    b->server_name = o.server_name;
    b->server = &fl_wr_server_fluo;
    b->sessions = o.sessions;
    b->fluo_bin = o.fluo_bin;
    b->workers = o.workers;
    churn c = { .b = b, .o = &o };
    int status = 1;
    c.live = calloc((size_t)o.sessions, sizeof(*c.live));
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    snprintf(b->client_ip, sizeof(b->client_ip), "127.0.0.1");
    c.t0 = fl_time_now();
    if (!c.live)
        goto stop;
    if (b->server->start(b) < 0) {
        fprintf(stderr, "fluo-bench: the %s server did not start\n", o.server_name);
        goto stop;
    }
    if (wr_bench_init(b, b->client_ip) < 0)
        goto stop;
    b->pump_calls = 1; /* live sessions keep their media flowing during others' calls */
    /* 4 s clips: a key frame every 4 s (and on PLI) for the joining viewers */
    if (fl_clip_vp8(&b->video, 640, 480, 30, 600, 4, 1150) < 0 ||
        fl_clip_opus(&b->audio, 48, 4) < 0) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        goto stop;
    }
    status = run(&c);
stop:
    b->server->stop(b);
    wr_bench_deinit(b);
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    free(c.live);
    return status;
}
