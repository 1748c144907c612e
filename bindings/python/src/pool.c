/* pool.c - Pool, Future and Iter: thin wrappers of pp_pool, pp_future and
 * pp_iter. Every blocking call releases the GIL (see ext.h). Timeouts are
 * in milliseconds; a negative one means none. */
#include "ext.h"

typedef struct {
    PyObject_HEAD
    pp_pool *p;
} ExtPool;

typedef struct {
    PyObject_HEAD
    pp_future *f;
} ExtFuture;

typedef struct {
    PyObject_HEAD
    pp_iter *it;
    PyObject *source;    /* the input iterator */
    PyObject *source_error; /* what the input iterator raised */
} ExtIter;

static int check_pool(ExtPool *self)
{
    if (self->p)
        return 0;
    PyErr_SetString(PyExc_ValueError, "the pool was freed");
    return -1;
}

/* Long waits go in slices, so that Ctrl-C (a pending signal) interrupts
 * them: `wait(arg, slice_ms)` returns PP_ETIMEDOUT to be called again.
 * Returns the last status, or -1 with the signal's exception set. */
#define WAIT_SLICE_MS 100

static int wait_sliced(pp_status (*wait)(void *, int), void *arg, int timeout_ms)
{
    int left = timeout_ms;
    for (;;) {
        int slice = left < 0 || left > WAIT_SLICE_MS ? WAIT_SLICE_MS : left;
        pp_status st;
        Py_BEGIN_ALLOW_THREADS
        st = wait(arg, slice);
        Py_END_ALLOW_THREADS
        if (st != PP_ETIMEDOUT)
            return st;
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (left >= 0 && (left -= slice) <= 0)
            return PP_ETIMEDOUT;
    }
}

/* ---- Pool ------------------------------------------------------------------ */

static PyObject *pool_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "size", "maxtasks", "initializer", "initargs", "name", "env",
                              "attach", NULL };
    unsigned size = 0, maxtasks = 0;
    PyObject *init = Py_None, *initargs = Py_None, *env = Py_None;
    const char *name = NULL;
    int attach = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|IIOOzOp", kwlist, &size, &maxtasks, &init,
                                     &initargs, &name, &env, &attach))
        return NULL;
    if (init != Py_None && ext_function_check(init) < 0)
        return NULL;
    pp_pool_opts o = { .size = size, .maxtasksperchild = maxtasks };
    pp_value *iargs = NULL;
    pp_pyenv e;
    const char **pb = NULL;
    if (init != Py_None) {
        o.initializer = ext_function_get(init);
        if (initargs != Py_None && !(iargs = ext_to_list(initargs)))
            return NULL;
        o.initargs = iargs;
    }
    if (env != Py_None) {
        if (ext_pyenv_fill(env, &e, &pb) < 0) {
            pp_value_free(iargs);
            return NULL;
        }
        o.python = &e;
    }
    pp_client *c = ext_client();
    ExtPool *self = c ? (ExtPool *)type->tp_alloc(type, 0) : NULL;
    if (!self) {
        pp_value_free(iargs);
        PyMem_Free(pb);
        return NULL;
    }
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    if (!name)
        st = pp_pool_create(c, &o, &self->p);
    else if (attach)
        st = pp_pool_attach(c, name, &self->p);
    else
        st = pp_pool_open_named(c, name, &o, &self->p);
    Py_END_ALLOW_THREADS
    pp_value_free(iargs);
    PyMem_Free(pb);
    if (st != PP_OK) {
        self->p = NULL;
        Py_DECREF(self);
        return ext_raise(st);
    }
    return (PyObject *)self;
}

static void pool_dealloc(ExtPool *self)
{
    if (self->p) {
        Py_BEGIN_ALLOW_THREADS
        pp_pool_free(self->p);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pool_map(ExtPool *self, PyObject *args)
{
    PyObject *fn, *items;
    Py_ssize_t chunksize = 0;
    int star = 0, timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "OO|npi", &fn, &items, &chunksize, &star, &timeout_ms))
        return NULL;
    if (check_pool(self) < 0 || ext_function_check(fn) < 0)
        return NULL;
    pp_value *in = ext_to_list(items);
    if (!in)
        return NULL;
    pp_map_opts o = { .chunksize = chunksize > 0 ? (size_t)chunksize : 0,
                      .timeout_ms = timeout_ms, .star = star };
    pp_value *out = NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_pool_map(self->p, ext_function_get(fn), in, &o, &out);
    pp_value_free(in);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    PyObject *r = ext_from_value(out);
    pp_value_free(out);
    return r;
}

static PyObject *pool_apply(ExtPool *self, PyObject *args)
{
    PyObject *fn, *fargs;
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "OO|i", &fn, &fargs, &timeout_ms))
        return NULL;
    if (check_pool(self) < 0 || ext_function_check(fn) < 0)
        return NULL;
    pp_value *in = ext_to_list(fargs);
    if (!in)
        return NULL;
    pp_value *out = NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_pool_apply(self->p, ext_function_get(fn), in, timeout_ms, &out);
    pp_value_free(in);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    PyObject *r = ext_from_value(out);
    pp_value_free(out);
    return r;
}

/* The collector thread: hands the future to the Python layer, which runs
 * the user's callbacks on its own thread (a callback may block). */
static void future_cb(pp_future *f, void *arg)
{
    (void)f;
    PyObject *ctx = arg;
    if (_Py_IsFinalizing())
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallOneArg(ext.future_ready, ctx);
    if (r) {
        Py_DECREF(r);
        /* The reference taken when the callback was registered. The
         * Python layer queued ctx, so this is not the last one: the
         * future is not freed inside its own callback. */
        Py_DECREF(ctx);
    } else {
        PyErr_WriteUnraisable(ext.future_ready);
    }
    PyGILState_Release(g);
}

static PyObject *make_future(ExtPool *self, PyObject *args, bool map)
{
    PyObject *fn, *items, *ctx = Py_None;
    Py_ssize_t chunksize = 0;
    int star = 0;
    if (map ? !PyArg_ParseTuple(args, "OO|npO", &fn, &items, &chunksize, &star, &ctx)
            : !PyArg_ParseTuple(args, "OO|O", &fn, &items, &ctx))
        return NULL;
    bool callback = ctx != Py_None;
    if (check_pool(self) < 0 || ext_function_check(fn) < 0)
        return NULL;
    pp_value *in = ext_to_list(items);
    if (!in)
        return NULL;
    ExtFuture *fut = PyObject_New(ExtFuture, &ExtFutureType);
    if (!fut) {
        pp_value_free(in);
        return NULL;
    }
    fut->f = NULL;
    if (callback)
        Py_INCREF(ctx);     /* dropped by future_cb */
    pp_map_opts o = { .chunksize = chunksize > 0 ? (size_t)chunksize : 0, .star = star };
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    if (map)
        st = pp_pool_map_async(self->p, ext_function_get(fn), in, &o,
                               callback ? future_cb : NULL, ctx, &fut->f);
    else
        st = pp_pool_apply_async(self->p, ext_function_get(fn), in,
                                 callback ? future_cb : NULL, ctx, &fut->f);
    pp_value_free(in);
    Py_END_ALLOW_THREADS
    if (st != PP_OK) {
        if (callback)
            Py_DECREF(ctx);
        fut->f = NULL;
        Py_DECREF(fut);
        return ext_raise(st);
    }
    return (PyObject *)fut;
}

static PyObject *pool_apply_async(ExtPool *self, PyObject *args)
{
    return make_future(self, args, false);
}

static PyObject *pool_map_async(ExtPool *self, PyObject *args)
{
    return make_future(self, args, true);
}

/* pp_pool_imap_source's producer: runs inside pp_iter_next, on the thread
 * that released the GIL for it. */
static pp_status iter_source(void *arg, pp_value **item)
{
    ExtIter *it = arg;
    PyGILState_STATE g = PyGILState_Ensure();
    pp_status st = PP_OK;
    PyObject *o = PyIter_Next(it->source);
    if (o) {
        *item = ext_to_value(o);
        Py_DECREF(o);
    }
    if (!o && !PyErr_Occurred()) {
        st = PP_EEOF;
    } else if (!o || !*item) {
        /* The input raised (or an item cannot be converted): kept to be
         * raised in place of the results it prevented. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb)
            PyException_SetTraceback(value, tb);
        Py_XSETREF(it->source_error, value);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        st = PP_ECANCELED;
    }
    PyGILState_Release(g);
    return st;
}

static PyObject *pool_imap(ExtPool *self, PyObject *args)
{
    PyObject *fn, *iterable;
    Py_ssize_t chunksize = 1, window = 0;
    int ordered = 1, star = 0;
    if (!PyArg_ParseTuple(args, "OO|nppn", &fn, &iterable, &chunksize, &ordered, &star, &window))
        return NULL;
    if (check_pool(self) < 0 || ext_function_check(fn) < 0)
        return NULL;
    ExtIter *it = PyObject_New(ExtIter, &ExtIterType);
    if (!it)
        return NULL;
    it->it = NULL;
    it->source_error = NULL;
    if (!(it->source = PyObject_GetIter(iterable))) {
        Py_DECREF(it);
        return NULL;
    }
    pp_map_opts o = { .chunksize = chunksize > 0 ? (size_t)chunksize : 1, .star = star,
                      .window = window > 0 ? (size_t)window : 0 };
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_pool_imap_source(self->p, ext_function_get(fn), iter_source, it, &o, ordered,
                             &it->it);
    Py_END_ALLOW_THREADS
    if (st != PP_OK) {
        it->it = NULL;
        Py_DECREF(it);
        return ext_raise(st);
    }
    return (PyObject *)it;
}

static PyObject *pool_call(ExtPool *self, pp_status (*fn)(pp_pool *))
{
    if (check_pool(self) < 0)
        return NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = fn(self->p);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    Py_RETURN_NONE;
}

static PyObject *pool_close(ExtPool *self, PyObject *noargs)
{
    return pool_call(self, pp_pool_close);
}

static PyObject *pool_terminate(ExtPool *self, PyObject *noargs)
{
    return pool_call(self, pp_pool_terminate);
}

static pp_status join_wait(void *p, int ms)
{
    return pp_pool_join(p, ms);
}

static PyObject *pool_join(ExtPool *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    if (check_pool(self) < 0)
        return NULL;
    int st = wait_sliced(join_wait, self->p, timeout_ms);
    if (st < 0)
        return NULL;
    if (st != PP_OK)
        return ext_raise((pp_status)st);
    Py_RETURN_NONE;
}

static PyObject *pool_free(ExtPool *self, PyObject *noargs)
{
    pp_pool *p = self->p;
    self->p = NULL;
    Py_BEGIN_ALLOW_THREADS
    pp_pool_free(p);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *pool_get_size(ExtPool *self, void *closure)
{
    return check_pool(self) < 0 ? NULL : PyLong_FromUnsignedLong(pp_pool_size(self->p));
}

static PyObject *pool_get_name(ExtPool *self, void *closure)
{
    return check_pool(self) < 0 ? NULL : PyUnicode_FromString(pp_pool_name(self->p));
}

static PyMethodDef pool_methods[] = {
    { "map", (PyCFunction)pool_map, METH_VARARGS,
      "map(fn, items, chunksize=0, star=False, timeout_ms=-1) -> list" },
    { "apply", (PyCFunction)pool_apply, METH_VARARGS, "apply(fn, args, timeout_ms=-1)" },
    { "apply_async", (PyCFunction)pool_apply_async, METH_VARARGS,
      "apply_async(fn, args, ctx=None) -> Future; future_ready(ctx) when ready" },
    { "map_async", (PyCFunction)pool_map_async, METH_VARARGS,
      "map_async(fn, items, chunksize=0, star=False, ctx=None) -> Future" },
    { "imap", (PyCFunction)pool_imap, METH_VARARGS,
      "imap(fn, iterable, chunksize=1, ordered=True, star=False, window=0) -> Iter" },
    { "close", (PyCFunction)pool_close, METH_NOARGS, NULL },
    { "terminate", (PyCFunction)pool_terminate, METH_NOARGS, NULL },
    { "join", (PyCFunction)pool_join, METH_VARARGS, "join(timeout_ms=-1)" },
    { "free", (PyCFunction)pool_free, METH_NOARGS, "Releases the handle now." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef pool_getset[] = {
    { "size", (getter)pool_get_size, NULL, NULL, NULL },
    { "name", (getter)pool_get_name, NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject ExtPoolType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Pool",
    .tp_basicsize = sizeof(ExtPool),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pool(size=0, maxtasks=0, initializer=None, initargs=None, name=None, env=None, "
              "attach=False): a pp_pool.",
    .tp_new = pool_new,
    .tp_dealloc = (destructor)pool_dealloc,
    .tp_methods = pool_methods,
    .tp_getset = pool_getset,
};

/* ---- Future ---------------------------------------------------------------- */

static void future_dealloc(ExtFuture *self)
{
    if (self->f) {
        Py_BEGIN_ALLOW_THREADS
        pp_future_free(self->f);
        Py_END_ALLOW_THREADS
    }
    PyObject_Free(self);
}

static pp_status future_wait_fn(void *f, int ms)
{
    return pp_future_wait(f, ms);
}

static PyObject *future_get(ExtFuture *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    pp_value *out = NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_future_get(self->f, timeout_ms < 0 || timeout_ms > WAIT_SLICE_MS ? 0 : timeout_ms,
                       &out);
    Py_END_ALLOW_THREADS
    if (st == PP_ETIMEDOUT && !pp_future_ready(self->f) &&
        (timeout_ms < 0 || timeout_ms > WAIT_SLICE_MS)) {
        int w = wait_sliced(future_wait_fn, self->f, timeout_ms);
        if (w < 0)
            return NULL;
        Py_BEGIN_ALLOW_THREADS
        st = pp_future_get(self->f, 0, &out);
        Py_END_ALLOW_THREADS
    }
    if (st == PP_ETIMEDOUT && !pp_future_ready(self->f))
        return ext_raise(st);
    if (st != PP_OK) {
        const pp_error *e = pp_future_error(self->f);
        return e ? ext_raise_error(e) : ext_raise(st);
    }
    PyObject *r = ext_from_value(out);
    pp_value_free(out);
    return r;
}

static PyObject *future_wait(ExtFuture *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    int st = wait_sliced(future_wait_fn, self->f, timeout_ms);
    if (st < 0)
        return NULL;
    return PyBool_FromLong(st == PP_OK);
}

static PyObject *future_ready(ExtFuture *self, PyObject *noargs)
{
    bool r;
    Py_BEGIN_ALLOW_THREADS
    r = pp_future_ready(self->f);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(r);
}

/* True / False, or None when not ready. */
static PyObject *future_successful(ExtFuture *self, PyObject *noargs)
{
    bool ok = false;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_future_successful(self->f, &ok);
    Py_END_ALLOW_THREADS
    if (st == PP_EAGAIN)
        Py_RETURN_NONE;
    return PyBool_FromLong(ok);
}

static PyMethodDef future_methods[] = {
    { "get", (PyCFunction)future_get, METH_VARARGS, "get(timeout_ms=-1)" },
    { "wait", (PyCFunction)future_wait, METH_VARARGS, "wait(timeout_ms=-1) -> ready" },
    { "ready", (PyCFunction)future_ready, METH_NOARGS, NULL },
    { "successful", (PyCFunction)future_successful, METH_NOARGS,
      "True/False, or None when not ready" },
    { NULL, NULL, 0, NULL },
};

PyTypeObject ExtFutureType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Future",
    .tp_basicsize = sizeof(ExtFuture),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A pp_future (made by Pool.apply_async / map_async).",
    .tp_dealloc = (destructor)future_dealloc,
    .tp_methods = future_methods,
};

/* ---- Iter ------------------------------------------------------------------ */

static void iter_dealloc(ExtIter *self)
{
    if (self->it) {
        Py_BEGIN_ALLOW_THREADS
        pp_iter_free(self->it);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(self->source);
    Py_XDECREF(self->source_error);
    PyObject_Free(self);
}

static PyObject *iter_next_timeout(ExtIter *self, int timeout_ms)
{
    pp_value *out = NULL;
    pp_status st;
    int left = timeout_ms;
    for (;;) {
        int slice = left < 0 || left > WAIT_SLICE_MS ? WAIT_SLICE_MS : left;
        Py_BEGIN_ALLOW_THREADS
        st = pp_iter_next(self->it, slice, &out);
        Py_END_ALLOW_THREADS
        if (st != PP_ETIMEDOUT || (left >= 0 && (left -= slice) <= 0))
            break;
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    if (st == PP_OK) {
        PyObject *r = ext_from_value(out);
        pp_value_free(out);
        return r;
    }
    if (st == PP_EEOF) {
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    if (self->source_error && st == PP_ECANCELED) {
        PyObject *e = self->source_error;
        self->source_error = NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
        return NULL;
    }
    return ext_raise(st);
}

static PyObject *iter_next(ExtIter *self)
{
    PyObject *r = iter_next_timeout(self, -1);
    if (!r && PyErr_ExceptionMatches(PyExc_StopIteration))
        PyErr_Clear();       /* tp_iternext: NULL without an error ends */
    return r;
}

static PyObject *iter_next_m(ExtIter *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    return iter_next_timeout(self, timeout_ms);
}

static PyObject *iter_index(ExtIter *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLongLong(pp_iter_index(self->it));
}

static PyMethodDef iter_methods[] = {
    { "next", (PyCFunction)iter_next_m, METH_VARARGS,
      "next(timeout_ms=-1): the next result; StopIteration at the end" },
    { "index", (PyCFunction)iter_index, METH_NOARGS,
      "the input index of the result last returned" },
    { NULL, NULL, 0, NULL },
};

PyTypeObject ExtIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Iter",
    .tp_basicsize = sizeof(ExtIter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A pp_iter (made by Pool.imap).",
    .tp_dealloc = (destructor)iter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)iter_next,
    .tp_methods = iter_methods,
};
