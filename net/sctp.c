/* SCTP associations over usrsctp (net/sctp.h): the process-wide parts
 * (initialisation, timers, the address table), the association, and the
 * data channels on it (DCEP, stream resets). */
#include "net/sctp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <usrsctp.h>

#include "base/err.h"
#include "base/log.h"
#include "net/dcep.h"

FL_LOG_TAG("sctp");

#define OUTQ_MAX      1024          /* packets waiting for their owner; more: dropped */
#define PENDING_MAX   (16u << 20)   /* bytes waiting for the send buffer */
#define SOCK_BUF      (1024 * 1024) /* send and receive buffers */
#define RBUF_SIZE     (64 * 1024)   /* one usrsctp_recvv */
#define MAX_STREAM_ID (FL_SCTP_STREAMS - 1)
#define EVQ_CAP       64

/* A packet usrsctp made, waiting for its owner: a node of the
 * association's pool, room for the largest packet it sends. */
typedef struct pkt {
    struct pkt *next;
    size_t len;
    uint8_t data[FL_SCTP_PACKET_MAX];
} pkt;

/* A message that waited for room in the send buffer. */
typedef struct pending {
    struct pending *next;
    uint16_t sid;
    uint32_t ppid;
    size_t len;
    uint8_t data[];
} pending;

typedef struct channel {
    uint16_t id;
    fl_sctp_channel_state state;
    uint8_t type; /* DCEP channel type */
    uint32_t reliability;
    uint16_t priority;
    char *label, *protocol;
    int open_unsent; /* OPEN waits for the association */
    int reset_unsent;
    uint64_t msgs_sent, bytes_sent, msgs_recv, bytes_recv;
} channel;

struct fl_sctp {
    fl_sctp_config cfg;
    uintptr_t token; /* usrsctp's address for us (the table's slot) */
    struct socket *sock;
    int up, down;
    uint16_t n_out; /* outbound streams the association has */
    fl_time last;
    /* guarded by reg_lock: what usrsctp sent while anyone drove it, and
     * the pool of nodes: one per packet queued at once at the most (so at
     * most OUTQ_MAX + 1), kept for the next ones */
    pkt *outq, *outq_tail;
    size_t outq_len;
    pkt *outq_free;
    size_t outq_nodes;
    uint64_t out_dropped; /* queue full, or a packet too big for a node */
    /* owner only */
    pkt *out_sent; /* the node fl_sctp_poll_transmit copied out last */
    pending *pend, *pend_tail;
    size_t pend_bytes;
    channel **ch; /* by stream id, up to FL_SCTP_STREAMS */
    uint8_t *rbuf;
    uint8_t *msg; /* a message being received */
    size_t msg_len, msg_cap;
    int msg_drop; /* the current message is too big: dropped to its end */
    fl_sctp_event evq[EVQ_CAP];
    size_t evq_head, evq_len;
    int close_pending; /* channels whose reset could not be asked yet */
    fl_sctp_stats st;
};

/* ---- process-wide: usrsctp, its timers, the address table ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct slot {
    fl_sctp *s;
    uint32_t gen;
    uint32_t next_free; /* index + 1; 0: none */
} slot;

static slot *slots;
static uint32_t nslots, free_head;
static size_t live;
static atomic_flag tick_busy = ATOMIC_FLAG_INIT;
static fl_time tick_last; /* under tick_busy */

/* Under reg_lock. */
static fl_sctp *lookup(uintptr_t token)
{
    uint32_t idx = (uint32_t)(token & 0xffffffffu), gen = (uint32_t)(token >> 32);
    if (idx == 0 || idx > nslots || slots[idx - 1].gen != gen)
        return NULL;
    return slots[idx - 1].s;
}

/* Under reg_lock: a node for s's next packet, from its pool, which grows
 * while its queue is longer than ever; NULL when the queue is full. */
static pkt *outq_node(fl_sctp *s)
{
    if (s->outq_len >= OUTQ_MAX)
        return NULL;
    pkt *p = s->outq_free;
    if (p) {
        s->outq_free = p->next;
    } else if ((p = malloc(sizeof(*p)))) {
        s->outq_nodes++;
    }
    return p;
}

/* usrsctp's output: any thread that drives usrsctp. A packet finding the
 * queue full (or too big, never with our MTU) is dropped and counted:
 * SCTP sends it again. */
static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df)
{
    (void)tos;
    (void)set_df;
    pthread_mutex_lock(&reg_lock);
    fl_sctp *s = lookup((uintptr_t)addr);
    pkt *p = s && len <= FL_SCTP_PACKET_MAX ? outq_node(s) : NULL;
    if (p) {
        p->next = NULL;
        p->len = len;
        memcpy(p->data, buf, len);
        if (s->outq_tail)
            s->outq_tail->next = p;
        else
            s->outq = p;
        s->outq_tail = p;
        s->outq_len++;
    } else if (s) {
        s->out_dropped++;
    }
    pthread_mutex_unlock(&reg_lock);
    return 0;
}

static void pkt_list_free(pkt *p)
{
    while (p) {
        pkt *next = p->next;
        free(p);
        p = next;
    }
}

static void init_usrsctp(void)
{
    usrsctp_init_nothreads(0, conn_output, NULL);
    /* browsers neither send nor expect ECN on data channels */
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_enable_sack_immediately(1);
    init_ok = 1;
}

static int reg_add(fl_sctp *s)
{
    int rc = 0;
    pthread_mutex_lock(&reg_lock);
    if (!free_head) {
        uint32_t n = nslots ? nslots * 2 : 64;
        slot *ns = realloc(slots, n * sizeof(*ns));
        if (!ns) {
            rc = FL_ENOMEM;
            goto out;
        }
        for (uint32_t i = nslots; i < n; i++)
            ns[i] = (slot){ NULL, 1, i + 1 < n ? i + 2 : 0 };
        free_head = nslots + 1;
        slots = ns;
        nslots = n;
    }
    uint32_t idx = free_head;
    slot *sl = &slots[idx - 1];
    free_head = sl->next_free;
    sl->s = s;
    s->token = (uintptr_t)sl->gen << 32 | idx;
    live++;
out:
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

static void reg_del(fl_sctp *s)
{
    pthread_mutex_lock(&reg_lock);
    uint32_t idx = (uint32_t)(s->token & 0xffffffffu);
    slot *sl = &slots[idx - 1];
    sl->s = NULL;
    sl->gen++;
    sl->next_free = free_head;
    free_head = idx;
    live--;
    pkt *q = s->outq, *spare = s->outq_free, *sent = s->out_sent;
    s->outq = s->outq_tail = s->outq_free = s->out_sent = NULL;
    s->outq_len = 0;
    pthread_mutex_unlock(&reg_lock);
    fl_log(FL_LOG_DEBUG, "output queue: %zu nodes (its longest + 1), %llu packets dropped",
           s->outq_nodes, (unsigned long long)s->out_dropped);
    pkt_list_free(q);
    pkt_list_free(spare);
    pkt_list_free(sent);
}

size_t fl_sctp_live(void)
{
    pthread_mutex_lock(&reg_lock);
    size_t n = live;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

/* usrsctp's timer wheel moves with the first caller once 10 ms passed. */
static void tick(fl_time now)
{
    if (atomic_flag_test_and_set(&tick_busy))
        return;
    if (tick_last == 0 || now < tick_last)
        tick_last = now;
    fl_time elapsed = now - tick_last;
    if (elapsed >= 10 * FL_TIME_MS) {
        uint32_t ms = (uint32_t)(elapsed / FL_TIME_MS);
        tick_last += (fl_time)ms * FL_TIME_MS;
        usrsctp_handle_timers(ms);
    }
    atomic_flag_clear(&tick_busy);
}

/* ---- events ---- */

static void push_event(fl_sctp *s, fl_sctp_event_type type, int id)
{
    if (s->evq_len == EVQ_CAP) {
        fl_log(FL_LOG_WARN, "event queue full: an event of channel %d lost", id);
        return;
    }
    fl_sctp_event *ev = &s->evq[(s->evq_head + s->evq_len++) % EVQ_CAP];
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->channel = id;
}

/* ---- create / destroy ---- */

int fl_sctp_create(fl_sctp **out, const fl_sctp_config *cfg)
{
    *out = NULL;
    pthread_once(&init_once, init_usrsctp);
    if (!init_ok)
        return FL_EIO;
    fl_sctp *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->cfg = *cfg;
    if (!s->cfg.local_port)
        s->cfg.local_port = FL_SCTP_DEFAULT_PORT;
    if (!s->cfg.remote_port)
        s->cfg.remote_port = FL_SCTP_DEFAULT_PORT;
    if (!s->cfg.max_message_size)
        s->cfg.max_message_size = FL_SCTP_DEFAULT_MAX_MSG;
    if (!s->cfg.remote_max_message_size)
        s->cfg.remote_max_message_size = 65536;
    s->ch = calloc(FL_SCTP_STREAMS, sizeof(*s->ch));
    s->rbuf = malloc(RBUF_SIZE);
    if (!s->ch || !s->rbuf || reg_add(s) != 0) {
        free(s->ch);
        free(s->rbuf);
        free(s);
        return FL_ENOMEM;
    }
    usrsctp_register_address((void *)s->token);
    *out = s;
    return 0;
}

static void channel_free(channel *c)
{
    if (!c)
        return;
    free(c->label);
    free(c->protocol);
    free(c);
}

void fl_sctp_destroy(fl_sctp *s)
{
    if (!s)
        return;
    if (s->sock) {
        struct linger l = { 1, 0 }; /* abort: nothing of it lingers in usrsctp */
        usrsctp_setsockopt(s->sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        usrsctp_close(s->sock);
    }
    usrsctp_deregister_address((void *)s->token);
    reg_del(s);
    for (int i = 0; i < FL_SCTP_STREAMS; i++)
        channel_free(s->ch[i]);
    while (s->pend) {
        pending *p = s->pend;
        s->pend = p->next;
        free(p);
    }
    free(s->ch);
    free(s->rbuf);
    free(s->msg);
    free(s);
}

/* ---- the socket ---- */

static int sockopt(fl_sctp *s, int level, int name, const void *v, socklen_t len)
{
    if (usrsctp_setsockopt(s->sock, level, name, v, len) == 0)
        return 0;
    fl_log(FL_LOG_WARN, "usrsctp_setsockopt %d: %s", name, strerror(errno));
    return FL_EIO;
}

static int configure(fl_sctp *s)
{
    int on = 1, buf = SOCK_BUF;
    int rc = usrsctp_set_non_blocking(s->sock, 1) == 0 ? 0 : FL_EIO;
    rc = rc ? rc : sockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    rc = rc ? rc : sockopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    rc = rc ? rc : sockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on));
    rc = rc ? rc : sockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on));
    struct sctp_assoc_value av = { SCTP_ALL_ASSOC, SCTP_ENABLE_RESET_STREAM_REQ };
    rc = rc ? rc : sockopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof(av));
    struct sctp_initmsg im = { .sinit_num_ostreams = FL_SCTP_STREAMS,
                               .sinit_max_instreams = FL_SCTP_STREAMS };
    rc = rc ? rc : sockopt(s, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im));
    static const uint16_t events[] = { SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT,
                                       SCTP_SENDER_DRY_EVENT };
    for (size_t i = 0; rc == 0 && i < sizeof(events) / sizeof(events[0]); i++) {
        struct sctp_event ev = { .se_assoc_id = SCTP_ALL_ASSOC, .se_type = events[i], .se_on = 1 };
        rc = sockopt(s, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev));
    }
    return rc;
}

static struct sockaddr_conn conn_addr(const fl_sctp *s, uint16_t port)
{
    struct sockaddr_conn a;
    memset(&a, 0, sizeof(a));
    a.sconn_family = AF_CONN;
    a.sconn_port = htons(port);
    a.sconn_addr = (void *)s->token;
    return a;
}

/* The path MTU, fixed (no PMTU discovery over DTLS). */
static void set_mtu(fl_sctp *s)
{
    struct sctp_paddrparams pp;
    memset(&pp, 0, sizeof(pp));
    struct sockaddr_conn a = conn_addr(s, s->cfg.remote_port);
    memcpy(&pp.spp_address, &a, sizeof(a));
    pp.spp_flags = SPP_PMTUD_DISABLE;
    pp.spp_pathmtu = FL_SCTP_MTU;
    sockopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
}

int fl_sctp_start(fl_sctp *s, fl_time now)
{
    if (s->sock)
        return FL_ESTATE;
    s->last = now;
    s->sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
    if (!s->sock)
        return FL_EIO;
    if (configure(s) != 0)
        return FL_EIO;
    struct sockaddr_conn local = conn_addr(s, s->cfg.local_port);
    if (usrsctp_bind(s->sock, (struct sockaddr *)&local, sizeof(local)) != 0) {
        fl_log(FL_LOG_WARN, "usrsctp_bind: %s", strerror(errno));
        return FL_EIO;
    }
    struct sockaddr_conn remote = conn_addr(s, s->cfg.remote_port);
    if (usrsctp_connect(s->sock, (struct sockaddr *)&remote, sizeof(remote)) != 0 &&
        errno != EINPROGRESS) {
        fl_log(FL_LOG_WARN, "usrsctp_connect: %s", strerror(errno));
        return FL_EIO;
    }
    set_mtu(s);
    return 0;
}

/* ---- sending ---- */

static int sendv(fl_sctp *s, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len)
{
    const channel *c = s->ch[sid];
    struct sctp_sendv_spa spa;
    memset(&spa, 0, sizeof(spa));
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = sid;
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    if (ppid != FL_DCEP_PPID_CONTROL && c) {
        uint8_t base = c->type & (uint8_t)~FL_DCEP_UNORDERED;
        if (c->type & FL_DCEP_UNORDERED)
            spa.sendv_sndinfo.snd_flags = SCTP_UNORDERED;
        if (base != FL_DCEP_RELIABLE) {
            spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
            spa.sendv_prinfo.pr_policy =
                    base == FL_DCEP_PARTIAL_REXMIT ? SCTP_PR_SCTP_RTX : SCTP_PR_SCTP_TTL;
            spa.sendv_prinfo.pr_value = c->reliability;
        }
    }
    ssize_t n = usrsctp_sendv(s->sock, data, len, NULL, 0, &spa, (socklen_t)sizeof(spa),
                              SCTP_SENDV_SPA, 0);
    if (n >= 0)
        return 0;
    return errno == EWOULDBLOCK || errno == EAGAIN ? FL_EAGAIN : FL_EIO;
}

static int queue_pending(fl_sctp *s, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len)
{
    if (s->pend_bytes + len > PENDING_MAX)
        return FL_EAGAIN;
    pending *p = malloc(sizeof(*p) + len);
    if (!p)
        return FL_ENOMEM;
    p->next = NULL;
    p->sid = sid;
    p->ppid = ppid;
    p->len = len;
    memcpy(p->data, data, len);
    if (s->pend_tail)
        s->pend_tail->next = p;
    else
        s->pend = p;
    s->pend_tail = p;
    s->pend_bytes += len;
    return 0;
}

/* Sends now, or after what waits already. */
static int send_msg(fl_sctp *s, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len)
{
    if (!s->pend && s->up) {
        int rc = sendv(s, sid, ppid, data, len);
        if (rc != FL_EAGAIN)
            return rc;
    }
    return queue_pending(s, sid, ppid, data, len);
}

static void flush_pending(fl_sctp *s)
{
    while (s->pend && s->up) {
        pending *p = s->pend;
        int rc = sendv(s, p->sid, p->ppid, p->data, p->len);
        if (rc == FL_EAGAIN)
            return;
        if (rc < 0)
            s->st.messages_dropped++;
        s->pend = p->next;
        if (!s->pend)
            s->pend_tail = NULL;
        s->pend_bytes -= p->len;
        free(p);
    }
}

static int send_open(fl_sctp *s, channel *c)
{
    size_t ll = strlen(c->label), pl = strlen(c->protocol);
    fl_dcep_open o = {
        .channel_type = c->type,
        .priority = c->priority,
        .reliability = c->reliability,
        .label = (const uint8_t *)c->label,
        .label_len = ll,
        .protocol = (const uint8_t *)c->protocol,
        .protocol_len = pl,
    };
    size_t cap = FL_DCEP_OPEN_HEADER + ll + pl;
    uint8_t *m = malloc(cap);
    if (!m)
        return FL_ENOMEM;
    int n = fl_dcep_open_write(&o, m, cap);
    int rc = n < 0 ? n : send_msg(s, c->id, FL_DCEP_PPID_CONTROL, m, (size_t)n);
    free(m);
    c->open_unsent = rc != 0;
    return rc;
}

/* Asks the peer to reset our outgoing stream of c. */
static void reset_out(fl_sctp *s, channel *c)
{
    struct {
        struct sctp_reset_streams rs;
        uint16_t list[1];
    } r;

    memset(&r, 0, sizeof(r));
    r.rs.srs_assoc_id = SCTP_ALL_ASSOC;
    r.rs.srs_flags = SCTP_STREAM_RESET_OUTGOING;
    r.rs.srs_number_streams = 1;
    r.rs.srs_stream_list[0] = c->id;
    c->reset_unsent = 1;
    if (!s->up || s->pend)
        return; /* after what waits to go (a reset drops it otherwise) */
    if (usrsctp_setsockopt(s->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, &r, sizeof(r)) == 0)
        c->reset_unsent = 0;
}

/* ---- channels ---- */

static channel *channel_new(fl_sctp *s,
                            uint16_t id,
                            const char *label,
                            size_t ll,
                            const char *protocol,
                            size_t pl)
{
    channel *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->label = malloc(ll + 1);
    c->protocol = malloc(pl + 1);
    if (!c->label || !c->protocol) {
        channel_free(c);
        return NULL;
    }
    memcpy(c->label, label, ll);
    c->label[ll] = '\0';
    memcpy(c->protocol, protocol, pl);
    c->protocol[pl] = '\0';
    c->id = id;
    s->ch[id] = c;
    return c;
}

static void channel_closed(fl_sctp *s, channel *c)
{
    int was_open = c->state != FL_SCTP_CLOSED;
    s->ch[c->id] = NULL;
    if (was_open) {
        s->st.channels_closed++;
        push_event(s, FL_SCTP_EVENT_CLOSED, c->id);
    }
    channel_free(c);
}

int fl_sctp_open_channel(fl_sctp *s,
                         const char *label,
                         const char *protocol,
                         int ordered,
                         int max_packet_life_time,
                         int max_retransmits,
                         uint16_t priority,
                         int *id)
{
    label = label ? label : "";
    protocol = protocol ? protocol : "";
    size_t ll = strlen(label), pl = strlen(protocol);
    if (ll > 0xffff || pl > 0xffff || (max_packet_life_time >= 0 && max_retransmits >= 0))
        return FL_EINVAL;
    if (s->down)
        return FL_ECLOSED;
    int limit = s->up && s->n_out ? s->n_out - 1 : MAX_STREAM_ID;
    int sid = s->cfg.dtls_client ? 0 : 1;
    while (sid <= limit && s->ch[sid])
        sid += 2;
    if (sid > limit)
        return FL_ERANGE;
    channel *c = channel_new(s, (uint16_t)sid, label, ll, protocol, pl);
    if (!c)
        return FL_ENOMEM;
    c->type = max_retransmits >= 0        ? FL_DCEP_PARTIAL_REXMIT
              : max_packet_life_time >= 0 ? FL_DCEP_PARTIAL_TIMED
                                          : FL_DCEP_RELIABLE;
    c->reliability = max_retransmits >= 0        ? (uint32_t)max_retransmits
                     : max_packet_life_time >= 0 ? (uint32_t)max_packet_life_time
                                                 : 0;
    if (!ordered)
        c->type |= FL_DCEP_UNORDERED;
    c->priority = priority ? priority : 256;
    c->state = FL_SCTP_CONNECTING;
    c->open_unsent = 1;
    if (s->up && send_open(s, c) == FL_ENOMEM) {
        s->ch[sid] = NULL;
        channel_free(c);
        return FL_ENOMEM;
    }
    *id = sid;
    return 0;
}

int fl_sctp_close_channel(fl_sctp *s, int id)
{
    if (id < 0 || id >= FL_SCTP_STREAMS || !s->ch[id])
        return FL_ENOENT;
    channel *c = s->ch[id];
    if (c->state == FL_SCTP_CLOSING)
        return 0;
    if (!s->up) { /* never went out: nothing to reset */
        channel_closed(s, c);
        return 0;
    }
    c->state = FL_SCTP_CLOSING;
    reset_out(s, c);
    if (c->reset_unsent)
        s->close_pending = 1;
    return 0;
}

int fl_sctp_send(fl_sctp *s, int id, int binary, const uint8_t *data, size_t len)
{
    if (id < 0 || id >= FL_SCTP_STREAMS || !s->ch[id] || s->ch[id]->state >= FL_SCTP_CLOSING)
        return FL_ENOENT;
    if (len > s->cfg.remote_max_message_size)
        return FL_EMSGSIZE;
    channel *c = s->ch[id];
    static const uint8_t zero = 0;
    uint32_t ppid = len ? (binary ? FL_DCEP_PPID_BINARY : FL_DCEP_PPID_STRING)
                        : (binary ? FL_DCEP_PPID_BINARY_EMPTY : FL_DCEP_PPID_STRING_EMPTY);
    int rc = len ? send_msg(s, c->id, ppid, data, len) : send_msg(s, c->id, ppid, &zero, 1);
    if (rc == 0) {
        c->msgs_sent++;
        c->bytes_sent += len;
    } else {
        s->st.messages_dropped++;
    }
    return rc;
}

static void info_of(const channel *c, fl_sctp_channel_info *out)
{
    uint8_t base = c->type & (uint8_t)~FL_DCEP_UNORDERED;
    memset(out, 0, sizeof(*out));
    out->id = c->id;
    out->state = c->state;
    out->label = c->label;
    out->protocol = c->protocol;
    out->ordered = !(c->type & FL_DCEP_UNORDERED);
    out->max_retransmits = base == FL_DCEP_PARTIAL_REXMIT ? (int)c->reliability : -1;
    out->max_packet_life_time = base == FL_DCEP_PARTIAL_TIMED ? (int)c->reliability : -1;
    out->priority = c->priority;
    out->messages_sent = c->msgs_sent;
    out->bytes_sent = c->bytes_sent;
    out->messages_received = c->msgs_recv;
    out->bytes_received = c->bytes_recv;
}

int fl_sctp_channel_get(const fl_sctp *s, int id, fl_sctp_channel_info *out)
{
    if (id < 0 || id >= FL_SCTP_STREAMS || !s->ch[id])
        return FL_ENOENT;
    info_of(s->ch[id], out);
    return 0;
}

int fl_sctp_channel_next(const fl_sctp *s, int *iter, fl_sctp_channel_info *out)
{
    for (int i = *iter; i < FL_SCTP_STREAMS; i++) {
        if (s->ch[i]) {
            info_of(s->ch[i], out);
            *iter = i + 1;
            return 1;
        }
    }
    *iter = FL_SCTP_STREAMS;
    return 0;
}

int fl_sctp_channel_find(const fl_sctp *s, const char *label)
{
    for (int i = 0; i < FL_SCTP_STREAMS; i++) {
        const channel *c = s->ch[i];
        if (c && c->state < FL_SCTP_CLOSING && strcmp(c->label, label) == 0)
            return i;
    }
    return -1;
}

int fl_sctp_is_up(const fl_sctp *s)
{
    return s->up && !s->down;
}

void fl_sctp_get_stats(const fl_sctp *s, fl_sctp_stats *out)
{
    *out = s->st;
    pthread_mutex_lock(&reg_lock);
    out->packets_dropped = s->out_dropped;
    pthread_mutex_unlock(&reg_lock);
}

/* ---- receiving ---- */

static void on_open(fl_sctp *s, uint16_t sid, const uint8_t *m, size_t len)
{
    fl_dcep_open o;
    if (fl_dcep_open_parse(m, len, &o) != 0 || s->ch[sid]) {
        s->st.bad_dcep++;
        fl_log(FL_LOG_DEBUG, "DATA_CHANNEL_OPEN on stream %u refused", sid);
        return;
    }
    channel *c = channel_new(s, sid, (const char *)o.label, o.label_len, (const char *)o.protocol,
                             o.protocol_len);
    if (!c)
        return;
    c->type = o.channel_type;
    c->reliability = o.reliability;
    c->priority = o.priority;
    c->state = FL_SCTP_OPEN;
    uint8_t ack[1];
    fl_dcep_ack_write(ack, sizeof(ack));
    send_msg(s, sid, FL_DCEP_PPID_CONTROL, ack, 1);
    s->st.channels_opened++;
    push_event(s, FL_SCTP_EVENT_OPEN, sid);
}

static void opened(fl_sctp *s, channel *c)
{
    if (c->state != FL_SCTP_CONNECTING)
        return;
    c->state = FL_SCTP_OPEN;
    s->st.channels_opened++;
    push_event(s, FL_SCTP_EVENT_OPEN, c->id);
}

static void on_control(fl_sctp *s, uint16_t sid, const uint8_t *m, size_t len)
{
    int type = fl_dcep_type(m, len);
    if (type == FL_DCEP_OPEN)
        on_open(s, sid, m, len);
    else if (type == FL_DCEP_ACK && s->ch[sid])
        opened(s, s->ch[sid]);
    else
        s->st.bad_dcep++;
}

/* A whole message: 1 with ev filled for the caller, 0 when consumed. */
static int on_message(fl_sctp *s, uint16_t sid, uint32_t ppid, fl_sctp_event *ev)
{
    if (ppid == FL_DCEP_PPID_CONTROL) {
        on_control(s, sid, s->msg, s->msg_len);
        return 0;
    }
    channel *c = sid < FL_SCTP_STREAMS ? s->ch[sid] : NULL;
    int binary = ppid == FL_DCEP_PPID_BINARY || ppid == FL_DCEP_PPID_BINARY_EMPTY ||
                 ppid == FL_DCEP_PPID_BINARY_PARTIAL;
    int text = ppid == FL_DCEP_PPID_STRING || ppid == FL_DCEP_PPID_STRING_EMPTY ||
               ppid == FL_DCEP_PPID_STRING_PARTIAL;
    if (!c || c->state == FL_SCTP_CLOSED || (!binary && !text)) {
        s->st.messages_dropped++;
        return 0;
    }
    opened(s, c); /* a message before the ACK acknowledges (RFC 8832 6) */
    size_t len =
            ppid == FL_DCEP_PPID_STRING_EMPTY || ppid == FL_DCEP_PPID_BINARY_EMPTY ? 0 : s->msg_len;
    c->msgs_recv++;
    c->bytes_recv += len;
    memset(ev, 0, sizeof(*ev));
    ev->type = FL_SCTP_EVENT_MESSAGE;
    ev->channel = sid;
    ev->binary = binary;
    ev->data = s->msg;
    ev->len = len;
    return 1;
}

static void association_up(fl_sctp *s, const struct sctp_assoc_change *ac)
{
    if (s->up)
        return;
    s->up = 1;
    s->n_out = ac->sac_outbound_streams;
    push_event(s, FL_SCTP_EVENT_UP, -1);
    for (int i = 0; i < FL_SCTP_STREAMS; i++) {
        channel *c = s->ch[i];
        if (c && c->open_unsent)
            send_open(s, c);
        if (c && c->state == FL_SCTP_CLOSING)
            reset_out(s, c);
    }
}

static void association_down(fl_sctp *s)
{
    if (s->down)
        return;
    s->down = 1;
    s->up = 0;
    for (int i = 0; i < FL_SCTP_STREAMS; i++) {
        if (s->ch[i])
            channel_closed(s, s->ch[i]);
    }
    push_event(s, FL_SCTP_EVENT_DOWN, -1);
}

static void on_stream_reset(fl_sctp *s, const struct sctp_stream_reset_event *e, size_t len)
{
    if (len < sizeof(*e) || !(e->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) ||
        (e->strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)))
        return;
    size_t n = (len - sizeof(*e)) / sizeof(uint16_t);
    for (size_t i = 0; i < n; i++) {
        uint16_t sid = e->strreset_stream_list[i];
        channel *c = sid < FL_SCTP_STREAMS ? s->ch[sid] : NULL;
        if (!c)
            continue;
        if (c->state != FL_SCTP_CLOSING) { /* the peer began: ours too */
            c->state = FL_SCTP_CLOSING;
            reset_out(s, c);
            if (c->reset_unsent) {
                s->close_pending = 1;
                continue; /* closed once our reset went */
            }
        }
        channel_closed(s, c);
    }
}

static void on_notification(fl_sctp *s, const uint8_t *m, size_t len)
{
    union sctp_notification n;
    if (len < sizeof(n.sn_header))
        return;
    memcpy(&n, m, len < sizeof(n) ? len : sizeof(n));
    switch (n.sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE:
        if (len < sizeof(struct sctp_assoc_change))
            return;
        if (n.sn_assoc_change.sac_state == SCTP_COMM_UP ||
            n.sn_assoc_change.sac_state == SCTP_RESTART)
            association_up(s, &n.sn_assoc_change);
        else if (n.sn_assoc_change.sac_state == SCTP_COMM_LOST ||
                 n.sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP ||
                 n.sn_assoc_change.sac_state == SCTP_CANT_STR_ASSOC)
            association_down(s);
        break;
    case SCTP_STREAM_RESET_EVENT:
        on_stream_reset(s, (const struct sctp_stream_reset_event *)(const void *)m, len);
        break;
    case SCTP_SENDER_DRY_EVENT:
        flush_pending(s);
        break;
    default:
        break;
    }
}

static int msg_append(fl_sctp *s, const uint8_t *d, size_t n)
{
    if (s->msg_drop || s->msg_len + n > s->cfg.max_message_size) {
        s->msg_drop = 1;
        return 0;
    }
    if (s->msg_len + n > s->msg_cap) {
        size_t cap = s->msg_cap ? s->msg_cap : 4096;
        while (cap < s->msg_len + n)
            cap *= 2;
        uint8_t *m = realloc(s->msg, cap);
        if (!m) {
            s->msg_drop = 1;
            return 0;
        }
        s->msg = m;
        s->msg_cap = cap;
    }
    memcpy(s->msg + s->msg_len, d, n);
    s->msg_len += n;
    return 0;
}

/* Reads what usrsctp has: 1 an event for the caller, 0 read something,
 * FL_EAGAIN nothing left. */
static int read_one(fl_sctp *s, fl_sctp_event *ev)
{
    struct sctp_rcvinfo ri;
    socklen_t ilen = sizeof(ri), flen = 0;
    unsigned int itype = 0;
    int flags = 0;
    memset(&ri, 0, sizeof(ri));
    ssize_t n = usrsctp_recvv(s->sock, s->rbuf, RBUF_SIZE, NULL, &flen, &ri, &ilen, &itype, &flags);
    if (n < 0)
        return FL_EAGAIN;
    if (n == 0 && !(flags & MSG_NOTIFICATION)) {
        association_down(s); /* end of stream: the association is gone */
        return FL_EAGAIN;
    }
    if (flags & MSG_NOTIFICATION) {
        on_notification(s, s->rbuf, (size_t)n);
        return 0;
    }
    msg_append(s, s->rbuf, (size_t)n);
    if (!(flags & MSG_EOR))
        return 0;
    int rc = 0;
    if (s->msg_drop) {
        s->st.messages_dropped++;
        fl_log(FL_LOG_DEBUG, "a message over %zu bytes on stream %u dropped",
               s->cfg.max_message_size, ri.rcv_sid);
    } else {
        rc = on_message(s, ri.rcv_sid, ntohl(ri.rcv_ppid), ev);
    }
    s->msg_drop = 0;
    s->msg_len = 0; /* the event's bytes stay until the next read */
    return rc;
}

int fl_sctp_poll_event(fl_sctp *s, fl_sctp_event *ev)
{
    for (;;) {
        if (s->evq_len) {
            *ev = s->evq[s->evq_head];
            s->evq_head = (s->evq_head + 1) % EVQ_CAP;
            s->evq_len--;
            return 0;
        }
        if (!s->sock || s->down)
            return FL_EAGAIN;
        int rc = read_one(s, ev);
        if (rc == 1)
            return 0;
        if (rc == FL_EAGAIN && !s->evq_len)
            return FL_EAGAIN;
    }
}

/* ---- driving ---- */

static void retry_closes(fl_sctp *s)
{
    if (!s->close_pending || !s->up || s->pend)
        return;
    s->close_pending = 0;
    for (int i = 0; i < FL_SCTP_STREAMS; i++) {
        channel *c = s->ch[i];
        if (!c || !c->reset_unsent)
            continue;
        reset_out(s, c);
        s->close_pending |= c->reset_unsent;
    }
}

int fl_sctp_handle_input(fl_sctp *s, fl_time now, const uint8_t *data, size_t len)
{
    if (!s->sock)
        return FL_ESTATE;
    s->st.packets_in++;
    usrsctp_conninput((void *)s->token, data, len, 0);
    /* timers move under steady input too (poll_timeout counts from the
     * last tick looked for, not the last packet) */
    if (now - s->last >= FL_SCTP_TICK / 2) {
        s->last = now;
        tick(now);
    }
    flush_pending(s);
    return 0;
}

void fl_sctp_handle_timeout(fl_sctp *s, fl_time now)
{
    if (!s->sock)
        return;
    s->last = now;
    tick(now);
    flush_pending(s);
    retry_closes(s);
}

fl_time fl_sctp_poll_timeout(const fl_sctp *s)
{
    return s->sock && !s->down ? s->last + FL_SCTP_TICK : FL_TIME_NEVER;
}

int fl_sctp_poll_transmit(fl_sctp *s, uint8_t *out, size_t cap, size_t *len)
{
    pthread_mutex_lock(&reg_lock);
    if (s->out_sent) { /* the last one's node back to the pool */
        s->out_sent->next = s->outq_free;
        s->outq_free = s->out_sent;
        s->out_sent = NULL;
    }
    pkt *p = s->outq;
    if (p) {
        s->outq = p->next;
        if (!s->outq)
            s->outq_tail = NULL;
        s->outq_len--;
        p->next = NULL;
        s->out_sent = p;
    }
    pthread_mutex_unlock(&reg_lock);
    if (!p)
        return FL_EAGAIN;
    if (p->len > cap)
        return FL_EMSGSIZE;
    memcpy(out, p->data, p->len);
    *len = p->len;
    s->st.packets_out++;
    return 0;
}
