/* tasks.c - the task functions of the examples (libppexamples.so).
 *
 * The C side of the seed's Python functions: each has the task ABI of
 * polypool.h, taking its arguments as a LIST and filling `result`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polypool.h"

#define EXPORT __attribute__((visibility("default")))

/* def square(x): return x * x */
EXPORT int square(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "square: want an int");
    return pp_value_set_int(result, x * x);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* def slow_square(x): time.sleep(1); return x * x
 * PP_EXAMPLE_FAST=1 makes the sleep 10 ms, for the tests. */
EXPORT int slow_square(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "slow_square: want an int");
    const char *fast = getenv("PP_EXAMPLE_FAST");
    sleep_ms(fast && strcmp(fast, "1") == 0 ? 10 : 1000);
    return pp_value_set_int(result, x * x);
}

/* def add(a, b): return a + b */
EXPORT int add(const pp_value *args, pp_value *result)
{
    int64_t a, b;
    if (pp_value_to_int(pp_value_at(args, 0), &a) != PP_OK ||
        pp_value_to_int(pp_value_at(args, 1), &b) != PP_OK)
        return pp_task_fail(result, "add: want two ints");
    return pp_value_set_int(result, a + b);
}
