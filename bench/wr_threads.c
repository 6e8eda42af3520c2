/* The server's cores (--server-cpu) and the CPU time of its threads, told
 * apart by name: fluo's worker threads are "fluo-worker-N"
 * (/proc/PID/task/TID/comm), its main thread "fluo". See wr.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/wr.h"

/* "N" or "A-B" at *s (which is moved past it) into *mask. */
static int cpu_range(const char **s, uint64_t *mask)
{
    char *end;
    unsigned long a = strtoul(*s, &end, 10), b = a;
    if (end == *s || **s < '0' || **s > '9')
        return FL_EINVAL;
    if (*end == '-') {
        const char *p = end + 1;
        if (*p < '0' || *p > '9')
            return FL_EINVAL;
        b = strtoul(p, &end, 10);
    }
    if (a > b || b >= WR_MAX_CPUS)
        return FL_EINVAL;
    for (unsigned long c = a; c <= b; c++)
        *mask |= 1ull << c;
    *s = end;
    return 0;
}

int wr_cpu_list_parse(const char *s, uint64_t *mask)
{
    uint64_t m = 0;
    if (strcmp(s, "all") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1 || n > WR_MAX_CPUS)
            return FL_EINVAL;
        *mask = n == WR_MAX_CPUS ? ~0ull : (1ull << n) - 1;
        return 0;
    }
    for (;;) {
        if (cpu_range(&s, &m) < 0)
            return FL_EINVAL;
        if (*s == '\0')
            break;
        if (*s++ != ',')
            return FL_EINVAL;
    }
    *mask = m;
    return 0;
}

/* The worker index of a thread name: N for "fluo-worker-N", else -1. */
static int worker_of(const char *name, size_t len)
{
    static const char prefix[] = "fluo-worker-";
    size_t k = sizeof(prefix) - 1;
    if (len <= k || strncmp(name, prefix, k) != 0)
        return -1;
    int n = 0;
    for (size_t i = k; i < len; i++) {
        if (name[i] < '0' || name[i] > '9' || n >= WR_MAX_WORKERS)
            return -1;
        n = n * 10 + (name[i] - '0');
    }
    return n < WR_MAX_WORKERS ? n : -1;
}

/* One thread's name and user+sys time (µs) from its stat. 0 or FL_EIO (it
 * has just exited). */
static int read_thread(int pid, int tid, wr_thread_cpu *t)
{
    char path[96], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return FL_EIO;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "TID (NAME) STATE ...": the name may hold spaces and parentheses */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return FL_EIO;
    unsigned long long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return FL_EIO;
    t->tid = tid;
    t->worker = worker_of(open + 1, (size_t)(close - open - 1));
    t->us = (uint64_t)(ut + st) * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    return 0;
}

int wr_threads_read(pid_t pid, wr_threads *s)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return FL_EIO;
    s->n = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            wr_thread_cpu *t = realloc(s->t, cap * sizeof(*t));
            if (!t) {
                rc = FL_ENOMEM;
                break;
            }
            s->t = t;
            s->cap = cap;
        }
        if (read_thread((int)pid, atoi(e->d_name), &s->t[s->n]) == 0)
            s->n++;
    }
    closedir(d);
    return rc;
}

void wr_threads_free(wr_threads *s)
{
    free(s->t);
    memset(s, 0, sizeof(*s));
}

void wr_threads_diff(const wr_threads *from, const wr_threads *to, wr_worker_cpu *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < to->n; i++) {
        const wr_thread_cpu *t = &to->t[i];
        uint64_t before = 0;
        for (size_t j = 0; j < from->n; j++) {
            if (from->t[j].tid == t->tid) {
                before = from->t[j].us;
                break;
            }
        }
        uint64_t us = t->us > before ? t->us - before : 0;
        if (t->worker >= 0) {
            out->worker_us[t->worker] += us;
            if (t->worker >= out->nworkers)
                out->nworkers = t->worker + 1;
        } else {
            out->other_us += us;
        }
    }
}
