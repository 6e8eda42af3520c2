/* WebSocket (RFC 6455), sans-IO, for the server and the client role.
 *
 * Handshake: fl_ws_handshake_server_accept() checks an upgrade request parsed
 * by rpc/http and writes the 101 answer (or the error answer);
 * fl_ws_handshake_client_write() / fl_ws_handshake_client_check() do the
 * client side.
 *
 * Framing: a fl_ws takes the bytes that follow the handshake with
 * fl_ws_handle_input() and is polled with fl_ws_poll_event() for complete
 * messages (reassembled from fragments, text checked as UTF-8), pongs and the
 * close. Pings are answered by itself. Bytes to send accumulate inside and
 * are taken with fl_ws_poll_transmit(); the fl_ws_send_* functions queue
 * frames. A protocol violation by the peer queues a close frame with the
 * RFC's status code (1002 protocol error, 1007 invalid UTF-8, 1009 too big)
 * and reports a FL_WS_EVENT_CLOSE with `local` set; the glue then sends what
 * is queued and closes the transport.
 *
 * No sockets, no clock, no global state. A fl_ws belongs to one thread. */
#ifndef FL_RPC_WS_H
#define FL_RPC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/http.h"
#include "base/rand.h"

#define FL_WS_MAX_CONTROL 125
#define FL_WS_MAX_REASON  123

/* Status codes (RFC 6455 section 7.4.1). */
#define FL_WS_CLOSE_NORMAL       1000
#define FL_WS_CLOSE_GOING_AWAY   1001
#define FL_WS_CLOSE_PROTOCOL     1002
#define FL_WS_CLOSE_UNSUPPORTED  1003
#define FL_WS_CLOSE_NO_STATUS    1005 /* never sent: no code in the close */
#define FL_WS_CLOSE_ABNORMAL     1006 /* never sent: transport lost */
#define FL_WS_CLOSE_INVALID_DATA 1007
#define FL_WS_CLOSE_POLICY       1008
#define FL_WS_CLOSE_TOO_BIG      1009
#define FL_WS_CLOSE_INTERNAL     1011

typedef struct fl_ws fl_ws;

typedef enum fl_ws_role {
    FL_WS_SERVER = 0,
    FL_WS_CLIENT = 1,
} fl_ws_role;

typedef struct fl_ws_config {
    fl_ws_role role;
    size_t max_message; /* largest message accepted; 0: 1 MiB */
    fl_rand *rand;      /* masking keys (client role); NULL: fl_rand_system() */
} fl_ws_config;

typedef enum fl_ws_state {
    FL_WS_OPEN = 0,    /* data flows both ways */
    FL_WS_CLOSING = 1, /* we sent a close and wait for the peer's */
    FL_WS_CLOSED = 2,  /* closing handshake done or failed: input is ignored */
} fl_ws_state;

typedef enum fl_ws_event_type {
    FL_WS_EVENT_TEXT = 1,   /* complete message, valid UTF-8 */
    FL_WS_EVENT_BINARY = 2, /* complete message */
    FL_WS_EVENT_PING = 3,   /* informational: the pong is already queued */
    FL_WS_EVENT_PONG = 4,
    FL_WS_EVENT_CLOSE = 5, /* the state is now FL_WS_CLOSED */
} fl_ws_event_type;

typedef struct fl_ws_event {
    fl_ws_event_type type;
    /* Message or ping/pong payload; NUL-terminated (not counted in len).
     * Valid until the next fl_ws_poll_event, fl_ws_handle_input or
     * fl_ws_destroy. */
    const uint8_t *data;
    size_t len;
    /* CLOSE: the status code received (FL_WS_CLOSE_NO_STATUS if none) or,
     * with `local`, the one we sent because the peer broke the protocol. */
    int code;
    const char *reason; /* NUL-terminated, valid like data */
    size_t reason_len;
    bool local;
} fl_ws_event;

/* Writes the Sec-WebSocket-Accept value for `key` into out (28 chars + NUL).
 * FL_EINVAL if key is empty or too long. */
int fl_ws_accept_key(const char *key, char out[29]);

/* Checks that `req` is a valid opening handshake (GET, HTTP/1.1 or later,
 * Upgrade: websocket, Connection containing Upgrade, Sec-WebSocket-Version
 * 13, a Sec-WebSocket-Key of 16 base64 bytes) and appends the 101 response to
 * `out`. On failure appends a 400 response (426 with Sec-WebSocket-Version:
 * 13 for another version) with Connection: close, and returns FL_EPROTO;
 * FL_ENOMEM if out could not grow. */
int fl_ws_handshake_server_accept(const fl_http_head *req, fl_bytes *out);

/* Appends a client opening handshake for `host` ("127.0.0.1:8888") and
 * `target` ("/kurento") with a fresh key from `rand`, stored in key_out (24
 * chars + NUL) for fl_ws_handshake_client_check. */
int fl_ws_handshake_client_write(fl_bytes *out,
                                 const char *host,
                                 const char *target,
                                 fl_rand *rand,
                                 char key_out[25]);

/* Checks the server's answer: 101, Upgrade: websocket, Connection: Upgrade
 * and the Sec-WebSocket-Accept matching `key`. FL_EPROTO otherwise. */
int fl_ws_handshake_client_check(const fl_http_head *resp, const char *key);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool fl_ws_utf8_valid(const uint8_t *s, size_t len);

/* Creates a framing endpoint (heap; the caller destroys it). */
int fl_ws_create(fl_ws **out, const fl_ws_config *cfg);
void fl_ws_destroy(fl_ws *ws);

/* Buffers bytes received from the peer; they are parsed by
 * fl_ws_poll_event. Bytes arriving once the state is FL_WS_CLOSED are
 * dropped. FL_ENOMEM if the buffer cannot grow. */
int fl_ws_handle_input(fl_ws *ws, const uint8_t *data, size_t len);

/* Parses buffered input up to the next event. Returns 0 and fills *ev,
 * FL_EAGAIN when nothing more can be reported yet, FL_ENOMEM. */
int fl_ws_poll_event(fl_ws *ws, fl_ws_event *ev);

/* Moves the bytes waiting to be sent into *out (overwritten: it must not
 * hold memory; the caller deinits it when sent). FL_EAGAIN when there is
 * nothing to send. */
int fl_ws_poll_transmit(fl_ws *ws, fl_bytes *out);

/* Bytes queued for sending. */
size_t fl_ws_pending(const fl_ws *ws);

/* True while input is held that fl_ws_poll_event has not reported: part of a
 * frame, the first fragments of a message, or (if polling stopped early)
 * whole frames. After polling up to FL_EAGAIN it means a message the peer
 * has not finished. False once FL_WS_CLOSED. */
bool fl_ws_input_held(const fl_ws *ws);

fl_ws_state fl_ws_get_state(const fl_ws *ws);

/* Queue one unfragmented message. FL_ECLOSED once a close was sent or
 * received; FL_EINVAL for text that is not UTF-8; FL_ENOMEM. */
int fl_ws_send_text(fl_ws *ws, const void *data, size_t len);
int fl_ws_send_binary(fl_ws *ws, const void *data, size_t len);

/* Queue a ping (payload up to 125 bytes, else FL_EINVAL). FL_ECLOSED as
 * above. */
int fl_ws_send_ping(fl_ws *ws, const void *data, size_t len);

/* Starts the closing handshake: code 0 sends a close without status, else
 * a valid code with a reason (UTF-8, cut to 123 bytes on a character
 * boundary; NULL: none). The state becomes FL_WS_CLOSING, then
 * FL_WS_CLOSED when the peer's close arrives (FL_WS_EVENT_CLOSE).
 * FL_ECLOSED if a close was already sent, FL_EINVAL for a bad code. */
int fl_ws_send_close(fl_ws *ws, int code, const char *reason);

/* True if `code` may appear in a close frame on the wire. */
bool fl_ws_close_code_valid(int code);

#endif
