#include "base/log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"

#define MAX_RULES 32
#define MAX_TAG   24

struct rule {
    char tag[MAX_TAG];
    int level;
};

static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[MAX_RULES];
static int nrules;
static int default_level = FL_LOG_INFO;
static atomic_uint generation = 1;
static fl_log_sink_fn sink_fn;
static void *sink_ctx;

static int parse_level(const char *s, size_t n)
{
    static const char *names[] = { "none", "error", "warn", "info", "debug", "trace" };
    if (n == 1 && s[0] >= '0' && s[0] <= '5')
        return s[0] - '0';
    for (int i = 0; i < 6; i++) {
        if (strlen(names[i]) == n && strncasecmp(names[i], s, n) == 0)
            return i;
    }
    return -1;
}

int fl_log_configure(const char *spec)
{
    struct rule parsed[MAX_RULES];
    int n = 0;
    int def = -1;
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (!colon)
            return FL_EINVAL;
        size_t tlen = (size_t)(colon - p);
        int level = parse_level(colon + 1, len - tlen - 1);
        if (level < 0 || tlen == 0 || tlen >= MAX_TAG)
            return FL_EINVAL;
        if (tlen == 1 && p[0] == '*') {
            def = level;
        } else {
            if (n == MAX_RULES)
                return FL_EINVAL;
            memcpy(parsed[n].tag, p, tlen);
            parsed[n].tag[tlen] = '\0';
            parsed[n].level = level;
            n++;
        }
        p = end ? end + 1 : NULL;
    }
    pthread_mutex_lock(&spec_lock);
    memcpy(rules, parsed, sizeof(parsed[0]) * (size_t)n);
    nrules = n;
    if (def >= 0)
        default_level = def;
    atomic_fetch_add(&generation, 1);
    pthread_mutex_unlock(&spec_lock);
    return 0;
}

void fl_log_set_sink(fl_log_sink_fn fn, void *ctx)
{
    pthread_mutex_lock(&spec_lock);
    sink_fn = fn;
    sink_ctx = ctx;
    pthread_mutex_unlock(&spec_lock);
}

int fl_log_level_of(const char *tag)
{
    pthread_mutex_lock(&spec_lock);
    int level = default_level;
    for (int i = 0; i < nrules; i++) {
        if (strcmp(rules[i].tag, tag) == 0)
            level = rules[i].level;
    }
    pthread_mutex_unlock(&spec_lock);
    return level;
}

const char *fl_log_level_name(int level)
{
    static const char *names[] = { "NONE", "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };
    return level >= 0 && level <= 5 ? names[level] : "?";
}

int fl__log_enabled(fl_log_tag *tag, int level)
{
    unsigned gen = atomic_load_explicit(&generation, memory_order_relaxed);
    if (atomic_load_explicit(&tag->generation, memory_order_relaxed) != gen) {
        atomic_store_explicit(&tag->level, fl_log_level_of(tag->name), memory_order_relaxed);
        atomic_store_explicit(&tag->generation, gen, memory_order_relaxed);
    }
    return level <= atomic_load_explicit(&tag->level, memory_order_relaxed);
}

void fl__log_write(fl_log_tag *tag, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&spec_lock);
    fl_log_sink_fn fn = sink_fn;
    void *ctx = sink_ctx;
    pthread_mutex_unlock(&spec_lock);
    if (fn) {
        fn(ctx, level, tag->name, line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            fl_log_level_name(level), tag->name, line);
}

static uint64_t rate_every(const fl_log_rate *r)
{
    return r->every_ms ? r->every_ms : 1000;
}

bool fl_log_rate_allow(fl_log_rate *r, uint64_t now_ms, unsigned long *held)
{
    if (r->last != 0 && now_ms - r->last < rate_every(r)) {
        r->held++;
        return false;
    }
    *held = r->held;
    r->held = 0;
    r->last = now_ms;
    return true;
}

unsigned long fl_log_rate_flush(fl_log_rate *r, uint64_t now_ms)
{
    if (r->held == 0 || now_ms - r->last < rate_every(r))
        return 0;
    unsigned long n = r->held;
    r->held = 0;
    r->last = now_ms;
    return n;
}
