/* proc.h - processes started for clients (multiprocessing.Process).
 *
 * A proc is one child running one function: `polypool-worker --run 3` for
 * a C function, `<interpreter> -m polypool._worker --run 3` for a Python
 * one, reading its call (a packed WorkerMsg with a WorkerTask) from the
 * memfd on fd 3. Its stdout and stderr are pipes read here on the loop
 * thread into per-stream buffers of at most PROC_OUTPUT_MAX bytes; a full
 * buffer stops the reading (the child then blocks on write) until the
 * owner collects. Its end is seen on a pidfd (or by polling waitpid in
 * proc_tick where pidfd_open is missing).
 *
 * Lifetime: a proc belongs to the session that started it until that
 * session releases it (ProcRelease) or ends; a released proc that still
 * runs stays here, its output read and dropped, until it is reaped. The
 * segments and managed objects named by the call's handles are held by the
 * starting session for the proc (one more reference each) until it ends,
 * released or not, so a caller may let go of its arguments as soon as the
 * process has started.
 *
 * "done" is what join waits for: the child has ended and everything it
 * wrote has been handed out. After the end each pipe is read until it is
 * empty (not until EOF: a grandchild may hold it open forever).
 *
 * Locking: everything under the daemon lock, callbacks on the loop thread.
 */
#ifndef PP_PROC_H
#define PP_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "util.h"

struct session;
struct pyenv;
typedef struct Polypool__V1__ProcStart Polypool__V1__ProcStart;

/* Output buffered per stream before the child has to wait for its owner. */
#define PROC_OUTPUT_MAX ((size_t)1 << 20)
/* A waiting ProcWait is answered once this much output is buffered, or
 * PROC_BATCH_MS after the first byte of it arrived: a child printing fast
 * is collected in large replies, one printing a line now and then with at
 * most that delay. */
#define PROC_BATCH_BYTES ((size_t)256 << 10)
#define PROC_BATCH_MS 2
/* The stdout pipe's size (F_SETPIPE_SZ). */
#define PROC_PIPE_SIZE ((size_t)1 << 20)

struct proc;

struct proc_stream {
    struct loop_src src;      /* fd -1 once closed */
    struct proc *proc;
    struct buf buf;
    bool watched;             /* in the epoll set */
    bool tail_read;           /* read until empty after the child ended */
};

struct proc {
    uint64_t id;
    struct session *owner;    /* NULL: released */
    struct session *holder;   /* holds segs/objs for it; NULL once given back */
    struct list owner_link;   /* on owner->procs */
    struct list link;         /* every proc */
    char *name;
    bool daemon;
    pid_t pid;
    struct loop_src pid_src;  /* the pidfd, or fd -1 */
    struct proc_stream out, err;
    bool ended;
    int exitcode;             /* once ended: exit status, or -signal */
    uint64_t out_since;       /* ms the buffered output began; 0: none */
    uint64_t *segs, *objs;    /* references the owner holds for it */
    size_t n_segs, n_objs;
};

/* Starts ps->function with ps->args for s. env: the interned environment
 * of a Python function (NULL for C; used only during the call).
 * Returns a wire status; on failure why[] says what went wrong. */
int proc_start(struct session *s, const Polypool__V1__ProcStart *ps, struct pyenv *env,
               const char *worker_path, struct proc **out, char *why, size_t whylen);
/* s's proc with that id, or NULL. */
struct proc *proc_get(const struct session *s, uint64_t id);
/* Sends sig unless the proc has ended. 0 or a wire status. */
int proc_signal(struct proc *p, int sig);
/* Whether a ProcWait should answer at `now` (ms): done, or a batch of
 * output (PROC_BATCH_BYTES, or PROC_BATCH_MS old) to hand out. */
bool proc_ready(const struct proc *p, uint64_t now);
/* When the output buffered now makes a batch by age (UINT64_MAX: none). */
uint64_t proc_ready_at(const struct proc *p);
bool proc_done(const struct proc *p);
/* Moves the buffered output into *out / *err (malloc'd, NULL when empty),
 * and resumes reading a stream that was full. -1 on ENOMEM. */
int proc_take_output(struct proc *p, uint8_t **out, size_t *out_len, uint8_t **err,
                     size_t *err_len);
/* The owner lets go (ProcRelease). */
void proc_release(struct proc *p);
/* s is ending: its daemonic procs get SIGTERM, every proc is released. */
void proc_session_end(struct session *s);
/* Daemon shutdown: SIGTERM to every proc still running, then forget them. */
void proc_shutdown_all(void);
/* Reaps procs whose end no pidfd reports. Returns the next deadline. */
uint64_t proc_tick(uint64_t now);
/* Procs not yet reaped and freed. */
size_t proc_count(void);

#endif
