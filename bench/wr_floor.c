/* The floor: a bare reflector in a child process of the harness, the most
 * any server could do here. Per session one UDP socket, ICE lite and
 * DTLS-SRTP for the keys; then only recvmmsg, SRTP unprotect, SRTP protect
 * (in place for echo; into a copy per viewer for fan-out) and sendmmsg. No
 * graph, no RTCP of its own, no rewriting. */
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
#include "bench/wr.h"

#define FBATCH  64
#define MSG_MAX 65536
#define FL_POOL 1600

typedef struct fsess fsess;

struct fsess {
    int id;
    int fd;
    uv_poll_t poll;
    fl_addr local;
    fl_ice_agent *ice;
    fl_transport *tr;
    fl_addr peer;
    int have_peer, dtls_client, dtls_started, connected;
    fsess *pub;      /* viewer: its publisher */
    fsess **viewers; /* publisher: its viewers */
    size_t nviewers, cap;
    int echo;
    size_t rwant; /* datagrams to read next (wr_dgrams_next_want) */
    /* queued sends */
    struct mmsghdr msgs[FBATCH];
    struct iovec iov[FBATCH];
    struct sockaddr_storage dst;
    socklen_t dstlen;
    fl_buf *bufs[FBATCH];
    size_t nq;
    int dirty;
};

typedef struct floor_srv {
    uv_loop_t loop;
    uv_poll_t ctl_poll;
    uv_timer_t tick;
    int ctl;
    fl_buf_pool *pool;
    fl_cert *cert;
    fl_rand rand;
    fsess **s;
    size_t n, cap;
    fsess **dirty;
    size_t ndirty;
} floor_srv;

static floor_srv F;

static void sess_flush(fsess *s)
{
    size_t off = 0;
    while (off < s->nq) {
        int n = sendmmsg(s->fd, s->msgs + off, (unsigned)(s->nq - off), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)n;
    }
    for (size_t i = 0; i < s->nq; i++)
        fl_buf_unref(s->bufs[i]);
    s->nq = 0;
    s->dirty = 0;
}

static void sess_queue(fsess *s, fl_buf *b)
{
    if (!s->have_peer) {
        fl_buf_unref(b);
        return;
    }
    if (s->nq == FBATCH)
        sess_flush(s);
    size_t i = s->nq++;
    s->bufs[i] = b;
    s->iov[i].iov_base = fl_buf_data(b);
    s->iov[i].iov_len = b->len;
    memset(&s->msgs[i], 0, sizeof(s->msgs[i]));
    s->msgs[i].msg_hdr.msg_name = &s->dst;
    s->msgs[i].msg_hdr.msg_namelen = s->dstlen;
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    if (!s->dirty) {
        s->dirty = 1;
        F.dirty[F.ndirty++] = s;
    }
}

static void flush_dirty(void)
{
    for (size_t i = 0; i < F.ndirty; i++)
        sess_flush(F.dirty[i]);
    F.ndirty = 0;
}

static void sess_pump(fsess *s, fl_time now);

static void set_peer(fsess *s, const fl_addr *a)
{
    s->peer = *a;
    s->have_peer = 1;
    s->dstlen = (socklen_t)fl_addr_to_sockaddr(a, (struct sockaddr *)&s->dst, sizeof(s->dst));
}

static void sess_pump(fsess *s, fl_time now)
{
    fl_ice_transmit tx;
    while (fl_ice_agent_poll_transmit(s->ice, &tx) == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = (socklen_t)fl_addr_to_sockaddr(&tx.dst, (struct sockaddr *)&ss, sizeof(ss));
        sendto(s->fd, tx.data, tx.len, 0, (struct sockaddr *)&ss, sl);
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
        } else if (te.type == FL_TRANSPORT_EVENT_RTP) {
            if (s->echo) {
                fl_buf *b = te.buf;
                te.buf = NULL;
                if (fl_transport_send_rtp(s->tr, now, b) < 0)
                    fl_buf_unref(b);
            } else {
                for (size_t i = 0; i < s->nviewers; i++) {
                    fsess *v = s->viewers[i];
                    if (!v->connected)
                        continue;
                    fl_buf *b = fl_buf_pool_get(F.pool);
                    if (!b)
                        break;
                    memcpy(fl_buf_data(b), fl_buf_data(te.buf), te.buf->len);
                    fl_buf_set_len(b, te.buf->len);
                    if (fl_transport_send_rtp(v->tr, now, b) < 0) {
                        fl_buf_unref(b);
                        continue;
                    }
                    fl_buf *o;
                    while (fl_transport_poll_transmit(v->tr, &o) == 0)
                        sess_queue(v, o);
                }
            }
        }
        fl_transport_event_release(&te);
    }
    fl_buf *o;
    while (s->tr && fl_transport_poll_transmit(s->tr, &o) == 0)
        sess_queue(s, o);
}

static void on_udp(uv_poll_t *h, int status, int events)
{
    (void)events;
    fsess *s = h->data;
    if (status < 0)
        return;
    static wr_dgrams d; /* one loop, one read at a time */
    size_t want = s->rwant ? s->rwant : WR_DGRAM_MIN;
    size_t got = wr_dgrams_read(&d, s->fd, F.pool, want);
    s->rwant = wr_dgrams_next_want(got, want);
    fl_time now = fl_time_now();
    for (size_t i = 0; i < got; i++) {
        fl_buf *b = d.bufs[i];
        const uint8_t *data = fl_buf_data(b);
        if (b->len >= 20 && data[0] < 2) {
            fl_addr src;
            fl_addr_from_sockaddr(&src, (struct sockaddr *)&d.from[i]);
            fl_ice_agent_handle_input(s->ice, now, 0, &src, data, b->len);
            fl_buf_unref(b);
        } else if (s->tr) {
            fl_transport_handle_input(s->tr, now, b);
        } else {
            fl_buf_unref(b);
        }
        sess_pump(s, now);
    }
    flush_dirty();
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
    flush_dirty();
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
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int sz = 4 << 20;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0)
        goto fail;
    fl_addr_from_sockaddr(&s->local, (struct sockaddr *)&sa);
    fl_ice_agent_config ac = { .role = FL_ICE_ROLE_CONTROLLED, .lite = 1, .rand = &F.rand };
    fl_ice_host host = { .component = 1, .socket_id = 0, .addr = s->local };
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
        .address = "127.0.0.1",
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
        F.dirty = realloc(F.dirty, F.cap * sizeof(*F.dirty));
    }
    F.s[F.n++] = s;
    uv_poll_init(&F.loop, &s->poll, s->fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_udp);
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
        if (s->fd > 0)
            close(s->fd);
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

static void floor_main(int ctl)
{
    F.ctl = ctl;
    fl_rand_seeded_init(&F.rand, (uint64_t)fl_time_now() ^ 0x5a5a);
    if (fl_buf_pool_create(&F.pool, FL_POOL, 64, 1024, 0) < 0 ||
        fl_cert_generate(&F.cert, "floor", fl_time_wall_ms() / 1000 - 3600, 7 * 24 * 3600,
                         &F.rand) < 0)
        _exit(1);
    uv_loop_init(&F.loop);
    uv_poll_init(&F.loop, &F.ctl_poll, ctl);
    uv_poll_start(&F.ctl_poll, UV_READABLE, on_ctl);
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
        floor_main(sv[1]);
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
