/* test-wire.c - wire.c: Values checking and slicing into worker tasks,
 * worker frame decoding, daemon-made error batches, and replies written
 * around stored batch bytes (decoded back with protobuf-c). */
#define WIRE_PROTOBUF 1
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define K(x) POLYPOOL__V1__KIND__KIND_##x

/* A Request{submit{items = v}} packed and unpacked through the budgeted
 * allocator, as the server does. */
static struct wire_req *submit_req(const Polypool__V1__Values *v, size_t budget)
{
    Polypool__V1__Submit sub = POLYPOOL__V1__SUBMIT__INIT;
    sub.job_id = 9;
    sub.items = (Polypool__V1__Values *)v;
    Polypool__V1__Request rq = POLYPOOL__V1__REQUEST__INIT;
    rq.id = 3;
    rq.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    rq.submit = &sub;
    size_t n = polypool__v1__request__get_packed_size(&rq);
    uint8_t *buf = malloc(n);
    polypool__v1__request__pack(&rq, buf);
    struct wire_req *r = wire_req_unpack(buf, n, budget);
    free(buf);
    return r;
}

/* Items: 7, [1, "a"], 2.5, {"k": null}, "s" */
static Polypool__V1__Kind kinds5[] = { K(INT), K(LIST), K(INT), K(STRING), K(DOUBLE),
                                       K(MAP), K(STRING), K(NULL), K(STRING) };
static int64_t ints5[] = { 7, 1 };
static double reals5[] = { 2.5 };
static uint32_t counts5[] = { 2, 1 };
static ProtobufCBinaryData blobs5[] = { { 1, (uint8_t *)"a" }, { 1, (uint8_t *)"k" },
                                        { 1, (uint8_t *)"s" } };

static void values5(Polypool__V1__Values *v)
{
    polypool__v1__values__init(v);
    v->n_kinds = 9;
    v->kinds = kinds5;
    v->n_ints = 2;
    v->ints = ints5;
    v->n_reals = 1;
    v->reals = reals5;
    v->n_counts = 2;
    v->counts = counts5;
    v->n_blobs = 3;
    v->blobs = blobs5;
}

START_TEST(values_check_good)
{
    Polypool__V1__Values v;
    values5(&v);
    size_t n = 0;
    const char *why = NULL;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), 0);
    ck_assert_uint_eq(n, 5);
    /* With star every item must be a list. */
    ck_assert_int_eq(wire_values_check(&v, true, &n, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "star"));
    ck_assert_int_eq(wire_values_check(NULL, false, &n, &why), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(values_check_bad)
{
    Polypool__V1__Values v;
    size_t n;
    const char *why;
    /* An INT with no int. */
    values5(&v);
    v.n_ints = 1;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), -1);
    /* Leftover ints. */
    values5(&v);
    int64_t more[] = { 7, 1, 5 };
    v.ints = more;
    v.n_ints = 3;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "unconsumed"));
    /* A list whose count runs past the kinds. */
    values5(&v);
    uint32_t c2[] = { 50, 1 };
    v.counts = c2;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), -1);
    /* An unknown kind. */
    Polypool__V1__Kind bad[] = { (Polypool__V1__Kind)77 };
    polypool__v1__values__init(&v);
    v.n_kinds = 1;
    v.kinds = bad;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), -1);
    /* 65 nested lists is too deep, 64 is fine. */
    Polypool__V1__Kind deep[70];
    uint32_t dc[70];
    for (int i = 0; i < 70; i++) {
        deep[i] = K(LIST);
        dc[i] = 1;
    }
    polypool__v1__values__init(&v);
    v.kinds = deep;
    v.counts = dc;
    v.n_kinds = v.n_counts = 65;
    dc[64] = 0;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), 0);
    ck_assert_uint_eq(n, 1);
    v.n_kinds = v.n_counts = 66;
    dc[64] = 1;
    dc[65] = 0;
    ck_assert_int_eq(wire_values_check(&v, false, &n, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "64"));
}
END_TEST

static Polypool__V1__WorkerMsg *unpack_frame(const struct buf *b, size_t *off)
{
    const uint8_t *p = b->data + *off;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    Polypool__V1__WorkerMsg *m = polypool__v1__worker_msg__unpack(NULL, len, p + 4);
    *off += 4 + len;
    return m;
}

START_TEST(task_slices)
{
    Polypool__V1__Values v;
    values5(&v);
    struct wire_req *r = submit_req(&v, 1 << 20);
    ck_assert_ptr_nonnull(r);
    size_t n;
    const char *why;
    ck_assert_int_eq(wire_values_check(r->msg->submit->items, false, &n, &why), 0);
    wire_items *it = wire_items_adopt(r, r->msg->submit->items, n);
    wire_req_free(r);
    ck_assert_uint_eq(wire_items_count(it), 5);
    /* Tasks of 2: [7, [1,"a"]], [2.5, {"k":null}], ["s"]. */
    struct wire_cursor c = { 0 }, from;
    struct buf out;
    buf_init(&out);
    for (int t = 0; t < 3; t++) {
        from = c;
        wire_items_advance(it, &c, t == 2 ? 1 : 2);
        ck_assert_int_eq(wire_pack_task(&out, 100 + t, 9, 2 * t, "/lib.so", "fn", false, false, it,
                                        &from, &c), 0);
    }
    ck_assert_uint_eq(c.k, 9);
    ck_assert_uint_eq(c.b, 3);
    size_t off = 0;
    Polypool__V1__WorkerMsg *m = unpack_frame(&out, &off);
    ck_assert_int_eq(m->msg_case, POLYPOOL__V1__WORKER_MSG__MSG_TASK);
    ck_assert_uint_eq(m->task->task_id, 100);
    ck_assert_uint_eq(m->task->job_id, 9);
    ck_assert_uint_eq(m->task->first, 0);
    ck_assert_str_eq(m->task->function->c->library, "/lib.so");
    ck_assert_str_eq(m->task->function->c->symbol, "fn");
    Polypool__V1__Values *iv = m->task->items;
    ck_assert_uint_eq(iv->n_kinds, 4);
    ck_assert_uint_eq(iv->n_ints, 2);
    ck_assert_int_eq(iv->ints[1], 1);
    ck_assert_uint_eq(iv->n_counts, 1);
    ck_assert_uint_eq(iv->n_blobs, 1);
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    m = unpack_frame(&out, &off);
    iv = m->task->items;
    ck_assert_uint_eq(m->task->first, 2);
    ck_assert_uint_eq(iv->n_kinds, 4);
    ck_assert_int_eq(iv->kinds[0], K(DOUBLE));
    ck_assert(iv->reals[0] == 2.5);
    ck_assert_uint_eq(iv->n_counts, 1);
    ck_assert_uint_eq(iv->counts[0], 1);
    ck_assert_uint_eq(iv->n_blobs, 1);
    ck_assert_int_eq(iv->blobs[0].data[0], 'k');
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    m = unpack_frame(&out, &off);
    iv = m->task->items;
    ck_assert_uint_eq(m->task->first, 4);
    ck_assert_uint_eq(iv->n_kinds, 1);
    ck_assert_uint_eq(iv->n_ints, 0);
    ck_assert_int_eq(iv->blobs[0].data[0], 's');
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    ck_assert_uint_eq(off, out.len);
    buf_fini(&out);
    wire_items_unref(it);
}
END_TEST

START_TEST(budget_refuses)
{
    /* 10000 ints unpack into ~80 KB: a 16 KB budget refuses cleanly. */
    enum { N = 10000 };
    static Polypool__V1__Kind k[N];
    static int64_t ints[N];
    for (int i = 0; i < N; i++) {
        k[i] = K(INT);
        ints[i] = i;
    }
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    v.n_kinds = v.n_ints = N;
    v.kinds = k;
    v.ints = ints;
    ck_assert_ptr_null(submit_req(&v, 16 << 10));
    struct wire_req *r = submit_req(&v, 1 << 20);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_gt(r->used, 0);
    wire_req_free(r);
    /* Garbage does not decode. */
    ck_assert_ptr_null(wire_req_unpack("\xff\xff\xff", 3, 1 << 20));
}
END_TEST

START_TEST(wmsg_decode)
{
    struct wire_wmsg m;
    /* A result: the batch is found in place. */
    uint8_t batch[] = { 0x08, 0x2a, 0x10, 0x03 };
    Polypool__V1__WorkerResult wr = POLYPOOL__V1__WORKER_RESULT__INIT;
    wr.task_id = 123456789;
    wr.batch.data = batch;
    wr.batch.len = sizeof batch;
    Polypool__V1__WorkerMsg w = POLYPOOL__V1__WORKER_MSG__INIT;
    w.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_RESULT;
    w.result = &wr;
    uint8_t buf[256];
    size_t n = polypool__v1__worker_msg__pack(&w, buf);
    ck_assert_int_eq(wire_wmsg_decode(buf, n, &m), 0);
    ck_assert_int_eq(m.type, WMSG_RESULT);
    ck_assert_uint_eq(m.task_id, 123456789);
    ck_assert_uint_eq(m.batch_len, sizeof batch);
    ck_assert_mem_eq(buf + m.batch_off, batch, sizeof batch);
    wire_wmsg_fini(&m);
    /* Hello. */
    Polypool__V1__WorkerHello h = POLYPOOL__V1__WORKER_HELLO__INIT;
    h.pid = 4242;
    h.version = 1;
    w.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_HELLO;
    w.hello = &h;
    n = polypool__v1__worker_msg__pack(&w, buf);
    ck_assert_int_eq(wire_wmsg_decode(buf, n, &m), 0);
    ck_assert_int_eq(m.type, WMSG_HELLO);
    ck_assert_uint_eq(m.pid, 4242);
    wire_wmsg_fini(&m);
    /* InitDone with an error. */
    Polypool__V1__TaskError te = POLYPOOL__V1__TASK_ERROR__INIT;
    te.status = POLYPOOL__V1__STATUS__STATUS_ENOSYM;
    te.message = "no such symbol";
    Polypool__V1__WorkerInitDone d = POLYPOOL__V1__WORKER_INIT_DONE__INIT;
    d.error = &te;
    w.msg_case = POLYPOOL__V1__WORKER_MSG__MSG_INIT_DONE;
    w.init_done = &d;
    n = polypool__v1__worker_msg__pack(&w, buf);
    ck_assert_int_eq(wire_wmsg_decode(buf, n, &m), 0);
    ck_assert_int_eq(m.type, WMSG_INIT_DONE);
    ck_assert_int_eq(m.err_status, WS_ENOSYM);
    ck_assert_str_eq(m.err_message, "no such symbol");
    wire_wmsg_fini(&m);
    /* InitDone without error. */
    d.error = NULL;
    n = polypool__v1__worker_msg__pack(&w, buf);
    ck_assert_int_eq(wire_wmsg_decode(buf, n, &m), 0);
    ck_assert_int_eq(m.type, WMSG_INIT_DONE);
    ck_assert_int_eq(m.err_status, 0);
    wire_wmsg_fini(&m);
    /* Truncated and garbage frames are refused. */
    ck_assert_int_eq(wire_wmsg_decode((const uint8_t *)"\x2a\x10\x08", 3, &m), -1);
    ck_assert_int_eq(wire_wmsg_decode((const uint8_t *)"\xff\xff\xff", 3, &m), -1);
}
END_TEST

START_TEST(error_batch)
{
    struct wire_error e = { .status = WS_EWORKER, .message = "worker 12 killed by signal 11 (SIGSEGV)",
                            .where = "worker 12, lib:fn, items 5..7", .signal = 11 };
    size_t len = 0;
    uint8_t *b = wire_error_batch(77, 5, 3, &e, "out", 3, "err!", 4, &len);
    ck_assert_ptr_nonnull(b);
    Polypool__V1__ResultBatch *rb = polypool__v1__result_batch__unpack(NULL, len, b);
    ck_assert_ptr_nonnull(rb);
    ck_assert_uint_eq(rb->job_id, 77);
    ck_assert_uint_eq(rb->first, 5);
    ck_assert_uint_eq(rb->count, 3);
    ck_assert_uint_eq(rb->values->n_kinds, 3);
    ck_assert_int_eq(rb->values->kinds[2], K(NULL));
    ck_assert_uint_eq(rb->n_errors, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(rb->errors[i]->index, 5 + (uint64_t)i);
        ck_assert_int_eq(rb->errors[i]->status, POLYPOOL__V1__STATUS__STATUS_EWORKER);
        ck_assert_int_eq(rb->errors[i]->signal, 11);
        ck_assert_str_eq(rb->errors[i]->message, "worker 12 killed by signal 11 (SIGSEGV)");
    }
    ck_assert_uint_eq(rb->out.len, 3);
    ck_assert_uint_eq(rb->err.len, 4);
    polypool__v1__result_batch__free_unpacked(rb, NULL);
    free(b);
}
END_TEST

static uint8_t *batch_bytes(uint64_t job, uint64_t first, uint64_t count, size_t *len)
{
    Polypool__V1__ResultBatch b = POLYPOOL__V1__RESULT_BATCH__INIT;
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind k[8];
    int64_t ints[8];
    for (uint64_t i = 0; i < count; i++) {
        k[i] = K(INT);
        ints[i] = (int64_t)((first + i) * (first + i));
    }
    v.n_kinds = v.n_ints = count;
    v.kinds = k;
    v.ints = ints;
    b.job_id = job;
    b.first = first;
    b.count = count;
    b.values = &v;
    *len = polypool__v1__result_batch__get_packed_size(&b);
    uint8_t *p = malloc(*len);
    polypool__v1__result_batch__pack(&b, p);
    return p;
}

START_TEST(collect_reply)
{
    size_t l1, l2;
    uint8_t *b1 = batch_bytes(4, 0, 2, &l1), *b2 = batch_bytes(4, 2, 3, &l2);
    struct wire_blob blobs[] = { { b1, l1 }, { b2, l2 } };
    uint64_t done[] = { 4, 300 };
    size_t n = wire_reply_collect(NULL, 99, blobs, 2, done, 2);
    uint8_t *buf = malloc(n);
    ck_assert_uint_eq(wire_reply_collect(buf, 99, blobs, 2, done, 2), n);
    Polypool__V1__Reply *r = polypool__v1__reply__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 99);
    ck_assert_int_eq(r->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(r->result_case, POLYPOOL__V1__REPLY__RESULT_COLLECT);
    ck_assert_uint_eq(r->collect->n_batches, 2);
    ck_assert_uint_eq(r->collect->batches[1]->first, 2);
    ck_assert_uint_eq(r->collect->batches[1]->count, 3);
    ck_assert_int_eq(r->collect->batches[1]->values->ints[2], 16);
    ck_assert_uint_eq(r->collect->n_done, 2);
    ck_assert_uint_eq(r->collect->done[1], 300);
    polypool__v1__reply__free_unpacked(r, NULL);
    free(buf);

    /* An empty collect still carries the (empty) result. */
    n = wire_reply_collect(NULL, 0, NULL, 0, NULL, 0);
    buf = malloc(n);
    wire_reply_collect(buf, 0, NULL, 0, NULL, 0);
    r = polypool__v1__reply__unpack(NULL, n, buf);
    ck_assert_int_eq(r->result_case, POLYPOOL__V1__REPLY__RESULT_COLLECT);
    ck_assert_uint_eq(r->collect->n_batches, 0);
    polypool__v1__reply__free_unpacked(r, NULL);
    free(buf);

    /* Submit replies, with and without results. */
    n = wire_reply_submit(NULL, 7, 4, 5, true, blobs, 2, done, 1);
    buf = malloc(n);
    wire_reply_submit(buf, 7, 4, 5, true, blobs, 2, done, 1);
    r = polypool__v1__reply__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 7);
    ck_assert_int_eq(r->result_case, POLYPOOL__V1__REPLY__RESULT_SUBMIT);
    ck_assert_uint_eq(r->submit->job_id, 4);
    ck_assert_uint_eq(r->submit->received, 5);
    ck_assert_ptr_nonnull(r->submit->results);
    ck_assert_uint_eq(r->submit->results->n_batches, 2);
    ck_assert_uint_eq(r->submit->results->n_done, 1);
    polypool__v1__reply__free_unpacked(r, NULL);
    free(buf);
    n = wire_reply_submit(NULL, 8, 4, 0, false, NULL, 0, NULL, 0);
    buf = malloc(n);
    wire_reply_submit(buf, 8, 4, 0, false, NULL, 0, NULL, 0);
    r = polypool__v1__reply__unpack(NULL, n, buf);
    ck_assert_int_eq(r->result_case, POLYPOOL__V1__REPLY__RESULT_SUBMIT);
    ck_assert_ptr_null(r->submit->results);
    polypool__v1__reply__free_unpacked(r, NULL);
    free(buf);
    free(b1);
    free(b2);
}
END_TEST

START_TEST(init_and_exit_frames)
{
    struct buf out;
    buf_init(&out);
    Polypool__V1__Values args = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind k[] = { K(LIST), K(INT) };
    int64_t i1[] = { 5 };
    uint32_t c1[] = { 1 };
    args.n_kinds = 2;
    args.kinds = k;
    args.n_ints = 1;
    args.ints = i1;
    args.n_counts = 1;
    args.counts = c1;
    size_t alen;
    uint8_t *packed = wire_values_pack(&args, &alen);
    ck_assert_int_eq(wire_pack_init(&out, 3, "/l.so", "init", false, packed, alen), 0);
    ck_assert_int_eq(wire_pack_init(&out, 4, NULL, NULL, false, NULL, 0), 0);
    ck_assert_int_eq(wire_pack_exit(&out), 0);
    free(packed);
    size_t off = 0;
    Polypool__V1__WorkerMsg *m = unpack_frame(&out, &off);
    ck_assert_int_eq(m->msg_case, POLYPOOL__V1__WORKER_MSG__MSG_INIT);
    ck_assert_uint_eq(m->init->worker_id, 3);
    ck_assert_str_eq(m->init->initializer->c->symbol, "init");
    ck_assert_int_eq(m->init->initargs->ints[0], 5);
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    m = unpack_frame(&out, &off);
    ck_assert_ptr_null(m->init->initializer);
    ck_assert_ptr_null(m->init->initargs);
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    m = unpack_frame(&out, &off);
    ck_assert_int_eq(m->msg_case, POLYPOOL__V1__WORKER_MSG__MSG_EXIT);
    polypool__v1__worker_msg__free_unpacked(m, NULL);
    buf_fini(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, values_check_good);
    tcase_add_test(tc, values_check_bad);
    tcase_add_test(tc, task_slices);
    tcase_add_test(tc, budget_refuses);
    tcase_add_test(tc, wmsg_decode);
    tcase_add_test(tc, error_batch);
    tcase_add_test(tc, collect_reply);
    tcase_add_test(tc, init_and_exit_frames);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
