/* bench.c - polypool's side of the benchmarks (bench/run.py drives it).
 *
 *   bench <benchtasks.so> <workload> [args...]
 *
 * Each workload prints one JSON object on stdout. The pool is the daemon's
 * default pool, attached once, so the workers are warm, as they would be
 * for any client of a running daemon.
 */
#include <polypool.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"

static pp_value *range_list(size_t n)
{
    pp_value *l = pp_value_list();
    for (size_t i = 0; i < n; i++)
        if (!l || pp_value_append(l, pp_value_int((int64_t)i)) != PP_OK)
            die("range", PP_ENOMEM);
    return l;
}

static void check_squares(const pp_value *res, size_t n)
{
    if (pp_value_len(res) != n) {
        fprintf(stderr, "bench: got %zu results, want %zu\n", pp_value_len(res), n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        if (pp_value_get_int(pp_value_at(res, i)) != (int64_t)(i * i)) {
            fprintf(stderr, "bench: wrong result at %zu\n", i);
            exit(1);
        }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench LIB WORKLOAD [N] [CHUNKSIZE]\n");
        return 2;
    }
    const char *lib = argv[1], *wl = argv[2];
    size_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
    size_t chunk = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;

    double t0 = now_s();
    pp_client *c;
    pp_status st = pp_client_open(NULL, &c);
    if (st)
        die("connect", st);
    pp_pool *pool;
    if ((st = pp_pool_attach(c, "default", &pool)))
        die("attach", st);
    pp_func *sq;
    if ((st = pp_func_c(lib, "bench_square", &sq)))
        die("func", st);

    if (!strcmp(wl, "first")) {
        /* connect + attach + first apply, from process start */
        pp_value *args = pp_value_list(), *r;
        pp_value_append(args, pp_value_int(3));
        if ((st = pp_pool_apply(pool, sq, args, -1, &r)))
            die("apply", st);
        double t = now_s() - t0;
        printf("{\"workload\":\"first\",\"seconds\":%.6f}\n", t);
        pp_value_free(r);
        pp_value_free(args);
    } else if (!strcmp(wl, "map")) {
        pp_value *items = range_list(n), *res;
        pp_map_opts o = { .chunksize = chunk };
        double t = now_s();
        if ((st = pp_pool_map(pool, sq, items, &o, &res)))
            die("map", st);
        t = now_s() - t;
        check_squares(res, n);
        printf("{\"workload\":\"map\",\"n\":%zu,\"chunksize\":%zu,\"seconds\":%.6f,"
               "\"items_per_s\":%.1f}\n", n, chunk, t, (double)n / t);
        pp_value_free(res);
        pp_value_free(items);
    } else if (!strcmp(wl, "imap")) {
        pp_value *items = range_list(n);
        pp_map_opts o = { .chunksize = chunk ? chunk : 1 };
        pp_iter *it;
        double t = now_s();
        if ((st = pp_pool_imap(pool, sq, items, &o, true, &it)))
            die("imap", st);
        size_t got = 0;
        pp_value *v;
        while ((st = pp_iter_next(it, -1, &v)) == PP_OK) {
            if (pp_value_get_int(v) != (int64_t)(got * got))
                die("imap order", PP_EINTERNAL);
            got++;
            pp_value_free(v);
        }
        if (st != PP_EEOF || got != n)
            die("imap end", st);
        t = now_s() - t;
        pp_iter_free(it);
        printf("{\"workload\":\"imap\",\"n\":%zu,\"chunksize\":%zu,\"seconds\":%.6f,"
               "\"items_per_s\":%.1f}\n", n, o.chunksize, t, (double)n / t);
        pp_value_free(items);
    } else if (!strcmp(wl, "apply")) {
        double *lat = calloc(n, sizeof *lat);
        pp_value *args = pp_value_list();
        pp_value_append(args, pp_value_int(7));
        for (size_t i = 0; i < n + 100; i++) {
            pp_value *r;
            double t = now_s();
            if ((st = pp_pool_apply(pool, sq, args, -1, &r)))
                die("apply", st);
            t = now_s() - t;
            if (i >= 100)  /* warm-up */
                lat[i - 100] = t;
            pp_value_free(r);
        }
        qsort(lat, n, sizeof *lat, cmp_double);
        printf("{\"workload\":\"apply\",\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
               n, lat[n / 2] * 1e6, lat[(n * 99) / 100] * 1e6);
        free(lat);
        pp_value_free(args);
    } else if (!strcmp(wl, "apply_async")) {
        pp_future **fs = calloc(n, sizeof *fs);
        pp_value *args = pp_value_list();
        pp_value_append(args, pp_value_int(7));
        double t = now_s();
        for (size_t i = 0; i < n; i++)
            if ((st = pp_pool_apply_async(pool, sq, args, NULL, NULL, &fs[i])))
                die("apply_async", st);
        for (size_t i = 0; i < n; i++) {
            pp_value *r;
            if ((st = pp_future_get(fs[i], -1, &r)))
                die("get", st);
            if (pp_value_get_int(r) != 49)
                die("apply_async result", PP_EINTERNAL);
            pp_value_free(r);
            pp_future_free(fs[i]);
        }
        t = now_s() - t;
        printf("{\"workload\":\"apply_async\",\"n\":%zu,\"seconds\":%.6f,"
               "\"tasks_per_s\":%.1f}\n", n, t, (double)n / t);
        free(fs);
        pp_value_free(args);
    } else {
        fprintf(stderr, "bench: unknown workload %s\n", wl);
        return 2;
    }
    pp_func_free(sq);
    pp_pool_free(pool);
    pp_client_close(c);
    return 0;
}
