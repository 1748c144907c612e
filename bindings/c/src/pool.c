/* pool.c - pool handles: create, attach, close, terminate, join. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "internal.h"

/* Counts a handle to shared pool `id` (c->mu held). Returns the count
 * after the change, or -1 when out of memory (the handle then detaches on
 * its own free, which is merely early). */
static int pool_ref_add(pp_client *c, uint64_t id, int delta)
{
    for (size_t i = 0; i < c->n_pool_refs; i++) {
        if (c->pool_refs[i].id != id)
            continue;
        unsigned n = c->pool_refs[i].refs + (unsigned)delta;
        c->pool_refs[i].refs = n;
        if (n == 0)
            c->pool_refs[i] = c->pool_refs[--c->n_pool_refs];
        return (int)n;
    }
    if (delta <= 0)
        return 0;
    if (c->n_pool_refs == c->cap_pool_refs) {
        size_t cap = c->cap_pool_refs ? c->cap_pool_refs * 2 : 4;
        struct pool_ref *r = realloc(c->pool_refs, cap * sizeof *r);
        if (!r)
            return -1;
        c->pool_refs = r;
        c->cap_pool_refs = cap;
    }
    c->pool_refs[c->n_pool_refs++] = (struct pool_ref){ .id = id, .refs = 1 };
    return 1;
}

static pp_status pool_open(pp_client *c, Polypool__V1__PoolMode mode, const char *name,
                           const pp_pool_opts *opts, pp_pool **out)
{
    if (!c || !out) {
        error_set(PP_EINVAL, "pool: NULL client or out");
        return PP_EINVAL;
    }
    if (mode != POLYPOOL__V1__POOL_MODE__POOL_MODE_PRIVATE && (!name || !*name)) {
        error_set(PP_EINVAL, "pool: a named pool needs a non-empty name");
        return PP_EINVAL;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__PoolCreate pc = POLYPOOL__V1__POOL_CREATE__INIT;
    struct func_msg fm;
    Polypool__V1__PyEnv pyenv = POLYPOOL__V1__PY_ENV__INIT;
    struct pyenv_own own = { 0 };
    Polypool__V1__Values initargs;
    codec_enc enc;
    codec_enc_init(&enc);

    pc.mode = mode;
    pc.name = (char *)(name ? name : "");
    if (opts && mode != POLYPOOL__V1__POOL_MODE__POOL_MODE_ATTACH) {
        pc.size = opts->size;
        pc.maxtasksperchild = opts->maxtasksperchild;
        if (opts->python && !(opts->initializer && opts->initializer->py)) {
            pp_status st = pyenv_own_init(&own, opts->python);
            if (st != PP_OK)
                return st;
            pyenv_own_msg(&own, &pyenv);
            pc.python = &pyenv;
        }
        if (opts->initializer) {
            /* Always whole: pool creation is rare. */
            func_to_msg(opts->initializer, &fm, NULL);
            pc.initializer = &fm.fn;
            pp_status st;
            if (opts->initargs) {
                if (pp_value_kind(opts->initargs) != PP_LIST &&
                    pp_value_kind(opts->initargs) != PP_TUPLE) {
                    error_set(PP_EINVAL, "pool: initargs must be a LIST");
                    pyenv_own_fini(&own);
                    return PP_EINVAL;
                }
                st = codec_enc_value(&enc, opts->initargs);
            } else {
                pp_value empty = {.kind = PP_LIST};
                st = codec_enc_value(&enc, &empty);
            }
            if (st != PP_OK) {
                codec_enc_fini(&enc);
                pyenv_own_fini(&own);
                error_set(st, "pool: cannot encode initargs");
                return st;
            }
            codec_enc_msg(&enc, &initargs);
            pc.initargs = &initargs;
        }
    }
    req.op_case = POLYPOOL__V1__REQUEST__OP_POOL_CREATE;
    req.pool_create = &pc;

    Polypool__V1__Reply *r = NULL;
    pp_status st = client_rpc(c, &req, 30000, &r);
    codec_enc_fini(&enc);
    pyenv_own_fini(&own);
    if (st != PP_OK)
        return st;
    if (r->result_case != POLYPOOL__V1__REPLY__RESULT_POOL || !r->pool) {
        client_reply_free(r);
        error_set(PP_EPROTO, "PoolCreate answered without a PoolInfo");
        return PP_EPROTO;
    }
    pp_pool *p = calloc(1, sizeof *p);
    const char *pname = mode == POLYPOOL__V1__POOL_MODE__POOL_MODE_PRIVATE ? ""
                        : (r->pool->name && *r->pool->name ? r->pool->name : name);
    if (!p || !(p->name = strdup(pname))) {
        free(p);
        client_reply_free(r);
        error_set(PP_ENOMEM, "pool: out of memory");
        return PP_ENOMEM;
    }
    p->client = c;
    p->id = r->pool->pool_id;
    p->size = r->pool->size ? r->pool->size : (c->cpu_count ? c->cpu_count : 1);
    p->is_private = mode == POLYPOOL__V1__POOL_MODE__POOL_MODE_PRIVATE;
    client_reply_free(r);
    if (!p->is_private) {
        pthread_mutex_lock(&c->mu);
        pool_ref_add(c, p->id, +1);
        pthread_mutex_unlock(&c->mu);
    }
    *out = p;
    return PP_OK;
}

pp_status pp_pool_create(pp_client *c, const pp_pool_opts *opts, pp_pool **out)
{
    return pool_open(c, POLYPOOL__V1__POOL_MODE__POOL_MODE_PRIVATE, NULL, opts, out);
}

pp_status pp_pool_open_named(pp_client *c, const char *name, const pp_pool_opts *opts,
                             pp_pool **out)
{
    return pool_open(c, POLYPOOL__V1__POOL_MODE__POOL_MODE_CREATE_OR_ATTACH, name, opts, out);
}

pp_status pp_pool_attach(pp_client *c, const char *name, pp_pool **out)
{
    return pool_open(c, POLYPOOL__V1__POOL_MODE__POOL_MODE_ATTACH, name, NULL, out);
}

static pp_status pool_close(pp_pool *p, bool terminate)
{
    if (!p) {
        error_set(PP_EINVAL, "pool: NULL pool");
        return PP_EINVAL;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__PoolClose pc = POLYPOOL__V1__POOL_CLOSE__INIT;
    pc.pool_id = p->id;
    pc.terminate = terminate;
    req.op_case = POLYPOOL__V1__REQUEST__OP_POOL_CLOSE;
    req.pool_close = &pc;
    pp_status st = client_rpc(p->client, &req, 30000, NULL);
    if (st == PP_OK)
        p->closed = true;
    return st;
}

pp_status pp_pool_close(pp_pool *p) { return pool_close(p, false); }
pp_status pp_pool_terminate(pp_pool *p) { return pool_close(p, true); }

pp_status pp_pool_join(pp_pool *p, int timeout_ms)
{
    if (!p) {
        error_set(PP_EINVAL, "pool: NULL pool");
        return PP_EINVAL;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__PoolJoin pj = POLYPOOL__V1__POOL_JOIN__INIT;
    pj.pool_id = p->id;
    req.op_case = POLYPOOL__V1__REQUEST__OP_POOL_JOIN;
    req.pool_join = &pj;
    /* The wire's 0 means "no deadline"; the API's 0 means "do not wait". */
    if (timeout_ms == 0)
        req.timeout_ms = 1;
    else if (timeout_ms > 0)
        req.timeout_ms = (uint64_t)timeout_ms;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pp_status st = client_rpc(p->client, &req, timeout_ms, NULL);
    if (st != PP_OK)
        return st;
    /* The daemon is done; the results of this pool's futures may still be
     * on their way to the collector thread. Join returns once they are in. */
    int left = timeout_ms;
    if (timeout_ms > 0) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long spent = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
        left = spent >= timeout_ms ? 0 : timeout_ms - (int)spent;
    }
    if (!future_wait_pool(p->client, p->id, left)) {
        error_set(PP_ETIMEDOUT, "pool %llu: results still arriving after %d ms",
                  (unsigned long long)p->id, timeout_ms);
        return PP_ETIMEDOUT;
    }
    return PP_OK;
}

void pp_pool_free(pp_pool *p)
{
    if (!p)
        return;
    pp_client *c = p->client;
    bool usable = !p->closed && !atomic_load(&c->lost) && getpid() == c->pid;
    if (p->is_private) {
        if (usable)
            pool_close(p, true);
    } else {
        /* The last handle to a shared pool detaches this client from it, so
         * that a named pool goes away with its last user. */
        pthread_mutex_lock(&c->mu);
        int left = pool_ref_add(c, p->id, -1);
        pthread_mutex_unlock(&c->mu);
        if (left == 0 && usable)
            pool_close(p, false);
    }
    free(p->name);
    free(p);
}

pp_status pool_check_open(const pp_pool *p)
{
    if (p->closed) {
        error_set(PP_ECLOSED, "pool %llu is closed or terminated", (unsigned long long)p->id);
        return PP_ECLOSED;
    }
    return PP_OK;
}

unsigned pp_pool_size(const pp_pool *p)
{
    return p ? p->size : 0;
}

const char *pp_pool_name(const pp_pool *p)
{
    return p ? p->name : "";
}
