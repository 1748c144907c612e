"""The environment Python workers run in: this interpreter, this sys.path,
this main script, this working directory (proto: PyEnv)."""
import os
import sys

_cache = None


def _main_info():
    """(main_path, main_module) as multiprocessing's spawn would re-import
    them in a child: the script run, or the module run with -m. Nothing for
    an interactive session or a package's __main__."""
    main = sys.modules.get("__main__")
    if main is None:
        return "", ""
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name
        if name == "__main__" or name.endswith(".__main__"):
            return "", ""
        return "", name
    path = getattr(main, "__file__", None)
    if not path or not isinstance(path, str):
        return "", ""
    if os.path.basename(path).startswith("<") or not os.path.exists(path):
        return "", ""
    return os.path.abspath(path), ""


_seen = None


def current():
    """The PyEnv tuple (interpreter, path, main_path, main_module, cwd) the
    extension expects. The same object while sys.path, the cwd and the main
    module stay the same (callers cache by its identity)."""
    global _cache, _seen
    cwd = os.getcwd()
    main = sys.modules.get("__main__")
    data = os.environ._data
    if _seen is not None and _seen[0] == cwd and _seen[1] is main and _seen[2] == sys.path \
            and _seen[3] == data:
        return _cache
    path = [os.path.abspath(p) if p else cwd for p in sys.path]
    main_path, main_module = _main_info()
    interpreter = os.path.abspath(sys.executable) if sys.executable else ""
    # Workers see this program's environment variables, as spawned children
    # do (OMP_NUM_THREADS set before Pool() must reach them).
    environ = ["%s=%s" % kv for kv in os.environ.items() if "\0" not in kv[0] + kv[1]]
    env = (interpreter, path, main_path or None, main_module or None, cwd, environ)
    if _cache != env:
        _cache = env
    _seen = (cwd, main, list(sys.path), dict(data))
    return _cache


def main_is_interactive():
    main = sys.modules.get("__main__")
    return main is not None and not getattr(main, "__file__", None) and \
        getattr(main, "__spec__", None) is None
