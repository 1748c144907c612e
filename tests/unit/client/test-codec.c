/* test-codec.c - pp_value trees <-> flattened Values. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "polypool.h"

#define K(x) POLYPOOL__V1__KIND__KIND_##x

/* Encodes v alone, packs, unpacks and decodes; returns the decoded tree. */
static pp_value *round_trip(const pp_value *v)
{
    codec_enc e;
    codec_enc_init(&e);
    ck_assert_int_eq(codec_enc_value(&e, v), PP_OK);
    Polypool__V1__Values msg;
    codec_enc_msg(&e, &msg);
    size_t n = polypool__v1__values__get_packed_size(&msg);
    uint8_t *buf = malloc(n + 1);
    polypool__v1__values__pack(&msg, buf);
    codec_enc_fini(&e);
    Polypool__V1__Values *u = polypool__v1__values__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(u);
    size_t count = 99;
    ck_assert_int_eq(codec_count(u, &count), PP_OK);
    ck_assert_uint_eq(count, 1);
    codec_dec d;
    codec_dec_init(&d, u);
    pp_value *out = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &out), PP_OK);
    pp_value *none = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &none), PP_EEOF);
    polypool__v1__values__free_unpacked(u, NULL);
    free(buf);
    return out;
}

static void assert_repr(const pp_value *v, const char *want)
{
    char *r = pp_value_repr(v);
    ck_assert_str_eq(r, want);
    free(r);
}

START_TEST(nested_round_trip)
{
    pp_value *m = pp_value_map();
    pp_value *l = pp_value_list();
    pp_value_append(l, pp_value_int(-5));
    pp_value_append(l, pp_value_double(2.5));
    pp_value_append(l, pp_value_list());
    pp_value_append(l, pp_value_map());
    pp_value_append(l, pp_value_tuple());
    pp_value_append(l, pp_value_null());
    pp_value_append(l, pp_value_bool(true));
    pp_value_map_set_str(m, "list", l);
    pp_value_map_set_str(m, "nul", pp_value_string_n("a\0b", 3));
    pp_value_map_set_str(m, "bytes", pp_value_bytes("\x00\x01\xff", 3));
    pp_value_map_set_str(m, "pickle", pp_value_pickle("\x80\x04.", 3));
    pp_value *t = pp_value_tuple();
    pp_value_append(t, pp_value_int(INT64_MIN));
    pp_value_append(t, pp_value_int(INT64_MAX));
    pp_value_map_set(m, pp_value_int(1), t);

    pp_value *back = round_trip(m);
    ck_assert(pp_value_equal(back, m));
    assert_repr(back, "{'list': [-5, 2.5, [], {}, (), None, True], 'nul': 'a\\x00b', "
                      "'bytes': b'\\x00\\x01\\xff', 'pickle': <pickle 3 bytes>, "
                      "1: (-9223372036854775808, 9223372036854775807)}");
    /* kinds survive: TUPLE stays TUPLE, PICKLE stays PICKLE */
    ck_assert_int_eq(pp_value_kind(pp_value_map_get(back, "pickle")), PP_PICKLE);
    ck_assert_int_eq(pp_value_kind(pp_value_map_val_at(back, 4)), PP_TUPLE);
    size_t len;
    const char *s = pp_value_get_string(pp_value_map_get(back, "nul"), &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(s, "a\0b", 3) == 0);
    pp_value_free(back);
    pp_value_free(m);

    pp_value *empty = pp_value_list();
    back = round_trip(empty);
    ck_assert_int_eq(pp_value_kind(back), PP_LIST);
    ck_assert_uint_eq(pp_value_len(back), 0);
    pp_value_free(back);
    pp_value_free(empty);

    pp_value *scalar = pp_value_string("");
    back = round_trip(scalar);
    ck_assert(pp_value_equal(back, scalar));
    pp_value_free(back);
    pp_value_free(scalar);
}
END_TEST

START_TEST(proto_example)
{
    /* The two top-level values 7 and [1, "a"]. */
    codec_enc e;
    codec_enc_init(&e);
    pp_value *seven = pp_value_int(7);
    pp_value *l = pp_value_list();
    pp_value_append(l, pp_value_int(1));
    pp_value_append(l, pp_value_string("a"));
    ck_assert_int_eq(codec_enc_value(&e, seven), PP_OK);
    ck_assert_int_eq(codec_enc_value(&e, l), PP_OK);
    ck_assert_uint_eq(e.n_values, 2);
    Polypool__V1__Values msg;
    codec_enc_msg(&e, &msg);
    ck_assert_uint_eq(msg.n_kinds, 4);
    ck_assert_int_eq(msg.kinds[0], K(INT));
    ck_assert_int_eq(msg.kinds[1], K(LIST));
    ck_assert_int_eq(msg.kinds[2], K(INT));
    ck_assert_int_eq(msg.kinds[3], K(STRING));
    ck_assert_uint_eq(msg.n_ints, 2);
    ck_assert_int_eq(msg.ints[0], 7);
    ck_assert_int_eq(msg.ints[1], 1);
    ck_assert_uint_eq(msg.n_counts, 1);
    ck_assert_uint_eq(msg.counts[0], 2);
    ck_assert_uint_eq(msg.n_blobs, 1);
    ck_assert_uint_eq(msg.blobs[0].len, 1);
    ck_assert_int_eq(msg.blobs[0].data[0], 'a');
    ck_assert_uint_eq(msg.n_reals, 0);
    ck_assert_uint_eq(msg.n_handles, 0);

    size_t n = 0;
    ck_assert_int_eq(codec_count(&msg, &n), PP_OK);
    ck_assert_uint_eq(n, 2);
    codec_dec d;
    codec_dec_init(&d, &msg);
    pp_value *a = NULL, *b = NULL, *c = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &a), PP_OK);
    ck_assert_int_eq(codec_dec_skip(&d), PP_OK);
    ck_assert_int_eq(codec_dec_next(&d, &c), PP_EEOF);
    assert_repr(a, "7");
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_skip(&d), PP_OK);
    ck_assert_int_eq(codec_dec_next(&d, &b), PP_OK);
    assert_repr(b, "[1, 'a']");
    pp_value_free(a);
    pp_value_free(b);

    /* reset keeps memory and empties */
    codec_enc_reset(&e);
    ck_assert_uint_eq(e.n_kinds, 0);
    ck_assert_int_eq(codec_enc_nulls(&e, 3), PP_OK);
    codec_enc_msg(&e, &msg);
    ck_assert_int_eq(codec_count(&msg, &n), PP_OK);
    ck_assert_uint_eq(n, 3);
    codec_enc_fini(&e);
    pp_value_free(seven);
    pp_value_free(l);
}
END_TEST

static pp_value *nested(int depth)
{
    pp_value *root = pp_value_list(), *cur = root;
    for (int i = 1; i < depth; i++) {
        pp_value *n = pp_value_list();
        pp_value_append(cur, n);
        cur = n;
    }
    return root;
}

START_TEST(depth_limit)
{
    codec_enc e;
    codec_enc_init(&e);
    pp_value *ok = nested(CODEC_MAX_DEPTH);
    ck_assert_int_eq(codec_enc_value(&e, ok), PP_OK);
    pp_value *back = round_trip(ok);
    ck_assert(pp_value_equal(back, ok));
    pp_value_free(back);
    pp_value_free(ok);

    pp_value *deep = nested(CODEC_MAX_DEPTH + 1);
    size_t before = e.n_kinds;
    ck_assert_int_eq(codec_enc_value(&e, deep), PP_EINVAL);
    ck_assert_uint_eq(e.n_kinds, before);           /* unchanged on failure */
    pp_value_free(deep);
    codec_enc_fini(&e);

    /* A hand-made message 65 lists deep. */
    Polypool__V1__Kind kinds[CODEC_MAX_DEPTH + 1];
    uint32_t counts[CODEC_MAX_DEPTH + 1];
    for (int i = 0; i <= CODEC_MAX_DEPTH; i++) {
        kinds[i] = K(LIST);
        counts[i] = i == CODEC_MAX_DEPTH ? 0 : 1;
    }
    Polypool__V1__Values msg = POLYPOOL__V1__VALUES__INIT;
    msg.n_kinds = CODEC_MAX_DEPTH + 1;
    msg.kinds = kinds;
    msg.n_counts = CODEC_MAX_DEPTH + 1;
    msg.counts = counts;
    codec_dec d;
    codec_dec_init(&d, &msg);
    pp_value *v = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(codec_count(&msg, NULL), PP_EPROTO);
    /* 64 deep is fine */
    msg.n_kinds = CODEC_MAX_DEPTH;
    msg.n_counts = CODEC_MAX_DEPTH;
    counts[CODEC_MAX_DEPTH - 1] = 0;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_OK);
    pp_value_free(v);
}
END_TEST

START_TEST(malformed)
{
    Polypool__V1__Values msg = POLYPOOL__V1__VALUES__INIT;
    codec_dec d;
    pp_value *v = NULL;

    /* an INT with no ints */
    Polypool__V1__Kind k1[] = {K(INT)};
    msg.n_kinds = 1;
    msg.kinds = k1;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);
    ck_assert_int_eq(codec_count(&msg, NULL), PP_EPROTO);

    /* a LIST of 2 with only one item after it */
    Polypool__V1__Kind k2[] = {K(LIST), K(INT)};
    int64_t ints[] = {1, 2};
    uint32_t counts[] = {2};
    msg.n_kinds = 2;
    msg.kinds = k2;
    msg.n_ints = 1;
    msg.ints = ints;
    msg.n_counts = 1;
    msg.counts = counts;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);

    /* a huge count is refused before allocating */
    uint32_t big[] = {0xffffffffu};
    msg.counts = big;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);

    /* a MAP of 1 pair with only a key */
    Polypool__V1__Kind k3[] = {K(MAP), K(INT)};
    uint32_t one[] = {1};
    msg.kinds = k3;
    msg.counts = one;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);

    /* an unknown kind */
    Polypool__V1__Kind k4[] = {(Polypool__V1__Kind)42};
    msg = (Polypool__V1__Values)POLYPOOL__V1__VALUES__INIT;
    msg.n_kinds = 1;
    msg.kinds = k4;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);

    /* leftover array elements: an INT and two ints */
    msg.kinds = k1;
    msg.n_ints = 2;
    msg.ints = ints;
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_OK);
    pp_value_free(v);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);
    ck_assert_int_eq(codec_count(&msg, NULL), PP_EPROTO);

    /* leftover blobs with no kinds at all */
    ProtobufCBinaryData blobs[] = {{1, (uint8_t *)"x"}};
    msg = (Polypool__V1__Values)POLYPOOL__V1__VALUES__INIT;
    msg.n_blobs = 1;
    msg.blobs = blobs;
    ck_assert_int_eq(codec_count(&msg, NULL), PP_EPROTO);

    /* an empty message holds zero values */
    msg = (Polypool__V1__Values)POLYPOOL__V1__VALUES__INIT;
    size_t n = 9;
    ck_assert_int_eq(codec_count(&msg, &n), PP_OK);
    ck_assert_uint_eq(n, 0);
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EEOF);
    codec_dec_init(&d, NULL);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EEOF);
}
END_TEST

START_TEST(handles_round_trip)
{
    /* A handle decodes as PP_HANDLE with every field, and encodes back. */
    Polypool__V1__Kind kinds[] = {K(LIST), K(HANDLE)};
    uint32_t counts[] = {1};
    Polypool__V1__Handle h = POLYPOOL__V1__HANDLE__INIT;
    h.type = PP_H_VALUE;
    h.id = 7;
    h.name = "/polypool.1.2.7";
    h.offset = 64;
    h.size = 128;
    h.typecode = "d";
    h.count = 8;
    h.lock_type = PP_H_RLOCK;
    h.lock_id = 7;
    h.lock_name = "/polypool.1.2.7";
    h.lock_size = 128;
    Polypool__V1__Handle *hs[] = {&h};
    Polypool__V1__Values msg = POLYPOOL__V1__VALUES__INIT;
    msg.n_kinds = 2;
    msg.kinds = kinds;
    msg.n_counts = 1;
    msg.counts = counts;
    msg.n_handles = 1;
    msg.handles = hs;
    size_t n = 0;
    ck_assert_int_eq(codec_count(&msg, &n), PP_OK);
    ck_assert_uint_eq(n, 1);
    codec_dec d;
    codec_dec_init(&d, &msg);
    pp_value *v = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_OK);
    ck_assert_int_eq(pp_value_handle_type(pp_value_at(v, 0)), PP_H_VALUE);
    codec_enc e;
    codec_enc_init(&e);
    ck_assert_int_eq(codec_enc_value(&e, v), PP_OK);
    Polypool__V1__Values out;
    codec_enc_msg(&e, &out);
    ck_assert_uint_eq(out.n_handles, 1);
    const Polypool__V1__Handle *o = out.handles[0];
    ck_assert_uint_eq(o->type, PP_H_VALUE);
    ck_assert_uint_eq(o->id, 7);
    ck_assert_str_eq(o->name, "/polypool.1.2.7");
    ck_assert_uint_eq(o->offset, 64);
    ck_assert_uint_eq(o->size, 128);
    ck_assert_str_eq(o->typecode, "d");
    ck_assert_uint_eq(o->count, 8);
    ck_assert_uint_eq(o->lock_type, PP_H_RLOCK);
    ck_assert_str_eq(o->lock_name, "/polypool.1.2.7");
    pp_value *back = NULL;
    codec_dec_init(&d, &out);
    ck_assert_int_eq(codec_dec_next(&d, &back), PP_OK);
    ck_assert(pp_value_equal(v, back));
    pp_value *copy = pp_value_copy(v);
    ck_assert(pp_value_equal(v, copy));
    pp_value_free(copy);
    pp_value_free(back);
    codec_enc_fini(&e);
    pp_value_free(v);
    /* a handle kind with no handle left */
    msg.n_handles = 0;
    ck_assert_int_eq(codec_count(&msg, NULL), PP_EPROTO);
    codec_dec_init(&d, &msg);
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EPROTO);
}
END_TEST

START_TEST(many_ints)
{
    /* A million ints: the encoder grows geometrically and round-trips. */
    size_t n = 1000000;
    int64_t *ints = malloc(n * sizeof *ints);
    for (size_t i = 0; i < n; i++)
        ints[i] = (int64_t)i * 3 - 7;
    pp_value *l = pp_value_list_of_ints(ints, n);
    codec_enc e;
    codec_enc_init(&e);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += codec_enc_value(&e, pp_value_at(l, i)) != PP_OK;
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(e.n_values, n);
    ck_assert_uint_eq(e.n_kinds, n);
    ck_assert_uint_eq(e.n_ints, n);
    Polypool__V1__Values msg;
    codec_enc_msg(&e, &msg);
    codec_dec d;
    codec_dec_init(&d, &msg);
    for (size_t i = 0; i < n; i++) {
        pp_value *v = NULL;
        bad += codec_dec_next(&d, &v) != PP_OK || pp_value_get_int(v) != ints[i];
        pp_value_free(v);
    }
    ck_assert_uint_eq(bad, 0);
    pp_value *v = NULL;
    ck_assert_int_eq(codec_dec_next(&d, &v), PP_EEOF);
    codec_enc_fini(&e);
    pp_value_free(l);
    free(ints);
}
END_TEST

/* Decodes every tree of e's message with a slab decoder into out[]. */
static size_t slab_decode_all(codec_enc *e, pp_value **out, size_t max)
{
    Polypool__V1__Values msg;
    codec_enc_msg(e, &msg);
    codec_dec d;
    codec_dec_init(&d, &msg);
    codec_dec_use_slabs(&d);
    size_t n = 0;
    pp_value *v = NULL;
    pp_status st;
    while (n < max && (st = codec_dec_next(&d, &v)) == PP_OK)
        out[n++] = v;
    codec_dec_fini(&d);
    codec_dec_fini(&d);                 /* harmless twice */
    return n;
}

START_TEST(slab_decode)
{
    /* 600 top-level ints, a list of 200 ints, a map with a list, strings */
    codec_enc e;
    codec_enc_init(&e);
    for (int i = 0; i < 600; i++) {
        pp_value *x = pp_value_int(i);
        ck_assert_int_eq(codec_enc_value(&e, x), PP_OK);
        pp_value_free(x);
    }
    pp_value *l = pp_value_list();
    for (int i = 0; i < 200; i++)
        pp_value_append(l, pp_value_int(1000 + i));
    ck_assert_int_eq(codec_enc_value(&e, l), PP_OK);
    pp_value *m = pp_value_map();
    pp_value_map_set_str(m, "a", pp_value_int(1));
    pp_value_map_set_str(m, "b", pp_value_copy(l));
    pp_value_map_set_str(m, "s", pp_value_string("str"));
    ck_assert_int_eq(codec_enc_value(&e, m), PP_OK);
    pp_value *str = pp_value_bytes("xyz", 3);
    ck_assert_int_eq(codec_enc_value(&e, str), PP_OK);

    pp_value *out[1000];
    size_t n = slab_decode_all(&e, out, 1000);
    codec_enc_fini(&e);                 /* the values outlive the message */
    ck_assert_uint_eq(n, 603);
    for (int i = 0; i < 600; i++)
        ck_assert_int_eq(pp_value_get_int(out[i]), i);
    pp_value *dl = out[600], *dm = out[601], *ds = out[602];
    ck_assert(pp_value_equal(dl, l));
    ck_assert(pp_value_equal(dm, m));
    ck_assert(pp_value_equal(ds, str));

    /* free some top-level slab values early, in no particular order */
    for (int i = 0; i < 600; i += 3)
        pp_value_free(out[i]);

    /* set_int and set_string on a slab child through at_mut */
    ck_assert_int_eq(pp_value_set_int(pp_value_at_mut(dl, 5), -1), PP_OK);
    ck_assert_int_eq(pp_value_set_string(pp_value_at_mut(dl, 6), "six"), PP_OK);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(dl, 5)), -1);
    ck_assert_str_eq(pp_value_get_string(pp_value_at(dl, 6), NULL), "six");

    /* map_set replacing slab values (a scalar and a list) with heap ones */
    ck_assert_int_eq(pp_value_map_set_str(dm, "a", pp_value_string("A")), PP_OK);
    ck_assert_int_eq(pp_value_map_set_str(dm, "b", pp_value_int(2)), PP_OK);
    ck_assert_str_eq(pp_value_get_string(pp_value_map_get(dm, "a"), NULL), "A");
    ck_assert_int_eq(pp_value_get_int(pp_value_map_get(dm, "b")), 2);
    ck_assert_str_eq(pp_value_get_string(pp_value_map_get(dm, "s"), NULL), "str");

    /* a copy of a decoded list survives the original */
    pp_value *copy = pp_value_copy(dl);
    ck_assert(pp_value_equal(copy, dl));
    pp_value_free(dl);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(copy, 5)), -1);
    ck_assert_str_eq(pp_value_get_string(pp_value_at(copy, 6), NULL), "six");
    ck_assert_int_eq(pp_value_get_int(pp_value_at(copy, 199)), 1199);

    /* move a slab value into a heap node, and a heap value into a slab one */
    pp_value *dst = pp_value_null();
    pp_value_move(dst, out[1]);         /* consumes out[1] */
    ck_assert_int_eq(pp_value_get_int(dst), 1);
    pp_value_move(out[2], copy);        /* out[2] now holds the list */
    ck_assert_uint_eq(pp_value_len(out[2]), 200);
    pp_value_move(dst, out[4]);         /* slab into heap again */
    ck_assert_int_eq(pp_value_get_int(dst), 4);
    pp_value_free(dst);
    pp_value_free(out[2]);

    for (int i = 5; i < 600; i++)
        if (i % 3 && i != 1 && i != 2 && i != 4)
            pp_value_free(out[i]);
    pp_value_free(dm);
    pp_value_free(ds);
    pp_value_free(l);
    pp_value_free(m);
    pp_value_free(str);
}
END_TEST

typedef struct free_job {
    pp_value **vals;
    size_t n;
} free_job;

static void *free_half(void *arg)
{
    free_job *j = arg;
    for (size_t i = 0; i < j->n; i += 2)
        pp_value_free(j->vals[i]);
    return NULL;
}

START_TEST(slab_free_threads)
{
    /* Nodes of one slab freed on two threads at once. */
    enum { N = 20000 };
    codec_enc e;
    codec_enc_init(&e);
    for (int i = 0; i < N; i++) {
        pp_value *x = pp_value_int(i);
        ck_assert_int_eq(codec_enc_value(&e, x), PP_OK);
        pp_value_free(x);
    }
    pp_value **vals = malloc(N * sizeof *vals);
    ck_assert_uint_eq(slab_decode_all(&e, vals, N), N);
    codec_enc_fini(&e);
    free_job j = {vals, N};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_half, &j), 0);
    for (size_t i = 1; i < N; i += 2)
        pp_value_free(vals[i]);
    pthread_join(t, NULL);
    free(vals);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, nested_round_trip);
    tcase_add_test(tc, proto_example);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, handles_round_trip);
    tcase_add_test(tc, many_ints);
    tcase_add_test(tc, slab_decode);
    tcase_add_test(tc, slab_free_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
