/* pool_default - a pool of the default size (one worker per CPU):
 *
 *     def square(x):
 *         return x * x
 *
 *     pool = multiprocessing.Pool()
 *     result = pool.map(square, [1, 2, 3, 4, 5])
 *     print(result)
 *
 * prints [1, 4, 9, 16, 25].
 */
#include "example.h"

int main(void)
{
    pp_client *client;
    example_check(pp_client_open(NULL, &client), "connect");

    /* NULL options: size 0, which means the CPU count. */
    pp_pool *pool;
    example_check(pp_pool_create(client, NULL, &pool), "Pool()");

    pp_func *square = example_func("square");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_value *result;
    example_check(pp_pool_map(pool, square, items, NULL, &result), "pool.map");

    example_print(result);

    pp_value_free(result);
    pp_value_free(items);
    pp_func_free(square);
    pp_pool_free(pool);
    pp_client_close(client);
    return 0;
}
