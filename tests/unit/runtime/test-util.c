/* test-util.c - util.c: the id map (growth, deletion keeping probe chains)
 * and the byte buffer. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

START_TEST(idmap_basic)
{
    struct idmap m;
    idmap_init(&m);
    ck_assert_ptr_null(idmap_get(&m, 5));
    ck_assert_int_eq(idmap_put(&m, 0, &m), -1);
    int a, b;
    ck_assert_int_eq(idmap_put(&m, 5, &a), 0);
    ck_assert_int_eq(idmap_put(&m, 7, &b), 0);
    ck_assert_ptr_eq(idmap_get(&m, 5), &a);
    ck_assert_int_eq(idmap_put(&m, 5, &b), 0);
    ck_assert_ptr_eq(idmap_get(&m, 5), &b);
    ck_assert_uint_eq(m.count, 2);
    ck_assert_ptr_eq(idmap_del(&m, 5), &b);
    ck_assert_ptr_null(idmap_del(&m, 5));
    ck_assert_ptr_null(idmap_get(&m, 5));
    ck_assert_uint_eq(m.count, 1);
    idmap_fini(&m);
}
END_TEST

START_TEST(idmap_many)
{
    struct idmap m;
    idmap_init(&m);
    enum { N = 20000 };
    for (uint64_t k = 1; k <= N; k++)
        ck_assert_int_eq(idmap_put(&m, k * 64, (void *)(uintptr_t)k), 0);
    ck_assert_uint_eq(m.count, N);
    /* Delete every third key; the rest stay findable. */
    for (uint64_t k = 1; k <= N; k += 3)
        ck_assert_ptr_eq(idmap_del(&m, k * 64), (void *)(uintptr_t)k);
    for (uint64_t k = 1; k <= N; k++) {
        void *v = idmap_get(&m, k * 64);
        if ((k - 1) % 3 == 0)
            ck_assert_ptr_null(v);
        else
            ck_assert_ptr_eq(v, (void *)(uintptr_t)k);
    }
    size_t i = 0, seen = 0;
    uint64_t key;
    void *val;
    while (idmap_next(&m, &i, &key, &val)) {
        ck_assert_uint_eq(key, (uint64_t)(uintptr_t)val * 64);
        seen++;
    }
    ck_assert_uint_eq(seen, m.count);
    idmap_fini(&m);
}
END_TEST

START_TEST(buf_ops)
{
    struct buf b;
    buf_init(&b);
    char big[10000];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buf_append(&b, big, sizeof big), 0);
    ck_assert_uint_eq(buf_unread(&b), 3 + sizeof big);
    buf_consume(&b, 2);
    ck_assert_uint_eq(buf_unread(&b), 1 + sizeof big);
    ck_assert_int_eq(b.data[b.off], 'c');
    buf_consume(&b, buf_unread(&b));
    ck_assert_uint_eq(buf_unread(&b), 0);
    ck_assert_int_eq(buf_append(&b, "z", 1), 0);
    ck_assert_int_eq(b.data[b.off], 'z');
    buf_fini(&b);
}
END_TEST

START_TEST(list_ops)
{
    struct list h, a, b, c;
    list_init(&h);
    list_init(&a);
    ck_assert(list_empty(&h));
    ck_assert(!list_linked(&a));
    list_push_back(&h, &a);
    list_push_back(&h, &b);
    list_push_front(&h, &c);
    ck_assert_ptr_eq(h.next, &c);
    ck_assert_ptr_eq(h.prev, &b);
    list_del(&c);
    ck_assert(!list_linked(&c));
    ck_assert_ptr_eq(h.next, &a);
    int n = 0;
    list_for_each (l, &h)
        n++;
    ck_assert_int_eq(n, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, idmap_basic);
    tcase_add_test(tc, idmap_many);
    tcase_add_test(tc, buf_ops);
    tcase_add_test(tc, list_ops);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
