/* Task functions for the benchmarks: the C twins of bench_mp.py's, and
 * bench_process.py's process targets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <polypool.h>

int bench_square(const pp_value *args, pp_value *result)
{
    int64_t x = pp_value_get_int(pp_value_at(args, 0));
    return pp_value_set_int(result, x * x);
}

int bench_noop(const pp_value *args, pp_value *result)
{
    (void)args;
    (void)result;
    return 0;
}

/* bench_print_bytes(n): prints n bytes on stdout, as lines of 1 KiB (1023
 * 'x' and a newline; the last line shorter), the C twin of
 * bench_process.py's print_bytes. */
int bench_print_bytes(const pp_value *args, pp_value *result)
{
    int64_t n;
    if (pp_value_to_int(pp_value_at(args, 0), &n) != PP_OK || n < 0)
        return pp_task_fail(result, "bench_print_bytes: want a byte count");
    char line[1024];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    while (n > 0) {
        size_t k = n < (int64_t)sizeof line ? (size_t)n : sizeof line;
        /* The tail of the line, so that every chunk ends with a newline. */
        if (fwrite(line + sizeof line - k, 1, k, stdout) != k)
            return pp_task_fail(result, "bench_print_bytes: write: %s", strerror(errno));
        n -= (int64_t)k;
    }
    if (fflush(stdout) != 0)
        return pp_task_fail(result, "bench_print_bytes: flush: %s", strerror(errno));
    return 0;
}
