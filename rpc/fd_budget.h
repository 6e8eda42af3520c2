/* The process's file-descriptor budget, one per daemon: the control server
 * checks it before it takes a connection, the service before an endpoint or
 * an offer takes sockets. Private to rpc/; runs on the rpc loop's thread.
 *
 * The engine opens UDP sockets and files on its own threads, so the
 * process's descriptors are counted in /proc/self/fd, and between counts
 * the callers' opens (and expected opens) move an estimate. Counts are every
 * 10 s far from the limit, every second past half of it, and at most every
 * 100 ms when the estimate comes within twice the reserve of it. */
#ifndef FL_RPC_FD_BUDGET_H
#define FL_RPC_FD_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fl__fd_budget {
    long limit;               /* RLIMIT_NOFILE (soft); 0: none */
    int reserve;              /* kept free: sockets are refused within it */
    long counted;             /* in use at the last count */
    long delta;               /* opens minus closes told since */
    uint64_t counted_at;      /* loop ms of the last count; 0: never */
    bool warned;              /* the warning at 90% of limit - reserve is out; 80% re-arms it */
    bool no_proc;             /* /proc/self/fd unreadable: the estimate only */
    unsigned long near_total; /* times that warning went out */
} fl__fd_budget;

/* Counts now. */
void fl__fd_budget_init(fl__fd_budget *b, int reserve, uint64_t now_ms);

/* The caller opened (n > 0), closed (n < 0) or is about to open n
 * descriptors: the estimate moves until the next count. */
void fl__fd_budget_adjust(fl__fd_budget *b, long n);

/* Descriptors in use, counted again if due; logs a warning once when they
 * pass 90% of what may be used (the limit less the reserve), before anything
 * is refused. At the limit itself (opendir fails with EMFILE) every
 * descriptor counts as used. */
long fl__fd_budget_used(fl__fd_budget *b, uint64_t now_ms);

/* True when `need` more descriptors leave at least the reserve free below
 * the limit (a socket already accepted is already counted: need 0). When
 * the estimate would refuse, descriptors are counted first if it moved
 * since the last count. */
bool fl__fd_budget_allows(fl__fd_budget *b, uint64_t now_ms, long need);

#endif
