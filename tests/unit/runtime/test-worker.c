/* test-worker.c - worker.c with the real polypool-worker of this build
 * (POLYPOOL_WORKER) running the task functions of libpptest.so
 * (PPTEST_LIB), driven by the real loop (loop.c) with the daemon's hooks
 * minus the server: spawning, the hello/init handshake, results, big frames
 * that need EPOLLOUT, deaths (the running task fails with the signal or
 * exit code and its salvaged output; the tasks queued behind it go back to
 * their jobs), maxtasksperchild, termination, deadlines, a pool broken by
 * its initializer, pools whose workers cannot start (spawn errors, deaths
 * before ready: items fail ENOSPAWN, the loop retries after a backoff, and
 * the pool recovers once the binary at its worker path works again), and
 * shutdown.
 *
 * Each wait is a loop_run that stops when a condition holds or its
 * deadline passes (WAIT_MS); nothing sleeps a fixed time.
 *
 * The waitpid fallback for kernels without pidfd_open is reached by taking
 * a worker's pidfd away.
 *
 * Not covered here: protocol errors from a worker (the real worker does
 * not send bad frames), output over the 16 MiB capture cap and results over
 * FRAME_MAX (too big for a unit test). */
#include <check.h>
#include <signal.h>

#include "loop.h"
#include "unit-helpers.h"

#define WAIT_MS 20000

static const char *worker_path, *pptest;
static struct session *sa;

/* ---- the loop, as main.c drives it, minus the server ---------------------- */

static bool (*cond)(void);
static uint64_t until;
static bool timed_out;

static uint64_t h_tick(uint64_t now)
{
    uint64_t next = sched_tick(now);
    uint64_t n2 = worker_tick(now);
    if (n2 < next)
        next = n2;
    n2 = pool_tick(now);
    if (n2 < next)
        next = n2;
    if (until && now >= until) {
        timed_out = true;
        loop_stop();
    } else if (until && until < next) {
        next = until;
    }
    return next;
}

static void h_idle(void)
{
    pool_fill_pending();
    worker_reap_dead();
    if (cond && cond())
        loop_stop();
}

static const struct loop_hooks hooks = { .tick = h_tick, .idle = h_idle };

/* Runs the loop until c() holds; false if WAIT_MS passed first. */
static bool run_until(bool (*c)(void))
{
    pool_fill_pending();
    worker_reap_dead();
    if (c())
        return true;
    cond = c;
    timed_out = false;
    until = now_ms() + WAIT_MS;
    daemon_lock();
    loop_deadline(until);
    daemon_unlock();
    loop_run();
    cond = NULL;
    until = 0;
    return c();
}

#define WAIT_FOR(c) ck_assert_msg(run_until(c), "timed out waiting for " #c)

static void setup(void)
{
    worker_path = getenv("POLYPOOL_WORKER");
    pptest = getenv("PPTEST_LIB");
    ck_assert_msg(worker_path && pptest, "run under meson: POLYPOOL_WORKER and PPTEST_LIB");
    log_capture();
    ck_assert_int_eq(loop_init(&hooks), 0);
    struct pool_config cfg = { .worker_path = worker_path, .default_size = 1, .cpu_count = 1 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    /* The default pool's worker is not needed here. */
    list_del(&pool_default()->fill_link);
    pool_default()->fill_wanted = false;
    sa = session_new(1, (uint32_t)getpid(), 0, "test");
}

static void remove_link_dir(void);

static void teardown(void)
{
    remove_link_dir();
    worker_shutdown_all(200, 2000);
    ck_assert_uint_eq(worker_count(), 0);
    while (!list_empty(session_all()))
        session_destroy(container_of(session_all()->next, struct session, link));
    pool_fini();
    worker_reap_dead();
    loop_fini();
}

/* ---- the state conditions wait on ----------------------------------------- */

static struct pool *P;
static uint64_t P_id;
static struct job *J, *J2;

static struct worker *first_worker(struct pool *p)
{
    return list_empty(&p->workers) ? NULL
                                   : container_of(p->workers.next, struct worker, pool_link);
}

static bool worker_is_ready(void)
{
    struct worker *w = first_worker(P);
    return w && w->state == WORKER_READY;
}

static bool worker_is_busy(void)
{
    struct worker *w = first_worker(P);
    return w && w->state == WORKER_READY && w->n_inflight > 0;
}

static bool any_busy(void)
{
    list_for_each (l, &P->workers)
        if (container_of(l, struct worker, pool_link)->n_inflight)
            return true;
    return false;
}

static bool job_done(void)
{
    return sched_job_complete(J);
}

static bool jobs_done(void)
{
    return sched_job_complete(J) && sched_job_complete(J2);
}

static bool no_workers(void)
{
    return worker_count() == 0;
}

static bool pool_freed(void)
{
    return pool_by_id(P_id) == NULL;
}

static bool pool_broken_and_idle(void)
{
    return P->state == POOL_BROKEN && P->n_workers == 0;
}

static struct pool *private_pool(uint32_t size, uint32_t maxtasks, const char *init_sym,
                                 const void *initargs, size_t initargs_len)
{
    P = pool_new(POOL_PRIVATE, "", size, maxtasks, init_sym ? pptest : NULL, init_sym,
                 initargs, initargs_len, sa);
    ck_assert_ptr_nonnull(P);
    P_id = P->id;
    return P;
}

static struct job *job(uint64_t id, const char *sym, uint32_t chunk, bool star,
                       wire_items *items, size_t n)
{
    return make_job(sa, P, id, pptest, sym, chunk, star, false, items, n);
}

/* "worker PID killed by signal 11 (SIGSEGV)" -> PID */
static int pid_in(const char *msg)
{
    int pid = 0;
    ck_assert_int_eq(sscanf(msg, "worker %d", &pid), 1);
    return pid;
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(spawn_and_handshake)
{
    private_pool(2, 0, NULL, NULL, 0);
    ck_assert_uint_eq(worker_count(), 0);
    pool_fill_pending();
    /* Both spawned at once, starting. */
    ck_assert_uint_eq(worker_count(), 2);
    ck_assert_uint_eq(P->n_workers, 2);
    list_for_each (l, &P->workers) {
        struct worker *w = container_of(l, struct worker, pool_link);
        ck_assert_int_gt(w->pid, 0);
        ck_assert_int_ge(w->sock, 0);
        ck_assert_int_ge(w->out_fd, 0);
        ck_assert_int_ge(w->err_fd, 0);
        ck_assert_ptr_eq(w->pool, P);
        ck_assert_int_eq(w->kind, WORKER_KIND_C);
        ck_assert_int_eq(w->state, WORKER_STARTING);
        ck_assert_str_eq(worker_state_name(w), "starting");
    }
    WAIT_FOR(worker_is_ready);
    struct worker *w = first_worker(P);
    ck_assert(w->hello_seen);
    ck_assert(w->init_done);
    ck_assert_str_eq(worker_state_name(w), "idle");
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_uint_eq(P->startup_failures, 0);
}
END_TEST

START_TEST(results_come_back)
{
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_square", 2, false, int_items(1, 7), 7);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    for (int i = 0; i < 7; i++) {
        ck_assert(r.item[i].seen);
        ck_assert_int_eq(r.item[i].kind, POLYPOOL__V1__KIND__KIND_INT);
        ck_assert_int_eq(r.item[i].ival, (i + 1) * (i + 1));
    }
    ck_assert_uint_eq(J->resolved, 7);
    ck_assert_uint_eq(P->tasks_done, 4);
    ck_assert_uint_eq(P->tasks_running, 0);
    ck_assert_uint_gt(P->task_samples, 0);
    struct worker *w = first_worker(P);
    ck_assert_uint_eq(w->tasks_done, 4);
    ck_assert_uint_eq(w->tasks_sent, 4);
    ck_assert_uint_eq(w->n_inflight, 0);
    ck_assert(sa->dirty);
}
END_TEST

START_TEST(output_goes_with_its_result)
{
    private_pool(1, 0, NULL, NULL, 0);
    struct vb b = { 0 };
    vb_str(&b, "hi");
    vb_str(&b, "there");
    J = job(1, "pt_print", 1, false, vb_items(&b, 2), 2);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    ck_assert_str_eq(r.item[0].sval, "hi");
    ck_assert_str_eq(r.item[1].sval, "there");
    ck_assert_str_eq(r.out, "out:hi\nout:there\n");
    ck_assert_str_eq(r.err, "err:hi\nerr:there\n");
}
END_TEST

START_TEST(star_arguments)
{
    private_pool(1, 0, NULL, NULL, 0);
    /* [[1, 2], 5, [3, 4]]: the middle item is not a sequence. The daemon's
     * own check would refuse it (wire_values_check with star); here it
     * reaches the worker, which fails just that item. */
    struct vb b = { 0 };
    vb_list(&b, 2);
    vb_int(&b, 1);
    vb_int(&b, 2);
    vb_int(&b, 5);
    vb_list(&b, 2);
    vb_int(&b, 3);
    vb_int(&b, 4);
    J = job(1, "pt_add", 3, true, vb_items(&b, 3), 3);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, 0);
    ck_assert_int_eq(r.item[0].ival, 3);
    ck_assert_int_eq(r.item[1].status, WS_ETASK);
    ck_assert_str_eq(r.item[1].msg, "starmap item is not a sequence");
    ck_assert_int_eq(r.item[1].kind, POLYPOOL__V1__KIND__KIND_NULL);
    ck_assert_int_eq(r.item[2].status, 0);
    ck_assert_int_eq(r.item[2].ival, 7);
}
END_TEST

START_TEST(big_frames_both_ways)
{
    /* 4 MiB in one task frame and back: more than a socketpair buffer, so
     * the daemon's writes go through EPOLLOUT and its reads are
     * incremental. */
    private_pool(1, 0, NULL, NULL, 0);
    enum { N = 64, LEN = 64 << 10 };
    char *s[N];
    struct vb b = { 0 };
    for (int i = 0; i < N; i++) {
        s[i] = malloc(LEN + 1);
        memset(s[i], 'a' + i % 26, LEN);
        s[i][LEN] = '\0';
        vb_str(&b, s[i]);
    }
    J = job(1, "pt_echo", N, false, vb_items(&b, N), N);
    struct worker *w = NULL;
    WAIT_FOR(worker_is_ready);
    w = first_worker(P);
    WAIT_FOR(job_done);
    ck_assert(!w->want_write);
    ck_assert_uint_eq(buf_unread(&w->out), 0);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(r.item[i].slen, LEN);
        ck_assert_int_eq(r.item[i].sval[0], 'a' + i % 26);
        free(s[i]);
    }
}
END_TEST

START_TEST(segv_fails_its_task_and_requeues_the_rest)
{
    private_pool(1, 0, NULL, NULL, 0);
    /* Timed as instantaneous: the first batch follows the queue (7 / 2 =
     * 3 tasks): the crashing task and two of the other job's behind it. */
    P->task_samples = 1;
    P->task_us_avg = 0;
    J = job(1, "pt_segv", 1, false, int_items(0, 1), 1);
    J2 = job(2, "pt_square", 1, false, int_items(1, 6), 6);
    WAIT_FOR(worker_is_busy);
    struct worker *w = first_worker(P);
    int first_pid = w->pid;
    /* The crashing task is first, so no result can have come back yet. */
    ck_assert_uint_eq(w->n_inflight, 3);
    ck_assert_str_eq(worker_state_name(w), "busy");
    struct job *sent[3];
    int i = 0;
    list_for_each (l, &w->inflight)
        sent[i++] = container_of(l, struct task, link)->job;
    ck_assert_ptr_eq(sent[0], J);
    ck_assert_ptr_eq(sent[1], J2);
    ck_assert_ptr_eq(sent[2], J2);

    WAIT_FOR(jobs_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, SIGSEGV);
    ck_assert_int_eq(r.item[0].code, 0);
    char want[256];
    snprintf(want, sizeof want, "worker %d killed by signal 11 (SIGSEGV)", first_pid);
    ck_assert_str_eq(r.item[0].msg, want);
    snprintf(want, sizeof want, "worker %d, %s:pt_segv, items 0..0", first_pid, pptest);
    ck_assert_str_eq(r.item[0].where, want);
    /* The two tasks behind it were re-run, not failed. */
    read_results(J2, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(r.item[k].ival, (k + 1) * (k + 1));
    /* The dead worker was replaced; the pool runs on. */
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_uint_eq(P->n_workers, 1);
    ck_assert_int_ne(first_worker(P)->pid, first_pid);
    ck_assert_uint_eq(P->tasks_running, 0);
    snprintf(want, sizeof want, " warn: pool %llu: worker %d killed by signal 11 (SIGSEGV)\n",
             (unsigned long long)P->id, first_pid);
    ck_assert_ptr_nonnull(strstr(log_text(), want));
}
END_TEST

START_TEST(crash_output_is_salvaged)
{
    private_pool(1, 0, NULL, NULL, 0);
    P->task_samples = 1;
    P->task_us_avg = 0;
    /* One batch of 4 / 2 = 2 tasks: one that prints and returns, then one
     * that prints and crashes. The first one's output travels with its
     * result; only the second one's is salvaged from the memfds. */
    struct vb b1 = { 0 }, b2 = { 0 };
    vb_str(&b1, "a");
    vb_str(&b1, "b");
    vb_str(&b1, "c");
    vb_str(&b2, "last words");
    J = job(1, "pt_print", 1, false, vb_items(&b1, 3), 3);
    J2 = job(2, "pt_print_then_segv", 1, false, vb_items(&b2, 1), 1);
    WAIT_FOR(worker_is_busy);
    /* tasks_sent, not n_inflight: the first result may be in already. */
    ck_assert_uint_eq(first_worker(P)->tasks_sent, 2);
    WAIT_FOR(jobs_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    ck_assert_str_eq(r.out, "out:a\nout:b\nout:c\n");
    ck_assert_str_eq(r.err, "err:a\nerr:b\nerr:c\n");
    read_results(J2, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, SIGSEGV);
    ck_assert_str_eq(r.out, "out:last words\n");
    ck_assert_str_eq(r.err, "err:last words\n");
}
END_TEST

START_TEST(exit_code_is_reported)
{
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_exit", 1, false, int_items(3, 1), 1);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, 0);
    ck_assert_int_eq(r.item[0].code, 3);
    char want[128];
    snprintf(want, sizeof want, "worker %d exited with code 3", pid_in(r.item[0].msg));
    ck_assert_str_eq(r.item[0].msg, want);
}
END_TEST

START_TEST(sigkill_mid_batch)
{
    /* One batch of 7 / 2 = 3 tasks: J[0], the SIGKILL, J[1]. The result
     * sent before the death counts; the task behind it runs again. */
    private_pool(1, 0, NULL, NULL, 0);
    P->task_samples = 1;
    P->task_us_avg = 0;
    J = job(1, "pt_square", 1, false, int_items(2, 6), 6);
    J2 = job(2, "pt_kill_self", 1, false, int_items(0, 1), 1);
    WAIT_FOR(worker_is_busy);
    /* tasks_sent, not n_inflight: the first result may be in already. */
    ck_assert_uint_eq(first_worker(P)->tasks_sent, 3);
    WAIT_FOR(jobs_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(r.item[i].ival, (i + 2) * (i + 2));
    read_results(J2, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, SIGKILL);
    char want[128];
    snprintf(want, sizeof want, "worker %d killed by signal 9 (SIGKILL)", pid_in(r.item[0].msg));
    ck_assert_str_eq(r.item[0].msg, want);
}
END_TEST

START_TEST(abort_is_reported)
{
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_abort", 1, false, int_items(0, 1), 1);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, SIGABRT);
    char want[128];
    snprintf(want, sizeof want, "worker %d killed by signal 6 (SIGABRT)", pid_in(r.item[0].msg));
    ck_assert_str_eq(r.item[0].msg, want);
}
END_TEST

START_TEST(death_without_pidfd)
{
    /* As on kernels without pidfd_open: the socket's EOF schedules a tick
     * and worker_tick reaps the worker with waitpid. */
    private_pool(1, 0, NULL, NULL, 0);
    WAIT_FOR(worker_is_ready);
    struct worker *w = first_worker(P);
    ck_assert_int_ge(w->pidfd, 0);
    loop_del(&w->pid_src);
    close(w->pidfd);
    w->pidfd = w->pid_src.fd = -1;
    int pid = w->pid;
    J = job(1, "pt_segv", 1, false, int_items(0, 1), 1);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_EWORKER);
    ck_assert_int_eq(r.item[0].sig, SIGSEGV);
    ck_assert_int_eq(pid_in(r.item[0].msg), pid);
    /* Replaced (the new one has a pidfd again). */
    WAIT_FOR(worker_is_ready);
    ck_assert_int_ne(first_worker(P)->pid, pid);
    ck_assert_uint_eq(worker_count(), 1);
}
END_TEST

START_TEST(initializer_output_goes_with_the_first_task)
{
    /* initargs: ["init"] -> pt_print("init") as the initializer */
    struct vb b = { 0 };
    vb_list(&b, 1);
    vb_str(&b, "init");
    Polypool__V1__Values v = vb_values(&b);
    size_t len;
    uint8_t *packed = wire_values_pack(&v, &len);
    ck_assert_ptr_nonnull(packed);
    private_pool(1, 0, "pt_print", packed, len);
    free(packed);
    struct vb t = { 0 };
    vb_str(&t, "task");
    J = job(1, "pt_print", 1, false, vb_items(&t, 1), 1);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    ck_assert_str_eq(r.out, "out:init\nout:task\n");
    ck_assert_str_eq(r.err, "err:init\nerr:task\n");
}
END_TEST

START_TEST(initargs_must_be_a_list)
{
    struct vb b = { 0 };
    vb_int(&b, 5);
    Polypool__V1__Values v = vb_values(&b);
    size_t len;
    uint8_t *packed = wire_values_pack(&v, &len);
    private_pool(1, 0, "pt_init", packed, len);
    free(packed);
    WAIT_FOR(pool_broken_and_idle);
    ck_assert_int_eq(P->broken_status, WS_EINVAL);
    ck_assert_str_eq(P->broken_msg, "pool initializer failed: initargs is not a list");
}
END_TEST

START_TEST(initializer_runs_first)
{
    /* initargs: one LIST [42] -> pt_init(42) */
    struct vb b = { 0 };
    vb_list(&b, 1);
    vb_int(&b, 42);
    Polypool__V1__Values v = vb_values(&b);
    size_t len;
    uint8_t *packed = wire_values_pack(&v, &len);
    ck_assert_ptr_nonnull(packed);
    private_pool(1, 0, "pt_init", packed, len);
    free(packed);
    J = job(1, "pt_get_init", 1, false, int_items(0, 2), 2);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    ck_assert_int_eq(r.item[0].ival, 42);
    ck_assert_int_eq(r.item[1].ival, 42);
    ck_assert_int_eq(P->state, POOL_RUNNING);
}
END_TEST

START_TEST(failing_initializer_breaks_the_pool)
{
    private_pool(2, 0, "pt_fail", NULL, 0);
    J = job(1, "pt_square", 1, false, int_items(0, 3), 3);
    WAIT_FOR(pool_broken_and_idle);
    ck_assert_int_eq(P->broken_status, WS_ETASK);
    ck_assert_str_eq(P->broken_msg, "pool initializer failed: pt_fail: (no message)");
    ck_assert(job_done());
    struct results r;
    read_results(J, &r);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ETASK);
        ck_assert_str_eq(r.item[i].msg, "pool initializer failed: pt_fail: (no message)");
    }
    /* Its workers were told to exit and were not replaced. */
    WAIT_FOR(no_workers);
    ck_assert(!P->fill_wanted);
    ck_assert_int_eq(P->state, POOL_BROKEN);
    /* The owner closes it: gone. */
    pool_close(P);
    ck_assert(pool_freed());
}
END_TEST

START_TEST(missing_initializer_symbol)
{
    private_pool(1, 0, "pt_no_such_init", NULL, 0);
    WAIT_FOR(pool_broken_and_idle);
    ck_assert_int_eq(P->broken_status, WS_ENOSYM);
    char want[1024];
    snprintf(want, sizeof want,
             "pool initializer failed: symbol 'pt_no_such_init' not found in %s", pptest);
    ck_assert_str_eq(P->broken_msg, want);
}
END_TEST

START_TEST(maxtasksperchild_replaces_workers)
{
    private_pool(1, 2, NULL, NULL, 0);
    J = job(1, "pt_count_calls", 1, false, int_items(0, 5), 5);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    /* Two tasks per process: the count starts again in each new one. */
    const int64_t want[] = { 1, 2, 1, 2, 1 };
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(r.item[i].ival, want[i]);
    /* Clean exits are not warnings. */
    ck_assert_ptr_null(strstr(log_text(), " warn: "));
    ck_assert_int_eq(P->state, POOL_RUNNING);
}
END_TEST

START_TEST(terminate_kills_running_tasks)
{
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_sleep_ms", 1, false, int_items(60000, 3), 3);
    WAIT_FOR(worker_is_busy);
    int pid = first_worker(P)->pid;
    pool_terminate(P);
    WAIT_FOR(pool_freed);
    ck_assert(job_done());
    struct results r;
    read_results(J, &r);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ECLOSED);
        ck_assert_str_eq(r.item[i].msg, "pool terminated");
    }
    /* The running one names its worker. */
    char want[256];
    snprintf(want, sizeof want, "worker %d, %s:pt_sleep_ms, items 0..0", pid, pptest);
    ck_assert_str_eq(r.item[0].where, want);
    ck_assert_ptr_null(J->pool);
    ck_assert_uint_eq(worker_count(), 0);
}
END_TEST

START_TEST(deadline_kills_the_worker)
{
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_sleep_ms", 1, false, int_items(60000, 1), 1);
    WAIT_FOR(worker_is_busy);
    int pid = first_worker(P)->pid;
    sched_job_set_deadline(J, now_ms() + 50);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_ETIMEDOUT);
    ck_assert_str_eq(r.item[0].msg, "job deadline passed; its worker was killed");
    /* A killed worker is replaced, and its death is no warning. */
    WAIT_FOR(worker_is_ready);
    ck_assert_int_ne(first_worker(P)->pid, pid);
    ck_assert_ptr_null(strstr(log_text(), " warn: "));
}
END_TEST

/* A worker path that the test can point at another binary, as when the
 * real one is missing for a while: a symlink in a private directory. */
static char link_dir[64], link_path[96];

static void point_worker_at(const char *target)
{
    if (!link_dir[0]) {
        snprintf(link_dir, sizeof link_dir, "/tmp/pp-unit-worker-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(link_dir));
        snprintf(link_path, sizeof link_path, "%s/worker", link_dir);
    }
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/next", link_dir);
    unlink(tmp);
    if (target) {
        ck_assert_int_eq(symlink(target, tmp), 0);
        ck_assert_int_eq(rename(tmp, link_path), 0);   /* atomic swap */
    } else {
        unlink(link_path);
    }
}

static void remove_link_dir(void)
{
    if (!link_dir[0])
        return;
    point_worker_at(NULL);
    rmdir(link_dir);
    link_dir[0] = '\0';
}

/* The pools use link_path as their worker binary, pointed at target. */
static void restart_pools_with_link(const char *target)
{
    point_worker_at(target);
    pool_fini();
    struct pool_config cfg = { .worker_path = link_path, .default_size = 1, .cpu_count = 1 };
    ck_assert_int_eq(pool_init(&cfg), 0);
    list_del(&pool_default()->fill_link);
    pool_default()->fill_wanted = false;
}

static bool spawn_failing_and_idle(void)
{
    return P->spawn_error[0] && P->n_workers == 0;
}

static bool backoff_doubled_twice(void)
{
    return P->respawn_ms >= 4 * POOL_RESPAWN_MIN_MS;
}

/* Items are fed while the pool is spawn-failing and no worker is left:
 * they fail at once (J2), never queue. */
static void assert_fed_items_fail_at_once(const char *prefix, const char *suffix)
{
    WAIT_FOR(spawn_failing_and_idle);
    J2 = job(2, "pt_square", 1, false, int_items(0, 3), 3);
    ck_assert(sched_job_complete(J2));
    ck_assert_uint_eq(P->tasks_queued, 0);
    struct results r;
    read_results(J2, &r);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        const char *m = r.item[i].msg;
        ck_assert_msg(!strncmp(m, prefix, strlen(prefix)), "%s", m);
        ck_assert_msg(strlen(m) >= strlen(suffix) &&
                          !strcmp(m + strlen(m) - strlen(suffix), suffix), "%s", m);
    }
}

/* Spawning works again: the pool recovers at its next retry and runs a
 * task; J3 is that task's job. */
static void assert_recovers(void)
{
    point_worker_at(worker_path);
    WAIT_FOR(worker_is_ready);
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_str_eq(P->spawn_error, "");
    ck_assert_uint_eq(P->respawn_ms, 0);
    ck_assert_uint_eq(P->respawn_at, 0);
    ck_assert_uint_eq(P->startup_failures, 0);
    J = job(3, "pt_square", 1, false, int_items(7, 1), 1);
    WAIT_FOR(job_done);
    struct results r;
    read_results(J, &r);
    ck_assert_uint_eq(r.n_errors, 0);
    ck_assert_int_eq(r.item[0].ival, 49);
    char line[128];
    snprintf(line, sizeof line, " info: pool %llu (private): workers start again\n",
             (unsigned long long)P->id);
    ck_assert_ptr_nonnull(strstr(log_text(), line));
}

START_TEST(workers_dying_at_startup_retry_until_they_start)
{
    restart_pools_with_link("/bin/false");
    private_pool(1, 0, NULL, NULL, 0);
    J = job(1, "pt_square", 1, false, int_items(0, 2), 2);
    /* Three deaths before ready: the queued items fail, the pool is not
     * broken, and it keeps retrying with a growing delay. */
    WAIT_FOR(job_done);
    const char *pre = "workers keep dying at startup (last: worker ";
    const char *post = " exited with code 1)";
    struct results r;
    read_results(J, &r);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        const char *m = r.item[i].msg;
        ck_assert_msg(!strncmp(m, pre, strlen(pre)), "%s", m);
        ck_assert_msg(strlen(m) > strlen(post) && !strcmp(m + strlen(m) - strlen(post), post),
                      "%s", m);
    }
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_ptr_null(P->broken_msg);
    ck_assert_ptr_nonnull(strstr(log_text(), "; retrying in 100 ms (pool.c:"));
    assert_fed_items_fail_at_once(pre, post);
    WAIT_FOR(backoff_doubled_twice);
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_ptr_nonnull(strstr(log_text(), "; retrying in 400 ms (pool.c:"));
    assert_recovers();
    remove_link_dir();
}
END_TEST

START_TEST(spawn_failure_retries_until_it_works)
{
    restart_pools_with_link(NULL);   /* no binary at the path yet */
    private_pool(2, 0, NULL, NULL, 0);
    J = job(1, "pt_square", 1, false, int_items(0, 2), 2);
    pool_fill_pending();
    char want[256];
    snprintf(want, sizeof want, "cannot start worker %s: No such file or directory", link_path);
    ck_assert_str_eq(P->spawn_error, want);
    ck_assert_int_eq(P->state, POOL_RUNNING);
    ck_assert_ptr_null(P->broken_msg);
    ck_assert(job_done());
    struct results r;
    read_results(J, &r);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r.item[i].status, WS_ENOSPAWN);
        ck_assert_str_eq(r.item[i].msg, want);
    }
    assert_fed_items_fail_at_once(want, "");
    /* The loop retries on its own: 100 ms, then 200 ms, then 400 ms. */
    WAIT_FOR(backoff_doubled_twice);
    ck_assert_uint_eq(P->n_workers, 0);
    assert_recovers();
    /* Both slots fill once spawning works. */
    ck_assert_uint_eq(P->n_workers, 2);
    remove_link_dir();
}
END_TEST

START_TEST(shutdown_all_reaps_everything)
{
    private_pool(3, 0, NULL, NULL, 0);
    J = job(1, "pt_sleep_ms", 1, false, int_items(60000, 1), 1);
    WAIT_FOR(any_busy);
    ck_assert_uint_eq(worker_count(), 3);
    /* Idle workers exit when told; the busy one is killed after kill_ms. */
    worker_shutdown_all(50, 200);
    ck_assert_uint_eq(worker_count(), 0);
    ck_assert(job_done());
    struct results r;
    read_results(J, &r);
    ck_assert_int_eq(r.item[0].status, WS_ECLOSED);
    ck_assert_str_eq(r.item[0].msg, "daemon shutting down");
    /* Nothing respawns. */
    pool_fill_pending();
    ck_assert_uint_eq(worker_count(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("worker");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spawn_and_handshake);
    tcase_add_test(tc, results_come_back);
    tcase_add_test(tc, output_goes_with_its_result);
    tcase_add_test(tc, star_arguments);
    tcase_add_test(tc, big_frames_both_ways);
    tcase_add_test(tc, segv_fails_its_task_and_requeues_the_rest);
    tcase_add_test(tc, crash_output_is_salvaged);
    tcase_add_test(tc, exit_code_is_reported);
    tcase_add_test(tc, sigkill_mid_batch);
    tcase_add_test(tc, abort_is_reported);
    tcase_add_test(tc, death_without_pidfd);
    tcase_add_test(tc, initializer_runs_first);
    tcase_add_test(tc, initializer_output_goes_with_the_first_task);
    tcase_add_test(tc, initargs_must_be_a_list);
    tcase_add_test(tc, failing_initializer_breaks_the_pool);
    tcase_add_test(tc, missing_initializer_symbol);
    tcase_add_test(tc, maxtasksperchild_replaces_workers);
    tcase_add_test(tc, terminate_kills_running_tasks);
    tcase_add_test(tc, deadline_kills_the_worker);
    tcase_add_test(tc, workers_dying_at_startup_retry_until_they_start);
    tcase_add_test(tc, spawn_failure_retries_until_it_works);
    tcase_add_test(tc, shutdown_all_reaps_everything);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
