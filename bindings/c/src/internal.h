/* internal.h - the private structures of libpolypool (not installed).
 *
 * Locking order: client->mu, then future/iterator state (which is guarded by
 * client->mu too). client->mu is never held across an nng call or a user
 * callback (output fn, future callback, imap source).
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#include <nng/nng.h>

#include "client_internal.h"
#include "polypool.h"
#include "polypool.pb-c.h"

/* ---- values ------------------------------------------------------------ */

struct pp_value {
    pp_kind kind;
    /* 0 for a node of its own (calloc'd, freed with free()); otherwise the
     * node lives in a value_slab of (1 << slab_shift) bytes aligned to its
     * size, found by masking the node's address. It describes the node's
     * storage, not its contents: moves and setters keep it. */
    uint8_t slab_shift;
    union {
        bool b;
        int64_t i;
        double d;
        struct {              /* STRING, BYTES, PICKLE: always NUL-terminated */
            char *data;
            size_t len;
        } s;
        struct handle_rec *h; /* HANDLE */
        struct {              /* LIST, TUPLE: items; MAP: 2*len keys and values */
            pp_value **items;
            size_t len;       /* items, or pairs for a MAP */
            size_t cap;       /* slots allocated (pointers) */
        } c;
    } u;
};

/* A Handle (proto) in a value: a runtime object in a shared segment. */
struct handle_rec {
    uint32_t type;            /* pp_handle_type */
    uint64_t id, offset, size;
    char typecode;            /* VALUE */
    uint64_t count;           /* VALUE: array elements, 0 for a single value */
    uint32_t lock_type;       /* PP_H_NONE, PP_H_LOCK or PP_H_RLOCK */
    uint64_t lock_id, lock_offset, lock_size;
    char *name, *lock_name, *label;   /* never NULL */
    uint64_t out_offset;      /* CONNECTION: see polypool.proto */
    uint64_t end_id, end_size;
    char *end_name;           /* never NULL */
};

struct handle_rec *handle_rec_new(void);
struct handle_rec *handle_rec_copy(const struct handle_rec *h);
void handle_rec_free(struct handle_rec *h);
/* NULL when out of memory or the message has no name. */
struct handle_rec *handle_rec_from_msg(const Polypool__V1__Handle *m);
/* Fills m with copies of h's strings (handle_msg_free frees them). */
pp_status handle_msg_from_rec(Polypool__V1__Handle *m, const struct handle_rec *h);
void handle_msg_free(Polypool__V1__Handle *m);
const char *handle_type_name(uint32_t type);

/* One value as one packed Values message (queue items, pipe messages,
 * managed objects' keys and values), and back (PP_EPROTO unless exactly
 * one value). pack_value's out->data is malloc'd. */
struct packed {
    uint8_t *data;
    size_t len;
};
pp_status pack_value(const pp_value *v, struct packed *out);
pp_status unpack_value(const uint8_t *data, size_t len, pp_value **out);

/* ring_get's allocator (ring.h): one buffer that grows to the largest
 * message taken; the caller frees data. */
struct grow_buf {
    uint8_t *data;
    size_t cap;
};
void *grow_buf_alloc(void *arg, size_t len);

/* Managed objects (managed.c): one ObjOp. args are encoded one blob each;
 * *results (a malloc'd array of n values, caller frees both) decoded. */
pp_status managed_op(pp_client *c, uint64_t id, int op, const pp_value *const *args,
                     size_t nargs, int64_t index, int64_t stop, pp_value ***results,
                     size_t *n_results, int64_t *value);
/* ObjCreate (type: PP_H_DICT...) or ObjAttach (type 0) -> the object's id. */
pp_status managed_new(pp_client *c, uint32_t type, uint64_t attach_id, uint64_t *id);
void managed_release(pp_client *c, uint64_t id);

/* The client is closing: its segments forget it (shared.c). */
void shm_forget_client(pp_client *c);

/* Makes a client map shared memory whatever $POLYPOOL_NO_MAP says (the
 * Python extension, whose objects are views on the mapping). */
void client_no_map_off(pp_client *c);

/* Segments for the Python extension (shared.c): a new one with the given
 * primitives, one attached by id or label, and its identity. */
pp_status shm_new(pp_client *c, const char *label, size_t size, Polypool__V1__SyncInit **syncs,
                  size_t n_syncs, pp_shm **out);
pp_status shm_attach_id(pp_client *c, uint64_t id, const char *label, pp_shm **out);
uint64_t shm_id(const pp_shm *s);
/* For queue.c: segment references (shm_unref drops the daemon's with the
 * last), the segment a handle names (attached with c, mapped only without),
 * handle values, and the handle in a value (NULL with PP_EINVAL set). */
pp_status shm_new_closers(pp_client *c, const char *label, size_t size,
                          Polypool__V1__SyncInit **syncs, size_t n_syncs,
                          Polypool__V1__Closer **closers, size_t n_closers, pp_shm **out);
pp_shm *shm_ref(pp_shm *s);
void shm_unref(pp_shm *s);
pp_status shm_from_handle(pp_client *c, uint64_t id, const char *name, size_t size,
                          pp_shm **out);
pp_value *handle_value(struct handle_rec *h);
const struct handle_rec *handle_of(const pp_value *v, const char *fn);
int set_str(char **dst, const char *src);
const char *shm_path(const pp_shm *s);
/* Unmaps now, keeping the daemon reference until pp_shm_close. */
void shm_unmap(pp_shm *s);
/* Builds a handle value from its parts (strings copied); NULL on ENOMEM. */
pp_value *handle_value_new(const struct handle_rec *h);

/* Builds a value node of `kind` with empty contents (internal: the decoder
 * fills containers directly). */
pp_value *value_new(pp_kind kind);
/* Frees the node itself (not its contents): free() or a slab release. */
void value_node_free(pp_value *v);

/* Slabs: many nodes in one allocation, for building big trees (decoded
 * results) without one calloc per node. Every slab node is still a node of
 * its own to the API: it may be freed, moved or replaced alone; the slab
 * goes when its last node is freed (an atomic count, so nodes of one slab
 * may be freed on different threads). A builder holds the slab it is
 * filling (*cur, NULL at first) and lets go of it with value_slab_drop. */
typedef struct value_slab value_slab;
/* A node of `kind` with empty contents from *cur (a new slab when *cur is
 * NULL or full); `hint` is how many more nodes the caller expects to need,
 * this one included: it sizes a new slab, and small hints get plain
 * value_new nodes. NULL when out of memory. */
pp_value *value_slab_node(value_slab **cur, pp_kind kind, size_t hint);
/* Drops the builder's hold on *cur (nodes handed out stay valid). */
void value_slab_drop(value_slab **cur);
/* Frees the contents of v (not the node) and leaves it NULL. */
void value_clear(pp_value *v);
/* Reserves room for n items (n pairs for a MAP). PP_ENOMEM. */
pp_status value_reserve(pp_value *v, size_t n);

/* ---- errors ------------------------------------------------------------ */

/* An owned copy of a failure, stored in iterators and futures until handed
 * to pp_last_error(). */
typedef struct error_rec {
    pp_status status;
    char *message;
    char *where;
    uint64_t index;
    int signal;
    int exit_code;
    void *exception;
    size_t exception_len;
    char *traceback;
} error_rec;

void error_rec_from_task(error_rec *r, const Polypool__V1__TaskError *te);
void error_rec_from_last(error_rec *r);
void error_rec_set(error_rec *r, pp_status st, const char *message);
void error_rec_fini(error_rec *r);
/* Makes r the calling thread's pp_last_error() and returns its status. */
pp_status error_raise(const error_rec *r);
/* Fills a pp_error view of r (strings borrowed from r). */
void error_rec_view(const error_rec *r, pp_error *out);

/* ---- functions --------------------------------------------------------- */

/* A pp_pyenv with its defaults applied, in owned memory. */
struct pyenv_own {
    char *interpreter, *main_path, *main_module, *cwd;
    char **path;
    size_t npath;
    char **environ;
    size_t nenviron;
};

struct pp_func {
    char *library;            /* or the Python module */
    char *symbol;             /* or the Python qualified name */
    bool py;
    struct pyenv_own env;     /* py */
    uint64_t env_id;          /* py: a hash of env, its name on the wire */
};

/* A Function message and the parts it points to. */
struct func_msg {
    Polypool__V1__Function fn;
    Polypool__V1__CFunction c;
    Polypool__V1__PyFunction py;
    Polypool__V1__PyEnv env;
};

/* A deep copy of f. PP_OK or PP_ENOMEM (error set). */
pp_status func_copy(const pp_func *f, pp_func **out);

/* Fills m so that m->fn describes f; borrowed pointers. A Python
 * function's environment is left out when the daemon already knows it by
 * its id for client c (client_env_known). Returns the id of an
 * environment the message carries, to acknowledge (client_env_ack) once
 * the daemon has answered the request, or 0. */
uint64_t func_to_msg(const pp_func *f, struct func_msg *m, pp_client *c);

/* Applies env's defaults (env may be NULL) into *own. PP_OK, PP_EINVAL
 * (relative interpreter) or PP_ENOMEM, with the error set. */
pp_status pyenv_own_init(struct pyenv_own *own, const pp_pyenv *env);
void pyenv_own_fini(struct pyenv_own *own);
/* Fills e from own; borrowed pointers. */
void pyenv_own_msg(const struct pyenv_own *own, Polypool__V1__PyEnv *e);

/* ---- the client -------------------------------------------------------- */

/* Futures by job id (future.c): open addressing, linear probing. */
typedef struct future_map {
    uint64_t *keys;           /* 0 = empty slot */
    pp_future **vals;
    size_t cap;               /* power of two, or 0 */
    size_t count;
} future_map;

struct call_slot;

/* An asynchronous call (client.c): one request in flight on its own nng
 * context, for the collector thread. The aio callback moves it from send
 * to receive and, when the reply (or a failure) is in, sets `done` under
 * client->mu and broadcasts client->collector_cv. The owner starts it,
 * waits for `done` and finishes it, never holding client->mu across
 * client_acall_start/finish/abort (they call nng). */
typedef struct client_acall {
    pp_client *client;
    nng_ctx ctx;
    nng_aio *aio;
    bool ready;               /* ctx and aio exist */
    bool busy;                /* started, not yet finished */
    bool done;                /* client->mu: the operation completed */
    bool receiving;           /* the send went out; waiting for the reply */
    uint64_t req_id;
    int64_t deadline;         /* clock_ms() by which the reply must be in */
} client_acall;

struct pp_client {
    nng_socket sock;
    nng_dialer dialer;
    char *address;
    pid_t pid;                  /* the process that opened the client */
    bool no_map;                /* shared objects through the daemon, unmapped */
    atomic_bool lost;           /* the daemon's pipe went away */
    pp_client *live_next;       /* client.c's list of open clients (pipe callbacks) */
    atomic_bool closing;        /* pp_client_close in progress */
    atomic_uint_fast64_t next_req;
    atomic_uint_fast64_t next_job;

    unsigned cpu_count;
    uint64_t max_message;
    uint64_t default_pool_id;
    uint64_t session_id;

    pp_output_fn output;
    void *output_arg;

    pthread_mutex_t mu;         /* guards everything below */
    struct call_slot *free_slots;
    size_t n_free_slots;

    /* The async collector: started on the first async submit. It also
     * sends the outbox (future.c). */
    bool collector_started;
    bool collector_stop;
    pthread_t collector;
    pthread_cond_t collector_cv;   /* signalled on new outbox work, call completion, stop */
    pthread_cond_t future_cv;      /* broadcast when a future becomes ready */
    future_map async_jobs;         /* futures whose job is outstanding, by job id */
    pp_future *outbox, *outbox_tail;  /* submissions not sent yet, oldest first */
    size_t n_unsent;               /* futures in the outbox or in the batch in flight */
    uint64_t queued_seq;           /* submissions queued so far */
    uint64_t acked_seq;            /* ... of which the daemon answered (or that failed) */
    client_acall submit_call, collect_call;
    /* Open handles per shared (named or default) pool: the client detaches
     * from such a pool when it frees its last handle to it. */
    struct pool_ref { uint64_t id; unsigned refs; } *pool_refs;
    size_t n_pool_refs, cap_pool_refs;
    /* Python environments the daemon has acknowledged by id (PyFunction.
     * env_id), most recent last; the oldest is forgotten when full. */
    uint64_t env_known[16];
    size_t n_env_known;
    /* Processes started and not freed (process.c), joined at close. */
    pp_process *procs;
};

/* pp_client_close: terminates the daemonic processes c holds and joins all
 * of them (process.c). */
void process_client_closing(pp_client *c);

/* Whether the daemon knows the environment id (a reply to a request that
 * carried it has arrived). */
bool client_env_known(pp_client *c, uint64_t id);
/* Records that it does. Accepts 0 (a no-op). */
void client_env_ack(pp_client *c, uint64_t id);
/* The same with c->mu held. */
void client_env_ack_locked(pp_client *c, uint64_t id);

pp_status client_acall_init(pp_client *c, client_acall *a);
/* Closes the context; the call must not be busy. Accepts an unready one. */
void client_acall_fini(client_acall *a);
/* Sends msg, a packed Request whose id is req_id (consumed on PP_OK), and
 * receives its reply within timeout_ms (+ grace). */
pp_status client_acall_start(client_acall *a, nng_msg *msg, uint64_t req_id, int timeout_ms);
/* Once a->done: the reply as client_call gives it (PP_OK with *reply, or
 * a transport status with pp_last_error set); the call is free again. */
pp_status client_acall_finish(client_acall *a, Polypool__V1__Reply **reply);
/* Makes a busy call complete soon (with a failure). */
void client_acall_abort(client_acall *a);
/* Packs req into a new message, giving it the next request id. */
pp_status client_pack_request(pp_client *c, Polypool__V1__Request *req, nng_msg **msg);
uint64_t client_request_id(pp_client *c);

/* A transport-level failure of a call becomes this client error. */
pp_status client_rpc(pp_client *c, Polypool__V1__Request *req, int timeout_ms,
                     Polypool__V1__Reply **reply);
/* Writes a task's output through the client's output function. */
void client_output(pp_client *c, const ProtobufCBinaryData *out,
                   const ProtobufCBinaryData *err);
/* The largest Values payload to put in one Submit. */
size_t client_submit_budget(const pp_client *c);
uint64_t client_job_id(pp_client *c);
/* Sends Cancel{job} and ignores the answer. */
void client_cancel_job(pp_client *c, uint64_t job);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t clock_ms(void);

/* ---- pools ------------------------------------------------------------- */

struct pp_pool {
    pp_client *client;
    uint64_t id;
    char *name;           /* "" for private */
    unsigned size;
    bool is_private;
    bool closed;          /* close or terminate was sent */
};

/* PP_ECLOSED (with the detail set) once close or terminate was sent for p:
 * a closed pool takes no more work. */
pp_status pool_check_open(const pp_pool *p);

/* ---- jobs (map.c) ------------------------------------------------------ */

/* Results of one job being assembled by index. */
typedef struct job_results {
    uint64_t job_id;
    size_t n;                 /* items in the job */
    pp_value **values;        /* n slots */
    unsigned char *have;      /* n flags */
    size_t received;
    bool done;                /* the daemon listed the job in `done` */
    bool failed;
    error_rec first_error;
} job_results;

pp_status job_results_init(job_results *jr, uint64_t job_id, size_t n);
void job_results_fini(job_results *jr);
/* Takes one batch of jr's job into jr (outputs are written by the caller). */
pp_status job_results_add(job_results *jr, const Polypool__V1__ResultBatch *b);
/* The final status: PP_OK with *list a new LIST, or the first failure
 * (left in jr->first_error; the caller raises it with error_raise). */
pp_status job_results_finish(job_results *jr, pp_value **list);

/* Submits the items of `items` (a LIST) as job `job`, in Submits that fit the
 * daemon's budget. The last one carries `wait`/`async`; *reply_out (may be
 * NULL) gets the last reply. */
pp_status job_submit_list(pp_pool *p, const pp_func *f, uint64_t job,
                          const pp_value *items, size_t chunksize, bool star,
                          bool wait, bool async, int timeout_ms,
                          Polypool__V1__Reply **reply_out);

/* ---- time ---------------------------------------------------------------- */

/* The CLOCK_MONOTONIC time `ms` milliseconds from now: a deadline for
 * pthread_cond_timedwait on the client's condvars (all monotonic). */
static inline struct timespec ts_after_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* a < b */
static inline bool ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* ---- futures (future.c) ------------------------------------------------ */

void future_collector_stop(pp_client *c);
/* Waits until every submission queued so far has reached the daemon, so
 * that a call made after an apply_async is handled after it. No-op on the
 * collector thread. */
void future_outbox_flush(pp_client *c);
/* Waits until every future the user holds that was submitted to pool_id is
 * ready (negative timeout: forever; 0: just check). True when none is left
 * pending. pp_pool_join uses it, so that after a join every AsyncResult of
 * the pool is ready, as in multiprocessing. */
bool future_wait_pool(pp_client *c, uint64_t pool_id, int timeout_ms);

#endif
