/* net/httpauth: challenges parsed (one or several per value, the strongest
 * picked), Basic and Digest answers checked against RFC 7617, RFC 2617
 * and RFC 7616's examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/httpauth.h"

#include <cmocka.h>

/* The value of `name` (quoted or not) in a Digest answer. */
static void param_of(const char *answer, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, " %s=", name);
    const char *p = strstr(answer, key);
    assert_non_null(p);
    p += strlen(key);
    int quoted = *p == '"';
    if (quoted)
        p++;
    size_t n = 0;
    while (*p && (quoted ? *p != '"' : *p != ',') && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
}

static void test_basic(void **state)
{
    (void)state;
    fl_httpauth_challenge c;
    assert_int_equal(fl_httpauth_challenge_parse(&c, "Basic realm=\"WallyWorld\""), 0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_BASIC);
    assert_string_equal(c.realm, "WallyWorld");
    char out[256];
    /* RFC 7617 section 2. */
    long n = fl_httpauth_write(out, sizeof out, &c, "Aladdin", "open sesame", "GET", "/", NULL, 0);
    assert_int_equal(n, (long)strlen("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    assert_string_equal(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    assert_int_equal(fl_httpauth_write(out, 10, &c, "Aladdin", "open sesame", "GET", "/", NULL, 0),
                     FL_EMSGSIZE);
}

/* RFC 2617 section 3.5. */
static void test_digest_rfc2617(void **state)
{
    (void)state;
    fl_httpauth_challenge c;
    assert_int_equal(fl_httpauth_challenge_parse(&c,
                                                 "Digest realm=\"testrealm@host.com\", "
                                                 "qop=\"auth,auth-int\", "
                                                 "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                                 "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
                     0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_DIGEST);
    assert_int_equal(c.alg, FL_HTTPAUTH_MD5);
    assert_true(c.qop_auth);
    assert_true(c.has_opaque);
    assert_string_equal(c.realm, "testrealm@host.com");
    assert_string_equal(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    char out[512], v[128];
    long n = fl_httpauth_write(out, sizeof out, &c, "Mufasa", "Circle Of Life", "GET",
                               "/dir/index.html", "0a4f113b", 1);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    param_of(out, "response", v, sizeof v);
    assert_string_equal(v, "6629fae49393a05397450978507c4ef1");
    param_of(out, "nc", v, sizeof v);
    assert_string_equal(v, "00000001");
    param_of(out, "qop", v, sizeof v);
    assert_string_equal(v, "auth");
    param_of(out, "opaque", v, sizeof v);
    assert_string_equal(v, "5ccc069c403ebaf9f0171e9517f40e41");
    assert_true(strncmp(out, "Digest username=\"Mufasa\", realm=\"testrealm@host.com\"", 51) == 0);
    /* Its response without qop (RFC 2069 servers, as many cameras). */
    c.qop_auth = 0;
    fl_httpauth_challenge d = c;
    snprintf(d.realm, sizeof d.realm, "GStreamer Server");
    snprintf(d.nonce, sizeof d.nonce, "abc123");
    n = fl_httpauth_write(out, sizeof out, &d, "user", "secret", "DESCRIBE",
                          "rtsp://127.0.0.1:8554/test", NULL, 0);
    assert_true(n > 0);
    param_of(out, "response", v, sizeof v);
    assert_string_equal(v, "a8dca15efd6ab022f94acdddc1846708");
    assert_null(strstr(out, "qop="));
    assert_null(strstr(out, "cnonce="));
    /* MD5-sess with qop. */
    c.qop_auth = 1;
    c.alg = FL_HTTPAUTH_MD5_SESS;
    n = fl_httpauth_write(out, sizeof out, &c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                          "0a4f113b", 1);
    assert_true(n > 0);
    param_of(out, "response", v, sizeof v);
    assert_string_equal(v, "8e3825c57e897f5a0dec6c2d4e5059d0");
    param_of(out, "algorithm", v, sizeof v);
    assert_string_equal(v, "MD5-sess");
    /* qop needs a cnonce. */
    assert_int_equal(fl_httpauth_write(out, sizeof out, &c, "Mufasa", "x", "GET", "/", NULL, 1),
                     FL_EINVAL);
    /* A quote in a quoted string would break the field. */
    assert_int_equal(fl_httpauth_write(out, sizeof out, &c, "Mu\"fasa", "x", "GET", "/", "abc", 1),
                     FL_EINVAL);
    assert_int_equal(fl_httpauth_write(out, 40, &c, "Mufasa", "x", "GET", "/", "abc", 1),
                     FL_EMSGSIZE);
}

/* RFC 7616 section 3.9.1: one value with two challenges, SHA-256 first. */
static void test_digest_rfc7616(void **state)
{
    (void)state;
    const char *sha = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
                      "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
                      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const char *md5 = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
                      "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
                      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    char both[1024], out[512], v[128];
    /* The MD5 one first in the value: pick still prefers SHA-256. */
    snprintf(both, sizeof both, "%s, %s, Basic realm=\"x\"", md5, sha);
    fl_httpauth_challenge c;
    memset(&c, 0, sizeof c);
    assert_int_equal(fl_httpauth_challenge_pick(&c, both), 0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_DIGEST);
    assert_int_equal(c.alg, FL_HTTPAUTH_SHA256);
    assert_string_equal(c.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
    long n = fl_httpauth_write(out, sizeof out, &c, "Mufasa", "Circle of Life", "GET",
                               "/dir/index.html", cnonce, 1);
    assert_true(n > 0);
    param_of(out, "response", v, sizeof v);
    assert_string_equal(v, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    param_of(out, "algorithm", v, sizeof v);
    assert_string_equal(v, "SHA-256");
    /* parse takes the first usable one: the MD5 one. */
    assert_int_equal(fl_httpauth_challenge_parse(&c, both), 0);
    assert_int_equal(c.alg, FL_HTTPAUTH_MD5);
    n = fl_httpauth_write(out, sizeof out, &c, "Mufasa", "Circle of Life", "GET", "/dir/index.html",
                          cnonce, 1);
    assert_true(n > 0);
    param_of(out, "response", v, sizeof v);
    assert_string_equal(v, "8ca523f5e9506fed4657c9700eebdbec");
    /* pick over separate field values (RTSP servers send one each). */
    memset(&c, 0, sizeof c);
    assert_int_equal(fl_httpauth_challenge_pick(&c, "Basic realm=\"cam\""), 0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_BASIC);
    assert_int_equal(fl_httpauth_challenge_pick(&c, md5), 0);
    assert_int_equal(c.alg, FL_HTTPAUTH_MD5);
    assert_int_equal(fl_httpauth_challenge_pick(&c, "Basic realm=\"cam\""), 0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_DIGEST);
}

static void test_challenges_refused(void **state)
{
    (void)state;
    fl_httpauth_challenge c;
    assert_int_equal(fl_httpauth_challenge_parse(&c, "Negotiate"), FL_ENOTSUP);
    assert_int_equal(fl_httpauth_challenge_parse(&c, "Bearer realm=\"x\", error=\"invalid\""),
                     FL_ENOTSUP);
    assert_int_equal(fl_httpauth_challenge_parse(&c, "NTLM abcd==, Basic realm=\"b\""), 0);
    assert_int_equal(c.scheme, FL_HTTPAUTH_BASIC);
    assert_string_equal(c.realm, "b");
    assert_int_equal(fl_httpauth_challenge_parse(&c, "Digest realm=\"r\""),
                     FL_ENOTSUP); /* no nonce */
    assert_int_equal(
            fl_httpauth_challenge_parse(&c, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512"),
            FL_ENOTSUP);
    assert_int_equal(
            fl_httpauth_challenge_parse(&c, "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            FL_ENOTSUP);
    assert_int_equal(fl_httpauth_challenge_parse(&c, "Digest realm=\"r, nonce=\"n\""), FL_EBADMSG);
    assert_int_equal(
            fl_httpauth_challenge_parse(&c, "Digest realm=\"a\\\"b\", nonce=n, stale=TRUE"), 0);
    assert_string_equal(c.realm, "a\"b");
    assert_string_equal(c.nonce, "n");
    assert_true(c.stale);
    assert_false(c.qop_auth);
    assert_int_equal(fl_httpauth_challenge_parse(&c, ""), FL_ENOTSUP);
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "Digest nonce=\"", 14);
    big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    assert_int_equal(fl_httpauth_challenge_parse(&c, big), FL_EMSGSIZE);
    memset(&c, 0, sizeof c);
    assert_int_equal(fl_httpauth_challenge_pick(&c, "Foo bar=1"), FL_ENOTSUP);
    char out[64];
    assert_int_equal(fl_httpauth_write(out, sizeof out, &c, "u", "p", "GET", "/", "x", 1),
                     FL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_digest_rfc2617),
        cmocka_unit_test(test_digest_rfc7616),
        cmocka_unit_test(test_challenges_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
