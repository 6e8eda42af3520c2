/* The class table built from the .kmd.json files, parameter checks, and the
 * configuration loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "rpc/rpc_int.h"

#include <cmocka.h>

static struct fl_rpc rpc;

static int setup(void **state)
{
    (void)state;
    memset(&rpc, 0, sizeof(rpc));
    fl_hmap_init(&rpc.objects);
    fl_hmap_init(&rpc.elements);
    fl_hmap_init(&rpc.sessions);
    return fl__kmd_load(&rpc.kmd);
}

static int teardown(void **state)
{
    (void)state;
    const char *k;
    obj *o;
    for (size_t it = 0; fl_hmap_next(&rpc.objects, &it, &k, (void **)&o);)
        fl__obj_unref(o);
    fl_hmap_deinit(&rpc.objects);
    fl_hmap_deinit(&rpc.elements);
    fl_hmap_deinit(&rpc.sessions);
    fl__kmd_unload(&rpc.kmd);
    return 0;
}

static void test_classes_and_hierarchy(void **state)
{
    (void)state;
    const kmd_class *w = fl__kmd_class(&rpc.kmd, "WebRtcEndpoint");
    assert_non_null(w);
    assert_ptr_equal(fl__kmd_class(&rpc.kmd, "kurento.WebRtcEndpoint"), w);
    assert_string_equal(w->qualified, "kurento.WebRtcEndpoint");
    const char *want[] = { "BaseRtpEndpoint", "SdpEndpoint",  "SessionEndpoint",
                           "Endpoint",        "MediaElement", "MediaObject" };
    const kmd_class *k = w->parent;
    for (size_t i = 0; i < 6; i++, k = k->parent) {
        assert_non_null(k);
        assert_string_equal(k->name, want[i]);
    }
    assert_null(k);
    assert_true(fl__kmd_is_a(w, "MediaElement"));
    assert_false(fl__kmd_is_a(w, "Hub"));
    assert_true(fl__kmd_class(&rpc.kmd, "MediaElement")->abstract);
    assert_false(fl__kmd_class(&rpc.kmd, "PassThrough")->abstract);
    assert_null(fl__kmd_class(&rpc.kmd, "Nope"));
    assert_null(fl__kmd_class(&rpc.kmd, "chroma.ChromaFilter"));
}

static void test_methods_properties_events(void **state)
{
    (void)state;
    const kmd_class *w = fl__kmd_class(&rpc.kmd, "WebRtcEndpoint");
    assert_non_null(fl__kmd_method(w, "connect"));          /* from MediaElement */
    assert_non_null(fl__kmd_method(w, "gatherCandidates")); /* own */
    assert_null(fl__kmd_method(w, "frobnicate"));
    json_t *p = fl__kmd_property_by_accessor(w, "ICECandidatePairs");
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "ICECandidatePairs");
    p = fl__kmd_property_by_accessor(w, "StunServerAddress");
    assert_string_equal(json_string_value(json_object_get(p, "name")), "stunServerAddress");
    assert_null(fl__kmd_property_by_accessor(w, "stunServerAddress2"));
    assert_true(fl__kmd_has_event(w, "IceCandidateFound"));
    assert_true(fl__kmd_has_event(w, "ElementConnected"));
    assert_true(fl__kmd_has_event(w, "Error"));
    const kmd_class *pt = fl__kmd_class(&rpc.kmd, "PassThrough");
    assert_false(fl__kmd_has_event(pt, "IceCandidateFound"));
    assert_true(fl__kmd_has_event(fl__kmd_class(&rpc.kmd, "ServerManager"), "ObjectCreated"));
}

static void test_check_value(void **state)
{
    (void)state;
    struct rpc_err err;
    call cl = { .rpc = &rpc };
    json_t *v = json_string("VIDEO");
    assert_int_equal(fl__kmd_check_value(&cl, "mediaType", "MediaType", v, &err), 0);
    json_decref(v);
    v = json_string("FOO");
    assert_int_not_equal(fl__kmd_check_value(&cl, "mediaType", "MediaType", v, &err), 0);
    assert_int_equal(err.code, KE_MARSHALL_ERROR);
    json_decref(v);
    v = json_integer(5);
    assert_int_not_equal(fl__kmd_check_value(&cl, "uri", "String", v, &err), 0);
    assert_string_equal(err.msg, "'uri' parameter should be a string");
    assert_int_equal(fl__kmd_check_value(&cl, "n", "int", v, &err), 0);
    json_decref(v);
    v = json_integer(1LL << 40);
    assert_int_not_equal(fl__kmd_check_value(&cl, "n", "int", v, &err), 0);
    assert_int_equal(fl__kmd_check_value(&cl, "n", "int64", v, &err), 0);
    json_decref(v);
    v = json_pack("[s, s]", "a", "b");
    assert_int_equal(fl__kmd_check_value(&cl, "l", "String[]", v, &err), 0);
    assert_int_not_equal(fl__kmd_check_value(&cl, "l", "int[]", v, &err), 0);
    json_decref(v);

    /* Remote objects: a string id of an object of the right class. */
    obj *pipe = fl__obj_new(&rpc, fl__kmd_class(&rpc.kmd, "MediaPipeline"), NULL, NULL);
    assert_non_null(pipe);
    assert_non_null(strstr(pipe->id, "_kurento.MediaPipeline"));
    obj *pt = fl__obj_new(&rpc, fl__kmd_class(&rpc.kmd, "PassThrough"), pipe, NULL);
    assert_int_equal(strncmp(pt->id, pipe->id, strlen(pipe->id)), 0);
    assert_non_null(strstr(pt->id, "_kurento.PassThrough"));
    v = json_string(pt->id);
    assert_int_equal(fl__kmd_check_value(&cl, "sink", "MediaElement", v, &err), 0);
    json_decref(v);
    v = json_string(pipe->id);
    assert_int_not_equal(fl__kmd_check_value(&cl, "sink", "MediaElement", v, &err), 0);
    assert_int_equal(err.code, KE_MARSHALL_ERROR);
    json_decref(v);
    v = json_string("nope");
    assert_int_not_equal(fl__kmd_check_value(&cl, "sink", "MediaElement", v, &err), 0);
    assert_int_equal(err.code, KE_MEDIA_OBJECT_NOT_FOUND);
    json_decref(v);
    fl_list_remove(&pt->child_node);
}

static void test_kmd_text_and_modules(void **state)
{
    (void)state;
    const char *core = fl__kmd_text("core");
    assert_non_null(core);
    json_t *doc = json_loads(core, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "core");
    json_decref(doc);
    assert_null(fl__kmd_text("nope"));
    json_t *mods = fl__kmd_module_infos(&rpc.kmd);
    assert_int_equal(json_array_size(mods), 3);
    int seen = 0;
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        seen |= strcmp(n, "core") == 0 ? 1 : strcmp(n, "elements") == 0 ? 2 : 4;
    }
    assert_int_equal(seen, 7);
    json_decref(mods);
}

static void test_config(void **state)
{
    (void)state;
    char path[] = "/tmp/fluo-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"mediaServer\":{\"resources\":{\"garbageCollectorPeriod\":5},"
          "\"net\":{\"websocket\":{\"port\":9999,\"path\":\"k2\"}}},"
          "\"WebRtcEndpoint\":{\"externalIPv4\":\"198.51.100.7\"},\"fluo\":{\"workers\":3}}",
          f);
    fclose(f);
    fl_rpc_config cfg;
    fl_rpc_config_init(&cfg);
    assert_int_equal(cfg.port, 8888);
    char err[256];
    assert_int_equal(fl_rpc_config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 9999);
    assert_string_equal(cfg.path, "k2");
    assert_int_equal(cfg.gc_period, 5);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.external_ipv4, "198.51.100.7");
    setenv("KMS_EXTERNAL_IPV4", "203.0.113.9", 1);
    setenv("KMS_MIN_PORT", "50000", 1);
    assert_int_equal(fl_rpc_config_load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.external_ipv4, "203.0.113.9");
    assert_int_equal(cfg.min_port, 50000);
    setenv("KMS_MIN_PORT", "abc", 1);
    assert_int_equal(fl_rpc_config_load_env(&cfg, err, sizeof(err)), FL_EINVAL);
    assert_non_null(strstr(err, "KMS_MIN_PORT"));
    unsetenv("KMS_MIN_PORT");
    unsetenv("KMS_EXTERNAL_IPV4");

    f = fopen(path, "w");
    fputs("{\"mediaServer\":{\"net\":{\"websocket\":{\"port\":\"x\"}}}}", f);
    fclose(f);
    assert_int_equal(fl_rpc_config_load_file(&cfg, path, err, sizeof(err)), FL_EINVAL);
    assert_non_null(strstr(err, "mediaServer.net.websocket.port"));
    f = fopen(path, "w");
    fputs("{ not json", f);
    fclose(f);
    assert_int_equal(fl_rpc_config_load_file(&cfg, path, err, sizeof(err)), FL_EINVAL);
    assert_non_null(strstr(err, path));
    assert_int_equal(fl_rpc_config_load_file(&cfg, "/nonexistent/x.json", err, sizeof(err)),
                     FL_EINVAL);
    unlink(path);
    fl_rpc_config_deinit(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes_and_hierarchy),
        cmocka_unit_test(test_methods_properties_events),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_kmd_text_and_modules),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests_name("rpc_kmd", tests, setup, teardown);
}
