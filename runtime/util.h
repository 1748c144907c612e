/* util.h - small containers shared by the daemon modules.
 *
 * An intrusive doubly linked list (struct list), an open-addressing map from
 * 64-bit ids to pointers (struct idmap) and a growable byte buffer (struct
 * buf). None of them locks: callers hold the daemon lock (see loop.h).
 */
#ifndef PP_UTIL_H
#define PP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A list head is also a node; an empty list points at itself. */
struct list {
    struct list *prev, *next;
};

static inline void list_init(struct list *l) { l->prev = l->next = l; }
static inline bool list_empty(const struct list *l) { return l->next == l; }
/* True when node n is linked in some list (nodes are list_init'ed when off). */
static inline bool list_linked(const struct list *n) { return n->next != n; }

static inline void list_insert_after(struct list *at, struct list *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}
static inline void list_push_back(struct list *l, struct list *n) { list_insert_after(l->prev, n); }
static inline void list_push_front(struct list *l, struct list *n) { list_insert_after(l, n); }
static inline void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

#define list_for_each(pos, head) \
    for (struct list *pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, tmp, head) \
    for (struct list *pos = (head)->next, *tmp = pos->next; pos != (head); \
         pos = tmp, tmp = pos->next)

/* Map from nonzero uint64 keys to non-NULL pointers. */
struct idmap {
    uint64_t *keys;
    void **vals;
    size_t cap;   /* power of two, or 0 */
    size_t count;
};

void idmap_init(struct idmap *m);
void idmap_fini(struct idmap *m);
/* NULL when absent. */
void *idmap_get(const struct idmap *m, uint64_t key);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int idmap_put(struct idmap *m, uint64_t key, void *val);
/* Removes key; returns the old value or NULL. */
void *idmap_del(struct idmap *m, uint64_t key);
/* Iteration: for (size_t i = 0; idmap_next(m, &i, &k, &v);) ... The map must
 * not change during the walk. */
bool idmap_next(const struct idmap *m, size_t *i, uint64_t *key, void **val);

/* A growable byte buffer: data[off..len) is unread. */
struct buf {
    uint8_t *data;
    size_t off, len, cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
/* Makes room for n more bytes at data+len. Returns 0 or -1 (ENOMEM). */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
/* Drops n consumed bytes from the front; compacts lazily. */
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_unread(const struct buf *b) { return b->len - b->off; }

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);

#endif
