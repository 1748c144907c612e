/* pool_apply - one call, blocking and asynchronous:
 *
 *     def square(x):
 *         return x * x
 *
 *     with multiprocessing.Pool() as pool:
 *         print(pool.apply(square, (7,)))
 *         pool.apply_async(square, (8,), callback=lambda r: print("callback:", r))
 *         pool.close()
 *         pool.join()
 *
 * prints 49, then "callback: 64".
 */
#include <pthread.h>

#include "example.h"

/* The callback runs on the client's collector thread; main waits for it. */
struct done {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool called;
};

static void on_ready(pp_future *f, void *arg)
{
    struct done *d = arg;
    pp_value *result = NULL;
    if (pp_future_get(f, 0, &result) == PP_OK) {
        char *s = pp_value_repr(result);
        printf("callback: %s\n", s ? s : "?");
        fflush(stdout);
        free(s);
        pp_value_free(result);
    }
    pthread_mutex_lock(&d->mu);
    d->called = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
}

int main(void)
{
    pp_client *client;
    example_check(pp_client_open(NULL, &client), "connect");

    pp_pool *pool;
    example_check(pp_pool_create(client, NULL, &pool), "Pool()");
    pp_func *square = example_func("square");

    /* pool.apply(square, (7,)) */
    const int64_t seven[] = { 7 };
    pp_value *args = pp_value_list_of_ints(seven, 1);
    pp_value *result;
    example_check(pp_pool_apply(pool, square, args, -1, &result), "pool.apply");
    example_print(result);
    fflush(stdout);
    pp_value_free(result);
    pp_value_free(args);

    /* pool.apply_async(square, (8,), callback=...) */
    struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
    const int64_t eight[] = { 8 };
    args = pp_value_list_of_ints(eight, 1);
    pp_future *f;
    example_check(pp_pool_apply_async(pool, square, args, on_ready, &d, &f),
                  "pool.apply_async");
    pp_value_free(args);

    /* pool.close(); pool.join(): the work, and the callback, finish. */
    example_check(pp_future_wait(f, -1), "AsyncResult.wait");
    pthread_mutex_lock(&d.mu);
    while (!d.called)
        pthread_cond_wait(&d.cond, &d.mu);
    pthread_mutex_unlock(&d.mu);
    example_check(pp_future_get(f, 0, NULL), "AsyncResult.get");
    example_check(pp_pool_close(pool), "pool.close");
    example_check(pp_pool_join(pool, -1), "pool.join");

    pp_future_free(f);
    pp_func_free(square);
    pp_pool_free(pool);
    pp_client_close(client);
    return 0;
}
