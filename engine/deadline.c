/* A libuv timer restarted only when the deadline moves earlier, or a
 * simulation's timer. See deadline.h. */
#include "engine/deadline.h"

static void sim_fire(fl__sim_timer *t)
{
    fl__deadline *d = fl_container_of(t, fl__deadline, sim);
    d->cb(&d->timer);
}

void fl__deadline_init(fl__deadline *d,
                       uv_loop_t *loop,
                       uv_timer_cb cb,
                       void *data,
                       uint64_t min_ms)
{
    uv_timer_init(loop, &d->timer);
    d->timer.data = data;
    d->cb = cb;
    d->min_delay = (fl_time)min_ms * FL_TIME_MS;
    d->at = FL_TIME_NEVER;
    fl_list_init(&d->sim.node);
    d->in_sim = fl__loop_sim(loop) != NULL;
    if (d->in_sim) {
        d->sim.fire = sim_fire;
        fl__sim_timer_add(fl__loop_sim(loop), &d->sim);
    }
}

static int active(const fl__deadline *d)
{
    if (d->in_sim)
        return d->sim.at != FL_TIME_NEVER;
    return uv_is_active((const uv_handle_t *)&d->timer);
}

void fl__deadline_arm(fl__deadline *d, fl_time at, fl_time now)
{
    if (at == FL_TIME_NEVER)
        return;
    if (at < now + d->min_delay)
        at = now + d->min_delay;
    /* a timer that has fired is inactive: its armed time no longer counts */
    if (active(d) && at >= d->at)
        return;
    d->at = at;
    if (d->in_sim) {
        d->sim.at = at;
        return;
    }
    uint64_t ms = at > now ? (uint64_t)((at - now + FL_TIME_MS - 1) / FL_TIME_MS) : 0;
    uv_timer_start(&d->timer, d->cb, ms, 0);
}

fl_time fl__deadline_armed(const fl__deadline *d)
{
    return active(d) ? d->at : FL_TIME_NEVER;
}

void fl__deadline_stop(fl__deadline *d)
{
    uv_timer_stop(&d->timer);
    d->sim.at = FL_TIME_NEVER;
    d->at = FL_TIME_NEVER;
}

void fl__deadline_close(fl__deadline *d, uv_close_cb close_cb)
{
    d->at = FL_TIME_NEVER;
    if (d->in_sim)
        fl__sim_timer_remove(&d->sim);
    uv_close((uv_handle_t *)&d->timer, close_cb);
}
