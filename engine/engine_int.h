/* Private declarations of the engine module.
 *
 * Ownership and threads: fl_pipeline and fl_element are at once the caller's
 * handles and the worker-side objects. Their immutable fields (engine, worker,
 * pipeline, type, name, id) are set on the caller's thread before the object
 * is published and may be read from any thread; every other field belongs to
 * the worker thread. Handles are refcounted with atomics: the caller holds one
 * reference from create until its release's done callback has run, and each
 * posted call or queued reply holds one while it exists. */
#ifndef FL_ENGINE_ENGINE_INT_H
#define FL_ENGINE_ENGINE_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "base/list.h"
#include "engine/deadline.h"
#include "engine/fluo.h"
#include "net/cert.h"
#include "sdp/sdp.h"

/* Buffers of the per-worker pool. */
#define FL__POOL_SIZE     2048
#define FL__POOL_HEADROOM 128
#define FL__POOL_PREALLOC 256

/* A media type bit to an index 0..2; -1 when not exactly one valid bit. */
int fl__media_index(unsigned media);

typedef struct fl__worker fl__worker;
typedef struct fl__call fl__call;
typedef struct fl__reply fl__reply;
typedef struct fl__pad fl__pad;
typedef struct fl__stats_out fl__stats_out;
typedef struct fl__xcode fl__xcode;
typedef struct fl__codec_pool fl__codec_pool;

/* ---- calls: closures run on a worker, in the order they were posted ---- */

enum fl__reply_kind {
    FL__REPLY_DONE,
    FL__REPLY_TEXT,
    FL__REPLY_CONNS,
    FL__REPLY_STATS,
    FL__REPLY_BOOL,
    FL__REPLY_EVENT,
};

typedef void (*fl__call_fn)(fl__call *c);

struct fl__call {
    fl_list node;
    fl__call_fn run;
    fl__worker *worker;
    fl_pipeline *pipeline; /* referenced while the call lives (may be NULL) */
    fl_element *element;   /* referenced while the call lives (may be NULL) */
    fl_element *peer;      /* referenced while the call lives (may be NULL) */
    unsigned media;
    int dir;
    char *desc; /* copies, in the tail of the allocation (may be NULL) */
    char *peer_desc;

    union {
        fl_done_fn done;
        fl_text_fn text;
        fl_connections_fn conns;
        fl_stats_fn stats;
        fl_bool_fn boolean;
        fl_event_fn event;
        fl_media_fn media;
    } cb;

    void *arg;
    fl__reply *reply; /* its callback's, made before it was posted (see fl__call_submit) */
    const struct fl__method *method; /* fl_element_invoke: the method and its */
    size_t nargs;                    /* arguments, packed in data ("a\0b\0") */
    size_t len;
    uint8_t *data; /* len bytes in the tail of the allocation (NULL when len is 0) */
};

/* Allocates a call whose tail holds copies of desc and peer_desc (each may
 * be NULL) and room for len bytes at c->data, copied from data when it is
 * not NULL. Takes references on p, e and peer. */
fl__call *fl__call_new(fl__worker *w,
                       fl__call_fn run,
                       fl_pipeline *p,
                       fl_element *e,
                       fl_element *peer,
                       const char *desc,
                       const char *peer_desc,
                       const uint8_t *data,
                       size_t len);

/* Queues the call on its worker and wakes it; frees the call and returns
 * FL_ECLOSED when the worker has stopped. */
int fl__call_post(fl__call *c);

/* fl__call_post, but a call refused (FL_ECLOSED) stays the caller's. */
int fl__call_try_post(fl__call *c);

/* Hands c's reply, callback and argument over to n (a call just made for
 * the next worker, NULL when that failed) and posts it. Returns 0, or
 * FL_ENOMEM (n NULL) / FL_ECLOSED (a stopped worker) with n freed and c
 * keeping its reply, to complete itself. */
int fl__call_relay(fl__call *c, fl__call *n);

/* How a public call keeps fluo.h's rule (its callback runs exactly once
 * when it returns 0, never when it returns an error): the reply of `kind`
 * is allocated here, before the call is posted, unless c->reply is set
 * already or the call has no callback (a NULL done). Returns 0, or
 * FL_ENOMEM / FL_ECLOSED with the call freed. The call's run completes it
 * with fl__call_done, fl__call_text or fl__call_reply. */
int fl__call_submit(fl__call *c, enum fl__reply_kind kind);

/* Drops the call's references and frees it (on the worker, after run). */
void fl__call_free(fl__call *c);

/* ---- replies: callbacks delivered on the callback loop or the worker ---- */

struct fl__reply {
    fl_list node;
    enum fl__reply_kind kind;

    union {
        fl_done_fn done;
        fl_text_fn text;
        fl_connections_fn conns;
        fl_stats_fn stats;
        fl_bool_fn boolean;
        fl_event_fn event;
    } cb;

    void *arg;
    int status;
    int value;
    char *text;           /* TEXT: owned copy */
    fl_connection *conns; /* CONNS: n entries; descriptions in the tail */
    fl_stats *stats;      /* STATS: n entries, owned */
    size_t n;
    fl_event ev;                 /* EVENT: strings in the tail */
    fl_pipeline *unref_pipeline; /* dropped after the callback ran */
    fl_element *unref_element;
    fl_list unref_elements; /* fl_element.node: dropped after the callback */
};

/* Allocates a zeroed reply with `extra` tail bytes (at reply + 1). */
fl__reply *fl__reply_new(enum fl__reply_kind kind, size_t extra);

/* Runs the reply at once (no callback loop) or queues it to the callback
 * loop. Called on a worker thread. */
void fl__reply_deliver(fl_engine *engine, fl__reply *r);

/* Takes the call's reply (NULL when it has no callback) with its callback,
 * argument and status set, for the caller to fill and deliver. */
fl__reply *fl__call_reply(fl__call *c, int status);

/* Completes a call with status through its done callback (if any). */
void fl__call_done(fl__call *c, int status);

/* Completes a call through its text callback with a copy of text (may be
 * NULL; a copy that cannot be made turns a success into FL_ENOMEM). */
void fl__call_text(fl__call *c, int status, const char *text);

/* ---- engine and workers ---- */

struct fl__worker {
    fl_engine *engine;
    int index;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t async;
    uv_check_t check;        /* flushes batched counters once per iteration */
    uv_prepare_t prepare;    /* wakes bridges' workers before the loop blocks */
    fl__deadline flow_timer; /* runs while some pad is flowing */
    uv_mutex_t lock;         /* protects calls and closed */
    fl_list calls;
    int closed;
    atomic_int npipelines;
    /* worker thread only */
    fl_buf_pool *pool;
    fl_list pipelines;       /* fl_pipeline.node */
    fl_list flowing;         /* fl__pad.flow_node */
    fl_cert *cert;           /* DTLS certificate, made on first use */
    struct fl__udp_mux *mux; /* shared media sockets, made on first use (fl__worker_mux) */
    uint64_t graph_gen;      /* bumped by every link made or removed and every
                              * change of an element's caps */
    fl_list bridges_in;      /* fl__bridge (engine/bridge.c) feeding this worker */
    fl_list bridges_out;     /* fl__bridge fed from this worker */
    fl_list bridges_wake;    /* fl__bridge with packets queued since the last wake */
    uint64_t packets;        /* not yet added to the engine's counters */
    uint64_t bytes;
};

struct fl_engine {
    int nworkers;
    fl__worker *workers;
    uv_loop_t *cb_loop;
    uv_async_t *cb_async; /* freed in its close callback */
    uv_mutex_t cb_lock;   /* protects cb_queue */
    fl_list cb_queue;
    uv_mutex_t live_lock; /* protects live */
    fl_list live;         /* fl_pipeline.live_node: not yet released */
    atomic_uint_fast64_t pipelines;
    atomic_uint_fast64_t elements;
    atomic_uint_fast64_t calls_posted;
    atomic_uint_fast64_t media_packets;
    atomic_uint_fast64_t media_bytes;
    atomic_uint_fast64_t next_id;
    uv_mutex_t codecs_lock; /* protects codecs and codecs_stopped */
    fl__codec_pool *codecs; /* transcoders' threads (engine/transcode.c), from the first one */
    int codecs_stopped;
    int codec_threads;  /* how many; 0: one per core */
    int endpoint_ports; /* fl_engine_config's */
    int udp_port;
    int spread_from;
};

/* An element's caps (its type's caps hook) changed: every format match
 * downstream is decided again, before its next packet. Worker thread. */
static inline void fl__worker_caps_changed(fl__worker *w)
{
    w->graph_gen++;
}

/* The worker's shared UDP sockets (engine/udp_mux.h), made on first use;
 * NULL when every endpoint opens its own (fl_engine_config.endpoint_ports)
 * or out of memory. Worker thread. */
struct fl__udp_mux *fl__worker_mux(fl__worker *w);

/* Wakes the worker's loop unless it stopped. Any thread. */
void fl__worker_wake(fl__worker *w);

/* Adds the worker's batched counters to the engine's. Worker thread. */
void fl__worker_flush_stats(fl__worker *w);

/* Starts the worker's flow timer if it is not running. Worker thread. */
void fl__worker_flow_timer_start(fl__worker *w);

/* ---- pipelines ---- */

/* A pipeline's part on one worker: the elements placed there. */
typedef struct fl__shard {
    atomic_int placed; /* elements placed there and not yet torn down */
    atomic_int used;   /* some element was placed there: release and DOT visit it */
    /* that worker's thread only */
    int dead;         /* the pipeline's release reached it */
    fl_list elements; /* fl_element.node */
} fl__shard;

struct fl_pipeline {
    atomic_int refs;
    atomic_int released; /* caller side: release posted (set under live_lock) */
    fl_engine *engine;
    fl__worker *worker; /* its home: where its elements go unless it spreads */
    uint64_t id;
    fl_list live_node; /* in engine->live, under live_lock */
    /* home worker thread only */
    fl_list node; /* in worker->pipelines */
    /* one per worker of the engine (fl_engine_config.spread_from) */
    fl__shard shards[];
};

/* The pipeline's part on worker w. */
static inline fl__shard *fl__shard_of(fl_pipeline *p, const fl__worker *w)
{
    return &p->shards[w->index];
}

void fl__pipeline_ref(fl_pipeline *p);
void fl__pipeline_unref(fl_pipeline *p);

/* Whether some pipeline's release has not completed yet. Any thread. */
int fl__pipeline_busy(fl_engine *engine);

/* Whether the pipeline's release was posted. Any thread. */
int fl__pipeline_released(const fl_pipeline *p);

/* ---- elements and pads ---- */

/* Most arguments a method of fl_element_invoke takes. */
#define FL__METHOD_ARGS_MAX 8

/* A call a type answers beyond every element's (fl_element_invoke). */
typedef struct fl__method {
    const char *name;            /* Kurento's: "processOffer" */
    int id;                      /* the type's own number for it */
    unsigned min_args, max_args; /* how many string arguments it takes */
} fl__method;

/* One fl_element_invoke call as the type's invoke hook sees it. */
typedef struct fl__invocation {
    const fl__method *method; /* its row in the type's methods */
    const char *const *args;  /* nargs strings, within the row's bounds */
    size_t nargs;
    const char *result; /* hook: the result text on success (NULL: ""), copied after it returns */
    char why[512];      /* hook: on failure, why in words ("": fl_strerror's phrase) */
    fl__call *call;     /* the call it came in (fl__invocation_defer) */
} fl__invocation;

/* A hook that answers later (a call that waits for I/O) takes the answer
 * with fl__invocation_defer and returns FL__INVOKE_LATER; it then completes
 * it exactly once, on the worker, with fl__deferred_text (the element may
 * be gone by then: the answer does not need it). */
#define FL__INVOKE_LATER 1

typedef struct fl__deferred {
    fl_engine *engine;
    fl__reply *reply; /* NULL: nobody waits for the answer */
} fl__deferred;

fl__deferred fl__invocation_defer(fl__invocation *inv);
void fl__deferred_text(fl__deferred *d, int status, const char *text);

typedef struct fl__element_type {
    const char *name;
    /* Receives a packet on a sink pad and consumes the reference. */
    void (*receive)(fl_element *e, fl__pad *sink, fl_buf *buf);
    /* The rest may be NULL. Worker thread. */
    int (*init)(fl_element *e);  /* after the default pads exist */
    void (*fini)(fl_element *e); /* at teardown, links already removed */
    /* A sink downstream wants a key frame of this media: `join` for a sink
     * that starts receiving (never held back by a throttle), 0 to repair. */
    void (*key_frame)(fl_element *e, unsigned media, int join);
    /* The same for one simulcast layer of what it sends (0 lowest); NULL:
     * key_frame is asked instead. */
    void (*key_frame_layer)(fl_element *e, unsigned media, int layer, int join);
    /* The format its source pads carry for this media; NULL unknown. A
     * type whose answer changes calls fl__worker_caps_changed then: what
     * is downstream looks again on its next packet, never per packet. */
    const fl_sdp_codec *(*caps)(fl_element *e, unsigned media);
    int (*set_property)(fl_element *e, const char *name, const char *value);
    int (*get_property)(fl_element *e, const char *name, char *out, size_t cap);
    /* Adds its statistics entries (fl__stats_add) for the media in the
     * mask; NULL: one FL_STATS_ELEMENT entry. */
    void (*stats)(fl_element *e, unsigned media, fl__stats_out *out);
    /* A link into one of its sink pads was made. */
    void (*linked)(fl_element *e, fl__pad *sink);
    /* A sink pad that takes a transcoder's media after a change of the
     * graph: the element decides its route again (it may leave the
     * transcoder), as it does on its next packet otherwise; a silent
     * transcoder sends none. NULL: nothing to decide. */
    void (*reroute)(fl_element *e, fl__pad *sink);
    /* What it can take of the media reaching its sinks, bit/s (its peer's
     * REMB within its own bounds); 0 when it has no limit to give. */
    uint64_t (*bitrate)(fl_element *e, unsigned media);
    /* 0 while it cannot take this media yet (it then asks for a key frame
     * itself once it can); NULL: always can. */
    int (*receiving)(fl_element *e, unsigned media);
    /* The last RTCP Sender Report of the stream `ssrc` its source pads of
     * this media carry: its RTP timestamp and the moment it stands for, on
     * the worker's clock (fl_transport_sender_report): 0, or FL_ENOENT. */
    int (*sender_report)(fl_element *e,
                         unsigned media,
                         uint32_t ssrc,
                         uint32_t *rtp_ts,
                         fl_time *sent);
    /* The stream reaching a sink pad ended (its producer sent all it had:
     * a player's end of file). NULL: nothing to do. */
    void (*end_of_stream)(fl_element *e, fl__pad *sink);
    /* The calls it answers beyond every element's: `methods` lists them (a
     * NULL name ends it), read on the caller's thread so fl_element_invoke
     * refuses an unknown name or a wrong count of arguments at once;
     * `invoke` runs one on the worker, the element alive, and returns 0 or
     * a negative code (setting inv->result or inv->why). */
    const fl__method *methods;
    int (*invoke)(fl_element *e, fl__invocation *inv);
    /* Writes DOT edges of its own beyond its links (dot.c's printf; nodes
     * are e<id>): what it routes inside (a hub's ports). NULL: none. */
    void (*dot)(const fl_element *e,
                void (*out)(void *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3))),
                void *arg);
    /* 1: an endpoint, the many of a broadcast: a pipeline that spreads over
     * the workers (fl_engine_config.spread_from) may place it anywhere. */
    int spreads;
    /* 1: a hub, its impl an fl__hub (engine/hub.h): HubPorts join it. */
    int hub;
    /* 1: it takes and passes every layer of a simulcast source: as a sink
     * (a WebRtcEndpoint picks one per viewer; a PassThrough or a bridge
     * passes them on) and as a source (a WebRtcEndpoint's publisher, a
     * PassThrough, a bridge push them all); 0: its sinks get the best
     * layer alone (fl__pad_push picks it) and it pushes one stream. */
    int simulcast;
} fl__element_type;

/* The type called `name`, NULL when the engine has none. */
const fl__element_type *fl__element_type_find(const char *name);

struct fl__pad {
    fl_list node;      /* in element->pads */
    fl_list flow_node; /* in worker->flowing while flowing */
    fl_element *element;
    fl__pad *twin; /* the pad of the other direction, same media and description */
    int dir;       /* FL_DIR_SOURCE or FL_DIR_SINK */
    unsigned media;
    int flowing;
    uint64_t last_ms; /* fl__clock_now of the last packet, in ms (a sink's: of the
                       * one its element's receive hook has); 0: never */
    fl__pad *src;     /* sink pad: its source, or NULL */
    fl__pad **sinks;  /* source pad: its sinks */
    size_t nsinks;
    size_t cap;
    fl__xcode *xc;       /* sink pad: the transcoder its media comes through, or NULL */
    uint64_t xc_gen;     /* sink pad: the worker's graph_gen at its last reroute */
    uint32_t bridge_seq; /* sink pad linked to a bridge: the connect that linked it */
    fl_list xcodes;      /* source pad: its transcoders (fl__xcode.node) */
    /* source pad of simulcast (buffers with rtp.layer): the layer + 1 its
     * single-stream sinks and transcoders get (0: none yet), and when each
     * layer had its last packet (ms) */
    uint8_t sim_best;
    uint64_t sim_last_ms[4];
    /* source pad of simulcast: each layer's bitrate per TID (rtp.tid 0-3)
     * over the last two seconds, measured here once for all its viewers
     * (fl__pad_push), from the bytes of this second and the one before */
    uint32_t sim_bps[4][4];
    uint32_t sim_win[4][4], sim_prev[4][4];
    uint64_t sim_win_ms, sim_prev_ms; /* this second's start; the one before's length */
    /* sink pad: the simulcast layers its element takes (bit l: layer l), so
     * that fl__pad_push hands a viewer only those; 0: every layer */
    uint8_t sim_want;
    char desc[];
};

/* What an element is asked to output of one media (setAudioFormat /
 * setVideoFormat): a codec ("" any), and video caps (0 none). */
typedef struct fl__format {
    char codec[16];
    int fps, width, height;
    int kbps; /* audio: the encoder's bitrate */
} fl__format;

struct fl_element {
    atomic_int refs;
    atomic_int closing; /* caller side: its release was posted */
    fl_engine *engine;
    fl__worker *worker;
    fl_pipeline *pipeline;
    const fl__element_type *type;
    uint64_t id;
    char *name;
    /* worker thread only */
    int dead;             /* torn down: no pads, no links */
    int released;         /* the caller's reference was handed to a release reply */
    int busy;             /* forwarding a packet: re-entry (a cycle) drops it */
    fl_list node;         /* in its shard's elements (pipeline, worker) */
    fl_list pads;         /* fl__pad.node */
    unsigned npairs;      /* source/sink pad pairs, at most FL_ELEMENT_MAX_PAD_PAIRS */
    fl__pad *defaults[3]; /* source pads named "default", by media index */
    fl_event_fn event_cb;
    void *event_arg;
    fl_media_fn media_cb;
    void *media_arg;
    void *impl;                            /* the type's own state */
    fl__format format[2];                  /* audio, video (transcode.c's properties) */
    int enc_bps, enc_min_bps, enc_max_bps; /* encoderBitrate & co; 0 unset */
};

/* Asks upstream of a sink pad for a key frame: the element that produces
 * the media (through PassThroughs) gets its key_frame call. `join`: the
 * sink starts receiving (see the hook). */
void fl__pad_request_key_frame(fl__pad *sink, int join);

/* The least of what the sinks fed by a source pad can take (through
 * PassThroughs), bit/s; 0 when none gives a limit. Bitrate feedback
 * flows backwards this way (REMB aggregation). */
uint64_t fl__pad_downstream_bitrate(fl__pad *src);

/* The format reaching a sink pad, as its producer reports it; NULL when
 * unknown or not linked. A transcoder on the link does not change it (it
 * is what the transcoder takes in). */
const fl_sdp_codec *fl__pad_caps(fl__pad *sink);

/* Asks upstream of a sink pad for a key frame of one simulcast layer (0
 * lowest) of what reaches it: the producer's key_frame_layer, else its
 * key_frame. */
void fl__pad_request_key_frame_layer(fl__pad *sink, int layer, int join);

/* Asks the producer of what reaches `sink` for a key frame even when the
 * sink takes its media through a transcoder (the transcoder's own need). */
void fl__pad_request_key_frame_upstream(fl__pad *sink, int join);

/* The producer's Sender Report for `sink`, bypassing its transcoder. */
int fl__pad_sender_report_upstream(fl__pad *sink, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent);

/* Delivers a transcoder's packet to the sinks of src it serves. Borrows buf. */
void fl__pad_deliver_xcoded(fl__pad *src, fl__xcode *x, fl_buf *buf);

/* The last Sender Report of the stream `ssrc` reaching a sink pad, from
 * its producer (the sender_report hook): 0, or FL_ENOENT. */
int fl__pad_sender_report(fl__pad *sink, uint32_t ssrc, uint32_t *rtp_ts, fl_time *sent);

/* The entries of one fl_element_get_stats, growing as the type's stats
 * hook adds them; running out of memory is recorded, not returned. */
struct fl__stats_out {
    fl_stats *v;
    size_t n, cap;
    int oom;
};

/* Appends a zeroed entry of `kind` stamped with the wall clock, or returns
 * NULL (out->oom set) when out of memory. Worker thread. */
fl_stats *fl__stats_add(fl__stats_out *out, enum fl_stats_kind kind);

/* 0 while calls on e may be posted; FL_EINVAL for a NULL e, FL_ECLOSED
 * once its release or its pipeline's was posted. Caller's thread. */
int fl__element_usable(const fl_element *e);

/* A call on the element's worker holding a copy of len bytes of data (may
 * be NULL); the caller sets its callback and submits it. Fails as
 * fl__element_usable does, or with FL_ENOMEM. */
int fl__element_call(fl_element *e,
                     fl__call_fn run,
                     const uint8_t *data,
                     size_t len,
                     fl__call **out);
/* fl__element_call + done/arg + submit: run on e's worker, done with its
 * status on the callback loop. */
int fl__element_post_done(fl_element *e, fl__call_fn run, fl_done_fn done, void *arg);

void fl__element_ref(fl_element *e);
void fl__element_unref(fl_element *e);

/* Worker side: creates the default pads and joins the pipeline. */
int fl__element_setup(fl_element *e);

/* Worker side: removes every link (raising ELEMENT_DISCONNECTED when
 * `events`), frees the pads and leaves the pipeline's list. */
void fl__element_teardown(fl_element *e, int events);

/* Pushes a packet out of a source pad to every linked sink: a reference per
 * sink. Borrows buf. Worker thread. */
void fl__pad_push(fl__pad *src, fl_buf *buf);

/* Tells every sink linked to a source pad that its stream ended (their
 * type's end_of_stream; a PassThrough passes it on). Worker thread. */
void fl__pad_push_end(fl__pad *src);

/* Raises an event on the element (copied into a reply). Worker thread. */
void fl__element_raise(fl_element *e, const fl_event *ev);

/* Raises NOT_FLOWING for pads idle for more than a second. Worker thread. */
void fl__worker_check_flows(fl__worker *w, uint64_t now_ms);

/* ---- graph internals shared with engine/bridge.c ---- */

/* An element of type t on worker w, not set up: no pads, in no shard. */
int fl__element_new(fl_pipeline *p,
                    fl__worker *w,
                    const fl__element_type *t,
                    const char *name,
                    fl_element **out);

/* Creates the default pads (a source/sink pair per media). */
int fl__element_pads(fl_element *e);

/* The pad of e with that direction, media and description ("default" when
 * NULL), made when missing (rc set on failure). */
fl__pad *fl__pad_get(fl_element *e, int dir, unsigned media, const char *desc, int *rc);

/* Links src to sink (sink unlinked), and removes such a link (raising
 * ELEMENT_DISCONNECTED when `events`). Worker thread of both pads. */
int fl__link_add(fl__pad *src, fl__pad *sink);
void fl__link_remove(fl__pad *src, fl__pad *sink, int events);

/* Raises ELEMENT_CONNECTED or _DISCONNECTED on `source`. Its worker. */
void fl__raise_link(enum fl_event_type type,
                    fl_element *source,
                    const char *source_desc,
                    fl_element *sink,
                    const char *sink_desc,
                    unsigned media);

/* ---- bridges: links between workers (engine/bridge.c) ---- */

/* The hidden elements at either end of a bridge: "out" on the source's
 * worker takes its packets on a sink pad, "in" on the sink's worker feeds
 * them out of a source pad. */
extern const fl__element_type fl__bridge_out_type;
extern const fl__element_type fl__bridge_in_type;

static inline int fl__element_hidden(const fl_element *e)
{
    return e->type == &fl__bridge_out_type || e->type == &fl__bridge_in_type;
}

/* fl_element_connect of c->element (this worker) to c->peer (another):
 * links each media of c->media through the bridge of that source pad to
 * the peer's worker, then completes the call there. Takes c's reply. */
void fl__bridge_connect(fl__call *c);

/* fl_element_disconnect of c->element (this worker) from c->peer (another):
 * the peer's worker removes the links it has through bridges, then
 * completes the call. Takes c's reply. */
void fl__bridge_disconnect(fl__call *c);

/* fl__link_remove's part for bridges: a sink left an "in" pad, or the
 * source left an "out" pad. */
void fl__bridge_unlinked(fl__pad *src, fl__pad *sink, int events);

/* Visits what a bridge pad stands for: for an "out" sink pad, the sinks on
 * the other worker it feeds; for an "in" source pad, the source. */
typedef void (*fl__link_fn)(void *ctx,
                            fl_element *source,
                            const char *source_desc,
                            fl_element *sink,
                            const char *sink_desc,
                            unsigned media);
void fl__bridge_visit_out(const fl__pad *out_sink, const fl__pad *src, fl__link_fn fn, void *ctx);
void fl__bridge_visit_in(const fl__pad *in_src, const fl__pad *sink, fl__link_fn fn, void *ctx);

/* The worker's side of its bridges: wake the workers fed this iteration
 * (before it blocks and after I/O), take in what others fed it (when
 * woken), and close them all when it stops. */
/* The element whose source pad a bridge's "in" element stands for. */
fl_element *fl__bridge_source(const fl_element *in);

/* The "in" element of the bridge at that node of a worker's bridges_in. */
fl_element *fl__bridge_in_element(fl_list *node);

void fl__worker_bridges_wake(fl__worker *w);
void fl__worker_bridges_drain(fl__worker *w);
void fl__worker_bridges_close(fl__worker *w);

/* ---- DOT ---- */

/* The DOT text so far (`prefix`, NULL at the start) and the part of the
 * pipeline's graph on worker w, closed when `last` (malloc'd), or NULL when
 * out of memory. Worker w's thread. */
char *fl__pipeline_dot_write(fl_pipeline *p, fl__worker *w, const char *prefix, int last);

#endif
