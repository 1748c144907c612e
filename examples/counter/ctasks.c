/* ctasks.c - the C task of the counter example (libcounter.so).
 *
 * cnt_add(counter, n): adds 1 to a shared 64-bit counter n times, each time
 * under the counter's own lock, and returns n. The counter arrives as a
 * handle (a Python Value('q') or a C pp_array 'q'); inside a task it is
 * mapped without a client (NULL): the submitter's reference keeps it alive.
 */
#include <stdint.h>

#include <polypool.h>

__attribute__((visibility("default")))
int cnt_add(const pp_value *args, pp_value *result)
{
    pp_array *counter;
    int64_t n;
    if (pp_value_len(args) != 2 || pp_value_to_int(pp_value_at(args, 1), &n) != PP_OK)
        return pp_task_fail(result, "cnt_add(counter, n): bad arguments");
    pp_status st = pp_array_from_value(NULL, pp_value_at(args, 0), &counter);
    if (st != PP_OK)
        return pp_task_fail(result, "cnt_add: %s", pp_last_error()->message);
    if (pp_array_typecode(counter) != 'q' || !pp_array_lock(counter)) {
        pp_array_free(counter);
        return pp_task_fail(result, "cnt_add: the counter must be a synchronized Value('q')");
    }
    int64_t *value = pp_array_data(counter);
    pp_sync *lock = pp_array_lock(counter);
    for (int64_t i = 0; i < n; i++) {
        pp_sync_acquire(lock, -1);
        (*value)++;
        pp_sync_release(lock);
    }
    pp_array_free(counter);
    return pp_value_set_int(result, n) == PP_OK ? 0 : 1;
}
