/* fluo.limits.*: what a session and the whole server may create, the file
 * descriptors kept in reserve, and memory handed back after big releases. */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

/* An endpoint takes a few sockets once it negotiates (UDP per interface and
 * family, ICE-TCP listeners, TURN): the estimate between two counts. On the
 * worker's shared port only its ICE-TCP listeners or TURN socket are its own. */
#define FDS_PER_ENDPOINT        8
#define FDS_PER_SHARED_ENDPOINT 2
/* Releases that make a trim worth it, and how long they must have settled. */
#define TRIM_AFTER_FREES 32
#define TRIM_DELAY_MS    200
/* A limit's refusals are logged once in this long (all are counted). */
#define LOG_EVERY_MS 10000

static const char *const limit_keys[FL_LIMIT_COUNT] = {
    [FL_LIMIT_OBJECTS_PER_SESSION] = "objectsPerSession",
    [FL_LIMIT_ENDPOINTS_PER_SESSION] = "endpointsPerSession",
    [FL_LIMIT_PIPELINES_PER_SESSION] = "pipelinesPerSession",
    [FL_LIMIT_OBJECTS] = "objects",
    [FL_LIMIT_ENDPOINTS] = "endpoints",
    [FL_LIMIT_PIPELINES] = "pipelines",
    [FL_LIMIT_SESSIONS] = "sessions",
    [FL_LIMIT_FD_RESERVE] = "fdReserve",
};

int fl__limits_is_endpoint(const kmd_class *cls)
{
    return fl__kmd_is_a(cls, "Endpoint");
}

/* Counts a refusal; logs one line per limit per LOG_EVERY_MS at most. */
static void note_refusal(struct fl_rpc *rpc,
                         enum fl__limit which,
                         const char *sid,
                         const char *what)
{
    rpc->limit_refusals[which]++;
    fl_log_rate *r = &rpc->limit_log[which];
    r->every_ms = LOG_EVERY_MS;
    unsigned long held;
    if (!fl_log_rate_allow(r, uv_now(rpc->loop), &held)) {
        fl_log(FL_LOG_DEBUG, "session %s: %s", sid, what);
        return;
    }
    fl_log(FL_LOG_WARN, "session %s: %s (%lu more refusals at this limit since the last line)", sid,
           what, held);
}

static void refuse(call *c, enum fl__limit which, int value, const char *scope)
{
    char text[200];
    snprintf(text, sizeof(text), "Limit reached: fluo.limits.%s (%d) %s", limit_keys[which], value,
             scope);
    note_refusal(c->rpc, which, c->session, text);
    fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "%s", text);
}

int fl__limits_check_create(call *c, const kmd_class *cls)
{
    struct fl_rpc *rpc = c->rpc;
    const fl_rpc_limits *l = &rpc->cfg.limits;
    session *s = fl__session_get(rpc, c->session, 0);
    if (s && s->internal)
        s = NULL; /* WHIP/WHEP: capped by fluo.whip.maxSessions instead */
    int pipeline = fl__kmd_is_a(cls, "MediaPipeline");
    int endpoint = fl__limits_is_endpoint(cls);
    static const char per_session[] = "for this session";
    static const char server[] = "on this server";
    if (s && pipeline && s->npipelines >= l->pipelines_per_session)
        refuse(c, FL_LIMIT_PIPELINES_PER_SESSION, l->pipelines_per_session, per_session);
    else if (s && endpoint && s->nendpoints >= l->endpoints_per_session)
        refuse(c, FL_LIMIT_ENDPOINTS_PER_SESSION, l->endpoints_per_session, per_session);
    else if (s && s->nobjects >= l->objects_per_session)
        refuse(c, FL_LIMIT_OBJECTS_PER_SESSION, l->objects_per_session, per_session);
    else if (pipeline && rpc->npipelines >= l->pipelines)
        refuse(c, FL_LIMIT_PIPELINES, l->pipelines, server);
    else if (endpoint && rpc->nendpoints >= l->endpoints)
        refuse(c, FL_LIMIT_ENDPOINTS, l->endpoints, server);
    else if (rpc->nobjects >= l->objects)
        refuse(c, FL_LIMIT_OBJECTS, l->objects, server);
    else if (endpoint) {
        struct rpc_err err;
        if (fl__limits_fd_check(rpc, 0, &err) == 0)
            return 0;
        fl__call_err_obj(c, &err);
    } else {
        return 0;
    }
    return FL_ERANGE;
}

int fl__limits_sessions_full(struct fl_rpc *rpc, int count_refusal)
{
    int n = rpc->cfg.limits.sessions;
    if ((int)fl_hmap_len(&rpc->sessions) < n)
        return 0;
    if (count_refusal) {
        char text[160];
        snprintf(text, sizeof(text), "Limit reached: fluo.limits.sessions (%d): no new session", n);
        note_refusal(rpc, FL_LIMIT_SESSIONS, "(new)", text);
    }
    return 1;
}

void fl__limits_session_refused(call *c)
{
    fl__call_err(c, KE_NOT_ENOUGH_RESOURCES,
                 "Limit reached: fluo.limits.sessions (%d) on this server",
                 c->rpc->cfg.limits.sessions);
}

/* ---- file descriptors ---- */

int fl__limits_fd_check(struct fl_rpc *rpc, int sockets, struct rpc_err *err)
{
    fl__fd_budget *b = &rpc->fds;
    if (fl__fd_budget_allows(b, uv_now(rpc->loop), 1)) {
        if (sockets)
            fl__fd_budget_adjust(b,
                                 rpc->cfg.single_port ? FDS_PER_SHARED_ENDPOINT : FDS_PER_ENDPOINT);
        return 0;
    }
    err->code = KE_NOT_ENOUGH_RESOURCES;
    snprintf(err->msg, sizeof(err->msg),
             "Limit reached: fluo.limits.fdReserve (%d): %ld of the %ld file descriptors "
             "(RLIMIT_NOFILE) are open, no sockets can be taken",
             b->reserve, b->counted + b->delta, b->limit);
    note_refusal(rpc, FL_LIMIT_FD_RESERVE, "-", err->msg);
    return FL_ERANGE;
}

/* ---- memory ---- */

static void trim(uv_timer_t *t)
{
    struct fl_rpc *rpc = t->data;
    if (rpc->pending_releases > 0) {
        uv_timer_start(&rpc->trim_timer, trim, TRIM_DELAY_MS, 0); /* not settled yet */
        return;
    }
    int64_t before = fl__used_memory_kb();
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    rpc->trims++;
    fl_log(FL_LOG_DEBUG, "%u objects freed: memory trimmed, resident %lld -> %lld KiB",
           rpc->frees_since_trim, (long long)before, (long long)fl__used_memory_kb());
    rpc->frees_since_trim = 0;
}

void fl__limits_trim_later(struct fl_rpc *rpc)
{
    if (rpc->shutting_down || rpc->frees_since_trim < TRIM_AFTER_FREES || rpc->pending_releases > 0)
        return;
    uv_timer_start(&rpc->trim_timer, trim, TRIM_DELAY_MS, 0);
}

/* ---- metrics ---- */

void fl__limits_metrics(struct fl_rpc *rpc, fl_bytes *b)
{
    fl_bytes_printf(b, "# HELP fluo_limit_refusals_total Requests refused at a fluo.limits.* "
                       "limit.\n# TYPE fluo_limit_refusals_total counter\n");
    for (int i = 0; i < FL_LIMIT_COUNT; i++)
        fl_bytes_printf(b, "fluo_limit_refusals_total{limit=\"%s\"} %lu\n", limit_keys[i],
                        rpc->limit_refusals[i]);

    const struct {
        const char *name, *type, *help;
        double v;
    } m[] = {
        { "fluo_objects", "gauge", "Media objects created by clients and alive.",
          (double)rpc->nobjects },
        { "fluo_endpoints", "gauge", "Endpoints (elements with sockets) alive.",
          (double)rpc->nendpoints },
        { "fluo_fd_near_limit_total", "counter",
          "Times the open descriptors passed 90% of RLIMIT_NOFILE less fdReserve.",
          (double)rpc->fds.near_total },
        { "fluo_memory_trims_total", "counter",
          "Times freed memory was handed back to the system after releases.", (double)rpc->trims },
    };

    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        fl_bytes_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", m[i].name, m[i].help,
                        m[i].name, m[i].type, m[i].name, m[i].v);
}
