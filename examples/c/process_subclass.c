/* process_subclass - the seed's Process subclass:
 *
 *     class MyProcess(multiprocessing.Process):
 *         def __init__(self, x):
 *             super().__init__()
 *             self.x = x
 *
 *         def run(self):
 *             print(self.x * self.x)
 *
 *     processes = []
 *     for i in range(5):
 *         p = MyProcess(i)
 *         processes.append(p)
 *         p.start()
 *     for p in processes:
 *         p.join()
 *
 * C has no classes: a MyProcess is a process running my_process_run with
 * x as its argument. Prints 0, 1, 4, 9 and 16, one per line, in any order.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libprocess_subclass.so next to it, the library the children run
 * my_process_run from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* MyProcess.run, with self.x as the argument (the task ABI of polypool.h). */
int my_process_run(const pp_value *args, pp_value *result)
{
    int64_t x;
    if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
        return pp_task_fail(result, "my_process_run: want an int");
    printf("%lld\n", (long long)(x * x));
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "process_subclass: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *run;
    check(pp_func_c("$ORIGIN/libprocess_subclass.so", "my_process_run", &run),
          "MyProcess.run");

    pp_process *processes[5];
    for (int64_t i = 0; i < 5; i++) {
        pp_value *x = pp_value_list_of_ints(&i, 1);   /* MyProcess(i) */
        check(pp_process_start(client, run, x, NULL, &processes[i]), "p.start");
        pp_value_free(x);
    }
    for (int i = 0; i < 5; i++) {
        check(pp_process_join(processes[i], -1), "p.join");
        pp_process_free(processes[i]);
    }

    pp_func_free(run);
    pp_client_close(client);
    return 0;
}
