/* Private to rpc/server*.c: what the control server checks before it takes
 * a connection or a request (the file-descriptor budget, the access token)
 * and a warning that is logged at most once a second. Runs on the server's
 * loop thread. */
#ifndef FL_RPC_SERVER_INT_H
#define FL_RPC_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/* Descriptors in use. The engine opens UDP sockets and files on its own
 * threads, so a count of the server's sockets is not enough: the process's
 * descriptors are counted in /proc/self/fd, and between counts the server's
 * own opens and closes move an estimate. Counts are every 10 s far from the
 * limit, every second past half of it, and at most every 100 ms when the
 * estimate comes within twice the reserve of it. */
typedef struct fl__fd_budget {
    long limit;          /* RLIMIT_NOFILE (soft); 0: none or unknown */
    int reserve;         /* kept free: sockets are refused within it */
    long counted;        /* in use at the last count */
    long delta;          /* the server's opens minus its closes since */
    uint64_t counted_at; /* loop ms of the last count; 0: never */
    bool warned;         /* the warning at 90% of limit - reserve is out; 80% re-arms it */
    bool no_proc;        /* /proc/self/fd unreadable: the estimate only */
} fl__fd_budget;

/* Counts now. */
void fl__fd_budget_init(fl__fd_budget *b, int reserve, uint64_t now);

/* Descriptors in use (counted again if due, see above); logs a warning once
 * when they pass 90% of what may be used (the limit less the reserve), before
 * sockets are refused. */
long fl__fd_budget_used(fl__fd_budget *b, uint64_t now);

/* True when at least `reserve` descriptors stay free below the limit with
 * those in use now (a socket just accepted is already counted). */
bool fl__fd_budget_allows(fl__fd_budget *b, uint64_t now);

/* A warning kept to one line a second: the lines held back are counted and
 * said in the next one, or by fl__rate_log_flush. */
typedef struct fl__rate_log {
    uint64_t last; /* loop ms of the last line; 0: none yet */
    unsigned long held;
} fl__rate_log;

/* True if a line may go out now; *held gets the lines held back before it. */
bool fl__rate_log_allow(fl__rate_log *r, uint64_t now, unsigned long *held);

/* Lines held back and not said yet, once a second has passed since the last
 * line (and resets the count); 0 otherwise. */
unsigned long fl__rate_log_flush(fl__rate_log *r, uint64_t now);

/* True if `token` is NULL or empty, or the request carries it: as
 * "access_token=TOKEN" in the query of its target (percent-decoded) or as
 * "Authorization: Bearer TOKEN". The comparison takes the same time wherever
 * the strings differ. */
bool fl__server_token_ok(const char *token, const fl_http_head *req);

#endif
