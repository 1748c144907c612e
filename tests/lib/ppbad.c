/* ppbad.c - a task library that loads but exports none of pptest's task
 * names (libppbad.so): calling pt_square in it must fail with PP_ENOSYM.
 * The function exists, hidden, so the test shows that dlsym only sees
 * exported symbols. */
#include "polypool.h"

__attribute__((visibility("hidden"))) int pt_square(const pp_value *args, pp_value *result)
{
    int64_t x = pp_value_get_int(pp_value_at(args, 0));
    return pp_value_set_int(result, x * x);
}

/* Exported so the library is not empty and has something dlsym can find. */
__attribute__((visibility("default"))) int ppbad_marker(const pp_value *args, pp_value *result)
{
    return pp_value_set_int(result, 42) == PP_OK ? 0 : 1;
}
