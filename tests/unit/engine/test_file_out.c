/* engine/file_out: ordered writes off the loop, patches at an offset, and
 * the errors a recording meets (no such folder, a full disk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/file_out.h"

#include <cmocka.h>

typedef struct seen {
    int opened, open_status, errors, error_status, closed, closed_status;
    char why[512];
} seen;

static void on_open(void *arg, int status, const char *why)
{
    seen *s = arg;
    s->opened++;
    s->open_status = status;
    if (why)
        snprintf(s->why, sizeof(s->why), "%s", why);
}

static void on_error(void *arg, int status, const char *why)
{
    seen *s = arg;
    s->errors++;
    s->error_status = status;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

static void on_closed(void *arg, int status)
{
    seen *s = arg;
    s->closed++;
    s->closed_status = status;
}

static const fl__file_out_callbacks cbs = { on_open, on_error, on_closed };

static void run_until_closed(uv_loop_t *loop, seen *s)
{
    while (!s->closed)
        uv_run(loop, UV_RUN_ONCE);
}

static void test_ordered_writes_and_patch(void **state)
{
    (void)state;
    char path[] = "/tmp/fluo-file-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = { 0 };
    fl__file_out *f;
    assert_int_equal(fl__file_out_open(&f, &loop, path, 0, &cbs, &s), 0);
    /* queued before the open completes, written in order after it */
    uint8_t block[1000];
    for (int i = 0; i < 200; i++) {
        memset(block, 'a' + i % 26, sizeof(block));
        assert_int_equal(fl__file_out_write(f, -1, block, sizeof(block)), 0);
    }
    assert_int_equal(fl__file_out_size(f), 200000);
    while (!s.opened)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(fl__file_out_write(f, 10, (const uint8_t *)"PATCH", 5), 0);
    assert_int_equal(fl__file_out_size(f), 200000);
    fl__file_out_close(f);
    run_until_closed(&loop, &s);
    assert_int_equal(s.opened, 1);
    assert_int_equal(s.open_status, 0);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.closed_status, 0);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    static uint8_t got[200000];
    assert_int_equal(fread(got, 1, sizeof(got), in), sizeof(got));
    assert_int_equal(fgetc(in), EOF);
    fclose(in);
    assert_memory_equal(got + 10, "PATCH", 5);
    assert_int_equal(got[9], 'a');
    for (int i = 1; i < 200; i++)
        assert_int_equal(got[i * 1000 + 500], 'a' + i % 26);
    unlink(path);
    uv_loop_close(&loop);
}

static void test_no_such_folder(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = { 0 };
    fl__file_out *f;
    assert_int_equal(fl__file_out_open(&f, &loop, "/nonexistent-fluo-dir/x.webm", 0, &cbs, &s), 0);
    while (!s.opened)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(s.open_status, FL_EIO);
    /* the reason and the path, in words */
    assert_non_null(strstr(s.why, "/nonexistent-fluo-dir/x.webm"));
    assert_non_null(strstr(s.why, "no such file or directory"));
    assert_int_equal(fl__file_out_write(f, -1, (const uint8_t *)"x", 1), FL_EIO);
    fl__file_out_close(f);
    run_until_closed(&loop, &s);
    assert_int_equal(s.closed_status, FL_EIO);
    uv_loop_close(&loop);
}

static void test_full_disk(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = { 0 };
    fl__file_out *f;
    assert_int_equal(fl__file_out_open(&f, &loop, "/dev/full", 0, &cbs, &s), 0);
    uint8_t block[4096] = { 0 };
    assert_int_equal(fl__file_out_write(f, -1, block, sizeof(block)), 0);
    while (!s.errors)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(s.errors, 1);
    assert_non_null(strstr(s.why, "/dev/full"));
    assert_non_null(strstr(s.why, "no space left on device"));
    /* nothing more is taken, and the error is said once */
    assert_int_equal(fl__file_out_write(f, -1, block, sizeof(block)), FL_EIO);
    fl__file_out_close(f);
    run_until_closed(&loop, &s);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.closed_status, FL_EIO);
    uv_loop_close(&loop);
}

static void test_queue_bound(void **state)
{
    (void)state;
    char path[] = "/tmp/fluo-file-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = { 0 };
    fl__file_out *f;
    assert_int_equal(fl__file_out_open(&f, &loop, path, 4096, &cbs, &s), 0);
    uint8_t block[3000] = { 0 };
    assert_int_equal(fl__file_out_write(f, -1, block, sizeof(block)), 0);
    assert_int_equal(fl__file_out_write(f, -1, block, sizeof(block)), FL_EBUSY);
    assert_int_equal(fl__file_out_queued(f), 3000);
    fl__file_out_close(f);
    run_until_closed(&loop, &s);
    assert_int_equal(s.closed_status, 0);
    unlink(path);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_writes_and_patch),
        cmocka_unit_test(test_no_such_folder),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_queue_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
