/* proc.c - processes started for clients; see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "objstore.h"
#include "polypool.pb-c.h"
#include "pyenv.h"
#include "session.h"
#include "shm.h"
#include "wire.h"
#include "worker.h"

extern char **environ;

/* How often procs without a pidfd are polled for their end. */
#define PROC_POLL_MS 20

static struct list all = { &all, &all };
static size_t n_procs;
static uint64_t proc_ids;

size_t proc_count(void) { return n_procs; }

static void stream_cb(struct loop_src *src, uint32_t events);
static void pid_cb(struct loop_src *src, uint32_t events);
static void reap(struct proc *p, int status);

/* ---- environment ----------------------------------------------------------- */

/* base (NULL-terminated) without the variables named in set[], plus set[]
 * ("NAME=value"). One malloc'd array; the strings stay borrowed. */
static char **env_with(char *const *base, char *const *set, size_t nset)
{
    size_t n = 0;
    for (char *const *v = base; v && *v; v++)
        n++;
    char **out = malloc((n + nset + 1) * sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (char *const *v = base; v && *v; v++) {
        bool replaced = false;
        for (size_t i = 0; i < nset && !replaced; i++) {
            size_t len = (size_t)(strchr(set[i], '=') - set[i]);
            replaced = strncmp(*v, set[i], len) == 0 && (*v)[len] == '=';
        }
        if (!replaced)
            out[k++] = *v;
    }
    for (size_t i = 0; i < nset; i++)
        out[k++] = set[i];
    out[k] = NULL;
    return out;
}

/* ---- references held for the call ----------------------------------------- */

static int hold_seg(struct proc *p, struct session *s, uint64_t id)
{
    struct segment *g;
    if (!id)
        return WS_OK;
    uint64_t *v = realloc(p->segs, (p->n_segs + 1) * sizeof *v);
    if (!v)
        return WS_ENOMEM;
    p->segs = v;
    int st = shm_attach(s, id, NULL, &g);
    if (st == WS_OK)
        p->segs[p->n_segs++] = id;
    return st;
}

static int hold_obj(struct proc *p, struct session *s, uint64_t id)
{
    uint64_t *v = realloc(p->objs, (p->n_objs + 1) * sizeof *v);
    if (!v)
        return WS_ENOMEM;
    p->objs = v;
    if (!mobj_attach(s, id))
        return WS_ENOENT;
    p->objs[p->n_objs++] = id;
    return WS_OK;
}

/* Takes the owner's references for every object the arguments name. */
static int hold_args(struct proc *p, struct session *s, const Polypool__V1__Values *args)
{
    for (size_t i = 0; args && i < args->n_handles; i++) {
        const Polypool__V1__Handle *h = args->handles[i];
        int st;
        switch (h->type) {
        case POLYPOOL__V1__HANDLE_TYPE__HANDLE_DICT:
        case POLYPOOL__V1__HANDLE_TYPE__HANDLE_LIST:
        case POLYPOOL__V1__HANDLE_TYPE__HANDLE_NAMESPACE:
            st = hold_obj(p, s, h->id);
            break;
        default:
            st = hold_seg(p, s, h->id);
            if (st == WS_OK && h->lock_type)
                st = hold_seg(p, s, h->lock_id);
            if (st == WS_OK && h->end_id)
                st = hold_seg(p, s, h->end_id);
            break;
        }
        if (st != WS_OK)
            return st;
    }
    return WS_OK;
}

/* Gives back what hold_args took. */
static void unhold(struct proc *p)
{
    if (p->holder) {
        for (size_t i = 0; i < p->n_segs; i++)
            shm_release(p->holder, p->segs[i], 1);
        for (size_t i = 0; i < p->n_objs; i++)
            mobj_release(p->holder, p->objs[i]);
    }
    p->holder = NULL;
    free(p->segs);
    free(p->objs);
    p->segs = p->objs = NULL;
    p->n_segs = p->n_objs = 0;
}

/* ---- streams ---------------------------------------------------------------- */

static void stream_close(struct proc_stream *st)
{
    if (st->watched)
        loop_del(&st->src);
    st->watched = false;
    if (st->src.fd >= 0)
        close(st->src.fd);
    st->src.fd = -1;
}

static void watch(struct proc_stream *st, bool on)
{
    if (st->src.fd < 0 || st->watched == on)
        return;
    if (on ? loop_add(&st->src, EPOLLIN) == 0 : (loop_del(&st->src), true))
        st->watched = on;
    else
        log_error("epoll add for a process pipe: %s", strerror(errno));
}

/* Reads what the pipe has, as far as the buffer's room allows (all of it,
 * dropped, once nobody will collect). Closes it at EOF. */
static void stream_read(struct proc *p, struct proc_stream *st)
{
    uint8_t scratch[65536];
    while (st->src.fd >= 0) {
        size_t room = PROC_OUTPUT_MAX - buf_unread(&st->buf);
        if (p->owner && room == 0) {
            watch(st, false);       /* the child waits for its owner */
            return;
        }
        uint8_t *to = scratch;
        size_t want = sizeof scratch;
        if (p->owner) {
            if (buf_reserve(&st->buf, room < want ? room : want) < 0) {
                watch(st, false);
                return;
            }
            to = st->buf.data + st->buf.len;
            want = room < want ? room : want;
        }
        ssize_t n = read(st->src.fd, to, want);
        if (n > 0) {
            if (p->owner) {
                st->buf.len += (size_t)n;
                if (!p->out_since) {
                    p->out_since = now_ms();
                    loop_deadline(p->out_since + PROC_BATCH_MS);
                }
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (p->ended)
                st->tail_read = true;
            watch(st, true);
            return;
        }
        st->tail_read = true;       /* EOF or error: nothing more comes */
        stream_close(st);
    }
}

static void changed(struct proc *p)
{
    if (p->owner)
        session_mark_dirty(p->owner);
}

static void stream_cb(struct loop_src *src, uint32_t events)
{
    (void)events;
    struct proc_stream *st = container_of(src, struct proc_stream, src);
    stream_read(st->proc, st);
    changed(st->proc);
}

/* ---- life and death --------------------------------------------------------- */

static void proc_free(struct proc *p)
{
    unhold(p);
    stream_close(&p->out);
    stream_close(&p->err);
    if (p->pid_src.fd >= 0) {
        loop_del(&p->pid_src);
        close(p->pid_src.fd);
    }
    buf_fini(&p->out.buf);
    buf_fini(&p->err.buf);
    list_del(&p->link);
    if (list_linked(&p->owner_link))
        list_del(&p->owner_link);
    n_procs--;
    free(p->name);
    free(p);
}

static void reap(struct proc *p, int status)
{
    p->ended = true;
    p->exitcode = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    log_debug("process %llu (%s, pid %d) ended: %d", (unsigned long long)p->id, p->name,
              (int)p->pid, p->exitcode);
    if (p->pid_src.fd >= 0) {
        loop_del(&p->pid_src);
        close(p->pid_src.fd);
        p->pid_src.fd = -1;
    }
    /* Everything it wrote is in the pipes now. */
    stream_read(p, &p->out);
    stream_read(p, &p->err);
    unhold(p);
    if (!p->owner) {
        proc_free(p);
        return;
    }
    changed(p);
}

static bool try_reap(struct proc *p)
{
    int status;
    pid_t r;
    while ((r = waitpid(p->pid, &status, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == p->pid) {
        reap(p, status);
        return true;
    }
    if (r < 0) {
        log_error("waitpid(%d): %s", (int)p->pid, strerror(errno));
        reap(p, 0xff00);    /* unknown: exit code 255 */
        return true;
    }
    return false;
}

static void pid_cb(struct loop_src *src, uint32_t events)
{
    (void)events;
    struct proc *p = container_of(src, struct proc, pid_src);
    try_reap(p);
}

uint64_t proc_tick(uint64_t now)
{
    bool polling = false;
    list_for_each_safe (l, tmp, &all) {
        struct proc *p = container_of(l, struct proc, link);
        if (!p->ended && p->pid_src.fd < 0 && !try_reap(p))
            polling = true;
    }
    return polling ? now + PROC_POLL_MS : UINT64_MAX;
}

/* ---- start ------------------------------------------------------------------ */

/* The child's call: a WorkerMsg whose task is the function and arguments,
 * in a sealed-size memfd at offset 0. -1 with errno. */
static int call_memfd(uint64_t id, const Polypool__V1__ProcStart *ps)
{
    Polypool__V1__WorkerTask t = POLYPOOL__V1__WORKER_TASK__INIT;
    static Polypool__V1__Values none = POLYPOOL__V1__VALUES__INIT;
    t.task_id = id;
    t.function = ps->function;
    t.items = ps->args ? ps->args : &none;
    t.star = true;
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_TASK;
    m.task = &t;
    size_t len = polypool__v1__worker_msg__get_packed_size(&m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    polypool__v1__worker_msg__pack(&m, buf);
    int fd = memfd_create("pp-proc-call", MFD_CLOEXEC);
    size_t off = 0;
    while (fd >= 0 && off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
            break;
        }
        off += (size_t)n;
    }
    free(buf);
    if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int spawn(struct proc *p, struct session *s, const Polypool__V1__ProcStart *ps,
                 struct pyenv *env, const char *worker_path, char *why, size_t whylen)
{
    int call = -1, po[2] = { -1, -1 }, pe[2] = { -1, -1 }, rc = 0;
    char **pyenvp = NULL, **envp = NULL, **base_c = NULL, *name_var = NULL, *addr = NULL;
    char *parent_var = NULL, ppid_var[48];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;

    if ((call = call_memfd(p->id, ps)) < 0 || pipe2(po, O_CLOEXEC) < 0 ||
        pipe2(pe, O_CLOEXEC) < 0) {
        rc = errno;
        goto out;
    }
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto out;
    fa_ok = true;
    if ((rc = posix_spawnattr_init(&attr)) != 0)
        goto out;
    attr_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_adddup2(&fa, call, 3);
    const char *cwd = env ? env->cwd : ps->cwd;
    if (cwd && cwd[0] && (rc = posix_spawn_file_actions_addchdir_np(&fa, cwd)) != 0)
        goto out;
    spawn_default_signals(&attr);

    /* The environment: the function's (PyEnv, or the caller's for C), with
     * this daemon's address and the process's name. */
    size_t nlen = strlen("POLYPOOL_PROCESS_NAME=") + strlen(p->name) + 1;
    if (!(name_var = malloc(nlen))) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(name_var, nlen, "POLYPOOL_PROCESS_NAME=%s", p->name);
    const char *pname = ps->parent_name && ps->parent_name[0] ? ps->parent_name : "MainProcess";
    size_t plen = strlen("POLYPOOL_PARENT_NAME=") + strlen(pname) + 1;
    if (!(parent_var = malloc(plen))) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(parent_var, plen, "POLYPOOL_PARENT_NAME=%s", pname);
    snprintf(ppid_var, sizeof ppid_var, "POLYPOOL_PARENT_PID=%u", (unsigned)s->pid);
    char *const *base;
    if (env) {
        if (!(pyenvp = pyenv_environ(env, environ))) {
            rc = ENOMEM;
            goto out;
        }
        base = pyenvp;
    } else if (ps->n_environ) {
        if (!(base_c = malloc((ps->n_environ + 1) * sizeof *base_c))) {
            rc = ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < ps->n_environ; i++)
            base_c[i] = ps->environ[i];
        base_c[ps->n_environ] = NULL;
        base = base_c;
    } else {
        base = environ;
    }
    char *set[6];
    size_t nset = 0;
    const char *a = getenv("POLYPOOL_ADDRESS");
    if (a && (addr = malloc(strlen(a) + 18)))
        sprintf(addr, "POLYPOOL_ADDRESS=%s", a);
    if (addr)
        set[nset++] = addr;
    set[nset++] = "POLYPOOL_NO_AUTOSTART=1";
    set[nset++] = name_var;
    set[nset++] = parent_var;
    set[nset++] = ppid_var;
    envp = env_with(base, set, nset);
    if (!envp) {
        rc = ENOMEM;
        goto out;
    }
    char *argv_c[] = { (char *)worker_path, "--run", "3", NULL };
    char *argv_py[] = { env ? env->interpreter : NULL, "-m", "polypool._worker", "--run", "3",
                        NULL };
    char **argv = env ? argv_py : argv_c;
    /* posix_spawn reports a failed exec only where the child can tell its
     * parent (not under valgrind, for one): ask first. */
    if (access(argv[0], X_OK) < 0) {
        rc = errno;
        goto out;
    }
    rc = posix_spawn(&p->pid, argv[0], &fa, &attr, argv, envp);

out:     /* failed (rc), or the child has what it needs */
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (call >= 0)
        close(call);
    if (po[1] >= 0)
        close(po[1]);
    if (pe[1] >= 0)
        close(pe[1]);
    free(pyenvp);
    free(envp);
    free(base_c);
    free(name_var);
    free(parent_var);
    free(addr);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start %s: %s", env ? env->interpreter : worker_path,
                 strerror(rc));
        if (po[0] >= 0)
            close(po[0]);
        if (pe[0] >= 0)
            close(pe[0]);
        return rc == ENOMEM ? WS_ENOMEM : WS_ENOSPAWN;
    }
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    /* Room for a burst of output while the owner's next collection is on
     * its way (the system's pipe-max-size may refuse: then 64 KiB). */
    fcntl(po[0], F_SETPIPE_SZ, (int)PROC_PIPE_SIZE);
    p->out.src.fd = po[0];
    p->err.src.fd = pe[0];
    int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (pidfd >= 0) {
        fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        p->pid_src.fd = pidfd;
        if (loop_add(&p->pid_src, EPOLLIN) < 0)
            log_error("epoll add for process %d: %s", (int)p->pid, strerror(errno));
    } else {
        loop_deadline(now_ms() + PROC_POLL_MS);     /* proc_tick polls */
    }
    watch(&p->out, true);
    watch(&p->err, true);
    return WS_OK;
}

int proc_start(struct session *s, const Polypool__V1__ProcStart *ps, struct pyenv *env,
               const char *worker_path, struct proc **out, char *why, size_t whylen)
{
    struct proc *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return WS_ENOMEM;
    }
    p->id = ++proc_ids;
    p->owner = p->holder = s;
    p->out.proc = p->err.proc = p;
    p->daemon = ps->daemon;
    p->pid_src.fd = -1;
    p->pid_src.cb = pid_cb;
    p->out.src.fd = p->err.src.fd = -1;
    p->out.src.cb = p->err.src.cb = stream_cb;
    buf_init(&p->out.buf);
    buf_init(&p->err.buf);
    list_init(&p->owner_link);
    list_init(&p->link);
    char dflt[32];
    snprintf(dflt, sizeof dflt, "Process-%llu", (unsigned long long)p->id);
    p->name = strdup(ps->name && ps->name[0] ? ps->name : dflt);
    if (!p->name) {
        free(p);
        snprintf(why, whylen, "out of memory");
        return WS_ENOMEM;
    }
    int st = hold_args(p, s, ps->args);
    if (st != WS_OK) {
        snprintf(why, whylen, st == WS_ENOENT ? "an argument names an object that no longer exists"
                                              : "out of memory");
    } else {
        st = spawn(p, s, ps, env, worker_path, why, whylen);
    }
    if (st != WS_OK) {
        unhold(p);
        buf_fini(&p->out.buf);
        buf_fini(&p->err.buf);
        free(p->name);
        free(p);
        return st;
    }
    list_push_back(&all, &p->link);
    list_push_back(&s->procs, &p->owner_link);
    n_procs++;
    log_debug("process %llu (%s): pid %d for session %llu", (unsigned long long)p->id, p->name,
              (int)p->pid, (unsigned long long)s->id);
    *out = p;
    return WS_OK;
}

/* ---- operations ------------------------------------------------------------- */

struct proc *proc_get(const struct session *s, uint64_t id)
{
    list_for_each (l, &s->procs) {
        struct proc *p = container_of(l, struct proc, owner_link);
        if (p->id == id)
            return p;
    }
    return NULL;
}

int proc_signal(struct proc *p, int sig)
{
    if (sig < 1 || sig > 64)
        return WS_EINVAL;
    if (p->ended)
        return WS_OK;
    int rv = p->pid_src.fd >= 0 ? (int)syscall(SYS_pidfd_send_signal, p->pid_src.fd, sig, NULL, 0)
                                : kill(p->pid, sig);
    if (rv < 0 && errno != ESRCH) {
        log_warn("signal %d to process %d: %s", sig, (int)p->pid, strerror(errno));
        return errno == EPERM ? WS_EPERM : WS_EINTERNAL;
    }
    return WS_OK;
}

static bool stream_drained(const struct proc_stream *st)
{
    return buf_unread(&st->buf) == 0 && (st->src.fd < 0 || st->tail_read);
}

bool proc_done(const struct proc *p)
{
    return p->ended && stream_drained(&p->out) && stream_drained(&p->err);
}

bool proc_ready(const struct proc *p, uint64_t now)
{
    size_t n = buf_unread(&p->out.buf) + buf_unread(&p->err.buf);
    return proc_done(p) || n >= PROC_BATCH_BYTES ||
           (n && now >= p->out_since + PROC_BATCH_MS);
}

uint64_t proc_ready_at(const struct proc *p)
{
    return p->out_since ? p->out_since + PROC_BATCH_MS : UINT64_MAX;
}

static int take(struct proc *p, struct proc_stream *st, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = buf_unread(&st->buf);
    if (*len) {
        if (!(*data = malloc(*len)))
            return -1;
        memcpy(*data, st->buf.data + st->buf.off, *len);
        buf_consume(&st->buf, *len);
    }
    /* A full buffer stopped the reading; after the end the rest must be
     * read before the proc is done. */
    if (st->src.fd >= 0 && (!st->watched || (p->ended && !st->tail_read)))
        stream_read(p, st);
    return 0;
}

int proc_take_output(struct proc *p, uint8_t **out, size_t *out_len, uint8_t **err,
                     size_t *err_len)
{
    if (take(p, &p->out, out, out_len) < 0)
        return -1;
    if (take(p, &p->err, err, err_len) < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    p->out_since = 0;
    /* What take() read in again starts a new batch. */
    if (buf_unread(&p->out.buf) || buf_unread(&p->err.buf)) {
        p->out_since = now_ms();
        loop_deadline(p->out_since + PROC_BATCH_MS);
    }
    return 0;
}

void proc_release(struct proc *p)
{
    list_del(&p->owner_link);
    p->owner = NULL;
    buf_fini(&p->out.buf);
    buf_fini(&p->err.buf);
    buf_init(&p->out.buf);
    buf_init(&p->err.buf);
    if (p->ended) {
        proc_free(p);
        return;
    }
    /* Keep its pipes flowing so it never blocks on output nobody reads. */
    if (p->out.src.fd >= 0)
        stream_read(p, &p->out);
    if (p->err.src.fd >= 0)
        stream_read(p, &p->err);
}

void proc_session_end(struct session *s)
{
    list_for_each_safe (l, tmp, &all) {
        struct proc *p = container_of(l, struct proc, link);
        if (p->holder == s) {
            /* The session's references are about to go wholesale. */
            p->holder = NULL;
            unhold(p);
        }
    }
    list_for_each_safe (l, tmp, &s->procs) {
        struct proc *p = container_of(l, struct proc, owner_link);
        if (p->daemon)
            proc_signal(p, SIGTERM);
        proc_release(p);
    }
}

void proc_shutdown_all(void)
{
    list_for_each_safe (l, tmp, &all) {
        struct proc *p = container_of(l, struct proc, link);
        proc_signal(p, SIGTERM);
        p->ended = true;            /* not waited for: the daemon is going */
        p->owner = p->holder = NULL;
        proc_free(p);
    }
}
