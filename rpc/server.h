/* The control server: WebSocket (RFC 6455) and plain HTTP on one port, with
 * optional TLS (WSS/HTTPS) on a second one, on a libuv loop (the main thread).
 *
 * It delivers each complete WebSocket message to on_message in arrival order
 * and knows nothing of JSON-RPC. Plain HTTP GET requests other than the
 * WebSocket upgrade are answered through on_http (status page, /metrics).
 * Everything here runs on the loop's thread. */
#ifndef FL_RPC_SERVER_H
#define FL_RPC_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "base/bytes.h"
#include "rpc/fd_budget.h"

typedef struct fl_rpc_server fl_rpc_server;
typedef struct fl_rpc_conn fl_rpc_conn;

typedef struct fl_rpc_server_config {
    const char *bind_addr;    /* NULL: "::" (dual stack), falling back to 0.0.0.0 */
    int port;                 /* plain ws:// and http://; 0: any free port; < 0: off */
    const char *path;         /* WebSocket path without the slash; NULL: "kurento" */
    int secure_port;          /* wss:// and https://; 0: off */
    const char *cert_file;    /* PEM with the certificate chain (and the key if key_file NULL) */
    const char *key_file;     /* PEM private key; NULL: read it from cert_file */
    const char *key_password; /* NULL: none */
    size_t max_message;       /* largest WebSocket message accepted; 0: 1 MiB */
    const char *access_token; /* NULL or "": none; else every request (the upgrade and the
                                 HTTP pages) needs ?access_token=TOKEN in its query or
                                 Authorization: Bearer TOKEN, or gets 401 */
    int max_connections;      /* 0: 10000 TCP connections at once (any phase); beyond it a
                                 new socket gets 503 and is closed (logged, counted) */
    int message_timeout_ms;   /* 0: 30 s for an unfinished HTTP request or WebSocket message
                                 (then 408, or close 1008) */
    int reader_timeout_ms;    /* 0: 30 s that output may stay unwritten because the peer does
                                 not read (then the connection is dropped) */
    size_t max_queued_output; /* 0: 16 MiB of output waiting per connection; a message that
                                 would go over closes it with 1008 */
    int fd_reserve;           /* descriptors kept free below RLIMIT_NOFILE: a socket accepted
                                 within them is closed at once (logged, counted) */
    fl__fd_budget *fd_budget; /* the daemon's budget, shared (its reserve counts, not
                                 fd_reserve); NULL: the server keeps its own */
} fl_rpc_server_config;

typedef struct fl_rpc_server_callbacks {
    void *ctx;
    /* A WebSocket connection finished its handshake. */
    void (*on_open)(void *ctx, fl_rpc_conn *conn);
    /* One complete message (text or binary; text is valid UTF-8). `data` is
     * valid during the call only and is NUL-terminated. */
    void (*on_message)(void *ctx, fl_rpc_conn *conn, const char *data, size_t len);
    /* The connection is gone (either side closed or it broke). After this
     * returns the handle is invalid. Only for connections that were opened. */
    void (*on_close)(void *ctx, fl_rpc_conn *conn);
    /* A plain HTTP GET for `path` (no query). Fill body and *content_type and
     * return the HTTP status (200, 404...). */
    int (*on_http)(void *ctx, const char *path, fl_bytes *body, const char **content_type);
} fl_rpc_server_callbacks;

/* Binds and listens. Errors: FL_EINVAL (bad config), FL_EIO (bind/listen
 * failed: the log says why), FL_ETLS (certificate or key unusable). */
int fl_rpc_server_create(fl_rpc_server **out,
                         uv_loop_t *loop,
                         const fl_rpc_server_config *cfg,
                         const fl_rpc_server_callbacks *cb);

/* The port actually bound (useful with port 0 in tests... see below). */
int fl_rpc_server_port(const fl_rpc_server *s);
int fl_rpc_server_secure_port(const fl_rpc_server *s);

/* Stops listening and closes every connection (close code 1001, going away);
 * on_close runs for each. The server is freed once every handle has closed;
 * `done` (may be NULL) runs then. */
void fl_rpc_server_close(fl_rpc_server *s, void (*done)(void *arg), void *arg);

typedef struct fl_rpc_server_stats {
    unsigned long connections;       /* open WebSocket connections */
    unsigned long connections_total; /* accepted and kept since start (TCP) */
    unsigned long messages_in;
    unsigned long messages_out;
    unsigned long protocol_errors;  /* connections closed for a protocol violation */
    unsigned long tcp_connections;  /* TCP connections held now, in any phase */
    unsigned long reading_paused;   /* connections paused by fl_rpc_conn_pause_reading now */
    unsigned long refused_max;      /* sockets refused: max_connections reached */
    unsigned long refused_fd;       /* sockets refused: within fd_reserve of the fd limit */
    unsigned long request_timeouts; /* HTTP requests (or upgrades) not finished in time */
    unsigned long message_timeouts; /* WebSocket messages not finished in time */
    unsigned long stalled_readers;  /* dropped: output unwritten for reader_timeout */
    unsigned long output_overflows; /* closed: output over max_queued_output */
    unsigned long auth_failures;    /* requests answered 401 (no or wrong access token) */
    long fds;                       /* descriptors in use (counted at most 10 s ago) */
    long fd_limit;                  /* RLIMIT_NOFILE; 0: none */
} fl_rpc_server_stats;

void fl_rpc_server_get_stats(const fl_rpc_server *s, fl_rpc_server_stats *out);

/* Queues one text message. FL_ECLOSED when the connection is closing, or
 * when the message would take the output waiting for the peer over
 * max_queued_output: the connection is then closed (1008). */
int fl_rpc_conn_send(fl_rpc_conn *conn, const char *text, size_t len);

/* Stops (pause != 0) or resumes reading from the connection: the service
 * pauses a client with too many requests waiting and resumes it as answers go
 * out, so nothing read is ever dropped. While paused no on_message runs, even
 * for messages already read (they wait, in order); the unfinished-message
 * clock stops. Resuming delivers them from the loop (on a later turn, never
 * inside this call), then reading starts again. Closing a connection
 * (fl_rpc_conn_close) resumes reading, to see the peer's close. May be called
 * from on_message. */
void fl_rpc_conn_pause_reading(fl_rpc_conn *conn, int pause);

/* Starts the closing handshake with a status code and reason; on_close
 * follows. */
void fl_rpc_conn_close(fl_rpc_conn *conn, int code, const char *reason);

void fl_rpc_conn_set_user(fl_rpc_conn *conn, void *user);
void *fl_rpc_conn_get_user(const fl_rpc_conn *conn);

/* "ip:port" of the peer. */
const char *fl_rpc_conn_peer(const fl_rpc_conn *conn);

#endif
