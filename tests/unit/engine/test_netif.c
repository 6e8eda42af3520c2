/* Host candidate addresses: checked against what `ip -o addr` reports, and
 * against an interface made here in a network namespace of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/addr.h"
#include "engine/netif.h"

#include <cmocka.h>

static fl__netif_addr addrs[256];

static int has(size_t n, const char *name, const char *ip)
{
    fl_addr want;
    fl_addr_parse(&want, ip, 0);
    for (size_t i = 0; i < n; i++) {
        if ((!name || strcmp(addrs[i].name, name) == 0) && fl_addr_ip_equal(&addrs[i].addr, &want))
            return 1;
    }
    return 0;
}

static void test_loopback_and_filter(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(fl__netif_list(NULL, 1, addrs, 256, &n), 0);
    assert_true(has(n, "lo", "127.0.0.1"));
    assert_int_equal(fl__netif_list(NULL, 0, addrs, 256, &n), 0);
    assert_false(has(n, NULL, "127.0.0.1"));
    for (size_t i = 0; i < n; i++) {
        assert_false(addrs[i].loopback);
        assert_false(fl_addr_is_link_local(&addrs[i].addr));
    }
    assert_int_equal(fl__netif_list("lo", 1, addrs, 256, &n), 0);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(addrs[i].name, "lo");
    assert_int_equal(fl__netif_list(" nope0 , lo ", 1, addrs, 256, &n), 0);
    assert_true(has(n, "lo", "127.0.0.1"));
    assert_int_equal(fl__netif_list("nope0", 1, addrs, 256, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(fl__netif_list(NULL, 1, addrs, 1, &n), 0);
    assert_int_equal(n, 1);
}

/* Every global address `ip -o addr` lists for an interface that is up is
 * found. */
static void test_matches_ip_addr(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(fl__netif_list(NULL, 1, addrs, 256, &n), 0);
    FILE *p = popen("ip -o addr show up 2>/dev/null", "r");
    if (!p)
        skip();
    char line[512], ifname[64], fam[16], cidr[128];
    int seen = 0;
    while (fgets(line, sizeof(line), p)) {
        if (sscanf(line, "%*d: %63s %15s %127s", ifname, fam, cidr) != 3)
            continue;
        char *slash = strchr(cidr, '/');
        if (slash)
            *slash = '\0';
        fl_addr a;
        if (fl_addr_parse(&a, cidr, 0) != 0 || fl_addr_is_link_local(&a))
            continue;
        if (!has(n, ifname, cidr))
            fail_msg("%s on %s is not listed", cidr, ifname);
        seen++;
    }
    pclose(p);
    assert_true(seen >= 1);
}

/* In a namespace of its own with one veth carrying 192.0.2.10 and
 * 2001:db8::10 (plus its link-local address), exactly those are listed. */
static void test_in_namespace(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char ns[64], self[512], cmd[2048], out[128];
    snprintf(ns, sizeof(ns), "flnetif%d", (int)getpid());
    snprintf(out, sizeof(out), "/tmp/%s.out", ns);
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(len > 0);
    self[len] = '\0';
    /* The listing runs inside the namespace through this same binary. */
    snprintf(cmd, sizeof(cmd),
             "ip netns add %1$s && ip -n %1$s link add v0 type veth peer name v1 && "
             "ip -n %1$s link set v0 up && ip -n %1$s link set v1 up && "
             "ip -n %1$s link set lo up && ip -n %1$s addr add 192.0.2.10/24 dev v0 && "
             "ip -n %1$s -6 addr add 2001:db8::10/64 dev v0 nodad && "
             "ip netns exec %1$s %2$s --list v0 > %3$s",
             ns, self, out);
    int rc = system(cmd);
    snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
    if (system(cmd) != 0 && rc == 0)
        fail_msg("cannot delete namespace %s", ns);
    assert_int_equal(rc, 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char text[1024];
    size_t got = fread(text, 1, sizeof(text) - 1, f);
    text[got] = '\0';
    fclose(f);
    unlink(out);
    assert_string_equal(text, "v0 192.0.2.10\nv0 2001:db8::10\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        size_t n;
        if (fl__netif_list(argc > 2 ? argv[2] : NULL, 0, addrs, 256, &n) != 0)
            return 1;
        char s[FL_ADDR_STRLEN];
        for (size_t i = 0; i < n; i++)
            printf("%s %s\n", addrs[i].name, fl_addr_ip_str(&addrs[i].addr, s));
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_and_filter),
        cmocka_unit_test(test_matches_ip_addr),
        cmocka_unit_test(test_in_namespace),
    };
    return cmocka_run_group_tests_name("engine_netif", tests, NULL, NULL);
}
