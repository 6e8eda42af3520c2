/* engine/bytes_http: the http:// and https:// byte source against node's
 * HTTP server (tests/interop/lib/http_server.js, a child process): a file
 * read in order from one response, reads elsewhere, servers without
 * ranges, chunked answers, redirects, HTTP errors, a refused port, a cut
 * connection, TLS with the right and a wrong CA, and close at any point
 * (the loop ends with nothing left on it). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/player_src.h"

#include <cmocka.h>

#define FILE_SIZE (3 * 1024 * 1024 + 12345)
#define BIG_MIB   32
#define SERVER_JS "tests/interop/lib/http_server.js"

typedef struct server {
    pid_t pid;
    int out; /* its stdout: "port N", then "req ..." lines */
    int port;
    char log[1 << 16];
    size_t log_len;
} server;

static char dir[64];
static uint8_t *file_data;
static server plain_srv, tls_srv;

/* ---- the server ---------------------------------------------------------- */

static int server_start(server *s, const char *cert, const char *key)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (cert)
            execlp("node", "node", SERVER_JS, dir, "0", cert, key, (char *)NULL);
        else
            execlp("node", "node", SERVER_JS, dir, "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->out = fds[0];
    char line[64];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        struct pollfd p = { s->out, POLLIN, 0 };
        if (poll(&p, 1, 10000) <= 0 || read(s->out, line + n, 1) != 1)
            return -1;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    if (sscanf(line, "port %d", &s->port) != 1)
        return -1;
    fcntl(s->out, F_SETFL, O_NONBLOCK);
    return 0;
}

static void server_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        close(s->out);
    }
}

/* How many requests the server logged since the last call. */
static int server_requests(server *s)
{
    usleep(20000);
    s->log_len = 0;
    for (;;) {
        ssize_t r = read(s->out, s->log + s->log_len, sizeof(s->log) - 1 - s->log_len);
        if (r <= 0)
            break;
        s->log_len += (size_t)r;
    }
    s->log[s->log_len] = '\0';
    int n = 0;
    for (const char *p = s->log; (p = strstr(p, "req ")); p += 4)
        n++;
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/fluo-http-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    file_data = malloc(FILE_SIZE);
    uint32_t x = 12345;
    for (size_t i = 0; i < FILE_SIZE; i++) {
        x = x * 1103515245u + 12345u;
        file_data[i] = (uint8_t)(x >> 16);
    }
    char path[128], cmd[1024];
    snprintf(path, sizeof(path), "%s/a.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(file_data, 1, FILE_SIZE, f) != FILE_SIZE)
        return -1;
    fclose(f);
    /* 32 times a.bin's first MiB: more than the read-ahead and the socket
     * buffers can hold */
    snprintf(path, sizeof(path), "%s/big.bin", dir);
    f = fopen(path, "wb");
    for (int i = 0; f && i < BIG_MIB; i++) {
        if (fwrite(file_data, 1, 1 << 20, f) != 1 << 20)
            return -1;
    }
    if (!f)
        return -1;
    fclose(f);
    snprintf(path, sizeof(path), "%s/empty.bin", dir);
    f = fopen(path, "wb");
    if (!f)
        return -1;
    fclose(f);
    /* a self-signed certificate for localhost, and another (a wrong CA) */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
                 "-keyout %s/key%d.pem -out %s/cert%d.pem 2>/dev/null",
                 dir, i, dir, i);
        if (system(cmd) != 0)
            return -1;
    }
    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert0.pem", dir);
    snprintf(key, sizeof(key), "%s/key0.pem", dir);
    if (server_start(&plain_srv, NULL, NULL) != 0 || server_start(&tls_srv, cert, key) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop(&plain_srv);
    server_stop(&tls_srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    free(file_data);
    return 0;
}

/* ---- a reader ---------------------------------------------------------- */

typedef struct reader {
    uv_loop_t loop;
    fl__bytes *b;
    int opened, reads, failed, after_close;
    int64_t size;
    int seekable;
    int status;
    char why[512];
    int64_t off;
    size_t n;
    uint8_t *data;
    bool closed;
    bool close_in_data;
} reader;

static void on_opened(void *arg, int64_t size, int seekable)
{
    reader *r = arg;
    r->after_close += r->closed;
    r->opened++;
    r->size = size;
    r->seekable = seekable;
}

static void on_data(void *arg, int64_t offset, const uint8_t *data, size_t n)
{
    reader *r = arg;
    r->after_close += r->closed;
    r->reads++;
    r->off = offset;
    r->n = n;
    if (n)
        memcpy(r->data, data, n);
    if (r->close_in_data) {
        fl__bytes_close(r->b);
        r->closed = true;
    }
}

static void on_failed(void *arg, int status, const char *why)
{
    reader *r = arg;
    r->after_close += r->closed;
    r->failed++;
    r->status = status;
    snprintf(r->why, sizeof(r->why), "%s", why);
}

static const fl__bytes_cb cbs = { on_opened, on_data, on_failed };

static int reader_open(reader *r, const char *uri, const char *ca)
{
    memset(r, 0, sizeof(*r));
    uv_loop_init(&r->loop);
    r->data = malloc(FILE_SIZE + 1);
    return fl__bytes_open(&r->b, &r->loop, uri, ca, &cbs, r);
}

/* Runs the loop until *flag changes (or 20 s pass). */
static void run_until(reader *r, const int *flag)
{
    int start = *flag;
    for (int i = 0; i < 200000 && *flag == start && !r->failed; i++)
        uv_run(&r->loop, UV_RUN_ONCE);
}

static void wait_opened(reader *r)
{
    run_until(r, &r->opened);
    if (r->failed)
        fail_msg("failed: %d %s", r->status, r->why);
    assert_int_equal(r->opened, 1);
}

/* One read, waited for: the bytes are in r->data. */
static size_t read_at(reader *r, int64_t off, size_t len)
{
    assert_int_equal(fl__bytes_read(r->b, off, len), 0);
    assert_int_equal(fl__bytes_read(r->b, off, len), FL_EBUSY);
    int before = r->reads;
    /* never from within the call */
    assert_int_equal(r->reads, before);
    run_until(r, &r->reads);
    if (r->failed)
        fail_msg("failed: %d %s", r->status, r->why);
    assert_int_equal(r->off, off);
    return r->n;
}

static void check_bytes(reader *r, int64_t off, size_t n)
{
    assert_true(off + (int64_t)n <= FILE_SIZE);
    assert_memory_equal(r->data, file_data + off, n);
}

/* Closes and runs the loop dry: every handle is closed, every byte freed
 * (ASan), no callback after close. */
static void reader_close(reader *r)
{
    if (!r->closed)
        fl__bytes_close(r->b);
    r->closed = true;
    uv_run(&r->loop, UV_RUN_DEFAULT);
    assert_int_equal(r->after_close, 0);
    assert_int_equal(uv_loop_close(&r->loop), 0);
    free(r->data);
}

static void url(char *out, size_t cap, const server *s, const char *host, const char *path)
{
    snprintf(out, cap, "%s://%s:%d%s", s == &tls_srv ? "https" : "http", host, s->port, path);
}

/* Reads the whole file in steps of varied sizes from 0. */
static void read_all_in_order(reader *r, int64_t expect_size)
{
    static const size_t steps[] = { 1, 1000, 65536, 100000, 7, 300000, 4096 };
    int64_t off = 0;
    for (int i = 0;; i++) {
        size_t want = steps[i % 7];
        size_t n = read_at(r, off, want);
        if (n == 0)
            break;
        check_bytes(r, off, n);
        off += (int64_t)n;
        if (n < want)
            assert_int_equal(off, FILE_SIZE);
    }
    assert_int_equal(off, FILE_SIZE);
    assert_int_equal(read_at(r, off, 10), 0);
    if (expect_size >= 0)
        assert_int_equal(read_at(r, off + 100, 10), 0);
}

static void on_test_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* ---- tests ------------------------------------------------------------- */

static void test_sequential_reads_one_request(void **state)
{
    (void)state;
    reader r;
    char u[256];
    server_requests(&plain_srv);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    /* not before opened */
    assert_int_equal(fl__bytes_read(r.b, 0, 10), FL_ESTATE);
    wait_opened(&r);
    assert_int_equal(r.size, FILE_SIZE);
    assert_int_equal(r.seekable, 1);
    read_all_in_order(&r, FILE_SIZE);
    assert_int_equal(server_requests(&plain_srv), 1);
    assert_non_null(strstr(plain_srv.log, "req GET /a.bin bytes=0-"));
    reader_close(&r);
}

static void test_ranges_in_pieces(void **state)
{
    (void)state;
    reader r;
    char u[256];
    server_requests(&plain_srv);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/capped/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(r.size, FILE_SIZE);
    assert_int_equal(r.seekable, 1);
    read_all_in_order(&r, FILE_SIZE);
    /* 1 MiB per answer: the rest asked for each time */
    assert_int_equal(server_requests(&plain_srv), 4);
    assert_non_null(strstr(plain_srv.log, "bytes=3145728-"));
    reader_close(&r);
}

static void test_seek(void **state)
{
    (void)state;
    reader r;
    char u[256];
    server_requests(&plain_srv);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(read_at(&r, 0, 1000), 1000);
    check_bytes(&r, 0, 1000);
    /* far ahead: a new request at that offset */
    assert_int_equal(read_at(&r, 2000000, 50000), 50000);
    check_bytes(&r, 2000000, 50000);
    /* a little ahead: read through */
    assert_int_equal(read_at(&r, 2100000, 5000), 5000);
    check_bytes(&r, 2100000, 5000);
    /* again what was just read, then back */
    assert_int_equal(read_at(&r, 2100000, 5000), 5000);
    check_bytes(&r, 2100000, 5000);
    assert_int_equal(read_at(&r, 100, 200), 200);
    check_bytes(&r, 100, 200);
    /* the tail, fewer bytes than asked, then nothing past the end */
    assert_int_equal(read_at(&r, FILE_SIZE - 10, 100), 10);
    check_bytes(&r, FILE_SIZE - 10, 10);
    assert_int_equal(read_at(&r, FILE_SIZE + 5, 100), 0);
    assert_int_equal(server_requests(&plain_srv), 4);
    assert_non_null(strstr(plain_srv.log, "bytes=2000000-"));
    assert_non_null(strstr(plain_srv.log, "bytes=100-"));
    reader_close(&r);
}

static void test_no_ranges(void **state)
{
    (void)state;
    reader r;
    char u[256];
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/norange/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(r.size, FILE_SIZE);
    assert_int_equal(r.seekable, 0);
    assert_int_equal(read_at(&r, 0, 5000), 5000);
    check_bytes(&r, 0, 5000);
    /* ahead reads through, back cannot */
    assert_int_equal(read_at(&r, 1500000, 5000), 5000);
    check_bytes(&r, 1500000, 5000);
    assert_int_equal(fl__bytes_read(r.b, 10, 10), FL_ENOTSUP);
    assert_int_equal(read_at(&r, 1505000, 5000), 5000);
    check_bytes(&r, 1505000, 5000);
    reader_close(&r);

    /* chunked: no size, no ranges, the whole file */
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/chunked/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(r.size, -1);
    assert_int_equal(r.seekable, 0);
    read_all_in_order(&r, -1);
    reader_close(&r);

    /* an empty file */
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/empty.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(r.size, 0);
    assert_int_equal(read_at(&r, 0, 100), 0);
    reader_close(&r);
}

static void test_redirects(void **state)
{
    (void)state;
    reader r;
    char u[256];
    server_requests(&plain_srv);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/redirect/redirect/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(r.size, FILE_SIZE);
    assert_int_equal(read_at(&r, 3000000, 1000), 1000);
    check_bytes(&r, 3000000, 1000);
    /* 3 requests to open, the seek goes straight to where they led */
    assert_int_equal(server_requests(&plain_srv), 4);
    assert_non_null(strstr(plain_srv.log, "req GET /a.bin bytes=3000000-"));
    reader_close(&r);

    url(u, sizeof(u), &plain_srv, "127.0.0.1",
        "/redirect/redirect/redirect/redirect/redirect/redirect/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    run_until(&r, &r.failed);
    assert_int_equal(r.status, FL_EIO);
    assert_non_null(strstr(r.why, "redirects"));
    assert_int_equal(r.opened, 0);
    reader_close(&r);
}

static void expect_failure(const char *uri, const char *ca, int status, const char *in_why)
{
    reader r;
    assert_int_equal(reader_open(&r, uri, ca), 0);
    run_until(&r, &r.failed);
    assert_int_equal(r.failed, 1);
    if (r.status != status || !strstr(r.why, in_why))
        fail_msg("%s: %d \"%s\", expected %d \"%s\"", uri, r.status, r.why, status, in_why);
    assert_int_equal(r.opened, 0);
    assert_int_equal(fl__bytes_read(r.b, 0, 10), FL_ESTATE);
    reader_close(&r);
}

static void test_errors(void **state)
{
    (void)state;
    char u[256], why[256];
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/missing.bin");
    snprintf(why, sizeof(why), "HTTP 404 Not Found from 127.0.0.1:%d/missing.bin", plain_srv.port);
    expect_failure(u, NULL, FL_ENOENT, why);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/status/403");
    expect_failure(u, NULL, FL_EAUTH, "HTTP 403");
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/status/401");
    expect_failure(u, NULL, FL_EAUTH, "HTTP 401");
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/status/503");
    expect_failure(u, NULL, FL_EIO, "HTTP 503");
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/status/204");
    expect_failure(u, NULL, FL_EPROTO, "HTTP 204");

    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/a.bin", ntohs(sa.sin_port));
    expect_failure(u, NULL, FL_EIO, "connection refused");
    expect_failure("http://no-such-host.invalid/a.bin", NULL, FL_EIO, "no-such-host.invalid");

    /* URIs that do not parse */
    static const char *const bad[] = {
        "ftp://127.0.0.1/a", "file:///a",    "http://",      "http:///a",
        "http://h:99999/",   "http://h:/",   "http://h:8x/", "http://[::1/",
        "http://h/a b",      "http://u@h/a", "rtsp://h/a",   "http://h\x01/",
    };
    reader r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0, sizeof(r));
        if (fl__bytes_http_open(&r.b, &r.loop, bad[i], NULL, &cbs, &r) != FL_EINVAL)
            fail_msg("%s was taken", bad[i]);
    }

    /* the connection closed half-way through the body */
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/cut/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    int64_t off = 0;
    while (!r.failed) {
        assert_int_equal(fl__bytes_read(r.b, off, 100000), 0);
        int reads = r.reads;
        run_until(&r, &r.reads);
        if (r.reads > reads) {
            assert_int_equal(r.n, 100000);
            check_bytes(&r, off, r.n);
            off += (int64_t)r.n;
        }
    }
    assert_int_equal(r.status, FL_EIO);
    assert_non_null(strstr(r.why, "closed the connection"));
    assert_true(off <= FILE_SIZE / 2);
    assert_int_equal(fl__bytes_read(r.b, off, 10), FL_ESTATE);
    reader_close(&r);
}

static void test_https(void **state)
{
    (void)state;
    char u[256], ca[128], wrong[128];
    snprintf(ca, sizeof(ca), "%s/cert0.pem", dir);
    snprintf(wrong, sizeof(wrong), "%s/cert1.pem", dir);
    reader r;
    server_requests(&tls_srv);
    url(u, sizeof(u), &tls_srv, "localhost", "/a.bin");
    assert_int_equal(reader_open(&r, u, ca), 0);
    wait_opened(&r);
    assert_int_equal(r.size, FILE_SIZE);
    assert_int_equal(r.seekable, 1);
    read_all_in_order(&r, FILE_SIZE);
    assert_int_equal(read_at(&r, 777777, 1000), 1000);
    check_bytes(&r, 777777, 1000);
    assert_int_equal(server_requests(&tls_srv), 2);
    reader_close(&r);

    /* chunked over TLS */
    url(u, sizeof(u), &tls_srv, "localhost", "/chunked/a.bin");
    assert_int_equal(reader_open(&r, u, ca), 0);
    wait_opened(&r);
    read_all_in_order(&r, -1);
    reader_close(&r);

    url(u, sizeof(u), &tls_srv, "localhost", "/a.bin");
    expect_failure(u, wrong, FL_ETLS, "verif");
    /* the name is checked: 127.0.0.1 is not in the certificate */
    url(u, sizeof(u), &tls_srv, "127.0.0.1", "/a.bin");
    expect_failure(u, ca, FL_ETLS, "CN");
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none.pem", dir);
    url(u, sizeof(u), &tls_srv, "localhost", "/a.bin");
    expect_failure(u, missing, FL_ETLS, "none.pem");
    /* TLS to a server that speaks plain HTTP */
    snprintf(u, sizeof(u), "https://localhost:%d/a.bin", plain_srv.port);
    expect_failure(u, ca, FL_ETLS, "TLS");
}

static void test_close_anywhere(void **state)
{
    (void)state;
    char u[256], ca[128];
    snprintf(ca, sizeof(ca), "%s/cert0.pem", dir);
    reader r;
    /* right after open (resolving), while connecting, mid-handshake */
    for (int i = 0; i < 12; i++) {
        if (i % 2)
            url(u, sizeof(u), &tls_srv, "localhost", "/a.bin");
        else
            url(u, sizeof(u), &plain_srv, "127.0.0.1", "/a.bin");
        assert_int_equal(reader_open(&r, u, ca), 0);
        for (int k = 0; k < i / 2; k++)
            uv_run(&r.loop, UV_RUN_NOWAIT);
        reader_close(&r);
    }
    /* mid-transfer, the read-ahead going on */
    url(u, sizeof(u), &tls_srv, "localhost", "/a.bin");
    assert_int_equal(reader_open(&r, u, ca), 0);
    wait_opened(&r);
    assert_int_equal(read_at(&r, 0, 100), 100);
    assert_int_equal(fl__bytes_read(r.b, 100, 2000000), 0);
    uv_run(&r.loop, UV_RUN_NOWAIT);
    reader_close(&r);
    /* with a read outstanding, and from within the data callback */
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/chunked/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    assert_int_equal(fl__bytes_read(r.b, 0, 3000000), 0);
    reader_close(&r);
    assert_int_equal(r.reads, 0);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/a.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    wait_opened(&r);
    r.close_in_data = true;
    assert_int_equal(fl__bytes_read(r.b, 0, 1000), 0);
    run_until(&r, &r.reads);
    assert_int_equal(r.reads, 1);
    check_bytes(&r, 0, 1000);
    reader_close(&r);
}

static void test_read_ahead_bounded(void **state)
{
    (void)state;
    reader r;
    char u[256];
    server_requests(&plain_srv);
    url(u, sizeof(u), &plain_srv, "127.0.0.1", "/big.bin");
    assert_int_equal(reader_open(&r, u, NULL), 0);
    free(r.data);
    r.data = malloc(1 << 20);
    wait_opened(&r);
    assert_int_equal(r.size, (int64_t)BIG_MIB << 20);
    assert_int_equal(read_at(&r, 0, 100), 100);
    /* nobody reads: the server cannot send it all */
    uv_timer_t t;
    uv_timer_init(&r.loop, &t);
    int fired = 0;
    t.data = &fired;
    uv_timer_start(&t, on_test_timer, 500, 0);
    run_until(&r, &fired);
    uv_close((uv_handle_t *)&t, NULL);
    server_requests(&plain_srv);
    assert_null(strstr(plain_srv.log, "end GET /big.bin"));
    /* then it all comes, in order */
    int64_t off = 100;
    for (;;) {
        size_t n = read_at(&r, off, 1 << 20);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i += 4096)
            assert_int_equal(r.data[i], file_data[(off + (int64_t)i) % (1 << 20)]);
        off += (int64_t)n;
    }
    assert_int_equal(off, (int64_t)BIG_MIB << 20);
    server_requests(&plain_srv);
    assert_non_null(strstr(plain_srv.log, "end GET /big.bin"));
    reader_close(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_reads_one_request),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_ranges_in_pieces),
        cmocka_unit_test(test_no_ranges),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_close_anywhere),
        cmocka_unit_test(test_read_ahead_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
