/* The sans-IO TURN client against a real coturn on 127.0.0.1, over UDP and
 * TCP: allocate, permission and Send/Data indications, channel and
 * ChannelData, both ways, with a plain UDP socket as the peer. The test does
 * the I/O with poll(). Skipped when turnserver is not installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#include "base/addr.h"
#include "base/err.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/turn.h"
#include "tests/unit/common/coturn.h"

#include <cmocka.h>

#define DEADLINE (5 * FL_TIME_SEC)

static int bind_udp(fl_addr *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    fl_addr_from_sockaddr(bound, (struct sockaddr *)&sa);
    return fd;
}

typedef struct run {
    fl_turn_client *c;
    int tcp;
    int fd;   /* to the server */
    int peer; /* the peer's UDP socket */
    fl_addr server, peer_addr, relayed;
    fl_turn_event last[8];
    size_t nlast;
    uint8_t data[8][256]; /* DATA copied, pointers die at the next input */
} run;

static void send_to_server(run *r, const uint8_t *p, size_t n)
{
    if (r->tcp) {
        assert_int_equal(send(r->fd, p, n, 0), (ssize_t)n);
    } else {
        struct sockaddr_storage ss;
        size_t sl = fl_addr_to_sockaddr(&r->server, (struct sockaddr *)&ss, sizeof ss);
        assert_int_equal(sendto(r->fd, p, n, 0, (struct sockaddr *)&ss, (socklen_t)sl), (ssize_t)n);
    }
}

static void flush(run *r)
{
    fl_turn_transmit tx;
    while (fl_turn_client_poll_transmit(r->c, &tx) == 0) {
        send_to_server(r, tx.data, tx.len);
    }
}

static void collect(run *r)
{
    fl_turn_event ev;
    while (fl_turn_client_poll_event(r->c, &ev) == 0) {
        if (r->nlast < 8) {
            if (ev.type == FL_TURN_EVENT_DATA && ev.len <= 256) {
                memcpy(r->data[r->nlast], ev.data, ev.len);
                ev.data = r->data[r->nlast];
            }
            r->last[r->nlast++] = ev;
        }
    }
}

/* Runs the client until an event of `type` arrives (or 5 s pass). */
static fl_turn_event *pump_until(run *r, int type)
{
    fl_time end = fl_time_now() + DEADLINE;
    for (;;) {
        flush(r);
        for (size_t i = 0; i < r->nlast; i++) {
            if (r->last[i].type == type) {
                return &r->last[i];
            }
            assert_int_not_equal(r->last[i].type, FL_TURN_EVENT_ERROR);
        }
        fl_time now = fl_time_now();
        assert_true(now < end);
        fl_time due = fl_turn_client_poll_timeout(r->c);
        int wait_ms = (int)((due < end ? due : end) - now + 999) / 1000;
        struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
        if (poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms) > 0) {
            uint8_t buf[2048];
            ssize_t n = recv(r->fd, buf, sizeof buf, 0);
            assert_true(n > 0);
            fl_turn_client_handle_input(r->c, fl_time_now(), r->tcp ? NULL : &r->server, buf,
                                        (size_t)n);
            collect(r);
        }
        fl_turn_client_handle_timeout(r->c, fl_time_now());
        collect(r);
    }
}

static void peer_expect(run *r, const char *want)
{
    uint8_t buf[256];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    fl_addr from;
    struct pollfd pfd = { .fd = r->peer, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    ssize_t n = recvfrom(r->peer, buf, sizeof buf, 0, (struct sockaddr *)&ss, &sl);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    fl_addr_from_sockaddr(&from, (struct sockaddr *)&ss);
    assert_true(fl_addr_equal(&from, &r->relayed));
}

static void peer_send(run *r, const char *msg)
{
    struct sockaddr_storage ss;
    size_t sl = fl_addr_to_sockaddr(&r->relayed, (struct sockaddr *)&ss, sizeof ss);
    assert_int_equal(sendto(r->peer, msg, strlen(msg), 0, (struct sockaddr *)&ss, (socklen_t)sl),
                     (ssize_t)strlen(msg));
}

static void client_send(run *r, const char *msg)
{
    uint8_t out[512];
    size_t len;
    assert_int_equal(fl_turn_client_wrap(r->c, &r->peer_addr, (const uint8_t *)msg, strlen(msg),
                                         out, sizeof out, &len),
                     0);
    send_to_server(r, out, len);
}

static void exchange(int tcp)
{
    run r = { .tcp = tcp };
    fl_rand rand;
    fl_rand_seeded_init(&rand, (uint64_t)fl_time_now());
    fl_addr_parse(&r.server, "127.0.0.1", coturn_port);
    r.peer = bind_udp(&r.peer_addr);
    if (tcp) {
        r.fd = tcp_connect(coturn_port);
        assert_true(r.fd >= 0);
    } else {
        fl_addr local;
        r.fd = bind_udp(&local);
    }
    fl_turn_config cfg = { .server = r.server,
                           .transport = tcp ? FL_TURN_TCP : FL_TURN_UDP,
                           .username = "u",
                           .password = "p",
                           .rand = &rand,
                           .software = "fluo test" };
    assert_int_equal(fl_turn_client_create(&r.c, &cfg), 0);
    assert_int_equal(fl_turn_client_allocate(r.c, fl_time_now()), 0);
    r.relayed = pump_until(&r, FL_TURN_EVENT_ALLOCATED)->relayed;
    assert_true(fl_addr_is_loopback(&r.relayed));

    /* permission, then Send and Data indications */
    assert_int_equal(fl_turn_client_create_permission(r.c, fl_time_now(), &r.peer_addr), 0);
    pump_until(&r, FL_TURN_EVENT_PERMISSION);
    client_send(&r, "via send indication");
    peer_expect(&r, "via send indication");
    peer_send(&r, "via data indication");
    r.nlast = 0;
    fl_turn_event *ev = pump_until(&r, FL_TURN_EVENT_DATA);
    assert_int_equal(ev->channel, 0);
    assert_true(fl_addr_equal(&ev->peer, &r.peer_addr));
    assert_int_equal(ev->len, 19);
    assert_memory_equal(ev->data, "via data indication", 19);

    /* channel, then ChannelData both ways (odd length: padding over TCP) */
    assert_int_equal(fl_turn_client_bind_channel(r.c, fl_time_now(), &r.peer_addr, NULL), 0);
    r.nlast = 0;
    pump_until(&r, FL_TURN_EVENT_CHANNEL_BOUND);
    client_send(&r, "via channel");
    peer_expect(&r, "via channel");
    peer_send(&r, "back via channel!");
    r.nlast = 0;
    ev = pump_until(&r, FL_TURN_EVENT_DATA);
    assert_int_equal(ev->channel, 0x4000);
    assert_true(fl_addr_equal(&ev->peer, &r.peer_addr));
    assert_int_equal(ev->len, 17);
    assert_memory_equal(ev->data, "back via channel!", 17);

    assert_int_equal(fl_turn_client_deallocate(r.c, fl_time_now()), 0);
    r.nlast = 0;
    pump_until(&r, FL_TURN_EVENT_DEALLOCATED);
    fl_turn_client_destroy(r.c);
    close(r.fd);
    close(r.peer);
}

static void test_coturn_udp(void **state)
{
    (void)state;
    if (coturn_pid <= 0) {
        skip();
    }
    exchange(0);
}

static void test_coturn_tcp(void **state)
{
    (void)state;
    if (coturn_pid <= 0) {
        skip();
    }
    exchange(1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coturn_udp),
        cmocka_unit_test(test_coturn_tcp),
    };
    return cmocka_run_group_tests(tests, start_coturn, stop_coturn);
}
