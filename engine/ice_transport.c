#include "engine/ice_transport.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/netif.h"
#include "engine/tcp_media.h"
#include "engine/udp.h"
#include "net/rtp.h"

FL_LOG_TAG("ice");

#define MAX_ADDRS     16
#define TCP_LISTENER0 1000 /* socket ids of listeners: TCP_LISTENER0 + index */
#define CONN_BITS     20   /* connection ids: listener index above these bits */

struct fl__ice_transport {
    uv_loop_t *loop;
    fl_buf_pool *pool;
    fl_ice_agent *agent;
    fl__ice_transport_callbacks cbs;
    void *arg;
    fl__udp *udp[MAX_ADDRS];
    size_t n_udp;
    fl__tcp_media *tcp[MAX_ADDRS];
    size_t n_tcp;
    uv_timer_t timer;
    int selected;          /* a pair is selected */
    int selected_socket;   /* its socket id */
    fl_addr selected_peer; /* its remote address */
    int closing;
    int pending_closes;
    fl_ice_transmit tx; /* scratch for the agent's transmits */
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void pump(fl__ice_transport *t);

static int is_stun(const fl_buf *b)
{
    return b->len >= 20 && fl_demux_classify(b->data[b->off]) == FL_DEMUX_STUN;
}

static fl_time now(void)
{
    return fl_time_now();
}

/* ---- input ---- */

static void on_udp(fl__udp *u, fl__udp_packet *pkts, size_t n, void *arg)
{
    fl__ice_transport *t = arg;
    int sid = -1;
    for (size_t i = 0; i < t->n_udp; i++)
        sid = t->udp[i] == u ? (int)i : sid;
    for (size_t i = 0; i < n; i++) {
        fl_buf *b = pkts[i].buf;
        if (is_stun(b)) {
            fl_ice_agent_handle_input(t->agent, now(), sid, &pkts[i].from, fl_buf_data(b), b->len);
            fl_buf_unref(b);
        } else if (t->cbs.on_data && !t->closing) {
            t->cbs.on_data(t->arg, b, &pkts[i].from);
        } else {
            fl_buf_unref(b);
        }
    }
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
        fl_ice_agent_handle_tcp_input(t->agent, now(), TCP_LISTENER0 + li, conn_socket(li, conn),
                                      peer, fl_buf_data(b), b->len);
        fl_buf_unref(b);
    } else if (t->cbs.on_data && !t->closing) {
        t->cbs.on_data(t->arg, b, peer);
    } else {
        fl_buf_unref(b);
    }
    pump(t);
}

static void on_conn(fl__tcp_media *m, uint64_t conn, const fl_addr *peer, int open, void *arg)
{
    (void)peer;
    fl__ice_transport *t = arg;
    if (!open) {
        fl_ice_agent_tcp_closed(t->agent, now(), conn_socket(listener_index(t, m), conn));
        pump(t);
    }
}

/* ---- output ---- */

static int send_on(fl__ice_transport *t, int sid, const fl_addr *to, fl_buf *b)
{
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
    return fl__udp_send(t->udp[sid], to, b);
}

static void flush_transmits(fl__ice_transport *t)
{
    fl_ice_transmit *tx = &t->tx;
    while (fl_ice_agent_poll_transmit(t->agent, tx) == 0) {
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

static void flush_events(fl__ice_transport *t)
{
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(t->agent, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_SELECTED_PAIR) {
            t->selected = 1;
            t->selected_socket = ev.socket_id;
            t->selected_peer = ev.remote.addr;
        } else if (ev.type == FL_ICE_EVENT_STATE && ev.state == FL_ICE_STATE_FAILED) {
            t->selected = 0;
        }
        if (t->cbs.on_event && !t->closing)
            t->cbs.on_event(t->arg, &ev);
    }
}

static void on_timer(uv_timer_t *h)
{
    fl__ice_transport *t = h->data;
    fl_ice_agent_handle_timeout(t->agent, now());
    pump(t);
}

/* Sends what the agent has to send, reports its events, re-arms its timer. */
static void pump(fl__ice_transport *t)
{
    if (t->closing)
        return;
    flush_transmits(t);
    flush_events(t);
    fl_time next = fl_ice_agent_poll_timeout(t->agent);
    if (next == FL_TIME_NEVER) {
        uv_timer_stop(&t->timer);
        return;
    }
    fl_time delay = next - now();
    uint64_t ms = delay <= 0 ? 0 : (uint64_t)((delay + 999) / 1000);
    uv_timer_start(&t->timer, on_timer, ms, 0);
}

/* ---- setup ---- */

static int open_udp(fl__ice_transport *t, const fl__ice_transport_config *cfg, const fl_addr *a)
{
    fl__udp_config uc = { .local = *a, .min_port = cfg->min_port, .max_port = cfg->max_port };
    fl__udp *u;
    int rc = fl__udp_create(&u, t->loop, t->pool, &uc, on_udp, t);
    if (rc != 0)
        return rc;
    fl_ice_host h = { .component = 1, .socket_id = (int)t->n_udp, .addr = *fl__udp_local(u) };
    h.advertised = a->family == 4 ? cfg->external_v4 : cfg->external_v6;
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
        if (rc == 0 && cfg->ice_tcp)
            rc = open_tcp(t, cfg, &addrs[i].addr);
    }
    return rc;
}

static void closed_one(void *arg)
{
    fl__ice_transport *t = arg;
    if (--t->pending_closes > 0)
        return;
    void (*cb)(void *) = t->on_closed;
    void *cb_arg = t->closed_arg;
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
    t->closing = 1;
    t->on_closed = on_closed;
    t->closed_arg = arg;
    t->pending_closes = 1 + (int)t->n_udp + (int)t->n_tcp;
    for (size_t i = 0; i < t->n_udp; i++)
        fl__udp_close(t->udp[i], closed_one, t);
    for (size_t i = 0; i < t->n_tcp; i++)
        fl__tcp_media_close(t->tcp[i], closed_one, t);
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, timer_closed);
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
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    fl_ice_agent_config ac = { .role = cfg->role, .lite = cfg->lite, .rand = fl_rand_system() };
    int rc = fl_ice_agent_create(&t->agent, &ac);
    if (rc == 0)
        rc = open_sockets(t, cfg);
    if (rc == 0 && cfg->stun_server.family)
        rc = fl_ice_agent_add_stun_server(t->agent, &cfg->stun_server);
    if (rc != 0) {
        fl__ice_transport_close(t, NULL, NULL); /* frees once the handles close */
        return rc;
    }
    *out = t;
    return 0;
}

fl_ice_agent *fl__ice_transport_agent(fl__ice_transport *t)
{
    return t->agent;
}

int fl__ice_transport_gather(fl__ice_transport *t)
{
    int rc = fl_ice_agent_gather(t->agent, now());
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
    int rc = fl_ice_agent_add_remote_candidate(t->agent, now(), line);
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

size_t fl__ice_transport_sockets(const fl__ice_transport *t)
{
    return t->n_udp + t->n_tcp;
}
