/* The service end to end inside one test process: the real engine and rpc
 * on a loop of the test's, clients without sockets (fl__client_detached)
 * whose replies and events collect in a struct out. For the tests under
 * tests/unit/rpc/ that include it once (its state is the test's own). */
#ifndef FL_TESTS_UNIT_RPC_HARNESS_H
#define FL_TESTS_UNIT_RPC_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/time.h"
#include "rpc/rpc_int.h"

#include <cmocka.h>

#define MAX_OUT 256

struct out {
    json_t *msgs[MAX_OUT];
    size_t n;
};

static uv_loop_t loop;
static fl_engine *engine;
static fl_rpc *rpc;
static fl_rpc_config cfg;
static int next_id;
static int stopped;

/* A detached client's sink: each message parsed into o. */
static inline void sink(void *arg, const char *text)
{
    struct out *o = arg;
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_true(o->n < MAX_OUT);
    o->msgs[o->n++] = j;
}

static inline void out_clear(struct out *o)
{
    for (size_t i = 0; i < o->n; i++)
        json_decref(o->msgs[i]);
    o->n = 0;
}

/* Runs the loop until pred finds something in o, or 5 s pass. */
static inline json_t *wait_for(struct out *o, json_t *(*pred)(struct out *o, void *arg), void *arg)
{
    fl_time end = fl_time_now() + 5 * FL_TIME_SEC;
    for (;;) {
        json_t *j = pred(o, arg);
        if (j || fl_time_now() > end)
            return j;
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

/* The reply whose id is *(int *)arg. */
static inline json_t *by_id(struct out *o, void *arg)
{
    int id = *(int *)arg;
    for (size_t i = 0; i < o->n; i++) {
        json_t *jid = json_object_get(o->msgs[i], "id");
        if (json_is_integer(jid) && json_integer_value(jid) == id)
            return o->msgs[i];
    }
    return NULL;
}

/* The value of the first onEvent of type (const char *) arg. */
static inline json_t *by_event(struct out *o, void *arg)
{
    for (size_t i = 0; i < o->n; i++) {
        json_t *v = json_object_get(json_object_get(o->msgs[i], "params"), "value");
        const char *t = json_string_value(json_object_get(v, "type"));
        if (t && strcmp(t, arg) == 0)
            return v;
    }
    return NULL;
}

/* Runs the loop for about 50 ms. */
static inline void settle(void)
{
    for (int i = 0; i < 50; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

/* Sends method+params (params stolen) and waits for the reply. */
static inline json_t *rpc_call(client *cl, struct out *o, const char *method, json_t *params)
{
    int id = next_id++;
    json_t *req = json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (params)
        json_object_set_new(req, "params", params);
    char *text = json_dumps(req, JSON_COMPACT);
    fl__client_feed(cl, text, strlen(text));
    free(text);
    json_decref(req);
    json_t *r = wait_for(o, by_id, &id);
    assert_non_null(r);
    return r;
}

static inline json_t *invoke(client *cl,
                             struct out *o,
                             const char *obj_id,
                             const char *op,
                             json_t *p)
{
    json_t *params = json_pack("{s:s, s:s}", "object", obj_id, "operation", op);
    if (p)
        json_object_set_new(params, "operationParams", p);
    return rpc_call(cl, o, "invoke", params);
}

static inline json_t *value_of(json_t *resp)
{
    json_t *res = json_object_get(resp, "result");
    assert_non_null(res);
    return json_object_get(res, "value");
}

static inline int error_code(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

static inline const char *error_message(json_t *resp)
{
    return json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
}

/* The engine with `workers` and the service on 127.0.0.1 (any port), with
 * cfg as tune (may be NULL) leaves it after the defaults. */
static inline int harness_start(int workers, void (*tune)(fl_rpc_config *c))
{
    uv_loop_init(&loop);
    fl_engine_config ecfg = { .workers = workers, .callback_loop = &loop };
    if (fl_engine_create(&engine, &ecfg) != 0)
        return -1;
    fl_rpc_config_init(&cfg);
    cfg.port = 0;
    cfg.bind_addr = strdup("127.0.0.1");
    if (tune)
        tune(&cfg);
    stopped = 0;
    return fl_rpc_create(&rpc, &loop, engine, &cfg);
}

static inline void harness_stopped(void *arg)
{
    (void)arg;
    stopped = 1;
}

/* Shuts the service down (unless already_down: the test did it, with
 * harness_stopped as its callback), then the engine and the loop. */
static inline int harness_stop(int already_down)
{
    if (!already_down)
        fl_rpc_shutdown(rpc, harness_stopped, NULL);
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    fl_engine_destroy(engine);
    uv_run(&loop, UV_RUN_NOWAIT);
    int rc = uv_loop_close(&loop);
    fl_rpc_config_deinit(&cfg);
    return rc;
}

#endif
