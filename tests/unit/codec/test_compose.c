/* codec/compose.h: the grid's cells for 1..9 inputs cover the canvas
 * without overlap, fitting keeps the aspect ratio inside the cell, a
 * relative place is clipped to the canvas, scaling into a view draws
 * inside its rectangle only, and mix-minus takes one input out of the sum
 * (saturated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "codec/compose.h"

#include <cmocka.h>

static void grid_sizes(void **state)
{
    (void)state;
    /* (n, cols, rows) */
    static const int want[][3] = { { 1, 1, 1 }, { 2, 2, 1 }, { 3, 2, 2 }, { 4, 2, 2 }, { 5, 3, 2 },
                                   { 6, 3, 2 }, { 7, 3, 3 }, { 9, 3, 3 }, { 10, 4, 3 } };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        int n = want[k][0], cols = want[k][1], rows = want[k][2];
        static unsigned char cover[480][640];
        memset(cover, 0, sizeof(cover));
        for (int i = 0; i < n; i++) {
            fl_rect r;
            fl_grid_cell(n, i, 640, 480, &r);
            assert_true(r.x % 2 == 0 && r.y % 2 == 0 && r.w % 2 == 0 && r.h % 2 == 0);
            /* cell i is at column i % cols, row i / cols */
            assert_int_equal(r.x, (640 * (i % cols) / cols) & ~1);
            assert_int_equal(r.y, (480 * (i / cols) / rows) & ~1);
            assert_in_range(r.w, 640 / cols - 2, 640 / cols + 2);
            assert_in_range(r.h, 480 / rows - 2, 480 / rows + 2);
            for (int y = r.y; y < r.y + r.h; y++)
                for (int x = r.x; x < r.x + r.w; x++)
                    assert_int_equal(cover[y][x]++, 0); /* no overlap */
        }
        if (n == cols * rows) { /* a full grid covers all */
            for (int y = 0; y < 480; y++)
                for (int x = 0; x < 640; x++)
                    assert_int_equal(cover[y][x], 1);
        }
    }
    fl_rect r;
    fl_grid_cell(0, 0, 640, 480, &r);
    assert_int_equal(r.w, 640);
    fl_grid_cell(3, 3, 640, 480, &r); /* out of range: the canvas */
    assert_int_equal(r.h, 480);
}

static void fit_and_relative(void **state)
{
    (void)state;
    fl_rect box = { 320, 0, 320, 480 }, r;
    fl_rect_fit(640, 480, &box, &r); /* 4:3 into a tall cell: letterboxed */
    assert_int_equal(r.w, 320);
    assert_int_equal(r.h, 240);
    assert_int_equal(r.x, 320);
    assert_int_equal(r.y, 120);
    fl_rect_fit(100, 1000, &box, &r); /* a tall picture: pillarboxed */
    assert_int_equal(r.h, 480);
    assert_in_range(r.w, 46, 48);
    assert_true(r.x > 320 && r.x + r.w < 640);

    fl_rect_relative(0.5, 0.5, 0.5, 0.5, 640, 480, &r);
    assert_int_equal(r.x, 320);
    assert_int_equal(r.y, 240);
    assert_int_equal(r.w, 320);
    assert_int_equal(r.h, 240);
    fl_rect_relative(0.75, 0.75, 0.5, 0.5, 640, 480, &r); /* clipped */
    assert_int_equal(r.x + r.w, 640);
    assert_int_equal(r.y + r.h, 480);
    fl_rect_relative(1.0, 0.0, 0.5, 0.5, 640, 480, &r); /* nothing left */
    assert_int_equal(r.w, 0);
    fl_rect_relative(0.0 / 0.0, 0, 1, 1, 640, 480, &r); /* NaN */
    assert_int_equal(r.w, 0);
}

static void view_and_fill(void **state)
{
    (void)state;
    fl_picture canvas, src, view;
    assert_int_equal(fl_picture_alloc(&canvas, 64, 48), 0);
    assert_int_equal(fl_picture_alloc(&src, 20, 20), 0);
    fl_rect all = { 0, 0, 64, 48 }, half = { 0, 0, 20, 20 };
    fl_picture_fill(&canvas, &all, FL_BLACK_Y, FL_BLACK_UV, FL_BLACK_UV);
    fl_picture_fill(&src, &half, 200, 50, 60);
    fl_rect r = { 32, 24, 32, 24 };
    assert_int_equal(fl_picture_view(&canvas, &r, &view), 0);
    assert_int_equal(fl_picture_scale(&src, &view), 0);
    for (int y = 0; y < 48; y++) {
        for (int x = 0; x < 64; x++) {
            int inside = x >= 32 && y >= 24;
            assert_int_equal(canvas.plane[0][y * canvas.stride[0] + x], inside ? 200 : FL_BLACK_Y);
        }
    }
    assert_int_equal(canvas.plane[1][12 * canvas.stride[1] + 16], 50);
    assert_int_equal(canvas.plane[2][12 * canvas.stride[2] + 16], 60);
    assert_int_equal(canvas.plane[1][0], FL_BLACK_UV);
    fl_rect odd = { 1, 0, 4, 4 }, out = { 60, 40, 8, 8 };
    assert_int_equal(fl_picture_view(&canvas, &odd, &view), FL_EINVAL);
    assert_int_equal(fl_picture_view(&canvas, &out, &view), FL_EINVAL);
    fl_picture_free(&canvas);
    fl_picture_free(&src);
}

static void mix_minus(void **state)
{
    (void)state;
    int16_t a[4] = { 1000, -1000, 30000, 0 }, b[4] = { 500, 500, 30000, -32768 };
    int16_t c[4] = { 1, 2, 3, -1 }, out[4];
    int32_t acc[4] = { 0 };
    fl_pcm_accumulate(acc, a, 4);
    fl_pcm_accumulate(acc, b, 4);
    fl_pcm_accumulate(acc, c, 4);
    fl_pcm_mix_minus(acc, a, out, 4); /* a hears b + c */
    assert_int_equal(out[0], 501);
    assert_int_equal(out[1], 502);
    assert_int_equal(out[2], 30003);
    assert_int_equal(out[3], -32768); /* saturated */
    fl_pcm_mix_minus(acc, c, out, 4); /* c hears a + b: 60000 saturates */
    assert_int_equal(out[0], 1500);
    assert_int_equal(out[2], 32767);
    fl_pcm_mix_minus(acc, NULL, out, 4); /* everyone */
    assert_int_equal(out[1], -498);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grid_sizes),
        cmocka_unit_test(fit_and_relative),
        cmocka_unit_test(view_and_fill),
        cmocka_unit_test(mix_minus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
