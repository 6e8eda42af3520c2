/* Objects and sessions: ids formed as Kurento forms them, ownership by
 * sessions, release (explicit, by pipeline, or by garbage collection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

void fl__rpc_maybe_finish(struct fl_rpc *rpc);

static void ptr_key(const void *p, char out[32])
{
    snprintf(out, 32, "%p", p);
}

obj *fl__obj_new(struct fl_rpc *rpc, const kmd_class *cls, obj *parent, const char *id)
{
    obj *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    char uuid[37];
    char buf[512];
    if (!id) {
        fl_rand_uuid(fl_rand_system(), uuid);
        if (parent)
            snprintf(buf, sizeof(buf), "%s/%s_%s", parent->id, uuid, cls->qualified);
        else
            snprintf(buf, sizeof(buf), "%s_%s", uuid, cls->qualified);
        id = buf;
    }
    o->id = strdup(id);
    o->tags = json_object();
    o->props = json_object();
    if (!o->id || !o->tags || !o->props || fl_hmap_put(&rpc->objects, o->id, o) != 0) {
        free(o->id);
        json_decref(o->tags);
        json_decref(o->props);
        free(o);
        return NULL;
    }
    o->refs = 1;
    o->rpc = rpc;
    o->cls = cls;
    o->parent = parent;
    o->creation_time = fl_time_wall_ms() / 1000;
    fl_list_init(&o->children);
    fl_list_init(&o->child_node);
    fl_list_init(&o->subs);
    if (parent)
        fl_list_push_back(&parent->children, &o->child_node);
    return o;
}

obj *fl__obj_find(struct fl_rpc *rpc, const char *id)
{
    obj *o = fl_hmap_get(&rpc->objects, id);
    return o && !o->released ? o : NULL;
}

obj *fl__obj_from_element(struct fl_rpc *rpc, const fl_element *e)
{
    char key[32];
    ptr_key(e, key);
    obj *o = fl_hmap_get(&rpc->elements, key);
    return o && !o->released ? o : NULL;
}

void fl__obj_register_element(struct fl_rpc *rpc, obj *o);

void fl__obj_register_element(struct fl_rpc *rpc, obj *o)
{
    char key[32];
    ptr_key(o->element, key);
    if (fl_hmap_put(&rpc->elements, key, o) != 0)
        fl_log(FL_LOG_ERROR, "out of memory registering %s", o->id);
}

void fl__obj_ref(obj *o)
{
    o->refs++;
}

void fl__obj_unref(obj *o)
{
    if (!o || --o->refs > 0)
        return;
    free(o->id);
    free(o->name);
    json_decref(o->tags);
    json_decref(o->props);
    free(o);
}

const char *fl__obj_name(const obj *o)
{
    return o->name ? o->name : o->id;
}

struct release_ctx {
    obj *o;
    void (*done)(void *arg);
    void *arg;
};

/* Unregisters o and its children (depth first) and tells subscribers. */
static void unregister(struct fl_rpc *rpc, obj *o)
{
    fl_list_foreach_safe (it, tmp, &o->children) {
        unregister(rpc, fl_container_of(it, obj, child_node));
    }
    o->released = 1;
    fl_hmap_del(&rpc->objects, o->id);
    if (o->element) {
        char key[32];
        ptr_key(o->element, key);
        fl_hmap_del(&rpc->elements, key);
    }
    size_t it = 0;
    session *s;
    while (fl_hmap_next(&rpc->sessions, &it, NULL, (void **)&s)) {
        if (fl_hmap_del(&s->objs, o->id))
            fl__obj_unref(o);
    }
    fl_list_foreach_safe (n, tmp2, &o->subs) {
        sub *sb = fl_container_of(n, sub, obj_node);
        fl_list_remove(&sb->obj_node);
        fl_hmap_del(&rpc->subs, sb->id);
        free(sb);
    }
    if (rpc->manager) {
        json_t *data = fl__event_base(rpc->manager, NULL);
        json_object_set_new(data, "objectId", json_string(o->id));
        fl__event_emit(rpc, rpc->manager, "ObjectDestroyed", data);
    }
}

/* Drops the tree's registry references once the engine is done with it. */
static void free_tree(obj *o)
{
    fl_list_foreach_safe (it, tmp, &o->children) {
        obj *child = fl_container_of(it, obj, child_node);
        fl_list_remove(&child->child_node);
        free_tree(child);
    }
    fl_list_remove(&o->child_node);
    fl__obj_unref(o);
}

static void release_done(void *arg, int status)
{
    struct release_ctx *rc = arg;
    struct fl_rpc *rpc = rc->o->rpc;
    if (status != 0)
        fl_log(FL_LOG_WARN, "engine release of %s: %s", rc->o->id, fl_strerror(status));
    free_tree(rc->o);
    rpc->pending_releases--;
    if (rc->done)
        rc->done(rc->arg);
    free(rc);
    fl__rpc_maybe_finish(rpc);
}

void fl__obj_release(obj *o, void (*done)(void *arg), void *arg)
{
    struct fl_rpc *rpc = o->rpc;
    struct release_ctx *rc = calloc(1, sizeof(*rc));
    if (!rc) {
        fl_log(FL_LOG_ERROR, "out of memory releasing %s", o->id);
        return;
    }
    rc->o = o;
    rc->done = done;
    rc->arg = arg;
    unregister(rpc, o);
    rpc->pending_releases++;
    if (o->pipeline) {
        fl_pipeline_release(o->pipeline, release_done, rc);
    } else if (o->element) {
        fl_element_release(o->element, release_done, rc);
    } else {
        release_done(rc, 0);
    }
}

session *fl__session_get(struct fl_rpc *rpc, const char *id, int create)
{
    session *s = fl_hmap_get(&rpc->sessions, id);
    if (s || !create)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    snprintf(s->id, sizeof(s->id), "%s", id);
    fl_hmap_init(&s->objs);
    s->in_use = 1;
    if (fl_hmap_put(&rpc->sessions, s->id, s) != 0) {
        fl_hmap_deinit(&s->objs);
        free(s);
        return NULL;
    }
    return s;
}

void fl__session_hold(session *s, obj *o)
{
    if (o->released || fl_hmap_get(&s->objs, o->id))
        return;
    if (fl_hmap_put(&s->objs, o->id, o) == 0)
        fl__obj_ref(o);
}

/* Forgets a session: objects no other session holds are released. */
void fl__session_drop(struct fl_rpc *rpc, session *s)
{
    fl_hmap_del(&rpc->sessions, s->id);
    if (s->client)
        s->client->session[0] = '\0';
    size_t n = fl_hmap_len(&s->objs);
    obj **held = calloc(n ? n : 1, sizeof(*held));
    size_t k = 0;
    const char *key;
    obj *o;
    for (size_t it = 0; held && fl_hmap_next(&s->objs, &it, &key, (void **)&o);)
        held[k++] = o;
    fl_hmap_deinit(&s->objs);
    for (size_t i = 0; i < k; i++) {
        o = held[i];
        int others = 0;
        size_t it = 0;
        session *other;
        while (fl_hmap_next(&rpc->sessions, &it, NULL, (void **)&other))
            others += fl_hmap_get(&other->objs, o->id) != NULL;
        if (!others && !o->released && o != rpc->manager) {
            fl_log(FL_LOG_INFO, "session %s gone: releasing %s", s->id, o->id);
            fl__obj_release(o, NULL, NULL);
        }
        fl__obj_unref(o);
    }
    free(held);
    free(s);
}

/* Kurento's garbage collector: a session is kept while a connection is
 * associated with it or it was used since the last run. */
void fl__gc_run(struct fl_rpc *rpc)
{
    session *doomed[64];
    size_t n = 0;
    size_t it = 0;
    session *s;
    while (n < 64 && fl_hmap_next(&rpc->sessions, &it, NULL, (void **)&s)) {
        if (s->client) {
            s->in_use = 1;
            continue;
        }
        if (s->in_use) {
            s->in_use = 0;
            continue;
        }
        doomed[n++] = s;
    }
    for (size_t i = 0; i < n; i++)
        fl__session_drop(rpc, doomed[i]);
    if (n == 64)
        fl__gc_run(rpc); /* more to collect */
}
