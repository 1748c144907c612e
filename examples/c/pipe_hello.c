/* pipe_hello - a message through a pipe, from one child to another:
 *
 *     def sender(conn):
 *         conn.send('hello')
 *         conn.close()
 *
 *     def receiver(conn):
 *         message = conn.recv()
 *         conn.close()
 *         print(message)
 *
 *     parent_conn, child_conn = multiprocessing.Pipe()
 *     p1 = multiprocessing.Process(target=sender, args=(child_conn,))
 *     p2 = multiprocessing.Process(target=receiver, args=(parent_conn,))
 *     p1.start()
 *     p2.start()
 *     p1.join()
 *     p2.join()
 *
 * prints hello.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libpipe_hello.so next to it, the library the children run sender and
 * receiver from.
 */
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def sender(conn): a target, with the task ABI of polypool.h */
int sender(const pp_value *args, pp_value *result)
{
    pp_conn *conn;
    /* The pipe end arrives as a handle; NULL: map it with no client. */
    if (pp_conn_from_value(NULL, pp_value_at(args, 0), &conn) != PP_OK)
        return pp_task_fail(result, "sender: conn: %s", pp_last_error()->message);
    pp_value *message = pp_value_string("hello");
    pp_status st = pp_conn_send(conn, message);
    pp_value_free(message);
    pp_conn_close(conn);
    return st == PP_OK ? 0 : pp_task_fail(result, "sender: send: %s", pp_strerror(st));
}

/* def receiver(conn) */
int receiver(const pp_value *args, pp_value *result)
{
    pp_conn *conn;
    if (pp_conn_from_value(NULL, pp_value_at(args, 0), &conn) != PP_OK)
        return pp_task_fail(result, "receiver: conn: %s", pp_last_error()->message);
    pp_value *message;
    pp_status st = pp_conn_recv(conn, -1, &message);
    pp_conn_close(conn);
    if (st != PP_OK)
        return pp_task_fail(result, "receiver: recv: %s", pp_strerror(st));
    const char *text = pp_value_get_string(message, NULL);
    if (text)
        puts(text);
    pp_value_free(message);
    return text ? 0 : pp_task_fail(result, "receiver: the message is not a string");
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "pipe_hello: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

/* A LIST holding one value: a target's args=(v,). */
static pp_value *args_of(pp_value *v)
{
    pp_value *args = pp_value_list();
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, v), "args");
    return args;
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *sender_ref, *receiver_ref;
    check(pp_func_c("$ORIGIN/libpipe_hello.so", "sender", &sender_ref), "sender");
    check(pp_func_c("$ORIGIN/libpipe_hello.so", "receiver", &receiver_ref), "receiver");

    pp_conn *parent_conn, *child_conn;
    check(pp_pipe(client, true, &parent_conn, &child_conn), "Pipe()");
    pp_value *sender_args = args_of(pp_conn_to_value(child_conn));
    pp_value *receiver_args = args_of(pp_conn_to_value(parent_conn));

    pp_process *p1, *p2;
    check(pp_process_start(client, sender_ref, sender_args, NULL, &p1), "p1.start");
    check(pp_process_start(client, receiver_ref, receiver_args, NULL, &p2), "p2.start");
    check(pp_process_join(p1, -1), "p1.join");
    check(pp_process_join(p2, -1), "p2.join");

    pp_process_free(p1);
    pp_process_free(p2);
    pp_value_free(sender_args);
    pp_value_free(receiver_args);
    pp_conn_close(parent_conn);
    pp_conn_close(child_conn);
    pp_func_free(sender_ref);
    pp_func_free(receiver_ref);
    pp_client_close(client);
    return 0;
}
