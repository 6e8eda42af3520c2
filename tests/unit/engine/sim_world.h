/* A simulation harness for engine tests (engine/sim.h): an engine run on a
 * virtual clock, calls made synchronous by settling the simulation until
 * their callback ran, and pairs of WebRtcEndpoints that offer and answer to
 * each other, trickle their candidates and connect. Included by the test
 * files that use it; it includes cmocka itself. */
#ifndef FL_TESTS_UNIT_ENGINE_SIM_WORLD_H
#define FL_TESTS_UNIT_ENGINE_SIM_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/fluo.h"
#include "engine/sim.h"

#include <cmocka.h>

typedef struct peer peer;

struct peer {
    fl_element *e;
    peer *other;
    int ice_ready, dtls_connected, media_state, gathered, errors;
    int candidates;
    int add_failed;
};

typedef struct sim_world {
    fl__sim *sim;
    fl_engine *engine;
    fl_pipeline *p;
    int done, status;
    char *text; /* the last text answer */
} sim_world;

/* ---- synchronous calls: post, then settle until the callback ran ---- */

static inline void sw_on_done(void *arg, int status)
{
    sim_world *w = arg;
    w->done = 1;
    w->status = status;
}

static inline void sw_on_text(void *arg, int status, const char *text)
{
    sim_world *w = arg;
    w->done = 1;
    w->status = status;
    free(w->text);
    w->text = strdup(text ? text : "");
}

static inline int sw_wait(sim_world *w, int rc)
{
    if (rc < 0)
        return rc;
    for (int i = 0; i < 100 && !w->done; i++)
        assert_int_equal(fl__sim_settle(w->sim), 0);
    assert_true(w->done);
    w->done = 0;
    return w->status;
}

static inline int sw_invoke(sim_world *w,
                            fl_element *e,
                            const char *m,
                            const char *const *args,
                            size_t n)
{
    return sw_wait(w, fl_element_invoke(e, m, args, n, sw_on_text, w));
}

static inline void sw_join(sim_world *w, fl_element *src, fl_element *sink, unsigned media)
{
    assert_int_equal(sw_wait(w, fl_element_connect(src, sink, media, NULL, NULL, sw_on_done, w)),
                     0);
}

static fl_element *sw_make(sim_world *w, const char *type, const char *name)
{
    fl_element *e;
    assert_int_equal(fl_element_create(w->p, type, name, &e), 0);
    return e;
}

/* ---- events: candidates trickle to the other peer ---- */

static inline void sw_on_added(void *arg, int status, const char *text)
{
    (void)text;
    peer *p = arg;
    if (status != 0)
        p->add_failed++;
}

static inline void sw_peer_event(void *arg, const fl_event *ev)
{
    peer *p = arg;
    switch (ev->type) {
    case FL_EVENT_ICE_CANDIDATE: {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", ev->ice_candidate.sdp_mline_index);
        const char *args[] = { ev->ice_candidate.candidate, ev->ice_candidate.sdp_mid, idx };
        p->candidates++;
        if (fl_element_invoke(p->other->e, "addIceCandidate", args, 3, sw_on_added, p) < 0)
            p->add_failed++;
        break;
    }
    case FL_EVENT_ICE_GATHERING_DONE:
        p->gathered = 1;
        break;
    case FL_EVENT_ICE_COMPONENT_STATE:
        p->ice_ready = ev->ice_component_state.state == FL_ICE_COMPONENT_READY;
        break;
    case FL_EVENT_CONNECTION_STATE:
        p->dtls_connected = ev->connection_state.new_state == FL_CONNECTION_CONNECTED;
        break;
    case FL_EVENT_MEDIA_STATE:
        p->media_state = ev->media_state.new_state == FL_CONNECTION_CONNECTED;
        break;
    case FL_EVENT_ERROR:
        p->errors++;
        break;
    default:
        break;
    }
}

static inline void sw_make_pair(sim_world *w,
                                peer *x,
                                const char *xn,
                                peer *y,
                                const char *yn,
                                const char *codecs)
{
    x->e = sw_make(w, FL_ELEMENT_WEBRTC, xn);
    y->e = sw_make(w, FL_ELEMENT_WEBRTC, yn);
    x->other = y;
    y->other = x;
    for (int i = 0; i < 2; i++) {
        peer *p = i ? y : x;
        assert_int_equal(fl_element_set_event_cb(p->e, sw_peer_event, p), 0);
        assert_int_equal(
                sw_wait(w, fl_element_set_property(p->e, "networkInterfaces", "lo", sw_on_done, w)),
                0);
        if (codecs)
            assert_int_equal(
                    sw_wait(w, fl_element_set_property(p->e, "videoCodecs", codecs, sw_on_done, w)),
                    0);
    }
}

/* Offer from x, answer from y, candidates both ways, until both ends have
 * DTLS-SRTP up. Returns the virtual time that took. */
static inline fl_time sw_negotiate(sim_world *w, peer *x, peer *y)
{
    fl_time t0 = fl__sim_now(w->sim);
    assert_int_equal(sw_invoke(w, x->e, "generateOffer", NULL, 0), 0);
    char *offer = strdup(w->text);
    assert_int_equal(sw_invoke(w, y->e, "processOffer", (const char *[]){ offer }, 1), 0);
    char *answer = strdup(w->text);
    assert_non_null(strstr(answer, "a=setup:active"));
    assert_int_equal(sw_invoke(w, x->e, "processAnswer", (const char *[]){ answer }, 1), 0);
    assert_int_equal(sw_invoke(w, x->e, "gatherCandidates", NULL, 0), 0);
    assert_int_equal(sw_invoke(w, y->e, "gatherCandidates", NULL, 0), 0);
    for (int i = 0; i < 500 && !(x->dtls_connected && y->dtls_connected); i++)
        assert_int_equal(fl__sim_advance(w->sim, 10 * FL_TIME_MS), 0);
    assert_true(x->gathered && y->gathered);
    assert_true(x->candidates > 0 && y->candidates > 0);
    assert_int_equal(x->add_failed + y->add_failed, 0);
    assert_true(x->ice_ready && y->ice_ready);
    assert_true(x->dtls_connected && y->dtls_connected);
    free(offer);
    free(answer);
    return fl__sim_now(w->sim) - t0;
}

/* The transcoders in the pipeline's DOT graph. */
static inline int sw_dot_transcoders(sim_world *w)
{
    assert_int_equal(sw_wait(w, fl_pipeline_get_dot(w->p, sw_on_text, w)), 0);
    int n = 0;
    for (const char *s = w->text; (s = strstr(s, "[label=\"transcoder ")); s++)
        n++;
    return n;
}

/* A simulation at 10 s of virtual time with its engine and one pipeline. */
static inline void sw_init(sim_world *w, uint64_t seed)
{
    assert_int_equal(fl__sim_create(&w->sim, 10 * FL_TIME_SEC, seed), 0);
    assert_int_equal(fl__engine_create_sim(&w->engine, w->sim), 0);
    assert_int_equal(fl_pipeline_create(w->engine, &w->p), 0);
}

static inline void sw_deinit(sim_world *w)
{
    assert_int_equal(sw_wait(w, fl_pipeline_release(w->p, sw_on_done, w)), 0);
    fl_engine_destroy(w->engine);
    fl__sim_destroy(w->sim);
    free(w->text);
}

#endif
