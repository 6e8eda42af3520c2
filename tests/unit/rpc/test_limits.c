/* fluo.limits.* and isolated sessions, end to end inside one process: the
 * real engine and service with small limits and fluo.isolatedSessions on,
 * clients without sockets. */
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

static json_t *create_in(client *cl, struct out *o, const char *type, const char *pipe)
{
    json_t *p = json_pack("{s:s}", "type", type);
    if (pipe)
        json_object_set_new(p, "constructorParams", json_pack("{s:s}", "mediaPipeline", pipe));
    return rpc_call(cl, o, "create", p);
}

/* The id created, copied (the caller frees it). */
static char *created(json_t *resp)
{
    const char *id = json_string_value(json_object_get(json_object_get(resp, "result"), "value"));
    assert_non_null(id);
    return strdup(id);
}

static char *session_of(json_t *resp)
{
    const char *sid =
            json_string_value(json_object_get(json_object_get(resp, "result"), "sessionId"));
    assert_non_null(sid);
    return strdup(sid);
}

static void assert_limit(json_t *resp, const char *name)
{
    assert_int_equal(error_code(resp), 40009);
    assert_non_null(strstr(error_message(resp), name));
}

static void tune(fl_rpc_config *c)
{
    c->isolated = 1;
    c->limits.pipelines_per_session = 2;
    c->limits.endpoints_per_session = 2;
    c->limits.objects_per_session = 5;
    c->limits.pipelines = 3;
    c->limits.endpoints = 3;
    c->limits.objects = 8;
    c->limits.sessions = 4;
}

static int setup(void **state)
{
    (void)state;
    return harness_start(1, tune);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(0);
}

/* Per-session limits, then the server-wide ones reached by two sessions;
 * released objects give their slot back. */
static void test_object_limits(void **state)
{
    (void)state;
    struct out oa = { 0 }, ob = { 0 };
    client *a = fl__client_detached(rpc, sink, &oa);
    client *b = fl__client_detached(rpc, sink, &ob);
    char *pa1 = created(create_in(a, &oa, "MediaPipeline", NULL));
    char *pa2 = created(create_in(a, &oa, "MediaPipeline", NULL));
    json_t *r = create_in(a, &oa, "MediaPipeline", NULL);
    assert_limit(r, "fluo.limits.pipelinesPerSession (2) for this session");
    /* Another session is not affected by a's. */
    char *pb = created(create_in(b, &ob, "MediaPipeline", NULL));
    /* Server-wide: three pipelines now. */
    r = create_in(b, &ob, "MediaPipeline", NULL);
    assert_limit(r, "fluo.limits.pipelines (3) on this server");
    char *ea1 = created(create_in(a, &oa, "WebRtcEndpoint", pa1));
    char *ea2 = created(create_in(a, &oa, "WebRtcEndpoint", pa1));
    r = create_in(a, &oa, "WebRtcEndpoint", pa2);
    assert_limit(r, "fluo.limits.endpointsPerSession (2)");
    char *eb = created(create_in(b, &ob, "WebRtcEndpoint", pb));
    r = create_in(b, &ob, "WebRtcEndpoint", pb);
    assert_limit(r, "fluo.limits.endpoints (3) on this server");
    /* a: 2 pipelines, 2 endpoints; one more object reaches its 5. */
    char *pt = created(create_in(a, &oa, "PassThrough", pa2));
    r = create_in(a, &oa, "PassThrough", pa2);
    assert_limit(r, "fluo.limits.objectsPerSession (5)");
    /* b: 2 objects; server-wide 7 + 1 = 8. */
    free(created(create_in(b, &ob, "PassThrough", pb)));
    r = create_in(b, &ob, "PassThrough", pb);
    assert_limit(r, "fluo.limits.objects (8) on this server");
    assert_int_equal(rpc->limit_refusals[FL_LIMIT_OBJECTS], 1);
    assert_int_equal(rpc->limit_refusals[FL_LIMIT_PIPELINES_PER_SESSION], 1);
    /* Releases free the slots, for the session and the server. */
    rpc_call(a, &oa, "release", json_pack("{s:s}", "object", pt));
    r = create_in(b, &ob, "PassThrough", pb);
    assert_int_equal(error_code(r), 0);
    rpc_call(a, &oa, "release", json_pack("{s:s}", "object", pa1)); /* with ea1, ea2 */
    settle();
    assert_int_equal(rpc->nobjects, 5);
    assert_int_equal(rpc->nendpoints, 1);
    free(created(create_in(a, &oa, "WebRtcEndpoint", pa2)));
    free(created(create_in(b, &ob, "WebRtcEndpoint", pb)));
    rpc_call(a, &oa, "release", json_pack("{s:s}", "object", pa2));
    rpc_call(b, &ob, "release", json_pack("{s:s}", "object", pb));
    settle();
    assert_int_equal(rpc->nobjects, 0);
    assert_int_equal(rpc->npipelines, 0);
    free(pa1);
    free(pa2);
    free(pb);
    free(ea1);
    free(ea2);
    free(eb);
    free(pt);
    out_clear(&oa);
    out_clear(&ob);
    fl__client_close(a);
    fl__client_close(b);
}

static void test_session_limit(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    fl__gc_run(rpc);
    fl__gc_run(rpc); /* the sessions of the test before go */
    assert_int_equal(fl_hmap_len(&rpc->sessions), 0);
    char sid[32];
    for (int i = 0; i < 4; i++) {
        snprintf(sid, sizeof(sid), "s-%d", i);
        json_t *r = rpc_call(
                cl, &o, "describe",
                json_pack("{s:s, s:s}", "object", "manager_ServerManager", "sessionId", sid));
        assert_int_equal(error_code(r), 0);
    }
    struct out o2 = { 0 };
    client *fresh = fl__client_detached(rpc, sink, &o2);
    json_t *r = rpc_call(fresh, &o2, "connect", NULL);
    assert_limit(r, "fluo.limits.sessions (4) on this server");
    r = rpc_call(cl, &o, "create",
                 json_pack("{s:s, s:s}", "type", "MediaPipeline", "sessionId", "made-up"));
    assert_limit(r, "fluo.limits.sessions (4)");
    assert_null(fl__session_get(rpc, "made-up", 0));
    /* The existing ones are served. */
    r = rpc_call(cl, &o, "ping", json_pack("{s:s}", "sessionId", "s-2"));
    assert_int_equal(error_code(r), 0);
    r = rpc_call(cl, &o, "closeSession", json_pack("{s:s}", "sessionId", "s-0"));
    assert_int_equal(error_code(r), 0);
    r = rpc_call(fresh, &o2, "connect", NULL);
    assert_int_equal(error_code(r), 0);
    assert_true(rpc->limit_refusals[FL_LIMIT_SESSIONS] >= 2);
    out_clear(&o);
    out_clear(&o2);
    fl__client_close(cl);
    fl__client_close(fresh);
    fl__gc_run(rpc);
    fl__gc_run(rpc);
}

/* With isolated sessions, b neither sees nor touches a's objects, nor takes
 * a's session while a's connection is open; a's events still reach a. */
static void test_isolation(void **state)
{
    (void)state;
    struct out oa = { 0 }, ob = { 0 };
    client *a = fl__client_detached(rpc, sink, &oa);
    client *b = fl__client_detached(rpc, sink, &ob);
    json_t *r = create_in(a, &oa, "MediaPipeline", NULL);
    char *pa = created(r);
    char *sa = session_of(r);
    char *x = created(create_in(a, &oa, "PassThrough", pa));
    char *y = created(create_in(a, &oa, "PassThrough", pa));
    r = rpc_call(a, &oa, "subscribe",
                 json_pack("{s:s, s:s}", "object", x, "type", "ElementConnected"));
    const char *subid = json_string_value(json_object_get(json_object_get(r, "result"), "value"));
    assert_non_null(subid);
    char *suba = strdup(subid);
    r = create_in(b, &ob, "MediaPipeline", NULL);
    char *pb = created(r);
    char *sb = session_of(r);
    rpc_call(b, &ob, "subscribe",
             json_pack("{s:s, s:s}", "object", "manager_ServerManager", "type", "ObjectCreated"));

    assert_int_equal(error_code(invoke(b, &ob, pa, "getName", NULL)), 40101);
    assert_int_equal(error_code(invoke(b, &ob, x, "connect", json_pack("{s:s}", "sink", y))),
                     40101);
    /* Its own element cannot name a's either. */
    char *z = created(create_in(b, &ob, "PassThrough", pb));
    assert_int_equal(error_code(invoke(b, &ob, z, "connect", json_pack("{s:s}", "sink", x))),
                     40101);
    assert_int_equal(error_code(create_in(b, &ob, "PassThrough", pa)), 40101);
    r = rpc_call(b, &ob, "describe", json_pack("{s:s}", "object", x));
    assert_int_equal(error_code(r), 40101);
    char text[600];
    snprintf(text, sizeof(text), "Object '%s' not found", x); /* as for one that is not there */
    assert_string_equal(error_message(r), text);
    assert_int_equal(error_code(rpc_call(b, &ob, "release", json_pack("{s:s}", "object", pa))),
                     40101);
    assert_int_equal(
            error_code(rpc_call(b, &ob, "subscribe",
                                json_pack("{s:s, s:s}", "object", x, "type", "ElementConnected"))),
            40101);
    assert_int_equal(error_code(rpc_call(b, &ob, "ref", json_pack("{s:s}", "object", x))), 40101);
    assert_int_equal(
            error_code(rpc_call(b, &ob, "unsubscribe",
                                json_pack("{s:s, s:s}", "object", x, "subscription", suba))),
            40101);
    /* Without the object: answered as for an unknown id, and kept. */
    assert_int_equal(
            error_code(rpc_call(b, &ob, "unsubscribe", json_pack("{s:s}", "subscription", suba))),
            0);
    assert_non_null(fl_hmap_get(&rpc->subs, suba));
    /* Listings: its own only. */
    r = invoke(b, &ob, "manager_ServerManager", "getPipelines", NULL);
    json_t *v = json_object_get(json_object_get(r, "result"), "value");
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(json_string_value(json_array_get(v, 0)), pb);
    r = invoke(b, &ob, "manager_ServerManager", "getSessions", NULL);
    v = json_object_get(json_object_get(r, "result"), "value");
    assert_int_equal(json_array_size(v), 1);
    assert_string_not_equal(json_string_value(json_array_get(v, 0)), sa);
    /* a's session is a's while a is connected. */
    r = rpc_call(b, &ob, "connect", json_pack("{s:s}", "sessionId", sa));
    assert_int_equal(error_code(r), 40007);
    r = rpc_call(b, &ob, "closeSession", json_pack("{s:s}", "sessionId", sa));
    assert_int_equal(error_code(r), 40007);
    r = rpc_call(
            b, &ob, "invoke",
            json_pack("{s:s, s:s, s:s}", "object", pa, "operation", "getName", "sessionId", sa));
    assert_int_equal(error_code(r), 40007);
    /* a is untouched and its events come to it, not to b. */
    out_clear(&ob);
    r = invoke(a, &oa, x, "connect", json_pack("{s:s, s:s}", "sink", y, "mediaType", "VIDEO"));
    assert_int_equal(error_code(r), 0);
    settle();
    int got = 0;
    for (size_t i = 0; i < oa.n; i++) {
        json_t *val = json_object_get(json_object_get(oa.msgs[i], "params"), "value");
        const char *t = json_string_value(json_object_get(val, "type"));
        got += t && strcmp(t, "ElementConnected") == 0;
    }
    assert_int_equal(got, 1);
    assert_int_equal(ob.n, 0);
    /* b hears of its own creations only. */
    free(created(create_in(a, &oa, "PassThrough", pa)));
    settle();
    assert_int_equal(ob.n, 0);
    free(created(create_in(b, &ob, "PassThrough", pb)));
    settle();
    assert_int_equal(ob.n, 2); /* the answer and the event */
    /* Once a's connection is gone, its session id brings its objects back. */
    fl__client_close(a);
    r = rpc_call(b, &ob, "connect", json_pack("{s:s}", "sessionId", sa));
    assert_int_equal(error_code(r), 0);
    assert_int_equal(error_code(invoke(b, &ob, pa, "getName", NULL)), 0);
    rpc_call(b, &ob, "release", json_pack("{s:s}", "object", pa));
    r = rpc_call(b, &ob, "release", json_pack("{s:s}", "object", pb));
    assert_int_equal(error_code(r), 40101); /* b speaks for a's session now */
    r = rpc_call(b, &ob, "release", json_pack("{s:s, s:s}", "object", pb, "sessionId", sb));
    assert_int_equal(error_code(r), 0);
    free(pa);
    free(pb);
    free(sa);
    free(sb);
    free(x);
    free(y);
    free(z);
    free(suba);
    out_clear(&oa);
    out_clear(&ob);
    fl__client_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_limits),
        cmocka_unit_test(test_session_limit),
        cmocka_unit_test(test_isolation),
    };
    return cmocka_run_group_tests_name("rpc_limits", tests, setup, teardown);
}
