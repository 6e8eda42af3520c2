/* The one file that wraps mbedTLS's SSL layer. */
#include "rpc/tls.h"

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("tls");

#define TLS_READ_CHUNK 16384

struct fl_tls_config {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain; /* server: our chain; client: trusted roots */
    mbedtls_pk_context key;
    fl_rand *rand;
    bool server;
    bool verify;
};

struct fl_tls {
    fl_tls_config *cfg;
    mbedtls_ssl_context ssl;
    fl_bytes in; /* ciphertext not yet read by mbedTLS */
    size_t in_off;
    fl_bytes out;     /* ciphertext to send */
    fl_bytes pending; /* plaintext written before the handshake completed */
    bool established;
    bool closed;
    bool failed;
};

static void log_mbedtls(int level, const char *what, int ret)
{
    char msg[128];
    mbedtls_strerror(ret, msg, sizeof(msg));
    fl_log(level, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

static int rng(void *ctx, unsigned char *out, size_t len)
{
    fl_rand_fill(ctx, out, len);
    return 0;
}

static fl_tls_config *config_new(bool server, fl_rand *rand)
{
    fl_tls_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    mbedtls_ssl_config_init(&cfg->conf);
    mbedtls_x509_crt_init(&cfg->chain);
    mbedtls_pk_init(&cfg->key);
    cfg->rand = rand ? rand : fl_rand_system();
    cfg->server = server;
    return cfg;
}

static int config_defaults(fl_tls_config *cfg)
{
    int ret = mbedtls_ssl_config_defaults(
            &cfg->conf, cfg->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
            MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "TLS defaults", ret);
        return FL_ETLS;
    }
    mbedtls_ssl_conf_rng(&cfg->conf, rng, cfg->rand);
    mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    return 0;
}

static int load_server_files(fl_tls_config *cfg,
                             const char *cert_file,
                             const char *key_file,
                             const char *key_password)
{
    int ret = mbedtls_x509_crt_parse_file(&cfg->chain, cert_file);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "cannot load certificate chain from %s", cert_file);
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        return FL_ETLS;
    }
    const char *kf = key_file ? key_file : cert_file;
    ret = mbedtls_pk_parse_keyfile(&cfg->key, kf, key_password);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "cannot load private key from %s", kf);
        log_mbedtls(FL_LOG_ERROR, "private key", ret);
        if (key_password)
            fl_log(FL_LOG_ERROR,
                   "an encrypted key must be traditional PEM (openssl pkey "
                   "-traditional -aes256) or PKCS#8 with -v2 des3 -v2prf hmacWithSHA1");
        return FL_ETLS;
    }
    ret = mbedtls_pk_check_pair(&cfg->chain.pk, &cfg->key);
    if (ret != 0) {
        fl_log(FL_LOG_ERROR, "private key in %s does not match the certificate in %s", kf,
               cert_file);
        return FL_ETLS;
    }
    ret = mbedtls_ssl_conf_own_cert(&cfg->conf, &cfg->chain, &cfg->key);
    if (ret != 0) {
        log_mbedtls(FL_LOG_ERROR, "certificate", ret);
        return FL_ETLS;
    }
    return 0;
}

int fl_tls_config_create_server(fl_tls_config **out,
                                const char *cert_file,
                                const char *key_file,
                                const char *key_password,
                                fl_rand *rand)
{
    if (!cert_file)
        return FL_EINVAL;
    fl_tls_config *cfg = config_new(true, rand);
    if (!cfg)
        return FL_ENOMEM;
    int rc = config_defaults(cfg);
    if (rc == 0)
        rc = load_server_files(cfg, cert_file, key_file, key_password);
    if (rc != 0)
        goto fail;
    *out = cfg;
    return 0;
fail:
    fl_tls_config_destroy(cfg);
    return rc;
}

int fl_tls_config_create_client(fl_tls_config **out, const char *ca_file, fl_rand *rand)
{
    fl_tls_config *cfg = config_new(false, rand);
    if (!cfg)
        return FL_ENOMEM;
    int rc = config_defaults(cfg);
    if (rc != 0)
        goto fail;
    if (!ca_file) {
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
    } else {
        int ret = mbedtls_x509_crt_parse_file(&cfg->chain, ca_file);
        if (ret != 0) {
            fl_log(FL_LOG_ERROR, "cannot load CA certificates from %s", ca_file);
            rc = FL_ETLS;
            goto fail;
        }
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(&cfg->conf, &cfg->chain, NULL);
        cfg->verify = true;
    }
    *out = cfg;
    return 0;
fail:
    fl_tls_config_destroy(cfg);
    return rc;
}

void fl_tls_config_destroy(fl_tls_config *cfg)
{
    if (!cfg)
        return;
    mbedtls_ssl_config_free(&cfg->conf);
    mbedtls_x509_crt_free(&cfg->chain);
    mbedtls_pk_free(&cfg->key);
    free(cfg);
}

/* ---- memory BIO ----------------------------------------------------------- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    fl_tls *t = ctx;
    if (fl_bytes_append(&t->out, buf, len) != 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    fl_tls *t = ctx;
    size_t avail = t->in.len - t->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, t->in.data + t->in_off, len);
    t->in_off += len;
    if (t->in_off == t->in.len) {
        fl_bytes_clear(&t->in);
        t->in_off = 0;
    }
    return (int)len;
}

/* ---- connection ----------------------------------------------------------- */

static int write_all(fl_tls *t, const uint8_t *data, size_t len)
{
    while (len > 0) {
        int ret = mbedtls_ssl_write(&t->ssl, data, len);
        if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
            return FL_ENOMEM;
        if (ret <= 0) {
            log_mbedtls(FL_LOG_DEBUG, "write", ret);
            t->failed = true;
            return FL_ETLS;
        }
        data += ret;
        len -= (size_t)ret;
    }
    return 0;
}

/* Runs the handshake as far as the input allows. */
static int drive_handshake(fl_tls *t)
{
    int ret = mbedtls_ssl_handshake(&t->ssl);
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
        return FL_ENOMEM;
    if (ret != 0) {
        log_mbedtls(FL_LOG_DEBUG, "handshake", ret);
        t->failed = true;
        return FL_ETLS;
    }
    t->established = true;
    fl_log(FL_LOG_DEBUG, "handshake done: %s %s", mbedtls_ssl_get_version(&t->ssl),
           mbedtls_ssl_get_ciphersuite(&t->ssl));
    int rc = write_all(t, t->pending.data, t->pending.len);
    fl_bytes_deinit(&t->pending);
    return rc;
}

int fl_tls_create(fl_tls **out, fl_tls_config *cfg, const char *server_name)
{
    fl_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return FL_ENOMEM;
    t->cfg = cfg;
    mbedtls_ssl_init(&t->ssl);
    int rc = FL_ETLS;
    int ret = mbedtls_ssl_setup(&t->ssl, &cfg->conf);
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
        rc = FL_ENOMEM;
    if (ret != 0)
        goto fail;
    if (!cfg->server && (server_name || cfg->verify)) {
        if (mbedtls_ssl_set_hostname(&t->ssl, server_name) != 0)
            goto fail;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    if (!cfg->server) {
        rc = drive_handshake(t);
        if (rc != 0)
            goto fail;
    }
    *out = t;
    return 0;
fail:
    fl_tls_destroy(t);
    return rc;
}

void fl_tls_destroy(fl_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_free(&t->ssl);
    fl_bytes_deinit(&t->in);
    fl_bytes_deinit(&t->out);
    fl_bytes_deinit(&t->pending);
    free(t);
}

/* Reads every decrypted byte into `plain`. */
static int read_plain(fl_tls *t, fl_bytes *plain)
{
    for (;;) {
        int rc = fl_bytes_reserve(plain, TLS_READ_CHUNK);
        if (rc != 0)
            return rc;
        int ret = mbedtls_ssl_read(&t->ssl, plain->data + plain->len, TLS_READ_CHUNK);
        if (ret > 0) {
            plain->len += (size_t)ret;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            return 0;
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
            t->closed = true;
            return FL_ECLOSED;
        }
        if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
            return FL_ENOMEM;
        log_mbedtls(FL_LOG_DEBUG, "read", ret);
        t->failed = true;
        return FL_ETLS;
    }
}

int fl_tls_handle_input(fl_tls *t, const uint8_t *data, size_t len, fl_bytes *plain)
{
    if (t->failed)
        return FL_ETLS;
    if (t->closed)
        return FL_ECLOSED;
    if (t->in_off > 0) {
        fl_bytes_consume(&t->in, t->in_off);
        t->in_off = 0;
    }
    int rc = fl_bytes_append(&t->in, data, len);
    if (rc != 0)
        return rc;
    if (!t->established) {
        rc = drive_handshake(t);
        if (rc != 0 || !t->established)
            return rc;
    }
    return read_plain(t, plain);
}

int fl_tls_write(fl_tls *t, const void *data, size_t len)
{
    if (t->failed)
        return FL_ETLS;
    if (t->closed)
        return FL_ECLOSED;
    if (!t->established)
        return fl_bytes_append(&t->pending, data, len);
    return write_all(t, data, len);
}

int fl_tls_close(fl_tls *t)
{
    if (t->failed)
        return FL_ETLS;
    if (t->closed)
        return FL_ECLOSED;
    t->closed = true;
    if (!t->established)
        return 0;
    int ret = mbedtls_ssl_close_notify(&t->ssl);
    if (ret != 0 && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
        log_mbedtls(FL_LOG_DEBUG, "close_notify", ret);
        return FL_ETLS;
    }
    return 0;
}

int fl_tls_poll_transmit(fl_tls *t, fl_bytes *out)
{
    if (t->out.len == 0)
        return FL_EAGAIN;
    *out = t->out;
    fl_bytes_init(&t->out);
    return 0;
}

bool fl_tls_is_established(const fl_tls *t)
{
    return t->established;
}
