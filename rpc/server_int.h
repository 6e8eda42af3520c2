/* Private to rpc/server*.c: the server's and a connection's state, what
 * rpc/server.c lends the request code of rpc/server_http.c, and the access
 * token the control server checks before it takes a request. Runs on the
 * server's loop thread. */
#ifndef FL_RPC_SERVER_INT_H
#define FL_RPC_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/http.h"
#include "base/list.h"
#include "base/log.h"
#include "rpc/server.h"
#include "rpc/tls.h"
#include "rpc/ws.h"

#define READ_BUF_SIZE 65536
#define MAX_LISTENERS 4

typedef struct listener {
    uv_tcp_t tcp;
    fl_rpc_server *srv;
    bool secure;
} listener;

enum conn_phase {
    PHASE_HTTP = 0,
    PHASE_WS = 1,
    PHASE_REQ = 2, /* a request taken by a route (fl_rpc_http_accept): its body */
};

struct fl_rpc_conn {
    fl_list link;
    fl_rpc_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles;
    enum conn_phase phase;
    fl_tls *tls;
    fl_http_head *head;
    fl_ws *ws;
    fl_rpc_http *req; /* the request given to on_request; freed with the connection */
    void *user;
    bool opened;        /* on_open ran; on_close is owed */
    bool tearing;       /* teardown started: no more input is processed */
    bool shutting;      /* uv_shutdown issued: no more writes */
    bool shutdown_done; /* lingering until EOF */
    bool destroying;    /* uv_close called */
    bool broken;        /* a write failed: the timer tears down */
    bool reading;       /* uv_read_start in force */
    bool paused;        /* fl_rpc_conn_pause_reading: no reads, no messages delivered */
    fl_list resumed;    /* in srv->resumed: input held while paused waits for on_idle */
    uint64_t msg_since; /* loop ms since a message is unfinished; 0: none (or paused) */
    uint64_t out_since; /* loop ms since output waits unwritten; 0: none */
    uint64_t due;       /* what the timer is set to in the open phase; 0: stopped */
    char peer[64];
};

struct fl_rpc_server {
    uv_loop_t *loop;
    fl_rpc_server_callbacks cb;
    char *path;
    size_t max_message;
    char *access_token; /* NULL: none */
    unsigned long max_connections;
    uint64_t message_timeout_ms;
    uint64_t reader_timeout_ms;
    size_t max_queued_output;
    listener listeners[MAX_LISTENERS];
    int listener_count;
    int handles_open; /* listeners, idle and tick not closed yet */
    int port;
    int secure_port;
    fl_tls_config *tls_cfg;
    fl_list conns;
    fl_list resumed;       /* connections resumed with input held, for on_idle */
    uv_idle_t idle;        /* runs while `resumed` is not empty */
    uv_timer_t tick;       /* every TICK_MS: descriptor count, held-back warnings */
    fl__fd_budget own_fds; /* when the config shares none */
    fl__fd_budget *fds;
    fl_log_rate refused_log;
    fl_log_rate timeout_log;
    fl_log_rate reader_log;
    fl_log_rate auth_log;
    fl_rpc_server_stats stats;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    fl_bytes plain; /* scratch: decrypted input of the current read */
    char read_buf[READ_BUF_SIZE];
};

/* True if `token` is NULL or empty, or the request carries it: as
 * "access_token=TOKEN" in the query of its target (percent-decoded) or as
 * "Authorization: Bearer TOKEN". The comparison takes the same time wherever
 * the strings differ. */
bool fl__server_token_ok(const char *token, const fl_http_head *req);

/* ---- a request given to on_request (rpc/server_http.c) ---- */

enum fl__req_state {
    FL__REQ_NEW = 0,  /* in on_request */
    FL__REQ_ACCEPTED, /* fl_rpc_http_accept: the body goes to the handler */
    FL__REQ_DONE,     /* answered, or gone: nothing more is called */
};

struct fl_rpc_http {
    fl_rpc_conn *conn;  /* NULL when driven without a socket (the fuzz target) */
    fl_http_head *head; /* owned */
    char *target;       /* owned copy of the target: the path, NUL, the query */
    const char *query;  /* into target; "" when none */
    enum fl__req_state state;
    fl_rpc_http_handler h;
    void *user;
    size_t max_body; /* 0: stream mode */
    fl_http_body body;
    fl_bytes buf;  /* buffered mode: the body so far */
    fl_bytes held; /* stream mode, paused: input read but not yet given */
    bool ended;    /* end ran */
    bool paused;
};

/* Takes `head` (parsed, heap) into req (zeroed by the caller). FL_ENOMEM
 * (head freed all the same). */
int fl__http_req_init(fl_rpc_http *req, fl_http_head *head);
/* Accepted: prepares the body reader. FL_EBADMSG for bad framing headers,
 * FL_EMSGSIZE for a Content-Length over max_body (buffered). */
int fl__http_req_start(fl_rpc_http *req);
/* Sans-IO: feeds body bytes to the handler. Returns FL_EAGAIN when all were
 * taken and the body goes on; 0 once the body ended (end ran; bytes after it
 * are not taken); FL_EBUSY when the handler paused or answered with bytes
 * left; FL_EBADMSG or FL_EMSGSIZE (nothing was called for it: the caller
 * answers and says gone). *used: input bytes taken. */
int fl__http_req_input(fl_rpc_http *req, const uint8_t *data, size_t len, size_t *used);
void fl__http_req_deinit(fl_rpc_http *req);

/* ---- lent by rpc/server.c to rpc/server_http.c ---- */

/* The loop's time in ms, never 0. */
uint64_t fl__server_now(const fl_rpc_server *s);
/* Sends plaintext (through TLS on the secure port); takes b's memory. */
void fl__conn_send(fl_rpc_conn *c, fl_bytes *b);
/* Graceful close: what is queued goes out, then FIN. */
void fl__conn_finish(fl_rpc_conn *c);
/* Starts or stops reading from the socket. */
void fl__conn_reading(fl_rpc_conn *c, bool on);
/* Queues c for the server's idle turn (fl__http_resume runs from there). */
void fl__conn_resume_later(fl_rpc_conn *c);
/* Sets the connection's timer (its phase's clock) to go off in ms. */
void fl__conn_timer(fl_rpc_conn *c, uint64_t ms);
/* Answers `status` with a short text body, and closes. */
void fl__conn_http_error(fl_rpc_conn *c, int status);

/* ---- rpc/server_http.c: requests given to on_request ---- */

/* After the head of a request that is not an upgrade: offers it to
 * on_request. True if a route took it (answered, or accepted: the phase is
 * then PHASE_REQ and fl__http_begin must follow); c->head then belongs to
 * the request. False: the server goes on as before. */
bool fl__http_route(fl_rpc_conn *c);
/* The bytes after the head of an accepted request (len may be 0). */
void fl__http_begin(fl_rpc_conn *c, const uint8_t *data, size_t len);
/* More input in PHASE_REQ. */
void fl__http_input(fl_rpc_conn *c, const uint8_t *data, size_t len);
/* From the idle turn after fl_rpc_http_pause(req, 0). */
void fl__http_resume(fl_rpc_conn *c);
/* The connection's timer in PHASE_REQ (the unfinished buffered body). */
void fl__http_timeout(fl_rpc_conn *c);
/* The request ends unanswered (status as the handler's gone); no-op once
 * answered or gone. */
void fl__http_gone(fl_rpc_conn *c, int status);
/* Frees the request (from the connection's last close callback). */
void fl__http_free(fl_rpc_http *req);

#endif
