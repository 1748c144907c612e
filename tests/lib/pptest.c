/* pptest.c - task functions for the integration tests (libpptest.so).
 *
 * Every function has the task ABI of polypool.h:
 *     int fn(const pp_value *args, pp_value *result);
 * `args` is the LIST of the call's arguments. Misuse (a wrong argument
 * kind) fails the task with a message naming the function, so a test that
 * passes the wrong thing learns why.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "polypool.h"

#define EXPORT __attribute__((visibility("default")))

/* The n-th argument as an int, or fail. */
#define ARG_INT(fn, args, n, var)                                                      \
    int64_t var;                                                                       \
    if (pp_value_to_int(pp_value_at((args), (n)), &var) != PP_OK)                      \
        return pp_task_fail(result, fn ": argument %d must be an int", (n) + 1)

/* pt_square(x) -> x*x */
EXPORT int pt_square(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_square", args, 0, x);
    return pp_value_set_int(result, x * x) == PP_OK ? 0 : 1;
}

/* pt_add(a, b) -> a+b; ints stay ints, a double makes a double. */
EXPORT int pt_add(const pp_value *args, pp_value *result)
{
    const pp_value *a = pp_value_at(args, 0), *b = pp_value_at(args, 1);
    if (!a || !b)
        return pp_task_fail(result, "pt_add: want two arguments");
    int64_t x, y;
    if (pp_value_to_int(a, &x) == PP_OK && pp_value_to_int(b, &y) == PP_OK)
        return pp_value_set_int(result, x + y) == PP_OK ? 0 : 1;
    double dx, dy;
    if (pp_value_to_double(a, &dx) == PP_OK && pp_value_to_double(b, &dy) == PP_OK)
        return pp_value_set_double(result, dx + dy) == PP_OK ? 0 : 1;
    return pp_task_fail(result, "pt_add: want two numbers");
}

/* pt_echo(v) -> a copy of v */
EXPORT int pt_echo(const pp_value *args, pp_value *result)
{
    const pp_value *v = pp_value_at(args, 0);
    if (!v)
        return pp_task_fail(result, "pt_echo: want one argument");
    pp_value *copy = pp_value_copy(v);
    if (!copy)
        return pp_task_fail(result, "pt_echo: out of memory");
    pp_value_move(result, copy);
    return 0;
}

/* pt_fail(msg) fails with "pt_fail: <msg>" */
EXPORT int pt_fail(const pp_value *args, pp_value *result)
{
    const char *msg = pp_value_get_string(pp_value_at(args, 0), NULL);
    return pp_task_fail(result, "pt_fail: %s", msg ? msg : "(no message)");
}

/* pt_segv() dies of SIGSEGV */
EXPORT int pt_segv(const pp_value *args, pp_value *result)
{
    volatile int *volatile p = NULL;
    *p = 1;
    return 0;
}

/* pt_abort() dies of SIGABRT */
EXPORT int pt_abort(const pp_value *args, pp_value *result)
{
    abort();
}

/* pt_exit(code) exits the worker with `code`, skipping atexit handlers */
EXPORT int pt_exit(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_exit", args, 0, code);
    _exit((int)code);
}

/* pt_kill_self() dies of SIGKILL */
EXPORT int pt_kill_self(const pp_value *args, pp_value *result)
{
    kill(getpid(), SIGKILL);
    /* The signal is delivered before kill() returns; never reached. */
    return pp_task_fail(result, "pt_kill_self: still alive");
}

/* pt_sleep_ms(ms) sleeps, returns ms */
EXPORT int pt_sleep_ms(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_sleep_ms", args, 0, ms);
    if (ms < 0)
        return pp_task_fail(result, "pt_sleep_ms: negative duration");
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return pp_value_set_int(result, ms) == PP_OK ? 0 : 1;
}

/* pt_print(s) writes "out:<s>\n" to stdout and "err:<s>\n" to stderr,
 * returns s */
EXPORT int pt_print(const pp_value *args, pp_value *result)
{
    const char *s = pp_value_get_string(pp_value_at(args, 0), NULL);
    if (!s)
        return pp_task_fail(result, "pt_print: argument must be a string");
    printf("out:%s\n", s);
    fprintf(stderr, "err:%s\n", s);
    return pp_value_set_string(result, s) == PP_OK ? 0 : 1;
}

/* pt_pid() -> the worker's pid */
EXPORT int pt_pid(const pp_value *args, pp_value *result)
{
    return pp_value_set_int(result, (int64_t)getpid()) == PP_OK ? 0 : 1;
}

static pp_value *init_value;

/* pt_init(v): an initializer; keeps a copy of v for pt_get_init */
EXPORT int pt_init(const pp_value *args, pp_value *result)
{
    const pp_value *v = pp_value_at(args, 0);
    pp_value *copy = v ? pp_value_copy(v) : pp_value_null();
    if (!copy)
        return pp_task_fail(result, "pt_init: out of memory");
    pp_value_free(init_value);
    init_value = copy;
    return 0;
}

/* pt_get_init() -> what pt_init stored, or NULL */
EXPORT int pt_get_init(const pp_value *args, pp_value *result)
{
    if (!init_value)
        return pp_value_set_null(result) == PP_OK ? 0 : 1;
    pp_value *copy = pp_value_copy(init_value);
    if (!copy)
        return pp_task_fail(result, "pt_get_init: out of memory");
    pp_value_move(result, copy);
    return 0;
}

/* pt_crash_if(x, k): SIGSEGV when x == k, else x*x */
EXPORT int pt_crash_if(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_crash_if", args, 0, x);
    ARG_INT("pt_crash_if", args, 1, k);
    if (x == k) {
        volatile int *volatile p = NULL;
        *p = 1;
    }
    return pp_value_set_int(result, x * x) == PP_OK ? 0 : 1;
}

/* pt_big(n) -> BYTES of n 'x' */
EXPORT int pt_big(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_big", args, 0, n);
    if (n < 0)
        return pp_task_fail(result, "pt_big: negative size");
    char *buf = malloc(n ? (size_t)n : 1);
    if (!buf)
        return pp_task_fail(result, "pt_big: out of memory");
    memset(buf, 'x', (size_t)n);
    pp_status st = pp_value_set_bytes(result, buf, (size_t)n);
    free(buf);
    return st == PP_OK ? 0 : pp_task_fail(result, "pt_big: out of memory");
}

static int64_t calls;

/* pt_count_calls() -> how many times this worker process has run it
 * (1 for the first call): shows when maxtasksperchild replaced a worker */
EXPORT int pt_count_calls(const pp_value *args, pp_value *result)
{
    return pp_value_set_int(result, ++calls) == PP_OK ? 0 : 1;
}

/* pt_print_then_segv(s) writes "out:<s>\n" to stdout and "err:<s>\n" to
 * stderr, then dies of SIGSEGV: the daemon must salvage that output from
 * the dead worker's memfds */
EXPORT int pt_print_then_segv(const pp_value *args, pp_value *result)
{
    const char *s = pp_value_get_string(pp_value_at(args, 0), NULL);
    if (!s)
        return pp_task_fail(result, "pt_print_then_segv: argument must be a string");
    printf("out:%s\n", s);
    fprintf(stderr, "err:%s\n", s);
    volatile int *volatile p = NULL;
    *p = 1;
    return 0;
}

/* ---- shared memory and primitives (test-shared.c) --------------------------
 * These take handles a test passed and open them with a NULL client, as a
 * task must: the submitter's reference keeps the segment alive. */

/* pt_array_add(array, n): n times, under the array's lock, adds 1 to its
 * element 0 (typecode 'q'); returns n. */
EXPORT int pt_array_add(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_array_add", args, 1, n);
    pp_array *a = NULL;
    pp_status st = pp_array_from_value(NULL, pp_value_at(args, 0), &a);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_array_add: %s", pp_status_name(st));
    pp_sync *l = pp_array_lock(a);
    int64_t *x = pp_array_data(a);
    if (!l || !x || pp_array_typecode(a) != 'q') {
        pp_array_free(a);
        return pp_task_fail(result, "pt_array_add: want a locked 'q' array");
    }
    for (int64_t i = 0; i < n; i++) {
        st = pp_sync_acquire(l, -1);
        if (st != PP_OK) {
            pp_array_free(a);
            return pp_task_fail(result, "pt_array_add: acquire: %s", pp_status_name(st));
        }
        ++*x;
        if ((st = pp_sync_release(l)) != PP_OK) {
            pp_array_free(a);
            return pp_task_fail(result, "pt_array_add: release: %s", pp_status_name(st));
        }
    }
    pp_array_free(a);
    return pp_value_set_int(result, n) == PP_OK ? 0 : 1;
}

/* pt_acquire(lock, timeout_ms, release) -> the status name of acquiring the
 * passed Lock, RLock or semaphore; released again when `release` is 1 and
 * it was acquired. */
EXPORT int pt_acquire(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_acquire", args, 1, timeout);
    ARG_INT("pt_acquire", args, 2, release);
    pp_sync *s = NULL;
    pp_status st = pp_sync_from_value(NULL, pp_value_at(args, 0), &s);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_acquire: %s", pp_status_name(st));
    st = pp_sync_acquire(s, (int)timeout);
    if (release && (st == PP_OK || st == PP_EOWNERDEAD) && pp_sync_release(s) != PP_OK) {
        pp_sync_free(s);
        return pp_task_fail(result, "pt_acquire: release failed");
    }
    pp_sync_free(s);
    return pp_value_set_string(result, pp_status_name(st)) == PP_OK ? 0 : 1;
}

/* pt_acquire_and_die(lock, how): acquires the passed lock and dies holding
 * it: how 0 by SIGKILL, 1 by abort(). */
EXPORT int pt_acquire_and_die(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_acquire_and_die", args, 1, how);
    pp_sync *s = NULL;
    pp_status st = pp_sync_from_value(NULL, pp_value_at(args, 0), &s);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_acquire_and_die: %s", pp_status_name(st));
    if ((st = pp_sync_acquire(s, -1)) != PP_OK)
        return pp_task_fail(result, "pt_acquire_and_die: acquire: %s", pp_status_name(st));
    if (how == 1)
        abort();
    kill(getpid(), SIGKILL);
    return pp_task_fail(result, "pt_acquire_and_die: still alive");
}

/* pt_event_wait(event, timeout_ms) -> the status name of waiting on it. */
EXPORT int pt_event_wait(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_event_wait", args, 1, timeout);
    pp_sync *e = NULL;
    pp_status st = pp_sync_from_value(NULL, pp_value_at(args, 0), &e);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_event_wait: %s", pp_status_name(st));
    st = pp_event_wait(e, (int)timeout);
    pp_sync_free(e);
    return pp_value_set_string(result, pp_status_name(st)) == PP_OK ? 0 : 1;
}

/* pt_barrier_wait(barrier, timeout_ms) -> this party's index; fails with the
 * status name otherwise. */
EXPORT int pt_barrier_wait(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_barrier_wait", args, 1, timeout);
    pp_sync *b = NULL;
    pp_status st = pp_sync_from_value(NULL, pp_value_at(args, 0), &b);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_barrier_wait: %s", pp_status_name(st));
    unsigned idx = 0;
    st = pp_barrier_wait(b, (int)timeout, &idx);
    pp_sync_free(b);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_barrier_wait: %s", pp_status_name(st));
    return pp_value_set_int(result, idx) == PP_OK ? 0 : 1;
}

/* pt_shm_write(segment, offset, bytes) writes into the passed segment and
 * returns its size. */
EXPORT int pt_shm_write(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_shm_write", args, 1, off);
    size_t len = 0;
    const void *data = pp_value_get_bytes(pp_value_at(args, 2), &len);
    if (!data || off < 0)
        return pp_task_fail(result, "pt_shm_write: want (segment, offset, bytes)");
    pp_shm *s = NULL;
    pp_status st = pp_shm_from_value(NULL, pp_value_at(args, 0), &s);
    if (st == PP_OK)
        st = pp_shm_write(s, (size_t)off, data, len);
    size_t size = pp_shm_size(s);
    pp_shm_close(s);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_shm_write: %s", pp_status_name(st));
    return pp_value_set_int(result, (int64_t)size) == PP_OK ? 0 : 1;
}

/* ---- for tests/python/test_shared.py and test_sync.py ----------------------- */

/* pt_py_array_inc(array): under the passed Value's or Array's lock, adds 1
 * to every element (typecode 'i', 'l' or 'q') and returns the sum of the
 * new values. */
EXPORT int pt_py_array_inc(const pp_value *args, pp_value *result)
{
    pp_array *a = NULL;
    pp_status st = pp_array_from_value(NULL, pp_value_at(args, 0), &a);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_py_array_inc: %s", pp_status_name(st));
    pp_sync *l = pp_array_lock(a);
    char tc = pp_array_typecode(a);
    void *data = pp_array_data(a);
    if (!l || !data || (tc != 'i' && tc != 'l' && tc != 'q')) {
        pp_array_free(a);
        return pp_task_fail(result, "pt_py_array_inc: want a locked 'i', 'l' or 'q' array");
    }
    if ((st = pp_sync_acquire(l, -1)) != PP_OK) {
        pp_array_free(a);
        return pp_task_fail(result, "pt_py_array_inc: acquire: %s", pp_status_name(st));
    }
    int64_t sum = 0;
    for (size_t i = 0; i < pp_array_len(a); i++) {
        if (tc == 'i')
            sum += ++((int32_t *)data)[i];
        else
            sum += ++((int64_t *)data)[i];
    }
    st = pp_sync_release(l);
    pp_array_free(a);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_py_array_inc: release: %s", pp_status_name(st));
    return pp_value_set_int(result, sum) == PP_OK ? 0 : 1;
}

/* ---- queues (test-queue.c) ---------------------------------------------------
 * The queue's handle is opened with a NULL client, as a task must: the
 * submitter's reference keeps the segment alive. */

/* pt_q_put(queue, from, n): puts the ints from .. from+n-1 into the passed
 * queue, in order (each put waits as long as it must); returns n. */
EXPORT int pt_q_put(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_q_put", args, 1, from);
    ARG_INT("pt_q_put", args, 2, n);
    pp_queue *q = NULL;
    pp_status st = pp_queue_from_value(NULL, pp_value_at(args, 0), &q);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_q_put: %s", pp_status_name(st));
    for (int64_t i = 0; i < n; i++) {
        pp_value *v = pp_value_int(from + i);
        st = v ? pp_queue_put(q, v, -1) : PP_ENOMEM;
        pp_value_free(v);
        if (st != PP_OK) {
            pp_queue_free(q);
            return pp_task_fail(result, "pt_q_put: put %lld: %s", (long long)i,
                                pp_status_name(st));
        }
    }
    pp_queue_free(q);
    return pp_value_set_int(result, n) == PP_OK ? 0 : 1;
}

/* pt_q_get(queue, n, timeout_ms) -> a LIST of the next n items of the
 * passed queue; fails with the status name of a get that fails. */
EXPORT int pt_q_get(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_q_get", args, 1, n);
    ARG_INT("pt_q_get", args, 2, timeout);
    pp_queue *q = NULL;
    pp_status st = pp_queue_from_value(NULL, pp_value_at(args, 0), &q);
    if (st != PP_OK)
        return pp_task_fail(result, "pt_q_get: %s", pp_status_name(st));
    pp_value *list = pp_value_list();
    for (int64_t i = 0; list && i < n; i++) {
        pp_value *v = NULL;
        if ((st = pp_queue_get(q, (int)timeout, &v)) != PP_OK) {
            pp_value_free(list);
            pp_queue_free(q);
            return pp_task_fail(result, "pt_q_get: get %lld: %s", (long long)i,
                                pp_status_name(st));
        }
        pp_value_append(list, v);
    }
    pp_queue_free(q);
    if (!list)
        return pp_task_fail(result, "pt_q_get: out of memory");
    pp_value_move(result, list);
    return 0;
}

/* ---- processes (test-process.c) --------------------------------------------- */

/* pt_print_name() prints "name:<pp_current_process_name()>" */
EXPORT int pt_print_name(const pp_value *args, pp_value *result)
{
    (void)args;
    printf("name:%s\n", pp_current_process_name());
    return 0;
}

/* pt_print_bytes(n) writes n bytes to stdout, byte i being 'a' + i % 26,
 * in writes of up to 64 KiB */
EXPORT int pt_print_bytes(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_print_bytes", args, 0, n);
    char chunk[65536];
    for (int64_t done = 0; done < n;) {
        size_t k = (size_t)(n - done < (int64_t)sizeof chunk ? n - done : (int64_t)sizeof chunk);
        for (size_t i = 0; i < k; i++)
            chunk[i] = (char)('a' + (done + (int64_t)i) % 26);
        if (fwrite(chunk, 1, k, stdout) != k)
            return pp_task_fail(result, "pt_print_bytes: write: %s", strerror(errno));
        done += (int64_t)k;
    }
    return 0;
}

/* pt_sleep_print(ms, s) sleeps ms, then prints "out:<s>" */
EXPORT int pt_sleep_print(const pp_value *args, pp_value *result)
{
    ARG_INT("pt_sleep_print", args, 0, ms);
    const char *s = pp_value_get_string(pp_value_at(args, 1), NULL);
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    printf("out:%s\n", s ? s : "");
    return 0;
}

/* pt_spawn_print_name() starts pt_print_name (of this library, found by
 * PPTEST_LIB) as a process of its own, joins it and fails unless it ended
 * with 0: a process that starts processes. */
EXPORT int pt_spawn_print_name(const pp_value *args, pp_value *result)
{
    (void)args;
    pp_client *c = NULL;
    pp_func *f = NULL;
    pp_process *p = NULL;
    const char *lib = getenv("PPTEST_LIB");
    pp_status st = pp_client_open(NULL, &c);
    if (st == PP_OK)
        st = pp_func_c(lib ? lib : "libpptest.so", "pt_print_name", &f);
    if (st == PP_OK)
        st = pp_process_start(c, f, NULL, NULL, &p);
    if (st == PP_OK)
        st = pp_process_join(p, 30000);
    int code = -1;
    if (st == PP_OK)
        st = pp_process_exitcode(p, &code);
    pp_process_free(p);
    pp_func_free(f);
    pp_client_close(c);
    if (st != PP_OK || code != 0)
        return pp_task_fail(result, "pt_spawn_print_name: %s, exit code %d", pp_status_name(st),
                            code);
    return 0;
}

/* pt_print_parent() prints "parent:<pid>:<name>" (pp_parent_process), or
 * "parent:<status name>" */
EXPORT int pt_print_parent(const pp_value *args, pp_value *result)
{
    (void)args;
    int pid = 0;
    const char *name = NULL;
    pp_status st = pp_parent_process(&pid, &name);
    if (st == PP_OK)
        printf("parent:%d:%s\n", pid, name);
    else
        printf("parent:%s\n", pp_status_name(st));
    return 0;
}
