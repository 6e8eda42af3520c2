/* A pipeline spread over two workers (fl_engine_config.spread_from): its
 * endpoints placed on both, a source's packets reaching sinks on the other
 * worker whole and in order through a bridge, connections, events and DOT
 * told as if the link were direct, a PlayerEndpoint's Sender Reports
 * relayed to a far sink (at most every 500 ms, agreeing with the packets),
 * disconnect, release of either end and of the pipeline, under ASan with no
 * leak. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "base/buf.h"
#include "engine/engine_int.h"
#include "engine/fluo.h"
#include "tests/unit/engine/engine_test.h"
#include "tests/unit/engine/media_packets.h"

#define NSINKS 6
#define NPKT   1000

typedef struct sink_rec {
    atomic_int n[3];
    atomic_int bad;
    atomic_int worker; /* the thread's: set by the callback */
} sink_rec;

/* ELEMENT_(DIS)CONNECTED events on the source */
typedef struct link_events {
    int connected, disconnected;
    fl_element *last_sink;
} link_events;

static engine_test *t_new_n(int spread_from, int workers)
{
    engine_test *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    engine_test_init(t, 1, (fl_engine_config){ .workers = workers, .spread_from = spread_from });
    return t;
}

static engine_test *t_new(int spread_from)
{
    return t_new_n(spread_from, 2);
}

static void t_free(engine_test *t)
{
    engine_test_deinit(t);
    free(t);
}

static void on_event(void *arg, const fl_event *ev)
{
    link_events *l = arg;
    if (ev->type == FL_EVENT_ELEMENT_CONNECTED)
        l->connected++;
    if (ev->type == FL_EVENT_ELEMENT_DISCONNECTED) {
        l->disconnected++;
        l->last_sink = ev->link.sink;
    }
}

/* On the sink's worker: each packet the next one, byte for byte. */
static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    sink_rec *s = arg;
    uint8_t want[256];
    int i = media_idx(media);
    size_t len = make_packet(want, media, atomic_load(&s->n[i]));
    if (fl_packet_len(buf) != len || memcmp(fl_packet_data(buf), want, len) != 0)
        atomic_fetch_add(&s->bad, 1);
    /* a reference kept past the callback and dropped here, on this thread */
    fl_packet_unref(fl_packet_ref(buf));
    atomic_fetch_add(&s->n[i], 1);
}

static void push_all(engine_test *t, fl_element *src, unsigned media, int from, int count)
{
    uint8_t pkt[256];
    for (int seq = from; seq < from + count; seq++) {
        size_t len = make_packet(pkt, media, seq);
        assert_int_equal(fl_element_push(src, media, pkt, len, NULL, NULL), 0);
    }
    /* all taken by the source's worker (the sinks may still be behind) */
    int before = atomic_load(&t->dones);
    assert_int_equal(done_status(t, before, fl_element_push(src, media, pkt, 0, on_done, t)), 0);
}

typedef struct all_sinks {
    sink_rec *recs;
    int n, media, target;
} all_sinks;

static int all_reached(void *arg)
{
    all_sinks *a = arg;
    for (int i = 0; i < a->n; i++) {
        if (atomic_load(&a->recs[i].n[a->media]) < a->target)
            return 0;
    }
    return 1;
}

static fl_element *mk(fl_pipeline *p, const char *type, const char *name)
{
    fl_element *e;
    assert_int_equal(fl_element_create(p, type, name, &e), 0);
    return e;
}

static void test_spread_fanout(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, "src");
    assert_int_equal(fl_element_worker(src), fl_pipeline_worker(p)); /* not an endpoint */
    link_events ev = { 0 };
    assert_int_equal(fl_element_set_event_cb(src, on_event, &ev), 0);
    fl_element *k[NSINKS];
    sink_rec r[NSINKS];
    memset(r, 0, sizeof(r));
    int on[2] = { 0, 0 };
    for (int i = 0; i < NSINKS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "k%d", i);
        k[i] = mk(p, FL_ELEMENT_APP_SINK, name);
        on[fl_element_worker(k[i])]++;
        assert_int_equal(fl_element_set_media_cb(k[i], on_media, &r[i]), 0);
        assert_int_equal(connect_sync(t, src, k[i], FL_MEDIA_ALL, NULL, NULL), 0);
    }
    /* balanced, the source counted: 7 elements split 4 and 3 */
    int home = fl_pipeline_worker(p);
    assert_true(on[0] >= 2 && on[1] >= 2);
    assert_true(abs(on[home] + 1 - on[1 - home]) <= 1);

    unsigned types[] = { FL_MEDIA_AUDIO, FL_MEDIA_VIDEO, FL_MEDIA_DATA };
    for (int m = 0; m < 3; m++) {
        push_all(t, src, types[m], 0, NPKT);
        all_sinks a = { r, NSINKS, m, NPKT + 1 }; /* + the empty marker */
        assert_true(run_until(t, all_reached, &a));
    }
    for (int i = 0; i < NSINKS; i++) {
        for (int m = 0; m < 3; m++)
            assert_int_equal(atomic_load(&r[i].n[m]), NPKT + 1);
        assert_int_equal(atomic_load(&r[i].bad), 3); /* the markers only */
    }

    /* connections and events as if every link were direct */
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(ev.connected, 3 * NSINKS);
    assert_int_equal(conns_sync(t, src, FL_DIR_SOURCE, FL_MEDIA_VIDEO, NULL), NSINKS);
    for (size_t i = 0; i < t->nconns; i++)
        assert_ptr_equal(t->conns[i].source, src);
    for (int i = 0; i < NSINKS; i++) {
        assert_int_equal(conns_sync(t, k[i], FL_DIR_SINK, FL_MEDIA_ALL, NULL), 3);
        assert_ptr_equal(t->conns[0].source, src);
        assert_ptr_equal(t->conns[0].sink, k[i]);
    }
    int before = atomic_load(&t->replies);
    assert_int_equal(fl_pipeline_get_dot(p, on_text, t), 0);
    wait_count(t, &t->replies, before + 1);
    assert_non_null(t->text);
    for (int i = 0; i < NSINKS; i++)
        assert_non_null(strstr(t->text, fl_element_name(k[i])));
    assert_null(strstr(t->text, "Bridge"));
    int edges = 0;
    for (const char *at = t->text; (at = strstr(at, " -> e")); at++)
        edges++;
    assert_int_equal(edges, 3 * NSINKS);
    assert_non_null(strstr(t->text, "}\n"));

    /* a remote sink disconnected gets nothing more; the others still do */
    int far = fl_element_worker(k[0]) != fl_element_worker(src) ? 0 : 1;
    assert_int_not_equal(fl_element_worker(k[far]), fl_element_worker(src));
    assert_int_equal(disconnect_sync(t, src, k[far], FL_MEDIA_VIDEO), 0);
    assert_int_equal(conns_sync(t, k[far], FL_DIR_SINK, FL_MEDIA_VIDEO, NULL), 0);
    assert_int_equal(conns_sync(t, src, FL_DIR_SOURCE, FL_MEDIA_VIDEO, NULL), NSINKS - 1);
    assert_int_equal(ev.disconnected, 1);
    assert_ptr_equal(ev.last_sink, k[far]);
    push_all(t, src, FL_MEDIA_VIDEO, NPKT + 1, 100);
    int other = -1; /* another sink on the far worker */
    for (int i = 0; i < NSINKS && other < 0; i++) {
        if (i != far && fl_element_worker(k[i]) != fl_element_worker(src))
            other = i;
    }
    assert_true(other >= 0);
    all_sinks a = { &r[other], 1, 1, NPKT + 101 };
    assert_true(run_until(t, all_reached, &a));
    assert_int_equal(atomic_load(&r[far].n[1]), NPKT + 1);

    /* a remote sink released: the source hears of it */
    release_sync(t, k[other]);
    assert_int_equal(conns_sync(t, src, FL_DIR_SOURCE, FL_MEDIA_VIDEO, NULL), NSINKS - 2);

    /* the source released: the remote sinks lose their links */
    release_sync(t, src);
    for (int i = 0; i < NSINKS; i++) {
        if (i != other)
            assert_int_equal(conns_sync(t, k[i], FL_DIR_SINK, FL_MEDIA_ALL, NULL), 0);
    }
    pipeline_release_sync(t, p);
    fl_engine_stats st;
    fl_engine_get_stats(t->engine, &st);
    assert_int_equal(st.elements, 0);
    assert_int_equal(st.pipelines, 0);
    t_free(t);
}

/* Released with bridges carrying packets, and an engine destroyed with a
 * spread pipeline alive: nothing leaks, nothing is touched after. */
static void test_spread_release_busy(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    static sink_rec recs[2][4]; /* outlive the engine's workers */
    for (int round = 0; round < 2; round++) {
        fl_pipeline *p;
        assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
        fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, "src");
        sink_rec *r = recs[round];
        for (int i = 0; i < 4; i++) {
            fl_element *k = mk(p, FL_ELEMENT_APP_SINK, NULL);
            assert_int_equal(fl_element_set_media_cb(k, on_media, &r[i]), 0);
            assert_int_equal(connect_sync(t, src, k, FL_MEDIA_ALL, NULL, NULL), 0);
        }
        uint8_t pkt[256];
        for (int seq = 0; seq < 500; seq++) {
            size_t len = make_packet(pkt, FL_MEDIA_VIDEO, seq);
            assert_int_equal(fl_element_push(src, FL_MEDIA_VIDEO, pkt, len, NULL, NULL), 0);
        }
        if (round == 0)
            pipeline_release_sync(t, p);
        /* round 1: left for fl_engine_destroy */
    }
    t_free(t);
}

/* spread_from: the first elements stay home, later endpoints balance. */
static void test_spread_placement(void **state)
{
    (void)state;
    engine_test *t = t_new(3);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    int home = fl_pipeline_worker(p), on[2] = { 0, 0 };
    fl_element *pt = mk(p, FL_ELEMENT_PASSTHROUGH, NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fl_element_worker(mk(p, FL_ELEMENT_APP_SINK, NULL)), home);
    for (int i = 0; i < 9; i++)
        on[fl_element_worker(mk(p, FL_ELEMENT_APP_SINK, NULL))]++;
    assert_int_equal(on[home], 3);
    assert_int_equal(on[1 - home], 6);
    assert_int_equal(fl_element_worker(mk(p, FL_ELEMENT_PASSTHROUGH, NULL)), home);
    (void)pt;
    pipeline_release_sync(t, p);
    t_free(t);

    t = t_new(0); /* off: everything home */
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    home = fl_pipeline_worker(p);
    for (int i = 0; i < 8; i++)
        assert_int_equal(fl_element_worker(mk(p, FL_ELEMENT_APP_SINK, NULL)), home);
    pipeline_release_sync(t, p);
    t_free(t);
}

/* The source released while its far sink keeps asking for key frames:
 * each side may still name the other's hidden end. */
static void test_spread_key_frames_during_release(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    for (int round = 0; round < 10; round++) {
        fl_pipeline *p;
        assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
        fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, NULL);
        fl_element *k = mk(p, FL_ELEMENT_APP_SINK, NULL);
        assert_int_not_equal(fl_element_worker(src), fl_element_worker(k));
        assert_int_equal(connect_sync(t, src, k, FL_MEDIA_VIDEO, NULL, NULL), 0);
        for (int i = 0; i < 1000; i++)
            (void)fl_element_request_key_frame(k, NULL, NULL);
        release_sync(t, src);
        for (int i = 0; i < 1000; i++)
            (void)fl_element_request_key_frame(k, NULL, NULL);
        pipeline_release_sync(t, p);
    }
    t_free(t);
}

/* connect and disconnect posted back to back take effect in that order,
 * and a reconnect is not undone by the removal of the link it replaced */
static void test_spread_call_order(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, NULL);
    fl_element *k = mk(p, FL_ELEMENT_APP_SINK, NULL);
    fl_element *near = mk(p, FL_ELEMENT_APP_SOURCE, NULL); /* another source */
    assert_int_not_equal(fl_element_worker(src), fl_element_worker(k));
    for (int round = 0; round < 50; round++) {
        int before = atomic_load(&t->dones);
        assert_int_equal(fl_element_connect(src, k, FL_MEDIA_VIDEO, NULL, NULL, on_done, t), 0);
        assert_int_equal(fl_element_disconnect(src, k, FL_MEDIA_VIDEO, NULL, NULL, on_done, t), 0);
        wait_count(t, &t->dones, before + 2);
        assert_int_equal(conns_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO, NULL), 0);
    }
    for (int round = 0; round < 20; round++) {
        /* src -> k, then near -> k replaces it, then src -> k again at once */
        assert_int_equal(connect_sync(t, src, k, FL_MEDIA_VIDEO, NULL, NULL), 0);
        int before = atomic_load(&t->dones);
        assert_int_equal(fl_element_connect(near, k, FL_MEDIA_VIDEO, NULL, NULL, on_done, t), 0);
        assert_int_equal(fl_element_connect(src, k, FL_MEDIA_VIDEO, NULL, NULL, on_done, t), 0);
        wait_count(t, &t->dones, before + 2);
        /* whichever won, k has one source and the source's view agrees */
        assert_int_equal(conns_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO, NULL), 1);
        fl_element *won = t->conns[0].source;
        assert_int_equal(conns_sync(t, src, FL_DIR_SOURCE, FL_MEDIA_VIDEO, NULL),
                         won == src ? 1 : 0);
        uv_run(&t->loop, UV_RUN_NOWAIT);
        assert_int_equal(conns_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO, NULL), 1);
        assert_ptr_equal(t->conns[0].source, won);
        assert_int_equal(disconnect_sync(t, won, k, FL_MEDIA_VIDEO), 0);
    }
    pipeline_release_sync(t, p);
    t_free(t);
}

static void on_stats(void *arg, int status, const fl_stats *st, size_t n)
{
    (void)arg, (void)status, (void)st, (void)n;
}

/* A pipeline released: its elements' handles stay valid (answering
 * FL_ECLOSED) until the release's done callback, on every worker. */
static void test_spread_handles_until_release_done(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, NULL);
    fl_element *k[200];
    for (int i = 0; i < 200; i++) {
        k[i] = mk(p, FL_ELEMENT_APP_SINK, NULL);
        if (fl_element_worker(k[i]) != fl_pipeline_worker(p))
            assert_int_equal(connect_sync(t, src, k[i], FL_MEDIA_ALL, NULL, NULL), 0);
    }
    int before = atomic_load(&t->dones);
    assert_int_equal(fl_pipeline_release(p, on_done, t), 0);
    while (atomic_load(&t->dones) == before) {
        assert_int_equal(fl_element_get_stats(src, FL_MEDIA_ALL, on_stats, t), FL_ECLOSED);
        assert_int_equal(fl_element_get_stats(k[199], FL_MEDIA_ALL, on_stats, t), FL_ECLOSED);
        uv_run(&t->loop, UV_RUN_NOWAIT);
    }
    t_free(t);
}

/* Three workers: a source's sinks on all of them, every packet to each. */
static void test_spread_three_workers(void **state)
{
    (void)state;
    engine_test *t = t_new_n(1, 3);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *src = mk(p, FL_ELEMENT_APP_SOURCE, NULL);
    sink_rec r[6];
    memset(r, 0, sizeof(r));
    int on[3] = { 0, 0, 0 };
    for (int i = 0; i < 6; i++) {
        fl_element *k = mk(p, FL_ELEMENT_APP_SINK, NULL);
        on[fl_element_worker(k)]++;
        assert_int_equal(fl_element_set_media_cb(k, on_media, &r[i]), 0);
        assert_int_equal(connect_sync(t, src, k, FL_MEDIA_VIDEO, NULL, NULL), 0);
    }
    assert_true(on[0] && on[1] && on[2]);
    for (int from = 0; from < 2000; from += 201)
        push_all(t, src, FL_MEDIA_VIDEO, from, 200); /* 200 and a marker */
    all_sinks a = { r, 6, 1, 2010 };
    assert_true(run_until(t, all_reached, &a));
    for (int i = 0; i < 6; i++) {
        assert_int_equal(atomic_load(&r[i].n[1]), 2010);
        assert_int_equal(atomic_load(&r[i].bad), 10); /* the markers */
    }
    pipeline_release_sync(t, p);
    t_free(t);
}

/* What a far AppSink's video sink pad tells of its stream's Sender Report
 * (the bridge relays it from the source's worker), looked at on each
 * packet, on the sink's worker. */
typedef struct sr_rec {
    fl_element *sink;
    atomic_int packets;
    atomic_int changes; /* distinct reports seen */
    atomic_int min_gap; /* ms between two reports' times, the least */
    atomic_int worst;   /* ms, a packet's timestamp against the report's */
    uint32_t ts;        /* the last report */
    fl_time sent;
} sr_rec;

static void on_media_sr(void *arg, unsigned media, fl_buf *buf)
{
    sr_rec *r = arg;
    if (media != FL_MEDIA_VIDEO || !buf->rtp.parsed)
        return;
    atomic_fetch_add(&r->packets, 1);
    fl__pad *vsink = NULL;
    fl_list_foreach (it, &r->sink->pads) {
        fl__pad *pad = fl_container_of(it, fl__pad, node);
        if (pad->dir == FL_DIR_SINK && pad->media == FL_MEDIA_VIDEO)
            vsink = pad;
    }
    uint32_t ts;
    fl_time sent;
    if (!vsink || fl__pad_sender_report(vsink, buf->rtp.ssrc, &ts, &sent) != 0)
        return;
    if (ts != r->ts || sent != r->sent) {
        if (atomic_load(&r->changes) > 0) {
            int gap = (int)((sent - r->sent) / FL_TIME_MS);
            if (gap < atomic_load(&r->min_gap))
                atomic_store(&r->min_gap, gap);
        }
        r->ts = ts;
        r->sent = sent;
        atomic_fetch_add(&r->changes, 1);
    }
    /* the packet's timestamp at the time it came, by the report: the
     * report's advanced by the time since (90 kHz) */
    int64_t want = (int64_t)ts + (fl_time_now() - sent) * 90000 / FL_TIME_SEC;
    int off = (int)(llabs((int64_t)(int32_t)(buf->rtp.timestamp - (uint32_t)want)) / 90);
    if (off > atomic_load(&r->worst))
        atomic_store(&r->worst, off);
}

/* A PlayerEndpoint's Sender Reports reach a sink on the other worker: one
 * per stream every 500 ms at the most, agreeing with the packets. */
static void test_spread_sender_reports(void **state)
{
    (void)state;
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    char dir[] = "/tmp/fluo-spread-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512], uri[128];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=30:duration=4 "
             "-c:v libvpx -b:v 200k -g 30 '%s/v.webm'",
             dir);
    assert_int_equal(system(cmd), 0);
    snprintf(uri, sizeof(uri), "file://%s/v.webm", dir);

    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *player = mk(p, FL_ELEMENT_PLAYER, NULL);
    fl_element *k = NULL;
    for (int i = 0; i < 4 && !k; i++) {
        fl_element *e = mk(p, FL_ELEMENT_APP_SINK, NULL);
        if (fl_element_worker(e) != fl_element_worker(player))
            k = e;
    }
    assert_non_null(k);
    static sr_rec r; /* outlives the sink's worker */
    memset(&r, 0, sizeof(r));
    r.sink = k;
    atomic_store(&r.min_gap, 1 << 30);
    assert_int_equal(fl_element_set_media_cb(k, on_media_sr, &r), 0);
    assert_int_equal(connect_sync(t, player, k, FL_MEDIA_VIDEO, NULL, NULL), 0);
    assert_int_equal(set_sync(t, player, "uri", uri), 0);
    int before = atomic_load(&t->replies);
    assert_int_equal(
            reply_status(t, before, fl_element_invoke(player, "play", NULL, 0, on_text, t)), 0);
    sleep_ms(3500);
    pipeline_release_sync(t, p);
    t_free(t);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);

    int changes = atomic_load(&r.changes), gap = atomic_load(&r.min_gap);
    print_message("sender reports over the bridge: %d packets, %d reports, %d ms apart at the "
                  "least, packets %d ms off them at the most\n",
                  atomic_load(&r.packets), changes, gap, atomic_load(&r.worst));
    assert_true(atomic_load(&r.packets) >= 60);
    assert_true(changes >= 4 && changes <= 8); /* 3.5 s at one each 500 ms at the most */
    assert_true(gap >= 490);
    assert_true(atomic_load(&r.worst) <= 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_fanout),
        cmocka_unit_test(test_spread_release_busy),
        cmocka_unit_test(test_spread_placement),
        cmocka_unit_test(test_spread_key_frames_during_release),
        cmocka_unit_test(test_spread_call_order),
        cmocka_unit_test(test_spread_handles_until_release_done),
        cmocka_unit_test(test_spread_three_workers),
        cmocka_unit_test(test_spread_sender_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
