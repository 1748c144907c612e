/* worker.c - worker processes; see worker.h.
 *
 * Invariants: a worker is on its pool's `workers` list from spawn until it
 * is reaped, then on `graveyard` until the idle hook frees it. Its inflight
 * tasks are exactly the tasks sent without a result yet, in send order
 * (the worker answers in order). The socket is non-blocking; frames that do
 * not fit wait in `out` and EPOLLOUT is armed.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "forkserver.h"
#include "pool.h"
#include "pyenv.h"
#include "scheduler.h"
#include "shm.h"
#include "session.h"
#include "wire.h"

extern char **environ;

static struct list graveyard = { &graveyard, &graveyard };
static uint64_t worker_ids;
static size_t n_live;

size_t worker_count(void) { return n_live; }

const char *worker_state_name(const struct worker *w)
{
    switch (w->state) {
    case WORKER_STARTING: return "starting";
    case WORKER_READY: return w->n_inflight ? "busy" : "idle";
    case WORKER_EXITING: return "exiting";
    case WORKER_DEAD: return "dead";
    }
    return "?";
}

static void sock_cb(struct loop_src *src, uint32_t events);
static void pid_cb(struct loop_src *src, uint32_t events);

void spawn_default_signals(posix_spawnattr_t *attr)
{
    /* The daemon blocks SIGTERM/SIGINT/SIGHUP and ignores SIGPIPE; its
     * children start with the defaults. */
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &def);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

struct worker *worker_spawn(struct pool *p, const char *path, struct pyenv *env,
                            const char **err)
{
    char **envp = NULL;
    int sv[2] = { -1, -1 }, out_fd = -1, err_fd = -1, pidfd = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    struct worker *w = calloc(1, sizeof *w);
    pid_t pid = -1;
    int rc;
    if (!w) {
        *err = "out of memory";
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        goto sys_fail;
    out_fd = memfd_create("pp-stdout", MFD_CLOEXEC);
    err_fd = memfd_create("pp-stderr", MFD_CLOEXEC);
    if (out_fd < 0 || err_fd < 0)
        goto sys_fail;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto rc_fail;
    fa_ok = true;
    if ((rc = posix_spawnattr_init(&attr)) != 0)
        goto rc_fail;
    attr_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    /* It stays in the daemon's process group, so killing the group of a
     * dead daemon also ends its workers. */
    spawn_default_signals(&attr);
    char *argv[] = { (char *)path, "--fd", "3", NULL, NULL, NULL };
    bool forked = env && forkserver_request(env, sv[1], out_fd, err_fd, w) == 0;
    if (forked) {
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        fa_ok = attr_ok = false;
        close(sv[1]);
        sv[1] = -1;
        fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
        goto spawned;       /* its exit is reported by the fork server */
    }
    if (env) {
        /* The host finds the polypool package and the client's modules on
         * env->path (PYTHONPATH), then sets sys.path exactly. */
        if (!(envp = pyenv_environ(env, environ))) {
            rc = ENOMEM;
            goto rc_fail;
        }
        if (env->cwd[0] && (rc = posix_spawn_file_actions_addchdir_np(&fa, env->cwd)) != 0)
            goto rc_fail;
        path = env->interpreter;
        argv[0] = (char *)path;
        argv[1] = "-m";
        argv[2] = "polypool._worker";
        argv[3] = "--fd";
        argv[4] = "3";
    }
    rc = posix_spawn(&pid, path, &fa, &attr, argv, envp ? envp : environ);
    free(envp);
    envp = NULL;
    if (rc != 0)
        goto rc_fail;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    fa_ok = attr_ok = false;
    close(sv[1]);
    sv[1] = -1;
    /* Without pidfd_open (ENOSYS: old kernels, valgrind) the socket's EOF
     * tells, and worker_tick reaps. */
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0)
        fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    else if (errno != ENOSYS)
        log_warn("pidfd_open(%d): %s; watching its socket instead", (int)pid, strerror(errno));
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);

spawned:
    w->id = ++worker_ids;
    w->pool = p;
    w->kind = env ? WORKER_KIND_PY : WORKER_KIND_C;
    w->env = pyenv_ref(env);
    w->state = WORKER_STARTING;
    w->pid = pid;
    w->sock = sv[0];
    w->pidfd = pidfd;
    w->out_fd = out_fd;
    w->err_fd = err_fd;
    w->sock_src.fd = w->sock;
    w->sock_src.cb = sock_cb;
    w->pid_src.fd = pidfd;
    w->pid_src.cb = pid_cb;
    frame_reader_init(&w->rd);
    buf_init(&w->out);
    list_init(&w->inflight);
    list_push_back(&p->workers, &w->pool_link);
    p->n_workers++;
    n_live++;
    if (loop_add(&w->sock_src, EPOLLIN) < 0 || (pidfd >= 0 && loop_add(&w->pid_src, EPOLLIN) < 0))
        log_error("epoll add for worker %d: %s", (int)pid, strerror(errno));
    /* Init goes out at once: the worker reads it after its Hello. */
    if (wire_pack_init(&w->out, w->id, p->init_lib, p->init_sym, p->init_env != NULL,
                       p->initargs, p->initargs_len) < 0) {
        log_error("out of memory packing WorkerInit");
        worker_kill(w, KILL_PROTOCOL);
    }
    worker_flush(w);
    if (forked)
        log_debug("pool %llu: asked for a forked worker", (unsigned long long)p->id);
    else
        log_debug("pool %llu: spawned worker %d", (unsigned long long)p->id, (int)pid);
    return w;

sys_fail:
    rc = errno;
rc_fail:
    *err = strerror(rc);
    free(envp);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    free(w);
    return NULL;
}

void worker_flush(struct worker *w)
{
    if (w->state == WORKER_DEAD || w->sock < 0)
        return;
    while (buf_unread(&w->out)) {
        ssize_t n = send(w->sock, w->out.data + w->out.off, buf_unread(&w->out),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_consume(&w->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!w->want_write) {
                w->want_write = true;
                loop_mod(&w->sock_src, EPOLLIN | EPOLLOUT);
            }
            return;
        }
        /* The worker is gone; its pidfd will tell. */
        buf_consume(&w->out, buf_unread(&w->out));
        break;
    }
    if (w->want_write) {
        w->want_write = false;
        loop_mod(&w->sock_src, EPOLLIN);
    }
}

void worker_send_exit(struct worker *w)
{
    if (w->state == WORKER_DEAD || w->state == WORKER_EXITING)
        return;
    if (wire_pack_exit(&w->out) < 0) {
        worker_kill(w, KILL_SHUTDOWN);
        return;
    }
    w->state = WORKER_EXITING;
    worker_flush(w);
}

/* pid 0 would signal our whole process group (unit tests use workers
 * without a process; a forked worker has none until its fork server says). */
static void signal_worker(const struct worker *w, int sig)
{
    if (w->pid > 0)
        kill(w->pid, sig);
}

void worker_pid_known(struct worker *w, pid_t pid)
{
    if (w->pid > 0)
        return;
    w->pid = pid;
    /* Killed (terminate, deadline) before anyone knew whom to kill. */
    if (w->kill_reason != KILL_NONE)
        signal_worker(w, SIGKILL);
}

void worker_kill(struct worker *w, enum worker_kill why)
{
    if (w->state == WORKER_DEAD)
        return;
    if (w->kill_reason == KILL_NONE)
        w->kill_reason = why;
    signal_worker(w, SIGKILL);
}

static void protocol_error(struct worker *w, const char *what)
{
    log_error("worker %d: protocol error: %s; killing it", (int)w->pid, what);
    worker_kill(w, KILL_PROTOCOL);
}

/* Handles one frame; consumes payload. */
static void handle_frame(struct worker *w, uint8_t *payload, size_t len)
{
    struct wire_wmsg m;
    struct pool *p = w->pool;
    if (wire_wmsg_decode(payload, len, &m) < 0) {
        free(payload);
        protocol_error(w, "undecodable frame");
        return;
    }
    switch (m.type) {
    case WMSG_HELLO:
        w->hello_seen = true;
        if (w->pid <= 0 && m.pid > 0)
            worker_pid_known(w, (pid_t)m.pid);   /* forked: before the server's answer */
        log_debug("worker %d says hello (pid %u, version %u)", (int)w->pid, m.pid, m.version);
        free(payload);
        break;
    case WMSG_INIT_DONE:
        free(payload);
        w->init_done = true;
        if (m.err_status) {
            char msg[1024];
            snprintf(msg, sizeof msg, "pool initializer failed: %s",
                     m.err_message ? m.err_message : "");
            pool_break(p, m.err_status, msg);
            worker_send_exit(w);
            pool_check(p);
        } else if (w->state == WORKER_STARTING) {
            w->state = WORKER_READY;
            /* A host that took the slow way: later ones of its
             * environment can be forked. */
            if (w->env && !w->fs)
                forkserver_want(w->env);
            pool_worker_ready(p);
            sched_dispatch_worker(w);
        }
        w->hello_seen = true;
        break;
    case WMSG_RESULT: {
        struct task *t = NULL;
        list_for_each (l, &w->inflight) {
            struct task *c = container_of(l, struct task, link);
            if (c->id == m.task_id) {
                t = c;
                break;
            }
        }
        if (!t) {
            free(payload);
            protocol_error(w, "result for a task it does not have");
            break;
        }
        list_del(&t->link);
        w->n_inflight--;
        w->tasks_done++;
        p->tasks_running--;
        p->tasks_done++;
        /* The worker runs its tasks back to back: a task took the time
         * since the previous result (or since the batch was sent). */
        uint64_t now = sched_now_us();
        sched_note_task_time(p, now - w->busy_mark_us);
        w->busy_mark_us = now;
        sched_task_done(t, payload, m.batch_off, m.batch_len);
        sched_dispatch_worker(w);
        if (p->state != POOL_RUNNING)
            pool_check(p);
        break;
    }
    default:
        free(payload);
        protocol_error(w, "unexpected message");
        break;
    }
    wire_wmsg_fini(&m);
}

/* Reads and handles every complete frame. Returns -1 at EOF or error. */
static int read_frames(struct worker *w)
{
    for (;;) {
        void *payload;
        size_t len;
        int rv = frame_reader_read(&w->rd, w->sock, &payload, &len);
        if (rv == 1) {
            handle_frame(w, payload, len);
            if (w->state == WORKER_DEAD)
                return -1;
            continue;
        }
        if (rv < 0 && errno == EPROTO)
            protocol_error(w, "bad frame");
        return rv;
    }
}

static void sock_cb(struct loop_src *src, uint32_t events)
{
    struct worker *w = container_of(src, struct worker, sock_src);
    if (events & EPOLLOUT)
        worker_flush(w);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (read_frames(w) < 0 && w->state != WORKER_DEAD) {
            /* EOF: stop watching the socket; the pidfd (or worker_tick)
             * reports the exit. */
            loop_del(&w->sock_src);
            w->sock_src.fd = -1;
            w->eof = true;
            if (w->pidfd < 0)
                loop_deadline(now_ms());
        }
    }
}

static size_t salvage(int fd, char **out)
{
    struct stat st;
    *out = NULL;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
        return 0;
    size_t n = (size_t)st.st_size;
    if (n > ((size_t)4 << 20))
        n = (size_t)4 << 20;
    char *b = malloc(n);
    if (!b)
        return 0;
    ssize_t r = pread(fd, b, n, 0);
    if (r <= 0) {
        free(b);
        return 0;
    }
    *out = b;
    return (size_t)r;
}

static void describe_exit(const struct worker *w, int status, char *buf, size_t len,
                          int *sig, int *code)
{
    *sig = *code = 0;
    if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(*sig);
        snprintf(buf, len, "worker %d killed by signal %d (SIG%s)", (int)w->pid, *sig,
                 abbrev ? abbrev : "?");
    } else if (WIFEXITED(status)) {
        *code = WEXITSTATUS(status);
        snprintf(buf, len, "worker %d exited with code %d", (int)w->pid, *code);
    } else {
        snprintf(buf, len, "worker %d ended (status 0x%x)", (int)w->pid, status);
    }
}

/* A worker that died before it was ready usually said why on stderr (a
 * Python host: "No module named polypool"): its last line goes into why. */
static void append_last_words(const struct worker *w, char *why, size_t len)
{
    char *err = NULL;
    size_t n = salvage(w->err_fd, &err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == '\r' || err[n - 1] == ' '))
        n--;
    if (n) {
        size_t start = n;
        while (start && err[start - 1] != '\n')
            start--;
        size_t used = strlen(why);
        snprintf(why + used, len - used, ": %.*s", (int)(n - start), err + start);
    }
    free(err);
}

static void on_death(struct worker *w, int status)
{
    struct pool *p = w->pool;
    forkserver_forget(w);
    bool was_ready = w->init_done;
    char why[512];
    int sig, code;
    describe_exit(w, status, why, sizeof why, &sig, &code);
    if (!was_ready && w->kill_reason == KILL_NONE)
        append_last_words(w, why, sizeof why);
    bool clean = WIFEXITED(status) && code == 0 && w->state == WORKER_EXITING;
    if (!clean && w->kill_reason == KILL_NONE)
        log_warn("pool %llu: %s", (unsigned long long)p->id, why);
    else
        log_debug("pool %llu: %s", (unsigned long long)p->id, why);
    w->state = WORKER_DEAD;
    if (w->pid > 0)
        shm_owner_died((uint32_t)w->pid);
    if (w->pidfd >= 0) {
        loop_del(&w->pid_src);
        close(w->pidfd);
    }
    if (w->sock_src.fd >= 0)
        loop_del(&w->sock_src);
    close(w->sock);
    w->sock = w->pidfd = -1;

    if (w->n_inflight) {
        char *out = NULL, *err = NULL;
        size_t out_len = salvage(w->out_fd, &out), err_len = salvage(w->err_fd, &err);
        /* Unlink every task first, then resolve: failures first in order,
         * re-queues last-to-first so they keep their order at the front. */
        struct task **ts = calloc(w->n_inflight, sizeof *ts);
        size_t n = 0;
        list_for_each_safe (l, tmp, &w->inflight) {
            struct task *t = container_of(l, struct task, link);
            list_del(l);
            p->tasks_running--;
            if (ts)
                ts[n++] = t;
            else
                sched_task_requeue(t);
        }
        w->n_inflight = 0;
        bool blamed = false;
        for (size_t i = 0; i < n; i++) {
            struct task *t = ts[i];
            struct job *j = t->job;
            char where[512];
            snprintf(where, sizeof where, "worker %d, %s:%s, items %llu..%llu", (int)w->pid,
                     j->library, j->symbol, (unsigned long long)t->first,
                     (unsigned long long)(t->first + t->count - 1));
            struct wire_error e = { .where = where };
            if (j->expired) {
                e.status = WS_ETIMEDOUT;
                e.message = "job deadline passed; its worker was killed";
            } else if (w->kill_reason == KILL_TERMINATE) {
                e.status = WS_ECLOSED;
                e.message = "pool terminated";
            } else if (w->kill_reason == KILL_SHUTDOWN) {
                e.status = WS_ECLOSED;
                e.message = "daemon shutting down";
            } else if (!blamed && w->kill_reason != KILL_DEADLINE) {
                e.status = WS_EWORKER;
                e.message = why;
                e.signal = sig;
                e.exit_code = code;
                blamed = true;
            } else {
                continue;   /* re-queued below */
            }
            sched_task_fail(t, &e, out, out_len, err, err_len);
            out_len = err_len = 0;
            ts[i] = NULL;
        }
        for (size_t i = n; i-- > 0;)
            if (ts[i])
                sched_task_requeue(ts[i]);
        free(ts);
        free(out);
        free(err);
    }
    close(w->out_fd);
    close(w->err_fd);
    w->out_fd = w->err_fd = -1;
    list_del(&w->pool_link);
    list_push_back(&graveyard, &w->pool_link);
    n_live--;
    /* Re-queued tasks go to the other workers before the pool is looked
     * at again (pool_worker_gone may free a finished pool). */
    sched_dispatch(p);
    pool_worker_gone(p, was_ready, why);
}

static void pid_cb(struct loop_src *src, uint32_t events)
{
    struct worker *w = container_of(src, struct worker, pid_src);
    /* Results written before the death still count. */
    if (w->sock_src.fd >= 0 && read_frames(w) < 0 && w->sock_src.fd >= 0) {
        loop_del(&w->sock_src);
        w->sock_src.fd = -1;
    }
    if (w->state == WORKER_DEAD)
        return;
    int status = 0;
    pid_t r = waitpid(w->pid, &status, WNOHANG);
    if (r == 0)
        return;   /* spurious; wait for the real exit */
    if (r < 0) {
        log_error("waitpid(%d): %s", (int)w->pid, strerror(errno));
        status = 0;
    }
    on_death(w, status);
}

uint64_t worker_tick(uint64_t now)
{
    uint64_t next = UINT64_MAX;
restart:
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        list_for_each (m, &p->workers) {
            struct worker *w = container_of(m, struct worker, pool_link);
            if (w->pidfd >= 0 || !w->eof || w->state == WORKER_DEAD)
                continue;
            if (w->fs && forkserver_alive(w->fs))
                continue;   /* its fork server reports the exit */
            int status = 0;
            pid_t r = w->fs ? -1 : waitpid(w->pid, &status, WNOHANG);
            if (w->fs) {
                /* Its fork server died first: the status is lost. */
                errno = ECHILD;
                status = 255 << 8;
            }
            if (r == w->pid || (r < 0 && errno == ECHILD)) {
                on_death(w, r == w->pid ? status : 0);
                goto restart;   /* on_death may free the pool */
            }
            next = now + 10;
        }
    }
    return next;
}

void worker_exited(pid_t pid, int status)
{
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        list_for_each (m, &p->workers) {
            struct worker *w = container_of(m, struct worker, pool_link);
            if (w->pid != pid || !w->fs || w->state == WORKER_DEAD)
                continue;
            /* Results written before the death still count. */
            if (w->sock_src.fd >= 0 && read_frames(w) < 0 && w->sock_src.fd >= 0) {
                loop_del(&w->sock_src);
                w->sock_src.fd = -1;
            }
            if (w->state != WORKER_DEAD)
                on_death(w, status);
            return;
        }
    }
}

void worker_reap_dead(void)
{
    list_for_each_safe (l, tmp, &graveyard) {
        struct worker *w = container_of(l, struct worker, pool_link);
        list_del(l);
        frame_reader_fini(&w->rd);
        buf_fini(&w->out);
        pyenv_unref(w->env);
        free(w);
    }
}

void worker_shutdown_all(int term_ms, int kill_ms)
{
    pool_shutdown();
    list_for_each (l, pool_all()) {
        struct pool *p = container_of(l, struct pool, link);
        list_for_each (m, &p->workers) {
            struct worker *w = container_of(m, struct worker, pool_link);
            w->kill_reason = KILL_SHUTDOWN;
            worker_send_exit(w);
        }
    }
    uint64_t start = now_ms();
    bool termed = false, killed = false;
    while (n_live) {
        uint64_t el = now_ms() - start;
        if (!termed && el >= (uint64_t)term_ms) {
            termed = true;
            list_for_each (l, pool_all()) {
                struct pool *p = container_of(l, struct pool, link);
                list_for_each (m, &p->workers)
                    signal_worker(container_of(m, struct worker, pool_link), SIGTERM);
            }
        }
        if (!killed && el >= (uint64_t)kill_ms) {
            killed = true;
            list_for_each (l, pool_all()) {
                struct pool *p = container_of(l, struct pool, link);
                list_for_each (m, &p->workers)
                    signal_worker(container_of(m, struct worker, pool_link), SIGKILL);
            }
        }
        bool any = false;
        list_for_each_safe (l, tl, pool_all()) {
            struct pool *p = container_of(l, struct pool, link);
            list_for_each_safe (m, tm, &p->workers) {
                struct worker *w = container_of(m, struct worker, pool_link);
                int status = 0;
                /* A fork server's child is gone once the server reaped it. */
                /* A fork server's child is gone once the server reaped
                 * it; one not forked yet never will be (its socket closes
                 * here). */
                bool gone = w->fs ? w->pid <= 0 || (kill(w->pid, 0) < 0 && errno == ESRCH)
                                  : waitpid(w->pid, &status, WNOHANG) == w->pid;
                if (gone) {
                    if (w->sock_src.fd >= 0)
                        read_frames(w);
                    on_death(w, status);
                    any = true;
                    /* on_death may free p: restart the walk. */
                    goto next_round;
                }
            }
        }
    next_round:
        if (!any)
            usleep(5000);
    }
    worker_reap_dead();
}
