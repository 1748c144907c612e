/* sync_core.h - process-shared synchronisation primitives on raw memory.
 *
 * Every primitive is one 64-byte slot (struct pps) in a shared memory
 * segment; a Condition or a Barrier also names a lock slot. The same code
 * runs in clients (operating on their own mapping: no round trip), in
 * workers, and in the daemon (serving the RPC operations of clients that
 * cannot map memory, and reclaiming the locks of processes that died).
 *
 * Locks record the holder's pid in their futex word (bit 31: a thread may
 * be sleeping on it), so a lock may be released by a process other than
 * the one that took it, as multiprocessing's Lock allows, and a waiter can
 * tell that the holder died: a holder found dead (the daemon notices when
 * a client's session or a worker ends; a waiter checks /proc every
 * PPS_LIVENESS_MS) is replaced by PPS_DEAD, and the next acquirer takes
 * the lock with PP_EOWNERDEAD. pids are those of the daemon's pid
 * namespace: every process using one segment must share it.
 *
 * Status codes are pp_status values. Timeouts are in milliseconds:
 * negative waits forever, 0 does not wait.
 */
#ifndef PP_SYNC_CORE_H
#define PP_SYNC_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PPS_SLOT 64
#define PPS_MAGIC 0x70707331u          /* "pps1" */
#define PPS_WAITERS 0x80000000u
#define PPS_PIDMASK 0x3fffffffu
#define PPS_DEAD 0x3fffffffu           /* pid field of a lock whose holder died */
#define PPS_SEM_MAX 0x7fffffffu
#define PPS_LIVENESS_MS 200

enum pps_kind {
    PPS_LOCK = 1,
    PPS_RLOCK = 2,
    PPS_SEM = 3,
    PPS_BSEM = 4,
    PPS_EVENT = 5,
    PPS_COND = 6,
    PPS_BARRIER = 7,
};

/* The kind of a HandleType's primitive (polypool.proto; pp_handle_type):
 * HANDLE_LOCK .. HANDLE_BARRIER; 0 for any other type. */
enum pps_kind pps_kind_of(uint32_t handle_type);

/* One slot. The meaning of a, b, c, d depends on the kind:
 *   LOCK, RLOCK  a: holder pid | PPS_WAITERS (0: free)  b: holder thread id
 *                c: recursion depth (RLOCK)
 *   SEM, BSEM    a: value  b: sleepers  c: the maximum (BSEM)
 *   EVENT        a: 0 or 1  b: sleepers
 *   COND         a: sequence (futex)  b: waiters  c: wake permits
 *   BARRIER      a: generation (futex)  b: parties  c: count  d: state
 * A COND or BARRIER is used with a LOCK or RLOCK slot that guards b-d. */
struct pps {
    _Atomic uint32_t a, b, c, d;
    uint32_t kind, magic;
    uint32_t reserved[10];
};

_Static_assert(sizeof(struct pps) == PPS_SLOT, "a sync slot is 64 bytes");

/* How to wait: an absolute CLOCK_MONOTONIC deadline in ms (negative: none)
 * and an optional interruption check, called at least every 100 ms while
 * blocked: nonzero aborts the wait with PP_ECANCELED. */
struct pps_wait {
    int64_t deadline;
    int (*interrupted)(void *arg);
    void *arg;
};

/* A wait of timeout_ms from now (negative: forever). */
struct pps_wait pps_wait_for(int64_t timeout_ms);
int64_t pps_now_ms(void);

/* The caller's pid and thread id, cached (fork-safe). */
uint32_t pps_pid(void);
uint32_t pps_tid(void);

/* Initialises a slot. value: SEM/BSEM initial value, EVENT 0/1, BARRIER
 * parties; max: BSEM maximum. */
void pps_init(struct pps *s, enum pps_kind kind, uint32_t value, uint32_t max);
/* Whether the slot holds an initialised primitive of that kind. */
bool pps_check(const struct pps *s, enum pps_kind kind);

/* LOCK and RLOCK. Acquire returns PP_OK, PP_EOWNERDEAD (acquired; the
 * previous holder died holding it), PP_ETIMEDOUT (also for a try that
 * failed), PP_ECANCELED (interrupted). An RLOCK taken again by its holding
 * thread counts up. */
int pps_lock_acquire(struct pps *s, uint32_t pid, uint32_t tid, const struct pps_wait *w);
/* PP_ESTATE if the lock is not held (a LOCK may be released by anyone);
 * PP_EPERM if an RLOCK is held by another thread. */
int pps_lock_release(struct pps *s, uint32_t pid, uint32_t tid);
/* Whether thread (pid, tid) holds the lock. */
bool pps_lock_is_mine(const struct pps *s, uint32_t pid, uint32_t tid);
/* The holder's pid (0: free) and, for an RLOCK, the depth. */
uint32_t pps_lock_holder(const struct pps *s);
uint32_t pps_lock_depth(const struct pps *s);
/* If the lock is held by dead_pid, marks it as whose holder died and wakes
 * its waiters. Returns whether it did. */
bool pps_lock_reclaim(struct pps *s, uint32_t dead_pid);

/* SEM and BSEM. Release: PP_ESTATE when a BSEM is at its maximum. */
int pps_sem_acquire(struct pps *s, const struct pps_wait *w);
int pps_sem_release(struct pps *s);
uint32_t pps_sem_value(const struct pps *s);

/* EVENT. Wait: PP_OK once set, PP_ETIMEDOUT, PP_ECANCELED. */
void pps_event_set(struct pps *s);
void pps_event_clear(struct pps *s);
bool pps_event_is_set(const struct pps *s);
int pps_event_wait(struct pps *s, const struct pps_wait *w);

/* COND with its lock. Both need the lock held by the caller (PP_ESTATE
 * otherwise). Wait returns PP_OK when notified, PP_ETIMEDOUT or
 * PP_ECANCELED, always with the lock held again (at its former depth). */
int pps_cond_wait(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                  const struct pps_wait *w);
int pps_cond_notify(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid, uint32_t n);

/* BARRIER with its lock (threading.Barrier's algorithm). Wait returns
 * PP_OK with *index (0 .. parties-1, in order of arrival; the last arrival
 * runs action, if any, before the others are released), PP_ETIMEDOUT (this
 * waiter's timeout broke the barrier), PP_ESTATE (the barrier is or
 * became broken), PP_ETASK (action returned nonzero: the barrier is
 * broken) or PP_ECANCELED (interrupted: the barrier is broken). */
int pps_barrier_wait(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                     const struct pps_wait *w, int (*action)(void *arg), void *arg,
                     uint32_t *index);
/* Both take the barrier's lock within w (NULL: forever): PP_OK or
 * PP_ETIMEDOUT / PP_ECANCELED without a change. */
int pps_barrier_reset(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                      const struct pps_wait *w);
int pps_barrier_abort(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                      const struct pps_wait *w);
uint32_t pps_barrier_parties(const struct pps *b);
uint32_t pps_barrier_n_waiting(const struct pps *b);
bool pps_barrier_broken(const struct pps *b);

/* Non-blocking forms of the waits, for a waiter that cannot sleep (the
 * daemon serving SyncOp): begin once, then step whenever something may
 * have changed, until a step returns anything but PP_EAGAIN. timed_out
 * says the deadline passed. A step may need to take the lock again: it
 * keeps returning PP_EAGAIN (even past the deadline) until it has it. */
struct pps_waiter {
    int phase;
    uint32_t seq, depth, index;
    int status;
};
int pps_cond_wait_begin(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                        struct pps_waiter *w);
int pps_cond_wait_step(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                       struct pps_waiter *w, bool timed_out);
/* Barrier: *index is w->index on PP_OK. No action. */
void pps_barrier_wait_begin(struct pps_waiter *w);
int pps_barrier_wait_step(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                          struct pps_waiter *w, bool timed_out);

/* For other shared structures (ring.c): sleeps while *addr == val, one
 * slice at most (0 to look again, PP_ETIMEDOUT, PP_ECANCELED), and wakes
 * up to n sleepers. */
int pps_block(_Atomic uint32_t *addr, uint32_t val, const struct pps_wait *w);
void pps_wake(_Atomic uint32_t *addr, int n);

/* Whether process pid exists and is not a zombie. */
bool pps_pid_alive(uint32_t pid);

#endif
