/* fluo-bench parse: nanoseconds per message for the control-path parsers that
 * every packet or request goes through, each against the cost nobody can
 * avoid measured in the same run (for STUN: the HMAC-SHA1 the check needs). */
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rand.h"
#include "bench/bench.h"
#include "ice/stun.h"
#include "rpc/ws.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile int sink;

static size_t ice_check(uint8_t *buf, size_t cap, const uint8_t *key, size_t keylen)
{
    uint8_t txn[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    fl_stun_writer w;
    size_t len = 0;
    fl_stun_writer_init(&w, buf, cap, FL_STUN_BINDING, FL_STUN_REQUEST, txn);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, "rWq8:Ax3K");
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, 1853824767u);
    uint8_t tie[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };
    fl_stun_writer_add(&w, FL_STUN_ATTR_ICE_CONTROLLING, tie, sizeof(tie));
    fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    fl_stun_writer_add_integrity(&w, key, keylen);
    fl_stun_writer_add_fingerprint(&w);
    return fl_stun_writer_finish(&w, &len) == 0 ? len : 0;
}

static int bench_stun(long n, double *check_ns, double *hmac_ns)
{
    static const uint8_t key[] = "pwd0123456789abcdefghijk";
    uint8_t buf[256];
    size_t len = ice_check(buf, sizeof(buf), key, sizeof(key) - 1);
    if (len == 0)
        return -1;
    fl_stun_msg m;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int rc = fl_stun_msg_parse(&m, buf, len);
        rc |= fl_stun_msg_check_integrity(&m, key, sizeof(key) - 1);
        sink += rc;
    }
    *check_ns = (now_ns() - t0) / (double)n;
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    uint8_t mac[20];
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        mbedtls_md_hmac(sha1, key, sizeof(key) - 1, buf, len - 32, mac);
        sink += mac[0];
    }
    *hmac_ns = (now_ns() - t0) / (double)n;
    return sink == 0x7fffffff; /* keeps the loops from being optimised away */
}

/* One masked 200-byte text frame, as a client sends a JSON-RPC request. */
static size_t ws_frame(uint8_t *out)
{
    const uint8_t mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    size_t n = 200;
    out[0] = 0x81;
    out[1] = 0x80 | 126;
    out[2] = 0;
    out[3] = (uint8_t)n;
    memcpy(out + 4, mask, 4);
    for (size_t i = 0; i < n; i++)
        out[8 + i] = (uint8_t)('a' ^ mask[i & 3]);
    return 8 + n;
}

static int bench_ws(long n, double *frame_ns)
{
    fl_ws_config cfg = { .role = FL_WS_SERVER };
    fl_ws *ws;
    if (fl_ws_create(&ws, &cfg) != 0)
        return -1;
    uint8_t frame[256];
    size_t len = ws_frame(frame);
    fl_ws_event ev;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        fl_ws_handle_input(ws, frame, len);
        if (fl_ws_poll_event(ws, &ev) != 0 || ev.type != FL_WS_EVENT_TEXT) {
            fl_ws_destroy(ws);
            return -1;
        }
    }
    *frame_ns = (now_ns() - t0) / (double)n;
    fl_ws_destroy(ws);
    return 0;
}

void fl_bench_parse_usage(FILE *out)
{
    fprintf(out, "  parse [--iterations N]\n"
                 "      ns per ICE connectivity check (parse + MESSAGE-INTEGRITY + FINGERPRINT)\n"
                 "      against the bare HMAC-SHA1 it needs, and per WebSocket frame\n");
}

int fl_bench_parse_run(int argc, char **argv)
{
    long n = 1000000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0) {
            n = atol(argv[++i]);
        } else {
            fl_bench_parse_usage(stderr);
            return 2;
        }
    }
    double check_ns, hmac_ns, frame_ns;
    if (bench_stun(n, &check_ns, &hmac_ns) < 0 || bench_ws(n, &frame_ns) < 0) {
        fprintf(stderr, "fluo-bench parse: a message did not parse\n");
        return 1;
    }
    printf("parse iterations=%ld stun_check_ns=%.1f hmac_sha1_ns=%.1f ws_frame_ns=%.1f "
           "stun_check_over_hmac=%.2f\n",
           n, check_ns, hmac_ns, frame_ns, check_ns / hmac_ns);
    return 0;
}
