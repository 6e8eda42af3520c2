/* What a PlayerEndpoint (engine/player.c) reads from (private to engine/).
 *
 * Two kinds of input, both run on the worker's loop and never block it:
 *
 * - A byte source (fl__bytes): the bytes of a media file, read on request
 *   at any offset, for container/'s demuxers. file:// reads with libuv's
 *   file operations (its thread pool; synchronously on a simulated worker,
 *   engine/sim.h); http:// and https:// with the project's HTTP/1.1 client
 *   (TLS by mbedTLS), range requests where the server takes them. A push
 *   source (HttpPostEndpoint) holds bytes handed to it as they come.
 *
 * - An RTSP source (fl__rtsp): an RTSP 1.0 session with a server (a
 *   camera) whose RTP streams are forwarded as they come (no demuxer, no
 *   packetizer): DESCRIBE/SETUP/PLAY/TEARDOWN, Basic and Digest
 *   authentication, RTP over UDP or interleaved in the TCP connection.
 *
 * Every callback runs on the loop's thread, never from within the call
 * that caused it. After fl__bytes_close / fl__rtsp_close no callback runs
 * (the object frees itself once its handles are closed). */
#ifndef FL_ENGINE_PLAYER_SRC_H
#define FL_ENGINE_PLAYER_SRC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/time.h"
#include "sdp/sdp.h"

/* ---- byte sources ---- */

typedef struct fl__bytes fl__bytes;

/* Each kind of byte source starts with this (its read and close). */
typedef struct fl__bytes_ops {
    int (*read)(fl__bytes *b, int64_t offset, size_t len);
    void (*close)(fl__bytes *b);
} fl__bytes_ops;

struct fl__bytes {
    const fl__bytes_ops *ops;
};

typedef struct fl__bytes_cb {
    /* The source is open: its size in bytes (-1 when the server does not
     * say) and whether any offset can be read (a file, an HTTP server that
     * answers ranges); when not, reads must follow one another (each at
     * the offset the last one ended). */
    void (*opened)(void *arg, int64_t size, int seekable);
    /* The answer to fl__bytes_read: n bytes at offset (fewer than asked
     * only at the end of the file; 0 at or past it). The bytes are valid
     * during the call only. */
    void (*data)(void *arg, int64_t offset, const uint8_t *data, size_t n);
    /* Opening or a read failed: status (FL_ENOENT a missing file or a 404,
     * FL_EAUTH 401/403, FL_EIO, FL_ETIMEDOUT, FL_ETLS, FL_EPROTO a server
     * that breaks HTTP...) and why in words, naming the URI's host or path
     * and the cause. Nothing more comes after it. */
    void (*failed)(void *arg, int status, const char *why);
} fl__bytes_cb;

/* Opens a file:// (a local path, already checked against the configured
 * roots by the caller), http:// or https:// URI. https verifies the
 * server's certificate against ca_file (NULL: the file the environment's
 * SSL_CERT_FILE names, else the system's bundle,
 * /etc/ssl/certs/ca-certificates.crt). Returns 0 (opened or failed comes
 * later), FL_EINVAL for a URI of another scheme or that does not parse,
 * FL_ENOMEM. */
int fl__bytes_open(fl__bytes **out,
                   uv_loop_t *loop,
                   const char *uri,
                   const char *ca_file,
                   const fl__bytes_cb *cb,
                   void *arg);

/* Asks for len bytes at offset; one read at a time (FL_EBUSY while one is
 * outstanding), after opened. FL_ENOTSUP for an offset a source that is
 * not seekable cannot go to. */
int fl__bytes_read(fl__bytes *b, int64_t offset, size_t len);

void fl__bytes_close(fl__bytes *b);

/* engine/bytes_http.c: the http:// and https:// half of fl__bytes_open
 * (engine/bytes.c has file:// and the dispatch); the object it makes
 * starts with struct fl__bytes, its ops set. */
int fl__bytes_http_open(fl__bytes **out,
                        uv_loop_t *loop,
                        const char *uri,
                        const char *ca_file,
                        const fl__bytes_cb *cb,
                        void *arg);

/* ---- push sources (engine/bytes_push.c) ---- */

struct fl__deferred;

/* A source fed by fl__bytes_push_write (an upload): not seekable, size
 * unknown (opened says -1, 0, from a deadline). A read of len bytes is
 * answered once len bytes are held (with all that is held, up to 256 KiB
 * past len) or once the stream ended (then with what is left, fewer than
 * len: the demuxer's end of file). The stream ends by fl__bytes_push_end,
 * or when a read waited `idle` (> 0, microseconds) with no write coming:
 * an upload that stalled or ended and was not followed by another.
 * FL_EINVAL, FL_ENOMEM. */
int fl__bytes_push_create(fl__bytes **out,
                          uv_loop_t *loop,
                          fl_time idle,
                          const fl__bytes_cb *cb,
                          void *arg);

/* Appends len bytes (copied) to the stream. `done` (engine_int.h's
 * deferred answer; its reply may be NULL) is completed with 0 once the
 * reader took the last of them, or as soon as a waiting read needs them
 * (holding them back would stall it); with the status and why given to
 * fl__bytes_push_fail, or FL_ECANCELED when the source is closed first.
 * Returns 0 (done is the source's), FL_ESTATE once the stream ended,
 * FL_EMSGSIZE past 80 MiB held, FL_ENOMEM (done stays the caller's). */
int fl__bytes_push_write(fl__bytes *b, const uint8_t *data, size_t len, struct fl__deferred done);

/* No more bytes: reads past what is held answer the end of the stream. */
void fl__bytes_push_end(fl__bytes *b);

/* 1 once the stream ended (fl__bytes_push_end or idle). */
int fl__bytes_push_ended(const fl__bytes *b);

/* Completes every write still waiting with status and why (the reader
 * failed, or ended before them: the bytes will never be taken). */
void fl__bytes_push_fail(fl__bytes *b, int status, const char *why);

/* ---- RTSP sources ---- */

typedef struct fl__rtsp fl__rtsp;

#define FL__RTSP_MAX_STREAMS 4

typedef struct fl__rtsp_stream {
    unsigned media;     /* FL_MEDIA_AUDIO or FL_MEDIA_VIDEO */
    fl_sdp_codec codec; /* from DESCRIBE's SDP: name, clock rate, pt, fmtp */
} fl__rtsp_stream;

typedef struct fl__rtsp_cb {
    /* DESCRIBE was answered and every stream fluo can forward is set up
     * (n >= 1; streams of other codecs are left out and named in
     * `skipped`, "" when none). The session is not playing yet. */
    void (*ready)(void *arg, const fl__rtsp_stream *streams, size_t n, const char *skipped);
    /* An RTP packet of stream i (the bytes valid during the call only). */
    void (*rtp)(void *arg, size_t i, const uint8_t *data, size_t len);
    /* A Sender Report of stream i: its RTP timestamp and NTP time. */
    void (*sender_report)(void *arg, size_t i, uint32_t rtp_ts, uint64_t ntp);
    /* The server ended the stream (RTCP BYE on every stream, or the
     * session closed after PLAY). */
    void (*ended)(void *arg);
    /* A failure: FL_EAUTH (a refused login), FL_ENOENT (404), FL_ENOTSUP
     * (no stream fluo can forward, a transport refused), FL_ETIMEDOUT,
     * FL_EIO (connection), FL_EPROTO; why names the server and the cause.
     * Nothing more comes after it. */
    void (*failed)(void *arg, int status, const char *why);
} fl__rtsp_cb;

typedef enum fl__rtsp_transport {
    FL__RTSP_UDP, /* RTP/AVP over UDP; TCP when the server refuses (461) */
    FL__RTSP_TCP, /* RTP/AVP/TCP interleaved (rtspt:// URIs) */
} fl__rtsp_transport;

/* Connects and sends DESCRIBE and SETUP: ready or failed comes later.
 * user:password in the URI are the credentials. FL_EINVAL for a URI that
 * is not rtsp:// or rtspt:// or does not parse, FL_ENOMEM. */
int fl__rtsp_open(fl__rtsp **out,
                  uv_loop_t *loop,
                  const char *uri,
                  fl__rtsp_transport transport,
                  const fl__rtsp_cb *cb,
                  void *arg);

/* PLAY (after ready) and PAUSE. FL_ESTATE before ready. */
int fl__rtsp_play(fl__rtsp *r);
int fl__rtsp_pause(fl__rtsp *r);

/* Asks the server for a key frame on stream i: an RTCP PLI (RFC 4585) on
 * the stream's RTCP channel. 0, or FL_ENOTSUP. */
int fl__rtsp_request_key_frame(fl__rtsp *r, size_t i);

/* TEARDOWN (when a session exists) and frees it. */
void fl__rtsp_close(fl__rtsp *r);

#endif
