/* test-pool.c - pool.c with sessions and jobs but no processes: workers are
 * fake_worker structs and their deaths are reported as worker.c reports
 * them (pool_worker_gone). The default pool, private and named pools,
 * attach/detach counting, destruction by the last user once drained,
 * close, terminate, broken pools (pool_break), workers that cannot start
 * (spawn failures and deaths at startup: retried after a backoff driven by
 * pool_tick, never a break), refilling, shutdown and the name tables.
 *
 * Spawning real workers, and a pool broken by a failing initializer, are
 * in test-worker.c. */
#include <check.h>

#include "unit-helpers.h"

#define NO_WORKER "/nonexistent/polypool-worker"

static struct session *sa, *sb;

static void setup(void)
{
    log_capture();
    struct pool_config cfg = { .worker_path = NO_WORKER, .default_size = 2, .cpu_count = 3 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    sa = session_new(1, 100, 0, "a");
    sb = session_new(2, 200, 0, "b");
    ck_assert_ptr_nonnull(sa);
    ck_assert_ptr_nonnull(sb);
}

static void teardown(void)
{
    while (!list_empty(session_all()))
        session_destroy(container_of(session_all()->next, struct session, link));
    pool_fini();
}

/* The worker answers its oldest task, as worker.c handles a result. */
static void finish_one(struct worker *w)
{
    struct pool *p = w->pool;
    ck_assert_uint_gt(w->n_inflight, 0);
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight--;
    w->tasks_done++;
    p->tasks_running--;
    p->tasks_done++;
    sched_task_done(t, malloc(1), 0, 1);
    sched_dispatch_worker(w);
    if (p->state != POOL_RUNNING)
        pool_check(p);
}

static size_t exits_sent(const struct worker *w)
{
    size_t tasks, exits;
    fake_frames(w, &tasks, &exits);
    return exits;
}

START_TEST(default_pool)
{
    struct pool *d = pool_default();
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->id, 1);
    ck_assert_str_eq(d->name, "default");
    ck_assert_int_eq(d->kind, POOL_DEFAULT);
    ck_assert_int_eq(d->state, POOL_RUNNING);
    ck_assert_uint_eq(d->size, 2);
    ck_assert_ptr_null(d->owner);
    ck_assert_ptr_eq(pool_by_id(1), d);
    ck_assert_ptr_eq(pool_by_name("default"), d);
    ck_assert_uint_eq(count_pools(), 1);
    /* Its workers are asked for at once. */
    ck_assert(d->fill_wanted);
    const struct pool_config *c = pool_config();
    ck_assert_str_eq(c->worker_path, NO_WORKER);
    ck_assert_uint_eq(c->default_size, 2);
    ck_assert_uint_eq(c->cpu_count, 3);
}
END_TEST

START_TEST(config_is_copied_and_size_defaults)
{
    pool_fini();
    ck_assert_ptr_null(pool_default());
    ck_assert_uint_eq(count_pools(), 0);
    char path[] = "/opt/x/polypool-worker";
    struct pool_config cfg = { .worker_path = path, .default_size = 0, .cpu_count = 5 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    path[1] = 'X';
    ck_assert_str_eq(pool_config()->worker_path, "/opt/x/polypool-worker");
    /* Size 0 means one worker per CPU, for the default pool and others. */
    ck_assert_uint_eq(pool_default()->size, 5);
    struct pool *q = pool_new(POOL_PRIVATE, "", 0, 0, NULL, NULL, NULL, 0, sa);
    ck_assert_uint_eq(q->size, 5);
    struct pool *r = pool_new(POOL_NAMED, "n", 4, 0, NULL, NULL, NULL, 0, NULL);
    ck_assert_uint_eq(r->size, 4);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(pool_kind_name(POOL_DEFAULT), "default");
    ck_assert_str_eq(pool_kind_name(POOL_PRIVATE), "private");
    ck_assert_str_eq(pool_kind_name(POOL_NAMED), "named");
    ck_assert_str_eq(pool_state_name(POOL_RUNNING), "running");
    ck_assert_str_eq(pool_state_name(POOL_CLOSED), "closed");
    ck_assert_str_eq(pool_state_name(POOL_TERMINATED), "terminated");
    ck_assert_str_eq(pool_state_name(POOL_BROKEN), "broken");
    ck_assert_str_eq(pool_state_name((enum pool_state)42), "?");
}
END_TEST

START_TEST(private_pool)
{
    uint8_t args[] = { 1, 2, 3 };
    char lib[] = "/lib/init.so", sym[] = "init";
    struct pool *q = pool_new(POOL_PRIVATE, "", 4, 7, lib, sym, args, sizeof args, sa);
    ck_assert_ptr_nonnull(q);
    args[0] = 9;
    lib[1] = 'X';
    sym[0] = 'X';
    ck_assert_uint_gt(q->id, 1);
    ck_assert_int_eq(q->kind, POOL_PRIVATE);
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_str_eq(q->name, "");
    ck_assert_uint_eq(q->size, 4);
    ck_assert_uint_eq(q->maxtasks, 7);
    ck_assert_str_eq(q->init_lib, "/lib/init.so");
    ck_assert_str_eq(q->init_sym, "init");
    ck_assert_uint_eq(q->initargs_len, 3);
    ck_assert_int_eq(q->initargs[0], 1);
    ck_assert_ptr_eq(q->owner, sa);
    ck_assert_ptr_eq(container_of(sa->pools.next, struct pool, owner_link), q);
    ck_assert_ptr_eq(pool_by_id(q->id), q);
    ck_assert(q->fill_wanted);
    /* Private pools have no name to find them by. */
    ck_assert_ptr_null(pool_by_name(""));
    struct pool *r = pool_new(POOL_PRIVATE, "x", 1, 0, NULL, NULL, NULL, 0, sa);
    ck_assert_ptr_null(pool_by_name("x"));
    ck_assert_uint_eq(r->id, q->id + 1);
    /* An initializer needs both a library and a symbol. */
    struct pool *t = pool_new(POOL_PRIVATE, "", 1, 0, "/lib/init.so", NULL, args, 0, sa);
    ck_assert_ptr_null(t->init_lib);
    ck_assert_ptr_null(t->init_sym);
    ck_assert_ptr_null(t->initargs);
}
END_TEST

START_TEST(named_pool_lookup)
{
    struct pool *n = pool_new(POOL_NAMED, "shared", 1, 0, NULL, NULL, NULL, 0, NULL);
    ck_assert_ptr_eq(pool_by_name("shared"), n);
    ck_assert_ptr_null(pool_by_name("Shared"));
    ck_assert_ptr_null(pool_by_name("share"));
    ck_assert_ptr_eq(pool_by_id(n->id), n);
    ck_assert_ptr_null(pool_by_id(n->id + 1));
    pool_free(NULL);
}
END_TEST

START_TEST(attach_detach_refcount)
{
    struct pool *n = pool_new(POOL_NAMED, "shared", 1, 0, NULL, NULL, NULL, 0, NULL);
    uint64_t nid = n->id;
    ck_assert_int_eq(pool_attach(n, sa), 0);
    ck_assert_int_eq(pool_attach(n, sa), 0);   /* once per session */
    ck_assert_uint_eq(n->n_sessions, 1);
    ck_assert_int_eq(pool_attach(n, sb), 0);
    ck_assert_uint_eq(n->n_sessions, 2);
    ck_assert(session_attached(sa, nid));
    ck_assert(session_attached(sb, nid));
    pool_detach(n, sa);
    ck_assert_uint_eq(n->n_sessions, 1);
    ck_assert(!session_attached(sa, nid));
    ck_assert_int_eq(n->state, POOL_RUNNING);
    ck_assert_ptr_eq(pool_by_name("shared"), n);
    /* A session that is not attached changes nothing. */
    pool_detach(n, sa);
    ck_assert_uint_eq(n->n_sessions, 1);
    ck_assert_ptr_eq(pool_by_name("shared"), n);
    /* The last one: no workers and no work, so it goes at once. */
    pool_detach(n, sb);
    ck_assert_ptr_null(pool_by_name("shared"));
    ck_assert_ptr_null(pool_by_id(nid));
    ck_assert_uint_eq(count_pools(), 1);
    ck_assert(!session_attached(sb, nid));
}
END_TEST

START_TEST(attach_many_sessions)
{
    struct pool *n = pool_new(POOL_NAMED, "big", 1, 0, NULL, NULL, NULL, 0, NULL);
    struct session *s[9];
    for (uint32_t i = 0; i < 9; i++) {
        s[i] = session_new(10 + i, 1, 0, "s");
        ck_assert_int_eq(pool_attach(n, s[i]), 0);
    }
    ck_assert_uint_eq(n->n_sessions, 9);
    for (uint32_t i = 0; i < 8; i++)
        session_destroy(s[i]);
    ck_assert_uint_eq(n->n_sessions, 1);
    ck_assert_uint_eq(n->sessions[0], s[8]->id);
    ck_assert_ptr_eq(pool_by_name("big"), n);
}
END_TEST

START_TEST(default_pool_survives_last_detach)
{
    struct pool *d = pool_default();
    ck_assert_int_eq(pool_attach(d, sa), 0);
    pool_detach(d, sa);
    ck_assert_uint_eq(d->n_sessions, 0);
    ck_assert_int_eq(d->state, POOL_RUNNING);
    ck_assert_ptr_eq(pool_by_name("default"), d);
    ck_assert_ptr_eq(pool_default(), d);
}
END_TEST

START_TEST(named_pool_drains_after_last_detach)
{
    struct pool *n = pool_new(POOL_NAMED, "shared", 1, 0, NULL, NULL, NULL, 0, NULL);
    uint64_t nid = n->id;
    struct worker *w = fake_worker(n);
    ck_assert_int_eq(pool_attach(n, sa), 0);
    struct job *j = make_job(sa, n, 1, "/l.so", "f", 1, false, false, int_items(0, 6), 6);
    ck_assert_uint_eq(w->n_inflight, 1);
    pool_detach(n, sa);
    /* Unfindable at once, but its work still runs. */
    ck_assert_ptr_null(pool_by_name("shared"));
    ck_assert_ptr_null(pool_by_id(nid));
    ck_assert(n->gone);
    ck_assert_int_eq(n->state, POOL_CLOSED);
    ck_assert_uint_eq(exits_sent(w), 0);
    ck_assert_uint_eq(count_pools(), 2);
    for (int i = 0; i < 5; i++) {
        finish_one(w);
        ck_assert_uint_eq(exits_sent(w), 0);
    }
    /* The last result drains it: the worker is told to exit... */
    finish_one(w);
    ck_assert(pool_drained(n));
    ck_assert_uint_eq(exits_sent(w), 1);
    ck_assert_int_eq(w->state, WORKER_EXITING);
    ck_assert(sched_job_complete(j));
    ck_assert_ptr_eq(j->pool, n);
    /* ...and once it is reaped the pool is freed; the job outlives it. */
    fake_worker_gone(w, true, "exited with code 0");
    ck_assert_uint_eq(count_pools(), 1);
    ck_assert_ptr_null(j->pool);
    ck_assert_uint_eq(j->pool_id, nid);
}
END_TEST

START_TEST(close_idle_private_pool)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    uint64_t qid = q->id;
    pool_close(q);
    /* Nothing to wait for: finished and freed. */
    ck_assert_ptr_null(pool_by_id(qid));
    ck_assert(list_empty(&sa->pools));
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(close_private_pool_with_workers)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 2, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w1 = fake_worker(q), *w2 = fake_worker(q);
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 3), 3);
    while (session_take_dirty())
        ;
    pool_close(q);
    ck_assert_int_eq(q->state, POOL_CLOSED);
    ck_assert(q->owner_closed);
    ck_assert(sa->dirty);
    /* Work is queued: nobody is told to exit yet. */
    ck_assert_uint_eq(exits_sent(w1) + exits_sent(w2), 0);
    while (!pool_drained(q)) {
        if (w1->n_inflight)
            finish_one(w1);
        if (w2->n_inflight)
            finish_one(w2);
    }
    ck_assert(sched_job_complete(j));
    ck_assert_uint_eq(exits_sent(w1), 1);
    ck_assert_uint_eq(exits_sent(w2), 1);
    uint64_t qid = q->id;
    fake_worker_gone(w1, true, "exit 0");
    ck_assert_ptr_eq(pool_by_id(qid), q);
    fake_worker_gone(w2, true, "exit 0");
    ck_assert_ptr_null(pool_by_id(qid));
    ck_assert(list_empty(&sa->pools));
    ck_assert_ptr_null(j->pool);
}
END_TEST

START_TEST(no_refill_during_shutdown)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    pool_shutdown();           /* keeps pool_fill_pending from spawning... */
    pool_fill_pending();       /* ...while the first fill request is consumed */
    ck_assert(!q->fill_wanted);
    struct worker *w = fake_worker(q);
    make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 3), 3);
    pool_close(q);
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight = 0;
    q->tasks_running--;
    sched_task_requeue(t);
    /* While the daemon shuts down, no replacement is wanted... */
    fake_worker_gone(w, true, "killed by signal 9");
    ck_assert(!q->fill_wanted);
    ck_assert_int_eq(q->state, POOL_CLOSED);
    ck_assert_uint_eq(q->tasks_queued, 3);
}
END_TEST

START_TEST(closed_pool_refills_for_queued_work)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    list_del(&q->fill_link);   /* as if the loop had handled the first fill */
    q->fill_wanted = false;
    struct worker *w = fake_worker(q);
    make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 3), 3);
    pool_close(q);
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight = 0;
    q->tasks_running--;
    sched_task_requeue(t);
    /* A closed pool with queued work still keeps its size. */
    fake_worker_gone(w, true, "killed by signal 9");
    ck_assert(q->fill_wanted);
    ck_assert_int_eq(q->state, POOL_CLOSED);
    ck_assert_uint_eq(q->tasks_queued, 3);
    /* Once the work is gone, the closed pool without workers is done. */
    uint64_t qid = q->id;
    struct job *j = container_of(sa->jobs_list.next, struct job, sess_link);
    sched_job_cancel(j);
    ck_assert_ptr_null(pool_by_id(qid));
}
END_TEST

START_TEST(close_keeps_broken_and_terminated)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w = fake_worker(q);
    pool_break(q, WS_ENOLIB, "no lib");
    pool_close(q);
    ck_assert_int_eq(q->state, POOL_BROKEN);
    struct pool *r = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct worker *v = fake_worker(r);
    pool_terminate(r);
    pool_close(r);
    ck_assert_int_eq(r->state, POOL_TERMINATED);
    fake_worker_gone(w, true, "exit 0");
    fake_worker_gone(v, true, "killed");
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(terminate_fails_queued_and_kills)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w = fake_worker(q);
    struct job *j = make_job(sa, q, 4, "/l.so", "f", 1, false, true, int_items(0, 5), 5);
    ck_assert_uint_eq(w->n_inflight, 1);
    pool_terminate(q);
    ck_assert_int_eq(q->state, POOL_TERMINATED);
    ck_assert(q->owner_closed);
    ck_assert_int_eq(w->kill_reason, KILL_TERMINATE);
    ck_assert_uint_eq(q->tasks_queued, 0);
    ck_assert_uint_eq(j->resolved, 4);
    struct results r;
    read_results(j, &r);
    ck_assert(!r.item[0].seen);   /* running: its worker's death reports it */
    for (int i = 1; i < 5; i++) {
        ck_assert(r.item[i].seen);
        ck_assert_int_eq(r.item[i].status, WS_ECLOSED);
        ck_assert_str_eq(r.item[i].msg, "pool terminated");
    }
    /* Twice is the same as once. */
    pool_terminate(q);
    ck_assert_uint_eq(j->resolved, 4);
    /* Later input fails at once. */
    wire_items *more = int_items(5, 2);
    ck_assert_int_eq(sched_job_feed(j, more, 2), 0);
    wire_items_unref(more);
    ck_assert_uint_eq(j->resolved, 6);
    read_results(j, &r);
    ck_assert_int_eq(r.item[6 - 1].status, WS_ECLOSED);
    /* The killed worker's task, then the reaping: freed. */
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight = 0;
    q->tasks_running--;
    struct wire_error e = { .status = WS_ECLOSED, .message = "pool terminated" };
    sched_task_fail(t, &e, NULL, 0, NULL, 0);
    uint64_t qid = q->id;
    fake_worker_gone(w, true, "killed by signal 9");
    ck_assert_ptr_null(pool_by_id(qid));
    ck_assert_ptr_null(j->pool);
    j->more = false;
    ck_assert(sched_job_complete(j));
}
END_TEST

START_TEST(break_fails_queued_and_stops_workers)
{
    struct pool *q = pool_new(POOL_NAMED, "brk", 2, 0, NULL, NULL, NULL, 0, NULL);
    ck_assert_int_eq(pool_attach(q, sa), 0);
    struct worker *w1 = fake_worker(q), *w2 = fake_worker(q);
    w2->state = WORKER_STARTING;   /* not ready: gets no work */
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 2, false, false, int_items(0, 6), 6);
    ck_assert_uint_eq(w1->n_inflight, 1);
    char msg[] = "pool initializer failed: symbol 'init' not found in /x.so";
    pool_break(q, WS_ENOSYM, msg);
    msg[0] = 'X';
    ck_assert_int_eq(q->state, POOL_BROKEN);
    ck_assert_int_eq(q->broken_status, WS_ENOSYM);
    ck_assert_str_eq(q->broken_msg,
                     "pool initializer failed: symbol 'init' not found in /x.so");
    ck_assert_uint_eq(q->tasks_queued, 0);
    ck_assert_uint_eq(j->resolved, 4);
    struct results r;
    read_results(j, &r);
    for (int i = 2; i < 6; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSYM);
        ck_assert_str_eq(r.item[i].msg, q->broken_msg);
    }
    /* Every worker is told to exit (the busy one after its batch). */
    ck_assert_uint_eq(exits_sent(w1), 1);
    ck_assert_uint_eq(exits_sent(w2), 1);
    ck_assert_ptr_nonnull(strstr(log_text(), " warn: pool "));
    ck_assert_ptr_nonnull(strstr(log_text(), " (brk) is broken: pool initializer failed: "
                                             "symbol 'init' not found in /x.so\n"));
    /* A second break does not overwrite the first. */
    pool_break(q, WS_ENOSPAWN, "other");
    ck_assert_int_eq(q->broken_status, WS_ENOSYM);
    ck_assert_ptr_null(strstr(log_text(), "other"));
    finish_one(w1);
    ck_assert(sched_job_complete(j));
    fake_worker_gone(w1, true, "exit 0");
    fake_worker_gone(w2, false, "exit 0");
    /* Still attached: a broken named pool stays until its users leave. */
    ck_assert_ptr_eq(pool_by_name("brk"), q);
    ck_assert_int_eq(q->state, POOL_BROKEN);
    pool_detach(q, sa);
    ck_assert_ptr_null(pool_by_name("brk"));
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(break_after_terminate_is_ignored)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w = fake_worker(q);
    pool_terminate(q);
    pool_break(q, WS_ENOSPAWN, "late");
    ck_assert_int_eq(q->state, POOL_TERMINATED);
    ck_assert_ptr_null(q->broken_msg);
    fake_worker_gone(w, true, "killed");
}
END_TEST

START_TEST(broken_private_pool_waits_for_its_owner)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    uint64_t qid = q->id;
    struct worker *w = fake_worker(q);
    pool_break(q, WS_ETASK, "pool initializer failed: pt_fail: no");
    fake_worker_gone(w, true, "exit 0");
    /* No workers, but kept so that submits keep failing with its status
     * until the owner closes it. */
    ck_assert_ptr_eq(pool_by_id(qid), q);
    ck_assert_int_eq(q->state, POOL_BROKEN);
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 1), 1);
    struct results r;
    read_results(j, &r);
    ck_assert_int_eq(r.item[0].status, WS_ETASK);
    ck_assert_str_eq(r.item[0].msg, "pool initializer failed: pt_fail: no");
    pool_close(q);
    ck_assert_ptr_null(pool_by_id(qid));
}
END_TEST

START_TEST(startup_deaths_retry_with_backoff)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 3, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = fake_worker(q);
        w[i]->state = WORKER_STARTING;
        w[i]->init_done = false;
    }
    list_del(&q->fill_link);   /* as if the loop had handled the first fill */
    q->fill_wanted = false;
    list_del(&pool_default()->fill_link);   /* only q spawns in this test */
    pool_default()->fill_wanted = false;
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 2), 2);
    fake_worker_gone(w[0], false, "worker 11 exited with code 1");
    fake_worker_gone(w[1], false, "worker 12 exited with code 1");
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_uint_eq(q->startup_failures, 2);
    ck_assert(q->fill_wanted);   /* replacements are wanted at once */
    ck_assert_str_eq(q->spawn_error, "");
    ck_assert_uint_eq(q->respawn_at, 0);
    ck_assert_uint_eq(q->tasks_queued, 2);
    /* The third in a row: spawn-failing, with a retry in 100 ms. */
    uint64_t before = now_ms();
    fake_worker_gone(w[2], false, "worker 13 killed by signal 9 (SIGKILL)");
    const char *want = "workers keep dying at startup "
                       "(last: worker 13 killed by signal 9 (SIGKILL))";
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_ptr_null(q->broken_msg);
    ck_assert_str_eq(q->spawn_error, want);
    ck_assert_uint_eq(q->respawn_ms, POOL_RESPAWN_MIN_MS);
    ck_assert_uint_ge(q->respawn_at, before + 100);
    ck_assert_uint_le(q->respawn_at, now_ms() + 100);
    char line[512];
    snprintf(line, sizeof line, " error: pool %llu (private): %s; retrying in 100 ms (pool.c:",
             (unsigned long long)q->id, want);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
    /* No worker is left: the queued items fail now instead of waiting. */
    ck_assert_uint_eq(q->tasks_queued, 0);
    struct results r;
    read_results(j, &r);
    ck_assert_uint_eq(j->resolved, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        ck_assert_str_eq(r.item[i].msg, want);
    }
    /* Items fed while it waits fail at once, with the same message. */
    wire_items *more = int_items(2, 1);
    ck_assert_int_eq(sched_job_feed(j, more, 1), 0);
    wire_items_unref(more);
    ck_assert_uint_eq(j->resolved, 3);
    ck_assert_uint_eq(q->tasks_queued, 0);
    read_results(j, &r);
    ck_assert_int_eq(r.item[2].status, WS_ENOSPAWN);
    ck_assert_str_eq(r.item[2].msg, want);
    /* The fill asked for earlier spawns nothing during the backoff. */
    pool_fill_pending();
    ck_assert(!q->fill_wanted);
    ck_assert_uint_eq(q->n_workers, 0);
    ck_assert_uint_eq(q->respawn_ms, POOL_RESPAWN_MIN_MS);
    /* The loop's tick: nothing before the retry time, a fill at it. */
    uint64_t at = q->respawn_at;
    ck_assert_uint_eq(pool_tick(at - 1), at);
    ck_assert(!q->fill_wanted);
    ck_assert_uint_eq(pool_tick(at), UINT64_MAX);
    ck_assert(q->fill_wanted);
    ck_assert_uint_eq(q->respawn_at, 0);
    /* A worker of the pool becomes ready: spawn-failing ends, the backoff
     * starts over, and items run again. */
    struct worker *v = fake_worker(q);
    pool_worker_ready(q);
    ck_assert_str_eq(q->spawn_error, "");
    ck_assert_uint_eq(q->respawn_ms, 0);
    ck_assert_uint_eq(q->startup_failures, 0);
    snprintf(line, sizeof line, " info: pool %llu (private): workers start again\n",
             (unsigned long long)q->id);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
    more = int_items(3, 2);
    ck_assert_int_eq(sched_job_feed(j, more, 2), 0);
    wire_items_unref(more);
    ck_assert_uint_eq(v->n_inflight, 1);
    ck_assert_uint_eq(q->tasks_queued, 1);
    ck_assert_uint_eq(j->resolved, 3);
    finish_one(v);
    finish_one(v);
    ck_assert_uint_eq(j->resolved, 5);
    ck_assert(sched_job_complete(j));
    ck_assert_int_eq(q->state, POOL_RUNNING);
    fake_worker_gone(v, true, "exit 0");
}
END_TEST

/* Only a worker becoming ready clears the count of startup deaths: a ready
 * worker leaving (say a C worker making room for a Python host) must not
 * hide hosts that never start. */
START_TEST(only_a_ready_worker_resets_startup_failures)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 4, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w[4];
    for (int i = 0; i < 4; i++)
        w[i] = fake_worker(q);
    fake_worker_gone(w[0], false, "x");
    fake_worker_gone(w[1], false, "x");
    fake_worker_gone(w[2], true, "x");
    ck_assert_uint_eq(q->startup_failures, 2);
    pool_worker_ready(q);
    ck_assert_uint_eq(q->startup_failures, 0);
    fake_worker_gone(w[3], false, "x");
    ck_assert_uint_eq(q->startup_failures, 1);
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_uint_eq(q->n_workers, 0);
}
END_TEST

START_TEST(spawn_failure_retries_with_backoff)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 2, 0, NULL, NULL, NULL, 0, sa);
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 2), 2);
    uint64_t before = now_ms();
    pool_fill_pending();
    const char *want = "cannot start worker " NO_WORKER ": No such file or directory";
    /* Neither q nor the default pool is broken: both wait to retry. */
    struct pool *d = pool_default();
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_ptr_null(q->broken_msg);
    ck_assert_str_eq(q->spawn_error, want);
    ck_assert_uint_eq(q->respawn_ms, POOL_RESPAWN_MIN_MS);
    ck_assert_uint_ge(q->respawn_at, before + 100);
    ck_assert_int_eq(d->state, POOL_RUNNING);
    ck_assert_str_eq(d->spawn_error, want);
    ck_assert_uint_gt(d->respawn_at, 0);
    ck_assert(!q->fill_wanted);
    ck_assert(!d->fill_wanted);
    ck_assert_uint_eq(q->n_workers, 0);
    /* Its items fail now, with the reason. */
    ck_assert_uint_eq(q->tasks_queued, 0);
    struct results r;
    read_results(j, &r);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        ck_assert_str_eq(r.item[i].msg, want);
    }
    /* Logged as errors, with the retry delay and the location. */
    char line[512];
    snprintf(line, sizeof line, " error: pool %llu (private): %s; retrying in 100 ms (pool.c:",
             (unsigned long long)q->id, want);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
    snprintf(line, sizeof line, " error: pool 1 (default): %s; retrying in 100 ms (pool.c:",
             want);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
    /* Items fed while it waits fail at once. */
    wire_items *more = int_items(2, 3);
    ck_assert_int_eq(sched_job_feed(j, more, 3), 0);
    wire_items_unref(more);
    ck_assert_uint_eq(j->resolved, 5);
    read_results(j, &r);
    for (int i = 2; i < 5; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        ck_assert_str_eq(r.item[i].msg, want);
    }
    /* Asking for workers during the backoff tries nothing... */
    size_t loglen = strlen(log_text());
    pool_want_fill(q);
    pool_fill_pending();
    ck_assert_uint_eq(q->respawn_ms, POOL_RESPAWN_MIN_MS);
    ck_assert_uint_eq(strlen(log_text()), loglen);
    /* ...and each retry that fails doubles the delay, up to 10 s. */
    static const uint32_t delays[] = { 200, 400, 800, 1600, 3200, 6400, 10000, 10000 };
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        uint64_t at = q->respawn_at;
        pool_tick(at);
        ck_assert(q->fill_wanted);
        uint64_t t0 = now_ms();
        pool_fill_pending();
        ck_assert_int_eq(q->state, POOL_RUNNING);
        ck_assert_uint_eq(q->respawn_ms, delays[i]);
        ck_assert_uint_ge(q->respawn_at, t0 + delays[i]);
        ck_assert_uint_eq(q->n_workers, 0);
    }
    snprintf(line, sizeof line, "%s; retrying in 10000 ms (pool.c:", want);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
    /* A worker becoming ready (the real thing is in test-worker.c) ends
     * it: no more waiting, the missing worker is wanted now. */
    struct worker *w = fake_worker(q);
    pool_worker_ready(q);
    ck_assert_str_eq(q->spawn_error, "");
    ck_assert_uint_eq(q->respawn_ms, 0);
    ck_assert_uint_eq(q->respawn_at, 0);
    ck_assert(q->fill_wanted);
    more = int_items(5, 1);
    ck_assert_int_eq(sched_job_feed(j, more, 1), 0);
    wire_items_unref(more);
    ck_assert_uint_eq(w->n_inflight, 1);
    ck_assert_uint_eq(j->resolved, 5);
    finish_one(w);
    ck_assert_uint_eq(j->resolved, 6);
    fake_worker_gone(w, true, "exit 0");
}
END_TEST

START_TEST(spawn_failing_pool_keeps_its_live_workers)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 2, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w = fake_worker(q);
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 2), 2);
    ck_assert_uint_eq(w->n_inflight, 1);
    pool_fill_pending();   /* the second worker cannot start */
    const char *want = "cannot start worker " NO_WORKER ": No such file or directory";
    ck_assert_str_eq(q->spawn_error, want);
    ck_assert_uint_eq(q->n_workers, 1);
    /* The live worker keeps taking the queue; nothing fails. */
    ck_assert_uint_eq(q->tasks_queued, 1);
    ck_assert_uint_eq(j->resolved, 0);
    finish_one(w);
    finish_one(w);
    ck_assert(sched_job_complete(j));
    struct job *j2 = make_job(sa, q, 2, "/l.so", "f", 1, false, false, int_items(0, 3), 3);
    ck_assert_uint_eq(w->n_inflight, 1);
    ck_assert_uint_eq(q->tasks_queued, 2);
    ck_assert_uint_eq(j2->resolved, 0);
    /* It dies, its task going back to the queue: now no worker is left,
     * so the queue fails with the spawn error. */
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight = 0;
    q->tasks_running--;
    sched_task_requeue(t);
    ck_assert_uint_eq(q->tasks_queued, 3);
    fake_worker_gone(w, true, "worker 7 killed by signal 9 (SIGKILL)");
    ck_assert_uint_eq(q->tasks_queued, 0);
    ck_assert(sched_job_complete(j2));
    struct results r;
    read_results(j2, &r);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        ck_assert_str_eq(r.item[i].msg, want);
    }
    ck_assert_int_eq(q->state, POOL_RUNNING);
}
END_TEST

START_TEST(shutdown_stops_spawning)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 2, 0, NULL, NULL, NULL, 0, sa);
    pool_shutdown();
    pool_fill_pending();
    /* No spawn was even tried (it would have failed). */
    ck_assert_int_eq(q->state, POOL_RUNNING);
    ck_assert_str_eq(q->spawn_error, "");
    ck_assert_str_eq(pool_default()->spawn_error, "");
    ck_assert(!q->fill_wanted);
    ck_assert(!list_linked(&q->fill_link));
}
END_TEST

START_TEST(want_fill_once)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    ck_assert(q->fill_wanted);
    struct list *prev = q->fill_link.prev, *next = q->fill_link.next;
    pool_want_fill(q);
    ck_assert_ptr_eq(q->fill_link.prev, prev);
    ck_assert_ptr_eq(q->fill_link.next, next);
    pool_shutdown();
    pool_fill_pending();
    ck_assert(!q->fill_wanted);
    pool_want_fill(q);
    ck_assert(q->fill_wanted);
    ck_assert(list_linked(&q->fill_link));
}
END_TEST

START_TEST(drained_counts)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    ck_assert(pool_drained(q));
    struct job *j = make_job(sa, q, 1, "/l.so", "f", 1, false, false, int_items(0, 2), 2);
    ck_assert(!pool_drained(q));
    struct task *t = sched_take_task(q);
    q->tasks_running++;
    sched_job_cancel(j);
    ck_assert_uint_eq(q->tasks_queued, 0);
    ck_assert(!pool_drained(q));   /* one still running */
    q->tasks_running--;
    sched_task_done(t, malloc(1), 0, 1);
    ck_assert(pool_drained(q));
}
END_TEST

START_TEST(check_marks_owner_dirty)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    while (session_take_dirty())
        ;
    pool_check(q);
    ck_assert_ptr_eq(session_take_dirty(), sa);
    ck_assert_ptr_null(session_take_dirty());
    ck_assert_int_eq(q->state, POOL_RUNNING);
}
END_TEST

START_TEST(fini_frees_everything)
{
    pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    pool_new(POOL_NAMED, "n", 1, 0, "/l.so", "init", "ab", 2, NULL);
    ck_assert_uint_eq(count_pools(), 3);
    pool_fini();
    ck_assert_uint_eq(count_pools(), 0);
    ck_assert_ptr_null(pool_default());
    ck_assert_ptr_null(pool_by_name("n"));
    ck_assert(list_empty(&sa->pools));
    /* And it can start over. */
    struct pool_config cfg = { .worker_path = NO_WORKER, .default_size = 1, .cpu_count = 1 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    ck_assert_ptr_nonnull(pool_default());
    ck_assert_ptr_eq(pool_by_name("default"), pool_default());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, default_pool);
    tcase_add_test(tc, config_is_copied_and_size_defaults);
    tcase_add_test(tc, names);
    tcase_add_test(tc, private_pool);
    tcase_add_test(tc, named_pool_lookup);
    tcase_add_test(tc, attach_detach_refcount);
    tcase_add_test(tc, attach_many_sessions);
    tcase_add_test(tc, default_pool_survives_last_detach);
    tcase_add_test(tc, named_pool_drains_after_last_detach);
    tcase_add_test(tc, close_idle_private_pool);
    tcase_add_test(tc, close_private_pool_with_workers);
    tcase_add_test(tc, no_refill_during_shutdown);
    tcase_add_test(tc, closed_pool_refills_for_queued_work);
    tcase_add_test(tc, close_keeps_broken_and_terminated);
    tcase_add_test(tc, terminate_fails_queued_and_kills);
    tcase_add_test(tc, break_fails_queued_and_stops_workers);
    tcase_add_test(tc, break_after_terminate_is_ignored);
    tcase_add_test(tc, broken_private_pool_waits_for_its_owner);
    tcase_add_test(tc, startup_deaths_retry_with_backoff);
    tcase_add_test(tc, only_a_ready_worker_resets_startup_failures);
    tcase_add_test(tc, spawn_failure_retries_with_backoff);
    tcase_add_test(tc, spawn_failing_pool_keeps_its_live_workers);
    tcase_add_test(tc, shutdown_stops_spawning);
    tcase_add_test(tc, want_fill_once);
    tcase_add_test(tc, drained_counts);
    tcase_add_test(tc, check_marks_owner_dirty);
    tcase_add_test(tc, fini_frees_everything);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
