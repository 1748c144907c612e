/* session.c - client sessions; see session.h.
 *
 * Invariants: a session is in the pipe map and the id map exactly while it
 * is in `sessions`; its jobs map and jobs_list hold the same jobs.
 */
#include "session.h"

#include "proc.h"
#include "objstore.h"
#include "shm.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "pyenv.h"
#include "scheduler.h"

static struct idmap by_pipe, by_id;
static struct list sessions = { &sessions, &sessions };
static struct list dirty = { &dirty, &dirty };
static uint64_t session_ids;
static size_t n_sessions;

struct session *session_new(uint32_t pipe, uint32_t pid, uint32_t uid, const char *name)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name ? name : "");
    if (!s->name)
        goto fail;
    s->id = ++session_ids;
    s->pipe = pipe;
    s->pid = pid;
    s->uid = uid;
    idmap_init(&s->jobs);
    idmap_init(&s->shm_refs);
    idmap_init(&s->obj_refs);
    list_init(&s->jobs_list);
    list_init(&s->async_ready);
    list_init(&s->parked);
    list_init(&s->procs);
    list_init(&s->pools);
    list_init(&s->dirty_link);
    if (idmap_put(&by_pipe, pipe, s) < 0)
        goto fail;
    if (idmap_put(&by_id, s->id, s) < 0) {
        idmap_del(&by_pipe, pipe);
        goto fail;
    }
    list_push_back(&sessions, &s->link);
    n_sessions++;
    return s;
fail:
    free(s->name);
    free(s);
    return NULL;
}

struct session *session_by_pipe(uint32_t pipe) { return idmap_get(&by_pipe, pipe); }
struct session *session_by_id(uint64_t id) { return idmap_get(&by_id, id); }
struct list *session_all(void) { return &sessions; }
size_t session_count(void) { return n_sessions; }

struct pyenv *session_env(const struct session *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_envs; i++)
        if (s->envs[i].id == id)
            return s->envs[i].env;
    return NULL;
}

int session_env_put(struct session *s, uint64_t id, struct pyenv *env)
{
    for (size_t i = 0; i < s->n_envs; i++) {
        if (s->envs[i].id == id) {
            pyenv_ref(env);
            pyenv_unref(s->envs[i].env);
            s->envs[i].env = env;
            return 0;
        }
    }
    if (s->n_envs == s->cap_envs) {
        size_t nc = s->cap_envs ? 2 * s->cap_envs : 4;
        struct session_env *ne = realloc(s->envs, nc * sizeof *ne);
        if (!ne)
            return -1;
        s->envs = ne;
        s->cap_envs = nc;
    }
    s->envs[s->n_envs++] = (struct session_env){ .id = id, .env = pyenv_ref(env) };
    return 0;
}

void session_destroy(struct session *s)
{
    /* Jobs first: their queued tasks leave the pools' rings. */
    list_for_each_safe (l, tmp, &s->jobs_list)
        sched_job_cancel(container_of(l, struct job, sess_link));
    list_for_each_safe (l, tmp, &s->pools) {
        struct pool *p = container_of(l, struct pool, owner_link);
        list_del(&p->owner_link);
        p->owner = NULL;
        if (p->n_workers == 0 && (p->state != POOL_RUNNING || p->gone))
            pool_free(p);
        else
            pool_terminate(p);
    }
    while (s->n_attached) {
        uint64_t id = s->attached[s->n_attached - 1];
        struct pool *p = pool_by_id(id);
        s->n_attached--;
        if (p)
            pool_detach(p, s);
    }
    proc_session_end(s);        /* before the references go */
    shm_session_end(s);
    idmap_fini(&s->shm_refs);
    mobj_session_end(s);
    idmap_fini(&s->obj_refs);
    list_del(&s->dirty_link);
    idmap_del(&by_pipe, s->pipe);
    idmap_del(&by_id, s->id);
    list_del(&s->link);
    n_sessions--;
    idmap_fini(&s->jobs);
    for (size_t i = 0; i < s->n_envs; i++)
        pyenv_unref(s->envs[i].env);
    free(s->envs);
    free(s->attached);
    free(s->closed);
    free(s->name);
    free(s);
}

struct job *session_job(struct session *s, uint64_t job_id)
{
    return idmap_get(&s->jobs, job_id);
}

int session_add_job(struct session *s, struct job *j)
{
    if (idmap_put(&s->jobs, j->id, j) < 0)
        return -1;
    list_push_back(&s->jobs_list, &j->sess_link);
    return 0;
}

void session_remove_job(struct session *s, struct job *j)
{
    if (idmap_get(&s->jobs, j->id) == j)
        idmap_del(&s->jobs, j->id);
    list_del(&j->sess_link);
    list_del(&j->ready_link);
}

static bool has_id(const uint64_t *a, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] == id)
            return true;
    return false;
}

static int add_id(uint64_t **a, size_t *n, size_t *cap, uint64_t id)
{
    if (has_id(*a, *n, id))
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        uint64_t *na = realloc(*a, nc * sizeof *na);
        if (!na)
            return -1;
        *a = na;
        *cap = nc;
    }
    (*a)[(*n)++] = id;
    return 0;
}

static void del_id(uint64_t *a, size_t *n, uint64_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (a[i] == id) {
            a[i] = a[--*n];
            return;
        }
    }
}

bool session_attached(const struct session *s, uint64_t pool_id)
{
    return has_id(s->attached, s->n_attached, pool_id);
}

int session_attach(struct session *s, uint64_t pool_id)
{
    return add_id(&s->attached, &s->n_attached, &s->cap_attached, pool_id);
}

void session_detach(struct session *s, uint64_t pool_id)
{
    del_id(s->attached, &s->n_attached, pool_id);
}

bool session_closed_pool(const struct session *s, uint64_t pool_id)
{
    return has_id(s->closed, s->n_closed, pool_id);
}

int session_note_closed(struct session *s, uint64_t pool_id)
{
    return add_id(&s->closed, &s->n_closed, &s->cap_closed, pool_id);
}

void session_forget_closed(struct session *s, uint64_t pool_id)
{
    del_id(s->closed, &s->n_closed, pool_id);
}

bool session_has_work_on(const struct session *s, uint64_t pool_id)
{
    list_for_each (l, &s->jobs_list) {
        const struct job *j = container_of(l, struct job, sess_link);
        if (j->pool_id == pool_id && !sched_job_complete(j))
            return true;
    }
    return false;
}

void session_mark_dirty(struct session *s)
{
    if (s->dirty)
        return;
    s->dirty = true;
    list_push_back(&dirty, &s->dirty_link);
}

struct session *session_take_dirty(void)
{
    if (list_empty(&dirty))
        return NULL;
    struct session *s = container_of(dirty.next, struct session, dirty_link);
    list_del(&s->dirty_link);
    s->dirty = false;
    return s;
}
