/* test-managed.c - managed objects (polypool.h "Managed objects": pp_dict_*,
 * pp_list_*): every call and status, two clients on one object, the same
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

/* ---- the same objects from Python -------------------------------------- */

static char py_bindings[PATH_MAX + 32], py_tests[PATH_MAX];

/* <build>/bindings/python and tests/python; false (with a reason) when
 * the Python package is not in the build. */
static bool python_paths(char *why, size_t len)
{
    /* Under scripts/valgrind-daemon.sh, POLYPOOL_DAEMON_REAL is the binary. */
    const char *daemon = getenv("POLYPOOL_DAEMON_REAL");
    if (!daemon)
        daemon = getenv("POLYPOOL_DAEMON");
    if (!daemon) {      /* no ck_assert: suite() calls this outside a test */
        snprintf(why, len, "POLYPOOL_DAEMON is not set");
        return false;
    }
    char tmp[PATH_MAX], build[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", daemon);
    snprintf(build, sizeof build, "%s", dirname(dirname(tmp)));
    snprintf(py_bindings, sizeof py_bindings, "%s/bindings/python", build);
    char pkg[PATH_MAX + 64];
    snprintf(pkg, sizeof pkg, "%s/polypool/_polypool*.so", py_bindings);
    glob_t gl;
    bool built = glob(pkg, 0, NULL, &gl) == 0 && gl.gl_pathc > 0;
    globfree(&gl);
    if (!built) {
        snprintf(why, len, "no Python package at %.200s", py_bindings);
        return false;
    }
    /* __FILE__: "../tests/integration/test-managed.c" from the build dir,
     * or absolute. */
    char src[PATH_MAX * 2];
    if (__FILE__[0] == '/')
        snprintf(src, sizeof src, "%s", __FILE__);
    else
        snprintf(src, sizeof src, "%s/%s", build, __FILE__);
    char dir[PATH_MAX * 2 + 32];
    snprintf(dir, sizeof dir, "%s/../../tests/python", dirname(src));
    if (!realpath(dir, py_tests)) {
        snprintf(why, len, "no tests/python at %.200s", dir);
        return false;
    }
    return true;
}

static pp_func *py_func(const char *name)
{
    static const char *path[2];
    path[0] = py_bindings;
    path[1] = py_tests;
    pp_pyenv env = { .interpreter = "/usr/bin/python3", .path = path, .npath = 2 };
    pp_func *f = NULL;
    it_assert_status(pp_func_py("mgrtasks", name, &env, &f), PP_OK);
    return f;
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
    ck_assert_msg(python_paths(why, sizeof why), "%s", why);
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
    ck_assert_msg(python_paths(why, sizeof why), "%s", why);
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
    ck_assert_msg(python_paths(why, sizeof why), "%s", why);
    char pythonpath[PATH_MAX + 64], address[300];
    snprintf(pythonpath, sizeof pythonpath, "PYTHONPATH=%s", py_bindings);
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

    tc = tcase_create("sharing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_clients);
    tcase_add_test(tc, concurrent_writers);
    /* The sanitizer build has no Python package: these need it. */
    char why[PATH_MAX + 64];
    bool python = python_paths(why, sizeof why);
    if (python) {
        tcase_add_test(tc, python_task_shares_a_dict);
        tcase_add_test(tc, python_task_shares_a_list);
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
