/* The control server's HTTP requests given to on_request (rpc/server.h):
 * the body read whole or streamed with back-pressure, answers at once or
 * later. The framing (fl__http_req_*) is sans-IO, fed by the connection code
 * below or by the fuzz target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "rpc/server.h"
#include "rpc/server_int.h"

FL_LOG_TAG("ws");

/* ---- sans-IO framing ------------------------------------------------------ */

int fl__http_req_init(fl_rpc_http *req, fl_http_head *head)
{
    req->head = head;
    fl_bytes_init(&req->buf);
    fl_bytes_init(&req->held);
    size_t n = strlen(head->target);
    req->target = malloc(n + 2);
    if (!req->target)
        return FL_ENOMEM;
    memcpy(req->target, head->target, n + 1);
    req->target[n + 1] = '\0';
    char *q = strchr(req->target, '?');
    if (q) {
        *q = '\0';
        req->query = q + 1;
    } else {
        req->query = req->target + n + 1; /* "" */
    }
    return 0;
}

int fl__http_req_start(fl_rpc_http *req)
{
    int rc = fl_http_body_init(&req->body, req->head, false);
    if (rc != 0)
        return rc;
    if (req->max_body > 0 && req->body.kind == FL_HTTP_BODY_LENGTH &&
        (uint64_t)req->body.length > (uint64_t)req->max_body)
        return FL_EMSGSIZE;
    return 0;
}

static int req_end(fl_rpc_http *req)
{
    req->ended = true;
    if (req->max_body == 0) {
        if (req->h.end)
            req->h.end(req->user, req, NULL, 0);
        return 0;
    }
    if (fl_bytes_reserve(&req->buf, 1) != 0)
        return FL_ENOMEM;
    req->buf.data[req->buf.len] = '\0';
    if (req->h.end)
        req->h.end(req->user, req, req->buf.data, req->buf.len);
    return 0;
}

int fl__http_req_input(fl_rpc_http *req, const uint8_t *data, size_t len, size_t *used)
{
    *used = 0;
    while (req->state == FL__REQ_ACCEPTED && !req->ended) {
        if (req->paused)
            return FL_EBUSY;
        size_t took = 0;
        const uint8_t *part = NULL;
        size_t part_len = 0;
        int rc = fl_http_body_parse(&req->body, data + *used, len - *used, &took, &part, &part_len);
        *used += took;
        if (rc != 0 && rc != FL_EAGAIN)
            return rc;
        if (part_len > 0 && req->max_body > 0) {
            if (req->buf.len + part_len > req->max_body)
                return FL_EMSGSIZE;
            if (fl_bytes_append(&req->buf, part, part_len) != 0)
                return FL_ENOMEM;
        } else if (part_len > 0 && req->h.body) {
            req->h.body(req->user, req, part, part_len);
        }
        if (rc == 0)
            return req_end(req);
        if (*used == len)
            return FL_EAGAIN;
        if (took == 0)
            return FL_EBADMSG; /* no progress: never expected of the parser */
    }
    return req->ended ? 0 : FL_EBUSY;
}

void fl__http_req_deinit(fl_rpc_http *req)
{
    free(req->head);
    free(req->target);
    fl_bytes_deinit(&req->buf);
    fl_bytes_deinit(&req->held);
    req->head = NULL;
    req->target = NULL;
}

/* ---- the connection's side ------------------------------------------------ */

void fl__http_free(fl_rpc_http *req)
{
    if (!req)
        return;
    fl__http_req_deinit(req);
    free(req);
}

void fl__http_gone(fl_rpc_conn *c, int status)
{
    fl_rpc_http *req = c->req;
    if (!req || req->state == FL__REQ_DONE)
        return;
    bool told = req->state == FL__REQ_ACCEPTED;
    req->state = FL__REQ_DONE;
    fl_log(FL_LOG_DEBUG, "%s: %s %s: %s", c->peer, req->head->method, req->target,
           fl_strerror(status));
    if (told && req->h.gone)
        req->h.gone(req->user, req, status);
}

/* The server answers for the request (400, 408, 413) and tells the handler. */
static void req_fail(fl_rpc_conn *c, int status, int why)
{
    fl_rpc_http *req = c->req;
    if (req->state == FL__REQ_DONE)
        return;
    fl_log(FL_LOG_DEBUG, "%s: %s %s: %s: %d", c->peer, req->head->method, req->target,
           fl_strerror(why), status);
    fl__conn_http_error(c, status); /* tearing now: a close on its way cannot tell twice */
    fl__http_gone(c, why);
}

bool fl__http_route(fl_rpc_conn *c)
{
    fl_rpc_server *s = c->srv;
    if (!s->cb.on_request)
        return false;
    fl_rpc_http *req = calloc(1, sizeof(*req));
    if (!req)
        return false;
    if (fl__http_req_init(req, c->head) != 0) {
        req->head = NULL; /* still the connection's */
        fl__http_free(req);
        return false;
    }
    req->conn = c;
    c->req = req;
    int rc = s->cb.on_request(s->cb.ctx, req);
    if (rc == FL_ENOENT && req->state == FL__REQ_NEW) {
        c->req = NULL;
        req->head = NULL; /* the server goes on with it */
        fl__http_free(req);
        return false;
    }
    c->head = NULL;
    if (req->state == FL__REQ_NEW || (rc != 0 && req->state == FL__REQ_ACCEPTED)) {
        fl_log(FL_LOG_WARN, "%s: %s %s: the route %s: 500", c->peer, req->head->method, req->target,
               rc != 0 ? fl_strerror(rc) : "neither took nor answered it");
        req_fail(c, 500, FL_ECANCELED);
        return true;
    }
    if (req->state == FL__REQ_ACCEPTED)
        c->phase = PHASE_REQ;
    return true;
}

/* Feeds input; what a pause leaves is held for fl__http_resume. */
static void req_feed(fl_rpc_conn *c, const uint8_t *data, size_t len)
{
    fl_rpc_http *req = c->req;
    size_t used = 0;
    int rc = fl__http_req_input(req, data, len, &used);
    if (req->state != FL__REQ_ACCEPTED)
        return;
    if (rc == 0) {
        uv_timer_stop(&c->timer); /* the route answers in its own time */
        return;
    }
    if (req->max_body == 0 && used > 0 &&
        !req->paused) /* a stream moving: its clock starts again */
        fl__conn_timer(c, c->srv->message_timeout_ms);
    if (rc == FL_EAGAIN)
        return;
    if (rc == FL_EBUSY) {
        if (req->paused && fl_bytes_append(&req->held, data + used, len - used) != 0)
            req_fail(c, 503, FL_ENOMEM);
        return;
    }
    if (rc == FL_EMSGSIZE)
        req_fail(c, 413, rc);
    else if (rc == FL_EBADMSG)
        req_fail(c, 400, rc);
    else
        req_fail(c, 503, rc);
}

void fl__http_begin(fl_rpc_conn *c, const uint8_t *data, size_t len)
{
    fl_rpc_http *req = c->req;
    int rc = fl__http_req_start(req);
    if (rc != 0) {
        req_fail(c, rc == FL_EMSGSIZE ? 413 : 400, rc);
        return;
    }
    /* buffered: the whole body within the timeout; streamed: no more than
     * the timeout without a byte while we read (fl__http_timeout) */
    fl__conn_timer(c, c->srv->message_timeout_ms);
    const char *expect = fl_http_head_get(req->head, "Expect");
    if (expect && !req->body.done && req->head->version_minor >= 1 &&
        fl_http_token_list_has(expect, "100-continue")) {
        fl_bytes out;
        fl_bytes_init(&out);
        if (fl_bytes_append_str(&out, "HTTP/1.1 100 Continue\r\n\r\n") == 0)
            fl__conn_send(c, &out);
        fl_bytes_deinit(&out);
    }
    req_feed(c, data, len);
}

void fl__http_input(fl_rpc_conn *c, const uint8_t *data, size_t len)
{
    fl_rpc_http *req = c->req;
    if (req->state != FL__REQ_ACCEPTED || req->ended)
        return; /* after the body: nothing more is read into the request */
    if (req->paused || req->held.len > 0) {
        if (fl_bytes_append(&req->held, data, len) != 0)
            req_fail(c, 503, FL_ENOMEM);
        return;
    }
    req_feed(c, data, len);
}

void fl__http_resume(fl_rpc_conn *c)
{
    fl_rpc_http *req = c->req;
    if (!req || req->state != FL__REQ_ACCEPTED || req->paused)
        return;
    fl_bytes held = req->held;
    fl_bytes_init(&req->held);
    if (held.len > 0)
        req_feed(c, held.data, held.len);
    fl_bytes_deinit(&held);
    if (req->state == FL__REQ_ACCEPTED && !req->paused && !c->tearing)
        fl__conn_reading(c, true);
}

void fl__http_timeout(fl_rpc_conn *c)
{
    fl_rpc_http *req = c->req;
    if (!req || req->state != FL__REQ_ACCEPTED || req->ended)
        return;
    if (req->max_body == 0 && (req->paused || req->held.len > 0))
        return; /* the route holds it back, not the peer: resuming starts the clock again */
    c->srv->stats.request_timeouts++;
    req_fail(c, 408, FL_ETIMEDOUT);
}

/* ---- API ------------------------------------------------------------------ */

void fl_rpc_http_accept(fl_rpc_http *req, const fl_rpc_http_handler *h, void *user, size_t max_body)
{
    if (req->state != FL__REQ_NEW)
        return;
    req->state = FL__REQ_ACCEPTED;
    if (h)
        req->h = *h;
    req->user = user;
    req->max_body = max_body;
}

void fl_rpc_http_pause(fl_rpc_http *req, int pause)
{
    if (req->state != FL__REQ_ACCEPTED || req->max_body > 0 || (pause != 0) == req->paused)
        return;
    req->paused = pause != 0;
    fl_rpc_conn *c = req->conn;
    if (!c)
        return;
    if (req->paused) {
        fl__conn_reading(c, false);
    } else {
        fl__conn_timer(c, c->srv->message_timeout_ms);
        fl__conn_resume_later(c);
    }
}

int fl_rpc_http_respond(fl_rpc_http *req,
                        int status,
                        const fl_http_header *extra,
                        size_t nextra,
                        const char *content_type,
                        const void *body,
                        size_t len)
{
    if (req->state == FL__REQ_DONE)
        return FL_ECLOSED;
    req->state = FL__REQ_DONE;
    fl_rpc_conn *c = req->conn;
    if (!c)
        return 0;
    fl_http_header h[FL_HTTP_MAX_HEADERS];
    size_t n = 0;
    if (content_type)
        h[n++] = (fl_http_header){ "Content-Type", content_type };
    h[n++] = (fl_http_header){ "Connection", "close" };
    for (size_t i = 0; i < nextra && n < FL_HTTP_MAX_HEADERS; i++)
        h[n++] = extra[i];
    if (status < 200 || status == 204 || status == 304) {
        body = NULL; /* no Content-Length either (RFC 9110 8.6) */
        len = 0;
    } else if (!body) {
        body = "";
        len = 0;
    }
    fl_bytes out;
    fl_bytes_init(&out);
    int rc = fl_http_response_write(&out, status, h, n, body, len);
    if (rc == 0 && strcmp(req->head->method, "HEAD") == 0)
        out.len -= len; /* the head as a GET's, no body (RFC 9110 9.3.2) */
    if (rc == 0) {
        fl_log(FL_LOG_DEBUG, "%s: %s %s -> %d", c->peer, req->head->method, req->target, status);
        fl__conn_send(c, &out);
        fl_bytes_deinit(&out);
        fl__conn_finish(c);
        return 0;
    }
    fl_bytes_deinit(&out);
    fl_log(FL_LOG_WARN, "%s: %s %s: cannot write a %d answer: 500", c->peer, req->head->method,
           req->target, status);
    fl__conn_http_error(c, 500);
    return rc == FL_ENOMEM ? rc : FL_EINVAL;
}

const char *fl_rpc_http_method(const fl_rpc_http *req)
{
    return req->head->method;
}

const char *fl_rpc_http_path(const fl_rpc_http *req)
{
    return req->target;
}

const char *fl_rpc_http_query(const fl_rpc_http *req)
{
    return req->query;
}

const char *fl_rpc_http_header(const fl_rpc_http *req, const char *name)
{
    return fl_http_head_get(req->head, name);
}

const char *fl_rpc_http_peer(const fl_rpc_http *req)
{
    return req->conn ? fl_rpc_conn_peer(req->conn) : "?";
}

int fl_rpc_http_local(const fl_rpc_http *req, char *authority, size_t cap, int *tls)
{
    if (!req->conn)
        return FL_EIO;
    return fl_rpc_conn_local(req->conn, authority, cap, tls);
}

int fl_rpc_http_token_ok(const fl_rpc_http *req, const char *token)
{
    return fl__server_token_ok(token, req->head) ? 1 : 0;
}
