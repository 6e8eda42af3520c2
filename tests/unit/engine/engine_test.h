/* What the engine's API tests share: an engine whose callbacks run on a
 * callback loop (run while a test waits) or on the workers, waiting for a
 * counter, the callbacks that count completions and keep what they carry
 * (status, text, connections), and the synchronous calls built on them.
 * Include after cmocka.h. */
#ifndef FL_TESTS_UNIT_ENGINE_ENGINE_TEST_H
#define FL_TESTS_UNIT_ENGINE_ENGINE_TEST_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "engine/fluo.h"

#define ENGINE_TEST_WAIT_MS   5000
#define ENGINE_TEST_MAX_CONNS 64

typedef struct engine_test {
    uv_loop_t loop;
    int use_loop; /* callbacks on loop; else on the workers */
    fl_engine *engine;
    atomic_int dones;   /* fl_done_fn completions */
    atomic_int replies; /* the other callbacks' */
    atomic_int status;  /* of the last completion or reply */
    uv_mutex_t lock;    /* protects what follows */
    fl_connection conns[ENGINE_TEST_MAX_CONNS];
    char descs[ENGINE_TEST_MAX_CONNS][2][32]; /* each one's source and sink desc */
    size_t nconns;
    char *text; /* of the last text reply (NULL: none) */
} engine_test;

/* Creates t->engine from cfg, its callbacks on t->loop when use_loop. */
static inline void engine_test_init(engine_test *t, int use_loop, fl_engine_config cfg)
{
    t->use_loop = use_loop;
    assert_int_equal(uv_loop_init(&t->loop), 0);
    assert_int_equal(uv_mutex_init(&t->lock), 0);
    cfg.callback_loop = use_loop ? &t->loop : NULL;
    assert_int_equal(fl_engine_create(&t->engine, &cfg), 0);
}

/* Destroys the engine (pending callbacks run) and closes the loop clean. */
static inline void engine_test_deinit(engine_test *t)
{
    fl_engine_destroy(t->engine);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    uv_mutex_destroy(&t->lock);
    free(t->text);
    t->text = NULL;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static inline void engine_test_on_timeout(uv_timer_t *h)
{
    *(int *)h->data = 1;
}

/* Runs the callback loop (or sleeps, without one) until cond(arg) or
 * ENGINE_TEST_WAIT_MS; returns cond(arg). */
static inline int run_until(engine_test *t, int (*cond)(void *), void *arg)
{
    if (!t->use_loop) {
        for (int i = 0; i < ENGINE_TEST_WAIT_MS && !cond(arg); i++)
            sleep_ms(1);
        return cond(arg);
    }
    int timed_out = 0;
    uv_timer_t timer;
    uv_timer_init(&t->loop, &timer);
    timer.data = &timed_out;
    uv_timer_start(&timer, engine_test_on_timeout, ENGINE_TEST_WAIT_MS, 0);
    while (!cond(arg) && !timed_out)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    return cond(arg);
}

typedef struct count_at_least {
    atomic_int *counter;
    int target;
} count_at_least;

static inline int count_reached(void *arg)
{
    count_at_least *c = arg;
    return atomic_load(c->counter) >= c->target;
}

/* Waits until *counter >= target; fails the test when it times out. */
static inline void wait_count(engine_test *t, atomic_int *counter, int target)
{
    count_at_least c = { counter, target };
    assert_true(run_until(t, count_reached, &c));
}

static inline void on_done(void *arg, int status)
{
    engine_test *t = arg;
    atomic_store(&t->status, status);
    atomic_fetch_add(&t->dones, 1);
}

/* The status of a call that returned rc, *counter being `before` when it
 * was made: rc when it failed at once (its callback must then never run),
 * else that of the completion it waits for. */
static inline int count_status(engine_test *t, atomic_int *counter, int before, int rc)
{
    if (rc < 0) {
        assert_int_equal(atomic_load(counter), before);
        return rc;
    }
    wait_count(t, counter, before + 1);
    return atomic_load(&t->status);
}

/* count_status of a call that completes with on_done. */
static inline int done_status(engine_test *t, int before, int rc)
{
    return count_status(t, &t->dones, before, rc);
}

/* count_status of a call that answers with another callback (on_text, ...). */
static inline int reply_status(engine_test *t, int before, int rc)
{
    return count_status(t, &t->replies, before, rc);
}

static inline int connect_sync(engine_test *t,
                               fl_element *a,
                               fl_element *b,
                               unsigned m,
                               const char *sd,
                               const char *kd)
{
    int before = atomic_load(&t->dones);
    return done_status(t, before, fl_element_connect(a, b, m, sd, kd, on_done, t));
}

static inline int disconnect_sync(engine_test *t, fl_element *a, fl_element *b, unsigned m)
{
    int before = atomic_load(&t->dones);
    return done_status(t, before, fl_element_disconnect(a, b, m, NULL, NULL, on_done, t));
}

static inline void release_sync(engine_test *t, fl_element *e)
{
    int before = atomic_load(&t->dones);
    assert_int_equal(done_status(t, before, fl_element_release(e, on_done, t)), 0);
}

static inline void pipeline_release_sync(engine_test *t, fl_pipeline *p)
{
    int before = atomic_load(&t->dones);
    assert_int_equal(done_status(t, before, fl_pipeline_release(p, on_done, t)), 0);
}

static inline int set_sync(engine_test *t, fl_element *e, const char *name, const char *value)
{
    int before = atomic_load(&t->dones);
    return done_status(t, before, fl_element_set_property(e, name, value, on_done, t));
}

static inline void on_text(void *arg, int status, const char *text)
{
    engine_test *t = arg;
    free(t->text);
    t->text = text ? strdup(text) : NULL;
    atomic_store(&t->status, status);
    atomic_fetch_add(&t->replies, 1);
}

static inline void on_conns(void *arg, int status, const fl_connection *conns, size_t n)
{
    engine_test *t = arg;
    uv_mutex_lock(&t->lock);
    t->nconns = 0;
    for (size_t i = 0; status == 0 && i < n && i < ENGINE_TEST_MAX_CONNS; i++) {
        t->conns[i] = conns[i];
        snprintf(t->descs[i][0], sizeof(t->descs[i][0]), "%s", conns[i].source_desc);
        snprintf(t->descs[i][1], sizeof(t->descs[i][1]), "%s", conns[i].sink_desc);
        t->nconns++;
    }
    uv_mutex_unlock(&t->lock);
    atomic_store(&t->status, status);
    atomic_fetch_add(&t->replies, 1);
}

/* e's connections (in t->conns and t->descs); returns how many. */
static inline size_t conns_sync(engine_test *t,
                                fl_element *e,
                                int dir,
                                unsigned media,
                                const char *desc)
{
    int before = atomic_load(&t->replies);
    assert_int_equal(fl_element_get_connections(e, dir, media, desc, on_conns, t), 0);
    wait_count(t, &t->replies, before + 1);
    assert_int_equal(atomic_load(&t->status), 0);
    return t->nconns;
}

#endif
