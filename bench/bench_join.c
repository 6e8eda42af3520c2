/* `fluo-bench join --server fluo --joins N --seconds S`: how fast a viewer
 * joining a running broadcast gets its first picture. One publisher sends
 * the VP8+Opus clips (a key frame when the clip starts over: every --gop
 * seconds, or at the next frame edge after a PLI/FIR); then N viewers join
 * one after another, a new one every 200-300 ms, each kept until the end
 * (the audience grows to N). A viewer's join time runs from its
 * processOffer to the first complete VP8 key frame its client decrypted:
 * every packet from the one that starts it to the marker bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/wr.h"

#define WARMUP_S        1.5 /* the broadcast runs alone before the first join */
#define JOIN_GAP_MIN_MS 200
#define JOIN_GAP_MAX_MS 300

typedef struct join_opts {
    const char *server_name;
    const char *fluo_bin;
    int joins;
    int seconds; /* the longest a viewer may wait for its key frame */
    int gop;     /* the publisher's key-frame interval, seconds */
    int workers;
    int verbose; /* 1: one line per viewer on stderr */
} join_opts;

void fl_bench_join_usage(FILE *out)
{
    fprintf(out,
            "  join --server fluo [--joins 50] [--seconds 5] [--gop 4] [--fluo-bin PATH]\n"
            "        [--workers N] [--verbose 1]\n"
            "        Time to first picture: one publisher (VP8+Opus, a key frame every\n"
            "        --gop s or on PLI/FIR), then N viewers joining one after another\n"
            "        (every 200-300 ms, kept) through one2many's calls; each join runs\n"
            "        from processOffer to a complete VP8 key frame at the client, split\n"
            "        into phases (one line each). Fails if a viewer waits longer than\n"
            "        --seconds. Last line: join server=NAME joins=N ok=N p50_ms=X\n"
            "        p95_ms=X dtls_p50_ms=X key_after_dtls_p50_ms=X key_after_dtls_p95_ms=X\n");
}

static int parse_args(join_opts *o, int argc, char **argv)
{
    const wr_arg args[] = {
        { "--server", NULL, &o->server_name }, { "--joins", &o->joins, NULL },
        { "--seconds", &o->seconds, NULL },    { "--gop", &o->gop, NULL },
        { "--fluo-bin", NULL, &o->fluo_bin },  { "--workers", &o->workers, NULL },
        { "--verbose", &o->verbose, NULL },    { NULL, NULL, NULL },
    };
    if (wr_args_parse(args, argc, argv) < 0)
        return FL_EINVAL;
    if (o->joins < 1 || o->joins > 1000 || o->seconds < 1 || o->seconds > 60 || o->gop < 1 ||
        o->gop > 60)
        return FL_EINVAL;
    return 0;
}

/* ---- figures ---- */

enum {
    PH_ANSWER,         /* processOffer -> its answer */
    PH_SIGNALLED,      /* processOffer -> addIceCandidate answered */
    PH_ICE,            /* processOffer -> the client's ICE selected a pair */
    PH_DTLS,           /* processOffer -> DTLS connected */
    PH_VIDEO,          /* processOffer -> first video packet */
    PH_KEY_AFTER_DTLS, /* DTLS connected -> complete key frame */
    PH_JOIN,           /* processOffer -> complete key frame */
    PH_COUNT
};

static const char *const phase_names[PH_COUNT] = {
    "answer", "signalled", "ice", "dtls", "first_video", "key_after_dtls", "join",
};

static double ms_between(fl_time from, fl_time to)
{
    return (double)(to - from) / 1000.0;
}

/* A viewer's figure for phase ph, or -1 when it never got there. */
static double phase_ms(const wr_join_times *t, int ph)
{
    fl_time start = t->offer, end = 0;
    switch (ph) {
    case PH_ANSWER:
        end = t->answer;
        break;
    case PH_SIGNALLED:
        end = t->signalled;
        break;
    case PH_ICE:
        end = t->ice;
        break;
    case PH_DTLS:
        end = t->dtls;
        break;
    case PH_VIDEO:
        end = t->video;
        break;
    case PH_KEY_AFTER_DTLS:
        start = t->dtls;
        end = t->key;
        break;
    default:
        end = t->key;
        break;
    }
    if (!start || !end)
        return -1;
    return ms_between(start, end);
}

typedef struct phase_fig {
    size_t n;
    double p50, p95, max;
} phase_fig;

static void figures(wr_peer **viewers, size_t n, int ph, double *scratch, phase_fig *f)
{
    f->n = 0;
    for (size_t i = 0; i < n; i++) {
        double ms = phase_ms(&viewers[i]->t, ph);
        if (ms >= 0)
            scratch[f->n++] = ms;
    }
    wr_sort(scratch, f->n);
    f->p50 = wr_percentile(scratch, f->n, 0.5);
    f->p95 = wr_percentile(scratch, f->n, 0.95);
    f->max = f->n ? scratch[f->n - 1] : 0;
}

/* ---- the run ---- */

/* Runs the loop until every viewer has its key frame or waited `limit`. */
static void wait_key_frames(wr_bench *b, wr_peer **viewers, size_t n, fl_time limit)
{
    for (;;) {
        fl_time now = fl_time_now(), until = 0;
        for (size_t i = 0; i < n; i++) {
            if (!viewers[i]->t.key && viewers[i]->t.offer + limit > until)
                until = viewers[i]->t.offer + limit;
        }
        if (until <= now)
            return;
        wr_bench_run(b, 0.05);
    }
}

static int join_all(wr_bench *b, const join_opts *o, wr_peer **viewers, wr_peer **publisher)
{
    wr_server *s = b->server;
    wr_peer *pub;
    void *handle = NULL;
    int rc = wr_peer_create(b, 1, &pub);
    if (rc == 0)
        rc = s->publish(b, pub, &handle);
    if (rc < 0 || wr_bench_wait_connected(b, 20) < 1) {
        fprintf(stderr, "fluo-bench: the publisher did not connect\n");
        return rc < 0 ? rc : FL_ETIMEDOUT;
    }
    wr_bench_run(b, WARMUP_S);
    fl_time last = 0;
    for (int i = 0; i < o->joins; i++) {
        fl_time gap = (JOIN_GAP_MIN_MS +
                       fl_rand_u32(&b->rand) % (JOIN_GAP_MAX_MS - JOIN_GAP_MIN_MS + 1)) *
                      FL_TIME_MS;
        fl_time now = fl_time_now();
        if (last && last + gap > now)
            wr_bench_run(b, (double)(last + gap - now) / 1e6);
        last = fl_time_now();
        wr_peer *v;
        if ((rc = wr_peer_create(b, 1, &v)) < 0)
            return rc;
        v->watch_key = 1;
        viewers[i] = v;
        if ((rc = s->join(b, v, handle)) < 0) {
            fprintf(stderr, "fluo-bench: viewer %d: the join's signalling failed\n", i);
            return rc;
        }
    }
    wait_key_frames(b, viewers, (size_t)o->joins, (fl_time)o->seconds * FL_TIME_SEC);
    *publisher = pub;
    return 0;
}

/* Prints the phase lines and the record; returns how many viewers had a
 * key frame within the limit. */
static size_t report(const join_opts *o, const wr_peer *pub, wr_peer **viewers, size_t n)
{
    double *scratch = calloc(n ? n : 1, sizeof(*scratch));
    if (!scratch)
        return 0;
    size_t ok = 0;
    fl_time limit = (fl_time)o->seconds * FL_TIME_SEC;
    for (size_t i = 0; i < n; i++) {
        const wr_join_times *t = &viewers[i]->t;
        if (o->verbose)
            fprintf(stderr,
                    "viewer %zu: offer at %.1f ms; answer %.1f, signalled %.1f, ice %.1f, dtls "
                    "%.1f, video %.1f, key %.1f ms (%llu video packets)\n",
                    i, ms_between(viewers[0]->t.offer, t->offer), phase_ms(t, PH_ANSWER),
                    phase_ms(t, PH_SIGNALLED), phase_ms(t, PH_ICE), phase_ms(t, PH_DTLS),
                    phase_ms(t, PH_VIDEO), phase_ms(t, PH_JOIN),
                    (unsigned long long)t->video_before_key);
        if (t->key && t->key - t->offer <= limit) {
            ok++;
            continue;
        }
        fprintf(stderr,
                "fluo-bench: viewer %zu: no complete key frame within %d s (ice %.1f ms, dtls "
                "%.1f ms, %llu video packets)\n",
                i, o->seconds, phase_ms(t, PH_ICE), phase_ms(t, PH_DTLS),
                (unsigned long long)t->video_before_key);
    }
    phase_fig f[PH_COUNT];
    for (int ph = 0; ph < PH_COUNT; ph++) {
        figures(viewers, n, ph, scratch, &f[ph]);
        if (ph == PH_JOIN)
            break;
        printf("join phase=%s n=%zu p50_ms=%.1f p95_ms=%.1f max_ms=%.1f\n", phase_names[ph],
               f[ph].n, f[ph].p50, f[ph].p95, f[ph].max);
    }
    printf("join publisher key_frames=%llu on_request=%llu pli=%llu fir=%llu\n",
           (unsigned long long)pub->tx[1].key_frames, (unsigned long long)pub->tx[1].restarts,
           (unsigned long long)pub->pli_recv, (unsigned long long)pub->fir_recv);
    printf("join server=%s joins=%zu ok=%zu p50_ms=%.1f p95_ms=%.1f dtls_p50_ms=%.1f "
           "key_after_dtls_p50_ms=%.1f key_after_dtls_p95_ms=%.1f\n",
           o->server_name, n, ok, f[PH_JOIN].p50, f[PH_JOIN].p95, f[PH_DTLS].p50,
           f[PH_KEY_AFTER_DTLS].p50, f[PH_KEY_AFTER_DTLS].p95);
    fflush(stdout);
    free(scratch);
    return ok;
}

int fl_bench_join_run(int argc, char **argv, const char *argv0)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    memset(b, 0, sizeof(*b));
    const char *fluo_path = wr_default_fluo_bin(argv0);
    join_opts o = {
        .server_name = "fluo", .fluo_bin = fluo_path, .joins = 50, .seconds = 5, .gop = 4
    };
    if (parse_args(&o, argc, argv) < 0) {
        fl_bench_join_usage(stderr);
        return 2;
    }
    if (strcmp(o.server_name, "fluo") != 0) {
        fprintf(stderr, "fluo-bench: join has a driver for fluo only (Kurento's one2many calls)\n");
        return 2;
    }
    b->scenario = "join";
    b->server_name = o.server_name;
    b->server = &fl_wr_server_fluo;
    b->sessions = o.joins;
    b->fluo_bin = o.fluo_bin;
    b->workers = o.workers;
    int status = 1;
    wr_peer *pub = NULL;
    wr_peer **viewers = calloc((size_t)o.joins, sizeof(*viewers));
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    snprintf(b->client_ip, sizeof(b->client_ip), "127.0.0.1");
    if (!viewers)
        goto stop;
    if (b->server->start(b) < 0) {
        fprintf(stderr, "fluo-bench: the %s server did not start\n", o.server_name);
        goto stop;
    }
    if (wr_bench_init(b, b->client_ip) < 0)
        goto stop;
    /* the clip's length is the key-frame interval: it starts with the only one */
    if (fl_clip_vp8(&b->video, 640, 480, 30, 1000, o.gop, 1150) < 0 ||
        fl_clip_opus(&b->audio, 48, o.gop) < 0) {
        fprintf(stderr, "fluo-bench: the media could not be encoded\n");
        goto stop;
    }
    if (join_all(b, &o, viewers, &pub) < 0)
        goto stop;
    status = report(&o, pub, viewers, (size_t)o.joins) == (size_t)o.joins ? 0 : 1;
stop:
    b->server->stop(b);
    wr_bench_deinit(b); /* the viewers are among its peers */
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    free(viewers);
    return status;
}
