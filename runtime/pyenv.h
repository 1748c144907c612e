/* pyenv.h - the environments Python worker hosts run in.
 *
 * A Python task names its function by module and qualified name, and the
 * environment to find it in: interpreter, sys.path, main script, working
 * directory (proto: PyEnv). Environments are interned: equal ones are one
 * struct, so "can this worker run this job" is a pointer comparison.
 * Jobs, pools and workers each hold a reference; the last unref frees.
 *
 * Locking: under the daemon lock.
 */
#ifndef PP_PYENV_H
#define PP_PYENV_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pyenv {
    uint32_t refs;
    char *key;              /* every field, NUL-separated: the intern key */
    size_t key_len;
    char *interpreter;
    char **path;            /* npath entries */
    size_t npath;
    char *main_path, *main_module, *cwd;   /* "" when unset */
    char **environ;         /* nenviron "NAME=value" entries; none: the daemon's */
    size_t nenviron;
    struct list link;
};

/* The interned environment with these fields (strings copied), with a new
 * reference. NULL on ENOMEM. */
struct pyenv *pyenv_intern(const char *interpreter, char *const *path, size_t npath,
                           const char *main_path, const char *main_module, const char *cwd,
                           char *const *environ, size_t nenviron);
struct pyenv *pyenv_ref(struct pyenv *e);
/* Accepts NULL. */
void pyenv_unref(struct pyenv *e);

/* "python3.11 /path/to/main.py" for logs and status; borrowed from a
 * static buffer. */
const char *pyenv_label(const struct pyenv *e);

/* The process environment of a worker host for e: e's environ, or when it
 * has none `base` (NULL-terminated, usually the daemon's environ), without
 * PYTHONPATH and POLYPOOL_PY_*, plus
 *   PYTHONPATH=<path joined by ':'>, POLYPOOL_PY_PATH=<path joined by
 *   '\x1f'>, POLYPOOL_PY_MAIN_PATH, POLYPOOL_PY_MAIN_MODULE.
 * One malloc'd block: free the returned array only. NULL on ENOMEM. */
char **pyenv_environ(const struct pyenv *e, char *const *base);

/* Live environments (tests). */
size_t pyenv_count(void);

#endif
