"""Fails when a public Python API name of the polypool package has no row in
docs/parity.md, or when the table names a C function, type, constant or
struct field that bindings/c/include/polypool.h does not declare.

    check_parity.py BUILD/bindings/python polypool.h docs/parity.md [--list]

The Python names are found by introspection, not from a list, so a name
added to the package later fails this check until the table has a row
for it:

- `X` for every name in polypool.__all__;
- `mod.X` for every public submodule (pool, queues, ...): its __all__, and
  the public classes and functions defined in it;
- `Class.attr` for every class among those defined in polypool, except
  exceptions (a C caller gets a status instead): its public attributes and
  the special methods that implement an operation (`__getitem__`,
  `__enter__`, ...), whether its own or inherited from a base other than
  object. An attribute is named after the most basic public class related
  to it (a base or a subclass) that has the same one, a class of __all__
  first: BaseProcess's start is `Process.start`, BoundedSemaphore's
  acquire is `Semaphore.acquire`.

A name bound to the same object as a name in __all__ (`synchronize.Lock`
is `Lock`), and a member named like one (`SyncManager.Lock`,
`BaseContext.Pool`), share that name's row unless they have their own.

A row is `| `python.name`[, `other.name`...] | `pp_c_name`[, ...] | notes |`,
or its second column starts with "n/a: reason" (no meaning for C). Every
backticked name in the second column must be declared in polypool.h
(`pp_type.field` names a struct field).
--list prints the Python names and exits.
"""
import importlib
import inspect
import os
import pkgutil
import re
import sys

# Special methods that are plumbing (construction, printing, pickling,
# class machinery), not operations a C caller would look for.
PLUMBING = {
    "__init__", "__new__", "__del__", "__repr__", "__str__", "__format__", "__reduce__",
    "__reduce_ex__", "__getstate__", "__setstate__", "__class_getitem__", "__init_subclass__",
    "__subclasshook__", "__module__", "__doc__", "__dict__", "__weakref__", "__qualname__",
    "__slots__", "__annotations__", "__hash__", "__firstlineno__", "__static_attributes__",
    "__abstractmethods__", "__orig_bases__", "__parameters__", "__sizeof__", "__dir__",
}


def python_names(bindings_dir):
    """{name: object} of every public name, and the set of names in
    polypool.__all__."""
    bindings_dir = os.path.realpath(bindings_dir)
    sys.path.insert(0, bindings_dir)
    import polypool
    if not os.path.realpath(polypool.__file__).startswith(bindings_dir + os.sep):
        sys.exit("imported polypool from %s, not from %s" % (polypool.__file__, bindings_dir))
    names = {}
    for n in polypool.__all__:
        names[n] = getattr(polypool, n)
    top = set(names)

    for info in pkgutil.iter_modules(polypool.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module("polypool." + info.name)
        public = list(getattr(mod, "__all__", []))
        for n, obj in vars(mod).items():
            if (not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                    and getattr(obj, "__module__", None) == mod.__name__ and n not in public):
                public.append(n)
        for n in public:
            names["%s.%s" % (info.name, n)] = getattr(mod, n)

    classes = {}
    for n, obj in names.items():
        if (inspect.isclass(obj) and obj.__module__.startswith("polypool")
                and not issubclass(obj, BaseException)):
            classes.setdefault(obj, n.rsplit(".", 1)[-1])
    for cls in classes:
        for attr in dir(cls):
            if attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__")):
                continue
            if attr in PLUMBING:
                continue
            owner = next(k for k in cls.__mro__ if attr in vars(k))
            if owner is object:
                continue
            value = vars(owner)[attr]
            # Among the public classes related to cls that have the same
            # attribute, the most basic one, one of __all__ first
            # (Process.start, not BaseProcess.start nor ThreadPool.map).
            same = [k for k in classes
                    if (issubclass(cls, k) or issubclass(k, cls)) and attr in dir(k)
                    and _same(k, cls, attr)]
            top_same = [k for k in same if classes[k] in top]
            pick = top_same or same
            name = classes[min(pick, key=lambda k: len(k.__mro__))]
            names["%s.%s" % (name, attr)] = value
    return names, top


def _same(base, cls, attr):
    a = inspect.getattr_static(base, attr)
    b = inspect.getattr_static(cls, attr)
    return a is b


def covered_by_alias(name, names, top, rows):
    """The top-level name whose row covers name, or None."""
    obj = names[name]
    for t in top:
        if t in rows and names[t] is obj and t != name:
            return t
    last = name.rsplit(".", 1)[-1]
    if "." in name and last in top and last in rows:
        return last
    return None


def header_names(path):
    """Every pp_/PP_ name polypool.h declares, and {struct: {fields}}."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    declared = set()
    declared |= set(re.findall(r"\b(pp_\w+)\s*\(", text))                 # functions
    declared |= set(re.findall(r"\(\s*\*\s*(pp_\w+)\s*\)", text))         # function pointer types
    declared |= set(re.findall(r"typedef\s+[^;{]*?\b(pp_\w+)\s*;", text))  # typedefs
    declared |= set(re.findall(r"#\s*define\s+(PP_\w+)", text))           # macros
    fields = {}
    for body, name in re.findall(r"typedef\s+(?:struct|enum)\s+\w+\s*\{(.*?)\}\s*(pp_\w+)\s*;",
                                 text, flags=re.S):
        declared.add(name)
        if re.search(r"\benum\b", text[:text.find(body)].rsplit("typedef", 1)[-1]):
            declared |= set(re.findall(r"\b(PP_\w+)\s*(?:=|,|$)", body, flags=re.M))
        else:
            fields[name] = set(re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*;", body))
    return declared, fields


def table_rows(path):
    """[(line number, [python names], cell 2)] of every table row."""
    rows = []
    for lineno, line in enumerate(open(path), 1):
        line = line.strip()
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|$", line):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        py = re.findall(r"`([^`]+)`", cells[0])
        if not py:
            continue        # a header row
        rows.append((lineno, py, cells[1] if len(cells) > 1 else ""))
    return rows


def main():
    args = [a for a in sys.argv[1:] if a != "--list"]
    if len(args) != 3:
        sys.exit(__doc__)
    bindings_dir, header, doc = args
    names, top = python_names(bindings_dir)
    if "--list" in sys.argv:
        for n in sorted(names, key=lambda n: (n.count("."), n)):
            print(n)
        return

    declared, fields = header_names(header)
    problems = []
    rows = {}
    for lineno, py, cell in table_rows(doc):
        for n in py:
            if n in rows:
                problems.append("%s:%d: `%s` already has a row (line %d)"
                                % (doc, lineno, n, rows[n]))
            rows[n] = lineno
            if n not in names:
                problems.append("%s:%d: `%s` is not a public name of the package"
                                % (doc, lineno, n))
        c_names = re.findall(r"`([^`]+)`", cell)
        if not c_names and not re.match(r"n/a:\s*\S", cell):
            problems.append("%s:%d: the row of %s names no C function and gives no "
                            "'n/a: reason'" % (doc, lineno, ", ".join(py)))
        for c in c_names:
            struct, _, field = c.partition(".")
            if struct not in declared:
                problems.append("%s:%d: `%s` is not declared in polypool.h" % (doc, lineno, c))
            elif field and field not in fields.get(struct, ()):
                problems.append("%s:%d: `%s` is not a field of %s" % (doc, lineno, c, struct))

    missing = [n for n in sorted(names) if n not in rows
               and not covered_by_alias(n, names, top, rows)]
    for n in missing:
        problems.append("no row in %s for the Python name `%s`" % (doc, n))
    if problems:
        sys.exit("\n".join(problems))
    print("%d Python names mapped (%d in rows of their own)" % (len(names), len(rows)))


if __name__ == "__main__":
    main()
