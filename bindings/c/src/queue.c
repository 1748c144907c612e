/* queue.c - queues and pipes (see polypool.h): message rings (ring.c) in
 * daemon segments. An item or message crosses as one packed Values with
 * one top-level value (send_bytes: the raw bytes).
 *
 * A pipe is one segment with a ring per direction, plus one small segment
 * per end that stands for it: every process holding an end holds its
 * segment, and when the last holder lets go (or dies) the daemon marks the
 * rings (ShmCreate.closers), so the peer sees EOF.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "internal.h"
#include "ring.h"
#include "sync_core.h"

#define DEFAULT_CAPACITY ((size_t)1 << 20)

static pp_status fail(pp_status st, const char *msg)
{
    error_set(st, "%s", msg);
    return st;
}

static struct pps_wait wait_ms(int timeout_ms)
{
    return pps_wait_for(timeout_ms);
}

/* ---- item encoding ------------------------------------------------------ */

/* Packs v into buf (NULL: a new malloc'd buffer, out->data). */
static pp_status pack_into(const pp_value *v, struct grow_buf *buf, struct packed *out)
{
    codec_enc e;
    codec_enc_init(&e);
    pp_status st = codec_enc_value(&e, v);
    if (st != PP_OK) {
        codec_enc_fini(&e);
        return fail(st, st == PP_EINVAL ? "the value nests too deeply" : "out of memory");
    }
    Polypool__V1__Values msg;
    codec_enc_msg(&e, &msg);
    out->len = polypool__v1__values__get_packed_size(&msg);
    out->data = buf ? grow_buf_alloc(buf, out->len) : malloc(out->len ? out->len : 1);
    if (!out->data) {
        codec_enc_fini(&e);
        return fail(PP_ENOMEM, "out of memory");
    }
    polypool__v1__values__pack(&msg, out->data);
    codec_enc_fini(&e);
    return PP_OK;
}

pp_status pack_value(const pp_value *v, struct packed *out)
{
    return pack_into(v, NULL, out);
}

pp_status unpack_value(const uint8_t *data, size_t len, pp_value **out)
{
    Polypool__V1__Values *msg = polypool__v1__values__unpack(NULL, len, data);
    if (!msg)
        return fail(PP_EPROTO, "the message is not a value (was it sent as bytes?)");
    codec_dec d;
    codec_dec_init(&d, msg);
    pp_value *v = NULL;
    pp_status st = codec_dec_next(&d, &v);
    pp_value *extra = NULL;
    if (st == PP_OK && codec_dec_next(&d, &extra) != PP_EEOF) {
        pp_value_free(extra);
        pp_value_free(v);
        st = PP_EPROTO;
    }
    codec_dec_fini(&d);
    polypool__v1__values__free_unpacked(msg, NULL);
    if (st != PP_OK)
        return fail(st == PP_ENOMEM ? st : PP_EPROTO,
                    st == PP_ENOMEM ? "out of memory" : "the message is not one value");
    *out = v;
    return PP_OK;
}

void *grow_buf_alloc(void *arg, size_t len)
{
    struct grow_buf *b = arg;
    if (len + 1 > b->cap) {
        uint8_t *p = realloc(b->data, len + 1);
        if (!p)
            return NULL;
        b->data = p;
        b->cap = len + 1;
    }
    return b->data;
}

/* This thread's buffers to pack a message into and to take one out of
 * the ring into, kept from one message to the next (up to SCRATCH_KEEP
 * bytes each). A malloc and a free of a large buffer per message make
 * glibc trim the top of the heap at every free and fault it back in,
 * page by page, at the next message: 64 KiB items went 30-60x slower.
 * A pthread key frees them when the thread exits. */
#define SCRATCH_KEEP ((size_t)1 << 20)

struct scratch {
    struct grow_buf put, get;
};

static _Thread_local struct scratch scratch_tls;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    struct scratch *s = p;
    free(s->put.data);
    free(s->get.data);
    memset(s, 0, sizeof *s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_destroy);
}

static struct scratch *scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!pthread_getspecific(scratch_key))
        pthread_setspecific(scratch_key, &scratch_tls);
    return &scratch_tls;
}

/* Lets go of a buffer that grew past SCRATCH_KEEP. */
static void scratch_trim(struct grow_buf *b)
{
    if (b->cap > SCRATCH_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

/* ---- queues ------------------------------------------------------------------ */

struct pp_queue {
    pp_shm *seg;
    uint64_t offset;
    bool joinable;
};

static void *ring_of(pp_shm *seg, uint64_t offset)
{
    char *base = pp_shm_data(seg);
    return base ? base + offset : NULL;
}

static pp_status mapped_ring(pp_shm *seg, uint64_t offset, void **ring)
{
    if (!(*ring = ring_of(seg, offset)))
        return fail(PP_EINVAL, "queues and pipes need a client that maps memory (not no_map)");
    if (offset > pp_shm_size(seg) || !ring_check(*ring, pp_shm_size(seg) - offset))
        return fail(PP_EINVAL, "no queue or pipe at that place of the segment");
    return PP_OK;
}

pp_status pp_queue_create(pp_client *c, const pp_queue_opts *opts, pp_queue **out)
{
    pp_queue_opts o = opts ? *opts : (pp_queue_opts){ 0 };
    if (!c || !out)
        return fail(PP_EINVAL, "pp_queue_create: NULL argument");
    if (o.maxsize > UINT32_MAX)
        return fail(PP_EINVAL, "pp_queue_create: maxsize over 2^32 - 1");
    size_t cap = o.capacity ? o.capacity : DEFAULT_CAPACITY;
    if (cap < 256)
        cap = 256;
    Polypool__V1__SyncInit si = POLYPOOL__V1__SYNC_INIT__INIT, *sp = &si;
    si.type = PP_H_QUEUE;
    si.offset = 0;
    si.value = (uint32_t)o.maxsize;
    si.capacity = cap;
    pp_shm *seg;
    pp_status st = shm_new(c, NULL, ring_size(cap), &sp, 1, &seg);
    if (st != PP_OK)
        return st;
    void *ring;
    if ((st = mapped_ring(seg, 0, &ring)) != PP_OK) {
        shm_unref(seg);
        return st;
    }
    pp_queue *q = calloc(1, sizeof *q);
    if (!q) {
        shm_unref(seg);
        return fail(PP_ENOMEM, "out of memory");
    }
    q->seg = seg;
    q->joinable = o.joinable;
    *out = q;
    return PP_OK;
}

static pp_status ring_status(int st, const char *what)
{
    switch (st) {
    case PP_OK:
        return PP_OK;
    case PP_ETIMEDOUT:
        error_set(PP_ETIMEDOUT, "%s", what);
        return PP_ETIMEDOUT;
    case PP_EEOF:
    case PP_ECLOSED:
        error_set(PP_ECLOSED, "the queue is closed");
        return PP_ECLOSED;
    default:
        error_set((pp_status)st, "%s", pp_strerror((pp_status)st));
        return (pp_status)st;
    }
}

static pp_status put_packed(pp_queue *q, const struct packed *p, int timeout_ms)
{
    void *ring = ring_of(q->seg, q->offset);
    struct pps_wait w = wait_ms(timeout_ms);
    return ring_status(ring_put(ring, p->data, p->len, q->joinable, &w), "the queue is full");
}

pp_status pp_queue_put(pp_queue *q, const pp_value *item, int timeout_ms)
{
    if (!q)
        return fail(PP_EINVAL, "pp_queue_put: NULL queue");
    struct grow_buf *buf = &scratch()->put;
    struct packed p;
    pp_status st = pack_into(item, buf, &p);
    if (st == PP_OK)
        st = put_packed(q, &p, timeout_ms);
    scratch_trim(buf);
    return st;
}

pp_status pp_queue_get(pp_queue *q, int timeout_ms, pp_value **item)
{
    if (!q || !item)
        return fail(PP_EINVAL, "pp_queue_get: NULL argument");
    void *ring = ring_of(q->seg, q->offset);
    struct pps_wait w = wait_ms(timeout_ms);
    struct grow_buf *b = &scratch()->get;
    size_t len = 0;
    pp_status st = ring_status(ring_get(ring, grow_buf_alloc, b, &len, &w), "the queue is empty");
    if (st == PP_OK)
        st = unpack_value(b->data, len, item);
    scratch_trim(b);
    return st;
}

pp_status pp_queue_put_many(pp_queue *q, const pp_value *items, int timeout_ms,
                            size_t *n_put)
{
    size_t n = 0;
    pp_status st = PP_OK;
    if (!q || pp_value_kind(items) != PP_LIST)
        st = fail(PP_EINVAL, "pp_queue_put_many: a queue and a LIST of items");
    int64_t deadline = timeout_ms < 0 ? -1 : pps_now_ms() + timeout_ms;
    for (size_t i = 0; st == PP_OK && i < pp_value_len(items); i++) {
        int left = deadline < 0 ? -1 : (int)(deadline > pps_now_ms() ? deadline - pps_now_ms() : 0);
        if ((st = pp_queue_put(q, pp_value_at(items, i), left)) == PP_OK)
            n++;
    }
    if (n_put)
        *n_put = n;
    return st;
}

pp_status pp_queue_get_many(pp_queue *q, size_t max, int timeout_ms, pp_value **items)
{
    if (!q || !items || max == 0)
        return fail(PP_EINVAL, "pp_queue_get_many: NULL argument or max 0");
    pp_value *first;
    pp_status st = pp_queue_get(q, timeout_ms, &first);
    if (st != PP_OK)
        return st;
    pp_value *list = pp_value_list();
    if (!list || pp_value_append(list, first) != PP_OK) {
        pp_value_free(first);
        pp_value_free(list);
        return fail(PP_ENOMEM, "out of memory");
    }
    for (size_t i = 1; i < max; i++) {
        pp_value *x;
        if (pp_queue_get(q, 0, &x) != PP_OK)
            break;
        if (pp_value_append(list, x) != PP_OK) {
            pp_value_free(x);
            break;
        }
    }
    *items = list;
    return PP_OK;
}

size_t pp_queue_qsize(pp_queue *q)
{
    return q ? ring_count(ring_of(q->seg, q->offset)) : 0;
}

bool pp_queue_empty(pp_queue *q)
{
    return pp_queue_qsize(q) == 0;
}

bool pp_queue_full(pp_queue *q)
{
    if (!q)
        return false;
    const struct ring_hdr *h =
        (const struct ring_hdr *)((char *)ring_of(q->seg, q->offset) + RING_HDR_OFF);
    return h->maxcount && atomic_load(&h->count) >= h->maxcount;
}

pp_status pp_queue_close(pp_queue *q)
{
    if (!q)
        return fail(PP_EINVAL, "pp_queue_close: NULL queue");
    ring_set_flags(ring_of(q->seg, q->offset), RING_CLOSED);
    return PP_OK;
}

pp_status pp_queue_task_done(pp_queue *q)
{
    if (!q || !q->joinable)
        return fail(PP_EINVAL, "pp_queue_task_done: not a joinable queue");
    if (ring_task_done(ring_of(q->seg, q->offset)) != PP_OK)
        return fail(PP_ESTATE, "task_done() called too many times");
    return PP_OK;
}

pp_status pp_queue_join(pp_queue *q, int timeout_ms)
{
    if (!q || !q->joinable)
        return fail(PP_EINVAL, "pp_queue_join: not a joinable queue");
    struct pps_wait w = wait_ms(timeout_ms);
    return ring_status(ring_join(ring_of(q->seg, q->offset), &w),
                       "items are still not done");
}

void pp_queue_free(pp_queue *q)
{
    if (!q)
        return;
    shm_unref(q->seg);
    free(q);
}

static struct handle_rec *seg_rec(pp_shm *seg, uint32_t type, uint64_t offset)
{
    struct handle_rec *h = handle_rec_new();
    if (!h || set_str(&h->name, shm_path(seg))) {
        handle_rec_free(h);
        return NULL;
    }
    h->type = type;
    h->id = shm_id(seg);
    h->offset = offset;
    h->size = pp_shm_size(seg);
    return h;
}

pp_value *pp_queue_to_value(const pp_queue *q)
{
    if (!q)
        return NULL;
    struct handle_rec *h = seg_rec(q->seg, PP_H_QUEUE, q->offset);
    if (h)
        h->count = q->joinable;
    return h ? handle_value(h) : NULL;
}

pp_status pp_queue_from_value(pp_client *c, const pp_value *v, pp_queue **out)
{
    const struct handle_rec *h = handle_of(v, "pp_queue_from_value");
    if (!h)
        return PP_EINVAL;
    if (h->type != PP_H_QUEUE || !out)
        return fail(PP_EINVAL, "pp_queue_from_value: not a queue's handle");
    pp_shm *seg;
    pp_status st = shm_from_handle(c, h->id, h->name, h->size, &seg);
    if (st != PP_OK)
        return st;
    void *ring;
    pp_queue *q = NULL;
    if ((st = mapped_ring(seg, h->offset, &ring)) != PP_OK ||
        !(q = calloc(1, sizeof *q))) {
        shm_unref(seg);
        return st != PP_OK ? st : fail(PP_ENOMEM, "out of memory");
    }
    q->seg = seg;
    q->offset = h->offset;
    q->joinable = h->count != 0;
    *out = q;
    return PP_OK;
}

/* ---- pipes ------------------------------------------------------------------- */

struct pp_conn {
    pp_shm *seg;          /* the rings */
    pp_shm *end;          /* this end's own segment */
    uint64_t in, out;     /* ring offsets + 1; 0: none */
};

static pp_status closer(Polypool__V1__Closer *c, pp_shm *target, uint64_t offset,
                        uint32_t flags, Polypool__V1__Closer **slot)
{
    polypool__v1__closer__init(c);
    c->target = shm_id(target);
    c->offset = offset;
    c->flags = flags;
    *slot = c;
    return PP_OK;
}

/* An end's segment: when it goes, the rings it reads and writes learn it.
 * The daemon runs closers in order: the ring this end reads is marked
 * first, so a peer that got EOF also finds its sends failing. */
static pp_status end_new(pp_client *c, pp_shm *seg, uint64_t in, uint64_t out, pp_shm **end)
{
    Polypool__V1__Closer cl[2], *cp[2];
    size_t n = 0;
    if (in) {
        closer(&cl[n], seg, in - 1, RING_NO_READERS, &cp[n]);
        n++;
    }
    if (out) {
        closer(&cl[n], seg, out - 1, RING_NO_WRITERS, &cp[n]);
        n++;
    }
    return shm_new_closers(c, NULL, PPS_SLOT, NULL, 0, cp, n, end);
}

static pp_conn *conn_new(pp_shm *seg, pp_shm *end, uint64_t in, uint64_t out)
{
    pp_conn *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->seg = shm_ref(seg);
    k->end = end;
    k->in = in;
    k->out = out;
    return k;
}

pp_status pp_pipe(pp_client *c, bool duplex, pp_conn **a, pp_conn **b)
{
    if (!c || !a || !b)
        return fail(PP_EINVAL, "pp_pipe: NULL argument");
    size_t cap = DEFAULT_CAPACITY, rs = ring_size(cap);
    Polypool__V1__SyncInit si[2], *sp[2];
    for (int i = 0; i < 2; i++) {
        polypool__v1__sync_init__init(&si[i]);
        si[i].type = PP_H_QUEUE;
        si[i].offset = (uint64_t)i * rs;
        si[i].capacity = cap;
        sp[i] = &si[i];
    }
    pp_shm *seg, *ea = NULL, *eb = NULL;
    pp_status st = shm_new(c, NULL, (duplex ? 2 : 1) * rs, sp, duplex ? 2 : 1, &seg);
    if (st != PP_OK)
        return st;
    void *ring;
    if ((st = mapped_ring(seg, 0, &ring)) != PP_OK) {
        shm_unref(seg);
        return st;
    }
    /* duplex: a writes ring 0 and reads ring 1, b the other way round.
     * Otherwise a reads ring 0, b writes it. */
    uint64_t a_in = duplex ? rs + 1 : 1, a_out = duplex ? 1 : 0;
    uint64_t b_in = duplex ? 1 : 0, b_out = duplex ? rs + 1 : 1;
    if ((st = end_new(c, seg, a_in, a_out, &ea)) != PP_OK ||
        (st = end_new(c, seg, b_in, b_out, &eb)) != PP_OK) {
        shm_unref(ea);
        shm_unref(seg);
        return st;
    }
    pp_conn *ka = conn_new(seg, ea, a_in, a_out), *kb = conn_new(seg, eb, b_in, b_out);
    shm_unref(seg);
    if (!ka || !kb) {
        if (ka)
            pp_conn_close(ka);
        else
            shm_unref(ea);
        if (kb)
            pp_conn_close(kb);
        else
            shm_unref(eb);
        return fail(PP_ENOMEM, "out of memory");
    }
    *a = ka;
    *b = kb;
    return PP_OK;
}

static pp_status conn_status(int st)
{
    switch (st) {
    case PP_OK:
        return PP_OK;
    case PP_ETIMEDOUT:
        return fail(PP_ETIMEDOUT, "no message in time");
    case PP_EEOF:
        return fail(PP_EEOF, "the other end of the pipe is closed");
    case PP_ECLOSED:
        return fail(PP_ECLOSED, "the other end of the pipe is closed");
    default:
        return fail((pp_status)st, pp_strerror((pp_status)st));
    }
}

pp_status pp_conn_send_bytes(pp_conn *c, const void *data, size_t len)
{
    if (!c || (!data && len))
        return fail(PP_EINVAL, "pp_conn_send_bytes: NULL argument");
    if (!c->out)
        return fail(PP_EPERM, "connection is read-only");
    return conn_status(ring_put(ring_of(c->seg, c->out - 1), data, len, false, NULL));
}

pp_status pp_conn_send(pp_conn *c, const pp_value *v)
{
    if (!c)
        return fail(PP_EINVAL, "pp_conn_send: NULL connection");
    struct grow_buf *buf = &scratch()->put;
    struct packed p;
    pp_status st = pack_into(v, buf, &p);
    if (st == PP_OK)
        st = pp_conn_send_bytes(c, p.data, p.len);
    scratch_trim(buf);
    return st;
}

/* Takes the next message into b. */
static pp_status conn_take(pp_conn *c, int timeout_ms, struct grow_buf *b, size_t *len)
{
    if (!c->in)
        return fail(PP_EPERM, "connection is write-only");
    struct pps_wait w = wait_ms(timeout_ms);
    return conn_status(ring_get(ring_of(c->seg, c->in - 1), grow_buf_alloc, b, len, &w));
}

pp_status pp_conn_recv_bytes(pp_conn *c, int timeout_ms, void **data, size_t *len)
{
    if (!c || !data || !len)
        return fail(PP_EINVAL, "pp_conn_recv_bytes: NULL argument");
    struct grow_buf b = { 0 };
    pp_status st = conn_take(c, timeout_ms, &b, len);
    if (st != PP_OK) {
        free(b.data);
        return st;
    }
    if (!b.data && !(b.data = malloc(1))) {
        return fail(PP_ENOMEM, "out of memory");
    }
    *data = b.data;
    return PP_OK;
}

pp_status pp_conn_recv(pp_conn *c, int timeout_ms, pp_value **v)
{
    if (!c || !v)
        return fail(PP_EINVAL, "pp_conn_recv: NULL argument");
    struct grow_buf *b = &scratch()->get;
    size_t len = 0;
    pp_status st = conn_take(c, timeout_ms, b, &len);
    if (st == PP_OK)
        st = unpack_value(b->data, len, v);
    scratch_trim(b);
    return st;
}

pp_status pp_conn_poll(pp_conn *c, int timeout_ms)
{
    if (!c)
        return fail(PP_EINVAL, "pp_conn_poll: NULL connection");
    if (!c->in)
        return fail(PP_EPERM, "connection is write-only");
    struct pps_wait w = wait_ms(timeout_ms);
    return conn_status(ring_poll(ring_of(c->seg, c->in - 1), &w));
}

/* Marks the ends with a message or at EOF; whether any is. */
static bool conns_ready(pp_conn *const *conns, size_t n, bool *ready)
{
    struct pps_wait now = wait_ms(0);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        ready[i] = conns[i]->in &&
                   ring_poll(ring_of(conns[i]->seg, conns[i]->in - 1), &now) != PP_ETIMEDOUT;
        any |= ready[i];
    }
    return any;
}

pp_status pp_conn_wait(pp_conn *const *conns, size_t n, int timeout_ms, bool *ready)
{
    if (!conns || !ready || n == 0)
        return fail(PP_EINVAL, "pp_conn_wait: no ends to wait for");
    /* One futex at a time: the first readable end is waited on, in 10 ms
     * slices when there are others to look at (as multiprocessing's wait
     * does for polypool connections in Python). */
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        if (!conns[i])
            return fail(PP_EINVAL, "pp_conn_wait: a NULL end");
        if (conns[i]->in && first == n)
            first = i;
    }
    if (first == n && timeout_ms < 0)
        return fail(PP_EINVAL, "pp_conn_wait: every end is write-only: it would wait forever");
    int64_t deadline = timeout_ms < 0 ? -1 : pps_now_ms() + timeout_ms;
    for (;;) {
        if (conns_ready(conns, n, ready))
            return PP_OK;
        int64_t left = deadline < 0 ? -1 : deadline - pps_now_ms();
        if (deadline >= 0 && left <= 0)
            return fail(PP_ETIMEDOUT, "no end had a message in time");
        int64_t slice = n > 1 && (left < 0 || left > 10) ? 10 : left;
        if (first == n) {
            /* Nothing can arrive: wait the time out. */
            struct timespec ts = { slice / 1000, (slice % 1000) * 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        struct pps_wait w = wait_ms(slice);
        ring_poll(ring_of(conns[first]->seg, conns[first]->in - 1), &w);
    }
}

bool pp_conn_readable(const pp_conn *c)
{
    return c && c->in;
}

bool pp_conn_writable(const pp_conn *c)
{
    return c && c->out;
}

void pp_conn_close(pp_conn *c)
{
    if (!c)
        return;
    shm_unref(c->end);
    shm_unref(c->seg);
    free(c);
}

pp_value *pp_conn_to_value(const pp_conn *c)
{
    if (!c)
        return NULL;
    struct handle_rec *h = seg_rec(c->seg, PP_H_CONNECTION, c->in);
    if (!h || set_str(&h->end_name, shm_path(c->end))) {
        handle_rec_free(h);
        return NULL;
    }
    h->out_offset = c->out;
    h->end_id = shm_id(c->end);
    h->end_size = pp_shm_size(c->end);
    return handle_value(h);
}

pp_status pp_conn_from_value(pp_client *c, const pp_value *v, pp_conn **out)
{
    const struct handle_rec *h = handle_of(v, "pp_conn_from_value");
    if (!h)
        return PP_EINVAL;
    if (h->type != PP_H_CONNECTION || !out || (!h->offset && !h->out_offset) || !h->end_id)
        return fail(PP_EINVAL, "pp_conn_from_value: not a pipe end's handle");
    pp_shm *seg, *end;
    pp_status st = shm_from_handle(c, h->id, h->name, h->size, &seg);
    if (st != PP_OK)
        return st;
    if ((st = shm_from_handle(c, h->end_id, h->end_name, h->end_size, &end)) != PP_OK) {
        shm_unref(seg);
        return st;
    }
    void *ring;
    if ((h->offset && (st = mapped_ring(seg, h->offset - 1, &ring)) != PP_OK) ||
        (h->out_offset && (st = mapped_ring(seg, h->out_offset - 1, &ring)) != PP_OK)) {
        shm_unref(end);
        shm_unref(seg);
        return st;
    }
    pp_conn *k = conn_new(seg, end, h->offset, h->out_offset);
    shm_unref(seg);
    if (!k) {
        shm_unref(end);
        return fail(PP_ENOMEM, "out of memory");
    }
    *out = k;
    return PP_OK;
}
