/* net/dtls against OpenSSL's s_server and s_client on loopback: the handshake
 * completes and both stacks export the same DTLS-SRTP keying material. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "net/cert.h"
#include "net/dtls.h"

#include <cmocka.h>

static char dir[64], ossl_cert[96], ossl_key[96], out_path[96];
static fl_cert *ours, *theirs; /* theirs: openssl's certificate, for its fingerprint */
static fl_rand rnd;

static fl_time mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (fl_time)ts.tv_sec * FL_TIME_SEC + ts.tv_nsec / 1000;
}

static int setup(void **state)
{
    (void)state;
    char cmd[512];
    fl_log_configure("*:0");
    fl_rand_seeded_init(&rnd, 3);
    snprintf(dir, sizeof(dir), "/tmp/fl_dtls_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(ossl_cert, sizeof(ossl_cert), "%s/cert.pem", dir);
    snprintf(ossl_key, sizeof(ossl_key), "%s/key.pem", dir);
    snprintf(out_path, sizeof(out_path), "%s/openssl.out", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=openssl 2>/dev/null",
             ossl_key, ossl_cert);
    if (system(cmd) != 0)
        return -1;
    if (fl_cert_load_file(&theirs, ossl_cert, ossl_key) != 0)
        return -1;
    if (fl_cert_generate(&ours, "fluo", time(NULL) - 86400, 30 * 86400, &rnd) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    fl_cert_destroy(ours);
    fl_cert_destroy(theirs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* A UDP socket on 127.0.0.1 with an ephemeral port. */
static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static uint16_t free_port(void)
{
    uint16_t port = 0;
    int fd = udp_socket(&port);
    close(fd);
    return port;
}

/* Starts openssl with its stdin on a pipe kept open and stdout in out_path. */
static pid_t spawn(char *const argv[], int *stdin_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[0], 0);
        close(p[1]);
        FILE *f = freopen(out_path, "w", stdout);
        (void)f;
        dup2(1, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[0]);
    *stdin_fd = p[1];
    return pid;
}

static void stop(pid_t pid, int stdin_fd)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    close(stdin_fd);
}

/* Runs d over fd (connected) until CONNECTED or FAILED, or `limit`. */
static void pump(int fd, fl_dtls *d, fl_dtls_event *ev, fl_time limit)
{
    fl_time end = mono() + limit;
    ev->type = 0;
    uint8_t buf[2048];
    while (mono() < end) {
        fl_bytes g;
        while (fl_dtls_poll_transmit(d, &g) == 0) {
            ssize_t n = send(fd, g.data, g.len, 0);
            (void)n;
            fl_bytes_deinit(&g);
        }
        if (ev->type == FL_DTLS_EVENT_CONNECTED || ev->type == FL_DTLS_EVENT_FAILED)
            return;
        if (fl_dtls_poll_event(d, ev) == 0)
            continue;
        fl_time now = mono(), t = fl_dtls_poll_timeout(d);
        int wait = 100;
        if (t != FL_TIME_NEVER && (t - now) / 1000 < wait)
            wait = t > now ? (int)((t - now) / 1000) + 1 : 0;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, wait) > 0) {
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n > 0)
                fl_dtls_handle_input(d, mono(), buf, (size_t)n);
        }
        fl_dtls_handle_timeout(d, mono());
    }
}

/* Waits for openssl's "Keying material: HEX" line; 0 when found. */
static int read_material(uint8_t *out, size_t len, const char *expect_text)
{
    for (int tries = 0; tries < 100; tries++) {
        FILE *f = fopen(out_path, "r");
        char line[1024];
        bool text_ok = expect_text == NULL;
        int found = -1;
        while (f && fgets(line, sizeof(line), f)) {
            if (expect_text && strstr(line, expect_text))
                text_ok = true;
            char *k = strstr(line, "Keying material: ");
            if (!k)
                continue;
            k += strlen("Keying material: ");
            size_t i = 0;
            unsigned v;
            for (; i < len && sscanf(k + 2 * i, "%2x", &v) == 1; i++)
                out[i] = (uint8_t)v;
            found = i == len ? 0 : -1;
        }
        if (f)
            fclose(f);
        if (found == 0 && text_ok)
            return 0;
        usleep(50000);
    }
    return -1;
}

static void dump_output(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "tail -n 20 %s >&2", out_path);
    if (system(cmd) != 0)
        return;
}

static void test_fluo_client_openssl_server(void **state)
{
    (void)state;
    char port_s[16], accept_s[32];
    uint16_t port = free_port();
    snprintf(port_s, sizeof(port_s), "%u", port);
    snprintf(accept_s, sizeof(accept_s), "127.0.0.1:%u", port);
    char *argv[] = { "openssl",
                     "s_server",
                     "-dtls1_2",
                     "-accept",
                     accept_s,
                     "-naccept",
                     "1",
                     "-use_srtp",
                     "SRTP_AES128_CM_SHA1_80",
                     "-cert",
                     ossl_cert,
                     "-key",
                     ossl_key,
                     "-verify",
                     "1",
                     "-keymatexport",
                     "EXTRACTOR-dtls_srtp",
                     "-keymatexportlen",
                     "60",
                     NULL };
    int in_fd;
    pid_t pid = spawn(argv, &in_fd);
    assert_true(pid > 0);

    uint16_t mine;
    int fd = udp_socket(&mine);
    assert_true(fd >= 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);

    fl_dtls *d;
    fl_dtls_config cfg = { .cert = ours, .role = FL_DTLS_ROLE_CLIENT, .rand = &rnd };
    cfg.remote_fingerprint = fl_cert_fingerprint(theirs);
    cfg.hs_timeout_min_ms = 200; /* openssl may still be starting */
    assert_int_equal(fl_dtls_create(&d, &cfg), 0);
    usleep(200000);
    assert_int_equal(fl_dtls_start(d, mono()), 0);
    fl_dtls_event ev;
    pump(fd, d, &ev, 10 * FL_TIME_SEC);
    if (ev.type != FL_DTLS_EVENT_CONNECTED) {
        print_message("fluo: %s\n", ev.reason);
        dump_output();
    }
    assert_int_equal(ev.type, FL_DTLS_EVENT_CONNECTED);
    assert_int_equal(ev.srtp.profile, FL_DTLS_SRTP_AES128_CM_SHA1_80);
    assert_int_equal(ev.srtp.material_len, 60);

    /* application data reaches openssl, which prints it */
    assert_int_equal(fl_dtls_send(d, "ping-from-fluo\n", 15), 0);
    fl_dtls_event none;
    pump(fd, d, &none, 200 * FL_TIME_MS);

    uint8_t km[60];
    int rc = read_material(km, sizeof(km), "ping-from-fluo");
    if (rc != 0)
        dump_output();
    assert_int_equal(rc, 0);
    assert_memory_equal(km, ev.srtp.material, 60);
    print_message("fluo client / openssl s_server: 60 bytes of keying material agree\n");

    fl_dtls_close(d);
    pump(fd, d, &none, 50 * FL_TIME_MS);
    fl_dtls_destroy(d);
    close(fd);
    stop(pid, in_fd);
}

static void test_fluo_server_openssl_client(void **state)
{
    (void)state;
    uint16_t port;
    int fd = udp_socket(&port);
    assert_true(fd >= 0);
    char connect_s[32];
    snprintf(connect_s, sizeof(connect_s), "127.0.0.1:%u", port);
    char *argv[] = { "openssl",
                     "s_client",
                     "-dtls1_2",
                     "-connect",
                     connect_s,
                     "-use_srtp",
                     "SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32",
                     "-cert",
                     ossl_cert,
                     "-key",
                     ossl_key,
                     "-keymatexport",
                     "EXTRACTOR-dtls_srtp",
                     "-keymatexportlen",
                     "60",
                     NULL };

    fl_dtls *d;
    fl_dtls_config cfg = { .cert = ours, .role = FL_DTLS_ROLE_SERVER, .rand = &rnd };
    cfg.remote_fingerprint = fl_cert_fingerprint(theirs);
    assert_int_equal(fl_dtls_create(&d, &cfg), 0);
    assert_int_equal(fl_dtls_start(d, mono()), 0);

    int in_fd;
    pid_t pid = spawn(argv, &in_fd);
    assert_true(pid > 0);

    /* learn the client's address from its first datagram */
    uint8_t buf[2048];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_true(poll(&pfd, 1, 5000) > 0);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    assert_true(n > 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&from, fl), 0);
    fl_dtls_handle_input(d, mono(), buf, (size_t)n);

    fl_dtls_event ev;
    pump(fd, d, &ev, 10 * FL_TIME_SEC);
    if (ev.type != FL_DTLS_EVENT_CONNECTED) {
        print_message("fluo: %s\n", ev.reason);
        dump_output();
    }
    assert_int_equal(ev.type, FL_DTLS_EVENT_CONNECTED);
    assert_int_equal(ev.srtp.profile, FL_DTLS_SRTP_AES128_CM_SHA1_80);

    uint8_t km[60];
    int rc = read_material(km, sizeof(km), NULL);
    if (rc != 0)
        dump_output();
    assert_int_equal(rc, 0);
    assert_memory_equal(km, ev.srtp.material, 60);
    /* the client writes with the first key and salt */
    assert_memory_equal(ev.srtp.remote_master, km, 16);
    assert_memory_equal(ev.srtp.remote_master + 16, km + 32, 14);
    print_message("openssl s_client / fluo server: 60 bytes of keying material agree\n");

    /* what s_client reads on stdin comes to us as application data */
    assert_int_equal(write(in_fd, "hi-fluo\n", 8), 8);
    fl_bytes g;
    fl_time end = mono() + 3 * FL_TIME_SEC;
    rc = FL_EAGAIN;
    while (rc != 0 && mono() < end) {
        fl_dtls_event none;
        pump(fd, d, &none, 50 * FL_TIME_MS);
        rc = fl_dtls_poll_data(d, &g);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(g.len, 8);
    assert_memory_equal(g.data, "hi-fluo\n", 8);
    fl_bytes_deinit(&g);

    fl_dtls_destroy(d);
    close(fd);
    stop(pid, in_fd);
}

/* s_client without a certificate: fluo's server refuses it. */
static void test_openssl_client_without_certificate(void **state)
{
    (void)state;
    uint16_t port;
    int fd = udp_socket(&port);
    assert_true(fd >= 0);
    char connect_s[32];
    snprintf(connect_s, sizeof(connect_s), "127.0.0.1:%u", port);
    char *argv[] = { "openssl",
                     "s_client",
                     "-dtls1_2",
                     "-connect",
                     connect_s,
                     "-use_srtp",
                     "SRTP_AES128_CM_SHA1_80",
                     NULL };
    fl_dtls *d;
    fl_dtls_config cfg = { .cert = ours, .role = FL_DTLS_ROLE_SERVER, .rand = &rnd };
    cfg.remote_fingerprint = fl_cert_fingerprint(theirs);
    assert_int_equal(fl_dtls_create(&d, &cfg), 0);
    int in_fd;
    pid_t pid = spawn(argv, &in_fd);
    assert_true(pid > 0);
    uint8_t buf[2048];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_true(poll(&pfd, 1, 5000) > 0);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    assert_true(n > 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&from, fl), 0);
    fl_dtls_handle_input(d, mono(), buf, (size_t)n);
    fl_dtls_event ev;
    pump(fd, d, &ev, 10 * FL_TIME_SEC);
    assert_int_equal(ev.type, FL_DTLS_EVENT_FAILED);
    assert_int_equal(ev.err, FL_EAUTH);
    print_message("no client certificate: %s\n", ev.reason);
    fl_dtls_destroy(d);
    close(fd);
    stop(pid, in_fd);
}

/* s_server shows a certificate other than the one in the SDP. */
static void test_openssl_server_wrong_fingerprint(void **state)
{
    (void)state;
    char accept_s[32];
    uint16_t port = free_port();
    snprintf(accept_s, sizeof(accept_s), "127.0.0.1:%u", port);
    char *argv[] = { "openssl", "s_server",  "-dtls1_2",
                     "-accept", accept_s,    "-naccept",
                     "1",       "-use_srtp", "SRTP_AES128_CM_SHA1_80",
                     "-cert",   ossl_cert,   "-key",
                     ossl_key,  NULL };
    int in_fd;
    pid_t pid = spawn(argv, &in_fd);
    assert_true(pid > 0);
    uint16_t mine;
    int fd = udp_socket(&mine);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    fl_dtls *d;
    fl_dtls_config cfg = { .cert = ours, .role = FL_DTLS_ROLE_CLIENT, .rand = &rnd };
    cfg.remote_fingerprint = fl_cert_fingerprint(ours); /* not openssl's */
    cfg.hs_timeout_min_ms = 200;
    assert_int_equal(fl_dtls_create(&d, &cfg), 0);
    usleep(200000);
    assert_int_equal(fl_dtls_start(d, mono()), 0);
    fl_dtls_event ev;
    pump(fd, d, &ev, 10 * FL_TIME_SEC);
    assert_int_equal(ev.type, FL_DTLS_EVENT_FAILED);
    assert_int_equal(ev.err, FL_EAUTH);
    assert_string_equal(ev.reason, "certificate fingerprint does not match the SDP a=fingerprint");
    assert_int_equal(ev.srtp.material_len, 0);
    fl_dtls_destroy(d);
    close(fd);
    stop(pid, in_fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fluo_client_openssl_server),
        cmocka_unit_test(test_fluo_server_openssl_client),
        cmocka_unit_test(test_openssl_client_without_certificate),
        cmocka_unit_test(test_openssl_server_wrong_fingerprint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
