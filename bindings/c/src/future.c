/* future.c - apply_async / map_async and the client's collector thread.
 *
 * The collector thread is started by the first async submit. While async
 * jobs are outstanding it long-polls Collect{job_ids=[]} (1 s at a time),
 * writes each batch's output, routes the batches to their futures by job
 * id, marks finished futures ready (broadcast on c->future_cv) and then runs
 * their callbacks with c->mu released. With nothing outstanding it sleeps
 * on c->collector_cv. If the daemon goes away every outstanding future
 * becomes ready with PP_ECONNRESET.
 *
 * All future fields are guarded by c->mu.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "internal.h"

struct pp_future {
    pp_client *client;
    uint64_t job;
    bool is_apply;            /* the result is the single item, not the LIST */
    job_results jr;
    bool ready;
    pp_status status;
    error_rec err;
    pp_error view;            /* pp_future_error's answer, filled when ready */
    pp_value *result;
    pp_callback cb;
    void *cb_arg;
    bool cb_running;
    bool listed;              /* in client->async_jobs */
};

/* ---- the table of outstanding async jobs (c->mu held) ------------------ */

static int list_add(future_list *l, pp_future *f)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        pp_future **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = f;
    return 0;
}

static void list_remove(future_list *l, pp_future *f)
{
    for (size_t i = 0; i < l->len; i++) {
        if (l->items[i] == f) {
            l->items[i] = l->items[--l->len];
            return;
        }
    }
}

static pp_future *list_find(future_list *l, uint64_t job)
{
    for (size_t i = l->len; i-- > 0;)
        if (l->items[i]->job == job)
            return l->items[i];
    return NULL;
}

/* Marks f ready from its job's results (c->mu held). */
static void future_settle(pp_future *f)
{
    pp_value *list = NULL;
    pp_status st = job_results_finish(&f->jr, &list);
    if (st == PP_OK) {
        if (f->is_apply) {
            f->result = list->u.c.len ? list->u.c.items[0] : value_new(PP_NULL);
            if (list->u.c.len)
                list->u.c.items[0] = NULL;
            pp_value_free(list);
        } else {
            f->result = list;
        }
    } else {
        error_rec_fini(&f->err);
        f->err = f->jr.first_error;
        memset(&f->jr.first_error, 0, sizeof f->jr.first_error);
        f->err.status = st;
        error_rec_view(&f->err, &f->view);
    }
    f->status = st;
    f->ready = true;
}

static void future_fail(pp_future *f, pp_status st, const char *msg)
{
    error_rec_set(&f->err, st, msg);
    error_rec_view(&f->err, &f->view);
    f->status = st;
    f->ready = true;
}

/* ---- the collector ----------------------------------------------------- */

typedef struct cb_list {
    pp_future **items;
    size_t len, cap;
} cb_list;

static void cb_push(cb_list *l, pp_future *f)
{
    if (!f->cb)
        return;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        pp_future **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return;     /* out of memory: the callback is lost, the future is still ready */
        l->items = items;
        l->cap = cap;
    }
    f->cb_running = true;
    l->items[l->len++] = f;
}

static void run_callbacks(pp_client *c, cb_list *l)
{
    if (l->len == 0)
        return;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < l->len; i++)
        l->items[i]->cb(l->items[i], l->items[i]->cb_arg);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < l->len; i++)
        l->items[i]->cb_running = false;
    l->len = 0;
    pthread_cond_broadcast(&c->future_cv);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void *collector_main(void *arg)
{
    pp_client *c = arg;
    cb_list cbs = {0};
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->collector_stop && c->async_jobs.len == 0)
            pthread_cond_wait(&c->collector_cv, &c->mu);
        if (c->collector_stop)
            break;
        pthread_mutex_unlock(&c->mu);

        Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
        Polypool__V1__Collect col = POLYPOOL__V1__COLLECT__INIT;
        col.timeout_ms = 1000;
        req.op_case = POLYPOOL__V1__REQUEST__OP_COLLECT;
        req.collect = &col;
        Polypool__V1__Reply *r = NULL;
        pp_status st = client_rpc(c, &req, 1000, &r);

        const Polypool__V1__CollectReply *cr = NULL;
        if (st == PP_OK && r->result_case == POLYPOOL__V1__REPLY__RESULT_COLLECT)
            cr = r->collect;
        /* Outputs first, outside the lock: they go to user code. */
        if (cr)
            for (size_t i = 0; i < cr->n_batches; i++)
                client_output(c, &cr->batches[i]->out, &cr->batches[i]->err);

        pthread_mutex_lock(&c->mu);
        if (st == PP_ECONNRESET || st == PP_EFORKED || atomic_load(&c->lost)) {
            if (c->collector_stop)
                break;
            const char *msg = pp_last_error()->message;
            while (c->async_jobs.len) {
                pp_future *f = c->async_jobs.items[c->async_jobs.len - 1];
                c->async_jobs.len--;
                f->listed = false;
                future_fail(f, PP_ECONNRESET, *msg ? msg : "the polypool daemon went away");
                cb_push(&cbs, f);
            }
            pthread_cond_broadcast(&c->future_cv);
            run_callbacks(c, &cbs);
            continue;
        }
        if (st != PP_OK) {
            /* A timeout or a daemon-side hiccup: try again shortly. */
            client_reply_free(r);
            if (st != PP_ETIMEDOUT) {
                pthread_mutex_unlock(&c->mu);
                sleep_ms(50);
                pthread_mutex_lock(&c->mu);
            }
            continue;
        }
        if (cr) {
            for (size_t i = 0; i < cr->n_batches; i++) {
                const Polypool__V1__ResultBatch *b = cr->batches[i];
                pp_future *f = list_find(&c->async_jobs, b->job_id);
                if (f)
                    job_results_add(&f->jr, b);
            }
            for (size_t i = 0; i < cr->n_done; i++) {
                pp_future *f = list_find(&c->async_jobs, cr->done[i]);
                if (!f)
                    continue;
                list_remove(&c->async_jobs, f);
                f->listed = false;
                future_settle(f);
                cb_push(&cbs, f);
            }
        }
        client_reply_free(r);
        pthread_cond_broadcast(&c->future_cv);
        run_callbacks(c, &cbs);
    }
    pthread_mutex_unlock(&c->mu);
    free(cbs.items);
    return NULL;
}

void future_collector_stop(pp_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool started = c->collector_started;
    c->collector_stop = true;
    pthread_cond_broadcast(&c->collector_cv);
    pthread_mutex_unlock(&c->mu);
    if (started)
        pthread_join(c->collector, NULL);
    pthread_mutex_lock(&c->mu);
    c->collector_started = false;
    pthread_mutex_unlock(&c->mu);
}

/* ---- submitting -------------------------------------------------------- */

static bool is_seq(const pp_value *v)
{
    return v && (v->kind == PP_LIST || v->kind == PP_TUPLE);
}

static pp_status future_submit(pp_pool *p, const pp_func *f, const pp_value *items,
                               size_t chunksize, bool star, bool is_apply, int timeout_ms,
                               pp_callback cb, void *cb_arg, pp_future **out)
{
    pp_client *c = p->client;
    if (pool_check_open(p) != PP_OK)
        return PP_ECLOSED;
    pp_future *fut = calloc(1, sizeof *fut);
    if (!fut)
        goto nomem;
    fut->client = c;
    fut->job = client_job_id(c);
    fut->is_apply = is_apply;
    fut->cb = cb;
    fut->cb_arg = cb_arg;
    size_t n = pp_value_len(items);
    if (job_results_init(&fut->jr, fut->job, n) != PP_OK) {
        free(fut);
        goto nomem;
    }
    if (n == 0) {
        /* Nothing to run: ready at once; the callback runs here. */
        pthread_mutex_lock(&c->mu);
        future_settle(fut);
        pthread_mutex_unlock(&c->mu);
        *out = fut;
        if (cb)
            cb(fut, cb_arg);
        return PP_OK;
    }

    /* List the job before submitting so the collector routes its first
     * results, and start the collector if it is not running. */
    pthread_mutex_lock(&c->mu);
    if (list_add(&c->async_jobs, fut) != 0) {
        pthread_mutex_unlock(&c->mu);
        job_results_fini(&fut->jr);
        free(fut);
        goto nomem;
    }
    fut->listed = true;
    if (!c->collector_started) {
        c->collector_stop = false;
        if (pthread_create(&c->collector, NULL, collector_main, c) != 0) {
            list_remove(&c->async_jobs, fut);
            pthread_mutex_unlock(&c->mu);
            job_results_fini(&fut->jr);
            free(fut);
            error_set(PP_ENOMEM, "cannot start the collector thread");
            return PP_ENOMEM;
        }
        c->collector_started = true;
    }
    pthread_mutex_unlock(&c->mu);

    pp_status st = job_submit_list(p, f, fut->job, items, chunksize, star, false, true,
                                   timeout_ms, NULL);
    pthread_mutex_lock(&c->mu);
    if (st != PP_OK) {
        if (fut->listed)
            list_remove(&c->async_jobs, fut);
        pthread_mutex_unlock(&c->mu);
        job_results_fini(&fut->jr);
        free(fut);
        return st;
    }
    pthread_cond_broadcast(&c->collector_cv);
    pthread_mutex_unlock(&c->mu);
    *out = fut;
    return PP_OK;

nomem:
    error_set(PP_ENOMEM, "out of memory");
    return PP_ENOMEM;
}

pp_status pp_pool_apply_async(pp_pool *p, const pp_func *f, const pp_value *args,
                              pp_callback cb, void *cb_arg, pp_future **out)
{
    if (!p || !f || !out || (args && !is_seq(args))) {
        error_set(PP_EINVAL, "pp_pool_apply_async: need a pool, a function, args as a LIST "
                             "(or NULL) and an out pointer");
        return PP_EINVAL;
    }
    pp_value empty = {.kind = PP_LIST};
    pp_value *one[1] = {(pp_value *)(args ? args : &empty)};
    pp_value items = {.kind = PP_LIST};
    items.u.c.items = one;
    items.u.c.len = 1;
    items.u.c.cap = 1;
    return future_submit(p, f, &items, 1, true, true, 0, cb, cb_arg, out);
}

pp_status pp_pool_map_async(pp_pool *p, const pp_func *f, const pp_value *items,
                            const pp_map_opts *opts, pp_callback cb, void *cb_arg,
                            pp_future **out)
{
    if (!p || !f || !out || !is_seq(items)) {
        error_set(PP_EINVAL, "pp_pool_map_async: need a pool, a function, a LIST of items "
                             "and an out pointer");
        return PP_EINVAL;
    }
    pp_map_opts o = {0};
    if (opts)
        o = *opts;
    size_t n = pp_value_len(items);
    size_t chunk = o.chunksize ? o.chunksize : pp_default_chunksize(n, p->size);
    return future_submit(p, f, items, chunk, o.star, false, o.timeout_ms, cb, cb_arg, out);
}

/* ---- waiting ----------------------------------------------------------- */

/* Waits for f->ready with c->mu held. Returns false on timeout. */
static bool wait_ready(pp_future *f, int timeout_ms)
{
    pp_client *c = f->client;
    if (f->ready)
        return true;
    if (timeout_ms == 0)
        return false;
    struct timespec ts;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    while (!f->ready) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&c->future_cv, &c->mu);
        } else if (pthread_cond_timedwait(&c->future_cv, &c->mu, &ts) == ETIMEDOUT) {
            return f->ready;
        }
    }
    return true;
}

pp_status pp_future_wait(pp_future *f, int timeout_ms)
{
    if (!f) {
        error_set(PP_EINVAL, "pp_future_wait: NULL future");
        return PP_EINVAL;
    }
    pthread_mutex_lock(&f->client->mu);
    bool ok = wait_ready(f, timeout_ms);
    pthread_mutex_unlock(&f->client->mu);
    if (!ok) {
        error_set(PP_ETIMEDOUT, "the future was not ready within %d ms", timeout_ms);
        return PP_ETIMEDOUT;
    }
    return PP_OK;
}

pp_status pp_future_get(pp_future *f, int timeout_ms, pp_value **result)
{
    if (!f) {
        error_set(PP_EINVAL, "pp_future_get: NULL future");
        return PP_EINVAL;
    }
    pp_client *c = f->client;
    pthread_mutex_lock(&c->mu);
    if (!wait_ready(f, timeout_ms)) {
        pthread_mutex_unlock(&c->mu);
        error_set(PP_ETIMEDOUT, "the future was not ready within %d ms", timeout_ms);
        return PP_ETIMEDOUT;
    }
    pp_status st = f->status;
    if (st != PP_OK) {
        error_raise(&f->err);
        pthread_mutex_unlock(&c->mu);
        return st;
    }
    pp_value *copy = NULL;
    if (result) {
        copy = pp_value_copy(f->result);
        if (!copy) {
            pthread_mutex_unlock(&c->mu);
            error_set(PP_ENOMEM, "out of memory copying the result");
            return PP_ENOMEM;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (result)
        *result = copy;
    return PP_OK;
}

bool pp_future_ready(const pp_future *f)
{
    if (!f)
        return false;
    pthread_mutex_lock(&f->client->mu);
    bool r = f->ready;
    pthread_mutex_unlock(&f->client->mu);
    return r;
}

pp_status pp_future_successful(const pp_future *f, bool *ok)
{
    if (!f || !ok) {
        error_set(PP_EINVAL, "pp_future_successful: NULL argument");
        return PP_EINVAL;
    }
    pthread_mutex_lock(&f->client->mu);
    bool ready = f->ready;
    bool good = f->status == PP_OK;
    pthread_mutex_unlock(&f->client->mu);
    if (!ready) {
        error_set(PP_EAGAIN, "the future is not ready yet");
        return PP_EAGAIN;
    }
    *ok = good;
    return PP_OK;
}

const pp_error *pp_future_error(const pp_future *f)
{
    if (!f)
        return NULL;
    pthread_mutex_lock(&f->client->mu);
    const pp_error *e = NULL;
    if (f->ready && f->status != PP_OK)
        e = &f->view;
    pthread_mutex_unlock(&f->client->mu);
    return e;
}

void pp_future_free(pp_future *f)
{
    if (!f)
        return;
    pp_client *c = f->client;
    pthread_mutex_lock(&c->mu);
    bool cancel = false;
    if (f->listed) {
        list_remove(&c->async_jobs, f);
        f->listed = false;
        cancel = true;
    }
    while (f->cb_running)
        pthread_cond_wait(&c->future_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (cancel && !atomic_load(&c->lost) && getpid() == c->pid)
        client_cancel_job(c, f->job);
    job_results_fini(&f->jr);
    pp_value_free(f->result);
    error_rec_fini(&f->err);
    free(f);
}
