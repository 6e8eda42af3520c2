/* Janus for fluo-bench: a namespace, a config folder, the process, and a
 * tiny blocking HTTP/1.1 client for the Janus API (see janus.h). */
#include "bench/janus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"

#define JANUS_NETNS      "fluobench-janus"
#define JANUS_VETH_HOST  "fbjanus0"
#define JANUS_VETH_NS    "fbjanus1"
#define JANUS_HOST_IP    "10.213.0.1"
#define JANUS_NS_IP      "10.213.0.2"
#define JANUS_PORT       8088
#define JANUS_ROOM       1234
#define JANUS_TIMEOUT_MS 10000
#define JANUS_MAX_BODY   (16u << 20) /* longest HTTP response accepted */

struct fl_bench_janus {
    pid_t pid;
    fl_bench_netns net;
    char dir[64]; /* the temporary folder; "" when none */
    uint64_t session;
    uint64_t room_handle; /* 0 until the room is created */
    unsigned next_txn;
    uint64_t *subs; /* subscriber handles; a token is index + 1 */
    size_t nsubs, subs_cap;
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Runs argv (argv[0] looked up in PATH) and waits; 0 when it exits 0.
 * quiet: its output goes to /dev/null. */
static int run_cmd(int quiet, char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return FL_EIO;
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return FL_EIO;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (!quiet) {
            fprintf(stderr, "janus: command failed:");
            for (size_t i = 0; argv[i]; i++)
                fprintf(stderr, " %s", argv[i]);
            fprintf(stderr, "\n");
        }
        return FL_EIO;
    }
    return 0;
}

#define RUN(quiet, ...) run_cmd(quiet, (char *const[]){ __VA_ARGS__, NULL })

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "janus: cannot write %s: %s\n", path, strerror(errno));
        return FL_EIO;
    }
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    return bad ? FL_EIO : 0;
}

/* Prints the end of Janus's log on stderr. */
static void print_log_tail(const fl_bench_janus *j)
{
    char path[96], buf[4096];
    snprintf(path, sizeof path, "%s/janus.log", j->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    fprintf(stderr, "janus: --- end of %s ---\n%s%s--- (end) ---\n", path, buf,
            n && buf[n - 1] != '\n' ? "\n" : "");
}

/* ---- the HTTP client ---- */

typedef struct http_resp {
    int status;
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
} http_resp;

static int http_connect(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return FL_ETIMEDOUT;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FL_EIO;
    struct timeval tv = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* connect too */
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(JANUS_PORT) };
    inet_pton(AF_INET, JANUS_NS_IP, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT ? FL_ETIMEDOUT : FL_EIO;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? FL_ETIMEDOUT : FL_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decodes a chunked body in place; FL_EAGAIN when incomplete. */
static int dechunk(char *p, size_t n, size_t *out_len)
{
    size_t r = 0, w = 0;
    for (;;) {
        char *eol = memmem(p + r, n - r, "\r\n", 2);
        if (!eol)
            return FL_EAGAIN;
        char *end;
        unsigned long sz = strtoul(p + r, &end, 16);
        if (end == p + r)
            return FL_EBADMSG;
        r = (size_t)(eol - p) + 2;
        if (sz == 0) {
            *out_len = w;
            return 0; /* trailers ignored */
        }
        if (n - r < sz + 2)
            return FL_EAGAIN;
        memmove(p + w, p + r, sz);
        w += sz;
        r += sz + 2;
    }
}

/* Parses a complete response in buf (len bytes); FL_EAGAIN when more is
 * needed (eof: the peer closed, so what is there is all). */
static int http_parse(char *buf, size_t len, int eof, http_resp *resp)
{
    char *hend = memmem(buf, len, "\r\n\r\n", 4);
    if (!hend)
        return eof ? FL_EBADMSG : FL_EAGAIN;
    *hend = 0;
    char *body = hend + 4;
    size_t have = len - (size_t)(body - buf);
    int status = 0, chunked = 0;
    long clen = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        *hend = '\r';
        return FL_EBADMSG;
    }
    for (char *l = strstr(buf, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = strtol(h + 15, NULL, 10);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strcasestr(h, "chunked"))
            chunked = 1;
    }
    *hend = '\r';
    size_t blen;
    if (chunked) {
        char *tmp = malloc(have + 1);
        if (!tmp)
            return FL_ENOMEM;
        memcpy(tmp, body, have);
        int rc = dechunk(tmp, have, &blen);
        if (rc < 0) {
            free(tmp);
            return rc == FL_EAGAIN && eof ? FL_EBADMSG : rc;
        }
        tmp[blen] = 0;
        resp->body = tmp;
    } else {
        if (clen >= 0 && have < (size_t)clen)
            return eof ? FL_EBADMSG : FL_EAGAIN;
        if (clen < 0 && !eof)
            return FL_EAGAIN;
        blen = clen >= 0 ? (size_t)clen : have;
        resp->body = malloc(blen + 1);
        if (!resp->body)
            return FL_ENOMEM;
        memcpy(resp->body, body, blen);
        resp->body[blen] = 0;
    }
    resp->status = status;
    resp->len = blen;
    return 0;
}

/* One request on a fresh connection (Connection: close). body NULL: GET. */
static int http_request(const char *path, const char *body, int64_t deadline, http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    int fd = http_connect(deadline);
    if (fd < 0)
        return fd;
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                      "Accept: application/json\r\n",
                      body ? "POST" : "GET", path, JANUS_NS_IP, JANUS_PORT);
    if (body)
        hl += snprintf(head + hl, sizeof head - (size_t)hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    int rc = send_all(fd, head, (size_t)hl);
    if (rc == 0 && body)
        rc = send_all(fd, body, blen);
    size_t len = 0, cap = 16384;
    char *buf = rc == 0 ? malloc(cap) : NULL;
    if (rc == 0 && !buf)
        rc = FL_ENOMEM;
    while (rc == 0) {
        if (cap - len < 4096) {
            char *nb = cap >= JANUS_MAX_BODY ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                rc = cap >= JANUS_MAX_BODY ? FL_EMSGSIZE : FL_ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno == EAGAIN || errno == EWOULDBLOCK ? FL_ETIMEDOUT : FL_EIO;
            break;
        }
        len += (size_t)n;
        rc = http_parse(buf, len, n == 0, resp);
        if (rc != FL_EAGAIN)
            break;
        rc = 0;
    }
    free(buf);
    close(fd);
    return rc;
}

/* ---- the Janus API ---- */

/* POSTs a Janus request (a "transaction" is added) to path and returns the
 * parsed reply; *txn (if not NULL) gets the transaction. */
static int api_post(fl_bench_janus *j, const char *path, json_t *req, char *txn, json_t **out)
{
    char t[32];
    snprintf(t, sizeof t, "fl%u", ++j->next_txn);
    if (txn)
        strcpy(txn, t);
    json_object_set_new(req, "transaction", json_string(t));
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return FL_ENOMEM;
    http_resp resp;
    int rc = http_request(path, text, now_ms() + JANUS_TIMEOUT_MS, &resp);
    free(text);
    if (rc < 0) {
        fprintf(stderr, "janus: POST %s: %s\n", path, fl_strerror(rc));
        return rc;
    }
    json_error_t jerr;
    json_t *reply = json_loadb(resp.body, resp.len, 0, &jerr);
    if (resp.status != 200 || !json_is_object(reply)) {
        fprintf(stderr, "janus: POST %s: HTTP %d: %.300s\n", path, resp.status, resp.body);
        free(resp.body);
        json_decref(reply);
        return FL_EPROTO;
    }
    free(resp.body);
    const char *kind = json_string_value(json_object_get(reply, "janus"));
    if (!kind || strcmp(kind, "error") == 0) {
        json_t *e = json_object_get(reply, "error");
        fprintf(stderr, "janus: POST %s: error %" JSON_INTEGER_FORMAT ": %s\n", path,
                json_integer_value(json_object_get(e, "code")),
                json_string_value(json_object_get(e, "reason")) ?: "(no reason)");
        json_decref(reply);
        return FL_EPROTO;
    }
    *out = reply;
    return 0;
}

/* The "data"."id" of a success reply. */
static int reply_id(json_t *reply, uint64_t *id)
{
    json_t *v = json_object_get(json_object_get(reply, "data"), "id");
    if (!json_is_integer(v)) {
        fprintf(stderr, "janus: reply without data.id\n");
        return FL_EPROTO;
    }
    *id = (uint64_t)json_integer_value(v);
    return 0;
}

static int attach(fl_bench_janus *j, const char *plugin, uint64_t *handle)
{
    char path[64];
    snprintf(path, sizeof path, "/janus/%" PRIu64, j->session);
    json_t *req = json_pack("{s:s, s:s}", "janus", "attach", "plugin", plugin);
    json_t *reply;
    int rc = api_post(j, path, req, NULL, &reply);
    if (rc < 0)
        return rc;
    rc = reply_id(reply, handle);
    json_decref(reply);
    return rc;
}

/* Detaches a handle that is no use (errors ignored). */
static void detach(fl_bench_janus *j, uint64_t handle)
{
    char path[96];
    snprintf(path, sizeof path, "/janus/%" PRIu64 "/%" PRIu64, j->session, handle);
    json_t *reply;
    if (api_post(j, path, json_pack("{s:s}", "janus", "detach"), NULL, &reply) == 0)
        json_decref(reply);
}

/* Checks one long-poll event: 1 when it is the answer to txn from handle
 * (*out takes a reference), 0 to skip it. */
static int match_event(json_t *ev, uint64_t handle, const char *txn, json_t **out)
{
    const char *t = json_string_value(json_object_get(ev, "transaction"));
    json_t *sender = json_object_get(ev, "sender");
    if (!t || strcmp(t, txn) != 0)
        return 0;
    if (json_is_integer(sender) && (uint64_t)json_integer_value(sender) != handle)
        return 0;
    *out = json_incref(ev);
    return 1;
}

/* Long-polls the session until the event answering txn on handle comes;
 * events for other handles (webrtcup, media, publisher lists) are dropped. */
static int wait_event(fl_bench_janus *j, uint64_t handle, const char *txn, json_t **out)
{
    int64_t deadline = now_ms() + JANUS_TIMEOUT_MS;
    char path[96];
    *out = NULL;
    while (!*out) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "janus: no event for transaction %s after %d s\n", txn,
                    JANUS_TIMEOUT_MS / 1000);
            return FL_ETIMEDOUT;
        }
        snprintf(path, sizeof path, "/janus/%" PRIu64 "?maxev=100&rid=%" PRId64, j->session,
                 now_ms());
        http_resp resp;
        int rc = http_request(path, NULL, deadline, &resp);
        if (rc < 0) {
            fprintf(stderr, "janus: long poll for transaction %s: %s\n", txn, fl_strerror(rc));
            return rc;
        }
        json_t *evs = json_loadb(resp.body, resp.len, 0, NULL);
        if (resp.status != 200 || !evs) {
            fprintf(stderr, "janus: long poll: HTTP %d: %.300s\n", resp.status, resp.body);
            free(resp.body);
            json_decref(evs);
            return FL_EPROTO;
        }
        free(resp.body);
        if (json_is_array(evs)) {
            size_t i;
            json_t *ev;
            json_array_foreach(evs, i, ev)
            {
                if (!*out)
                    match_event(ev, handle, txn, out);
            }
        } else {
            match_event(evs, handle, txn, out);
        }
        json_decref(evs);
    }
    return 0;
}

/* Sends a plugin message (body, and a jsep when sdp is not NULL) to handle.
 * sync: the reply itself carries the plugin's answer (*out: its
 * plugindata.data); otherwise it is an ack and the answer is an event
 * (*out: the whole event). */
static int message(fl_bench_janus *j,
                   uint64_t handle,
                   json_t *body,
                   const char *type,
                   const char *sdp,
                   json_t **out)
{
    char path[96], txn[32];
    snprintf(path, sizeof path, "/janus/%" PRIu64 "/%" PRIu64, j->session, handle);
    json_t *req = json_pack("{s:s, s:o}", "janus", "message", "body", body);
    if (sdp)
        json_object_set_new(req, "jsep",
                            json_pack("{s:s, s:s, s:b}", "type", type, "sdp", sdp, "trickle", 0));
    json_t *reply;
    int rc = api_post(j, path, req, txn, &reply);
    if (rc < 0)
        return rc;
    const char *kind = json_string_value(json_object_get(reply, "janus"));
    if (strcmp(kind, "success") == 0) {
        *out = reply;
        return 0;
    }
    if (strcmp(kind, "ack") != 0) {
        fprintf(stderr, "janus: unexpected reply \"%s\" to a message\n", kind);
        json_decref(reply);
        return FL_EPROTO;
    }
    json_decref(reply);
    return wait_event(j, handle, txn, out);
}

/* The plugin's data in a reply or event; FL_EPROTO (reason printed) when it
 * reports an error. */
static int plugin_data(json_t *ev, const char *what, json_t **data)
{
    *data = json_object_get(json_object_get(ev, "plugindata"), "data");
    if (!json_is_object(*data)) {
        fprintf(stderr, "janus: %s: reply without plugindata\n", what);
        return FL_EPROTO;
    }
    json_t *code = json_object_get(*data, "error_code");
    if (code) {
        fprintf(stderr, "janus: %s: plugin error %" JSON_INTEGER_FORMAT ": %s\n", what,
                json_integer_value(code),
                json_string_value(json_object_get(*data, "error")) ?: "(no reason)");
        return FL_EPROTO;
    }
    return 0;
}

/* The jsep SDP of an event (of type `type`), malloc'd; it must carry
 * candidates. */
static int event_sdp(json_t *ev, const char *what, const char *type, char **sdp)
{
    json_t *jsep = json_object_get(ev, "jsep");
    const char *t = json_string_value(json_object_get(jsep, "type"));
    const char *s = json_string_value(json_object_get(jsep, "sdp"));
    if (!t || !s || strcmp(t, type) != 0) {
        fprintf(stderr, "janus: %s: no %s in the event\n", what, type);
        return FL_EPROTO;
    }
    if (!strstr(s, "a=candidate:")) {
        fprintf(stderr, "janus: %s: the %s has no candidates\n", what, type);
        return FL_EPROTO;
    }
    *sdp = strdup(s);
    return *sdp ? 0 : FL_ENOMEM;
}

/* ---- setup and teardown ---- */

/* As Debian's /etc/janus/janus.jcfg ships it for a production install
 * (debug_level 4), with event_loops set to the core count as its comment
 * advises for load (the "%d"), instead of a thread per handle. */
static const char janus_jcfg[] =
        "general: {\n"
        "\tdebug_level = 4\n"
        "\tevent_loops = %d\n"
        "\tdebug_colors = false\n"
        "\tinterface = \"" JANUS_NS_IP "\"\n"
        "\tserver_name = \"fluobench\"\n"
        "\tsession_timeout = 0\n"
        "\treclaim_session_timeout = 0\n"
        "}\n"
        "certificates: {\n}\n"
        "media: {\n"
        "\tipv6 = false\n"
        "\trtp_port_range = \"20000-40000\"\n"
        "\tno_media_timer = 0\n"
        "}\n"
        "nat: {\n"
        "\tnice_debug = false\n"
        "\tfull_trickle = false\n"
        "\tignore_mdns = true\n"
        "\tice_enforce_list = \"" JANUS_NS_IP "\"\n"
        "}\n"
        "plugins: {\n"
        "\tdisable = \"libjanus_audiobridge.so,libjanus_duktape.so,libjanus_lua.so,"
        "libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,"
        "libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so\"\n"
        "}\n"
        "transports: {\n"
        "\tdisable = \"libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,"
        "libjanus_rabbitmq.so,libjanus_websockets.so\"\n"
        "}\n"
        "loggers: {\n"
        "\tdisable = \"libjanus_jsonlog.so\"\n"
        "}\n"
        "events: {\n"
        "\tbroadcast = false\n"
        "}\n";

static const char http_jcfg[] = "general: {\n"
                                "\tjson = \"compact\"\n"
                                "\tbase_path = \"/janus\"\n"
                                "\thttp = true\n"
                                "\tport = 8088\n"
                                "\tip = \"" JANUS_NS_IP "\"\n"
                                "\thttps = false\n"
                                "}\n"
                                "admin: {\n"
                                "\tadmin_http = false\n"
                                "\tadmin_https = false\n"
                                "}\n"
                                "cors: {\n}\n";

static const char echotest_jcfg[] = "general: {\n\tevents = false\n}\n";

static const char videoroom_jcfg[] = "general: {\n\tevents = false\n}\n";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fl_bench_netns_down(fl_bench_netns *n)
{
    if (n->veth_made) {
        RUN(1, "ip", "route", "del", "local", FL_BENCH_NETNS_PEERS, "dev", "lo");
        RUN(1, "ip", "link", "del", JANUS_VETH_HOST);
    }
    if (n->netns_made)
        RUN(1, "ip", "netns", "del", JANUS_NETNS);
    n->veth_made = n->netns_made = 0;
}

/* Removes what is there of the namespace, the veth and the folder. */
static void teardown_net(fl_bench_janus *j)
{
    fl_bench_netns_down(&j->net);
    if (j->dir[0])
        nftw(j->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    j->dir[0] = 0;
}

int fl_bench_netns_up(fl_bench_netns *n)
{
    char path[128];
    memset(n, 0, sizeof *n);
    snprintf(path, sizeof path, "/run/netns/%s", JANUS_NETNS);
    if (access(path, F_OK) == 0) {
        /* Left over by a run that crashed, unless something runs in it. */
        char cmd[160];
        snprintf(cmd, sizeof cmd, "ip netns pids %s | grep -q .", JANUS_NETNS);
        if (system(cmd) == 0) {
            fprintf(stderr, "janus: namespace %s is in use (another benchmark?)\n", JANUS_NETNS);
            return FL_EBUSY;
        }
        RUN(1, "ip", "netns", "del", JANUS_NETNS);
    }
    RUN(1, "ip", "link", "del", JANUS_VETH_HOST);
    if (RUN(0, "ip", "netns", "add", JANUS_NETNS) < 0)
        return FL_EIO;
    n->netns_made = 1;
    if (RUN(0, "ip", "link", "add", JANUS_VETH_HOST, "type", "veth", "peer", "name", JANUS_VETH_NS,
            "netns", JANUS_NETNS) < 0)
        goto fail;
    n->veth_made = 1;
    if (RUN(0, "ip", "addr", "add", JANUS_HOST_IP "/24", "dev", JANUS_VETH_HOST) < 0 ||
        RUN(0, "ip", "link", "set", JANUS_VETH_HOST, "up") < 0 ||
        RUN(0, "ip", "-n", JANUS_NETNS, "addr", "add", JANUS_NS_IP "/24", "dev", JANUS_VETH_NS) <
                0 ||
        RUN(0, "ip", "-n", JANUS_NETNS, "link", "set", JANUS_VETH_NS, "up") < 0 ||
        RUN(0, "ip", "-n", JANUS_NETNS, "link", "set", "lo", "up") < 0 ||
        RUN(0, "ip", "-n", JANUS_NETNS, "route", "add", FL_BENCH_NETNS_PEERS, "via",
            JANUS_HOST_IP) < 0)
        goto fail;
    RUN(1, "ip", "route", "del", "local", FL_BENCH_NETNS_PEERS, "dev", "lo"); /* a crashed run's */
    if (RUN(0, "ip", "route", "add", "local", FL_BENCH_NETNS_PEERS, "dev", "lo") < 0)
        goto fail;
    return 0;
fail:
    fl_bench_netns_down(n);
    return FL_EIO;
}

int fl_bench_netns_enter(void)
{
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", JANUS_NETNS);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FL_EIO;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc < 0 ? FL_EIO : 0;
}

static int write_config(fl_bench_janus *j)
{
    strcpy(j->dir, "/tmp/fluobench-janus.XXXXXX");
    if (!mkdtemp(j->dir)) {
        fprintf(stderr, "janus: mkdtemp: %s\n", strerror(errno));
        j->dir[0] = 0;
        return FL_EIO;
    }
    char jcfg[sizeof janus_jcfg + 16];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(jcfg, sizeof jcfg, janus_jcfg, cores > 0 ? (int)cores : 1);
    if (write_file(j->dir, "janus.jcfg", jcfg) < 0 ||
        write_file(j->dir, "janus.transport.http.jcfg", http_jcfg) < 0 ||
        write_file(j->dir, "janus.plugin.echotest.jcfg", echotest_jcfg) < 0 ||
        write_file(j->dir, "janus.plugin.videoroom.jcfg", videoroom_jcfg) < 0)
        return FL_EIO;
    return 0;
}

static int spawn_janus(fl_bench_janus *j)
{
    char log[96];
    snprintf(log, sizeof log, "%s/janus.log", j->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "janus: cannot create %s: %s\n", log, strerror(errno));
        return FL_EIO;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return FL_EIO;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(fd, 1);
        dup2(fd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        execlp("ip", "ip", "netns", "exec", JANUS_NETNS, "janus", "-F", j->dir, "-o", (char *)NULL);
        _exit(127);
    }
    close(fd);
    j->pid = pid;
    return 0;
}

/* Waits until GET /janus/info answers, or Janus exits, or 10 s pass. */
static int wait_ready(fl_bench_janus *j)
{
    int64_t deadline = now_ms() + JANUS_TIMEOUT_MS;
    while (now_ms() < deadline) {
        int st;
        if (waitpid(j->pid, &st, WNOHANG) == j->pid) {
            j->pid = 0;
            fprintf(stderr, "janus: exited at start (status %d)\n",
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return FL_EIO;
        }
        http_resp resp;
        int64_t t = now_ms() + 1000;
        if (http_request("/janus/info", NULL, t < deadline ? t : deadline, &resp) == 0) {
            int ok = resp.status == 200 && strstr(resp.body, "\"server_info\"");
            free(resp.body);
            if (ok)
                return 0;
        }
        sleep_ms(100);
    }
    fprintf(stderr, "janus: GET http://%s:%d/janus/info did not answer in %d s\n", JANUS_NS_IP,
            JANUS_PORT, JANUS_TIMEOUT_MS / 1000);
    return FL_ETIMEDOUT;
}

static void kill_janus(fl_bench_janus *j)
{
    if (j->pid <= 0)
        return;
    kill(j->pid, SIGTERM);
    int64_t deadline = now_ms() + 3000;
    int st;
    pid_t r;
    while ((r = waitpid(j->pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
        sleep_ms(20);
    if (r == 0) {
        kill(j->pid, SIGKILL);
        while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    j->pid = 0;
}

static int create_session(fl_bench_janus *j)
{
    json_t *reply;
    int rc = api_post(j, "/janus", json_pack("{s:s}", "janus", "create"), NULL, &reply);
    if (rc < 0)
        return rc;
    rc = reply_id(reply, &j->session);
    json_decref(reply);
    return rc;
}

int fl_bench_janus_start(fl_bench_janus **out, char *client_ip, size_t cap)
{
    *out = NULL;
    if (!client_ip || cap < sizeof JANUS_HOST_IP)
        return FL_ERANGE;
    fl_bench_janus *j = calloc(1, sizeof *j);
    if (!j)
        return FL_ENOMEM;
    int rc = fl_bench_netns_up(&j->net);
    if (rc == 0)
        rc = write_config(j);
    if (rc == 0)
        rc = spawn_janus(j);
    if (rc == 0)
        rc = wait_ready(j);
    if (rc == 0)
        rc = create_session(j);
    if (rc < 0) {
        fprintf(stderr, "janus: start failed: %s\n", fl_strerror(rc));
        kill_janus(j);
        if (j->dir[0])
            print_log_tail(j);
        teardown_net(j);
        free(j);
        return rc;
    }
    strcpy(client_ip, JANUS_HOST_IP);
    *out = j;
    return 0;
}

int fl_bench_janus_pid(const fl_bench_janus *j)
{
    return j ? (int)j->pid : -1;
}

void fl_bench_janus_stop(fl_bench_janus *j)
{
    if (!j)
        return;
    kill_janus(j);
    teardown_net(j);
    free(j->subs);
    free(j);
}

/* ---- EchoTest and VideoRoom ---- */

int fl_bench_janus_echo(fl_bench_janus *j, const char *offer, char **answer)
{
    uint64_t h;
    *answer = NULL;
    int rc = attach(j, "janus.plugin.echotest", &h);
    if (rc < 0)
        return rc;
    json_t *ev, *data;
    rc = message(j, h, json_pack("{s:b, s:b}", "audio", 1, "video", 1), "offer", offer, &ev);
    if (rc < 0)
        return rc;
    rc = plugin_data(ev, "echotest", &data);
    if (rc == 0)
        rc = event_sdp(ev, "echotest", "answer", answer);
    json_decref(ev);
    return rc;
}

static int create_room(fl_bench_janus *j)
{
    uint64_t h;
    int rc = attach(j, "janus.plugin.videoroom", &h);
    if (rc < 0)
        return rc;
    json_t *body =
            json_pack("{s:s, s:I, s:i, s:i, s:s, s:s, s:b, s:b, s:b}", "request", "create", "room",
                      (json_int_t)JANUS_ROOM, "publishers", 1000, "bitrate", 0, "videocodec", "vp8",
                      "audiocodec", "opus", "notify_joining", 0, "permanent", 0, "is_private", 0);
    json_t *reply, *data;
    rc = message(j, h, body, NULL, NULL, &reply);
    if (rc < 0)
        return rc;
    rc = plugin_data(reply, "videoroom create", &data);
    json_decref(reply);
    if (rc == 0)
        j->room_handle = h;
    return rc;
}

int fl_bench_janus_publish(fl_bench_janus *j, const char *offer, char **answer, uint64_t *feed)
{
    *answer = NULL;
    int rc = j->room_handle ? 0 : create_room(j);
    if (rc < 0)
        return rc;
    uint64_t h;
    rc = attach(j, "janus.plugin.videoroom", &h);
    if (rc < 0)
        return rc;
    json_t *body = json_pack("{s:s, s:I, s:s, s:b, s:b}", "request", "joinandconfigure", "room",
                             (json_int_t)JANUS_ROOM, "ptype", "publisher", "audio", 1, "video", 1);
    json_t *ev, *data;
    rc = message(j, h, body, "offer", offer, &ev);
    if (rc < 0)
        return rc;
    rc = plugin_data(ev, "videoroom publish", &data);
    json_t *id = rc == 0 ? json_object_get(data, "id") : NULL;
    if (rc == 0 && !json_is_integer(id)) {
        fprintf(stderr, "janus: videoroom publish: no publisher id in the event\n");
        rc = FL_EPROTO;
    }
    if (rc == 0)
        rc = event_sdp(ev, "videoroom publish", "answer", answer);
    if (rc == 0)
        *feed = (uint64_t)json_integer_value(id);
    json_decref(ev);
    return rc;
}

int fl_bench_janus_subscribe(fl_bench_janus *j, uint64_t feed, char **offer, void **sub)
{
    *offer = NULL;
    *sub = NULL;
    if (j->nsubs == j->subs_cap) {
        size_t cap = j->subs_cap ? j->subs_cap * 2 : 64;
        uint64_t *s = realloc(j->subs, cap * sizeof *s);
        if (!s)
            return FL_ENOMEM;
        j->subs = s;
        j->subs_cap = cap;
    }
    uint64_t h;
    int rc = attach(j, "janus.plugin.videoroom", &h);
    if (rc < 0)
        return rc;
    json_t *body =
            json_pack("{s:s, s:I, s:s, s:I}", "request", "join", "room", (json_int_t)JANUS_ROOM,
                      "ptype", "subscriber", "feed", (json_int_t)feed);
    json_t *ev, *data;
    rc = message(j, h, body, NULL, NULL, &ev);
    if (rc < 0)
        return rc;
    rc = plugin_data(ev, "videoroom subscribe", &data);
    if (rc < 0 && json_integer_value(json_object_get(data, "error_code")) == 428) {
        rc = FL_EAGAIN; /* VideoRoom takes subscribers only once the feed is up */
    }
    if (rc == 0)
        rc = event_sdp(ev, "videoroom subscribe", "offer", offer);
    json_decref(ev);
    if (rc < 0) {
        detach(j, h);
        return rc;
    }
    j->subs[j->nsubs++] = h;
    *sub = (void *)(uintptr_t)j->nsubs;
    return 0;
}

int fl_bench_janus_start_subscriber(fl_bench_janus *j, void *sub, const char *answer)
{
    uintptr_t idx = (uintptr_t)sub;
    if (idx == 0 || idx > j->nsubs)
        return FL_EINVAL;
    uint64_t h = j->subs[idx - 1];
    json_t *body = json_pack("{s:s, s:I}", "request", "start", "room", (json_int_t)JANUS_ROOM);
    json_t *ev, *data;
    int rc = message(j, h, body, "answer", answer, &ev);
    if (rc < 0)
        return rc;
    rc = plugin_data(ev, "videoroom start", &data);
    const char *started = rc == 0 ? json_string_value(json_object_get(data, "started")) : NULL;
    if (rc == 0 && (!started || strcmp(started, "ok") != 0)) {
        fprintf(stderr, "janus: videoroom start: not started\n");
        rc = FL_EPROTO;
    }
    json_decref(ev);
    return rc;
}
