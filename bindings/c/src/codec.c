/* codec.c - pp_value trees <-> flattened Values (see proto/polypool.proto).
 *
 * Both directions walk trees with an explicit stack bounded by
 * CODEC_MAX_DEPTH, never with C recursion, so hostile input cannot overflow
 * the stack. Depth counts containers: a container directly inside a
 * top-level container has depth 2; a container deeper than CODEC_MAX_DEPTH
 * is refused by both the encoder (PP_EINVAL) and the decoder (PP_EPROTO).
 * The encoder's arrays grow geometrically, so a list of a million ints is a
 * handful of allocations.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "internal.h"

/* ---- encoder ----------------------------------------------------------- */

void codec_enc_init(codec_enc *e)
{
    memset(e, 0, sizeof *e);
}

void codec_enc_reset(codec_enc *e)
{
    for (size_t i = 0; i < e->n_blobs; i++)
        free(e->blobs[i].data);
    for (size_t i = 0; i < e->n_handles; i++)
        handle_msg_free(&e->handles[i]);
    e->n_kinds = e->n_ints = e->n_reals = e->n_blobs = e->n_counts = e->n_handles = 0;
    e->n_values = 0;
}

void codec_enc_fini(codec_enc *e)
{
    if (!e)
        return;
    codec_enc_reset(e);
    free(e->kinds);
    free(e->ints);
    free(e->reals);
    free(e->blobs);
    free(e->counts);
    free(e->handles);
    free(e->hptrs);
    memset(e, 0, sizeof *e);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

#define GROW(e, name, extra) \
    grow((void **)&(e)->name, &(e)->cap_##name, (e)->n_##name + (extra), sizeof *(e)->name)

static int put_kind(codec_enc *e, pp_kind k)
{
    if (e->n_kinds == e->cap_kinds && GROW(e, kinds, 1))
        return -1;
    e->kinds[e->n_kinds++] = (Polypool__V1__Kind)k;
    return 0;
}

static int put_int(codec_enc *e, int64_t i)
{
    if (e->n_ints == e->cap_ints && GROW(e, ints, 1))
        return -1;
    e->ints[e->n_ints++] = i;
    return 0;
}

static int put_real(codec_enc *e, double d)
{
    if (e->n_reals == e->cap_reals && GROW(e, reals, 1))
        return -1;
    e->reals[e->n_reals++] = d;
    return 0;
}

static int put_blob(codec_enc *e, const void *data, size_t len)
{
    if (e->n_blobs == e->cap_blobs && GROW(e, blobs, 1))
        return -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    e->blobs[e->n_blobs].data = copy;
    e->blobs[e->n_blobs].len = len;
    e->n_blobs++;
    return 0;
}

static int put_count(codec_enc *e, size_t n)
{
    if (n > UINT32_MAX)
        return -1;
    if (e->n_counts == e->cap_counts && GROW(e, counts, 1))
        return -1;
    e->counts[e->n_counts++] = (uint32_t)n;
    return 0;
}

static int put_handle(codec_enc *e, const struct handle_rec *h)
{
    if ((e->n_handles == e->cap_handles && GROW(e, handles, 1)) ||
        grow((void **)&e->hptrs, &e->cap_hptrs, e->n_handles + 1, sizeof *e->hptrs))
        return -1;
    if (handle_msg_from_rec(&e->handles[e->n_handles], h) != PP_OK)
        return -1;
    e->n_handles++;
    return 0;
}

static void enc_rollback(codec_enc *e, size_t k, size_t i, size_t r, size_t b, size_t c,
                         size_t h)
{
    for (size_t j = b; j < e->n_blobs; j++)
        free(e->blobs[j].data);
    for (size_t j = h; j < e->n_handles; j++)
        handle_msg_free(&e->handles[j]);
    e->n_handles = h;
    e->n_kinds = k;
    e->n_ints = i;
    e->n_reals = r;
    e->n_blobs = b;
    e->n_counts = c;
}

pp_status codec_enc_value(codec_enc *e, const pp_value *v)
{
    /* The common case of map inputs: a top-level INT, without the walk. */
    if (v && v->kind == PP_INT) {
        if ((e->n_kinds == e->cap_kinds && GROW(e, kinds, 1)) ||
            (e->n_ints == e->cap_ints && GROW(e, ints, 1)))
            return PP_ENOMEM;
        e->kinds[e->n_kinds++] = POLYPOOL__V1__KIND__KIND_INT;
        e->ints[e->n_ints++] = v->u.i;
        e->n_values++;
        return PP_OK;
    }
    size_t k0 = e->n_kinds, i0 = e->n_ints, r0 = e->n_reals, b0 = e->n_blobs, c0 = e->n_counts;
    size_t h0 = e->n_handles;
    struct {
        const pp_value *c;
        size_t next, n;      /* next slot to emit, slots in total */
    } st[CODEC_MAX_DEPTH];
    int top = 0;
    pp_status err = PP_ENOMEM;
    const pp_value *x = v;

    for (;;) {
        pp_kind kind = x ? x->kind : PP_NULL;
        int rc = 0;
        switch (kind) {
        case PP_NULL:
            rc = put_kind(e, PP_NULL);
            break;
        case PP_BOOL:
            rc = put_kind(e, kind) || put_int(e, x->u.b ? 1 : 0);
            break;
        case PP_INT:
            rc = put_kind(e, kind) || put_int(e, x->u.i);
            break;
        case PP_DOUBLE:
            rc = put_kind(e, kind) || put_real(e, x->u.d);
            break;
        case PP_STRING:
        case PP_BYTES:
        case PP_PICKLE:
            rc = put_kind(e, kind) || put_blob(e, x->u.s.data, x->u.s.len);
            break;
        case PP_LIST:
        case PP_TUPLE:
        case PP_MAP: {
            if (top + 1 > CODEC_MAX_DEPTH) {
                err = PP_EINVAL;
                goto fail;
            }
            size_t slots = kind == PP_MAP ? 2 * x->u.c.len : x->u.c.len;
            rc = put_kind(e, kind) || put_count(e, x->u.c.len);
            if (!rc && slots > 0) {
                st[top].c = x;
                st[top].next = 0;
                st[top].n = slots;
                top++;
            }
            break;
        }
        case PP_HANDLE:
            rc = put_kind(e, kind) || put_handle(e, x->u.h);
            break;
        default:
            err = PP_EINVAL;
            goto fail;
        }
        if (rc)
            goto fail;
        while (top > 0 && st[top - 1].next == st[top - 1].n)
            top--;
        if (top == 0)
            break;
        x = st[top - 1].c->u.c.items[st[top - 1].next++];
    }
    e->n_values++;
    return PP_OK;

fail:
    enc_rollback(e, k0, i0, r0, b0, c0, h0);
    return err;
}

pp_status codec_enc_nulls(codec_enc *e, size_t n)
{
    if (GROW(e, kinds, n))
        return PP_ENOMEM;
    for (size_t j = 0; j < n; j++)
        e->kinds[e->n_kinds++] = POLYPOOL__V1__KIND__KIND_NULL;
    e->n_values += n;
    return PP_OK;
}

void codec_enc_msg(codec_enc *e, Polypool__V1__Values *msg)
{
    /* put_handle made room for the pointers. */
    for (size_t j = 0; j < e->n_handles; j++)
        e->hptrs[j] = &e->handles[j];
    polypool__v1__values__init(msg);
    msg->n_kinds = e->n_kinds;
    msg->kinds = e->kinds;
    msg->n_ints = e->n_ints;
    msg->ints = e->ints;
    msg->n_reals = e->n_reals;
    msg->reals = e->reals;
    msg->n_blobs = e->n_blobs;
    msg->blobs = e->blobs;
    msg->n_counts = e->n_counts;
    msg->counts = e->counts;
    msg->n_handles = e->n_handles;
    msg->handles = e->n_handles ? e->hptrs : NULL;
}

/* ---- decoder ----------------------------------------------------------- */

void codec_dec_init(codec_dec *d, const Polypool__V1__Values *msg)
{
    memset(d, 0, sizeof *d);
    d->msg = msg;
}

void codec_dec_use_slabs(codec_dec *d)
{
    d->use_slabs = true;
}

void codec_dec_fini(codec_dec *d)
{
    if (d)
        value_slab_drop(&d->slab);
}

/* A node for the kind just read at d->k - 1. */
static pp_value *dec_node(codec_dec *d, pp_kind kind)
{
    if (!d->use_slabs)
        return value_new(kind);
    /* Every node has exactly one kind: the kinds left bound the nodes to come. */
    return value_slab_node(&d->slab, kind, d->msg->n_kinds - d->k + 1);
}

static bool dec_at_end(const codec_dec *d)
{
    const Polypool__V1__Values *m = d->msg;
    return !m || d->k >= m->n_kinds;
}

static bool dec_leftovers(const codec_dec *d)
{
    const Polypool__V1__Values *m = d->msg;
    if (!m)
        return false;
    return d->k != m->n_kinds || d->i != m->n_ints || d->r != m->n_reals ||
           d->b != m->n_blobs || d->c != m->n_counts || d->h != m->n_handles;
}

/* Puts x into the next slot of a container being built. A map's len counts
 * pairs, so a key without its value yet leaves a NULL value slot (which
 * value_clear skips if we fail before filling it). */
static void attach(pp_value *parent, size_t filled, pp_value *x)
{
    parent->u.c.items[filled] = x;
    filled++;
    if (parent->kind == PP_MAP) {
        if (filled % 2)
            parent->u.c.items[filled] = NULL;
        parent->u.c.len = (filled + 1) / 2;
    } else {
        parent->u.c.len = filled;
    }
}

/* Walks one tree; builds it into *out when build is set. */
static pp_status dec_tree(codec_dec *d, bool build, pp_value **out)
{
    const Polypool__V1__Values *m = d->msg;
    struct {
        pp_value *c;      /* the container, when building */
        size_t filled;    /* slots read so far */
        size_t n;         /* slots in total */
    } st[CODEC_MAX_DEPTH];
    int top = 0;
    pp_value *root = NULL;
    pp_status err = PP_EPROTO;

    if (dec_at_end(d))
        return dec_leftovers(d) ? PP_EPROTO : PP_EEOF;

    for (;;) {
        if (d->k >= m->n_kinds)
            goto fail;
        int kind = (int)m->kinds[d->k++];
        size_t slots = 0;

        /* Check the payload exists before allocating anything. */
        switch (kind) {
        case PP_NULL:
            break;
        case PP_BOOL:
        case PP_INT:
            if (d->i >= m->n_ints)
                goto fail;
            break;
        case PP_DOUBLE:
            if (d->r >= m->n_reals)
                goto fail;
            break;
        case PP_STRING:
        case PP_BYTES:
        case PP_PICKLE:
            if (d->b >= m->n_blobs)
                goto fail;
            break;
        case PP_HANDLE:
            if (d->h >= m->n_handles || !m->handles[d->h])
                goto fail;
            break;
        case PP_LIST:
        case PP_TUPLE:
        case PP_MAP: {
            if (d->c >= m->n_counts || top + 1 > CODEC_MAX_DEPTH)
                goto fail;
            size_t n = m->counts[d->c];
            slots = kind == PP_MAP ? 2 * n : n;
            /* Every slot needs at least one more kind: this bounds what a
             * hostile count can make us allocate. */
            if (slots > m->n_kinds - d->k)
                goto fail;
            break;
        }
        default:
            goto fail;
        }

        pp_value *x = NULL;
        if (build) {
            x = dec_node(d, (pp_kind)kind);
            if (!x)
                goto nomem;
        }
        switch (kind) {
        case PP_BOOL:
            if (x)
                x->u.b = m->ints[d->i] != 0;
            d->i++;
            break;
        case PP_INT:
            if (x)
                x->u.i = m->ints[d->i];
            d->i++;
            break;
        case PP_DOUBLE:
            if (x)
                x->u.d = m->reals[d->r];
            d->r++;
            break;
        case PP_STRING:
        case PP_BYTES:
        case PP_PICKLE:
            if (x) {
                const ProtobufCBinaryData *bl = &m->blobs[d->b];
                x->u.s.data = malloc(bl->len + 1);
                if (!x->u.s.data) {
                    value_node_free(x);
                    goto nomem;
                }
                if (bl->len)
                    memcpy(x->u.s.data, bl->data, bl->len);
                x->u.s.data[bl->len] = '\0';
                x->u.s.len = bl->len;
            }
            d->b++;
            break;
        case PP_HANDLE:
            if (x && !(x->u.h = handle_rec_from_msg(m->handles[d->h]))) {
                value_node_free(x);
                goto nomem;
            }
            d->h++;
            break;
        case PP_LIST:
        case PP_TUPLE:
        case PP_MAP:
            d->c++;
            if (x && slots && value_reserve(x, slots / (kind == PP_MAP ? 2 : 1)) != PP_OK) {
                value_node_free(x);
                goto nomem;
            }
            break;
        }

        if (top > 0) {
            if (x)
                attach(st[top - 1].c, st[top - 1].filled, x);
            st[top - 1].filled++;
        } else {
            root = x;
        }
        if (slots > 0) {
            st[top].c = x;
            st[top].filled = 0;
            st[top].n = slots;
            top++;
        }
        while (top > 0 && st[top - 1].filled == st[top - 1].n)
            top--;
        if (top == 0)
            break;
    }
    if (out)
        *out = root;
    else
        pp_value_free(root);
    return PP_OK;

nomem:
    err = PP_ENOMEM;
fail:
    pp_value_free(root);
    return err;
}

pp_status codec_dec_next(codec_dec *d, pp_value **out)
{
    /* The common case of map results: a top-level INT, without the walk. */
    const Polypool__V1__Values *m = d->msg;
    if (m && d->k < m->n_kinds && (int)m->kinds[d->k] == PP_INT && d->i < m->n_ints) {
        d->k++;
        pp_value *x = dec_node(d, PP_INT);
        if (!x)
            return PP_ENOMEM;
        x->u.i = m->ints[d->i++];
        *out = x;
        return PP_OK;
    }
    pp_value *v = NULL;
    pp_status st = dec_tree(d, true, &v);
    if (st == PP_OK)
        *out = v;
    return st;
}

pp_status codec_dec_skip(codec_dec *d)
{
    return dec_tree(d, false, NULL);
}

pp_status codec_count(const Polypool__V1__Values *msg, size_t *n)
{
    codec_dec d;
    codec_dec_init(&d, msg);
    size_t count = 0;
    pp_status st;
    while ((st = dec_tree(&d, false, NULL)) == PP_OK)
        count++;
    if (st != PP_EEOF)
        return st;
    if (n)
        *n = count;
    return PP_OK;
}
