/* shm.c - shared memory segments (see shm.h). */
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "ring.h"
#include "loop.h"
#include "session.h"
#include "sync_core.h"
#include "wire.h"

/* HandleType numbers of the primitives (polypool.proto). */
enum { H_LOCK = 2, H_RLOCK, H_SEM, H_BSEM, H_EVENT, H_COND, H_BARRIER, H_VALUE, H_QUEUE };

static struct list segments = { &segments, &segments };
static struct idmap by_id;
static uint64_t next_id;
static uint64_t total_bytes;

struct pid_watch {
    struct loop_src src;
    uint32_t pid;
    struct list link;
};
static struct list watches = { &watches, &watches };

static void seg_name(char *buf, size_t len, uint64_t id)
{
    snprintf(buf, len, "/polypool.%u.%u.%llu", (unsigned)geteuid(), (unsigned)getpid(),
             (unsigned long long)id);
}

void shm_sweep(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "polypool.%u.", (unsigned)geteuid());
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen))
            continue;
        unsigned long pid = strtoul(e->d_name + plen, NULL, 10);
        if (pid == (unsigned long)getpid() || (pid && pps_pid_alive((uint32_t)pid)))
            continue;
        char name[300];
        snprintf(name, sizeof name, "/%s", e->d_name);
        if (shm_unlink(name) == 0)
            log_info("removed %s, left by a daemon that is gone", name);
    }
    closedir(d);
}

static void seg_free(struct segment *g)
{
    list_del(&g->link);
    idmap_del(&by_id, g->id);
    /* A pipe end: its peer learns that this end is gone. */
    for (size_t i = 0; i < g->n_closers; i++) {
        struct shm_closer *c = &g->closers[i];
        struct segment *t = idmap_get(&by_id, c->target);
        if (t && c->offset <= t->size && t->size - c->offset >= RING_DATA_OFF &&
            ring_check((char *)t->base + c->offset, t->size - c->offset))
            ring_set_flags((char *)t->base + c->offset, c->flags);
    }
    free(g->closers);
    if (g->base)
        munmap(g->base, g->size);
    shm_unlink(g->name);
    total_bytes -= g->size;
    log_debug("segment %llu (%zu bytes) freed", (unsigned long long)g->id, g->size);
    free(g->label);
    free(g->locks);
    free(g);
}

void shm_fini(void)
{
    while (!list_empty(&segments))
        seg_free(container_of(segments.next, struct segment, link));
    idmap_fini(&by_id);
    while (!list_empty(&watches)) {
        struct pid_watch *w = container_of(watches.next, struct pid_watch, link);
        list_del(&w->link);
        loop_del(&w->src);
        close(w->src.fd);
        free(w);
    }
}

static struct segment *by_label(const char *label)
{
    list_for_each (l, &segments) {
        struct segment *g = container_of(l, struct segment, link);
        if (g->label && !strcmp(g->label, label))
            return g;
    }
    return NULL;
}

static int ref_add(struct session *s, struct segment *g)
{
    uintptr_t n = (uintptr_t)idmap_get(&s->shm_refs, g->id);
    if (idmap_put(&s->shm_refs, g->id, (void *)(n + 1)) < 0)
        return -1;
    g->refs++;
    return 0;
}

/* Checks and initialises the primitives of a new segment: a wire status. */
static int init_syncs(struct segment *g, const struct shm_sync_init *syncs, size_t n,
                      const char **why)
{
    size_t n_locks = 0;
    for (size_t i = 0; i < n; i++) {
        const struct shm_sync_init *si = &syncs[i];
        if (si->offset % PPS_SLOT || si->offset > g->size || g->size - si->offset < PPS_SLOT) {
            *why = "a primitive's offset is not a multiple of 64 inside the segment";
            return WS_EINVAL;
        }
        if (si->type == H_QUEUE) {
            if (si->capacity < 64 || si->capacity > g->size ||
                ring_size(si->capacity) > g->size - si->offset) {
                *why = "a ring's capacity is under 64 bytes or over the segment";
                return WS_EINVAL;
            }
            n_locks += 2;
            continue;
        }
        if (!pps_kind_of(si->type)) {
            *why = "unknown primitive type";
            return WS_EINVAL;
        }
        if (si->type == H_BSEM && si->value > si->max) {
            *why = "a bounded semaphore's value is over its maximum";
            return WS_EINVAL;
        }
        if ((si->type == H_SEM || si->type == H_BSEM) && si->value > PPS_SEM_MAX) {
            *why = "a semaphore's value is too large";
            return WS_EINVAL;
        }
        if (si->type == H_BARRIER && si->value == 0) {
            *why = "a barrier needs at least one party";
            return WS_EINVAL;
        }
        if (si->type == H_LOCK || si->type == H_RLOCK)
            n_locks++;
    }
    if (n_locks && !(g->locks = calloc(n_locks, sizeof *g->locks))) {
        *why = "out of memory";
        return WS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct shm_sync_init *si = &syncs[i];
        if (si->type == H_QUEUE) {
            /* Its writers' and readers' locks come first (ring.h). */
            ring_init((char *)g->base + si->offset, si->capacity, si->value);
            g->locks[g->n_locks++] = si->offset;
            g->locks[g->n_locks++] = si->offset + PPS_SLOT;
            continue;
        }
        pps_init((struct pps *)((char *)g->base + si->offset), pps_kind_of(si->type), si->value,
                 si->max);
        if (si->type == H_LOCK || si->type == H_RLOCK)
            g->locks[g->n_locks++] = si->offset;
    }
    return WS_OK;
}

int shm_create(struct session *s, uint64_t size, const char *label,
               const struct shm_sync_init *syncs, size_t n_syncs,
               const struct shm_closer *closers, size_t n_closers,
               struct segment **out, const char **why)
{
    for (size_t i = 0; i < n_closers; i++) {
        if (!shm_held(s, closers[i].target)) {
            *why = "a closer's target is not a segment the session holds";
            return WS_EINVAL;
        }
    }
    if (size == 0) {
        *why = "the size must be positive";
        return WS_EINVAL;
    }
    if (size > SHM_MAX_SIZE) {
        *why = "the size is over the daemon's limit";
        return WS_ENOMEM;
    }
    if (label && !*label)
        label = NULL;
    if (label && (strlen(label) > SHM_LABEL_MAX || strchr(label, '/'))) {
        *why = "a name must be at most 200 characters and contain no '/'";
        return WS_EINVAL;
    }
    if (label && by_label(label)) {
        *why = "a shared memory segment by that name exists";
        return WS_EEXIST;
    }
    struct segment *g = calloc(1, sizeof *g);
    if (!g || (label && !(g->label = strdup(label)))) {
        free(g);
        *why = "out of memory";
        return WS_ENOMEM;
    }
    g->id = ++next_id;
    g->size = (size_t)size;
    seg_name(g->name, sizeof g->name, g->id);
    list_init(&g->link);
    int fd = shm_open(g->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int err = 0;
    if (fd < 0) {
        err = errno;
    } else {
        /* Reserve the memory now: a client must not die of SIGBUS on a
         * full /dev/shm when it touches a page. */
        err = posix_fallocate(fd, 0, (off_t)size);
        if (!err) {
            g->base = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (g->base == MAP_FAILED) {
                g->base = NULL;
                err = errno;
            }
        }
        close(fd);
    }
    if (err) {
        log_warn("shared memory segment of %llu bytes: %s", (unsigned long long)size,
                 strerror(err));
        if (fd >= 0)
            shm_unlink(g->name);
        free(g->label);
        free(g);
        *why = err == ENOSPC || err == ENOMEM || err == EFBIG
                   ? "not enough shared memory (/dev/shm) for the segment"
                   : "cannot create the shared memory segment";
        return err == ENOSPC || err == ENOMEM || err == EFBIG ? WS_ENOMEM : WS_EINTERNAL;
    }
    list_push_back(&segments, &g->link);
    total_bytes += g->size;
    int st = init_syncs(g, syncs, n_syncs, why);
    if (st == WS_OK && n_closers) {
        if ((g->closers = calloc(n_closers, sizeof *g->closers))) {
            memcpy(g->closers, closers, n_closers * sizeof *closers);
            g->n_closers = n_closers;
        } else {
            st = WS_ENOMEM;
            *why = "out of memory";
        }
    }
    if (st == WS_OK && (idmap_put(&by_id, g->id, g) < 0 || ref_add(s, g) < 0)) {
        st = WS_ENOMEM;
        *why = "out of memory";
    }
    if (st != WS_OK) {
        if (g->refs)
            idmap_del(&s->shm_refs, g->id);
        seg_free(g);
        return st;
    }
    log_debug("session %llu created segment %llu (%zu bytes%s%s)", (unsigned long long)s->id,
              (unsigned long long)g->id, g->size, label ? ", " : "", label ? label : "");
    *out = g;
    return WS_OK;
}

int shm_attach(struct session *s, uint64_t id, const char *label, struct segment **out)
{
    struct segment *g = label && *label ? by_label(label) : idmap_get(&by_id, id);
    if (!g)
        return WS_ENOENT;
    if (ref_add(s, g) < 0)
        return WS_ENOMEM;
    *out = g;
    return WS_OK;
}

static void unref(struct segment *g, uint64_t n)
{
    g->refs -= n < g->refs ? n : g->refs;
    if (!g->refs)
        seg_free(g);
}

int shm_release(struct session *s, uint64_t id, uint32_t n)
{
    uintptr_t held = (uintptr_t)idmap_get(&s->shm_refs, id);
    struct segment *g = idmap_get(&by_id, id);
    if (!held || !g)
        return WS_ENOENT;
    if (n == 0)
        n = 1;
    if (n > held)
        n = (uint32_t)held;
    if (held == n)
        idmap_del(&s->shm_refs, id);
    else
        idmap_put(&s->shm_refs, id, (void *)(held - n));   /* replaces: cannot fail */
    unref(g, n);
    return WS_OK;
}

int shm_unlink_label(const char *label)
{
    struct segment *g = label && *label ? by_label(label) : NULL;
    if (!g)
        return WS_ENOENT;
    free(g->label);
    g->label = NULL;
    return WS_OK;
}

struct segment *shm_held(const struct session *s, uint64_t id)
{
    if (!idmap_get(&s->shm_refs, id))
        return NULL;
    return idmap_get(&by_id, id);
}

struct pps *shm_slot(struct segment *g, uint64_t offset)
{
    if (offset % PPS_SLOT || offset > g->size || g->size - offset < PPS_SLOT)
        return NULL;
    struct pps *p = (struct pps *)((char *)g->base + offset);
    return p->magic == PPS_MAGIC ? p : NULL;
}

void shm_session_end(struct session *s)
{
    uint64_t id;
    void *v;
    for (size_t i = 0; idmap_next(&s->shm_refs, &i, &id, &v);) {
        struct segment *g = idmap_get(&by_id, id);
        if (g)
            unref(g, (uintptr_t)v);
    }
    idmap_fini(&s->shm_refs);
    idmap_init(&s->shm_refs);
}

size_t shm_owner_died(uint32_t pid)
{
    size_t n = 0;
    list_for_each (l, &segments) {
        struct segment *g = container_of(l, struct segment, link);
        for (size_t i = 0; i < g->n_locks; i++)
            if (pps_lock_reclaim((struct pps *)((char *)g->base + g->locks[i]), pid))
                n++;
    }
    if (n)
        log_info("process %u died holding %zu lock(s); they go to their next acquirers", pid, n);
    return n;
}

bool shm_pid_holds_locks(uint32_t pid)
{
    list_for_each (l, &segments) {
        struct segment *g = container_of(l, struct segment, link);
        for (size_t i = 0; i < g->n_locks; i++)
            if (pps_lock_holder((struct pps *)((char *)g->base + g->locks[i])) == pid)
                return true;
    }
    return false;
}

static void watch_cb(struct loop_src *src, uint32_t events)
{
    struct pid_watch *w = container_of(src, struct pid_watch, src);
    shm_owner_died(w->pid);
    list_del(&w->link);
    loop_del(&w->src);
    close(w->src.fd);
    free(w);
}

void shm_watch_pid(uint32_t pid)
{
    list_for_each (l, &watches)
        if (container_of(l, struct pid_watch, link)->pid == pid)
            return;
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0) {
        /* ESRCH: it is gone already. Otherwise (no pidfd_open) the lock's
         * waiters notice the death themselves. */
        if (errno == ESRCH)
            shm_owner_died(pid);
        return;
    }
    struct pid_watch *w = calloc(1, sizeof *w);
    if (!w) {
        close(fd);
        return;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    w->pid = pid;
    w->src.fd = fd;
    w->src.cb = watch_cb;
    list_push_back(&watches, &w->link);
    if (loop_add(&w->src, EPOLLIN) < 0) {
        list_del(&w->link);
        close(fd);
        free(w);
    }
}

size_t shm_count(void)
{
    size_t n = 0;
    list_for_each (l, &segments)
        n++;
    return n;
}

uint64_t shm_bytes(void)
{
    return total_bytes;
}
