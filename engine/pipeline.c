/* Pipelines: creation on the least loaded worker, release, DOT. */
#include <stdlib.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/engine_int.h"

FL_LOG_TAG("engine");

void fl__pipeline_ref(fl_pipeline *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void fl__pipeline_unref(fl_pipeline *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

static fl__worker *engine_least_loaded(fl_engine *engine)
{
    fl__worker *best = &engine->workers[0];
    int best_n = atomic_load_explicit(&best->npipelines, memory_order_relaxed);
    for (int i = 1; i < engine->nworkers; i++) {
        fl__worker *w = &engine->workers[i];
        int n = atomic_load_explicit(&w->npipelines, memory_order_relaxed);
        if (n < best_n) {
            best = w;
            best_n = n;
        }
    }
    return best;
}

static void pipeline_setup_run(fl__call *c)
{
    fl_pipeline *p = c->pipeline;
    fl_list_push_back(&c->worker->pipelines, &p->node);
    fl_log(FL_LOG_DEBUG, "pipeline %llu on worker %d", (unsigned long long)p->id, c->worker->index);
}

int fl_pipeline_create(fl_engine *engine, fl_pipeline **out)
{
    if (!engine || !out)
        return FL_EINVAL;
    fl_pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    atomic_init(&p->refs, 1);
    p->engine = engine;
    p->worker = engine_least_loaded(engine);
    p->id = atomic_fetch_add_explicit(&engine->next_id, 1, memory_order_relaxed) + 1;
    fl_list_init(&p->node);
    fl_list_init(&p->elements);
    fl__call *c = fl__call_new(p->worker, pipeline_setup_run, p, NULL, NULL, NULL, NULL, NULL, 0);
    if (!c) {
        free(p);
        return FL_ENOMEM;
    }
    atomic_fetch_add_explicit(&p->worker->npipelines, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&engine->pipelines, 1, memory_order_relaxed);
    uv_mutex_lock(&engine->live_lock);
    fl_list_push_back(&engine->live, &p->live_node);
    uv_mutex_unlock(&engine->live_lock);
    int rc = fl__call_post(c);
    if (rc < 0) {
        uv_mutex_lock(&engine->live_lock);
        fl_list_remove(&p->live_node);
        uv_mutex_unlock(&engine->live_lock);
        atomic_fetch_sub_explicit(&p->worker->npipelines, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&engine->pipelines, 1, memory_order_relaxed);
        fl__pipeline_unref(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void pipeline_release_run(fl__call *c)
{
    fl_pipeline *p = c->pipeline;
    fl__reply *r = fl__reply_new(FL__REPLY_DONE, 0);
    p->dead = 1;
    fl_list_remove(&p->node);
    size_t n = 0;
    fl_list *it;
    while ((it = fl_list_pop_front(&p->elements))) {
        fl_element *e = fl_container_of(it, fl_element, node);
        fl__element_teardown(e, 0);
        e->released = 1;
        if (r)
            fl_list_push_back(&r->unref_elements, &e->node);
        else
            fl__element_unref(e);
        n++;
    }
    atomic_fetch_sub_explicit(&c->worker->npipelines, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&p->engine->pipelines, 1, memory_order_relaxed);
    fl_log(FL_LOG_DEBUG, "pipeline %llu released with %zu elements", (unsigned long long)p->id, n);
    if (!r) {
        fl_log(FL_LOG_ERROR, "out of memory: pipeline release completion dropped");
        fl__pipeline_unref(p);
        return;
    }
    r->cb.done = c->cb.done;
    r->arg = c->arg;
    r->unref_pipeline = p; /* the caller's reference */
    fl__reply_deliver(p->engine, r);
}

void fl_pipeline_release(fl_pipeline *p, fl_done_fn done, void *arg)
{
    if (!p)
        return;
    fl_engine *engine = p->engine;
    uv_mutex_lock(&engine->live_lock);
    int again = p->released;
    p->released = 1;
    fl_list_remove(&p->live_node);
    uv_mutex_unlock(&engine->live_lock);
    if (again) {
        fl_log(FL_LOG_ERROR, "pipeline %llu released twice", (unsigned long long)p->id);
        return;
    }
    fl__call *c = fl__call_new(p->worker, pipeline_release_run, p, NULL, NULL, NULL, NULL, NULL, 0);
    if (!c) {
        fl_log(FL_LOG_ERROR, "out of memory: pipeline %llu not released",
               (unsigned long long)p->id);
        return;
    }
    c->cb.done = done;
    c->arg = arg;
    fl__call_post(c);
}

int fl_pipeline_worker(const fl_pipeline *p)
{
    return p->worker->index;
}

static void pipeline_dot_run(fl__call *c)
{
    fl__reply *r = fl__reply_new(FL__REPLY_TEXT, 0);
    if (!r) {
        fl_log(FL_LOG_ERROR, "out of memory: DOT reply dropped");
        return;
    }
    r->cb.text = c->cb.text;
    r->arg = c->arg;
    if (c->pipeline->dead)
        r->status = FL_ECLOSED;
    else if (!(r->text = fl__pipeline_dot_write(c->pipeline)))
        r->status = FL_ENOMEM;
    fl__reply_deliver(c->worker->engine, r);
}

void fl_pipeline_get_dot(fl_pipeline *p, fl_text_fn cb, void *arg)
{
    if (!p || !cb)
        return;
    fl__call *c = fl__call_new(p->worker, pipeline_dot_run, p, NULL, NULL, NULL, NULL, NULL, 0);
    if (!c) {
        fl_log(FL_LOG_ERROR, "out of memory: DOT request dropped");
        return;
    }
    c->cb.text = cb;
    c->arg = arg;
    fl__call_post(c);
}
