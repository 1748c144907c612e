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
 *
 * Queues and pipes (test-queue.c); the handle comes from the named pool
 * POOL (pt_get_init), and the helper dies with its parent:
 *   client-proc URL qget POOL          attaches the queue, prints "ready <pid>",
 *                                      then gets items for ever, printing
 *                                      "item <int>" (an int) or "item bytes <len>";
 *                                      exits 0 once the queue is closed
 *   client-proc URL qput POOL SIZE N   attaches the queue, prints "putting <pid>",
 *                                      puts N BYTES items of SIZE bytes (byte i of
 *                                      item k: (k * 131 + i) & 0xff), prints "done"
 *                                      and waits to be killed
 *   client-proc URL pipemake POOL      creates a duplex pipe (a, b), puts the handle
 *                                      of a into the queue from POOL, sends the
 *                                      string "hello" through b, prints "ready <pid>"
 *                                      and waits to be killed, holding both ends
 *   client-proc URL connhold POOL [close|send SIZE]
 *                                      attaches the pipe end from POOL, sends the
 *                                      string "hello" through it when it is
 *                                      writable and prints "held <pid>"; with close,
 *                                      then closes the end and prints "closed"; with
 *                                      send, then sends SIZE bytes (send_bytes,
 *                                      byte i: i & 0xff) and prints "sent"; then
 *                                      waits to be killed
 *
 * Processes (test-process.c):
 *   client-proc URL procstart daemon|plain
 *                                      starts a process running pt_sleep_ms(60000)
 *                                      (daemonic or not), prints "started <pid of
 *                                      the process>" and waits to be killed
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

static int do_procstart(pp_client *c, bool daemonic)
{
    pp_func *f = func("pt_sleep_ms");
    pp_value *args = pp_value_list();
    pp_value_append(args, pp_value_int(60000));
    pp_process_opts o = { .daemon = daemonic };
    pp_process *p = NULL;
    pp_status st = pp_process_start(c, f, args, &o, &p);
    if (st != PP_OK)
        return st;
    printf("started %d\n", pp_process_pid(p));
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

/* ---- queues and pipes ---- */

static void say(const char *fmt, int arg)
{
    printf(fmt, arg);
    putchar('\n');
    fflush(stdout);
}

static void wait_forever(void)
{
    for (;;)
        pause();
}

/* The value pt_init stored in the workers of named pool `pool`. */
static pp_value *pool_init_value(pp_client *c, const char *pool)
{
    pp_pool *p = NULL;
    pp_status st = pp_pool_attach(c, pool, &p);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: attach %s: %s\n", pool, pp_status_name(st));
        exit(st);
    }
    pp_func *f = func("pt_get_init");
    pp_value *args = pp_value_list(), *h = NULL;
    if ((st = pp_pool_apply(p, f, args, -1, &h)) != PP_OK) {
        fprintf(stderr, "client-proc: pt_get_init: %s\n", pp_status_name(st));
        exit(st);
    }
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    return h;
}

static pp_queue *pool_queue(pp_client *c, const char *pool)
{
    pp_value *h = pool_init_value(c, pool);
    pp_queue *q = NULL;
    pp_status st = pp_queue_from_value(c, h, &q);
    pp_value_free(h);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: queue: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        exit(st);
    }
    return q;
}

static int do_qget(pp_client *c, const char *pool)
{
    die_with_parent();
    pp_queue *q = pool_queue(c, pool);
    say("ready %d", (int)getpid());
    for (;;) {
        pp_value *v = NULL;
        pp_status st = pp_queue_get(q, -1, &v);
        if (st == PP_ECLOSED)
            break;
        if (st != PP_OK) {
            fprintf(stderr, "client-proc: qget: %s\n", pp_status_name(st));
            return st;
        }
        size_t len = 0;
        if (pp_value_kind(v) == PP_BYTES && pp_value_get_bytes(v, &len))
            say("item bytes %d", (int)len);
        else
            say("item %d", (int)pp_value_get_int(v));
        pp_value_free(v);
    }
    pp_queue_free(q);
    return 0;
}

static int do_qput(pp_client *c, const char *pool, size_t size, size_t n)
{
    die_with_parent();
    pp_queue *q = pool_queue(c, pool);
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return PP_ENOMEM;
    say("putting %d", (int)getpid());
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < size; i++)
            buf[i] = (unsigned char)((k * 131 + i) & 0xff);
        pp_value *v = pp_value_bytes(buf, size);
        pp_status st = pp_queue_put(q, v, -1);
        pp_value_free(v);
        if (st != PP_OK) {
            fprintf(stderr, "client-proc: qput: %s\n", pp_status_name(st));
            return st;
        }
    }
    free(buf);
    say("done", 0);
    wait_forever();
    return 0;
}

static int do_pipemake(pp_client *c, const char *pool)
{
    die_with_parent();
    pp_queue *q = pool_queue(c, pool);
    pp_conn *a = NULL, *b = NULL;
    pp_status st = pp_pipe(c, true, &a, &b);
    pp_value *h = st == PP_OK ? pp_conn_to_value(a) : NULL;
    pp_value *hello = pp_value_string("hello");
    if (st == PP_OK)
        st = pp_queue_put(q, h, 5000);
    if (st == PP_OK)
        st = pp_conn_send(b, hello);
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: pipemake: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        return st;
    }
    pp_value_free(hello);
    pp_value_free(h);
    /* a stays open too: a handle in a queue holds nothing, so closing a
     * before the test attached it would close it everywhere. */
    say("ready %d", (int)getpid());
    wait_forever();
    return 0;
}

static int do_connhold(pp_client *c, const char *pool, const char *then, size_t size)
{
    die_with_parent();
    pp_value *h = pool_init_value(c, pool);
    pp_conn *k = NULL;
    pp_status st = pp_conn_from_value(c, h, &k);
    pp_value_free(h);
    if (st == PP_OK && pp_conn_writable(k)) {
        pp_value *hello = pp_value_string("hello");
        st = pp_conn_send(k, hello);
        pp_value_free(hello);
    }
    if (st != PP_OK) {
        fprintf(stderr, "client-proc: connhold: %s: %s\n", pp_status_name(st),
                pp_last_error()->message);
        return st;
    }
    say("held %d", (int)getpid());
    if (then && !strcmp(then, "close")) {
        pp_conn_close(k);
        say("closed", 0);
    } else if (then && !strcmp(then, "send")) {
        unsigned char *buf = malloc(size ? size : 1);
        if (!buf)
            return PP_ENOMEM;
        for (size_t i = 0; i < size; i++)
            buf[i] = (unsigned char)(i & 0xff);
        if ((st = pp_conn_send_bytes(k, buf, size)) != PP_OK) {
            fprintf(stderr, "client-proc: connhold send: %s\n", pp_status_name(st));
            return st;
        }
        free(buf);
        say("sent", 0);
    }
    wait_forever();
    return 0;
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
        fprintf(stderr, "usage: client-proc URL map|named|stress|hang|setuid|procstart|shmhold|hold|qget|qput|pipemake|connhold ...\n");
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
    } else if (strcmp(what, "procstart") == 0 && argc == 4) {
        rc = do_procstart(c, strcmp(argv[3], "daemon") == 0);
    } else if (strcmp(what, "shmhold") == 0) {
        rc = do_shmhold(c);
    } else if (strcmp(what, "hold") == 0 && argc == 4) {
        rc = do_hold(c, argv[3], false);
    } else if (strcmp(what, "hold") == 0 && argc == 5 && strcmp(argv[4], "close") == 0) {
        rc = do_hold(c, argv[3], true);
    } else if (strcmp(what, "qget") == 0 && argc == 4) {
        rc = do_qget(c, argv[3]);
    } else if (strcmp(what, "qput") == 0 && argc == 6) {
        rc = do_qput(c, argv[3], (size_t)atol(argv[4]), (size_t)atol(argv[5]));
    } else if (strcmp(what, "pipemake") == 0 && argc == 4) {
        rc = do_pipemake(c, argv[3]);
    } else if (strcmp(what, "connhold") == 0 && argc == 4) {
        rc = do_connhold(c, argv[3], NULL, 0);
    } else if (strcmp(what, "connhold") == 0 && argc == 5 && strcmp(argv[4], "close") == 0) {
        rc = do_connhold(c, argv[3], "close", 0);
    } else if (strcmp(what, "connhold") == 0 && argc == 6 && strcmp(argv[4], "send") == 0) {
        rc = do_connhold(c, argv[3], "send", (size_t)atol(argv[5]));
    }
    pp_pool_free(p);
    pp_client_close(c);
    return rc;
}
