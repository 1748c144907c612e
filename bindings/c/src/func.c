/* func.c - pp_func: which code a task runs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"
#include "internal.h"
#include "pp_config.h"

/* "$ORIGIN/rest" -> "<directory of this executable>/rest", as ld.so
 * reads $ORIGIN in an rpath. NULL when the executable is unknown. */
static char *expand_origin(const char *library)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    const char *rest = library + strlen("$ORIGIN");
    size_t len = strlen(exe) + strlen(rest) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s", exe, rest);
    return out;
}

/* A library path with a slash is made absolute against the current
 * directory (the worker's cwd may differ); a bare soname is left for
 * dlopen's search; a leading $ORIGIN is the executable's directory. */
static char *absolute_library(const char *library)
{
    if (strncmp(library, "$ORIGIN", 7) == 0 && (library[7] == '/' || !library[7]))
        return expand_origin(library);
    if (library[0] == '/' || !strchr(library, '/'))
        return strdup(library);
    char *real = realpath(library, NULL);
    if (real)
        return real;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(library);
    size_t n = strlen(cwd) + 1 + strlen(library) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", cwd, library);
    return out;
}

pp_status pp_func_c(const char *library, const char *symbol, pp_func **out)
{
    if (!library || !*library || !symbol || !*symbol || !out) {
        error_set(PP_EINVAL, "pp_func_c: library and symbol must be non-empty");
        return PP_EINVAL;
    }
    pp_func *f = calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    f->library = absolute_library(library);
    f->symbol = strdup(symbol);
    if (!f->library || !f->symbol) {
        pp_func_free(f);
        goto nomem;
    }
    *out = f;
    return PP_OK;
nomem:
    error_set(PP_ENOMEM, "pp_func_c: out of memory");
    return PP_ENOMEM;
}

/* A path made absolute against the current directory, without resolving
 * links (sys.path entries are compared as strings by the daemon). */
static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(path);
    if (!path[0])
        return strdup(cwd);
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", cwd, path);
    return out;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : strdup("");
}

void pyenv_own_fini(struct pyenv_own *own)
{
    free(own->interpreter);
    free(own->main_path);
    free(own->main_module);
    free(own->cwd);
    for (size_t i = 0; i < own->npath; i++)
        free(own->path[i]);
    free(own->path);
    for (size_t i = 0; i < own->nenviron; i++)
        free(own->environ[i]);
    free(own->environ);
    memset(own, 0, sizeof *own);
}

static pp_status path_append(struct pyenv_own *own, const char *entry)
{
    char **p = realloc(own->path, (own->npath + 1) * sizeof *p);
    if (!p)
        return PP_ENOMEM;
    own->path = p;
    if (!(p[own->npath] = absolute_path(entry)))
        return PP_ENOMEM;
    own->npath++;
    return PP_OK;
}

pp_status pyenv_own_init(struct pyenv_own *own, const pp_pyenv *env)
{
    static const pp_pyenv none;
    if (!env)
        env = &none;
    memset(own, 0, sizeof *own);
    const char *interp = env->interpreter;
    if (!interp)
        interp = getenv("POLYPOOL_PYTHON");
    if (!interp || !*interp)
        interp = PP_PYTHON;
    if (interp[0] != '/') {
        error_set(PP_EINVAL, "pp_pyenv: the interpreter must be an absolute path, not '%s'",
                  interp);
        return PP_EINVAL;
    }
    pp_status st = PP_ENOMEM;
    own->interpreter = strdup(interp);
    own->main_path = env->main_path && *env->main_path ? absolute_path(env->main_path)
                                                        : strdup("");
    own->main_module = dup_opt(env->main_module);
    own->cwd = env->cwd ? absolute_path(env->cwd) : absolute_path("");
    if (!own->interpreter || !own->main_path || !own->main_module || !own->cwd)
        goto fail;
    if (env->path) {
        for (size_t i = 0; i < env->npath; i++)
            if (env->path[i] && path_append(own, env->path[i]) != PP_OK)
                goto fail;
    } else {
        /* PYTHONPATH's entries; empty ones mean the current directory. */
        const char *pp = getenv("PYTHONPATH");
        while (pp && *pp) {
            const char *colon = strchr(pp, ':');
            size_t n = colon ? (size_t)(colon - pp) : strlen(pp);
            char *entry = strndup(pp, n);
            if (!entry)
                goto fail;
            st = path_append(own, entry);
            free(entry);
            if (st != PP_OK)
                goto fail;
            pp = colon ? colon + 1 : NULL;
        }
    }
    if (env->environ && env->nenviron) {
        if (!(own->environ = calloc(env->nenviron, sizeof *own->environ)))
            goto fail;
        for (size_t i = 0; i < env->nenviron; i++) {
            if (!env->environ[i])
                continue;
            if (!(own->environ[own->nenviron] = strdup(env->environ[i])))
                goto fail;
            own->nenviron++;
        }
    }
    return PP_OK;
fail:
    pyenv_own_fini(own);
    error_set(PP_ENOMEM, "pp_pyenv: out of memory");
    return PP_ENOMEM;
}

void pyenv_own_msg(const struct pyenv_own *own, Polypool__V1__PyEnv *e)
{
    polypool__v1__py_env__init(e);
    e->interpreter = own->interpreter;
    e->path = own->path;
    e->n_path = own->npath;
    e->main_path = own->main_path;
    e->main_module = own->main_module;
    e->cwd = own->cwd;
    e->environ = own->environ;
    e->n_environ = own->nenviron;
}

/* FNV-1a over every field of env, with separators: the environment's id. */
static uint64_t env_hash(const struct pyenv_own *e)
{
    uint64_t h = 1469598103934665603ull;
    const char *fields[] = { e->interpreter, e->main_path, e->main_module, e->cwd };
    for (size_t i = 0; i < 4 + e->npath + e->nenviron; i++) {
        const char *s = i < 4 ? fields[i] : i < 4 + e->npath ? e->path[i - 4]
                                                              : e->environ[i - 4 - e->npath];
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull;
        if (i == 3 || i == 3 + e->npath)
            h = (h ^ 0x1e) * 1099511628211ull;
    }
    return h ? h : 1;
}

pp_status pp_func_py(const char *module, const char *qualname, const pp_pyenv *env,
                     pp_func **out)
{
    if (!module || !*module || !qualname || !*qualname || !out) {
        error_set(PP_EINVAL, "pp_func_py: module and qualname must be non-empty");
        return PP_EINVAL;
    }
    pp_func *f = calloc(1, sizeof *f);
    if (!f) {
        error_set(PP_ENOMEM, "pp_func_py: out of memory");
        return PP_ENOMEM;
    }
    f->py = true;
    pp_status st = pyenv_own_init(&f->env, env);
    if (st != PP_OK) {
        free(f);
        return st;
    }
    f->library = strdup(module);
    f->symbol = strdup(qualname);
    if (!f->library || !f->symbol) {
        pp_func_free(f);
        error_set(PP_ENOMEM, "pp_func_py: out of memory");
        return PP_ENOMEM;
    }
    f->env_id = env_hash(&f->env);
    *out = f;
    return PP_OK;
}

pp_status func_copy(const pp_func *f, pp_func **out)
{
    if (!f->py)
        return pp_func_c(f->library, f->symbol, out);
    pp_pyenv env = {
        .interpreter = f->env.interpreter,
        .path = (const char *const *)f->env.path,
        .npath = f->env.npath,
        .main_path = f->env.main_path,
        .main_module = f->env.main_module,
        .cwd = f->env.cwd,
        .environ = (const char *const *)f->env.environ,
        .nenviron = f->env.nenviron,
    };
    /* path may be NULL with npath 0: that would mean "$PYTHONPATH's". */
    static const char *const none[1];
    if (!env.path)
        env.path = none;
    return pp_func_py(f->library, f->symbol, &env, out);
}

void pp_func_free(pp_func *f)
{
    if (!f)
        return;
    free(f->library);
    free(f->symbol);
    pyenv_own_fini(&f->env);
    free(f);
}

bool client_env_known(pp_client *c, uint64_t id)
{
    bool known = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_env_known && !known; i++)
        known = c->env_known[i] == id;
    pthread_mutex_unlock(&c->mu);
    return known;
}

void client_env_ack(pp_client *c, uint64_t id)
{
    if (!id)
        return;
    pthread_mutex_lock(&c->mu);
    client_env_ack_locked(c, id);
    pthread_mutex_unlock(&c->mu);
}

void client_env_ack_locked(pp_client *c, uint64_t id)
{
    if (!id)
        return;
    size_t i = 0;
    while (i < c->n_env_known && c->env_known[i] != id)
        i++;
    if (i == c->n_env_known) {
        size_t cap = sizeof c->env_known / sizeof c->env_known[0];
        if (c->n_env_known == cap) {
            memmove(c->env_known, c->env_known + 1, (cap - 1) * sizeof c->env_known[0]);
            c->n_env_known--;
        }
        c->env_known[c->n_env_known++] = id;
    }
}

uint64_t func_to_msg(const pp_func *f, struct func_msg *m, pp_client *c)
{
    polypool__v1__function__init(&m->fn);
    if (f->py) {
        polypool__v1__py_function__init(&m->py);
        m->py.module = f->library;
        m->py.qualname = f->symbol;
        m->py.env_id = f->env_id;
        m->fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_PY;
        m->fn.py = &m->py;
        if (c && client_env_known(c, f->env_id))
            return 0;
        pyenv_own_msg(&f->env, &m->env);
        m->py.env = &m->env;
        return f->env_id;
    } else {
        polypool__v1__cfunction__init(&m->c);
        m->c.library = f->library;
        m->c.symbol = f->symbol;
        m->fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
        m->fn.c = &m->c;
    }
    return 0;
}
