"""The Python worker host: ``python -m polypool._worker --fd 3``.

polypoold starts it with the submitting client's interpreter and
environment (see _env.py): POLYPOOL_PY_PATH (sys.path entries joined by
\\x1f), POLYPOOL_PY_MAIN_PATH or POLYPOOL_PY_MAIN_MODULE (the client's main,
imported as __mp_main__ and aliased __main__, as multiprocessing's spawn
does). The loop itself is C (host.c in the extension); this module only
prepares the interpreter and provides the few Python operations the loop
calls: resolve a function, describe an exception, flush stdio.

``python -m polypool._worker --process FD`` runs one Process instead: see
process.py. ``--run FD`` runs one process the daemon started (ProcStart,
a C program's pp_process_start): the same loop runs the one call packed in
fd FD through run_process and exits with its code.
"""
import os
import sys

_main_error = None


def _setup_path():
    entries = os.environ.get("POLYPOOL_PY_PATH")
    if entries:
        first = entries.split("\x1f")
        sys.path[:] = first + [p for p in sys.path if p not in first]


def _import_main():
    """Imports the client's main script or module as __mp_main__, under its
    ``if __name__ == "__main__":`` guard (multiprocessing.spawn's way)."""
    import runpy
    import types
    module = os.environ.get("POLYPOOL_PY_MAIN_MODULE")
    path = os.environ.get("POLYPOOL_PY_MAIN_PATH")
    if module:
        runpy.run_module(module, run_name="__mp_main__", alter_sys=True)
        main = sys.modules["__mp_main__"]
    elif path:
        main = types.ModuleType("__mp_main__")
        sys.modules["__mp_main__"] = main
        main.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
    else:
        return
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main


def prepare():
    """Sets up sys.path and the main module. A main module that fails to
    import does not kill the host: every task of a function of the main
    module then fails with that error (others run)."""
    global _main_error
    _setup_path()
    try:
        _import_main()
    except BaseException as e:  # noqa: B902 - SystemExit from the main too
        _main_error = e


def resolve(module, qualname):
    if _main_error is not None and module in ("__main__", "__mp_main__"):
        raise _main_error
    import importlib
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


_pickled = {}


def _load_callable(blob):
    """Unpickles a callable sent pickled, cached by its pickle unless it
    holds a shared object (a partial over a Value, a Lock...): the cache
    would keep that object's segment alive as long as this worker."""
    import pickle
    from . import _shared
    before = _shared.rebuilds
    fn = pickle.loads(blob)
    if _shared.rebuilds == before:
        if len(_pickled) > 256:
            _pickled.clear()
        _pickled[blob] = fn
    return fn


def call_pickled(blob, *args):
    """Runs a callable sent pickled (a partial, a bound method...)."""
    fn = _pickled.get(blob)
    if fn is None:
        fn = _load_callable(blob)
    return fn(*args)


def run_chunk(spec, star, blob):
    """Runs func over a pickled chunk of items: how a Python client maps a
    Python function, one pickle per chunk rather than a value per item (as
    multiprocessing sends chunks). spec is [module, qualname] or a pickled
    callable; the results come back as one pickle."""
    import pickle
    fn = _pickled.get(spec) if isinstance(spec, bytes) else None
    if fn is None:
        if isinstance(spec, bytes):
            fn = _load_callable(spec)
        else:
            fn = resolve(spec[0], spec[1])
    items = pickle.loads(blob)
    if star:
        results = [fn(*args) for args in items]
    else:
        results = list(map(fn, items))
    try:
        return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        from ._errors import MaybeEncodingError
        raise MaybeEncodingError(e, results) from None


def task_error(exc):
    """(message, pickled exception or None, traceback text) for a task's
    exception. An exception that does not pickle is sent as a TaskError
    carrying its text; its traceback always travels."""
    import pickle
    import traceback
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    exc.__traceback__ = None
    try:
        blob = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(blob)          # some exceptions pickle but do not unpickle
    except Exception:
        blob = None
    return message, blob, tb


def encoding_error(exc, value):
    from ._errors import MaybeEncodingError
    return MaybeEncodingError(exc, value)


def flush():
    for f in (sys.stdout, sys.stderr):
        try:
            if f is not None:
                f.flush()
        except Exception:
            pass


def run_process(fn, args, name):
    """A process started by the daemon (``--run``): fn(*args) as a
    multiprocessing child runs its target; returns the exit code."""
    from . import process
    process._current._name = name
    try:
        process._parent = process._ParentProcess(os.environ["POLYPOOL_PARENT_NAME"],
                                                 int(os.environ["POLYPOOL_PARENT_PID"]))
    except (KeyError, ValueError):
        pass
    try:
        return process._run_as_process(lambda: fn(*args), name)
    finally:
        flush()


def main(argv):
    if "--process" in argv:
        from .process import _child_main
        return _child_main(argv)
    if "--zygote" in argv:
        from . import _zygote
        return _zygote.main(int(argv[argv.index("--zygote") + 1]))
    if "--forkserver" in argv:
        from . import _forkserver
        return _forkserver.main(int(argv[argv.index("--forkserver") + 1]))
    prepare()
    return run_host(argv)


def run_host(argv):
    """Runs the worker loop (sys.path and the main module are ready)."""
    from . import _polypool
    _polypool._setup({"resolve": resolve, "task_error": task_error,
                      "encoding_error": encoding_error, "flush": flush,
                      "run_process": run_process})
    return _polypool.worker_main([sys.argv[0]] + argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
