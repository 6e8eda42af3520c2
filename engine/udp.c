/* Media UDP sockets: recvmmsg into pooled buffers, sendmmsg once per loop
 * iteration. See udp.h. */
#include "engine/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/sim.h"

FL_LOG_TAG("udp");

#define READ_ROUNDS 8 /* recvmmsg calls per readable event, for fairness */
#define READ_MIN    4 /* buffers taken for a read, at least */
#define SCRATCH     2048
#define CTL_SPACE   CMSG_SPACE(sizeof(struct in6_pktinfo))

typedef union sockname {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} sockname;

typedef struct out_entry {
    fl_buf *buf;
    sockname to;
    socklen_t to_len;
} out_entry;

typedef union ctl_buf {
    struct cmsghdr align;
    uint8_t bytes[CTL_SPACE];
} ctl_buf;

struct fl__udp {
    uv_loop_t *loop;
    fl_buf_pool *pool;
    uv_poll_t poll;
    uv_check_t check;
    int fd;
    int closing;
    int pending_closes;
    int wildcard; /* bound to 0.0.0.0 or ::: local address from PKTINFO */
    int blocked;  /* the kernel refused a send: waiting for UV_WRITABLE */
    int rwant;    /* buffers to take for the next read (READ_MIN..BATCH) */
    fl_addr local;
    fl__udp_recv_fn on_recv;
    void *arg;
    fl__udp_close_fn on_close;
    void *close_arg;
    fl__udp_stats stats;
    /* receive: one slot per datagram of a batch */
    struct mmsghdr rmsg[FL__UDP_BATCH];
    struct iovec riov[FL__UDP_BATCH];
    sockname rname[FL__UDP_BATCH];
    ctl_buf rctl[FL__UDP_BATCH];
    fl_buf *rbuf[FL__UDP_BATCH];
    fl__udp_packet pkts[FL__UDP_BATCH];
    uint8_t scratch[SCRATCH]; /* where datagrams go when the pool is empty */
    /* send: a ring of queued packets */
    out_entry *queue;
    size_t qcap;
    size_t qhead;
    size_t qlen;
    struct mmsghdr smsg[FL__UDP_BATCH];
    struct iovec siov[FL__UDP_BATCH];
    /* a simulated worker's socket: datagrams go through the simulation */
    fl__sim *sim;
    fl__sim_socket sim_so;
};

/* ---- port range ---- */

static uint32_t gcd_u32(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A stride coprime with n, so start + i * stride (mod n) visits every port
 * of the range once, in an order that differs from run to run. */
static uint32_t pick_stride(uint32_t n, fl_rand *r)
{
    for (int tries = 0; tries < 16 && n > 2; tries++) {
        uint32_t s = 1 + fl_rand_u32(r) % (n - 1);
        if (gcd_u32(s, n) == 1)
            return s;
    }
    return 1;
}

static int bind_errno_to_fl(int e)
{
    if (e == EADDRNOTAVAIL || e == EAFNOSUPPORT || e == EINVAL)
        return FL_EINVAL;
    return FL_EIO;
}

int fl__port_bind(int fd,
                  const fl_addr *a,
                  uint16_t min_port,
                  uint16_t max_port,
                  fl_rand *r,
                  uint16_t *port)
{
    if (min_port == 0 && max_port == 0) {
        min_port = FL__UDP_MIN_PORT;
        max_port = FL__UDP_MAX_PORT;
    }
    if (min_port == 0 || min_port > max_port)
        return FL_EINVAL;
    if (!r)
        r = fl_rand_system();
    uint32_t n = (uint32_t)max_port - min_port + 1;
    uint32_t start = fl_rand_u32(r) % n;
    uint32_t stride = pick_stride(n, r);
    for (uint32_t i = 0; i < n; i++) {
        fl_addr b = *a;
        b.port = (uint16_t)(min_port + (start + (uint64_t)i * stride) % n);
        sockname sn;
        size_t len = fl_addr_to_sockaddr(&b, &sn.sa, sizeof sn);
        if (len == 0)
            return FL_EINVAL;
        if (bind(fd, &sn.sa, (socklen_t)len) == 0) {
            *port = b.port;
            return 0;
        }
        if (errno != EADDRINUSE && errno != EACCES)
            return bind_errno_to_fl(errno);
    }
    return FL_EBUSY;
}

/* ---- send ---- */

static void queue_pop(fl__udp *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out_entry *e = &u->queue[u->qhead];
        fl_buf_unref(e->buf);
        e->buf = NULL;
        u->qhead = (u->qhead + 1) % u->qcap;
        u->qlen--;
    }
}

/* The simulation's flush: every queued datagram into its network. */
static int flush_sim(fl__udp *u)
{
    size_t n = u->qlen;
    for (size_t i = 0; i < n; i++) {
        out_entry *e = &u->queue[(u->qhead + i) % u->qcap];
        fl_addr to;
        if (fl_addr_from_sockaddr(&to, &e->to.sa) == 0)
            fl__sim_send(u->sim, &u->local, &to, fl_buf_data(e->buf), e->buf->len);
        u->stats.bytes_out += e->buf->len;
    }
    u->stats.packets_out += n;
    u->stats.batches_out++;
    queue_pop(u, n);
    return 1;
}

/* One sendmmsg over the head of the queue. Returns 1 when it made progress
 * (sent or dropped something), 0 when the socket would block. */
static int flush_batch(fl__udp *u)
{
    if (u->sim)
        return flush_sim(u);
    size_t n = u->qlen < FL__UDP_BATCH ? u->qlen : FL__UDP_BATCH;
    for (size_t i = 0; i < n; i++) {
        out_entry *e = &u->queue[(u->qhead + i) % u->qcap];
        u->siov[i].iov_base = fl_buf_data(e->buf);
        u->siov[i].iov_len = e->buf->len;
        memset(&u->smsg[i].msg_hdr, 0, sizeof u->smsg[i].msg_hdr);
        u->smsg[i].msg_hdr.msg_name = &e->to;
        u->smsg[i].msg_hdr.msg_namelen = e->to_len;
        u->smsg[i].msg_hdr.msg_iov = &u->siov[i];
        u->smsg[i].msg_hdr.msg_iovlen = 1;
    }
    int r;
    do {
        r = sendmmsg(u->fd, u->smsg, (unsigned)n, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        /* the head packet is refused (EMSGSIZE, ENETUNREACH, ...): drop it */
        fl_log(FL_LOG_DEBUG, "sendmmsg: %s", strerror(errno));
        u->stats.send_errors++;
        queue_pop(u, 1);
        return 1;
    }
    for (int i = 0; i < r; i++)
        u->stats.bytes_out += u->siov[i].iov_len;
    u->stats.packets_out += (uint64_t)r;
    if (r > 0)
        u->stats.batches_out++;
    queue_pop(u, (size_t)r);
    return 1;
}

static void update_poll(fl__udp *u, int blocked)
{
    if (u->closing || blocked == u->blocked)
        return;
    u->blocked = blocked;
    int events = UV_READABLE | (blocked ? UV_WRITABLE : 0);
    uv_poll_start(&u->poll, events, u->poll.poll_cb);
}

void fl__udp_flush(fl__udp *u)
{
    if (u->closing)
        return;
    int progress = 1;
    while (u->qlen > 0 && progress)
        progress = flush_batch(u);
    update_poll(u, u->qlen > 0);
    uv_check_stop(&u->check); /* empty, or waiting for UV_WRITABLE */
}

static void on_check(uv_check_t *h)
{
    fl__udp_flush(h->data);
}

int fl__udp_send(fl__udp *u, const fl_addr *to, fl_buf *buf)
{
    if (u->closing) {
        fl_buf_unref(buf);
        return FL_ECLOSED;
    }
    if (u->qlen == u->qcap && !u->blocked)
        fl__udp_flush(u); /* a full queue goes out now rather than waiting */
    if (u->qlen == u->qcap) {
        u->stats.drops_queue++;
        fl_buf_unref(buf);
        return FL_EAGAIN;
    }
    out_entry *e = &u->queue[(u->qhead + u->qlen) % u->qcap];
    size_t len = fl_addr_to_sockaddr(to, &e->to.sa, sizeof e->to);
    if (len == 0 || to->family != u->local.family) {
        fl_buf_unref(buf);
        return FL_EINVAL;
    }
    e->to_len = (socklen_t)len;
    e->buf = buf;
    u->qlen++;
    if (u->qlen == 1 && !u->blocked)
        uv_check_start(&u->check, on_check);
    return 0;
}

/* ---- receive ---- */

static void read_local(fl__udp *u, struct msghdr *h, fl_addr *local)
{
    *local = u->local;
    if (!u->wildcard)
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            memcpy(local->ip, &pi.ipi_addr, 4);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            memcpy(local->ip, &pi.ipi6_addr, 16);
        }
    }
}

/* The parts of the receive slots that never change; once, at create. */
static void init_slots(fl__udp *u)
{
    for (size_t i = 0; i < FL__UDP_BATCH; i++) {
        struct msghdr *h = &u->rmsg[i].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_name = &u->rname[i];
        h->msg_iov = &u->riov[i];
        h->msg_iovlen = 1;
        h->msg_control = u->wildcard ? u->rctl[i].bytes : NULL;
    }
}

/* What recvmmsg writes back, reset before each read. */
static void prepare_slot(fl__udp *u, size_t i, void *data, size_t len)
{
    struct msghdr *h = &u->rmsg[i].msg_hdr;
    u->riov[i].iov_base = data;
    u->riov[i].iov_len = len;
    h->msg_namelen = sizeof u->rname[i];
    h->msg_controllen = u->wildcard ? sizeof u->rctl[i].bytes : 0;
    h->msg_flags = 0;
}

/* Takes up to `want` buffers from the pool; the count. */
static size_t fill_slots(fl__udp *u, size_t want)
{
    size_t k = 0;
    for (; k < want; k++) {
        fl_buf *b = fl_buf_pool_get(u->pool);
        if (!b)
            break;
        u->rbuf[k] = b;
        prepare_slot(u, k, fl_buf_data(b), fl_buf_tailroom(b));
    }
    return k;
}

static int recv_batch(fl__udp *u, size_t k)
{
    int r;
    do {
        r = recvmmsg(u->fd, u->rmsg, (unsigned)k, 0, NULL);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        fl_log(FL_LOG_DEBUG, "recvmmsg: %s", strerror(errno));
    return r < 0 ? 0 : r;
}

/* The pool is empty: reads a batch into the scratch area and drops it, so a
 * level-triggered poll does not spin. */
static int discard_batch(fl__udp *u)
{
    for (size_t i = 0; i < FL__UDP_BATCH; i++)
        prepare_slot(u, i, u->scratch, sizeof u->scratch);
    int r = recv_batch(u, FL__UDP_BATCH);
    u->stats.drops_no_buf += (uint64_t)r;
    if (r > 0)
        fl_log(FL_LOG_DEBUG, "pool exhausted: %d datagrams dropped", r);
    return r == FL__UDP_BATCH;
}

/* Buffers for the read after one that returned r of k: about twice what
 * came, since most reads on a session's socket return a few datagrams and
 * buffers taken for nothing go straight back; the whole batch after a read
 * that filled every slot. */
static int next_want(int r, size_t k)
{
    if ((size_t)r == k)
        return FL__UDP_BATCH;
    int want = 2 * r;
    return want < READ_MIN ? READ_MIN : want > FL__UDP_BATCH ? FL__UDP_BATCH : want;
}

/* One recvmmsg and the callback; 1 when more datagrams may be waiting. */
static int read_batch(fl__udp *u)
{
    size_t k = fill_slots(u, (size_t)u->rwant);
    if (k == 0)
        return discard_batch(u);
    int r = recv_batch(u, k);
    u->rwant = next_want(r, k);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        fl_buf *b = u->rbuf[i];
        u->rbuf[i] = NULL;
        struct msghdr *h = &u->rmsg[i].msg_hdr;
        if (i >= (size_t)r || (h->msg_flags & MSG_TRUNC)) {
            u->stats.drops_truncated += i < (size_t)r;
            fl_buf_unref(b);
            continue;
        }
        b->len = u->rmsg[i].msg_len;
        u->stats.bytes_in += b->len;
        fl__udp_packet *p = &u->pkts[m++];
        p->buf = b;
        fl_addr_from_sockaddr(&p->from, &u->rname[i].sa);
        read_local(u, h, &p->local);
    }
    if (r > 0)
        u->stats.batches_in++;
    u->stats.packets_in += m;
    if (m > 0)
        u->on_recv(u, u->pkts, m, u->arg);
    return (size_t)r == k;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    fl__udp *u = h->data;
    if (status < 0) {
        fl_log(FL_LOG_WARN, "poll: %s", uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        fl__udp_flush(u);
    if (!(events & UV_READABLE))
        return;
    for (int i = 0; i < READ_ROUNDS && !u->closing; i++) {
        if (!read_batch(u))
            break;
    }
}

/* ---- life cycle ---- */

/* A datagram from the simulation's network, handed up as one read. */
static void sim_deliver(fl__sim_socket *so, const fl_addr *from, const uint8_t *data, size_t len)
{
    fl__udp *u = fl_container_of(so, fl__udp, sim_so);
    if (u->closing)
        return;
    fl_buf *b = fl_buf_pool_get(u->pool);
    if (!b) {
        u->stats.drops_no_buf++;
        return;
    }
    if (len > fl_buf_tailroom(b)) {
        u->stats.drops_truncated++;
        fl_buf_unref(b);
        return;
    }
    memcpy(fl_buf_data(b), data, len);
    b->len = (uint32_t)len;
    u->stats.packets_in++;
    u->stats.bytes_in += len;
    u->stats.batches_in++;
    u->pkts[0] = (fl__udp_packet){ .buf = b, .from = *from, .local = u->local };
    u->on_recv(u, u->pkts, 1, u->arg);
}

static int is_wildcard(const fl_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0;
}

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value);
}

/* A socket buffer size: forced past net.core.[rw]mem_max when the process
 * may (CAP_NET_ADMIN), else as large as that limit lets. */
static int set_buf(int fd, int forced, int plain, int bytes)
{
    if (set_int(fd, SOL_SOCKET, forced, bytes) == 0)
        return 0;
    return set_int(fd, SOL_SOCKET, plain, bytes);
}

/* Socket options before bind; FL_EIO when the kernel refuses one. */
static int socket_setup(fl__udp *u, const fl__udp_config *cfg)
{
    int rc = 0;
    if (u->local.family == 6)
        rc |= set_int(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (cfg->rcvbuf > 0)
        rc |= set_buf(u->fd, SO_RCVBUFFORCE, SO_RCVBUF, cfg->rcvbuf);
    if (cfg->sndbuf > 0)
        rc |= set_buf(u->fd, SO_SNDBUFFORCE, SO_SNDBUF, cfg->sndbuf);
    if (u->wildcard && u->local.family == 4)
        rc |= set_int(u->fd, IPPROTO_IP, IP_PKTINFO, 1);
    if (u->wildcard && u->local.family == 6)
        rc |= set_int(u->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    if (rc != 0) {
        fl_log(FL_LOG_ERROR, "setsockopt: %s", strerror(errno));
        return FL_EIO;
    }
    return 0;
}

/* The socket, its options and its port. */
static int socket_open(fl__udp *u, const fl__udp_config *cfg)
{
    int domain = u->local.family == 4 ? AF_INET : AF_INET6;
    u->fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        fl_log(FL_LOG_ERROR, "socket: %s", strerror(errno));
        return FL_EIO;
    }
    int rc = socket_setup(u, cfg);
    if (rc == 0)
        rc = fl__port_bind(u->fd, &cfg->local, cfg->min_port, cfg->max_port, cfg->rand,
                           &u->local.port);
    if (rc < 0) {
        char ip[FL_ADDR_STRLEN];
        fl_log(FL_LOG_WARN, "no UDP port on %s in %u-%u: %s", fl_addr_ip_str(&cfg->local, ip),
               cfg->min_port, cfg->max_port, fl_strerror(rc));
        close(u->fd);
        u->fd = -1;
    }
    return rc;
}

int fl__udp_create(fl__udp **out,
                   uv_loop_t *loop,
                   fl_buf_pool *pool,
                   const fl__udp_config *cfg,
                   fl__udp_recv_fn on_recv,
                   void *arg)
{
    *out = NULL;
    if (!loop || !pool || !cfg || !on_recv || (cfg->local.family != 4 && cfg->local.family != 6))
        return FL_EINVAL;
    fl__udp *u = calloc(1, sizeof *u);
    if (!u)
        return FL_ENOMEM;
    u->qcap = cfg->queue ? cfg->queue : FL__UDP_QUEUE_DEFAULT;
    u->queue = calloc(u->qcap, sizeof *u->queue);
    int rc = FL_ENOMEM;
    if (!u->queue)
        goto free_u;
    u->loop = loop;
    u->pool = pool;
    u->on_recv = on_recv;
    u->arg = arg;
    u->local = cfg->local;
    u->wildcard = is_wildcard(&cfg->local);
    u->rwant = READ_MIN;
    init_slots(u);
    rc = socket_open(u, cfg);
    if (rc < 0)
        goto free_u;
    if (uv_poll_init_socket(loop, &u->poll, u->fd) != 0) {
        rc = FL_EIO;
        goto close_fd;
    }
    uv_check_init(loop, &u->check);
    u->poll.data = u;
    u->check.data = u;
    uv_poll_start(&u->poll, UV_READABLE, on_poll);
    fl_list_init(&u->sim_so.node);
    u->sim = fl__loop_sim(loop);
    if (u->sim) {
        u->sim_so.local = u->local;
        u->sim_so.deliver = sim_deliver;
        fl__sim_socket_add(u->sim, &u->sim_so);
    }
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "bound %s", fl_addr_str(&u->local, s));
    *out = u;
    return 0;

close_fd:
    close(u->fd);
free_u:
    free(u->queue);
    free(u);
    return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
    fl__udp *u = h->data;
    if (--u->pending_closes > 0)
        return;
    close(u->fd);
    fl__udp_close_fn cb = u->on_close;
    void *arg = u->close_arg;
    free(u->queue);
    free(u);
    if (cb)
        cb(arg);
}

void fl__udp_close(fl__udp *u, fl__udp_close_fn on_close, void *arg)
{
    if (!u || u->closing)
        return;
    u->closing = 1;
    u->on_close = on_close;
    u->close_arg = arg;
    queue_pop(u, u->qlen);
    fl__sim_socket_remove(&u->sim_so);
    u->pending_closes = 2;
    uv_close((uv_handle_t *)&u->poll, on_handle_closed);
    uv_close((uv_handle_t *)&u->check, on_handle_closed);
}

const fl_addr *fl__udp_local(const fl__udp *u)
{
    return &u->local;
}

size_t fl__udp_queued(const fl__udp *u)
{
    return u->qlen;
}

void fl__udp_get_stats(const fl__udp *u, fl__udp_stats *out)
{
    *out = u->stats;
}
