/* shared.c - shared memory segments, primitives and arrays (client side).
 *
 * Objects are views on daemon-made segments: a pp_shm is one mapping of a
 * segment with one daemon reference (none inside a task); a pp_sync or a
 * pp_array points into a pp_shm it shares with the objects made with it
 * (a Condition and its RLock, an Array and its lock), counted by `refs`.
 * Primitive operations run sync_core.c on the mapping; a no_map client
 * sends SyncOp requests instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "sync_core.h"

/* ---- handles in values ------------------------------------------------ */

static const char *const type_names[] = {
    [PP_H_NONE] = "none",       [PP_H_SEGMENT] = "segment",
    [PP_H_LOCK] = "lock",       [PP_H_RLOCK] = "rlock",
    [PP_H_SEMAPHORE] = "semaphore", [PP_H_BOUNDED_SEMAPHORE] = "bounded_semaphore",
    [PP_H_EVENT] = "event",     [PP_H_CONDITION] = "condition",
    [PP_H_BARRIER] = "barrier", [PP_H_VALUE] = "value",
    [PP_H_QUEUE] = "queue",     [PP_H_CONNECTION] = "connection",
};

const char *handle_type_name(uint32_t type)
{
    return type <= PP_H_CONNECTION ? type_names[type] : "handle";
}

struct handle_rec *handle_rec_new(void)
{
    struct handle_rec *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->name = strdup("");
    h->lock_name = strdup("");
    h->label = strdup("");
    h->end_name = strdup("");
    if (!h->name || !h->lock_name || !h->label || !h->end_name) {
        handle_rec_free(h);
        return NULL;
    }
    return h;
}

void handle_rec_free(struct handle_rec *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->lock_name);
    free(h->label);
    free(h->end_name);
    free(h);
}

int set_str(char **dst, const char *src)
{
    char *c = strdup(src ? src : "");
    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

struct handle_rec *handle_rec_copy(const struct handle_rec *h)
{
    struct handle_rec *c = handle_rec_new();
    if (!c)
        return NULL;
    char *n = c->name, *ln = c->lock_name, *lb = c->label, *en = c->end_name;
    *c = *h;
    c->name = n;
    c->lock_name = ln;
    c->label = lb;
    c->end_name = en;
    if (set_str(&c->name, h->name) || set_str(&c->lock_name, h->lock_name) ||
        set_str(&c->label, h->label) || set_str(&c->end_name, h->end_name)) {
        handle_rec_free(c);
        return NULL;
    }
    return c;
}

struct handle_rec *handle_rec_from_msg(const Polypool__V1__Handle *m)
{
    struct handle_rec *h = handle_rec_new();
    if (!h)
        return NULL;
    h->type = m->type;
    h->id = m->id;
    h->offset = m->offset;
    h->size = m->size;
    h->typecode = m->typecode && m->typecode[0] ? m->typecode[0] : 0;
    h->count = m->count;
    h->lock_type = m->lock_type;
    h->lock_id = m->lock_id;
    h->lock_offset = m->lock_offset;
    h->lock_size = m->lock_size;
    h->out_offset = m->out_offset;
    h->end_id = m->end_id;
    h->end_size = m->end_size;
    if (set_str(&h->name, m->name) || set_str(&h->lock_name, m->lock_name) ||
        set_str(&h->label, m->label) || set_str(&h->end_name, m->end_name)) {
        handle_rec_free(h);
        return NULL;
    }
    return h;
}

pp_status handle_msg_from_rec(Polypool__V1__Handle *m, const struct handle_rec *h)
{
    polypool__v1__handle__init(m);
    m->type = h->type;
    m->id = h->id;
    m->offset = h->offset;
    m->size = h->size;
    m->count = h->count;
    m->lock_type = h->lock_type;
    m->lock_id = h->lock_id;
    m->lock_offset = h->lock_offset;
    m->lock_size = h->lock_size;
    m->out_offset = h->out_offset;
    m->end_id = h->end_id;
    m->end_size = h->end_size;
    char tc[2] = { h->typecode, 0 };
    m->name = strdup(h->name);
    m->lock_name = strdup(h->lock_name);
    m->label = strdup(h->label);
    m->typecode = strdup(tc);
    m->end_name = strdup(h->end_name);
    if (!m->name || !m->lock_name || !m->label || !m->typecode || !m->end_name) {
        handle_msg_free(m);
        return PP_ENOMEM;
    }
    return PP_OK;
}

void handle_msg_free(Polypool__V1__Handle *m)
{
    free(m->name);
    free(m->lock_name);
    free(m->label);
    free(m->typecode);
    free(m->end_name);
    m->name = m->lock_name = m->label = m->typecode = m->end_name = NULL;
}

pp_handle_type pp_value_handle_type(const pp_value *v)
{
    return v && v->kind == PP_HANDLE ? (pp_handle_type)v->u.h->type : PP_H_NONE;
}

pp_value *handle_value(struct handle_rec *h)
{
    if (!h)
        return NULL;
    pp_value *v = value_new(PP_HANDLE);
    if (!v) {
        handle_rec_free(h);
        return NULL;
    }
    v->u.h = h;
    return v;
}

/* ---- segments ------------------------------------------------------------ */

struct pp_shm {
    atomic_uint refs;        /* pp_shm_close, and the objects that use it */
    /* NULL: no daemon reference (inside a task, or the client closed).
     * Guarded by held_mu while the segment is on the held list. */
    pp_client *c;
    pp_shm *prev, *next;     /* the held list: segments with a daemon reference */
    uint64_t id;
    char *name, *label;
    size_t size;
    void *base;              /* NULL when not mapped (no_map) */
};

static pp_status fail(pp_status st, const char *fmt, const char *what)
{
    error_set(st, fmt, what);
    return st;
}

static void shm_release_ref(pp_client *c, uint64_t id)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmRelease rel = POLYPOOL__V1__SHM_RELEASE__INIT;
    rel.id = id;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_RELEASE;
    req.shm_release = &rel;
    /* Best effort: the daemon drops the reference with the session anyway. */
    client_rpc(c, &req, 5000, NULL);
}

/* Segments holding a daemon reference, so that closing their client can
 * make them forget it (they may be freed after it). */
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static pp_shm *held;

static void held_add(pp_shm *s)
{
    pthread_mutex_lock(&held_mu);
    s->prev = NULL;
    s->next = held;
    if (held)
        held->prev = s;
    held = s;
    pthread_mutex_unlock(&held_mu);
}

static void held_unlink_locked(pp_shm *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        held = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

void shm_forget_client(pp_client *c)
{
    pthread_mutex_lock(&held_mu);
    for (pp_shm *s = held, *next; s; s = next) {
        next = s->next;
        if (s->c == c) {
            s->c = NULL;
            held_unlink_locked(s);
        }
    }
    pthread_mutex_unlock(&held_mu);
}

void shm_unref(pp_shm *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->base)
        munmap(s->base, s->size);
    pp_client *c = NULL;
    pthread_mutex_lock(&held_mu);
    if (s->c) {
        c = s->c;
        held_unlink_locked(s);
    }
    pthread_mutex_unlock(&held_mu);
    if (c)
        shm_release_ref(c, s->id);
    free(s->name);
    free(s->label);
    free(s);
}

pp_shm *shm_ref(pp_shm *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

/* Maps segment `name` of at least size bytes. */
static pp_status map_segment(const char *name, size_t size, void **base)
{
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        error_set(e == ENOENT ? PP_ENOENT : PP_EPERM, "cannot open shared memory %s: %s", name,
                  strerror(e));
        return e == ENOENT ? PP_ENOENT : PP_EPERM;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < size) {
        close(fd);
        return fail(PP_EINVAL, "shared memory %s is smaller than its handle says", name);
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        error_set(PP_ENOMEM, "cannot map shared memory %s: %s", name, strerror(e));
        return PP_ENOMEM;
    }
    *base = p;
    return PP_OK;
}

/* A pp_shm for a segment the daemon described (reply or handle); takes
 * over the daemon reference when c is set. On failure the reference is
 * dropped. */
static pp_status shm_open_desc(pp_client *c, uint64_t id, const char *name, const char *label,
                               size_t size, pp_shm **out)
{
    pp_shm *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name)) || !(s->label = strdup(label ? label : ""))) {
        if (s)
            free(s->name);
        free(s);
        if (c)
            shm_release_ref(c, id);
        return fail(PP_ENOMEM, "%s", "out of memory");
    }
    atomic_init(&s->refs, 1);
    s->c = c;
    s->id = id;
    s->size = size;
    if (c)
        held_add(s);
    if (!c || !c->no_map) {
        pp_status st = map_segment(name, size, &s->base);
        if (st != PP_OK) {
            s->base = NULL;
            shm_unref(s);
            return st;
        }
    }
    *out = s;
    return PP_OK;
}

static pp_status shm_from_reply(pp_client *c, Polypool__V1__Reply *r, pp_shm **out)
{
    const Polypool__V1__Handle *h =
        r->result_case == POLYPOOL__V1__REPLY__RESULT_SEGMENT ? r->segment : NULL;
    if (!h || !h->name || !h->name[0] || !h->size) {
        client_reply_free(r);
        return fail(PP_EPROTO, "%s", "the daemon's reply has no segment");
    }
    pp_status st = shm_open_desc(c, h->id, h->name, h->label, h->size, out);
    client_reply_free(r);
    return st;
}

/* ShmCreate with the given primitives and closers. */
pp_status shm_new_closers(pp_client *c, const char *label, size_t size,
                          Polypool__V1__SyncInit **syncs, size_t n_syncs,
                          Polypool__V1__Closer **closers, size_t n_closers, pp_shm **out)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmCreate cr = POLYPOOL__V1__SHM_CREATE__INIT;
    cr.size = size;
    cr.label = (char *)(label ? label : "");
    cr.n_syncs = n_syncs;
    cr.syncs = syncs;
    cr.n_closers = n_closers;
    cr.closers = closers;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_CREATE;
    req.shm_create = &cr;
    Polypool__V1__Reply *r;
    pp_status st = client_rpc(c, &req, -1, &r);
    if (st != PP_OK)
        return st;
    return shm_from_reply(c, r, out);
}

pp_status shm_new(pp_client *c, const char *label, size_t size,
                  Polypool__V1__SyncInit **syncs, size_t n_syncs, pp_shm **out)
{
    return shm_new_closers(c, label, size, syncs, n_syncs, NULL, 0, out);
}

pp_status shm_attach_id(pp_client *c, uint64_t id, const char *label, pp_shm **out)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmAttach at = POLYPOOL__V1__SHM_ATTACH__INIT;
    at.id = id;
    at.label = (char *)(label ? label : "");
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_ATTACH;
    req.shm_attach = &at;
    Polypool__V1__Reply *r;
    pp_status st = client_rpc(c, &req, -1, &r);
    if (st != PP_OK)
        return st;
    return shm_from_reply(c, r, out);
}

/* The segment a handle names: attached (c) or only mapped (NULL). */
pp_status shm_from_handle(pp_client *c, uint64_t id, const char *name, size_t size,
                          pp_shm **out)
{
    if (!c)
        return shm_open_desc(NULL, id, name, NULL, size, out);
    return shm_attach_id(c, id, NULL, out);
}

pp_status pp_shm_create(pp_client *c, const char *name, size_t size, pp_shm **out)
{
    if (!c || !out)
        return fail(PP_EINVAL, "%s", "pp_shm_create: NULL argument");
    if (size == 0)
        return fail(PP_EINVAL, "%s", "pp_shm_create: the size must be positive");
    return shm_new(c, name, size, NULL, 0, out);
}

pp_status pp_shm_attach(pp_client *c, const char *name, pp_shm **out)
{
    if (!c || !name || !*name || !out)
        return fail(PP_EINVAL, "%s", "pp_shm_attach: NULL or empty argument");
    return shm_attach_id(c, 0, name, out);
}

pp_status pp_shm_unlink(pp_client *c, const char *name)
{
    if (!c || !name || !*name)
        return fail(PP_EINVAL, "%s", "pp_shm_unlink: NULL or empty argument");
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmUnlink ul = POLYPOOL__V1__SHM_UNLINK__INIT;
    ul.label = (char *)name;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_UNLINK;
    req.shm_unlink = &ul;
    return client_rpc(c, &req, -1, NULL);
}

void *pp_shm_data(const pp_shm *s)
{
    return s ? s->base : NULL;
}

size_t pp_shm_size(const pp_shm *s)
{
    return s ? s->size : 0;
}

const char *pp_shm_name(const pp_shm *s)
{
    return s ? s->label : "";
}

static pp_status bounds(const pp_shm *s, size_t offset, size_t len)
{
    if (!s || offset > s->size || len > s->size - offset)
        return fail(PP_EINVAL, "%s", "beyond the end of the shared memory segment");
    return PP_OK;
}

/* An unmapped object works through its client, which must still be open. */
static pp_status rpc_client(const pp_shm *s, pp_client **c)
{
    if (!(*c = s->c))
        return fail(PP_ECLOSED, "%s", "the client this object was opened with is closed");
    return PP_OK;
}

pp_status pp_shm_read(pp_shm *s, size_t offset, void *buf, size_t len)
{
    pp_status st = bounds(s, offset, len);
    if (st != PP_OK || len == 0)
        return st;
    if (s->base) {
        memcpy(buf, (char *)s->base + offset, len);
        return PP_OK;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmRead rd = POLYPOOL__V1__SHM_READ__INIT;
    rd.id = s->id;
    rd.offset = offset;
    rd.length = len;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_READ;
    req.shm_read = &rd;
    Polypool__V1__Reply *r;
    pp_client *c;
    if ((st = rpc_client(s, &c)) != PP_OK || (st = client_rpc(c, &req, -1, &r)) != PP_OK)
        return st;
    if (r->result_case != POLYPOOL__V1__REPLY__RESULT_SHM_DATA || r->shm_data->data.len != len)
        st = fail(PP_EPROTO, "%s", "the daemon's reply has the wrong length");
    else
        memcpy(buf, r->shm_data->data.data, len);
    client_reply_free(r);
    return st;
}

pp_status pp_shm_write(pp_shm *s, size_t offset, const void *buf, size_t len)
{
    pp_status st = bounds(s, offset, len);
    if (st != PP_OK || len == 0)
        return st;
    if (s->base) {
        memcpy((char *)s->base + offset, buf, len);
        return PP_OK;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ShmWrite wr = POLYPOOL__V1__SHM_WRITE__INIT;
    wr.id = s->id;
    wr.offset = offset;
    wr.data.data = (uint8_t *)buf;
    wr.data.len = len;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHM_WRITE;
    req.shm_write = &wr;
    pp_client *c;
    if ((st = rpc_client(s, &c)) != PP_OK)
        return st;
    return client_rpc(c, &req, -1, NULL);
}

void client_no_map_off(pp_client *c)
{
    c->no_map = false;
}

uint64_t shm_id(const pp_shm *s)
{
    return s->id;
}

const char *shm_path(const pp_shm *s)
{
    return s->name;
}

void shm_unmap(pp_shm *s)
{
    if (s && s->base) {
        munmap(s->base, s->size);
        s->base = NULL;
    }
}

pp_value *handle_value_new(const struct handle_rec *h)
{
    return handle_value(handle_rec_copy(h));
}

void pp_shm_close(pp_shm *s)
{
    shm_unref(s);
}

pp_value *pp_shm_to_value(const pp_shm *s)
{
    if (!s)
        return NULL;
    struct handle_rec *h = handle_rec_new();
    if (!h || set_str(&h->name, s->name) || set_str(&h->label, s->label)) {
        handle_rec_free(h);
        return NULL;
    }
    h->type = PP_H_SEGMENT;
    h->id = s->id;
    h->size = s->size;
    return handle_value(h);
}

const struct handle_rec *handle_of(const pp_value *v, const char *fn)
{
    if (!v || v->kind != PP_HANDLE) {
        error_set(PP_EINVAL, "%s: the value is not a handle", fn);
        return NULL;
    }
    const struct handle_rec *h = v->u.h;
    if (!h->name[0] || !h->size) {
        error_set(PP_EINVAL, "%s: the handle names no segment", fn);
        return NULL;
    }
    return h;
}

pp_status pp_shm_from_value(pp_client *c, const pp_value *v, pp_shm **out)
{
    const struct handle_rec *h = handle_of(v, "pp_shm_from_value");
    if (!h)
        return PP_EINVAL;
    if (h->type != PP_H_SEGMENT || !out)
        return fail(PP_EINVAL, "pp_shm_from_value: a %s handle, not a segment",
                    handle_type_name(h->type));
    pp_shm *s;
    pp_status st = shm_from_handle(c, h->id, h->name, h->size, &s);
    if (st != PP_OK)
        return st;
    if (set_str(&s->label, h->label)) {
        shm_unref(s);
        return fail(PP_ENOMEM, "%s", "out of memory");
    }
    *out = s;
    return PP_OK;
}

/* ---- primitives ------------------------------------------------------------- */

struct pp_sync {
    pp_handle_type type;
    pp_shm *seg;
    uint64_t offset;
    struct pps *slot;        /* in seg's mapping; NULL when not mapped */
    pp_sync *lock;           /* CONDITION, BARRIER: their lock */
};

/* A view of the primitive at offset of seg (takes a reference on seg). */
static pp_status sync_view(pp_shm *seg, pp_handle_type type, uint64_t offset, pp_sync **out)
{
    if (offset % PPS_SLOT || offset > seg->size || seg->size - offset < PPS_SLOT)
        return fail(PP_EINVAL, "%s", "a primitive's handle points outside its segment");
    struct pps *slot = seg->base ? (struct pps *)((char *)seg->base + offset) : NULL;
    if (slot && !pps_check(slot, pps_kind_of(type)))
        return fail(PP_EINVAL, "no %s at that place of the segment", handle_type_name(type));
    pp_sync *s = calloc(1, sizeof *s);
    if (!s)
        return fail(PP_ENOMEM, "%s", "out of memory");
    s->type = type;
    s->seg = shm_ref(seg);
    s->offset = offset;
    s->slot = slot;
    *out = s;
    return PP_OK;
}

void pp_sync_free(pp_sync *s)
{
    if (!s)
        return;
    pp_sync_free(s->lock);
    shm_unref(s->seg);
    free(s);
}

static Polypool__V1__SyncInit *sync_init(Polypool__V1__SyncInit *si, pp_handle_type t,
                                         uint64_t offset, uint32_t value, uint32_t max)
{
    polypool__v1__sync_init__init(si);
    si->type = t;
    si->offset = offset;
    si->value = value;
    si->max = max;
    return si;
}

/* A new segment holding `n` primitives of `types` at 64-byte slots 0..n-1;
 * returns a view of the last one; with `lock_first`, slot 0 becomes its
 * lock. */
static pp_status sync_new(pp_client *c, const pp_handle_type *types, size_t n,
                          uint32_t value, uint32_t max, bool lock_first, pp_sync **out)
{
    if (!c || !out)
        return fail(PP_EINVAL, "%s", "NULL argument");
    Polypool__V1__SyncInit si[2], *sp[2];
    for (size_t i = 0; i < n; i++)
        sp[i] = sync_init(&si[i], types[i], i * PPS_SLOT, value, max);
    pp_shm *seg;
    pp_status st = shm_new(c, NULL, n * PPS_SLOT, sp, n, &seg);
    if (st != PP_OK)
        return st;
    pp_sync *s = NULL;
    st = sync_view(seg, types[n - 1], (n - 1) * PPS_SLOT, &s);
    if (st == PP_OK && lock_first) {
        st = sync_view(seg, types[0], 0, &s->lock);
        if (st != PP_OK) {
            pp_sync_free(s);
            s = NULL;
        }
    }
    shm_unref(seg);
    if (st == PP_OK)
        *out = s;
    return st;
}

pp_status pp_lock_create(pp_client *c, pp_sync **out)
{
    return sync_new(c, (pp_handle_type[]){ PP_H_LOCK }, 1, 0, 0, false, out);
}

pp_status pp_rlock_create(pp_client *c, pp_sync **out)
{
    return sync_new(c, (pp_handle_type[]){ PP_H_RLOCK }, 1, 0, 0, false, out);
}

pp_status pp_semaphore_create(pp_client *c, unsigned value, pp_sync **out)
{
    if (value > PPS_SEM_MAX)
        return fail(PP_EINVAL, "%s", "a semaphore's value must be below 2^31");
    return sync_new(c, (pp_handle_type[]){ PP_H_SEMAPHORE }, 1, value, 0, false, out);
}

pp_status pp_bounded_semaphore_create(pp_client *c, unsigned value, pp_sync **out)
{
    if (value > PPS_SEM_MAX)
        return fail(PP_EINVAL, "%s", "a semaphore's value must be below 2^31");
    return sync_new(c, (pp_handle_type[]){ PP_H_BOUNDED_SEMAPHORE }, 1, value, value, false,
                    out);
}

pp_status pp_event_create(pp_client *c, pp_sync **out)
{
    return sync_new(c, (pp_handle_type[]){ PP_H_EVENT }, 1, 0, 0, false, out);
}

static pp_status copy_view(const pp_sync *s, pp_sync **out)
{
    return sync_view(s->seg, s->type, s->offset, out);
}

pp_status pp_condition_create(pp_client *c, pp_sync *lock, pp_sync **out)
{
    if (!lock)
        return sync_new(c, (pp_handle_type[]){ PP_H_RLOCK, PP_H_CONDITION }, 2, 0, 0, true,
                        out);
    if (lock->type != PP_H_LOCK && lock->type != PP_H_RLOCK)
        return fail(PP_EINVAL, "%s", "a condition's lock must be a Lock or an RLock");
    pp_sync *s;
    pp_status st = sync_new(c, (pp_handle_type[]){ PP_H_CONDITION }, 1, 0, 0, false, &s);
    if (st != PP_OK)
        return st;
    if ((st = copy_view(lock, &s->lock)) != PP_OK) {
        pp_sync_free(s);
        return st;
    }
    *out = s;
    return PP_OK;
}

pp_status pp_barrier_create(pp_client *c, unsigned parties, pp_sync **out)
{
    if (parties == 0 || parties > PPS_SEM_MAX)
        return fail(PP_EINVAL, "%s", "a barrier needs 1 to 2^31-1 parties");
    return sync_new(c, (pp_handle_type[]){ PP_H_LOCK, PP_H_BARRIER }, 2, parties, 0, true, out);
}

pp_handle_type pp_sync_type(const pp_sync *s)
{
    return s ? s->type : PP_H_NONE;
}

static struct handle_rec *sync_rec(const pp_sync *s)
{
    struct handle_rec *h = handle_rec_new();
    if (!h || set_str(&h->name, s->seg->name)) {
        handle_rec_free(h);
        return NULL;
    }
    h->type = s->type;
    h->id = s->seg->id;
    h->offset = s->offset;
    h->size = s->seg->size;
    if (s->lock) {
        if (set_str(&h->lock_name, s->lock->seg->name)) {
            handle_rec_free(h);
            return NULL;
        }
        h->lock_type = s->lock->type;
        h->lock_id = s->lock->seg->id;
        h->lock_offset = s->lock->offset;
        h->lock_size = s->lock->seg->size;
    }
    return h;
}

pp_value *pp_sync_to_value(const pp_sync *s)
{
    return s ? handle_value(sync_rec(s)) : NULL;
}

/* The lock a handle's lock_* fields describe; seg is the object's own
 * segment, used when the lock lives in it. */
static pp_status lock_view(pp_client *c, const struct handle_rec *h, pp_shm *seg, pp_sync **out)
{
    if (h->lock_id == h->id)
        return sync_view(seg, (pp_handle_type)h->lock_type, h->lock_offset, out);
    pp_shm *lseg;
    pp_status st = shm_from_handle(c, h->lock_id, h->lock_name, h->lock_size, &lseg);
    if (st == PP_OK) {
        st = sync_view(lseg, (pp_handle_type)h->lock_type, h->lock_offset, out);
        shm_unref(lseg);
    }
    return st;
}

/* The primitive (and its lock) a handle names. */
static pp_status sync_from_rec(pp_client *c, const struct handle_rec *h, pp_sync **out)
{
    pp_shm *seg;
    pp_status st = shm_from_handle(c, h->id, h->name, h->size, &seg);
    if (st != PP_OK)
        return st;
    pp_sync *s;
    st = sync_view(seg, (pp_handle_type)h->type, h->offset, &s);
    shm_unref(seg);
    if (st != PP_OK)
        return st;
    bool needs_lock = h->type == PP_H_CONDITION || h->type == PP_H_BARRIER;
    if (needs_lock != (h->lock_type == PP_H_LOCK || h->lock_type == PP_H_RLOCK)) {
        pp_sync_free(s);
        return fail(PP_EINVAL, "%s", "a condition or barrier handle without its lock");
    }
    if (needs_lock && (st = lock_view(c, h, s->seg, &s->lock)) != PP_OK) {
        pp_sync_free(s);
        return st;
    }
    *out = s;
    return PP_OK;
}

pp_status pp_sync_from_value(pp_client *c, const pp_value *v, pp_sync **out)
{
    const struct handle_rec *h = handle_of(v, "pp_sync_from_value");
    if (!h)
        return PP_EINVAL;
    if (!pps_kind_of(h->type) || !out)
        return fail(PP_EINVAL, "pp_sync_from_value: a %s handle, not a primitive",
                    handle_type_name(h->type));
    return sync_from_rec(c, h, out);
}

/* ---- operations ------------------------------------------------------------------ */

struct sync_res {
    int64_t value;
    unsigned parties, n_waiting;
    bool broken;
};

/* SyncOp for a client that does not map the segment (a condition or a
 * barrier names its lock; n: notify count). */
static pp_status sync_rpc_full(pp_sync *s, Polypool__V1__SyncOpKind op, int timeout_ms,
                               uint32_t n, struct sync_res *res)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__SyncOp so = POLYPOOL__V1__SYNC_OP__INIT;
    so.id = s->seg->id;
    so.offset = s->offset;
    so.op = op;
    so.tid = pps_tid();
    so.n = n;
    if (s->lock) {
        so.lock_id = s->lock->seg->id;
        so.lock_offset = s->lock->offset;
    }
    req.op_case = POLYPOOL__V1__REQUEST__OP_SYNC;
    req.sync = &so;
    /* Request.timeout_ms 0 means no deadline: "do not wait" is sent as the
     * shortest one (the daemon tries once before it parks a wait). */
    if (timeout_ms >= 0)
        req.timeout_ms = timeout_ms > 0 ? (uint64_t)timeout_ms : 1;
    /* A condition or barrier wait ends only once the daemon has taken the
     * lock back for this thread, which may be long after the timeout: give
     * up on the reply earlier and the lock is taken behind our back. */
    bool relocks = op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_COND_WAIT ||
                   op == POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_WAIT;
    Polypool__V1__Reply *r = NULL;
    pp_client *c;
    pp_status st = rpc_client(s->seg, &c);
    if (st != PP_OK)
        return st;
    st = client_rpc(c, &req, timeout_ms < 0 || relocks ? -1 : timeout_ms, &r);
    if (st != PP_OK)
        return st;
    if (res && r->result_case == POLYPOOL__V1__REPLY__RESULT_SYNC) {
        res->value = r->sync->value;
        res->parties = r->sync->parties;
        res->n_waiting = r->sync->n_waiting;
        res->broken = r->sync->broken;
    }
    client_reply_free(r);
    return PP_OK;
}

static pp_status sync_rpc(pp_sync *s, Polypool__V1__SyncOpKind op, int timeout_ms,
                          int64_t *value)
{
    struct sync_res res = { 0 };
    pp_status st = sync_rpc_full(s, op, timeout_ms, 0, &res);
    if (st == PP_OK && value)
        *value = res.value;
    return st;
}

static bool is_lockish(const pp_sync *s)
{
    return s->type == PP_H_LOCK || s->type == PP_H_RLOCK || s->type == PP_H_SEMAPHORE ||
           s->type == PP_H_BOUNDED_SEMAPHORE;
}

static pp_status op_status(int st, const char *what)
{
    switch (st) {
    case PP_OK:
        return PP_OK;
    case PP_EOWNERDEAD:
        error_set(PP_EOWNERDEAD, "acquired %s, but its previous holder died holding it", what);
        return PP_EOWNERDEAD;
    case PP_ETIMEDOUT:
        error_set(PP_ETIMEDOUT, "timed out waiting for %s", what);
        return PP_ETIMEDOUT;
    case PP_ESTATE:
        error_set(PP_ESTATE, "%s released too many times", what);
        return PP_ESTATE;
    case PP_EPERM:
        error_set(PP_EPERM, "%s is held by another thread", what);
        return PP_EPERM;
    default:
        error_set((pp_status)st, "%s: %s", what, pp_strerror((pp_status)st));
        return (pp_status)st;
    }
}

pp_status pp_sync_acquire(pp_sync *s, int timeout_ms)
{
    if (!s)
        return fail(PP_EINVAL, "%s", "pp_sync_acquire: NULL");
    /* A condition stands for its lock; a barrier's lock is its own. */
    if (s->type == PP_H_CONDITION)
        s = s->lock;
    if (!is_lockish(s))
        return fail(PP_EINVAL, "pp_sync_acquire: a %s cannot be acquired",
                    handle_type_name(s->type));
    if (!s->slot)
        return op_status(sync_rpc(s, timeout_ms == 0 ? POLYPOOL__V1__SYNC_OP_KIND__SYNC_TRY_ACQUIRE
                                                     : POLYPOOL__V1__SYNC_OP_KIND__SYNC_ACQUIRE,
                                  timeout_ms, NULL),
                         handle_type_name(s->type));
    struct pps_wait w = pps_wait_for(timeout_ms);
    int st = s->type == PP_H_LOCK || s->type == PP_H_RLOCK
                 ? pps_lock_acquire(s->slot, pps_pid(), pps_tid(), &w)
                 : pps_sem_acquire(s->slot, &w);
    return st == PP_OK ? PP_OK : op_status(st, handle_type_name(s->type));
}

pp_status pp_sync_release(pp_sync *s)
{
    if (!s)
        return fail(PP_EINVAL, "%s", "pp_sync_release: NULL");
    /* A condition stands for its lock; a barrier's lock is its own. */
    if (s->type == PP_H_CONDITION)
        s = s->lock;
    if (!is_lockish(s))
        return fail(PP_EINVAL, "pp_sync_release: a %s cannot be released",
                    handle_type_name(s->type));
    if (!s->slot)
        return op_status(sync_rpc(s, POLYPOOL__V1__SYNC_OP_KIND__SYNC_RELEASE, -1, NULL),
                         handle_type_name(s->type));
    int st = s->type == PP_H_LOCK || s->type == PP_H_RLOCK
                 ? pps_lock_release(s->slot, pps_pid(), pps_tid())
                 : pps_sem_release(s->slot);
    return st == PP_OK ? PP_OK : op_status(st, handle_type_name(s->type));
}

pp_status pp_semaphore_value(pp_sync *s, unsigned *out)
{
    if (!s || !out || (s->type != PP_H_SEMAPHORE && s->type != PP_H_BOUNDED_SEMAPHORE))
        return fail(PP_EINVAL, "%s", "pp_semaphore_value: not a semaphore");
    if (!s->slot) {
        int64_t v;
        pp_status st = sync_rpc(s, POLYPOOL__V1__SYNC_OP_KIND__SYNC_GET_VALUE, -1, &v);
        if (st == PP_OK)
            *out = (unsigned)v;
        return st;
    }
    *out = pps_sem_value(s->slot);
    return PP_OK;
}

pp_status pp_sync_value(pp_sync *s, unsigned *out)
{
    if (!s || !out)
        return fail(PP_EINVAL, "%s", "pp_sync_value: NULL argument");
    bool lock = s->type == PP_H_LOCK || s->type == PP_H_RLOCK;
    if (!lock && s->type != PP_H_SEMAPHORE && s->type != PP_H_BOUNDED_SEMAPHORE &&
        s->type != PP_H_EVENT)
        return fail(PP_EINVAL, "pp_sync_value: a %s has no value", handle_type_name(s->type));
    int64_t v;
    if (!s->slot) {
        /* The daemon gives a lock's holder pid (0: free). */
        pp_status st = sync_rpc(s, POLYPOOL__V1__SYNC_OP_KIND__SYNC_GET_VALUE, -1, &v);
        if (st != PP_OK)
            return st;
    } else {
        v = lock ? pps_lock_holder(s->slot)
            : s->type == PP_H_EVENT ? pps_event_is_set(s->slot) : pps_sem_value(s->slot);
    }
    *out = lock ? v == 0 : (unsigned)v;
    return PP_OK;
}

static pp_status need(const pp_sync *s, pp_handle_type t, const char *fn)
{
    if (!s || s->type != t) {
        error_set(PP_EINVAL, "%s: not a %s", fn, handle_type_name(t));
        return PP_EINVAL;
    }
    return PP_OK;
}

pp_status pp_event_set(pp_sync *e)
{
    pp_status st = need(e, PP_H_EVENT, "pp_event_set");
    if (st != PP_OK)
        return st;
    if (!e->slot)
        return sync_rpc(e, POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_SET, -1, NULL);
    pps_event_set(e->slot);
    return PP_OK;
}

pp_status pp_event_clear(pp_sync *e)
{
    pp_status st = need(e, PP_H_EVENT, "pp_event_clear");
    if (st != PP_OK)
        return st;
    if (!e->slot)
        return sync_rpc(e, POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_CLEAR, -1, NULL);
    pps_event_clear(e->slot);
    return PP_OK;
}

bool pp_event_is_set(pp_sync *e)
{
    if (need(e, PP_H_EVENT, "pp_event_is_set") != PP_OK)
        return false;
    if (!e->slot) {
        int64_t v = 0;
        return sync_rpc(e, POLYPOOL__V1__SYNC_OP_KIND__SYNC_GET_VALUE, -1, &v) == PP_OK && v;
    }
    return pps_event_is_set(e->slot);
}

pp_status pp_event_wait(pp_sync *e, int timeout_ms)
{
    pp_status st = need(e, PP_H_EVENT, "pp_event_wait");
    if (st != PP_OK)
        return st;
    if (!e->slot)
        return op_status(sync_rpc(e, POLYPOOL__V1__SYNC_OP_KIND__SYNC_EVENT_WAIT, timeout_ms, NULL),
                         "the event");
    struct pps_wait w = pps_wait_for(timeout_ms);
    int r = pps_event_wait(e->slot, &w);
    return r == PP_OK ? PP_OK : op_status(r, "the event");
}

pp_sync *pp_condition_lock(pp_sync *cond)
{
    return cond && cond->type == PP_H_CONDITION ? cond->lock : NULL;
}

pp_status pp_condition_wait(pp_sync *cond, int timeout_ms)
{
    pp_status st = need(cond, PP_H_CONDITION, "pp_condition_wait");
    if (st != PP_OK)
        return st;
    int r;
    if (!cond->slot) {
        r = sync_rpc_full(cond, POLYPOOL__V1__SYNC_OP_KIND__SYNC_COND_WAIT, timeout_ms, 0, NULL);
    } else {
        struct pps_wait w = pps_wait_for(timeout_ms);
        r = pps_cond_wait(cond->slot, cond->lock->slot, pps_pid(), pps_tid(), &w);
    }
    if (r == PP_ESTATE)
        return fail(PP_ESTATE, "%s", "wait on a condition whose lock this thread does not hold");
    return r == PP_OK ? PP_OK : op_status(r, "the condition");
}

pp_status pp_condition_wait_for(pp_sync *cond, bool (*pred)(void *arg), void *arg,
                                int timeout_ms)
{
    pp_status st = need(cond, PP_H_CONDITION, "pp_condition_wait_for");
    if (st != PP_OK)
        return st;
    if (!pred)
        return fail(PP_EINVAL, "%s", "pp_condition_wait_for: NULL predicate");
    int64_t deadline = timeout_ms < 0 ? -1 : pps_now_ms() + timeout_ms;
    /* As threading.Condition.wait_for: the predicate is checked first, and
     * after each wakeup, with the lock held. */
    while (!pred(arg)) {
        int64_t left = deadline < 0 ? -1 : deadline - pps_now_ms();
        if (deadline >= 0 && left <= 0)
            return fail(PP_ETIMEDOUT, "%s", "the condition's predicate stayed false");
        st = pp_condition_wait(cond, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
        if (st != PP_OK && st != PP_ETIMEDOUT)
            return st;
    }
    return PP_OK;
}

pp_status pp_condition_notify(pp_sync *cond, unsigned n)
{
    pp_status st = need(cond, PP_H_CONDITION, "pp_condition_notify");
    if (st != PP_OK)
        return st;
    int r = !cond->slot
                ? (int)sync_rpc_full(cond, POLYPOOL__V1__SYNC_OP_KIND__SYNC_COND_NOTIFY, -1, n, NULL)
                : pps_cond_notify(cond->slot, cond->lock->slot, pps_pid(), pps_tid(), n);
    if (r == PP_ESTATE)
        return fail(PP_ESTATE, "%s", "notify on a condition whose lock this thread does not hold");
    return r == PP_OK ? PP_OK : op_status(r, "the condition");
}

pp_status pp_condition_notify_all(pp_sync *cond)
{
    return pp_condition_notify(cond, UINT_MAX);
}

pp_status pp_barrier_wait_action(pp_sync *b, int timeout_ms, int (*action)(void *arg),
                                 void *arg, unsigned *index)
{
    pp_status st = need(b, PP_H_BARRIER, "pp_barrier_wait");
    if (st != PP_OK)
        return st;
    uint32_t idx = 0;
    int r;
    if (!b->slot) {
        if (action)
            return fail(PP_EINVAL, "%s",
                        "pp_barrier_wait_action: an action needs a client that maps memory");
        struct sync_res res = { 0 };
        r = sync_rpc_full(b, POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_WAIT, timeout_ms, 0, &res);
        idx = (uint32_t)res.value;
    } else {
        struct pps_wait w = pps_wait_for(timeout_ms);
        r = pps_barrier_wait(b->slot, b->lock->slot, pps_pid(), pps_tid(), &w, action, arg, &idx);
    }
    switch (r) {
    case PP_OK:
        if (index)
            *index = idx;
        return PP_OK;
    case PP_ESTATE:
        return fail(PP_ESTATE, "%s", "the barrier is broken");
    case PP_ETASK:
        return fail(PP_ETASK, "%s", "the barrier's action failed; the barrier is broken");
    default:
        return op_status(r, "the barrier");
    }
}

pp_status pp_barrier_wait(pp_sync *b, int timeout_ms, unsigned *index)
{
    return pp_barrier_wait_action(b, timeout_ms, NULL, NULL, index);
}

static pp_status barrier_control(pp_sync *b, bool abort, const char *fn)
{
    pp_status st = need(b, PP_H_BARRIER, fn);
    if (st != PP_OK)
        return st;
    if (!b->slot)
        return sync_rpc_full(b, abort ? POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_ABORT
                                      : POLYPOOL__V1__SYNC_OP_KIND__SYNC_BARRIER_RESET,
                             -1, 0, NULL);
    if (abort)
        pps_barrier_abort(b->slot, b->lock->slot, pps_pid(), pps_tid(), NULL);
    else
        pps_barrier_reset(b->slot, b->lock->slot, pps_pid(), pps_tid(), NULL);
    return PP_OK;
}

pp_status pp_barrier_reset(pp_sync *b)
{
    return barrier_control(b, false, "pp_barrier_reset");
}

pp_status pp_barrier_abort(pp_sync *b)
{
    return barrier_control(b, true, "pp_barrier_abort");
}

/* parties, n_waiting, broken: mapped, or through GET_VALUE. */
static bool barrier_state(pp_sync *b, const char *fn, struct sync_res *res)
{
    if (need(b, PP_H_BARRIER, fn) != PP_OK)
        return false;
    if (!b->slot)
        return sync_rpc_full(b, POLYPOOL__V1__SYNC_OP_KIND__SYNC_GET_VALUE, -1, 0, res) == PP_OK;
    res->parties = pps_barrier_parties(b->slot);
    res->n_waiting = pps_barrier_n_waiting(b->slot);
    res->broken = pps_barrier_broken(b->slot);
    return true;
}

unsigned pp_barrier_parties(pp_sync *b)
{
    struct sync_res res = { 0 };
    return barrier_state(b, "pp_barrier_parties", &res) ? res.parties : 0;
}

unsigned pp_barrier_n_waiting(pp_sync *b)
{
    struct sync_res res = { 0 };
    return barrier_state(b, "pp_barrier_n_waiting", &res) ? res.n_waiting : 0;
}

bool pp_barrier_broken(pp_sync *b)
{
    struct sync_res res = { 0 };
    return barrier_state(b, "pp_barrier_broken", &res) && res.broken;
}

/* ---- values and arrays ---------------------------------------------------------- */

struct pp_array {
    pp_shm *seg;
    uint64_t offset;
    char typecode;
    size_t count;            /* 0: a single value */
    pp_sync *lock;
};

size_t pp_typecode_size(char tc)
{
    switch (tc) {
    case 'b': case 'B': case 'c': case '?': return 1;
    case 'h': case 'H': return 2;
    case 'i': case 'I': case 'f': case 'u': return 4;
    case 'l': case 'L': case 'q': case 'Q': case 'd': return 8;
    default: return 0;
    }
}

pp_status pp_array_create(pp_client *c, char typecode, size_t count, bool lock, pp_array **out)
{
    size_t isz = pp_typecode_size(typecode);
    if (!c || !out)
        return fail(PP_EINVAL, "%s", "pp_array_create: NULL argument");
    if (!isz) {
        error_set(PP_EINVAL, "pp_array_create: unknown type code '%c'", typecode);
        return PP_EINVAL;
    }
    size_t n = count ? count : 1;
    if (n > (SIZE_MAX - PPS_SLOT) / isz)
        return fail(PP_ENOMEM, "%s", "pp_array_create: too many elements");
    uint64_t off = lock ? PPS_SLOT : 0;
    Polypool__V1__SyncInit si, *sp = sync_init(&si, PP_H_RLOCK, 0, 0, 0);
    pp_shm *seg;
    pp_status st = shm_new(c, NULL, off + n * isz, lock ? &sp : NULL, lock ? 1 : 0, &seg);
    if (st != PP_OK)
        return st;
    pp_array *a = calloc(1, sizeof *a);
    if (!a) {
        shm_unref(seg);
        return fail(PP_ENOMEM, "%s", "out of memory");
    }
    a->seg = seg;
    a->offset = off;
    a->typecode = typecode;
    a->count = count;
    if (lock && (st = sync_view(seg, PP_H_RLOCK, 0, &a->lock)) != PP_OK) {
        pp_array_free(a);
        return st;
    }
    *out = a;
    return PP_OK;
}

void *pp_array_data(const pp_array *a)
{
    return a && a->seg->base ? (char *)a->seg->base + a->offset : NULL;
}

size_t pp_array_len(const pp_array *a)
{
    return a ? (a->count ? a->count : 1) : 0;
}

bool pp_array_is_value(const pp_array *a)
{
    return a && a->count == 0;
}

char pp_array_typecode(const pp_array *a)
{
    return a ? a->typecode : 0;
}

size_t pp_array_itemsize(const pp_array *a)
{
    return a ? pp_typecode_size(a->typecode) : 0;
}

static pp_status array_range(const pp_array *a, size_t first, size_t n, const char *fn)
{
    if (!a || first > pp_array_len(a) || n > pp_array_len(a) - first) {
        error_set(PP_EINVAL, "%s: elements beyond the end of the array", fn);
        return PP_EINVAL;
    }
    return PP_OK;
}

pp_status pp_array_read(pp_array *a, size_t first, size_t n, void *out)
{
    pp_status st = array_range(a, first, n, "pp_array_read");
    if (st != PP_OK)
        return st;
    size_t isz = pp_typecode_size(a->typecode);
    return pp_shm_read(a->seg, a->offset + first * isz, out, n * isz);
}

pp_status pp_array_write(pp_array *a, size_t first, size_t n, const void *in)
{
    pp_status st = array_range(a, first, n, "pp_array_write");
    if (st != PP_OK)
        return st;
    size_t isz = pp_typecode_size(a->typecode);
    return pp_shm_write(a->seg, a->offset + first * isz, in, n * isz);
}

pp_status pp_array_synchronized(pp_client *c, pp_array *raw, pp_sync *lock, pp_array **out)
{
    if (!raw || !out || (!lock && !c))
        return fail(PP_EINVAL, "%s", "pp_array_synchronized: NULL argument");
    if (raw->lock)
        return fail(PP_EINVAL, "%s", "pp_array_synchronized: the array has a lock already");
    if (lock && lock->type != PP_H_LOCK && lock->type != PP_H_RLOCK)
        return fail(PP_EINVAL, "%s", "pp_array_synchronized: the lock must be a Lock or an RLock");
    pp_array *a = calloc(1, sizeof *a);
    if (!a)
        return fail(PP_ENOMEM, "%s", "out of memory");
    a->seg = shm_ref(raw->seg);
    a->offset = raw->offset;
    a->typecode = raw->typecode;
    a->count = raw->count;
    pp_status st = lock ? copy_view(lock, &a->lock) : pp_rlock_create(c, &a->lock);
    if (st != PP_OK) {
        pp_array_free(a);
        return st;
    }
    *out = a;
    return PP_OK;
}

pp_sync *pp_array_lock(pp_array *a)
{
    return a ? a->lock : NULL;
}

void pp_array_free(pp_array *a)
{
    if (!a)
        return;
    pp_sync_free(a->lock);
    shm_unref(a->seg);
    free(a);
}

pp_value *pp_array_to_value(const pp_array *a)
{
    if (!a)
        return NULL;
    struct handle_rec *h = handle_rec_new();
    if (!h || set_str(&h->name, a->seg->name) ||
        (a->lock && set_str(&h->lock_name, a->lock->seg->name))) {
        handle_rec_free(h);
        return NULL;
    }
    h->type = PP_H_VALUE;
    h->id = a->seg->id;
    h->offset = a->offset;
    h->size = a->seg->size;
    h->typecode = a->typecode;
    h->count = a->count;
    if (a->lock) {
        h->lock_type = a->lock->type;
        h->lock_id = a->lock->seg->id;
        h->lock_offset = a->lock->offset;
        h->lock_size = a->lock->seg->size;
    }
    return handle_value(h);
}

pp_status pp_array_from_value(pp_client *c, const pp_value *v, pp_array **out)
{
    const struct handle_rec *h = handle_of(v, "pp_array_from_value");
    if (!h)
        return PP_EINVAL;
    size_t isz = pp_typecode_size(h->typecode);
    if (h->type != PP_H_VALUE || !out || !isz)
        return fail(PP_EINVAL, "pp_array_from_value: a %s handle, not a value or array",
                    handle_type_name(h->type));
    size_t n = h->count ? h->count : 1;
    if (h->offset > h->size || n > (h->size - h->offset) / isz)
        return fail(PP_EINVAL, "%s", "pp_array_from_value: the array overruns its segment");
    pp_array *a = calloc(1, sizeof *a);
    if (!a)
        return fail(PP_ENOMEM, "%s", "out of memory");
    pp_status st = shm_from_handle(c, h->id, h->name, h->size, &a->seg);
    if (st != PP_OK) {
        free(a);
        return st;
    }
    a->offset = h->offset;
    a->typecode = h->typecode;
    a->count = h->count;
    if ((h->lock_type == PP_H_LOCK || h->lock_type == PP_H_RLOCK) &&
        (st = lock_view(c, h, a->seg, &a->lock)) != PP_OK) {
        pp_array_free(a);
        return st;
    }
    *out = a;
    return PP_OK;
}
