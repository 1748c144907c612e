/* test-protocol.c - hostile and broken peers on the wire, with raw nng
 * sockets and raw Unix sockets (no client library): garbage, oversize
 * messages, requests before Hello, malformed values, and the connect-and-
 * close that stops an nng 1.5.2 listener (nng#1518). After each, the daemon
 * must still serve normal clients. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>

#include "harness.h"

static it_daemon D;

static void teardown(void)
{
    it_daemon_stop(&D);
}

static void assert_serves(const char *url)
{
    pp_client *c = it_client(url);
    pp_pool *p = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p), PP_OK);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 30), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 30);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}

/* The REM_POST pipe event runs on nng's reaper and may come after the
 * receive failed with NNG_ECONNRESET: wait for it. */
struct removed_since {
    it_raw *r;
    int before;
};

static bool pipe_removed_since(void *arg)
{
    struct removed_since *rs = arg;
    return __atomic_load_n(&rs->r->pipes_removed, __ATOMIC_SEQ_CST) > rs->before;
}

/* Sends bytes that are no Request. The daemon either answers with
 * STATUS_EPROTO (id 0: nothing to echo) or drops the pipe. */
static void send_garbage_expect_eproto(it_raw *r, const void *bytes, size_t len)
{
    int removed = __atomic_load_n(&r->pipes_removed, __ATOMIC_SEQ_CST);
    ck_assert_int_eq(it_raw_send(r, bytes, len), 0);
    void *data = NULL;
    size_t dlen = 0;
    int rv = it_raw_recv(r, 3000, &data, &dlen);
    if (rv == 0) {
        Polypool__V1__Reply *rep = polypool__v1__reply__unpack(NULL, dlen, data);
        free(data);
        ck_assert_msg(rep != NULL, "the answer to garbage does not decode");
        ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_EPROTO,
                      "garbage answered with status %d (%s)", rep->status, rep->detail);
        ck_assert_uint_eq(rep->id, 0);
        polypool__v1__reply__free_unpacked(rep, NULL);
    } else {
        struct removed_since rs = { r, removed };
        ck_assert_msg(it_wait_until(pipe_removed_since, &rs, 3000),
                      "garbage got neither an answer nor a dropped pipe (%s)",
                      nng_strerror(rv));
    }
}

/* A varint that never ends, a truncated length-delimited field 10 (hello),
 * and wire type 7. */
static const unsigned char g_varint[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
static const unsigned char g_trunc[] = { 0x52, 0x10, 'a' };
static const unsigned char g_wt7[] = { 0x0f, 0x01, 0x02 };

START_TEST(garbage_before_and_after_hello)
{
    it_daemon_start(&D, NULL);
    pp_client *bystander = it_client(D.url);
    const struct { const void *b; size_t n; } g[] = {
        { g_varint, sizeof g_varint }, { g_trunc, sizeof g_trunc }, { g_wt7, sizeof g_wt7 },
    };
    for (size_t i = 0; i < 3; i++) {
        it_raw r;
        ck_assert_int_eq(it_raw_open(&r, D.url), 0);
        send_garbage_expect_eproto(&r, g[i].b, g[i].n);
        it_raw_close(&r);

        ck_assert_int_eq(it_raw_open(&r, D.url), 0);
        it_raw_hello(&r);
        send_garbage_expect_eproto(&r, g[i].b, g[i].n);
        it_raw_close(&r);
    }
    ck_assert(it_pid_alive(D.pid));
    it_assert_status(pp_client_ping(bystander, 5000), PP_OK);
    assert_serves(D.url);
    pp_client_close(bystander);
}
END_TEST

START_TEST(oversize_message)
{
    it_daemon_opts o = { .extra = { "--max-message", "65536", NULL } };
    it_daemon_start(&D, &o);
    pp_client *bystander = it_client(D.url);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    it_raw_hello(&r);
    ck_assert_uint_eq(r.max_message, 65536);

    size_t len = 1 << 20;
    unsigned char *big = malloc(len);
    memset(big, 'z', len);
    /* Field 2 (timeout_ms) varint, then a huge unknown bytes field 200. */
    big[0] = 0x10;
    big[1] = 0x01;
    big[2] = 0xc2;   /* tag 200, wire type 2: (200 << 3) | 2 = 1602 = 0xc2 0x0c */
    big[3] = 0x0c;
    size_t body = len - 8;   /* varint length in 4 bytes */
    big[4] = (unsigned char)(0x80 | (body & 0x7f));
    big[5] = (unsigned char)(0x80 | ((body >> 7) & 0x7f));
    big[6] = (unsigned char)(0x80 | ((body >> 14) & 0x7f));
    big[7] = (unsigned char)((body >> 21) & 0x7f);
    int removed = r.pipes_removed;
    ck_assert_int_eq(it_raw_send(&r, big, len), 0);
    void *data = NULL;
    size_t dlen = 0;
    int rv = it_raw_recv(&r, 3000, &data, &dlen);
    if (rv == 0) {
        Polypool__V1__Reply *rep = polypool__v1__reply__unpack(NULL, dlen, data);
        free(data);
        ck_assert_ptr_nonnull(rep);
        ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_EMSGSIZE ||
                      rep->status == POLYPOOL__V1__STATUS__STATUS_EPROTO,
                      "1 MiB request over a 64 KiB limit answered with %d", rep->status);
        polypool__v1__reply__free_unpacked(rep, NULL);
    } else {
        struct removed_since rs = { &r, removed };
        ck_assert_msg(it_wait_until(pipe_removed_since, &rs, 3000),
                      "oversize message: no answer and the pipe was not dropped (%s)",
                      nng_strerror(rv));
    }
    it_raw_close(&r);
    free(big);

    ck_assert(it_pid_alive(D.pid));
    it_assert_status(pp_client_ping(bystander, 5000), PP_OK);
    assert_serves(D.url);
    pp_client_close(bystander);
}
END_TEST

/* The client library knows the daemon's limit from Hello and refuses to
 * send more, without losing its connection. */
START_TEST(client_refuses_oversize_request)
{
    it_daemon_opts o = { .extra = { "--max-message", "65536", NULL } };
    it_daemon_start(&D, &o);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 1);
    pp_func *f = it_func("pt_echo");
    size_t len = 256 * 1024;
    char *blob = malloc(len);
    memset(blob, 'q', len);
    pp_value *args = pp_value_list(), *res = NULL;
    pp_value_append(args, pp_value_bytes(blob, len));
    free(blob);
    it_assert_status(pp_pool_apply(p, f, args, 10000, &res), PP_EMSGSIZE);
    ck_assert_ptr_null(res);
    /* Still connected and useful. */
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    pp_value *small = it_args(1, 7);
    it_assert_status(pp_pool_apply(p, f, small, 10000, &res), PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 7);
    pp_value_free(res);
    /* Many small items that add up to more than the limit are fine: the
     * client splits them. */
    pp_func *sq = it_func("pt_square");
    pp_value *items = it_ints(0, 20000);
    it_assert_status(pp_pool_map(p, sq, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 20000);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(sq);
    pp_value_free(small);
    pp_value_free(args);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

static Polypool__V1__Reply *raw_ping(it_raw *r)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Ping ping = POLYPOOL__V1__PING__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_PING;
    req.ping = &ping;
    Polypool__V1__Reply *rep = NULL;
    int rv = it_raw_call(r, &req, 5000, &rep);
    ck_assert_msg(rv == 0, "ping: %s", nng_strerror(rv));
    return rep;
}

/* Note: the daemon answers Ping before Hello on purpose (its own health
 * check pings without a session), so Status stands for "any request". */
static Polypool__V1__Reply *raw_status_req(it_raw *r)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__StatusRequest sr = POLYPOOL__V1__STATUS_REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_STATUS;
    req.status = &sr;
    Polypool__V1__Reply *rep = NULL;
    int rv = it_raw_call(r, &req, 5000, &rep);
    ck_assert_msg(rv == 0, "status: %s", nng_strerror(rv));
    return rep;
}

START_TEST(request_before_hello)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    Polypool__V1__Reply *rep = raw_status_req(&r);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_ESTATE);
    it_status_free(rep);

    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__PoolCreate pc = POLYPOOL__V1__POOL_CREATE__INIT;
    pc.size = 1;
    req.op_case = POLYPOOL__V1__REQUEST__OP_POOL_CREATE;
    req.pool_create = &pc;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_ESTATE);
    it_status_free(rep);

    /* Hello still works on the same connection, and then so does ping. */
    it_raw_hello(&r);
    rep = raw_ping(&r);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
    it_status_free(rep);
    it_raw_close(&r);
    assert_serves(D.url);
}
END_TEST

START_TEST(hello_wrong_version)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Hello h = POLYPOOL__V1__HELLO__INIT;
    h.version = 99;
    h.pid = (uint32_t)getpid();
    req.op_case = POLYPOOL__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    Polypool__V1__Reply *rep = NULL;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_EVERSION);
    it_status_free(rep);
    /* Still no session. */
    rep = raw_status_req(&r);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_ESTATE);
    it_status_free(rep);
    it_raw_close(&r);
    assert_serves(D.url);
}
END_TEST

/* Well-formed protobuf with bad contents: a request without an op, an
 * unknown pool, values whose arrays run out, values nested too deep. */
START_TEST(bad_requests_after_hello)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    it_raw_hello(&r);
    Polypool__V1__Reply *rep = NULL;

    Polypool__V1__Request none = POLYPOOL__V1__REQUEST__INIT;
    ck_assert_int_eq(it_raw_call(&r, &none, 5000, &rep), 0);
    ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_EPROTO ||
                  rep->status == POLYPOOL__V1__STATUS__STATUS_EINVAL,
                  "a request without an op: status %d (%s)", rep->status, rep->detail);
    it_status_free(rep);

    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__PoolJoin pj = POLYPOOL__V1__POOL_JOIN__INIT;
    pj.pool_id = 987654321;
    req.op_case = POLYPOOL__V1__REQUEST__OP_POOL_JOIN;
    req.pool_join = &pj;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_ENOENT);
    it_status_free(rep);

    /* Submit to the default pool with broken Values. */
    Polypool__V1__CFunction cf = POLYPOOL__V1__CFUNCTION__INIT;
    cf.library = (char *)getenv("PPTEST_LIB");
    cf.symbol = "pt_square";
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    fn.c = &cf;
    Polypool__V1__Values vals = POLYPOOL__V1__VALUES__INIT;
    Polypool__V1__Kind kinds[200];
    uint32_t counts[200];
    Polypool__V1__Submit sub = POLYPOOL__V1__SUBMIT__INIT;
    sub.pool_id = r.default_pool_id;
    sub.function = &fn;
    sub.items = &vals;
    sub.wait = true;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    req.submit = &sub;

    /* An INT with no int behind it. */
    kinds[0] = POLYPOOL__V1__KIND__KIND_INT;
    vals.n_kinds = 1;
    vals.kinds = kinds;
    sub.job_id = 1;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_EPROTO,
                  "values with a missing int: status %d (%s)", rep->status, rep->detail);
    it_status_free(rep);

    /* 200 nested lists. */
    for (int i = 0; i < 200; i++) {
        kinds[i] = POLYPOOL__V1__KIND__KIND_LIST;
        counts[i] = 1;
    }
    counts[199] = 0;
    vals.n_kinds = 200;
    vals.n_counts = 200;
    vals.counts = counts;
    sub.job_id = 2;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_EPROTO,
                  "values nested 200 deep: status %d (%s)", rep->status, rep->detail);
    it_status_free(rep);

    /* An unknown pool. */
    int64_t three = 3;
    kinds[0] = POLYPOOL__V1__KIND__KIND_INT;
    vals.n_kinds = 1;
    vals.n_counts = 0;
    vals.n_ints = 1;
    vals.ints = &three;
    sub.pool_id = 987654321;
    sub.job_id = 3;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_ENOENT);
    it_status_free(rep);

    /* And a good one on the same session: 3*3 comes back. */
    sub.pool_id = r.default_pool_id;
    sub.job_id = 4;
    ck_assert_int_eq(it_raw_call(&r, &req, 20000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_SUBMIT);
    const Polypool__V1__CollectReply *cr = rep->submit->results;
    ck_assert_ptr_nonnull(cr);
    ck_assert_uint_eq(cr->n_batches, 1);
    ck_assert_uint_eq(cr->batches[0]->count, 1);
    ck_assert_uint_eq(cr->batches[0]->values->n_ints, 1);
    ck_assert_int_eq(cr->batches[0]->values->ints[0], 9);
    it_status_free(rep);

    it_raw_close(&r);
    ck_assert(it_pid_alive(D.pid));
    assert_serves(D.url);
}
END_TEST

/* Python functions: the environment is required, absolute, and can be
 * named for the session by env_id and then sent by name alone. */
START_TEST(python_function_env_rules)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    it_raw_hello(&r);
    Polypool__V1__Reply *rep = NULL;

    char *path[] = { "/nonexistent" };
    Polypool__V1__PyEnv env = POLYPOOL__V1__PY_ENV__INIT;
    env.interpreter = "/bin/false";      /* a host that never starts: nothing runs */
    env.n_path = 1;
    env.path = path;
    Polypool__V1__PyFunction pf = POLYPOOL__V1__PY_FUNCTION__INIT;
    pf.module = "m";
    pf.qualname = "f";
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_PY;
    fn.py = &pf;
    Polypool__V1__Kind kind = POLYPOOL__V1__KIND__KIND_INT;
    int64_t one = 1;
    Polypool__V1__Values vals = POLYPOOL__V1__VALUES__INIT;
    vals.n_kinds = 1;
    vals.kinds = &kind;
    vals.n_ints = 1;
    vals.ints = &one;
    Polypool__V1__Submit sub = POLYPOOL__V1__SUBMIT__INIT;
    sub.pool_id = r.default_pool_id;
    sub.function = &fn;
    sub.items = &vals;
    sub.async = true;
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT;
    req.submit = &sub;
    static const struct {
        bool env;
        const char *interpreter;
        uint64_t env_id;
        Polypool__V1__Status status;
        const char *detail;
    } steps[] = {
        { false, NULL, 0, POLYPOOL__V1__STATUS__STATUS_EINVAL, "absolute interpreter" },
        { false, NULL, 42, POLYPOOL__V1__STATUS__STATUS_EINVAL, "env_id names no environment" },
        { true, "python3", 42, POLYPOOL__V1__STATUS__STATUS_EINVAL, "absolute interpreter" },
        { true, "/bin/false", 42, POLYPOOL__V1__STATUS__STATUS_OK, NULL },
        { false, NULL, 42, POLYPOOL__V1__STATUS__STATUS_OK, NULL },
        { false, NULL, 43, POLYPOOL__V1__STATUS__STATUS_EINVAL, "env_id names no environment" },
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        pf.env = steps[i].env ? &env : NULL;
        env.interpreter = (char *)steps[i].interpreter;
        pf.env_id = steps[i].env_id;
        sub.job_id = 100 + i;
        ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
        ck_assert_msg(rep->status == steps[i].status, "step %zu: status %d (%s)", i,
                      rep->status, rep->detail);
        if (steps[i].detail)
            ck_assert_msg(strstr(rep->detail, steps[i].detail), "step %zu: detail %s", i,
                          rep->detail);
        it_status_free(rep);
    }
    it_raw_close(&r);
    ck_assert(it_pid_alive(D.pid));
    assert_serves(D.url);
}
END_TEST

/* nng#1518: a peer that connects and closes before the SP handshake stops
 * an nng 1.5.2 listener; the daemon's health check must notice and listen
 * again, so new clients get in within a few seconds. */
START_TEST(connect_close_before_handshake)
{
    it_daemon_start(&D, NULL);
    pp_client *before = it_client(D.url);
    for (int i = 0; i < 5; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        ck_assert_uint_lt(strlen(D.sock), sizeof sa.sun_path);
        memcpy(sa.sun_path, D.sock, strlen(D.sock) + 1);
        ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
                      strerror(errno));
        close(fd);
    }
    /* Existing sessions are unaffected. */
    it_assert_status(pp_client_ping(before, 5000), PP_OK);

    int64_t t0 = it_now_ms(), end = t0 + IT_DEADLINE_MS;
    pp_client *c = NULL;
    pp_status st;
    for (;;) {
        pp_client_opts co = { .address = D.url, .no_autostart = true,
                              .connect_timeout_ms = 1000 };
        st = pp_client_open_opts(&co, &c);
        if (st == PP_OK || it_now_ms() >= end)
            break;
    }
    it_assert_status(st, PP_OK);
    fprintf(stderr, "connect_close_before_handshake: new client in after %lld ms\n",
            (long long)(it_now_ms() - t0));
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    pp_client_close(c);
    assert_serves(D.url);
    /* Listening again must not cost the sessions that were already in. */
    it_assert_status(pp_client_ping(before, 5000), PP_OK);
    pp_client_close(before);
}
END_TEST

/* A raw peer that parks a long request and vanishes does not hurt others. */
START_TEST(peer_vanishes_while_parked)
{
    it_daemon_start(&D, NULL);
    for (int i = 0; i < 3; i++) {
        it_raw r;
        ck_assert_int_eq(it_raw_open(&r, D.url), 0);
        it_raw_hello(&r);
        Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
        Polypool__V1__Collect col = POLYPOOL__V1__COLLECT__INIT;
        col.timeout_ms = 30000;
        req.op_case = POLYPOOL__V1__REQUEST__OP_COLLECT;
        req.collect = &col;
        req.id = 77;
        size_t len = polypool__v1__request__get_packed_size(&req);
        uint8_t *buf = malloc(len + 1);
        polypool__v1__request__pack(&req, buf);
        ck_assert_int_eq(it_raw_send(&r, buf, len), 0);
        free(buf);
        it_raw_close(&r);
    }
    assert_serves(D.url);
    it_raw st;
    it_status_open(&st, D.url);
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    for (;;) {
        Polypool__V1__Reply *rep = it_status(&st);
        size_t n = rep->status_reply->n_clients;
        it_status_free(rep);
        if (n == 1)   /* only this status peer */
            break;
        ck_assert_msg(it_now_ms() < end, "%zu sessions left after the peers vanished", n);
        it_poll_nap();
    }
    it_raw_close(&st);
}
END_TEST

/* SubmitBatch: every job is handled as its own Submit. A bad pool id fails
 * only its job, with ENOENT; `wait` is refused with EINVAL; the good jobs
 * run and their results come through Collect. */
START_TEST(submit_batch_partial_failure)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    ck_assert_int_eq(it_raw_open(&r, D.url), 0);
    it_raw_hello(&r);

    Polypool__V1__CFunction cf = POLYPOOL__V1__CFUNCTION__INIT;
    cf.library = (char *)getenv("PPTEST_LIB");
    cf.symbol = "pt_square";
    Polypool__V1__Function fn = POLYPOOL__V1__FUNCTION__INIT;
    fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    fn.c = &cf;
    Polypool__V1__Kind kind = POLYPOOL__V1__KIND__KIND_INT;
    int64_t ints[4] = { 3, 4, 5, 6 };
    Polypool__V1__Values vals[4];
    Polypool__V1__Submit subs[4];
    Polypool__V1__Submit *psubs[4];
    for (int i = 0; i < 4; i++) {
        polypool__v1__values__init(&vals[i]);
        vals[i].n_kinds = 1;
        vals[i].kinds = &kind;
        vals[i].n_ints = 1;
        vals[i].ints = &ints[i];
        polypool__v1__submit__init(&subs[i]);
        subs[i].job_id = 10 + (uint64_t)i;
        subs[i].pool_id = r.default_pool_id;
        subs[i].function = &fn;
        subs[i].items = &vals[i];
        subs[i].async = true;
        psubs[i] = &subs[i];
    }
    subs[1].pool_id = 987654321;   /* no such pool */
    subs[3].wait = true;           /* not allowed in a batch */
    Polypool__V1__SubmitBatch sb = POLYPOOL__V1__SUBMIT_BATCH__INIT;
    sb.n_jobs = 4;
    sb.jobs = psubs;
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SUBMIT_BATCH;
    req.submit_batch = &sb;
    Polypool__V1__Reply *rep = NULL;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_SUBMIT_BATCH);
    const Polypool__V1__SubmitBatchReply *br = rep->submit_batch;
    ck_assert_uint_eq(br->n_results, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(br->results[i]->job_id, 10 + (uint64_t)i);
    ck_assert_int_eq(br->results[0]->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_uint_eq(br->results[0]->received, 1);
    ck_assert_int_eq(br->results[1]->status, POLYPOOL__V1__STATUS__STATUS_ENOENT);
    ck_assert_str_eq(br->results[1]->detail, "no pool 987654321");
    ck_assert_int_eq(br->results[2]->status, POLYPOOL__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(br->results[3]->status, POLYPOOL__V1__STATUS__STATUS_EINVAL);
    it_status_free(rep);

    /* Jobs 10 and 12 finish: 9 and 25; 11 and 13 do not exist. */
    int64_t got[2] = { 0, 0 };
    int done = 0;
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    while (done < 2 && it_now_ms() < end) {
        Polypool__V1__Request cq = POLYPOOL__V1__REQUEST__INIT;
        Polypool__V1__Collect col = POLYPOOL__V1__COLLECT__INIT;
        col.timeout_ms = 1000;
        cq.op_case = POLYPOOL__V1__REQUEST__OP_COLLECT;
        cq.collect = &col;
        ck_assert_int_eq(it_raw_call(&r, &cq, 5000, &rep), 0);
        ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
        for (size_t i = 0; i < rep->collect->n_batches; i++) {
            const Polypool__V1__ResultBatch *b = rep->collect->batches[i];
            ck_assert_msg(b->job_id == 10 || b->job_id == 12, "results for job %llu",
                          (unsigned long long)b->job_id);
            ck_assert_uint_eq(b->values->n_ints, 1);
            got[b->job_id == 12] = b->values->ints[0];
        }
        done += (int)rep->collect->n_done;
        it_status_free(rep);
    }
    ck_assert_int_eq(done, 2);
    ck_assert_int_eq(got[0], 9);
    ck_assert_int_eq(got[1], 25);
    it_raw_close(&r);
}
END_TEST

/* One TCase per test, so that CK_RUN_CASE=<test name> runs just one. */
#define ADD(s, t) do {                                     \
        TCase *tc_ = tcase_create(#t);                     \
        tcase_add_checked_fixture(tc_, NULL, teardown);    \
        tcase_set_timeout(tc_, 60);                        \
        tcase_add_test(tc_, t);                            \
        suite_add_tcase((s), tc_);                         \
    } while (0)

static Suite *suite(void)
{
    Suite *s = suite_create("integ-protocol");
    ADD(s, garbage_before_and_after_hello);
    ADD(s, oversize_message);
    ADD(s, client_refuses_oversize_request);
    ADD(s, request_before_hello);
    ADD(s, hello_wrong_version);
    ADD(s, bad_requests_after_hello);
    ADD(s, python_function_env_rules);
    ADD(s, connect_close_before_handshake);
    ADD(s, peer_vanishes_while_parked);
    ADD(s, submit_batch_partial_failure);
    return s;
}

int main(void)
{
    return it_main(suite());
}
