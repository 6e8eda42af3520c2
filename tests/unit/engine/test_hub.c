/* Hubs (engine/hub.c): AppSources into HubPorts, AppSinks out of them,
 * through a DispatcherOneToMany (setSource switching every port, removeSource,
 * ports and the source released) and a Dispatcher (connect between two
 * ports, one source feeding many), and the errors of both. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "engine/fluo.h"
#include "tests/unit/engine/engine_test.h"

#define NSRC 3

/* What reached one AppSink, by the source that pushed it (first byte). */
typedef struct sink_rec {
    atomic_int n[NSRC];
    atomic_int audio;
    atomic_int rtp;        /* RTP packets (version 2) */
    atomic_uint last_ssrc; /* of the last one */
} sink_rec;

static engine_test *t_new(int workers)
{
    engine_test *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    engine_test_init(t, 0, (fl_engine_config){ .workers = workers });
    return t;
}

static void t_free(engine_test *t)
{
    fl_engine_stats st;
    fl_engine_get_stats(t->engine, &st);
    assert_int_equal(st.pipelines, 0);
    assert_int_equal(st.elements, 0);
    engine_test_deinit(t);
    free(t);
}

static fl_element *mk(fl_pipeline *p, const char *type, const char *name)
{
    fl_element *e;
    assert_int_equal(fl_element_create(p, type, name, &e), 0);
    return e;
}

static fl_element *port(engine_test *t, fl_pipeline *p, const char *hub, const char *name)
{
    fl_element *e = mk(p, FL_ELEMENT_HUB_PORT, name);
    assert_int_equal(set_sync(t, e, "hub", hub), 0);
    return e;
}

static int invoke_sync(engine_test *t,
                       fl_element *e,
                       const char *method,
                       const char *a,
                       const char *b)
{
    const char *args[] = { a, b };
    size_t n = b ? 2 : a ? 1 : 0;
    int before = atomic_load(&t->replies);
    return reply_status(t, before, fl_element_invoke(e, method, args, n, on_text, t));
}

/* Runs on the worker. */
static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    sink_rec *r = arg;
    const uint8_t *d = fl_buf_data(buf);
    if (media == FL_MEDIA_AUDIO) {
        atomic_fetch_add(&r->audio, 1);
    } else if (buf->len >= 12 && d[0] == 0x80) {
        atomic_store(&r->last_ssrc,
                     (unsigned)d[8] << 24 | (unsigned)d[9] << 16 | (unsigned)d[10] << 8 | d[11]);
        atomic_fetch_add(&r->rtp, 1);
    } else if (buf->len > 0 && d[0] < NSRC)
        atomic_fetch_add(&r->n[d[0]], 1);
}

static fl_element *sink(fl_pipeline *p, const char *name, sink_rec *r)
{
    fl_element *e = mk(p, FL_ELEMENT_APP_SINK, name);
    assert_int_equal(fl_element_set_media_cb(e, on_media, r), 0);
    return e;
}

/* Pushes `count` video packets from each source (source i's start with
 * byte i), then waits until the worker has handled them all. */
static void push_each(engine_test *t, fl_element *const *srcs, size_t nsrc, int count)
{
    uint8_t pkt[64];
    for (size_t s = 0; s < nsrc; s++) {
        memset(pkt, 0, sizeof(pkt));
        pkt[0] = (uint8_t)s;
        for (int i = 0; i < count; i++) {
            pkt[1] = (uint8_t)i;
            assert_int_equal(fl_element_push(srcs[s], FL_MEDIA_VIDEO, pkt, sizeof(pkt), NULL, NULL),
                             0);
        }
    }
    int before = atomic_load(&t->dones);
    assert_int_equal(
            done_status(t, before,
                        fl_element_push(srcs[0], FL_MEDIA_AUDIO, pkt, sizeof(pkt), on_done, t)),
            0);
}

static void expect(sink_rec *r, int from0, int from1)
{
    assert_int_equal(atomic_load(&r->n[0]), from0);
    assert_int_equal(atomic_load(&r->n[1]), from1);
    atomic_store(&r->n[0], 0);
    atomic_store(&r->n[1], 0);
    atomic_store(&r->audio, 0);
}

static void test_one_to_many(void **state)
{
    (void)state;
    engine_test *t = t_new(2);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *hub = mk(p, FL_ELEMENT_DISPATCHER_ONE_TO_MANY, "hub");
    fl_element *src[2] = { mk(p, FL_ELEMENT_APP_SOURCE, "src0"),
                           mk(p, FL_ELEMENT_APP_SOURCE, "src1") };
    fl_element *in[2] = { port(t, p, "hub", "in0"), port(t, p, "hub", "in1") };
    sink_rec r[3];
    memset(r, 0, sizeof(r));
    fl_element *out[3], *k[3];
    const char *names[3][2] = { { "out0", "k0" }, { "out1", "k1" }, { "out2", "k2" } };
    for (int i = 0; i < 3; i++) {
        out[i] = port(t, p, "hub", names[i][0]);
        k[i] = sink(p, names[i][1], &r[i]);
        assert_int_equal(connect_sync(t, out[i], k[i], FL_MEDIA_ALL, NULL, NULL), 0);
    }
    assert_int_equal(connect_sync(t, src[0], in[0], FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, src[1], in[1], FL_MEDIA_ALL, NULL, NULL), 0);

    push_each(t, src, 2, 10); /* no source yet: nothing goes out */
    for (int i = 0; i < 3; i++)
        expect(&r[i], 0, 0);

    assert_int_equal(invoke_sync(t, hub, "setSource", "in0", NULL), 0);
    push_each(t, src, 2, 10);
    for (int i = 0; i < 3; i++)
        expect(&r[i], 10, 0);

    assert_int_equal(invoke_sync(t, hub, "setSource", "in1", NULL), 0); /* a switch */
    push_each(t, src, 2, 10);
    for (int i = 0; i < 3; i++)
        expect(&r[i], 0, 10);

    /* a port joining later gets the source too */
    sink_rec late = { 0 };
    fl_element *out3 = port(t, p, "hub", "out3");
    fl_element *k3 = sink(p, "k3", &late);
    assert_int_equal(connect_sync(t, out3, k3, FL_MEDIA_ALL, NULL, NULL), 0);
    push_each(t, src, 2, 5);
    expect(&late, 0, 5);
    for (int i = 0; i < 3; i++)
        expect(&r[i], 0, 5);

    assert_int_equal(invoke_sync(t, hub, "removeSource", NULL, NULL), 0);
    push_each(t, src, 2, 10);
    for (int i = 0; i < 3; i++)
        expect(&r[i], 0, 0);
    expect(&late, 0, 0);

    /* a released viewer port gets nothing; the others go on */
    assert_int_equal(invoke_sync(t, hub, "setSource", "in0", NULL), 0);
    release_sync(t, out[1]);
    push_each(t, src, 2, 7);
    expect(&r[0], 7, 0);
    expect(&r[1], 0, 0);
    expect(&r[2], 7, 0);
    expect(&late, 7, 0);

    /* the source port released: nothing flows, and it is no port any more */
    release_sync(t, in[0]);
    push_each(t, src, 2, 7);
    expect(&r[0], 0, 0);
    expect(&r[2], 0, 0);
    assert_int_equal(invoke_sync(t, hub, "setSource", "in0", NULL), FL_EINVAL);
    assert_non_null(strstr(t->text, "not a port of this hub"));
    assert_int_equal(invoke_sync(t, hub, "setSource", "in1", NULL), 0);
    push_each(t, src, 2, 3);
    expect(&r[0], 0, 3);
    expect(&r[2], 0, 3);
    expect(&late, 0, 3);

    /* the hub released: its ports stay, routing nothing */
    release_sync(t, hub);
    push_each(t, src, 2, 3);
    expect(&r[0], 0, 0);
    expect(&r[2], 0, 0);
    expect(&late, 0, 0);
    pipeline_release_sync(t, p);
    t_free(t);
}

static void test_dispatcher(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *d = mk(p, FL_ELEMENT_DISPATCHER, "d");
    fl_element *src[2] = { mk(p, FL_ELEMENT_APP_SOURCE, "src0"),
                           mk(p, FL_ELEMENT_APP_SOURCE, "src1") };
    fl_element *a = port(t, p, "d", "a"), *b = port(t, p, "d", "b"), *c = port(t, p, "d", "c");
    sink_rec ra = { 0 }, rb = { 0 }, rc = { 0 };
    assert_int_equal(connect_sync(t, src[0], a, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, src[1], b, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, a, sink(p, "ka", &ra), FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, b, sink(p, "kb", &rb), FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, c, sink(p, "kc", &rc), FL_MEDIA_ALL, NULL, NULL), 0);

    push_each(t, src, 2, 4); /* nothing routed yet */
    expect(&ra, 0, 0);
    expect(&rb, 0, 0);
    expect(&rc, 0, 0);

    assert_int_equal(invoke_sync(t, d, "connect", "a", "b"), 0);
    assert_int_equal(invoke_sync(t, d, "connect", "a", "c"), 0); /* one source, two sinks */
    push_each(t, src, 2, 6);
    expect(&ra, 0, 0);
    expect(&rb, 6, 0);
    expect(&rc, 6, 0);

    assert_int_equal(invoke_sync(t, d, "connect", "b", "a"), 0); /* both ways */
    assert_int_equal(invoke_sync(t, d, "connect", "b", "c"), 0); /* c's source replaced */
    push_each(t, src, 2, 5);
    expect(&ra, 0, 5);
    expect(&rb, 5, 0);
    expect(&rc, 0, 5);

    /* errors: a name no port has, a wrong count, the other hub's call, a
     * port joining twice or joining what is no hub */
    assert_int_equal(invoke_sync(t, d, "connect", "a", "nope"), FL_EINVAL);
    assert_non_null(strstr(t->text, "'nope' is not a port of this hub"));
    assert_int_equal(fl_element_invoke(d, "connect", NULL, 0, on_text, t), FL_EINVAL);
    assert_int_equal(fl_element_invoke(d, "setSource", NULL, 0, on_text, t), FL_ENOTSUP);
    assert_int_equal(set_sync(t, a, "hub", "d"), FL_ESTATE); /* one hub for life */
    fl_element *lost = mk(p, FL_ELEMENT_HUB_PORT, "lost");
    assert_int_equal(set_sync(t, lost, "hub", "nope"), FL_EINVAL);
    assert_int_equal(set_sync(t, lost, "hub", "src0"), FL_EINVAL); /* not a hub */
    int before = atomic_load(&t->replies);
    assert_int_equal(reply_status(t, before, fl_element_get_property(a, "hub", on_text, t)), 0);
    assert_string_equal(t->text, "d");
    before = atomic_load(&t->replies); /* the DOT draws the routes */
    assert_int_equal(reply_status(t, before, fl_pipeline_get_dot(p, on_text, t)), 0);
    assert_non_null(strstr(t->text, "routed"));

    /* a released sink port leaves its source feeding the other */
    release_sync(t, c);
    release_sync(t, b); /* a source port: a gets nothing now */
    push_each(t, src, 2, 3);
    expect(&ra, 0, 0);
    pipeline_release_sync(t, p); /* the hub and its ports together */
    t_free(t);
}

/* A VP8 RTP packet of `ssrc`: the first of a key frame, or of a delta frame
 * (VP8 payload descriptor S=1 PID=0, then the payload header's P bit). */
static size_t vp8_packet(uint8_t *out, uint32_t ssrc, uint16_t seq, int key)
{
    memset(out, 0, 40);
    out[0] = 0x80;
    out[1] = 96;
    out[2] = (uint8_t)(seq >> 8);
    out[3] = (uint8_t)seq;
    out[8] = (uint8_t)(ssrc >> 24);
    out[9] = (uint8_t)(ssrc >> 16);
    out[10] = (uint8_t)(ssrc >> 8);
    out[11] = (uint8_t)ssrc;
    out[12] = 0x10;              /* S=1, PID=0 */
    out[13] = key ? 0x00 : 0x01; /* P: 0 for a key frame */
    return 40;
}

/* Pushes VP8 packets of src (key: 1 for each key frame start, in order)
 * and waits until the worker handled them. */
static void push_vp8(engine_test *t, fl_element *src, uint32_t ssrc, const int *key, int n)
{
    static uint16_t seq;
    uint8_t pkt[40];
    for (int i = 0; i < n; i++) {
        size_t len = vp8_packet(pkt, ssrc, seq++, key[i]);
        int last = i == n - 1;
        int before = atomic_load(&t->dones);
        int rc = fl_element_push(src, FL_MEDIA_VIDEO, pkt, len, last ? on_done : NULL,
                                 last ? t : NULL);
        assert_int_equal(last ? done_status(t, before, rc) : rc, 0);
    }
}

/* After a switch a port sends the new source's video from a key frame's
 * start on, not before; with no known codec it holds nothing back. */
static void test_key_frame_wait(void **state)
{
    (void)state;
    engine_test *t = t_new(1);
    fl_pipeline *p;
    assert_int_equal(fl_pipeline_create(t->engine, &p), 0);
    fl_element *hub = mk(p, FL_ELEMENT_DISPATCHER_ONE_TO_MANY, "hub");
    fl_element *src0 = mk(p, FL_ELEMENT_APP_SOURCE, "src0");
    fl_element *src1 = mk(p, FL_ELEMENT_APP_SOURCE, "src1");
    assert_int_equal(set_sync(t, src0, "videoCaps", "96 VP8/90000"), 0);
    assert_int_equal(set_sync(t, src1, "videoCaps", "96 VP8/90000"), 0);
    fl_element *in0 = port(t, p, "hub", "in0"), *in1 = port(t, p, "hub", "in1");
    fl_element *out = port(t, p, "hub", "out");
    sink_rec r = { 0 };
    assert_int_equal(connect_sync(t, src0, in0, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, src1, in1, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(connect_sync(t, out, sink(p, "k", &r), FL_MEDIA_ALL, NULL, NULL), 0);

    static const int delta_key_delta[] = { 0, 0, 1, 0, 0 };
    assert_int_equal(invoke_sync(t, hub, "setSource", "in0", NULL), 0);
    push_vp8(t, src0, 1000, delta_key_delta, 5);
    assert_int_equal(atomic_load(&r.rtp), 3); /* from the key frame on */
    assert_int_equal(atomic_load(&r.last_ssrc), 1000);

    assert_int_equal(invoke_sync(t, hub, "setSource", "in1", NULL), 0);
    static const int deltas[] = { 0, 0, 0 };
    push_vp8(t, src1, 2000, deltas, 3);
    push_vp8(t, src0, 1000, deltas, 3); /* the old source: no longer routed */
    assert_int_equal(atomic_load(&r.rtp), 3);
    push_vp8(t, src1, 2000, delta_key_delta, 5);
    assert_int_equal(atomic_load(&r.rtp), 6);
    assert_int_equal(atomic_load(&r.last_ssrc), 2000);
    push_vp8(t, src1, 2000, deltas, 3); /* on since */
    assert_int_equal(atomic_load(&r.rtp), 9);

    /* caps unknown: nothing held back */
    fl_element *src2 = mk(p, FL_ELEMENT_APP_SOURCE, "src2");
    fl_element *in2 = port(t, p, "hub", "in2");
    assert_int_equal(connect_sync(t, src2, in2, FL_MEDIA_ALL, NULL, NULL), 0);
    assert_int_equal(invoke_sync(t, hub, "setSource", "in2", NULL), 0);
    push_vp8(t, src2, 3000, deltas, 3);
    assert_int_equal(atomic_load(&r.rtp), 12);
    pipeline_release_sync(t, p);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_to_many),
        cmocka_unit_test(test_dispatcher),
        cmocka_unit_test(test_key_frame_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
