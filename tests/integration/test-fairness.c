/* test-fairness.c - clients sharing a pool are served fairly: a big map
 * does not starve a small one submitted after it. The assertions are about
 * order (what is done when), never about timings. */
#include <stdio.h>

#include "harness.h"

static it_daemon D;

static void setup(void)
{
    it_daemon_start(&D, NULL);
}

static void teardown(void)
{
    it_daemon_stop(&D);
}

static pp_pool *named_pool(pp_client *c, const char *name, unsigned size)
{
    pp_pool *p = NULL;
    pp_pool_opts o = { .size = size };
    it_assert_status(pp_pool_open_named(c, name, &o, &p), PP_OK);
    return p;
}

/* A list of n copies of v. */
static pp_value *repeat(int64_t v, size_t n)
{
    pp_value *l = pp_value_list();
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(pp_value_append(l, pp_value_int(v)), PP_OK);
    return l;
}

/* One worker, two clients. A submits 300 tasks of 3 ms; B then maps 10
 * tasks. With round-robin dispatch B's tasks alternate with A's, so B is
 * done while most of A's work is still queued; first-come-first-served
 * would make B wait for all of A. */
START_TEST(small_map_not_starved_by_big_one)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    pp_pool *pa = named_pool(a, "fair", 1), *pb = named_pool(b, "fair", 1);
    pp_func *sleep_ms = it_func("pt_sleep_ms");

    pp_value *big = repeat(3, 300), *small = repeat(3, 10);
    pp_map_opts one = { .chunksize = 1 };
    pp_future *fa = NULL;
    it_assert_status(pp_pool_map_async(pa, sleep_ms, big, &one, NULL, NULL, &fa), PP_OK);

    pp_value *res = NULL;
    it_assert_status(pp_pool_map(pb, sleep_ms, small, &one, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 10);

    /* B is done; A must still be far from done. */
    ck_assert_msg(!pp_future_ready(fa), "the big map finished before the small one");
    it_raw st;
    it_status_open(&st, D.url);
    Polypool__V1__Reply *rep = it_status(&st);
    const Polypool__V1__PoolStatus *ps = it_status_pool(rep->status_reply, "fair");
    ck_assert_ptr_nonnull(ps);
    ck_assert_msg(ps->tasks_queued >= 150, "only %llu of A's tasks still queued",
                  (unsigned long long)ps->tasks_queued);
    it_status_free(rep);
    it_raw_close(&st);

    pp_value *ares = NULL;
    it_assert_status(pp_future_get(fa, 60000, &ares), PP_OK);
    ck_assert_uint_eq(pp_value_len(ares), 300);

    pp_value_free(ares);
    pp_value_free(res);
    pp_value_free(big);
    pp_value_free(small);
    pp_future_free(fa);
    pp_func_free(sleep_ms);
    pp_pool_free(pa);
    pp_pool_free(pb);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("integ-fairness");
    TCase *tc = tcase_create("fairness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_map_not_starved_by_big_one);
    suite_add_tcase(s, tc);
    return it_main(s);
}
