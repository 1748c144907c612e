/* counter.c - one counter, one lock, two languages (the C side).
 *
 * A synchronized 64-bit shared value (multiprocessing's Value('q')) is
 * incremented at the same time by this program, by the Python function
 * counttasks.add running in a pool, and by the C task cnt_add: the total is
 * exact because every increment holds the counter's lock, whichever
 * language takes it.
 *
 *   PYTHONPATH=examples/counter build/examples/counter/counter [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <polypool.h>

static void die(const char *what, pp_status st)
{
    fprintf(stderr, "counter: %s: %s (%s)\n", what, pp_strerror(st), pp_last_error()->message);
    exit(1);
}

/* libcounter.so sits next to this executable. */
static void library_path(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    buf[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, len - (size_t)(slash ? slash + 1 - buf : 0),
             "libcounter.so");
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 100000;
    pp_client *c;
    pp_status st;
    if ((st = pp_client_open(NULL, &c)) != PP_OK)
        die("connect", st);

    /* Value('q', 0): a 64-bit integer with its own RLock. */
    pp_array *counter;
    if ((st = pp_array_create(c, 'q', 0, true, &counter)) != PP_OK)
        die("shared value", st);

    pp_pool *pool;
    if ((st = pp_pool_create(c, &(pp_pool_opts){ .size = 2 }, &pool)) != PP_OK)
        die("pool", st);
    char lib[4096];
    library_path(lib, sizeof lib);
    pp_func *py_add, *c_add;
    if ((st = pp_func_py("counttasks", "add", NULL, &py_add)) != PP_OK ||
        (st = pp_func_c(lib, "cnt_add", &c_add)) != PP_OK)
        die("function", st);

    /* The counter goes to the tasks as a handle, not a copy. */
    pp_value *args = pp_value_list();
    pp_value_append(args, pp_array_to_value(counter));
    pp_value_append(args, pp_value_int(n));
    pp_future *fpy, *fc;
    if ((st = pp_pool_apply_async(pool, py_add, args, NULL, NULL, &fpy)) != PP_OK ||
        (st = pp_pool_apply_async(pool, c_add, args, NULL, NULL, &fc)) != PP_OK)
        die("apply_async", st);

    /* Meanwhile, this program counts too. */
    int64_t *value = pp_array_data(counter);
    for (int64_t i = 0; i < n; i++) {
        pp_sync_acquire(pp_array_lock(counter), -1);
        (*value)++;
        pp_sync_release(pp_array_lock(counter));
    }
    if ((st = pp_future_get(fpy, -1, NULL)) != PP_OK)
        die("Python task", st);
    if ((st = pp_future_get(fc, -1, NULL)) != PP_OK)
        die("C task", st);
    printf("C program + Python task + C task: %lld increments, counter = %lld\n",
           (long long)(3 * n), (long long)*value);
    int ok = *value == 3 * n;

    pp_future_free(fpy);
    pp_future_free(fc);
    pp_value_free(args);
    pp_func_free(py_add);
    pp_func_free(c_add);
    pp_pool_close(pool);
    pp_pool_join(pool, -1);
    pp_pool_free(pool);
    pp_array_free(counter);
    pp_client_close(c);
    return ok ? 0 : 1;
}
