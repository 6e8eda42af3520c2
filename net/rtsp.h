/* RTSP 1.0 (RFC 2326) for the RTSP client, sans-IO: everything that is not
 * I/O.
 *
 * - The stream reader: one TCP byte stream from the server carries RTSP
 *   responses, the server's own requests (OPTIONS, GET_PARAMETER,
 *   ANNOUNCE...) and, once RTP is interleaved (RFC 2326 10.12), binary
 *   frames ('$', channel, 16-bit length, data). Bytes go in in any split;
 *   items come out one at a time.
 * - Request and response heads written for the client's side.
 * - Header values: Transport (RTP/AVP over UDP with client_port and
 *   server_port, RTP/AVP/TCP with interleaved channels, ssrc, source),
 *   Session (id and timeout), RTP-Info.
 * - URLs: rtsp:// and rtspt:// URIs with their credentials, control URLs
 *   resolved against the base (Content-Base, Content-Location or the
 *   request's URL), and the a=control attributes of a DESCRIBE's SDP.
 *
 * No global state; nothing allocates except the fl_bytes writers. Not
 * thread-safe: one reader belongs to one thread. */
#ifndef FL_NET_RTSP_H
#define FL_NET_RTSP_H

#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/http.h"

#define FL_RTSP_MAX_BODY 65536 /* longest message body accepted (an SDP) */
#define FL_RTSP_MAX_URL  1024  /* longest URL kept, NUL included */

/* ---- the stream reader ---- */

typedef enum fl_rtsp_item_kind {
    FL_RTSP_ITEM_RESPONSE = 1, /* "RTSP/1.0 200 OK" ... */
    FL_RTSP_ITEM_REQUEST,      /* a request from the server */
    FL_RTSP_ITEM_FRAME,        /* an interleaved binary frame */
} fl_rtsp_item_kind;

typedef struct fl_rtsp_item {
    fl_rtsp_item_kind kind;
    /* RESPONSE and REQUEST: the head (h->rtsp says it was RTSP/1.x; an
     * HTTP/1.x head is returned too, for the caller to refuse) and the
     * body (Content-Length bytes; NULL and 0 when none). */
    const fl_http_head *head;
    const uint8_t *body;
    size_t body_len;
    /* FRAME: its channel and bytes. */
    uint8_t channel;
    const uint8_t *data;
    size_t len;
} fl_rtsp_item;

typedef struct fl_rtsp_reader {
    /* private */
    int state;
    int err;
    uint8_t pre[5];
    size_t npre;
    size_t need; /* body or frame bytes expected */
    size_t have; /* of them, in buf */
    uint8_t channel;
    fl_http_head head;
    uint8_t buf[FL_RTSP_MAX_BODY];
} fl_rtsp_reader;

/* Prepares r (caller's memory, about 74 KiB) for a new connection. */
void fl_rtsp_reader_init(fl_rtsp_reader *r);

/* Feeds len bytes; *consumed says how many were taken. Returns 1 with
 * *out filled when an item is complete (call again with the bytes not
 * consumed), 0 when every byte was taken and the item goes on in the next
 * ones, or an error: FL_EBADMSG (a malformed head, a bad Content-Length),
 * FL_EMSGSIZE (a head over FL_HTTP_MAX_HEAD bytes, a body over
 * FL_RTSP_MAX_BODY). After an error the stream cannot be read further:
 * every later call returns the same error. out's pointers stay valid until
 * the next call (they point into data or into r). CR and LF bytes between
 * items are skipped. */
int fl_rtsp_reader_read(fl_rtsp_reader *r,
                        const uint8_t *data,
                        size_t len,
                        size_t *consumed,
                        fl_rtsp_item *out);

/* ---- writing messages ---- */

/* Appends "METHOD url RTSP/1.0", "CSeq: cseq", the fields and the empty
 * line. FL_EINVAL for a method that is not a token, an empty url or a
 * string with CR, LF or a space (url). */
int fl_rtsp_request_write(fl_bytes *out,
                          const char *method,
                          const char *url,
                          uint32_t cseq,
                          const fl_http_header *headers,
                          size_t count);

/* Appends "RTSP/1.0 status reason", the CSeq given (the request's value;
 * NULL: none) and the empty line: the answer to a server's request.
 * FL_EINVAL for a status outside 100..599 or a cseq with CR or LF. */
int fl_rtsp_response_write(fl_bytes *out, int status, const char *cseq);

/* Writes the 4-byte header of an interleaved frame. FL_EMSGSIZE when len
 * is over 65535. */
int fl_rtsp_frame_header_write(uint8_t out[4], uint8_t channel, size_t len);

/* ---- header values ---- */

/* A Transport header's (first) transport-spec. Ports and channels are -1
 * when absent; a single port or channel n stands for n-(n+1). */
typedef struct fl_rtsp_transport {
    int tcp;       /* lower transport TCP: RTP/AVP/TCP */
    int multicast; /* "multicast" (else unicast) */
    int client_port[2];
    int server_port[2];
    int interleaved[2];
    int has_ssrc;
    uint32_t ssrc;
    char source[64]; /* source=, "" when absent */
} fl_rtsp_transport;

/* Parses the first transport-spec of a Transport value ("RTP/AVP;unicast;
 * client_port=5000-5001, RTP/AVP/TCP;..." reads the first). 0,
 * FL_ENOTSUP for a protocol other than RTP/AVP (RTP/SAVP, RAW...),
 * FL_EBADMSG for a malformed parameter (a port or channel out of range, an
 * ssrc that is not 8 hex digits or fewer). Unknown parameters are skipped. */
int fl_rtsp_transport_parse(fl_rtsp_transport *t, const char *value);

/* Writes t as a Transport value (what is set of it: unicast, the ports or
 * channels that are not -1, ssrc), NUL-terminated: the length, or
 * FL_EMSGSIZE. */
long fl_rtsp_transport_write(char *out, size_t cap, const fl_rtsp_transport *t);

/* Parses a Session value "id[;timeout=n]": the id into id (cap bytes) and
 * the timeout in seconds (60 when absent, as RFC 2326 12.37 says). 0,
 * FL_EBADMSG for an empty id or a bad timeout, FL_EMSGSIZE for an id too
 * long for id. */
int fl_rtsp_session_parse(const char *value, char *id, size_t cap, unsigned *timeout_s);

/* One stream's entry of RTP-Info (RFC 2326 12.33). */
typedef struct fl_rtsp_rtp_info {
    char url[FL_RTSP_MAX_URL];
    int has_seq;
    uint16_t seq;
    int has_rtptime;
    uint32_t rtptime;
} fl_rtsp_rtp_info;

/* Parses an RTP-Info value into up to cap entries (*n how many). 0,
 * FL_EBADMSG for an entry without url or with a bad number, FL_EMSGSIZE
 * for a url too long or more entries than cap. */
int fl_rtsp_rtp_info_parse(const char *value, fl_rtsp_rtp_info *out, size_t cap, size_t *n);

/* ---- URLs ---- */

typedef struct fl_rtsp_url {
    int tcp;        /* rtspt:// (interleaved TCP asked for) */
    char user[128]; /* percent-decoded; "" when the URI has none */
    char password[128];
    int has_credentials;
    char host[256]; /* without brackets for IPv6 */
    uint16_t port;  /* 554 when absent */
    /* What goes in requests: "rtsp://host[:port]/path?query", the scheme
     * rtsp:// also for rtspt://, without the credentials. */
    char request[FL_RTSP_MAX_URL];
} fl_rtsp_url;

/* Parses an rtsp:// or rtspt:// URI. 0, FL_EINVAL for another scheme or
 * a URI that does not parse (no host, a bad port, a bad escape, a space or
 * control character), FL_EMSGSIZE for a part too long. */
int fl_rtsp_url_parse(fl_rtsp_url *u, const char *uri);

/* The URL of a control attribute: "*" or "" is base itself, an absolute
 * URL (with "://") stays as it is, anything else is appended to base with
 * one '/' between (as cameras and the clients they are tested with
 * expect: base "rtsp://h/s" and "trackID=1" give "rtsp://h/s/trackID=1").
 * 0 or FL_EMSGSIZE. */
int fl_rtsp_url_resolve(char *out, size_t cap, const char *base, const char *control);

/* Reads the a=control attributes of an SDP text: the session's (before any
 * m= line) into session (scap bytes, "" when absent) and each media
 * section's into media[i] ("" when absent) for the first max sections;
 * *nmedia is the number of m= lines. 0, or FL_EMSGSIZE for a value longer
 * than FL_RTSP_MAX_URL - 1 (or scap - 1). */
int fl_rtsp_sdp_controls(const char *sdp,
                         size_t len,
                         char *session,
                         size_t scap,
                         char (*media)[FL_RTSP_MAX_URL],
                         size_t max,
                         size_t *nmedia);

#endif
