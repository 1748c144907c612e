"""Python tasks for the C integration test of managed objects
(tests/integration/test-managed.c): a C client passes a pp_dict or pp_list
handle to a Python task through a pool, and the task gets a proxy to the
same object."""


def fill(d, n):
    """Reads what C wrote, writes keys of several kinds; returns what it
    saw: [type name of d, d['from_c'], len(d) after]."""
    seen = d["from_c"]
    d["from_py"] = "hello"
    for i in range(n):
        d[i] = i * i
    d[(1, "t")] = 2.5
    d[b"raw"] = None
    return [type(d).__name__, seen, len(d)]


def pop_key(d, key):
    """d.pop(key), or 'KeyError' when missing."""
    try:
        return d.pop(key)
    except KeyError:
        return "KeyError"


def extend(lst, items):
    """lst.extend(items); returns [type name, the whole list]."""
    lst.extend(items)
    lst.insert(0, "first")
    return [type(lst).__name__, lst[:]]


def identity(obj):
    """Returns the proxy itself: it goes back as a handle."""
    return obj


def ns_touch(ns):
    """Reads what C set, sets and deletes an attribute; returns [type name,
    ns.from_c, repr(ns) before the changes]."""
    before = repr(ns)
    seen = ns.from_c
    ns.from_py = "hello"
    del ns.to_delete
    return [type(ns).__name__, seen, before]


_kept = []


def ns_new(note):
    """A new Namespace, held by this worker so that it outlives the task
    (C attaches it from the handle the task returns)."""
    import polypool
    ns = polypool.Manager().Namespace(note=note)
    _kept.append(ns)
    return ns
