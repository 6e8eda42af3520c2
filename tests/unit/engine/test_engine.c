/* Engine API: pipelines, elements, connections, media forwarding, flow
 * events, DOT, workers, callbacks on a loop or on the workers, the error
 * model (an error returned and no callback, or 0 and exactly one), and the
 * WebRtcEndpoint's own calls through fl_element_invoke. */
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
#include "base/err.h"
#include "base/time.h"
#include "engine/fluo.h"
#include "tests/unit/engine/engine_test.h"
#include "tests/unit/engine/media_packets.h"

#define MAX_EVENTS 512
#define MAX_STATS  8

typedef struct rec_event {
    int type;
    fl_element *element;
    fl_element *source;
    fl_element *sink;
    unsigned media;
    int flowing;
    char source_desc[32]; /* ELEMENT_(DIS)CONNECTED */
    char sink_desc[32];
    char pad_desc[32]; /* MEDIA_FLOW_* */
    fl_time at;
} rec_event;

typedef struct T {
    engine_test et;           /* first */
    rec_event ev[MAX_EVENTS]; /* with what follows, under et.lock */
    int nev;
    int value;
    fl_stats stats[MAX_STATS];
    size_t nstats; /* entries the last stats reply had */
} T;

static T *t_new(int use_loop, int workers)
{
    T *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    engine_test_init(&t->et, use_loop, (fl_engine_config){ .workers = workers });
    return t;
}

static void t_free(T *t)
{
    engine_test_deinit(&t->et);
    free(t);
}

static void on_event(void *arg, const fl_event *ev)
{
    T *t = arg;
    uv_mutex_lock(&t->et.lock);
    if (t->nev < MAX_EVENTS) {
        rec_event *r = &t->ev[t->nev++];
        r->type = ev->type;
        r->element = ev->element;
        r->at = fl_time_now();
        switch (ev->type) {
        case FL_EVENT_ELEMENT_CONNECTED:
        case FL_EVENT_ELEMENT_DISCONNECTED:
            r->source = ev->link.source;
            r->sink = ev->link.sink;
            r->media = ev->link.media;
            snprintf(r->source_desc, sizeof(r->source_desc), "%s", ev->link.source_desc);
            snprintf(r->sink_desc, sizeof(r->sink_desc), "%s", ev->link.sink_desc);
            break;
        case FL_EVENT_MEDIA_FLOW_IN:
        case FL_EVENT_MEDIA_FLOW_OUT:
            r->media = ev->media_flow.media;
            r->flowing = ev->media_flow.flowing;
            snprintf(r->pad_desc, sizeof(r->pad_desc), "%s", ev->media_flow.desc);
            break;
        default:
            break;
        }
    }
    uv_mutex_unlock(&t->et.lock);
}

static void on_bool(void *arg, int status, int value)
{
    T *t = arg;
    t->value = value;
    atomic_store(&t->et.status, status);
    atomic_fetch_add(&t->et.replies, 1);
}

static int flowing_sync(T *t, fl_element *e, int dir, unsigned media)
{
    int before = atomic_load(&t->et.replies);
    assert_int_equal(fl_element_is_flowing(e, dir, media, on_bool, t), 0);
    wait_count(&t->et, &t->et.replies, before + 1);
    assert_int_equal(atomic_load(&t->et.status), 0);
    return t->value;
}

static void on_stats(void *arg, int status, const fl_stats *entries, size_t n)
{
    T *t = arg;
    uv_mutex_lock(&t->et.lock);
    t->nstats = n;
    for (size_t i = 0; i < n && i < MAX_STATS; i++)
        t->stats[i] = entries[i];
    uv_mutex_unlock(&t->et.lock);
    atomic_store(&t->et.status, status);
    atomic_fetch_add(&t->et.replies, 1);
}

/* The element's statistics (in t->stats); returns how many entries. */
static size_t stats_sync(T *t, fl_element *e, unsigned media)
{
    int before = atomic_load(&t->et.replies);
    assert_int_equal(fl_element_get_stats(e, media, on_stats, t), 0);
    wait_count(&t->et, &t->et.replies, before + 1);
    assert_int_equal(atomic_load(&t->et.status), 0);
    return t->nstats;
}

static fl_element *mk(T *t, fl_pipeline *p, const char *type, const char *name)
{
    fl_element *e;
    assert_int_equal(fl_element_create(p, type, name, &e), 0);
    assert_int_equal(fl_element_set_event_cb(e, on_event, t), 0);
    return e;
}

static int count_events(T *t, int type, fl_element *e, unsigned media)
{
    int n = 0;
    uv_mutex_lock(&t->et.lock);
    for (int i = 0; i < t->nev; i++)
        n += t->ev[i].type == type && t->ev[i].element == e && (t->ev[i].media & media);
    uv_mutex_unlock(&t->et.lock);
    return n;
}

static int find_event(T *t, int type, fl_element *e, unsigned media, int flowing)
{
    uv_mutex_lock(&t->et.lock);
    int found = -1;
    for (int i = 0; i < t->nev && found < 0; i++) {
        const rec_event *r = &t->ev[i];
        if (r->type == type && r->element == e && r->media == media &&
            (flowing < 0 || r->flowing == flowing))
            found = i;
    }
    uv_mutex_unlock(&t->et.lock);
    return found;
}

static void expect_stats_zero(T *t)
{
    fl_engine_stats st;
    fl_engine_get_stats(t->et.engine, &st);
    assert_int_equal(st.pipelines, 0);
    assert_int_equal(st.elements, 0);
}

/* ---- create and release ---- */

static void test_create_release(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_PASSTHROUGH, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_APP_SINK, NULL);
    fl_element *bad;
    assert_int_equal(fl_element_create(p, "NoSuchElement", "x", &bad), FL_ENOTSUP);
    assert_ptr_equal(fl_element_pipeline(a), p);
    assert_string_equal(fl_element_name(a), "a");
    assert_string_equal(fl_element_type_name(b), FL_ELEMENT_APP_SINK);
    assert_non_null(strstr(fl_element_name(b), FL_ELEMENT_APP_SINK));
    fl_engine_stats st;
    fl_engine_get_stats(t->et.engine, &st);
    assert_int_equal(st.pipelines, 1);
    assert_int_equal(st.elements, 2);
    assert_int_equal(st.workers, 2);
    release_sync(&t->et, a);
    fl_engine_get_stats(t->et.engine, &st);
    assert_int_equal(st.elements, 1);
    pipeline_release_sync(&t->et, p); /* releases b */
    expect_stats_zero(t);
    t_free(t);
}

static void test_create_release_many(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    for (int i = 0; i < 1000; i++) {
        fl_pipeline *p;
        assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
        fl_element *e = mk(t, p, FL_ELEMENT_PASSTHROUGH, "e");
        assert_int_equal(fl_element_release(e, on_done, &t->et), 0);
        assert_int_equal(fl_pipeline_release(p, on_done, &t->et), 0);
    }
    wait_count(&t->et, &t->et.dones, 2000);
    expect_stats_zero(t);
    fl_pipeline *ps[1000];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(fl_pipeline_create(t->et.engine, &ps[i]), 0);
        mk(t, ps[i], FL_ELEMENT_APP_SOURCE, NULL);
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fl_pipeline_release(ps[i], on_done, &t->et), 0);
    wait_count(&t->et, &t->et.dones, 3000);
    expect_stats_zero(t);
    fl_engine_stats st;
    fl_engine_get_stats(t->et.engine, &st);
    assert_true(st.calls_posted >= 6000);
    t_free(t);
}

static void test_pipeline_release_with_links(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_APP_SOURCE, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_PASSTHROUGH, "b");
    fl_element *c = mk(t, p, FL_ELEMENT_APP_SINK, "c");
    assert_int_equal(connect_sync(&t->et, a, b, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, b, c, FL_MEDIA_ALL, NULL, NULL), 0);
    pipeline_release_sync(&t->et, p);
    expect_stats_zero(t);
    t_free(t);
}

static void test_destroy_with_live_pipelines(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    for (int i = 0; i < 10; i++) {
        fl_pipeline *p;
        assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
        fl_element *a = mk(t, p, FL_ELEMENT_APP_SOURCE, "a");
        fl_element *b = mk(t, p, FL_ELEMENT_APP_SINK, "b");
        assert_int_equal(fl_element_connect(a, b, FL_MEDIA_ALL, NULL, NULL, on_done, &t->et), 0);
        uint8_t pkt[100] = { 0 };
        assert_int_equal(fl_element_push(a, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
    }
    t_free(t); /* releases the pipelines; pending callbacks run */
}

/* ---- media ---- */

typedef struct sink_rec {
    int n[3];
    int bad;
    int shared; /* packets that were the same buffer as the twin's */
    size_t bytes;
    fl_buf *last;
    struct sink_rec *twin;
} sink_rec;

/* Runs on the worker: checks each packet is the next one, byte for byte. */
static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    sink_rec *s = arg;
    uint8_t want[256];
    int i = media_idx(media);
    size_t len = make_packet(want, media, s->n[i]);
    if (buf->len != len || memcmp(fl_buf_data(buf), want, len) != 0)
        s->bad++;
    if (s->twin && s->twin->last == buf)
        s->shared++;
    s->last = buf;
    s->bytes += buf->len;
    s->n[i]++;
}

static void push_all(T *t, fl_element *src, unsigned media, int count)
{
    uint8_t pkt[256];
    for (int seq = 0; seq < count; seq++) {
        size_t len = make_packet(pkt, media, seq);
        int last = seq == count - 1;
        assert_int_equal(
                fl_element_push(src, media, pkt, len, last ? on_done : NULL, last ? &t->et : NULL),
                0);
    }
}

static void test_media_fanout(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *pt = mk(t, p, FL_ELEMENT_PASSTHROUGH, "pt");
    fl_element *k1 = mk(t, p, FL_ELEMENT_APP_SINK, "k1");
    fl_element *k2 = mk(t, p, FL_ELEMENT_APP_SINK, "k2");
    sink_rec r1 = { 0 }, r2 = { .twin = &r1 };
    assert_int_equal(fl_element_set_media_cb(k1, on_media, &r1), 0);
    assert_int_equal(fl_element_set_media_cb(k2, on_media, &r2), 0);
    assert_int_equal(connect_sync(&t->et, src, pt, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, pt, k1, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, pt, k2, FL_MEDIA_ALL, NULL, NULL), 0);
    unsigned types[] = { FL_MEDIA_AUDIO, FL_MEDIA_VIDEO, FL_MEDIA_DATA };
    for (int i = 0; i < 3; i++) {
        int before = atomic_load(&t->et.dones);
        push_all(t, src, types[i], 1000);
        assert_int_equal(done_status(&t->et, before, 0), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r1.n[i], 1000);
        assert_int_equal(r2.n[i], 1000);
    }
    assert_int_equal(r1.bad, 0);
    assert_int_equal(r2.bad, 0);
    assert_int_equal(r2.shared, 3000); /* one buffer, a reference per sink */
    assert_int_equal(r1.bytes, r2.bytes);
    fl_engine_stats st;
    fl_engine_get_stats(t->et.engine, &st);
    assert_int_equal(st.media_packets, 3 * 3000);
    assert_int_equal(st.media_bytes, 3 * r1.bytes);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static void test_media_audio_only(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "k");
    sink_rec r = { 0 };
    assert_int_equal(fl_element_set_media_cb(k, on_media, &r), 0);
    assert_int_equal(connect_sync(&t->et, src, k, FL_MEDIA_AUDIO, NULL, NULL), 0);
    int before = atomic_load(&t->et.dones);
    push_all(t, src, FL_MEDIA_VIDEO, 100);
    push_all(t, src, FL_MEDIA_AUDIO, 100);
    push_all(t, src, FL_MEDIA_DATA, 100);
    wait_count(&t->et, &t->et.dones, before + 3);
    assert_int_equal(r.n[0], 100);
    assert_int_equal(r.n[1], 0);
    assert_int_equal(r.n[2], 0);
    assert_int_equal(r.bad, 0);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static void test_media_loopback_cycle(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *pt = mk(t, p, FL_ELEMENT_PASSTHROUGH, "pt");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "k");
    sink_rec r = { 0 };
    assert_int_equal(fl_element_set_media_cb(k, on_media, &r), 0);
    assert_int_equal(connect_sync(&t->et, src, pt, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, pt, pt, FL_MEDIA_VIDEO, NULL, NULL),
                     0); /* replaces src */
    assert_int_equal(connect_sync(&t->et, pt, k, FL_MEDIA_ALL, NULL, NULL), 0);
    int before = atomic_load(&t->et.dones);
    push_all(t, src, FL_MEDIA_AUDIO, 10);
    push_all(t, src, FL_MEDIA_VIDEO, 10);
    wait_count(&t->et, &t->et.dones, before + 2);
    assert_int_equal(r.n[0], 10);
    assert_int_equal(r.n[1], 0); /* pt's video sink is fed by itself only */
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

/* ---- connections ---- */

static void test_connect_replace(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_PASSTHROUGH, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_PASSTHROUGH, "b");
    fl_element *c = mk(t, p, FL_ELEMENT_PASSTHROUGH, "c");
    assert_int_equal(connect_sync(&t->et, a, c, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_CONNECTED, a, FL_MEDIA_ALL), 3);
    assert_ptr_equal(t->ev[0].sink, c);
    assert_ptr_equal(t->ev[0].source, a);
    assert_string_equal(t->ev[0].source_desc, "default");
    assert_int_equal(connect_sync(&t->et, b, c, FL_MEDIA_VIDEO, NULL, NULL), 0);
    int dis = find_event(t, FL_EVENT_ELEMENT_DISCONNECTED, a, FL_MEDIA_VIDEO, -1);
    int con = find_event(t, FL_EVENT_ELEMENT_CONNECTED, b, FL_MEDIA_VIDEO, -1);
    assert_true(dis >= 0 && con > dis);
    assert_ptr_equal(t->ev[dis].sink, c);
    int nev = t->nev;
    assert_int_equal(connect_sync(&t->et, b, c, FL_MEDIA_VIDEO, NULL, NULL), 0); /* no-op */
    assert_int_equal(t->nev, nev);
    assert_int_equal(conns_sync(&t->et, c, FL_DIR_SINK, FL_MEDIA_ALL, NULL), 3);
    assert_int_equal(conns_sync(&t->et, c, FL_DIR_SINK, FL_MEDIA_VIDEO, NULL), 1);
    assert_ptr_equal(t->et.conns[0].source, b);
    assert_ptr_equal(t->et.conns[0].sink, c);
    assert_int_equal(t->et.conns[0].media, FL_MEDIA_VIDEO);
    assert_string_equal(t->et.descs[0][0], "default");
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_ALL, NULL), 2);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_VIDEO, NULL), 0);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_ALL, "default"), 2);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_ALL, "other"), 0);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SINK, FL_MEDIA_ALL, NULL), 0);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static void test_connect_descs_self_cross(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    fl_pipeline *p, *q;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    assert_int_equal(fl_pipeline_create(t->et.engine, &q), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_PASSTHROUGH, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_PASSTHROUGH, "b");
    fl_element *d = mk(t, q, FL_ELEMENT_PASSTHROUGH, "d");
    assert_int_equal(connect_sync(&t->et, a, d, FL_MEDIA_ALL, NULL, NULL), FL_EINVAL);
    assert_int_equal(connect_sync(&t->et, a, a, FL_MEDIA_AUDIO, NULL, NULL), 0);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SINK, FL_MEDIA_ALL, NULL), 1);
    assert_ptr_equal(t->et.conns[0].source, a);
    assert_ptr_equal(t->et.conns[0].sink, a);
    assert_int_equal(connect_sync(&t->et, a, b, FL_MEDIA_VIDEO, "cam", "in"), 0);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_ALL, "cam"), 1);
    assert_string_equal(t->et.descs[0][0], "cam");
    assert_string_equal(t->et.descs[0][1], "in");
    assert_int_equal(conns_sync(&t->et, b, FL_DIR_SINK, FL_MEDIA_ALL, "in"), 1);
    assert_int_equal(conns_sync(&t->et, b, FL_DIR_SINK, FL_MEDIA_ALL, "default"), 0);
    assert_int_equal(connect_sync(&t->et, a, b, 0, NULL, NULL), FL_EINVAL);
    pipeline_release_sync(&t->et, q);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static void test_disconnect_and_release_peer(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_PASSTHROUGH, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_PASSTHROUGH, "b");
    fl_element *c = mk(t, p, FL_ELEMENT_PASSTHROUGH, "c");
    assert_int_equal(connect_sync(&t->et, a, c, FL_MEDIA_AUDIO | FL_MEDIA_DATA, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, b, c, FL_MEDIA_VIDEO, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, c, b, FL_MEDIA_AUDIO, NULL, NULL), 0);
    assert_int_equal(disconnect_sync(&t->et, a, c, FL_MEDIA_AUDIO), 0);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_DISCONNECTED, a, FL_MEDIA_AUDIO), 1);
    assert_int_equal(conns_sync(&t->et, c, FL_DIR_SINK, FL_MEDIA_AUDIO, NULL), 0);
    assert_int_equal(disconnect_sync(&t->et, a, c, FL_MEDIA_AUDIO), 0); /* nothing left: still 0 */
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_DISCONNECTED, a, FL_MEDIA_ALL), 1);
    release_sync(&t->et, c);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_DISCONNECTED, a, FL_MEDIA_DATA), 1);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_DISCONNECTED, b, FL_MEDIA_VIDEO), 1);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_DISCONNECTED, c, FL_MEDIA_AUDIO), 1);
    assert_int_equal(conns_sync(&t->et, a, FL_DIR_SOURCE, FL_MEDIA_ALL, NULL), 0);
    assert_int_equal(conns_sync(&t->et, b, FL_DIR_SOURCE, FL_MEDIA_ALL, NULL), 0);
    assert_int_equal(conns_sync(&t->et, b, FL_DIR_SINK, FL_MEDIA_ALL, NULL), 0);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

/* ---- flow, DOT, workers ---- */

typedef struct pusher {
    T *t;
    fl_element *src;
    int left;
    uv_timer_t timer;
} pusher;

static void on_push_tick(uv_timer_t *h)
{
    pusher *ps = h->data;
    uint8_t pkt[64] = { 1, 2, 3 };
    assert_int_equal(fl_element_push(ps->src, FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL), 0);
    if (--ps->left == 0)
        uv_timer_stop(h);
}

static void test_flow_events(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "k");
    assert_int_equal(connect_sync(&t->et, src, k, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(flowing_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO), 0);
    pusher ps = { .t = t, .src = src, .left = 25 };
    uv_timer_init(&t->et.loop, &ps.timer);
    ps.timer.data = &ps;
    uv_timer_start(&ps.timer, on_push_tick, 0, 20);
    while (ps.left > 0)
        uv_run(&t->et.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&ps.timer, NULL);
    fl_time stopped = fl_time_now();
    assert_int_equal(flowing_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO), 1);
    assert_int_equal(flowing_sync(t, src, FL_DIR_SOURCE, FL_MEDIA_VIDEO), 1);
    assert_int_equal(flowing_sync(t, k, FL_DIR_SINK, FL_MEDIA_AUDIO), 0);
    assert_true(find_event(t, FL_EVENT_MEDIA_FLOW_IN, k, FL_MEDIA_VIDEO, 1) >= 0);
    assert_true(find_event(t, FL_EVENT_MEDIA_FLOW_OUT, src, FL_MEDIA_VIDEO, 1) >= 0);
    for (int i = 0; i < 40 && find_event(t, FL_EVENT_MEDIA_FLOW_IN, k, FL_MEDIA_VIDEO, 0) < 0;
         i++) {
        sleep_ms(100);
        uv_run(&t->et.loop, UV_RUN_NOWAIT);
    }
    int in_off = find_event(t, FL_EVENT_MEDIA_FLOW_IN, k, FL_MEDIA_VIDEO, 0);
    assert_true(in_off >= 0);
    assert_string_equal(t->ev[in_off].pad_desc, "default");
    fl_time idle = t->ev[in_off].at - stopped;
    assert_true(idle >= 900 * FL_TIME_MS && idle <= 3000 * FL_TIME_MS);
    assert_true(find_event(t, FL_EVENT_MEDIA_FLOW_OUT, src, FL_MEDIA_VIDEO, 0) >= 0);
    assert_int_equal(flowing_sync(t, k, FL_DIR_SINK, FL_MEDIA_VIDEO), 0);
    assert_int_equal(count_events(t, FL_EVENT_MEDIA_FLOW_IN, k, FL_MEDIA_ALL), 2);
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static int count_substr(const char *s, const char *sub)
{
    int n = 0;
    for (const char *at = s; (at = strstr(at, sub)); at += strlen(sub))
        n++;
    return n;
}

static void test_dot(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "camera \"1\"");
    fl_element *pt = mk(t, p, FL_ELEMENT_PASSTHROUGH, "relay");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "recorder");
    assert_int_equal(connect_sync(&t->et, src, pt, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO, NULL, NULL), 0);
    assert_int_equal(connect_sync(&t->et, pt, k, FL_MEDIA_VIDEO, NULL, "in"), 0);
    int before = atomic_load(&t->et.replies);
    assert_int_equal(fl_pipeline_get_dot(p, on_text, &t->et), 0);
    wait_count(&t->et, &t->et.replies, before + 1);
    assert_int_equal(atomic_load(&t->et.status), 0);
    const char *dot = t->et.text;
    assert_non_null(dot);
    assert_true(strncmp(dot, "digraph", 7) == 0);
    assert_non_null(strstr(dot, "camera \\\"1\\\""));
    assert_non_null(strstr(dot, "relay"));
    assert_non_null(strstr(dot, "recorder"));
    assert_non_null(strstr(dot, FL_ELEMENT_PASSTHROUGH));
    assert_int_equal(count_substr(dot, " -> e"), 3);
    assert_non_null(strstr(dot, "VIDEO default -> in"));
    assert_non_null(strstr(dot, "AUDIO default -> default"));
    pipeline_release_sync(&t->et, p);
    t_free(t);
}

static void test_two_workers(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    fl_pipeline *ps[6];
    int on[2] = { 0, 0 };
    for (int i = 0; i < 6; i++) {
        assert_int_equal(fl_pipeline_create(t->et.engine, &ps[i]), 0);
        int w = fl_pipeline_worker(ps[i]);
        assert_true(w == 0 || w == 1);
        on[w]++;
    }
    assert_int_equal(on[0], 3);
    assert_int_equal(on[1], 3);
    for (int i = 0; i < 6; i++)
        pipeline_release_sync(&t->et, ps[i]);
    t_free(t);
}

static void test_no_callback_loop(void **state)
{
    (void)state;
    T *t = t_new(0, 2);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "k");
    sink_rec r = { 0 };
    assert_int_equal(fl_element_set_media_cb(k, on_media, &r), 0);
    assert_int_equal(connect_sync(&t->et, src, k, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(count_events(t, FL_EVENT_ELEMENT_CONNECTED, src, FL_MEDIA_ALL), 3);
    int before = atomic_load(&t->et.dones);
    push_all(t, src, FL_MEDIA_AUDIO, 500);
    assert_int_equal(done_status(&t->et, before, 0), 0);
    assert_int_equal(r.n[0], 500);
    assert_int_equal(r.bad, 0);
    assert_int_equal(conns_sync(&t->et, k, FL_DIR_SINK, FL_MEDIA_ALL, NULL), 3);
    assert_int_equal(flowing_sync(t, k, FL_DIR_SINK, FL_MEDIA_AUDIO), 1);
    before = atomic_load(&t->et.replies);
    assert_int_equal(fl_pipeline_get_dot(p, on_text, &t->et), 0);
    wait_count(&t->et, &t->et.replies, before + 1);
    assert_non_null(strstr(t->et.text, "src"));
    release_sync(&t->et, k);
    pipeline_release_sync(&t->et, p);
    expect_stats_zero(t);
    t_free(t);
}

/* ---- the error model ---- */

/* Runs the callback loop a while: a callback still to come would run. */
static void settle(T *t)
{
    for (int i = 0; i < 20; i++) {
        sleep_ms(5);
        if (t->et.use_loop)
            uv_run(&t->et.loop, UV_RUN_NOWAIT);
    }
}

/* An error returned: nothing happened and no callback runs. 0 returned:
 * the callback runs exactly once, with what the worker found. */
static void test_error_model(void **state)
{
    (void)state;
    T *t = t_new(1, 2);
    fl_pipeline *p, *q;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    assert_int_equal(fl_pipeline_create(t->et.engine, &q), 0);
    fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
    fl_element *pt = mk(t, p, FL_ELEMENT_PASSTHROUGH, "pt");
    fl_element *k = mk(t, p, FL_ELEMENT_APP_SINK, "k");
    fl_element *d = mk(t, q, FL_ELEMENT_PASSTHROUGH, "d");
    static uint8_t big[FL_ENGINE_PACKET_MAX + 1];
    const char *arg = "x";
    sink_rec r = { 0 };
    int dones = atomic_load(&t->et.dones), replies = atomic_load(&t->et.replies);

    /* refused at once */
    assert_int_equal(fl_element_push(pt, FL_MEDIA_AUDIO, big, 1, on_done, &t->et), FL_ENOTSUP);
    assert_int_equal(fl_element_push(src, FL_MEDIA_ALL, big, 1, on_done, &t->et), FL_EINVAL);
    assert_int_equal(fl_element_push(src, FL_MEDIA_AUDIO, NULL, 1, on_done, &t->et), FL_EINVAL);
    assert_int_equal(fl_element_push(src, FL_MEDIA_AUDIO, big, sizeof(big), on_done, &t->et),
                     FL_EMSGSIZE);
    assert_int_equal(fl_element_connect(src, d, FL_MEDIA_ALL, NULL, NULL, on_done, &t->et),
                     FL_EINVAL);
    assert_int_equal(fl_element_connect(src, k, 0, NULL, NULL, on_done, &t->et), FL_EINVAL);
    assert_int_equal(fl_element_connect(src, NULL, FL_MEDIA_ALL, NULL, NULL, on_done, &t->et),
                     FL_EINVAL);
    assert_int_equal(fl_element_disconnect(src, k, 8, NULL, NULL, on_done, &t->et), FL_EINVAL);
    assert_int_equal(fl_element_is_flowing(k, FL_DIR_SINK, FL_MEDIA_ALL, on_bool, t), FL_EINVAL);
    assert_int_equal(fl_element_is_flowing(k, 0, FL_MEDIA_AUDIO, on_bool, t), FL_EINVAL);
    assert_int_equal(fl_element_get_connections(k, 3, FL_MEDIA_ALL, NULL, on_conns, &t->et),
                     FL_EINVAL);
    assert_int_equal(fl_element_get_stats(k, FL_MEDIA_ALL, NULL, t), FL_EINVAL);
    assert_int_equal(fl_element_set_property(pt, "name", "v", on_done, &t->et), FL_ENOTSUP);
    assert_int_equal(fl_element_get_property(pt, "name", on_text, &t->et), FL_ENOTSUP);
    assert_int_equal(fl_element_set_media_cb(src, on_media, &r), FL_ENOTSUP);
    assert_int_equal(fl_element_invoke(pt, "processOffer", &arg, 1, on_text, &t->et), FL_ENOTSUP);
    assert_int_equal(fl_element_invoke(NULL, "processOffer", &arg, 1, on_text, &t->et), FL_EINVAL);
    assert_int_equal(fl_pipeline_get_dot(p, NULL, t), FL_EINVAL);
    assert_int_equal(fl_pipeline_release(NULL, on_done, &t->et), FL_EINVAL);

    /* a released element, and every element of a released pipeline */
    assert_int_equal(fl_element_release(k, on_done, &t->et), 0);
    assert_int_equal(fl_element_release(k, on_done, &t->et), FL_ECLOSED);
    assert_int_equal(fl_element_get_stats(k, FL_MEDIA_ALL, on_stats, t), FL_ECLOSED);
    assert_int_equal(fl_element_connect(src, k, FL_MEDIA_ALL, NULL, NULL, on_done, &t->et),
                     FL_ECLOSED);
    assert_int_equal(fl_element_set_event_cb(k, on_event, t), FL_ECLOSED);
    assert_int_equal(fl_pipeline_release(q, on_done, &t->et), 0);
    assert_int_equal(fl_pipeline_release(q, on_done, &t->et), FL_ECLOSED);
    assert_int_equal(fl_pipeline_get_dot(q, on_text, &t->et), FL_ECLOSED);
    assert_int_equal(fl_element_release(d, on_done, &t->et), FL_ECLOSED);
    assert_int_equal(fl_element_request_key_frame(d, on_done, &t->et), FL_ECLOSED);
    fl_element *late;
    assert_int_equal(fl_element_create(q, FL_ELEMENT_PASSTHROUGH, NULL, &late), FL_ECLOSED);

    /* the two releases accepted: one callback each, and nothing else */
    wait_count(&t->et, &t->et.dones, dones + 2);
    settle(t);
    assert_int_equal(atomic_load(&t->et.dones), dones + 2);
    assert_int_equal(atomic_load(&t->et.replies), replies);

    /* accepted: exactly one callback each, whatever the status */
    dones = atomic_load(&t->et.dones);
    for (int i = 0; i < 50; i++)
        assert_int_equal(fl_element_push(src, FL_MEDIA_AUDIO, big, 10, on_done, &t->et), 0);
    assert_int_equal(fl_element_request_key_frame(pt, on_done, &t->et), 0); /* status FL_ENOENT */
    assert_int_equal(fl_element_push(src, FL_MEDIA_VIDEO, big, 10, NULL, NULL), 0);
    wait_count(&t->et, &t->et.dones, dones + 51);
    assert_int_equal(atomic_load(&t->et.status), FL_ENOENT);
    assert_int_equal(fl_element_get_stats(pt, FL_MEDIA_ALL, on_stats, t), 0);
    assert_int_equal(fl_pipeline_get_dot(p, on_text, &t->et), 0);
    wait_count(&t->et, &t->et.replies, replies + 2);
    settle(t);
    assert_int_equal(atomic_load(&t->et.dones), dones + 51);
    assert_int_equal(atomic_load(&t->et.replies), replies + 2);
    pipeline_release_sync(&t->et, p);
    expect_stats_zero(t);
    t_free(t);
}

/* ---- a type's own calls: the WebRtcEndpoint's, through fl_element_invoke ---- */

/* Runs a call and waits for its text; returns its status (the text in
 * t->et.text). */
static int invoke_sync(T *t, fl_element *e, const char *method, const char *const *args, size_t n)
{
    int before = atomic_load(&t->et.replies);
    int rc = fl_element_invoke(e, method, args, n, on_text, &t->et);
    if (rc < 0) {
        settle(t);
        assert_int_equal(atomic_load(&t->et.replies), before);
        return rc;
    }
    wait_count(&t->et, &t->et.replies, before + 1);
    assert_non_null(t->et.text); /* a result, or why it failed */
    return atomic_load(&t->et.status);
}

static void wait_event(T *t, int type, fl_element *e)
{
    for (int i = 0; i < ENGINE_TEST_WAIT_MS / 10 && find_event(t, type, e, 0, -1) < 0; i++) {
        sleep_ms(10);
        uv_run(&t->et.loop, UV_RUN_NOWAIT);
    }
    assert_true(find_event(t, type, e, 0, -1) >= 0);
}

static void test_webrtc_invoke(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_WEBRTC, "a");
    fl_element *b = mk(t, p, FL_ELEMENT_WEBRTC, "b");
    assert_int_equal(set_sync(&t->et, a, "networkInterfaces", "lo"), 0);
    assert_int_equal(set_sync(&t->et, b, "networkInterfaces", "lo"), 0);

    /* refused at once: unknown names, wrong counts, NULL arguments */
    const char *none[] = { NULL };
    assert_int_equal(invoke_sync(t, a, "noSuchMethod", NULL, 0), FL_ENOTSUP);
    assert_int_equal(invoke_sync(t, a, "processoffer", NULL, 0), FL_ENOTSUP);
    assert_int_equal(invoke_sync(t, a, "processOffer", NULL, 0), FL_EINVAL);
    assert_int_equal(invoke_sync(t, a, "processOffer", none, 1), FL_EINVAL);
    const char *three[] = { "true", "true", "true" };
    assert_int_equal(invoke_sync(t, a, "generateOffer", three, 3), FL_EINVAL);

    /* before any SDP step */
    assert_int_equal(invoke_sync(t, a, "getLocalSessionDescriptor", NULL, 0), 0);
    assert_string_equal(t->et.text, "");
    assert_int_equal(invoke_sync(t, b, "processAnswer", (const char *[]){ "v=0" }, 1), FL_ESTATE);
    assert_non_null(strstr(t->et.text, "generateOffer"));
    const char *maybe[] = { "true", "maybe" };
    assert_int_equal(invoke_sync(t, a, "generateOffer", maybe, 2), FL_EINVAL);
    assert_int_equal(invoke_sync(t, b, "processOffer", (const char *[]){ "garbage" }, 1),
                     FL_EBADMSG);
    assert_true(strlen(t->et.text) > 0);

    /* a offers (sending video only), b answers, a takes the answer */
    const char *video_only[] = { "false", "true" };
    assert_int_equal(invoke_sync(t, a, "generateOffer", video_only, 2), 0);
    char *offer = strdup(t->et.text);
    assert_non_null(strstr(offer, "m=audio "));
    assert_non_null(strstr(offer, "m=video "));
    assert_non_null(strstr(offer, "a=sendonly")); /* audio: offerToReceiveAudio false */
    assert_int_equal(invoke_sync(t, a, "getLocalSessionDescriptor", NULL, 0), 0);
    assert_string_equal(t->et.text, offer);
    assert_int_equal(invoke_sync(t, a, "generateOffer", NULL, 0), FL_ESTATE);
    assert_int_equal(invoke_sync(t, b, "processOffer", (const char *[]){ offer }, 1), 0);
    char *answer = strdup(t->et.text);
    assert_non_null(strstr(answer, "a=fingerprint:"));
    assert_int_equal(invoke_sync(t, b, "getRemoteSessionDescriptor", NULL, 0), 0);
    assert_string_equal(t->et.text, offer);
    assert_int_equal(invoke_sync(t, b, "processOffer", (const char *[]){ offer }, 1), FL_ESTATE);
    assert_int_equal(invoke_sync(t, a, "processAnswer", (const char *[]){ answer }, 1), 0);
    assert_int_equal(invoke_sync(t, a, "getRemoteSessionDescriptor", NULL, 0), 0);
    assert_string_equal(t->et.text, answer);

    /* candidates: one that does not parse (the text quotes it and says
     * why), one that does, one with an mDNS name (taken, with a note), then
     * the end */
    const char *bad[] = { "candidate:1 1 udp", "0", "0" };
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", bad, 3), FL_EINVAL);
    assert_string_equal(t->et.text,
                        "Invalid ICE candidate 'candidate:1 1 udp': the priority is missing");
    const char *multicast[] = { "candidate:1 1 udp 2122260223 224.0.0.251 5353 typ host" };
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", multicast, 1), FL_EINVAL);
    assert_string_equal(t->et.text,
                        "Invalid ICE candidate 'candidate:1 1 udp 2122260223 224.0.0.251 "
                        "5353 typ host': the address is a multicast address");
    char longer[400] = "candidate:1 1 udp 2122260223 example.com 5000 typ host";
    while (strlen(longer) < 300)
        strcat(longer, " x-pad 0123456789");
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", (const char *[]){ longer }, 1),
                     FL_EINVAL);
    char want[600]; /* the line quoted to 200 bytes, the reason whole */
    snprintf(want, sizeof(want), "Invalid ICE candidate '%.200s': %s", longer,
             "the address is a host name, which fluo does not resolve (only IP addresses and "
             "mDNS .local names are taken)");
    assert_string_equal(t->et.text, want);
    const char *good[] = { "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host" };
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", good, 1), 0);
    assert_string_equal(t->et.text, "");
    const char *mdns[] = {
        "candidate:3 1 udp 2122260223 4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a.local "
        "50000 typ host"
    };
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", mdns, 1), 0);
    assert_non_null(strstr(t->et.text, "taken with its mDNS .local name not resolved"));
    const char *mdns_bad[] = { "candidate:3 1 udp 2122260223 Fluo-Test.local 0 typ host" };
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", mdns_bad, 1), FL_EINVAL);
    assert_non_null(strstr(t->et.text, "the port is 0"));
    assert_int_equal(invoke_sync(t, a, "addIceCandidate", (const char *[]){ "" }, 1), 0);

    /* before any remote description candidates are queued, up to a bound */
    fl_element *q = mk(t, p, FL_ELEMENT_WEBRTC, "q");
    int queued = 0;
    while (invoke_sync(t, q, "addIceCandidate", good, 1) == 0 && queued < 1000)
        queued++;
    assert_int_equal(queued, 64);
    assert_int_equal(atomic_load(&t->et.status), FL_EBUSY);
    assert_string_equal(t->et.text, "64 ICE candidates are queued already, waiting for the remote "
                                    "description");

    /* gathering: candidates as events, then the end of them */
    assert_int_equal(invoke_sync(t, b, "gatherCandidates", NULL, 0), 0);
    wait_event(t, FL_EVENT_ICE_GATHERING_DONE, b);
    assert_true(find_event(t, FL_EVENT_ICE_CANDIDATE, b, 0, -1) >= 0);

    free(offer);
    free(answer);
    pipeline_release_sync(&t->et, p);
    expect_stats_zero(t);
    t_free(t);
}

/* ---- statistics ---- */

/* A PassThrough has no figures of its own: one ELEMENT entry, stamped with
 * the wall clock, whatever the media asked for; with a callback loop and
 * without (delivered on the worker). */
static void test_stats_passthrough(void **state)
{
    (void)state;
    for (int use_loop = 0; use_loop < 2; use_loop++) {
        T *t = t_new(use_loop, 1);
        fl_pipeline *p;
        assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
        fl_element *src = mk(t, p, FL_ELEMENT_APP_SOURCE, "src");
        fl_element *pt = mk(t, p, FL_ELEMENT_PASSTHROUGH, "pt");
        assert_int_equal(connect_sync(&t->et, src, pt, FL_MEDIA_ALL, NULL, NULL), 0);
        int64_t before = fl_time_wall_ms();
        assert_int_equal(stats_sync(t, pt, FL_MEDIA_ALL), 1);
        int64_t after = fl_time_wall_ms();
        assert_int_equal(t->stats[0].kind, FL_STATS_ELEMENT);
        assert_true(t->stats[0].timestamp_ms >= before && t->stats[0].timestamp_ms <= after);
        assert_true(before > 1600000000000); /* ms since 1970, not a monotonic clock */
        assert_int_equal(stats_sync(t, pt, FL_MEDIA_VIDEO), 1);
        assert_int_equal(t->stats[0].kind, FL_STATS_ELEMENT);
        /* the app source has no stats hook either */
        assert_int_equal(stats_sync(t, src, FL_MEDIA_AUDIO), 1);
        assert_int_equal(t->stats[0].kind, FL_STATS_ELEMENT);
        pipeline_release_sync(&t->et, p);
        expect_stats_zero(t);
        t_free(t);
    }
}

static int get_sync(T *t, fl_element *e, const char *name)
{
    int before = atomic_load(&t->et.replies);
    assert_int_equal(fl_element_get_property(e, name, on_text, &t->et), 0);
    wait_count(&t->et, &t->et.replies, before + 1);
    return atomic_load(&t->et.status);
}

/* A WebRtcEndpoint's statistics and read-only properties are plain engine
 * values (the Kurento records are the control server's): an ENDPOINT
 * entry (its ICE figure unknown until the ICE transport exists) and no
 * stream before negotiation; "" for the ICE and DTLS states and the pair
 * before any; rembParams as set_property takes it. */
static void test_stats_webrtc(void **state)
{
    (void)state;
    T *t = t_new(1, 1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->et.engine, &p), 0);
    fl_element *a = mk(t, p, FL_ELEMENT_WEBRTC, "a");
    assert_int_equal(set_sync(&t->et, a, "networkInterfaces", "lo"), 0);
    assert_int_equal(stats_sync(t, a, FL_MEDIA_ALL), 1);
    assert_int_equal(t->stats[0].kind, FL_STATS_ENDPOINT);
    assert_int_equal(t->stats[0].endpoint.unvalidated_packets_dropped, -1);
    assert_true(t->stats[0].timestamp_ms > 1600000000000);
    static const char *const empty[] = { "ICECandidatePairs", "IceConnectionState",
                                         "DtlsConnectionState" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(get_sync(t, a, empty[i]), 0);
        assert_string_equal(t->et.text, "");
    }
    assert_int_equal(get_sync(t, a, "connectionState"), 0);
    assert_string_equal(t->et.text, "DISCONNECTED");
    assert_int_equal(get_sync(t, a, "rembParams"), 0);
    assert_string_equal(t->et.text, "upLosses=26");
    assert_int_equal(set_sync(&t->et, a, "rembParams", "rembOnConnect=500000,decrementFactor=0.7"),
                     0);
    assert_int_equal(get_sync(t, a, "rembParams"), 0);
    assert_string_equal(t->et.text, "upLosses=26,rembOnConnect=500000,decrementFactor=0.7");

    /* its offer makes the ICE transport: the ICE figure counts, still no
     * stream has statistics; gathering gives the component a state */
    assert_int_equal(invoke_sync(t, a, "generateOffer", NULL, 0), 0);
    assert_int_equal(stats_sync(t, a, FL_MEDIA_ALL), 1);
    assert_int_equal(t->stats[0].kind, FL_STATS_ENDPOINT);
    assert_int_equal(t->stats[0].endpoint.unvalidated_packets_dropped, 0);
    assert_int_equal(get_sync(t, a, "DtlsConnectionState"), 0);
    assert_string_equal(t->et.text, ""); /* made with the answer */
    assert_int_equal(invoke_sync(t, a, "gatherCandidates", NULL, 0), 0);
    wait_event(t, FL_EVENT_ICE_GATHERING_DONE, a);
    assert_int_equal(get_sync(t, a, "IceConnectionState"), 0);
    assert_string_equal(t->et.text, "GATHERING");
    pipeline_release_sync(&t->et, p);
    expect_stats_zero(t);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_release),
        cmocka_unit_test(test_create_release_many),
        cmocka_unit_test(test_pipeline_release_with_links),
        cmocka_unit_test(test_destroy_with_live_pipelines),
        cmocka_unit_test(test_media_fanout),
        cmocka_unit_test(test_media_audio_only),
        cmocka_unit_test(test_media_loopback_cycle),
        cmocka_unit_test(test_connect_replace),
        cmocka_unit_test(test_connect_descs_self_cross),
        cmocka_unit_test(test_disconnect_and_release_peer),
        cmocka_unit_test(test_flow_events),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_two_workers),
        cmocka_unit_test(test_no_callback_loop),
        cmocka_unit_test(test_error_model),
        cmocka_unit_test(test_webrtc_invoke),
        cmocka_unit_test(test_stats_passthrough),
        cmocka_unit_test(test_stats_webrtc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
