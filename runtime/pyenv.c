/* pyenv.c - see pyenv.h. A handful of environments live at once (one per
 * distinct client program), so a list is the right index. */
#include "pyenv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct list envs = { &envs, &envs };
static size_t n_envs;

static size_t add(char *dst, size_t off, const char *s)
{
    size_t n = strlen(s) + 1;
    if (dst)
        memcpy(dst + off, s, n);
    return off + n;
}

/* Serialises the fields into dst (NULL: only measures). */
static size_t make_key(char *dst, const char *interpreter, char *const *path, size_t npath,
                       const char *main_path, const char *main_module, const char *cwd,
                       char *const *environ, size_t nenviron)
{
    char counts[64];
    snprintf(counts, sizeof counts, "%zu %zu", npath, nenviron);
    size_t off = add(dst, 0, counts);
    off = add(dst, off, interpreter);
    off = add(dst, off, main_path);
    off = add(dst, off, main_module);
    off = add(dst, off, cwd);
    for (size_t i = 0; i < npath; i++)
        off = add(dst, off, path[i] ? path[i] : "");
    for (size_t i = 0; i < nenviron; i++)
        off = add(dst, off, environ[i] ? environ[i] : "");
    return off;
}

struct pyenv *pyenv_intern(const char *interpreter, char *const *path, size_t npath,
                           const char *main_path, const char *main_module, const char *cwd,
                           char *const *environ, size_t nenviron)
{
    interpreter = interpreter ? interpreter : "";
    main_path = main_path ? main_path : "";
    main_module = main_module ? main_module : "";
    cwd = cwd ? cwd : "";
    size_t len = make_key(NULL, interpreter, path, npath, main_path, main_module, cwd, environ,
                          nenviron);
    char *key = malloc(len);
    if (!key)
        return NULL;
    make_key(key, interpreter, path, npath, main_path, main_module, cwd, environ, nenviron);
    list_for_each (l, &envs) {
        struct pyenv *e = container_of(l, struct pyenv, link);
        if (e->key_len == len && memcmp(e->key, key, len) == 0) {
            free(key);
            return pyenv_ref(e);
        }
    }
    struct pyenv *e = calloc(1, sizeof *e);
    if (!e || !(e->path = calloc(npath + nenviron + 1, sizeof *e->path))) {
        free(e);
        free(key);
        return NULL;
    }
    /* Every string points into the key: one allocation to free. */
    e->key = key;
    e->key_len = len;
    char *p = key + strlen(key) + 1;      /* past the counts */
    e->interpreter = p;
    p += strlen(p) + 1;
    e->main_path = p;
    p += strlen(p) + 1;
    e->main_module = p;
    p += strlen(p) + 1;
    e->cwd = p;
    p += strlen(p) + 1;
    for (size_t i = 0; i < npath; i++) {
        e->path[i] = p;
        p += strlen(p) + 1;
    }
    e->npath = npath;
    e->environ = e->path + npath;      /* the same array, after the path */
    for (size_t i = 0; i < nenviron; i++) {
        e->environ[i] = p;
        p += strlen(p) + 1;
    }
    e->nenviron = nenviron;
    e->refs = 1;
    list_push_back(&envs, &e->link);
    n_envs++;
    return e;
}

struct pyenv *pyenv_ref(struct pyenv *e)
{
    if (e)
        e->refs++;
    return e;
}

void pyenv_unref(struct pyenv *e)
{
    if (!e || --e->refs)
        return;
    list_del(&e->link);
    n_envs--;
    free(e->path);
    free(e->key);
    free(e);
}

const char *pyenv_label(const struct pyenv *e)
{
    static char buf[512];
    if (!e)
        return "c";
    const char *main = e->main_path[0] ? e->main_path : e->main_module;
    snprintf(buf, sizeof buf, "%s%s%s", e->interpreter, main[0] ? " " : "", main);
    return buf;
}

static bool replaced(const char *var)
{
    return strncmp(var, "PYTHONPATH=", 11) == 0 || strncmp(var, "POLYPOOL_PY_", 12) == 0 ||
           strncmp(var, "POLYPOOL_ADDRESS=", 17) == 0 ||
           strncmp(var, "POLYPOOL_NO_AUTOSTART=", 22) == 0;
}

char **pyenv_environ(const struct pyenv *e, char *const *base)
{
    size_t nbase = 0, strings = 0;
    if (e->nenviron)
        base = e->environ;      /* NULL-terminated: calloc'd one extra */
    for (char *const *v = base; v && *v; v++)
        if (!replaced(*v))
            nbase++;
    size_t joined = 1;
    for (size_t i = 0; i < e->npath; i++)
        joined += strlen(e->path[i]) + 1;
    static const char *const names[] = { "PYTHONPATH=", "POLYPOOL_PY_PATH=",
                                         "POLYPOOL_PY_MAIN_PATH=", "POLYPOOL_PY_MAIN_MODULE=" };
    /* A worker that attaches shared objects connects to this daemon, and
     * never starts another one (main.c put them in our environment). */
    const char *addr = getenv("POLYPOOL_ADDRESS"), *noauto = "POLYPOOL_NO_AUTOSTART=1";
    strings = 2 * joined + strlen(e->main_path) + strlen(e->main_module) + 4;
    for (size_t i = 0; i < 4; i++)
        strings += strlen(names[i]);
    if (addr)
        strings += strlen("POLYPOOL_ADDRESS=") + strlen(addr) + 1;
    strings += strlen(noauto) + 1;
    size_t nvars = nbase + 4 + 2 + 1;
    char **out = malloc(nvars * sizeof *out + strings);
    if (!out)
        return NULL;
    char *s = (char *)(out + nvars);
    size_t k = 0;
    for (char *const *v = base; v && *v; v++)
        if (!replaced(*v))
            out[k++] = *v;
    for (int which = 0; which < 2; which++) {
        out[k++] = s;
        s = stpcpy(s, names[which]);
        for (size_t i = 0; i < e->npath; i++) {
            if (i)
                *s++ = which == 0 ? ':' : '\x1f';
            s = stpcpy(s, e->path[i]);
        }
        s++;
    }
    out[k++] = s;
    s = stpcpy(stpcpy(s, names[2]), e->main_path) + 1;
    out[k++] = s;
    s = stpcpy(stpcpy(s, names[3]), e->main_module) + 1;
    if (addr) {
        out[k++] = s;
        s = stpcpy(stpcpy(s, "POLYPOOL_ADDRESS="), addr) + 1;
    }
    out[k++] = s;
    s = stpcpy(s, noauto) + 1;
    out[k] = NULL;
    return out;
}

size_t pyenv_count(void)
{
    return n_envs;
}
