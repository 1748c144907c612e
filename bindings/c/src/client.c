/* client.c - the connection to polypoold: open (with autostart), the
 * request/reply call every other module uses, close.
 *
 * Invariants
 *  - Every call owns one nng_ctx and one aio (both recycled through a
 *    small free list), so any number of threads may call at once. The aio
 *    callback starts the receive when the send completes, so a call costs
 *    the caller one wakeup.
 *  - The caller waits on its own condvar, not in nng_aio_wait(): it wakes
 *    every 50 ms to notice that the daemon's pipe is gone (c->lost, set by
 *    the REM_POST pipe callback, which does nothing else) or that the client
 *    is closing, and then aborts its aio from its own thread. Nothing is
 *    ever called on nng from an nng callback.
 *  - A client is only usable in the process that opened it: nng panics in
 *    a forked child, so every call checks getpid() first.
 *  - c->mu guards the free list and the async tables; it is never held
 *    across an nng call.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "internal.h"
#include "pp_config.h"

extern char **environ;

/* The daemon answers its own timeouts; the client waits this much longer
 * before giving up on a reply. */
#define CALL_GRACE_MS 2000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define RECV_MAX ((size_t)1 << 30)
#define FREE_SLOTS_MAX 16

/* One call in flight: its context and aio are kept for the next call. The
 * aio callback turns a completed send into the receive itself, so the
 * caller sleeps once per call, not once per direction. */
struct call_slot {
    struct call_slot *next;
    nng_ctx ctx;
    nng_aio *aio;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool receiving;           /* the send completed; the receive is pending */
    int64_t deadline;         /* clock_ms(), or -1 */
};

int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- addresses --------------------------------------------------------- */

pp_status pp_default_address(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (!buf)
        return PP_EINVAL;
    if (xdg && *xdg)
        n = snprintf(buf, len, "ipc://%s/polypool/polypoold.sock", xdg);
    else
        n = snprintf(buf, len, "ipc:///tmp/polypool-%u/polypoold.sock", (unsigned)getuid());
    if (n < 0 || (size_t)n >= len) {
        error_set(PP_EINVAL, "pp_default_address: buffer of %zu bytes is too small", len);
        return PP_EINVAL;
    }
    return PP_OK;
}

/* ---- calls ------------------------------------------------------------- */

/* nng task thread: never blocks. */
static void slot_cb(void *arg)
{
    struct call_slot *s = arg;
    if (!s->receiving && nng_aio_result(s->aio) == 0) {
        s->receiving = true;
        if (s->deadline >= 0) {
            int64_t left = s->deadline - clock_ms();
            nng_aio_set_timeout(s->aio, left > 0 ? (nng_duration)left : 1);
        }
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static struct call_slot *slot_get(pp_client *c)
{
    pthread_mutex_lock(&c->mu);
    struct call_slot *s = c->free_slots;
    if (s) {
        c->free_slots = s->next;
        c->n_free_slots--;
    }
    pthread_mutex_unlock(&c->mu);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (nng_aio_alloc(&s->aio, slot_cb, s) != 0) {
        free(s);
        return NULL;
    }
    if (nng_ctx_open(&s->ctx, c->sock) != 0) {
        nng_aio_free(s->aio);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    cond_init_monotonic(&s->cv);
    return s;
}

static void slot_destroy(struct call_slot *s)
{
    nng_aio_free(s->aio);
    nng_ctx_close(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static void slot_put(pp_client *c, struct call_slot *s)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_free_slots < FREE_SLOTS_MAX) {
        s->next = c->free_slots;
        c->free_slots = s;
        c->n_free_slots++;
        s = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (s)
        slot_destroy(s);
}

/* Waits for the slot's operation; aborts it if the daemon goes away or the
 * client closes. Returns the nng result. */
static int slot_wait(pp_client *c, struct call_slot *s)
{
    bool aborted = false;
    pthread_mutex_lock(&s->mu);
    while (!s->done) {
        if (!aborted && (atomic_load(&c->lost) || atomic_load(&c->closing))) {
            pthread_mutex_unlock(&s->mu);
            nng_aio_abort(s->aio, NNG_ECONNRESET);
            pthread_mutex_lock(&s->mu);
            aborted = true;
            continue;
        }
        if (aborted) {
            pthread_cond_wait(&s->cv, &s->mu);
        } else {
            struct timespec ts = ts_after_ms(50);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return nng_aio_result(s->aio);
}

static pp_status from_nng(int rv, const pp_client *c)
{
    switch (rv) {
    case 0:
        return PP_OK;
    case NNG_ETIMEDOUT:
        error_set(PP_ETIMEDOUT, "no reply from polypoold at %s in time", c->address);
        return PP_ETIMEDOUT;
    case NNG_EMSGSIZE:
        error_set(PP_EMSGSIZE, "message too large for %s", c->address);
        return PP_EMSGSIZE;
    case NNG_ENOMEM:
        error_set(PP_ENOMEM, "out of memory in nng");
        return PP_ENOMEM;
    case NNG_ECONNRESET:
    case NNG_ECLOSED:
    case NNG_ECONNSHUT:
    case NNG_ECANCELED:
        error_set(PP_ECONNRESET, "the polypool daemon at %s went away", c->address);
        return PP_ECONNRESET;
    default:
        error_set(PP_ECONNRESET, "call to %s failed: %s", c->address, nng_strerror(rv));
        return PP_ECONNRESET;
    }
}

static pp_status check_usable(pp_client *c)
{
    if (getpid() != c->pid) {
        error_set(PP_EFORKED,
                  "this polypool client was opened by process %d and cannot be used in "
                  "forked child %d; open a new client in the child",
                  (int)c->pid, (int)getpid());
        return PP_EFORKED;
    }
    if (atomic_load(&c->lost)) {
        error_set(PP_ECONNRESET, "the polypool daemon at %s went away", c->address);
        return PP_ECONNRESET;
    }
    if (atomic_load(&c->closing)) {
        error_set(PP_ECONNRESET, "the polypool client is closing");
        return PP_ECONNRESET;
    }
    return PP_OK;
}

pp_status client_call(pp_client *c, Polypool__V1__Request *req, int timeout_ms,
                      Polypool__V1__Reply **reply)
{
    if (!c || !req || !reply) {
        error_set(PP_EINVAL, "client_call: NULL argument");
        return PP_EINVAL;
    }
    pp_status st = check_usable(c);
    if (st != PP_OK)
        return st;
    /* Calls are handled in the order they are made, queued submissions
     * included: a close after an apply_async must not overtake it. */
    future_outbox_flush(c);

    req->id = atomic_fetch_add(&c->next_req, 1);
    size_t size = polypool__v1__request__get_packed_size(req);
    /* The daemon drops the whole connection on an oversize message: refuse
     * it here and keep the connection (max_message is 0 before Hello). */
    if (c->max_message && size > c->max_message) {
        error_set(PP_EMSGSIZE, "a request of %zu bytes exceeds the daemon's maximum of %llu",
                  size, (unsigned long long)c->max_message);
        return PP_EMSGSIZE;
    }
    nng_msg *msg;
    if (nng_msg_alloc(&msg, size) != 0) {
        error_set(PP_ENOMEM, "cannot allocate a request of %zu bytes", size);
        return PP_ENOMEM;
    }
    polypool__v1__request__pack(req, nng_msg_body(msg));

    struct call_slot *s = slot_get(c);
    if (!s) {
        nng_msg_free(msg);
        error_set(PP_ENOMEM, "cannot allocate an nng aio");
        return PP_ENOMEM;
    }

    /* A new send on the slot's context abandons whatever an earlier,
     * failed call left pending on it. */
    s->deadline = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms + CALL_GRACE_MS;
    nng_aio_set_timeout(s->aio, s->deadline < 0 ? NNG_DURATION_INFINITE
                                                : (nng_duration)(s->deadline - clock_ms()));
    s->done = false;
    s->receiving = false;
    nng_aio_set_msg(s->aio, msg);
    nng_ctx_send(s->ctx, s->aio);
    int rv = slot_wait(c, s);
    if (rv != 0) {
        /* On a failed send the message is still ours. */
        if (!s->receiving)
            nng_msg_free(nng_aio_get_msg(s->aio));
        goto out;
    }

    msg = nng_aio_get_msg(s->aio);
    Polypool__V1__Reply *r =
        polypool__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    size_t got = nng_msg_len(msg);
    nng_msg_free(msg);
    slot_put(c, s);
    if (!r) {
        error_set(PP_EPROTO, "undecodable reply of %zu bytes from %s", got, c->address);
        return PP_EPROTO;
    }
    if (r->id != req->id) {
        error_set(PP_EPROTO, "reply id %llu does not match request id %llu",
                  (unsigned long long)r->id, (unsigned long long)req->id);
        polypool__v1__reply__free_unpacked(r, NULL);
        return PP_EPROTO;
    }
    *reply = r;
    return PP_OK;

out:
    slot_put(c, s);
    if (atomic_load(&c->lost) && rv != NNG_ETIMEDOUT)
        rv = NNG_ECONNRESET;
    return from_nng(rv, c);
}

/* ---- asynchronous calls (the collector's) ------------------------------ */

uint64_t client_request_id(pp_client *c)
{
    return atomic_fetch_add(&c->next_req, 1);
}

pp_status client_pack_request(pp_client *c, Polypool__V1__Request *req, nng_msg **out)
{
    req->id = client_request_id(c);
    size_t size = polypool__v1__request__get_packed_size(req);
    nng_msg *msg;
    if (nng_msg_alloc(&msg, size) != 0) {
        error_set(PP_ENOMEM, "cannot allocate a request of %zu bytes", size);
        return PP_ENOMEM;
    }
    polypool__v1__request__pack(req, nng_msg_body(msg));
    *out = msg;
    return PP_OK;
}

/* nng task thread: never blocks, only re-arms the aio or reports. */
static void acall_cb(void *arg)
{
    client_acall *a = arg;
    pp_client *c = a->client;
    int rv = nng_aio_result(a->aio);
    if (rv == 0 && !a->receiving) {
        a->receiving = true;
        if (a->deadline >= 0) {
            int64_t left = a->deadline - clock_ms();
            nng_aio_set_timeout(a->aio, left > 0 ? (nng_duration)left : 1);
        }
        nng_ctx_recv(a->ctx, a->aio);
        return;
    }
    pthread_mutex_lock(&c->mu);
    a->done = true;
    pthread_cond_broadcast(&c->collector_cv);
    pthread_mutex_unlock(&c->mu);
}

pp_status client_acall_init(pp_client *c, client_acall *a)
{
    memset(a, 0, sizeof *a);
    a->client = c;
    int rv = nng_aio_alloc(&a->aio, acall_cb, a);
    if (rv != 0)
        return from_nng(rv, c);
    if ((rv = nng_ctx_open(&a->ctx, c->sock)) != 0) {
        nng_aio_free(a->aio);
        a->aio = NULL;
        return from_nng(rv, c);
    }
    a->ready = true;
    return PP_OK;
}

void client_acall_fini(client_acall *a)
{
    if (!a->ready)
        return;
    nng_aio_free(a->aio);
    nng_ctx_close(a->ctx);
    a->ready = false;
}

pp_status client_acall_start(client_acall *a, nng_msg *msg, uint64_t req_id, int timeout_ms)
{
    pp_client *c = a->client;
    pp_status st = check_usable(c);
    if (st != PP_OK)
        return st;
    if (c->max_message && nng_msg_len(msg) > c->max_message) {
        error_set(PP_EMSGSIZE, "a request of %zu bytes exceeds the daemon's maximum of %llu",
                  nng_msg_len(msg), (unsigned long long)c->max_message);
        return PP_EMSGSIZE;
    }
    a->req_id = req_id;
    a->receiving = false;
    a->busy = true;
    pthread_mutex_lock(&c->mu);
    a->done = false;
    pthread_mutex_unlock(&c->mu);
    a->deadline = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms + CALL_GRACE_MS;
    nng_aio_set_timeout(a->aio, a->deadline < 0 ? NNG_DURATION_INFINITE
                                                : (nng_duration)(a->deadline - clock_ms()));
    nng_aio_set_msg(a->aio, msg);
    nng_ctx_send(a->ctx, a->aio);
    return PP_OK;
}

void client_acall_abort(client_acall *a)
{
    if (a->busy)
        nng_aio_abort(a->aio, NNG_ECONNRESET);
}

pp_status client_acall_finish(client_acall *a, Polypool__V1__Reply **reply)
{
    pp_client *c = a->client;
    a->busy = false;
    int rv = nng_aio_result(a->aio);
    if (rv != 0) {
        if (!a->receiving)
            nng_msg_free(nng_aio_get_msg(a->aio));   /* on a failed send it is still ours */
        if (atomic_load(&c->lost) && rv != NNG_ETIMEDOUT)
            rv = NNG_ECONNRESET;
        return from_nng(rv, c);
    }
    nng_msg *msg = nng_aio_get_msg(a->aio);
    size_t got = nng_msg_len(msg);
    Polypool__V1__Reply *r = polypool__v1__reply__unpack(NULL, got, nng_msg_body(msg));
    nng_msg_free(msg);
    if (!r) {
        error_set(PP_EPROTO, "undecodable reply of %zu bytes from %s", got, c->address);
        return PP_EPROTO;
    }
    if (r->id != a->req_id) {
        error_set(PP_EPROTO, "reply id %llu does not match request id %llu",
                  (unsigned long long)r->id, (unsigned long long)a->req_id);
        polypool__v1__reply__free_unpacked(r, NULL);
        return PP_EPROTO;
    }
    *reply = r;
    return PP_OK;
}

void client_reply_free(Polypool__V1__Reply *reply)
{
    if (reply)
        polypool__v1__reply__free_unpacked(reply, NULL);
}

pp_status client_rpc(pp_client *c, Polypool__V1__Request *req, int timeout_ms,
                     Polypool__V1__Reply **reply)
{
    Polypool__V1__Reply *r = NULL;
    pp_status st = client_call(c, req, timeout_ms, &r);
    if (st != PP_OK)
        return st;
    if (r->status != POLYPOOL__V1__STATUS__STATUS_OK) {
        st = (pp_status)r->status;
        if ((unsigned)st > PP_STATUS_MAX)
            st = PP_EPROTO;
        error_set(st, "%s", r->detail && *r->detail ? r->detail : pp_strerror(st));
        client_reply_free(r);
        return st;
    }
    if (reply)
        *reply = r;
    else
        client_reply_free(r);
    return PP_OK;
}

/* ---- output ------------------------------------------------------------ */

static void default_output(void *arg, int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

void client_output(pp_client *c, const ProtobufCBinaryData *out, const ProtobufCBinaryData *err)
{
    if (out && out->len)
        c->output(c->output_arg, 1, out->data, out->len);
    if (err && err->len)
        c->output(c->output_arg, 2, err->data, err->len);
}

size_t client_submit_budget(const pp_client *c)
{
    uint64_t max = c->max_message ? c->max_message : (64u << 20);
    size_t budget = (size_t)(max / 2);
    if (budget > 4096)
        budget -= 1024;       /* room for the Request around the Values */
    return budget;
}

uint64_t client_job_id(pp_client *c)
{
    return atomic_fetch_add(&c->next_job, 1);
}

void client_cancel_job(pp_client *c, uint64_t job)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Cancel cancel = POLYPOOL__V1__CANCEL__INIT;
    uint64_t ids[1] = {job};
    cancel.n_job_ids = 1;
    cancel.job_ids = ids;
    req.op_case = POLYPOOL__V1__REQUEST__OP_CANCEL;
    req.cancel = &cancel;
    Polypool__V1__Reply *r = NULL;
    if (client_call(c, &req, 5000, &r) == PP_OK)
        client_reply_free(r);
}

/* ---- open and close ---------------------------------------------------- */

/* The open clients, by socket: nng runs a pipe callback on its reaper
 * thread, possibly after nng_close() has returned, so the callback must
 * not be handed a client that pp_client_close may already have freed. It
 * looks the client up here instead; closing removes it first. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pp_client *live;

static void live_add(pp_client *c)
{
    pthread_mutex_lock(&live_mu);
    c->live_next = live;
    live = c;
    pthread_mutex_unlock(&live_mu);
}

static void live_remove(pp_client *c)
{
    pthread_mutex_lock(&live_mu);
    for (pp_client **pp = &live; *pp; pp = &(*pp)->live_next) {
        if (*pp == c) {
            *pp = c->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)ev;
    (void)arg;
    uint32_t sock = nng_socket_id(nng_pipe_socket(p));
    pthread_mutex_lock(&live_mu);
    for (pp_client *c = live; c; c = c->live_next)
        if ((uint32_t)nng_socket_id(c->sock) == sock)
            atomic_store(&c->lost, true);
    pthread_mutex_unlock(&live_mu);
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Starts `polypoold --listen URL --autostart --daemonize` and waits for it
 * to say whether it listens. Returns whether dialing again is worth it, and
 * a sentence for the failure detail in why. */
static bool autostart(const char *url, char *why, size_t whylen, const char **daemon_out)
{
    const char *daemon = getenv("POLYPOOL_DAEMON");
    if (!daemon || !*daemon)
        daemon = PP_DAEMON_PATH;
    *daemon_out = daemon;
    char *argv[] = {(char *)daemon, "--listen", (char *)url, "--autostart", "--daemonize", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, daemon, NULL, NULL, argv, environ);
    if (rc != 0) {
        snprintf(why, whylen, "could not start %s: %s", daemon, strerror(rc));
        return false;
    }
    int status;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        /* SIGCHLD ignored by the application: we cannot know; just dial. */
        snprintf(why, whylen, "started %s", daemon);
        return true;
    }
    /* 0: it listens now; 3: another daemon already runs. Both are worth
     * dialing (the other one may still be starting). */
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3)) {
        snprintf(why, whylen, "started %s", daemon);
        return true;
    }
    if (WIFEXITED(status))
        snprintf(why, whylen, "%s exited with status %d", daemon, WEXITSTATUS(status));
    else
        snprintf(why, whylen, "%s was killed by signal %d", daemon,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return false;
}

static bool bad_url_error(int rv)
{
    return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL;
}

static pp_status hello(pp_client *c, const char *name, int timeout_ms)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Hello h = POLYPOOL__V1__HELLO__INIT;
    h.version = PP_PROTOCOL_VERSION;
    h.pid = (uint32_t)getpid();
    h.name = (char *)name;
    req.op_case = POLYPOOL__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    Polypool__V1__Reply *r = NULL;
    pp_status st = client_call(c, &req, timeout_ms, &r);
    if (st != PP_OK)
        return st;
    if (r->status != POLYPOOL__V1__STATUS__STATUS_OK) {
        st = (pp_status)r->status;
        if ((unsigned)st > PP_STATUS_MAX)
            st = PP_EPROTO;
        error_set(st, "polypoold at %s refused the connection: %s", c->address,
                  r->detail && *r->detail ? r->detail : pp_strerror(st));
        client_reply_free(r);
        return st;
    }
    if (r->result_case != POLYPOOL__V1__REPLY__RESULT_HELLO || !r->hello) {
        error_set(PP_EPROTO, "polypoold at %s answered Hello without a HelloReply", c->address);
        client_reply_free(r);
        return PP_EPROTO;
    }
    c->cpu_count = r->hello->cpu_count;
    c->max_message = r->hello->max_message;
    c->default_pool_id = r->hello->default_pool_id;
    c->session_id = r->hello->session_id;
    client_reply_free(r);
    return PP_OK;
}

/* Stops and frees the idle call slots: their aios (nng_aio_free waits
 * for a callback still running) and contexts. Done before the socket is
 * closed: nng 1.5.2 can panic ("pthread_mutex_lock: Invalid argument" in
 * nng_ctx_recv) when a socket is torn down under a context whose aio
 * callback is still at work. */
static void slots_destroy(pp_client *c)
{
    pthread_mutex_lock(&c->mu);
    struct call_slot *list = c->free_slots;
    c->free_slots = NULL;
    c->n_free_slots = 0;
    pthread_mutex_unlock(&c->mu);
    while (list) {
        struct call_slot *s = list;
        list = s->next;
        slot_destroy(s);
    }
}

static void client_destroy(pp_client *c)
{
    slots_destroy(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->collector_cv);
    pthread_cond_destroy(&c->future_cv);
    free(c->pool_refs);
    free(c->async_jobs.keys);
    free(c->async_jobs.vals);
    free(c->address);
    free(c);
}

pp_status pp_client_open(const char *address, pp_client **out)
{
    pp_client_opts o = {0};
    o.address = address;
    return pp_client_open_opts(&o, out);
}

pp_status pp_client_open_opts(const pp_client_opts *opts, pp_client **out)
{
    pp_client_opts o = {0};
    if (opts)
        o = *opts;
    if (!out) {
        error_set(PP_EINVAL, "pp_client_open: out is NULL");
        return PP_EINVAL;
    }
    char defaddr[256];
    const char *addr = o.address;
    if (!addr || !*addr)
        addr = getenv("POLYPOOL_ADDRESS");
    if (!addr || !*addr) {
        if (pp_default_address(defaddr, sizeof defaddr) != PP_OK)
            return PP_EINVAL;
        addr = defaddr;
    }
    int connect_ms = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    bool may_start = !o.no_autostart && !env_true("POLYPOOL_NO_AUTOSTART") &&
                     strncmp(addr, "ipc://", 6) == 0;

    pp_client *c = calloc(1, sizeof *c);
    if (!c || !(c->address = strdup(addr))) {
        free(c);
        error_set(PP_ENOMEM, "pp_client_open: out of memory");
        return PP_ENOMEM;
    }
    c->pid = getpid();
    c->no_map = o.no_map || env_true("POLYPOOL_NO_MAP");
    atomic_init(&c->lost, false);
    atomic_init(&c->closing, false);
    atomic_init(&c->next_req, 1);
    atomic_init(&c->next_job, 1);
    c->output = o.output ? o.output : default_output;
    c->output_arg = o.output ? o.output_arg : NULL;
    pthread_mutex_init(&c->mu, NULL);
    cond_init_monotonic(&c->collector_cv);
    cond_init_monotonic(&c->future_cv);

    pp_status st;
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        st = from_nng(rv, c);
        client_destroy(c);
        return st;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    /* Redial quickly if the daemon drops us before Hello (see below). */
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 200);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RECV_MAX);
    live_add(c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_removed, NULL);

    int64_t deadline = clock_ms() + connect_ms;
    rv = nng_dial(c->sock, addr, &c->dialer, 0);
    if (rv != 0 && bad_url_error(rv)) {
        error_set(PP_EINVAL, "bad polypool address '%s': %s", addr, nng_strerror(rv));
        st = PP_EINVAL;
        goto fail;
    }
    if (rv != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s",
                 strncmp(addr, "ipc://", 6) != 0 ? "autostart only for ipc:// addresses"
                                                 : "autostart disabled");
        const char *daemon = NULL;
        if (may_start) {
            bool wait = autostart(addr, why, sizeof why, &daemon);
            long pause = 5;
            while ((rv = nng_dial(c->sock, addr, &c->dialer, 0)) != 0 && wait &&
                   clock_ms() < deadline) {
                struct timespec ts = {0, pause * 1000000L};
                nanosleep(&ts, NULL);
                if (pause < 100)
                    pause *= 2;
            }
        }
        if (rv != 0) {
            error_set(PP_ECONNREFUSED, "no polypool daemon at %s (%s; %s)", addr,
                      nng_strerror(rv), why);
            st = PP_ECONNREFUSED;
            goto fail;
        }
    }

    const char *name = o.name && *o.name ? o.name : program_invocation_short_name;
    for (;;) {
        int left = (int)(deadline - clock_ms());
        st = hello(c, name, left > 1000 ? left : 1000);
        if (st != PP_ECONNRESET || clock_ms() >= deadline)
            break;
        /* The daemon dropped the connection before answering Hello: it
         * does so to connections accepted while it revived a stuck
         * listener (nng#1518). The dialer redials by itself, and Hello has
         * no side effects, so say it again until the connect deadline. */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        atomic_store(&c->lost, false);
    }
    if (st != PP_OK)
        goto fail;
    *out = c;
    return PP_OK;

fail:
    slots_destroy(c);
    live_remove(c);
    nng_close(c->sock);
    client_destroy(c);
    return st;
}

void pp_client_close(pp_client *c)
{
    if (!c)
        return;
    if (getpid() != c->pid) {
        /* A forked child must not touch nng; the parent still owns the
         * connection. Leak the handle on purpose. */
        return;
    }
    process_client_closing(c);
    atomic_store(&c->closing, true);
    /* Segments, primitives and arrays may outlive their client: they stay
     * mapped, and the daemon drops their references with the session. */
    shm_forget_client(c);
    future_collector_stop(c);
    slots_destroy(c);
    live_remove(c);
    nng_close(c->sock);
    client_destroy(c);
}

const char *pp_client_address(const pp_client *c)
{
    return c ? c->address : "";
}

unsigned pp_client_cpu_count(const pp_client *c)
{
    return c ? c->cpu_count : 0;
}

pp_status pp_client_ping(pp_client *c, int timeout_ms)
{
    if (!c) {
        error_set(PP_EINVAL, "pp_client_ping: NULL client");
        return PP_EINVAL;
    }
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Ping ping = POLYPOOL__V1__PING__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_PING;
    req.ping = &ping;
    if (timeout_ms > 0)
        req.timeout_ms = (uint64_t)timeout_ms;
    return client_rpc(c, &req, timeout_ms, NULL);
}
