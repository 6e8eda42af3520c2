/* The engine: worker threads and their loops, call posting, callback
 * delivery, counters. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/engine_int.h"
#include "engine/sim.h"
#include "engine/transcode.h"
#include "engine/udp_mux.h"

FL_LOG_TAG("engine");

#define FLOW_TICK_MS 1000

const char *fl_media_type_name(unsigned media)
{
    switch (media) {
    case FL_MEDIA_AUDIO:
        return "AUDIO";
    case FL_MEDIA_VIDEO:
        return "VIDEO";
    case FL_MEDIA_DATA:
        return "DATA";
    default:
        return NULL;
    }
}

unsigned fl_media_type_parse(const char *name)
{
    if (!name)
        return 0;
    if (strcmp(name, "AUDIO") == 0)
        return FL_MEDIA_AUDIO;
    if (strcmp(name, "VIDEO") == 0)
        return FL_MEDIA_VIDEO;
    if (strcmp(name, "DATA") == 0)
        return FL_MEDIA_DATA;
    return 0;
}

int fl__media_index(unsigned media)
{
    switch (media) {
    case FL_MEDIA_AUDIO:
        return 0;
    case FL_MEDIA_VIDEO:
        return 1;
    case FL_MEDIA_DATA:
        return 2;
    default:
        return -1;
    }
}

/* Moves every node of `from` to the empty list `to`. */
static void list_take_all(fl_list *to, fl_list *from)
{
    fl_list_init(to);
    if (fl_list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    fl_list_init(from);
}

/* ---- calls ---- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

fl__call *fl__call_new(fl__worker *w,
                       fl__call_fn run,
                       fl_pipeline *p,
                       fl_element *e,
                       fl_element *peer,
                       const char *desc,
                       const char *peer_desc,
                       const uint8_t *data,
                       size_t len)
{
    size_t dlen = str_size(desc), plen = str_size(peer_desc);
    fl__call *c = calloc(1, sizeof(*c) + len + dlen + plen);
    if (!c)
        return NULL;
    uint8_t *tail = (uint8_t *)(c + 1);
    c->worker = w;
    c->run = run;
    if (len) {
        c->data = tail;
        c->len = len;
        if (data)
            memcpy(tail, data, len);
    }
    if (desc)
        c->desc = memcpy(tail + len, desc, dlen);
    if (peer_desc)
        c->peer_desc = memcpy(tail + len + dlen, peer_desc, plen);
    if ((c->pipeline = p))
        fl__pipeline_ref(p);
    if ((c->element = e))
        fl__element_ref(e);
    if ((c->peer = peer))
        fl__element_ref(peer);
    return c;
}

void fl__call_free(fl__call *c)
{
    if (c->element)
        fl__element_unref(c->element);
    if (c->peer)
        fl__element_unref(c->peer);
    if (c->pipeline)
        fl__pipeline_unref(c->pipeline);
    free(c->reply); /* not taken: the call was never posted */
    free(c);
}

int fl__call_post(fl__call *c)
{
    int rc = fl__call_try_post(c);
    if (rc < 0) {
        fl_log(FL_LOG_ERROR, "call posted to stopped worker %d: dropped", c->worker->index);
        fl__call_free(c);
    }
    return rc;
}

int fl__call_try_post(fl__call *c)
{
    fl__worker *w = c->worker;
    uv_mutex_lock(&w->lock);
    if (w->closed) {
        uv_mutex_unlock(&w->lock);
        return FL_ECLOSED;
    }
    fl_list_push_back(&w->calls, &c->node);
    uv_mutex_unlock(&w->lock);
    atomic_fetch_add_explicit(&w->engine->calls_posted, 1, memory_order_relaxed);
    uv_async_send(&w->async);
    return 0;
}

int fl__call_relay(fl__call *c, fl__call *n)
{
    if (!n)
        return FL_ENOMEM;
    n->reply = c->reply;
    n->cb = c->cb;
    n->arg = c->arg;
    c->reply = NULL;
    int rc = fl__call_try_post(n);
    if (rc < 0) {
        c->reply = n->reply;
        n->reply = NULL;
        fl__call_free(n);
    }
    return rc;
}

int fl__call_submit(fl__call *c, enum fl__reply_kind kind)
{
    int wanted = kind != FL__REPLY_DONE || c->cb.done;
    if (wanted && !c->reply && !(c->reply = fl__reply_new(kind, 0))) {
        fl__call_free(c);
        return FL_ENOMEM;
    }
    return fl__call_post(c);
}

fl__reply *fl__call_reply(fl__call *c, int status)
{
    fl__reply *r = c->reply;
    if (!r)
        return NULL;
    c->reply = NULL;
    switch (r->kind) {
    case FL__REPLY_DONE:
        r->cb.done = c->cb.done;
        break;
    case FL__REPLY_TEXT:
        r->cb.text = c->cb.text;
        break;
    case FL__REPLY_CONNS:
        r->cb.conns = c->cb.conns;
        break;
    case FL__REPLY_STATS:
        r->cb.stats = c->cb.stats;
        break;
    case FL__REPLY_BOOL:
        r->cb.boolean = c->cb.boolean;
        break;
    case FL__REPLY_EVENT:
        break;
    }
    r->arg = c->arg;
    r->status = status;
    return r;
}

void fl__call_done(fl__call *c, int status)
{
    fl__reply *r = fl__call_reply(c, status);
    if (r)
        fl__reply_deliver(c->worker->engine, r);
}

void fl__call_text(fl__call *c, int status, const char *text)
{
    fl__deferred d = { .engine = c->worker->engine, .reply = fl__call_reply(c, status) };
    fl__deferred_text(&d, status, text);
}

fl__deferred fl__invocation_defer(fl__invocation *inv)
{
    fl__deferred d = { .engine = inv->call->worker->engine, .reply = fl__call_reply(inv->call, 0) };
    return d;
}

void fl__deferred_text(fl__deferred *d, int status, const char *text)
{
    fl__reply *r = d->reply;
    d->reply = NULL;
    if (!r)
        return;
    r->status = status;
    if (text && !(r->text = strdup(text)) && status == 0)
        r->status = FL_ENOMEM;
    fl__reply_deliver(d->engine, r);
}

/* ---- replies ---- */

fl__reply *fl__reply_new(enum fl__reply_kind kind, size_t extra)
{
    fl__reply *r = calloc(1, sizeof(*r) + extra);
    if (!r)
        return NULL;
    r->kind = kind;
    fl_list_init(&r->unref_elements);
    return r;
}

static void reply_invoke(fl__reply *r)
{
    switch (r->kind) {
    case FL__REPLY_DONE:
        if (r->cb.done)
            r->cb.done(r->arg, r->status);
        break;
    case FL__REPLY_TEXT:
        r->cb.text(r->arg, r->status, r->text);
        break;
    case FL__REPLY_CONNS:
        r->cb.conns(r->arg, r->status, r->conns, r->n);
        break;
    case FL__REPLY_STATS:
        r->cb.stats(r->arg, r->status, r->stats, r->n);
        break;
    case FL__REPLY_BOOL:
        r->cb.boolean(r->arg, r->status, r->value);
        break;
    case FL__REPLY_EVENT:
        r->cb.event(r->arg, &r->ev);
        break;
    }
}

/* Invokes the callback, then drops the references it carried and frees it. */
static void reply_run(fl__reply *r)
{
    reply_invoke(r);
    fl_list *n;
    while ((n = fl_list_pop_front(&r->unref_elements)))
        fl__element_unref(fl_container_of(n, fl_element, node));
    if (r->unref_element)
        fl__element_unref(r->unref_element);
    if (r->unref_pipeline)
        fl__pipeline_unref(r->unref_pipeline);
    free(r->text);
    free(r->conns);
    free(r->stats);
    free(r);
}

void fl__reply_deliver(fl_engine *engine, fl__reply *r)
{
    if (!engine->cb_loop) {
        reply_run(r);
        return;
    }
    uv_mutex_lock(&engine->cb_lock);
    fl_list_push_back(&engine->cb_queue, &r->node);
    uv_mutex_unlock(&engine->cb_lock);
    uv_async_send(engine->cb_async);
}

static void engine_drain_replies(fl_engine *engine)
{
    fl_list batch;
    uv_mutex_lock(&engine->cb_lock);
    list_take_all(&batch, &engine->cb_queue);
    uv_mutex_unlock(&engine->cb_lock);
    fl_list *n;
    while ((n = fl_list_pop_front(&batch)))
        reply_run(fl_container_of(n, fl__reply, node));
}

static void engine_on_replies(uv_async_t *h)
{
    engine_drain_replies(h->data);
}

/* ---- workers ---- */

void fl__worker_flush_stats(fl__worker *w)
{
    if (!w->packets)
        return;
    atomic_fetch_add_explicit(&w->engine->media_packets, w->packets, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->engine->media_bytes, w->bytes, memory_order_relaxed);
    w->packets = 0;
    w->bytes = 0;
}

void fl__worker_wake(fl__worker *w)
{
    uv_mutex_lock(&w->lock);
    if (!w->closed) /* its async handle closes only after closed is set */
        uv_async_send(&w->async);
    uv_mutex_unlock(&w->lock);
}

static void worker_on_check(uv_check_t *h)
{
    fl__worker_flush_stats(h->data);
    fl__worker_bridges_wake(h->data);
}

static void worker_on_prepare(uv_prepare_t *h)
{
    fl__worker_bridges_wake(h->data);
}

static void worker_on_flow_timer(uv_timer_t *h)
{
    fl__worker *w = h->data;
    fl_time now = fl__clock_now(&w->loop);
    fl__worker_check_flows(w, (uint64_t)(now / FL_TIME_MS));
    if (!fl_list_empty(&w->flowing))
        fl__deadline_arm(&w->flow_timer, now + FLOW_TICK_MS * FL_TIME_MS, now);
}

void fl__worker_flow_timer_start(fl__worker *w)
{
    if (fl__deadline_armed(&w->flow_timer) == FL_TIME_NEVER) {
        fl_time now = fl__clock_now(&w->loop);
        fl__deadline_arm(&w->flow_timer, now + FLOW_TICK_MS * FL_TIME_MS, now);
    }
}

static void worker_run_batch(fl_list *batch)
{
    fl_list *n;
    while ((n = fl_list_pop_front(batch))) {
        fl__call *c = fl_container_of(n, fl__call, node);
        c->run(c);
        fl__call_free(c);
    }
}

static void worker_close_handles(fl__worker *w)
{
    uv_close((uv_handle_t *)&w->async, NULL);
    uv_close((uv_handle_t *)&w->check, NULL);
    uv_close((uv_handle_t *)&w->prepare, NULL);
    fl__deadline_close(&w->flow_timer, NULL);
}

/* Ends the loop once the calls posted before the stop have run. */
static void worker_stop(fl__worker *w)
{
    if (!fl_list_empty(&w->pipelines))
        fl_log(FL_LOG_WARN, "worker %d stops with %zu pipelines", w->index,
               fl_list_count(&w->pipelines));
    fl__worker_flush_stats(w);
    fl__worker_bridges_close(w);
    fl__udp_mux_close(w->mux); /* its sockets close with its last client */
    w->mux = NULL;
    worker_close_handles(w);
}

fl__udp_mux *fl__worker_mux(fl__worker *w)
{
    fl_engine *e = w->engine;
    if (!w->mux && !e->endpoint_ports) {
        uint16_t port = e->udp_port > 0 ? (uint16_t)(e->udp_port + w->index) : 0;
        if (fl__udp_mux_create(&w->mux, &w->loop, w->pool, port) != 0)
            w->mux = NULL;
    }
    return w->mux;
}

static void worker_on_async(uv_async_t *h)
{
    fl__worker *w = h->data;
    if (fl__loop_sim(&w->loop))
        fl__sim_busy(fl__loop_sim(&w->loop));
    int closed, again;
    do {
        fl_list batch;
        uv_mutex_lock(&w->lock);
        list_take_all(&batch, &w->calls);
        uv_mutex_unlock(&w->lock);
        worker_run_batch(&batch);
        uv_mutex_lock(&w->lock);
        closed = w->closed;
        again = closed && !fl_list_empty(&w->calls);
        uv_mutex_unlock(&w->lock);
    } while (again);
    fl__worker_bridges_drain(w);
    if (closed)
        worker_stop(w);
}

static void worker_main(void *arg)
{
    fl__worker *w = arg;
    char name[16]; /* the kernel's limit, NUL included: /proc/PID/task/TID/comm */
    snprintf(name, sizeof(name), "fluo-worker-%u", (unsigned)w->index % 1000);
    pthread_setname_np(pthread_self(), name);
    fl_log(FL_LOG_DEBUG, "worker %d running", w->index);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    fl_log(FL_LOG_DEBUG, "worker %d stopped", w->index);
}

/* Initialises the loop, its handles and the pool; nothing runs yet. With
 * sim, the loop is the simulation's (engine/sim.h). */
static int worker_init(fl_engine *engine, fl__worker *w, int index, fl__sim *sim)
{
    w->engine = engine;
    w->index = index;
    fl_list_init(&w->calls);
    fl_list_init(&w->pipelines);
    fl_list_init(&w->flowing);
    fl_list_init(&w->bridges_in);
    fl_list_init(&w->bridges_out);
    fl_list_init(&w->bridges_wake);
    int rc = fl_buf_pool_create(&w->pool, FL__POOL_SIZE, FL__POOL_HEADROOM, FL__POOL_PREALLOC, 0);
    if (rc < 0)
        return rc;
    if (uv_loop_init(&w->loop) != 0)
        goto destroy_pool;
    if (sim)
        fl__sim_attach(sim, &w->loop);
    if (uv_mutex_init(&w->lock) != 0)
        goto close_loop;
    uv_async_init(&w->loop, &w->async, worker_on_async);
    uv_check_init(&w->loop, &w->check);
    uv_check_start(&w->check, worker_on_check);
    uv_prepare_init(&w->loop, &w->prepare);
    uv_prepare_start(&w->prepare, worker_on_prepare);
    fl__deadline_init(&w->flow_timer, &w->loop, worker_on_flow_timer, w, 1);
    w->async.data = w;
    w->check.data = w;
    w->prepare.data = w;
    return 0;

close_loop:
    uv_loop_close(&w->loop);
destroy_pool:
    fl_buf_pool_destroy(w->pool);
    return FL_ENOMEM;
}

/* Frees what worker_init made; the loop must have no handles left. */
static void worker_deinit(fl__worker *w)
{
    int rc = uv_loop_close(&w->loop);
    if (rc != 0)
        fl_log(FL_LOG_ERROR, "worker %d loop close: %s", w->index, uv_strerror(rc));
    uv_mutex_destroy(&w->lock);
    fl_buf_pool_destroy(w->pool);
    if (w->cert)
        fl_cert_destroy(w->cert);
}

/* Stops the first n workers (all started) and frees them. */
static void engine_stop_workers(fl_engine *engine, int n)
{
    for (int i = 0; i < n; i++) {
        fl__worker *w = &engine->workers[i];
        uv_mutex_lock(&w->lock);
        w->closed = 1; /* later posts are refused */
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->async);
    }
    for (int i = 0; i < n; i++) {
        fl__worker *w = &engine->workers[i];
        if (fl__loop_sim(&w->loop)) /* no thread: its loop runs to its end here */
            uv_run(&w->loop, UV_RUN_DEFAULT);
        else
            uv_thread_join(&w->thread);
    }
    /* after every join: a worker may drop the last reference to a buffer
     * of another's pool until it stops */
    for (int i = 0; i < n; i++)
        worker_deinit(&engine->workers[i]);
}

/* Starts a thread per worker; a simulation's worker gets none. */
static int engine_start_workers(fl_engine *engine, fl__sim *sim)
{
    int started = 0, rc = 0;
    for (; started < engine->nworkers; started++) {
        fl__worker *w = &engine->workers[started];
        if ((rc = worker_init(engine, w, started, sim)) < 0)
            goto stop;
        if (sim)
            continue;
        if (uv_thread_create(&w->thread, worker_main, w) != 0) {
            worker_close_handles(w);
            uv_run(&w->loop, UV_RUN_DEFAULT);
            worker_deinit(w);
            rc = FL_ENOMEM;
            goto stop;
        }
    }
    return 0;

stop:
    engine_stop_workers(engine, started);
    return rc;
}

static int engine_init_callbacks(fl_engine *engine, uv_loop_t *loop)
{
    fl_list_init(&engine->cb_queue);
    if (uv_mutex_init(&engine->cb_lock) != 0)
        return FL_ENOMEM;
    if (!loop)
        return 0;
    engine->cb_loop = loop;
    engine->cb_async = malloc(sizeof(*engine->cb_async));
    if (!engine->cb_async) {
        uv_mutex_destroy(&engine->cb_lock);
        return FL_ENOMEM;
    }
    uv_async_init(loop, engine->cb_async, engine_on_replies);
    engine->cb_async->data = engine;
    return 0;
}

static void on_handle_closed_free(uv_handle_t *h)
{
    free(h);
}

static void engine_deinit_callbacks(fl_engine *engine)
{
    if (engine->cb_async)
        uv_close((uv_handle_t *)engine->cb_async, on_handle_closed_free);
    uv_mutex_destroy(&engine->cb_lock);
}

static int engine_create(fl_engine **out,
                         int n,
                         int codec_threads,
                         const fl_engine_config *cfg,
                         fl__sim *sim)
{
    uv_loop_t *cb_loop = cfg ? cfg->callback_loop : NULL;
    int rc = FL_ENOMEM;
    fl_engine *engine = calloc(1, sizeof(*engine));
    if (!engine)
        return FL_ENOMEM;
    engine->nworkers = n;
    engine->workers = calloc((size_t)n, sizeof(*engine->workers));
    if (!engine->workers)
        goto free_engine;
    fl_list_init(&engine->live);
    if (uv_mutex_init(&engine->live_lock) != 0)
        goto free_workers;
    if (uv_mutex_init(&engine->codecs_lock) != 0)
        goto destroy_live_lock;
    engine->codec_threads = codec_threads;
    engine->endpoint_ports = cfg ? cfg->endpoint_ports : 0;
    engine->udp_port = cfg ? cfg->udp_port : 0;
    engine->spread_from = cfg && n > 1 ? cfg->spread_from : 0;
    if ((rc = engine_init_callbacks(engine, cb_loop)) < 0)
        goto destroy_codecs_lock;
    if ((rc = engine_start_workers(engine, sim)) < 0)
        goto deinit_callbacks;
    fl_log(FL_LOG_INFO, "engine started with %d workers", n);
    *out = engine;
    return 0;

deinit_callbacks:
    engine_deinit_callbacks(engine);
destroy_codecs_lock:
    uv_mutex_destroy(&engine->codecs_lock);
destroy_live_lock:
    uv_mutex_destroy(&engine->live_lock);
free_workers:
    free(engine->workers);
free_engine:
    free(engine);
    return rc;
}

int fl_engine_create(fl_engine **out, const fl_engine_config *cfg)
{
    if (!out)
        return FL_EINVAL;
    int n = cfg && cfg->workers > 0 ? cfg->workers : (int)uv_available_parallelism();
    int codecs = cfg && cfg->codec_threads > 0 ? cfg->codec_threads : 0;
    if (cfg && cfg->udp_port > 0 && (int)cfg->udp_port + n - 1 > 65535)
        return FL_EINVAL;
    return engine_create(out, n, codecs, cfg, NULL);
}

/* Posts a release for every pipeline the caller has not released. */
static void engine_release_live(fl_engine *engine)
{
    for (;;) {
        uv_mutex_lock(&engine->live_lock);
        fl_list *n = engine->live.next;
        fl_pipeline *p = n != &engine->live ? fl_container_of(n, fl_pipeline, live_node) : NULL;
        uv_mutex_unlock(&engine->live_lock);
        if (!p)
            break;
        fl_log(FL_LOG_DEBUG, "destroy releases pipeline %llu", (unsigned long long)p->id);
        int rc = fl_pipeline_release(p, NULL, NULL);
        if (rc < 0) { /* out of memory: its worker's stop leaves it */
            fl_log(FL_LOG_ERROR, "pipeline %llu not released: %s", (unsigned long long)p->id,
                   fl_strerror(rc));
            uv_mutex_lock(&engine->live_lock);
            atomic_store(&p->released, 1);
            fl_list_remove(&p->live_node);
            uv_mutex_unlock(&engine->live_lock);
        }
    }
}

int fl__engine_create_sim(fl_engine **out, fl__sim *sim)
{
    if (!out || !sim)
        return FL_EINVAL;
    /* endpoints of their own ports: a simulated network carries datagrams
     * by address, and two endpoints of one worker on one shared socket
     * would talk to each other without it (fl__udp_mux_send_local) */
    fl_engine_config cfg = { .endpoint_ports = 1 };
    return engine_create(out, 1, 1, &cfg, sim);
}

void fl_engine_destroy(fl_engine *engine)
{
    if (!engine)
        return;
    engine_release_live(engine);
    /* a spreading pipeline's release goes from worker to worker: let each
     * finish before they stop (bounded: one that never ends is logged) */
    for (int ms = 0; engine->spread_from > 0 && fl__pipeline_busy(engine); ms++) {
        if (ms == 5000) {
            fl_log(FL_LOG_ERROR, "pipelines still releasing after 5 s; stopping anyway");
            break;
        }
        uv_sleep(1);
    }
    engine_stop_workers(engine, engine->nworkers);
    fl__codec_pool_stop(engine); /* after the workers: no transcoder is left */
    engine_drain_replies(engine);
    engine_deinit_callbacks(engine);
    uv_mutex_destroy(&engine->codecs_lock);
    uv_mutex_destroy(&engine->live_lock);
    fl_log(FL_LOG_INFO, "engine stopped");
    free(engine->workers);
    free(engine);
}

void fl_engine_get_stats(fl_engine *engine, fl_engine_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->pipelines = atomic_load_explicit(&engine->pipelines, memory_order_relaxed);
    out->elements = atomic_load_explicit(&engine->elements, memory_order_relaxed);
    out->calls_posted = atomic_load_explicit(&engine->calls_posted, memory_order_relaxed);
    out->media_packets = atomic_load_explicit(&engine->media_packets, memory_order_relaxed);
    out->media_bytes = atomic_load_explicit(&engine->media_bytes, memory_order_relaxed);
    out->workers = engine->nworkers;
}
