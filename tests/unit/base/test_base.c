#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"

#include <cmocka.h>

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(fl_strerror(0), "success");
    assert_string_equal(fl_strerror(FL_EINVAL), "invalid argument");
    assert_string_equal(fl_strerror(FL_ETLS), "TLS error");
    assert_string_equal(fl_strerror(12345), "unknown error");
    assert_true(FL_EINVAL < 0 && FL_ETLS < 0);
}

static void test_buf_pool_reuses(void **state)
{
    (void)state;
    fl_buf_pool *p;
    assert_int_equal(fl_buf_pool_create(&p, 1500, 64, 4, 16), 0);
    fl_buf *bufs[16];
    for (int i = 0; i < 16; i++) {
        bufs[i] = fl_buf_pool_get(p);
        assert_non_null(bufs[i]);
        assert_int_equal(fl_buf_headroom(bufs[i]), 64);
        assert_int_equal(fl_buf_tailroom(bufs[i]), 1500);
    }
    assert_null(fl_buf_pool_get(p)); /* at max */
    fl_buf_pool_stats st;
    fl_buf_pool_get_stats(p, &st);
    assert_int_equal(st.allocated, 16);
    assert_int_equal(st.in_use, 16);
    assert_int_equal(st.failed, 1);

    fl_buf *b = bufs[3];
    fl_buf_ref(b);
    fl_buf_unref(b);
    fl_buf_pool_get_stats(p, &st);
    assert_int_equal(st.in_use, 16); /* one ref still held */
    for (int i = 0; i < 16; i++)
        fl_buf_unref(bufs[i]);
    fl_buf_pool_get_stats(p, &st);
    assert_int_equal(st.in_use, 0);

    /* Getting again reuses memory: no new allocation. */
    fl_buf *again = fl_buf_pool_get(p);
    fl_buf_pool_get_stats(p, &st);
    assert_int_equal(st.allocated, 16);
    fl_buf_unref(again);
    fl_buf_pool_destroy(p);
}

static void test_buf_head_and_len(void **state)
{
    (void)state;
    fl_buf_pool *p;
    assert_int_equal(fl_buf_pool_create(&p, 100, 8, 1, 0), 0);
    fl_buf *b = fl_buf_pool_get(p);
    assert_int_equal(fl_buf_set_len(b, 100), 0);
    assert_int_equal(fl_buf_set_len(b, 101), FL_ERANGE);
    memset(fl_buf_data(b), 'x', 100);
    uint8_t *h = fl_buf_push_head(b, 4);
    assert_non_null(h);
    assert_int_equal(b->len, 104);
    assert_null(fl_buf_push_head(b, 5));
    assert_int_equal(fl_buf_pull_head(b, 4), 0);
    assert_int_equal(fl_buf_data(b)[0], 'x');
    assert_int_equal(fl_buf_pull_head(b, 101), FL_ERANGE);
    fl_buf_unref(b);
    fl_buf_pool_destroy(p);
}

struct item {
    int v;
    fl_list node;
};

static void test_list(void **state)
{
    (void)state;
    fl_list head;
    fl_list_init(&head);
    struct item it[5];
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        fl_list_push_back(&head, &it[i].node);
    }
    assert_int_equal(fl_list_count(&head), 5);
    int sum = 0;
    fl_list_foreach_safe (n, tmp, &head) {
        struct item *x = fl_container_of(n, struct item, node);
        sum += x->v;
        if (x->v % 2 == 0)
            fl_list_remove(n);
    }
    assert_int_equal(sum, 10);
    assert_int_equal(fl_list_count(&head), 2);
    fl_list *f = fl_list_pop_front(&head);
    assert_int_equal(fl_container_of(f, struct item, node)->v, 1);
    fl_list_remove(f); /* harmless twice */
    assert_int_equal(fl_list_count(&head), 1);
}

static void test_hmap(void **state)
{
    (void)state;
    fl_hmap m;
    fl_hmap_init(&m);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(fl_hmap_put(&m, key, (void *)(intptr_t)(i + 1)), 0);
    }
    assert_int_equal(fl_hmap_len(&m), 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal((intptr_t)fl_hmap_del(&m, key), i + 1);
    }
    assert_int_equal(fl_hmap_len(&m), 500);
    assert_null(fl_hmap_get(&m, "k0"));
    assert_int_equal((intptr_t)fl_hmap_get(&m, "k1"), 2);
    assert_int_equal(fl_hmap_put(&m, "k1", (void *)7), 0);
    assert_int_equal((intptr_t)fl_hmap_get(&m, "k1"), 7);
    size_t n = 0;
    const char *k;
    void *v;
    for (size_t it = 0; fl_hmap_next(&m, &it, &k, &v);)
        n++;
    assert_int_equal(n, 500);
    /* churn: tombstones must not fill the table */
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        assert_int_equal(fl_hmap_put(&m, key, &m), 0);
        assert_ptr_equal(fl_hmap_del(&m, key), &m);
    }
    assert_true(m.cap < 8192);
    fl_hmap_deinit(&m);
}

static void test_bytes(void **state)
{
    (void)state;
    fl_bytes b;
    fl_bytes_init(&b);
    assert_int_equal(fl_bytes_append_str(&b, "hello "), 0);
    assert_int_equal(fl_bytes_printf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "hello 42-x", 10);
    fl_bytes_consume(&b, 6);
    assert_memory_equal(b.data, "42-x", 4);
    fl_bytes_consume(&b, 100);
    assert_int_equal(b.len, 0);
    fl_bytes_deinit(&b);
}

static void test_rand_seeded_and_uuid(void **state)
{
    (void)state;
    fl_rand a, b;
    fl_rand_seeded_init(&a, 7);
    fl_rand_seeded_init(&b, 7);
    assert_int_equal(fl_rand_u32(&a), fl_rand_u32(&b));
    char u1[37], u2[37];
    fl_rand_uuid(fl_rand_system(), u1);
    fl_rand_uuid(fl_rand_system(), u2);
    assert_int_equal(strlen(u1), 36);
    assert_string_not_equal(u1, u2);
    assert_int_equal(u1[14], '4');
    assert_true(strchr("89ab", u1[19]) != NULL);
}

static int captured_level;
static char captured[128];

static void capture(void *ctx, int level, const char *tag, const char *line)
{
    (void)ctx;
    captured_level = level;
    snprintf(captured, sizeof(captured), "%s|%s", tag, line);
}

FL_LOG_TAG("ice");

static void test_log_rate(void **state)
{
    (void)state;
    fl_log_rate r = { .every_ms = 100 };
    unsigned long held = 99;
    assert_true(fl_log_rate_allow(&r, 1000, &held));
    assert_int_equal(held, 0);
    assert_false(fl_log_rate_allow(&r, 1050, &held));
    assert_false(fl_log_rate_allow(&r, 1099, &held));
    assert_int_equal(fl_log_rate_flush(&r, 1099), 0); /* not yet */
    assert_true(fl_log_rate_allow(&r, 1100, &held));
    assert_int_equal(held, 2);
    assert_false(fl_log_rate_allow(&r, 1150, &held));
    assert_int_equal(fl_log_rate_flush(&r, 1200), 1);
    assert_int_equal(fl_log_rate_flush(&r, 1400), 0); /* said once */
    fl_log_rate dflt = { 0 };
    assert_true(fl_log_rate_allow(&dflt, 5, &held));
    assert_false(fl_log_rate_allow(&dflt, 1004, &held)); /* a second by default */
    assert_true(fl_log_rate_allow(&dflt, 1005, &held));
}

static void test_log_spec(void **state)
{
    (void)state;
    assert_int_equal(fl_log_configure("ice:5,rpc:warn,*:3"), 0);
    assert_int_equal(fl_log_level_of("ice"), 5);
    assert_int_equal(fl_log_level_of("rpc"), 2);
    assert_int_equal(fl_log_level_of("other"), 3);
    assert_int_equal(fl_log_configure("ice"), FL_EINVAL);
    assert_int_equal(fl_log_configure("ice:9"), FL_EINVAL);
    fl_log_set_sink(capture, NULL);
    fl_log(FL_LOG_TRACE, "x=%d", 5);
    assert_string_equal(captured, "ice|x=5");
    assert_int_equal(captured_level, FL_LOG_TRACE);
    assert_int_equal(fl_log_configure("ice:1"), 0);
    captured[0] = '\0';
    fl_log(FL_LOG_INFO, "hidden");
    assert_string_equal(captured, "");
    fl_log_set_sink(NULL, NULL);
    fl_log_configure("*:3,ice:3");
}

static void test_time(void **state)
{
    (void)state;
    fl_time a = fl_time_now();
    fl_time b = fl_time_now();
    assert_true(b >= a);
    assert_true(fl_time_wall_ms() > 1600000000000LL);
}

static void test_addr(void **state)
{
    (void)state;
    fl_addr a, b;
    char s[FL_ADDR_STRLEN];
    assert_int_equal(fl_addr_parse(&a, "192.0.2.7", 5000), 0);
    assert_string_equal(fl_addr_str(&a, s), "192.0.2.7:5000");
    assert_int_equal(fl_addr_parse(&b, "2001:db8::1", 443), 0);
    assert_string_equal(fl_addr_str(&b, s), "[2001:db8::1]:443");
    assert_false(fl_addr_equal(&a, &b));
    assert_int_equal(fl_addr_parse(&b, "nope", 1), FL_EINVAL);
    struct sockaddr_storage ss;
    size_t n = fl_addr_to_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss));
    assert_true(n > 0);
    assert_int_equal(fl_addr_from_sockaddr(&b, (struct sockaddr *)&ss), 0);
    assert_true(fl_addr_equal(&a, &b));
    b.port = 1;
    assert_false(fl_addr_equal(&a, &b));
    assert_true(fl_addr_ip_equal(&a, &b));
    assert_int_equal(fl_addr_parse(&a, "127.0.0.1", 0), 0);
    assert_true(fl_addr_is_loopback(&a));
    assert_int_equal(fl_addr_parse(&a, "::1", 0), 0);
    assert_true(fl_addr_is_loopback(&a));
    assert_int_equal(fl_addr_parse(&a, "fe80::2", 0), 0);
    assert_true(fl_addr_is_link_local(&a));
    assert_int_equal(fl_addr_to_sockaddr(&a, (struct sockaddr *)&ss, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_buf_pool_reuses),
        cmocka_unit_test(test_buf_head_and_len),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_hmap),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_rand_seeded_and_uuid),
        cmocka_unit_test(test_log_spec),
        cmocka_unit_test(test_log_rate),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_addr),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
