/* `fluo-bench record --server fluo --sessions N --seconds S`: what recording
 * costs against forwarding, in one run on one fluo.
 *
 * N publishers (the VP8+Opus clips of `fluo-bench echo`, wr_client.c) each
 * get a pipeline with a WebRtcEndpoint and a RecorderEndpoint (WEBM, a file
 * in a temporary folder that is fluo.recordRoots, removed at the end).
 * Forwarding: each endpoint connected to itself (hello world's echo), fluo's
 * CPU time divided by the packets the clients got back, over two windows of
 * S/2 s, one before the recording and one after it, so that a change in the
 * machine's other load weighs on both sides alike. Recording: each endpoint
 * disconnected from itself, connected to its recorder and recorded, those
 * calls of every session sent at once (stopAndWait too, after: the files
 * span the same time), and fluo's CPU time over S s divided by the packets
 * the publishers sent (SRTP, jitter buffer, depacketizer, muxer and file
 * writes; the recorder asks for a key frame every 2 s, on which a publisher
 * starts its clip over). After stopAndWait each file is checked with
 * ffprobe (vp8 and opus, a duration within 1 s of S) and the sum of the
 * file sizes is set against the RTP payload bytes the publishers sent
 * between record() and stopAndWait (wr_client's payloads end in its
 * 12-byte timing trailer, which fluo records with the frame like any
 * payload byte). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/kclient.h"
#include "bench/wr.h"

#define WARMUP_S       1.5 /* media flows before the first window */
#define SETTLE_S       0.5 /* after the loops back are connected again */
#define DURATION_SLACK 1.0 /* a file's duration against --seconds, s */

typedef wr_fluo_opts rec_opts;

typedef struct rec_session {
    wr_peer *p;
    char pipe[160], ep[320], rec[320];
    char path[PATH_MAX];
    uint64_t octets_rec, octets_stop; /* the publisher's payload bytes then */
    fl_time rec_at, stop_at;          /* record() answered, stopAndWait sent */
    double duration;                  /* ffprobe's, s; -1: none */
} rec_session;

static fl_bench_kc kc = FL_BENCH_KC_INIT; /* the fluo it starts, its control connection */

void fl_bench_record_usage(FILE *out)
{
    fprintf(out, "  record --server fluo [--sessions 10] [--seconds 20] [--fluo-bin PATH]\n"
                 "        [--workers N]\n"
                 "        Recording against forwarding in one run: N publishers (VP8+Opus as\n"
                 "        echo sends) looped back to themselves for S/2 s, then each\n"
                 "        connected to a RecorderEndpoint (WEBM, temporary files) recording\n"
                 "        for S s, then looped back again for S/2 s.\n"
                 "        fluo's CPU per recorded packet against per forwarded packet, the\n"
                 "        bytes on disk against the RTP payload bytes sent; every file\n"
                 "        checked with ffprobe (vp8+opus, duration within 1 s of S), the\n"
                 "        run fails otherwise. Last line: record server=fluo sessions=N\n"
                 "        cpu_us_per_pkt=X fwd_cpu_us_per_pkt=Y ratio=Z\n"
                 "        disk_bytes_per_media_byte=W files_ok=N\n");
}

/* ---- the scenario ---- */

static uint64_t payload_octets(const wr_peer *p)
{
    return p->tx[0].octets + p->tx[1].octets;
}

/* A pipeline, a WebRtcEndpoint looped to itself and a RecorderEndpoint
 * writing to s->path, then the offer. */
static int session_setup(wr_bench *b, rec_session *s)
{
    char uri[PATH_MAX + 16];
    snprintf(uri, sizeof(uri), "file://%s", s->path);
    int rc = wr_peer_create(b, 1, &s->p);
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "MediaPipeline", json_object(), s->pipe, sizeof(s->pipe));
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "WebRtcEndpoint", json_pack("{s:s}", "mediaPipeline", s->pipe),
                                s->ep, sizeof(s->ep));
    if (rc == 0)
        rc = fl_bench_kc_create(&kc, "RecorderEndpoint",
                                json_pack("{s:s, s:s, s:s}", "mediaPipeline", s->pipe, "uri", uri,
                                          "mediaProfile", "WEBM"),
                                s->rec, sizeof(s->rec));
    if (rc == 0)
        rc = fl_bench_kc_invoke_void(&kc, s->ep, "connect", json_pack("{s:s}", "sink", s->ep));
    if (rc < 0)
        return rc;
    char *offer = wr_peer_offer(s->p, FL_SDP_DIR_SENDRECV);
    json_t *answer = offer ? fl_bench_kc_invoke(&kc, s->ep, "processOffer",
                                                json_pack("{s:s}", "offer", offer))
                           : NULL;
    free(offer);
    rc = json_is_string(answer) ? wr_peer_set_answer(s->p, json_string_value(answer)) : FL_EIO;
    json_decref(answer);
    return rc == 0 ? fl_bench_kc_invoke_void(&kc, s->ep, "gatherCandidates", NULL) : rc;
}

/* Sends session s's calls of a start (its loop back to itself replaced by
 * its recorder, then record, as the recorder tutorial connects and records
 * at once) or of a stop (stopAndWait); the first one's id, or a negative
 * code. Its payload bytes are taken as the calls go, and the time of a stop. */
static int session_send(rec_session *s, int stop)
{
    int id;
    if (stop) {
        s->octets_stop = payload_octets(s->p);
        s->stop_at = fl_time_now();
        return fl_bench_kc_send(&kc, "invoke",
                                json_pack("{s:s, s:s, s:{}}", "object", s->rec, "operation",
                                          "stopAndWait", "operationParams"));
    }
    s->octets_rec = payload_octets(s->p);
    if ((id = fl_bench_kc_send(&kc, "invoke",
                               json_pack("{s:s, s:s, s:{s:s}}", "object", s->ep, "operation",
                                         "disconnect", "operationParams", "sink", s->ep))) < 0 ||
        fl_bench_kc_send(&kc, "invoke",
                         json_pack("{s:s, s:s, s:{s:s}}", "object", s->ep, "operation", "connect",
                                   "operationParams", "sink", s->rec)) < 0 ||
        fl_bench_kc_send(&kc, "invoke",
                         json_pack("{s:s, s:s, s:{}}", "object", s->rec, "operation", "record",
                                   "operationParams")) < 0)
        return FL_EIO;
    return id;
}

/* Starts (or stops) every recording at once: all the calls sent, then all
 * the replies awaited, so that the files span the same time however long
 * each call takes (stopAndWait waits for its file to be on disk). A
 * session's rec_at is when its record was answered. */
static int recorders_invoke(rec_session *ss, int n, int stop)
{
    const int per = stop ? 1 : 3; /* calls per session */
    int first = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        int id = session_send(&ss[i], stop);
        if (id < 0)
            return id;
        if (i == 0)
            first = id;
    }
    for (int left = n * per; left > 0;) {
        json_t *msg = fl_bench_kc_next(&kc);
        if (!msg)
            return FL_EIO;
        json_int_t k = json_integer_value(json_object_get(msg, "id")) - first;
        if (k >= 0 && k < n * per) {
            left--;
            rec_session *s = &ss[k / per];
            json_t *v = fl_bench_kc_value(&kc, "invoke", msg);
            if (!v) {
                fprintf(stderr, "fluo-bench: %s: %s failed\n", s->rec,
                        stop ? "stopAndWait" : "connect or record");
                rc = FL_EIO;
            } else if (k % per == per - 1 && !stop) {
                s->rec_at = fl_time_now();
            }
            json_decref(v);
        }
        json_decref(msg);
    }
    return rc;
}

/* The recorder replaced by the loop back to itself again. */
static int session_echo(rec_session *s)
{
    if (fl_bench_kc_invoke_void(&kc, s->ep, "disconnect", json_pack("{s:s}", "sink", s->rec)) < 0 ||
        fl_bench_kc_invoke_void(&kc, s->ep, "connect", json_pack("{s:s}", "sink", s->ep)) < 0)
        return FL_EIO;
    return 0;
}

/* ffprobe's view of a file: 1 when it holds vp8 and opus and lasts within
 * DURATION_SLACK of `seconds`; what is wrong is printed. */
static int check_file(rec_session *s, int seconds)
{
    char cmd[PATH_MAX + 128], line[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=duration:stream=codec_name "
             "-of default=noprint_wrappers=1 '%s' 2>&1",
             s->path);
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "fluo-bench: cannot run ffprobe: %s\n", strerror(errno));
        return 0;
    }
    int vp8 = 0, opus = 0, other = 0;
    double duration = -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "codec_name=vp8") == 0)
            vp8++;
        else if (strcmp(line, "codec_name=opus") == 0)
            opus++;
        else if (sscanf(line, "duration=%lf", &duration) == 1)
            continue;
        else {
            other++;
            fprintf(stderr, "fluo-bench: ffprobe %s: %s\n", s->path, line);
        }
    }
    int st = pclose(f);
    s->duration = duration;
    double span = (double)(s->stop_at - s->rec_at) / 1e6;
    int ok = st == 0 && vp8 == 1 && opus == 1 && other == 0 &&
             fabs(duration - seconds) <= DURATION_SLACK;
    if (!ok)
        fprintf(stderr,
                "fluo-bench: %s: ffprobe status %d, vp8 %d, opus %d, other %d, duration %.3f s "
                "(recorded for %.3f s, --seconds %d)\n",
                s->path, st, vp8, opus, other, duration, span, seconds);
    return ok;
}

typedef struct rec_figs {
    wr_fwd fwd; /* the echo windows */
    uint64_t rec_pkts, rec_cpu_us;
    uint64_t media_bytes, disk_bytes;
    double duration_err; /* the largest |file duration - S|, s */
    size_t up, files_ok;
    int measured; /* every window ran and every file was stopped */
} rec_figs;

/* Echo for half of --seconds, recording for --seconds, echo again for the
 * other half: the two echo windows bracket the recording, so a change in
 * what else the machine runs weighs on both sides alike. Fills f. */
static int measure(wr_bench *b, rec_session *ss, int n, int seconds, rec_figs *f)
{
    wr_bench_run(b, WARMUP_S);
    wr_fwd_window(b, "record", "before", seconds / 2.0, &f->fwd);
    if (recorders_invoke(ss, n, 0) < 0)
        return FL_EIO;
    uint64_t cpu0 = 0, cpu1 = 0, pkts0 = wr_bench_sent_packets(b);
    wr_proc_cpu_us(b->pid, &cpu0);
    wr_bench_run(b, seconds);
    wr_proc_cpu_us(b->pid, &cpu1);
    f->rec_pkts = wr_bench_sent_packets(b) - pkts0;
    f->rec_cpu_us = cpu1 - cpu0;
    if (recorders_invoke(ss, n, 1) < 0)
        return FL_EIO;
    for (int i = 0; i < n; i++) {
        if (session_echo(&ss[i]) < 0) {
            fprintf(stderr, "fluo-bench: session %d: the loop back did not come back\n", i);
            return FL_EIO;
        }
    }
    wr_bench_run(b, SETTLE_S);
    wr_fwd_window(b, "record", "after", seconds / 2.0, &f->fwd);
    f->measured = 1;
    return 0;
}

/* Sizes and ffprobe checks of the files; each removed after. */
static void check_files(rec_session *ss, int n, int seconds, rec_figs *f)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        f->media_bytes += ss[i].octets_stop - ss[i].octets_rec;
        if (stat(ss[i].path, &st) == 0) {
            f->disk_bytes += (uint64_t)st.st_size;
            f->files_ok += (size_t)check_file(&ss[i], seconds);
            if (ss[i].duration >= 0 && fabs(ss[i].duration - seconds) > f->duration_err)
                f->duration_err = fabs(ss[i].duration - seconds);
        } else {
            fprintf(stderr, "fluo-bench: %s: %s\n", ss[i].path, strerror(errno));
        }
    }
}

static void report(const rec_opts *o, const rec_figs *f)
{
    double fwd = wr_fwd_cpu_us_per_pkt(&f->fwd);
    double rec = f->rec_pkts ? (double)f->rec_cpu_us / (double)f->rec_pkts : 0;
    wr_fwd_report("record", o->seconds, &f->fwd);
    printf("record phase=record seconds=%d recorded_pkts=%llu cpu_us=%llu media_bytes=%llu "
           "disk_bytes=%llu max_duration_err_s=%.3f\n",
           o->seconds, (unsigned long long)f->rec_pkts, (unsigned long long)f->rec_cpu_us,
           (unsigned long long)f->media_bytes, (unsigned long long)f->disk_bytes, f->duration_err);
    printf("record server=%s sessions=%d cpu_us_per_pkt=%.3f fwd_cpu_us_per_pkt=%.3f ratio=%.2f "
           "disk_bytes_per_media_byte=%.3f files_ok=%zu\n",
           o->server_name, o->sessions, rec, fwd, fwd > 0 ? rec / fwd : 0.0,
           f->media_bytes ? (double)f->disk_bytes / (double)f->media_bytes : 0.0, f->files_ok);
    fflush(stdout);
}

static int run(wr_bench *b, const rec_opts *o, rec_session *ss, const char *dir, rec_figs *f)
{
    int rc = fl_bench_kc_start_with(&kc, b, "recordRoots", dir);
    if (rc < 0) {
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
    for (int i = 0; i < o->sessions; i++) {
        snprintf(ss[i].path, sizeof(ss[i].path), "%s/rec-%d.webm", dir, i);
        if ((rc = session_setup(b, &ss[i])) < 0) {
            fprintf(stderr, "fluo-bench: session %d: signalling with fluo failed\n", i);
            return rc;
        }
    }
    f->up = wr_bench_wait_connected(b, 20);
    if (f->up < b->npeers) {
        fprintf(stderr, "fluo-bench: %zu of %zu peer connections up\n", f->up, b->npeers);
        return FL_ETIMEDOUT;
    }
    rc = measure(b, ss, o->sessions, o->seconds, f);
    if (f->measured)
        check_files(ss, o->sessions, o->seconds, f);
    return rc;
}

/* Removes what the run left in dir (the recordings) and dir. */
static void remove_dir(const char *dir, const rec_session *ss, int n)
{
    for (int i = 0; i < n; i++) {
        if (ss[i].path[0])
            unlink(ss[i].path);
    }
    if (rmdir(dir) < 0)
        fprintf(stderr, "fluo-bench: cannot remove %s: %s\n", dir, strerror(errno));
}

int fl_bench_record_run(int argc, char **argv, const char *argv0)
{
    static wr_bench bench;
    wr_bench *b = &bench;
    rec_opts o;
    int st = wr_fluo_scenario_init(b, &o, "record", argc, argv, argv0);
    if (st < 0) {
        if (st == FL_EINVAL)
            fl_bench_record_usage(stderr);
        return 2;
    }
    char dir[] = "/tmp/fluo-bench-record-XXXXXX";
    rec_session *ss = calloc((size_t)o.sessions, sizeof(*ss));
    if (!ss || !mkdtemp(dir)) {
        fprintf(stderr, "fluo-bench: no temporary folder: %s\n", strerror(errno));
        free(ss);
        return 1;
    }
    rec_figs f = { 0 };
    int rc = run(b, &o, ss, dir, &f);
    fl_bench_kc_stop_bench(&kc, b);
    remove_dir(dir, ss, o.sessions);
    if (f.measured)
        report(&o, &f);
    int status =
            rc == 0 && f.files_ok == (size_t)o.sessions && f.fwd.pkts > 0 && f.rec_pkts > 0 ? 0 : 1;
    wr_bench_deinit(b);
    fl_clip_destroy(b->video);
    fl_clip_destroy(b->audio);
    free(ss);
    return status;
}
