/* example.h - what every example needs beyond polypool.h: where its task
 * library is, and how to give up on an error.
 *
 * The task library (libppexamples.so) sits next to the example's own
 * executable, in the build tree and when both are installed together; the
 * worker loads it by absolute path.
 */
#ifndef PP_EXAMPLE_H
#define PP_EXAMPLE_H

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "polypool.h"

/* Prints "<prog>: <what>: <status text>: <detail>" and exits 1. */
static inline void example_die(const char *what, pp_status st)
{
    const pp_error *e = pp_last_error();
    const char *detail = e->message && *e->message ? e->message : NULL;
    fprintf(stderr, "%s: %s: %s%s%s\n", program_invocation_short_name, what, pp_strerror(st),
            detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* Exits through example_die unless st is PP_OK. */
static inline void example_check(pp_status st, const char *what)
{
    if (st != PP_OK)
        example_die(what, st);
}

/* The function `symbol` of libppexamples.so, next to this executable. */
static inline pp_func *example_func(const char *symbol)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) {
        perror("readlink /proc/self/exe");
        exit(1);
    }
    exe[n] = '\0';
    snprintf(lib, sizeof lib, "%s/libppexamples.so", dirname(exe));
    pp_func *f = NULL;
    example_check(pp_func_c(lib, symbol, &f), "pp_func_c");
    return f;
}

/* Prints a value's Python repr on its own line. */
static inline void example_print(const pp_value *v)
{
    char *s = pp_value_repr(v);
    if (!s) {
        fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
        exit(1);
    }
    puts(s);
    free(s);
}

/* A LIST of the ints lo, lo+1, ..., hi-1: Python's range(lo, hi). */
static inline pp_value *example_range(int64_t lo, int64_t hi)
{
    pp_value *l = pp_value_list();
    for (int64_t i = lo; l && i < hi; i++) {
        pp_value *v = pp_value_int(i);
        if (!v || pp_value_append(l, v) != PP_OK) {
            pp_value_free(v);
            pp_value_free(l);
            l = NULL;
        }
    }
    if (!l) {
        fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
        exit(1);
    }
    return l;
}

#endif
