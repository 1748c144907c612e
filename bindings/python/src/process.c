/* process.c - DaemonProcess: a process the daemon started (pp_process),
 * for Process objects whose target is a C function (polypool.cfunc). The
 * Python layer (process.py) keeps multiprocessing's Process interface on
 * top; its output reaches sys.stdout / sys.stderr through the client's
 * output function. */
#include "ext.h"

typedef struct {
    PyObject_HEAD
    pp_process *p;
} DaemonProcess;

static int check(DaemonProcess *self)
{
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "process handle is released");
        return -1;
    }
    return 0;
}

static PyObject *dp_free(DaemonProcess *self, PyObject *unused);

static void dp_dealloc(DaemonProcess *self)
{
    Py_XDECREF(dp_free(self, NULL));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* join(timeout_ms=-1) -> True once it ended and its output is written. */
static PyObject *dp_join(DaemonProcess *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms) || check(self) < 0)
        return NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_process_join(self->p, timeout_ms);
    Py_END_ALLOW_THREADS
    if (st == PP_ETIMEDOUT)
        Py_RETURN_FALSE;
    if (st != PP_OK)
        return ext_raise(st);
    Py_RETURN_TRUE;
}

/* exitcode() -> the exit code, or None while it runs. */
static PyObject *dp_exitcode(DaemonProcess *self, PyObject *unused)
{
    (void)unused;
    if (check(self) < 0)
        return NULL;
    int code = 0;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_process_exitcode(self->p, &code);
    Py_END_ALLOW_THREADS
    if (st == PP_EAGAIN)
        Py_RETURN_NONE;
    if (st != PP_OK)
        return ext_raise(st);
    return PyLong_FromLong(code);
}

static PyObject *dp_signal(DaemonProcess *self, pp_status (*fn)(pp_process *))
{
    if (check(self) < 0)
        return NULL;
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = fn(self->p);
    Py_END_ALLOW_THREADS
    if (st != PP_OK)
        return ext_raise(st);
    Py_RETURN_NONE;
}

static PyObject *dp_terminate(DaemonProcess *self, PyObject *unused)
{
    (void)unused;
    return dp_signal(self, pp_process_terminate);
}

static PyObject *dp_kill(DaemonProcess *self, PyObject *unused)
{
    (void)unused;
    return dp_signal(self, pp_process_kill);
}

static PyObject *dp_pid(DaemonProcess *self, PyObject *unused)
{
    (void)unused;
    if (check(self) < 0)
        return NULL;
    return PyLong_FromLong(pp_process_pid(self->p));
}

static PyObject *dp_free(DaemonProcess *self, PyObject *unused)
{
    (void)unused;
    pp_process *p = self->p;
    self->p = NULL;
    if (p) {
        Py_BEGIN_ALLOW_THREADS
        pp_process_free(p);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyMethodDef dp_methods[] = {
    { "join", (PyCFunction)dp_join, METH_VARARGS, "join(timeout_ms=-1) -> ended" },
    { "exitcode", (PyCFunction)dp_exitcode, METH_NOARGS, "exitcode() -> int or None" },
    { "terminate", (PyCFunction)dp_terminate, METH_NOARGS, "SIGTERM" },
    { "kill", (PyCFunction)dp_kill, METH_NOARGS, "SIGKILL" },
    { "pid", (PyCFunction)dp_pid, METH_NOARGS, "The process id." },
    { "free", (PyCFunction)dp_free, METH_NOARGS, "Lets go of the process (it keeps running)." },
    { NULL, NULL, 0, NULL },
};

PyTypeObject ExtDaemonProcessType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "polypool._polypool.DaemonProcess",
    .tp_basicsize = sizeof(DaemonProcess),
    .tp_dealloc = (destructor)dp_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A process started by the daemon (process_start).",
    .tp_methods = dp_methods,
};

/* process_start(fn, args, name, daemon) -> DaemonProcess */
PyObject *ext_process_start(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *fn, *fargs;
    const char *name;
    int daemon = 0;
    if (!PyArg_ParseTuple(args, "OOs|p", &fn, &fargs, &name, &daemon))
        return NULL;
    if (ext_function_check(fn) < 0)
        return NULL;
    pp_client *c = ext_client();
    if (!c)
        return NULL;
    pp_value *in = ext_to_list(fargs);
    if (!in)
        return NULL;
    DaemonProcess *self = PyObject_New(DaemonProcess, &ExtDaemonProcessType);
    if (!self) {
        pp_value_free(in);
        return NULL;
    }
    self->p = NULL;
    pp_process_opts o = { .name = name, .daemon = daemon != 0 };
    pp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pp_process_start(c, ext_function_get(fn), in, &o, &self->p);
    pp_value_free(in);
    Py_END_ALLOW_THREADS
    if (st != PP_OK) {
        Py_DECREF(self);
        return ext_raise(st);
    }
    return (PyObject *)self;
}
