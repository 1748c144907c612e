/* pool_map_my_func - the seed's first example:
 *
 *     def my_func(x):
 *         return x * x
 *
 *     with multiprocessing.Pool(processes=4) as pool:
 *         result = pool.map(my_func, [1, 2, 3, 4, 5])
 *     print(result)
 *
 * prints [1, 4, 9, 16, 25].
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpool_map_my_func.so next to it, the library the workers load
 * my_func from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def my_func(x): return x * x   (the task ABI of polypool.h) */
int my_func(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "my_func: want an int");
    return pp_value_set_int(result, x * x);
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "pool_map_my_func: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *my_func_ref;
    check(pp_func_c("$ORIGIN/libpool_map_my_func.so", "my_func", &my_func_ref), "my_func");

    pp_pool *pool;
    check(pp_pool_create(client, &(pp_pool_opts){ .size = 4 }, &pool), "Pool(processes=4)");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_value *result;
    check(pp_pool_map(pool, my_func_ref, items, NULL, &result), "pool.map");
    /* The end of the `with` block: the pool is terminated. */
    pp_pool_free(pool);

    char *s = pp_value_repr(result);
    if (!s)
        check(PP_ENOMEM, "repr(result)");
    puts(s);

    free(s);
    pp_value_free(result);
    pp_value_free(items);
    pp_func_free(my_func_ref);
    pp_client_close(client);
    return 0;
}
