/* The shared deadline timer: an earlier deadline restarts it, a later one
 * leaves it armed, one that has fired is armed again by the next call, the
 * minimum delay holds, and the loop closes clean. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on
#include <stdint.h>

#include "base/time.h"
#include "engine/deadline.h"

typedef struct fixture {
    uv_loop_t loop;
    fl__deadline d;
    int fired;
    fl_time rearm_at; /* armed from the callback when not FL_TIME_NEVER */
    int active_in_cb;
    int closed;
} fixture;

static void on_timer(uv_timer_t *h)
{
    fixture *f = h->data;
    f->fired++;
    f->active_in_cb = uv_is_active((uv_handle_t *)h);
    if (f->rearm_at != FL_TIME_NEVER)
        fl__deadline_arm(&f->d, f->rearm_at, fl_time_now());
}

static void on_closed(uv_handle_t *h)
{
    fixture *f = h->data;
    f->closed++;
}

static void setup(fixture *f, uint64_t min_ms)
{
    *f = (fixture){ .rearm_at = FL_TIME_NEVER };
    assert_int_equal(uv_loop_init(&f->loop), 0);
    fl__deadline_init(&f->d, &f->loop, on_timer, f, min_ms);
    assert_int_equal(fl__deadline_armed(&f->d), FL_TIME_NEVER);
}

static void teardown(fixture *f)
{
    fl__deadline_close(&f->d, on_closed);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->closed, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static uint64_t due_in(fixture *f)
{
    return uv_timer_get_due_in(&f->d.timer);
}

static void test_earlier_rearms(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    fl_time now = fl_time_now();
    fl__deadline_arm(&f.d, now + 100 * FL_TIME_MS, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + 100 * FL_TIME_MS);
    assert_true(uv_is_active((uv_handle_t *)&f.d.timer));
    assert_int_equal(due_in(&f), 100);
    fl__deadline_arm(&f.d, now + 40 * FL_TIME_MS, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + 40 * FL_TIME_MS);
    assert_int_equal(due_in(&f), 40);
    /* rounded up to whole milliseconds, never early */
    fl__deadline_arm(&f.d, now + 20 * FL_TIME_MS + 1, now);
    assert_int_equal(due_in(&f), 21);
    teardown(&f);
    assert_int_equal(f.fired, 0);
}

static void test_later_keeps(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    fl_time now = fl_time_now();
    fl__deadline_arm(&f.d, now + 50 * FL_TIME_MS, now);
    fl__deadline_arm(&f.d, now + 200 * FL_TIME_MS, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + 50 * FL_TIME_MS);
    assert_int_equal(due_in(&f), 50);
    fl__deadline_arm(&f.d, now + 50 * FL_TIME_MS, now + 10 * FL_TIME_MS); /* the same */
    assert_int_equal(fl__deadline_armed(&f.d), now + 50 * FL_TIME_MS);
    assert_int_equal(due_in(&f), 50);
    fl__deadline_arm(&f.d, FL_TIME_NEVER, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + 50 * FL_TIME_MS);
    assert_int_equal(due_in(&f), 50);
    teardown(&f);
}

static void test_fired_rearms(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    fl_time now = fl_time_now();
    fl__deadline_arm(&f.d, now + 2 * FL_TIME_MS, now);
    while (f.fired == 0)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_false(f.active_in_cb);
    assert_false(uv_is_active((uv_handle_t *)&f.d.timer));
    assert_int_equal(fl__deadline_armed(&f.d), FL_TIME_NEVER);
    /* later than the time it fired for, yet armed: the old time is gone */
    now = fl_time_now();
    fl__deadline_arm(&f.d, now + 3 * FL_TIME_MS, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + 3 * FL_TIME_MS);
    assert_true(uv_is_active((uv_handle_t *)&f.d.timer));
    /* armed again from its own callback, as webrtc and ice_transport do */
    f.rearm_at = fl_time_now() + 5 * FL_TIME_SEC;
    while (f.fired == 1)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(f.fired, 2);
    assert_int_equal(fl__deadline_armed(&f.d), f.rearm_at);
    assert_true(uv_is_active((uv_handle_t *)&f.d.timer));
    fl__deadline_stop(&f.d);
    assert_int_equal(fl__deadline_armed(&f.d), FL_TIME_NEVER);
    teardown(&f);
    assert_int_equal(f.fired, 2);
}

static void test_min_delay(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 1);
    fl_time now = fl_time_now();
    fl__deadline_arm(&f.d, now - 5 * FL_TIME_MS, now); /* overdue: in 1 ms */
    assert_int_equal(fl__deadline_armed(&f.d), now + FL_TIME_MS);
    assert_int_equal(due_in(&f), 1);
    /* overdue still, later: pushing the timer back would delay it */
    fl__deadline_arm(&f.d, now - 10 * FL_TIME_MS, now + FL_TIME_MS / 2);
    assert_int_equal(fl__deadline_armed(&f.d), now + FL_TIME_MS);
    /* half a millisecond ahead: 1 ms, the same as before */
    fl__deadline_arm(&f.d, now + FL_TIME_MS / 2, now);
    assert_int_equal(fl__deadline_armed(&f.d), now + FL_TIME_MS);
    while (f.fired == 0)
        uv_run(&f.loop, UV_RUN_ONCE);
    teardown(&f);
}

static void test_close_while_armed(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    fl_time now = fl_time_now();
    fl__deadline_arm(&f.d, now + 10 * FL_TIME_SEC, now);
    teardown(&f); /* the loop ends at once: the closed timer holds nothing */
    assert_int_equal(f.fired, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earlier_rearms),    cmocka_unit_test(test_later_keeps),
        cmocka_unit_test(test_fired_rearms),      cmocka_unit_test(test_min_delay),
        cmocka_unit_test(test_close_while_armed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
