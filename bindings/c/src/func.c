/* func.c - pp_func: which code a task runs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A library path with a slash is made absolute against the current
 * directory (the worker's cwd may differ); a bare soname is left for
 * dlopen's search. */
static char *absolute_library(const char *library)
{
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

void pp_func_free(pp_func *f)
{
    if (!f)
        return;
    free(f->library);
    free(f->symbol);
    free(f);
}

void func_to_msg(const pp_func *f, Polypool__V1__Function *fn, Polypool__V1__CFunction *cf)
{
    polypool__v1__function__init(fn);
    polypool__v1__cfunction__init(cf);
    cf->library = f->library;
    cf->symbol = f->symbol;
    fn->kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    fn->c = cf;
}
