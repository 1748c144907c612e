/* test-session.c - session.c with real pools and jobs but no processes
 * (workers are fake_worker structs): lookups by pipe and id, the job map,
 * attachments and closed-pool notes, dirty marking, and what ending a
 * session does (jobs cancelled, private pools terminated, named pools
 * detached and destroyed by their last user, the default pool kept).
 *
 * Parked requests: session.c only keeps the list head and count; parking,
 * completing and expiring them is server.c's (nng) and is covered by the
 * integration tests. */
#include <check.h>

#include "unit-helpers.h"

static void setup(void)
{
    log_capture();
    struct pool_config cfg = { .worker_path = "/nonexistent/polypool-worker",
                               .default_size = 2, .cpu_count = 2 };
    ck_assert_int_eq(pool_init(&cfg), 0);
}

static void teardown(void)
{
    while (!list_empty(session_all()))
        session_destroy(container_of(session_all()->next, struct session, link));
    ck_assert_uint_eq(session_count(), 0);
    pool_fini();
}

static size_t list_len(const struct list *h)
{
    size_t n = 0;
    list_for_each (l, h)
        n++;
    return n;
}

START_TEST(new_and_lookup)
{
    char name[] = "client-a";
    struct session *a = session_new(7, 100, 1000, name);
    struct session *b = session_new(9, 200, 1001, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    name[0] = 'X';   /* the name was copied */
    ck_assert_str_eq(a->name, "client-a");
    ck_assert_str_eq(b->name, "");
    ck_assert_uint_eq(a->pipe, 7);
    ck_assert_uint_eq(a->pid, 100);
    ck_assert_uint_eq(a->uid, 1000);
    ck_assert_uint_gt(a->id, 0);
    ck_assert_uint_eq(b->id, a->id + 1);
    ck_assert_ptr_eq(session_by_pipe(7), a);
    ck_assert_ptr_eq(session_by_pipe(9), b);
    ck_assert_ptr_null(session_by_pipe(8));
    ck_assert_ptr_eq(session_by_id(a->id), a);
    ck_assert_ptr_eq(session_by_id(b->id), b);
    ck_assert_ptr_null(session_by_id(b->id + 1));
    ck_assert_uint_eq(session_count(), 2);
    ck_assert_ptr_eq(container_of(session_all()->next, struct session, link), a);
    ck_assert_ptr_eq(container_of(session_all()->prev, struct session, link), b);
    /* A fresh session owns nothing and has nothing parked. */
    ck_assert(list_empty(&a->jobs_list));
    ck_assert(list_empty(&a->parked));
    ck_assert_uint_eq(a->n_parked, 0);
    ck_assert(list_empty(&a->pools));
    ck_assert_uint_eq(a->n_attached, 0);
    ck_assert_uint_eq(a->n_closed, 0);
    ck_assert(!a->dirty);
}
END_TEST

START_TEST(destroy_removes_it)
{
    struct session *a = session_new(7, 100, 0, "a");
    struct session *b = session_new(8, 100, 0, "b");
    uint64_t aid = a->id;
    session_destroy(a);
    ck_assert_ptr_null(session_by_pipe(7));
    ck_assert_ptr_null(session_by_id(aid));
    ck_assert_uint_eq(session_count(), 1);
    ck_assert_uint_eq(list_len(session_all()), 1);
    ck_assert_ptr_eq(session_by_pipe(8), b);
    /* nng reuses pipe ids only much later, but a new session on the same
     * pipe id is a new session. */
    struct session *c = session_new(7, 300, 0, "c");
    ck_assert_ptr_eq(session_by_pipe(7), c);
    ck_assert_uint_gt(c->id, b->id);
    ck_assert_ptr_null(session_by_id(aid));
}
END_TEST

START_TEST(job_map)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *p = pool_default();
    struct job *j1 = sched_job_new(s, p, 10, "/l.so", "f", 1, false, false);
    struct job *j2 = sched_job_new(s, p, 3, "/l.so", "f", 1, false, false);
    ck_assert_int_eq(session_add_job(s, j1), 0);
    ck_assert_int_eq(session_add_job(s, j2), 0);
    ck_assert_ptr_eq(session_job(s, 10), j1);
    ck_assert_ptr_eq(session_job(s, 3), j2);
    ck_assert_ptr_null(session_job(s, 4));
    /* Oldest first. */
    ck_assert_ptr_eq(container_of(s->jobs_list.next, struct job, sess_link), j1);
    ck_assert_ptr_eq(container_of(s->jobs_list.prev, struct job, sess_link), j2);
    session_remove_job(s, j1);
    ck_assert_ptr_null(session_job(s, 10));
    ck_assert_uint_eq(list_len(&s->jobs_list), 1);
    ck_assert_ptr_eq(session_job(s, 3), j2);
    /* Removing twice is harmless. */
    session_remove_job(s, j1);
    ck_assert_ptr_eq(session_job(s, 3), j2);
    j1->sess = NULL;
    sched_job_release(j1);
    sched_job_release(j2);
    ck_assert(list_empty(&s->jobs_list));
    ck_assert_ptr_null(session_job(s, 3));
}
END_TEST

START_TEST(remove_job_keeps_a_reused_id)
{
    /* A client may reuse a job id once the old job is forgotten: removing
     * the old job must not drop the new one from the map. */
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *p = pool_default();
    struct job *old = sched_job_new(s, p, 5, "/l.so", "f", 1, false, false);
    struct job *neu = sched_job_new(s, p, 5, "/l.so", "f", 1, false, false);
    ck_assert_int_eq(session_add_job(s, old), 0);
    ck_assert_int_eq(session_add_job(s, neu), 0);
    ck_assert_ptr_eq(session_job(s, 5), neu);
    session_remove_job(s, old);
    ck_assert_ptr_eq(session_job(s, 5), neu);
    ck_assert_uint_eq(list_len(&s->jobs_list), 1);
    old->sess = NULL;
    sched_job_release(old);
    sched_job_release(neu);
}
END_TEST

START_TEST(attachments)
{
    struct session *s = session_new(1, 1, 0, "s");
    for (uint64_t id = 1; id <= 10; id++)
        ck_assert_int_eq(session_attach(s, id), 0);
    ck_assert_uint_eq(s->n_attached, 10);
    /* Attaching twice keeps one entry. */
    ck_assert_int_eq(session_attach(s, 4), 0);
    ck_assert_uint_eq(s->n_attached, 10);
    for (uint64_t id = 1; id <= 10; id++)
        ck_assert(session_attached(s, id));
    ck_assert(!session_attached(s, 11));
    session_detach(s, 4);
    ck_assert(!session_attached(s, 4));
    ck_assert_uint_eq(s->n_attached, 9);
    session_detach(s, 4);    /* not attached: nothing happens */
    session_detach(s, 99);
    ck_assert_uint_eq(s->n_attached, 9);
    for (uint64_t id = 1; id <= 10; id++)
        ck_assert(session_attached(s, id) == (id != 4));
    /* Pools it closed: the same set semantics. */
    ck_assert(!session_closed_pool(s, 3));
    ck_assert_int_eq(session_note_closed(s, 3), 0);
    ck_assert_int_eq(session_note_closed(s, 3), 0);
    ck_assert_uint_eq(s->n_closed, 1);
    ck_assert(session_closed_pool(s, 3));
    ck_assert(!session_attached(s, 11));
    session_forget_closed(s, 3);
    ck_assert(!session_closed_pool(s, 3));
    ck_assert_uint_eq(s->n_closed, 0);
}
END_TEST

START_TEST(has_work_on)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, s);
    ck_assert(!session_has_work_on(s, q->id));
    struct job *j = make_job(s, q, 1, "/l.so", "f", 1, false, false, int_items(0, 2), 2);
    ck_assert(session_has_work_on(s, q->id));
    ck_assert(!session_has_work_on(s, pool_default()->id));
    /* Resolved, but more input may come: still work. */
    struct job *k = make_job(s, pool_default(), 2, "/l.so", "f", 1, false, true, NULL, 0);
    ck_assert(session_has_work_on(s, pool_default()->id));
    k->more = false;
    ck_assert(!session_has_work_on(s, pool_default()->id));
    for (int i = 0; i < 2; i++)
        sched_task_done(sched_take_task(q), malloc(1), 0, 1);
    ck_assert(sched_job_complete(j));
    /* Complete but not yet collected: no work left on the pool. */
    ck_assert(!session_has_work_on(s, q->id));
}
END_TEST

START_TEST(dirty_marking)
{
    struct session *a = session_new(1, 1, 0, "a");
    struct session *b = session_new(2, 2, 0, "b");
    ck_assert_ptr_null(session_take_dirty());
    session_mark_dirty(a);
    session_mark_dirty(b);
    session_mark_dirty(a);   /* already dirty: stays in its place */
    ck_assert(a->dirty);
    ck_assert_ptr_eq(session_take_dirty(), a);
    ck_assert(!a->dirty);
    session_mark_dirty(a);   /* dirty again after being taken: at the back */
    ck_assert_ptr_eq(session_take_dirty(), b);
    ck_assert_ptr_eq(session_take_dirty(), a);
    ck_assert_ptr_null(session_take_dirty());
}
END_TEST

START_TEST(destroy_while_dirty)
{
    struct session *a = session_new(1, 1, 0, "a");
    struct session *b = session_new(2, 2, 0, "b");
    session_mark_dirty(a);
    session_mark_dirty(b);
    session_destroy(a);
    ck_assert_ptr_eq(session_take_dirty(), b);
    ck_assert_ptr_null(session_take_dirty());
}
END_TEST

START_TEST(result_marks_dirty)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct job *j = make_job(s, pool_default(), 1, "/l.so", "f", 1, false, false,
                             int_items(0, 1), 1);
    while (session_take_dirty())
        ;
    sched_task_done(sched_take_task(pool_default()), malloc(1), 0, 1);
    ck_assert(s->dirty);
    ck_assert_ptr_eq(session_take_dirty(), s);
    ck_assert(sched_job_complete(j));
}
END_TEST

START_TEST(async_ready_list)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *p = pool_default();
    struct job *a = sched_job_new(s, p, 1, "/l.so", "f", 1, false, true);
    struct job *w = sched_job_new(s, p, 2, "/l.so", "f", 1, false, false);
    ck_assert_int_eq(session_add_job(s, a), 0);
    ck_assert_int_eq(session_add_job(s, w), 0);
    a->more = w->more = false;
    wire_items *ia = int_items(0, 2), *iw = int_items(0, 2);
    ck_assert_int_eq(sched_job_feed(a, ia, 2), 0);
    ck_assert_int_eq(sched_job_feed(w, iw, 2), 0);
    wire_items_unref(ia);
    wire_items_unref(iw);
    ck_assert(list_empty(&s->async_ready));
    /* Results of the async job put it on the list once; the other job
     * never goes there. */
    for (int i = 0; i < 4; i++)
        sched_task_done(sched_take_task(p), malloc(1), 0, 1);
    ck_assert_uint_eq(list_len(&s->async_ready), 1);
    ck_assert_ptr_eq(container_of(s->async_ready.next, struct job, ready_link), a);
    /* Leaving the session takes it off. */
    sched_job_release(a);
    ck_assert(list_empty(&s->async_ready));
    sched_job_release(w);
}
END_TEST

START_TEST(destroy_cancels_jobs)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct session *other = session_new(2, 2, 0, "o");
    struct pool *p = pool_default();
    struct worker *w = fake_worker(p);
    p->task_samples = 1;   /* timed: batches follow the queue */
    /* s's job first: the worker takes a batch of it (20 / 4 = 5 tasks)
     * and nothing of the other job. */
    make_job(s, p, 1, "/l.so", "f", 1, false, false, int_items(0, 20), 20);
    struct job *keep = make_job(other, p, 1, "/l.so", "f", 1, false, false,
                                int_items(0, 4), 4);
    ck_assert_uint_eq(w->n_inflight, 5);
    list_for_each (l, &w->inflight)
        ck_assert_ptr_ne(container_of(l, struct task, link)->job, keep);
    session_mark_dirty(s);
    session_destroy(s);
    /* Cancelling marked it dirty again; destroying took it off the dirty
     * list (ASan would see a use after free here otherwise). */
    struct session *d;
    while ((d = session_take_dirty()))
        ck_assert_ptr_eq(d, other);
    /* Its queued tasks left the pool; the other session's did not. */
    ck_assert_uint_eq(p->tasks_queued, keep->queued_tasks);
    list_for_each (l, &p->rr)
        ck_assert_ptr_eq(container_of(l, struct job, rr_link), keep);
    /* Its running tasks come back later and are dropped (the job is freed
     * with the last one; ASan would see a use after free or a leak). */
    list_for_each_safe (l, tmp, &w->inflight) {
        struct task *t = container_of(l, struct task, link);
        list_del(l);
        w->n_inflight--;
        p->tasks_running--;
        sched_task_done(t, malloc(2), 0, 2);
    }
    ck_assert_uint_eq(list_len(&other->jobs_list), 1);
    /* The default pool and the other session are untouched. */
    ck_assert_ptr_eq(pool_default(), p);
    ck_assert_int_eq(p->state, POOL_RUNNING);
    while (p->tasks_queued) {
        struct task *t = sched_take_task(p);
        sched_task_done(t, malloc(1), 0, 1);
    }
    ck_assert(sched_job_complete(keep));
    fake_worker_gone(w, true, "test");
}
END_TEST

START_TEST(destroy_frees_idle_private_pools)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *q1 = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, s);
    struct pool *q2 = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, s);
    pool_break(q2, WS_ENOSPAWN, "cannot start");
    uint64_t id1 = q1->id, id2 = q2->id;
    ck_assert_uint_eq(list_len(&s->pools), 2);
    ck_assert_uint_eq(count_pools(), 3);
    session_destroy(s);
    ck_assert_ptr_null(pool_by_id(id1));
    ck_assert_ptr_null(pool_by_id(id2));
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(destroy_terminates_busy_private_pools)
{
    struct session *s = session_new(1, 1, 0, "s");
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, s);
    struct worker *w = fake_worker(q);
    make_job(s, q, 1, "/l.so", "f", 1, false, false, int_items(0, 5), 5);
    ck_assert_uint_eq(w->n_inflight, 1);
    uint64_t qid = q->id;
    session_destroy(s);
    /* Terminated: its worker is killed; the pool waits for the reaping. */
    ck_assert_int_eq(q->state, POOL_TERMINATED);
    ck_assert_ptr_null(q->owner);
    ck_assert_int_eq(w->kill_reason, KILL_TERMINATE);
    ck_assert_uint_eq(q->tasks_queued, 0);
    ck_assert_ptr_eq(pool_by_id(qid), q);
    /* The worker dies (as worker.c would report it) and the pool goes. */
    struct task *t = container_of(w->inflight.next, struct task, link);
    list_del(&t->link);
    w->n_inflight = 0;
    q->tasks_running--;
    struct wire_error e = { .status = WS_ECLOSED, .message = "pool terminated" };
    sched_task_fail(t, &e, NULL, 0, NULL, 0);
    fake_worker_gone(w, true, "killed");
    ck_assert_ptr_null(pool_by_id(qid));
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(destroy_detaches_named_pools)
{
    struct session *a = session_new(1, 1, 0, "a");
    struct session *b = session_new(2, 2, 0, "b");
    struct pool *n = pool_new(POOL_NAMED, "shared", 1, 0, NULL, NULL, NULL, 0, NULL);
    uint64_t nid = n->id;
    ck_assert_int_eq(pool_attach(n, a), 0);
    ck_assert_int_eq(pool_attach(n, b), 0);
    ck_assert_int_eq(pool_attach(pool_default(), a), 0);
    ck_assert(session_attached(a, nid));
    session_destroy(a);
    /* b still uses it. */
    ck_assert_ptr_eq(pool_by_name("shared"), n);
    ck_assert_uint_eq(n->n_sessions, 1);
    ck_assert_int_eq(n->state, POOL_RUNNING);
    /* The default pool is never destroyed. */
    ck_assert_ptr_nonnull(pool_default());
    ck_assert_int_eq(pool_default()->state, POOL_RUNNING);
    ck_assert_uint_eq(pool_default()->n_sessions, 0);
    session_destroy(b);
    ck_assert_ptr_null(pool_by_name("shared"));
    ck_assert_ptr_null(pool_by_id(nid));
    ck_assert_uint_eq(count_pools(), 1);
}
END_TEST

START_TEST(destroy_named_pool_with_workers)
{
    struct session *a = session_new(1, 1, 0, "a");
    struct pool *n = pool_new(POOL_NAMED, "shared", 2, 0, NULL, NULL, NULL, 0, NULL);
    struct worker *w1 = fake_worker(n), *w2 = fake_worker(n);
    ck_assert_int_eq(pool_attach(n, a), 0);
    session_destroy(a);
    /* Out of the maps at once (a new pool may take the name), closed, and
     * its idle workers told to exit; freed once they are reaped. */
    ck_assert_ptr_null(pool_by_name("shared"));
    ck_assert(n->gone);
    ck_assert_int_eq(n->state, POOL_CLOSED);
    size_t tasks, exits;
    fake_frames(w1, &tasks, &exits);
    ck_assert_uint_eq(exits, 1);
    fake_frames(w2, &tasks, &exits);
    ck_assert_uint_eq(exits, 1);
    ck_assert_int_eq(w1->state, WORKER_EXITING);
    struct pool *again = pool_new(POOL_NAMED, "shared", 1, 0, NULL, NULL, NULL, 0, NULL);
    ck_assert_ptr_eq(pool_by_name("shared"), again);
    ck_assert_uint_eq(count_pools(), 3);
    fake_worker_gone(w1, true, "exit 0");
    ck_assert_uint_eq(count_pools(), 3);
    fake_worker_gone(w2, true, "exit 0");
    ck_assert_uint_eq(count_pools(), 2);
    ck_assert_ptr_eq(pool_by_name("shared"), again);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_and_lookup);
    tcase_add_test(tc, destroy_removes_it);
    tcase_add_test(tc, job_map);
    tcase_add_test(tc, remove_job_keeps_a_reused_id);
    tcase_add_test(tc, attachments);
    tcase_add_test(tc, has_work_on);
    tcase_add_test(tc, dirty_marking);
    tcase_add_test(tc, destroy_while_dirty);
    tcase_add_test(tc, result_marks_dirty);
    tcase_add_test(tc, async_ready_list);
    tcase_add_test(tc, destroy_cancels_jobs);
    tcase_add_test(tc, destroy_frees_idle_private_pools);
    tcase_add_test(tc, destroy_terminates_busy_private_pools);
    tcase_add_test(tc, destroy_detaches_named_pools);
    tcase_add_test(tc, destroy_named_pool_with_workers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
