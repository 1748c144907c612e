/* Task functions for the benchmarks: the C twins of bench_mp.py's. */
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
