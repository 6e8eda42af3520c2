/* The service: start, the garbage collector's timer, and shutdown. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "rpc/rpc_int.h"
#include "rpc/whip_int.h"

FL_LOG_TAG("rpc");

static void gc_tick(uv_timer_t *t)
{
    fl__gc_run(t->data);
}

/* The control server's HTTP routes, asked in turn: each takes its own paths
 * and returns FL_ENOENT for the others (the server then goes on as before:
 * the access token, the GET pages of fl__http_status, else 405). */
static int on_request(void *ctx, fl_rpc_http *req)
{
    struct fl_rpc *rpc = ctx;
    int rc = fl__whip_route(rpc, req);
    if (rc == FL_ENOENT)
        rc = fl__http_post_route(rpc, req);
    return rc;
}

static void free_registry(struct fl_rpc *rpc)
{
    session *s;
    for (size_t it = 0; fl_hmap_next(&rpc->sessions, &it, NULL, (void **)&s);)
        fl__session_drop(rpc, s); /* only the manager is left to hold */
    fl_hmap_deinit(&rpc->sessions);
    fl_hmap_deinit(&rpc->subs);
    if (rpc->manager) {
        fl_hmap_del(&rpc->objects, rpc->manager->id);
        fl__obj_unref(rpc->manager);
    }
    fl_hmap_deinit(&rpc->objects);
    fl_hmap_deinit(&rpc->elements);
    fl__http_post_free(rpc);
    fl__kmd_unload(&rpc->kmd);
}

int fl_rpc_create(fl_rpc **out, uv_loop_t *loop, fl_engine *engine, const fl_rpc_config *cfg)
{
    struct fl_rpc *rpc = calloc(1, sizeof(*rpc));
    if (!rpc)
        return FL_ENOMEM;
    rpc->loop = loop;
    rpc->engine = engine;
    rpc->cfg = *cfg;
    rpc->start_ms = fl_time_wall_ms();
    fl_rand_uuid(fl_rand_system(), rpc->server_id);
    fl_hmap_init(&rpc->objects);
    fl_hmap_init(&rpc->elements);
    fl_hmap_init(&rpc->sessions);
    fl_hmap_init(&rpc->subs);
    fl_hmap_init(&rpc->uploads);
    fl_list_init(&rpc->clients);
    fl_list_init(&rpc->cpu_samples);
    int rc = fl__kmd_load(&rpc->kmd);
    if (rc != 0)
        goto fail;
    const kmd_class *sm = fl__kmd_class(&rpc->kmd, "ServerManager");
    rpc->manager = sm ? fl__obj_new(rpc, sm, NULL, "manager_ServerManager") : NULL;
    if (!rpc->manager) {
        rc = FL_ENOMEM;
        goto fail;
    }
    fl__fd_budget_init(&rpc->fds, cfg->limits.fd_reserve, uv_now(loop));
    fl_rpc_server_config scfg = {
        .bind_addr = cfg->bind_addr,
        .port = cfg->port,
        .path = cfg->path,
        .secure_port = cfg->secure_port,
        .cert_file = cfg->cert_file,
        .key_password = cfg->cert_password,
        .max_message = cfg->max_message,
        .access_token = cfg->access_token,
        .max_connections = cfg->max_connections,
        .message_timeout_ms = cfg->message_timeout * 1000,
        .reader_timeout_ms = cfg->reader_timeout * 1000,
        .max_queued_output = cfg->max_queued_output,
        .fd_budget = &rpc->fds,
    };
    fl_rpc_server_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    fl__protocol_callbacks(&cb, rpc);
    cb.on_request = on_request;
    rc = fl_rpc_server_create(&rpc->server, loop, &scfg, &cb);
    if (rc != 0)
        goto fail;
    uv_timer_init(loop, &rpc->gc_timer);
    rpc->gc_timer.data = rpc;
    uint64_t period = (uint64_t)cfg->gc_period * 1000;
    uv_timer_start(&rpc->gc_timer, gc_tick, period, period);
    uv_unref((uv_handle_t *)&rpc->gc_timer);
    fl__rpc_aux_init(rpc);
    *out = rpc;
    return 0;
fail:
    free_registry(rpc);
    free(rpc);
    return rc;
}

int fl_rpc_port(const fl_rpc *rpc)
{
    return fl_rpc_server_port(rpc->server);
}

int fl_rpc_secure_port(const fl_rpc *rpc)
{
    return fl_rpc_server_secure_port(rpc->server);
}

/* Frees the service once the listeners, the timer and every release are done. */
void fl__rpc_maybe_finish(struct fl_rpc *rpc);

void fl__rpc_maybe_finish(struct fl_rpc *rpc)
{
    if (!rpc->shutting_down || rpc->pending_releases > 0 || rpc->shutdown_handles > 0)
        return;
    free_registry(rpc);
    void (*done)(void *) = rpc->shutdown_done;
    void *done_arg = rpc->shutdown_arg;
    free(rpc);
    if (done)
        done(done_arg);
}

static void server_closed(void *arg)
{
    struct fl_rpc *rpc = arg;
    rpc->shutdown_handles--;
    fl__rpc_maybe_finish(rpc);
}

static void gc_closed(uv_handle_t *h)
{
    struct fl_rpc *rpc = h->data;
    rpc->shutdown_handles--;
    fl__rpc_maybe_finish(rpc);
}

void fl_rpc_shutdown(fl_rpc *rpc, void (*done)(void *arg), void *arg)
{
    rpc->shutting_down = 1;
    rpc->shutdown_done = done;
    rpc->shutdown_arg = arg;
    rpc->shutdown_handles = 3 + FL_RPC_AUX_HANDLES; /* server, timers, and this function */
    fl__sm_cancel_cpu_samples(rpc);
    fl__whip_shutdown(rpc);
    fl_list_foreach_safe (it, tmp, &rpc->clients) {
        client *cl = fl_container_of(it, client, node);
        if (!cl->conn)
            fl__client_close(cl); /* detached ones; the server closes the others */
    }
    const char *key;
    obj *o;
    obj **tops = calloc(fl_hmap_len(&rpc->objects) + 1, sizeof(*tops));
    size_t n = 0;
    for (size_t it = 0; tops && fl_hmap_next(&rpc->objects, &it, &key, (void **)&o);) {
        if (!o->parent && o != rpc->manager)
            tops[n++] = o;
    }
    for (size_t i = 0; i < n; i++)
        fl__obj_release(tops[i], NULL, NULL);
    free(tops);
    fl_rpc_server_close(rpc->server, server_closed, rpc);
    uv_timer_stop(&rpc->gc_timer);
    uv_close((uv_handle_t *)&rpc->gc_timer, gc_closed);
    fl__rpc_aux_close(rpc, gc_closed);
    rpc->shutdown_handles--;
    fl__rpc_maybe_finish(rpc);
}
