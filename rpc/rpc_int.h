/* Private to rpc/: the class table, objects, sessions, calls. */
#ifndef FL_RPC_INT_H
#define FL_RPC_INT_H

#include <stdint.h>

#include <jansson.h>

#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "engine/fluo.h"
#include "rpc/rpc.h"
#include "rpc/server.h"

/* Kurento error codes (KurentoException.hpp) and JSON-RPC codes. */
enum {
    KE_MARSHALL_ERROR = 40001,
    KE_UNEXPECTED_ERROR = 40003,
    KE_CONNECT_ERROR = 40004,
    KE_UNSUPPORTED_MEDIA_TYPE = 40005,
    KE_NOT_IMPLEMENTED = 40006,
    KE_INVALID_SESSION = 40007,
    KE_MALFORMED_TRANSACTION = 40008,
    KE_NOT_ENOUGH_RESOURCES = 40009,
    KE_MEDIA_OBJECT_TYPE_NOT_FOUND = 40100,
    KE_MEDIA_OBJECT_NOT_FOUND = 40101,
    KE_MEDIA_OBJECT_METHOD_NOT_FOUND = 40105,
    KE_MEDIA_OBJECT_EVENT_NOT_SUPPORTED = 40106,
    KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR = 40107,
    KE_MEDIA_OBJECT_NOT_AVAILABLE = 40108,
    KE_MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT = 40109,
    KE_MEDIA_OBJECT_TAG_KEY_NOT_FOUND = 40110,
    KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED = 40111,
    KE_SDP_PARSE_ERROR = 40201,
    KE_SDP_END_POINT_GENERATE_OFFER_ERROR = 40204,
    KE_SDP_END_POINT_PROCESS_OFFER_ERROR = 40205,
    KE_SDP_END_POINT_PROCESS_ANSWER_ERROR = 40206,
    KE_SDP_END_POINT_ALREADY_NEGOTIATED = 40208,
    KE_SDP_END_POINT_NOT_OFFER_GENERATED = 40209,
    KE_ICE_GATHER_CANDIDATES_ERROR = 40400,
    KE_ICE_ADD_CANDIDATE_ERROR = 40401,
    KE_SERVER_MANAGER_ERROR_KMD_NOT_FOUND = 40500,
    JE_PARSE = -32700,
    JE_INVALID_REQUEST = -32600,
    JE_METHOD_NOT_FOUND = -32601,
    JE_INVALID_PARAMS = -32602,
    JE_INTERNAL = -32603,
};

/* ---- kmd.c: the classes, types and events of the loaded .kmd.json ---- */

typedef struct kmd_class {
    const char *name;      /* "WebRtcEndpoint" */
    const char *qualified; /* "kurento.WebRtcEndpoint" */
    const char *module;    /* "core" */
    struct kmd_class *parent;
    int abstract;
    json_t *def; /* the class object in the kmd document */
} kmd_class;

typedef struct kmd {
    json_t *docs[8];
    size_t ndocs;
    kmd_class *classes;
    size_t nclasses;
} kmd;

int fl__kmd_load(kmd *k);
void fl__kmd_unload(kmd *k);
/* By simple ("PassThrough") or qualified ("kurento.PassThrough") name. */
const kmd_class *fl__kmd_class(const kmd *k, const char *name);
int fl__kmd_is_a(const kmd_class *c, const char *ancestor);
json_t *fl__kmd_method(const kmd_class *c, const char *name);
/* Finds the property whose accessor is get<Rest>/set<Rest>. */
json_t *fl__kmd_property_by_accessor(const kmd_class *c, const char *rest);
int fl__kmd_has_event(const kmd_class *c, const char *event);
/* The kmd text of a module ("core"), NUL-terminated, or NULL. */
const char *fl__kmd_text(const char *module);
json_t *fl__kmd_module_infos(const kmd *k);

/* Checks `value` against a kmd type; on failure fills err (code + message). */
struct rpc_err {
    int code;
    char msg[256];
};
struct fl_rpc;
struct call;
/* An object id must name an object the call's session sees (isolated
 * sessions), else MEDIA_OBJECT_NOT_FOUND. */
int fl__kmd_check_value(const struct call *c,
                        const char *name,
                        const char *type,
                        json_t *value,
                        struct rpc_err *err);

/* ---- registry.c: objects and sessions ---- */

struct rpc_class;

typedef struct obj {
    int refs; /* registry + calls in flight */
    char *id;
    const kmd_class *cls;
    const struct rpc_class *impl; /* its row (classes.c); NULL: the ServerManager */
    struct obj *parent;           /* pipeline of an element; NULL otherwise */
    fl_list children;
    fl_list child_node;
    char *name;    /* NULL: the id */
    json_t *tags;  /* object: key -> value, insertion order */
    json_t *props; /* stored simple properties */
    int send_tags;
    int64_t creation_time; /* seconds since the epoch */
    int released;
    fl_pipeline *pipeline; /* for MediaPipeline */
    fl_element *element;   /* for elements */
    fl_list subs;          /* struct sub, by obj_node */
    fl_list holds;         /* struct hold: the sessions holding this object */
    size_t nholds;
    struct session *creator; /* counts it against its limits; NULL once dropped */
    fl_list creator_node;    /* in creator->created */
    int counted;             /* in the server-wide counts (a created object) */
    int endpoint;            /* an Endpoint: holds network sockets */
    struct fl_rpc *rpc;
} obj;

/* Longest session id accepted (Kurento takes any string; ours are UUIDs). */
#define FL_SESSION_ID_MAX 128

/* Limits that keep one client from growing the server without bound. */
#define FL_MAX_SUBS_PER_SESSION 10000
#define FL_MAX_TAGS             256
#define FL_MAX_TEXT             4096 /* a name, tag key or tag value */
#define FL_MAX_DESCRIPTION      256  /* a pad description */
/* Requests waiting behind a running one: reading from the connection pauses
 * at the high marks and resumes below the low ones (bytes count each
 * message's size and overhead). */
#define FL_QUEUE_HIGH_MSGS  256
#define FL_QUEUE_LOW_MSGS   64
#define FL_QUEUE_HIGH_BYTES (4u << 20)
#define FL_QUEUE_LOW_BYTES  (1u << 20)
/* One client's slice of a loop turn: requests started, bytes answered. */
#define FL_SLICE_MSGS  32
#define FL_SLICE_BYTES (256u << 10)

typedef struct session {
    char *id;
    struct client *client; /* associated connection, or NULL */
    int in_use;            /* marked since the last garbage collection */
    fl_hmap holds;         /* object id -> struct hold */
    fl_list subs;          /* struct sub, by session_node */
    size_t nsubs;
    fl_list created; /* obj it created that are alive, by creator_node */
    int nobjects;    /* counted against fluo.limits.*PerSession */
    int nendpoints;
    int npipelines;
    uint64_t emit_mark; /* last event sent to it (one copy per event) */
    int internal;       /* the server's own (WHIP/WHEP): the per-session limits do not apply */
} session;

/* A session holding an object (Kurento's MediaSet ref). */
typedef struct hold {
    session *s;
    struct obj *o;
    fl_list obj_node;
} hold;

typedef struct sub {
    char id[37];
    char type[64];
    session *s;
    obj *o;
    fl_list obj_node;
    fl_list session_node;
} sub;

/* ---- protocol.c: connections and calls ---- */

typedef struct client {
    int refs;
    fl_rpc_conn *conn; /* NULL once closed */
    struct fl_rpc *rpc;
    char session[FL_SESSION_ID_MAX]; /* associated session, "" if none */
    fl_list queue;                   /* struct msg waiting */
    size_t queued_msgs;
    size_t queued_bytes;
    int busy;
    int pumping;
    int paused; /* reading from the connection is stopped */
    int ready;  /* in rpc->ready, waiting for its slice (holds a ref) */
    fl_list ready_node;
    size_t out_bytes;    /* sent to it so far */
    unsigned slice_msgs; /* requests started in its current slice */
    size_t slice_out;    /* out_bytes when the slice began */
    fl_list node;
    /* A client with no connection (tests, fuzzing) hands its output here. */
    void (*sink)(void *arg, const char *text);
    void *sink_arg;
} client;

/* A client with no socket: every reply and event it gets goes to sink. */
client *fl__client_detached(struct fl_rpc *rpc,
                            void (*sink)(void *arg, const char *text),
                            void *arg);
/* Queues one message from the client, as a connection would. */
void fl__client_feed(client *cl, const char *data, size_t len);
/* Like a closed connection. */
void fl__client_close(client *cl);

typedef struct call call;
typedef void (*call_done_fn)(call *c);

struct call {
    struct fl_rpc *rpc;
    client *cl; /* may be NULL (transaction inner calls keep the outer) */
    json_t *id;
    const char *method;
    json_t *params; /* owned reference */
    char session[FL_SESSION_ID_MAX];
    int had_session; /* given in params or injected from the connection */
    int bad_session; /* given but unusable */
    json_t *result;  /* on success */
    json_t *error;   /* on failure */
    call_done_fn done;
    void *ctx;
    /* per-operation state */
    obj *target;
    obj *other;
};

/* What a create or a new session can run into (fluo.limits.*); the metrics
 * count refusals per limit. */
enum fl__limit {
    FL_LIMIT_OBJECTS_PER_SESSION,
    FL_LIMIT_ENDPOINTS_PER_SESSION,
    FL_LIMIT_PIPELINES_PER_SESSION,
    FL_LIMIT_OBJECTS,
    FL_LIMIT_ENDPOINTS,
    FL_LIMIT_PIPELINES,
    FL_LIMIT_SESSIONS,
    FL_LIMIT_FD_RESERVE,
    FL_LIMIT_COUNT
};

struct fl_rpc {
    uv_loop_t *loop;
    fl_engine *engine;
    fl_rpc_server *server;
    fl_rpc_config cfg;
    kmd kmd;
    fl_hmap objects;  /* id -> obj */
    fl_hmap elements; /* "%p" of fl_element -> obj */
    fl_hmap sessions; /* id -> session */
    fl_hmap subs;     /* id -> sub */
    fl_list clients;
    obj *manager;
    char server_id[37];
    uv_timer_t gc_timer;
    int64_t start_ms;
    unsigned long calls_total;
    unsigned long errors_total;
    unsigned long events_total;
    int shutting_down;
    int calls_in_flight;
    uint64_t emit_seq;
    fl_list cpu_samples; /* getUsedCpu calls waiting on their timers */
    int pending_releases;
    /* The request pump: clients with requests waiting get a slice each per
     * loop turn, round-robin (protocol.c). */
    uv_idle_t pump;
    fl_list ready;             /* client, by ready_node */
    unsigned long read_pauses; /* times a connection's reading was paused */
    /* Created objects alive, and the limits' refusals (limits.c). */
    int nobjects;
    int nendpoints;
    int npipelines;
    unsigned long limit_refusals[FL_LIMIT_COUNT];
    fl_log_rate limit_log[FL_LIMIT_COUNT]; /* a refusal's log line, one per limit per 10 s */
    fl_log_rate mdns_log;                  /* the unresolved mDNS candidate warning */
    fl__fd_budget fds;                     /* the daemon's, shared with the control server */
    fl_hmap uploads; /* HttpPostEndpoint URL token -> upload_url (ops_http_post.c) */
    /* Memory freed by releases is handed back to the system once they settle. */
    uv_timer_t trim_timer;
    unsigned frees_since_trim;
    unsigned long trims;
    struct whip *whip; /* WHIP/WHEP (whip.c), made by the first request; NULL until then */
    int shutdown_handles;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

obj *fl__obj_new(struct fl_rpc *rpc, const kmd_class *cls, obj *parent, const char *id);
obj *fl__obj_find(struct fl_rpc *rpc, const char *id);
/* The object of an engine element; with any, also one being released (for
 * the events its release raises). */
obj *fl__obj_from_element(struct fl_rpc *rpc, const fl_element *e, int any);
void fl__obj_register_element(struct fl_rpc *rpc, obj *o);
void fl__obj_ref(obj *o);
void fl__obj_unref(obj *o);
/* Releases o and its children: unregisters now, frees after the engine is
 * done; done(arg) runs then (may be NULL). */
void fl__obj_release(obj *o, void (*done)(void *arg), void *arg);
const char *fl__obj_name(const obj *o);
/* The tags as Kurento's Tag[] (with __module__/__type__). */
json_t *fl__obj_tags_json(const obj *o);

/* Counts a created object against its creator's limits and the server's
 * (until it is released). */
void fl__obj_account(obj *o, struct session *creator);

/* NULL if absent or released; with create, NULL also when out of memory or
 * at fluo.limits.sessions (fl__limits_sessions_full tells). */
session *fl__session_get(struct fl_rpc *rpc, const char *id, int create);
/* The session holds o and its ancestors (a pipeline lives while a session
 * holds one of its elements). */
void fl__session_hold(session *s, obj *o);
/* The session lets go of o (and its subscriptions on o); o is released when
 * no session holds it any more. */
void fl__session_unhold(session *s, obj *o);
/* Forgets a session: its subscriptions go, objects no other session holds
 * are released. */
void fl__session_drop(struct fl_rpc *rpc, session *s);
void fl__gc_run(struct fl_rpc *rpc);
/* Frees the service once shutdown has nothing left in flight. */
void fl__rpc_maybe_finish(struct fl_rpc *rpc);

/* ---- limits.c: fluo.limits.*, the fd budget, memory given back ---- */

/* An element that holds network sockets (every *Endpoint class). */
int fl__limits_is_endpoint(const kmd_class *cls);
/* Checks the limits a new object of cls created by the call's session would
 * pass; on refusal answers the call (NOT_ENOUGH_RESOURCES naming the limit)
 * and returns FL_ERANGE. */
int fl__limits_check_create(call *c, const kmd_class *cls);
/* At fluo.limits.sessions; counts a refusal when count_refusal. */
int fl__limits_sessions_full(struct fl_rpc *rpc, int count_refusal);
/* Answers the call with the sessions limit's error. */
void fl__limits_session_refused(call *c);
/* Before an endpoint is created (sockets 0) or takes its sockets (1): 0 when
 * more than fluo.limits.fdReserve descriptors are left below RLIMIT_NOFILE
 * (then the sockets about to open count in the estimate until the next
 * count), else FL_ERANGE with err filled (NOT_ENOUGH_RESOURCES naming it). */
int fl__limits_fd_check(struct fl_rpc *rpc, int sockets, struct rpc_err *err);
/* Hands freed memory back to the system a moment after releases settle. */
void fl__limits_trim_later(struct fl_rpc *rpc);
void fl__limits_metrics(struct fl_rpc *rpc, fl_bytes *b);

/* ---- isolated sessions (fluo.isolatedSessions) ---- */

/* Whether the call's session may see o: always, unless the server isolates
 * sessions; then only objects its session holds, and the ServerManager. */
int fl__call_sees(const call *c, const obj *o);
/* fl__obj_find limited to what the call's session sees. */
obj *fl__call_find(const call *c, const char *id);

/* ---- calls ---- */
void fl__call_ok(call *c, json_t *value); /* steals value; NULL: "value":null */
void fl__call_ok_plain(call *c);          /* {"sessionId"} only */
void fl__call_err(call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fl__call_err_obj(call *c, const struct rpc_err *e);
void fl__exec(call *c); /* runs c->method; calls c->done */
const char *fl__error_type(int code);

/* ---- ops.c: invoke operations and create ---- */
void fl__op_create(call *c);
void fl__op_invoke(call *c);
/* Answers c with the engine element's call `operation` (fl_element_invoke),
 * its arguments the parameters named in `params` (at most 8) in that
 * order: strings as they are, numbers and booleans ("true"/"false") as
 * text, and a name starting with '@' an object of engine type elem_type
 * (its element's name). Engine errors: FL_EINVAL, FL_ENOENT, FL_EMSGSIZE
 * and FL_ERANGE are MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, the others
 * UNEXPECTED_ERROR, with the engine's why. */
void fl__call_invoke(call *c,
                     obj *o,
                     json_t *p,
                     const char *elem_type,
                     const char *const *params,
                     size_t n);
void fl__op_release(call *c);
void fl__transaction(call *c);

/* An implementation of an operation of a class (ops_element.c holds the table). */
typedef void (*op_fn)(call *c, obj *o, json_t *p);

struct op {
    const char *cls;
    const char *name;
    op_fn fn;
};
/* What every object answers (MediaObject, MediaElement, MediaPipeline,
 * ServerManager: ops_element.c). */
extern const struct op fl__ops[];

/* ---- classes.c: one row per class fluo can create ---- */

/* A class as the protocol sees it. The row of a class lives beside its
 * operations (rpc/ops_<class>.c) and is listed once in classes.c. */
typedef struct rpc_class {
    const char *name;        /* Kurento's class: "WebRtcEndpoint" */
    const char *engine_type; /* the engine's element type; NULL: the pipeline itself */
    /* Its methods and property accessors, by the kmd class that declares
     * each (an SdpEndpoint method is its own too); searched before
     * fl__uri_ops and fl__ops. Ends with a NULL name. NULL: none of its own. */
    const struct op *ops;
    /* The rest may be NULL. Rules of the constructor the kmd states in words
     * only: answers c and returns FL_EINVAL when one is broken. */
    int (*check_ctor)(call *c, json_t *ctor);
    /* Sets the server's settings and the constructor's parameters on the new
     * element; 0, or the engine's error (the create then fails). */
    int (*configure)(struct fl_rpc *rpc, fl_element *e, json_t *ctor);
    /* Kurento's onEvent data (and *type) for an engine event of its own, or
     * NULL to drop it; the events of every element are rpc/events.c's. */
    json_t *(*event)(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type);
} rpc_class;

/* ---- ops_http_post.c: HttpPostEndpoint's upload URLs ---- */

/* The control server's /httppost/ route (service.c's on_request): FL_ENOENT
 * for another path, else 0 (the request answered or taken). */
int fl__http_post_route(struct fl_rpc *rpc, fl_rpc_http *req);
/* Frees rpc->uploads (fl_hmap_init'ed by fl_rpc_create), at the end. */
void fl__http_post_free(struct fl_rpc *rpc);

/* ---- ops_sdp.c: what WebRtcEndpoint and RtpEndpoint share ---- */

/* SdpEndpoint's and BaseRtpEndpoint's methods and property accessors
 * (the SDP steps, bandwidths, RembParams, media and connection state,
 * requestKeyframe); searched after a class row's ops. */
extern const struct op fl__sdp_ops[];
/* A property the engine element holds, by the accessor's name, as its kmd
 * type (records built from the engine's plain text). */
void fl__sdp_get_prop(call *c, obj *o, json_t *p);
void fl__sdp_set_prop(call *c, obj *o, json_t *p);
/* ConnectionStateChanged, MediaStateChanged, MediaTranscodingStateChanged
 * for their engine events; NULL for another. */
json_t *fl__sdp_event(obj *o, const fl_event *ev, const char **type);

/* ---- ops_uri.c: what RecorderEndpoint and PlayerEndpoint share ---- */

/* 1 when path (decoded, absolute) is inside one of the ':'-separated
 * roots: its folder, with symbolic links resolved, is a root's (resolved
 * too) or below it. A folder that does not exist is inside none. */
int fl__uri_inside_roots(const char *roots, const char *path);
/* Whether the server may read `uri`: one starting with a scheme of
 * `network` ("http://") that names a host, or a file:// URI inside
 * fluo.playRoots; 0, or FL_EINVAL with c answered (schemes_why says what
 * is read, for a URI of another scheme). */
int fl__uri_check_readable(call *c,
                           const char *uri,
                           const char *const *network,
                           size_t n_network,
                           const char *schemes_why);
/* The engine's call named by the operation, with no argument; its answer
 * (no value) or its error. */
void fl__uri_invoke(call *c, obj *o, json_t *p);
/* UriEndpoint's own methods and getters (pause, stop, getUri, getState),
 * which every class below it answers alike; searched after a class row's
 * ops and before fl__ops. */
extern const struct op fl__uri_ops[];
/* UriEndpointStateChanged for FL_EVENT_URI_STATE; NULL for another. */
json_t *fl__uri_event(obj *o, const fl_event *ev, const char **type);

/* The row of a class fluo creates, by Kurento's simple name; NULL when it
 * cannot create it (yet). */
const rpc_class *fl__class_find(const char *name);

/* ServerManager operations (manager.c) */
void fl__sm_get_info(call *c, obj *o, json_t *p);
void fl__sm_get_pipelines(call *c, obj *o, json_t *p);
void fl__sm_get_sessions(call *c, obj *o, json_t *p);
void fl__sm_get_metadata(call *c, obj *o, json_t *p);
void fl__sm_get_kmd(call *c, obj *o, json_t *p);
void fl__sm_get_cpu_count(call *c, obj *o, json_t *p);
void fl__sm_get_used_cpu(call *c, obj *o, json_t *p);
void fl__sm_get_used_memory(call *c, obj *o, json_t *p);
/* Answers every getUsedCpu still sampling (at shutdown). */
void fl__sm_cancel_cpu_samples(struct fl_rpc *rpc);

/* protocol.c */
void fl__client_send(client *cl, json_t *j);
/* The service's handles besides the garbage collector's timer (the request
 * pump, the memory trim timer): fl_rpc_create inits them once nothing can
 * fail any more, fl_rpc_shutdown closes them; `closed` runs for each. */
#define FL_RPC_AUX_HANDLES 2
void fl__rpc_aux_init(struct fl_rpc *rpc);
void fl__rpc_aux_close(struct fl_rpc *rpc, uv_close_cb closed);
void fl__protocol_callbacks(fl_rpc_server_callbacks *cb, struct fl_rpc *rpc);

/* ---- events.c ---- */
void fl__event_emit(struct fl_rpc *rpc, obj *o, const char *type, json_t *data);
/* An event of the ServerManager about `subject` (ObjectCreated,
 * ObjectDestroyed): with isolated sessions, only sessions holding or having
 * created the subject get it. */
void fl__event_emit_about(struct fl_rpc *rpc, const obj *subject, const char *type, json_t *data);
json_t *fl__event_base(obj *source, const char *type);
void fl__engine_event(void *arg, const fl_event *ev);

/* ---- stats_json.c ---- */
/* MediaElement.getStats's answer for n entries of the element named `name`
 * (its engine name: the object's id): Kurento's map of stats records keyed
 * by id, each with __module__/__type__. NULL when out of memory. */
json_t *fl__stats_json(const char *name, const fl_stats *entries, size_t n);

/* ---- manager.c: status page, metrics, process figures ---- */
int fl__http_status(void *ctx, const char *path, fl_bytes *body, const char **content_type);
int64_t fl__used_memory_kb(void);
int fl__cpu_count(void);

#endif
