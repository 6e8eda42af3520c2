/* The control server's admission checks: the file-descriptor budget, the
 * access token, and rate-limited warnings (rpc/server_int.h). */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "base/log.h"
#include "rpc/server_int.h"

FL_LOG_TAG("ws");

#define FD_RECOUNT_FAR_MS  10000
#define FD_RECOUNT_HALF_MS 1000
#define FD_RECOUNT_NEAR_MS 100
#define RATE_LOG_MS        1000

/* ---- file descriptors ----------------------------------------------------- */

/* Entries of /proc/self/fd, less the one opendir holds; -1 if unreadable. */
static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

static void fd_recount(fl__fd_budget *b, uint64_t now)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        b->limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff ? 0 : (long)rl.rlim_cur;
    b->counted_at = now;
    long n = count_fds();
    if (n < 0) {
        if (!b->no_proc)
            fl_log(FL_LOG_INFO, "cannot read /proc/self/fd: descriptors are estimated");
        b->no_proc = true;
        return;
    }
    b->counted = n;
    b->delta = 0;
}

/* Once past 90% of what may be used; again after going under 80%. */
static void fd_warn(fl__fd_budget *b, long used)
{
    long usable = b->limit - b->reserve;
    if (b->limit <= 0 || usable <= 0)
        return;
    if (!b->warned && used * 10 >= usable * 9) {
        fl_log(FL_LOG_WARN,
               "%ld of %ld file descriptors in use: connections are refused past %ld "
               "(fdReserve %d)",
               used, b->limit, usable, b->reserve);
        b->warned = true;
    } else if (b->warned && used * 10 < usable * 8) {
        fl_log(FL_LOG_INFO, "%ld of %ld file descriptors in use (under 80%% of %ld again)", used,
               b->limit, usable);
        b->warned = false;
    }
}

void fl__fd_budget_init(fl__fd_budget *b, int reserve, uint64_t now)
{
    memset(b, 0, sizeof(*b));
    b->reserve = reserve;
    fd_recount(b, now);
    fd_warn(b, b->counted);
}

long fl__fd_budget_used(fl__fd_budget *b, uint64_t now)
{
    long used = b->counted + b->delta;
    if (b->no_proc) {
        fd_warn(b, used);
        return used;
    }
    uint64_t every = FD_RECOUNT_FAR_MS;
    if (b->limit > 0 && used + 2L * b->reserve + 16 >= b->limit)
        every = FD_RECOUNT_NEAR_MS;
    else if (b->limit > 0 && used * 2 >= b->limit)
        every = FD_RECOUNT_HALF_MS;
    if (now - b->counted_at >= every) {
        fd_recount(b, now);
        used = b->counted + b->delta;
    }
    fd_warn(b, used);
    return used;
}

bool fl__fd_budget_allows(fl__fd_budget *b, uint64_t now)
{
    long used = fl__fd_budget_used(b, now);
    return b->limit <= 0 || b->limit - used >= b->reserve;
}

/* ---- rate-limited warnings ------------------------------------------------ */

bool fl__rate_log_allow(fl__rate_log *r, uint64_t now, unsigned long *held)
{
    if (r->last != 0 && now - r->last < RATE_LOG_MS) {
        r->held++;
        return false;
    }
    *held = r->held;
    r->held = 0;
    r->last = now;
    return true;
}

unsigned long fl__rate_log_flush(fl__rate_log *r, uint64_t now)
{
    if (r->held == 0 || now - r->last < RATE_LOG_MS)
        return 0;
    unsigned long n = r->held;
    r->held = 0;
    r->last = now;
    return n;
}

/* ---- access token --------------------------------------------------------- */

/* Equal strings, in a time that depends on the lengths only. */
static bool same_secret(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned diff = glen != wlen;
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes v[0..n) into out (room for n bytes); -1 on a bad escape. */
static long percent_decode(const char *v, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '%') {
            out[o++] = v[i];
            continue;
        }
        int hi = i + 2 < n ? hex_digit(v[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(v[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    return (long)o;
}

static bool query_has_token(const char *target, const char *want, size_t wlen)
{
    static const char key[] = "access_token=";
    const size_t klen = sizeof(key) - 1;
    const char *q = strchr(target, '?');
    char value[FL_HTTP_MAX_HEAD];
    bool ok = false;
    for (const char *p = q ? q + 1 : ""; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n >= klen && n - klen <= sizeof(value) && memcmp(p, key, klen) == 0) {
            long len = percent_decode(p + klen, n - klen, value);
            if (len >= 0 && same_secret(value, (size_t)len, want, wlen))
                ok = true;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return ok;
}

bool fl__server_token_ok(const char *token, const fl_http_head *req)
{
    if (!token || !*token)
        return true;
    size_t wlen = strlen(token);
    bool ok = query_has_token(req->target, token, wlen);
    const char *auth = fl_http_head_get(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer", 6) == 0 && (auth[6] == ' ' || auth[6] == '\t')) {
        const char *v = auth + 7;
        while (*v == ' ' || *v == '\t')
            v++;
        if (same_secret(v, strlen(v), token, wlen))
            ok = true;
    }
    return ok;
}
