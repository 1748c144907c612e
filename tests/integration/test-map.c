/* test-map.c - map, starmap, imap, apply, futures and task output against a
 * real daemon. */
#include <pthread.h>
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

/* ---- map ---- */

START_TEST(map_small_ordered)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(1, 5), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 1, 5);
    char *repr = pp_value_repr(res);
    ck_assert_str_eq(repr, "[1, 4, 9, 16, 25]");
    free(repr);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* chunksize 0 (multiprocessing's default), 1, 64 and one bigger than the
 * input: the same ordered results. */
static const size_t chunksizes[] = { 0, 1, 64, 5000 };

START_TEST(map_chunksizes)
{
    size_t cs = chunksizes[_i];
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(-500, 1000), *res = NULL;
    pp_map_opts mo = { .chunksize = cs };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    it_assert_squares(res, -500, 1000);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(map_default_chunksize_formula)
{
    /* multiprocessing: chunksize, extra = divmod(n, workers * 4); +1 if extra */
    ck_assert_uint_eq(pp_default_chunksize(100, 2), 13);
    ck_assert_uint_eq(pp_default_chunksize(80, 2), 10);
    ck_assert_uint_eq(pp_default_chunksize(5, 4), 1);
    ck_assert_uint_eq(pp_default_chunksize(1000, 1), 250);
}
END_TEST

START_TEST(map_empty)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = pp_value_list(), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(pp_value_kind(res), PP_LIST);
    ck_assert_uint_eq(pp_value_len(res), 0);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(starmap_add)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_add");
    pp_value *items = pp_value_list(), *res = NULL;
    for (int64_t i = 0; i < 200; i++)
        pp_value_append(items, it_args(2, i, 1000 * i));
    pp_map_opts mo = { .star = true, .chunksize = 7 };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 200);
    for (int64_t i = 0; i < 200; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, (size_t)i)), 1001 * i);
    pp_value_free(res);
    pp_value_free(items);

    /* The seed's two-pair case, with the default chunksize. */
    items = pp_value_list();
    pp_value_append(items, it_args(2, 1, 2));
    pp_value_append(items, it_args(2, 3, 4));
    mo.chunksize = 0;
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    char *repr = pp_value_repr(res);
    ck_assert_str_eq(repr, "[3, 7]");
    free(repr);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* Values of every kind survive a round trip through a worker (pt_echo). */
START_TEST(echo_value_kinds)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_echo");
    pp_value *v = pp_value_map();
    pp_value_map_set_str(v, "null", pp_value_null());
    pp_value_map_set_str(v, "t", pp_value_bool(true));
    pp_value_map_set_str(v, "i", pp_value_int(-9007199254740993LL));
    pp_value_map_set_str(v, "d", pp_value_double(2.5));
    pp_value_map_set_str(v, "s", pp_value_string("héllo"));
    pp_value_map_set_str(v, "b", pp_value_bytes("\0\1\2", 3));
    pp_value *l = it_ints(1, 3);
    pp_value *inner = pp_value_tuple();
    pp_value_append(inner, pp_value_string("x"));
    pp_value_append(l, inner);
    pp_value_map_set_str(v, "l", l);
    pp_value *args = pp_value_list();
    pp_value_append(args, pp_value_copy(v));
    pp_value *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_OK);
    ck_assert_msg(pp_value_equal(res, v), "echo changed the value: %s", pp_value_repr(res));
    pp_value_free(res);
    pp_value_free(args);
    pp_value_free(v);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(map_big_results)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_big");
    int64_t sizes[] = { 0, 1, 1000, 1 << 20, 3 << 20 };
    size_t n = sizeof sizes / sizeof *sizes;
    pp_value *items = pp_value_list_of_ints(sizes, n), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), n);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *b = pp_value_get_bytes(pp_value_at(res, i), &len);
        ck_assert_uint_eq(len, (size_t)sizes[i]);
        for (size_t k = 0; k < len; k++)
            ck_assert_msg(b[k] == 'x', "byte %zu of item %zu", k, i);
    }
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- imap ---- */

START_TEST(imap_ordered)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 300);
    pp_map_opts mo = { .window = 16 };
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap(p, f, items, &mo, true, &it), PP_OK);
    for (int64_t i = 0; i < 300; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
        ck_assert_int_eq(pp_value_get_int(v), i * i);
        ck_assert_uint_eq(pp_iter_index(it), (uint64_t)i);
        pp_value_free(v);
    }
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
    pp_iter_free(it);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(imap_unordered_exactly_once)
{
    enum { N = 500 };
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, N);
    pp_map_opts mo = { .chunksize = 3 };
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap(p, f, items, &mo, false, &it), PP_OK);
    static int seen[N];
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < N; k++) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
        uint64_t idx = pp_iter_index(it);
        ck_assert_uint_lt(idx, N);
        ck_assert_int_eq(pp_value_get_int(v), (int64_t)(idx * idx));
        seen[idx]++;
        pp_value_free(v);
    }
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
    for (int i = 0; i < N; i++)
        ck_assert_msg(seen[i] == 1, "item %d seen %d times", i, seen[i]);
    pp_iter_free(it);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* imap_source: the source is pulled lazily, never more than `window` items
 * ahead of the consumer. */
struct src {
    int64_t next, n;
    int64_t consumed;
    size_t window;
    int64_t max_ahead;
    int violations;
};

static pp_status src_next(void *arg, pp_value **item)
{
    struct src *s = arg;
    if (s->next >= s->n)
        return PP_EEOF;
    /* Inside pp_iter_next the result being handed out already counts as
     * consumed, while the test counts it only once next returns: allow
     * one more. */
    int64_t ahead = s->next + 1 - s->consumed - 1;
    if (ahead > s->max_ahead)
        s->max_ahead = ahead;
    if (ahead > (int64_t)s->window)
        s->violations++;
    *item = pp_value_int(s->next++);
    return PP_OK;
}

START_TEST(imap_source_window)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    struct src s = { .n = 200, .window = 8 };
    pp_map_opts mo = { .window = 8 };
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap_source(p, f, src_next, &s, &mo, true, &it), PP_OK);
    for (int64_t i = 0; i < 200; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
        s.consumed++;
        ck_assert_int_eq(pp_value_get_int(v), i * i);
        ck_assert_uint_eq(pp_iter_index(it), (uint64_t)i);
        pp_value_free(v);
    }
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
    ck_assert_int_eq(s.next, 200);
    ck_assert_msg(s.violations == 0, "source ran %lld items ahead with window 8",
                  (long long)s.max_ahead);
    pp_iter_free(it);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* A source that fails ends the input; the failure is reported by
 * pp_iter_next after the items before it. */
static pp_status src_fail_after_3(void *arg, pp_value **item)
{
    int64_t *k = arg;
    if (*k >= 3)
        return PP_EINVAL;
    *item = pp_value_int((*k)++);
    return PP_OK;
}

START_TEST(imap_source_error)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    int64_t k = 0;
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap_source(p, f, src_fail_after_3, &k, NULL, true, &it), PP_OK);
    for (int64_t i = 0; i < 3; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
        ck_assert_int_eq(pp_value_get_int(v), i * i);
        pp_value_free(v);
    }
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EINVAL);
    pp_iter_free(it);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* Freeing an iterator before the end cancels the rest; the pool goes on. */
START_TEST(imap_free_early)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 2000);
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap(p, f, items, NULL, true, &it), PP_OK);
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 0);
    pp_value_free(v);
    pp_iter_free(it);
    pp_value *res = NULL, *small = it_ints(0, 10);
    it_assert_status(pp_pool_map(p, f, small, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 10);
    pp_value_free(res);
    pp_value_free(small);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- apply and futures ---- */

START_TEST(apply_add)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_add");
    pp_value *args = it_args(2, 2, 5), *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_OK);
    ck_assert_int_eq(pp_value_kind(res), PP_INT);
    ck_assert_int_eq(pp_value_get_int(res), 7);
    pp_value_free(res);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

struct cb_rec {
    int calls;
    int value_ok;
    int ready_in_cb;
};

static void on_ready(pp_future *f, void *arg)
{
    struct cb_rec *r = arg;
    pp_value *v = NULL;
    __atomic_store_n(&r->ready_in_cb, pp_future_ready(f), __ATOMIC_SEQ_CST);
    if (pp_future_get(f, 0, &v) == PP_OK && pp_value_get_int(v) == 1500)
        __atomic_store_n(&r->value_ok, 1, __ATOMIC_SEQ_CST);
    pp_value_free(v);
    __atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST);
}

static bool cb_called(void *arg)
{
    return __atomic_load_n(&((struct cb_rec *)arg)->calls, __ATOMIC_SEQ_CST) >= 1;
}

START_TEST(apply_async_future)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    struct cb_rec rec = { 0 };
    pp_value *args = it_args(1, 1500);
    pp_future *fut = NULL;
    int64_t t0 = it_now_ms();
    it_assert_status(pp_pool_apply_async(p, f, args, on_ready, &rec, &fut), PP_OK);
    /* The task sleeps 1.5 s: right after submitting it cannot be done. */
    if (it_now_ms() - t0 < 1000) {
        ck_assert(!pp_future_ready(fut));
        bool ok = true;
        it_assert_status(pp_future_successful(fut, &ok), PP_EAGAIN);
        ck_assert_ptr_null(pp_future_error(fut));
    }
    it_assert_status(pp_future_wait(fut, 20000), PP_OK);
    ck_assert(pp_future_ready(fut));
    ck_assert_int_ge(it_now_ms() - t0, 1400);
    bool ok = false;
    it_assert_status(pp_future_successful(fut, &ok), PP_OK);
    ck_assert(ok);
    ck_assert_ptr_null(pp_future_error(fut));
    pp_value *v = NULL;
    it_assert_status(pp_future_get(fut, 0, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 1500);
    pp_value_free(v);
    /* get again: the same result, a fresh copy. */
    it_assert_status(pp_future_get(fut, -1, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 1500);
    pp_value_free(v);
    it_assert_status(pp_future_get(fut, 0, NULL), PP_OK);

    ck_assert_msg(it_wait_until(cb_called, &rec, IT_DEADLINE_MS), "callback never ran");
    /* Another round trip, then the callback must still have run once. */
    pp_value *res = NULL, *a2 = it_args(1, 1);
    it_assert_status(pp_pool_apply(p, f, a2, -1, &res), PP_OK);
    pp_value_free(res);
    pp_value_free(a2);
    pp_future_free(fut);
    ck_assert_int_eq(__atomic_load_n(&rec.calls, __ATOMIC_SEQ_CST), 1);
    ck_assert_int_eq(rec.value_ok, 1);
    ck_assert_int_eq(rec.ready_in_cb, 1);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* Many futures at once, each with its own callback argument. */
START_TEST(apply_async_many)
{
    enum { N = 200 };
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    static pp_future *futs[N];
    static int calls[N];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < N; i++) {
        pp_value *args = it_args(1, (int64_t)i);
        it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &futs[i]), PP_OK);
        pp_value_free(args);
    }
    for (int i = N - 1; i >= 0; i--) {
        pp_value *v = NULL;
        it_assert_status(pp_future_get(futs[i], 20000, &v), PP_OK);
        ck_assert_int_eq(pp_value_get_int(v), (int64_t)i * i);
        pp_value_free(v);
        pp_future_free(futs[i]);
    }
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* 20,000 apply_async go out in SubmitBatches while earlier ones run; every
 * future resolves to its own result. */
START_TEST(apply_async_20000)
{
    enum { N = 20000 };
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    static pp_future *futs[N];
    for (int i = 0; i < N; i++) {
        pp_value *args = it_args(1, (int64_t)i);
        it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &futs[i]), PP_OK);
        pp_value_free(args);
    }
    for (int i = 0; i < N; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_future_get(futs[i], 30000, &v), PP_OK);
        ck_assert_int_eq(pp_value_get_int(v), (int64_t)i * i);
        pp_value_free(v);
        pp_future_free(futs[i]);
    }
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* A future whose job may still sit in the client's outbox: get flushes
 * it (no deadlock), free drops it, and a blocking call made after an
 * apply_async is handled after it (close then join sees the task). */
START_TEST(apply_async_outbox)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *args = it_args(1, 7), *v = NULL;
    pp_future *fut = NULL, *dropped[50];
    it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &fut), PP_OK);
    it_assert_status(pp_future_get(fut, IT_DEADLINE_MS, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 49);
    pp_value_free(v);
    pp_future_free(fut);

    /* Freed at once, queued or in flight: nothing hangs or leaks. */
    for (int i = 0; i < 50; i++)
        it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &dropped[i]), PP_OK);
    for (int i = 0; i < 50; i++)
        pp_future_free(dropped[i]);

    it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &fut), PP_OK);
    it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    ck_assert(pp_future_ready(fut));
    it_assert_status(pp_future_get(fut, 0, &v), PP_OK);
    ck_assert_int_eq(pp_value_get_int(v), 49);
    pp_value_free(v);
    pp_future_free(fut);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static void count_cb(pp_future *f, void *arg)
{
    (void)f;
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

static bool int_ge1(void *arg)
{
    return __atomic_load_n((int *)arg, __ATOMIC_SEQ_CST) >= 1;
}

START_TEST(map_async_future)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 100);
    pp_future *fut = NULL;
    int calls = 0;
    pp_map_opts mo = { .chunksize = 10 };
    it_assert_status(pp_pool_map_async(p, f, items, &mo, count_cb, &calls, &fut), PP_OK);
    pp_value *res = NULL;
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    it_assert_squares(res, 0, 100);
    pp_value_free(res);
    bool ok = false;
    it_assert_status(pp_future_successful(fut, &ok), PP_OK);
    ck_assert(ok);
    ck_assert(it_wait_until(int_ge1, &calls, IT_DEADLINE_MS));
    pp_future_free(fut);
    ck_assert_int_eq(__atomic_load_n(&calls, __ATOMIC_SEQ_CST), 1);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- task output ---- */

struct outlog {
    pthread_mutex_t mu;
    char out[8192], err[8192];
    size_t nout, nerr;
    int calls;
};

static struct outlog LOG = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void record_output(void *arg, int fd, const void *data, size_t len)
{
    struct outlog *l = arg;
    pthread_mutex_lock(&l->mu);
    char *buf = fd == 1 ? l->out : l->err;
    size_t *n = fd == 1 ? &l->nout : &l->nerr;
    if (fd == 1 || fd == 2) {
        size_t k = len < sizeof l->out - 1 - *n ? len : sizeof l->out - 1 - *n;
        memcpy(buf + *n, data, k);
        *n += k;
        buf[*n] = 0;
    }
    l->calls++;
    pthread_mutex_unlock(&l->mu);
}

/* A copy of what was written to fd so far. */
static void log_snapshot(struct outlog *l, char *out, char *err)
{
    pthread_mutex_lock(&l->mu);
    memcpy(out, l->out, l->nout + 1);
    memcpy(err, l->err, l->nerr + 1);
    pthread_mutex_unlock(&l->mu);
}

static pp_value *strings(const char *const *s, size_t n)
{
    pp_value *l = pp_value_list();
    for (size_t i = 0; i < n; i++)
        pp_value_append(l, pp_value_string(s[i]));
    return l;
}

START_TEST(output_before_map_returns)
{
    static const char *const words[] = { "alpha", "beta", "gamma", "delta", "eps" };
    pp_client *c = it_client_named(D.url, "it-output", record_output, &LOG);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_print");
    pp_value *items = strings(words, 5), *res = NULL;
    pp_map_opts mo = { .chunksize = 1 };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    /* Everything printed is in by the time map has returned. */
    static char out[8192], err[8192];
    log_snapshot(&LOG, out, err);
    for (int i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "out:%s\n", words[i]);
        ck_assert_msg(strstr(out, want), "stdout lacks %s: [%s]", want, out);
        snprintf(want, sizeof want, "err:%s\n", words[i]);
        ck_assert_msg(strstr(err, want), "stderr lacks %s: [%s]", want, err);
        ck_assert_str_eq(pp_value_get_string(pp_value_at(res, (size_t)i), NULL), words[i]);
    }
    /* Nothing else, and nothing twice. */
    ck_assert_uint_eq(strlen(out), strlen("out:alpha\nout:beta\nout:gamma\nout:delta\nout:eps\n"));
    ck_assert_uint_eq(strlen(err), strlen(out));
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(output_before_each_imap_result)
{
    enum { N = 40 };
    pp_client *c = it_client_named(D.url, "it-output", record_output, &LOG);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_print");
    pp_value *items = pp_value_list();
    for (int i = 0; i < N; i++) {
        char w[32];
        snprintf(w, sizeof w, "w%03d", i);
        pp_value_append(items, pp_value_string(w));
    }
    pp_iter *it = NULL;
    it_assert_status(pp_pool_imap(p, f, items, NULL, false, &it), PP_OK);
    static char out[8192], err[8192];
    for (int k = 0; k < N; k++) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, 10000, &v), PP_OK);
        const char *w = pp_value_get_string(v, NULL);
        ck_assert_ptr_nonnull(w);
        /* This item's output was delivered before its result. */
        log_snapshot(&LOG, out, err);
        char want[64];
        snprintf(want, sizeof want, "out:%s\n", w);
        ck_assert_msg(strstr(out, want), "result %s handed out before its stdout", w);
        snprintf(want, sizeof want, "err:%s\n", w);
        ck_assert_msg(strstr(err, want), "result %s handed out before its stderr", w);
        pp_value_free(v);
    }
    pp_value *v = NULL;
    it_assert_status(pp_iter_next(it, 10000, &v), PP_EEOF);
    pp_iter_free(it);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST


/* A large map (over two slices: 16384 items, then 32768) goes out in several Submits and its results are collected
 * as they arrive: the results are the same, in order; one failing item
 * gives its own status and index. */
START_TEST(map_pipelined)
{
    enum { N = 50000, BAD = 25017 };
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, N), *res = NULL;
    pp_map_opts mo = { .chunksize = 1000 };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    it_assert_squares(res, 0, N);
    pp_value_free(res);
    res = NULL;
    /* The default chunksize too (6250: a slice is one chunk or more). */
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, N);
    pp_value_free(res);
    res = NULL;

    pp_value_set_string(pp_value_at_mut(items, BAD), "bad");
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_ETASK);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(pp_last_error()->status, PP_ETASK);
    ck_assert_uint_eq(pp_last_error()->index, BAD);
    ck_assert_msg(strstr(pp_last_error()->message, "pt_square"), "message: %s",
                  pp_last_error()->message);

    /* The pool is fine afterwards: every other item squares. */
    pp_value_set_int(pp_value_at_mut(items, BAD), BAD);
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    it_assert_squares(res, 0, N);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

struct outcount {
    pthread_mutex_t mu;
    size_t nout, nerr;
};

static void count_output(void *arg, int fd, const void *data, size_t len)
{
    struct outcount *oc = arg;
    (void)data;
    pthread_mutex_lock(&oc->mu);
    if (fd == 1)
        oc->nout += len;
    else if (fd == 2)
        oc->nerr += len;
    pthread_mutex_unlock(&oc->mu);
}

/* A pipelined map's output is all written by the time it returns, once. */
START_TEST(output_before_pipelined_map_returns)
{
    enum { N = 50000 };   /* over two slices: pipelined */
    static struct outcount OC = { .mu = PTHREAD_MUTEX_INITIALIZER };
    pp_client *c = it_client_named(D.url, "it-output", count_output, &OC);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_print");
    pp_value *items = pp_value_list(), *res = NULL;
    for (int i = 0; i < N; i++) {
        char w[32];
        snprintf(w, sizeof w, "w%05d", i);
        pp_value_append(items, pp_value_string(w));
    }
    pp_map_opts mo = { .chunksize = 500 };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    pthread_mutex_lock(&OC.mu);
    size_t nout = OC.nout, nerr = OC.nerr;
    pthread_mutex_unlock(&OC.mu);
    ck_assert_uint_eq(nout, (size_t)N * strlen("out:w00000\n"));
    ck_assert_uint_eq(nerr, (size_t)N * strlen("err:w00000\n"));
    ck_assert_uint_eq(pp_value_len(res), N);
    for (int i = 0; i < N; i++) {
        char w[32];
        snprintf(w, sizeof w, "w%05d", i);
        ck_assert_str_eq(pp_value_get_string(pp_value_at(res, (size_t)i), NULL), w);
    }
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-map");
    TCase *tc = tcase_create("map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, map_small_ordered);
    tcase_add_loop_test(tc, map_chunksizes, 0, (int)(sizeof chunksizes / sizeof *chunksizes));
    tcase_add_test(tc, map_default_chunksize_formula);
    tcase_add_test(tc, map_empty);
    tcase_add_test(tc, starmap_add);
    tcase_add_test(tc, echo_value_kinds);
    tcase_add_test(tc, map_big_results);
    tcase_add_test(tc, map_pipelined);
    suite_add_tcase(s, tc);

    tc = tcase_create("imap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, imap_ordered);
    tcase_add_test(tc, imap_unordered_exactly_once);
    tcase_add_test(tc, imap_source_window);
    tcase_add_test(tc, imap_source_error);
    tcase_add_test(tc, imap_free_early);
    suite_add_tcase(s, tc);

    tc = tcase_create("apply");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, apply_add);
    tcase_add_test(tc, apply_async_future);
    tcase_add_test(tc, apply_async_many);
    tcase_add_test(tc, apply_async_20000);
    tcase_add_test(tc, apply_async_outbox);
    tcase_add_test(tc, map_async_future);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, output_before_map_returns);
    tcase_add_test(tc, output_before_each_imap_result);
    tcase_add_test(tc, output_before_pipelined_map_returns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
