/* The file-descriptor budget (rpc/fd_budget.h). */
#include "rpc/fd_budget.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "base/log.h"

FL_LOG_TAG("rpc");

#define RECOUNT_FAR_MS  10000
#define RECOUNT_HALF_MS 1000
#define RECOUNT_NEAR_MS 100

/* Entries of /proc/self/fd less the one opendir holds; -1 with errno set
 * when it cannot be read. */
static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

static void recount(fl__fd_budget *b, uint64_t now_ms)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        b->limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff ? 0 : (long)rl.rlim_cur;
    b->counted_at = now_ms;
    long n = count_fds();
    if (n < 0 && (errno == EMFILE || errno == ENFILE)) {
        n = b->limit; /* not one descriptor left to look with */
    } else if (n < 0) {
        if (!b->no_proc)
            fl_log(FL_LOG_INFO, "cannot read /proc/self/fd (%s): descriptors are estimated",
                   strerror(errno));
        b->no_proc = true;
        return;
    }
    b->counted = n;
    b->delta = 0;
}

/* Once past 90% of what may be used; again after going under 80%. */
static void warn(fl__fd_budget *b, long used)
{
    long usable = b->limit - b->reserve;
    if (b->limit <= 0 || usable <= 0)
        return;
    if (!b->warned && used * 10 >= usable * 9) {
        fl_log(FL_LOG_WARN,
               "%ld of %ld file descriptors in use: connections and endpoints are refused "
               "past %ld (fluo.limits.fdReserve %d)",
               used, b->limit, usable, b->reserve);
        b->warned = true;
        b->near_total++;
    } else if (b->warned && used * 10 < usable * 8) {
        fl_log(FL_LOG_INFO, "%ld of %ld file descriptors in use (under 80%% of %ld again)", used,
               b->limit, usable);
        b->warned = false;
    }
}

void fl__fd_budget_init(fl__fd_budget *b, int reserve, uint64_t now_ms)
{
    memset(b, 0, sizeof(*b));
    b->reserve = reserve > 0 ? reserve : 0;
    recount(b, now_ms);
    warn(b, b->counted);
}

void fl__fd_budget_adjust(fl__fd_budget *b, long n)
{
    b->delta += n;
}

long fl__fd_budget_used(fl__fd_budget *b, uint64_t now_ms)
{
    long used = b->counted + b->delta;
    if (!b->no_proc) {
        uint64_t every = RECOUNT_FAR_MS;
        if (b->limit > 0 && used + 2L * b->reserve + 16 >= b->limit)
            every = RECOUNT_NEAR_MS;
        else if (b->limit > 0 && used * 2 >= b->limit)
            every = RECOUNT_HALF_MS;
        if (b->counted_at == 0 || now_ms - b->counted_at >= every) {
            recount(b, now_ms);
            used = b->counted + b->delta;
        }
    }
    warn(b, used);
    return used;
}

bool fl__fd_budget_allows(fl__fd_budget *b, uint64_t now_ms, long need)
{
    long used = fl__fd_budget_used(b, now_ms);
    if (b->limit <= 0 || b->limit - used - need >= b->reserve)
        return true;
    /* The estimate refuses: a count decides, unless nothing was told since
     * the last one (so refusals in a row cost no scan). */
    if (b->delta != 0 && !b->no_proc) {
        recount(b, now_ms);
        used = b->counted;
    }
    return b->limit - used - need >= b->reserve;
}
