/* libfluo: the embeddable media engine.
 *
 * Threads: the engine runs N worker threads, each with its own libuv loop. A
 * pipeline lives on one worker; its elements, sockets, timers and media all
 * run there, so the media path takes no locks. Every function here may be
 * called from any thread (but calls on one pipeline must come from one thread
 * at a time); work is posted to the pipeline's worker, in call order, and
 * completes by callback. Callbacks and events run on the engine's callback
 * loop when one was configured (fl_engine_config.callback_loop), otherwise on
 * the worker thread.
 *
 * Handles (fl_pipeline, fl_element) are returned at once and stay valid until
 * the done callback of their release has run; using one after that is a bug.
 * Releasing a pipeline releases its elements.
 *
 * Errors: functions return 0 or a negative FL_E* code (below; fl_strerror
 * names them). One rule for every asynchronous call, as libuv's: it returns
 * an int. An error returned (FL_EINVAL for bad arguments, FL_ENOMEM,
 * FL_ECLOSED once the element's or its pipeline's release was posted,
 * FL_ENOTSUP for what the element's type does not do...) means nothing
 * happened and its callback never runs. 0 means the call was posted and its
 * callback runs exactly once, later (never from within the call), with 0
 * or the negative code of what failed on the worker. A done callback may
 * be NULL (nothing is told); the others must not.
 *
 * Installed alone as <fluo.h> (`make install`; `pkg-config --cflags --libs
 * fluo`): it needs only the C standard headers, and C++ may include it. In
 * the source tree it takes the error codes from base/err.h, their one
 * definition, which the installed copy carries inline. */
#ifndef FL_ENGINE_FLUO_H
#define FL_ENGINE_FLUO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; fl_version() and fl_version_string() give the
 * version of the library that runs (its soname is libfluo.so.MAJOR). */
#define FLUO_VERSION_MAJOR 0
#define FLUO_VERSION_MINOR 1
#define FLUO_VERSION_PATCH 0

#define FLUO_STRINGIFY(x)        FLUO_STRINGIFY_HELPER(x)
#define FLUO_STRINGIFY_HELPER(x) #x
/* "MAJOR.MINOR.PATCH" */
#define FLUO_VERSION                   \
    FLUO_STRINGIFY(FLUO_VERSION_MAJOR) \
    "." FLUO_STRINGIFY(FLUO_VERSION_MINOR) "." FLUO_STRINGIFY(FLUO_VERSION_PATCH)
/* MAJOR << 16 | MINOR << 8 | PATCH, to compare with fl_version() */
#define FLUO_VERSION_HEX \
    ((FLUO_VERSION_MAJOR << 16) | (FLUO_VERSION_MINOR << 8) | FLUO_VERSION_PATCH)

unsigned fl_version(void);
const char *fl_version_string(void);

/* FL_OK, the FL_E* codes and fl_strerror (inlined here when installed). */
#include "base/err.h"

typedef struct fl_engine fl_engine;
typedef struct fl_pipeline fl_pipeline;
typedef struct fl_element fl_element;

/* Media types; also used as bit masks (FL_MEDIA_ALL = every type). */
enum {
    FL_MEDIA_AUDIO = 1,
    FL_MEDIA_VIDEO = 2,
    FL_MEDIA_DATA = 4,
    FL_MEDIA_ALL = 7,
};

/* "AUDIO", "VIDEO", "DATA" for one type bit; NULL otherwise. */
const char *fl_media_type_name(unsigned media);

/* The bit for "AUDIO"/"VIDEO"/"DATA"; 0 for anything else. */
unsigned fl_media_type_parse(const char *name);

struct uv_loop_s; /* libuv's uv_loop_t */

typedef struct fl_engine_config {
    int workers;                     /* worker threads; 0: one per core */
    struct uv_loop_s *callback_loop; /* where callbacks and events run; NULL: on the worker */
    int codec_threads;               /* transcoders' threads, started with the first
                                      * transcoder; 0: one per core */
    /* Media ports of WebRtcEndpoints. 0 (the default): the endpoints of a
     * worker share one UDP socket per local address, told apart by ICE
     * username and remote address, so a firewall needs one port open per
     * worker. 1: each endpoint opens its own sockets on ports of its
     * minPort-maxPort range, as Kurento does. */
    int endpoint_ports;
    /* With shared sockets: worker i binds port udp_port + i (creating an
     * endpoint fails when that port is taken); 0: each worker picks a free
     * port of the first endpoint's range. FL_EINVAL from fl_engine_create
     * when udp_port + workers - 1 exceeds 65535. */
    int udp_port;
    /* A pipeline spreads over the workers once it holds spread_from
     * elements: each endpoint created after that (WebRtcEndpoint,
     * RtpEndpoint, AppSink) goes to the worker holding the fewest of its
     * elements, and what a source sends to sinks on other workers is handed
     * to them in batches, so one broadcast uses every core. 0 (the default):
     * a pipeline lives on one worker. */
    int spread_from;
} fl_engine_config;

/* Starts the workers. The callback loop, when given, must outlive the engine;
 * the engine keeps one referenced uv_async_t on it until fl_engine_destroy. */
int fl_engine_create(fl_engine **out, const fl_engine_config *cfg);

/* Releases every pipeline still alive, stops and joins the workers and frees
 * the engine. Must be called from the callback loop's thread when one is set
 * (pending callbacks are run before it returns); no callback runs after it
 * returns. With a callback loop, its uv_async_t is closed here: run that loop
 * once more (e.g. uv_run(loop, UV_RUN_NOWAIT)) before uv_loop_close so the
 * handle's close callback frees it. Never call it from a worker thread. */
void fl_engine_destroy(fl_engine *engine);

typedef struct fl_engine_stats {
    uint64_t pipelines;     /* alive now */
    uint64_t elements;      /* alive now */
    uint64_t calls_posted;  /* total calls posted to workers */
    uint64_t media_packets; /* packets delivered to sink pads (one per link), total */
    uint64_t media_bytes;   /* their bytes; both counters are batched per loop iteration */
    int workers;
} fl_engine_stats;

/* Counters, readable from any thread without blocking. */
void fl_engine_get_stats(fl_engine *engine, fl_engine_stats *out);

/* Completion of an asynchronous call: status is 0 or a negative FL_E* code. */
typedef void (*fl_done_fn)(void *arg, int status);

/* Creates a pipeline on the least loaded worker. The handle is usable at once. */
int fl_pipeline_create(fl_engine *engine, fl_pipeline **out);

/* Releases the pipeline and all its elements; done (may be NULL) runs after.
 * Handles of elements not released on their own stay valid until then. No
 * ELEMENT_DISCONNECTED events are raised for the links removed with it.
 * FL_ECLOSED when its release was posted already. */
int fl_pipeline_release(fl_pipeline *p, fl_done_fn done, void *arg);

/* Index of the worker the pipeline lives on (its home: see
 * fl_engine_config.spread_from for the elements placed elsewhere). */
int fl_pipeline_worker(const fl_pipeline *p);

/* The pipeline's graph in Graphviz DOT, delivered to cb (text valid during
 * the call only). */
typedef void (*fl_text_fn)(void *arg, int status, const char *text);
int fl_pipeline_get_dot(fl_pipeline *p, fl_text_fn cb, void *arg);

/* Element types. */
#define FL_ELEMENT_PASSTHROUGH "PassThrough"      /* forwards its sinks to its sources */
#define FL_ELEMENT_APP_SOURCE  "fluo.AppSource"   /* media pushed by the embedder */
#define FL_ELEMENT_APP_SINK    "fluo.AppSink"     /* media handed to the embedder */
#define FL_ELEMENT_WEBRTC      "WebRtcEndpoint"   /* a browser peer: ICE, DTLS-SRTP, RTP */
#define FL_ELEMENT_RECORDER    "RecorderEndpoint" /* media into a file: WebM, MKV, MP4 */
#define FL_ELEMENT_PLAYER      "PlayerEndpoint"   /* media from a file, HTTP or RTSP */
#define FL_ELEMENT_HTTP_POST   "HttpPostEndpoint" /* media from a WebM/MKV upload */
#define FL_ELEMENT_RTP         "RtpEndpoint"      /* a plain RTP peer: RTP/AVP(F), SDES-SRTP */
/* Hubs route media between their HubPorts, with no decode. A HubPort joins
 * one through its property "hub" (the hub's name; set once, FL_ESTATE
 * after). A Dispatcher's invoke "connect" (source port's name, sink
 * port's name) sends what reaches the first port out of the second; a
 * DispatcherOneToMany's "setSource" (a port's name) sends that port's
 * media out of every other port, "removeSource" stops it. A port named
 * that is not the hub's: FL_EINVAL. */
#define FL_ELEMENT_HUB_PORT               "HubPort"
#define FL_ELEMENT_DISPATCHER             "Dispatcher"
#define FL_ELEMENT_DISPATCHER_ONE_TO_MANY "DispatcherOneToMany"
/* Mixing hubs decode what reaches their ports and send each port a mix,
 * VP8 and Opus, paced by a clock of their own. Composite: a grid of every
 * input's picture at properties "width", "height" (even, 16..4096; 800x600
 * by default) and "framerate" (1..60, 15), set before a port joins
 * (FL_ESTATE after); each port hears every input but itself.
 * AlphaBlending: invoke "setMaster" (port, zOrder) and
 * "setPortProperties" (relativeX, relativeY, zOrder, relativeWidth,
 * relativeHeight as 0..1, port): the master's picture with the placed
 * ports drawn over it. Mixer: invoke "connect" / "disconnect" (AUDIO or
 * VIDEO, source port, sink port): a sink hears the mix of its audio
 * sources and shows its video source. */
#define FL_MIX_MAX_PORTS          24 /* HubPorts a mixing hub takes */
#define FL_ELEMENT_COMPOSITE      "Composite"
#define FL_ELEMENT_ALPHA_BLENDING "AlphaBlending"
#define FL_ELEMENT_MIXER          "Mixer"
/* Filters decode the video reaching them on a codec thread of their own;
 * what they leave unchanged goes out as it came (the source's packets),
 * what they draw on is encoded again in the input's codec. Audio passes.
 * ZBarFilter: reads QR codes (and bar codes), raising FL_EVENT_CODE_FOUND
 * once per code appearing. ImageOverlayFilter: invoke "addImage" (id,
 * uri, offsetXPercent, offsetYPercent, widthPercent, heightPercent as
 * 0..1 of the picture, keepAspectRatio, center as "true"/"false") draws a
 * PNG or JPEG (alpha honoured) from a file://, http:// or https:// URI
 * (fetched, at most FL_FILTER_IMAGE_MAX bytes, and decoded before the
 * answer; a bad one fails the call), "removeImage" (id). FaceOverlayFilter:
 * invoke "setOverlayedImage" (uri, offsetXPercent, offsetYPercent,
 * widthPercent, heightPercent, relative to each face found: 0, 0, 1, 1
 * covers it) and "unsetOverlayedImage". */
#define FL_ELEMENT_ZBAR_FILTER          "ZBarFilter"
#define FL_ELEMENT_IMAGE_OVERLAY_FILTER "ImageOverlayFilter"
#define FL_ELEMENT_FACE_OVERLAY_FILTER  "FaceOverlayFilter"
#define FL_FILTER_IMAGE_MAX             (8u << 20)

/* Source/sink pad pairs an element holds at most (each media type and pad
 * description a connect names makes one); a connect past it: FL_ERANGE. */
#define FL_ELEMENT_MAX_PAD_PAIRS 64

/* Creates an element of `type` in the pipeline. FL_ENOTSUP for a type the
 * engine does not have, FL_ECLOSED when the pipeline's release was posted.
 * `name` is used in DOT output and logs (copied; NULL: "<type><id>"). */
int fl_element_create(fl_pipeline *p, const char *type, const char *name, fl_element **out);

/* Disconnects and releases the element; done (may be NULL) runs after. Each
 * removed link raises ELEMENT_DISCONNECTED on its source element (the
 * released one included). Releasing twice, or after its pipeline's release:
 * FL_ECLOSED. */
int fl_element_release(fl_element *e, fl_done_fn done, void *arg);

fl_pipeline *fl_element_pipeline(const fl_element *e);

/* Index of the worker the element lives on. */
int fl_element_worker(const fl_element *e);

/* The element's name (given at create, or "<type><id>") and type; both are
 * immutable and readable from any thread while the handle is valid. */
const char *fl_element_name(const fl_element *e);
const char *fl_element_type_name(const fl_element *e);

/* Connects src's source pads to sink's sink pads for each type in `media`
 * (a mask). A sink pad has at most one source per media type: a new
 * connection replaces the old one (which is reported as disconnected).
 * Descriptions name pads ("default" when NULL); pads with other descriptions
 * are made on first use. Both elements must be in the same pipeline and
 * `media` name at least one type and nothing else (FL_EINVAL otherwise).
 * src == sink is allowed (loopback). Connecting a pair that is already
 * connected succeeds and raises no event. Events ELEMENT_DISCONNECTED (for
 * a replaced link) and ELEMENT_CONNECTED are raised on the source element
 * of each link. More than FL_ELEMENT_MAX_PAD_PAIRS: status FL_ERANGE. */
int fl_element_connect(fl_element *src,
                       fl_element *sink,
                       unsigned media,
                       const char *src_desc,
                       const char *sink_desc,
                       fl_done_fn done,
                       void *arg);

/* Removes the connections between src and sink of the types in `media`.
 * Succeeds (status 0) when there was nothing to remove. */
int fl_element_disconnect(fl_element *src,
                          fl_element *sink,
                          unsigned media,
                          const char *src_desc,
                          const char *sink_desc,
                          fl_done_fn done,
                          void *arg);

typedef struct fl_connection {
    fl_element *source;
    fl_element *sink;
    unsigned media; /* one type bit */
    const char *source_desc;
    const char *sink_desc;
} fl_connection;

enum {
    FL_DIR_SOURCE = 1, /* connections where the element is the source */
    FL_DIR_SINK = 2,   /* connections where the element is the sink */
};

/* Lists the element's connections in one direction (FL_DIR_SOURCE or
 * FL_DIR_SINK), filtered by media mask and by pad description (NULL: any).
 * The array is valid during the callback only. */
typedef void (*fl_connections_fn)(void *arg, int status, const fl_connection *conns, size_t n);
int fl_element_get_connections(fl_element *e,
                               int dir,
                               unsigned media,
                               const char *desc,
                               fl_connections_fn cb,
                               void *arg);

/* Whether media of one type (one bit) flows into (dir FL_DIR_SINK) or out of
 * (FL_DIR_SOURCE) any pad of the element, as last reported by the
 * MEDIA_FLOW_IN/OUT events. */
typedef void (*fl_bool_fn)(void *arg, int status, int value);
int fl_element_is_flowing(fl_element *e, int dir, unsigned media, fl_bool_fn cb, void *arg);

/* Whether media of one type (FL_MEDIA_AUDIO or _VIDEO) reaches the element
 * through a transcoder (Kurento's isMediaTranscoding). */
int fl_element_is_transcoding(fl_element *e, unsigned media, fl_bool_fn cb, void *arg);

/* ---- events ----
 *
 * An event is its type, the element that raised it, and the payload of its
 * kind: the union member named beside each type below. */
enum fl_event_type {
    FL_EVENT_ELEMENT_CONNECTED,    /* link */
    FL_EVENT_ELEMENT_DISCONNECTED, /* link */
    FL_EVENT_MEDIA_FLOW_IN,        /* media_flow */
    FL_EVENT_MEDIA_FLOW_OUT,       /* media_flow */
    FL_EVENT_ERROR,                /* error */
    /* WebRtcEndpoint */
    FL_EVENT_ICE_CANDIDATE,       /* ice_candidate */
    FL_EVENT_ICE_GATHERING_DONE,  /* no payload */
    FL_EVENT_ICE_COMPONENT_STATE, /* ice_component_state */
    FL_EVENT_ICE_PAIR_SELECTED,   /* ice_pair_selected */
    FL_EVENT_CONNECTION_STATE,    /* connection_state */
    FL_EVENT_MEDIA_STATE,         /* media_state */
    FL_EVENT_MEDIA_TRANSCODING,   /* media_transcoding */
    /* RecorderEndpoint */
    FL_EVENT_URI_STATE, /* uri_state */
    FL_EVENT_RECORDING, /* no payload: the file is open and taking media */
    FL_EVENT_PAUSED,    /* no payload */
    FL_EVENT_STOPPED,   /* no payload: the file is complete on disk */
    /* PlayerEndpoint (and URI_STATE) */
    FL_EVENT_END_OF_STREAM, /* no payload: everything was sent */
    /* RtpEndpoint */
    FL_EVENT_KEY_SOFT_LIMIT, /* key_soft_limit */
    /* WebRtcEndpoint with data channels */
    FL_EVENT_DATA_CHANNEL_OPENED, /* data_channel */
    FL_EVENT_DATA_CHANNEL_CLOSED, /* data_channel */
    /* ZBarFilter */
    FL_EVENT_CODE_FOUND, /* code_found */
};

/* DATA_CHANNEL_OPENED, DATA_CHANNEL_CLOSED: a data channel with the peer
 * opened (either side's) or closed (Kurento's DataChannelOpened/Closed). */
typedef struct fl_event_data_channel {
    int channel_id; /* its SCTP stream id */
} fl_event_data_channel;

/* MEDIA_FLOW_IN, MEDIA_FLOW_OUT: media of one type started flowing (the
 * pad's first packet) or stopped (1-2 s after its last one, checked once a
 * second) into a sink pad (IN) or out of a source pad (OUT). */
typedef struct fl_event_media_flow {
    unsigned media;   /* one type bit */
    int flowing;      /* 1: flowing, 0: not flowing */
    const char *desc; /* the pad's description ("default", ...) */
} fl_event_media_flow;

/* ERROR: something failed on the element that no call's status reports
 * (WebRtcEndpoint: "DTLS_FAILED", "MEDIA_FORMAT_MISMATCH"). */
typedef struct fl_event_error {
    const char *type;        /* what failed, as Kurento's error types name it */
    const char *description; /* in words, for people */
} fl_event_error;

/* ICE_CANDIDATE: a local candidate gathered, to be signalled to the peer;
 * after the last one, ICE_GATHERING_DONE. */
typedef struct fl_event_ice_candidate {
    const char *candidate; /* the a=candidate line's value: "candidate:..." */
    const char *sdp_mid;   /* the a=mid of the media section it belongs to */
    int sdp_mline_index;   /* that section's index in the SDP, from 0 */
} fl_event_ice_candidate;

/* The states of an ICE component, in the order they are reached. */
enum fl_ice_component_state {
    FL_ICE_COMPONENT_DISCONNECTED, /* nothing started */
    FL_ICE_COMPONENT_GATHERING,    /* gathering, no check yet */
    FL_ICE_COMPONENT_CONNECTING,   /* checks running, no pair valid */
    FL_ICE_COMPONENT_CONNECTED,    /* a pair valid, none selected yet */
    FL_ICE_COMPONENT_READY,        /* a pair selected */
    FL_ICE_COMPONENT_FAILED,       /* every pair failed, or consent was lost */
};

/* ICE_COMPONENT_STATE: an ICE component changed state. */
typedef struct fl_event_ice_component_state {
    int stream_id; /* the ICE stream: 1 (all media is bundled in one) */
    int component; /* 1: RTP, with RTCP multiplexed on it */
    enum fl_ice_component_state state;
} fl_event_ice_component_state;

/* ICE_PAIR_SELECTED: the candidate pair media goes over from now on. */
typedef struct fl_event_ice_pair_selected {
    int stream_id;                /* as in ICE_COMPONENT_STATE */
    int component;                /* as in ICE_COMPONENT_STATE */
    const char *local_candidate;  /* "candidate:..." */
    const char *remote_candidate; /* "candidate:..." */
} fl_event_ice_pair_selected;

enum fl_connection_state {
    FL_CONNECTION_DISCONNECTED,
    FL_CONNECTION_CONNECTED,
};

/* CONNECTION_STATE: the DTLS-SRTP session with the peer was established
 * (CONNECTED) or closed. MEDIA_STATE: RTCP began to come from the peer
 * (CONNECTED), or the session closed. Raised on a change only: new_state is
 * never old_state. */
typedef struct fl_event_connection_state {
    enum fl_connection_state old_state;
    enum fl_connection_state new_state;
} fl_event_connection_state;

/* MEDIA_TRANSCODING: whether media of one type leaving the element is
 * transcoded; raised when it first goes out. The engine does not transcode:
 * media whose format differs from what the peer negotiated is not sent (an
 * ERROR says so), so transcoding is 0. */
typedef struct fl_event_media_transcoding {
    unsigned media;       /* one type bit */
    int transcoding;      /* 1: transcoded, 0: sent as received */
    const char *bin_name; /* the element's name */
} fl_event_media_transcoding;

/* KEY_SOFT_LIMIT: an SDES-SRTP key of one media (the stream's, either
 * direction) has protected nearly as many packets as it may (libsrtp's
 * soft limit): the session should be keyed afresh (Kurento's
 * OnKeySoftLimit). */
typedef struct fl_event_key_soft_limit {
    unsigned media; /* FL_MEDIA_AUDIO or FL_MEDIA_VIDEO */
} fl_event_key_soft_limit;

/* The states of an element that reads or writes a URI (Kurento's
 * UriEndpointState). */
enum fl_uri_state {
    FL_URI_STOP,
    FL_URI_START,
    FL_URI_PAUSE,
};

/* URI_STATE: the element's state changed (record, pause, stop). */
typedef struct fl_event_uri_state {
    enum fl_uri_state state;
} fl_event_uri_state;

/* CODE_FOUND: a code came into the picture (Kurento's CodeFound). */
typedef struct fl_event_code_found {
    const char *code_type; /* the symbology: "QR-Code", "EAN-13", ... */
    const char *value;     /* what it encodes */
} fl_event_code_found;

typedef struct fl_event {
    enum fl_event_type type;
    fl_element *element; /* the element that raised it */

    union {
        /* ELEMENT_CONNECTED, ELEMENT_DISCONNECTED: on the link's source
         * element, the link fl_element_connect made, or the one that went
         * (by fl_element_disconnect, a connect giving its sink pad another
         * source, or fl_element_release of either element). */
        fl_connection link;
        fl_event_media_flow media_flow;
        fl_event_error error;
        fl_event_ice_candidate ice_candidate;
        fl_event_ice_component_state ice_component_state;
        fl_event_ice_pair_selected ice_pair_selected;
        fl_event_connection_state connection_state;
        fl_event_connection_state media_state;
        fl_event_media_transcoding media_transcoding;
        fl_event_uri_state uri_state;
        fl_event_key_soft_limit key_soft_limit;
        fl_event_data_channel data_channel;
        fl_event_code_found code_found;
    };
} fl_event;

/* Receives the element's events (ev and its strings valid during the call
 * only). Set it right after create, before connecting; NULL stops delivery.
 * Events raised before a release completes may still arrive until its done
 * callback. Returns 0 or an error (then nothing changed). */
typedef void (*fl_event_fn)(void *arg, const fl_event *ev);
int fl_element_set_event_cb(fl_element *e, fl_event_fn cb, void *arg);

/* Largest packet fl_element_push accepts (FL_EMSGSIZE above). */
#define FL_ENGINE_PACKET_MAX 2000

/* FL_ELEMENT_APP_SOURCE: pushes one media packet (copied) into the graph, out
 * of its "default" source pad of that type. FL_ENOTSUP for another element
 * type, FL_EINVAL for a media value that is not one type bit, FL_EMSGSIZE
 * above FL_ENGINE_PACKET_MAX. done may be NULL. */
int fl_element_push(fl_element *e,
                    unsigned media,
                    const uint8_t *data,
                    size_t len,
                    fl_done_fn done,
                    void *arg);

/* Largest piece fl_element_write accepts (FL_EMSGSIZE above). */
#define FL_ENGINE_WRITE_MAX (1u << 20)

/* FL_ELEMENT_HTTP_POST: appends len bytes (copied) of a WebM or Matroska
 * stream (an upload: a first piece with its EBML header and tracks, then
 * the rest in any cut, 1 byte or a megabyte) to what the element plays.
 * The first write starts a stream; the element plays it in real time,
 * frames out of its "default" audio and video source pads as a
 * PlayerEndpoint plays a file, and ends it when no byte came for its
 * disconnectionTimeout property (seconds, 2 by default; 0: as soon as the
 * bytes run out) while it needed some, or at fl_element_write_end; then
 * EndOfStream once its last frame left (a stream whose WebM Segment says
 * its size ends there by itself). A write after EndOfStream starts a new
 * stream (RTP on new SSRCs, its timestamps going on from the last one's).
 *
 * cb runs once the element took the bytes: status 0 (text NULL) when the
 * demuxer read them, or needs them at once; so a writer keeps what is in
 * flight bounded (pause the upload while a few hundred KiB wait for their
 * cb) and is paced by the playing. Errors, with why in text: the stream's
 * failure as its Error event says it (FL_ENOTSUP not a format the demuxer
 * reads, FL_EBADMSG corrupt: every write fails until fl_element_write_end,
 * after which the next write starts a new stream), FL_EBUSY while the last
 * stream ended but still plays out its queued frames, FL_ECANCELED /
 * FL_ECLOSED when the element is released first. Returned: FL_ENOTSUP for
 * another element type, FL_EINVAL (data NULL with len, cb NULL),
 * FL_EMSGSIZE above FL_ENGINE_WRITE_MAX. */
int fl_element_write(fl_element *e, const void *data, size_t len, fl_text_fn cb, void *arg);

/* FL_ELEMENT_HTTP_POST: the stream ends now (what was written still plays,
 * then EndOfStream), or after a failure, the next write starts a new
 * stream. done may be NULL. FL_ENOTSUP for another element type. */
int fl_element_write_end(fl_element *e, fl_done_fn done, void *arg);

/* A media packet as the engine carries it (opaque here). Read, referenced
 * and unreferenced only on the thread its callback ran on (a packet from
 * another worker's pool counts its references atomically); with more than
 * one reference it is shared, so read-only. */
typedef struct fl_buf fl_buf;

/* The packet's bytes (an RTP or RTCP packet, or a data message) and length. */
const uint8_t *fl_packet_data(const fl_buf *buf);
size_t fl_packet_len(const fl_buf *buf);

/* Takes one more reference to the packet (returns it); fl_packet_unref drops
 * one, and the last returns it to its pool. */
fl_buf *fl_packet_ref(fl_buf *buf);
void fl_packet_unref(fl_buf *buf);

/* FL_ELEMENT_APP_SINK: cb receives every packet that reaches the element, on
 * the element's worker thread, with a borrowed reference (fl_packet_ref to
 * keep it, fl_packet_unref later on the same thread). Set before media
 * flows. The callback must not block. Returns 0 or an error (FL_ENOTSUP
 * for another element type; then nothing changed). */
typedef void (*fl_media_fn)(void *arg, unsigned media, fl_buf *buf);
int fl_element_set_media_cb(fl_element *e, fl_media_fn cb, void *arg);

/* ---- properties ---- */

/* Sets a property of the element by its Kurento name (value as text: numbers
 * in decimal, booleans "true"/"false"). WebRtcEndpoint: stunServerAddress,
 * stunServerPort, turnUrl, externalIPv4, externalIPv6, networkInterfaces,
 * iceTcp, minPort, maxPort (media port range), recvonly, sendonly (the
 * create parameters), audioCodecs, videoCodecs (comma-separated
 * "name/rate[/channels]"), minVideoRecvBandwidth, maxVideoRecvBandwidth,
 * minVideoSendBandwidth, maxVideoSendBandwidth, maxAudioRecvBandwidth
 * (kbps), useDataChannels ("true": SDP steps take and offer data channels
 * on an SCTP association; set before the first one; Kurento's create
 * parameter). AppSource and AppSink: audioCaps, videoCaps ("[PT ]NAME/RATE
 * [/CHANNELS][;fmtp]", "" none): what an AppSource pushes, what an AppSink
 * takes (other formats reaching it are transcoded to it). Every element,
 * for what it outputs through a transcoder: videoFormat, audioFormat
 * ("codec=VP8;fps=15;width=320;height=240", audio "codec=opus;kbps=32";
 * "" none), encoderBitrate, minEncoderBitrate, maxEncoderBitrate (bit/s,
 * Kurento's). FL_ENOTSUP (returned) for an element type with no properties;
 * status FL_ENOTSUP for a name the element does not have, FL_EINVAL for a
 * bad value, FL_ESTATE for one that can no longer change (ICE settings
 * once candidates were gathered). */
int fl_element_set_property(fl_element *e,
                            const char *name,
                            const char *value,
                            fl_done_fn done,
                            void *arg);

/* The property's value as text (cb's text), FL_ENOTSUP when unknown. Those
 * set_property takes read as they were set; WebRtcEndpoint also has, read
 * only: mediaState and connectionState ("CONNECTED" or "DISCONNECTED"),
 * rembParams (what applies, as set_property takes it: "upLosses=26" then
 * ",rembOnConnect=N" and ",decrementFactor=X" when set), ICECandidatePairs
 * (the selected pair's local and remote candidate lines, "candidate:...",
 * joined by "\n"; "" before a pair is selected), IceConnectionState (the
 * ICE component's state, "CONNECTING", "READY"... as
 * fl_ice_component_state names it; "" before ICE starts) and
 * DtlsConnectionState ("NEW", "CONNECTING", "CONNECTED", "CLOSED" or
 * "FAILED"; "" before the DTLS transport exists). */
int fl_element_get_property(fl_element *e, const char *name, fl_text_fn cb, void *arg);

/* ---- statistics and key frames ---- */

/* What a statistics entry describes: its kind, and the union member named
 * beside each kind below. */
enum fl_stats_kind {
    FL_STATS_ELEMENT,         /* no payload: an element with no figures of its own */
    FL_STATS_ENDPOINT,        /* endpoint: a WebRtcEndpoint as a whole */
    FL_STATS_INBOUND_RTP,     /* inbound_rtp: an RTP stream the peer sends */
    FL_STATS_OUTBOUND_RTP,    /* outbound_rtp: an RTP stream sent to the peer */
    FL_STATS_DATA_CHANNEL,    /* data_channel: a data channel with the peer */
    FL_STATS_PEER_CONNECTION, /* peer_connection: data channels opened and closed */
    FL_STATS_MIXER,           /* mixer: a mixing hub's codec work (Composite & co) */
    FL_STATS_FILTER,          /* filter: a filter's codec work (ZBarFilter & co) */
};

/* Room for the short strings of an entry, NUL included (cut to fit). */
#define FL_STATS_NAME_MAX 32

/* ENDPOINT. A figure that is not known yet is -1. */
typedef struct fl_stats_endpoint {
    /* datagrams dropped because they came from an address no ICE check
     * validated; -1 before the endpoint has an ICE transport */
    int64_t unvalidated_packets_dropped;
    /* RtpEndpoint: packets from the peer that SRTP refused (authentication
     * failed: a wrong key) or that came in the clear where SRTP was
     * negotiated; -1 for other endpoints */
    int64_t srtp_auth_failed;
    /* datagrams that reached the worker's shared UDP port and belonged to
     * no session there (strangers, floods, stale peers): the worker's count,
     * the same for every endpoint on it; -1 when the endpoint has ports of
     * its own (or no ICE transport yet) */
    int64_t shared_port_unclaimed;
} fl_stats_endpoint;

/* What both directions of an RTP stream report. Counts of feedback are
 * those the stream's receiver sent: by us for an inbound stream, by the
 * peer for an outbound one. */
typedef struct fl_stats_rtp {
    uint32_t ssrc;
    unsigned media;                /* FL_MEDIA_AUDIO or FL_MEDIA_VIDEO */
    char mid[FL_STATS_NAME_MAX];   /* the a=mid of its media section */
    char codec[FL_STATS_NAME_MAX]; /* the negotiated codec: "VP8", "opus", ... */
    int64_t fir_count;             /* FIR requests */
    int64_t pli_count;             /* PLI requests */
    int64_t nack_count;            /* NACK packets */
    int64_t remb;                  /* the latest REMB, bit/s (0: none) */
    int64_t packets_lost;          /* cumulative, as RTCP reports it (may be negative) */
    double fraction_lost;          /* in the latest report interval, 0 to 1 */
} fl_stats_rtp;

/* INBOUND_RTP: one stream from the peer (its retransmissions counted in
 * it). A figure that is not known is -1. */
typedef struct fl_stats_inbound_rtp {
    fl_stats_rtp rtp;
    int64_t packets_received;
    int64_t bytes_received;
    double jitter;                          /* seconds */
    int64_t nack_seqs_sent;                 /* sequence numbers asked for again */
    int64_t retransmitted_packets_received; /* retransmissions that arrived */
    int64_t retransmissions_unneeded;       /* of those, packets we had already */
    int64_t key_frames_received;
    int64_t receive_estimate; /* bit/s our estimator allows (video); -1: none */
} fl_stats_inbound_rtp;

/* OUTBOUND_RTP: one stream to the peer. A figure that is not known is -1. */
typedef struct fl_stats_outbound_rtp {
    fl_stats_rtp rtp;
    int64_t packets_sent;
    int64_t bytes_sent;
    /* video: bit/s the peer's REMB and the send bounds allow; 0: none known */
    int64_t target_bitrate;
    double round_trip_time;             /* seconds; -1 before the peer's first report */
    int64_t retransmitted_packets_sent; /* answers to the peer's NACKs */
    int64_t nack_unanswered;            /* asked for but no longer held; -1: NACK not negotiated */
    int64_t nack_held; /* asked for, not resent: the peer's estimate had no room; -1 likewise */
    /* a viewer of a simulcast source: the spatial layer forwarded (0 the
     * lowest; -1 none yet, or a source that is not simulcast), its
     * temporal layer, the layer switches made, the padding sent to probe
     * for a higher layer (bytes); all -1 when not simulcast */
    int64_t simulcast_layer, simulcast_temporal_layer, simulcast_switches, probe_padding_bytes;
    /* when what is sent comes through a transcoder (else all -1): frames it
     * took in, encoded, skipped (decoded but not encoded: it was behind, or
     * the frame rate cap) and dropped (lost to its queues), and its
     * encoder's target, bit/s; shared by every sink of that transcoder */
    int64_t xcode_frames_in, xcode_frames_encoded, xcode_frames_skipped, xcode_frames_dropped;
    int64_t xcode_bitrate;
} fl_stats_outbound_rtp;

/* DATA_CHANNEL (Kurento's RTCDataChannelStats). */
typedef struct fl_stats_data_channel {
    char label[128]; /* cut to fit */
    char protocol[64];
    int64_t id;        /* the SCTP stream id */
    const char *state; /* "connecting", "open", "closing", "closed" */
    int64_t messages_sent, bytes_sent, messages_received, bytes_received;
} fl_stats_data_channel;

/* PEER_CONNECTION (Kurento's RTCPeerConnectionStats). */
typedef struct fl_stats_peer_connection {
    int64_t data_channels_opened, data_channels_closed;
} fl_stats_peer_connection;

/* MIXER: what a mixing hub's thread did since it started, and its cost. */
typedef struct fl_stats_mixer {
    int64_t ports;
    int64_t frames_in;         /* whole frames the ports took in, audio and video */
    int64_t frames_decoded;    /* pictures and audio frames out of the decoders */
    int64_t decode_errors;     /* frames a decoder refused (a key frame is asked for) */
    int64_t frames_dropped;    /* lost to a full queue, in or out */
    int64_t pictures_composed; /* output pictures made on the clock */
    int64_t frames_encoded;    /* pictures and audio frames out of the encoders */
    int64_t late_ticks;        /* clock ticks missed: the thread fell behind */
    int64_t cpu_us;            /* CPU time of the mixer's thread */
} fl_stats_mixer;

/* FILTER: what a filter (ZBarFilter, ImageOverlayFilter, FaceOverlayFilter)
 * did with its video since it was made. */
typedef struct fl_stats_filter {
    int64_t frames_in;      /* whole frames handed to its codec thread */
    int64_t frames_dropped; /* lost to a full queue (a key frame is asked for) */
    int64_t forwarded;      /* the source's packets sent on untouched */
    int64_t frames_decoded;
    int64_t decode_errors;
    int64_t processed;      /* pictures the filter looked at */
    int64_t skipped;        /* decoded but not looked at: it was behind */
    int64_t drawn;          /* pictures it drew on */
    int64_t frames_encoded; /* its own stream's frames */
    int64_t encoding;       /* 1 while its own stream goes out, 0 while the source's */
} fl_stats_filter;

typedef struct fl_stats {
    enum fl_stats_kind kind;
    int64_t timestamp_ms; /* wall clock when taken, ms since the Unix epoch */

    union {
        fl_stats_endpoint endpoint;
        fl_stats_inbound_rtp inbound_rtp;
        fl_stats_outbound_rtp outbound_rtp;
        fl_stats_data_channel data_channel;
        fl_stats_peer_connection peer_connection;
        fl_stats_mixer mixer;
        fl_stats_filter filter;
    };
} fl_stats;

/* The element's statistics: n entries, valid during the call only. A
 * WebRtcEndpoint gives one ENDPOINT entry and an INBOUND_RTP/OUTBOUND_RTP
 * entry per stream of a type in `media` (a mask; FL_MEDIA_ALL: every
 * stream), and with FL_MEDIA_DATA in the mask and data channels
 * negotiated, one PEER_CONNECTION entry and a DATA_CHANNEL entry per
 * channel; a mixing hub one MIXER entry; a filter one FILTER entry; an
 * element of another type one
 * ELEMENT entry. */
typedef void (*fl_stats_fn)(void *arg, int status, const fl_stats *entries, size_t n);
int fl_element_get_stats(fl_element *e, unsigned media, fl_stats_fn cb, void *arg);

/* Asks the producer of the video flowing into e (through PassThroughs) for
 * a key frame: a WebRtcEndpoint producer sends its peer a PLI (at most one
 * per 500 ms). Status FL_ENOENT when no video is connected into e. */
int fl_element_request_key_frame(fl_element *e, fl_done_fn done, void *arg);

/* ---- the calls of an element's type ---- */

/* Runs a call the element's type answers beyond every element's, by its
 * Kurento name, with nargs string arguments (numbers in decimal, booleans
 * "true"/"false", as property values). On success cb's text is the result
 * ("" for a call that has none); on failure its status is negative and its
 * text says why in words. FL_ENOTSUP (returned) for a method the type does
 * not answer, FL_EINVAL for a count of arguments it does not take.
 *
 * WebRtcEndpoint:
 *   processOffer(offer)       the remote offer; result: our answer
 *   generateOffer([offerToReceiveAudio[, offerToReceiveVideo]])
 *                             both "true" when not given (false: we only
 *                             send that kind); result: our offer
 *   processAnswer(answer)     the remote answer to our offer; result: the
 *                             local description
 *   getLocalSessionDescriptor(), getRemoteSessionDescriptor()
 *                             result: the description ("" before any)
 *   gatherCandidates()        starts ICE gathering: candidates come as
 *                             FL_EVENT_ICE_CANDIDATE events, then
 *                             FL_EVENT_ICE_GATHERING_DONE (asked before an
 *                             SDP step, it starts once the ICE transport
 *                             exists)
 *   createDataChannel([label[, ordered[, maxPacketLifeTime[,
 *                     maxRetransmits[, protocol]]]]])
 *                             (endpoints made with the property
 *                             useDataChannels "true") opens a data channel
 *                             to the peer: DATA_CHANNEL_OPENED with its id
 *                             once the peer acknowledged it; defaults "",
 *                             true, -1, -1, "" (Kurento's); FL_ESTATE with
 *                             no data channels negotiated, FL_EINVAL for
 *                             both limits set
 *   closeDataChannel(channelId)
 *                             closes one (either side's): DATA_CHANNEL_CLOSED
 *                             once the peer closed its side; FL_ENOENT for
 *                             no such channel
 *   addIceCandidate(candidate[, sdpMid[, sdpMLineIndex]])
 *                             a remote candidate ("candidate:..." as a
 *                             browser gives it; "" ends them), queued while
 *                             no remote description exists; all media is
 *                             bundled, so sdpMid and sdpMLineIndex change
 *                             nothing. Result: "", or for a candidate taken
 *                             with an mDNS .local name (not resolved: the
 *                             peer's address comes from its checks) a note
 *                             saying so; refused, the text quotes the line
 *                             and names its first problem
 * Their statuses: FL_EBADMSG, an SDP malformed, longer than 64 KiB, or
 * lacking ICE/DTLS attributes; FL_ESTATE, out of order (a second offer, an
 * answer with no offer made); FL_ENOTSUP, no media could be accepted;
 * FL_EINVAL, a candidate that does not parse or a boolean that is not
 * one; FL_EBUSY, too many candidates queued. */
int fl_element_invoke(fl_element *e,
                      const char *method,
                      const char *const *args,
                      size_t nargs,
                      fl_text_fn cb,
                      void *arg);

#ifdef __cplusplus
}
#endif

#endif
