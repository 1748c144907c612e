/* unit-helpers.h - shared by the runtime unit tests (pool, session, worker):
 * item sets built by hand (a tiny Values builder turned into wire_items the
 * way server.c makes them), result batches read back item by item, workers
 * without a process, and a log captured in a memfd.
 *
 * Header-only (static functions) so that each test stays one executable.
 * Include after check.h; defines WIRE_PROTOBUF before wire.h.
 */
#ifndef PP_UNIT_HELPERS_H
#define PP_UNIT_HELPERS_H

#define WIRE_PROTOBUF 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "scheduler.h"
#include "session.h"
#include "util.h"
#include "wire.h"
#include "worker.h"

/* ---- a Values builder ------------------------------------------------------ */

#define VB_MAX 512

struct vb {
    Polypool__V1__Kind kinds[VB_MAX];
    int64_t ints[VB_MAX];
    ProtobufCBinaryData blobs[VB_MAX];
    uint32_t counts[VB_MAX];
    size_t nk, ni, nb, nc;
};

static inline void vb_int(struct vb *b, int64_t v)
{
    ck_assert_uint_lt(b->nk, VB_MAX);
    b->kinds[b->nk++] = POLYPOOL__V1__KIND__KIND_INT;
    b->ints[b->ni++] = v;
}

/* The string is borrowed until the items are made. */
static inline void vb_str(struct vb *b, const char *s)
{
    ck_assert_uint_lt(b->nk, VB_MAX);
    b->kinds[b->nk++] = POLYPOOL__V1__KIND__KIND_STRING;
    b->blobs[b->nb].data = (uint8_t *)s;
    b->blobs[b->nb++].len = strlen(s);
}

/* A LIST whose n items are the next n trees added. */
static inline void vb_list(struct vb *b, uint32_t n)
{
    ck_assert_uint_lt(b->nk, VB_MAX);
    b->kinds[b->nk++] = POLYPOOL__V1__KIND__KIND_LIST;
    b->counts[b->nc++] = n;
}

static inline Polypool__V1__Values vb_values(struct vb *b)
{
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    v.n_kinds = b->nk;
    v.kinds = b->kinds;
    v.n_ints = b->ni;
    v.ints = b->ints;
    v.n_blobs = b->nb;
    v.blobs = b->blobs;
    v.n_counts = b->nc;
    v.counts = b->counts;
    return v;
}

/* The n top-level items of b as a wire_items with one reference, made as
 * server.c makes them: a packed Request{submit} unpacked and checked. */
static inline wire_items *vb_items(struct vb *b, size_t n)
{
    Polypool__V1__Values v = vb_values(b);
    Polypool__V1__Submit sub = POLYPOOL__V1__SUBMIT__INIT;
    sub.items = &v;
    Polypool__V1__Request rq = POLYPOOL__V1__REQUEST__INIT;
    rq.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    rq.submit = &sub;
    size_t len = polypool__v1__request__get_packed_size(&rq);
    uint8_t *buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(buf);
    polypool__v1__request__pack(&rq, buf);
    struct wire_req *r = wire_req_unpack(buf, len, 64 << 20);
    free(buf);
    ck_assert_ptr_nonnull(r);
    size_t count = 0;
    const char *why = NULL;
    ck_assert_int_eq(wire_values_check(r->msg->submit->items, false, &count, &why), 0);
    ck_assert_uint_eq(count, n);
    wire_items *it = wire_items_adopt(r, r->msg->submit->items, n);
    ck_assert_ptr_nonnull(it);
    wire_req_free(r);
    return it;
}

/* n ints base, base+1, ... */
static inline wire_items *int_items(int64_t base, size_t n)
{
    struct vb b = { 0 };
    for (size_t i = 0; i < n; i++)
        vb_int(&b, base + (int64_t)i);
    return vb_items(&b, n);
}

/* A job of session s on pool p with its items fed (and `more` as given);
 * the job is in the session's map. Takes the caller's reference to items
 * (NULL when n == 0). */
static inline struct job *make_job(struct session *s, struct pool *p, uint64_t id,
                                   const char *lib, const char *sym, uint32_t chunk,
                                   bool star, bool more, wire_items *items, size_t n)
{
    struct job *j = sched_job_new(s, p, id, lib, sym, chunk, star, false);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(session_add_job(s, j), 0);
    j->more = more;
    ck_assert_int_eq(sched_job_feed(j, items, n), 0);
    wire_items_unref(items);
    return j;
}

/* ---- reading results back ------------------------------------------------ */

/* What happened to one item of a job. */
struct outcome {
    bool seen;
    int status;            /* 0: a value came back */
    int kind;              /* Polypool__V1__Kind of the value */
    int64_t ival;
    char sval[256];        /* truncated; slen is the real length */
    size_t slen;
    char msg[512];
    char where[512];
    int sig, code;
};

struct results {
    struct outcome item[VB_MAX];
    size_t n_batches, n_errors;
    char out[4096], err[4096];    /* every batch's output, in order */
    size_t out_len, err_len;
};

static inline void append_bytes(char *dst, size_t cap, size_t *len, ProtobufCBinaryData d)
{
    size_t n = d.len < cap - 1 - *len ? d.len : cap - 1 - *len;
    if (n == 0)
        return;   /* d.data may be NULL */
    memcpy(dst + *len, d.data, n);
    *len += n;
    dst[*len] = '\0';
}

/* Reads every result batch waiting on j->ready (without delivering them).
 * Each item must be resolved at most once. */
static inline void read_results(const struct job *j, struct results *r)
{
    memset(r, 0, sizeof *r);
    list_for_each (l, &j->ready) {
        const struct task *t = container_of(l, struct task, link);
        Polypool__V1__ResultBatch *b =
            polypool__v1__result_batch__unpack(NULL, t->rlen, t->rbuf + t->roff);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(b->job_id, j->id);
        ck_assert_uint_lt(b->first + b->count, VB_MAX + 1);
        r->n_batches++;
        append_bytes(r->out, sizeof r->out, &r->out_len, b->out);
        append_bytes(r->err, sizeof r->err, &r->err_len, b->err);
        const Polypool__V1__Values *v = b->values;
        size_t k = 0, ii = 0, bi = 0;
        for (uint64_t i = 0; i < b->count; i++) {
            struct outcome *o = &r->item[b->first + i];
            ck_assert_msg(!o->seen, "item %llu resolved twice",
                          (unsigned long long)(b->first + i));
            o->seen = true;
            ck_assert_ptr_nonnull(v);
            ck_assert_uint_lt(k, v->n_kinds);
            o->kind = v->kinds[k++];
            switch (o->kind) {
            case POLYPOOL__V1__KIND__KIND_NULL:
                break;
            case POLYPOOL__V1__KIND__KIND_INT:
            case POLYPOOL__V1__KIND__KIND_BOOL:
                o->ival = v->ints[ii++];
                break;
            case POLYPOOL__V1__KIND__KIND_STRING:
            case POLYPOOL__V1__KIND__KIND_BYTES: {
                ProtobufCBinaryData d = v->blobs[bi++];
                o->slen = d.len;
                size_t n = d.len < sizeof o->sval - 1 ? d.len : sizeof o->sval - 1;
                if (n)
                    memcpy(o->sval, d.data, n);
                o->sval[n] = '\0';
                break;
            }
            default:
                ck_abort_msg("unexpected result kind %d", o->kind);
            }
        }
        for (size_t e = 0; e < b->n_errors; e++) {
            const Polypool__V1__TaskError *te = b->errors[e];
            ck_assert_uint_ge(te->index, b->first);
            ck_assert_uint_lt(te->index, b->first + b->count);
            struct outcome *o = &r->item[te->index];
            o->status = (int)te->status;
            snprintf(o->msg, sizeof o->msg, "%s", te->message ? te->message : "");
            snprintf(o->where, sizeof o->where, "%s", te->where ? te->where : "");
            o->sig = te->signal;
            o->code = te->exit_code;
            r->n_errors++;
        }
        polypool__v1__result_batch__free_unpacked(b, NULL);
    }
}

/* ---- workers without a process ----------------------------------------- */

/* A ready worker of p with no process and no socket: frames sent to it stay
 * in w->out. Free with fake_worker_gone (as if it was reaped). */
static inline struct worker *fake_worker(struct pool *p)
{
    struct worker *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    w->pool = p;
    w->state = WORKER_READY;
    w->init_done = true;
    w->hello_seen = true;
    w->sock = w->pidfd = w->out_fd = w->err_fd = -1;
    w->sock_src.fd = w->pid_src.fd = -1;
    buf_init(&w->out);
    list_init(&w->inflight);
    list_push_back(&p->workers, &w->pool_link);
    p->n_workers++;
    return w;
}

/* Counts the WorkerMsg frames of each type queued in w->out. */
static inline void fake_frames(const struct worker *w, size_t *tasks, size_t *exits)
{
    size_t off = w->out.off;
    *tasks = *exits = 0;
    while (off < w->out.len) {
        const uint8_t *p = w->out.data + off;
        size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
                     (size_t)p[3] << 24;
        Polypool__V1__WorkerMsg *m = polypool__v1__worker_msg__unpack(NULL, len, p + 4);
        ck_assert_ptr_nonnull(m);
        if (m->msg_case == POLYPOOL__V1__WORKER_MSG__MSG_TASK)
            (*tasks)++;
        else if (m->msg_case == POLYPOOL__V1__WORKER_MSG__MSG_EXIT)
            (*exits)++;
        polypool__v1__worker_msg__free_unpacked(m, NULL);
        off += 4 + len;
    }
}

/* The fake worker leaves its pool as worker.c's death handler makes a real
 * one leave (its inflight tasks must be resolved first). p may be freed. */
static inline void fake_worker_gone(struct worker *w, bool ready, const char *why)
{
    struct pool *p = w->pool;
    ck_assert_uint_eq(w->n_inflight, 0);
    list_del(&w->pool_link);
    buf_fini(&w->out);
    free(w);
    pool_worker_gone(p, ready, why);
}

static inline size_t count_pools(void)
{
    size_t n = 0;
    list_for_each (l, pool_all())
        n++;
    return n;
}

/* ---- the log, captured ----------------------------------------------------- */

static int log_memfd = -1;

/* Sends the daemon log to a memfd (call in a fixture). */
static inline void log_capture(void)
{
    log_memfd = memfd_create("pp-unit-log", MFD_CLOEXEC);
    ck_assert_int_ge(log_memfd, 0);
    log_set_fd(log_memfd);
}

/* Everything logged so far (static buffer, NUL-terminated). */
static inline const char *log_text(void)
{
    static char text[65536];
    ssize_t n = pread(log_memfd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    return text;
}

#endif
