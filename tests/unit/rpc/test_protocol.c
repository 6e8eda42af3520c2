/* The Kurento Protocol end to end inside one process: the real engine and
 * service, with clients that have no socket (their replies and events are
 * collected), so every answer can be checked exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

static const char *create(client *cl, struct out *o, const char *type, const char *pipe)
{
    json_t *p = json_pack("{s:s, s:{}}", "type", type, "properties");
    if (pipe)
        json_object_set_new(p, "constructorParams", json_pack("{s:s}", "mediaPipeline", pipe));
    const char *id = json_string_value(value_of(rpc_call(cl, o, "create", p)));
    assert_non_null(id);
    return id;
}

static void tune(fl_rpc_config *c)
{
    c->gc_period = 1;
}

static int setup(void **state)
{
    (void)state;
    return harness_start(2, tune);
}

static int shut_down_in_test;

static int teardown(void **state)
{
    (void)state;
    return harness_stop(shut_down_in_test);
}

static void test_ping_describe_info(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "ping", json_pack("{s:i}", "interval", 5000));
    assert_string_equal(json_string_value(value_of(r)), "pong");
    assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
    r = rpc_call(cl, &o, "describe", json_pack("{s:s}", "object", "manager_ServerManager"));
    json_t *res = json_object_get(r, "result");
    assert_string_equal(json_string_value(json_object_get(res, "type")), "ServerManager");
    assert_string_equal(json_string_value(json_object_get(res, "qualifiedType")),
                        "kurento.ServerManager");
    const char *sid = json_string_value(json_object_get(res, "sessionId"));
    assert_int_equal(strlen(sid), 36);
    /* Later requests without sessionId get the connection's session injected. */
    r = rpc_call(cl, &o, "ping", NULL);
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "result"), "sessionId")), sid);
    r = invoke(cl, &o, "manager_ServerManager", "getInfo", NULL);
    json_t *info = value_of(r);
    assert_string_equal(json_string_value(json_object_get(info, "__type__")), "ServerInfo");
    assert_int_equal(json_array_size(json_object_get(info, "modules")), 3);
    r = invoke(cl, &o, "manager_ServerManager", "getKmd", json_pack("{s:s}", "moduleName", "core"));
    assert_non_null(strstr(json_string_value(value_of(r)), "\"MediaPipeline\""));
    r = invoke(cl, &o, "manager_ServerManager", "getKmd", json_pack("{s:s}", "moduleName", "x"));
    assert_int_equal(error_code(r), 40500);
    r = invoke(cl, &o, "manager_ServerManager", "getCpuCount", NULL);
    assert_true(json_integer_value(value_of(r)) >= 1);
    r = invoke(cl, &o, "manager_ServerManager", "getUsedMemory", NULL);
    assert_true(json_integer_value(value_of(r)) > 1000);
    r = invoke(cl, &o, "manager_ServerManager", "getUsedCpu", json_pack("{s:i}", "interval", 50));
    assert_true(json_is_real(value_of(r)));
    out_clear(&o);
    fl__client_close(cl);
}

static void test_graph_and_events(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char *pipe = strdup(create(cl, &o, "MediaPipeline", NULL));
    assert_non_null(strstr(pipe, "_kurento.MediaPipeline"));
    char *a = strdup(create(cl, &o, "PassThrough", pipe));
    char *b = strdup(create(cl, &o, "kurento.PassThrough", pipe));
    assert_int_equal(strncmp(a, pipe, strlen(pipe)), 0);
    json_t *r = rpc_call(cl, &o, "subscribe",
                         json_pack("{s:s, s:s}", "object", a, "type", "ElementConnected"));
    assert_int_equal(strlen(json_string_value(value_of(r))), 36);
    /* A second subscription of the same session: events still come once. */
    rpc_call(cl, &o, "subscribe", json_pack("{s:s, s:s}", "object", a, "type", "ElementConnected"));
    r = invoke(cl, &o, a, "connect", json_pack("{s:s, s:s}", "sink", b, "mediaType", "VIDEO"));
    assert_int_equal(error_code(r), 0);
    assert_true(json_is_null(value_of(r)));
    json_t *ev = wait_for(&o, by_event, "ElementConnected");
    assert_non_null(ev);
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "sink")), b);
    assert_string_equal(json_string_value(json_object_get(data, "mediaType")), "VIDEO");
    assert_string_equal(json_string_value(json_object_get(data, "source")), a);
    assert_true(json_is_string(json_object_get(data, "timestampMillis")));
    size_t events = 0;
    for (size_t i = 0; i < o.n; i++)
        events += json_object_get(o.msgs[i], "method") != NULL;
    assert_int_equal(events, 1);

    r = invoke(cl, &o, a, "getSinkConnections", NULL);
    json_t *conns = value_of(r);
    assert_int_equal(json_array_size(conns), 1);
    json_t *c0 = json_array_get(conns, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "source")), a);
    assert_string_equal(json_string_value(json_object_get(c0, "sink")), b);
    assert_string_equal(json_string_value(json_object_get(c0, "type")), "VIDEO");
    r = invoke(cl, &o, b, "getSourceConnections", json_pack("{s:s}", "mediaType", "AUDIO"));
    assert_int_equal(json_array_size(value_of(r)), 0);
    r = invoke(cl, &o, b, "connect", json_pack("{s:s}", "sink", a)); /* all media types */
    r = invoke(cl, &o, a, "getSourceConnections", NULL);
    assert_int_equal(json_array_size(value_of(r)), 3);

    /* every element answers getStats (MediaElement's), not only WebRtcEndpoints */
    r = invoke(cl, &o, a, "getStats", json_pack("{s:s}", "mediaType", "VIDEO"));
    assert_int_equal(error_code(r), 0);
    json_t *stats = value_of(r);
    assert_true(json_is_object(stats) && json_object_size(stats) >= 1);
    const char *sk;
    json_t *sv;
    json_object_foreach(stats, sk, sv)
    {
        assert_string_equal(json_string_value(json_object_get(sv, "__type__")), "ElementStats");
    }

    invoke(cl, &o, a, "setName", json_pack("{s:s}", "name", "alpha"));
    r = invoke(cl, &o, a, "getName", NULL);
    assert_string_equal(json_string_value(value_of(r)), "alpha");
    r = invoke(cl, &o, b, "getName", NULL);
    assert_string_equal(json_string_value(value_of(r)), b);
    invoke(cl, &o, a, "addTag", json_pack("{s:s, s:s}", "key", "k", "value", "v"));
    r = invoke(cl, &o, a, "getTag", json_pack("{s:s}", "key", "k"));
    assert_string_equal(json_string_value(value_of(r)), "v");
    r = invoke(cl, &o, a, "getTags", NULL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(value_of(r), 0), "key")),
                        "k");
    r = invoke(cl, &o, a, "getTag", json_pack("{s:s}", "key", "nope"));
    assert_int_equal(error_code(r), 40110);
    r = invoke(cl, &o, a, "getParent", NULL);
    assert_string_equal(json_string_value(value_of(r)), pipe);
    r = invoke(cl, &o, pipe, "getChildren", NULL);
    assert_int_equal(json_array_size(value_of(r)), 2);
    r = invoke(cl, &o, pipe, "getGstreamerDot", NULL);
    assert_non_null(strstr(json_string_value(value_of(r)), "digraph"));
    assert_non_null(strstr(json_string_value(value_of(r)), strrchr(a, '/') + 1));
    r = invoke(cl, &o, a, "isMediaFlowingIn", json_pack("{s:s}", "mediaType", "VIDEO"));
    assert_true(json_is_false(value_of(r)));
    r = invoke(cl, &o, a, "getEncoderBitrate", NULL);
    assert_int_equal(json_integer_value(value_of(r)), 300000);
    r = invoke(cl, &o, a, "isMediaTranscoding", json_pack("{s:s}", "mediaType", "VIDEO"));
    assert_true(json_is_false(value_of(r)));
    r = invoke(cl, &o, a, "isMediaTranscoding", NULL);
    assert_int_equal(error_code(r), 40001); /* mediaType is required */
    r = invoke(cl, &o, a, "setMaxEncoderBitrate", json_pack("{s:i}", "maxEncoderBitrate", 150000));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, a, "getMaxEncoderBitrate", NULL);
    assert_int_equal(json_integer_value(value_of(r)), 150000);
    r = invoke(cl, &o, a, "setMaxEncoderBitrate", json_pack("{s:s}", "maxEncoderBitrate", "x"));
    assert_int_equal(error_code(r), 40001); /* an int, by the KMD */
    r = invoke(cl, &o, a, "setMaxEncoderBitrate", json_pack("{s:i}", "maxEncoderBitrate", -5));
    assert_int_equal(error_code(r), 40107);
    /* a format: WebRtcEndpoint and RecorderEndpoint take one, checked */
#define VCAPS(codec, num, den)                                                                  \
    json_pack("{s:{s:s, s:{s:i, s:i}}}", "caps", "codec", codec, "framerate", "numerator", num, \
              "denominator", den)
    r = invoke(cl, &o, a, "setVideoFormat", VCAPS("VP8", 30, 1));
    assert_int_equal(error_code(r), 40107);
    char *w = strdup(create(cl, &o, "WebRtcEndpoint", pipe));
    r = invoke(cl, &o, w, "setVideoFormat",
               json_pack("{s:{s:s, s:{s:i, s:i}, s:i, s:i}}", "caps", "codec", "VP8", "framerate",
                         "numerator", 15, "denominator", 1, "width", 320, "height", 240));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, w, "setVideoFormat", VCAPS("VP8", 241, 2));
    assert_int_equal(error_code(r), 40107); /* over 120 frames a second */
    r = invoke(cl, &o, w, "setVideoFormat", VCAPS("AV1", 30, 1));
    assert_int_equal(error_code(r), 40107); /* no encoder */
    r = invoke(cl, &o, w, "setVideoFormat", json_pack("{s:s}", "caps", "VP8"));
    assert_int_equal(error_code(r), 40001); /* not a VideoCaps, by the KMD */
    r = invoke(cl, &o, w, "setAudioFormat",
               json_pack("{s:{s:s, s:i}}", "caps", "codec", "OPUS", "bitrate", 1000));
    assert_int_equal(error_code(r), 40107); /* Opus takes 6..510 kbit/s */
    r = invoke(cl, &o, w, "setAudioFormat",
               json_pack("{s:{s:s, s:i}}", "caps", "codec", "PCMU", "bitrate", 0));
    assert_int_equal(error_code(r), 0);
    free(w);

    /* Releasing the pipeline releases the elements. */
    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    assert_int_equal(error_code(r), 0);
    r = rpc_call(cl, &o, "describe", json_pack("{s:s}", "object", a));
    assert_int_equal(error_code(r), 40101);
    r = invoke(cl, &o, "manager_ServerManager", "getPipelines", NULL);
    for (size_t i = 0; i < json_array_size(value_of(r)); i++)
        assert_string_not_equal(json_string_value(json_array_get(value_of(r), i)), pipe);
    free(pipe);
    free(a);
    free(b);
    out_clear(&o);
    fl__client_close(cl);
}

static void test_errors(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    const char *pipe = create(cl, &o, "MediaPipeline", NULL);
    char *p = strdup(pipe);

    struct {
        const char *method;
        json_t *params;
        int code;
    } cases[] = {
        { "create", json_pack("{s:s}", "type", "Nope"), 40108 },
        { "create", json_pack("{s:s}", "type", "MediaElement"), 40108 },
        { "create",
          json_pack("{s:s, s:{s:s, s:s}}", "type", "GStreamerFilter", "constructorParams",
                    "mediaPipeline", p, "command", "videoflip method=1"),
          40111 },
        { "create", json_pack("{s:i}", "type", 5), 40001 },
        { "create", json_pack("{s:s}", "type", "PassThrough"), 40001 },
        { "create",
          json_pack("{s:s, s:{s:s}}", "type", "PassThrough", "constructorParams", "mediaPipeline",
                    "zzz"),
          40101 },
        { "invoke", json_pack("{s:s, s:s}", "object", "nope", "operation", "getName"), 40101 },
        { "invoke", json_pack("{s:s, s:s}", "object", "newref:0", "operation", "getName"), 40109 },
        { "invoke", json_pack("{s:s, s:s}", "object", p, "operation", "frob"), 40008 },
        { "invoke",
          json_pack("{s:s, s:s, s:{s:i}}", "object", p, "operation", "setName", "operationParams",
                    "name", 3),
          40001 },
        { "invoke",
          json_pack("{s:s, s:s, s:s}", "object", p, "operation", "setName", "operationParams", "x"),
          40001 },
        { "invoke", json_pack("{s:s, s:s}", "object", p, "operation", "setId"), 40008 },
        { "subscribe", json_pack("{s:s, s:s}", "object", p, "type", "IceCandidateFound"), 40106 },
        { "release", json_pack("{s:s}", "object", "nope"), 40101 },
        { "connect", json_pack("{s:s}", "sessionId", "no-such-session"), 40007 },
        { "create", NULL, -32602 },
        { "frobnicate", NULL, -32601 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = rpc_call(cl, &o, cases[i].method, cases[i].params);
        if (error_code(r) != cases[i].code)
            fail_msg("case %zu (%s): got %d, want %d", i, cases[i].method, error_code(r),
                     cases[i].code);
        json_t *data = json_object_get(json_object_get(r, "error"), "data");
        if (cases[i].code > 0)
            assert_true(json_is_string(json_object_get(data, "type")));
    }

    struct {
        const char *text;
        int code;
        int id_null;
    } raw[] = {
        { "not json", -32700, 1 },
        { "[1,2]", -32600, 1 },
        { "\"str\"", -32600, 1 },
        { "{\"jsonrpc\":\"1.0\",\"id\":900,\"method\":\"ping\"}", -32600, 0 },
        { "{\"id\":901,\"method\":\"ping\"}", -32600, 0 },
        { "{\"jsonrpc\":\"2.0\",\"id\":902,\"method\":5}", -32600, 0 },
        { "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", -32600, 1 },
        { "{\"jsonrpc\":\"2.0\",\"id\":903,\"method\":\"ping\",\"params\":[1]}", -32602, 0 },
    };

    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        out_clear(&o);
        fl__client_feed(cl, raw[i].text, strlen(raw[i].text));
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_int_equal(o.n, 1);
        assert_int_equal(error_code(o.msgs[0]), raw[i].code);
        assert_int_equal(json_is_null(json_object_get(o.msgs[0], "id")), raw[i].id_null);
    }
    /* A notification (no id) gets no reply. */
    out_clear(&o);
    const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}";
    fl__client_feed(cl, note, strlen(note));
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(o.n, 0);
    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", p));
    free(p);
    out_clear(&o);
    fl__client_close(cl);
}

static void test_order_and_transaction(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    const char *pipe = create(cl, &o, "MediaPipeline", NULL);
    char *p = strdup(pipe);
    out_clear(&o);
    /* Pipelined requests: answered in order, the connect after the creates. */
    char text[1024];
    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":{%s}}", 1000 + i,
                 i % 2 ? "invoke" : "ping",
                 i % 2 ? "\"object\":\"manager_ServerManager\",\"operation\":\"getUsedCpu\","
                         "\"operationParams\":{\"interval\":5}"
                       : "");
        fl__client_feed(cl, text, strlen(text));
    }
    int last = 1019;
    assert_non_null(wait_for(&o, by_id, &last));
    assert_int_equal(o.n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(json_integer_value(json_object_get(o.msgs[i], "id")), 1000 + i);

    json_t *ops = json_array();
    for (int i = 0; i < 2; i++)
        json_array_append_new(ops,
                              json_pack("{s:s, s:i, s:s, s:{s:s, s:{s:s}}}", "jsonrpc", "2.0", "id",
                                        i, "method", "create", "params", "type", "PassThrough",
                                        "constructorParams", "mediaPipeline", p));
    json_array_append_new(ops,
                          json_pack("{s:s, s:i, s:s, s:{s:s, s:s, s:{s:s}}}", "jsonrpc", "2.0",
                                    "id", 2, "method", "invoke", "params", "object", "newref:0",
                                    "operation", "connect", "operationParams", "sink", "newref:1"));
    json_t *r = rpc_call(cl, &o, "transaction", json_pack("{s:o}", "operations", ops));
    json_t *v = value_of(r);
    assert_int_equal(json_array_size(v), 3);
    assert_int_equal(error_code(json_array_get(v, 2)), 0);
    const char *first = json_string_value(
            json_object_get(json_object_get(json_array_get(v, 0), "result"), "value"));
    r = invoke(cl, &o, first, "getSinkConnections", NULL);
    assert_int_equal(json_array_size(value_of(r)), 3);
    /* Stops at the first failure; ids must count from 0. */
    ops = json_pack("[{s:s, s:i, s:s, s:{s:s}}, {s:s, s:i, s:s}]", "jsonrpc", "2.0", "id", 0,
                    "method", "describe", "params", "object", "nope", "jsonrpc", "2.0", "id", 1,
                    "method", "ping");
    r = rpc_call(cl, &o, "transaction", json_pack("{s:o}", "operations", ops));
    assert_int_equal(json_array_size(value_of(r)), 1);
    assert_int_equal(error_code(json_array_get(value_of(r), 0)), 40101);
    ops = json_pack("[{s:s, s:i, s:s}]", "jsonrpc", "2.0", "id", 7, "method", "ping");
    r = rpc_call(cl, &o, "transaction", json_pack("{s:o}", "operations", ops));
    assert_int_equal(error_code(json_array_get(value_of(r), 0)), 40008);
    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", p));
    free(p);
    out_clear(&o);
    fl__client_close(cl);
}

static void test_sessions_reconnect_and_gc(void **state)
{
    (void)state;
    struct out o = { 0 }, o2 = { 0 }, o3 = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    client *watcher = fl__client_detached(rpc, sink, &o3);
    rpc_call(watcher, &o3, "subscribe",
             json_pack("{s:s, s:s}", "object", "manager_ServerManager", "type", "ObjectDestroyed"));
    char *p = strdup(create(cl, &o, "MediaPipeline", NULL));
    json_t *r = rpc_call(cl, &o, "ping", NULL);
    char *sid =
            strdup(json_string_value(json_object_get(json_object_get(r, "result"), "sessionId")));
    fl__client_close(cl);

    /* Reconnect within the grace period: same session, same objects. */
    client *cl2 = fl__client_detached(rpc, sink, &o2);
    r = rpc_call(cl2, &o2, "connect", json_pack("{s:s}", "sessionId", sid));
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "result"), "sessionId")), sid);
    assert_int_equal(
            strlen(json_string_value(json_object_get(json_object_get(r, "result"), "serverId"))),
            36);
    r = invoke(cl2, &o2, p, "getName", NULL);
    assert_string_equal(json_string_value(value_of(r)), p);
    fl__client_close(cl2);

    /* No connection for two garbage-collector periods: the objects go. */
    json_t *ev = wait_for(&o3, by_event, "ObjectDestroyed");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "objectId")),
                        p);
    r = rpc_call(watcher, &o3, "describe", json_pack("{s:s}", "object", p));
    assert_int_equal(error_code(r), 40101);
    r = rpc_call(watcher, &o3, "connect", json_pack("{s:s}", "sessionId", sid));
    assert_int_equal(error_code(r), 40007);
    free(p);
    free(sid);
    out_clear(&o);
    out_clear(&o2);
    out_clear(&o3);
    fl__client_close(watcher);
}

static int count_events(struct out *o, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < o->n; i++) {
        json_t *v = json_object_get(json_object_get(o->msgs[i], "params"), "value");
        const char *t = json_string_value(json_object_get(v, "type"));
        n += t && strcmp(t, type) == 0;
    }
    return n;
}

/* More than 64 idle sessions must not make the collector drop used ones. */
static void test_gc_many_sessions(void **state)
{
    (void)state;
    uv_timer_stop(&rpc->gc_timer); /* the collector runs by hand here */
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char sid[64];
    for (int i = 0; i < 200; i++) {
        snprintf(sid, sizeof(sid), "old-%d", i);
        rpc_call(cl, &o, "describe",
                 json_pack("{s:s, s:s}", "object", "manager_ServerManager", "sessionId", sid));
        out_clear(&o);
    }
    fl__gc_run(rpc); /* old-*: marked unused */
    for (int i = 0; i < 40; i++) {
        snprintf(sid, sizeof(sid), "new-%d", i);
        json_t *r = rpc_call(cl, &o, "create",
                             json_pack("{s:s, s:s}", "type", "MediaPipeline", "sessionId", sid));
        assert_int_equal(error_code(r), 0);
        out_clear(&o);
    }
    fl__client_close(cl); /* no connection holds any of them now */
    fl__gc_run(rpc);      /* old-* go, new-* were used since the last run */
    assert_null(fl__session_get(rpc, "old-7", 0));
    assert_non_null(fl__session_get(rpc, "new-39", 0));
    client *c2 = fl__client_detached(rpc, sink, &o);
    json_t *r = invoke(c2, &o, "manager_ServerManager", "getPipelines", NULL);
    assert_int_equal(json_array_size(value_of(r)), 40);
    out_clear(&o);
    fl__client_close(c2);
    fl__gc_run(rpc);
    fl__gc_run(rpc);
    settle();
    c2 = fl__client_detached(rpc, sink, &o);
    r = invoke(c2, &o, "manager_ServerManager", "getPipelines", NULL);
    assert_int_equal(json_array_size(value_of(r)), 0);
    out_clear(&o);
    fl__client_close(c2);
    uv_timer_start(&rpc->gc_timer, rpc->gc_timer.timer_cb, 1000, 1000);
}

/* A session holding an element holds its pipeline too. */
static void test_parent_held_by_other_session(void **state)
{
    (void)state;
    struct out oa = { 0 }, ob = { 0 };
    client *a = fl__client_detached(rpc, sink, &oa);
    client *b = fl__client_detached(rpc, sink, &ob);
    char *pipe = strdup(create(a, &oa, "MediaPipeline", NULL));
    char *el = strdup(create(b, &ob, "PassThrough", pipe));
    json_t *r = rpc_call(a, &oa, "ping", NULL);
    const char *sa = json_string_value(json_object_get(json_object_get(r, "result"), "sessionId"));
    rpc_call(a, &oa, "closeSession", json_pack("{s:s}", "sessionId", sa));
    r = invoke(b, &ob, el, "getName", NULL);
    assert_int_equal(error_code(r), 0);
    r = invoke(b, &ob, pipe, "getChildren", NULL);
    assert_int_equal(json_array_size(value_of(r)), 1);
    rpc_call(b, &ob, "release", json_pack("{s:s}", "object", pipe));
    free(pipe);
    free(el);
    out_clear(&oa);
    out_clear(&ob);
    fl__client_close(a);
    fl__client_close(b);
}

/* Events: once per session whatever the number of sessions and
 * subscriptions; ElementDisconnected names a released sink; one
 * ObjectDestroyed per object. */
static void test_event_delivery(void **state)
{
    (void)state;

    enum {
        N = 20
    };
    struct out outs[N];
    client *cls[N];
    memset(outs, 0, sizeof(outs));
    for (int i = 0; i < N; i++) {
        cls[i] = fl__client_detached(rpc, sink, &outs[i]);
        for (int k = 0; k < 2; k++)
            rpc_call(cls[i], &outs[i], "subscribe",
                     json_pack("{s:s, s:s}", "object", "manager_ServerManager", "type",
                               "ObjectCreated"));
        rpc_call(cls[i], &outs[i], "subscribe",
                 json_pack("{s:s, s:s}", "object", "manager_ServerManager", "type",
                           "ObjectDestroyed"));
        out_clear(&outs[i]);
    }
    char *pipe = strdup(create(cls[0], &outs[0], "MediaPipeline", NULL));
    char *a = strdup(create(cls[0], &outs[0], "PassThrough", pipe));
    char *b = strdup(create(cls[0], &outs[0], "PassThrough", pipe));
    settle();
    for (int i = 0; i < N; i++)
        assert_int_equal(count_events(&outs[i], "ObjectCreated"), 3);
    rpc_call(cls[0], &outs[0], "subscribe",
             json_pack("{s:s, s:s}", "object", a, "type", "ElementDisconnected"));
    invoke(cls[0], &outs[0], a, "connect",
           json_pack("{s:s, s:s}", "sink", b, "mediaType", "VIDEO"));
    rpc_call(cls[0], &outs[0], "release", json_pack("{s:s}", "object", b));
    json_t *ev = wait_for(&outs[0], by_event, "ElementDisconnected");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "sink")), b);
    rpc_call(cls[0], &outs[0], "release", json_pack("{s:s}", "object", a));
    rpc_call(cls[0], &outs[0], "release", json_pack("{s:s}", "object", pipe));
    settle();
    for (int i = 0; i < N; i++) {
        assert_int_equal(count_events(&outs[i], "ObjectDestroyed"), 3);
        out_clear(&outs[i]);
        fl__client_close(cls[i]);
    }
    free(pipe);
    free(a);
    free(b);
}

/* Subscriptions go with their session; a reused id does not revive them. */
static void test_subscriptions_die_with_session(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    size_t subs_before = fl_hmap_len(&rpc->subs);
    rpc_call(cl, &o, "subscribe",
             json_pack("{s:s, s:s, s:s}", "object", "manager_ServerManager", "type",
                       "ObjectCreated", "sessionId", "s-7"));
    rpc_call(cl, &o, "closeSession", json_pack("{s:s}", "sessionId", "s-7"));
    assert_int_equal(fl_hmap_len(&rpc->subs), subs_before);
    fl__client_close(cl);
    out_clear(&o);
    cl = fl__client_detached(rpc, sink, &o);
    rpc_call(cl, &o, "describe",
             json_pack("{s:s, s:s}", "object", "manager_ServerManager", "sessionId", "s-7"));
    char *p = strdup(create(cl, &o, "MediaPipeline", NULL));
    settle();
    assert_int_equal(count_events(&o, "ObjectCreated"), 0);
    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", p));
    free(p);
    out_clear(&o);
    fl__client_close(cl);
}

/* A long session id is refused, not silently replaced. */
static void test_session_id_limits(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *r = rpc_call(cl, &o, "ping", json_pack("{s:s}", "sessionId", big));
    assert_int_equal(error_code(r), 40007);
    r = rpc_call(cl, &o, "describe",
                 json_pack("{s:s, s:i}", "object", "manager_ServerManager", "sessionId", 5));
    assert_int_equal(error_code(r), 40007);
    out_clear(&o);
    fl__client_close(cl);
}

/* Requests pipelined by one client run in order, a slice per loop turn:
 * another client's request fed meanwhile is answered at once. */
static void test_slices(void **state)
{
    (void)state;
    struct out ox = { 0 }, oy = { 0 };
    client *x = fl__client_detached(rpc, sink, &ox);
    client *y = fl__client_detached(rpc, sink, &oy);
    char text[256];
    for (int i = 0; i < 200; i++) {
        snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}",
                 5000 + i);
        fl__client_feed(x, text, strlen(text));
    }
    assert_int_equal(ox.n, FL_SLICE_MSGS); /* the rest waits for the next turns */
    assert_int_equal(x->queued_msgs, 200 - FL_SLICE_MSGS);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    fl__client_feed(y, ping, strlen(ping));
    assert_int_equal(oy.n, 1);
    assert_int_equal(ox.n, FL_SLICE_MSGS);
    int last = 5199;
    assert_non_null(wait_for(&ox, by_id, &last));
    assert_int_equal(ox.n, 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(json_integer_value(json_object_get(ox.msgs[i], "id")), 5000 + i);
    out_clear(&ox);
    /* Large answers end a slice sooner: getKmd("core") is about 100 kB. */
    for (int i = 0; i < 8; i++) {
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"invoke\",\"params\":{"
                 "\"object\":\"manager_ServerManager\",\"operation\":\"getKmd\","
                 "\"operationParams\":{\"moduleName\":\"core\"}}}",
                 6000 + i);
        fl__client_feed(x, text, strlen(text));
    }
    assert_true(ox.n >= 1 && ox.n < 8);
    last = 6007;
    assert_non_null(wait_for(&ox, by_id, &last));
    assert_int_equal(ox.n, 8);
    out_clear(&ox);
    out_clear(&oy);
    fl__client_close(x);
    fl__client_close(y);
}

/* Runs last: shutdown while a transaction is between two operations. */
static void test_shutdown_with_calls_in_flight(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    const char *txn =
            "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"transaction\",\"params\":{"
            "\"operations\":[{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"invoke\",\"params\":"
            "{\"object\":\"manager_ServerManager\",\"operation\":\"getUsedCpu\","
            "\"operationParams\":{\"interval\":300}}},{\"jsonrpc\":\"2.0\",\"id\":1,"
            "\"method\":\"create\",\"params\":{\"type\":\"MediaPipeline\"}}]}}";
    fl__client_feed(cl, txn, strlen(txn));
    fl__client_feed(cl, txn, strlen(txn)); /* queued behind the first */
    stopped = 0;
    fl_rpc_shutdown(rpc, harness_stopped, NULL);
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    shut_down_in_test = 1;
    /* The transaction was answered, its second operation refused. */
    int id = 77;
    json_t *r = by_id(&o, &id);
    assert_non_null(r);
    json_t *v = value_of(r);
    assert_int_equal(json_array_size(v), 1);
    assert_int_equal(error_code(json_array_get(v, 0)), 40003);
    out_clear(&o); /* the shutdown closed the client */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_describe_info),
        cmocka_unit_test(test_graph_and_events),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_order_and_transaction),
        cmocka_unit_test(test_sessions_reconnect_and_gc),
        cmocka_unit_test(test_gc_many_sessions),
        cmocka_unit_test(test_parent_held_by_other_session),
        cmocka_unit_test(test_event_delivery),
        cmocka_unit_test(test_subscriptions_die_with_session),
        cmocka_unit_test(test_session_id_limits),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_shutdown_with_calls_in_flight),
    };
    return cmocka_run_group_tests_name("rpc_protocol", tests, setup, teardown);
}
