/* test-loop.c - loop.c: the wake, tick, idle and signal hooks, fd sources
 * (add, modify, delete), deadlines (only ever lowered; lowering one from
 * another thread wakes a sleeping loop) and the signal mask. Every loop_run
 * here ends by a hook calling loop_stop; the test case timeout is the
 * deadline for a loop that never stops. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

static int wakes, ticks, idles, n_sigs;
static int sigs[8];
static uint64_t tick_at[8];
static int ticks_to_run = 1;      /* the tick that stops the loop */
static uint64_t tick_every;       /* 0: the tick returns no next deadline */
static bool stop_on_wake = true;
static bool stop_on_signal = true;

static void h_wake(void)
{
    wakes++;
    if (stop_on_wake)
        loop_stop();
}

static uint64_t h_tick(uint64_t now)
{
    if (ticks < 8)
        tick_at[ticks] = now;
    if (++ticks >= ticks_to_run) {
        loop_stop();
        return UINT64_MAX;
    }
    return tick_every ? now + tick_every : UINT64_MAX;
}

static void h_idle(void)
{
    idles++;
}

static void h_signal(int sig)
{
    if (n_sigs < 8)
        sigs[n_sigs++] = sig;
    if (stop_on_signal)
        loop_stop();
}

static const struct loop_hooks hooks = {
    .wake = h_wake, .tick = h_tick, .idle = h_idle, .signal = h_signal,
};

static void setup(void)
{
    ck_assert_int_eq(loop_init(&hooks), 0);
}

static void teardown(void)
{
    loop_fini();
}

START_TEST(wake_runs_the_wake_hook)
{
    loop_wake();
    loop_run();
    ck_assert_int_eq(wakes, 1);
    ck_assert_int_eq(ticks, 0);
    ck_assert_int_ge(idles, 1);
}
END_TEST

START_TEST(several_wakes_coalesce)
{
    /* The eventfd counts; one read drains it: one hook call. */
    loop_wake();
    loop_wake();
    loop_wake();
    loop_run();
    ck_assert_int_eq(wakes, 1);
}
END_TEST

START_TEST(deadline_runs_tick)
{
    uint64_t t = now_ms() + 30;
    daemon_lock();
    loop_deadline(t);
    /* A later deadline does not push the earlier one back. */
    loop_deadline(t + 600000);
    daemon_unlock();
    stop_on_wake = false;   /* loop_deadline off the loop thread also wakes */
    loop_run();
    ck_assert_int_eq(ticks, 1);
    ck_assert_uint_ge(tick_at[0], t);
    ck_assert_uint_lt(tick_at[0], t + 600000);
    ck_assert_uint_ge(now_ms(), t);
}
END_TEST

START_TEST(tick_returns_next_deadline)
{
    ticks_to_run = 3;
    tick_every = 5;
    stop_on_wake = false;
    loop_deadline(now_ms());
    loop_run();
    ck_assert_int_eq(ticks, 3);
    ck_assert_uint_ge(tick_at[1], tick_at[0] + 5);
    ck_assert_uint_ge(tick_at[2], tick_at[1] + 5);
}
END_TEST

START_TEST(past_deadline_ticks_at_once)
{
    stop_on_wake = false;
    loop_deadline(1);
    loop_run();
    ck_assert_int_eq(ticks, 1);
}
END_TEST

static int cb_calls;
static uint32_t cb_events;
static int pfd[2];

static void read_cb(struct loop_src *src, uint32_t events)
{
    cb_calls++;
    cb_events = events;
    char c;
    ck_assert_int_eq(read(src->fd, &c, 1), 1);
    loop_stop();
}

START_TEST(source_callback)
{
    ck_assert_int_eq(pipe(pfd), 0);
    struct loop_src src = { .fd = pfd[0], .cb = read_cb };
    ck_assert_int_eq(loop_add(&src, EPOLLIN), 0);
    ck_assert_int_eq(write(pfd[1], "x", 1), 1);
    loop_run();
    ck_assert_int_eq(cb_calls, 1);
    ck_assert(cb_events & EPOLLIN);
    ck_assert_int_eq(wakes, 0);
    /* Adding the same fd twice is an error (EEXIST). */
    ck_assert_int_eq(loop_add(&src, EPOLLIN), -1);
    ck_assert_int_eq(errno, EEXIST);
    loop_del(&src);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

START_TEST(deleted_source_is_quiet)
{
    ck_assert_int_eq(pipe(pfd), 0);
    struct loop_src src = { .fd = pfd[0], .cb = read_cb };
    ck_assert_int_eq(loop_add(&src, EPOLLIN), 0);
    loop_del(&src);
    ck_assert_int_eq(write(pfd[1], "x", 1), 1);
    loop_wake();
    loop_run();
    ck_assert_int_eq(cb_calls, 0);
    ck_assert_int_eq(wakes, 1);
    /* A source with fd -1 (already gone) is ignored. */
    struct loop_src none = { .fd = -1, .cb = read_cb };
    loop_del(&none);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

static void write_cb(struct loop_src *src, uint32_t events)
{
    cb_calls++;
    cb_events = events;
    loop_stop();
}

START_TEST(modify_source_events)
{
    ck_assert_int_eq(pipe(pfd), 0);
    /* The write end never becomes readable... */
    struct loop_src src = { .fd = pfd[1], .cb = write_cb };
    ck_assert_int_eq(loop_add(&src, EPOLLIN), 0);
    /* ...but it is writable once asked for. */
    ck_assert_int_eq(loop_mod(&src, EPOLLOUT), 0);
    loop_run();
    ck_assert_int_eq(cb_calls, 1);
    ck_assert(cb_events & EPOLLOUT);
    loop_del(&src);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

START_TEST(signals_go_to_the_hook)
{
    ck_assert_int_eq(loop_block_signals(), 0);
    /* SIGPIPE is ignored, the three stop signals blocked. */
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq(sa.sa_handler, SIG_IGN);
    sigset_t cur;
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    ck_assert_int_eq(sigismember(&cur, SIGTERM), 1);
    ck_assert_int_eq(sigismember(&cur, SIGINT), 1);
    ck_assert_int_eq(sigismember(&cur, SIGHUP), 1);
    /* Both pending signals arrive in one batch. */
    ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    stop_on_signal = true;
    loop_run();
    ck_assert_int_eq(n_sigs, 2);
    ck_assert_int_eq(sigs[0] + sigs[1], SIGHUP + SIGTERM);
    ck_assert_int_ne(sigs[0], sigs[1]);
}
END_TEST

static pthread_mutex_t mark_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mark_cv = PTHREAD_COND_INITIALIZER;
static bool first_batch;

static void h_wake_mark(void)
{
    pthread_mutex_lock(&mark_mu);
    first_batch = true;
    pthread_cond_signal(&mark_cv);
    pthread_mutex_unlock(&mark_mu);
}

static uint64_t h_tick_stop(uint64_t now)
{
    ticks++;
    loop_stop();
    return UINT64_MAX;
}

static void *run_loop(void *arg)
{
    loop_run();
    return NULL;
}

START_TEST(deadline_from_another_thread_wakes_the_loop)
{
    loop_fini();
    struct loop_hooks h = { .wake = h_wake_mark, .tick = h_tick_stop };
    ck_assert_int_eq(loop_init(&h), 0);
    /* The loop runs one batch (this wake) and then sleeps without a
     * deadline. */
    loop_wake();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_loop, NULL), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&mark_mu);
    int rc = 0;
    while (!first_batch && rc == 0)
        rc = pthread_cond_timedwait(&mark_cv, &mark_mu, &ts);
    pthread_mutex_unlock(&mark_mu);
    ck_assert_msg(first_batch, "the loop never ran its first batch");
    /* Lowering the deadline from here must wake the sleeping epoll_wait. */
    daemon_lock();
    loop_deadline(now_ms() + 10);
    daemon_unlock();
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    ck_assert_int_eq(pthread_timedjoin_np(th, NULL, &ts), 0);
    ck_assert_int_eq(ticks, 1);
}
END_TEST

START_TEST(wake_after_fini_is_harmless)
{
    loop_fini();
    loop_wake();
    loop_fini();
    ck_assert_int_eq(loop_init(&hooks), 0);
    loop_wake();
    loop_run();
    ck_assert_int_eq(wakes, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, wake_runs_the_wake_hook);
    tcase_add_test(tc, several_wakes_coalesce);
    tcase_add_test(tc, deadline_runs_tick);
    tcase_add_test(tc, tick_returns_next_deadline);
    tcase_add_test(tc, past_deadline_ticks_at_once);
    tcase_add_test(tc, source_callback);
    tcase_add_test(tc, deleted_source_is_quiet);
    tcase_add_test(tc, modify_source_events);
    tcase_add_test(tc, signals_go_to_the_hook);
    tcase_add_test(tc, deadline_from_another_thread_wakes_the_loop);
    tcase_add_test(tc, wake_after_fini_is_harmless);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
