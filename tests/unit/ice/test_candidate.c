/* ice/candidate.c: SDP candidate lines from Chrome and Firefox, what is
 * refused, priorities, foundations. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/addr.h"
#include "base/err.h"
#include "ice/agent.h"

/* Lines as browsers write them; each must come back byte for byte. */
static const char *const chrome_lines[] = {
    "candidate:842163049 1 udp 1677729535 192.0.2.7 61764 typ srflx raddr 0.0.0.0 rport 0 "
    "generation 0 ufrag x network-id 1",
    "candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 ufrag EsAw "
    "network-id 1 network-cost 10",
    "candidate:1853887674 1 udp 1518280447 47.61.61.61 36768 typ srflx raddr 192.168.0.196 "
    "rport 36768 generation 0",
    "candidate:2157334355 1 udp 33562367 198.51.100.9 50212 typ relay raddr 47.61.61.61 rport "
    "54761 generation 0 ufrag EsAw network-id 1",
    "candidate:3289912957 1 tcp 1518280447 192.168.0.196 9 typ host tcptype active generation 0 "
    "network-id 1",
    "candidate:3289912958 1 tcp 1518214911 192.168.0.196 50000 typ host tcptype passive "
    "generation 0",
    "candidate:3289912959 1 tcp 1518149375 192.168.0.196 50001 typ host tcptype so generation 0",
    "candidate:2999745851 1 udp 2122197247 2001:db8::1:2 51007 typ host generation 0 ufrag EsAw "
    "network-id 2",
    "candidate:1 1 udp 1845501695 198.51.100.20 50000 typ prflx raddr 10.0.0.2 rport 40000",
};

static void test_chrome_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(chrome_lines) / sizeof(chrome_lines[0]); i++) {
        fl_ice_candidate c;
        char out[FL_ICE_CAND_STRLEN];
        const char *l = chrome_lines[i];
        assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
        int n = fl_ice_candidate_write(&c, out, sizeof(out));
        assert_int_equal(n, (int)strlen(l));
        assert_string_equal(out, l);
    }
}

static void test_fields(void **state)
{
    (void)state;
    fl_ice_candidate c;
    const char *l = chrome_lines[0];
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
    assert_string_equal(c.foundation, "842163049");
    assert_int_equal(c.component, 1);
    assert_int_equal(c.transport, FL_ICE_UDP);
    assert_int_equal(c.priority, 1677729535u);
    assert_int_equal(c.type, FL_ICE_CAND_SRFLX);
    fl_addr want;
    fl_addr_parse(&want, "192.0.2.7", 61764);
    assert_true(fl_addr_equal(&c.addr, &want));
    assert_int_equal(c.related.family, 4);
    assert_int_equal(c.related.port, 0);
    assert_int_equal(c.generation, 0);
    assert_string_equal(c.ufrag, "x");
    assert_int_equal(c.network_id, 1);
    assert_int_equal(c.network_cost, -1);

    l = chrome_lines[4];
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
    assert_int_equal(c.transport, FL_ICE_TCP);
    assert_int_equal(c.tcptype, FL_ICE_TCPTYPE_ACTIVE);
    l = chrome_lines[7];
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
    assert_int_equal(c.addr.family, 6);
    assert_int_equal(c.addr.port, 51007);
}

static void test_firefox_and_prefixes(void **state)
{
    (void)state;
    static const char *const ff[] = {
        "candidate:0 1 UDP 2122252543 192.168.1.5 53806 typ host",
        "a=candidate:1 1 UDP 1686052863 203.0.113.4 53806 typ srflx raddr 192.168.1.5 rport "
        "53806\r\n",
        "candidate:2 1 TCP 2105524479 192.168.1.5 9 typ host tcptype active",
        "candidate:3 2 UDP 92217087 198.51.100.1 60000 typ relay raddr 198.51.100.1 rport 60000",
        "candidate:4 1 udp 2122252543 fe80::1 5000 typ host   x-foo bar",
    };
    for (size_t i = 0; i < sizeof(ff) / sizeof(ff[0]); i++) {
        fl_ice_candidate c, d;
        char out[FL_ICE_CAND_STRLEN];
        assert_int_equal(fl_ice_candidate_parse(&c, ff[i], strlen(ff[i])), 0);
        assert_true(fl_ice_candidate_write(&c, out, sizeof(out)) > 0);
        assert_int_equal(fl_ice_candidate_parse(&d, out, strlen(out)), 0);
        assert_memory_equal(&c, &d, sizeof(c));
    }
    fl_ice_candidate c;
    assert_int_equal(fl_ice_candidate_parse(&c, ff[4], strlen(ff[4])), 0);
    assert_string_equal(c.ext, "x-foo bar");
    assert_int_equal(c.component, 1);
}

/* Every refusal says why (fl_ice_candidate_parse_why): the code and the
 * first problem in words, as addIceCandidate's error tells a client. */
static void test_rejects(void **state)
{
    (void)state;

    static const struct {
        const char *line;
        int err;
        const char *why; /* a part of the reason */
    } bad[] = {
        /* an mDNS name: not resolved, but a line otherwise good */
        { "candidate:1 1 udp 2122260223 4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a.local 50000 typ host",
          FL_ENOTSUP, "an mDNS .local name, which fluo does not resolve" },
        { "candidate:1 1 udp 2122260223 Fluo-Test.local 50000 typ host", FL_ENOTSUP,
          "an mDNS .local name" },
        /* ... and when something else is wrong, that is what is said */
        { "candidate:1 1 udp 2122260223 Fluo-Test.local 50000 typ bogus", FL_EINVAL,
          "the type is not host, srflx, prflx or relay" },
        { "candidate:1 1 udp 2122260223 Fluo-Test.local 0 typ host", FL_EINVAL,
          "the port is 0: a UDP candidate's is 1 to 65535" },
        { "candidate:1 1 udp 2122260223 Fluo-Test.local 5000 typ host generation", FL_EINVAL,
          "has no value" },
        { "candidate:1 1 udp 2122260223 Fluo-Test.local 5000", FL_EINVAL, "'typ' is missing" },
        /* not usable: refused, so that addIceCandidate says so */
        { "candidate:1 1 udp 2122260223 example.com 50000 typ host", FL_EINVAL,
          "the address is a host name, which fluo does not resolve" },
        { "candidate:1 1 udp 2122260223 999.1.1.1 50000 typ host", FL_EINVAL,
          "the address is not a valid IP address" },
        { "candidate:1 1 udp 2122260223 2001:db8::g 50000 typ host", FL_EINVAL,
          "the address is not a valid IP address" },
        { "candidate:1 1 udp 2122260223 f@o 50000 typ host", FL_EINVAL,
          "the address is neither an IP address nor a host name" },
        { "candidate:1 1 udp 2122260223 bad_name!.local 50000 typ host", FL_EINVAL,
          "the address is not a valid mDNS .local name" },
        { "candidate:1 1 udp 2122260223 .local 50000 typ host", FL_EINVAL,
          "not a valid mDNS .local name" },
        { "candidate:1 1 udp 2122260223 a..local 50000 typ host", FL_EINVAL,
          "not a valid mDNS .local name" },
        { "candidate:1 1 sctp 2122260223 192.0.2.1 50000 typ host", FL_EINVAL,
          "the transport is not UDP or TCP" },
        { "candidate:1 1 udp 2122260223 0.0.0.0 50000 typ host", FL_EINVAL,
          "the address is the unspecified address" },
        { "candidate:1 1 udp 2122260223 :: 50000 typ host", FL_EINVAL, "unspecified address" },
        { "candidate:1 1 udp 2122260223 224.0.0.251 5353 typ host", FL_EINVAL,
          "the address is a multicast address" },
        { "candidate:1 1 udp 2122260223 239.255.255.250 1900 typ host", FL_EINVAL, "multicast" },
        { "candidate:1 1 udp 2122260223 255.255.255.255 5000 typ host", FL_EINVAL,
          "the address is the broadcast address" },
        { "candidate:1 1 udp 2122260223 ff02::fb 5353 typ host", FL_EINVAL, "multicast" },
        { "candidate:1 1 tcp 2122260223 0.0.0.0 9 typ host tcptype active", FL_EINVAL,
          "unspecified address" },
        { "candidate:1 1 udp 2122260223 fe80::1%eth0 5000 typ host", FL_EINVAL,
          "a scoped IPv6 address is usable on its host only" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ bogus", FL_EINVAL,
          "the type is not host, srflx, prflx or relay" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 50000 typx host", FL_EINVAL, "'typ' is missing" },
        { "candidate:1 1 udp 2130706431 127.0.0.1 5000 host", FL_EINVAL, "'typ' is missing" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 70000 typ host", FL_ERANGE,
          "the port is not 0 to 65535" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 -1 typ host", FL_EINVAL,
          "the port is not 0 to 65535" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 0 typ host", FL_EINVAL,
          "the port is 0: a UDP candidate's is 1 to 65535" },
        { "candidate:1 0 udp 2122260223 192.0.2.1 5000 typ host", FL_ERANGE,
          "the component is not 1 to 256" },
        { "candidate:1 257 udp 2122260223 192.0.2.1 5000 typ host", FL_ERANGE,
          "the component is not 1 to 256" },
        { "candidate:1 udp 2122260223 192.0.2.1 5000 typ host", FL_EINVAL,
          "the foundation or the component is missing" },
        { "candidate:1 1 udp 0 192.0.2.1 5000 typ host", FL_ERANGE,
          "the priority is not 1 to 2^31-1" },
        { "candidate:1 1 udp 4294967295 192.0.2.1 5000 typ host", FL_ERANGE,
          "the priority is not 1 to 2^31-1" },
        { "candidate:1 1 udp 99999999999999999999999 192.0.2.1 5000 typ host", FL_ERANGE,
          "the priority" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation", FL_EINVAL,
          "an attribute after the type has no value" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000", FL_EINVAL, "'typ' is missing" },
        { "candidate:1 1 udp 2122260223", FL_EINVAL, "the address is missing" },
        { "candidate:", FL_EINVAL, "the foundation is missing" },
        { "candidate:f@o 1 udp 2122260223 192.0.2.1 5000 typ host", FL_EINVAL,
          "the foundation has a character other than letters, digits, '+' and '/'" },
        { "candidate:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 udp 2122260223 192.0.2.1 5000 typ host",
          FL_ERANGE, "the foundation is longer than 32 characters" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host raddr nothere rport 1", FL_EINVAL,
          "raddr is not an IP address" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ srflx raddr 10.0.0.1 rport 70000",
          FL_ERANGE, "rport is not 0 to 65535" },
        { "candidate:1 1 tcp 2122260223 192.0.2.1 5000 typ host tcptype weird", FL_EINVAL,
          "tcptype is not active, passive or so" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host tcptype active", FL_EINVAL,
          "tcptype is for TCP candidates only" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation x", FL_EINVAL,
          "generation is not 0 to 2^63-1" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host network-id -1", FL_EINVAL,
          "network-id is not 0 to 2^63-1" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host network-cost 9223372036854775808",
          FL_ERANGE, "network-cost is not 0 to 2^63-1" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host ufrag "
          "0123456789012345678901234567890123456789012345678901234567890123",
          FL_ERANGE, "ufrag is longer than 63 characters" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation 0\a", FL_EINVAL,
          "a control character or a byte outside printable ASCII" },
        { "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host x-\xc3\xa9 1", FL_EINVAL,
          "outside printable ASCII" },
        { "cand:1 1 udp 2122260223 192.0.2.1 5000 typ host", FL_EINVAL,
          "it does not start with 'candidate:'" },
        { "", FL_EINVAL, "does not start with 'candidate:'" },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fl_ice_candidate c;
        const char *why = "untouched";
        int rc = fl_ice_candidate_parse_why(&c, bad[i].line, strlen(bad[i].line), &why);
        if (rc != bad[i].err)
            fail_msg("line %zu: got %d want %d: %s", i, rc, bad[i].err, bad[i].line);
        if (!why || !strstr(why, bad[i].why))
            fail_msg("line %zu: reason '%s', want '%s': %s", i, why ? why : "(null)", bad[i].why,
                     bad[i].line);
        /* the plain parser decides the same */
        assert_int_equal(fl_ice_candidate_parse(&c, bad[i].line, strlen(bad[i].line)), rc);
    }
}

/* Too many fields: counted before anything else; a TCP candidate that
 * would need the tcptype added and has no room for it. */
static void test_reject_reasons_length(void **state)
{
    (void)state;
    char l[600] = "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host";
    fl_ice_candidate c;
    const char *why = NULL;
    for (int i = 0; i < 20; i++)
        strcat(l, " x y");
    assert_int_equal(fl_ice_candidate_parse_why(&c, l, strlen(l), &why), 0); /* 48 */
    assert_null(why);
    strcat(l, " x y");
    assert_int_equal(fl_ice_candidate_parse_why(&c, l, strlen(l), &why), FL_ERANGE);
    assert_non_null(why);
    assert_non_null(strstr(why, "more than 48 fields"));

    char t[600] = "candidate:1 1 tcp 2122260223 192.0.2.1 5000 typ host";
    for (int i = 0; i < 20; i++)
        strcat(t, " x y");
    assert_int_equal(fl_ice_candidate_parse_why(&c, t, strlen(t), &why), FL_ERANGE);
    assert_non_null(strstr(why, "with the rport or tcptype it lacks added"));

    /* no out, no line: refused with a reason too; a NULL why is fine */
    assert_int_equal(fl_ice_candidate_parse_why(NULL, l, strlen(l), &why), FL_EINVAL);
    assert_non_null(why);
    assert_int_equal(fl_ice_candidate_parse_why(&c, NULL, 0, &why), FL_EINVAL);
    assert_non_null(why);
    assert_int_equal(fl_ice_candidate_parse_why(&c, "candidate:", 10, NULL), FL_EINVAL);
}

/* A good line: 0 and no reason, whatever *why held before. */
static void test_accept_clears_reason(void **state)
{
    (void)state;
    fl_ice_candidate c;
    const char *why = "stale";
    const char *l = chrome_lines[1];
    assert_int_equal(fl_ice_candidate_parse_why(&c, l, strlen(l), &why), 0);
    assert_null(why);
    assert_int_equal(c.addr.port, 46243);
}

/* Addresses at the edges of what is refused still parse: a hidden base
 * (raddr 0.0.0.0), link-local, loopback, the highest unicast IPv4 below
 * broadcast, a TCP active candidate's discard port. */
static void test_usable_addresses(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "candidate:1 1 udp 1677729535 192.0.2.7 61764 typ srflx raddr 0.0.0.0 rport 0",
        "candidate:1 1 udp 1677729535 192.0.2.7 61764 typ srflx raddr :: rport 0",
        "candidate:1 1 udp 2122260223 fe80::1 5000 typ host",
        "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
        "candidate:1 1 udp 2122260223 ::1 5000 typ host",
        "candidate:1 1 udp 2122260223 223.255.255.255 5000 typ host",
        "candidate:1 1 udp 2122260223 255.255.255.254 5000 typ host",
        "candidate:1 1 udp 2122260223 fe00::1 5000 typ host",
        "candidate:1 1 tcp 1518280447 192.168.0.196 9 typ host tcptype active",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        fl_ice_candidate c;
        if (fl_ice_candidate_parse(&c, ok[i], strlen(ok[i])) != 0)
            fail_msg("refused: %s", ok[i]);
    }
}

/* tests/fuzz/corpus/candidate/regress_repeated_ufrag: a repeated attribute
 * must not leave bytes of the first value behind. */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    const char *l =
            "candidate:842163049 1 udp 1677729535 192.0.2.7 61764 typ srflx radd[ 0.0 rport 0 "
            "generation 0 ufrag xewot nrkration 0 ufrag x -id 1a";
    fl_ice_candidate c, d;
    char out[FL_ICE_CAND_STRLEN];
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
    assert_string_equal(c.ufrag, "x");
    int n = fl_ice_candidate_write(&c, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(fl_ice_candidate_parse(&d, out, (size_t)n), 0);
    assert_memory_equal(&c, &d, sizeof(c));
}

/* tests/fuzz/corpus/candidate/regress_tcp_no_tcptype: a TCP candidate
 * without tcptype is written back with "tcptype passive"; one whose tokens
 * leave no room for it is refused rather than written as a line that does
 * not parse. */
static void test_fuzz_regression_tcptype(void **state)
{
    (void)state;
    char l[600] = "candidate:2957 1 tcp 151 192.168.0.6 8 typ host";
    fl_ice_candidate c, d;
    char out[FL_ICE_CAND_STRLEN];
    for (int i = 0; i < 19; i++)
        strcat(l, " x n");
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0); /* 46 tokens */
    int n = fl_ice_candidate_write(&c, out, sizeof(out));
    assert_true(n > 0);
    assert_non_null(strstr(out, " tcptype passive"));
    assert_int_equal(fl_ice_candidate_parse(&d, out, (size_t)n), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    strcat(l, " x n"); /* 48: no room for the two tcptype tokens */
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), FL_ERANGE);
    strcat(l, " tcptype passive"); /* given: room is not needed, but 50 tokens */
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), FL_ERANGE);
}

/* tests/fuzz/corpus/candidate/regress_raddr_no_rport: a raddr without
 * rport is written back with "rport 0" (and a TCP one with "tcptype
 * passive"); a line whose tokens leave no room for what is added is refused
 * rather than written as one that does not parse. */
static void test_fuzz_regression_raddr_no_rport(void **state)
{
    (void)state;
    char l[600] = "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ srflx raddr 10.0.0.2";
    fl_ice_candidate c, d;
    char out[FL_ICE_CAND_STRLEN];
    const char *why;
    for (int i = 0; i < 18; i++)
        strcat(l, " x n");
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0); /* 46 tokens */
    int n = fl_ice_candidate_write(&c, out, sizeof(out));
    assert_true(n > 0);
    assert_non_null(strstr(out, " raddr 10.0.0.2 rport 0"));
    assert_int_equal(fl_ice_candidate_parse(&d, out, (size_t)n), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    strcat(l, " x n"); /* 48: no room for "rport 0" */
    assert_int_equal(fl_ice_candidate_parse_why(&c, l, strlen(l), &why), FL_ERANGE);
    assert_non_null(strstr(why, "more than 48 fields"));

    /* the fuzzer's line: TCP, a lone raddr, 46 tokens; 50 written back */
    const char *f = "candidate:2957 1 tcp 151 192.168.0.6 8 typ host ct 0 geida gelx raddr "
                    "10.0.0.2 rpo0 50000 tnor[ 0 gne 0 .rnet ufr x n g n1t% g ag x net ufr x n g "
                    "x n96  6 8 typ host ct 0 geida genor[dp ng x";
    assert_int_equal(fl_ice_candidate_parse_why(&c, f, strlen(f), &why), FL_ERANGE);
    /* with rport given only the tcptype is added: 48, taken */
    const char *g = "candidate:2957 1 tcp 151 192.168.0.6 8 typ host ct 0 geida gelx raddr "
                    "10.0.0.2 rport 50000 tnor[ 0 gne 0 .rnet ufr x n g n1t% g ag x net ufr x n "
                    "g x n96  6 8 typ host ct 0 geida genor[dp ng x";
    assert_int_equal(fl_ice_candidate_parse(&c, g, strlen(g)), 0);
    n = fl_ice_candidate_write(&c, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(fl_ice_candidate_parse(&d, out, (size_t)n), 0);
    assert_memory_equal(&c, &d, sizeof(c));
}

static void test_write_small_buffer(void **state)
{
    (void)state;
    fl_ice_candidate c;
    char out[20];
    const char *l = chrome_lines[0];
    assert_int_equal(fl_ice_candidate_parse(&c, l, strlen(l)), 0);
    assert_int_equal(fl_ice_candidate_write(&c, out, sizeof(out)), FL_EMSGSIZE);
    assert_string_equal(out, "");
}

static void test_priorities(void **state)
{
    (void)state;
    assert_int_equal(fl_ice_candidate_type_pref(FL_ICE_CAND_HOST), 126);
    assert_int_equal(fl_ice_candidate_type_pref(FL_ICE_CAND_PRFLX), 110);
    assert_int_equal(fl_ice_candidate_type_pref(FL_ICE_CAND_SRFLX), 100);
    assert_int_equal(fl_ice_candidate_type_pref(FL_ICE_CAND_RELAY), 0);
    /* Chrome's host candidate above: 126, local pref 65535 - 0x... */
    assert_int_equal(fl_ice_candidate_priority(126, 65535, 1), 2130706431u);
    assert_int_equal(fl_ice_candidate_priority(126, 32542, 1), 2122260223u);
    assert_int_equal(fl_ice_candidate_priority(0, 65535, 2), 16777214u);
    /* 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0) */
    assert_true(fl_ice_candidate_pair_priority(10, 20) == (10ull << 32) + 40);
    assert_true(fl_ice_candidate_pair_priority(20, 10) == (10ull << 32) + 41);
    assert_true(fl_ice_candidate_pair_priority(0x7fffffff, 0x7fffffff) ==
                (0x7fffffffull << 32) + 2ull * 0x7fffffff);
}

static void test_foundations(void **state)
{
    (void)state;
    fl_addr b1, b2, s1, s2;
    char f1[FL_ICE_FOUNDATION_MAX], f2[FL_ICE_FOUNDATION_MAX];
    fl_addr_parse(&b1, "10.0.0.1", 1000);
    fl_addr_parse(&b2, "10.0.0.1", 2000); /* same IP, other port */
    fl_addr_parse(&s1, "192.0.2.1", 3478);
    fl_addr_parse(&s2, "192.0.2.2", 3478);
    fl_ice_candidate_foundation(f1, FL_ICE_CAND_HOST, &b1, NULL, FL_ICE_UDP);
    fl_ice_candidate_foundation(f2, FL_ICE_CAND_HOST, &b2, NULL, FL_ICE_UDP);
    assert_string_equal(f1, f2);
    fl_ice_candidate_foundation(f2, FL_ICE_CAND_SRFLX, &b1, &s1, FL_ICE_UDP);
    assert_string_not_equal(f1, f2);
    fl_ice_candidate_foundation(f1, FL_ICE_CAND_SRFLX, &b1, &s2, FL_ICE_UDP);
    assert_string_not_equal(f1, f2);
    fl_ice_candidate_foundation(f1, FL_ICE_CAND_HOST, &b1, NULL, FL_ICE_TCP);
    fl_ice_candidate_foundation(f2, FL_ICE_CAND_HOST, &b1, NULL, FL_ICE_UDP);
    assert_string_not_equal(f1, f2);
    for (const char *p = f1; *p; p++)
        assert_true(*p >= '0' && *p <= '9');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chrome_round_trip),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_firefox_and_prefixes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_reject_reasons_length),
        cmocka_unit_test(test_accept_clears_reason),
        cmocka_unit_test(test_usable_addresses),
        cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_fuzz_regression_tcptype),
        cmocka_unit_test(test_fuzz_regression_raddr_no_rport),
        cmocka_unit_test(test_write_small_buffer),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_foundations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
