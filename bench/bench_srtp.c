/* fluo-bench srtp: nanoseconds per RTP packet for SRTP protect + unprotect
 * through net/srtp on pooled fl_bufs, as the packet path does it (egress copy
 * with header rewrite into a fresh pool buffer, protect in place, then the
 * receiver's unprotect in place), against libsrtp2's srtp_protect +
 * srtp_unprotect called directly on a plain array in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <srtp2/srtp.h>

#include "base/buf.h"
#include "bench/bench.h"
#include "net/srtp.h"

#define HEADROOM 64
#define MAX_SIZE 1400
#define ROUNDS   3
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

/* ---- reference: libsrtp2 directly ---- */

typedef struct ref_run {
    srtp_t snd, rcv;
    uint8_t pkt[MAX_SIZE + SRTP_MAX_TRAILER_LEN];
    int len;
    uint16_t seq;
} ref_run;

static int ref_setup(ref_run *r, fl_srtp_profile profile, size_t size)
{
    memset(r, 0, sizeof(*r));
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    if (profile == FL_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    uint8_t key[30];
    memcpy(key, master, sizeof(key));
    policy.key = key;
    policy.window_size = FL_SRTP_DEFAULT_REPLAY_WINDOW;
    policy.ssrc.type = ssrc_any_outbound;
    if (srtp_create(&r->snd, &policy) != srtp_err_status_ok)
        return -1;
    policy.ssrc.type = ssrc_any_inbound;
    if (srtp_create(&r->rcv, &policy) != srtp_err_status_ok)
        return -1;
    write_header(r->pkt, 0);
    for (size_t i = 12; i < size; i++)
        r->pkt[i] = (uint8_t)(i * 7);
    r->len = (int)size;
    return 0;
}

static void ref_teardown(ref_run *r)
{
    if (r->snd)
        srtp_dealloc(r->snd);
    if (r->rcv)
        srtp_dealloc(r->rcv);
}

static int ref_packets(ref_run *r, long n)
{
    for (long i = 0; i < n; i++) {
        int len = r->len;
        write_header(r->pkt, r->seq++);
        int rc = srtp_protect(r->snd, r->pkt, &len);
        rc |= srtp_unprotect(r->rcv, r->pkt, &len);
        sink += r->pkt[len - 1];
        if (rc != 0 || len != r->len)
            return -1;
    }
    return 0;
}

/* Best of ROUNDS alternating runs of each, ns per packet. */
static int bench_profile(fl_srtp_profile profile,
                         size_t size,
                         long n,
                         double *fluo_ns,
                         double *ref_ns)
{
    fluo_run f;
    ref_run *r = malloc(sizeof(*r));
    int rc = -1;
    if (!r || fluo_setup(&f, profile, size) != 0 || ref_setup(r, profile, size) != 0)
        goto out;
    if (fluo_packets(&f, WARMUP) != 0 || ref_packets(r, WARMUP) != 0)
        goto out;
    *fluo_ns = *ref_ns = 1e18;
    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        if (ref_packets(r, n) != 0)
            goto out;
        double t1 = now_ns();
        if (fluo_packets(&f, n) != 0)
            goto out;
        double t2 = now_ns();
        if ((t1 - t0) / (double)n < *ref_ns)
            *ref_ns = (t1 - t0) / (double)n;
        if ((t2 - t1) / (double)n < *fluo_ns)
            *fluo_ns = (t2 - t1) / (double)n;
    }
    rc = 0;
out:
    fluo_teardown(&f);
    if (r)
        ref_teardown(r);
    free(r);
    return rc;
}

/* libsrtp2 with its built-in AES-CM/HMAC-SHA1 back end (NSS on Debian),
 * before net/srtp installs the mbedTLS one: best of ROUNDS, ns per packet. */
static int bench_builtin(size_t size, long n, double *ns)
{
    ref_run *r = malloc(sizeof(*r));
    int rc = -1;
    if (!r || srtp_init() != srtp_err_status_ok ||
        ref_setup(r, FL_SRTP_AES128_CM_HMAC_SHA1_80, size) != 0 || ref_packets(r, WARMUP) != 0)
        goto out;
    *ns = 1e18;
    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        if (ref_packets(r, n) != 0)
            goto out;
        double t = (now_ns() - t0) / (double)n;
        *ns = t < *ns ? t : *ns;
    }
    rc = 0;
out:
    if (r)
        ref_teardown(r);
    free(r);
    srtp_shutdown(); /* fl_srtp_init starts it again, with its own back end */
    return rc;
}

void fl_bench_srtp_usage(FILE *out)
{
    fprintf(out, "  srtp [--packets N] [--size BYTES]\n"
                 "      ns per RTP packet for egress copy + SRTP protect + unprotect through\n"
                 "      net/srtp on pooled buffers, against bare libsrtp2 on an array, for\n"
                 "      AES-CM-128/HMAC-SHA1-80 and AEAD-AES-128-GCM; and AES-CM through\n"
                 "      libsrtp2's built-in crypto back end, which net/srtp replaces\n");
}

int fl_bench_srtp_run(int argc, char **argv)
{
    long n = 200000;
    long size = 1200;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--packets") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0) {
            n = atol(argv[++i]);
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc && atol(argv[i + 1]) >= 12 &&
                   atol(argv[i + 1]) <= MAX_SIZE) {
            size = atol(argv[++i]);
        } else {
            fl_bench_srtp_usage(stderr);
            return 2;
        }
    }
    double cm_builtin;
    if (bench_builtin((size_t)size, n, &cm_builtin) != 0) {
        fprintf(stderr, "fluo-bench srtp: libsrtp's own back end failed\n");
        return 1;
    }
    if (fl_srtp_init() != 0) {
        fprintf(stderr, "fluo-bench srtp: libsrtp did not initialise\n");
        return 1;
    }
    double cm_fluo, cm_ref, gcm_fluo, gcm_ref;
    if (bench_profile(FL_SRTP_AES128_CM_HMAC_SHA1_80, (size_t)size, n, &cm_fluo, &cm_ref) != 0 ||
        bench_profile(FL_SRTP_AEAD_AES_128_GCM, (size_t)size, n, &gcm_fluo, &gcm_ref) != 0) {
        fprintf(stderr, "fluo-bench srtp: a packet failed to protect or unprotect\n");
        return 1;
    }
    printf("srtp size=%ld packets=%ld cm80_fluo_ns=%.1f cm80_libsrtp_ns=%.1f gcm_fluo_ns=%.1f "
           "gcm_libsrtp_ns=%.1f overhead_ratio=%.3f cm80_builtin_ns=%.1f cm80_vs_builtin=%.3f\n",
           size, n, cm_fluo, cm_ref, gcm_fluo, gcm_ref, (cm_fluo + gcm_fluo) / (cm_ref + gcm_ref),
           cm_builtin, cm_fluo / cm_builtin);
    return 0;
}
