/* client-proc.c - a helper client process for the integration tests.
 *
 *   client-proc URL map N              map pt_square over 0..N-1 on "default"
 *   client-proc URL named NAME N       attach the named pool NAME, map as above
 *   client-proc URL stress N BASE      N pt_square tasks at once: half a map
 *                                      with chunksize 1 (one thread), half
 *                                      apply_async (another thread), inputs
 *                                      BASE.., every result checked
 *   client-proc URL hang               a private pool of 1 worker busy with
 *                                      pt_sleep_ms(60000) tasks; prints
 *                                      "ready <pid>" and waits to be killed
 *   client-proc URL setuid UID         drops to UID/GID, then tries to connect
 *   client-proc URL shmhold            creates a segment named "it-held" (with
 *                                      "held" at offset 0), an anonymous one,
 *                                      a Lock (acquired) and a locked Array;
 *                                      prints "ready <pid>" and waits to be killed
 *   client-proc URL hold POOL          takes the handle of a Lock or RLock from
 *                                      the named pool POOL (pt_get_init: the
 *                                      pool's initializer is pt_init(handle)),
 *                                      acquires it (an RLock twice), prints
 *                                      "held <pid>" and waits to be killed;
 *                                      with POLYPOOL_NO_MAP=1, through the daemon
 *   client-proc URL hold POOL close    the same, but closes its client (ending
 *                                      its session) before it says "held"
 *
 * Exit codes: 0 success; a pp_status (1..25) when a call failed with it;
 * 100 a wrong or missing result; 101 bad usage or setup.
 * The task library comes from $PPTEST_LIB; autostart is always off.
 */
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "polypool.h"

static const char *url;

static pp_client *open_client(void)
{
    pp_client_opts co = { .address = url, .no_autostart = true,
                          .connect_timeout_ms = 5000, .name = "client-proc" };
    pp_client *c = NULL;
    pp_status st = pp_client_open_opts(&co, &c);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: open %s: %s: %s\n", url, pp_status_name(st),
                pp_last_error()->message);
        exit(st);
    }
    return c;
}

static pp_func *func(const char *sym)
{
    pp_func *f = NULL;
    const char *lib = getenv("PPTEST_LIB");
    if (!lib || pp_func_c(lib, sym, &f) != PP_OK) {
        fprintf(stderr, "client-proc: no function %s\n", sym);
        exit(101);
    }
    return f;
}

static pp_value *ints(int64_t from, size_t n)
{
    int64_t *v = malloc(n * sizeof *v + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = from + (int64_t)i;
    pp_value *l = pp_value_list_of_ints(v, n);
    free(v);
    return l;
}

static int check_squares(const char *what, const pp_value *res, int64_t from, size_t n)
{
    if (!res || pp_value_len(res) != n) {
        fprintf(stderr, "client-proc: %s: %zu results, want %zu\n", what,
                res ? pp_value_len(res) : 0, n);
        return 100;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t x = from + (int64_t)i, got;
        if (pp_value_to_int(pp_value_at(res, i), &got) != PP_OK || got != x * x) {
            fprintf(stderr, "client-proc: %s: item %zu wrong\n", what, i);
            return 100;
        }
    }
    return 0;
}

static int do_map(pp_pool *p, size_t n)
{
    pp_func *f = func("pt_square");
    pp_value *items = ints(0, n), *res = NULL;
    pp_status st = pp_pool_map(p, f, items, NULL, &res);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: map: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        return st;
    }
    int rc = check_squares("map", res, 0, n);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    return rc;
}

/* ---- stress ---- */

struct stress {
    pp_pool *pool;
    pp_func *f;
    int64_t base;
    size_t n;
    int rc;
};

static void *stress_map(void *arg)
{
    struct stress *s = arg;
    pp_value *items = ints(s->base, s->n), *res = NULL;
    pp_map_opts mo = { .chunksize = 1 };
    pp_status st = pp_pool_map(s->pool, s->f, items, &mo, &res);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: stress map: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        s->rc = st;
    } else {
        s->rc = check_squares("stress map", res, s->base, s->n);
    }
    pp_value_free(res);
    pp_value_free(items);
    return NULL;
}

static void *stress_apply(void *arg)
{
    struct stress *s = arg;
    pp_future **fs = calloc(s->n, sizeof *fs);
    s->rc = 0;
    for (size_t i = 0; i < s->n && !s->rc; i++) {
        pp_value *args = ints(s->base + (int64_t)i, 1);
        pp_status st = pp_pool_apply_async(s->pool, s->f, args, NULL, NULL, &fs[i]);
        pp_value_free(args);
        if (st != PP_OK) {
            fprintf(stderr, "client-proc: apply_async %zu: %s: %s\n", i,
                    pp_status_name(st), pp_last_error()->message);
            s->rc = st;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!fs[i])
            continue;
        pp_value *v = NULL;
        pp_status st = pp_future_get(fs[i], 120000, &v);
        int64_t x = s->base + (int64_t)i, got = 0;
        if (st != PP_OK) {
            fprintf(stderr, "client-proc: get %zu: %s: %s\n", i, pp_status_name(st),
                    pp_last_error()->message);
            if (!s->rc)
                s->rc = st;
        } else if (pp_value_to_int(v, &got) != PP_OK || got != x * x) {
            fprintf(stderr, "client-proc: apply %zu: got %" PRId64 "\n", i, got);
            if (!s->rc)
                s->rc = 100;
        }
        pp_value_free(v);
        pp_future_free(fs[i]);
    }
    free(fs);
    return NULL;
}

static int do_stress(pp_client *c, size_t n, int64_t base)
{
    pp_pool *p = NULL;
    pp_status st = pp_pool_attach(c, "default", &p);
    if (st != PP_OK)
        return st;
    pp_func *f = func("pt_square");
    struct stress a = { p, f, base, n / 2, 0 };
    struct stress b = { p, f, base + (int64_t)(n / 2), n - n / 2, 0 };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, stress_map, &a);
    pthread_create(&tb, NULL, stress_apply, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pp_pool_free(p);
    pp_func_free(f);
    return a.rc ? a.rc : b.rc;
}

/* ---- hang ---- */

static int do_hang(pp_client *c)
{
    pp_pool_opts po = { .size = 1 };
    pp_pool *p = NULL;
    pp_status st = pp_pool_create(c, &po, &p);
    if (st != PP_OK)
        return st;
    pp_func *f = func("pt_sleep_ms");
    pp_value *items = pp_value_list();
    for (int i = 0; i < 3; i++)
        pp_value_append(items, pp_value_int(60000));
    pp_map_opts mo = { .chunksize = 1 };
    pp_future *fut = NULL;
    st = pp_pool_map_async(p, f, items, &mo, NULL, NULL, &fut);
    if (st != PP_OK)
        return st;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}

/* ---- shared memory ---- */

/* A helper that waits to be killed must not outlive a test that failed. */
static void die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        exit(101);
}

static int do_shmhold(pp_client *c)
{
    die_with_parent();
    pp_shm *named = NULL, *anon = NULL;
    pp_sync *lock = NULL;
    pp_array *arr = NULL;
    pp_status st;
    if ((st = pp_shm_create(c, "it-held", 4096, &named)) != PP_OK ||
        (st = pp_shm_write(named, 0, "held", 4)) != PP_OK ||
        (st = pp_shm_create(c, NULL, 8192, &anon)) != PP_OK ||
        (st = pp_lock_create(c, &lock)) != PP_OK ||
        (st = pp_sync_acquire(lock, 0)) != PP_OK ||
        (st = pp_array_create(c, 'q', 16, true, &arr)) != PP_OK) {
        fprintf(stderr, "client-proc: shmhold: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        return st;
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}

static int do_hold(pp_client *c, const char *pool, bool close_client)
{
    die_with_parent();
    pp_pool *p = NULL;
    pp_status st = pp_pool_attach(c, pool, &p);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: attach %s: %s\n", pool, pp_status_name(st));
        return st;
    }
    pp_func *f = func("pt_get_init");
    pp_value *args = pp_value_list(), *h = NULL;
    if ((st = pp_pool_apply(p, f, args, -1, &h)) != PP_OK) {
        fprintf(stderr, "client-proc: pt_get_init: %s\n", pp_status_name(st));
        return st;
    }
    pp_sync *s = NULL;
    if ((st = pp_sync_from_value(c, h, &s)) != PP_OK) {
        fprintf(stderr, "client-proc: hold: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        return st;
    }
    int times = pp_sync_type(s) == PP_H_RLOCK ? 2 : 1;
    for (int i = 0; i < times; i++) {
        if ((st = pp_sync_acquire(s, 5000)) != PP_OK) {
            fprintf(stderr, "client-proc: hold: acquire: %s\n", pp_status_name(st));
            return st;
        }
    }
    if (close_client) {
        /* The lock stays held by this process. */
        pp_sync_free(s);
        pp_value_free(h);
        pp_value_free(args);
        pp_func_free(f);
        pp_pool_free(p);
        pp_client_close(c);
    }
    printf("held %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}

/* ---- setuid ---- */

static int do_setuid(uid_t uid)
{
    if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
        perror("client-proc: setuid");
        return 101;
    }
    pp_client_opts co = { .address = url, .no_autostart = true,
                          .connect_timeout_ms = 3000, .name = "client-proc-setuid" };
    pp_client *c = NULL;
    pp_status st = pp_client_open_opts(&co, &c);
    if (st == PP_OK) {
        /* Connected and said Hello: the daemon let another uid in. */
        st = pp_client_ping(c, 3000);
        fprintf(stderr, "client-proc: uid %d connected (ping: %s)\n", (int)uid,
                pp_status_name(st));
        pp_client_close(c);
        return 0;
    }
    fprintf(stderr, "client-proc: uid %d refused: %s: %s\n", (int)uid, pp_status_name(st),
            pp_last_error()->message);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: client-proc URL map|named|stress|hang|setuid|shmhold|hold ...\n");
        return 101;
    }
    url = argv[1];
    const char *what = argv[2];
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);

    if (strcmp(what, "setuid") == 0 && argc == 4)
        return do_setuid((uid_t)atoi(argv[3]));

    int rc = 101;
    pp_client *c = open_client();
    pp_pool *p = NULL;
    pp_status st;
    if (strcmp(what, "map") == 0 && argc == 4) {
        if ((st = pp_pool_attach(c, "default", &p)) != PP_OK)
            return st;
        rc = do_map(p, (size_t)atol(argv[3]));
    } else if (strcmp(what, "named") == 0 && argc == 5) {
        if ((st = pp_pool_attach(c, argv[3], &p)) != PP_OK) {
            fprintf(stderr, "client-proc: attach %s: %s\n", argv[3], pp_status_name(st));
            return st;
        }
        rc = do_map(p, (size_t)atol(argv[4]));
    } else if (strcmp(what, "stress") == 0 && argc == 5) {
        rc = do_stress(c, (size_t)atol(argv[3]), atoll(argv[4]));
    } else if (strcmp(what, "hang") == 0) {
        rc = do_hang(c);
    } else if (strcmp(what, "shmhold") == 0) {
        rc = do_shmhold(c);
    } else if (strcmp(what, "hold") == 0 && argc == 4) {
        rc = do_hold(c, argv[3], false);
    } else if (strcmp(what, "hold") == 0 && argc == 5 && strcmp(argv[4], "close") == 0) {
        rc = do_hold(c, argv[3], true);
    }
    pp_pool_free(p);
    pp_client_close(c);
    return rc;
}
