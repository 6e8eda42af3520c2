/* rpc/whip_sdpfrag.c: trickle-ICE SDP fragments (RFC 8840) read, our
 * candidates written into an SDP answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "rpc/whip_int.h"

#include <cmocka.h>

static fl__sdpfrag F;

static int parse(const char *s)
{
    return fl__sdpfrag_parse(&F, s, strlen(s));
}

/* RFC 9725 4.3.1's example, with LF endings on some lines. */
static void test_sdpfrag(void **state)
{
    (void)state;
    const char *frag = "a=ice-options:trickle ice2\r\n"
                       "a=group:BUNDLE 0 1\r\n"
                       "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                       "a=mid:0\r\n"
                       "a=ice-ufrag:EsAw\n"
                       "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
                       "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host "
                       "generation 0 ufrag EsAw network-id 1\r\n"
                       "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host\n"
                       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                       "a=candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype active\r\n"
                       "a=mid:1\r\n"
                       "a=end-of-candidates\r\n";
    assert_int_equal(parse(frag), 0);
    assert_string_equal(F.ufrag, "EsAw");
    assert_string_equal(F.pwd, "P2uYro0UCOQ4zxjKXaWCBui1");
    assert_int_equal(F.nmedia, 2);
    assert_int_equal(F.ncands, 3);
    assert_int_equal(F.end_of_candidates, 1);
    assert_string_equal(F.cands[0].mid, "0");
    assert_int_equal(F.cands[0].mline, 0);
    assert_string_equal(F.cands[0].line, "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 "
                                         "typ host generation 0 ufrag EsAw network-id 1");
    assert_string_equal(F.cands[1].line,
                        "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host");
    assert_string_equal(F.cands[2].mid, "1"); /* its a=mid came after it */
    assert_int_equal(F.cands[2].mline, 1);
    /* Empty, and only an end. */
    assert_int_equal(parse(""), 0);
    assert_int_equal(F.ncands, 0);
    assert_int_equal(parse("a=end-of-candidates\r\n"), 0);
    assert_int_equal(F.end_of_candidates, 1);
    assert_int_equal(F.cands[0].mline, 0);
}

static void test_sdpfrag_bad(void **state)
{
    (void)state;
    assert_int_equal(parse("hello\r\n"), FL_EBADMSG);
    assert_int_equal(parse("a=candidate 1 1 udp\r\n"), FL_EBADMSG);
    assert_int_equal(parse("a=mid:0\r\na=cand\x01idate:1\r\n"), FL_EBADMSG);
    assert_int_equal(parse("A=mid:0\r\n"), FL_EBADMSG);
    assert_int_equal(parse("a=mid:0\r\r\n"), FL_EBADMSG);
    char big[FL__SDPFRAG_MAX_LINE + 16];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "a=x:", 4);
    assert_int_equal(parse(big), FL_EBADMSG);
    static char many[(FL__SDPFRAG_MAX_CANDS + 1) * 48];
    many[0] = '\0';
    for (int i = 0; i <= FL__SDPFRAG_MAX_CANDS; i++)
        strcat(many, "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n");
    assert_int_equal(parse(many), FL_ERANGE);
    /* A mid too long for its field. */
    char mid[128] = "a=mid:";
    memset(mid + 6, 'm', 100);
    assert_int_equal(parse(mid), FL_EBADMSG);
}

static void test_add_candidates(void **state)
{
    (void)state;
    const char *sdp = "v=0\r\n"
                      "a=group:BUNDLE 0 1\r\n"
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                      "a=mid:0\r\n"
                      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                      "a=mid:1\r\n"
                      "a=sendonly"; /* no ending on the last line */
    const char *cands = "0\tcandidate:1 1 udp 5 127.0.0.1 4000 typ host\n"
                        "1\tcandidate:2 1 udp 5 127.0.0.1 4002 typ host\n"
                        "0\tcandidate:3 1 udp 5 ::1 4004 typ host\n";
    fl_bytes out;
    fl_bytes_init(&out);
    assert_int_equal(fl__sdp_add_candidates(&out, sdp, strlen(sdp), cands, strlen(cands), 1), 0);
    const char *want = "v=0\r\n"
                       "a=group:BUNDLE 0 1\r\n"
                       "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                       "a=mid:0\r\n"
                       "a=candidate:1 1 udp 5 127.0.0.1 4000 typ host\r\n"
                       "a=candidate:3 1 udp 5 ::1 4004 typ host\r\n"
                       "a=end-of-candidates\r\n"
                       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                       "a=mid:1\r\n"
                       "a=sendonly\r\n"
                       "a=candidate:2 1 udp 5 127.0.0.1 4002 typ host\r\n"
                       "a=end-of-candidates\r\n";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    /* Not complete, nothing gathered: the SDP as it was (and its ending). */
    fl_bytes_clear(&out);
    assert_int_equal(fl__sdp_add_candidates(&out, sdp, strlen(sdp) - 10, "", 0, 0), 0);
    assert_int_equal(out.len, strlen(sdp) - 10);
    fl_bytes_deinit(&out);
    char ufrag[16];
    fl__sdp_ice_ufrag("v=0\r\na=ice-ufrag:abCD\r\n", ufrag, sizeof(ufrag));
    assert_string_equal(ufrag, "abCD");
    fl__sdp_ice_ufrag("v=0\r\n", ufrag, sizeof(ufrag));
    assert_string_equal(ufrag, "");
    fl__sdp_ice_ufrag("a=ice-ufrag:0123456789abcdefXYZ\r\n", ufrag, sizeof(ufrag));
    assert_string_equal(ufrag, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdpfrag),
        cmocka_unit_test(test_sdpfrag_bad),
        cmocka_unit_test(test_add_candidates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
