/* Passive ICE-TCP listener and its connections. See tcp_media.h. */
#include "engine/tcp_media.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/err.h"
#include "base/list.h"
#include "base/log.h"
#include "engine/udp.h"
#include "ice/tcp_frame.h"

FL_LOG_TAG("tcp");

#define READ_BUF      4096
#define READ_ROUNDS   8  /* reads per readable event, for fairness */
#define ACCEPT_ROUNDS 16 /* accepts per readable event */
#define WRITE_IOV     64 /* frames per writev */
#define BACKLOG       64
#define DEFAULT_IDLE  30000
#define DEFAULT_CONNS 64
#define DEFAULT_QUEUE 256
#define MIN_TICK_MS   50

typedef union sockname {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
} sockname;

typedef struct conn {
    fl_list node;       /* in t->conns while open */
    fl_list dirty_node; /* in t->dirty while it has frames to write */
    fl__tcp_media *t;
    uv_poll_t poll;
    int fd;
    int closing;
    int blocked; /* the kernel took less than offered: waiting for UV_WRITABLE */
    uint64_t id;
    fl_addr peer;
    uint64_t last_ms; /* uv_now when the peer last sent something */
    fl_tcp_frame_decoder dec;
    fl_buf **queue; /* ring of framed buffers */
    size_t qcap;
    size_t qhead;
    size_t qlen;
    size_t qoff; /* bytes of the head buffer already written */
    uint8_t rbuf[READ_BUF];
    uint8_t scratch[]; /* max_frame bytes: frames split across reads */
} conn;

struct fl__tcp_media {
    uv_loop_t *loop;
    fl_buf_pool *pool;
    uv_poll_t poll; /* the listening socket */
    uv_check_t check;
    uv_timer_t timer;
    int fd;
    int closing;
    int pending_closes;
    fl_addr local;
    fl__tcp_media_callbacks cbs;
    void *arg;
    fl__tcp_media_close_fn on_close;
    void *close_arg;
    uint32_t idle_ms;
    size_t max_conns;
    size_t qcap;
    size_t max_frame;
    uint64_t next_id;
    fl_list conns;
    fl_list dirty;
    size_t nconns;
    fl__tcp_media_stats stats;
};

static void maybe_free(fl__tcp_media *t);

/* ---- connections: closing ---- */

static void on_conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    fl__tcp_media *t = c->t;
    close(c->fd);
    for (size_t i = 0; i < c->qlen; i++)
        fl_buf_unref(c->queue[(c->qhead + i) % c->qcap]);
    free(c->queue);
    free(c);
    t->pending_closes--;
    maybe_free(t);
}

/* Closes c; reports it through on_conn when `report`. */
static void conn_close(conn *c, int report, const char *why)
{
    if (c->closing)
        return;
    fl__tcp_media *t = c->t;
    c->closing = 1;
    fl_list_remove(&c->node);
    if (!fl_list_empty(&c->dirty_node)) {
        fl_list_remove(&c->dirty_node);
        fl_list_init(&c->dirty_node);
    }
    t->nconns--;
    t->stats.conns_closed++;
    t->pending_closes++;
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "connection %llu from %s closed: %s", (unsigned long long)c->id,
           fl_addr_str(&c->peer, s), why);
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
    if (report && t->cbs.on_conn)
        t->cbs.on_conn(t, c->id, &c->peer, 0, t->arg);
}

static conn *conn_find(fl__tcp_media *t, uint64_t id)
{
    fl_list_foreach (it, &t->conns) {
        conn *c = fl_container_of(it, conn, node);
        if (c->id == id)
            return c;
    }
    return NULL;
}

/* ---- connections: writing ---- */

static void conn_set_blocked(conn *c, int blocked);

/* Drops n fully written buffers from the head of the queue. */
static void queue_pop(conn *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fl_buf_unref(c->queue[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    if (n > 0)
        c->qoff = 0;
}

/* Accounts `written` bytes of the iovecs built from the queue head. */
static void conn_advance(conn *c, size_t written)
{
    fl__tcp_media *t = c->t;
    while (written > 0) {
        fl_buf *b = c->queue[c->qhead];
        size_t left = b->len - c->qoff;
        if (written < left) {
            c->qoff += written;
            return;
        }
        written -= left;
        t->stats.frames_out++;
        t->stats.bytes_out += b->len - FL_TCP_FRAME_HEADER;
        queue_pop(c, 1);
    }
}

/* One writev over the queue; 1 when everything offered was taken, 0 when
 * the socket would block (or c was closed on an error). */
static int conn_write_once(conn *c)
{
    struct iovec iov[WRITE_IOV];
    size_t n = c->qlen < WRITE_IOV ? c->qlen : WRITE_IOV;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        fl_buf *b = c->queue[(c->qhead + i) % c->qcap];
        size_t skip = i == 0 ? c->qoff : 0;
        iov[i].iov_base = fl_buf_data(b) + skip;
        iov[i].iov_len = b->len - skip;
        total += iov[i].iov_len;
    }
    ssize_t r;
    do {
        r = writev(c->fd, iov, (int)n);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        conn_close(c, 1, strerror(errno));
        return 0;
    }
    c->t->stats.writes++;
    conn_advance(c, (size_t)r);
    return (size_t)r == total;
}

static void conn_flush(conn *c)
{
    while (c->qlen > 0 && !c->closing) {
        if (!conn_write_once(c))
            break;
    }
    if (!c->closing)
        conn_set_blocked(c, c->qlen > 0);
}

static void on_check(uv_check_t *h)
{
    fl__tcp_media *t = h->data;
    fl_list *n;
    while ((n = fl_list_pop_front(&t->dirty))) {
        fl_list_init(n);
        conn_flush(fl_container_of(n, conn, dirty_node));
    }
    uv_check_stop(h);
}

int fl__tcp_media_send(fl__tcp_media *t, uint64_t id, fl_buf *frame)
{
    conn *c = t->closing ? NULL : conn_find(t, id);
    int rc = 0;
    uint8_t *hdr;
    if (!c)
        rc = FL_ENOENT;
    else if (c->qlen == c->qcap)
        rc = FL_EAGAIN;
    else if (!fl_buf_writable(frame) || !(hdr = fl_buf_push_head(frame, FL_TCP_FRAME_HEADER)))
        rc = FL_EINVAL;
    else if ((rc = fl_tcp_frame_write_header(hdr, frame->len - FL_TCP_FRAME_HEADER)) < 0)
        fl_buf_pull_head(frame, FL_TCP_FRAME_HEADER);
    if (rc < 0) {
        t->stats.drops_queue += rc == FL_EAGAIN;
        fl_buf_unref(frame);
        return rc;
    }
    c->queue[(c->qhead + c->qlen) % c->qcap] = frame;
    c->qlen++;
    if (fl_list_empty(&c->dirty_node) && !c->blocked) {
        fl_list_push_back(&t->dirty, &c->dirty_node);
        uv_check_start(&t->check, on_check);
    }
    return 0;
}

/* ---- connections: reading ---- */

/* Copies a frame into a pool buffer and hands it over. */
static void deliver(conn *c, const uint8_t *data, size_t len)
{
    fl__tcp_media *t = c->t;
    fl_buf *b = fl_buf_pool_get(t->pool);
    if (!b || fl_buf_tailroom(b) < len) {
        t->stats.drops_no_buf++;
        if (b)
            fl_buf_unref(b);
        return;
    }
    memcpy(fl_buf_data(b), data, len);
    b->len = (uint32_t)len;
    t->stats.frames_in++;
    t->stats.bytes_in += len;
    t->cbs.on_frame(t, c->id, &c->peer, b, t->arg);
}

/* Feeds n stream bytes to the decoder and delivers the frames. */
static void conn_input(conn *c, size_t n)
{
    fl_tcp_frame_decoder_handle_input(&c->dec, c->rbuf, n);
    const uint8_t *f;
    size_t len;
    int rc;
    while (!c->closing && (rc = fl_tcp_frame_decoder_poll_frame(&c->dec, &f, &len)) != FL_EAGAIN) {
        if (rc < 0) {
            c->t->stats.frames_bad++;
            fl_log(FL_LOG_DEBUG, "connection %llu: frame skipped: %s", (unsigned long long)c->id,
                   fl_strerror(rc));
            continue;
        }
        deliver(c, f, len);
    }
}

static void conn_read(conn *c)
{
    for (int i = 0; i < READ_ROUNDS && !c->closing && !c->t->closing; i++) {
        ssize_t r;
        do {
            r = read(c->fd, c->rbuf, sizeof c->rbuf);
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            conn_close(c, 1, "closed by peer");
        } else if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c, 1, strerror(errno));
            return;
        } else {
            c->last_ms = uv_now(c->t->loop);
            conn_input(c, (size_t)r);
            if ((size_t)r < sizeof c->rbuf)
                return;
        }
    }
}

static void on_conn_poll(uv_poll_t *h, int status, int events)
{
    conn *c = h->data;
    if (status < 0) {
        conn_close(c, 1, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        conn_flush(c);
    if ((events & (UV_READABLE | UV_DISCONNECT)) && !c->closing)
        conn_read(c);
}

static void conn_set_blocked(conn *c, int blocked)
{
    if (blocked == c->blocked)
        return;
    c->blocked = blocked;
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT | (blocked ? UV_WRITABLE : 0),
                  on_conn_poll);
}

/* ---- accepting ---- */

static int conn_new(fl__tcp_media *t, int fd, const fl_addr *peer)
{
    conn *c = calloc(1, sizeof *c + t->max_frame);
    if (!c)
        return FL_ENOMEM;
    c->queue = calloc(t->qcap, sizeof *c->queue);
    if (!c->queue || uv_poll_init_socket(t->loop, &c->poll, fd) != 0) {
        free(c->queue);
        free(c);
        return FL_ENOMEM;
    }
    c->t = t;
    c->fd = fd;
    c->id = ++t->next_id;
    c->peer = *peer;
    c->qcap = t->qcap;
    c->last_ms = uv_now(t->loop);
    c->poll.data = c;
    fl_tcp_frame_decoder_init(&c->dec, c->scratch, t->max_frame);
    fl_list_init(&c->dirty_node);
    fl_list_push_back(&t->conns, &c->node);
    t->nconns++;
    t->stats.conns_accepted++;
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_conn_poll);
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "connection %llu from %s", (unsigned long long)c->id,
           fl_addr_str(peer, s));
    if (t->cbs.on_conn)
        t->cbs.on_conn(t, c->id, &c->peer, 1, t->arg);
    return 0;
}

/* Accepts one connection; 0 when there was none to accept. */
static int accept_one(fl__tcp_media *t)
{
    sockname sn;
    socklen_t len = sizeof sn;
    int fd = accept4(t->fd, &sn.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fl_log(FL_LOG_WARN, "accept: %s", strerror(errno));
        return errno == EINTR || errno == ECONNABORTED;
    }
    fl_addr peer;
    if (t->nconns >= t->max_conns || fl_addr_from_sockaddr(&peer, &sn.sa) < 0) {
        t->stats.conns_refused++;
        close(fd);
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (conn_new(t, fd, &peer) < 0) {
        t->stats.conns_refused++;
        close(fd);
    }
    return 1;
}

static void on_listen_poll(uv_poll_t *h, int status, int events)
{
    fl__tcp_media *t = h->data;
    (void)events;
    if (status < 0) {
        fl_log(FL_LOG_WARN, "listen poll: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_ROUNDS && !t->closing; i++) {
        if (!accept_one(t))
            break;
    }
}

/* Closes the connections idle for longer than idle_ms. A callback may
 * close others, so the walk starts over after each close. */
static void on_timer(uv_timer_t *h)
{
    fl__tcp_media *t = h->data;
    uint64_t now = uv_now(t->loop);
    int again = 1;
    while (again && !t->closing) {
        again = 0;
        fl_list_foreach (it, &t->conns) {
            conn *c = fl_container_of(it, conn, node);
            if (now - c->last_ms >= t->idle_ms) {
                t->stats.conns_idle++;
                conn_close(c, 1, "idle");
                again = 1;
                break;
            }
        }
    }
}

/* ---- life cycle ---- */

/* The listening socket on a port of the range. */
static int listen_open(fl__tcp_media *t, const fl__tcp_media_config *cfg)
{
    int domain = cfg->local.family == 4 ? AF_INET : AF_INET6;
    t->fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0)
        return FL_EIO;
    int one = 1, rc = 0;
    if (setsockopt(t->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (domain == AF_INET6 && setsockopt(t->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)))
        rc = FL_EIO;
    if (rc == 0)
        rc = fl__port_bind(t->fd, &cfg->local, cfg->min_port, cfg->max_port, cfg->rand,
                           &t->local.port);
    if (rc == 0 && listen(t->fd, BACKLOG) != 0)
        rc = errno == EADDRINUSE ? FL_EBUSY : FL_EIO;
    if (rc < 0) {
        char ip[FL_ADDR_STRLEN];
        fl_log(FL_LOG_WARN, "no TCP port on %s in %u-%u: %s", fl_addr_ip_str(&cfg->local, ip),
               cfg->min_port, cfg->max_port, fl_strerror(rc));
        close(t->fd);
    }
    return rc;
}

/* The largest frame: what the caller asks, bounded by a pool buffer. */
static size_t frame_limit(fl_buf_pool *pool, size_t want)
{
    fl_buf *b = fl_buf_pool_get(pool);
    size_t room = b ? fl_buf_tailroom(b) : 0;
    if (b)
        fl_buf_unref(b);
    if (room > FL_TCP_FRAME_MAX)
        room = FL_TCP_FRAME_MAX;
    return want && want < room ? want : room;
}

static void start_handles(fl__tcp_media *t)
{
    uv_check_init(t->loop, &t->check);
    uv_timer_init(t->loop, &t->timer);
    t->poll.data = t->check.data = t->timer.data = t;
    uv_poll_start(&t->poll, UV_READABLE, on_listen_poll);
    uint64_t tick = t->idle_ms / 4 < MIN_TICK_MS ? MIN_TICK_MS : t->idle_ms / 4;
    uv_timer_start(&t->timer, on_timer, tick, tick);
}

int fl__tcp_media_create(fl__tcp_media **out,
                         uv_loop_t *loop,
                         fl_buf_pool *pool,
                         const fl__tcp_media_config *cfg,
                         const fl__tcp_media_callbacks *cbs,
                         void *arg)
{
    *out = NULL;
    if (!loop || !pool || !cfg || !cbs || !cbs->on_frame ||
        (cfg->local.family != 4 && cfg->local.family != 6))
        return FL_EINVAL;
    fl__tcp_media *t = calloc(1, sizeof *t);
    if (!t)
        return FL_ENOMEM;
    t->loop = loop;
    t->pool = pool;
    t->cbs = *cbs;
    t->arg = arg;
    t->local = cfg->local;
    t->idle_ms = cfg->idle_ms ? cfg->idle_ms : DEFAULT_IDLE;
    t->max_conns = cfg->max_conns ? cfg->max_conns : DEFAULT_CONNS;
    t->qcap = cfg->queue ? cfg->queue : DEFAULT_QUEUE;
    t->max_frame = frame_limit(pool, cfg->max_frame);
    fl_list_init(&t->conns);
    fl_list_init(&t->dirty);
    int rc = t->max_frame ? listen_open(t, cfg) : FL_ENOMEM;
    if (rc < 0)
        goto free_t;
    if (uv_poll_init_socket(loop, &t->poll, t->fd) != 0) {
        rc = FL_EIO;
        close(t->fd);
        goto free_t;
    }
    start_handles(t);
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "listening on %s", fl_addr_str(&t->local, s));
    *out = t;
    return 0;

free_t:
    free(t);
    return rc;
}

static void maybe_free(fl__tcp_media *t)
{
    if (!t->closing || t->pending_closes > 0)
        return;
    fl__tcp_media_close_fn cb = t->on_close;
    void *arg = t->close_arg;
    free(t);
    if (cb)
        cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    fl__tcp_media *t = h->data;
    if (h == (uv_handle_t *)&t->poll)
        close(t->fd);
    t->pending_closes--;
    maybe_free(t);
}

void fl__tcp_media_close(fl__tcp_media *t, fl__tcp_media_close_fn on_close, void *arg)
{
    if (!t || t->closing)
        return;
    t->closing = 1;
    t->on_close = on_close;
    t->close_arg = arg;
    fl_list_foreach_safe (it, tmp, &t->conns) {
        conn_close(fl_container_of(it, conn, node), 0, "listener closed");
    }
    t->pending_closes += 3;
    uv_close((uv_handle_t *)&t->poll, on_handle_closed);
    uv_close((uv_handle_t *)&t->check, on_handle_closed);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
}

int fl__tcp_media_close_conn(fl__tcp_media *t, uint64_t id)
{
    conn *c = conn_find(t, id);
    if (!c)
        return FL_ENOENT;
    conn_close(c, 1, "closed locally");
    return 0;
}

const fl_addr *fl__tcp_media_local(const fl__tcp_media *t)
{
    return &t->local;
}

size_t fl__tcp_media_conns(const fl__tcp_media *t)
{
    return t->nconns;
}

void fl__tcp_media_get_stats(const fl__tcp_media *t, fl__tcp_media_stats *out)
{
    *out = t->stats;
}
