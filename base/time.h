/* Time in fluo: fl_time is monotonic microseconds.
 *
 * Sans-IO modules never read the clock: they take fl_time as a parameter.
 * Only engine/, rpc/ and bench/ call fl_time_now(). */
#ifndef FL_BASE_TIME_H
#define FL_BASE_TIME_H

#include <stdint.h>

typedef int64_t fl_time;

#define FL_TIME_US    ((fl_time)1)
#define FL_TIME_MS    ((fl_time)1000)
#define FL_TIME_SEC   ((fl_time)1000000)
#define FL_TIME_NEVER INT64_MAX

/* Monotonic clock, microseconds. Thread-safe. */
fl_time fl_time_now(void);

/* Wall clock, milliseconds since the Unix epoch. Thread-safe. */
int64_t fl_time_wall_ms(void);

#endif
