/* host.c - the worker host loop: runs tasks for polypoold.
 *
 * The daemon spawns `polypool-worker --fd 3` (or, for Python tasks,
 * `python3 -m polypool._worker --fd 3`, which runs this same loop with a
 * struct host_lang for Python) with fd 3 one end of a
 * SOCK_STREAM socketpair, fd 0 /dev/null, and fd 1 and 2 memfds the daemon
 * also holds (so it can salvage what a dying worker printed). The exchange,
 * in frames of polypool.v1.WorkerMsg (runtime/frame.h):
 *
 *   worker -> WorkerHello{pid, version}
 *   daemon -> WorkerInit{worker_id, initializer?, initargs}
 *   worker -> WorkerInitDone{error?}
 *   daemon -> WorkerTask ...      (several may be queued back to back)
 *   worker -> WorkerResult ...    (one per task, in order)
 *   daemon -> WorkerExit, or EOF  (exit 0)
 *
 * Output ordering: after each task, stdio is flushed and whatever fd 1 and
 * fd 2 hold is moved into that task's ResultBatch before the result is sent,
 * so a client prints a task's output before it hands out its results. The
 * memfds are emptied after each task; a crash mid-task leaves that task's
 * output for the daemon to salvage (stdio is flushed on fatal signals).
 *
 * Hot path: per task, one unpack, a handful of syscalls for the output
 * capture and one frame write; frames are read ahead, so a batch of tasks
 * costs one read. Per item, only the pp_value
 * nodes of the argument and the result are allocated; the encoder and
 * buffers are kept across tasks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "frame.h"
#include "polypool.h"
#include "polypool.pb-c.h"
#include "pp_config.h"
#include "host.h"
#include "task.h"

#define WORKER_VERSION 1
/* Most output kept per stream per task. */
#define OUTPUT_CAP ((size_t)16 << 20)
#define TRUNCATED "\n[polypool: output truncated]\n"
/* Room for the WorkerMsg/WorkerResult wrapping around a packed batch. */
#define WRAP_SLACK 64

struct capture {
    int fd;
    bool on;            /* fd is a regular file (the daemon's memfd) */
    uint8_t *buf;       /* what the last task wrote, reused */
    size_t cap;
    size_t len;
};

struct worker {
    int fd;
    int pid;
    uint64_t worker_id;
    task_cache cache;
    task_batch batch;
    pp_value *one;      /* [slot]: the argument list of a plain map item */
    pp_value *result;   /* the result node every call fills */
    struct capture out, err;
    const struct host_lang *lang;   /* NULL: C tasks only */
    uint8_t *msgbuf;    /* packed WorkerMsg, reused */
    size_t msgcap;
};

/* Referenced so the static link keeps these objects whole: task libraries
 * resolve pp_* against this executable (export_dynamic), and the error and
 * value helpers they use must be ours, not a second copy from
 * libpolypool.so. */
void *const worker_keep_api[] = {
    (void *)pp_task_fail, (void *)pp_strerror, (void *)pp_value_repr,
    (void *)pp_value_copy, (void *)pp_value_map_set_str,
};

static void die(const char *what)
{
    /* stderr is the daemon's memfd: it salvages this when we exit. */
    fprintf(stderr, "polypool-worker[%d]: %s: %s\n", (int)getpid(), what, strerror(errno));
    fflush(stderr);
    exit(1);
}

/* ---- output capture ------------------------------------------------------- */

static void capture_init(struct capture *c, int fd)
{
    struct stat st;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    /* Run by hand on a terminal, there is nothing to capture. */
    c->on = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Moves what the fd holds into c->buf and empties the fd. */
static void capture_take(struct capture *c)
{
    struct stat st;
    c->len = 0;
    if (!c->on || fstat(c->fd, &st) < 0 || st.st_size <= 0)
        return;
    size_t size = (size_t)st.st_size;
    size_t want = size > OUTPUT_CAP ? OUTPUT_CAP : size;
    size_t need = want + sizeof TRUNCATED;
    if (need > c->cap) {
        uint8_t *p = realloc(c->buf, need);
        if (!p) {
            want = 0;
        } else {
            c->buf = p;
            c->cap = need;
        }
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(c->fd, c->buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    c->len = got;
    if (size > got && c->cap >= got + sizeof TRUNCATED) {
        memcpy(c->buf + got, TRUNCATED, sizeof TRUNCATED - 1);
        c->len += sizeof TRUNCATED - 1;
    }
    if (ftruncate(c->fd, 0) < 0 || lseek(c->fd, 0, SEEK_SET) < 0)
        c->on = false;   /* not ours to empty: stop capturing rather than resend */
}

static void capture_all(struct worker *w)
{
    if (w->lang)
        w->lang->flush(w->lang->arg);
    fflush(stdout);
    fflush(stderr);
    capture_take(&w->out);
    capture_take(&w->err);
}

/* A task that prints and then crashes would lose what stdio still buffers
 * (stdout is a regular file, so fully buffered). On a fatal signal, flush
 * once and die of the same signal. fflush_unlocked is not async-signal-
 * safe, but it cannot deadlock on the stream lock a crashing printf may
 * hold; if it faults in turn, SA_RESETHAND makes that fault fatal with the
 * default action, as if there were no handler. */
static void on_fatal(int sig)
{
    fflush_unlocked(stdout);
    fflush_unlocked(stderr);
    raise(sig);
}

static void catch_fatal_signals(void)
{
    /* An alternate stack, so a stack overflow still gets its flush. */
    static char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- sending -------------------------------------------------------------- */

static void send_msg(struct worker *w, const Polypool__V1__WorkerMsg *m)
{
    size_t n = polypool__v1__worker_msg__get_packed_size(m);
    if (n > w->msgcap) {
        size_t cap = w->msgcap ? w->msgcap : 4096;
        while (cap < n)
            cap *= 2;
        uint8_t *p = realloc(w->msgbuf, cap);
        if (!p)
            die("out of memory");
        w->msgbuf = p;
        w->msgcap = cap;
    }
    polypool__v1__worker_msg__pack(m, w->msgbuf);
    if (frame_write(w->fd, w->msgbuf, n) < 0) {
        /* The daemon is gone: nobody wants our results any more. */
        if (errno == EPIPE || errno == ECONNRESET)
            exit(0);
        die("write to daemon");
    }
}

static void send_hello(struct worker *w)
{
    Polypool__V1__WorkerHello h = POLYPOOL__V1__WORKER_HELLO__INIT;
    h.pid = (uint32_t)w->pid;
    h.version = WORKER_VERSION;
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_HELLO;
    m.hello = &h;
    send_msg(w, &m);
}

/* ---- functions of either language ----------------------------------------- */

/* A resolved function: a C task function, or the language's callable. */
struct callee {
    pp_task_fn cfn;
    void *lfn;
};

static void host_error_init(struct host_error *e)
{
    e->msg[0] = '\0';
    e->exception = NULL;
    e->exception_len = 0;
    e->traceback = NULL;
}

static void host_error_fini(struct host_error *e)
{
    free(e->exception);
    free(e->traceback);
    host_error_init(e);
}

static pp_status callee_lookup(struct worker *w, const Polypool__V1__Function *f,
                               struct callee *ce, const char **label, struct host_error *err)
{
    ce->cfn = NULL;
    ce->lfn = NULL;
    if (f && f->kind_case == POLYPOOL__V1__FUNCTION__KIND_PY && w->lang)
        return w->lang->lookup(w->lang->arg, f->py, &ce->lfn, label, err);
    return task_cache_lookup(&w->cache, f, &ce->cfn, label, err->msg);
}

static pp_status callee_call(struct worker *w, const struct callee *ce, const pp_value *args,
                             pp_value *result, struct host_error *err)
{
    if (ce->lfn)
        return w->lang->call(w->lang->arg, ce->lfn, args, result, err);
    return task_call(ce->cfn, args, result, err->msg);
}

/* Records a failed item; the exception and traceback go to the batch
 * (copied when `keep`, so that one error can fail many items). */
static void record_fail(struct worker *w, pp_status st, struct host_error *err,
                        const char *label, bool keep)
{
    void *exc = err->exception;
    char *tb = err->traceback;
    if (keep) {
        exc = NULL;
        tb = NULL;
        if (err->exception && (exc = malloc(err->exception_len)))
            memcpy(exc, err->exception, err->exception_len);
        if (err->traceback)
            tb = strdup(err->traceback);
    } else {
        err->exception = NULL;
        err->traceback = NULL;
    }
    task_batch_fail_exc(&w->batch, st, err->msg, label, w->pid, exc,
                        exc ? err->exception_len : 0, tb);
}

/* ---- the initializer ------------------------------------------------------ */

static void run_init(struct worker *w, const Polypool__V1__WorkerInit *in)
{
    w->worker_id = in->worker_id;
    Polypool__V1__TaskError te = POLYPOOL__V1__TASK_ERROR__INIT;
    Polypool__V1__WorkerInitDone done = POLYPOOL__V1__WORKER_INIT_DONE__INIT;
    struct host_error herr;
    char *msg = herr.msg;
    char *where = NULL;
    pp_status st = PP_OK;
    const char *label = NULL;
    host_error_init(&herr);

    if (in->initializer && in->initializer->kind_case != POLYPOOL__V1__FUNCTION__KIND__NOT_SET) {
        struct callee fn;
        st = callee_lookup(w, in->initializer, &fn, &label, &herr);
        pp_value *args = NULL;
        if (st == PP_OK && in->initargs) {
            codec_dec d;
            codec_dec_init(&d, in->initargs);
            pp_status dst = codec_dec_next(&d, &args);
            if (dst == PP_EEOF) {
                args = NULL;
            } else if (dst != PP_OK) {
                st = PP_EPROTO;
                snprintf(msg, TASK_MSG_MAX, "malformed initargs");
            } else if (pp_value_kind(args) != PP_LIST && pp_value_kind(args) != PP_TUPLE) {
                st = PP_EINVAL;
                snprintf(msg, TASK_MSG_MAX, "initargs is not a list");
            }
        }
        if (st == PP_OK && !args && !(args = pp_value_list())) {
            st = PP_ENOMEM;
            snprintf(msg, TASK_MSG_MAX, "out of memory");
        }
        if (st == PP_OK) {
            st = callee_call(w, &fn, args, w->result, &herr);
            pp_value_set_null(w->result);
        }
        pp_value_free(args);
        /* What the initializer printed stays in the memfds and goes out
         * with the first task's output. */
        if (w->lang)
            w->lang->flush(w->lang->arg);
        fflush(stdout);
        fflush(stderr);
    }
    if (st != PP_OK) {
        where = task_where(w->pid, label, UINT64_MAX);
        te.status = (Polypool__V1__Status)st;
        te.message = msg;
        te.where = where ? where : (char *)"";
        te.exception.data = herr.exception;
        te.exception.len = herr.exception ? herr.exception_len : 0;
        if (herr.traceback)
            te.traceback = herr.traceback;
        done.error = &te;
    }
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_INIT_DONE;
    m.init_done = &done;
    send_msg(w, &m);
    free(where);
    host_error_fini(&herr);
}

/* ---- tasks ---------------------------------------------------------------- */

static const Polypool__V1__Values no_items = POLYPOOL__V1__VALUES__INIT;

/* Items that cannot be decoded are a daemon bug or corruption: the whole
 * task fails with EPROTO. The daemon accounts results by the task's item
 * count, so the batch covers at least as many items as the task seems to
 * hold, even the ones that already ran. */
static void fail_malformed(struct worker *w, const Polypool__V1__WorkerTask *t,
                           const char *label)
{
    task_batch *b = &w->batch;
    uint64_t n = b->msg.count + 1;
    uint64_t est = task_items_estimate(t->items);
    b->msg.count = est > n ? est : n;
    task_batch_fail_all(b, PP_EPROTO, "malformed task items", label, w->pid);
}

static void run_items(struct worker *w, const Polypool__V1__WorkerTask *t)
{
    task_batch *b = &w->batch;
    struct host_error herr;
    const char *label = NULL;
    struct callee fn;
    host_error_init(&herr);
    pp_status fst = callee_lookup(w, t->function, &fn, &label, &herr);

    codec_dec d;
    codec_dec_init(&d, t->items ? t->items : &no_items);
    for (;;) {
        if (fst != PP_OK) {
            /* Every item fails the same way; walk them without building. */
            pp_status st = codec_dec_skip(&d);
            if (st == PP_EEOF)
                break;
            if (st != PP_OK) {
                fail_malformed(w, t, label);
                break;
            }
            record_fail(w, fst, &herr, label, true);
            continue;
        }
        pp_value *item = NULL;
        pp_status st = codec_dec_next(&d, &item);
        if (st == PP_EEOF)
            break;
        if (st != PP_OK) {
            fail_malformed(w, t, label);
            break;
        }
        const pp_value *args = NULL;
        if (task_args(item, t->star, w->one, &args) != PP_OK) {
            pp_value_free(item);
            task_batch_fail(b, PP_ETASK, "starmap item is not a sequence", label, w->pid);
            continue;
        }
        st = callee_call(w, &fn, args, w->result, &herr);
        if (st == PP_OK)
            task_batch_ok(b, w->result, label, w->pid);
        else
            record_fail(w, st, &herr, label, false);
        pp_value_set_null(w->result);
        if (t->star)
            pp_value_free(item);
        else
            pp_value_set_null(pp_value_at_mut(w->one, 0));
    }
    host_error_fini(&herr);
}

static void run_task(struct worker *w, const Polypool__V1__WorkerTask *t)
{
    task_batch *b = &w->batch;
    task_batch_reset(b, t->job_id, t->first);
    run_items(w, t);

    capture_all(w);
    task_batch_output(b, w->out.buf, w->out.len, w->err.buf, w->err.len);

    const uint8_t *data;
    size_t len;
    if (task_batch_pack(b, &data, &len) != PP_OK)
        die("out of memory packing a result");
    if (len > FRAME_MAX - WRAP_SLACK) {
        /* Results too big for one frame: fail the items instead of the
         * worker, keeping the (capped) output. */
        char msg[128];
        snprintf(msg, sizeof msg, "the task's results (%zu bytes) exceed the %zu byte limit",
                 len, (size_t)FRAME_MAX - WRAP_SLACK);
        task_batch_fail_all(b, PP_EMSGSIZE, msg, NULL, w->pid);
        task_batch_output(b, w->out.buf, w->out.len, w->err.buf, w->err.len);
        if (task_batch_pack(b, &data, &len) != PP_OK)
            die("out of memory packing a result");
    }

    Polypool__V1__WorkerResult r = POLYPOOL__V1__WORKER_RESULT__INIT;
    r.task_id = t->task_id;
    r.batch.data = (uint8_t *)data;
    r.batch.len = len;
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_RESULT;
    m.result = &r;
    send_msg(w, &m);
}

/* ---- process mode: --run FD ------------------------------------------------
 *
 * A process started by ProcStart runs one call and exits with its outcome,
 * as a multiprocessing child does: 0 when the function succeeds, 1 after
 * printing "Process NAME: ..." on stderr when it fails (a Python function
 * gets multiprocessing's own treatment from the language's run hook:
 * traceback, sys.exit codes). The call is a packed WorkerMsg{task} on fd
 * FD; its arguments are the task's top-level items. stdout and stderr are
 * pipes to the daemon.
 */

static uint8_t *read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                break;
            buf = b;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0) {
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    free(buf);
    return NULL;
}

static int process_fail(const char *name, const char *fmt, const char *detail)
{
    fflush(stdout);
    fprintf(stderr, "Process %s: ", name);
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    fflush(stderr);
    return 1;
}

static int run_process(struct worker *w, int fd)
{
    const char *name = getenv("POLYPOOL_PROCESS_NAME");
    if (!name || !*name)
        name = "Process";
    /* Line by line, as on a terminal: the parent sees progress as it comes. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t len = 0;
    uint8_t *raw = read_all(fd, &len);
    close(fd);
    if (!raw)
        return process_fail(name, "cannot read its call: %s", strerror(errno));
    Polypool__V1__WorkerMsg *m = polypool__v1__worker_msg__unpack(NULL, len, raw);
    free(raw);
    if (!m || m->msg_case != POLYPOOL__V1__WORKER_MSG__MSG_TASK || !m->task->items) {
        if (m)
            polypool__v1__worker_msg__free_unpacked(m, NULL);
        return process_fail(name, "%s", "its call is malformed");
    }
    const Polypool__V1__WorkerTask *t = m->task;
    pp_value *args = pp_value_list(), *v = NULL;
    codec_dec d;
    codec_dec_init(&d, t->items);
    pp_status st = args ? PP_OK : PP_ENOMEM;
    while (st == PP_OK && (st = codec_dec_next(&d, &v)) == PP_OK)
        if ((st = pp_value_append(args, v)) != PP_OK)
            pp_value_free(v);
    codec_dec_fini(&d);
    int rc;
    struct host_error err;
    host_error_init(&err);
    struct callee ce;
    const char *label = NULL;
    if (st != PP_EEOF) {
        rc = process_fail(name, "its arguments are malformed: %s", pp_strerror(st));
    } else if ((st = callee_lookup(w, t->function, &ce, &label, &err)) != PP_OK) {
        rc = process_fail(name, "%s", err.msg);
    } else if (ce.lfn && w->lang->run) {
        rc = w->lang->run(w->lang->arg, ce.lfn, args, name);
    } else {
        pp_value *result = pp_value_null();
        st = result ? callee_call(w, &ce, args, result, &err) : PP_ENOMEM;
        if (w->lang)
            w->lang->flush(w->lang->arg);
        if (st == PP_OK)
            rc = 0;
        else if (err.traceback)
            rc = process_fail(name, "\n%s", err.traceback);
        else
            rc = process_fail(name, "%s", err.msg[0] ? err.msg : pp_strerror(st));
        pp_value_free(result);
    }
    host_error_fini(&err);
    pp_value_free(args);
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: polypool-worker --fd N | --run N\n"
            "\n"
            "Runs C tasks for polypoold. Not meant to be started by hand: the daemon\n"
            "spawns it with one end of a socketpair as fd N.\n"
            "\n"
            "  --fd N       the daemon socket (default 3)\n"
            "  --run N      run the one call packed in fd N and exit (a process)\n"
            "  --help       show this help\n"
            "  --version    show the version\n");
}

static int parse_fd(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1 << 20)
        return -1;
    return (int)v;
}

int worker_host_main(int argc, char **argv, const struct host_lang *lang)
{
    struct worker w;
    memset(&w, 0, sizeof w);
    w.fd = 3;
    w.lang = lang;
    int run_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--run") == 0 && i + 1 < argc) {
            if ((run_fd = parse_fd(argv[++i])) < 0) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc) {
            w.fd = parse_fd(argv[++i]);
        } else if (strncmp(argv[i], "--fd=", 5) == 0) {
            w.fd = parse_fd(argv[i] + 5);
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("polypool-worker %s (worker protocol %d)\n", PP_VERSION, WORKER_VERSION);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (run_fd >= 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        task_cache_init(&w.cache);
        int rc = run_process(&w, run_fd);
        task_cache_fini(&w.cache);
        return rc;
    }
    if (w.fd < 0) {
        usage(stderr);
        return 2;
    }
    /* Task code may spawn programs; they must not inherit the daemon link. */
    int fl = fcntl(w.fd, F_GETFD);
    if (fl < 0) {
        fprintf(stderr, "polypool-worker: fd %d: %s\n", w.fd, strerror(errno));
        return 2;
    }
    fcntl(w.fd, F_SETFD, fl | FD_CLOEXEC);

    /* A daemon that takes signals through signalfd blocks them; a mask
     * inherited over posix_spawn would make this worker deaf to the
     * SIGTERM that stops it and surprise task code. Start clean. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    w.pid = (int)getpid();
    task_cache_init(&w.cache);
    task_batch_init(&w.batch);
    capture_init(&w.out, STDOUT_FILENO);
    capture_init(&w.err, STDERR_FILENO);
    if (w.out.on)
        catch_fatal_signals();
    w.one = pp_value_list();
    w.result = pp_value_null();
    pp_value *slot = pp_value_null();
    if (!w.one || !w.result || !slot || pp_value_append(w.one, slot) != PP_OK)
        die("out of memory");

    send_hello(&w);
    /* Buffered: a batch of tasks the daemon sent back to back is one read. */
    struct frame_reader rd;
    frame_reader_init(&rd);
    for (;;) {
        void *payload;
        size_t len;
        int rv = frame_reader_read(&rd, w.fd, &payload, &len);
        if (rv < 0 && (errno == 0 || errno == ECONNRESET))
            break;      /* the daemon is gone */
        if (rv <= 0)
            die("read from daemon");
        Polypool__V1__WorkerMsg *m = polypool__v1__worker_msg__unpack(NULL, len, payload);
        if (!m) {
            errno = EPROTO;
            die("undecodable frame from the daemon");
        }
        bool stop = false;
        switch (m->msg_case) {
        case POLYPOOL__V1__WORKER_MSG__MSG_INIT:
            run_init(&w, m->init);
            break;
        case POLYPOOL__V1__WORKER_MSG__MSG_TASK:
            run_task(&w, m->task);
            break;
        case POLYPOOL__V1__WORKER_MSG__MSG_EXIT:
            stop = true;
            break;
        default:
            /* Unknown or worker-bound messages: ignored, so a newer daemon
             * can add messages an older worker does not know. */
            break;
        }
        polypool__v1__worker_msg__free_unpacked(m, NULL);
        free(payload);
        if (stop)
            break;
    }
    fflush(stdout);
    fflush(stderr);
    /* Freed so that leak checkers see only real leaks. */
    frame_reader_fini(&rd);
    pp_value_free(w.one);
    pp_value_free(w.result);
    task_batch_fini(&w.batch);
    task_cache_fini(&w.cache);
    free(w.out.buf);
    free(w.err.buf);
    free(w.msgbuf);
    return 0;
}
