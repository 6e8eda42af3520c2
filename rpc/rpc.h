/* The Kurento Protocol service: JSON-RPC 2.0 over the control server, the
 * session and object registry, events, and the fluo daemon's configuration.
 * Everything here runs on one libuv loop (the main thread); media work goes
 * to the engine (engine/fluo.h). */
#ifndef FL_RPC_RPC_H
#define FL_RPC_RPC_H

#include <stddef.h>

#include <uv.h>

#include "engine/fluo.h"

/* Caps on what clients may create (fluo.limits.*); each refusal is
 * answered with NOT_ENOUGH_RESOURCES naming the limit. */
typedef struct fl_rpc_limits {
    int objects_per_session;   /* objectsPerSession (10000) */
    int endpoints_per_session; /* endpointsPerSession (1000) */
    int pipelines_per_session; /* pipelinesPerSession (1000) */
    int objects;               /* objects: server-wide (100000) */
    int endpoints;             /* endpoints: server-wide (5000) */
    int pipelines;             /* pipelines: server-wide (10000) */
    int sessions;              /* sessions: server-wide (10000) */
    int fd_reserve;            /* fdReserve: descriptors kept free below RLIMIT_NOFILE (64) */
} fl_rpc_limits;

/* Settings of the daemon. Kurento's keys are used where they exist (see
 * fl_rpc_config_load_file). */
typedef struct fl_rpc_config {
    char *bind_addr;     /* NULL: every interface */
    int port;            /* mediaServer.net.websocket.port (8888) */
    char *path;          /* mediaServer.net.websocket.path ("kurento") */
    int secure_port;     /* mediaServer.net.websocket.secure.port (0: off) */
    char *cert_file;     /* mediaServer.net.websocket.secure.certificate */
    char *cert_password; /* mediaServer.net.websocket.secure.password */
    int gc_period;       /* mediaServer.resources.garbageCollectorPeriod, seconds (240) */
    size_t max_message;  /* fluo.maxMessageSize, bytes (1 MiB) */
    int workers;         /* fluo.workers (0: one per core) */
    int codec_threads;   /* fluo.codecThreads / FLUO_CODEC_THREADS: transcoders' threads (0: one per
                            core) */
    char *log_spec;      /* fluo.log ("*:3") */
    int single_port;     /* fluo.singlePort / FLUO_SINGLE_PORT / --single-port (1): the
                            WebRtcEndpoints of a worker share one UDP port; 0: a port each */
    int udp_port;        /* fluo.udpPort / FLUO_UDP_PORT / --udp-port (0): worker i's shared
                            port is udp_port + i; 0: a free port of minPort-maxPort */
    int spread_from;     /* fluo.spreadFrom / FLUO_SPREAD_FROM / --spread-from (16): a pipeline
                            of that many elements spreads its endpoints over the workers; 0 never */
    /* Media settings (WebRtcEndpoint.conf.ini keys), kept for the endpoints. */
    int min_port;             /* KMS_MIN_PORT (40000) */
    int max_port;             /* KMS_MAX_PORT (65535) */
    char *stun_address;       /* stunServerAddress / KMS_STUN_IP */
    int stun_port;            /* stunServerPort / KMS_STUN_PORT */
    char *turn_url;           /* turnURL / KMS_TURN_URL */
    char *external_ipv4;      /* externalIPv4 / KMS_EXTERNAL_IPV4 */
    char *external_ipv6;      /* externalIPv6 / KMS_EXTERNAL_IPV6 */
    char *network_interfaces; /* networkInterfaces / KMS_NETWORK_INTERFACES */
    /* Access and protection of the control port (fluo.*). */
    char *access_token;       /* fluo.accessToken / FLUO_ACCESS_TOKEN (NULL: none asked) */
    int isolated;             /* fluo.isolatedSessions: a session sees only its objects */
    int max_connections;      /* fluo.maxConnections (10000) */
    int message_timeout;      /* fluo.messageTimeout: s an unfinished message may take (30) */
    int reader_timeout;       /* fluo.stalledReaderTimeout: s output may wait unread (30) */
    size_t max_queued_output; /* fluo.maxQueuedOutput: bytes per connection (16 MiB) */
    fl_rpc_limits limits;     /* fluo.limits.* */
    /* Where a RecorderEndpoint may write: folders separated by ':'
     * (fluo.recordRoots / FLUO_RECORD_ROOTS); NULL or "": anywhere the
     * server's user can write. */
    char *record_roots;
    /* Where a PlayerEndpoint may read file:// URIs: folders separated by
     * ':' (fluo.playRoots / FLUO_PLAY_ROOTS); NULL or "": anywhere the
     * server's user can read. */
    char *play_roots;
    /* WHIP/WHEP on the control port (fluo.whip.*): the bearer token asked of
     * their requests (fluo.whip.token / FLUO_WHIP_TOKEN / --whip-token; NULL
     * or "": the access token, if any, else none), and how many publishers
     * and viewers at once (fluo.whip.maxSessions, 100; beyond: 503); a
     * resource whose client has not connected (DTLS) this many seconds after
     * its 201 is ended (fluo.whip.connectTimeout, 30). */
    char *whip_token;
    int whip_max_sessions;
    int whip_connect_timeout;
} fl_rpc_config;

/* Fills the defaults. */
void fl_rpc_config_init(fl_rpc_config *cfg);

void fl_rpc_config_deinit(fl_rpc_config *cfg);

/* Applies a JSON config file. On error returns FL_EINVAL/FL_EIO and writes a
 * message naming the file and the problem into err. */
int fl_rpc_config_load_file(fl_rpc_config *cfg, const char *path, char *err, size_t errlen);

/* Applies Kurento's KMS_* environment variables. */
int fl_rpc_config_load_env(fl_rpc_config *cfg, char *err, size_t errlen);

typedef struct fl_rpc fl_rpc;

/* Starts the service on `loop` with the engine (not owned). The config is
 * copied by value: its strings stay the caller's and must outlive the service. */
int fl_rpc_create(fl_rpc **out, uv_loop_t *loop, fl_engine *engine, const fl_rpc_config *cfg);

/* Ports bound (after create). */
int fl_rpc_port(const fl_rpc *rpc);
int fl_rpc_secure_port(const fl_rpc *rpc);

/* Releases every object, closes every connection and the listeners; `done`
 * runs once everything is closed and freed (the engine may be destroyed then). */
void fl_rpc_shutdown(fl_rpc *rpc, void (*done)(void *arg), void *arg);

#endif
