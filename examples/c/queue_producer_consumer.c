/* queue_producer_consumer - a producer and a consumer on one queue, with
 * None as the end:
 *
 *     def producer(queue):
 *         for i in range(5):
 *             queue.put(i)
 *
 *     def consumer(queue):
 *         while True:
 *             item = queue.get()
 *             if item is None:
 *                 break
 *             print(item)
 *
 *     queue = multiprocessing.Queue()
 *     p1 = multiprocessing.Process(target=producer, args=(queue,))
 *     p2 = multiprocessing.Process(target=consumer, args=(queue,))
 *     p1.start()
 *     p2.start()
 *     p1.join()
 *     queue.put(None)
 *     p2.join()
 *
 * prints 0, 1, 2, 3 and 4, one per line.
 *
 * This file is both the program and, built with -shared -fPIC as
 * libqueue_producer_consumer.so next to it, the library the children run
 * producer and consumer from.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <polypool.h>

/* def producer(queue): a target, with the task ABI of polypool.h */
int producer(const pp_value *args, pp_value *result)
{
    pp_queue *queue;
    /* The queue arrives as a handle; NULL: map it with no client. */
    if (pp_queue_from_value(NULL, pp_value_at(args, 0), &queue) != PP_OK)
        return pp_task_fail(result, "producer: queue: %s", pp_last_error()->message);
    for (int64_t i = 0; i < 5; i++) {
        pp_value *item = pp_value_int(i);
        pp_status st = pp_queue_put(queue, item, -1);
        pp_value_free(item);
        if (st != PP_OK) {
            pp_queue_free(queue);
            return pp_task_fail(result, "producer: put: %s", pp_strerror(st));
        }
    }
    pp_queue_free(queue);
    return 0;
}

/* def consumer(queue) */
int consumer(const pp_value *args, pp_value *result)
{
    pp_queue *queue;
    if (pp_queue_from_value(NULL, pp_value_at(args, 0), &queue) != PP_OK)
        return pp_task_fail(result, "consumer: queue: %s", pp_last_error()->message);
    for (;;) {
        pp_value *item;
        pp_status st = pp_queue_get(queue, -1, &item);
        if (st != PP_OK) {
            pp_queue_free(queue);
            return pp_task_fail(result, "consumer: get: %s", pp_strerror(st));
        }
        bool end = pp_value_kind(item) == PP_NULL;   /* if item is None: break */
        if (!end)
            printf("%lld\n", (long long)pp_value_get_int(item));
        pp_value_free(item);
        if (end)
            break;
    }
    pp_queue_free(queue);
    return 0;
}

static void check(pp_status st, const char *what)
{
    if (st != PP_OK) {
        fprintf(stderr, "queue_producer_consumer: %s: %s: %s\n", what, pp_strerror(st),
                pp_last_error()->message);
        exit(1);
    }
}

int main(void)
{
    pp_client *client;
    check(pp_client_open(NULL, &client), "connect");
    pp_func *producer_ref, *consumer_ref;
    check(pp_func_c("$ORIGIN/libqueue_producer_consumer.so", "producer", &producer_ref),
          "producer");
    check(pp_func_c("$ORIGIN/libqueue_producer_consumer.so", "consumer", &consumer_ref),
          "consumer");

    pp_queue *queue;
    check(pp_queue_create(client, NULL, &queue), "Queue()");
    pp_value *args = pp_value_list();   /* args=(queue,) */
    if (!args)
        check(PP_ENOMEM, "args");
    check(pp_value_append(args, pp_queue_to_value(queue)), "args");

    pp_process *p1, *p2;
    check(pp_process_start(client, producer_ref, args, NULL, &p1), "p1.start");
    check(pp_process_start(client, consumer_ref, args, NULL, &p2), "p2.start");
    check(pp_process_join(p1, -1), "p1.join");
    pp_value *none = pp_value_null();
    check(pp_queue_put(queue, none, -1), "queue.put(None)");
    check(pp_process_join(p2, -1), "p2.join");

    pp_value_free(none);
    pp_process_free(p1);
    pp_process_free(p2);
    pp_value_free(args);
    pp_queue_free(queue);
    pp_func_free(producer_ref);
    pp_func_free(consumer_ref);
    pp_client_close(client);
    return 0;
}
