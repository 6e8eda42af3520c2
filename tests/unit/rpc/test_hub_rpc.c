/* The hubs' rows through the real service and engine: HubPorts created
 * from a hub (in its pipeline), DispatcherOneToMany's setSource and
 * removeSource, Dispatcher's connect, Hub.getGstreamerDot, a port joined to
 * a MediaElement like any element, and the errors: a hub that is no hub, a
 * port that is no HubPort, a port of another hub. */
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

static int setup(void **state)
{
    (void)state;
    return harness_start(2, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(0);
}

static json_t *create_with(client *cl,
                           struct out *o,
                           const char *type,
                           const char *key,
                           const char *id)
{
    return rpc_call(cl, o, "create",
                    json_pack("{s:s, s:{s:s}}", "type", type, "constructorParams", key, id));
}

static char *created(json_t *r)
{
    assert_int_equal(error_code(r), 0);
    return strdup(json_string_value(value_of(r)));
}

static void test_hubs(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char *pipe = created(rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline")));
    char *hub = created(create_with(cl, &o, "DispatcherOneToMany", "mediaPipeline", pipe));
    char *disp = created(create_with(cl, &o, "Dispatcher", "mediaPipeline", pipe));
    char *pt = created(create_with(cl, &o, "PassThrough", "mediaPipeline", pipe));
    char *p1 = created(create_with(cl, &o, "HubPort", "hub", hub));
    char *p2 = created(create_with(cl, &o, "HubPort", "hub", hub));
    char *d1 = created(create_with(cl, &o, "HubPort", "hub", disp));
    char *d2 = created(create_with(cl, &o, "HubPort", "hub", disp));
    assert_non_null(strstr(p1, "_kurento.HubPort"));

    /* a port is in its hub's pipeline and connects like any element */
    json_t *r = invoke(cl, &o, p1, "getMediaPipeline", NULL);
    assert_string_equal(json_string_value(value_of(r)), pipe);
    r = invoke(cl, &o, pt, "connect", json_pack("{s:s}", "sink", p1));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, p2, "connect", json_pack("{s:s}", "sink", pt));
    assert_int_equal(error_code(r), 0);

    /* DispatcherOneToMany */
    r = invoke(cl, &o, hub, "setSource", json_pack("{s:s}", "source", p1));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, hub, "removeSource", NULL);
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, hub, "setSource", json_pack("{s:s}", "source", d1)); /* another hub's */
    assert_int_equal(error_code(r), KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR);
    assert_non_null(strstr(error_message(r), "is not a port of this hub"));
    r = invoke(cl, &o, hub, "setSource", json_pack("{s:s}", "source", pt)); /* no HubPort */
    assert_int_not_equal(error_code(r), 0);
    r = invoke(cl, &o, hub, "setSource", NULL);
    assert_int_not_equal(error_code(r), 0);

    /* Dispatcher */
    r = invoke(cl, &o, disp, "connect", json_pack("{s:s, s:s}", "source", d1, "sink", d2));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, disp, "connect", json_pack("{s:s, s:s}", "source", d1, "sink", p2));
    assert_int_equal(error_code(r), KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR);
    r = invoke(cl, &o, disp, "connect", json_pack("{s:s}", "sink", d2));
    assert_int_not_equal(error_code(r), 0);
    r = invoke(cl, &o, disp, "getGstreamerDot", NULL);
    assert_int_equal(error_code(r), 0);
    const char *dot = json_string_value(value_of(r));
    assert_non_null(dot);
    assert_non_null(strstr(dot, "digraph"));
    assert_non_null(strstr(dot, "routed"));

    /* a hub that is no hub */
    r = create_with(cl, &o, "HubPort", "hub", pt);
    assert_int_not_equal(error_code(r), 0);
    r = create_with(cl, &o, "HubPort", "hub", "nope");
    assert_int_not_equal(error_code(r), 0);

    /* the hub released first, then a port, then the rest */
    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", hub));
    assert_int_equal(error_code(r), 0);
    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", p2));
    assert_int_equal(error_code(r), 0);
    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    assert_int_equal(error_code(r), 0);
    fl_engine_stats st;
    for (int i = 0; i < 40; i++) { /* the engine tears them down */
        settle();
        fl_engine_get_stats(engine, &st);
        if (st.elements == 0)
            break;
    }
    assert_int_equal(st.elements, 0);

    free(pipe);
    free(hub);
    free(disp);
    free(pt);
    free(p1);
    free(p2);
    free(d1);
    free(d2);
    out_clear(&o);
    fl__client_close(cl);
}

/* The mixing hubs' rows: Composite's constructor in range or refused in
 * words; a mixing hub takes FL_MIX_MAX_PORTS ports and refuses one more
 * (a released one frees its place); AlphaBlending's and Mixer's calls with
 * ports and numbers, and their errors. */
static void test_mixing_hubs(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char *pipe = created(rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline")));
    json_t *r = rpc_call(cl, &o, "create",
                         json_pack("{s:s, s:{s:s, s:i}}", "type", "Composite", "constructorParams",
                                   "mediaPipeline", pipe, "width", 5));
    assert_int_equal(error_code(r), 40107);
    r = rpc_call(cl, &o, "create",
                 json_pack("{s:s, s:{s:s, s:i, s:i, s:i}}", "type", "Composite",
                           "constructorParams", "mediaPipeline", pipe, "width", 320, "height", 240,
                           "framerate", 30));
    char *comp = created(r);
    char *ports[FL_MIX_MAX_PORTS];
    for (int i = 0; i < FL_MIX_MAX_PORTS; i++)
        ports[i] = created(create_with(cl, &o, "HubPort", "hub", comp));
    r = create_with(cl, &o, "HubPort", "hub", comp);
    assert_int_equal(error_code(r), 40009); /* NOT_ENOUGH_RESOURCES */
    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", ports[3]));
    assert_int_equal(error_code(r), 0);
    free(ports[3]);
    ports[3] = created(create_with(cl, &o, "HubPort", "hub", comp));

    char *alpha = created(create_with(cl, &o, "AlphaBlending", "mediaPipeline", pipe));
    char *a1 = created(create_with(cl, &o, "HubPort", "hub", alpha));
    char *a2 = created(create_with(cl, &o, "HubPort", "hub", alpha));
    r = invoke(cl, &o, alpha, "setMaster", json_pack("{s:s, s:i}", "source", a1, "zOrder", 1));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, alpha, "setPortProperties",
               json_pack("{s:f, s:f, s:i, s:f, s:f, s:s}", "relativeX", 0.5, "relativeY", 0.5,
                         "zOrder", 2, "relativeWidth", 0.5, "relativeHeight", 0.5, "port", a2));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, alpha, "setPortProperties",
               json_pack("{s:f, s:f, s:i, s:f, s:f, s:s}", "relativeX", 2.0, "relativeY", 0.5,
                         "zOrder", 2, "relativeWidth", 0.5, "relativeHeight", 0.5, "port", a2));
    assert_int_equal(error_code(r), 40107);
    r = invoke(cl, &o, alpha, "setMaster",
               json_pack("{s:s, s:i}", "source", ports[0], "zOrder", 1));
    assert_int_equal(error_code(r), 40107); /* another hub's port */

    char *mixer = created(create_with(cl, &o, "Mixer", "mediaPipeline", pipe));
    char *m1 = created(create_with(cl, &o, "HubPort", "hub", mixer));
    char *m2 = created(create_with(cl, &o, "HubPort", "hub", mixer));
    r = invoke(cl, &o, mixer, "connect",
               json_pack("{s:s, s:s, s:s}", "media", "AUDIO", "source", m1, "sink", m2));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, mixer, "disconnect",
               json_pack("{s:s, s:s, s:s}", "media", "VIDEO", "source", m1, "sink", m2));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, mixer, "connect",
               json_pack("{s:s, s:s, s:s}", "media", "DATA", "source", m1, "sink", m2));
    assert_int_not_equal(error_code(r), 0);

    r = rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    assert_int_equal(error_code(r), 0);
    for (int i = 0; i < FL_MIX_MAX_PORTS; i++)
        free(ports[i]);
    free(pipe);
    free(comp);
    free(alpha);
    free(a1);
    free(a2);
    free(mixer);
    free(m1);
    free(m2);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hubs),
        cmocka_unit_test(test_mixing_hubs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
