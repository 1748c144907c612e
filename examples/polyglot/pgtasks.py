"""Python functions of the polyglot example. polyglot.py maps them in
Python; polyglot.c applies them from C, naming them by module and
function: pp_func_py("pgtasks", "word_count", ...)."""


def word_count(text):
    return len(text.split())


def summary(numbers):
    """A dict result: C sees a map."""
    return {"n": len(numbers), "total": sum(numbers), "max": max(numbers)}


def shout(text):
    return text.upper() + "!"
