/* The rows of HubPort and the hubs (Dispatcher, DispatcherOneToMany,
 * Composite, AlphaBlending, Mixer): a port joins the hub its constructor
 * names; the hubs' calls name ports, passed to the engine by their
 * element's name, beside numbers and media types passed as text.
 * Hub.getGstreamerDot is every object's (rpc/ops_element.c). The engine
 * side is engine/hub.c and engine/mix.c. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "rpc/rpc_int.h"

/* ---- HubPort ---- */

static int is_mixing(const obj *hub);
extern const rpc_class fl__class_hub_port;

/* The HubPorts alive in `hub` (their constructor's hub, kept in props). */
static int ports_of(const obj *hub)
{
    int n = 0;
    fl_list_foreach (it, &hub->parent->children) {
        const obj *x = fl_container_of(it, obj, child_node);
        const char *h = x->props ? json_string_value(json_object_get(x->props, "hub")) : NULL;
        n += !x->released && x->impl == &fl__class_hub_port && h && strcmp(h, hub->id) == 0;
    }
    return n;
}

/* A mixing hub takes FL_MIX_MAX_PORTS ports. */
static int port_check_ctor(call *c, json_t *ctor)
{
    const char *id = json_string_value(json_object_get(ctor, "hub"));
    obj *hub = id ? fl__obj_find(c->rpc, id) : NULL;
    if (hub && hub->parent && is_mixing(hub) && ports_of(hub) >= FL_MIX_MAX_PORTS) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "%s mixes at most %d HubPorts", hub->cls->name,
                     FL_MIX_MAX_PORTS);
        return FL_EINVAL;
    }
    return 0;
}

static int port_configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    const char *id = json_string_value(json_object_get(ctor, "hub"));
    obj *hub = id ? fl__obj_find(rpc, id) : NULL;
    obj *self = fl__obj_find(rpc, fl_element_name(e));
    if (!hub || !hub->element)
        return FL_EINVAL;
    if (self && !self->props)
        self->props = json_object();
    if (self && self->props)
        json_object_set_new(self->props, "hub", json_string(hub->id));
    return fl_element_set_property(e, "hub", fl_element_name(hub->element), NULL, NULL);
}

const rpc_class fl__class_hub_port = {
    .name = "HubPort",
    .engine_type = FL_ELEMENT_HUB_PORT,
    .check_ctor = port_check_ctor,
    .configure = port_configure,
};

/* ---- the hubs' calls (fl__call_invoke: '@' names a HubPort) ---- */

static void dispatcher_connect(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "@source", "@sink" };
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, params, 2);
}

static void set_source(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "@source" };
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, params, 1);
}

static void remove_source(call *c, obj *o, json_t *p)
{
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, NULL, 0);
}

static const struct op dispatcher_ops[] = {
    { "Dispatcher", "connect", dispatcher_connect },
    { NULL, NULL, NULL },
};

static const struct op one_to_many_ops[] = {
    { "DispatcherOneToMany", "setSource", set_source },
    { "DispatcherOneToMany", "removeSource", remove_source },
    { NULL, NULL, NULL },
};

const rpc_class fl__class_dispatcher = {
    .name = "Dispatcher",
    .engine_type = FL_ELEMENT_DISPATCHER,
    .ops = dispatcher_ops,
};

const rpc_class fl__class_dispatcher_one_to_many = {
    .name = "DispatcherOneToMany",
    .engine_type = FL_ELEMENT_DISPATCHER_ONE_TO_MANY,
    .ops = one_to_many_ops,
};

/* ---- the mixing hubs ---- */

static const char *const composite_params[] = { "width", "height", "framerate" };
static const int composite_min[] = { 16, 16, 1 }, composite_max[] = { 4096, 4096, 60 };

/* Composite's size and frame rate in their ranges, said at once. */
static int composite_check_ctor(call *c, json_t *ctor)
{
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(ctor, composite_params[i]);
        json_int_t n = json_integer_value(v);
        if (v && !json_is_null(v) &&
            (!json_is_integer(v) || n < composite_min[i] || n > composite_max[i])) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "Composite's %s must be an integer from %d to %d", composite_params[i],
                         composite_min[i], composite_max[i]);
            return FL_EINVAL;
        }
    }
    return 0;
}

/* Composite's constructor: width, height, framerate (kmd defaults when
 * absent), set before any port joins. */
static int composite_configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    (void)rpc;
    const char *const *names = composite_params;
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(ctor, names[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_integer(v))
            return FL_EINVAL;
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
        int rc = fl_element_set_property(e, names[i], text, NULL, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void set_master(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "@source", "zOrder" };
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, params, 2);
}

static void set_port_properties(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "relativeX",     "relativeY",      "zOrder",
                                          "relativeWidth", "relativeHeight", "@port" };
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, params, 6);
}

static void mixer_connect(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "media", "@source", "@sink" };
    fl__call_invoke(c, o, p, FL_ELEMENT_HUB_PORT, params, 3);
}

static const struct op alpha_ops[] = {
    { "AlphaBlending", "setMaster", set_master },
    { "AlphaBlending", "setPortProperties", set_port_properties },
    { NULL, NULL, NULL },
};

static const struct op mixer_ops[] = {
    { "Mixer", "connect", mixer_connect },
    { "Mixer", "disconnect", mixer_connect },
    { NULL, NULL, NULL },
};

const rpc_class fl__class_composite = {
    .name = "Composite",
    .engine_type = FL_ELEMENT_COMPOSITE,
    .check_ctor = composite_check_ctor,
    .configure = composite_configure,
};

const rpc_class fl__class_alpha_blending = {
    .name = "AlphaBlending",
    .engine_type = FL_ELEMENT_ALPHA_BLENDING,
    .ops = alpha_ops,
};

const rpc_class fl__class_mixer = {
    .name = "Mixer",
    .engine_type = FL_ELEMENT_MIXER,
    .ops = mixer_ops,
};

static int is_mixing(const obj *hub)
{
    return hub->impl == &fl__class_composite || hub->impl == &fl__class_alpha_blending ||
           hub->impl == &fl__class_mixer;
}
