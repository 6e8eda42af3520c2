/* The file-descriptor budget: the estimate between counts, the reserve, and
 * the count at the limit itself (opendir fails with EMFILE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpc/fd_budget.h"

#include <cmocka.h>

static long open_now(void)
{
    fl__fd_budget b;
    fl__fd_budget_init(&b, 0, 1);
    return b.counted;
}

static void test_estimate_and_reserve(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    long open = open_now();
    fl__fd_budget b;
    fl__fd_budget_init(&b, 0, 1);
    assert_int_equal(b.counted, open);
    assert_int_equal(b.limit, (long)rl.rlim_cur);
    /* a reserve that leaves exactly `room` descriptors */
    long room = 10;
    b.reserve = (int)(b.limit - open - room);
    assert_true(fl__fd_budget_allows(&b, 2, room));
    assert_false(fl__fd_budget_allows(&b, 2, room + 1));
    /* told opens move the estimate; a refusal counts again and finds them
     * not opened after all */
    fl__fd_budget_adjust(&b, room);
    assert_int_equal(fl__fd_budget_used(&b, 3), open + room);
    assert_true(fl__fd_budget_allows(&b, 4, 1));
    assert_int_equal(b.delta, 0);
    assert_int_equal(b.counted, open);
    /* refusals in a row with nothing told cost no count */
    uint64_t at = b.counted_at;
    assert_false(fl__fd_budget_allows(&b, 5, room + 1));
    assert_false(fl__fd_budget_allows(&b, 6, room + 1));
    assert_int_equal(b.counted_at, at);
}

/* With every descriptor in use, every one counts (not the last count). */
static void test_at_the_limit(void **state)
{
    (void)state;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    long open = open_now();
    struct rlimit low = { .rlim_cur = (rlim_t)(open + 4), .rlim_max = old.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    fl__fd_budget b;
    fl__fd_budget_init(&b, 2, 1);
    assert_int_equal(b.counted, open);
    /* the limit caps descriptor numbers: inherited high ones leave more room */
    int fds[64];
    int n = 0;
    while (n < 64 && (fds[n] = dup(0)) >= 0)
        n++;
    assert_in_range(n, 4, 63);
    assert_false(fl__fd_budget_allows(&b, 20000, 0));
    assert_int_equal(fl__fd_budget_used(&b, 20000), (long)low.rlim_cur);
    assert_false(b.no_proc);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    assert_true(fl__fd_budget_allows(&b, 40000, 0));
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate_and_reserve),
        cmocka_unit_test(test_at_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
