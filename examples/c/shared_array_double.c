/* shared_array_double - an array in shared memory, changed by a child:
 *
 *     def worker(arr):
 *         for i in range(len(arr)):
 *             arr[i] *= 2
 *
 *     arr = multiprocessing.Array('i', [1, 2, 3, 4, 5])
 *     print(f'Before: {arr[:]}')
 *     p = multiprocessing.Process(target=worker, args=(arr,))
 *     p.start()
 *     p.join()
 *     print(f'After: {arr[:]}')
 *
 * prints "Before: [1, 2, 3, 4, 5]", then "After: [2, 4, 6, 8, 10]".
 *
 * This file is both the program and, built with -shared -fPIC as
 * libshared_array_double.so next to it, the library the child runs worker
 * from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def worker(arr): the target, with the task ABI of polypool.h */
int worker(const pp_value *args, pp_value *result)
{
    pp_array *arr;
    /* The array arrives as a handle; NULL: map it with no client. */
    if (pp_array_from_value(NULL, pp_value_at(args, 0), &arr) != PP_OK)
        return pp_task_fail(result, "worker: arr: %s", pp_last_error()->message);
    int *data = pp_array_data(arr);
    /* Under the array's lock, as each arr[i] of a synchronized Array is. */
    pp_sync_acquire(pp_array_lock(arr), -1);
    for (size_t i = 0; i < pp_array_len(arr); i++)
        data[i] *= 2;
    pp_sync_release(pp_array_lock(arr));
    pp_array_free(arr);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "shared_array_double: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

/* print(f'{label}: {arr[:]}') */
static void print_array(const char *label, const pp_array *arr)
{
    const int *data = pp_array_data(arr);
    printf("%s: [", label);
    for (size_t i = 0; i < pp_array_len(arr); i++)
        printf("%s%d", i ? ", " : "", data[i]);
    printf("]\n");
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libshared_array_double.so", "worker", &target), "worker");

    /* Array('i', [1, 2, 3, 4, 5]): five ints with a lock. */
    const int init[] = { 1, 2, 3, 4, 5 };
    pp_array *arr;
    check(pp_array_create(client, 'i', 5, true, &arr), "Array('i', 5)");
    check(pp_array_write(arr, 0, 5, init), "arr[:] = [1, 2, 3, 4, 5]");
    print_array("Before", arr);
    /* The child's output goes straight to fd 1: ours must be out first. */
    fflush(stdout);

    pp_value *args = pp_value_list();   /* args=(arr,) */
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, pp_array_to_value(arr)), "args");
    pp_process *p;
    check(pp_process_start(client, target, args, NULL, &p), "p.start");
    check(pp_process_join(p, -1), "p.join");
    print_array("After", arr);

    pp_process_free(p);
    pp_value_free(args);
    pp_array_free(arr);
    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
