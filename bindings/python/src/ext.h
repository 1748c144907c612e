/* ext.h - shared declarations of the polypool._polypool extension module.
 *
 * The extension wraps libpolypool (linked statically, internal API
 * available) and hosts the Python worker loop (runtime/worker/host.c).
 * Python-level policy (which exception class a status maps to, how a
 * function is named, how a task's exception is rebuilt) lives in the pure
 * Python layer, which registers its helpers with _polypool._setup(); the
 * C side never speaks the protocol in Python.
 *
 * GIL rule: every pp_* call that may block or take a client lock runs
 * with the GIL released. libpolypool's collector thread calls back into
 * Python (futures' callbacks, task output) and takes the GIL then; holding
 * the GIL while waiting for a client lock would deadlock against it.
 */
#ifndef PP_PYEXT_H
#define PP_PYEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "polypool.h"

/* Helpers registered by the Python layer (borrowed module state). */
struct ext_helpers {
    PyObject *make_error;      /* (status, message, where, index, signal, exit_code,
                                  exception bytes|None, traceback str) -> exception */
    PyObject *pickle_dumps;    /* obj -> bytes */
    PyObject *pickle_loads;    /* bytes -> obj */
    PyObject *write_output;    /* (fd, bytes) -> None: task output in this client */
    PyObject *future_ready;    /* (future) -> None: run its callbacks soon */
    PyObject *task_error;      /* worker: (exc) -> (message, pickled|None, traceback) */
    PyObject *encoding_error;  /* worker: (exc, value) -> exception to report */
    PyObject *resolve;         /* worker: (module, qualname) -> callable */
    PyObject *flush;           /* worker: () -> None, flushes sys.stdout/err */
    PyObject *run_process;     /* worker: (fn, args tuple, name) -> exit code */
    PyObject *from_handle;     /* handle tuple -> the shared object */
    PyObject *handle_attr;     /* interned "_pp_handle": a shared object's handle tuple */
};
extern struct ext_helpers ext;

/* Raises the Python exception for a failed pp_ call (pp_last_error()). */
PyObject *ext_raise(pp_status st);
/* Same for a pp_error (a future's or an item's). */
PyObject *ext_raise_error(const pp_error *e);

/* Python object -> new pp_value (ints, floats, str, bytes, None, bool,
 * list, tuple, dict natively; anything else pickled). NULL with an
 * exception set on failure (unpicklable object, out of memory). */
pp_value *ext_to_value(PyObject *o);
/* A LIST value of the items of iterable o (each item converted). */
pp_value *ext_to_list(PyObject *o);
/* pp_value -> new Python object; NULL with an exception. */
PyObject *ext_from_value(const pp_value *v);

/* The process's client, opened on first use (re-opened in a forked
 * child). Borrowed; NULL with an exception. */
pp_client *ext_client(void);

/* pp_func for a Function object; borrowed, lives as long as the object. */
int ext_function_check(PyObject *o);
const pp_func *ext_function_get(PyObject *o);
/* Fills a pp_pyenv from a Python env tuple (interpreter, path list,
 * main_path, main_module, cwd); strings borrowed from the tuple. */
int ext_pyenv_fill(PyObject *env, pp_pyenv *out, const char ***path_buf);

extern PyTypeObject ExtFunctionType, ExtPoolType, ExtFutureType, ExtIterType, ExtSyncType,
    ExtRingType, ExtDaemonProcessType;

/* process.c: processes the daemon starts. */
PyObject *ext_process_start(PyObject *mod, PyObject *args);

/* shared.c: segments, primitives, handles. */
PyTypeObject *ext_segment_type(void);
PyObject *ext_shm_create(PyObject *mod, PyObject *args, PyObject *kw);
PyObject *ext_shm_attach(PyObject *mod, PyObject *args, PyObject *kw);
PyObject *ext_shm_unlink(PyObject *mod, PyObject *args);
PyObject *ext_obj_new(PyObject *mod, PyObject *args);
PyObject *ext_obj_release(PyObject *mod, PyObject *args);
PyObject *ext_obj_op(PyObject *mod, PyObject *args);
/* Handle tuple <-> PP_HANDLE value (see polypool/_shared.py). */
pp_value *ext_handle_to_value(PyObject *t);
PyObject *ext_handle_from_value(const pp_value *v);

PyObject *ext_worker_main(PyObject *self, PyObject *args);

#endif
