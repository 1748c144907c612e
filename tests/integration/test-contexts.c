/* test-contexts.c - the daemon never runs out of reply contexts: with more
 * requests parked than it starts with (64), other requests are still
 * answered, and every parked request completes. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"

enum { PARKED = 150 };

static it_daemon D;

static void setup(void)
{
    it_daemon_start(&D, NULL);
}

static void teardown(void)
{
    it_daemon_stop(&D);
}

struct applier {
    pp_pool *pool;
    const pp_func *f;
    int64_t x;
    pp_status st;
    int64_t got;
};

static void *apply_one(void *arg)
{
    struct applier *a = arg;
    pp_value *args = it_args(1, a->x), *r = NULL;
    a->st = pp_pool_apply(a->pool, a->f, args, -1, &r);
    a->got = a->st == PP_OK ? pp_value_get_int(r) : -1;
    pp_value_free(r);
    pp_value_free(args);
    return NULL;
}

struct parked_ctx {
    it_raw *st;
};

static bool many_parked(void *arg)
{
    struct parked_ctx *pc = arg;
    Polypool__V1__Reply *rep = it_status(pc->st);
    const Polypool__V1__ClientStatus *cs = it_status_client_pid(rep->status_reply, getpid());
    bool ok = cs && cs->parked >= PARKED;
    it_status_free(rep);
    return ok;
}

/* One worker is held by a 2 s task; 150 threads of one client each apply
 * pt_square behind it, so 150 requests are parked in the daemon at once.
 * A second client's ping is answered meanwhile, and all 150 complete. */
START_TEST(parked_requests_beyond_initial_contexts)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *sleep_ms = it_func("pt_sleep_ms"), *sq = it_func("pt_square");

    pp_future *hold = NULL;
    pp_value *hold_args = it_args(1, (int64_t)2000);
    it_assert_status(pp_pool_apply_async(p, sleep_ms, hold_args, NULL, NULL, &hold), PP_OK);

    static struct applier ap[PARKED];
    pthread_t th[PARKED];
    for (int i = 0; i < PARKED; i++) {
        ap[i] = (struct applier){ .pool = p, .f = sq, .x = i };
        ck_assert_int_eq(pthread_create(&th[i], NULL, apply_one, &ap[i]), 0);
    }

    it_raw st;
    it_status_open(&st, D.url);
    struct parked_ctx pc = { &st };
    ck_assert_msg(it_wait_until(many_parked, &pc, IT_DEADLINE_MS),
                  "the daemon never had %d requests parked", PARKED);

    pp_client *other = it_client(D.url);
    it_assert_status(pp_client_ping(other, 2000), PP_OK);
    pp_client_close(other);

    for (int i = 0; i < PARKED; i++) {
        pthread_join(th[i], NULL);
        it_assert_status(ap[i].st, PP_OK);
        ck_assert_int_eq(ap[i].got, (int64_t)i * i);
    }
    it_assert_status(pp_future_get(hold, 10000, NULL), PP_OK);

    it_raw_close(&st);
    pp_future_free(hold);
    pp_value_free(hold_args);
    pp_func_free(sleep_ms);
    pp_func_free(sq);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("integ-contexts");
    TCase *tc = tcase_create("contexts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, parked_requests_beyond_initial_contexts);
    suite_add_tcase(s, tc);
    return it_main(s);
}
