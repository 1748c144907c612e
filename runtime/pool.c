/* pool.c - pools of workers; see pool.h.
 *
 * Invariants: a pool is in `by_id` and findable by name exactly while it is
 * not `gone`; it stays on `pools` until freed. n_workers counts workers not
 * yet reaped. Spawning only happens in pool_fill_pending (loop thread).
 * A pool is spawn-failing exactly while spawn_error[0] != 0; it waits for
 * a respawn exactly while respawn_at != 0 (and then wants no workers).
 */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pyenv.h"
#include "loop.h"
#include "scheduler.h"
#include "session.h"
#include "worker.h"

static struct idmap by_id;
static struct list pools = { &pools, &pools };
static struct list fill_list = { &fill_list, &fill_list };
static uint64_t pool_ids;
static struct pool_config config;
static char *worker_path;
static struct pool *default_pool;
static bool shutting_down;

void pool_shutdown(void)
{
    shutting_down = true;
}

const struct pool_config *pool_config(void) { return &config; }
struct pool *pool_by_id(uint64_t id) { return idmap_get(&by_id, id); }
struct pool *pool_default(void) { return default_pool; }
struct list *pool_all(void) { return &pools; }

const char *pool_kind_name(enum pool_kind k)
{
    return k == POOL_DEFAULT ? "default" : k == POOL_PRIVATE ? "private" : "named";
}

const char *pool_state_name(enum pool_state s)
{
    switch (s) {
    case POOL_RUNNING: return "running";
    case POOL_CLOSED: return "closed";
    case POOL_TERMINATED: return "terminated";
    case POOL_BROKEN: return "broken";
    }
    return "?";
}

int pool_init(const struct pool_config *cfg)
{
    config = *cfg;
    worker_path = strdup(cfg->worker_path);
    if (!worker_path)
        return -1;
    config.worker_path = worker_path;
    idmap_init(&by_id);
    default_pool = pool_new(POOL_DEFAULT, "default", cfg->default_size, 0, NULL, NULL, NULL, 0,
                            NULL);
    return default_pool ? 0 : -1;
}

void pool_fini(void)
{
    list_for_each_safe (l, tmp, &pools) {
        struct pool *p = container_of(l, struct pool, link);
        if (p->owner) {
            list_del(&p->owner_link);
            p->owner = NULL;
        }
        pool_free(p);
    }
    idmap_fini(&by_id);
    free(worker_path);
    worker_path = NULL;
    default_pool = NULL;
}

struct pool *pool_new(enum pool_kind kind, const char *name, uint32_t size,
                      uint32_t maxtasks, const char *init_lib, const char *init_sym,
                      const void *initargs, size_t initargs_len, struct session *owner)
{
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->name = strdup(name ? name : "");
    if (!p->name)
        goto fail;
    if (init_lib && init_sym) {
        p->init_lib = strdup(init_lib);
        p->init_sym = strdup(init_sym);
        if (!p->init_lib || !p->init_sym)
            goto fail;
    }
    if (initargs && initargs_len) {
        p->initargs = malloc(initargs_len);
        if (!p->initargs)
            goto fail;
        memcpy(p->initargs, initargs, initargs_len);
        p->initargs_len = initargs_len;
    }
    p->id = ++pool_ids;
    p->kind = kind;
    p->state = POOL_RUNNING;
    p->size = size ? size : config.cpu_count;
    p->maxtasks = maxtasks;
    list_init(&p->owner_link);
    list_init(&p->workers);
    list_init(&p->rr);
    list_init(&p->fill_link);
    if (idmap_put(&by_id, p->id, p) < 0)
        goto fail;
    list_push_back(&pools, &p->link);
    if (owner) {
        p->owner = owner;
        list_push_back(&owner->pools, &p->owner_link);
    }
    pool_want_fill(p);
    return p;
fail:
    free(p->name);
    free(p->init_lib);
    free(p->init_sym);
    free(p->initargs);
    free(p);
    return NULL;
}

void pool_set_env(struct pool *p, struct pyenv *env, bool initializer)
{
    pyenv_unref(p->env);
    p->env = pyenv_ref(env);
    if (initializer) {
        pyenv_unref(p->init_env);
        p->init_env = pyenv_ref(env);
    }
}

struct pyenv *pool_wanted_env(const struct pool *p)
{
    if (p->init_env)
        return p->init_env;
    list_for_each (l, &p->rr) {
        const struct job *j = container_of(l, struct job, rr_link);
        if (!j->env || j->env == p->env)
            continue;
        bool served = false;
        list_for_each (m, &p->workers) {
            const struct worker *w = container_of(m, struct worker, pool_link);
            if (w->env == j->env && w->state != WORKER_EXITING && w->state != WORKER_DEAD) {
                served = true;
                break;
            }
        }
        if (!served)
            return j->env;
    }
    return p->env;
}

struct pool *pool_by_name(const char *name)
{
    list_for_each (l, &pools) {
        struct pool *p = container_of(l, struct pool, link);
        if (!p->gone && p->kind != POOL_PRIVATE && !strcmp(p->name, name))
            return p;
    }
    return NULL;
}

static void pool_unmap(struct pool *p)
{
    if (!p->gone) {
        p->gone = true;
        idmap_del(&by_id, p->id);
    }
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    /* Jobs may outlive the pool (complete, not yet collected). */
    list_for_each (l, session_all()) {
        struct session *s = container_of(l, struct session, link);
        list_for_each (m, &s->jobs_list) {
            struct job *j = container_of(m, struct job, sess_link);
            if (j->pool == p)
                j->pool = NULL;
        }
    }
    pool_unmap(p);
    list_del(&p->fill_link);
    list_del(&p->owner_link);
    list_del(&p->link);
    if (p == default_pool)
        default_pool = NULL;
    if (p->spare && p->owner && p->owner->spares == p)
        p->owner->spares = NULL;
    free(p->sessions);
    free(p->name);
    free(p->init_lib);
    free(p->init_sym);
    free(p->initargs);
    free(p->broken_msg);
    pyenv_unref(p->env);
    pyenv_unref(p->init_env);
    free(p);
}

int pool_attach(struct pool *p, struct session *s)
{
    if (session_attach(s, p->id) < 0)
        return -1;
    for (size_t i = 0; i < p->n_sessions; i++)
        if (p->sessions[i] == s->id)
            return 0;
    if (p->n_sessions == p->cap_sessions) {
        size_t nc = p->cap_sessions ? p->cap_sessions * 2 : 4;
        uint64_t *na = realloc(p->sessions, nc * sizeof *na);
        if (!na) {
            session_detach(s, p->id);
            return -1;
        }
        p->sessions = na;
        p->cap_sessions = nc;
    }
    p->sessions[p->n_sessions++] = s->id;
    return 0;
}

void pool_detach(struct pool *p, struct session *s)
{
    session_detach(s, p->id);
    for (size_t i = 0; i < p->n_sessions; i++) {
        if (p->sessions[i] == s->id) {
            p->sessions[i] = p->sessions[--p->n_sessions];
            break;
        }
    }
    if (p->kind == POOL_NAMED && p->n_sessions == 0) {
        /* Nobody uses it any more: drain what is left, then go. */
        pool_unmap(p);
        if (p->state == POOL_RUNNING)
            p->state = POOL_CLOSED;
        pool_check(p);
    }
}

bool pool_drained(const struct pool *p)
{
    return p->tasks_queued == 0 && p->tasks_running == 0;
}

/* ---- spare workers -------------------------------------------------------- */

static bool reusable(const struct pool *p)
{
    return p->kind == POOL_PRIVATE && !p->spare && p->owner && !p->init_lib && !p->maxtasks;
}

static void move_worker(struct worker *w, struct pool *to)
{
    struct pool *from = w->pool;
    list_del(&w->pool_link);
    from->n_workers--;
    list_push_back(&to->workers, &w->pool_link);
    to->n_workers++;
    w->pool = to;
}

void pool_park_spares(struct pool *p)
{
    if (!reusable(p) || shutting_down)
        return;
    struct session *s = p->owner;
    list_for_each_safe (l, tmp, &p->workers) {
        struct worker *w = container_of(l, struct worker, pool_link);
        if (w->kind != WORKER_KIND_PY || w->state != WORKER_READY || w->n_inflight)
            continue;
        if (!s->spares) {
            s->spares = pool_new(POOL_PRIVATE, "spares", 0, 0, NULL, NULL, NULL, 0, s);
            if (!s->spares)
                return;
            s->spares->spare = true;
            s->spares->size = 0;        /* never starts workers of its own */
        }
        if (s->spares->n_workers >= POOL_SPARES_MAX)
            return;
        move_worker(w, s->spares);
        w->spare_until = now_ms() + POOL_SPARE_MS;
        loop_deadline(w->spare_until);
        log_debug("pool %llu: worker %d parked as a spare", (unsigned long long)p->id,
                  (int)w->pid);
    }
}

/* A spare of p's owner that runs env, moved into p; NULL if none. */
static struct worker *adopt_spare(struct pool *p, const struct pyenv *env)
{
    if (!env || !reusable(p) || !p->owner->spares)
        return NULL;
    list_for_each (l, &p->owner->spares->workers) {
        struct worker *w = container_of(l, struct worker, pool_link);
        if (w->env == env && w->state == WORKER_READY) {
            move_worker(w, p);
            log_debug("pool %llu: adopted spare worker %d", (unsigned long long)p->id,
                      (int)w->pid);
            return w;
        }
    }
    return NULL;
}

/* Loop tick: spares past their time exit. Returns the next expiry. */
static uint64_t expire_spares(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    list_for_each (l, &pools) {
        struct pool *p = container_of(l, struct pool, link);
        if (!p->spare)
            continue;
        list_for_each (m, &p->workers) {
            struct worker *w = container_of(m, struct worker, pool_link);
            if (w->state != WORKER_READY)
                continue;
            if (w->spare_until <= now)
                worker_send_exit(w);
            else if (w->spare_until < next)
                next = w->spare_until;
        }
    }
    return next;
}

void pool_close(struct pool *p)
{
    p->owner_closed = true;
    if (p->state == POOL_RUNNING)
        p->state = POOL_CLOSED;
    pool_check(p);
}

static void fail_all_queued(struct pool *p, const struct wire_error *e)
{
    while (!list_empty(&p->rr)) {
        struct job *j = container_of(p->rr.next, struct job, rr_link);
        sched_job_fail_queued(j, e);
    }
}

void pool_terminate(struct pool *p)
{
    p->owner_closed = true;
    if (p->state != POOL_TERMINATED) {
        p->state = POOL_TERMINATED;
        struct wire_error e = { .status = WS_ECLOSED, .message = "pool terminated" };
        fail_all_queued(p, &e);
        pool_park_spares(p);
        list_for_each (l, &p->workers)
            worker_kill(container_of(l, struct worker, pool_link), KILL_TERMINATE);
    }
    pool_check(p);
}

static const char *pool_label(const struct pool *p)
{
    return p->name[0] ? p->name : pool_kind_name(p->kind);
}

void pool_break(struct pool *p, int status, const char *msg)
{
    if (p->state == POOL_BROKEN || p->state == POOL_TERMINATED)
        return;
    log_warn("pool %llu (%s) is broken: %s", (unsigned long long)p->id, pool_label(p), msg);
    p->state = POOL_BROKEN;
    p->broken_status = status;
    p->broken_msg = strdup(msg);
    struct wire_error e = { .status = status, .message = p->broken_msg ? p->broken_msg : msg };
    fail_all_queued(p, &e);
    list_for_each (l, &p->workers)
        worker_send_exit(container_of(l, struct worker, pool_link));
}

void pool_check(struct pool *p)
{
    bool stopping = p->state != POOL_RUNNING;
    if (stopping && pool_drained(p)) {
        pool_park_spares(p);
        list_for_each (l, &p->workers)
            worker_send_exit(container_of(l, struct worker, pool_link));
    }
    if (p->owner)
        session_mark_dirty(p->owner);
    /* A closed private pool with no workers is finished: its owner keeps
     * the id in its closed list, so a later join succeeds and a submit
     * gets ECLOSED. A broken one waits for its owner to close it. */
    if (p->n_workers == 0 && stopping && pool_drained(p)) {
        if ((p->kind == POOL_NAMED && p->gone) ||
            (p->kind == POOL_PRIVATE && (p->owner_closed || !p->owner)))
            pool_free(p);
    }
}

void pool_want_fill(struct pool *p)
{
    if (p->fill_wanted)
        return;
    p->fill_wanted = true;
    list_push_back(&fill_list, &p->fill_link);
    loop_wake();
}

static bool needs_workers(const struct pool *p)
{
    /* While a respawn backoff runs, pool_tick asks again when it ends. */
    if (shutting_down || p->respawn_at || (p->gone && p->state == POOL_RUNNING))
        return false;
    if (p->state == POOL_RUNNING)
        return p->n_workers < p->size;
    if (p->state == POOL_CLOSED)
        return p->n_workers < p->size && p->tasks_queued > 0;
    return false;
}

/* Spawn-failing with no worker left: nothing would ever run the queue. */
bool pool_can_run(const struct pool *p, const struct pyenv *env)
{
    list_for_each (l, &p->workers) {
        const struct worker *w = container_of(l, struct worker, pool_link);
        if (w->state != WORKER_EXITING && w->state != WORKER_DEAD && worker_runs(w, env))
            return true;
    }
    return false;
}

/* Spawn-failing: queued jobs no live worker can run would wait for a retry
 * that may never work (every worker gone, or only C workers left for
 * Python work): they fail now. */
static void fail_if_stuck(struct pool *p)
{
    if (!p->spawn_error[0])
        return;
    struct wire_error e = { .status = WS_ENOSPAWN, .message = p->spawn_error };
    list_for_each_safe (l, tmp, &p->rr) {
        struct job *j = container_of(l, struct job, rr_link);
        if (!pool_can_run(p, j->env))
            sched_job_fail_queued(j, &e);
    }
}

/* Workers of p cannot start (msg says why): not a permanent break, since
 * the cause may be transient (EAGAIN, a binary being replaced). Marks p
 * spawn-failing and retries after the backoff; see pool.h. Does not free
 * p: call pool_check(p) afterwards. */
static void spawn_failed(struct pool *p, const char *msg)
{
    snprintf(p->spawn_error, sizeof p->spawn_error, "%s", msg);
    /* Deaths of workers started in the same round do not add delay. */
    if (!p->respawn_at) {
        p->respawn_ms = !p->respawn_ms ? POOL_RESPAWN_MIN_MS
                        : p->respawn_ms >= POOL_RESPAWN_MAX_MS / 2 ? POOL_RESPAWN_MAX_MS
                                                                  : p->respawn_ms * 2;
        p->respawn_at = now_ms() + p->respawn_ms;
        loop_deadline(p->respawn_at);
        log_error("pool %llu (%s): %s; retrying in %u ms", (unsigned long long)p->id,
                  pool_label(p), msg, p->respawn_ms);
    }
    fail_if_stuck(p);
}

uint64_t pool_tick(uint64_t now)
{
    uint64_t next = expire_spares(now);
    list_for_each (l, &pools) {
        struct pool *p = container_of(l, struct pool, link);
        if (!p->respawn_at)
            continue;
        if (p->respawn_at <= now) {
            p->respawn_at = 0;
            pool_want_fill(p);
        } else if (p->respawn_at < next) {
            next = p->respawn_at;
        }
    }
    return next;
}

void pool_worker_ready(struct pool *p)
{
    p->startup_failures = 0;
    if (p->spawn_error[0])
        log_info("pool %llu (%s): workers start again", (unsigned long long)p->id,
                 pool_label(p));
    p->spawn_error[0] = '\0';
    p->respawn_ms = 0;
    /* Spawning works: fill the remaining slots now, not after the wait. */
    if (p->respawn_at) {
        p->respawn_at = 0;
        if (needs_workers(p))
            pool_want_fill(p);
    }
}

void pool_fill_pending(void)
{
    while (!list_empty(&fill_list)) {
        struct pool *p = container_of(fill_list.next, struct pool, fill_link);
        list_del(&p->fill_link);
        p->fill_wanted = false;
        while (needs_workers(p)) {
            const char *err = NULL;
            struct pyenv *env = pool_wanted_env(p);
            if (adopt_spare(p, env)) {
                sched_dispatch(p);
                continue;
            }
            struct worker *w = worker_spawn(p, config.worker_path, env, &err);
            if (!w) {
                char msg[512];
                snprintf(msg, sizeof msg, "cannot start worker %s: %s",
                         env ? env->interpreter : config.worker_path, err ? err : "unknown error");
                spawn_failed(p, msg);
                pool_check(p);
                break;
            }
        }
    }
}

void pool_worker_gone(struct pool *p, bool ready, const char *why)
{
    p->n_workers--;
    /* Only a worker becoming ready (pool_worker_ready) clears the count: a
     * ready C worker leaving must not hide Python hosts that never start. */
    if (!ready && p->state == POOL_RUNNING && ++p->startup_failures >= 3) {
        char msg[512];
        snprintf(msg, sizeof msg, "workers keep dying at startup (last: %s)", why);
        spawn_failed(p, msg);
    }
    fail_if_stuck(p);   /* the last worker of a spawn-failing pool */
    if (needs_workers(p))
        pool_want_fill(p);
    pool_check(p);
}
