/* test-stress.c - many clients at once on the shared default pool: every
 * result correct, none lost or duplicated, the daemon clean afterwards. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

static uint64_t default_tasks_done(it_raw *st)
{
    Polypool__V1__Reply *rep = it_status(st);
    const Polypool__V1__PoolStatus *ps = it_status_pool(rep->status_reply, "default");
    ck_assert_ptr_nonnull(ps);
    uint64_t n = ps->tasks_done;
    it_status_free(rep);
    return n;
}

/* 8 processes x 10,000 pt_square tasks: each process runs a 5,000-item map
 * with chunksize 1 and 5,000 apply_async at the same time (client-proc
 * "stress"), on distinct inputs, and checks every result. */
START_TEST(eight_processes_ten_thousand_each)
{
    enum { P = 8, N = 10000 };
    it_raw st;
    it_status_open(&st, D.url);
    uint64_t done0 = default_tasks_done(&st);

    pid_t pids[P];
    int64_t t0 = it_now_ms();
    for (int i = 0; i < P; i++) {
        char n[16], base[32];
        snprintf(n, sizeof n, "%d", N);
        snprintf(base, sizeof base, "%lld", (long long)i * 1000000LL);
        const char *args[] = { "stress", n, base, NULL };
        pids[i] = it_spawn_client(D.url, args, NULL);
    }
    int failed = 0;
    for (int i = 0; i < P; i++) {
        int ws = 0;
        int64_t left = 400000 - (it_now_ms() - t0);
        if (!it_waitpid(pids[i], left > 0 ? (int)left : 0, &ws)) {
            fprintf(stderr, "stress client %d hung\n", i);
            kill(pids[i], SIGKILL);
            it_waitpid(pids[i], IT_DEADLINE_MS, &ws);
            failed++;
        } else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            fprintf(stderr, "stress client %d: %s %d\n", i,
                    WIFEXITED(ws) ? "exit" : "signal",
                    WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
            failed++;
        }
    }
    fprintf(stderr, "stress: %d x %d tasks in %lld ms\n", P, N,
            (long long)(it_now_ms() - t0));
    ck_assert_msg(failed == 0, "%d of %d stress clients failed", failed, P);

    /* Every task ran (at least once; results were checked for exactly
     * once by the clients), and every session is gone. */
    ck_assert_uint_ge(default_tasks_done(&st) - done0, (uint64_t)P * N);
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    for (;;) {
        Polypool__V1__Reply *rep = it_status(&st);
        size_t n = rep->status_reply->n_clients;
        const Polypool__V1__PoolStatus *ps = it_status_pool(rep->status_reply, "default");
        uint64_t queued = ps->tasks_queued, running = ps->tasks_running;
        it_status_free(rep);
        if (n == 1 && queued == 0 && running == 0)
            break;
        ck_assert_msg(it_now_ms() < end, "after the run: %zu sessions, %llu queued, %llu running",
                      n, (unsigned long long)queued, (unsigned long long)running);
        it_poll_nap();
    }
    it_raw_close(&st);
}
END_TEST

/* One client shared by 4 threads (polypool.h: a client may be used from
 * many threads at once), each mixing maps, imaps and futures. */
struct worker_arg {
    pp_client *c;
    int id;
    int rc;
};

static void *thread_main(void *arg)
{
    struct worker_arg *w = arg;
    pp_pool *p = NULL;
    pp_func *f = NULL;
    w->rc = 1;
    if (pp_pool_attach(w->c, "default", &p) != PP_OK)
        return NULL;
    const char *lib = getenv("PPTEST_LIB");
    if (pp_func_c(lib, "pt_square", &f) != PP_OK)
        return NULL;
    int64_t base = (int64_t)w->id * 100000;
    for (int round = 0; round < 5; round++) {
        int64_t *in = malloc(500 * sizeof *in);
        for (int i = 0; i < 500; i++)
            in[i] = base + round * 1000 + i;
        pp_value *items = pp_value_list_of_ints(in, 500), *res = NULL;
        pp_map_opts mo = { .chunksize = (size_t)(round % 2 ? 1 : 0) };
        if (pp_pool_map(p, f, items, &mo, &res) != PP_OK || pp_value_len(res) != 500)
            goto out;
        for (int i = 0; i < 500; i++)
            if (pp_value_get_int(pp_value_at(res, (size_t)i)) != in[i] * in[i])
                goto out;
        pp_value_free(res);

        pp_iter *it = NULL;
        if (pp_pool_imap(p, f, items, NULL, false, &it) != PP_OK)
            goto out;
        int seen = 0;
        pp_value *v = NULL;
        pp_status st;
        while ((st = pp_iter_next(it, 60000, &v)) == PP_OK) {
            uint64_t idx = pp_iter_index(it);
            if (idx >= 500 || pp_value_get_int(v) != in[idx] * in[idx]) {
                pp_value_free(v);
                pp_iter_free(it);
                goto out;
            }
            pp_value_free(v);
            seen++;
        }
        pp_iter_free(it);
        if (st != PP_EEOF || seen != 500)
            goto out;

        pp_future *fs[100];
        for (int i = 0; i < 100; i++) {
            pp_value *args = pp_value_list();
            pp_value_append(args, pp_value_int(in[i]));
            pp_status s2 = pp_pool_apply_async(p, f, args, NULL, NULL, &fs[i]);
            pp_value_free(args);
            if (s2 != PP_OK)
                goto out;
        }
        for (int i = 0; i < 100; i++) {
            pp_value *r = NULL;
            if (pp_future_get(fs[i], 60000, &r) != PP_OK || pp_value_get_int(r) != in[i] * in[i])
                goto out;
            pp_value_free(r);
            pp_future_free(fs[i]);
        }
        pp_value_free(items);
        free(in);
    }
    w->rc = 0;
out:
    pp_func_free(f);
    pp_pool_free(p);
    return NULL;
}

START_TEST(threads_share_one_client)
{
    enum { T = 4 };
    pp_client *c = it_client(D.url);
    pthread_t th[T];
    struct worker_arg wa[T];
    for (int i = 0; i < T; i++) {
        wa[i] = (struct worker_arg){ .c = c, .id = i, .rc = -1 };
        pthread_create(&th[i], NULL, thread_main, &wa[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(wa[i].rc == 0, "thread %d failed", i);
    }
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-stress");
    TCase *tc = tcase_create("stress");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 450);
    tcase_add_test(tc, eight_processes_ten_thousand_each);
    tcase_add_test(tc, threads_share_one_client);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
