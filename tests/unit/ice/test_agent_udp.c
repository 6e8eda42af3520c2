/* Two ICE agents in one process over real loopback UDP sockets (IPv4 and
 * IPv6); the test does the socket I/O with poll(), as the glue would. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/agent.h"

typedef struct side {
    fl_ice_agent *a;
    fl_rand rand;
    int fds[2];
    int n_fds;
    fl_ice_state state;
} side;

static int open_socket(const char *ip, fl_addr *bound)
{
    fl_addr want;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fl_addr_parse(&want, ip, 0) != 0)
        return -1;
    int fd = socket(want.family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
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

static void side_init(side *s, uint64_t seed, fl_ice_role role, const char *const *ips, int n)
{
    memset(s, 0, sizeof(*s));
    fl_rand_seeded_init(&s->rand, seed);
    fl_ice_agent_config cfg = { .role = role, .rand = &s->rand };
    assert_int_equal(fl_ice_agent_create(&s->a, &cfg), 0);
    for (int i = 0; i < n; i++) {
        fl_ice_host h = { .component = 1, .socket_id = s->n_fds };
        int fd = open_socket(ips[i], &h.addr);
        if (fd < 0)
            continue; /* no IPv6 on this machine: the IPv4 path still runs */
        s->fds[s->n_fds++] = fd;
        assert_int_equal(fl_ice_agent_add_host(s->a, &h), 0);
    }
    assert_true(s->n_fds > 0);
}

static void side_free(side *s)
{
    for (int i = 0; i < s->n_fds; i++)
        close(s->fds[i]);
    fl_ice_agent_destroy(s->a);
}

static void flush(side *s, side *other)
{
    fl_ice_transmit tx;
    fl_ice_event ev;
    while (fl_ice_agent_poll_transmit(s->a, &tx) == 0) {
        struct sockaddr_storage ss;
        size_t n = fl_addr_to_sockaddr(&tx.dst, (struct sockaddr *)&ss, sizeof(ss));
        assert_true(tx.socket_id >= 0 && tx.socket_id < s->n_fds);
        sendto(s->fds[tx.socket_id], tx.data, tx.len, 0, (struct sockaddr *)&ss, (socklen_t)n);
    }
    while (fl_ice_agent_poll_event(s->a, &ev) == 0) {
        char line[FL_ICE_CAND_STRLEN];
        if (ev.type == FL_ICE_EVENT_LOCAL_CANDIDATE) {
            assert_true(fl_ice_candidate_write(&ev.candidate, line, sizeof(line)) > 0);
            assert_int_equal(fl_ice_agent_add_remote_candidate(other->a, fl_time_now(), line), 0);
        } else if (ev.type == FL_ICE_EVENT_GATHERING_DONE) {
            fl_ice_agent_remote_end_of_candidates(other->a, fl_time_now());
        } else if (ev.type == FL_ICE_EVENT_STATE) {
            s->state = ev.state;
        }
    }
}

static void receive(side *s, int fd_index)
{
    uint8_t buf[1500];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    ssize_t n =
            recvfrom(s->fds[fd_index], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
    fl_addr from;
    if (n > 0 && fl_addr_from_sockaddr(&from, (struct sockaddr *)&ss) == 0)
        fl_ice_agent_handle_input(s->a, fl_time_now(), fd_index, &from, buf, (size_t)n);
}

static int poll_once(side *sides)
{
    struct pollfd pfd[4];
    int owner[4], idx[4], n = 0;
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < sides[s].n_fds; i++) {
            pfd[n] = (struct pollfd){ .fd = sides[s].fds[i], .events = POLLIN };
            owner[n] = s;
            idx[n++] = i;
        }
    }
    fl_time now = fl_time_now(), next = FL_TIME_NEVER;
    for (int s = 0; s < 2; s++) {
        fl_time t = fl_ice_agent_poll_timeout(sides[s].a);
        next = t < next ? t : next;
    }
    int ms = next == FL_TIME_NEVER ? 100 : next <= now ? 0 : (int)((next - now + 999) / 1000);
    int rc = poll(pfd, (nfds_t)n, ms > 100 ? 100 : ms);
    for (int i = 0; rc > 0 && i < n; i++) {
        if (pfd[i].revents & POLLIN)
            receive(&sides[owner[i]], idx[i]);
    }
    now = fl_time_now();
    for (int s = 0; s < 2; s++) {
        if (fl_ice_agent_poll_timeout(sides[s].a) <= now)
            fl_ice_agent_handle_timeout(sides[s].a, now);
    }
    return rc;
}

static void connect_pair(const char *const *ips, int n, uint64_t seed)
{
    side s[2];
    side_init(&s[0], seed, FL_ICE_ROLE_CONTROLLING, ips, n);
    side_init(&s[1], seed + 1, FL_ICE_ROLE_CONTROLLED, ips, n);
    fl_time start = fl_time_now();
    for (int i = 0; i < 2; i++) {
        fl_ice_agent_set_remote_credentials(s[1 - i].a, fl_ice_agent_local_ufrag(s[i].a),
                                            fl_ice_agent_local_pwd(s[i].a));
        fl_ice_agent_gather(s[i].a, start);
    }
    while (fl_time_now() - start < 5 * FL_TIME_SEC) {
        flush(&s[0], &s[1]);
        flush(&s[1], &s[0]);
        if (s[0].state == FL_ICE_STATE_READY && s[1].state == FL_ICE_STATE_READY)
            break;
        poll_once(s);
    }
    assert_int_equal(s[0].state, FL_ICE_STATE_READY);
    assert_int_equal(s[1].state, FL_ICE_STATE_READY);
    fl_ice_candidate l0, r0, l1, r1;
    assert_int_equal(fl_ice_agent_selected_pair(s[0].a, 1, &l0, &r0, NULL), 0);
    assert_int_equal(fl_ice_agent_selected_pair(s[1].a, 1, &l1, &r1, NULL), 0);
    assert_true(fl_addr_equal(&l0.addr, &r1.addr));
    assert_true(fl_addr_equal(&r0.addr, &l1.addr));
    print_message("connected in %lld ms over %s\n", (long long)((fl_time_now() - start) / 1000),
                  l0.addr.family == 6 ? "IPv6" : "IPv4");
    side_free(&s[0]);
    side_free(&s[1]);
}

static void test_udp_ipv4(void **state)
{
    (void)state;
    static const char *const ips[] = { "127.0.0.1" };
    connect_pair(ips, 1, 100);
}

static void test_udp_ipv6(void **state)
{
    (void)state;
    static const char *const ips[] = { "::1" };
    fl_addr b;
    int fd = open_socket("::1", &b);
    if (fd < 0)
        skip();
    close(fd);
    connect_pair(ips, 1, 200);
}

static void test_udp_dual_stack(void **state)
{
    (void)state;
    static const char *const ips[] = { "127.0.0.1", "::1" };
    connect_pair(ips, 2, 300);
}

int main(void)
{
    fl_log_configure("*:warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_ipv4),
        cmocka_unit_test(test_udp_ipv6),
        cmocka_unit_test(test_udp_dual_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
