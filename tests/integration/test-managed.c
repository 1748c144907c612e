/* test-managed.c - managed objects (polypool.h "Managed objects": pp_dict_*,
 * pp_list_*, pp_namespace_*): every call and status, two clients on one object, the same
 * object from a Python task (a pool runs tests/python/mgrtasks.py with
 * pp_func_py), and the daemon's reference counts (ObjCreate, ObjAttach,
 * ObjRelease, a session's end) seen from raw protocol peers.
 *
 * The Python task needs the build tree's package (<build>/bindings/python,
 * the build dir derived from $POLYPOOL_DAEMON = <build>/runtime/polypoold,
 * or $POLYPOOL_DAEMON_REAL under scripts/valgrind-daemon.sh)
 * and tests/python (derived from this file's path, which meson gives
 * relative to the build dir).
 */
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "harness.h"

static it_daemon D;

static void setup(void)
{
    it_daemon_start(&D, NULL);
}

static void teardown(void)
{
    it_daemon_stop(&D);
}

/* ---- helpers --------------------------------------------------------- */

#define S(s) pp_value_string(s)
#define I(i) pp_value_int(i)

static void assert_repr(const pp_value *v, const char *want)
{
    char *r = pp_value_repr(v);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(strcmp(r, want) == 0, "got %s, want %s", r, want);
    free(r);
}

/* pp_dict_set(d, k, v) == want; frees k and v. */
static void dset(pp_dict *d, pp_value *k, pp_value *v, pp_status want)
{
    pp_status st = pp_dict_set(d, k, v);
    pp_value_free(k);
    pp_value_free(v);
    it_assert_status(st, want);
}

/* pp_dict_get(d, k) == want; frees k; the value (NULL unless PP_OK). */
static pp_value *dget(pp_dict *d, pp_value *k, pp_status want)
{
    pp_value *v = NULL;
    pp_status st = pp_dict_get(d, k, &v);
    pp_value_free(k);
    it_assert_status(st, want);
    if (st != PP_OK)
        ck_assert_ptr_null(v);
    return v;
}

/* d[k] has the repr want; frees k. */
static void dget_is(pp_dict *d, pp_value *k, const char *want)
{
    pp_value *v = dget(d, k, PP_OK);
    assert_repr(v, want);
    pp_value_free(v);
}

static void ddel(pp_dict *d, pp_value *k, pp_status want)
{
    pp_status st = pp_dict_del(d, k);
    pp_value_free(k);
    it_assert_status(st, want);
}

static size_t dlen(pp_dict *d)
{
    size_t n = 12345;
    it_assert_status(pp_dict_len(d, &n), PP_OK);
    return n;
}

static void ditems_are(pp_dict *d, const char *want)
{
    pp_value *m = NULL;
    it_assert_status(pp_dict_items(d, &m), PP_OK);
    ck_assert_int_eq(pp_value_kind(m), PP_MAP);
    assert_repr(m, want);
    pp_value_free(m);
}

static void lappend(pp_list *l, pp_value *v)
{
    pp_status st = pp_list_append(l, v);
    pp_value_free(v);
    it_assert_status(st, PP_OK);
}

static void lget_is(pp_list *l, int64_t i, const char *want)
{
    pp_value *v = NULL;
    it_assert_status(pp_list_get(l, i, &v), PP_OK);
    assert_repr(v, want);
    pp_value_free(v);
}

static size_t llen(pp_list *l)
{
    size_t n = 12345;
    it_assert_status(pp_list_len(l, &n), PP_OK);
    return n;
}

static void litems_are(pp_list *l, const char *want)
{
    pp_value *v = NULL;
    it_assert_status(pp_list_items(l, &v), PP_OK);
    ck_assert_int_eq(pp_value_kind(v), PP_LIST);
    assert_repr(v, want);
    pp_value_free(v);
}

static void assert_error_says(const char *part)
{
    ck_assert_msg(strstr(pp_last_error()->message, part), "error %s lacks %s",
                  pp_last_error()->message, part);
}

/* A LIST of the given values (consumed; NULL ends). */
static pp_value *list_of(pp_value *a, pp_value *b, pp_value *c)
{
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    pp_value *items[] = { a, b, c };
    for (size_t i = 0; i < 3 && items[i]; i++)
        it_assert_status(pp_value_append(l, items[i]), PP_OK);
    return l;
}

/* ---- dicts ----------------------------------------------------------- */

START_TEST(dict_basics)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(dlen(d), 0);
    ditems_are(d, "{}");

    dset(d, S("a"), I(1), PP_OK);
    dset(d, S("b"), S("two"), PP_OK);
    ck_assert_uint_eq(dlen(d), 2);
    dget_is(d, S("a"), "1");
    dget_is(d, S("b"), "'two'");
    /* Replacing keeps the key's place. */
    dset(d, S("a"), I(10), PP_OK);
    ck_assert_uint_eq(dlen(d), 2);
    ditems_are(d, "{'a': 10, 'b': 'two'}");

    /* A get is a copy: changing it changes nothing in the dict. */
    pp_value *v = dget(d, S("a"), PP_OK);
    it_assert_status(pp_value_set_int(v, 99), PP_OK);
    pp_value_free(v);
    dget_is(d, S("a"), "10");

    ddel(d, S("a"), PP_OK);
    ck_assert_uint_eq(dlen(d), 1);
    ditems_are(d, "{'b': 'two'}");

    it_assert_status(pp_dict_clear(d), PP_OK);
    ck_assert_uint_eq(dlen(d), 0);
    ditems_are(d, "{}");
    it_assert_status(pp_dict_clear(d), PP_OK);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

START_TEST(dict_missing_keys)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    pp_value *v = (pp_value *)0x1;   /* out-parameters are written only on PP_OK */
    pp_value *k = S("nope");
    it_assert_status(pp_dict_get(d, k, &v), PP_ENOENT);
    ck_assert_ptr_eq(v, (pp_value *)0x1);
    assert_error_says("no such key");
    it_assert_status(pp_dict_del(d, k), PP_ENOENT);
    assert_error_says("no such key");
    pp_value_free(k);
    dset(d, S("k"), I(1), PP_OK);
    ddel(d, S("k"), PP_OK);
    ddel(d, S("k"), PP_ENOENT);
    (void)dget(d, S("k"), PP_ENOENT);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

/* Keys are equal when they encode alike: 1, 1.0 and true are three keys;
 * "a" and b"a" two; values of every kind come back as they went. */
START_TEST(dict_keys_and_values)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    dset(d, I(1), S("int"), PP_OK);
    dset(d, pp_value_double(1.0), S("double"), PP_OK);
    dset(d, pp_value_bool(true), S("bool"), PP_OK);
    dset(d, S("a"), S("str"), PP_OK);
    dset(d, pp_value_bytes("a", 1), S("bytes"), PP_OK);
    dset(d, pp_value_null(), S("none"), PP_OK);
    ck_assert_uint_eq(dlen(d), 6);
    dget_is(d, I(1), "'int'");
    dget_is(d, pp_value_double(1.0), "'double'");
    dget_is(d, pp_value_bool(true), "'bool'");
    dget_is(d, S("a"), "'str'");
    dget_is(d, pp_value_bytes("a", 1), "'bytes'");
    dget_is(d, pp_value_null(), "'none'");
    (void)dget(d, I(2), PP_ENOENT);

    /* A list key, a tuple key: equal contents, equal key. */
    dset(d, list_of(I(1), S("x"), NULL), I(7), PP_OK);
    dget_is(d, list_of(I(1), S("x"), NULL), "7");
    (void)dget(d, list_of(I(1), S("y"), NULL), PP_ENOENT);
    /* A tuple with the same items is another key; items keeps both. */
    pp_value *tk = pp_value_tuple();
    it_assert_status(pp_value_append(tk, I(1)), PP_OK);
    it_assert_status(pp_value_append(tk, S("x")), PP_OK);
    (void)dget(d, pp_value_copy(tk), PP_ENOENT);
    dset(d, tk, I(8), PP_OK);
    dget_is(d, list_of(I(1), S("x"), NULL), "7");
    ck_assert_uint_eq(dlen(d), 8);
    pp_value *items = NULL;
    it_assert_status(pp_dict_items(d, &items), PP_OK);
    ck_assert_uint_eq(pp_value_len(items), 8);
    assert_repr(pp_value_map_val_at(items, 6), "7");
    assert_repr(pp_value_map_val_at(items, 7), "8");
    ck_assert_int_eq(pp_value_kind(pp_value_map_key_at(items, 7)), PP_TUPLE);
    pp_value_free(items);

    /* Values of every kind. */
    pp_value *map = pp_value_map();
    it_assert_status(pp_value_map_set_str(map, "k", list_of(I(1), pp_value_double(2.5), NULL)),
                     PP_OK);
    pp_value *tuple = pp_value_tuple();
    it_assert_status(pp_value_append(tuple, I(3)), PP_OK);
    pp_value *vals[] = {
        pp_value_null(), pp_value_bool(false), I(INT64_MIN), pp_value_double(-0.25),
        S(""), S("text"), pp_value_bytes("\0\xff", 2), pp_value_pickle("\x80\x04N.", 4),
        list_of(I(1), list_of(I(2), NULL, NULL), NULL), map, tuple,
    };
    pp_value *vk = S("v");
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        it_assert_status(pp_dict_set(d, vk, vals[i]), PP_OK);
        pp_value *back = dget(d, S("v"), PP_OK);
        ck_assert_int_eq(pp_value_kind(back), pp_value_kind(vals[i]));
        ck_assert_msg(pp_value_equal(back, vals[i]), "value %zu changed", i);
        pp_value_free(back);
        pp_value_free(vals[i]);
    }
    pp_value_free(vk);
    /* A big value. */
    size_t big = 1 << 20;
    char *buf = malloc(big);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'x', big);
    pp_value *bv = pp_value_bytes(buf, big), *bk = S("big");
    it_assert_status(pp_dict_set(d, bk, bv), PP_OK);
    pp_value_free(bk);
    pp_value *back = dget(d, S("big"), PP_OK);
    ck_assert(pp_value_equal(back, bv));
    pp_value_free(back);
    pp_value_free(bv);
    free(buf);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

/* Many keys: items in insertion order, a replaced key keeps its place, a
 * deleted one leaves a gap. */
START_TEST(dict_many_keys)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    enum { N = 3000 };
    for (int i = 0; i < N; i++)
        dset(d, I(i), I(-i), PP_OK);
    dset(d, I(7), S("seven"), PP_OK);
    ddel(d, I(8), PP_OK);
    ck_assert_uint_eq(dlen(d), N - 1);
    pp_value *m = NULL;
    int64_t t0 = it_now_ms();
    it_assert_status(pp_dict_items(d, &m), PP_OK);
    ck_assert_msg(it_now_ms() - t0 < 2000, "pp_dict_items of %d keys took %lld ms", N,
                  (long long)(it_now_ms() - t0));
    ck_assert_uint_eq(pp_value_len(m), N - 1);
    for (size_t i = 0; i < N - 1; i++) {
        int64_t want = i < 8 ? (int64_t)i : (int64_t)i + 1;
        ck_assert_int_eq(pp_value_get_int(pp_value_map_key_at(m, i)), want);
        if (want != 7)
            ck_assert_int_eq(pp_value_get_int(pp_value_map_val_at(m, i)), -want);
    }
    assert_repr(pp_value_map_val_at(m, 7), "'seven'");
    pp_value_free(m);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

START_TEST(dict_null_arguments)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL, *out = (pp_dict *)0x1;
    pp_value *v = NULL;
    size_t n = 0;
    it_assert_status(pp_dict_create(NULL, &out), PP_EINVAL);
    ck_assert_ptr_eq(out, (pp_dict *)0x1);
    it_assert_status(pp_dict_create(c, NULL), PP_EINVAL);
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    pp_value *k = S("k");
    it_assert_status(pp_dict_get(NULL, k, &v), PP_EINVAL);
    it_assert_status(pp_dict_get(d, k, NULL), PP_EINVAL);
    it_assert_status(pp_dict_set(NULL, k, k), PP_EINVAL);
    it_assert_status(pp_dict_del(NULL, k), PP_EINVAL);
    it_assert_status(pp_dict_len(NULL, &n), PP_EINVAL);
    it_assert_status(pp_dict_len(d, NULL), PP_EINVAL);
    it_assert_status(pp_dict_items(NULL, &v), PP_EINVAL);
    it_assert_status(pp_dict_items(d, NULL), PP_EINVAL);
    it_assert_status(pp_dict_clear(NULL), PP_EINVAL);
    ck_assert_ptr_null(pp_dict_to_value(NULL));
    pp_dict_free(NULL);
    /* The dict is untouched. */
    ck_assert_uint_eq(dlen(d), 0);
    pp_value_free(k);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

/* to_value / from_value: a handle of type PP_H_DICT names the same dict;
 * each pp_dict holds its own reference. */
START_TEST(dict_handles)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL, *d2 = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    pp_value *h = pp_dict_to_value(d);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(pp_value_kind(h), PP_HANDLE);
    ck_assert_int_eq(pp_value_handle_type(h), PP_H_DICT);
    it_assert_status(pp_dict_from_value(c, h, &d2), PP_OK);
    dset(d2, S("via"), S("d2"), PP_OK);
    dget_is(d, S("via"), "'d2'");
    pp_value *h2 = pp_dict_to_value(d2);
    ck_assert(pp_value_equal(h, h2));
    pp_value_free(h2);
    /* A copy of the handle works as well as the handle. */
    pp_value *hc = pp_value_copy(h);
    pp_dict *d3 = NULL;
    it_assert_status(pp_dict_from_value(c, hc, &d3), PP_OK);
    pp_value_free(hc);
    pp_dict_free(d);
    pp_dict_free(d2);
    /* d3 still holds it. */
    dget_is(d3, S("via"), "'d2'");
    pp_dict_free(d3);
    /* Nobody holds it now: it is gone. */
    pp_dict *gone = (pp_dict *)0x1;
    it_assert_status(pp_dict_from_value(c, h, &gone), PP_ENOENT);
    ck_assert_ptr_eq(gone, (pp_dict *)0x1);
    pp_value_free(h);
    pp_client_close(c);
}
END_TEST

START_TEST(from_value_errors)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL, *dout = (pp_dict *)0x1;
    pp_list *l = NULL, *lout = (pp_list *)0x1;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    it_assert_status(pp_list_create(c, &l), PP_OK);
    pp_value *dh = pp_dict_to_value(d), *lh = pp_list_to_value(l);
    ck_assert_int_eq(pp_value_handle_type(lh), PP_H_LIST);

    /* A NULL client: the object is reached through the daemon. */
    it_assert_status(pp_dict_from_value(NULL, dh, &dout), PP_EINVAL);
    it_assert_status(pp_list_from_value(NULL, lh, &lout), PP_EINVAL);
    /* NULL value or out. */
    it_assert_status(pp_dict_from_value(c, NULL, &dout), PP_EINVAL);
    it_assert_status(pp_list_from_value(c, NULL, &lout), PP_EINVAL);
    it_assert_status(pp_dict_from_value(c, dh, NULL), PP_EINVAL);
    it_assert_status(pp_list_from_value(c, lh, NULL), PP_EINVAL);
    /* The wrong kind of handle, or no handle. */
    it_assert_status(pp_dict_from_value(c, lh, &dout), PP_EINVAL);
    assert_error_says("dict");
    it_assert_status(pp_list_from_value(c, dh, &lout), PP_EINVAL);
    assert_error_says("list");
    pp_sync *lock = NULL;
    it_assert_status(pp_lock_create(c, &lock), PP_OK);
    pp_value *lockh = pp_sync_to_value(lock);
    it_assert_status(pp_dict_from_value(c, lockh, &dout), PP_EINVAL);
    it_assert_status(pp_list_from_value(c, lockh, &lout), PP_EINVAL);
    pp_value *notah = S("not a handle");
    it_assert_status(pp_dict_from_value(c, notah, &dout), PP_EINVAL);
    it_assert_status(pp_list_from_value(c, notah, &lout), PP_EINVAL);
    ck_assert_ptr_eq(dout, (pp_dict *)0x1);
    ck_assert_ptr_eq(lout, (pp_list *)0x1);
    /* A primitive's from_value does not take a dict's handle either. */
    pp_sync *s = NULL;
    ck_assert_int_ne(pp_sync_from_value(c, dh, &s), PP_OK);
    pp_array *a = NULL;
    ck_assert_int_ne(pp_array_from_value(c, lh, &a), PP_OK);

    pp_value_free(notah);
    pp_value_free(lockh);
    pp_sync_free(lock);
    pp_value_free(dh);
    pp_value_free(lh);
    pp_dict_free(d);
    pp_list_free(l);
    pp_client_close(c);
}
END_TEST

/* ---- lists ----------------------------------------------------------- */

START_TEST(list_basics)
{
    pp_client *c = it_client(D.url);
    pp_list *l = NULL;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    ck_assert_uint_eq(llen(l), 0);
    litems_are(l, "[]");
    lappend(l, I(1));
    lappend(l, S("two"));
    lappend(l, list_of(I(3), NULL, NULL));
    ck_assert_uint_eq(llen(l), 3);
    lget_is(l, 0, "1");
    lget_is(l, 1, "'two'");
    lget_is(l, 2, "[3]");
    lget_is(l, -1, "[3]");
    lget_is(l, -3, "1");

    pp_value *v = S("TWO");
    it_assert_status(pp_list_set(l, 1, v), PP_OK);
    it_assert_status(pp_list_set(l, -1, v), PP_OK);
    pp_value_free(v);
    litems_are(l, "[1, 'TWO', 'TWO']");

    /* insert clamps as Python's list.insert. */
    v = I(0);
    it_assert_status(pp_list_insert(l, 0, v), PP_OK);
    pp_value_free(v);
    v = I(-100);
    it_assert_status(pp_list_insert(l, -100, v), PP_OK);
    pp_value_free(v);
    v = I(100);
    it_assert_status(pp_list_insert(l, 100, v), PP_OK);
    pp_value_free(v);
    v = S("before last");
    it_assert_status(pp_list_insert(l, -1, v), PP_OK);
    pp_value_free(v);
    litems_are(l, "[-100, 0, 1, 'TWO', 'TWO', 'before last', 100]");

    pp_value *p = NULL;
    it_assert_status(pp_list_pop(l, -1, &p), PP_OK);
    assert_repr(p, "100");
    pp_value_free(p);
    it_assert_status(pp_list_pop(l, 0, &p), PP_OK);
    assert_repr(p, "-100");
    pp_value_free(p);
    it_assert_status(pp_list_pop(l, 2, &p), PP_OK);
    assert_repr(p, "'TWO'");
    pp_value_free(p);
    litems_are(l, "[0, 1, 'TWO', 'before last']");
    ck_assert_uint_eq(llen(l), 4);

    it_assert_status(pp_list_clear(l), PP_OK);
    ck_assert_uint_eq(llen(l), 0);
    litems_are(l, "[]");
    pp_list_free(l);
    pp_client_close(c);
}
END_TEST

START_TEST(list_errors)
{
    pp_client *c = it_client(D.url);
    pp_list *l = NULL;
    pp_value *v = (pp_value *)0x1;
    size_t n;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    /* Empty: every index is out of range. */
    it_assert_status(pp_list_get(l, 0, &v), PP_ENOENT);
    assert_error_says("out of range");
    it_assert_status(pp_list_pop(l, -1, &v), PP_ENOENT);
    assert_error_says("out of range");
    ck_assert_ptr_eq(v, (pp_value *)0x1);
    pp_value *x = I(5);
    it_assert_status(pp_list_set(l, 0, x), PP_ENOENT);
    lappend(l, I(1));
    lappend(l, I(2));
    it_assert_status(pp_list_get(l, 2, &v), PP_ENOENT);
    it_assert_status(pp_list_get(l, -3, &v), PP_ENOENT);
    it_assert_status(pp_list_get(l, INT64_MAX, &v), PP_ENOENT);
    it_assert_status(pp_list_get(l, INT64_MIN, &v), PP_ENOENT);
    it_assert_status(pp_list_set(l, 2, x), PP_ENOENT);
    it_assert_status(pp_list_set(l, -3, x), PP_ENOENT);
    it_assert_status(pp_list_pop(l, 2, &v), PP_ENOENT);
    it_assert_status(pp_list_pop(l, -3, &v), PP_ENOENT);
    ck_assert_ptr_eq(v, (pp_value *)0x1);
    litems_are(l, "[1, 2]");

    /* NULL arguments. */
    pp_list *out = (pp_list *)0x1;
    it_assert_status(pp_list_create(NULL, &out), PP_EINVAL);
    it_assert_status(pp_list_create(c, NULL), PP_EINVAL);
    ck_assert_ptr_eq(out, (pp_list *)0x1);
    it_assert_status(pp_list_append(NULL, x), PP_EINVAL);
    it_assert_status(pp_list_get(NULL, 0, &v), PP_EINVAL);
    it_assert_status(pp_list_get(l, 0, NULL), PP_EINVAL);
    it_assert_status(pp_list_set(NULL, 0, x), PP_EINVAL);
    it_assert_status(pp_list_insert(NULL, 0, x), PP_EINVAL);
    it_assert_status(pp_list_pop(NULL, 0, &v), PP_EINVAL);
    it_assert_status(pp_list_pop(l, 0, NULL), PP_EINVAL);
    it_assert_status(pp_list_len(NULL, &n), PP_EINVAL);
    it_assert_status(pp_list_len(l, NULL), PP_EINVAL);
    it_assert_status(pp_list_items(NULL, &v), PP_EINVAL);
    it_assert_status(pp_list_items(l, NULL), PP_EINVAL);
    it_assert_status(pp_list_clear(NULL), PP_EINVAL);
    ck_assert_ptr_null(pp_list_to_value(NULL));
    pp_list_free(NULL);
    litems_are(l, "[1, 2]");
    pp_value_free(x);
    pp_list_free(l);
    pp_client_close(c);
}
END_TEST

START_TEST(list_handles)
{
    pp_client *c = it_client(D.url);
    pp_list *l = NULL, *l2 = NULL;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    pp_value *h = pp_list_to_value(l);
    it_assert_status(pp_list_from_value(c, h, &l2), PP_OK);
    lappend(l2, S("x"));
    lget_is(l, 0, "'x'");
    pp_list_free(l);
    lget_is(l2, -1, "'x'");
    pp_list_free(l2);
    it_assert_status(pp_list_from_value(c, h, &l2), PP_ENOENT);
    pp_value_free(h);
    pp_client_close(c);
}
END_TEST

/* ---- sharing ----------------------------------------------------------- */

/* Two clients (two daemon sessions) on one dict and one list. */
START_TEST(two_clients)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    pp_dict *da = NULL, *db = NULL;
    pp_list *la = NULL, *lb = NULL;
    it_assert_status(pp_dict_create(a, &da), PP_OK);
    it_assert_status(pp_list_create(a, &la), PP_OK);
    pp_value *dh = pp_dict_to_value(da), *lh = pp_list_to_value(la);
    it_assert_status(pp_dict_from_value(b, dh, &db), PP_OK);
    it_assert_status(pp_list_from_value(b, lh, &lb), PP_OK);

    dset(da, S("from"), S("a"), PP_OK);
    dget_is(db, S("from"), "'a'");
    dset(db, S("from"), S("b"), PP_OK);
    dset(db, I(2), I(4), PP_OK);
    dget_is(da, S("from"), "'b'");
    ck_assert_uint_eq(dlen(da), 2);
    ddel(da, I(2), PP_OK);
    (void)dget(db, I(2), PP_ENOENT);
    ditems_are(db, "{'from': 'b'}");

    lappend(la, I(1));
    lappend(lb, I(2));
    litems_are(la, "[1, 2]");
    pp_value *p = NULL;
    it_assert_status(pp_list_pop(la, 0, &p), PP_OK);
    pp_value_free(p);
    litems_are(lb, "[2]");

    /* a lets go (and closes): b's references keep both objects. */
    pp_dict_free(da);
    pp_list_free(la);
    pp_client_close(a);
    dget_is(db, S("from"), "'b'");
    lget_is(lb, 0, "2");
    /* A third client can still attach while b holds them. */
    pp_client *c3 = it_client(D.url);
    pp_dict *d3 = NULL;
    it_assert_status(pp_dict_from_value(c3, dh, &d3), PP_OK);
    dget_is(d3, S("from"), "'b'");
    pp_dict_free(d3);
    pp_dict_free(db);
    pp_list_free(lb);
    pp_list *l3 = NULL;
    it_assert_status(pp_dict_from_value(c3, dh, &d3), PP_ENOENT);
    it_assert_status(pp_list_from_value(c3, lh, &l3), PP_ENOENT);
    pp_value_free(dh);
    pp_value_free(lh);
    pp_client_close(b);
    pp_client_close(c3);
}
END_TEST

/* Concurrent updates from threads on two clients: each set is atomic. */
struct writer {
    pp_dict *d;
    int id;
    int n;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        pp_value *k = list_of(I(w->id), I(i), NULL);
        pp_value *v = I((int64_t)w->id * 1000 + i);
        pp_status st = pp_dict_set(w->d, k, v);
        pp_value_free(k);
        pp_value_free(v);
        if (st != PP_OK)
            return (void *)1;
    }
    return NULL;
}

START_TEST(concurrent_writers)
{
    pp_client *a = it_client(D.url), *b = it_client(D.url);
    pp_dict *da = NULL, *db = NULL;
    it_assert_status(pp_dict_create(a, &da), PP_OK);
    pp_value *h = pp_dict_to_value(da);
    it_assert_status(pp_dict_from_value(b, h, &db), PP_OK);
    pp_value_free(h);
    enum { THREADS = 4, N = 200 };
    struct writer w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){ i % 2 ? db : da, i, N };
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
    ck_assert_uint_eq(dlen(da), THREADS * N);
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < N; j += 37) {
            pp_value *v = dget(db, list_of(I(i), I(j), NULL), PP_OK);
            ck_assert_int_eq(pp_value_get_int(v), i * 1000 + j);
            pp_value_free(v);
        }
    pp_dict_free(da);
    pp_dict_free(db);
    pp_client_close(a);
    pp_client_close(b);
}
END_TEST

/* ---- the rest of the proxies' API (docs/parity.md) ----------------------- */

/* d.setdefault(k, dflt) has the repr want; frees k and dflt. */
static void dsetdefault_is(pp_dict *d, pp_value *k, pp_value *dflt, const char *want)
{
    pp_value *v = NULL;
    pp_status st = pp_dict_setdefault(d, k, dflt, &v);
    pp_value_free(k);
    pp_value_free(dflt);
    it_assert_status(st, PP_OK);
    assert_repr(v, want);
    pp_value_free(v);
}

static bool dcontains(pp_dict *d, pp_value *k)
{
    bool found = false;
    pp_status st = pp_dict_contains(d, k, &found);
    pp_value_free(k);
    it_assert_status(st, PP_OK);
    return found;
}

START_TEST(dict_more_methods)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    dset(d, S("a"), I(1), PP_OK);
    dset(d, S("b"), I(2), PP_OK);
    ck_assert(dcontains(d, S("a")));
    ck_assert(!dcontains(d, S("z")));
    ck_assert(!dcontains(d, I(1)));     /* a value is not a key */

    pp_value *v = NULL;
    it_assert_status(pp_dict_keys(d, &v), PP_OK);
    ck_assert_int_eq(pp_value_kind(v), PP_LIST);
    assert_repr(v, "['a', 'b']");
    pp_value_free(v);
    it_assert_status(pp_dict_values(d, &v), PP_OK);
    assert_repr(v, "[1, 2]");
    pp_value_free(v);

    /* setdefault: the value there, else the default, set. */
    dsetdefault_is(d, S("a"), I(9), "1");
    dsetdefault_is(d, S("c"), I(3), "3");
    dsetdefault_is(d, S("n"), pp_value_null(), "None");
    ditems_are(d, "{'a': 1, 'b': 2, 'c': 3, 'n': None}");

    /* update: replaced keys keep their place, new ones go last. */
    pp_value *m = pp_value_map();
    it_assert_status(pp_value_map_set_str(m, "b", I(20)), PP_OK);
    it_assert_status(pp_value_map_set_str(m, "e", I(5)), PP_OK);
    it_assert_status(pp_dict_update(d, m), PP_OK);
    pp_value_free(m);
    ditems_are(d, "{'a': 1, 'b': 20, 'c': 3, 'n': None, 'e': 5}");
    m = pp_value_map();
    it_assert_status(pp_dict_update(d, m), PP_OK);
    pp_value_free(m);
    pp_value *notamap = list_of(S("b"), I(1), NULL);
    it_assert_status(pp_dict_update(d, notamap), PP_EINVAL);
    pp_value_free(notamap);
    it_assert_status(pp_dict_update(d, NULL), PP_EINVAL);

    /* pop: the value, then PP_ENOENT (out-parameter untouched). */
    pp_value *k = S("b");
    it_assert_status(pp_dict_pop(d, k, &v), PP_OK);
    assert_repr(v, "20");
    pp_value_free(v);
    v = (pp_value *)0x1;
    it_assert_status(pp_dict_pop(d, k, &v), PP_ENOENT);
    ck_assert_ptr_eq(v, (pp_value *)0x1);
    assert_error_says("no such key");
    pp_value_free(k);

    /* popitem: the pair set last, until empty. */
    pp_value *pk = NULL, *pv = NULL;
    it_assert_status(pp_dict_popitem(d, &pk, &pv), PP_OK);
    assert_repr(pk, "'e'");
    assert_repr(pv, "5");
    pp_value_free(pk);
    pp_value_free(pv);
    ck_assert_uint_eq(dlen(d), 3);
    while (dlen(d) > 0) {
        it_assert_status(pp_dict_popitem(d, &pk, &pv), PP_OK);
        pp_value_free(pk);
        pp_value_free(pv);
    }
    pk = pv = (pp_value *)0x1;
    it_assert_status(pp_dict_popitem(d, &pk, &pv), PP_ENOENT);
    ck_assert_ptr_eq(pk, (pp_value *)0x1);
    assert_error_says("empty");

    /* NULL arguments. */
    bool found;
    k = S("k");
    it_assert_status(pp_dict_contains(NULL, k, &found), PP_EINVAL);
    it_assert_status(pp_dict_contains(d, k, NULL), PP_EINVAL);
    it_assert_status(pp_dict_keys(NULL, &v), PP_EINVAL);
    it_assert_status(pp_dict_keys(d, NULL), PP_EINVAL);
    it_assert_status(pp_dict_values(NULL, &v), PP_EINVAL);
    it_assert_status(pp_dict_values(d, NULL), PP_EINVAL);
    it_assert_status(pp_dict_pop(NULL, k, &v), PP_EINVAL);
    it_assert_status(pp_dict_pop(d, k, NULL), PP_EINVAL);
    it_assert_status(pp_dict_popitem(NULL, &pk, &pv), PP_EINVAL);
    it_assert_status(pp_dict_popitem(d, NULL, &pv), PP_EINVAL);
    it_assert_status(pp_dict_popitem(d, &pk, NULL), PP_EINVAL);
    it_assert_status(pp_dict_setdefault(NULL, k, k, &v), PP_EINVAL);
    it_assert_status(pp_dict_setdefault(d, k, k, NULL), PP_EINVAL);
    it_assert_status(pp_dict_update(NULL, k), PP_EINVAL);
    pp_value_free(k);
    pp_dict_free(d);
    pp_client_close(c);
}
END_TEST

static void lextend(pp_list *l, pp_value *items, pp_status want)
{
    pp_status st = pp_list_extend(l, items);
    pp_value_free(items);
    it_assert_status(st, want);
}

static void lset_all(pp_list *l, pp_value *items)
{
    pp_status st = pp_list_set_all(l, items);
    pp_value_free(items);
    it_assert_status(st, PP_OK);
}

/* l.index(val, start, stop) == want (-1: PP_ENOENT); frees val. */
static void lindex_is(pp_list *l, pp_value *val, int64_t start, int64_t stop, int64_t want)
{
    size_t i = 12345;
    pp_status st = pp_list_index(l, val, start, stop, &i);
    pp_value_free(val);
    if (want < 0) {
        it_assert_status(st, PP_ENOENT);
        ck_assert_uint_eq(i, 12345);
    } else {
        it_assert_status(st, PP_OK);
        ck_assert_uint_eq(i, (size_t)want);
    }
}

static void lslice_is(pp_list *l, int64_t start, int64_t stop, const char *want)
{
    pp_value *v = NULL;
    it_assert_status(pp_list_slice(l, start, stop, &v), PP_OK);
    ck_assert_int_eq(pp_value_kind(v), PP_LIST);
    assert_repr(v, want);
    pp_value_free(v);
}

START_TEST(list_more_methods)
{
    pp_client *c = it_client(D.url);
    pp_list *l = NULL;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    lextend(l, list_of(I(1), I(2), I(3)), PP_OK);
    pp_value *t = pp_value_tuple();
    it_assert_status(pp_value_append(t, I(2)), PP_OK);
    it_assert_status(pp_value_append(t, S("x")), PP_OK);
    lextend(l, t, PP_OK);
    lextend(l, pp_value_list(), PP_OK);
    lextend(l, S("not a list"), PP_EINVAL);
    lextend(l, NULL, PP_EINVAL);
    litems_are(l, "[1, 2, 3, 2, 'x']");

    bool found = false;
    pp_value *two = I(2), *nine = I(9);
    it_assert_status(pp_list_contains(l, two, &found), PP_OK);
    ck_assert(found);
    it_assert_status(pp_list_contains(l, nine, &found), PP_OK);
    ck_assert(!found);
    size_t n = 0;
    it_assert_status(pp_list_count(l, two, &n), PP_OK);
    ck_assert_uint_eq(n, 2);
    it_assert_status(pp_list_count(l, nine, &n), PP_OK);
    ck_assert_uint_eq(n, 0);

    /* index with Python's start and stop. */
    lindex_is(l, I(2), 0, INT64_MAX, 1);
    lindex_is(l, I(2), 2, INT64_MAX, 3);
    lindex_is(l, I(2), 2, 3, -1);
    lindex_is(l, I(2), 2, 4, 3);
    lindex_is(l, I(2), -2, INT64_MAX, 3);
    lindex_is(l, I(2), INT64_MIN, -3, 1);
    lindex_is(l, I(2), INT64_MIN, -4, -1);
    lindex_is(l, I(2), 2, -2, -1);
    lindex_is(l, I(2), 0, -100, -1);
    lindex_is(l, I(9), 0, INT64_MAX, -1);
    assert_error_says("not in the list");

    /* remove: the first equal one. */
    it_assert_status(pp_list_remove(l, two), PP_OK);
    litems_are(l, "[1, 3, 2, 'x']");
    it_assert_status(pp_list_remove(l, nine), PP_ENOENT);
    assert_error_says("not in the list");

    /* del and slices. */
    it_assert_status(pp_list_del(l, 0), PP_OK);
    it_assert_status(pp_list_del(l, -1), PP_OK);
    it_assert_status(pp_list_del(l, 100), PP_ENOENT);
    assert_error_says("out of range");
    litems_are(l, "[3, 2]");
    lset_all(l, list_of(I(0), I(1), list_of(I(2), I(3), I(4))));
    lextend(l, list_of(I(5), NULL, NULL), PP_OK);
    lslice_is(l, 1, 3, "[1, [2, 3, 4]]");
    lslice_is(l, -2, INT64_MAX, "[[2, 3, 4], 5]");
    lslice_is(l, 3, 1, "[]");
    lslice_is(l, INT64_MIN, INT64_MAX, "[0, 1, [2, 3, 4], 5]");
    lset_all(l, pp_value_list());
    litems_are(l, "[]");
    pp_value *bad = S("x");
    it_assert_status(pp_list_set_all(l, bad), PP_EINVAL);
    pp_value_free(bad);

    /* reverse and sort: Python's order, stable, either way round. */
    lset_all(l, list_of(I(3), pp_value_double(1.5), pp_value_bool(true)));
    lextend(l, list_of(I(-2), pp_value_double(1.0), NULL), PP_OK);
    it_assert_status(pp_list_reverse(l), PP_OK);
    litems_are(l, "[1.0, -2, True, 1.5, 3]");
    it_assert_status(pp_list_sort(l, NULL, false), PP_OK);
    litems_are(l, "[-2, 1.0, True, 1.5, 3]");
    it_assert_status(pp_list_sort(l, NULL, true), PP_OK);
    litems_are(l, "[3, 1.5, 1.0, True, -2]");
    lset_all(l, list_of(S("pear"), S("apple"), S("fig")));
    it_assert_status(pp_list_sort(l, NULL, false), PP_OK);
    litems_are(l, "['apple', 'fig', 'pear']");
    lset_all(l, list_of(list_of(I(1), I(2), NULL), list_of(I(1), NULL, NULL),
                        list_of(I(0), I(9), NULL)));
    it_assert_status(pp_list_sort(l, NULL, false), PP_OK);
    litems_are(l, "[[0, 9], [1], [1, 2]]");
    /* Items that do not compare: PP_EINVAL, the list unchanged. */
    lset_all(l, list_of(I(1), S("a"), I(0)));
    it_assert_status(pp_list_sort(l, NULL, false), PP_EINVAL);
    litems_are(l, "[1, 'a', 0]");
    lset_all(l, list_of(pp_value_null(), pp_value_null(), NULL));
    it_assert_status(pp_list_sort(l, NULL, false), PP_EINVAL);

    /* NULL arguments. */
    size_t i;
    pp_value *v;
    it_assert_status(pp_list_extend(NULL, two), PP_EINVAL);
    it_assert_status(pp_list_del(NULL, 0), PP_EINVAL);
    it_assert_status(pp_list_remove(NULL, two), PP_EINVAL);
    it_assert_status(pp_list_index(NULL, two, 0, 1, &i), PP_EINVAL);
    it_assert_status(pp_list_index(l, two, 0, 1, NULL), PP_EINVAL);
    it_assert_status(pp_list_count(NULL, two, &n), PP_EINVAL);
    it_assert_status(pp_list_count(l, two, NULL), PP_EINVAL);
    it_assert_status(pp_list_contains(NULL, two, &found), PP_EINVAL);
    it_assert_status(pp_list_contains(l, two, NULL), PP_EINVAL);
    it_assert_status(pp_list_slice(NULL, 0, 1, &v), PP_EINVAL);
    it_assert_status(pp_list_slice(l, 0, 1, NULL), PP_EINVAL);
    it_assert_status(pp_list_set_all(NULL, two), PP_EINVAL);
    it_assert_status(pp_list_reverse(NULL), PP_EINVAL);
    it_assert_status(pp_list_sort(NULL, NULL, false), PP_EINVAL);
    pp_value_free(two);
    pp_value_free(nine);
    pp_list_free(l);
    pp_client_close(c);
}
END_TEST

/* Orders [key, tag] pairs by key alone. */
static int by_first(const pp_value *a, const pp_value *b)
{
    int64_t x = pp_value_get_int(pp_value_at(a, 0)), y = pp_value_get_int(pp_value_at(b, 0));
    return (x > y) - (x < y);
}

START_TEST(list_sort_with_cmp_is_stable)
{
    pp_client *c = it_client(D.url);
    pp_list *l = NULL;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    enum { N = 200 };
    pp_value *items = pp_value_list();
    for (int i = 0; i < N; i++)
        it_assert_status(pp_value_append(items, list_of(I((i * 7) % 5), I(i), NULL)), PP_OK);
    lset_all(l, items);
    it_assert_status(pp_list_sort(l, by_first, false), PP_OK);
    pp_value *got = NULL;
    it_assert_status(pp_list_items(l, &got), PP_OK);
    for (size_t i = 1; i < N; i++) {
        const pp_value *a = pp_value_at(got, i - 1), *b = pp_value_at(got, i);
        int64_t ka = pp_value_get_int(pp_value_at(a, 0)), kb = pp_value_get_int(pp_value_at(b, 0));
        ck_assert_int_le(ka, kb);
        if (ka == kb)   /* equal keys keep their order */
            ck_assert_int_lt(pp_value_get_int(pp_value_at(a, 1)),
                             pp_value_get_int(pp_value_at(b, 1)));
    }
    pp_value_free(got);
    it_assert_status(pp_list_sort(l, by_first, true), PP_OK);
    it_assert_status(pp_list_items(l, &got), PP_OK);
    for (size_t i = 1; i < N; i++) {
        const pp_value *a = pp_value_at(got, i - 1), *b = pp_value_at(got, i);
        int64_t ka = pp_value_get_int(pp_value_at(a, 0)), kb = pp_value_get_int(pp_value_at(b, 0));
        ck_assert_int_ge(ka, kb);
        if (ka == kb)
            ck_assert_int_lt(pp_value_get_int(pp_value_at(a, 1)),
                             pp_value_get_int(pp_value_at(b, 1)));
    }
    pp_value_free(got);
    pp_list_free(l);
    pp_client_close(c);
}
END_TEST

static pp_value *nsget(pp_namespace *ns, const char *name, pp_status want)
{
    pp_value *v = NULL;
    it_assert_status(pp_namespace_get(ns, name, &v), want);
    if (want != PP_OK)
        ck_assert_ptr_null(v);
    return v;
}

static void nsset(pp_namespace *ns, const char *name, pp_value *v, pp_status want)
{
    pp_status st = pp_namespace_set(ns, name, v);
    pp_value_free(v);
    it_assert_status(st, want);
}

static void nsget_is(pp_namespace *ns, const char *name, const char *want)
{
    pp_value *v = nsget(ns, name, PP_OK);
    assert_repr(v, want);
    pp_value_free(v);
}

START_TEST(namespace_basics)
{
    pp_client *c = it_client(D.url);
    pp_namespace *ns = NULL;
    it_assert_status(pp_namespace_create(c, &ns), PP_OK);
    pp_value *m = NULL;
    it_assert_status(pp_namespace_items(ns, &m), PP_OK);
    assert_repr(m, "{}");
    pp_value_free(m);
    nsset(ns, "x", I(1), PP_OK);
    nsset(ns, "y", S("two"), PP_OK);
    nsset(ns, "x", I(10), PP_OK);
    nsget_is(ns, "x", "10");
    nsget_is(ns, "y", "'two'");
    (void)nsget(ns, "z", PP_ENOENT);
    assert_error_says("no such attribute");
    it_assert_status(pp_namespace_items(ns, &m), PP_OK);
    ck_assert_int_eq(pp_value_kind(m), PP_MAP);
    assert_repr(m, "{'x': 10, 'y': 'two'}");
    pp_value_free(m);
    it_assert_status(pp_namespace_del(ns, "y"), PP_OK);
    it_assert_status(pp_namespace_del(ns, "y"), PP_ENOENT);
    assert_error_says("no such attribute");
    (void)nsget(ns, "y", PP_ENOENT);

    /* Names Python keeps in the proxy, and no names. */
    nsset(ns, "_private", I(1), PP_EINVAL);
    assert_error_says("'_'");
    nsset(ns, "", I(1), PP_EINVAL);
    nsset(ns, NULL, I(1), PP_EINVAL);
    (void)nsget(ns, "_private", PP_EINVAL);
    it_assert_status(pp_namespace_del(ns, "__dict__"), PP_EINVAL);

    /* Handles: a namespace's, not a dict's. */
    pp_value *h = pp_namespace_to_value(ns);
    ck_assert_int_eq(pp_value_handle_type(h), PP_H_NAMESPACE);
    pp_namespace *ns2 = NULL, *bad = (pp_namespace *)0x1;
    it_assert_status(pp_namespace_from_value(c, h, &ns2), PP_OK);
    nsget_is(ns2, "x", "10");
    it_assert_status(pp_namespace_from_value(NULL, h, &bad), PP_EINVAL);
    it_assert_status(pp_namespace_from_value(c, h, NULL), PP_EINVAL);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    pp_value *dh = pp_dict_to_value(d);
    it_assert_status(pp_namespace_from_value(c, dh, &bad), PP_EINVAL);
    it_assert_status(pp_namespace_from_value(c, NULL, &bad), PP_EINVAL);
    ck_assert_ptr_eq(bad, (pp_namespace *)0x1);
    pp_value_free(dh);
    pp_dict_free(d);

    /* NULL namespaces. */
    pp_value *v = NULL;
    it_assert_status(pp_namespace_create(NULL, &ns2), PP_EINVAL);
    it_assert_status(pp_namespace_create(c, NULL), PP_EINVAL);
    it_assert_status(pp_namespace_get(NULL, "x", &v), PP_EINVAL);
    it_assert_status(pp_namespace_get(ns, "x", NULL), PP_EINVAL);
    it_assert_status(pp_namespace_set(NULL, "x", NULL), PP_EINVAL);
    it_assert_status(pp_namespace_del(NULL, "x"), PP_EINVAL);
    it_assert_status(pp_namespace_items(NULL, &v), PP_EINVAL);
    it_assert_status(pp_namespace_items(ns, NULL), PP_EINVAL);
    ck_assert_ptr_null(pp_namespace_to_value(NULL));
    pp_namespace_free(NULL);

    /* The last holder frees it. */
    pp_namespace_free(ns);
    pp_namespace_free(ns2);
    it_assert_status(pp_namespace_from_value(c, h, &bad), PP_ENOENT);
    pp_value_free(h);
    pp_client_close(c);
}
END_TEST

/* ---- the same objects from Python -------------------------------------- */

static pp_func *py_func(const char *name)
{
    return it_py_func("mgrtasks", name);
}

static pp_value *py_apply(pp_pool *p, const char *name, pp_value *args)
{
    pp_func *f = py_func(name);
    pp_value *res = NULL;
    pp_status st = pp_pool_apply(p, f, args, 60000, &res);
    pp_value_free(args);
    pp_func_free(f);
    it_assert_status(st, PP_OK);
    return res;
}

START_TEST(python_task_shares_a_dict)
{
    char why[PATH_MAX + 64];
    ck_assert_msg(it_python_paths(why, sizeof why), "%s", why);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    dset(d, S("from_c"), I(42), PP_OK);

    /* Python sees a DictProxy holding what C wrote, and writes. */
    pp_value *res = py_apply(p, "fill", list_of(pp_dict_to_value(d), I(5), NULL));
    assert_repr(res, "['DictProxy', 42, 9]");
    pp_value_free(res);
    ck_assert_uint_eq(dlen(d), 9);
    dget_is(d, S("from_py"), "'hello'");
    for (int i = 0; i < 5; i++) {
        pp_value *v = dget(d, I(i), PP_OK);
        ck_assert_int_eq(pp_value_get_int(v), i * i);
        pp_value_free(v);
    }
    /* Python's tuple key is a C tuple; bytes and None as written. */
    pp_value *tk = pp_value_tuple();
    it_assert_status(pp_value_append(tk, I(1)), PP_OK);
    it_assert_status(pp_value_append(tk, S("t")), PP_OK);
    dget_is(d, tk, "2.5");
    dget_is(d, pp_value_bytes("raw", 3), "None");

    /* C's writes reach Python: pop what C set, then a missing key. */
    dset(d, S("for_py"), S("c wrote"), PP_OK);
    res = py_apply(p, "pop_key", list_of(pp_dict_to_value(d), S("for_py"), NULL));
    assert_repr(res, "'c wrote'");
    pp_value_free(res);
    (void)dget(d, S("for_py"), PP_ENOENT);
    res = py_apply(p, "pop_key", list_of(pp_dict_to_value(d), S("for_py"), NULL));
    assert_repr(res, "'KeyError'");
    pp_value_free(res);

    /* A proxy returned by Python comes back as the dict's handle. */
    res = py_apply(p, "identity", list_of(pp_dict_to_value(d), NULL, NULL));
    ck_assert_int_eq(pp_value_handle_type(res), PP_H_DICT);
    pp_dict *back = NULL;
    it_assert_status(pp_dict_from_value(c, res, &back), PP_OK);
    dget_is(back, S("from_c"), "42");
    pp_value_free(res);
    pp_dict_free(back);

    pp_dict_free(d);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(python_task_shares_a_list)
{
    char why[PATH_MAX + 64];
    ck_assert_msg(it_python_paths(why, sizeof why), "%s", why);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_list *l = NULL;
    it_assert_status(pp_list_create(c, &l), PP_OK);
    lappend(l, S("c"));
    pp_value *res = py_apply(p, "extend",
                             list_of(pp_list_to_value(l), list_of(I(1), I(2), NULL), NULL));
    assert_repr(res, "['ListProxy', ['first', 'c', 1, 2]]");
    pp_value_free(res);
    litems_are(l, "['first', 'c', 1, 2]");
    res = py_apply(p, "identity", list_of(pp_list_to_value(l), NULL, NULL));
    ck_assert_int_eq(pp_value_handle_type(res), PP_H_LIST);
    pp_value_free(res);
    pp_list_free(l);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

START_TEST(python_task_shares_a_namespace)
{
    char why[PATH_MAX + 64];
    ck_assert_msg(it_python_paths(why, sizeof why), "%s", why);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_namespace *ns = NULL;
    it_assert_status(pp_namespace_create(c, &ns), PP_OK);
    nsset(ns, "from_c", I(42), PP_OK);
    nsset(ns, "to_delete", S("x"), PP_OK);

    /* Python gets a Namespace proxy: reads C's attribute, sets one,
     * deletes one. */
    pp_value *res = py_apply(p, "ns_touch", list_of(pp_namespace_to_value(ns), NULL, NULL));
    ck_assert_uint_eq(pp_value_len(res), 3);
    assert_repr(pp_value_at(res, 0), "'Namespace'");
    assert_repr(pp_value_at(res, 1), "42");
    ck_assert_str_eq(pp_value_get_string(pp_value_at(res, 2), NULL),
                     "Namespace(from_c=42, to_delete='x')");
    pp_value_free(res);
    nsget_is(ns, "from_py", "'hello'");
    (void)nsget(ns, "to_delete", PP_ENOENT);
    pp_value *m = NULL;
    it_assert_status(pp_namespace_items(ns, &m), PP_OK);
    assert_repr(m, "{'from_c': 42, 'from_py': 'hello'}");
    pp_value_free(m);

    /* A Namespace made in Python comes back as a namespace's handle. */
    res = py_apply(p, "ns_new", list_of(S("made in python"), NULL, NULL));
    ck_assert_int_eq(pp_value_handle_type(res), PP_H_NAMESPACE);
    pp_namespace *back = NULL;
    it_assert_status(pp_namespace_from_value(c, res, &back), PP_OK);
    nsget_is(back, "note", "'made in python'");
    pp_value_free(res);
    pp_namespace_free(back);

    pp_namespace_free(ns);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- reference counts, from raw protocol peers --------------------------- */

static Polypool__V1__Reply *raw_req(it_raw *r, Polypool__V1__Request *req)
{
    Polypool__V1__Reply *rep = NULL;
    int rv = it_raw_call(r, req, 5000, &rep);
    ck_assert_msg(rv == 0, "call: %s", nng_strerror(rv));
    return rep;
}

/* ObjCreate (type) or ObjAttach (id): the status, and *id on success. */
static int raw_new(it_raw *r, uint32_t type, uint64_t attach, uint64_t *id)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjCreate cr = POLYPOOL__V1__OBJ_CREATE__INIT;
    Polypool__V1__ObjAttach at = POLYPOOL__V1__OBJ_ATTACH__INIT;
    if (type) {
        cr.type = type;
        req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_CREATE;
        req.obj_create = &cr;
    } else {
        at.id = attach;
        req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_ATTACH;
        req.obj_attach = &at;
    }
    Polypool__V1__Reply *rep = raw_req(r, &req);
    int st = rep->status;
    if (st == POLYPOOL__V1__STATUS__STATUS_OK) {
        ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_OBJECT);
        ck_assert_uint_ne(rep->object->id, 0);
        if (type)
            ck_assert_uint_eq(rep->object->type, type);
        *id = rep->object->id;
    }
    it_status_free(rep);
    return st;
}

static int raw_release(it_raw *r, uint64_t id)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjRelease rel = POLYPOOL__V1__OBJ_RELEASE__INIT;
    rel.id = id;
    req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_RELEASE;
    req.obj_release = &rel;
    Polypool__V1__Reply *rep = raw_req(r, &req);
    int st = rep->status;
    it_status_free(rep);
    return st;
}

/* ObjOp with string blobs as args (the daemon never decodes them); the
 * status; *value and the first result (copied into res) when given. */
static int raw_op(it_raw *r, uint64_t id, int op, const char *const *args, size_t nargs,
                  int64_t index, int64_t *value, char *res, size_t res_len, size_t *n_results)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__ObjOp o = POLYPOOL__V1__OBJ_OP__INIT;
    ProtobufCBinaryData blobs[4];
    ck_assert_uint_le(nargs, 4);
    for (size_t i = 0; i < nargs; i++) {
        blobs[i].data = (uint8_t *)args[i];
        blobs[i].len = strlen(args[i]);
    }
    o.id = id;
    o.op = (Polypool__V1__ObjOpKind)op;
    o.args = blobs;
    o.n_args = nargs;
    o.index = index;
    req.op_case = POLYPOOL__V1__REQUEST__OP_OBJ_OP;
    req.obj_op = &o;
    Polypool__V1__Reply *rep = raw_req(r, &req);
    int st = rep->status;
    if (st == POLYPOOL__V1__STATUS__STATUS_OK) {
        ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_OBJ_RESULT);
        if (value)
            *value = rep->obj_result->value;
        if (n_results)
            *n_results = rep->obj_result->n_results;
        if (res && rep->obj_result->n_results) {
            ProtobufCBinaryData *b = &rep->obj_result->results[0];
            snprintf(res, res_len, "%.*s", (int)b->len, (const char *)b->data);
        }
    }
    it_status_free(rep);
    return st;
}

enum {
    ST_OK = POLYPOOL__V1__STATUS__STATUS_OK,
    ST_EINVAL = POLYPOOL__V1__STATUS__STATUS_EINVAL,
    ST_ENOENT = POLYPOOL__V1__STATUS__STATUS_ENOENT,
    T_DICT = POLYPOOL__V1__HANDLE_TYPE__HANDLE_DICT,
    T_LIST = POLYPOOL__V1__HANDLE_TYPE__HANDLE_LIST,
    T_NS = POLYPOOL__V1__HANDLE_TYPE__HANDLE_NAMESPACE,
};

struct gone_arg {
    it_raw *r;
    uint64_t id;
};

/* Attaching fails: the object is gone. (An attach that works is undone.) */
static bool object_gone(void *arg)
{
    struct gone_arg *g = arg;
    uint64_t id;
    int st = raw_new(g->r, 0, g->id, &id);
    if (st == ST_OK) {
        ck_assert_int_eq(raw_release(g->r, g->id), ST_OK);
        return false;
    }
    ck_assert_int_eq(st, ST_ENOENT);
    return true;
}

static void raw_peer(it_raw *r)
{
    ck_assert_int_eq(it_raw_open(r, D.url), 0);
    it_raw_hello(r);
}

START_TEST(refcounts_per_session)
{
    it_raw a, b, c;
    raw_peer(&a);
    raw_peer(&b);
    raw_peer(&c);
    uint64_t id = 0, id2 = 0;
    ck_assert_int_eq(raw_new(&a, T_DICT, 0, &id), ST_OK);
    const char *kv[] = { "key", "value" };
    ck_assert_int_eq(raw_op(&a, id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, kv, 2, 0, NULL, NULL,
                            0, NULL), ST_OK);
    /* b attaches twice (two references), then a closes without releasing:
     * the session's end drops a's reference. */
    ck_assert_int_eq(raw_new(&b, 0, id, &id2), ST_OK);
    ck_assert_uint_eq(id2, id);
    ck_assert_int_eq(raw_new(&b, 0, id, &id2), ST_OK);
    it_raw_close(&a);
    char got[64] = "";
    ck_assert_int_eq(raw_op(&b, id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, kv, 1, 0, NULL, got,
                            sizeof got, NULL), ST_OK);
    ck_assert_str_eq(got, "value");
    /* c holds nothing: its ops and releases fail. */
    ck_assert_int_eq(raw_op(&c, id, POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN, NULL, 0, 0, NULL, NULL,
                            0, NULL), ST_ENOENT);
    ck_assert_int_eq(raw_release(&c, id), ST_ENOENT);
    /* b's two references. */
    ck_assert_int_eq(raw_release(&b, id), ST_OK);
    struct gone_arg g = { &c, id };
    ck_assert(!object_gone(&g));
    ck_assert_int_eq(raw_release(&b, id), ST_OK);
    ck_assert_int_eq(raw_release(&b, id), ST_ENOENT);
    ck_assert(object_gone(&g));

    /* An object whose only holder's session ends goes with it. */
    it_raw e;
    raw_peer(&e);
    ck_assert_int_eq(raw_new(&e, T_LIST, 0, &id), ST_OK);
    ck_assert_int_eq(raw_new(&e, T_NS, 0, &id2), ST_OK);
    ck_assert_uint_ne(id, id2);
    it_raw_close(&e);
    g.id = id;
    ck_assert_msg(it_wait_until(object_gone, &g, IT_DEADLINE_MS), "list %llu not freed",
                  (unsigned long long)id);
    g.id = id2;
    ck_assert_msg(it_wait_until(object_gone, &g, IT_DEADLINE_MS), "namespace %llu not freed",
                  (unsigned long long)id2);
    it_raw_close(&b);
    it_raw_close(&c);
}
END_TEST

/* The last pp_dict_free anywhere frees the object: a second client's
 * reference outlives the first client. */
START_TEST(last_holder_frees)
{
    pp_client *c = it_client(D.url);
    pp_dict *d = NULL;
    it_assert_status(pp_dict_create(c, &d), PP_OK);
    pp_value *h = pp_dict_to_value(d);
    pp_client *c2 = it_client(D.url);
    pp_dict *d2 = NULL;
    it_assert_status(pp_dict_from_value(c2, h, &d2), PP_OK);
    dset(d, S("k"), I(1), PP_OK);
    pp_dict_free(d);
    pp_client_close(c);
    dget_is(d2, S("k"), "1");
    pp_dict_free(d2);
    pp_client_close(c2);
    pp_client *c3 = it_client(D.url);
    pp_dict *d3 = NULL;
    it_assert_status(pp_dict_from_value(c3, h, &d3), PP_ENOENT);
    pp_client_close(c3);
    pp_value_free(h);
}
END_TEST

/* A Python program (its own client) makes a dict and a list and is
 * killed: its session's end frees both. */
START_TEST(killed_python_client_frees)
{
    char why[PATH_MAX + 64];
    ck_assert_msg(it_python_paths(why, sizeof why), "%s", why);
    char pythonpath[PATH_MAX + 64], address[300];
    snprintf(pythonpath, sizeof pythonpath, "PYTHONPATH=%s", it_py_bindings);
    snprintf(address, sizeof address, "POLYPOOL_ADDRESS=%s", D.url);
    const char *env[] = { pythonpath, address, "POLYPOOL_NO_AUTOSTART=1", NULL };
    const char *argv[] = {
        "/usr/bin/python3", "-c",
        "import time, polypool as mp\n"
        "m = mp.Manager()\n"
        "d = m.dict(k=1)\n"
        "l = m.list([1])\n"
        "print(d._id, l._id, flush=True)\n"
        "time.sleep(600)\n",
        NULL,
    };
    int fd = -1;
    pid_t pid = it_spawn(argv, env, &fd);
    char line[128];
    ck_assert_msg(it_read_line(fd, line, sizeof line, 30000), "no ids from python");
    unsigned long long did = 0, lid = 0;
    ck_assert_int_eq(sscanf(line, "%llu %llu", &did, &lid), 2);
    it_raw r;
    raw_peer(&r);
    struct gone_arg g = { &r, did };
    ck_assert(!object_gone(&g));
    g.id = lid;
    ck_assert(!object_gone(&g));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int ws;
    ck_assert(it_waitpid(pid, IT_DEADLINE_MS, &ws));
    close(fd);
    ck_assert_msg(it_wait_until(object_gone, &g, IT_DEADLINE_MS), "list not freed");
    g.id = did;
    ck_assert_msg(it_wait_until(object_gone, &g, IT_DEADLINE_MS), "dict not freed");
    it_raw_close(&r);
}
END_TEST

START_TEST(op_errors)
{
    it_raw r;
    raw_peer(&r);
    uint64_t dict = 0, list = 0, x;
    /* Only dicts, lists and namespaces. */
    ck_assert_int_eq(raw_new(&r, 1, 0, &x), ST_EINVAL);
    ck_assert_int_eq(raw_new(&r, 15, 0, &x), ST_EINVAL);
    ck_assert_int_eq(raw_new(&r, 0, 0, &x), ST_ENOENT);
    ck_assert_int_eq(raw_new(&r, 0, 987654, &x), ST_ENOENT);
    ck_assert_int_eq(raw_new(&r, T_DICT, 0, &dict), ST_OK);
    ck_assert_int_eq(raw_new(&r, T_LIST, 0, &list), ST_OK);

    const char *one[] = { "a" }, *two[] = { "a", "b" }, *three[] = { "a", "b", "c" };
    struct {
        uint64_t id;
        int op;
        const char *const *args;
        size_t nargs;
        int64_t index;
        int want;
    } cases[] = {
        /* dicts: wrong argument counts, list-only operations */
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, NULL, 0, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL, two, 2, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_CONTAINS, NULL, 0, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_UPDATE, three, 3, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SETDEFAULT, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INSERT, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_COUNT, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_REMOVE, one, 1, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET_SLICE, NULL, 0, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_NONE, NULL, 0, 0, ST_EINVAL },
        { dict, 99, NULL, 0, 0, ST_EINVAL },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, one, 1, 0, ST_ENOENT },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POP, one, 1, 0, ST_ENOENT },
        { dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM, NULL, 0, 0, ST_ENOENT },
        /* lists: dict-only operations, wrong counts, ranges */
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_KEYS, NULL, 0, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_ITEMS, NULL, 0, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM, NULL, 0, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SETDEFAULT, two, 2, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_UPDATE, two, 2, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, two, 2, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INSERT, two, 2, 0, ST_EINVAL },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, NULL, 0, 0, ST_ENOENT },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_DEL, NULL, 0, -1, ST_ENOENT },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX, one, 1, 0, ST_ENOENT },
        { list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_REMOVE, one, 1, 0, ST_ENOENT },
        /* not held */
        { dict + list + 1000, POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN, NULL, 0, 0, ST_ENOENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int st = raw_op(&r, cases[i].id, cases[i].op, cases[i].args, cases[i].nargs,
                        cases[i].index, NULL, NULL, 0, NULL);
        ck_assert_msg(st == cases[i].want, "case %zu (op %d): status %d, want %d", i,
                      cases[i].op, st, cases[i].want);
    }
    /* The objects are unchanged by the failures. */
    int64_t n = -1;
    ck_assert_int_eq(raw_op(&r, dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN, NULL, 0, 0, &n, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_LEN, NULL, 0, 0, &n, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(n, 0);

    /* A few list semantics at the wire: append, index from, count, slice. */
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND, three, 3, 0, NULL,
                            NULL, 0, NULL), ST_OK);
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_APPEND, one, 1, 0, NULL,
                            NULL, 0, NULL), ST_OK);
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_INDEX, one, 1, 1, &n, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_COUNT, one, 1, 0, &n, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(n, 2);
    char got[16] = "";
    size_t nres = 0;
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET_SLICE, NULL, 0, -3, NULL,
                            got, sizeof got, &nres), ST_OK);
    ck_assert_uint_eq(nres, 0);     /* stop 0: empty */
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POP, NULL, 0, 1, NULL, got,
                            sizeof got, NULL), ST_OK);
    ck_assert_str_eq(got, "b");
    ck_assert_int_eq(raw_op(&r, list, POLYPOOL__V1__OBJ_OP_KIND__OBJ_GET, NULL, 0, 1, NULL, got,
                            sizeof got, NULL), ST_OK);
    ck_assert_str_eq(got, "c");
    /* Dict pops: popitem takes the last inserted. */
    const char *kv1[] = { "k1", "v1" }, *kv2[] = { "k2", "v2" };
    ck_assert_int_eq(raw_op(&r, dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, kv1, 2, 0, NULL, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(raw_op(&r, dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SET, kv2, 2, 0, NULL, NULL,
                            0, NULL), ST_OK);
    ck_assert_int_eq(raw_op(&r, dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_POPITEM, NULL, 0, 0, NULL,
                            got, sizeof got, &nres), ST_OK);
    ck_assert_uint_eq(nres, 2);
    ck_assert_str_eq(got, "k2");
    ck_assert_int_eq(raw_op(&r, dict, POLYPOOL__V1__OBJ_OP_KIND__OBJ_SETDEFAULT, kv1, 2, 0, NULL,
                            got, sizeof got, NULL), ST_OK);
    ck_assert_str_eq(got, "v1");
    it_raw_close(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-managed");
    TCase *tc = tcase_create("dict");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dict_basics);
    tcase_add_test(tc, dict_missing_keys);
    tcase_add_test(tc, dict_keys_and_values);
    tcase_add_test(tc, dict_many_keys);
    tcase_add_test(tc, dict_null_arguments);
    tcase_add_test(tc, dict_handles);
    tcase_add_test(tc, from_value_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, list_basics);
    tcase_add_test(tc, list_errors);
    tcase_add_test(tc, list_handles);
    suite_add_tcase(s, tc);

    tc = tcase_create("parity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dict_more_methods);
    tcase_add_test(tc, list_more_methods);
    tcase_add_test(tc, list_sort_with_cmp_is_stable);
    tcase_add_test(tc, namespace_basics);
    suite_add_tcase(s, tc);

    tc = tcase_create("sharing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_clients);
    tcase_add_test(tc, concurrent_writers);
    /* The sanitizer build has no Python package: these need it. */
    char why[PATH_MAX + 64];
    bool python = it_python_paths(why, sizeof why);
    if (python) {
        tcase_add_test(tc, python_task_shares_a_dict);
        tcase_add_test(tc, python_task_shares_a_list);
        tcase_add_test(tc, python_task_shares_a_namespace);
    }
    suite_add_tcase(s, tc);

    tc = tcase_create("refcounts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, refcounts_per_session);
    tcase_add_test(tc, last_holder_frees);
    if (python)
        tcase_add_test(tc, killed_python_client_frees);
    tcase_add_test(tc, op_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
