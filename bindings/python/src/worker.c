/* worker.c - the Python worker host: the daemon's worker loop (host.c)
 * with Python functions plugged in. polypool._worker sets up sys.path and
 * the main module, then calls worker_main(argv), which runs the loop with
 * the GIL released and takes it only to call into Python. */
#include "ext.h"

#include <stdlib.h>
#include <string.h>

#include "host.h"

/* Resolved functions, by module and qualified name. A worker sees a
 * handful of functions, so a list will do. */
struct resolved {
    struct resolved *next;
    char *module, *qualname, *label;
    PyObject *fn;
};
static struct resolved *resolved;

/* Fills err from the current Python exception (cleared) through the Python
 * layer's task_error(exc) -> (message, pickled or None, traceback). */
static void fill_error(struct host_error *err)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    PyObject *r = value ? PyObject_CallOneArg(ext.task_error, value) : NULL;
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    const char *msg = NULL, *trace = NULL;
    PyObject *pickled = NULL;
    if (r && PyArg_ParseTuple(r, "sOs", &msg, &pickled, &trace)) {
        snprintf(err->msg, sizeof err->msg, "%s", msg);
        if (PyBytes_Check(pickled) && PyBytes_GET_SIZE(pickled) > 0 &&
            (err->exception = malloc((size_t)PyBytes_GET_SIZE(pickled)))) {
            err->exception_len = (size_t)PyBytes_GET_SIZE(pickled);
            memcpy(err->exception, PyBytes_AS_STRING(pickled), err->exception_len);
        }
        err->traceback = strdup(trace);
    } else {
        PyErr_Clear();
        snprintf(err->msg, sizeof err->msg, "the task failed and its exception could not be "
                                            "formatted");
    }
    Py_XDECREF(r);
}

static pp_status py_lookup(void *arg, const Polypool__V1__PyFunction *f, void **fn,
                           const char **label, struct host_error *err)
{
    const char *module = f && f->module ? f->module : "";
    const char *qualname = f && f->qualname ? f->qualname : "";
    for (struct resolved *r = resolved; r; r = r->next) {
        if (strcmp(r->module, module) == 0 && strcmp(r->qualname, qualname) == 0) {
            *fn = r->fn;
            *label = r->label;
            return PP_OK;
        }
    }
    PyGILState_STATE g = PyGILState_Ensure();
    pp_status st = PP_OK;
    PyObject *o = PyObject_CallFunction(ext.resolve, "ss", module, qualname);
    struct resolved *r = o ? calloc(1, sizeof *r) : NULL;
    if (r) {
        r->module = strdup(module);
        r->qualname = strdup(qualname);
        size_t n = strlen(module) + strlen(qualname) + 2;
        if ((r->label = malloc(n)))
            snprintf(r->label, n, "%s.%s", module, qualname);
    }
    if (!o) {
        /* A Python client raises the exception itself (ImportError,
         * AttributeError...); a C client sees the status. */
        st = PyErr_ExceptionMatches(PyExc_ImportError)      ? PP_ENOLIB
             : PyErr_ExceptionMatches(PyExc_AttributeError) ? PP_ENOSYM
                                                            : PP_ETASK;
        fill_error(err);
    } else if (!r || !r->module || !r->qualname || !r->label) {
        Py_DECREF(o);
        if (r) {
            free(r->module);
            free(r->qualname);
            free(r->label);
            free(r);
        }
        snprintf(err->msg, sizeof err->msg, "out of memory");
        st = PP_ENOMEM;
    } else {
        r->fn = o;
        r->next = resolved;
        resolved = r;
        *fn = o;
        *label = r->label;
    }
    PyGILState_Release(g);
    return st;
}

static pp_status py_call(void *arg, void *fn, const pp_value *args, pp_value *result,
                         struct host_error *err)
{
    PyGILState_STATE g = PyGILState_Ensure();
    pp_status st = PP_ETASK;
    PyObject *a = ext_from_value(args);
    PyObject *t = a ? PySequence_Tuple(a) : NULL;
    Py_XDECREF(a);
    PyObject *r = t ? PyObject_Call((PyObject *)fn, t, NULL) : NULL;
    Py_XDECREF(t);
    if (!r) {
        fill_error(err);
        goto out;
    }
    pp_value *v = ext_to_value(r);
    if (!v) {
        /* The result cannot be sent (it does not pickle): the task
         * fails with multiprocessing's MaybeEncodingError. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        PyObject *e = PyObject_CallFunctionObjArgs(ext.encoding_error, value ? value : Py_None,
                                                   r, NULL);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        if (e) {
            PyErr_SetObject((PyObject *)Py_TYPE(e), e);
            Py_DECREF(e);
        }
        fill_error(err);
        Py_DECREF(r);
        goto out;
    }
    Py_DECREF(r);
    pp_value_move(result, v);       /* consumes v */
    st = PP_OK;
out:
    PyGILState_Release(g);
    return st;
}

static void py_flush(void *arg)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(ext.flush);
    if (r)
        Py_DECREF(r);
    else
        PyErr_Clear();
    PyGILState_Release(g);
}

/* A process's life (--run): the Python layer's run_process(fn, args,
 * name) behaves as multiprocessing's _bootstrap and returns the exit code. */
static int py_run(void *arg, void *fn, const pp_value *args, const char *name)
{
    (void)arg;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 1;
    PyObject *a = ext_from_value(args);
    PyObject *t = a ? PySequence_Tuple(a) : NULL;
    Py_XDECREF(a);
    PyObject *r = t ? PyObject_CallFunction(ext.run_process, "OOs", (PyObject *)fn, t, name)
                    : NULL;
    Py_XDECREF(t);
    if (r && PyLong_Check(r))
        rc = (int)PyLong_AsLong(r);
    else
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

PyObject *ext_worker_main(PyObject *self, PyObject *args)
{
    PyObject *list;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &list))
        return NULL;
    if (!ext.resolve || !ext.task_error || !ext.encoding_error || !ext.flush ||
        !ext.run_process) {
        PyErr_SetString(PyExc_RuntimeError, "worker helpers are not set up");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    char **argv = PyMem_Calloc((size_t)n + 1, sizeof *argv);
    if (!argv)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(list, i));
        if (!s) {
            PyMem_Free(argv);
            return NULL;
        }
        argv[i] = (char *)s;
    }
    static const struct host_lang lang = {
        .lookup = py_lookup,
        .call = py_call,
        .flush = py_flush,
        .run = py_run,
    };
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = worker_host_main((int)n, argv, &lang);
    Py_END_ALLOW_THREADS
    PyMem_Free(argv);
    return PyLong_FromLong(rc);
}
