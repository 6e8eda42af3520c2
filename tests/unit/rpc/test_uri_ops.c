/* UriEndpoint's calls (pause, stop, getUri, getState: rpc/ops_uri.c's
 * fl__uri_ops), answered alike by PlayerEndpoint and RecorderEndpoint and
 * by no class outside UriEndpoint, through the real service and engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

#define URI "file:///tmp/fluo-test-uri-ops.webm"

static int setup(void **state)
{
    (void)state;
    return harness_start(1, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(0);
}

static char *create(client *cl, struct out *o, const char *type, const char *pipe)
{
    json_t *cp = json_pack("{s:s, s:s}", "mediaPipeline", pipe, "uri", URI);
    json_t *r = rpc_call(cl, o, "create",
                         json_pack("{s:s, s:o}", "type", type, "constructorParams", cp));
    assert_int_equal(error_code(r), 0);
    return strdup(json_string_value(value_of(r)));
}

static const char *state_of(client *cl, struct out *o, const char *id)
{
    return json_string_value(value_of(invoke(cl, o, id, "getState", NULL)));
}

static void test_uri_endpoint_calls(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));
    char *objs[2] = { create(cl, &o, "PlayerEndpoint", pipe),
                      create(cl, &o, "RecorderEndpoint", pipe) };
    for (int i = 0; i < 2; i++) {
        assert_string_equal(json_string_value(value_of(invoke(cl, &o, objs[i], "getUri", NULL))),
                            URI);
        assert_string_equal(state_of(cl, &o, objs[i]), "STOP");
        assert_int_equal(error_code(invoke(cl, &o, objs[i], "stop", NULL)), 0);
        assert_string_equal(state_of(cl, &o, objs[i]), "STOP");
    }
    /* a class outside UriEndpoint has none of them */
    r = rpc_call(cl, &o, "create",
                 json_pack("{s:s, s:{s:s}}", "type", "WebRtcEndpoint", "constructorParams",
                           "mediaPipeline", pipe));
    char *webrtc = strdup(json_string_value(value_of(r)));
    assert_int_not_equal(error_code(invoke(cl, &o, webrtc, "getUri", NULL)), 0);
    assert_int_not_equal(error_code(invoke(cl, &o, webrtc, "pause", NULL)), 0);

    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    settle();
    free(webrtc);
    free(objs[0]);
    free(objs[1]);
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_endpoint_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
