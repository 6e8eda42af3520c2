/* create, release and invoke: parameters checked against the kmd, then the
 * implementation of each operation fluo has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

/* ---- create ---- */

static int check_params(call *c, json_t *defs, json_t *given)
{
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *type = json_string_value(json_object_get(d, "type"));
        json_t *v = json_object_get(given, name);
        if (!v || json_is_null(v)) {
            if (json_is_true(json_object_get(d, "optional")))
                continue;
            fl__call_err(c, KE_MARSHALL_ERROR, "'%s' parameter is required", name);
            return FL_EINVAL;
        }
        struct rpc_err err;
        if (fl__kmd_check_value(c, name, type, v, &err) != 0) {
            fl__call_err_obj(c, &err);
            return FL_EINVAL;
        }
    }
    return 0;
}

static void created(call *c, obj *o)
{
    session *s = fl__session_get(c->rpc, c->session, 1);
    if (s)
        fl__session_hold(s, o);
    json_t *data = fl__event_base(c->rpc->manager, NULL);
    json_object_set_new(data, "object", json_string(o->id));
    fl__event_emit_about(c->rpc, o, "ObjectCreated", data);
    fl__call_ok(c, json_string(o->id));
}

static void create_pipeline(call *c, const kmd_class *cls, const rpc_class *k)
{
    obj *o = fl__obj_new(c->rpc, cls, NULL, NULL);
    if (!o) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    o->impl = k;
    fl__obj_account(o, fl__session_get(c->rpc, c->session, 0));
    int rc = fl_pipeline_create(c->rpc->engine, &o->pipeline);
    if (rc != 0) {
        o->pipeline = NULL;
        fl__obj_release(o, NULL, NULL);
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Cannot create a pipeline: %s", fl_strerror(rc));
        return;
    }
    created(c, o);
}

static void create_element(call *c, const kmd_class *cls, const rpc_class *k, json_t *ctor)
{
    if (k->check_ctor && k->check_ctor(c, ctor) != 0)
        return;
    /* a HubPort is made in its hub's pipeline */
    const char *pipe_id = json_string_value(json_object_get(ctor, "mediaPipeline"));
    const char *hub_id = json_string_value(json_object_get(ctor, "hub"));
    obj *hub = !pipe_id && hub_id ? fl__obj_find(c->rpc, hub_id) : NULL;
    obj *pipe = pipe_id ? fl__obj_find(c->rpc, pipe_id) : hub ? hub->parent : NULL;
    if (!pipe || !pipe->pipeline) {
        fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND, "%s: its pipeline was not found", cls->name);
        return;
    }
    obj *o = fl__obj_new(c->rpc, cls, pipe, NULL);
    if (!o) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    o->impl = k;
    fl__obj_account(o, fl__session_get(c->rpc, c->session, 0));
    int rc = fl_element_create(pipe->pipeline, k->engine_type, o->id, &o->element);
    if (rc != 0) {
        o->element = NULL;
        fl__obj_release(o, NULL, NULL);
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Cannot create %s: %s", cls->name,
                     fl_strerror(rc));
        return;
    }
    fl__obj_register_element(c->rpc, o);
    if ((rc = fl_element_set_event_cb(o->element, fl__engine_event, o)) == 0 && k->configure)
        rc = k->configure(c->rpc, o->element, ctor);
    if (rc != 0) {
        fl__obj_release(o, NULL, NULL);
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Cannot create %s: %s", cls->name,
                     fl_strerror(rc));
        return;
    }
    created(c, o);
}

/* Kurento classes fluo refuses for good, and why: they run GStreamer or
 * OpenCV plugins of Kurento's own. */
static const char *refused_why(const char *name)
{
    static const char *const plugins[] = { "OpenCVFilter", "ChromaFilter", "CrowdDetectorFilter",
                                           "PlateDetectorFilter", "PointerDetectorFilter" };
    const char *dot = strchr(name, '.');
    const char *base = dot ? dot + 1 : name;
    if (strcmp(base, "GStreamerFilter") == 0)
        return "it runs a GStreamer pipeline description, and fluo has no GStreamer";
    for (size_t i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
        if (strcmp(base, plugins[i]) == 0)
            return "it is a GStreamer/OpenCV plugin module of Kurento's, and fluo has no "
                   "GStreamer: its filters are ZBarFilter, ImageOverlayFilter and "
                   "FaceOverlayFilter";
    }
    return NULL;
}

void fl__op_create(call *c)
{
    json_t *type = json_object_get(c->params, "type");
    json_t *ctor = json_object_get(c->params, "constructorParams");
    if (!json_is_string(type)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'type' parameter should be a string");
        return;
    }
    if (ctor && !json_is_object(ctor) && !json_is_null(ctor)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'constructorParams' parameter should be an object");
        return;
    }
    json_t *props = json_object_get(c->params, "properties"); /* not used, as in Kurento */
    if (props && !json_is_object(props) && !json_is_null(props)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'properties' parameter should be an object");
        return;
    }
    const char *name = json_string_value(type);
    const char *refused = refused_why(name);
    if (refused) {
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED, "%.100s is not supported: %s",
                     name, refused);
        return;
    }
    const kmd_class *cls = fl__kmd_class(&c->rpc->kmd, name);
    json_t *cdef = cls ? json_object_get(cls->def, "constructor") : NULL;
    if (!cls || cls->abstract || !cdef) {
        fl__call_err(c, KE_MEDIA_OBJECT_NOT_AVAILABLE, "Factory '%.100s' not found", name);
        return;
    }
    if (check_params(c, json_object_get(cdef, "params"), ctor) != 0)
        return;
    const rpc_class *k = fl__class_find(cls->name);
    if (!k)
        fl__call_err(c, KE_NOT_IMPLEMENTED, "%s is not implemented yet in fluo", cls->name);
    else if (fl__limits_check_create(c, cls) != 0)
        return;
    else if (!k->engine_type)
        create_pipeline(c, cls, k);
    else
        create_element(c, cls, k, ctor);
}

/* ---- release ---- */

static void release_done(void *arg)
{
    fl__call_ok_plain(arg);
}

void fl__op_release(call *c)
{
    const char *id = json_string_value(json_object_get(c->params, "object"));
    if (!id) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'object' parameter should be a string");
        return;
    }
    obj *o = fl__call_find(c, id);
    if (!o) {
        fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND, "Object '%.200s' not found", id);
        return;
    }
    if (o == c->rpc->manager) {
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED,
                     "The ServerManager cannot be released");
        return;
    }
    fl__obj_release(o, release_done, c);
}

/* ---- invoke ---- */

static void invoke_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else
        fl__call_err(c,
                     status == FL_EINVAL || status == FL_ENOENT || status == FL_EMSGSIZE ||
                                     status == FL_ERANGE
                             ? KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR
                             : KE_UNEXPECTED_ERROR,
                     "%s", text && text[0] ? text : fl_strerror(status));
}

#define INVOKE_MAX_PARAMS 8

void fl__call_invoke(call *c,
                     obj *o,
                     json_t *p,
                     const char *elem_type,
                     const char *const *params,
                     size_t n)
{
    const char *method = json_string_value(json_object_get(c->params, "operation"));
    const char *args[INVOKE_MAX_PARAMS] = { NULL };
    char text[INVOKE_MAX_PARAMS][32];
    if (n > INVOKE_MAX_PARAMS) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s takes too many parameters", method);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = params[i];
        if (name[0] != '@') {
            json_t *v = json_object_get(p, name);
            if (json_is_integer(v))
                snprintf(text[i], sizeof(text[i]), "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(text[i], sizeof(text[i]), "%.9g", json_real_value(v));
            else if (json_is_boolean(v))
                snprintf(text[i], sizeof(text[i]), "%s", json_is_true(v) ? "true" : "false");
            else if (json_is_string(v)) {
                args[i] = json_string_value(v);
                continue;
            } else {
                fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is missing", name);
                return;
            }
            args[i] = text[i];
            continue;
        }
        name++;
        const char *id = json_string_value(json_object_get(p, name));
        obj *x = id ? fl__call_find(c, id) : NULL;
        if (!x || !x->element || !x->impl || !x->impl->engine_type ||
            strcmp(x->impl->engine_type, elem_type) != 0) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is not a %s", name,
                         elem_type);
            return;
        }
        args[i] = fl_element_name(x->element);
    }
    int rc = fl_element_invoke(o->element, method, args, n, invoke_done, c);
    if (rc < 0)
        invoke_done(c, rc, NULL);
}

/* The object's own operations (its class row's) first, then the
 * UriEndpoint ones, then every object's. */
static op_fn find_op(const obj *o, const char *name)
{
    const struct op *tables[] = { o->impl ? o->impl->ops : NULL, fl__sdp_ops, fl__uri_ops,
                                  fl__ops };
    for (const kmd_class *cls = o->cls; cls; cls = cls->parent) {
        for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
            for (const struct op *op = tables[t]; op && op->name; op++) {
                if (strcmp(op->cls, cls->name) == 0 && strcmp(op->name, name) == 0)
                    return op->fn;
            }
        }
    }
    return NULL;
}

/* The kmd definition of an operation: a method, or a property accessor
 * (rewritten as a one-parameter list for setters). */
static json_t *operation_params(const kmd_class *cls, const char *op, int *found)
{
    json_t *m = fl__kmd_method(cls, op);
    *found = m != NULL;
    if (m)
        return json_incref(json_object_get(m, "params"));
    int get = strncmp(op, "get", 3) == 0;
    int set = strncmp(op, "set", 3) == 0;
    if (!get && !set)
        return NULL;
    json_t *prop = fl__kmd_property_by_accessor(cls, op + 3);
    if (!prop)
        return NULL;
    if (set && (json_is_true(json_object_get(prop, "readOnly")) ||
                json_is_true(json_object_get(prop, "final"))))
        return NULL;
    *found = 1;
    if (get)
        return json_array();
    return json_pack("[{s:O, s:O}]", "name", json_object_get(prop, "name"), "type",
                     json_object_get(prop, "type"));
}

void fl__op_invoke(call *c)
{
    json_t *object = json_object_get(c->params, "object");
    json_t *operation = json_object_get(c->params, "operation");
    json_t *params = json_object_get(c->params, "operationParams");
    if (!json_is_string(object) || !json_is_string(operation)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'%s' parameter should be a string",
                     json_is_string(object) ? "operation" : "object");
        return;
    }
    if (params && !json_is_object(params) && !json_is_null(params)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'operationParams' parameter should be an object");
        return;
    }
    const char *id = json_string_value(object);
    obj *o = fl__call_find(c, id);
    if (!o) {
        int newref = strncmp(id, "newref:", 7) == 0;
        fl__call_err(c,
                     newref ? KE_MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT
                            : KE_MEDIA_OBJECT_NOT_FOUND,
                     "Object '%.200s' not found", id);
        return;
    }
    session *s = fl__session_get(c->rpc, c->session, 1);
    if (s)
        fl__session_hold(s, o);
    const char *op = json_string_value(operation);
    int found;
    json_t *defs = operation_params(o->cls, op, &found);
    if (!found) {
        json_decref(defs);
        fl__call_err(c, KE_MALFORMED_TRANSACTION, "Method '%.100s' with %zu parameters not found",
                     op, json_is_object(params) ? json_object_size(params) : 0);
        return;
    }
    int rc = check_params(c, defs, params);
    json_decref(defs);
    if (rc != 0)
        return;
    op_fn fn = find_op(o, op);
    if (!fn) {
        fl__call_err(c, KE_NOT_IMPLEMENTED, "%s.%s is not implemented yet in fluo", o->cls->name,
                     op);
        return;
    }
    c->target = o;
    fl__obj_ref(o);
    fn(c, o, json_is_object(params) ? params : NULL);
}
