/* The fluo server driver: starts build/fluo and drives it through the
 * Kurento Protocol (JSON-RPC over a blocking WebSocket), in the calls the
 * tutorials make: hello-world for echo, one2many's presenter and viewers
 * (and a viewer joining a running broadcast), group-call's outgoing and
 * incoming endpoints. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/bytes.h"
#include "base/err.h"
#include "bench/wr.h"
#include "rpc/http.h"
#include "rpc/ws.h"

typedef struct fluo_state {
    int port;
    int fd;
    fl_ws *ws;
    int next_id;
    char session[64];
    char pipeline[160]; /* shared pipeline (one2many, room) */
    char cfg_path[64];
    wr_bench *pump;    /* set: the client's loop runs while a reply is awaited */
    wr_bench *b;       /* its pump_calls set: the loop runs during every call */
    char **publishers; /* the handles publish() gave out, freed by stop() */
    size_t npublishers;
} fluo_state;

static fluo_state fluo;

static int write_all(int fd, const uint8_t *d, size_t n)
{
    while (n) {
        ssize_t w = write(fd, d, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return FL_EIO;
        d += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ws_flush(void)
{
    fl_bytes out;
    while (fl_ws_poll_transmit(fluo.ws, &out) == 0) {
        int rc = write_all(fluo.fd, out.data, out.len);
        fl_bytes_deinit(&out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Runs the client's loop (outside uv_run: the caller is not in a callback)
 * until the control connection is readable. */
static void pump_until_readable(wr_bench *b)
{
    struct pollfd pf[2] = { { .fd = fluo.fd, .events = POLLIN },
                            { .fd = b->fd, .events = POLLIN } };
    for (;;) {
        uv_run(&b->loop, UV_RUN_NOWAIT);
        pf[0].revents = pf[1].revents = 0;
        int n = poll(pf, 2, 1); /* the client's tick is 1 ms */
        if ((n < 0 && errno != EINTR) || pf[0].revents)
            return;
    }
}

/* One JSON-RPC call; returns the result's "value" (new reference; JSON null
 * when absent) or NULL with the error printed. */
static json_t *rpc(const char *method, json_t *params)
{
    int id = ++fluo.next_id;
    if (fluo.session[0])
        json_object_set_new(params, "sessionId", json_string(fluo.session));
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text || fl_ws_send_text(fluo.ws, text, strlen(text)) < 0 || ws_flush() < 0) {
        free(text);
        return NULL;
    }
    free(text);
    uint8_t buf[65536];
    for (;;) {
        fl_ws_event ev;
        while (fl_ws_poll_event(fluo.ws, &ev) == 0) {
            if (ev.type != FL_WS_EVENT_TEXT)
                continue;
            json_t *msg = json_loadb((const char *)ev.data, ev.len, 0, NULL);
            json_t *jid = json_object_get(msg, "id");
            if (!json_is_integer(jid) || json_integer_value(jid) != id) {
                json_decref(msg); /* an event notification */
                continue;
            }
            json_t *err = json_object_get(msg, "error");
            if (err) {
                fprintf(stderr, "fluo-bench: %s: %s\n", method,
                        json_string_value(json_object_get(err, "message")));
                json_decref(msg);
                return NULL;
            }
            json_t *result = json_object_get(msg, "result");
            const char *sid = json_string_value(json_object_get(result, "sessionId"));
            if (sid)
                snprintf(fluo.session, sizeof(fluo.session), "%s", sid);
            json_t *v = json_object_get(result, "value");
            v = v ? json_incref(v) : json_null();
            json_decref(msg);
            return v;
        }
        if (fluo.pump || (fluo.b && fluo.b->pump_calls))
            pump_until_readable(fluo.pump ? fluo.pump : fluo.b);
        ssize_t n = read(fluo.fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "fluo-bench: the fluo control connection closed\n");
            return NULL;
        }
        fl_ws_handle_input(fluo.ws, buf, (size_t)n);
        ws_flush();
    }
}

static int create(const char *type, const char *pipeline, char *id, size_t cap)
{
    json_t *params = pipeline ? json_pack("{s:s, s:{s:s}}", "type", type, "constructorParams",
                                          "mediaPipeline", pipeline)
                              : json_pack("{s:s}", "type", type);
    json_t *v = rpc("create", params);
    if (!json_is_string(v)) {
        json_decref(v);
        return FL_EIO;
    }
    snprintf(id, cap, "%s", json_string_value(v));
    json_decref(v);
    return 0;
}

static json_t *invoke(const char *object, const char *op, json_t *params)
{
    return rpc("invoke", json_pack("{s:s, s:s, s:o}", "object", object, "operation", op,
                                   "operationParams", params ? params : json_object()));
}

static int invoke_void(const char *object, const char *op, json_t *params)
{
    json_t *v = invoke(object, op, params);
    int rc = v ? 0 : FL_EIO;
    json_decref(v);
    return rc;
}

/* processOffer with the peer's offer, then gatherCandidates; the server's
 * candidates are not needed: its checks reach the client, which learns them
 * as peer-reflexive. */
static int negotiate(wr_peer *p, const char *ep, fl_sdp_dir dir)
{
    char *offer = wr_peer_offer(p, dir);
    if (!offer)
        return FL_ENOMEM;
    json_t *answer = invoke(ep, "processOffer", json_pack("{s:s}", "offer", offer));
    free(offer);
    if (!json_is_string(answer)) {
        json_decref(answer);
        return FL_EIO;
    }
    int rc = wr_peer_set_answer(p, json_string_value(answer));
    json_decref(answer);
    if (rc == 0)
        rc = invoke_void(ep, "gatherCandidates", NULL);
    return rc;
}

static int connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int ws_open(wr_bench *b)
{
    char host[64], key[25];
    snprintf(host, sizeof(host), "127.0.0.1:%d", fluo.port);
    fl_bytes req;
    fl_bytes_init(&req);
    if (fl_ws_handshake_client_write(&req, host, "/kurento", &b->rand, key) < 0 ||
        write_all(fluo.fd, req.data, req.len) < 0) {
        fl_bytes_deinit(&req);
        return FL_EIO;
    }
    fl_bytes_deinit(&req);
    uint8_t buf[4096];
    size_t have = 0;
    fl_http_head head;
    fl_http_head_init(&head, FL_HTTP_RESPONSE);
    for (;;) {
        ssize_t n = read(fluo.fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return FL_EIO;
        size_t used = 0;
        int rc = fl_http_head_parse(&head, buf + have, (size_t)n, &used);
        have += (size_t)n;
        if (rc == FL_EAGAIN)
            continue;
        if (rc < 0 || fl_ws_handshake_client_check(&head, key) < 0)
            return FL_EPROTO;
        fl_ws_config wc = { .role = FL_WS_CLIENT, .rand = &b->rand, .max_message = 4 << 20 };
        if (fl_ws_create(&fluo.ws, &wc) < 0)
            return FL_ENOMEM;
        size_t rest = (size_t)n - used;
        if (rest)
            fl_ws_handle_input(fluo.ws, buf + have - rest, rest);
        return 0;
    }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int fluo_start(wr_bench *b)
{
    fluo.b = b;
    fluo.port = free_port();
    snprintf(fluo.cfg_path, sizeof(fluo.cfg_path), "/tmp/fluo-bench-XXXXXX");
    int cfd = mkstemp(fluo.cfg_path);
    if (cfd < 0 || fluo.port < 0)
        return FL_EIO;
    /* media on loopback only: the client is there */
    const char *cfg = "{\"WebRtcEndpoint\": {\"networkInterfaces\": \"lo\"},"
                      " \"fluo\": {\"log\": \"*:2\"}}\n";
    write_all(cfd, (const uint8_t *)cfg, strlen(cfg));
    close(cfd);
    char port[16], workers[16];
    snprintf(port, sizeof(port), "%d", fluo.port);
    snprintf(workers, sizeof(workers), "%d", b->workers);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the harness */
        execl(b->fluo_bin, b->fluo_bin, "--port", port, "--config", fluo.cfg_path, "--workers",
              workers, (char *)NULL);
        fprintf(stderr, "fluo-bench: cannot run %s: %s\n", b->fluo_bin, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return FL_EIO;
    b->pid = pid;
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        if ((fluo.fd = connect_tcp(fluo.port)) >= 0)
            break;
        usleep(50000);
    }
    if (fluo.fd < 0 || ws_open(b) < 0) {
        fprintf(stderr, "fluo-bench: no Kurento Protocol on port %d\n", fluo.port);
        return FL_EIO;
    }
    json_t *v = rpc("ping", json_object());
    json_decref(v);
    return v ? 0 : FL_EIO;
}

static int fluo_echo(wr_bench *b, wr_peer *p)
{
    (void)b;
    char pipe[160], ep[320];
    if (create("MediaPipeline", NULL, pipe, sizeof(pipe)) < 0 ||
        create("WebRtcEndpoint", pipe, ep, sizeof(ep)) < 0 ||
        invoke_void(ep, "connect", json_pack("{s:s}", "sink", ep)) < 0)
        return FL_EIO;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", pipe);
    return negotiate(p, ep, FL_SDP_DIR_SENDRECV);
}

static int shared_pipeline(void)
{
    if (fluo.pipeline[0])
        return 0;
    return create("MediaPipeline", NULL, fluo.pipeline, sizeof(fluo.pipeline));
}

static int fluo_publish(wr_bench *b, wr_peer *p, void **handle)
{
    (void)b;
    char ep[320];
    if (shared_pipeline() < 0 || create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        return FL_EIO;
    char **v = realloc(fluo.publishers, (fluo.npublishers + 1) * sizeof(*v));
    if (!v)
        return FL_ENOMEM;
    fluo.publishers = v;
    if (!(*handle = v[fluo.npublishers] = strdup(ep)))
        return FL_ENOMEM;
    fluo.npublishers++;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", fluo.pipeline);
    return negotiate(p, ep, FL_SDP_DIR_SENDONLY);
}

static int fluo_view(wr_bench *b, wr_peer *p, void *publisher)
{
    (void)b;
    char ep[320];
    if (create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        return FL_EIO;
    int rc = negotiate(p, ep, FL_SDP_DIR_RECVONLY);
    if (rc == 0)
        rc = invoke_void((const char *)publisher, "connect", json_pack("{s:s}", "sink", ep));
    return rc;
}

/* The viewer of Kurento's one2many tutorial (server.js startViewer): create
 * the endpoint, processOffer, presenter.connect(viewer), the answer to the
 * browser, gatherCandidates, and the browser's candidate by addIceCandidate
 * (its offer carries none, as kurento-utils trickles them). The server's
 * candidates are not needed: its checks reach the client, which learns them
 * as peer-reflexive. */
static int fluo_join(wr_bench *b, wr_peer *p, void *publisher)
{
    char ep[320];
    json_t *answer = NULL;
    char *offer = NULL;
    int rc = FL_EIO;
    fluo.pump = b;
    p->trickle = 1;
    if (create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        goto out;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", ep);
    if (!(offer = wr_peer_offer(p, FL_SDP_DIR_RECVONLY))) {
        rc = FL_ENOMEM;
        goto out;
    }
    p->t.offer = fl_time_now();
    answer = invoke(ep, "processOffer", json_pack("{s:s}", "offer", offer));
    if (!json_is_string(answer))
        goto out;
    p->t.answer = fl_time_now();
    if (invoke_void((const char *)publisher, "connect", json_pack("{s:s}", "sink", ep)) < 0 ||
        (rc = wr_peer_set_answer(p, json_string_value(answer))) < 0)
        goto out;
    const char *mid = p->local->nmedia ? p->local->media[0].mid : "";
    json_t *cand =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "__module__", "kurento", "__type__",
                      "IceCandidate", "candidate", p->cand, "sdpMid", mid, "sdpMLineIndex", 0);
    if ((rc = invoke_void(ep, "gatherCandidates", NULL)) < 0 ||
        (rc = invoke_void(ep, "addIceCandidate", json_pack("{s:o}", "candidate", cand))) < 0)
        goto out;
    p->t.signalled = fl_time_now();
out:
    fluo.pump = NULL;
    json_decref(answer);
    free(offer);
    return rc < 0 ? rc : 0;
}

/* Releases what was made for the peer (see wr_server.leave). */
static int fluo_leave(wr_bench *b, wr_peer *p)
{
    (void)b;
    if (!p->srv_obj[0])
        return 0;
    json_t *v = rpc("release", json_pack("{s:s}", "object", p->srv_obj));
    if (strcmp(p->srv_obj, fluo.pipeline) == 0)
        fluo.pipeline[0] = '\0'; /* the next publisher makes a new one */
    p->srv_obj[0] = '\0';
    int rc = v ? 0 : FL_EIO;
    json_decref(v);
    return rc;
}

static void fluo_stop(wr_bench *b)
{
    if (fluo.ws)
        fl_ws_destroy(fluo.ws);
    if (fluo.fd > 0)
        close(fluo.fd);
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        int st;
        for (int i = 0; i < 100 && waitpid(b->pid, &st, WNOHANG) == 0; i++)
            usleep(50000);
        if (waitpid(b->pid, &st, WNOHANG) == 0) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
        }
    }
    if (fluo.cfg_path[0])
        unlink(fluo.cfg_path);
    for (size_t i = 0; i < fluo.npublishers; i++)
        free(fluo.publishers[i]);
    free(fluo.publishers);
    memset(&fluo, 0, sizeof(fluo));
}

wr_server fl_wr_server_fluo = {
    .name = "fluo",
    .start = fluo_start,
    .echo = fluo_echo,
    .publish = fluo_publish,
    .view = fluo_view,
    .join = fluo_join,
    .leave = fluo_leave,
    .stop = fluo_stop,
};
