/* pool_map - the seed's first example:
 *
 *     def my_func(x):
 *         return x * x
 *
 *     with multiprocessing.Pool(processes=4) as pool:
 *         result = pool.map(my_func, [1, 2, 3, 4, 5])
 *     print(result)
 *
 * prints [1, 4, 9, 16, 25].
 */
#include "example.h"

int main(void)
{
    pp_client *client;
    example_check(pp_client_open(NULL, &client), "connect");

    pp_pool_opts opts = { .size = 4 };
    pp_pool *pool;
    example_check(pp_pool_create(client, &opts, &pool), "Pool(processes=4)");

    pp_func *square = example_func("square");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_value *result;
    example_check(pp_pool_map(pool, square, items, NULL, &result), "pool.map");
    /* Leaving the `with` block terminates the pool. */
    pp_pool_free(pool);

    example_print(result);

    pp_value_free(result);
    pp_value_free(items);
    pp_func_free(square);
    pp_client_close(client);
    return 0;
}
