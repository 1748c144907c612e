/* sync_core.c - process-shared primitives on futexes (see sync_core.h).
 *
 * Sleeping is always on a futex word with FUTEX_WAIT (not the private
 * variant: the word is in memory shared between processes), in slices of at
 * most 100 ms so that the caller's interruption check (Ctrl-C in Python)
 * runs and so that a lock waiter can notice that the holder died.
 */
#include "sync_core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "polypool.h"

#define SLICE_MS 100

#define relaxed memory_order_relaxed
#define acquire_mo memory_order_acquire
#define release_mo memory_order_release

/* ---- process identity ------------------------------------------------ */

static _Atomic uint32_t cached_pid;
static _Thread_local uint32_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
    atomic_store_explicit(&cached_pid, 0, relaxed);
    cached_tid = 0;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

uint32_t pps_pid(void)
{
    uint32_t p = atomic_load_explicit(&cached_pid, relaxed);
    if (__builtin_expect(p == 0, 0)) {
        pthread_once(&atfork_once, register_atfork);
        p = (uint32_t)getpid();
        atomic_store_explicit(&cached_pid, p, relaxed);
    }
    return p;
}

uint32_t pps_tid(void)
{
    if (__builtin_expect(cached_tid == 0, 0)) {
        pthread_once(&atfork_once, register_atfork);
        cached_tid = (uint32_t)syscall(SYS_gettid);
    }
    return cached_tid;
}

bool pps_pid_alive(uint32_t pid)
{
    if (pid == 0 || pid > PPS_PIDMASK || pid == PPS_DEAD)
        return false;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    /* A zombie holds nothing: its parent has not reaped it yet. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    if (!rp || rp[1] != ' ')
        return true;
    return rp[2] != 'Z' && rp[2] != 'X';
}

/* ---- time and futexes ------------------------------------------------- */

int64_t pps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct pps_wait pps_wait_for(int64_t timeout_ms)
{
    struct pps_wait w = { .deadline = -1 };
    if (timeout_ms >= 0)
        w.deadline = pps_now_ms() + timeout_ms;
    return w;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

static bool expired(const struct pps_wait *w)
{
    return w->deadline >= 0 && pps_now_ms() >= w->deadline;
}

/* Sleeps while *addr == val, for one slice at most. 0 to look again,
 * PP_ETIMEDOUT when the deadline has passed (checked first), PP_ECANCELED
 * when interrupted. */
static int block(_Atomic uint32_t *addr, uint32_t val, const struct pps_wait *w)
{
    int64_t slice = SLICE_MS;
    if (w->deadline >= 0) {
        int64_t left = w->deadline - pps_now_ms();
        if (left <= 0)
            return PP_ETIMEDOUT;
        if (left < slice)
            slice = left;
    }
    futex_wait(addr, val, slice);
    if (w->interrupted && w->interrupted(w->arg))
        return PP_ECANCELED;
    return 0;
}

static const struct pps_wait forever = { .deadline = -1 };

int pps_block(_Atomic uint32_t *addr, uint32_t val, const struct pps_wait *w)
{
    return block(addr, val, w ? w : &forever);
}

void pps_wake(_Atomic uint32_t *addr, int n)
{
    futex_wake(addr, n);
}

/* ---- slots -------------------------------------------------------------- */

enum pps_kind pps_kind_of(uint32_t handle_type)
{
    switch (handle_type) {
    case 2: return PPS_LOCK;
    case 3: return PPS_RLOCK;
    case 4: return PPS_SEM;
    case 5: return PPS_BSEM;
    case 6: return PPS_EVENT;
    case 7: return PPS_COND;
    case 8: return PPS_BARRIER;
    default: return 0;
    }
}

void pps_init(struct pps *s, enum pps_kind kind, uint32_t value, uint32_t max)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    switch (kind) {
    case PPS_SEM:
        atomic_init(&s->a, value);
        atomic_init(&s->c, PPS_SEM_MAX);
        break;
    case PPS_BSEM:
        atomic_init(&s->a, value);
        atomic_init(&s->c, max);
        break;
    case PPS_EVENT:
        atomic_init(&s->a, value ? 1 : 0);
        break;
    case PPS_BARRIER:
        atomic_init(&s->b, value);
        break;
    default:
        break;
    }
    atomic_thread_fence(memory_order_release);
    s->magic = PPS_MAGIC;
}

bool pps_check(const struct pps *s, enum pps_kind kind)
{
    return s && s->magic == PPS_MAGIC && s->kind == (uint32_t)kind;
}

/* ---- locks ---------------------------------------------------------------- */

/* When a failed try (no wait) may next look whether the holder is alive:
 * at most every PPS_LIVENESS_MS per process, so that polling with
 * acquire(block=False) stays cheap but still gets a dead holder's lock. */
static _Atomic int64_t try_check_at;

static int lock_slow(struct pps *s, uint32_t pid, const struct pps_wait *w)
{
    int64_t next_check = pps_now_ms() + PPS_LIVENESS_MS;
    for (;;) {
        uint32_t v = atomic_load(&s->a);
        uint32_t holder = v & PPS_PIDMASK;
        if (holder == 0 || holder == PPS_DEAD) {
            /* Others may sleep on it: keep the waiters bit. */
            if (atomic_compare_exchange_weak(&s->a, &v, pid | PPS_WAITERS))
                return holder == PPS_DEAD ? PP_EOWNERDEAD : PP_OK;
            continue;
        }
        if (expired(w)) {
            int64_t now = pps_now_ms(), at = atomic_load_explicit(&try_check_at, relaxed);
            if (now >= at &&
                atomic_compare_exchange_strong(&try_check_at, &at, now + PPS_LIVENESS_MS) &&
                !pps_pid_alive(holder) && pps_lock_reclaim(s, holder))
                continue;
            return PP_ETIMEDOUT;
        }
        if (!(v & PPS_WAITERS)) {
            if (!atomic_compare_exchange_weak(&s->a, &v, v | PPS_WAITERS))
                continue;
            v |= PPS_WAITERS;
        }
        int64_t now = pps_now_ms();
        if (now >= next_check) {
            next_check = now + PPS_LIVENESS_MS;
            if (!pps_pid_alive(holder)) {
                pps_lock_reclaim(s, holder);
                continue;
            }
        }
        int r = block(&s->a, v, w);
        if (r)
            return r;
    }
}

int pps_lock_acquire(struct pps *s, uint32_t pid, uint32_t tid, const struct pps_wait *w)
{
    if (s->kind == PPS_RLOCK &&
        (atomic_load_explicit(&s->a, relaxed) & PPS_PIDMASK) == pid &&
        atomic_load_explicit(&s->b, relaxed) == tid) {
        atomic_fetch_add_explicit(&s->c, 1, relaxed);
        return PP_OK;
    }
    uint32_t zero = 0;
    int st = PP_OK;
    if (!atomic_compare_exchange_strong_explicit(&s->a, &zero, pid, acquire_mo, relaxed)) {
        st = lock_slow(s, pid, w ? w : &forever);
        if (st != PP_OK && st != PP_EOWNERDEAD)
            return st;
    }
    atomic_store_explicit(&s->b, tid, relaxed);
    if (s->kind == PPS_RLOCK)
        atomic_store_explicit(&s->c, 1, relaxed);
    return st;
}

int pps_lock_release(struct pps *s, uint32_t pid, uint32_t tid)
{
    uint32_t v = atomic_load_explicit(&s->a, relaxed);
    uint32_t holder = v & PPS_PIDMASK;
    if (holder == 0 || holder == PPS_DEAD)
        return PP_ESTATE;
    if (s->kind == PPS_RLOCK) {
        if (holder != pid || atomic_load_explicit(&s->b, relaxed) != tid)
            return PP_EPERM;
        if (atomic_fetch_sub_explicit(&s->c, 1, relaxed) > 1)
            return PP_OK;
    }
    atomic_store_explicit(&s->b, 0, relaxed);
    v = atomic_exchange_explicit(&s->a, 0, release_mo);
    if ((v & PPS_PIDMASK) == 0)
        return PP_ESTATE;   /* a concurrent release won */
    if (v & PPS_WAITERS)
        futex_wake(&s->a, 1);
    return PP_OK;
}

bool pps_lock_is_mine(const struct pps *s, uint32_t pid, uint32_t tid)
{
    return (atomic_load_explicit(&s->a, relaxed) & PPS_PIDMASK) == pid &&
           atomic_load_explicit(&s->b, relaxed) == tid;
}

uint32_t pps_lock_holder(const struct pps *s)
{
    uint32_t h = atomic_load_explicit(&s->a, relaxed) & PPS_PIDMASK;
    return h == PPS_DEAD ? 0 : h;
}

uint32_t pps_lock_depth(const struct pps *s)
{
    if (!pps_lock_holder(s))
        return 0;
    return s->kind == PPS_RLOCK ? atomic_load_explicit(&s->c, relaxed) : 1;
}

bool pps_lock_reclaim(struct pps *s, uint32_t dead_pid)
{
    /* 0 is a free lock, not a dead holder's. */
    if ((s->kind != PPS_LOCK && s->kind != PPS_RLOCK) || dead_pid == 0 || dead_pid == PPS_DEAD)
        return false;
    uint32_t v = atomic_load(&s->a);
    while ((v & PPS_PIDMASK) == dead_pid) {
        if (atomic_compare_exchange_weak(&s->a, &v, PPS_DEAD | PPS_WAITERS)) {
            futex_wake(&s->a, INT_MAX);
            return true;
        }
    }
    return false;
}

/* Releases a lock entirely (whatever an RLOCK's depth); returns the depth. */
static uint32_t lock_release_all(struct pps *lock, uint32_t pid, uint32_t tid)
{
    uint32_t depth = 1;
    if (lock->kind == PPS_RLOCK) {
        depth = atomic_load_explicit(&lock->c, relaxed);
        atomic_store_explicit(&lock->c, 1, relaxed);
    }
    pps_lock_release(lock, pid, tid);
    return depth;
}

static void lock_restore(struct pps *lock, uint32_t pid, uint32_t tid, uint32_t depth)
{
    pps_lock_acquire(lock, pid, tid, &forever);
    if (lock->kind == PPS_RLOCK)
        atomic_store_explicit(&lock->c, depth, relaxed);
}

/* ---- semaphores ------------------------------------------------------------ */

int pps_sem_acquire(struct pps *s, const struct pps_wait *w)
{
    if (!w)
        w = &forever;
    for (;;) {
        uint32_t v = atomic_load(&s->a);
        if (v > 0) {
            if (atomic_compare_exchange_weak(&s->a, &v, v - 1))
                return PP_OK;
            continue;
        }
        atomic_fetch_add(&s->b, 1);
        int r = block(&s->a, 0, w);
        atomic_fetch_sub(&s->b, 1);
        if (r)
            return r;
    }
}

int pps_sem_release(struct pps *s)
{
    uint32_t max = atomic_load_explicit(&s->c, relaxed);
    uint32_t v = atomic_load(&s->a);
    do {
        if (v >= max)
            return PP_ESTATE;
    } while (!atomic_compare_exchange_weak(&s->a, &v, v + 1));
    if (atomic_load(&s->b) > 0)
        futex_wake(&s->a, 1);
    return PP_OK;
}

uint32_t pps_sem_value(const struct pps *s)
{
    return atomic_load(&s->a);
}

/* ---- events ------------------------------------------------------------------ */

void pps_event_set(struct pps *s)
{
    atomic_store(&s->a, 1);
    if (atomic_load(&s->b) > 0)
        futex_wake(&s->a, INT_MAX);
}

void pps_event_clear(struct pps *s)
{
    atomic_store(&s->a, 0);
}

bool pps_event_is_set(const struct pps *s)
{
    return atomic_load(&s->a) != 0;
}

int pps_event_wait(struct pps *s, const struct pps_wait *w)
{
    if (!w)
        w = &forever;
    while (atomic_load(&s->a) == 0) {
        atomic_fetch_add(&s->b, 1);
        int r = block(&s->a, 0, w);
        atomic_fetch_sub(&s->b, 1);
        if (r)
            return r;
    }
    return PP_OK;
}

/* ---- conditions ---------------------------------------------------------------
 *
 * a is a sequence number notify bumps; b counts the waiters and c the wake
 * permits notify granted, both changed only with the lock held. A waiter
 * sleeps until the sequence moves, then takes the lock and consumes a
 * permit if there is one. */

int pps_cond_wait(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                  const struct pps_wait *w)
{
    if (!w)
        w = &forever;
    if (!pps_lock_is_mine(lock, pid, tid))
        return PP_ESTATE;
    atomic_fetch_add(&cond->b, 1);
    uint32_t seq = atomic_load(&cond->a);
    uint32_t depth = lock_release_all(lock, pid, tid);
    int st;
    for (;;) {
        int r = 0;
        while (atomic_load(&cond->a) == seq && (r = block(&cond->a, seq, w)) == 0)
            ;
        lock_restore(lock, pid, tid, depth);
        uint32_t permits = atomic_load(&cond->c);
        if (permits > 0) {
            atomic_store(&cond->c, permits - 1);
            st = PP_OK;
            break;
        }
        if (r) {
            st = r;
            break;
        }
        seq = atomic_load(&cond->a);
        lock_release_all(lock, pid, tid);
    }
    atomic_fetch_sub(&cond->b, 1);
    return st;
}

int pps_cond_notify(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid, uint32_t n)
{
    if (!pps_lock_is_mine(lock, pid, tid))
        return PP_ESTATE;
    uint32_t waiters = atomic_load(&cond->b), permits = atomic_load(&cond->c);
    uint32_t k = waiters > permits ? waiters - permits : 0;
    if (n < k)
        k = n;
    if (k == 0)
        return PP_OK;
    atomic_store(&cond->c, permits + k);
    atomic_fetch_add(&cond->a, 1);
    futex_wake(&cond->a, INT_MAX);
    return PP_OK;
}

/* ---- barriers --------------------------------------------------------------------
 *
 * threading.Barrier over the barrier's lock, with `a` as the sequence of a
 * notify-all-only condition. d is the state: 0 filling, 1 draining,
 * -1 resetting, -2 broken. */

enum { B_FILLING = 0, B_DRAINING = 1, B_RESETTING = -1, B_BROKEN = -2 };

static int32_t bstate(const struct pps *b)
{
    return (int32_t)atomic_load(&b->d);
}

static void bset(struct pps *b, int32_t st)
{
    atomic_store(&b->d, (uint32_t)st);
    atomic_fetch_add(&b->a, 1);
    futex_wake(&b->a, INT_MAX);
}

/* Waits for a notify-all with the lock held; returns with it held. */
static int bwait(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                 const struct pps_wait *w)
{
    uint32_t seq = atomic_load(&b->a);
    uint32_t depth = lock_release_all(lock, pid, tid);
    int r = 0;
    while (atomic_load(&b->a) == seq && (r = block(&b->a, seq, w)) == 0)
        ;
    lock_restore(lock, pid, tid, depth);
    return r;
}

int pps_barrier_wait(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                     const struct pps_wait *w, int (*action)(void *arg), void *arg,
                     uint32_t *index)
{
    if (!w)
        w = &forever;
    struct pps_wait untimed = { .deadline = -1, .interrupted = w->interrupted, .arg = w->arg };
    int r = pps_lock_acquire(lock, pid, tid, &untimed);
    if (r != PP_OK && r != PP_EOWNERDEAD)
        return r;
    while (bstate(b) == B_DRAINING || bstate(b) == B_RESETTING) {
        if ((r = bwait(b, lock, pid, tid, &untimed)) != 0) {
            pps_lock_release(lock, pid, tid);
            return r;
        }
    }
    if (bstate(b) < 0) {
        pps_lock_release(lock, pid, tid);
        return PP_ESTATE;
    }
    uint32_t idx = atomic_fetch_add(&b->c, 1);
    int st = PP_OK;
    if (idx + 1 >= atomic_load(&b->b)) {
        if (action && action(arg) != 0) {
            bset(b, B_BROKEN);
            st = PP_ETASK;
        } else {
            bset(b, B_DRAINING);
        }
    } else {
        r = 0;
        while (bstate(b) == B_FILLING && (r = bwait(b, lock, pid, tid, w)) == 0)
            ;
        if (bstate(b) == B_FILLING) {
            bset(b, B_BROKEN);
            st = r;
        } else if (bstate(b) < 0) {
            st = PP_ESTATE;
        }
    }
    if (atomic_fetch_sub(&b->c, 1) == 1 &&
        (bstate(b) == B_RESETTING || bstate(b) == B_DRAINING))
        bset(b, B_FILLING);
    pps_lock_release(lock, pid, tid);
    if (index)
        *index = idx;
    return st;
}

int pps_barrier_reset(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                      const struct pps_wait *w)
{
    int r = pps_lock_acquire(lock, pid, tid, w ? w : &forever);
    if (r != PP_OK && r != PP_EOWNERDEAD)
        return r;
    if (atomic_load(&b->c) > 0) {
        if (bstate(b) == B_FILLING || bstate(b) == B_BROKEN)
            bset(b, B_RESETTING);
        else
            bset(b, bstate(b));
    } else {
        bset(b, B_FILLING);
    }
    pps_lock_release(lock, pid, tid);
    return PP_OK;
}

int pps_barrier_abort(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                      const struct pps_wait *w)
{
    int r = pps_lock_acquire(lock, pid, tid, w ? w : &forever);
    if (r != PP_OK && r != PP_EOWNERDEAD)
        return r;
    bset(b, B_BROKEN);
    pps_lock_release(lock, pid, tid);
    return PP_OK;
}

uint32_t pps_barrier_parties(const struct pps *b)
{
    return atomic_load(&b->b);
}

uint32_t pps_barrier_n_waiting(const struct pps *b)
{
    return bstate(b) == B_FILLING ? atomic_load(&b->c) : 0;
}

bool pps_barrier_broken(const struct pps *b)
{
    return bstate(b) == B_BROKEN;
}

/* ---- non-blocking waits ------------------------------------------------------------ */

static bool try_lock(struct pps *lock, uint32_t pid, uint32_t tid)
{
    struct pps_wait now = { .deadline = 0 };
    int r = pps_lock_acquire(lock, pid, tid, &now);
    /* Read the holder once: it may have changed since the attempt. */
    uint32_t holder = pps_lock_holder(lock);
    if (r == PP_ETIMEDOUT && holder && !pps_pid_alive(holder) && pps_lock_reclaim(lock, holder))
        r = pps_lock_acquire(lock, pid, tid, &now);
    return r == PP_OK || r == PP_EOWNERDEAD;
}

enum { W_SLEEP = 1, W_RELOCK = 2 };

int pps_cond_wait_begin(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                        struct pps_waiter *w)
{
    if (!pps_lock_is_mine(lock, pid, tid))
        return PP_ESTATE;
    atomic_fetch_add(&cond->b, 1);
    w->seq = atomic_load(&cond->a);
    w->depth = lock_release_all(lock, pid, tid);
    w->phase = W_SLEEP;
    w->status = 0;
    return PP_OK;
}

int pps_cond_wait_step(struct pps *cond, struct pps *lock, uint32_t pid, uint32_t tid,
                       struct pps_waiter *w, bool timed_out)
{
    for (;;) {
        if (w->phase == W_SLEEP) {
            if (atomic_load(&cond->a) == w->seq && !timed_out)
                return PP_EAGAIN;
            w->status = atomic_load(&cond->a) == w->seq ? PP_ETIMEDOUT : 0;
            w->phase = W_RELOCK;
        }
        if (!try_lock(lock, pid, tid))
            return PP_EAGAIN;
        if (lock->kind == PPS_RLOCK)
            atomic_store_explicit(&lock->c, w->depth, relaxed);
        uint32_t permits = atomic_load(&cond->c);
        if (permits > 0 || w->status || timed_out) {
            int st = permits > 0 ? PP_OK : PP_ETIMEDOUT;
            if (permits > 0)
                atomic_store(&cond->c, permits - 1);
            atomic_fetch_sub(&cond->b, 1);
            return st;
        }
        w->seq = atomic_load(&cond->a);
        lock_release_all(lock, pid, tid);
        w->phase = W_SLEEP;
    }
}

/* Barrier phases: take the lock to enter; wait out a draining/resetting
 * barrier; wait for the others; take the lock to leave. */
enum { B_ENTER = 1, B_ENTER_SLEEP, B_ENTER_RELOCK, B_WAIT_SLEEP, B_WAIT_RELOCK };

void pps_barrier_wait_begin(struct pps_waiter *w)
{
    memset(w, 0, sizeof *w);
    w->phase = B_ENTER;
}

static int barrier_leave(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                         struct pps_waiter *w)
{
    if (atomic_fetch_sub(&b->c, 1) == 1 &&
        (bstate(b) == B_RESETTING || bstate(b) == B_DRAINING))
        bset(b, B_FILLING);
    pps_lock_release(lock, pid, tid);
    return w->status;
}

int pps_barrier_wait_step(struct pps *b, struct pps *lock, uint32_t pid, uint32_t tid,
                          struct pps_waiter *w, bool timed_out)
{
    for (;;) {
        switch (w->phase) {
        case B_ENTER:
        case B_ENTER_RELOCK:
            if (!try_lock(lock, pid, tid))
                return PP_EAGAIN;
            if (bstate(b) == B_DRAINING || bstate(b) == B_RESETTING) {
                w->seq = atomic_load(&b->a);
                pps_lock_release(lock, pid, tid);
                w->phase = B_ENTER_SLEEP;
                continue;
            }
            if (bstate(b) < 0) {
                pps_lock_release(lock, pid, tid);
                return PP_ESTATE;
            }
            w->index = atomic_fetch_add(&b->c, 1);
            w->status = PP_OK;
            if (w->index + 1 >= atomic_load(&b->b)) {
                bset(b, B_DRAINING);
                return barrier_leave(b, lock, pid, tid, w);
            }
            w->seq = atomic_load(&b->a);
            pps_lock_release(lock, pid, tid);
            w->phase = B_WAIT_SLEEP;
            continue;
        case B_ENTER_SLEEP:
            if (atomic_load(&b->a) == w->seq)
                return PP_EAGAIN;
            w->phase = B_ENTER_RELOCK;
            continue;
        case B_WAIT_SLEEP:
            if (atomic_load(&b->a) == w->seq && !timed_out)
                return PP_EAGAIN;
            w->phase = B_WAIT_RELOCK;
            continue;
        case B_WAIT_RELOCK:
            if (!try_lock(lock, pid, tid))
                return PP_EAGAIN;
            if (bstate(b) == B_FILLING) {
                if (!timed_out) {
                    w->seq = atomic_load(&b->a);
                    pps_lock_release(lock, pid, tid);
                    w->phase = B_WAIT_SLEEP;
                    continue;
                }
                bset(b, B_BROKEN);
                w->status = PP_ETIMEDOUT;
            } else if (bstate(b) < 0) {
                w->status = PP_ESTATE;
            }
            return barrier_leave(b, lock, pid, tid, w);
        default:
            return PP_EINVAL;
        }
    }
}
