/* net/layers: a viewer's layer choice. Step changes of the estimate and of
 * the cap, up only after the hold and to the lowest target of it, down at
 * once, flapping estimates (no oscillation), layers that go and come back,
 * equal bitrates, temporal layers on the lowest layer, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/layers.h"

#include <cmocka.h>

#define S  FL_TIME_SEC
#define MS FL_TIME_MS
#define T0 (100 * S)

/* Three layers, three temporal layers each: 150, 500 and 1500 kbit/s in
 * all; TL0 alone 90, 300 and 900. */
/* Three layers of three TIDs; `keep` 100, so that a choice over its
 * budget goes down as soon as the estimate is below its rate (the
 * tests of the headroom); test_keep checks the default. */
static void three_layers(fl_layers *ly)
{
    static const uint32_t bps[3][3] = { { 90000, 30000, 30000 },
                                        { 300000, 100000, 100000 },
                                        { 900000, 300000, 300000 } };
    fl_layers_config cfg = { .keep = 100, .floor = 100 };
    fl_layers_init(ly, &cfg);
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 3; t++)
            assert_int_equal(fl_layers_set_bitrate(ly, s, t, bps[s][t]), 0);
}

/* Packets of the layers in `mask` at `now`. */
static void feed(fl_layers *ly, unsigned mask, fl_time now)
{
    for (int s = 0; s < FL_LAYERS_SPATIAL; s++)
        if (mask & (1u << s))
            fl_layers_on_packet(ly, s, now);
}

/* Runs an update; checks the choice and whether it changed (a failure
 * names the caller's line). */
static void expect_at(int line, fl_layers *ly, fl_time now, int changed, int s, int t)
{
    fl_layer_choice c;
    int r = fl_layers_update(ly, now, &c);
    if (r != changed || c.spatial != s || c.temporal != t || ly->cur.spatial != s ||
        ly->cur.temporal != t)
        fail_msg("line %d: got %d (%d,%d), want %d (%d,%d)", line, r, c.spatial, c.temporal,
                 changed, s, t);
}

#define expect(...) expect_at(__LINE__, __VA_ARGS__)

/* Nothing known: no choice. Layers but no estimate: the lowest, whole. */
static void test_start(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    expect(&ly, T0, 0, -1, -1);
    assert_int_equal(fl_layers_poll_timeout(&ly), FL_TIME_NEVER);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 2);
    expect(&ly, T0 + 10 * MS, 0, 0, 2);
    /* a layer with packets but no bitrate measured yet is not a choice */
    fl_layers bare;
    fl_layers_init(&bare, NULL);
    feed(&bare, 1, T0);
    expect(&bare, T0, 0, -1, -1);
    fl_layers_set_bitrate(&bare, 0, 0, 1000);
    expect(&bare, T0, 1, 0, 0);
}

/* The first estimate picks at once; then down at once, step by step, down
 * to TL0 of the lowest layer when even its whole rate does not fit. */
static void test_step_down(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 3000000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 2);
    fl_layers_set_estimate(&ly, 1000000); /* budget 900k: layer 1 whole */
    expect(&ly, T0 + 1 * MS, 1, 1, 2);
    fl_layers_set_estimate(&ly, 490000); /* budget 441k: layer 0 whole */
    expect(&ly, T0 + 2 * MS, 1, 0, 2);
    fl_layers_set_estimate(&ly, 135000); /* budget 121.5k: TL0+TL1 of layer 0 */
    expect(&ly, T0 + 3 * MS, 1, 0, 1);
    fl_layers_set_estimate(&ly, 50000); /* nothing fits: TL0 of layer 0 */
    expect(&ly, T0 + 4 * MS, 1, 0, 0);
    assert_int_equal(ly.downs, 4);
    assert_int_equal(ly.ups, 0);
    /* the headroom: 166,667 bit/s is 150k at 90%, 166,000 is not */
    fl_layers_set_estimate(&ly, 166000);
    expect(&ly, T0 + 5 * MS, 0, 0, 0); /* waiting to go to (0,1) */
    fl_layers_set_estimate(&ly, 166667);
    for (int sec = 1; sec <= 10; sec++)
        feed(&ly, 7, T0 + sec * S);
    expect(&ly, T0 + 5 * S + 5 * MS, 1, 0, 1);  /* (0,1) held since +5 ms */
    expect(&ly, T0 + 10 * S + 5 * MS, 1, 0, 2); /* (0,2) held since +5 s */
}

/* Up after the hold: not before, and the poll timeout says when. */
static void test_step_up_after_hold(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 200000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 2);
    fl_layers_set_estimate(&ly, 3000000);
    fl_time t = T0 + S;
    feed(&ly, 7, t);
    expect(&ly, t, 0, 0, 2);
    /* the earlier of the current layer going idle and the move up */
    assert_int_equal(fl_layers_poll_timeout(&ly), t + S);
    for (fl_time at = t; at < t + 5 * S; at += 100 * MS) {
        feed(&ly, 7, at);
        expect(&ly, at, 0, 0, 2);
    }
    assert_int_equal(fl_layers_poll_timeout(&ly), t + 5 * S);
    feed(&ly, 7, t + 5 * S);
    expect(&ly, t + 5 * S, 1, 2, 2);
    assert_int_equal(ly.ups, 1);
    /* nothing pending: the poll timeout is the current layer's idle time */
    assert_int_equal(fl_layers_poll_timeout(&ly), t + 6 * S);
}

/* Up to the lowest target of the hold: layer 1 allowed for 5 s, layer 2
 * only for the last 2 of them: layer 1 now, layer 2 five seconds later. */
static void test_up_to_lowest_of_hold(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 200000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 2);
    fl_layers_set_estimate(&ly, 700000);
    expect(&ly, T0, 0, 0, 2);
    for (int sec = 1; sec <= 10; sec++) {
        if (sec == 3)
            fl_layers_set_estimate(&ly, 3000000);
        feed(&ly, 7, T0 + sec * S);
        if (sec == 5)
            expect(&ly, T0 + sec * S, 1, 1, 2);
        else if (sec == 10)
            expect(&ly, T0 + sec * S, 1, 2, 2);
        else
            expect(&ly, T0 + sec * S, 0, sec < 5 ? 0 : 1, 2);
    }
}

/* A target that falls during the wait but stays above the current one:
 * the move is to the lowest target of the wait. */
static void test_up_after_partial_dip(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 200000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 2);
    fl_layers_set_estimate(&ly, 3000000);
    expect(&ly, T0, 0, 0, 2);
    feed(&ly, 7, T0 + 2 * S);
    fl_layers_set_estimate(&ly, 700000);
    expect(&ly, T0 + 2 * S, 0, 0, 2);
    fl_layers_set_estimate(&ly, 3000000);
    feed(&ly, 7, T0 + 4 * S);
    feed(&ly, 7, T0 + 5 * S);
    expect(&ly, T0 + 5 * S, 1, 1, 2);
}

/* A dip to the current layer (or below) starts the wait over. */
static void test_dip_resets_hold(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 700000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 1, 2);
    fl_layers_set_estimate(&ly, 3000000);
    expect(&ly, T0, 0, 1, 2);
    feed(&ly, 7, T0 + 4 * S);
    fl_layers_set_estimate(&ly, 600000); /* still layer 1: no move, wait over */
    expect(&ly, T0 + 4 * S, 0, 1, 2);
    assert_false(ly.up_pending);
    fl_layers_set_estimate(&ly, 3000000);
    expect(&ly, T0 + 4 * S + 500 * MS, 0, 1, 2);
    feed(&ly, 7, T0 + 6 * S);
    expect(&ly, T0 + 6 * S, 0, 1, 2);
    feed(&ly, 7, T0 + 9 * S + 500 * MS);
    expect(&ly, T0 + 9 * S + 500 * MS, 1, 2, 2);
}

/* An estimate flapping every second, above and below: the choice goes
 * down once and never up again; it never oscillates. */
static void test_flapping(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 3000000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 2);
    int changes = 0;
    for (int sec = 1; sec <= 120; sec++) {
        fl_time now = T0 + sec * S;
        fl_layers_set_estimate(&ly, sec % 2 ? 600000 : 3000000);
        feed(&ly, 7, now);
        fl_layer_choice c;
        changes += fl_layers_update(&ly, now, &c);
        assert_int_equal(c.spatial, 1);
    }
    assert_int_equal(changes, 1);
    assert_int_equal(ly.ups, 0);
    /* flapping by less than the hold, at 4.9 s: still no move up */
    for (int n = 0; n < 40; n++) {
        fl_time now = T0 + 121 * S + n * 2450 * MS;
        fl_layers_set_estimate(&ly, n % 2 ? 600000 : 3000000);
        feed(&ly, 7, now);
        fl_layer_choice c;
        assert_int_equal(fl_layers_update(&ly, now, &c), 0);
        assert_int_equal(c.spatial, 1);
    }
}

/* The cap bounds the estimate; lifted, up after the hold; lowered, down. */
static void test_cap(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 10000000);
    fl_layers_set_cap(&ly, 600000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 1, 2);
    fl_layers_set_cap(&ly, 0);
    expect(&ly, T0 + S / 2, 0, 1, 2);
    feed(&ly, 7, T0 + 5 * S);
    expect(&ly, T0 + 5 * S + S / 2, 1, 2, 2);
    fl_layers_set_cap(&ly, 100000);
    expect(&ly, T0 + 5 * S + S / 2, 1, 0, 0);
    /* a cap above the estimate changes nothing */
    fl_layers_set_estimate(&ly, 100000);
    fl_layers_set_cap(&ly, 5000000);
    expect(&ly, T0 + 5 * S + S / 2, 0, 0, 0);
}

/* The current layer goes idle: at once to the best at or below it; back
 * after the hold once it returns; with only higher layers left, the
 * lowest of them; with none, no choice. */
static void test_layer_goes_and_comes_back(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 3000000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 2);
    /* layer 2 paused by the publisher: 999 ms is not gone, 1 s is */
    feed(&ly, 3, T0 + 500 * MS);
    expect(&ly, T0 + 999 * MS, 0, 2, 2);
    assert_int_equal(fl_layers_poll_timeout(&ly), T0 + S);
    expect(&ly, T0 + S, 1, 1, 2);
    /* back: up only after the hold */
    feed(&ly, 7, T0 + 2 * S);
    expect(&ly, T0 + 2 * S, 0, 1, 2);
    for (int sec = 3; sec <= 7; sec++)
        feed(&ly, 7, T0 + sec * S);
    expect(&ly, T0 + 7 * S, 1, 2, 2);
    /* layers 1 and 2 gone with the budget for 1: layer 0 */
    fl_layers_set_estimate(&ly, 1000000);
    expect(&ly, T0 + 7 * S, 1, 1, 2);
    feed(&ly, 1, T0 + 8 * S);
    feed(&ly, 1, T0 + 8 * S + 500 * MS);
    expect(&ly, T0 + 8 * S + 500 * MS, 1, 0, 2);
    /* now only layer 2: the lowest above */
    feed(&ly, 4, T0 + 9 * S);
    feed(&ly, 4, T0 + 9 * S + 800 * MS);
    expect(&ly, T0 + 9 * S + 800 * MS, 1, 2, 0); /* 900k at 1M: TL0 of it */
    /* all gone */
    expect(&ly, T0 + 11 * S, 1, -1, -1);
    assert_int_equal(fl_layers_poll_timeout(&ly), FL_TIME_NEVER);
}

/* An up move waited for a layer that went idle meanwhile: the best at or
 * below it, here the current one (no move); then the wait for the layer
 * above starts over. */
static void test_up_target_gone(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 200000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 2);
    fl_layers_set_estimate(&ly, 700000); /* layer 1 allowed from T0 */
    expect(&ly, T0, 0, 0, 2);
    feed(&ly, 7, T0 + 2 * S + 500 * MS); /* layer 1's last packet */
    fl_layers_set_estimate(&ly, 3000000);
    for (int sec = 3; sec <= 5; sec++)
        feed(&ly, 5, T0 + sec * S);
    expect(&ly, T0 + 3 * S, 0, 0, 2);
    assert_int_equal(ly.up_min.spatial, 1);
    expect(&ly, T0 + 5 * S, 0, 0, 2); /* layer 1 gone: no move */
    assert_true(ly.up_pending);       /* the wait for layer 2 starts */
    for (int sec = 6; sec <= 10; sec++)
        feed(&ly, 5, T0 + sec * S);
    expect(&ly, T0 + 9 * S + 900 * MS, 0, 0, 2);
    expect(&ly, T0 + 10 * S, 1, 2, 2);
}

/* Equal bitrates: the highest layer that fits (more pixels, same cost). */
static void test_equal_bitrates(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_init(&ly, NULL);
    for (int s = 0; s < 3; s++)
        fl_layers_set_bitrate(&ly, s, 0, 400000);
    fl_layers_set_estimate(&ly, 500000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 0);
    fl_layers_set_estimate(&ly, 400000); /* 360k: none fits, but it keeps (115%) */
    expect(&ly, T0, 0, 2, 0);
    fl_layers_set_estimate(&ly, 300000); /* 400k is over 115% of it: the lowest */
    expect(&ly, T0, 1, 0, 0);
}

/* floor (200% by default): the lowest layer drops its temporal layers
 * against twice the budget. */
static void test_floor(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_init(&ly, NULL);
    fl_layers_set_bitrate(&ly, 0, 0, 50000);
    fl_layers_set_bitrate(&ly, 0, 1, 25000);
    fl_layers_set_bitrate(&ly, 0, 2, 25000);
    fl_layers_set_estimate(&ly, 60000); /* budget 54k, 108k at 200%: all */
    feed(&ly, 1, T0);
    expect(&ly, T0, 1, 0, 2);
    fl_layers_set_estimate(&ly, 50000); /* 90k: TL0+TL1 (75k) */
    expect(&ly, T0 + MS, 1, 0, 1);
    fl_layers_set_estimate(&ly, 30000); /* 54k: TL0 */
    expect(&ly, T0 + 2 * MS, 1, 0, 0);
}

/* Down from the top: to the highest layer the estimate keeps (115%), not
 * to the one that fits 90% of it; the cap alone: the highest within it. */
static void test_down_to_kept(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_init(&ly, NULL);
    fl_layers_set_bitrate(&ly, 0, 0, 150000);
    fl_layers_set_bitrate(&ly, 1, 0, 450000);
    fl_layers_set_bitrate(&ly, 2, 0, 950000);
    fl_layers_set_estimate(&ly, 2000000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 0);
    fl_layers_set_estimate(&ly, 400000); /* 360k: layer 0 fits; 450k is kept (113%) */
    expect(&ly, T0 + MS, 1, 1, 0);
    fl_layers_init(&ly, &(fl_layers_config){ .start_high = 1 });
    fl_layers_set_bitrate(&ly, 0, 0, 150000);
    fl_layers_set_bitrate(&ly, 1, 0, 450000);
    fl_layers_set_bitrate(&ly, 2, 0, 500000); /* the top still ramping up */
    fl_layers_set_cap(&ly, 600000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 0);
    fl_layers_set_bitrate(&ly, 1, 0, 580000); /* a key frame in the middle's seconds */
    fl_layers_set_bitrate(&ly, 2, 0, 950000); /* over the cap: down, to the middle */
    expect(&ly, T0 + MS, 1, 1, 0);
}

/* A higher layer thinned of its temporal layers is not kept over a lower
 * layer whole; the lowest is. */
static void test_keep_whole(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_config cfg = { .start_high = 1 };
    fl_layers_init(&ly, &cfg);
    fl_layers_set_bitrate(&ly, 0, 0, 100000);
    fl_layers_set_bitrate(&ly, 1, 0, 400000); /* layer 1 measured with TL0 only at first */
    feed(&ly, 3, T0);
    expect(&ly, T0, 1, 1, 0);
    fl_layers_set_bitrate(&ly, 1, 1, 400000); /* its TL1 shows up: (1,0) is thinned */
    fl_layers_set_estimate(&ly, 450000);      /* 405k: layer 0 whole; (1,0) would keep */
    expect(&ly, T0 + MS, 1, 0, 0);
    /* the lowest thinned is kept while it holds */
    fl_layers_set_bitrate(&ly, 0, 1, 100000);
    fl_layers_set_estimate(&ly, 150000); /* 135k: (0,0) fits, (0,1) 200k does not */
    expect(&ly, T0 + 2 * MS, 0, 0, 0);
}

/* start_high: with no estimate, the best layer the cap allows; the first
 * estimate then moves it down at once when it does not hold it. */
static void test_start_high(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_config cfg = { .start_high = 1 };
    fl_layers_init(&ly, &cfg);
    for (int s = 0; s < 3; s++)
        fl_layers_set_bitrate(&ly, s, 0, (uint32_t)(100000 << s)); /* 100k, 200k, 400k */
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 0);
    fl_layers_init(&ly, &cfg);
    for (int s = 0; s < 3; s++)
        fl_layers_set_bitrate(&ly, s, 0, (uint32_t)(100000 << s));
    fl_layers_set_cap(&ly, 300000); /* 270k: layer 1 */
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 1, 0);
    fl_layers_set_estimate(&ly, 120000); /* 200k is over 115% of it: down */
    expect(&ly, T0 + MS, 1, 0, 0);
}

/* The current choice is kept while the estimate follows its rate (within
 * 115%), goes down when the estimate falls below that, and never over the
 * cap's budget. */
static void test_keep(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_init(&ly, NULL);
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 3; t++)
            fl_layers_set_bitrate(&ly, s, t, (uint32_t)(100000 << (2 * s)) / 2 >> (t ? 1 : 0));
    /* layer totals: 100k, 400k, 1.6M */
    fl_layers_set_estimate(&ly, 2000000);
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 2, 2);
    fl_layers_set_estimate(&ly, 1600000); /* about what arrives: kept */
    expect(&ly, T0 + MS, 0, 2, 2);
    fl_layers_set_estimate(&ly, 1400000); /* 1.6M is 114% of it: kept */
    expect(&ly, T0 + 2 * MS, 0, 2, 2);
    fl_layers_set_estimate(&ly, 1380000); /* 116%: down, to what fits 90% */
    expect(&ly, T0 + 3 * MS, 1, 1, 2);
    fl_layers_set_estimate(&ly, 2000000);
    fl_layers_set_cap(&ly, 1000000); /* a cap is not an estimate: its budget */
    expect(&ly, T0 + 4 * MS, 0, 1, 2);
    fl_layers_set_cap(&ly, 400000); /* 360k, but a layer within the cap is kept */
    expect(&ly, T0 + 5 * MS, 0, 1, 2);
    fl_layers_set_cap(&ly, 390000); /* layer 1 (400k) over the cap: it goes */
    expect(&ly, T0 + 5 * MS, 1, 0, 2);
    assert_int_equal(ly.downs, 2);
}

/* The lowest layer's temporal layers drop one by one; fewer temporal
 * layers sent by the publisher: the choice follows at once. */
static void test_temporal_layers(void **state)
{
    (void)state;
    fl_layers ly;
    three_layers(&ly);
    fl_layers_set_estimate(&ly, 120000); /* 108k: TL0+TL1 of layer 0 (120k) not */
    feed(&ly, 7, T0);
    expect(&ly, T0, 1, 0, 0);
    fl_layers_set_estimate(&ly, 500000);
    feed(&ly, 7, T0 + S);
    expect(&ly, T0 + S, 0, 0, 0);
    /* TL2 of layer 0 stops being measured */
    fl_layers_set_bitrate(&ly, 0, 2, 0);
    feed(&ly, 7, T0 + 6 * S);
    expect(&ly, T0 + 6 * S, 1, 0, 1);
    /* the current TID stops being sent */
    fl_layers_set_estimate(&ly, 135000); /* 121.5k: TL0+TL1 (120k) fit */
    expect(&ly, T0 + 6 * S, 0, 0, 1);
    fl_layers_set_bitrate(&ly, 0, 1, 0);
    expect(&ly, T0 + 6 * S, 1, 0, 0);
}

/* Bad arguments: refused or ignored; the defaults apply for zero fields. */
static void test_bad_args_and_config(void **state)
{
    (void)state;
    fl_layers ly;
    fl_layers_init(&ly, NULL);
    assert_int_equal(fl_layers_set_bitrate(&ly, -1, 0, 1), FL_EINVAL);
    assert_int_equal(fl_layers_set_bitrate(&ly, FL_LAYERS_SPATIAL, 0, 1), FL_EINVAL);
    assert_int_equal(fl_layers_set_bitrate(&ly, 0, FL_LAYERS_TEMPORAL, 1), FL_EINVAL);
    assert_int_equal(fl_layers_set_bitrate(&ly, 0, -1, 1), FL_EINVAL);
    fl_layers_on_packet(&ly, -1, T0);
    fl_layers_on_packet(&ly, FL_LAYERS_SPATIAL, T0);
    expect(&ly, T0, 0, -1, -1);
    assert_int_equal(ly.cfg.hold, 5 * S);
    assert_int_equal(ly.cfg.idle, S);
    assert_int_equal(ly.cfg.headroom, 90);
    /* a configuration of its own */
    fl_layers_config cfg = { .hold = 2 * S, .idle = 300 * MS, .headroom = 100 };
    fl_layers_init(&ly, &cfg);
    fl_layers_set_bitrate(&ly, 0, 0, 100000);
    fl_layers_set_bitrate(&ly, 1, 0, 1000000);
    fl_layers_set_estimate(&ly, 100000);
    feed(&ly, 3, T0);
    expect(&ly, T0, 1, 0, 0);
    fl_layers_set_estimate(&ly, 1000000); /* 100%: fits exactly */
    expect(&ly, T0 + 100 * MS, 0, 0, 0);
    feed(&ly, 3, T0 + 2 * S);
    expect(&ly, T0 + 2 * S + 100 * MS, 1, 1, 0);
    feed(&ly, 1, T0 + 2 * S + 200 * MS);
    expect(&ly, T0 + 2 * S + 299 * MS, 0, 1, 0);
    expect(&ly, T0 + 2 * S + 300 * MS, 1, 0, 0); /* layer 1 idle after 300 ms */
    /* an estimate far beyond any product with the headroom */
    fl_layers_set_estimate(&ly, UINT64_MAX);
    feed(&ly, 3, T0 + 10 * S);
    expect(&ly, T0 + 10 * S, 0, 0, 0);
    feed(&ly, 3, T0 + 12 * S);
    expect(&ly, T0 + 12 * S, 1, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_step_down),
        cmocka_unit_test(test_step_up_after_hold),
        cmocka_unit_test(test_up_to_lowest_of_hold),
        cmocka_unit_test(test_up_after_partial_dip),
        cmocka_unit_test(test_dip_resets_hold),
        cmocka_unit_test(test_flapping),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_layer_goes_and_comes_back),
        cmocka_unit_test(test_up_target_gone),
        cmocka_unit_test(test_equal_bitrates),
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_start_high),
        cmocka_unit_test(test_keep_whole),
        cmocka_unit_test(test_down_to_kept),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_temporal_layers),
        cmocka_unit_test(test_bad_args_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
