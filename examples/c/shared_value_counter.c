/* shared_value_counter - one counter in shared memory, four processes:
 *
 *     def worker(n, counter):
 *         for i in range(n):
 *             with counter.get_lock():
 *                 counter.value += 1
 *
 *     counter = multiprocessing.Value('i', 0)
 *     processes = []
 *     for i in range(4):
 *         p = multiprocessing.Process(target=worker, args=(1000000, counter))
 *         processes.append(p)
 *         p.start()
 *     for p in processes:
 *         p.join()
 *     print(counter.value)
 *
 * prints 4000000: every increment holds the value's lock.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libshared_value_counter.so next to it, the library the children run
 * worker from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def worker(n, counter): the target, with the task ABI of polypool.h */
int worker(const pp_value *args, pp_value *result)
{
    int64_t n;
    pp_array *counter;
    if (pp_value_to_int(pp_value_at(args, 0), &n) != PP_OK)
        return pp_task_fail(result, "worker: want n");
    /* The counter arrives as a handle; NULL: map it with no client. */
    if (pp_array_from_value(NULL, pp_value_at(args, 1), &counter) != PP_OK)
        return pp_task_fail(result, "worker: counter: %s", pp_last_error()->message);
    int *value = pp_array_data(counter);
    pp_sync *lock = pp_array_lock(counter);   /* counter.get_lock() */
    for (int64_t i = 0; i < n; i++) {
        pp_sync_acquire(lock, -1);
        *value += 1;
        pp_sync_release(lock);
    }
    pp_array_free(counter);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "shared_value_counter: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libshared_value_counter.so", "worker", &target), "worker");

    /* Value('i', 0): an int with its own lock, zero-filled. */
    pp_array *counter;
    check(pp_array_create(client, 'i', 0, true, &counter), "Value('i', 0)");

    /* args=(1000000, counter) */
    pp_value *args = pp_value_list();
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, pp_value_int(1000000)), "args");
    check(pp_value_append(args, pp_array_to_value(counter)), "args");

    pp_process *processes[4];
    for (int i = 0; i < 4; i++)
        check(pp_process_start(client, target, args, NULL, &processes[i]), "p.start");
    for (int i = 0; i < 4; i++) {
        check(pp_process_join(processes[i], -1), "p.join");
        pp_process_free(processes[i]);
    }
    printf("%d\n", *(int *)pp_array_data(counter));

    pp_value_free(args);
    pp_array_free(counter);
    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
