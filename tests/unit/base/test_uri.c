/* base/uri: percent-decoding and the paths of file: URIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "base/uri.h"

#include <cmocka.h>

static void test_hex_digit(void **state)
{
    (void)state;
    const char *digits = "0123456789abcdef", *upper = "ABCDEF";
    for (int i = 0; i < 16; i++)
        assert_int_equal(fl_hex_digit(digits[i]), i);
    for (int i = 0; i < 6; i++)
        assert_int_equal(fl_hex_digit(upper[i]), 10 + i);
    for (int c = -128; c < 256; c++) { /* the rest, as char or as uint8_t */
        if (c == 0 || (!strchr(digits, c) && !strchr(upper, c)))
            assert_int_equal(fl_hex_digit(c), -1);
    }
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(fl_percent_decode("a%20b%2Fc", 9, out, sizeof(out)), 5);
    assert_string_equal(out, "a b/c");
    assert_int_equal(fl_percent_decode("%41%4a%4A", 9, out, sizeof(out)), 3);
    assert_string_equal(out, "AJJ");
    assert_int_equal(fl_percent_decode("", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* escapes cut short or not hex, a NUL decoded, no room */
    assert_int_equal(fl_percent_decode("ab%2", 4, out, sizeof(out)), FL_EINVAL);
    assert_int_equal(fl_percent_decode("ab%", 3, out, sizeof(out)), FL_EINVAL);
    assert_int_equal(fl_percent_decode("%zz", 3, out, sizeof(out)), FL_EINVAL);
    assert_int_equal(fl_percent_decode("a%00b", 5, out, sizeof(out)), FL_EINVAL);
    assert_int_equal(fl_percent_decode("0123456789abcdef", 16, out, sizeof(out)), FL_EMSGSIZE);
    assert_int_equal(fl_percent_decode("0123456789abcde", 15, out, sizeof(out)), 15);
}

static void test_file_path(void **state)
{
    (void)state;
    char out[64];
    const char *why = NULL;
    assert_int_equal(fl_uri_file_path("file:///tmp/a%20b.webm", out, sizeof(out), &why), 0);
    assert_string_equal(out, "/tmp/a b.webm");
    assert_int_equal(fl_uri_file_path("FILE://localhost/x/y.mp4", out, sizeof(out), NULL), 0);
    assert_string_equal(out, "/x/y.mp4");
    assert_int_equal(fl_uri_file_path("http://example.com/a.webm", out, sizeof(out), &why),
                     FL_ENOTSUP);
    assert_non_null(strstr(why, "file://"));
    assert_int_equal(fl_uri_file_path("/tmp/a.webm", out, sizeof(out), &why), FL_EINVAL);
    assert_int_equal(fl_uri_file_path("file://host/a.webm", out, sizeof(out), &why), FL_EINVAL);
    assert_non_null(strstr(why, "absolute"));
    assert_int_equal(fl_uri_file_path("file:///tmp/", out, sizeof(out), &why), FL_EINVAL);
    assert_non_null(strstr(why, "folder"));
    /* dot segments, plain or percent-encoded, anywhere */
    const char *dots[] = { "file:///a/../b", "file:///a/%2e%2e/b", "file:///a%2F..%2Fb",
                           "file:///a/./b",  "file:///..",         "file:///a/%2E" };
    for (size_t i = 0; i < sizeof(dots) / sizeof(dots[0]); i++) {
        why = NULL;
        assert_int_equal(fl_uri_file_path(dots[i], out, sizeof(out), &why), FL_EINVAL);
        assert_non_null(strstr(why, "'..'"));
    }
    /* names that only look like dots are fine */
    assert_int_equal(fl_uri_file_path("file:///a/..b/.c", out, sizeof(out), NULL), 0);
    assert_int_equal(fl_uri_file_path("file:///a%00b", out, sizeof(out), &why), FL_EINVAL);
    char longuri[128];
    memset(longuri, 'x', sizeof(longuri));
    memcpy(longuri, "file:///", 8);
    longuri[sizeof(longuri) - 1] = 0;
    assert_int_equal(fl_uri_file_path(longuri, out, sizeof(out), &why), FL_EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_digit),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_file_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
