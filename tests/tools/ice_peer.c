/* ice_peer: one fluo ICE agent on real sockets, for the network-namespace
 * tests (tests/net/test_ice_nat.sh).
 *
 *   ice_peer --role controlling|controlled [--lite] --bind IP
 *            [--stun IP:PORT] [--turn user:pass@IP:PORT[?transport=udp|tcp]]
 *            [--relay-only] --signal DIR --name A|B [--timeout S]
 *            [--count N] [--log SPEC]
 *
 * It opens one UDP socket on IP (host candidate, unless --relay-only),
 * gathers a server-reflexive candidate through --stun, and with --turn
 * allocates a relayed candidate through the sans-IO TURN client on a socket
 * of its own (UDP, or TCP with ?transport=tcp); the agent's packets on the
 * relayed base are wrapped (ChannelData once a channel is bound, Send
 * indications before) and Data/ChannelData from the server are unwrapped
 * back into the agent.
 *
 * Signalling is a file per peer in DIR, which both namespaces see: this
 * peer appends to DIR/<name>.sig ("creds UFRAG PWD", one "candidate:..."
 * line per local candidate as it comes, "end-of-candidates", and
 * "finished ok|failed") and follows the other peer's file (B for A, A for B)
 * with inotify.
 *
 * Once READY (controlling: its nominated pair is selected) the controlling
 * side sends --count (100) datagrams with a sequence number over the
 * selected pair and counts the echoes that come back on it; the controlled
 * side echoes them on its selected pair. The controlling side then says
 * "finished" and keeps answering checks until the controlled side, READY
 * too, says it back (its own nomination may wait for a retransmitted
 * check). Both then print one line on stdout:
 *
 *   ice_peer name=A state=READY ms=.. local=host remote=srflx local_addr=..
 *            remote_addr=.. data_ok=100/100 checks=.. rtx=..
 *   ice_peer name=A state=FAILED reason=...
 *
 * and exit 0 (READY) or 1 (FAILED); 2 for bad usage. ms counts from the
 * start of the process. Application datagrams start with 0xF0 (ping) or
 * 0xF1 (echo), a value RFC 7983 leaves to nobody, so they never look like
 * STUN, DTLS, TURN channels or RTP. Everything runs from one poll() loop
 * on the agent's and the TURN client's deadlines. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/agent.h"
#include "ice/turn.h"

FL_LOG_TAG("ice_peer");

#define SOCK_HOST  0 /* the agent's socket ids */
#define SOCK_RELAY 1
#define MAX_COUNT  10000
#define PING_GAP   (2 * FL_TIME_MS)
#define ECHO_WAIT  (1 * FL_TIME_SEC)
#define APP_PING   0xF0
#define APP_ECHO   0xF1
#define APP_LEN    32
#define LINE_MAX_  1024

typedef struct opts {
    fl_ice_role role;
    int has_role;
    int lite;
    const char *bind_ip;
    fl_addr stun; /* family 0: none */
    fl_turn_url turn;
    int has_turn;
    int relay_only;
    const char *dir;
    char name;
    fl_time timeout;
    int count;
    const char *log;
} opts;

typedef struct sig {
    int out;    /* our file, appended to */
    int in;     /* the peer's file, -1 until it exists */
    int notify; /* inotify on the directory */
    char in_path[PATH_MAX];
    char buf[8192]; /* a partial line of the peer's file */
    size_t len;
    int creds, eoc;
    int finished, peer_failed; /* the peer's "finished" line */
} sig;

enum relay_state {
    R_NONE,
    R_CONNECTING,
    R_ALLOCATING,
    R_READY,
    R_FAILED
};

typedef struct relay {
    fl_turn_client *c;
    int fd;
    int tcp;
    int state;
    fl_addr server;
    fl_addr relayed;
    fl_addr chans[FL_TURN_MAX_PEERS]; /* peers a channel was asked for */
    int n_chans;
    char error[128];
} relay;

typedef struct data {
    int active, complete;
    int sent, got; /* controlling: pings sent, echoes back; controlled: pings got */
    fl_time next_send, end;
    uint8_t seen[MAX_COUNT];
} data;

typedef struct peer {
    opts o;
    fl_ice_agent *a;
    int host_fd;
    relay turn;
    sig s;
    data d;
    fl_time t0, deadline, ready_at;
    fl_ice_state state;
    int gathered, eoc_sent, has_sel, sel_sock, said_finished, finished, exit_code;
    fl_ice_candidate sel_local, sel_remote;
} peer;

/* ---- small helpers ---------------------------------------------------------- */

static fl_time min_time(fl_time a, fl_time b)
{
    return a < b ? a : b;
}

static const char *state_name(fl_ice_state s)
{
    static const char *const names[] = { "DISCONNECTED", "GATHERING", "CONNECTING",
                                         "CONNECTED",    "READY",     "FAILED" };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static const char *addr_str(const fl_addr *a)
{
    static char s[2][FL_ADDR_STRLEN];
    static int i;
    i ^= 1;
    return fl_addr_str(a, s[i]);
}

/* "IP:PORT" or "[IPv6]:PORT". */
static int parse_hostport(fl_addr *out, const char *s)
{
    char ip[FL_ADDR_STRLEN];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= sizeof(ip))
        return FL_EINVAL;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
        memcpy(ip, s + 1, n - 2);
        ip[n - 2] = '\0';
    } else {
        memcpy(ip, s, n);
        ip[n] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return FL_EINVAL;
    return fl_addr_parse(out, ip, (uint16_t)port);
}

static int send_udp(int fd, const fl_addr *to, const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    size_t sl = fl_addr_to_sockaddr(to, (struct sockaddr *)&ss, sizeof(ss));
    if (sl == 0 || sendto(fd, buf, len, 0, (struct sockaddr *)&ss, (socklen_t)sl) < 0)
        return FL_EIO;
    return 0;
}

/* A UDP or TCP socket bound to ip:0; TCP is left non-blocking. */
static int open_bound(const char *ip, int type, fl_addr *bound)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    fl_addr want;
    if (fl_addr_parse(&want, ip, 0) != 0)
        return -1;
    int fd = socket(want.family == 6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    size_t n = fl_addr_to_sockaddr(&want, (struct sockaddr *)&ss, sizeof(ss));
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)n) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        fl_addr_from_sockaddr(bound, (struct sockaddr *)&ss) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- result ----------------------------------------------------------------- */

static void sig_printf(sig *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finish_failed(peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "finished ok|failed" tells the peer this side is done: the controlling
 * side says it after its data exchange and keeps answering checks until the
 * controlled side, once READY itself, says it back. */
static void say_finished(peer *p, const char *how)
{
    if (!p->said_finished && p->s.out >= 0)
        sig_printf(&p->s, "finished %s", how);
    p->said_finished = 1;
}

static void finish_failed(peer *p, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    if (p->finished)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    printf("ice_peer name=%c state=FAILED reason=%s\n", p->o.name, reason);
    fflush(stdout);
    say_finished(p, "failed");
    p->finished = 1;
    p->exit_code = 1;
}

static void finish_ready(peer *p)
{
    fl_ice_stats st;
    fl_ice_agent_get_stats(p->a, &st);
    printf("ice_peer name=%c state=READY ms=%lld local=%s remote=%s local_addr=%s "
           "remote_addr=%s data_ok=%d/%d checks=%llu rtx=%llu\n",
           p->o.name, (long long)((p->ready_at - p->t0) / FL_TIME_MS),
           fl_ice_candidate_type_name(p->sel_local.type),
           fl_ice_candidate_type_name(p->sel_remote.type), addr_str(&p->sel_local.addr),
           addr_str(&p->sel_remote.addr), p->d.got, p->o.count, (unsigned long long)st.checks_sent,
           (unsigned long long)st.retransmits);
    fflush(stdout);
    say_finished(p, "ok");
    p->finished = 1;
    p->exit_code = 0;
}

/* ---- signalling files ------------------------------------------------------- */

static void sig_printf(sig *s, const char *fmt, ...)
{
    char line[LINE_MAX_];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 1)
        return;
    line[n++] = '\n';
    /* one write per line on an O_APPEND file: the reader sees whole lines
     * or a prefix it keeps until the rest comes */
    if (write(s->out, line, (size_t)n) != n)
        fl_log(FL_LOG_ERROR, "signal write: %s", strerror(errno));
}

static int sig_open(peer *p)
{
    sig *s = &p->s;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%c.sig", p->o.dir, p->o.name);
    snprintf(s->in_path, sizeof(s->in_path), "%s/%c.sig", p->o.dir, p->o.name == 'A' ? 'B' : 'A');
    s->in = -1;
    s->out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (s->out < 0) {
        finish_failed(p, "signal file %s: %s", path, strerror(errno));
        return -1;
    }
    s->notify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->notify < 0 ||
        inotify_add_watch(s->notify, p->o.dir, IN_CREATE | IN_MODIFY | IN_MOVED_TO) < 0) {
        finish_failed(p, "inotify on %s: %s", p->o.dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A remote candidate: to the agent, and a TURN permission for its IP so
 * the peer's checks are let through the relay from the start. */
static void on_remote_candidate(peer *p, const char *line)
{
    fl_ice_candidate c;
    fl_time now = fl_time_now();
    int err = fl_ice_candidate_parse(&c, line, strlen(line));
    if (err == 0)
        err = fl_ice_agent_add_remote(p->a, now, &c);
    if (err != 0) {
        fl_log(FL_LOG_WARN, "remote %s: %s", line, fl_strerror(err));
        return;
    }
    if (p->turn.c && c.transport == FL_ICE_UDP && c.addr.family == p->turn.server.family)
        fl_turn_client_create_permission(p->turn.c, now, &c.addr);
}

static void on_sig_line(peer *p, const char *line)
{
    char ufrag[FL_ICE_UFRAG_MAX], pwd[FL_ICE_PWD_MAX];
    sig *s = &p->s;
    if (sscanf(line, "creds %63s %127s", ufrag, pwd) == 2) {
        int err = fl_ice_agent_set_remote_credentials(p->a, ufrag, pwd);
        if (err != 0)
            finish_failed(p, "peer credentials: %s", fl_strerror(err));
        s->creds = 1;
    } else if (strncmp(line, "candidate:", 10) == 0) {
        if (!s->creds)
            finish_failed(p, "peer sent a candidate before its credentials");
        else
            on_remote_candidate(p, line);
    } else if (strcmp(line, "end-of-candidates") == 0) {
        fl_ice_agent_remote_end_of_candidates(p->a, fl_time_now());
        s->eoc = 1;
    } else if (strncmp(line, "finished ", 9) == 0) {
        s->finished = 1;
        s->peer_failed = strcmp(line + 9, "ok") != 0;
    } else {
        fl_log(FL_LOG_WARN, "unknown signal line: %s", line);
    }
}

/* Reads what the peer appended since last time, line by line. */
static void sig_read(peer *p)
{
    sig *s = &p->s;
    if (s->in < 0)
        s->in = open(s->in_path, O_RDONLY | O_CLOEXEC);
    if (s->in < 0)
        return; /* not there yet: inotify tells when it is */
    for (;;) {
        ssize_t n = read(s->in, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
        if (n <= 0)
            break;
        s->len += (size_t)n;
        s->buf[s->len] = '\0';
        char *start = s->buf, *nl;
        while (!p->finished && (nl = strchr(start, '\n'))) {
            *nl = '\0';
            on_sig_line(p, start);
            start = nl + 1;
        }
        s->len -= (size_t)(start - s->buf);
        memmove(s->buf, start, s->len);
        if (s->len == sizeof(s->buf) - 1) {
            finish_failed(p, "signal line too long in %s", s->in_path);
            break;
        }
    }
}

static void sig_notified(peer *p)
{
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(p->s.notify, ev, sizeof(ev)) > 0) {
    }
    sig_read(p);
}

/* ---- TURN -------------------------------------------------------------------- */

static int relay_send_raw(peer *p, const uint8_t *buf, size_t len)
{
    relay *r = &p->turn;
    if (!r->tcp)
        return send_udp(r->fd, &r->server, buf, len);
    while (len > 0) {
        ssize_t n = send(r->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FL_EIO; /* a full TCP buffer is a failure for a test peer */
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void relay_flush(peer *p)
{
    fl_turn_transmit tx;
    while (fl_turn_client_poll_transmit(p->turn.c, &tx) == 0) {
        if (relay_send_raw(p, tx.data, tx.len) != 0)
            fl_log(FL_LOG_WARN, "send to TURN server: %s", strerror(errno));
    }
}

/* Sends one datagram to `peer` through the relay, binding a channel first. */
static void relay_send(peer *p, const fl_addr *to, const uint8_t *buf, size_t len)
{
    relay *r = &p->turn;
    uint8_t out[2048];
    size_t n;
    if (r->state != R_READY)
        return;
    int known = 0;
    for (int i = 0; i < r->n_chans && !known; i++)
        known = fl_addr_equal(&r->chans[i], to);
    if (!known && r->n_chans < FL_TURN_MAX_PEERS &&
        fl_turn_client_bind_channel(r->c, fl_time_now(), to, NULL) == 0) {
        r->chans[r->n_chans++] = *to;
        relay_flush(p); /* the ChannelBind (and its permission) goes first */
    }
    int err = fl_turn_client_wrap(r->c, to, buf, len, out, sizeof(out), &n);
    if (err == 0)
        err = relay_send_raw(p, out, n);
    if (err != 0)
        fl_log(FL_LOG_WARN, "relay to %s: %s", addr_str(to), fl_strerror(err));
}

static void on_datagram(peer *p, int sock, const fl_addr *from, const uint8_t *buf, size_t len);

static void relay_fail(peer *p, const char *what, int err, int code)
{
    relay *r = &p->turn;
    r->state = R_FAILED;
    if (r->fd >= 0)
        close(r->fd); /* a dead TCP connection would keep poll() awake */
    r->fd = -1;
    snprintf(r->error, sizeof(r->error), "turn %s: %s (%d)", what, fl_strerror(err), code);
    fl_log(FL_LOG_WARN, "%s", r->error);
    if (p->o.relay_only)
        finish_failed(p, "%s", r->error);
}

static void relay_events(peer *p)
{
    relay *r = &p->turn;
    fl_turn_event ev;
    while (fl_turn_client_poll_event(r->c, &ev) == 0) {
        if (ev.type == FL_TURN_EVENT_ALLOCATED) {
            r->state = R_READY;
            r->relayed = ev.relayed;
            fl_log(FL_LOG_INFO, "relayed %s (mapped %s)", addr_str(&ev.relayed),
                   addr_str(&ev.mapped));
            int err = fl_ice_agent_add_relayed(p->a, 1, SOCK_RELAY, &ev.relayed, &ev.mapped,
                                               &r->server);
            if (err != 0)
                relay_fail(p, "add_relayed", err, 0);
        } else if (ev.type == FL_TURN_EVENT_DATA) {
            on_datagram(p, SOCK_RELAY, &ev.peer, ev.data, ev.len);
        } else if (ev.type == FL_TURN_EVENT_ERROR) {
            fl_log(FL_LOG_WARN, "TURN error %s (%d) for %s%s", fl_strerror(ev.err), ev.stun_code,
                   addr_str(&ev.peer), ev.fatal ? ", fatal" : "");
            if (ev.fatal)
                relay_fail(p, "allocation", ev.err, ev.stun_code);
        }
    }
}

static void relay_start(peer *p)
{
    relay *r = &p->turn;
    int err = fl_turn_client_allocate(r->c, fl_time_now());
    if (err != 0) {
        relay_fail(p, "allocate", err, 0);
        return;
    }
    r->state = R_ALLOCATING;
    relay_flush(p);
}

static int relay_open(peer *p)
{
    relay *r = &p->turn;
    fl_addr bound;
    r->tcp = p->o.turn.transport == FL_TURN_TCP;
    if (fl_addr_parse(&r->server, p->o.turn.host, p->o.turn.port) != 0) {
        finish_failed(p, "TURN server %s is not an IP address", p->o.turn.host);
        return -1;
    }
    r->fd = open_bound(p->o.bind_ip, r->tcp ? SOCK_STREAM : SOCK_DGRAM, &bound);
    fl_turn_config cfg = { .server = r->server,
                           .transport = r->tcp ? FL_TURN_TCP : FL_TURN_UDP,
                           .username = p->o.turn.username,
                           .password = p->o.turn.password,
                           .rand = fl_rand_system(),
                           .software = "fluo ice_peer" };
    int err = r->fd < 0 ? FL_EIO : fl_turn_client_create(&r->c, &cfg);
    if (err != 0) {
        finish_failed(p, "TURN socket or client: %s", fl_strerror(err));
        return -1;
    }
    if (!r->tcp) {
        relay_start(p);
        return 0;
    }
    struct sockaddr_storage ss;
    size_t sl = fl_addr_to_sockaddr(&r->server, (struct sockaddr *)&ss, sizeof(ss));
    if (connect(r->fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0 && errno != EINPROGRESS) {
        relay_fail(p, "connect", FL_EIO, errno);
        return 0;
    }
    r->state = R_CONNECTING;
    return 0;
}

/* The TCP connection to the server is up (or failed): blocking from now on,
 * so whole frames are written. */
static void relay_connected(peer *p)
{
    relay *r = &p->turn;
    int so_err = 0;
    socklen_t l = sizeof(so_err);
    getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &so_err, &l);
    if (so_err != 0) {
        relay_fail(p, "connect", FL_EIO, so_err);
        return;
    }
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) & ~O_NONBLOCK);
    relay_start(p);
}

static void relay_readable(peer *p)
{
    relay *r = &p->turn;
    uint8_t buf[4096];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    fl_addr from;
    ssize_t n = recvfrom(r->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 && r->tcp) {
        relay_fail(p, "connection", FL_ECLOSED, n < 0 ? errno : 0);
        return;
    }
    if (n < 0 || (!r->tcp && fl_addr_from_sockaddr(&from, (struct sockaddr *)&ss) != 0))
        return;
    int err =
            fl_turn_client_handle_input(r->c, fl_time_now(), r->tcp ? NULL : &from, buf, (size_t)n);
    relay_events(p);
    if (err == FL_EPROTO)
        relay_fail(p, "stream", err, 0);
}

/* ---- application data ------------------------------------------------------ */

static void send_on(peer *p, int sock, const fl_addr *to, const uint8_t *buf, size_t len)
{
    if (sock == SOCK_RELAY) {
        relay_send(p, to, buf, len);
    } else if (send_udp(p->host_fd, to, buf, len) != 0) {
        fl_log(FL_LOG_DEBUG, "send to %s: %s", addr_str(to), strerror(errno));
    }
}

static void app_send(peer *p, int sock, const fl_addr *to, uint8_t type, uint32_t seq)
{
    uint8_t b[APP_LEN];
    memset(b, 0x55, sizeof(b));
    b[0] = type;
    b[1] = (uint8_t)(seq >> 24);
    b[2] = (uint8_t)(seq >> 16);
    b[3] = (uint8_t)(seq >> 8);
    b[4] = (uint8_t)seq;
    send_on(p, sock, to, b, sizeof(b));
}

/* Controlled: echo a ping on the selected pair (on its way in before that).
 * Controlling: count an echo when it came back on the selected pair. */
static void on_app(peer *p, int sock, const fl_addr *from, const uint8_t *buf, size_t len)
{
    if (len != APP_LEN)
        return;
    uint32_t seq = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
    if (seq >= (uint32_t)p->o.count)
        return;
    if (buf[0] == APP_PING && p->o.role == FL_ICE_ROLE_CONTROLLED) {
        if (p->has_sel)
            app_send(p, p->sel_sock, &p->sel_remote.addr, APP_ECHO, seq);
        else
            app_send(p, sock, from, APP_ECHO, seq);
    } else if (buf[0] != APP_ECHO || p->o.role != FL_ICE_ROLE_CONTROLLING || !p->d.active ||
               sock != p->sel_sock || !fl_addr_equal(from, &p->sel_remote.addr)) {
        return;
    }
    if (!p->d.seen[seq]) {
        p->d.seen[seq] = 1;
        p->d.got++;
    }
}

static void on_datagram(peer *p, int sock, const fl_addr *from, const uint8_t *buf, size_t len)
{
    if (len == 0)
        return;
    if (buf[0] <= 3) /* RFC 7983: STUN */
        fl_ice_agent_handle_input(p->a, fl_time_now(), sock, from, buf, len);
    else if (buf[0] == APP_PING || buf[0] == APP_ECHO)
        on_app(p, sock, from, buf, len);
    else
        fl_log(FL_LOG_DEBUG, "dropped a datagram from %s (first byte %u)", addr_str(from), buf[0]);
}

/* Controlling: paced pings on the selected pair, then a wait for the echoes. */
static void data_step(peer *p, fl_time now)
{
    data *d = &p->d;
    if (!d->active)
        return;
    while (d->sent < p->o.count && now >= d->next_send) {
        app_send(p, p->sel_sock, &p->sel_remote.addr, APP_PING, (uint32_t)d->sent);
        d->sent++;
        d->next_send += PING_GAP;
        if (d->sent == p->o.count)
            d->end = now + ECHO_WAIT;
    }
    if (d->got == p->o.count || (d->sent == p->o.count && now >= d->end)) {
        d->active = 0;
        d->complete = 1;
        say_finished(p, "ok");
    }
}

/* ---- the agent --------------------------------------------------------------- */

static void on_agent_event(peer *p, const fl_ice_event *ev, fl_time now)
{
    char line[FL_ICE_CAND_STRLEN];
    switch (ev->type) {
    case FL_ICE_EVENT_LOCAL_CANDIDATE:
        if (fl_ice_candidate_write(&ev->candidate, line, sizeof(line)) > 0)
            sig_printf(&p->s, "%s", line);
        break;
    case FL_ICE_EVENT_GATHERING_DONE:
        p->gathered = 1;
        break;
    case FL_ICE_EVENT_STATE:
        fl_log(FL_LOG_INFO, "state %s", state_name(ev->state));
        p->state = ev->state;
        break;
    case FL_ICE_EVENT_SELECTED_PAIR:
        p->has_sel = 1;
        p->sel_sock = ev->socket_id;
        p->sel_local = ev->candidate;
        p->sel_remote = ev->remote;
        break;
    case FL_ICE_EVENT_ROLE:
        fl_log(FL_LOG_WARN, "role conflict: now %s",
               ev->role == FL_ICE_ROLE_CONTROLLING ? "controlling" : "controlled");
        break;
    }
    if (p->state == FL_ICE_STATE_READY && p->has_sel && !p->ready_at) {
        p->ready_at = now;
        if (p->o.role == FL_ICE_ROLE_CONTROLLING) {
            p->d.active = 1;
            p->d.next_send = now;
        }
    }
}

static void agent_flush(peer *p)
{
    fl_ice_transmit tx;
    fl_ice_event ev;
    while (fl_ice_agent_poll_transmit(p->a, &tx) == 0)
        send_on(p, tx.socket_id, &tx.dst, tx.data, tx.len);
    while (fl_ice_agent_poll_event(p->a, &ev) == 0)
        on_agent_event(p, &ev, fl_time_now());
    /* end-of-candidates once srflx gathering and the TURN allocation ended */
    if (!p->eoc_sent && p->gathered &&
        (!p->turn.c || p->turn.state == R_READY || p->turn.state == R_FAILED)) {
        sig_printf(&p->s, "end-of-candidates");
        p->eoc_sent = 1;
    }
}

/* What the TURN side adds to a failure reason. */
static const char *relay_note(peer *p)
{
    static char note[160];
    const relay *r = &p->turn;
    note[0] = '\0';
    if (r->state == R_FAILED)
        snprintf(note, sizeof(note), ", %s", r->error);
    else if (r->state == R_CONNECTING || r->state == R_ALLOCATING)
        snprintf(note, sizeof(note), ", TURN server %s not answering", addr_str(&r->server));
    return note;
}

static void check_done(peer *p, fl_time now)
{
    int controlling = p->o.role == FL_ICE_ROLE_CONTROLLING;
    if (p->finished)
        return;
    if (controlling && p->d.complete && (p->s.finished || now >= p->deadline)) {
        finish_ready(p); /* a peer that never got READY reports that itself */
    } else if (now >= p->deadline) {
        char ready[48] = "";
        if (p->ready_at)
            snprintf(ready, sizeof(ready), " (since %lld ms)",
                     (long long)((p->ready_at - p->t0) / FL_TIME_MS));
        finish_failed(p, "timeout after %lld ms in state %s%s%s",
                      (long long)((now - p->t0) / FL_TIME_MS), state_name(p->state), ready,
                      relay_note(p));
    } else if (p->state == FL_ICE_STATE_FAILED && p->eoc_sent && p->s.eoc) {
        finish_failed(p, "every candidate pair failed%s", relay_note(p));
    } else if (p->s.finished && p->s.peer_failed && !p->ready_at) {
        finish_failed(p, "the peer failed");
    } else if (!controlling && p->s.finished && p->ready_at) {
        finish_ready(p);
    }
}

/* ---- setup and the loop ------------------------------------------------------ */

static int agent_open(peer *p)
{
    fl_ice_agent_config cfg = { .role = p->o.role, .lite = p->o.lite, .rand = fl_rand_system() };
    int err = fl_ice_agent_create(&p->a, &cfg);
    if (err != 0) {
        finish_failed(p, "agent: %s", fl_strerror(err));
        return -1;
    }
    fl_ice_host h = { .component = 1, .socket_id = SOCK_HOST };
    p->host_fd = open_bound(p->o.bind_ip, SOCK_DGRAM, &h.addr);
    if (p->host_fd < 0) {
        finish_failed(p, "bind %s: %s", p->o.bind_ip, strerror(errno));
        return -1;
    }
    if (!p->o.relay_only && (err = fl_ice_agent_add_host(p->a, &h)) != 0) {
        finish_failed(p, "add_host %s: %s", addr_str(&h.addr), fl_strerror(err));
        return -1;
    }
    if (p->o.stun.family && (err = fl_ice_agent_add_stun_server(p->a, &p->o.stun)) != 0) {
        finish_failed(p, "STUN server: %s", fl_strerror(err));
        return -1;
    }
    return 0;
}

static int peer_start(peer *p)
{
    p->host_fd = p->turn.fd = p->s.out = p->s.in = p->s.notify = -1;
    p->t0 = fl_time_now();
    p->deadline = p->t0 + p->o.timeout;
    if (agent_open(p) != 0 || sig_open(p) != 0)
        return -1;
    sig_printf(&p->s, "creds %s %s", fl_ice_agent_local_ufrag(p->a), fl_ice_agent_local_pwd(p->a));
    fl_ice_agent_gather(p->a, fl_time_now());
    if (p->o.has_turn && relay_open(p) != 0)
        return -1;
    sig_read(p);
    return 0;
}

static int poll_ms(const peer *p, fl_time now)
{
    fl_time next = min_time(p->deadline, fl_ice_agent_poll_timeout(p->a));
    if (p->turn.c)
        next = min_time(next, fl_turn_client_poll_timeout(p->turn.c));
    if (p->d.active)
        next = min_time(next, p->d.sent < p->o.count ? p->d.next_send : p->d.end);
    return next <= now ? 0 : (int)((next - now + FL_TIME_MS - 1) / FL_TIME_MS);
}

static void host_readable(peer *p)
{
    uint8_t buf[2048];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    fl_addr from;
    ssize_t n;
    while ((n = recvfrom(p->host_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss,
                         &sl)) >= 0) {
        if (fl_addr_from_sockaddr(&from, (struct sockaddr *)&ss) == 0)
            on_datagram(p, SOCK_HOST, &from, buf, (size_t)n);
        sl = sizeof(ss);
    }
}

static void step(peer *p)
{
    struct pollfd pfd[3] = {
        { .fd = p->host_fd, .events = POLLIN },
        { .fd = p->s.notify, .events = POLLIN },
        { .fd = p->turn.fd, .events = p->turn.state == R_CONNECTING ? POLLOUT : POLLIN },
    };
    int rc = poll(pfd, 3, poll_ms(p, fl_time_now())); /* fd -1 is skipped */
    if (rc < 0 && errno != EINTR) {
        finish_failed(p, "poll: %s", strerror(errno));
        return;
    }
    if (rc > 0 && pfd[0].revents)
        host_readable(p);
    if (rc > 0 && pfd[1].revents)
        sig_notified(p);
    if (rc > 0 && p->turn.fd >= 0 && pfd[2].revents) {
        if (p->turn.state == R_CONNECTING)
            relay_connected(p);
        else
            relay_readable(p);
    }
    fl_time now = fl_time_now();
    if (fl_ice_agent_poll_timeout(p->a) <= now)
        fl_ice_agent_handle_timeout(p->a, now);
    if (p->turn.c && fl_turn_client_poll_timeout(p->turn.c) <= now) {
        fl_turn_client_handle_timeout(p->turn.c, now);
        relay_events(p);
    }
}

static void run(peer *p)
{
    while (!p->finished) {
        agent_flush(p);
        if (p->turn.c && p->turn.state >= R_ALLOCATING)
            relay_flush(p);
        fl_time now = fl_time_now();
        data_step(p, now);
        check_done(p, now);
        if (!p->finished)
            step(p);
    }
}

static void peer_close(peer *p)
{
    relay *r = &p->turn;
    if (r->c && r->state == R_READY && fl_turn_client_deallocate(r->c, fl_time_now()) == 0)
        relay_flush(p); /* a goodbye to the server, not waited for */
    fl_turn_client_destroy(r->c);
    fl_ice_agent_destroy(p->a);
    int fds[] = { p->host_fd, r->fd, p->s.out, p->s.in, p->s.notify };
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
}

/* ---- options ----------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: ice_peer --role controlling|controlled [--lite] --bind IP\n"
            "                [--stun IP:PORT] [--turn user:pass@IP:PORT[?transport=udp|tcp]]\n"
            "                [--relay-only] --signal DIR --name A|B [--timeout S]\n"
            "                [--count N] [--log SPEC]\n");
    exit(2);
}

static void bad(const char *what, const char *value)
{
    fprintf(stderr, "ice_peer: bad %s: %s\n", what, value ? value : "(missing)");
    usage();
}

static long parse_num(const char *what, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < lo || n > hi)
        bad(what, v);
    return n;
}

static void parse_opt(opts *o, int c, const char *v)
{
    switch (c) {
    case 'r':
        if (strcmp(v, "controlling") != 0 && strcmp(v, "controlled") != 0)
            bad("--role (controlling or controlled)", v);
        o->role = strcmp(v, "controlling") == 0 ? FL_ICE_ROLE_CONTROLLING : FL_ICE_ROLE_CONTROLLED;
        o->has_role = 1;
        break;
    case 'l':
        o->lite = 1;
        break;
    case 'b':
        o->bind_ip = v;
        break;
    case 's':
        if (parse_hostport(&o->stun, v) != 0)
            bad("--stun (IP:PORT)", v);
        break;
    case 't':
        if (fl_turn_url_parse(&o->turn, v) != 0)
            bad("--turn", v);
        o->has_turn = 1;
        break;
    case 'R':
        o->relay_only = 1;
        break;
    case 'd':
        o->dir = v;
        break;
    case 'n':
        if ((v[0] != 'A' && v[0] != 'B') || v[1])
            bad("--name (A or B)", v);
        o->name = v[0];
        break;
    case 'T':
        o->timeout = parse_num("--timeout (seconds)", v, 1, 3600) * FL_TIME_SEC;
        break;
    case 'c':
        o->count = (int)parse_num("--count", v, 1, MAX_COUNT);
        break;
    case 'L':
        o->log = v;
        break;
    default:
        usage();
    }
}

static void parse_args(opts *o, int argc, char **argv)
{
    static const struct option longs[] = {
        { "role", 1, 0, 'r' },   { "lite", 0, 0, 'l' }, { "bind", 1, 0, 'b' },
        { "stun", 1, 0, 's' },   { "turn", 1, 0, 't' }, { "relay-only", 0, 0, 'R' },
        { "signal", 1, 0, 'd' }, { "name", 1, 0, 'n' }, { "timeout", 1, 0, 'T' },
        { "count", 1, 0, 'c' },  { "log", 1, 0, 'L' },  { "help", 0, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;
    *o = (opts){ .timeout = 10 * FL_TIME_SEC, .count = 100, .log = "*:warn" };
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1)
        parse_opt(o, c, optarg);
    if (optind != argc || !o->has_role || !o->bind_ip || !o->dir || !o->name)
        bad("arguments", "--role, --bind, --signal and --name are required");
    if (o->lite && (o->role != FL_ICE_ROLE_CONTROLLED || o->has_turn || o->stun.family))
        bad("--lite", "a lite agent is controlled, with host candidates only");
    if (o->relay_only && !o->has_turn)
        bad("--relay-only", "needs --turn");
    if (o->has_turn && (o->turn.secure || !o->turn.username[0]))
        bad("--turn", "needs user:pass and plain turn (no TLS)");
}

int main(int argc, char **argv)
{
    static peer p; /* large (the seen[] map): not on the stack */
    parse_args(&p.o, argc, argv);
    if (fl_log_configure(p.o.log) != 0)
        bad("--log", p.o.log);
    if (peer_start(&p) == 0)
        run(&p);
    peer_close(&p);
    return p.exit_code;
}
