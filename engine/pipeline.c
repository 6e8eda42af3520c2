/* Pipelines: creation on the least loaded worker, release, DOT. */
#include <stdlib.h>
#include <string.h>

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

int fl__pipeline_busy(fl_engine *engine)
{
    return atomic_load_explicit(&engine->pipelines, memory_order_acquire) != 0;
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

/* The worker after w in a spreading pipeline's release and DOT walk (from
 * its home around), NULL after the last. */
static fl__worker *shard_next(const fl_pipeline *p, const fl__worker *w)
{
    fl_engine *engine = p->engine;
    for (int i = (w->index + 1) % engine->nworkers;
         engine->spread_from > 0 && i != p->worker->index; i = (i + 1) % engine->nworkers) {
        if (atomic_load_explicit(&p->shards[i].used, memory_order_relaxed))
            return &engine->workers[i];
    }
    return NULL;
}

/* Posts the rest of c's walk to worker `to`: the same run, reply and
 * callback, `text` (the DOT so far, may be NULL) as its data. 0, or
 * FL_ENOMEM / FL_ECLOSED (a stopped worker) with c keeping its reply. */
static int shard_pass(fl__call *c, fl__worker *to, const char *text)
{
    size_t len = text ? strlen(text) + 1 : 0;
    return fl__call_relay(c, fl__call_new(to, c->run, c->pipeline, NULL, NULL, NULL, NULL,
                                          (const uint8_t *)text, len));
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
    fl_pipeline *p = calloc(1, sizeof(*p) + (size_t)engine->nworkers * sizeof(fl__shard));
    if (!p)
        return FL_ENOMEM;
    for (int i = 0; i < engine->nworkers; i++)
        fl_list_init(&p->shards[i].elements);
    atomic_init(&p->refs, 1);
    p->engine = engine;
    p->worker = engine_least_loaded(engine);
    p->id = atomic_fetch_add_explicit(&engine->next_id, 1, memory_order_relaxed) + 1;
    fl_list_init(&p->node);
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

int fl__pipeline_released(const fl_pipeline *p)
{
    return atomic_load_explicit(&p->released, memory_order_acquire);
}

/* On the home worker, then on each other one when the pipeline spreads:
 * tears down the elements placed there; the last one completes. */
static void pipeline_release_run(fl__call *c)
{
    fl_pipeline *p = c->pipeline;
    fl__shard *shard = fl__shard_of(p, c->worker);
    shard->dead = 1;
    if (c->worker == p->worker) {
        fl_list_remove(&p->node);
        atomic_fetch_sub_explicit(&c->worker->npipelines, 1, memory_order_relaxed);
    }
    fl_list torn;
    fl_list_init(&torn);
    size_t n = 0;
    fl_list *it;
    while ((it = fl_list_pop_front(&shard->elements))) {
        fl_element *e = fl_container_of(it, fl_element, node);
        fl__element_teardown(e, 0);
        e->released = 1;
        fl_list_push_back(&torn, &e->node);
        n++;
    }
    fl_log(FL_LOG_DEBUG, "pipeline %llu released with %zu elements on worker %d",
           (unsigned long long)p->id, n, c->worker->index);
    /* the callers' references travel with the reply (made when posted) to
     * the last worker: handles stay valid until the done callback */
    fl_list_foreach_safe (e, tmp, &torn) {
        fl_list_remove(e);
        fl_list_push_back(&c->reply->unref_elements, e);
    }
    fl__worker *next = shard_next(p, c->worker);
    if (next && shard_pass(c, next, NULL) == 0)
        return;
    fl__reply *r = fl__call_reply(c, 0);
    r->unref_pipeline = p; /* the caller's reference */
    atomic_fetch_sub_explicit(&p->engine->pipelines, 1, memory_order_release);
    fl__reply_deliver(p->engine, r);
}

int fl_pipeline_release(fl_pipeline *p, fl_done_fn done, void *arg)
{
    if (!p)
        return FL_EINVAL;
    /* the reply always: it carries the caller's reference to drop */
    fl__call *c = fl__call_new(p->worker, pipeline_release_run, p, NULL, NULL, NULL, NULL, NULL, 0);
    if (!c || !(c->reply = fl__reply_new(FL__REPLY_DONE, 0))) {
        if (c)
            fl__call_free(c);
        return FL_ENOMEM;
    }
    c->cb.done = done;
    c->arg = arg;
    fl_engine *engine = p->engine;
    uv_mutex_lock(&engine->live_lock);
    int again = atomic_exchange_explicit(&p->released, 1, memory_order_acq_rel);
    fl_list_remove(&p->live_node);
    uv_mutex_unlock(&engine->live_lock);
    if (again) {
        fl_log(FL_LOG_WARN, "pipeline %llu released twice", (unsigned long long)p->id);
        fl__call_free(c);
        return FL_ECLOSED;
    }
    return fl__call_post(c);
}

int fl_pipeline_worker(const fl_pipeline *p)
{
    return p->worker->index;
}

/* On the home worker, then on each other one when the pipeline spreads:
 * adds the elements placed there to the text so far (c->data). */
static void pipeline_dot_run(fl__call *c)
{
    fl_pipeline *p = c->pipeline;
    char *dot = NULL;
    int rc = 0;
    fl__worker *next = shard_next(p, c->worker);
    if (fl__shard_of(p, c->worker)->dead)
        rc = FL_ECLOSED;
    else if (!(dot = fl__pipeline_dot_write(p, c->worker, (const char *)c->data, !next)))
        rc = FL_ENOMEM;
    if (rc == 0 && next && (rc = shard_pass(c, next, dot)) == 0) {
        free(dot);
        return;
    }
    if (rc < 0) { /* a part missing: no text */
        free(dot);
        dot = NULL;
    }
    fl__reply *r = fl__call_reply(c, rc);
    r->text = dot;
    fl__reply_deliver(c->worker->engine, r);
}

int fl_pipeline_get_dot(fl_pipeline *p, fl_text_fn cb, void *arg)
{
    if (!p || !cb)
        return FL_EINVAL;
    if (fl__pipeline_released(p))
        return FL_ECLOSED;
    fl__call *c = fl__call_new(p->worker, pipeline_dot_run, p, NULL, NULL, NULL, NULL, NULL, 0);
    if (!c)
        return FL_ENOMEM;
    c->cb.text = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_TEXT);
}
