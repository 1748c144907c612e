/* future.c - apply_async / map_async and the client's collector thread.
 *
 * Submitting. apply_async and map_async pack their Submit and queue it in
 * the client's outbox, then return: no round trip. The collector thread
 * sends everything queued as ONE SubmitBatch whenever no batch is in
 * flight, so submissions batch themselves under load and go out at once
 * when idle. The batch reply settles the futures whose submission failed
 * (with the daemon's status and detail); the others wait for results. A
 * map_async too big for one message is still submitted synchronously by
 * the calling thread.
 *
 * Collecting. While submitted async jobs are outstanding the collector
 * long-polls Collect{job_ids=[]} (1 s at a time), writes each batch's
 * output, routes the batches to their futures through a hash map by job
 * id, marks finished futures ready (broadcast on c->future_cv) and then
 * runs their callbacks with c->mu released. The SubmitBatch and the
 * Collect are asynchronous calls (client_acall) in flight at the same
 * time; the collector sleeps on c->collector_cv between events. If the
 * daemon goes away every outstanding future, queued ones included,
 * becomes ready with PP_ECONNRESET.
 *
 * Invariants (c->mu guards every future field and the client tables):
 *  - A future is in c->async_jobs exactly while `listed`: from submit
 *    until it is settled or freed.
 *  - phase QUEUED: in the outbox with its packed Submit; SENDING: in the
 *    batch in flight (c->sending); SUBMITTED: the daemon has the job.
 *    c->n_unsent counts QUEUED and SENDING futures.
 *  - pp_future_free on a QUEUED or SENDING future only marks it `orphan`;
 *    the collector frees it (and cancels its job if the daemon took it),
 *    so pp_future_free never waits for a round trip.
 *  - Nothing is freed by the collector that the user can still reach.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "internal.h"

/* Submissions in flight on the collector's batch, and how long the
 * daemon gets to answer a batch. */
#define SUBMIT_TIMEOUT_MS 30000

enum future_phase { F_QUEUED, F_SENDING, F_SUBMITTED };

struct pp_future {
    pp_client *client;
    uint64_t job;
    uint64_t pool_id;         /* the pool it was submitted to */
    uint64_t env_sent;        /* the PyEnv id its Submit carries, or 0 */
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
    enum future_phase phase;
    bool orphan;              /* freed by the user while QUEUED or SENDING */
    uint64_t seq;             /* its place among the client's queued submissions */
    uint8_t *sub;             /* QUEUED/SENDING: the packed Submit */
    size_t sub_len;
    pp_future *next;          /* outbox or batch in flight */
};

/* ---- futures by job id (c->mu held) ------------------------------------ */

static size_t map_slot(const future_map *m, uint64_t key)
{
    /* Fibonacci hashing: job ids are sequential. */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

static pp_future *map_get(const future_map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = map_slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return NULL;
    }
}

static int map_grow(future_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    pp_future **vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    future_map n = { keys, vals, cap, 0 };
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = map_slot(&n, m->keys[i]);
        while (n.keys[j])
            j = (j + 1) & (cap - 1);
        n.keys[j] = m->keys[i];
        n.vals[j] = m->vals[i];
        n.count++;
    }
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

static int map_put(future_map *m, uint64_t key, pp_future *f)
{
    if ((m->count + 1) * 2 > m->cap && map_grow(m) < 0)
        return -1;
    size_t i = map_slot(m, key);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->count++;
    m->keys[i] = key;
    m->vals[i] = f;
    return 0;
}

static void map_del(future_map *m, uint64_t key)
{
    if (!m->cap)
        return;
    size_t i = map_slot(m, key);
    while (m->keys[i] != key) {
        if (!m->keys[i])
            return;
        i = (i + 1) & (m->cap - 1);
    }
    /* Backward-shift deletion: no tombstones. */
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
        size_t home = map_slot(m, m->keys[j]);
        /* Move j into the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->count--;
}

static void unlist(pp_client *c, pp_future *f)
{
    if (f->listed) {
        map_del(&c->async_jobs, f->job);
        f->listed = false;
    }
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

static void future_destroy(pp_future *f)
{
    job_results_fini(&f->jr);
    pp_value_free(f->result);
    error_rec_fini(&f->err);
    free(f->sub);
    free(f);
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

/* The collector's own state, beside the client's (c->mu held). */
typedef struct collector {
    pp_client *c;
    cb_list cbs;
    pp_future *sending;       /* the batch in flight, in order */
    uint64_t *cancel;         /* jobs of orphans the daemon took: cancel them */
    size_t n_cancel, cap_cancel;
} collector;

static void note_cancel(collector *k, uint64_t job)
{
    if (k->n_cancel == k->cap_cancel) {
        size_t cap = k->cap_cancel ? k->cap_cancel * 2 : 16;
        uint64_t *n = realloc(k->cancel, cap * sizeof *n);
        if (!n)
            return;   /* the daemon runs it for nothing and drops the results */
        k->cancel = n;
        k->cap_cancel = cap;
    }
    k->cancel[k->n_cancel++] = job;
}

/* A QUEUED or SENDING future leaves the outbox side: freed if orphaned,
 * else failed with st (when st != PP_OK) or moved to SUBMITTED. */
static void unsent_done(collector *k, pp_future *f, pp_status st, const char *msg)
{
    pp_client *c = k->c;
    c->n_unsent--;
    /* Batches go out and come back in order. */
    if (f->seq > c->acked_seq) {
        c->acked_seq = f->seq;
        pthread_cond_broadcast(&c->future_cv);
    }
    free(f->sub);
    f->sub = NULL;
    f->next = NULL;
    if (f->orphan) {
        /* A job already complete has nothing left to cancel. */
        if (st == PP_OK && f->listed)
            note_cancel(k, f->job);
        unlist(c, f);
        future_destroy(f);
        return;
    }
    if (st == PP_OK) {
        f->phase = F_SUBMITTED;
        return;
    }
    unlist(c, f);
    f->phase = F_SUBMITTED;
    future_fail(f, st, msg);
    cb_push(&k->cbs, f);
}

/* Takes what fits in one request from the outbox and packs the
 * SubmitBatch: Request{id = 1, submit_batch = 20 {jobs = 1 ...}}, written
 * around the Submits packed at submit time. NULL when nothing is left
 * (orphans are dropped here). */
static nng_msg *take_batch(collector *k, uint64_t *req_id)
{
    pp_client *c = k->c;
    size_t budget = client_submit_budget(c);
    pp_future **tail = &k->sending;
    size_t body = 0;
    while (c->outbox) {
        pp_future *f = c->outbox;
        if (f->orphan) {
            c->outbox = f->next;
            unsent_done(k, f, PP_ECANCELED, NULL);
            continue;
        }
        size_t item = 1 + codec_varint_size(f->sub_len) + f->sub_len;
        if (body && body + item > budget)
            break;
        c->outbox = f->next;
        f->next = NULL;
        f->phase = F_SENDING;
        *tail = f;
        tail = &f->next;
        body += item;
    }
    if (!c->outbox)
        c->outbox_tail = NULL;
    if (!k->sending)
        return NULL;
    *req_id = client_request_id(c);
    size_t total = 1 + codec_varint_size(*req_id) + 2 + codec_varint_size(body) + body;
    nng_msg *msg;
    if (nng_msg_alloc(&msg, total) != 0)
        return NULL;
    uint8_t *p = nng_msg_body(msg);
    *p++ = (1 << 3) | 0;
    p = codec_put_varint(p, *req_id);
    p = codec_put_varint(p, (20 << 3) | 2);   /* a two-byte tag */
    p = codec_put_varint(p, body);
    for (pp_future *f = k->sending; f; f = f->next) {
        *p++ = (1 << 3) | 2;
        p = codec_put_varint(p, f->sub_len);
        memcpy(p, f->sub, f->sub_len);
        p += f->sub_len;
    }
    return msg;
}

/* The batch in flight is answered (or failed with st): settle each job. */
static void batch_done(collector *k, pp_status st, const Polypool__V1__Reply *r)
{
    const char *msg = st != PP_OK ? pp_last_error()->message : NULL;
    const Polypool__V1__SubmitBatchReply *br = NULL;
    if (st == PP_OK && r->status != POLYPOOL__V1__STATUS__STATUS_OK) {
        st = (unsigned)r->status > PP_STATUS_MAX ? PP_EPROTO : (pp_status)r->status;
        msg = r->detail && *r->detail ? r->detail : pp_strerror(st);
    } else if (st == PP_OK) {
        if (r->result_case == POLYPOOL__V1__REPLY__RESULT_SUBMIT_BATCH)
            br = r->submit_batch;
        if (!br) {
            st = PP_EPROTO;
            msg = "the daemon answered a SubmitBatch without a SubmitBatchReply";
        }
    }
    size_t i = 0;
    while (k->sending) {
        pp_future *f = k->sending;
        k->sending = f->next;
        pp_status fst = st;
        const char *fmsg = msg;
        if (br) {
            const Polypool__V1__SubmitResult *sr = i < br->n_results ? br->results[i] : NULL;
            if (!sr || sr->job_id != f->job) {
                fst = PP_EPROTO;
                fmsg = "the daemon's SubmitBatchReply does not match the batch";
            } else if (sr->status != POLYPOOL__V1__STATUS__STATUS_OK) {
                fst = (unsigned)sr->status > PP_STATUS_MAX ? PP_EPROTO : (pp_status)sr->status;
                fmsg = sr->detail && *sr->detail ? sr->detail : pp_strerror(fst);
            }
        }
        i++;
        if (br)
            client_env_ack_locked(k->c, f->env_sent);
        /* A reply lost to a timeout leaves the daemon's side unknown:
         * cancel the job there in case it was taken. */
        if (fst == PP_ETIMEDOUT && !f->orphan)
            note_cancel(k, f->job);
        unsent_done(k, f, fst, fmsg ? fmsg : pp_strerror(fst));
    }
}

/* Every outstanding future fails with PP_ECONNRESET (the daemon is gone). */
static void fail_all(collector *k, const char *msg)
{
    pp_client *c = k->c;
    while (k->sending) {
        pp_future *f = k->sending;
        k->sending = f->next;
        unsent_done(k, f, PP_ECONNRESET, msg);
    }
    while (c->outbox) {
        pp_future *f = c->outbox;
        c->outbox = f->next;
        unsent_done(k, f, PP_ECONNRESET, msg);
    }
    c->outbox_tail = NULL;
    k->n_cancel = 0;
    future_map *m = &c->async_jobs;
    for (size_t i = 0; i < m->cap; i++) {
        pp_future *f = m->vals[i];
        if (!f)
            continue;
        f->listed = false;
        future_fail(f, PP_ECONNRESET, msg);
        cb_push(&k->cbs, f);
    }
    if (m->cap) {
        memset(m->keys, 0, m->cap * sizeof *m->keys);
        memset(m->vals, 0, m->cap * sizeof *m->vals);
    }
    m->count = 0;
}

/* Routes a CollectReply to the futures (c->mu held). */
static void route_results(collector *k, const Polypool__V1__CollectReply *cr)
{
    pp_client *c = k->c;
    for (size_t i = 0; i < cr->n_batches; i++) {
        const Polypool__V1__ResultBatch *b = cr->batches[i];
        pp_future *f = map_get(&c->async_jobs, b->job_id);
        if (f)
            job_results_add(&f->jr, b);
    }
    for (size_t i = 0; i < cr->n_done; i++) {
        pp_future *f = map_get(&c->async_jobs, cr->done[i]);
        if (!f)
            continue;
        unlist(c, f);
        future_settle(f);
        cb_push(&k->cbs, f);
    }
}

/* Sends one Cancel for the noted jobs (c->mu held; released meanwhile). */
static void send_cancels(collector *k)
{
    pp_client *c = k->c;
    if (!k->n_cancel)
        return;
    uint64_t *ids = k->cancel;
    size_t n = k->n_cancel;
    k->cancel = NULL;
    k->n_cancel = k->cap_cancel = 0;
    pthread_mutex_unlock(&c->mu);
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Cancel cancel = POLYPOOL__V1__CANCEL__INIT;
    cancel.n_job_ids = n;
    cancel.job_ids = ids;
    req.op_case = POLYPOOL__V1__REQUEST__OP_CANCEL;
    req.cancel = &cancel;
    Polypool__V1__Reply *r = NULL;
    if (client_call(c, &req, 5000, &r) == PP_OK)
        client_reply_free(r);
    free(ids);
    pthread_mutex_lock(&c->mu);
}

static void *collector_main(void *arg)
{
    pp_client *c = arg;
    collector k = { .c = c };
    client_acall *sc = &c->submit_call, *cc = &c->collect_call;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->collector_stop)
            break;
        bool lost = atomic_load(&c->lost) || atomic_load(&c->closing);
        if (lost) {
            if (sc->busy || cc->busy) {
                /* Abort what is in flight and finish it below. */
                pthread_mutex_unlock(&c->mu);
                client_acall_abort(sc);
                client_acall_abort(cc);
                pthread_mutex_lock(&c->mu);
            } else if (c->async_jobs.count || c->outbox) {
                fail_all(&k, "the polypool daemon went away");
                pthread_cond_broadcast(&c->future_cv);
                run_callbacks(c, &k.cbs);
                continue;
            }
        }
        bool progress = false;

        /* The batch in flight is answered. */
        if (sc->busy && sc->done) {
            pthread_mutex_unlock(&c->mu);
            Polypool__V1__Reply *r = NULL;
            pp_status st = client_acall_finish(sc, &r);
            pthread_mutex_lock(&c->mu);
            batch_done(&k, st, r);
            client_reply_free(r);
            pthread_cond_broadcast(&c->future_cv);
            progress = true;
        }
        /* Send what queued up meanwhile, all of it in one request. */
        if (!sc->busy && c->outbox && !lost) {
            uint64_t id = 0;
            nng_msg *msg = take_batch(&k, &id);
            if (msg) {
                pthread_mutex_unlock(&c->mu);
                pp_status st = client_acall_start(sc, msg, id, SUBMIT_TIMEOUT_MS);
                pthread_mutex_lock(&c->mu);
                if (st != PP_OK) {
                    nng_msg_free(msg);
                    batch_done(&k, st, NULL);
                }
            } else if (k.sending) {
                error_set(PP_ENOMEM, "out of memory packing a SubmitBatch");
                batch_done(&k, PP_ENOMEM, NULL);
            }
            pthread_cond_broadcast(&c->future_cv);
            progress = true;
        }

        /* Results. */
        if (cc->busy && cc->done) {
            pthread_mutex_unlock(&c->mu);
            Polypool__V1__Reply *r = NULL;
            pp_status st = client_acall_finish(cc, &r);
            const Polypool__V1__CollectReply *cr = NULL;
            if (st == PP_OK && r->status == POLYPOOL__V1__STATUS__STATUS_OK &&
                r->result_case == POLYPOOL__V1__REPLY__RESULT_COLLECT)
                cr = r->collect;
            /* Outputs first, outside the lock: they go to user code. */
            if (cr)
                for (size_t i = 0; i < cr->n_batches; i++)
                    client_output(c, &cr->batches[i]->out, &cr->batches[i]->err);
            pthread_mutex_lock(&c->mu);
            if (cr) {
                route_results(&k, cr);
                pthread_cond_broadcast(&c->future_cv);
            }
            client_reply_free(r);
            if (st != PP_OK && st != PP_ETIMEDOUT && !atomic_load(&c->lost)) {
                /* A daemon-side hiccup: do not spin on it. */
                struct timespec ts = ts_after_ms(50);
                pthread_cond_timedwait(&c->collector_cv, &c->mu, &ts);
            }
            progress = true;
        }
        if (!cc->busy && c->async_jobs.count > c->n_unsent && !lost) {
            Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
            Polypool__V1__Collect col = POLYPOOL__V1__COLLECT__INIT;
            col.timeout_ms = 1000;
            req.op_case = POLYPOOL__V1__REQUEST__OP_COLLECT;
            req.collect = &col;
            pthread_mutex_unlock(&c->mu);
            nng_msg *msg = NULL;
            pp_status st = client_pack_request(c, &req, &msg);
            if (st == PP_OK && (st = client_acall_start(cc, msg, req.id, 1000)) != PP_OK)
                nng_msg_free(msg);
            pthread_mutex_lock(&c->mu);
            progress = st == PP_OK;
        }

        if (k.cbs.len) {
            run_callbacks(c, &k.cbs);
            progress = true;
        }
        if (k.n_cancel)
            send_cancels(&k);
        if (progress)
            continue;
        if (sc->busy || cc->busy || c->async_jobs.count) {
            /* Wake up now and then to notice a vanished daemon. */
            struct timespec ts = ts_after_ms(50);
            pthread_cond_timedwait(&c->collector_cv, &c->mu, &ts);
        } else {
            pthread_cond_wait(&c->collector_cv, &c->mu);
        }
    }
    /* Stopping (pp_client_close): abort what is in flight, wait for it. */
    while (sc->busy || cc->busy) {
        pthread_mutex_unlock(&c->mu);
        client_acall_abort(sc);
        client_acall_abort(cc);
        pthread_mutex_lock(&c->mu);
        while ((sc->busy && !sc->done) || (cc->busy && !cc->done))
            pthread_cond_wait(&c->collector_cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
        Polypool__V1__Reply *r = NULL;
        if (sc->busy) {
            client_acall_finish(sc, &r);
            client_reply_free(r);
            r = NULL;
        }
        if (cc->busy) {
            client_acall_finish(cc, &r);
            client_reply_free(r);
        }
        pthread_mutex_lock(&c->mu);
    }
    /* Orphans are ours to free; live futures are the user's (who must
     * free them before closing). */
    fail_all(&k, "the polypool client is closing");
    for (size_t i = 0; i < k.cbs.len; i++)
        k.cbs.items[i]->cb_running = false;
    k.cbs.len = 0;
    pthread_mutex_unlock(&c->mu);
    free(k.cbs.items);
    free(k.cancel);
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
    client_acall_fini(&c->submit_call);
    client_acall_fini(&c->collect_call);
}

void future_outbox_flush(pp_client *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->collector_started && !pthread_equal(pthread_self(), c->collector)) {
        uint64_t want = c->queued_seq;
        while (c->acked_seq < want && !atomic_load(&c->lost) && !atomic_load(&c->closing)) {
            struct timespec ts = ts_after_ms(50);
            pthread_cond_timedwait(&c->future_cv, &c->mu, &ts);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* True while a future the user still holds, submitted to pool_id, is not
 * ready (c->mu held). */
static bool pool_has_pending(const pp_client *c, uint64_t pool_id)
{
    const future_map *m = &c->async_jobs;
    for (size_t i = 0; i < m->cap; i++) {
        const pp_future *f = m->keys[i] ? m->vals[i] : NULL;
        if (f && f->pool_id == pool_id && !f->ready && !f->orphan)
            return true;
    }
    return false;
}

bool future_wait_pool(pp_client *c, uint64_t pool_id, int timeout_ms)
{
    struct timespec end = ts_after_ms(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&c->mu);
    bool pending;
    while ((pending = pool_has_pending(c, pool_id)) && timeout_ms != 0) {
        /* Wake at least every 50 ms: a lost connection fails the futures
         * from the collector, which broadcasts, but never wait blind. */
        struct timespec ts = ts_after_ms(50);
        if (timeout_ms > 0) {
            if (ts_before(&end, &ts))
                ts = end;
            struct timespec now = ts_after_ms(0);
            if (!ts_before(&now, &end))
                break;
        }
        pthread_cond_timedwait(&c->future_cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return !pending;
}

/* ---- submitting -------------------------------------------------------- */

static bool is_seq(const pp_value *v)
{
    return v && (v->kind == PP_LIST || v->kind == PP_TUPLE);
}

/* Starts the collector if it is not running (c->mu held). */
static pp_status collector_start(pp_client *c)
{
    if (c->collector_started)
        return PP_OK;
    if (!c->submit_call.ready && client_acall_init(c, &c->submit_call) != PP_OK)
        return PP_ENOMEM;
    if (!c->collect_call.ready && client_acall_init(c, &c->collect_call) != PP_OK)
        return PP_ENOMEM;
    c->collector_stop = false;
    if (pthread_create(&c->collector, NULL, collector_main, c) != 0) {
        error_set(PP_ENOMEM, "cannot start the collector thread");
        return PP_ENOMEM;
    }
    c->collector_started = true;
    return PP_OK;
}

/* Packs the whole job as one Submit for the outbox; PP_EMSGSIZE when it
 * does not fit in one request (the caller submits it the slow way). */
static pp_status pack_submit(pp_pool *p, const pp_func *f, uint64_t job, const pp_value *items,
                             size_t chunksize, bool star, int timeout_ms, uint8_t **out,
                             size_t *out_len, uint64_t *env_sent)
{
    codec_enc enc;
    codec_enc_init(&enc);
    size_t n = pp_value_len(items);
    for (size_t i = 0; i < n; i++) {
        pp_status st = codec_enc_value(&enc, items->u.c.items[i]);
        if (st != PP_OK) {
            error_set(st, "item %zu cannot be sent: %s", i,
                      st == PP_EINVAL ? "a handle or a tree nested too deeply"
                                      : "out of memory");
            codec_enc_fini(&enc);
            return st;
        }
    }
    Polypool__V1__Submit s = POLYPOOL__V1__SUBMIT__INIT;
    struct func_msg fm;
    Polypool__V1__Values vals;
    s.job_id = job;
    s.pool_id = p->id;
    *env_sent = func_to_msg(f, &fm, p->client);
    s.function = &fm.fn;
    codec_enc_msg(&enc, &vals);
    s.items = &vals;
    s.chunksize = chunksize > UINT32_MAX ? UINT32_MAX : (uint32_t)chunksize;
    s.star = star;
    s.async = true;
    if (timeout_ms > 0)
        s.timeout_ms = (uint64_t)timeout_ms;
    size_t len = polypool__v1__submit__get_packed_size(&s);
    pp_status st = PP_OK;
    if (len > client_submit_budget(p->client)) {
        st = PP_EMSGSIZE;
    } else if (!(*out = malloc(len ? len : 1))) {
        error_set(PP_ENOMEM, "out of memory");
        st = PP_ENOMEM;
    } else {
        *out_len = polypool__v1__submit__pack(&s, *out);
    }
    codec_enc_fini(&enc);
    return st;
}

static pp_status future_submit(pp_pool *p, const pp_func *f, const pp_value *items,
                               size_t chunksize, bool star, bool is_apply, int timeout_ms,
                               pp_callback cb, void *cb_arg, pp_future **out)
{
    pp_client *c = p->client;
    if (pool_check_open(p) != PP_OK)
        return PP_ECLOSED;
    if (getpid() != c->pid) {
        error_set(PP_EFORKED, "this polypool client was opened by process %d and cannot be "
                              "used in forked child %d", (int)c->pid, (int)getpid());
        return PP_EFORKED;
    }
    pp_future *fut = calloc(1, sizeof *fut);
    if (!fut)
        goto nomem;
    fut->client = c;
    fut->pool_id = p->id;
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
    /* Encoded here, on the caller's thread, so the collector only copies
     * bytes. */
    pp_status st = pack_submit(p, f, fut->job, items, chunksize, star, timeout_ms, &fut->sub,
                               &fut->sub_len, &fut->env_sent);
    if (st != PP_OK && st != PP_EMSGSIZE) {
        future_destroy(fut);
        return st;
    }
    bool queued = st == PP_OK;

    /* List the job before it can be sent so the collector routes its
     * first results, and start the collector if it is not running. */
    pthread_mutex_lock(&c->mu);
    if (map_put(&c->async_jobs, fut->job, fut) != 0) {
        pthread_mutex_unlock(&c->mu);
        future_destroy(fut);
        goto nomem;
    }
    fut->listed = true;
    if (collector_start(c) != PP_OK) {
        unlist(c, fut);
        pthread_mutex_unlock(&c->mu);
        future_destroy(fut);
        return PP_ENOMEM;
    }
    if (queued) {
        fut->phase = F_QUEUED;
        fut->seq = ++c->queued_seq;
        bool was_empty = !c->outbox;
        if (c->outbox_tail)
            c->outbox_tail->next = fut;
        else
            c->outbox = fut;
        c->outbox_tail = fut;
        c->n_unsent++;
        /* Only the first queued job needs to wake the collector; later
         * ones ride in the batch it sends or in the next one (the end of
         * the batch in flight wakes it too). */
        if (was_empty)
            pthread_cond_signal(&c->collector_cv);
        pthread_mutex_unlock(&c->mu);
        *out = fut;
        return PP_OK;
    }
    fut->phase = F_SUBMITTED;
    pthread_mutex_unlock(&c->mu);

    /* Too big for one message: feed it in several Submits from here. */
    st = job_submit_list(p, f, fut->job, items, chunksize, star, false, true, timeout_ms, NULL);
    pthread_mutex_lock(&c->mu);
    if (st != PP_OK) {
        unlist(c, fut);
        pthread_mutex_unlock(&c->mu);
        future_destroy(fut);
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
    struct timespec ts = ts_after_ms(timeout_ms > 0 ? timeout_ms : 0);
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
    while (f->cb_running)
        pthread_cond_wait(&c->future_cv, &c->mu);
    if (f->phase != F_SUBMITTED) {
        /* Still in the outbox or in the batch in flight: the collector
         * drops it (and cancels the job if the daemon took it). This holds
         * even when it is no longer listed: its results may all have come
         * (and been handed out) before the answer to the batch that
         * submitted it, which still refers to it. */
        f->orphan = true;
        pthread_cond_signal(&c->collector_cv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    bool cancel = f->listed;
    unlist(c, f);
    pthread_mutex_unlock(&c->mu);
    if (cancel && !atomic_load(&c->lost) && getpid() == c->pid)
        client_cancel_job(c, f->job);
    future_destroy(f);
}
