/* Objects and sessions: ids formed as Kurento forms them, holding by sessions
 * (Kurento's MediaSet refs), release (explicit, with the pipeline, or by the
 * garbage collector). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

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
    fl_list_init(&o->holds);
    fl_list_init(&o->creator_node);
    if (parent)
        fl_list_push_back(&parent->children, &o->child_node);
    return o;
}

obj *fl__obj_find(struct fl_rpc *rpc, const char *id)
{
    obj *o = fl_hmap_get(&rpc->objects, id);
    return o && !o->released ? o : NULL;
}

obj *fl__obj_from_element(struct fl_rpc *rpc, const fl_element *e, int any)
{
    char key[32];
    ptr_key(e, key);
    obj *o = fl_hmap_get(&rpc->elements, key);
    return o && (any || !o->released) ? o : NULL;
}

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

static int is_pipeline(const obj *o)
{
    return fl__kmd_is_a(o->cls, "MediaPipeline");
}

void fl__obj_account(obj *o, session *creator)
{
    struct fl_rpc *rpc = o->rpc;
    o->counted = 1;
    o->endpoint = fl__limits_is_endpoint(o->cls);
    rpc->nobjects++;
    rpc->nendpoints += o->endpoint;
    rpc->npipelines += is_pipeline(o);
    if (!creator)
        return;
    o->creator = creator;
    fl_list_push_back(&creator->created, &o->creator_node);
    creator->nobjects++;
    creator->nendpoints += o->endpoint;
    creator->npipelines += is_pipeline(o);
}

/* Gives back what the object counted against the limits. */
static void unaccount(obj *o)
{
    struct fl_rpc *rpc = o->rpc;
    if (!o->counted)
        return;
    o->counted = 0;
    rpc->nobjects--;
    rpc->nendpoints -= o->endpoint;
    rpc->npipelines -= is_pipeline(o);
    session *s = o->creator;
    if (!s)
        return;
    s->nobjects--;
    s->nendpoints -= o->endpoint;
    s->npipelines -= is_pipeline(o);
    fl_list_remove(&o->creator_node);
    o->creator = NULL;
}

int fl__call_sees(const call *c, const obj *o)
{
    struct fl_rpc *rpc = c->rpc;
    if (!rpc->cfg.isolated || o == rpc->manager)
        return 1;
    session *s = fl__session_get(rpc, c->session, 0);
    return s && fl_hmap_get(&s->holds, o->id) != NULL;
}

obj *fl__call_find(const call *c, const char *id)
{
    obj *o = id ? fl__obj_find(c->rpc, id) : NULL;
    return o && fl__call_sees(c, o) ? o : NULL;
}

static void sub_free(struct fl_rpc *rpc, sub *sb)
{
    fl_list_remove(&sb->obj_node);
    fl_list_remove(&sb->session_node);
    sb->s->nsubs--;
    fl_hmap_del(&rpc->subs, sb->id);
    free(sb);
}

/* Unlinks a hold from both sides and drops the reference it kept. */
static void hold_free(hold *h)
{
    obj *o = h->o;
    fl_hmap_del(&h->s->holds, o->id);
    fl_list_remove(&h->obj_node);
    o->nholds--;
    free(h);
    fl__obj_unref(o);
}

struct release_ctx {
    obj *o;
    void (*done)(void *arg);
    void *arg;
};

/* Unregisters o and its children (depth first) and tells subscribers. */
static void unregister(struct fl_rpc *rpc, obj *o)
{
    if (o->released)
        return;
    fl_list_foreach_safe (it, tmp, &o->children) {
        unregister(rpc, fl_container_of(it, obj, child_node));
    }
    o->released = 1;
    fl_hmap_del(&rpc->objects, o->id);
    if (rpc->manager) {
        /* While its holders are known: isolated sessions hear of their own. */
        json_t *data = fl__event_base(rpc->manager, NULL);
        json_object_set_new(data, "objectId", json_string(o->id));
        fl__event_emit_about(rpc, o, "ObjectDestroyed", data);
    }
    fl_list_foreach_safe (n, tmp2, &o->holds) {
        hold_free(fl_container_of(n, hold, obj_node));
    }
    fl_list_foreach_safe (n, tmp3, &o->subs) {
        sub_free(rpc, fl_container_of(n, sub, obj_node));
    }
    unaccount(o);
}

/* Drops the tree's registry references once the engine is done with it. */
static void free_tree(struct fl_rpc *rpc, obj *o)
{
    fl_list_foreach_safe (it, tmp, &o->children) {
        obj *child = fl_container_of(it, obj, child_node);
        fl_list_remove(&child->child_node);
        free_tree(rpc, child);
    }
    fl_list_remove(&o->child_node);
    rpc->frees_since_trim++;
    if (o->element) {
        char key[32];
        ptr_key(o->element, key);
        if (fl_hmap_get(&rpc->elements, key) == o)
            fl_hmap_del(&rpc->elements, key);
    }
    fl__obj_unref(o);
}

static void release_done(void *arg, int status)
{
    struct release_ctx *rc = arg;
    struct fl_rpc *rpc = rc->o->rpc;
    if (status != 0)
        fl_log(FL_LOG_WARN, "engine release of %s: %s", rc->o->id, fl_strerror(status));
    free_tree(rpc, rc->o);
    rpc->pending_releases--;
    if (rc->done)
        rc->done(rc->arg);
    free(rc);
    fl__limits_trim_later(rpc);
    fl__rpc_maybe_finish(rpc);
}

void fl__obj_release(obj *o, void (*done)(void *arg), void *arg)
{
    struct fl_rpc *rpc = o->rpc;
    struct release_ctx *rc = calloc(1, sizeof(*rc));
    unregister(rpc, o);
    /* An element released alone leaves its pipeline's tree now: the pipeline's
     * own release must not free it a second time. */
    fl_list_remove(&o->child_node);
    if (!rc) {
        fl_log(FL_LOG_ERROR, "out of memory releasing %s", o->id);
        free_tree(rpc, o);
        if (done)
            done(arg);
        return;
    }
    rc->o = o;
    rc->done = done;
    rc->arg = arg;
    rpc->pending_releases++;
    int status = 0;
    if (o->pipeline)
        status = fl_pipeline_release(o->pipeline, release_done, rc);
    else if (o->element)
        status = fl_element_release(o->element, release_done, rc);
    if (!(o->pipeline || o->element) || status < 0)
        release_done(rc, status);
}

session *fl__session_get(struct fl_rpc *rpc, const char *id, int create)
{
    session *s = fl_hmap_get(&rpc->sessions, id);
    if (s || !create || fl__limits_sessions_full(rpc, 1))
        return s;
    s = calloc(1, sizeof(*s));
    if (!s || !(s->id = strdup(id)))
        goto fail;
    fl_hmap_init(&s->holds);
    fl_list_init(&s->subs);
    fl_list_init(&s->created);
    s->in_use = 1;
    if (fl_hmap_put(&rpc->sessions, s->id, s) != 0)
        goto fail;
    return s;
fail:
    if (s)
        free(s->id);
    free(s);
    return NULL;
}

static void hold_one(session *s, obj *o)
{
    if (o->released || fl_hmap_get(&s->holds, o->id))
        return;
    hold *h = calloc(1, sizeof(*h));
    if (!h || fl_hmap_put(&s->holds, o->id, h) != 0) {
        free(h);
        fl_log(FL_LOG_ERROR, "out of memory: session %s cannot hold %s", s->id, o->id);
        return;
    }
    h->s = s;
    h->o = o;
    fl_list_push_back(&o->holds, &h->obj_node);
    o->nholds++;
    fl__obj_ref(o);
}

void fl__session_hold(session *s, obj *o)
{
    for (; o; o = o->parent)
        hold_one(s, o);
}

void fl__session_unhold(session *s, obj *o)
{
    struct fl_rpc *rpc = o->rpc;
    hold *h = fl_hmap_get(&s->holds, o->id);
    if (!h)
        return;
    fl_list_foreach_safe (n, tmp, &o->subs) {
        sub *sb = fl_container_of(n, sub, obj_node);
        if (sb->s == s)
            sub_free(rpc, sb);
    }
    fl__obj_ref(o);
    hold_free(h);
    if (o->nholds == 0 && !o->released && o != rpc->manager) {
        fl_log(FL_LOG_INFO, "no session holds %s: releasing it", o->id);
        fl__obj_release(o, NULL, NULL);
    }
    fl__obj_unref(o);
}

void fl__session_drop(struct fl_rpc *rpc, session *s)
{
    fl_hmap_del(&rpc->sessions, s->id);
    if (s->client)
        s->client->session[0] = '\0';
    fl_list_foreach_safe (n, tmp, &s->subs) {
        sub_free(rpc, fl_container_of(n, sub, session_node));
    }
    /* Children first: a pipeline goes only once nothing holds its elements. */
    size_t n = fl_hmap_len(&s->holds);
    obj **held = calloc(n ? n : 1, sizeof(*held));
    size_t k = 0;
    hold *h;
    for (size_t it = 0; held && fl_hmap_next(&s->holds, &it, NULL, (void **)&h);) {
        held[k] = h->o;
        fl__obj_ref(held[k++]);
    }
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < k; i++) {
            if ((held[i]->parent != NULL) == (pass == 0))
                fl__session_unhold(s, held[i]);
        }
    }
    for (size_t i = 0; i < k; i++)
        fl__obj_unref(held[i]);
    free(held);
    for (size_t it = 0; fl_hmap_next(&s->holds, &it, NULL, (void **)&h);)
        hold_free(h); /* only if the array could not be allocated */
    fl_hmap_deinit(&s->holds);
    /* What it created and other sessions still hold counts for nobody now. */
    fl_list_foreach_safe (node, tmp2, &s->created) {
        obj *o = fl_container_of(node, obj, creator_node);
        fl_list_remove(&o->creator_node);
        o->creator = NULL;
    }
    free(s->id);
    free(s);
}

/* Kurento's garbage collector, in one pass: a session is kept while a
 * connection is associated with it or it was used since the last run. */
void fl__gc_run(struct fl_rpc *rpc)
{
    size_t n = fl_hmap_len(&rpc->sessions);
    session **doomed = calloc(n ? n : 1, sizeof(*doomed));
    if (!doomed)
        return;
    size_t k = 0;
    session *s;
    for (size_t it = 0; fl_hmap_next(&rpc->sessions, &it, NULL, (void **)&s);) {
        if (s->client)
            s->in_use = 1;
        else if (s->in_use)
            s->in_use = 0;
        else
            doomed[k++] = s;
    }
    for (size_t i = 0; i < k; i++) {
        fl_log(FL_LOG_DEBUG, "session %s unused for a period: dropping it", doomed[i]->id);
        fl__session_drop(rpc, doomed[i]);
    }
    free(doomed);
}
