/* test-scheduler.c - scheduler.c with pools and sessions but no processes:
 * workers are plain structs whose output buffer collects the frames they
 * would be sent. Chunk splitting, batch sizes, round-robin fairness, the
 * order of re-queued tasks, results, failures, cancel, deadlines,
 * maxtasksperchild and broken pools. */
#define WIRE_PROTOBUF 1
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "scheduler.h"
#include "session.h"
#include "util.h"
#include "wire.h"
#include "worker.h"

static struct session *sa, *sb;

static void setup(void)
{
    struct pool_config cfg = { .worker_path = "/nonexistent/polypool-worker",
                               .default_size = 2, .cpu_count = 2 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    sa = session_new(1, 100, 0, "a");
    sb = session_new(2, 200, 0, "b");
    ck_assert_ptr_nonnull(sa);
    ck_assert_ptr_nonnull(sb);
}

static struct worker *fake_worker(struct pool *p)
{
    struct worker *w = calloc(1, sizeof *w);
    w->pool = p;
    w->state = WORKER_READY;
    w->init_done = true;
    w->sock = w->pidfd = w->out_fd = w->err_fd = -1;
    buf_init(&w->out);
    list_init(&w->inflight);
    list_push_back(&p->workers, &w->pool_link);
    p->n_workers++;
    return w;
}

/* n integer items base, base+1, ... as a wire_items (one reference). */
static wire_items *ints(int64_t base, size_t n)
{
    Polypool__V1__Kind *k = calloc(n ? n : 1, sizeof *k);
    int64_t *iv = calloc(n ? n : 1, sizeof *iv);
    for (size_t i = 0; i < n; i++) {
        k[i] = POLYPOOL__V1__KIND__KIND_INT;
        iv[i] = base + (int64_t)i;
    }
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    v.n_kinds = v.n_ints = n;
    v.kinds = k;
    v.ints = iv;
    Polypool__V1__Submit sub = POLYPOOL__V1__SUBMIT__INIT;
    sub.items = &v;
    Polypool__V1__Request rq = POLYPOOL__V1__REQUEST__INIT;
    rq.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    rq.submit = &sub;
    size_t len = polypool__v1__request__get_packed_size(&rq);
    uint8_t *buf = malloc(len);
    polypool__v1__request__pack(&rq, buf);
    struct wire_req *r = wire_req_unpack(buf, len, 64 << 20);
    free(buf);
    free(k);
    free(iv);
    ck_assert_ptr_nonnull(r);
    size_t count;
    const char *why;
    ck_assert_int_eq(wire_values_check(r->msg->submit->items, false, &count, &why), 0);
    ck_assert_uint_eq(count, n);
    wire_items *it = wire_items_adopt(r, r->msg->submit->items, n);
    wire_req_free(r);
    return it;
}

static struct job *job(struct session *s, struct pool *p, uint64_t id, uint32_t chunk,
                       size_t n, int64_t base, bool more)
{
    struct job *j = sched_job_new(s, p, id, "/lib.so", "fn", chunk, false, false);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(session_add_job(s, j), 0);
    j->more = more;
    wire_items *it = n ? ints(base, n) : NULL;
    ck_assert_int_eq(sched_job_feed(j, it, n), 0);
    wire_items_unref(it);
    return j;
}

/* Counts the task and exit frames queued for w; tasks' first ints go to
 * firsts (job-absolute `first` to starts). */
static size_t frames(struct worker *w, size_t *exits, int64_t *firsts, uint64_t *starts,
                     uint64_t *jobs)
{
    size_t off = w->out.off, nt = 0;
    *exits = 0;
    while (off < w->out.len) {
        const uint8_t *p = w->out.data + off;
        size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
        Polypool__V1__WorkerMsg *m = polypool__v1__worker_msg__unpack(NULL, len, p + 4);
        ck_assert_ptr_nonnull(m);
        if (m->msg_case == POLYPOOL__V1__WORKER_MSG__MSG_TASK) {
            if (firsts)
                firsts[nt] = m->task->items->n_ints ? m->task->items->ints[0] : -1;
            if (starts)
                starts[nt] = m->task->first;
            if (jobs)
                jobs[nt] = m->task->job_id;
            nt++;
        } else if (m->msg_case == POLYPOOL__V1__WORKER_MSG__MSG_EXIT) {
            (*exits)++;
        }
        polypool__v1__worker_msg__free_unpacked(m, NULL);
        off += 4 + len;
    }
    return nt;
}

START_TEST(chunk_splitting)
{
    struct pool *p = pool_default();
    struct job *j = job(sa, p, 1, 3, 10, 100, false);
    ck_assert_uint_eq(j->received, 10);
    ck_assert_uint_eq(j->queued_tasks, 4);
    ck_assert_uint_eq(p->tasks_queued, 4);
    const uint64_t firsts[] = { 0, 3, 6, 9 };
    const uint32_t counts[] = { 3, 3, 3, 1 };
    for (int i = 0; i < 4; i++) {
        struct task *t = sched_take_task(p);
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_eq(t->job, j);
        ck_assert_uint_eq(t->first, firsts[i]);
        ck_assert_uint_eq(t->count, counts[i]);
        ck_assert_uint_eq(t->to.i - t->from.i, counts[i]);
        sched_task_requeue(t);   /* give it back... */
        t = sched_take_task(p);  /* ...and it is the next one again */
        ck_assert_uint_eq(t->first, firsts[i]);
        sched_task_free(t);   /* as if it ran elsewhere */
    }
    ck_assert_ptr_null(sched_take_task(p));
    ck_assert_uint_eq(p->tasks_queued, 0);
    ck_assert_uint_eq(j->running, 4);
}
END_TEST

/* As if tasks had been timed as instantaneous: the plain formula. */
static void timed_fast(struct pool *p)
{
    p->task_samples = 1;
    p->task_us_avg = 0;
}

START_TEST(batch_sizes)
{
    struct pool *p = pool_default();   /* size 2 */
    timed_fast(p);
    job(sa, p, 1, 1, 100, 0, false);
    struct worker *w1 = fake_worker(p), *w2 = fake_worker(p);
    /* 100 tasks / (2 * 2 workers) = 25 per batch. */
    ck_assert_uint_eq(sched_batch_size(p, w1), 25);
    sched_dispatch_worker(w1);
    ck_assert_uint_eq(w1->n_inflight, 25);
    size_t exits;
    int64_t firsts[64];
    ck_assert_uint_eq(frames(w1, &exits, firsts, NULL, NULL), 25);
    ck_assert_int_eq(firsts[0], 0);
    ck_assert_int_eq(firsts[24], 24);
    sched_dispatch_worker(w2);
    ck_assert_uint_eq(w2->n_inflight, 18);   /* 75 / 4 */
    ck_assert_uint_eq(p->tasks_queued, 100 - 25 - 18);
    ck_assert_uint_eq(p->tasks_running, 43);
    /* A busy worker gets nothing more while it has plenty queued. */
    sched_dispatch_worker(w1);
    ck_assert_uint_eq(w1->n_inflight, 25);
}
END_TEST

START_TEST(batch_small_and_capped)
{
    struct pool *p = pool_default();
    timed_fast(p);
    struct worker *w1 = fake_worker(p), *w2 = fake_worker(p);
    /* 5 slow items on 2 workers spread out: one each. */
    job(sa, p, 1, 1, 5, 0, false);
    ck_assert_uint_eq(w1->n_inflight, 1);
    ck_assert_uint_eq(w2->n_inflight, 1);
    ck_assert_uint_eq(p->tasks_queued, 3);
    /* A big job is capped at 64 per batch. */
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    timed_fast(q);
    struct worker *w3 = fake_worker(q);
    job(sa, q, 2, 1, 1000, 0, false);
    ck_assert_uint_eq(w3->n_inflight, 64);
}
END_TEST

START_TEST(batch_adapts_to_task_time)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct worker *w = fake_worker(q);
    job(sa, q, 1, 1, 1000, 0, false);
    /* Nothing timed yet: one task. */
    ck_assert_uint_eq(w->n_inflight, 1);
    ck_assert_uint_eq(sched_batch_size(q, w), 1);
    /* 5 ms tasks: a batch holds about 20 ms of work. */
    sched_note_task_time(q, 5000);
    ck_assert_uint_eq(q->task_us_avg, 5000);
    ck_assert_uint_eq(sched_batch_size(q, w), 4);
    /* Slow tasks (3 s): one at a time. */
    sched_note_task_time(q, 3000000);
    ck_assert_uint_eq(q->task_us_avg, (5000 * 7 + 3000000) / 8);
    ck_assert_uint_eq(sched_batch_size(q, w), 1);
    /* Tiny tasks: the formula's 64. */
    q->task_us_avg = 10;
    ck_assert_uint_eq(sched_batch_size(q, w), 64);
}
END_TEST

START_TEST(round_robin_fairness)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct job *ja = job(sa, q, 1, 1, 10, 0, false);
    struct job *jb = job(sb, q, 1, 1, 10, 1000, false);
    timed_fast(q);
    for (int i = 0; i < 8; i++) {
        struct task *t = sched_take_task(q);
        ck_assert_ptr_eq(t->job, i % 2 ? jb : ja);
        ck_assert_uint_eq(t->first, (uint64_t)i / 2);
        sched_task_done(t, malloc(1), 0, 1);
    }
    ck_assert_uint_eq(ja->resolved, 4);
    ck_assert_uint_eq(jb->resolved, 4);
    /* A batch to one worker alternates too. */
    struct worker *w = fake_worker(q);
    sched_dispatch_worker(w);   /* 12 queued / 2 = 6 */
    uint64_t jobs[16], starts[16];
    size_t exits;
    ck_assert_uint_eq(frames(w, &exits, NULL, starts, jobs), 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(jobs[i], 1);   /* both clients chose job id 1 */
        ck_assert_uint_eq(starts[i], 4 + (uint64_t)i / 2);
    }
    int n_a = 0;
    list_for_each (l, &w->inflight)
        n_a += container_of(l, struct task, link)->job == ja;
    ck_assert_int_eq(n_a, 3);
}
END_TEST

START_TEST(requeue_keeps_order)
{
    struct pool *p = pool_default();
    struct job *j = job(sa, p, 1, 1, 6, 0, false);
    struct task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = sched_take_task(p);
    ck_assert_uint_eq(j->running, 3);
    /* A dead worker's later tasks go back last-to-first. */
    for (int i = 2; i >= 0; i--)
        sched_task_requeue(t[i]);
    ck_assert_uint_eq(j->running, 0);
    ck_assert_uint_eq(j->queued_tasks, 6);
    for (uint64_t i = 0; i < 6; i++) {
        struct task *x = sched_take_task(p);
        ck_assert_uint_eq(x->first, i);
        sched_task_done(x, malloc(1), 0, 1);
    }
    ck_assert(sched_job_complete(j));
}
END_TEST

START_TEST(results_and_completion)
{
    struct pool *p = pool_default();
    struct job *j = job(sa, p, 5, 2, 4, 0, true);
    ck_assert(!sched_job_complete(j));
    struct task *t1 = sched_take_task(p), *t2 = sched_take_task(p);
    uint8_t *b = malloc(10);
    memcpy(b, "xxhello", 7);
    sched_task_done(t1, b, 2, 5);
    ck_assert_uint_eq(j->resolved, 2);
    ck_assert_uint_eq(j->n_ready, 1);
    ck_assert_uint_eq(j->ready_bytes, 5);
    struct task *r = container_of(j->ready.next, struct task, link);
    ck_assert_mem_eq(r->rbuf + r->roff, "hello", 5);
    sched_task_done(t2, malloc(3), 0, 3);
    ck_assert_uint_eq(j->resolved, 4);
    /* more was set: not complete until the input is. */
    ck_assert(!sched_job_complete(j));
    j->more = false;
    ck_assert(sched_job_complete(j));
    ck_assert(sa->dirty);
    ck_assert_ptr_eq(session_take_dirty(), sa);
    sched_job_release(j);
    ck_assert_ptr_null(session_job(sa, 5));
}
END_TEST

START_TEST(task_failure_batch)
{
    struct pool *p = pool_default();
    struct job *j = job(sa, p, 8, 2, 2, 0, false);
    struct task *t = sched_take_task(p);
    struct wire_error e = { .status = WS_EWORKER, .message = "worker 1 exited with code 3",
                            .exit_code = 3 };
    sched_task_fail(t, &e, "o", 1, NULL, 0);
    ck_assert_uint_eq(j->resolved, 2);
    ck_assert(sched_job_complete(j));
    struct task *r = container_of(j->ready.next, struct task, link);
    Polypool__V1__ResultBatch *b =
        polypool__v1__result_batch__unpack(NULL, r->rlen, r->rbuf + r->roff);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->job_id, 8);
    ck_assert_uint_eq(b->count, 2);
    ck_assert_uint_eq(b->n_errors, 2);
    ck_assert_int_eq(b->errors[1]->status, POLYPOOL__V1__STATUS__STATUS_EWORKER);
    ck_assert_int_eq(b->errors[1]->exit_code, 3);
    ck_assert_uint_eq(b->errors[1]->index, 1);
    ck_assert_uint_eq(b->out.len, 1);
    polypool__v1__result_batch__free_unpacked(b, NULL);
}
END_TEST

START_TEST(cancel_with_running_task)
{
    struct pool *p = pool_default();
    struct job *j = job(sa, p, 3, 1, 5, 0, false);
    struct task *t = sched_take_task(p);
    sched_job_cancel(j);
    ck_assert_ptr_null(session_job(sa, 3));
    ck_assert_uint_eq(p->tasks_queued, 0);
    ck_assert(list_empty(&p->rr));
    /* The running task's result is dropped and the job freed with it. */
    sched_task_done(t, malloc(4), 0, 4);
    ck_assert(list_empty(&sa->jobs_list));
}
END_TEST

START_TEST(deadline_expires)
{
    struct pool *p = pool_default();
    struct worker *w = fake_worker(p);
    struct job *j = job(sa, p, 4, 1, 5, 0, false);   /* w takes 1 (5 / 4) */
    ck_assert_uint_eq(w->n_inflight, 1);
    sched_job_set_deadline(j, now_ms() + 1000000);
    ck_assert_uint_eq(sched_tick(now_ms()), j->deadline);
    j->deadline = now_ms() - 1;
    ck_assert_uint_eq(sched_tick(now_ms()), UINT64_MAX);
    ck_assert(j->expired);
    /* Queued items failed at once; the running one's worker is killed. */
    ck_assert_uint_eq(j->resolved, 4);
    ck_assert_int_eq(w->kill_reason, KILL_DEADLINE);
    struct task *r = container_of(j->ready.next, struct task, link);
    Polypool__V1__ResultBatch *b =
        polypool__v1__result_batch__unpack(NULL, r->rlen, r->rbuf + r->roff);
    ck_assert_int_eq(b->errors[0]->status, POLYPOOL__V1__STATUS__STATUS_ETIMEDOUT);
    ck_assert_uint_eq(b->first, 1);
    ck_assert_uint_eq(b->count, 4);
    polypool__v1__result_batch__free_unpacked(b, NULL);
    /* More input for an expired job fails too. */
    j->more = true;
    wire_items *it = ints(0, 2);
    ck_assert_int_eq(sched_job_feed(j, it, 2), 0);
    wire_items_unref(it);
    ck_assert_uint_eq(j->resolved, 6);
}
END_TEST

START_TEST(maxtasksperchild)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 3, NULL, NULL, NULL, 0, sa);
    timed_fast(q);
    struct worker *w = fake_worker(q);
    job(sa, q, 1, 1, 10, 0, false);
    ck_assert_uint_eq(w->n_inflight, 3);
    ck_assert_int_eq(w->state, WORKER_EXITING);
    size_t exits;
    ck_assert_uint_eq(frames(w, &exits, NULL, NULL, NULL), 3);
    ck_assert_uint_eq(exits, 1);
    ck_assert_uint_eq(sched_batch_size(q, w), 0);
}
END_TEST

START_TEST(broken_pool_fails_items)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct job *j = job(sa, q, 1, 2, 5, 0, true);
    pool_break(q, WS_ENOSYM, "pool initializer failed: no symbol");
    ck_assert_int_eq(q->state, POOL_BROKEN);
    ck_assert_uint_eq(j->resolved, 5);
    ck_assert_uint_eq(q->tasks_queued, 0);
    wire_items *it = ints(0, 3);
    ck_assert_int_eq(sched_job_feed(j, it, 3), 0);
    wire_items_unref(it);
    ck_assert_uint_eq(j->resolved, 8);
    struct task *r = container_of(j->ready.prev, struct task, link);
    Polypool__V1__ResultBatch *b =
        polypool__v1__result_batch__unpack(NULL, r->rlen, r->rbuf + r->roff);
    ck_assert_int_eq(b->errors[0]->status, POLYPOOL__V1__STATUS__STATUS_ENOSYM);
    ck_assert_str_eq(b->errors[0]->message, "pool initializer failed: no symbol");
    ck_assert_uint_eq(b->first, 5);
    polypool__v1__result_batch__free_unpacked(b, NULL);
}
END_TEST

START_TEST(session_end_cleans_up)
{
    struct pool *q = pool_new(POOL_PRIVATE, "", 1, 0, NULL, NULL, NULL, 0, sa);
    struct pool *named = pool_new(POOL_NAMED, "n", 1, 0, NULL, NULL, NULL, 0, NULL);
    ck_assert_int_eq(pool_attach(named, sa), 0);
    uint64_t nid = named->id;
    job(sa, q, 1, 1, 10, 0, false);
    job(sa, pool_default(), 2, 1, 10, 0, false);
    ck_assert_uint_eq(pool_default()->tasks_queued, 10);
    session_destroy(sa);
    sa = NULL;
    /* Its queued work is gone; its private pool (no workers) is freed and
     * the named pool it was the last user of too. */
    ck_assert_uint_eq(pool_default()->tasks_queued, 0);
    ck_assert_ptr_null(pool_by_id(nid));
    ck_assert_ptr_null(pool_by_name("n"));
    size_t n = 0;
    list_for_each (l, pool_all())
        n++;
    ck_assert_uint_eq(n, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("scheduler");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, chunk_splitting);
    tcase_add_test(tc, batch_sizes);
    tcase_add_test(tc, batch_small_and_capped);
    tcase_add_test(tc, batch_adapts_to_task_time);
    tcase_add_test(tc, round_robin_fairness);
    tcase_add_test(tc, requeue_keeps_order);
    tcase_add_test(tc, results_and_completion);
    tcase_add_test(tc, task_failure_batch);
    tcase_add_test(tc, cancel_with_running_task);
    tcase_add_test(tc, deadline_expires);
    tcase_add_test(tc, maxtasksperchild);
    tcase_add_test(tc, broken_pool_fails_items);
    tcase_add_test(tc, session_end_cleans_up);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
