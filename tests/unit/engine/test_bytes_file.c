/* The file:// byte source (engine/bytes.c) on a real loop, closed at every
 * point (opening, a read in flight in the thread pool, from its own data
 * callback): no callback after the close, the loop closes clean (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/player_src.h"

#include <cmocka.h>

typedef struct ctx {
    fl__bytes *b;
    int opened, data, failed, after_close;
    int closed;
    int close_in; /* 1: close from opened (read in flight), 2: from data */
    int64_t size;
    size_t got;
} ctx;

static void on_opened(void *arg, int64_t size, int seekable)
{
    (void)seekable;
    ctx *c = arg;
    if (c->closed)
        c->after_close++;
    c->opened++;
    c->size = size;
    assert_int_equal(fl__bytes_read(c->b, 0, 1 << 20), 0);
    if (c->close_in == 1) {
        fl__bytes_close(c->b);
        c->closed = 1;
    }
}

static void on_data(void *arg, int64_t offset, const uint8_t *data, size_t n)
{
    (void)offset;
    (void)data;
    ctx *c = arg;
    if (c->closed)
        c->after_close++;
    c->data++;
    c->got += n;
    if (c->close_in == 2 || n == 0) {
        fl__bytes_close(c->b);
        c->closed = 1;
        return;
    }
    assert_int_equal(fl__bytes_read(c->b, offset + (int64_t)n, 1 << 20), 0);
    /* a read in flight, then closed from here on the next one */
    c->close_in = 2;
}

static void on_failed(void *arg, int status, const char *why)
{
    (void)status;
    (void)why;
    ctx *c = arg;
    if (c->closed)
        c->after_close++;
    c->failed++;
    fl__bytes_close(c->b);
    c->closed = 1;
}

static const fl__bytes_cb cb = { on_opened, on_data, on_failed };

static void test_close_points(void **state)
{
    (void)state;
    char path[] = "/tmp/fluo-bytes-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t junk[3 << 20];
    memset(junk, 7, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    char uri[128];
    snprintf(uri, sizeof(uri), "file://%s", path);
    for (int mode = 0; mode < 3; mode++) {
        for (int spins = 0; spins < 6; spins++) {
            uv_loop_t loop;
            uv_loop_init(&loop);
            ctx c = { .close_in = mode };
            assert_int_equal(fl__bytes_open(&c.b, &loop, uri, NULL, &cb, &c), 0);
            if (mode == 0) {
                /* close after a few turns of the loop: open, fstat or a read in flight */
                for (int i = 0; i < spins; i++)
                    uv_run(&loop, UV_RUN_ONCE);
                if (!c.closed) {
                    fl__bytes_close(c.b);
                    c.closed = 1;
                }
            }
            uv_run(&loop, UV_RUN_DEFAULT);
            assert_int_equal(c.after_close, 0);
            assert_int_equal(uv_loop_close(&loop), 0);
        }
    }
    /* missing file */
    uv_loop_t loop;
    uv_loop_init(&loop);
    ctx c = { 0 };
    assert_int_equal(fl__bytes_open(&c.b, &loop, "file:///nonexistent/x.webm", NULL, &cb, &c), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.failed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_close_points) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
