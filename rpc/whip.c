/* WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) on the control port.
 *
 * POST /whip/NAME publishes: a MediaPipeline named "whip:NAME" with a
 * WebRtcEndpoint that takes the offer. POST /whep/NAME watches: a
 * WebRtcEndpoint in that pipeline, connected from the publisher's. Each POST
 * answers 201 with the SDP answer (our candidates in it: we gather before
 * answering), a Location (/whip/NAME/ID) for PATCH (trickle ICE,
 * application/trickle-ice-sdpfrag) and DELETE, an ETag, and the ICE servers
 * as Link fields. DELETE of a publisher releases its pipeline (and so its
 * viewers' endpoints); of a viewer, its endpoint.
 *
 * The objects are made through the Kurento Protocol itself: a detached
 * client of rpc/protocol.c sends create/invoke/subscribe/release as any
 * client would, in a server-internal session that the per-session limits do
 * not count (fluo.whip.maxSessions caps WHIP/WHEP instead), so the objects
 * are the registry's like any other: ServerManager.getPipelines lists them,
 * an application can connect a RecorderEndpoint to the publisher.
 *
 * A client that goes without DELETE (its DTLS closes, or ICE fails) ends
 * its resource the same way. ICE restarts (a PATCH with a new ice-ufrag)
 * are answered 422: not supported. Everything here runs on the main loop. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/rand.h"
#include "rpc/rpc_int.h"
#include "rpc/whip_int.h"

FL_LOG_TAG("whip");

#define MAX_OFFER         (128u * 1024)
#define MAX_SDPFRAG       (32u * 1024)
#define GATHER_TIMEOUT_MS 5000
#define TICK_MS           250
#define MAX_NAME          128

enum kind {
    PUB,
    VIEW
};

enum rstate {
    SETUP,
    LIVE,
    DEAD
};

typedef struct stream stream;
typedef struct whip whip; /* struct fl_rpc's whip */

/* A WHIP publisher or a WHEP viewer: one WebRtcEndpoint, one Location. */
typedef struct wres {
    int refs; /* the table's while not DEAD, and each call or request waiting */
    whip *w;
    enum kind kind;
    enum rstate state;
    char id[37];
    char etag[40];
    char name[MAX_NAME + 1];
    stream *st;        /* NULL once DEAD */
    char *ep;          /* its WebRtcEndpoint's id, once created */
    fl_rpc_http *req;  /* the POST waiting for its answer */
    char *answer;      /* processOffer's answer */
    char ufrag[257];   /* the offer's ice-ufrag */
    fl_bytes cands;    /* gathered: "MID\tcandidate:...\n" */
    uint64_t deadline; /* loop ms: answer with what is gathered by then; 0: not yet */
    const char *doom;  /* the peer went: ended on the next tick (why) */
    uint64_t answered; /* loop ms of the 201 */
    int connected;     /* its WebRtcEndpoint's DTLS connected once */
    fl_list view_node; /* in st->viewers */
} wres;

struct stream {
    char name[MAX_NAME + 1];
    char *pipeline; /* the MediaPipeline's id, once created */
    wres *pub;
    fl_list viewers;
};

typedef void (*reply_fn)(wres *r, json_t *value, const char *err);

typedef struct pend {
    fl_list node;
    json_int_t id;
    reply_fn fn;
    wres *r;
} pend;

struct whip {
    struct fl_rpc *rpc;
    client *cl;
    char session[37];
    json_int_t next_id;
    fl_list calls;   /* pend */
    fl_hmap streams; /* name -> stream */
    fl_hmap res;     /* id -> wres */
    fl_hmap by_ep;   /* endpoint id -> wres */
    int count;       /* resources not DEAD */
    uv_timer_t timer;
    bool closing; /* the service shuts down: it releases every object itself */
};

/* ---- resources ------------------------------------------------------------ */

static void res_unref(wres *r)
{
    if (--r->refs > 0)
        return;
    free(r->ep);
    free(r->answer);
    fl_bytes_deinit(&r->cands);
    free(r);
}

/* JSON-RPC through the internal client; params is stolen. fn may be NULL. */
static void rpc_call(wres *r, const char *method, json_t *params, reply_fn fn)
{
    whip *w = r->w;
    pend *p = calloc(1, sizeof(*p));
    json_object_set_new(params, "sessionId", json_string(w->session));
    json_t *msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", ++w->next_id, "method",
                            method, "params", params);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!p || !text) {
        free(p);
        free(text);
        fl_log(FL_LOG_ERROR, "%s %s: out of memory", r->name, method);
        if (fn)
            fn(r, NULL, "out of memory");
        return;
    }
    p->id = w->next_id;
    p->fn = fn;
    p->r = r;
    r->refs++;
    fl_list_push_back(&w->calls, &p->node);
    fl__client_feed(w->cl, text, strlen(text));
    free(text);
}

static void invoke(wres *r, const char *object, const char *op, json_t *params, reply_fn fn)
{
    json_t *p = json_pack("{s:s, s:s, s:o}", "object", object, "operation", op, "operationParams",
                          params ? params : json_object());
    rpc_call(r, "invoke", p, fn);
}

static void release_object(wres *r, const char *object)
{
    if (r->w->closing)
        return;
    rpc_call(r, "release", json_pack("{s:s}", "object", object), NULL);
}

/* CORS on every answer (the pages are served from elsewhere), then extra. */
static int respond(fl_rpc_http *req,
                   int status,
                   const fl_http_header *extra,
                   size_t nextra,
                   const char *ctype,
                   const char *body)
{
    fl_http_header h[16] = {
        { "Access-Control-Allow-Origin", "*" },
        { "Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch" },
    };
    size_t n = 2;
    for (size_t i = 0; i < nextra && n < 16; i++)
        h[n++] = extra[i];
    return fl_rpc_http_respond(req, status, h, n, ctype, body, body ? strlen(body) : 0);
}

static void respond_text(fl_rpc_http *req, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A short text/plain answer, one line. */
static void respond_text(fl_rpc_http *req, int status, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text) - 1, fmt, ap);
    va_end(ap);
    strcat(text, "\n");
    respond(req, status, NULL, 0, "text/plain", text);
}

/* Ends a resource: answers its POST if still waiting, releases what it made
 * (a publisher its pipeline, and with it its viewers). */
static void res_kill(wres *r, int status, const char *why)
{
    if (r->state == DEAD)
        return;
    whip *w = r->w;
    r->state = DEAD;
    w->count--;
    fl_hmap_del(&w->res, r->id);
    if (r->ep)
        fl_hmap_del(&w->by_ep, r->ep);
    if (r->req) {
        fl_rpc_http *req = r->req;
        r->req = NULL;
        respond_text(req, status, "%s", why);
        res_unref(r);
    }
    stream *st = r->st;
    r->st = NULL;
    if (r->kind == VIEW) {
        fl_list_remove(&r->view_node);
        if (r->ep && st && st->pipeline)
            release_object(r, r->ep);
    } else if (st) {
        fl_list_foreach_safe (it, tmp, &st->viewers) {
            wres *v = fl_container_of(it, wres, view_node);
            fl_list_remove(&v->view_node);
            v->st = NULL;
            res_kill(v, 503, "the publisher went");
        }
        if (st->pipeline)
            release_object(r, st->pipeline);
        fl_hmap_del(&w->streams, st->name);
        free(st->pipeline);
        free(st);
    }
    fl_log(FL_LOG_INFO, "%s %s/%s ended: %s", r->kind == PUB ? "WHIP" : "WHEP", r->name, r->id,
           why);
    res_unref(r); /* the table's */
}

/* ---- the answer ----------------------------------------------------------- */

static void ice_server_links(whip *w, fl_http_header *h, size_t *n, char bufs[2][512])
{
    const fl_rpc_config *cfg = &w->rpc->cfg;
    if (cfg->stun_address && *cfg->stun_address) {
        snprintf(bufs[0], 512, "<stun:%s:%d>; rel=\"ice-server\"", cfg->stun_address,
                 cfg->stun_port);
        h[(*n)++] = (fl_http_header){ "Link", bufs[0] };
    }
    /* Kurento's turnURL: user:password@address:port */
    const char *t = cfg->turn_url;
    const char *at = t ? strrchr(t, '@') : NULL;
    const char *colon = at ? memchr(t, ':', (size_t)(at - t)) : NULL;
    if (colon && strcspn(t, "\"\r\n") == strlen(t)) {
        snprintf(bufs[1], 512,
                 "<turn:%s%s>; rel=\"ice-server\"; username=\"%.*s\"; "
                 "credential=\"%.*s\"; credential-type=\"password\"",
                 at + 1, strchr(at, '?') ? "" : "?transport=udp", (int)(colon - t), t,
                 (int)(at - colon - 1), colon + 1);
        h[(*n)++] = (fl_http_header){ "Link", bufs[1] };
    }
}

/* 201 with the answer and what was gathered. */
static void answer_post(wres *r)
{
    fl_rpc_http *req = r->req;
    r->req = NULL;
    r->deadline = 0;
    r->state = LIVE;
    r->answered = uv_now(r->w->rpc->loop);
    fl_bytes sdp;
    fl_bytes_init(&sdp);
    int rc = fl__sdp_add_candidates(&sdp, r->answer, strlen(r->answer), (const char *)r->cands.data,
                                    r->cands.len, 1);
    if (rc == 0)
        rc = fl_bytes_append(&sdp, "", 1); /* NUL */
    if (rc != 0) {
        fl_bytes_deinit(&sdp);
        r->req = req;
        r->doom = "out of memory"; /* maybe within an event's delivery: on the tick */
        return;
    }
    char loc[sizeof(r->name) + 64];
    snprintf(loc, sizeof(loc), "/%s/%s/%s", r->kind == PUB ? "whip" : "whep", r->name, r->id);
    fl_http_header h[8] = {
        { "Location", loc },
        { "ETag", r->etag },
        { "Accept-Patch", "application/trickle-ice-sdpfrag" },
    };
    size_t n = 3;
    char links[2][512];
    ice_server_links(r->w, h, &n, links);
    respond(req, 201, h, n, "application/sdp", (const char *)sdp.data);
    fl_bytes_deinit(&sdp);
    fl_log(FL_LOG_INFO, "%s %s: %s (endpoint %s)", r->kind == PUB ? "WHIP" : "WHEP", r->name, loc,
           r->ep);
    res_unref(r); /* the request's */
}

static void on_event(wres *r, const char *type, json_t *data)
{
    if (strcmp(type, "IceCandidateFound") == 0) {
        json_t *c = json_object_get(data, "candidate");
        const char *line = json_string_value(json_object_get(c, "candidate"));
        const char *mid = json_string_value(json_object_get(c, "sdpMid"));
        if (!line || !mid || strpbrk(line, "\r\n\t") || strpbrk(mid, "\r\n\t"))
            return;
        fl_bytes_printf(&r->cands, "%s\t%s\n", mid, line);
    } else if (strcmp(type, "IceGatheringDone") == 0 && r->req && r->answer) {
        answer_post(r);
    } else if (r->state == LIVE && strcmp(type, "ConnectionStateChanged") == 0) {
        /* DTLS closed (the peer's close_notify): the client went without DELETE. */
        const char *st = json_string_value(json_object_get(data, "newState"));
        if (st && strcmp(st, "DISCONNECTED") == 0)
            r->doom = "the peer closed its connection";
        else if (st && strcmp(st, "CONNECTED") == 0)
            r->connected = 1;
    } else if (r->state == LIVE && strcmp(type, "IceComponentStateChanged") == 0) {
        const char *st = json_string_value(json_object_get(data, "state"));
        if (st && strcmp(st, "FAILED") == 0)
            r->doom = "ICE failed (the peer is gone)";
    }
    /* Not here: an event is delivered while the registry walks the
     * object's subscriptions, which a release would change. */
}

/* ---- the steps of a POST -------------------------------------------------- */

static void gathering(wres *r, json_t *value, const char *err)
{
    (void)value;
    if (r->state == DEAD)
        return;
    if (err) {
        res_kill(r, 500, err);
        return;
    }
    if (r->req && !r->deadline)
        r->deadline = uv_now(r->w->rpc->loop) + GATHER_TIMEOUT_MS;
}

static void answered(wres *r, json_t *value, const char *err)
{
    if (r->state == DEAD)
        return;
    const char *sdp = json_string_value(value);
    if (err || !sdp) {
        res_kill(r, 400, err ? err : "no answer");
        return;
    }
    r->answer = strdup(sdp);
    if (!r->answer) {
        res_kill(r, 503, "out of memory");
        return;
    }
    invoke(r, r->ep, "gatherCandidates", NULL, gathering);
}

static void subscribed(wres *r, json_t *value, const char *err)
{
    (void)value;
    if (err && r->state != DEAD)
        res_kill(r, 500, err);
}

static void connected(wres *r, json_t *value, const char *err)
{
    (void)value;
    if (err && r->state != DEAD)
        res_kill(r, 500, err);
}

/* The offer, kept until the endpoint exists. */
typedef struct offer_hold {
    char *sdp;
} offer_hold;

static void endpoint_made(wres *r, json_t *value, const char *err);

static void pipeline_made(wres *r, json_t *value, const char *err)
{
    const char *id = json_string_value(value);
    if (r->state == DEAD) {
        if (id)
            release_object(r, id); /* nobody wants it any more */
        return;
    }
    if (err || !id) {
        res_kill(r, err && strstr(err, "imit") ? 503 : 500, err ? err : "no pipeline");
        return;
    }
    r->st->pipeline = strdup(id);
    if (!r->st->pipeline) {
        release_object(r, id);
        res_kill(r, 503, "out of memory");
        return;
    }
    char name[MAX_NAME + 8];
    snprintf(name, sizeof(name), "whip:%s", r->name);
    invoke(r, id, "setName", json_pack("{s:s}", "name", name), NULL);
    json_t *p = json_pack("{s:s, s:{s:s}, s:{}}", "type", "WebRtcEndpoint", "constructorParams",
                          "mediaPipeline", id, "properties");
    rpc_call(r, "create", p, endpoint_made);
}

static void endpoint_made(wres *r, json_t *value, const char *err)
{
    const char *id = json_string_value(value);
    if (r->state == DEAD) {
        if (id && r->kind == VIEW)
            release_object(r, id);
        return;
    }
    if (err || !id) {
        res_kill(r, err && strstr(err, "imit") ? 503 : 500, err ? err : "no endpoint");
        return;
    }
    r->ep = strdup(id);
    if (!r->ep || fl_hmap_put(&r->w->by_ep, id, r) != 0) {
        res_kill(r, 503, "out of memory");
        return;
    }
    static const char *const events[] = { "IceCandidateFound", "IceGatheringDone",
                                          "ConnectionStateChanged", "IceComponentStateChanged" };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        rpc_call(r, "subscribe", json_pack("{s:s, s:s}", "type", events[i], "object", id),
                 subscribed);
    if (r->kind == VIEW)
        invoke(r, r->st->pub->ep, "connect", json_pack("{s:s}", "sink", id), connected);
    /* The offer waits in answer until here. */
    char *offer = r->answer;
    r->answer = NULL;
    invoke(r, id, "processOffer", json_pack("{s:s}", "offer", offer), answered);
    free(offer);
}

/* ---- the internal client -------------------------------------------------- */

static void sink(void *arg, const char *text)
{
    whip *w = arg;
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        return;
    json_t *idv = json_object_get(j, "id");
    if (json_is_integer(idv)) {
        json_int_t id = json_integer_value(idv);
        fl_list_foreach_safe (it, tmp, &w->calls) {
            pend *p = fl_container_of(it, pend, node);
            if (p->id != id)
                continue;
            fl_list_remove(&p->node);
            json_t *err = json_object_get(j, "error");
            const char *msg = NULL;
            if (err) {
                msg = json_string_value(json_object_get(err, "message"));
                msg = msg ? msg : "error";
                fl_log(FL_LOG_DEBUG, "%s: %s", p->r->name, msg);
            }
            json_t *value = json_object_get(json_object_get(j, "result"), "value");
            if (p->fn)
                p->fn(p->r, value, msg);
            res_unref(p->r);
            free(p);
            break;
        }
    } else if (json_is_string(json_object_get(j, "method"))) {
        json_t *v = json_object_get(json_object_get(j, "params"), "value");
        const char *oid = json_string_value(json_object_get(v, "object"));
        const char *type = json_string_value(json_object_get(v, "type"));
        wres *r = oid && type ? fl_hmap_get(&w->by_ep, oid) : NULL;
        if (r)
            on_event(r, type, json_object_get(v, "data"));
    }
    json_decref(j);
}

static void tick(uv_timer_t *t)
{
    whip *w = t->data;
    uint64_t now = uv_now(w->rpc->loop);
    const char *key;
    wres *r;
    for (size_t it = 0; fl_hmap_next(&w->res, &it, &key, (void **)&r);) {
        if (r->doom) {
            res_kill(r, 503, r->doom); /* 503: to a POST still waiting */
            it = 0;                    /* the table changed */
        } else if (r->state == LIVE && !r->connected &&
                   now - r->answered >= 1000ull * (uint64_t)w->rpc->cfg.whip_connect_timeout) {
            /* it went before sending a candidate: ICE waits for them and never fails */
            r->doom = "the client never connected";
        } else if (r->req && r->answer && r->deadline && now >= r->deadline) {
            fl_log(FL_LOG_INFO, "%s: gathering not done in %d ms: answering with what there is",
                   r->name, GATHER_TIMEOUT_MS);
            answer_post(r);
        }
    }
}

static whip *whip_get(struct fl_rpc *rpc)
{
    if (rpc->whip || rpc->shutting_down)
        return rpc->whip;
    whip *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->rpc = rpc;
    fl_list_init(&w->calls);
    fl_hmap_init(&w->streams);
    fl_hmap_init(&w->res);
    fl_hmap_init(&w->by_ep);
    fl_rand_uuid(fl_rand_system(), w->session);
    session *s = fl__session_get(rpc, w->session, 1);
    w->cl = s ? fl__client_detached(rpc, sink, w) : NULL;
    if (!w->cl) {
        if (s)
            fl__session_drop(rpc, s);
        fl_hmap_deinit(&w->streams);
        fl_hmap_deinit(&w->res);
        fl_hmap_deinit(&w->by_ep);
        free(w);
        return NULL;
    }
    s->internal = 1;
    s->client = w->cl;
    snprintf(w->cl->session, sizeof(w->cl->session), "%s", w->session);
    uv_timer_init(rpc->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&w->timer);
    rpc->whip = w;
    return w;
}

/* ---- HTTP ----------------------------------------------------------------- */

static void post_end(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    wres *r = user;
    (void)req;
    if (r->state == DEAD)
        return;
    const char *sdp = (const char *)data;
    if (len < 4 || strncmp(sdp, "v=0", 3) != 0 || !strstr(sdp, "\nm=") || strlen(sdp) != len) {
        res_kill(r, 400, "malformed SDP offer: not an SDP session description");
        return;
    }
    fl__sdp_ice_ufrag(sdp, r->ufrag, sizeof(r->ufrag));
    r->answer = strdup(sdp); /* the offer, until the endpoint takes it */
    if (!r->answer) {
        res_kill(r, 503, "out of memory");
        return;
    }
    if (r->kind == PUB) {
        rpc_call(r, "create",
                 json_pack("{s:s, s:{}, s:{}}", "type", "MediaPipeline", "constructorParams",
                           "properties"),
                 pipeline_made);
    } else {
        json_t *p = json_pack("{s:s, s:{s:s}, s:{}}", "type", "WebRtcEndpoint", "constructorParams",
                              "mediaPipeline", r->st->pipeline, "properties");
        rpc_call(r, "create", p, endpoint_made);
    }
}

static void post_gone(void *user, fl_rpc_http *req, int status)
{
    wres *r = user;
    (void)req;
    r->req = NULL;
    res_kill(r, 0, fl_strerror(status));
    res_unref(r);
}

static const fl_rpc_http_handler post_handler = { NULL, post_end, post_gone };

static bool ctype_is(fl_rpc_http *req, const char *want)
{
    const char *ct = fl_rpc_http_header(req, "Content-Type");
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int post(whip *w, fl_rpc_http *req, enum kind kind, const char *name)
{
    if (!ctype_is(req, "application/sdp")) {
        respond_text(req, 415, "the offer must be application/sdp");
        return 0;
    }
    int max = w->rpc->cfg.whip_max_sessions;
    if (w->count >= max) {
        char n[16];
        snprintf(n, sizeof(n), "%d", max);
        respond_text(req, 503, "fluo.whip.maxSessions (%s) reached", n);
        return 0;
    }
    stream *st = fl_hmap_get(&w->streams, name);
    if (kind == PUB && st) {
        respond_text(req, 409, "'%s' is published already", name);
        return 0;
    }
    if (kind == VIEW && (!st || !st->pub || st->pub->state != LIVE)) {
        respond_text(req, 404, "nothing is published as '%s'", name);
        return 0;
    }
    wres *r = calloc(1, sizeof(*r));
    if (!r || (kind == PUB && !(st = calloc(1, sizeof(*st))))) {
        free(r);
        respond_text(req, 503, "out of memory");
        return 0;
    }
    r->refs = 2; /* the table's, the request's */
    r->w = w;
    r->kind = kind;
    r->st = st;
    r->req = req;
    fl_bytes_init(&r->cands);
    fl_list_init(&r->view_node);
    fl_rand_uuid(fl_rand_system(), r->id);
    snprintf(r->etag, sizeof(r->etag), "\"%08x%08x\"", fl_rand_u32(fl_rand_system()),
             fl_rand_u32(fl_rand_system()));
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (kind == PUB) {
        snprintf(st->name, sizeof(st->name), "%s", name);
        fl_list_init(&st->viewers);
        st->pub = r;
        fl_hmap_put(&w->streams, name, st);
    } else {
        fl_list_push_back(&st->viewers, &r->view_node);
    }
    fl_hmap_put(&w->res, r->id, r);
    w->count++;
    fl_rpc_http_accept(req, &post_handler, r, MAX_OFFER);
    return 0;
}

/* PATCH: the client's trickled candidates go to its endpoint. */
static void patch_end(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    wres *r = user;
    static fl__sdpfrag f; /* 40 KiB; main loop only */
    if (r->state == DEAD || !r->ep) {
        respond_text(req, r->state == DEAD ? 404 : 409, "the session is %s",
                     r->state == DEAD ? "gone" : "not set up yet");
        res_unref(r);
        return;
    }
    int rc = fl__sdpfrag_parse(&f, (const char *)data, len);
    if (rc != 0) {
        respond_text(req, 400, "malformed trickle-ice-sdpfrag: %s", fl_strerror(rc));
    } else if (f.ufrag[0] && strcmp(f.ufrag, r->ufrag) != 0) {
        respond_text(req, 422, "ICE restarts are not supported");
    } else {
        for (size_t i = 0; i < f.ncands; i++) {
            const fl__sdpfrag_cand *c = &f.cands[i];
            json_t *cand = json_pack("{s:s, s:s, s:s, s:s, s:i}", "__module__", "kurento",
                                     "__type__", "IceCandidate", "candidate", c->line, "sdpMid",
                                     c->mid[0] ? c->mid : "0", "sdpMLineIndex",
                                     c->mline < 0 ? 0 : c->mline);
            invoke(r, r->ep, "addIceCandidate", json_pack("{s:o}", "candidate", cand), NULL);
        }
        respond(req, 204, NULL, 0, NULL, NULL);
    }
    res_unref(r);
}

static void patch_gone(void *user, fl_rpc_http *req, int status)
{
    (void)req;
    (void)status;
    res_unref(user);
}

static const fl_rpc_http_handler patch_handler = { NULL, patch_end, patch_gone };

static int on_resource(whip *w, fl_rpc_http *req, enum kind kind, const char *name, const char *id)
{
    const char *method = fl_rpc_http_method(req);
    wres *r = fl_hmap_get(&w->res, id);
    if (!r || r->kind != kind || strcmp(r->name, name) != 0) {
        respond_text(req, 404, "no such session");
        return 0;
    }
    if (strcmp(method, "DELETE") == 0) {
        res_kill(r, 503, "deleted");
        respond(req, 200, NULL, 0, NULL, NULL);
        return 0;
    }
    if (strcmp(method, "PATCH") != 0) {
        fl_http_header allow = { "Allow", "PATCH, DELETE, OPTIONS" };
        respond(req, 405, &allow, 1, "text/plain", "405 Method Not Allowed\n");
        return 0;
    }
    const char *match = fl_rpc_http_header(req, "If-Match");
    if (match && strcmp(match, "*") != 0 && strcmp(match, r->etag) != 0) {
        respond_text(req, 412, "If-Match does not match the session's ETag");
        return 0;
    }
    if (!ctype_is(req, "application/trickle-ice-sdpfrag")) {
        respond_text(req, 415, "PATCH takes application/trickle-ice-sdpfrag");
        return 0;
    }
    r->refs++;
    fl_rpc_http_accept(req, &patch_handler, r, MAX_SDPFRAG);
    return 0;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '~'))
            return false;
    }
    return true;
}

int fl__whip_route(struct fl_rpc *rpc, fl_rpc_http *req)
{
    const char *path = fl_rpc_http_path(req);
    enum kind kind;
    if (strncmp(path, "/whip/", 6) == 0)
        kind = PUB;
    else if (strncmp(path, "/whep/", 6) == 0)
        kind = VIEW;
    else
        return FL_ENOENT;
    const char *method = fl_rpc_http_method(req);
    if (strcmp(method, "OPTIONS") == 0) {
        fl_http_header h[] = {
            { "Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS" },
            { "Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match" },
            { "Access-Control-Max-Age", "86400" },
            { "Accept-Post", "application/sdp" },
        };
        respond(req, 204, h, 4, NULL, NULL);
        return 0;
    }
    const char *token = rpc->cfg.whip_token && *rpc->cfg.whip_token ? rpc->cfg.whip_token
                                                                    : rpc->cfg.access_token;
    if (!fl_rpc_http_token_ok(req, token)) {
        fl_log(FL_LOG_INFO, "%s: %s %.*s without the right token: 401", fl_rpc_http_peer(req),
               method, 6, path);
        fl_http_header www = { "WWW-Authenticate", "Bearer realm=\"fluo\"" };
        respond(req, 401, &www, 1, "text/plain", "401 Unauthorized: a bearer token is required\n");
        return 0;
    }
    const char *name = path + 6;
    const char *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
    char nbuf[MAX_NAME + 1];
    if (!name_ok(name, nlen)) {
        respond_text(req, 404, "a stream name is 1 to 128 of A-Z a-z 0-9 - _ . ~");
        return 0;
    }
    memcpy(nbuf, name, nlen);
    nbuf[nlen] = '\0';
    whip *w = whip_get(rpc);
    if (!w) {
        respond_text(req, 503, "WHIP is not available now");
        return 0;
    }
    if (slash)
        return on_resource(w, req, kind, nbuf, slash + 1);
    if (strcmp(method, "POST") != 0) {
        fl_http_header allow = { "Allow", "POST, OPTIONS" };
        respond(req, 405, &allow, 1, "text/plain", "405 Method Not Allowed\n");
        return 0;
    }
    return post(w, req, kind, nbuf);
}

/* ---- shutdown ------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    whip *w = h->data;
    struct fl_rpc *rpc = w->rpc;
    free(w);
    rpc->shutdown_handles--;
    fl__rpc_maybe_finish(rpc);
}

void fl__whip_shutdown(struct fl_rpc *rpc)
{
    whip *w = rpc->whip;
    if (!w)
        return;
    rpc->whip = NULL;
    w->closing = true;
    const char *key;
    wres *r;
    /* Viewers first: a publisher's end would kill them while we walk. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t it = 0; fl_hmap_next(&w->res, &it, &key, (void **)&r);) {
            if ((r->kind == VIEW) == (pass == 0)) {
                res_kill(r, 503, "the server is shutting down");
                it = 0; /* the table changed */
            }
        }
    }
    fl_list_foreach_safe (it, tmp, &w->calls) {
        pend *p = fl_container_of(it, pend, node);
        fl_list_remove(&p->node);
        res_unref(p->r);
        free(p);
    }
    fl_hmap_deinit(&w->streams);
    fl_hmap_deinit(&w->res);
    fl_hmap_deinit(&w->by_ep);
    rpc->shutdown_handles++;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, timer_closed);
}
