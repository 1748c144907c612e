/* scheduler.c - jobs, tasks and dispatch; see scheduler.h for the model.
 *
 * Counting invariants (under the daemon lock):
 *  - job->queued_tasks = tasks left in job->inputs + tasks on job->requeued;
 *    pool->tasks_queued is the sum over the pool's jobs.
 *  - job->running = tasks of the job on some worker's inflight list.
 *  - job->resolved counts items with a result on job->ready or delivered.
 *  - A job is on pool->rr exactly when queued_tasks > 0 and it is not
 *    forgotten.
 */
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "pool.h"
#include "pyenv.h"
#include "session.h"
#include "worker.h"

static uint64_t task_ids;
static struct list deadline_jobs = { &deadline_jobs, &deadline_jobs };

/* Task structs are recycled: with chunksize 1 there is one per item. */
static struct list task_cache = { &task_cache, &task_cache };
static size_t task_cache_n;

uint64_t sched_next_task_id(void)
{
    return ++task_ids;
}

static struct task *task_alloc(void)
{
    struct task *t;
    if (!list_empty(&task_cache)) {
        struct list *l = task_cache.next;
        list_del(l);
        task_cache_n--;
        t = container_of(l, struct task, link);
        memset(t, 0, sizeof *t);
    } else {
        t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
    }
    list_init(&t->link);
    return t;
}

void sched_task_free(struct task *t)
{
    if (!t)
        return;
    wire_items_unref(t->items);
    free(t->rbuf);
    t->items = NULL;
    t->rbuf = NULL;
    if (task_cache_n < 4096) {
        list_init(&t->link);
        list_push_back(&task_cache, &t->link);
        task_cache_n++;
    } else {
        free(t);
    }
}

static uint64_t input_tasks_left(const struct input *in, uint32_t chunk)
{
    return (in->n - in->next + chunk - 1) / chunk;
}

struct job *sched_job_new(struct session *s, struct pool *p, uint64_t id,
                          const char *library, const char *symbol,
                          uint32_t chunksize, bool star, bool async)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->library = strdup(library ? library : "");
    j->symbol = strdup(symbol ? symbol : "");
    if (!j->library || !j->symbol) {
        free(j->library);
        free(j->symbol);
        free(j);
        return NULL;
    }
    j->id = id;
    j->sess = s;
    j->pool = p;
    j->pool_id = p ? p->id : 0;
    j->chunksize = chunksize ? chunksize : 1;
    j->star = star;
    j->async = async;
    j->more = true;
    list_init(&j->inputs);
    list_init(&j->requeued);
    list_init(&j->rr_link);
    list_init(&j->ready);
    list_init(&j->sess_link);
    list_init(&j->ready_link);
    list_init(&j->deadline_link);
    return j;
}

static void job_free(struct job *j)
{
    list_del(&j->deadline_link);
    list_del(&j->rr_link);
    free(j->library);
    free(j->symbol);
    pyenv_unref(j->env);
    free(j);
}

static void job_maybe_free(struct job *j)
{
    if (j->forgotten && j->running == 0)
        job_free(j);
}

static void job_changed(struct job *j)
{
    if (!j->sess)
        return;
    if (j->async && !list_linked(&j->ready_link) && (j->n_ready || sched_job_complete(j)))
        list_push_back(&j->sess->async_ready, &j->ready_link);
    session_mark_dirty(j->sess);
}

bool sched_job_complete(const struct job *j)
{
    return !j->more && j->resolved == j->received;
}

/* Adds a result holder for [first, first+count) carrying buf (consumed). */
static void push_result(struct job *j, struct task *t, uint8_t *buf, size_t off, size_t len)
{
    t->rbuf = buf;
    t->roff = off;
    t->rlen = len;
    list_push_back(&j->ready, &t->link);
    j->n_ready++;
    j->ready_bytes += len;
    j->resolved += t->count;
    job_changed(j);
}

/* Makes error batches for [first, first+count) of j. */
static void fail_range(struct job *j, uint64_t first, uint64_t count, const struct wire_error *e,
                       const void *out, size_t out_len, const void *err, size_t err_len)
{
    while (count) {
        uint64_t n = count > SCHED_ERROR_BATCH_MAX ? SCHED_ERROR_BATCH_MAX : count;
        size_t len = 0;
        struct task *t = task_alloc();
        uint8_t *buf = t ? wire_error_batch(j->id, first, n, e, out, out_len, err, err_len, &len)
                         : NULL;
        if (!buf) {
            /* Out of memory making an error: the items stay unresolved and
             * the client's deadline is its only way out. Say so loudly. */
            log_error("out of memory failing items %llu..%llu of job %llu",
                      (unsigned long long)first, (unsigned long long)(first + n - 1),
                      (unsigned long long)j->id);
            free(t);
            return;
        }
        t->job = j;
        t->first = first;
        t->count = (uint32_t)n;
        push_result(j, t, buf, 0, len);
        /* Salvaged output goes with the first batch only. */
        out = err = NULL;
        out_len = err_len = 0;
        first += n;
        count -= n;
    }
}

static void unqueue(struct job *j, uint64_t ntasks)
{
    j->queued_tasks -= ntasks;
    if (j->pool)
        j->pool->tasks_queued -= ntasks;
    if (!j->queued_tasks)
        list_del(&j->rr_link);
}

void sched_job_fail_queued(struct job *j, const struct wire_error *e)
{
    list_for_each_safe (l, tmp, &j->requeued) {
        struct task *t = container_of(l, struct task, link);
        list_del(l);
        unqueue(j, 1);
        wire_items_unref(t->items);
        t->items = NULL;
        uint64_t first = t->first, count = t->count;
        sched_task_free(t);
        fail_range(j, first, count, e, NULL, 0, NULL, 0);
    }
    list_for_each_safe (l, tmp, &j->inputs) {
        struct input *in = container_of(l, struct input, link);
        unqueue(j, input_tasks_left(in, j->chunksize));
        list_del(l);
        uint64_t first = in->base + in->next, count = in->n - in->next;
        wire_items_unref(in->items);
        free(in);
        fail_range(j, first, count, e, NULL, 0, NULL, 0);
    }
}

/* Why j's queued items cannot run, or NULL when they can. */
static bool job_blocked(struct job *j, struct wire_error *e, char *msg, size_t msglen)
{
    memset(e, 0, sizeof *e);
    e->message = msg;
    if (j->expired) {
        e->status = WS_ETIMEDOUT;
        snprintf(msg, msglen, "job deadline passed");
        return true;
    }
    struct pool *p = j->pool;
    if (!p || p->state == POOL_TERMINATED) {
        e->status = WS_ECLOSED;
        snprintf(msg, msglen, "pool terminated");
        return true;
    }
    if (p->state == POOL_BROKEN) {
        e->status = p->broken_status;
        snprintf(msg, msglen, "%s", p->broken_msg ? p->broken_msg : "pool broken");
        return true;
    }
    /* Workers cannot start and none is left: no waiting for a retry. */
    if (p->spawn_error[0] && !pool_can_run(p, j->env)) {
        e->status = WS_ENOSPAWN;
        snprintf(msg, msglen, "%s", p->spawn_error);
        return true;
    }
    return false;
}

int sched_job_feed(struct job *j, wire_items *it, size_t n)
{
    if (n) {
        struct input *in = calloc(1, sizeof *in);
        if (!in)
            return -1;
        wire_items_ref(it);
        in->items = it;
        in->base = j->received;
        in->n = n;
        list_push_back(&j->inputs, &in->link);
        j->received += n;
        uint64_t nt = input_tasks_left(in, j->chunksize);
        j->queued_tasks += nt;
        if (j->pool) {
            j->pool->tasks_queued += nt;
            if (!list_linked(&j->rr_link))
                list_push_back(&j->pool->rr, &j->rr_link);
        }
    }
    struct wire_error e;
    char msg[512];
    if (j->queued_tasks && job_blocked(j, &e, msg, sizeof msg))
        sched_job_fail_queued(j, &e);
    else if (j->pool && j->queued_tasks)
        sched_dispatch(j->pool);
    job_changed(j);
    return 0;
}

void sched_job_set_deadline(struct job *j, uint64_t deadline)
{
    j->deadline = deadline;
    list_del(&j->deadline_link);
    list_push_back(&deadline_jobs, &j->deadline_link);
    loop_deadline(deadline);
}

void sched_job_cancel(struct job *j)
{
    if (j->forgotten)
        return;
    j->forgotten = true;
    list_for_each_safe (l, tmp, &j->requeued) {
        list_del(l);
        unqueue(j, 1);
        sched_task_free(container_of(l, struct task, link));
    }
    list_for_each_safe (l, tmp, &j->inputs) {
        struct input *in = container_of(l, struct input, link);
        unqueue(j, input_tasks_left(in, j->chunksize));
        list_del(l);
        wire_items_unref(in->items);
        free(in);
    }
    list_del(&j->rr_link);
    list_for_each_safe (l, tmp, &j->ready) {
        list_del(l);
        sched_task_free(container_of(l, struct task, link));
    }
    j->n_ready = j->ready_bytes = 0;
    list_del(&j->deadline_link);
    if (j->sess) {
        session_mark_dirty(j->sess);
        session_remove_job(j->sess, j);
        j->sess = NULL;
    }
    struct pool *p = j->pool;
    job_maybe_free(j);
    if (p)
        pool_check(p);
}

void sched_job_release(struct job *j)
{
    list_for_each_safe (l, tmp, &j->ready) {
        list_del(l);
        sched_task_free(container_of(l, struct task, link));
    }
    if (j->sess)
        session_remove_job(j->sess, j);
    j->sess = NULL;
    j->forgotten = true;
    job_maybe_free(j);
}

uint64_t sched_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void sched_note_task_time(struct pool *p, uint64_t us)
{
    /* Exponential moving average, weight 1/8. */
    if (!p->task_samples)
        p->task_us_avg = us;
    else
        p->task_us_avg = (p->task_us_avg * 7 + us) / 8;
    p->task_samples++;
}

uint32_t sched_batch_size(const struct pool *p, const struct worker *w)
{
    uint64_t per = p->size ? p->tasks_queued / (2 * (uint64_t)p->size) : 1;
    uint32_t b = per < 1 ? 1 : per > 64 ? 64 : (uint32_t)per;
    /* Slow start: one task until the pool knows how long tasks take. */
    if (!p->task_samples)
        b = 1;
    else if (p->task_us_avg && b > SCHED_BATCH_US / p->task_us_avg)
        b = p->task_us_avg >= SCHED_BATCH_US ? 1 : (uint32_t)(SCHED_BATCH_US / p->task_us_avg);
    if (p->maxtasks) {
        uint64_t left = w->tasks_sent >= p->maxtasks ? 0 : p->maxtasks - w->tasks_sent;
        if (b > left)
            b = (uint32_t)left;
    }
    return b;
}

struct task *sched_take_task(struct pool *p)
{
    return sched_take_task_for(p, NULL);
}

struct task *sched_take_task_for(struct pool *p, const struct worker *w)
{
    /* The first job of the ring this worker can run: in a pool of C
     * workers and Python hosts, a C worker skips Python jobs. */
    struct job *j = NULL;
    list_for_each (l, &p->rr) {
        struct job *c = container_of(l, struct job, rr_link);
        if (!w || worker_runs(w, c->env)) {
            j = c;
            break;
        }
    }
    if (!j)
        return NULL;
    list_del(&j->rr_link);
    struct task *t;
    if (!list_empty(&j->requeued)) {
        t = container_of(j->requeued.next, struct task, link);
        list_del(&t->link);
    } else {
        struct input *in = container_of(j->inputs.next, struct input, link);
        t = task_alloc();
        if (!t) {
            list_push_front(&p->rr, &j->rr_link);
            return NULL;
        }
        size_t left = in->n - in->next;
        uint32_t count = left < j->chunksize ? (uint32_t)left : j->chunksize;
        t->id = sched_next_task_id();
        t->job = j;
        t->first = in->base + in->next;
        t->count = count;
        t->from = in->cur;
        wire_items_advance(in->items, &in->cur, count);
        t->to = in->cur;
        t->items = in->items;
        in->next += count;
        if (in->next == in->n) {
            /* The task keeps the input's reference. */
            list_del(&in->link);
            free(in);
        } else {
            wire_items_ref(t->items);
        }
    }
    j->queued_tasks--;
    p->tasks_queued--;
    j->running++;
    /* Round robin: the job goes to the back of the ring. */
    if (j->queued_tasks)
        list_push_back(&p->rr, &j->rr_link);
    return t;
}

/* Worker w is idle and none of the queued work is for it: Python work for
 * an environment no worker of the pool runs (or too few for its queue).
 * w exits and the pool fills its place with a host of that environment
 * (pool_wanted_env); the pool never grows beyond its size. */
static void maybe_retire(struct worker *w)
{
    struct pool *p = w->pool;
    if (w->n_inflight || p->init_env || w->state != WORKER_READY)
        return;
    list_for_each (l, &p->rr) {
        const struct job *j = container_of(l, struct job, rr_link);
        if (worker_runs(w, j->env))
            continue;
        uint64_t able = 0;
        list_for_each (m, &p->workers) {
            const struct worker *o = container_of(m, struct worker, pool_link);
            if (o->state != WORKER_EXITING && o->state != WORKER_DEAD && worker_runs(o, j->env))
                able++;
        }
        if (able < j->queued_tasks) {
            log_debug("pool %llu: worker %d makes room for %s", (unsigned long long)p->id,
                      (int)w->pid, pyenv_label(j->env));
            worker_send_exit(w);
            return;
        }
    }
}

void sched_dispatch_worker(struct worker *w)
{
    struct pool *p = w->pool;
    if (w->state != WORKER_READY || !p->tasks_queued)
        return;
    if (p->state != POOL_RUNNING && p->state != POOL_CLOSED)
        return;
    /* An idle worker takes a batch; a busy one gets a second batch queued
     * behind its current one only when there is plenty of work. */
    if (w->n_inflight && !(w->n_inflight <= w->last_batch / 2 && w->last_batch > 1 &&
                           p->tasks_queued >= 4 * (uint64_t)p->size))
        return;
    if (!w->n_inflight)
        w->busy_mark_us = sched_now_us();
    uint32_t b = sched_batch_size(p, w);
    uint32_t sent = 0;
    while (sent < b) {
        struct task *t = sched_take_task_for(p, w);
        if (!t)
            break;
        struct job *j = t->job;
        if (wire_pack_task(&w->out, t->id, j->id, t->first, j->library, j->symbol,
                           j->env != NULL, j->star,
                           t->items, &t->from, &t->to) < 0) {
            struct wire_error e = { .status = WS_ENOMEM,
                                    .message = "out of memory packing the task" };
            /* The task counts as running until sched_task_fail resolves it. */
            sched_task_fail(t, &e, NULL, 0, NULL, 0);
            continue;
        }
        list_push_back(&w->inflight, &t->link);
        w->n_inflight++;
        w->tasks_sent++;
        p->tasks_running++;
        sent++;
    }
    if (!sent) {
        maybe_retire(w);
        return;
    }
    w->last_batch = sent;
    if (p->maxtasks && w->tasks_sent >= p->maxtasks)
        worker_send_exit(w);
    worker_flush(w);
}

void sched_dispatch(struct pool *p)
{
    list_for_each (l, &p->workers) {
        if (!p->tasks_queued)
            break;
        sched_dispatch_worker(container_of(l, struct worker, pool_link));
    }
}

void sched_task_done(struct task *t, uint8_t *rbuf, size_t off, size_t len)
{
    struct job *j = t->job;
    wire_items_unref(t->items);
    t->items = NULL;
    j->running--;
    if (j->forgotten) {
        free(rbuf);
        sched_task_free(t);
        job_maybe_free(j);
        return;
    }
    push_result(j, t, rbuf, off, len);
}

void sched_task_fail(struct task *t, const struct wire_error *e, const void *out,
                     size_t out_len, const void *err, size_t err_len)
{
    struct job *j = t->job;
    uint64_t first = t->first, count = t->count;
    j->running--;
    sched_task_free(t);
    if (j->forgotten) {
        job_maybe_free(j);
        return;
    }
    fail_range(j, first, count, e, out, out_len, err, err_len);
}

void sched_task_requeue(struct task *t)
{
    struct job *j = t->job;
    if (j->forgotten) {
        j->running--;
        sched_task_free(t);
        job_maybe_free(j);
        return;
    }
    struct wire_error e;
    char msg[512];
    if (job_blocked(j, &e, msg, sizeof msg)) {
        sched_task_fail(t, &e, NULL, 0, NULL, 0);
        return;
    }
    j->running--;
    list_push_front(&j->requeued, &t->link);
    j->queued_tasks++;
    j->pool->tasks_queued++;
    if (!list_linked(&j->rr_link))
        list_push_front(&j->pool->rr, &j->rr_link);
}

static void job_expire(struct job *j)
{
    j->expired = true;
    struct wire_error e = { .status = WS_ETIMEDOUT, .message = "job deadline passed" };
    if (j->queued_tasks)
        sched_job_fail_queued(j, &e);
    /* Workers running its tasks are killed; the death handler fails those
     * tasks with ETIMEDOUT and re-queues the others. */
    if (j->running && j->pool) {
        list_for_each (l, &j->pool->workers) {
            struct worker *w = container_of(l, struct worker, pool_link);
            list_for_each (m, &w->inflight) {
                if (container_of(m, struct task, link)->job == j) {
                    worker_kill(w, KILL_DEADLINE);
                    break;
                }
            }
        }
    }
    job_changed(j);
}

uint64_t sched_tick(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    list_for_each_safe (l, tmp, &deadline_jobs) {
        struct job *j = container_of(l, struct job, deadline_link);
        if (j->forgotten || sched_job_complete(j)) {
            list_del(l);
            continue;
        }
        if (j->deadline <= now) {
            list_del(l);
            job_expire(j);
        } else if (j->deadline < next) {
            next = j->deadline;
        }
    }
    return next;
}
