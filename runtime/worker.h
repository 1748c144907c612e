/* worker.h - worker processes.
 *
 * Each worker is a process with a non-blocking socketpair end on fd 3,
 * /dev/null on fd 0 and two memfds on fd 1 and 2 (the daemon keeps copies
 * to salvage a dead task's output): a polypool-worker (C tasks) or a Python
 * host (`python -m polypool._worker`, C and Python tasks) spawned with
 * posix_spawn, or a Python host forked by its environment's fork server
 * (forkserver.h). The daemon queues frames in `out` and writes what the
 * socket takes; reads go through an incremental frame reader. A pidfd tells
 * when a spawned process dies; a forked one is its fork server's child, and
 * the server reports its exit (worker_exited). Its pid is 0 until the
 * server's answer or its hello says.
 *
 * Death: complete frames still in the socket are processed first, then the
 * process is reaped; the first unanswered task fails (EWORKER, or ETIMEDOUT
 * / ECLOSED when the daemon killed it for a deadline / termination) and the
 * later ones go back to their jobs. The struct is freed from the idle hook
 * (worker_reap_dead) so no epoll event of the same batch sees freed memory.
 *
 * Locking: everything under the daemon lock, on the loop thread.
 */
#ifndef PP_WORKER_H
#define PP_WORKER_H

#include <stdbool.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "loop.h"
#include "util.h"

struct forkserver;
struct pool;
struct pyenv;

enum worker_state { WORKER_STARTING, WORKER_READY, WORKER_EXITING, WORKER_DEAD };
enum worker_kind { WORKER_KIND_C, WORKER_KIND_PY };
enum worker_kill { KILL_NONE, KILL_DEADLINE, KILL_TERMINATE, KILL_PROTOCOL, KILL_SHUTDOWN };

struct worker {
    uint64_t id;
    struct pool *pool;
    enum worker_kind kind;
    struct pyenv *env;           /* WORKER_KIND_PY: the host's environment */
    struct forkserver *fs;       /* forked by this fork server (its child, not ours) */
    enum worker_state state;
    pid_t pid;
    int sock, pidfd, out_fd, err_fd;
    struct loop_src sock_src, pid_src;
    struct frame_reader rd;
    struct buf out;
    bool want_write;
    bool hello_seen;
    bool init_done;              /* WorkerInitDone received */
    bool eof;                    /* the socket reached EOF */
    enum worker_kill kill_reason;
    struct list inflight;        /* struct task, in send order */
    uint32_t n_inflight;
    uint32_t last_batch;
    uint64_t busy_mark_us;       /* when the current task started, roughly */
    uint64_t tasks_sent, tasks_done;
    uint64_t spare_until;        /* a spare (pool.h): when it exits, in ms */
    struct list pool_link;
};

/* Spawns a worker for p (sends WorkerInit at once): the C worker at `path`
 * when env is NULL, else a Python worker host `<interpreter> -m
 * polypool._worker` in env (which also runs C tasks). Returns NULL with
 * *err set to a static or strerror message when it could not start. */
/* Sets the signal attributes every child of the daemon is spawned with:
 * nothing blocked, the signals the daemon handles back to default. */
void spawn_default_signals(posix_spawnattr_t *attr);

struct worker *worker_spawn(struct pool *p, const char *path, struct pyenv *env,
                            const char **err);

/* Whether w can run tasks of a job with environment env (NULL: C). */
static inline bool worker_runs(const struct worker *w, const struct pyenv *env)
{
    return !env || env == w->env;
}

/* A forked worker's pid is known (from its fork server or its hello). */
void worker_pid_known(struct worker *w, pid_t pid);

/* A fork server reports that its child pid (a worker) ended with the wait
 * status `status`. */
void worker_exited(pid_t pid, int status);

/* Queues bytes already appended to w->out and writes what fits. */
void worker_flush(struct worker *w);
/* Sends WorkerExit (once). */
void worker_send_exit(struct worker *w);
/* SIGKILLs w, remembering why. */
void worker_kill(struct worker *w, enum worker_kill why);

/* Without pidfds (old kernels, valgrind) a worker whose socket hit EOF is
 * polled with waitpid; returns the next time to poll or UINT64_MAX. */
uint64_t worker_tick(uint64_t now);

/* Frees dead workers (idle hook). */
void worker_reap_dead(void);

/* Shutdown: WorkerExit to all, SIGTERM after term_ms, SIGKILL after
 * kill_ms, reap everything. Blocking; called with the lock held. */
void worker_shutdown_all(int term_ms, int kill_ms);

const char *worker_state_name(const struct worker *w);

/* Number of live worker processes (for tests and status). */
size_t worker_count(void);

#endif
