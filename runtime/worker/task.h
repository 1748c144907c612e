/* task.h - what polypool-worker does with one task, minus the I/O.
 *
 * Three pieces live here so the unit tests can reach them without a
 * socketpair: the function cache (dlopen/dlsym once), the argument rules of
 * map and starmap, and the ResultBatch builder that turns per-item outcomes
 * into the packed batch the daemon forwards to the client.
 */
#ifndef PP_WORKER_TASK_H
#define PP_WORKER_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "polypool.h"
#include "polypool.pb-c.h"

/* Longest message the cache produces for a load failure. */
#define TASK_MSG_MAX 1024

/* ---- the function cache ------------------------------------------------ */

typedef struct task_lib task_lib;
typedef struct task_sym task_sym;

typedef struct task_cache {
    task_lib *libs;      /* every library dlopen()ed successfully, never closed */
    task_sym *syms;      /* every symbol found */
    task_sym *last;      /* the last hit: map calls look up one function per task */
    char label[512];     /* the label of a function that failed to resolve */
} task_cache;

void task_cache_init(task_cache *c);
/* Frees the cache's memory; the libraries stay loaded (their code may still
 * be referenced, e.g. by atexit handlers a task registered). */
void task_cache_fini(task_cache *c);

/* Resolves the task function `fn` names. Returns PP_OK with *out set, or
 * PP_ENOLIB (dlopen failed; msg holds dlerror()'s text), PP_ENOSYM (msg
 * "symbol 'x' not found in /path/lib.so"), PP_EINVAL (a Python function or
 * no function; msg says which) or PP_ENOMEM. A library is opened once and a
 * symbol looked up once; failures are not cached, so a library that appears
 * later is found. `label` (may be NULL) receives "libfoo.so:sym", borrowed
 * from the cache, valid until the next lookup. */
pp_status task_cache_lookup(task_cache *c, const Polypool__V1__Function *fn,
                            pp_task_fn *out, const char **label,
                            char msg[TASK_MSG_MAX]);

/* ---- calling a task function -------------------------------------------- */

/* Picks the argument LIST for one item. star: the item itself, which must be
 * a LIST or TUPLE (else PP_ETASK, "starmap item is not a sequence").
 * Otherwise `one` (a LIST holding exactly one item, owned by the caller)
 * receives the item's contents: the item is consumed and *args = one.
 * On PP_OK the caller must not free the item when !star; when star it stays
 * the caller's. */
pp_status task_args(pp_value *item, bool star, pp_value *one, const pp_value **args);

/* Calls fn(args, result) where result is a NULL value. On failure, writes
 * the ETASK message into msg: the result's string if it is a STRING, else
 * "task returned N". Returns PP_OK or PP_ETASK. */
pp_status task_call(pp_task_fn fn, const pp_value *args, pp_value *result,
                    char msg[TASK_MSG_MAX]);

/* ---- building a ResultBatch ---------------------------------------------- */

typedef struct task_batch {
    Polypool__V1__ResultBatch msg;    /* values/errors point into this struct */
    Polypool__V1__Values values;
    codec_enc enc;                    /* reused across tasks */
    Polypool__V1__TaskError *errs;    /* message/where malloc'd per error */
    Polypool__V1__TaskError **errp;
    size_t cap_errs;
    uint8_t *packed;                  /* task_batch_pack's output, reused */
    size_t cap_packed;
} task_batch;

void task_batch_init(task_batch *b);
void task_batch_fini(task_batch *b);
/* Starts a new batch for `job_id` whose first item has index `first`,
 * keeping the memory of the previous one. */
void task_batch_reset(task_batch *b, uint64_t job_id, uint64_t first);
/* Appends a successful item. If its value cannot be encoded (a handle, too
 * deep, no memory), the item is recorded as failed instead. */
void task_batch_ok(task_batch *b, const pp_value *v, const char *label, int pid);
/* Appends a failed item: a NULL value and a TaskError with the job-absolute
 * index, `status`, `message` and a where of the form
 * "worker PID, LABEL, item INDEX" (LABEL may be NULL: no function part). */
void task_batch_fail(task_batch *b, pp_status status, const char *message,
                     const char *label, int pid);
/* task_batch_fail with a Python exception: `exception` (pickled, may be
 * NULL) and `traceback` (may be NULL) are malloc'd and consumed. */
void task_batch_fail_exc(task_batch *b, pp_status status, const char *message,
                         const char *label, int pid, void *exception, size_t exception_len,
                         char *traceback);
/* Replaces every item's outcome by the same failure (used when the encoded
 * results are too big to send). count stays as it is. */
void task_batch_fail_all(task_batch *b, pp_status status, const char *message,
                         const char *label, int pid);
/* Attaches captured output (borrowed until the next pack). */
void task_batch_output(task_batch *b, const void *out, size_t out_len,
                       const void *err, size_t err_len);
/* Packs the batch; *data lives in the batch until the next pack. Returns
 * PP_OK or PP_ENOMEM. */
pp_status task_batch_pack(task_batch *b, const uint8_t **data, size_t *len);

/* How many top-level trees `v` holds, walking only kinds and counts and
 * tolerating a malformed message (a missing count counts as 0). Used to
 * fail every item of a task whose items cannot be decoded. */
size_t task_items_estimate(const Polypool__V1__Values *v);

/* Formats the `where` of an error: "worker PID, LABEL, item INDEX" or,
 * for index == UINT64_MAX, "worker PID, LABEL, initializer". malloc'd. */
char *task_where(int pid, const char *label, uint64_t index);

#endif
