/* process.c - pp_process: multiprocessing.Process, started by the daemon.
 *
 * The daemon spawns the child (ProcStart) and reads its stdout and stderr;
 * every ProcState reply carries what it read since the last one, which is
 * written here through the client's output function before the reply's
 * state is believed. join long-polls ProcWait until `done` (ended and
 * every byte handed out); is_alive and exitcode poll once.
 *
 * Locking: p->mu serialises the calls on one process (a join in one thread
 * and a terminate in another are both fine); c->mu guards the client's
 * list of processes (c->procs), which pp_client_close walks to join them.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "internal.h"

extern char **environ;

/* One ProcWait waits at most this long at the daemon, so a daemon that
 * went away is noticed between waits; the client allows this much more. */
#define WAIT_SLICE_MS 5000
#define WAIT_GRACE_MS 5000

struct pp_process {
    pp_client *client;        /* NULL once the client closed */
    uint64_t id;
    int pid;
    char *name;
    bool daemon;
    bool ended, done;
    int exitcode;
    pthread_mutex_t mu;
    pp_process *next;         /* c->procs */
};

static atomic_uint process_counter;

const char *pp_current_process_name(void)
{
    const char *name = getenv("POLYPOOL_PROCESS_NAME");
    return name && *name ? name : "MainProcess";
}

pp_status pp_parent_process(int *pid, const char **name)
{
    const char *p = getenv("POLYPOOL_PARENT_PID"), *n = getenv("POLYPOOL_PARENT_NAME");
    char *end;
    long v = p ? strtol(p, &end, 10) : 0;
    if (!p || !*p || *end || v <= 0 || !n) {
        error_set(PP_ENOENT, "this process was not started by pp_process_start");
        return PP_ENOENT;
    }
    if (pid)
        *pid = (int)v;
    if (name)
        *name = n;
    return PP_OK;
}

/* ---- replies ----------------------------------------------------------- */

/* Writes the reply's output and takes its state. */
static pp_status absorb(pp_process *p, Polypool__V1__Reply *r)
{
    if (r->result_case != POLYPOOL__V1__REPLY__RESULT_PROC || !r->proc) {
        error_set(PP_EPROTO, "process %s: the daemon answered without a ProcState", p->name);
        return PP_EPROTO;
    }
    const Polypool__V1__ProcState *ps = r->proc;
    client_output(p->client, &ps->out, &ps->err);
    if (!ps->alive) {
        p->ended = true;
        p->exitcode = ps->exitcode;
    }
    p->done = ps->done;
    return PP_OK;
}

static void nows(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static int64_t ms_since(const struct timespec *t0)
{
    struct timespec t;
    nows(&t);
    return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One ProcWait: poll, or wait up to wait_ms. p->mu held. */
static pp_status wait_once(pp_process *p, bool poll, int wait_ms)
{
    if (!p->client) {
        error_set(PP_ECLOSED, "process %s: its client is closed", p->name);
        return PP_ECLOSED;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ProcWait pw = POLYPOOL__V1__PROC_WAIT__INIT;
    pw.id = p->id;
    pw.poll = poll;
    req.op_case = POLYPOOL__V1__REQUEST__OP_PROC_WAIT;
    req.proc_wait = &pw;
    req.timeout_ms = poll ? 0 : (uint64_t)(wait_ms > 0 ? wait_ms : 1);
    Polypool__V1__Reply *r = NULL;
    pp_status st = client_rpc(p->client, &req, (poll ? 0 : wait_ms) + WAIT_GRACE_MS, &r);
    if (st != PP_OK)
        return st;
    st = absorb(p, r);
    client_reply_free(r);
    return st;
}

/* Waits until done or timeout_ms passed. p->mu held. */
static pp_status join_locked(pp_process *p, int timeout_ms)
{
    struct timespec t0;
    nows(&t0);
    while (!p->done) {
        int left = WAIT_SLICE_MS;
        if (timeout_ms >= 0) {
            int64_t l = timeout_ms - ms_since(&t0);
            if (l <= 0)
                return wait_once(p, true, 0) == PP_OK && p->done ? PP_OK : PP_ETIMEDOUT;
            if (l < left)
                left = (int)l;
        }
        pp_status st = wait_once(p, false, left);
        if (st != PP_OK)
            return st;
    }
    return PP_OK;
}

/* ---- start ----------------------------------------------------------------- */

static void list_add(pp_client *c, pp_process *p)
{
    pthread_mutex_lock(&c->mu);
    p->next = c->procs;
    c->procs = p;
    pthread_mutex_unlock(&c->mu);
}

static void list_remove(pp_client *c, pp_process *p)
{
    pthread_mutex_lock(&c->mu);
    for (pp_process **pp = &c->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

pp_status pp_process_start(pp_client *c, const pp_func *f, const pp_value *args,
                           const pp_process_opts *opts, pp_process **out)
{
    if (!c || !f || !out) {
        error_set(PP_EINVAL, "pp_process_start: NULL client, function or out");
        return PP_EINVAL;
    }
    if (args && pp_value_kind(args) != PP_LIST && pp_value_kind(args) != PP_TUPLE) {
        error_set(PP_EINVAL, "pp_process_start: args must be a LIST");
        return PP_EINVAL;
    }
    pp_process *p = calloc(1, sizeof *p);
    if (!p) {
        error_set(PP_ENOMEM, "pp_process_start: out of memory");
        return PP_ENOMEM;
    }
    /* As multiprocessing: Process-N, and a process's own children
     * <its name>:N. */
    const char *mine = getenv("POLYPOOL_PROCESS_NAME");
    char dflt[1100];
    snprintf(dflt, sizeof dflt, "%.1024s%s%u", mine && *mine ? mine : "Process",
             mine && *mine ? ":" : "-", atomic_fetch_add(&process_counter, 1) + 1);
    p->name = strdup(opts && opts->name && *opts->name ? opts->name : dflt);
    if (!p->name) {
        free(p);
        error_set(PP_ENOMEM, "pp_process_start: out of memory");
        return PP_ENOMEM;
    }
    p->client = c;
    p->daemon = opts && opts->daemon;
    pthread_mutex_init(&p->mu, NULL);

    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ProcStart ps = POLYPOOL__V1__PROC_START__INIT;
    struct func_msg fm;
    Polypool__V1__Values values;
    codec_enc enc;
    codec_enc_init(&enc);
    pp_status st = PP_OK;
    for (size_t i = 0; args && i < pp_value_len(args) && st == PP_OK; i++)
        st = codec_enc_value(&enc, pp_value_at(args, i));
    if (st != PP_OK) {
        error_set(st, "pp_process_start: cannot encode the arguments");
        goto out;
    }
    codec_enc_msg(&enc, &values);
    /* Always with its environment: starting a process is rare. */
    func_to_msg(f, &fm, NULL);
    ps.function = &fm.fn;
    ps.args = &values;
    ps.name = p->name;
    ps.daemon = p->daemon;
    ps.parent_name = (char *)pp_current_process_name();
    char cwd[PATH_MAX];
    if (!f->py) {
        /* A C function's process starts where this one is, with its
         * environment, as a spawned child would. */
        ps.cwd = getcwd(cwd, sizeof cwd) ? cwd : "";
        size_t n = 0;
        while (environ && environ[n])
            n++;
        ps.n_environ = n;
        ps.environ = environ;
    }
    req.op_case = POLYPOOL__V1__REQUEST__OP_PROC_START;
    req.proc_start = &ps;
    Polypool__V1__Reply *r = NULL;
    st = client_rpc(c, &req, 30000, &r);
    if (st == PP_OK) {
        if (r->result_case == POLYPOOL__V1__REPLY__RESULT_PROC && r->proc) {
            p->id = r->proc->id;
            p->pid = (int)r->proc->pid;
            st = absorb(p, r);
        } else {
            error_set(PP_EPROTO, "ProcStart answered without a ProcState");
            st = PP_EPROTO;
        }
        client_reply_free(r);
    }
out:
    codec_enc_fini(&enc);
    if (st != PP_OK) {
        pthread_mutex_destroy(&p->mu);
        free(p->name);
        free(p);
        return st;
    }
    list_add(c, p);
    *out = p;
    return PP_OK;
}

/* ---- the rest of the API ---------------------------------------------------- */

pp_status pp_process_join(pp_process *p, int timeout_ms)
{
    if (!p) {
        error_set(PP_EINVAL, "pp_process_join: NULL process");
        return PP_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    pp_status st = join_locked(p, timeout_ms);
    pthread_mutex_unlock(&p->mu);
    if (st == PP_ETIMEDOUT)
        error_set(st, "process %s still runs", p->name);
    return st;
}

/* A poll unless the answer is known. */
static pp_status refresh(pp_process *p)
{
    pp_status st = PP_OK;
    pthread_mutex_lock(&p->mu);
    if (!p->ended)
        st = wait_once(p, true, 0);
    else if (!p->done && p->client)
        wait_once(p, true, 0);      /* output only: the state is known */
    pthread_mutex_unlock(&p->mu);
    return st;
}

bool pp_process_is_alive(pp_process *p)
{
    return p && refresh(p) == PP_OK && !p->ended;
}

pp_status pp_process_exitcode(pp_process *p, int *code)
{
    if (!p || !code) {
        error_set(PP_EINVAL, "pp_process_exitcode: NULL process or code");
        return PP_EINVAL;
    }
    pp_status st = refresh(p);
    if (st != PP_OK)
        return st;
    if (!p->ended) {
        error_set(PP_EAGAIN, "process %s still runs", p->name);
        return PP_EAGAIN;
    }
    *code = p->exitcode;
    return PP_OK;
}

static pp_status send_signal(pp_process *p, int sig)
{
    if (!p) {
        error_set(PP_EINVAL, "process signal: NULL process");
        return PP_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    pp_status st = PP_OK;
    if (!p->ended && !p->client) {
        error_set(PP_ECLOSED, "process %s: its client is closed", p->name);
        st = PP_ECLOSED;
    } else if (!p->ended) {
        Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
        Polypool__V1__ProcSignal sg = POLYPOOL__V1__PROC_SIGNAL__INIT;
        sg.id = p->id;
        sg.signal = sig;
        req.op_case = POLYPOOL__V1__REQUEST__OP_PROC_SIGNAL;
        req.proc_signal = &sg;
        Polypool__V1__Reply *r = NULL;
        st = client_rpc(p->client, &req, 10000, &r);
        if (st == PP_OK) {
            st = absorb(p, r);
            client_reply_free(r);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

pp_status pp_process_terminate(pp_process *p) { return send_signal(p, SIGTERM); }
pp_status pp_process_interrupt(pp_process *p) { return send_signal(p, SIGINT); }
pp_status pp_process_kill(pp_process *p) { return send_signal(p, SIGKILL); }

int pp_process_pid(const pp_process *p) { return p ? p->pid : 0; }
const char *pp_process_name(const pp_process *p) { return p ? p->name : NULL; }
bool pp_process_daemon(const pp_process *p) { return p && p->daemon; }

static void release(pp_process *p)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ProcRelease rl = POLYPOOL__V1__PROC_RELEASE__INIT;
    rl.id = p->id;
    req.op_case = POLYPOOL__V1__REQUEST__OP_PROC_RELEASE;
    req.proc_release = &rl;
    client_rpc(p->client, &req, 10000, NULL);
}

void pp_process_free(pp_process *p)
{
    if (!p)
        return;
    if (p->client) {
        list_remove(p->client, p);
        if (getpid() == p->client->pid)
            release(p);
    }
    pthread_mutex_destroy(&p->mu);
    free(p->name);
    free(p);
}

void process_client_closing(pp_client *c)
{
    pthread_mutex_lock(&c->mu);
    pp_process *list = c->procs;
    c->procs = NULL;
    pthread_mutex_unlock(&c->mu);
    /* multiprocessing at exit: terminate the daemonic, join the others. */
    for (pp_process *p = list; p; p = p->next)
        if (p->daemon)
            pp_process_terminate(p);
    for (pp_process *p = list; p; p = p->next) {
        pthread_mutex_lock(&p->mu);
        join_locked(p, -1);
        p->client = NULL;
        pthread_mutex_unlock(&p->mu);
    }
}
