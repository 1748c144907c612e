/* wire.c - protobuf encoding and decoding for the daemon; see wire.h.
 *
 * Hot paths avoid re-encoding: task items are packed from slices of the
 * received arrays, worker results are located in their frame by a small
 * hand-written field scanner, and replies carrying results are written
 * field by field around the stored batch bytes. The protobuf-c generated
 * code is used for everything else.
 */
#define WIRE_PROTOBUF 1
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* ---- budgeted allocator ---------------------------------------------- */

#define HDR 16

static void *budget_alloc(void *data, size_t size)
{
    struct wire_req *r = data;
    if (size > r->limit || r->used + size + HDR > r->limit)
        return NULL;
    uint8_t *p = malloc(size + HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    r->used += size + HDR;
    return p + HDR;
}

static void budget_free(void *data, void *ptr)
{
    struct wire_req *r = data;
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    r->used -= size + HDR;
    free(p);
}

struct wire_req *wire_req_unpack(const void *data, size_t len, size_t budget)
{
    struct wire_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->limit = budget;
    r->alloc.alloc = budget_alloc;
    r->alloc.free = budget_free;
    r->alloc.allocator_data = r;
    r->refs = 1;
    r->msg = polypool__v1__request__unpack(&r->alloc, len, data);
    if (!r->msg) {
        free(r);
        return NULL;
    }
    return r;
}

void wire_req_free(struct wire_req *r)
{
    if (!r || --r->refs > 0)
        return;
    polypool__v1__request__free_unpacked(r->msg, &r->alloc);
    free(r);
}

void wire_items_ref(wire_items *it)
{
    it->refs++;
}

void wire_items_unref(wire_items *it)
{
    if (!it || --it->refs > 0)
        return;
    wire_req_free(it->req);
    free(it);
}

wire_items *wire_items_adopt(struct wire_req *r, const Polypool__V1__Values *v, size_t n)
{
    wire_items *it = malloc(sizeof *it);
    if (!it)
        return NULL;
    it->req = r;
    it->items = v;
    it->n_items = n;
    it->refs = 1;
    r->refs++;
    return it;
}

size_t wire_items_count(const wire_items *it)
{
    return it->n_items;
}

/* ---- Values walking ---------------------------------------------------- */

#define MAX_DEPTH 64

/* Walks one top-level tree from c. With check, verifies every array has the
 * element it needs and the depth; returns 0 or -1. */
static int walk_tree(const Polypool__V1__Values *v, struct wire_cursor *c, bool check,
                     const char **why)
{
    size_t rem[MAX_DEPTH + 1];
    int depth = 0;
    rem[0] = 1;
    while (depth >= 0) {
        if (rem[depth] == 0) {
            depth--;
            continue;
        }
        rem[depth]--;
        if (check && c->k >= v->n_kinds) {
            *why = "items: kinds ran out";
            return -1;
        }
        size_t n = 0;
        switch (v->kinds[c->k++]) {
        case POLYPOOL__V1__KIND__KIND_NULL:
            break;
        case POLYPOOL__V1__KIND__KIND_BOOL:
        case POLYPOOL__V1__KIND__KIND_INT:
            if (check && c->i >= v->n_ints)
                goto short_arrays;
            c->i++;
            break;
        case POLYPOOL__V1__KIND__KIND_DOUBLE:
            if (check && c->r >= v->n_reals)
                goto short_arrays;
            c->r++;
            break;
        case POLYPOOL__V1__KIND__KIND_STRING:
        case POLYPOOL__V1__KIND__KIND_BYTES:
        case POLYPOOL__V1__KIND__KIND_PICKLE:
            if (check && c->b >= v->n_blobs)
                goto short_arrays;
            c->b++;
            break;
        case POLYPOOL__V1__KIND__KIND_HANDLE:
            if (check && c->h >= v->n_handles)
                goto short_arrays;
            c->h++;
            break;
        case POLYPOOL__V1__KIND__KIND_LIST:
        case POLYPOOL__V1__KIND__KIND_TUPLE:
        case POLYPOOL__V1__KIND__KIND_MAP:
            if (check && c->c >= v->n_counts)
                goto short_arrays;
            n = v->counts[c->c];
            if (v->kinds[c->k - 1] == POLYPOOL__V1__KIND__KIND_MAP)
                n *= 2;
            c->c++;
            if (n) {
                if (depth + 1 > MAX_DEPTH) {
                    *why = "items: nested deeper than 64 levels";
                    return -1;
                }
                rem[++depth] = n;
            }
            break;
        default:
            if (check) {
                *why = "items: unknown kind";
                return -1;
            }
            break;
        }
    }
    return 0;
short_arrays:
    *why = "items: a value array ran out";
    return -1;
}

int wire_values_check(const Polypool__V1__Values *v, bool star, size_t *n, const char **why)
{
    struct wire_cursor c = { 0 };
    size_t count = 0;
    *why = NULL;
    if (!v) {
        *n = 0;
        return 0;
    }
    while (c.k < v->n_kinds) {
        Polypool__V1__Kind top = v->kinds[c.k];
        if (star && top != POLYPOOL__V1__KIND__KIND_LIST &&
            top != POLYPOOL__V1__KIND__KIND_TUPLE) {
            *why = "items: with star, every item must be a list or tuple of arguments";
            return -1;
        }
        if (walk_tree(v, &c, true, why) < 0)
            return -1;
        count++;
    }
    if (c.i != v->n_ints || c.r != v->n_reals || c.b != v->n_blobs ||
        c.c != v->n_counts || c.h != v->n_handles) {
        *why = "items: value arrays have unconsumed elements";
        return -1;
    }
    *n = count;
    return 0;
}

void wire_items_advance(const wire_items *it, struct wire_cursor *c, size_t n)
{
    const char *why;
    while (n--)
        walk_tree(it->items, c, false, &why);
}

uint8_t *wire_values_pack(const Polypool__V1__Values *v, size_t *len)
{
    size_t n = polypool__v1__values__get_packed_size(v);
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return NULL;
    *len = polypool__v1__values__pack(v, p);
    return p;
}

/* ---- worker frames ------------------------------------------------------ */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int pack_frame(struct buf *out, const Polypool__V1__WorkerMsg *m)
{
    size_t n = polypool__v1__worker_msg__get_packed_size(m);
    if (n > UINT32_MAX || buf_reserve(out, 4 + n) < 0)
        return -1;
    put_le32(out->data + out->len, (uint32_t)n);
    polypool__v1__worker_msg__pack(m, out->data + out->len + 4);
    out->len += 4 + n;
    return 0;
}

/* The host already runs in the environment: a task names only the code. */
static void set_function(Polypool__V1__Function *fn, Polypool__V1__CFunction *cf,
                         Polypool__V1__PyFunction *pf, const char *a, const char *b, bool py)
{
    if (py) {
        pf->module = (char *)a;
        pf->qualname = (char *)b;
        fn->kind_case = POLYPOOL__V1__FUNCTION__KIND_PY;
        fn->py = pf;
    } else {
        cf->library = (char *)a;
        cf->symbol = (char *)b;
        fn->kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
        fn->c = cf;
    }
}

int wire_pack_task(struct buf *out, uint64_t task_id, uint64_t job_id, uint64_t first,
                   const char *library, const char *symbol, bool py, bool star,
                   const wire_items *it, const struct wire_cursor *from,
                   const struct wire_cursor *to)
{
    const Polypool__V1__Values *v = it->items;
    Polypool__V1__Values items = POLYPOOL__V1__VALUES__INIT;
    /* Slices of the received arrays: protobuf-c packs them directly. */
    items.n_kinds = to->k - from->k;
    items.kinds = v->kinds + from->k;
    items.n_ints = to->i - from->i;
    items.ints = v->ints + from->i;
    items.n_reals = to->r - from->r;
    items.reals = v->reals + from->r;
    items.n_blobs = to->b - from->b;
    items.blobs = v->blobs + from->b;
    items.n_counts = to->c - from->c;
    items.counts = v->counts + from->c;
    items.n_handles = to->h - from->h;
    items.handles = v->handles + from->h;

    Polypool__V1__CFunction cf = POLYPOOL__V1__CFUNCTION__INIT;
    Polypool__V1__PyFunction pf = POLYPOOL__V1__PY_FUNCTION__INIT;
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    set_function(&fn, &cf, &pf, library, symbol, py);
    Polypool__V1__WorkerTask t = POLYPOOL__V1__WORKER_TASK__INIT;
    t.task_id = task_id;
    t.job_id = job_id;
    t.first = first;
    t.function = &fn;
    t.items = &items;
    t.star = star;
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_TASK;
    m.task = &t;
    return pack_frame(out, &m);
}

int wire_pack_init(struct buf *out, uint64_t worker_id, const char *library,
                   const char *symbol, bool py, const void *initargs, size_t initargs_len)
{
    Polypool__V1__PyFunction pf = POLYPOOL__V1__PY_FUNCTION__INIT;
    Polypool__V1__CFunction cf = POLYPOOL__V1__CFUNCTION__INIT;
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    Polypool__V1__WorkerInit in = POLYPOOL__V1__WORKER_INIT__INIT;
    Polypool__V1__Values *args = NULL;
    in.worker_id = worker_id;
    if (library && symbol) {
        set_function(&fn, &cf, &pf, library, symbol, py);
        in.initializer = &fn;
    }
    if (initargs && initargs_len) {
        args = polypool__v1__values__unpack(NULL, initargs_len, initargs);
        if (!args)
            return -1;
        in.initargs = args;
    }
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_INIT;
    m.init = &in;
    int rv = pack_frame(out, &m);
    if (args)
        polypool__v1__values__free_unpacked(args, NULL);
    return rv;
}

int wire_pack_exit(struct buf *out)
{
    Polypool__V1__WorkerExit ex = POLYPOOL__V1__WORKER_EXIT__INIT;
    Polypool__V1__WorkerMsg m = POLYPOOL__V1__WORKER_MSG__INIT;
    m.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_EXIT;
    m.exit = &ex;
    return pack_frame(out, &m);
}

/* Reads a varint; returns bytes used or 0 when malformed. */
static size_t get_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Scans the fields of a message in p[0..len): for each, calls back with the
 * field number, wire type and, for LEN fields, the payload; for varints the
 * value. Returns 0 or -1 when malformed. */
struct field {
    uint32_t num;
    int type;
    uint64_t v;
    size_t off, len;   /* LEN payload, relative to the scanned buffer */
};

static int next_field(const uint8_t *p, size_t len, size_t *pos, struct field *f)
{
    uint64_t tag;
    size_t n = get_varint(p + *pos, len - *pos, &tag);
    if (!n)
        return -1;
    *pos += n;
    f->num = (uint32_t)(tag >> 3);
    f->type = (int)(tag & 7);
    switch (f->type) {
    case 0:
        n = get_varint(p + *pos, len - *pos, &f->v);
        if (!n)
            return -1;
        *pos += n;
        return 0;
    case 1:
        if (len - *pos < 8)
            return -1;
        *pos += 8;
        return 0;
    case 5:
        if (len - *pos < 4)
            return -1;
        *pos += 4;
        return 0;
    case 2: {
        uint64_t l;
        n = get_varint(p + *pos, len - *pos, &l);
        if (!n)
            return -1;
        *pos += n;
        if (l > len - *pos)
            return -1;
        f->off = *pos;
        f->len = (size_t)l;
        *pos += (size_t)l;
        return 0;
    }
    default:
        return -1;
    }
}

int wire_wmsg_decode(const uint8_t *p, size_t len, struct wire_wmsg *m)
{
    memset(m, 0, sizeof *m);
    /* Results are the hot path: find the batch in place. */
    size_t pos = 0;
    struct field f;
    bool result = false;
    while (pos < len) {
        if (next_field(p, len, &pos, &f) < 0)
            return -1;
        if (f.num == 5 && f.type == 2) {
            result = true;
            size_t rpos = 0;
            const uint8_t *r = p + f.off;
            struct field g;
            m->task_id = 0;
            m->batch_off = f.off;
            m->batch_len = 0;
            while (rpos < f.len) {
                if (next_field(r, f.len, &rpos, &g) < 0)
                    return -1;
                if (g.num == 1 && g.type == 0)
                    m->task_id = g.v;
                else if (g.num == 2 && g.type == 2) {
                    m->batch_off = f.off + g.off;
                    m->batch_len = g.len;
                }
            }
        } else if (f.num >= 1 && f.num <= 6) {
            result = false;   /* a later oneof member wins */
        }
    }
    if (result) {
        m->type = WMSG_RESULT;
        return 0;
    }
    Polypool__V1__WorkerMsg *w = polypool__v1__worker_msg__unpack(NULL, len, p);
    if (!w)
        return -1;
    switch (w->msg_case) {
    case POLYPOOL__V1__WORKER_MSG__MSG_HELLO:
        m->type = WMSG_HELLO;
        m->pid = w->hello->pid;
        m->version = w->hello->version;
        break;
    case POLYPOOL__V1__WORKER_MSG__MSG_INIT_DONE:
        m->type = WMSG_INIT_DONE;
        if (w->init_done->error) {
            const Polypool__V1__TaskError *e = w->init_done->error;
            m->err_status = e->status ? (int)e->status : WS_ETASK;
            m->err_message = strdup(e->message ? e->message : "");
        }
        break;
    default:
        m->type = WMSG_OTHER;
        break;
    }
    polypool__v1__worker_msg__free_unpacked(w, NULL);
    return 0;
}

void wire_wmsg_fini(struct wire_wmsg *m)
{
    free(m->err_message);
    m->err_message = NULL;
}

uint8_t *wire_error_batch(uint64_t job_id, uint64_t first, uint64_t count,
                          const struct wire_error *e, const void *out, size_t out_len,
                          const void *err, size_t err_len, size_t *len)
{
    Polypool__V1__ResultBatch b = POLYPOOL__V1__RESULT_BATCH__INIT;
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind *kinds = calloc(count ? count : 1, sizeof *kinds);
    Polypool__V1__TaskError *errs = calloc(count ? count : 1, sizeof *errs);
    Polypool__V1__TaskError **perrs = calloc(count ? count : 1, sizeof *perrs);
    uint8_t *buf = NULL;
    if (!kinds || !errs || !perrs)
        goto out;
    for (uint64_t i = 0; i < count; i++) {
        Polypool__V1__TaskError te = POLYPOOL__V1__TASK_ERROR__INIT;
        te.index = first + i;
        te.status = (Polypool__V1__Status)e->status;
        te.message = (char *)(e->message ? e->message : "");
        te.where = (char *)(e->where ? e->where : "");
        te.signal = e->signal;
        te.exit_code = e->exit_code;
        errs[i] = te;
        perrs[i] = &errs[i];
        kinds[i] = POLYPOOL__V1__KIND__KIND_NULL;
    }
    v.n_kinds = count;
    v.kinds = kinds;
    b.job_id = job_id;
    b.first = first;
    b.count = count;
    b.values = &v;
    b.n_errors = count;
    b.errors = perrs;
    if (out && out_len) {
        b.out.data = (uint8_t *)out;
        b.out.len = out_len;
    }
    if (err && err_len) {
        b.err.data = (uint8_t *)err;
        b.err.len = err_len;
    }
    size_t n = polypool__v1__result_batch__get_packed_size(&b);
    buf = malloc(n ? n : 1);
    if (buf)
        *len = polypool__v1__result_batch__pack(&b, buf);
out:
    free(kinds);
    free(errs);
    free(perrs);
    return buf;
}

/* ---- replies written around stored batch bytes ------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static size_t done_payload(const uint64_t *done, size_t nd)
{
    size_t n = 0;
    for (size_t i = 0; i < nd; i++)
        n += varint_size(done[i]);
    return n;
}

/* CollectReply body: batches as field 1, done as packed field 2. */
static size_t collect_size(const struct wire_blob *b, size_t nb, const uint64_t *done, size_t nd)
{
    size_t n = 0;
    for (size_t i = 0; i < nb; i++)
        n += 1 + varint_size(b[i].len) + b[i].len;
    if (nd) {
        size_t d = done_payload(done, nd);
        n += 1 + varint_size(d) + d;
    }
    return n;
}

static uint8_t *collect_write(uint8_t *p, const struct wire_blob *b, size_t nb,
                              const uint64_t *done, size_t nd)
{
    for (size_t i = 0; i < nb; i++) {
        *p++ = (1 << 3) | 2;
        p = put_varint(p, b[i].len);
        if (b[i].len)
            memcpy(p, b[i].data, b[i].len);
        p += b[i].len;
    }
    if (nd) {
        *p++ = (2 << 3) | 2;
        p = put_varint(p, done_payload(done, nd));
        for (size_t i = 0; i < nd; i++)
            p = put_varint(p, done[i]);
    }
    return p;
}

size_t wire_reply_collect(uint8_t *dst, uint64_t req_id, const struct wire_blob *b,
                          size_t nb, const uint64_t *done, size_t nd)
{
    size_t body = collect_size(b, nb, done, nd);
    size_t n = (req_id ? 1 + varint_size(req_id) : 0) + 2 + varint_size(body) + body;
    if (!dst)
        return n;
    uint8_t *p = dst;
    if (req_id) {
        *p++ = (1 << 3) | 0;
        p = put_varint(p, req_id);
    }
    /* field 16 (collect), LEN: the tag takes two bytes. */
    p = put_varint(p, (16 << 3) | 2);
    p = put_varint(p, body);
    collect_write(p, b, nb, done, nd);
    return n;
}

size_t wire_reply_submit(uint8_t *dst, uint64_t req_id, uint64_t job_id, uint64_t received,
                         bool with_results, const struct wire_blob *b, size_t nb,
                         const uint64_t *done, size_t nd)
{
    size_t coll = with_results ? collect_size(b, nb, done, nd) : 0;
    size_t sub = (job_id ? 1 + varint_size(job_id) : 0) +
                 (received ? 1 + varint_size(received) : 0) +
                 (with_results ? 1 + varint_size(coll) + coll : 0);
    size_t n = (req_id ? 1 + varint_size(req_id) : 0) + 1 + varint_size(sub) + sub;
    if (!dst)
        return n;
    uint8_t *p = dst;
    if (req_id) {
        *p++ = (1 << 3) | 0;
        p = put_varint(p, req_id);
    }
    *p++ = (15 << 3) | 2;
    p = put_varint(p, sub);
    if (job_id) {
        *p++ = (1 << 3) | 0;
        p = put_varint(p, job_id);
    }
    if (received) {
        *p++ = (2 << 3) | 0;
        p = put_varint(p, received);
    }
    if (with_results) {
        *p++ = (3 << 3) | 2;
        p = put_varint(p, coll);
        collect_write(p, b, nb, done, nd);
    }
    return n;
}
