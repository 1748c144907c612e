/* shm.h - shared memory segments and the primitives in them.
 *
 * The daemon creates every segment (shm_open under /dev/shm, named
 * "/polypool.<uid>.<daemon pid>.<id>"), maps it itself, and counts
 * references per session: ShmCreate and ShmAttach take one, ShmRelease
 * drops one, and a session's end drops all of its. The segment is unlinked
 * and unmapped when the last reference goes, so a client killed with
 * SIGKILL leaks nothing; segments a killed daemon left behind are removed
 * by the next daemon (shm_sweep).
 *
 * The daemon records where the locks of each segment are (SyncInit), so
 * that when a process dies (a session ends, a worker exits) every lock it
 * held is handed over (pps_lock_reclaim): the next acquirer gets
 * PP_EOWNERDEAD instead of a deadlock.
 *
 * Locking: everything under the daemon lock.
 */
#ifndef PP_SHM_H
#define PP_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct session;
struct pps;

struct segment {
    uint64_t id;
    char name[64];            /* for shm_open */
    char *label;              /* the name it can be attached by, or NULL */
    size_t size;
    void *base;               /* the daemon's mapping */
    uint64_t refs;            /* over every session */
    uint64_t *locks;          /* offsets of its LOCK and RLOCK slots */
    size_t n_locks;
    struct shm_closer *closers;   /* run when it goes */
    size_t n_closers;
    struct list link;
};

struct shm_sync_init {
    uint32_t type;            /* a HandleType: HANDLE_LOCK .. HANDLE_BARRIER, HANDLE_QUEUE */
    uint64_t offset;
    uint32_t value, max;
    uint64_t capacity;        /* HANDLE_QUEUE: a ring's data bytes */
};

/* What to tell a ring when a segment goes (ShmCreate.closers). */
struct shm_closer {
    uint64_t target, offset;
    uint32_t flags;
};

/* The largest segment ShmCreate accepts. */
#define SHM_MAX_SIZE ((uint64_t)1 << 40)
#define SHM_LABEL_MAX 200

/* Removes segments left by daemons of this user that are no longer
 * running. Call once at startup. */
void shm_sweep(void);
/* Unlinks and unmaps every segment (daemon shutdown). */
void shm_fini(void);

/* Creates a segment with one reference for s. Returns a wire status; on
 * failure *why says what was wrong. */
int shm_create(struct session *s, uint64_t size, const char *label,
               const struct shm_sync_init *syncs, size_t n_syncs,
               const struct shm_closer *closers, size_t n_closers,
               struct segment **out, const char **why);
/* Takes a reference for s on the segment with that id, or that label. */
int shm_attach(struct session *s, uint64_t id, const char *label, struct segment **out);
/* Drops n of s's references (ENOENT if s holds none). */
int shm_release(struct session *s, uint64_t id, uint32_t n);
/* Removes a label. */
int shm_unlink_label(const char *label);
/* The segment with that id if s holds a reference on it, else NULL. */
struct segment *shm_held(const struct session *s, uint64_t id);
/* The primitive at offset in seg, or NULL if none is there. */
struct pps *shm_slot(struct segment *seg, uint64_t offset);

/* Drops every reference s holds (the session is ending). */
void shm_session_end(struct session *s);
/* Process pid is gone: hands over the locks it held. Returns how many. */
size_t shm_owner_died(uint32_t pid);
/* Whether pid holds any lock. */
bool shm_pid_holds_locks(uint32_t pid);
/* A process whose session ended while it still ran and held locks: its
 * locks are reclaimed when it exits (watched with a pidfd). */
void shm_watch_pid(uint32_t pid);

size_t shm_count(void);
uint64_t shm_bytes(void);

#endif
