/* The rows of HubPort, Dispatcher and DispatcherOneToMany: a port joins the
 * hub its constructor names; the hubs' routing calls (connect, setSource,
 * removeSource) name ports, passed to the engine by their element's name.
 * Hub.getGstreamerDot is every object's (rpc/ops_element.c). The engine
 * side is engine/hub.c. */
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

/* The engine's call named by the operation, with the ports its parameters
 * name (in `params` order) as arguments. */
static void invoke_ports(call *c, obj *o, json_t *p, const char *const *params, size_t n)
{
    const char *method = json_string_value(json_object_get(c->params, "operation"));
    const char *args[2] = { NULL, NULL };
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(p, params[i]));
        obj *port = id ? fl__call_find(c, id) : NULL;
        if (!port || !port->element || !port->impl || !port->impl->engine_type ||
            strcmp(port->impl->engine_type, FL_ELEMENT_HUB_PORT) != 0) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is not a HubPort",
                         params[i]);
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
    static const char *const params[] = { "source", "sink" };
    invoke_ports(c, o, p, params, 2);
}

static void set_source(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "source" };
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
