/* map.c - map, starmap, apply (blocking) and imap (lazy iterators).
 *
 * A job's results arrive as ResultBatches (first, count, values, errors),
 * in any order and possibly more than once; they are placed by index and a
 * repeated index is ignored. Every batch's stdout/stderr goes to the
 * client's output function before any of its results is handed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "internal.h"

/* ---- assembling results by index --------------------------------------- */

pp_status job_results_init(job_results *jr, uint64_t job_id, size_t n)
{
    memset(jr, 0, sizeof *jr);
    jr->job_id = job_id;
    jr->n = n;
    if (n) {
        jr->values = calloc(n, sizeof *jr->values);
        jr->have = calloc(n, 1);
        if (!jr->values || !jr->have) {
            free(jr->values);
            free(jr->have);
            jr->values = NULL;
            jr->have = NULL;
            return PP_ENOMEM;
        }
    }
    return PP_OK;
}

void job_results_fini(job_results *jr)
{
    if (jr->values) {
        for (size_t i = 0; i < jr->n; i++)
            pp_value_free(jr->values[i]);
        free(jr->values);
    }
    free(jr->have);
    error_rec_fini(&jr->first_error);
    memset(jr, 0, sizeof *jr);
}

static void jr_fail(job_results *jr, pp_status st, const char *msg)
{
    if (jr->failed)
        return;
    jr->failed = true;
    error_rec_set(&jr->first_error, st, msg);
}

pp_status job_results_add(job_results *jr, const Polypool__V1__ResultBatch *b)
{
    if (b->first > jr->n || b->count > jr->n - b->first) {
        jr_fail(jr, PP_EPROTO, "a result batch names items outside its job");
        return PP_EPROTO;
    }
    /* The results go into one list, freed together: slabs fit them. */
    codec_dec d;
    codec_dec_init(&d, b->values);
    codec_dec_use_slabs(&d);
    for (uint64_t k = 0; k < b->count; k++) {
        pp_value *v = NULL;
        pp_status st = b->values ? codec_dec_next(&d, &v) : PP_OK;
        if (st == PP_OK && !v)
            v = value_new(PP_NULL);
        if (st != PP_OK || !v) {
            codec_dec_fini(&d);
            st = st == PP_OK ? PP_ENOMEM : st;
            if (st == PP_EEOF)
                st = PP_EPROTO;
            jr_fail(jr, st, st == PP_ENOMEM ? "out of memory decoding results"
                                            : "a result batch has malformed values");
            return st;
        }
        size_t idx = (size_t)(b->first + k);
        if (jr->have[idx]) {          /* a duplicate: keep the first */
            pp_value_free(v);
            continue;
        }
        jr->values[idx] = v;
        jr->have[idx] = 1;
        jr->received++;
    }
    if (b->values) {
        pp_value *extra = NULL;
        pp_status st = codec_dec_next(&d, &extra);
        codec_dec_fini(&d);
        if (st != PP_EEOF) {
            pp_value_free(extra);
            jr_fail(jr, PP_EPROTO, "a result batch has more values than items");
            return PP_EPROTO;
        }
    }
    for (size_t e = 0; e < b->n_errors; e++) {
        if (!jr->failed) {
            jr->failed = true;
            error_rec_from_task(&jr->first_error, b->errors[e]);
        }
    }
    return PP_OK;
}

pp_status job_results_finish(job_results *jr, pp_value **list)
{
    if (jr->failed)
        return jr->first_error.status;
    if (jr->received < jr->n) {
        jr_fail(jr, PP_EPROTO, "the job finished with results missing");
        return PP_EPROTO;
    }
    pp_value *l = value_new(PP_LIST);
    if (!l) {
        jr_fail(jr, PP_ENOMEM, "out of memory");
        return PP_ENOMEM;
    }
    l->u.c.items = jr->values;
    l->u.c.len = jr->n;
    l->u.c.cap = jr->n;
    jr->values = NULL;
    *list = l;
    return PP_OK;
}

/* Writes the outputs, then takes the batches of jr's job. */
static pp_status absorb(pp_client *c, job_results *jr, const Polypool__V1__CollectReply *cr)
{
    if (!cr)
        return PP_OK;
    for (size_t i = 0; i < cr->n_batches; i++) {
        const Polypool__V1__ResultBatch *b = cr->batches[i];
        if (b->job_id != jr->job_id)
            continue;
        client_output(c, &b->out, &b->err);
        pp_status st = job_results_add(jr, b);
        if (st != PP_OK)
            return st;
    }
    for (size_t i = 0; i < cr->n_done; i++)
        if (cr->done[i] == jr->job_id)
            jr->done = true;
    return PP_OK;
}

/* ---- submitting -------------------------------------------------------- */

static inline size_t varint_size(uint64_t v)
{
    /* ceil(significant bits / 7), at least 1, without a loop */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    return (bits * 9 + 64) / 64;
}

/* Roughly the packed size of what the encoder holds beyond the marks. */
typedef struct enc_mark {
    size_t k, i, r, b, c;
    size_t bytes;
} enc_mark;

static void enc_measure(const codec_enc *e, enc_mark *m)
{
    m->bytes += (e->n_kinds - m->k) + (e->n_reals - m->r) * 8 + (e->n_counts - m->c) * 5;
    for (size_t j = m->i; j < e->n_ints; j++) {
        int64_t x = e->ints[j];
        m->bytes += varint_size(((uint64_t)x << 1) ^ (uint64_t)(x >> 63));
    }
    for (size_t j = m->b; j < e->n_blobs; j++)
        m->bytes += e->blobs[j].len + 1 + varint_size(e->blobs[j].len);
    m->k = e->n_kinds;
    m->i = e->n_ints;
    m->r = e->n_reals;
    m->b = e->n_blobs;
    m->c = e->n_counts;
}

static pp_status submit_one(pp_pool *p, const pp_func *f, uint64_t job, codec_enc *enc,
                            size_t chunksize, bool star, bool more, bool wait, bool async,
                            int timeout_ms, Polypool__V1__Reply **reply)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Submit s = POLYPOOL__V1__SUBMIT__INIT;
    struct func_msg fm;
    Polypool__V1__Values vals;
    uint64_t env_sent = 0;
    s.job_id = job;
    s.pool_id = p->id;
    if (f) {
        env_sent = func_to_msg(f, &fm, p->client);
        s.function = &fm.fn;
    }
    codec_enc_msg(enc, &vals);
    s.items = &vals;
    s.chunksize = chunksize > UINT32_MAX ? UINT32_MAX : (uint32_t)chunksize;
    s.star = star;
    s.more = more;
    s.wait = wait;
    s.async = async;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    req.submit = &s;
    if (timeout_ms > 0)
        req.timeout_ms = (uint64_t)timeout_ms;
    int client_timeout = wait ? (timeout_ms > 0 ? timeout_ms : -1) : 30000;
    pp_status st = client_rpc(p->client, &req, client_timeout, reply);
    /* Any answer means the daemon decoded the request and its PyEnv. */
    if (st == PP_OK)
        client_env_ack(p->client, env_sent);
    return st;
}

pp_status job_submit_list(pp_pool *p, const pp_func *f, uint64_t job, const pp_value *items,
                          size_t chunksize, bool star, bool wait, bool async, int timeout_ms,
                          Polypool__V1__Reply **reply_out)
{
    size_t n = pp_value_len(items);
    size_t budget = client_submit_budget(p->client);
    codec_enc enc;
    codec_enc_init(&enc);
    size_t i = 0;
    bool first = true;
    pp_status st = PP_OK;
    for (;;) {
        codec_enc_reset(&enc);
        enc_mark m = {0};
        while (i < n) {
            const pp_value *x = items->u.c.items[i];
            st = codec_enc_value(&enc, x);
            if (st != PP_OK) {
                error_set(st, "item %zu cannot be sent: %s", i,
                          st == PP_EINVAL ? "a handle or a tree nested too deeply"
                                          : "out of memory");
                goto fail;
            }
            i++;
            if (x && x->kind == PP_INT) {
                /* what enc_measure would add for one kind and one int */
                m.bytes += 1 + varint_size(((uint64_t)x->u.i << 1) ^ (uint64_t)(x->u.i >> 63));
                m.k++;
                m.i++;
            } else {
                enc_measure(&enc, &m);
            }
            if (m.bytes >= budget)
                break;
        }
        bool last = i == n;
        Polypool__V1__Reply *r = NULL;
        st = submit_one(p, first ? f : NULL, job, &enc, chunksize, star, !last, last && wait,
                        async, timeout_ms, &r);
        if (st != PP_OK)
            goto fail;
        first = false;
        if (last) {
            if (reply_out)
                *reply_out = r;
            else
                client_reply_free(r);
            break;
        }
        client_reply_free(r);
    }
    codec_enc_fini(&enc);
    return PP_OK;

fail:
    codec_enc_fini(&enc);
    if (!first) {
        /* Part of the input is in: do not leave a half-fed job behind. */
        error_rec saved = {0};
        error_rec_from_last(&saved);
        client_cancel_job(p->client, job);
        error_raise(&saved);
        error_rec_fini(&saved);
    }
    return st;
}

/* ---- collecting -------------------------------------------------------- */

static pp_status collect(pp_client *c, const uint64_t *ids, size_t n_ids, int wait_ms,
                         Polypool__V1__Reply **reply)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Collect col = POLYPOOL__V1__COLLECT__INIT;
    col.n_job_ids = n_ids;
    col.job_ids = (uint64_t *)ids;
    col.timeout_ms = wait_ms > 0 ? (uint32_t)wait_ms : 0;
    req.op_case = POLYPOOL__V1__REQUEST__OP_COLLECT;
    req.collect = &col;
    return client_rpc(c, &req, wait_ms > 0 ? wait_ms : 0, reply);
}

static const Polypool__V1__CollectReply *reply_results(const Polypool__V1__Reply *r)
{
    if (r->result_case == POLYPOOL__V1__REPLY__RESULT_SUBMIT && r->submit)
        return r->submit->results;
    if (r->result_case == POLYPOOL__V1__REPLY__RESULT_COLLECT)
        return r->collect;
    return NULL;
}

/* Collects the results of job jr->job_id until the daemon lists it in
 * `done` (or something fails), with the deadline rules of a blocking call. */
static pp_status collect_job(pp_client *c, job_results *jr, int timeout_ms, pp_status st)
{
    int64_t give_up = timeout_ms > 0 ? clock_ms() + timeout_ms + 5000 : -1;
    while (st == PP_OK && !jr->done) {
        if (give_up >= 0 && clock_ms() > give_up) {
            st = PP_ETIMEDOUT;
            jr_fail(jr, st, "the daemon did not finish the job by its deadline");
            break;
        }
        Polypool__V1__Reply *r = NULL;
        uint64_t job = jr->job_id;
        st = collect(c, &job, 1, 1000, &r);
        if (st != PP_OK) {
            if (st == PP_ETIMEDOUT && !atomic_load(&c->lost))
                st = PP_OK;      /* a slow answer: ask again */
            else
                jr_fail(jr, st, pp_last_error()->message);
            continue;
        }
        st = absorb(c, jr, reply_results(r));
        client_reply_free(r);
    }
    return st;
}

/* Pipelining a large map: the input goes out in slices of whole chunks
 * (so that the daemon cuts the same tasks), the first ones small, so that
 * workers start while the client encodes the rest; the results are then
 * collected batch by batch, decoded while the workers run the later tasks.
 * An input that fits in the first slice takes one Submit{wait} instead. */
#define PIPE_FIRST_ITEMS 16384           /* a slice's least items, doubling */
#define PIPE_FIRST_BYTES ((size_t)256 << 10) /* ... or bytes, doubling */

/* Encodes items from *pos into enc (reset first): up to the end of a chunk
 * once the slice holds min_items items or min_bytes bytes, or up to
 * `budget` bytes, whichever comes first. */
static pp_status encode_slice(codec_enc *enc, const pp_value *items, size_t *pos,
                              size_t chunksize, size_t min_items, size_t min_bytes,
                              size_t budget)
{
    size_t n = pp_value_len(items);
    size_t i = *pos, start = *pos;
    codec_enc_reset(enc);
    enc_mark m = {0};
    pp_status st = PP_OK;
    while (i < n) {
        const pp_value *x = items->u.c.items[i];
        st = codec_enc_value(enc, x);
        if (st != PP_OK) {
            error_set(st, "item %zu cannot be sent: %s", i,
                      st == PP_EINVAL ? "a handle or a tree nested too deeply"
                                      : "out of memory");
            break;
        }
        i++;
        if (x && x->kind == PP_INT) {
            /* what enc_measure would add for one kind and one int */
            m.bytes += 1 + varint_size(((uint64_t)x->u.i << 1) ^ (uint64_t)(x->u.i >> 63));
            m.k++;
            m.i++;
        } else {
            enc_measure(enc, &m);
        }
        if (m.bytes >= budget)
            break;
        /* A tail smaller than a slice goes with this one. */
        size_t got = i - start;
        if (got % chunksize == 0 && (got >= min_items || m.bytes >= min_bytes) &&
            n - i >= min_items)
            break;
    }
    *pos = i;
    return st;
}

/* Runs a whole job to completion and gives its LIST of results. */
static pp_status run_job(pp_pool *p, const pp_func *f, const pp_value *items, size_t chunksize,
                         bool star, int timeout_ms, pp_value **results)
{
    pp_client *c = p->client;
    uint64_t job = client_job_id(c);
    size_t n = pp_value_len(items);
    job_results jr;
    if (job_results_init(&jr, job, n) != PP_OK) {
        error_set(PP_ENOMEM, "out of memory");
        return PP_ENOMEM;
    }
    if (!chunksize)
        chunksize = 1;
    size_t budget = client_submit_budget(c);
    size_t min_items = PIPE_FIRST_ITEMS, min_bytes = PIPE_FIRST_BYTES;
    codec_enc enc;
    codec_enc_init(&enc);
    size_t i = 0;
    bool created = false;
    Polypool__V1__Reply *r = NULL;
    pp_status st = PP_OK;
    while (st == PP_OK) {
        st = encode_slice(&enc, items, &i, chunksize, min_items, min_bytes, budget);
        if (st != PP_OK)
            break;
        bool last = i == n;
        /* Only a job whose input fits in one slice waits in its Submit. */
        bool wait = last && !created;
        r = NULL;
        st = submit_one(p, created ? NULL : f, job, &enc, chunksize, star, !last, wait, false,
                        timeout_ms, &r);
        if (st != PP_OK)
            break;
        created = true;
        st = absorb(c, &jr, reply_results(r));
        client_reply_free(r);
        if (last || st != PP_OK)
            break;
        /* Take what is ready (no waiting): decode it while the workers
         * run the tasks already sent. */
        uint64_t jid = job;
        r = NULL;
        st = collect(c, &jid, 1, 0, &r);
        if (st != PP_OK)
            break;
        st = absorb(c, &jr, reply_results(r));
        client_reply_free(r);
        if (min_items < n)
            min_items *= 2;
        if (min_bytes < budget)
            min_bytes *= 2;
    }
    codec_enc_fini(&enc);
    if (st != PP_OK && !jr.failed) {
        error_rec saved = {0};
        error_rec_from_last(&saved);
        jr.failed = true;
        jr.first_error = saved;
    }
    if (created)
        st = collect_job(c, &jr, timeout_ms, st);
    if (st != PP_OK && created) {
        /* Part of the input (or all of it) is in: do not leave the job behind. */
        if (st != PP_ECONNRESET && st != PP_EFORKED)
            client_cancel_job(c, job);
        if (!jr.failed)
            jr_fail(&jr, st, pp_strerror(st));
    }
    st = job_results_finish(&jr, results);
    if (st != PP_OK)
        error_raise(&jr.first_error);
    job_results_fini(&jr);
    return st;
}

static bool is_seq(const pp_value *v)
{
    return v && (v->kind == PP_LIST || v->kind == PP_TUPLE);
}

pp_status pp_pool_map(pp_pool *p, const pp_func *f, const pp_value *items,
                      const pp_map_opts *opts, pp_value **results)
{
    if (!p || !f || !is_seq(items) || !results) {
        error_set(PP_EINVAL, "pp_pool_map: need a pool, a function, a LIST of items and "
                             "a results pointer");
        return PP_EINVAL;
    }
    pp_status st = pool_check_open(p);
    if (st != PP_OK)
        return st;
    pp_map_opts o = {0};
    if (opts)
        o = *opts;
    size_t n = pp_value_len(items);
    if (n == 0) {
        pp_value *l = pp_value_list();
        if (!l) {
            error_set(PP_ENOMEM, "out of memory");
            return PP_ENOMEM;
        }
        *results = l;
        return PP_OK;
    }
    size_t chunk = o.chunksize ? o.chunksize : pp_default_chunksize(n, p->size);
    return run_job(p, f, items, chunk, o.star, o.timeout_ms, results);
}

pp_status pp_pool_apply(pp_pool *p, const pp_func *f, const pp_value *args, int timeout_ms,
                        pp_value **result)
{
    if (!p || !f || (args && !is_seq(args)) || !result) {
        error_set(PP_EINVAL, "pp_pool_apply: need a pool, a function, args as a LIST "
                             "(or NULL) and a result pointer");
        return PP_EINVAL;
    }
    pp_status st = pool_check_open(p);
    if (st != PP_OK)
        return st;
    pp_value empty = {.kind = PP_LIST};
    pp_value *one[1] = {(pp_value *)(args ? args : &empty)};
    pp_value items = {.kind = PP_LIST};
    items.u.c.items = one;
    items.u.c.len = 1;
    items.u.c.cap = 1;
    pp_value *list = NULL;
    st = run_job(p, f, &items, 1, true, timeout_ms, &list);
    if (st != PP_OK)
        return st;
    *result = list->u.c.items[0];
    list->u.c.items[0] = NULL;
    pp_value_free(list);
    return PP_OK;
}

/* ---- imap -------------------------------------------------------------- */

#define IMAP_DEFAULT_WINDOW 4096

typedef struct iter_entry {
    uint64_t index;
    pp_value *value;
    bool present;
    bool failed;
    error_rec err;
} iter_entry;

struct pp_iter {
    pp_pool *pool;
    pp_client *client;
    pp_func *func;                /* a copy: used by the first Submit */
    uint64_t job;
    bool created;                 /* the first Submit went through */
    bool ordered, star;
    size_t window, chunksize;
    int timeout_ms;

    const pp_value *items;        /* list input, or */
    size_t items_pos;
    pp_source_fn source;          /* a source function */
    void *source_arg;
    bool src_ended, final_sent;
    bool src_err_pending;
    error_rec src_err;

    uint64_t fed, consumed;
    bool job_done;
    uint64_t last_index;

    /* ordered: ring[index % window] for index in [consumed, fed) */
    iter_entry *ring;
    /* unordered: a FIFO of ready entries */
    iter_entry *q;
    size_t q_head, q_len, q_cap;
    /* every index that has a result, to drop duplicates */
    unsigned char *seen;
    size_t seen_cap;              /* bytes */

    codec_enc enc;
};

static bool seen_test_set(pp_iter *it, uint64_t idx)
{
    size_t byte = (size_t)(idx / 8);
    if (byte >= it->seen_cap) {
        size_t cap = it->seen_cap ? it->seen_cap : 1024;
        while (cap <= byte)
            cap *= 2;
        unsigned char *s = realloc(it->seen, cap);
        if (!s)
            return false;     /* cannot track: accept (duplicates are rare) */
        memset(s + it->seen_cap, 0, cap - it->seen_cap);
        it->seen = s;
        it->seen_cap = cap;
    }
    unsigned char bit = (unsigned char)(1u << (idx % 8));
    if (it->seen[byte] & bit)
        return true;
    it->seen[byte] |= bit;
    return false;
}

static pp_status iter_put(pp_iter *it, uint64_t idx, pp_value *v, const Polypool__V1__TaskError *te)
{
    iter_entry *e;
    if (it->ordered) {
        e = &it->ring[idx % it->window];
    } else {
        if (it->q_len == it->q_cap) {
            size_t cap = it->q_cap ? it->q_cap * 2 : 64;
            iter_entry *q = malloc(cap * sizeof *q);
            if (!q)
                return PP_ENOMEM;
            for (size_t j = 0; j < it->q_len; j++)
                q[j] = it->q[(it->q_head + j) % it->q_cap];
            free(it->q);
            it->q = q;
            it->q_cap = cap;
            it->q_head = 0;
        }
        e = &it->q[(it->q_head + it->q_len) % it->q_cap];
        memset(e, 0, sizeof *e);
        it->q_len++;
    }
    e->index = idx;
    e->value = v;
    e->present = true;
    e->failed = te != NULL;
    if (te)
        error_rec_from_task(&e->err, te);
    return PP_OK;
}

static pp_status iter_absorb(pp_iter *it, const Polypool__V1__CollectReply *cr)
{
    if (!cr)
        return PP_OK;
    for (size_t i = 0; i < cr->n_batches; i++) {
        const Polypool__V1__ResultBatch *b = cr->batches[i];
        if (b->job_id != it->job)
            continue;
        client_output(it->client, &b->out, &b->err);
        if (b->first > it->fed || b->count > it->fed - b->first) {
            error_set(PP_EPROTO, "a result batch names items that were never sent");
            return PP_EPROTO;
        }
        codec_dec d;
        codec_dec_init(&d, b->values);
        for (uint64_t k = 0; k < b->count; k++) {
            pp_value *v = NULL;
            pp_status st = b->values ? codec_dec_next(&d, &v) : PP_OK;
            if (st == PP_EEOF)
                st = PP_EPROTO;
            if (st == PP_OK && !v && !(v = value_new(PP_NULL)))
                st = PP_ENOMEM;
            if (st != PP_OK) {
                error_set(st, "malformed values in a result batch");
                return st;
            }
            uint64_t idx = b->first + k;
            if (seen_test_set(it, idx)) {
                pp_value_free(v);
                continue;
            }
            const Polypool__V1__TaskError *te = NULL;
            for (size_t e = 0; e < b->n_errors; e++)
                if (b->errors[e]->index == idx)
                    te = b->errors[e];
            if (te) {
                pp_value_free(v);
                v = NULL;
            }
            if (iter_put(it, idx, v, te) != PP_OK) {
                pp_value_free(v);
                error_set(PP_ENOMEM, "out of memory");
                return PP_ENOMEM;
            }
        }
    }
    for (size_t i = 0; i < cr->n_done; i++)
        if (cr->done[i] == it->job)
            it->job_done = true;
    return PP_OK;
}

/* Sends more input while the window has room. `must` feeds even a little
 * (the consumer is about to wait); otherwise only when a quarter of the
 * window is free, so a Submit carries a useful group of items. */
static pp_status iter_feed(pp_iter *it, bool must)
{
    if (it->final_sent)
        return PP_OK;
    size_t outstanding = (size_t)(it->fed - it->consumed);
    size_t room = it->window > outstanding ? it->window - outstanding : 0;
    size_t want = it->window / 4 ? it->window / 4 : 1;
    if (!it->src_ended && (room == 0 || (!must && room < want)))
        return PP_OK;

    codec_enc_reset(&it->enc);
    size_t budget = client_submit_budget(it->client);
    enc_mark m = {0};
    size_t got = 0;
    while (got < room && !it->src_ended && m.bytes < budget) {
        pp_value *item = NULL;
        const pp_value *use;
        if (it->items) {
            if (it->items_pos == pp_value_len(it->items)) {
                it->src_ended = true;
                break;
            }
            use = it->items->u.c.items[it->items_pos];
        } else {
            pp_status st = it->source(it->source_arg, &item);
            if (st == PP_EEOF) {
                it->src_ended = true;
                break;
            }
            if (st != PP_OK) {
                it->src_ended = true;
                it->src_err_pending = true;
                const pp_error *le = pp_last_error();
                char msg[512];
                snprintf(msg, sizeof msg, "the imap source failed with %s%s%s",
                         pp_status_name(st), le->status == st && *le->message ? ": " : "",
                         le->status == st ? le->message : "");
                error_rec_set(&it->src_err, st, msg);
                break;
            }
            use = item;
        }
        pp_status st = codec_enc_value(&it->enc, use);
        pp_value_free(item);
        if (st != PP_OK) {
            error_set(st, "imap item %llu cannot be sent",
                      (unsigned long long)(it->fed + got));
            return st;
        }
        if (it->items)
            it->items_pos++;
        got++;
        enc_measure(&it->enc, &m);
    }
    /* A list's end is known without asking: say so in this Submit. */
    if (it->items && it->items_pos == pp_value_len(it->items))
        it->src_ended = true;
    if (got == 0 && !it->src_ended)
        return PP_OK;
    if (!it->created && got == 0) {
        /* Nothing at all to map: no job. */
        it->final_sent = true;
        it->job_done = true;
        return PP_OK;
    }
    bool last = it->src_ended;
    Polypool__V1__Reply *r = NULL;
    pp_status st = submit_one(it->pool, it->created ? NULL : it->func, it->job, &it->enc,
                              it->chunksize, it->star, !last, false, false, it->timeout_ms, &r);
    if (st != PP_OK)
        return st;
    client_reply_free(r);
    it->created = true;
    it->fed += got;
    if (last)
        it->final_sent = true;
    return PP_OK;
}

static pp_status imap_new(pp_pool *p, const pp_func *f, const pp_value *items, pp_source_fn src,
                          void *arg, const pp_map_opts *opts, bool ordered, pp_iter **out)
{
    if (!p || !f || !out || (!items && !src) || (items && !is_seq(items))) {
        error_set(PP_EINVAL, "pp_pool_imap: need a pool, a function, items (a LIST) or a "
                             "source, and an out pointer");
        return PP_EINVAL;
    }
    if (pool_check_open(p) != PP_OK)
        return PP_ECLOSED;
    pp_map_opts o = {0};
    if (opts)
        o = *opts;
    pp_iter *it = calloc(1, sizeof *it);
    if (!it)
        goto nomem;
    it->pool = p;
    it->client = p->client;
    it->job = client_job_id(p->client);
    it->ordered = ordered;
    it->star = o.star;
    it->window = o.window ? o.window : IMAP_DEFAULT_WINDOW;
    it->chunksize = o.chunksize ? o.chunksize : 1;
    it->timeout_ms = o.timeout_ms;
    it->items = items;
    it->source = src;
    it->source_arg = arg;
    codec_enc_init(&it->enc);
    if (func_copy(f, &it->func) != PP_OK)
        goto nomem_it;
    if (ordered && !(it->ring = calloc(it->window, sizeof *it->ring)))
        goto nomem_it;
    pp_status st = iter_feed(it, true);
    if (st != PP_OK) {
        error_rec saved = {0};
        error_rec_from_last(&saved);
        pp_iter_free(it);
        error_raise(&saved);
        error_rec_fini(&saved);
        return st;
    }
    *out = it;
    return PP_OK;
nomem_it:
    pp_iter_free(it);
nomem:
    error_set(PP_ENOMEM, "out of memory");
    return PP_ENOMEM;
}

pp_status pp_pool_imap(pp_pool *p, const pp_func *f, const pp_value *items,
                       const pp_map_opts *opts, bool ordered, pp_iter **out)
{
    if (!items) {
        error_set(PP_EINVAL, "pp_pool_imap: items is NULL");
        return PP_EINVAL;
    }
    return imap_new(p, f, items, NULL, NULL, opts, ordered, out);
}

pp_status pp_pool_imap_source(pp_pool *p, const pp_func *f, pp_source_fn next, void *arg,
                              const pp_map_opts *opts, bool ordered, pp_iter **out)
{
    if (!next) {
        error_set(PP_EINVAL, "pp_pool_imap_source: next is NULL");
        return PP_EINVAL;
    }
    return imap_new(p, f, NULL, next, arg, opts, ordered, out);
}

/* Takes the next ready entry, if any. */
static bool iter_pop(pp_iter *it, iter_entry *out)
{
    if (it->ordered) {
        if (it->consumed >= it->fed)
            return false;
        iter_entry *e = &it->ring[it->consumed % it->window];
        if (!e->present || e->index != it->consumed)
            return false;
        *out = *e;
        memset(e, 0, sizeof *e);
    } else {
        if (it->q_len == 0)
            return false;
        *out = it->q[it->q_head];
        memset(&it->q[it->q_head], 0, sizeof *it->q);
        it->q_head = (it->q_head + 1) % it->q_cap;
        it->q_len--;
    }
    it->consumed++;
    return true;
}

pp_status pp_iter_next(pp_iter *it, int timeout_ms, pp_value **item)
{
    if (!it || !item) {
        error_set(PP_EINVAL, "pp_iter_next: NULL argument");
        return PP_EINVAL;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms;
    bool tried = false;
    for (;;) {
        iter_entry e;
        if (iter_pop(it, &e)) {
            it->last_index = e.index;
            /* Keep the pipeline full; a failure here shows up on the next call. */
            iter_feed(it, false);
            if (e.failed) {
                pp_status st = error_raise(&e.err);
                error_rec_fini(&e.err);
                pp_value_free(e.value);
                return st;
            }
            *item = e.value;
            return PP_OK;
        }
        if (it->final_sent && it->consumed == it->fed) {
            if (it->src_err_pending) {
                it->src_err_pending = false;
                return error_raise(&it->src_err);
            }
            return PP_EEOF;
        }
        if (tried && deadline >= 0 && clock_ms() >= deadline) {
            error_set(PP_ETIMEDOUT, "no imap result within %d ms", timeout_ms);
            return PP_ETIMEDOUT;
        }
        pp_status st = iter_feed(it, it->consumed == it->fed);
        if (st != PP_OK)
            return st;
        if (it->consumed == it->fed)
            continue;          /* fed nothing: the input may just have ended */
        if (it->job_done) {
            /* The daemon says the job is complete, yet results are missing. */
            uint64_t missing = it->fed - it->consumed;
            it->consumed = it->fed;
            error_set(PP_EPROTO, "the job finished with %llu results missing",
                      (unsigned long long)missing);
            return PP_EPROTO;
        }
        int wait = 1000;
        if (deadline >= 0) {
            int64_t left = deadline - clock_ms();
            wait = left <= 0 ? 0 : (left < 1000 ? (int)left : 1000);
        }
        Polypool__V1__Reply *r = NULL;
        st = collect(it->client, &it->job, 1, wait, &r);
        if (st == PP_OK) {
            st = iter_absorb(it, reply_results(r));
            client_reply_free(r);
            if (st != PP_OK)
                return st;
        } else if (st != PP_ETIMEDOUT || atomic_load(&it->client->lost)) {
            return st;
        }
        tried = true;
    }
}

uint64_t pp_iter_index(const pp_iter *it)
{
    return it ? it->last_index : 0;
}

static void entry_fini(iter_entry *e)
{
    if (!e->present)
        return;
    pp_value_free(e->value);
    error_rec_fini(&e->err);
    e->present = false;
}

void pp_iter_free(pp_iter *it)
{
    if (!it)
        return;
    if (it->created && !it->job_done && !atomic_load(&it->client->lost) &&
        getpid() == it->client->pid)
        client_cancel_job(it->client, it->job);
    if (it->ring)
        for (size_t i = 0; i < it->window; i++)
            entry_fini(&it->ring[i]);
    for (size_t j = 0; j < it->q_len; j++)
        entry_fini(&it->q[(it->q_head + j) % it->q_cap]);
    free(it->ring);
    free(it->q);
    free(it->seen);
    error_rec_fini(&it->src_err);
    codec_enc_fini(&it->enc);
    pp_func_free(it->func);
    free(it);
}
