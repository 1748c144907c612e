/* session.h - client sessions.
 *
 * A session is an nng pipe that sent Hello. It owns its jobs (by client
 * job id), its private pools, its attachments to named pools (and the
 * default pool), and the requests parked on its behalf (struct park,
 * embedded in the server's context objects).
 *
 * When a session's state changes (a result arrived, a job completed, a
 * pool drained) it is marked dirty; the server re-examines the parked
 * requests of dirty sessions after each batch of events (session_take_dirty).
 *
 * Locking: everything under the daemon lock.
 */
#ifndef PP_SESSION_H
#define PP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "sync_core.h"
#include "util.h"

struct pool;
struct job;

enum park_kind { PARK_SUBMIT, PARK_COLLECT, PARK_JOIN, PARK_SYNC, PARK_PROC };

/* A request waiting for its reply. Owned by the server; linked on its
 * session while parked. */
struct park {
    struct list link;
    enum park_kind kind;
    struct session *sess;
    uint64_t req_id;
    uint64_t deadline;        /* ms, 0 = none */
    uint64_t job_id;          /* PARK_SUBMIT */
    uint64_t pool_id;         /* PARK_JOIN */
    uint64_t proc_id;         /* PARK_PROC */
    uint64_t *job_ids;        /* PARK_COLLECT; malloc'd, may be NULL */
    size_t n_job_ids;
    uint32_t max_batches;
    uint64_t seg_id, offset;  /* PARK_SYNC: the primitive */
    uint64_t lock_id, lock_offset;  /* ... and its lock (conditions, barriers) */
    int op;                   /* PARK_SYNC: the SyncOpKind */
    uint32_t tid, n;          /* PARK_SYNC: the client's thread; notify count */
    struct pps_waiter waiter; /* PARK_SYNC: a condition or barrier wait in progress */
};

#define SESSION_MAX_PARKED 256

struct session {
    uint64_t id;
    uint32_t pipe;
    uint32_t pid, uid;
    char *name;
    struct idmap jobs;          /* client job id -> struct job */
    struct list jobs_list;      /* struct job, by sess_link, oldest first */
    struct list async_ready;    /* async jobs with results or complete (ready_link) */
    struct list parked;         /* struct park */
    struct list procs;          /* struct proc it started and holds (owner_link) */
    size_t n_parked;
    struct list pools;          /* private pools it owns (pool->owner_link) */
    struct pool *spares;        /* its spare Python workers (pool.h), or NULL */
    struct session_env { uint64_t id; struct pyenv *env; } *envs;  /* named PyEnvs */
    size_t n_envs, cap_envs;
    uint64_t *attached;         /* shared pools it is attached to */
    size_t n_attached, cap_attached;
    uint64_t *closed;           /* pools it closed (PoolJoin checks them) */
    struct idmap shm_refs;      /* segment id -> references held (as uintptr_t) */
    struct idmap obj_refs;      /* managed object id -> references held */
    size_t n_closed, cap_closed;
    bool dirty;
    struct list dirty_link;
    struct list link;           /* all sessions */
};

/* The environment the session named id (PyFunction.env_id), or NULL. */
struct pyenv *session_env(const struct session *s, uint64_t id);
/* Names env id for the session (takes a reference; replaces an earlier
 * one). 0, or -1 on ENOMEM. */
int session_env_put(struct session *s, uint64_t id, struct pyenv *env);

/* Creates a session for an nng pipe; name is copied. NULL on ENOMEM. */
struct session *session_new(uint32_t pipe, uint32_t pid, uint32_t uid, const char *name);
struct session *session_by_pipe(uint32_t pipe);
struct session *session_by_id(uint64_t id);
/* All sessions (struct session by link). */
struct list *session_all(void);
size_t session_count(void);

/* Ends a session: cancels its jobs, terminates its private pools, detaches
 * it from shared pools. Its parked requests must have been completed by the
 * caller first (the server does that). Frees s. */
void session_destroy(struct session *s);

struct job *session_job(struct session *s, uint64_t job_id);
int session_add_job(struct session *s, struct job *j);
void session_remove_job(struct session *s, struct job *j);

bool session_attached(const struct session *s, uint64_t pool_id);
int session_attach(struct session *s, uint64_t pool_id);
void session_detach(struct session *s, uint64_t pool_id);
bool session_closed_pool(const struct session *s, uint64_t pool_id);
int session_note_closed(struct session *s, uint64_t pool_id);
void session_forget_closed(struct session *s, uint64_t pool_id);
/* True while s has a job on pool_id that is not complete. */
bool session_has_work_on(const struct session *s, uint64_t pool_id);

void session_mark_dirty(struct session *s);
/* Pops the next dirty session, or NULL. */
struct session *session_take_dirty(void);

#endif
