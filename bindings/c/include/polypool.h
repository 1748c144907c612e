/* polypool.h - the C client of polypool, and the task ABI for C workers.
 *
 * This is the only public header. Link with `pkg-config --libs polypool`.
 *
 * Conventions
 *  - Every fallible call returns a pp_status; PP_OK is 0. The human-readable
 *    detail of the last failure on the calling thread is pp_last_error().
 *  - Out-parameters are written only on PP_OK.
 *  - A function that takes ownership of an argument does so only when it
 *    returns PP_OK (nng's rule); on failure the caller still owns it.
 *  - Every _free/_close accepts NULL.
 *  - Timeouts are in milliseconds: a negative value waits forever, 0 does
 *    not wait.
 *  - One pp_client may be used from many threads at once. Pools, iterators
 *    and futures belong to their client and must not outlive it.
 */
#ifndef POLYPOOL_H
#define POLYPOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_VERSION_MAJOR 0
#define PP_VERSION_MINOR 1
#define PP_VERSION_PATCH 0
#define PP_VERSION_STRING "0.1.0"

/* The wire protocol version this library speaks (proto/polypool.proto). */
#define PP_PROTOCOL_VERSION 1

/* ------------------------------------------------------------------------
 * Status codes. The numbers equal the wire enum polypool.v1.Status.
 * ---------------------------------------------------------------------- */
typedef enum pp_status {
    PP_OK = 0,
    PP_EINVAL = 1,        /* bad argument */
    PP_ENOENT = 2,        /* no such pool, job or named object */
    PP_ETIMEDOUT = 3,     /* the timeout or deadline passed */
    PP_ECLOSED = 4,       /* the pool or object is closed or terminated */
    PP_ENOMEM = 5,        /* out of memory */
    PP_EPROTO = 6,        /* malformed message or protocol violation */
    PP_EMSGSIZE = 7,      /* a message over the daemon's maximum size */
    PP_ECONNREFUSED = 8,  /* no daemon at the address (and none could be started) */
    PP_ECONNRESET = 9,    /* the daemon went away during the call */
    PP_ETASK = 10,        /* the task failed; see pp_last_error() */
    PP_EWORKER = 11,      /* the worker died running the task (signal/exit code) */
    PP_ENOLIB = 12,       /* the task's library could not be loaded */
    PP_ENOSYM = 13,       /* the task's symbol is not in its library */
    PP_EPERM = 14,        /* not allowed */
    PP_EBUSY = 15,        /* still running or in use (join before close) */
    PP_ECANCELED = 16,    /* cancelled */
    PP_EFORKED = 17,      /* a client used in a child forked after it was opened */
    PP_EVERSION = 18,     /* protocol version mismatch */
    PP_EEXIST = 19,       /* the name or id is already taken */
    PP_EAGAIN = 20,       /* not ready yet */
    PP_EEOF = 21,         /* the iterator is exhausted */
    PP_EINTERNAL = 22,    /* a bug in polypool */
    PP_ENOSPAWN = 23,     /* a process could not be started */
    PP_EOWNERDEAD = 24,   /* acquired; the previous holder died holding it */
    PP_ESTATE = 25,       /* not valid in the object's current state */
} pp_status;

#define PP_STATUS_MAX PP_ESTATE

/* A short sentence describing `st`. Never NULL, also for unknown values. */
const char *pp_strerror(pp_status st);

/* The enumerator's name, e.g. "PP_ETIMEDOUT". Never NULL ("PP_E?" for
 * unknown values). */
const char *pp_status_name(pp_status st);

/* ------------------------------------------------------------------------
 * Errors.
 * ---------------------------------------------------------------------- */

/* The full story of a failure: for a task that failed, what the task said
 * and where; for a client-side failure, the daemon's or library's detail.
 * Strings are never NULL (empty when unknown). */
typedef struct pp_error {
    pp_status status;
    const char *message;     /* what went wrong */
    const char *where;       /* where: worker pid, function, item index */
    uint64_t index;          /* the failed item's index in its map, or 0 */
    int signal;              /* PP_EWORKER: the signal that killed the worker */
    int exit_code;           /* PP_EWORKER: the worker's exit code when no signal */
    const void *exception;   /* reserved for Python: pickled exception bytes */
    size_t exception_len;
    const char *traceback;   /* reserved for Python */
} pp_error;

/* The error of the last failed pp_ call on this thread. Never NULL; its
 * status is PP_OK when nothing has failed yet. Valid until the next pp_ call
 * on this thread that fails. */
const pp_error *pp_last_error(void);

/* ------------------------------------------------------------------------
 * Values: what crosses between languages (arguments, results).
 *
 * A pp_value is a tree: a scalar, or a list/tuple/map of values. A value
 * that was appended to a list or set in a map belongs to its container.
 * ---------------------------------------------------------------------- */
typedef enum pp_kind {
    PP_NULL = 0,
    PP_BOOL = 1,
    PP_INT = 2,
    PP_DOUBLE = 3,
    PP_STRING = 4,
    PP_BYTES = 5,
    PP_LIST = 6,
    PP_MAP = 7,
    PP_HANDLE = 8,   /* a runtime object: a segment, an array or a primitive */
    PP_PICKLE = 9,   /* a Python pickle; C sees bytes */
    PP_TUPLE = 10,   /* C treats it as a list; Python gets a tuple */
} pp_kind;

typedef struct pp_value pp_value;

/* Constructors. Each returns a new value the caller owns (free with
 * pp_value_free, or hand it to a container), or NULL when out of memory. */
pp_value *pp_value_null(void);
pp_value *pp_value_bool(bool b);
pp_value *pp_value_int(int64_t i);
pp_value *pp_value_double(double d);
pp_value *pp_value_string(const char *s);                 /* copies s */
pp_value *pp_value_string_n(const char *s, size_t len);   /* copies len bytes */
pp_value *pp_value_bytes(const void *data, size_t len);   /* copies */
pp_value *pp_value_pickle(const void *data, size_t len);  /* copies */
pp_value *pp_value_list(void);
pp_value *pp_value_tuple(void);
pp_value *pp_value_map(void);
/* A list of n integers: a convenience for map inputs. */
pp_value *pp_value_list_of_ints(const int64_t *ints, size_t n);

/* Frees a value and everything it contains. Accepts NULL. Never free a
 * value that belongs to a container. */
void pp_value_free(pp_value *v);

/* A deep copy, or NULL when out of memory. */
pp_value *pp_value_copy(const pp_value *v);

/* Replaces the contents of `dst` with those of `src`, which is consumed
 * (freed) in every case. For tasks filling their result. */
void pp_value_move(pp_value *dst, pp_value *src);

/* In-place setters: replace the contents of v (freeing the old ones). They
 * return PP_OK or PP_ENOMEM. For tasks filling their result. */
pp_status pp_value_set_null(pp_value *v);
pp_status pp_value_set_bool(pp_value *v, bool b);
pp_status pp_value_set_int(pp_value *v, int64_t i);
pp_status pp_value_set_double(pp_value *v, double d);
pp_status pp_value_set_string(pp_value *v, const char *s);
pp_status pp_value_set_bytes(pp_value *v, const void *data, size_t len);

/* The kind of v. */
pp_kind pp_value_kind(const pp_value *v);

/* Lenient getters: a wrong kind gives 0 / false / NULL. get_int accepts
 * BOOL; get_double accepts INT and BOOL. get_string gives the string of a
 * STRING value; get_bytes the data of BYTES, PICKLE or STRING. `len` may be
 * NULL. Returned pointers live as long as v. */
bool pp_value_get_bool(const pp_value *v);
int64_t pp_value_get_int(const pp_value *v);
double pp_value_get_double(const pp_value *v);
const char *pp_value_get_string(const pp_value *v, size_t *len);
const void *pp_value_get_bytes(const pp_value *v, size_t *len);

/* Strict getters: PP_EINVAL when v has another kind. */
pp_status pp_value_to_int(const pp_value *v, int64_t *out);
pp_status pp_value_to_double(const pp_value *v, double *out);

/* Containers. len: items of a list/tuple, pairs of a map, bytes of a
 * string/bytes/pickle, 0 otherwise. at: the i-th item of a list/tuple, or
 * NULL when out of range or not a list/tuple. */
size_t pp_value_len(const pp_value *v);
const pp_value *pp_value_at(const pp_value *v, size_t i);
pp_value *pp_value_at_mut(pp_value *v, size_t i);

/* Appends item to a list or tuple; consumes item on PP_OK. PP_EINVAL if
 * list is not a list or tuple. */
pp_status pp_value_append(pp_value *list, pp_value *item);

/* Maps keep insertion order; keys are values (usually strings). set
 * replaces the value of an equal key. Both consume key and val on PP_OK. */
pp_status pp_value_map_set(pp_value *map, pp_value *key, pp_value *val);
pp_status pp_value_map_set_str(pp_value *map, const char *key, pp_value *val);
/* The value stored under a string key, or NULL. */
const pp_value *pp_value_map_get(const pp_value *map, const char *key);
/* The i-th pair; NULL when out of range. */
const pp_value *pp_value_map_key_at(const pp_value *map, size_t i);
const pp_value *pp_value_map_val_at(const pp_value *map, size_t i);

/* Deep equality (LIST and TUPLE with equal items compare equal; INT 1 and
 * DOUBLE 1.0 do not). */
bool pp_value_equal(const pp_value *a, const pp_value *b);

/* A Python-like repr: `[1, 4, 9]`, `{'a': 1}`, `'text'`, `None`, `True`.
 * Returns a malloc'd string the caller frees with free(), or NULL. */
char *pp_value_repr(const pp_value *v);

/* ------------------------------------------------------------------------
 * The task ABI: what a C task function looks like.
 *
 *     int square(const pp_value *args, pp_value *result)
 *     {
 *         int64_t x;
 *         if (pp_value_to_int(pp_value_at(args, 0), &x) != PP_OK)
 *             return pp_task_fail(result, "square: want an int");
 *         return pp_value_set_int(result, x * x);
 *     }
 *
 * `args` is a LIST of the call's arguments (one for map, the items of the
 * tuple for starmap and apply). `result` is a NULL value the task fills.
 * Return 0 on success. Any other return fails the task with PP_ETASK; its
 * message is the result's string if the task set one (pp_task_fail does),
 * else "task returned N". Export the function from a shared library built
 * with -fPIC; polypool-worker finds it with dlopen/dlsym.
 * ---------------------------------------------------------------------- */
typedef int (*pp_task_fn)(const pp_value *args, pp_value *result);

/* Sets result to the formatted message and returns PP_ETASK. */
int pp_task_fail(pp_value *result, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------
 * Functions: how a task names its code.
 * ---------------------------------------------------------------------- */
typedef struct pp_func pp_func;

/* A C function: `symbol` exported by the shared library `library` (a path,
 * made absolute here, or a bare soname for dlopen's search; a leading
 * "$ORIGIN" stands for the directory of the running executable, as in an
 * rpath: "$ORIGIN/libtasks.so" is the library next to the program). The library is
 * loaded by the worker, so a missing library or symbol fails the task with
 * PP_ENOLIB / PP_ENOSYM. PP_EINVAL for NULL or empty arguments. */
pp_status pp_func_c(const char *library, const char *symbol, pp_func **out);

/* Where a Python function runs: a Python worker host started by the daemon
 * as `<interpreter> -m polypool._worker` (the polypool package must be
 * importable there), with `path` first on sys.path, in `cwd`, and with the
 * script `main_path` (or module `main_module`) imported as __main__ under
 * its `if __name__ == "__main__":` guard, as multiprocessing's spawn does. */
typedef struct pp_pyenv {
    const char *interpreter;      /* absolute; NULL: $POLYPOOL_PYTHON, else the
                                     interpreter polypool was built for */
    const char *const *path;      /* npath sys.path entries; NULL: $PYTHONPATH's */
    size_t npath;
    const char *main_path;        /* NULL: none */
    const char *main_module;      /* NULL: none */
    const char *cwd;              /* NULL: the current directory */
    const char *const *environ;   /* nenviron "NAME=value" variables of the host;
                                     NULL: the daemon's environment */
    size_t nenviron;
} pp_pyenv;

/* A Python function: `qualname` (a module-level name, dotted for a nested
 * class's method) in `module`, run in env (NULL: all defaults). Relative
 * path entries are made absolute here. A missing module or name fails the
 * task: PP_ENOLIB / PP_ENOSYM. PP_EINVAL for empty names or a relative
 * interpreter. */
pp_status pp_func_py(const char *module, const char *qualname, const pp_pyenv *env,
                     pp_func **out);
void pp_func_free(pp_func *f);

/* ------------------------------------------------------------------------
 * The client: one connection to polypoold.
 * ---------------------------------------------------------------------- */
typedef struct pp_client pp_client;

/* Where a task's stdout/stderr goes in the client. fd is 1 or 2. Called
 * before the task's results are handed out, from the thread that receives
 * them. The default writes to the client's fd 1 and 2. */
typedef void (*pp_output_fn)(void *arg, int fd, const void *data, size_t len);

typedef struct pp_client_opts {
    /* nng URL of the daemon. NULL: $POLYPOOL_ADDRESS, else the per-user
     * default ipc path (see pp_default_address). */
    const char *address;
    /* Start a daemon when none answers at an ipc:// address (default
     * true; $POLYPOOL_NO_AUTOSTART=1 turns it off). The started daemon
     * exits after its last client leaves and a grace period. */
    bool no_autostart;
    /* How long to wait for a daemon to answer, started or not. 0: 5000. */
    int connect_timeout_ms;
    /* Shown by `polypool status`. NULL: the program name. */
    const char *name;
    pp_output_fn output;
    void *output_arg;
    /* Do not map shared memory: operate on locks and semaphores, events
     * and segments through the daemon instead (for a client that cannot
     * map the daemon's memory; $POLYPOOL_NO_MAP=1 sets it too). */
    bool no_map;
} pp_client_opts;

/* Connects with default options to `address` (NULL for the default).
 * Statuses: PP_ECONNREFUSED (no daemon, none started), PP_EVERSION,
 * PP_EPERM, PP_ETIMEDOUT, PP_ENOMEM, PP_EINVAL (bad URL). */
pp_status pp_client_open(const char *address, pp_client **out);
pp_status pp_client_open_opts(const pp_client_opts *opts, pp_client **out);

/* Disconnects. The daemon then cancels this client's jobs and destroys its
 * private pools. Pools, iterators and futures of the client must be freed
 * first. Accepts NULL. */
void pp_client_close(pp_client *c);

/* The address the client is connected to; lives as long as c. */
const char *pp_client_address(const pp_client *c);
/* The daemon's CPU count (the default pool's size). */
unsigned pp_client_cpu_count(const pp_client *c);

/* Round trip to the daemon. */
pp_status pp_client_ping(pp_client *c, int timeout_ms);

/* Writes the per-user default address into buf ("ipc:///run/user/UID/
 * polypool/polypoold.sock", or under /tmp/polypool-UID/ when
 * $XDG_RUNTIME_DIR is unset). PP_EINVAL if it does not fit. */
pp_status pp_default_address(char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Pools.
 * ---------------------------------------------------------------------- */
typedef struct pp_pool pp_pool;

typedef struct pp_pool_opts {
    unsigned size;               /* concurrent tasks; 0: the CPU count */
    unsigned maxtasksperchild;   /* tasks before a worker is replaced; 0: never */
    const pp_func *initializer;  /* optional; runs once in each new worker */
    const pp_value *initargs;    /* optional LIST of the initializer's arguments */
    /* Start Python worker hosts in this environment ahead of the first
     * task, instead of C workers (a pool runs C and Python tasks either
     * way; hosts run both). Ignored with a Python initializer, whose
     * environment every worker then has. */
    const pp_pyenv *python;
} pp_pool_opts;

/* A private pool, owned by this client. opts may be NULL. */
pp_status pp_pool_create(pp_client *c, const pp_pool_opts *opts, pp_pool **out);

/* A named pool other clients can attach to: created if absent (with opts),
 * attached otherwise (opts ignored). It lives while a client uses it. */
pp_status pp_pool_open_named(pp_client *c, const char *name,
                             const pp_pool_opts *opts, pp_pool **out);

/* Attaches to an existing named pool; "default" is the daemon's default
 * pool, sized to the CPU count. PP_ENOENT if there is none. */
pp_status pp_pool_attach(pp_client *c, const char *name, pp_pool **out);

/* Stops accepting work; submitted work still completes. For a named pool,
 * this client detaches. Idempotent. */
pp_status pp_pool_close(pp_pool *p);
/* Stops now: unfinished items of this client's jobs fail with PP_ECLOSED;
 * a private pool's workers are killed. Idempotent. */
pp_status pp_pool_terminate(pp_pool *p);
/* Waits until the pool's work is done, its workers have exited, and every
 * future of this client on the pool is ready (as multiprocessing's join
 * leaves every AsyncResult ready). PP_EBUSY if the pool was not closed or
 * terminated; PP_ETIMEDOUT. */
pp_status pp_pool_join(pp_pool *p, int timeout_ms);
/* Releases the handle; a private pool still running is terminated. When
 * it was the client's last handle to a named (or the default) pool, the
 * client detaches from that pool, as pp_pool_close does. */
void pp_pool_free(pp_pool *p);

unsigned pp_pool_size(const pp_pool *p);
const char *pp_pool_name(const pp_pool *p);   /* "" for a private pool */

/* ------------------------------------------------------------------------
 * map, imap, apply.
 *
 * Failed tasks: map returns the status of the first failure to arrive
 * (PP_ETASK, PP_EWORKER, PP_ENOLIB, ...; as multiprocessing, this is not
 * necessarily the lowest index) with the detail, and the failed item's
 * index, in pp_last_error(). It returns only after every item has finished
 * (no other item is lost). An iterator returns the
 * failure at the failed item's position and can go on.
 * ---------------------------------------------------------------------- */
typedef struct pp_map_opts {
    size_t chunksize;    /* items per task; 0: map uses multiprocessing's
                            default (about 4 tasks per worker), imap 1 */
    int timeout_ms;      /* deadline for the whole call; <= 0: none. Items
                            not done by then fail with PP_ETIMEDOUT. */
    bool star;           /* each item is a LIST of arguments (starmap) */
    size_t window;       /* imap: most items submitted and not yet
                            consumed; 0: 4096 */
} pp_map_opts;

/* multiprocessing's default chunksize for n items on a pool of `workers`. */
size_t pp_default_chunksize(size_t n, unsigned workers);

/* Applies f to every item of the LIST `items`; *results is a new LIST in
 * input order. opts may be NULL. */
pp_status pp_pool_map(pp_pool *p, const pp_func *f, const pp_value *items,
                      const pp_map_opts *opts, pp_value **results);

/* f(*args): args is a LIST (or NULL for no arguments). */
pp_status pp_pool_apply(pp_pool *p, const pp_func *f, const pp_value *args,
                        int timeout_ms, pp_value **result);

typedef struct pp_iter pp_iter;

/* Produces the next input item of an imap: set *item to a new value (it is
 * consumed) and return PP_OK, or return PP_EEOF at the end. Any other
 * status ends the input and is reported by pp_iter_next. */
typedef pp_status (*pp_source_fn)(void *arg, pp_value **item);

/* Lazily maps f over items (which must outlive the iterator), at most
 * opts->window items ahead of the consumer. ordered: results in input order
 * (imap), else in completion order (imap_unordered). */
pp_status pp_pool_imap(pp_pool *p, const pp_func *f, const pp_value *items,
                       const pp_map_opts *opts, bool ordered, pp_iter **out);
/* The same over items produced by `next`, called from pp_iter_next. */
pp_status pp_pool_imap_source(pp_pool *p, const pp_func *f, pp_source_fn next,
                              void *arg, const pp_map_opts *opts, bool ordered,
                              pp_iter **out);

/* The next result, as a new value the caller owns. PP_EEOF after the last
 * one; PP_ETIMEDOUT if none came within timeout_ms (call again); a task
 * status (PP_ETASK, ...) for a failed item, which is then consumed. */
pp_status pp_iter_next(pp_iter *it, int timeout_ms, pp_value **item);
/* The input index of the result pp_iter_next last returned. */
uint64_t pp_iter_index(const pp_iter *it);
/* Cancels what is still running and frees. Accepts NULL. */
void pp_iter_free(pp_iter *it);

/* ------------------------------------------------------------------------
 * Futures: apply_async and map_async.
 * ---------------------------------------------------------------------- */
typedef struct pp_future pp_future;

/* Called once when the future becomes ready, on the client's collector
 * thread. It must not block; it may call pp_future_get(f, 0, ...). */
typedef void (*pp_callback)(pp_future *f, void *arg);

/* Queues the task and returns at once: submissions are sent in batches by
 * the collector thread, so a refusal by the daemon (PP_ENOENT, PP_ECLOSED,
 * PP_EINVAL, ...) arrives as the future's failure, not as this call's
 * status. Calls made later on the same client are handled after it. */
pp_status pp_pool_apply_async(pp_pool *p, const pp_func *f, const pp_value *args,
                              pp_callback cb, void *cb_arg, pp_future **out);
/* Resolves to the LIST of results. */
pp_status pp_pool_map_async(pp_pool *p, const pp_func *f, const pp_value *items,
                            const pp_map_opts *opts, pp_callback cb, void *cb_arg,
                            pp_future **out);

/* Waits until ready: PP_OK, or PP_ETIMEDOUT. */
pp_status pp_future_wait(pp_future *f, int timeout_ms);
/* Waits, then gives a copy of the result (caller frees) or the task's
 * failure status (detail in pp_last_error()). PP_ETIMEDOUT if not ready in
 * time. result may be NULL. */
pp_status pp_future_get(pp_future *f, int timeout_ms, pp_value **result);
bool pp_future_ready(const pp_future *f);
/* *ok = whether it succeeded. PP_EAGAIN if not ready yet. */
pp_status pp_future_successful(const pp_future *f, bool *ok);
/* The failure, or NULL if the future succeeded or is not ready. Lives as
 * long as f. */
const pp_error *pp_future_error(const pp_future *f);
/* Frees; a pending future's job is cancelled. Accepts NULL. Must not be
 * called from the future's own callback. */
void pp_future_free(pp_future *f);

/* ---- Processes -----------------------------------------------------------
 *
 * multiprocessing.Process for C: a new process, started by the daemon,
 * running one function (a C function of a library, or a Python function)
 * with arguments, as `target(*args)`. The process is the child's own: its
 * exit code is the function's outcome, and a signal that kills it shows as
 * a negative exit code, as in multiprocessing.
 *
 *  - A C function has the task ABI (pp_task_fn) and gets the arguments as
 *    its LIST; it returning 0 ends the process with 0. A failure (another
 *    return) prints "Process NAME: MESSAGE" on stderr and ends it with 1;
 *    a C function may also exit(N) itself.
 *  - A Python function runs as a multiprocessing child would: an
 *    exception prints "Process NAME:" and its traceback and ends it with
 *    1; sys.exit(N) ends it with N.
 *
 * Arguments are Values, handles included: a Value, Array, Lock, Queue or
 * pipe end passed to a process is the same object there, and the daemon
 * keeps it alive until the process ends (the caller may free its own at
 * once). Inside the child, open handles with a client of its own
 * (pp_client_open(NULL, ...): the child inherits the daemon's address), or
 * NULL for the shared-memory objects that accept it.
 *
 * The child starts in the caller's working directory with the caller's
 * environment (a C function) or its pp_pyenv (a Python function), stdin
 * /dev/null. Its stdout and stderr come back through the daemon and are
 * written by the client's output function (pp_client_opts.output: fd 1 and
 * 2 by default) whenever the caller joins, polls or asks for the exit
 * code: everything the child printed is out before pp_process_join
 * returns PP_OK.
 *
 * A process outlives the pp_process (free lets go of it, not of the
 * child). When the client closes, it joins the processes it still holds,
 * after terminating the daemonic ones (multiprocessing's exit); when the
 * client dies, the daemon terminates its daemonic processes and lets the
 * others run to the end.
 */

typedef struct pp_process pp_process;

typedef struct pp_process_opts {
    const char *name;      /* NULL: "Process-N" ("<own name>:N" inside a process) */
    bool daemon;           /* terminated when its client closes or dies */
} pp_process_opts;

/* Starts f(*args) in a new process; args is a LIST (NULL: no arguments),
 * opts may be NULL. PP_ENOSPAWN when the process cannot be started; a
 * missing library, symbol, module or name shows in the child instead (it
 * prints why and ends with 1), as a bad target does in multiprocessing.
 * PP_ENOENT: a handle in args names an object that no longer exists;
 * PP_EINVAL: args not a LIST, a name over 1024 bytes, a bad function.
 * Every call below may also fail with the client's transport statuses
 * (PP_ECONNRESET when the daemon went away) and PP_ECLOSED once the
 * client is closed. */
pp_status pp_process_start(pp_client *c, const pp_func *f, const pp_value *args,
                           const pp_process_opts *opts, pp_process **out);
/* Waits for the process to end and for its output to be written: PP_OK,
 * or PP_ETIMEDOUT with the process still running. Output is collected per
 * process: what several children print comes out in the order the caller
 * joins (or polls) them, each child's own output in order. */
pp_status pp_process_join(pp_process *p, int timeout_ms);
/* Whether it still runs (writes any output it has printed). false also
 * when it can no longer be known (the daemon went away): then
 * pp_process_exitcode says why. */
bool pp_process_is_alive(pp_process *p);
/* PP_OK with *code its exit code (-N: killed by signal N) once it ended;
 * PP_EAGAIN while it runs (multiprocessing's exitcode None). */
pp_status pp_process_exitcode(pp_process *p, int *code);
/* SIGTERM, SIGKILL and SIGINT (KeyboardInterrupt in a Python function).
 * Nothing happens to a process that has ended. */
pp_status pp_process_terminate(pp_process *p);
pp_status pp_process_kill(pp_process *p);
pp_status pp_process_interrupt(pp_process *p);
int pp_process_pid(const pp_process *p);
const char *pp_process_name(const pp_process *p);
bool pp_process_daemon(const pp_process *p);
/* Lets go of the process (it keeps running). Accepts NULL. */
void pp_process_free(pp_process *p);

/* The name of the calling process: the name it was started with when it
 * was started by pp_process_start (C or Python function; also a Python
 * Process whose target is a cfunc), else "MainProcess" (as
 * multiprocessing.current_process().name). */
const char *pp_current_process_name(void);
/* multiprocessing.parent_process(): in a process started by
 * pp_process_start, the pid and name (borrowed, lives as long as the
 * process) of the program that started it; either may be NULL. PP_ENOENT
 * in a program that was not started so. */
pp_status pp_parent_process(int *pid, const char **name);

/* ---- Shared memory --------------------------------------------------------
 *
 * Segments of POSIX shared memory created by the daemon and mapped into
 * this process (zero copy). The daemon counts references per client: a
 * segment lives while some client holds it (create, attach, or an object
 * made from a passed handle) and is unlinked from /dev/shm when the last
 * one lets go or exits, even by SIGKILL. Objects here pass to tasks and to
 * other programs as PP_HANDLE values (pp_*_to_value, pp_*_from_value).
 *
 * Inside a task, pass NULL as the client to pp_*_from_value: the object is
 * mapped without a reference of its own (the submitter's keeps it alive).
 */

typedef enum pp_handle_type {
    PP_H_NONE = 0,
    PP_H_SEGMENT = 1,
    PP_H_LOCK = 2,
    PP_H_RLOCK = 3,
    PP_H_SEMAPHORE = 4,
    PP_H_BOUNDED_SEMAPHORE = 5,
    PP_H_EVENT = 6,
    PP_H_CONDITION = 7,
    PP_H_BARRIER = 8,
    PP_H_VALUE = 9,        /* a pp_array (a Value or an Array) */
    PP_H_QUEUE = 10,       /* a pp_queue */
    PP_H_CONNECTION = 11,  /* a pp_conn (a pipe end) */
    PP_H_DICT = 12,        /* a pp_dict */
    PP_H_LIST = 13,        /* a pp_list */
    PP_H_NAMESPACE = 14,   /* a Namespace (a dict of attributes) */
} pp_handle_type;

/* The type of the object a PP_HANDLE value refers to; PP_H_NONE for any
 * other value. */
pp_handle_type pp_value_handle_type(const pp_value *v);

typedef struct pp_shm pp_shm;

/* A new zero-filled segment of size bytes. name: NULL for an anonymous
 * one, or a name other programs attach it by (multiprocessing's
 * SharedMemory(name, create=True)). PP_EINVAL (size 0, a name with '/'),
 * PP_EEXIST (the name is taken), PP_ENOMEM (no room in /dev/shm). */
pp_status pp_shm_create(pp_client *c, const char *name, size_t size, pp_shm **out);
/* The segment created under name. PP_ENOENT if there is none. */
pp_status pp_shm_attach(pp_client *c, const char *name, pp_shm **out);
/* Removes the name: later attaches fail. The memory stays while held. */
pp_status pp_shm_unlink(pp_client *c, const char *name);
/* The mapping; NULL for a client opened with no_map (use read/write). */
void *pp_shm_data(const pp_shm *s);
size_t pp_shm_size(const pp_shm *s);
/* The name it was created under; "" for an anonymous segment. */
const char *pp_shm_name(const pp_shm *s);
/* Copies bytes out of or into the segment (mapped or not). PP_EINVAL
 * beyond its end. */
pp_status pp_shm_read(pp_shm *s, size_t offset, void *buf, size_t len);
pp_status pp_shm_write(pp_shm *s, size_t offset, const void *buf, size_t len);
/* Unmaps and drops this reference. Accepts NULL. */
void pp_shm_close(pp_shm *s);
pp_value *pp_shm_to_value(const pp_shm *s);
/* PP_EINVAL if v is not a segment's handle; PP_ENOENT if it is gone. */
pp_status pp_shm_from_value(pp_client *c, const pp_value *v, pp_shm **out);

/* multiprocessing.shared_memory.ShareableList: a list of fixed length
 * whose items (NULL, BOOL, INT, DOUBLE, STRING or BYTES) live in a named
 * segment, laid out as Python's ShareableList lays them out: a Python
 * program attaches it with ShareableList(name=...), and C attaches one a
 * Python program made. Items are read and written in place, without a
 * lock (as in Python). A STRING or BYTES item has room for its length
 * rounded up to the next multiple of 8 (at least one byte more); trailing
 * NUL bytes do not come back (as in Python). */
typedef struct pp_shareable_list pp_shareable_list;

/* A new list of the items of the LIST `items` in a segment named name
 * (NULL: a new "psm_..." name, as Python's). PP_EINVAL: an item of
 * another kind, a bad name; PP_EEXIST: the name is taken. */
pp_status pp_shareable_list_create(pp_client *c, const char *name, const pp_value *items,
                                   pp_shareable_list **out);
/* The list made under name. PP_ENOENT: no such segment; PP_EPROTO: the
 * segment does not hold a ShareableList. */
pp_status pp_shareable_list_attach(pp_client *c, const char *name, pp_shareable_list **out);
size_t pp_shareable_list_len(const pp_shareable_list *l);
/* A copy of the item at index (negative counts from the end; caller
 * frees). PP_ENOENT: out of range. */
pp_status pp_shareable_list_get(pp_shareable_list *l, int64_t index, pp_value **val);
/* Replaces the item at index. PP_ENOENT: out of range; PP_EINVAL: a kind
 * it cannot hold, or a string or bytes longer than the item's room. */
pp_status pp_shareable_list_set(pp_shareable_list *l, int64_t index, const pp_value *val);
/* Items equal to val, equal as in Python: 1, 1.0 and true are equal. */
pp_status pp_shareable_list_count(pp_shareable_list *l, const pp_value *val, size_t *n);
/* PP_ENOENT: no item equals val. */
pp_status pp_shareable_list_index(pp_shareable_list *l, const pp_value *val, size_t *index);
/* The struct format of the items, e.g. "q8sd" (Python's .format); a
 * malloc'd string the caller frees, or NULL when out of memory. */
char *pp_shareable_list_format(pp_shareable_list *l);
/* The segment (Python's .shm; lives as long as l): pp_shm_name,
 * pp_shm_unlink(c, pp_shm_name(...)). */
pp_shm *pp_shareable_list_shm(const pp_shareable_list *l);
/* Closes this process's view. Accepts NULL. */
void pp_shareable_list_free(pp_shareable_list *l);

/* ---- Synchronisation --------------------------------------------------------
 *
 * Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier
 * with multiprocessing's semantics, shared by every process (C or Python)
 * that holds them. Operations work on the shared memory directly: an
 * uncontended acquire and release is two atomic instructions, no call to
 * the daemon. A Lock may be released by any process; an RLock only by the
 * thread holding it.
 *
 * A process that dies holding a Lock or an RLock does not deadlock the
 * others: the next acquirer gets the lock with PP_EOWNERDEAD (and should
 * repair what the lock protects).
 *
 * Timeouts are in milliseconds: negative waits forever, 0 does not wait. */

typedef struct pp_sync pp_sync;

pp_status pp_lock_create(pp_client *c, pp_sync **out);
pp_status pp_rlock_create(pp_client *c, pp_sync **out);
/* PP_EINVAL for a value over 2^31 - 1. */
pp_status pp_semaphore_create(pp_client *c, unsigned value, pp_sync **out);
/* Releases beyond the initial value fail with PP_ESTATE. */
pp_status pp_bounded_semaphore_create(pp_client *c, unsigned value, pp_sync **out);
pp_status pp_event_create(pp_client *c, pp_sync **out);
/* lock: a Lock or RLock to use (not consumed); NULL makes a new RLock. */
pp_status pp_condition_create(pp_client *c, pp_sync *lock, pp_sync **out);
/* PP_EINVAL for 0 parties. */
pp_status pp_barrier_create(pp_client *c, unsigned parties, pp_sync **out);

pp_handle_type pp_sync_type(const pp_sync *s);
/* Accepts NULL. */
void pp_sync_free(pp_sync *s);
pp_value *pp_sync_to_value(const pp_sync *s);
/* PP_EINVAL if v is not a primitive's handle; PP_ENOENT if it is gone. */
pp_status pp_sync_from_value(pp_client *c, const pp_value *v, pp_sync **out);

/* Lock, RLock, Semaphore, BoundedSemaphore, and a Condition's lock (any
 * other primitive: PP_EINVAL, as Python's TypeError).
 * Acquire: PP_OK, PP_EOWNERDEAD (acquired; the holder died), PP_ETIMEDOUT.
 * Release: PP_ESTATE (not held; a bounded semaphore at its maximum),
 * PP_EPERM (an RLock held by another thread). */
pp_status pp_sync_acquire(pp_sync *s, int timeout_ms);
pp_status pp_sync_release(pp_sync *s);
/* A semaphore's value. */
pp_status pp_semaphore_value(pp_sync *s, unsigned *out);
/* What Python's get_value() gives for any primitive: a semaphore's value;
 * for a Lock or RLock 1 when free and 0 when held; for an Event 1 when set
 * and 0 when clear. PP_EINVAL for a Condition or Barrier (Python's
 * TypeError). */
pp_status pp_sync_value(pp_sync *s, unsigned *out);

pp_status pp_event_set(pp_sync *e);
pp_status pp_event_clear(pp_sync *e);
bool pp_event_is_set(pp_sync *e);
/* PP_OK once set, PP_ETIMEDOUT. */
pp_status pp_event_wait(pp_sync *e, int timeout_ms);

/* The condition's lock (lives as long as the condition). */
pp_sync *pp_condition_lock(pp_sync *cond);
/* With the lock held (else PP_ESTATE): releases it, waits for a notify,
 * takes it back. PP_OK when notified, PP_ETIMEDOUT. */
pp_status pp_condition_wait(pp_sync *cond, int timeout_ms);
/* threading.Condition.wait_for: checks pred(arg), and while it is false
 * waits for a notify and checks again, for timeout_ms in all. PP_OK once
 * pred is true, PP_ETIMEDOUT when it is still false at the deadline (the
 * lock is held again either way); PP_ESTATE when it has to wait and the
 * lock is not held; PP_EINVAL: pred is NULL. */
pp_status pp_condition_wait_for(pp_sync *cond, bool (*pred)(void *arg), void *arg,
                                int timeout_ms);
/* With the lock held: wakes up to n waiters. */
pp_status pp_condition_notify(pp_sync *cond, unsigned n);
pp_status pp_condition_notify_all(pp_sync *cond);

/* Waits for all parties. PP_OK with *index (0 .. parties-1, distinct),
 * PP_ETIMEDOUT (this wait timed out and broke the barrier), PP_ESTATE (the
 * barrier is broken: aborted, reset, or another waiter timed out). */
pp_status pp_barrier_wait(pp_sync *b, int timeout_ms, unsigned *index);
/* The same; the last party to arrive runs action first. A nonzero return
 * breaks the barrier: that waiter gets PP_ETASK, the others PP_ESTATE. */
pp_status pp_barrier_wait_action(pp_sync *b, int timeout_ms, int (*action)(void *arg),
                                 void *arg, unsigned *index);
pp_status pp_barrier_reset(pp_sync *b);
pp_status pp_barrier_abort(pp_sync *b);
unsigned pp_barrier_parties(pp_sync *b);
unsigned pp_barrier_n_waiting(pp_sync *b);
bool pp_barrier_broken(pp_sync *b);

/* ---- Shared values and arrays ------------------------------------------------
 *
 * multiprocessing's Value and Array (and RawValue, RawArray): typed data in
 * a segment, optionally with an RLock (pp_array_lock) to guard it.
 * Type codes are those of Python's array module and ctypes:
 *   b B (1 byte)  h H (2)  i I (4)  l L q Q (8)  f (4)  d (8)  c (char)
 *   ? (bool, 1)  u (wchar_t, 4). */

typedef struct pp_array pp_array;

/* The size of one element of typecode; 0 for an unknown code. */
size_t pp_typecode_size(char typecode);

/* count elements of typecode; count 0 makes a single value (a Value).
 * lock: guard it with a new RLock. PP_EINVAL for an unknown type code. */
pp_status pp_array_create(pp_client *c, char typecode, size_t count, bool lock,
                          pp_array **out);
/* The elements (NULL for a no_map client). */
void *pp_array_data(const pp_array *a);
/* Elements: 1 for a single value. */
size_t pp_array_len(const pp_array *a);
bool pp_array_is_value(const pp_array *a);
char pp_array_typecode(const pp_array *a);
size_t pp_array_itemsize(const pp_array *a);
/* Copies elements [first, first + n) out of or into the array, mapped or
 * not (a no_map client has no pp_array_data). PP_EINVAL beyond its end. */
pp_status pp_array_read(pp_array *a, size_t first, size_t n, void *out);
pp_status pp_array_write(pp_array *a, size_t first, size_t n, const void *in);
/* Its lock, or NULL for a raw one. Lives as long as a. */
pp_sync *pp_array_lock(pp_array *a);
/* multiprocessing.sharedctypes.synchronized: a new pp_array on the same
 * elements as the raw (lockless) one, guarded by lock (a Lock or RLock,
 * not consumed), or by a new RLock made with c when lock is NULL. Its
 * handle carries the lock: a Python program gets a synchronized wrapper.
 * PP_EINVAL: raw has a lock already, or lock is another primitive. */
pp_status pp_array_synchronized(pp_client *c, pp_array *raw, pp_sync *lock, pp_array **out);
void pp_array_free(pp_array *a);
pp_value *pp_array_to_value(const pp_array *a);
pp_status pp_array_from_value(pp_client *c, const pp_value *v, pp_array **out);

/* ---- Queues and pipes --------------------------------------------------------
 *
 * multiprocessing's Queue, JoinableQueue and Pipe, shared by every process
 * (C or Python) that holds them. A queue is a message ring in a daemon
 * segment: put and get copy to and from shared memory, no call to the
 * daemon. Items are Values (a Python program's objects arrive pickled,
 * PP_PICKLE, unless they are plain ints, strings, lists...). An item a
 * process has not taken is never lost when another process dies: a
 * consumer killed mid-get leaves the item in the queue (except an item
 * over a quarter of the ring's capacity, which streams through and is
 * lost with a consumer killed while receiving it).
 */

typedef struct pp_queue pp_queue;

typedef struct pp_queue_opts {
    size_t maxsize;        /* most items at once; 0: no limit */
    size_t capacity;       /* bytes of ring; 0: 1 MiB. Larger items stream through */
    bool joinable;         /* task_done() and join() (JoinableQueue) */
} pp_queue_opts;

/* opts may be NULL. */
pp_status pp_queue_create(pp_client *c, const pp_queue_opts *opts, pp_queue **out);
/* Puts a copy of item. PP_ETIMEDOUT (full: maxsize items, or the ring's
 * bytes), PP_ECLOSED (pp_queue_close was called). */
pp_status pp_queue_put(pp_queue *q, const pp_value *item, int timeout_ms);
/* Takes the next item (caller frees). PP_ETIMEDOUT (empty), PP_ECLOSED
 * (closed and empty: a blocked get returns it at once on close). */
pp_status pp_queue_get(pp_queue *q, int timeout_ms, pp_value **item);
/* Puts the items of a LIST in order; *n_put says how many went in. */
pp_status pp_queue_put_many(pp_queue *q, const pp_value *items, int timeout_ms,
                            size_t *n_put);
/* Waits for one item, then takes up to max - 1 more that are there: a
 * LIST of 1 to max items. */
pp_status pp_queue_get_many(pp_queue *q, size_t max, int timeout_ms, pp_value **items);
size_t pp_queue_qsize(pp_queue *q);
bool pp_queue_empty(pp_queue *q);
bool pp_queue_full(pp_queue *q);
/* Closes the queue for every process: puts fail with PP_ECLOSED; gets
 * take what is left, then fail with PP_ECLOSED. */
pp_status pp_queue_close(pp_queue *q);
/* JoinableQueue: an item taken is done. PP_ESTATE when called more times
 * than items were put; PP_EINVAL for a plain queue. */
pp_status pp_queue_task_done(pp_queue *q);
/* Waits until every item put is done. */
pp_status pp_queue_join(pp_queue *q, int timeout_ms);
void pp_queue_free(pp_queue *q);
pp_value *pp_queue_to_value(const pp_queue *q);
pp_status pp_queue_from_value(pp_client *c, const pp_value *v, pp_queue **out);

typedef struct pp_conn pp_conn;

/* Two connected ends. duplex: both send and receive; otherwise *a only
 * receives and *b only sends (multiprocessing's Pipe(duplex=False)). */
pp_status pp_pipe(pp_client *c, bool duplex, pp_conn **a, pp_conn **b);
/* A value, or raw bytes, as one message (messages never merge or split;
 * any size). PP_ECLOSED: the other end is closed everywhere;
 * PP_EPERM: this end cannot send. */
pp_status pp_conn_send(pp_conn *c, const pp_value *v);
pp_status pp_conn_send_bytes(pp_conn *c, const void *data, size_t len);
/* The next message. PP_EEOF: the other end is closed everywhere and
 * nothing is left; PP_ETIMEDOUT; PP_EPERM: this end cannot receive;
 * PP_EPROTO (recv): the message is not a value (it was sent as bytes). */
pp_status pp_conn_recv(pp_conn *c, int timeout_ms, pp_value **v);
pp_status pp_conn_recv_bytes(pp_conn *c, int timeout_ms, void **data, size_t *len);
/* Whether a message is there: PP_OK, PP_ETIMEDOUT, PP_EEOF. */
pp_status pp_conn_poll(pp_conn *c, int timeout_ms);
/* multiprocessing.connection.wait: waits until at least one of the n ends
 * has a message or is at EOF (what pp_conn_poll waits for), at most
 * timeout_ms; ready[i] then says whether conns[i] is (a write-only end
 * never is). The first end is waited on, the others looked at every 10
 * ms. PP_OK, PP_ETIMEDOUT (none is ready); PP_EINVAL: n is 0, or a NULL
 * array or end. */
pp_status pp_conn_wait(pp_conn *const *conns, size_t n, int timeout_ms, bool *ready);
bool pp_conn_readable(const pp_conn *c);
bool pp_conn_writable(const pp_conn *c);
/* This process lets go of its end; the other end sees EOF once no process
 * holds this one (a process that dies lets go too). Accepts NULL. */
void pp_conn_close(pp_conn *c);
pp_value *pp_conn_to_value(const pp_conn *c);
pp_status pp_conn_from_value(pp_client *c, const pp_value *v, pp_conn **out);

/* ---- Managed objects ---------------------------------------------------------
 *
 * multiprocessing's Manager().dict(), .list() and .Namespace(), hosted by
 * the daemon: every operation is one round trip, atomic, and seen by every
 * process (C or Python) holding the object (pp_list_index with a stop,
 * pp_list_reverse and pp_list_sort are two: read, then write back, as the
 * Python proxies do). Keys and values are copies of
 * Values; keys are equal when they encode alike (ints, strings, bytes and
 * lists of those compare as expected; 1 and 1.0 and True are three keys).
 * An object lives while some client holds it (made, attached, or from a
 * handle), then goes. A pp_dict or pp_list is a reference through its
 * client (nothing is mapped): free it before closing that client. A task
 * that receives one's handle needs a client of its own to open it
 * (pp_client_open(NULL, ...) in a worker reaches its daemon).
 */

typedef struct pp_dict pp_dict;
typedef struct pp_list pp_list;

pp_status pp_dict_create(pp_client *c, pp_dict **out);
/* A copy of the value (caller frees). PP_ENOENT: no such key. */
pp_status pp_dict_get(pp_dict *d, const pp_value *key, pp_value **val);
pp_status pp_dict_set(pp_dict *d, const pp_value *key, const pp_value *val);
/* PP_ENOENT: no such key. */
pp_status pp_dict_del(pp_dict *d, const pp_value *key);
pp_status pp_dict_len(pp_dict *d, size_t *n);
/* The whole dict as a PP_MAP (caller frees). */
pp_status pp_dict_items(pp_dict *d, pp_value **map);
pp_status pp_dict_clear(pp_dict *d);
/* *found: whether the dict has key (`key in d`). */
pp_status pp_dict_contains(pp_dict *d, const pp_value *key, bool *found);
/* The keys, or the values, as a LIST in insertion order (caller frees). */
pp_status pp_dict_keys(pp_dict *d, pp_value **list);
pp_status pp_dict_values(pp_dict *d, pp_value **list);
/* Removes key and gives its value (caller frees). PP_ENOENT: no such key
 * (Python's pop(key, default) returns the default there). */
pp_status pp_dict_pop(pp_dict *d, const pp_value *key, pp_value **val);
/* Removes the pair set last and gives it (caller frees both). PP_ENOENT:
 * the dict is empty. */
pp_status pp_dict_popitem(pp_dict *d, pp_value **key, pp_value **val);
/* Sets key to dflt unless it is there; gives the value it has now (caller
 * frees). Pass pp_value_null() for Python's default None. */
pp_status pp_dict_setdefault(pp_dict *d, const pp_value *key, const pp_value *dflt,
                             pp_value **val);
/* Sets every pair of the PP_MAP `pairs`, in one atomic operation.
 * PP_EINVAL: pairs is not a map. */
pp_status pp_dict_update(pp_dict *d, const pp_value *pairs);
void pp_dict_free(pp_dict *d);
pp_value *pp_dict_to_value(const pp_dict *d);
/* c is needed (the object is reached through the daemon): PP_EINVAL for NULL. */
pp_status pp_dict_from_value(pp_client *c, const pp_value *v, pp_dict **out);

pp_status pp_list_create(pp_client *c, pp_list **out);
pp_status pp_list_append(pp_list *l, const pp_value *val);
/* index < 0 counts from the end. PP_ENOENT: out of range. */
pp_status pp_list_get(pp_list *l, int64_t index, pp_value **val);
pp_status pp_list_set(pp_list *l, int64_t index, const pp_value *val);
pp_status pp_list_insert(pp_list *l, int64_t index, const pp_value *val);
pp_status pp_list_pop(pp_list *l, int64_t index, pp_value **val);
pp_status pp_list_len(pp_list *l, size_t *n);
/* The whole list as a PP_LIST (caller frees). */
pp_status pp_list_items(pp_list *l, pp_value **list);
pp_status pp_list_clear(pp_list *l);
/* Appends the items of the LIST `items`, in one atomic operation.
 * PP_EINVAL: items is not a list or tuple. */
pp_status pp_list_extend(pp_list *l, const pp_value *items);
/* Deletes the item at index (`del l[i]`). PP_ENOENT: out of range. */
pp_status pp_list_del(pp_list *l, int64_t index);
/* Removes the first item equal to val. PP_ENOENT: none is. */
pp_status pp_list_remove(pp_list *l, const pp_value *val);
/* *index: where the first item equal to val is, searching [start, stop)
 * (slice rules: negative counts from the end; INT64_MAX: to the end).
 * PP_ENOENT: none is. */
pp_status pp_list_index(pp_list *l, const pp_value *val, int64_t start, int64_t stop,
                        size_t *index);
/* *n: how many items equal val. */
pp_status pp_list_count(pp_list *l, const pp_value *val, size_t *n);
/* *found: whether an item equals val (`val in l`). */
pp_status pp_list_contains(pp_list *l, const pp_value *val, bool *found);
/* The items [start, stop) as a LIST (slice rules, step 1; caller frees). */
pp_status pp_list_slice(pp_list *l, int64_t start, int64_t stop, pp_value **list);
/* Replaces the contents with the items of the LIST `items` (`l[:] =
 * items`), in one atomic operation. PP_EINVAL: not a list or tuple. */
pp_status pp_list_set_all(pp_list *l, const pp_value *items);
/* Reverses the items in place. */
pp_status pp_list_reverse(pp_list *l);
/* Sorts the items in place, stably. cmp orders two items as strcmp does;
 * NULL orders numbers (BOOL, INT, DOUBLE) by value, and strings, bytes,
 * and lists or tuples of those as Python does, and fails with PP_EINVAL
 * for items that do not compare (as Python's TypeError). reverse: largest
 * first (equal items keep their order). */
pp_status pp_list_sort(pp_list *l, int (*cmp)(const pp_value *a, const pp_value *b),
                       bool reverse);
void pp_list_free(pp_list *l);
pp_value *pp_list_to_value(const pp_list *l);
pp_status pp_list_from_value(pp_client *c, const pp_value *v, pp_list **out);

/* A Namespace: attributes by name. Names starting with '_' are refused
 * with PP_EINVAL (a Python Namespace keeps those in the proxy, unshared),
 * as are NULL and empty names. */
typedef struct pp_namespace pp_namespace;

pp_status pp_namespace_create(pp_client *c, pp_namespace **out);
/* A copy of the attribute's value (caller frees). PP_ENOENT: no such
 * attribute (Python's AttributeError). */
pp_status pp_namespace_get(pp_namespace *ns, const char *name, pp_value **val);
pp_status pp_namespace_set(pp_namespace *ns, const char *name, const pp_value *val);
/* PP_ENOENT: no such attribute. */
pp_status pp_namespace_del(pp_namespace *ns, const char *name);
/* Every attribute as a PP_MAP of name (a STRING) to value, in the order
 * they were first set (caller frees). */
pp_status pp_namespace_items(pp_namespace *ns, pp_value **map);
void pp_namespace_free(pp_namespace *ns);
pp_value *pp_namespace_to_value(const pp_namespace *ns);
/* PP_EINVAL: not a Namespace's handle, or c is NULL. */
pp_status pp_namespace_from_value(pp_client *c, const pp_value *v, pp_namespace **out);

#ifdef __cplusplus
}
#endif

#endif /* POLYPOOL_H */
