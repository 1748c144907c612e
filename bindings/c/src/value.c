/* value.c - the pp_value tree API.
 *
 * Strings, bytes and pickles own a NUL-terminated copy of their data.
 * Lists and tuples own an array of item pointers; maps own an array of
 * 2*len pointers (key, value, key, value, ...) in insertion order.
 *
 * A node is either calloc'd on its own or lives in a slab (slab_shift != 0,
 * see internal.h): whoever frees a node goes through value_node_free, and
 * code that replaces a node's contents never touches slab_shift.
 */
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool is_blob(pp_kind k)
{
    return k == PP_STRING || k == PP_BYTES || k == PP_PICKLE;
}

static bool is_seq(pp_kind k)
{
    return k == PP_LIST || k == PP_TUPLE;
}

pp_value *value_new(pp_kind kind)
{
    pp_value *v = calloc(1, sizeof *v);
    if (v)
        v->kind = kind;
    return v;
}

/* ---- slabs -------------------------------------------------------------- */

/* A slab is (1 << shift) bytes aligned to its size: this header in the
 * first node-sized slot, then n nodes. refs counts the nodes handed out and
 * not yet freed, plus 1 while a builder holds the slab; it starts at n + 1
 * (as if every node were handed out) so that handing out a node costs no
 * atomic operation, and the builder gives back the unused ones when it
 * lets go. */
struct value_slab {
    atomic_size_t refs;
    size_t used;              /* nodes handed out (builder only) */
    size_t n;                 /* nodes in the slab */
    unsigned shift;
};

_Static_assert(sizeof(struct value_slab) <= sizeof(pp_value), "slab header fits one node slot");

#define SLAB_MIN_SHIFT 10     /* 1 KiB: 31 nodes */
#define SLAB_MAX_SHIFT 15     /* 32 KiB: 1023 nodes */
#define SLAB_MIN_HINT 16      /* fewer expected nodes: plain calloc */

static value_slab *slab_of(const pp_value *v)
{
    return (value_slab *)((uintptr_t)v & ~(((uintptr_t)1 << v->slab_shift) - 1));
}

static void slab_put(value_slab *s, size_t k)
{
    if (atomic_fetch_sub_explicit(&s->refs, k, memory_order_acq_rel) == k)
        free(s);
}

void value_slab_drop(value_slab **cur)
{
    value_slab *s = *cur;
    if (!s)
        return;
    *cur = NULL;
    slab_put(s, s->n - s->used + 1);
}

pp_value *value_slab_node(value_slab **cur, pp_kind kind, size_t hint)
{
    value_slab *s = *cur;
    if (!s || s->used == s->n) {
        value_slab_drop(cur);
        if (hint < SLAB_MIN_HINT)
            return value_new(kind);
        unsigned shift = SLAB_MIN_SHIFT;
        while (shift < SLAB_MAX_SHIFT && ((size_t)1 << shift) / sizeof(pp_value) < hint + 1)
            shift++;
        size_t bytes = (size_t)1 << shift;
        s = aligned_alloc(bytes, bytes);
        if (!s)
            return value_new(kind);
        s->n = bytes / sizeof(pp_value) - 1;
        s->used = 0;
        s->shift = shift;
        atomic_init(&s->refs, s->n + 1);
        *cur = s;
    }
    pp_value *v = (pp_value *)s + 1 + s->used++;
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->slab_shift = (uint8_t)s->shift;
    return v;
}

void value_node_free(pp_value *v)
{
    if (!v)
        return;
    if (v->slab_shift)
        slab_put(slab_of(v), 1);
    else
        free(v);
}

/* Node frees in a row, with the slab releases of consecutive nodes of one
 * slab folded into one atomic operation. */
typedef struct node_freer {
    value_slab *slab;
    size_t k;
} node_freer;

static void freer_flush(node_freer *f)
{
    if (f->slab)
        slab_put(f->slab, f->k);
    f->slab = NULL;
    f->k = 0;
}

static void freer_put(node_freer *f, pp_value *x)
{
    if (!x->slab_shift) {
        free(x);
        return;
    }
    value_slab *s = slab_of(x);
    if (s != f->slab) {
        freer_flush(f);
        f->slab = s;
    }
    f->k++;
}

static pp_value *blob_new(pp_kind kind, const void *data, size_t len)
{
    pp_value *v = value_new(kind);
    if (!v)
        return NULL;
    v->u.s.data = malloc(len + 1);
    if (!v->u.s.data) {
        value_node_free(v);
        return NULL;
    }
    if (len)
        memcpy(v->u.s.data, data, len);
    v->u.s.data[len] = '\0';
    v->u.s.len = len;
    return v;
}

pp_value *pp_value_null(void) { return value_new(PP_NULL); }

pp_value *pp_value_bool(bool b)
{
    pp_value *v = value_new(PP_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

pp_value *pp_value_int(int64_t i)
{
    pp_value *v = value_new(PP_INT);
    if (v)
        v->u.i = i;
    return v;
}

pp_value *pp_value_double(double d)
{
    pp_value *v = value_new(PP_DOUBLE);
    if (v)
        v->u.d = d;
    return v;
}

pp_value *pp_value_string(const char *s)
{
    if (!s)
        s = "";
    return blob_new(PP_STRING, s, strlen(s));
}

pp_value *pp_value_string_n(const char *s, size_t len)
{
    if (!s)
        len = 0;
    return blob_new(PP_STRING, s, len);
}

pp_value *pp_value_bytes(const void *data, size_t len)
{
    if (!data)
        len = 0;
    return blob_new(PP_BYTES, data, len);
}

pp_value *pp_value_pickle(const void *data, size_t len)
{
    if (!data)
        len = 0;
    return blob_new(PP_PICKLE, data, len);
}

pp_value *pp_value_list(void) { return value_new(PP_LIST); }
pp_value *pp_value_tuple(void) { return value_new(PP_TUPLE); }
pp_value *pp_value_map(void) { return value_new(PP_MAP); }

pp_value *pp_value_list_of_ints(const int64_t *ints, size_t n)
{
    pp_value *l = value_new(PP_LIST);
    if (!l)
        return NULL;
    if (n == 0)
        return l;
    /* Items are separate nodes (each may be freed or moved on its own),
     * carved from slabs; the pointer array is allocated once. */
    if (value_reserve(l, n) != PP_OK) {
        free(l);
        return NULL;
    }
    value_slab *slab = NULL;
    for (size_t i = 0; i < n; i++) {
        pp_value *x = value_slab_node(&slab, PP_INT, n - i);
        if (!x) {
            value_slab_drop(&slab);
            pp_value_free(l);
            return NULL;
        }
        x->u.i = ints ? ints[i] : 0;
        l->u.c.items[l->u.c.len++] = x;
    }
    value_slab_drop(&slab);
    return l;
}

pp_status value_reserve(pp_value *v, size_t n)
{
    size_t slots = v->kind == PP_MAP ? 2 * n : n;
    if (slots <= v->u.c.cap)
        return PP_OK;
    size_t cap = v->u.c.cap ? v->u.c.cap : 4;
    while (cap < slots)
        cap *= 2;
    pp_value **items = realloc(v->u.c.items, cap * sizeof *items);
    if (!items)
        return PP_ENOMEM;
    v->u.c.items = items;
    v->u.c.cap = cap;
    return PP_OK;
}

/* Frees a tree without recursion on the C stack: containers are emptied
 * into an explicit stack of nodes still to free. */
void value_clear(pp_value *v)
{
    if (!v)
        return;
    if (is_blob(v->kind)) {
        free(v->u.s.data);
    } else if (v->kind == PP_HANDLE) {
        handle_rec_free(v->u.h);
    } else if (is_seq(v->kind) || v->kind == PP_MAP) {
        size_t n = v->kind == PP_MAP ? 2 * v->u.c.len : v->u.c.len;
        pp_value **stack = v->u.c.items;   /* reuse the array as the stack */
        size_t top = n, cap = v->u.c.cap;
        node_freer fr = {0};
        while (top > 0) {
            pp_value *x = stack[--top];
            if (!x)
                continue;
            switch (x->kind) {
            case PP_NULL:
            case PP_BOOL:
            case PP_INT:
            case PP_DOUBLE:
                break;
            case PP_STRING:
            case PP_BYTES:
            case PP_PICKLE:
                free(x->u.s.data);
                break;
            case PP_HANDLE:
                handle_rec_free(x->u.h);
                break;
            case PP_LIST:
            case PP_TUPLE:
            case PP_MAP: {
                size_t m = x->kind == PP_MAP ? 2 * x->u.c.len : x->u.c.len;
                if (top + m > cap) {
                    size_t ncap = cap ? cap : 4;
                    while (ncap < top + m)
                        ncap *= 2;
                    pp_value **ns = realloc(stack, ncap * sizeof *ns);
                    if (!ns) {
                        /* Out of memory while freeing: fall back to
                         * recursion for this subtree. */
                        value_clear(x);
                        freer_put(&fr, x);
                        continue;
                    }
                    stack = ns;
                    cap = ncap;
                }
                if (m)
                    memcpy(stack + top, x->u.c.items, m * sizeof *stack);
                top += m;
                free(x->u.c.items);
                break;
            }
            default:
                break;
            }
            freer_put(&fr, x);
        }
        freer_flush(&fr);
        free(stack);
    }
    memset(&v->u, 0, sizeof v->u);
    v->kind = PP_NULL;
}

void pp_value_free(pp_value *v)
{
    if (!v)
        return;
    value_clear(v);
    value_node_free(v);
}

pp_value *pp_value_copy(const pp_value *v)
{
    if (!v)
        return NULL;
    switch (v->kind) {
    case PP_STRING:
    case PP_BYTES:
    case PP_PICKLE:
        return blob_new(v->kind, v->u.s.data, v->u.s.len);
    case PP_HANDLE: {
        pp_value *c = value_new(PP_HANDLE);
        if (c && !(c->u.h = handle_rec_copy(v->u.h))) {
            value_node_free(c);
            c = NULL;
        }
        return c;
    }
    case PP_LIST:
    case PP_TUPLE:
    case PP_MAP: {
        pp_value *c = value_new(v->kind);
        if (!c)
            return NULL;
        size_t m = v->kind == PP_MAP ? 2 * v->u.c.len : v->u.c.len;
        if (value_reserve(c, v->u.c.len) != PP_OK) {
            value_node_free(c);
            return NULL;
        }
        for (size_t i = 0; i < m; i++) {
            pp_value *x = pp_value_copy(v->u.c.items[i]);
            if (!x) {
                if (c->kind == PP_MAP) {
                    /* keep the pairs whole so clear frees what exists */
                    c->u.c.len = i / 2;
                    if (i % 2)
                        pp_value_free(c->u.c.items[i - 1]);
                } else {
                    c->u.c.len = i;
                }
                pp_value_free(c);
                return NULL;
            }
            c->u.c.items[i] = x;
            if (c->kind != PP_MAP)
                c->u.c.len = i + 1;
            else if (i % 2)
                c->u.c.len = (i + 1) / 2;
        }
        return c;
    }
    default: {
        pp_value *c = value_new(v->kind);
        if (c)
            c->u = v->u;
        return c;
    }
    }
}

void pp_value_move(pp_value *dst, pp_value *src)
{
    if (!src)
        return;
    if (!dst || dst == src) {
        if (!dst)
            pp_value_free(src);
        return;
    }
    value_clear(dst);
    dst->kind = src->kind;      /* the contents, not src's storage (slab_shift) */
    dst->u = src->u;
    value_node_free(src);
}

pp_status pp_value_set_null(pp_value *v)
{
    if (!v)
        return PP_EINVAL;
    value_clear(v);
    return PP_OK;
}

pp_status pp_value_set_bool(pp_value *v, bool b)
{
    if (!v)
        return PP_EINVAL;
    value_clear(v);
    v->kind = PP_BOOL;
    v->u.b = b;
    return PP_OK;
}

pp_status pp_value_set_int(pp_value *v, int64_t i)
{
    if (!v)
        return PP_EINVAL;
    value_clear(v);
    v->kind = PP_INT;
    v->u.i = i;
    return PP_OK;
}

pp_status pp_value_set_double(pp_value *v, double d)
{
    if (!v)
        return PP_EINVAL;
    value_clear(v);
    v->kind = PP_DOUBLE;
    v->u.d = d;
    return PP_OK;
}

static pp_status set_blob(pp_value *v, pp_kind kind, const void *data, size_t len)
{
    if (!v)
        return PP_EINVAL;
    char *copy = malloc(len + 1);
    if (!copy)
        return PP_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    value_clear(v);
    v->kind = kind;
    v->u.s.data = copy;
    v->u.s.len = len;
    return PP_OK;
}

pp_status pp_value_set_string(pp_value *v, const char *s)
{
    if (!s)
        s = "";
    return set_blob(v, PP_STRING, s, strlen(s));
}

pp_status pp_value_set_bytes(pp_value *v, const void *data, size_t len)
{
    return set_blob(v, PP_BYTES, data, data ? len : 0);
}

pp_kind pp_value_kind(const pp_value *v)
{
    return v ? v->kind : PP_NULL;
}

bool pp_value_get_bool(const pp_value *v)
{
    return v && v->kind == PP_BOOL ? v->u.b : false;
}

int64_t pp_value_get_int(const pp_value *v)
{
    if (!v)
        return 0;
    if (v->kind == PP_INT)
        return v->u.i;
    if (v->kind == PP_BOOL)
        return v->u.b;
    return 0;
}

double pp_value_get_double(const pp_value *v)
{
    if (!v)
        return 0;
    switch (v->kind) {
    case PP_DOUBLE: return v->u.d;
    case PP_INT: return (double)v->u.i;
    case PP_BOOL: return v->u.b;
    default: return 0;
    }
}

const char *pp_value_get_string(const pp_value *v, size_t *len)
{
    if (!v || v->kind != PP_STRING) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.s.len;
    return v->u.s.data;
}

const void *pp_value_get_bytes(const pp_value *v, size_t *len)
{
    if (!v || !is_blob(v->kind)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.s.len;
    return v->u.s.data;
}

pp_status pp_value_to_int(const pp_value *v, int64_t *out)
{
    if (!v || v->kind != PP_INT)
        return PP_EINVAL;
    if (out)
        *out = v->u.i;
    return PP_OK;
}

pp_status pp_value_to_double(const pp_value *v, double *out)
{
    if (!v || v->kind != PP_DOUBLE)
        return PP_EINVAL;
    if (out)
        *out = v->u.d;
    return PP_OK;
}

size_t pp_value_len(const pp_value *v)
{
    if (!v)
        return 0;
    if (is_blob(v->kind))
        return v->u.s.len;
    if (is_seq(v->kind) || v->kind == PP_MAP)
        return v->u.c.len;
    return 0;
}

const pp_value *pp_value_at(const pp_value *v, size_t i)
{
    if (!v || !is_seq(v->kind) || i >= v->u.c.len)
        return NULL;
    return v->u.c.items[i];
}

pp_value *pp_value_at_mut(pp_value *v, size_t i)
{
    if (!v || !is_seq(v->kind) || i >= v->u.c.len)
        return NULL;
    return v->u.c.items[i];
}

pp_status pp_value_append(pp_value *list, pp_value *item)
{
    if (!list || !item || !is_seq(list->kind) || list == item)
        return PP_EINVAL;
    if (list->u.c.len == list->u.c.cap && value_reserve(list, list->u.c.len + 1) != PP_OK)
        return PP_ENOMEM;
    list->u.c.items[list->u.c.len++] = item;
    return PP_OK;
}

pp_status pp_value_map_set(pp_value *map, pp_value *key, pp_value *val)
{
    if (!map || !key || !val || map->kind != PP_MAP)
        return PP_EINVAL;
    for (size_t i = 0; i < map->u.c.len; i++) {
        if (pp_value_equal(map->u.c.items[2 * i], key)) {
            pp_value_free(map->u.c.items[2 * i + 1]);
            map->u.c.items[2 * i + 1] = val;
            pp_value_free(key);
            return PP_OK;
        }
    }
    if (value_reserve(map, map->u.c.len + 1) != PP_OK)
        return PP_ENOMEM;
    map->u.c.items[2 * map->u.c.len] = key;
    map->u.c.items[2 * map->u.c.len + 1] = val;
    map->u.c.len++;
    return PP_OK;
}

pp_status pp_value_map_set_str(pp_value *map, const char *key, pp_value *val)
{
    if (!map || !key || !val || map->kind != PP_MAP)
        return PP_EINVAL;
    pp_value *k = pp_value_string(key);
    if (!k)
        return PP_ENOMEM;
    pp_status st = pp_value_map_set(map, k, val);
    if (st != PP_OK)
        pp_value_free(k);
    return st;
}

const pp_value *pp_value_map_get(const pp_value *map, const char *key)
{
    if (!map || !key || map->kind != PP_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->u.c.len; i++) {
        const pp_value *k = map->u.c.items[2 * i];
        if (k->kind == PP_STRING && k->u.s.len == klen && memcmp(k->u.s.data, key, klen) == 0)
            return map->u.c.items[2 * i + 1];
    }
    return NULL;
}

const pp_value *pp_value_map_key_at(const pp_value *map, size_t i)
{
    if (!map || map->kind != PP_MAP || i >= map->u.c.len)
        return NULL;
    return map->u.c.items[2 * i];
}

const pp_value *pp_value_map_val_at(const pp_value *map, size_t i)
{
    if (!map || map->kind != PP_MAP || i >= map->u.c.len)
        return NULL;
    return map->u.c.items[2 * i + 1];
}

bool pp_value_equal(const pp_value *a, const pp_value *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (a->kind != b->kind && !(is_seq(a->kind) && is_seq(b->kind)))
        return false;
    switch (a->kind) {
    case PP_NULL: return true;
    case PP_BOOL: return a->u.b == b->u.b;
    case PP_INT: return a->u.i == b->u.i;
    case PP_DOUBLE: return a->u.d == b->u.d;
    case PP_STRING:
    case PP_BYTES:
    case PP_PICKLE:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
    case PP_HANDLE:
        return a->u.h->type == b->u.h->type && a->u.h->id == b->u.h->id &&
               a->u.h->offset == b->u.h->offset;
    case PP_LIST:
    case PP_TUPLE:
        if (a->u.c.len != b->u.c.len)
            return false;
        for (size_t i = 0; i < a->u.c.len; i++)
            if (!pp_value_equal(a->u.c.items[i], b->u.c.items[i]))
                return false;
        return true;
    case PP_MAP:
        /* Like Python dicts: order does not matter. */
        if (a->u.c.len != b->u.c.len)
            return false;
        for (size_t i = 0; i < a->u.c.len; i++) {
            const pp_value *k = a->u.c.items[2 * i];
            bool found = false;
            for (size_t j = 0; j < b->u.c.len; j++) {
                if (pp_value_equal(k, b->u.c.items[2 * j])) {
                    if (!pp_value_equal(a->u.c.items[2 * i + 1], b->u.c.items[2 * j + 1]))
                        return false;
                    found = true;
                    break;
                }
            }
            if (!found)
                return false;
        }
        return true;
    default:
        return false;
    }
}

/* ---- repr -------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Python's float repr: the shortest digits that round-trip, positional for
 * 1e-4 <= |d| < 1e16, scientific otherwise, always with '.0' or an exponent. */
static void repr_double(sbuf *b, double d)
{
    if (isnan(d)) {
        sb_str(b, "nan");
        return;
    }
    if (isinf(d)) {
        sb_str(b, d < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e = [-]D[.DDD]e[+-]XX */
    const char *s = e;
    bool neg = *s == '-';
    if (neg)
        s++;
    char digits[24];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (neg)
        sb_str(b, "-");
    if (exp >= -5 + 1 && exp < 16) {
        if (exp < 0) {
            sb_str(b, "0.");
            for (int i = 0; i < -exp - 1; i++)
                sb_str(b, "0");
            sb_str(b, digits);
        } else if ((size_t)exp + 1 >= nd) {
            sb_str(b, digits);
            for (size_t i = nd; i < (size_t)exp + 1; i++)
                sb_str(b, "0");
            sb_str(b, ".0");
        } else {
            sb_put(b, digits, (size_t)exp + 1);
            sb_str(b, ".");
            sb_str(b, digits + exp + 1);
        }
    } else {
        sb_put(b, digits, 1);
        if (nd > 1) {
            sb_str(b, ".");
            sb_str(b, digits + 1);
        }
        sb_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

static void repr_quoted(sbuf *b, const char *s, size_t n, bool bytes)
{
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (bytes)
        sb_str(b, "b");
    sb_put(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == (unsigned char)q || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            sb_put(b, esc, 2);
        } else if (ch == '\n') {
            sb_str(b, "\\n");
        } else if (ch == '\r') {
            sb_str(b, "\\r");
        } else if (ch == '\t') {
            sb_str(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7f || (bytes && ch >= 0x80)) {
            sb_printf(b, "\\x%02x", ch);
        } else {
            sb_put(b, (const char *)&ch, 1);
        }
    }
    sb_put(b, &q, 1);
}

static void repr_rec(sbuf *b, const pp_value *v, int depth)
{
    if (!v) {
        sb_str(b, "None");
        return;
    }
    if (depth > 1000) {
        sb_str(b, "...");
        return;
    }
    switch (v->kind) {
    case PP_NULL: sb_str(b, "None"); break;
    case PP_BOOL: sb_str(b, v->u.b ? "True" : "False"); break;
    case PP_INT: sb_printf(b, "%" PRId64, v->u.i); break;
    case PP_DOUBLE: repr_double(b, v->u.d); break;
    case PP_STRING: repr_quoted(b, v->u.s.data, v->u.s.len, false); break;
    case PP_BYTES: repr_quoted(b, v->u.s.data, v->u.s.len, true); break;
    case PP_PICKLE: sb_printf(b, "<pickle %zu bytes>", v->u.s.len); break;
    case PP_HANDLE:
        sb_printf(b, "<%s %llu+%llu>", handle_type_name(v->u.h->type),
                  (unsigned long long)v->u.h->id, (unsigned long long)v->u.h->offset);
        break;
    case PP_LIST:
    case PP_TUPLE:
        sb_str(b, v->kind == PP_LIST ? "[" : "(");
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i)
                sb_str(b, ", ");
            repr_rec(b, v->u.c.items[i], depth + 1);
        }
        if (v->kind == PP_TUPLE && v->u.c.len == 1)
            sb_str(b, ",");
        sb_str(b, v->kind == PP_LIST ? "]" : ")");
        break;
    case PP_MAP:
        sb_str(b, "{");
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i)
                sb_str(b, ", ");
            repr_rec(b, v->u.c.items[2 * i], depth + 1);
            sb_str(b, ": ");
            repr_rec(b, v->u.c.items[2 * i + 1], depth + 1);
        }
        sb_str(b, "}");
        break;
    default:
        sb_str(b, "<?>");
    }
}

char *pp_value_repr(const pp_value *v)
{
    sbuf b = {0};
    repr_rec(&b, v, 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (!b.p)
        return strdup("");
    return b.p;
}

/* ---- the task ABI helper ------------------------------------------------ */

int pp_task_fail(pp_value *result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (result) {
        if (n >= 0 && msg)
            pp_value_set_string(result, msg);
        else
            pp_value_set_string(result, "task failed");
    }
    free(msg);
    return PP_ETASK;
}
