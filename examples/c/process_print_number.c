/* process_print_number - four processes, each printing its own number:
 *
 *     def print_number(num):
 *         print(f"Process {num}: {num}")
 *
 *     numbers = [1, 2, 3, 4]
 *     processes = [multiprocessing.Process(target=print_number, args=(num,))
 *                  for num in numbers]
 *     for process in processes:
 *         process.start()
 *     for process in processes:
 *         process.join()
 *
 * prints "Process 1: 1" to "Process 4: 4", one per line, in any order.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libprocess_print_number.so next to it, the library the children run
 * print_number from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def print_number(num): the target, with the task ABI of polypool.h */
int print_number(const pp_value *args, pp_value *result)
{
    int64_t num;
    if (pp_value_to_int(pp_value_at(args, 0), &num) != PP_OK)
        return pp_task_fail(result, "print_number: want an int");
    printf("Process %lld: %lld\n", (long long)num, (long long)num);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "process_print_number: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libprocess_print_number.so", "print_number", &target),
          "print_number");

    const int64_t numbers[] = { 1, 2, 3, 4 };
    pp_process *processes[4];
    for (size_t i = 0; i < 4; i++) {
        pp_value *args = pp_value_list_of_ints(&numbers[i], 1);   /* args=(num,) */
        check(pp_process_start(client, target, args, NULL, &processes[i]), "process.start");
        pp_value_free(args);
    }
    for (size_t i = 0; i < 4; i++) {
        check(pp_process_join(processes[i], -1), "process.join");
        pp_process_free(processes[i]);
    }

    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
