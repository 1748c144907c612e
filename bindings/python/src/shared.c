/* shared.c - segments and primitives for Python (polypool.synchronize,
 * polypool.sharedctypes, polypool.shared_memory).
 *
 * Segment is a mapped daemon segment exporting the buffer protocol; Sync
 * is a primitive in one, operated on in place (sync_core.c): acquiring an
 * uncontended lock is a compare-and-swap with the GIL held, no system call.
 * Waits release the GIL and check for signals every 100 ms (Ctrl-C).
 */
#include "ext.h"

#include <math.h>

#include "internal.h"
#include "sync_core.h"

/* ---- Segment --------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pp_shm *shm;
    Py_ssize_t exports;
    PyObject *weakrefs;
} Segment;

static void segment_dealloc(Segment *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    pp_shm *s = self->shm;
    self->shm = NULL;
    if (s) {
        Py_BEGIN_ALLOW_THREADS
        pp_shm_close(s);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int segment_getbuffer(Segment *self, Py_buffer *view, int flags)
{
    void *p = self->shm ? pp_shm_data(self->shm) : NULL;
    if (!p) {
        PyErr_SetString(PyExc_ValueError, "the shared memory segment is closed");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, p, (Py_ssize_t)pp_shm_size(self->shm), 0,
                          flags) < 0)
        return -1;
    self->exports++;
    return 0;
}

static void segment_releasebuffer(Segment *self, Py_buffer *view)
{
    self->exports--;
}

static PyBufferProcs segment_as_buffer = {
    (getbufferproc)segment_getbuffer,
    (releasebufferproc)segment_releasebuffer,
};

static PyObject *segment_unmap(Segment *self, PyObject *noargs)
{
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "cannot close exported pointers exist");
        return NULL;
    }
    if (self->shm)
        shm_unmap(self->shm);
    Py_RETURN_NONE;
}

static PyObject *segment_get_id(Segment *self, void *c)
{
    return PyLong_FromUnsignedLongLong(self->shm ? shm_id(self->shm) : 0);
}

static PyObject *segment_get_path(Segment *self, void *c)
{
    return PyUnicode_FromString(self->shm ? shm_path(self->shm) : "");
}

static PyObject *segment_get_label(Segment *self, void *c)
{
    return PyUnicode_FromString(self->shm ? pp_shm_name(self->shm) : "");
}

static PyObject *segment_get_size(Segment *self, void *c)
{
    return PyLong_FromSize_t(self->shm ? pp_shm_size(self->shm) : 0);
}

static PyObject *segment_get_mapped(Segment *self, void *c)
{
    return PyBool_FromLong(self->shm && pp_shm_data(self->shm));
}

static PyObject *segment_repr(Segment *self)
{
    return PyUnicode_FromFormat("<polypool segment %llu %s, %zu bytes>",
                                (unsigned long long)(self->shm ? shm_id(self->shm) : 0),
                                self->shm ? shm_path(self->shm) : "",
                                self->shm ? pp_shm_size(self->shm) : (size_t)0);
}

static PyGetSetDef segment_getset[] = {
    { "id", (getter)segment_get_id, NULL, "The daemon's id of the segment.", NULL },
    { "path", (getter)segment_get_path, NULL, "Its shm_open name.", NULL },
    { "label", (getter)segment_get_label, NULL, "The name it was created under, or ''.", NULL },
    { "size", (getter)segment_get_size, NULL, "Its size in bytes.", NULL },
    { "mapped", (getter)segment_get_mapped, NULL, "Whether it is mapped.", NULL },
    { NULL },
};

static PyMethodDef segment_methods[] = {
    { "unmap", (PyCFunction)segment_unmap, METH_NOARGS,
      "Unmaps it now (BufferError while views exist); the daemon reference stays." },
    { NULL },
};

static PyTypeObject SegmentType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Segment",
    .tp_basicsize = sizeof(Segment),
    .tp_dealloc = (destructor)segment_dealloc,
    .tp_repr = (reprfunc)segment_repr,
    .tp_as_buffer = &segment_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A mapped shared memory segment of the polypool daemon (buffer protocol).",
    .tp_getset = segment_getset,
    .tp_methods = segment_methods,
    .tp_weaklistoffset = offsetof(Segment, weakrefs),
};

static PyObject *segment_wrap(pp_shm *s)
{
    Segment *self = PyObject_New(Segment, &SegmentType);
    if (!self) {
        pp_shm_close(s);
        return NULL;
    }
    self->shm = s;
    self->exports = 0;
    self->weakrefs = NULL;
    return (PyObject *)self;
}

/* shm_create(size, label='', syncs=(), closers=()) -> Segment. syncs:
 * (type, offset, value, max[, capacity]) tuples; closers: (target segment
 * id, ring offset, flags) tuples. */
PyObject *ext_shm_create(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "size", "label", "syncs", "closers", NULL };
    unsigned long long size;
    const char *label = "";
    PyObject *syncs = NULL, *closers = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K|sOO", kwlist, &size, &label, &syncs,
                                     &closers))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    PyObject *fs = syncs ? PySequence_Fast(syncs, "syncs must be a sequence") : NULL;
    PyObject *fc = closers ? PySequence_Fast(closers, "closers must be a sequence") : NULL;
    if ((syncs && !fs) || (closers && !fc)) {
        Py_XDECREF(fs);
        Py_XDECREF(fc);
        return NULL;
    }
    Py_ssize_t n = fs ? PySequence_Fast_GET_SIZE(fs) : 0;
    Py_ssize_t nc = fc ? PySequence_Fast_GET_SIZE(fc) : 0;
    Polypool__V1__SyncInit *si = PyMem_Calloc((size_t)n + 1, sizeof *si);
    Polypool__V1__SyncInit **sp = PyMem_Calloc((size_t)n + 1, sizeof *sp);
    Polypool__V1__Closer *ci = PyMem_Calloc((size_t)nc + 1, sizeof *ci);
    Polypool__V1__Closer **cp = PyMem_Calloc((size_t)nc + 1, sizeof *cp);
    PyObject *ret = NULL;
    if (!si || !sp || !ci || !cp) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned t, v, m;
        unsigned long long off, cap = 0;
        polypool__v1__sync_init__init(&si[i]);
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fs, i), "IKII|K", &t, &off, &v, &m,
                              &cap))
            goto out;
        si[i].type = t;
        si[i].offset = off;
        si[i].value = v;
        si[i].max = m;
        si[i].capacity = cap;
        sp[i] = &si[i];
    }
    for (Py_ssize_t i = 0; i < nc; i++) {
        unsigned long long target, off;
        unsigned flags;
        polypool__v1__closer__init(&ci[i]);
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fc, i), "KKI", &target, &off, &flags))
            goto out;
        ci[i].target = target;
        ci[i].offset = off;
        ci[i].flags = flags;
        cp[i] = &ci[i];
    }
    pp_shm *s = NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = shm_new_closers(c, label, (size_t)size, sp, (size_t)n, cp, (size_t)nc, &s);
    Py_END_ALLOW_THREADS
    ret = st == PP_OK ? segment_wrap(s) : ext_raise(st);
out:
    PyMem_Free(si);
    PyMem_Free(sp);
    PyMem_Free(ci);
    PyMem_Free(cp);
    Py_XDECREF(fs);
    Py_XDECREF(fc);
    return ret;
}

/* shm_attach(id=0, label='') -> Segment (a new daemon reference). */
PyObject *ext_shm_attach(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "id", "label", NULL };
    unsigned long long id = 0;
    const char *label = "";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Ks", kwlist, &id, &label))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    pp_shm *s = NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = shm_attach_id(c, id, label, &s);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    return segment_wrap(s);
}

PyObject *ext_shm_unlink(PyObject *mod, PyObject *args)
{
    const char *label;
    if (!PyArg_ParseTuple(args, "s", &label))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_shm_unlink(c, label);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    Py_RETURN_NONE;
}

/* ---- Sync ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *seg;            /* Segment */
    struct pps *slot;
    int type;                 /* pp_handle_type */
    uint64_t offset;
    PyObject *lock_seg;       /* CONDITION, BARRIER: the lock's Segment */
    struct pps *lock;
    int lock_type;
    uint64_t lock_offset;
    PyObject *dict;
} Sync;

static struct pps *slot_in(PyObject *seg, uint64_t offset, int type)
{
    if (!PyObject_TypeCheck(seg, &SegmentType)) {
        PyErr_SetString(PyExc_TypeError, "not a polypool Segment");
        return NULL;
    }
    pp_shm *s = ((Segment *)seg)->shm;
    char *base = s ? pp_shm_data(s) : NULL;
    if (!base) {
        PyErr_SetString(PyExc_ValueError, "the segment is not mapped");
        return NULL;
    }
    if (offset % PPS_SLOT || offset > pp_shm_size(s) || pp_shm_size(s) - offset < PPS_SLOT) {
        PyErr_SetString(PyExc_ValueError, "a primitive's offset outside its segment");
        return NULL;
    }
    struct pps *p = (struct pps *)(base + offset);
    if (!pps_check(p, pps_kind_of((uint32_t)type))) {
        PyErr_Format(PyExc_ValueError, "no primitive of type %d there", type);
        return NULL;
    }
    return p;
}

/* Sync(seg, offset, type, lock_seg=None, lock_offset=0, lock_type=0) */
static int sync_init(Sync *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "seg", "offset", "type", "lock_seg", "lock_offset", "lock_type",
                              NULL };
    PyObject *seg, *lseg = Py_None;
    unsigned long long off, loff = 0;
    int type, ltype = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OKi|OKi", kwlist, &seg, &off, &type, &lseg,
                                     &loff, &ltype))
        return -1;
    struct pps *p = slot_in(seg, off, type);
    if (!p)
        return -1;
    struct pps *lp = NULL;
    bool needs_lock = type == PP_H_CONDITION || type == PP_H_BARRIER;
    if (needs_lock) {
        if (lseg == Py_None || (ltype != PP_H_LOCK && ltype != PP_H_RLOCK)) {
            PyErr_SetString(PyExc_ValueError, "a condition or barrier needs a Lock or RLock");
            return -1;
        }
        if (!(lp = slot_in(lseg, loff, ltype)))
            return -1;
    }
    Py_XSETREF(self->seg, Py_NewRef(seg));
    Py_XSETREF(self->lock_seg, needs_lock ? Py_NewRef(lseg) : NULL);
    self->slot = p;
    self->type = type;
    self->offset = off;
    self->lock = lp;
    self->lock_type = ltype;
    self->lock_offset = loff;
    return 0;
}

static int sync_traverse(Sync *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    return 0;
}

static int sync_clear(Sync *self)
{
    Py_CLEAR(self->dict);
    return 0;
}

static void sync_dealloc(Sync *self)
{
    PyObject_GC_UnTrack(self);
    sync_clear(self);
    /* The slots live in the segments: drop them last. */
    self->slot = self->lock = NULL;
    Py_CLEAR(self->seg);
    Py_CLEAR(self->lock_seg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool ready(Sync *self)
{
    if (!self->slot) {
        PyErr_SetString(PyExc_ValueError, "the primitive is not initialised");
        return false;
    }
    return true;
}

static int interrupted(void *arg)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int r = PyErr_CheckSignals() < 0;
    PyGILState_Release(g);
    return r;
}

/* timeout (None or seconds) -> ms; negative: forever. */
static int timeout_ms(PyObject *t, int64_t *out)
{
    if (!t || t == Py_None) {
        *out = -1;
        return 0;
    }
    double d = PyFloat_AsDouble(t);
    if (d == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(d)) {
        PyErr_SetString(PyExc_ValueError, "timeout is NaN");
        return -1;
    }
    if (d <= 0)
        *out = 0;
    else if (d > 1e12)
        *out = -1;
    else
        *out = (int64_t)ceil(d * 1000.0);
    return 0;
}

static int warn_owner_died(void)
{
    return PyErr_WarnEx(PyExc_RuntimeWarning,
                        "polypool: acquired a lock whose previous holder died holding it; "
                        "the data it guards may be inconsistent", 1);
}

/* The lock an acquire/release acts on: itself, or a condition's lock. */
static struct pps *lock_slot(Sync *self, int *type)
{
    if (self->type == PP_H_CONDITION) {
        *type = self->lock_type;
        return self->lock;
    }
    *type = self->type;
    return self->slot;
}

static PyObject *do_acquire(Sync *self, bool block, int64_t ms)
{
    if (!ready(self))
        return NULL;
    int type;
    struct pps *p = lock_slot(self, &type);
    bool lock = type == PP_H_LOCK || type == PP_H_RLOCK;
    if (!lock && type != PP_H_SEMAPHORE && type != PP_H_BOUNDED_SEMAPHORE) {
        PyErr_SetString(PyExc_TypeError, "this primitive cannot be acquired");
        return NULL;
    }
    uint32_t pid = pps_pid(), tid = pps_tid();
    struct pps_wait now = { .deadline = 0 };
    /* Without a wait first: the uncontended case never releases the GIL. */
    int st = lock ? pps_lock_acquire(p, pid, tid, &now) : pps_sem_acquire(p, &now);
    if (st == PP_ETIMEDOUT && block && ms != 0) {
        struct pps_wait w = pps_wait_for(ms);
        w.interrupted = interrupted;
        Py_BEGIN_ALLOW_THREADS
        st = lock ? pps_lock_acquire(p, pid, tid, &w) : pps_sem_acquire(p, &w);
        Py_END_ALLOW_THREADS
    }
    switch (st) {
    case PP_OK:
        Py_RETURN_TRUE;
    case PP_EOWNERDEAD:
        if (warn_owner_died() < 0) {
            pps_lock_release(p, pid, tid);
            return NULL;
        }
        Py_RETURN_TRUE;
    case PP_ETIMEDOUT:
        Py_RETURN_FALSE;
    default:
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "polypool: the wait was interrupted");
        return NULL;
    }
}

/* acquire(block=True, timeout=None), with the fast calling convention: the
 * call itself is most of an uncontended acquire's cost. */
static PyObject *sync_acquire(Sync *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    if (nargs == 0 && !kwnames)
        return do_acquire(self, true, -1);
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "acquire() takes at most 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *block_o = nargs > 0 ? args[0] : NULL, *t = nargs > 1 ? args[1] : Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i), *val = args[nargs + i];
        if (PyUnicode_CompareWithASCIIString(name, "block") == 0 && nargs < 1) {
            block_o = val;
        } else if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0 && nargs < 2) {
            t = val;
        } else {
            PyErr_Format(PyExc_TypeError, "acquire() got an unexpected or repeated keyword "
                         "argument '%U'", name);
            return NULL;
        }
    }
    int block = block_o ? PyObject_IsTrue(block_o) : 1;
    if (block < 0)
        return NULL;
    int64_t ms;
    if (timeout_ms(t, &ms) < 0)
        return NULL;
    return do_acquire(self, block, ms);
}

static PyObject *sync_enter(Sync *self, PyObject *noargs)
{
    return do_acquire(self, true, -1);
}

static PyObject *do_release(Sync *self)
{
    if (!ready(self))
        return NULL;
    int type;
    struct pps *p = lock_slot(self, &type);
    int st;
    if (type == PP_H_LOCK || type == PP_H_RLOCK)
        st = pps_lock_release(p, pps_pid(), pps_tid());
    else if (type == PP_H_SEMAPHORE || type == PP_H_BOUNDED_SEMAPHORE)
        st = pps_sem_release(p);
    else {
        PyErr_SetString(PyExc_TypeError, "this primitive cannot be released");
        return NULL;
    }
    if (st == PP_OK)
        Py_RETURN_NONE;
    if (type == PP_H_RLOCK) {
        PyErr_SetString(PyExc_AssertionError,
                        "attempt to release recursive lock not owned by thread");
        return NULL;
    }
    if (type == PP_H_SEMAPHORE) {
        PyErr_SetString(PyExc_OverflowError, "semaphore value too large");
        return NULL;
    }
    PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
    return NULL;
}

static PyObject *sync_release(Sync *self, PyObject *noargs)
{
    return do_release(self);
}

static PyObject *sync_exit(Sync *self, PyObject *const *args, Py_ssize_t nargs)
{
    return do_release(self);
}

static PyObject *sync_is_mine(Sync *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    int type;
    struct pps *p = lock_slot(self, &type);
    if (type != PP_H_LOCK && type != PP_H_RLOCK)
        Py_RETURN_FALSE;
    return PyBool_FromLong(pps_lock_is_mine(p, pps_pid(), pps_tid()));
}

static PyObject *sync_count(Sync *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    int type;
    struct pps *p = lock_slot(self, &type);
    if ((type != PP_H_LOCK && type != PP_H_RLOCK) || !pps_lock_is_mine(p, pps_pid(), pps_tid()))
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong(pps_lock_depth(p));
}

static PyObject *sync_holder(Sync *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    int type;
    struct pps *p = lock_slot(self, &type);
    if (type != PP_H_LOCK && type != PP_H_RLOCK)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong(pps_lock_holder(p));
}

static PyObject *sync_get_value(Sync *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    switch (self->type) {
    case PP_H_SEMAPHORE:
    case PP_H_BOUNDED_SEMAPHORE:
        return PyLong_FromUnsignedLong(pps_sem_value(self->slot));
    case PP_H_LOCK:
    case PP_H_RLOCK:
        return PyLong_FromLong(pps_lock_holder(self->slot) ? 0 : 1);
    case PP_H_EVENT:
        return PyLong_FromLong(pps_event_is_set(self->slot));
    default:
        PyErr_SetString(PyExc_TypeError, "this primitive has no value");
        return NULL;
    }
}

static PyObject *sync_sem_max(Sync *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    if (self->type != PP_H_BOUNDED_SEMAPHORE)
        return PyLong_FromLong(PPS_SEM_MAX);
    return PyLong_FromUnsignedLong(atomic_load(&self->slot->c));
}

static bool need_type(Sync *self, int type)
{
    if (!ready(self))
        return false;
    if (self->type != type) {
        PyErr_SetString(PyExc_TypeError, "the operation does not apply to this primitive");
        return false;
    }
    return true;
}

static PyObject *sync_ev_set(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_EVENT))
        return NULL;
    pps_event_set(self->slot);
    Py_RETURN_NONE;
}

static PyObject *sync_ev_clear(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_EVENT))
        return NULL;
    pps_event_clear(self->slot);
    Py_RETURN_NONE;
}

static PyObject *sync_ev_is_set(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_EVENT))
        return NULL;
    return PyBool_FromLong(pps_event_is_set(self->slot));
}

static PyObject *sync_ev_wait(Sync *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "timeout", NULL };
    PyObject *t = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &t) || !need_type(self, PP_H_EVENT))
        return NULL;
    if (pps_event_is_set(self->slot))
        Py_RETURN_TRUE;
    int64_t ms;
    if (timeout_ms(t, &ms) < 0)
        return NULL;
    if (ms == 0)
        Py_RETURN_FALSE;
    struct pps_wait w = pps_wait_for(ms);
    w.interrupted = interrupted;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = pps_event_wait(self->slot, &w);
    Py_END_ALLOW_THREADS
    if (st == PP_ECANCELED)
        return NULL;
    return PyBool_FromLong(st == PP_OK);
}

static PyObject *sync_cond_wait(Sync *self, PyObject *args)
{
    PyObject *t = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &t) || !need_type(self, PP_H_CONDITION))
        return NULL;
    int64_t ms;
    if (timeout_ms(t, &ms) < 0)
        return NULL;
    uint32_t pid = pps_pid(), tid = pps_tid();
    if (!pps_lock_is_mine(self->lock, pid, tid)) {
        PyErr_SetString(PyExc_AssertionError, "must acquire() condition before using wait()");
        return NULL;
    }
    struct pps_wait w = pps_wait_for(ms);
    w.interrupted = interrupted;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = pps_cond_wait(self->slot, self->lock, pid, tid, &w);
    Py_END_ALLOW_THREADS
    /* Interrupted (Ctrl-C) and then notified: the exception still stands. */
    if (st == PP_ECANCELED || PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(st == PP_OK);
}

static PyObject *sync_cond_notify(Sync *self, PyObject *args)
{
    Py_ssize_t n = 1;
    if (!PyArg_ParseTuple(args, "|n", &n) || !need_type(self, PP_H_CONDITION))
        return NULL;
    uint32_t pid = pps_pid(), tid = pps_tid();
    if (!pps_lock_is_mine(self->lock, pid, tid)) {
        PyErr_SetString(PyExc_AssertionError, "lock is not owned");
        return NULL;
    }
    if (n < 0)
        n = 0;
    pps_cond_notify(self->slot, self->lock, pid, tid, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
    Py_RETURN_NONE;
}

struct action_call {
    PyObject *action;
};

static int run_action(void *arg)
{
    struct action_call *ac = arg;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(ac->action);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return r ? 0 : 1;
}

/* _barrier_wait(timeout, action) -> index; -1 when broken (raise
 * BrokenBarrierError); the action's exception propagates. */
static PyObject *sync_barrier_wait(Sync *self, PyObject *args)
{
    PyObject *t = Py_None, *action = Py_None;
    if (!PyArg_ParseTuple(args, "|OO", &t, &action) || !need_type(self, PP_H_BARRIER))
        return NULL;
    int64_t ms;
    if (timeout_ms(t, &ms) < 0)
        return NULL;
    struct pps_wait w = pps_wait_for(ms);
    w.interrupted = interrupted;
    struct action_call ac = { action };
    uint32_t idx = 0;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = pps_barrier_wait(self->slot, self->lock, pps_pid(), pps_tid(), &w,
                          action != Py_None ? run_action : NULL, &ac, &idx);
    Py_END_ALLOW_THREADS
    /* The action raised, or a wait was interrupted (Ctrl-C), even if the
     * barrier then passed or broke for another reason. */
    if (PyErr_Occurred())
        return NULL;
    switch (st) {
    case PP_OK:
        return PyLong_FromUnsignedLong(idx);
    default:
        return PyLong_FromLong(-1);
    }
}

static PyObject *sync_barrier_reset(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_BARRIER))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pps_barrier_reset(self->slot, self->lock, pps_pid(), pps_tid(), NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *sync_barrier_abort(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_BARRIER))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pps_barrier_abort(self->slot, self->lock, pps_pid(), pps_tid(), NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *sync_barrier_state(Sync *self, PyObject *noargs)
{
    if (!need_type(self, PP_H_BARRIER))
        return NULL;
    return Py_BuildValue("(IIO)", pps_barrier_parties(self->slot),
                         pps_barrier_n_waiting(self->slot),
                         pps_barrier_broken(self->slot) ? Py_True : Py_False);
}

/* (type, seg, offset, lock_seg, lock_offset, lock_type) for pickling. */
static PyObject *sync_parts(Sync *self, void *c)
{
    if (!ready(self))
        return NULL;
    return Py_BuildValue("(iOKOKi)", self->type, self->seg, (unsigned long long)self->offset,
                         self->lock_seg ? self->lock_seg : Py_None,
                         (unsigned long long)self->lock_offset, self->lock_type);
}

static PyMethodDef sync_methods[] = {
    { "acquire", (PyCFunction)(void (*)(void))sync_acquire, METH_FASTCALL | METH_KEYWORDS,
      "acquire(block=True, timeout=None) -> bool" },
    { "release", (PyCFunction)sync_release, METH_NOARGS, "release()" },
    { "__enter__", (PyCFunction)sync_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)(void (*)(void))sync_exit, METH_FASTCALL, NULL },
    { "_is_mine", (PyCFunction)sync_is_mine, METH_NOARGS, "Whether this thread holds it." },
    { "_count", (PyCFunction)sync_count, METH_NOARGS, "This thread's recursion depth." },
    { "_holder", (PyCFunction)sync_holder, METH_NOARGS, "The holder's pid, or 0." },
    { "get_value", (PyCFunction)sync_get_value, METH_NOARGS, "A semaphore's value." },
    { "_sem_max", (PyCFunction)sync_sem_max, METH_NOARGS, "A semaphore's maximum." },
    { "_ev_set", (PyCFunction)sync_ev_set, METH_NOARGS, NULL },
    { "_ev_clear", (PyCFunction)sync_ev_clear, METH_NOARGS, NULL },
    { "_ev_is_set", (PyCFunction)sync_ev_is_set, METH_NOARGS, NULL },
    { "_ev_wait", (PyCFunction)(void (*)(void))sync_ev_wait, METH_VARARGS | METH_KEYWORDS, NULL },
    { "_cond_wait", (PyCFunction)sync_cond_wait, METH_VARARGS, NULL },
    { "_cond_notify", (PyCFunction)sync_cond_notify, METH_VARARGS, NULL },
    { "_barrier_wait", (PyCFunction)sync_barrier_wait, METH_VARARGS, NULL },
    { "_barrier_reset", (PyCFunction)sync_barrier_reset, METH_NOARGS, NULL },
    { "_barrier_abort", (PyCFunction)sync_barrier_abort, METH_NOARGS, NULL },
    { "_barrier_state", (PyCFunction)sync_barrier_state, METH_NOARGS, NULL },
    { NULL },
};

static PyGetSetDef sync_getset[] = {
    { "_parts", (getter)sync_parts, NULL, "What a handle is made of.", NULL },
    { NULL },
};

PyTypeObject ExtSyncType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Sync",
    .tp_basicsize = sizeof(Sync),
    .tp_dealloc = (destructor)sync_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A process-shared primitive in a polypool segment.",
    .tp_traverse = (traverseproc)sync_traverse,
    .tp_clear = (inquiry)sync_clear,
    .tp_methods = sync_methods,
    .tp_getset = sync_getset,
    .tp_init = (initproc)sync_init,
    .tp_new = PyType_GenericNew,
    .tp_dictoffset = offsetof(Sync, dict),
};

PyTypeObject *ext_segment_type(void)
{
    return &SegmentType;
}

/* ---- handles <-> Python ------------------------------------------------------ */

/* A handle tuple (type, id, path, offset, size, typecode, count, lock_type,
 * lock_id, lock_path, lock_offset, lock_size, label[, out_offset, end_id,
 * end_path, end_size]) -> PP_HANDLE value. */
pp_value *ext_handle_to_value(PyObject *t)
{
    struct handle_rec h = { 0 };
    unsigned type, lock_type;
    unsigned long long id, offset, size, count, lock_id, lock_offset, lock_size;
    unsigned long long out_offset = 0, end_id = 0, end_size = 0;
    const char *name, *typecode, *lock_name, *label, *end_name = "";
    if (!PyArg_ParseTuple(t, "IKsKKsKIKsKKs|KKsK", &type, &id, &name, &offset, &size, &typecode,
                          &count, &lock_type, &lock_id, &lock_name, &lock_offset, &lock_size,
                          &label, &out_offset, &end_id, &end_name, &end_size))
        return NULL;
    h.out_offset = out_offset;
    h.end_id = end_id;
    h.end_size = end_size;
    h.end_name = (char *)end_name;
    h.type = type;
    h.id = id;
    h.offset = offset;
    h.size = size;
    h.typecode = typecode[0];
    h.count = count;
    h.lock_type = lock_type;
    h.lock_id = lock_id;
    h.lock_offset = lock_offset;
    h.lock_size = lock_size;
    h.name = (char *)name;
    h.lock_name = (char *)lock_name;
    h.label = (char *)label;
    pp_value *v = handle_value_new(&h);
    if (!v)
        PyErr_NoMemory();
    return v;
}

PyObject *ext_handle_from_value(const pp_value *v)
{
    const struct handle_rec *h = v->u.h;
    char tc[2] = { h->typecode, 0 };
    return Py_BuildValue("(IKsKKsKIKsKKsKKsK)", h->type, (unsigned long long)h->id, h->name,
                         (unsigned long long)h->offset, (unsigned long long)h->size, tc,
                         (unsigned long long)h->count, h->lock_type,
                         (unsigned long long)h->lock_id, h->lock_name,
                         (unsigned long long)h->lock_offset, (unsigned long long)h->lock_size,
                         h->label, (unsigned long long)h->out_offset,
                         (unsigned long long)h->end_id, h->end_name,
                         (unsigned long long)h->end_size);
}

/* ---- managed objects ------------------------------------------------------------ */

/* obj_new(type, attach_id=0) -> id: ObjCreate (type) or ObjAttach (type 0). */
PyObject *ext_obj_new(PyObject *mod, PyObject *args)
{
    unsigned type;
    unsigned long long attach = 0;
    if (!PyArg_ParseTuple(args, "I|K", &type, &attach))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    uint64_t id = 0;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = managed_new(c, type, attach, &id);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    return PyLong_FromUnsignedLongLong(id);
}

PyObject *ext_obj_release(PyObject *mod, PyObject *args)
{
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    managed_release(c, id);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* obj_op(id, op, args=(), index=0, stop=0) -> (results, value) */
PyObject *ext_obj_op(PyObject *mod, PyObject *args)
{
    unsigned long long id;
    int op;
    PyObject *items = NULL;
    long long index = 0, stop = 0;
    if (!PyArg_ParseTuple(args, "Ki|OLL", &id, &op, &items, &index, &stop))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    PyObject *fast = items ? PySequence_Fast(items, "args must be a sequence") : NULL;
    if (items && !fast)
        return NULL;
    Py_ssize_t n = fast ? PySequence_Fast_GET_SIZE(fast) : 0;
    pp_value **vals = PyMem_Calloc((size_t)n + 1, sizeof *vals);
    PyObject *ret = NULL;
    if (!vals) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(vals[i] = ext_to_value(PySequence_Fast_GET_ITEM(fast, i))))
            goto out;
    pp_value **res = NULL;
    size_t nres = 0;
    int64_t value = 0;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = managed_op(c, id, op, (const pp_value *const *)vals, (size_t)n, index, stop, &res,
                    &nres, &value);
    Py_END_ALLOW_THREADS
    if (st != PP_OK) {
        ext_raise(st);
        goto out;
    }
    PyObject *list = PyList_New((Py_ssize_t)nres);
    for (size_t i = 0; list && i < nres; i++) {
        PyObject *o = ext_from_value(res[i]);
        if (!o) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
    }
    for (size_t i = 0; i < nres; i++)
        pp_value_free(res[i]);
    free(res);
    if (list) {
        ret = Py_BuildValue("(NL)", list, (long long)value);
    }
out:
    for (Py_ssize_t i = 0; vals && i < n; i++)
        pp_value_free(vals[i]);
    PyMem_Free(vals);
    Py_XDECREF(fast);
    return ret;
}
