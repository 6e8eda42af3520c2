/* A coturn (Debian's turnserver) for unit tests, header-only: on 127.0.0.1
 * and a port free for UDP and TCP, long-term credentials u:p in realm
 * "fluo", loopback peers allowed, no TLS or DTLS.
 * FLUO_COTURN_LOG=1 keeps its output. */
#ifndef FL_TESTS_COTURN_H
#define FL_TESTS_COTURN_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/time.h"

#include <cmocka.h>

static pid_t coturn_pid = -1; /* -1: not running (turnserver not installed) */
static uint16_t coturn_port;

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
static uint16_t free_port(void)
{
    for (int tries = 0; tries < 50; tries++) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof sa;
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                 getsockname(u, (struct sockaddr *)&sa, &sl) == 0 &&
                 bind(t, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(t);
        close(u);
        if (ok)
            return ntohs(sa.sin_port);
    }
    fail_msg("no free port");
    return 0;
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void coturn_paths(char *pidfile, char *db, size_t cap)
{
    snprintf(pidfile, cap, "/tmp/fluo-coturn-%d.pid", (int)getpid());
    snprintf(db, cap, "/tmp/fluo-coturn-%d.db", (int)getpid());
}

/* cmocka group setup: starts coturn and waits until its TCP listener
 * accepts (10 s at most). 0 also when turnserver is not installed, with
 * coturn_pid left at -1 for the tests to skip. */
static int start_coturn(void **state)
{
    (void)state;
    if (access("/usr/bin/turnserver", X_OK) != 0)
        return 0;
    char port[16], pidfile[64], db[64];
    coturn_port = free_port();
    snprintf(port, sizeof port, "%u", coturn_port);
    coturn_paths(pidfile, db, sizeof pidfile);
    coturn_pid = fork();
    if (coturn_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (!getenv("FLUO_COTURN_LOG")) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/usr/bin/turnserver", "turnserver", "-n", "--user", "u:p", "--realm", "fluo",
              "--lt-cred-mech", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
              "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--listening-port",
              port, "--pidfile", pidfile, "--userdb", db, "--log-file", "stdout", (char *)NULL);
        _exit(127);
    }
    fl_time end = fl_time_now() + 10 * FL_TIME_SEC;
    while (fl_time_now() < end) {
        int fd = tcp_connect(coturn_port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(20000);
    }
    return -1;
}

/* cmocka group teardown. */
static int stop_coturn(void **state)
{
    (void)state;
    if (coturn_pid > 0) {
        kill(coturn_pid, SIGTERM);
        waitpid(coturn_pid, NULL, 0);
        coturn_pid = -1;
    }
    char pidfile[64], db[64];
    coturn_paths(pidfile, db, sizeof pidfile);
    unlink(pidfile);
    unlink(db);
    return 0;
}

#endif
