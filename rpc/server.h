/* The control server: WebSocket (RFC 6455) and plain HTTP on one port, with
 * optional TLS (WSS/HTTPS) on a second one, on a libuv loop (the main thread).
 *
 * It delivers each complete WebSocket message to on_message in arrival order
 * and knows nothing of JSON-RPC. HTTP requests other than the WebSocket
 * upgrade are offered first to on_request (routes such as WHIP/WHEP or
 * HttpPostEndpoint take theirs, with bodies read whole or streamed, answered
 * at once or later: fl_rpc_http below); the others, if GET, are answered
 * through on_http (status page, /metrics), else 405. Every HTTP answer closes
 * its connection. Everything here runs on the loop's thread. */
#ifndef FL_RPC_SERVER_H
#define FL_RPC_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "base/bytes.h"
#include "base/http.h"
#include "rpc/fd_budget.h"

typedef struct fl_rpc_server fl_rpc_server;
typedef struct fl_rpc_conn fl_rpc_conn;
typedef struct fl_rpc_http
        fl_rpc_http; /* one HTTP request routed to a handler; main-loop thread only */

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
    /* Every request that is not a WebSocket upgrade, before the access-token
     * check and before on_http: return FL_ENOENT when no route of yours takes
     * its path (the server goes on as before: token check, GET page through
     * on_http, else 405/404); otherwise the route owns it and must, before
     * returning 0, either call fl_rpc_http_accept (and answer later with
     * fl_rpc_http_respond) or answer at once with fl_rpc_http_respond (a
     * route that does neither, or returns another error, gets a 500 sent for
     * it). A route checks its own authentication. May be NULL. */
    int (*on_request)(void *ctx, fl_rpc_http *req);
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

/* The local address the connection came to, as a URL authority
 * ("127.0.0.1:8888", "[::1]:8888"; an IPv4-mapped address as IPv4) in
 * `authority` (cap bytes, 64 is enough), and in *tls (may be NULL) 1 if it
 * came over TLS: what a URL handed back to this client should name (getUrl
 * of an HttpPostEndpoint). 0, FL_EIO if the socket has no address,
 * FL_ERANGE if cap is too small. */
int fl_rpc_conn_local(const fl_rpc_conn *conn, char *authority, size_t cap, int *tls);

/* ---- HTTP requests given to on_request ------------------------------------ */

typedef struct fl_rpc_http_handler {
    /* Stream mode only: body bytes as they come (valid during the call). */
    void (*body)(void *user, fl_rpc_http *req, const uint8_t *data, size_t len);
    /* The whole body was read: buffered mode gives it here (NUL-terminated
     * after len, len may be 0); stream mode gives NULL, 0. The request stays
     * valid until fl_rpc_http_respond. */
    void (*end)(void *user, fl_rpc_http *req, const uint8_t *data, size_t len);
    /* The request ended before fl_rpc_http_respond: the peer closed or broke
     * the connection (FL_ECLOSED), the body was malformed (FL_EBADMSG: the
     * server already answered 400) or over max_body (FL_EMSGSIZE: answered
     * 413), the buffered body was not finished within message_timeout
     * (FL_ETIMEDOUT: answered 408), or the server is closing (FL_ECANCELED).
     * req is invalid once this returns; nothing else is called after it, and
     * it must not respond. Never called after fl_rpc_http_respond. */
    void (*gone)(void *user, fl_rpc_http *req, int status);
} fl_rpc_http_handler;

/* Takes the request (call it from on_request): its body (Content-Length,
 * chunked, or none) goes to h (copied; user passed back). max_body > 0:
 * buffered, at most that many bytes (more: 413 and gone, a Content-Length
 * over it before reading any); 0: stream mode, any length. A body not
 * finished within the server's message_timeout is answered 408 (buffered
 * mode only; stream mode times nothing: its handler does). "Expect:
 * 100-continue" is answered 100 Continue. The handler's first call comes
 * after on_request returns (end at once for a request without a body). */
void fl_rpc_http_accept(fl_rpc_http *req,
                        const fl_rpc_http_handler *h,
                        void *user,
                        size_t max_body);

/* Stream mode: stop (1) or resume (0) reading the body (back-pressure); the
 * peer's TCP window fills. No body call comes while paused, even for bytes
 * already read; resuming delivers them from the loop on a later turn, never
 * inside this call. May be called from the body callback. */
void fl_rpc_http_pause(fl_rpc_http *req, int pause);

/* Answers and closes the connection once written ("Connection: close");
 * Content-Length is always sent. extra: more header fields (may be NULL/0);
 * content_type NULL with an empty body. The request is invalid after the
 * call (no gone follows). Can be called from on_request, from any handler
 * callback but gone, or later from the loop. Returns 0; FL_EINVAL for a status
 * outside 100-599 or a field with CR/LF (a 500 goes instead; the request
 * ends all the same); FL_ECLOSED when the request already ended (misuse:
 * gone ran, or it was answered). */
int fl_rpc_http_respond(fl_rpc_http *req,
                        int status,
                        const fl_http_header *extra,
                        size_t nextra,
                        const char *content_type,
                        const void *body,
                        size_t len);

const char *fl_rpc_http_method(const fl_rpc_http *req); /* "POST" */
const char *fl_rpc_http_path(const fl_rpc_http *req);   /* "/whip/cam1" (no query, not decoded) */
const char *fl_rpc_http_query(const fl_rpc_http *req);  /* "a=1" without '?', "" when none */
/* The first field of that name (case-insensitive), NULL when absent. */
const char *fl_rpc_http_header(const fl_rpc_http *req, const char *name);
const char *fl_rpc_http_peer(const fl_rpc_http *req); /* "127.0.0.1:5555" for logs */
/* The local address the request came to, as fl_rpc_conn_local. */
int fl_rpc_http_local(const fl_rpc_http *req, char *authority, size_t cap, int *tls);
/* The server-wide access token check (Authorization: Bearer TOKEN or
 * ?access_token=TOKEN) a route may reuse with its own token: true (1) when
 * token is NULL or "" or the request carries it. */
int fl_rpc_http_token_ok(const fl_rpc_http *req, const char *token);

#endif
