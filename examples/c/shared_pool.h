/* shared_pool.h - the body of shared_pool_a and shared_pool_b: two
 * programs that use one named pool of warm workers at the same time.
 *
 * Both open the pool "shared-demo" (the first creates it with four
 * workers, the second attaches to it), map square over their own range and
 * print the results. Python has no counterpart: there, each program would
 * start its own pool.
 *
 * Each program's file, built with -shared -fPIC as lib<program>.so next to
 * it, is also the library its tasks load square from.
 */
#ifndef SHARED_POOL_H
#define SHARED_POOL_H

#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def square(x): return x * x   (the task ABI of polypool.h) */
int square(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "square: want an int");
    return pp_value_set_int(result, x * x);
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "shared_pool: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

/* Squares range(lo, hi) on the pool "shared-demo", loading square from
 * `library`. */
static int shared_pool_main(const char *library, int64_t lo, int64_t hi)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *square_ref;
    check(pp_func_c(library, "square", &square_ref), "square");

    pp_pool *pool;
    check(pp_pool_open_named(client, "shared-demo", &(pp_pool_opts){ .size = 4 }, &pool),
          "open pool \"shared-demo\"");

    pp_value *items = pp_value_list();   /* range(lo, hi) */
    if (!items)
        check(PP_ENOMEM, "range");
    for (int64_t i = lo; i < hi; i++)
        check(pp_value_append(items, pp_value_int(i)), "range");
    pp_value *results;
    check(pp_pool_map(pool, square_ref, items, NULL, &results), "pool.map");

    char *s = pp_value_repr(results);
    if (!s)
        check(PP_ENOMEM, "repr(results)");
    printf("square over range(%lld, %lld) on pool \"%s\" (%u workers):\n%s\n", (long long)lo,
           (long long)hi, pp_pool_name(pool), pp_pool_size(pool), s);

    free(s);
    pp_value_free(results);
    pp_value_free(items);
    /* Detaches; the pool lives on while the other program uses it. */
    pp_pool_free(pool);
    pp_func_free(square_ref);
    pp_client_close(client);
    return 0;
}

#endif
