/* sync_lock_workers - four processes taking turns under one lock:
 *
 *     def worker(n, lock):
 *         for i in range(n):
 *             with lock:
 *                 print(f'Worker {multiprocessing.current_process().name} acquired lock')
 *                 print(f'Worker {multiprocessing.current_process().name} is working')
 *                 print(f'Worker {multiprocessing.current_process().name} released lock')
 *
 *     lock = multiprocessing.Lock()
 *     processes = []
 *     for i in range(4):
 *         p = multiprocessing.Process(target=worker, args=(5, lock))
 *         processes.append(p)
 *         p.start()
 *     for p in processes:
 *         p.join()
 *
 * prints 60 lines: five times per process (Process-1 to Process-4), its
 * three lines together, never interleaved with another's.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libsync_lock_workers.so next to it, the library the children run worker
 * from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def worker(n, lock): the target, with the task ABI of polypool.h */
int worker(const pp_value *args, pp_value *result)
{
    int64_t n;
    pp_sync *lock;
    if (pp_value_to_int(pp_value_at(args, 0), &n) != PP_OK)
        return pp_task_fail(result, "worker: want n");
    /* The lock arrives as a handle; NULL: map it with no client. */
    if (pp_sync_from_value(NULL, pp_value_at(args, 1), &lock) != PP_OK)
        return pp_task_fail(result, "worker: lock: %s", pp_last_error()->message);
    const char *name = pp_current_process_name();
    for (int64_t i = 0; i < n; i++) {
        pp_sync_acquire(lock, -1);
        printf("Worker %s acquired lock\n", name);
        printf("Worker %s is working\n", name);
        printf("Worker %s released lock\n", name);
        /* Out while the lock is held, as Python's print to a terminal. */
        fflush(stdout);
        pp_sync_release(lock);
    }
    pp_sync_free(lock);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "sync_lock_workers: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libsync_lock_workers.so", "worker", &target), "worker");

    pp_sync *lock;
    check(pp_lock_create(client, &lock), "Lock()");
    pp_value *args = pp_value_list();   /* args=(5, lock) */
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, pp_value_int(5)), "args");
    check(pp_value_append(args, pp_sync_to_value(lock)), "args");

    pp_process *processes[4];
    for (int i = 0; i < 4; i++)
        check(pp_process_start(client, target, args, NULL, &processes[i]), "p.start");
    for (int i = 0; i < 4; i++) {
        check(pp_process_join(processes[i], -1), "p.join");
        pp_process_free(processes[i]);
    }

    pp_value_free(args);
    pp_sync_free(lock);
    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
