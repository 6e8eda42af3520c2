/* JSON-RPC 2.0 as the Kurento Protocol uses it: one connection's requests run
 * in arrival order, sessions are injected and associated, transactions run
 * their operations in sequence. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

typedef struct msg {
    fl_list node;
    size_t len;
    char data[];
} msg;

static void serve(client *cl);
static void call_free(call *c);

const char *fl__error_type(int code)
{
    switch (code) {
    case KE_MARSHALL_ERROR:
        return "MARSHALL_ERROR";
    case KE_UNEXPECTED_ERROR:
        return "UNEXPECTED_ERROR";
    case KE_CONNECT_ERROR:
        return "CONNECT_ERROR";
    case KE_UNSUPPORTED_MEDIA_TYPE:
        return "UNSUPPORTED_MEDIA_TYPE";
    case KE_NOT_IMPLEMENTED:
        return "NOT_IMPLEMENTED";
    case KE_INVALID_SESSION:
        return "INVALID_SESSION";
    case KE_MALFORMED_TRANSACTION:
        return "MALFORMED_TRANSACTION";
    case KE_NOT_ENOUGH_RESOURCES:
        return "NOT_ENOUGH_RESOURCES";
    case KE_MEDIA_OBJECT_TYPE_NOT_FOUND:
        return "MEDIA_OBJECT_TYPE_NOT_FOUND";
    case KE_MEDIA_OBJECT_NOT_FOUND:
        return "MEDIA_OBJECT_NOT_FOUND";
    case KE_MEDIA_OBJECT_METHOD_NOT_FOUND:
        return "MEDIA_OBJECT_METHOD_NOT_FOUND";
    case KE_MEDIA_OBJECT_EVENT_NOT_SUPPORTED:
        return "MEDIA_OBJECT_EVENT_NOT_SUPPORTED";
    case KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR:
        return "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR";
    case KE_MEDIA_OBJECT_NOT_AVAILABLE:
        return "MEDIA_OBJECT_NOT_AVAILABLE";
    case KE_MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT:
        return "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT";
    case KE_MEDIA_OBJECT_TAG_KEY_NOT_FOUND:
        return "MEDIA_OBJECT_TAG_KEY_NOT_FOUND";
    case KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED:
        return "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED";
    case KE_SDP_PARSE_ERROR:
        return "SDP_PARSE_ERROR";
    case KE_SDP_END_POINT_GENERATE_OFFER_ERROR:
        return "SDP_END_POINT_GENERATE_OFFER_ERROR";
    case KE_SDP_END_POINT_PROCESS_OFFER_ERROR:
        return "SDP_END_POINT_PROCESS_OFFER_ERROR";
    case KE_SDP_END_POINT_PROCESS_ANSWER_ERROR:
        return "SDP_END_POINT_PROCESS_ANSWER_ERROR";
    case KE_SDP_END_POINT_ALREADY_NEGOTIATED:
        return "SDP_END_POINT_ALREADY_NEGOTIATED";
    case KE_SDP_END_POINT_NOT_OFFER_GENERATED:
        return "SDP_END_POINT_NOT_OFFER_GENERATED";
    case KE_ICE_GATHER_CANDIDATES_ERROR:
        return "ICE_GATHER_CANDIDATES_ERROR";
    case KE_ICE_ADD_CANDIDATE_ERROR:
        return "ICE_ADD_CANDIDATE_ERROR";
    case KE_SERVER_MANAGER_ERROR_KMD_NOT_FOUND:
        return "SERVER_MANAGER_ERROR_KMD_NOT_FOUND";
    case JE_INVALID_PARAMS:
        return "INVALID_PARAMS";
    default:
        return NULL;
    }
}

static json_t *error_object(int code, const char *message)
{
    json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);
    const char *type = fl__error_type(code);
    if (type)
        json_object_set_new(e, "data", json_pack("{s:s}", "type", type));
    return e;
}

static void finish(call *c)
{
    c->done(c);
}

static json_t *result_with_session(call *c, json_t *result)
{
    if (c->session[0])
        json_object_set_new(result, "sessionId", json_string(c->session));
    return result;
}

void fl__call_ok(call *c, json_t *value)
{
    json_t *r = json_object();
    json_object_set_new(r, "value", value ? value : json_null());
    c->result = result_with_session(c, r);
    finish(c);
}

void fl__call_ok_plain(call *c)
{
    c->result = result_with_session(c, json_object());
    finish(c);
}

void fl__call_err(call *c, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->error = error_object(code, text);
    c->rpc->errors_total++;
    finish(c);
}

void fl__call_err_obj(call *c, const struct rpc_err *e)
{
    fl__call_err(c, e->code, "%s", e->msg);
}

/* Answers a call whose new session could not be made. */
static void session_refused(call *c)
{
    if (fl__limits_sessions_full(c->rpc, 0))
        fl__limits_session_refused(c);
    else
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
}

/* The call's session, made if new; answers the call on failure. */
static int ensure_session(call *c)
{
    if (!c->session[0])
        fl_rand_uuid(fl_rand_system(), c->session);
    session *s = fl__session_get(c->rpc, c->session, 1);
    if (!s) {
        session_refused(c);
        return FL_ENOMEM;
    }
    s->in_use = 1;
    return 0;
}

static void m_ping(call *c)
{
    json_t *r = json_pack("{s:s}", "value", "pong");
    c->result = result_with_session(c, r);
    finish(c);
}

static void m_connect(call *c)
{
    if (c->had_session) {
        session *s = fl__session_get(c->rpc, c->session, 0);
        if (!s) {
            fl__call_err(c, KE_INVALID_SESSION, "Invalid session");
            return;
        }
        s->in_use = 1;
    } else {
        fl_rand_uuid(fl_rand_system(), c->session);
        if (!fl__session_get(c->rpc, c->session, 1)) {
            session_refused(c);
            return;
        }
    }
    c->result = json_pack("{s:s, s:s}", "sessionId", c->session, "serverId", c->rpc->server_id);
    finish(c);
}

static obj *param_object(call *c, const char *key)
{
    json_t *v = json_object_get(c->params, key);
    if (!json_is_string(v)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'%s' parameter should be a string", key);
        return NULL;
    }
    const char *id = json_string_value(v);
    obj *o = fl__call_find(c, id);
    if (!o) {
        if (strncmp(id, "newref:", 7) == 0)
            fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT,
                         "Object '%.200s' not found: newref is valid only inside a transaction",
                         id);
        else
            fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND, "Object '%.200s' not found", id);
        return NULL;
    }
    session *s = fl__session_get(c->rpc, c->session, 1);
    if (s)
        fl__session_hold(s, o);
    return o;
}

static void m_describe(call *c)
{
    obj *o = param_object(c, "object");
    if (!o)
        return;
    json_t *h = json_array();
    for (const kmd_class *k = o->cls->parent; k; k = k->parent)
        json_array_append_new(h, json_string(k->qualified));
    json_t *r = json_pack("{s:s, s:s, s:o}", "type", o->cls->name, "qualifiedType",
                          o->cls->qualified, "hierarchy", h);
    c->result = result_with_session(c, r);
    finish(c);
}

static void m_subscribe(call *c)
{
    obj *o = param_object(c, "object");
    if (!o)
        return;
    const char *type = json_string_value(json_object_get(c->params, "type"));
    if (!type) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'type' parameter should be a string");
        return;
    }
    if (!fl__kmd_has_event(o->cls, type) || strlen(type) >= sizeof(((sub *)0)->type)) {
        fl__call_err(c, KE_MEDIA_OBJECT_EVENT_NOT_SUPPORTED, "Event '%.100s' not supported", type);
        return;
    }
    session *ss = fl__session_get(c->rpc, c->session, 1);
    if (ss && ss->nsubs >= FL_MAX_SUBS_PER_SESSION) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "A session holds at most %d subscriptions",
                     FL_MAX_SUBS_PER_SESSION);
        return;
    }
    sub *sb = ss ? calloc(1, sizeof(*sb)) : NULL;
    if (sb)
        fl_rand_uuid(fl_rand_system(), sb->id);
    if (!sb || fl_hmap_put(&c->rpc->subs, sb->id, sb) != 0) {
        free(sb);
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    snprintf(sb->type, sizeof(sb->type), "%s", type);
    sb->s = ss;
    sb->o = o;
    fl_list_push_back(&o->subs, &sb->obj_node);
    fl_list_push_back(&ss->subs, &sb->session_node);
    ss->nsubs++;
    fl__call_ok(c, json_string(sb->id));
}

static void m_unsubscribe(call *c)
{
    const char *id = json_string_value(json_object_get(c->params, "subscription"));
    if (!id) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'subscription' parameter should be a string");
        return;
    }
    json_t *object = json_object_get(c->params, "object");
    if (c->rpc->cfg.isolated && json_is_string(object) &&
        !fl__call_find(c, json_string_value(object))) {
        fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND, "Object '%.200s' not found",
                     json_string_value(object));
        return;
    }
    sub *sb = fl_hmap_get(&c->rpc->subs, id);
    if (sb && c->rpc->cfg.isolated && strcmp(sb->s->id, c->session) != 0)
        sb = NULL; /* another session's: as if it did not exist */
    if (sb) {
        fl_hmap_del(&c->rpc->subs, id);
        fl_list_remove(&sb->obj_node);
        fl_list_remove(&sb->session_node);
        sb->s->nsubs--;
        free(sb);
    }
    fl__call_ok_plain(c);
}

/* The existing session the request names (given or injected), or NULL. */
static session *named_session(call *c)
{
    return c->had_session ? fl__session_get(c->rpc, c->session, 0) : NULL;
}

static void m_keepalive(call *c)
{
    session *s = named_session(c);
    if (!s) {
        fl__call_err(c, KE_INVALID_SESSION, "Invalid session");
        return;
    }
    s->in_use = 1;
    fl__call_ok_plain(c);
}

static void m_ref(call *c)
{
    if (param_object(c, "object"))
        fl__call_ok_plain(c);
}

static void m_unref(call *c)
{
    obj *o = param_object(c, "object");
    if (!o)
        return;
    session *s = fl__session_get(c->rpc, c->session, 0);
    if (s)
        fl__session_unhold(s, o);
    fl__call_ok_plain(c);
}

static void m_close_session(call *c)
{
    session *s = named_session(c);
    if (!s) {
        fl__call_err(c, KE_INVALID_SESSION, "Invalid session");
        return;
    }
    if (json_is_true(json_object_get(c->params, "release"))) {
        size_t n = fl_hmap_len(&s->holds), k = 0;
        obj **tops = calloc(n ? n : 1, sizeof(*tops));
        hold *h;
        for (size_t it = 0; tops && fl_hmap_next(&s->holds, &it, NULL, (void **)&h);) {
            if (!h->o->parent && h->o != c->rpc->manager)
                tops[k++] = h->o;
        }
        for (size_t i = 0; i < k; i++)
            fl__obj_release(tops[i], NULL, NULL);
        free(tops);
    }
    fl__session_drop(c->rpc, s);
    c->result = json_null();
    finish(c);
}

/* ---- transactions ---- */

#define MAX_TRANSACTION_OPS 10000

typedef struct txn {
    call *outer;
    json_t *ops;
    json_t *responses;
    size_t i;
    int running;   /* inside txn_run's loop */
    int in_flight; /* an operation has not completed yet */
    int stop;
} txn;

static void txn_run(txn *t);

/* The object id a "newref:N" string stands for, NULL if it is not one; *bad
 * is set when it is a newref that names no object created so far. */
static json_t *newref_value(json_t *it, json_t *responses, int *bad)
{
    if (!json_is_string(it) || strncmp(json_string_value(it), "newref:", 7) != 0)
        return NULL;
    char *end;
    unsigned long n = strtoul(json_string_value(it) + 7, &end, 10);
    json_t *res = n < json_array_size(responses) && !*end
                          ? json_object_get(json_array_get(responses, n), "result")
                          : NULL;
    json_t *val = json_object_get(res, "value");
    *bad = !json_is_string(val);
    return *bad ? NULL : val;
}

/* Replaces every "newref:N" inside v (recursively) by the id created by
 * operation N of the transaction. */
static int substitute_newrefs(json_t *v, json_t *responses, struct rpc_err *err)
{
    int bad = 0;
    size_t i;
    const char *key;
    json_t *it, *val;
    if (json_is_array(v)) {
        json_array_foreach(v, i, it)
        {
            if ((val = newref_value(it, responses, &bad)))
                json_array_set(v, i, val);
            else if (bad || substitute_newrefs(it, responses, err) != 0)
                goto fail;
        }
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, it)
        {
            if ((val = newref_value(it, responses, &bad)))
                json_object_set(v, key, val);
            else if (bad || substitute_newrefs(it, responses, err) != 0)
                goto fail;
        }
    }
    return 0;
fail:
    err->code = KE_MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT;
    snprintf(err->msg, sizeof(err->msg), "newref names no object created in this transaction");
    return FL_EINVAL;
}

static void txn_finish(txn *t)
{
    call *outer = t->outer;
    json_t *value = t->responses;
    json_decref(t->ops);
    free(t);
    fl__call_ok(outer, value);
}

static void txn_inner_done(call *c)
{
    txn *t = c->ctx;
    json_t *resp = json_pack("{s:I, s:s}", "id", (json_int_t)t->i, "jsonrpc", "2.0");
    if (c->error)
        json_object_set(resp, "error", c->error);
    else
        json_object_set(resp, "result", c->result);
    json_array_append_new(t->responses, resp);
    t->stop = c->error != NULL;
    call_free(c);
    t->i++;
    t->in_flight = 0;
    if (!t->running)
        txn_run(t);
}

static void txn_fail_op(txn *t, int code, const char *text)
{
    json_t *resp = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)t->i, "jsonrpc", "2.0", "error",
                             error_object(code, text));
    json_array_append_new(t->responses, resp);
    t->stop = 1;
}

static void txn_start_op(txn *t, json_t *op)
{
    char text[128];
    json_t *id = json_object_get(op, "id");
    const char *method = json_string_value(json_object_get(op, "method"));
    json_t *params = json_object_get(op, "params");
    if (!json_is_integer(id) || json_integer_value(id) != (json_int_t)t->i) {
        snprintf(text, sizeof(text), "Id of request '%zu' should be '%zu'", t->i, t->i);
        txn_fail_op(t, KE_MALFORMED_TRANSACTION, text);
        return;
    }
    if (!method || (params && !json_is_object(params)) || strcmp(method, "transaction") == 0) {
        txn_fail_op(t, KE_MALFORMED_TRANSACTION, "Invalid operation in transaction");
        return;
    }
    call *c = calloc(1, sizeof(*c));
    if (!c) {
        txn_fail_op(t, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    struct rpc_err err;
    c->rpc = t->outer->rpc;
    c->cl = t->outer->cl;
    c->method = strdup(method);
    c->params = params ? json_deep_copy(params) : NULL;
    snprintf(c->session, sizeof(c->session), "%s", t->outer->session);
    c->had_session = 1;
    c->done = txn_inner_done;
    c->ctx = t;
    t->in_flight = 1;
    if (c->params && substitute_newrefs(c->params, t->responses, &err) != 0) {
        fl__call_err_obj(c, &err);
        return;
    }
    fl__exec(c);
}

static void txn_run(txn *t)
{
    t->running = 1;
    while (!t->in_flight && !t->stop && t->i < json_array_size(t->ops))
        txn_start_op(t, json_array_get(t->ops, t->i));
    t->running = 0;
    if (!t->in_flight)
        txn_finish(t);
}

void fl__transaction(call *c);

void fl__transaction(call *c)
{
    json_t *ops = json_object_get(c->params, "operations");
    if (!json_is_array(ops)) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'operations' parameter should be an array");
        return;
    }
    if (json_array_size(ops) > MAX_TRANSACTION_OPS) {
        fl__call_err(c, KE_MALFORMED_TRANSACTION, "A transaction holds at most %d operations",
                     MAX_TRANSACTION_OPS);
        return;
    }
    txn *t = calloc(1, sizeof(*t));
    if (!t) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    t->outer = c;
    t->ops = json_incref(ops);
    t->responses = json_array();
    txn_run(t);
}

static const struct {
    const char *name;
    void (*fn)(call *c);
    int needs_params;
    int needs_session;
} methods[] = {
    { "ping", m_ping, 0, 0 },
    { "connect", m_connect, 0, 0 },
    { "create", fl__op_create, 1, 1 },
    { "invoke", fl__op_invoke, 1, 1 },
    { "release", fl__op_release, 1, 1 },
    { "describe", m_describe, 1, 1 },
    { "subscribe", m_subscribe, 1, 1 },
    { "unsubscribe", m_unsubscribe, 1, 1 },
    { "transaction", fl__transaction, 1, 1 },
    { "keepAlive", m_keepalive, 1, 0 },
    { "ref", m_ref, 1, 1 },
    { "unref", m_unref, 1, 1 },
    { "closeSession", m_close_session, 1, 0 },
};

/* With isolated sessions, a session associated with an open connection
 * belongs to that connection: no other one may name it. */
static int session_taken(const call *c)
{
    if (!c->rpc->cfg.isolated || !c->had_session || !c->cl)
        return 0;
    session *s = fl__session_get(c->rpc, c->session, 0);
    return s && s->client && s->client != c->cl;
}

void fl__exec(call *c)
{
    c->rpc->calls_total++;
    if (c->rpc->shutting_down) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "The server is shutting down");
        return;
    }
    if (c->bad_session) {
        fl__call_err(c, KE_INVALID_SESSION,
                     "Invalid session: sessionId must be a string of at "
                     "most %d characters",
                     FL_SESSION_ID_MAX - 1);
        return;
    }
    if (session_taken(c)) {
        fl_log(FL_LOG_INFO, "client %s named session %s, held by another connection: refused",
               c->cl->conn ? fl_rpc_conn_peer(c->cl->conn) : "(detached)", c->session);
        fl__call_err(c, KE_INVALID_SESSION,
                     "Invalid session: session '%s' is in use by another connection "
                     "(isolated sessions)",
                     c->session);
        return;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(methods[i].name, c->method) != 0)
            continue;
        if (methods[i].needs_params && !json_is_object(c->params)) {
            fl__call_err(c, JE_INVALID_PARAMS, "'params' is required");
            return;
        }
        if (methods[i].needs_session && ensure_session(c) != 0)
            return;
        methods[i].fn(c);
        return;
    }
    fl__call_err(c, JE_METHOD_NOT_FOUND, "Method not found.");
}

/* ---- one connection ---- */

static void client_unref(client *cl)
{
    if (--cl->refs > 0)
        return;
    fl_list_foreach_safe (it, tmp, &cl->queue) {
        fl_list_remove(it);
        free(fl_container_of(it, msg, node));
    }
    free(cl);
}

static int client_open(const client *cl)
{
    return cl->conn || cl->sink;
}

static void send_json(client *cl, json_t *j)
{
    if (!client_open(cl))
        return;
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) {
        fl_log(FL_LOG_ERROR, "cannot serialise a response");
        return;
    }
    size_t len = strlen(text);
    cl->out_bytes += len;
    if (cl->conn)
        fl_rpc_conn_send(cl->conn, text, len);
    else
        cl->sink(cl->sink_arg, text);
    free(text);
}

void fl__client_send(client *cl, json_t *j);

void fl__client_send(client *cl, json_t *j)
{
    send_json(cl, j);
}

static void associate(client *cl, const char *sid)
{
    session *s = fl__session_get(cl->rpc, sid, 1);
    if (!s || s->client == cl)
        return;
    if (s->client)
        s->client->session[0] = '\0';
    if (cl->session[0]) {
        session *old = fl__session_get(cl->rpc, cl->session, 0);
        if (old && old->client == cl)
            old->client = NULL;
    }
    s->client = cl;
    snprintf(cl->session, sizeof(cl->session), "%s", sid);
}

static void call_free(call *c)
{
    if (c->target)
        fl__obj_unref(c->target);
    if (c->other)
        fl__obj_unref(c->other);
    json_decref(c->id);
    json_decref(c->params);
    json_decref(c->result);
    json_decref(c->error);
    free((char *)c->method);
    free(c);
}

static void top_done(call *c)
{
    client *cl = c->cl;
    if (c->id) {
        json_t *resp = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", c->id);
        if (c->error) {
            json_object_set(resp, "error", c->error);
        } else {
            json_object_set(resp, "result", c->result);
            const char *sid = json_string_value(json_object_get(c->result, "sessionId"));
            if (sid && client_open(cl) && strcmp(c->method, "ping") != 0)
                associate(cl, sid);
        }
        send_json(cl, resp);
        json_decref(resp);
    }
    struct fl_rpc *rpc = c->rpc;
    call_free(c);
    cl->busy = 0;
    serve(cl);
    client_unref(cl);
    rpc->calls_in_flight--;
    fl__rpc_maybe_finish(rpc);
}

static void reply_error(client *cl, json_t *id, int code, const char *message)
{
    json_t *resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                             "error", error_object(code, message));
    send_json(cl, resp);
    json_decref(resp);
}

/* Checks the envelope; returns the request or NULL after replying. */
static json_t *parse_request(client *cl, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req) {
        reply_error(cl, NULL, JE_PARSE, "Parse error.");
        return NULL;
    }
    json_t *id = json_object_get(req, "id");
    const char *version = json_string_value(json_object_get(req, "jsonrpc"));
    json_t *method = json_object_get(req, "method");
    json_t *params = json_object_get(req, "params");
    int bad_id = id && !json_is_number(id) && !json_is_string(id) && !json_is_null(id);
    if (!json_is_object(req) || !version || strcmp(version, "2.0") != 0 ||
        !json_is_string(method) || bad_id) {
        reply_error(cl, bad_id || !json_is_object(req) ? NULL : id, JE_INVALID_REQUEST,
                    "Invalid JSON-RPC request.");
        json_decref(req);
        return NULL;
    }
    if (params && !json_is_object(params) && !json_is_null(params)) {
        reply_error(cl, id, JE_INVALID_PARAMS, "'params' should be an object");
        json_decref(req);
        return NULL;
    }
    return req;
}

static void start(client *cl, const char *data, size_t len)
{
    json_t *req = parse_request(cl, data, len);
    if (!req)
        return;
    call *c = calloc(1, sizeof(*c));
    if (!c) {
        reply_error(cl, json_object_get(req, "id"), JE_INTERNAL, "Out of memory");
        json_decref(req);
        return;
    }
    c->rpc = cl->rpc;
    c->cl = cl;
    c->id = json_incref(json_object_get(req, "id")); /* NULL: notification, no reply */
    c->method = strdup(json_string_value(json_object_get(req, "method")));
    json_t *params = json_object_get(req, "params");
    c->params = json_is_object(params) ? json_incref(params) : NULL;
    json_t *sidv = json_object_get(c->params, "sessionId");
    const char *sid = json_string_value(sidv);
    if (sid && strlen(sid) < sizeof(c->session)) {
        snprintf(c->session, sizeof(c->session), "%s", sid);
        c->had_session = 1;
    } else if (sidv) {
        c->bad_session = 1; /* answered INVALID_SESSION by fl__exec */
    } else if (cl->session[0]) {
        /* Injected as Kurento does: the connection's session stands for it. */
        snprintf(c->session, sizeof(c->session), "%s", cl->session);
        c->had_session = 1;
    }
    json_decref(req);
    c->done = top_done;
    cl->busy = 1;
    cl->refs++;
    cl->rpc->calls_in_flight++;
    fl__exec(c);
}

/* ---- the request pump ----
 *
 * A client's requests run one at a time in arrival order. Each client gets a
 * slice per loop turn (FL_SLICE_MSGS requests or FL_SLICE_BYTES of answers);
 * one that has used its slice waits in rpc->ready, served round-robin from an
 * idle handle, so the loop polls every socket between two slices. Reading
 * from a connection pauses while too many of its requests wait. */

static int slice_left(const client *cl)
{
    return cl->slice_msgs < FL_SLICE_MSGS && cl->out_bytes - cl->slice_out < FL_SLICE_BYTES;
}

static void pump_turn(uv_idle_t *h);

/* Puts a client whose slice is used up in line for the next turns. */
static void schedule(client *cl)
{
    struct fl_rpc *rpc = cl->rpc;
    if (cl->ready || cl->busy || fl_list_empty(&cl->queue) || rpc->shutting_down)
        return;
    cl->ready = 1;
    cl->refs++;
    fl_list_push_back(&rpc->ready, &cl->ready_node);
    if (!uv_is_active((uv_handle_t *)&rpc->pump))
        uv_idle_start(&rpc->pump, pump_turn);
}

static void maybe_resume(client *cl)
{
    if (!cl->paused || cl->queued_msgs > FL_QUEUE_LOW_MSGS || cl->queued_bytes > FL_QUEUE_LOW_BYTES)
        return;
    cl->paused = 0;
    if (cl->conn) {
        fl_log(FL_LOG_DEBUG, "client %s: %zu requests waiting: reading again",
               fl_rpc_conn_peer(cl->conn), cl->queued_msgs);
        fl_rpc_conn_pause_reading(cl->conn, 0);
    }
}

/* Runs the client's waiting requests while its slice lasts. */
static void serve(client *cl)
{
    if (cl->pumping || cl->ready)
        return; /* running them already, or waiting for its turn */
    cl->pumping = 1;
    cl->refs++;
    while (!cl->busy && !fl_list_empty(&cl->queue) && slice_left(cl)) {
        msg *m = fl_container_of(fl_list_pop_front(&cl->queue), msg, node);
        cl->queued_msgs--;
        cl->queued_bytes -= sizeof(*m) + m->len + 1;
        cl->slice_msgs++;
        start(cl, m->data, m->len);
        free(m);
    }
    maybe_resume(cl); /* what it delivers now waits for the next slice */
    cl->pumping = 0;
    schedule(cl);
    client_unref(cl);
}

static void pump_turn(uv_idle_t *h)
{
    struct fl_rpc *rpc = h->data;
    size_t n = fl_list_count(&rpc->ready);
    for (size_t i = 0; i < n && !fl_list_empty(&rpc->ready); i++) {
        client *cl = fl_container_of(fl_list_pop_front(&rpc->ready), client, ready_node);
        cl->ready = 0;
        cl->slice_msgs = 0;
        cl->slice_out = cl->out_bytes;
        serve(cl); /* back in line at the end if its slice ran out again */
        client_unref(cl);
    }
    if (fl_list_empty(&rpc->ready))
        uv_idle_stop(h);
}

void fl__rpc_aux_init(struct fl_rpc *rpc)
{
    fl_list_init(&rpc->ready);
    uv_idle_init(rpc->loop, &rpc->pump);
    rpc->pump.data = rpc;
    uv_timer_init(rpc->loop, &rpc->trim_timer);
    rpc->trim_timer.data = rpc;
    uv_unref((uv_handle_t *)&rpc->trim_timer);
}

void fl__rpc_aux_close(struct fl_rpc *rpc, uv_close_cb closed)
{
    fl_list_foreach_safe (it, tmp, &rpc->ready) {
        client *cl = fl_container_of(it, client, ready_node);
        fl_list_remove(it);
        cl->ready = 0;
        client_unref(cl);
    }
    uv_close((uv_handle_t *)&rpc->pump, closed);
    uv_close((uv_handle_t *)&rpc->trim_timer, closed);
}

static client *client_new(struct fl_rpc *rpc)
{
    client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->refs = 1;
    cl->rpc = rpc;
    fl_list_init(&cl->queue);
    fl_list_init(&cl->ready_node);
    fl_list_push_back(&rpc->clients, &cl->node);
    return cl;
}

client *fl__client_detached(struct fl_rpc *rpc,
                            void (*sink)(void *arg, const char *text),
                            void *arg)
{
    client *cl = client_new(rpc);
    if (cl) {
        cl->sink = sink;
        cl->sink_arg = arg;
    }
    return cl;
}

/* Requests waiting may pass the high mark by what the connection had read
 * when reading paused (one read, one message); beyond this bound it did not
 * pause. */
static size_t queue_cap(const struct fl_rpc *rpc)
{
    size_t max_message = rpc->cfg.max_message ? rpc->cfg.max_message : (size_t)1 << 20;
    return FL_QUEUE_HIGH_BYTES + 2 * max_message + ((size_t)1 << 20);
}

void fl__client_feed(client *cl, const char *data, size_t len)
{
    size_t cost = sizeof(msg) + len + 1;
    if (cl->queued_bytes + cost > queue_cap(cl->rpc)) {
        fl_log(FL_LOG_ERROR,
               "client %s: %zu bytes of requests waiting although reading paused: "
               "closing it",
               cl->conn ? fl_rpc_conn_peer(cl->conn) : "(detached)", cl->queued_bytes);
        if (cl->conn)
            fl_rpc_conn_close(cl->conn, 1008, "Too many requests waiting");
        return;
    }
    msg *m = malloc(cost);
    if (!m) {
        if (cl->conn)
            fl_rpc_conn_close(cl->conn, 1011, "out of memory");
        return;
    }
    m->len = len;
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    fl_list_push_back(&cl->queue, &m->node);
    cl->queued_msgs++;
    cl->queued_bytes += cost;
    if (cl->conn && !cl->paused &&
        (cl->queued_msgs >= FL_QUEUE_HIGH_MSGS || cl->queued_bytes >= FL_QUEUE_HIGH_BYTES)) {
        cl->paused = 1;
        cl->rpc->read_pauses++;
        fl_log(FL_LOG_DEBUG, "client %s: %zu requests waiting: reading paused",
               fl_rpc_conn_peer(cl->conn), cl->queued_msgs);
        fl_rpc_conn_pause_reading(cl->conn, 1);
    }
    serve(cl);
}

void fl__client_close(client *cl)
{
    cl->conn = NULL;
    cl->sink = NULL;
    fl_list_remove(&cl->node);
    fl_list_foreach_safe (it, tmp, &cl->queue) {
        fl_list_remove(it); /* nobody is left to answer */
        free(fl_container_of(it, msg, node));
    }
    cl->queued_msgs = 0;
    cl->queued_bytes = 0;
    if (cl->ready) {
        fl_list_remove(&cl->ready_node);
        cl->ready = 0;
        cl->refs--; /* the line's; the caller's reference is dropped below */
    }
    if (cl->session[0]) {
        session *s = fl__session_get(cl->rpc, cl->session, 0);
        if (s && s->client == cl) {
            s->client = NULL;
            s->in_use = 1;
        }
    }
    client_unref(cl);
}

static void on_open(void *ctx, fl_rpc_conn *conn)
{
    client *cl = client_new(ctx);
    if (!cl) {
        fl_rpc_conn_close(conn, 1011, "out of memory");
        return;
    }
    cl->conn = conn;
    fl_rpc_conn_set_user(conn, cl);
    fl_log(FL_LOG_DEBUG, "connection from %s", fl_rpc_conn_peer(conn));
}

static void on_message(void *ctx, fl_rpc_conn *conn, const char *data, size_t len)
{
    (void)ctx;
    client *cl = fl_rpc_conn_get_user(conn);
    if (cl)
        fl__client_feed(cl, data, len);
}

static void on_close(void *ctx, fl_rpc_conn *conn)
{
    (void)ctx;
    client *cl = fl_rpc_conn_get_user(conn);
    if (!cl)
        return;
    fl_rpc_conn_set_user(conn, NULL);
    fl__client_close(cl);
}

void fl__protocol_callbacks(fl_rpc_server_callbacks *cb, struct fl_rpc *rpc);

void fl__protocol_callbacks(fl_rpc_server_callbacks *cb, struct fl_rpc *rpc)
{
    cb->ctx = rpc;
    cb->on_open = on_open;
    cb->on_message = on_message;
    cb->on_close = on_close;
    cb->on_http = fl__http_status;
}
