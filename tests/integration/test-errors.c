/* test-errors.c - every way a task can fail, as the client sees it, and
 * that the pool goes on afterwards: missing library or symbol, a failing
 * task, worker deaths (signals, exit codes), deadlines. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The pool still maps correctly. */
static void assert_pool_works(pp_pool *p)
{
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 40), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 40);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
}

START_TEST(missing_library)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = NULL;
    it_assert_status(pp_func_c("/nonexistent/libpp-it-nope.so", "pt_square", &f), PP_OK);
    pp_value *items = it_ints(0, 10), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_ENOLIB);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(pp_last_error()->status, PP_ENOLIB);
    pp_value *args = it_args(1, 2);
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_ENOLIB);
    assert_pool_works(p);
    pp_value_free(args);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(missing_symbol)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_no_such_symbol");
    pp_value *items = it_ints(0, 10), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_ENOSYM);
    ck_assert_int_eq(pp_last_error()->status, PP_ENOSYM);
    ck_assert_msg(strstr(pp_last_error()->message, "pt_no_such_symbol") ||
                  strstr(pp_last_error()->where, "pt_no_such_symbol"),
                  "the error does not name the symbol: %s / %s",
                  pp_last_error()->message, pp_last_error()->where);
    assert_pool_works(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* libppbad.so loads but keeps its pt_square hidden: dlsym must not see it. */
START_TEST(hidden_symbol)
{
    const char *bad = getenv("PPBAD_LIB");
    if (!bad) {
        fprintf(stderr, "hidden_symbol: skipped (no PPBAD_LIB)\n");
        return;
    }
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = NULL;
    it_assert_status(pp_func_c(bad, "pt_square", &f), PP_OK);
    pp_value *args = it_args(1, 4), *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_ENOSYM);
    pp_func_free(f);
    it_assert_status(pp_func_c(bad, "ppbad_marker", &f), PP_OK);
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 42);
    pp_value_free(res);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(bad_func_arguments)
{
    pp_func *f = NULL;
    it_assert_status(pp_func_c(NULL, "x", &f), PP_EINVAL);
    it_assert_status(pp_func_c("", "x", &f), PP_EINVAL);
    it_assert_status(pp_func_c("/lib/x.so", "", &f), PP_EINVAL);
    it_assert_status(pp_func_c("/lib/x.so", NULL, &f), PP_EINVAL);
}
END_TEST

static pp_value *one_string(const char *s)
{
    pp_value *l = pp_value_list();
    pp_value_append(l, pp_value_string(s));
    return l;
}

START_TEST(task_fails)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_fail");
    pp_value *args = one_string("boom"), *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_ETASK);
    const pp_error *e = pp_last_error();
    ck_assert_int_eq(pp_last_error()->status, PP_ETASK);
    ck_assert_msg(strstr(pp_last_error()->message, "pt_fail: boom"), "message: %s",
                  pp_last_error()->message);

    /* map: the status of a failed item, with its own message and index.
     * Which one is reported when several fail is not fixed (like
     * multiprocessing, the first to fail, which need not be item 0). */
    pp_value *items = pp_value_list();
    pp_value_append(items, pp_value_string("boom"));
    pp_value_append(items, pp_value_string("bang"));
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_ETASK);
    e = pp_last_error();
    ck_assert_msg((e->index == 0 && strstr(e->message, "pt_fail: boom")) ||
                  (e->index == 1 && strstr(e->message, "pt_fail: bang")),
                  "index %llu with message %s", (unsigned long long)e->index, e->message);
    /* With one failing item among good ones, it is that one: pt_square
     * refuses a string. */
    pp_value_free(items);
    items = it_ints(0, 30);
    pp_value_set_string(pp_value_at_mut(items, 17), "seventeen");
    pp_func *sq = it_func("pt_square");
    pp_map_opts mo = { .chunksize = 4 };
    it_assert_status(pp_pool_map(p, sq, items, &mo, &res), PP_ETASK);
    ck_assert_ptr_null(res);
    ck_assert_uint_eq(pp_last_error()->index, 17);
    ck_assert_msg(strstr(pp_last_error()->message, "pt_square"), "message: %s",
                  pp_last_error()->message);
    pp_func_free(sq);

    /* apply_async: the failure is in the future. */
    pp_future *fut = NULL;
    it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &fut), PP_OK);
    it_assert_status(pp_future_get(fut, 20000, &res), PP_ETASK);
    bool ok = true;
    it_assert_status(pp_future_successful(fut, &ok), PP_OK);
    ck_assert(!ok);
    e = pp_future_error(fut);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->status, PP_ETASK);
    ck_assert_msg(strstr(e->message, "pt_fail: boom"), "future message: %s", e->message);
    pp_future_free(fut);

    assert_pool_works(p);
    pp_value_free(items);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* One failing item among good ones: map reports it, the iterator gives
 * every other result. pt_crash_if(x, k) crashes for x == k, else x*x. */
START_TEST(segv_mid_map_recovers)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_crash_if");
    pp_value *items = it_pairs(0, 100, 50), *res = NULL;
    pp_map_opts mo = { .star = true };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_EWORKER);
    ck_assert_ptr_null(res);
    const pp_error *e = pp_last_error();
    ck_assert_int_eq(e->status, PP_EWORKER);
    ck_assert_int_eq(e->signal, SIGSEGV);
    ck_assert_int_eq(e->exit_code, 0);
    /* The item's chunk fails as a whole: the first failed index is in the
     * crashing item's chunk (13 items with the default chunksize). */
    ck_assert_uint_le(e->index, 50);
    ck_assert_uint_gt(e->index + pp_default_chunksize(100, 2), 50);
    assert_pool_works(p);

    /* chunksize 1: exactly item 50 fails. */
    mo.chunksize = 1;
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_EWORKER);
    ck_assert_uint_eq(pp_last_error()->index, 50);
    ck_assert_int_eq(pp_last_error()->signal, SIGSEGV);
    assert_pool_works(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* A 1-worker pool: the crashed worker is replaced by a new process. */
START_TEST(crashed_worker_is_replaced)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *fpid = it_func("pt_pid"), *fsegv = it_func("pt_segv");
    pp_value *res = NULL;
    it_assert_status(pp_pool_apply(p, fpid, NULL, -1, &res), PP_OK);
    pid_t before = (pid_t)pp_value_get_int(res);
    pp_value_free(res);
    ck_assert_int_gt(before, 0);
    it_assert_status(pp_pool_apply(p, fsegv, NULL, -1, &res), PP_EWORKER);
    ck_assert_int_eq(pp_last_error()->signal, SIGSEGV);
    ck_assert_msg(it_wait_pid_gone(before, IT_DEADLINE_MS), "crashed worker %d still there",
                  (int)before);
    it_assert_status(pp_pool_apply(p, fpid, NULL, -1, &res), PP_OK);
    pid_t after = (pid_t)pp_value_get_int(res);
    pp_value_free(res);
    ck_assert_int_gt(after, 0);
    ck_assert_int_ne(after, before);
    ck_assert(it_pid_alive(after));
    assert_pool_works(p);
    pp_func_free(fpid);
    pp_func_free(fsegv);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(worker_killed_sigkill)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_kill_self");
    pp_value *res = NULL;
    it_assert_status(pp_pool_apply(p, f, NULL, -1, &res), PP_EWORKER);
    ck_assert_int_eq(pp_last_error()->signal, SIGKILL);
    ck_assert_int_eq(pp_last_error()->exit_code, 0);
    assert_pool_works(p);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(worker_exit_code)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_exit");
    pp_value *args = it_args(1, 3), *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_EWORKER);
    ck_assert_int_eq(pp_last_error()->exit_code, 3);
    ck_assert_int_eq(pp_last_error()->signal, 0);
    assert_pool_works(p);
    /* exit(0) in a task is still a dead worker, not a result. */
    pp_value *args0 = it_args(1, 0);
    it_assert_status(pp_pool_apply(p, f, args0, -1, &res), PP_EWORKER);
    ck_assert_int_eq(pp_last_error()->exit_code, 0);
    ck_assert_int_eq(pp_last_error()->signal, 0);
    assert_pool_works(p);
    pp_value_free(args0);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(worker_abort)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_abort");
    pp_value *res = NULL;
    it_assert_status(pp_pool_apply(p, f, NULL, -1, &res), PP_EWORKER);
    ck_assert_int_eq(pp_last_error()->signal, SIGABRT);
    assert_pool_works(p);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(imap_only_crashing_item_fails)
{
    enum { N = 20, K = 7 };
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_crash_if");
    pp_value *items = it_pairs(0, N, K);
    pp_map_opts mo = { .star = true, .chunksize = 1 };
    for (int ordered = 1; ordered >= 0; ordered--) {
        pp_iter *it = NULL;
        it_assert_status(pp_pool_imap(p, f, items, &mo, ordered, &it), PP_OK);
        int seen[N] = { 0 };
        for (int k = 0; k < N; k++) {
            pp_value *v = NULL;
            pp_status st = pp_iter_next(it, 20000, &v);
            uint64_t idx = pp_iter_index(it);
            ck_assert_uint_lt(idx, N);
            if (ordered)
                ck_assert_uint_eq(idx, (uint64_t)k);
            seen[idx]++;
            if (idx == K) {
                it_assert_status(st, PP_EWORKER);
                ck_assert_int_eq(pp_last_error()->signal, SIGSEGV);
                ck_assert_uint_eq(pp_last_error()->index, K);
            } else {
                it_assert_status(st, PP_OK);
                ck_assert_int_eq(pp_value_get_int(v), (int64_t)(idx * idx));
            }
            pp_value_free(v);
        }
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
        for (int i = 0; i < N; i++)
            ck_assert_msg(seen[i] == 1, "item %d seen %d times (ordered=%d)", i, seen[i],
                          ordered);
        pp_iter_free(it);
    }
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- deadlines ---- */

START_TEST(map_deadline)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(2, 2000, 2000), *res = NULL;
    pp_map_opts mo = { .timeout_ms = 300, .chunksize = 1 };
    int64_t t0 = it_now_ms();
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_ETIMEDOUT);
    int64_t took = it_now_ms() - t0;
    ck_assert_msg(took >= 250 && took < 1500, "map with a 300 ms deadline took %lld ms",
                  (long long)took);
    ck_assert_ptr_null(res);
    assert_pool_works(p);
    /* apply has its own deadline. */
    pp_value *args = it_args(1, 2000);
    t0 = it_now_ms();
    it_assert_status(pp_pool_apply(p, f, args, 300, &res), PP_ETIMEDOUT);
    took = it_now_ms() - t0;
    ck_assert_msg(took < 1500, "apply with a 300 ms deadline took %lld ms", (long long)took);
    assert_pool_works(p);
    pp_value_free(args);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* DESIGN: a running task past its deadline has its worker killed and
 * replaced, so the pool is free again long before the task would end. */
START_TEST(deadline_frees_workers)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(2, 5000, 5000), *res = NULL;
    pp_map_opts mo = { .timeout_ms = 300, .chunksize = 1 };
    int64_t t0 = it_now_ms();
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_ETIMEDOUT);
    assert_pool_works(p);
    int64_t took = it_now_ms() - t0;
    ck_assert_msg(took < 3000, "the pool was busy for %lld ms after a 300 ms deadline",
                  (long long)took);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(future_get_timeout_then_ok)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *args = it_args(1, 1000), *res = NULL;
    pp_future *fut = NULL;
    it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &fut), PP_OK);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_future_get(fut, 50, &res), PP_ETIMEDOUT);
    ck_assert_ptr_null(res);
    int64_t took = it_now_ms() - t0;
    ck_assert_msg(took >= 40 && took < 900, "get(50) took %lld ms", (long long)took);
    it_assert_status(pp_future_wait(fut, 0), PP_ETIMEDOUT);
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 1000);
    pp_value_free(res);
    pp_future_free(fut);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(iter_next_timeout_then_ok)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(1, 1000);
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap(p, f, items, NULL, true, &it), PP_OK);
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 50, &v), PP_ETIMEDOUT);
    ck_assert_ptr_null(v);
    it_assert_status(pp_iter_next(it, 20000, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 1000);
    pp_value_free(v);
    it_assert_status(pp_iter_next(it, 1000, &v), PP_EEOF);
    pp_iter_free(it);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* Cancelling: freeing a pending future cancels its job; the pool is then
 * free for other work. */
START_TEST(free_pending_future_cancels)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(4, 3000, 3000, 3000, 3000);
    pp_map_opts mo = { .chunksize = 1 };
    pp_future *fut = NULL;
    it_assert_status(pp_pool_map_async(p, f, items, &mo, NULL, NULL, &fut), PP_OK);
    pp_future_free(fut);
    /* The queued items are dropped: the pool is free after at most the one
     * running task (3 s), not 12 s. */
    int64_t t0 = it_now_ms();
    assert_pool_works(p);
    ck_assert_msg(it_now_ms() - t0 < 6000, "cancelled items still ran (%lld ms)",
                  (long long)(it_now_ms() - t0));
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-errors");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, missing_library);
    tcase_add_test(tc, missing_symbol);
    tcase_add_test(tc, hidden_symbol);
    tcase_add_test(tc, bad_func_arguments);
    tcase_add_test(tc, task_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("worker-death");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, segv_mid_map_recovers);
    tcase_add_test(tc, crashed_worker_is_replaced);
    tcase_add_test(tc, worker_killed_sigkill);
    tcase_add_test(tc, worker_exit_code);
    tcase_add_test(tc, worker_abort);
    tcase_add_test(tc, imap_only_crashing_item_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("deadline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, map_deadline);
    tcase_add_test(tc, deadline_frees_workers);
    tcase_add_test(tc, future_get_timeout_then_ok);
    tcase_add_test(tc, iter_next_timeout_then_ok);
    tcase_add_test(tc, free_pending_future_cancels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
