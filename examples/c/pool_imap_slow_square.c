/* pool_imap_slow_square - results as they become available, in input order:
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
 * sleep to 10 ms (for the tests).
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpool_imap_slow_square.so next to it, the library the workers load
 * slow_square from.
 */
#define _POSIX_C_SOURCE 200809L   /* nanosleep */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <polypool.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* def slow_square(x): time.sleep(1); return x * x */
int slow_square(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "slow_square: want an int");
    const char *fast = getenv("PP_EXAMPLE_FAST");
    sleep_ms(fast && strcmp(fast, "1") == 0 ? 10 : 1000);
    return pp_value_set_int(result, x * x);
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "pool_imap_slow_square: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *slow_square_ref;
    check(pp_func_c("$ORIGIN/libpool_imap_slow_square.so", "slow_square", &slow_square_ref),
          "slow_square");

    pp_pool *pool;
    check(pp_pool_create(client, NULL, &pool), "Pool()");
    const int64_t xs[] = { 1, 2, 3, 4, 5 };
    pp_value *items = pp_value_list_of_ints(xs, 5);
    pp_iter *result_iterator;
    check(pp_pool_imap(pool, slow_square_ref, items, NULL, true, &result_iterator),
          "pool.imap");

    for (;;) {
        pp_value *result;
        pp_status st = pp_iter_next(result_iterator, -1, &result);
        if (st == PP_EEOF)
            break;
        check(st, "next(result_iterator)");
        printf("%lld\n", (long long)pp_value_get_int(result));
        /* Show each result as it comes, also when stdout is a pipe. */
        fflush(stdout);
        pp_value_free(result);
    }

    pp_iter_free(result_iterator);
    pp_value_free(items);
    pp_pool_free(pool);
    pp_func_free(slow_square_ref);
    pp_client_close(client);
    return 0;
}
