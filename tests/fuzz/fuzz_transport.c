/* Fuzzes the secure media transport after its DTLS handshake: two transports
 * are connected once (deterministic certificates and clock); each input is a
 * sequence of packets, each a 2-byte big-endian length and the bytes. Byte 0
 * of a packet picks the path: even, it is sent through the client's
 * send_rtp/send_rtcp (so it arrives protected with the right keys and the
 * server's RTP/RTCP parsing and statistics see arbitrary contents); odd, the
 * rest goes straight into the server's handle_input (raw datagrams: DTLS,
 * SRTP forgeries, junk). Bits 2-3 pick the pair: DTLS-SRTP, SDES
 * (AES-256, keys from SDP) or plain RTP (both without DTLS). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/rand.h"
#include "net/cert.h"
#include "net/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fl_buf_pool *pool;
static fl_transport *clis[3], *srvs[3];
static fl_time now = 1000 * FL_TIME_SEC;

static void drain_events(fl_transport *t)
{
    fl_transport_event ev;
    while (fl_transport_poll_event(t, &ev) == 0)
        fl_transport_event_release(&ev);
}

/* Moves what `from` sends into `to`. */
static void deliver(fl_transport *from, fl_transport *to)
{
    fl_buf *b;
    while (fl_transport_poll_transmit(from, &b) == 0)
        fl_transport_handle_input(to, now, b);
}

static void setup(void)
{
    static fl_rand r;
    fl_transport *cli, *srv;
    fl_log_configure("*:0");
    fl_rand_seeded_init(&r, 3);
    fl_cert *cc, *sc;
    if (fl_buf_pool_create(&pool, 1500, 64, 64, 0) != 0 ||
        fl_cert_generate(&cc, "client", 1700000000, 86400, &r) != 0 ||
        fl_cert_generate(&sc, "server", 1700000000, 86400, &r) != 0)
        abort();
    fl_transport_config c = { .cert = cc, .role = FL_DTLS_ROLE_CLIENT, .rand = &r, .pool = pool };
    c.remote_fingerprint = fl_cert_fingerprint(sc);
    fl_transport_config s = { .cert = sc, .role = FL_DTLS_ROLE_SERVER, .rand = &r, .pool = pool };
    s.remote_fingerprint = fl_cert_fingerprint(cc);
    if (fl_transport_create(&cli, &c) != 0 || fl_transport_create(&srv, &s) != 0)
        abort();
    fl_transport_start(cli, now);
    for (int i = 0; i < 50 && (fl_transport_get_state(cli) != FL_DTLS_STATE_CONNECTED ||
                               fl_transport_get_state(srv) != FL_DTLS_STATE_CONNECTED);
         i++) {
        deliver(cli, srv);
        deliver(srv, cli);
        now += 10 * FL_TIME_MS;
    }
    if (fl_transport_get_state(srv) != FL_DTLS_STATE_CONNECTED)
        abort();
    drain_events(cli);
    drain_events(srv);
    clis[0] = cli;
    srvs[0] = srv;
    static const uint8_t k1[46] = { 1, 2, 3 }, k2[46] = { 4, 5, 6 };
    fl_transport_config k = { .mode = FL_TRANSPORT_SDES, .pool = pool };
    k.sdes_profile = FL_SRTP_AES256_CM_HMAC_SHA1_32;
    for (int i = 1; i < 3; i++) {
        k.mode = i == 1 ? FL_TRANSPORT_SDES : FL_TRANSPORT_PLAIN;
        k.sdes_local_key = k1;
        k.sdes_remote_key = k2;
        if (fl_transport_create(&clis[i], &k) != 0)
            abort();
        k.sdes_local_key = k2;
        k.sdes_remote_key = k1;
        if (fl_transport_create(&srvs[i], &k) != 0 || fl_transport_start(clis[i], now) != 0 ||
            fl_transport_start(srvs[i], now) != 0)
            abort();
        drain_events(clis[i]);
        drain_events(srvs[i]);
    }
}

static void one_packet(const uint8_t *p, size_t len)
{
    fl_buf *b = fl_buf_pool_get(pool);
    if (!b)
        abort();
    if (len - 1 > fl_buf_tailroom(b) - 32) {
        fl_buf_unref(b);
        return;
    }
    memcpy(fl_buf_data(b), p + 1, len - 1);
    b->len = (uint32_t)(len - 1);
    fl_transport *cli = clis[(p[0] >> 2) % 3], *srv = srvs[(p[0] >> 2) % 3];
    if (p[0] & 1) {
        fl_transport_handle_input(srv, now, b);
        return;
    }
    int rc = (p[0] & 2) ? fl_transport_send_rtcp(cli, now, b) : fl_transport_send_rtp(cli, now, b);
    if (rc != 0)
        fl_buf_unref(b); /* sends take the reference only on success */
    deliver(cli, srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srvs[0])
        setup();
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len == 0 || len > size - off)
            break;
        one_packet(data + off, len);
        off += len;
        now += FL_TIME_MS;
    }
    fl_buf *b;
    for (int i = 0; i < 3; i++) {
        drain_events(srvs[i]);
        while (fl_transport_poll_transmit(srvs[i], &b) == 0)
            fl_buf_unref(b);
    }
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(pool, &st);
    if (st.in_use != 0)
        abort(); /* every buffer back after each input */
    return 0;
}
