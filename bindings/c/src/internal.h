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

#include <nng/nng.h>

#include "client_internal.h"
#include "polypool.h"
#include "polypool.pb-c.h"

/* ---- values ------------------------------------------------------------ */

struct pp_value {
    pp_kind kind;
    union {
        bool b;
        int64_t i;
        double d;
        struct {              /* STRING, BYTES, PICKLE: always NUL-terminated */
            char *data;
            size_t len;
        } s;
        struct {              /* LIST, TUPLE: items; MAP: 2*len keys and values */
            pp_value **items;
            size_t len;       /* items, or pairs for a MAP */
            size_t cap;       /* slots allocated (pointers) */
        } c;
    } u;
};

/* Builds a value node of `kind` with empty contents (internal: the decoder
 * fills containers directly). */
pp_value *value_new(pp_kind kind);
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

struct pp_func {
    char *library;
    char *symbol;
};

/* Fills fn (and cf) so that fn describes f; borrowed pointers. */
void func_to_msg(const pp_func *f, Polypool__V1__Function *fn,
                 Polypool__V1__CFunction *cf);

/* ---- the client -------------------------------------------------------- */

typedef struct future_list {
    pp_future **items;
    size_t len, cap;
} future_list;

struct call_slot;

struct pp_client {
    nng_socket sock;
    nng_dialer dialer;
    char *address;
    pid_t pid;                  /* the process that opened the client */
    atomic_bool lost;           /* the daemon's pipe went away */
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

    /* The async collector: started on the first async submit. */
    bool collector_started;
    bool collector_stop;
    pthread_t collector;
    pthread_cond_t collector_cv;   /* signalled when async jobs appear or on stop */
    pthread_cond_t future_cv;      /* broadcast when a future becomes ready */
    future_list async_jobs;        /* futures whose job is outstanding */
};

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

/* ---- futures (future.c) ------------------------------------------------ */

void future_collector_stop(pp_client *c);

#endif
