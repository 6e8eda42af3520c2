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

static int port_configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    const char *id = json_string_value(json_object_get(ctor, "hub"));
    obj *hub = id ? fl__obj_find(rpc, id) : NULL;
    if (!hub || !hub->element)
        return FL_EINVAL;
    return fl_element_set_property(e, "hub", fl_element_name(hub->element), NULL, NULL);
}

const rpc_class fl__class_hub_port = {
    .name = "HubPort",
    .engine_type = FL_ELEMENT_HUB_PORT,
    .configure = port_configure,
};

/* ---- the hubs' calls ---- */

static void call_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else
        fl__call_err(
                c, status == FL_EINVAL ? KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR : KE_UNEXPECTED_ERROR,
                "%s", text && text[0] ? text : fl_strerror(status));
}

#define MAX_PARAMS 6

/* The engine's call named by the operation, with its parameters (in
 * `params` order) as arguments: a name starting with '@' is a port (its
 * element's name), any other a number or a string (as text). */
static void invoke_ports(call *c, obj *o, json_t *p, const char *const *params, size_t n)
{
    const char *method = json_string_value(json_object_get(c->params, "operation"));
    const char *args[MAX_PARAMS] = { NULL };
    char text[MAX_PARAMS][32];
    for (size_t i = 0; i < n && i < MAX_PARAMS; i++) {
        const char *name = params[i];
        if (name[0] != '@') {
            json_t *v = json_object_get(p, name);
            if (json_is_integer(v))
                snprintf(text[i], sizeof(text[i]), "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(text[i], sizeof(text[i]), "%.9g", json_real_value(v));
            else if (json_is_string(v))
                snprintf(text[i], sizeof(text[i]), "%s", json_string_value(v));
            else {
                fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is missing", name);
                return;
            }
            args[i] = text[i];
            continue;
        }
        name++;
        const char *id = json_string_value(json_object_get(p, name));
        obj *port = id ? fl__call_find(c, id) : NULL;
        if (!port || !port->element || !port->impl || !port->impl->engine_type ||
            strcmp(port->impl->engine_type, FL_ELEMENT_HUB_PORT) != 0) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is not a HubPort", name);
            return;
        }
        args[i] = fl_element_name(port->element);
    }
    int rc = fl_element_invoke(o->element, method, args, n, call_done, c);
    if (rc < 0)
        call_done(c, rc, NULL);
}

static void dispatcher_connect(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "@source", "@sink" };
    invoke_ports(c, o, p, params, 2);
}

static void set_source(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "@source" };
    invoke_ports(c, o, p, params, 1);
}

static void remove_source(call *c, obj *o, json_t *p)
{
    invoke_ports(c, o, p, NULL, 0);
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

/* Composite's constructor: width, height, framerate (kmd defaults when
 * absent), set before any port joins. */
static int composite_configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    (void)rpc;
    static const char *const names[] = { "width", "height", "framerate" };
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(ctor, names[i]);
        if (!v)
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
    invoke_ports(c, o, p, params, 2);
}

static void set_port_properties(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "relativeX",     "relativeY",      "zOrder",
                                          "relativeWidth", "relativeHeight", "@port" };
    invoke_ports(c, o, p, params, 6);
}

static void mixer_connect(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "media", "@source", "@sink" };
    invoke_ports(c, o, p, params, 3);
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
