/* rpc/tls: a client and a server wrapper talking in memory, with a
 * certificate made by openssl at test time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/tls.h"

#include <cmocka.h>

static char dir[64];
static char cert[128], key[128], enc_key[128], p8_key[128], combined[128], other_key[128];
static fl_rand rnd;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int setup(void **state)
{
    (void)state;
    fl_log_configure("*:0");
    fl_rand_seeded_init(&rnd, 1);
    snprintf(dir, sizeof(dir), "/tmp/fl_tls_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(enc_key, sizeof(enc_key), "%s/enc.pem", dir);
    snprintf(p8_key, sizeof(p8_key), "%s/p8.pem", dir);
    snprintf(combined, sizeof(combined), "%s/both.pem", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.pem", dir);
    if (run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
            "-keyout %s -out %s -days 2 -subj /CN=localhost "
            "-addext subjectAltName=DNS:localhost 2>/dev/null",
            key, cert) != 0)
        return -1;
    /* mbedTLS 2.28 reads traditional encrypted PEM, and PKCS#8 with PBKDF2-HMAC-SHA1
     * and 3DES (not OpenSSL 3's default AES with HMAC-SHA256). */
    if (run("openssl pkey -in %s -traditional -aes256 -passout pass:s3cret -out %s", key,
            enc_key) != 0)
        return -1;
    if (run("openssl pkcs8 -topk8 -in %s -v2 des3 -v2prf hmacWithSHA1 "
            "-passout pass:s3cret -out %s",
            key, p8_key) != 0)
        return -1;
    if (run("cat %s %s > %s", cert, key, combined) != 0)
        return -1;
    if (run("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out %s "
            "2>/dev/null",
            other_key) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return run("rm -rf %s", dir);
}

/* Moves ciphertext between the two until neither has anything to send.
 * Plaintext received is appended to a_in / b_in. Returns the last error. */
static int pump(fl_tls *a, fl_tls *b, fl_bytes *a_in, fl_bytes *b_in)
{
    int last = 0;
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        fl_bytes c;
        if (fl_tls_poll_transmit(a, &c) == 0) {
            int rc = fl_tls_handle_input(b, c.data, c.len, b_in);
            if (rc != 0)
                last = rc;
            fl_bytes_deinit(&c);
            moved = true;
        }
        if (fl_tls_poll_transmit(b, &c) == 0) {
            int rc = fl_tls_handle_input(a, c.data, c.len, a_in);
            if (rc != 0)
                last = rc;
            fl_bytes_deinit(&c);
            moved = true;
        }
        if (!moved)
            break;
    }
    return last;
}

static void test_handshake_and_data(void **state)
{
    (void)state;
    fl_tls_config *scfg = NULL, *ccfg = NULL;
    assert_int_equal(fl_tls_config_create_server(&scfg, cert, key, NULL, &rnd), 0);
    assert_int_equal(fl_tls_config_create_client(&ccfg, cert, &rnd), 0);
    fl_tls *srv = NULL, *cli = NULL;
    assert_int_equal(fl_tls_create(&srv, scfg, NULL), 0);
    assert_int_equal(fl_tls_create(&cli, ccfg, "localhost"), 0);
    fl_bytes s_in, c_in;
    fl_bytes_init(&s_in);
    fl_bytes_init(&c_in);
    /* Written before the handshake: held, then delivered. */
    assert_int_equal(fl_tls_write(cli, "early", 5), 0);
    assert_int_equal(pump(cli, srv, &c_in, &s_in), 0);
    assert_true(fl_tls_is_established(srv));
    assert_true(fl_tls_is_established(cli));
    assert_int_equal(s_in.len, 5);
    assert_memory_equal(s_in.data, "early", 5);
    assert_int_equal(fl_tls_write(srv, "hello client", 12), 0);
    assert_int_equal(fl_tls_write(cli, "hello server", 12), 0);
    fl_bytes_clear(&s_in);
    assert_int_equal(pump(cli, srv, &c_in, &s_in), 0);
    assert_int_equal(c_in.len, 12);
    assert_memory_equal(c_in.data, "hello client", 12);
    assert_int_equal(s_in.len, 12);
    assert_memory_equal(s_in.data, "hello server", 12);
    /* Bigger than one record, both ways. */
    size_t big_len = 100000;
    uint8_t *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 31);
    fl_bytes_clear(&s_in);
    fl_bytes_clear(&c_in);
    assert_int_equal(fl_tls_write(cli, big, big_len), 0);
    assert_int_equal(fl_tls_write(srv, big, big_len), 0);
    assert_int_equal(pump(cli, srv, &c_in, &s_in), 0);
    assert_int_equal(s_in.len, big_len);
    assert_memory_equal(s_in.data, big, big_len);
    assert_int_equal(c_in.len, big_len);
    assert_memory_equal(c_in.data, big, big_len);
    free(big);
    /* close_notify. */
    assert_int_equal(fl_tls_close(cli), 0);
    assert_int_equal(fl_tls_write(cli, "x", 1), FL_ECLOSED);
    assert_int_equal(pump(cli, srv, &c_in, &s_in), FL_ECLOSED);
    assert_int_equal(fl_tls_write(srv, "x", 1), FL_ECLOSED);
    fl_bytes_deinit(&s_in);
    fl_bytes_deinit(&c_in);
    fl_tls_destroy(srv);
    fl_tls_destroy(cli);
    fl_tls_config_destroy(scfg);
    fl_tls_config_destroy(ccfg);
}

static void handshake_with(fl_tls_config *scfg, const char *name, int expect)
{
    fl_tls_config *ccfg = NULL;
    assert_int_equal(fl_tls_config_create_client(&ccfg, name ? cert : NULL, &rnd), 0);
    fl_tls *srv = NULL, *cli = NULL;
    assert_int_equal(fl_tls_create(&srv, scfg, NULL), 0);
    assert_int_equal(fl_tls_create(&cli, ccfg, name), 0);
    fl_bytes s_in, c_in;
    fl_bytes_init(&s_in);
    fl_bytes_init(&c_in);
    assert_int_equal(pump(cli, srv, &c_in, &s_in), expect);
    assert_int_equal(fl_tls_is_established(cli), expect == 0);
    fl_bytes_deinit(&s_in);
    fl_bytes_deinit(&c_in);
    fl_tls_destroy(srv);
    fl_tls_destroy(cli);
    fl_tls_config_destroy(ccfg);
}

static void test_key_files(void **state)
{
    (void)state;
    fl_tls_config *cfg = NULL;
    /* Encrypted key with its password; certificate and key in one file. */
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, enc_key, "s3cret", &rnd), 0);
    handshake_with(cfg, NULL, 0);
    fl_tls_config_destroy(cfg);
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, p8_key, "s3cret", &rnd), 0);
    handshake_with(cfg, NULL, 0);
    fl_tls_config_destroy(cfg);
    assert_int_equal(fl_tls_config_create_server(&cfg, combined, NULL, NULL, &rnd), 0);
    handshake_with(cfg, "localhost", 0);
    /* The client checks the name. */
    handshake_with(cfg, "example.com", FL_ETLS);
    fl_tls_config_destroy(cfg);
    /* Failures. */
    cfg = NULL;
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, enc_key, "wrong", &rnd), FL_ETLS);
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, enc_key, NULL, &rnd), FL_ETLS);
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, other_key, NULL, &rnd), FL_ETLS);
    assert_int_equal(fl_tls_config_create_server(&cfg, "/nonexistent.pem", key, NULL, &rnd),
                     FL_ETLS);
    assert_int_equal(fl_tls_config_create_server(&cfg, cert, NULL, NULL, &rnd), FL_ETLS);
    assert_int_equal(fl_tls_config_create_server(&cfg, NULL, NULL, NULL, &rnd), FL_EINVAL);
    assert_int_equal(fl_tls_config_create_client(&cfg, "/nonexistent.pem", &rnd), FL_ETLS);
    assert_null(cfg);
}

static void test_garbage(void **state)
{
    (void)state;
    fl_tls_config *scfg = NULL;
    assert_int_equal(fl_tls_config_create_server(&scfg, cert, key, NULL, &rnd), 0);
    fl_tls *srv = NULL;
    assert_int_equal(fl_tls_create(&srv, scfg, NULL), 0);
    fl_bytes plain;
    fl_bytes_init(&plain);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(fl_tls_handle_input(srv, (const uint8_t *)req, strlen(req), &plain), FL_ETLS);
    assert_int_equal(fl_tls_handle_input(srv, (const uint8_t *)"x", 1, &plain), FL_ETLS);
    assert_int_equal(fl_tls_write(srv, "x", 1), FL_ETLS);
    assert_int_equal(plain.len, 0);
    fl_bytes out;
    if (fl_tls_poll_transmit(srv, &out) == 0)
        fl_bytes_deinit(&out);
    fl_bytes_deinit(&plain);
    fl_tls_destroy(srv);
    fl_tls_config_destroy(scfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
