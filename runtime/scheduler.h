/* scheduler.h - jobs, tasks and dispatch.
 *
 * A job is (session, client job id). Its input is a list of received item
 * sets (struct input, one per Submit with items); tasks are cut from the
 * front of that list lazily, only when a worker takes them, so queued work
 * costs no memory per item or per task. A task that must run again (its
 * worker died while it waited behind another task) goes on the job's
 * `requeued` list, which is served first.
 *
 * Each pool keeps a round-robin ring of its jobs that have queued tasks;
 * an idle worker gets a batch of tasks taken one per job around the ring,
 * so jobs of different sessions alternate. Batch size: queued tasks /
 * (2 * pool size), clamped to 1..64, and capped to about SCHED_BATCH_US of
 * work by the pool's measured task time (one task until a task has been
 * timed), so tiny tasks travel in bulk while slow ones spread over the
 * workers and a cancel does not wait behind tasks already handed out.
 *
 * A task in flight sits on its worker's `inflight` list. When its result
 * comes back, the same struct carries the result bytes on the job's `ready`
 * list until a reply delivers them. Every item resolves exactly once: by a
 * worker's result, or by an error batch the daemon makes (worker death,
 * deadline, termination, broken pool).
 *
 * A cancelled (or orphaned) job is `forgotten`: it leaves its session's map
 * at once, drops its queue and results, and is freed when its last running
 * task comes back.
 *
 * Locking: everything here runs under the daemon lock.
 */
#ifndef PP_SCHEDULER_H
#define PP_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"
#include "wire.h"

struct pool;
struct session;
struct worker;

struct input {
    struct list link;
    wire_items *items;
    struct wire_cursor cur;   /* before item `next` */
    uint64_t base;            /* job index of item 0 */
    size_t next, n;
};

struct task {
    struct list link;         /* worker inflight, job requeued, or job ready */
    uint64_t id;
    struct job *job;
    uint64_t first;           /* job index of the first item */
    uint32_t count;
    wire_items *items;        /* NULL once resolved */
    struct wire_cursor from, to;
    /* Result: rbuf[roff .. roff + rlen) is a packed ResultBatch. */
    uint8_t *rbuf;
    size_t roff, rlen;
};

struct job {
    uint64_t id;                /* the client's job id */
    struct session *sess;
    struct pool *pool;          /* NULL once detached from its pool */
    uint64_t pool_id;
    char *library, *symbol;     /* or Python module and qualified name when env */
    struct pyenv *env;          /* Python jobs: where they run; NULL: C */
    uint32_t chunksize;
    bool star, more, async, wait;
    bool expired, forgotten;
    uint64_t received, resolved;
    uint64_t deadline;          /* ms, 0 = none */

    struct list inputs;         /* struct input */
    struct list requeued;       /* struct task, run first */
    uint64_t queued_tasks;      /* tasks not dispatched (inputs + requeued) */
    uint32_t running;           /* tasks in flight */
    struct list rr_link;        /* in pool->rr while queued_tasks > 0 */

    struct list ready;          /* struct task with results */
    size_t n_ready, ready_bytes;

    struct list sess_link;      /* session->jobs_list */
    /* session->async_ready while async and it has results or is complete:
     * a Collect for all async jobs walks only these. */
    struct list ready_link;
    struct list deadline_link;  /* global list of jobs with a deadline */
};

/* Creates a job on pool for session s (not yet in the session's map: the
 * caller adds it). library/symbol are copied. NULL on ENOMEM. */
struct job *sched_job_new(struct session *s, struct pool *p, uint64_t id,
                          const char *library, const char *symbol,
                          uint32_t chunksize, bool star, bool async);

/* Appends n items (it may be NULL when n == 0) to the job's input; takes a
 * reference to it. If the job cannot run any more (expired, broken or
 * terminated pool, or a spawn-failing pool with no worker left; see
 * pool.h) the items fail at once. Dispatches. 0 or -1 (ENOMEM). */
int sched_job_feed(struct job *j, wire_items *it, size_t n);

/* Sets the job deadline (absolute ms). */
void sched_job_set_deadline(struct job *j, uint64_t deadline);

/* True when no more input will come and every item has a result. */
bool sched_job_complete(const struct job *j);

/* Forgets a job: queued tasks dropped, results dropped, removed from its
 * session; running tasks' results will be discarded. */
void sched_job_cancel(struct job *j);

/* Frees a complete, fully delivered job (removes it from its session). */
void sched_job_release(struct job *j);

/* Fails every queued (undispatched) item of j with e. */
void sched_job_fail_queued(struct job *j, const struct wire_error *e);

/* Gives idle workers of pool p work. */
void sched_dispatch(struct pool *p);
/* Gives worker w work if it wants some. */
void sched_dispatch_worker(struct worker *w);

/* How many tasks to hand worker w now (0: none). Exposed for tests. */
uint32_t sched_batch_size(const struct pool *p, const struct worker *w);
/* Takes the next task of pool p round-robin; NULL when none. The task is
 * counted as running. Exposed for tests. */
struct task *sched_take_task(struct pool *p);
/* The same, among the jobs worker w can run (worker_runs). */
struct task *sched_take_task_for(struct pool *p, const struct worker *w);

/* A task came back with result bytes rbuf[off..off+len) (rbuf is consumed).
 * The task leaves the worker (the caller unlinked it). */
void sched_task_done(struct task *t, uint8_t *rbuf, size_t off, size_t len);
/* A task failed as a whole with e; out/err are salvaged output (borrowed). */
void sched_task_fail(struct task *t, const struct wire_error *e, const void *out,
                     size_t out_len, const void *err, size_t err_len);
/* A task goes back to the front of its job's queue. Call in reverse order
 * for several tasks so they keep their order. */
void sched_task_requeue(struct task *t);
/* Frees a delivered result holder. */
void sched_task_free(struct task *t);

/* Deadlines: fails expired jobs; returns the next deadline or UINT64_MAX. */
uint64_t sched_tick(uint64_t now);

uint64_t sched_next_task_id(void);

/* Records that one task took `us` microseconds on a worker of p. */
void sched_note_task_time(struct pool *p, uint64_t us);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t sched_now_us(void);

/* A batch holds at most about this much measured work. */
#define SCHED_BATCH_US 20000

/* Largest ready bytes a `wait` Submit holds before replying early. */
#define SCHED_WAIT_MAX_BYTES ((size_t)16 << 20)
/* Most items in one daemon-made error batch. */
#define SCHED_ERROR_BATCH_MAX 1024

#endif
