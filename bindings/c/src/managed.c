/* managed.c - Manager dicts and lists hosted by the daemon (ObjOp). Each
 * key and value crosses as one packed Values (pack_value), which the
 * daemon keeps as it is. */
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
