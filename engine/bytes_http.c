/* The http:// and https:// byte source (engine/player_src.h): an HTTP/1.1
 * client on libuv, TLS by mbedTLS (the one place engine/ wraps its SSL
 * layer).
 *
 * One GET per run of reads: "Range: bytes=OFF-" (open-ended), so reads that
 * follow one another are served from one response; a read elsewhere closes
 * that connection and asks again at the new offset (when the server took
 * ranges: a 206 with Content-Range). Body bytes are kept in one buffer, at
 * most HTTP_READAHEAD beyond what the pending read needs: the socket is not
 * read while that much waits. Every callback runs from the `defer` timer,
 * never from within the call that caused it.
 *
 * A connection (http_conn) is detached from its source when it is done
 * with (a seek, a redirect, the end of the body, a failure, close) and
 * frees itself once its handle and requests are back; the source frees
 * itself once its timers are closed and no name resolution is running. */
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "base/rand.h"
#include "engine/player_src.h"

FL_LOG_TAG("http");

#define HTTP_TIMEOUT_MS    10000 /* connect, TLS, the answer, each read */
#define HTTP_MAX_REDIRECTS 5
#define HTTP_READAHEAD     (1u << 20)
#define HTTP_SKIP_MAX      (256 * 1024) /* a forward read this near reads through */
#define HTTP_READ_CHUNK    65536
#define HTTP_CA_BUNDLE     "/etc/ssl/certs/ca-certificates.crt"
#define HTTP_WHY           512

typedef struct http_src http_src;

typedef struct http_conn {
    http_src *src; /* NULL once detached */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    int pending; /* the handle, the connect and the writes not yet back */
    int64_t offset;
    bool connected;
    bool head_done;
    bool reading;
    bool tls;
    bool tls_ready;
    mbedtls_ssl_context ssl;
    fl_bytes tls_in; /* ciphertext mbedTLS has not read */
    size_t tls_in_off;
    fl_bytes out; /* to send (ciphertext with TLS) */
    fl_http_head head;
    fl_http_body body;
    uint8_t rbuf[HTTP_READ_CHUNK];
} http_conn;

typedef struct http_write {
    uv_write_t req;
    http_conn *conn;
    fl_bytes data;
} http_write;

struct http_src {
    fl__bytes base;
    uv_loop_t *loop;
    fl__bytes_cb cb;
    void *arg;
    fl_http_url url;
    char hostport[300]; /* for messages: "host:port" */
    char *ca_file;
    int redirects;
    uv_getaddrinfo_t gai;
    bool resolving;
    struct addrinfo *ai;
    struct addrinfo *ai_next; /* the address to connect to */
    int64_t resolve_offset;
    http_conn *conn;
    bool tls_loaded;
    mbedtls_ssl_config tls_conf;
    mbedtls_x509_crt tls_ca;
    uv_timer_t timer; /* no answer in HTTP_TIMEOUT_MS */
    uv_timer_t defer; /* runs the callbacks */
    int handles;
    /* the stream: body bytes [pos - buf_len, pos) at buf + buf_head */
    int64_t size;
    int seekable;
    bool opened;
    bool opened_told;
    uint8_t *buf;
    size_t buf_cap;
    size_t buf_head;
    size_t buf_len;
    int64_t pos;     /* offset of the next body byte */
    int64_t skip_to; /* body bytes before it are dropped */
    bool eof;        /* the response ended at pos */
    /* the read asked for */
    bool want;
    int64_t want_off;
    size_t want_len;
    int fail_status;
    bool failed_told;
    bool closing;
    char why[HTTP_WHY];
};

static int http_read(fl__bytes *b, int64_t offset, size_t len);
static void http_close(fl__bytes *b);
static const fl__bytes_ops http_ops = { http_read, http_close };

static void conn_start(http_src *s, int64_t offset);
static void on_defer(uv_timer_t *t);
static void resolve_start(http_src *s, int64_t offset);

/* ---- URLs ---------------------------------------------------------------- */

static void set_hostport(http_src *s)
{
    bool v6 = strchr(s->url.host, ':') != NULL;
    snprintf(s->hostport, sizeof(s->hostport), "%s%s%s:%s", v6 ? "[" : "", s->url.host,
             v6 ? "]" : "", s->url.port);
}

/* ---- callbacks, failure, the timers ---------------------------------------- */

static void src_maybe_free(http_src *s)
{
    if (s->handles > 0 || s->resolving)
        return;
    if (s->ai)
        uv_freeaddrinfo(s->ai);
    if (s->tls_loaded) {
        mbedtls_ssl_config_free(&s->tls_conf);
        mbedtls_x509_crt_free(&s->tls_ca);
    }
    free(s->buf);
    free(s->ca_file);
    free(s);
}

static void defer_schedule(http_src *s)
{
    if (!s->closing)
        uv_timer_start(&s->defer, on_defer, 0, 0);
}

static void timer_arm(http_src *s)
{
    if (!s->closing && !s->fail_status)
        uv_timer_again(&s->timer);
}

static void conn_maybe_free(http_conn *c)
{
    if (!c->src && c->pending == 0)
        free(c);
}

static void on_conn_close(uv_handle_t *h)
{
    http_conn *c = h->data;
    c->pending--;
    conn_maybe_free(c);
}

/* The source lets go of its connection: nothing it reads is looked at
 * again; it frees itself once libuv gives back its handle and requests. */
static void conn_detach(http_conn *c)
{
    if (!c || !c->src)
        return;
    if (c->src->conn == c)
        c->src->conn = NULL;
    c->src = NULL;
    if (c->tls)
        mbedtls_ssl_free(&c->ssl);
    fl_bytes_deinit(&c->tls_in);
    fl_bytes_deinit(&c->out);
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

__attribute__((format(printf, 3, 4))) static void src_fail(http_src *s,
                                                           int status,
                                                           const char *fmt,
                                                           ...)
{
    if (s->fail_status || s->closing)
        return;
    s->fail_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    fl_log(FL_LOG_DEBUG, "%s", s->why);
    conn_detach(s->conn);
    uv_timer_stop(&s->timer);
    defer_schedule(s);
}

static void on_timeout(uv_timer_t *t)
{
    http_src *s = t->data;
    src_fail(s, FL_ETIMEDOUT, "no answer from %s in %d s", s->hostport, HTTP_TIMEOUT_MS / 1000);
}

/* Reads the socket while the buffer holds less than the pending read
 * needs plus HTTP_READAHEAD. */
static void conn_flow(http_src *s)
{
    http_conn *c = s->conn;
    if (!c)
        return;
    size_t limit = HTTP_READAHEAD + (s->want ? s->want_len : 0);
    if (c->reading && c->head_done && s->buf_len >= limit) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        uv_timer_stop(&s->timer);
    }
}

static void conn_read_start(http_conn *c);

static void try_deliver(http_src *s)
{
    if (!s->want)
        return;
    int64_t end = s->want_off + (int64_t)s->want_len;
    bool past_end = s->size >= 0 && s->want_off >= s->size;
    if (!past_end && s->pos < end && !s->eof) {
        if (s->conn && s->conn->connected && !s->conn->reading)
            conn_read_start(s->conn);
        return;
    }
    size_t n = 0;
    const uint8_t *data = NULL;
    if (!past_end && s->pos > s->want_off) {
        int64_t have = s->pos - s->want_off;
        n = have < (int64_t)s->want_len ? (size_t)have : s->want_len;
        data = s->buf + s->buf_head + (s->buf_len - (size_t)(s->pos - s->want_off));
    }
    s->want = false;
    s->cb.data(s->arg, s->want_off, data, n);
}

static void on_defer(uv_timer_t *t)
{
    http_src *s = t->data;
    if (s->closing)
        return;
    if (s->fail_status) {
        if (!s->failed_told) {
            s->failed_told = true;
            s->cb.failed(s->arg, s->fail_status, s->why);
        }
        return;
    }
    if (s->opened && !s->opened_told) {
        s->opened_told = true;
        s->cb.opened(s->arg, s->size, s->seekable);
        if (s->closing || s->fail_status)
            return;
    }
    try_deliver(s);
    if (!s->closing)
        conn_flow(s);
}

/* ---- TLS ------------------------------------------------------------------- */

static int tls_rng(void *ctx, unsigned char *out, size_t len)
{
    fl_rand_fill(ctx, out, len);
    return 0;
}

static int tls_load(http_src *s)
{
    if (s->tls_loaded)
        return 0;
    mbedtls_ssl_config_init(&s->tls_conf);
    mbedtls_x509_crt_init(&s->tls_ca);
    s->tls_loaded = true;
    /* SSL_CERT_FILE: the usual override of the system's bundle */
    const char *env = getenv("SSL_CERT_FILE");
    const char *ca = s->ca_file ? s->ca_file : env && env[0] ? env : HTTP_CA_BUNDLE;
    int ret = mbedtls_ssl_config_defaults(&s->tls_conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret == 0)
        ret = mbedtls_x509_crt_parse_file(&s->tls_ca, ca);
    if (ret != 0) {
        char msg[128];
        mbedtls_strerror(ret, msg, sizeof(msg));
        src_fail(s, FL_ETLS, "cannot load the CA certificates of %s: %s", ca, msg);
        return FL_ETLS;
    }
    mbedtls_ssl_conf_rng(&s->tls_conf, tls_rng, fl_rand_system());
    mbedtls_ssl_conf_min_version(&s->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&s->tls_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&s->tls_conf, &s->tls_ca, NULL);
    return 0;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    http_conn *c = ctx;
    if (fl_bytes_append(&c->out, buf, len) != 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    http_conn *c = ctx;
    size_t avail = c->tls_in.len - c->tls_in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, c->tls_in.data + c->tls_in_off, len);
    c->tls_in_off += len;
    return (int)len;
}

/* mbedTLS's reason for a failed handshake, in words on one line. */
static void tls_reason(http_conn *c, int ret, char *out, size_t cap)
{
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        char info[256];
        uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
        while (n > 0 && info[n - 1] == '\n')
            info[--n] = '\0';
        for (char *p = info; *p; p++) {
            if (*p == '\n')
                *p = ';';
        }
        snprintf(out, cap, "the certificate does not verify: %s", n > 0 ? info : "unknown");
        return;
    }
    char msg[160];
    mbedtls_strerror(ret, msg, sizeof(msg));
    snprintf(out, cap, "%s", msg);
}

/* ---- the connection -------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    http_write *w = req->data;
    http_conn *c = w->conn;
    fl_bytes_deinit(&w->data);
    free(w);
    c->pending--;
    if (status < 0 && c->src)
        src_fail(c->src, FL_EIO, "cannot send to %s: %s", c->src->hostport, uv_strerror(status));
    conn_maybe_free(c);
}

static void conn_flush(http_conn *c)
{
    if (c->out.len == 0)
        return;
    http_write *w = malloc(sizeof(*w));
    if (!w) {
        src_fail(c->src, FL_ENOMEM, "out of memory sending to %s", c->src->hostport);
        return;
    }
    w->conn = c;
    w->data = c->out;
    w->req.data = w;
    fl_bytes_init(&c->out);
    uv_buf_t b = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        fl_bytes_deinit(&w->data);
        free(w);
        src_fail(c->src, FL_EIO, "cannot send to %s: %s", c->src->hostport, uv_strerror(rc));
        return;
    }
    c->pending++;
}

static void conn_send_request(http_conn *c)
{
    http_src *s = c->src;
    char host[300];
    char range[48];
    bool v6 = strchr(s->url.host, ':') != NULL;
    bool dflt = strcmp(s->url.port, s->url.https ? "443" : "80") == 0;
    snprintf(host, sizeof(host), "%s%s%s%s%s", v6 ? "[" : "", s->url.host, v6 ? "]" : "",
             dflt ? "" : ":", dflt ? "" : s->url.port);
    snprintf(range, sizeof(range), "bytes=%lld-", (long long)c->offset);
    const fl_http_header headers[] = {
        { "Host", host },   { "User-Agent", "fluo" },  { "Accept", "*/*" },
        { "Range", range }, { "Connection", "close" },
    };
    fl_bytes req;
    fl_bytes_init(&req);
    int rc = fl_http_request_write(&req, "GET", s->url.path, headers,
                                   sizeof(headers) / sizeof(headers[0]));
    if (rc == 0 && c->tls) {
        int ret = mbedtls_ssl_write(&c->ssl, req.data, req.len);
        rc = ret == (int)req.len ? 0 : FL_ETLS;
    } else if (rc == 0) {
        rc = fl_bytes_append(&c->out, req.data, req.len);
    }
    fl_bytes_deinit(&req);
    if (rc != 0) {
        src_fail(s, rc, "cannot send a request to %s: %s", s->hostport, fl_strerror(rc));
        return;
    }
    fl_log(FL_LOG_DEBUG, "GET %s from %s at %lld", s->url.path, s->hostport, (long long)c->offset);
    conn_flush(c);
}

/* The body is complete: nothing comes after pos (unless a 206 ended
 * before the end of the file). */
static void conn_body_done(http_conn *c)
{
    http_src *s = c->src;
    bool partial = c->head.status == 206;
    conn_detach(c);
    if (partial && s->size >= 0 && s->pos < s->size) {
        /* a server that answers ranges in pieces: ask for the rest */
        conn_start(s, s->pos);
        return;
    }
    s->eof = true;
    uv_timer_stop(&s->timer);
    defer_schedule(s);
}

static void src_append(http_src *s, const uint8_t *p, size_t n)
{
    if (s->pos < s->skip_to) {
        int64_t gap = s->skip_to - s->pos;
        size_t d = gap < (int64_t)n ? (size_t)gap : n;
        p += d;
        n -= d;
        s->pos += (int64_t)d;
    }
    if (n == 0)
        return;
    if (s->buf_head + s->buf_len + n > s->buf_cap) {
        if (s->buf_head > 0) {
            memmove(s->buf, s->buf + s->buf_head, s->buf_len);
            s->buf_head = 0;
        }
        if (s->buf_len + n > s->buf_cap) {
            size_t cap = s->buf_cap ? s->buf_cap * 2 : HTTP_READ_CHUNK * 2;
            while (cap < s->buf_len + n)
                cap *= 2;
            uint8_t *nb = realloc(s->buf, cap);
            if (!nb) {
                src_fail(s, FL_ENOMEM, "out of memory reading %s", s->hostport);
                return;
            }
            s->buf = nb;
            s->buf_cap = cap;
        }
    }
    memcpy(s->buf + s->buf_head + s->buf_len, p, n);
    s->buf_len += n;
    s->pos += (int64_t)n;
    if (s->want && (s->pos >= s->want_off + (int64_t)s->want_len))
        defer_schedule(s);
}

static int conn_redirect(http_conn *c)
{
    http_src *s = c->src;
    const fl_http_head *h = &c->head;
    const char *loc = fl_http_head_get(h, "Location");
    if (!loc || !*loc) {
        src_fail(s, FL_EPROTO, "HTTP %d from %s%s without a Location", h->status, s->hostport,
                 s->url.path);
        return -1;
    }
    if (++s->redirects > HTTP_MAX_REDIRECTS) {
        src_fail(s, FL_EIO, "more than %d redirects from %s%s", HTTP_MAX_REDIRECTS, s->hostport,
                 s->url.path);
        return -1;
    }
    fl_http_url next;
    if (fl_http_url_resolve(&next, &s->url, loc) != 0) {
        src_fail(s, FL_EPROTO, "HTTP %d from %s%s to a Location that is not http(s): %.200s",
                 h->status, s->hostport, s->url.path, loc);
        return -1;
    }
    bool same = next.https == s->url.https && strcmp(next.host, s->url.host) == 0 &&
                strcmp(next.port, s->url.port) == 0;
    int64_t offset = c->offset;
    fl_log(FL_LOG_DEBUG, "HTTP %d from %s%s to %s", h->status, s->hostport, s->url.path, loc);
    conn_detach(c);
    s->url = next;
    set_hostport(s);
    if (same) {
        s->ai_next = s->ai;
        conn_start(s, offset);
    } else {
        resolve_start(s, offset);
    }
    return -1;
}

/* The head of an answer is in: what it says about the stream. 0 when the
 * body follows, -1 when the connection is done with. */
static int conn_on_head(http_conn *c)
{
    http_src *s = c->src;
    const fl_http_head *h = &c->head;
    int st = h->status;
    const char *reason = h->reason[0] ? h->reason : fl_http_status_reason(st);
    if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308)
        return conn_redirect(c);
    if (st == 404 || st == 410 || st == 401 || st == 403 || (st >= 400 && st != 416)) {
        int code = st == 404 || st == 410 ? FL_ENOENT : st == 401 || st == 403 ? FL_EAUTH : FL_EIO;
        src_fail(s, code, "HTTP %d %s from %s%s", st, reason, s->hostport, s->url.path);
        return -1;
    }
    int64_t first = 0, last = -1, total = -1;
    const char *cr = fl_http_head_get(h, "Content-Range");
    if (st == 416) {
        /* asked at or past the end */
        if (fl_http_content_range_parse(cr, &first, &last, &total) != 0 || total < 0 ||
            c->offset < total) {
            src_fail(s, FL_EPROTO, "HTTP 416 from %s%s for bytes=%lld-", s->hostport, s->url.path,
                     (long long)c->offset);
            return -1;
        }
        s->size = total;
        s->seekable = 1;
        s->opened = true;
        s->pos = c->offset;
        conn_body_done(c);
        return -1;
    }
    if (st != 200 && st != 206) {
        src_fail(s, FL_EPROTO, "unexpected HTTP %d %s from %s%s", st, reason, s->hostport,
                 s->url.path);
        return -1;
    }
    if (fl_http_body_init(&c->body, h, false) != 0 ||
        (st == 206 && (fl_http_content_range_parse(cr, &first, &last, &total) != 0 || first < 0 ||
                       first != c->offset))) {
        src_fail(s, FL_EPROTO, "a malformed HTTP %d from %s%s", st, s->hostport, s->url.path);
        return -1;
    }
    if (!s->opened) {
        s->opened = true;
        s->seekable = st == 206;
        s->size = st == 206 ? total : c->body.length;
        defer_schedule(s);
    }
    s->pos = first; /* a 200 starts at 0: src_append drops up to skip_to */
    c->head_done = true;
    if (c->body.done) {
        conn_body_done(c);
        return -1;
    }
    return 0;
}

/* Plaintext from the server: the head, then body bytes. */
static void conn_plain(http_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && c->src && !c->src->fail_status) {
        size_t used = 0;
        if (!c->head_done) {
            int rc = fl_http_head_parse(&c->head, p, n, &used);
            p += used;
            n -= used;
            if (rc == FL_EAGAIN)
                continue;
            if (rc != 0) {
                src_fail(c->src, FL_EPROTO, "a malformed answer from %s%s (%s)", c->src->hostport,
                         c->src->url.path, fl_strerror(rc));
                return;
            }
            if (c->head.status < 200) { /* 1xx: the answer follows */
                fl_http_head_init(&c->head, FL_HTTP_RESPONSE);
                continue;
            }
            if (conn_on_head(c) != 0)
                return;
            continue;
        }
        const uint8_t *body;
        size_t blen;
        int rc = fl_http_body_parse(&c->body, p, n, &used, &body, &blen);
        if (blen)
            src_append(c->src, body, blen);
        p += used;
        n -= used;
        if (rc == 0 && c->src) {
            conn_body_done(c);
            return;
        }
        if (rc != FL_EAGAIN && c->src) {
            src_fail(c->src, FL_EPROTO, "a malformed body from %s%s (%s)", c->src->hostport,
                     c->src->url.path, fl_strerror(rc));
            return;
        }
    }
}

/* The server closed the connection (or sent close_notify). */
static void conn_on_eof(http_conn *c)
{
    http_src *s = c->src;
    if (!c->head_done) {
        src_fail(s, FL_EIO, "%s closed the connection without an answer to %s", s->hostport,
                 s->url.path);
        return;
    }
    if (fl_http_body_finish(&c->body) == 0) {
        conn_body_done(c);
        return;
    }
    src_fail(s, FL_EIO, "%s closed the connection in the middle of %s (after %llu bytes)",
             s->hostport, s->url.path, (unsigned long long)c->body.received);
}

static void conn_tls_input(http_conn *c, const uint8_t *p, size_t n)
{
    http_src *s = c->src;
    if (c->tls_in_off > 0) {
        fl_bytes_consume(&c->tls_in, c->tls_in_off);
        c->tls_in_off = 0;
    }
    if (n && fl_bytes_append(&c->tls_in, p, n) != 0) {
        src_fail(s, FL_ENOMEM, "out of memory reading %s", s->hostport);
        return;
    }
    if (!c->tls_ready) {
        int ret = mbedtls_ssl_handshake(&c->ssl);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
            conn_flush(c);
            return;
        }
        if (ret != 0) {
            char why[300];
            tls_reason(c, ret, why, sizeof(why));
            conn_flush(c);
            src_fail(s, FL_ETLS, "TLS with %s: %s", s->hostport, why);
            return;
        }
        c->tls_ready = true;
        conn_send_request(c);
        if (!c->src)
            return;
    }
    for (;;) {
        int ret = mbedtls_ssl_read(&c->ssl, c->rbuf, sizeof(c->rbuf));
        if (ret > 0) {
            conn_plain(c, c->rbuf, (size_t)ret);
            if (!c->src || s->fail_status)
                return;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            conn_on_eof(c);
            return;
        }
        char why[300];
        tls_reason(c, ret, why, sizeof(why));
        src_fail(s, FL_ETLS, "TLS with %s: %s", s->hostport, why);
        return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *c = h->data;
    buf->base = (char *)c->rbuf;
    buf->len = sizeof(c->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    http_conn *c = stream->data;
    http_src *s = c->src;
    if (!s || nread == 0)
        return;
    if (nread == UV_EOF) {
        /* with TLS too: fl_http_body_finish tells a cut body */
        conn_on_eof(c);
        return;
    }
    if (nread < 0) {
        src_fail(s, FL_EIO, "connection to %s: %s", s->hostport, uv_strerror((int)nread));
        return;
    }
    timer_arm(s);
    if (c->tls)
        conn_tls_input(c, c->rbuf, (size_t)nread);
    else
        conn_plain(c, c->rbuf, (size_t)nread);
    if (c->src && !s->fail_status)
        conn_flow(s);
}

static void conn_read_start(http_conn *c)
{
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        src_fail(c->src, FL_EIO, "cannot read from %s: %s", c->src->hostport, uv_strerror(rc));
        return;
    }
    c->reading = true;
    timer_arm(c->src);
}

static void on_connect(uv_connect_t *req, int status)
{
    http_conn *c = req->data;
    http_src *s = c->src;
    c->pending--;
    if (!s) {
        conn_maybe_free(c);
        return;
    }
    if (status < 0) {
        int64_t offset = c->offset;
        conn_detach(c);
        if (s->ai_next && s->ai_next->ai_next) {
            s->ai_next = s->ai_next->ai_next;
            conn_start(s, offset);
            return;
        }
        src_fail(s, FL_EIO, "cannot connect to %s: %s", s->hostport, uv_strerror(status));
        return;
    }
    c->connected = true;
    if (c->tls) {
        if (tls_load(s) != 0)
            return;
        int ret = mbedtls_ssl_setup(&c->ssl, &s->tls_conf);
        if (ret == 0)
            ret = mbedtls_ssl_set_hostname(&c->ssl, s->url.host);
        if (ret != 0) {
            char why[160];
            mbedtls_strerror(ret, why, sizeof(why));
            src_fail(s, FL_ETLS, "TLS with %s: %s", s->hostport, why);
            return;
        }
        mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
        conn_tls_input(c, NULL, 0);
    } else {
        conn_send_request(c);
    }
    if (c->src && !s->fail_status)
        conn_read_start(c);
}

/* A new connection to s->ai_next for a GET at offset. */
static void conn_start(http_src *s, int64_t offset)
{
    http_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        src_fail(s, FL_ENOMEM, "out of memory connecting to %s", s->hostport);
        return;
    }
    c->src = s;
    c->offset = offset;
    c->tls = s->url.https;
    if (c->tls)
        mbedtls_ssl_init(&c->ssl);
    fl_http_head_init(&c->head, FL_HTTP_RESPONSE);
    fl_bytes_init(&c->tls_in);
    fl_bytes_init(&c->out);
    int rc = uv_tcp_init(s->loop, &c->tcp);
    if (rc < 0) {
        if (c->tls)
            mbedtls_ssl_free(&c->ssl);
        free(c);
        src_fail(s, FL_EIO, "cannot connect to %s: %s", s->hostport, uv_strerror(rc));
        return;
    }
    c->tcp.data = c;
    c->connect_req.data = c;
    c->pending = 1;
    s->conn = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, s->ai_next->ai_addr, on_connect);
    if (rc < 0) {
        src_fail(s, FL_EIO, "cannot connect to %s: %s", s->hostport, uv_strerror(rc));
        return;
    }
    c->pending++;
    timer_arm(s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    http_src *s = req->data;
    s->resolving = false;
    if (s->closing) {
        if (res)
            uv_freeaddrinfo(res);
        src_maybe_free(s);
        return;
    }
    if (status < 0 || !res) {
        src_fail(s, FL_EIO, "cannot resolve %s: %s", s->url.host,
                 status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    if (s->ai)
        uv_freeaddrinfo(s->ai);
    s->ai = res;
    s->ai_next = res;
    conn_start(s, s->resolve_offset);
}

static void resolve_start(http_src *s, int64_t offset)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    s->resolve_offset = offset;
    s->gai.data = s;
    int rc = uv_getaddrinfo(s->loop, &s->gai, on_resolved, s->url.host, s->url.port, &hints);
    if (rc < 0) {
        src_fail(s, FL_EIO, "cannot resolve %s: %s", s->url.host, uv_strerror(rc));
        return;
    }
    s->resolving = true;
    timer_arm(s);
}

/* ---- fl__bytes --------------------------------------------------------------- */

static void drop_before(http_src *s, int64_t off)
{
    int64_t lo = s->pos - (int64_t)s->buf_len;
    if (off <= lo)
        return;
    size_t d = off >= s->pos ? s->buf_len : (size_t)(off - lo);
    s->buf_head += d;
    s->buf_len -= d;
    if (s->buf_len == 0)
        s->buf_head = 0;
}

static int http_read(fl__bytes *b, int64_t offset, size_t len)
{
    http_src *s = (http_src *)b;
    if (s->closing || s->fail_status || !s->opened_told)
        return FL_ESTATE;
    if (s->want)
        return FL_EBUSY;
    if (offset < 0)
        return FL_EINVAL;
    int64_t lo = s->pos - (int64_t)s->buf_len;
    bool past_end = s->size >= 0 && offset >= s->size;
    if (past_end || (offset >= lo && offset <= s->pos)) {
        drop_before(s, offset);
    } else if (offset > s->pos && (s->eof || !s->seekable || offset - s->pos <= HTTP_SKIP_MAX)) {
        drop_before(s, offset); /* reads through: src_append drops up to skip_to */
        s->skip_to = offset;
    } else if (s->seekable) {
        fl_log(FL_LOG_DEBUG, "%s%s: from %lld to %lld", s->hostport, s->url.path, (long long)s->pos,
               (long long)offset);
        conn_detach(s->conn);
        s->buf_head = 0;
        s->buf_len = 0;
        s->pos = offset;
        s->skip_to = offset;
        s->eof = false;
        conn_start(s, offset);
    } else {
        return FL_ENOTSUP;
    }
    s->want = true;
    s->want_off = offset;
    s->want_len = len;
    defer_schedule(s);
    return 0;
}

static void on_src_handle_close(uv_handle_t *h)
{
    http_src *s = h->data;
    s->handles--;
    src_maybe_free(s);
}

static void http_close(fl__bytes *b)
{
    http_src *s = (http_src *)b;
    if (!s || s->closing)
        return;
    s->closing = true;
    conn_detach(s->conn);
    if (s->resolving)
        uv_cancel((uv_req_t *)&s->gai);
    uv_close((uv_handle_t *)&s->timer, on_src_handle_close);
    uv_close((uv_handle_t *)&s->defer, on_src_handle_close);
}

int fl__bytes_http_open(fl__bytes **out,
                        uv_loop_t *loop,
                        const char *uri,
                        const char *ca_file,
                        const fl__bytes_cb *cb,
                        void *arg)
{
    fl_http_url url;
    if (!uri || fl_http_url_parse(&url, uri) != 0)
        return FL_EINVAL;
    http_src *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->base.ops = &http_ops;
    s->loop = loop;
    s->cb = *cb;
    s->arg = arg;
    s->url = url;
    s->size = -1;
    set_hostport(s);
    if (ca_file && !(s->ca_file = strdup(ca_file))) {
        free(s);
        return FL_ENOMEM;
    }
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->defer);
    s->timer.data = s;
    s->defer.data = s;
    s->handles = 2;
    uv_timer_start(&s->timer, on_timeout, HTTP_TIMEOUT_MS, HTTP_TIMEOUT_MS);
    uv_timer_stop(&s->timer);
    resolve_start(s, 0);
    *out = &s->base;
    return 0;
}
