/* process_hello - a function in a child process:
 *
 *     def my_function():
 *         print("Hello from a child process!")
 *
 *     p = multiprocessing.Process(target=my_function)
 *     p.start()
 *     p.join()
 *     print("The child process has completed.")
 *
 * prints "Hello from a child process!", then "The child process has
 * completed." (the child's output is out before join returns).
 *
 * This file is both the program and, built with -shared -fPIC as
 * libprocess_hello.so next to it, the library the child runs my_function
 * from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def my_function(): the target, with the task ABI of polypool.h */
int my_function(const pp_value *args, pp_value *result)
{
    (void)args;
    (void)result;
    puts("Hello from a child process!");
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "process_hello: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *target;
    check(pp_func_c("$ORIGIN/libprocess_hello.so", "my_function", &target), "my_function");

    pp_process *p;
    check(pp_process_start(client, target, NULL, NULL, &p), "p.start");
    check(pp_process_join(p, -1), "p.join");
    puts("The child process has completed.");

    pp_process_free(p);
    pp_func_free(target);
    pp_client_close(client);
    return 0;
}
