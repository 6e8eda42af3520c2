/* A one-shot libuv timer kept at the earliest deadline asked for (private
 * to engine/).
 *
 * An object that reports its next deadline after every packet would restart
 * its timer as often (a heap removal and insertion each time). Here the timer
 * is restarted only when it is not running or when the new deadline is
 * earlier than the one it is armed for. A later deadline leaves the earlier
 * timer armed: it fires early, and its callback, which polls everything
 * again, arms the next one.
 *
 * On a simulated worker's loop (engine/sim.h) the deadline is the
 * simulation's timer instead, and fires in virtual time; the uv timer is
 * then never started but still closed, so closing works the same.
 *
 * Threads: the loop's. */
#ifndef FL_ENGINE_DEADLINE_H
#define FL_ENGINE_DEADLINE_H

#include <stdint.h>

#include <uv.h>

#include "base/time.h"
#include "engine/sim.h"

typedef struct fl__deadline {
    uv_timer_t timer; /* timer.data is the caller's */
    uv_timer_cb cb;
    fl_time min_delay; /* the timer never fires sooner than this after arming */
    fl_time at;        /* when it is armed to fire, while it is active */
    int in_sim;        /* the loop is a simulation's: sim is used */
    fl__sim_timer sim;
} fl__deadline;

/* Initialises the timer on loop: cb runs when it fires, with
 * timer.data = data, and never less than min_ms after it was armed. */
void fl__deadline_init(fl__deadline *d,
                       uv_loop_t *loop,
                       uv_timer_cb cb,
                       void *data,
                       uint64_t min_ms);

/* Makes the timer fire by `at` (absolute, fl__clock_now's clock; `now` is the
 * current time), or min_ms from now if that is later: starts it when it is
 * not running or armed for a later time, else leaves it. FL_TIME_NEVER
 * changes nothing. */
void fl__deadline_arm(fl__deadline *d, fl_time at, fl_time now);

/* When the timer is armed to fire; FL_TIME_NEVER when it is not running. */
fl_time fl__deadline_armed(const fl__deadline *d);

/* Stops the timer. */
void fl__deadline_stop(fl__deadline *d);

/* Closes the timer handle; close_cb (may be NULL) gets &d->timer. */
void fl__deadline_close(fl__deadline *d, uv_close_cb close_cb);

#endif
