/* Elements, pads and connections; media forwarding and flow detection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "engine/engine_int.h"
#include "engine/transcode.h"

FL_LOG_TAG("engine");

#define DEFAULT_DESC  "default"
#define FLOW_IDLE_MS  1000
#define SINKS_INITIAL 4

void fl__element_ref(fl_element *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void fl__element_unref(fl_element *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(e->name);
    free(e);
}

fl_pipeline *fl_element_pipeline(const fl_element *e)
{
    return e->pipeline;
}

int fl_element_worker(const fl_element *e)
{
    return e->worker->index;
}

const char *fl_element_name(const fl_element *e)
{
    return e->name;
}

const char *fl_element_type_name(const fl_element *e)
{
    return e->type->name;
}

static const char *desc_or_default(const char *desc)
{
    return desc ? desc : DEFAULT_DESC;
}

/* ---- pads ---- */

static fl__pad *pad_alloc(fl_element *e, int dir, unsigned media, const char *desc)
{
    size_t len = strlen(desc) + 1;
    fl__pad *pad = calloc(1, sizeof(*pad) + len);
    if (!pad)
        return NULL;
    pad->element = e;
    pad->dir = dir;
    pad->media = media;
    fl_list_init(&pad->flow_node);
    fl_list_init(&pad->xcodes);
    memcpy(pad->desc, desc, len);
    return pad;
}

/* Creates the source and sink pads of one media type and description;
 * FL_ERANGE past FL_ELEMENT_MAX_PAD_PAIRS (each description a client names makes
 * one, and they live as long as the element). */
static int pad_pair_create(fl_element *e, unsigned media, const char *desc)
{
    if (e->npairs >= FL_ELEMENT_MAX_PAD_PAIRS)
        return FL_ERANGE;
    fl__pad *src = pad_alloc(e, FL_DIR_SOURCE, media, desc);
    fl__pad *sink = pad_alloc(e, FL_DIR_SINK, media, desc);
    if (!src || !sink) {
        free(src);
        free(sink);
        return FL_ENOMEM;
    }
    src->twin = sink;
    sink->twin = src;
    e->npairs++;
    fl_list_push_back(&e->pads, &src->node);
    fl_list_push_back(&e->pads, &sink->node);
    if (strcmp(desc, DEFAULT_DESC) == 0)
        e->defaults[fl__media_index(media)] = src;
    return 0;
}

static fl__pad *pad_find(fl_element *e, int dir, unsigned media, const char *desc)
{
    fl_list_foreach (it, &e->pads) {
        fl__pad *pad = fl_container_of(it, fl__pad, node);
        if (pad->dir == dir && pad->media == media && strcmp(pad->desc, desc) == 0)
            return pad;
    }
    return NULL;
}

/* The pad, made with its twin if new; NULL with *rc set when it cannot be. */
fl__pad *fl__pad_get(fl_element *e, int dir, unsigned media, const char *desc, int *rc)
{
    desc = desc_or_default(desc);
    fl__pad *pad = pad_find(e, dir, media, desc);
    if (pad || (*rc = pad_pair_create(e, media, desc)) < 0)
        return pad;
    return pad_find(e, dir, media, desc);
}

static void pad_free(fl__pad *pad)
{
    fl_list_remove(&pad->node);
    fl_list_remove(&pad->flow_node);
    free(pad->sinks);
    free(pad);
}

/* ---- events ---- */

static char *copy_str(char **tail, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *out = memcpy(*tail, s, len);
    *tail += len;
    return out;
}

/* Points s at the event's strings (at most EVENT_STRINGS_MAX); returns how
 * many there are. */
#define EVENT_STRINGS_MAX 2

static size_t event_strings(fl_event *ev, const char **s[EVENT_STRINGS_MAX])
{
    switch (ev->type) {
    case FL_EVENT_ELEMENT_CONNECTED:
    case FL_EVENT_ELEMENT_DISCONNECTED:
        s[0] = &ev->link.source_desc;
        s[1] = &ev->link.sink_desc;
        return 2;
    case FL_EVENT_MEDIA_FLOW_IN:
    case FL_EVENT_MEDIA_FLOW_OUT:
        s[0] = &ev->media_flow.desc;
        return 1;
    case FL_EVENT_ERROR:
        s[0] = &ev->error.type;
        s[1] = &ev->error.description;
        return 2;
    case FL_EVENT_ICE_CANDIDATE:
        s[0] = &ev->ice_candidate.candidate;
        s[1] = &ev->ice_candidate.sdp_mid;
        return 2;
    case FL_EVENT_ICE_PAIR_SELECTED:
        s[0] = &ev->ice_pair_selected.local_candidate;
        s[1] = &ev->ice_pair_selected.remote_candidate;
        return 2;
    case FL_EVENT_MEDIA_TRANSCODING:
        s[0] = &ev->media_transcoding.bin_name;
        return 1;
    case FL_EVENT_CODE_FOUND:
        s[0] = &ev->code_found.code_type;
        s[1] = &ev->code_found.value;
        return 2;
    case FL_EVENT_ICE_GATHERING_DONE:
    case FL_EVENT_ICE_COMPONENT_STATE:
    case FL_EVENT_CONNECTION_STATE:
    case FL_EVENT_MEDIA_STATE:
    case FL_EVENT_URI_STATE:
    case FL_EVENT_RECORDING:
    case FL_EVENT_PAUSED:
    case FL_EVENT_STOPPED:
    case FL_EVENT_END_OF_STREAM:
    case FL_EVENT_KEY_SOFT_LIMIT:
    case FL_EVENT_DATA_CHANNEL_OPENED:
    case FL_EVENT_DATA_CHANNEL_CLOSED:
        break;
    }
    return 0;
}

/* Queues the event, with copies of its strings, to the element's callback. */
void fl__element_raise(fl_element *e, const fl_event *ev)
{
    if (!e->event_cb)
        return;
    fl_event copy = *ev;
    const char **s[EVENT_STRINGS_MAX];
    size_t n = event_strings(&copy, s), size = 0;
    for (size_t i = 0; i < n; i++)
        size += *s[i] ? strlen(*s[i]) + 1 : 0;
    fl__reply *r = fl__reply_new(FL__REPLY_EVENT, size);
    if (!r) {
        fl_log(FL_LOG_ERROR, "out of memory: event of %s dropped", e->name);
        return;
    }
    char *tail = (char *)(r + 1);
    r->cb.event = e->event_cb;
    r->arg = e->event_arg;
    r->ev = copy;
    r->ev.element = e;
    n = event_strings(&r->ev, s);
    for (size_t i = 0; i < n; i++)
        *s[i] = copy_str(&tail, *s[i]);
    fl__element_ref(e);
    r->unref_element = e;
    fl__reply_deliver(e->engine, r);
}

void fl__raise_link(enum fl_event_type type,
                    fl_element *source,
                    const char *source_desc,
                    fl_element *sink,
                    const char *sink_desc,
                    unsigned media)
{
    fl_event ev = { .type = type,
                    .link = { .source = source,
                              .sink = sink,
                              .media = media,
                              .source_desc = source_desc,
                              .sink_desc = sink_desc } };
    fl__element_raise(source, &ev);
}

static void raise_link(enum fl_event_type type, fl__pad *src, fl__pad *sink)
{
    fl__raise_link(type, src->element, src->desc, sink->element, sink->desc, src->media);
}

static void raise_flow(fl__pad *pad)
{
    fl_event ev = {
        .type = pad->dir == FL_DIR_SINK ? FL_EVENT_MEDIA_FLOW_IN : FL_EVENT_MEDIA_FLOW_OUT,
        .media_flow = { .media = pad->media, .flowing = pad->flowing, .desc = pad->desc }
    };
    fl__element_raise(pad->element, &ev);
}

/* ---- links ---- */

int fl__link_add(fl__pad *src, fl__pad *sink)
{
    if (src->nsinks == src->cap) {
        size_t cap = src->cap ? src->cap * 2 : SINKS_INITIAL;
        fl__pad **sinks = realloc(src->sinks, cap * sizeof(*sinks));
        if (!sinks)
            return FL_ENOMEM;
        src->sinks = sinks;
        src->cap = cap;
    }
    src->sinks[src->nsinks++] = sink;
    sink->src = src;
    src->element->worker->graph_gen++;
    return 0;
}

void fl__link_remove(fl__pad *src, fl__pad *sink, int events)
{
    for (size_t i = 0; i < src->nsinks; i++) {
        if (src->sinks[i] != sink)
            continue;
        memmove(&src->sinks[i], &src->sinks[i + 1], (src->nsinks - i - 1) * sizeof(*src->sinks));
        src->nsinks--;
        break;
    }
    fl__xcode_detach(sink);
    sink->src = NULL;
    src->element->worker->graph_gen++;
    if (fl__element_hidden(src->element) || fl__element_hidden(sink->element))
        fl__bridge_unlinked(src, sink, events); /* its events are the bridge's */
    else if (events)
        raise_link(FL_EVENT_ELEMENT_DISCONNECTED, src, sink);
}

/* Removes every link of the pad, raising events on the source elements. */
static void pad_unlink_all(fl__pad *pad, int events)
{
    if (pad->dir == FL_DIR_SINK) {
        if (pad->src)
            fl__link_remove(pad->src, pad, events);
        return;
    }
    while (pad->nsinks > 0)
        fl__link_remove(pad, pad->sinks[pad->nsinks - 1], events);
}

/* Links one media type; replaces the sink pad's previous source. */
static int connect_one(fl__call *c, unsigned media)
{
    const char *sdesc = desc_or_default(c->desc), *kdesc = desc_or_default(c->peer_desc);
    int rc = FL_ENOMEM;
    fl__pad *src = fl__pad_get(c->element, FL_DIR_SOURCE, media, sdesc, &rc);
    fl__pad *sink = src ? fl__pad_get(c->peer, FL_DIR_SINK, media, kdesc, &rc) : NULL;
    if (!src || !sink)
        return rc;
    if (sink->src == src)
        return 0;
    if (sink->src)
        fl__link_remove(sink->src, sink, 1);
    if ((rc = fl__link_add(src, sink)) < 0)
        return rc;
    raise_link(FL_EVENT_ELEMENT_CONNECTED, src, sink);
    if (sink->element->type->linked)
        sink->element->type->linked(sink->element, sink);
    /* a sink that cannot receive yet asks once it can (a key frame sent
     * before would be lost to it) */
    const fl__element_type *st = sink->element->type;
    if (media == FL_MEDIA_VIDEO && (!st->receiving || st->receiving(sink->element, media)))
        fl__pad_request_key_frame(sink, 1);
    fl_log(FL_LOG_DEBUG, "connected %s:%s:%s -> %s:%s", c->element->name, fl_media_type_name(media),
           sdesc, c->peer->name, kdesc);
    return 0;
}

/* Checks a connect or disconnect on the source's worker (a sink on another
 * worker is checked there, by the bridge). */
static int check_pair(fl__call *c)
{
    if (c->element->pipeline != c->peer->pipeline)
        return FL_EINVAL;
    if (c->element->dead || (c->peer->worker == c->worker && c->peer->dead))
        return FL_ECLOSED;
    if (!(c->media & FL_MEDIA_ALL) || (c->media & ~(unsigned)FL_MEDIA_ALL))
        return FL_EINVAL;
    return 0;
}

static void element_connect_run(fl__call *c)
{
    int rc = check_pair(c);
    if (rc == 0 && c->peer->worker != c->worker) {
        fl__bridge_connect(c);
        return;
    }
    for (unsigned m = FL_MEDIA_AUDIO; rc == 0 && m <= FL_MEDIA_DATA; m <<= 1) {
        if (c->media & m)
            rc = connect_one(c, m);
    }
    fl__call_done(c, rc);
}

static void element_disconnect_run(fl__call *c)
{
    int rc = check_pair(c);
    if (rc == 0 && c->peer->worker != c->worker) {
        fl__bridge_disconnect(c);
        return;
    }
    const char *sdesc = desc_or_default(c->desc), *kdesc = desc_or_default(c->peer_desc);
    for (unsigned m = FL_MEDIA_AUDIO; rc == 0 && m <= FL_MEDIA_DATA; m <<= 1) {
        if (!(c->media & m))
            continue;
        fl__pad *sink = pad_find(c->peer, FL_DIR_SINK, m, kdesc);
        fl__pad *src = pad_find(c->element, FL_DIR_SOURCE, m, sdesc);
        if (src && sink && sink->src == src)
            fl__link_remove(src, sink, 1);
    }
    fl__call_done(c, rc);
}

static int post_pair_call(fl__call_fn run,
                          fl_element *src,
                          fl_element *sink,
                          unsigned media,
                          const char *src_desc,
                          const char *sink_desc,
                          fl_done_fn done,
                          void *arg)
{
    int rc = fl__element_usable(src);
    if (rc == 0)
        rc = fl__element_usable(sink);
    if (rc < 0)
        return rc;
    if (src->pipeline != sink->pipeline || !(media & FL_MEDIA_ALL) ||
        (media & ~(unsigned)FL_MEDIA_ALL))
        return FL_EINVAL;
    /* on the source's worker, also across workers: the calls on one source
     * keep their order (a bridge relays them to the sink's worker) */
    fl__call *c = fl__call_new(src->worker, run, NULL, src, sink, src_desc, sink_desc, NULL, 0);
    if (!c)
        return FL_ENOMEM;
    c->media = media;
    c->cb.done = done;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_DONE);
}

int fl_element_connect(fl_element *src,
                       fl_element *sink,
                       unsigned media,
                       const char *src_desc,
                       const char *sink_desc,
                       fl_done_fn done,
                       void *arg)
{
    return post_pair_call(element_connect_run, src, sink, media, src_desc, sink_desc, done, arg);
}

int fl_element_disconnect(fl_element *src,
                          fl_element *sink,
                          unsigned media,
                          const char *src_desc,
                          const char *sink_desc,
                          fl_done_fn done,
                          void *arg)
{
    return post_pair_call(element_disconnect_run, src, sink, media, src_desc, sink_desc, done, arg);
}

/* ---- create and release ---- */

int fl__element_pads(fl_element *e)
{
    for (unsigned m = FL_MEDIA_AUDIO; m <= FL_MEDIA_DATA; m <<= 1) {
        int rc = pad_pair_create(e, m, DEFAULT_DESC);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int fl__element_setup(fl_element *e)
{
    int rc = fl__element_pads(e);
    if (rc < 0)
        return rc;
    fl_list_push_back(&fl__shard_of(e->pipeline, e->worker)->elements, &e->node);
    return e->type->init ? e->type->init(e) : 0;
}

void fl__element_teardown(fl_element *e, int events)
{
    fl_list_remove(&e->node);
    if (e->dead)
        return;
    fl_list_foreach (it, &e->pads) {
        pad_unlink_all(fl_container_of(it, fl__pad, node), events);
    }
    if (e->type->fini)
        e->type->fini(e);
    fl_list *it;
    while ((it = e->pads.next) != &e->pads)
        pad_free(fl_container_of(it, fl__pad, node));
    memset(e->defaults, 0, sizeof(e->defaults));
    e->dead = 1;
    e->event_cb = NULL;
    e->media_cb = NULL;
    if (fl__element_hidden(e))
        return;
    atomic_fetch_sub_explicit(&e->engine->elements, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&fl__shard_of(e->pipeline, e->worker)->placed, 1,
                              memory_order_relaxed);
}

static void element_setup_run(fl__call *c)
{
    fl_element *e = c->element;
    fl__shard *shard = fl__shard_of(c->pipeline, c->worker);
    int rc = shard->dead ? FL_ECLOSED : fl__element_setup(e);
    if (rc < 0) {
        fl_log(FL_LOG_ERROR, "element %s not set up: %s", e->name, fl_strerror(rc));
        fl__element_teardown(e, 0);
        if (!shard->dead) /* dead, but its pipeline's release still frees it */
            fl_list_push_back(&shard->elements, &e->node);
        return;
    }
    fl_log(FL_LOG_DEBUG, "element %s (%s) created", e->name, e->type->name);
}

int fl__element_new(fl_pipeline *p,
                    fl__worker *w,
                    const fl__element_type *type,
                    const char *name,
                    fl_element **out)
{
    fl_element *e = calloc(1, sizeof(*e));
    if (!e)
        return FL_ENOMEM;
    atomic_init(&e->refs, 1);
    e->engine = p->engine;
    e->worker = w;
    e->pipeline = p;
    e->type = type;
    e->id = atomic_fetch_add_explicit(&p->engine->next_id, 1, memory_order_relaxed) + 1;
    fl_list_init(&e->node);
    fl_list_init(&e->pads);
    if (name) {
        e->name = strdup(name);
    } else if ((e->name = malloc(32))) {
        snprintf(e->name, 32, "%s%llu", type->name, (unsigned long long)e->id);
    }
    if (!e->name) {
        free(e);
        return FL_ENOMEM;
    }
    *out = e;
    return 0;
}

/* Where a new element of type t goes: its pipeline's home, or once the
 * pipeline holds spread_from elements and t is an endpoint (a leaf of the
 * graph, the many of a broadcast), the worker holding the fewest of them. */
static fl__worker *element_place(fl_pipeline *p, const fl__element_type *t)
{
    fl_engine *engine = p->engine;
    fl__worker *w = p->worker;
    if (engine->spread_from <= 0 || engine->nworkers < 2 || !t->spreads)
        return w;
    int total = 0, least = 0;
    for (int i = 0; i < engine->nworkers; i++) {
        int n = atomic_load_explicit(&p->shards[i].placed, memory_order_relaxed);
        total += n;
        if (n < atomic_load_explicit(&p->shards[least].placed, memory_order_relaxed))
            least = i;
    }
    return total < engine->spread_from ? w : &engine->workers[least];
}

int fl_element_create(fl_pipeline *p, const char *type, const char *name, fl_element **out)
{
    if (!p || !type || !out)
        return FL_EINVAL;
    const fl__element_type *t = fl__element_type_find(type);
    if (!t)
        return FL_ENOTSUP;
    if (fl__pipeline_released(p))
        return FL_ECLOSED;
    fl_element *e;
    int rc = fl__element_new(p, element_place(p, t), t, name, &e);
    if (rc < 0)
        return rc;
    fl__call *c = fl__call_new(e->worker, element_setup_run, p, e, NULL, NULL, NULL, NULL, 0);
    if (!c) {
        fl__element_unref(e);
        return FL_ENOMEM;
    }
    fl__shard *shard = fl__shard_of(p, e->worker);
    atomic_store_explicit(&shard->used, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->engine->elements, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&shard->placed, 1, memory_order_relaxed);
    if ((rc = fl__call_post(c)) < 0) {
        atomic_fetch_sub_explicit(&p->engine->elements, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&shard->placed, 1, memory_order_relaxed);
        fl__element_unref(e);
        return rc;
    }
    *out = e;
    return 0;
}

static void element_release_run(fl__call *c)
{
    fl_element *e = c->element;
    if (e->released) {
        fl_log(FL_LOG_WARN, "element %s released twice or after its pipeline", e->name);
        fl__call_done(c, FL_ECLOSED);
        return;
    }
    e->released = 1;
    fl__element_teardown(e, 1);
    fl_log(FL_LOG_DEBUG, "element %s released", e->name);
    fl__reply *r = fl__call_reply(c, 0); /* made when posted */
    r->unref_element = e;                /* the caller's reference */
    fl__reply_deliver(e->engine, r);
}

int fl__element_usable(const fl_element *e)
{
    if (!e)
        return FL_EINVAL;
    if (atomic_load_explicit(&e->closing, memory_order_acquire) ||
        fl__pipeline_released(e->pipeline))
        return FL_ECLOSED;
    return 0;
}

int fl__element_call(fl_element *e,
                     fl__call_fn run,
                     const uint8_t *data,
                     size_t len,
                     fl__call **out)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (!(*out = fl__call_new(e->worker, run, NULL, e, NULL, NULL, NULL, data, len)))
        return FL_ENOMEM;
    return 0;
}

int fl__element_post_done(fl_element *e, fl__call_fn run, fl_done_fn done, void *arg)
{
    fl__call *c;
    int rc = fl__element_call(e, run, NULL, 0, &c);
    if (rc < 0)
        return rc;
    c->cb.done = done;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_DONE);
}

int fl_element_release(fl_element *e, fl_done_fn done, void *arg)
{
    fl__call *c;
    int rc = fl__element_call(e, element_release_run, NULL, 0, &c);
    if (rc < 0)
        return rc;
    /* the reply always: it carries the caller's reference to drop */
    if (!(c->reply = fl__reply_new(FL__REPLY_DONE, 0))) {
        fl__call_free(c);
        return FL_ENOMEM;
    }
    if (atomic_exchange_explicit(&e->closing, 1, memory_order_acq_rel)) {
        fl_log(FL_LOG_WARN, "element %s released twice", e->name);
        fl__call_free(c);
        return FL_ECLOSED;
    }
    c->cb.done = done;
    c->arg = arg;
    return fl__call_post(c);
}

/* ---- queries and callbacks ---- */

static int conn_matches(const fl__pad *pad, const fl__call *c)
{
    return pad->dir == c->dir && (pad->media & c->media) &&
           (!c->desc || !strcmp(pad->desc, c->desc));
}

static void link_visit(fl__pad *src, fl__pad *sink, fl__link_fn fn, void *ctx)
{
    if (src->element->type == &fl__bridge_in_type)
        fl__bridge_visit_in(src, sink, fn, ctx);
    else if (sink->element->type == &fl__bridge_out_type)
        fl__bridge_visit_out(sink, src, fn, ctx);
    else
        fn(ctx, src->element, src->desc, sink->element, sink->desc, src->media);
}

/* Visits the links selected by the call, across workers too. */
static void conns_visit(fl__call *c, fl__link_fn fn, void *ctx)
{
    fl_list_foreach (it, &c->element->pads) {
        fl__pad *pad = fl_container_of(it, fl__pad, node);
        if (!conn_matches(pad, c))
            continue;
        if (pad->dir == FL_DIR_SINK && pad->src)
            link_visit(pad->src, pad, fn, ctx);
        for (size_t i = 0; pad->dir == FL_DIR_SOURCE && i < pad->nsinks; i++)
            link_visit(pad, pad->sinks[i], fn, ctx);
    }
}

typedef struct conns_acc {
    size_t n;
    size_t bytes; /* of description copies */
    fl_connection *out;
    char *tail;
} conns_acc;

static void conns_count(void *ctx,
                        fl_element *source,
                        const char *source_desc,
                        fl_element *sink,
                        const char *sink_desc,
                        unsigned media)
{
    (void)source, (void)sink, (void)media;
    conns_acc *acc = ctx;
    acc->n++;
    acc->bytes += strlen(source_desc) + strlen(sink_desc) + 2;
}

static void conns_fill(void *ctx,
                       fl_element *source,
                       const char *source_desc,
                       fl_element *sink,
                       const char *sink_desc,
                       unsigned media)
{
    conns_acc *acc = ctx;
    fl_connection *conn = &acc->out[acc->n++];
    conn->source = source;
    conn->sink = sink;
    conn->media = media;
    conn->source_desc = copy_str(&acc->tail, source_desc);
    conn->sink_desc = copy_str(&acc->tail, sink_desc);
}

static void element_conns_run(fl__call *c)
{
    fl__reply *r = fl__call_reply(c, 0); /* made when posted */
    conns_acc acc = { 0 };
    conns_visit(c, conns_count, &acc);
    size_t n = acc.n;
    if (c->element->dead) {
        r->status = FL_ECLOSED;
    } else if (n && !(r->conns = malloc(n * sizeof(fl_connection) + acc.bytes))) {
        r->status = FL_ENOMEM;
    } else if (n) {
        acc = (conns_acc){ .out = r->conns, .tail = (char *)(r->conns + n) };
        conns_visit(c, conns_fill, &acc);
        r->n = n;
    }
    fl__reply_deliver(c->worker->engine, r);
}

static int valid_dir(int dir)
{
    return dir == FL_DIR_SOURCE || dir == FL_DIR_SINK;
}

int fl_element_get_connections(fl_element *e,
                               int dir,
                               unsigned media,
                               const char *desc,
                               fl_connections_fn cb,
                               void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (!cb || !valid_dir(dir))
        return FL_EINVAL;
    fl__call *c = fl__call_new(e->worker, element_conns_run, NULL, e, NULL, desc, NULL, NULL, 0);
    if (!c)
        return FL_ENOMEM;
    c->dir = dir;
    c->media = media;
    c->cb.conns = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_CONNS);
}

/* Whether some pad of the element in c->dir, of c->media, is flowing, or
 * (c->nargs 1: isMediaTranscoding) takes its media through a transcoder. */
static void element_pads_run(fl__call *c)
{
    fl__reply *r = fl__call_reply(c, c->element->dead ? FL_ECLOSED : 0);
    fl_list_foreach (it, &c->element->pads) {
        fl__pad *pad = fl_container_of(it, fl__pad, node);
        if (pad->dir == c->dir && pad->media == c->media &&
            (c->nargs ? pad->xc != NULL : pad->flowing))
            r->value = 1;
    }
    fl__reply_deliver(c->worker->engine, r);
}

static int post_pads_query(fl_element *e,
                           int dir,
                           unsigned media,
                           int xcode,
                           fl_bool_fn cb,
                           void *arg)
{
    if (!e || !cb || fl__media_index(media) < 0 || !valid_dir(dir))
        return FL_EINVAL;
    fl__call *c;
    int rc = fl__element_call(e, element_pads_run, NULL, 0, &c);
    if (rc < 0)
        return rc;
    c->dir = dir;
    c->media = media;
    c->nargs = (size_t)xcode;
    c->cb.boolean = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_BOOL);
}

int fl_element_is_flowing(fl_element *e, int dir, unsigned media, fl_bool_fn cb, void *arg)
{
    return post_pads_query(e, dir, media, 0, cb, arg);
}

int fl_element_is_transcoding(fl_element *e, unsigned media, fl_bool_fn cb, void *arg)
{
    return post_pads_query(e, FL_DIR_SINK, media, 1, cb, arg);
}

static void element_event_cb_run(fl__call *c)
{
    if (c->element->dead)
        return;
    c->element->event_cb = c->cb.event;
    c->element->event_arg = c->arg;
}

int fl_element_set_event_cb(fl_element *e, fl_event_fn cb, void *arg)
{
    fl__call *c;
    int rc = fl__element_call(e, element_event_cb_run, NULL, 0, &c);
    if (rc < 0)
        return rc;
    c->cb.event = cb;
    c->arg = arg;
    return fl__call_post(c);
}

/* ---- media and flow ---- */

static void pad_note_flow(fl__pad *pad, uint64_t now_ms)
{
    pad->last_ms = now_ms;
    if (pad->flowing)
        return;
    pad->flowing = 1;
    fl_list_push_back(&pad->element->worker->flowing, &pad->flow_node);
    fl__worker_flow_timer_start(pad->element->worker);
    raise_flow(pad);
}

/* Hands a reference to the sink's element, which is not busy. */
static void pad_receive(fl__worker *w, fl__pad *sink, fl_buf *buf, uint64_t now_ms)
{
    fl_element *to = sink->element;
    pad_note_flow(sink, now_ms);
    w->packets++;
    w->bytes += buf->len;
    to->busy = 1;
    to->type->receive(to, sink, fl_buf_ref(buf));
    to->busy = 0;
}

/* A layer gone this long gives way to the best one still sent. */
#define SIM_IDLE_MS 1000

/* The layers' bitrates over the last two seconds (a key frame asked for a
 * switch weighs half), measured each second. */
static void sim_meter(fl__pad *src, int l, int tid, uint32_t bytes, uint64_t now_ms)
{
    src->sim_win[l][tid] += bytes;
    if (!src->sim_win_ms) {
        src->sim_win_ms = now_ms;
        return;
    }
    if (now_ms - src->sim_win_ms < 1000)
        return;
    uint64_t dt = now_ms - src->sim_win_ms + src->sim_prev_ms;
    for (int i = 0; i < 4; i++) {
        for (int t = 0; t < 4; t++) {
            uint64_t bps = ((uint64_t)src->sim_win[i][t] + src->sim_prev[i][t]) * 8000 / dt;
            src->sim_bps[i][t] = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps;
            src->sim_prev[i][t] = src->sim_win[i][t];
            src->sim_win[i][t] = 0;
        }
    }
    src->sim_prev_ms = now_ms - src->sim_win_ms;
    src->sim_win_ms = now_ms;
}

/* Whether a packet of a simulcast source goes to the sinks that take one
 * stream (a recorder, a transcoder, an RtpEndpoint): those of the best
 * layer, the highest sent. They move up at a key frame of a higher layer,
 * and down (asking for a key frame) when theirs stops for SIM_IDLE_MS. */
static int sim_best(fl__pad *src, const fl_buf *buf, uint64_t now_ms)
{
    int l = buf->rtp.layer;
    if (l < 1 || l > 4)
        return 0;
    src->sim_last_ms[l - 1] = now_ms;
    sim_meter(src, l - 1, buf->rtp.tid & 3, buf->rtp.payload_len + 12, now_ms);
    int best = src->sim_best;
    if (best && now_ms - src->sim_last_ms[best - 1] > SIM_IDLE_MS) {
        src->sim_best = 0;
        if (src->element->type->key_frame_layer) {
            for (int i = 3; i >= 0; i--) {
                if (src->sim_last_ms[i] && now_ms - src->sim_last_ms[i] <= SIM_IDLE_MS) {
                    src->element->type->key_frame_layer(src->element, src->media, i, 0);
                    break;
                }
            }
        }
    }
    if (l > src->sim_best && buf->rtp.key)
        src->sim_best = (uint8_t)l;
    return l == src->sim_best;
}

void fl__pad_push(fl__pad *src, fl_buf *buf)
{
    fl__worker *w = src->element->worker;
    uint64_t now_ms = (uint64_t)(fl__clock_now(&w->loop) / FL_TIME_MS);
    pad_note_flow(src, now_ms);
    int single = 1; /* what a sink of one stream may take */
    unsigned layer_bit = 0;
    if (buf->rtp.parsed && buf->rtp.layer) {
        single = sim_best(src, buf, now_ms);
        layer_bit = 1u << ((buf->rtp.layer - 1) & 7);
    }
    for (size_t i = 0; i < src->nsinks; i++) {
        fl__pad *sink = src->sinks[i];
        fl_element *to = sink->element;
        if (to->busy)
            continue; /* a cycle in the graph: it has this packet already */
        if (!single && !to->type->simulcast && !sink->xc)
            continue;
        if (layer_bit && sink->sim_want && !(sink->sim_want & layer_bit))
            continue;   /* a viewer that takes other layers */
        if (sink->xc) { /* it takes a transcoder's packets instead */
            if (sink->xc_gen != w->graph_gen && to->type->reroute) {
                sink->xc_gen = w->graph_gen;
                to->busy = 1;
                to->type->reroute(to, sink);
                to->busy = 0;
            }
            continue;
        }
        pad_receive(w, sink, buf, now_ms);
    }
    if (single && !fl_list_empty(&src->xcodes))
        fl__xcode_push(src, buf);
}

void fl__pad_deliver_xcoded(fl__pad *src, fl__xcode *x, fl_buf *buf)
{
    fl__worker *w = src->element->worker;
    uint64_t now_ms = (uint64_t)(fl__clock_now(&w->loop) / FL_TIME_MS);
    for (size_t i = 0; i < src->nsinks; i++) {
        fl__pad *sink = src->sinks[i];
        fl_element *to = sink->element;
        if (sink->xc == x && !to->busy)
            pad_receive(w, sink, buf, now_ms);
    }
}

void fl__pad_push_end(fl__pad *src)
{
    for (size_t i = 0; i < src->nsinks; i++) {
        fl__pad *sink = src->sinks[i];
        fl_element *to = sink->element;
        if (to->busy || !to->type->end_of_stream)
            continue;
        to->busy = 1;
        to->type->end_of_stream(to, sink);
        to->busy = 0;
    }
}

void fl__worker_check_flows(fl__worker *w, uint64_t now_ms)
{
    fl_list_foreach_safe (it, tmp, &w->flowing) {
        fl__pad *pad = fl_container_of(it, fl__pad, flow_node);
        if (now_ms - pad->last_ms <= FLOW_IDLE_MS)
            continue;
        pad->flowing = 0;
        fl_list_remove(&pad->flow_node);
        raise_flow(pad);
    }
}

/* ---- key frames and caps, upstream through PassThroughs ---- */

/* The source pad that produces what reaches `sink`, skipping elements that
 * only forward (no caps hook of their own). */
static fl__pad *pad_producer(fl__pad *sink)
{
    fl__pad *src = sink ? sink->src : NULL;
    for (int hops = 0; src && hops < 64; hops++) {
        const fl__element_type *t = src->element->type;
        if (t->caps || t->key_frame || strcmp(t->name, FL_ELEMENT_PASSTHROUGH) != 0)
            return src;
        src = src->twin->src;
    }
    return NULL;
}

void fl__pad_request_key_frame(fl__pad *sink, int join)
{
    if (sink && sink->xc) {
        fl__xcode_key_frame(sink->xc);
        return;
    }
    fl__pad_request_key_frame_upstream(sink, join);
}

void fl__pad_request_key_frame_upstream(fl__pad *sink, int join)
{
    fl__pad *src = pad_producer(sink);
    if (src && src->element->type->key_frame)
        src->element->type->key_frame(src->element, src->media, join);
}

void fl__pad_request_key_frame_layer(fl__pad *sink, int layer, int join)
{
    fl__pad *src = pad_producer(sink);
    if (!src)
        return;
    const fl__element_type *t = src->element->type;
    if (t->key_frame_layer)
        t->key_frame_layer(src->element, src->media, layer, join);
    else if (t->key_frame)
        t->key_frame(src->element, src->media, join);
}

/* `budget` bounds the walk (a cycle of PassThroughs, a huge fan-out). */
static uint64_t downstream_bitrate(fl__pad *src, unsigned *budget)
{
    uint64_t least = 0;
    for (size_t i = 0; src && i < src->nsinks && *budget; i++) {
        --*budget;
        fl__pad *sink = src->sinks[i];
        const fl__element_type *t = sink->element->type;
        uint64_t b = 0;
        if (sink->xc)
            b = 0; /* its transcoder's encoder follows it, not the source */
        else if (t->bitrate)
            b = t->bitrate(sink->element, sink->media);
        else if (strcmp(t->name, FL_ELEMENT_PASSTHROUGH) == 0)
            b = downstream_bitrate(sink->twin, budget);
        if (b && (!least || b < least))
            least = b;
    }
    return least;
}

uint64_t fl__pad_downstream_bitrate(fl__pad *src)
{
    unsigned budget = 4096;
    return downstream_bitrate(src, &budget);
}

static void element_key_frame_run(fl__call *c)
{
    fl_element *e = c->element;
    int rc = FL_ECLOSED;
    if (!e->dead) {
        fl__pad *src = e->defaults[fl__media_index(FL_MEDIA_VIDEO)];
        fl__pad *sink = src ? src->twin : NULL;
        rc = pad_producer(sink) ? 0 : FL_ENOENT;
        if (rc == 0)
            fl__pad_request_key_frame(sink, 0);
    }
    fl__call_done(c, rc);
}

int fl_element_request_key_frame(fl_element *e, fl_done_fn done, void *arg)
{
    return fl__element_post_done(e, element_key_frame_run, done, arg);
}

int fl__pad_sender_report(fl__pad *sink, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent)
{
    if (sink && sink->xc)
        return fl__xcode_sender_report(sink->xc, ssrc, rtp_ts, sent);
    return fl__pad_sender_report_upstream(sink, ssrc, rtp_ts, sent);
}

int fl__pad_sender_report_upstream(fl__pad *sink, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent)
{
    fl__pad *src = pad_producer(sink);
    if (!src || !src->element->type->sender_report)
        return FL_ENOENT;
    return src->element->type->sender_report(src->element, src->media, ssrc, rtp_ts, sent);
}

const fl_sdp_codec *fl__pad_caps(fl__pad *sink)
{
    fl__pad *src = pad_producer(sink);
    if (!src || !src->element->type->caps)
        return NULL;
    return src->element->type->caps(src->element, src->media);
}

/* ---- properties and stats ---- */

static void element_set_property_run(fl__call *c)
{
    fl_element *e = c->element;
    int rc = FL_ENOTSUP;
    if (e->dead)
        rc = FL_ECLOSED;
    else if (fl__xcode_is_property(c->desc))
        rc = fl__xcode_set_property(e, c->desc, c->peer_desc ? c->peer_desc : "");
    else if (e->type->set_property)
        rc = e->type->set_property(e, c->desc, c->peer_desc ? c->peer_desc : "");
    fl__call_done(c, rc);
}

int fl_element_set_property(fl_element *e,
                            const char *name,
                            const char *value,
                            fl_done_fn done,
                            void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (!name)
        return FL_EINVAL;
    if (!e->type->set_property && !fl__xcode_is_property(name))
        return FL_ENOTSUP;
    fl__call *c = fl__call_new(e->worker, element_set_property_run, NULL, e, NULL, name,
                               value ? value : "", NULL, 0);
    if (!c)
        return FL_ENOMEM;
    c->cb.done = done;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_DONE);
}

static void element_get_property_run(fl__call *c)
{
    fl_element *e = c->element;
    char value[1024] = "";
    int rc = FL_ENOTSUP;
    if (e->dead)
        rc = FL_ECLOSED;
    else if (e->type->get_property)
        rc = e->type->get_property(e, c->desc, value, sizeof(value));
    fl__call_text(c, rc, rc < 0 ? NULL : value);
}

int fl_element_get_property(fl_element *e, const char *name, fl_text_fn cb, void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (!name || !cb)
        return FL_EINVAL;
    if (!e->type->get_property)
        return FL_ENOTSUP;
    fl__call *c =
            fl__call_new(e->worker, element_get_property_run, NULL, e, NULL, name, NULL, NULL, 0);
    if (!c)
        return FL_ENOMEM;
    c->cb.text = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_TEXT);
}

fl_stats *fl__stats_add(fl__stats_out *out, enum fl_stats_kind kind)
{
    if (out->oom)
        return NULL;
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        fl_stats *v = realloc(out->v, cap * sizeof(*v));
        if (!v) {
            out->oom = 1;
            return NULL;
        }
        out->v = v;
        out->cap = cap;
    }
    fl_stats *s = &out->v[out->n++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->timestamp_ms = fl_time_wall_ms();
    return s;
}

static void element_stats_run(fl__call *c)
{
    fl_element *e = c->element;
    fl__stats_out out = { 0 };
    int rc = 0;
    if (e->dead)
        rc = FL_ECLOSED;
    else if (e->type->stats)
        e->type->stats(e, c->media, &out);
    else
        fl__stats_add(&out, FL_STATS_ELEMENT);
    if (out.oom)
        rc = FL_ENOMEM;
    fl__reply *r = fl__call_reply(c, rc);
    if (r && rc == 0) {
        r->stats = out.v; /* the reply frees them */
        r->n = out.n;
        out.v = NULL;
    }
    free(out.v);
    if (r)
        fl__reply_deliver(c->worker->engine, r);
}

int fl_element_get_stats(fl_element *e, unsigned media, fl_stats_fn cb, void *arg)
{
    if (!e || !cb)
        return FL_EINVAL;
    fl__call *c;
    int rc = fl__element_call(e, element_stats_run, NULL, 0, &c);
    if (rc < 0)
        return rc;
    c->media = media;
    c->cb.stats = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_STATS);
}

/* ---- calls of the element's type (fl_element_invoke) ---- */

static const fl__method *method_find(const fl__element_type *t, const char *name)
{
    for (const fl__method *m = t->invoke ? t->methods : NULL; m && m->name; m++) {
        if (strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

static void element_invoke_run(fl__call *c)
{
    fl_element *e = c->element;
    const char *args[FL__METHOD_ARGS_MAX];
    const char *at = (const char *)c->data;
    for (size_t i = 0; i < c->nargs; i++) {
        args[i] = at;
        at += strlen(at) + 1;
    }
    fl__invocation inv = { .method = c->method, .args = args, .nargs = c->nargs, .call = c };
    int rc = FL_ECLOSED;
    if (e->dead)
        snprintf(inv.why, sizeof(inv.why), "the element was released");
    else
        rc = e->type->invoke(e, &inv);
    if (rc == FL__INVOKE_LATER)
        return; /* the hook took the answer */
    if (rc < 0 && !inv.why[0])
        snprintf(inv.why, sizeof(inv.why), "%s", fl_strerror(rc));
    fl__call_text(c, rc, rc < 0 ? inv.why : inv.result ? inv.result : "");
}

int fl_element_invoke(fl_element *e,
                      const char *method,
                      const char *const *args,
                      size_t nargs,
                      fl_text_fn cb,
                      void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (!method || !cb || (nargs && !args))
        return FL_EINVAL;
    const fl__method *m = method_find(e->type, method);
    if (!m)
        return FL_ENOTSUP;
    if (nargs < m->min_args || nargs > m->max_args || nargs > FL__METHOD_ARGS_MAX)
        return FL_EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (!args[i])
            return FL_EINVAL;
        len += strlen(args[i]) + 1;
    }
    fl__call *c = fl__call_new(e->worker, element_invoke_run, NULL, e, NULL, NULL, NULL, NULL, len);
    if (!c)
        return FL_ENOMEM;
    char *at = (char *)c->data;
    for (size_t i = 0; i < nargs; i++) {
        size_t n = strlen(args[i]) + 1;
        memcpy(at, args[i], n);
        at += n;
    }
    c->method = m;
    c->nargs = nargs;
    c->cb.text = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_TEXT);
}
