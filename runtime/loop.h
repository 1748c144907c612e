/* loop.h - the daemon lock and the loop thread.
 *
 * One big mutex (daemon_lock) guards every daemon object: sessions, pools,
 * jobs, tasks and workers. nng callbacks take it briefly; the loop thread
 * takes it for each batch of events. Nothing blocks while holding it
 * except short syscalls (posix_spawn, pread of a dead worker's output).
 *
 * The loop thread runs epoll over registered sources (worker sockets and
 * pidfds), a signalfd, an eventfd for wakeups from other threads and the
 * earliest deadline. Callbacks and hooks run with the lock held.
 */
#ifndef PP_LOOP_H
#define PP_LOOP_H

#include <stdint.h>

void daemon_lock(void);
void daemon_unlock(void);

struct loop_src {
    int fd;
    /* Called on the loop thread with the lock held. */
    void (*cb)(struct loop_src *src, uint32_t events);
};

struct loop_hooks {
    /* After an eventfd wakeup. */
    void (*wake)(void);
    /* A deadline passed: handle what is due at `now`; return the next
     * deadline (UINT64_MAX: none). */
    uint64_t (*tick)(uint64_t now);
    /* After each batch of events. */
    void (*idle)(void);
    /* A blocked signal (SIGTERM, SIGINT, SIGHUP) arrived. */
    void (*signal)(int sig);
};

/* Blocks SIGTERM, SIGINT, SIGHUP in the calling thread (call before any
 * other thread starts) and ignores SIGPIPE. */
int loop_block_signals(void);
/* Creates the epoll set, eventfd and signalfd. 0 or -1 (errno). */
int loop_init(const struct loop_hooks *hooks);
void loop_fini(void);

int loop_add(struct loop_src *s, uint32_t events);
int loop_mod(struct loop_src *s, uint32_t events);
void loop_del(struct loop_src *s);

/* From any thread: makes the loop run its wake hook soon. */
void loop_wake(void);
/* Under the lock: the tick hook must run at or before t (ms, now_ms()). */
void loop_deadline(uint64_t t);

/* Runs until loop_stop(); takes the lock itself. */
void loop_run(void);
/* Under the lock (or from a hook): loop_run returns after this batch. */
void loop_stop(void);

#endif
