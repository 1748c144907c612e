/* ring.c - message rings in shared memory (see ring.h). */
#include "ring.h"

#include <limits.h>
#include <string.h>

#include "polypool.h"

#define LOCK_W(r) ((struct pps *)(r))
#define LOCK_R(r) ((struct pps *)((char *)(r) + PPS_SLOT))
#define HDR(r) ((struct ring_hdr *)((char *)(r) + RING_HDR_OFF))
#define DATA(r) ((unsigned char *)(r) + RING_DATA_OFF)

static const struct pps_wait forever = { .deadline = -1 };

static size_t rec_size(size_t len)
{
    return RING_REC_HDR + ((len + 7) & ~(size_t)7);
}

size_t ring_size(size_t capacity)
{
    return RING_DATA_OFF + ((capacity + 7) & ~(size_t)7);
}

void ring_init(void *ring, size_t capacity, uint32_t maxcount)
{
    pps_init(LOCK_W(ring), PPS_LOCK, 0, 0);
    pps_init(LOCK_R(ring), PPS_LOCK, 0, 0);
    struct ring_hdr *h = HDR(ring);
    memset(h, 0, sizeof *h);
    h->capacity = (capacity + 7) & ~(size_t)7;
    h->maxcount = maxcount;
    atomic_thread_fence(memory_order_release);
    h->magic = RING_MAGIC;
}

bool ring_check(const void *ring, size_t avail)
{
    const struct ring_hdr *h = HDR(ring);
    return avail >= RING_DATA_OFF && h->magic == RING_MAGIC && h->capacity >= 64 &&
           h->capacity <= avail - RING_DATA_OFF && pps_check(LOCK_W(ring), PPS_LOCK) &&
           pps_check(LOCK_R(ring), PPS_LOCK);
}

/* Copies n bytes in or out at a position of the data area, wrapping. */
static void copy_in(void *ring, uint64_t pos, const void *src, size_t n)
{
    uint64_t cap = HDR(ring)->capacity, off = pos % cap;
    size_t first = n < cap - off ? n : (size_t)(cap - off);
    memcpy(DATA(ring) + off, src, first);
    if (n > first)
        memcpy(DATA(ring), (const char *)src + first, n - first);
}

static void copy_out(void *ring, uint64_t pos, void *dst, size_t n)
{
    uint64_t cap = HDR(ring)->capacity, off = pos % cap;
    size_t first = n < cap - off ? n : (size_t)(cap - off);
    memcpy(dst, DATA(ring) + off, first);
    if (n > first)
        memcpy((char *)dst + first, DATA(ring), n - first);
}

static int take(struct pps *lock, const struct pps_wait *w)
{
    int st = pps_lock_acquire(lock, pps_pid(), pps_tid(), w);
    return st == PP_EOWNERDEAD ? PP_OK : st;
}

static void drop(struct pps *lock)
{
    pps_lock_release(lock, pps_pid(), pps_tid());
}

/* Sleeps on a sequence word, counted in *waiting so the other side wakes
 * us only when someone sleeps. */
static int await(_Atomic uint32_t *seq, uint32_t seen, _Atomic uint32_t *waiting,
                 const struct pps_wait *w)
{
    atomic_fetch_add(waiting, 1);
    int r = pps_block(seq, seen, w);
    atomic_fetch_sub(waiting, 1);
    return r;
}

enum { REC_WHOLE = 0, REC_FIRST = 1, REC_MIDDLE = 2, REC_LAST = 3 };

#define MAX_MESSAGE ((uint64_t)1 << 40)

/* The most payload one record of a streamed message carries. */
static size_t chunk_max(const struct ring_hdr *h)
{
    return (size_t)(h->capacity / 4) & ~(size_t)7;
}

/* Writes one record when there is room (and, for a message's first
 * record, while under maxcount); waits otherwise. lock_w is held. */
static int put_record(void *ring, uint32_t kind, const void *head, size_t head_len,
                      const void *body, size_t body_len, bool starts, bool ends,
                      bool joinable, const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    size_t len = head_len + body_len, need = rec_size(len);
    for (;;) {
        uint32_t seen = atomic_load(&h->space_seq);
        if (atomic_load(&h->flags) & (RING_NO_READERS | RING_CLOSED))
            return PP_ECLOSED;
        uint64_t used = atomic_load(&h->tail) - atomic_load(&h->head);
        if (h->capacity - used >= need &&
            (!starts || h->maxcount == 0 || atomic_load(&h->count) < h->maxcount)) {
            uint64_t t = atomic_load(&h->tail);
            uint32_t rec[2] = { (uint32_t)len, kind };
            copy_in(ring, t, rec, sizeof rec);
            if (head_len)
                copy_in(ring, t + RING_REC_HDR, head, head_len);
            if (body_len)
                copy_in(ring, t + RING_REC_HDR + head_len, body, body_len);
            if (ends) {
                if (joinable)
                    atomic_fetch_add(&h->unfinished, 1);
                atomic_fetch_add(&h->count, 1);
            }
            atomic_store_explicit(&h->tail, t + need, memory_order_release);
            atomic_fetch_add(&h->data_seq, 1);
            if (atomic_load(&h->readers_waiting))
                pps_wake(&h->data_seq, INT_MAX);
            return PP_OK;
        }
        int r = await(&h->space_seq, seen, &h->writers_waiting, w);
        if (r)
            return r;
    }
}

int ring_put(void *ring, const void *msg, size_t len, bool joinable, const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    if (!w)
        w = &forever;
    if (len > MAX_MESSAGE)
        return PP_EMSGSIZE;
    int st = take(LOCK_W(ring), w);
    if (st != PP_OK)
        return st;
    size_t cmax = chunk_max(h);
    if (len <= cmax) {
        st = put_record(ring, REC_WHOLE, NULL, 0, msg, len, true, true, joinable, w);
    } else {
        uint64_t total = len;
        const char *p = msg;
        size_t first = cmax - sizeof total;
        st = put_record(ring, REC_FIRST, &total, sizeof total, p, first, true, false,
                        joinable, w);
        /* Once started, the message is finished whatever the deadline. */
        for (size_t off = first; st == PP_OK && off < len;) {
            size_t n = len - off < cmax ? len - off : cmax;
            bool last = off + n == len;
            st = put_record(ring, last ? REC_LAST : REC_MIDDLE, NULL, 0, p + off, n, false,
                            last, joinable, &forever);
            off += n;
        }
    }
    drop(LOCK_W(ring));
    return st;
}

/* The next record's header, waiting for one; with `partial` set (a
 * streamed message being assembled) also gives up with PP_EAGAIN when its
 * writer is gone: the writers' lock is free, or held by a dead process. */
static int next_record(void *ring, uint32_t rec[2], bool partial, const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    for (;;) {
        uint32_t seen = atomic_load(&h->data_seq);
        uint64_t hd = atomic_load(&h->head);
        if (atomic_load_explicit(&h->tail, memory_order_acquire) != hd) {
            copy_out(ring, hd, rec, 2 * sizeof *rec);
            return PP_OK;
        }
        /* The writer may have committed more and then let go of its lock
         * (or closed) since tail was read: look at tail again before
         * concluding anything from the lock or the flags. */
        if (partial) {
            uint32_t holder = pps_lock_holder(LOCK_W(ring));
            atomic_thread_fence(memory_order_acquire);
            if ((holder == 0 || !pps_pid_alive(holder)) &&
                atomic_load_explicit(&h->tail, memory_order_acquire) == hd)
                return PP_EAGAIN;
        } else if ((atomic_load(&h->flags) & (RING_NO_WRITERS | RING_CLOSED)) &&
                   atomic_load_explicit(&h->tail, memory_order_acquire) == hd) {
            return PP_EEOF;
        }
        int r = await(&h->data_seq, seen, &h->readers_waiting, partial ? &forever : w);
        if (r)
            return r;
    }
}

/* Consumes the record at head (of payload length len). */
static void consume(void *ring, uint32_t len, bool ends)
{
    struct ring_hdr *h = HDR(ring);
    if (ends)
        atomic_fetch_sub(&h->count, 1);
    atomic_store(&h->head, atomic_load(&h->head) + rec_size(len));
    atomic_fetch_add(&h->space_seq, 1);
    if (atomic_load(&h->writers_waiting))
        pps_wake(&h->space_seq, INT_MAX);
}

int ring_get(void *ring, void *(*alloc)(void *arg, size_t len), void *arg, size_t *len,
             const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    if (!w)
        w = &forever;
    int st = take(LOCK_R(ring), w);
    if (st != PP_OK)
        return st;
    uint32_t rec[2];
    char *buf = NULL;
    uint64_t total = 0, got = 0;
    for (;;) {
        st = next_record(ring, rec, buf != NULL, w);
        if (st == PP_EAGAIN) {          /* its writer died mid-message */
            buf = NULL;
            continue;
        }
        if (st != PP_OK)
            break;
        uint64_t hd = atomic_load(&h->head) + RING_REC_HDR;
        if (rec[1] == REC_WHOLE || rec[1] == REC_FIRST) {
            /* A message that starts while another is half read: the
             * other's writer died; drop it. */
            buf = NULL;
            if (rec[1] == REC_WHOLE) {
                void *out = alloc(arg, rec[0]);
                if (!out) {
                    st = PP_ENOMEM;
                    break;
                }
                copy_out(ring, hd, out, rec[0]);
                *len = rec[0];
                consume(ring, rec[0], true);
                break;
            }
            copy_out(ring, hd, &total, sizeof total);
            if (!(buf = alloc(arg, (size_t)total))) {
                /* Cannot take it: the message is skipped (its other
                 * records go as those of a dropped one). */
                consume(ring, rec[0], false);
                st = PP_ENOMEM;
                break;
            }
            got = rec[0] - sizeof total;
            copy_out(ring, hd + sizeof total, buf, (size_t)got);
            consume(ring, rec[0], false);
            continue;
        }
        if (!buf) {                     /* the rest of a dropped message */
            consume(ring, rec[0], rec[1] == REC_LAST);
            continue;
        }
        bool last = rec[1] == REC_LAST;
        if (got + rec[0] > total) {     /* corrupt: drop it */
            consume(ring, rec[0], last);
            buf = NULL;
            continue;
        }
        copy_out(ring, hd, buf + got, rec[0]);
        got += rec[0];
        consume(ring, rec[0], last);
        if (last) {
            *len = (size_t)total;
            break;
        }
    }
    drop(LOCK_R(ring));
    return st;
}

int ring_poll(void *ring, const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    if (!w)
        w = &forever;
    for (;;) {
        uint32_t seen = atomic_load(&h->data_seq);
        if (atomic_load(&h->tail) != atomic_load(&h->head))
            return PP_OK;
        if (atomic_load(&h->flags) & (RING_NO_WRITERS | RING_CLOSED))
            /* Something committed just before the flag was set counts. */
            return atomic_load(&h->tail) != atomic_load(&h->head) ? PP_OK : PP_EEOF;
        int r = await(&h->data_seq, seen, &h->readers_waiting, w);
        if (r)
            return r;
    }
}

uint32_t ring_count(const void *ring)
{
    return atomic_load(&HDR(ring)->count);
}

uint32_t ring_maxcount(const void *ring)
{
    return HDR(ring)->maxcount;
}

bool ring_streams(const void *ring, size_t len)
{
    return len > chunk_max(HDR(ring));
}

bool ring_fits_now(const void *ring, size_t len)
{
    const struct ring_hdr *h = HDR(ring);
    uint64_t cap = h->capacity, quarter = chunk_max(h);
    uint64_t used = atomic_load(&h->tail) - atomic_load(&h->head);
    uint64_t need = (uint64_t)len + (len / (quarter ? quarter : 1) + 2) * (RING_REC_HDR + 16);
    return used <= cap && cap - used >= need;
}

bool ring_head_streamed(const void *ring)
{
    const struct ring_hdr *h = HDR(ring);
    uint64_t hd = atomic_load(&h->head);
    if (atomic_load_explicit(&h->tail, memory_order_acquire) == hd || !h->capacity)
        return false;
    /* Records are 8-aligned in a data area a multiple of 8: a header
     * never wraps. */
    uint32_t rec[2];
    memcpy(rec, (const unsigned char *)ring + RING_DATA_OFF + hd % h->capacity, sizeof rec);
    return rec[1] != REC_WHOLE;
}

uint32_t ring_flags(const void *ring)
{
    return atomic_load(&HDR(ring)->flags);
}

void ring_set_flags(void *ring, uint32_t flags)
{
    struct ring_hdr *h = HDR(ring);
    atomic_fetch_or(&h->flags, flags);
    atomic_fetch_add(&h->data_seq, 1);
    atomic_fetch_add(&h->space_seq, 1);
    atomic_fetch_add(&h->join_seq, 1);
    pps_wake(&h->data_seq, INT_MAX);
    pps_wake(&h->space_seq, INT_MAX);
    pps_wake(&h->join_seq, INT_MAX);
}

void ring_add_unfinished(void *ring, uint32_t n)
{
    atomic_fetch_add(&HDR(ring)->unfinished, n);
}

int ring_task_done(void *ring)
{
    struct ring_hdr *h = HDR(ring);
    uint32_t v = atomic_load(&h->unfinished);
    do {
        if (v == 0)
            return PP_ESTATE;
    } while (!atomic_compare_exchange_weak(&h->unfinished, &v, v - 1));
    if (v == 1) {
        atomic_fetch_add(&h->join_seq, 1);
        pps_wake(&h->join_seq, INT_MAX);
    }
    return PP_OK;
}

int ring_join(void *ring, const struct pps_wait *w)
{
    struct ring_hdr *h = HDR(ring);
    if (!w)
        w = &forever;
    for (;;) {
        uint32_t seen = atomic_load(&h->join_seq);
        if (atomic_load(&h->unfinished) == 0)
            return PP_OK;
        int r = pps_block(&h->join_seq, seen, w);
        if (r)
            return r;
    }
}
