/* managed.c - Manager dicts, lists and namespaces hosted by the daemon
 * (ObjOp). Each key and value crosses as one packed Values (pack_value),
 * which the daemon keeps as it is. A namespace is a dict whose keys are
 * attribute names (STRING values, as a Python Namespace sends them). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pp_status fail(pp_status st, const char *msg)
{
    error_set(st, "%s", msg);
    return st;
}

pp_status managed_new(pp_client *c, uint32_t type, uint64_t attach_id, uint64_t *id)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjCreate cr = POLYPOOL__V1__OBJ_CREATE__INIT;
    Polypool__V1__ObjAttach at = POLYPOOL__V1__OBJ_ATTACH__INIT;
    if (type) {
        cr.type = type;
        req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_CREATE;
        req.obj_create = &cr;
    } else {
        at.id = attach_id;
        req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_ATTACH;
        req.obj_attach = &at;
    }
    Polypool__V1__Reply *r;
    pp_status st = client_rpc(c, &req, -1, &r);
    if (st != PP_OK)
        return st;
    if (r->result_case != POLYPOOL__V1__REPLY__RESULT_OBJECT || !r->object->id)
        st = fail(PP_EPROTO, "the daemon's reply names no object");
    else
        *id = r->object->id;
    client_reply_free(r);
    return st;
}

void managed_release(pp_client *c, uint64_t id)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjRelease rel = POLYPOOL__V1__OBJ_RELEASE__INIT;
    rel.id = id;
    req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_RELEASE;
    req.obj_release = &rel;
    client_rpc(c, &req, 5000, NULL);
}

pp_status managed_op(pp_client *c, uint64_t id, int op, const pp_value *const *args,
                     size_t nargs, int64_t index, int64_t stop, pp_value ***results,
                     size_t *n_results, int64_t *value)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjOp o = POLYPOOL__V1__OBJ_OP__INIT;
    ProtobufCBinaryData *blobs = nargs ? calloc(nargs, sizeof *blobs) : NULL;
    pp_status st = PP_OK;
    if (nargs && !blobs)
        return fail(PP_ENOMEM, "out of memory");
    for (size_t i = 0; i < nargs && st == PP_OK; i++) {
        struct packed p;
        if ((st = pack_value(args[i], &p)) == PP_OK) {
            blobs[i].data = p.data;
            blobs[i].len = p.len;
        }
    }
    Polypool__V1__Reply *r = NULL;
    if (st == PP_OK) {
        o.id = id;
        o.op = (Polypool__V1__ObjOpKind)op;
        o.n_args = nargs;
        o.args = blobs;
        o.index = index;
        o.stop = stop;
        req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_OP;
        req.obj_op = &o;
        st = client_rpc(c, &req, -1, &r);
    }
    for (size_t i = 0; i < nargs; i++)
        free(blobs[i].data);
    free(blobs);
    if (st != PP_OK)
        return st;
    const Polypool__V1__ObjResult *res =
        r->result_case == POLYPOOL__V1__REPLY__RESULT_OBJ_RESULT ? r->obj_result : NULL;
    if (!res) {
        client_reply_free(r);
        return fail(PP_EPROTO, "the daemon's reply has no result");
    }
    if (value)
        *value = res->value;
    if (results) {
        pp_value **vals = calloc(res->n_results + 1, sizeof *vals);
        if (!vals)
            st = fail(PP_ENOMEM, "out of memory");
        for (size_t i = 0; st == PP_OK && i < res->n_results; i++)
            st = unpack_value(res->results[i].data, res->results[i].len, &vals[i]);
        if (st != PP_OK) {
            for (size_t i = 0; vals && i < res->n_results; i++)
                pp_value_free(vals[i]);
            free(vals);
        } else {
            *results = vals;
            *n_results = res->n_results;
        }
    }
    client_reply_free(r);
    return st;
}

/* ---- the public dict and list ------------------------------------------------ */

struct pp_dict {
    pp_client *c;
    uint64_t id;
    uint32_t type;
};

struct pp_list {
    pp_client *c;
    uint64_t id;
};

static void free_results(pp_value **vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pp_value_free(vals[i]);
    free(vals);
}

/* An op whose one result (if any) goes to *out. */
static pp_status op1(pp_client *c, uint64_t id, int op, const pp_value *const *args,
                     size_t nargs, int64_t index, pp_value **out, const char *missing)
{
    pp_value **vals = NULL;
    size_t n = 0;
    pp_status st = managed_op(c, id, op, args, nargs, index, 0, out ? &vals : NULL, &n, NULL);
    if (st == PP_ENOENT && missing)
        return fail(PP_ENOENT, missing);
    if (st != PP_OK)
        return st;
    if (out) {
        if (n != 1) {
            free_results(vals, n);
            return fail(PP_EPROTO, "the daemon's reply has the wrong number of results");
        }
        *out = vals[0];
        free(vals);
    }
    return PP_OK;
}

pp_status pp_dict_create(pp_client *c, pp_dict **out)
{
    if (!c || !out)
        return fail(PP_EINVAL, "pp_dict_create: NULL argument");
    pp_dict *d = calloc(1, sizeof *d);
    if (!d)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = managed_new(c, PP_H_DICT, 0, &d->id);
    if (st != PP_OK) {
        free(d);
        return st;
    }
    d->c = c;
    d->type = PP_H_DICT;
    *out = d;
    return PP_OK;
}

pp_status pp_dict_get(pp_dict *d, const pp_value *key, pp_value **val)
{
    if (!d || !val)
        return fail(PP_EINVAL, "pp_dict_get: NULL argument");
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, &key, 1, 0, val, "no such key");
}

pp_status pp_dict_set(pp_dict *d, const pp_value *key, const pp_value *val)
{
    if (!d)
        return fail(PP_EINVAL, "pp_dict_set: NULL dict");
    const pp_value *kv[2] = { key, val };
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, kv, 2, 0, NULL, NULL);
}

pp_status pp_dict_del(pp_dict *d, const pp_value *key)
{
    if (!d)
        return fail(PP_EINVAL, "pp_dict_del: NULL dict");
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL, &key, 1, 0, NULL, "no such key");
}

static pp_status len_of(pp_client *c, uint64_t id, size_t *n)
{
    int64_t v = 0;
    pp_status st = managed_op(c, id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN, NULL, 0, 0, 0, NULL,
                              NULL, &v);
    if (st == PP_OK)
        *n = (size_t)v;
    return st;
}

pp_status pp_dict_len(pp_dict *d, size_t *n)
{
    if (!d || !n)
        return fail(PP_EINVAL, "pp_dict_len: NULL argument");
    return len_of(d->c, d->id, n);
}

pp_status pp_dict_items(pp_dict *d, pp_value **map)
{
    if (!d || !map)
        return fail(PP_EINVAL, "pp_dict_items: NULL argument");
    pp_value **vals = NULL;
    size_t n = 0;
    pp_status st = managed_op(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_ITEMS, NULL, 0, 0, 0,
                              &vals, &n, NULL);
    if (st != PP_OK)
        return st;
    /* The daemon's keys are distinct: the pairs go in as they are, in one
     * pass (pp_value_map_set would search the map for each key, and would
     * merge a list key into an equal tuple key). */
    pp_value *m = pp_value_map();
    if (m && value_reserve(m, n / 2) != PP_OK) {
        pp_value_free(m);
        m = NULL;
    }
    for (size_t i = 0; m && i + 1 < n; i += 2) {
        m->u.c.items[2 * m->u.c.len] = vals[i];
        m->u.c.items[2 * m->u.c.len + 1] = vals[i + 1];
        m->u.c.len++;
        vals[i] = vals[i + 1] = NULL;
    }
    free_results(vals, n);
    if (!m)
        return fail(PP_ENOMEM, "out of memory");
    *map = m;
    return PP_OK;
}

pp_status pp_dict_clear(pp_dict *d)
{
    if (!d)
        return fail(PP_EINVAL, "pp_dict_clear: NULL dict");
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_CLEAR, NULL, 0, 0, NULL, NULL);
}

void pp_dict_free(pp_dict *d)
{
    if (!d)
        return;
    managed_release(d->c, d->id);
    free(d);
}

static pp_value *object_value(uint32_t type, uint64_t id)
{
    struct handle_rec *h = handle_rec_new();
    if (!h)
        return NULL;
    h->type = type;
    h->id = id;
    return handle_value(h);
}

pp_value *pp_dict_to_value(const pp_dict *d)
{
    return d ? object_value(d->type, d->id) : NULL;
}

static pp_status object_from(pp_client *c, const pp_value *v, bool list, uint64_t *id,
                             uint32_t *type)
{
    if (!c || !v || v->kind != PP_HANDLE)
        return fail(PP_EINVAL, "needs a client and a managed object's handle");
    const struct handle_rec *h = v->u.h;
    bool ok = list ? h->type == PP_H_LIST : (h->type == PP_H_DICT || h->type == PP_H_NAMESPACE);
    if (!ok || !h->id)
        return fail(PP_EINVAL, list ? "not a managed list's handle" : "not a managed dict's handle");
    *type = h->type;
    return managed_new(c, 0, h->id, id);
}

pp_status pp_dict_from_value(pp_client *c, const pp_value *v, pp_dict **out)
{
    pp_dict *d = calloc(1, sizeof *d);
    if (!d)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = out ? object_from(c, v, false, &d->id, &d->type)
                       : fail(PP_EINVAL, "pp_dict_from_value: NULL argument");
    if (st != PP_OK) {
        free(d);
        return st;
    }
    d->c = c;
    *out = d;
    return PP_OK;
}

pp_status pp_list_create(pp_client *c, pp_list **out)
{
    if (!c || !out)
        return fail(PP_EINVAL, "pp_list_create: NULL argument");
    pp_list *l = calloc(1, sizeof *l);
    if (!l)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = managed_new(c, PP_H_LIST, 0, &l->id);
    if (st != PP_OK) {
        free(l);
        return st;
    }
    l->c = c;
    *out = l;
    return PP_OK;
}

pp_status pp_list_append(pp_list *l, const pp_value *val)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_append: NULL list");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND, &val, 1, 0, NULL, NULL);
}

pp_status pp_list_get(pp_list *l, int64_t index, pp_value **val)
{
    if (!l || !val)
        return fail(PP_EINVAL, "pp_list_get: NULL argument");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, NULL, 0, index, val,
               "list index out of range");
}

pp_status pp_list_set(pp_list *l, int64_t index, const pp_value *val)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_set: NULL list");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, &val, 1, index, NULL,
               "list index out of range");
}

pp_status pp_list_insert(pp_list *l, int64_t index, const pp_value *val)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_insert: NULL list");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INSERT, &val, 1, index, NULL, NULL);
}

pp_status pp_list_pop(pp_list *l, int64_t index, pp_value **val)
{
    if (!l || !val)
        return fail(PP_EINVAL, "pp_list_pop: NULL argument");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POP, NULL, 0, index, val,
               "pop index out of range");
}

pp_status pp_list_len(pp_list *l, size_t *n)
{
    if (!l || !n)
        return fail(PP_EINVAL, "pp_list_len: NULL argument");
    return len_of(l->c, l->id, n);
}

pp_status pp_list_items(pp_list *l, pp_value **list)
{
    if (!l || !list)
        return fail(PP_EINVAL, "pp_list_items: NULL argument");
    pp_value **vals = NULL;
    size_t n = 0;
    pp_status st = managed_op(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET_SLICE, NULL, 0, 0,
                              INT64_MAX, &vals, &n, NULL);
    if (st != PP_OK)
        return st;
    pp_value *out = pp_value_list();
    for (size_t i = 0; out && i < n; i++) {
        if (pp_value_append(out, vals[i]) != PP_OK) {
            pp_value_free(out);
            out = NULL;
            break;
        }
        vals[i] = NULL;
    }
    free_results(vals, n);
    if (!out)
        return fail(PP_ENOMEM, "out of memory");
    *list = out;
    return PP_OK;
}

pp_status pp_list_clear(pp_list *l)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_clear: NULL list");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_CLEAR, NULL, 0, 0, NULL, NULL);
}

void pp_list_free(pp_list *l)
{
    if (!l)
        return;
    managed_release(l->c, l->id);
    free(l);
}

pp_value *pp_list_to_value(const pp_list *l)
{
    return l ? object_value(PP_H_LIST, l->id) : NULL;
}

pp_status pp_list_from_value(pp_client *c, const pp_value *v, pp_list **out)
{
    pp_list *l = calloc(1, sizeof *l);
    uint32_t type;
    if (!l)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = out ? object_from(c, v, true, &l->id, &type)
                       : fail(PP_EINVAL, "pp_list_from_value: NULL argument");
    if (st != PP_OK) {
        free(l);
        return st;
    }
    l->c = c;
    *out = l;
    return PP_OK;
}

/* ---- more of the dict and the list ------------------------------------------- */

/* A LIST of the n values (taken over; vals is freed in every case). */
static pp_status list_of_results(pp_value **vals, size_t n, pp_value **out)
{
    pp_value *l = pp_value_list();
    if (l && value_reserve(l, n) != PP_OK) {
        pp_value_free(l);
        l = NULL;
    }
    for (size_t i = 0; l && i < n; i++) {
        l->u.c.items[l->u.c.len++] = vals[i];
        vals[i] = NULL;
    }
    free_results(vals, n);
    if (!l)
        return fail(PP_ENOMEM, "out of memory");
    *out = l;
    return PP_OK;
}

/* An op whose results all go, as a LIST, to *out. */
static pp_status op_list(pp_client *c, uint64_t id, int op, const pp_value *const *args,
                         size_t nargs, int64_t index, int64_t stop, pp_value **out)
{
    pp_value **vals = NULL;
    size_t n = 0;
    pp_status st = managed_op(c, id, op, args, nargs, index, stop, &vals, &n, NULL);
    if (st != PP_OK)
        return st;
    return list_of_results(vals, n, out);
}

/* An op whose answer is the reply's value. */
static pp_status op_value(pp_client *c, uint64_t id, int op, const pp_value *const *args,
                          size_t nargs, int64_t index, int64_t *value, const char *missing)
{
    pp_status st = managed_op(c, id, op, args, nargs, index, 0, NULL, NULL, value);
    if (st == PP_ENOENT && missing)
        return fail(PP_ENOENT, missing);
    return st;
}

/* The items of a LIST or TUPLE as an argument vector (borrowed). */
static pp_status items_of(const pp_value *items, const char *fn, const pp_value *const **args,
                          size_t *n)
{
    if (!items || (items->kind != PP_LIST && items->kind != PP_TUPLE)) {
        error_set(PP_EINVAL, "%s: want a list of items", fn);
        return PP_EINVAL;
    }
    *args = (const pp_value *const *)items->u.c.items;
    *n = items->u.c.len;
    return PP_OK;
}

pp_status pp_dict_contains(pp_dict *d, const pp_value *key, bool *found)
{
    if (!d || !found)
        return fail(PP_EINVAL, "pp_dict_contains: NULL argument");
    int64_t v = 0;
    pp_status st = op_value(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_CONTAINS, &key, 1, 0, &v,
                            NULL);
    if (st == PP_OK)
        *found = v != 0;
    return st;
}

pp_status pp_dict_keys(pp_dict *d, pp_value **list)
{
    if (!d || !list)
        return fail(PP_EINVAL, "pp_dict_keys: NULL argument");
    return op_list(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_KEYS, NULL, 0, 0, 0, list);
}

pp_status pp_dict_values(pp_dict *d, pp_value **list)
{
    if (!d || !list)
        return fail(PP_EINVAL, "pp_dict_values: NULL argument");
    return op_list(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_VALUES, NULL, 0, 0, 0, list);
}

pp_status pp_dict_pop(pp_dict *d, const pp_value *key, pp_value **val)
{
    if (!d || !val)
        return fail(PP_EINVAL, "pp_dict_pop: NULL argument");
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POP, &key, 1, 0, val, "no such key");
}

pp_status pp_dict_popitem(pp_dict *d, pp_value **key, pp_value **val)
{
    if (!d || !key || !val)
        return fail(PP_EINVAL, "pp_dict_popitem: NULL argument");
    pp_value **vals = NULL;
    size_t n = 0;
    pp_status st = managed_op(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM, NULL, 0, 0, 0,
                              &vals, &n, NULL);
    if (st == PP_ENOENT)
        return fail(PP_ENOENT, "popitem(): the dict is empty");
    if (st != PP_OK)
        return st;
    if (n != 2) {
        free_results(vals, n);
        return fail(PP_EPROTO, "the daemon's reply has the wrong number of results");
    }
    *key = vals[0];
    *val = vals[1];
    free(vals);
    return PP_OK;
}

pp_status pp_dict_setdefault(pp_dict *d, const pp_value *key, const pp_value *dflt,
                             pp_value **val)
{
    if (!d || !val)
        return fail(PP_EINVAL, "pp_dict_setdefault: NULL argument");
    const pp_value *kv[2] = { key, dflt };
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SETDEFAULT, kv, 2, 0, val, NULL);
}

pp_status pp_dict_update(pp_dict *d, const pp_value *pairs)
{
    if (!d || !pairs || pairs->kind != PP_MAP)
        return fail(PP_EINVAL, "pp_dict_update: want a dict and a map");
    /* A map's items are key, value, key, value...: the op's arguments. */
    return op1(d->c, d->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_UPDATE,
               (const pp_value *const *)pairs->u.c.items, 2 * pairs->u.c.len, 0, NULL, NULL);
}

pp_status pp_list_extend(pp_list *l, const pp_value *items)
{
    const pp_value *const *args;
    size_t n;
    if (!l)
        return fail(PP_EINVAL, "pp_list_extend: NULL list");
    pp_status st = items_of(items, "pp_list_extend", &args, &n);
    if (st != PP_OK || n == 0)
        return st;
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND, args, n, 0, NULL, NULL);
}

pp_status pp_list_del(pp_list *l, int64_t index)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_del: NULL list");
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL, NULL, 0, index, NULL,
               "list index out of range");
}

pp_status pp_list_remove(pp_list *l, const pp_value *val)
{
    if (!l)
        return fail(PP_EINVAL, "pp_list_remove: NULL list");
    return op_value(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_REMOVE, &val, 1, 0, NULL,
                    "the value is not in the list");
}

pp_status pp_list_index(pp_list *l, const pp_value *val, int64_t start, int64_t stop,
                        size_t *index)
{
    if (!l || !index)
        return fail(PP_EINVAL, "pp_list_index: NULL argument");
    int64_t i = 0;
    pp_status st = op_value(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX, &val, 1, start, &i,
                            "the value is not in the list");
    if (st != PP_OK)
        return st;
    /* The daemon searches from start to the end; a stop is checked here,
     * against the length for a negative one (slice rules). */
    if (stop < 0) {
        size_t n;
        if ((st = len_of(l->c, l->id, &n)) != PP_OK)
            return st;
        stop = stop + (int64_t)n < 0 ? 0 : stop + (int64_t)n;
    }
    if (i >= stop)
        return fail(PP_ENOENT, "the value is not in the list");
    *index = (size_t)i;
    return PP_OK;
}

pp_status pp_list_count(pp_list *l, const pp_value *val, size_t *n)
{
    if (!l || !n)
        return fail(PP_EINVAL, "pp_list_count: NULL argument");
    int64_t v = 0;
    pp_status st = op_value(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_COUNT, &val, 1, 0, &v,
                            NULL);
    if (st == PP_OK)
        *n = (size_t)v;
    return st;
}

pp_status pp_list_contains(pp_list *l, const pp_value *val, bool *found)
{
    if (!l || !found)
        return fail(PP_EINVAL, "pp_list_contains: NULL argument");
    int64_t v = 0;
    pp_status st = op_value(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_CONTAINS, &val, 1, 0, &v,
                            NULL);
    if (st == PP_OK)
        *found = v != 0;
    return st;
}

pp_status pp_list_slice(pp_list *l, int64_t start, int64_t stop, pp_value **list)
{
    if (!l || !list)
        return fail(PP_EINVAL, "pp_list_slice: NULL argument");
    return op_list(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET_SLICE, NULL, 0, start, stop,
                   list);
}

pp_status pp_list_set_all(pp_list *l, const pp_value *items)
{
    const pp_value *const *args;
    size_t n;
    if (!l)
        return fail(PP_EINVAL, "pp_list_set_all: NULL list");
    pp_status st = items_of(items, "pp_list_set_all", &args, &n);
    if (st != PP_OK)
        return st;
    return op1(l->c, l->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET_ALL, args, n, 0, NULL, NULL);
}

pp_status pp_list_reverse(pp_list *l)
{
    pp_value *items = NULL;
    pp_status st = pp_list_items(l, &items);
    if (st != PP_OK)
        return st;
    pp_value **v = items->u.c.items;
    for (size_t i = 0, j = items->u.c.len; i + 1 < j; i++, j--) {
        pp_value *t = v[i];
        v[i] = v[j - 1];
        v[j - 1] = t;
    }
    st = pp_list_set_all(l, items);
    pp_value_free(items);
    return st;
}

/* ---- sorting ------------------------------------------------------------------ */

static int kind_rank(pp_kind k)
{
    switch (k) {
    case PP_BOOL:
    case PP_INT:
    case PP_DOUBLE:
        return 1;
    case PP_STRING:
        return 2;
    case PP_BYTES:
        return 3;
    case PP_LIST:
        return 4;
    case PP_TUPLE:
        return 5;
    default:
        return 0;
    }
}

static double num_of(const pp_value *v)
{
    return v->kind == PP_DOUBLE ? v->u.d : v->kind == PP_BOOL ? (double)v->u.b : (double)v->u.i;
}

/* Python's order of two values; *bad when they do not compare. */
static int default_order(const pp_value *a, const pp_value *b, bool *bad)
{
    int ra = kind_rank(a->kind), rb = kind_rank(b->kind);
    if (!ra || ra != rb) {
        *bad = true;
        return 0;
    }
    switch (ra) {
    case 1:
        if (a->kind != PP_DOUBLE && b->kind != PP_DOUBLE) {
            int64_t x = a->kind == PP_BOOL ? a->u.b : a->u.i;
            int64_t y = b->kind == PP_BOOL ? b->u.b : b->u.i;
            return (x > y) - (x < y);
        }
        return (num_of(a) > num_of(b)) - (num_of(a) < num_of(b));
    case 2:
    case 3: {
        size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int r = memcmp(a->u.s.data, b->u.s.data, n);
        if (r)
            return r < 0 ? -1 : 1;
        return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
    }
    default: {
        size_t n = a->u.c.len < b->u.c.len ? a->u.c.len : b->u.c.len;
        for (size_t i = 0; i < n; i++) {
            const pp_value *x = a->u.c.items[i], *y = b->u.c.items[i];
            /* As Python: the first unequal items decide. */
            if (pp_value_equal(x, y))
                continue;
            return default_order(x, y, bad);
        }
        return (a->u.c.len > b->u.c.len) - (a->u.c.len < b->u.c.len);
    }
    }
}

struct sorter {
    int (*cmp)(const pp_value *a, const pp_value *b);
    bool reverse;
    bool bad;
};

/* Whether b goes before a (a stays first on a tie, which keeps the sort
 * stable either way round). */
static bool before(struct sorter *s, const pp_value *b, const pp_value *a)
{
    int r = s->cmp ? s->cmp(b, a) : default_order(b, a, &s->bad);
    return s->reverse ? r > 0 : r < 0;
}

/* A merge sort of v[0..n) using tmp (n slots). */
static void merge_sort(struct sorter *s, pp_value **v, pp_value **tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(s, v, tmp, h);
    merge_sort(s, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = before(s, v[j], v[i]) ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

pp_status pp_list_sort(pp_list *l, int (*cmp)(const pp_value *a, const pp_value *b),
                       bool reverse)
{
    pp_value *items = NULL;
    pp_status st = pp_list_items(l, &items);
    if (st != PP_OK)
        return st;
    size_t n = items->u.c.len;
    pp_value **tmp = n ? malloc(n * sizeof *tmp) : NULL;
    if (n && !tmp) {
        pp_value_free(items);
        return fail(PP_ENOMEM, "out of memory");
    }
    struct sorter s = { cmp, reverse, false };
    merge_sort(&s, items->u.c.items, tmp, n);
    free(tmp);
    st = s.bad ? fail(PP_EINVAL, "the list's items do not compare (as Python's TypeError)")
               : pp_list_set_all(l, items);
    pp_value_free(items);
    return st;
}

/* ---- namespaces ----------------------------------------------------------------- */

struct pp_namespace {
    pp_client *c;
    uint64_t id;
};

/* A Python Namespace keeps names starting with '_' in the proxy. */
static pp_status attr_name(const char *name, const char *fn, pp_value **out)
{
    if (!name || !*name || name[0] == '_') {
        error_set(PP_EINVAL, "%s: %s", fn, !name || !*name ? "no attribute name"
                  : "names starting with '_' are not shared (Python keeps them in the proxy)");
        return PP_EINVAL;
    }
    if (!(*out = pp_value_string(name)))
        return fail(PP_ENOMEM, "out of memory");
    return PP_OK;
}

pp_status pp_namespace_create(pp_client *c, pp_namespace **out)
{
    if (!c || !out)
        return fail(PP_EINVAL, "pp_namespace_create: NULL argument");
    pp_namespace *ns = calloc(1, sizeof *ns);
    if (!ns)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = managed_new(c, PP_H_NAMESPACE, 0, &ns->id);
    if (st != PP_OK) {
        free(ns);
        return st;
    }
    ns->c = c;
    *out = ns;
    return PP_OK;
}

pp_status pp_namespace_get(pp_namespace *ns, const char *name, pp_value **val)
{
    pp_value *k = NULL;
    if (!ns || !val)
        return fail(PP_EINVAL, "pp_namespace_get: NULL argument");
    pp_status st = attr_name(name, "pp_namespace_get", &k);
    if (st == PP_OK)
        st = op1(ns->c, ns->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, (const pp_value *const *)&k,
                 1, 0, val, "no such attribute");
    pp_value_free(k);
    return st;
}

pp_status pp_namespace_set(pp_namespace *ns, const char *name, const pp_value *val)
{
    pp_value *k = NULL;
    if (!ns)
        return fail(PP_EINVAL, "pp_namespace_set: NULL namespace");
    pp_status st = attr_name(name, "pp_namespace_set", &k);
    if (st == PP_OK) {
        const pp_value *kv[2] = { k, val };
        st = op1(ns->c, ns->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, kv, 2, 0, NULL, NULL);
    }
    pp_value_free(k);
    return st;
}

pp_status pp_namespace_del(pp_namespace *ns, const char *name)
{
    pp_value *k = NULL;
    if (!ns)
        return fail(PP_EINVAL, "pp_namespace_del: NULL namespace");
    pp_status st = attr_name(name, "pp_namespace_del", &k);
    if (st == PP_OK)
        st = op1(ns->c, ns->id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL, (const pp_value *const *)&k,
                 1, 0, NULL, "no such attribute");
    pp_value_free(k);
    return st;
}

pp_status pp_namespace_items(pp_namespace *ns, pp_value **map)
{
    if (!ns || !map)
        return fail(PP_EINVAL, "pp_namespace_items: NULL argument");
    /* The same operation as a dict's items. */
    pp_dict d = { ns->c, ns->id, PP_H_NAMESPACE };
    return pp_dict_items(&d, map);
}

void pp_namespace_free(pp_namespace *ns)
{
    if (!ns)
        return;
    managed_release(ns->c, ns->id);
    free(ns);
}

pp_value *pp_namespace_to_value(const pp_namespace *ns)
{
    return ns ? object_value(PP_H_NAMESPACE, ns->id) : NULL;
}

pp_status pp_namespace_from_value(pp_client *c, const pp_value *v, pp_namespace **out)
{
    if (!c || !out || !v || v->kind != PP_HANDLE || v->u.h->type != PP_H_NAMESPACE || !v->u.h->id)
        return fail(PP_EINVAL, "pp_namespace_from_value: needs a client and a Namespace's handle");
    pp_namespace *ns = calloc(1, sizeof *ns);
    if (!ns)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = managed_new(c, 0, v->u.h->id, &ns->id);
    if (st != PP_OK) {
        free(ns);
        return st;
    }
    ns->c = c;
    *out = ns;
    return PP_OK;
}
