/* module.c - polypool._polypool: module set-up, the process's client,
 * errors and Function objects. See ext.h for the rules. */
#include "ext.h"
#include "internal.h"
#include "ring.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct ext_helpers ext;

/* ---- errors ---------------------------------------------------------------- */

PyObject *ext_raise_error(const pp_error *e)
{
    if (!ext.make_error) {
        PyErr_Format(PyExc_RuntimeError, "polypool: %s", e->message);
        return NULL;
    }
    PyObject *exc_bytes = e->exception_len
                              ? PyBytes_FromStringAndSize(e->exception, (Py_ssize_t)e->exception_len)
                              : Py_NewRef(Py_None);
    if (!exc_bytes)
        return NULL;
    PyObject *exc = PyObject_CallFunction(ext.make_error, "issKiiOs", (int)e->status,
                                          e->message, e->where, (unsigned long long)e->index,
                                          e->signal, e->exit_code, exc_bytes, e->traceback);
    Py_DECREF(exc_bytes);
    if (!exc)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *ext_raise(pp_status st)
{
    const pp_error *e = pp_last_error();
    if (e->status != st) {
        /* A failure without a recorded detail. */
        pp_error bare = { .status = st, .message = pp_strerror(st), .where = "",
                          .traceback = "" };
        return ext_raise_error(&bare);
    }
    return ext_raise_error(e);
}

/* ---- the client ------------------------------------------------------------ */

static pp_client *client;
static pid_t client_pid;
static pthread_mutex_t client_mu = PTHREAD_MUTEX_INITIALIZER;

/* Task output goes through sys.stdout / sys.stderr, so it interleaves
 * correctly with the program's own (buffered) prints and is seen by
 * anything that replaced them. Runs on the thread that received it. */
static void output_cb(void *arg, int fd, const void *data, size_t len)
{
    if (_Py_IsFinalizing() || !ext.write_output) {
        ssize_t n = write(fd, data, len);
        (void)n;
        return;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(ext.write_output, "iy#", fd, (const char *)data,
                                        (Py_ssize_t)len);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(ext.write_output);
    PyGILState_Release(g);
}

pp_client *ext_client(void)
{
    pp_client *c = NULL;
    pp_status st = PP_OK;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&client_mu);
    if (client && client_pid != getpid()) {
        /* A forked child must not touch its parent's connection (nng is
         * not fork-safe): forget it and open our own. */
        client = NULL;
    }
    if (!client) {
        pp_client_opts o = { .output = output_cb, .name = NULL };
        st = pp_client_open_opts(&o, &client);
        if (st == PP_OK) {
            client_pid = getpid();
            /* Python's shared objects are views on mapped memory:
             * $POLYPOOL_NO_MAP (for C clients) does not apply here. */
            client_no_map_off(client);
        }
        else
            client = NULL;
    }
    c = client;
    pthread_mutex_unlock(&client_mu);
    Py_END_ALLOW_THREADS
    if (!c) {
        ext_raise(st);
        return NULL;
    }
    return c;
}

static PyObject *m_cpu_count(PyObject *self, PyObject *noargs)
{
    pp_client *c = ext_client();
    return c ? PyLong_FromUnsignedLong(pp_client_cpu_count(c)) : NULL;
}

static PyObject *m_ping(PyObject *self, PyObject *args)
{
    int timeout_ms = 5000;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_client_ping(c, timeout_ms);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    Py_RETURN_NONE;
}

static PyObject *m_address(PyObject *self, PyObject *noargs)
{
    pp_client *c = ext_client();
    return c ? PyUnicode_FromString(pp_client_address(c)) : NULL;
}

static PyObject *m_strerror(PyObject *self, PyObject *args)
{
    int st;
    if (!PyArg_ParseTuple(args, "i", &st))
        return NULL;
    return Py_BuildValue("(ss)", pp_status_name((pp_status)st), pp_strerror((pp_status)st));
}

static PyObject *m_setup(PyObject *self, PyObject *kw_dict)
{
    static const struct { const char *name; size_t off; } slots[] = {
        { "make_error", offsetof(struct ext_helpers, make_error) },
        { "pickle_dumps", offsetof(struct ext_helpers, pickle_dumps) },
        { "pickle_loads", offsetof(struct ext_helpers, pickle_loads) },
        { "write_output", offsetof(struct ext_helpers, write_output) },
        { "future_ready", offsetof(struct ext_helpers, future_ready) },
        { "task_error", offsetof(struct ext_helpers, task_error) },
        { "encoding_error", offsetof(struct ext_helpers, encoding_error) },
        { "resolve", offsetof(struct ext_helpers, resolve) },
        { "flush", offsetof(struct ext_helpers, flush) },
        { "run_process", offsetof(struct ext_helpers, run_process) },
        { "from_handle", offsetof(struct ext_helpers, from_handle) },
    };
    if (!PyDict_Check(kw_dict)) {
        PyErr_SetString(PyExc_TypeError, "_setup takes a dict of helpers");
        return NULL;
    }
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        PyObject *v = PyDict_GetItemString(kw_dict, slots[i].name);
        if (!v)
            continue;
        PyObject **slot = (PyObject **)((char *)&ext + slots[i].off);
        Py_XSETREF(*slot, Py_NewRef(v));
    }
    Py_RETURN_NONE;
}

/* ---- Function -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pp_func *f;
    PyObject *desc;      /* for repr */
} ExtFunction;

int ext_pyenv_fill(PyObject *env, pp_pyenv *out, const char ***path_buf)
{
    PyObject *path, *vars = NULL;
    const char *interp, *main_path, *main_module, *cwd;
    memset(out, 0, sizeof *out);
    *path_buf = NULL;
    if (!PyArg_ParseTuple(env, "sO!zzz|O!;env is (interpreter, path, main_path, main_module, "
                          "cwd[, environ])", &interp, &PyList_Type, &path, &main_path,
                          &main_module, &cwd, &PyList_Type, &vars))
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(path), nv = vars ? PyList_GET_SIZE(vars) : 0;
    /* One array: the path entries, then the variables. */
    const char **p = PyMem_Calloc((size_t)(n + nv) + 1, sizeof *p);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n + nv; i++) {
        PyObject *s = i < n ? PyList_GET_ITEM(path, i) : PyList_GET_ITEM(vars, i - n);
        if (!(p[i] = PyUnicode_AsUTF8(s))) {
            PyMem_Free(p);
            return -1;
        }
    }
    out->interpreter = interp;
    out->path = p;
    out->npath = (size_t)n;
    out->environ = nv ? p + n : NULL;
    out->nenviron = (size_t)nv;
    out->main_path = main_path;
    out->main_module = main_module;
    out->cwd = cwd;
    *path_buf = p;
    return 0;
}

static PyObject *function_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "kind", "a", "b", "env", NULL };
    const char *kind, *a, *b;
    PyObject *env = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sss|O", kwlist, &kind, &a, &b, &env))
        return NULL;
    ExtFunction *self = (ExtFunction *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    pp_status st;
    if (strcmp(kind, "c") == 0) {
        st = pp_func_c(a, b, &self->f);
    } else if (strcmp(kind, "py") == 0) {
        pp_pyenv e;
        const char **pb = NULL;
        if (env != Py_None && ext_pyenv_fill(env, &e, &pb) < 0) {
            Py_DECREF(self);
            return NULL;
        }
        st = pp_func_py(a, b, env != Py_None ? &e : NULL, &self->f);
        PyMem_Free(pb);
    } else {
        Py_DECREF(self);
        PyErr_Format(PyExc_ValueError, "unknown function kind '%s'", kind);
        return NULL;
    }
    if (st != PP_OK) {
        Py_DECREF(self);
        return ext_raise(st);
    }
    self->desc = PyUnicode_FromFormat("%s:%s", a, b);
    if (!self->desc) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void function_dealloc(ExtFunction *self)
{
    pp_func_free(self->f);
    Py_XDECREF(self->desc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *function_repr(ExtFunction *self)
{
    return PyUnicode_FromFormat("<polypool function %U>", self->desc);
}

PyTypeObject ExtFunctionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.Function",
    .tp_basicsize = sizeof(ExtFunction),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Function(kind, a, b, env=None): a C function ('c', library, symbol) or a "
              "Python one ('py', module, qualname, env).",
    .tp_new = function_new,
    .tp_dealloc = (destructor)function_dealloc,
    .tp_repr = (reprfunc)function_repr,
};

int ext_function_check(PyObject *o)
{
    if (PyObject_TypeCheck(o, &ExtFunctionType))
        return 0;
    PyErr_Format(PyExc_TypeError, "expected a polypool Function, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

const pp_func *ext_function_get(PyObject *o)
{
    return ((ExtFunction *)o)->f;
}

/* ---- the module ------------------------------------------------------------ */

static PyMethodDef methods[] = {
    { "_setup", m_setup, METH_O, "Registers the Python layer's helpers." },
    { "cpu_count", m_cpu_count, METH_NOARGS, "The daemon's CPU count." },
    { "ping", m_ping, METH_VARARGS, "ping(timeout_ms=5000): a round trip to the daemon." },
    { "address", m_address, METH_NOARGS, "The daemon address this process is connected to." },
    { "strerror", m_strerror, METH_VARARGS, "strerror(status) -> (name, description)." },
    { "shm_create", (PyCFunction)(void (*)(void))ext_shm_create, METH_VARARGS | METH_KEYWORDS,
      "shm_create(size, label='', syncs=()) -> Segment: a new segment, primitives initialised." },
    { "shm_attach", (PyCFunction)(void (*)(void))ext_shm_attach, METH_VARARGS | METH_KEYWORDS,
      "shm_attach(id=0, label='') -> Segment: attaches a segment by id or name." },
    { "shm_unlink", ext_shm_unlink, METH_VARARGS, "shm_unlink(label): removes a name." },
    { "obj_new", ext_obj_new, METH_VARARGS,
      "obj_new(type, attach_id=0) -> id: creates (or attaches) a managed object." },
    { "obj_release", ext_obj_release, METH_VARARGS, "obj_release(id): lets go of one." },
    { "obj_op", ext_obj_op, METH_VARARGS,
      "obj_op(id, op, args=(), index=0, stop=0) -> (results, value): one ObjOp." },
    { "process_start", ext_process_start, METH_VARARGS,
      "process_start(fn, args, name, daemon=False) -> DaemonProcess: a process running fn(*args)." },
    { "worker_main", ext_worker_main, METH_VARARGS,
      "worker_main(argv): runs the worker host loop (for polypool._worker)." },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "polypool._polypool",
    .m_doc = "The C core of polypool: libpolypool for Python.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__polypool(void)
{
    PyTypeObject *types[] = { &ExtFunctionType, &ExtPoolType, &ExtFutureType, &ExtIterType,
                              &ExtSyncType, ext_segment_type(), &ExtRingType,
                              &ExtDaemonProcessType };
    const char *names[] = { "Function", "Pool", "Future", "Iter", "Sync", "Segment", "Ring",
                            "DaemonProcess" };
    size_t n_types = sizeof types / sizeof *types;
    for (size_t i = 0; i < n_types; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    if (!ext.handle_attr && !(ext.handle_attr = PyUnicode_InternFromString("_pp_handle")))
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    for (size_t i = 0; i < n_types; i++) {
        if (PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    PyModule_AddIntConstant(m, "STATUS_MAX", PP_STATUS_MAX);
    PyModule_AddStringConstant(m, "VERSION", PP_VERSION_STRING);
    PyModule_AddIntConstant(m, "RING_HEADER", RING_DATA_OFF);
    return m;
}
