#include "base/time.h"

#include <time.h>

fl_time fl_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (fl_time)ts.tv_sec * FL_TIME_SEC + ts.tv_nsec / 1000;
}

int64_t fl_time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
