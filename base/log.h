/* Logging with per-module levels.
 *
 * Each .c file that logs names its tag once, after its includes:
 *     FL_LOG_TAG("ice");
 * then calls fl_log(FL_LOG_INFO, "fmt", ...). The level is checked before the
 * message is formatted. Levels per tag come from a spec such as
 * "ice:5,rpc:4,*:3" (numbers or names: error, warn, info, debug, trace).
 * Thread-safe. */
#ifndef FL_BASE_LOG_H
#define FL_BASE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum fl_log_level {
    FL_LOG_NONE = 0,
    FL_LOG_ERROR = 1,
    FL_LOG_WARN = 2,
    FL_LOG_INFO = 3,
    FL_LOG_DEBUG = 4,
    FL_LOG_TRACE = 5,
};

typedef struct fl_log_tag {
    const char *name;
    atomic_int level;       /* cached level for this tag */
    atomic_uint generation; /* spec generation the cache was computed for */
} fl_log_tag;

/* Where formatted lines go. The default writes to stderr. `line` has no newline. */
typedef void (*fl_log_sink_fn)(void *ctx, int level, const char *tag, const char *line);

/* Applies a level spec ("ice:5,rpc:debug,*:3"). Returns FL_EINVAL and changes
 * nothing when the spec is malformed. */
int fl_log_configure(const char *spec);

/* Replaces the output sink; NULL restores stderr. */
void fl_log_set_sink(fl_log_sink_fn fn, void *ctx);

/* Level in force for a tag name under the current spec. */
int fl_log_level_of(const char *tag);

/* Name of a level ("ERROR" ...). */
const char *fl_log_level_name(int level);

/* A warning kept to one line per every_ms (0: a second), for input that
 * may repeat at will (an attacker's, a broken client's): the lines held back
 * are counted and said by the next one, or by fl_log_rate_flush. The caller
 * gives the time (any millisecond clock, > 0) and owns the thread. */
typedef struct fl_log_rate {
    uint64_t every_ms;
    uint64_t last; /* ms of the last line; 0: none yet */
    unsigned long held;
} fl_log_rate;

/* True if a line may go out now; *held gets the lines held back before it. */
bool fl_log_rate_allow(fl_log_rate *r, uint64_t now_ms, unsigned long *held);

/* The lines held back and not said yet, once the interval has passed since
 * the last line (and the count restarts); 0 otherwise. */
unsigned long fl_log_rate_flush(fl_log_rate *r, uint64_t now_ms);

int fl__log_enabled(fl_log_tag *tag, int level);
void fl__log_write(fl_log_tag *tag, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define FL_LOG_TAG(str) __attribute__((unused)) static fl_log_tag fl__log_tag = { str, 0, 0 }

#define fl_log(level, ...)                                     \
    do {                                                       \
        if (fl__log_enabled(&fl__log_tag, (level)))            \
            fl__log_write(&fl__log_tag, (level), __VA_ARGS__); \
    } while (0)

#endif
