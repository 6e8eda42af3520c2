/* HTTP/1.1 message heads (RFC 9112), and RTSP/1.0 ones (RFC 2326: the same
 * syntax), sans-IO.
 *
 * fl_http_head parses the head of one request or response (start line and
 * header fields, up to the empty line) from bytes fed in any split. The body,
 * if any, is the caller's business: parsing stops right after the head.
 * Limits: FL_HTTP_MAX_HEAD bytes for the whole head, FL_HTTP_MAX_HEADERS
 * fields. Obsolete line folding, bare CR or LF, whitespace before the colon
 * and control characters are rejected.
 *
 * fl_http_body reads the body that follows a head (RFC 9112 6 and 7):
 * Content-Length bytes, the chunked transfer coding, or everything up to the
 * connection's close, from bytes fed in any split, handing out the body
 * bytes as pointers into the input (no copy).
 *
 * fl_http_url and fl_http_content_range_parse read what a client needs
 * beyond that: URLs (and Location references), Content-Range.
 *
 * The writers append a request or response head (and body) to an fl_bytes.
 * Nothing here allocates except the fl_bytes writers. Not thread-safe: one
 * object belongs to one thread. */
#ifndef FL_BASE_HTTP_H
#define FL_BASE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"

#define FL_HTTP_MAX_HEAD    8192
#define FL_HTTP_MAX_HEADERS 64

typedef enum fl_http_kind {
    FL_HTTP_REQUEST = 0,
    FL_HTTP_RESPONSE = 1,
} fl_http_kind;

typedef struct fl_http_header {
    const char *name;
    const char *value; /* without leading or trailing whitespace */
} fl_http_header;

typedef struct fl_http_head {
    fl_http_kind kind;
    /* Set once fl_http_head_parse returned 0; the strings point into buf. */
    const char *method; /* request */
    const char *target; /* request: as sent ("/kurento?x=1") */
    int status;         /* response */
    const char *reason; /* response */
    int version_minor;  /* HTTP/1.x */
    int rtsp;           /* the version was RTSP/1.x (an RTSP message: RFC 2326) */
    size_t header_count;
    fl_http_header headers[FL_HTTP_MAX_HEADERS];
    /* private */
    size_t len;
    size_t scanned;
    bool done;
    char buf[FL_HTTP_MAX_HEAD + 1];
} fl_http_head;

/* Prepares `h` (caller's memory, about 9 KiB) to parse a request or a
 * response head. */
void fl_http_head_init(fl_http_head *h, fl_http_kind kind);

/* Feeds `len` bytes. *consumed says how many were taken (all of them unless
 * the head ended inside this chunk: the rest is body or another protocol).
 * Returns 0 when the head is complete, FL_EAGAIN when more bytes are needed,
 * FL_EMSGSIZE when the head exceeds FL_HTTP_MAX_HEAD bytes or
 * FL_HTTP_MAX_HEADERS fields, FL_EBADMSG when it is malformed, FL_ESTATE when
 * called again after 0 or an error. */
int fl_http_head_parse(fl_http_head *h, const uint8_t *data, size_t len, size_t *consumed);

/* Value of the first field named `name` (case-insensitive), or NULL. */
const char *fl_http_head_get(const fl_http_head *h, const char *name);

/* True if the comma-separated list `list` (a field value such as
 * "keep-alive, Upgrade") contains `token`, case-insensitively. */
bool fl_http_token_list_has(const char *list, const char *token);

/* The standard reason phrase for a status code ("Not Found"), or "Unknown". */
const char *fl_http_status_reason(int status);

/* ---- message bodies ---- */

/* The longest chunk-size line (size, extensions and CRLF), and the most
 * trailer bytes after the last chunk. */
#define FL_HTTP_MAX_CHUNK_LINE 4096
#define FL_HTTP_MAX_TRAILER    FL_HTTP_MAX_HEAD

typedef enum fl_http_body_kind {
    FL_HTTP_BODY_NONE = 0, /* no body: a HEAD's answer, 1xx, 204, 304, a bare request */
    FL_HTTP_BODY_LENGTH,   /* Content-Length bytes */
    FL_HTTP_BODY_CHUNKED,  /* Transfer-Encoding ending in chunked */
    FL_HTTP_BODY_CLOSE,    /* a response without either: up to the close */
} fl_http_body_kind;

typedef struct fl_http_body {
    fl_http_body_kind kind;
    int64_t length;    /* LENGTH: Content-Length in bytes; -1 otherwise */
    uint64_t received; /* body bytes handed out so far */
    /* private */
    uint64_t left; /* LENGTH: bytes to go; CHUNKED: bytes to go in this chunk */
    int state;
    size_t line;    /* bytes of the current chunk-size line */
    size_t trailer; /* trailer bytes so far */
    bool done;
    bool failed;
} fl_http_body;

/* Prepares `b` for the body of the message whose head `h` parsed (0 from
 * fl_http_head_parse). `head_request`: the response answers a HEAD request
 * (so it has no body). RFC 9112 6.3: Transfer-Encoding wins over
 * Content-Length; one whose last coding is not chunked makes a response
 * close-delimited. Returns 0; FL_EBADMSG for a Content-Length that is not a
 * number (or several that differ), chunked applied other than last, or a
 * request whose last coding is not chunked. */
int fl_http_body_init(fl_http_body *b, const fl_http_head *h, bool head_request);

/* Feeds `len` bytes that follow the head. Hands out at most one run of
 * body bytes per call: *body points into `data` (NULL when none) and
 * *body_len says how many; *consumed says how many input bytes were used
 * (framing and body). Call again with the rest while *consumed < len.
 * Returns FL_EAGAIN while the body goes on (progress is made: *consumed > 0
 * or all of `data` was taken), 0 once it is complete (again on each later
 * call, taking nothing: the bytes after it belong to the next message),
 * FL_EBADMSG for malformed chunked framing (a size that is not hex, a
 * missing CRLF, control characters), FL_EMSGSIZE past the limits above
 * (or a chunk over 2^62 bytes); an error is final. */
int fl_http_body_parse(fl_http_body *b,
                       const uint8_t *data,
                       size_t len,
                       size_t *consumed,
                       const uint8_t **body,
                       size_t *body_len);

/* The connection closed: 0 if the body is complete (a close-delimited body
 * ends here), FL_EBADMSG if it was cut short (or had failed). */
int fl_http_body_finish(fl_http_body *b);

/* ---- URLs and ranges ---- */

typedef struct fl_http_url {
    bool https;
    char host[256];  /* an IPv6 literal without its brackets */
    char port[6];    /* decimal; 80 or 443 when the URL names none */
    char path[2048]; /* path and query as sent ("/a?x=1"), "/" when empty */
} fl_http_url;

/* Parses an absolute http:// or https:// URL (RFC 9110 4.2.1, 4.2.2),
 * dropping a #fragment. Returns 0; FL_EINVAL for another scheme, userinfo
 * ("user@"), an empty host, a port outside 1-65535, a space or control
 * character, or a part too long for fl_http_url. */
int fl_http_url_parse(fl_http_url *u, const char *s);

/* Resolves a Location (a URI reference: an absolute URL, "//host/path",
 * "/path" or a path relative to base's) against `base` into `out`. 0, or
 * FL_EINVAL as fl_http_url_parse. */
int fl_http_url_resolve(fl_http_url *out, const fl_http_url *base, const char *ref);

/* Parses a Content-Range value (RFC 9110 14.4), in bytes: a satisfied
 * range "bytes FIRST-LAST/COMPLETE" (COMPLETE may be "*": -1), or an
 * unsatisfied one, "bytes", space, star, slash, COMPLETE (FIRST and LAST
 * -1). 0, or FL_EBADMSG for anything else (LAST before FIRST, LAST not
 * before COMPLETE, more than 18 digits). */
int fl_http_content_range_parse(const char *value,
                                int64_t *first,
                                int64_t *last,
                                int64_t *complete);

/* Appends "METHOD target HTTP/1.1", the fields and the empty line. FL_EINVAL
 * if a string contains CR or LF. */
int fl_http_request_write(fl_bytes *out,
                          const char *method,
                          const char *target,
                          const fl_http_header *headers,
                          size_t count);

/* Appends "HTTP/1.1 status reason", the fields, Content-Length when `body` is
 * not NULL, the empty line and the body. FL_EINVAL on a bad status or a
 * string with CR or LF. */
int fl_http_response_write(fl_bytes *out,
                           int status,
                           const fl_http_header *headers,
                           size_t count,
                           const void *body,
                           size_t body_len);

#endif
