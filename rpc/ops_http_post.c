/* HttpPostEndpoint's row and its upload route.
 *
 * The row: the constructor's disconnectionTimeout (seconds, 0..3600) and
 * useEncodedMedia (accepted, changes nothing), getUrl, and EndOfStream;
 * MediaSessionStarted when the first POST of a stream is taken, and
 * MediaSessionTerminated after its EndOfStream.
 *
 * getUrl names the address the caller's WebSocket reached (https when it
 * came over TLS) and /httppost/ with a token of 128 random bits made on
 * the first getUrl of the endpoint: the token is the upload's only
 * credential (a browser page posts there without the control server's
 * access token, as Kurento's URL needs none). Once the endpoint is
 * released, its URL answers 404.
 *
 * The route (service.c's on_request asks it): POST or PUT with a body in
 * any framing (Content-Length, chunked); the body is streamed to
 * fl_element_write as it comes, at most IN_FLIGHT_HIGH bytes waiting for
 * the engine (reading pauses there and resumes below IN_FLIGHT_LOW: the
 * element plays in real time, so a client sending faster is held by its
 * TCP window). The answer: 200 once the whole body was taken; 415 (not
 * WebM/Matroska), 400 (corrupt), 413, with the element's reason as the
 * body, after which the next POST starts a new stream; 409 while another
 * upload to the same URL is being read (a series of POSTs must come one
 * after the other) or while the last stream plays out its end; 404 for
 * an unknown or released endpoint. Every answer carries
 * Access-Control-Allow-Origin: *, and OPTIONS answers a browser's
 * preflight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rand.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("httppost");

#define PREFIX         "/httppost/"
#define TOKEN_HEX      32
#define IN_FLIGHT_HIGH (256u << 10)
#define IN_FLIGHT_LOW  (64u << 10)
#define TIMEOUT_MAX    3600
#define URL_MAX        256

struct upload;

/* An endpoint's URL (in rpc->uploads by token). */
typedef struct upload_url {
    char token[TOKEN_HEX + 1];
    char *obj_id;
    struct upload *active; /* the request being read, or NULL */
    int in_session;        /* MediaSessionStarted said, its stream not ended yet */
} upload_url;

/* One POST: lives until it was answered (or gone) and every write's
 * callback ran. */
typedef struct upload {
    struct fl_rpc *rpc;
    fl_rpc_http *req; /* NULL once answered or gone */
    char token[TOKEN_HEX + 1];
    size_t in_flight; /* bytes written whose callback has not run */
    size_t *lens;     /* the lengths of those writes, oldest first (a ring) */
    size_t lhead, ln, lcap;
    size_t taken;
    int paused;
    int body_done;
} upload;

static const fl_http_header cors[] = {
    { "Access-Control-Allow-Origin", "*" },
    { "Access-Control-Allow-Methods", "POST, PUT, OPTIONS" },
    { "Access-Control-Allow-Headers", "Content-Type" },
    { "Access-Control-Max-Age", "600" },
    { "Allow", "POST, PUT, OPTIONS" },
};

static void url_free(upload_url *u)
{
    free(u->obj_id);
    free(u);
}

void fl__http_post_free(struct fl_rpc *rpc)
{
    upload_url *u;
    for (size_t it = 0; fl_hmap_next(&rpc->uploads, &it, NULL, (void **)&u);) {
        if (u->active)
            u->active->token[0] = '\0'; /* its request ends with the server */
        url_free(u);
    }
    fl_hmap_deinit(&rpc->uploads);
}

/* ---- the upload ---- */

/* Answered or gone: the URL takes the next POST, and the upload no
 * longer looks at the service (its last write callbacks may run after
 * the service was freed, at shutdown). */
static void leave_url(upload *up)
{
    upload_url *u = up->token[0] ? fl_hmap_get(&up->rpc->uploads, up->token) : NULL;
    if (u && u->active == up)
        u->active = NULL;
    up->token[0] = '\0';
}

static void maybe_free(upload *up)
{
    if (up->req || up->ln)
        return;
    leave_url(up);
    free(up->lens);
    free(up);
}

static void answer(upload *up, int status, const char *text)
{
    if (!up->req)
        return;
    fl_rpc_http_respond(up->req, status, cors, 1, "text/plain; charset=utf-8", text, strlen(text));
    up->req = NULL;
    leave_url(up); /* the next POST may come */
}

static int http_status_of(int status)
{
    switch (status) {
    case FL_ENOTSUP:
        return 415;
    case FL_EBADMSG:
        return 400;
    case FL_EMSGSIZE:
        return 413;
    case FL_EBUSY:
        return 409;
    case FL_ECLOSED:
    case FL_ECANCELED:
        return 404;
    default:
        return 500;
    }
}

static fl_element *element_of(upload *up)
{
    upload_url *u = up->token[0] ? fl_hmap_get(&up->rpc->uploads, up->token) : NULL;
    obj *o = u ? fl__obj_find(up->rpc, u->obj_id) : NULL;
    return o ? o->element : NULL;
}

static void on_written(void *arg, int status, const char *why)
{
    upload *up = arg;
    size_t len = up->lens[up->lhead];
    up->lhead = (up->lhead + 1) % up->lcap;
    up->ln--;
    up->in_flight -= len;
    if (status < 0 && up->req) {
        char text[600];
        snprintf(text, sizeof(text), "%s\n", why && why[0] ? why : fl_strerror(status));
        fl_log(FL_LOG_INFO, "upload from %s refused: %s", fl_rpc_http_peer(up->req), text);
        fl_element *e = element_of(up);
        if (e && status != FL_EBUSY && status != FL_ECLOSED && status != FL_ECANCELED)
            fl_element_write_end(e, NULL, NULL); /* the next POST starts a new stream */
        answer(up, http_status_of(status), text);
    } else if (status == 0) {
        up->taken += len;
    }
    if (up->req && up->paused && up->in_flight < IN_FLIGHT_LOW) {
        up->paused = 0;
        fl_rpc_http_pause(up->req, 0);
    }
    if (up->req && up->body_done && !up->ln) {
        char text[64];
        snprintf(text, sizeof(text), "%zu bytes taken\n", up->taken);
        answer(up, 200, text);
    }
    maybe_free(up);
}

static int push_len(upload *up, size_t len)
{
    if (up->ln == up->lcap) {
        size_t nc = up->lcap ? up->lcap * 2 : 64;
        size_t *nl = malloc(nc * sizeof(*nl));
        if (!nl)
            return FL_ENOMEM;
        for (size_t i = 0; i < up->ln; i++)
            nl[i] = up->lens[(up->lhead + i) % up->lcap];
        free(up->lens);
        up->lens = nl;
        up->lhead = 0;
        up->lcap = nc;
    }
    up->lens[(up->lhead + up->ln) % up->lcap] = len;
    up->ln++;
    return 0;
}

static void on_body(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    (void)req;
    upload *up = user;
    while (up->req && len) {
        size_t n = len < FL_ENGINE_WRITE_MAX ? len : FL_ENGINE_WRITE_MAX;
        fl_element *e = element_of(up);
        int rc = e ? push_len(up, n) : FL_ECLOSED;
        if (rc == 0 && (rc = fl_element_write(e, data, n, on_written, up)) < 0)
            up->ln--; /* the length just pushed */
        if (rc < 0) {
            answer(up, rc == FL_ECLOSED ? 404 : 500,
                   rc == FL_ECLOSED ? "the endpoint was released\n" : "out of memory\n");
            break;
        }
        up->in_flight += n;
        data += n;
        len -= n;
    }
    if (up->req && !up->paused && up->in_flight > IN_FLIGHT_HIGH) {
        up->paused = 1;
        fl_rpc_http_pause(up->req, 1);
    }
    maybe_free(up);
}

static void on_end(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    (void)req;
    (void)data;
    (void)len;
    upload *up = user;
    up->body_done = 1;
    if (up->req && !up->ln) {
        char text[64];
        snprintf(text, sizeof(text), "%zu bytes taken\n", up->taken);
        answer(up, 200, text);
    }
    maybe_free(up);
}

/* The client went (or the server closes): what it sent still plays; the
 * stream ends after disconnectionTimeout unless a next POST goes on. */
static void on_gone(void *user, fl_rpc_http *req, int status)
{
    (void)req;
    upload *up = user;
    fl_log(FL_LOG_DEBUG, "upload ended before its answer: %s", fl_strerror(status));
    up->req = NULL;
    leave_url(up);
    maybe_free(up);
}

static const fl_rpc_http_handler upload_handler = { on_body, on_end, on_gone };

static int respond_text(fl_rpc_http *req, int status, size_t ncors, const char *text)
{
    fl_rpc_http_respond(req, status, cors, ncors, "text/plain; charset=utf-8", text, strlen(text));
    return 0;
}

int fl__http_post_route(struct fl_rpc *rpc, fl_rpc_http *req)
{
    const char *path = fl_rpc_http_path(req);
    if (strncmp(path, PREFIX, strlen(PREFIX)) != 0)
        return FL_ENOENT;
    const char *token = path + strlen(PREFIX);
    upload_url *u = strlen(token) == TOKEN_HEX ? fl_hmap_get(&rpc->uploads, token) : NULL;
    obj *o = u ? fl__obj_find(rpc, u->obj_id) : NULL;
    if (!o || !o->element)
        return respond_text(req, 404, 1, "no HttpPostEndpoint has this URL (released?)\n");
    const char *m = fl_rpc_http_method(req);
    if (strcmp(m, "OPTIONS") == 0) {
        fl_rpc_http_respond(req, 204, cors, sizeof(cors) / sizeof(cors[0]), NULL, NULL, 0);
        return 0;
    }
    if (strcmp(m, "POST") != 0 && strcmp(m, "PUT") != 0)
        return respond_text(req, 405, sizeof(cors) / sizeof(cors[0]),
                            "an HttpPostEndpoint takes POST or PUT\n");
    if (u->active)
        return respond_text(req, 409, 1,
                            "another upload to this endpoint is being read: send the pieces of "
                            "a stream one after the other\n");
    upload *up = calloc(1, sizeof(*up));
    if (!up)
        return respond_text(req, 503, 1, "out of memory\n");
    up->rpc = rpc;
    up->req = req;
    memcpy(up->token, u->token, sizeof(up->token));
    u->active = up;
    fl_rpc_http_accept(req, &upload_handler, up, 0);
    if (!u->in_session) { /* the first POST of a stream (Kurento's HttpEndpoint) */
        u->in_session = 1;
        fl__event_emit(rpc, o, "MediaSessionStarted", fl__event_base(o, "MediaSessionStarted"));
    }
    return 0;
}

/* ---- the row ---- */

/* The endpoint's URL token, made on first use; the URLs of released
 * endpoints are forgotten on the way. */
static upload_url *url_for(struct fl_rpc *rpc, obj *o)
{
    upload_url *u, *mine = NULL;
    const char *key;
    for (size_t it = 0; fl_hmap_next(&rpc->uploads, &it, &key, (void **)&u);) {
        if (strcmp(u->obj_id, o->id) == 0) {
            mine = u;
        } else if (!u->active && !fl__obj_find(rpc, u->obj_id)) {
            fl_hmap_del(&rpc->uploads, key);
            url_free(u);
        }
    }
    if (mine)
        return mine;
    if (!(u = calloc(1, sizeof(*u))) || !(u->obj_id = strdup(o->id)))
        goto fail;
    uint8_t r[TOKEN_HEX / 2];
    fl_rand_fill(fl_rand_system(), r, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(u->token + 2 * i, 3, "%02x", r[i]);
    if (fl_hmap_put(&rpc->uploads, u->token, u) == 0)
        return u;
fail:
    if (u)
        url_free(u);
    return NULL;
}

static void get_url(call *c, obj *o, json_t *p)
{
    (void)p;
    upload_url *u = url_for(c->rpc, o);
    if (!u) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "out of memory");
        return;
    }
    char authority[80];
    int tls = 0;
    if (!c->cl || !c->cl->conn ||
        fl_rpc_conn_local(c->cl->conn, authority, sizeof(authority), &tls) < 0)
        snprintf(authority, sizeof(authority), "127.0.0.1:%d", fl_rpc_port(c->rpc));
    char url[URL_MAX];
    snprintf(url, sizeof(url), "%s://%s%s%s", tls ? "https" : "http", authority, PREFIX, u->token);
    fl__call_ok(c, json_string(url));
}

static int check_ctor(call *c, json_t *ctor)
{
    json_t *t = json_object_get(ctor, "disconnectionTimeout");
    if (t && !json_is_null(t) &&
        (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > TIMEOUT_MAX)) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "disconnectionTimeout must be 0..%d seconds", TIMEOUT_MAX);
        return FL_EINVAL;
    }
    return 0;
}

static int configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    (void)rpc;
    int rc = 0;
    json_t *t = json_object_get(ctor, "disconnectionTimeout");
    if (json_is_integer(t)) {
        char v[32];
        snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, json_integer_value(t));
        rc = fl_element_set_property(e, "disconnectionTimeout", v, NULL, NULL);
    }
    json_t *enc = json_object_get(ctor, "useEncodedMedia");
    if (rc == 0 && json_is_boolean(enc))
        rc = fl_element_set_property(e, "useEncodedMedia", json_is_true(enc) ? "true" : "false",
                                     NULL, NULL);
    return rc;
}

static const struct op ops[] = {
    { "HttpEndpoint", "getUrl", get_url },
    { NULL, NULL, NULL },
};

/* EndOfStream, then MediaSessionTerminated: the session the stream's first
 * POST started is over (both said here, in that order). */
static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)type;
    if (ev->type != FL_EVENT_END_OF_STREAM)
        return NULL; /* the player's URI states: not a UriEndpoint */
    fl__event_emit(rpc, o, "EndOfStream", fl__event_base(o, "EndOfStream"));
    upload_url *u;
    const char *key;
    for (size_t it = 0; fl_hmap_next(&rpc->uploads, &it, &key, (void **)&u);) {
        if (strcmp(u->obj_id, o->id) == 0 && u->in_session) {
            u->in_session = 0;
            fl__event_emit(rpc, o, "MediaSessionTerminated",
                           fl__event_base(o, "MediaSessionTerminated"));
        }
    }
    return NULL;
}

const rpc_class fl__class_http_post = {
    .name = "HttpPostEndpoint",
    .engine_type = FL_ELEMENT_HTTP_POST,
    .ops = ops,
    .check_ctor = check_ctor,
    .configure = configure,
    .event = event,
};
