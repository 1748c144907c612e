/* server.c - nng side of the daemon; see server.h.
 *
 * Contexts. Each struct sctx owns one rep0 context and one aio and moves
 * RECV -> (reply now: SEND | PARKED -> SEND) -> RECV. A parked context
 * holds the request's backtrace, so every waiting request owns a context;
 * the pool grows by CTX_GROW from the loop thread whenever fewer than
 * CTX_LOW contexts are receiving, so clients never stall behind parked
 * requests. Sessions may park at most SESSION_MAX_PARKED requests.
 *
 * Locking: n_recv, grow_wanted and the dead-pipe queue are touched without
 * the daemon lock (atomics / dead_mtx); everything else under it. No nng
 * call that waits (close, aio_wait/stop/free) runs in a callback.
 */
#define WIRE_PROTOBUF 1
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "log.h"
#include "loop.h"
#include "pool.h"
#include "pp_config.h"
#include "proc.h"
#include "pyenv.h"
#include "scheduler.h"
#include "session.h"
#include "objstore.h"
#include "shm.h"
#include "sync_core.h"
#include "util.h"
#include "wire.h"
#include "worker.h"

#define CTX_INITIAL 64
#define CTX_GROW 64
#define CTX_LOW 16
#define SEND_TIMEOUT_MS 10000
#define COLLECT_MAX_BYTES ((size_t)16 << 20)

enum sctx_state { SC_RECV, SC_PARKED, SC_SEND };

struct sctx {
    nng_ctx ctx;
    nng_aio *aio;
    enum sctx_state state;
    struct park park;
    bool shutdown_after;
    struct sctx *next_all;
};

static nng_socket sock = NNG_SOCKET_INITIALIZER;
static nng_listener lst = NNG_LISTENER_INITIALIZER;
static pthread_mutex_t lst_mtx = PTHREAD_MUTEX_INITIALIZER;
/* Listeners replaced by the health check. Closing an nng listener also
 * closes every pipe it accepted, so a stuck ipc listener is kept (its
 * sessions live on) and only closed at shutdown. */
#define MAX_RETIRED 64
static nng_listener retired[MAX_RETIRED];
static int n_retired;
static struct server_config cfg;
static char *url_copy;
static bool is_ipc;
static uint64_t start_ms;
static struct sctx *all_ctx;
static atomic_int n_recv;
static atomic_bool grow_wanted;
static atomic_bool shutdown_sent;
static uint64_t shutdown_deadline;   /* 0: no shutdown asked */

static pthread_mutex_t dead_mtx = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *dead_pipes;
static size_t n_dead, cap_dead;

static pthread_t health_thr;
static bool health_running;
static pthread_mutex_t health_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t health_cv = PTHREAD_COND_INITIALIZER;
static bool health_stop;

/* ---- replies -------------------------------------------------------- */

static nng_msg *pack_reply(const Polypool__V1__Reply *r)
{
    size_t n = polypool__v1__reply__get_packed_size(r);
    nng_msg *m;
    if (nng_msg_alloc(&m, n) != 0)
        return NULL;
    polypool__v1__reply__pack(r, nng_msg_body(m));
    return m;
}

static nng_msg *reply_status(uint64_t id, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static nng_msg *reply_status(uint64_t id, int status, const char *fmt, ...)
{
    char detail[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    r.id = id;
    r.status = (Polypool__V1__Status)status;
    r.detail = detail;
    return pack_reply(&r);
}

static void ctx_send(struct sctx *c, nng_msg *m)
{
    if (!m) {
        /* Out of memory for the reply: try a tiny one. */
        log_error("out of memory building a reply");
        m = reply_status(c->park.req_id, WS_EINTERNAL, "out of memory building the reply");
    }
    if (!m) {
        /* Give up on this request; the context goes back to receiving. */
        c->state = SC_RECV;
        atomic_fetch_add(&n_recv, 1);
        nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->state = SC_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_aio_set_timeout(c->aio, SEND_TIMEOUT_MS);
    nng_ctx_send(c->ctx, c->aio);
}

/* Requests parked on a primitive (PARK_SYNC). */
static size_t n_sync_parked;

struct sync_out {
    int64_t value;
    bool barrier;             /* parties, n_waiting, broken are set */
    uint32_t parties, n_waiting;
    bool broken;
};
static int sync_try(struct session *s, struct park *pk, bool timed_out, struct sync_out *out);
static nng_msg *proc_reply(uint64_t req_id, struct proc *p);
static nng_msg *sync_reply(uint64_t req_id, int st, const struct sync_out *out);

static void unpark(struct sctx *c)
{
    struct park *pk = &c->park;
    if (pk->kind == PARK_SYNC)
        n_sync_parked--;
    list_del(&pk->link);
    if (pk->sess)
        pk->sess->n_parked--;
    free(pk->job_ids);
    pk->job_ids = NULL;
    pk->n_job_ids = 0;
}

/* ---- results ----------------------------------------------------------- */

struct gather {
    struct wire_blob *blobs;
    struct task **tasks;
    size_t n, cap;
    uint64_t *done;
    struct job **done_jobs;
    size_t nd, capd;
    size_t bytes;
};

static int gather_push(struct gather *g, struct task *t)
{
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        struct wire_blob *nb = realloc(g->blobs, nc * sizeof *nb);
        if (!nb)
            return -1;
        g->blobs = nb;
        struct task **nt = realloc(g->tasks, nc * sizeof *nt);
        if (!nt)
            return -1;
        g->tasks = nt;
        g->cap = nc;
    }
    g->blobs[g->n].data = t->rbuf + t->roff;
    g->blobs[g->n].len = t->rlen;
    g->tasks[g->n++] = t;
    g->bytes += t->rlen;
    return 0;
}

static int gather_done(struct gather *g, struct job *j)
{
    if (g->nd == g->capd) {
        size_t nc = g->capd ? g->capd * 2 : 8;
        uint64_t *nd = realloc(g->done, nc * sizeof *nd);
        if (!nd)
            return -1;
        g->done = nd;
        struct job **nj = realloc(g->done_jobs, nc * sizeof *nj);
        if (!nj)
            return -1;
        g->done_jobs = nj;
        g->capd = nc;
    }
    g->done[g->nd] = j->id;
    g->done_jobs[g->nd++] = j;
    return 0;
}

/* Takes up to max_batches / max_bytes (at least one batch) ready results of
 * j, and marks it done when complete and fully taken. */
static int gather_job(struct gather *g, struct job *j, uint32_t max_batches, size_t max_bytes)
{
    size_t k = 0;
    list_for_each (l, &j->ready) {
        if (max_batches && g->n >= max_batches)
            return 0;
        struct task *t = container_of(l, struct task, link);
        if (g->n && g->bytes + t->rlen > max_bytes)
            return 0;
        if (gather_push(g, t) < 0)
            return -1;
        k++;
    }
    if (sched_job_complete(j) && k == j->n_ready)
        return gather_done(g, j);
    return 0;
}

/* After the reply is built: the gathered results are delivered. */
static void gather_commit(struct gather *g)
{
    for (size_t i = 0; i < g->n; i++) {
        struct task *t = g->tasks[i];
        struct job *j = t->job;
        list_del(&t->link);
        j->n_ready--;
        j->ready_bytes -= t->rlen;
        sched_task_free(t);
        if (!j->n_ready && !sched_job_complete(j))
            list_del(&j->ready_link);
    }
    for (size_t i = 0; i < g->nd; i++)
        sched_job_release(g->done_jobs[i]);
}

static void gather_fini(struct gather *g)
{
    free(g->blobs);
    free(g->tasks);
    free(g->done);
    free(g->done_jobs);
}

static nng_msg *build_collect(uint64_t req_id, struct gather *g)
{
    size_t n = wire_reply_collect(NULL, req_id, g->blobs, g->n, g->done, g->nd);
    nng_msg *m;
    if (nng_msg_alloc(&m, n) != 0)
        return NULL;
    wire_reply_collect(nng_msg_body(m), req_id, g->blobs, g->n, g->done, g->nd);
    return m;
}

static nng_msg *build_submit(uint64_t req_id, struct job *j, bool with_results, struct gather *g)
{
    size_t n = wire_reply_submit(NULL, req_id, j->id, j->received, with_results, g->blobs, g->n,
                                 g->done, g->nd);
    nng_msg *m;
    if (nng_msg_alloc(&m, n) != 0)
        return NULL;
    wire_reply_submit(nng_msg_body(m), req_id, j->id, j->received, with_results, g->blobs, g->n,
                      g->done, g->nd);
    return m;
}

/* ---- parked requests ------------------------------------------------- */

/* Tries to answer a parked request; with timed_out, answers in any case.
 * Returns true when it replied. */
static bool park_try(struct sctx *c, bool timed_out)
{
    struct park *pk = &c->park;
    struct session *s = pk->sess;
    nng_msg *m = NULL;
    switch (pk->kind) {
    case PARK_SUBMIT: {
        struct job *j = session_job(s, pk->job_id);
        if (!j) {
            m = reply_status(pk->req_id, WS_ECANCELED, "job %llu was cancelled",
                             (unsigned long long)pk->job_id);
            break;
        }
        bool ready = sched_job_complete(j) || (j->more && j->resolved == j->received) ||
                     j->ready_bytes > SCHED_WAIT_MAX_BYTES;
        if (!ready && !timed_out)
            return false;
        struct gather g = { 0 };
        if (gather_job(&g, j, 0, SIZE_MAX) < 0) {
            gather_fini(&g);
            m = reply_status(pk->req_id, WS_ENOMEM, "out of memory gathering results");
            break;
        }
        m = build_submit(pk->req_id, j, true, &g);
        if (m)
            gather_commit(&g);
        gather_fini(&g);
        break;
    }
    case PARK_COLLECT: {
        struct gather g = { 0 };
        bool any_job = false, ready = false;
        if (pk->n_job_ids) {
            for (size_t i = 0; i < pk->n_job_ids; i++) {
                struct job *j = session_job(s, pk->job_ids[i]);
                if (!j)
                    continue;
                any_job = true;
                if (j->n_ready || sched_job_complete(j))
                    ready = true;
            }
            if (!any_job) {
                m = reply_status(pk->req_id, WS_ENOENT, "no such job");
                break;
            }
        } else {
            ready = !list_empty(&s->async_ready);
        }
        if (!ready && !timed_out)
            return false;
        int rv = 0;
        if (pk->n_job_ids) {
            for (size_t i = 0; i < pk->n_job_ids && rv == 0; i++) {
                struct job *j = session_job(s, pk->job_ids[i]);
                /* A job named twice must not be gathered twice. */
                for (size_t k = 0; j && k < i; k++)
                    if (pk->job_ids[k] == pk->job_ids[i])
                        j = NULL;
                if (j)
                    rv = gather_job(&g, j, pk->max_batches, COLLECT_MAX_BYTES);
            }
        } else {
            /* Only the async jobs that have something: not O(jobs). */
            list_for_each (l, &s->async_ready) {
                struct job *j = container_of(l, struct job, ready_link);
                rv = gather_job(&g, j, pk->max_batches, COLLECT_MAX_BYTES);
                if (rv < 0 || (pk->max_batches && g.n >= pk->max_batches) ||
                    g.bytes >= COLLECT_MAX_BYTES)
                    break;
            }
        }
        if (rv < 0) {
            gather_fini(&g);
            m = reply_status(pk->req_id, WS_ENOMEM, "out of memory gathering results");
            break;
        }
        m = build_collect(pk->req_id, &g);
        if (m)
            gather_commit(&g);
        gather_fini(&g);
        break;
    }
    case PARK_SYNC: {
        struct sync_out out = { 0 };
        int st = sync_try(s, pk, timed_out, &out);
        if (st == WS_EAGAIN && (!timed_out || pk->waiter.phase))
            return false;   /* a condition or barrier waiter must get its lock back */
        if (st == WS_EAGAIN)
            st = WS_ETIMEDOUT;
        m = sync_reply(pk->req_id, st, &out);
        break;
    }
    case PARK_PROC: {
        struct proc *p = proc_get(s, pk->proc_id);
        if (p && !proc_ready(p, now_ms()) && !timed_out)
            return false;
        m = p ? proc_reply(pk->req_id, p)
              : reply_status(pk->req_id, WS_ENOENT, "no process %llu in this session",
                             (unsigned long long)pk->proc_id);
        break;
    }
    case PARK_JOIN: {
        struct pool *p = pool_by_id(pk->pool_id);
        bool done = !session_has_work_on(s, pk->pool_id);
        if (done && p && p->kind == POOL_PRIVATE && p->n_workers > 0)
            done = false;
        if (!done && !timed_out)
            return false;
        if (!done) {
            m = reply_status(pk->req_id, WS_ETIMEDOUT, "pool %llu still has work",
                             (unsigned long long)pk->pool_id);
            break;
        }
        m = reply_status(pk->req_id, WS_OK, NULL);
        /* A joined private pool has nothing left: free it now. */
        if (p && p->kind == POOL_PRIVATE && p->owner == s && p->n_workers == 0 &&
            pool_drained(p)) {
            list_del(&p->owner_link);
            p->owner = NULL;
            pool_free(p);
        }
        break;
    }
    }
    unpark(c);
    ctx_send(c, m);
    return true;
}

static void poll_session(struct session *s)
{
    list_for_each_safe (l, tmp, &s->parked)
        park_try(container_of(l, struct sctx, park.link), false);
}

/* Parks c for session s; the caller filled the kind-specific fields. */
static void park(struct sctx *c, struct session *s, enum park_kind kind, uint64_t req_id,
                 uint64_t deadline)
{
    struct park *pk = &c->park;
    pk->kind = kind;
    pk->sess = s;
    pk->req_id = req_id;
    pk->deadline = deadline;
    c->state = SC_PARKED;
    list_push_back(&s->parked, &pk->link);
    s->n_parked++;
    if (deadline)
        loop_deadline(deadline);
}

/* ---- handlers ---------------------------------------------------------- */

static uint64_t deadline_of(uint64_t timeout_ms)
{
    if (!timeout_ms)
        return 0;
    if (timeout_ms > (uint64_t)1 << 40)
        timeout_ms = (uint64_t)1 << 40;
    return now_ms() + timeout_ms;
}

static nng_msg *h_hello(const Polypool__V1__Request *rq, nng_pipe pipe)
{
    const Polypool__V1__Hello *h = rq->hello;
    if (h->version != POLYPOOL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT)
        return reply_status(rq->id, WS_EVERSION,
                            "protocol version %u is not supported (this daemon speaks %d)",
                            h->version, POLYPOOL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    uint32_t pid = nng_pipe_id(pipe);
    struct session *s = session_by_pipe(pid);
    if (!s) {
        uint64_t peer_pid = h->pid, peer_uid = geteuid();
        nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &peer_pid);
        nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &peer_uid);
        s = session_new(pid, (uint32_t)peer_pid, (uint32_t)peer_uid, h->name);
        if (!s)
            return reply_status(rq->id, WS_ENOMEM, "out of memory");
        log_info("session %llu: hello from pid %u (%s)", (unsigned long long)s->id, s->pid,
                 s->name);
    }
    Polypool__V1__HelloReply hr = POLYPOOL__V1__HELLO_REPLY__INIT;
    hr.version = POLYPOOL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    hr.session_id = s->id;
    hr.daemon_pid = (uint32_t)getpid();
    hr.cpu_count = pool_config()->cpu_count;
    hr.max_message = cfg.max_message;
    hr.default_pool_id = pool_default() ? pool_default()->id : 0;
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    r.id = rq->id;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_HELLO;
    r.hello = &hr;
    return pack_reply(&r);
}

static bool nonempty(const char *s)
{
    return s && s[0];
}

/* Interns a PyEnv (a new reference in *out). -1 with *why when it is not
 * usable: the interpreter must be an absolute path. */
static int intern_env(const Polypool__V1__PyEnv *pe, struct pyenv **out, const char **why)
{
    if (!pe || !nonempty(pe->interpreter) || pe->interpreter[0] != '/') {
        *why = "a Python function needs an environment with an absolute interpreter path";
        return -1;
    }
    if (pe->n_path > 4096) {
        *why = "the environment's path has over 4096 entries";
        return -1;
    }
    if (pe->n_environ > 65536) {
        *why = "the environment has over 65536 variables";
        return -1;
    }
    *out = pyenv_intern(pe->interpreter, pe->path, pe->n_path, pe->main_path,
                        pe->main_module, pe->cwd, pe->environ, pe->n_environ);
    if (!*out) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* Checks f; for a Python function also interns its environment into
 * *env (NULL for C), or finds the one the session named env_id. The names
 * go to *a and *b (borrowed from f). */
static int check_function(struct session *s, const Polypool__V1__Function *f, const char **a,
                          const char **b, struct pyenv **env, const char **why)
{
    *env = NULL;
    if (!f || f->kind_case == POLYPOOL__V1__FUNCTION__KIND__NOT_SET) {
        *why = "a function is required";
        return -1;
    }
    if (f->kind_case == POLYPOOL__V1__FUNCTION__KIND_PY) {
        if (!f->py || !nonempty(f->py->module) || !nonempty(f->py->qualname)) {
            *why = "a Python function needs a module and a qualified name";
            return -1;
        }
        *a = f->py->module;
        *b = f->py->qualname;
        if (!f->py->env && f->py->env_id) {
            if (!(*env = pyenv_ref(session_env(s, f->py->env_id)))) {
                *why = "env_id names no environment of this session: send the env with it";
                return -1;
            }
            return 0;
        }
        if (intern_env(f->py->env, env, why) < 0)
            return -1;
        if (f->py->env_id && session_env_put(s, f->py->env_id, *env) < 0) {
            pyenv_unref(*env);
            *env = NULL;
            *why = "out of memory";
            return -1;
        }
        return 0;
    }
    if (f->kind_case != POLYPOOL__V1__FUNCTION__KIND_C || !f->c || !nonempty(f->c->library) ||
        !nonempty(f->c->symbol)) {
        *why = "a C function needs a library and a symbol";
        return -1;
    }
    *a = f->c->library;
    *b = f->c->symbol;
    return 0;
}

static nng_msg *pool_info(uint64_t req_id, const struct pool *p, bool created)
{
    Polypool__V1__PoolInfo pi = POLYPOOL__V1__POOL_INFO__INIT;
    pi.pool_id = p->id;
    pi.name = p->name;
    pi.size = p->size;
    pi.created = created;
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    r.id = req_id;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_POOL;
    r.pool = &pi;
    return pack_reply(&r);
}

static nng_msg *create_pool(struct session *s, const Polypool__V1__Request *rq,
                            const Polypool__V1__PoolCreate *pc, const char *lib,
                            const char *sym, struct pyenv *env, bool py_init);

static nng_msg *h_pool_create(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__PoolCreate *pc = rq->pool_create;
    const char *why;
    const char *lib = NULL, *sym = NULL;
    struct pyenv *init_env = NULL, *env = NULL;
    if (pc->size > 4096)
        return reply_status(rq->id, WS_EINVAL, "pool size %u is over the limit (4096)", pc->size);
    if (pc->initializer && check_function(s, pc->initializer, &lib, &sym, &init_env, &why) < 0)
        return reply_status(rq->id, WS_EINVAL, "initializer: %s", why);
    if (pc->python && !init_env && intern_env(pc->python, &env, &why) < 0)
        return reply_status(rq->id, WS_EINVAL, "python: %s", why);
    nng_msg *m = create_pool(s, rq, pc, lib, sym, init_env ? init_env : env, init_env != NULL);
    pyenv_unref(init_env);
    pyenv_unref(env);
    return m;
}

static nng_msg *create_pool(struct session *s, const Polypool__V1__Request *rq,
                            const Polypool__V1__PoolCreate *pc, const char *lib,
                            const char *sym, struct pyenv *env, bool py_init)
{
    const char *why;
    uint8_t *args = NULL;
    size_t args_len = 0, n;
    if (pc->initargs) {
        if (wire_values_check(pc->initargs, false, &n, &why) < 0)
            return reply_status(rq->id, WS_EPROTO, "initargs: %s", why);
        args = wire_values_pack(pc->initargs, &args_len);
        if (!args)
            return reply_status(rq->id, WS_ENOMEM, "out of memory");
    }
    nng_msg *m;
    struct pool *p;
    const char *name = pc->name ? pc->name : "";
    switch (pc->mode) {
    case POLYPOOL__V1__POOL_MODE__POOL_MODE_PRIVATE:
        p = pool_new(POOL_PRIVATE, "", pc->size, pc->maxtasksperchild, lib, sym, args, args_len, s);
        if (p)
            pool_set_env(p, env, py_init);
        m = p ? pool_info(rq->id, p, true) : reply_status(rq->id, WS_ENOMEM, "out of memory");
        break;
    case POLYPOOL__V1__POOL_MODE__POOL_MODE_CREATE:
    case POLYPOOL__V1__POOL_MODE__POOL_MODE_ATTACH:
    case POLYPOOL__V1__POOL_MODE__POOL_MODE_CREATE_OR_ATTACH:
        if (!name[0]) {
            m = reply_status(rq->id, WS_EINVAL, "a named pool needs a name");
            break;
        }
        p = pool_by_name(name);
        if (p && pc->mode == POLYPOOL__V1__POOL_MODE__POOL_MODE_CREATE) {
            m = reply_status(rq->id, WS_EEXIST, "pool \"%s\" exists", name);
            break;
        }
        if (!p && pc->mode == POLYPOOL__V1__POOL_MODE__POOL_MODE_ATTACH) {
            m = reply_status(rq->id, WS_ENOENT, "no pool named \"%s\"", name);
            break;
        }
        bool created = !p;
        if (!p)
            if ((p = pool_new(POOL_NAMED, name, pc->size, pc->maxtasksperchild, lib, sym, args,
                              args_len, NULL)))
                pool_set_env(p, env, py_init);
        if (!p || pool_attach(p, s) < 0) {
            m = reply_status(rq->id, WS_ENOMEM, "out of memory");
            break;
        }
        session_forget_closed(s, p->id);
        m = pool_info(rq->id, p, created);
        break;
    default:
        m = reply_status(rq->id, WS_EINVAL, "unknown pool mode %d", (int)pc->mode);
        break;
    }
    free(args);
    return m;
}

static nng_msg *h_pool_close(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__PoolClose *pcl = rq->pool_close;
    struct pool *p = pool_by_id(pcl->pool_id);
    if (!p || (p->kind == POOL_PRIVATE && p->owner != s)) {
        if (session_closed_pool(s, pcl->pool_id))
            return reply_status(rq->id, WS_OK, NULL);
        return reply_status(rq->id, WS_ENOENT, "no pool %llu", (unsigned long long)pcl->pool_id);
    }
    if (session_note_closed(s, p->id) < 0)
        return reply_status(rq->id, WS_ENOMEM, "out of memory");
    if (p->kind == POOL_PRIVATE) {
        if (pcl->terminate)
            pool_terminate(p);
        else
            pool_close(p);
        return reply_status(rq->id, WS_OK, NULL);
    }
    /* Shared pools: this session detaches; terminate cancels its jobs. */
    if (pcl->terminate) {
        list_for_each_safe (l, tmp, &s->jobs_list) {
            struct job *j = container_of(l, struct job, sess_link);
            if (j->pool_id == p->id && !sched_job_complete(j))
                sched_job_cancel(j);
        }
    }
    if (session_attached(s, p->id))
        pool_detach(p, s);
    return reply_status(rq->id, WS_OK, NULL);
}

static nng_msg *h_pool_join(struct sctx *c, struct session *s, const Polypool__V1__Request *rq)
{
    uint64_t id = rq->pool_join->pool_id;
    if (!session_closed_pool(s, id)) {
        struct pool *p = pool_by_id(id);
        if (p && (p->kind != POOL_PRIVATE || p->owner == s))
            return reply_status(rq->id, WS_EBUSY, "pool %llu is not closed",
                                (unsigned long long)id);
        return reply_status(rq->id, WS_ENOENT, "no pool %llu", (unsigned long long)id);
    }
    if (s->n_parked >= SESSION_MAX_PARKED)
        return reply_status(rq->id, WS_EBUSY, "too many requests waiting");
    c->park.pool_id = id;
    park(c, s, PARK_JOIN, rq->id, deadline_of(rq->timeout_ms));
    park_try(c, false);
    return NULL;
}

/* The outcome of one Submit before it becomes a reply. */
struct submit_out {
    int status;
    char detail[256];
    struct job *job;          /* set on success */
};

static int submit_fail(struct submit_out *o, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int submit_fail(struct submit_out *o, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->detail, sizeof o->detail, fmt, ap);
    va_end(ap);
    o->status = status;
    return -1;
}

/* Creates or feeds the job of one Submit `sub` that arrived in wr, with
 * `timeout_ms` as the deadline of a new job (0: none). Shared by Submit
 * and SubmitBatch. Returns 0 with o->job set, or -1 with o->status and
 * o->detail. Does not park: the caller handles `wait`. */
static int submit_job_env(struct session *s, struct wire_req *wr,
                          const Polypool__V1__Submit *sub, uint64_t timeout_ms,
                          struct submit_out *o, struct pyenv **env);

static int submit_job(struct session *s, struct wire_req *wr, const Polypool__V1__Submit *sub,
                      uint64_t timeout_ms, struct submit_out *o)
{
    /* The job takes its own reference to the environment. */
    struct pyenv *env = NULL;
    int rv = submit_job_env(s, wr, sub, timeout_ms, o, &env);
    pyenv_unref(env);
    return rv;
}

static int submit_job_env(struct session *s, struct wire_req *wr,
                          const Polypool__V1__Submit *sub, uint64_t timeout_ms,
                          struct submit_out *o, struct pyenv **env)
{
    const char *why;
    const char *fa = NULL, *fb = NULL;
    o->job = NULL;
    if (!sub->job_id)
        return submit_fail(o, WS_EINVAL, "job_id must not be 0");
    struct job *j = session_job(s, sub->job_id);
    struct pool *p = NULL;
    if (j) {
        if (!j->more)
            return submit_fail(o, WS_EEXIST, "job %llu exists and its input is complete",
                               (unsigned long long)sub->job_id);
    } else {
        p = pool_by_id(sub->pool_id);
        if (!p && session_closed_pool(s, sub->pool_id))
            return submit_fail(o, WS_ECLOSED, "pool %llu is closed",
                               (unsigned long long)sub->pool_id);
        if (!p || (p->kind == POOL_PRIVATE && p->owner != s))
            return submit_fail(o, WS_ENOENT, "no pool %llu", (unsigned long long)sub->pool_id);
        if (p->state == POOL_CLOSED || p->state == POOL_TERMINATED ||
            (p->kind != POOL_PRIVATE && session_closed_pool(s, p->id)))
            return submit_fail(o, WS_ECLOSED, "pool %llu is closed", (unsigned long long)p->id);
        if (p->kind == POOL_NAMED && !session_attached(s, p->id))
            return submit_fail(o, WS_EPERM, "attach to pool \"%s\" first", p->name);
        if (check_function(s, sub->function, &fa, &fb, env, &why) < 0)
            return submit_fail(o, WS_EINVAL, "%s", why);
        if (*env && p->init_env && *env != p->init_env)
            return submit_fail(o, WS_EINVAL,
                               "pool %llu runs a Python initializer in another environment (%s)",
                               (unsigned long long)p->id, pyenv_label(p->init_env));
    }
    bool star = j ? j->star : sub->star;
    size_t n = 0;
    if (wire_values_check(sub->items, star, &n, &why) < 0)
        return submit_fail(o, strstr(why, "star") ? WS_EINVAL : WS_EPROTO, "%s", why);
    if (sub->wait && s->n_parked >= SESSION_MAX_PARKED)
        return submit_fail(o, WS_EBUSY, "too many requests waiting");
    /* Take the items before creating anything, so that running out of
     * memory leaves no half-made job behind. */
    wire_items *it = NULL;
    if (n && !(it = wire_items_adopt(wr, sub->items, n)))
        return submit_fail(o, WS_ENOMEM, "out of memory");
    if (!j) {
        if ((p->kind == POOL_DEFAULT && !session_attached(s, p->id) && pool_attach(p, s) < 0) ||
            !(j = sched_job_new(s, p, sub->job_id, fa, fb, sub->chunksize, sub->star,
                                sub->async))) {
            wire_items_unref(it);
            return submit_fail(o, WS_ENOMEM, "out of memory");
        }
        j->env = pyenv_ref(*env);
        if (session_add_job(s, j) < 0) {
            sched_job_release(j);
            wire_items_unref(it);
            return submit_fail(o, WS_ENOMEM, "out of memory");
        }
        if (timeout_ms)
            sched_job_set_deadline(j, deadline_of(timeout_ms));
    }
    j->more = sub->more;
    int rv = sched_job_feed(j, it, n);
    wire_items_unref(it);
    if (rv < 0)
        return submit_fail(o, WS_ENOMEM, "out of memory queueing items");
    o->job = j;
    return 0;
}

static nng_msg *h_submit(struct sctx *c, struct session *s, struct wire_req *wr)
{
    const Polypool__V1__Request *rq = wr->msg;
    const Polypool__V1__Submit *sub = rq->submit;
    struct submit_out o;
    if (submit_job(s, wr, sub, sub->timeout_ms ? sub->timeout_ms : rq->timeout_ms, &o) < 0)
        return reply_status(rq->id, o.status, "%s", o.detail);
    if (sub->wait) {
        c->park.job_id = o.job->id;
        park(c, s, PARK_SUBMIT, rq->id, 0);
        park_try(c, false);
        return NULL;
    }
    struct gather g = { 0 };
    return build_submit(rq->id, o.job, false, &g);
}

/* Every job of the batch is handled as its own Submit; the reply lists
 * each outcome in order. */
static nng_msg *h_submit_batch(struct session *s, struct wire_req *wr)
{
    const Polypool__V1__Request *rq = wr->msg;
    const Polypool__V1__SubmitBatch *sb = rq->submit_batch;
    size_t n = sb->n_jobs;
    Polypool__V1__SubmitResult *res = calloc(n ? n : 1, sizeof *res);
    Polypool__V1__SubmitResult **pres = calloc(n ? n : 1, sizeof *pres);
    /* Details are only kept for failures; successes share "". */
    char **details = calloc(n ? n : 1, sizeof *details);
    nng_msg *m = NULL;
    if (!res || !pres || !details) {
        m = reply_status(rq->id, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const Polypool__V1__Submit *sub = sb->jobs[i];
        Polypool__V1__SubmitResult *r = &res[i];
        polypool__v1__submit_result__init(r);
        pres[i] = r;
        r->job_id = sub->job_id;
        struct submit_out o;
        int rv;
        if (sub->wait)
            rv = submit_fail(&o, WS_EINVAL, "wait is not allowed in a SubmitBatch");
        else
            rv = submit_job(s, wr, sub, sub->timeout_ms ? sub->timeout_ms : rq->timeout_ms, &o);
        if (rv < 0) {
            r->status = (Polypool__V1__Status)o.status;
            details[i] = strdup(o.detail);
            r->detail = details[i] ? details[i] : (char *)"";
        } else {
            r->received = o.job->received;
        }
    }
    Polypool__V1__SubmitBatchReply br = POLYPOOL__V1__SUBMIT_BATCH_REPLY__INIT;
    br.n_results = n;
    br.results = pres;
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    r.id = rq->id;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_SUBMIT_BATCH;
    r.submit_batch = &br;
    m = pack_reply(&r);
out:
    if (details)
        for (size_t i = 0; i < n; i++)
            free(details[i]);
    free(details);
    free(res);
    free(pres);
    return m;
}

static nng_msg *h_collect(struct sctx *c, struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__Collect *co = rq->collect;
    if (s->n_parked >= SESSION_MAX_PARKED)
        return reply_status(rq->id, WS_EBUSY, "too many requests waiting");
    struct park *pk = &c->park;
    pk->n_job_ids = 0;
    pk->job_ids = NULL;
    if (co->n_job_ids) {
        pk->job_ids = malloc(co->n_job_ids * sizeof *pk->job_ids);
        if (!pk->job_ids)
            return reply_status(rq->id, WS_ENOMEM, "out of memory");
        memcpy(pk->job_ids, co->job_ids, co->n_job_ids * sizeof *pk->job_ids);
        pk->n_job_ids = co->n_job_ids;
    }
    pk->max_batches = co->max_batches;
    uint64_t t = co->timeout_ms;
    if (rq->timeout_ms && (!t || rq->timeout_ms < t))
        t = rq->timeout_ms;
    park(c, s, PARK_COLLECT, rq->id, t ? deadline_of(t) : 0);
    /* timeout 0: answer now, ready or not. */
    park_try(c, !t);
    return NULL;
}

static nng_msg *h_cancel(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__Cancel *ca = rq->cancel;
    for (size_t i = 0; i < ca->n_job_ids; i++) {
        struct job *j = session_job(s, ca->job_ids[i]);
        if (j)
            sched_job_cancel(j);
    }
    return reply_status(rq->id, WS_OK, NULL);
}

/* ---- shared memory and primitives --------------------------------------- */

static nng_msg *segment_reply(uint64_t req_id, const struct segment *g)
{
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    Polypool__V1__Handle h = POLYPOOL__V1__HANDLE__INIT;
    r.id = req_id;
    h.type = POLYPOOL__V1__HANDLE_TYPE__HANDLE_SEGMENT;
    h.id = g->id;
    h.name = (char *)g->name;
    h.size = g->size;
    h.label = g->label ? g->label : "";
    r.result_case = POLYPOOL__V1__REPLY__RESULT_SEGMENT;
    r.segment = &h;
    return pack_reply(&r);
}

static nng_msg *sync_reply(uint64_t req_id, int st, const struct sync_out *out)
{
    static const char *const what[] = {
        [WS_ETIMEDOUT] = "timed out", [WS_EOWNERDEAD] = "acquired; the previous holder died",
        [WS_ESTATE] = "not valid now: released too many times, a lock not held, or a broken barrier",
        [WS_EPERM] = "held by another thread",
        [WS_ENOENT] = "the session holds no such segment",
        [WS_EINVAL] = "no such primitive there, or the operation does not apply to it",
    };
    if (st != WS_OK)
        return reply_status(req_id, st, "%s",
                            (size_t)st < sizeof what / sizeof *what && what[st] ? what[st] : "");
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    Polypool__V1__SyncReply sr = POLYPOOL__V1__SYNC_REPLY__INIT;
    r.id = req_id;
    sr.value = out->value;
    if (out->barrier) {
        sr.parties = out->parties;
        sr.n_waiting = out->n_waiting;
        sr.broken = out->broken;
    }
    r.result_case = POLYPOOL__V1__REPLY__RESULT_SYNC;
    r.sync = &sr;
    return pack_reply(&r);
}

static nng_msg *h_shm_create(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ShmCreate *cr = rq->shm_create;
    struct shm_sync_init *si = NULL;
    if (cr->n_syncs) {
        if (cr->n_syncs > cr->size / PPS_SLOT + 1)
            return reply_status(rq->id, WS_EINVAL, "more primitives than fit in the segment");
        si = calloc(cr->n_syncs, sizeof *si);
        if (!si)
            return reply_status(rq->id, WS_ENOMEM, "out of memory");
        for (size_t i = 0; i < cr->n_syncs; i++) {
            si[i].type = cr->syncs[i]->type;
            si[i].offset = cr->syncs[i]->offset;
            si[i].value = cr->syncs[i]->value;
            si[i].max = cr->syncs[i]->max;
            si[i].capacity = cr->syncs[i]->capacity;
        }
    }
    struct shm_closer *cl = NULL;
    if (cr->n_closers) {
        if (cr->n_closers > 64 || !(cl = calloc(cr->n_closers, sizeof *cl))) {
            free(si);
            return reply_status(rq->id, cr->n_closers > 64 ? WS_EINVAL : WS_ENOMEM,
                                "at most 64 closers");
        }
        for (size_t i = 0; i < cr->n_closers; i++) {
            cl[i].target = cr->closers[i]->target;
            cl[i].offset = cr->closers[i]->offset;
            cl[i].flags = cr->closers[i]->flags;
        }
    }
    struct segment *g;
    const char *why = NULL;
    int st = shm_create(s, cr->size, cr->label, si, cr->n_syncs, cl, cr->n_closers, &g, &why);
    free(si);
    free(cl);
    if (st != WS_OK)
        return reply_status(rq->id, st, "%s", why ? why : "");
    return segment_reply(rq->id, g);
}

static nng_msg *h_shm_attach(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ShmAttach *at = rq->shm_attach;
    struct segment *g;
    int st = shm_attach(s, at->id, at->label, &g);
    if (st == WS_ENOENT && at->label && *at->label)
        return reply_status(rq->id, st, "no shared memory segment is named '%s'", at->label);
    if (st == WS_ENOENT)
        return reply_status(rq->id, st, "shared memory segment %llu is gone",
                            (unsigned long long)at->id);
    if (st != WS_OK)
        return reply_status(rq->id, st, "out of memory");
    return segment_reply(rq->id, g);
}

static nng_msg *h_shm_release(struct session *s, const Polypool__V1__Request *rq)
{
    int st = shm_release(s, rq->shm_release->id, rq->shm_release->count);
    if (st != WS_OK)
        return reply_status(rq->id, st, "the session holds no reference on segment %llu",
                            (unsigned long long)rq->shm_release->id);
    return reply_status(rq->id, WS_OK, NULL);
}

static nng_msg *h_shm_unlink(const Polypool__V1__Request *rq)
{
    const char *label = rq->shm_unlink->label;
    if (shm_unlink_label(label) != WS_OK)
        return reply_status(rq->id, WS_ENOENT, "no shared memory segment is named '%s'",
                            label ? label : "");
    return reply_status(rq->id, WS_OK, NULL);
}

/* A segment range the session holds, or a reply saying why not. */
static struct segment *held_range(struct session *s, uint64_t req_id, uint64_t id,
                                  uint64_t offset, uint64_t len, nng_msg **err)
{
    struct segment *g = shm_held(s, id);
    if (!g) {
        *err = reply_status(req_id, WS_ENOENT, "the session holds no segment %llu",
                            (unsigned long long)id);
        return NULL;
    }
    if (offset > g->size || len > g->size - offset) {
        *err = reply_status(req_id, WS_EINVAL, "beyond the end of segment %llu (%zu bytes)",
                            (unsigned long long)id, g->size);
        return NULL;
    }
    return g;
}

static nng_msg *h_shm_read(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ShmRead *rd = rq->shm_read;
    nng_msg *err = NULL;
    struct segment *g = held_range(s, rq->id, rd->id, rd->offset, rd->length, &err);
    if (!g)
        return err;
    if (rd->length > cfg.max_message - 64)
        return reply_status(rq->id, WS_EMSGSIZE, "read at most %zu bytes at a time",
                            cfg.max_message - 64);
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    Polypool__V1__ShmData d = POLYPOOL__V1__SHM_DATA__INIT;
    r.id = rq->id;
    d.data.data = (uint8_t *)g->base + rd->offset;
    d.data.len = rd->length;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_SHM_DATA;
    r.shm_data = &d;
    return pack_reply(&r);
}

static nng_msg *h_shm_write(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ShmWrite *wr = rq->shm_write;
    nng_msg *err = NULL;
    struct segment *g = held_range(s, rq->id, wr->id, wr->offset, wr->data.len, &err);
    if (!g)
        return err;
    if (wr->data.len)
        memcpy((uint8_t *)g->base + wr->offset, wr->data.data, wr->data.len);
    return reply_status(rq->id, WS_OK, NULL);
}

/* The lock of a condition or barrier op, or NULL. */
static struct pps *op_lock(struct session *s, const struct park *pk)
{
    struct segment *lg = shm_held(s, pk->lock_id);
    struct pps *l = lg ? shm_slot(lg, pk->lock_offset) : NULL;
    return l && (l->kind == PPS_LOCK || l->kind == PPS_RLOCK) ? l : NULL;
}

/* Runs a SyncOp once, without blocking, for the session's process: a wire
 * status, WS_EAGAIN when it has to wait (a condition or barrier wait in
 * progress keeps its state in pk->waiter). */
static int sync_try(struct session *s, struct park *pk, bool timed_out, struct sync_out *out)
{
    struct segment *g = shm_held(s, pk->seg_id);
    if (!g)
        return WS_ENOENT;
    struct pps *p = shm_slot(g, pk->offset);
    if (!p)
        return WS_EINVAL;
    struct pps_wait now = { .deadline = 0 };
    bool lock = p->kind == PPS_LOCK || p->kind == PPS_RLOCK;
    bool sem = p->kind == PPS_SEM || p->kind == PPS_BSEM;
    uint32_t pid = s->pid, tid = pk->tid;
    struct pps *l = NULL;
    if (p->kind == PPS_COND || p->kind == PPS_BARRIER) {
        if (!(l = op_lock(s, pk)))
            return WS_EINVAL;
    }
    int st;
    switch (pk->op) {
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_ACQUIRE:
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_TRY_ACQUIRE:
        if (lock) {
            st = pps_lock_acquire(p, pid, tid, &now);
            /* Read the holder once: by now it may have released (0, which
             * pps_lock_reclaim would mark as a dead holder's lock) or a
             * live process may hold it instead. */
            uint32_t holder = pps_lock_holder(p);
            if (st == WS_ETIMEDOUT && holder && !pps_pid_alive(holder) &&
                pps_lock_reclaim(p, holder))
                st = pps_lock_acquire(p, pid, tid, &now);
        } else if (sem) {
            st = pps_sem_acquire(p, &now);
        } else {
            return WS_EINVAL;
        }
        if (st == WS_ETIMEDOUT && pk->op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_ACQUIRE)
            return WS_EAGAIN;
        return st;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_RELEASE:
        if (lock)
            return pps_lock_release(p, pid, tid);
        if (sem)
            return pps_sem_release(p);
        return WS_EINVAL;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_GET_VALUE:
        if (lock) {
            out->value = pps_lock_holder(p);
        } else if (sem) {
            out->value = pps_sem_value(p);
        } else if (p->kind == PPS_EVENT) {
            out->value = pps_event_is_set(p);
        } else if (p->kind == PPS_BARRIER) {
            out->barrier = true;
            out->parties = pps_barrier_parties(p);
            out->n_waiting = pps_barrier_n_waiting(p);
            out->broken = pps_barrier_broken(p);
        } else {
            return WS_EINVAL;
        }
        return WS_OK;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_SET:
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_CLEAR:
        if (p->kind != PPS_EVENT)
            return WS_EINVAL;
        if (pk->op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_SET)
            pps_event_set(p);
        else
            pps_event_clear(p);
        return WS_OK;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_WAIT:
        if (p->kind != PPS_EVENT)
            return WS_EINVAL;
        return pps_event_is_set(p) ? WS_OK : WS_EAGAIN;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_COND_WAIT:
        if (p->kind != PPS_COND)
            return WS_EINVAL;
        if (!pk->waiter.phase && (st = pps_cond_wait_begin(p, l, pid, tid, &pk->waiter)) != WS_OK)
            return st;
        return pps_cond_wait_step(p, l, pid, tid, &pk->waiter, timed_out);
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_COND_NOTIFY:
        if (p->kind != PPS_COND)
            return WS_EINVAL;
        return pps_cond_notify(p, l, pid, tid, pk->n);
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_WAIT:
        if (p->kind != PPS_BARRIER)
            return WS_EINVAL;
        if (!pk->waiter.phase)
            pps_barrier_wait_begin(&pk->waiter);
        st = pps_barrier_wait_step(p, l, pid, tid, &pk->waiter, timed_out);
        out->value = pk->waiter.index;
        return st;
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_RESET:
    case POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_ABORT:
        if (p->kind != PPS_BARRIER)
            return WS_EINVAL;
        /* Never blocks the daemon: parked until the lock is free. */
        st = pk->op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_RESET
                 ? pps_barrier_reset(p, l, pid, tid, &now)
                 : pps_barrier_abort(p, l, pid, tid, &now);
        return st == WS_ETIMEDOUT ? WS_EAGAIN : st;
    default:
        return WS_EINVAL;
    }
}

/* Parked SyncOps are retried this often (the primitives change in shared
 * memory, where the daemon cannot sleep on them). */
#define SYNC_RETRY_MS 5

static void sync_poll_all(void)
{
    if (!n_sync_parked)
        return;
    list_for_each (l, session_all()) {
        struct session *s = container_of(l, struct session, link);
        list_for_each_safe (m, tmp, &s->parked) {
            struct sctx *c = container_of(m, struct sctx, park.link);
            if (c->park.kind == PARK_SYNC)
                park_try(c, false);
        }
    }
}

static nng_msg *h_sync(struct sctx *c, struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__SyncOp *so = rq->sync;
    struct park *pk = &c->park;
    memset(&pk->waiter, 0, sizeof pk->waiter);
    pk->seg_id = so->id;
    pk->offset = so->offset;
    pk->lock_id = so->lock_id;
    pk->lock_offset = so->lock_offset;
    pk->op = (int)so->op;
    pk->tid = so->tid;
    pk->n = so->n;
    struct sync_out out = { 0 };
    int st = sync_try(s, pk, false, &out);
    if (st != WS_EAGAIN) {
        nng_msg *m = sync_reply(rq->id, st, &out);
        /* Others parked on what changed may go on now. */
        if (st == WS_OK || pk->op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_WAIT)
            sync_poll_all();
        return m;
    }
    if (s->n_parked >= SESSION_MAX_PARKED) {
        /* A condition or barrier wait in progress cannot be dropped half way. */
        if (!pk->waiter.phase)
            return reply_status(rq->id, WS_EBUSY, "too many requests waiting");
    }
    park(c, s, PARK_SYNC, rq->id, deadline_of(rq->timeout_ms));
    n_sync_parked++;
    loop_deadline(now_ms() + SYNC_RETRY_MS);
    /* A wait that released a lock lets others in. */
    if (pk->waiter.phase)
        sync_poll_all();
    return NULL;
}

/* ---- managed objects ----------------------------------------------------- */

enum { H_DICT = 12, H_LIST = 13, H_NAMESPACE = 14 };

static nng_msg *object_reply(uint64_t req_id, const struct mobj *o)
{
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    Polypool__V1__Handle h = POLYPOOL__V1__HANDLE__INIT;
    r.id = req_id;
    h.type = o->kind == MOBJ_LIST ? H_LIST : o->kind == MOBJ_NAMESPACE ? H_NAMESPACE : H_DICT;
    h.id = o->id;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_OBJECT;
    r.object = &h;
    return pack_reply(&r);
}

static nng_msg *h_obj_create(struct session *s, const Polypool__V1__Request *rq)
{
    uint32_t t = rq->obj_create->type;
    if (t != H_DICT && t != H_LIST && t != H_NAMESPACE)
        return reply_status(rq->id, WS_EINVAL, "a managed object is a dict, a list or a namespace");
    struct mobj *o = mobj_create(s, t == H_LIST ? MOBJ_LIST : t == H_DICT ? MOBJ_DICT
                                                                          : MOBJ_NAMESPACE);
    if (!o)
        return reply_status(rq->id, WS_ENOMEM, "out of memory");
    return object_reply(rq->id, o);
}

static nng_msg *h_obj_attach(struct session *s, const Polypool__V1__Request *rq)
{
    struct mobj *o = mobj_attach(s, rq->obj_attach->id);
    if (!o)
        return reply_status(rq->id, WS_ENOENT, "managed object %llu is gone",
                            (unsigned long long)rq->obj_attach->id);
    return object_reply(rq->id, o);
}

static nng_msg *h_obj_release(struct session *s, const Polypool__V1__Request *rq)
{
    if (mobj_release(s, rq->obj_release->id) < 0)
        return reply_status(rq->id, WS_ENOENT, "the session holds no managed object %llu",
                            (unsigned long long)rq->obj_release->id);
    return reply_status(rq->id, WS_OK, NULL);
}

/* Results of an ObjOp: blobs borrowed from the object (or owned, `own`). */
struct obj_out {
    ProtobufCBinaryData *res;
    size_t n, cap;
    int64_t value;
};

static int out_add(struct obj_out *out, const struct blob *b)
{
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 8;
        ProtobufCBinaryData *p = realloc(out->res, nc * sizeof *p);
        if (!p)
            return -1;
        out->res = p;
        out->cap = nc;
    }
    out->res[out->n].data = b->data;
    out->res[out->n].len = b->len;
    out->n++;
    return 0;
}

/* Python's index rules: negative counts from the end. -1 when out of range. */
static long norm_index(int64_t i, size_t n, bool for_insert)
{
    if (i < 0)
        i += (int64_t)n;
    if (for_insert)
        return i < 0 ? 0 : i > (int64_t)n ? (long)n : (long)i;
    return i < 0 || i >= (int64_t)n ? -1 : (long)i;
}

static int64_t clamp_slice(int64_t i, size_t n)
{
    if (i < 0)
        i += (int64_t)n;
    return i < 0 ? 0 : i > (int64_t)n ? (int64_t)n : i;
}

/* A copy of arg i as a blob the object can keep. */
static int arg_blob(const Polypool__V1__ObjOp *op, size_t i, struct blob *b)
{
    return blob_copy(b, op->args[i].data, op->args[i].len);
}

/* Runs one operation: a wire status; results borrowed from o, valid until
 * the object changes (the reply is packed at once). */
static int obj_run(struct mobj *o, const Polypool__V1__ObjOp *op, struct obj_out *out)
{
    bool list = o->kind == MOBJ_LIST;
    size_t na = op->n_args;
    size_t incoming = 0;
    for (size_t i = 0; i < na; i++)
        incoming += op->args[i].len;
    if (o->bytes + incoming > MOBJ_MAX_BYTES)
        return WS_ENOMEM;
    struct blob key = { op->n_args ? op->args[0].data : NULL, op->n_args ? op->args[0].len : 0 };
    long i;
    switch (op->op) {
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN:
        out->value = (int64_t)o->n;
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET:
        i = list ? norm_index(op->index, o->n, false) : na == 1 ? mobj_find(o, &key) : -2;
        if (i == -2)
            return WS_EINVAL;
        if (i < 0)
            return WS_ENOENT;
        return out_add(out, &o->vals[i]) < 0 ? WS_ENOMEM : WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET: {
        if (list) {
            if (na != 1)
                return WS_EINVAL;
            if ((i = norm_index(op->index, o->n, false)) < 0)
                return WS_ENOENT;
            struct blob v;
            if (arg_blob(op, 0, &v) < 0)
                return WS_ENOMEM;
            o->bytes += v.len - o->vals[i].len;
            blob_free(&o->vals[i]);
            o->vals[i] = v;
            return WS_OK;
        }
        if (na != 2)
            return WS_EINVAL;
        struct blob k, v;
        if (arg_blob(op, 0, &k) < 0)
            return WS_ENOMEM;
        if (arg_blob(op, 1, &v) < 0) {
            blob_free(&k);
            return WS_ENOMEM;
        }
        return mobj_set(o, k, v) < 0 ? WS_ENOMEM : WS_OK;
    }
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL:
        i = list ? norm_index(op->index, o->n, false) : na == 1 ? mobj_find(o, &key) : -2;
        if (i == -2)
            return WS_EINVAL;
        if (i < 0)
            return WS_ENOENT;
        mobj_del_at(o, (size_t)i);
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_CONTAINS:
        if (na != 1)
            return WS_EINVAL;
        out->value = (list ? mobj_find_val(o, &key, 0) : mobj_find(o, &key)) >= 0;
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_KEYS:
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_VALUES:
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_ITEMS:
        if (list && op->op != POLYPOOL__V1__OBJ_OP_KIND__OBJ_VALUES)
            return WS_EINVAL;
        for (size_t j = 0; j < o->n; j++) {
            if (op->op != POLYPOOL__V1__OBJ_OP_KIND__OBJ_VALUES && out_add(out, &o->keys[j]) < 0)
                return WS_ENOMEM;
            if (op->op != POLYPOOL__V1__OBJ_OP_KIND__OBJ_KEYS && out_add(out, &o->vals[j]) < 0)
                return WS_ENOMEM;
        }
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_CLEAR:
        mobj_clear(o);
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_POP:
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM:
        if (op->op == POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM)
            i = !list && o->n ? (long)o->n - 1 : list ? -2 : -1;
        else
            i = list ? norm_index(op->index, o->n, false) : na == 1 ? mobj_find(o, &key) : -2;
        if (i == -2)
            return WS_EINVAL;
        if (i < 0)
            return WS_ENOENT;
        /* The reply is packed from the item's blobs; h_obj_op deletes
         * the item after that. */
        if ((op->op == POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM && out_add(out, &o->keys[i]) < 0) ||
            out_add(out, &o->vals[i]) < 0)
            return WS_ENOMEM;
        out->value = i;
        return WS_EAGAIN;   /* the caller deletes item i after packing */
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND:
        if (!list)
            return WS_EINVAL;
        for (size_t j = 0; j < na; j++) {
            struct blob v;
            if (arg_blob(op, j, &v) < 0 || mobj_insert(o, o->n, v) < 0)
                return WS_ENOMEM;
        }
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_INSERT: {
        if (!list || na != 1)
            return WS_EINVAL;
        struct blob v;
        if (arg_blob(op, 0, &v) < 0)
            return WS_ENOMEM;
        return mobj_insert(o, (size_t)norm_index(op->index, o->n, true), v) < 0 ? WS_ENOMEM
                                                                                : WS_OK;
    }
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_UPDATE:
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET_ALL:
        if (list) {
            if (op->op != POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET_ALL)
                return WS_EINVAL;
            mobj_clear(o);
            for (size_t j = 0; j < na; j++) {
                struct blob v;
                if (arg_blob(op, j, &v) < 0 || mobj_insert(o, o->n, v) < 0)
                    return WS_ENOMEM;
            }
            return WS_OK;
        }
        if (na % 2)
            return WS_EINVAL;
        if (op->op == POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET_ALL)
            mobj_clear(o);
        for (size_t j = 0; j < na; j += 2) {
            struct blob k, v;
            if (arg_blob(op, j, &k) < 0)
                return WS_ENOMEM;
            if (arg_blob(op, j + 1, &v) < 0) {
                blob_free(&k);
                return WS_ENOMEM;
            }
            if (mobj_set(o, k, v) < 0)
                return WS_ENOMEM;
        }
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_SETDEFAULT:
        if (list || na != 2)
            return WS_EINVAL;
        if ((i = mobj_find(o, &key)) < 0) {
            struct blob k, v;
            if (arg_blob(op, 0, &k) < 0)
                return WS_ENOMEM;
            if (arg_blob(op, 1, &v) < 0) {
                blob_free(&k);
                return WS_ENOMEM;
            }
            if (mobj_set(o, k, v) < 0)
                return WS_ENOMEM;
            i = (long)o->n - 1;
        }
        return out_add(out, &o->vals[i]) < 0 ? WS_ENOMEM : WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX:
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_REMOVE:
        if (!list || na != 1)
            return WS_EINVAL;
        i = mobj_find_val(o, &key, op->op == POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX
                                       ? (size_t)clamp_slice(op->index, o->n) : 0);
        if (i < 0)
            return WS_ENOENT;
        if (op->op == POLYPOOL__V1__OBJ_OP_KIND__OBJ_REMOVE)
            mobj_del_at(o, (size_t)i);
        out->value = i;
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_COUNT:
        if (!list || na != 1)
            return WS_EINVAL;
        out->value = 0;
        for (long from = 0; (i = mobj_find_val(o, &key, (size_t)from)) >= 0; from = i + 1)
            out->value++;
        return WS_OK;
    case POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET_SLICE: {
        if (!list)
            return WS_EINVAL;
        int64_t a = clamp_slice(op->index, o->n), b = clamp_slice(op->stop, o->n);
        for (int64_t j = a; j < b; j++)
            if (out_add(out, &o->vals[j]) < 0)
                return WS_ENOMEM;
        return WS_OK;
    }
    default:
        return WS_EINVAL;
    }
}

static nng_msg *h_obj_op(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ObjOp *op = rq->obj_op;
    struct mobj *o = mobj_held(s, op->id);
    if (!o)
        return reply_status(rq->id, WS_ENOENT, "the session holds no managed object %llu",
                            (unsigned long long)op->id);
    struct obj_out out = { 0 };
    int st = obj_run(o, op, &out);
    bool pop = st == WS_EAGAIN;
    nng_msg *m;
    if (st != WS_OK && !pop) {
        static const char *const what[] = {
            [WS_ENOENT] = "no such key or index",
            [WS_EINVAL] = "the operation does not apply to this object or has the wrong arguments",
            [WS_ENOMEM] = "out of memory, or over an object's 1 GiB",
        };
        m = reply_status(rq->id, st, "%s", (size_t)st < sizeof what / sizeof *what && what[st]
                                               ? what[st] : "");
    } else {
        Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
        Polypool__V1__ObjResult res = POLYPOOL__V1__OBJ_RESULT__INIT;
        r.id = rq->id;
        res.n_results = out.n;
        res.results = out.res;
        res.value = pop ? 0 : out.value;
        r.result_case = POLYPOOL__V1__REPLY__RESULT_OBJ_RESULT;
        r.obj_result = &res;
        m = pack_reply(&r);
        if (pop)
            mobj_del_at(o, (size_t)out.value);
    }
    free(out.res);
    return m;
}

/* ---- processes ------------------------------------------------------------ */

static nng_msg *proc_reply(uint64_t req_id, struct proc *p)
{
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    Polypool__V1__ProcState ps = POLYPOOL__V1__PROC_STATE__INIT;
    uint8_t *out, *err;
    size_t out_len, err_len;
    if (proc_take_output(p, &out, &out_len, &err, &err_len) < 0)
        return reply_status(req_id, WS_ENOMEM, "out of memory collecting output");
    r.id = req_id;
    ps.id = p->id;
    ps.pid = (uint32_t)p->pid;
    ps.name = p->name;
    ps.alive = !p->ended;
    ps.exitcode = p->ended ? p->exitcode : 0;
    ps.out.data = out;
    ps.out.len = out_len;
    ps.err.data = err;
    ps.err.len = err_len;
    ps.done = proc_done(p);
    r.result_case = POLYPOOL__V1__REPLY__RESULT_PROC;
    r.proc = &ps;
    nng_msg *m = pack_reply(&r);
    free(out);
    free(err);
    return m;
}

#define PROC_NAME_MAX 1024

static nng_msg *h_proc_start(struct session *s, const Polypool__V1__Request *rq)
{
    const Polypool__V1__ProcStart *ps = rq->proc_start;
    const char *a, *b, *why;
    struct pyenv *env = NULL;
    if (check_function(s, ps->function, &a, &b, &env, &why) < 0)
        return reply_status(rq->id, WS_EINVAL, "%s", why);
    if ((ps->name && strlen(ps->name) > PROC_NAME_MAX) || ps->n_environ > 65536) {
        pyenv_unref(env);
        return reply_status(rq->id, WS_EINVAL, "a name over %d bytes or over 65536 variables",
                            PROC_NAME_MAX);
    }
    size_t n;
    if (wire_values_check(ps->args, false, &n, &why) < 0) {
        pyenv_unref(env);
        return reply_status(rq->id, WS_EPROTO, "args: %s", why);
    }
    struct proc *p;
    char msg[512];
    int st = proc_start(s, ps, env, pool_config()->worker_path, &p, msg, sizeof msg);
    pyenv_unref(env);
    if (st != WS_OK)
        return reply_status(rq->id, st, "%s", msg);
    return proc_reply(rq->id, p);
}

static struct proc *proc_of(struct session *s, uint64_t id, uint64_t req_id, nng_msg **m)
{
    struct proc *p = proc_get(s, id);
    if (!p)
        *m = reply_status(req_id, WS_ENOENT, "no process %llu in this session",
                          (unsigned long long)id);
    return p;
}

static nng_msg *h_proc_wait(struct sctx *c, struct session *s, const Polypool__V1__Request *rq)
{
    nng_msg *m = NULL;
    struct proc *p = proc_of(s, rq->proc_wait->id, rq->id, &m);
    if (!p)
        return m;
    if (rq->proc_wait->poll || proc_ready(p, now_ms()))
        return proc_reply(rq->id, p);
    if (s->n_parked >= SESSION_MAX_PARKED)
        return reply_status(rq->id, WS_EBUSY, "too many requests waiting in this session");
    c->park.proc_id = p->id;
    park(c, s, PARK_PROC, rq->id, deadline_of(rq->timeout_ms));
    return NULL;
}

static nng_msg *h_proc_signal(struct session *s, const Polypool__V1__Request *rq)
{
    nng_msg *m = NULL;
    struct proc *p = proc_of(s, rq->proc_signal->id, rq->id, &m);
    if (!p)
        return m;
    int st = proc_signal(p, rq->proc_signal->signal);
    if (st != WS_OK)
        return reply_status(rq->id, st, "cannot send signal %d", (int)rq->proc_signal->signal);
    return proc_reply(rq->id, p);
}

static nng_msg *h_proc_release(struct session *s, const Polypool__V1__Request *rq)
{
    nng_msg *m = NULL;
    struct proc *p = proc_of(s, rq->proc_release->id, rq->id, &m);
    if (!p)
        return m;
    proc_release(p);
    return reply_status(rq->id, WS_OK, NULL);
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static nng_msg *h_status(const Polypool__V1__Request *rq)
{
    Polypool__V1__StatusReply st = POLYPOOL__V1__STATUS_REPLY__INIT;
    st.pid = (uint32_t)getpid();
    st.version = (char *)PP_VERSION;
    st.address = url_copy;
    st.uptime_ms = now_ms() - start_ms;
    st.autostarted = cfg.autostarted;
    st.rss_bytes = rss_bytes();
    st.segments = shm_count();
    st.shm_bytes = shm_bytes();
    st.processes = proc_count();
    size_t np = 0, nw = 0, ns = 0;
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        np++;
        nw += p->n_workers;
    }
    ns = session_count();
    Polypool__V1__PoolStatus *ps = calloc(np ? np : 1, sizeof *ps);
    Polypool__V1__PoolStatus **pps = calloc(np ? np : 1, sizeof *pps);
    Polypool__V1__WorkerStatus *ws = calloc(nw ? nw : 1, sizeof *ws);
    Polypool__V1__WorkerStatus **pws = calloc(nw ? nw : 1, sizeof *pws);
    Polypool__V1__ClientStatus *cs = calloc(ns ? ns : 1, sizeof *cs);
    Polypool__V1__ClientStatus **pcs = calloc(ns ? ns : 1, sizeof *pcs);
    uint64_t *sess_ids = NULL;
    size_t n_sess_ids = 0;
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        n_sess_ids += p->kind == POOL_PRIVATE ? 1 : p->n_sessions;
    }
    sess_ids = calloc(n_sess_ids ? n_sess_ids : 1, sizeof *sess_ids);
    nng_msg *m = NULL;
    if (!ps || !pps || !ws || !pws || !cs || !pcs || !sess_ids) {
        m = reply_status(rq->id, WS_ENOMEM, "out of memory");
        goto out;
    }
    size_t ip = 0, iw = 0, is = 0, ic = 0;
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        Polypool__V1__PoolStatus *x = &ps[ip];
        polypool__v1__pool_status__init(x);
        x->pool_id = p->id;
        x->name = p->name;
        x->kind = (char *)pool_kind_name(p->kind);
        x->state = (char *)pool_state_name(p->state);
        x->size = p->size;
        x->maxtasksperchild = p->maxtasks;
        x->tasks_queued = p->tasks_queued;
        x->tasks_running = p->tasks_running;
        x->tasks_done = p->tasks_done;
        x->sessions = sess_ids + is;
        if (p->kind == POOL_PRIVATE) {
            if (p->owner)
                sess_ids[is++] = p->owner->id;
        } else {
            for (size_t i = 0; i < p->n_sessions; i++)
                sess_ids[is++] = p->sessions[i];
        }
        x->n_sessions = (size_t)(sess_ids + is - x->sessions);
        x->workers = pws + iw;
        list_for_each (wl, &p->workers) {
            struct worker *w = container_of(wl, struct worker, pool_link);
            if (iw >= nw)
                break;
            Polypool__V1__WorkerStatus *y = &ws[iw];
            polypool__v1__worker_status__init(y);
            y->pid = (uint32_t)w->pid;
            y->state = (char *)worker_state_name(w);
            y->tasks_done = w->tasks_done;
            if (!list_empty(&w->inflight))
                y->job_id = container_of(w->inflight.next, struct task, link)->job->id;
            y->kind = w->kind == WORKER_KIND_PY ? "python" : "c";
            pws[iw++] = y;
        }
        x->n_workers = (size_t)(pws + iw - x->workers);
        pps[ip++] = x;
    }
    list_for_each (l, session_all()) {
        struct session *s = container_of(l, struct session, link);
        if (ic >= ns)
            break;
        Polypool__V1__ClientStatus *y = &cs[ic];
        polypool__v1__client_status__init(y);
        y->session_id = s->id;
        y->pid = s->pid;
        y->uid = s->uid;
        y->name = s->name;
        y->jobs = s->jobs.count;
        y->parked = s->n_parked;
        pcs[ic++] = y;
    }
    st.n_pools = ip;
    st.pools = pps;
    st.n_clients = ic;
    st.clients = pcs;
    Polypool__V1__Reply r = POLYPOOL__V1__REPLY__INIT;
    r.id = rq->id;
    r.result_case = POLYPOOL__V1__REPLY__RESULT_STATUS_REPLY;
    r.status_reply = &st;
    m = pack_reply(&r);
out:
    free(ps);
    free(pps);
    free(ws);
    free(pws);
    free(cs);
    free(pcs);
    free(sess_ids);
    return m;
}

/* Handles one decoded request under the lock. Returns the reply, or NULL
 * when the context was parked (or already answered by park_try). */
static nng_msg *handle(struct sctx *c, struct wire_req *wr, nng_pipe pipe)
{
    const Polypool__V1__Request *rq = wr->msg;
    if (rq->op_case == POLYPOOL__V1__REQUEST__OP_HELLO)
        return h_hello(rq, pipe);
    struct session *s = session_by_pipe(nng_pipe_id(pipe));
    if (!s)
        return reply_status(rq->id, WS_ESTATE, "send Hello first");
    switch (rq->op_case) {
    case POLYPOOL__V1__REQUEST__OP_PING:
        return reply_status(rq->id, WS_OK, NULL);
    case POLYPOOL__V1__REQUEST__OP_POOL_CREATE:
        return h_pool_create(s, rq);
    case POLYPOOL__V1__REQUEST__OP_POOL_CLOSE:
        return h_pool_close(s, rq);
    case POLYPOOL__V1__REQUEST__OP_POOL_JOIN:
        return h_pool_join(c, s, rq);
    case POLYPOOL__V1__REQUEST__OP_SUBMIT:
        return h_submit(c, s, wr);
    case POLYPOOL__V1__REQUEST__OP_SUBMIT_BATCH:
        return h_submit_batch(s, wr);
    case POLYPOOL__V1__REQUEST__OP_COLLECT:
        return h_collect(c, s, rq);
    case POLYPOOL__V1__REQUEST__OP_CANCEL:
        return h_cancel(s, rq);
    case POLYPOOL__V1__REQUEST__OP_STATUS:
        return h_status(rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_CREATE:
        return h_shm_create(s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_ATTACH:
        return h_shm_attach(s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_RELEASE:
        return h_shm_release(s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_UNLINK:
        return h_shm_unlink(rq);
    case POLYPOOL__V1__REQUEST__OP_SYNC:
        return h_sync(c, s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_READ:
        return h_shm_read(s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHM_WRITE:
        return h_shm_write(s, rq);
    case POLYPOOL__V1__REQUEST__OP_OBJ_CREATE:
        return h_obj_create(s, rq);
    case POLYPOOL__V1__REQUEST__OP_OBJ_ATTACH:
        return h_obj_attach(s, rq);
    case POLYPOOL__V1__REQUEST__OP_OBJ_RELEASE:
        return h_obj_release(s, rq);
    case POLYPOOL__V1__REQUEST__OP_OBJ_OP:
        return h_obj_op(s, rq);
    case POLYPOOL__V1__REQUEST__OP_PROC_START:
        return h_proc_start(s, rq);
    case POLYPOOL__V1__REQUEST__OP_PROC_WAIT:
        return h_proc_wait(c, s, rq);
    case POLYPOOL__V1__REQUEST__OP_PROC_SIGNAL:
        return h_proc_signal(s, rq);
    case POLYPOOL__V1__REQUEST__OP_PROC_RELEASE:
        return h_proc_release(s, rq);
    case POLYPOOL__V1__REQUEST__OP_SHUTDOWN:
        log_info("session %llu asked for shutdown", (unsigned long long)s->id);
        c->shutdown_after = true;
        if (!shutdown_deadline) {
            shutdown_deadline = now_ms() + 1000;
            loop_deadline(shutdown_deadline);
        }
        return reply_status(rq->id, WS_OK, NULL);
    default:
        return reply_status(rq->id, WS_EINVAL, "unknown request (op %d)", (int)rq->op_case);
    }
}

/* ---- context callbacks ----------------------------------------------- */

static void ctx_recv(struct sctx *c)
{
    c->state = SC_RECV;
    atomic_fetch_add(&n_recv, 1);
    nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
    nng_ctx_recv(c->ctx, c->aio);
}

static void on_request(struct sctx *c, nng_msg *msg)
{
    nng_pipe pipe = nng_msg_get_pipe(msg);
    size_t len = nng_msg_len(msg);
    struct wire_req *wr = wire_req_unpack(nng_msg_body(msg), len, 16 * len + ((size_t)1 << 20));
    nng_msg_free(msg);
    c->park.req_id = 0;
    if (!wr) {
        ctx_send(c, reply_status(0, WS_EPROTO, "the request could not be decoded"));
        return;
    }
    c->park.req_id = wr->msg->id;
    daemon_lock();
    nng_msg *reply = handle(c, wr, pipe);
    struct session *s;
    while ((s = session_take_dirty()))
        poll_session(s);
    if (reply)
        ctx_send(c, reply);
    /* Under the lock: tasks that hold the request's items drop their
     * references on the loop thread. */
    wire_req_free(wr);
    daemon_unlock();
}

static void ctx_cb(void *arg)
{
    struct sctx *c = arg;
    int rv = nng_aio_result(c->aio);
    switch (c->state) {
    case SC_RECV:
        atomic_fetch_sub(&n_recv, 1);
        if (rv == NNG_ECLOSED)
            return;
        if (rv != 0) {
            ctx_recv(c);
            return;
        }
        if (atomic_load(&n_recv) < CTX_LOW && !atomic_exchange(&grow_wanted, true))
            loop_wake();
        on_request(c, nng_aio_get_msg(c->aio));
        return;
    case SC_SEND:
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio));
            if (rv == NNG_ECLOSED)
                return;
        }
        if (c->shutdown_after) {
            c->shutdown_after = false;
            atomic_store(&shutdown_sent, true);
            loop_wake();
        }
        ctx_recv(c);
        return;
    case SC_PARKED:
        return;
    }
}

static int grow(int n)
{
    for (int i = 0; i < n; i++) {
        struct sctx *c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        list_init(&c->park.link);
        int rv = nng_ctx_open(&c->ctx, sock);
        if (rv == 0 && (rv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0)
            nng_ctx_close(c->ctx);
        if (rv != 0) {
            log_error("cannot open a context: %s", nng_strerror(rv));
            free(c);
            return -1;
        }
        c->next_all = all_ctx;
        all_ctx = c;
        ctx_recv(c);
    }
    return 0;
}

/* ---- pipes --------------------------------------------------------- */

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        uint64_t uid;
        int rv = nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid);
        if (rv != 0 || uid != (uint64_t)geteuid()) {
            log_warn("refusing a connection from uid %lld", rv ? -1LL : (long long)uid);
            nng_pipe_close(p);
        }
        return;
    }
    if (ev == NNG_PIPE_EV_REM_POST) {
        /* nng's reaper thread: queue it for the loop, nothing else. */
        pthread_mutex_lock(&dead_mtx);
        if (n_dead == cap_dead) {
            size_t nc = cap_dead ? cap_dead * 2 : 64;
            uint32_t *nd = realloc(dead_pipes, nc * sizeof *nd);
            if (nd) {
                dead_pipes = nd;
                cap_dead = nc;
            }
        }
        if (n_dead < cap_dead)
            dead_pipes[n_dead++] = nng_pipe_id(p);
        pthread_mutex_unlock(&dead_mtx);
        loop_wake();
    }
}

static void end_session(struct session *s, const char *why)
{
    list_for_each_safe (l, tmp, &s->parked) {
        struct sctx *c = container_of(l, struct sctx, park.link);
        uint64_t id = c->park.req_id;
        unpark(c);
        /* rep0 drops replies to a gone pipe; sending re-arms the context. */
        ctx_send(c, reply_status(id, WS_ECLOSED, "%s", why));
    }
    log_info("session %llu (pid %u) ended", (unsigned long long)s->id, s->pid);
    uint32_t pid = s->pid;
    session_destroy(s);
    /* Its locks go to the next acquirers once the process is gone. */
    if (pid && shm_pid_holds_locks(pid))
        shm_watch_pid(pid);
}

void server_wake(void)
{
    pthread_mutex_lock(&dead_mtx);
    uint32_t *pipes = dead_pipes;
    size_t n = n_dead;
    dead_pipes = NULL;
    n_dead = cap_dead = 0;
    pthread_mutex_unlock(&dead_mtx);
    for (size_t i = 0; i < n; i++) {
        struct session *s = session_by_pipe(pipes[i]);
        if (s)
            end_session(s, "the client went away");
    }
    free(pipes);
    if (atomic_exchange(&grow_wanted, false) && atomic_load(&n_recv) < CTX_LOW) {
        log_debug("opening %d more contexts", CTX_GROW);
        grow(CTX_GROW);
    }
}

void server_idle(void)
{
    struct session *s;
    while ((s = session_take_dirty()))
        poll_session(s);
}

uint64_t server_tick(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    list_for_each (l, session_all()) {
        struct session *s = container_of(l, struct session, link);
        list_for_each_safe (m, tmp, &s->parked) {
            struct sctx *c = container_of(m, struct sctx, park.link);
            uint64_t d = c->park.deadline;
            if (c->park.kind == PARK_SYNC) {
                if (!park_try(c, d && d <= now) && now + SYNC_RETRY_MS < next)
                    next = now + SYNC_RETRY_MS;
                continue;
            }
            if (c->park.kind == PARK_PROC) {
                /* Output batches by age, besides the deadline. */
                struct proc *p = proc_get(s, c->park.proc_id);
                uint64_t at = p ? proc_ready_at(p) : UINT64_MAX;
                if (!park_try(c, d && d <= now)) {
                    if (at < next)
                        next = at;
                    if (d && d < next)
                        next = d;
                }
                continue;
            }
            if (!d)
                continue;
            if (d <= now)
                park_try(c, true);
            else if (d < next)
                next = d;
        }
    }
    if (shutdown_deadline && shutdown_deadline > now && shutdown_deadline < next)
        next = shutdown_deadline;
    return next;
}

bool server_shutdown_due(uint64_t now)
{
    if (!shutdown_deadline)
        return false;
    return atomic_load(&shutdown_sent) || now >= shutdown_deadline;
}

void server_end_sessions(void)
{
    while (!list_empty(session_all()))
        end_session(container_of(session_all()->next, struct session, link),
                    "the daemon is shutting down");
}

/* ---- listener and health check ------------------------------------ */

static int listener_start(char *err, size_t errlen)
{
    int rv = nng_listener_create(&lst, sock, url_copy);
    if (rv == 0 && is_ipc)
        rv = nng_listener_set_int(lst, NNG_OPT_IPC_PERMISSIONS, 0600);
    if (rv == 0)
        rv = nng_listener_start(lst, 0);
    if (rv != 0) {
        if (err)
            snprintf(err, errlen, "cannot listen at %s: %s", url_copy, nng_strerror(rv));
        nng_listener_close(lst);
        lst = (nng_listener)NNG_LISTENER_INITIALIZER;
        return -1;
    }
    return 0;
}

/* Our listening address as getsockname reports it (an abstract name has
 * a leading NUL). Returns its length, or 0 if the URL has no unix address. */
static size_t listen_addr(char *want, size_t cap)
{
    size_t n;
    memset(want, 0, cap);
    if (is_ipc) {
        n = strlen(url_copy + 6);
        if (n >= cap)
            return 0;
        memcpy(want, url_copy + 6, n);
        return n;
    }
    if (!strncmp(url_copy, "abstract://", 11)) {
        n = strlen(url_copy + 11) + 1;
        if (n > cap)
            return 0;
        memcpy(want + 1, url_copy + 11, n - 1);
        return n;
    }
    return 0;
}

/* True when fd is a unix socket whose local address is ours; *listening
 * says whether it is the listening socket or an accepted connection. */
static bool fd_is_ours(int fd, const char *want, size_t want_len, bool *listening)
{
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
        sl <= offsetof(struct sockaddr_un, sun_path))
        return false;
    size_t len = sl - offsetof(struct sockaddr_un, sun_path);
    if (is_ipc && len > 0 && sa.sun_path[len - 1] == 0)
        len--;
    if (len != want_len || memcmp(sa.sun_path, want, len) != 0)
        return false;
    int acc = 0;
    socklen_t al = sizeof acc;
    *listening = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc;
    return true;
}

struct stuck {
    int fd;
    int inq;
    ino_t ino;
};

/* Replaces a listener that stopped accepting (nng#1518) without losing its
 * sessions: closing an nng listener would close every pipe it accepted.
 *  1. An unbound socket is dup3'ed over the stuck listening socket: the
 *     listening socket closes (its backlog is reset, so those clients
 *     redial) and its address is free, while the fd number nng owns stays
 *     valid.
 *  2. Connections the stuck listener accepted but never negotiates hold
 *     unread input that nobody consumes (live pipes always have a read
 *     pending): those whose input stays unchanged for 200 ms are shut down
 *     so their clients redial too (after the new listener is up).
 * Returns false when the listening socket was not found. */
static bool retire_listen_socket(struct stuck *st, size_t *n_st, size_t cap)
{
    char want[sizeof(((struct sockaddr_un *)0)->sun_path)];
    size_t want_len = listen_addr(want, sizeof want);
    *n_st = 0;
    if (!want_len)
        return false;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        bool listening;
        if (fd <= 2 || fd == dirfd(d) || !fd_is_ours(fd, want, want_len, &listening))
            continue;
        if (listening) {
            found = fd;
            continue;
        }
        int inq = 0;
        struct stat sb;
        if (*n_st < cap && ioctl(fd, SIOCINQ, &inq) == 0 && inq > 0 && fstat(fd, &sb) == 0)
            st[(*n_st)++] = (struct stuck){ fd, inq, sb.st_ino };
    }
    closedir(d);
    if (found < 0)
        return false;
    int dummy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (dummy < 0)
        return false;
    if (dup3(dummy, found, O_CLOEXEC) < 0) {
        close(dummy);
        return false;
    }
    close(dummy);
    if (is_ipc)
        unlink(url_copy + 6);
    log_debug("retired the stuck listening socket (fd %d)", found);
    return true;
}

/* Step 2 of retire_listen_socket, after the new listener started. */
static void release_stuck(const struct stuck *st, size_t n)
{
    if (!n)
        return;
    struct timespec ts = { 0, 200 * 1000000L };
    nanosleep(&ts, NULL);
    char want[sizeof(((struct sockaddr_un *)0)->sun_path)];
    size_t want_len = listen_addr(want, sizeof want);
    for (size_t i = 0; i < n; i++) {
        int inq = 0;
        bool listening;
        struct stat sb;
        if (fstat(st[i].fd, &sb) < 0 || sb.st_ino != st[i].ino ||
            !fd_is_ours(st[i].fd, want, want_len, &listening) || listening)
            continue;
        if (ioctl(st[i].fd, SIOCINQ, &inq) == 0 && inq == st[i].inq) {
            log_debug("releasing a connection stuck before its handshake (fd %d)", st[i].fd);
            shutdown(st[i].fd, SHUT_RDWR);
        }
    }
}

static bool health_ping(void)
{
    nng_socket s;
    bool ok = false;
    if (nng_req0_open(&s) != 0)
        return true;   /* cannot tell; do not churn the listener */
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 500);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 500);
    if (nng_dial(s, url_copy, NULL, NNG_FLAG_NONBLOCK) == 0) {
        Polypool__V1__Ping ping = POLYPOOL__V1__PING__INIT;
        Polypool__V1__Request rq = POLYPOOL__V1__REQUEST__INIT;
        rq.id = 1;
        rq.op_case = POLYPOOL__V1__REQUEST__OP_PING;
        rq.ping = &ping;
        uint8_t buf[64];
        size_t n = polypool__v1__request__pack(&rq, buf);
        nng_msg *m = NULL;
        if (nng_send(s, buf, n, 0) == 0 && nng_recvmsg(s, &m, 0) == 0) {
            Polypool__V1__Reply *r =
                polypool__v1__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
            /* Any answer will do: the health pipe sends no Hello, so the
             * daemon answers ESTATE, and that proves the listener works. */
            ok = r && r->id == 1;
            if (r)
                polypool__v1__reply__free_unpacked(r, NULL);
            nng_msg_free(m);
        }
    }
    nng_close(s);
    return ok;
}

static void *health_main(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&health_mtx);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += cfg.health_ms / 1000;
        ts.tv_nsec += (long)(cfg.health_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!health_stop) {
            if (pthread_cond_timedwait(&health_cv, &health_mtx, &ts) == ETIMEDOUT)
                break;
        }
        bool stop = health_stop;
        pthread_mutex_unlock(&health_mtx);
        if (stop)
            return NULL;
        if (health_ping())
            continue;
        pthread_mutex_lock(&lst_mtx);
        if (!health_stop) {
            log_warn("the listener at %s stopped answering (nng#1518); listening again",
                     url_copy);
            struct stuck st[64];
            size_t n_st = 0;
            if (n_retired < MAX_RETIRED && retire_listen_socket(st, &n_st, 64)) {
                /* The old listener object keeps its established pipes. */
                retired[n_retired++] = lst;
            } else {
                /* Last resort: its sessions are lost. */
                nng_listener_close(lst);
                n_st = 0;
            }
            char err[256];
            if (listener_start(err, sizeof err) < 0)
                log_error("%s", err);
            release_stuck(st, n_st);
        }
        pthread_mutex_unlock(&lst_mtx);
    }
}

int server_open(const struct server_config *c, char *err, size_t errlen)
{
    cfg = *c;
    start_ms = now_ms();
    url_copy = strdup(c->url);
    if (!url_copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    is_ipc = strncmp(url_copy, "ipc://", 6) == 0;
    int rv = nng_rep0_open(&sock);
    if (rv == 0)
        rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, c->max_message);
    if (rv == 0)
        rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, NULL);
    if (rv == 0)
        rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_cb, NULL);
    if (rv != 0) {
        snprintf(err, errlen, "cannot open the socket: %s", nng_strerror(rv));
        return -1;
    }
    if (grow(CTX_INITIAL) < 0) {
        snprintf(err, errlen, "cannot open contexts");
        return -1;
    }
    if (listener_start(err, errlen) < 0)
        return -1;
    if (c->health_ms > 0) {
        health_stop = false;
        if (pthread_create(&health_thr, NULL, health_main, NULL) == 0)
            health_running = true;
        else
            log_error("cannot start the health thread");
    }
    return 0;
}

void server_stop_listening(void)
{
    if (health_running) {
        pthread_mutex_lock(&health_mtx);
        health_stop = true;
        pthread_cond_signal(&health_cv);
        pthread_mutex_unlock(&health_mtx);
        pthread_join(health_thr, NULL);
        health_running = false;
    }
    pthread_mutex_lock(&lst_mtx);
    health_stop = true;
    if (nng_listener_id(lst) > 0)
        nng_listener_close(lst);
    lst = (nng_listener)NNG_LISTENER_INITIALIZER;
    for (int i = 0; i < n_retired; i++)
        nng_listener_close(retired[i]);
    n_retired = 0;
    pthread_mutex_unlock(&lst_mtx);
}

void server_close(void)
{
    nng_close(sock);
    for (struct sctx *c = all_ctx, *next; c; c = next) {
        next = c->next_all;
        nng_aio_stop(c->aio);
        if (c->state == SC_SEND) {
            nng_msg *m = nng_aio_get_msg(c->aio);
            (void)m;   /* owned by nng until the send completes or fails */
        }
        nng_aio_free(c->aio);
        free(c->park.job_ids);
        free(c);
    }
    all_ctx = NULL;
    free(dead_pipes);
    dead_pipes = NULL;
    n_dead = cap_dead = 0;
    free(url_copy);
    url_copy = NULL;
}
