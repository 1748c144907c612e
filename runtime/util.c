/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void idmap_init(struct idmap *m)
{
    memset(m, 0, sizeof *m);
}

void idmap_fini(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return NULL;
    }
}

static int grow(struct idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    uint64_t *nk = calloc(ncap, sizeof *nk);
    void **nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot_of(m->keys[i], ncap);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

int idmap_put(struct idmap *m, uint64_t key, void *val)
{
    if (!key)
        return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->count++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void *idmap_del(struct idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (!m->keys[i])
            return NULL;
        i = (i + 1) & mask;
    }
    void *old = m->vals[i];
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j])
            break;
        size_t home = slot_of(m->keys[j], m->cap);
        bool move = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->count--;
    return old;
}

bool idmap_next(const struct idmap *m, size_t *i, uint64_t *key, void **val)
{
    for (; *i < m->cap; (*i)++) {
        if (m->keys[*i]) {
            if (key)
                *key = m->keys[*i];
            if (val)
                *val = m->vals[*i];
            (*i)++;
            return true;
        }
    }
    return false;
}

void buf_init(struct buf *b)
{
    memset(b, 0, sizeof *b);
}

void buf_fini(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int buf_reserve(struct buf *b, size_t n)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len >= n)
        return 0;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return 0;
    }
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len < n) {
        if (ncap > SIZE_MAX / 2) {
            errno = ENOMEM;
            return -1;
        }
        ncap *= 2;
    }
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len) {
        b->off = b->len = 0;
        /* Give back a big buffer once a burst has drained. */
        if (b->cap > (1u << 20)) {
            free(b->data);
            b->data = NULL;
            b->cap = 0;
        }
    }
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
