/* bench_shared.c - the C side of the shared memory and synchronisation
 * benchmarks (bench/run.py --shared-only drives it; see docs/benchmarks.md).
 *
 *   bench_shared lock [N] [ROUNDS]
 *       Uncontended pp_sync_acquire(l, -1) + pp_sync_release(l) on a
 *       pp_lock_create Lock, against sem_wait + sem_post on a POSIX
 *       semaphore made as multiprocessing makes its SemLock (sem_open, then
 *       sem_unlink), N pairs per round, the two interleaved for ROUNDS
 *       rounds: the median ns per pair of each.
 *   bench_shared counter [PROCS] [N]
 *       The seed counter example in C: PROCS forked children each add 1 to
 *       a pp_array 'i' value N times under its lock (pp_array_lock, an
 *       RLock, as Value('i') has). Children are forked before they touch
 *       anything of the client (nng is not fork-safe): each maps the value
 *       from its handle with pp_array_from_value(NULL, v). Seconds from
 *       pp_array_create to the last child reaped; the same with a sem_t
 *       (in a MAP_SHARED page) guarding a plain int, for reference.
 *
 * Each workload prints one JSON object on stdout.
 */
#include <polypool.h>

#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

/* multiprocessing's SemLock: a named POSIX semaphore, unlinked at once. */
static sem_t *mp_semaphore(unsigned value)
{
    char name[64];
    snprintf(name, sizeof name, "/pp-bench-%d-%ld", (int)getpid(), (long)random());
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, value);
    if (s == SEM_FAILED)
        die_errno("sem_open");
    sem_unlink(name);
    return s;
}

static void bench_lock(pp_client *c, size_t n, size_t rounds)
{
    pp_sync *l;
    pp_status st = pp_lock_create(c, &l);
    if (st)
        die("pp_lock_create", st);
    sem_t *sem = mp_semaphore(1);
    double *pp = calloc(rounds, sizeof *pp), *sm = calloc(rounds, sizeof *sm);
    /* Warm up both (page faults, the branch predictor, the CPU clock). */
    for (size_t i = 0; i < n / 10; i++) {
        pp_sync_acquire(l, -1);
        pp_sync_release(l);
        sem_wait(sem);
        sem_post(sem);
    }
    for (size_t r = 0; r < rounds; r++) {
        double t = now_s();
        for (size_t i = 0; i < n; i++) {
            if (__builtin_expect((st = pp_sync_acquire(l, -1)) != PP_OK, 0))
                die("pp_sync_acquire", st);
            if (__builtin_expect((st = pp_sync_release(l)) != PP_OK, 0))
                die("pp_sync_release", st);
        }
        pp[r] = (now_s() - t) / (double)n * 1e9;
        t = now_s();
        for (size_t i = 0; i < n; i++) {
            if (__builtin_expect(sem_wait(sem) != 0, 0))
                die_errno("sem_wait");
            if (__builtin_expect(sem_post(sem) != 0, 0))
                die_errno("sem_post");
        }
        sm[r] = (now_s() - t) / (double)n * 1e9;
    }
    printf("{\"workload\":\"lock\",\"n\":%zu,\"rounds\":%zu,\"pp_ns\":%.2f,\"sem_ns\":%.2f}\n",
           n, rounds, median(pp, rounds), median(sm, rounds));
    free(pp);
    free(sm);
    sem_close(sem);
    pp_sync_free(l);
}

static void reap(size_t procs)
{
    for (size_t i = 0; i < procs; i++) {
        int ws;
        if (wait(&ws) < 0)
            die_errno("wait");
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            fprintf(stderr, "bench_shared: a child failed (status %d)\n", ws);
            exit(1);
        }
    }
}

static void bench_counter(pp_client *c, size_t procs, size_t n)
{
    double t = now_s();
    pp_array *a;
    pp_status st = pp_array_create(c, 'i', 0, true, &a);
    if (st)
        die("pp_array_create", st);
    pp_value *h = pp_array_to_value(a);
    if (!h)
        die("pp_array_to_value", PP_ENOMEM);
    fflush(NULL);
    for (size_t p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            die_errno("fork");
        if (pid == 0) {
            /* Nothing of the parent's client here: map from the handle. */
            pp_array *ca;
            if (pp_array_from_value(NULL, h, &ca) != PP_OK)
                _exit(3);
            pp_sync *lk = pp_array_lock(ca);
            volatile int32_t *v = pp_array_data(ca);
            for (size_t i = 0; i < n; i++) {
                if (pp_sync_acquire(lk, -1) != PP_OK)
                    _exit(4);
                *v += 1;
                if (pp_sync_release(lk) != PP_OK)
                    _exit(5);
            }
            pp_array_free(ca);
            _exit(0);
        }
    }
    reap(procs);
    double pp_s = now_s() - t;
    int32_t got = *(int32_t *)pp_array_data(a);
    if ((size_t)got != procs * n) {
        fprintf(stderr, "bench_shared: counter is %d, want %zu\n", got, procs * n);
        exit(1);
    }
    pp_value_free(h);
    pp_array_free(a);

    /* The same with a POSIX semaphore as the lock, for reference. */
    t = now_s();
    struct shared {
        sem_t sem;
        int32_t value;
    } *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die_errno("mmap");
    if (sem_init(&sh->sem, 1, 1) < 0)
        die_errno("sem_init");
    sh->value = 0;
    for (size_t p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            die_errno("fork");
        if (pid == 0) {
            volatile int32_t *v = &sh->value;
            for (size_t i = 0; i < n; i++) {
                if (sem_wait(&sh->sem) != 0)
                    _exit(4);
                *v += 1;
                if (sem_post(&sh->sem) != 0)
                    _exit(5);
            }
            _exit(0);
        }
    }
    reap(procs);
    double sem_s = now_s() - t;
    if ((size_t)sh->value != procs * n) {
        fprintf(stderr, "bench_shared: sem counter is %d, want %zu\n", sh->value, procs * n);
        exit(1);
    }
    sem_destroy(&sh->sem);
    munmap(sh, sizeof *sh);
    printf("{\"workload\":\"counter\",\"procs\":%zu,\"n\":%zu,\"value\":%d,"
           "\"seconds\":%.6f,\"sem_seconds\":%.6f}\n", procs, n, got, pp_s, sem_s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_shared lock [N] [ROUNDS] | counter [PROCS] [N]\n");
        return 2;
    }
    const char *wl = argv[1];
    pp_client *c;
    pp_status st = pp_client_open(NULL, &c);
    if (st)
        die("connect", st);
    srandom((unsigned)getpid());
    if (!strcmp(wl, "lock")) {
        size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000000;
        size_t rounds = argc > 3 ? strtoull(argv[3], NULL, 10) : 7;
        bench_lock(c, n ? n : 1, rounds ? rounds : 1);
    } else if (!strcmp(wl, "counter")) {
        size_t procs = argc > 2 ? strtoull(argv[2], NULL, 10) : 4;
        size_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
        bench_counter(c, procs ? procs : 1, n);
    } else {
        fprintf(stderr, "bench_shared: unknown workload %s\n", wl);
        return 2;
    }
    pp_client_close(c);
    return 0;
}
