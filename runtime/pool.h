/* pool.h - pools of workers.
 *
 * Pool 1 is the default pool ("default", never destroyed). Private pools
 * belong to one session; named pools are shared by the sessions attached
 * to them and destroyed once none is attached and their work has drained.
 * A pool's size is its number of workers (concurrent tasks); every worker
 * is spawned when the pool is made, and replaced when it exits while the
 * pool still runs. A pool whose initializer fails is "broken" for good:
 * its items fail with the recorded status.
 *
 * A worker that cannot be spawned (posix_spawn fails, say EAGAIN at a
 * process limit), or a third consecutive worker death before ready, does
 * not break the pool: it becomes "spawn-failing" (spawn_error set, state
 * still running) and spawning is retried after a backoff, 100 ms doubling
 * up to 10 s (pool_tick). While it is spawn-failing and no worker of it is
 * left, its queued items and every item fed to it fail at once with
 * ENOSPAWN and spawn_error, so nothing waits for a retry; workers still
 * alive keep running the queue. The first worker of the pool that becomes
 * ready (pool_worker_ready) clears spawn_error and resets the backoff.
 *
 * A pool stays allocated until its last worker is reaped; `gone` pools are
 * out of the id map already.
 *
 * Locking: everything under the daemon lock. Spawning happens on the loop
 * thread (pool_fill is requested from other threads with pool_want_fill).
 */
#ifndef PP_POOL_H
#define PP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct pyenv;
struct session;

enum pool_kind { POOL_DEFAULT, POOL_PRIVATE, POOL_NAMED };
enum pool_state { POOL_RUNNING, POOL_CLOSED, POOL_TERMINATED, POOL_BROKEN };

struct pool {
    uint64_t id;
    char *name;                    /* "" for private pools */
    enum pool_kind kind;
    enum pool_state state;
    uint32_t size, maxtasks;
    char *init_lib, *init_sym;     /* NULL: no initializer; a Python one when init_env */
    /* Python: workers started ahead of tasks are worker hosts of `env`
     * (NULL: C workers). A Python initializer must run in every worker, so
     * with init_env set every worker is a host of it and env == init_env. */
    struct pyenv *env, *init_env;
    uint8_t *initargs;             /* packed Values, or NULL */
    size_t initargs_len;
    struct session *owner;         /* private pools */
    struct list owner_link;
    uint64_t *sessions;            /* attached session ids (shared pools) */
    size_t n_sessions, cap_sessions;

    struct list workers;           /* struct worker by pool_link */
    uint32_t n_workers;            /* not yet reaped */
    uint32_t startup_failures;     /* consecutive deaths before ready */
    char spawn_error[512];         /* "" unless spawn-failing: why workers do not start */
    uint32_t respawn_ms;           /* last backoff (0: none since a worker was ready) */
    uint64_t respawn_at;           /* when to retry spawning (ms); 0: not waiting */
    struct list rr;                /* jobs with queued tasks (job->rr_link) */
    uint64_t tasks_queued, tasks_running, tasks_done;
    uint64_t task_us_avg;          /* moving average of a task's run time */
    uint64_t task_samples;         /* 0: no task timed yet */

    int broken_status;             /* wire status when POOL_BROKEN */
    char *broken_msg;
    bool gone;                     /* out of the id map; freed when reaped */
    bool owner_closed;             /* private: its owner closed or terminated it */
    bool spare;                    /* the hidden pool of its owner's spare workers */
    bool fill_wanted;
    struct list fill_link;
    struct list link;              /* all pools */
};

struct pool_config {
    const char *worker_path;
    uint32_t default_size;
    uint32_t cpu_count;
};

/* Sets the worker binary and sizes; creates the default pool (id 1). */
int pool_init(const struct pool_config *cfg);
/* Frees everything (after workers are gone). */
void pool_fini(void);
const struct pool_config *pool_config(void);

/* New pool; name copied ("" for private). initargs (packed) is copied.
 * Workers are spawned by the loop thread soon after. NULL on ENOMEM. */
struct pool *pool_new(enum pool_kind kind, const char *name, uint32_t size,
                      uint32_t maxtasks, const char *init_lib, const char *init_sym,
                      const void *initargs, size_t initargs_len, struct session *owner);
struct pool *pool_by_id(uint64_t id);
struct pool *pool_by_name(const char *name);
struct pool *pool_default(void);
struct list *pool_all(void);

int pool_attach(struct pool *p, struct session *s);
/* Detaches s; a named pool with no sessions left closes (and is destroyed
 * once drained). */
void pool_detach(struct pool *p, struct session *s);

/* Sets the environment of the workers p starts ahead of tasks (see struct
 * pool); `initializer`: the pool's initializer is a Python function of env.
 * Call right after pool_new. */
void pool_set_env(struct pool *p, struct pyenv *env, bool initializer);

/* Whether a live worker of p can run jobs of env (NULL: C). */
bool pool_can_run(const struct pool *p, const struct pyenv *env);

/* Which kind of worker p should start next: the environment of queued
 * Python work no worker of p can run, else p->env (NULL: a C worker). */
struct pyenv *pool_wanted_env(const struct pool *p);

/* Spare workers. When a private pool of Python worker hosts ends (closed
 * and drained, or terminated), its idle hosts are not stopped: they move
 * to a hidden pool of the owning session (pool->spare, session->spares),
 * at most POOL_SPARES_MAX of them, for POOL_SPARE_MS at most. A later
 * private pool of the same session and environment, without initializer
 * or maxtasksperchild, adopts them instead of starting new interpreters:
 * Pool() in a loop costs no process start after the first. Spares never
 * cross sessions, so a worker never runs code from a program other than
 * the one that started it; they die with their session. */
#define POOL_SPARES_MAX 64
#define POOL_SPARE_MS 30000

/* Moves the idle Python hosts of p that can serve again to its owner's
 * spare pool (private pools only; a no-op otherwise). */
void pool_park_spares(struct pool *p);

/* Stops accepting jobs; workers exit once the queued work is done. */
void pool_close(struct pool *p);
/* Private pools: kills the workers; unfinished items fail ECLOSED. */
void pool_terminate(struct pool *p);
/* Marks p broken: queued items fail now with status/msg, later ones too.
 * Does not free p: call pool_check(p) afterwards, last. */
void pool_break(struct pool *p, int status, const char *msg);
/* Frees a finished private pool (no workers left). */
void pool_free(struct pool *p);

/* True when p has no queued or running tasks. */
bool pool_drained(const struct pool *p);
/* Re-checks a stopped pool: drained -> workers told to exit; no workers ->
 * freed (named pools nobody uses, private pools). p may be freed: do not
 * touch it afterwards. */
void pool_check(struct pool *p);

/* Asks the loop thread to spawn missing workers of p. */
void pool_want_fill(struct pool *p);
/* Loop thread: spawns missing workers of pools that asked. */
void pool_fill_pending(void);

/* Daemon shutdown: no more workers are spawned. */
void pool_shutdown(void);

/* A worker of p was reaped; `ready` says whether it had finished init. */
void pool_worker_gone(struct pool *p, bool ready, const char *why);
/* A worker of p finished its init: spawning works (clears spawn-failing). */
void pool_worker_ready(struct pool *p);
/* Loop tick: pools whose respawn backoff has passed ask to be filled.
 * Returns the next respawn time or UINT64_MAX. */
uint64_t pool_tick(uint64_t now);

/* Spawn retry backoff (ms): first delay, and the cap of its doubling. */
#define POOL_RESPAWN_MIN_MS 100
#define POOL_RESPAWN_MAX_MS 10000

const char *pool_kind_name(enum pool_kind k);
const char *pool_state_name(enum pool_state s);

#endif
