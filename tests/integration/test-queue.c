/* test-queue.c - queues and pipes (polypool.h "Queues and pipes"): their
 * statuses, FIFO order across threads and processes, maxsize and byte
 * limits, JoinableQueue, messages of any size (streamed through a ring
 * smaller than they are), processes killed in the middle of a get or a put,
 * pipe EOF when the last holder of the other end lets go or dies (the
 * daemon's closers), and the /dev/shm entries they leave (none).
 *
 * Forked children. nng is not fork-safe and the test process has used it,
 * so a child forked here never touches a client: it opens the queue or pipe
 * end from its handle with a NULL client (pp_queue_from_value(NULL, ...)),
 * which maps the segment without a daemon reference (the parent's keeps it
 * alive), and leaves with _exit(), its result in its exit code or in a
 * scratch page. PR_SET_PDEATHSIG keeps it from outliving a failed test.
 * A process whose holding of a pipe end must count (the daemon's closers)
 * is a helper client (client-proc qget / qput / pipemake / connhold): it
 * gets the handle from a named pool whose initializer is pt_init(handle).
 *
 * White box: a test that must know that a process is blocked in a get or
 * put (or that the daemon reclaimed a dead writer's lock) maps the ring's
 * segment read-only from /dev/shm and looks at its header and lock words
 * (bindings/c/src/ring.h, sync_core.h). Never a fixed sleep.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
/* The ring layout, for looking at a queue's state directly. */
#include "../../bindings/c/src/ring.h"

static it_daemon D;

static void setup(void)
{
    it_daemon_start(&D, NULL);
}

static void teardown(void)
{
    it_daemon_stop(&D);
}

#define MiB ((size_t)1 << 20)
/* ring_size(): the bytes of segment a ring of capacity `cap` takes. */
#define RING_BYTES(cap) (RING_DATA_OFF + (((size_t)(cap) + 7) & ~(size_t)7))

/* Note: a process killed while it sleeps in a get or put stays counted in
 * the ring's readers_waiting / writers_waiting (only wake-ups are wasted),
 * so after a kill a test waits for the ring's bytes or lock words, not for
 * those counts. */

/* ---- /dev/shm ------------------------------------------------------------ */

/* The test daemon's segments in /dev/shm
 * ("polypool.<uid>.<daemon pid>.<id>"). */
static size_t shm_entries(void)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "polypool.%u.%d.", (unsigned)geteuid(), (int)D.pid);
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static bool entries_are(void *arg)
{
    return shm_entries() == *(size_t *)arg;
}

static void assert_entries_become(size_t want)
{
    ck_assert_msg(it_wait_until(entries_are, &want, IT_DEADLINE_MS),
                  "%zu segments in /dev/shm, want %zu", shm_entries(), want);
}

/* ---- a read-only view of a ring ------------------------------------------ */

struct rv {
    unsigned char *base;     /* the whole segment */
    size_t size;
    size_t off;              /* the ring's offset in it */
};

/* Maps the one segment of the test daemon with a ring at `off` (a pipe's
 * second ring is at ring_size(capacity)). Asserts there is exactly one. */
static void rv_open(struct rv *v, size_t off)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "polypool.%u.%d.", (unsigned)geteuid(), (int)D.pid);
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    memset(v, 0, sizeof *v);
    size_t found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[320];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && (size_t)st.st_size >= off + RING_DATA_OFF) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
            ck_assert_ptr_ne(p, MAP_FAILED);
            const struct ring_hdr *h =
                (const struct ring_hdr *)((char *)p + off + RING_HDR_OFF);
            if (h->magic == RING_MAGIC) {
                found++;
                if (v->base)
                    munmap(v->base, v->size);
                v->base = p;
                v->size = (size_t)st.st_size;
                v->off = off;
            } else {
                munmap(p, (size_t)st.st_size);
            }
        }
        close(fd);
    }
    closedir(d);
    ck_assert_msg(found == 1, "%zu segments with a ring at %zu, want 1", found, off);
}

static void rv_close(struct rv *v)
{
    if (v->base)
        munmap(v->base, v->size);
    v->base = NULL;
}

static struct ring_hdr *rv_hdr(const struct rv *v)
{
    return (struct ring_hdr *)(v->base + v->off + RING_HDR_OFF);
}

/* The lock word of the writers' (0) or readers' (1) lock. */
static uint32_t rv_lock(const struct rv *v, int which)
{
    return atomic_load(&((struct pps *)(v->base + v->off + (size_t)which * PPS_SLOT))->a);
}

/* What a test waits for; each field 0/false: any. */
struct ring_state {
    const struct rv *v;
    pid_t reader;             /* holds the readers' lock */
    pid_t writer;             /* holds the writers' lock */
    bool readers_wait;        /* someone sleeps for data */
    bool writers_wait;        /* someone sleeps for room */
    bool drained;             /* head == tail */
    bool writer_dead;         /* the writers' lock was handed over (PPS_DEAD) */
    bool reader_lock_waiters; /* someone sleeps for the readers' lock */
    uint64_t head_at_least;
    uint64_t tail_at_least;
};

static bool ring_in_state(void *arg)
{
    const struct ring_state *s = arg;
    struct ring_hdr *h = rv_hdr(s->v);
    if (s->reader && (rv_lock(s->v, 1) & PPS_PIDMASK) != (uint32_t)s->reader)
        return false;
    if (s->writer && (rv_lock(s->v, 0) & PPS_PIDMASK) != (uint32_t)s->writer)
        return false;
    if (s->writer_dead && (rv_lock(s->v, 0) & PPS_PIDMASK) != PPS_DEAD)
        return false;
    if (s->readers_wait && atomic_load(&h->readers_waiting) == 0)
        return false;
    if (s->writers_wait && atomic_load(&h->writers_waiting) == 0)
        return false;
    if (s->reader_lock_waiters && !(rv_lock(s->v, 1) & PPS_WAITERS))
        return false;
    if (s->drained && atomic_load(&h->head) != atomic_load(&h->tail))
        return false;
    return atomic_load(&h->head) >= s->head_at_least &&
           atomic_load(&h->tail) >= s->tail_at_least;
}

#define wait_ring(...) do {                                                            \
        struct ring_state ws_ = { __VA_ARGS__ };                                       \
        ck_assert_msg(it_wait_until(ring_in_state, &ws_, IT_DEADLINE_MS),              \
                      "ring never reached { %s } (readers' lock %#x, writers' %#x, "   \
                      "%u readers and %u writers waiting, head %llu, tail %llu)",     \
                      #__VA_ARGS__, rv_lock(ws_.v, 1), rv_lock(ws_.v, 0),              \
                      atomic_load(&rv_hdr(ws_.v)->readers_waiting),                    \
                      atomic_load(&rv_hdr(ws_.v)->writers_waiting),                    \
                      (unsigned long long)atomic_load(&rv_hdr(ws_.v)->head),           \
                      (unsigned long long)atomic_load(&rv_hdr(ws_.v)->tail));          \
    } while (0)

/* ---- values ---------------------------------------------------------------- */

/* BYTES of n bytes: byte i is (seed * 131 + i) & 0xff. */
static pp_value *pattern(size_t n, uint64_t seed)
{
    unsigned char *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((seed * 131 + i) & 0xff);
    pp_value *v = pp_value_bytes(b, n);
    free(b);
    ck_assert_ptr_nonnull(v);
    return v;
}

static bool is_pattern_bytes(const void *data, size_t len, size_t n, uint64_t seed)
{
    const unsigned char *b = data;
    if (!b || len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)((seed * 131 + i) & 0xff))
            return false;
    return true;
}

static bool is_pattern(const pp_value *v, size_t n, uint64_t seed)
{
    size_t len = 0;
    const void *b = pp_value_kind(v) == PP_BYTES ? pp_value_get_bytes(v, &len) : NULL;
    return is_pattern_bytes(b, len, n, seed);
}

static pp_value *list2(pp_value *a, pp_value *b)
{
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    it_assert_status(pp_value_append(l, a), PP_OK);
    if (b)
        it_assert_status(pp_value_append(l, b), PP_OK);
    return l;
}

static pp_value *list3(pp_value *a, pp_value *b, pp_value *c)
{
    pp_value *l = list2(a, b);
    it_assert_status(pp_value_append(l, c), PP_OK);
    return l;
}

static void assert_int(const pp_value *v, int64_t want)
{
    int64_t got = 0;
    ck_assert_msg(pp_value_to_int(v, &got) == PP_OK, "not an int: %s", pp_value_repr(v));
    ck_assert_msg(got == want, "got %lld, want %lld", (long long)got, (long long)want);
}

static void get_int(pp_queue *q, int64_t want)
{
    pp_value *v = NULL;
    it_assert_status(pp_queue_get(q, IT_DEADLINE_MS, &v), PP_OK);
    assert_int(v, want);
    pp_value_free(v);
}

static void put_int(pp_queue *q, int64_t x, int timeout_ms)
{
    pp_value *v = pp_value_int(x);
    it_assert_status(pp_queue_put(q, v, timeout_ms), PP_OK);
    pp_value_free(v);
}

static pp_queue *new_queue(pp_client *c, size_t maxsize, size_t capacity, bool joinable)
{
    pp_queue_opts o = { .maxsize = maxsize, .capacity = capacity, .joinable = joinable };
    pp_queue *q = NULL;
    it_assert_status(pp_queue_create(c, &o, &q), PP_OK);
    ck_assert_ptr_nonnull(q);
    return q;
}

/* ---- forked children --------------------------------------------------- */

#define REC_MAX 8192

/* Bookkeeping shared with forked children. */
struct scratch {
    _Atomic int ready;
    _Atomic int flag;
    _Atomic int n[8];                 /* records per child */
    int64_t rec[8][REC_MAX];
};

static struct scratch *scratch_new(void)
{
    void *p = mmap(NULL, sizeof(struct scratch), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, sizeof(struct scratch));
    return p;
}

static void scratch_free(struct scratch *s)
{
    munmap(s, sizeof *s);
}

static void record(struct scratch *s, int i, int64_t x)
{
    int n = atomic_load(&s->n[i]);
    if (n < REC_MAX)
        s->rec[i][n] = x;
    atomic_store(&s->n[i], n + 1);
}

/* What forked children work on (set before the fork). */
static pp_value *child_handle;
static struct scratch *child_scratch;

#define assert_child_status_in(pid, want, ms) do {                              \
        int got_ = it_child_exit((pid), (ms));                                      \
        ck_assert_msg(got_ == (int)(want), "child exited with %d (%s), want %s", \
                      got_, pp_status_name((pp_status)got_),                     \
                      pp_status_name((pp_status)(want)));                        \
    } while (0)
#define assert_child_status(pid, want) assert_child_status_in(pid, want, IT_DEADLINE_MS)

/* SIGKILL and reap. */
static void kill_reap(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int ws = 0;
    ck_assert(it_waitpid(pid, IT_DEADLINE_MS, &ws));
    ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
}

struct count_at_least {
    _Atomic int *counter;
    int want;
};

static bool count_reached(void *arg)
{
    struct count_at_least *c = arg;
    return atomic_load(c->counter) >= c->want;
}

static void wait_count(_Atomic int *counter, int want)
{
    struct count_at_least c = { counter, want };
    ck_assert_msg(it_wait_until(count_reached, &c, 30000), "count %d, want %d",
                  atomic_load(counter), want);
}

/* The queue of child_handle, mapped without a client. */
static pp_queue *child_queue(void)
{
    pp_queue *q = NULL;
    if (pp_queue_from_value(NULL, child_handle, &q) != PP_OK)
        _exit(101);
    return q;
}

static pp_conn *child_conn(void)
{
    pp_conn *k = NULL;
    if (pp_conn_from_value(NULL, child_handle, &k) != PP_OK)
        _exit(101);
    return k;
}

/* ---- operations in another thread ------------------------------------------ */

enum { OP_GET, OP_PUT, OP_JOIN, OP_RECV, OP_SEND, OP_SEND_BYTES };

struct op {
    int kind;
    pp_queue *q;
    pp_conn *k;
    int timeout_ms;
    pp_value *v;              /* PUT, SEND: in (not freed); GET, RECV: out */
    const void *data;         /* SEND_BYTES */
    size_t len;
    pp_status st;
    _Atomic bool done;
    int64_t t_done;
    pthread_t t;
};

static void *op_main(void *arg)
{
    struct op *o = arg;
    switch (o->kind) {
    case OP_GET: o->st = pp_queue_get(o->q, o->timeout_ms, &o->v); break;
    case OP_PUT: o->st = pp_queue_put(o->q, o->v, o->timeout_ms); break;
    case OP_JOIN: o->st = pp_queue_join(o->q, o->timeout_ms); break;
    case OP_RECV: o->st = pp_conn_recv(o->k, o->timeout_ms, &o->v); break;
    case OP_SEND: o->st = pp_conn_send(o->k, o->v); break;
    case OP_SEND_BYTES: o->st = pp_conn_send_bytes(o->k, o->data, o->len); break;
    }
    o->t_done = it_now_ms();
    atomic_store(&o->done, true);
    return NULL;
}

static void op_start(struct op *o)
{
    o->st = PP_EINTERNAL;
    atomic_store(&o->done, false);
    ck_assert_int_eq(pthread_create(&o->t, NULL, op_main, o), 0);
}

static bool op_done(void *arg)
{
    return atomic_load(&((struct op *)arg)->done);
}

/* Joins the thread once it finished (deadline); its status. */
static pp_status op_join_in(struct op *o, int timeout_ms)
{
    ck_assert_msg(it_wait_until(op_done, o, timeout_ms), "the operation did not return");
    pthread_join(o->t, NULL);
    return o->st;
}

static pp_status op_join(struct op *o)
{
    return op_join_in(o, IT_DEADLINE_MS);
}

/* ---- helper clients ------------------------------------------------------------ */

/* A named pool of one worker whose initializer keeps `handle` (consumed):
 * pt_get_init gives it to any client that attaches. */
static pp_pool *handle_pool(pp_client *c, const char *name, pp_value *handle)
{
    pp_func *init = it_func("pt_init");
    pp_value *initargs = list2(handle, NULL);
    pp_pool_opts po = { .size = 1, .initializer = init, .initargs = initargs };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_open_named(c, name, &po, &p), PP_OK);
    pp_value_free(initargs);
    pp_func_free(init);
    return p;
}

/* Spawns client-proc with args; returns its pid once it printed a line
 * starting with `want` (the line in line). */
static pid_t spawn_helper(const char *const args[], const char *want, int *fd, char *line,
                          size_t len)
{
    pid_t pid = it_spawn_client(D.url, args, fd);
    bool ok = it_read_line(*fd, line, len, IT_DEADLINE_MS);
    if (!ok || strncmp(line, want, strlen(want)) != 0)
        kill(pid, SIGKILL);
    ck_assert_msg(ok, "the helper said nothing (want \"%s\")", want);
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "helper said: %s (want \"%s\")",
                  line, want);
    return pid;
}

static void expect_line(int fd, const char *want)
{
    char line[128];
    ck_assert_msg(it_read_line(fd, line, sizeof line, IT_DEADLINE_MS),
                  "the helper did not say \"%s\"", want);
    ck_assert_msg(strcmp(line, want) == 0, "helper said: %s (want \"%s\")", line, want);
}

/* ==== queues: one process ==================================================== */

START_TEST(queue_put_get)
{
    pp_client *c = it_client(D.url);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_queue *q = NULL;
    it_assert_status(pp_queue_create(c, NULL, &q), PP_OK);
    ck_assert_uint_eq(shm_entries(), 1);
    ck_assert(pp_queue_empty(q));
    ck_assert(!pp_queue_full(q));
    ck_assert_uint_eq(pp_queue_qsize(q), 0);

    /* Every kind of value comes back equal, in order. */
    pp_value *m = pp_value_map();
    pp_value_map_set_str(m, "k", pp_value_string("v"));
    pp_value_map_set(m, pp_value_int(3), list2(pp_value_double(0.5), pp_value_null()));
    pp_value *t = pp_value_tuple();
    pp_value_append(t, pp_value_bool(true));
    pp_value *items[] = {
        pp_value_int(42), pp_value_int(-1), pp_value_string("hello"), pp_value_string(""),
        pp_value_bytes("\0\1\2", 3), pp_value_bytes("", 0), pp_value_null(),
        pp_value_bool(false), pp_value_double(-2.25), pp_value_pickle("\x80\x04K*.", 5),
        pp_value_list(), list3(pp_value_int(1), pp_value_string("two"), t), m,
    };
    size_t n = sizeof items / sizeof *items;
    for (size_t i = 0; i < n; i++) {
        it_assert_status(pp_queue_put(q, items[i], 0), PP_OK);
        ck_assert_uint_eq(pp_queue_qsize(q), i + 1);
    }
    ck_assert(!pp_queue_empty(q));
    ck_assert(!pp_queue_full(q));     /* no maxsize */
    for (size_t i = 0; i < n; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_queue_get(q, 0, &v), PP_OK);
        ck_assert_msg(pp_value_equal(v, items[i]), "item %zu: got %s", i, pp_value_repr(v));
        ck_assert_uint_eq(pp_queue_qsize(q), n - i - 1);
        pp_value_free(v);
    }
    ck_assert(pp_queue_empty(q));

    /* Empty: a timeout. */
    pp_value *v = NULL;
    it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);
    ck_assert_ptr_null(v);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_queue_get(q, 150, &v), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 140 && ms < 5000, "a 150 ms get returned after %lld ms", (long long)ms);

    /* put_many / get_many. */
    pp_value *five = it_ints(10, 5);
    size_t n_put = 99;
    it_assert_status(pp_queue_put_many(q, five, 0, &n_put), PP_OK);
    ck_assert_uint_eq(n_put, 5);
    ck_assert_uint_eq(pp_queue_qsize(q), 5);
    pp_value *got = NULL;
    it_assert_status(pp_queue_get_many(q, 3, 0, &got), PP_OK);
    ck_assert_int_eq(pp_value_kind(got), PP_LIST);
    ck_assert_uint_eq(pp_value_len(got), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int(pp_value_at(got, i), 10 + (int64_t)i);
    pp_value_free(got);
    it_assert_status(pp_queue_get_many(q, 10, 0, &got), PP_OK);
    ck_assert_uint_eq(pp_value_len(got), 2);
    assert_int(pp_value_at(got, 0), 13);
    assert_int(pp_value_at(got, 1), 14);
    pp_value_free(got);
    got = NULL;
    it_assert_status(pp_queue_get_many(q, 4, 50, &got), PP_ETIMEDOUT);
    ck_assert_ptr_null(got);
    it_assert_status(pp_queue_put_many(q, pp_value_at(five, 0), 0, &n_put), PP_EINVAL);
    ck_assert_uint_eq(n_put, 0);
    pp_value *empty = pp_value_list();
    it_assert_status(pp_queue_put_many(q, empty, 0, NULL), PP_OK);
    ck_assert(pp_queue_empty(q));
    /* get_many of 1 is a get. */
    put_int(q, 5, 0);
    it_assert_status(pp_queue_get_many(q, 1, 0, &got), PP_OK);
    ck_assert_uint_eq(pp_value_len(got), 1);
    assert_int(pp_value_at(got, 0), 5);
    pp_value_free(got);

    /* Misuse. */
    pp_queue_opts big = { .maxsize = (size_t)UINT32_MAX + 1 };
    pp_queue *bad = NULL;
    it_assert_status(pp_queue_create(NULL, NULL, &bad), PP_EINVAL);
    it_assert_status(pp_queue_create(c, NULL, NULL), PP_EINVAL);
    it_assert_status(pp_queue_create(c, &big, &bad), PP_EINVAL);
    ck_assert_ptr_null(bad);
    it_assert_status(pp_queue_put(NULL, five, 0), PP_EINVAL);
    it_assert_status(pp_queue_get(NULL, 0, &v), PP_EINVAL);
    it_assert_status(pp_queue_get(q, 0, NULL), PP_EINVAL);
    it_assert_status(pp_queue_put_many(NULL, five, 0, &n_put), PP_EINVAL);
    it_assert_status(pp_queue_get_many(q, 0, 0, &got), PP_EINVAL);
    it_assert_status(pp_queue_get_many(NULL, 2, 0, &got), PP_EINVAL);
    it_assert_status(pp_queue_get_many(q, 2, 0, NULL), PP_EINVAL);
    it_assert_status(pp_queue_close(NULL), PP_EINVAL);
    it_assert_status(pp_queue_task_done(NULL), PP_EINVAL);
    it_assert_status(pp_queue_join(NULL, 0), PP_EINVAL);
    ck_assert_uint_eq(pp_queue_qsize(NULL), 0);
    ck_assert(pp_queue_empty(NULL));
    ck_assert(!pp_queue_full(NULL));
    ck_assert_ptr_null(pp_queue_to_value(NULL));
    pp_queue_free(NULL);
    /* A plain queue has no task_done or join. */
    it_assert_status(pp_queue_task_done(q), PP_EINVAL);
    it_assert_status(pp_queue_join(q, 0), PP_EINVAL);
    ck_assert_uint_eq(shm_entries(), 1);

    for (size_t i = 0; i < n; i++)
        pp_value_free(items[i]);
    pp_value_free(five);
    pp_value_free(empty);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

START_TEST(queue_maxsize)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 2, 0, false);
    struct rv rv;
    rv_open(&rv, 0);
    put_int(q, 1, 0);
    ck_assert(!pp_queue_full(q));
    put_int(q, 2, 0);
    ck_assert(pp_queue_full(q));
    ck_assert_uint_eq(pp_queue_qsize(q), 2);

    /* Full: a timeout, nothing added. */
    pp_value *three = pp_value_int(3);
    it_assert_status(pp_queue_put(q, three, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_queue_put(q, three, 150), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 140 && ms < 5000, "a 150 ms put returned after %lld ms", (long long)ms);
    ck_assert_uint_eq(pp_queue_qsize(q), 2);

    /* A put that waits goes in when a get makes room. */
    struct op put = { .kind = OP_PUT, .q = q, .v = three, .timeout_ms = -1 };
    op_start(&put);
    wait_ring(.v = &rv, .writers_wait = true);
    ck_assert(!atomic_load(&put.done));
    get_int(q, 1);
    it_assert_status(op_join(&put), PP_OK);
    ck_assert(pp_queue_full(q));
    get_int(q, 2);
    get_int(q, 3);
    ck_assert(pp_queue_empty(q));

    /* A get that waits takes the next put. */
    struct op get = { .kind = OP_GET, .q = q, .timeout_ms = -1 };
    op_start(&get);
    wait_ring(.v = &rv, .readers_wait = true);
    ck_assert(!atomic_load(&get.done));
    put_int(q, 7, 0);
    it_assert_status(op_join(&get), PP_OK);
    assert_int(get.v, 7);
    pp_value_free(get.v);

    /* put_many stops where the queue is full. */
    pp_value *five = it_ints(0, 5);
    size_t n_put = 0;
    it_assert_status(pp_queue_put_many(q, five, 100, &n_put), PP_ETIMEDOUT);
    ck_assert_uint_eq(n_put, 2);
    pp_value *got = NULL;
    it_assert_status(pp_queue_get_many(q, 5, 0, &got), PP_OK);
    ck_assert_uint_eq(pp_value_len(got), 2);
    pp_value_free(got);
    pp_value_free(five);
    pp_value_free(three);
    rv_close(&rv);
    pp_queue_free(q);

    /* No maxsize, but the ring's bytes are full. */
    q = new_queue(c, 0, 4096, false);
    ck_assert_uint_eq(shm_entries(), 1);
    rv_open(&rv, 0);
    size_t fit = 0;
    pp_status st;
    for (;;) {
        pp_value *b = pattern(600, fit);
        st = pp_queue_put(q, b, 0);
        pp_value_free(b);
        if (st != PP_OK)
            break;
        fit++;
        ck_assert_uint_lt(fit, 100);
    }
    it_assert_status(st, PP_ETIMEDOUT);
    ck_assert_msg(fit >= 4 && fit <= 7, "%zu items of 600 bytes in a 4096-byte ring", fit);
    ck_assert(!pp_queue_full(q));          /* full() is about maxsize only */
    ck_assert_uint_eq(pp_queue_qsize(q), fit);
    pp_value *b = pattern(600, 999);
    t0 = it_now_ms();
    it_assert_status(pp_queue_put(q, b, 120), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 110);
    /* A message larger than the ring cannot start either: nothing of it
     * is left behind. */
    pp_value *huge = pattern(100000, 5);
    it_assert_status(pp_queue_put(q, huge, 50), PP_ETIMEDOUT);
    ck_assert_uint_eq(pp_queue_qsize(q), fit);
    pp_value *x = NULL;
    it_assert_status(pp_queue_get(q, 0, &x), PP_OK);
    ck_assert(is_pattern(x, 600, 0));
    pp_value_free(x);
    it_assert_status(pp_queue_put(q, b, 0), PP_OK);
    for (size_t i = 1; i < fit; i++) {
        it_assert_status(pp_queue_get(q, 0, &x), PP_OK);
        ck_assert_msg(is_pattern(x, 600, i), "item %zu", i);
        pp_value_free(x);
    }
    it_assert_status(pp_queue_get(q, 0, &x), PP_OK);
    ck_assert(is_pattern(x, 600, 999));
    pp_value_free(x);
    it_assert_status(pp_queue_get(q, 0, &x), PP_ETIMEDOUT);

    /* Once a streamed message has started, its timeout is over: it goes
     * in whole when a reader makes room, however long that takes. */
    struct op sp = { .kind = OP_PUT, .q = q, .v = huge, .timeout_ms = 100 };
    int64_t started = it_now_ms();
    op_start(&sp);
    wait_ring(.v = &rv, .writers_wait = true);
    struct ring_state later = { .v = &rv, .writers_wait = true };
    while (it_now_ms() - started < 300) {
        ck_assert(ring_in_state(&later));
        it_poll_nap();
    }
    ck_assert(!atomic_load(&sp.done));
    it_assert_status(pp_queue_get(q, IT_DEADLINE_MS, &x), PP_OK);
    ck_assert(is_pattern(x, 100000, 5));
    pp_value_free(x);
    it_assert_status(op_join(&sp), PP_OK);
    ck_assert(pp_queue_empty(q));

    pp_value_free(b);
    pp_value_free(huge);
    rv_close(&rv);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

START_TEST(queue_close)
{
    pp_client *c = it_client(D.url), *d = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    pp_value *h = pp_queue_to_value(q);
    pp_queue *q2 = NULL;
    it_assert_status(pp_queue_from_value(d, h, &q2), PP_OK);
    put_int(q, 1, 0);
    put_int(q, 2, 0);
    /* Closed through another client: for everyone. */
    it_assert_status(pp_queue_close(q2), PP_OK);
    pp_value *v = pp_value_int(3);
    it_assert_status(pp_queue_put(q, v, 0), PP_ECLOSED);
    it_assert_status(pp_queue_put(q2, v, -1), PP_ECLOSED);
    size_t n_put = 9;
    pp_value *l = it_ints(0, 2);
    it_assert_status(pp_queue_put_many(q, l, -1, &n_put), PP_ECLOSED);
    ck_assert_uint_eq(n_put, 0);
    pp_value_free(l);
    /* What is left still comes out, then ECLOSED at once. */
    ck_assert_uint_eq(pp_queue_qsize(q), 2);
    get_int(q, 1);
    get_int(q2, 2);
    pp_value *x = NULL;
    int64_t t0 = it_now_ms();
    it_assert_status(pp_queue_get(q, -1, &x), PP_ECLOSED);
    it_assert_status(pp_queue_get(q2, 5000, &x), PP_ECLOSED);
    it_assert_status(pp_queue_get_many(q2, 3, 5000, &x), PP_ECLOSED);
    ck_assert_int_lt(it_now_ms() - t0, 2000);
    ck_assert_ptr_null(x);
    it_assert_status(pp_queue_close(q), PP_OK);     /* again: nothing new */
    pp_queue_free(q2);
    pp_queue_free(q);
    pp_value_free(h);

    /* A blocked get, and a put blocked on a full queue, return at once. */
    q = new_queue(c, 1, 0, false);
    struct rv rv;
    rv_open(&rv, 0);
    struct op get = { .kind = OP_GET, .q = q, .timeout_ms = 30000 };
    op_start(&get);
    wait_ring(.v = &rv, .readers_wait = true);
    t0 = it_now_ms();
    it_assert_status(pp_queue_close(q), PP_OK);
    it_assert_status(op_join(&get), PP_ECLOSED);
    ck_assert_msg(get.t_done - t0 < 2000, "the get returned %lld ms after close",
                  (long long)(get.t_done - t0));
    rv_close(&rv);
    pp_queue_free(q);

    q = new_queue(c, 1, 0, false);
    rv_open(&rv, 0);
    put_int(q, 1, 0);
    struct op put = { .kind = OP_PUT, .q = q, .v = v, .timeout_ms = 30000 };
    op_start(&put);
    wait_ring(.v = &rv, .writers_wait = true);
    t0 = it_now_ms();
    it_assert_status(pp_queue_close(q), PP_OK);
    it_assert_status(op_join(&put), PP_ECLOSED);
    ck_assert_int_lt(put.t_done - t0, 2000);
    get_int(q, 1);
    it_assert_status(pp_queue_get(q, 0, &x), PP_ECLOSED);
    rv_close(&rv);
    pp_queue_free(q);
    pp_value_free(v);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(d);
    pp_client_close(c);
}
END_TEST

START_TEST(queue_joinable)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, true);
    /* Nothing put: join returns at once, task_done is one too many. */
    it_assert_status(pp_queue_join(q, 0), PP_OK);
    it_assert_status(pp_queue_task_done(q), PP_ESTATE);
    for (int i = 0; i < 3; i++)
        put_int(q, i, 0);
    it_assert_status(pp_queue_join(q, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_queue_join(q, 120), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 110);

    struct op join = { .kind = OP_JOIN, .q = q, .timeout_ms = 30000 };
    op_start(&join);
    for (int i = 0; i < 3; i++) {
        get_int(q, i);
        /* Taken is not done. */
        it_assert_status(pp_queue_join(q, 0), PP_ETIMEDOUT);
        ck_assert(!atomic_load(&join.done));
        int64_t before = it_now_ms();
        it_assert_status(pp_queue_task_done(q), PP_OK);
        if (i < 2) {
            it_assert_status(pp_queue_join(q, 0), PP_ETIMEDOUT);
            ck_assert(!atomic_load(&join.done));
        } else {
            it_assert_status(op_join(&join), PP_OK);
            ck_assert_int_lt(join.t_done - before, 2000);
        }
    }
    it_assert_status(pp_queue_join(q, 0), PP_OK);
    it_assert_status(pp_queue_task_done(q), PP_ESTATE);

    /* The handle says joinable, and both views count the same items. */
    pp_value *h = pp_queue_to_value(q);
    pp_queue *q2 = NULL;
    it_assert_status(pp_queue_from_value(c, h, &q2), PP_OK);
    put_int(q2, 10, 0);
    it_assert_status(pp_queue_join(q, 0), PP_ETIMEDOUT);
    get_int(q, 10);
    it_assert_status(pp_queue_task_done(q2), PP_OK);
    it_assert_status(pp_queue_join(q, 0), PP_OK);
    it_assert_status(pp_queue_task_done(q), PP_ESTATE);
    pp_queue_free(q2);
    pp_value_free(h);

    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* A consumer in a forked child: gets `i` ints and task_done()s each. */
static int child_consume_done(void *arg, int n)
{
    (void)arg;
    pp_queue *q = child_queue();
    for (int i = 0; i < n; i++) {
        pp_value *v = NULL;
        pp_status st = pp_queue_get(q, 20000, &v);
        if (st != PP_OK)
            return st;
        int64_t x = -1;
        pp_value_to_int(v, &x);
        pp_value_free(v);
        if (x != i)
            return 100;
        if ((st = pp_queue_task_done(q)) != PP_OK)
            return st;
    }
    if (pp_queue_task_done(q) != PP_ESTATE)
        return 100;
    pp_queue_free(q);
    return 0;
}

START_TEST(queue_joinable_processes)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 4, 0, true);
    child_handle = pp_queue_to_value(q);
    pid_t k = it_fork_child(child_consume_done, NULL, 50);
    for (int i = 0; i < 50; i++)
        put_int(q, i, IT_DEADLINE_MS);
    it_assert_status(pp_queue_join(q, 20000), PP_OK);
    ck_assert(pp_queue_empty(q));
    assert_child_status(k, PP_OK);
    /* A plain queue's handle gives a plain queue. */
    pp_queue *p = new_queue(c, 0, 0, false);
    pp_value *hp = pp_queue_to_value(p);
    pp_queue *p2 = NULL;
    it_assert_status(pp_queue_from_value(c, hp, &p2), PP_OK);
    it_assert_status(pp_queue_task_done(p2), PP_EINVAL);
    it_assert_status(pp_queue_join(p2, 0), PP_EINVAL);
    pp_queue_free(p2);
    pp_queue_free(p);
    pp_value_free(hp);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

START_TEST(queue_handles)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    pp_queue *q = new_queue(a, 8, 0, false);
    pp_value *h = pp_queue_to_value(q);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(pp_value_kind(h), PP_HANDLE);
    ck_assert_int_eq(pp_value_handle_type(h), PP_H_QUEUE);
    pp_value *hc = pp_value_copy(h);
    ck_assert(pp_value_equal(h, hc));

    /* Another client's view: the same queue (maxsize included). */
    pp_queue *qb = NULL;
    it_assert_status(pp_queue_from_value(b, hc, &qb), PP_OK);
    put_int(q, 1, 0);
    ck_assert_uint_eq(pp_queue_qsize(qb), 1);
    get_int(qb, 1);
    for (int i = 0; i < 8; i++)
        put_int(qb, i, 0);
    ck_assert(pp_queue_full(q));
    pp_value *v = pp_value_int(8);
    it_assert_status(pp_queue_put(q, v, 0), PP_ETIMEDOUT);
    pp_value_free(v);

    /* The creator lets go: b's reference keeps it, items and all. */
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 1);
    for (int i = 0; i < 8; i++)
        get_int(qb, i);

    /* A handle inside an item: a queue sent through itself. */
    pp_value *inner = pp_queue_to_value(qb);
    pp_value *item = list2(pp_value_string("q"), inner);
    it_assert_status(pp_queue_put(qb, item, 0), PP_OK);
    pp_value_free(item);
    it_assert_status(pp_queue_from_value(a, h, &q), PP_OK);
    pp_value *got = NULL;
    it_assert_status(pp_queue_get(q, 0, &got), PP_OK);
    ck_assert_int_eq(pp_value_handle_type(pp_value_at(got, 1)), PP_H_QUEUE);
    pp_queue *q3 = NULL;
    it_assert_status(pp_queue_from_value(a, pp_value_at(got, 1), &q3), PP_OK);
    pp_value_free(got);
    put_int(q3, 33, 0);
    get_int(qb, 33);

    /* Not a queue's handle. */
    pp_queue *bad = NULL;
    pp_value *i5 = pp_value_int(5);
    it_assert_status(pp_queue_from_value(a, i5, &bad), PP_EINVAL);
    it_assert_status(pp_queue_from_value(a, NULL, &bad), PP_EINVAL);
    it_assert_status(pp_queue_from_value(a, h, NULL), PP_EINVAL);
    pp_sync *lock = NULL;
    it_assert_status(pp_lock_create(a, &lock), PP_OK);
    pp_value *hl = pp_sync_to_value(lock);
    it_assert_status(pp_queue_from_value(a, hl, &bad), PP_EINVAL);
    pp_conn *ka = NULL, *kb = NULL;
    it_assert_status(pp_pipe(a, true, &ka, &kb), PP_OK);
    pp_value *hk = pp_conn_to_value(ka);
    it_assert_status(pp_queue_from_value(a, hk, &bad), PP_EINVAL);
    pp_conn *k = NULL;
    it_assert_status(pp_conn_from_value(a, h, &k), PP_EINVAL);
    it_assert_status(pp_conn_from_value(a, i5, &k), PP_EINVAL);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_null(k);
    pp_value_free(hk);
    pp_conn_close(ka);
    pp_conn_close(kb);
    pp_value_free(hl);
    pp_sync_free(lock);
    pp_value_free(i5);

    pp_queue_free(q3);
    pp_queue_free(q);
    pp_queue_free(qb);
    ck_assert_uint_eq(shm_entries(), 0);
    /* Gone: the handle names nothing any more. */
    it_assert_status(pp_queue_from_value(a, h, &q), PP_ENOENT);
    pp_value_free(hc);
    pp_value_free(h);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

/* A client that does not map memory cannot have queues or pipes; it
 * leaves no segment behind trying. */
START_TEST(queue_nomap)
{
    pp_client_opts co = { .address = D.url, .no_autostart = true, .connect_timeout_ms = 5000,
                          .name = "it-nomap", .no_map = true };
    pp_client *n = NULL, *c = it_client(D.url);
    it_assert_status(pp_client_open_opts(&co, &n), PP_OK);
    pp_queue *q = NULL;
    it_assert_status(pp_queue_create(n, NULL, &q), PP_EINVAL);
    ck_assert_ptr_null(q);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(n, true, &a, &b), PP_EINVAL);
    ck_assert_ptr_null(a);
    ck_assert_uint_eq(shm_entries(), 0);
    /* A mapping client's queue, opened by the no_map client. */
    q = new_queue(c, 0, 0, false);
    pp_value *h = pp_queue_to_value(q);
    pp_queue *qn = NULL;
    it_assert_status(pp_queue_from_value(n, h, &qn), PP_EINVAL);
    ck_assert_ptr_null(qn);
    pp_value_free(h);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(n);
    pp_client_close(c);
}
END_TEST

/* Sizes around the ring's limits: whole records up to capacity/4, streamed
 * beyond, an empty one, and 16 MiB through the default 1 MiB ring; each
 * comes out as it went in. A thread takes them (a streamed message larger
 * than the ring needs a reader while it goes in). */
struct sizes_reader {
    pp_queue *q;
    const size_t *sizes;
    size_t n;
    size_t bad;               /* 1 + the index of the first wrong one */
    pp_status st;
};

static void *sizes_main(void *arg)
{
    struct sizes_reader *r = arg;
    for (size_t i = 0; i < r->n; i++) {
        pp_value *v = NULL;
        if ((r->st = pp_queue_get(r->q, 30000, &v)) != PP_OK) {
            r->bad = i + 1;
            return NULL;
        }
        bool ok = is_pattern(v, r->sizes[i], i);
        pp_value_free(v);
        if (!ok) {
            r->bad = i + 1;
            return NULL;
        }
    }
    return NULL;
}

static void sizes_through(pp_queue *q, const size_t *sizes, size_t n)
{
    struct sizes_reader r = { q, sizes, n, 0, PP_OK };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sizes_main, &r), 0);
    for (size_t i = 0; i < n; i++) {
        pp_value *v = pattern(sizes[i], i);
        it_assert_status(pp_queue_put(q, v, 30000), PP_OK);
        pp_value_free(v);
    }
    pthread_join(t, NULL);
    it_assert_status(r.st, PP_OK);
    ck_assert_msg(r.bad == 0, "item %zu (%zu bytes) came out wrong", r.bad - 1,
                  r.sizes[r.bad - 1]);
    ck_assert(pp_queue_empty(q));
}

START_TEST(queue_message_sizes)
{
    pp_client *c = it_client(D.url);
    /* A ring of 4096 bytes: chunks of 1024. A BYTES value packs with a few
     * bytes of framing, so cover every size around the boundaries. */
    pp_queue *q = new_queue(c, 0, 4096, false);
    size_t sizes[200], n = 0;
    for (size_t s = 0; s < 24; s++)
        sizes[n++] = s;
    for (size_t s = 990; s < 1050; s++)
        sizes[n++] = s;
    for (size_t s = 2030; s < 2070; s += 3)
        sizes[n++] = s;
    size_t more[] = { 4000, 4096, 4097, 8191, 8192, 65536, 100001, 1 << 20, 0, 3 };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        sizes[n++] = more[i];
    sizes_through(q, sizes, n);
    pp_queue_free(q);

    /* The default ring: empty values, and 16 MiB and 16 MiB + 1. */
    q = new_queue(c, 0, 0, false);
    size_t big[] = { 0, 16 * MiB, 1, 16 * MiB + 1, 256 * 1024, 0 };
    sizes_through(q, big, sizeof big / sizeof *big);
    pp_value *e[] = { pp_value_string(""), pp_value_list(), pp_value_map(), pp_value_null() };
    for (size_t i = 0; i < 4; i++)
        it_assert_status(pp_queue_put(q, e[i], 0), PP_OK);
    for (size_t i = 0; i < 4; i++) {
        pp_value *v = NULL;
        it_assert_status(pp_queue_get(q, 0, &v), PP_OK);
        ck_assert(pp_value_equal(v, e[i]));
        pp_value_free(v);
        pp_value_free(e[i]);
    }
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* ==== queues: several processes ==================================================== */

#define NPROD 4
#define NCONS 3
#define PER_PROD 1500

/* Producer i's item seq: [i, seq, BYTES]; every 97th is streamed through
 * the 64 KiB ring (20 KiB > 16 KiB chunks), the others small. */
static size_t fifo_pad(int i, int seq)
{
    return seq % 97 == 0 ? 20000 + (size_t)i : (size_t)((seq * 7 + i) % 50);
}

static pp_value *fifo_item(int i, int seq)
{
    return list3(pp_value_int(i), pp_value_int(seq), pattern(fifo_pad(i, seq), (uint64_t)(i * 100000 + seq)));
}

static int child_producer(void *arg, int i)
{
    (void)arg;
    pp_queue *q = child_queue();
    for (int seq = 0; seq < PER_PROD;) {
        pp_status st;
        if (seq % 5 == 1 && seq + 3 <= PER_PROD) {
            pp_value *l = pp_value_list();
            for (int j = 0; j < 3; j++)
                pp_value_append(l, fifo_item(i, seq + j));
            size_t n = 0;
            st = pp_queue_put_many(q, l, 30000, &n);
            pp_value_free(l);
            if (st == PP_OK && n != 3)
                return 100;
            seq += 3;
        } else {
            pp_value *v = fifo_item(i, seq);
            st = pp_queue_put(q, v, 30000);
            pp_value_free(v);
            seq++;
        }
        if (st != PP_OK)
            return st;
    }
    pp_queue_free(q);
    return 0;
}

/* Checks an item and records it as producer * 1000000 + seq; -1: wrong. */
static int64_t fifo_check(const pp_value *v)
{
    int64_t i = -1, seq = -1;
    if (pp_value_len(v) != 3 || pp_value_to_int(pp_value_at(v, 0), &i) != PP_OK ||
        pp_value_to_int(pp_value_at(v, 1), &seq) != PP_OK || i < 0 || i >= NPROD || seq < 0 ||
        seq >= PER_PROD ||
        !is_pattern(pp_value_at(v, 2), fifo_pad((int)i, (int)seq), (uint64_t)(i * 100000 + seq)))
        return -1;
    return i * 1000000 + seq;
}

/* Consumer i gets until the queue is closed and empty; odd ones by
 * get_many. */
static int consume_all(pp_queue *q, int i)
{
    for (;;) {
        pp_value *v = NULL;
        pp_status st = i % 2 ? pp_queue_get_many(q, 4, 30000, &v) : pp_queue_get(q, 30000, &v);
        if (st == PP_ECLOSED)
            return 0;
        if (st != PP_OK)
            return st;
        if (i % 2) {
            for (size_t j = 0; j < pp_value_len(v); j++) {
                int64_t r = fifo_check(pp_value_at(v, j));
                if (r < 0)
                    return 100;
                record(child_scratch, i, r);
            }
        } else {
            int64_t r = fifo_check(v);
            if (r < 0)
                return 100;
            record(child_scratch, i, r);
        }
        pp_value_free(v);
    }
}

static int child_consumer(void *arg, int i)
{
    (void)arg;
    pp_queue *q = child_queue();
    int rc = consume_all(q, i);
    pp_queue_free(q);
    return rc;
}

struct consumer_thread {
    pp_queue *q;
    int i;
    int rc;
};

static void *consumer_thread_main(void *arg)
{
    struct consumer_thread *t = arg;
    t->rc = consume_all(t->q, t->i);
    return NULL;
}

START_TEST(queue_fifo_processes)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 64, 64 * 1024, false);
    child_handle = pp_queue_to_value(q);
    child_scratch = scratch_new();
    pid_t cons[NCONS], prod[NPROD];
    for (int i = 0; i < NCONS; i++)
        cons[i] = it_fork_child(child_consumer, NULL, i);
    /* And a consumer thread in this process. */
    struct consumer_thread ct = { q, NCONS, -1 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, consumer_thread_main, &ct), 0);
    for (int i = 0; i < NPROD; i++)
        prod[i] = it_fork_child(child_producer, NULL, i);
    for (int i = 0; i < NPROD; i++)
        assert_child_status_in(prod[i], PP_OK, 60000);
    /* Everything is in or taken: closing lets the consumers drain it. */
    it_assert_status(pp_queue_close(q), PP_OK);
    for (int i = 0; i < NCONS; i++)
        assert_child_status_in(cons[i], PP_OK, 60000);
    pthread_join(t, NULL);
    ck_assert_int_eq(ct.rc, 0);
    ck_assert(pp_queue_empty(q));

    /* Each producer's items in order at each consumer; every item once. */
    static unsigned char seen[NPROD][PER_PROD];
    memset(seen, 0, sizeof seen);
    size_t total = 0;
    for (int i = 0; i <= NCONS; i++) {
        int n = atomic_load(&child_scratch->n[i]);
        ck_assert_int_le(n, REC_MAX);
        int64_t last[NPROD];
        for (int p = 0; p < NPROD; p++)
            last[p] = -1;
        for (int j = 0; j < n; j++) {
            int64_t r = child_scratch->rec[i][j], p = r / 1000000, seq = r % 1000000;
            ck_assert_msg(seq > last[p], "consumer %d: producer %lld's item %lld after %lld", i,
                          (long long)p, (long long)seq, (long long)last[p]);
            last[p] = seq;
            ck_assert_msg(!seen[p][seq], "producer %lld's item %lld twice", (long long)p,
                          (long long)seq);
            seen[p][seq] = 1;
            total++;
        }
    }
    ck_assert_uint_eq(total, NPROD * PER_PROD);
    scratch_free(child_scratch);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* Gets one item (no time limit) and records it. */
static int child_get_one(void *arg, int i)
{
    (void)arg;
    pp_queue *q = child_queue();
    atomic_fetch_add(&child_scratch->ready, 1);
    pp_value *v = NULL;
    pp_status st = pp_queue_get(q, -1, &v);
    if (st != PP_OK)
        return st;
    int64_t x = -1;
    pp_value_to_int(v, &x);
    record(child_scratch, i, x);
    pp_value_free(v);
    pp_queue_free(q);
    return 0;
}

/* A consumer killed while it waits in get (holding the readers' lock):
 * the next consumer, already waiting for that lock, takes over, and the
 * queue works on. */
START_TEST(queue_consumer_killed_blocked)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    child_handle = pp_queue_to_value(q);
    child_scratch = scratch_new();
    struct rv rv;
    rv_open(&rv, 0);
    pid_t k1 = it_fork_child(child_get_one, NULL, 0);
    wait_ring(.v = &rv, .reader = k1, .readers_wait = true);
    pid_t k2 = it_fork_child(child_get_one, NULL, 1);
    /* k2 queues up behind k1 for the readers' lock. */
    wait_count(&child_scratch->ready, 2);
    wait_ring(.v = &rv, .reader = k1, .reader_lock_waiters = true);
    kill_reap(k1);
    put_int(q, 100, 0);
    assert_child_status(k2, PP_OK);
    ck_assert_int_eq(atomic_load(&child_scratch->n[1]), 1);
    ck_assert_int_eq(child_scratch->rec[1][0], 100);
    ck_assert_int_eq(atomic_load(&child_scratch->n[0]), 0);
    /* This process: every later item, in order. */
    for (int i = 0; i < 20; i++)
        put_int(q, i, 0);
    for (int i = 0; i < 20; i++)
        get_int(q, i);
    pp_value *v = NULL;
    it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);

    rv_close(&rv);
    scratch_free(child_scratch);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* The same with a helper client process (its own session: the daemon
 * hands its readers' lock over when it dies). */
START_TEST(queue_consumer_client_killed_blocked)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    pp_pool *hp = handle_pool(c, "it-qget", pp_queue_to_value(q));
    struct rv rv;
    rv_open(&rv, 0);
    const char *args[] = { "qget", "it-qget", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "ready ", &fd, line, sizeof line);
    /* It consumes. */
    put_int(q, 5, 0);
    expect_line(fd, "item 5");
    /* Now it waits in get. */
    wait_ring(.v = &rv, .reader = h, .readers_wait = true);
    kill_reap(h);
    close(fd);
    for (int i = 0; i < 10; i++)
        put_int(q, i, 0);
    for (int i = 0; i < 10; i++)
        get_int(q, i);
    /* The daemon's handing over left the lock marked, or the get above
     * found it dead; either way the lock is usable again. */
    pp_value *v = NULL;
    it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);
    rv_close(&rv);
    pp_pool_free(hp);
    pp_queue_free(q);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* ---- processes killed in the middle of a streamed message ---------------- */

#define BIG (8 * MiB)

/* ---- streamed messages back to back ------------------------------------- */

#define STREAM_N 100000
#define STREAM_SIZE 2900          /* three records in a 4 KiB ring */

struct stream_writer {
    pp_queue *q;
    pp_status st;
};

/* Puts STREAM_N BYTES items of STREAM_SIZE, each starting with its index. */
static void *stream_put_main(void *arg)
{
    struct stream_writer *w = arg;
    unsigned char buf[STREAM_SIZE];
    memset(buf, 0x5a, sizeof buf);
    w->st = PP_OK;
    for (int64_t k = 0; k < STREAM_N && w->st == PP_OK; k++) {
        memcpy(buf, &k, sizeof k);
        pp_value *v = pp_value_bytes(buf, sizeof buf);
        w->st = pp_queue_put(w->q, v, 30000);
        pp_value_free(v);
    }
    return NULL;
}

/* A writer thread streams message after message while the reader waits
 * for each one's next part: a reader that looked at an empty ring just before the
 * writer committed the last part and let go of its lock must not take
 * the writer for dead and drop the message (it did, a few times in
 * 100000, before ring.c looked at the ring again). */
START_TEST(queue_streamed_back_to_back)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 4096, false);
    struct stream_writer sw = { q, PP_EINTERNAL };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, stream_put_main, &sw), 0);
    /* No check call in the loop (each marks a point, a write to check's
     * pipe): the reader must keep up with the writer to wait for parts. */
    int64_t k = 0, got = -1;
    pp_status st = PP_OK;
    size_t len = 0;
    for (; k < STREAM_N; k++) {
        pp_value *v = NULL;
        if ((st = pp_queue_get(q, 30000, &v)) != PP_OK)
            break;
        const unsigned char *b = pp_value_get_bytes(v, &len);
        got = -1;
        if (b && len == STREAM_SIZE && b[len - 1] == 0x5a)
            memcpy(&got, b, sizeof got);
        pp_value_free(v);
        if (got != k)
            break;
    }
    it_assert_status(st, PP_OK);
    ck_assert_msg(k == STREAM_N, "want message %lld, got %lld (%zu bytes; -1: not a message "
                  "of this test)", (long long)k, (long long)got, len);
    pthread_join(t, NULL);
    it_assert_status(sw.st, PP_OK);
    ck_assert(pp_queue_empty(q));
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* Puts [k, BYTES(BIG, seed k)] for k in 0..n-1 (n = i / 1000), then the
 * ints 0..(i % 1000)-1. */
static int child_put_bigs(void *arg, int i)
{
    (void)arg;
    pp_queue *q = child_queue();
    int n = i / 1000, m = i % 1000;
    for (int k = 0; k < n; k++) {
        pp_value *v = list2(pp_value_int(k), pattern(BIG, (uint64_t)k));
        pp_status st = pp_queue_put(q, v, -1);
        pp_value_free(v);
        if (st != PP_OK)
            return st;
    }
    for (int k = 0; k < m; k++) {
        pp_value *v = pp_value_int(k);
        pp_status st = pp_queue_put(q, v, -1);
        pp_value_free(v);
        if (st != PP_OK)
            return st;
    }
    pp_queue_free(q);
    return 0;
}

/* Stops taking items once it recorded `limit` (then waits to be killed),
 * so that a kill that comes late still leaves items in the queue. */
static void stop_at(int i, int limit)
{
    if (limit && atomic_load(&child_scratch->n[i]) >= limit)
        for (;;)
            pause();
}

/* Gets until it recorded (intptr_t)arg items (0: for ever); records a big
 * message k as k, an int x as 1000 + x. */
static int child_get_bigs(void *arg, int i)
{
    pp_queue *q = child_queue();
    for (;;) {
        stop_at(i, (int)(intptr_t)arg);
        pp_value *v = NULL;
        pp_status st = pp_queue_get(q, -1, &v);
        if (st != PP_OK)
            return st;
        int64_t x = -1;
        if (pp_value_kind(v) == PP_LIST) {
            if (pp_value_to_int(pp_value_at(v, 0), &x) != PP_OK ||
                !is_pattern(pp_value_at(v, 1), BIG, (uint64_t)x))
                return 100;
        } else if (pp_value_to_int(v, &x) == PP_OK) {
            x += 1000;
        } else {
            return 100;
        }
        record(child_scratch, i, x);
        pp_value_free(v);
    }
}

/* Deterministic: a consumer killed while it assembles an 8 MiB message
 * (streamed through a 64 KiB ring) whose writer is stopped half way. The
 * message goes with it (the consumer took its first parts); the writer,
 * continued, finishes it and puts 100 more items, which all arrive. */
START_TEST(queue_consumer_killed_mid_stream)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 64 * 1024, false);
    child_handle = pp_queue_to_value(q);
    child_scratch = scratch_new();
    struct rv rv;
    rv_open(&rv, 0);
    pid_t w = it_fork_child(child_put_bigs, NULL, 1 * 1000 + 100);
    /* The ring is full of the message's first parts. */
    wait_ring(.v = &rv, .writer = w, .writers_wait = true, .tail_at_least = 40 * 1024);
    ck_assert_int_eq(kill(w, SIGSTOP), 0);
    pid_t r = it_fork_child(child_get_bigs, NULL, 0);
    /* r took all there was (three 16 KiB parts fit) and waits for the rest. */
    wait_ring(.v = &rv, .reader = r, .readers_wait = true, .drained = true,
              .head_at_least = 40 * 1024);
    ck_assert_uint_lt(atomic_load(&rv_hdr(&rv)->head), BIG);
    kill_reap(r);
    ck_assert_int_eq(atomic_load(&child_scratch->n[0]), 0);
    ck_assert_int_eq(kill(w, SIGCONT), 0);
    for (int i = 0; i < 100; i++)
        get_int(q, i);
    assert_child_status(w, PP_OK);
    pp_value *v = NULL;
    it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);
    ck_assert_uint_eq(pp_queue_qsize(q), 0);
    /* And it goes on: a whole big message both ways. */
    child_scratch->n[1] = 0;
    r = it_fork_child(child_get_bigs, NULL, 1);
    w = it_fork_child(child_put_bigs, NULL, 2 * 1000 + 1);
    assert_child_status_in(w, PP_OK, 30000);
    wait_count(&child_scratch->n[1], 3);
    kill_reap(r);
    ck_assert_int_eq(atomic_load(&child_scratch->n[1]), 3);
    ck_assert_int_eq(child_scratch->rec[1][0], 0);
    ck_assert_int_eq(child_scratch->rec[1][1], 1);
    ck_assert_int_eq(child_scratch->rec[1][2], 1000);

    rv_close(&rv);
    scratch_free(child_scratch);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* Not timed: a consumer of 8 MiB messages killed when the ring's head
 * passes a point that moves every round, so mostly in the middle of
 * copying one. At most the message it was in is lost; every other one,
 * and every small item after them, arrives exactly once and whole. */
#define KILL_ROUNDS 5
#define KILL_BIGS 5
#define KILL_INTS 50

START_TEST(queue_consumer_killed_while_copying)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    child_handle = pp_queue_to_value(q);
    child_scratch = scratch_new();
    struct rv rv;
    rv_open(&rv, 0);
    unsigned seed = (unsigned)getpid();
    for (int round = 0; round < KILL_ROUNDS; round++) {
        atomic_store(&child_scratch->n[0], 0);
        uint64_t base = atomic_load(&rv_hdr(&rv)->head);
        /* Somewhere in messages 1..KILL_BIGS-2. */
        uint64_t at = base + BIG + (uint64_t)(rand_r(&seed) % ((KILL_BIGS - 3) * BIG));
        /* It leaves the last message at least, whenever the kill comes. */
        pid_t r = it_fork_child(child_get_bigs, (void *)(intptr_t)(KILL_BIGS - 1), 0);
        pid_t w = it_fork_child(child_put_bigs, NULL, KILL_BIGS * 1000 + KILL_INTS);
        int64_t end = it_now_ms() + 30000;
        while (atomic_load(&rv_hdr(&rv)->head) < at && it_now_ms() < end)
            sched_yield();
        ck_assert_msg(atomic_load(&rv_hdr(&rv)->head) >= at, "round %d: the consumer stalled",
                      round);
        kill_reap(r);
        /* The rest, here. */
        int64_t next_big = -1;
        int lost = 0, n = atomic_load(&child_scratch->n[0]);
        for (int j = 0; j < n; j++) {
            int64_t x = child_scratch->rec[0][j];
            ck_assert_msg(x == next_big + 1 || x == next_big + 2,
                          "round %d: the consumer got %lld after %lld", round, (long long)x,
                          (long long)next_big);
            lost += (int)(x - next_big - 1);
            next_big = x;
        }
        for (;;) {
            pp_value *v = NULL;
            it_assert_status(pp_queue_get(q, 30000, &v), PP_OK);
            int64_t x = -1;
            if (pp_value_kind(v) == PP_LIST) {
                it_assert_status(pp_value_to_int(pp_value_at(v, 0), &x), PP_OK);
                ck_assert_msg(is_pattern(pp_value_at(v, 1), BIG, (uint64_t)x),
                              "round %d: message %lld damaged", round, (long long)x);
                ck_assert_msg(x > next_big && x <= next_big + 2 - lost,
                              "round %d: message %lld after %lld (%d lost)", round,
                              (long long)x, (long long)next_big, lost);
                lost += (int)(x - next_big - 1);
                next_big = x;
                pp_value_free(v);
                continue;
            }
            /* The small items: all of them, in order. */
            lost += (int)(KILL_BIGS - 1 - next_big);
            ck_assert_msg(lost <= 1, "round %d: %d messages lost", round, lost);
            assert_int(v, 0);
            pp_value_free(v);
            for (int i = 1; i < KILL_INTS; i++)
                get_int(q, i);
            break;
        }
        assert_child_status_in(w, PP_OK, 30000);
        pp_value *v = NULL;
        it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);
        ck_assert_uint_eq(pp_queue_qsize(q), 0);
    }
    rv_close(&rv);
    scratch_free(child_scratch);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* Gets 200 KiB BYTES items (whole records in the 1 MiB ring) until it
 * recorded (intptr_t)arg of them, and records their seeds. */
static int child_get_mixed(void *arg, int i)
{
    pp_queue *q = child_queue();
    for (;;) {
        stop_at(i, (int)(intptr_t)arg);
        pp_value *v = NULL;
        pp_status st = pp_queue_get(q, -1, &v);
        if (st != PP_OK)
            return st;
        /* Seed k < 256: byte 0 is (k * 131) & 0xff, unique per k. */
        size_t len = 0;
        const unsigned char *b = pp_value_get_bytes(v, &len);
        int64_t k = -1;
        for (int64_t s = 0; b && len && s < 256; s++)
            if ((unsigned char)((s * 131) & 0xff) == b[0]) {
                k = is_pattern(v, 200 * 1024, (uint64_t)s) ? s : -1;
                break;
            }
        pp_value_free(v);
        if (k < 0)
            return 100;
        record(child_scratch, i, k);
    }
}

#define WHOLE_SIZE (200 * 1024)
#define WHOLE_N 40

/* Puts WHOLE_N items of WHOLE_SIZE bytes, seeds (i + k) % 256. */
static int child_put_whole(void *arg, int i)
{
    (void)arg;
    pp_queue *q = child_queue();
    for (int k = 0; k < WHOLE_N; k++) {
        pp_value *v = pattern(WHOLE_SIZE, (uint64_t)((i + k) % 256));
        pp_status st = pp_queue_put(q, v, -1);
        pp_value_free(v);
        if (st != PP_OK)
            return st;
    }
    pp_queue_free(q);
    return 0;
}

/* Whole records: a consumer killed at any moment of a get leaves what it
 * did not finish taking. No item is lost except, at most, the one it took
 * but had not recorded yet; none arrives twice, all in order. */
START_TEST(queue_consumer_killed_whole_records)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    child_handle = pp_queue_to_value(q);
    child_scratch = scratch_new();
    struct rv rv;
    rv_open(&rv, 0);
    unsigned seed = (unsigned)getpid() * 7;
    for (int round = 0; round < 6; round++) {
        int first = round * WHOLE_N;
        atomic_store(&child_scratch->n[0], 0);
        uint64_t at = atomic_load(&rv_hdr(&rv)->head) + 1 +
                      (uint64_t)(rand_r(&seed) % (20 * WHOLE_SIZE));
        pid_t r = it_fork_child(child_get_mixed, (void *)(intptr_t)(WHOLE_N - 10), 0);
        pid_t w = it_fork_child(child_put_whole, NULL, first);
        int64_t end = it_now_ms() + 30000;
        while (atomic_load(&rv_hdr(&rv)->head) < at && it_now_ms() < end)
            sched_yield();
        ck_assert_msg(atomic_load(&rv_hdr(&rv)->head) >= at, "round %d: the consumer stalled",
                      round);
        kill_reap(r);
        int got = atomic_load(&child_scratch->n[0]), lost = 0, expect = first;
        ck_assert_int_le(got, WHOLE_N - 10);
        for (int j = 0; j < got; j++, expect++)
            ck_assert_int_eq(child_scratch->rec[0][j], expect % 256);
        /* Here: the rest, perhaps after one the consumer took unrecorded. */
        pp_value *v = NULL;
        it_assert_status(pp_queue_get(q, IT_DEADLINE_MS, &v), PP_OK);
        if (!is_pattern(v, WHOLE_SIZE, (uint64_t)(expect % 256))) {
            expect++;
            lost++;
            ck_assert_msg(is_pattern(v, WHOLE_SIZE, (uint64_t)(expect % 256)),
                          "round %d: item %d is neither the next nor the one after", round,
                          expect);
        }
        pp_value_free(v);
        for (expect++; expect < first + WHOLE_N; expect++) {
            it_assert_status(pp_queue_get(q, IT_DEADLINE_MS, &v), PP_OK);
            ck_assert_msg(is_pattern(v, WHOLE_SIZE, (uint64_t)(expect % 256)),
                          "round %d: item %d wrong", round, expect);
            pp_value_free(v);
        }
        assert_child_status(w, PP_OK);
        it_assert_status(pp_queue_get(q, 0, &v), PP_ETIMEDOUT);
        ck_assert_uint_eq(pp_queue_qsize(q), 0);
        ck_assert_int_le(lost, 1);
    }
    rv_close(&rv);
    scratch_free(child_scratch);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* A writer killed in the middle of an 8 MiB message (streamed through a
 * 64 KiB ring nobody reads): the reader drops the partial message and
 * gets the next whole one. First with the partial message waiting in the
 * ring, then with a reader already assembling it when the writer dies. */
START_TEST(queue_writer_killed_mid_stream)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 64 * 1024, false);
    child_handle = pp_queue_to_value(q);
    struct rv rv;
    rv_open(&rv, 0);
    pid_t w = it_fork_child(child_put_bigs, NULL, 1000);
    wait_ring(.v = &rv, .writer = w, .writers_wait = true, .tail_at_least = 40 * 1024);
    kill_reap(w);
    ck_assert_uint_eq(pp_queue_qsize(q), 0);
    /* A get drops the dead message and, nothing else coming, times out
     * in time (it does not wait for the rest of a message whose writer
     * is gone). */
    pp_value *none = NULL;
    int64_t t0 = it_now_ms();
    it_assert_status(pp_queue_get(q, 300, &none), PP_ETIMEDOUT);
    ck_assert_int_lt(it_now_ms() - t0, 5000);
    ck_assert_uint_eq(atomic_load(&rv_hdr(&rv)->head), atomic_load(&rv_hdr(&rv)->tail));
    put_int(q, 6, 0);
    get_int(q, 6);

    /* Again, and this time the next put comes first: the ring is full of
     * the dead message, so it waits for a reader, which drops it. */
    w = it_fork_child(child_put_bigs, NULL, 1000);
    wait_ring(.v = &rv, .writer = w, .writers_wait = true,
              .tail_at_least = atomic_load(&rv_hdr(&rv)->tail) + 40 * 1024);
    kill_reap(w);
    struct op get = { .kind = OP_GET, .q = q, .timeout_ms = 20000 };
    op_start(&get);
    put_int(q, 7, IT_DEADLINE_MS);
    it_assert_status(op_join(&get), PP_OK);
    assert_int(get.v, 7);
    pp_value_free(get.v);
    ck_assert(pp_queue_empty(q));

    /* A reader mid-message when its writer dies. */
    uint64_t tail = atomic_load(&rv_hdr(&rv)->tail);
    w = it_fork_child(child_put_bigs, NULL, 1000);
    wait_ring(.v = &rv, .writer = w, .writers_wait = true, .tail_at_least = tail + 40 * 1024);
    ck_assert_int_eq(kill(w, SIGSTOP), 0);
    get = (struct op){ .kind = OP_GET, .q = q, .timeout_ms = 20000 };
    op_start(&get);
    wait_ring(.v = &rv, .reader = (pid_t)getpid(), .readers_wait = true, .drained = true);
    kill_reap(w);
    /* It notices, and waits for the next message. */
    put_int(q, 8, IT_DEADLINE_MS);
    it_assert_status(op_join(&get), PP_OK);
    assert_int(get.v, 8);
    pp_value_free(get.v);

    /* And a big one after all that. */
    pp_value *v = pattern(BIG, 3);
    get = (struct op){ .kind = OP_GET, .q = q, .timeout_ms = 20000 };
    op_start(&get);
    it_assert_status(pp_queue_put(q, v, IT_DEADLINE_MS), PP_OK);
    it_assert_status(op_join(&get), PP_OK);
    ck_assert(is_pattern(get.v, BIG, 3));
    pp_value_free(get.v);
    pp_value_free(v);
    ck_assert(pp_queue_empty(q));
    rv_close(&rv);
    pp_value_free(child_handle);
    pp_queue_free(q);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* The same with a helper client as the writer: the daemon hands its
 * writers' lock over when its session ends. */
START_TEST(queue_writer_client_killed_mid_stream)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 64 * 1024, false);
    pp_pool *hp = handle_pool(c, "it-qput", pp_queue_to_value(q));
    struct rv rv;
    rv_open(&rv, 0);
    const char *args[] = { "qput", "it-qput", "8388608", "1", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "putting ", &fd, line, sizeof line);
    wait_ring(.v = &rv, .writer = h, .writers_wait = true, .tail_at_least = 40 * 1024);
    kill_reap(h);
    close(fd);
    /* The daemon marked the dead writer's lock. */
    wait_ring(.v = &rv, .writer_dead = true);
    struct op get = { .kind = OP_GET, .q = q, .timeout_ms = 20000 };
    op_start(&get);
    put_int(q, 9, IT_DEADLINE_MS);
    it_assert_status(op_join(&get), PP_OK);
    assert_int(get.v, 9);
    pp_value_free(get.v);
    ck_assert(pp_queue_empty(q));
    rv_close(&rv);
    pp_pool_free(hp);
    pp_queue_free(q);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* A C task puts into a queue it received; this process gets the items.
 * And a task gets what this process put. */
START_TEST(queue_through_tasks)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_queue *q = new_queue(c, 16, 0, false);
    pp_value *h = pp_queue_to_value(q);
    pp_func *put = it_func("pt_q_put");
    pp_value *items = pp_value_list();
    for (int i = 0; i < 4; i++)
        pp_value_append(items, list3(pp_value_copy(h), pp_value_int(i * 1000), pp_value_int(300)));
    pp_map_opts mo = { .chunksize = 1, .star = true };
    pp_future *fut = NULL;
    it_assert_status(pp_pool_map_async(p, put, items, &mo, NULL, NULL, &fut), PP_OK);
    /* maxsize 16: the tasks wait for this process to take them. */
    int64_t next[4] = { 0, 1000, 2000, 3000 };
    for (int n = 0; n < 4 * 300; n++) {
        pp_value *v = NULL;
        it_assert_status(pp_queue_get(q, 20000, &v), PP_OK);
        int64_t x = -1;
        it_assert_status(pp_value_to_int(v, &x), PP_OK);
        pp_value_free(v);
        ck_assert(x >= 0 && x < 4000);
        ck_assert_msg(x == next[x / 1000], "got %lld, want %lld", (long long)x,
                      (long long)next[x / 1000]);
        next[x / 1000]++;
    }
    pp_value *res = NULL;
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 4);
    for (int i = 0; i < 4; i++)
        assert_int(pp_value_at(res, i), 300);
    pp_value_free(res);
    pp_future_free(fut);
    ck_assert(pp_queue_empty(q));

    /* The other way. */
    for (int i = 0; i < 10; i++)
        put_int(q, i * i, 0);
    pp_func *get = it_func("pt_q_get");
    pp_value *args = list3(pp_value_copy(h), pp_value_int(10), pp_value_int(5000));
    it_assert_status(pp_pool_apply(p, get, args, 20000, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), 10);
    for (int i = 0; i < 10; i++)
        assert_int(pp_value_at(res, i), i * i);
    pp_value_free(res);
    pp_value_free(args);
    /* Empty: the task's get times out. */
    args = list3(pp_value_copy(h), pp_value_int(1), pp_value_int(50));
    it_assert_status(pp_pool_apply(p, get, args, 20000, &res), PP_ETASK);
    ck_assert_msg(strstr(pp_last_error()->message, "PP_ETIMEDOUT"), "%s",
                  pp_last_error()->message);
    pp_value_free(args);

    pp_func_free(get);
    pp_func_free(put);
    pp_value_free(items);
    pp_value_free(h);
    pp_queue_free(q);
    pp_pool_free(p);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* ==== pipes ========================================================================= */

static void send_int(pp_conn *k, int64_t x)
{
    pp_value *v = pp_value_int(x);
    it_assert_status(pp_conn_send(k, v), PP_OK);
    pp_value_free(v);
}

static void recv_int(pp_conn *k, int64_t want)
{
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(k, IT_DEADLINE_MS, &v), PP_OK);
    assert_int(v, want);
    pp_value_free(v);
}

static void recv_string(pp_conn *k, const char *want)
{
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(k, IT_DEADLINE_MS, &v), PP_OK);
    const char *s = pp_value_get_string(v, NULL);
    ck_assert_msg(s && !strcmp(s, want), "got %s, want \"%s\"", pp_value_repr(v), want);
    pp_value_free(v);
}

START_TEST(pipe_duplex)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, true, &a, &b), PP_OK);
    /* Two rings and an end segment per end. */
    ck_assert_uint_eq(shm_entries(), 3);
    ck_assert(pp_conn_readable(a) && pp_conn_writable(a));
    ck_assert(pp_conn_readable(b) && pp_conn_writable(b));

    /* Both ways, in order, never merged. */
    it_assert_status(pp_conn_poll(b, 0), PP_ETIMEDOUT);
    for (int i = 0; i < 100; i++)
        send_int(a, i);
    pp_value *s = pp_value_string("back");
    it_assert_status(pp_conn_send(b, s), PP_OK);
    pp_value_free(s);
    it_assert_status(pp_conn_poll(b, 0), PP_OK);
    it_assert_status(pp_conn_poll(b, 100), PP_OK);    /* poll takes nothing */
    for (int i = 0; i < 100; i++)
        recv_int(b, i);
    it_assert_status(pp_conn_poll(b, 0), PP_ETIMEDOUT);
    recv_string(a, "back");

    /* Bytes: each message its own length, the empty one included. */
    const char *msgs[] = { "x", "yy", "", "zzz", "" };
    for (int i = 0; i < 5; i++)
        it_assert_status(pp_conn_send_bytes(b, msgs[i], strlen(msgs[i])), PP_OK);
    it_assert_status(pp_conn_send_bytes(b, NULL, 0), PP_OK);
    for (int i = 0; i < 6; i++) {
        void *data = NULL;
        size_t len = 99;
        it_assert_status(pp_conn_recv_bytes(a, 0, &data, &len), PP_OK);
        const char *want = i < 5 ? msgs[i] : "";
        ck_assert_uint_eq(len, strlen(want));
        ck_assert_ptr_nonnull(data);
        ck_assert_int_eq(memcmp(data, want, len), 0);
        free(data);
    }
    /* A value's message read as bytes is its encoding; bytes read as a
     * value are not a value: PP_EPROTO, and that message is gone. */
    send_int(a, 12345);
    void *data = NULL;
    size_t len = 0;
    it_assert_status(pp_conn_recv_bytes(b, 0, &data, &len), PP_OK);
    ck_assert_uint_gt(len, 0);
    free(data);
    it_assert_status(pp_conn_send_bytes(a, "\xff\xff\xff\xff", 4), PP_OK);
    it_assert_status(pp_conn_send_bytes(a, "", 0), PP_OK);
    send_int(a, 6);
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(b, 0, &v), PP_EPROTO);
    ck_assert_ptr_null(v);
    it_assert_status(pp_conn_recv(b, 0, &v), PP_EPROTO);
    recv_int(b, 6);

    /* Timeouts. */
    it_assert_status(pp_conn_recv(b, 0, &v), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_conn_recv_bytes(b, 150, &data, &len), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 140 && ms < 5000, "a 150 ms recv returned after %lld ms", (long long)ms);
    t0 = it_now_ms();
    it_assert_status(pp_conn_poll(a, 100), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 90);

    /* A blocked recv takes the next message. */
    struct op r = { .kind = OP_RECV, .k = a, .timeout_ms = 20000 };
    op_start(&r);
    struct rv rv;
    rv_open(&rv, RING_BYTES(MiB));      /* a reads the second ring */
    wait_ring(.v = &rv, .readers_wait = true);
    send_int(b, 77);
    it_assert_status(op_join(&r), PP_OK);
    assert_int(r.v, 77);
    pp_value_free(r.v);
    rv_close(&rv);

    /* Misuse. */
    pp_conn *x = NULL;
    it_assert_status(pp_pipe(NULL, true, &x, &x), PP_EINVAL);
    it_assert_status(pp_pipe(c, true, NULL, &x), PP_EINVAL);
    it_assert_status(pp_pipe(c, true, &x, NULL), PP_EINVAL);
    ck_assert_ptr_null(x);
    v = pp_value_int(1);
    it_assert_status(pp_conn_send(NULL, v), PP_EINVAL);
    pp_value_free(v);
    it_assert_status(pp_conn_send_bytes(NULL, "a", 1), PP_EINVAL);
    it_assert_status(pp_conn_send_bytes(a, NULL, 3), PP_EINVAL);
    it_assert_status(pp_conn_recv(NULL, 0, &v), PP_EINVAL);
    it_assert_status(pp_conn_recv(a, 0, NULL), PP_EINVAL);
    it_assert_status(pp_conn_recv_bytes(NULL, 0, &data, &len), PP_EINVAL);
    it_assert_status(pp_conn_recv_bytes(a, 0, NULL, &len), PP_EINVAL);
    it_assert_status(pp_conn_recv_bytes(a, 0, &data, NULL), PP_EINVAL);
    it_assert_status(pp_conn_poll(NULL, 0), PP_EINVAL);
    ck_assert(!pp_conn_readable(NULL));
    ck_assert(!pp_conn_writable(NULL));
    ck_assert_ptr_null(pp_conn_to_value(NULL));
    pp_conn_close(NULL);
    ck_assert_uint_eq(shm_entries(), 3);

    pp_conn_close(a);
    pp_conn_close(b);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

START_TEST(pipe_one_way)
{
    pp_client *c = it_client(D.url);
    pp_conn *r = NULL, *w = NULL;
    it_assert_status(pp_pipe(c, false, &r, &w), PP_OK);
    ck_assert_uint_eq(shm_entries(), 3);
    ck_assert(pp_conn_readable(r) && !pp_conn_writable(r));
    ck_assert(!pp_conn_readable(w) && pp_conn_writable(w));
    pp_value *v = pp_value_int(1), *got = NULL;
    void *data = NULL;
    size_t len = 0;
    it_assert_status(pp_conn_send(r, v), PP_EPERM);
    it_assert_status(pp_conn_send_bytes(r, "a", 1), PP_EPERM);
    it_assert_status(pp_conn_recv(w, 0, &got), PP_EPERM);
    it_assert_status(pp_conn_recv_bytes(w, 0, &data, &len), PP_EPERM);
    it_assert_status(pp_conn_poll(w, 0), PP_EPERM);
    it_assert_status(pp_conn_send(w, v), PP_OK);
    it_assert_status(pp_conn_send_bytes(w, "ab", 2), PP_OK);
    recv_int(r, 1);
    it_assert_status(pp_conn_recv_bytes(r, 0, &data, &len), PP_OK);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(data, "ab", 2), 0);
    free(data);
    /* The handles keep the direction. */
    pp_value *hr = pp_conn_to_value(r), *hw = pp_conn_to_value(w);
    ck_assert_int_eq(pp_value_handle_type(hr), PP_H_CONNECTION);
    pp_conn *r2 = NULL, *w2 = NULL;
    it_assert_status(pp_conn_from_value(c, hr, &r2), PP_OK);
    it_assert_status(pp_conn_from_value(c, hw, &w2), PP_OK);
    ck_assert(pp_conn_readable(r2) && !pp_conn_writable(r2));
    ck_assert(!pp_conn_readable(w2) && pp_conn_writable(w2));
    it_assert_status(pp_conn_send(r2, v), PP_EPERM);
    it_assert_status(pp_conn_recv(w2, 0, &got), PP_EPERM);
    send_int(w2, 2);
    recv_int(r, 2);
    send_int(w, 3);
    recv_int(r2, 3);
    pp_value_free(hr);
    pp_value_free(hw);
    pp_conn_close(r2);
    pp_conn_close(w2);
    pp_value_free(v);
    pp_conn_close(r);
    pp_conn_close(w);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* The other end closed everywhere: what it sent still comes, then EOF;
 * sending to it fails. Waiting calls return at once. */
START_TEST(pipe_eof_and_closed)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, true, &a, &b), PP_OK);
    send_int(b, 1);
    send_int(b, 2);
    pp_conn_close(b);
    ck_assert_uint_eq(shm_entries(), 2);      /* b's end segment went */
    it_assert_status(pp_conn_poll(a, 0), PP_OK);
    recv_int(a, 1);
    recv_int(a, 2);
    pp_value *v = NULL;
    void *data = NULL;
    size_t len = 0;
    it_assert_status(pp_conn_recv(a, 5000, &v), PP_EEOF);
    it_assert_status(pp_conn_recv_bytes(a, -1, &data, &len), PP_EEOF);
    it_assert_status(pp_conn_poll(a, -1), PP_EEOF);
    v = pp_value_int(3);
    it_assert_status(pp_conn_send(a, v), PP_ECLOSED);
    it_assert_status(pp_conn_send_bytes(a, "x", 1), PP_ECLOSED);
    pp_conn_close(a);
    ck_assert_uint_eq(shm_entries(), 0);

    /* A recv waiting when the other end closes. */
    it_assert_status(pp_pipe(c, false, &a, &b), PP_OK);
    struct rv rv;
    rv_open(&rv, 0);
    struct op r = { .kind = OP_RECV, .k = a, .timeout_ms = 30000 };
    op_start(&r);
    wait_ring(.v = &rv, .readers_wait = true);
    int64_t t0 = it_now_ms();
    pp_conn_close(b);
    it_assert_status(op_join(&r), PP_EEOF);
    ck_assert_int_lt(r.t_done - t0, 2000);
    rv_close(&rv);
    pp_conn_close(a);

    /* A send waiting for room when the reader closes. 3 x 400 KiB do not
     * fit in the 1 MiB ring. */
    it_assert_status(pp_pipe(c, false, &a, &b), PP_OK);
    rv_open(&rv, 0);
    static char chunk[400 * 1024];
    for (int i = 0; i < 2; i++)
        it_assert_status(pp_conn_send_bytes(b, chunk, sizeof chunk), PP_OK);
    struct op s = { .kind = OP_SEND_BYTES, .k = b, .data = chunk, .len = sizeof chunk };
    op_start(&s);
    wait_ring(.v = &rv, .writers_wait = true);
    t0 = it_now_ms();
    pp_conn_close(a);
    it_assert_status(op_join(&s), PP_ECLOSED);
    ck_assert_int_lt(s.t_done - t0, 2000);
    it_assert_status(pp_conn_send(b, v), PP_ECLOSED);
    rv_close(&rv);
    pp_conn_close(b);
    pp_value_free(v);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* Messages of 0 bytes to 16 MiB + 1 through the 1 MiB rings, each whole. */
struct bytes_reader {
    pp_conn *k;
    const size_t *sizes;
    size_t n;
    size_t bad;
    pp_status st;
};

static void *bytes_main(void *arg)
{
    struct bytes_reader *r = arg;
    for (size_t i = 0; i < r->n; i++) {
        void *data = NULL;
        size_t len = 0;
        if ((r->st = pp_conn_recv_bytes(r->k, 30000, &data, &len)) != PP_OK) {
            r->bad = i + 1;
            return NULL;
        }
        bool ok = is_pattern_bytes(data, len, r->sizes[i], i);
        free(data);
        if (!ok) {
            r->bad = i + 1;
            return NULL;
        }
    }
    return NULL;
}

START_TEST(pipe_message_sizes)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, true, &a, &b), PP_OK);
    size_t cmax = MiB / 4;
    size_t sizes[] = { 0, 1, 7, 8, 9, cmax - 8, cmax - 1, cmax, cmax + 1, cmax + 8, MiB - 200,
                       MiB, MiB + 1, 3 * MiB + 5, 16 * MiB, 0, 16 * MiB + 1, 2 };
    size_t n = sizeof sizes / sizeof *sizes;
    struct bytes_reader r = { b, sizes, n, 0, PP_OK };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, bytes_main, &r), 0);
    for (size_t i = 0; i < n; i++) {
        pp_value *v = pattern(sizes[i], i);
        size_t len = 0;
        const void *data = pp_value_get_bytes(v, &len);
        it_assert_status(pp_conn_send_bytes(a, data, len), PP_OK);
        pp_value_free(v);
    }
    pthread_join(t, NULL);
    it_assert_status(r.st, PP_OK);
    ck_assert_msg(r.bad == 0, "message %zu (%zu bytes) came out wrong", r.bad - 1,
                  sizes[r.bad - 1]);
    /* A 16 MiB value the other way. */
    pp_value *big = pattern(16 * MiB, 1);
    struct op s = { .kind = OP_SEND, .k = b, .v = big };
    op_start(&s);
    pp_value *got = NULL;
    it_assert_status(pp_conn_recv(a, 30000, &got), PP_OK);
    it_assert_status(op_join_in(&s, 30000), PP_OK);
    ck_assert(is_pattern(got, 16 * MiB, 1));
    pp_value_free(got);
    pp_value_free(big);
    it_assert_status(pp_conn_poll(a, 0), PP_ETIMEDOUT);
    it_assert_status(pp_conn_poll(b, 0), PP_ETIMEDOUT);
    pp_conn_close(a);
    pp_conn_close(b);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* An echo server in a forked child on the end it was given (mapped, no
 * client): sends ints back doubled and anything else as it came; stops at
 * -1. */
static int child_echo(void *arg, int i)
{
    (void)arg;
    (void)i;
    pp_conn *k = child_conn();
    for (;;) {
        pp_value *v = NULL;
        pp_status st = pp_conn_recv(k, 20000, &v);
        if (st != PP_OK)
            return st;
        int64_t x;
        if (pp_value_to_int(v, &x) == PP_OK) {
            pp_value_free(v);
            if (x == -1)
                break;
            v = pp_value_int(2 * x);
        }
        st = pp_conn_send(k, v);
        pp_value_free(v);
        if (st != PP_OK)
            return st;
    }
    pp_conn_close(k);
    return 0;
}

START_TEST(pipe_across_fork)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, true, &a, &b), PP_OK);
    child_handle = pp_conn_to_value(b);
    pid_t k = it_fork_child(child_echo, NULL, 0);
    for (int i = 0; i < 500; i++) {
        send_int(a, i);
        if (i % 50 == 49)
            for (int j = i - 49; j <= i; j++)
                recv_int(a, 2 * j);
    }
    pp_value *big = pattern(3 * MiB + 3, 4);
    struct op s = { .kind = OP_SEND, .k = a, .v = big };
    op_start(&s);
    pp_value *got = NULL;
    it_assert_status(pp_conn_recv(a, 30000, &got), PP_OK);
    it_assert_status(op_join_in(&s, 30000), PP_OK);
    ck_assert(is_pattern(got, 3 * MiB + 3, 4));
    pp_value_free(got);
    pp_value_free(big);
    send_int(a, -1);
    assert_child_status(k, PP_OK);
    /* The child held no daemon reference: b (here) still stands. */
    it_assert_status(pp_conn_poll(a, 0), PP_ETIMEDOUT);
    pp_conn_close(b);
    it_assert_status(pp_conn_poll(a, IT_DEADLINE_MS), PP_EEOF);
    pp_conn_close(a);
    pp_value_free(child_handle);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

/* The end b of a duplex pipe passed to a helper client; this process
 * closes its own b first. Nothing changes for a until the helper dies
 * (SIGKILL): then a reads what is left, then EOF, and cannot send. */
START_TEST(pipe_peer_killed_after_parent_closed)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, true, &a, &b), PP_OK);
    pp_pool *hp = handle_pool(c, "it-end", pp_conn_to_value(b));
    const char *args[] = { "connhold", "it-end", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "held ", &fd, line, sizeof line);
    pp_conn_close(b);
    /* The helper's "hello", then nothing: no EOF while it holds b. */
    recv_string(a, "hello");
    it_assert_status(pp_conn_poll(a, 200), PP_ETIMEDOUT);
    send_int(a, 1);
    ck_assert_uint_eq(shm_entries(), 3);
    kill_reap(h);
    close(fd);
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(a, IT_DEADLINE_MS, &v), PP_EEOF);
    it_assert_status(pp_conn_poll(a, 0), PP_EEOF);
    v = pp_value_int(2);
    it_assert_status(pp_conn_send(a, v), PP_ECLOSED);
    pp_value_free(v);
    pp_conn_close(a);
    pp_pool_free(hp);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* The helper closes its end (and lives on): EOF all the same. */
START_TEST(pipe_peer_closed_by_helper)
{
    pp_client *c = it_client(D.url);
    pp_conn *a = NULL, *b = NULL;
    it_assert_status(pp_pipe(c, false, &a, &b), PP_OK);
    pp_pool *hp = handle_pool(c, "it-end", pp_conn_to_value(b));
    const char *args[] = { "connhold", "it-end", "close", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "held ", &fd, line, sizeof line);
    pp_conn_close(b);
    expect_line(fd, "closed");
    recv_string(a, "hello");
    it_assert_status(pp_conn_poll(a, IT_DEADLINE_MS), PP_EEOF);
    ck_assert(it_pid_alive(h));
    kill_reap(h);
    close(fd);
    pp_conn_close(a);
    pp_pool_free(hp);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* A pipe made by a helper, which passes one end here through a queue and
 * keeps the other: SIGKILLed, its end goes, and this one sees EOF. */
START_TEST(pipe_maker_killed)
{
    pp_client *c = it_client(D.url);
    pp_queue *q = new_queue(c, 0, 0, false);
    pp_pool *hp = handle_pool(c, "it-pipemake", pp_queue_to_value(q));
    const char *args[] = { "pipemake", "it-pipemake", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "ready ", &fd, line, sizeof line);
    pp_value *hv = NULL;
    it_assert_status(pp_queue_get(q, IT_DEADLINE_MS, &hv), PP_OK);
    ck_assert_int_eq(pp_value_handle_type(hv), PP_H_CONNECTION);
    pp_conn *a = NULL;
    it_assert_status(pp_conn_from_value(c, hv, &a), PP_OK);
    pp_value_free(hv);
    recv_string(a, "hello");
    it_assert_status(pp_conn_poll(a, 100), PP_ETIMEDOUT);
    send_int(a, 5);
    kill_reap(h);
    close(fd);
    it_assert_status(pp_conn_poll(a, IT_DEADLINE_MS), PP_EEOF);
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(a, 0, &v), PP_EEOF);
    v = pp_value_int(6);
    it_assert_status(pp_conn_send(a, v), PP_ECLOSED);
    pp_value_free(v);
    pp_conn_close(a);
    pp_pool_free(hp);
    pp_queue_free(q);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* A helper killed while it sends 16 MiB (the ring full, this process not
 * reading yet), after this process closed its copy of the write end: the
 * partial message is dropped and the reader gets EOF, not a piece. */
START_TEST(pipe_writer_killed_mid_message)
{
    pp_client *c = it_client(D.url);
    pp_conn *r = NULL, *w = NULL;
    it_assert_status(pp_pipe(c, false, &r, &w), PP_OK);
    pp_pool *hp = handle_pool(c, "it-end", pp_conn_to_value(w));
    const char *args[] = { "connhold", "it-end", "send", "16777216", NULL };
    int fd = -1;
    char line[128];
    pid_t h = spawn_helper(args, "held ", &fd, line, sizeof line);
    pp_conn_close(w);
    recv_string(r, "hello");
    struct rv rv;
    rv_open(&rv, 0);
    wait_ring(.v = &rv, .writer = h, .writers_wait = true, .tail_at_least = 700 * 1024);
    kill_reap(h);
    close(fd);
    void *data = NULL;
    size_t len = 0;
    it_assert_status(pp_conn_recv_bytes(r, IT_DEADLINE_MS, &data, &len), PP_EEOF);
    it_assert_status(pp_conn_poll(r, 0), PP_EEOF);
    rv_close(&rv);
    pp_conn_close(r);
    pp_pool_free(hp);
    assert_entries_become(0);
    pp_client_close(c);
}
END_TEST

/* ---- pp_conn_wait: multiprocessing.connection.wait ------------------------ */

static void *send_later_main(void *arg)
{
    send_int(arg, 7);
    return NULL;
}

static void assert_ready(const bool *ready, bool r0, bool r1)
{
    ck_assert_msg(ready[0] == r0 && ready[1] == r1, "ready = {%d, %d}, want {%d, %d}",
                  ready[0], ready[1], r0, r1);
}

START_TEST(pipe_wait)
{
    pp_client *c = it_client(D.url);
    pp_conn *a1, *b1, *a2, *b2, *r, *w;
    it_assert_status(pp_pipe(c, true, &a1, &b1), PP_OK);
    it_assert_status(pp_pipe(c, true, &a2, &b2), PP_OK);
    it_assert_status(pp_pipe(c, false, &r, &w), PP_OK);
    pp_conn *both[] = { b1, b2 };
    bool ready[2] = { true, true };

    /* Nothing yet: at once, or after the timeout. */
    it_assert_status(pp_conn_wait(both, 2, 0, ready), PP_ETIMEDOUT);
    assert_ready(ready, false, false);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_conn_wait(both, 2, 50, ready), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 45);

    /* Each end that has a message, and only those; wait takes nothing. */
    send_int(a2, 2);
    it_assert_status(pp_conn_wait(both, 2, 0, ready), PP_OK);
    assert_ready(ready, false, true);
    send_int(a1, 1);
    it_assert_status(pp_conn_wait(both, 2, -1, ready), PP_OK);
    assert_ready(ready, true, true);
    recv_int(b1, 1);
    recv_int(b2, 2);
    it_assert_status(pp_conn_wait(both, 2, 0, ready), PP_ETIMEDOUT);

    /* A message that comes while waiting, on the end not waited on first. */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, send_later_main, a2), 0);
    it_assert_status(pp_conn_wait(both, 2, IT_DEADLINE_MS, ready), PP_OK);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    assert_ready(ready, false, true);
    recv_int(b2, 7);

    /* EOF counts as ready (recv then says PP_EEOF). */
    pp_conn_close(a1);
    it_assert_status(pp_conn_wait(both, 2, IT_DEADLINE_MS, ready), PP_OK);
    assert_ready(ready, true, false);
    pp_value *v = NULL;
    it_assert_status(pp_conn_recv(b1, 0, &v), PP_EEOF);

    /* A write-only end is never ready; with only such ends a wait for
     * ever could never end. */
    pp_conn *ends[] = { w, r };
    it_assert_status(pp_conn_wait(ends, 2, 0, ready), PP_ETIMEDOUT);
    assert_ready(ready, false, false);
    send_int(w, 3);
    it_assert_status(pp_conn_wait(ends, 2, -1, ready), PP_OK);
    assert_ready(ready, false, true);
    it_assert_status(pp_conn_wait(ends, 1, 20, ready), PP_ETIMEDOUT);
    ck_assert(!ready[0]);
    it_assert_status(pp_conn_wait(ends, 1, -1, ready), PP_EINVAL);

    /* Bad arguments. */
    pp_conn *withnull[] = { b2, NULL };
    it_assert_status(pp_conn_wait(both, 0, 0, ready), PP_EINVAL);
    it_assert_status(pp_conn_wait(NULL, 2, 0, ready), PP_EINVAL);
    it_assert_status(pp_conn_wait(both, 2, 0, NULL), PP_EINVAL);
    it_assert_status(pp_conn_wait(withnull, 2, 0, ready), PP_EINVAL);

    pp_conn_close(b1);
    pp_conn_close(a2);
    pp_conn_close(b2);
    pp_conn_close(r);
    pp_conn_close(w);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-queue");
    TCase *tc = tcase_create("queues");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, queue_put_get);
    tcase_add_test(tc, queue_maxsize);
    tcase_add_test(tc, queue_close);
    tcase_add_test(tc, queue_joinable);
    tcase_add_test(tc, queue_joinable_processes);
    tcase_add_test(tc, queue_handles);
    tcase_add_test(tc, queue_nomap);
    tcase_add_test(tc, queue_message_sizes);
    tcase_add_test(tc, queue_through_tasks);
    suite_add_tcase(s, tc);

    tc = tcase_create("queue-processes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, queue_fifo_processes);
    tcase_add_test(tc, queue_streamed_back_to_back);
    tcase_add_test(tc, queue_consumer_killed_blocked);
    tcase_add_test(tc, queue_consumer_client_killed_blocked);
    tcase_add_test(tc, queue_consumer_killed_mid_stream);
    tcase_add_test(tc, queue_consumer_killed_while_copying);
    tcase_add_test(tc, queue_consumer_killed_whole_records);
    tcase_add_test(tc, queue_writer_killed_mid_stream);
    tcase_add_test(tc, queue_writer_client_killed_mid_stream);
    suite_add_tcase(s, tc);

    tc = tcase_create("pipes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pipe_duplex);
    tcase_add_test(tc, pipe_one_way);
    tcase_add_test(tc, pipe_eof_and_closed);
    tcase_add_test(tc, pipe_message_sizes);
    tcase_add_test(tc, pipe_across_fork);
    tcase_add_test(tc, pipe_peer_killed_after_parent_closed);
    tcase_add_test(tc, pipe_peer_closed_by_helper);
    tcase_add_test(tc, pipe_maker_killed);
    tcase_add_test(tc, pipe_writer_killed_mid_message);
    tcase_add_test(tc, pipe_wait);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
