/* bench_queue.c - the C side of the queue and pipe benchmarks
 * (bench/run.py --queue-only drives it; see docs/benchmarks.md).
 *
 *   bench_queue queue [N] [SIZE]
 *       A forked child puts N items on a pp_queue (ints 0 .. N-1, or with
 *       SIZE > 0 BYTES values of SIZE bytes), this process gets them.
 *       Timed from the child's first put (after a warm-up item crossed)
 *       to the last get; items/s.
 *   bench_queue pipe [N]
 *       Ping-pong of an int on a duplex pp_pipe with a forked child, N
 *       round trips after a warm-up, in 5 chunks: the median chunk's µs
 *       per round trip. The same on two POSIX pipes (8-byte write/read
 *       each way, what multiprocessing's Pipe sits on), for reference.
 *
 * The child is forked after the objects are made and uses what it
 * inherited (the mapping); it never touches the client (nng is not
 * fork-safe). Each workload prints one JSON object on stdout.
 */
#include <polypool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define CHUNKS 5

static void reap(pid_t pid)
{
    int ws;
    if (waitpid(pid, &ws, 0) < 0)
        die_errno("waitpid");
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "bench_queue: the child failed (status %d)\n", ws);
        exit(1);
    }
}

static void bench_queue(pp_client *c, size_t n, size_t size)
{
    pp_queue *q;
    pp_status st = pp_queue_create(c, NULL, &q);
    if (st)
        die("pp_queue_create", st);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        char *payload = size ? calloc(1, size) : NULL;
        pp_value *ready = pp_value_int(-1);
        if ((size && !payload) || !ready || pp_queue_put(q, ready, -1) != PP_OK)
            _exit(3);
        pp_value_free(ready);
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            pp_value *v = size ? pp_value_bytes(payload, size) : pp_value_int((int64_t)i);
            if (!v || pp_queue_put(q, v, -1) != PP_OK)
                _exit(4);
            pp_value_free(v);
        }
        pp_value *t = pp_value_double(t0);
        if (!t || pp_queue_put(q, t, -1) != PP_OK)
            _exit(5);
        pp_value_free(t);
        free(payload);
        _exit(0);
    }
    pp_value *v;
    if ((st = pp_queue_get(q, 60000, &v)) != PP_OK)
        die("get (warm-up)", st);
    pp_value_free(v);
    int64_t last = -1;
    size_t got_len = 0;
    for (size_t i = 0; i < n; i++) {
        if ((st = pp_queue_get(q, 60000, &v)) != PP_OK)
            die("get", st);
        if (size)
            got_len = pp_value_len(v);
        else
            last = pp_value_get_int(v);
        pp_value_free(v);
    }
    double t1 = now_s();
    if ((size && got_len != size) || (!size && last != (int64_t)n - 1)) {
        fprintf(stderr, "bench_queue: wrong last item\n");
        exit(1);
    }
    if ((st = pp_queue_get(q, 60000, &v)) != PP_OK)
        die("get (t0)", st);
    double t0 = pp_value_get_double(v);
    pp_value_free(v);
    reap(pid);
    pp_queue_free(q);
    printf("{\"workload\":\"queue\",\"n\":%zu,\"size\":%zu,\"seconds\":%.6f,"
           "\"items_per_s\":%.1f}\n", n, size, t1 - t0, (double)n / (t1 - t0));
}

static double pingpong_pp(pp_client *c, size_t n)
{
    pp_conn *a, *b;
    pp_status st = pp_pipe(c, true, &a, &b);
    if (st)
        die("pp_pipe", st);
    size_t warm = n / 10 + 10, k = n / CHUNKS;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        for (size_t i = 0; i < warm + k * CHUNKS; i++) {
            pp_value *v;
            if (pp_conn_recv(b, -1, &v) != PP_OK || pp_conn_send(b, v) != PP_OK)
                _exit(3);
            pp_value_free(v);
        }
        _exit(0);
    }
    double times[CHUNKS];
    for (size_t r = 0, i = 0; r <= CHUNKS; r++) {
        size_t m = r == 0 ? warm : k;
        double t = now_s();
        for (size_t j = 0; j < m; j++, i++) {
            pp_value *v = pp_value_int((int64_t)i), *w;
            if (!v || (st = pp_conn_send(a, v)) != PP_OK || (st = pp_conn_recv(a, -1, &w)))
                die("ping-pong", st);
            if (pp_value_get_int(w) != (int64_t)i) {
                fprintf(stderr, "bench_queue: the pipe returned another value\n");
                exit(1);
            }
            pp_value_free(v);
            pp_value_free(w);
        }
        if (r)
            times[r - 1] = (now_s() - t) / (double)k;
    }
    reap(pid);
    pp_conn_close(a);
    pp_conn_close(b);
    return median(times, CHUNKS) * 1e6;
}

static double pingpong_posix(size_t n)
{
    int there[2], back[2];
    if (pipe(there) < 0 || pipe(back) < 0)
        die_errno("pipe");
    size_t warm = n / 10 + 10, k = n / CHUNKS;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        for (size_t i = 0; i < warm + k * CHUNKS; i++) {
            int64_t x;
            if (read(there[0], &x, sizeof x) != sizeof x ||
                write(back[1], &x, sizeof x) != sizeof x)
                _exit(3);
        }
        _exit(0);
    }
    double times[CHUNKS];
    for (size_t r = 0, i = 0; r <= CHUNKS; r++) {
        size_t m = r == 0 ? warm : k;
        double t = now_s();
        for (size_t j = 0; j < m; j++, i++) {
            int64_t x = (int64_t)i, y;
            if (write(there[1], &x, sizeof x) != sizeof x ||
                read(back[0], &y, sizeof y) != sizeof y || y != x)
                die_errno("posix ping-pong");
        }
        if (r)
            times[r - 1] = (now_s() - t) / (double)k;
    }
    reap(pid);
    close(there[0]);
    close(there[1]);
    close(back[0]);
    close(back[1]);
    return median(times, CHUNKS) * 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_queue queue [N] [SIZE] | pipe [N]\n");
        return 2;
    }
    const char *wl = argv[1];
    pp_client *c;
    pp_status st = pp_client_open(NULL, &c);
    if (st)
        die("connect", st);
    if (!strcmp(wl, "queue")) {
        size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
        size_t size = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
        bench_queue(c, n ? n : 1, size);
    } else if (!strcmp(wl, "pipe")) {
        size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 5000;
        if (n < CHUNKS)
            n = CHUNKS;
        double pp_us = pingpong_pp(c, n), posix_us = pingpong_posix(n);
        printf("{\"workload\":\"pipe\",\"n\":%zu,\"round_trip_us\":%.3f,"
               "\"posix_round_trip_us\":%.3f}\n", n, pp_us, posix_us);
    } else {
        fprintf(stderr, "bench_queue: unknown workload %s\n", wl);
        return 2;
    }
    pp_client_close(c);
    return 0;
}
