/* The class table, built from Kurento's .kmd.json definitions compiled into
 * the binary: names, inheritance, methods, properties, events and types come
 * from there, exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

struct fl__embedded {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct fl__embedded fl__kmd_files[];
extern const unsigned fl__kmd_nfiles;

#define QUALIFIER "kurento"

const char *fl__kmd_text(const char *module)
{
    char want[64];
    snprintf(want, sizeof(want), "%s.kmd.json", module);
    for (unsigned i = 0; i < fl__kmd_nfiles; i++) {
        if (strcmp(fl__kmd_files[i].name, want) == 0)
            return (const char *)fl__kmd_files[i].data;
    }
    return NULL;
}

static int count_classes(kmd *k)
{
    size_t n = 0;
    for (size_t d = 0; d < k->ndocs; d++)
        n += json_array_size(json_object_get(k->docs[d], "remoteClasses"));
    k->classes = calloc(n ? n : 1, sizeof(*k->classes));
    if (!k->classes)
        return FL_ENOMEM;
    k->nclasses = 0;
    for (size_t d = 0; d < k->ndocs; d++) {
        const char *module = json_string_value(json_object_get(k->docs[d], "name"));
        json_t *classes = json_object_get(k->docs[d], "remoteClasses");
        size_t i;
        json_t *c;
        json_array_foreach(classes, i, c)
        {
            kmd_class *kc = &k->classes[k->nclasses++];
            kc->def = c;
            kc->name = json_string_value(json_object_get(c, "name"));
            kc->module = module;
            kc->abstract = json_is_true(json_object_get(c, "abstract"));
            char q[128];
            snprintf(q, sizeof(q), "%s.%s", QUALIFIER, kc->name);
            kc->qualified = strdup(q);
            if (!kc->name || !kc->qualified)
                return FL_EBADMSG;
        }
    }
    return 0;
}

int fl__kmd_load(kmd *k)
{
    memset(k, 0, sizeof(*k));
    for (unsigned i = 0; i < fl__kmd_nfiles && k->ndocs < 8; i++) {
        json_error_t jerr;
        json_t *doc =
                json_loadb((const char *)fl__kmd_files[i].data, fl__kmd_files[i].len, 0, &jerr);
        if (!doc) {
            fl_log(FL_LOG_ERROR, "kmd %s: %s", fl__kmd_files[i].name, jerr.text);
            fl__kmd_unload(k);
            return FL_EBADMSG;
        }
        k->docs[k->ndocs++] = doc;
    }
    int rc = count_classes(k);
    if (rc != 0) {
        fl__kmd_unload(k);
        return rc;
    }
    for (size_t i = 0; i < k->nclasses; i++) {
        const char *ext = json_string_value(json_object_get(k->classes[i].def, "extends"));
        if (ext)
            k->classes[i].parent = (kmd_class *)fl__kmd_class(k, ext);
    }
    return 0;
}

void fl__kmd_unload(kmd *k)
{
    for (size_t i = 0; i < k->nclasses; i++)
        free((char *)k->classes[i].qualified);
    free(k->classes);
    for (size_t d = 0; d < k->ndocs; d++)
        json_decref(k->docs[d]);
    memset(k, 0, sizeof(*k));
}

const kmd_class *fl__kmd_class(const kmd *k, const char *name)
{
    size_t qlen = strlen(QUALIFIER);
    if (strncmp(name, QUALIFIER ".", qlen + 1) == 0)
        name += qlen + 1;
    for (size_t i = 0; i < k->nclasses; i++) {
        if (strcmp(k->classes[i].name, name) == 0)
            return &k->classes[i];
    }
    return NULL;
}

int fl__kmd_is_a(const kmd_class *c, const char *ancestor)
{
    for (; c; c = c->parent) {
        if (strcmp(c->name, ancestor) == 0)
            return 1;
    }
    return 0;
}

static json_t *find_named(json_t *array, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(array, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

json_t *fl__kmd_method(const kmd_class *c, const char *name)
{
    for (; c; c = c->parent) {
        json_t *m = find_named(json_object_get(c->def, "methods"), name);
        if (m)
            return m;
    }
    return NULL;
}

json_t *fl__kmd_property_by_accessor(const kmd_class *c, const char *rest)
{
    if (!rest[0])
        return NULL;
    for (; c; c = c->parent) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(c->def, "properties"), i, p)
        {
            const char *n = json_string_value(json_object_get(p, "name"));
            if (n && n[0] && (n[0] == rest[0] || n[0] - 'a' + 'A' == rest[0]) &&
                strcmp(n + 1, rest + 1) == 0)
                return p;
        }
    }
    return NULL;
}

int fl__kmd_has_event(const kmd_class *c, const char *event)
{
    for (; c; c = c->parent) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(c->def, "events"), i, e)
        {
            if (json_is_string(e) && strcmp(json_string_value(e), event) == 0)
                return 1;
        }
    }
    return 0;
}

static json_t *complex_type(const kmd *k, const char *name)
{
    for (size_t d = 0; d < k->ndocs; d++) {
        json_t *t = find_named(json_object_get(k->docs[d], "complexTypes"), name);
        if (t)
            return t;
    }
    return NULL;
}

static int check_fail(struct rpc_err *err, int code, const char *name, const char *what)
{
    err->code = code;
    snprintf(err->msg, sizeof(err->msg), "'%s' parameter should be %s", name, what);
    return FL_EINVAL;
}

static int check_scalar(const char *name, const char *type, json_t *v, struct rpc_err *err)
{
    if (strcmp(type, "String") == 0)
        return json_is_string(v) ? 0 : check_fail(err, KE_MARSHALL_ERROR, name, "a string");
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v) ? 0 : check_fail(err, KE_MARSHALL_ERROR, name, "a boolean");
    if (strcmp(type, "int") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            return check_fail(err, KE_MARSHALL_ERROR, name, "a 32-bit integer");
        return 0;
    }
    if (strcmp(type, "int64") == 0)
        return json_is_integer(v) ? 0 : check_fail(err, KE_MARSHALL_ERROR, name, "an integer");
    if (strcmp(type, "float") == 0 || strcmp(type, "double") == 0)
        return json_is_number(v) ? 0 : check_fail(err, KE_MARSHALL_ERROR, name, "a number");
    return 1; /* not a scalar type */
}

static int check_enum(const char *name, json_t *t, json_t *v, struct rpc_err *err)
{
    size_t i;
    json_t *val;
    if (json_is_string(v)) {
        json_array_foreach(json_object_get(t, "values"), i, val)
        {
            if (strcmp(json_string_value(val), json_string_value(v)) == 0)
                return 0;
        }
    }
    char what[160];
    snprintf(what, sizeof(what), "a %s", json_string_value(json_object_get(t, "name")) ?: "value");
    return check_fail(err, KE_MARSHALL_ERROR, name, what);
}

/* Whether the REGISTER type `t` is `want` or extends it. */
static int type_is_a(const kmd *k, json_t *t, json_t *want)
{
    for (int depth = 0; t && depth < 16; depth++) {
        if (t == want)
            return 1;
        const char *ext = json_string_value(json_object_get(t, "extends"));
        t = ext ? complex_type(k, ext) : NULL;
    }
    return 0;
}

/* The type a record names in its "__type__" (kurento-client and the Java
 * client send it): `t` itself or one that extends it. NULL with err set when
 * it names anything else; `t` when absent. */
static json_t *record_type(const kmd *k,
                           const char *name,
                           json_t *t,
                           json_t *v,
                           struct rpc_err *err)
{
    const char *tname = json_string_value(json_object_get(t, "name"));
    json_t *tag = json_object_get(v, "__type__");
    json_t *module = json_object_get(v, "__module__");
    char what[200];
    if (module && !json_is_string(module)) {
        snprintf(what, sizeof(what), "of type %s ('__module__' a string)", tname);
        check_fail(err, KE_MARSHALL_ERROR, name, what);
        return NULL;
    }
    if (!tag)
        return t;
    json_t *named = json_is_string(tag) ? complex_type(k, json_string_value(tag)) : NULL;
    if (named && type_is_a(k, named, t))
        return named;
    snprintf(what, sizeof(what), "of type %s, not of %s type '%.80s'", tname,
             named ? "the" : "the unknown", json_is_string(tag) ? json_string_value(tag) : "?");
    check_fail(err, KE_MARSHALL_ERROR, name, what);
    return NULL;
}

/* Each member a REGISTER type (and what it extends) defines: present when
 * not optional, of its type. Members it does not define are ignored, as
 * Kurento does. */
static int check_members(const call *c, const char *name, json_t *t, json_t *v, struct rpc_err *err)
{
    for (int depth = 0; t && depth < 16; depth++) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(t, "properties"), i, p)
        {
            const char *pname = json_string_value(json_object_get(p, "name"));
            const char *ptype = json_string_value(json_object_get(p, "type"));
            if (!pname || !ptype)
                continue;
            char full[128];
            snprintf(full, sizeof(full), "%.60s.%.60s", name, pname);
            json_t *m = json_object_get(v, pname);
            if (!m || json_is_null(m)) {
                if (json_is_true(json_object_get(p, "optional")))
                    continue;
                err->code = KE_MARSHALL_ERROR;
                snprintf(err->msg, sizeof(err->msg), "'%s' parameter is required", full);
                return FL_EINVAL;
            }
            if (fl__kmd_check_value(c, full, ptype, m, err) != 0)
                return FL_EINVAL;
        }
        const char *ext = json_string_value(json_object_get(t, "extends"));
        t = ext ? complex_type(&c->rpc->kmd, ext) : NULL;
    }
    return 0;
}

static int check_complex(const call *c, const char *name, json_t *t, json_t *v, struct rpc_err *err)
{
    const char *format = json_string_value(json_object_get(t, "typeFormat"));
    if (format && strcmp(format, "ENUM") == 0)
        return check_enum(name, t, v, err);
    if (!json_is_object(v)) {
        char what[160];
        snprintf(what, sizeof(what), "an object of type %s",
                 json_string_value(json_object_get(t, "name")) ?: "?");
        return check_fail(err, KE_MARSHALL_ERROR, name, what);
    }
    json_t *actual = record_type(&c->rpc->kmd, name, t, v, err);
    if (!actual)
        return FL_EINVAL;
    return check_members(c, name, actual, v, err);
}

int fl__kmd_check_value(const call *c,
                        const char *name,
                        const char *type,
                        json_t *v,
                        struct rpc_err *err)
{
    size_t tl = strlen(type);
    if (tl > 2 && (strcmp(type + tl - 2, "[]") == 0 || strcmp(type + tl - 2, "<>") == 0)) {
        char inner[128];
        snprintf(inner, sizeof(inner), "%.*s", (int)(tl - 2), type);
        int is_list = type[tl - 1] == ']';
        if (is_list ? !json_is_array(v) : !json_is_object(v))
            return check_fail(err, KE_MARSHALL_ERROR, name, is_list ? "an array" : "an object");
        size_t i;
        const char *key;
        json_t *it;
        if (is_list) {
            json_array_foreach(v, i, it)
            {
                if (fl__kmd_check_value(c, name, inner, it, err) != 0)
                    return FL_EINVAL;
            }
        } else {
            json_object_foreach(v, key, it)
            {
                if (fl__kmd_check_value(c, name, inner, it, err) != 0)
                    return FL_EINVAL;
            }
        }
        return 0;
    }
    int rc = check_scalar(name, type, v, err);
    if (rc <= 0)
        return rc;
    json_t *t = complex_type(&c->rpc->kmd, type);
    if (t)
        return check_complex(c, name, t, v, err);
    const kmd_class *cls = fl__kmd_class(&c->rpc->kmd, type);
    if (!cls)
        return check_fail(err, KE_MARSHALL_ERROR, name, "of a known type");
    if (!json_is_string(v)) {
        char what[160];
        snprintf(what, sizeof(what), "the id of a %s", cls->name);
        return check_fail(err, KE_MARSHALL_ERROR, name, what);
    }
    /* with isolated sessions, another session's object is as missing */
    obj *o = fl__obj_find(c->rpc, json_string_value(v));
    if (!o || !fl__call_sees(c, o)) {
        err->code = KE_MEDIA_OBJECT_NOT_FOUND;
        snprintf(err->msg, sizeof(err->msg), "Object '%.200s' not found", json_string_value(v));
        return FL_EINVAL;
    }
    if (!fl__kmd_is_a(o->cls, cls->name)) {
        char what[160];
        snprintf(what, sizeof(what), "a %s, not a %s", cls->name, o->cls->name);
        return check_fail(err, KE_MARSHALL_ERROR, name, what);
    }
    return 0;
}

json_t *fl__kmd_module_infos(const kmd *k)
{
    json_t *mods = json_array();
    for (size_t d = 0; d < k->ndocs; d++) {
        json_t *doc = k->docs[d];
        json_t *factories = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "remoteClasses"), i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n && fl__class_find(n))
                json_array_append_new(factories, json_string(n));
        }
        json_array_append_new(mods, json_pack("{s:s, s:s, s:O?, s:O?, s:s, s:o}", "__module__",
                                              QUALIFIER, "__type__", "ModuleInfo", "name",
                                              json_object_get(doc, "name"), "version",
                                              json_object_get(doc, "version"), "generationTime",
                                              __DATE__ " " __TIME__, "factories", factories));
    }
    return mods;
}
