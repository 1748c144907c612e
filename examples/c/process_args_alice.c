/* process_args_alice - passing arguments to a child process:
 *
 *     def my_function(name):
 *         print(f"Hello from {name}!")
 *
 *     p = multiprocessing.Process(target=my_function, args=('Alice',))
 *     p.start()
 *     p.join()
 *     print("The child process has completed.")
 *
 * prints "Hello from Alice!", then "The child process has completed.".
 *
 * This file is both the program and, built with -shared -fPIC as
 * libprocess_args_alice.so next to it, the library the child runs
 * my_function from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def my_function(name): the target, with the task ABI of polypool.h */
int my_function(const pp_value *args, pp_value *result)
{
    const char *name = pp_value_get_string(pp_value_at(args, 0), NULL);
    if (!name)
        return pp_task_fail(result, "my_function: want a name");
    printf("Hello from %s!\n", name);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "process_args_alice: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libprocess_args_alice.so", "my_function", &target),
          "my_function");

    /* args=('Alice',) */
    pp_value *args = pp_value_list();
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, pp_value_string("Alice")), "args");

    pp_process *p;
    check(pp_process_start(client, target, args, NULL, &p), "p.start");
    check(pp_process_join(p, -1), "p.join");
    puts("The child process has completed.");

    pp_process_free(p);
    pp_value_free(args);
    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
