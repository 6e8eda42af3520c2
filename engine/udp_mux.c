/* One UDP port per worker: shared sockets and their demultiplexing. See
 * udp_mux.h. */
#include "engine/udp_mux.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "engine/sim.h"
#include "ice/stun.h"
#include "net/rtp.h"

FL_LOG_TAG("udp-mux");

#define MAX_SOCKETS 16
#define TXN_SLOTS   4096 /* power of two */
#define ADDR_MIN    64   /* address table slots at first (power of two) */
#define LOCAL_QUEUE 1024 /* datagrams between clients waiting for delivery */
/* An address that brought its owner a datagram this recently (ms) is not
 * taken by another client: a live session keeps its peer. */
#define FRESH_MS 5000

typedef struct txn_slot {
    uint8_t id[FL_STUN_TXN_ID_SIZE];
    fl__udp_mux_client *c; /* NULL: free */
} txn_slot;

typedef struct addr_slot {
    fl__udp_mux_client *c; /* NULL: free */
    uint32_t sock;         /* index in sockets[] */
    fl_addr addr;
    uint64_t seen; /* uv_now of its last datagram (or of the learning) */
} addr_slot;

typedef struct local_dgram {
    fl__udp_mux_client *to; /* NULL: its client detached */
    fl__udp *u;
    fl_buf *buf;
} local_dgram;

typedef struct shared_socket {
    fl_addr ip; /* as asked (port 0) */
    fl__udp *u;
} shared_socket;

struct fl__udp_mux {
    uv_loop_t *loop;
    fl_buf_pool *pool;
    uint16_t port;   /* fixed port; 0: picked by the first socket */
    uint16_t picked; /* the first socket's port */
    int closing;
    int sockets_closed;
    int pending_closes;
    size_t nclients;
    fl_hmap by_ufrag; /* ufrag -> client */
    addr_slot *addrs; /* open addressing, linear probing */
    size_t addr_cap;  /* power of two */
    size_t addr_len;
    txn_slot txns[TXN_SLOTS];
    shared_socket sockets[MAX_SOCKETS];
    size_t nsockets;
    /* datagrams from client to client, delivered from an idle handle */
    uv_idle_t idle;
    local_dgram local[LOCAL_QUEUE];
    size_t lhead, llen;
    uint64_t now; /* uv_now at the batch being routed */
    fl__udp_mux_stats stats;
};

static uint32_t socket_index(const fl__udp_mux *m, const fl__udp *u);

/* ---- the address table ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t addr_hash(uint32_t sock, const fl_addr *a)
{
    uint64_t w[2] = { 0, 0 };
    memcpy(w, a->ip, a->family == 4 ? 4 : sizeof w); /* what fl_addr_equal compares */
    uint64_t h = mix64(w[0] ^ ((uint64_t)a->port << 40 | (uint64_t)a->family << 32 | sock));
    return (size_t)mix64(h ^ w[1]);
}

static int slot_is(const addr_slot *s, uint32_t sock, const fl_addr *a)
{
    return s->c && s->sock == sock && fl_addr_equal(&s->addr, a);
}

static size_t addr_find(const fl__udp_mux *m, uint32_t sock, const fl_addr *a)
{
    if (m->addr_cap == 0)
        return SIZE_MAX;
    size_t mask = m->addr_cap - 1;
    for (size_t i = addr_hash(sock, a) & mask;; i = (i + 1) & mask) {
        if (!m->addrs[i].c)
            return SIZE_MAX;
        if (slot_is(&m->addrs[i], sock, a))
            return i;
    }
}

/* Empties slot i and moves later entries of its run back, so every lookup
 * still finds its entry before a free slot (no tombstones). */
static void addr_remove_at(fl__udp_mux *m, size_t i)
{
    size_t mask = m->addr_cap - 1;
    m->addrs[i].c = NULL;
    m->addr_len--;
    for (size_t j = (i + 1) & mask; m->addrs[j].c; j = (j + 1) & mask) {
        size_t home = addr_hash(m->addrs[j].sock, &m->addrs[j].addr) & mask;
        /* j's entry may move to i when its home is not in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        m->addrs[i] = m->addrs[j];
        m->addrs[j].c = NULL;
        i = j;
    }
}

static void addr_put_slot(addr_slot *t, size_t cap, const addr_slot *e)
{
    size_t mask = cap - 1;
    size_t i = addr_hash(e->sock, &e->addr) & mask;
    while (t[i].c)
        i = (i + 1) & mask;
    t[i] = *e;
}

/* Room for one more entry at a load of at most a half. */
static int addr_reserve(fl__udp_mux *m)
{
    if (2 * (m->addr_len + 1) <= m->addr_cap)
        return 0;
    size_t cap = m->addr_cap ? 2 * m->addr_cap : ADDR_MIN;
    addr_slot *t = calloc(cap, sizeof *t);
    if (!t)
        return FL_ENOMEM;
    for (size_t i = 0; i < m->addr_cap; i++) {
        if (m->addrs[i].c)
            addr_put_slot(t, cap, &m->addrs[i]);
    }
    free(m->addrs);
    m->addrs = t;
    m->addr_cap = cap;
    return 0;
}

/* Removes entry k of c's list (and the table's entry, when it is c's). */
static void client_forget(fl__udp_mux_client *c, size_t k)
{
    fl__udp_mux *m = c->mux;
    size_t i = addr_find(m, c->addr_sock[k], &c->addrs[k]);
    if (i != SIZE_MAX && m->addrs[i].c == c)
        addr_remove_at(m, i);
    memmove(&c->addr_sock[k], &c->addr_sock[k + 1], (c->naddrs - k - 1) * sizeof c->addr_sock[0]);
    memmove(&c->addrs[k], &c->addrs[k + 1], (c->naddrs - k - 1) * sizeof c->addrs[0]);
    c->naddrs--;
}

static size_t client_index(const fl__udp_mux_client *c, uint32_t sock, const fl_addr *a)
{
    for (size_t k = 0; k < c->naddrs; k++) {
        if (c->addr_sock[k] == sock && fl_addr_equal(&c->addrs[k], a))
            return k;
    }
    return SIZE_MAX;
}

/* Moves entry k of c's list to its end (the newest). */
static void client_touch(fl__udp_mux_client *c, size_t k)
{
    uint32_t sock = c->addr_sock[k];
    fl_addr a = c->addrs[k];
    memmove(&c->addr_sock[k], &c->addr_sock[k + 1], (c->naddrs - k - 1) * sizeof c->addr_sock[0]);
    memmove(&c->addrs[k], &c->addrs[k + 1], (c->naddrs - k - 1) * sizeof c->addrs[0]);
    c->addr_sock[c->naddrs - 1] = sock;
    c->addrs[c->naddrs - 1] = a;
}

/* The entry of c's list whose address was heard from longest ago. */
static size_t client_stalest(const fl__udp_mux_client *c)
{
    const fl__udp_mux *m = c->mux;
    size_t best = 0;
    uint64_t best_seen = UINT64_MAX;
    for (size_t k = 0; k < c->naddrs; k++) {
        size_t i = addr_find(m, c->addr_sock[k], &c->addrs[k]);
        uint64_t seen = i != SIZE_MAX ? m->addrs[i].seen : 0;
        if (seen < best_seen) {
            best_seen = seen;
            best = k;
        }
    }
    return best;
}

/* c owns (sock, a) from now on, unless another client heard from it
 * within FRESH_MS (returns FL_EBUSY then). */
static int learn(fl__udp_mux_client *c, uint32_t sock, const fl_addr *a)
{
    fl__udp_mux *m = c->mux;
    uint64_t now = uv_now(m->loop);
    size_t i = addr_find(m, sock, a);
    if (i != SIZE_MAX && m->addrs[i].c == c) {
        m->addrs[i].seen = now;
        size_t k = client_index(c, sock, a);
        if (k != SIZE_MAX)
            client_touch(c, k);
        return 0;
    }
    if (i != SIZE_MAX) {
        fl__udp_mux_client *old = m->addrs[i].c;
        if (now - m->addrs[i].seen < FRESH_MS) {
            if (m->stats.refused_takeovers++ == 0) {
                char s[FL_ADDR_STRLEN];
                fl_log(FL_LOG_WARN,
                       "peer %s already carries a live session on this shared port: another "
                       "session's checks from it are not followed (two sessions behind one "
                       "address and port, as between two servers on shared ports, need "
                       "fluo.singlePort false)",
                       fl_addr_str(a, s));
            }
            return FL_EBUSY;
        }
        size_t k = client_index(old, sock, a);
        if (k != SIZE_MAX)
            client_forget(old, k);
        else
            addr_remove_at(m, i);
    }
    if (c->naddrs == FL__UDP_MUX_CLIENT_ADDRS)
        client_forget(c, client_stalest(c));
    if (addr_reserve(m) != 0) {
        fl_log(FL_LOG_WARN, "no memory for a peer address: its datagrams will be dropped");
        return FL_ENOMEM;
    }
    addr_slot e = { .c = c, .sock = sock, .addr = *a, .seen = now };
    addr_put_slot(m->addrs, m->addr_cap, &e);
    m->addr_len++;
    c->addr_sock[c->naddrs] = sock;
    c->addrs[c->naddrs++] = *a;
    return 0;
}

int fl__udp_mux_learn(fl__udp_mux_client *c, const fl__udp *u, const fl_addr *from)
{
    if (!c->mux)
        return FL_ECLOSED;
    uint32_t sock = socket_index(c->mux, u);
    if (sock == UINT32_MAX)
        return FL_ENOENT;
    return learn(c, sock, from);
}

/* ---- transaction ids ---- */

static txn_slot *txn_slot_of(fl__udp_mux *m, const uint8_t *id)
{
    uint64_t w[2] = { 0, 0 };
    memcpy(w, id, 8);
    memcpy(&w[1], id + 8, 4);
    return &m->txns[mix64(w[0] ^ mix64(w[1])) & (TXN_SLOTS - 1)];
}

void fl__udp_mux_expect(fl__udp_mux_client *c, const uint8_t *txn)
{
    txn_slot *s = txn_slot_of(c->mux, txn);
    memcpy(s->id, txn, sizeof s->id);
    s->c = c;
}

/* ---- receive ---- */

static uint32_t socket_index(const fl__udp_mux *m, const fl__udp *u)
{
    for (size_t i = 0; i < m->nsockets; i++) {
        if (m->sockets[i].u == u)
            return (uint32_t)i;
    }
    return UINT32_MAX;
}

/* The client a STUN request names in its USERNAME ("local:remote"). */
static fl__udp_mux_client *by_username(fl__udp_mux *m, const fl_stun_msg *msg)
{
    const char *s;
    size_t len;
    if (fl_stun_msg_get_string(msg, FL_STUN_ATTR_USERNAME, &s, &len) != 0)
        return NULL;
    const char *colon = memchr(s, ':', len);
    size_t n = colon ? (size_t)(colon - s) : len;
    char key[sizeof(((fl__udp_mux_client *)0)->ufrag)];
    if (n == 0 || n >= sizeof key)
        return NULL;
    memcpy(key, s, n);
    key[n] = '\0';
    return fl_hmap_get(&m->by_ufrag, key);
}

/* The client of a STUN message by its USERNAME or transaction id; NULL
 * when neither names one. Nothing is learnt here: the client's agent checks
 * the message first (fl__udp_mux_learn). */
static fl__udp_mux_client *route_stun(fl__udp_mux *m, const fl_buf *b)
{
    fl_stun_msg msg;
    if (fl_stun_msg_parse(&msg, b->data + b->off, b->len) != 0)
        return NULL;
    fl__udp_mux_client *c = NULL;
    if (msg.cls == FL_STUN_REQUEST || msg.cls == FL_STUN_INDICATION) {
        c = by_username(m, &msg);
        m->stats.by_ufrag += c != NULL;
    } else {
        txn_slot *s = txn_slot_of(m, msg.txn_id);
        if (s->c && memcmp(s->id, msg.txn_id, sizeof s->id) == 0)
            c = s->c;
        m->stats.by_txn += c != NULL;
    }
    return c;
}

static fl__udp_mux_client *route(fl__udp_mux *m, uint32_t sock, const fl__udp_packet *p)
{
    const fl_buf *b = p->buf;
    if (b->len >= 20 && fl_demux_classify(b->data[b->off]) == FL_DEMUX_STUN) {
        fl__udp_mux_client *c = route_stun(m, b);
        if (c)
            return c;
    }
    size_t i = addr_find(m, sock, &p->from);
    if (i == SIZE_MAX)
        return NULL;
    m->stats.by_addr++;
    m->addrs[i].seen = m->now;
    return m->addrs[i].c;
}

static void on_recv(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg)
{
    fl__udp_mux *m = arg;
    uint32_t sock = socket_index(m, u);
    m->now = uv_now(m->loop);
    for (size_t i = 0; i < n; i++) {
        fl__udp_mux_client *c = m->sockets_closed ? NULL : route(m, sock, &pkts[i]);
        if (c) {
            c->on_recv(c->arg, u, &pkts[i]);
            continue;
        }
        if (m->stats.unclaimed++ == 0) {
            char s[FL_ADDR_STRLEN];
            fl_log(FL_LOG_INFO,
                   "datagram from %s for no session on the shared port: dropped (and every "
                   "other such, counted)",
                   fl_addr_str(&pkts[i].from, s));
        }
        fl_buf_unref(pkts[i].buf);
    }
}

/* ---- client to client ---- */

static void on_idle(uv_idle_t *h)
{
    fl__udp_mux *m = h->data;
    size_t n = m->llen; /* what they send meanwhile goes next time */
    for (size_t i = 0; i < n && m->llen > 0; i++) {
        local_dgram d = m->local[m->lhead];
        m->local[m->lhead] = (local_dgram){ 0 };
        m->lhead = (m->lhead + 1) % LOCAL_QUEUE;
        m->llen--;
        if (!d.to || m->sockets_closed) {
            fl_buf_unref(d.buf);
            continue;
        }
        fl__udp_packet p = { .buf = d.buf,
                             .from = *fl__udp_local(d.u),
                             .local = *fl__udp_local(d.u) };
        d.to->on_recv(d.to->arg, d.u, &p);
    }
    if (m->llen == 0 && !m->sockets_closed)
        uv_idle_stop(&m->idle);
}

int fl__udp_mux_send_local(fl__udp_mux *m, fl__udp *u, const char *to_ufrag, fl_buf *b)
{
    fl__udp_mux_client *c = m->closing ? NULL : fl_hmap_get(&m->by_ufrag, to_ufrag);
    if (!c || m->llen == LOCAL_QUEUE) {
        fl_buf_unref(b);
        return c ? FL_EAGAIN : FL_ENOENT;
    }
    m->local[(m->lhead + m->llen++) % LOCAL_QUEUE] = (local_dgram){ .to = c, .u = u, .buf = b };
    uv_idle_start(&m->idle, on_idle);
    return 0;
}

/* ---- sockets ---- */

static int open_socket(fl__udp_mux *m, const fl_addr *ip, uint16_t lo, uint16_t hi, fl__udp **out)
{
    fl__udp_config uc = { .local = *ip,
                          .queue = FL__UDP_MUX_QUEUE,
                          .rcvbuf = FL__UDP_MUX_SOCKBUF,
                          .sndbuf = FL__UDP_MUX_SOCKBUF,
                          .rand = fl__clock_rand(m->loop) };
    uc.local.port = 0;
    if (m->port) {
        uc.min_port = uc.max_port = m->port;
    } else if (m->picked) { /* the same port as the first socket, if free */
        uc.min_port = uc.max_port = m->picked;
        if (fl__udp_create(out, m->loop, m->pool, &uc, on_recv, m) == 0)
            return 0;
        uc.min_port = lo;
        uc.max_port = hi;
    } else {
        uc.min_port = lo;
        uc.max_port = hi;
    }
    int rc = fl__udp_create(out, m->loop, m->pool, &uc, on_recv, m);
    if (rc == 0 && !m->picked)
        m->picked = fl__udp_local(*out)->port;
    return rc;
}

int fl__udp_mux_socket(fl__udp_mux *m,
                       const fl_addr *ip,
                       uint16_t min_port,
                       uint16_t max_port,
                       fl__udp **out)
{
    *out = NULL;
    if (m->closing)
        return FL_ECLOSED;
    for (size_t i = 0; i < m->nsockets; i++) {
        if (fl_addr_ip_equal(&m->sockets[i].ip, ip)) {
            *out = m->sockets[i].u;
            return 0;
        }
    }
    if (m->nsockets == MAX_SOCKETS)
        return FL_EBUSY; /* as many addresses as a worker serves */
    fl__udp *u;
    int rc = open_socket(m, ip, min_port, max_port, &u);
    if (rc != 0)
        return rc;
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_INFO, "shared media port %s", fl_addr_str(fl__udp_local(u), s));
    m->sockets[m->nsockets].ip = *ip;
    m->sockets[m->nsockets].ip.port = 0;
    m->sockets[m->nsockets++].u = u;
    *out = u;
    return 0;
}

/* ---- clients ---- */

int fl__udp_mux_attach(fl__udp_mux *m,
                       fl__udp_mux_client *c,
                       const char *ufrag,
                       fl__udp_mux_recv_fn on_recv_fn,
                       void *arg)
{
    size_t n = ufrag ? strlen(ufrag) : 0;
    if (n == 0 || n >= sizeof c->ufrag || !on_recv_fn)
        return FL_EINVAL;
    if (m->closing)
        return FL_ECLOSED;
    if (fl_hmap_get(&m->by_ufrag, ufrag))
        return FL_EEXIST;
    memset(c, 0, sizeof *c);
    memcpy(c->ufrag, ufrag, n + 1);
    c->mux = m;
    c->on_recv = on_recv_fn;
    c->arg = arg;
    int rc = fl_hmap_put(&m->by_ufrag, c->ufrag, c);
    if (rc != 0)
        return rc;
    m->nclients++;
    return 0;
}

static void free_mux(fl__udp_mux *m)
{
    fl_hmap_deinit(&m->by_ufrag);
    free(m->addrs);
    free(m);
}

static void socket_closed(void *arg)
{
    fl__udp_mux *m = arg;
    if (--m->pending_closes == 0)
        free_mux(m);
}

static void idle_closed(uv_handle_t *h)
{
    socket_closed(h->data);
}

/* Closes the sockets and the idle handle; the mux is freed once they are. */
static void close_sockets(fl__udp_mux *m)
{
    m->sockets_closed = 1;
    m->pending_closes = (int)m->nsockets + 1;
    for (; m->llen > 0; m->llen--, m->lhead = (m->lhead + 1) % LOCAL_QUEUE) {
        fl_buf_unref(m->local[m->lhead].buf);
        m->local[m->lhead] = (local_dgram){ 0 };
    }
    for (size_t i = 0; i < m->nsockets; i++)
        fl__udp_close(m->sockets[i].u, socket_closed, m);
    uv_close((uv_handle_t *)&m->idle, idle_closed);
}

void fl__udp_mux_detach(fl__udp_mux_client *c)
{
    fl__udp_mux *m = c ? c->mux : NULL;
    if (!m)
        return;
    fl_hmap_del(&m->by_ufrag, c->ufrag);
    while (c->naddrs > 0)
        client_forget(c, c->naddrs - 1);
    for (size_t i = 0; i < TXN_SLOTS; i++) {
        if (m->txns[i].c == c)
            m->txns[i].c = NULL;
    }
    for (size_t i = 0; i < m->llen; i++) {
        local_dgram *d = &m->local[(m->lhead + i) % LOCAL_QUEUE];
        if (d->to == c)
            d->to = NULL;
    }
    c->mux = NULL;
    if (--m->nclients == 0 && m->closing)
        close_sockets(m);
}

int fl__udp_mux_create(fl__udp_mux **out, uv_loop_t *loop, fl_buf_pool *pool, uint16_t port)
{
    fl__udp_mux *m = calloc(1, sizeof *m);
    if (!m)
        return FL_ENOMEM;
    m->loop = loop;
    m->pool = pool;
    m->port = port;
    fl_hmap_init(&m->by_ufrag);
    uv_idle_init(loop, &m->idle);
    m->idle.data = m;
    *out = m;
    return 0;
}

void fl__udp_mux_close(fl__udp_mux *m)
{
    if (!m || m->closing)
        return;
    m->closing = 1;
    if (m->nclients == 0)
        close_sockets(m);
}

void fl__udp_mux_get_stats(const fl__udp_mux *m, fl__udp_mux_stats *out)
{
    *out = m->stats;
    out->clients = m->nclients;
    out->addresses = m->addr_len;
    out->sockets = m->sockets_closed ? 0 : m->nsockets;
}
