/* pool_apply - one call, blocking and asynchronous (the seed lists apply
 * among the Pool's methods):
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
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpool_apply.so next to it, the library the workers load square from.
 */
#define _POSIX_C_SOURCE 200809L   /* pthreads */

#include <pthread.h>
#include <stdbool.h>
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
        fprintf(stderr, "pool_apply: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

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
        printf("callback: %lld\n", (long long)pp_value_get_int(result));
        fflush(stdout);
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
    check(pp_client_open(NULL, &client), "connect");
    pp_func *square_ref;
    check(pp_func_c("$ORIGIN/libpool_apply.so", "square", &square_ref), "square");

    pp_pool *pool;
    check(pp_pool_create(client, NULL, &pool), "Pool()");

    /* pool.apply(square, (7,)) */
    const int64_t seven[] = { 7 };
    pp_value *args = pp_value_list_of_ints(seven, 1);
    pp_value *result;
    check(pp_pool_apply(pool, square_ref, args, -1, &result), "pool.apply");
    printf("%lld\n", (long long)pp_value_get_int(result));
    fflush(stdout);
    pp_value_free(result);
    pp_value_free(args);

    /* pool.apply_async(square, (8,), callback=...) */
    struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
    const int64_t eight[] = { 8 };
    args = pp_value_list_of_ints(eight, 1);
    pp_future *f;
    check(pp_pool_apply_async(pool, square_ref, args, on_ready, &d, &f), "pool.apply_async");
    pp_value_free(args);

    /* pool.close(); pool.join(): the work, and the callback, finish. */
    check(pp_future_wait(f, -1), "AsyncResult.wait");
    pthread_mutex_lock(&d.mu);
    while (!d.called)
        pthread_cond_wait(&d.cond, &d.mu);
    pthread_mutex_unlock(&d.mu);
    check(pp_future_get(f, 0, NULL), "AsyncResult.get");
    check(pp_pool_close(pool), "pool.close");
    check(pp_pool_join(pool, -1), "pool.join");

    pp_future_free(f);
    pp_pool_free(pool);
    pp_func_free(square_ref);
    pp_client_close(client);
    return 0;
}
