/* Fuzzes net/sctp's input: two associations set up in memory (the path a
 * DTLS application record takes into fl_sctp_handle_input), then the
 * input as the chunks of one packet from the peer (its ports and
 * verification tag, a valid CRC32c, so usrsctp's chunk parsers see it),
 * then whatever both sides make of it: events read, a message sent back,
 * channels opened and closed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "net/sctp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

/* SCTP's checksum (RFC 9260 appendix A): CRC32c over the packet with the
 * field zero, its bytes stored least significant first. */
static void crc_put(uint8_t *p, size_t n)
{
    memset(p + 8, 0, 4);
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    c ^= 0xffffffffu;
    p[8] = (uint8_t)c;
    p[9] = (uint8_t)(c >> 8);
    p[10] = (uint8_t)(c >> 16);
    p[11] = (uint8_t)(c >> 24);
}

typedef struct side {
    fl_sctp *s;
    int channel;
} side;

static fl_time now = 1000 * FL_TIME_SEC;
static uint8_t last_b[FL_SCTP_PACKET_MAX]; /* the last packet B sent A */
static size_t last_b_len;

static void drain(side *x)
{
    fl_sctp_event ev;
    while (fl_sctp_poll_event(x->s, &ev) == 0) {
        if (ev.type == FL_SCTP_EVENT_OPEN)
            x->channel = ev.channel;
        if (ev.type == FL_SCTP_EVENT_MESSAGE && ev.len < 64)
            fl_sctp_send(x->s, ev.channel, ev.binary, ev.data, ev.len);
    }
}

static void pump(side *a, side *b, int rounds)
{
    uint8_t pkt[2048];
    size_t n;
    for (int r = 0; r < rounds; r++) {
        int moved = 0;
        while (fl_sctp_poll_transmit(a->s, pkt, sizeof(pkt), &n) == 0) {
            fl_sctp_handle_input(b->s, now, pkt, n);
            moved = 1;
        }
        while (fl_sctp_poll_transmit(b->s, pkt, sizeof(pkt), &n) == 0) {
            memcpy(last_b, pkt, n);
            last_b_len = n;
            fl_sctp_handle_input(a->s, now, pkt, n);
            moved = 1;
        }
        drain(a);
        drain(b);
        if (!moved) {
            now += 20 * FL_TIME_MS;
            fl_sctp_handle_timeout(a->s, now);
            fl_sctp_handle_timeout(b->s, now);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    if (!inited) {
        crc_init();
        inited = 1;
    }
    if (size > FL_SCTP_PACKET_MAX - 12)
        return 0;
    side a = { NULL, -1 }, b = { NULL, -1 };
    fl_sctp_config ca = { .dtls_client = 1 }, cb = { 0 };
    if (fl_sctp_create(&a.s, &ca) != 0 || fl_sctp_create(&b.s, &cb) != 0)
        abort();
    fl_sctp_start(a.s, now);
    fl_sctp_start(b.s, now);
    int id;
    fl_sctp_open_channel(b.s, "fuzz", "", 1, -1, -1, 0, &id);
    pump(&a, &b, 30);
    if (!fl_sctp_is_up(a.s) || last_b_len < 12)
        abort();
    /* the checksum as computed here is the one usrsctp writes */
    uint8_t check[FL_SCTP_PACKET_MAX];
    memcpy(check, last_b, last_b_len);
    crc_put(check, last_b_len);
    if (memcmp(check, last_b, last_b_len) != 0)
        abort();
    uint8_t pkt[FL_SCTP_PACKET_MAX];
    memcpy(pkt, last_b, 8);
    memcpy(pkt + 12, data, size);
    crc_put(pkt, 12 + size);
    fl_sctp_handle_input(a.s, now, pkt, 12 + size);
    drain(&a);
    if (a.channel >= 0)
        fl_sctp_send(a.s, a.channel, 1, data, size);
    fl_sctp_open_channel(a.s, "again", "p", 0, 100, -1, 0, &id);
    pump(&a, &b, 10);
    if (a.channel >= 0)
        fl_sctp_close_channel(a.s, a.channel);
    pump(&a, &b, 10);
    fl_sctp_channel_info info;
    for (int it = 0; fl_sctp_channel_next(a.s, &it, &info);)
        ;
    fl_sctp_destroy(a.s);
    fl_sctp_destroy(b.s);
    if (fl_sctp_live() != 0)
        abort();
    return 0;
}
