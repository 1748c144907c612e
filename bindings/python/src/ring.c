/* ring.c - message rings for Python (polypool.queues, polypool.connection):
 * Ring(segment, offset) puts and gets objects (as packed Values, the form
 * C programs read too) or raw bytes on a ring of bindings/c/src/ring.h.
 *
 * Results are (code, value) with code RING_OK, RING_TIMEOUT or RING_EOF,
 * for the Python layer to turn into queue.Empty, EOFError...: raising
 * here would cost more than the get.
 */
#include "ext.h"

#include <math.h>
#include <string.h>

#include "codec.h"
#include "internal.h"
#include "ring.h"

enum { RING_GOT = 0, RING_TIMEOUT = 1, RING_EOF = 2 };

typedef struct {
    PyObject_HEAD
    PyObject *seg;
    void *ring;
} Ring;

static void ring_dealloc(Ring *self)
{
    self->ring = NULL;
    Py_CLEAR(self->seg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Ring(segment, offset) */
static int ring_init_py(Ring *self, PyObject *args, PyObject *kw)
{
    PyObject *seg;
    unsigned long long off;
    if (!PyArg_ParseTuple(args, "OK", &seg, &off))
        return -1;
    Py_buffer view;
    if (PyObject_GetBuffer(seg, &view, PyBUF_SIMPLE) < 0)
        return -1;
    bool ok = off <= (unsigned long long)view.len &&
              ring_check((char *)view.buf + off, (size_t)view.len - off);
    void *ring = (char *)view.buf + off;
    PyBuffer_Release(&view);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "no queue or pipe ring at that place of the segment");
        return -1;
    }
    Py_XSETREF(self->seg, Py_NewRef(seg));
    self->ring = ring;
    return 0;
}

static bool ready(Ring *self)
{
    if (!self->ring) {
        PyErr_SetString(PyExc_ValueError, "the ring is not initialised");
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

/* (block, timeout) -> a wait; negative timeouts count as 0. */
static int make_wait(int block, PyObject *t, struct pps_wait *w)
{
    int64_t ms = -1;
    if (!block) {
        ms = 0;
    } else if (t && t != Py_None) {
        double d = PyFloat_AsDouble(t);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        if (isnan(d)) {
            PyErr_SetString(PyExc_ValueError, "timeout is NaN");
            return -1;
        }
        ms = d <= 0 ? 0 : d > 1e12 ? -1 : (int64_t)ceil(d * 1000.0);
    }
    *w = pps_wait_for(ms);
    w->interrupted = interrupted;
    return 0;
}

/* A ring status -> (code, value) or an exception. */
static PyObject *result(int st, PyObject *value)
{
    switch (st) {
    case PP_OK:
        return Py_BuildValue("(iO)", RING_GOT, value ? value : Py_None);
    case PP_ETIMEDOUT:
        return Py_BuildValue("(iO)", RING_TIMEOUT, Py_None);
    case PP_EEOF:
    case PP_ECLOSED:
        return Py_BuildValue("(iO)", RING_EOF, Py_None);
    case PP_ECANCELED:
        if (PyErr_Occurred())
            return NULL;
        /* fall through */
    default:
        return PyErr_Format(PyExc_OSError, "polypool ring: %s", pp_strerror((pp_status)st));
    }
}

static PyObject *put_data(Ring *self, const void *data, size_t len, int block, PyObject *t,
                          int joinable)
{
    struct pps_wait w;
    if (make_wait(block, t, &w) < 0)
        return NULL;
    struct pps_wait now = { .deadline = 0 };
    int st = PP_ETIMEDOUT;
    if (ring_streams(self->ring, len)) {
        /* Once its first part is in, a streamed message's put waits for
         * room for the rest whatever the deadline: a put that must not
         * wait does not start one that does not fit yet, and none waits
         * holding the GIL (the reader may be a thread of this process). */
        bool at_once = w.deadline >= 0 && w.deadline <= pps_now_ms();
        if (at_once && !ring_fits_now(self->ring, len))
            return result(PP_ETIMEDOUT, NULL);
        Py_BEGIN_ALLOW_THREADS
        st = ring_put(self->ring, data, len, joinable, &w);
        Py_END_ALLOW_THREADS
        return result(st, NULL);
    }
    /* Without a wait first: the common case never releases the GIL. */
    st = ring_put(self->ring, data, len, joinable, &now);
    if (st == PP_ETIMEDOUT && w.deadline != now.deadline) {
        Py_BEGIN_ALLOW_THREADS
        st = ring_put(self->ring, data, len, joinable, &w);
        Py_END_ALLOW_THREADS
    }
    return result(st, NULL);
}

/* put(obj, block=True, timeout=None, joinable=False) -> (code, None) */
static PyObject *ring_put_py(Ring *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "obj", "block", "timeout", "joinable", NULL };
    PyObject *obj, *t = Py_None;
    int block = 1, joinable = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pOp", kwlist, &obj, &block, &t, &joinable) ||
        !ready(self))
        return NULL;
    pp_value *v = ext_to_value(obj);
    if (!v)
        return NULL;
    codec_enc e;
    codec_enc_init(&e);
    pp_status st = codec_enc_value(&e, v);
    pp_value_free(v);
    if (st != PP_OK) {
        codec_enc_fini(&e);
        return PyErr_Format(PyExc_ValueError, "polypool: the object nests too deeply");
    }
    Polypool__V1__Values msg;
    codec_enc_msg(&e, &msg);
    size_t len = polypool__v1__values__get_packed_size(&msg);
    uint8_t *buf = PyMem_Malloc(len ? len : 1);
    if (!buf) {
        codec_enc_fini(&e);
        return PyErr_NoMemory();
    }
    polypool__v1__values__pack(&msg, buf);
    codec_enc_fini(&e);
    PyObject *r = put_data(self, buf, len, block, t, joinable);
    PyMem_Free(buf);
    return r;
}

/* put_bytes(data, block=True, timeout=None) -> (code, None) */
static PyObject *ring_put_bytes(Ring *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "data", "block", "timeout", NULL };
    Py_buffer data;
    PyObject *t = Py_None;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|pO", kwlist, &data, &block, &t))
        return NULL;
    PyObject *r = ready(self) ? put_data(self, data.buf, (size_t)data.len, block, t, 0) : NULL;
    PyBuffer_Release(&data);
    return r;
}

static int get_data(Ring *self, int block, PyObject *t, struct grow_buf *b, size_t *len)
{
    struct pps_wait w;
    if (make_wait(block, t, &w) < 0)
        return -1;
    struct pps_wait now = { .deadline = 0 };
    int st = PP_ETIMEDOUT;
    /* Without a wait first: the common case never releases the GIL. But
     * a streamed message's get waits for its rest whatever the deadline
     * (its writer may be a thread of this process, or stopped): not with
     * the GIL held. */
    if (!ring_head_streamed(self->ring))
        st = ring_get(self->ring, grow_buf_alloc, b, len, &now);
    if (st == PP_ETIMEDOUT && w.deadline != now.deadline) {
        Py_BEGIN_ALLOW_THREADS
        st = ring_get(self->ring, grow_buf_alloc, b, len, &w);
        Py_END_ALLOW_THREADS
    }
    return st;
}

/* get(block=True, timeout=None) -> (code, obj) */
static PyObject *ring_get_py(Ring *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "block", "timeout", NULL };
    PyObject *t = Py_None;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO", kwlist, &block, &t) || !ready(self))
        return NULL;
    struct grow_buf b = { 0 };
    size_t len = 0;
    int st = get_data(self, block, t, &b, &len);
    if (st < 0) {
        free(b.data);
        return NULL;
    }
    if (st != PP_OK) {
        free(b.data);
        return result(st, NULL);
    }
    pp_value *v = NULL;
    pp_status us = unpack_value(b.data, len, &v);
    free(b.data);
    if (us != PP_OK)
        return PyErr_Format(us == PP_ENOMEM ? PyExc_MemoryError : PyExc_ValueError,
                            "polypool: %s", pp_last_error()->message);
    PyObject *obj = ext_from_value(v);
    pp_value_free(v);
    if (!obj)
        return NULL;
    PyObject *r = result(PP_OK, obj);
    Py_DECREF(obj);
    return r;
}

/* get_bytes(block=True, timeout=None) -> (code, bytes) */
static PyObject *ring_get_bytes(Ring *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "block", "timeout", NULL };
    PyObject *t = Py_None;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO", kwlist, &block, &t) || !ready(self))
        return NULL;
    struct grow_buf b = { 0 };
    size_t len = 0;
    int st = get_data(self, block, t, &b, &len);
    if (st < 0 || st != PP_OK) {
        free(b.data);
        return st < 0 ? NULL : result(st, NULL);
    }
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)b.data, (Py_ssize_t)len);
    free(b.data);
    if (!bytes)
        return NULL;
    PyObject *r = result(PP_OK, bytes);
    Py_DECREF(bytes);
    return r;
}

/* poll(timeout=None) -> code; None waits for ever. */
static PyObject *ring_poll_py(Ring *self, PyObject *args)
{
    PyObject *t = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &t) || !ready(self))
        return NULL;
    struct pps_wait w;
    if (make_wait(1, t, &w) < 0)
        return NULL;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = ring_poll(self->ring, &w);
    Py_END_ALLOW_THREADS
    if (st == PP_ECANCELED && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(st == PP_OK ? RING_GOT : st == PP_EEOF ? RING_EOF : RING_TIMEOUT);
}

static PyObject *ring_count_py(Ring *self, PyObject *noargs)
{
    return ready(self) ? PyLong_FromUnsignedLong(ring_count(self->ring)) : NULL;
}

static PyObject *ring_flags_py(Ring *self, PyObject *noargs)
{
    return ready(self) ? PyLong_FromUnsignedLong(ring_flags(self->ring)) : NULL;
}

static PyObject *ring_set_flags_py(Ring *self, PyObject *args)
{
    unsigned flags;
    if (!PyArg_ParseTuple(args, "I", &flags) || !ready(self))
        return NULL;
    ring_set_flags(self->ring, flags);
    Py_RETURN_NONE;
}

static PyObject *ring_maxcount_py(Ring *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    return PyLong_FromUnsignedLong(ring_maxcount(self->ring));
}

static PyObject *ring_task_done_py(Ring *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    return PyBool_FromLong(ring_task_done(self->ring) == PP_OK);
}

static PyObject *ring_add_unfinished_py(Ring *self, PyObject *noargs)
{
    if (!ready(self))
        return NULL;
    ring_add_unfinished(self->ring, 1);
    Py_RETURN_NONE;
}

static PyObject *ring_join_py(Ring *self, PyObject *args)
{
    PyObject *t = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &t) || !ready(self))
        return NULL;
    struct pps_wait w;
    if (make_wait(1, t, &w) < 0)
        return NULL;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = ring_join(self->ring, &w);
    Py_END_ALLOW_THREADS
    if (st == PP_ECANCELED && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(st == PP_OK);
}

static PyMethodDef ring_methods[] = {
    { "put", (PyCFunction)(void (*)(void))ring_put_py, METH_VARARGS | METH_KEYWORDS, NULL },
    { "put_bytes", (PyCFunction)(void (*)(void))ring_put_bytes, METH_VARARGS | METH_KEYWORDS,
      NULL },
    { "get", (PyCFunction)(void (*)(void))ring_get_py, METH_VARARGS | METH_KEYWORDS, NULL },
    { "get_bytes", (PyCFunction)(void (*)(void))ring_get_bytes, METH_VARARGS | METH_KEYWORDS,
      NULL },
    { "poll", (PyCFunction)ring_poll_py, METH_VARARGS, NULL },
    { "count", (PyCFunction)ring_count_py, METH_NOARGS, NULL },
    { "flags", (PyCFunction)ring_flags_py, METH_NOARGS, NULL },
    { "set_flags", (PyCFunction)ring_set_flags_py, METH_VARARGS, NULL },
    { "maxcount", (PyCFunction)ring_maxcount_py, METH_NOARGS, NULL },
    { "task_done", (PyCFunction)ring_task_done_py, METH_NOARGS, NULL },
    { "add_unfinished", (PyCFunction)ring_add_unfinished_py, METH_NOARGS, NULL },
    { "join", (PyCFunction)ring_join_py, METH_VARARGS, NULL },
    { NULL },
};

PyTypeObject ExtRingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Ring",
    .tp_basicsize = sizeof(Ring),
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A message ring (queue or pipe direction) in a polypool segment.",
    .tp_methods = ring_methods,
    .tp_init = (initproc)ring_init_py,
    .tp_new = PyType_GenericNew,
};
