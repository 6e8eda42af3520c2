#include "engine/ice_transport.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/deadline.h"
#include "engine/netif.h"
#include "engine/tcp_media.h"
#include "engine/udp.h"
#include "engine/udp_mux.h"
#include "ice/turn.h"
#include "net/rtp.h"

FL_LOG_TAG("ice");

#define MAX_ADDRS     16
#define TCP_LISTENER0 1000 /* socket ids of listeners: TCP_LISTENER0 + index */
#define CONN_BITS     20   /* connection ids: listener index above these bits */
#define RELAY_SOCKET  2000 /* socket id of the relayed base */

enum relay_state {
    RELAY_NONE = 0,  /* no TURN server, or not started yet */
    RELAY_RESOLVING, /* the server's host name is being resolved */
    RELAY_ALLOCATING,
    RELAY_READY,
    RELAY_FAILED,
};

/* The TURN client and the UDP socket it talks to the server on. */
typedef struct relay {
    fl_turn_client *c; /* NULL: no TURN server */
    size_t udp;        /* index in udp[] of the socket to the server */
    fl_addr server;
    int state; /* enum relay_state */
    /* IPs of remote candidates added before the Allocate: permitted then */
    fl_addr early[FL_TURN_MAX_PEERS];
    size_t n_early;
    /* RELAY_RESOLVING: the request, the URL (wiped after), and whether
     * gathering was asked for meanwhile */
    uv_getaddrinfo_t resolve;
    fl_turn_url url;
    int gather_wanted;
} relay;

struct fl__ice_transport {
    uv_loop_t *loop;
    fl_buf_pool *pool;
    fl_ice_agent *agent;
    fl__ice_transport_callbacks cbs;
    void *arg;
    fl__udp *udp[MAX_ADDRS];
    uint8_t own[MAX_ADDRS]; /* udp[i] is this transport's (not a shared socket) */
    size_t n_udp;
    fl__udp_mux *mux; /* shared sockets' mux, NULL: every socket is its own */
    fl__udp_mux_client mc;
    uint16_t min_port, max_port;
    fl__tcp_media *tcp[MAX_ADDRS];
    size_t n_tcp;
    fl__deadline timer;
    int selected;                 /* a pair is selected */
    int selected_socket;          /* its socket id */
    fl_addr selected_peer;        /* its remote address */
    uint64_t dropped_unvalidated; /* datagrams from sources no ICE check validated */
    int closing;
    int pending_closes;
    fl_ice_transmit tx; /* scratch for the agent's transmits */
    relay turn;
    int gather_held; /* the agent's gathering done waits for the allocation */
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void pump(fl__ice_transport *t);
static void closed_one(void *arg);
static void relay_client(fl__ice_transport *t, const fl_turn_url *u);
static void relay_allocate(fl__ice_transport *t);
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void relay_input(fl__ice_transport *t, fl_buf *b, const fl_addr *from);
static int relay_send(fl__ice_transport *t, const fl_addr *to, const uint8_t *data, size_t len);

static int is_stun(const fl_buf *b)
{
    return b->len >= 20 && fl_demux_classify(b->data[b->off]) == FL_DEMUX_STUN;
}

static fl_time now(const fl__ice_transport *t)
{
    return fl__clock_now(t->loop);
}

/* Hands a non-STUN datagram up when its source has passed an ICE check on
 * that socket (the selected pair first, without a scan); drops and counts
 * it otherwise. Takes b's reference. */
static void deliver(fl__ice_transport *t, int socket_id, fl_buf *b, const fl_addr *from)
{
    int ok = (t->selected && socket_id == t->selected_socket &&
              fl_addr_equal(from, &t->selected_peer)) ||
             fl_ice_agent_peer_validated(t->agent, socket_id, from);
    if (!ok) {
        if (t->dropped_unvalidated++ == 0) {
            char s[FL_ADDR_STRLEN];
            fl_log(FL_LOG_INFO,
                   "datagram from %s, which has passed no ICE check: dropped (and "
                   "every other such; see the endpoint's stats)",
                   fl_addr_str(from, s));
        }
        fl_buf_unref(b);
    } else if (t->cbs.on_data && !t->closing) {
        t->cbs.on_data(t->arg, b, from);
    } else {
        fl_buf_unref(b);
    }
}

/* ---- input ---- */

static int socket_id(const fl__ice_transport *t, const fl__udp *u)
{
    for (size_t i = 0; i < t->n_udp; i++) {
        if (t->udp[i] == u)
            return (int)i;
    }
    return -1;
}

/* One datagram from socket sid; 1 when the agent or the TURN client took
 * it (their output and events want a pump). */
static int udp_input(fl__ice_transport *t, int sid, fl__udp_packet *p)
{
    fl_buf *b = p->buf;
    if (t->turn.c && sid == (int)t->turn.udp && fl_addr_equal(&p->from, &t->turn.server)) {
        relay_input(t, b, &p->from);
        return 1;
    }
    if (is_stun(b)) {
        fl_ice_agent_handle_input(t->agent, now(t), sid, &p->from, fl_buf_data(b), b->len);
        fl_buf_unref(b);
        /* on a shared socket, the peer's datagrams come here once the agent
         * has authenticated it there */
        if (t->mux && sid >= 0 && !t->own[sid] &&
            fl_ice_agent_peer_validated(t->agent, sid, &p->from))
            fl__udp_mux_learn(&t->mc, t->udp[sid], &p->from);
        return 1;
    }
    deliver(t, sid, b, &p->from);
    return 0;
}

static void on_udp(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg)
{
    fl__ice_transport *t = arg;
    int sid = socket_id(t, u);
    for (size_t i = 0; i < n; i++)
        udp_input(t, sid, &pkts[i]);
    pump(t);
}

/* A datagram the mux routed here from a shared socket. */
static void on_mux(void *arg, fl__udp *u, fl__udp_packet *p)
{
    fl__ice_transport *t = arg;
    if (udp_input(t, socket_id(t, u), p))
        pump(t);
}

static int listener_index(fl__ice_transport *t, const fl__tcp_media *m)
{
    for (size_t i = 0; i < t->n_tcp; i++) {
        if (t->tcp[i] == m)
            return (int)i;
    }
    return -1;
}

static int conn_socket(int listener, uint64_t conn)
{
    return FL_ICE_TCP_CONN_ID(((unsigned)listener << CONN_BITS) |
                              (unsigned)(conn & ((1u << CONN_BITS) - 1)));
}

static void on_frame(fl__tcp_media *m, uint64_t conn, const fl_addr *peer, fl_buf *b, void *arg)
{
    fl__ice_transport *t = arg;
    int li = listener_index(t, m);
    if (is_stun(b)) {
        fl_ice_agent_handle_tcp_input(t->agent, now(t), TCP_LISTENER0 + li, conn_socket(li, conn),
                                      peer, fl_buf_data(b), b->len);
        fl_buf_unref(b);
    } else {
        deliver(t, conn_socket(li, conn), b, peer);
    }
    pump(t);
}

static void on_conn(fl__tcp_media *m, uint64_t conn, const fl_addr *peer, int open, void *arg)
{
    (void)peer;
    fl__ice_transport *t = arg;
    if (!open) {
        fl_ice_agent_tcp_closed(t->agent, now(t), conn_socket(listener_index(t, m), conn));
        pump(t);
    }
}

/* ---- output ---- */

static int send_on(fl__ice_transport *t, int sid, const fl_addr *to, fl_buf *b)
{
    if (sid == RELAY_SOCKET) {
        int rc = relay_send(t, to, fl_buf_data(b), b->len);
        fl_buf_unref(b);
        return rc;
    }
    if (sid & FL_ICE_TCP_CONN_FLAG) {
        unsigned v = (unsigned)sid & 0x3fffffffu;
        size_t li = v >> CONN_BITS;
        if (li >= t->n_tcp) {
            fl_buf_unref(b);
            return FL_ENOENT;
        }
        return fl__tcp_media_send(t->tcp[li], v & ((1u << CONN_BITS) - 1), b);
    }
    if (sid < 0 || (size_t)sid >= t->n_udp) {
        fl_buf_unref(b);
        return FL_ENOENT;
    }
    fl__udp *u = t->udp[sid];
    if (!t->own[sid] && fl_addr_equal(to, fl__udp_local(u))) /* a peer on this same socket */
        return fl__udp_mux_send_local(t->mux, u, fl_ice_agent_remote_ufrag(t->agent), b);
    return fl__udp_send(u, to, b);
}

/* A STUN request leaving on a shared socket: its response is routed back
 * here by its transaction id. */
static void expect_response(fl__ice_transport *t, const fl_ice_transmit *tx)
{
    int sid = tx->socket_id;
    if (!t->mux || sid < 0 || (size_t)sid >= t->n_udp || t->own[sid] || tx->len < 20 ||
        fl_demux_classify(tx->data[0]) != FL_DEMUX_STUN || (tx->data[0] & 0x01) ||
        (tx->data[1] & 0x10))
        return; /* class bits C1 C0 (0x0100, 0x0010): 00 is a request */
    fl__udp_mux_expect(&t->mc, tx->data + 8);
}

static void flush_transmits(fl__ice_transport *t)
{
    fl_ice_transmit *tx = &t->tx;
    while (fl_ice_agent_poll_transmit(t->agent, tx) == 0) {
        if (tx->socket_id == RELAY_SOCKET) {
            relay_send(t, &tx->dst, tx->data, tx->len);
            continue;
        }
        expect_response(t, tx);
        fl_buf *b = fl_buf_pool_get(t->pool);
        if (!b || fl_buf_headroom(b) < 2 || fl_buf_tailroom(b) < tx->len) {
            fl_buf_unref(b);
            fl_log(FL_LOG_DEBUG, "no buffer for a STUN message: dropped");
            continue;
        }
        memcpy(fl_buf_data(b), tx->data, tx->len);
        b->len = (uint32_t)tx->len;
        send_on(t, tx->socket_id, &tx->dst, b);
    }
}

static void emit(fl__ice_transport *t, const fl_ice_event *ev)
{
    if (t->cbs.on_event && !t->closing)
        t->cbs.on_event(t->arg, ev);
}

/* The relayed candidate may still come: gathering done waits for it. */
static int relay_pending(const fl__ice_transport *t)
{
    return t->turn.state == RELAY_RESOLVING || t->turn.state == RELAY_ALLOCATING;
}

static void flush_events(fl__ice_transport *t)
{
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(t->agent, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_SELECTED_PAIR) {
            t->selected = 1;
            t->selected_socket = ev.socket_id;
            t->selected_peer = ev.remote.addr;
            if (ev.socket_id == RELAY_SOCKET && t->turn.state == RELAY_READY &&
                fl_turn_client_bind_channel(t->turn.c, now(t), &ev.remote.addr, NULL) != 0)
                fl_log(FL_LOG_DEBUG, "no TURN channel for the selected pair: Send indications");
        } else if (ev.type == FL_ICE_EVENT_STATE && ev.state == FL_ICE_STATE_FAILED) {
            t->selected = 0;
        } else if (ev.type == FL_ICE_EVENT_GATHERING_DONE && relay_pending(t)) {
            t->gather_held = 1; /* announced once the relayed candidate is */
            continue;
        }
        emit(t, &ev);
    }
    if (t->gather_held && !relay_pending(t)) {
        t->gather_held = 0;
        memset(&ev, 0, sizeof(ev));
        ev.type = FL_ICE_EVENT_GATHERING_DONE;
        emit(t, &ev);
    }
}

/* ---- TURN (RFC 8656) over one of the UDP sockets ---- */

static const char *server_str(const fl__ice_transport *t)
{
    static char s[FL_ADDR_STRLEN]; /* log lines only, on this loop's thread */
    return fl_addr_str(&t->turn.server, s);
}

/* What the TURN client has for the server goes out on its UDP socket. */
static void relay_flush(fl__ice_transport *t)
{
    fl_turn_transmit tx;
    while (fl_turn_client_poll_transmit(t->turn.c, &tx) == 0) {
        fl_buf *b = fl_buf_pool_get(t->pool);
        if (!b || fl_buf_tailroom(b) < tx.len) {
            fl_buf_unref(b);
            fl_log(FL_LOG_DEBUG, "no buffer for a TURN request: dropped");
            continue;
        }
        memcpy(fl_buf_data(b), tx.data, tx.len);
        b->len = (uint32_t)tx.len;
        fl__udp_send(t->udp[t->turn.udp], &tx.to, b);
    }
}

/* A datagram for `to` from the relayed address: framed (ChannelData when a
 * channel is bound, else a Send indication) into a pool buffer. */
static int relay_send(fl__ice_transport *t, const fl_addr *to, const uint8_t *data, size_t len)
{
    if (t->turn.state != RELAY_READY)
        return FL_ESTATE;
    fl_buf *b = fl_buf_pool_get(t->pool);
    if (!b)
        return FL_ENOMEM;
    size_t n;
    int rc = fl_turn_client_wrap(t->turn.c, to, data, len, fl_buf_data(b), fl_buf_tailroom(b), &n);
    if (rc != 0) {
        fl_buf_unref(b);
        fl_log(FL_LOG_TRACE, "not relayed (%s)", fl_strerror(rc));
        return rc;
    }
    b->len = (uint32_t)n;
    return fl__udp_send(t->udp[t->turn.udp], &t->turn.server, b);
}

static void relay_failed(fl__ice_transport *t, const char *what, int err, int code)
{
    t->turn.state = RELAY_FAILED;
    fl_log(FL_LOG_WARN, "TURN server %s: %s failed: %s (STUN error %d); no relayed candidate",
           server_str(t), what, fl_strerror(err), code);
}

static void relay_allocated(fl__ice_transport *t, const fl_turn_event *ev)
{
    char r[FL_ADDR_STRLEN], m[FL_ADDR_STRLEN];
    fl_log(FL_LOG_INFO, "TURN server %s: relayed %s (mapped %s, lifetime %u s)", server_str(t),
           fl_addr_str(&ev->relayed, r), fl_addr_str(&ev->mapped, m), (unsigned)ev->lifetime);
    t->turn.state = RELAY_READY;
    int rc = fl_ice_agent_add_relayed(t->agent, 1, RELAY_SOCKET, &ev->relayed, &ev->mapped,
                                      &t->turn.server);
    if (rc != 0)
        relay_failed(t, "adding the relayed candidate", rc, 0);
}

/* Relayed peer data in b (whose reference this takes): STUN to the agent
 * on the relayed socket, the rest up as if it came from the peer. The
 * payload is in b itself, so it goes up without a copy. */
static void relay_data(fl__ice_transport *t, fl_buf *b, const fl_turn_event *ev)
{
    if (!b || ev->data < b->data || ev->data + ev->len > b->data + b->cap) {
        fl_log(FL_LOG_DEBUG, "relayed data outside its datagram: dropped");
        return;
    }
    b->off = (uint32_t)(ev->data - b->data);
    b->len = (uint32_t)ev->len;
    if (is_stun(b)) {
        fl_ice_agent_handle_input(t->agent, now(t), RELAY_SOCKET, &ev->peer, ev->data, ev->len);
        fl_buf_unref(b);
    } else {
        deliver(t, RELAY_SOCKET, b, &ev->peer);
    }
}

/* The client's events; `b` (may be NULL) is the datagram just given to it,
 * whose reference goes with its DATA event or is dropped here. */
static void relay_events(fl__ice_transport *t, fl_buf *b)
{
    fl_turn_event ev;
    char p[FL_ADDR_STRLEN];
    while (fl_turn_client_poll_event(t->turn.c, &ev) == 0) {
        switch (ev.type) {
        case FL_TURN_EVENT_ALLOCATED:
            relay_allocated(t, &ev);
            break;
        case FL_TURN_EVENT_DATA:
            relay_data(t, b, &ev);
            b = NULL;
            break;
        case FL_TURN_EVENT_ERROR:
            if (ev.fatal && t->turn.state != RELAY_FAILED)
                relay_failed(t, t->turn.state == RELAY_READY ? "the allocation" : "Allocate",
                             ev.err, ev.stun_code);
            else
                fl_log(FL_LOG_DEBUG, "TURN request %#x for %s: %s (%d)", (unsigned)ev.method,
                       fl_addr_str(&ev.peer, p), fl_strerror(ev.err), ev.stun_code);
            break;
        case FL_TURN_EVENT_DEALLOCATED:
            t->turn.state = RELAY_FAILED;
            break;
        default: /* PERMISSION, CHANNEL_BOUND */
            fl_log(FL_LOG_DEBUG, "TURN %s for %s",
                   ev.type == FL_TURN_EVENT_PERMISSION ? "permission" : "channel",
                   fl_addr_str(&ev.peer, p));
            break;
        }
    }
    if (b)
        fl_buf_unref(b);
}

static void relay_input(fl__ice_transport *t, fl_buf *b, const fl_addr *from)
{
    int rc = fl_turn_client_handle_input(t->turn.c, now(t), from, fl_buf_data(b), b->len);
    if (rc != 0)
        fl_log(FL_LOG_DEBUG, "from the TURN server: %s", fl_strerror(rc));
    relay_events(t, b);
}

/* A permission for a remote candidate's IP, so its checks come through. */
static void relay_permit(fl__ice_transport *t, const char *line)
{
    fl_ice_candidate c;
    int resolving = t->turn.state == RELAY_RESOLVING;
    if ((!t->turn.c && !resolving) || t->turn.state == RELAY_FAILED ||
        fl_ice_candidate_parse(&c, line, strlen(line)) != 0 || c.transport != FL_ICE_UDP ||
        (!resolving && c.addr.family != t->turn.server.family))
        return;
    if (t->turn.state == RELAY_NONE || resolving) { /* taken once allocating */
        for (size_t i = 0; i < t->turn.n_early; i++) {
            if (fl_addr_ip_equal(&t->turn.early[i], &c.addr))
                return;
        }
        if (t->turn.n_early < FL_TURN_MAX_PEERS)
            t->turn.early[t->turn.n_early++] = c.addr;
        return;
    }
    int rc = fl_turn_client_create_permission(t->turn.c, now(t), &c.addr);
    if (rc != 0)
        fl_log(FL_LOG_DEBUG, "no TURN permission for a remote candidate: %s", fl_strerror(rc));
}

/* The client for cfg->turn_url on the first UDP socket of the server's
 * family; a URL that cannot be used is logged and ignored. */
static int relay_open(fl__ice_transport *t, const char *url)
{
    fl_turn_url u;
    int rc = fl_turn_url_parse(&u, url);
    if (rc != 0) {
        fl_log(FL_LOG_WARN, "turnUrl is malformed (%s): not used", fl_strerror(rc));
        return 0;
    }
    if (u.transport != FL_TURN_UDP || u.secure) {
        fl_log(FL_LOG_WARN, "TURN server %s:%u: only UDP is supported (not TCP or TLS): not used",
               u.host, (unsigned)u.port);
        return 0;
    }
    if (fl_addr_parse(&t->turn.server, u.host, u.port) != 0) {
        /* a host name: resolved on libuv's thread pool, the client made then */
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
        t->turn.url = u;
        explicit_bzero(u.password, sizeof(u.password));
        t->turn.resolve.data = t;
        rc = uv_getaddrinfo(t->loop, &t->turn.resolve, on_resolved, t->turn.url.host, NULL, &hints);
        if (rc != 0) {
            fl_log(FL_LOG_WARN, "TURN server %s: cannot resolve (%s): not used", u.host,
                   uv_strerror(rc));
            explicit_bzero(&t->turn.url, sizeof(t->turn.url));
            return 0;
        }
        t->turn.state = RELAY_RESOLVING;
        return 0;
    }
    relay_client(t, &u);
    explicit_bzero(u.password, sizeof(u.password));
    return 0;
}

/* The index of our first UDP socket of `family` (4 or 6); n_udp if none. */
static size_t udp_of_family(const fl__ice_transport *t, int family)
{
    size_t i = 0;
    while (i < t->n_udp && fl__udp_local(t->udp[i])->family != family)
        i++;
    return i;
}

/* The TURN client for t->turn.server, on the first UDP socket of its
 * family; logged and left out when there is none. */
/* The socket the TURN client talks to the server on: the first UDP socket
 * of the server's family, or with shared sockets a socket of this
 * transport's own beside them (the server's answers could not be told
 * apart on a shared one); n_udp when there is none. */
static size_t relay_socket(fl__ice_transport *t, int family)
{
    size_t i = udp_of_family(t, family);
    if (i == t->n_udp || !t->mux)
        return i;
    fl__udp_config uc = { .local = *fl__udp_local(t->udp[i]),
                          .min_port = t->min_port,
                          .max_port = t->max_port,
                          .rand = fl__clock_rand(t->loop) };
    fl__udp *u;
    if (t->n_udp == MAX_ADDRS || fl__udp_create(&u, t->loop, t->pool, &uc, on_udp, t) != 0)
        return t->n_udp;
    t->own[t->n_udp] = 1;
    t->udp[t->n_udp++] = u;
    return t->n_udp - 1;
}

static void relay_client(fl__ice_transport *t, const fl_turn_url *u)
{
    size_t i = relay_socket(t, t->turn.server.family);
    if (i == t->n_udp) {
        fl_log(FL_LOG_WARN, "TURN server %s: no local IPv%d address to reach it: not used",
               server_str(t), t->turn.server.family);
        return;
    }
    t->turn.udp = i;
    fl_turn_config tc = { .server = t->turn.server,
                          .transport = FL_TURN_UDP,
                          .username = u->username[0] ? u->username : NULL,
                          .password = u->password,
                          .rand = fl__clock_rand(t->loop),
                          .software = "fluo" };
    int rc = fl_turn_client_create(&t->turn.c, &tc);
    if (rc != 0)
        fl_log(FL_LOG_WARN, "TURN server %s: no client (%s): not used", server_str(t),
               fl_strerror(rc));
}

/* The server's host name resolved: the first address we can reach is the
 * server; the Allocate goes out if gathering was asked for meanwhile. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    fl__ice_transport *t = req->data;
    if (t->closing) {
        explicit_bzero(&t->turn.url, sizeof(t->turn.url));
        uv_freeaddrinfo(res);
        closed_one(t);
        return;
    }
    int found = 0;
    for (int family = 4; family <= 6 && !found; family += 2) { /* IPv4 first */
        for (struct addrinfo *ai = status == 0 ? res : NULL; ai && !found; ai = ai->ai_next) {
            fl_addr a;
            if (fl_addr_from_sockaddr(&a, ai->ai_addr) == 0 && a.family == family &&
                udp_of_family(t, family) < t->n_udp) {
                a.port = t->turn.url.port;
                t->turn.server = a;
                found = 1;
            }
        }
    }
    uv_freeaddrinfo(res);
    t->turn.state = RELAY_NONE;
    if (found) {
        relay_client(t, &t->turn.url);
    } else {
        fl_log(FL_LOG_WARN, "TURN server %s: %s: not used", t->turn.url.host,
               status != 0 ? uv_strerror(status) : "no address of a family we have");
        t->turn.state = RELAY_FAILED;
    }
    explicit_bzero(&t->turn.url, sizeof(t->turn.url));
    if (t->turn.c && t->turn.gather_wanted)
        relay_allocate(t);
    pump(t);
}

static void on_timer(uv_timer_t *h)
{
    fl__ice_transport *t = h->data;
    fl_time n = now(t);
    fl_ice_agent_handle_timeout(t->agent, n);
    if (t->turn.c && fl_turn_client_poll_timeout(t->turn.c) <= n) {
        fl_turn_client_handle_timeout(t->turn.c, n);
        relay_events(t, NULL);
    }
    pump(t);
}

/* Sends what the agent and the TURN client have to send, reports the
 * agent's events, re-arms the timer at the earliest deadline of both. */
static void pump(fl__ice_transport *t)
{
    if (t->closing)
        return;
    if (t->turn.c)
        relay_flush(t); /* permissions before the checks they let through */
    flush_transmits(t);
    flush_events(t);
    fl_time next = fl_ice_agent_poll_timeout(t->agent);
    if (t->turn.c) {
        relay_flush(t); /* channel binds for a selected relayed pair */
        fl_time tn = fl_turn_client_poll_timeout(t->turn.c);
        next = tn < next ? tn : next;
    }
    /* only moves the timer earlier; one left armed (also when nothing is
     * due any more) fires, finds little to do and arms the next deadline */
    fl__deadline_arm(&t->timer, next, now(t));
}

/* ---- setup ---- */

static int open_udp(fl__ice_transport *t, const fl__ice_transport_config *cfg, const fl_addr *a)
{
    fl__udp *u;
    int rc;
    if (t->mux) {
        rc = fl__udp_mux_socket(t->mux, a, cfg->min_port, cfg->max_port, &u);
    } else {
        fl__udp_config uc = { .local = *a, .min_port = cfg->min_port, .max_port = cfg->max_port };
        rc = fl__udp_create(&u, t->loop, t->pool, &uc, on_udp, t);
    }
    if (rc != 0)
        return rc;
    fl_ice_host h = { .component = 1, .socket_id = (int)t->n_udp, .addr = *fl__udp_local(u) };
    h.advertised = a->family == 4 ? cfg->external_v4 : cfg->external_v6;
    t->own[t->n_udp] = !t->mux;
    t->udp[t->n_udp++] = u;
    return fl_ice_agent_add_host(t->agent, &h);
}

static int open_tcp(fl__ice_transport *t, const fl__ice_transport_config *cfg, const fl_addr *a)
{
    fl__tcp_media_config tc = { .local = *a, .min_port = cfg->min_port, .max_port = cfg->max_port };
    fl__tcp_media_callbacks cbs = { .on_frame = on_frame, .on_conn = on_conn };
    fl__tcp_media *m;
    int rc = fl__tcp_media_create(&m, t->loop, t->pool, &tc, &cbs, t);
    if (rc != 0)
        return rc;
    fl_ice_host h = { .component = 1,
                      .socket_id = TCP_LISTENER0 + (int)t->n_tcp,
                      .addr = *fl__tcp_media_local(m) };
    h.advertised = a->family == 4 ? cfg->external_v4 : cfg->external_v6;
    t->tcp[t->n_tcp++] = m;
    return fl_ice_agent_add_tcp_passive(t->agent, &h);
}

static int open_sockets(fl__ice_transport *t, const fl__ice_transport_config *cfg)
{
    fl__netif_addr addrs[MAX_ADDRS];
    size_t n;
    int rc = fl__netif_list(cfg->network_interfaces, cfg->loopback, addrs, MAX_ADDRS, &n);
    if (rc != 0)
        return rc;
    if (n == 0) {
        fl_log(FL_LOG_ERROR, "no usable address on the interfaces '%s'",
               cfg->network_interfaces ? cfg->network_interfaces : "(all)");
        return FL_ENOENT;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = open_udp(t, cfg, &addrs[i].addr);
        if (rc != 0 && t->mux && rc != FL_ENOMEM) {
            /* a shared socket that cannot be had on this address (a fixed
             * port taken there, an address gone): the others serve */
            char ip[FL_ADDR_STRLEN];
            fl_log(FL_LOG_WARN, "no shared UDP port on %s (%s): no candidate there",
                   fl_addr_ip_str(&addrs[i].addr, ip), fl_strerror(rc));
            rc = 0;
            continue;
        }
        if (rc == 0 && cfg->ice_tcp)
            rc = open_tcp(t, cfg, &addrs[i].addr);
    }
    if (rc == 0 && t->n_udp == 0)
        rc = FL_EBUSY; /* not one address could be had */
    return rc;
}

static size_t own_sockets(const fl__ice_transport *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_udp; i++)
        n += t->own[i];
    return n;
}

static void closed_one(void *arg)
{
    fl__ice_transport *t = arg;
    if (--t->pending_closes > 0)
        return;
    void (*cb)(void *) = t->on_closed;
    void *cb_arg = t->closed_arg;
    fl_turn_client_destroy(t->turn.c);
    fl_ice_agent_destroy(t->agent);
    free(t);
    if (cb)
        cb(cb_arg);
}

static void timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void fl__ice_transport_close(fl__ice_transport *t, void (*on_closed)(void *arg), void *arg)
{
    if (!t->closing && t->turn.state == RELAY_READY &&
        fl_turn_client_deallocate(t->turn.c, now(t)) == 0) {
        relay_flush(t); /* a goodbye to the server, not waited for */
        fl__udp_flush(t->udp[t->turn.udp]);
    }
    t->closing = 1;
    t->on_closed = on_closed;
    t->closed_arg = arg;
    fl__udp_mux_detach(&t->mc); /* nothing more comes from the shared sockets */
    t->pending_closes = 1 + (int)own_sockets(t) + (int)t->n_tcp;
    if (t->turn.state == RELAY_RESOLVING) { /* its callback comes, cancelled or not */
        t->pending_closes++;
        uv_cancel((uv_req_t *)&t->turn.resolve);
    }
    for (size_t i = 0; i < t->n_udp; i++) {
        if (t->own[i])
            fl__udp_close(t->udp[i], closed_one, t);
    }
    for (size_t i = 0; i < t->n_tcp; i++)
        fl__tcp_media_close(t->tcp[i], closed_one, t);
    fl__deadline_close(&t->timer, timer_closed);
}

int fl__ice_transport_create(fl__ice_transport **out,
                             uv_loop_t *loop,
                             fl_buf_pool *pool,
                             const fl__ice_transport_config *cfg,
                             const fl__ice_transport_callbacks *cbs,
                             void *arg)
{
    fl__ice_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return FL_ENOMEM;
    t->loop = loop;
    t->pool = pool;
    t->cbs = *cbs;
    t->arg = arg;
    t->min_port = cfg->min_port;
    t->max_port = cfg->max_port;
    /* at least 1 ms, as the endpoint's: a due deadline the agent does not
     * clear must not re-run in the same timers pass without polling */
    fl__deadline_init(&t->timer, loop, on_timer, t, 1);
    fl_ice_agent_config ac = { .role = cfg->role, .lite = cfg->lite, .rand = fl__clock_rand(loop) };
    int rc = fl_ice_agent_create(&t->agent, &ac);
    if (rc == 0 && cfg->mux) {
        rc = fl__udp_mux_attach(cfg->mux, &t->mc, fl_ice_agent_local_ufrag(t->agent), on_mux, t);
        t->mux = rc == 0 ? cfg->mux : NULL;
    }
    if (rc == 0)
        rc = open_sockets(t, cfg);
    if (rc == 0 && cfg->stun_server.family)
        rc = fl_ice_agent_add_stun_server(t->agent, &cfg->stun_server);
    if (rc == 0 && cfg->turn_url && cfg->turn_url[0] && !cfg->lite)
        rc = relay_open(t, cfg->turn_url);
    if (rc != 0) {
        fl__ice_transport_close(t, NULL, NULL); /* frees once the handles close */
        return rc;
    }
    *out = t;
    return 0;
}

/* The Allocate, and permissions for the remote candidates known so far. */
static void relay_allocate(fl__ice_transport *t)
{
    int rc = fl_turn_client_allocate(t->turn.c, now(t));
    if (rc != 0) {
        relay_failed(t, "Allocate", rc, 0);
        return;
    }
    t->turn.state = RELAY_ALLOCATING;
    for (size_t i = 0; i < t->turn.n_early; i++)
        fl_turn_client_create_permission(t->turn.c, now(t), &t->turn.early[i]);
}

fl_ice_agent *fl__ice_transport_agent(fl__ice_transport *t)
{
    return t->agent;
}

int fl__ice_transport_gather(fl__ice_transport *t)
{
    int rc = fl_ice_agent_gather(t->agent, now(t));
    if (rc == 0 && t->turn.state == RELAY_RESOLVING)
        t->turn.gather_wanted = 1;
    else if (rc == 0 && t->turn.c && t->turn.state == RELAY_NONE)
        relay_allocate(t);
    pump(t);
    return rc;
}

int fl__ice_transport_set_remote_credentials(fl__ice_transport *t,
                                             const char *ufrag,
                                             const char *pwd)
{
    int rc = fl_ice_agent_set_remote_credentials(t->agent, ufrag, pwd);
    pump(t);
    return rc;
}

int fl__ice_transport_add_remote_candidate(fl__ice_transport *t, const char *line)
{
    int rc = fl_ice_agent_add_remote_candidate(t->agent, now(t), line);
    if (rc == 0)
        relay_permit(t, line);
    pump(t);
    return rc;
}

int fl__ice_transport_send(fl__ice_transport *t, fl_buf *buf)
{
    if (!t->selected || t->closing) {
        fl_buf_unref(buf);
        return FL_ESTATE;
    }
    return send_on(t, t->selected_socket, &t->selected_peer, buf);
}

uint64_t fl__ice_transport_dropped_unvalidated(const fl__ice_transport *t)
{
    return t->dropped_unvalidated;
}

int64_t fl__ice_transport_shared_unclaimed(const fl__ice_transport *t)
{
    if (!t->mux)
        return -1;
    fl__udp_mux_stats st;
    fl__udp_mux_get_stats(t->mux, &st);
    return (int64_t)st.unclaimed;
}

size_t fl__ice_transport_sockets(const fl__ice_transport *t)
{
    return own_sockets(t) + t->n_tcp;
}
