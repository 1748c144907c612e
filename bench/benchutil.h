/* benchutil.h - what the C benchmark programs share: a clock, giving up,
 * and medians. Header-only: each program is one file plus this. */
#ifndef PP_BENCHUTIL_H
#define PP_BENCHUTIL_H

#include <errno.h>
#include <polypool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "<program>: <what>: <status> (<detail>)" and exit 1. */
static inline void die(const char *what, pp_status st)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", program_invocation_short_name, what,
            pp_strerror(st), pp_last_error()->message);
    exit(1);
}

static inline void die_errno(const char *what)
{
    perror(what);
    exit(1);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static inline double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
