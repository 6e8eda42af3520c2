/* fluo-bench srtp: nanoseconds per RTP packet for SRTP protect + unprotect
 * through net/srtp on pooled fl_bufs, as the packet path does it (egress copy
 * with header rewrite into a fresh pool buffer, protect in place, then the
 * receiver's unprotect in place), on each crypto back end libsrtp2 can run
 * (net/srtp_crypto: OpenSSL's libcrypto, which production installs, the
 * mbedTLS AES-CM and HMAC-SHA1, libsrtp2's own), in the same run: the back
 * ends take turns within each round, the kernel restarted between them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "bench/bench.h"
#include "net/srtp.h"
#include "net/srtp_crypto.h"

#define HEADROOM 64
#define MAX_SIZE 1400
#define ROUNDS   3
#define NBACK    3
#define NCASE    4
#define WARMUP   2000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned sink;

static const uint8_t master[30] = {
    0x4c, 0x1a, 0x90, 0x2e, 0x7d, 0x33, 0xb8, 0x05, 0xe1, 0x62, 0x9f, 0x44, 0x0b, 0xd7, 0x28,
    0x71, 0xc6, 0x3e, 0x95, 0x5a, 0x0f, 0xe3, 0x87, 0x12, 0xab, 0x6d, 0x39, 0xf4, 0x50, 0x2c,
};

static void write_header(uint8_t *p, uint16_t seq)
{
    uint32_t ts = (uint32_t)seq * 3000u;
    p[0] = 0x80;
    p[1] = 96;
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    p[4] = (uint8_t)(ts >> 24);
    p[5] = (uint8_t)(ts >> 16);
    p[6] = (uint8_t)(ts >> 8);
    p[7] = (uint8_t)ts;
    p[8] = 0x12;
    p[9] = 0x34;
    p[10] = 0x56;
    p[11] = 0x78;
}

/* ---- fluo: net/srtp on fl_bufs ---- */

typedef struct fluo_run {
    fl_buf_pool *pool;
    fl_buf *src; /* the ingress packet every egress copies from */
    fl_srtp *out, *in;
    uint16_t seq;
} fluo_run;

static int fluo_setup(fluo_run *r, fl_srtp_profile profile, size_t size)
{
    memset(r, 0, sizeof(*r));
    size_t salt_len = fl_srtp_profile_salt_len(profile);
    fl_srtp_config cfg = {
        .profile = profile,
        .key = master,
        .key_len = 16,
        .salt = master + 16,
        .salt_len = salt_len,
    };
    cfg.direction = FL_SRTP_OUTBOUND;
    if (fl_srtp_create(&r->out, &cfg) != 0)
        return -1;
    cfg.direction = FL_SRTP_INBOUND;
    if (fl_srtp_create(&r->in, &cfg) != 0)
        return -1;
    if (fl_buf_pool_create(&r->pool, MAX_SIZE + FL_SRTP_MAX_TRAILER_LEN, HEADROOM, 4, 0) != 0)
        return -1;
    r->src = fl_buf_pool_get(r->pool);
    if (!r->src)
        return -1;
    uint8_t *p = fl_buf_data(r->src);
    write_header(p, 0);
    for (size_t i = 12; i < size; i++)
        p[i] = (uint8_t)(i * 7);
    return fl_buf_set_len(r->src, size);
}

static void fluo_teardown(fluo_run *r)
{
    if (r->src)
        fl_buf_unref(r->src);
    fl_srtp_destroy(r->out);
    fl_srtp_destroy(r->in);
    if (r->pool)
        fl_buf_pool_destroy(r->pool);
}

static int fluo_packets(fluo_run *r, long n)
{
    const uint8_t *src = fl_buf_data(r->src);
    size_t len = r->src->len;
    for (long i = 0; i < n; i++) {
        fl_buf *b = fl_buf_pool_get(r->pool);
        if (!b)
            return -1;
        uint8_t *p = fl_buf_data(b);
        write_header(p, r->seq++);          /* the egress rewrite ... */
        memcpy(p + 12, src + 12, len - 12); /* ... fused with the copy */
        fl_buf_set_len(b, len);
        int rc = fl_srtp_protect(r->out, b);
        rc |= fl_srtp_unprotect(r->in, b);
        sink += p[len - 1];
        fl_buf_unref(b);
        if (rc != 0 || b->len != len)
            return -1;
    }
    return 0;
}

/* ---- the matrix ---- */

static const struct {
    fl_srtp_backend which;
    const char *name;
} backends[NBACK] = {
    { FL_SRTP_BACKEND_OPENSSL, "openssl" },
    { FL_SRTP_BACKEND_MBEDTLS, "mbedtls" },
    { FL_SRTP_BACKEND_LIBSRTP, "libsrtp" },
};

static const struct {
    fl_srtp_profile profile;
    size_t size;
    const char *name;
} cases[NCASE] = {
    { FL_SRTP_AES128_CM_HMAC_SHA1_80, 200, "cm80_200" },
    { FL_SRTP_AES128_CM_HMAC_SHA1_80, 1200, "cm80_1200" },
    { FL_SRTP_AEAD_AES_128_GCM, 200, "gcm_200" },
    { FL_SRTP_AEAD_AES_128_GCM, 1200, "gcm_1200" },
};

/* One back end on one case: ns per packet, or a negative on failure. */
static double measure(int backend, int c, long n)
{
    if (fl__srtp_crypto_install_backend(backends[backend].which) != 0)
        return -1;
    fluo_run f;
    double ns = -1;
    if (fluo_setup(&f, cases[c].profile, cases[c].size) == 0 && fluo_packets(&f, WARMUP) == 0) {
        double t0 = now_ns();
        if (fluo_packets(&f, n) == 0)
            ns = (now_ns() - t0) / (double)n;
    }
    fluo_teardown(&f);
    return ns;
}

void fl_bench_srtp_usage(FILE *out)
{
    fprintf(out, "  srtp [--packets N]\n"
                 "      ns per RTP packet for egress copy + SRTP protect + unprotect through\n"
                 "      net/srtp on pooled buffers, 200- and 1200-byte packets,\n"
                 "      AES-CM-128/HMAC-SHA1-80 and AEAD-AES-128-GCM, on each crypto back end\n"
                 "      (OpenSSL libcrypto, mbedTLS, libsrtp2's own) in the same run; the last\n"
                 "      line: each back end over OpenSSL\n");
}

int fl_bench_srtp_run(int argc, char **argv)
{
    long n = 50000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--packets") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0) {
            n = atol(argv[++i]);
        } else {
            fl_bench_srtp_usage(stderr);
            return 2;
        }
    }
    if (fl_srtp_init() != 0) {
        fprintf(stderr, "fluo-bench srtp: libsrtp did not initialise\n");
        return 1;
    }
    double best[NBACK][NCASE];
    for (int b = 0; b < NBACK; b++)
        for (int c = 0; c < NCASE; c++)
            best[b][c] = 1e18;
    for (int round = 0; round < ROUNDS; round++) {
        for (int c = 0; c < NCASE; c++) {
            for (int b = 0; b < NBACK; b++) {
                double ns = measure(b, c, n);
                if (ns < 0) {
                    fprintf(stderr, "fluo-bench srtp: %s on %s failed\n", cases[c].name,
                            backends[b].name);
                    return 1;
                }
                best[b][c] = ns < best[b][c] ? ns : best[b][c];
            }
        }
    }
    /* production's back end again, for whatever runs after */
    if (fl__srtp_crypto_install_backend(FL_SRTP_BACKEND_OPENSSL) != 0)
        return 1;
    for (int b = 0; b < NBACK; b++) {
        printf("srtp backend=%s packets=%ld", backends[b].name, n);
        for (int c = 0; c < NCASE; c++)
            printf(" %s_ns=%.1f", cases[c].name, best[b][c]);
        printf("\n");
    }
    printf("srtp ratio_vs_openssl");
    for (int b = 1; b < NBACK; b++)
        for (int c = 0; c < NCASE; c++)
            printf(" %s_%s=%.2f", backends[b].name, cases[c].name, best[b][c] / best[0][c]);
    printf("\n");
    return 0;
}
