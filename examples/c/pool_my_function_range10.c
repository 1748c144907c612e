/* pool_my_function_range10 - map over range(10) with four workers:
 *
 *     def my_function(x):
 *         # Do some work here
 *         return x*x
 *
 *     # Create a pool of 4 worker processes
 *     with multiprocessing.Pool(processes=4) as pool:
 *         # Apply the function to a sequence of inputs in parallel
 *         results = pool.map(my_function, range(10))
 *         print(results)
 *
 * prints [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]. pool_square_range10 is the
 * seed's other text of the same program.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpool_my_function_range10.so next to it, the library the workers load
 * my_function from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def my_function(x): return x*x   (the task ABI of polypool.h) */
int my_function(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "my_function: want an int");
    return pp_value_set_int(result, x * x);
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "pool_my_function_range10: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *my_function_ref;
    check(pp_func_c("$ORIGIN/libpool_my_function_range10.so", "my_function", &my_function_ref),
          "my_function");

    pp_pool *pool;
    check(pp_pool_create(client, &(pp_pool_opts){ .size = 4 }, &pool), "Pool(processes=4)");
    int64_t xs[10];
    for (int i = 0; i < 10; i++)
        xs[i] = i;   /* range(10) */
    pp_value *items = pp_value_list_of_ints(xs, 10);
    pp_value *results;
    check(pp_pool_map(pool, my_function_ref, items, NULL, &results), "pool.map");

    char *s = pp_value_repr(results);
    if (!s)
        check(PP_ENOMEM, "repr(results)");
    puts(s);
    /* The end of the `with` block: the pool is terminated. */
    pp_pool_free(pool);

    free(s);
    pp_value_free(results);
    pp_value_free(items);
    pp_func_free(my_function_ref);
    pp_client_close(client);
    return 0;
}
