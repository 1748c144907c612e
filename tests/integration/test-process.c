/* test-process.c - processes started by the daemon (polypool.h
 * "Processes"): exit codes (0, a failure's 1, exit(N), -signal), join with
 * and without a timeout, is_alive, terminate and kill, names, output that
 * is complete before join returns (also more than the daemon buffers),
 * arguments whose objects the caller lets go of at once, a C and a Python
 * parent's counter, a client that closes (joins) or dies (daemonic
 * processes terminated, others run on), and a daemon that goes away.
 *
 * Output is captured with the client's output function, so every test
 * checks exactly what reached the caller.
 */
#include <pthread.h>
#include <signal.h>
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

/* ---- output capture ---------------------------------------------------------- */

struct capture {
    pthread_mutex_t mu;
    char *buf[3];       /* fd 1 and 2 */
    size_t len[3];
};

static struct capture CAP = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void capture_fn(void *arg, int fd, const void *data, size_t len)
{
    struct capture *c = arg;
    if (fd != 1 && fd != 2)
        return;
    pthread_mutex_lock(&c->mu);
    char *b = realloc(c->buf[fd], c->len[fd] + len + 1);
    if (b) {
        memcpy(b + c->len[fd], data, len);
        c->len[fd] += len;
        b[c->len[fd]] = 0;
        c->buf[fd] = b;
    }
    pthread_mutex_unlock(&c->mu);
}

static const char *captured(int fd)
{
    return CAP.buf[fd] ? CAP.buf[fd] : "";
}

static pp_client *client(void)
{
    return it_client_named(D.url, "it-process", capture_fn, &CAP);
}

/* Starts symbol(args) (args consumed) of the test library; asserts. */
static pp_process *start(pp_client *c, const char *symbol, pp_value *args,
                         const pp_process_opts *o)
{
    pp_func *f = it_func(symbol);
    pp_process *p = NULL;
    it_assert_status(pp_process_start(c, f, args, o, &p), PP_OK);
    pp_value_free(args);
    pp_func_free(f);
    ck_assert_int_gt(pp_process_pid(p), 0);
    return p;
}

static pp_value *str_args(const char *s)
{
    pp_value *a = pp_value_list();
    pp_value_append(a, pp_value_string(s));
    return a;
}

static int exitcode(pp_process *p)
{
    int code = 12345;
    it_assert_status(pp_process_exitcode(p, &code), PP_OK);
    return code;
}

/* ---- basics ---------------------------------------------------------------- */

START_TEST(runs_and_prints_before_join_returns)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_print", str_args("hello"), NULL);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_str_eq(captured(1), "out:hello\n");
    ck_assert_str_eq(captured(2), "err:hello\n");
    ck_assert_int_eq(exitcode(p), 0);
    ck_assert(!pp_process_is_alive(p));
    /* Joining again is harmless and prints nothing more. */
    it_assert_status(pp_process_join(p, 0), PP_OK);
    ck_assert_str_eq(captured(1), "out:hello\n");
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(exit_codes)
{
    pp_client *c = client();
    struct { const char *sym; pp_value *args; int code; } cases[] = {
        { "pt_square", it_args(1, 3), 0 },
        { "pt_fail", str_args("boom"), 1 },
        { "pt_exit", it_args(1, 7), 7 },
        { "pt_segv", NULL, -SIGSEGV },
        { "pt_abort", NULL, -SIGABRT },
        { "pt_kill_self", NULL, -SIGKILL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pp_process *p = start(c, cases[i].sym, cases[i].args, NULL);
        it_assert_status(pp_process_join(p, 30000), PP_OK);
        ck_assert_msg(exitcode(p) == cases[i].code, "%s: exit code %d, want %d", cases[i].sym,
                      exitcode(p), cases[i].code);
        pp_process_free(p);
    }
    /* The failure said why, under the process's name. */
    ck_assert_msg(strstr(captured(2), ": pt_fail: boom\n") &&
                  strstr(captured(2), "Process Process-"), "stderr: %s", captured(2));
    pp_client_close(c);
}
END_TEST

START_TEST(missing_library_or_symbol_fails_in_the_child)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_no_such_symbol", NULL, NULL);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_int_eq(exitcode(p), 1);
    ck_assert_msg(strstr(captured(2), "pt_no_such_symbol"), "stderr: %s", captured(2));
    pp_process_free(p);

    pp_func *f = NULL;
    it_assert_status(pp_func_c("/nonexistent/libnothing.so", "f", &f), PP_OK);
    pp_process_opts o = { .name = "nolib" };
    it_assert_status(pp_process_start(c, f, NULL, &o, &p), PP_OK);
    pp_func_free(f);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_int_eq(exitcode(p), 1);
    ck_assert_msg(strstr(captured(2), "Process nolib: ") &&
                  strstr(captured(2), "/nonexistent/libnothing.so"), "stderr: %s", captured(2));
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(bad_arguments)
{
    pp_client *c = client();
    pp_func *f = it_func("pt_square");
    pp_process *p = NULL;
    it_assert_status(pp_process_start(NULL, f, NULL, NULL, &p), PP_EINVAL);
    it_assert_status(pp_process_start(c, NULL, NULL, NULL, &p), PP_EINVAL);
    it_assert_status(pp_process_start(c, f, NULL, NULL, NULL), PP_EINVAL);
    pp_value *notlist = pp_value_int(3);
    it_assert_status(pp_process_start(c, f, notlist, NULL, &p), PP_EINVAL);
    pp_value_free(notlist);
    it_assert_status(pp_process_join(NULL, 0), PP_EINVAL);
    int code;
    it_assert_status(pp_process_exitcode(NULL, &code), PP_EINVAL);
    it_assert_status(pp_process_terminate(NULL), PP_EINVAL);
    ck_assert(!pp_process_is_alive(NULL));
    pp_process_free(NULL);
    pp_func_free(f);
    pp_client_close(c);
}
END_TEST

/* The daemon cannot start it (no such interpreter): PP_ENOSPAWN, saying
 * what it tried, and nothing is left behind. */
START_TEST(spawn_failure)
{
    pp_client *c = client();
    pp_pyenv env = { .interpreter = "/nonexistent/python3" };
    pp_func *f = NULL;
    it_assert_status(pp_func_py("tasks", "square", &env, &f), PP_OK);
    pp_process *p = NULL;
    it_assert_status(pp_process_start(c, f, NULL, NULL, &p), PP_ENOSPAWN);
    ck_assert_msg(strstr(pp_last_error()->message, "/nonexistent/python3"), "%s",
                  pp_last_error()->message);
    pp_func_free(f);
    it_raw r;
    it_status_open(&r, D.url);
    Polypool__V1__Reply *rep = it_status(&r);
    ck_assert_uint_eq(rep->status_reply->processes, 0);
    it_status_free(rep);
    it_raw_close(&r);
    pp_client_close(c);
}
END_TEST

/* The requests themselves, from a raw peer: each bad one gets its exact
 * status, and the session goes on. */
static int raw_status(it_raw *r, Polypool__V1__Request *req)
{
    Polypool__V1__Reply *rep = NULL;
    ck_assert_int_eq(it_raw_call(r, req, IT_DEADLINE_MS, &rep), 0);
    int st = rep->status;
    polypool__v1__reply__free_unpacked(rep, NULL);
    return st;
}

START_TEST(malformed_requests)
{
    it_raw r;
    it_status_open(&r, D.url);
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ProcStart ps = POLYPOOL__V1__PROC_START__INIT;
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    Polypool__V1__CFunction cf = POLYPOOL__V1__CFUNCTION__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_PROC_START;
    req.proc_start = &ps;
    /* No function. */
    ck_assert_int_eq(raw_status(&r, &req), POLYPOOL__V1__STATUS__STATUS_EINVAL);
    /* A C function without a symbol. */
    cf.library = (char *)getenv("PPTEST_LIB");
    cf.symbol = "";
    fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    fn.c = &cf;
    ps.function = &fn;
    ck_assert_int_eq(raw_status(&r, &req), POLYPOOL__V1__STATUS__STATUS_EINVAL);
    /* Arguments whose arrays do not add up: a LIST of 2 with nothing in it. */
    cf.symbol = "pt_square";
    Polypool__V1__Values args = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind kinds[] = { POLYPOOL__V1__KIND__KIND_LIST };
    uint32_t counts[] = { 2 };
    args.kinds = kinds;
    args.n_kinds = 1;
    args.counts = counts;
    args.n_counts = 1;
    ps.args = &args;
    ck_assert_int_eq(raw_status(&r, &req), POLYPOOL__V1__STATUS__STATUS_EPROTO);
    /* A name over 1024 bytes. */
    ps.args = NULL;
    char name[1100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    ps.name = name;
    ck_assert_int_eq(raw_status(&r, &req), POLYPOOL__V1__STATUS__STATUS_EINVAL);

    /* Waits, signals and releases of a process the session has not. */
    Polypool__V1__Request w = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ProcWait pw = POLYPOOL__V1__PROC_WAIT__INIT;
    pw.id = 12345;
    w.op_case = POLYPOOL__V1__REQUEST__OP_PROC_WAIT;
    w.proc_wait = &pw;
    ck_assert_int_eq(raw_status(&r, &w), POLYPOOL__V1__STATUS__STATUS_ENOENT);
    Polypool__V1__ProcSignal sg = POLYPOOL__V1__PROC_SIGNAL__INIT;
    sg.id = 12345;
    sg.signal = SIGTERM;
    w.op_case = POLYPOOL__V1__REQUEST__OP_PROC_SIGNAL;
    w.proc_signal = &sg;
    ck_assert_int_eq(raw_status(&r, &w), POLYPOOL__V1__STATUS__STATUS_ENOENT);
    Polypool__V1__ProcRelease rl = POLYPOOL__V1__PROC_RELEASE__INIT;
    rl.id = 12345;
    w.op_case = POLYPOOL__V1__REQUEST__OP_PROC_RELEASE;
    w.proc_release = &rl;
    ck_assert_int_eq(raw_status(&r, &w), POLYPOOL__V1__STATUS__STATUS_ENOENT);

    /* A real one, then a signal out of range for it. */
    ps.name = "";
    Polypool__V1__Values one = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind ik[] = { POLYPOOL__V1__KIND__KIND_INT };
    int64_t iv[] = { 3 };
    one.kinds = ik;
    one.n_kinds = 1;
    one.ints = iv;
    one.n_ints = 1;
    ps.args = &one;
    Polypool__V1__Reply *rep = NULL;
    ck_assert_int_eq(it_raw_call(&r, &req, IT_DEADLINE_MS, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_PROC);
    sg.id = rep->proc->id;
    polypool__v1__reply__free_unpacked(rep, NULL);
    w.op_case = POLYPOOL__V1__REQUEST__OP_PROC_SIGNAL;
    w.proc_signal = &sg;
    sg.signal = 0;
    ck_assert_int_eq(raw_status(&r, &w), POLYPOOL__V1__STATUS__STATUS_EINVAL);
    sg.signal = 65;
    ck_assert_int_eq(raw_status(&r, &w), POLYPOOL__V1__STATUS__STATUS_EINVAL);
    it_raw_close(&r);
}
END_TEST

START_TEST(join_timeout_terminate_kill)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_sleep_ms", it_args(1, 60000), NULL);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_process_join(p, 100), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 90);
    ck_assert(pp_process_is_alive(p));
    int code;
    it_assert_status(pp_process_exitcode(p, &code), PP_EAGAIN);
    it_assert_status(pp_process_terminate(p), PP_OK);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_int_eq(exitcode(p), -SIGTERM);
    /* A signal to a process that ended does nothing. */
    it_assert_status(pp_process_kill(p), PP_OK);
    ck_assert_int_eq(exitcode(p), -SIGTERM);
    pp_process_free(p);

    p = start(c, "pt_sleep_ms", it_args(1, 60000), NULL);
    it_assert_status(pp_process_kill(p), PP_OK);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_int_eq(exitcode(p), -SIGKILL);
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(names)
{
    pp_client *c = client();
    pp_process_opts o = { .name = "worker-A" };
    pp_process *a = start(c, "pt_print_name", NULL, &o);
    pp_process *b = start(c, "pt_print_name", NULL, NULL);
    ck_assert_str_eq(pp_process_name(a), "worker-A");
    ck_assert_msg(strncmp(pp_process_name(b), "Process-", 8) == 0, "%s", pp_process_name(b));
    it_assert_status(pp_process_join(a, 30000), PP_OK);
    it_assert_status(pp_process_join(b, 30000), PP_OK);
    char want[128];
    snprintf(want, sizeof want, "name:worker-A\nname:%s\n", pp_process_name(b));
    ck_assert_str_eq(captured(1), want);
    ck_assert_str_eq(pp_current_process_name(), "MainProcess");
    pp_process_free(a);
    pp_process_free(b);
    pp_client_close(c);
}
END_TEST

START_TEST(parent_process)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_print_parent", NULL, NULL);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    char want[64];
    snprintf(want, sizeof want, "parent:%d:MainProcess\n", (int)getpid());
    ck_assert_str_eq(captured(1), want);
    pp_process_free(p);
    int pid = 0;
    it_assert_status(pp_parent_process(&pid, NULL), PP_ENOENT);
    pp_client_close(c);
}
END_TEST

START_TEST(interrupt)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_sleep_ms", it_args(1, 60000), NULL);
    it_assert_status(pp_process_interrupt(p), PP_OK);
    it_assert_status(pp_process_join(p, 30000), PP_OK);
    ck_assert_int_eq(exitcode(p), -SIGINT);
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

/* A process that starts a process: its child is named after it, and the
 * grandchild's output reaches the grandparent through both. */
START_TEST(process_starts_process)
{
    pp_client *c = client();
    pp_process_opts o = { .name = "parent" };
    pp_process *p = start(c, "pt_spawn_print_name", NULL, &o);
    it_assert_status(pp_process_join(p, 60000), PP_OK);
    ck_assert_msg(exitcode(p) == 0, "stderr: %s", captured(2));
    ck_assert_str_eq(captured(1), "name:parent:1\n");
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(output_beyond_the_daemons_buffer)
{
    pp_client *c = client();
    const int64_t n = 5 << 20;      /* 5 MiB: five times what the daemon buffers */
    pp_process *p = start(c, "pt_print_bytes", it_args(1, n), NULL);
    it_assert_status(pp_process_join(p, 60000), PP_OK);
    ck_assert_int_eq(exitcode(p), 0);
    ck_assert_uint_eq(CAP.len[1], (size_t)n);
    for (int64_t i = 0; i < n; i++)
        if (CAP.buf[1][i] != 'a' + i % 26)
            ck_abort_msg("byte %lld is '%c'", (long long)i, CAP.buf[1][i]);
    pp_process_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- arguments -------------------------------------------------------------- */

/* Four processes add to one counter under its lock: the total is exact. */
START_TEST(shared_counter_across_processes)
{
    pp_client *c = client();
    pp_array *counter = NULL;
    it_assert_status(pp_array_create(c, 'q', 0, true, &counter), PP_OK);
    pp_process *ps[4];
    for (int i = 0; i < 4; i++) {
        pp_value *args = pp_value_list();
        pp_value_append(args, pp_array_to_value(counter));
        pp_value_append(args, pp_value_int(20000));
        ps[i] = start(c, "pt_array_add", args, NULL);
    }
    for (int i = 0; i < 4; i++) {
        it_assert_status(pp_process_join(ps[i], 60000), PP_OK);
        ck_assert_int_eq(exitcode(ps[i]), 0);
        pp_process_free(ps[i]);
    }
    ck_assert_int_eq(*(int64_t *)pp_array_data(counter), 80000);
    pp_array_free(counter);
    pp_client_close(c);
}
END_TEST

/* The caller lets go of the counter right after start: the daemon holds it
 * for the process, which still opens it (else it would exit 1). */
START_TEST(arguments_outlive_the_callers_references)
{
    pp_client *c = client();
    for (int round = 0; round < 5; round++) {
        pp_array *counter = NULL;
        it_assert_status(pp_array_create(c, 'q', 0, true, &counter), PP_OK);
        pp_value *args = pp_value_list();
        pp_value_append(args, pp_array_to_value(counter));
        pp_value_append(args, pp_value_int(10));
        pp_process *p = start(c, "pt_array_add", args, NULL);
        pp_array_free(counter);
        it_assert_status(pp_process_join(p, 30000), PP_OK);
        ck_assert_msg(exitcode(p) == 0, "round %d: stderr %s", round, captured(2));
        pp_process_free(p);
    }
    pp_client_close(c);
}
END_TEST

START_TEST(argument_object_gone)
{
    pp_client *c = client();
    pp_array *a = NULL;
    it_assert_status(pp_array_create(c, 'q', 0, true, &a), PP_OK);
    pp_value *args = pp_value_list();
    pp_value_append(args, pp_array_to_value(a));
    pp_value_append(args, pp_value_int(1));
    pp_array_free(a);
    /* Wait until the daemon has dropped it (the release is a round trip,
     * done by now), then start: ENOENT, not a child that fails. */
    pp_func *f = it_func("pt_array_add");
    pp_process *p = NULL;
    it_assert_status(pp_process_start(c, f, args, NULL, &p), PP_ENOENT);
    pp_func_free(f);
    pp_value_free(args);
    pp_client_close(c);
}
END_TEST

/* ---- lifetime -------------------------------------------------------------- */

/* Closing the client joins the processes it still holds, output included. */
START_TEST(close_joins_held_processes)
{
    pp_client *c = client();
    pp_value *args = pp_value_list();
    pp_value_append(args, pp_value_int(300));
    pp_value_append(args, pp_value_string("late"));
    pp_process *p = start(c, "pt_sleep_print", args, NULL);
    pp_client_close(c);
    ck_assert_str_eq(captured(1), "out:late\n");
    ck_assert(!it_pid_alive(pp_process_pid(p)));
    int code;
    it_assert_status(pp_process_exitcode(p, &code), PP_OK);
    ck_assert_int_eq(code, 0);
    pp_process_free(p);     /* after its client: only memory */
}
END_TEST

START_TEST(daemonic_terminated_at_close)
{
    pp_client *c = client();
    pp_process_opts o = { .daemon = true };
    pp_process *p = start(c, "pt_sleep_ms", it_args(1, 60000), &o);
    ck_assert(pp_process_daemon(p));
    int pid = pp_process_pid(p);
    pp_client_close(c);
    ck_assert(!it_pid_alive(pid));
    int code;
    it_assert_status(pp_process_exitcode(p, &code), PP_OK);
    ck_assert_int_eq(code, -SIGTERM);
    pp_process_free(p);
}
END_TEST

static pid_t started_by_helper(const char *kind, pid_t *helper)
{
    const char *args[] = { "procstart", kind, NULL };
    int fd = -1;
    *helper = it_spawn_client(D.url, args, &fd);
    char line[64];
    ck_assert_msg(it_read_line(fd, line, sizeof line, IT_DEADLINE_MS), "no line from helper");
    close(fd);
    int pid = 0;
    ck_assert_msg(sscanf(line, "started %d", &pid) == 1, "helper said %s", line);
    return (pid_t)pid;
}

/* A client killed: its daemonic process is terminated... */
START_TEST(killed_client_daemonic_process_terminated)
{
    pid_t helper, pid = started_by_helper("daemon", &helper);
    ck_assert(it_pid_alive(pid));
    kill(helper, SIGKILL);
    int ws;
    ck_assert(it_waitpid(helper, IT_DEADLINE_MS, &ws));
    ck_assert_msg(it_wait_pid_gone(pid, IT_DEADLINE_MS), "the daemonic process still runs");
}
END_TEST

static bool no_clients(void *arg)
{
    it_raw *r = arg;
    Polypool__V1__Reply *rep = it_status(r);
    bool none = rep->status_reply->n_clients <= 1;     /* the status peer itself */
    it_status_free(rep);
    return none;
}

static bool no_processes(void *arg)
{
    Polypool__V1__Reply *rep = it_status(arg);
    bool none = rep->status_reply->processes == 0;
    it_status_free(rep);
    return none;
}

/* ... the others run on, and are reaped when they end. */
START_TEST(killed_client_plain_process_runs_on)
{
    pid_t helper, pid = started_by_helper("plain", &helper);
    kill(helper, SIGKILL);
    int ws;
    ck_assert(it_waitpid(helper, IT_DEADLINE_MS, &ws));
    it_raw r;
    it_status_open(&r, D.url);
    ck_assert_msg(it_wait_until(no_clients, &r, IT_DEADLINE_MS), "the helper's session stays");
    ck_assert_msg(it_pid_alive(pid), "the process died with its client");
    Polypool__V1__Reply *rep = it_status(&r);
    ck_assert_uint_eq(rep->status_reply->processes, 1);
    it_status_free(rep);
    kill(pid, SIGKILL);
    ck_assert(it_wait_pid_gone(pid, IT_DEADLINE_MS));
    ck_assert_msg(it_wait_until(no_processes, &r, IT_DEADLINE_MS), "the process was not reaped");
    it_raw_close(&r);
}
END_TEST

/* A daemon that goes away: join returns an error, it does not hang. */
START_TEST(daemon_gone_during_join)
{
    pp_client *c = client();
    pp_process *p = start(c, "pt_sleep_ms", it_args(1, 60000), NULL);
    int pid = pp_process_pid(p);
    ck_assert(it_daemon_kill_wait(&D, SIGKILL, IT_DEADLINE_MS));
    pp_status st = pp_process_join(p, 20000);
    ck_assert_msg(st == PP_ECONNRESET || st == PP_ECLOSED, "join: %s", pp_status_name(st));
    /* Its state can no longer be known: said, not guessed. */
    ck_assert(!pp_process_is_alive(p));
    int code;
    st = pp_process_exitcode(p, &code);
    ck_assert_msg(st == PP_ECONNRESET || st == PP_ECLOSED, "exitcode: %s", pp_status_name(st));
    pp_process_free(p);
    pp_client_close(c);
    kill(pid, SIGKILL);
}
END_TEST

/* ---- Python functions ------------------------------------------------------- */

static bool have_python;
static char python_why[256];

START_TEST(python_function_process)
{
    ck_assert_msg(it_python_paths(python_why, sizeof python_why), "%s", python_why);
    pp_client *c = client();
    struct { const char *fn; pp_value *args; int code; } cases[] = {
        { "print_and_return", str_args("py"), 0 },
        { "raise_system_exit", it_args(1, 3), 3 },
        { "raise_value_error", NULL, 1 },
        { "kill_self", NULL, -SIGKILL },
        { "report_parent", NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pp_func *f = it_py_func("tasks", cases[i].fn);
        pp_process_opts o = { .name = cases[i].fn };
        pp_process *p = NULL;
        it_assert_status(pp_process_start(c, f, cases[i].args, &o, &p), PP_OK);
        pp_value_free(cases[i].args);
        pp_func_free(f);
        it_assert_status(pp_process_join(p, 60000), PP_OK);
        ck_assert_msg(exitcode(p) == cases[i].code, "%s: exit code %d, want %d; stderr %s",
                      cases[i].fn, exitcode(p), cases[i].code, captured(2));
        pp_process_free(p);
    }
    char want[128];
    snprintf(want, sizeof want, "out py\nname=report_parent parent=MainProcess:%d\n",
             (int)getpid());
    ck_assert_str_eq(captured(1), want);
    ck_assert_msg(strstr(captured(2), "err py\n"), "stderr: %s", captured(2));
    ck_assert_msg(strstr(captured(2), "Process raise_value_error:\nTraceback (most recent call "
                                      "last):\n") && strstr(captured(2), "ValueError"),
                  "stderr: %s", captured(2));
    pp_client_close(c);
}
END_TEST

/* A C parent and Python children share one counter. */
START_TEST(python_children_share_a_counter)
{
    ck_assert_msg(it_python_paths(python_why, sizeof python_why), "%s", python_why);
    pp_client *c = client();
    pp_array *counter = NULL;
    it_assert_status(pp_array_create(c, 'q', 0, true, &counter), PP_OK);
    pp_process *ps[3];
    for (int i = 0; i < 3; i++) {
        pp_value *args = pp_value_list();
        pp_value_append(args, pp_array_to_value(counter));
        pp_value_append(args, pp_value_int(2000));
        if (i < 2) {
            pp_func *f = it_py_func("tasks", "increment");
            it_assert_status(pp_process_start(c, f, args, NULL, &ps[i]), PP_OK);
            pp_func_free(f);
            pp_value_free(args);
        } else {
            ps[i] = start(c, "pt_array_add", args, NULL);
        }
    }
    for (int i = 0; i < 3; i++) {
        it_assert_status(pp_process_join(ps[i], 60000), PP_OK);
        ck_assert_msg(exitcode(ps[i]) == 0, "stderr: %s", captured(2));
        pp_process_free(ps[i]);
    }
    ck_assert_int_eq(*(int64_t *)pp_array_data(counter), 6000);
    pp_array_free(counter);
    pp_client_close(c);
}
END_TEST

/* The seed's Pool example with a C parent and the Python function:
 * pool.map(square, range(10)). */
START_TEST(c_parent_maps_python_function)
{
    ck_assert_msg(it_python_paths(python_why, sizeof python_why), "%s", python_why);
    pp_client *c = client();
    pp_pool *pool = it_pool(c, 2);
    pp_func *square = it_py_func("tasks", "square");
    pp_value *items = it_ints(0, 10), *res = NULL;
    it_assert_status(pp_pool_map(pool, square, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 10);
    char *repr = pp_value_repr(res);
    ck_assert_str_eq(repr, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    free(repr);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(square);
    pp_pool_free(pool);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("process");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, runs_and_prints_before_join_returns);
    tcase_add_test(tc, exit_codes);
    tcase_add_test(tc, missing_library_or_symbol_fails_in_the_child);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, spawn_failure);
    tcase_add_test(tc, malformed_requests);
    tcase_add_test(tc, join_timeout_terminate_kill);
    tcase_add_test(tc, names);
    tcase_add_test(tc, process_starts_process);
    tcase_add_test(tc, parent_process);
    tcase_add_test(tc, interrupt);
    tcase_add_test(tc, output_beyond_the_daemons_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("arguments");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shared_counter_across_processes);
    tcase_add_test(tc, arguments_outlive_the_callers_references);
    tcase_add_test(tc, argument_object_gone);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, close_joins_held_processes);
    tcase_add_test(tc, daemonic_terminated_at_close);
    tcase_add_test(tc, killed_client_daemonic_process_terminated);
    tcase_add_test(tc, killed_client_plain_process_runs_on);
    tcase_add_test(tc, daemon_gone_during_join);
    suite_add_tcase(s, tc);

    /* Python children only when the Python package is built. */
    have_python = it_python_paths(python_why, sizeof python_why);
    if (have_python) {
        tc = tcase_create("python");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, python_function_process);
        tcase_add_test(tc, python_children_share_a_counter);
        tcase_add_test(tc, c_parent_maps_python_function);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return it_main(suite());
}
