/* test-pool.c - pool lifecycles: private pools, close/terminate/join,
 * named and default pools, maxtasksperchild, initializers, sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Private pools have an empty name; find the one that is not "default"
 * by kind. */
static size_t private_worker_pids(it_raw *st, pid_t *pids, size_t max, size_t *npools)
{
    Polypool__V1__Reply *rep = it_status(st);
    const Polypool__V1__StatusReply *s = rep->status_reply;
    size_t n = 0;
    *npools = 0;
    for (size_t i = 0; i < s->n_pools; i++) {
        if (strcmp(s->pools[i]->kind, "private") != 0)
            continue;
        (*npools)++;
        for (size_t k = 0; k < s->pools[i]->n_workers && n < max; k++)
            if (s->pools[i]->workers[k]->pid)
                pids[n++] = (pid_t)s->pools[i]->workers[k]->pid;
    }
    it_status_free(rep);
    return n;
}

START_TEST(private_close_join)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    ck_assert_uint_eq(pp_pool_size(p), 2);
    ck_assert_str_eq(pp_pool_name(p), "");
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 50), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 50);
    pp_value_free(res);

    it_raw st;
    it_status_open(&st, D.url);
    pid_t pids[16];
    size_t npools = 0;
    size_t n = private_worker_pids(&st, pids, 16, &npools);
    ck_assert_uint_eq(npools, 1);
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_le(n, 2);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(it_pid_alive(pids[i]), "worker %d not running", (int)pids[i]);

    it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_close(p), PP_OK);   /* idempotent */
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    /* After join a private pool's workers have exited. */
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(it_wait_pid_gone(pids[i], IT_DEADLINE_MS),
                      "worker %d still running after join", (int)pids[i]);
    it_raw_close(&st);
    pp_pool_free(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

/* close lets submitted work finish: a map_async submitted before close
 * completes, and join waits for it. */
START_TEST(close_finishes_submitted_work)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(4, 200, 200, 200, 200);
    pp_map_opts mo = { .chunksize = 1 };
    pp_future *fut = NULL;
    it_assert_status(pp_pool_map_async(p, f, items, &mo, NULL, NULL, &fut), PP_OK);
    it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_join(p, 20000), PP_OK);
    ck_assert(pp_future_ready(fut));
    pp_value *res = NULL;
    it_assert_status(pp_future_get(fut, 0, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, i)), 200);
    pp_value_free(res);
    pp_future_free(fut);
    pp_pool_free(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

START_TEST(terminate_fails_pending)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_sleep_ms");
    pp_value *items = it_args(4, 5000, 5000, 5000, 5000);
    pp_map_opts mo = { .chunksize = 1 };
    pp_future *fut = NULL;
    it_assert_status(pp_pool_map_async(p, f, items, &mo, NULL, NULL, &fut), PP_OK);
    /* Wait until the first task is running, so both a running and queued
     * items are cut short. */
    it_raw st;
    it_status_open(&st, D.url);
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    bool running = false;
    while (!running && it_now_ms() < end) {
        Polypool__V1__Reply *rep = it_status(&st);
        for (size_t i = 0; i < rep->status_reply->n_pools; i++) {
            const Polypool__V1__PoolStatus *ps = rep->status_reply->pools[i];
            if (strcmp(ps->kind, "private") == 0 && ps->tasks_running >= 1)
                running = true;
        }
        it_status_free(rep);
        if (!running)
            it_poll_nap();
    }
    ck_assert_msg(running, "the task never started");
    int64_t t0 = it_now_ms();
    it_assert_status(pp_pool_terminate(p), PP_OK);
    it_assert_status(pp_future_get(fut, IT_DEADLINE_MS, NULL), PP_ECLOSED);
    ck_assert_int_eq(pp_future_error(fut)->status, PP_ECLOSED);
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    ck_assert_msg(it_now_ms() - t0 < 4000, "terminate took %lld ms",
                  (long long)(it_now_ms() - t0));
    it_assert_status(pp_pool_terminate(p), PP_OK);   /* idempotent */
    it_raw_close(&st);
    pp_future_free(fut);
    pp_pool_free(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

START_TEST(join_before_close_is_busy)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    it_assert_status(pp_pool_join(p, 1000), PP_EBUSY);
    it_assert_status(pp_pool_join(p, 0), PP_EBUSY);
    it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(submit_to_closed_pool)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_square");
    it_assert_status(pp_pool_close(p), PP_OK);
    pp_value *items = it_ints(0, 3), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_ECLOSED);
    ck_assert_ptr_null(res);
    pp_value *args = it_args(1, 3);
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_ECLOSED);
    pp_future *fut = NULL;
    pp_status st = pp_pool_apply_async(p, f, args, NULL, NULL, &fut);
    if (st == PP_OK) {
        /* Accepted locally; the daemon's refusal arrives in the future. */
        it_assert_status(pp_future_get(fut, IT_DEADLINE_MS, NULL), PP_ECLOSED);
        pp_future_free(fut);
    } else {
        it_assert_status(st, PP_ECLOSED);
    }
    pp_iter *it = NULL;
    st = pp_pool_imap(p, f, items, NULL, true, &it);
    if (st == PP_OK) {
        pp_value *v = NULL;
        it_assert_status(pp_iter_next(it, IT_DEADLINE_MS, &v), PP_ECLOSED);
        pp_iter_free(it);
    } else {
        it_assert_status(st, PP_ECLOSED);
    }
    pp_value_free(args);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* A pool handle that was closed (or terminated) and joined still says
 * PP_ECLOSED to new work, like multiprocessing's ValueError("Pool not
 * running"), not that the pool never existed. */
static const bool join_after_terminate[] = { false, true };

START_TEST(submit_after_join)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 3), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    pp_value_free(res);
    res = NULL;
    if (join_after_terminate[_i])
        it_assert_status(pp_pool_terminate(p), PP_OK);
    else
        it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_ECLOSED);
    ck_assert_ptr_null(res);
    pp_value *args = it_args(1, 2);
    it_assert_status(pp_pool_apply(p, f, args, -1, &res), PP_ECLOSED);
    /* close, terminate and join stay fine. */
    it_assert_status(pp_pool_close(p), PP_OK);
    it_assert_status(pp_pool_terminate(p), PP_OK);
    it_assert_status(pp_pool_join(p, IT_DEADLINE_MS), PP_OK);
    pp_value_free(args);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(named_pool_shared)
{
    pp_client *a = it_client(D.url);
    pp_client *b = it_client(D.url);
    pp_pool *pb = NULL;
    it_assert_status(pp_pool_attach(b, "it-shared", &pb), PP_ENOENT);
    ck_assert_ptr_null(pb);

    pp_pool_opts po = { .size = 3 };
    pp_pool *pa = NULL;
    it_assert_status(pp_pool_open_named(a, "it-shared", &po, &pa), PP_OK);
    ck_assert_str_eq(pp_pool_name(pa), "it-shared");
    ck_assert_uint_eq(pp_pool_size(pa), 3);
    it_assert_status(pp_pool_attach(b, "it-shared", &pb), PP_OK);
    ck_assert_uint_eq(pp_pool_size(pb), 3);
    /* open_named on an existing name attaches; its opts are ignored. */
    pp_pool_opts other = { .size = 1 };
    pp_pool *pb2 = NULL;
    it_assert_status(pp_pool_open_named(b, "it-shared", &other, &pb2), PP_OK);
    ck_assert_uint_eq(pp_pool_size(pb2), 3);
    pp_pool_free(pb2);

    /* Both see one pool, used by two sessions. */
    it_raw st;
    it_status_open(&st, D.url);
    Polypool__V1__Reply *rep = it_status(&st);
    const Polypool__V1__StatusReply *s = rep->status_reply;
    int named = 0;
    for (size_t i = 0; i < s->n_pools; i++)
        if (strcmp(s->pools[i]->name, "it-shared") == 0)
            named++;
    ck_assert_int_eq(named, 1);
    const Polypool__V1__PoolStatus *ps = it_status_pool(s, "it-shared");
    ck_assert_str_eq(ps->kind, "named");
    ck_assert_uint_eq(ps->size, 3);
    ck_assert_uint_ge(ps->n_sessions, 2);
    it_status_free(rep);

    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 100), *ra = NULL, *rb = NULL;
    pp_future *fa = NULL;
    it_assert_status(pp_pool_map_async(pa, f, items, NULL, NULL, NULL, &fa), PP_OK);
    it_assert_status(pp_pool_map(pb, f, items, NULL, &rb), PP_OK);
    it_assert_status(pp_future_get(fa, 20000, &ra), PP_OK);
    it_assert_squares(ra, 0, 100);
    it_assert_squares(rb, 0, 100);
    pp_value_free(ra);
    pp_value_free(rb);
    pp_future_free(fa);

    /* A separate process attaches to the same pool by name. */
    const char *args[] = { "named", "it-shared", "64", NULL };
    pid_t pid = it_spawn_client(D.url, args, NULL);
    int ws = 0;
    ck_assert_msg(it_waitpid(pid, 30000, &ws), "client-proc hung");
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "client-proc: status 0x%x", ws);

    /* Closing it in one client detaches that client only. */
    it_assert_status(pp_pool_close(pa), PP_OK);
    it_assert_status(pp_pool_map(pb, f, items, NULL, &rb), PP_OK);
    it_assert_squares(rb, 0, 100);
    pp_value_free(rb);

    it_raw_close(&st);
    pp_pool_free(pa);
    pp_pool_free(pb);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

/* A named pool lives while a client uses it: once every user is gone it
 * is gone, and attach says ENOENT. */
START_TEST(named_pool_goes_with_last_user)
{
    pp_client *a = it_client(D.url);
    pp_pool *pa = NULL;
    pp_pool_opts po = { .size = 1 };
    it_assert_status(pp_pool_open_named(a, "it-brief", &po, &pa), PP_OK);
    pp_pool_free(pa);
    pp_client_close(a);

    pp_client *b = it_client(D.url);
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    pp_status st;
    pp_pool *pb = NULL;
    while ((st = pp_pool_attach(b, "it-brief", &pb)) == PP_OK && it_now_ms() < end) {
        pp_pool_free(pb);
        pb = NULL;
    }
    it_assert_status(st, PP_ENOENT);
    pp_client_close(b);
}
END_TEST

START_TEST(default_pool_attach)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p), PP_OK);
    ck_assert_str_eq(pp_pool_name(p), "default");
    ck_assert_uint_eq(pp_pool_size(p), 2);   /* --workers 2 */
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 100), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 100);
    pp_value_free(res);
    /* Closing the default pool detaches this client; the pool stays. */
    pp_status st = pp_pool_close(p);
    ck_assert_msg(st == PP_OK || st == PP_EPERM, "close default: %s", pp_status_name(st));
    pp_pool_free(p);
    pp_pool *p2 = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p2), PP_OK);
    it_assert_status(pp_pool_map(p2, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 100);
    pp_value_free(res);
    pp_pool_free(p2);

    it_raw s;
    it_status_open(&s, D.url);
    Polypool__V1__Reply *rep = it_status(&s);
    const Polypool__V1__PoolStatus *ps = it_status_pool(rep->status_reply, "default");
    ck_assert_ptr_nonnull(ps);
    ck_assert_str_eq(ps->kind, "default");
    ck_assert_uint_eq(ps->size, 2);
    it_status_free(rep);
    it_raw_close(&s);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

START_TEST(maxtasksperchild_recycles)
{
    pp_client *c = it_client(D.url);
    pp_pool_opts po = { .size = 1, .maxtasksperchild = 1 };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_create(c, &po, &p), PP_OK);
    pp_func *f = it_func("pt_pid");
    pp_value *items = it_ints(0, 8), *res = NULL;
    pp_map_opts mo = { .chunksize = 1 };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 8);
    for (size_t i = 0; i < 8; i++) {
        int64_t pi = pp_value_get_int(pp_value_at(res, i));
        ck_assert_int_gt(pi, 0);
        for (size_t k = 0; k < i; k++)
            ck_assert_msg(pp_value_get_int(pp_value_at(res, k)) != pi,
                          "items %zu and %zu ran in the same worker %lld", k, i,
                          (long long)pi);
    }
    pp_value_free(res);
    /* Each worker saw exactly one call. */
    pp_func *count = it_func("pt_count_calls");
    it_assert_status(pp_pool_map(p, count, items, &mo, &res), PP_OK);
    for (size_t i = 0; i < 8; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, i)), 1);
    pp_value_free(res);

    /* Without maxtasksperchild a 1-worker pool uses one process. */
    pp_pool *q = it_pool(c, 1);
    it_assert_status(pp_pool_map(q, f, items, &mo, &res), PP_OK);
    for (size_t i = 1; i < 8; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, i)),
                         pp_value_get_int(pp_value_at(res, 0)));
    pp_value_free(res);
    it_assert_status(pp_pool_map(q, count, items, &mo, &res), PP_OK);
    for (size_t i = 0; i < 8; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, i)), (int64_t)i + 1);
    pp_value_free(res);
    pp_func_free(count);
    pp_pool_free(q);
    pp_pool_free(p);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

START_TEST(initializer_runs_in_each_worker)
{
    pp_client *c = it_client(D.url);
    pp_func *init = it_func("pt_init");
    pp_value *initargs = it_args(1, 42);
    pp_pool_opts po = { .size = 2, .initializer = init, .initargs = initargs };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_create(c, &po, &p), PP_OK);
    pp_func *get = it_func("pt_get_init");
    for (int i = 0; i < 6; i++) {
        pp_value *res = NULL;
        it_assert_status(pp_pool_apply(p, get, NULL, -1, &res), PP_OK);
        ck_assert_int_eq(pp_value_get_int(res), 42);
        pp_value_free(res);
    }
    /* Through map too, on both workers, and with recycled workers. */
    pp_pool_free(p);
    po.maxtasksperchild = 1;
    it_assert_status(pp_pool_create(c, &po, &p), PP_OK);
    pp_value *items = it_ints(0, 10), *res = NULL;
    pp_map_opts mo = { .chunksize = 1 };
    it_assert_status(pp_pool_map(p, get, items, &mo, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_int_eq(pp_value_get_int(pp_value_at(res, i)), 42);
    pp_value_free(res);
    pp_value_free(items);
    pp_pool_free(p);
    pp_value_free(initargs);
    pp_func_free(init);
    pp_func_free(get);
    pp_client_close(c);
}
END_TEST

START_TEST(pool_size_zero_is_cpu_count)
{
    pp_client *c = it_client(D.url);
    unsigned cpus = pp_client_cpu_count(c);
    ck_assert_uint_ge(cpus, 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_uint_eq(cpus, (unsigned)online);
    pp_pool_opts po = { .size = 0 };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_create(c, &po, &p), PP_OK);
    ck_assert_uint_eq(pp_pool_size(p), cpus);
    pp_pool *q = NULL;
    it_assert_status(pp_pool_create(c, NULL, &q), PP_OK);
    ck_assert_uint_eq(pp_pool_size(q), cpus);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 20), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 20);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(q);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* pp_pool_free of a running private pool terminates it: its workers go. */
START_TEST(free_terminates_private_pool)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 10), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    pp_value_free(res);
    it_raw st;
    it_status_open(&st, D.url);
    pid_t pids[16];
    size_t npools;
    size_t n = private_worker_pids(&st, pids, 16, &npools);
    ck_assert_uint_eq(npools, 1);
    pp_pool_free(p);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(it_wait_pid_gone(pids[i], IT_DEADLINE_MS), "worker %d left behind",
                      (int)pids[i]);
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    /* And the daemon forgets it (Python's `with Pool() as p:` terminates
     * without joining: a long-lived client must not pile up dead pools). */
    while (private_worker_pids(&st, pids, 16, &npools), npools != 0 && it_now_ms() < end)
        it_poll_nap();
    ck_assert_msg(npools == 0, "a freed private pool is still listed by the daemon");
    it_raw_close(&st);
    pp_value_free(items);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

START_TEST(bad_pool_arguments)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = NULL;
    pp_pool_opts huge = { .size = 100000 };
    it_assert_status(pp_pool_create(c, &huge, &p), PP_EINVAL);
    ck_assert_ptr_null(p);
    it_assert_status(pp_pool_open_named(c, "", NULL, &p), PP_EINVAL);
    it_assert_status(pp_pool_open_named(c, NULL, NULL, &p), PP_EINVAL);
    it_assert_status(pp_pool_attach(c, "", &p), PP_EINVAL);
    /* The client is still fine. */
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    pp_client_close(c);
}
END_TEST

/* An initializer that fails must not leave the pool respawning workers
 * forever with the map hanging (multiprocessing's famous hang): the map
 * comes back with an error. */
START_TEST(initializer_fails_no_hang)
{
    pp_client *c = it_client(D.url);
    pp_func *init = it_func("pt_fail");
    pp_value *initargs = pp_value_list();
    pp_value_append(initargs, pp_value_string("init"));
    pp_pool_opts po = { .size = 2, .initializer = init, .initargs = initargs };
    pp_pool *p = NULL;
    pp_status st = pp_pool_create(c, &po, &p);
    if (st == PP_OK) {
        pp_func *f = it_func("pt_square");
        pp_value *items = it_ints(0, 10), *res = NULL;
        pp_map_opts mo = { .timeout_ms = 30000 };
        int64_t t0 = it_now_ms();
        st = pp_pool_map(p, f, items, &mo, &res);
        int64_t took = it_now_ms() - t0;
        fprintf(stderr, "initializer_fails_no_hang: map gave %s (%s) after %lld ms\n",
                pp_status_name(st), pp_last_error()->message, (long long)took);
        ck_assert_msg(st != PP_OK, "a pool whose initializer fails ran tasks");
        ck_assert_msg(st != PP_ETIMEDOUT, "the map hung until its deadline");
        pp_value_free(res);
        pp_value_free(items);
        pp_func_free(f);
        pp_pool_free(p);
    } else {
        fprintf(stderr, "initializer_fails_no_hang: create gave %s\n", pp_status_name(st));
    }
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    pp_value_free(initargs);
    pp_func_free(init);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-pool");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, private_close_join);
    tcase_add_test(tc, close_finishes_submitted_work);
    tcase_add_test(tc, terminate_fails_pending);
    tcase_add_test(tc, join_before_close_is_busy);
    tcase_add_test(tc, submit_to_closed_pool);
    tcase_add_loop_test(tc, submit_after_join, 0, 2);
    tcase_add_test(tc, free_terminates_private_pool);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, named_pool_shared);
    tcase_add_test(tc, named_pool_goes_with_last_user);
    tcase_add_test(tc, default_pool_attach);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, maxtasksperchild_recycles);
    tcase_add_test(tc, initializer_runs_in_each_worker);
    tcase_add_test(tc, pool_size_zero_is_cpu_count);
    tcase_add_test(tc, bad_pool_arguments);
    tcase_add_test(tc, initializer_fails_no_hang);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
