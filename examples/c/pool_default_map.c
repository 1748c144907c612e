/* pool_default_map - a pool of the default size (one worker per CPU):
 *
 *     def square(x):
 *         return x * x
 *
 *     pool = multiprocessing.Pool()
 *     result = pool.map(square, [1, 2, 3, 4, 5])
 *     print(result)
 *
 * prints [1, 4, 9, 16, 25].
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpool_default_map.so next to it, the library the workers load square
 * from.
 */
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
        fprintf(stderr, "pool_default_map: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *square_ref;
    check(pp_func_c("$ORIGIN/libpool_default_map.so", "square", &square_ref), "square");

    /* NULL options: size 0, which means the CPU count. */
    pp_pool *pool;
    check(pp_pool_create(client, NULL, &pool), "Pool()");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_value *result;
    check(pp_pool_map(pool, square_ref, items, NULL, &result), "pool.map");

    char *s = pp_value_repr(result);
    if (!s)
        check(PP_ENOMEM, "repr(result)");
    puts(s);

    free(s);
    pp_value_free(result);
    pp_value_free(items);
    pp_pool_free(pool);
    pp_func_free(square_ref);
    pp_client_close(client);
    return 0;
}
