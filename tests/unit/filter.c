/* One name filter for every cmocka binary under tests/unit, with no test's
 * main involved. The leading arguments that do not begin with '-' (or,
 * without any, FLUO_TEST, comma-separated) are the patterns:
 *
 *     build/tests/unit/ice/test_agent restart
 *     FLUO_TEST='test_ice_*,nomination' build/tests/unit/ice/test_agent
 *
 * A pattern without '*', '?' or '[' picks the tests whose name contains it;
 * one with them is a glob over the whole name (fnmatch). A test runs when
 * any pattern picks it; with no pattern every test runs, as before.
 *
 * glibc passes argc and argv to constructors, and the Makefile links each
 * unit binary with -Wl,--wrap=_cmocka_run_group_tests, so each group runs
 * only the tests picked (a group with none is not set up at all). When
 * the patterns picked no test in the whole binary it says so, lists the
 * names it has, and exits 1: a mistyped name is not a silent pass. */
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_PATTERNS 16

static const char *patterns[MAX_PATTERNS];
static size_t n_patterns;
static char *env_copy;    /* FLUO_TEST, split in place */
static size_t groups_run; /* groups that reached the wrapper */
static size_t tests_picked;
static const char **names; /* every test name seen, for the no-match list */
static size_t n_names;

int __real__cmocka_run_group_tests(const char *group_name,
                                   const struct CMUnitTest *const tests,
                                   const size_t num_tests,
                                   CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);
int __wrap__cmocka_run_group_tests(const char *group_name,
                                   const struct CMUnitTest *const tests,
                                   const size_t num_tests,
                                   CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);

static void add_pattern(const char *p)
{
    if (*p == '\0')
        return;
    if (n_patterns == MAX_PATTERNS) {
        fprintf(stderr, "test filter: more than %d patterns\n", MAX_PATTERNS);
        exit(2);
    }
    patterns[n_patterns++] = p;
}

static int picked(const char *name)
{
    if (n_patterns == 0)
        return 1;
    for (size_t i = 0; i < n_patterns; i++) {
        const char *p = patterns[i];
        if (strpbrk(p, "*?[") != NULL ? fnmatch(p, name, 0) == 0 : strstr(name, p) != NULL)
            return 1;
    }
    return 0;
}

static void report_no_match(void)
{
    if (n_patterns == 0 || groups_run == 0 || tests_picked > 0)
        return;
    fprintf(stderr, "test filter: no test matches");
    for (size_t i = 0; i < n_patterns; i++)
        fprintf(stderr, " '%s'", patterns[i]);
    fprintf(stderr, "; the tests here:\n");
    for (size_t i = 0; i < n_names; i++)
        fprintf(stderr, "  %s\n", names[i]);
    fflush(NULL);
    _exit(1);
}

__attribute__((constructor)) static void filter_init(int argc, char **argv, char **envp)
{
    (void)envp;
    for (int i = 1; i < argc && argv[i][0] != '-'; i++)
        add_pattern(argv[i]);
    const char *env = getenv("FLUO_TEST");
    if (n_patterns == 0 && env != NULL && *env != '\0') {
        env_copy = strdup(env);
        if (env_copy == NULL)
            abort();
        char *save = NULL;
        for (char *p = strtok_r(env_copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
            add_pattern(p);
    }
    /* env_copy and names stay reachable until exit: the patterns point into
     * the one, and the report prints the other. */
    if (n_patterns > 0)
        atexit(report_no_match);
}

int __wrap__cmocka_run_group_tests(const char *group_name,
                                   const struct CMUnitTest *const tests,
                                   const size_t num_tests,
                                   CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown)
{
    if (n_patterns == 0)
        return __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup,
                                              group_teardown);
    groups_run++;
    struct CMUnitTest *run = calloc(num_tests > 0 ? num_tests : 1, sizeof(*run));
    const char **grown = realloc(names, (n_names + num_tests + 1) * sizeof(*names));
    if (run == NULL || grown == NULL)
        abort();
    names = grown;
    size_t n = 0;
    for (size_t i = 0; i < num_tests; i++) {
        names[n_names++] = tests[i].name;
        if (picked(tests[i].name))
            run[n++] = tests[i];
    }
    tests_picked += n;
    int rc = n > 0 ? __real__cmocka_run_group_tests(group_name, run, n, group_setup, group_teardown)
                   : 0;
    free(run);
    return rc;
}
