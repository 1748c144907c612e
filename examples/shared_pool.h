/* shared_pool.h - the body of shared_pool_a and shared_pool_b: two
 * programs that use one named pool of warm workers at the same time.
 *
 * Both open the pool "shared-demo" (the first creates it with four
 * workers, the second attaches to it), map square over their own range and
 * print the results. Python has no counterpart: there, each program would
 * start its own pool.
 */
#ifndef PP_SHARED_POOL_H
#define PP_SHARED_POOL_H

#include "example.h"

static int shared_pool_main(int64_t lo, int64_t hi)
{
    pp_client *client;
    example_check(pp_client_open(NULL, &client), "connect");

    pp_pool_opts opts = { .size = 4 };
    pp_pool *pool;
    example_check(pp_pool_open_named(client, "shared-demo", &opts, &pool),
                  "open pool \"shared-demo\"");

    pp_func *square = example_func("square");
    pp_value *items = example_range(lo, hi);
    pp_value *results;
    example_check(pp_pool_map(pool, square, items, NULL, &results), "pool.map");

    printf("square over range(%lld, %lld) on pool \"%s\" (%u workers):\n", (long long)lo,
           (long long)hi, pp_pool_name(pool), pp_pool_size(pool));
    example_print(results);

    pp_value_free(results);
    pp_value_free(items);
    pp_func_free(square);
    /* Detaches; the pool lives on while the other program uses it. */
    pp_pool_free(pool);
    pp_client_close(client);
    return 0;
}

#endif
