/* net/sctp: two associations wired to each other in memory, on a virtual
 * clock: the association comes up, channels open both ways (DCEP), text,
 * binary and empty messages of 1 byte to 256 KiB arrive whole and in
 * order, channels close by stream reset from either side, a thousand
 * channels open and close, and junk input changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/dcep.h"
#include "net/sctp.h"

#include <cmocka.h>

typedef struct peer {
    fl_sctp *s;
    int up, down;
    int opened[FL_SCTP_STREAMS], closed[FL_SCTP_STREAMS];
    int nmsg;
    uint8_t *last;
    size_t last_len;
    int last_binary, last_channel;
    size_t expect_len; /* messages checked against pattern() */
    int bad;
} peer;

typedef struct pair {
    peer a, b;
    fl_time now;
} pair;

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + 3);
}

static void drain_events(peer *p)
{
    fl_sctp_event ev;
    while (fl_sctp_poll_event(p->s, &ev) == 0) {
        switch (ev.type) {
        case FL_SCTP_EVENT_UP:
            p->up++;
            break;
        case FL_SCTP_EVENT_DOWN:
            p->down++;
            break;
        case FL_SCTP_EVENT_OPEN:
            p->opened[ev.channel]++;
            break;
        case FL_SCTP_EVENT_CLOSED:
            p->closed[ev.channel]++;
            break;
        case FL_SCTP_EVENT_MESSAGE:
            p->nmsg++;
            free(p->last);
            p->last = malloc(ev.len + 1);
            memcpy(p->last, ev.data, ev.len);
            p->last_len = ev.len;
            p->last_binary = ev.binary;
            p->last_channel = ev.channel;
            if (p->expect_len) {
                if (ev.len != p->expect_len)
                    p->bad++;
                for (size_t i = 0; i < ev.len && i < p->expect_len; i++) {
                    if (ev.data[i] != pattern(i)) {
                        p->bad++;
                        break;
                    }
                }
            }
            break;
        }
    }
}

/* Moves packets both ways until neither side has any; `drop_every`: drop
 * one packet in that many (0: none). */
static void pump(pair *t, int rounds, int drop_every)
{
    uint8_t pkt[2048];
    size_t n;
    int k = 0;
    for (int r = 0; r < rounds; r++) {
        int moved = 0;
        while (fl_sctp_poll_transmit(t->a.s, pkt, sizeof(pkt), &n) == 0) {
            assert_true(n <= FL_SCTP_PACKET_MAX);
            if (!drop_every || ++k % drop_every)
                fl_sctp_handle_input(t->b.s, t->now, pkt, n);
            moved++;
        }
        while (fl_sctp_poll_transmit(t->b.s, pkt, sizeof(pkt), &n) == 0) {
            if (!drop_every || ++k % drop_every)
                fl_sctp_handle_input(t->a.s, t->now, pkt, n);
            moved++;
        }
        drain_events(&t->a);
        drain_events(&t->b);
        if (!moved) {
            t->now += 20 * FL_TIME_MS;
            fl_sctp_handle_timeout(t->a.s, t->now);
            fl_sctp_handle_timeout(t->b.s, t->now);
        }
    }
}

static pair *pair_new(void)
{
    pair *t = calloc(1, sizeof(*t));
    t->now = 1000 * FL_TIME_SEC;
    fl_sctp_config ca = { .dtls_client = 1 }, cb = { .dtls_client = 0 };
    ca.remote_max_message_size = cb.remote_max_message_size = FL_SCTP_DEFAULT_MAX_MSG;
    assert_int_equal(fl_sctp_create(&t->a.s, &ca), 0);
    assert_int_equal(fl_sctp_create(&t->b.s, &cb), 0);
    assert_int_equal(fl_sctp_start(t->a.s, t->now), 0);
    assert_int_equal(fl_sctp_start(t->b.s, t->now), 0);
    assert_int_equal(fl_sctp_start(t->b.s, t->now), FL_ESTATE);
    pump(t, 50, 0);
    assert_int_equal(t->a.up, 1);
    assert_int_equal(t->b.up, 1);
    return t;
}

static void pair_free(pair *t)
{
    fl_sctp_destroy(t->a.s);
    fl_sctp_destroy(t->b.s);
    free(t->a.last);
    free(t->b.last);
    free(t);
    assert_int_equal(fl_sctp_live(), 0);
}

static void test_open_send_close(void **state)
{
    (void)state;
    pair *t = pair_new();
    int id;
    assert_int_equal(fl_sctp_open_channel(t->a.s, "chat", "proto", 1, -1, -1, 0, &id), 0);
    assert_int_equal(id % 2, 0); /* the DTLS client's ids are even */
    pump(t, 20, 0);
    assert_int_equal(t->a.opened[id], 1); /* the ACK came */
    assert_int_equal(t->b.opened[id], 1); /* the OPEN came */
    fl_sctp_channel_info info;
    assert_int_equal(fl_sctp_channel_get(t->b.s, id, &info), 0);
    assert_string_equal(info.label, "chat");
    assert_string_equal(info.protocol, "proto");
    assert_int_equal(info.ordered, 1);
    assert_int_equal(info.state, FL_SCTP_OPEN);
    assert_int_equal(fl_sctp_channel_find(t->b.s, "chat"), id);

    /* text, binary, empty */
    assert_int_equal(fl_sctp_send(t->a.s, id, 0, (const uint8_t *)"hello", 5), 0);
    pump(t, 10, 0);
    assert_int_equal(t->b.nmsg, 1);
    assert_int_equal(t->b.last_binary, 0);
    assert_int_equal(t->b.last_len, 5);
    assert_memory_equal(t->b.last, "hello", 5);
    assert_int_equal(fl_sctp_send(t->b.s, id, 1, NULL, 0), 0);
    pump(t, 10, 0);
    assert_int_equal(t->a.nmsg, 1);
    assert_int_equal(t->a.last_binary, 1);
    assert_int_equal(t->a.last_len, 0);

    /* 1 B, 16 KiB, 256 KiB whole, with loss */
    static const size_t sizes[] = { 1, 16384, 262144 };
    uint8_t *big = malloc(262144);
    for (size_t i = 0; i < 262144; i++)
        big[i] = pattern(i);
    for (size_t i = 0; i < 3; i++) {
        int before = t->b.nmsg;
        t->b.expect_len = sizes[i];
        assert_int_equal(fl_sctp_send(t->a.s, id, 1, big, sizes[i]), 0);
        pump(t, 400, 17);
        pump(t, 50, 0);
        assert_int_equal(t->b.nmsg, before + 1);
        assert_int_equal(t->b.bad, 0);
    }
    t->b.expect_len = 0;
    assert_int_equal(fl_sctp_send(t->a.s, id, 1, big, 262145), FL_EMSGSIZE);
    free(big);

    /* the other side closes */
    assert_int_equal(fl_sctp_close_channel(t->b.s, id), 0);
    pump(t, 30, 0);
    assert_int_equal(t->a.closed[id], 1);
    assert_int_equal(t->b.closed[id], 1);
    assert_int_equal(fl_sctp_channel_get(t->a.s, id, &info), FL_ENOENT);
    assert_int_equal(fl_sctp_send(t->a.s, id, 0, (const uint8_t *)"x", 1), FL_ENOENT);
    assert_int_equal(fl_sctp_close_channel(t->a.s, id), FL_ENOENT);

    /* junk changes nothing */
    static const uint8_t junk[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    assert_int_equal(fl_sctp_handle_input(t->a.s, t->now, junk, sizeof(junk)), 0);
    pump(t, 5, 0);
    assert_true(fl_sctp_is_up(t->a.s));
    pair_free(t);
}

static void test_partial_and_unordered(void **state)
{
    (void)state;
    pair *t = pair_new();
    int id;
    assert_int_equal(fl_sctp_open_channel(t->b.s, "u", "", 0, -1, 3, 0, &id), 0);
    assert_int_equal(id % 2, 1);
    assert_int_equal(fl_sctp_open_channel(t->b.s, "bad", "", 1, 10, 3, 0, &id), FL_EINVAL);
    pump(t, 20, 0);
    fl_sctp_channel_info info;
    assert_int_equal(fl_sctp_channel_get(t->a.s, 1, &info), 0);
    assert_int_equal(info.ordered, 0);
    assert_int_equal(info.max_retransmits, 3);
    assert_int_equal(info.max_packet_life_time, -1);
    assert_int_equal(fl_sctp_send(t->b.s, 1, 0, (const uint8_t *)"u1", 2), 0);
    pump(t, 10, 0);
    assert_int_equal(t->a.nmsg, 1);
    pair_free(t);
}

static void test_thousand_channels(void **state)
{
    (void)state;
    pair *t = pair_new();
    for (int i = 0; i < 1000; i++) {
        int id;
        assert_int_equal(fl_sctp_open_channel(t->a.s, "c", "", 1, -1, -1, 0, &id), 0);
        pump(t, 4, 0);
        assert_int_equal(fl_sctp_send(t->a.s, id, 0, (const uint8_t *)"m", 1), 0);
        assert_int_equal(fl_sctp_close_channel(t->a.s, id), 0);
        pump(t, 6, 0);
    }
    pump(t, 40, 0);
    fl_sctp_stats st;
    fl_sctp_get_stats(t->b.s, &st);
    assert_int_equal(st.channels_opened, 1000);
    assert_int_equal(st.channels_closed, 1000);
    assert_int_equal(t->b.nmsg, 1000);
    fl_sctp_get_stats(t->a.s, &st);
    assert_int_equal(st.channels_opened, 1000);
    assert_int_equal(st.channels_closed, 1000);
    int iter = 0;
    fl_sctp_channel_info info;
    assert_int_equal(fl_sctp_channel_next(t->a.s, &iter, &info), 0);
    pair_free(t);
}

/* A channel opened before the association is up: OPEN goes once it is. */
static void test_open_before_up(void **state)
{
    (void)state;
    fl_sctp *a, *b;
    fl_sctp_config ca = { .dtls_client = 1 }, cb = { 0 };
    assert_int_equal(fl_sctp_create(&a, &ca), 0);
    assert_int_equal(fl_sctp_create(&b, &cb), 0);
    int id;
    assert_int_equal(fl_sctp_open_channel(a, "early", "", 1, -1, -1, 0, &id), 0);
    fl_time now = 5 * FL_TIME_SEC;
    fl_sctp_start(a, now);
    fl_sctp_start(b, now);
    int opened_b = 0;
    uint8_t pkt[2048];
    size_t n;
    for (int r = 0; r < 50; r++) {
        while (fl_sctp_poll_transmit(a, pkt, sizeof(pkt), &n) == 0)
            fl_sctp_handle_input(b, now, pkt, n);
        while (fl_sctp_poll_transmit(b, pkt, sizeof(pkt), &n) == 0)
            fl_sctp_handle_input(a, now, pkt, n);
        fl_sctp_event ev;
        while (fl_sctp_poll_event(a, &ev) == 0)
            ;
        while (fl_sctp_poll_event(b, &ev) == 0)
            opened_b += ev.type == FL_SCTP_EVENT_OPEN;
    }
    assert_int_equal(opened_b, 1);
    fl_sctp_destroy(a);
    fl_sctp_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_send_close),
        cmocka_unit_test(test_partial_and_unordered),
        cmocka_unit_test(test_thousand_channels),
        cmocka_unit_test(test_open_before_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
