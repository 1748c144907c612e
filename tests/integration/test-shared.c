/* test-shared.c - shared memory segments, the process-shared primitives,
 * and shared values and arrays (polypool.h "Shared memory",
 * "Synchronisation", "Shared values and arrays"): across threads, forked
 * processes, helper client processes, pool workers, and clients that do
 * not map memory (no_map).
 *
 * Forked children. nng is not fork-safe and the test process has used it
 * (the fixture connects to its daemon), so a child forked here never
 * touches a client: it only operates on objects already mapped in the
 * parent (pp_sync_* and pp_array_* work on the mapping alone) and leaves
 * with _exit(), its result in its exit code or in a scratch page.
 * PR_SET_PDEATHSIG keeps it from outliving a failed test.
 *
 * Helper clients with their own session (client-proc shmhold / hold) get
 * a primitive's handle from a named pool whose initializer is
 * pt_init(handle): pt_get_init hands it back to whoever runs it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
/* The slot layout, for looking at a lock word directly (wait_handed_over). */
#include "../../bindings/c/src/sync_core.h"

static it_daemon D;

static void setup(void)
{
    it_daemon_start(&D, NULL);
}

static void teardown(void)
{
    it_daemon_stop(&D);
}

/* ---- helpers --------------------------------------------------------- */

/* The segments of the daemon with that pid in /dev/shm
 * ("polypool.<uid>.<daemon pid>.<id>"). */
static size_t shm_entries_of(pid_t daemon)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "polypool.%u.%d.", (unsigned)geteuid(), (int)daemon);
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

/* The test daemon's segments. */
static size_t shm_entries(void)
{
    return shm_entries_of(D.pid);
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

static pp_client *nomap_client(void)
{
    pp_client_opts co = { .address = D.url, .no_autostart = true, .connect_timeout_ms = 5000,
                          .name = "it-nomap", .no_map = true };
    pp_client *c = NULL;
    it_assert_status(pp_client_open_opts(&co, &c), PP_OK);
    return c;
}

/* Bookkeeping shared with forked children. */
struct scratch {
    _Atomic int ready;        /* children that reached their wait */
    _Atomic int woken;        /* children past it */
    _Atomic int flag;
    _Atomic int index[8];     /* barrier indices, per child */
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
    ck_assert_msg(it_wait_until(count_reached, &c, IT_DEADLINE_MS), "count %d, want %d",
                  atomic_load(counter), want);
}

#define assert_child_status(pid, want) do {                                     \
        int got_ = it_child_exit((pid), IT_DEADLINE_MS);                            \
        ck_assert_msg(got_ == (int)(want), "child exited with %d (%s), want %s", \
                      got_, pp_status_name((pp_status)got_),                     \
                      pp_status_name((pp_status)(want)));                        \
    } while (0)

/* SIGKILL and reap. */
static void kill_reap(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int ws = 0;
    ck_assert(it_waitpid(pid, IT_DEADLINE_MS, &ws));
    ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
}

/* pp_sync_acquire in another thread (started now; joined by acq_join). */
struct acq {
    pp_sync *s;
    int timeout_ms;
    bool release;              /* release again once acquired */
    _Atomic bool started;
    pp_status st;
    int64_t ms;
    pthread_t t;
};

static void *acq_main(void *arg)
{
    struct acq *a = arg;
    atomic_store(&a->started, true);
    int64_t t0 = it_now_ms();
    a->st = pp_sync_acquire(a->s, a->timeout_ms);
    a->ms = it_now_ms() - t0;
    if (a->release && (a->st == PP_OK || a->st == PP_EOWNERDEAD))
        pp_sync_release(a->s);
    return NULL;
}

static void acq_start(struct acq *a, pp_sync *s, int timeout_ms, bool release)
{
    memset(a, 0, sizeof *a);
    a->s = s;
    a->timeout_ms = timeout_ms;
    a->release = release;
    ck_assert_int_eq(pthread_create(&a->t, NULL, acq_main, a), 0);
}

static pp_status acq_join(struct acq *a)
{
    pthread_join(a->t, NULL);
    return a->st;
}

/* A try-acquire from another thread, released again when it succeeds. */
static pp_status try_in_thread(pp_sync *s)
{
    struct acq a;
    acq_start(&a, s, 0, true);
    return acq_join(&a);
}

struct rel {
    pp_sync *s;
    pp_status st;
};

static void *rel_main(void *arg)
{
    struct rel *r = arg;
    r->st = pp_sync_release(r->s);
    return NULL;
}

static pp_status release_in_thread(pp_sync *s)
{
    struct rel r = { s, PP_OK };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, rel_main, &r), 0);
    pthread_join(t, NULL);
    return r.st;
}

/* Polls try-acquires until one does not time out. */
struct acq_poll {
    pp_sync *s;
    pp_status st;
};

static bool try_not_timed_out(void *arg)
{
    struct acq_poll *t = arg;
    t->st = pp_sync_acquire(t->s, 0);
    return t->st != PP_ETIMEDOUT;
}

/* The lock word of a segment's first slot: the holder's pid, PPS_DEAD once
 * handed over (white box: struct pps in sync_core.h). */
static bool lock_word_dead(void *arg)
{
    uint32_t a = 0;
    int fd = open(arg, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "%s: %s", (const char *)arg, strerror(errno));
    ck_assert_int_eq(pread(fd, &a, sizeof a, offsetof(struct pps, a)), (ssize_t)sizeof a);
    close(fd);
    return (a & PPS_PIDMASK) == PPS_DEAD;
}

/* Waits until the daemon hands over the lock whose holder died: the one
 * lock in the test daemon's only segment. Any acquire, even a try, looks
 * whether the holder lives by itself, so nothing touches the lock
 * meanwhile: this sees the daemon's own hand-over. */
static void wait_handed_over(void)
{
    char prefix[64], path[320] = "";
    snprintf(prefix, sizeof prefix, "polypool.%u.%d.", (unsigned)geteuid(), (int)D.pid);
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n++ == 0)
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
    closedir(d);
    ck_assert_msg(n == 1, "%zu segments, want the lock's only", n);
    ck_assert_msg(it_wait_until(lock_word_dead, path, IT_DEADLINE_MS),
                  "the daemon did not hand the lock of a dead holder over");
}

/* A named pool of one worker whose initializer keeps `handle` (consumed):
 * pt_get_init gives it to any client that attaches. */
static pp_pool *handle_pool(pp_client *c, const char *name, pp_value *handle)
{
    pp_func *init = it_func("pt_init");
    pp_value *initargs = pp_value_list();
    it_assert_status(pp_value_append(initargs, handle), PP_OK);
    pp_pool_opts po = { .size = 1, .initializer = init, .initargs = initargs };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_open_named(c, name, &po, &p), PP_OK);
    pp_value_free(initargs);
    pp_func_free(init);
    return p;
}

/* client-proc URL hold POOL [close]; returns its pid once it holds the
 * lock. */
static pid_t spawn_holder_opts(const char *pool, bool no_map, bool close_client)
{
    const char *argv[] = { getenv("IT_CLIENT_PROC"), D.url, "hold", pool,
                           close_client ? "close" : NULL, NULL };
    const char *env[] = { no_map ? "POLYPOOL_NO_MAP=1" : "POLYPOOL_NO_MAP=", NULL };
    ck_assert_ptr_nonnull(argv[0]);
    int fd = -1;
    pid_t pid = it_spawn(argv, env, &fd);
    char line[64];
    bool ok = it_read_line(fd, line, sizeof line, IT_DEADLINE_MS);
    close(fd);
    if (!ok)
        kill(pid, SIGKILL);
    ck_assert_msg(ok, "the helper did not take the lock");
    ck_assert_msg(strncmp(line, "held ", 5) == 0, "helper said: %s", line);
    return pid;
}

static pid_t spawn_holder(const char *pool, bool no_map)
{
    return spawn_holder_opts(pool, no_map, false);
}

struct session_of {
    it_raw *r;
    pid_t pid;
};

static bool no_session_of(void *arg)
{
    struct session_of *so = arg;
    Polypool__V1__Reply *rep = it_status(so->r);
    bool none = !it_status_client_pid(rep->status_reply, so->pid);
    it_status_free(rep);
    return none;
}

/* Waits until the daemon has no session of process pid. */
static void wait_no_session(pid_t pid)
{
    it_raw r;
    it_status_open(&r, D.url);
    struct session_of so = { &r, pid };
    ck_assert_msg(it_wait_until(no_session_of, &so, IT_DEADLINE_MS),
                  "process %d still has a session", (int)pid);
    it_raw_close(&r);
}

/* The daemon's view of the no_map client's session ("it-nomap"). */
static bool nomap_parked(void *arg)
{
    it_raw *r = arg;
    Polypool__V1__Reply *rep = it_status(r);
    const Polypool__V1__StatusReply *st = rep->status_reply;
    bool parked = false;
    for (size_t i = 0; i < st->n_clients; i++)
        if (!strcmp(st->clients[i]->name, "it-nomap") && st->clients[i]->parked > 0)
            parked = true;
    it_status_free(rep);
    return parked;
}

/* Waits until the no_map client has a request parked in the daemon. */
static void wait_nomap_parked(void)
{
    it_raw r;
    it_status_open(&r, D.url);
    ck_assert_msg(it_wait_until(nomap_parked, &r, IT_DEADLINE_MS),
                  "the no_map client's call never waited in the daemon");
    it_raw_close(&r);
}

static pp_value *list_of(pp_value *a, pp_value *b, pp_value *c)
{
    pp_value *l = pp_value_list();
    pp_value_append(l, a);
    if (b)
        pp_value_append(l, b);
    if (c)
        pp_value_append(l, c);
    return l;
}

/* ---- segments ------------------------------------------------------------ */

START_TEST(shm_create_attach)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_shm *sa = NULL, *sb = NULL;
    it_assert_status(pp_shm_create(a, "it-seg", 4096, &sa), PP_OK);
    ck_assert_uint_eq(pp_shm_size(sa), 4096);
    ck_assert_str_eq(pp_shm_name(sa), "it-seg");
    unsigned char *pa = pp_shm_data(sa);
    ck_assert_ptr_nonnull(pa);
    for (size_t i = 0; i < 4096; i++)
        ck_assert_uint_eq(pa[i], 0);

    /* Another client attaches by name: its own mapping of the same memory. */
    it_assert_status(pp_shm_attach(b, "it-seg", &sb), PP_OK);
    ck_assert_uint_eq(pp_shm_size(sb), 4096);
    ck_assert_str_eq(pp_shm_name(sb), "it-seg");
    unsigned char *pb = pp_shm_data(sb);
    ck_assert_ptr_nonnull(pb);
    ck_assert_ptr_ne(pa, pb);
    memcpy(pa + 100, "hello", 5);
    ck_assert_int_eq(memcmp(pb + 100, "hello", 5), 0);
    char buf[8] = { 0 };
    it_assert_status(pp_shm_read(sb, 100, buf, 5), PP_OK);
    ck_assert_str_eq(buf, "hello");
    it_assert_status(pp_shm_write(sb, 4090, "world!", 6), PP_OK);
    ck_assert_int_eq(memcmp(pa + 4090, "world!", 6), 0);
    ck_assert_uint_eq(shm_entries(), 1);

    /* Anonymous segments: no name, any size from 1 byte. */
    pp_shm *an1 = NULL, *an2 = NULL;
    it_assert_status(pp_shm_create(a, NULL, 1, &an1), PP_OK);
    it_assert_status(pp_shm_create(a, "", 3 << 20, &an2), PP_OK);
    ck_assert_str_eq(pp_shm_name(an1), "");
    ck_assert_str_eq(pp_shm_name(an2), "");
    ck_assert_uint_eq(pp_shm_size(an1), 1);
    ck_assert_uint_eq(pp_shm_size(an2), 3 << 20);
    ((char *)pp_shm_data(an2))[(3 << 20) - 1] = 7;
    ck_assert_uint_eq(shm_entries(), 3);

    pp_shm_close(an1);
    pp_shm_close(an2);
    pp_shm_close(sa);
    /* b's reference keeps it. */
    ck_assert_uint_eq(shm_entries(), 1);
    ck_assert_int_eq(memcmp(pb + 100, "hello", 5), 0);
    pp_shm_close(sb);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_shm_close(NULL);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

START_TEST(shm_errors)
{
    pp_client *c = it_client(D.url);
    pp_shm *s = NULL, *t = NULL;
    it_assert_status(pp_shm_create(c, "it-seg", 0, &s), PP_EINVAL);
    it_assert_status(pp_shm_create(c, NULL, 0, &s), PP_EINVAL);
    it_assert_status(pp_shm_create(c, "a/b", 64, &s), PP_EINVAL);
    it_assert_status(pp_shm_create(c, "/it-seg", 64, &s), PP_EINVAL);
    char longname[202];
    memset(longname, 'n', 201);
    longname[201] = 0;
    it_assert_status(pp_shm_create(c, longname, 64, &s), PP_EINVAL);
    longname[200] = 0;
    it_assert_status(pp_shm_create(c, longname, 64, &s), PP_OK);
    pp_shm_close(s);
    it_assert_status(pp_shm_create(NULL, "x", 64, &s), PP_EINVAL);
    it_assert_status(pp_shm_create(c, "x", 64, NULL), PP_EINVAL);
    ck_assert_ptr_null(t);

    it_assert_status(pp_shm_create(c, "it-seg", 128, &s), PP_OK);
    it_assert_status(pp_shm_create(c, "it-seg", 128, &t), PP_EEXIST);
    it_assert_status(pp_shm_create(c, "it-seg", 64, &t), PP_EEXIST);
    it_assert_status(pp_shm_attach(c, "it-nope", &t), PP_ENOENT);
    ck_assert_msg(strstr(pp_last_error()->message, "it-nope"), "message: %s",
                  pp_last_error()->message);
    it_assert_status(pp_shm_attach(c, "", &t), PP_EINVAL);
    it_assert_status(pp_shm_attach(c, NULL, &t), PP_EINVAL);
    it_assert_status(pp_shm_unlink(c, "it-nope"), PP_ENOENT);
    it_assert_status(pp_shm_unlink(c, ""), PP_EINVAL);
    ck_assert_ptr_null(t);

    /* Unlinking removes the name, not the memory. */
    memcpy(pp_shm_data(s), "old", 3);
    it_assert_status(pp_shm_unlink(c, "it-seg"), PP_OK);
    it_assert_status(pp_shm_attach(c, "it-seg", &t), PP_ENOENT);
    it_assert_status(pp_shm_unlink(c, "it-seg"), PP_ENOENT);
    ck_assert_int_eq(memcmp(pp_shm_data(s), "old", 3), 0);
    ck_assert_uint_eq(shm_entries(), 1);
    /* The name is free for a new segment. */
    it_assert_status(pp_shm_create(c, "it-seg", 64, &t), PP_OK);
    ck_assert_int_eq(((char *)pp_shm_data(t))[0], 0);
    memcpy(pp_shm_data(t), "new", 3);
    ck_assert_int_eq(memcmp(pp_shm_data(s), "old", 3), 0);
    ck_assert_uint_eq(shm_entries(), 2);
    pp_shm_close(s);
    pp_shm_close(t);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c);
}
END_TEST

START_TEST(shm_bounds)
{
    pp_client *c = it_client(D.url);
    pp_shm *s = NULL;
    it_assert_status(pp_shm_create(c, NULL, 100, &s), PP_OK);
    char buf[200];
    memset(buf, 'x', sizeof buf);
    it_assert_status(pp_shm_write(s, 90, buf, 10), PP_OK);
    it_assert_status(pp_shm_read(s, 0, buf, 100), PP_OK);
    ck_assert_int_eq(buf[89], 0);
    ck_assert_int_eq(buf[90], 'x');
    ck_assert_int_eq(buf[99], 'x');
    it_assert_status(pp_shm_write(s, 91, buf, 10), PP_EINVAL);
    it_assert_status(pp_shm_read(s, 91, buf, 10), PP_EINVAL);
    it_assert_status(pp_shm_read(s, 0, buf, 101), PP_EINVAL);
    it_assert_status(pp_shm_read(s, 101, buf, 0), PP_EINVAL);
    it_assert_status(pp_shm_read(s, 100, buf, 0), PP_OK);
    it_assert_status(pp_shm_write(s, SIZE_MAX, buf, 2), PP_EINVAL);
    it_assert_status(pp_shm_read(s, 2, buf, SIZE_MAX), PP_EINVAL);
    it_assert_status(pp_shm_read(NULL, 0, buf, 1), PP_EINVAL);
    ck_assert_ptr_null(pp_shm_data(NULL));
    ck_assert_uint_eq(pp_shm_size(NULL), 0);
    pp_shm_close(s);
    pp_client_close(c);
}
END_TEST

/* Segments go with their last reference: each kind of object, and a
 * segment shared between objects (a Condition on a given Lock). */
START_TEST(shm_refcounts)
{
    pp_client *c = it_client(D.url);
    pp_sync *lock, *rlock, *sem, *bsem, *ev, *cond, *cond2, *bar;
    pp_array *arr, *raw;
    it_assert_status(pp_lock_create(c, &lock), PP_OK);
    it_assert_status(pp_rlock_create(c, &rlock), PP_OK);
    it_assert_status(pp_semaphore_create(c, 1, &sem), PP_OK);
    it_assert_status(pp_bounded_semaphore_create(c, 1, &bsem), PP_OK);
    it_assert_status(pp_event_create(c, &ev), PP_OK);
    it_assert_status(pp_condition_create(c, NULL, &cond), PP_OK);
    it_assert_status(pp_condition_create(c, lock, &cond2), PP_OK);
    it_assert_status(pp_barrier_create(c, 2, &bar), PP_OK);
    it_assert_status(pp_array_create(c, 'i', 10, true, &arr), PP_OK);
    it_assert_status(pp_array_create(c, 'i', 10, false, &raw), PP_OK);
    ck_assert_uint_eq(shm_entries(), 10);
    /* cond2 uses lock's segment: freeing the lock keeps it. */
    pp_sync_free(lock);
    ck_assert_uint_eq(shm_entries(), 10);
    it_assert_status(pp_sync_acquire(cond2, 0), PP_OK);
    it_assert_status(pp_sync_release(cond2), PP_OK);
    pp_sync_free(cond2);
    ck_assert_uint_eq(shm_entries(), 8);
    pp_sync_free(rlock);
    pp_sync_free(sem);
    pp_sync_free(bsem);
    pp_sync_free(ev);
    pp_sync_free(cond);
    pp_sync_free(bar);
    pp_array_free(arr);
    pp_array_free(raw);
    pp_sync_free(NULL);
    pp_array_free(NULL);
    ck_assert_uint_eq(shm_entries(), 0);

    /* A second reference through a handle, in another client. */
    pp_client *d = it_client(D.url);
    it_assert_status(pp_lock_create(c, &lock), PP_OK);
    pp_value *v = pp_sync_to_value(lock);
    pp_sync *other = NULL;
    it_assert_status(pp_sync_from_value(d, v, &other), PP_OK);
    pp_sync_free(lock);
    ck_assert_uint_eq(shm_entries(), 1);
    it_assert_status(pp_sync_from_value(c, v, &lock), PP_OK);
    pp_sync_free(other);
    ck_assert_uint_eq(shm_entries(), 1);
    pp_sync_free(lock);
    ck_assert_uint_eq(shm_entries(), 0);
    /* Gone: the handle names nothing any more. */
    it_assert_status(pp_sync_from_value(c, v, &lock), PP_ENOENT);
    pp_value_free(v);

    /* A session's end drops what the client still referenced. */
    pp_shm *s;
    it_assert_status(pp_shm_create(d, "it-kept", 64, &s), PP_OK);
    pp_shm *s2;
    it_assert_status(pp_shm_attach(c, "it-kept", &s2), PP_OK);
    pp_shm_close(s2);
    ck_assert_uint_eq(shm_entries(), 1);
    pp_shm_close(s);
    pp_client_close(d);
    pp_client_close(c);
    assert_entries_become(0);
}
END_TEST

/* A client killed with SIGKILL leaves no segment behind, and a segment
 * another client holds stays with its name. */
START_TEST(shm_killed_client_leaks_nothing)
{
    pp_client *c = it_client(D.url);
    const char *args[] = { "shmhold", NULL };
    int fd = -1;
    pid_t h = it_spawn_client(D.url, args, &fd);
    char line[64];
    ck_assert_msg(it_read_line(fd, line, sizeof line, IT_DEADLINE_MS), "no ready line");
    close(fd);
    ck_assert_msg(strncmp(line, "ready ", 6) == 0, "helper said: %s", line);
    /* A named and an anonymous segment, a Lock, an Array. */
    ck_assert_uint_eq(shm_entries(), 4);
    pp_shm *s = NULL;
    it_assert_status(pp_shm_attach(c, "it-held", &s), PP_OK);
    char buf[5] = { 0 };
    it_assert_status(pp_shm_read(s, 0, buf, 4), PP_OK);
    ck_assert_str_eq(buf, "held");
    ck_assert_uint_eq(shm_entries(), 4);

    kill_reap(h);
    assert_entries_become(1);
    /* Still there, still named. */
    ck_assert_int_eq(memcmp(pp_shm_data(s), "held", 4), 0);
    pp_shm *again = NULL;
    it_assert_status(pp_shm_attach(c, "it-held", &again), PP_OK);
    pp_shm_close(again);
    pp_shm_close(s);
    ck_assert_uint_eq(shm_entries(), 0);
    it_assert_status(pp_shm_attach(c, "it-held", &again), PP_ENOENT);
    pp_client_close(c);
}
END_TEST

/* Segments a killed daemon left behind go when the next daemon starts. */
START_TEST(shm_swept_after_daemon_killed)
{
    pp_client *c = it_client(D.url);
    pp_shm *s = NULL;
    pp_sync *l = NULL;
    it_assert_status(pp_shm_create(c, "it-swept", 4096, &s), PP_OK);
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    ck_assert_uint_eq(shm_entries(), 2);
    ck_assert(it_daemon_kill_wait(&D, SIGKILL, IT_DEADLINE_MS));
    /* Still mapped here, and still in /dev/shm. */
    memcpy(pp_shm_data(s), "alive", 5);
    ck_assert_uint_eq(shm_entries(), 2);
    it_daemon D2;
    it_daemon_start(&D2, NULL);
    ck_assert_uint_eq(shm_entries(), 0);
    ck_assert_uint_eq(shm_entries_of(D2.pid), 0);
    it_daemon_stop(&D2);
    /* The client and its objects outlived their daemon. */
    ck_assert_int_eq(memcmp(pp_shm_data(s), "alive", 5), 0);
    pp_sync_free(l);
    pp_shm_close(s);
    pp_client_close(c);
}
END_TEST

START_TEST(handle_values)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    pp_shm *seg;
    pp_sync *lock, *rlock, *sem, *bsem, *ev, *cond, *bar;
    pp_array *arr;
    it_assert_status(pp_shm_create(a, "it-h", 256, &seg), PP_OK);
    it_assert_status(pp_lock_create(a, &lock), PP_OK);
    it_assert_status(pp_rlock_create(a, &rlock), PP_OK);
    it_assert_status(pp_semaphore_create(a, 3, &sem), PP_OK);
    it_assert_status(pp_bounded_semaphore_create(a, 3, &bsem), PP_OK);
    it_assert_status(pp_event_create(a, &ev), PP_OK);
    it_assert_status(pp_condition_create(a, NULL, &cond), PP_OK);
    it_assert_status(pp_barrier_create(a, 2, &bar), PP_OK);
    it_assert_status(pp_array_create(a, 'd', 4, true, &arr), PP_OK);

    pp_value *vseg = pp_shm_to_value(seg), *vlock = pp_sync_to_value(lock),
             *vrlock = pp_sync_to_value(rlock), *vsem = pp_sync_to_value(sem),
             *vbsem = pp_sync_to_value(bsem), *vev = pp_sync_to_value(ev),
             *vcond = pp_sync_to_value(cond), *vbar = pp_sync_to_value(bar),
             *varr = pp_array_to_value(arr), *vint = pp_value_int(5);
    ck_assert_int_eq(pp_value_kind(vlock), PP_HANDLE);
    ck_assert_int_eq(pp_value_handle_type(vseg), PP_H_SEGMENT);
    ck_assert_int_eq(pp_value_handle_type(vlock), PP_H_LOCK);
    ck_assert_int_eq(pp_value_handle_type(vrlock), PP_H_RLOCK);
    ck_assert_int_eq(pp_value_handle_type(vsem), PP_H_SEMAPHORE);
    ck_assert_int_eq(pp_value_handle_type(vbsem), PP_H_BOUNDED_SEMAPHORE);
    ck_assert_int_eq(pp_value_handle_type(vev), PP_H_EVENT);
    ck_assert_int_eq(pp_value_handle_type(vcond), PP_H_CONDITION);
    ck_assert_int_eq(pp_value_handle_type(vbar), PP_H_BARRIER);
    ck_assert_int_eq(pp_value_handle_type(varr), PP_H_VALUE);
    ck_assert_int_eq(pp_value_handle_type(vint), PP_H_NONE);
    ck_assert_int_eq(pp_value_handle_type(NULL), PP_H_NONE);
    /* A copy is the same handle. */
    pp_value *copy = pp_value_copy(vcond);
    ck_assert(pp_value_equal(copy, vcond));
    pp_value_free(copy);

    /* Each object, opened from its handle by another client, is the same. */
    pp_shm *seg2;
    it_assert_status(pp_shm_from_value(b, vseg, &seg2), PP_OK);
    ck_assert_str_eq(pp_shm_name(seg2), "it-h");
    memcpy(pp_shm_data(seg), "abc", 3);
    ck_assert_int_eq(memcmp(pp_shm_data(seg2), "abc", 3), 0);

    pp_sync *lock2, *rlock2, *sem2, *bsem2, *ev2, *cond2, *bar2;
    it_assert_status(pp_sync_from_value(b, vlock, &lock2), PP_OK);
    ck_assert_int_eq(pp_sync_type(lock2), PP_H_LOCK);
    it_assert_status(pp_sync_acquire(lock, 0), PP_OK);
    it_assert_status(pp_sync_acquire(lock2, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(lock2), PP_OK);
    it_assert_status(pp_sync_acquire(lock, 0), PP_OK);
    it_assert_status(pp_sync_release(lock), PP_OK);

    it_assert_status(pp_sync_from_value(b, vrlock, &rlock2), PP_OK);
    ck_assert_int_eq(pp_sync_type(rlock2), PP_H_RLOCK);
    it_assert_status(pp_sync_acquire(rlock, 0), PP_OK);
    it_assert_status(try_in_thread(rlock2), PP_ETIMEDOUT);
    /* The same thread: the same owner, whichever view it uses. */
    it_assert_status(pp_sync_acquire(rlock2, 0), PP_OK);
    it_assert_status(pp_sync_release(rlock2), PP_OK);
    it_assert_status(pp_sync_release(rlock), PP_OK);
    it_assert_status(try_in_thread(rlock2), PP_OK);

    it_assert_status(pp_sync_from_value(b, vsem, &sem2), PP_OK);
    it_assert_status(pp_sync_acquire(sem, 0), PP_OK);
    unsigned val = 0;
    it_assert_status(pp_semaphore_value(sem2, &val), PP_OK);
    ck_assert_uint_eq(val, 2);
    it_assert_status(pp_sync_from_value(b, vbsem, &bsem2), PP_OK);
    ck_assert_int_eq(pp_sync_type(bsem2), PP_H_BOUNDED_SEMAPHORE);
    it_assert_status(pp_sync_release(bsem2), PP_ESTATE);

    it_assert_status(pp_sync_from_value(b, vev, &ev2), PP_OK);
    it_assert_status(pp_event_set(ev), PP_OK);
    ck_assert(pp_event_is_set(ev2));

    it_assert_status(pp_sync_from_value(b, vcond, &cond2), PP_OK);
    ck_assert_int_eq(pp_sync_type(cond2), PP_H_CONDITION);
    ck_assert_ptr_nonnull(pp_condition_lock(cond2));
    ck_assert_int_eq(pp_sync_type(pp_condition_lock(cond2)), PP_H_RLOCK);
    it_assert_status(pp_sync_acquire(pp_condition_lock(cond2), 0), PP_OK);
    it_assert_status(try_in_thread(pp_condition_lock(cond)), PP_ETIMEDOUT);
    it_assert_status(pp_condition_notify(cond, 1), PP_OK);
    it_assert_status(pp_sync_release(cond), PP_OK);

    it_assert_status(pp_sync_from_value(b, vbar, &bar2), PP_OK);
    ck_assert_uint_eq(pp_barrier_parties(bar2), 2);
    it_assert_status(pp_barrier_abort(bar), PP_OK);
    ck_assert(pp_barrier_broken(bar2));

    pp_array *arr2;
    it_assert_status(pp_array_from_value(b, varr, &arr2), PP_OK);
    ck_assert_uint_eq(pp_array_len(arr2), 4);
    ck_assert_int_eq(pp_array_typecode(arr2), 'd');
    ck_assert_ptr_nonnull(pp_array_lock(arr2));
    ((double *)pp_array_data(arr))[3] = 2.5;
    ck_assert(((double *)pp_array_data(arr2))[3] == 2.5);

    /* In this process without a client (as in a task): mapped, no reference. */
    pp_sync *mapped = NULL;
    it_assert_status(pp_sync_from_value(NULL, vlock, &mapped), PP_OK);
    it_assert_status(pp_sync_acquire(mapped, 0), PP_OK);
    it_assert_status(pp_sync_acquire(lock, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(mapped), PP_OK);
    pp_sync_free(mapped);

    /* The wrong kind of handle, or no handle. */
    pp_shm *xs = NULL;
    pp_sync *xy = NULL;
    pp_array *xa = NULL;
    it_assert_status(pp_shm_from_value(b, vlock, &xs), PP_EINVAL);
    it_assert_status(pp_shm_from_value(b, vint, &xs), PP_EINVAL);
    it_assert_status(pp_shm_from_value(b, NULL, &xs), PP_EINVAL);
    it_assert_status(pp_sync_from_value(b, vseg, &xy), PP_EINVAL);
    it_assert_status(pp_sync_from_value(b, varr, &xy), PP_EINVAL);
    it_assert_status(pp_sync_from_value(b, vint, &xy), PP_EINVAL);
    it_assert_status(pp_array_from_value(b, vlock, &xa), PP_EINVAL);
    it_assert_status(pp_array_from_value(b, vseg, &xa), PP_EINVAL);
    it_assert_status(pp_array_from_value(b, vint, &xa), PP_EINVAL);
    ck_assert_ptr_null(xs);
    ck_assert_ptr_null(xy);
    ck_assert_ptr_null(xa);

    pp_shm_close(seg2);
    pp_sync_free(lock2);
    pp_sync_free(rlock2);
    pp_sync_free(sem2);
    pp_sync_free(bsem2);
    pp_sync_free(ev2);
    pp_sync_free(cond2);
    pp_sync_free(bar2);
    pp_array_free(arr2);
    pp_shm_close(seg);
    pp_sync_free(lock);
    pp_sync_free(rlock);
    pp_sync_free(sem);
    pp_sync_free(bsem);
    pp_sync_free(ev);
    pp_sync_free(cond);
    pp_sync_free(bar);
    pp_array_free(arr);
    ck_assert_uint_eq(shm_entries(), 0);
    it_assert_status(pp_shm_from_value(b, vseg, &xs), PP_ENOENT);
    it_assert_status(pp_sync_from_value(b, vbar, &xy), PP_ENOENT);
    it_assert_status(pp_array_from_value(b, varr, &xa), PP_ENOENT);
    /* Nor can a task map it any more. */
    it_assert_status(pp_sync_from_value(NULL, vlock, &xy), PP_ENOENT);
    it_assert_status(pp_shm_from_value(NULL, vseg, &xs), PP_ENOENT);
    pp_value *vals[] = { vseg, vlock, vrlock, vsem, vbsem, vev, vcond, vbar, varr, vint };
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        pp_value_free(vals[i]);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

/* ---- locks --------------------------------------------------------------- */

START_TEST(lock_basics)
{
    pp_client *c = it_client(D.url);
    pp_sync *l = NULL, *ev = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    ck_assert_int_eq(pp_sync_type(l), PP_H_LOCK);
    it_assert_status(pp_sync_release(l), PP_ESTATE);
    it_assert_status(pp_sync_acquire(l, -1), PP_OK);
    /* Not recursive: the holder itself waits. */
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_sync_acquire(l, 60), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 55 && ms < 2000, "a 60 ms timeout took %lld ms", (long long)ms);
    it_assert_status(try_in_thread(l), PP_ETIMEDOUT);
    /* Any thread may release a Lock. */
    it_assert_status(release_in_thread(l), PP_OK);
    it_assert_status(pp_sync_release(l), PP_ESTATE);
    it_assert_status(try_in_thread(l), PP_OK);
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    it_assert_status(pp_sync_release(l), PP_OK);

    /* What is not a lock, or nothing. */
    it_assert_status(pp_event_create(c, &ev), PP_OK);
    it_assert_status(pp_sync_acquire(ev, 0), PP_EINVAL);
    it_assert_status(pp_sync_release(ev), PP_EINVAL);
    it_assert_status(pp_sync_acquire(NULL, 0), PP_EINVAL);
    it_assert_status(pp_sync_release(NULL), PP_EINVAL);
    unsigned v;
    it_assert_status(pp_semaphore_value(l, &v), PP_EINVAL);
    it_assert_status(pp_event_set(l), PP_EINVAL);
    it_assert_status(pp_event_wait(l, 0), PP_EINVAL);
    ck_assert(!pp_event_is_set(l));
    it_assert_status(pp_condition_wait(l, 0), PP_EINVAL);
    it_assert_status(pp_barrier_wait(l, 0, NULL), PP_EINVAL);
    ck_assert_int_eq(pp_sync_type(NULL), PP_H_NONE);
    ck_assert_ptr_null(pp_condition_lock(l));
    it_assert_status(pp_lock_create(NULL, &l), PP_EINVAL);
    pp_sync_free(ev);
    pp_sync_free(l);
    pp_client_close(c);
}
END_TEST

START_TEST(rlock_basics)
{
    pp_client *c = it_client(D.url);
    pp_sync *r = NULL;
    it_assert_status(pp_rlock_create(c, &r), PP_OK);
    ck_assert_int_eq(pp_sync_type(r), PP_H_RLOCK);
    it_assert_status(pp_sync_release(r), PP_ESTATE);
    it_assert_status(pp_sync_acquire(r, -1), PP_OK);
    it_assert_status(pp_sync_acquire(r, 0), PP_OK);
    it_assert_status(pp_sync_acquire(r, 100), PP_OK);
    it_assert_status(try_in_thread(r), PP_ETIMEDOUT);
    it_assert_status(release_in_thread(r), PP_EPERM);
    it_assert_status(pp_sync_release(r), PP_OK);
    it_assert_status(pp_sync_release(r), PP_OK);
    /* Still held once. */
    it_assert_status(try_in_thread(r), PP_ETIMEDOUT);
    it_assert_status(release_in_thread(r), PP_EPERM);
    it_assert_status(pp_sync_release(r), PP_OK);
    it_assert_status(pp_sync_release(r), PP_ESTATE);
    it_assert_status(release_in_thread(r), PP_ESTATE);
    it_assert_status(try_in_thread(r), PP_OK);
    it_assert_status(pp_sync_acquire(r, 0), PP_OK);
    it_assert_status(pp_sync_release(r), PP_OK);
    pp_sync_free(r);
    pp_client_close(c);
}
END_TEST

static pp_sync *child_lock;
static struct scratch *child_scratch;

/* Acquires child_lock (10 s), reports, releases; exits with the status. */
static int child_acquire(void *arg, int i)
{
    (void)arg;
    (void)i;
    atomic_fetch_add(&child_scratch->ready, 1);
    pp_status st = pp_sync_acquire(child_lock, 10000);
    if (st == PP_OK || st == PP_EOWNERDEAD) {
        if (pp_sync_release(child_lock) != PP_OK)
            return 100;
    }
    return st;
}

/* Releases child_lock, which the parent holds. */
static int child_release(void *arg, int i)
{
    (void)arg;
    (void)i;
    return pp_sync_release(child_lock);
}

/* Acquires child_lock (an RLock twice), says so, and waits to be killed. */
static int child_hold(void *arg, int i)
{
    (void)arg;
    (void)i;
    int times = pp_sync_type(child_lock) == PP_H_RLOCK ? 2 : 1;
    for (int k = 0; k < times; k++)
        if (pp_sync_acquire(child_lock, 10000) != PP_OK)
            return 100;
    atomic_store(&child_scratch->flag, 1);
    for (;;)
        pause();
}

static bool flag_set(void *arg)
{
    return atomic_load(&((struct scratch *)arg)->flag) != 0;
}

START_TEST(lock_across_processes)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_lock_create(c, &child_lock), PP_OK);
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_OK);
    pid_t w = it_fork_child(child_acquire, NULL, 0);
    wait_count(&child_scratch->ready, 1);
    it_assert_status(pp_sync_release(child_lock), PP_OK);
    assert_child_status(w, PP_OK);

    /* Another process may release a Lock this one holds. */
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_OK);
    w = it_fork_child(child_release, NULL, 0);
    assert_child_status(w, PP_OK);
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_OK);
    it_assert_status(pp_sync_release(child_lock), PP_OK);
    w = it_fork_child(child_release, NULL, 0);
    assert_child_status(w, PP_ESTATE);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* A holder process with no session of its own (a forked child) dies: the
 * waiter, in a third process, notices by itself and gets PP_EOWNERDEAD. */
static void holder_killed_forked(bool rlock)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(rlock ? pp_rlock_create(c, &child_lock) : pp_lock_create(c, &child_lock),
                     PP_OK);
    pid_t h = it_fork_child(child_hold, NULL, 0);
    ck_assert(it_wait_until(flag_set, child_scratch, IT_DEADLINE_MS));
    pid_t w = it_fork_child(child_acquire, NULL, 0);
    wait_count(&child_scratch->ready, 1);
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    kill_reap(h);
    assert_child_status(w, PP_EOWNERDEAD);
    ck_assert_msg(it_now_ms() - t0 < 3000, "the waiter took %lld ms to notice",
                  (long long)(it_now_ms() - t0));
    /* The waiter released it: an ordinary lock again. */
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_OK);
    it_assert_status(pp_sync_release(child_lock), PP_OK);
    it_assert_status(pp_sync_release(child_lock), PP_ESTATE);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}

START_TEST(lock_holder_killed_forked)
{
    holder_killed_forked(false);
}
END_TEST

START_TEST(rlock_holder_killed_forked)
{
    holder_killed_forked(true);
}
END_TEST

/* A try-acquire notices a dead holder (no session: the daemon does not
 * know it) by itself, soon. */
START_TEST(try_acquire_notices_dead_holder)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_lock_create(c, &child_lock), PP_OK);
    pid_t h = it_fork_child(child_hold, NULL, 0);
    ck_assert(it_wait_until(flag_set, child_scratch, IT_DEADLINE_MS));
    it_assert_status(pp_sync_acquire(child_lock, 0), PP_ETIMEDOUT);
    kill_reap(h);
    struct acq_poll ap = { child_lock, PP_ETIMEDOUT };
    ck_assert_msg(it_wait_until(try_not_timed_out, &ap, IT_DEADLINE_MS),
                  "tries never got the lock of a dead holder");
    it_assert_status(ap.st, PP_EOWNERDEAD);
    it_assert_status(pp_sync_release(child_lock), PP_OK);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* A helper client (its own session) holds a lock and is killed: the daemon
 * hands the lock over when the session ends, and the next acquirer gets
 * it with PP_EOWNERDEAD. */
static void holder_killed_client(bool rlock, bool no_map)
{
    pp_client *c = it_client(D.url);
    pp_sync *l = NULL;
    it_assert_status(rlock ? pp_rlock_create(c, &l) : pp_lock_create(c, &l), PP_OK);
    pp_pool *p = handle_pool(c, "it-hold", pp_sync_to_value(l));
    pid_t h = spawn_holder("it-hold", no_map);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    if (rlock)
        it_assert_status(pp_sync_release(l), PP_EPERM);
    kill_reap(h);
    wait_handed_over();
    it_assert_status(pp_sync_acquire(l, 0), PP_EOWNERDEAD);
    it_assert_status(pp_sync_release(l), PP_OK);
    it_assert_status(pp_sync_release(l), PP_ESTATE);
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_pool_free(p);
    pp_sync_free(l);
    pp_client_close(c);
}

START_TEST(lock_holder_killed_client)
{
    holder_killed_client(false, false);
}
END_TEST

START_TEST(rlock_holder_killed_client)
{
    holder_killed_client(true, false);
}
END_TEST

START_TEST(lock_holder_killed_nomap_client)
{
    holder_killed_client(false, true);
}
END_TEST

/* A process that ended its session but still runs keeps its lock; when it
 * exits later, the daemon (watching it) hands the lock over. */
START_TEST(lock_holder_session_ended_then_killed)
{
    pp_client *c = it_client(D.url);
    pp_sync *l = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    pp_pool *p = handle_pool(c, "it-hold", pp_sync_to_value(l));
    pid_t h = spawn_holder_opts("it-hold", false, true);
    wait_no_session(h);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    kill_reap(h);
    wait_handed_over();
    it_assert_status(pp_sync_acquire(l, 0), PP_EOWNERDEAD);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_pool_free(p);
    pp_sync_free(l);
    pp_client_close(c);
}
END_TEST

/* A waiter already blocked when the helper holding an RLock is killed. */
START_TEST(rlock_holder_killed_blocked_waiter)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_rlock_create(c, &child_lock), PP_OK);
    pp_pool *p = handle_pool(c, "it-hold", pp_sync_to_value(child_lock));
    pid_t h = spawn_holder("it-hold", false);
    pid_t w = it_fork_child(child_acquire, NULL, 0);
    wait_count(&child_scratch->ready, 1);
    struct acq a;
    acq_start(&a, child_lock, 10000, true);
    kill_reap(h);
    /* Both get it in turn: the first with PP_EOWNERDEAD, the next
     * normally (the first released it). */
    int ws = it_child_exit(w, IT_DEADLINE_MS);
    pp_status st = acq_join(&a);
    ck_assert_msg((ws == PP_EOWNERDEAD && st == PP_OK) || (ws == PP_OK && st == PP_EOWNERDEAD),
                  "child %s, thread %s", pp_status_name((pp_status)ws), pp_status_name(st));
    it_assert_status(try_in_thread(child_lock), PP_OK);
    pp_pool_free(p);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* ---- semaphores ------------------------------------------------------------ */

START_TEST(semaphore_counts)
{
    pp_client *c = it_client(D.url);
    pp_sync *s = NULL;
    unsigned v = 99;
    it_assert_status(pp_semaphore_create(c, 0x80000000u, &s), PP_EINVAL);
    it_assert_status(pp_semaphore_create(c, UINT_MAX, &s), PP_EINVAL);
    it_assert_status(pp_semaphore_create(c, 0x7fffffffu, &s), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 0x7fffffffu);
    pp_sync_free(s);

    it_assert_status(pp_semaphore_create(c, 2, &s), PP_OK);
    ck_assert_int_eq(pp_sync_type(s), PP_H_SEMAPHORE);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 2);
    it_assert_status(pp_sync_acquire(s, 0), PP_OK);
    it_assert_status(pp_sync_acquire(s, -1), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 0);
    it_assert_status(pp_sync_acquire(s, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_sync_acquire(s, 60), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 55);
    /* Not owned: any thread releases, beyond the initial value too. */
    it_assert_status(release_in_thread(s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 3);
    it_assert_status(pp_semaphore_value(NULL, &v), PP_EINVAL);
    it_assert_status(pp_semaphore_value(s, NULL), PP_EINVAL);
    pp_sync_free(s);
    pp_client_close(c);
}
END_TEST

START_TEST(bounded_semaphore)
{
    pp_client *c = it_client(D.url);
    pp_sync *s = NULL;
    unsigned v;
    it_assert_status(pp_bounded_semaphore_create(c, 0x80000000u, &s), PP_EINVAL);
    it_assert_status(pp_bounded_semaphore_create(c, 2, &s), PP_OK);
    ck_assert_int_eq(pp_sync_type(s), PP_H_BOUNDED_SEMAPHORE);
    it_assert_status(pp_sync_release(s), PP_ESTATE);
    it_assert_status(pp_sync_acquire(s, 0), PP_OK);
    it_assert_status(pp_sync_acquire(s, 0), PP_OK);
    it_assert_status(pp_sync_acquire(s, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_ESTATE);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 2);
    pp_sync_free(s);
    /* Bounded at 0: never releasable. */
    it_assert_status(pp_bounded_semaphore_create(c, 0, &s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_ESTATE);
    it_assert_status(pp_sync_acquire(s, 0), PP_ETIMEDOUT);
    pp_sync_free(s);
    pp_client_close(c);
}
END_TEST

START_TEST(semaphore_across_processes)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_semaphore_create(c, 0, &child_lock), PP_OK);
    pid_t w1 = it_fork_child(child_acquire, NULL, 0);
    pid_t w2 = it_fork_child(child_acquire, NULL, 1);
    wait_count(&child_scratch->ready, 2);
    /* One release lets one child through; it gives the unit back, and
     * that lets the other through. */
    it_assert_status(pp_sync_release(child_lock), PP_OK);
    assert_child_status(w1, PP_OK);
    assert_child_status(w2, PP_OK);
    unsigned v = 9;
    it_assert_status(pp_semaphore_value(child_lock, &v), PP_OK);
    ck_assert_uint_eq(v, 1);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* ---- events -------------------------------------------------------------------- */

static int child_event_wait(void *arg, int i)
{
    (void)arg;
    (void)i;
    atomic_fetch_add(&child_scratch->ready, 1);
    return pp_event_wait(child_lock, 10000);
}

START_TEST(event_basics)
{
    pp_client *c = it_client(D.url);
    pp_sync *e = NULL;
    it_assert_status(pp_event_create(c, &e), PP_OK);
    ck_assert_int_eq(pp_sync_type(e), PP_H_EVENT);
    ck_assert(!pp_event_is_set(e));
    it_assert_status(pp_event_wait(e, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_event_wait(e, 60), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 55);
    it_assert_status(pp_event_set(e), PP_OK);
    ck_assert(pp_event_is_set(e));
    it_assert_status(pp_event_set(e), PP_OK);
    it_assert_status(pp_event_wait(e, 0), PP_OK);
    it_assert_status(pp_event_wait(e, -1), PP_OK);
    it_assert_status(pp_event_clear(e), PP_OK);
    ck_assert(!pp_event_is_set(e));
    it_assert_status(pp_event_wait(e, 0), PP_ETIMEDOUT);
    it_assert_status(pp_event_set(NULL), PP_EINVAL);
    it_assert_status(pp_event_clear(NULL), PP_EINVAL);
    it_assert_status(pp_event_wait(NULL, 0), PP_EINVAL);
    pp_sync_free(e);
    pp_client_close(c);
}
END_TEST

START_TEST(event_across_processes)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_event_create(c, &child_lock), PP_OK);
    pid_t w[3];
    for (int i = 0; i < 3; i++)
        w[i] = it_fork_child(child_event_wait, NULL, i);
    wait_count(&child_scratch->ready, 3);
    it_assert_status(pp_event_set(child_lock), PP_OK);
    for (int i = 0; i < 3; i++)
        assert_child_status(w[i], PP_OK);
    pp_sync_free(child_lock);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* ---- conditions ------------------------------------------------------------------ */

static pp_sync *child_cond;

/* With the condition's lock: counts itself ready, waits (10 s), counts
 * itself woken; exits with the wait's status. */
static int child_cond_wait(void *arg, int i)
{
    (void)arg;
    (void)i;
    if (pp_sync_acquire(child_cond, 10000) != PP_OK)
        return 100;
    atomic_fetch_add(&child_scratch->ready, 1);
    pp_status st = pp_condition_wait(child_cond, 10000);
    atomic_fetch_add(&child_scratch->woken, 1);
    if (pp_sync_release(child_cond) != PP_OK)
        return 101;
    return st;
}

START_TEST(condition_needs_lock)
{
    pp_client *c = it_client(D.url);
    pp_sync *cv = NULL, *sem = NULL, *x = NULL;
    it_assert_status(pp_condition_create(c, NULL, &cv), PP_OK);
    ck_assert_int_eq(pp_sync_type(cv), PP_H_CONDITION);
    ck_assert_int_eq(pp_sync_type(pp_condition_lock(cv)), PP_H_RLOCK);
    it_assert_status(pp_condition_wait(cv, 0), PP_ESTATE);
    it_assert_status(pp_condition_wait(cv, 1000), PP_ESTATE);
    it_assert_status(pp_condition_notify(cv, 1), PP_ESTATE);
    it_assert_status(pp_condition_notify_all(cv), PP_ESTATE);
    /* With the lock: notify without waiters is fine. */
    it_assert_status(pp_sync_acquire(cv, 0), PP_OK);
    it_assert_status(pp_condition_notify(cv, 1), PP_OK);
    it_assert_status(pp_condition_notify_all(cv), PP_OK);
    it_assert_status(pp_sync_release(cv), PP_OK);
    it_assert_status(pp_condition_notify(NULL, 1), PP_EINVAL);
    it_assert_status(pp_condition_wait(NULL, 0), PP_EINVAL);

    /* Held by another thread is not held (a Lock: this thread may then
     * release it). */
    pp_sync *l = NULL, *cl = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_condition_create(c, l, &cl), PP_OK);
    struct acq a;
    acq_start(&a, cl, 0, false);
    it_assert_status(acq_join(&a), PP_OK);
    it_assert_status(pp_condition_notify(cl, 1), PP_ESTATE);
    it_assert_status(pp_condition_notify_all(cl), PP_ESTATE);
    it_assert_status(pp_condition_wait(cl, 0), PP_ESTATE);
    it_assert_status(pp_sync_release(cl), PP_OK);
    pp_sync_free(cl);
    pp_sync_free(l);

    /* Only a Lock or an RLock can be its lock. */
    it_assert_status(pp_semaphore_create(c, 1, &sem), PP_OK);
    it_assert_status(pp_condition_create(c, sem, &x), PP_EINVAL);
    ck_assert_ptr_null(x);
    pp_sync_free(sem);
    pp_sync_free(cv);
    pp_client_close(c);
}
END_TEST

START_TEST(condition_wait_timeout)
{
    pp_client *c = it_client(D.url);
    pp_sync *cv = NULL, *l = NULL, *cv2 = NULL;
    it_assert_status(pp_condition_create(c, NULL, &cv), PP_OK);
    /* An RLock held twice: the wait gives it up entirely, then takes it
     * back at the same depth. */
    it_assert_status(pp_sync_acquire(cv, 0), PP_OK);
    it_assert_status(pp_sync_acquire(pp_condition_lock(cv), 0), PP_OK);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_condition_wait(cv, 60), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 55);
    it_assert_status(try_in_thread(cv), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(cv), PP_OK);
    it_assert_status(try_in_thread(cv), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(cv), PP_OK);
    it_assert_status(pp_sync_release(cv), PP_ESTATE);
    it_assert_status(try_in_thread(cv), PP_OK);

    /* On a given Lock: the condition acquires that Lock. */
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_condition_create(c, l, &cv2), PP_OK);
    ck_assert_int_eq(pp_sync_type(pp_condition_lock(cv2)), PP_H_LOCK);
    it_assert_status(pp_sync_acquire(cv2, 0), PP_OK);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    it_assert_status(pp_condition_wait(cv2, 20), PP_ETIMEDOUT);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(l), PP_OK);
    it_assert_status(pp_condition_wait(cv2, 0), PP_ESTATE);
    it_assert_status(pp_sync_release(cv2), PP_ESTATE);
    pp_sync_free(cv2);
    pp_sync_free(l);
    pp_sync_free(cv);
    pp_client_close(c);
}
END_TEST

static bool woken_reached_2(void *arg)
{
    return atomic_load(&((struct scratch *)arg)->woken) >= 2;
}

START_TEST(condition_notify_across_processes)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_condition_create(c, NULL, &child_cond), PP_OK);
    pid_t w[3];
    for (int i = 0; i < 2; i++)
        w[i] = it_fork_child(child_cond_wait, NULL, i);
    wait_count(&child_scratch->ready, 2);
    /* Both counted themselves with the lock held; once we hold it, both
     * are waiting. */
    it_assert_status(pp_sync_acquire(child_cond, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify(child_cond, 1), PP_OK);
    it_assert_status(pp_sync_release(child_cond), PP_OK);
    wait_count(&child_scratch->woken, 1);
    /* notify(1) woke one: the other stays asleep (a short look for a
     * wrong second wake-up, not a wait for anything). */
    ck_assert_msg(!it_wait_until(woken_reached_2, child_scratch, 150),
                  "notify(1) woke both waiters");
    it_assert_status(pp_sync_acquire(child_cond, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify(child_cond, 1), PP_OK);
    it_assert_status(pp_sync_release(child_cond), PP_OK);
    for (int i = 0; i < 2; i++)
        assert_child_status(w[i], PP_OK);

    /* notify_all wakes every waiter. */
    atomic_store(&child_scratch->ready, 0);
    atomic_store(&child_scratch->woken, 0);
    for (int i = 0; i < 3; i++)
        w[i] = it_fork_child(child_cond_wait, NULL, i);
    wait_count(&child_scratch->ready, 3);
    it_assert_status(pp_sync_acquire(child_cond, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify_all(child_cond), PP_OK);
    it_assert_status(pp_sync_release(child_cond), PP_OK);
    for (int i = 0; i < 3; i++)
        assert_child_status(w[i], PP_OK);
    ck_assert_int_eq(atomic_load(&child_scratch->woken), 3);

    /* notify(2) of 3 waiters wakes two. */
    atomic_store(&child_scratch->ready, 0);
    atomic_store(&child_scratch->woken, 0);
    for (int i = 0; i < 3; i++)
        w[i] = it_fork_child(child_cond_wait, NULL, i);
    wait_count(&child_scratch->ready, 3);
    it_assert_status(pp_sync_acquire(child_cond, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify(child_cond, 2), PP_OK);
    it_assert_status(pp_sync_release(child_cond), PP_OK);
    wait_count(&child_scratch->woken, 2);
    ck_assert_msg(!it_wait_until(count_reached, &(struct count_at_least){
                                     &child_scratch->woken, 3 }, 150),
                  "notify(2) woke three waiters");
    it_assert_status(pp_sync_acquire(child_cond, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify_all(child_cond), PP_OK);
    it_assert_status(pp_sync_release(child_cond), PP_OK);
    for (int i = 0; i < 3; i++)
        assert_child_status(w[i], PP_OK);
    pp_sync_free(child_cond);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* ---- barriers -------------------------------------------------------------------- */

static pp_sync *child_bar;

/* Two rounds of waiting (10 s); exits with the status, the index of each
 * round in scratch->index[2i], [2i+1]. */
static int child_barrier_twice(void *arg, int i)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        unsigned idx = 99;
        pp_status st = pp_barrier_wait(child_bar, 10000, &idx);
        if (st != PP_OK)
            return st;
        atomic_store(&child_scratch->index[2 * i + round], (int)idx);
    }
    return PP_OK;
}

/* One wait (10 s); after it, reports whether the action had run. */
static int child_barrier_once(void *arg, int i)
{
    (void)arg;
    unsigned idx = 99;
    pp_status st = pp_barrier_wait(child_bar, 10000, &idx);
    atomic_store(&child_scratch->index[i], (int)idx);
    if (st == PP_OK && child_scratch->flag != 1)
        return 100;
    return st;
}

struct waiting {
    pp_sync *b;
    unsigned n;
};

static bool n_waiting_is(void *arg)
{
    struct waiting *w = arg;
    return pp_barrier_n_waiting(w->b) == w->n;
}

static void wait_n_waiting(pp_sync *b, unsigned n)
{
    struct waiting w = { b, n };
    ck_assert_msg(it_wait_until(n_waiting_is, &w, IT_DEADLINE_MS), "%u waiting, want %u",
                  pp_barrier_n_waiting(b), n);
}

START_TEST(barrier_basics)
{
    pp_client *c = it_client(D.url);
    pp_sync *b = NULL;
    it_assert_status(pp_barrier_create(c, 0, &b), PP_EINVAL);
    ck_assert_ptr_null(b);
    it_assert_status(pp_barrier_create(c, 1, &b), PP_OK);
    ck_assert_int_eq(pp_sync_type(b), PP_H_BARRIER);
    ck_assert_uint_eq(pp_barrier_parties(b), 1);
    ck_assert_uint_eq(pp_barrier_n_waiting(b), 0);
    ck_assert(!pp_barrier_broken(b));
    unsigned idx = 9;
    it_assert_status(pp_barrier_wait(b, 0, &idx), PP_OK);
    ck_assert_uint_eq(idx, 0);
    it_assert_status(pp_barrier_wait(b, -1, NULL), PP_OK);
    pp_sync_free(b);
    it_assert_status(pp_barrier_create(c, 2, &b), PP_OK);
    /* Alone of two: the timeout breaks it. */
    it_assert_status(pp_barrier_wait(b, 30, &idx), PP_ETIMEDOUT);
    ck_assert(pp_barrier_broken(b));
    it_assert_status(pp_barrier_wait(b, 30, &idx), PP_ESTATE);
    it_assert_status(pp_barrier_reset(b), PP_OK);
    ck_assert(!pp_barrier_broken(b));
    it_assert_status(pp_barrier_abort(b), PP_OK);
    ck_assert(pp_barrier_broken(b));
    it_assert_status(pp_barrier_wait(b, 1000, &idx), PP_ESTATE);
    it_assert_status(pp_barrier_wait(NULL, 0, &idx), PP_EINVAL);
    it_assert_status(pp_barrier_reset(NULL), PP_EINVAL);
    ck_assert_uint_eq(pp_barrier_parties(NULL), 0);
    pp_sync_free(b);
    pp_client_close(c);
}
END_TEST

START_TEST(barrier_three_processes)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_barrier_create(c, 3, &child_bar), PP_OK);
    pid_t w[3];
    for (int i = 0; i < 3; i++)
        w[i] = it_fork_child(child_barrier_twice, NULL, i);
    for (int i = 0; i < 3; i++)
        assert_child_status(w[i], PP_OK);
    for (int round = 0; round < 2; round++) {
        int seen = 0;
        for (int i = 0; i < 3; i++) {
            int idx = atomic_load(&child_scratch->index[2 * i + round]);
            ck_assert_msg(idx >= 0 && idx < 3, "index %d", idx);
            seen |= 1 << idx;
        }
        ck_assert_msg(seen == 7, "round %d: indices are not {0,1,2} (mask %d)", round, seen);
    }
    ck_assert_uint_eq(pp_barrier_n_waiting(child_bar), 0);
    ck_assert(!pp_barrier_broken(child_bar));
    pp_sync_free(child_bar);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* The waiter whose timeout passes gets PP_ETIMEDOUT, the others PP_ESTATE. */
START_TEST(barrier_timeout_breaks)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    child_scratch->flag = 1;
    it_assert_status(pp_barrier_create(c, 3, &child_bar), PP_OK);
    pid_t w = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    unsigned idx;
    it_assert_status(pp_barrier_wait(child_bar, 80, &idx), PP_ETIMEDOUT);
    assert_child_status(w, PP_ESTATE);
    ck_assert(pp_barrier_broken(child_bar));
    it_assert_status(pp_barrier_wait(child_bar, 0, &idx), PP_ESTATE);
    it_assert_status(pp_barrier_reset(child_bar), PP_OK);
    ck_assert(!pp_barrier_broken(child_bar));
    /* Usable again. */
    pid_t w1 = it_fork_child(child_barrier_once, NULL, 1);
    pid_t w2 = it_fork_child(child_barrier_once, NULL, 2);
    it_assert_status(pp_barrier_wait(child_bar, 10000, &idx), PP_OK);
    assert_child_status(w1, PP_OK);
    assert_child_status(w2, PP_OK);
    int seen = 1 << idx | 1 << child_scratch->index[1] | 1 << child_scratch->index[2];
    ck_assert_int_eq(seen, 7);
    pp_sync_free(child_bar);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

static int action_ok(void *arg)
{
    struct scratch *s = arg;
    atomic_fetch_add(&s->flag, 1);
    return 0;
}

static int action_fails(void *arg)
{
    (void)arg;
    return 1;
}

START_TEST(barrier_action)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    it_assert_status(pp_barrier_create(c, 2, &child_bar), PP_OK);
    /* The last to arrive (this process) runs it once, before anyone goes. */
    pid_t w = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    unsigned idx = 9;
    it_assert_status(pp_barrier_wait_action(child_bar, 10000, action_ok, child_scratch, &idx),
                     PP_OK);
    ck_assert_uint_eq(idx, 1);
    assert_child_status(w, PP_OK);
    ck_assert_int_eq(child_scratch->index[0], 0);
    ck_assert_int_eq(child_scratch->flag, 1);

    /* A failing action breaks it: PP_ETASK for its runner, PP_ESTATE for
     * the others. */
    w = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    it_assert_status(pp_barrier_wait_action(child_bar, 10000, action_fails, NULL, &idx),
                     PP_ETASK);
    assert_child_status(w, PP_ESTATE);
    ck_assert(pp_barrier_broken(child_bar));
    it_assert_status(pp_barrier_wait(child_bar, 0, &idx), PP_ESTATE);
    pp_sync_free(child_bar);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

START_TEST(barrier_abort_reset)
{
    pp_client *c = it_client(D.url);
    child_scratch = scratch_new();
    child_scratch->flag = 1;
    it_assert_status(pp_barrier_create(c, 2, &child_bar), PP_OK);
    /* abort: the waiter and later waits get PP_ESTATE. */
    pid_t w = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    it_assert_status(pp_barrier_abort(child_bar), PP_OK);
    assert_child_status(w, PP_ESTATE);
    ck_assert(pp_barrier_broken(child_bar));
    unsigned idx;
    it_assert_status(pp_barrier_wait(child_bar, 10000, &idx), PP_ESTATE);
    it_assert_status(pp_barrier_reset(child_bar), PP_OK);
    ck_assert(!pp_barrier_broken(child_bar));

    /* reset with a waiter: it gets PP_ESTATE, the barrier is fine after. */
    w = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    it_assert_status(pp_barrier_reset(child_bar), PP_OK);
    assert_child_status(w, PP_ESTATE);
    ck_assert(!pp_barrier_broken(child_bar));
    ck_assert_uint_eq(pp_barrier_n_waiting(child_bar), 0);
    w = it_fork_child(child_barrier_once, NULL, 0);
    it_assert_status(pp_barrier_wait(child_bar, 10000, &idx), PP_OK);
    assert_child_status(w, PP_OK);
    ck_assert_int_eq(1 << idx | 1 << child_scratch->index[0], 3);
    pp_sync_free(child_bar);
    scratch_free(child_scratch);
    pp_client_close(c);
}
END_TEST

/* ---- values and arrays ---------------------------------------------------------- */

START_TEST(array_basics)
{
    pp_client *c = it_client(D.url);
    static const struct { char tc; size_t size; } codes[] = {
        { 'b', 1 }, { 'B', 1 }, { 'h', 2 }, { 'H', 2 }, { 'i', 4 }, { 'I', 4 },
        { 'l', 8 }, { 'L', 8 }, { 'q', 8 }, { 'Q', 8 }, { 'f', 4 }, { 'd', 8 },
        { 'c', 1 }, { '?', 1 }, { 'u', 4 }, { 'z', 0 }, { 0, 0 },
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        ck_assert_msg(pp_typecode_size(codes[i].tc) == codes[i].size, "'%c'", codes[i].tc);

    pp_array *a = NULL, *v = NULL, *x = NULL;
    it_assert_status(pp_array_create(c, 'd', 10, true, &a), PP_OK);
    ck_assert_uint_eq(pp_array_len(a), 10);
    ck_assert(!pp_array_is_value(a));
    ck_assert_int_eq(pp_array_typecode(a), 'd');
    ck_assert_uint_eq(pp_array_itemsize(a), 8);
    ck_assert_ptr_nonnull(pp_array_lock(a));
    ck_assert_int_eq(pp_sync_type(pp_array_lock(a)), PP_H_RLOCK);
    double *d = pp_array_data(a);
    ck_assert_ptr_nonnull(d);
    for (int i = 0; i < 10; i++)
        ck_assert(d[i] == 0.0);
    /* The elements do not overlap the lock. */
    it_assert_status(pp_sync_acquire(pp_array_lock(a), 0), PP_OK);
    for (int i = 0; i < 10; i++)
        d[i] = -1.0;
    it_assert_status(pp_sync_release(pp_array_lock(a)), PP_OK);
    it_assert_status(pp_sync_acquire(pp_array_lock(a), 0), PP_OK);
    it_assert_status(pp_sync_release(pp_array_lock(a)), PP_OK);

    /* Element copies, with bounds. */
    double two[2] = { 1.5, 2.5 }, back[2] = { 0, 0 };
    it_assert_status(pp_array_write(a, 8, 2, two), PP_OK);
    ck_assert(d[8] == 1.5 && d[9] == 2.5);
    it_assert_status(pp_array_read(a, 8, 2, back), PP_OK);
    ck_assert(back[0] == 1.5 && back[1] == 2.5);
    it_assert_status(pp_array_write(a, 9, 2, two), PP_EINVAL);
    it_assert_status(pp_array_read(a, 11, 0, back), PP_EINVAL);
    it_assert_status(pp_array_read(a, 10, 0, back), PP_OK);
    it_assert_status(pp_array_read(a, 1, SIZE_MAX, back), PP_EINVAL);
    it_assert_status(pp_array_read(NULL, 0, 1, back), PP_EINVAL);

    it_assert_status(pp_array_create(c, 'i', 0, false, &v), PP_OK);
    ck_assert(pp_array_is_value(v));
    ck_assert_uint_eq(pp_array_len(v), 1);
    ck_assert_ptr_null(pp_array_lock(v));
    *(int32_t *)pp_array_data(v) = 42;

    /* Through a handle, in another client. */
    pp_client *c2 = it_client(D.url);
    pp_value *hv = pp_array_to_value(v), *ha = pp_array_to_value(a);
    pp_array *v2 = NULL, *a2 = NULL;
    it_assert_status(pp_array_from_value(c2, hv, &v2), PP_OK);
    ck_assert(pp_array_is_value(v2));
    ck_assert_ptr_null(pp_array_lock(v2));
    ck_assert_int_eq(*(int32_t *)pp_array_data(v2), 42);
    it_assert_status(pp_array_from_value(c2, ha, &a2), PP_OK);
    ck_assert_uint_eq(pp_array_len(a2), 10);
    ck_assert(((double *)pp_array_data(a2))[7] == -1.0);
    ck_assert(((double *)pp_array_data(a2))[9] == 2.5);
    it_assert_status(pp_sync_acquire(pp_array_lock(a), 0), PP_OK);
    it_assert_status(try_in_thread(pp_array_lock(a2)), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(pp_array_lock(a2)), PP_OK);

    it_assert_status(pp_array_create(c, 'z', 3, true, &x), PP_EINVAL);
    it_assert_status(pp_array_create(c, 0, 3, true, &x), PP_EINVAL);
    it_assert_status(pp_array_create(NULL, 'i', 3, true, &x), PP_EINVAL);
    it_assert_status(pp_array_create(c, 'i', 3, true, NULL), PP_EINVAL);
    it_assert_status(pp_array_create(c, 'q', SIZE_MAX / 4, true, &x), PP_ENOMEM);
    it_assert_status(pp_array_create(c, 'q', ((size_t)1 << 40) / 8 + 1, false, &x), PP_ENOMEM);
    ck_assert_ptr_null(x);
    ck_assert_uint_eq(pp_array_len(NULL), 0);
    ck_assert_ptr_null(pp_array_data(NULL));
    ck_assert_ptr_null(pp_array_lock(NULL));

    pp_value_free(hv);
    pp_value_free(ha);
    pp_array_free(v2);
    pp_array_free(a2);
    pp_array_free(a);
    pp_array_free(v);
    ck_assert_uint_eq(shm_entries(), 0);
    pp_client_close(c2);
    pp_client_close(c);
}
END_TEST

#define COUNTER_PROCS 4
#define COUNTER_ADDS 100000

static pp_array *child_arr;

static int child_count(void *arg, int i)
{
    (void)arg;
    (void)i;
    pp_sync *l = pp_array_lock(child_arr);
    int64_t *x = pp_array_data(child_arr);
    for (int k = 0; k < COUNTER_ADDS; k++) {
        if (pp_sync_acquire(l, -1) != PP_OK)
            return 100;
        ++*x;
        if (pp_sync_release(l) != PP_OK)
            return 101;
    }
    return 0;
}

START_TEST(array_counter_processes)
{
    pp_client *c = it_client(D.url);
    it_assert_status(pp_array_create(c, 'q', 0, true, &child_arr), PP_OK);
    pid_t w[COUNTER_PROCS];
    for (int i = 0; i < COUNTER_PROCS; i++)
        w[i] = it_fork_child(child_count, NULL, i);
    for (int i = 0; i < COUNTER_PROCS; i++)
        assert_child_status(w[i], PP_OK);
    ck_assert_int_eq(*(int64_t *)pp_array_data(child_arr), COUNTER_PROCS * COUNTER_ADDS);
    it_assert_status(pp_sync_acquire(pp_array_lock(child_arr), 0), PP_OK);
    it_assert_status(pp_sync_release(pp_array_lock(child_arr)), PP_OK);
    pp_array_free(child_arr);
    pp_client_close(c);
}
END_TEST

/* ---- handles in tasks -------------------------------------------------------------- */

/* C tasks in workers open passed handles (with a NULL client) and operate
 * on the same objects. */
START_TEST(array_counter_tasks)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, COUNTER_PROCS);
    pp_array *a = NULL;
    it_assert_status(pp_array_create(c, 'q', 0, true, &a), PP_OK);
    pp_func *f = it_func("pt_array_add");
    pp_value *items = pp_value_list(), *res = NULL;
    for (int i = 0; i < COUNTER_PROCS; i++)
        pp_value_append(items, list_of(pp_array_to_value(a), pp_value_int(COUNTER_ADDS), NULL));
    pp_map_opts mo = { .chunksize = 1, .star = true };
    it_assert_status(pp_pool_map(p, f, items, &mo, &res), PP_OK);
    ck_assert_uint_eq(pp_value_len(res), COUNTER_PROCS);
    ck_assert_int_eq(*(int64_t *)pp_array_data(a), COUNTER_PROCS * COUNTER_ADDS);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_array_free(a);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static pp_value *task1(pp_pool *p, const char *fn, pp_value *args, pp_status want)
{
    pp_func *f = it_func(fn);
    pp_value *res = NULL;
    it_assert_status(pp_pool_apply(p, f, args, 20000, &res), want);
    pp_func_free(f);
    pp_value_free(args);
    return res;
}

static void assert_task_says(pp_pool *p, const char *fn, pp_value *args, const char *want)
{
    pp_value *res = task1(p, fn, args, PP_OK);
    const char *got = pp_value_get_string(res, NULL);
    ck_assert_msg(got && !strcmp(got, want), "%s said %s, want %s", fn, got ? got : "(null)",
                  want);
    pp_value_free(res);
}

START_TEST(handles_through_tasks)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_sync *l, *e, *b, *cv;
    pp_shm *s;
    pp_array *a;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_event_create(c, &e), PP_OK);
    it_assert_status(pp_barrier_create(c, 2, &b), PP_OK);
    it_assert_status(pp_condition_create(c, l, &cv), PP_OK);
    it_assert_status(pp_shm_create(c, "it-task", 64, &s), PP_OK);
    it_assert_status(pp_array_create(c, 'h', 3, false, &a), PP_OK);

    /* Every kind survives the trip to a worker and back. */
    pp_value *hs[] = { pp_sync_to_value(l), pp_sync_to_value(e), pp_sync_to_value(b),
                       pp_sync_to_value(cv), pp_shm_to_value(s), pp_array_to_value(a) };
    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++) {
        pp_value *back = task1(p, "pt_echo", list_of(pp_value_copy(hs[i]), NULL, NULL), PP_OK);
        ck_assert_int_eq(pp_value_handle_type(back), pp_value_handle_type(hs[i]));
        ck_assert(pp_value_equal(back, hs[i]));
        pp_value_free(back);
    }
    pp_value *back = task1(p, "pt_echo", list_of(pp_value_copy(hs[3]), NULL, NULL), PP_OK);
    pp_sync *cv2 = NULL;
    it_assert_status(pp_sync_from_value(c, back, &cv2), PP_OK);
    it_assert_status(pp_sync_acquire(cv2, 0), PP_OK);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_sync_free(cv2);
    pp_value_free(back);

    /* A task acquires the test's lock: busy while held here, then free;
     * a worker may keep it, and this process may release it. */
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    assert_task_says(p, "pt_acquire",
                     list_of(pp_value_copy(hs[0]), pp_value_int(0), pp_value_int(0)),
                     "PP_ETIMEDOUT");
    assert_task_says(p, "pt_acquire",
                     list_of(pp_value_copy(hs[0]), pp_value_int(50), pp_value_int(0)),
                     "PP_ETIMEDOUT");
    it_assert_status(pp_sync_release(l), PP_OK);
    assert_task_says(p, "pt_acquire",
                     list_of(pp_value_copy(hs[0]), pp_value_int(0), pp_value_int(0)), "PP_OK");
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(l), PP_OK);

    /* A task waits for an event set here. */
    pp_func *fw = it_func("pt_event_wait");
    pp_value *args = list_of(pp_value_copy(hs[1]), pp_value_int(10000), NULL);
    pp_future *fut = NULL;
    it_assert_status(pp_pool_apply_async(p, fw, args, NULL, NULL, &fut), PP_OK);
    pp_value_free(args);
    it_assert_status(pp_event_set(e), PP_OK);
    pp_value *res = NULL;
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    ck_assert_str_eq(pp_value_get_string(res, NULL), "PP_OK");
    pp_value_free(res);
    pp_future_free(fut);
    pp_func_free(fw);
    it_assert_status(pp_event_clear(e), PP_OK);
    assert_task_says(p, "pt_event_wait", list_of(pp_value_copy(hs[1]), pp_value_int(30), NULL),
                     "PP_ETIMEDOUT");

    /* A task is the other party of a barrier. */
    pp_func *fb = it_func("pt_barrier_wait");
    args = list_of(pp_value_copy(hs[2]), pp_value_int(10000), NULL);
    it_assert_status(pp_pool_apply_async(p, fb, args, NULL, NULL, &fut), PP_OK);
    pp_value_free(args);
    unsigned idx = 9;
    it_assert_status(pp_barrier_wait(b, 10000, &idx), PP_OK);
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    ck_assert_int_eq(1 << idx | 1 << pp_value_get_int(res), 3);
    pp_value_free(res);
    pp_future_free(fut);
    pp_func_free(fb);

    /* A task writes a segment; a wrong handle kind fails the task. */
    res = task1(p, "pt_shm_write",
                list_of(pp_value_copy(hs[4]), pp_value_int(60), pp_value_bytes("wxyz", 4)),
                PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 64);
    pp_value_free(res);
    ck_assert_int_eq(memcmp((char *)pp_shm_data(s) + 60, "wxyz", 4), 0);
    res = task1(p, "pt_shm_write",
                list_of(pp_value_copy(hs[4]), pp_value_int(61), pp_value_bytes("wxyz", 4)),
                PP_ETASK);
    ck_assert_ptr_null(res);
    ck_assert_msg(strstr(pp_last_error()->message, "PP_EINVAL"), "%s", pp_last_error()->message);
    res = task1(p, "pt_shm_write",
                list_of(pp_value_copy(hs[0]), pp_value_int(0), pp_value_bytes("w", 1)),
                PP_ETASK);
    ck_assert_ptr_null(res);
    ck_assert_msg(strstr(pp_last_error()->message, "PP_EINVAL"), "%s", pp_last_error()->message);

    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++)
        pp_value_free(hs[i]);
    pp_sync_free(cv);
    pp_sync_free(l);
    pp_sync_free(e);
    pp_sync_free(b);
    pp_shm_close(s);
    pp_array_free(a);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* A worker dies holding a passed lock: the daemon hands it over. */
static void worker_killed_holding(bool rlock, int how)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_sync *l = NULL;
    it_assert_status(rlock ? pp_rlock_create(c, &l) : pp_lock_create(c, &l), PP_OK);
    pp_value *res =
        task1(p, "pt_acquire_and_die", list_of(pp_sync_to_value(l), pp_value_int(how), NULL),
              PP_EWORKER);
    ck_assert_ptr_null(res);
    wait_handed_over();
    it_assert_status(pp_sync_acquire(l, 0), PP_EOWNERDEAD);
    it_assert_status(pp_sync_release(l), PP_OK);
    /* The replacement worker takes it normally. */
    assert_task_says(p, "pt_acquire", list_of(pp_sync_to_value(l), pp_value_int(5000),
                                              pp_value_int(1)), "PP_OK");
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_sync_free(l);
    pp_pool_free(p);
    pp_client_close(c);
}

START_TEST(worker_killed_holding_lock)
{
    worker_killed_holding(false, 0);
}
END_TEST

START_TEST(worker_aborted_holding_rlock)
{
    worker_killed_holding(true, 1);
}
END_TEST

/* A task blocked on a lock gets PP_EOWNERDEAD when the holder (a helper
 * client) is killed. */
START_TEST(task_waiter_gets_ownerdead)
{
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_sync *l = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    pp_pool *hp = handle_pool(c, "it-hold", pp_sync_to_value(l));
    pid_t h = spawn_holder("it-hold", false);
    pp_func *f = it_func("pt_acquire");
    pp_value *args = list_of(pp_sync_to_value(l), pp_value_int(10000), pp_value_int(1));
    pp_future *fut = NULL;
    it_assert_status(pp_pool_apply_async(p, f, args, NULL, NULL, &fut), PP_OK);
    kill_reap(h);
    pp_value *res = NULL;
    it_assert_status(pp_future_get(fut, 20000, &res), PP_OK);
    ck_assert_str_eq(pp_value_get_string(res, NULL), "PP_EOWNERDEAD");
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_value_free(res);
    pp_value_free(args);
    pp_future_free(fut);
    pp_func_free(f);
    pp_pool_free(hp);
    pp_pool_free(p);
    pp_sync_free(l);
    pp_client_close(c);
}
END_TEST

/* ---- no_map clients: through the daemon ------------------------------------------ */

START_TEST(nomap_env)
{
    setenv("POLYPOOL_NO_MAP", "1", 1);
    pp_client *c = it_client(D.url);
    unsetenv("POLYPOOL_NO_MAP");
    pp_shm *s = NULL;
    it_assert_status(pp_shm_create(c, NULL, 64, &s), PP_OK);
    ck_assert_ptr_null(pp_shm_data(s));
    it_assert_status(pp_shm_write(s, 0, "env", 3), PP_OK);
    char buf[4] = { 0 };
    it_assert_status(pp_shm_read(s, 0, buf, 3), PP_OK);
    ck_assert_str_eq(buf, "env");
    pp_shm_close(s);
    pp_client_close(c);
}
END_TEST

START_TEST(nomap_shm)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_shm *sn = NULL, *sm = NULL;
    it_assert_status(pp_shm_create(n, "it-nm", 1 << 20, &sn), PP_OK);
    ck_assert_ptr_null(pp_shm_data(sn));
    ck_assert_uint_eq(pp_shm_size(sn), 1 << 20);
    ck_assert_str_eq(pp_shm_name(sn), "it-nm");
    it_assert_status(pp_shm_write(sn, 0, "abc", 3), PP_OK);
    it_assert_status(pp_shm_attach(m, "it-nm", &sm), PP_OK);
    unsigned char *pm = pp_shm_data(sm);
    ck_assert_int_eq(memcmp(pm, "abc", 3), 0);
    memcpy(pm + (1 << 20) - 3, "xyz", 3);
    char buf[4] = { 0 };
    it_assert_status(pp_shm_read(sn, (1 << 20) - 3, buf, 3), PP_OK);
    ck_assert_str_eq(buf, "xyz");
    /* A large read and write, whole. */
    size_t big = 256 << 10;
    unsigned char *out = malloc(big), *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        out[i] = (unsigned char)(i * 7 + 3);
    it_assert_status(pp_shm_write(sn, 4096, out, big), PP_OK);
    ck_assert_int_eq(memcmp(pm + 4096, out, big), 0);
    it_assert_status(pp_shm_read(sn, 4096, in, big), PP_OK);
    ck_assert_int_eq(memcmp(in, out, big), 0);
    free(in);
    free(out);
    /* Bounds. */
    it_assert_status(pp_shm_read(sn, (1 << 20) - 2, buf, 3), PP_EINVAL);
    it_assert_status(pp_shm_write(sn, 1 << 20, "a", 1), PP_EINVAL);
    it_assert_status(pp_shm_read(sn, 1 << 20, buf, 0), PP_OK);
    /* Attached by name and from a handle, unmapped too. */
    pp_shm *sn2 = NULL, *sn3 = NULL;
    it_assert_status(pp_shm_attach(n, "it-nm", &sn2), PP_OK);
    ck_assert_ptr_null(pp_shm_data(sn2));
    pp_value *v = pp_shm_to_value(sm);
    it_assert_status(pp_shm_from_value(n, v, &sn3), PP_OK);
    ck_assert_ptr_null(pp_shm_data(sn3));
    it_assert_status(pp_shm_read(sn3, 0, buf, 3), PP_OK);
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
    pp_value_free(v);
    pp_shm_close(sn2);
    pp_shm_close(sn3);
    ck_assert_uint_eq(shm_entries(), 1);
    pp_shm_close(sm);
    pp_shm_close(sn);
    ck_assert_uint_eq(shm_entries(), 0);

    /* An array: no data pointer, copies and a lock through the daemon. */
    pp_array *a = NULL, *am = NULL;
    it_assert_status(pp_array_create(n, 'q', 4, true, &a), PP_OK);
    ck_assert_ptr_null(pp_array_data(a));
    ck_assert_uint_eq(pp_array_len(a), 4);
    int64_t q[2] = { -7, 1LL << 40 }, qb[2] = { 0, 0 };
    it_assert_status(pp_array_write(a, 2, 2, q), PP_OK);
    it_assert_status(pp_array_read(a, 2, 2, qb), PP_OK);
    ck_assert(qb[0] == -7 && qb[1] == 1LL << 40);
    it_assert_status(pp_array_write(a, 3, 2, q), PP_EINVAL);
    pp_value *av = pp_array_to_value(a);
    it_assert_status(pp_array_from_value(m, av, &am), PP_OK);
    pp_value_free(av);
    ck_assert(((int64_t *)pp_array_data(am))[3] == 1LL << 40);
    pp_array_free(am);
    it_assert_status(pp_sync_acquire(pp_array_lock(a), 0), PP_OK);
    it_assert_status(pp_sync_release(pp_array_lock(a)), PP_OK);
    it_assert_status(pp_sync_release(pp_array_lock(a)), PP_ESTATE);
    pp_array_free(a);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

START_TEST(nomap_lock)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *l = NULL, *lm = NULL;
    it_assert_status(pp_lock_create(n, &l), PP_OK);
    pp_value *v = pp_sync_to_value(l);
    it_assert_status(pp_sync_from_value(m, v, &lm), PP_OK);
    pp_value_free(v);
    it_assert_status(pp_sync_release(l), PP_ESTATE);
    it_assert_status(pp_sync_acquire(l, -1), PP_OK);
    it_assert_status(pp_sync_acquire(lm, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_sync_acquire(l, 60), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 55 && ms < 1500, "a 60 ms timeout took %lld ms", (long long)ms);
    it_assert_status(pp_sync_release(l), PP_OK);
    it_assert_status(pp_sync_release(l), PP_ESTATE);
    it_assert_status(pp_sync_acquire(lm, 0), PP_OK);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    /* A Lock: whoever releases it. */
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_sync_free(lm);
    pp_sync_free(l);

    /* An RLock counts per thread, through the daemon too. */
    pp_sync *r = NULL;
    it_assert_status(pp_rlock_create(n, &r), PP_OK);
    it_assert_status(pp_sync_acquire(r, 0), PP_OK);
    it_assert_status(pp_sync_acquire(r, 1000), PP_OK);
    it_assert_status(try_in_thread(r), PP_ETIMEDOUT);
    it_assert_status(release_in_thread(r), PP_EPERM);
    it_assert_status(pp_sync_release(r), PP_OK);
    it_assert_status(try_in_thread(r), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(r), PP_OK);
    it_assert_status(pp_sync_release(r), PP_ESTATE);
    it_assert_status(try_in_thread(r), PP_OK);
    pp_sync_free(r);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

START_TEST(nomap_semaphore)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *s = NULL, *sm = NULL, *bs = NULL;
    unsigned v = 9;
    it_assert_status(pp_semaphore_create(n, 1, &s), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 1);
    it_assert_status(pp_sync_acquire(s, 0), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 0);
    it_assert_status(pp_sync_acquire(s, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_acquire(s, 40), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_sync_release(s), PP_OK);
    it_assert_status(pp_semaphore_value(s, &v), PP_OK);
    ck_assert_uint_eq(v, 2);

    /* A no_map waiter gets a unit a mapped client releases. */
    pp_value *h = pp_sync_to_value(s);
    it_assert_status(pp_sync_from_value(m, h, &sm), PP_OK);
    pp_value_free(h);
    it_assert_status(pp_sync_acquire(sm, 0), PP_OK);
    it_assert_status(pp_sync_acquire(sm, 0), PP_OK);
    struct acq a;
    acq_start(&a, s, 10000, false);
    wait_nomap_parked();
    it_assert_status(pp_sync_release(sm), PP_OK);
    it_assert_status(acq_join(&a), PP_OK);
    it_assert_status(pp_semaphore_value(sm, &v), PP_OK);
    ck_assert_uint_eq(v, 0);

    it_assert_status(pp_bounded_semaphore_create(n, 1, &bs), PP_OK);
    it_assert_status(pp_sync_release(bs), PP_ESTATE);
    it_assert_status(pp_sync_acquire(bs, 0), PP_OK);
    it_assert_status(pp_sync_release(bs), PP_OK);
    it_assert_status(pp_sync_release(bs), PP_ESTATE);
    pp_sync_free(bs);
    pp_sync_free(sm);
    pp_sync_free(s);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

struct evw {
    pp_sync *e;
    int timeout_ms;
    pp_status st;
    pthread_t t;
};

static void *evw_main(void *arg)
{
    struct evw *w = arg;
    w->st = pp_event_wait(w->e, w->timeout_ms);
    return NULL;
}

START_TEST(nomap_event)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *e = NULL, *em = NULL;
    it_assert_status(pp_event_create(n, &e), PP_OK);
    ck_assert(!pp_event_is_set(e));
    int64_t t0 = it_now_ms();
    it_assert_status(pp_event_wait(e, 60), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert_msg(ms >= 55 && ms < 1500, "a 60 ms wait took %lld ms", (long long)ms);
    /* 0 does not wait. */
    t0 = it_now_ms();
    it_assert_status(pp_event_wait(e, 0), PP_ETIMEDOUT);
    ms = it_now_ms() - t0;
    ck_assert_msg(ms < 500, "a wait with timeout 0 took %lld ms", (long long)ms);
    it_assert_status(pp_event_set(e), PP_OK);
    ck_assert(pp_event_is_set(e));
    it_assert_status(pp_event_wait(e, 0), PP_OK);
    it_assert_status(pp_event_wait(e, -1), PP_OK);
    it_assert_status(pp_event_clear(e), PP_OK);
    ck_assert(!pp_event_is_set(e));

    /* A no_map waiter sees a mapped client's set. */
    pp_value *h = pp_sync_to_value(e);
    it_assert_status(pp_sync_from_value(m, h, &em), PP_OK);
    pp_value_free(h);
    struct evw w = { e, 10000, PP_EINTERNAL };
    ck_assert_int_eq(pthread_create(&w.t, NULL, evw_main, &w), 0);
    wait_nomap_parked();
    it_assert_status(pp_event_set(em), PP_OK);
    pthread_join(w.t, NULL);
    it_assert_status(w.st, PP_OK);
    pp_sync_free(em);
    pp_sync_free(e);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

/* A no_map waiter blocked on a lock a mapped client holds gets it when
 * released, and the other way round. */
START_TEST(nomap_waiter_and_mapped_holder)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *lm = NULL, *ln = NULL;
    it_assert_status(pp_lock_create(m, &lm), PP_OK);
    pp_value *h = pp_sync_to_value(lm);
    it_assert_status(pp_sync_from_value(n, h, &ln), PP_OK);
    pp_value_free(h);

    it_assert_status(pp_sync_acquire(lm, 0), PP_OK);
    struct acq a;
    acq_start(&a, ln, 10000, false);
    wait_nomap_parked();
    it_assert_status(pp_sync_release(lm), PP_OK);
    it_assert_status(acq_join(&a), PP_OK);
    ck_assert_msg(a.ms < 5000, "took %lld ms", (long long)a.ms);
    it_assert_status(pp_sync_acquire(lm, 0), PP_ETIMEDOUT);

    /* Now the no_map side holds it; a mapped waiter blocks until the
     * daemon releases it for the no_map client. */
    acq_start(&a, lm, 10000, true);
    it_assert_status(pp_sync_release(ln), PP_OK);
    it_assert_status(acq_join(&a), PP_OK);
    it_assert_status(pp_sync_acquire(ln, 0), PP_OK);
    it_assert_status(pp_sync_release(ln), PP_OK);

    /* A forked process holds it; the no_map waiter gets it with
     * PP_EOWNERDEAD when that process is killed. */
    child_scratch = scratch_new();
    child_lock = lm;
    pid_t hpid = it_fork_child(child_hold, NULL, 0);
    ck_assert(it_wait_until(flag_set, child_scratch, IT_DEADLINE_MS));
    acq_start(&a, ln, 10000, false);
    wait_nomap_parked();
    kill_reap(hpid);
    it_assert_status(acq_join(&a), PP_EOWNERDEAD);
    it_assert_status(pp_sync_release(ln), PP_OK);
    scratch_free(child_scratch);
    pp_sync_free(ln);
    pp_sync_free(lm);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

/* Takes and drops child_lock in a tight loop (counting in scratch->woken)
 * until scratch->flag is set; exits with the first acquire that is not
 * PP_OK. */
static int child_churn(void *arg, int i)
{
    (void)arg;
    (void)i;
    while (!atomic_load(&child_scratch->flag)) {
        pp_status st = pp_sync_acquire(child_lock, 10000);
        if (st != PP_OK)
            return st;
        atomic_fetch_add(&child_scratch->woken, 1);
        for (volatile int k = 0; k < 20; k++)
            ;
        if (pp_sync_release(child_lock) != PP_OK)
            return 101;
        for (volatile int k = 0; k < 20; k++)
            ;
    }
    return 0;
}

#define NOMAP_ROUNDS 300

/* A no_map client contending with a live process that takes and drops the
 * lock all the time: every acquire, the daemon's for the no_map client and
 * the process's own, is an ordinary one, never a hand-over from a "dead"
 * holder. (The daemon once took a lock released between its attempt and
 * its look at the holder for a dead holder's.) */
START_TEST(nomap_contended_lock)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *ln = NULL;
    it_assert_status(pp_lock_create(m, &child_lock), PP_OK);
    pp_value *h = pp_sync_to_value(child_lock);
    it_assert_status(pp_sync_from_value(n, h, &ln), PP_OK);
    pp_value_free(h);
    child_scratch = scratch_new();
    pid_t w = it_fork_child(child_churn, NULL, 0);
    wait_count(&child_scratch->woken, 1000);
    int counts[PP_ESTATE + 1] = { 0 };
    for (int i = 0; i < NOMAP_ROUNDS; i++) {
        pp_status st = pp_sync_acquire(ln, 5000);
        ck_assert_int_le(st, PP_ESTATE);
        counts[st]++;
        if (st == PP_OK || st == PP_EOWNERDEAD)
            it_assert_status(pp_sync_release(ln), PP_OK);
    }
    atomic_store(&child_scratch->flag, 1);
    assert_child_status(w, PP_OK);
    ck_assert_msg(counts[PP_OK] == NOMAP_ROUNDS, "%d OK, %d EOWNERDEAD, %d ETIMEDOUT",
                  counts[PP_OK], counts[PP_EOWNERDEAD], counts[PP_ETIMEDOUT]);
    scratch_free(child_scratch);
    pp_sync_free(ln);
    pp_sync_free(child_lock);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

struct cw {
    pp_sync *cv;
    int timeout_ms;
    pp_status st, rel;
    pthread_t t;
};

/* Takes the condition's lock, waits, releases. */
static void *cw_main(void *arg)
{
    struct cw *w = arg;
    w->st = pp_sync_acquire(w->cv, 10000);
    if (w->st != PP_OK)
        return NULL;
    w->st = pp_condition_wait(w->cv, w->timeout_ms);
    w->rel = pp_sync_release(w->cv);
    return NULL;
}

/* Conditions through the daemon: a no_map waiter notified by a mapped
 * client, timeouts, and the lock taken back at its depth. */
START_TEST(nomap_condition)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *cm = NULL, *cn = NULL;
    it_assert_status(pp_condition_create(m, NULL, &cm), PP_OK);
    pp_value *h = pp_sync_to_value(cm);
    it_assert_status(pp_sync_from_value(n, h, &cn), PP_OK);
    pp_value_free(h);
    it_assert_status(pp_condition_wait(cn, 0), PP_ESTATE);
    it_assert_status(pp_condition_notify(cn, 1), PP_ESTATE);

    /* Held twice; a wait of 0 gives it up and takes it back, promptly. */
    it_assert_status(pp_sync_acquire(cn, 0), PP_OK);
    it_assert_status(pp_sync_acquire(cn, 0), PP_OK);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_condition_wait(cn, 0), PP_ETIMEDOUT);
    ck_assert_msg(it_now_ms() - t0 < 500, "a wait of 0 took %lld ms",
                  (long long)(it_now_ms() - t0));
    t0 = it_now_ms();
    it_assert_status(pp_condition_wait(cn, 60), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 55);
    it_assert_status(try_in_thread(cm), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(cn), PP_OK);
    it_assert_status(try_in_thread(cm), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(cn), PP_OK);
    it_assert_status(pp_sync_release(cn), PP_ESTATE);
    it_assert_status(try_in_thread(cm), PP_OK);

    /* A no_map waiter, notified by this (mapped) thread. */
    struct cw w = { cn, 10000, PP_EINTERNAL, PP_EINTERNAL };
    ck_assert_int_eq(pthread_create(&w.t, NULL, cw_main, &w), 0);
    wait_nomap_parked();
    /* Once the mapped side has the lock, the waiter is registered. */
    it_assert_status(pp_sync_acquire(cm, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify(cm, 1), PP_OK);
    it_assert_status(pp_sync_release(cm), PP_OK);
    pthread_join(w.t, NULL);
    it_assert_status(w.st, PP_OK);
    it_assert_status(w.rel, PP_OK);

    /* And a mapped waiter in another process, notified by the no_map client. */
    child_scratch = scratch_new();
    child_cond = cm;
    pid_t k = it_fork_child(child_cond_wait, NULL, 0);
    wait_count(&child_scratch->ready, 1);
    it_assert_status(pp_sync_acquire(cn, IT_DEADLINE_MS), PP_OK);
    it_assert_status(pp_condition_notify_all(cn), PP_OK);
    it_assert_status(pp_sync_release(cn), PP_OK);
    assert_child_status(k, PP_OK);
    scratch_free(child_scratch);
    pp_sync_free(cn);
    pp_sync_free(cm);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

struct bw {
    pp_sync *b;
    int timeout_ms;
    unsigned idx;
    pp_status st;
    pthread_t t;
};

static void *bw_main(void *arg)
{
    struct bw *w = arg;
    w->st = pp_barrier_wait(w->b, w->timeout_ms, &w->idx);
    return NULL;
}

START_TEST(nomap_barrier)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *bn = NULL;
    child_scratch = scratch_new();
    child_scratch->flag = 1;
    it_assert_status(pp_barrier_create(m, 3, &child_bar), PP_OK);
    pp_value *h = pp_sync_to_value(child_bar);
    it_assert_status(pp_sync_from_value(n, h, &bn), PP_OK);
    pp_value_free(h);
    ck_assert_uint_eq(pp_barrier_parties(bn), 3);
    ck_assert(!pp_barrier_broken(bn));
    it_assert_status(pp_barrier_wait_action(bn, 0, action_ok, child_scratch, NULL), PP_EINVAL);

    /* Three parties: a forked process, a no_map thread, this thread. */
    pid_t k = it_fork_child(child_barrier_once, NULL, 0);
    struct bw w = { bn, 10000, 99, PP_EINTERNAL };
    ck_assert_int_eq(pthread_create(&w.t, NULL, bw_main, &w), 0);
    wait_n_waiting(child_bar, 2);
    ck_assert_uint_eq(pp_barrier_n_waiting(bn), 2);
    unsigned idx = 99;
    it_assert_status(pp_barrier_wait(child_bar, 10000, &idx), PP_OK);
    pthread_join(w.t, NULL);
    it_assert_status(w.st, PP_OK);
    assert_child_status(k, PP_OK);
    ck_assert_int_eq(1 << idx | 1 << w.idx | 1 << child_scratch->index[0], 7);

    /* The no_map waiter's timeout breaks it for the others. */
    k = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    it_assert_status(pp_barrier_wait(bn, 60, &idx), PP_ETIMEDOUT);
    assert_child_status(k, PP_ESTATE);
    ck_assert(pp_barrier_broken(bn));
    it_assert_status(pp_barrier_wait(bn, 0, &idx), PP_ESTATE);
    it_assert_status(pp_barrier_reset(bn), PP_OK);
    ck_assert(!pp_barrier_broken(child_bar));
    /* abort from the no_map client. */
    k = it_fork_child(child_barrier_once, NULL, 0);
    wait_n_waiting(child_bar, 1);
    it_assert_status(pp_barrier_abort(bn), PP_OK);
    assert_child_status(k, PP_ESTATE);
    ck_assert(pp_barrier_broken(child_bar));
    pp_sync_free(bn);
    pp_sync_free(child_bar);
    scratch_free(child_scratch);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

/* Takes the condition's lock (blocking), holds it HOLD_MS, drops it. */
#define HOLD_MS 2300
static int child_cond_hold(void *arg, int i)
{
    (void)arg;
    (void)i;
    atomic_store(&child_scratch->ready, 1);
    if (pp_sync_acquire(child_cond, 10000) != PP_OK)
        return 100;
    atomic_store(&child_scratch->flag, 1);
    struct timespec ts = { HOLD_MS / 1000, (HOLD_MS % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return pp_sync_release(child_cond);
}

/* A no_map condition wait returns only with its lock back, however long
 * after its timeout another process holds the lock (longer than the
 * client's grace for a late reply). */
START_TEST(nomap_condition_wait_returns_with_lock)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *cn = NULL;
    it_assert_status(pp_condition_create(m, NULL, &child_cond), PP_OK);
    pp_value *h = pp_sync_to_value(child_cond);
    it_assert_status(pp_sync_from_value(n, h, &cn), PP_OK);
    pp_value_free(h);
    child_scratch = scratch_new();
    it_assert_status(pp_sync_acquire(cn, 0), PP_OK);
    pid_t w = it_fork_child(child_cond_hold, NULL, 0);
    wait_count(&child_scratch->ready, 1);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_condition_wait(cn, 50), PP_ETIMEDOUT);
    int64_t ms = it_now_ms() - t0;
    ck_assert(atomic_load(&child_scratch->flag));
    ck_assert_msg(ms >= HOLD_MS - 100, "the wait returned after %lld ms, before the lock was free",
                  (long long)ms);
    it_assert_status(try_in_thread(child_cond), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(cn), PP_OK);
    assert_child_status(w, PP_OK);
    scratch_free(child_scratch);
    pp_sync_free(cn);
    pp_sync_free(child_cond);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

/* The daemon takes a condition's lock back for a no_map waiter while a live
 * process takes and drops it all the time: that process never sees its
 * lock handed over as a dead holder's. */
START_TEST(nomap_contended_condition)
{
    pp_client *n = nomap_client(), *m = it_client(D.url);
    pp_sync *cn = NULL, *cm = NULL;
    it_assert_status(pp_lock_create(m, &child_lock), PP_OK);
    it_assert_status(pp_condition_create(m, child_lock, &cm), PP_OK);
    pp_value *h = pp_sync_to_value(cm);
    it_assert_status(pp_sync_from_value(n, h, &cn), PP_OK);
    pp_value_free(h);
    child_scratch = scratch_new();
    pid_t w = it_fork_child(child_churn, NULL, 0);
    wait_count(&child_scratch->woken, 1000);
    for (int i = 0; i < 60; i++) {
        it_assert_status(pp_sync_acquire(cn, 5000), PP_OK);
        it_assert_status(pp_condition_wait(cn, 1), PP_ETIMEDOUT);
        it_assert_status(pp_sync_release(cn), PP_OK);
    }
    atomic_store(&child_scratch->flag, 1);
    assert_child_status(w, PP_OK);
    scratch_free(child_scratch);
    pp_sync_free(cn);
    pp_sync_free(cm);
    pp_sync_free(child_lock);
    pp_client_close(m);
    pp_client_close(n);
}
END_TEST

/* ---- the rest of Python's API (docs/parity.md) ---------------------------------- */

static unsigned sync_value(pp_sync *s)
{
    unsigned v = 12345;
    it_assert_status(pp_sync_value(s, &v), PP_OK);
    return v;
}

/* get_value() of every primitive, mapped and through the daemon. */
static void check_sync_values(pp_client *c)
{
    pp_sync *l, *r, *sem, *bs, *e, *cv, *b;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_rlock_create(c, &r), PP_OK);
    it_assert_status(pp_semaphore_create(c, 3, &sem), PP_OK);
    it_assert_status(pp_bounded_semaphore_create(c, 2, &bs), PP_OK);
    it_assert_status(pp_event_create(c, &e), PP_OK);
    it_assert_status(pp_condition_create(c, NULL, &cv), PP_OK);
    it_assert_status(pp_barrier_create(c, 2, &b), PP_OK);

    /* Locks: 1 free, 0 held, whoever holds them. */
    ck_assert_uint_eq(sync_value(l), 1);
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    ck_assert_uint_eq(sync_value(l), 0);
    it_assert_status(pp_sync_release(l), PP_OK);
    ck_assert_uint_eq(sync_value(l), 1);
    it_assert_status(pp_sync_acquire(r, 0), PP_OK);
    it_assert_status(pp_sync_acquire(r, 0), PP_OK);
    ck_assert_uint_eq(sync_value(r), 0);
    it_assert_status(pp_sync_release(r), PP_OK);
    it_assert_status(pp_sync_release(r), PP_OK);
    ck_assert_uint_eq(sync_value(r), 1);
    /* Semaphores: their value. */
    ck_assert_uint_eq(sync_value(sem), 3);
    it_assert_status(pp_sync_acquire(sem, 0), PP_OK);
    ck_assert_uint_eq(sync_value(sem), 2);
    ck_assert_uint_eq(sync_value(bs), 2);
    /* Events: set or not. */
    ck_assert_uint_eq(sync_value(e), 0);
    it_assert_status(pp_event_set(e), PP_OK);
    ck_assert_uint_eq(sync_value(e), 1);
    /* Conditions and barriers have none (Python: TypeError). */
    unsigned v = 7;
    it_assert_status(pp_sync_value(cv, &v), PP_EINVAL);
    it_assert_status(pp_sync_value(b, &v), PP_EINVAL);
    ck_assert_uint_eq(v, 7);
    it_assert_status(pp_sync_value(NULL, &v), PP_EINVAL);
    it_assert_status(pp_sync_value(l, NULL), PP_EINVAL);
    /* As Python's acquire() on them: an Event or a Barrier cannot be
     * acquired (a Condition acquires its lock). */
    it_assert_status(pp_sync_acquire(e, 0), PP_EINVAL);
    it_assert_status(pp_sync_acquire(b, 0), PP_EINVAL);
    it_assert_status(pp_sync_release(e), PP_EINVAL);

    pp_sync *all[] = { l, r, sem, bs, e, cv, b };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pp_sync_free(all[i]);
}

START_TEST(sync_value_of_each)
{
    pp_client *c = it_client(D.url);
    check_sync_values(c);
    pp_client_close(c);
    pp_client *n = nomap_client();
    check_sync_values(n);
    pp_client_close(n);
}
END_TEST

struct flag_setter {
    pp_sync *cv;
    _Atomic int flag;
    pthread_t t;
};

static bool flag_is_set(void *arg)
{
    return atomic_load(&((struct flag_setter *)arg)->flag) != 0;
}

/* Sets the flag with the condition's lock held, and notifies. */
static void *flag_setter_main(void *arg)
{
    struct flag_setter *f = arg;
    if (pp_sync_acquire(f->cv, 10000) == PP_OK) {
        atomic_store(&f->flag, 1);
        pp_condition_notify_all(f->cv);
        pp_sync_release(f->cv);
    }
    return NULL;
}

START_TEST(condition_wait_for)
{
    pp_client *c = it_client(D.url);
    struct flag_setter f = { .flag = 0 };
    it_assert_status(pp_condition_create(c, NULL, &f.cv), PP_OK);

    /* The predicate comes first: true, and nothing waits (the lock is
     * not even needed, as in Python). */
    atomic_store(&f.flag, 1);
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, 0), PP_OK);
    atomic_store(&f.flag, 0);
    /* False, and no time to wait: as Python, no check of the lock either. */
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, 0), PP_ETIMEDOUT);
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, -1), PP_ESTATE);
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, 1000), PP_ESTATE);

    /* False until the deadline: PP_ETIMEDOUT, the lock held again. */
    it_assert_status(pp_sync_acquire(f.cv, 0), PP_OK);
    int64_t t0 = it_now_ms();
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, 50), PP_ETIMEDOUT);
    ck_assert_int_ge(it_now_ms() - t0, 45);
    it_assert_status(try_in_thread(f.cv), PP_ETIMEDOUT);

    /* Another thread makes it true and notifies. */
    ck_assert_int_eq(pthread_create(&f.t, NULL, flag_setter_main, &f), 0);
    it_assert_status(pp_condition_wait_for(f.cv, flag_is_set, &f, IT_DEADLINE_MS), PP_OK);
    it_assert_status(try_in_thread(f.cv), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(f.cv), PP_OK);
    ck_assert_int_eq(pthread_join(f.t, NULL), 0);

    it_assert_status(pp_condition_wait_for(f.cv, NULL, NULL, 0), PP_EINVAL);
    it_assert_status(pp_condition_wait_for(NULL, flag_is_set, &f, 0), PP_EINVAL);
    pp_sync *l = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_condition_wait_for(l, flag_is_set, &f, 0), PP_EINVAL);
    pp_sync_free(l);
    pp_sync_free(f.cv);
    pp_client_close(c);
}
END_TEST

START_TEST(array_synchronized)
{
    pp_client *c = it_client(D.url);
    pp_array *raw = NULL, *sa = NULL, *sb = NULL, *bad = (pp_array *)0x1;
    it_assert_status(pp_array_create(c, 'i', 4, false, &raw), PP_OK);
    ck_assert_ptr_null(pp_array_lock(raw));
    int32_t in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
    it_assert_status(pp_array_write(raw, 0, 4, in), PP_OK);

    /* A new RLock: the same elements, now with a lock. */
    it_assert_status(pp_array_synchronized(c, raw, NULL, &sa), PP_OK);
    ck_assert_int_eq(pp_sync_type(pp_array_lock(sa)), PP_H_RLOCK);
    ck_assert_uint_eq(pp_array_len(sa), 4);
    ck_assert_int_eq(pp_array_typecode(sa), 'i');
    it_assert_status(pp_array_read(sa, 0, 4, out), PP_OK);
    ck_assert_int_eq(memcmp(in, out, sizeof in), 0);
    ((int32_t *)pp_array_data(sa))[2] = 30;
    ck_assert_int_eq(((int32_t *)pp_array_data(raw))[2], 30);

    /* A given Lock: the array's lock is that lock. */
    pp_sync *l = NULL;
    it_assert_status(pp_lock_create(c, &l), PP_OK);
    it_assert_status(pp_array_synchronized(NULL, raw, l, &sb), PP_OK);
    ck_assert_int_eq(pp_sync_type(pp_array_lock(sb)), PP_H_LOCK);
    it_assert_status(pp_sync_acquire(pp_array_lock(sb), 0), PP_OK);
    it_assert_status(pp_sync_acquire(l, 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(l), PP_OK);

    /* Its handle carries the lock. */
    pp_value *h = pp_array_to_value(sb);
    pp_array *back = NULL;
    it_assert_status(pp_array_from_value(c, h, &back), PP_OK);
    ck_assert_int_eq(pp_sync_type(pp_array_lock(back)), PP_H_LOCK);
    it_assert_status(pp_sync_acquire(l, 0), PP_OK);
    it_assert_status(pp_sync_acquire(pp_array_lock(back), 0), PP_ETIMEDOUT);
    it_assert_status(pp_sync_release(l), PP_OK);
    pp_value_free(h);
    pp_array_free(back);

    /* Errors: a lock already, not a lock, nothing to make one with. */
    pp_sync *sem = NULL;
    it_assert_status(pp_semaphore_create(c, 1, &sem), PP_OK);
    it_assert_status(pp_array_synchronized(c, sa, NULL, &bad), PP_EINVAL);
    it_assert_status(pp_array_synchronized(c, raw, sem, &bad), PP_EINVAL);
    it_assert_status(pp_array_synchronized(NULL, raw, NULL, &bad), PP_EINVAL);
    it_assert_status(pp_array_synchronized(c, NULL, NULL, &bad), PP_EINVAL);
    it_assert_status(pp_array_synchronized(c, raw, NULL, NULL), PP_EINVAL);
    ck_assert_ptr_eq(bad, (pp_array *)0x1);
    pp_sync_free(sem);

    /* Each view holds the segment. */
    pp_array_free(raw);
    pp_sync_free(l);
    it_assert_status(pp_array_read(sb, 0, 4, out), PP_OK);
    ck_assert_int_eq(out[2], 30);
    pp_array_free(sa);
    pp_array_free(sb);
    pp_client_close(c);
    assert_entries_become(0);
}
END_TEST

static void sl_get_is(pp_shareable_list *l, int64_t i, const char *want)
{
    pp_value *v = NULL;
    it_assert_status(pp_shareable_list_get(l, i, &v), PP_OK);
    char *r = pp_value_repr(v);
    ck_assert_msg(strcmp(r, want) == 0, "item %lld is %s, want %s", (long long)i, r, want);
    free(r);
    pp_value_free(v);
}

static void sl_set(pp_shareable_list *l, int64_t i, pp_value *v, pp_status want)
{
    pp_status st = pp_shareable_list_set(l, i, v);
    pp_value_free(v);
    it_assert_status(st, want);
}

static void sl_format_is(pp_shareable_list *l, const char *want)
{
    char *f = pp_shareable_list_format(l);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f, want);
    free(f);
}

/* [1, 2.5, True, None, 'hi', b'by\0'] */
static pp_value *sl_items(void)
{
    pp_value *items = pp_value_list();
    pp_value *each[] = {
        pp_value_int(1), pp_value_double(2.5), pp_value_bool(true), pp_value_null(),
        pp_value_string("hi"), pp_value_bytes("by\0", 3),
    };
    for (size_t i = 0; i < sizeof each / sizeof *each; i++)
        it_assert_status(pp_value_append(items, each[i]), PP_OK);
    return items;
}

START_TEST(shareable_list_basics)
{
    pp_client *c = it_client(D.url);
    char name[64];
    snprintf(name, sizeof name, "it-sl-%d", (int)getpid());
    pp_value *items = sl_items();
    pp_shareable_list *l = NULL;
    it_assert_status(pp_shareable_list_create(c, name, items, &l), PP_OK);
    ck_assert_uint_eq(pp_shareable_list_len(l), 6);
    ck_assert_str_eq(pp_shm_name(pp_shareable_list_shm(l)), name);
    sl_format_is(l, "qdxxxxxxx?xxxxxx?x8s8s");
    sl_get_is(l, 0, "1");
    sl_get_is(l, 1, "2.5");
    sl_get_is(l, 2, "True");
    sl_get_is(l, 3, "None");
    sl_get_is(l, 4, "'hi'");
    sl_get_is(l, 5, "b'by'");      /* trailing NULs are padding, as in Python */
    sl_get_is(l, -1, "b'by'");
    sl_get_is(l, -6, "1");
    pp_value *v = (pp_value *)0x1;
    it_assert_status(pp_shareable_list_get(l, 6, &v), PP_ENOENT);
    it_assert_status(pp_shareable_list_get(l, -7, &v), PP_ENOENT);
    ck_assert_ptr_eq(v, (pp_value *)0x1);

    /* Any kind into any item that has the room. */
    sl_set(l, 0, pp_value_string("12345678"), PP_OK);
    sl_get_is(l, 0, "'12345678'");
    sl_set(l, 0, pp_value_string("123456789"), PP_EINVAL);
    sl_set(l, 4, pp_value_int(-5), PP_OK);
    sl_set(l, -1, pp_value_bytes("\x01\x02", 2), PP_OK);
    sl_set(l, 3, pp_value_bool(false), PP_OK);
    sl_set(l, 2, pp_value_null(), PP_OK);
    sl_set(l, 1, pp_value_double(-0.5), PP_OK);
    sl_format_is(l, "8sdxxxxxx?xxxxxxxx?q8s");
    sl_get_is(l, 1, "-0.5");
    sl_get_is(l, 2, "None");
    sl_get_is(l, 3, "False");
    sl_get_is(l, 4, "-5");
    sl_get_is(l, 5, "b'\\x01\\x02'");
    sl_set(l, 6, pp_value_int(1), PP_ENOENT);
    sl_set(l, 0, pp_value_list(), PP_EINVAL);
    assert_entries_become(1);

    /* count and index with Python's equality: 1 == 1.0 == True. */
    sl_set(l, 0, pp_value_int(1), PP_OK);
    sl_set(l, 1, pp_value_double(1.0), PP_OK);
    sl_set(l, 3, pp_value_bool(true), PP_OK);
    pp_value *one = pp_value_int(1), *none = pp_value_null(), *nope = pp_value_string("x");
    size_t n = 0, i = 99;
    it_assert_status(pp_shareable_list_count(l, one, &n), PP_OK);
    ck_assert_uint_eq(n, 3);
    it_assert_status(pp_shareable_list_count(l, nope, &n), PP_OK);
    ck_assert_uint_eq(n, 0);
    it_assert_status(pp_shareable_list_index(l, none, &i), PP_OK);
    ck_assert_uint_eq(i, 2);
    it_assert_status(pp_shareable_list_index(l, one, &i), PP_OK);
    ck_assert_uint_eq(i, 0);
    i = 99;
    it_assert_status(pp_shareable_list_index(l, nope, &i), PP_ENOENT);
    ck_assert_uint_eq(i, 99);

    /* Another client attaches the same list; a no_map one too. */
    pp_client *n2 = nomap_client();
    pp_shareable_list *l2 = NULL;
    it_assert_status(pp_shareable_list_attach(n2, name, &l2), PP_OK);
    ck_assert_uint_eq(pp_shareable_list_len(l2), 6);
    sl_get_is(l2, 1, "1.0");
    sl_set(l2, 4, pp_value_string("from l2"), PP_OK);
    sl_get_is(l, 4, "'from l2'");

    /* Errors. */
    pp_shareable_list *bad = (pp_shareable_list *)0x1;
    it_assert_status(pp_shareable_list_create(c, name, items, &bad), PP_EEXIST);
    it_assert_status(pp_shareable_list_attach(c, "it-sl-nothing", &bad), PP_ENOENT);
    pp_value *nested = pp_value_list();
    it_assert_status(pp_value_append(nested, pp_value_list()), PP_OK);
    it_assert_status(pp_shareable_list_create(c, NULL, nested, &bad), PP_EINVAL);
    it_assert_status(pp_shareable_list_create(c, NULL, one, &bad), PP_EINVAL);
    it_assert_status(pp_shareable_list_create(c, "a/b", items, &bad), PP_EINVAL);
    it_assert_status(pp_shareable_list_create(NULL, NULL, items, &bad), PP_EINVAL);
    it_assert_status(pp_shareable_list_attach(c, NULL, &bad), PP_EINVAL);
    /* A segment that does not hold a list. */
    char other[64];
    snprintf(other, sizeof other, "it-sl-junk-%d", (int)getpid());
    pp_shm *junk = NULL;
    it_assert_status(pp_shm_create(c, other, 64, &junk), PP_OK);
    memset(pp_shm_data(junk), 0xff, 64);
    it_assert_status(pp_shareable_list_attach(c, other, &bad), PP_EPROTO);
    ck_assert_ptr_eq(bad, (pp_shareable_list *)0x1);
    pp_shm_close(junk);
    it_assert_status(pp_shareable_list_get(NULL, 0, &v), PP_EINVAL);
    it_assert_status(pp_shareable_list_get(l, 0, NULL), PP_EINVAL);
    it_assert_status(pp_shareable_list_set(NULL, 0, one), PP_EINVAL);
    it_assert_status(pp_shareable_list_count(l, one, NULL), PP_EINVAL);
    it_assert_status(pp_shareable_list_index(NULL, one, &i), PP_EINVAL);
    ck_assert_ptr_null(pp_shareable_list_format(NULL));
    ck_assert_uint_eq(pp_shareable_list_len(NULL), 0);
    pp_shareable_list_free(NULL);

    /* A new name like Python's; an empty list. */
    pp_shareable_list *anon = NULL;
    pp_value *empty = pp_value_list();
    it_assert_status(pp_shareable_list_create(c, NULL, empty, &anon), PP_OK);
    const char *an = pp_shm_name(pp_shareable_list_shm(anon));
    ck_assert_msg(strncmp(an, "psm_", 4) == 0 && strlen(an) == 12, "name %s", an);
    ck_assert_uint_eq(pp_shareable_list_len(anon), 0);
    sl_format_is(anon, "");
    pp_shareable_list_free(anon);

    pp_value_free(empty);
    pp_value_free(nested);
    pp_value_free(one);
    pp_value_free(none);
    pp_value_free(nope);
    pp_value_free(items);
    pp_shareable_list_free(l2);
    pp_client_close(n2);
    pp_shareable_list_free(l);
    pp_client_close(c);
    assert_entries_become(0);
}
END_TEST

/* One list, two languages: Python reads and writes C's list, C reads and
 * writes Python's. */
START_TEST(shareable_list_with_python)
{
    char why[PATH_MAX + 64];
    ck_assert_msg(it_python_paths(why, sizeof why), "%s", why);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    char name[64], pyname[64];
    snprintf(name, sizeof name, "it-sl-c-%d", (int)getpid());
    snprintf(pyname, sizeof pyname, "it-sl-py-%d", (int)getpid());
    pp_value *items = sl_items();
    pp_shareable_list *l = NULL;
    it_assert_status(pp_shareable_list_create(c, name, items, &l), PP_OK);
    pp_value_free(items);

    pp_func *list = it_py_func("shmtasks", "sl_list"), *set = it_py_func("shmtasks", "sl_set");
    pp_func *make = it_py_func("shmtasks", "sl_make");
    pp_value *args = it_args(0), *res = NULL;
    it_assert_status(pp_value_append(args, pp_value_string(name)), PP_OK);
    it_assert_status(pp_pool_apply(p, list, args, 60000, &res), PP_OK);
    pp_value_free(args);
    char *r = pp_value_repr(res);
    ck_assert_str_eq(r, "[[1, 2.5, True, None, 'hi', b'by'], 'qdxxxxxxx?xxxxxx?x8s8s']");
    free(r);
    pp_value_free(res);

    /* Python writes: a string into an int's room, an int into a string's. */
    args = it_args(0);
    it_assert_status(pp_value_append(args, pp_value_string(name)), PP_OK);
    it_assert_status(pp_value_append(args, pp_value_int(0)), PP_OK);
    it_assert_status(pp_value_append(args, pp_value_string("py")), PP_OK);
    it_assert_status(pp_pool_apply(p, set, args, 60000, &res), PP_OK);
    pp_value_free(args);
    pp_value_free(res);
    sl_get_is(l, 0, "'py'");
    sl_format_is(l, "8sdxxxxxxx?xxxxxx?x8s8s");

    /* Python's list, in C. */
    pp_value *pyitems = pp_value_list();
    pp_value *each[] = { pp_value_string("from"), pp_value_int(3), pp_value_double(1.5),
                         pp_value_null(), pp_value_bool(false), pp_value_bytes("b", 1),
                         pp_value_string("a longer string") };
    for (size_t i = 0; i < sizeof each / sizeof *each; i++)
        it_assert_status(pp_value_append(pyitems, each[i]), PP_OK);
    args = it_args(0);
    it_assert_status(pp_value_append(args, pp_value_string(pyname)), PP_OK);
    it_assert_status(pp_value_append(args, pyitems), PP_OK);
    it_assert_status(pp_pool_apply(p, make, args, 60000, &res), PP_OK);
    pp_value_free(args);
    pp_shareable_list *pl = NULL;
    it_assert_status(pp_shareable_list_attach(c, pyname, &pl), PP_OK);
    ck_assert_str_eq(pp_value_get_string(res, NULL), "8sqdxxxxxx?xxxxxxxx?8s16s");
    pp_value_free(res);
    sl_format_is(pl, "8sqdxxxxxx?xxxxxxxx?8s16s");
    ck_assert_uint_eq(pp_shareable_list_len(pl), 7);
    const char *want[] = { "'from'", "3", "1.5", "None", "False", "b'b'", "'a longer string'" };
    for (int i = 0; i < 7; i++)
        sl_get_is(pl, i, want[i]);
    sl_set(pl, 6, pp_value_string("sixteen bytes ok"), PP_OK);
    sl_set(pl, 6, pp_value_string("seventeen bytes!!"), PP_EINVAL);
    sl_set(pl, 1, pp_value_double(0.25), PP_OK);
    args = it_args(0);
    it_assert_status(pp_value_append(args, pp_value_string(pyname)), PP_OK);
    it_assert_status(pp_pool_apply(p, list, args, 60000, &res), PP_OK);
    pp_value_free(args);
    r = pp_value_repr(res);
    ck_assert_str_eq(r, "[['from', 0.25, 1.5, None, False, b'b', 'sixteen bytes ok'], "
                        "'8sddxxxxxx?xxxxxxxx?8s16s']");
    free(r);
    pp_value_free(res);

    pp_shareable_list_free(pl);
    pp_shareable_list_free(l);
    pp_func_free(list);
    pp_func_free(set);
    pp_func_free(make);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-shared");
    TCase *tc = tcase_create("segments");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, shm_create_attach);
    tcase_add_test(tc, shm_errors);
    tcase_add_test(tc, shm_bounds);
    tcase_add_test(tc, shm_refcounts);
    tcase_add_test(tc, shm_killed_client_leaks_nothing);
    tcase_add_test(tc, shm_swept_after_daemon_killed);
    tcase_add_test(tc, handle_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("locks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lock_basics);
    tcase_add_test(tc, rlock_basics);
    tcase_add_test(tc, lock_across_processes);
    tcase_add_test(tc, lock_holder_killed_forked);
    tcase_add_test(tc, rlock_holder_killed_forked);
    tcase_add_test(tc, try_acquire_notices_dead_holder);
    tcase_add_test(tc, lock_holder_killed_client);
    tcase_add_test(tc, rlock_holder_killed_client);
    tcase_add_test(tc, lock_holder_killed_nomap_client);
    tcase_add_test(tc, lock_holder_session_ended_then_killed);
    tcase_add_test(tc, rlock_holder_killed_blocked_waiter);
    suite_add_tcase(s, tc);

    tc = tcase_create("primitives");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, semaphore_counts);
    tcase_add_test(tc, bounded_semaphore);
    tcase_add_test(tc, semaphore_across_processes);
    tcase_add_test(tc, event_basics);
    tcase_add_test(tc, event_across_processes);
    tcase_add_test(tc, condition_needs_lock);
    tcase_add_test(tc, condition_wait_timeout);
    tcase_add_test(tc, condition_notify_across_processes);
    tcase_add_test(tc, barrier_basics);
    tcase_add_test(tc, barrier_three_processes);
    tcase_add_test(tc, barrier_timeout_breaks);
    tcase_add_test(tc, barrier_action);
    tcase_add_test(tc, barrier_abort_reset);
    suite_add_tcase(s, tc);

    tc = tcase_create("arrays");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, array_basics);
    tcase_add_test(tc, array_counter_processes);
    suite_add_tcase(s, tc);

    tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, array_counter_tasks);
    tcase_add_test(tc, handles_through_tasks);
    tcase_add_test(tc, worker_killed_holding_lock);
    tcase_add_test(tc, worker_aborted_holding_rlock);
    tcase_add_test(tc, task_waiter_gets_ownerdead);
    suite_add_tcase(s, tc);

    tc = tcase_create("no-map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nomap_env);
    tcase_add_test(tc, nomap_shm);
    tcase_add_test(tc, nomap_lock);
    tcase_add_test(tc, nomap_semaphore);
    tcase_add_test(tc, nomap_event);
    tcase_add_test(tc, nomap_waiter_and_mapped_holder);
    tcase_add_test(tc, nomap_contended_lock);
    tcase_add_test(tc, nomap_condition);
    tcase_add_test(tc, nomap_barrier);
    tcase_add_test(tc, nomap_contended_condition);
    tcase_add_test(tc, nomap_condition_wait_returns_with_lock);
    suite_add_tcase(s, tc);

    tc = tcase_create("parity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sync_value_of_each);
    tcase_add_test(tc, condition_wait_for);
    tcase_add_test(tc, array_synchronized);
    tcase_add_test(tc, shareable_list_basics);
    /* The sanitizer build has no Python package. */
    char why[PATH_MAX + 64];
    if (it_python_paths(why, sizeof why))
        tcase_add_test(tc, shareable_list_with_python);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
