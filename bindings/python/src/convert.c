/* convert.c - Python objects <-> pp_values.
 *
 * Exact builtin types cross natively, so C tasks see ints, strings and
 * lists; everything else, subclasses included (an IntEnum, a namedtuple, an
 * OrderedDict keep their type), travels as a pickle only Python reads.
 * Below MAX_NATIVE_DEPTH nesting levels a subtree is pickled whole, which
 * also makes self-referencing lists safe (pickle handles cycles).
 */
#include "ext.h"

#define MAX_NATIVE_DEPTH 32

static pp_value *pickled(PyObject *o)
{
    PyObject *b = PyObject_CallOneArg(ext.pickle_dumps, o);
    if (!b)
        return NULL;
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(b, &data, &len) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    pp_value *v = pp_value_pickle(data, (size_t)len);
    Py_DECREF(b);
    if (!v)
        PyErr_NoMemory();
    return v;
}

static pp_value *nomem(pp_value *v)
{
    pp_value_free(v);
    PyErr_NoMemory();
    return NULL;
}

/* A freshly made scalar, or NULL with MemoryError. */
static pp_value *made(pp_value *v)
{
    if (!v)
        PyErr_NoMemory();
    return v;
}

static pp_value *to_value(PyObject *o, int depth);

static pp_value *seq_to_value(PyObject *o, bool tuple, int depth)
{
    pp_value *v = tuple ? pp_value_tuple() : pp_value_list();
    if (!v)
        return nomem(NULL);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        pp_value *x = to_value(items[i], depth + 1);
        if (!x) {
            pp_value_free(v);
            return NULL;
        }
        if (pp_value_append(v, x) != PP_OK) {
            pp_value_free(x);
            return nomem(v);
        }
    }
    return v;
}

static pp_value *to_value(PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    if (o == Py_None)
        return made(pp_value_null());
    if (t == &PyBool_Type)
        return made(pp_value_bool(o == Py_True));
    if (t == &PyLong_Type) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow && !(x == -1 && PyErr_Occurred()))
            return made(pp_value_int(x));
        PyErr_Clear();
        return pickled(o);          /* a big int */
    }
    if (t == &PyFloat_Type)
        return made(pp_value_double(PyFloat_AS_DOUBLE(o)));
    if (t == &PyUnicode_Type) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s) {
            PyErr_Clear();          /* lone surrogates: not UTF-8 */
            return pickled(o);
        }
        return made(pp_value_string_n(s, (size_t)len));
    }
    if (t == &PyBytes_Type)
        return made(pp_value_bytes(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o)));
    if (depth >= MAX_NATIVE_DEPTH)
        return pickled(o);
    if (t == &PyList_Type || t == &PyTuple_Type) {
        if (Py_EnterRecursiveCall(" converting a value for polypool"))
            return NULL;
        pp_value *v = seq_to_value(o, t == &PyTuple_Type, depth);
        Py_LeaveRecursiveCall();
        return v;
    }
    if (t == &PyDict_Type) {
        pp_value *m = pp_value_map();
        if (!m)
            return nomem(NULL);
        PyObject *k, *val;
        Py_ssize_t pos = 0;
        while (PyDict_Next(o, &pos, &k, &val)) {
            pp_value *kv = to_value(k, depth + 1);
            pp_value *vv = kv ? to_value(val, depth + 1) : NULL;
            if (!kv || !vv) {
                pp_value_free(kv);
                pp_value_free(m);
                return NULL;
            }
            if (pp_value_map_set(m, kv, vv) != PP_OK) {
                pp_value_free(kv);
                pp_value_free(vv);
                return nomem(m);
            }
        }
        return m;
    }
    /* A polypool shared object (Value, Lock, SharedMemory...) crosses as
     * a handle, which C tasks can use too. */
    if (ext.handle_attr) {
        PyObject *h = PyObject_GetAttr(o, ext.handle_attr);
        if (h && PyTuple_Check(h)) {
            pp_value *v = ext_handle_to_value(h);
            Py_DECREF(h);
            return v;
        }
        Py_XDECREF(h);
        if (!h)
            PyErr_Clear();
    }
    return pickled(o);
}

pp_value *ext_to_value(PyObject *o)
{
    return to_value(o, 0);
}

/* A list of small ints, the common input of a map, in one pass and a few
 * allocations (slab-allocated nodes); NULL without an error when some
 * item is not an int that fits int64. */
static pp_value *ints_to_list(PyObject *seq)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (n < 64)
        return NULL;
    int64_t *ints = PyMem_Malloc((size_t)n * sizeof *ints);
    if (!ints)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        int overflow = 0;
        if (Py_TYPE(items[i]) != &PyLong_Type) {
            PyMem_Free(ints);
            return NULL;
        }
        ints[i] = PyLong_AsLongLongAndOverflow(items[i], &overflow);
        if (overflow) {
            PyMem_Free(ints);
            return NULL;
        }
    }
    pp_value *v = pp_value_list_of_ints(ints, (size_t)n);
    PyMem_Free(ints);
    return v;
}

pp_value *ext_to_list(PyObject *o)
{
    PyObject *seq = PySequence_Fast(o, "expected an iterable");
    if (!seq)
        return NULL;
    pp_value *fast = ints_to_list(seq);
    if (fast) {
        Py_DECREF(seq);
        return fast;
    }
    pp_value *v = pp_value_list();
    if (!v) {
        Py_DECREF(seq);
        return nomem(NULL);
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        pp_value *x = to_value(items[i], 1);
        if (!x || pp_value_append(v, x) != PP_OK) {
            if (x) {
                pp_value_free(x);
                PyErr_NoMemory();
            }
            pp_value_free(v);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return v;
}

PyObject *ext_from_value(const pp_value *v)
{
    size_t len;
    const char *s;
    switch (pp_value_kind(v)) {
    case PP_NULL:
        Py_RETURN_NONE;
    case PP_BOOL:
        return PyBool_FromLong(pp_value_get_bool(v));
    case PP_INT:
        return PyLong_FromLongLong(pp_value_get_int(v));
    case PP_DOUBLE:
        return PyFloat_FromDouble(pp_value_get_double(v));
    case PP_STRING:
        s = pp_value_get_string(v, &len);
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
    case PP_BYTES:
        s = pp_value_get_bytes(v, &len);
        return PyBytes_FromStringAndSize(s, (Py_ssize_t)len);
    case PP_PICKLE: {
        s = pp_value_get_bytes(v, &len);
        PyObject *b = PyBytes_FromStringAndSize(s, (Py_ssize_t)len);
        if (!b)
            return NULL;
        PyObject *o = PyObject_CallOneArg(ext.pickle_loads, b);
        Py_DECREF(b);
        return o;
    }
    case PP_LIST:
    case PP_TUPLE: {
        size_t n = pp_value_len(v);
        bool tuple = pp_value_kind(v) == PP_TUPLE;
        PyObject *o = tuple ? PyTuple_New((Py_ssize_t)n) : PyList_New((Py_ssize_t)n);
        if (!o)
            return NULL;
        if (Py_EnterRecursiveCall(" converting a polypool value")) {
            Py_DECREF(o);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            PyObject *x = ext_from_value(pp_value_at(v, i));
            if (!x) {
                Py_LeaveRecursiveCall();
                Py_DECREF(o);
                return NULL;
            }
            if (tuple)
                PyTuple_SET_ITEM(o, (Py_ssize_t)i, x);
            else
                PyList_SET_ITEM(o, (Py_ssize_t)i, x);
        }
        Py_LeaveRecursiveCall();
        return o;
    }
    case PP_MAP: {
        PyObject *d = PyDict_New();
        if (!d)
            return NULL;
        size_t n = pp_value_len(v);
        for (size_t i = 0; i < n; i++) {
            PyObject *k = ext_from_value(pp_value_map_key_at(v, i));
            PyObject *x = k ? ext_from_value(pp_value_map_val_at(v, i)) : NULL;
            /* A C map may have a list key: Python needs it hashable. */
            if (k && PyList_CheckExact(k)) {
                PyObject *t = PyList_AsTuple(k);
                Py_DECREF(k);
                k = t;
            }
            if (!k || !x || PyDict_SetItem(d, k, x) < 0) {
                Py_XDECREF(k);
                Py_XDECREF(x);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(k);
            Py_DECREF(x);
        }
        return d;
    }
    case PP_HANDLE: {
        if (!ext.from_handle) {
            PyErr_SetString(PyExc_RuntimeError, "polypool: no handle rebuilder registered");
            return NULL;
        }
        PyObject *t = ext_handle_from_value(v);
        if (!t)
            return NULL;
        PyObject *r = PyObject_CallOneArg(ext.from_handle, t);
        Py_DECREF(t);
        return r;
    }
    default:
        PyErr_Format(PyExc_TypeError, "polypool: a value of kind %d has no Python form",
                     (int)pp_value_kind(v));
        return NULL;
    }
}
