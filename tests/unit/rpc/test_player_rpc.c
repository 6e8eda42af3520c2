/* PlayerEndpoint's constructor through the service: a bare scheme ("rtsp://")
 * is answered with an error (not left unanswered, which held the client's
 * connection), and a symbolic link in fluo.playRoots to a file outside is
 * outside. */
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
    c->play_roots = strdup(root);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/fluo-proot-XXXXXX");
    snprintf(outside, sizeof(outside), "/tmp/fluo-pout-XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(outside))
        return -1;
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s/secret.webm", outside);
    FILE *f = fopen(target, "w");
    if (!f)
        return -1;
    fputs("secret", f);
    fclose(f);
    snprintf(link, sizeof(link), "%s/link.webm", root);
    if (symlink(target, link) != 0)
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

static json_t *create_player(client *cl, struct out *o, const char *pipe, const char *uri, int *id)
{
    *id = next_id++;
    json_t *cp = json_pack("{s:s, s:s}", "mediaPipeline", pipe, "uri", uri);
    json_t *req = json_pack("{s:s, s:i, s:s, s:{s:s, s:o}}", "jsonrpc", "2.0", "id", *id, "method",
                            "create", "params", "type", "PlayerEndpoint", "constructorParams", cp);
    char *text = json_dumps(req, JSON_COMPACT);
    fl__client_feed(cl, text, strlen(text));
    free(text);
    json_decref(req);
    return wait_for(o, by_id, id);
}

static void test_bare_scheme_answered(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));
    int id;
    r = create_player(cl, &o, pipe, "rtsp://", &id);
    assert_non_null(r);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "no host"));
    /* and the next call on the same client */
    int id2 = next_id++;
    json_t *req = json_pack("{s:s, s:i, s:s, s:{s:s}}", "jsonrpc", "2.0", "id", id2, "method",
                            "ping", "params", "interval", "1000");
    char *text = json_dumps(req, JSON_COMPACT);
    fl__client_feed(cl, text, strlen(text));
    free(text);
    json_decref(req);
    json_t *r2 = wait_for(&o, by_id, &id2);
    assert_non_null(r2); /* the connection still answers */
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

static void test_symlink_out_of_root(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));
    char uri[256];
    int id;
    snprintf(uri, sizeof(uri), "file://%s/link.webm", root);
    r = create_player(cl, &o, pipe, uri, &id);
    assert_non_null(r);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "fluo.playRoots"));
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symlink_out_of_root),
        cmocka_unit_test(test_bare_scheme_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
