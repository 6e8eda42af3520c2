/* janus_probe: checks bench/janus.c against the real Debian `janus`, without
 * the benchmark client. As root:
 *
 *   build/tests/tools/janus_probe
 *
 * Starts Janus in its namespace, sends an EchoTest offer made with sdp/ and
 * checks the answer (ICE credentials, fingerprint, opus, VP8, a candidate on
 * 10.213.0.2), publishes two publishers to the VideoRoom and connects
 * them (ICE and DTLS with ice/ and net/transport on a UDP socket each, as
 * Janus takes subscribers only for a publisher whose PeerConnection is up),
 * subscribes one subscriber to each (checks Janus's sendonly offers,
 * answers them recvonly and starts them), stops Janus and checks the
 * namespace and the veth are gone. No media is sent. Prints "janus_probe
 * ok" and exits 0, or explains and exits 1.
 *
 * The Makefile links tools with libfluo and librpc only, so bench/janus.c is
 * compiled in here. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/rand.h"
#include "base/time.h"
#include "bench/janus.c"
#include "ice/agent.h"
#include "net/cert.h"
#include "net/transport.h"
#include "sdp/sdp.h"

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "janus_probe: " __VA_ARGS__); \
            fprintf(stderr, "\n");                        \
            return -1;                                    \
        }                                                 \
    } while (0)

#define PROBE_PWD "probepasswordprobepassword"

static fl_cert *cert;
static fl_buf_pool *pool;

/* A publisher's PeerConnection: one socket, one ICE agent, one transport. */
typedef struct pc {
    int fd;
    fl_ice_agent *ice;
    fl_transport *tr;
    fl_addr sel;
    int have_sel, connected;
} pc;

/* "candidate:1 1 udp 2130706431 10.213.0.1 <port> typ host" */
static char cand_line[2][96];
static const char *cand_ptr[1];

static fl_sdp_local make_local(const char *ufrag, uint32_t ssrc_base, uint16_t port)
{
    static int k;
    k ^= 1;
    snprintf(cand_line[k], sizeof cand_line[k],
             "candidate:1 1 udp 2130706431 " JANUS_HOST_IP " %u typ host", (unsigned)port);
    cand_ptr[0] = cand_line[k];
    fl_sdp_local l;
    memset(&l, 0, sizeof l);
    l.ice_ufrag = ufrag;
    l.ice_pwd = PROBE_PWD;
    l.fingerprint = fl_cert_fingerprint(cert);
    l.cname = "probe";
    l.stream_id = "probe-stream";
    l.ssrc[0] = ssrc_base + 1;
    l.ssrc[1] = ssrc_base + 2;
    l.session_id = 4242 + ssrc_base;
    l.session_version = 1;
    l.address = JANUS_HOST_IP;
    l.ncandidates = 1;
    l.candidates = cand_ptr;
    l.end_of_candidates = 1;
    static const char *const audio[] = { "opus/48000/2", NULL };
    static const char *const video[] = { "VP8/90000", NULL };
    l.audio_codecs = audio;
    l.video_codecs = video;
    return l;
}

static int make_offer(const char *ufrag, uint32_t ssrc_base, uint16_t port, char **text)
{
    fl_sdp_local l = make_local(ufrag, ssrc_base, port);
    fl_sdp_desc *d = calloc(1, sizeof *d);
    CHECK(d, "out of memory");
    int rc = fl_sdp_offer(&l, 1, FL_SDP_DIR_SENDRECV, 1, FL_SDP_DIR_SENDRECV, d, text);
    free(d);
    CHECK(rc == 0, "fl_sdp_offer: %s", fl_strerror(rc));
    return 0;
}

/* Parses SDP from Janus into d and checks what every Janus SDP must have:
 * ICE credentials, a fingerprint, opus, VP8 and a candidate on Janus's
 * address. */
static int check_janus_sdp(const char *what, const char *text, fl_sdp_desc *d)
{
    fl_sdp *s;
    char err[160];
    int rc = fl_sdp_parse(&s, text, strlen(text), err, sizeof err);
    CHECK(rc == 0, "%s: fl_sdp_parse: %s\n%s", what, err, text);
    rc = fl_sdp_describe(s, d, err, sizeof err);
    fl_sdp_destroy(s);
    CHECK(rc == 0, "%s: fl_sdp_describe: %s", what, err);
    int opus = 0, vp8 = 0, cand = 0;
    for (size_t i = 0; i < d->nmedia; i++) {
        const fl_sdp_media *m = &d->media[i];
        if (m->rejected)
            continue;
        CHECK(m->ice_ufrag[0] && m->ice_pwd[0], "%s: no ICE credentials in section %zu", what, i);
        CHECK(m->fingerprint[0], "%s: no fingerprint in section %zu", what, i);
        const fl_sdp_codec *c = fl_sdp_media_main_codec(m);
        if (c && m->kind == FL_SDP_KIND_AUDIO && strcasecmp(c->name, "opus") == 0)
            opus = 1;
        if (c && m->kind == FL_SDP_KIND_VIDEO && strcasecmp(c->name, "VP8") == 0)
            vp8 = 1;
        for (size_t k = 0; k < m->ncandidates; k++) {
            if (strstr(m->candidates[k], " " JANUS_NS_IP " "))
                cand = 1;
        }
    }
    CHECK(opus && vp8, "%s: opus %s, VP8 %s\n%s", what, opus ? "yes" : "no", vp8 ? "yes" : "no",
          text);
    CHECK(cand, "%s: no candidate on %s\n%s", what, JANUS_NS_IP, text);
    return 0;
}

static int check_dirs(const char *what, const fl_sdp_desc *d, fl_sdp_dir want)
{
    for (size_t i = 0; i < d->nmedia; i++) {
        const fl_sdp_media *m = &d->media[i];
        if (m->rejected || (m->kind != FL_SDP_KIND_AUDIO && m->kind != FL_SDP_KIND_VIDEO))
            continue;
        CHECK(m->dir == want, "%s: section %zu has direction %d, want %d", what, i, (int)m->dir,
              (int)want);
    }
    return 0;
}

static int echo(fl_bench_janus *j, fl_sdp_desc *d)
{
    char *offer, *answer;
    if (make_offer("echoufrag", 100, 5000, &offer) < 0)
        return -1;
    int rc = fl_bench_janus_echo(j, offer, &answer);
    free(offer);
    CHECK(rc == 0, "fl_bench_janus_echo: %s", fl_strerror(rc));
    rc = check_janus_sdp("echo answer", answer, d);
    if (rc == 0)
        rc = check_dirs("echo answer", d, FL_SDP_DIR_SENDRECV);
    free(answer);
    printf("janus_probe: echo answer ok (%zu sections, %zu candidates)\n", d->nmedia,
           d->media[0].ncandidates);
    return rc;
}

/* Opens the publisher's socket and makes its ICE agent (controlling, our
 * offer's credentials) and transport from Janus's answer. */
static int pc_open(pc *c, const char *ufrag, uint16_t port, const fl_sdp_desc *ans)
{
    static fl_rand *rnd;
    rnd = fl_rand_system();
    fl_time now = fl_time_now();
    const fl_sdp_media *m = &ans->media[0];
    c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(c->fd >= 0, "socket: %s", strerror(errno));
    fl_ice_host h = { .component = 1, .socket_id = 0 };
    fl_addr_parse(&h.addr, JANUS_HOST_IP, port);
    struct sockaddr_storage ss;
    size_t sl = fl_addr_to_sockaddr(&h.addr, (struct sockaddr *)&ss, sizeof ss);
    CHECK(bind(c->fd, (struct sockaddr *)&ss, (socklen_t)sl) == 0, "bind %s:%u: %s", JANUS_HOST_IP,
          (unsigned)port, strerror(errno));
    fl_ice_agent_config ic = {
        .role = FL_ICE_ROLE_CONTROLLING, .rand = rnd, .ufrag = ufrag, .pwd = PROBE_PWD
    };
    CHECK(fl_ice_agent_create(&c->ice, &ic) == 0, "fl_ice_agent_create");
    CHECK(fl_ice_agent_add_host(c->ice, &h) == 0, "fl_ice_agent_add_host");
    CHECK(fl_ice_agent_gather(c->ice, now) == 0, "fl_ice_agent_gather");
    CHECK(fl_ice_agent_set_remote_credentials(c->ice, m->ice_ufrag, m->ice_pwd) == 0,
          "remote credentials");
    for (size_t i = 0; i < m->ncandidates; i++)
        fl_ice_agent_add_remote_candidate(c->ice, now, m->candidates[i]);
    fl_ice_agent_remote_end_of_candidates(c->ice, now);
    fl_transport_config tc = { .cert = cert,
                               .role = m->setup == FL_SDP_SETUP_ACTIVE ? FL_DTLS_ROLE_SERVER
                                                                       : FL_DTLS_ROLE_CLIENT,
                               .remote_fingerprint = m->fingerprint,
                               .pool = pool };
    CHECK(fl_transport_create(&c->tr, &tc) == 0, "fl_transport_create");
    return 0;
}

static void pc_close(pc *c)
{
    if (c->tr)
        fl_transport_destroy(c->tr);
    if (c->ice)
        fl_ice_agent_destroy(c->ice);
    if (c->fd > 0)
        close(c->fd);
    memset(c, 0, sizeof *c);
}

static void pc_sendto(pc *c, const fl_addr *dst, const void *data, size_t len)
{
    struct sockaddr_storage ss;
    size_t sl = fl_addr_to_sockaddr(dst, (struct sockaddr *)&ss, sizeof ss);
    sendto(c->fd, data, len, 0, (struct sockaddr *)&ss, (socklen_t)sl);
}

/* Runs timers, sends what is queued, takes events; the next deadline. */
static fl_time pc_flush(pc *c, fl_time now)
{
    static fl_ice_transmit tx;
    fl_ice_event ev;
    fl_transport_event tev;
    fl_buf *b;
    if (fl_ice_agent_poll_timeout(c->ice) <= now)
        fl_ice_agent_handle_timeout(c->ice, now);
    if (c->have_sel && fl_transport_poll_timeout(c->tr) <= now)
        fl_transport_handle_timeout(c->tr, now);
    while (fl_ice_agent_poll_transmit(c->ice, &tx) == 0)
        pc_sendto(c, &tx.dst, tx.data, tx.len);
    while (fl_ice_agent_poll_event(c->ice, &ev) == 0) {
        if (ev.type == FL_ICE_EVENT_SELECTED_PAIR && !c->have_sel) {
            c->sel = ev.remote.addr;
            c->have_sel = 1;
            fl_transport_start(c->tr, now);
        }
    }
    while (c->have_sel && fl_transport_poll_transmit(c->tr, &b) == 0) {
        pc_sendto(c, &c->sel, fl_buf_data(b), b->len);
        fl_buf_unref(b);
    }
    while (fl_transport_poll_event(c->tr, &tev) == 0) {
        if (tev.type == FL_TRANSPORT_EVENT_CONNECTED)
            c->connected = 1;
        else if (tev.type == FL_TRANSPORT_EVENT_FAILED)
            fprintf(stderr, "janus_probe: DTLS failed: %s\n", tev.reason ? tev.reason : "?");
        fl_transport_event_release(&tev);
    }
    fl_time t = fl_ice_agent_poll_timeout(c->ice);
    fl_time t2 = c->have_sel ? fl_transport_poll_timeout(c->tr) : FL_TIME_NEVER;
    return t < t2 ? t : t2;
}

static void pc_input(pc *c, fl_time now)
{
    fl_buf *b = fl_buf_pool_get(pool);
    if (!b)
        return;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(c->fd, fl_buf_data(b), fl_buf_tailroom(b), MSG_DONTWAIT,
                         (struct sockaddr *)&ss, &sl);
    fl_addr from;
    if (n <= 0 || fl_addr_from_sockaddr(&from, (struct sockaddr *)&ss) < 0) {
        fl_buf_unref(b);
        return;
    }
    fl_buf_set_len(b, (size_t)n);
    uint8_t first = fl_buf_data(b)[0];
    if (first < 4) {
        fl_ice_agent_handle_input(c->ice, now, 0, &from, fl_buf_data(b), (size_t)n);
        fl_buf_unref(b);
    } else if (c->have_sel) {
        fl_transport_handle_input(c->tr, now, b);
    } else {
        fl_buf_unref(b);
    }
}

/* Runs the PeerConnections until all are connected, or `ms` passed when
 * `ms` > 0 and not all need to be. 0 when all are connected. */
static int pc_run(pc *pcs, size_t n, int ms, int until_connected)
{
    fl_time end = fl_time_now() + (fl_time)ms * FL_TIME_MS;
    struct pollfd pfd[4];
    for (;;) {
        fl_time now = fl_time_now(), next = end;
        size_t up = 0;
        for (size_t i = 0; i < n; i++) {
            fl_time t = pc_flush(&pcs[i], now);
            next = t < next ? t : next;
            up += (size_t)pcs[i].connected;
        }
        if ((until_connected && up == n) || now >= end)
            return up == n ? 0 : -1;
        for (size_t i = 0; i < n; i++)
            pfd[i] = (struct pollfd){ .fd = pcs[i].fd, .events = POLLIN };
        fl_time wait = next > now ? next - now : 0;
        poll(pfd, (nfds_t)n, (int)(wait / FL_TIME_MS) + 1);
        now = fl_time_now();
        for (size_t i = 0; i < n; i++) {
            if (pfd[i].revents & POLLIN)
                pc_input(&pcs[i], now);
        }
    }
}

static int publish(fl_bench_janus *j, int n, fl_sdp_desc *d, uint64_t *feed, pc *c)
{
    char *offer, *answer, ufrag[32];
    uint16_t port = (uint16_t)(5001 + n);
    snprintf(ufrag, sizeof ufrag, "pubufrag%d", n);
    if (make_offer(ufrag, 200 + 10 * (uint32_t)n, port, &offer) < 0)
        return -1;
    int rc = fl_bench_janus_publish(j, offer, &answer, feed);
    free(offer);
    CHECK(rc == 0, "fl_bench_janus_publish %d: %s", n, fl_strerror(rc));
    rc = check_janus_sdp("publish answer", answer, d);
    if (rc == 0)
        rc = check_dirs("publish answer", d, FL_SDP_DIR_RECVONLY);
    free(answer);
    if (rc < 0)
        return rc;
    printf("janus_probe: publisher %d ok (feed %" PRIu64 ")\n", n, *feed);
    return pc_open(c, ufrag, port, d);
}

static int subscribe(fl_bench_janus *j,
                     int n,
                     uint64_t feed,
                     fl_sdp_desc *d,
                     fl_sdp_desc *a,
                     pc *pcs,
                     size_t npcs)
{
    char *offer, *answer, ufrag[32], err[160];
    void *sub;
    int rc, tries = 0;
    /* Janus may need a moment after our side of DTLS is done. */
    while ((rc = fl_bench_janus_subscribe(j, feed, &offer, &sub)) == FL_EAGAIN && ++tries < 20)
        pc_run(pcs, npcs, 100, 0);
    CHECK(rc == 0, "fl_bench_janus_subscribe %d: %s", n, fl_strerror(rc));
    rc = check_janus_sdp("subscriber offer", offer, d);
    if (rc == 0)
        rc = check_dirs("subscriber offer", d, FL_SDP_DIR_SENDONLY);
    free(offer);
    if (rc < 0)
        return rc;
    snprintf(ufrag, sizeof ufrag, "subufrag%d", n);
    fl_sdp_local l = make_local(ufrag, 300 + 10 * (uint32_t)n, 5000);
    rc = fl_sdp_answer(d, &l, FL_SDP_DIR_RECVONLY, FL_SDP_DIR_RECVONLY, a, &answer, err,
                       sizeof err);
    CHECK(rc == 0, "fl_sdp_answer: %s: %s", fl_strerror(rc), err);
    rc = fl_bench_janus_start_subscriber(j, sub, answer);
    free(answer);
    CHECK(rc == 0, "fl_bench_janus_start_subscriber %d: %s", n, fl_strerror(rc));
    printf("janus_probe: subscriber %d to feed %" PRIu64 " started\n", n, feed);
    return 0;
}

static int run(fl_bench_janus *j, fl_sdp_desc *d, fl_sdp_desc *a, pc *pcs)
{
    uint64_t feeds[2];
    if (echo(j, d) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (publish(j, i, d, &feeds[i], &pcs[i]) < 0)
            return -1;
    }
    CHECK(pc_run(pcs, 2, 10000, 1) == 0, "publishers not connected in 10 s (ICE %s, %s)",
          pcs[0].have_sel ? "up" : "down", pcs[1].have_sel ? "up" : "down");
    printf("janus_probe: both publishers connected (ICE and DTLS)\n");
    for (int i = 0; i < 2; i++) {
        if (subscribe(j, i, feeds[i], d, a, pcs, 2) < 0)
            return -1;
    }
    return 0;
}

/* 1 when the command's output contains `needle`. */
static int output_has(const char *cmd, const char *needle)
{
    char line[512];
    int found = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, needle))
            found = 1;
    }
    pclose(p);
    return found;
}

int main(void)
{
    int rc = fl_cert_generate(&cert, "probe", (int64_t)time(NULL) - 3600, 30 * 86400, NULL);
    if (rc < 0) {
        fprintf(stderr, "janus_probe: fl_cert_generate: %s\n", fl_strerror(rc));
        return 1;
    }
    fl_bench_janus *j;
    char client_ip[64];
    rc = fl_bench_janus_start(&j, client_ip, sizeof client_ip);
    if (rc < 0) {
        fprintf(stderr, "janus_probe: fl_bench_janus_start: %s\n", fl_strerror(rc));
        fl_cert_destroy(cert);
        return 1;
    }
    printf("janus_probe: janus pid %d, client %s\n", fl_bench_janus_pid(j), client_ip);
    fl_sdp_desc *d = calloc(1, sizeof *d), *a = calloc(1, sizeof *a);
    pc pcs[2] = { { 0 } };
    int bad = fl_buf_pool_create(&pool, 1600, 64, 64, 0) < 0 || !d || !a ||
              strcmp(client_ip, JANUS_HOST_IP) != 0 || run(j, d, a, pcs) < 0;
    pc_close(&pcs[0]);
    pc_close(&pcs[1]);
    free(d);
    free(a);
    fl_bench_janus_stop(j);
    fl_cert_destroy(cert);
    if (pool)
        fl_buf_pool_destroy(pool);
    if (output_has("ip netns list 2>&1", JANUS_NETNS) != 0) {
        fprintf(stderr, "janus_probe: namespace %s still there\n", JANUS_NETNS);
        bad = 1;
    }
    if (output_has("ip -o link show 2>&1", JANUS_VETH_HOST) != 0) {
        fprintf(stderr, "janus_probe: %s still there\n", JANUS_VETH_HOST);
        bad = 1;
    }
    if (bad)
        return 1;
    printf("janus_probe ok\n");
    return 0;
}
