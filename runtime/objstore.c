/* objstore.c - managed objects (see objstore.h). Dicts are arrays in
 * insertion order searched linearly: manager dicts are small, and a round
 * trip costs far more than the search. */
#include "objstore.h"

#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "util.h"

static struct idmap objects;
static uint64_t next_id;
static size_t n_objects;

int blob_copy(struct blob *dst, const void *data, size_t len)
{
    dst->data = malloc(len ? len : 1);
    if (!dst->data)
        return -1;
    if (len)
        memcpy(dst->data, data, len);
    dst->len = len;
    return 0;
}

void blob_free(struct blob *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

static bool blob_eq(const struct blob *a, const struct blob *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

void mobj_clear(struct mobj *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->keys)
            blob_free(&o->keys[i]);
        blob_free(&o->vals[i]);
    }
    o->n = 0;
    o->bytes = 0;
}

static void mobj_free(struct mobj *o)
{
    idmap_del(&objects, o->id);
    n_objects--;
    mobj_clear(o);
    free(o->keys);
    free(o->vals);
    free(o);
}

static int ref_add(struct session *s, struct mobj *o)
{
    uintptr_t n = (uintptr_t)idmap_get(&s->obj_refs, o->id);
    if (idmap_put(&s->obj_refs, o->id, (void *)(n + 1)) < 0)
        return -1;
    o->refs++;
    return 0;
}

struct mobj *mobj_create(struct session *s, enum mobj_kind kind)
{
    struct mobj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->id = ++next_id;
    o->kind = kind;
    if (idmap_put(&objects, o->id, o) < 0) {
        free(o);
        return NULL;
    }
    n_objects++;
    if (ref_add(s, o) < 0) {
        mobj_free(o);
        return NULL;
    }
    return o;
}

struct mobj *mobj_attach(struct session *s, uint64_t id)
{
    struct mobj *o = idmap_get(&objects, id);
    if (!o || ref_add(s, o) < 0)
        return NULL;
    return o;
}

static void unref(struct mobj *o, uint64_t n)
{
    o->refs -= n < o->refs ? n : o->refs;
    if (!o->refs)
        mobj_free(o);
}

int mobj_release(struct session *s, uint64_t id)
{
    uintptr_t held = (uintptr_t)idmap_get(&s->obj_refs, id);
    struct mobj *o = idmap_get(&objects, id);
    if (!held || !o)
        return -1;
    if (held == 1)
        idmap_del(&s->obj_refs, id);
    else
        idmap_put(&s->obj_refs, id, (void *)(held - 1));
    unref(o, 1);
    return 0;
}

struct mobj *mobj_held(const struct session *s, uint64_t id)
{
    return idmap_get(&s->obj_refs, id) ? idmap_get(&objects, id) : NULL;
}

void mobj_session_end(struct session *s)
{
    uint64_t id;
    void *v;
    for (size_t i = 0; idmap_next(&s->obj_refs, &i, &id, &v);) {
        struct mobj *o = idmap_get(&objects, id);
        if (o)
            unref(o, (uintptr_t)v);
    }
    idmap_fini(&s->obj_refs);
    idmap_init(&s->obj_refs);
}

void mobj_fini(void)
{
    uint64_t id;
    void *v;
    for (size_t i = 0; idmap_next(&objects, &i, &id, &v);) {
        struct mobj *o = v;
        mobj_clear(o);
        free(o->keys);
        free(o->vals);
        free(o);
    }
    idmap_fini(&objects);
    n_objects = 0;
}

size_t mobj_count(void)
{
    return n_objects;
}

static int reserve(struct mobj *o)
{
    if (o->n < o->cap)
        return 0;
    size_t nc = o->cap ? o->cap * 2 : 8;
    struct blob *nv = realloc(o->vals, nc * sizeof *nv);
    if (!nv)
        return -1;
    o->vals = nv;
    if (o->kind != MOBJ_LIST) {
        struct blob *nk = realloc(o->keys, nc * sizeof *nk);
        if (!nk)
            return -1;
        o->keys = nk;
    }
    o->cap = nc;
    return 0;
}

long mobj_find(const struct mobj *o, const struct blob *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (blob_eq(&o->keys[i], key))
            return (long)i;
    return -1;
}

int mobj_set(struct mobj *o, struct blob key, struct blob val)
{
    long i = mobj_find(o, &key);
    if (i >= 0) {
        o->bytes += val.len - o->vals[i].len;
        blob_free(&o->vals[i]);
        o->vals[i] = val;
        blob_free(&key);
        return 0;
    }
    if (reserve(o) < 0) {
        blob_free(&key);
        blob_free(&val);
        return -1;
    }
    o->keys[o->n] = key;
    o->vals[o->n] = val;
    o->n++;
    o->bytes += key.len + val.len;
    return 0;
}

void mobj_del_at(struct mobj *o, size_t i)
{
    o->bytes -= o->vals[i].len + (o->keys ? o->keys[i].len : 0);
    blob_free(&o->vals[i]);
    if (o->keys)
        blob_free(&o->keys[i]);
    size_t rest = o->n - i - 1;
    memmove(&o->vals[i], &o->vals[i + 1], rest * sizeof *o->vals);
    if (o->keys)
        memmove(&o->keys[i], &o->keys[i + 1], rest * sizeof *o->keys);
    o->n--;
}

int mobj_insert(struct mobj *o, size_t i, struct blob val)
{
    if (reserve(o) < 0) {
        blob_free(&val);
        return -1;
    }
    if (i > o->n)
        i = o->n;
    memmove(&o->vals[i + 1], &o->vals[i], (o->n - i) * sizeof *o->vals);
    o->vals[i] = val;
    o->n++;
    o->bytes += val.len;
    return 0;
}

long mobj_find_val(const struct mobj *o, const struct blob *val, size_t from)
{
    for (size_t i = from; i < o->n; i++)
        if (blob_eq(&o->vals[i], val))
            return (long)i;
    return -1;
}
