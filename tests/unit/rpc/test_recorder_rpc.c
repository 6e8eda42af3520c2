/* RecorderEndpoint's row: its constructor's rules (file:// URIs inside
 * fluo.recordRoots, a symbolic link out of a root refused, profiles fluo
 * does not write refused by name), and its calls through the real service
 * and engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

static char root[64], outside[64];

static void tune(fl_rpc_config *c)
{
    char roots[256];
    snprintf(roots, sizeof(roots), "/nonexistent-root:%s/", root);
    c->record_roots = strdup(roots);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/fluo-root-XXXXXX");
    snprintf(outside, sizeof(outside), "/tmp/fluo-out-XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(outside))
        return -1;
    char link[128], subdir[128];
    snprintf(link, sizeof(link), "%s/escape", root);
    snprintf(subdir, sizeof(subdir), "%s/sub", root);
    if (symlink(outside, link) != 0 || mkdir(subdir, 0700) != 0)
        return -1;
    return harness_start(1, tune);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, outside);
    int rc = system(cmd);
    return harness_stop(0) || rc;
}

static json_t *create_recorder(client *cl,
                               struct out *o,
                               const char *pipe,
                               const char *uri,
                               const char *profile)
{
    json_t *cp = json_pack("{s:s, s:s}", "mediaPipeline", pipe, "uri", uri);
    if (profile)
        json_object_set_new(cp, "mediaProfile", json_string(profile));
    return rpc_call(cl, o, "create",
                    json_pack("{s:s, s:o}", "type", "RecorderEndpoint", "constructorParams", cp));
}

static void test_roots_and_profiles(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));
    char uri[256];

    /* inside a root, and below it */
    snprintf(uri, sizeof(uri), "file://%s/a.webm", root);
    r = create_recorder(cl, &o, pipe, uri, NULL);
    assert_int_equal(error_code(r), 0);
    char *rec = strdup(json_string_value(value_of(r)));
    snprintf(uri, sizeof(uri), "file://%s/sub/b.mp4", root);
    assert_int_equal(error_code(create_recorder(cl, &o, pipe, uri, "MP4")), 0);

    /* outside every root, through a link out of one, or climbing out */
    snprintf(uri, sizeof(uri), "file://%s/a.webm", outside);
    r = create_recorder(cl, &o, pipe, uri, NULL);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "fluo.recordRoots"));
    snprintf(uri, sizeof(uri), "file://%s/escape/a.webm", root);
    assert_int_equal(error_code(create_recorder(cl, &o, pipe, uri, NULL)), 40107);
    snprintf(uri, sizeof(uri), "file://%s/../a.webm", root);
    r = create_recorder(cl, &o, pipe, uri, NULL);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "'..'"));
    /* climbing out, percent-encoded: decoded before it is checked */
    snprintf(uri, sizeof(uri), "file://%s/%%2e%%2e/%s/a.webm", root, outside + 5);
    r = create_recorder(cl, &o, pipe, uri, NULL);
    assert_int_equal(error_code(r), 40107);
    snprintf(uri, sizeof(uri), "file://%s%%2F..%%2F%s/a.webm", root, outside + 5);
    assert_int_equal(error_code(create_recorder(cl, &o, pipe, uri, NULL)), 40107);
    /* a folder that does not exist, even inside a root */
    snprintf(uri, sizeof(uri), "file://%s/nope/a.webm", root);
    r = create_recorder(cl, &o, pipe, uri, NULL);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "folders that exist"));
    /* a root's name as a prefix of another folder is not inside it */
    snprintf(uri, sizeof(uri), "file://%sx/a.webm", root);
    assert_int_equal(error_code(create_recorder(cl, &o, pipe, uri, NULL)), 40107);

    /* schemes and profiles */
    r = create_recorder(cl, &o, pipe, "http://example.com/a.webm", NULL);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "only file:// URIs"));
    snprintf(uri, sizeof(uri), "file://%s/a.jpg", root);
    r = create_recorder(cl, &o, pipe, uri, "JPEG_VIDEO_ONLY");
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "JPEG_VIDEO_ONLY is not supported"));
    r = create_recorder(cl, &o, pipe, uri, "WEBMX");
    assert_int_equal(error_code(r), 40001); /* not a MediaProfileSpecType */

    /* its calls */
    r = invoke(cl, &o, rec, "getUri", NULL);
    snprintf(uri, sizeof(uri), "file://%s/a.webm", root);
    assert_string_equal(json_string_value(value_of(r)), uri);
    assert_string_equal(json_string_value(value_of(invoke(cl, &o, rec, "getState", NULL))), "STOP");
    assert_int_equal(error_code(invoke(cl, &o, rec, "record", NULL)), 0);
    assert_string_equal(json_string_value(value_of(invoke(cl, &o, rec, "getState", NULL))),
                        "START");
    assert_int_equal(error_code(invoke(cl, &o, rec, "pause", NULL)), 0);
    assert_string_equal(json_string_value(value_of(invoke(cl, &o, rec, "getState", NULL))),
                        "PAUSE");
    assert_int_equal(error_code(invoke(cl, &o, rec, "stopAndWait", NULL)), 0);
    assert_string_equal(json_string_value(value_of(invoke(cl, &o, rec, "getState", NULL))), "STOP");
    r = invoke(cl, &o, rec, "record", NULL);
    assert_int_equal(error_code(r), 40111);
    assert_non_null(strstr(error_message(r), "stopped"));

    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    settle();
    free(rec);
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots_and_profiles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
