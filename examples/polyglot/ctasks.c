/* ctasks.c - the C functions of the polyglot example (libpolyglot.so).
 * polyglot.c maps them from C; polyglot.py maps them from Python with
 * polypool.cfunc(library, "pg_collatz"). The task ABI: take the argument
 * list, fill the result, return 0 (or pp_task_fail on bad input). */
#include <polypool.h>

#define EXPORT __attribute__((visibility("default")))

/* Steps of the Collatz sequence from n down to 1. */
EXPORT int pg_collatz(const pp_value *args, pp_value *result)
{
    int64_t n;
    if (pp_value_len(args) != 1 || pp_value_to_int(pp_value_at(args, 0), &n) != PP_OK || n < 1)
        return pp_task_fail(result, "pg_collatz takes one positive integer");
    int64_t steps = 0;
    while (n != 1) {
        n = n % 2 ? 3 * n + 1 : n / 2;
        steps++;
    }
    return pp_value_set_int(result, steps) == PP_OK ? 0 : pp_task_fail(result, "out of memory");
}

/* The string reversed (ASCII). */
EXPORT int pg_reverse(const pp_value *args, pp_value *result)
{
    size_t len;
    const char *s = pp_value_len(args) == 1 ? pp_value_get_string(pp_value_at(args, 0), &len)
                                            : NULL;
    if (!s)
        return pp_task_fail(result, "pg_reverse takes one string");
    char buf[256];
    if (len >= sizeof buf)
        return pp_task_fail(result, "pg_reverse: string too long");
    for (size_t i = 0; i < len; i++)
        buf[i] = s[len - 1 - i];
    buf[len] = '\0';
    return pp_value_set_string(result, buf) == PP_OK ? 0 : pp_task_fail(result, "out of memory");
}
