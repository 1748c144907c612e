/* pool_map_range - map over a range with four workers:
 *
 *     def square(x):
 *         return x * x
 *
 *     with multiprocessing.Pool(processes=4) as pool:
 *         results = pool.map(square, range(10))
 *     print(results)
 *
 * prints [0, 1, 4, 9, 16, 25, 36, 49, 64, 81].
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
    pp_value *items = example_range(0, 10);
    pp_value *results;
    example_check(pp_pool_map(pool, square, items, NULL, &results), "pool.map");
    pp_pool_free(pool);

    example_print(results);

    pp_value_free(results);
    pp_value_free(items);
    pp_func_free(square);
    pp_client_close(client);
    return 0;
}
