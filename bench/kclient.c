/* The blocking Kurento Protocol client of fluo-bench (see kclient.h). */
#include "bench/kclient.h"

#include <arpa/inet.h>
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

#include "base/bytes.h"
#include "base/err.h"
#include "base/http.h"
#include "bench/janus.h"

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

static int ws_flush(fl_bench_kc *kc)
{
    fl_bytes out;
    while (fl_ws_poll_transmit(kc->ws, &out) == 0) {
        int rc = write_all(kc->fd, out.data, out.len);
        fl_bytes_deinit(&out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Runs the harness's loop (outside uv_run: the caller is not in a
 * callback) until the control connection is readable. */
static void pump_until_readable(fl_bench_kc *kc)
{
    wr_bench *b = kc->b;
    struct pollfd pf[2] = { { .fd = kc->fd, .events = POLLIN }, { .fd = b->fd, .events = POLLIN } };
    for (;;) {
        uv_run(&b->loop, UV_RUN_NOWAIT);
        pf[0].revents = pf[1].revents = 0;
        int n = poll(pf, 2, 1); /* the client's tick is 1 ms */
        if ((n < 0 && errno != EINTR) || pf[0].revents)
            return;
    }
}

json_t *fl_bench_kc_next(fl_bench_kc *kc)
{
    uint8_t buf[65536];
    for (;;) {
        fl_ws_event ev;
        while (fl_ws_poll_event(kc->ws, &ev) == 0) {
            json_t *msg = ev.type == FL_WS_EVENT_TEXT
                                  ? json_loadb((const char *)ev.data, ev.len, 0, NULL)
                                  : NULL;
            if (msg)
                return msg;
        }
        if (kc->pump || kc->b->pump_calls)
            pump_until_readable(kc);
        ssize_t n = read(kc->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "fluo-bench: the fluo control connection closed\n");
            return NULL;
        }
        fl_ws_handle_input(kc->ws, buf, (size_t)n);
        ws_flush(kc);
    }
}

json_t *fl_bench_kc_value(fl_bench_kc *kc, const char *method, json_t *msg)
{
    json_t *err = json_object_get(msg, "error");
    if (err) {
        fprintf(stderr, "fluo-bench: %s: %s\n", method,
                json_string_value(json_object_get(err, "message")));
        return NULL;
    }
    json_t *result = json_object_get(msg, "result");
    const char *sid = json_string_value(json_object_get(result, "sessionId"));
    if (sid)
        snprintf(kc->session, sizeof(kc->session), "%s", sid);
    json_t *v = json_object_get(result, "value");
    return v ? json_incref(v) : json_null();
}

int fl_bench_kc_send(fl_bench_kc *kc, const char *method, json_t *params)
{
    int id = ++kc->next_id;
    if (kc->session[0])
        json_object_set_new(params, "sessionId", json_string(kc->session));
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = text ? fl_ws_send_text(kc->ws, text, strlen(text)) : FL_ENOMEM;
    free(text);
    if (rc == 0)
        rc = ws_flush(kc);
    return rc < 0 ? rc : id;
}

json_t *fl_bench_kc_call(fl_bench_kc *kc, const char *method, json_t *params)
{
    int id = fl_bench_kc_send(kc, method, params);
    if (id < 0)
        return NULL;
    for (;;) {
        json_t *msg = fl_bench_kc_next(kc);
        if (!msg)
            return NULL;
        json_t *jid = json_object_get(msg, "id");
        if (json_is_integer(jid) && json_integer_value(jid) == id) {
            json_t *v = fl_bench_kc_value(kc, method, msg);
            json_decref(msg);
            return v;
        }
        json_decref(msg); /* an event notification */
    }
}

int fl_bench_kc_create(fl_bench_kc *kc, const char *type, json_t *ctor, char *id, size_t cap)
{
    json_t *params = ctor ? json_pack("{s:s, s:o}", "type", type, "constructorParams", ctor)
                          : json_pack("{s:s}", "type", type);
    json_t *v = fl_bench_kc_call(kc, "create", params);
    int rc = json_is_string(v) && json_string_length(v) < cap ? 0 : FL_EIO;
    if (rc == 0)
        snprintf(id, cap, "%s", json_string_value(v));
    json_decref(v);
    return rc;
}

json_t *fl_bench_kc_invoke(fl_bench_kc *kc, const char *object, const char *op, json_t *params)
{
    return fl_bench_kc_call(kc, "invoke",
                            json_pack("{s:s, s:s, s:o}", "object", object, "operation", op,
                                      "operationParams", params ? params : json_object()));
}

int fl_bench_kc_invoke_void(fl_bench_kc *kc, const char *object, const char *op, json_t *params)
{
    json_t *v = fl_bench_kc_invoke(kc, object, op, params);
    json_decref(v);
    return v ? 0 : FL_EIO;
}

/* Where fluo is: loopback, or its side of the veth (b->veth). */
static const char *server_ip(const fl_bench_kc *kc)
{
    return kc->b->veth ? FL_BENCH_NETNS_SERVER_IP : "127.0.0.1";
}

static int connect_tcp(const fl_bench_kc *kc)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)kc->port) };
    inet_pton(AF_INET, server_ip(kc), &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int ws_open(fl_bench_kc *kc)
{
    char host[64], key[25];
    snprintf(host, sizeof(host), "%s:%d", server_ip(kc), kc->port);
    fl_bytes req;
    fl_bytes_init(&req);
    int rc = fl_ws_handshake_client_write(&req, host, "/kurento", &kc->b->rand, key);
    if (rc == 0)
        rc = write_all(kc->fd, req.data, req.len);
    fl_bytes_deinit(&req);
    if (rc < 0)
        return FL_EIO;
    uint8_t buf[4096];
    size_t have = 0;
    fl_http_head head;
    fl_http_head_init(&head, FL_HTTP_RESPONSE);
    for (;;) {
        ssize_t n = read(kc->fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return FL_EIO;
        size_t used = 0;
        rc = fl_http_head_parse(&head, buf + have, (size_t)n, &used);
        have += (size_t)n;
        if (rc == FL_EAGAIN)
            continue;
        if (rc < 0 || fl_ws_handshake_client_check(&head, key) < 0)
            return FL_EPROTO;
        fl_ws_config wc = { .role = FL_WS_CLIENT, .rand = &kc->b->rand, .max_message = 4 << 20 };
        if (fl_ws_create(&kc->ws, &wc) < 0)
            return FL_ENOMEM;
        size_t rest = (size_t)n - used;
        if (rest)
            fl_ws_handle_input(kc->ws, buf + have - rest, rest);
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

/* fluo's configuration into a fresh temporary file (kc->cfg_path). */
static int write_config(fl_bench_kc *kc, json_t *fluo_cfg)
{
    json_t *cfg = json_pack("{s:{s:s}, s:{s:s}}", "WebRtcEndpoint", "networkInterfaces",
                            kc->b->veth ? FL_BENCH_NETNS_SERVER_IF : "lo", "fluo", "log", "*:2");
    if (cfg && fluo_cfg)
        json_object_update(json_object_get(cfg, "fluo"), fluo_cfg);
    snprintf(kc->cfg_path, sizeof(kc->cfg_path), "/tmp/fluo-bench-XXXXXX");
    int fd = mkstemp(kc->cfg_path);
    if (fd < 0)
        kc->cfg_path[0] = '\0';
    int rc = cfg && fd >= 0 && json_dumpfd(cfg, fd, JSON_COMPACT) == 0 ? 0 : FL_EIO;
    if (fd >= 0)
        close(fd);
    json_decref(cfg);
    return rc;
}

int fl_bench_kc_start(fl_bench_kc *kc, wr_bench *b, json_t *fluo_cfg)
{
    kc->b = b;
    kc->fd = -1;
    if (write_config(kc, fluo_cfg) < 0 || (kc->port = free_port()) < 0)
        return FL_EIO;
    char port[16], workers[16];
    snprintf(port, sizeof(port), "%d", kc->port);
    snprintf(workers, sizeof(workers), "%d", b->workers);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the harness */
        if (b->veth && fl_bench_netns_enter() < 0) {
            fprintf(stderr, "fluo-bench: cannot enter the bench's namespace\n");
            _exit(127);
        }
        execl(b->fluo_bin, b->fluo_bin, "--port", port, "--config", kc->cfg_path, "--workers",
              workers, (char *)NULL);
        fprintf(stderr, "fluo-bench: cannot run %s: %s\n", b->fluo_bin, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return FL_EIO;
    kc->pid = pid;
    for (int i = 0; i < 100 && (kc->fd = connect_tcp(kc)) < 0; i++) { /* up to 5 s */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { /* it exited: nothing will answer */
            kc->pid = 0;
            fprintf(stderr, "fluo-bench: %s exited at start (status %d)\n", b->fluo_bin,
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return FL_EIO;
        }
        usleep(50000);
    }
    if (kc->fd < 0 || ws_open(kc) < 0) {
        fprintf(stderr, "fluo-bench: no Kurento Protocol on port %d\n", kc->port);
        return FL_EIO;
    }
    json_t *v = fl_bench_kc_call(kc, "ping", json_object());
    json_decref(v);
    return v ? 0 : FL_EIO;
}

int fl_bench_kc_start_with(fl_bench_kc *kc, wr_bench *b, const char *key, const char *value)
{
    json_t *cfg = json_pack("{s:s}", key, value);
    int rc = cfg ? fl_bench_kc_start(kc, b, cfg) : FL_ENOMEM;
    json_decref(cfg);
    b->pid = kc->pid;
    return rc;
}

void fl_bench_kc_stop_bench(fl_bench_kc *kc, wr_bench *b)
{
    fl_bench_kc_stop(kc);
    b->pid = 0;
}

void fl_bench_kc_stop(fl_bench_kc *kc)
{
    if (kc->ws)
        fl_ws_destroy(kc->ws);
    if (kc->fd >= 0)
        close(kc->fd);
    if (kc->pid > 0) {
        kill(kc->pid, SIGTERM);
        kill(kc->pid, SIGCONT); /* one stopped (SIGSTOP) takes its SIGTERM now */
        int st;
        for (int i = 0; i < 100 && waitpid(kc->pid, &st, WNOHANG) == 0; i++)
            usleep(50000);
        if (waitpid(kc->pid, &st, WNOHANG) == 0) {
            kill(kc->pid, SIGKILL);
            waitpid(kc->pid, &st, 0);
        }
    }
    if (kc->cfg_path[0])
        unlink(kc->cfg_path);
    *kc = (fl_bench_kc)FL_BENCH_KC_INIT;
}
