/* pool_imap - results as they become available, in input order:
 *
 *     def slow_square(x):
 *         time.sleep(1)
 *         return x * x
 *
 *     pool = multiprocessing.Pool()
 *     result_iterator = pool.imap(slow_square, [1, 2, 3, 4, 5])
 *     for result in result_iterator:
 *         print(result)
 *
 * prints 1, 4, 9, 16 and 25, one per line. PP_EXAMPLE_FAST=1 shortens the
 * sleep to 10 ms.
 */
#include "example.h"

int main(void)
{
    pp_client *client;
    example_check(pp_client_open(NULL, &client), "connect");

    pp_pool *pool;
    example_check(pp_pool_create(client, NULL, &pool), "Pool()");

    pp_func *slow_square = example_func("slow_square");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_iter *it;
    example_check(pp_pool_imap(pool, slow_square, items, NULL, true, &it), "pool.imap");

    for (;;) {
        pp_value *result;
        pp_status st = pp_iter_next(it, -1, &result);
        if (st == PP_EEOF)
            break;
        example_check(st, "next(result_iterator)");
        example_print(result);
        /* Show each result as it comes, also when stdout is a pipe. */
        fflush(stdout);
        pp_value_free(result);
    }

    pp_iter_free(it);
    pp_value_free(items);
    pp_func_free(slow_square);
    pp_pool_free(pool);
    pp_client_close(client);
    return 0;
}
