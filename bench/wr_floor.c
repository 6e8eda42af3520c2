/* The floor: a bare reflector in a child process of the harness, the best
 * any server could do here. Everything a server must do and nothing more:
 * ICE lite and DTLS-SRTP for the keys, then recvmmsg, SRTP unprotect, SRTP
 * protect (in place for echo; into a copy per viewer for fan-out) and
 * sendmmsg. No graph, no RTCP of its own, no rewriting.
 *
 * It gets what fluo gets, so that fluo can never beat it by having more:
 * SRTP on OpenSSL's libcrypto (net/srtp's production back end, installed
 * explicitly here), ONE UDP socket for all its sessions (demultiplexed by
 * the ICE username on a session's first STUN check and by the remote
 * address after, as fluo's shared port per worker does), with 4 MiB socket
 * buffers asked as fluo asks them (SO_RCVBUFFORCE/SO_SNDBUFFORCE, falling
 * back to SO_RCVBUF/SO_SNDBUF), and every datagram queued in a loop
 * iteration sent in as few sendmmsg calls as possible. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "base/err.h"
#include "base/rand.h"
#include "bench/janus.h"
#include "bench/wr.h"
#include "net/srtp.h"
#include "net/srtp_crypto.h"

#define SENDQ       1024 /* datagrams queued before a sendmmsg; UIO_MAXIOV */
#define READ_ROUNDS 16   /* recvmmsg batches per readable event */
#define MSG_MAX     65536
#define FL_POOL     1600
#define SOCK_BUF    (4 << 20) /* fluo's: 4 MiB each way */

typedef struct fsess fsess;

struct fsess {
    int id;
    fl_ice_agent *ice;
    fl_transport *tr;
    fl_addr peer;
    int have_peer, dtls_client, dtls_started, connected;
    fsess *pub;      /* viewer: its publisher */
    fsess **viewers; /* publisher: its viewers */
    size_t nviewers, cap;
    int echo;
    struct sockaddr_storage dst; /* peer, as sendmmsg wants it */
    socklen_t dstlen;
};

typedef struct floor_srv {
    uv_loop_t loop;
    uv_poll_t ctl_poll, udp_poll;
    uv_timer_t tick;
    int ctl;
    int fd; /* the one UDP socket */
    fl_addr local;
    char ip[64];
    fl_buf_pool *pool;
    fl_cert *cert;
    fl_rand rand;
    fsess **s;
    size_t n, cap;
    /* remote address -> session (open addressing, IPv4) */
    uint64_t *keys;
    fsess **vals;
    size_t tcap, tn;
    wr_dgrams in;
    /* queued sends */
    struct mmsghdr msgs[SENDQ];
    struct iovec iov[SENDQ];
    fl_buf *bufs[SENDQ];
    size_t nq;
} floor_srv;

static floor_srv F;

/* ---- remote address -> session ---- */

static uint64_t addr_key(const fl_addr *a)
{
    uint32_t ip;
    memcpy(&ip, a->ip, 4);
    return ((uint64_t)ip << 16 | a->port) + 1; /* 0: empty slot */
}

static size_t slot_of(uint64_t k, size_t cap)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static fsess *table_get(const fl_addr *a)
{
    if (a->family != 4 || !F.tcap)
        return NULL;
    uint64_t k = addr_key(a);
    for (size_t i = slot_of(k, F.tcap);; i = (i + 1) & (F.tcap - 1)) {
        if (F.keys[i] == k)
            return F.vals[i];
        if (!F.keys[i])
            return NULL;
    }
}

static void table_insert(uint64_t k, fsess *s)
{
    size_t i = slot_of(k, F.tcap);
    while (F.keys[i] && F.keys[i] != k)
        i = (i + 1) & (F.tcap - 1);
    F.tn += !F.keys[i];
    F.keys[i] = k;
    F.vals[i] = s;
}

static void table_put(const fl_addr *a, fsess *s)
{
    if (a->family != 4)
        return;
    if ((F.tn + 1) * 2 > F.tcap) {
        size_t ocap = F.tcap, cap = ocap ? ocap * 2 : 1024;
        uint64_t *ok = F.keys, *keys = calloc(cap, sizeof(*keys));
        fsess **ov = F.vals, **vals = calloc(cap, sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return;
        }
        F.keys = keys;
        F.vals = vals;
        F.tcap = cap;
        F.tn = 0;
        for (size_t i = 0; i < ocap; i++) {
            if (ok[i])
                table_insert(ok[i], ov[i]);
        }
        free(ok);
        free(ov);
    }
    table_insert(addr_key(a), s);
}

/* A STUN check from an address not known yet: the session whose ufrag is
 * the USERNAME's first part. */
static fsess *sess_by_username(const uint8_t *d, size_t len)
{
    for (size_t off = 20; off + 4 <= len;) {
        uint16_t type = (uint16_t)(d[off] << 8 | d[off + 1]);
        uint16_t alen = (uint16_t)(d[off + 2] << 8 | d[off + 3]);
        if (off + 4 + alen > len)
            return NULL;
        if (type == 0x0006) {
            const char *u = (const char *)d + off + 4;
            const char *colon = memchr(u, ':', alen);
            size_t ul = colon ? (size_t)(colon - u) : alen;
            for (size_t i = 0; i < F.n; i++) {
                const char *mine = fl_ice_agent_local_ufrag(F.s[i]->ice);
                if (strlen(mine) == ul && memcmp(mine, u, ul) == 0)
                    return F.s[i];
            }
            return NULL;
        }
        off += 4 + ((alen + 3u) & ~3u);
    }
    return NULL;
}

/* ---- sending ---- */

static void flush_sends(void)
{
    size_t off = 0;
    while (off < F.nq) {
        int n = sendmmsg(F.fd, F.msgs + off, (unsigned)(F.nq - off), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break; /* a full socket buffer: the rest is lost, as on a network */
        }
        off += (size_t)n;
    }
    for (size_t i = 0; i < F.nq; i++)
        fl_buf_unref(F.bufs[i]);
    F.nq = 0;
}

/* Queues b (the reference taken) to the session's peer. */
static void sess_queue(fsess *s, fl_buf *b)
{
    if (!s->have_peer) {
        fl_buf_unref(b);
        return;
    }
    if (F.nq == SENDQ)
        flush_sends();
    size_t i = F.nq++;
    F.bufs[i] = b;
    F.iov[i].iov_base = fl_buf_data(b);
    F.iov[i].iov_len = b->len;
    memset(&F.msgs[i], 0, sizeof(F.msgs[i]));
    F.msgs[i].msg_hdr.msg_name = &s->dst;
    F.msgs[i].msg_hdr.msg_namelen = s->dstlen;
    F.msgs[i].msg_hdr.msg_iov = &F.iov[i];
    F.msgs[i].msg_hdr.msg_iovlen = 1;
}

static void set_peer(fsess *s, const fl_addr *a)
{
    s->peer = *a;
    s->have_peer = 1;
    s->dstlen = (socklen_t)fl_addr_to_sockaddr(a, (struct sockaddr *)&s->dst, sizeof(s->dst));
    table_put(a, s);
}

static void fan_out(fsess *s, fl_buf *in, fl_time now)
{
    for (size_t i = 0; i < s->nviewers; i++) {
        fsess *v = s->viewers[i];
        if (!v->connected)
            continue;
        fl_buf *b = fl_buf_pool_get(F.pool);
        if (!b)
            break;
        memcpy(fl_buf_data(b), fl_buf_data(in), in->len);
        fl_buf_set_len(b, in->len);
        if (fl_transport_send_rtp(v->tr, now, b) < 0) {
            fl_buf_unref(b);
            continue;
        }
        fl_buf *o;
        while (fl_transport_poll_transmit(v->tr, &o) == 0)
            sess_queue(v, o);
    }
}

static void sess_pump(fsess *s, fl_time now)
{
    fl_ice_transmit tx;
    while (fl_ice_agent_poll_transmit(s->ice, &tx) == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = (socklen_t)fl_addr_to_sockaddr(&tx.dst, (struct sockaddr *)&ss, sizeof(ss));
        sendto(F.fd, tx.data, tx.len, 0, (struct sockaddr *)&ss, sl);
    }
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(s->ice, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_SELECTED_PAIR) {
            set_peer(s, &ev.remote.addr);
            if (s->tr && s->dtls_client && !s->dtls_started) {
                s->dtls_started = 1;
                fl_transport_start(s->tr, now);
            }
        }
    }
    fl_transport_event te;
    while (s->tr && fl_transport_poll_event(s->tr, &te) == 0) {
        if (te.type == FL_TRANSPORT_EVENT_CONNECTED) {
            s->connected = 1;
        } else if (te.type == FL_TRANSPORT_EVENT_RTP && s->echo) {
            fl_buf *b = te.buf;
            te.buf = NULL;
            if (fl_transport_send_rtp(s->tr, now, b) < 0)
                fl_buf_unref(b);
        } else if (te.type == FL_TRANSPORT_EVENT_RTP) {
            fan_out(s, te.buf, now);
        }
        fl_transport_event_release(&te);
    }
    fl_buf *o;
    while (s->tr && fl_transport_poll_transmit(s->tr, &o) == 0)
        sess_queue(s, o);
}

/* ---- receiving ---- */

static void on_datagram(fl_buf *b, const struct sockaddr_storage *from, fl_time now)
{
    fl_addr src;
    fl_addr_from_sockaddr(&src, (const struct sockaddr *)from);
    const uint8_t *data = fl_buf_data(b);
    int stun = b->len >= 20 && data[0] < 2;
    fsess *s = table_get(&src);
    if (!s && stun && (s = sess_by_username(data, b->len)))
        table_put(&src, s);
    if (!s) {
        fl_buf_unref(b);
        return;
    }
    if (stun) {
        fl_ice_agent_handle_input(s->ice, now, 0, &src, data, b->len);
        fl_buf_unref(b);
    } else if (s->tr) {
        fl_transport_handle_input(s->tr, now, b);
    } else {
        fl_buf_unref(b);
    }
    sess_pump(s, now);
}

/* Everything the socket holds (up to READ_ROUNDS full batches), then one
 * flush of all it made. */
static void on_udp(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < READ_ROUNDS; round++) {
        size_t got = wr_dgrams_read(&F.in, F.fd, F.pool, WR_DGRAM_BATCH);
        fl_time now = fl_time_now();
        for (size_t i = 0; i < got; i++)
            on_datagram(F.in.bufs[i], &F.in.from[i], now);
        if (got < WR_DGRAM_BATCH)
            break;
    }
    flush_sends();
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
    fl_time now = fl_time_now();
    for (size_t i = 0; i < F.n; i++) {
        fsess *s = F.s[i];
        fl_ice_agent_handle_timeout(s->ice, now);
        if (s->tr)
            fl_transport_handle_timeout(s->tr, now);
        sess_pump(s, now);
    }
    flush_sends();
}

/* Socket buffers as fluo asks for them: forced (root, CAP_NET_ADMIN),
 * else the ordinary option (capped by net.core.[rw]mem_max). */
static void set_buffers(int fd)
{
    int sz = SOCK_BUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_socket(void)
{
    F.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (F.fd < 0)
        return FL_EIO;
    set_buffers(F.fd);
    struct sockaddr_storage ss;
    fl_addr a;
    if (fl_addr_parse(&a, F.ip, 0) < 0)
        return FL_EINVAL;
    socklen_t sl = (socklen_t)fl_addr_to_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss));
    if (bind(F.fd, (struct sockaddr *)&ss, sl) < 0)
        return FL_EIO;
    sl = sizeof(ss);
    if (getsockname(F.fd, (struct sockaddr *)&ss, &sl) < 0)
        return FL_EIO;
    fl_addr_from_sockaddr(&F.local, (struct sockaddr *)&ss);
    return 0;
}

/* "E|P|V <pub>\n<offer>" -> "<id>\n<answer>" or "ERR <why>". */
static void handle_request(char *msg, size_t len, char *out, size_t cap)
{
    msg[len] = '\0';
    char *nl = strchr(msg, '\n');
    if (!nl) {
        snprintf(out, cap, "ERR bad request");
        return;
    }
    *nl = '\0';
    const char *offer = nl + 1;
    fsess *s = calloc(1, sizeof(*s));
    fl_sdp *sdp = NULL;
    fl_sdp_desc *r = calloc(1, sizeof(*r)), *l = calloc(1, sizeof(*l));
    char err[200] = "", cand[256] = "", *answer = NULL;
    if (!s || !r || !l)
        goto fail;
    s->id = (int)F.n;
    s->echo = msg[0] == 'E';
    if (msg[0] == 'V') {
        size_t pub = strtoul(msg + 2, NULL, 10);
        if (pub >= F.n)
            goto fail;
        s->pub = F.s[pub];
    }
    fl_ice_agent_config ac = { .role = FL_ICE_ROLE_CONTROLLED, .lite = 1, .rand = &F.rand };
    fl_ice_host host = { .component = 1, .socket_id = 0, .addr = F.local };
    if (fl_ice_agent_create(&s->ice, &ac) < 0 || fl_ice_agent_add_host(s->ice, &host) < 0 ||
        fl_ice_agent_gather(s->ice, fl_time_now()) < 0)
        goto fail;
    fl_ice_event ev;
    while (fl_ice_agent_poll_event(s->ice, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE && !cand[0])
            fl_ice_candidate_write(&ev.candidate, cand, sizeof(cand));
    }
    if (fl_sdp_parse(&sdp, offer, strlen(offer), err, sizeof(err)) < 0 ||
        fl_sdp_describe(sdp, r, err, sizeof(err)) < 0)
        goto fail;
    const char *cands[1] = { cand };
    fl_sdp_local loc = {
        .ice_ufrag = fl_ice_agent_local_ufrag(s->ice),
        .ice_pwd = fl_ice_agent_local_pwd(s->ice),
        .fingerprint = fl_cert_fingerprint(F.cert),
        .ice_lite = 1,
        .cname = "floor",
        .stream_id = "floor",
        .ssrc = { 1, 2 },
        .session_id = (uint64_t)F.n + 1,
        .session_version = 1,
        .address = F.ip,
        .ncandidates = 1,
        .candidates = cands,
        .end_of_candidates = 1,
    };
    fl_sdp_dir want = s->echo  ? FL_SDP_DIR_SENDRECV
                      : s->pub ? FL_SDP_DIR_SENDONLY
                               : FL_SDP_DIR_RECVONLY;
    if (fl_sdp_answer(r, &loc, want, want, l, &answer, err, sizeof(err)) < 0)
        goto fail;
    const fl_sdp_media *rm = &r->media[0];
    if (fl_ice_agent_set_remote_credentials(s->ice, rm->ice_ufrag, rm->ice_pwd) < 0)
        goto fail;
    s->dtls_client = l->media[0].setup == FL_SDP_SETUP_ACTIVE;
    fl_transport_config tc = { .cert = F.cert,
                               .role = s->dtls_client ? FL_DTLS_ROLE_CLIENT : FL_DTLS_ROLE_SERVER,
                               .remote_fingerprint = rm->fingerprint,
                               .pool = F.pool,
                               .rand = &F.rand };
    if (fl_transport_create(&s->tr, &tc) < 0)
        goto fail;
    if (!s->dtls_client) {
        s->dtls_started = 1;
        fl_transport_start(s->tr, fl_time_now());
    }
    if (s->pub) {
        fsess *p = s->pub;
        if (p->nviewers == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 8;
            p->viewers = realloc(p->viewers, p->cap * sizeof(*p->viewers));
        }
        p->viewers[p->nviewers++] = s;
    }
    if (F.n == F.cap) {
        F.cap = F.cap ? F.cap * 2 : 64;
        F.s = realloc(F.s, F.cap * sizeof(*F.s));
    }
    F.s[F.n++] = s;
    snprintf(out, cap, "%d\n%s", s->id, answer);
    free(answer);
    fl_sdp_destroy(sdp);
    free(r);
    free(l);
    return;
fail:
    snprintf(out, cap, "ERR %s", err[0] ? err : "the floor could not take the session");
    free(answer);
    if (sdp)
        fl_sdp_destroy(sdp);
    free(r);
    free(l);
    if (s) {
        if (s->tr)
            fl_transport_destroy(s->tr);
        if (s->ice)
            fl_ice_agent_destroy(s->ice);
        free(s);
    }
}

static void on_ctl(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)events;
    static char msg[MSG_MAX + 1], out[MSG_MAX];
    ssize_t n = status < 0 ? -1 : recv(F.ctl, msg, MSG_MAX, 0);
    if (n <= 0) { /* the harness is done */
        uv_stop(&F.loop);
        return;
    }
    handle_request(msg, (size_t)n, out, sizeof(out));
    send(F.ctl, out, strlen(out), 0);
}

static void floor_main(int ctl, const wr_bench *b)
{
    F.ctl = ctl;
    snprintf(F.ip, sizeof(F.ip), "%s", b->server_ip);
    fl_rand_seeded_init(&F.rand, (uint64_t)fl_time_now() ^ 0x5a5a);
    if ((b->veth && fl_bench_netns_enter() < 0) || open_socket() < 0) {
        fprintf(stderr, "fluo-bench: floor: no UDP socket on %s\n", F.ip);
        _exit(1);
    }
    /* OpenSSL's libcrypto, as fluo's SRTP runs (net/srtp's production
     * choice), asked for by name so that the floor never runs on another */
    if (fl_srtp_init() < 0 || fl__srtp_crypto_install_backend(FL_SRTP_BACKEND_OPENSSL) < 0) {
        fprintf(stderr, "fluo-bench: floor: SRTP on OpenSSL refused\n");
        _exit(1);
    }
    if (fl_buf_pool_create(&F.pool, FL_POOL, 64, 1024, 0) < 0 ||
        fl_cert_generate(&F.cert, "floor", fl_time_wall_ms() / 1000 - 3600, 7 * 24 * 3600,
                         &F.rand) < 0)
        _exit(1);
    uv_loop_init(&F.loop);
    uv_poll_init(&F.loop, &F.ctl_poll, ctl);
    uv_poll_start(&F.ctl_poll, UV_READABLE, on_ctl);
    uv_poll_init(&F.loop, &F.udp_poll, F.fd);
    uv_poll_start(&F.udp_poll, UV_READABLE, on_udp);
    uv_timer_init(&F.loop, &F.tick);
    uv_timer_start(&F.tick, on_tick, 10, 10);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* ---- the harness's side ---- */

static int ctl_fd = -1;

static int floor_start(wr_bench *b)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return FL_EIO;
    pid_t pid = fork();
    if (pid < 0)
        return FL_EIO;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(sv[0]);
        floor_main(sv[1], b);
    }
    close(sv[1]);
    ctl_fd = sv[0];
    b->pid = pid;
    return 0;
}

static int floor_call(wr_peer *p, const char *head, fl_sdp_dir dir, int *id)
{
    char *offer = wr_peer_offer(p, dir);
    if (!offer)
        return FL_ENOMEM;
    size_t hl = strlen(head), ol = strlen(offer);
    char *msg = malloc(hl + 1 + ol + 1);
    static char reply[MSG_MAX + 1];
    int rc = FL_EIO;
    if (msg) {
        memcpy(msg, head, hl);
        msg[hl] = '\n';
        memcpy(msg + hl + 1, offer, ol);
        if (send(ctl_fd, msg, hl + 1 + ol, 0) > 0) {
            ssize_t n = recv(ctl_fd, reply, MSG_MAX, 0);
            if (n > 0) {
                reply[n] = '\0';
                char *nl = strchr(reply, '\n');
                if (strncmp(reply, "ERR", 3) == 0 || !nl) {
                    fprintf(stderr, "fluo-bench: floor: %s\n", reply);
                } else {
                    *id = atoi(reply);
                    rc = wr_peer_set_answer(p, nl + 1);
                }
            }
        }
    }
    free(msg);
    free(offer);
    return rc;
}

static int floor_echo(wr_bench *b, wr_peer *p)
{
    (void)b;
    int id;
    return floor_call(p, "E", FL_SDP_DIR_SENDRECV, &id);
}

static int floor_publish(wr_bench *b, wr_peer *p, void **handle)
{
    (void)b;
    int id = 0;
    int rc = floor_call(p, "P", FL_SDP_DIR_SENDONLY, &id);
    *handle = (void *)(intptr_t)(id + 1);
    return rc;
}

static int floor_view(wr_bench *b, wr_peer *p, void *publisher)
{
    (void)b;
    char head[32];
    int id;
    snprintf(head, sizeof(head), "V %d", (int)(intptr_t)publisher - 1);
    return floor_call(p, head, FL_SDP_DIR_RECVONLY, &id);
}

static void floor_stop(wr_bench *b)
{
    if (ctl_fd >= 0)
        close(ctl_fd);
    ctl_fd = -1;
    if (b->pid > 0) {
        int st;
        for (int i = 0; i < 40 && waitpid(b->pid, &st, WNOHANG) == 0; i++)
            usleep(50000);
        if (waitpid(b->pid, &st, WNOHANG) == 0) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
        }
    }
}

wr_server fl_wr_server_floor = {
    .name = "floor",
    .start = floor_start,
    .echo = floor_echo,
    .publish = floor_publish,
    .view = floor_view,
    .stop = floor_stop,
};
