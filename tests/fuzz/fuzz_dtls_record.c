/* Fuzzes net/dtls's record and handshake parsing. Byte 0: bit 0 picks the
 * role (0 server, 1 client started at once), bit 1 sets the expected
 * fingerprint late. The rest is a sequence of datagrams, each a 2-byte
 * big-endian length and the bytes; the clock advances 300 ms between them.
 * What the endpoint sends is discarded; events and data are drained. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/rand.h"
#include "net/cert.h"
#include "net/dtls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(fl_dtls *d)
{
    fl_bytes b;
    fl_dtls_event ev;
    while (fl_dtls_poll_transmit(d, &b) == 0)
        fl_bytes_deinit(&b);
    while (fl_dtls_poll_data(d, &b) == 0)
        fl_bytes_deinit(&b);
    while (fl_dtls_poll_event(d, &ev) == 0) {
        if (ev.type == FL_DTLS_EVENT_FAILED && ev.reason[0] == '\0')
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fl_rand rnd;
    static fl_cert *cert;
    if (!cert) {
        fl_log_configure("*:0");
        fl_rand_seeded_init(&rnd, 1);
        if (fl_cert_generate(&cert, "fuzz", 1700000000, 86400, &rnd) != 0)
            abort();
    }
    if (size < 1)
        return 0;
    fl_rand_seeded_init(&rnd, 2);
    fl_dtls_config cfg = { .cert = cert, .rand = &rnd };
    cfg.role = (data[0] & 1) ? FL_DTLS_ROLE_CLIENT : FL_DTLS_ROLE_SERVER;
    bool late = data[0] & 2;
    if (!late)
        cfg.remote_fingerprint = fl_cert_fingerprint(cert);
    fl_dtls *d;
    if (fl_dtls_create(&d, &cfg) != 0)
        abort();
    fl_time now = 1000 * FL_TIME_SEC;
    if (cfg.role == FL_DTLS_ROLE_CLIENT)
        fl_dtls_start(d, now);
    size_t off = 1;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        fl_dtls_handle_input(d, now, data + off, len);
        off += len;
        drain(d);
        now += 300 * FL_TIME_MS;
        fl_dtls_handle_timeout(d, now);
        drain(d);
    }
    if (late)
        fl_dtls_set_remote_fingerprint(d, fl_cert_fingerprint(cert));
    fl_dtls_send(d, "x", 1);
    fl_dtls_close(d);
    drain(d);
    fl_dtls_destroy(d);
    return 0;
}
