"""How a Python callable becomes a task's function.

A module-level function travels by name: (module, qualified name), and
the worker imports it, as pickle does. Lambdas and functions local to
another function have no name another process can find: they are refused
here, before anything is sent. Other callables (functools.partial, bound
methods, builtin methods, callable objects) are pickled and sent along
with each call, run by ``polypool._worker.call_pickled``.
"""
import sys

from . import _env
from ._polypool import Function

_PICKLED = "call_pickled"


class CFunction:
    """A C function: ``symbol`` exported by the shared library ``library``
    (a path, or a bare soname for the dynamic loader's search). Pool
    methods run it as a C task; it takes and returns plain values (ints,
    floats, strings, bytes, lists, dicts, None)."""

    __slots__ = ("library", "symbol", "_fn")

    def __init__(self, library, symbol):
        import os
        if not isinstance(library, (str, os.PathLike)) or not isinstance(symbol, str):
            raise TypeError("cfunc(library, symbol) takes a path and a symbol name")
        library = os.fspath(library)
        if not library or not symbol:
            raise ValueError("cfunc: library and symbol must be non-empty")
        self.library = library
        self.symbol = symbol
        self._fn = Function("c", library, symbol)

    def __repr__(self):
        return "cfunc(%r, %r)" % (self.library, self.symbol)

    def __call__(self, *args):
        raise TypeError("%r is a C task: run it with a Pool method (map, apply, ...)" % self)

    def __reduce__(self):
        return (CFunction, (self.library, self.symbol))


def cfunc(library, symbol):
    """A C function (see CFunction) usable with every Pool method."""
    return CFunction(library, symbol)


def _lookup(module, qualname):
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


_by_name = {}
_by_fn = {}     # fn -> (env, Function or None, spec)


def _named(fn, env):
    """The Function for a module-level fn, or None when fn cannot be
    found by name."""
    try:
        hit = _by_fn.get(fn)
    except TypeError:       # an unhashable callable object: it has no name
        return None
    if hit is not None and hit[0] is env:
        return hit[1]
    f = _named_uncached(fn, env)
    # Only named functions are cached: a partial or a bound method in the
    # cache would keep what it holds alive (a Value, a Lock, a big array).
    if f is not None:
        if len(_by_fn) > 4096:
            _by_fn.clear()
        _by_fn[fn] = (env, f, [fn.__module__, fn.__qualname__])
    return f


def _named_uncached(fn, env):
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if "<lambda>" in qualname or "<locals>" in qualname:
        import pickle
        what = "a lambda" if "<lambda>" in qualname else "a function local to another function"
        raise pickle.PicklingError(
            "Can't pickle %r: it is %s, which another process cannot import; "
            "define it at module level" % (fn, what))
    if _lookup(module, qualname) is not fn:
        return None
    if module == "__main__" and not env[2] and not env[3]:
        import pickle
        raise pickle.PicklingError(
            "Can't pickle %r: functions defined in an interactive session cannot run in "
            "worker processes; put them in a module (or a script) and import them" % (fn,))
    return _function(module, qualname, env)


def _function(module, qualname, env):
    """The Function for module.qualname in env (the same env object while
    the environment stays the same: see _env.current)."""
    key = (module, qualname, id(env))
    hit = _by_name.get(key)
    if hit is None or hit[0] is not env:
        if len(_by_name) > 1024:
            _by_name.clear()
        hit = _by_name[key] = (env, Function("py", module, qualname, env))
    return hit[1]


def resolve(func, kwds=None, env=None):
    """(Function, prefix): the Function to submit for `func`, and a tuple of
    arguments to put before each call's own (the pickled callable, for
    callables without a name)."""
    if isinstance(func, CFunction):
        if kwds:
            raise TypeError("C functions take no keyword arguments")
        return func._fn, ()
    if not callable(func):
        raise TypeError("%r is not callable" % (func,))
    if env is None:
        env = _env.current()
    if kwds:
        import functools
        func = functools.partial(func, **kwds)
    else:
        f = _named(func, env)
        if f is not None:
            return f, ()
    # Fails here (PicklingError, AttributeError...) for what cannot travel.
    import pickle
    blob = pickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)
    return _pickled_runner(env), (blob,)


def chunk_spec(func, env=None):
    """How polypool._worker.run_chunk finds func: [module, qualname], or the
    pickled callable. None for a C function (C tasks take native items)."""
    if isinstance(func, CFunction):
        return None
    if env is None:
        env = _env.current()
    if _named(func, env) is not None:
        return _by_fn[func][2]
    import pickle
    return pickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)


def chunk_runner(env=None):
    """The Function running a pickled chunk of items (run_chunk)."""
    return _function("polypool._worker", "run_chunk", env or _env.current())


def _pickled_runner(env):
    return _function("polypool._worker", _PICKLED, env)

