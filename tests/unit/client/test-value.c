/* test-value.c - the pp_value API. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "polypool.h"

static void assert_repr(const pp_value *v, const char *want)
{
    char *r = pp_value_repr(v);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r, want);
    free(r);
}

/* Consumes v. */
static void repr_is(pp_value *v, const char *want)
{
    assert_repr(v, want);
    pp_value_free(v);
}

START_TEST(scalars)
{
    pp_value *v = pp_value_null();
    ck_assert_int_eq(pp_value_kind(v), PP_NULL);
    pp_value_free(v);

    v = pp_value_bool(true);
    ck_assert_int_eq(pp_value_kind(v), PP_BOOL);
    ck_assert(pp_value_get_bool(v));
    ck_assert_int_eq(pp_value_get_int(v), 1);          /* lenient: BOOL as int */
    ck_assert(pp_value_get_double(v) == 1.0);
    int64_t i = 42;
    ck_assert_int_eq(pp_value_to_int(v, &i), PP_EINVAL); /* strict: not an INT */
    ck_assert_int_eq(i, 42);                            /* untouched on failure */
    pp_value_free(v);

    v = pp_value_int(-7);
    ck_assert_int_eq(pp_value_kind(v), PP_INT);
    ck_assert_int_eq(pp_value_get_int(v), -7);
    ck_assert(pp_value_get_double(v) == -7.0);
    ck_assert(!pp_value_get_bool(v));
    ck_assert_int_eq(pp_value_to_int(v, &i), PP_OK);
    ck_assert_int_eq(i, -7);
    double d = 3;
    ck_assert_int_eq(pp_value_to_double(v, &d), PP_EINVAL);
    ck_assert(d == 3);
    ck_assert_ptr_null(pp_value_get_string(v, NULL));
    size_t len = 99;
    ck_assert_ptr_null(pp_value_get_bytes(v, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(pp_value_len(v), 0);
    pp_value_free(v);

    v = pp_value_double(2.5);
    ck_assert_int_eq(pp_value_kind(v), PP_DOUBLE);
    ck_assert(pp_value_get_double(v) == 2.5);
    ck_assert_int_eq(pp_value_get_int(v), 0);           /* lenient: wrong kind is 0 */
    ck_assert_int_eq(pp_value_to_double(v, &d), PP_OK);
    ck_assert(d == 2.5);
    ck_assert_int_eq(pp_value_to_int(v, &i), PP_EINVAL);
    pp_value_free(v);

    ck_assert_int_eq(pp_value_to_int(NULL, &i), PP_EINVAL);
    ck_assert_int_eq(pp_value_to_double(NULL, &d), PP_EINVAL);
    ck_assert_int_eq(pp_value_kind(NULL), PP_NULL);
    ck_assert_int_eq(pp_value_get_int(NULL), 0);
    pp_value_free(NULL);
}
END_TEST

START_TEST(blobs)
{
    size_t len = 0;
    pp_value *s = pp_value_string("héllo");
    ck_assert_int_eq(pp_value_kind(s), PP_STRING);
    ck_assert_str_eq(pp_value_get_string(s, &len), "héllo");
    ck_assert_uint_eq(len, 6);
    ck_assert_uint_eq(pp_value_len(s), 6);
    ck_assert_ptr_nonnull(pp_value_get_bytes(s, &len));  /* bytes of a STRING */
    pp_value_free(s);

    s = pp_value_string_n("a\0b", 3);
    const char *p = pp_value_get_string(s, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(p, "a\0b", 3) == 0);
    ck_assert_int_eq(p[3], '\0');
    pp_value_free(s);

    pp_value *b = pp_value_bytes("\x00\xff", 2);
    ck_assert_int_eq(pp_value_kind(b), PP_BYTES);
    ck_assert_ptr_null(pp_value_get_string(b, &len));    /* not a STRING */
    const unsigned char *q = pp_value_get_bytes(b, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(q[1], 0xff);
    pp_value_free(b);

    pp_value *pk = pp_value_pickle("\x80\x04", 2);
    ck_assert_int_eq(pp_value_kind(pk), PP_PICKLE);
    ck_assert_ptr_nonnull(pp_value_get_bytes(pk, &len));
    ck_assert_uint_eq(len, 2);
    pp_value_free(pk);

    b = pp_value_bytes(NULL, 0);
    ck_assert_uint_eq(pp_value_len(b), 0);
    pp_value_free(b);
}
END_TEST

START_TEST(setters)
{
    pp_value *v = pp_value_list();
    pp_value_append(v, pp_value_int(1));
    ck_assert_int_eq(pp_value_set_int(v, 5), PP_OK);      /* frees the old list */
    ck_assert_int_eq(pp_value_kind(v), PP_INT);
    ck_assert_int_eq(pp_value_get_int(v), 5);
    ck_assert_int_eq(pp_value_set_double(v, 0.5), PP_OK);
    ck_assert(pp_value_get_double(v) == 0.5);
    ck_assert_int_eq(pp_value_set_bool(v, true), PP_OK);
    ck_assert(pp_value_get_bool(v));
    ck_assert_int_eq(pp_value_set_string(v, "x"), PP_OK);
    ck_assert_str_eq(pp_value_get_string(v, NULL), "x");
    ck_assert_int_eq(pp_value_set_bytes(v, "yz", 2), PP_OK);
    ck_assert_int_eq(pp_value_kind(v), PP_BYTES);
    ck_assert_uint_eq(pp_value_len(v), 2);
    ck_assert_int_eq(pp_value_set_null(v), PP_OK);
    ck_assert_int_eq(pp_value_kind(v), PP_NULL);
    pp_value_free(v);
    ck_assert_int_eq(pp_value_set_int(NULL, 1), PP_EINVAL);
}
END_TEST

START_TEST(lists)
{
    pp_value *l = pp_value_list();
    ck_assert_int_eq(pp_value_kind(l), PP_LIST);
    ck_assert_uint_eq(pp_value_len(l), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(pp_value_append(l, pp_value_int(i)), PP_OK);
    ck_assert_uint_eq(pp_value_len(l), 100);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(l, 99)), 99);
    ck_assert_ptr_null(pp_value_at(l, 100));
    pp_value_set_int(pp_value_at_mut(l, 0), -1);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(l, 0)), -1);

    pp_value *x = pp_value_int(1);
    ck_assert_ptr_null(pp_value_at(x, 0));
    pp_value *item = pp_value_int(3);
    ck_assert_int_eq(pp_value_append(x, item), PP_EINVAL);   /* not consumed */
    pp_value_free(item);
    pp_value_free(x);
    pp_value_free(l);

    int64_t ints[] = {1, 2, 3};
    l = pp_value_list_of_ints(ints, 3);
    repr_is(l, "[1, 2, 3]");
    repr_is(pp_value_list_of_ints(NULL, 0), "[]");

    pp_value *t = pp_value_tuple();
    ck_assert_int_eq(pp_value_kind(t), PP_TUPLE);
    ck_assert_int_eq(pp_value_append(t, pp_value_int(1)), PP_OK);
    assert_repr(t, "(1,)");
    pp_value_append(t, pp_value_int(2));
    assert_repr(t, "(1, 2)");
    ck_assert_int_eq(pp_value_get_int(pp_value_at(t, 1)), 2);
    pp_value_free(t);
    repr_is(pp_value_tuple(), "()");
}
END_TEST

START_TEST(maps)
{
    pp_value *m = pp_value_map();
    ck_assert_int_eq(pp_value_kind(m), PP_MAP);
    ck_assert_int_eq(pp_value_map_set_str(m, "a", pp_value_int(1)), PP_OK);
    ck_assert_int_eq(pp_value_map_set_str(m, "b", pp_value_int(2)), PP_OK);
    ck_assert_int_eq(pp_value_map_set(m, pp_value_int(7), pp_value_string("seven")), PP_OK);
    ck_assert_uint_eq(pp_value_len(m), 3);
    assert_repr(m, "{'a': 1, 'b': 2, 7: 'seven'}");
    /* set replaces the value of an equal key, keeping its position */
    ck_assert_int_eq(pp_value_map_set_str(m, "a", pp_value_int(10)), PP_OK);
    ck_assert_uint_eq(pp_value_len(m), 3);
    assert_repr(m, "{'a': 10, 'b': 2, 7: 'seven'}");
    ck_assert_int_eq(pp_value_get_int(pp_value_map_get(m, "a")), 10);
    ck_assert_ptr_null(pp_value_map_get(m, "zz"));
    ck_assert_str_eq(pp_value_get_string(pp_value_map_key_at(m, 1), NULL), "b");
    ck_assert_int_eq(pp_value_get_int(pp_value_map_val_at(m, 1)), 2);
    ck_assert_ptr_null(pp_value_map_key_at(m, 3));
    ck_assert_ptr_null(pp_value_map_val_at(m, 3));
    ck_assert_ptr_null(pp_value_at(m, 0));       /* not a list */

    pp_value *l = pp_value_list();
    pp_value *v = pp_value_int(1);
    ck_assert_int_eq(pp_value_map_set_str(l, "a", v), PP_EINVAL);
    ck_assert_int_eq(pp_value_map_set(m, NULL, v), PP_EINVAL);
    pp_value_free(v);
    pp_value_free(l);
    pp_value_free(m);
    repr_is(pp_value_map(), "{}");
}
END_TEST

START_TEST(equal)
{
    pp_value *a = pp_value_list(), *b = pp_value_tuple();
    pp_value_append(a, pp_value_int(1));
    pp_value_append(a, pp_value_string("x"));
    pp_value_append(b, pp_value_int(1));
    pp_value_append(b, pp_value_string("x"));
    ck_assert(pp_value_equal(a, b));                    /* LIST == TUPLE */
    pp_value_append(b, pp_value_null());
    ck_assert(!pp_value_equal(a, b));
    pp_value_free(a);
    pp_value_free(b);

    pp_value *i = pp_value_int(1), *d = pp_value_double(1.0), *t = pp_value_bool(true);
    ck_assert(!pp_value_equal(i, d));
    ck_assert(!pp_value_equal(i, t));
    pp_value_free(i);
    pp_value_free(d);
    pp_value_free(t);

    pp_value *s = pp_value_string("ab"), *by = pp_value_bytes("ab", 2);
    ck_assert(!pp_value_equal(s, by));
    pp_value_free(by);
    by = pp_value_string_n("ab", 2);
    ck_assert(pp_value_equal(s, by));
    pp_value_free(s);
    pp_value_free(by);

    /* maps compare like dicts: order does not matter */
    pp_value *m1 = pp_value_map(), *m2 = pp_value_map();
    pp_value_map_set_str(m1, "a", pp_value_int(1));
    pp_value_map_set_str(m1, "b", pp_value_int(2));
    pp_value_map_set_str(m2, "b", pp_value_int(2));
    pp_value_map_set_str(m2, "a", pp_value_int(1));
    ck_assert(pp_value_equal(m1, m2));
    pp_value_map_set_str(m2, "a", pp_value_int(3));
    ck_assert(!pp_value_equal(m1, m2));
    pp_value_free(m1);
    pp_value_free(m2);

    pp_value *n = pp_value_null();
    ck_assert(pp_value_equal(n, n));
    ck_assert(!pp_value_equal(n, NULL));
    pp_value_free(n);
}
END_TEST

START_TEST(repr)
{
    int64_t sq[] = {1, 4, 9};
    repr_is(pp_value_list_of_ints(sq, 3), "[1, 4, 9]");
    repr_is(pp_value_null(), "None");
    repr_is(pp_value_bool(true), "True");
    repr_is(pp_value_bool(false), "False");
    repr_is(pp_value_int(-12), "-12");
    repr_is(pp_value_double(1.5), "1.5");
    repr_is(pp_value_double(2.0), "2.0");
    repr_is(pp_value_double(0.1), "0.1");
    repr_is(pp_value_double(-0.5), "-0.5");
    repr_is(pp_value_double(1e16), "1e+16");
    repr_is(pp_value_double(1e15), "1000000000000000.0");
    repr_is(pp_value_double(1.5e-5), "1.5e-05");
    repr_is(pp_value_double(0.0001), "0.0001");
    repr_is(pp_value_double(123.456), "123.456");
    repr_is(pp_value_double(1.0 / 3), "0.3333333333333333");
    repr_is(pp_value_double(INFINITY), "inf");
    repr_is(pp_value_double(-INFINITY), "-inf");
    repr_is(pp_value_double(NAN), "nan");
    repr_is(pp_value_string("str"), "'str'");
    repr_is(pp_value_string("it's"), "\"it's\"");
    repr_is(pp_value_string("a\nb\\"), "'a\\nb\\\\'");
    repr_is(pp_value_bytes("bytes", 5), "b'bytes'");
    repr_is(pp_value_bytes("\x00\xff", 2), "b'\\x00\\xff'");
    repr_is(pp_value_pickle("ab", 2), "<pickle 2 bytes>");

    pp_value *t = pp_value_tuple();
    pp_value_append(t, pp_value_int(1));
    pp_value_append(t, pp_value_int(2));
    repr_is(t, "(1, 2)");

    pp_value *m = pp_value_map();
    pp_value_map_set_str(m, "a", pp_value_int(1));
    repr_is(m, "{'a': 1}");

    pp_value *nest = pp_value_list();
    pp_value *inner = pp_value_list();
    pp_value_append(inner, pp_value_null());
    pp_value_append(nest, inner);
    pp_value_append(nest, pp_value_map());
    pp_value_append(nest, pp_value_tuple());
    repr_is(nest, "[[None], {}, ()]");
}
END_TEST

START_TEST(copy_move)
{
    pp_value *m = pp_value_map();
    pp_value *l = pp_value_list();
    pp_value_append(l, pp_value_string("s"));
    pp_value_append(l, pp_value_bytes("b", 1));
    pp_value_map_set_str(m, "l", l);
    pp_value_map_set_str(m, "d", pp_value_double(0.25));
    pp_value *c = pp_value_copy(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, m);
    ck_assert(pp_value_equal(c, m));
    assert_repr(c, "{'l': ['s', b'b'], 'd': 0.25}");
    pp_value_free(m);                   /* the copy is independent */
    assert_repr(c, "{'l': ['s', b'b'], 'd': 0.25}");
    ck_assert_ptr_null(pp_value_copy(NULL));

    pp_value *dst = pp_value_int(1);
    pp_value_move(dst, c);              /* consumes c */
    assert_repr(dst, "{'l': ['s', b'b'], 'd': 0.25}");
    pp_value_move(dst, pp_value_string("z"));
    assert_repr(dst, "'z'");
    pp_value_free(dst);
}
END_TEST

START_TEST(deep_free)
{
    /* Freeing a very deep tree must not use the C stack per level. */
    pp_value *root = pp_value_list();
    pp_value *cur = root;
    for (int i = 0; i < 200000; i++) {
        pp_value *n = pp_value_list();
        pp_value_append(cur, n);
        cur = n;
    }
    pp_value_free(root);
}
END_TEST

START_TEST(slab_children)
{
    /* pp_value_list_of_ints carves its items from slabs: each item must
     * still behave as a node of its own. */
    int64_t ints[300];
    for (int i = 0; i < 300; i++)
        ints[i] = i;
    pp_value *l = pp_value_list_of_ints(ints, 300);
    ck_assert_uint_eq(pp_value_len(l), 300);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(l, 299)), 299);

    /* setters on a child, through at_mut, including to a heap payload */
    ck_assert_int_eq(pp_value_set_int(pp_value_at_mut(l, 0), -5), PP_OK);
    ck_assert_int_eq(pp_value_set_string(pp_value_at_mut(l, 1), "one"), PP_OK);
    ck_assert_int_eq(pp_value_set_null(pp_value_at_mut(l, 2)), PP_OK);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(l, 0)), -5);
    ck_assert_str_eq(pp_value_get_string(pp_value_at(l, 1), NULL), "one");

    /* move into a slab child (dst keeps its storage), and a container in */
    pp_value_move(pp_value_at_mut(l, 3), pp_value_double(3.5));
    ck_assert(pp_value_get_double(pp_value_at(l, 3)) == 3.5);
    pp_value *inner = pp_value_list_of_ints(ints, 40);
    pp_value_move(pp_value_at_mut(l, 4), inner);       /* consumes inner (heap node) */
    ck_assert_uint_eq(pp_value_len(pp_value_at(l, 4)), 40);

    /* move a slab child of another list into a heap value: only the
     * contents move, the node goes back to its slab */
    pp_value *other = pp_value_list_of_ints(ints, 50);
    pp_value *dst = pp_value_string("x");
    pp_value *kid = pp_value_at_mut(other, 7);
    ck_assert_int_eq(pp_value_set_int(kid, 777), PP_OK);
    /* a copy of a slab list is independent of it */
    pp_value *copy = pp_value_copy(l);
    ck_assert(pp_value_equal(copy, l));
    pp_value_free(l);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(copy, 0)), -5);
    ck_assert_str_eq(pp_value_get_string(pp_value_at(copy, 1), NULL), "one");
    ck_assert_int_eq(pp_value_get_int(pp_value_at(pp_value_at(copy, 4), 39)), 39);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(copy, 299)), 299);
    pp_value_free(copy);

    /* a slab list inside a map, replaced through map_set */
    pp_value *m = pp_value_map();
    ck_assert_int_eq(pp_value_map_set_str(m, "k", other), PP_OK);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(pp_value_map_get(m, "k"), 7)), 777);
    ck_assert_int_eq(pp_value_map_set_str(m, "k", pp_value_list_of_ints(ints, 20)), PP_OK);
    ck_assert_uint_eq(pp_value_len(pp_value_map_get(m, "k")), 20);
    pp_value_move(dst, m);
    ck_assert_uint_eq(pp_value_len(dst), 1);
    pp_value_free(dst);

    /* small and empty lists */
    pp_value *one = pp_value_list_of_ints(ints, 1);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(one, 0)), 0);
    pp_value_free(one);
    pp_value *none = pp_value_list_of_ints(NULL, 5000);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(none, 4999)), 0);
    pp_value_free(none);
}
END_TEST

START_TEST(task_fail)
{
    pp_value *r = pp_value_null();
    ck_assert_int_eq(pp_task_fail(r, "bad %d", 3), PP_ETASK);
    ck_assert_str_eq(pp_value_get_string(r, NULL), "bad 3");
    pp_value_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("value");
    TCase *tc = tcase_create("value");
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, blobs);
    tcase_add_test(tc, setters);
    tcase_add_test(tc, lists);
    tcase_add_test(tc, maps);
    tcase_add_test(tc, equal);
    tcase_add_test(tc, repr);
    tcase_add_test(tc, copy_move);
    tcase_add_test(tc, deep_free);
    tcase_add_test(tc, slab_children);
    tcase_add_test(tc, task_fail);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
